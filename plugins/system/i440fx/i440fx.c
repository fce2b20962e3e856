/* plugins/system/i440fx/i440fx.c — "i440fx": the host bridge of the PC platform, as a modvm device
 * plugin.
 *
 * Specs: Intel 440FX PCIset, 82441FX PCI and Memory Controller (PMC) datasheet (order 290549):
 * §3.1 the configuration mechanism #1 registers CONFADD at 0CF8h and CONFDATA at 0CFCh, §3.2 the
 * host bridge's configuration space (vendor 8086h, device 1237h, class 06/00/00, revision 02h as
 * QEMU's model reports), PAM0-PAM6 (59h-5Fh) and SMRAM (72h); PCI Local Bus 3.0 §3.2.2.3.2
 * (configuration mechanism #1, byte lanes of CONFDATA).
 *
 * The ports:
 *   0CF8h CONFADD — only a dword access reaches it: a dword write latches bit 31 (enable), bits 23:16
 *         (bus), 15:11 (device), 10:8 (function), 7:2 (register); reserved bits 30:24 and 1:0 read 0.
 *         A byte or word access to 0CF8h-0CFBh is not CONFADD: the chip passes it on to the bus,
 *         where the PIIX3 answers a byte at 0CF9h (below) and nothing else does: reads return all
 *         ones, writes are dropped.
 *   0CF9h RC, the reset control register of the PIIX3 (82371SB datasheet §4.1.16, 8-bit): bit 1
 *         SRST (hard/soft reset type, read back), bit 2 RCPU (writing 1 resets the system: in modvm a
 *         full VM reset, as with either type on a PC), other bits reserved (0). It is decoded here
 *         because modvm's port map gives 0CF8h-0CFBh to one device, the host bridge's CONFADD;
 *         SeaBIOS's and Linux's "PCI reset" (reboot=pci) and QEMU's FADT reset register use it.
 *   0CFCh-0CFFh CONFDATA — with CONFADD's enable bit set, a 1-, 2- or 4-byte access at byte lane n
 *         is a config cycle to register (CONFADD[7:2] << 2) + n of bus/device/function, forwarded to
 *         the core's PCI bus (modvm_pci_hlp.config_read/config_write); with it clear, reads return
 *         all ones and writes are dropped.
 *
 * Function 00.0 is the bridge itself, with the PAM registers 59h-5Fh (each a pair of 2-bit
 * read/write-enable fields; PAM0 holds only the 0F0000h-0FFFFFh field in bits 5:4) and SMRAM 72h
 * (D_OPEN, D_CLS, D_LCK, G_SMRAME writable; C_BASE_SEG hardwired to 010b, the A0000h segment; once
 * D_LCK is set, D_OPEN clears and only D_CLS stays writable until reset).
 *
 * PAM fields switch the 16 KiB segments of 0C0000h-0FFFFFh (0F0000h-0FFFFFh as one 64 KiB field)
 * between DRAM and the PCI side through the core's shadow window (modvm/shadow.h): bit 0 (RE) sends
 * reads to DRAM, bit 1 (WE) writes — the core's MODVM_SHADOW_READ/WRITE bits. The registers start as
 * the core put the window at power-on and reset (00h for a firmware boot, as the datasheet says; 33h
 * when modvm boots a kernel itself and so plays the firmware that opened the area). Deviation: there
 * is no SMM (so no SMRAM to open or close); SMRAM writes are recorded and read back as on the chip.
 *
 * Threads and locks: the port handlers run on vCPU threads with this device's lock held; a config
 * cycle to another device's function takes that device's lock inside ours (pdm/pci-bus.c documents the
 * order: host bridge → target device, never the reverse). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modvm/pci.h>
#include <modvm/pdm.h>
#include <modvm/plugin.h>
#include <modvm/shadow.h>

#define I440FX_CONFADD_PORT 0xcf8u
#define I440FX_CONFDATA_PORT 0xcfcu
#define I440FX_NPORTS 4u

#define I440FX_CONFADD_ENABLE 0x80000000u
#define I440FX_CONFADD_MASK 0x80fffffcu /* bits 30:24 and 1:0 are reserved and read 0 */
#define I440FX_RC_OFFSET 1u              /* 0CF9h within the CONFADD range */
#define I440FX_RC_SRST 0x02u
#define I440FX_RC_RCPU 0x04u

