/* core/loader/acpi-place.h — puts the ACPI tables into guest RAM for a kernel booted without
 * firmware, by executing the "etc/table-loader" script the ACPI device published (QEMU's BIOSLinker
 * format, hw/acpi/bios-linker-loader.c) the way SeaBIOS does (src/fw/romfile_loader.c): ALLOCATE
 * copies a firmware file into the FSEG or HIGH zone, ADD_POINTER relocates a pointer by the guest
 * address of a file, ADD_CHECKSUM fixes a checksum byte. Spec for the RSDP check: ACPI 6.5, 5.2.5.
 *
 * Zones: FSEG allocations go upwards from `low_area` and must end at or below 1 MiB (the legacy
 * RSDP scan covers 0xE0000-0xFFFFF: pass low_area = 0xE0000 so the RSDP is found there too); HIGH
 * allocations go upwards from `high_area` and must lie in guest RAM. The two areas must not
 * overlap. Nothing is written to guest memory unless the whole script succeeds.
 *
 * The script is hostile input: a file name without its NUL, an unknown file, a file allocated
 * twice, an alignment that is not a power of two (or above 4 KiB), an unknown zone, a pointer or
 * checksum outside its file, a pointer of a width other than 1, 2, 4 or 8, a pointer value outside
 * the file it points into or one that no longer fits its width after relocation, a script of a
 * length that is not a multiple of 128 or of more than 4096 commands, and more than 64 MiB of
 * checksummed bytes in all are refused with one line via modvm_err_set. Unknown commands are
 * skipped, as firmware does (WRITE_POINTER among them: it writes back to the VMM through fw_cfg,
 * which a directly booted guest does not have). */
#ifndef MODVM_CORE_ACPI_PLACE_H
#define MODVM_CORE_ACPI_PLACE_H

#include <stdint.h>

struct pgm;
struct fw_files;

/** Where acpi_place_ex put things. */
struct acpi_place_result {
    uint64_t rsdp_gpa;              /* the "etc/acpi/rsdp" file */
    uint64_t low_start, low_end;    /* the FSEG zone's used bytes [start, end); equal when unused */
    uint64_t high_start, high_end;  /* the HIGH zone's used bytes (give them to the guest's e820 as
                                     * ACPI or reserved memory) */
};

/** Runs "etc/table-loader" from `fw` into `pgm` and returns the RSDP's guest address. -ENOENT when
 * there is no "etc/table-loader" (no ACPI device: nothing to do); other errors have their message
 * set. */
int acpi_place(struct pgm *pgm, struct fw_files *fw, uint64_t low_area, uint64_t high_area, uint64_t *rsdp_gpa);
/** As acpi_place, also reporting the extents used. */
int acpi_place_ex(struct pgm *pgm, struct fw_files *fw, uint64_t low_area, uint64_t high_area,
                  struct acpi_place_result *out);
/** Validates the script without guest memory and returns how many bytes each zone needs when its
 * area starts 4 KiB-aligned (so a caller can put the HIGH area just below the end of low RAM). */
int acpi_place_measure(struct fw_files *fw, uint64_t *low_size, uint64_t *high_size);

#endif
