/* pdm/options.c — option schemas: validating what the user wrote (unknown keys with "did you mean",
 * types, ranges), typed reads with defaults, and printing a schema for `modvm list plugins -v`. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cfgm.h"
#include "../core/err.h"
#include "internal.h"

/* The schema entry for `key`, or NULL. */
static const struct modvm_cfg_option *pdm_schema_find(const struct modvm_cfg_option *schema, const char *key)
{
    for (const struct modvm_cfg_option *o = schema; o && o->name; o++)
        if (strcmp(o->name, key) == 0)
            return o;
    return NULL;
}

/* Levenshtein distance, capped for long strings (names are short). */
static size_t pdm_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(prev));
    }
    return prev[lb];
}

/* The schema's closest option name to `key` (within 2 edits, or a prefix), or NULL. */
static const char *pdm_suggest(const struct modvm_cfg_option *schema, const char *key)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (const struct modvm_cfg_option *o = schema; o && o->name; o++) {
        size_t d = pdm_edit_distance(key, o->name);
        if (strncmp(o->name, key, strlen(key)) == 0 && d > 2)
            d = 2;
        if (d < best_d) {
            best_d = d;
            best = o->name;
        }
    }
    return best;
}

/* Lists a schema's option names for an error message. */
static void pdm_option_names(const struct modvm_cfg_option *schema, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const struct modvm_cfg_option *o = schema; o && o->name && used < len; o++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", o->name);
}

/* The name of a type as the user should read it. */
static const char *pdm_type_word(enum modvm_cfg_type t)
{
    switch (t) {
    case MODVM_CFG_UINT: return "an unsigned number";
    case MODVM_CFG_INT: return "a number";
    case MODVM_CFG_BOOL: return "on or off";
    default: return "a string";
    }
}

/* Converts one user value (a string in cfg) to the option's type and checks its range. */
static int pdm_convert(const struct modvm_cfg_option *o, struct cfgm_node *cfg, const char *key, const char *what)
{
    const char *text;
    if (cfgm_get_string(cfg, key, &text) < 0)
        return 0; /* already typed (set by a program, not typed by a user) */
    if (o->type == MODVM_CFG_STRING)
        return 0;
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", text);
    uint64_t u = 0;
    int64_t i = 0;
    bool b = false;
    int rc = o->type == MODVM_CFG_UINT  ? cfgm_parse_uint(copy, &u)
             : o->type == MODVM_CFG_INT ? cfgm_parse_int(copy, &i)
                                        : cfgm_parse_bool(copy, &b);
    if (rc < 0)
        return modvm_err_set(-EINVAL, "%s: option '%s' must be %s, got '%s'", what, key, pdm_type_word(o->type),
                             copy);
    bool ranged = o->min != 0 || o->max != 0;
    if (ranged && o->type == MODVM_CFG_UINT && (u < o->min || u > o->max))
        return modvm_err_set(-ERANGE, "%s: option '%s' must be between %" PRIu64 " and %" PRIu64
                                      " (0x%" PRIx64 "-0x%" PRIx64 "), got '%s'",
                             what, key, o->min, o->max, o->min, o->max, copy);
    if (ranged && o->type == MODVM_CFG_INT && (i < (int64_t)o->min || i > (int64_t)o->max))
        return modvm_err_set(-ERANGE, "%s: option '%s' must be between %" PRId64 " and %" PRId64 ", got '%s'",
                             what, key, (int64_t)o->min, (int64_t)o->max, copy);
    return o->type == MODVM_CFG_UINT  ? cfgm_set_uint(cfg, key, u)
           : o->type == MODVM_CFG_INT ? cfgm_set_int(cfg, key, i)
                                      : cfgm_set_bool(cfg, key, b);
}

