/* devharness.c — runs a real modvm device plugin without a VM (see devharness.h).
 *
 * Spec: the modvm plugin ABI, sdk/include/modvm/{plugin,pdm,drv,cfg,ssm}.h. This file plays the
 * core's part for one device: loader, registrar, helper table, bus, clock, config, saved state and
 * a char driver. It uses only the public SDK headers; nothing from core/ or pdm/. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strndup, strcasecmp; the project also passes -D_GNU_SOURCE */
#endif
#include "devharness.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <modvm/cfg.h>
#include <modvm/drv.h>
#include <modvm/fw.h>
#include <modvm/pdm.h>
#include <modvm/plugin.h>
#include <modvm/ssm.h>

#define HARNESS_MAX_TYPES 16
#define HARNESS_MAX_RANGES 64
#define HARNESS_MAX_TIMERS 64
#define HARNESS_MAX_FDS 32
#define HARNESS_MAX_GSI 256
#define HARNESS_MAX_OPTIONS 32
#define HARNESS_MSG_LEN 512
#define HARNESS_FIRE_BUDGET 1000000u /* timer callbacks per advance before we call it a storm */
#define HARNESS_CLOCK_START 1000000000ull
#define HARNESS_DEFAULT_RAM (64u * 1024u)

/* ---- the opaque handle types of pdm.h, defined here as the core would -------------------------- */

struct modvm_pio_region_ {
    struct devharness *h;
    bool live, mapped;
    uint16_t base;
    uint32_t count;
    const struct modvm_pio_ops *ops;
    void *user;
};

struct modvm_mmio_region_ {
    struct devharness *h;
    bool live, mapped;
    uint64_t base, size;
    const struct modvm_mmio_ops *ops;
    void *user;
};

struct modvm_timer_ {
    struct devharness *h;
    bool live, armed;
    uint64_t expire;
    uint64_t seq; /* arm order: breaks ties between timers due at the same time */
    modvm_timer_fn fn;
    void *user;
};

struct modvm_fd_watch_ {
    struct devharness *h;
    bool live;
    int fd;
    uint32_t events;
    modvm_fd_fn fn;
    void *user;
};

/* A saved-state stream over memory. */
struct modvm_ssm {
    uint8_t *buf;
    size_t len, cap, pos;
    bool writing;
    bool failed; /* reading: sticky after the first short get (ssm.h) */
};

/* One "key=value" the test gave. */
struct harness_opt {
    char *key;
    char *value;
};

/* The built-in char driver. */
struct harness_char {
    struct modvm_drv drv;
    bool present, attached, delivering;
    const struct modvm_char_port *port;
    void *ctx;
    uint8_t *out;
    size_t out_len, out_cap;
    uint8_t *in;
    size_t in_len, in_cap;
    unsigned ready_calls;
};

/* One firmware file (fw.h). */
struct harness_fw_file {
    char name[MODVM_FW_NAME_MAX + 1];
    void *data;
    size_t len;
};

struct devharness {
    void *dl;
    const struct modvm_plugin_desc *desc;
    struct modvm_registrar registrar;
    const struct modvm_devreg *devregs[HARNESS_MAX_TYPES];
    unsigned n_devregs, n_drvregs, n_uiregs;

    struct modvm_dev dev;
    bool constructed;
    char dev_name[128];
    struct harness_opt opts[HARNESS_MAX_OPTIONS];
    unsigned n_opts;

    struct modvm_pio_region_ pio[HARNESS_MAX_RANGES];
    struct modvm_mmio_region_ mmio[HARNESS_MAX_RANGES];
    struct modvm_timer_ timers[HARNESS_MAX_TIMERS];
    struct modvm_fd_watch_ fds[HARNESS_MAX_FDS];
    uint64_t now, arm_seq;

    uint8_t irq_level[HARNESS_MAX_GSI];
    unsigned irq_raises[HARNESS_MAX_GSI];
    unsigned msi_count;
    uint64_t msi_address;
    uint32_t msi_data;

    uint8_t *ram;
    size_t ram_size;
    uint64_t fact_cpus, fact_ram; /* vm_query overrides; 0 = default */

    struct harness_char chr;

    /* firmware files served as "modvm.fw.1" (fw.h): sorted by name; replaced data kept until close */
    struct harness_fw_file *fw_files;
    size_t n_fw_files, cap_fw_files;
    void **fw_retired;
    size_t n_fw_retired;
    bool fw_hidden;

    char last_error[HARNESS_MSG_LEN];
    char last_guest_error[HARNESS_MSG_LEN];
    unsigned guest_errors;
    unsigned leaks;
    char fail_name[32];
    int fail_rc;
    unsigned vm_requests;
    enum modvm_vm_request last_request;
    int last_status;
    bool verbose;
};

/* ---- small helpers ------------------------------------------------------------------------------ */

