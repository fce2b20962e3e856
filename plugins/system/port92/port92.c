/* port92.c — System Control Port A (port 0x92, "fast A20 and reset"), as a modvm device plugin.
 *
 * Spec: Intel 82371AB PIIX4 datasheet, "Port 92h — Port 92 Register" (the same register as the
 * IBM PS/2's System Control Port A): bit 1 ALT_A20_GATE, bit 0 ALT_RST (a 0-to-1 transition
 * resets the processor), bits 7:2 reserved (read 0). Firmware and Linux's boot code (arch/x86/boot/
 * a20.c, enable_a20_fast) use it to open the A20 gate without the keyboard controller; Linux's
 * reboot=p and some bootloaders use bit 0 to reset.
 *
 * A20: under KVM guest memory is never masked at 1 MiB, so the gate is always open whatever this
 * bit says. The bit is kept and reads back exactly, which is what software checks (the i8042
 * plugin's output-port A20 bit is a separate latch; a real PC ORs the two).
 *
 * Reset: the PIIX raises INIT on the edge; modvm has no INIT-only request, so the edge asks for a
 * full VM reset (MODVM_VM_REQ_RESET), which is what every guest writing the bit wants. The reset
 * callback clears ALT_RST (so the next 0-to-1 works again) and keeps ALT_A20_GATE, as an INIT
 * would leave this register.
 *
 * Attacker model: the guest writes any byte; reserved bits are dropped, and a guest hammering the
 * reset bit only makes repeated (asynchronous, coalescable) reset requests. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <modvm/pdm.h>
#include <modvm/plugin.h>

#define PORT92_IOPORT 0x92u
#define PORT92_RST 0x01u   /* ALT_RST: 0->1 resets */
#define PORT92_A20 0x02u   /* ALT_A20_GATE */
#define PORT92_MASK (PORT92_RST | PORT92_A20)
#define PORT92_SAVED_STATE_V1 1u

/* The instance data (dev->data, zeroed by the core: A20 closed and no reset at power-on). */
struct port92_state {
    struct modvm_dev *dev;
    uint8_t value; /* bits 1:0 as last written */
    modvm_pio_handle pio;
};

/* modvm_pio_in_fn: the register, reserved bits 0. */
static uint32_t port92_pio_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    struct port92_state *s = user;
    if (size != 1 || offset != 0) {
        modvm_dev_guest_error(dev, "%u-byte read at offset %u (one one-byte port)", size, offset);
        return 0xffffffffu;
    }
    return s->value;
}

/* modvm_pio_out_fn: latches A20 and the reset bit; a rising reset bit asks for a VM reset. */
static void port92_pio_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct port92_state *s = user;
    if (size != 1 || offset != 0) {
        modvm_dev_guest_error(dev, "%u-byte write at offset %u (one one-byte port)", size, offset);
        return;
    }
    uint8_t old = s->value;
    s->value = (uint8_t)(value & PORT92_MASK);
    if ((s->value & PORT92_RST) && !(old & PORT92_RST)) {
        modvm_dev_log(dev, MODVM_LOG_INFO, "fast reset through port 0x92");
        (void)modvm_dev_vm_request(dev, MODVM_VM_REQ_RESET, 0);
    }
}

static const struct modvm_pio_ops port92_pio_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1,
    .in = port92_pio_in,
    .out = port92_pio_out,
};

/* Devreg construct callback: claims the port. */
static int port92_construct(struct modvm_dev *dev)
{
    struct port92_state *s = dev->data;
    s->dev = dev;
    s->value = 0;
    int rc = modvm_pio_register(dev, PORT92_IOPORT, 1, &port92_pio_ops, s, "port92", &s->pio);
    if (rc == -EBUSY)
        return modvm_dev_set_error(dev, rc, "I/O port 0x92 is already in use");
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot register I/O port 0x92 (error %d)", rc);
    return 0;
}

/* Devreg destruct callback. */
static void port92_destruct(struct modvm_dev *dev)
{
    struct port92_state *s = dev->data;
    modvm_pio_destroy(dev, s->pio);
    s->pio = NULL;
}

/* Devreg reset callback: the reset bit falls (the reset has happened); A20 stays. */
static void port92_reset(struct modvm_dev *dev)
{
    struct port92_state *s = dev->data;
    s->value &= (uint8_t)~PORT92_RST;
}

/* Saved state v1: u8 register (bits 7:2 zero). */

/* Devreg save callback. */
static int port92_save(struct modvm_dev *dev, struct modvm_ssm *ssm)
{
    struct port92_state *s = dev->data;
    return modvm_ssm_put_u8(dev, ssm, s->value);
}

/* Devreg load callback. Loading never requests a reset: the edge happened before the save. */
static int port92_load(struct modvm_dev *dev, struct modvm_ssm *ssm, uint32_t version)
{
    struct port92_state *s = dev->data;
    uint8_t v = 0;
    if (version != PORT92_SAVED_STATE_V1)
        return modvm_dev_set_error(dev, -EINVAL, "saved state version %u is not supported (this build reads %u)",
                                   version, PORT92_SAVED_STATE_V1);
    int rc = modvm_ssm_get_u8(dev, ssm, &v);
    if (rc != 0)
        return modvm_dev_set_error(dev, -EINVAL, "saved state is truncated (error %d)", rc);
    if (v & (uint8_t)~PORT92_MASK)
        return modvm_dev_set_error(dev, -EINVAL, "saved state: port 0x92 value 0x%02x has reserved bits", v);
    s->value = v;
    return 0;
}

static const struct modvm_devreg port92_devreg = {
    .version = MODVM_DEVREG_VERSION,
    .flags = 0,
    .name = "port92",
    .description = "System Control Port A at 0x92: fast A20 gate and fast reset",
    .family = MODVM_DEV_FAMILY_SYSTEM,
    .max_instances = 1,
    .instance_size = sizeof(struct port92_state),
    .options = NULL,
    .saved_state_version = PORT92_SAVED_STATE_V1,
    .construct = port92_construct,
    .destruct = port92_destruct,
    .reset = port92_reset,
    .save = port92_save,
    .load = port92_load,
    .version_end = MODVM_DEVREG_VERSION,
};

/* The plugin's register_types: one device type. */
static int port92_register(const struct modvm_registrar *reg)
{
    return reg->register_device(reg, &port92_devreg);
}

MODVM_PLUGIN(.name = "port92", .plugin_version = "1.0.0", .license = "MIT",
             .description = "System Control Port A (PS/2, PIIX port 92h)", .register_types = port92_register);
