/* plugins/system/debug-exit/debug-exit.c — "debug-exit": a port that ends the VM with a status the
 * guest chooses. Compatible with QEMU's isa-debug-exit (hw/misc/debugexit.c), which test kernels
 * and OS-development tutorials use to report pass/fail to the host:
 *
 *   - a guest write of value V (1, 2 or 4 bytes, at any offset of the range) powers the VM off and
 *     makes the process exit with status (V << 1) | 1 — so a guest can never fake a clean exit 0;
 *   - a read returns 0 (QEMU's behaviour; it is also the only way a guest can probe for the device);
 *   - options `iobase` and `iosize` as QEMU's. Our default iobase is 0xf4, the convention of most
 *     OS-development material (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`); QEMU's own
 *     default is 0x501 (iosize 2) — pass iobase=0x501,iosize=2 to match a guest written for that.
 *
 * The process exit status is truncated to 8 bits by the OS, exactly as with QEMU: V = 0x10 exits
 * with 33, but V >= 128 wraps (V = 128 exits with 1). Only the low 31 bits of (V << 1) | 1 are
 * handed to the core (the status is an int); the low 8 bits — all the OS keeps — are unchanged.
 *
 * The first write wins: the power-off request is asynchronous, so the vCPU may run on and write
 * again (or another vCPU may) before the VM stops; later writes do not change the status. Reset
 * clears the latch. The device has no state worth saving. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

#include <modvm/pdm.h>
#include <modvm/plugin.h>

#define DBGEXIT_DEFAULT_IOBASE "0xf4"
#define DBGEXIT_DEFAULT_IOSIZE "4"
#define DBGEXIT_PORT_LIMIT 0x10000u /* one past the last x86 I/O port */

/* Instance data (zeroed by the core). */
struct dbgexit_state {
    modvm_pio_handle pio; /* the port range; NULL until mapped */
    bool requested;       /* a power-off has been requested since the last reset */
};

/* Option schema: names and semantics as QEMU's isa-debug-exit properties. */
static const struct modvm_cfg_option dbgexit_options[] = {
    {.name = "iobase", .type = MODVM_CFG_UINT, .default_value = DBGEXIT_DEFAULT_IOBASE,
     .min = 0, .max = 0xffff,
     .help = "first I/O port of the range (QEMU's isa-debug-exit defaults to 0x501)"},
    {.name = "iosize", .type = MODVM_CFG_UINT, .default_value = DBGEXIT_DEFAULT_IOSIZE,
     .min = 1, .max = 4, .help = "number of ports; a write to any of them exits"},
    {.name = NULL},
};

/* Computes the status of a guest write of `value`: (V << 1) | 1, kept within a non-negative int.
 * The mask only drops bit 31 and above, never the low 8 bits the OS keeps. */
static int dbgexit_status(uint32_t value)
{
    uint64_t status = ((uint64_t)value << 1) | 1u;
    return (int)(status & 0x7fffffffu);
}

/* Port read handler (modvm_pio_ops.in): always 0, as QEMU. */
static uint32_t dbgexit_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    (void)dev;
    (void)user;
    (void)offset;
    (void)size;
    return 0;
}

/* Port write handler (modvm_pio_ops.out): requests power-off with the guest's status. Only the low
 * `size` bytes of `value` are the guest's; the offset inside the range does not matter. */
static void dbgexit_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct dbgexit_state *st = user;
    (void)offset;

    if (size < 4)
        value &= (1u << (8 * size)) - 1u;
    if (st->requested)
        return;
    int status = dbgexit_status(value);
    modvm_dev_log(dev, MODVM_LOG_INFO, "guest wrote 0x%x: powering off with exit status %d", value,
                  status & 0xff);
    if (modvm_dev_vm_request(dev, MODVM_VM_REQ_POWER_OFF, status) == 0)
        st->requested = true;
}

