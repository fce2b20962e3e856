/* example-counter.c — "example-counter": the modvm SDK's example device plugin. Copy this folder
 * (it builds on its own against the installed SDK) and rename things to start your own device.
 *
 * What the device does (the contract tests/guest/example-device.asm checks from inside a guest):
 * eight I/O ports at `iobase` (default 0x700), used with 32-bit accesses only —
 *   offset 0, write X:  stores X
 *   offset 0, read:     returns the stored value + 1 (mod 2^32)
 *   offset 4, read:     returns the magic 0x4d564d31 ('MVM1'), so a guest can probe for the device
 * Everything else (other offsets, writes to offset 4) is guest misuse: reported, never fatal.
 *
 * The anatomy of a plugin, top to bottom of this file:
 *   1. Includes: only <modvm/...> SDK headers. The plugin never links to libmodvm; every service
 *      comes through the helper table in dev->hlp, wrapped by the static inline modvm_* functions
 *      of pdm.h. That is why the .so has no undefined modvm symbols and loads with RTLD_LOCAL.
 *   2. Instance data: a struct the core allocates (zeroed) per device instance, dev->data. Keep all
 *      state here, never in globals: a VM may have several instances.
 *   3. The option schema: every key the device accepts, with type, default, range and help. The core
 *      validates the user's `--device example-counter,iobase=0x...` against it before construct and
 *      rejects unknown keys ("did you mean ..."); `modvm list plugins -v` prints it.
 *   4. I/O handlers: called on a vCPU thread with the device lock held, with an offset relative to
 *      the range's base. Every value comes from the guest, which may be hostile: bound it.
 *   5. Lifecycle callbacks: construct (read options, claim ports; report failures with
 *      modvm_dev_set_error), destruct (always called, even after a construct that failed
 *      part-way, so it must cope with partial state), reset.
 *   6. Saved state: save writes the fields in order; load reads them back and treats them as
 *      untrusted input — it checks the unit version it is handed.
 *   7. Registration: a static struct modvm_devreg written with designated initializers, registered
 *      from the plugin's register function through the registrar the core hands it.
 *   8. The descriptor: MODVM_PLUGIN(...) defines the one symbol the .so exports,
 *      modvm_plugin_descriptor. The core checks its ABI version before running any plugin code.
 *
 * License: MIT (as the SDK), so you may ship a copy of this under any license. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>

#include <modvm/pdm.h>
#include <modvm/plugin.h>

/* ---- 1. constants --------------------------------------------------------------------------------- */

#define COUNTER_NPORTS 8u               /* ports iobase .. iobase + 7 */
#define COUNTER_PORT_LIMIT 0x10000u     /* one past the last x86 I/O port */
#define COUNTER_REG_DATA 0u             /* write: store X; read: stored + 1 */
#define COUNTER_REG_MAGIC 4u            /* read: COUNTER_MAGIC */
#define COUNTER_MAGIC 0x4d564d31u       /* 'MVM1' */

/* Saved-state unit versions. Bump COUNTER_SAVED_STATE_VERSION when the layout changes, keep
 * loading the old versions you can still make sense of, and name each one. */
#define COUNTER_SAVED_STATE_V1 1u       /* one u32: the stored value */
#define COUNTER_SAVED_STATE_VERSION COUNTER_SAVED_STATE_V1

/* ---- 2. instance data (dev->data, allocated zeroed by the core) ------------------------------------ */

struct counter_state {
    modvm_pio_handle pio; /* our port range; NULL until construct claimed it */
    uint32_t stored;      /* the last value the guest wrote to offset 0 */
};

/* ---- 3. the option schema (ended by an entry with a NULL name) ------------------------------------- */

static const struct modvm_cfg_option counter_options[] = {
    {.name = "iobase", .type = MODVM_CFG_UINT, .default_value = "0x700",
     .min = 0, .max = COUNTER_PORT_LIMIT - COUNTER_NPORTS,
     .help = "first of the device's 8 I/O ports"},
    {.name = NULL},
};

/* ---- 4. I/O handlers ------------------------------------------------------------------------------ */

/* Port read handler (modvm_pio_ops.in). The ops below allow only 4-byte accesses, so the core never
 * hands us another size (it answers those with all ones and counts them as guest errors); `offset`
 * is < COUNTER_NPORTS, but an access may start at any port of the range. */
static uint32_t counter_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    struct counter_state *st = user;
    (void)size;

    switch (offset) {
    case COUNTER_REG_DATA:
        return st->stored + 1u; /* unsigned: wraps to 0 after 0xffffffff, as the contract says */
    case COUNTER_REG_MAGIC:
        return COUNTER_MAGIC;
    default:
        /* Counted and rate-limited by the core: a guest cannot flood the log. */
        modvm_dev_guest_error(dev, "read of port offset %u, which is not a register", offset);
        return UINT32_MAX; /* what an unclaimed port reads on a PC */
    }
}

/* Port write handler (modvm_pio_ops.out). */
static void counter_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct counter_state *st = user;
    (void)size;

    if (offset == COUNTER_REG_DATA)
        st->stored = value;
    else
        modvm_dev_guest_error(dev, "write of 0x%" PRIx32 " to port offset %u, which is not writable",
                              value, offset);
}

