/* core/loader/bootmem.c — boot structures shared by the Linux bzImage and PVH loaders: the boot GDT with the selectors the
 * Linux boot protocol requires (__BOOT_CS = 0x10, __BOOT_DS = 0x18, Documentation/arch/x86/boot.rst),
 * 4-level identity page tables for the 64-bit entry (Intel SDM vol. 3A §4.5), and command line and
 * initrd placement. See loader.h for the guest-physical layout. */
#include <errno.h>
#include <string.h>

#include "../err.h"
#include "../pgm.h"
#include "bootmem.h"

/* The RAM region at guest-physical 0 (PGM puts RAM below 4 GiB there). */
uint64_t bootmem_low_ram_end(struct pgm *pgm)
{
    for (size_t i = 0; i < pgm_mem_region_count(pgm); i++) {
        const struct pgm_mem_region *r = pgm_mem_region_at(pgm, i);
        if (!r->readonly && r->gpa == 0) {
            uint64_t a0, a1, rsdp;
            pgm_get_acpi_area(pgm, &a0, &a1, &rsdp);
            return a0 < a1 && a0 < r->size ? a0 : r->size; /* the ACPI tables sit at the top */
        }
    }
    return 0;
}

/* Writes the four-entry boot GDT and points bs at it. */
int bootmem_write_gdt(struct pgm *pgm, int long_mode, struct boot_state *bs)
{
    /* Descriptors: base 0, limit 0xfffff pages, present, DPL 0. Code: type 0xb (execute/read,
     * accessed), G=1 and D=1 (32-bit) or L=1 (64-bit). Data: type 0x3 (read/write, accessed). */
    const uint64_t gdt[4] = {0, 0, long_mode ? 0x00af9b000000ffffull : 0x00cf9b000000ffffull,
                             0x00cf93000000ffffull};
    uint8_t *p = pgm_phys_ptr(pgm, LOADER_GDT_ADDR, sizeof(gdt));
    if (!p)
        return modvm_err_set(-ENOMEM, "the guest has too little RAM for the boot GDT");
    for (size_t i = 0; i < 4; i++)
        le_wr64(p + 8 * i, gdt[i]);
    bs->gdt_base = LOADER_GDT_ADDR;
    bs->gdt_limit = sizeof(gdt) - 1;
    return 0;
}

/* PML4 -> one PDPT -> four page directories of 2 MiB pages: 0-4 GiB 1:1, read/write. */
int bootmem_write_page_tables(struct pgm *pgm, struct boot_state *bs)
{
    enum { PTE_P = 0x1, PTE_RW = 0x2, PTE_PS = 0x80 };
    uint8_t *pt = pgm_phys_ptr(pgm, LOADER_PAGE_TABLE_ADDR, LOADER_PAGE_TABLE_END - LOADER_PAGE_TABLE_ADDR);
    if (!pt)
        return modvm_err_set(-ENOMEM, "the guest has too little RAM for the boot page tables");
    memset(pt, 0, LOADER_PAGE_TABLE_END - LOADER_PAGE_TABLE_ADDR);
    const uint64_t pml4 = LOADER_PAGE_TABLE_ADDR, pdpt = pml4 + 0x1000, pd = pdpt + 0x1000;
    le_wr64(pt, pdpt | PTE_P | PTE_RW);
    for (uint64_t i = 0; i < 4; i++)
        le_wr64(pt + (pdpt - pml4) + 8 * i, (pd + 0x1000 * i) | PTE_P | PTE_RW);
    for (uint64_t i = 0; i < 4 * 512; i++)
        le_wr64(pt + (pd - pml4) + 8 * i, (i << 21) | PTE_P | PTE_RW | PTE_PS);
    bs->cr3 = pml4;
    return 0;
}

/* Copies the command line, bounded by the kernel's limit and modvm's area. */
int bootmem_write_cmdline(struct pgm *pgm, const char *kernel_name, const char *cmdline, uint64_t max_len)
{
    if (!cmdline)
        cmdline = "";
    size_t len = strlen(cmdline);
    if (max_len > LOADER_CMDLINE_MAX - 1)
        max_len = LOADER_CMDLINE_MAX - 1;
    if (len > max_len)
        return modvm_err_set(-E2BIG, "kernel '%s': the command line (%zu bytes) is longer than the %llu "
                                     "bytes the kernel accepts", kernel_name, len, (unsigned long long)max_len);
    uint8_t *p = pgm_phys_ptr(pgm, LOADER_CMDLINE_ADDR, len + 1);
    if (!p)
        return modvm_err_set(-ENOMEM, "the guest has too little RAM for the kernel command line");
    memcpy(p, cmdline, len + 1);
    return 0;
}

/* Copies the initrd to the highest page-aligned address that fits between the kernel and limit. */
int bootmem_place_initrd(struct pgm *pgm, const struct loader_image *initrd, uint64_t kernel_end,
                         uint64_t limit, const char *limit_what, uint64_t *addr)
{
    if (initrd->len == 0)
        return modvm_err_set(-EINVAL, "initrd '%s' is empty", initrd->name);
    uint64_t top = limit & ~0xfffull;
    kernel_end = (kernel_end + 0xfff) & ~0xfffull;
    if (kernel_end > top || initrd->len > top - kernel_end)
        return modvm_err_set(-E2BIG, "initrd '%s' (%zu bytes) does not fit between the kernel's end 0x%llx "
                                     "and %s 0x%llx (give the VM more --memory)", initrd->name, initrd->len,
                             (unsigned long long)kernel_end, limit_what, (unsigned long long)limit);
    uint64_t at = (top - initrd->len) & ~0xfffull;
    uint8_t *dst = pgm_phys_ptr(pgm, at, initrd->len);
    if (!dst)
        return modvm_err_set(-E2BIG, "initrd '%s' (%zu bytes) does not fit in guest RAM at 0x%llx",
                             initrd->name, initrd->len, (unsigned long long)at);
    memcpy(dst, initrd->data, initrd->len);
    *addr = at;
    return 0;
}
