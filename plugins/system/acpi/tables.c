/* tables.c — builds modvm's ACPI tables and their BIOSLinker loader script (see tables.h).
 *
 * Spec: ACPI 6.5 section 5.2 (table layouts; field offsets below are those of its tables 5.3 RSDP,
 * 5.4 header, 5.9 FADT, 5.14 FACS, 5.19-5.31 MADT) and section 5.2.3.2 (Generic Address Structure);
 * the DSDT's objects follow 6.1-6.2 (_HID, _UID, _ADR, _CRS, _PRT, _BBN), 7.4.2 (\_Sx) and 8.4
 * (processor devices, ACPI0007). Loader commands: QEMU hw/acpi/bios-linker-loader.c.
 *
 * Layout of "etc/acpi/tables": FACS first (it must be 64-byte aligned, and the file is allocated
 * with that alignment), then DSDT, FADT, MADT, RSDT, XSDT, each starting 8-byte aligned. Every
 * pointer field holds the offset of its target within its file; the loader script adds the file's
 * guest address (ADD_POINTER) and then fixes the checksums (ADD_CHECKSUM). The checksums are also
 * valid before linking, which keeps the files readable in a hex dump, and does not matter to the
 * loader: ADD_CHECKSUM subtracts the sum of the whole range from the checksum byte, so it makes the
 * range sum to zero whatever the byte held.
 *
 * Both an RSDT and an XSDT are provided: ACPI 2.0+ guests use the XSDT, while SeaBIOS looks for the
 * FADT (PM timer, reset register, PM1a_CNT for S3) through the RSDT only. */
#include "tables.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aml.h"

#define ACPI_OEM_ID "MODVM "  /* 6 characters */
#define ACPI_OEM_TABLE_PREFIX "MODV" /* + the signature = 8-character OEM table ID */
#define ACPI_CREATOR_ID "MDVM"
#define ACPI_HDR_LEN 36u

#define ACPI_FACS_LEN 64u
#define ACPI_FADT_LEN 276u /* revision 6 */
#define ACPI_RSDP_LEN 36u
#define ACPI_RSDP_V1_LEN 20u
#define ACPI_TABLE_ALIGN 8u

/* FADT field offsets (Table 5.9). */
#define FADT_FIRMWARE_CTRL 36u
#define FADT_DSDT 40u
#define FADT_SCI_INT 46u
#define FADT_SMI_CMD 48u
#define FADT_PM1A_EVT_BLK 56u
#define FADT_PM1A_CNT_BLK 64u
#define FADT_PM_TMR_BLK 76u
#define FADT_GPE0_BLK 80u
#define FADT_PM1_EVT_LEN 88u
#define FADT_PM1_CNT_LEN 89u
#define FADT_PM_TMR_LEN 91u
#define FADT_GPE0_BLK_LEN 92u
#define FADT_P_LVL2_LAT 96u
#define FADT_P_LVL3_LAT 98u
#define FADT_CENTURY 108u
#define FADT_IAPC_BOOT_ARCH 109u
#define FADT_FLAGS 112u
#define FADT_RESET_REG 116u
#define FADT_RESET_VALUE 128u
#define FADT_MINOR_VERSION 131u
#define FADT_X_FIRMWARE_CTRL 132u
#define FADT_X_DSDT 140u
#define FADT_X_PM1A_EVT_BLK 148u
#define FADT_X_PM1A_CNT_BLK 172u
#define FADT_X_PM_TMR_BLK 208u
#define FADT_X_GPE0_BLK 220u

/* FADT flags (Table 5.10) and IA-PC boot architecture flags (Table 5.11). */
#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_SLP_BUTTON (1u << 5) /* no fixed-feature sleep button */
#define FADT_F_FIX_RTC (1u << 6)    /* no RTC wake status in the fixed registers */
#define FADT_F_TMR_VAL_EXT (1u << 8) /* the PM timer is 32 bits wide */
#define FADT_F_RESET_REG_SUP (1u << 10)
#define FADT_BOOT_LEGACY_DEVICES (1u << 0)
#define FADT_BOOT_8042 (1u << 1)
#define FADT_LAT_NO_C2 0x0fffu /* > 100: C2 not supported */
#define FADT_LAT_NO_C3 0x0fffu /* > 1000: C3 not supported */
#define ACPI_CMOS_CENTURY 0x32u