/* A broken host-side invariant (the plugin misused the ABI): say so and stop the test program. */
static void harness_bug(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void harness_bug(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("devharness: plugin ABI misuse: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* The harness a device belongs to. */
static struct devharness *harness_of(struct modvm_dev *dev)
{
    return dev->core;
}

/* Records a one-line error as the core's set_error would. */
static int harness_error(struct devharness *h, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int harness_error(struct devharness *h, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->last_error, sizeof(h->last_error), fmt, ap);
    va_end(ap);
    if (h->verbose)
        fprintf(stderr, "devharness: error: %s\n", h->last_error);
    return rc;
}

/* The injected failure for helper `name` (consumed), or 0. */
static int harness_injected(struct devharness *h, const char *name)
{
    if (!h->fail_name[0] || strcmp(h->fail_name, name) != 0)
        return 0;
    h->fail_name[0] = '\0';
    return h->fail_rc;
}

/* Mask of the low `size` bytes. */
static uint64_t harness_mask(unsigned size)
{
    return size >= 8 ? UINT64_MAX : ((uint64_t)1 << (8 * size)) - 1;
}

/* Grows a byte buffer to hold `need` bytes. */
static void harness_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    uint8_t *p = realloc(*buf, n);
    if (!p)
        harness_bug("out of memory growing a buffer to %zu bytes", n);
    *buf = p;
    *cap = n;
}

/* ---- option parsing (cfg.h types) --------------------------------------------------------------- */

/* Parses an unsigned integer: decimal, 0x hex or 0 octal, nothing else around it. */
static int harness_parse_uint(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ' || *s == '\t')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Parses a signed integer: decimal, 0x hex or 0 octal with an optional '-'. */
static int harness_parse_int(const char *s, int64_t *out)
{
    char *end;
    if (!s || !*s || *s == ' ' || *s == '\t' || *s == '+')
        return -EINVAL;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Parses a boolean: on/off, yes/no, true/false, 1/0 (any case). */
static int harness_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"on", "yes", "true", "1"};
    static const char *const no[] = {"off", "no", "false", "0"};
    for (unsigned i = 0; s && i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, 0;
    }
    return -EINVAL;
}

/* True when an option's [min, max] range is in force (both 0 = the whole type). */
static bool harness_has_range(const struct modvm_cfg_option *o)
{
    return o->min != 0 || o->max != 0;
}

/* Checks that `value` is a valid value of option `o`; the message says why not. */
static int harness_check_value(struct devharness *h, const struct modvm_cfg_option *o, const char *value)
{
    uint64_t u;
    int64_t i;
    bool b;
    switch (o->type) {
    case MODVM_CFG_UINT:
        if (harness_parse_uint(value, &u) != 0)
            return harness_error(h, -EINVAL, "option '%s' must be an unsigned integer, got '%s'", o->name, value);
        if (harness_has_range(o) && (u < o->min || u > o->max))
            return harness_error(h, -ERANGE, "option '%s' must be in %" PRIu64 "..%" PRIu64 ", got '%s'", o->name,
                                 o->min, o->max, value);
        return 0;
    case MODVM_CFG_INT:
        if (harness_parse_int(value, &i) != 0)
            return harness_error(h, -EINVAL, "option '%s' must be an integer, got '%s'", o->name, value);
        if (harness_has_range(o) && (i < (int64_t)o->min || i > (int64_t)o->max))
            return harness_error(h, -ERANGE, "option '%s' must be in %" PRId64 "..%" PRId64 ", got '%s'", o->name,
                                 (int64_t)o->min, (int64_t)o->max, value);
        return 0;
    case MODVM_CFG_BOOL:
        if (harness_parse_bool(value, &b) != 0)
            return harness_error(h, -EINVAL, "option '%s' must be on/off, got '%s'", o->name, value);
        return 0;
    case MODVM_CFG_STRING:
        return value ? 0 : -EINVAL;
    }
    return harness_error(h, -EINVAL, "option '%s' has unknown type %d", o->name, (int)o->type);
}

/* The schema entry for `key`, or NULL. */
static const struct modvm_cfg_option *harness_schema_find(const struct modvm_cfg_option *schema, const char *key)
{
    for (const struct modvm_cfg_option *o = schema; o && o->name; o++)
        if (strcmp(o->name, key) == 0)
            return o;
    return NULL;
}

/* ---- registrar ---------------------------------------------------------------------------------- */

/* True when `name` is a valid type name: [a-z0-9-]+. */
static bool harness_valid_name(const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

/* Checks a schema: known types, and defaults that are valid values. */
static int harness_check_schema(struct devharness *h, const struct modvm_cfg_option *schema)
{
    for (const struct modvm_cfg_option *o = schema; o && o->name; o++) {
        if (o->type < MODVM_CFG_UINT || o->type > MODVM_CFG_STRING)
            return harness_error(h, -EINVAL, "option '%s' has unknown type %d", o->name, (int)o->type);
        if (o->default_value && harness_check_value(h, o, o->default_value) != 0)
            return harness_error(h, -EINVAL, "the default '%s' of option '%s' is invalid", o->default_value,
                                 o->name);
    }
    return 0;
}

/* modvm_registrar.register_device: validates and records a device type. */
static int harness_register_device(const struct modvm_registrar *reg, const struct modvm_devreg *d)
{
    struct devharness *h = reg->core;
    if (!d || !MODVM_VERSION_ARE_COMPATIBLE(MODVM_DEVREG_VERSION, d->version) || d->version_end != d->version)
        return harness_error(h, -EINVAL, "device registration has a bad version word");
    if (!harness_valid_name(d->name) || !d->construct)
        return harness_error(h, -EINVAL, "device registration '%s' lacks a valid name or construct",
                             d->name ? d->name : "(null)");
    if (harness_check_schema(h, d->options) != 0)
        return -EINVAL;
    for (unsigned i = 0; i < h->n_devregs; i++)
        if (strcmp(h->devregs[i]->name, d->name) == 0)
            return harness_error(h, -EEXIST, "device type '%s' registered twice", d->name);
    if (h->n_devregs == HARNESS_MAX_TYPES)
        return harness_error(h, -ENOSPC, "too many device types");
    h->devregs[h->n_devregs++] = d;
    return 0;
}

/* modvm_registrar.register_driver: validates and counts a driver type. */
static int harness_register_driver(const struct modvm_registrar *reg, const struct modvm_drvreg *d)
{
    struct devharness *h = reg->core;
    if (!d || !MODVM_VERSION_ARE_COMPATIBLE(MODVM_DRVREG_VERSION, d->version) || d->version_end != d->version)
        return harness_error(h, -EINVAL, "driver registration has a bad version word");
    if (!harness_valid_name(d->name) || !d->construct || !d->iface || !d->query_interface)
        return harness_error(h, -EINVAL, "driver registration is incomplete");
    h->n_drvregs++;
    return 0;
}

/* modvm_registrar.register_ui: counts a frontend (the harness does not run frontends). */
static int harness_register_ui(const struct modvm_registrar *reg, const struct modvm_uireg *ui)
{
    struct devharness *h = reg->core;
    if (!ui)
        return harness_error(h, -EINVAL, "NULL frontend registration");
    h->n_uiregs++;
    return 0;
}

/* ---- port I/O and MMIO helpers ------------------------------------------------------------------ */

/* Checks that `r` is a live region of this harness. */
static struct modvm_pio_region_ *harness_pio_check(struct devharness *h, modvm_pio_handle r)
{
    if (!r || r < h->pio || r >= h->pio + HARNESS_MAX_RANGES || !r->live)
        harness_bug("stale or foreign port-range handle %p", (void *)r);
    return r;
}

/* modvm_dev_hlp.pio_create */
static int hlp_pio_create(struct modvm_dev *dev, uint32_t count, const struct modvm_pio_ops *ops, void *user,
                          const char *desc, modvm_pio_handle *out)
{
    struct devharness *h = harness_of(dev);
    int rc = harness_injected(h, "pio_create");
    (void)desc;
    if (rc)
        return rc;
    if (count == 0 || count > 0x10000 || !ops || !MODVM_VERSION_ARE_COMPATIBLE(MODVM_PIO_OPS_VERSION, ops->version) ||
        (ops->sizes & ~MODVM_IO_SIZE_ANY) || !(ops->sizes & (MODVM_IO_SIZE_1 | MODVM_IO_SIZE_2 | MODVM_IO_SIZE_4)))
        return -EINVAL;
    for (unsigned i = 0; i < HARNESS_MAX_RANGES; i++) {
        struct modvm_pio_region_ *r = &h->pio[i];
        if (r->live)
            continue;
        *r = (struct modvm_pio_region_){.h = h, .live = true, .count = count, .ops = ops, .user = user};
        *out = r;
        return 0;
    }
    return -ENOSPC;
}

/* True when [a, a+an) and [b, b+bn) overlap. */
static bool harness_overlap(uint64_t a, uint64_t an, uint64_t b, uint64_t bn)
{
    return a < b + bn && b < a + an;
}

/* modvm_dev_hlp.pio_map */
static int hlp_pio_map(struct modvm_dev *dev, modvm_pio_handle hd, uint16_t base)
{
    struct devharness *h = harness_of(dev);
    struct modvm_pio_region_ *r = harness_pio_check(h, hd);
    int rc = harness_injected(h, "pio_map");
    /* As the core does, a failed map comes with its message. */
    if (rc)
        return harness_error(h, rc, "ports 0x%x-0x%x: injected failure %d", base, base + r->count - 1, rc);
    if ((uint32_t)base + r->count > 0x10000)
        return harness_error(h, -EINVAL, "ports 0x%x-0x%x run past 0xffff", base, base + r->count - 1);
    if (r->mapped)
        return -EBUSY;
    for (unsigned i = 0; i < HARNESS_MAX_RANGES; i++) {
        const struct modvm_pio_region_ *o = &h->pio[i];
        if (o->live && o->mapped && harness_overlap(base, r->count, o->base, o->count))
            return harness_error(h, -EBUSY, "ports 0x%x-0x%x are already in use", base, base + r->count - 1);
    }
    r->base = base;
    r->mapped = true;
    return 0;
}

/* modvm_dev_hlp.pio_unmap */
static int hlp_pio_unmap(struct modvm_dev *dev, modvm_pio_handle hd)
{
    struct modvm_pio_region_ *r = harness_pio_check(harness_of(dev), hd);
    if (!r->mapped)
        return -EINVAL;
    r->mapped = false;
    return 0;
}

/* modvm_dev_hlp.pio_destroy */
static void hlp_pio_destroy(struct modvm_dev *dev, modvm_pio_handle hd)
{
    struct modvm_pio_region_ *r = harness_pio_check(harness_of(dev), hd);
    r->live = false;
    r->mapped = false;
}

/* Checks that `r` is a live MMIO region of this harness. */
static struct modvm_mmio_region_ *harness_mmio_check(struct devharness *h, modvm_mmio_handle r)
{
    if (!r || r < h->mmio || r >= h->mmio + HARNESS_MAX_RANGES || !r->live)
        harness_bug("stale or foreign MMIO handle %p", (void *)r);
    return r;
}

/* modvm_dev_hlp.mmio_create */
static int hlp_mmio_create(struct modvm_dev *dev, uint64_t size, const struct modvm_mmio_ops *ops, void *user,
                           const char *desc, modvm_mmio_handle *out)
{
    struct devharness *h = harness_of(dev);
    int rc = harness_injected(h, "mmio_create");
    (void)desc;
    if (rc)
        return rc;
    if (size == 0 || !ops || !MODVM_VERSION_ARE_COMPATIBLE(MODVM_MMIO_OPS_VERSION, ops->version) ||
        (ops->sizes & ~MODVM_IO_SIZE_ANY) || !ops->sizes)
        return -EINVAL;
    for (unsigned i = 0; i < HARNESS_MAX_RANGES; i++) {
        struct modvm_mmio_region_ *r = &h->mmio[i];
        if (r->live)
            continue;
        *r = (struct modvm_mmio_region_){.h = h, .live = true, .size = size, .ops = ops, .user = user};
        *out = r;
        return 0;
    }
    return -ENOSPC;
}

/* modvm_dev_hlp.mmio_map: refuses wrapping, overlaps and the test RAM. */
static int hlp_mmio_map(struct modvm_dev *dev, modvm_mmio_handle hd, uint64_t gpa)
{
    struct devharness *h = harness_of(dev);
    struct modvm_mmio_region_ *r = harness_mmio_check(h, hd);
    int rc = harness_injected(h, "mmio_map");
    if (rc)
        return rc;
    if (gpa + r->size < gpa || harness_overlap(gpa, r->size, 0, h->ram_size))
        return -EINVAL;
    if (r->mapped)
        return -EBUSY;
    for (unsigned i = 0; i < HARNESS_MAX_RANGES; i++) {
        const struct modvm_mmio_region_ *o = &h->mmio[i];
        if (o->live && o->mapped && harness_overlap(gpa, r->size, o->base, o->size))
            return -EBUSY;
    }
    r->base = gpa;
    r->mapped = true;
    return 0;
}

/* modvm_dev_hlp.mmio_unmap */
static int hlp_mmio_unmap(struct modvm_dev *dev, modvm_mmio_handle hd)
{
    struct modvm_mmio_region_ *r = harness_mmio_check(harness_of(dev), hd);
    if (!r->mapped)
        return -EINVAL;
    r->mapped = false;
    return 0;
}

/* modvm_dev_hlp.mmio_destroy */
static void hlp_mmio_destroy(struct modvm_dev *dev, modvm_mmio_handle hd)
{
    struct modvm_mmio_region_ *r = harness_mmio_check(harness_of(dev), hd);
    r->live = false;
    r->mapped = false;
}

/* ---- interrupts --------------------------------------------------------------------------------- */

/* modvm_dev_hlp.irq_set */
static int hlp_irq_set(struct modvm_dev *dev, uint32_t gsi, int level)
{
    struct devharness *h = harness_of(dev);
    if (gsi >= HARNESS_MAX_GSI || level < MODVM_IRQ_LOW || level > MODVM_IRQ_PULSE)
        return -EINVAL;
    if (level != MODVM_IRQ_LOW && !h->irq_level[gsi])
        h->irq_raises[gsi]++;
    h->irq_level[gsi] = level == MODVM_IRQ_HIGH;
    return 0;
}

/* modvm_dev_hlp.msi_send */
static int hlp_msi_send(struct modvm_dev *dev, uint64_t address, uint32_t data)
{
    struct devharness *h = harness_of(dev);
    h->msi_count++;
    h->msi_address = address;
    h->msi_data = data;
    return 0;
}

/* ---- DMA ---------------------------------------------------------------------------------------- */

/* True when [gpa, gpa+len) lies inside the test RAM. */
static bool harness_ram_covers(const struct devharness *h, uint64_t gpa, size_t len)
{
    return gpa <= h->ram_size && len <= h->ram_size - gpa;
}

/* modvm_dev_hlp.phys_read */
static int hlp_phys_read(struct modvm_dev *dev, uint64_t gpa, void *buf, size_t len)
{
    struct devharness *h = harness_of(dev);
    if (!harness_ram_covers(h, gpa, len))
        return -EFAULT;
    memcpy(buf, h->ram + gpa, len);
    return 0;
}

/* modvm_dev_hlp.phys_write */
static int hlp_phys_write(struct modvm_dev *dev, uint64_t gpa, const void *buf, size_t len)
{
    struct devharness *h = harness_of(dev);
    if (!harness_ram_covers(h, gpa, len))
        return -EFAULT;
    memcpy(h->ram + gpa, buf, len);
    return 0;
}

/* ---- timers ------------------------------------------------------------------------------------- */

/* Checks that `t` is a live timer of this harness. */
static struct modvm_timer_ *harness_timer_check(struct devharness *h, modvm_timer_handle t)
{
    if (!t || t < h->timers || t >= h->timers + HARNESS_MAX_TIMERS || !t->live)
        harness_bug("stale or foreign timer handle %p", (void *)t);
    return t;
}

/* modvm_dev_hlp.timer_create */
static int hlp_timer_create(struct modvm_dev *dev, enum modvm_clock clock, modvm_timer_fn fn, void *user,
                            const char *desc, modvm_timer_handle *out)
{
    struct devharness *h = harness_of(dev);
    int rc = harness_injected(h, "timer_create");
    (void)desc;
    if (rc)
        return rc;
    if (!fn || (clock != MODVM_CLOCK_VIRTUAL && clock != MODVM_CLOCK_HOST))
        return -EINVAL;
    for (unsigned i = 0; i < HARNESS_MAX_TIMERS; i++) {
        struct modvm_timer_ *t = &h->timers[i];
        if (t->live)
            continue;
        *t = (struct modvm_timer_){.h = h, .live = true, .fn = fn, .user = user};
        *out = t;
        return 0;
    }
    return -ENOSPC;
}

/* modvm_dev_hlp.timer_arm */
static int hlp_timer_arm(struct modvm_dev *dev, modvm_timer_handle th, uint64_t expire_ns)
{
    struct devharness *h = harness_of(dev);
    struct modvm_timer_ *t = harness_timer_check(h, th);
    t->armed = true;
    t->expire = expire_ns;
    t->seq = ++h->arm_seq;
    return 0;
}

/* modvm_dev_hlp.timer_stop */
static int hlp_timer_stop(struct modvm_dev *dev, modvm_timer_handle th)
{
    harness_timer_check(harness_of(dev), th)->armed = false;
    return 0;
}

/* modvm_dev_hlp.timer_destroy */
static void hlp_timer_destroy(struct modvm_dev *dev, modvm_timer_handle th)
{
    struct modvm_timer_ *t = harness_timer_check(harness_of(dev), th);
    t->live = false;
    t->armed = false;
}

/* modvm_dev_hlp.clock_now: both clocks are the manual clock. */
static uint64_t hlp_clock_now(struct modvm_dev *dev, enum modvm_clock clock)
{
    (void)clock;
    return harness_of(dev)->now;
}

/* ---- fd watches --------------------------------------------------------------------------------- */

/* Checks that `w` is a live fd watch of this harness. */
static struct modvm_fd_watch_ *harness_fd_check(struct devharness *h, modvm_fd_handle w)
{
    if (!w || w < h->fds || w >= h->fds + HARNESS_MAX_FDS || !w->live)
        harness_bug("stale or foreign fd-watch handle %p", (void *)w);
    return w;
}

/* modvm_dev_hlp.fd_watch_add */
static int hlp_fd_watch_add(struct modvm_dev *dev, int fd, uint32_t events, modvm_fd_fn fn, void *user,
                            modvm_fd_handle *out)
{
    struct devharness *h = harness_of(dev);
    int rc = harness_injected(h, "fd_watch_add");
    if (rc)
        return rc;
    if (fd < 0 || !fn)
        return -EINVAL;
    for (unsigned i = 0; i < HARNESS_MAX_FDS; i++) {
        struct modvm_fd_watch_ *w = &h->fds[i];
        if (w->live)
            continue;
        *w = (struct modvm_fd_watch_){.h = h, .live = true, .fd = fd, .events = events, .fn = fn, .user = user};
        *out = w;
        return 0;
    }
    return -ENOSPC;
}

/* modvm_dev_hlp.fd_watch_modify */
static int hlp_fd_watch_modify(struct modvm_dev *dev, modvm_fd_handle wh, uint32_t events)
{
    harness_fd_check(harness_of(dev), wh)->events = events;
    return 0;
}

/* modvm_dev_hlp.fd_watch_remove */
static void hlp_fd_watch_remove(struct modvm_dev *dev, modvm_fd_handle wh)
{
    harness_fd_check(harness_of(dev), wh)->live = false;
}

/* ---- configuration ------------------------------------------------------------------------------ */

/* The string value of `key` for a typed read: the given value or the default. -EINVAL for a key
 * outside the schema or read as the wrong type, -ENOENT when neither value nor default exists. */
static int harness_cfg_lookup(struct devharness *h, const char *key, enum modvm_cfg_type type,
                              const struct modvm_cfg_option **opt, const char **value)
{
    const struct modvm_cfg_option *o = harness_schema_find(h->dev.reg->options, key);
    if (!o || o->type != type) {
        fprintf(stderr, "devharness: device reads option '%s' %s\n", key ? key : "(null)",
                o ? "with the wrong type" : "that is not in its schema");
        return -EINVAL;
    }
    *opt = o;
    *value = o->default_value;
    for (unsigned i = 0; i < h->n_opts; i++)
        if (strcmp(h->opts[i].key, key) == 0)
            *value = h->opts[i].value;
    return *value ? 0 : -ENOENT;
}

/* modvm_dev_hlp.cfg_get_uint */
static int hlp_cfg_get_uint(struct modvm_dev *dev, const char *key, uint64_t *out)
{
    const struct modvm_cfg_option *o;
    const char *v;
    int rc = harness_cfg_lookup(harness_of(dev), key, MODVM_CFG_UINT, &o, &v);
    return rc ? rc : harness_parse_uint(v, out);
}

/* modvm_dev_hlp.cfg_get_int */
static int hlp_cfg_get_int(struct modvm_dev *dev, const char *key, int64_t *out)
{
    const struct modvm_cfg_option *o;
    const char *v;
    int rc = harness_cfg_lookup(harness_of(dev), key, MODVM_CFG_INT, &o, &v);
    return rc ? rc : harness_parse_int(v, out);
}

/* modvm_dev_hlp.cfg_get_bool */
static int hlp_cfg_get_bool(struct modvm_dev *dev, const char *key, bool *out)
{
    const struct modvm_cfg_option *o;
    const char *v;
    int rc = harness_cfg_lookup(harness_of(dev), key, MODVM_CFG_BOOL, &o, &v);
    return rc ? rc : harness_parse_bool(v, out);
}

/* modvm_dev_hlp.cfg_get_string */
static int hlp_cfg_get_string(struct modvm_dev *dev, const char *key, const char **out)
{
    const struct modvm_cfg_option *o;
    const char *v;
    int rc = harness_cfg_lookup(harness_of(dev), key, MODVM_CFG_STRING, &o, &v);
    if (rc == 0)
        *out = v;
    return rc;
}

/* ---- the test char driver ----------------------------------------------------------------------- */

/* Hands queued input to the device while it has room. Not re-entrant: a device calling
 * receive_ready from inside receive gets its bytes on the outer loop. */
static void harness_char_deliver(struct harness_char *c)
{
    if (!c->attached || c->delivering)
        return;
    c->delivering = true;
    while (c->in_len > 0) {
        size_t room = c->port->can_receive(c->ctx);
        if (room == 0)
            break;
        size_t n = room < c->in_len ? room : c->in_len;
        c->port->receive(c->ctx, c->in, n);
        memmove(c->in, c->in + n, c->in_len - n);
        c->in_len -= n;
    }
    c->delivering = false;
}

/* modvm_char_conn.write: captures everything. */
static size_t harness_char_write(struct modvm_drv *drv, const uint8_t *buf, size_t len)
{
    struct harness_char *c = drv->data;
    harness_reserve(&c->out, &c->out_cap, c->out_len + len);
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
    return len;
}

/* modvm_char_conn.receive_ready: the device has room again. */
static void harness_char_receive_ready(struct modvm_drv *drv)
{
    struct harness_char *c = drv->data;
    c->ready_calls++;
    harness_char_deliver(c);
}

static const struct modvm_char_conn harness_char_conn = {
    .version = MODVM_CHAR_CONN_VERSION,
    .write = harness_char_write,
    .receive_ready = harness_char_receive_ready,
};

/* modvm_dev_hlp.driver_attach: LUN 0 may hold the test char driver; nothing else is configured. */
static int hlp_driver_attach(struct modvm_dev *dev, uint32_t lun, const char *iface, const void *up, void *up_ctx,
                             struct modvm_drv **drv_out, const void **down_out)
{
    struct devharness *h = harness_of(dev);
    struct harness_char *c = &h->chr;
    const struct modvm_char_port *port = up;
    int rc = harness_injected(h, "driver_attach");

    /* As the core does: a failure other than "nothing configured" comes with its message set. */
    if (rc)
        return rc == -ENOENT ? rc : harness_error(h, rc, "LUN#%u driver: injected failure %d", lun, rc);
    if (lun != 0 || !c->present)
        return -ENOENT;
    if (!iface || strcmp(iface, MODVM_IFACE_CHAR) != 0)
        return harness_error(h, -EINVAL, "the driver at LUN 0 does not provide interface '%s'",
                             iface ? iface : "(null)");
    if (c->attached)
        return harness_error(h, -EBUSY, "LUN 0 is already attached");
    if (!port || MODVM_VERSION_MAGIC(port->version) != MODVM_VERSION_MAGIC(MODVM_CHAR_PORT_VERSION) ||
        MODVM_VERSION_MAJOR(port->version) != MODVM_VERSION_MAJOR(MODVM_CHAR_PORT_VERSION) || !port->can_receive ||
        !port->receive)
        return harness_error(h, -EINVAL, "the device's char port is malformed");
    c->port = port;
    c->ctx = up_ctx;
    c->attached = true;
    c->drv = (struct modvm_drv){.version = MODVM_DRV_VERSION, .lun = 0, .data = c,
                                .name = "devharness-char", .up = up, .up_ctx = up_ctx, .core = h};
    *drv_out = &c->drv;
    *down_out = &harness_char_conn;
    return 0;
}

/* ---- messages ----------------------------------------------------------------------------------- */

/* modvm_dev_hlp.log: printed only with DEVHARNESS_VERBOSE set. */
static void hlp_log(struct modvm_dev *dev, int level, const char *fmt, va_list ap)
{
    struct devharness *h = harness_of(dev);
    if (!h->verbose)
        return;
    fprintf(stderr, "devharness: %s: log(%d): ", dev->name, level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

/* modvm_dev_hlp.set_error */
static int hlp_set_error(struct modvm_dev *dev, int rc, const char *fmt, va_list ap)
{
    struct devharness *h = harness_of(dev);
    vsnprintf(h->last_error, sizeof(h->last_error), fmt, ap);
    if (h->verbose)
        fprintf(stderr, "devharness: %s: error: %s\n", dev->name, h->last_error);
    return rc;
}

/* modvm_dev_hlp.guest_error */
static void hlp_guest_error(struct modvm_dev *dev, const char *fmt, va_list ap)
{
    struct devharness *h = harness_of(dev);
    h->guest_errors++;
    vsnprintf(h->last_guest_error, sizeof(h->last_guest_error), fmt, ap);
}

/* ---- saved state -------------------------------------------------------------------------------- */

/* modvm_dev_hlp.ssm_put */
static int hlp_ssm_put(struct modvm_dev *dev, struct modvm_ssm *ssm, const void *buf, size_t len)
{
    (void)dev;
    if (!ssm || !ssm->writing)
        harness_bug("ssm_put outside a save callback");
    harness_reserve(&ssm->buf, &ssm->cap, ssm->len + len);
    memcpy(ssm->buf + ssm->len, buf, len);
    ssm->len += len;
    return 0;
}

/* modvm_dev_hlp.ssm_get: short reads fail with -EIO, zero-fill, and poison the stream. */
static int hlp_ssm_get(struct modvm_dev *dev, struct modvm_ssm *ssm, void *buf, size_t len)
{
    (void)dev;
    if (!ssm || ssm->writing)
        harness_bug("ssm_get outside a load callback");
    if (ssm->failed || len > ssm->len - ssm->pos) {
        ssm->failed = true;
        memset(buf, 0, len);
        return -EIO;
    }
    memcpy(buf, ssm->buf + ssm->pos, len);
    ssm->pos += len;
    return 0;
}

/* ---- VM ----------------------------------------------------------------------------------------- */

/* modvm_dev_hlp.vm_request */
static int hlp_vm_request(struct modvm_dev *dev, enum modvm_vm_request req, int status)
{
    struct devharness *h = harness_of(dev);
    if (req < MODVM_VM_REQ_RESET || req > MODVM_VM_REQ_RESUME)
        return -EINVAL;
    h->vm_requests++;
    h->last_request = req;
    h->last_status = status;
    return 0;
}

/* modvm_dev_hlp.vm_query: one CPU and the test RAM, unless devharness_set_vm_facts said otherwise. */
static int hlp_vm_query(struct modvm_dev *dev, enum modvm_vm_fact fact, uint64_t *out)
{
    struct devharness *h = harness_of(dev);
    int rc = harness_injected(h, "vm_query");
    if (rc)
        return rc;
    switch (fact) {
    case MODVM_VM_FACT_CPU_COUNT:
        *out = h->fact_cpus ? h->fact_cpus : 1;
        return 0;
    case MODVM_VM_FACT_RAM_SIZE:
        *out = h->fact_ram ? h->fact_ram : h->ram_size;
        return 0;
    }
    return -EINVAL;
}

/* ---- firmware files (fw.h) and core interfaces ---------------------------------------------------- */

/* True for 1..55 printable, non-space ASCII characters (the core's rule for file names). */
static bool harness_fw_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > MODVM_FW_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] <= ' ' || name[i] > '~')
            return false;
    return true;
}

/* Index of `name` in the sorted list, or where it would go; *found says which. */
static size_t harness_fw_find(const struct devharness *h, const char *name, bool *found)
{
    size_t i = 0;
    while (i < h->n_fw_files && strcmp(h->fw_files[i].name, name) < 0)
        i++;
    *found = i < h->n_fw_files && strcmp(h->fw_files[i].name, name) == 0;
    return i;
}

int devharness_fw_file_add(struct devharness *h, const char *name, const void *data, size_t len)
{
    if (!harness_fw_valid_name(name) || (len && !data))
        return -EINVAL;
    if (len > (16u << 20))
        return -E2BIG;
    void *copy = malloc(len ? len : 1);
    if (!copy)
        harness_bug("out of memory");
    if (len)
        memcpy(copy, data, len);
    bool found;
    size_t at = harness_fw_find(h, name, &found);
    if (found) {
        /* as the core does: data handed out earlier stays valid until the harness closes */
        void **r = realloc(h->fw_retired, (h->n_fw_retired + 1) * sizeof(*r));
        if (!r)
            harness_bug("out of memory");
        h->fw_retired = r;
        h->fw_retired[h->n_fw_retired++] = h->fw_files[at].data;
        h->fw_files[at].data = copy;
        h->fw_files[at].len = len;
        return 0;
    }
    if (h->n_fw_files == h->cap_fw_files) {
        size_t cap = h->cap_fw_files ? 2 * h->cap_fw_files : 16;
        struct harness_fw_file *n = realloc(h->fw_files, cap * sizeof(*n));
        if (!n)
            harness_bug("out of memory");
        h->fw_files = n;
        h->cap_fw_files = cap;
    }
    memmove(&h->fw_files[at + 1], &h->fw_files[at], (h->n_fw_files - at) * sizeof(*h->fw_files));
    memset(&h->fw_files[at], 0, sizeof(h->fw_files[at]));
    strcpy(h->fw_files[at].name, name);
    h->fw_files[at].data = copy;
    h->fw_files[at].len = len;
    h->n_fw_files++;
    return 0;
}

int devharness_fw_file_get(struct devharness *h, const char *name, const void **data, size_t *len)
{
    bool found;
    size_t at = harness_fw_find(h, name ? name : "", &found);
    if (!found)
        return -ENOENT;
    *data = h->fw_files[at].data;
    *len = h->fw_files[at].len;
    return 0;
}

size_t devharness_fw_file_count(struct devharness *h)
{
    return h->n_fw_files;
}

void devharness_set_fw_interface(struct devharness *h, bool present)
{
    h->fw_hidden = !present;
}

/* Frees the firmware files (at close). */
static void harness_fw_free(struct devharness *h)
{
    for (size_t i = 0; i < h->n_fw_files; i++)
        free(h->fw_files[i].data);
    for (size_t i = 0; i < h->n_fw_retired; i++)
        free(h->fw_retired[i]);
    free(h->fw_files);
    free(h->fw_retired);
    h->fw_files = NULL;
    h->fw_retired = NULL;
    h->n_fw_files = h->cap_fw_files = h->n_fw_retired = 0;
}

/* modvm_fw_hlp.file_add */
static int hlp_fw_file_add(struct modvm_dev *dev, const char *name, const void *data, size_t len)
{
    return devharness_fw_file_add(harness_of(dev), name, data, len);
}

/* modvm_fw_hlp.file_get */
static int hlp_fw_file_get(struct modvm_dev *dev, const char *name, const void **data, size_t *len)
{
    return devharness_fw_file_get(harness_of(dev), name, data, len);
}

/* modvm_fw_hlp.file_at */
static int hlp_fw_file_at(struct modvm_dev *dev, size_t index, const char **name, const void **data, size_t *len)
{
    struct devharness *h = harness_of(dev);
    if (index >= h->n_fw_files)
        return -ENOENT;
    *name = h->fw_files[index].name;
    *data = h->fw_files[index].data;
    *len = h->fw_files[index].len;
    return 0;
}

static const struct modvm_fw_hlp harness_fw_hlp = {
    .version = MODVM_FW_HLP_VERSION,
    .file_add = hlp_fw_file_add,
    .file_get = hlp_fw_file_get,
    .file_at = hlp_fw_file_at,
};

/* modvm_dev_hlp.core_interface: "modvm.fw.1" (unless hidden), as the core's lookup does it. */
static const void *hlp_core_interface(struct modvm_dev *dev, const char *name, uint32_t min_version)
{
    struct devharness *h = harness_of(dev);
    if (name && strcmp(name, MODVM_IFACE_FW) == 0 && !h->fw_hidden &&
        MODVM_VERSION_ARE_COMPATIBLE(harness_fw_hlp.version, min_version))
        return &harness_fw_hlp;
    return NULL;
}

static const struct modvm_dev_hlp harness_hlp = {
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

/* ---- loading ------------------------------------------------------------------------------------ */

/* Checks the exported descriptor as the core's loader does. */
static int harness_check_desc(const char *path, const struct modvm_plugin_desc *d)
{
    if (!MODVM_VERSION_ARE_COMPATIBLE(MODVM_PLUGIN_DESC_VERSION, d->version) || d->version_end != d->version) {
        fprintf(stderr, "devharness: %s: plugin built for ABI %u.%u (word 0x%08x), harness speaks %u.%u\n", path,
                MODVM_VERSION_MAJOR(d->version), MODVM_VERSION_MINOR(d->version), d->version, MODVM_ABI_MAJOR,
                MODVM_ABI_MINOR);
        return -EINVAL;
    }
    if (!d->name || !d->register_types) {
        fprintf(stderr, "devharness: %s: descriptor lacks a name or register_types\n", path);
        return -EINVAL;
    }
    return 0;
}

struct devharness *devharness_open(const char *path)
{
    struct devharness *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->verbose = getenv("DEVHARNESS_VERBOSE") != NULL;
    h->now = HARNESS_CLOCK_START;
    h->ram_size = HARNESS_DEFAULT_RAM;
    h->chr.present = true;
    h->dl = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!h->dl) {
        fprintf(stderr, "devharness: cannot load %s: %s\n", path ? path : "(null)", path ? dlerror() : "no path");
        free(h);
        return NULL;
    }
    h->desc = dlsym(h->dl, MODVM_PLUGIN_SYMBOL_NAME);
    if (!h->desc || harness_check_desc(path, h->desc) != 0) {
        if (!h->desc)
            fprintf(stderr, "devharness: %s exports no %s\n", path, MODVM_PLUGIN_SYMBOL_NAME);
        devharness_close(h);
        return NULL;
    }
    h->registrar = (struct modvm_registrar){.version = MODVM_REGISTRAR_VERSION, .core = h,
                                            .register_device = harness_register_device,
                                            .register_driver = harness_register_driver,
                                            .register_ui = harness_register_ui};
    int rc = h->desc->register_types(&h->registrar);
    if (rc != 0) {
        fprintf(stderr, "devharness: %s: register_types failed (%d): %s\n", path, rc, h->last_error);
        devharness_close(h);
        return NULL;
    }
    return h;
}

/* Frees the option copies. */
static void harness_free_opts(struct devharness *h)
{
    for (unsigned i = 0; i < h->n_opts; i++) {
        free(h->opts[i].key);
        free(h->opts[i].value);
    }
    h->n_opts = 0;
}

void devharness_close(struct devharness *h)
{
    if (!h)
        return;
    if (h->constructed)
        (void)devharness_destruct(h);
    harness_free_opts(h);
    free(h->chr.out);
    free(h->chr.in);
    free(h->ram);
    harness_fw_free(h);
    if (h->dl)
        dlclose(h->dl);
    free(h);
}

const struct modvm_plugin_desc *devharness_plugin(struct devharness *h)
{
    return h->desc;
}

const struct modvm_devreg *devharness_devreg(struct devharness *h, const char *type)
{
    for (unsigned i = 0; i < h->n_devregs; i++)
        if (strcmp(h->devregs[i]->name, type) == 0)
            return h->devregs[i];
    return NULL;
}

unsigned devharness_device_types(struct devharness *h)
{
    return h->n_devregs;
}

unsigned devharness_driver_types(struct devharness *h)
{
    return h->n_drvregs;
}

unsigned devharness_ui_types(struct devharness *h)
{
    return h->n_uiregs;
}

void devharness_set_char_driver(struct devharness *h, bool present)
{
    h->chr.present = present;
}

void devharness_set_ram_size(struct devharness *h, size_t size)
{
    h->ram_size = size;
}

void devharness_set_vm_facts(struct devharness *h, uint64_t cpu_count, uint64_t ram_size)
{
    h->fact_cpus = cpu_count;
    h->fact_ram = ram_size;
}

/* ---- construct / destruct ----------------------------------------------------------------------- */

/* Splits, checks and stores one "key=value" against the schema, as the core does before construct. */
static int harness_add_option(struct devharness *h, const struct modvm_devreg *reg, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv)
        return harness_error(h, -EINVAL, "option '%s' is not key=value", kv);
    if (h->n_opts == HARNESS_MAX_OPTIONS)
        return harness_error(h, -E2BIG, "too many options");
    char *key = strndup(kv, (size_t)(eq - kv));
    char *value = strdup(eq + 1);
    if (!key || !value)
        harness_bug("out of memory");
    h->opts[h->n_opts++] = (struct harness_opt){.key = key, .value = value};
    const struct modvm_cfg_option *o = harness_schema_find(reg->options, key);
    if (!o)
        return harness_error(h, -EINVAL, "device '%s' has no option '%s'", reg->name, key);
    for (unsigned i = 0; i + 1 < h->n_opts; i++)
        if (strcmp(h->opts[i].key, key) == 0)
            return harness_error(h, -EINVAL, "option '%s' given twice", key);
    return harness_check_value(h, o, value);
}

/* Sets up the instance handle and instance data. */
static int harness_make_instance(struct devharness *h, const struct modvm_devreg *reg, uint32_t instance)
{
    void *data = calloc(1, reg->instance_size ? reg->instance_size : 1);
    if (!data)
        return harness_error(h, -ENOMEM, "cannot allocate %zu bytes of instance data", reg->instance_size);
    free(h->ram);
    h->ram = calloc(1, h->ram_size ? h->ram_size : 1);
    if (!h->ram)
        harness_bug("out of memory for %zu bytes of test RAM", h->ram_size);
    snprintf(h->dev_name, sizeof(h->dev_name), "%s#%" PRIu32, reg->name, instance);
    h->dev = (struct modvm_dev){.version = MODVM_DEV_VERSION, .instance = instance, .data = data,
                                .hlp = &harness_hlp, .reg = reg, .name = h->dev_name, .core = h};
    return 0;
}

int devharness_construct(struct devharness *h, const char *type, uint32_t instance, const char *const *options)
{
    const struct modvm_devreg *reg = devharness_devreg(h, type);
    int rc;

    if (h->constructed)
        harness_bug("devharness_construct called twice on one harness");
    h->last_error[0] = '\0';
    if (!reg)
        return harness_error(h, -ENOENT, "no device type '%s'", type);
    if (reg->max_instances && instance >= reg->max_instances)
        return harness_error(h, -EINVAL, "device '%s' allows at most %u instances", type, reg->max_instances);
    harness_free_opts(h);
    for (const char *const *o = options; o && *o; o++)
        if ((rc = harness_add_option(h, reg, *o)) != 0)
            return rc;
    if ((rc = harness_make_instance(h, reg, instance)) != 0)
        return rc;
    h->constructed = true;
    rc = reg->construct(&h->dev);
    if (rc != 0) {
        if (rc > 0)
            fprintf(stderr, "devharness: %s: construct returned positive %d\n", h->dev_name, rc);
        if (!h->last_error[0])
            harness_error(h, rc, "(construct failed with %d but set no error message)", rc);
        char saved[HARNESS_MSG_LEN];
        memcpy(saved, h->last_error, sizeof(saved));
        (void)devharness_destruct(h);
        memcpy(h->last_error, saved, sizeof(saved));
    }
    return rc;
}

struct modvm_dev *devharness_dev(struct devharness *h)
{
    return h->constructed ? &h->dev : NULL;
}

/* Frees whatever the device left behind; returns how many things that were. */
static unsigned harness_reap(struct devharness *h)
{
    unsigned leaks = 0;
    for (unsigned i = 0; i < HARNESS_MAX_RANGES; i++) {
        leaks += h->pio[i].live + h->mmio[i].live;
        h->pio[i].live = h->mmio[i].live = false;
        h->pio[i].mapped = h->mmio[i].mapped = false;
    }
    for (unsigned i = 0; i < HARNESS_MAX_TIMERS; i++) {
        leaks += h->timers[i].live;
        h->timers[i].live = h->timers[i].armed = false;
    }
    for (unsigned i = 0; i < HARNESS_MAX_FDS; i++) {
        leaks += h->fds[i].live;
        h->fds[i].live = false;
    }
    return leaks;
}

unsigned devharness_destruct(struct devharness *h)
{
    if (!h->constructed)
        return 0;
    if (h->dev.reg->destruct)
        h->dev.reg->destruct(&h->dev);
    unsigned leaks = harness_reap(h);
    h->leaks = leaks;
    h->chr.attached = false;
    h->chr.port = NULL;
    free(h->dev.data);
    h->dev.data = NULL;
    h->constructed = false;
    return leaks;
}

unsigned devharness_leaks(struct devharness *h)
{
    return h->leaks;
}

void devharness_fail_next(struct devharness *h, const char *name, int rc)
{
    snprintf(h->fail_name, sizeof(h->fail_name), "%s", name);
    h->fail_rc = rc;
}

/* Runs one of the notify callbacks if the device is up and has it. */
static void harness_notify(struct devharness *h, modvm_dev_notify_fn fn)
{
    if (h->constructed && fn)
        fn(&h->dev);
}

void devharness_reset(struct devharness *h)
{
    harness_notify(h, h->constructed ? h->dev.reg->reset : NULL);
}

void devharness_suspend(struct devharness *h)
{
    harness_notify(h, h->constructed ? h->dev.reg->suspend : NULL);
}

void devharness_resume(struct devharness *h)
{
    harness_notify(h, h->constructed ? h->dev.reg->resume : NULL);
}

void devharness_power_off(struct devharness *h)
{
    harness_notify(h, h->constructed ? h->dev.reg->power_off : NULL);
}

/* ---- saved state -------------------------------------------------------------------------------- */

int devharness_save(struct devharness *h, uint8_t **buf, size_t *len)
{
    struct modvm_ssm ssm = {.writing = true};
    if (!h->constructed || !h->dev.reg->save)
        return -ENOTSUP;
    int rc = h->dev.reg->save(&h->dev, &ssm);
    if (rc != 0) {
        free(ssm.buf);
        return rc;
    }
    *buf = ssm.buf ? ssm.buf : malloc(1);
    *len = ssm.len;
    return 0;
}

int devharness_load(struct devharness *h, const uint8_t *buf, size_t len, uint32_t version)
{
    if (!h->constructed || !h->dev.reg->load)
        return -ENOTSUP;
    struct modvm_ssm ssm = {.buf = malloc(len ? len : 1), .len = len, .cap = len};
    if (!ssm.buf)
        harness_bug("out of memory");
    if (len)
        memcpy(ssm.buf, buf, len);
    h->last_error[0] = '\0';
    int rc = h->dev.reg->load(&h->dev, &ssm, version);
    if (rc == 0 && ssm.pos != ssm.len)
        rc = harness_error(h, -EINVAL, "saved state unit has %zu unread bytes", ssm.len - ssm.pos);
    free(ssm.buf);
    return rc;
}

/* ---- guest accesses ----------------------------------------------------------------------------- */

/* The mapped port range containing `port`, or NULL. */
static struct modvm_pio_region_ *harness_pio_find(struct devharness *h, uint32_t port)
{
    for (unsigned i = 0; i < HARNESS_MAX_RANGES; i++) {
        struct modvm_pio_region_ *r = &h->pio[i];
        if (r->live && r->mapped && port >= r->base && port - r->base < r->count)
            return r;
    }
    return NULL;
}

/* Checks a test's access width. */
static void harness_check_width(unsigned size, unsigned max)
{
    if (size != 1 && size != 2 && size != 4 && !(max == 8 && size == 8))
        harness_bug("test made a %u-byte access", size);
}

/* One byte of a split port read. */
static uint8_t harness_pio_in_byte(struct devharness *h, uint32_t port)
{
    struct modvm_pio_region_ *r = harness_pio_find(h, port);
    if (!r)
        return 0xff;
    if (!(r->ops->sizes & MODVM_IO_SIZE_1)) {
        h->guest_errors++;
        return 0xff;
    }
    return r->ops->in ? (uint8_t)r->ops->in(&h->dev, r->user, (uint16_t)(port - r->base), 1) : 0xff;
}

/* One byte of a split port write. */
static void harness_pio_out_byte(struct devharness *h, uint32_t port, uint8_t value)
{
    struct modvm_pio_region_ *r = harness_pio_find(h, port);
    if (!r)
        return;
    if (!(r->ops->sizes & MODVM_IO_SIZE_1)) {
        h->guest_errors++;
        return;
    }
    if (r->ops->out)
        r->ops->out(&h->dev, r->user, (uint16_t)(port - r->base), value, 1);
}

/* How a port access is carried out: whole, split into bytes, or refused. */
enum harness_route { ROUTE_WHOLE, ROUTE_BYTES, ROUTE_REFUSE };

/* pdm.h: an allowed width inside one range goes whole; otherwise bytes if the range allows them,
 * else refused (all ones / dropped, a guest error). Accesses starting outside any range go bytewise
 * so a range's first ports still see their bytes. */
static enum harness_route harness_route(const struct modvm_pio_region_ *r, uint32_t port, unsigned size)
{
    if (!r)
        return ROUTE_BYTES;
    if ((r->ops->sizes & size) && port - r->base + size <= r->count)
        return ROUTE_WHOLE;
    return (r->ops->sizes & MODVM_IO_SIZE_1) ? ROUTE_BYTES : ROUTE_REFUSE;
}

uint32_t devharness_pio_in(struct devharness *h, uint16_t port, unsigned size)
{
    harness_check_width(size, 4);
    struct modvm_pio_region_ *r = harness_pio_find(h, port);
    switch (harness_route(r, port, size)) {
    case ROUTE_WHOLE:
        return r->ops->in ? (uint32_t)(r->ops->in(&h->dev, r->user, (uint16_t)(port - r->base), size) &
                                       harness_mask(size))
                          : (uint32_t)harness_mask(size);
    case ROUTE_REFUSE:
        h->guest_errors++;
        return (uint32_t)harness_mask(size);
    case ROUTE_BYTES:
        break;
    }
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)harness_pio_in_byte(h, (uint32_t)port + i) << (8 * i);
    return v;
}