#define I440FX_VENDOR_ID 0x8086u
#define I440FX_DEVICE_ID 0x1237u
#define I440FX_REVISION 0x02u
#define I440FX_CLASS_BRIDGE 0x06u
#define I440FX_SUBCLASS_HOST 0x00u
#define I440FX_DEVFN 0x00

#define I440FX_PAM0 0x59u
#define I440FX_PAM_COUNT 7u
#define I440FX_PAM0_WMASK 0x30u /* HIENABLE, 0F0000h-0FFFFFh */
#define I440FX_PAM_WMASK 0x33u  /* two 16 KiB segments per register */
#define I440FX_SMRAM 0x72u
#define I440FX_SMRAM_D_OPEN 0x40u
#define I440FX_SMRAM_D_CLS 0x20u
#define I440FX_SMRAM_D_LCK 0x10u
#define I440FX_SMRAM_G_SMRAME 0x08u
#define I440FX_SMRAM_C_BASE_SEG 0x02u /* 010b: the 0A0000h-0BFFFFh segment, hardwired */
#define I440FX_SMRAM_WMASK (I440FX_SMRAM_D_OPEN | I440FX_SMRAM_D_CLS | I440FX_SMRAM_D_LCK | I440FX_SMRAM_G_SMRAME)

/* Instance data (zeroed by the core). */
struct i440fx_state {
    struct modvm_dev *dev;
    const struct modvm_pci_hlp *pci;
    const struct modvm_shadow_hlp *shadow; /* NULL on a core without the window: PAM only recorded */
    modvm_pci_handle func;
    uint32_t confadd; /* the latched CONFADD, reserved bits clear */
    uint8_t rc;       /* 0CF9h: the reset type bit SRST */
    modvm_pio_handle confadd_pio, confdata_pio;
};

/* ---- 0CF8h CONFADD ------------------------------------------------------------------------------- */

/* Port read handler (modvm_pio_ops.in) of 0CF8h-0CFBh: a dword read at 0CF8h is CONFADD, a byte
 * read at 0CF9h RC. */
static uint32_t i440fx_confadd_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    struct i440fx_state *s = user;
    (void)dev;
    if (offset == I440FX_RC_OFFSET && size == 1)
        return s->rc;
    return (offset == 0 && size == 4) ? s->confadd : 0xffffffffu;
}

/* Port write handler (modvm_pio_ops.out) of 0CF8h-0CFBh: a dword write at 0CF8h latches CONFADD; a
 * byte write at 0CF9h sets RC, and RCPU resets the VM. */
static void i440fx_confadd_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct i440fx_state *s = user;
    if (offset == I440FX_RC_OFFSET && size == 1) {
        s->rc = (uint8_t)(value & I440FX_RC_SRST);
        if (value & I440FX_RC_RCPU) {
            modvm_dev_log(dev, MODVM_LOG_INFO, "%s reset through port 0xcf9",
                          (value & I440FX_RC_SRST) ? "hard" : "soft");
            (void)modvm_dev_vm_request(dev, MODVM_VM_REQ_RESET, 0);
        }
    } else if (offset == 0 && size == 4) {
        s->confadd = value & I440FX_CONFADD_MASK;
    }
}

static const struct modvm_pio_ops i440fx_confadd_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1 | MODVM_IO_SIZE_2 | MODVM_IO_SIZE_4,
    .in = i440fx_confadd_in,
    .out = i440fx_confadd_out,
};

/* ---- 0CFCh CONFDATA ------------------------------------------------------------------------------- */

/* Decodes CONFADD for an access of `size` at byte lane `offset`; false when it is no config cycle
 * (enable bit clear, or an access leaving the dword, which PGM never hands us). */
static bool i440fx_cycle(const struct i440fx_state *s, uint16_t offset, unsigned size, uint8_t *bus,
                         uint8_t *devfn, uint32_t *reg)
{
    if (!(s->confadd & I440FX_CONFADD_ENABLE) || offset >= I440FX_NPORTS || size > I440FX_NPORTS - offset)
        return false;
    *bus = (uint8_t)(s->confadd >> 16);
    *devfn = (uint8_t)(s->confadd >> 8);
    *reg = (s->confadd & 0xfcu) + offset;
    return true;
}

/* Port read handler (modvm_pio_ops.in) of 0CFCh-0CFFh: a config read, or all ones. */
static uint32_t i440fx_confdata_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    struct i440fx_state *s = user;
    uint8_t bus, devfn;
    uint32_t reg;
    if (!i440fx_cycle(s, offset, size, &bus, &devfn, &reg))
        return 0xffffffffu;
    return s->pci->config_read(dev, bus, devfn, reg, size);
}

