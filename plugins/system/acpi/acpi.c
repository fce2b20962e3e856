/* acpi.c — "acpi": the PC's ACPI tables and its ACPI power-management (fixed hardware) device.
 *
 * Spec: ACPI 6.5, section 4.8 "ACPI Hardware Features": 4.8.3.1 PM1 event registers (PM1_STS,
 * PM1_EN), 4.8.3.2 PM1 control (SCI_EN, SLP_TYP, SLP_EN), 4.8.3.3 the power-management timer,
 * 4.8.4.1 general-purpose event blocks, 4.8.3.6 the reset register; section 5.2 for the tables,
 * built by tables.c. The register layout is QEMU's PIIX4 PM at I/O 0x600 (which guests already
 * know from QEMU), without the PIIX4's PCI function:
 *
 *   0x600 PM1a_STS  16 bits, write 1 to clear: TMR_STS (bit 0), PWRBTN_STS (bit 8), WAK_STS (15)
 *   0x602 PM1a_EN   16 bits: TMR_EN (bit 0), PWRBTN_EN (bit 8), ...
 *   0x604 PM1a_CNT  16 bits: SCI_EN (bit 0, always 1), SLP_TYP (12:10), SLP_EN (13, write-only)
 *   0x608 PM_TMR    32-bit counter at 3.579545 MHz from the virtual clock (FADT TMR_VAL_EXT)
 *   0x60c RESET     writing 0x06 (the FADT's RESET_VALUE) resets the VM
 *   0xafe0 GPE0     16-bit status (w1c) and 16-bit enable; nothing raises a GPE yet
 *
 * The FADT names no SMI command port, so the hardware is in ACPI mode from power-on (SCI_EN reads
 * 1 and cannot be cleared). The SCI is GSI 9, level-triggered active high (the MADT's override):
 * high while an enabled status bit is set. SLP_EN with SLP_TYP 5 (\_S5) powers the VM off with
 * exit status 0; SLP_TYP 0 (\_S0) does nothing; other sleep states are not offered by the DSDT, so
 * asking for one is a guest error and ignored.
 *
 * At construct the device builds the tables for the configured VM (CPU count, RAM size, options)
 * and publishes them as firmware files — "etc/acpi/tables", "etc/acpi/rsdp" and the loader script
 * "etc/table-loader" — for the fw_cfg device (SeaBIOS) and the core's direct-boot loaders.
 *
 * Attacker model: every register access comes from the guest; offsets are bounded by the range
 * sizes the core checked and re-checked here, values are masked to the defined bits. A saved state
 * is checked whole before any of it is used. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <modvm/fw.h>
#include <modvm/pdm.h>
#include <modvm/plugin.h>

#include "tables.h"

/* PM1 status/enable bits (4.8.3.1, Tables 4.11 and 4.12). */
#define PM1_TMR 0x0001u
#define PM1_BM_STS 0x0010u
#define PM1_GBL 0x0020u
#define PM1_PWRBTN 0x0100u
#define PM1_SLPBTN 0x0200u
#define PM1_RTC 0x0400u
#define PM1_PCIEXP_WAKE 0x4000u
#define PM1_WAK_STS 0x8000u
#define PM1_STS_MASK (PM1_TMR | PM1_BM_STS | PM1_GBL | PM1_PWRBTN | PM1_SLPBTN | PM1_RTC | PM1_PCIEXP_WAKE | PM1_WAK_STS)
#define PM1_EN_MASK (PM1_TMR | PM1_GBL | PM1_PWRBTN | PM1_SLPBTN | PM1_RTC | PM1_PCIEXP_WAKE)
/* The status bits whose enabled events raise the SCI (WAK_STS and BM_STS never do). */
#define PM1_SCI_SOURCES (PM1_TMR | PM1_GBL | PM1_PWRBTN | PM1_SLPBTN | PM1_RTC)