/* Generic Address Structure (5.2.3.2). */
#define GAS_SPACE_IO 1u
#define GAS_ACCESS_BYTE 1u
#define GAS_ACCESS_WORD 2u
#define GAS_ACCESS_DWORD 3u

/* MADT (5.2.12) structure types and MPS INTI flags (Table 5.26). */
#define MADT_REVISION 5u
#define MADT_PCAT_COMPAT 1u
#define MADT_LAPIC 0u
#define MADT_IOAPIC 1u
#define MADT_ISO 2u
#define MADT_LAPIC_NMI 4u
#define MADT_LAPIC_ENABLED 1u
#define MADT_INTI_CONFORMING 0x0u
#define MADT_INTI_LEVEL_HIGH 0xdu /* polarity 01 active high, trigger 11 level */
#define MADT_ALL_PROCESSORS 0xffu

#define PCI_SLOTS 32u
#define PCI_ISA_BRIDGE_ADR 0x00010000u /* device 1, function 0 */
#define PCI_HOLE64_ALIGN (1ull << 30)
#define FOUR_GIB (1ull << 32)

/* Builder state: the three files under construction and the loader commands, kept in three lists
 * so the script runs every ALLOCATE, then every ADD_POINTER, then every ADD_CHECKSUM. */
struct acpi_ctx {
    const struct acpi_platform *p;
    struct aml tables, rsdp;
    struct aml cmd_alloc, cmd_pointer, cmd_checksum;
    int err;
};

/* ---- small helpers ------------------------------------------------------------------------------- */

uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)(0u - sum);
}

unsigned acpi_pci_intx_gsi(unsigned slot, unsigned pin)
{
    static const unsigned pirq_gsi[4] = {ACPI_PIRQ_GSI_AB, ACPI_PIRQ_GSI_AB, ACPI_PIRQ_GSI_CD, ACPI_PIRQ_GSI_CD};
    return pirq_gsi[(slot + pin + 3u) & 3u]; /* (slot + pin - 1) mod 4 */
}

void acpi_pci_windows(const struct acpi_platform *p, uint64_t *lo32, uint64_t *lo64)
{
    uint64_t low = p->ram_size < ACPI_LOW_RAM_LIMIT ? p->ram_size : ACPI_LOW_RAM_LIMIT;
    uint64_t high_end = FOUR_GIB + (p->ram_size - low);
    *lo32 = low;
    *lo64 = (high_end + PCI_HOLE64_ALIGN - 1) & ~(PCI_HOLE64_ALIGN - 1);
}

/* Stores the low `n` bytes of `v` little-endian at `p`. */
static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes a Generic Address Structure for a System I/O register block at `p`. */
static void put_gas_io(uint8_t *p, unsigned bit_width, unsigned access, uint64_t port)
{
    p[0] = GAS_SPACE_IO;
    p[1] = (uint8_t)bit_width;
    p[2] = 0; /* bit offset */
    p[3] = (uint8_t)access;
    put_le(p + 4, port, 8);
}

/* Fills the 36-byte table header (5.2.6) with length 0 and checksum 0. */
static void put_header(uint8_t *p, const char sig[4], uint8_t revision)
{
    memset(p, 0, ACPI_HDR_LEN);
    memcpy(p, sig, 4);
    p[8] = revision;
    memcpy(p + 10, ACPI_OEM_ID, 6);
    memcpy(p + 16, ACPI_OEM_TABLE_PREFIX, 4);
    memcpy(p + 20, sig, 4);
    put_le(p + 24, 1, 4); /* OEM revision */
    memcpy(p + 28, ACPI_CREATOR_ID, 4);
    put_le(p + 32, 1, 4); /* creator revision */
}

/* Starts a variable-length table in `t`: a header with zero length and checksum. */
static void table_begin(struct aml *t, const char sig[4], uint8_t revision)
{
    uint8_t hdr[ACPI_HDR_LEN];
    put_header(hdr, sig, revision);
    aml_bytes(t, hdr, sizeof(hdr));
}