/* Handlers of the port range. A static const struct: the core keeps the pointer. */
static const struct modvm_pio_ops counter_pio_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_4,
    .in = counter_in,
    .out = counter_out,
};

/* ---- 5. lifecycle --------------------------------------------------------------------------------- */

/* Device construct callback (modvm_devreg.construct): reads the options and claims the ports. Main
 * thread, vCPUs stopped, device lock held. */
static int counter_construct(struct modvm_dev *dev)
{
    struct counter_state *st = dev->data;
    uint64_t iobase;

    int rc = modvm_dev_cfg_uint(dev, "iobase", &iobase);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot read option 'iobase'");
    /* The schema's range already keeps iobase within the port space; checking again costs nothing
     * and keeps this function correct if someone edits the schema. */
    if (iobase > COUNTER_PORT_LIMIT - COUNTER_NPORTS)
        return modvm_dev_set_error(dev, -EINVAL,
                                   "option 'iobase' must be at most 0x%x so that the %u ports fit below "
                                   "0x10000, got 0x%" PRIx64,
                                   COUNTER_PORT_LIMIT - COUNTER_NPORTS, COUNTER_NPORTS, iobase);

    rc = modvm_pio_register(dev, (uint16_t)iobase, COUNTER_NPORTS, &counter_pio_ops, st, "example-counter",
                            &st->pio);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc,
                                   "cannot claim I/O ports 0x%" PRIx64 "..0x%" PRIx64
                                   " (does another device use them? try another 'iobase')",
                                   iobase, iobase + COUNTER_NPORTS - 1);
    return 0;
}

/* Device destruct callback (modvm_devreg.destruct): frees what construct made. Also runs after a
 * failed construct, when st->pio may still be NULL (modvm_pio_destroy ignores NULL). */
static void counter_destruct(struct modvm_dev *dev)
{
    struct counter_state *st = dev->data;
    modvm_pio_destroy(dev, st->pio);
    st->pio = NULL;
}

/* Device reset callback (modvm_devreg.reset): back to the power-on state. */
static void counter_reset(struct modvm_dev *dev)
{
    struct counter_state *st = dev->data;
    st->stored = 0;
}

/* ---- 6. saved state ------------------------------------------------------------------------------- */

/* Device save callback (modvm_devreg.save): writes unit version COUNTER_SAVED_STATE_VERSION. The core
 * frames the unit (type, instance, version) and adds the terminator. */
static int counter_save(struct modvm_dev *dev, struct modvm_ssm *ssm)
{
    struct counter_state *st = dev->data;
    return modvm_ssm_put_u32(dev, ssm, st->stored);
}

/* Device load callback (modvm_devreg.load): reads a unit of version `version`. A saved state may come
 * from anywhere, so refuse versions we do not know. (Any u32 is a valid stored value, so there is
 * nothing else to bound here; a device with FIFOs or indices checks each one against its limits.) */
static int counter_load(struct modvm_dev *dev, struct modvm_ssm *ssm, uint32_t version)
{
    struct counter_state *st = dev->data;
    uint32_t stored;

    if (version != COUNTER_SAVED_STATE_V1)
        return modvm_dev_set_error(dev, -EINVAL,
                                   "saved state has unit version %" PRIu32 ", but this example-counter "
                                   "plugin reads only version %u; load it with the plugin that saved it",
                                   version, COUNTER_SAVED_STATE_V1);
    int rc = modvm_ssm_get_u32(dev, ssm, &stored);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "saved state is truncated: the stored value is missing");
    st->stored = stored; /* only commit once the whole unit was read */
    return 0;
}

/* ---- 7. registration ------------------------------------------------------------------------------ */

static const struct modvm_devreg counter_reg = {
    .version = MODVM_DEVREG_VERSION,
    .name = "example-counter",
    .description = "SDK example: a 32-bit register that reads back what was written plus one",
    .family = MODVM_DEV_FAMILY_MISC,
    .max_instances = 0, /* unlimited: each instance needs its own iobase */
    .instance_size = sizeof(struct counter_state),
    .options = counter_options,
    .saved_state_version = COUNTER_SAVED_STATE_VERSION,
    .construct = counter_construct,
    .destruct = counter_destruct,
    .reset = counter_reset,
    .save = counter_save,
    .load = counter_load,
    .version_end = MODVM_DEVREG_VERSION,
};

/* Plugin register callback (modvm_plugin_desc.register_types): runs once, on the main thread, after
 * the core accepted our descriptor's ABI version. Registers our one device type.
 *
 * The registrar is the core's struct, so the arguments of the version check swap roles: the core
 * checks ARE_COMPATIBLE(its version, ours) on structs we hand it; for a struct it hands us, the
 * fields we know of (our MODVM_REGISTRAR_VERSION) must all be in the core's (reg->version) — same
 * magic and major, our minor not newer than the core's. */
static int counter_register(const struct modvm_registrar *reg)
{
    if (!MODVM_VERSION_ARE_COMPATIBLE(reg->version, MODVM_REGISTRAR_VERSION))
        return -EPROTO;
    return reg->register_device(reg, &counter_reg);
}

/* ---- 8. the exported descriptor ------------------------------------------------------------------- */

MODVM_PLUGIN(.name = "example-counter", .plugin_version = "1.0.0", .license = "MIT",
             .description = "SDK example device plugin: example-counter",
             .register_types = counter_register);