/* PM1 control bits (4.8.3.2.1, Table 4.13). */
#define PM1_CNT_SCI_EN 0x0001u
#define PM1_CNT_BM_RLD 0x0002u
#define PM1_CNT_GBL_RLS 0x0004u /* write-only */
#define PM1_CNT_SLP_TYP 0x1c00u
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_EN 0x2000u /* write-only */
#define PM1_CNT_KEPT (PM1_CNT_SCI_EN | PM1_CNT_BM_RLD | PM1_CNT_SLP_TYP)

#define PM_TMR_HZ 3579545u
#define PM_TMR_MSB_PERIOD (1ull << 31) /* TMR_STS is set each time bit 31 of the counter toggles */
#define NS_PER_S 1000000000ull

#define ACPI_SAVED_STATE_V1 1u
#define ACPI_DEFAULT_HOLE64 "0x800000000" /* 32 GiB */

/* Instance data (dev->data, zeroed by the core). */
struct acpi_state {
    struct modvm_dev *dev;
    /* guest-visible registers */
    uint16_t pm1_sts, pm1_en, pm1_cnt;
    uint16_t gpe0_sts, gpe0_en;
    /* the PM timer: counter = ticks(virtual ns) + tmr_offset (mod 2^64; the guest sees 32 bits) */
    uint64_t tmr_offset;
    uint64_t tmr_epoch; /* counter >> 31 when TMR_STS was last updated */
    bool sci_level;     /* what we last drove onto GSI 9 */
    modvm_pio_handle pio_pm, pio_gpe;
    modvm_timer_handle tmr_timer;
};

/* ---- the PM timer -------------------------------------------------------------------------------- */

/* Timer ticks in `ns` nanoseconds, floor(ns * 3579545 / 10^9), without 64-bit overflow. */
static uint64_t acpi_ns_to_ticks(uint64_t ns)
{
    return (ns / NS_PER_S) * PM_TMR_HZ + (ns % NS_PER_S) * PM_TMR_HZ / NS_PER_S;
}

/* The first nanosecond at which acpi_ns_to_ticks reaches `ticks`: ceil(ticks * 10^9 / 3579545). */
static uint64_t acpi_ticks_to_ns_ceil(uint64_t ticks)
{
    uint64_t rem = ticks % PM_TMR_HZ;
    return (ticks / PM_TMR_HZ) * NS_PER_S + (rem * NS_PER_S + PM_TMR_HZ - 1) / PM_TMR_HZ;
}

/* The full counter now (the guest reads its low 32 bits). */
static uint64_t acpi_tmr_counter(struct acpi_state *s)
{
    return acpi_ns_to_ticks(modvm_clock_now(s->dev, MODVM_CLOCK_VIRTUAL)) + s->tmr_offset;
}

/* ---- the SCI ------------------------------------------------------------------------------------- */

/* Drives GSI 9: high while an enabled PM1 or GPE0 status bit is set (`force`: drive it anyway). */
static void acpi_sci_update(struct acpi_state *s, bool force)
{
    bool level = (s->pm1_sts & s->pm1_en & PM1_SCI_SOURCES) || (s->gpe0_sts & s->gpe0_en);
    if (level == s->sci_level && !force)
        return;
    s->sci_level = level;
    modvm_dev_irq_set(s->dev, ACPI_SCI_GSI, level ? MODVM_IRQ_HIGH : MODVM_IRQ_LOW);
}

/* Sets TMR_STS when bit 31 of the counter has toggled since we last looked. */
static void acpi_tmr_check(struct acpi_state *s)
{
    uint64_t epoch = acpi_tmr_counter(s) / PM_TMR_MSB_PERIOD;
    if (epoch != s->tmr_epoch) {
        s->tmr_epoch = epoch;
        s->pm1_sts |= PM1_TMR;
    }
}

/* Arms the overflow timer for the next toggle of bit 31. It runs whatever TMR_EN says, so TMR_STS
 * is exact for a guest that polls it; one expiry every ~10 minutes costs nothing. */
static void acpi_tmr_arm(struct acpi_state *s)
{
    if (!s->tmr_timer)
        return;
    uint64_t now_ticks = acpi_ns_to_ticks(modvm_clock_now(s->dev, MODVM_CLOCK_VIRTUAL));
    uint64_t counter = now_ticks + s->tmr_offset;
    uint64_t to_go = PM_TMR_MSB_PERIOD - counter % PM_TMR_MSB_PERIOD;
    (void)modvm_timer_arm(s->dev, s->tmr_timer, acpi_ticks_to_ns_ceil(now_ticks + to_go));
}

