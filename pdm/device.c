/* pdm/device.c — device instances and the device helper table (struct modvm_dev_hlp).
 *
 * PDM owns each instance: it allocates the zeroed instance data, validates the options against the
 * schema before construct, takes the device's lock around every callback (the trampolines below),
 * and after destruct frees whatever I/O ranges, timers and watches the device left behind. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cfgm.h"
#include "../core/err.h"
#include "../core/pgm.h"
#include "../core/ssm.h"
#include "../core/tm.h"
#include "../core/vm.h"
#include "internal.h"
#include "pci.h"

#define PDM_GUEST_LOG_INTERVAL_NS 1000000000ull /* at most one guest-error line per device per second */

/* The PDM instance behind a plugin's device pointer. */
static struct pdm_dev *pdm_dev_of(struct modvm_dev *dev)
{
    return (struct pdm_dev *)dev;
}

pthread_mutex_t *pdm_dev_owner_lock(struct pdm_dev *dev)
{
    return dev->self_locking ? NULL : &dev->lock;
}

void pdm_dev_enter(struct pdm_dev *dev)
{
    if (!dev->self_locking)
        pthread_mutex_lock(&dev->lock);
}

void pdm_dev_leave(struct pdm_dev *dev)
{
    if (!dev->self_locking)
        pthread_mutex_unlock(&dev->lock);
}

/* ---- I/O trampolines: PGM calls these, they lock the device and call the plugin ---------------- */

static uint64_t pdm_pio_read(void *opaque, uint64_t off, unsigned size)
{
    struct pdm_io_region *r = opaque;
    if (!r->pio.in)
        return ~0ull;
    pdm_dev_enter(r->dev);
    uint32_t v = r->pio.in(&r->dev->pub, r->user, (uint16_t)off, size);
    pdm_dev_leave(r->dev);
    return v;
}

static void pdm_pio_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct pdm_io_region *r = opaque;
    if (!r->pio.out)
        return;
    pdm_dev_enter(r->dev);
    r->pio.out(&r->dev->pub, r->user, (uint16_t)off, (uint32_t)value, size);
    pdm_dev_leave(r->dev);
}

static uint64_t pdm_mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct pdm_io_region *r = opaque;
    if (!r->mmio_ops.read)
        return ~0ull;
    pdm_dev_enter(r->dev);
    uint64_t v = r->mmio_ops.read(&r->dev->pub, r->user, off, size);
    pdm_dev_leave(r->dev);
    return v;
}

static void pdm_mmio_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct pdm_io_region *r = opaque;
    if (!r->mmio_ops.write)
        return;
    pdm_dev_enter(r->dev);
    r->mmio_ops.write(&r->dev->pub, r->user, off, value, size);
    pdm_dev_leave(r->dev);
}

static const struct pgm_io_ops pdm_pio_trampolines = {.read = pdm_pio_read, .write = pdm_pio_write};
static const struct pgm_io_ops pdm_mmio_trampolines = {.read = pdm_mmio_read, .write = pdm_mmio_write};

/* Creates a region of either space (shared by pio_create and mmio_create). */
static int pdm_region_create(struct pdm_dev *d, bool mmio, uint64_t size, uint32_t sizes, const void *ops,
                             void *user, const char *desc, struct pdm_io_region **out)
{
    struct pdm_io_region *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->dev = d;
    r->mmio = mmio;
    r->user = user;
    if (mmio)
        r->mmio_ops = *(const struct modvm_mmio_ops *)ops;
    else
        r->pio = *(const struct modvm_pio_ops *)ops;
    char full[160];
    snprintf(full, sizeof(full), "%s: %s", d->name, desc ? desc : "");
    int rc = pgm_range_create(vm_pgm(d->vm), mmio ? PGM_SPACE_MMIO : PGM_SPACE_PIO, size, sizes,
                              mmio ? &pdm_mmio_trampolines : &pdm_pio_trampolines, r, full, &r->range);
    if (rc < 0) {
        free(r);
        return modvm_err_set(rc, "%s: cannot create %s range '%s' of size 0x%llx: %s", d->name,
                             mmio ? "MMIO" : "port", desc ? desc : "", (unsigned long long)size, strerror(-rc));
    }
    r->next = d->regions;
    d->regions = r;
    *out = r;
    return 0;
}