/* ---- loader commands ----------------------------------------------------------------------------- */

/* Copies a file name into a NUL-padded 56-byte field. */
static void put_file_name(uint8_t *p, const char *name)
{
    memset(p, 0, ACPI_LOADER_FILESZ);
    memcpy(p, name, strlen(name)); /* our names are short constants */
}

/* ALLOCATE: copy `file` into guest memory of `zone`, aligned to `align`. */
static void cmd_allocate(struct acpi_ctx *c, const char *file, uint32_t align, uint8_t zone)
{
    uint8_t e[ACPI_LOADER_ENTRY_SIZE] = {0};
    put_le(e, ACPI_LOADER_ALLOCATE, 4);
    put_file_name(e + 4, file);
    put_le(e + 60, align, 4);
    e[64] = zone;
    aml_bytes(&c->cmd_alloc, e, sizeof(e));
}

/* ADD_POINTER: add the guest address of `src` to the `size`-byte value at `offset` of `dest`. */
static void cmd_pointer(struct acpi_ctx *c, const char *dest, uint32_t offset, uint8_t size, const char *src)
{
    uint8_t e[ACPI_LOADER_ENTRY_SIZE] = {0};
    put_le(e, ACPI_LOADER_ADD_POINTER, 4);
    put_file_name(e + 4, dest);
    put_file_name(e + 60, src);
    put_le(e + 116, offset, 4);
    e[120] = size;
    aml_bytes(&c->cmd_pointer, e, sizeof(e));
}

/* ADD_CHECKSUM: make [start, start+len) of `file` sum to zero by adjusting the byte at `offset`. */
static void cmd_checksum(struct acpi_ctx *c, const char *file, uint32_t offset, uint32_t start, uint32_t len)
{
    uint8_t e[ACPI_LOADER_ENTRY_SIZE] = {0};
    put_le(e, ACPI_LOADER_ADD_CHECKSUM, 4);
    put_file_name(e + 4, file);
    put_le(e + 60, offset, 4);
    put_le(e + 64, start, 4);
    put_le(e + 68, len, 4);
    aml_bytes(&c->cmd_checksum, e, sizeof(e));
}

/* Appends a finished table (header first) to "etc/acpi/tables": sets its length and checksum,
 * queues its ADD_CHECKSUM and returns its offset in the file. */
static uint32_t table_add(struct acpi_ctx *c, uint8_t *t, size_t len, bool has_checksum)
{
    while (c->tables.len % ACPI_TABLE_ALIGN)
        aml_byte(&c->tables, 0);
    uint32_t off = (uint32_t)c->tables.len;
    put_le(t + 4, len, 4);
    if (has_checksum) {
        t[9] = 0;
        t[9] = acpi_checksum(t, len);
        cmd_checksum(c, ACPI_FILE_TABLES, off + 9, off, (uint32_t)len);
    }
    aml_bytes(&c->tables, t, len);
    return off;
}

/* As table_add, for a table built in an AML stream (whose error it inherits). */
static uint32_t table_add_aml(struct acpi_ctx *c, struct aml *t)
{
    if (t->err || t->len < ACPI_HDR_LEN) {
        if (!c->err)
            c->err = t->err ? t->err : -EINVAL;
        return 0;
    }
    return table_add(c, t->buf, t->len, true);
}

/* Sets the `size`-byte pointer at `field` of the table at `table_off` to the offset `target`
 * (already in the table bytes) and queues the ADD_POINTER that relocates it. */
static void table_pointer(struct acpi_ctx *c, uint32_t table_off, uint32_t field, uint8_t size)
{
    cmd_pointer(c, ACPI_FILE_TABLES, table_off + field, size, ACPI_FILE_TABLES);
}

/* ---- FACS (5.2.10) ------------------------------------------------------------------------------- */

/* The FACS: no S4BIOS, no 64-bit waking vector; OSPM owns the global lock and waking vector. */
static uint32_t build_facs(struct acpi_ctx *c)
{
    uint8_t t[ACPI_FACS_LEN] = {0};
    memcpy(t, "FACS", 4);
    t[32] = 2; /* version */
    /* No checksum field; it must start 64-byte aligned, which offset 0 of a 64-aligned file is. */
    return table_add(c, t, sizeof(t), false);
}