/* Timer callback (modvm_timer_fn): bit 31 of the counter toggled. */
static void acpi_tmr_fire(struct modvm_dev *dev, void *user)
{
    struct acpi_state *s = user;
    (void)dev;
    acpi_tmr_check(s);
    acpi_sci_update(s, false);
    acpi_tmr_arm(s);
}

/* ---- PM1 control: sleep and soft-off ------------------------------------------------------------- */

/* A write of PM1a_CNT: keep the read/write bits, and act on SLP_EN. */
static void acpi_pm1_cnt_write(struct acpi_state *s, uint16_t value)
{
    s->pm1_cnt = (uint16_t)((value & PM1_CNT_KEPT) | PM1_CNT_SCI_EN);
    if (!(value & PM1_CNT_SLP_EN))
        return;
    unsigned typ = (value & PM1_CNT_SLP_TYP) >> PM1_CNT_SLP_TYP_SHIFT;
    if (typ == ACPI_SLP_TYP_S5) {
        modvm_dev_log(s->dev, MODVM_LOG_INFO, "guest entered S5 (soft off)");
        (void)modvm_dev_vm_request(s->dev, MODVM_VM_REQ_POWER_OFF, 0);
    } else if (typ != 0) {
        modvm_dev_guest_error(s->dev, "sleep type %u requested, but only S0 and S5 are offered", typ);
    }
}

/* ---- register file ------------------------------------------------------------------------------- */

/* Byte `i` (0..ACPI_PM_LEN-1) of the PM block; `tmr` is the counter sampled once per access. */
static uint8_t acpi_pm_read_byte(const struct acpi_state *s, unsigned i, uint32_t tmr)
{
    uint16_t cnt = (uint16_t)(s->pm1_cnt | PM1_CNT_SCI_EN); /* SLP_EN and GBL_RLS read 0 */
    switch (i) {
    case ACPI_PM1_STS_OFF:
    case ACPI_PM1_STS_OFF + 1:
        return (uint8_t)(s->pm1_sts >> (8 * (i - ACPI_PM1_STS_OFF)));
    case ACPI_PM1_EN_OFF:
    case ACPI_PM1_EN_OFF + 1:
        return (uint8_t)(s->pm1_en >> (8 * (i - ACPI_PM1_EN_OFF)));
    case ACPI_PM1_CNT_OFF:
    case ACPI_PM1_CNT_OFF + 1:
        return (uint8_t)(cnt >> (8 * (i - ACPI_PM1_CNT_OFF)));
    case ACPI_PM_TMR_OFF:
    case ACPI_PM_TMR_OFF + 1:
    case ACPI_PM_TMR_OFF + 2:
    case ACPI_PM_TMR_OFF + 3:
        return (uint8_t)(tmr >> (8 * (i - ACPI_PM_TMR_OFF)));
    default:
        return 0; /* reserved bytes and the write-only reset register */
    }
}

/* Port read handler of the PM block (modvm_pio_ops.in). */
static uint32_t acpi_pm_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    struct acpi_state *s = user;
    (void)dev;
    if (size > 4 || offset >= ACPI_PM_LEN || size > ACPI_PM_LEN - offset)
        return UINT32_MAX;
    acpi_tmr_check(s);
    acpi_sci_update(s, false);
    uint32_t tmr = (uint32_t)acpi_tmr_counter(s);
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)acpi_pm_read_byte(s, offset + i, tmr) << (8 * i);
    return v;
}

/* Applies the bytes of a write of `size` at `offset` to a 16-bit register at `reg` (the part of
 * the register the access covers; bytes outside it keep `old`'s value). */
static uint16_t acpi_merge16(uint16_t old, unsigned reg, uint16_t offset, uint32_t value, unsigned size)
{
    uint16_t v = old;
    for (unsigned i = 0; i < size; i++) {
        unsigned at = offset + i;
        if (at == reg || at == reg + 1) {
            unsigned sh = 8 * (at - reg);
            v = (uint16_t)((v & ~(0xffu << sh)) | (((value >> (8 * i)) & 0xffu) << sh));
        }
    }
    return v;
}