/* Maps a region and words the conflicts for the user. */
static int pdm_region_map(struct pdm_dev *d, struct pdm_io_region *r, uint64_t base)
{
    int rc = pgm_range_map(r->range, base);
    uint64_t size = pgm_range_size(r->range);
    char other[160] = "another range";
    if (rc == -EBUSY) {
        pgm_describe_overlap(vm_pgm(d->vm), r->mmio ? PGM_SPACE_MMIO : PGM_SPACE_PIO, base, size, other,
                             sizeof(other));
        return modvm_err_set(rc, "%s: %s 0x%llx-0x%llx are already in use by %s (choose another address)",
                             d->name, r->mmio ? "MMIO addresses" : "ports", (unsigned long long)base,
                             (unsigned long long)(base + size - 1), other);
    }
    if (rc < 0)
        return modvm_err_set(rc, "%s: cannot map %s range at 0x%llx: %s", d->name, r->mmio ? "MMIO" : "port",
                             (unsigned long long)base, strerror(-rc));
    return 0;
}

/* Unlinks and frees a region. */
static void pdm_region_destroy(struct pdm_dev *d, struct pdm_io_region *r)
{
    struct pdm_io_region **pp = &d->regions;
    while (*pp && *pp != r)
        pp = &(*pp)->next;
    if (!*pp)
        return;
    *pp = r->next;
    pgm_range_destroy(r->range);
    free(r);
}

static int hlp_pio_create(struct modvm_dev *dev, uint32_t count, const struct modvm_pio_ops *ops, void *user,
                          const char *desc, modvm_pio_handle *out)
{
    if (!ops || !MODVM_VERSION_ARE_COMPATIBLE(MODVM_PIO_OPS_VERSION, ops->version))
        return modvm_err_set(-EINVAL, "%s: port ops have a bad version", pdm_dev_of(dev)->name);
    struct pdm_io_region *r;
    int rc = pdm_region_create(pdm_dev_of(dev), false, count, ops->sizes, ops, user, desc, &r);
    if (rc == 0)
        *out = (modvm_pio_handle)r;
    return rc;
}

static int hlp_pio_map(struct modvm_dev *dev, modvm_pio_handle h, uint16_t base)
{
    return pdm_region_map(pdm_dev_of(dev), (struct pdm_io_region *)h, base);
}

static int hlp_pio_unmap(struct modvm_dev *dev, modvm_pio_handle h)
{
    (void)dev;
    return pgm_range_unmap(((struct pdm_io_region *)h)->range);
}

static void hlp_pio_destroy(struct modvm_dev *dev, modvm_pio_handle h)
{
    pdm_region_destroy(pdm_dev_of(dev), (struct pdm_io_region *)h);
}

static int hlp_mmio_create(struct modvm_dev *dev, uint64_t size, const struct modvm_mmio_ops *ops, void *user,
                           const char *desc, modvm_mmio_handle *out)
{
    if (!ops || !MODVM_VERSION_ARE_COMPATIBLE(MODVM_MMIO_OPS_VERSION, ops->version))
        return modvm_err_set(-EINVAL, "%s: MMIO ops have a bad version", pdm_dev_of(dev)->name);
    struct pdm_io_region *r;
    int rc = pdm_region_create(pdm_dev_of(dev), true, size, ops->sizes, ops, user, desc, &r);
    if (rc == 0)
        *out = (modvm_mmio_handle)r;
    return rc;
}

static int hlp_mmio_map(struct modvm_dev *dev, modvm_mmio_handle h, uint64_t gpa)
{
    return pdm_region_map(pdm_dev_of(dev), (struct pdm_io_region *)h, gpa);
}

static int hlp_mmio_unmap(struct modvm_dev *dev, modvm_mmio_handle h)
{
    (void)dev;
    return pgm_range_unmap(((struct pdm_io_region *)h)->range);
}

