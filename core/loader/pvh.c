/* core/loader/pvh.c — the PVH direct boot ABI (Xen's docs/misc/pvh.pandoc and
 * xen/include/public/arch-x86/hvm/start_info.h), as QEMU's -kernel and Firecracker use it for Linux.
 *
 * The kernel is an ELF32 or ELF64 x86 image carrying an ELF note of owner "Xen", type 18
 * (XEN_ELFNOTE_PHYS32_ENTRY), whose descriptor is the 32-bit physical entry point. Its PT_LOAD
 * segments are copied to their physical addresses (bss zeroed). At LOADER_BOOT_INFO_ADDR goes
 * struct hvm_start_info, version 1: magic 0x336ec578, the command line, a module list whose entry
 * 0 is the initrd, and the memory map (core/e820.h's, as hvm_memmap_table_entry); no ACPI RSDP yet
 * (rsdp_paddr 0). The CPU starts in flat 32-bit protected mode, paging off, at the entry with
 * EBX = the start info's address. */
#include <errno.h>
#include <string.h>

#include "../e820.h"
#include "../err.h"
#include "../pgm.h"
#include "bootmem.h"
#include "loader.h"

#define PT_LOAD 1u
#define PT_NOTE 4u
#define SHT_NOTE 7u
#define EM_386 3u
#define EM_X86_64 62u
#define XEN_ELFNOTE_PHYS32_ENTRY 18u

/* struct hvm_start_info (56 bytes), hvm_modlist_entry (32), hvm_memmap_table_entry (24). */
#define SI_MAGIC 0x336ec578u
#define SI_SIZE 56u
#define SI_MODLIST_ADDR (LOADER_BOOT_INFO_ADDR + 0x40u)
#define SI_MEMMAP_ADDR (LOADER_BOOT_INFO_ADDR + 0x80u)
#define SI_AREA_SIZE (0x80u + 24u * E820_MAX_ENTRIES)

/* The parts of an ELF header the loader uses, class-independent. */
struct pvh_elf {
    int is64;
    uint64_t phoff, shoff;
    unsigned phentsize, phnum, shentsize, shnum;
};
/* One program header or section, class-independent (sections: paddr/memsz unused). */
struct pvh_seg {
    uint32_t type;
    uint64_t offset, paddr, filesz, memsz;
};

/* The ELF magic, whatever the class or machine (loader_pvh says what is wrong with it). */
int loader_is_elf(const uint8_t *img, size_t len)
{
    return len >= 4 && memcmp(img, "\x7f" "ELF", 4) == 0;
}

/* Reads and checks the ELF header: x86 or x86-64, little-endian, tables inside the file. */
static int pvh_elf_header(const struct loader_image *k, struct pvh_elf *e)
{
    const uint8_t *img = k->data;
    if (!loader_is_elf(img, k->len) || k->len < 52)
        return modvm_err_set(-ENOEXEC, "kernel '%s' is not an ELF file", k->name);
    e->is64 = img[4] == 2;
    unsigned machine = le_rd16(img + 18);
    if ((img[4] != 1 && img[4] != 2) || img[5] != 1 || (machine != EM_386 && machine != EM_X86_64))
        return modvm_err_set(-ENOEXEC, "kernel '%s' is an ELF file, but not a little-endian x86 one", k->name);
    if (e->is64) {
        if (k->len < 64)
            return modvm_err_set(-ENOEXEC, "kernel '%s': its ELF header is truncated", k->name);
        e->phoff = le_rd64(img + 0x20);
        e->shoff = le_rd64(img + 0x28);
        e->phentsize = le_rd16(img + 0x36);
        e->phnum = le_rd16(img + 0x38);
        e->shentsize = le_rd16(img + 0x3a);
        e->shnum = le_rd16(img + 0x3c);
    } else {
        e->phoff = le_rd32(img + 28);
        e->shoff = le_rd32(img + 32);
        e->phentsize = le_rd16(img + 42);
        e->phnum = le_rd16(img + 44);
        e->shentsize = le_rd16(img + 46);
        e->shnum = le_rd16(img + 48);
    }
    unsigned min_ph = e->is64 ? 56 : 32, min_sh = e->is64 ? 64 : 40;
    if (e->phnum && (e->phentsize < min_ph || e->phoff > k->len ||
                     (uint64_t)e->phnum * e->phentsize > k->len - e->phoff))
        return modvm_err_set(-ENOEXEC, "kernel '%s': its ELF program headers lie outside the file", k->name);
    /* Section headers are optional here (only searched for the note): ignore broken ones. */
    if (e->shentsize < min_sh || e->shoff > k->len || (uint64_t)e->shnum * e->shentsize > k->len - e->shoff)
        e->shnum = 0;
    return 0;
}