/* The mask of the bytes of a 16-bit register at `reg` that an access of `size` at `offset` covers. */
static uint16_t acpi_cover16(unsigned reg, uint16_t offset, unsigned size)
{
    return acpi_merge16(0, reg, offset, UINT32_MAX, size);
}

/* Port write handler of the PM block (modvm_pio_ops.out). */
static void acpi_pm_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct acpi_state *s = user;
    (void)dev;
    if (size > 4 || offset >= ACPI_PM_LEN || size > ACPI_PM_LEN - offset)
        return;
    acpi_tmr_check(s);
    /* PM1_STS: write 1 to clear. */
    uint16_t clear = acpi_merge16(0, ACPI_PM1_STS_OFF, offset, value, size);
    s->pm1_sts &= (uint16_t)~clear;
    if (acpi_cover16(ACPI_PM1_EN_OFF, offset, size))
        s->pm1_en = acpi_merge16(s->pm1_en, ACPI_PM1_EN_OFF, offset, value, size) & PM1_EN_MASK;
    if (acpi_cover16(ACPI_PM1_CNT_OFF, offset, size))
        acpi_pm1_cnt_write(s, acpi_merge16(s->pm1_cnt, ACPI_PM1_CNT_OFF, offset, value, size));
    if (offset <= ACPI_RESET_OFF && ACPI_RESET_OFF < offset + size) {
        uint8_t v = (uint8_t)(value >> (8 * (ACPI_RESET_OFF - offset)));
        if (v == ACPI_RESET_VALUE)
            (void)modvm_dev_vm_request(s->dev, MODVM_VM_REQ_RESET, 0);
        else
            modvm_dev_guest_error(s->dev, "reset register written with 0x%02x, not 0x%02x", v, ACPI_RESET_VALUE);
    }
    /* The timer is read-only; writes to it and to reserved bytes are ignored. */
    acpi_sci_update(s, false);
}

/* Port read handler of GPE0 (modvm_pio_ops.in): status then enable. */
static uint32_t acpi_gpe_in(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size)
{
    struct acpi_state *s = user;
    (void)dev;
    if (size > 4 || offset >= ACPI_GPE0_LEN || size > ACPI_GPE0_LEN - offset)
        return UINT32_MAX;
    uint32_t regs = (uint32_t)s->gpe0_sts | (uint32_t)s->gpe0_en << 16;
    uint32_t v = regs >> (8 * offset);
    return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

/* Port write handler of GPE0 (modvm_pio_ops.out): status write-1-to-clear, enable read/write. */
static void acpi_gpe_out(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value, unsigned size)
{
    struct acpi_state *s = user;
    (void)dev;
    if (size > 4 || offset >= ACPI_GPE0_LEN || size > ACPI_GPE0_LEN - offset)
        return;
    s->gpe0_sts &= (uint16_t)~acpi_merge16(0, 0, offset, value, size);
    s->gpe0_en = acpi_merge16(s->gpe0_en, 2, offset, value, size);
    acpi_sci_update(s, false);
}

static const struct modvm_pio_ops acpi_pm_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1 | MODVM_IO_SIZE_2 | MODVM_IO_SIZE_4,
    .in = acpi_pm_in,
    .out = acpi_pm_out,
};

static const struct modvm_pio_ops acpi_gpe_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1 | MODVM_IO_SIZE_2 | MODVM_IO_SIZE_4,
    .in = acpi_gpe_in,
    .out = acpi_gpe_out,
};

/* ---- construction -------------------------------------------------------------------------------- */

/* Power-on state of the registers: everything clear but SCI_EN. */
static void acpi_reset_regs(struct acpi_state *s)
{
    s->pm1_sts = 0;
    s->pm1_en = 0;
    s->pm1_cnt = PM1_CNT_SCI_EN;
    s->gpe0_sts = 0;
    s->gpe0_en = 0;
}