static void hlp_mmio_destroy(struct modvm_dev *dev, modvm_mmio_handle h)
{
    pdm_region_destroy(pdm_dev_of(dev), (struct pdm_io_region *)h);
}

static int hlp_irq_set(struct modvm_dev *dev, uint32_t gsi, int level)
{
    return vm_irq_set(pdm_dev_of(dev)->vm, gsi, level);
}

static int hlp_msi_send(struct modvm_dev *dev, uint64_t address, uint32_t data)
{
    return vm_msi_send(pdm_dev_of(dev)->vm, address, data);
}

static int hlp_phys_read(struct modvm_dev *dev, uint64_t gpa, void *buf, size_t len)
{
    return pgm_phys_read(vm_pgm(pdm_dev_of(dev)->vm), gpa, buf, len);
}

static int hlp_phys_write(struct modvm_dev *dev, uint64_t gpa, const void *buf, size_t len)
{
    return pgm_phys_write(vm_pgm(pdm_dev_of(dev)->vm), gpa, buf, len);
}

/* ---- timers -------------------------------------------------------------------------------------- */

/* TM calls this on the I/O thread with the device lock already held (it is the timer's owner lock). */
static void pdm_timer_fire(void *opaque)
{
    struct pdm_timer *t = opaque;
    t->fn(&t->dev->pub, t->user);
}

static int hlp_timer_create(struct modvm_dev *dev, enum modvm_clock clock, modvm_timer_fn fn, void *user,
                            const char *desc, modvm_timer_handle *out)
{
    (void)desc;
    struct pdm_dev *d = pdm_dev_of(dev);
    if (!fn || (clock != MODVM_CLOCK_VIRTUAL && clock != MODVM_CLOCK_HOST))
        return -EINVAL;
    struct pdm_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    *t = (struct pdm_timer){.dev = d, .fn = fn, .user = user};
    int rc = tm_timer_create(vm_tm(d->vm), clock == MODVM_CLOCK_HOST ? TM_CLOCK_HOST : TM_CLOCK_VIRTUAL,
                             pdm_timer_fire, t, pdm_dev_owner_lock(d), &t->timer);
    if (rc < 0) {
        free(t);
        return rc;
    }
    t->next = d->timers;
    d->timers = t;
    *out = (modvm_timer_handle)t;
    return 0;
}

static int hlp_timer_arm(struct modvm_dev *dev, modvm_timer_handle h, uint64_t expire_ns)
{
    (void)dev;
    return tm_timer_arm(((struct pdm_timer *)h)->timer, expire_ns);
}

static int hlp_timer_stop(struct modvm_dev *dev, modvm_timer_handle h)
{
    (void)dev;
    return tm_timer_stop(((struct pdm_timer *)h)->timer);
}

/* Unlinks and frees a timer. */
static void pdm_timer_destroy(struct pdm_dev *d, struct pdm_timer *t)
{
    struct pdm_timer **pp = &d->timers;
    while (*pp && *pp != t)
        pp = &(*pp)->next;
    if (!*pp)
        return;
    *pp = t->next;
    tm_timer_destroy(t->timer);
    free(t);
}

static void hlp_timer_destroy(struct modvm_dev *dev, modvm_timer_handle h)
{
    pdm_timer_destroy(pdm_dev_of(dev), (struct pdm_timer *)h);
}

static uint64_t hlp_clock_now(struct modvm_dev *dev, enum modvm_clock clock)
{
    return tm_now(vm_tm(pdm_dev_of(dev)->vm), clock == MODVM_CLOCK_HOST ? TM_CLOCK_HOST : TM_CLOCK_VIRTUAL);
}

/* ---- fd watches (devices and their drivers) ------------------------------------------------------ */

int pdm_dev_fd_watch_add(struct pdm_dev *d, int fd, uint32_t events, modvm_fd_fn fn, void *user,
                         modvm_fd_handle *out)
{
    if (!fn || fd < 0)
        return -EINVAL;
    struct pdm_fd_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->dev = d;
    int rc = tm_fd_watch_add(vm_tm(d->vm), fd, events, fn, user, pdm_dev_owner_lock(d), &w->watch);
    if (rc < 0) {
        free(w);
        return rc;
    }
    w->next = d->watches;
    d->watches = w;
    *out = (modvm_fd_handle)w;
    return 0;
}