void devharness_pio_out(struct devharness *h, uint16_t port, uint32_t value, unsigned size)
{
    harness_check_width(size, 4);
    struct modvm_pio_region_ *r = harness_pio_find(h, port);
    value &= (uint32_t)harness_mask(size);
    switch (harness_route(r, port, size)) {
    case ROUTE_WHOLE:
        if (r->ops->out)
            r->ops->out(&h->dev, r->user, (uint16_t)(port - r->base), value, size);
        return;
    case ROUTE_REFUSE:
        h->guest_errors++;
        return;
    case ROUTE_BYTES:
        break;
    }
    for (unsigned i = 0; i < size; i++)
        harness_pio_out_byte(h, (uint32_t)port + i, (uint8_t)(value >> (8 * i)));
}

uint32_t devharness_pio_in_whole(struct devharness *h, uint16_t port, unsigned size)
{
    harness_check_width(size, 4);
    struct modvm_pio_region_ *r = harness_pio_find(h, port);
    if (!r || !r->ops->in)
        return (uint32_t)harness_mask(size);
    return (uint32_t)(r->ops->in(&h->dev, r->user, (uint16_t)(port - r->base), size) & harness_mask(size));
}

void devharness_pio_out_whole(struct devharness *h, uint16_t port, uint32_t value, unsigned size)
{
    harness_check_width(size, 4);
    struct modvm_pio_region_ *r = harness_pio_find(h, port);
    if (r && r->ops->out)
        r->ops->out(&h->dev, r->user, (uint16_t)(port - r->base), value & (uint32_t)harness_mask(size), size);
}