/* Reads the VM facts and options into the table description. */
static int acpi_read_platform(struct modvm_dev *dev, struct acpi_platform *p)
{
    uint64_t cpus = 0, ram = 0;
    int rc;
    if ((rc = modvm_dev_vm_query(dev, MODVM_VM_FACT_CPU_COUNT, &cpus)) != 0 ||
        (rc = modvm_dev_vm_query(dev, MODVM_VM_FACT_RAM_SIZE, &ram)) != 0)
        return modvm_dev_set_error(dev, rc, "cannot query the CPU count and RAM size (error %d)", rc);
    if (cpus < 1 || cpus > ACPI_MAX_CPUS)
        return modvm_dev_set_error(dev, -EINVAL, "%llu vCPUs cannot be described with xAPIC entries (1-%u)",
                                   (unsigned long long)cpus, ACPI_MAX_CPUS);
    p->ncpus = (unsigned)cpus;
    p->ram_size = ram;
    if ((rc = modvm_dev_cfg_uint(dev, "pci-hole64-size", &p->pci_hole64_size)) != 0 ||
        (rc = modvm_dev_cfg_bool(dev, "com1", &p->com1)) != 0 || (rc = modvm_dev_cfg_bool(dev, "rtc", &p->rtc)) != 0 ||
        (rc = modvm_dev_cfg_bool(dev, "i8042", &p->i8042)) != 0)
        return modvm_dev_set_error(dev, rc, "cannot read the options (error %d)", rc);
    return 0;
}

/* Builds the tables and publishes them as firmware files. */
static int acpi_publish_tables(struct modvm_dev *dev)
{
    struct acpi_platform p = {0};
    struct acpi_blobs b;
    int rc;

    const struct modvm_fw_hlp *fw = modvm_fw_hlp(dev);
    if (!fw || !fw->file_add)
        return modvm_dev_set_error(dev, -ENOTSUP, "this modvm core offers no firmware-file registry (%s)",
                                   MODVM_IFACE_FW);
    if ((rc = acpi_read_platform(dev, &p)) != 0)
        return rc;
    if ((rc = acpi_build(&p, &b)) != 0)
        return modvm_dev_set_error(dev, rc, "cannot build the ACPI tables for %u vCPUs and %llu MiB (error %d)",
                                   p.ncpus, (unsigned long long)(p.ram_size >> 20), rc);
    /* The loader script last: a reader that finds it finds the files it names. */
    if ((rc = fw->file_add(dev, ACPI_FILE_TABLES, b.tables, b.tables_len)) == 0 &&
        (rc = fw->file_add(dev, ACPI_FILE_RSDP, b.rsdp, b.rsdp_len)) == 0)
        rc = fw->file_add(dev, ACPI_FILE_LOADER, b.loader, b.loader_len);
    if (rc != 0)
        rc = modvm_dev_set_error(dev, rc, "cannot publish the ACPI tables as firmware files (error %d)", rc);
    else
        modvm_dev_log(dev, MODVM_LOG_DEBUG, "ACPI tables: %zu bytes, RSDP %zu, loader %zu", b.tables_len,
                      b.rsdp_len, b.loader_len);
    acpi_blobs_free(&b);
    return rc;
}

/* Registers one port range, with a clear message when it is taken. */
static int acpi_register_ports(struct modvm_dev *dev, struct acpi_state *s, uint16_t base, uint32_t count,
                               const struct modvm_pio_ops *ops, const char *desc, modvm_pio_handle *out)
{
    int rc = modvm_pio_register(dev, base, count, ops, s, desc, out);
    if (rc == -EBUSY)
        return modvm_dev_set_error(dev, rc, "I/O ports 0x%x-0x%x (%s) are already in use", base, base + count - 1,
                                   desc);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot register I/O ports 0x%x-0x%x (%s, error %d)", base,
                                   base + count - 1, desc, rc);
    return 0;
}