int pdm_dev_fd_watch_modify(struct pdm_dev *d, modvm_fd_handle h, uint32_t events)
{
    (void)d;
    return tm_fd_watch_modify(((struct pdm_fd_watch *)h)->watch, events);
}

void pdm_dev_fd_watch_remove(struct pdm_dev *d, modvm_fd_handle h)
{
    struct pdm_fd_watch *w = (struct pdm_fd_watch *)h, **pp = &d->watches;
    while (*pp && *pp != w)
        pp = &(*pp)->next;
    if (!*pp)
        return;
    *pp = w->next;
    tm_fd_watch_remove(w->watch);
    free(w);
}

static int hlp_fd_watch_add(struct modvm_dev *dev, int fd, uint32_t events, modvm_fd_fn fn, void *user,
                            modvm_fd_handle *out)
{
    return pdm_dev_fd_watch_add(pdm_dev_of(dev), fd, events, fn, user, out);
}

static int hlp_fd_watch_modify(struct modvm_dev *dev, modvm_fd_handle h, uint32_t events)
{
    return pdm_dev_fd_watch_modify(pdm_dev_of(dev), h, events);
}

static void hlp_fd_watch_remove(struct modvm_dev *dev, modvm_fd_handle h)
{
    pdm_dev_fd_watch_remove(pdm_dev_of(dev), h);
}

/* ---- config, drivers, messages, saved state, VM -------------------------------------------------- */

static int hlp_cfg_get_uint(struct modvm_dev *dev, const char *key, uint64_t *out)
{
    return pdm_cfg_get_uint(dev->reg->options, pdm_dev_of(dev)->cfg, key, out);
}

static int hlp_cfg_get_int(struct modvm_dev *dev, const char *key, int64_t *out)
{
    return pdm_cfg_get_int(dev->reg->options, pdm_dev_of(dev)->cfg, key, out);
}

static int hlp_cfg_get_bool(struct modvm_dev *dev, const char *key, bool *out)
{
    return pdm_cfg_get_bool(dev->reg->options, pdm_dev_of(dev)->cfg, key, out);
}

static int hlp_cfg_get_string(struct modvm_dev *dev, const char *key, const char **out)
{
    return pdm_cfg_get_string(dev->reg->options, pdm_dev_of(dev)->cfg, key, out);
}

static int hlp_driver_attach(struct modvm_dev *dev, uint32_t lun, const char *iface, const void *up,
                             void *up_ctx, struct modvm_drv **drv_out, const void **down_out)
{
    return pdm_driver_attach(pdm_dev_of(dev), lun, iface, up, up_ctx, drv_out, down_out);
}

static void hlp_log(struct modvm_dev *dev, int level, const char *fmt, va_list ap)
{
    pdm_log(pdm_dev_of(dev)->vm, pdm_dev_of(dev)->name, level, fmt, ap);
}

static int hlp_set_error(struct modvm_dev *dev, int rc, const char *fmt, va_list ap)
{
    return pdm_set_error(pdm_dev_of(dev)->name, rc, fmt, ap);
}

/* Counts guest misuse; logs it at most once a second per device (more with -vv). */
static void hlp_guest_error(struct modvm_dev *dev, const char *fmt, va_list ap)
{
    struct pdm_dev *d = pdm_dev_of(dev);
    atomic_fetch_add(&d->guest_errors, 1);
    uint64_t now = tm_now(vm_tm(d->vm), TM_CLOCK_HOST), last = atomic_load(&d->last_guest_log_ns);
    bool chatty = vm_verbosity(d->vm) >= 2;
    if (!chatty && last && now - last < PDM_GUEST_LOG_INTERVAL_NS)
        return;
    if (!atomic_compare_exchange_strong(&d->last_guest_log_ns, &last, now) && !chatty)
        return;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fprintf(stderr, "modvm: %s: guest error: %s (%lu so far)\n", d->name, msg, atomic_load(&d->guest_errors));
}