/* ---- DSDT (5.2.11.1) ----------------------------------------------------------------------------- */

/* Name (nm, Package (4) {typ, typ, 0, 0}): a sleep state's PM1a/PM1b SLP_TYP values (7.4.2). */
static void dsdt_sleep_state(struct aml *d, const char *nm, unsigned slp_typ)
{
    aml_name_decl(d, nm);
    size_t pkg = aml_package(d, 4);
    aml_int(d, slp_typ);
    aml_int(d, slp_typ);
    aml_int(d, 0);
    aml_int(d, 0);
    aml_close(d, pkg);
}

/* One processor device per vCPU (8.4, ACPI0007); _UID matches the MADT's ACPI Processor UID. */
static void dsdt_processors(struct aml *d, const struct acpi_platform *p)
{
    for (unsigned i = 0; i < p->ncpus; i++) {
        char nm[16];
        snprintf(nm, sizeof(nm), "C%03X", i & 0xfffu); /* i < ACPI_MAX_CPUS: three hex digits */
        size_t dev = aml_device(d, nm);
        aml_name_decl(d, "_HID");
        aml_string(d, "ACPI0007");
        aml_name_decl(d, "_UID");
        aml_int(d, i);
        aml_close(d, dev);
    }
}

/* The host bridge's _CRS (6.2.2): the bus range, the config ports, the I/O space around them, the
 * VGA window, the 32-bit PCI hole between RAM and the IOAPIC, and the 64-bit window (if any). */
static void dsdt_pci_crs(struct aml *d, const struct acpi_platform *p)
{
    struct aml rt;
    uint64_t lo32, lo64;
    aml_init(&rt);
    acpi_pci_windows(p, &lo32, &lo64);
    aml_rt_word_bus_number(&rt, 0x00, 0xff);
    aml_rt_io(&rt, true, 0x0cf8, 0x0cf8, 0x01, 0x08);
    aml_rt_dword_io(&rt, 0x0000, 0x0cf7);
    aml_rt_dword_io(&rt, 0x0d00, 0xffff);
    aml_rt_dword_memory(&rt, AML_RT_MEM_CACHEABLE, 0x000a0000, 0x000bffff);
    if (lo32 < ACPI_PCI_HOLE_END)
        aml_rt_dword_memory(&rt, AML_RT_MEM_NONCACHEABLE, (uint32_t)lo32, ACPI_PCI_HOLE_END - 1);
    if (p->pci_hole64_size)
        aml_rt_qword_memory(&rt, AML_RT_MEM_NONCACHEABLE, lo64, lo64 + p->pci_hole64_size - 1);
    aml_rt_end(&rt);
    aml_name_decl(d, "_CRS");
    aml_buffer(d, rt.buf, rt.len);
    if (rt.err)
        aml_append(d, &rt); /* passes the error on */
    aml_free(&rt);
}

/* The static _PRT (6.2.13): every INTx pin of slots 1-31 to its PIRQ's GSI. Source 0 means the
 * fourth element is a GSI (APIC mode) — and since the PIRQs are fixed to ISA IRQs 10 and 11, the
 * same numbers are right in PIC mode too. */
static void dsdt_pci_prt(struct aml *d)
{
    aml_name_decl(d, "_PRT");
    size_t prt = aml_package(d, (PCI_SLOTS - 1) * 4);
    for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            size_t e = aml_package(d, 4);
            aml_int(d, ((uint64_t)slot << 16) | 0xffff); /* _ADR form: any function of the slot */
            aml_int(d, pin);
            aml_int(d, 0);
            aml_int(d, acpi_pci_intx_gsi(slot, pin));
            aml_close(d, e);
        }
    }
    aml_close(d, prt);
}

/* Device (nm) { Name (_HID, EisaId (hid)) [Name (_UID, uid)] Name (_CRS, <rt>) }. */
static void dsdt_isa_device(struct aml *d, const char *nm, const char *hid, int uid, struct aml *rt)
{
    size_t dev = aml_device(d, nm);
    aml_name_decl(d, "_HID");
    aml_eisaid(d, hid);
    if (uid >= 0) {
        aml_name_decl(d, "_UID");
        aml_int(d, (uint64_t)uid);
    }
    aml_rt_end(rt);
    aml_name_decl(d, "_CRS");
    aml_buffer(d, rt->buf, rt->len);
    if (rt->err)
        aml_append(d, rt);
    aml_close(d, dev);
    aml_free(rt);
}