static const struct modvm_pio_ops dbgexit_pio_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1 | MODVM_IO_SIZE_2 | MODVM_IO_SIZE_4,
    .in = dbgexit_in,
    .out = dbgexit_out,
};

/* Reads `iobase` and `iosize` and checks that the range stays inside the 64 KiB port space. */
static int dbgexit_read_config(struct modvm_dev *dev, uint16_t *base, uint32_t *count)
{
    uint64_t iobase, iosize;
    int rc = modvm_dev_cfg_uint(dev, "iobase", &iobase);
    if (rc == 0)
        rc = modvm_dev_cfg_uint(dev, "iosize", &iosize);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot read options 'iobase'/'iosize'");
    if (iobase > 0xffff || iosize < 1 || iosize > 4)
        return modvm_dev_set_error(dev, -EINVAL, "option 'iobase' must be below 0x10000 and 'iosize' 1..4");
    if (iobase + iosize > DBGEXIT_PORT_LIMIT)
        return modvm_dev_set_error(dev, -EINVAL,
                                   "ports 0x%" PRIx64 "..0x%" PRIx64 " (iobase 0x%" PRIx64 ", iosize %" PRIu64
                                   ") run past the last I/O port 0xffff; lower 'iobase' or 'iosize'",
                                   iobase, iobase + iosize - 1, iobase, iosize);
    *base = (uint16_t)iobase;
    *count = (uint32_t)iosize;
    return 0;
}

/* Device construct callback (modvm_devreg.construct): maps the port range. */
static int dbgexit_construct(struct modvm_dev *dev)
{
    struct dbgexit_state *st = dev->data;
    uint16_t base = 0;
    uint32_t count = 0;

    int rc = dbgexit_read_config(dev, &base, &count);
    if (rc != 0)
        return rc;
    rc = modvm_pio_register(dev, base, count, &dbgexit_pio_ops, st, "debug-exit", &st->pio);
    return rc; /* on failure the core's message names the device that holds the ports */
}

/* Device destruct callback (modvm_devreg.destruct): frees the port range, if construct got that far. */
static void dbgexit_destruct(struct modvm_dev *dev)
{
    struct dbgexit_state *st = dev->data;
    modvm_pio_destroy(dev, st->pio);
    st->pio = NULL;
}

/* Device reset callback (modvm_devreg.reset): a reset VM may exit again. */
static void dbgexit_reset(struct modvm_dev *dev)
{
    struct dbgexit_state *st = dev->data;
    st->requested = false;
}

static const struct modvm_devreg dbgexit_reg = {
    .version = MODVM_DEVREG_VERSION,
    .name = "debug-exit",
    .description = "ends the VM with a guest-chosen exit status (QEMU isa-debug-exit compatible)",
    .family = MODVM_DEV_FAMILY_SYSTEM,
    .max_instances = 0,
    .instance_size = sizeof(struct dbgexit_state),
    .options = dbgexit_options,
    .construct = dbgexit_construct,
    .destruct = dbgexit_destruct,
    .reset = dbgexit_reset,
    .version_end = MODVM_DEVREG_VERSION,
};

/* Plugin entry (modvm_plugin_desc.register_types): checks the registrar's magic and major (the core
 * has already checked minors against our descriptor), then registers the device type. */
static int dbgexit_register(const struct modvm_registrar *reg)
{
    if (MODVM_VERSION_MAGIC(reg->version) != MODVM_VERSION_MAGIC(MODVM_REGISTRAR_VERSION) ||
        MODVM_VERSION_MAJOR(reg->version) != MODVM_VERSION_MAJOR(MODVM_REGISTRAR_VERSION))
        return -EINVAL;
    return reg->register_device(reg, &dbgexit_reg);
}

MODVM_PLUGIN(.name = "debug-exit", .plugin_version = "1.0.0", .license = "MIT",
             .description = "debug-exit device: guest-chosen process exit status (QEMU isa-debug-exit)",
             .register_types = dbgexit_register);