/* Port write handler (modvm_pio_ops.out) of 0CFCh-0CFFh: a config write, or nothing. */
static void i440fx_confdata_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct i440fx_state *s = user;
    uint8_t bus, devfn;
    uint32_t reg;
    if (i440fx_cycle(s, offset, size, &bus, &devfn, &reg))
        s->pci->config_write(dev, bus, devfn, reg, value, size);
}

static const struct modvm_pio_ops i440fx_confdata_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1 | MODVM_IO_SIZE_2 | MODVM_IO_SIZE_4,
    .in = i440fx_confdata_in,
    .out = i440fx_confdata_out,
};

/* ---- function 00.0 ------------------------------------------------------------------------------- */

/* The segments one PAM field switches: register PAM0 + reg, bits 1:0 (lo) or 5:4 (hi). */
static void i440fx_pam_field(unsigned reg, bool hi, uint32_t *base, uint32_t *size)
{
    if (reg == 0) { /* PAM0 bits 5:4: 0F0000h-0FFFFFh */
        *base = 0xf0000u;
        *size = 0x10000u;
    } else { /* PAM1-6: 0C0000h + 32 KiB per register, 16 KiB per field */
        *base = MODVM_SHADOW_BASE + (reg - 1) * 0x8000u + (hi ? MODVM_SHADOW_SEGMENT : 0);
        *size = MODVM_SHADOW_SEGMENT;
    }
}

/* The PAM register value that describes the window as the core has it now (0 without a window). */
static uint32_t i440fx_pam_from_window(struct i440fx_state *s, unsigned reg)
{
    uint32_t value = 0;
    for (int hi = reg == 0; hi <= 1 && s->shadow; hi++) {
        uint32_t base, size, mode;
        i440fx_pam_field(reg, hi, &base, &size);
        if (s->shadow->get(s->dev, base, &mode) == 0)
            value |= mode << (hi ? 4 : 0);
    }
    return value;
}

/* Applies PAM0-6 to the window (the core remaps only segments whose mode changed). */
static void i440fx_pam_apply(struct i440fx_state *s)
{
    for (unsigned reg = 0; reg < I440FX_PAM_COUNT && s->shadow; reg++) {
        uint32_t value = s->pci->config_get(s->dev, s->func, I440FX_PAM0 + reg, 1);
        for (int hi = reg == 0; hi <= 1; hi++) {
            uint32_t base, size;
            i440fx_pam_field(reg, hi, &base, &size);
            int rc = s->shadow->set(s->dev, base, size, (value >> (hi ? 4 : 0)) & 3u);
            if (rc < 0 && rc != -ENODEV)
                modvm_dev_log(s->dev, MODVM_LOG_ERROR, "PAM%u: cannot switch 0x%x-0x%x (error %d)", reg, base,
                              base + size - 1, rc);
        }
    }
}

/* Puts PAM0-6 (as the core's window is after power-on or reset) and SMRAM (02h) and their masks. */
static int i440fx_regs_init(struct i440fx_state *s)
{
    int rc = s->pci->config_init(s->dev, s->func, I440FX_PAM0, 1, i440fx_pam_from_window(s, 0), I440FX_PAM0_WMASK);
    for (unsigned i = 1; i < I440FX_PAM_COUNT && rc == 0; i++)
        rc = s->pci->config_init(s->dev, s->func, I440FX_PAM0 + i, 1, i440fx_pam_from_window(s, i),
                                 I440FX_PAM_WMASK);
    if (rc == 0)
        rc = s->pci->config_init(s->dev, s->func, I440FX_SMRAM, 1, I440FX_SMRAM_C_BASE_SEG, I440FX_SMRAM_WMASK);
    return rc;
}

/* Config write callback (modvm_pci_config_write_fn) of 00.0, after the core stored the write: PAM
 * writes switch the window; a set D_LCK clears D_OPEN and freezes everything but D_CLS until reset.
 * vCPU thread, our lock held. */
static void i440fx_config_write(struct modvm_dev *dev, void *user, uint32_t offset, uint32_t value, unsigned size)
{
    struct i440fx_state *s = user;
    (void)value;
    if (offset < I440FX_PAM0 + I440FX_PAM_COUNT && offset + size > I440FX_PAM0)
        i440fx_pam_apply(s);
    if (offset > I440FX_SMRAM || offset + size <= I440FX_SMRAM)
        return;
    uint32_t smram = s->pci->config_get(dev, s->func, I440FX_SMRAM, 1);
    if (smram & I440FX_SMRAM_D_LCK)
        (void)s->pci->config_init(dev, s->func, I440FX_SMRAM, 1, smram & ~I440FX_SMRAM_D_OPEN, I440FX_SMRAM_D_CLS);
}