/* The PIIX3 ISA bridge (PCI 00:01.0) and the legacy devices behind it. */
static void dsdt_isa(struct aml *d, const struct acpi_platform *p)
{
    struct aml rt;
    size_t isa = aml_device(d, "ISA");
    aml_name_decl(d, "_ADR");
    aml_int(d, PCI_ISA_BRIDGE_ADR);

    aml_init(&rt);
    aml_rt_io(&rt, true, 0x0020, 0x0020, 0x01, 0x02);
    aml_rt_io(&rt, true, 0x00a0, 0x00a0, 0x01, 0x02);
    aml_rt_irq_noflags(&rt, 1u << 2);
    dsdt_isa_device(d, "PIC", "PNP0000", -1, &rt);

    aml_init(&rt);
    aml_rt_io(&rt, true, 0x0040, 0x0040, 0x01, 0x04);
    aml_rt_irq_noflags(&rt, 1u << 0);
    dsdt_isa_device(d, "TMR", "PNP0100", -1, &rt);

    if (p->rtc) {
        aml_init(&rt);
        aml_rt_io(&rt, true, 0x0070, 0x0070, 0x01, 0x02);
        aml_rt_irq_noflags(&rt, 1u << 8);
        dsdt_isa_device(d, "RTC", "PNP0B00", -1, &rt);
    }
    if (p->i8042) {
        aml_init(&rt);
        aml_rt_io(&rt, true, 0x0060, 0x0060, 0x01, 0x01);
        aml_rt_io(&rt, true, 0x0064, 0x0064, 0x01, 0x01);
        aml_rt_irq_noflags(&rt, 1u << 1);
        dsdt_isa_device(d, "KBD", "PNP0303", -1, &rt);

        aml_init(&rt);
        aml_rt_irq_noflags(&rt, 1u << 12);
        dsdt_isa_device(d, "MOU", "PNP0F13", -1, &rt);
    }
    if (p->com1) {
        aml_init(&rt);
        aml_rt_io(&rt, true, 0x03f8, 0x03f8, 0x01, 0x08);
        aml_rt_irq_noflags(&rt, 1u << 4);
        dsdt_isa_device(d, "COM1", "PNP0501", 1, &rt);
    }
    aml_close(d, isa);
}

/* The DSDT's AML: the PIC-mode flag and _PIC, the sleep states, the processors, and PCI0 with its
 * resources, routing and ISA bridge. PCI0 has a _HID and no _ADR: 6.1 allows one or the other. */
static void dsdt_body(struct aml *d, const struct acpi_platform *p)
{
    /* _PIC (5.8.1): the OS says which interrupt model it uses; the routing does not depend on it,
     * but firmware conventionally records it. */
    aml_name_decl(d, "PICF");
    aml_int(d, 0);
    size_t m = aml_method(d, "_PIC", 1, false);
    aml_store(d);
    aml_arg(d, 0);
    aml_name(d, "PICF");
    aml_close(d, m);

    dsdt_sleep_state(d, "_S0", 0);
    dsdt_sleep_state(d, "_S5", ACPI_SLP_TYP_S5);

    size_t sb = aml_scope(d, "\\_SB");
    dsdt_processors(d, p);
    size_t pci = aml_device(d, "PCI0");
    aml_name_decl(d, "_HID");
    aml_eisaid(d, "PNP0A03");
    aml_name_decl(d, "_UID");
    aml_int(d, 0);
    aml_name_decl(d, "_BBN");
    aml_int(d, 0);
    dsdt_pci_crs(d, p);
    dsdt_pci_prt(d);
    dsdt_isa(d, p);
    aml_close(d, pci);
    aml_close(d, sb);
}

/* The DSDT: revision 2, so integers are 64 bits wide. */
static uint32_t build_dsdt(struct acpi_ctx *c)
{
    struct aml d;
    aml_init(&d);
    table_begin(&d, "DSDT", 2);
    dsdt_body(&d, c->p);
    uint32_t off = table_add_aml(c, &d);
    aml_free(&d);
    return off;
}

