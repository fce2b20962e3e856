/* pdm/driver.c — driver instances attached to a device's LUNs, and the driver helper table.
 *
 * Configuration: Devices/<type>/<n>/LUN#<lun> holds `Driver` (the driver type's name) and a `Config`
 * node with the driver's options. A driver lives inside its device: PDM runs its callbacks under the
 * device's lock, destructs it with the device, and words its errors with both names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cfgm.h"
#include "../core/err.h"
#include "../core/vm.h"
#include "internal.h"

/* The PDM instance behind a plugin's driver pointer. */
static struct pdm_drv *pdm_drv_of(struct modvm_drv *drv)
{
    return (struct pdm_drv *)drv;
}

static int dhlp_fd_watch_add(struct modvm_drv *drv, int fd, uint32_t events, modvm_fd_fn fn, void *user,
                             modvm_fd_handle *out)
{
    return pdm_dev_fd_watch_add(pdm_drv_of(drv)->dev, fd, events, fn, user, out);
}

static int dhlp_fd_watch_modify(struct modvm_drv *drv, modvm_fd_handle h, uint32_t events)
{
    return pdm_dev_fd_watch_modify(pdm_drv_of(drv)->dev, h, events);
}

static void dhlp_fd_watch_remove(struct modvm_drv *drv, modvm_fd_handle h)
{
    pdm_dev_fd_watch_remove(pdm_drv_of(drv)->dev, h);
}

static int dhlp_cfg_get_uint(struct modvm_drv *drv, const char *key, uint64_t *out)
{
    return pdm_cfg_get_uint(drv->reg->options, pdm_drv_of(drv)->cfg, key, out);
}

static int dhlp_cfg_get_bool(struct modvm_drv *drv, const char *key, bool *out)
{
    return pdm_cfg_get_bool(drv->reg->options, pdm_drv_of(drv)->cfg, key, out);
}

static int dhlp_cfg_get_string(struct modvm_drv *drv, const char *key, const char **out)
{
    return pdm_cfg_get_string(drv->reg->options, pdm_drv_of(drv)->cfg, key, out);
}

static void dhlp_log(struct modvm_drv *drv, int level, const char *fmt, va_list ap)
{
    pdm_log(pdm_drv_of(drv)->dev->vm, pdm_drv_of(drv)->name, level, fmt, ap);
}

static int dhlp_set_error(struct modvm_drv *drv, int rc, const char *fmt, va_list ap)
{
    return pdm_set_error(pdm_drv_of(drv)->name, rc, fmt, ap);
}

static int dhlp_vm_request(struct modvm_drv *drv, enum modvm_vm_request req, int status)
{
    return vm_request(pdm_drv_of(drv)->dev->vm, req, status);
}

static const struct modvm_drv_hlp pdm_drv_hlp = {
    .version = MODVM_DRV_HLP_VERSION,
    .fd_watch_add = dhlp_fd_watch_add,
    .fd_watch_modify = dhlp_fd_watch_modify,
    .fd_watch_remove = dhlp_fd_watch_remove,
    .cfg_get_uint = dhlp_cfg_get_uint,
    .cfg_get_bool = dhlp_cfg_get_bool,
    .cfg_get_string = dhlp_cfg_get_string,
    .log = dhlp_log,
    .set_error = dhlp_set_error,
    .vm_request = dhlp_vm_request,
    .version_end = MODVM_DRV_HLP_VERSION,
};

/* Destructs one driver (always calling its destruct) and frees it. */
static void pdm_drv_free(struct pdm_drv *d)
{
    if (d->pub.reg->destruct)
        d->pub.reg->destruct(&d->pub);
    free(d->pub.data);
    free(d);
}

