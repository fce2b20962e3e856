/* pdm/loader.c — finding and loading plugins with libltdl, and the ABI check.
 *
 * A plugin is accepted only when it exports modvm_plugin_descriptor, the descriptor's magic and ABI
 * major equal the core's, its minor is not newer than the core's, and the version word is repeated at
 * the descriptor's end. Plugins are opened RTLD_LOCAL (they need no symbol from modvm) and nothing in
 * them runs before these checks. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <ltdl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/err.h"
#include "internal.h"

#ifndef MODVM_PLUGIN_DIR
#error "MODVM_PLUGIN_DIR must name the installed plugin directory"
#endif

/* Opens the plugin library with local symbol binding. */
static lt_dlhandle pdm_dlopen_local(const char *path)
{
    lt_dladvise advise;
    if (lt_dladvise_init(&advise) != 0)
        return NULL;
    lt_dladvise_local(&advise);
    lt_dlhandle h = lt_dlopenadvise(path, advise);
    lt_dladvise_destroy(&advise);
    return h;
}

/* Checks a descriptor's versions; returns 0 or -EPROTO/-EINVAL with the message set. */
static int pdm_check_descriptor(const char *path, const struct modvm_plugin_desc *d)
{
    uint32_t v = d->version;
    if (MODVM_VERSION_MAGIC(v) != MODVM_VERSION_MAGIC(MODVM_PLUGIN_DESC_VERSION))
        return modvm_err_set(-EINVAL, "plugin '%s': its descriptor is corrupt (bad magic 0x%04x); "
                                      "rebuild it against the modvm SDK", path, MODVM_VERSION_MAGIC(v));
    if (!MODVM_VERSION_ARE_COMPATIBLE(MODVM_PLUGIN_DESC_VERSION, v))
        return modvm_err_set(-EPROTO, "plugin '%s' was built for plugin ABI %u.%u, but this modvm speaks "
                                      "ABI %u.%u; rebuild the plugin against this modvm's SDK",
                             path, MODVM_VERSION_MAJOR(v), MODVM_VERSION_MINOR(v), MODVM_ABI_MAJOR,
                             MODVM_ABI_MINOR);
    if (d->version_end != v)
        return modvm_err_set(-EINVAL, "plugin '%s': its descriptor is corrupt (end marker 0x%08x, "
                                      "expected 0x%08x); rebuild it", path, d->version_end, v);
    if (!d->name || !*d->name || !d->register_types)
        return modvm_err_set(-EINVAL, "plugin '%s': its descriptor has no name or no register function",
                             path);
    return 0;
}

/* Makes room for one more plugin entry. */
static int pdm_grow_plugins(struct pdm *pdm)
{
    if (pdm->nplugins < pdm->plugins_cap)
        return 0;
    size_t cap = pdm->plugins_cap ? pdm->plugins_cap * 2 : 16;
    struct pdm_plugin *n = realloc(pdm->plugins, cap * sizeof(*n));
    if (!n)
        return -ENOMEM;
    pdm->plugins = n;
    pdm->plugins_cap = cap;
    return 0;
}

/* Implements modvm_registrar.register_device. */
static int pdm_reg_device(const struct modvm_registrar *reg, const struct modvm_devreg *dev)
{
    struct pdm *pdm = reg->core;
    return pdm_registry_add(pdm, &pdm->devs, dev, "device", dev ? dev->name : NULL);
}

/* Implements modvm_registrar.register_driver. */
static int pdm_reg_driver(const struct modvm_registrar *reg, const struct modvm_drvreg *drv)
{
    struct pdm *pdm = reg->core;
    return pdm_registry_add(pdm, &pdm->drvs, drv, "driver", drv ? drv->name : NULL);
}

/* Implements modvm_registrar.register_ui. */
static int pdm_reg_ui(const struct modvm_registrar *reg, const struct modvm_uireg *ui)
{
    struct pdm *pdm = reg->core;
    return pdm_registry_add(pdm, &pdm->uis, ui, "frontend", ui ? ui->name : NULL);
}

/* Drops the types a plugin registered before its registration failed. */
static void pdm_forget_types(struct pdm_type_list *list, size_t plugin)
{
    while (list->count && list->items[list->count - 1].plugin == plugin)
        list->count--;
}

int pdm_load_file(struct pdm *pdm, const char *path)
{
    if (!pdm->ltdl_ready) {
        if (lt_dlinit() != 0)
            return modvm_err_set(-EIO, "cannot initialise libltdl: %s", lt_dlerror());
        pdm->ltdl_ready = true;
    }
    lt_dlhandle h = pdm_dlopen_local(path);
    if (!h)
        return modvm_err_set(-ENOEXEC, "plugin '%s' cannot be loaded: %s (remove it from the plugin "
                                       "path or rebuild it)", path, lt_dlerror());
    const struct modvm_plugin_desc *d = lt_dlsym(h, MODVM_PLUGIN_SYMBOL_NAME);
    if (!d) {
        lt_dlclose(h);
        return modvm_err_set(-ENOEXEC, "'%s' is not a modvm plugin: it does not export '%s' (remove "
                                       "it from the plugin path)", path, MODVM_PLUGIN_SYMBOL_NAME);
    }
    int rc = pdm_check_descriptor(path, d);
    if (rc == 0)
        rc = pdm_grow_plugins(pdm);
    if (rc < 0) {
        lt_dlclose(h);
        return rc;
    }
    size_t idx = pdm->nplugins;
    pdm->plugins[idx] = (struct pdm_plugin){.info = {.path = strdup(path), .desc = d}, .handle = h};
    pdm->nplugins++;
    pdm->loading_plugin = idx;
    struct modvm_registrar reg = {.version = MODVM_REGISTRAR_VERSION, .core = pdm,
                                  .register_device = pdm_reg_device, .register_driver = pdm_reg_driver,
                                  .register_ui = pdm_reg_ui};
    modvm_err_clear();
    rc = d->register_types(&reg);
    if (rc < 0) {
        if (!*modvm_err_get())
            modvm_err_set(rc, "plugin '%s' failed to register its types: %s", path, strerror(-rc));
        pdm_forget_types(&pdm->devs, idx);
        pdm_forget_types(&pdm->drvs, idx);
        pdm_forget_types(&pdm->uis, idx);
        pdm->nplugins--;
        free((char *)pdm->plugins[idx].info.path);
        lt_dlclose(h);
        return rc;
    }
    return 0;
}