/* ---- FADT (5.2.9) -------------------------------------------------------------------------------- */

/* The FADT, revision 6.5: the PM register blocks of the PM device, SCI on GSI 9, no SMI command
 * port (the hardware is in ACPI mode from power-on), the reset register, and the FACS and DSDT. */
static uint32_t build_fadt(struct acpi_ctx *c, uint32_t facs, uint32_t dsdt)
{
    const struct acpi_platform *p = c->p;
    uint8_t t[ACPI_FADT_LEN];
    put_header(t, "FACP", 6);
    memset(t + ACPI_HDR_LEN, 0, sizeof(t) - ACPI_HDR_LEN);
    put_le(t + FADT_FIRMWARE_CTRL, facs, 4);
    put_le(t + FADT_DSDT, dsdt, 4);
    put_le(t + FADT_SCI_INT, ACPI_SCI_GSI, 2);
    put_le(t + FADT_SMI_CMD, 0, 4);
    put_le(t + FADT_PM1A_EVT_BLK, ACPI_PM_BASE + ACPI_PM1_STS_OFF, 4);
    put_le(t + FADT_PM1A_CNT_BLK, ACPI_PM_BASE + ACPI_PM1_CNT_OFF, 4);
    put_le(t + FADT_PM_TMR_BLK, ACPI_PM_BASE + ACPI_PM_TMR_OFF, 4);
    put_le(t + FADT_GPE0_BLK, ACPI_GPE0_BASE, 4);
    t[FADT_PM1_EVT_LEN] = 4;
    t[FADT_PM1_CNT_LEN] = 2;
    t[FADT_PM_TMR_LEN] = 4;
    t[FADT_GPE0_BLK_LEN] = ACPI_GPE0_LEN;
    put_le(t + FADT_P_LVL2_LAT, FADT_LAT_NO_C2, 2);
    put_le(t + FADT_P_LVL3_LAT, FADT_LAT_NO_C3, 2);
    t[FADT_CENTURY] = p->rtc ? ACPI_CMOS_CENTURY : 0;
    put_le(t + FADT_IAPC_BOOT_ARCH, FADT_BOOT_LEGACY_DEVICES | (p->i8042 ? FADT_BOOT_8042 : 0u), 2);
    put_le(t + FADT_FLAGS,
           FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_FIX_RTC | FADT_F_TMR_VAL_EXT |
               FADT_F_RESET_REG_SUP,
           4);
    put_gas_io(t + FADT_RESET_REG, 8, GAS_ACCESS_BYTE, ACPI_PM_BASE + ACPI_RESET_OFF);
    t[FADT_RESET_VALUE] = ACPI_RESET_VALUE;
    t[FADT_MINOR_VERSION] = 5;
    put_le(t + FADT_X_FIRMWARE_CTRL, facs, 8);
    put_le(t + FADT_X_DSDT, dsdt, 8);
    put_gas_io(t + FADT_X_PM1A_EVT_BLK, 32, GAS_ACCESS_WORD, ACPI_PM_BASE + ACPI_PM1_STS_OFF);
    put_gas_io(t + FADT_X_PM1A_CNT_BLK, 16, GAS_ACCESS_WORD, ACPI_PM_BASE + ACPI_PM1_CNT_OFF);
    put_gas_io(t + FADT_X_PM_TMR_BLK, 32, GAS_ACCESS_DWORD, ACPI_PM_BASE + ACPI_PM_TMR_OFF);
    put_gas_io(t + FADT_X_GPE0_BLK, ACPI_GPE0_LEN * 8, GAS_ACCESS_BYTE, ACPI_GPE0_BASE);

    uint32_t off = table_add(c, t, sizeof(t), true);
    table_pointer(c, off, FADT_FIRMWARE_CTRL, 4);
    table_pointer(c, off, FADT_DSDT, 4);
    table_pointer(c, off, FADT_X_FIRMWARE_CTRL, 8);
    table_pointer(c, off, FADT_X_DSDT, 8);
    return off;
}