static int hlp_ssm_put(struct modvm_dev *dev, struct modvm_ssm *ssm, const void *buf, size_t len)
{
    (void)dev;
    return ssm_unit_put(ssm, buf, len);
}

static int hlp_ssm_get(struct modvm_dev *dev, struct modvm_ssm *ssm, void *buf, size_t len)
{
    (void)dev;
    return ssm_unit_get(ssm, buf, len);
}

static int hlp_vm_request(struct modvm_dev *dev, enum modvm_vm_request req, int status)
{
    return vm_request(pdm_dev_of(dev)->vm, req, status);
}

static int hlp_vm_query(struct modvm_dev *dev, enum modvm_vm_fact fact, uint64_t *out)
{
    return vm_query(pdm_dev_of(dev)->vm, fact, out);
}

static const void *hlp_core_interface(struct modvm_dev *dev, const char *name, uint32_t min_version)
{
    (void)dev;
    return pdm_core_interface(name, min_version);
}

static const struct modvm_dev_hlp pdm_dev_hlp = {
    .version = MODVM_DEV_HLP_VERSION,
    .pio_create = hlp_pio_create,
    .pio_map = hlp_pio_map,
    .pio_unmap = hlp_pio_unmap,
    .pio_destroy = hlp_pio_destroy,
    .mmio_create = hlp_mmio_create,
    .mmio_map = hlp_mmio_map,
    .mmio_unmap = hlp_mmio_unmap,
    .mmio_destroy = hlp_mmio_destroy,
    .irq_set = hlp_irq_set,
    .msi_send = hlp_msi_send,
    .phys_read = hlp_phys_read,
    .phys_write = hlp_phys_write,
    .timer_create = hlp_timer_create,
    .timer_arm = hlp_timer_arm,
    .timer_stop = hlp_timer_stop,
    .timer_destroy = hlp_timer_destroy,
    .clock_now = hlp_clock_now,
    .fd_watch_add = hlp_fd_watch_add,
    .fd_watch_modify = hlp_fd_watch_modify,
    .fd_watch_remove = hlp_fd_watch_remove,
    .cfg_get_uint = hlp_cfg_get_uint,
    .cfg_get_int = hlp_cfg_get_int,
    .cfg_get_bool = hlp_cfg_get_bool,
    .cfg_get_string = hlp_cfg_get_string,
    .driver_attach = hlp_driver_attach,
    .log = hlp_log,
    .set_error = hlp_set_error,
    .guest_error = hlp_guest_error,
    .ssm_put = hlp_ssm_put,
    .ssm_get = hlp_ssm_get,
    .vm_request = hlp_vm_request,
    .vm_query = hlp_vm_query,
    .core_interface = hlp_core_interface,
    .version_end = MODVM_DEV_HLP_VERSION,
};

/* ---- lifecycle ------------------------------------------------------------------------------------ */

/* Destructs one device: its destruct callback (always), its drivers, then what it left behind. */
static void pdm_dev_destruct_one(struct pdm_dev *d)
{
    pdm_dev_enter(d);
    if (d->pub.reg->destruct)
        d->pub.reg->destruct(&d->pub);
    pdm_pci_dev_destruct(d); /* its PCI functions and their BAR ranges, router, host-bridge role */
    pdm_drivers_destruct(d);
    while (d->watches)
        pdm_dev_fd_watch_remove(d, (modvm_fd_handle)d->watches);
    while (d->timers)
        pdm_timer_destroy(d, d->timers);
    while (d->regions)
        pdm_region_destroy(d, d->regions);
    pdm_dev_leave(d);
    d->pdm->dead_guest_errors += atomic_load(&d->guest_errors);
    pthread_mutex_destroy(&d->lock);
    free(d->pub.data);
    free(d);
}

/* Counts the devices of one type already constructed. */
static uint32_t pdm_count_instances(const struct pdm *pdm, const struct modvm_devreg *reg)
{
    uint32_t n = 0;
    for (const struct pdm_dev *d = pdm->devices; d; d = d->next)
        n += d->pub.reg == reg;
    return n;
}