/* Compares strings for qsort. */
static int pdm_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True for names ending in ".so". */
static bool pdm_is_plugin_name(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0 && name[0] != '.';
}

/* Collects plugin paths below `dir` (sorted per directory so load order is stable). */
static int pdm_collect(const char *dir, bool recursive, char ***paths, size_t *n, size_t *cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    char **local = NULL;
    size_t nlocal = 0, caplocal = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) && rc == 0) {
        if (e->d_name[0] == '.')
            continue;
        char *p;
        if (asprintf(&p, "%s/%s", dir, e->d_name) < 0) {
            rc = -ENOMEM;
            break;
        }
        struct stat st;
        bool keep = stat(p, &st) == 0 &&
                    ((S_ISREG(st.st_mode) && pdm_is_plugin_name(e->d_name)) || (recursive && S_ISDIR(st.st_mode)));
        if (keep && nlocal == caplocal) {
            caplocal = caplocal ? caplocal * 2 : 16;
            char **nl = realloc(local, caplocal * sizeof(*nl));
            if (!nl)
                keep = false, rc = -ENOMEM;
            else
                local = nl;
        }
        if (keep)
            local[nlocal++] = p;
        else
            free(p);
    }
    closedir(d);
    if (nlocal)
        qsort(local, nlocal, sizeof(*local), pdm_cmp_str);
    for (size_t i = 0; i < nlocal; i++) {
        struct stat st;
        if (rc == 0 && stat(local[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = pdm_collect(local[i], true, paths, n, cap);
            free(local[i]);
            continue;
        }
        if (rc == 0 && *n == *cap) {
            *cap = *cap ? *cap * 2 : 32;
            char **np = realloc(*paths, *cap * sizeof(*np));
            if (!np)
                rc = -ENOMEM;
            else
                *paths = np;
        }
        if (rc == 0)
            (*paths)[(*n)++] = local[i];
        else
            free(local[i]);
    }
    free(local);
    return rc;
}

int pdm_load_directory(struct pdm *pdm, const char *dir, bool recursive, bool optional)
{
    char **paths = NULL;
    size_t n = 0, cap = 0;
    int rc = pdm_collect(dir, recursive, &paths, &n, &cap);
    if (rc == -ENOENT && optional)
        rc = 0;
    else if (rc < 0)
        modvm_err_set(rc, "plugin directory '%s' cannot be read: %s", dir, strerror(-rc));
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = pdm_load_file(pdm, paths[i]);
        free(paths[i]);
    }
    free(paths);
    return rc;
}

/* The build tree's plugin folder when this process runs the build tree's binary, else NULL. */
static const char *pdm_build_tree_plugins(void)
{
#ifdef MODVM_BUILD_ROOT
    char exe[PATH_MAX], root[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0 || !realpath(MODVM_BUILD_ROOT, root))
        return NULL;
    exe[n] = '\0';
    size_t rl = strlen(root);
    if (strncmp(exe, root, rl) == 0 && exe[rl] == '/')
        return MODVM_BUILD_ROOT "/plugins";
#endif
    return NULL;
}

int pdm_load_standard(struct pdm *pdm, const char *const *extra, size_t nextra)
{
    const char *build = pdm_build_tree_plugins();
    int rc = build ? pdm_load_directory(pdm, build, true, false)
                   : pdm_load_directory(pdm, MODVM_PLUGIN_DIR, false, true);
    const char *env = getenv("MODVM_PLUGIN_PATH");
    if (rc == 0 && env && *env) {
        char *copy = strdup(env), *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir && rc == 0; dir = strtok_r(NULL, ":", &save))
            rc = pdm_load_directory(pdm, dir, false, false);
        free(copy);
    }
    for (size_t i = 0; i < nextra && rc == 0; i++)
        rc = pdm_load_directory(pdm, extra[i], false, false);
    return rc;
}

int pdm_create(struct pdm **out)
{
    struct pdm *pdm = calloc(1, sizeof(*pdm));
    if (!pdm)
        return -ENOMEM;
    *out = pdm;
    return 0;
}

void pdm_destroy(struct pdm *pdm)
{
    if (!pdm)
        return;
    pdm_devices_destruct(pdm);
    for (size_t i = pdm->nplugins; i-- > 0;) {
        lt_dlclose(pdm->plugins[i].handle);
        free((char *)pdm->plugins[i].info.path);
    }
    if (pdm->ltdl_ready)
        lt_dlexit();
    free(pdm->plugins);
    free(pdm->devs.items);
    free(pdm->drvs.items);
    free(pdm->uis.items);
    free(pdm);
}

size_t pdm_plugin_count(const struct pdm *pdm)
{
    return pdm->nplugins;
}

const struct pdm_plugin_info *pdm_plugin_at(const struct pdm *pdm, size_t i)
{
    return i < pdm->nplugins ? &pdm->plugins[i].info : NULL;
}