bool devharness_pio_mapped(struct devharness *h, uint16_t port)
{
    return harness_pio_find(h, port) != NULL;
}

/* The mapped MMIO region containing `gpa`, or NULL. */
static struct modvm_mmio_region_ *harness_mmio_find(struct devharness *h, uint64_t gpa)
{
    for (unsigned i = 0; i < HARNESS_MAX_RANGES; i++) {
        struct modvm_mmio_region_ *r = &h->mmio[i];
        if (r->live && r->mapped && gpa >= r->base && gpa - r->base < r->size)
            return r;
    }
    return NULL;
}

/* As harness_route, for MMIO. */
static enum harness_route harness_mmio_route(const struct modvm_mmio_region_ *r, uint64_t gpa, unsigned size)
{
    if (!r)
        return ROUTE_BYTES;
    if ((r->ops->sizes & size) && size <= r->size - (gpa - r->base))
        return ROUTE_WHOLE;
    return (r->ops->sizes & MODVM_IO_SIZE_1) ? ROUTE_BYTES : ROUTE_REFUSE;
}

/* One byte of a split MMIO read. */
static uint8_t harness_mmio_read_byte(struct devharness *h, uint64_t gpa)
{
    struct modvm_mmio_region_ *r = harness_mmio_find(h, gpa);
    if (!r)
        return 0xff;
    if (!(r->ops->sizes & MODVM_IO_SIZE_1)) {
        h->guest_errors++;
        return 0xff;
    }
    return r->ops->read ? (uint8_t)r->ops->read(&h->dev, r->user, gpa - r->base, 1) : 0xff;
}