/* Constructs one device from its config node Devices/<type>/<n>. */
static int pdm_dev_construct_one(struct pdm *pdm, struct vm *vm, const char *type, struct cfgm_node *node)
{
    const struct modvm_devreg *reg = pdm_find_devreg(pdm, type);
    if (!reg)
        return modvm_err_set(-ENOENT, "unknown device type '%s' (see 'modvm list plugins' for the types the "
                                      "loaded plugins provide)", type);
    uint32_t instance = pdm_count_instances(pdm, reg);
    if (reg->max_instances && instance >= reg->max_instances)
        return modvm_err_set(-ENOSPC, "device '%s': at most %u instance(s) are supported", type,
                             reg->max_instances);
    struct pdm_dev *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    pthread_mutex_init(&d->lock, NULL);
    d->pdm = pdm;
    d->vm = vm;
    d->node = node;
    d->cfg = cfgm_child(node, "Config");
    d->self_locking = reg->flags & MODVM_DEVREG_F_SELF_LOCKING;
    snprintf(d->name, sizeof(d->name), "device '%s' #%u", type, instance);
    d->pub = (struct modvm_dev){.version = MODVM_DEV_VERSION, .instance = instance, .hlp = &pdm_dev_hlp,
                                .reg = reg, .name = d->name, .core = pdm};
    d->pub.data = calloc(1, reg->instance_size ? reg->instance_size : 1);
    int rc = d->pub.data ? pdm_options_validate(reg->options, d->cfg, d->name) : -ENOMEM;
    /* Linked before construct so a failure destructs it like any other. */
    d->next = pdm->devices;
    pdm->devices = d;
    if (rc == 0) {
        modvm_err_clear();
        pdm_dev_enter(d);
        rc = reg->construct(&d->pub);
        pdm_dev_leave(d);
        if (rc < 0 && !*modvm_err_get())
            modvm_err_set(rc, "%s: construction failed: %s", d->name, strerror(-rc));
    }
    return rc;
}

int pdm_devices_construct(struct pdm *pdm, struct vm *vm, struct cfgm_node *devices)
{
    int rc = 0;
    for (struct cfgm_node *type = cfgm_first_child(devices); type && rc == 0; type = cfgm_next_sibling(type))
        for (struct cfgm_node *inst = cfgm_first_child(type); inst && rc == 0; inst = cfgm_next_sibling(inst))
            rc = pdm_dev_construct_one(pdm, vm, cfgm_name(type), inst);
    if (rc < 0) {
        char saved[512];
        snprintf(saved, sizeof(saved), "%s", modvm_err_get());
        pdm_devices_destruct(pdm);
        modvm_err_set(rc, "%s", saved);
    }
    return rc;
}

void pdm_devices_destruct(struct pdm *pdm)
{
    while (pdm->devices) {
        struct pdm_dev *d = pdm->devices;
        pdm->devices = d->next;
        pdm_dev_destruct_one(d);
    }
}

void pdm_devices_notify(struct pdm *pdm, enum pdm_notify what)
{
    for (struct pdm_dev *d = pdm->devices; d; d = d->next) {
        const struct modvm_devreg *reg = d->pub.reg;
        modvm_dev_notify_fn fn = what == PDM_NOTIFY_RESET     ? reg->reset
                                 : what == PDM_NOTIFY_SUSPEND ? reg->suspend
                                 : what == PDM_NOTIFY_RESUME  ? reg->resume
                                                              : reg->power_off;
        pdm_dev_enter(d);
        if (what == PDM_NOTIFY_RESET)
            pdm_pci_dev_reset(d); /* the PCI header registers first; the device resets its own */
        if (fn)
            fn(&d->pub);
        pdm_drivers_notify(d, what);
        pdm_dev_leave(d);
    }
}

unsigned long pdm_guest_error_count(const struct pdm *pdm)
{
    unsigned long n = pdm->dead_guest_errors;
    for (const struct pdm_dev *d = pdm->devices; d; d = d->next)
        n += atomic_load(&d->guest_errors);
    return n;
}