/* ---- lifecycle ------------------------------------------------------------------------------------- */

/* Devreg construct callback: the PCI services, function 00.0, the two port ranges. */
static int i440fx_construct(struct modvm_dev *dev)
{
    struct i440fx_state *s = dev->data;
    s->dev = dev;
    if (!(s->pci = modvm_pci_hlp(dev)))
        return modvm_dev_set_error(dev, -ENOSYS, "this modvm core provides no PCI bus (%s)", MODVM_IFACE_PCI);
    s->shadow = modvm_shadow_hlp(dev);
    const struct modvm_pci_func func = {
        .version = MODVM_PCI_FUNC_VERSION,
        .vendor_id = I440FX_VENDOR_ID,
        .device_id = I440FX_DEVICE_ID,
        .revision = I440FX_REVISION,
        .class_code = I440FX_CLASS_BRIDGE,
        .subclass = I440FX_SUBCLASS_HOST,
        .devfn = I440FX_DEVFN,
        .config_write = i440fx_config_write,
    };
    int rc = s->pci->func_register(dev, &func, s, &s->func);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot create the host bridge at PCI 00:00.0 (error %d)", rc);
    if ((rc = i440fx_regs_init(s)) != 0)
        return modvm_dev_set_error(dev, rc, "cannot set up the PAM/SMRAM registers (error %d)", rc);
    rc = modvm_pio_register(dev, I440FX_CONFADD_PORT, I440FX_NPORTS, &i440fx_confadd_ops, s, "CONFADD",
                            &s->confadd_pio);
    if (rc == 0)
        rc = modvm_pio_register(dev, I440FX_CONFDATA_PORT, I440FX_NPORTS, &i440fx_confdata_ops, s, "CONFDATA",
                                &s->confdata_pio);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot claim I/O ports 0x%x-0x%x (error %d)", I440FX_CONFADD_PORT,
                                   I440FX_CONFDATA_PORT + I440FX_NPORTS - 1, rc);
    return 0;
}

/* Devreg destruct callback: the port ranges (the core removes function 00.0 itself). */
static void i440fx_destruct(struct modvm_dev *dev)
{
    struct i440fx_state *s = dev->data;
    modvm_pio_destroy(dev, s->confadd_pio);
    modvm_pio_destroy(dev, s->confdata_pio);
    s->confadd_pio = s->confdata_pio = NULL;
}

/* Devreg reset callback: CONFADD and RC 0, PAM as the core reset the window, SMRAM to power-on (the core
 * resets the header). */
static void i440fx_reset(struct modvm_dev *dev)
{
    struct i440fx_state *s = dev->data;
    s->confadd = 0;
    s->rc = 0;
    if (s->func)
        (void)i440fx_regs_init(s);
}

static const struct modvm_devreg i440fx_reg = {
    .version = MODVM_DEVREG_VERSION,
    .name = "i440fx",
    .description = "i440FX PCI host bridge: config mechanism #1 at 0xcf8/0xcfc, bus 0, function 00.0",
    .family = MODVM_DEV_FAMILY_SYSTEM,
    .max_instances = 1,
    .instance_size = sizeof(struct i440fx_state),
    .options = NULL,
    .construct = i440fx_construct,
    .destruct = i440fx_destruct,
    .reset = i440fx_reset,
    .version_end = MODVM_DEVREG_VERSION,
};

/* Plugin entry (modvm_plugin_desc.register_types): checks the registrar, registers the type. */
static int i440fx_register(const struct modvm_registrar *reg)
{
    if (MODVM_VERSION_MAGIC(reg->version) != MODVM_VERSION_MAGIC(MODVM_REGISTRAR_VERSION) ||
        MODVM_VERSION_MAJOR(reg->version) != MODVM_VERSION_MAJOR(MODVM_REGISTRAR_VERSION))
        return -EINVAL;
    return reg->register_device(reg, &i440fx_reg);
}

MODVM_PLUGIN(.name = "i440fx", .plugin_version = "1.1.0", .license = "MIT",
             .description = "i440FX PCI host bridge (config mechanism #1, PAM shadowing, SMRAM registers)",
             .register_types = i440fx_register);