/* Devreg construct callback: tables, registers, timer. */
static int acpi_construct(struct modvm_dev *dev)
{
    struct acpi_state *s = dev->data;
    int rc;

    s->dev = dev;
    acpi_reset_regs(s);
    if ((rc = acpi_publish_tables(dev)) != 0)
        return rc;
    /* The counter starts at 0 at power-on. */
    s->tmr_offset = 0u - acpi_ns_to_ticks(modvm_clock_now(dev, MODVM_CLOCK_VIRTUAL));
    s->tmr_epoch = 0;
    rc = modvm_timer_create(dev, MODVM_CLOCK_VIRTUAL, acpi_tmr_fire, s, "acpi pm timer", &s->tmr_timer);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot create the PM timer's overflow timer (error %d)", rc);
    if ((rc = acpi_register_ports(dev, s, ACPI_PM_BASE, ACPI_PM_LEN, &acpi_pm_ops, "acpi pm", &s->pio_pm)) != 0)
        return rc;
    if ((rc = acpi_register_ports(dev, s, ACPI_GPE0_BASE, ACPI_GPE0_LEN, &acpi_gpe_ops, "acpi gpe0", &s->pio_gpe)) != 0)
        return rc;
    acpi_tmr_arm(s);
    return 0;
}

/* Devreg destruct callback; copes with a construct that stopped anywhere. */
static void acpi_destruct(struct modvm_dev *dev)
{
    struct acpi_state *s = dev->data;
    modvm_pio_destroy(dev, s->pio_pm);
    s->pio_pm = NULL;
    modvm_pio_destroy(dev, s->pio_gpe);
    s->pio_gpe = NULL;
    modvm_timer_destroy(dev, s->tmr_timer);
    s->tmr_timer = NULL;
}

/* Devreg reset callback: registers to their power-on values, the SCI low. The PM timer keeps
 * counting (it runs from the always-on clock on a PC). */
static void acpi_reset(struct modvm_dev *dev)
{
    struct acpi_state *s = dev->data;
    acpi_reset_regs(s);
    s->tmr_epoch = acpi_tmr_counter(s) / PM_TMR_MSB_PERIOD;
    acpi_sci_update(s, false);
    acpi_tmr_arm(s);
}

/* ---- saved state --------------------------------------------------------------------------------- */

/* Saved state v1, in order (18 bytes):
 *   u16 pm1_sts, pm1_en, pm1_cnt, gpe0_sts, gpe0_en; u32 PM timer counter
 *   u16 pm base, u16 gpe0 base                 the layout it was saved with
 * The tables are not saved: the device rebuilds them from the same configuration.
 * Devreg save callback. */
static int acpi_save(struct modvm_dev *dev, struct modvm_ssm *ssm)
{
    struct acpi_state *s = dev->data;
    int rc = 0;
    acpi_tmr_check(s);
    uint16_t regs[5] = {s->pm1_sts, s->pm1_en, s->pm1_cnt, s->gpe0_sts, s->gpe0_en};
    for (unsigned i = 0; i < 5 && rc == 0; i++)
        rc = modvm_ssm_put_u16(dev, ssm, regs[i]);
    if (rc == 0)
        rc = modvm_ssm_put_u32(dev, ssm, (uint32_t)acpi_tmr_counter(s));
    if (rc == 0)
        rc = modvm_ssm_put_u16(dev, ssm, ACPI_PM_BASE);
    if (rc == 0)
        rc = modvm_ssm_put_u16(dev, ssm, ACPI_GPE0_BASE);
    return rc;
}