/* Program header i, normalised. */
static struct pvh_seg pvh_phdr(const struct loader_image *k, const struct pvh_elf *e, unsigned i)
{
    const uint8_t *p = k->data + e->phoff + (size_t)i * e->phentsize;
    if (e->is64)
        return (struct pvh_seg){.type = le_rd32(p), .offset = le_rd64(p + 8), .paddr = le_rd64(p + 0x18),
                                .filesz = le_rd64(p + 0x20), .memsz = le_rd64(p + 0x28)};
    return (struct pvh_seg){.type = le_rd32(p), .offset = le_rd32(p + 4), .paddr = le_rd32(p + 12),
                            .filesz = le_rd32(p + 16), .memsz = le_rd32(p + 20)};
}

/* Section header i as a segment (type, offset, size in filesz). */
static struct pvh_seg pvh_shdr(const struct loader_image *k, const struct pvh_elf *e, unsigned i)
{
    const uint8_t *p = k->data + e->shoff + (size_t)i * e->shentsize;
    if (e->is64)
        return (struct pvh_seg){.type = le_rd32(p + 4), .offset = le_rd64(p + 0x18), .filesz = le_rd64(p + 0x20)};
    return (struct pvh_seg){.type = le_rd32(p + 4), .offset = le_rd32(p + 16), .filesz = le_rd32(p + 20)};
}

/* Walks the notes in [off, off+size) of the file for Xen's PHYS32_ENTRY. Returns 1 and sets *entry
 * when found, 0 when absent, or a negative errno for a malformed entry note. */
static int pvh_scan_notes(const struct loader_image *k, uint64_t off, uint64_t size, uint32_t *entry)
{
    if (off > k->len || size > k->len - off)
        return 0; /* a note area outside the file holds nothing we can read */
    const uint8_t *p = k->data + off, *end = p + size;
    while ((size_t)(end - p) >= 12) {
        uint32_t namesz = le_rd32(p), descsz = le_rd32(p + 4), type = le_rd32(p + 8);
        uint64_t name_pad = ((uint64_t)namesz + 3) & ~3ull, desc_pad = ((uint64_t)descsz + 3) & ~3ull;
        const uint8_t *name = p + 12;
        if (name_pad > (uint64_t)(end - name) || desc_pad > (uint64_t)(end - name) - name_pad)
            return 0; /* a truncated note ends the walk */
        const uint8_t *desc = name + name_pad;
        if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && memcmp(name, "Xen", 4) == 0) {
            uint64_t v = descsz == 4 ? le_rd32(desc) : descsz == 8 ? le_rd64(desc) : UINT64_MAX;
            if (v > UINT32_MAX)
                return modvm_err_set(-ENOEXEC, "kernel '%s': its PVH entry note is malformed (%u-byte "
                                               "descriptor, or an entry above 4 GiB)", k->name, descsz);
            *entry = (uint32_t)v;
            return 1;
        }
        p = desc + desc_pad;
    }
    return 0;
}

/* Finds the PVH entry in PT_NOTE segments, then in SHT_NOTE sections. */
static int pvh_find_entry(const struct loader_image *k, const struct pvh_elf *e, uint32_t *entry)
{
    int rc = 0;
    for (unsigned i = 0; i < e->phnum && rc == 0; i++) {
        struct pvh_seg s = pvh_phdr(k, e, i);
        if (s.type == PT_NOTE)
            rc = pvh_scan_notes(k, s.offset, s.filesz, entry);
    }
    for (unsigned i = 0; i < e->shnum && rc == 0; i++) {
        struct pvh_seg s = pvh_shdr(k, e, i);
        if (s.type == SHT_NOTE)
            rc = pvh_scan_notes(k, s.offset, s.filesz, entry);
    }
    if (rc == 0)
        return modvm_err_set(-ENOEXEC, "kernel '%s' is an ELF file without a PVH entry note "
                                       "(XEN_ELFNOTE_PHYS32_ENTRY): use the bzImage or a kernel built with "
                                       "CONFIG_PVH", k->name);
    return rc < 0 ? rc : 0;
}

/* Checks every PT_LOAD segment (in the file, in RAM below 4 GiB, clear of the boot area) and
 * computes the end of the loaded kernel; copies them when `copy` is set. */