/* One byte of a split MMIO write. */
static void harness_mmio_write_byte(struct devharness *h, uint64_t gpa, uint8_t value)
{
    struct modvm_mmio_region_ *r = harness_mmio_find(h, gpa);
    if (!r)
        return;
    if (!(r->ops->sizes & MODVM_IO_SIZE_1)) {
        h->guest_errors++;
        return;
    }
    if (r->ops->write)
        r->ops->write(&h->dev, r->user, gpa - r->base, value, 1);
}

uint64_t devharness_mmio_read(struct devharness *h, uint64_t gpa, unsigned size)
{
    harness_check_width(size, 8);
    struct modvm_mmio_region_ *r = harness_mmio_find(h, gpa);
    switch (harness_mmio_route(r, gpa, size)) {
    case ROUTE_WHOLE:
        return r->ops->read ? r->ops->read(&h->dev, r->user, gpa - r->base, size) & harness_mask(size)
                            : harness_mask(size);
    case ROUTE_REFUSE:
        h->guest_errors++;
        return harness_mask(size);
    case ROUTE_BYTES:
        break;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)harness_mmio_read_byte(h, gpa + i) << (8 * i);
    return v;
}

void devharness_mmio_write(struct devharness *h, uint64_t gpa, uint64_t value, unsigned size)
{
    harness_check_width(size, 8);
    struct modvm_mmio_region_ *r = harness_mmio_find(h, gpa);
    value &= harness_mask(size);
    switch (harness_mmio_route(r, gpa, size)) {
    case ROUTE_WHOLE:
        if (r->ops->write)
            r->ops->write(&h->dev, r->user, gpa - r->base, value, size);
        return;
    case ROUTE_REFUSE:
        h->guest_errors++;
        return;
    case ROUTE_BYTES:
        break;
    }
    for (unsigned i = 0; i < size; i++)
        harness_mmio_write_byte(h, gpa + i, (uint8_t)(value >> (8 * i)));
}