int pdm_options_validate(const struct modvm_cfg_option *schema, struct cfgm_node *cfg, const char *what)
{
    if (!cfg)
        return 0;
    enum cfgm_type type;
    const char *key;
    for (size_t i = 0; (key = cfgm_value_at(cfg, i, &type)) != NULL; i++) {
        const struct modvm_cfg_option *o = pdm_schema_find(schema, key);
        if (!o) {
            const char *hint = pdm_suggest(schema, key);
            char names[512];
            pdm_option_names(schema, names, sizeof(names));
            if (hint)
                return modvm_err_set(-EINVAL, "%s: unknown option '%s' (did you mean '%s'?)", what, key, hint);
            if (!names[0])
                return modvm_err_set(-EINVAL, "%s: unknown option '%s' (it takes no options)", what, key);
            return modvm_err_set(-EINVAL, "%s: unknown option '%s' (known options: %s)", what, key, names);
        }
        int rc = pdm_convert(o, cfg, key, what);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The option's user value or, when absent, its default text; -ENOENT for neither. */
static int pdm_cfg_lookup(const struct modvm_cfg_option *schema, struct cfgm_node *cfg, const char *key,
                          enum modvm_cfg_type want, const struct modvm_cfg_option **opt)
{
    const struct modvm_cfg_option *o = pdm_schema_find(schema, key);
    if (!o || o->type != want)
        return -EINVAL;
    *opt = o;
    if (cfg && cfgm_value_type(cfg, key) != 0)
        return 1;
    return o->default_value ? 0 : -ENOENT;
}

int pdm_cfg_get_uint(const struct modvm_cfg_option *schema, struct cfgm_node *cfg, const char *key,
                     uint64_t *out)
{
    const struct modvm_cfg_option *o;
    int rc = pdm_cfg_lookup(schema, cfg, key, MODVM_CFG_UINT, &o);
    if (rc == 1)
        return cfgm_get_uint(cfg, key, out);
    return rc < 0 ? rc : cfgm_parse_uint(o->default_value, out);
}

int pdm_cfg_get_int(const struct modvm_cfg_option *schema, struct cfgm_node *cfg, const char *key,
                    int64_t *out)
{
    const struct modvm_cfg_option *o;
    int rc = pdm_cfg_lookup(schema, cfg, key, MODVM_CFG_INT, &o);
    if (rc == 1)
        return cfgm_get_int(cfg, key, out);
    return rc < 0 ? rc : cfgm_parse_int(o->default_value, out);
}

int pdm_cfg_get_bool(const struct modvm_cfg_option *schema, struct cfgm_node *cfg, const char *key, bool *out)
{
    const struct modvm_cfg_option *o;
    int rc = pdm_cfg_lookup(schema, cfg, key, MODVM_CFG_BOOL, &o);
    if (rc == 1)
        return cfgm_get_bool(cfg, key, out);
    return rc < 0 ? rc : cfgm_parse_bool(o->default_value, out);
}

int pdm_cfg_get_string(const struct modvm_cfg_option *schema, struct cfgm_node *cfg, const char *key,
                       const char **out)
{
    const struct modvm_cfg_option *o;
    int rc = pdm_cfg_lookup(schema, cfg, key, MODVM_CFG_STRING, &o);
    if (rc == 1)
        return cfgm_get_string(cfg, key, out);
    if (rc == 0)
        *out = o->default_value;
    return rc;
}

void pdm_options_print(const struct modvm_cfg_option *schema, FILE *out, const char *indent)
{
    for (const struct modvm_cfg_option *o = schema; o && o->name; o++) {
        static const char *const types[] = {"?", "uint", "int", "bool", "string"};
        fprintf(out, "%s%-12s %-6s default %-10s %s", indent, o->name, types[o->type <= 4 ? o->type : 0],
                o->default_value ? o->default_value : "(none)", o->help ? o->help : "");
        if ((o->min || o->max) && o->type == MODVM_CFG_UINT)
            fprintf(out, o->max < 256 ? " [%" PRIu64 "-%" PRIu64 "]" : " [0x%" PRIx64 "-0x%" PRIx64 "]", o->min,
                    o->max);
        fputc('\n', out);
    }
}