static int pvh_segments(struct pgm *pgm, const struct loader_image *k, const struct pvh_elf *e, int copy,
                        uint64_t *kernel_end)
{
    uint64_t ram_end = bootmem_low_ram_end(pgm);
    unsigned loaded = 0;
    *kernel_end = 0;
    for (unsigned i = 0; i < e->phnum; i++) {
        struct pvh_seg s = pvh_phdr(k, e, i);
        if (s.type != PT_LOAD || s.memsz == 0)
            continue;
        if (s.filesz > s.memsz || s.offset > k->len || s.filesz > k->len - s.offset)
            return modvm_err_set(-ENOEXEC, "kernel '%s': ELF segment %u lies outside the file or is malformed",
                                 k->name, i);
        if (s.paddr > ram_end || s.memsz > ram_end - s.paddr)
            return modvm_err_set(-E2BIG, "kernel '%s' is too big for guest RAM: segment %u needs 0x%llx-0x%llx, "
                                         "RAM below 4 GiB ends at 0x%llx (give the VM more --memory)", k->name,
                                 i, (unsigned long long)s.paddr, (unsigned long long)(s.paddr + s.memsz),
                                 (unsigned long long)ram_end);
        if (s.paddr < LOADER_BOOT_AREA_END)
            return modvm_err_set(-ENOEXEC, "kernel '%s': segment %u loads at 0x%llx, over modvm's boot "
                                           "information area below 0x%x", k->name, i,
                                 (unsigned long long)s.paddr, LOADER_BOOT_AREA_END);
        uint8_t *dst = pgm_phys_ptr(pgm, s.paddr, s.memsz);
        if (!dst)
            return modvm_err_set(-E2BIG, "kernel '%s': segment %u at 0x%llx is not in guest RAM", k->name, i,
                                 (unsigned long long)s.paddr);
        if (copy) {
            memcpy(dst, k->data + s.offset, s.filesz);
            memset(dst + s.filesz, 0, s.memsz - s.filesz);
        }
        if (s.paddr + s.memsz > *kernel_end)
            *kernel_end = s.paddr + s.memsz;
        loaded++;
    }
    if (!loaded)
        return modvm_err_set(-ENOEXEC, "kernel '%s': its ELF file has no loadable segment", k->name);
    return 0;
}

/* Writes hvm_start_info, the module list and the memory map. */
static int pvh_start_info(struct pgm *pgm, uint64_t initrd_addr, uint64_t initrd_len)
{
    uint8_t *si = pgm_phys_ptr(pgm, LOADER_BOOT_INFO_ADDR, SI_AREA_SIZE);
    if (!si)
        return modvm_err_set(-ENOMEM, "the guest has too little RAM for the PVH start info");
    memset(si, 0, SI_AREA_SIZE);
    struct e820_entry map[E820_MAX_ENTRIES];
    size_t n = 0;
    if (e820_build(pgm, map, E820_MAX_ENTRIES, &n) < 0)
        return modvm_err_set(-E2BIG, "the guest's memory map has %zu entries, more than modvm's %u", n,
                             E820_MAX_ENTRIES);
    uint8_t *mm = si + (SI_MEMMAP_ADDR - LOADER_BOOT_INFO_ADDR);
    for (size_t i = 0; i < n; i++) {
        le_wr64(mm + 24 * i, map[i].addr);
        le_wr64(mm + 24 * i + 8, map[i].size);
        le_wr32(mm + 24 * i + 16, map[i].type);
    }
    le_wr32(si + 0, SI_MAGIC);
    le_wr32(si + 4, 1); /* version */
    if (initrd_len) {
        uint8_t *mod = si + (SI_MODLIST_ADDR - LOADER_BOOT_INFO_ADDR);
        le_wr64(mod, initrd_addr);
        le_wr64(mod + 8, initrd_len);
        le_wr32(si + 12, 1); /* nr_modules */
        le_wr64(si + 16, SI_MODLIST_ADDR);
    }
    le_wr64(si + 24, LOADER_CMDLINE_ADDR);
    uint64_t a0, a1, rsdp;
    pgm_get_acpi_area(pgm, &a0, &a1, &rsdp);
    le_wr64(si + 32, rsdp); /* rsdp_paddr: 0 when the VM has no ACPI device */
    le_wr64(si + 40, SI_MEMMAP_ADDR);
    le_wr32(si + 48, (uint32_t)n);
    return 0;
}

/* Validates the segments before writing guest RAM, then loads and describes the entry (loader.h). */
int loader_pvh(struct pgm *pgm, const struct loader_image *kernel, const char *cmdline,
               const struct loader_image *initrd, struct boot_state *out)
{
    struct pvh_elf e;
    uint32_t entry = 0;
    uint64_t kernel_end = 0, initrd_addr = 0;
    int rc = pvh_elf_header(kernel, &e);
    if (rc == 0)
        rc = pvh_find_entry(kernel, &e, &entry);
    if (rc == 0)
        rc = pvh_segments(pgm, kernel, &e, 0, &kernel_end);
    if (rc == 0)
        rc = bootmem_write_cmdline(pgm, kernel->name, cmdline, LOADER_CMDLINE_MAX - 1);
    if (rc == 0 && initrd)
        rc = bootmem_place_initrd(pgm, initrd, kernel_end, bootmem_low_ram_end(pgm), "the end of RAM below 4 GiB",
                                  &initrd_addr);
    if (rc == 0)
        rc = pvh_segments(pgm, kernel, &e, 1, &kernel_end);
    if (rc == 0)
        rc = pvh_start_info(pgm, initrd_addr, initrd ? initrd->len : 0);
    struct boot_state bs = {.mode = BOOT_MODE_PROT32, .rip = entry, .rbx = LOADER_BOOT_INFO_ADDR,
                            .rsp = LOADER_STACK_TOP};
    if (rc == 0)
        rc = bootmem_write_gdt(pgm, 0, &bs);
    if (rc == 0)
        *out = bs;
    return rc;
}