bool devharness_mmio_mapped(struct devharness *h, uint64_t gpa)
{
    return harness_mmio_find(h, gpa) != NULL;
}

/* ---- interrupts, time, memory ------------------------------------------------------------------- */

int devharness_irq_level(struct devharness *h, uint32_t gsi)
{
    return gsi < HARNESS_MAX_GSI ? h->irq_level[gsi] : 0;
}

unsigned devharness_irq_raises(struct devharness *h, uint32_t gsi)
{
    return gsi < HARNESS_MAX_GSI ? h->irq_raises[gsi] : 0;
}

unsigned devharness_msi_count(struct devharness *h, uint64_t *address, uint32_t *data)
{
    if (address)
        *address = h->msi_address;
    if (data)
        *data = h->msi_data;
    return h->msi_count;
}

uint64_t devharness_now_ns(struct devharness *h)
{
    return h->now;
}

/* The armed timer due first at or before `limit` (ties: armed first), or NULL. */
static struct modvm_timer_ *harness_next_due(struct devharness *h, uint64_t limit)
{
    struct modvm_timer_ *best = NULL;
    for (unsigned i = 0; i < HARNESS_MAX_TIMERS; i++) {
        struct modvm_timer_ *t = &h->timers[i];
        if (!t->live || !t->armed || t->expire > limit)
            continue;
        if (!best || t->expire < best->expire || (t->expire == best->expire && t->seq < best->seq))
            best = t;
    }
    return best;
}

