/* core/loader/bootmem.h — what the Linux (bzImage) and PVH loaders share: the boot GDT with Linux's
 * __BOOT_CS/__BOOT_DS selectors (Documentation/arch/x86/boot.rst), identity-mapping page tables for
 * the 64-bit entry (Intel SDM vol. 3A §4.5), and the placement of the command line and the initrd.
 * The e820 map comes from core/e820.h, the one map every consumer gets. Internal to core/loader. */
#ifndef MODVM_CORE_LOADER_BOOTMEM_H
#define MODVM_CORE_LOADER_BOOTMEM_H

#include <stddef.h>
#include <stdint.h>

#include "../le.h"
#include "loader.h"

struct pgm;

/** The end of the usable guest RAM that starts at address 0 (RAM below 4 GiB, up to the ACPI area). */
uint64_t bootmem_low_ram_end(struct pgm *pgm);

/** Writes the boot GDT at LOADER_GDT_ADDR (null, null, code at 0x10 — 64-bit when `long_mode`, else
 * flat 32-bit — and flat data at 0x18) and records it in *bs. -ENOMEM when RAM is too small. */
int bootmem_write_gdt(struct pgm *pgm, int long_mode, struct boot_state *bs);

/** Writes page tables at LOADER_PAGE_TABLE_ADDR identity-mapping the first 4 GiB with 2 MiB pages
 * (PML4, one PDPT, four page directories) and sets bs->cr3. */
int bootmem_write_page_tables(struct pgm *pgm, struct boot_state *bs);

/** Copies the command line (NULL = empty) with its NUL to LOADER_CMDLINE_ADDR; `max_len` bounds its
 * length without the NUL (the kernel's cmdline_size). Errors name the kernel. */
int bootmem_write_cmdline(struct pgm *pgm, const char *kernel_name, const char *cmdline, uint64_t max_len);

/** Places the initrd page-aligned as high as possible: it must start at or after `kernel_end` and
 * end at or below `limit` (exclusive; the caller passes min(initrd_addr_max + 1, RAM end)). */
int bootmem_place_initrd(struct pgm *pgm, const struct loader_image *initrd, uint64_t kernel_end,
                         uint64_t limit, const char *limit_what, uint64_t *addr);

#endif
