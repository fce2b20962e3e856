/* tables.h — the ACPI tables of modvm's PC (i440fx + PIIX3, in-kernel IOAPIC/LAPICs) and the
 * QEMU-compatible loader script that places them in guest memory.
 *
 * Spec: ACPI 6.5, section 5.2 "ACPI System Description Tables" (RSDP 5.2.5, RSDT 5.2.7, XSDT 5.2.8,
 * FADT 5.2.9, FACS 5.2.10, DSDT 5.2.11.1, MADT 5.2.12) and section 4.8 "ACPI Hardware Features"
 * (the fixed-hardware register blocks the FADT describes). The loader script is QEMU's BIOSLinker
 * format (QEMU hw/acpi/bios-linker-loader.c), which SeaBIOS and OVMF execute.
 *
 * The build is a pure function of `struct acpi_platform`, so tests can call it without a VM. */
#ifndef MODVM_ACPI_TABLES_H
#define MODVM_ACPI_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the platform's fixed-hardware registers (what the PM device implements) -------------------- */

#define ACPI_PM_BASE 0x600u /* QEMU's PIIX4 PM I/O base, which SeaBIOS-era guests know */
#define ACPI_PM_LEN 16u
#define ACPI_PM1_STS_OFF 0x0u /* PM1a_EVT_BLK: status (16 bits) then enable (16 bits) */
#define ACPI_PM1_EN_OFF 0x2u
#define ACPI_PM1_CNT_OFF 0x4u /* PM1a_CNT_BLK, 16 bits */
#define ACPI_PM_TMR_OFF 0x8u  /* PM_TMR_BLK, 32-bit counter */
#define ACPI_RESET_OFF 0xcu   /* the FADT's RESET_REG: one byte */
#define ACPI_RESET_VALUE 0x06u
#define ACPI_GPE0_BASE 0xafe0u /* GPE0_BLK: status (16 bits) then enable (16 bits) */
#define ACPI_GPE0_LEN 4u
#define ACPI_SCI_GSI 9u
#define ACPI_SLP_TYP_S5 5u /* the PM1_CNT.SLP_TYP value of \_S5 */

/* ---- the interrupt and memory map ------------------------------------------------------------- */

#define ACPI_LAPIC_ADDR 0xfee00000u
#define ACPI_IOAPIC_ADDR 0xfec00000u
#define ACPI_IOAPIC_ID 0u /* what KVM's in-kernel IOAPIC reports in its ID register after reset */
#define ACPI_MAX_CPUS 254u /* xAPIC IDs 0..253 (255 is broadcast); more would need x2APIC entries */
#define ACPI_PCI_HOLE_END 0xfec00000u /* the 32-bit PCI window ends below the IOAPIC */
#define ACPI_LOW_RAM_LIMIT 0xe0000000ull /* RAM above this goes to 4 GiB (core/pgm.c) */
#define ACPI_PIRQ_GSI_AB 10u /* PIIX3 PIRQA/B, fixed at power-on */
#define ACPI_PIRQ_GSI_CD 11u /* PIIX3 PIRQC/D */

/* ---- fw-file names (QEMU's, which SeaBIOS looks for) ------------------------------------------- */

#define ACPI_FILE_TABLES "etc/acpi/tables"
#define ACPI_FILE_RSDP "etc/acpi/rsdp"
#define ACPI_FILE_LOADER "etc/table-loader"

/* ---- BIOSLinker loader commands (QEMU hw/acpi/bios-linker-loader.c) ----------------------------- */

#define ACPI_LOADER_ENTRY_SIZE 128u
#define ACPI_LOADER_FILESZ 56u /* file names, NUL-padded */
#define ACPI_LOADER_ALLOCATE 1u
#define ACPI_LOADER_ADD_POINTER 2u
#define ACPI_LOADER_ADD_CHECKSUM 3u
#define ACPI_LOADER_ZONE_HIGH 1u
#define ACPI_LOADER_ZONE_FSEG 2u

/** What the tables describe. */
struct acpi_platform {
    unsigned ncpus;           /* 1..ACPI_MAX_CPUS: APIC IDs and processor UIDs 0..ncpus-1 */
    uint64_t ram_size;        /* bytes: below ACPI_LOW_RAM_LIMIT, the rest from 4 GiB */
    uint64_t pci_hole64_size; /* bytes of 64-bit PCI window above RAM (0: none) */
    bool com1, rtc, i8042;    /* which ISA devices the DSDT lists */
};

/** The three fw files (malloc'ed; acpi_blobs_free releases them). */
struct acpi_blobs {
    uint8_t *tables, *rsdp, *loader;
    size_t tables_len, rsdp_len, loader_len;
};

/** Builds every table, the RSDP and the loader script. 0, -EINVAL for a platform the tables
 * cannot describe, or -ENOMEM. */
int acpi_build(const struct acpi_platform *p, struct acpi_blobs *out);
void acpi_blobs_free(struct acpi_blobs *b);

/** The value that makes the bytes of [p, p+len) sum to zero when stored in a byte of that range
 * holding 0 (5.2.6 "Checksum"). */
uint8_t acpi_checksum(const uint8_t *p, size_t len);

/** The GSI an INTx pin (0 = INTA .. 3 = INTD) of PCI slot `slot` reaches on the PIIX3: PIRQ
 * (slot + pin - 1) mod 4 — slot 1 INTA on PIRQA, as QEMU's board and SeaBIOS wire it — with
 * PIRQA-D fixed to ISA IRQs 10, 10, 11, 11. */
unsigned acpi_pci_intx_gsi(unsigned slot, unsigned pin);

/** The 32-bit and 64-bit PCI windows of the host bridge's _CRS: [*lo32, ACPI_PCI_HOLE_END) and
 * [*lo64, *lo64 + pci_hole64_size) (0 size: none). */
void acpi_pci_windows(const struct acpi_platform *p, uint64_t *lo32, uint64_t *lo64);

#endif