/* Devreg load callback: reads into locals, checks every value, then commits. */
static int acpi_load(struct modvm_dev *dev, struct modvm_ssm *ssm, uint32_t version)
{
    struct acpi_state *s = dev->data;
    uint16_t regs[5] = {0}, pm_base = 0, gpe_base = 0;
    uint32_t tmr = 0;
    int rc = 0;

    if (version != ACPI_SAVED_STATE_V1)
        return modvm_dev_set_error(dev, -EINVAL, "saved state version %u is not supported (this build reads %u)",
                                   version, ACPI_SAVED_STATE_V1);
    for (unsigned i = 0; i < 5; i++) {
        int r = modvm_ssm_get_u16(dev, ssm, &regs[i]);
        rc = rc ? rc : r;
    }
    int r1 = modvm_ssm_get_u32(dev, ssm, &tmr);
    int r2 = modvm_ssm_get_u16(dev, ssm, &pm_base);
    int r3 = modvm_ssm_get_u16(dev, ssm, &gpe_base);
    rc = rc ? rc : r1 ? r1 : r2 ? r2 : r3;
    if (rc != 0)
        return modvm_dev_set_error(dev, -EINVAL, "saved state is truncated or unreadable (error %d)", rc);
    if (pm_base != ACPI_PM_BASE || gpe_base != ACPI_GPE0_BASE)
        return modvm_dev_set_error(dev, -EINVAL, "saved state is for PM ports 0x%x/0x%x, this device uses 0x%x/0x%x",
                                   pm_base, gpe_base, ACPI_PM_BASE, ACPI_GPE0_BASE);
    if ((regs[0] & ~PM1_STS_MASK) || (regs[1] & ~PM1_EN_MASK) || (regs[2] & ~PM1_CNT_KEPT) ||
        !(regs[2] & PM1_CNT_SCI_EN))
        return modvm_dev_set_error(dev, -EINVAL, "saved state: PM1 registers 0x%04x/0x%04x/0x%04x are impossible",
                                   regs[0], regs[1], regs[2]);
    s->pm1_sts = regs[0];
    s->pm1_en = regs[1];
    s->pm1_cnt = regs[2];
    s->gpe0_sts = regs[3];
    s->gpe0_en = regs[4];
    /* Continue counting from the saved value. */
    s->tmr_offset = (uint64_t)tmr - acpi_ns_to_ticks(modvm_clock_now(dev, MODVM_CLOCK_VIRTUAL));
    s->tmr_epoch = acpi_tmr_counter(s) / PM_TMR_MSB_PERIOD;
    acpi_sci_update(s, true);
    acpi_tmr_arm(s);
    return 0;
}

/* ---- registration -------------------------------------------------------------------------------- */

static const struct modvm_cfg_option acpi_options[] = {
    {.name = "pci-hole64-size", .type = MODVM_CFG_UINT, .default_value = ACPI_DEFAULT_HOLE64, .min = 0,
     .max = 1ull << 46,
     .help = "bytes of 64-bit PCI memory window the host bridge declares above RAM, 1 GiB aligned (0: none)"},
    {.name = "com1", .type = MODVM_CFG_BOOL, .default_value = "on",
     .help = "list COM1 (0x3f8, IRQ 4) in the DSDT"},
    {.name = "rtc", .type = MODVM_CFG_BOOL, .default_value = "on",
     .help = "list the CMOS RTC (0x70, IRQ 8) in the DSDT and name its century byte in the FADT"},
    {.name = "i8042", .type = MODVM_CFG_BOOL, .default_value = "on",
     .help = "list the i8042 keyboard and mouse (0x60/0x64, IRQ 1/12) and set the FADT's 8042 flag"},
    {.name = NULL},
};

static const struct modvm_devreg acpi_devreg = {
    .version = MODVM_DEVREG_VERSION,
    .flags = 0,
    .name = "acpi",
    .description = "ACPI tables (RSDP, XSDT, FADT, MADT, DSDT) and the ACPI PM registers (SCI, PM timer, S5, reset)",
    .family = MODVM_DEV_FAMILY_SYSTEM,
    .max_instances = 1,
    .instance_size = sizeof(struct acpi_state),
    .options = acpi_options,
    .saved_state_version = ACPI_SAVED_STATE_V1,
    .construct = acpi_construct,
    .destruct = acpi_destruct,
    .reset = acpi_reset,
    .save = acpi_save,
    .load = acpi_load,
    .version_end = MODVM_DEVREG_VERSION,
};

/* The plugin's register_types: one device type. */
static int acpi_register(const struct modvm_registrar *reg)
{
    return reg->register_device(reg, &acpi_devreg);
}

MODVM_PLUGIN(.name = "acpi", .plugin_version = "1.0.0", .license = "MIT",
             .description = "ACPI tables and PM device for the PC (i440fx/PIIX3)", .register_types = acpi_register);