/* ---- MADT (5.2.12) ------------------------------------------------------------------------------- */

/* An Interrupt Source Override (5.2.12.5) of ISA IRQ `irq` to `gsi`. */
static void madt_iso(struct aml *t, uint8_t irq, uint32_t gsi, uint16_t flags)
{
    aml_byte(t, MADT_ISO);
    aml_byte(t, 10);
    aml_byte(t, 0); /* bus: ISA */
    aml_byte(t, irq);
    aml_le32(t, gsi);
    aml_le16(t, flags);
}

/* The MADT: a Local APIC per vCPU, the IOAPIC with GSIs from 0, the overrides (the PIT's IRQ 0 on
 * pin 2; the SCI and the PCI IRQs level-triggered, active high as KVM's lines are driven), and
 * LINT1 as NMI on every processor. IRQ 5, which QEMU also overrides, stays ISA-default here: PIRQ
 * routing is fixed to 10 and 11, so nothing level-triggered can use it. */
static uint32_t build_madt(struct acpi_ctx *c)
{
    static const uint8_t level_irqs[] = {ACPI_SCI_GSI, ACPI_PIRQ_GSI_AB, ACPI_PIRQ_GSI_CD};
    struct aml t;
    aml_init(&t);
    table_begin(&t, "APIC", MADT_REVISION);
    aml_le32(&t, ACPI_LAPIC_ADDR);
    aml_le32(&t, MADT_PCAT_COMPAT);
    for (unsigned i = 0; i < c->p->ncpus; i++) {
        aml_byte(&t, MADT_LAPIC);
        aml_byte(&t, 8);
        aml_byte(&t, (uint8_t)i); /* ACPI Processor UID */
        aml_byte(&t, (uint8_t)i); /* APIC ID */
        aml_le32(&t, MADT_LAPIC_ENABLED);
    }
    aml_byte(&t, MADT_IOAPIC);
    aml_byte(&t, 12);
    aml_byte(&t, ACPI_IOAPIC_ID);
    aml_byte(&t, 0);
    aml_le32(&t, ACPI_IOAPIC_ADDR);
    aml_le32(&t, 0); /* GSI base */
    madt_iso(&t, 0, 2, MADT_INTI_CONFORMING);
    for (size_t i = 0; i < sizeof(level_irqs); i++)
        madt_iso(&t, level_irqs[i], level_irqs[i], MADT_INTI_LEVEL_HIGH);
    aml_byte(&t, MADT_LAPIC_NMI);
    aml_byte(&t, 6);
    aml_byte(&t, MADT_ALL_PROCESSORS);
    aml_le16(&t, MADT_INTI_CONFORMING);
    aml_byte(&t, 1); /* LINT1 */
    uint32_t off = table_add_aml(c, &t);
    aml_free(&t);
    return off;
}

/* ---- RSDT, XSDT (5.2.7, 5.2.8), RSDP (5.2.5) ---------------------------------------------------- */

/* An RSDT (entry size 4) or XSDT (8) listing `n` tables at `offs`. */
static uint32_t build_sdt(struct acpi_ctx *c, const char sig[4], unsigned entry, const uint32_t *offs, unsigned n)
{
    struct aml t;
    aml_init(&t);
    table_begin(&t, sig, 1);
    for (unsigned i = 0; i < n; i++) {
        if (entry == 4)
            aml_le32(&t, offs[i]);
        else
            aml_le64(&t, offs[i]);
    }
    uint32_t off = table_add_aml(c, &t);
    aml_free(&t);
    for (unsigned i = 0; i < n; i++)
        table_pointer(c, off, ACPI_HDR_LEN + i * entry, (uint8_t)entry);
    return off;
}