void devharness_advance_ns(struct devharness *h, uint64_t ns)
{
    uint64_t target = h->now + ns;
    for (unsigned fired = 0;; fired++) {
        struct modvm_timer_ *t = harness_next_due(h, target);
        if (!t || !h->constructed)
            break;
        if (fired == HARNESS_FIRE_BUDGET)
            harness_bug("timer storm: %u callbacks within one advance of %" PRIu64 " ns", fired, ns);
        if (t->expire > h->now)
            h->now = t->expire;
        t->armed = false;
        t->fn(&h->dev, t->user);
    }
    h->now = target;
}

unsigned devharness_timers_armed(struct devharness *h)
{
    unsigned n = 0;
    for (unsigned i = 0; i < HARNESS_MAX_TIMERS; i++)
        n += h->timers[i].live && h->timers[i].armed;
    return n;
}

uint8_t *devharness_ram(struct devharness *h, size_t *size)
{
    if (size)
        *size = h->ram ? h->ram_size : 0;
    return h->ram;
}

/* ---- the test char driver ----------------------------------------------------------------------- */

const uint8_t *devharness_char_output(struct devharness *h, size_t *len)
{
    *len = h->chr.out_len;
    return h->chr.out;
}

void devharness_char_clear_output(struct devharness *h)
{
    h->chr.out_len = 0;
}

