/* pdm/registry.c — the registry of device, driver and frontend types, and the checks a registration
 * must pass: compatible version at both ends of the struct, a well-formed unique name, the required
 * callbacks, and a well-formed option schema whose defaults parse. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cfgm.h"
#include "../core/err.h"
#include "internal.h"

/* True for a type name of [a-z0-9-]+, at most 47 characters. */
static bool pdm_valid_type_name(const char *name)
{
    if (!name || !*name || strlen(name) > 47)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

/* True for an option name of [a-z0-9_-]+, at most 47 characters. */
static bool pdm_valid_option_name(const char *name)
{
    if (!name || !*name || strlen(name) > 47)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return false;
    return true;
}

/* Checks one schema: option names, types, and that each default parses as its type. */
static int pdm_check_schema(const char *who, const struct modvm_cfg_option *schema)
{
    for (const struct modvm_cfg_option *o = schema; o && o->name; o++) {
        if (!pdm_valid_option_name(o->name))
            return modvm_err_set(-EINVAL, "%s: option name '%s' is malformed", who, o->name);
        if (o->type < MODVM_CFG_UINT || o->type > MODVM_CFG_STRING)
            return modvm_err_set(-EINVAL, "%s: option '%s' has unknown type %d", who, o->name, (int)o->type);
        if (!o->default_value)
            continue;
        uint64_t u;
        int64_t i;
        bool b;
        int rc = o->type == MODVM_CFG_UINT  ? cfgm_parse_uint(o->default_value, &u)
                 : o->type == MODVM_CFG_INT ? cfgm_parse_int(o->default_value, &i)
                 : o->type == MODVM_CFG_BOOL ? cfgm_parse_bool(o->default_value, &b)
                                             : 0;
        if (rc < 0)
            return modvm_err_set(-EINVAL, "%s: default '%s' of option '%s' does not parse", who,
                                 o->default_value, o->name);
    }
    return 0;
}

/* Version words at the start and end of each registration struct. */
static int pdm_check_versions(const char *who, const char *kind, const void *reg, uint32_t want)
{
    uint32_t v = *(const uint32_t *)reg, end;
    if (!MODVM_VERSION_ARE_COMPATIBLE(want, v))
        return modvm_err_set(-EPROTO, "%s: %s registration version %u.%u (magic 0x%04x) is not accepted "
                                      "by this modvm (%u.%u); rebuild the plugin against this SDK",
                             who, kind, MODVM_VERSION_MAJOR(v), MODVM_VERSION_MINOR(v),
                             MODVM_VERSION_MAGIC(v), MODVM_VERSION_MAJOR(want), MODVM_VERSION_MINOR(want));
    if (want == MODVM_DEVREG_VERSION)
        end = ((const struct modvm_devreg *)reg)->version_end;
    else if (want == MODVM_DRVREG_VERSION)
        end = ((const struct modvm_drvreg *)reg)->version_end;
    else
        end = ((const struct modvm_uireg *)reg)->version_end;
    if (end != v)
        return modvm_err_set(-EINVAL, "%s: %s registration is corrupt (end marker 0x%08x, expected "
                                      "0x%08x)", who, kind, end, v);
    return 0;
}

/* Finds a type by name in a list. */
static const struct pdm_type *pdm_find(const struct pdm_type_list *list, const char *name, size_t name_off)
{
    for (size_t i = 0; i < list->count; i++) {
        const char *n = *(const char *const *)((const char *)list->items[i].reg + name_off);
        if (strcmp(n, name) == 0)
            return &list->items[i];
    }
    return NULL;
}

/* Kind-specific checks: the struct's required callbacks and its schema. */
static int pdm_check_kind(struct pdm *pdm, const char *who, const char *kind, const void *reg,
                          const struct pdm_type **dup, const char *name)
{
    if (strcmp(kind, "device") == 0) {
        const struct modvm_devreg *d = reg;
        int rc = pdm_check_versions(who, kind, reg, MODVM_DEVREG_VERSION);
        if (rc == 0 && !d->construct)
            rc = modvm_err_set(-EINVAL, "%s: device '%s' has no construct callback", who, name);
        *dup = pdm_find(&pdm->devs, name, offsetof(struct modvm_devreg, name));
        return rc ? rc : pdm_check_schema(who, d->options);
    }
    if (strcmp(kind, "driver") == 0) {
        const struct modvm_drvreg *d = reg;
        int rc = pdm_check_versions(who, kind, reg, MODVM_DRVREG_VERSION);
        if (rc == 0 && (!d->construct || !d->query_interface || !d->iface))
            rc = modvm_err_set(-EINVAL, "%s: driver '%s' needs construct, query_interface and iface", who,
                               name);
        *dup = pdm_find(&pdm->drvs, name, offsetof(struct modvm_drvreg, name));
        return rc ? rc : pdm_check_schema(who, d->options);
    }
    const struct modvm_uireg *u = reg;
    int rc = pdm_check_versions(who, kind, reg, MODVM_UIREG_VERSION);
    if (rc == 0 && !u->run)
        rc = modvm_err_set(-EINVAL, "%s: frontend '%s' has no run callback", who, name);
    *dup = pdm_find(&pdm->uis, name, offsetof(struct modvm_uireg, name));
    return rc ? rc : pdm_check_schema(who, u->options);
}

int pdm_registry_add(struct pdm *pdm, struct pdm_type_list *list, const void *reg, const char *kind,
                     const char *name)
{
    const char *who = pdm->plugins[pdm->loading_plugin].info.path;
    if (!reg)
        return modvm_err_set(-EINVAL, "plugin '%s' registered a NULL %s", who, kind);
    if (!pdm_valid_type_name(name))
        return modvm_err_set(-EINVAL, "plugin '%s' registered a %s with a malformed name '%s' "
                                      "(use lowercase letters, digits and '-')", who, kind, name ? name : "");
    const struct pdm_type *dup = NULL;
    int rc = pdm_check_kind(pdm, who, kind, reg, &dup, name);
    if (rc < 0)
        return rc;
    if (dup)
        return modvm_err_set(-EEXIST, "%s type '%s' is registered twice: by '%s' and by '%s' (remove one "
                                      "of them from the plugin path)", kind, name,
                             pdm->plugins[dup->plugin].info.path, who);
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        struct pdm_type *n = realloc(list->items, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        list->items = n;
        list->cap = cap;
    }
    list->items[list->count++] = (struct pdm_type){.plugin = pdm->loading_plugin, .reg = reg};
    return 0;
}

/* The i-th type of `plugin` (SIZE_MAX = any plugin) in a list. */
static const void *pdm_type_at(const struct pdm_type_list *list, size_t plugin, size_t i)
{
    for (size_t k = 0; k < list->count; k++)
        if (plugin == SIZE_MAX || list->items[k].plugin == plugin)
            if (i-- == 0)
                return list->items[k].reg;
    return NULL;
}

const struct modvm_devreg *pdm_devreg_at(const struct pdm *pdm, size_t plugin, size_t i)
{
    return pdm_type_at(&pdm->devs, plugin, i);
}

const struct modvm_drvreg *pdm_drvreg_at(const struct pdm *pdm, size_t plugin, size_t i)
{
    return pdm_type_at(&pdm->drvs, plugin, i);
}

const struct modvm_uireg *pdm_uireg_at(const struct pdm *pdm, size_t plugin, size_t i)
{
    return pdm_type_at(&pdm->uis, plugin, i);
}

const struct modvm_devreg *pdm_find_devreg(const struct pdm *pdm, const char *name)
{
    const struct pdm_type *t = pdm_find(&pdm->devs, name, offsetof(struct modvm_devreg, name));
    return t ? t->reg : NULL;
}

const struct modvm_drvreg *pdm_find_drvreg(const struct pdm *pdm, const char *name)
{
    const struct pdm_type *t = pdm_find(&pdm->drvs, name, offsetof(struct modvm_drvreg, name));
    return t ? t->reg : NULL;
}

const struct modvm_uireg *pdm_find_uireg(const struct pdm *pdm, const char *name)
{
    const struct pdm_type *t = pdm_find(&pdm->uis, name, offsetof(struct modvm_uireg, name));
    return t ? t->reg : NULL;
}
