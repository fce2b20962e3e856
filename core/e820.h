/* core/e820.h — the guest's physical memory map as the BIOS reports it (INT 15h, AX=E820h; ACPI 6.5
 * chapter 15 "System Address Map Interfaces"), built once from PGM's RAM regions and shared by
 * everything that hands a map to the guest: the fw_cfg file "etc/e820" that SeaBIOS reads (QEMU's
 * layout), and the direct kernel loaders (boot_params / hvm_start_info).
 *
 * The map (every RAM region of PGM; ROM regions are the firmware's to report):
 *   0       - 0x9FC00   RAM        conventional memory below the EBDA
 *   0x9FC00 - 0xA0000   reserved   the extended BIOS data area (1 KiB, as SeaBIOS and QEMU place it)
 *   0xF0000 - 0x100000  reserved   the system BIOS
 *   1 MiB   - end of low RAM       RAM (PGM ends it where the PCI hole starts), except the ACPI area
 *                                  PGM records for a directly booted kernel (pgm_set_acpi_area): ACPI
 *   4 GiB   - ...       RAM        the rest, above the hole
 * 0xA0000-0xF0000 (VGA window, option ROMs) is not listed: it is neither RAM to use nor reserved. */
#ifndef MODVM_CORE_E820_H
#define MODVM_CORE_E820_H

#include <stddef.h>
#include <stdint.h>

struct pgm;

/** Entry types (ACPI "Address Range Types"). */
#define E820_RAM 1u
#define E820_RESERVED 2u
#define E820_ACPI 3u
#define E820_NVS 4u

/** Entries a map of PGM's regions can need (each region adds at most 4). */
#define E820_MAX_ENTRIES 128u

/** Where the low reserved areas are. */
#define E820_EBDA_START 0x9fc00u
#define E820_LOW_END 0xa0000u
#define E820_BIOS_START 0xf0000u
#define E820_BIOS_END 0x100000u

/** One range. */
struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};

/** Bytes of one entry in QEMU's "etc/e820" fw_cfg file: {le64 addr, le64 len, le32 type}. */
#define E820_QEMU_ENTRY_SIZE 20u

/** Fills out[0..max) with the map of `pgm`'s RAM, sorted by address, and sets *count. -ENOSPC
 * (and *count = the entries needed) when max is too small. */
int e820_build(struct pgm *pgm, struct e820_entry *out, size_t max, size_t *count);

/** Writes `count` entries in the "etc/e820" layout to `out`, which holds count * E820_QEMU_ENTRY_SIZE
 * bytes; returns the bytes written. */
size_t e820_encode_qemu(const struct e820_entry *entries, size_t count, uint8_t *out);

#endif