/* The RSDP (revision 2) in its own file, which the loader puts in the F segment. */
static void build_rsdp(struct acpi_ctx *c, uint32_t rsdt, uint32_t xsdt)
{
    uint8_t r[ACPI_RSDP_LEN] = {0};
    memcpy(r, "RSD PTR ", 8);
    memcpy(r + 9, ACPI_OEM_ID, 6);
    r[15] = 2; /* revision: ACPI 2.0+ */
    put_le(r + 16, rsdt, 4);
    put_le(r + 20, ACPI_RSDP_LEN, 4);
    put_le(r + 24, xsdt, 8);
    r[8] = acpi_checksum(r, ACPI_RSDP_V1_LEN);
    r[32] = acpi_checksum(r, ACPI_RSDP_LEN);
    aml_bytes(&c->rsdp, r, sizeof(r));
    cmd_pointer(c, ACPI_FILE_RSDP, 16, 4, ACPI_FILE_TABLES);
    cmd_pointer(c, ACPI_FILE_RSDP, 24, 8, ACPI_FILE_TABLES);
    /* The 20-byte checksum first: the extended one covers it. */
    cmd_checksum(c, ACPI_FILE_RSDP, 8, 0, ACPI_RSDP_V1_LEN);
    cmd_checksum(c, ACPI_FILE_RSDP, 32, 0, ACPI_RSDP_LEN);
}

/* ---- the whole set ------------------------------------------------------------------------------- */

/* Checks that the platform is one the tables can describe. */
static int acpi_check_platform(const struct acpi_platform *p)
{
    uint64_t lo32, lo64;
    if (p->ncpus < 1 || p->ncpus > ACPI_MAX_CPUS || p->ram_size == 0 || p->ram_size > (1ull << 52))
        return -EINVAL;
    acpi_pci_windows(p, &lo32, &lo64);
    if (p->pci_hole64_size && (p->pci_hole64_size > (1ull << 52) || lo64 + p->pci_hole64_size - 1 >= (1ull << 52)))
        return -EINVAL;
    return 0;
}

/* Moves a finished stream into a malloc'ed blob. */
static int acpi_take(struct aml *a, uint8_t **out, size_t *len)
{
    if (a->err)
        return a->err;
    *out = a->buf;
    *len = a->len;
    a->buf = NULL;
    a->len = a->cap = 0;
    return 0;
}

int acpi_build(const struct acpi_platform *p, struct acpi_blobs *out)
{
    struct acpi_ctx c = {.p = p};
    int rc = acpi_check_platform(p);
    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    aml_init(&c.tables);
    aml_init(&c.rsdp);
    aml_init(&c.cmd_alloc);
    aml_init(&c.cmd_pointer);
    aml_init(&c.cmd_checksum);

    /* 64-byte alignment for the FACS at offset 0; the RSDP on a 16-byte boundary (5.2.5.1). */
    cmd_allocate(&c, ACPI_FILE_TABLES, 64, ACPI_LOADER_ZONE_HIGH);
    cmd_allocate(&c, ACPI_FILE_RSDP, 16, ACPI_LOADER_ZONE_FSEG);

    uint32_t facs = build_facs(&c);
    uint32_t dsdt = build_dsdt(&c);
    uint32_t sdt_entries[2];
    sdt_entries[0] = build_fadt(&c, facs, dsdt);
    sdt_entries[1] = build_madt(&c);
    uint32_t rsdt = build_sdt(&c, "RSDT", 4, sdt_entries, 2);
    uint32_t xsdt = build_sdt(&c, "XSDT", 8, sdt_entries, 2);
    build_rsdp(&c, rsdt, xsdt);

    struct aml loader;
    aml_init(&loader);
    aml_append(&loader, &c.cmd_alloc);
    aml_append(&loader, &c.cmd_pointer);
    aml_append(&loader, &c.cmd_checksum);

    rc = c.err;
    if (rc == 0)
        rc = acpi_take(&c.tables, &out->tables, &out->tables_len);
    if (rc == 0)
        rc = acpi_take(&c.rsdp, &out->rsdp, &out->rsdp_len);
    if (rc == 0)
        rc = acpi_take(&loader, &out->loader, &out->loader_len);
    if (rc)
        acpi_blobs_free(out);
    aml_free(&loader);
    aml_free(&c.tables);
    aml_free(&c.rsdp);
    aml_free(&c.cmd_alloc);
    aml_free(&c.cmd_pointer);
    aml_free(&c.cmd_checksum);
    return rc;
}

void acpi_blobs_free(struct acpi_blobs *b)
{
    free(b->tables);
    free(b->rsdp);
    free(b->loader);
    memset(b, 0, sizeof(*b));
}