void devharness_char_input(struct devharness *h, const uint8_t *bytes, size_t len)
{
    struct harness_char *c = &h->chr;
    harness_reserve(&c->in, &c->in_cap, c->in_len + len);
    memcpy(c->in + c->in_len, bytes, len);
    c->in_len += len;
    harness_char_deliver(c);
}

void devharness_char_input_raw(struct devharness *h, const uint8_t *bytes, size_t len)
{
    if (h->chr.attached)
        h->chr.port->receive(h->chr.ctx, bytes, len);
}

size_t devharness_char_pending(struct devharness *h)
{
    return h->chr.in_len;
}

unsigned devharness_char_ready_calls(struct devharness *h)
{
    return h->chr.ready_calls;
}

bool devharness_char_attached(struct devharness *h)
{
    return h->chr.attached;
}

/* ---- fd watches, messages ----------------------------------------------------------------------- */

unsigned devharness_fd_fire(struct devharness *h, int fd, uint32_t events)
{
    unsigned ran = 0;
    for (unsigned i = 0; i < HARNESS_MAX_FDS; i++) {
        struct modvm_fd_watch_ *w = &h->fds[i];
        uint32_t ev = events & (w->events | MODVM_FD_HANGUP);
        if (!w->live || w->fd != fd || !ev)
            continue;
        w->fn(w->user, fd, ev);
        ran++;
    }
    return ran;
}

const char *devharness_last_error(struct devharness *h)
{
    return h->last_error;
}

void devharness_clear_error(struct devharness *h)
{
    h->last_error[0] = '\0';
}

unsigned devharness_guest_errors(struct devharness *h)
{
    return h->guest_errors;
}

const char *devharness_last_guest_error(struct devharness *h)
{
    return h->last_guest_error;
}

unsigned devharness_vm_requests(struct devharness *h, enum modvm_vm_request *last, int *status)
{
    if (last)
        *last = h->last_request;
    if (status)
        *status = h->last_status;
    return h->vm_requests;
}