/* Constructs the driver `reg` for `dev` at `lun`; on success links it into the device. */
static int pdm_drv_construct(struct pdm_dev *dev, const struct modvm_drvreg *reg, uint32_t lun,
                             struct cfgm_node *cfg, const void *up, void *up_ctx, struct pdm_drv **out)
{
    struct pdm_drv *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->dev = dev;
    d->cfg = cfg;
    snprintf(d->name, sizeof(d->name), "%s LUN#%u driver '%s'", dev->name, lun, reg->name);
    d->pub = (struct modvm_drv){.version = MODVM_DRV_VERSION, .lun = lun, .hlp = &pdm_drv_hlp, .reg = reg,
                                .name = d->name, .up = up, .up_ctx = up_ctx, .core = dev};
    d->pub.data = calloc(1, reg->instance_size ? reg->instance_size : 1);
    int rc = d->pub.data ? pdm_options_validate(reg->options, cfg, d->name) : -ENOMEM;
    if (rc == 0) {
        modvm_err_clear();
        rc = reg->construct(&d->pub);
        if (rc < 0 && !*modvm_err_get())
            modvm_err_set(rc, "%s: construction failed: %s", d->name, strerror(-rc));
    }
    if (rc < 0) {
        char saved[512];
        snprintf(saved, sizeof(saved), "%s", modvm_err_get());
        pdm_drv_free(d);
        return modvm_err_set(rc, "%s", saved);
    }
    d->next = dev->drivers;
    dev->drivers = d;
    *out = d;
    return 0;
}

int pdm_driver_attach(struct pdm_dev *dev, uint32_t lun, const char *iface, const void *up, void *up_ctx,
                      struct modvm_drv **drv_out, const void **down_out)
{
    char lun_name[32];
    snprintf(lun_name, sizeof(lun_name), "LUN#%u", lun);
    struct cfgm_node *node = cfgm_child(dev->node, lun_name);
    const char *drv_name;
    if (!node || cfgm_get_string(node, "Driver", &drv_name) < 0)
        return -ENOENT;
    for (struct pdm_drv *d = dev->drivers; d; d = d->next)
        if (d->pub.lun == lun)
            return modvm_err_set(-EBUSY, "%s: LUN#%u is attached already", dev->name, lun);
    const struct modvm_drvreg *reg = pdm_find_drvreg(dev->pdm, drv_name);
    if (!reg)
        return modvm_err_set(-ENOENT, "%s: unknown driver '%s' for LUN#%u (see 'modvm list plugins')",
                             dev->name, drv_name, lun);
    if (strcmp(reg->iface, iface) != 0)
        return modvm_err_set(-ENOTSUP, "%s: driver '%s' provides interface '%s', but LUN#%u needs '%s'",
                             dev->name, drv_name, reg->iface, lun, iface);
    struct pdm_drv *d;
    int rc = pdm_drv_construct(dev, reg, lun, cfgm_child(node, "Config"), up, up_ctx, &d);
    if (rc == -ENOENT) /* e.g. a missing file: -ENOENT tells the device "nothing configured" */
        rc = -EIO;
    if (rc < 0)
        return rc;
    const void *down = reg->query_interface(&d->pub, iface);
    if (!down) {
        dev->drivers = d->next;
        pdm_drv_free(d);
        return modvm_err_set(-ENOTSUP, "%s: driver '%s' did not provide interface '%s'", dev->name, drv_name,
                             iface);
    }
    *drv_out = &d->pub;
    *down_out = down;
    return 0;
}

void pdm_drivers_destruct(struct pdm_dev *dev)
{
    while (dev->drivers) {
        struct pdm_drv *d = dev->drivers;
        dev->drivers = d->next;
        pdm_drv_free(d);
    }
}

void pdm_drivers_notify(struct pdm_dev *dev, enum pdm_notify what)
{
    for (struct pdm_drv *d = dev->drivers; d; d = d->next) {
        if (what == PDM_NOTIFY_SUSPEND && d->pub.reg->suspend)
            d->pub.reg->suspend(&d->pub);
        else if (what == PDM_NOTIFY_RESUME && d->pub.reg->resume)
            d->pub.reg->resume(&d->pub);
    }
}
