/* core/loader/multiboot.c — multiboot v1 (Multiboot Specification 0.6.96) as QEMU's -kernel loads it:
 * ELF32 images by their program headers (physical addresses), or the a.out kludge when header flag
 * bit 16 gives the load addresses; then a multiboot information structure with memory sizes, the
 * e820-style memory map, the command line ("<kernel path> <append>", as QEMU passes it), the boot
 * loader name and, with --initrd, one module (QEMU's -initrd for multiboot kernels: the file
 * page-aligned after the kernel, its string the file name). The CPU starts in flat 32-bit protected mode with EAX = 0x2BADB002, EBX = the MBI. */
#include <errno.h>
#include <string.h>

#include "../e820.h"
#include "../err.h"
#include "../le.h"
#include "../pgm.h"
#include "loader.h"

#define MB_MAGIC 0x1BADB002u
#define MB_BOOT_MAGIC 0x2BADB002u
#define MB_SEARCH 8192u
#define MB_FLAG_MEMINFO_REQUIRED 0x2u
#define MB_FLAG_VIDEO 0x4u
#define MB_FLAG_ADDRS 0x10000u
#define MB_UNSUPPORTED_REQUIRED 0xfff8u /* required-feature bits 3-15 we do not know */

#define MBI_MEM 0x1u
#define MBI_MODS 0x8u
#define MBI_CMDLINE 0x4u
#define MBI_MMAP 0x40u
#define MBI_LOADER_NAME 0x200u

/* Where the MBI and its strings/map go: low memory below the EBDA, like QEMU's. */
#define MBI_BASE 0x9000u
#define MBI_AREA_END 0x9fc00u
#define LOW_RAM_END 0x9fc00u
#define EXT_RAM_START 0x100000u

struct mb_header {
    uint32_t magic, flags, checksum;
    uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

/* Finds the header in the first 8 KiB (4-byte aligned, checksum valid); returns its offset or -1. */
static long mb_find_header(const uint8_t *img, size_t len)
{
    size_t limit = len < MB_SEARCH ? len : MB_SEARCH;
    for (size_t off = 0; off + 12 <= limit; off += 4) {
        uint32_t magic = le_rd32(img + off), flags = le_rd32(img + off + 4), sum = le_rd32(img + off + 8);
        if (magic == MB_MAGIC && (uint32_t)(magic + flags + sum) == 0)
            return (long)off;
    }
    return -1;
}

int loader_is_multiboot(const uint8_t *img, size_t len)
{
    return mb_find_header(img, len) >= 0;
}

/* Refuses to put `what` over the ACPI tables the VM placed at the top of low RAM (pgm_set_acpi_area). */
static int mb_check_acpi(struct pgm *pgm, const char *name, const char *what, uint64_t gpa, uint64_t len)
{
    uint64_t a0, a1, rsdp;
    pgm_get_acpi_area(pgm, &a0, &a1, &rsdp);
    if (len && a0 < a1 && gpa < a1 && gpa + len > a0)
        return modvm_err_set(-ENOMEM, "%s '%s' at 0x%llx-0x%llx would overwrite the ACPI tables at 0x%llx-0x%llx "
                                      "(give the VM more --memory)", what, name, (unsigned long long)gpa,
                             (unsigned long long)(gpa + len), (unsigned long long)a0, (unsigned long long)a1);
    return 0;
}

/* Copies [src, src+len) of the image to guest RAM at gpa and zeroes up to memsz; raises *kend to
 * the end of what was placed. */
static int mb_place(struct pgm *pgm, const char *name, uint64_t gpa, const uint8_t *src, uint64_t len,
                    uint64_t memsz, uint64_t *kend)
{
    if (memsz < len || gpa + memsz < gpa || gpa + memsz > 0x100000000ull)
        return modvm_err_set(-ENOEXEC, "kernel '%s': a segment at 0x%llx of 0x%llx bytes is malformed", name,
                             (unsigned long long)gpa, (unsigned long long)memsz);
    uint8_t *dst = memsz ? pgm_phys_ptr(pgm, gpa, memsz) : NULL;
    if (memsz && !dst)
        return modvm_err_set(-ENOEXEC, "kernel '%s' needs memory at 0x%llx-0x%llx, outside guest RAM (give "
                                       "the VM more --memory)", name, (unsigned long long)gpa,
                             (unsigned long long)(gpa + memsz));
    if (gpa < MBI_AREA_END && gpa + memsz > MBI_BASE)
        return modvm_err_set(-ENOEXEC, "kernel '%s' loads at 0x%llx, over the boot information area "
                                       "0x%x-0x%x", name, (unsigned long long)gpa, MBI_BASE, MBI_AREA_END);
    int rc = mb_check_acpi(pgm, name, "kernel", gpa, memsz);
    if (rc < 0)
        return rc;
    memcpy(dst, src, len);
    memset(dst + len, 0, memsz - len);
    if (gpa + memsz > *kend)
        *kend = gpa + memsz;
    return 0;
}

/* Loads an ELF32 image by its PT_LOAD program headers; sets *entry (physical). */
static int mb_load_elf(struct pgm *pgm, const char *name, const uint8_t *img, size_t len, uint32_t *entry,
                       uint64_t *kend)
{
    if (len < 52 || memcmp(img, "\x7f" "ELF", 4) != 0)
        return modvm_err_set(-ENOEXEC, "kernel '%s' has a multiboot header but is neither ELF nor uses the "
                                       "header's load addresses (flag bit 16)", name);
    if (img[4] != 1 || img[5] != 1 || le_rd16(img + 18) != 3)
        return modvm_err_set(-ENOEXEC, "kernel '%s': multiboot ELF images must be 32-bit little-endian "
                                       "i386 (a 64-bit kernel needs the Linux boot protocol)", name);
    uint32_t phoff = le_rd32(img + 28), e_entry = le_rd32(img + 24);
    uint16_t phentsize = le_rd16(img + 42), phnum = le_rd16(img + 44);
    if (phentsize < 32 || phnum == 0 || phoff > len || (uint64_t)phnum * phentsize > len - phoff)
        return modvm_err_set(-ENOEXEC, "kernel '%s': its ELF program headers lie outside the file", name);
    *entry = e_entry;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = img + phoff + (size_t)i * phentsize;
        if (le_rd32(ph) != 1 /* PT_LOAD */)
            continue;
        uint32_t off = le_rd32(ph + 4), vaddr = le_rd32(ph + 8), paddr = le_rd32(ph + 12);
        uint32_t filesz = le_rd32(ph + 16), memsz = le_rd32(ph + 20);
        if (off > len || filesz > len - off)
            return modvm_err_set(-ENOEXEC, "kernel '%s': ELF segment %u lies outside the file", name, i);
        int rc = mb_place(pgm, name, paddr, img + off, filesz, memsz, kend);
        if (rc < 0)
            return rc;
        /* An entry given as a virtual address inside this segment is translated (QEMU does too). */
        if (vaddr != paddr && e_entry >= vaddr && e_entry - vaddr < memsz)
            *entry = paddr + (e_entry - vaddr);
    }
    return 0;
}

/* Loads an image by the header's a.out-kludge addresses; sets *entry. */
static int mb_load_kludge(struct pgm *pgm, const char *name, const uint8_t *img, size_t len, size_t hoff,
                          const struct mb_header *h, uint32_t *entry, uint64_t *kend)
{
    if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > hoff)
        return modvm_err_set(-ENOEXEC, "kernel '%s': multiboot header_addr/load_addr are inconsistent", name);
    size_t file_off = hoff - (h->header_addr - h->load_addr);
    uint64_t load_len = h->load_end_addr ? (uint64_t)h->load_end_addr - h->load_addr : len - file_off;
    if (h->load_end_addr && h->load_end_addr < h->load_addr)
        return modvm_err_set(-ENOEXEC, "kernel '%s': multiboot load_end_addr is below load_addr", name);
    if (load_len > len - file_off)
        return modvm_err_set(-ENOEXEC, "kernel '%s': multiboot load range is larger than the file", name);
    uint64_t end = h->bss_end_addr ? h->bss_end_addr : h->load_addr + load_len;
    if (end < h->load_addr + load_len)
        return modvm_err_set(-ENOEXEC, "kernel '%s': multiboot bss_end_addr is below the loaded image", name);
    *entry = h->entry_addr;
    return mb_place(pgm, name, h->load_addr, img + file_off, load_len, end - h->load_addr, kend);
}

/* Appends bytes to the MBI area at *cursor (bounded by MBI_AREA_END); returns their address. */
static uint32_t mb_put(uint8_t *area, uint32_t *cursor, const void *data, size_t len)
{
    uint32_t at = *cursor;
    if (at + len > MBI_AREA_END)
        return 0;
    memcpy(area + (at - MBI_BASE), data, len);
    *cursor = (uint32_t)((at + len + 3) & ~3u);
    return at;
}

/* Writes one 24-byte memory map entry (size field + base, length, type). */
static void mb_mmap_entry(uint8_t *e, uint64_t base, uint64_t length, uint32_t type)
{
    uint32_t v[6] = {20, (uint32_t)base, (uint32_t)(base >> 32), (uint32_t)length, (uint32_t)(length >> 32), type};
    memcpy(e, v, sizeof(v));
}

/* Copies the initrd page-aligned after the kernel (and above 1 MiB) as module 0; fills mod[4]
 * except the string address. */
static int mb_place_module(struct pgm *pgm, const struct loader_image *initrd, uint64_t kend, uint32_t mod[4])
{
    uint64_t at = ((kend > EXT_RAM_START ? kend : EXT_RAM_START) + 0xfff) & ~0xfffull;
    uint8_t *dst = initrd->len && at + initrd->len <= 0x100000000ull ? pgm_phys_ptr(pgm, at, initrd->len) : NULL;
    if (!initrd->len)
        return modvm_err_set(-EINVAL, "initrd '%s' is empty", initrd->name);
    if (dst && mb_check_acpi(pgm, initrd->name, "initrd", at, initrd->len) < 0)
        return -ENOMEM;
    if (!dst)
        return modvm_err_set(-E2BIG, "initrd '%s' (%zu bytes) does not fit in guest RAM after the kernel at "
                                     "0x%llx (give the VM more --memory)", initrd->name, initrd->len,
                             (unsigned long long)at);
    memcpy(dst, initrd->data, initrd->len);
    mod[0] = (uint32_t)at;
    mod[1] = (uint32_t)(at + initrd->len);
    return 0;
}

/* Builds the multiboot information structure (with module 0 = mod when initrd is set). */
static int mb_build_mbi(struct pgm *pgm, const char *name, const char *cmdline, const struct loader_image *initrd,
                        uint32_t mod[4], uint32_t *mbi_addr)
{
    uint8_t *area = pgm_phys_ptr(pgm, MBI_BASE, MBI_AREA_END - MBI_BASE);
    if (!area)
        return modvm_err_set(-ENOMEM, "the guest has too little RAM for the multiboot information");
    uint32_t cursor = MBI_BASE + 128; /* the MBI itself is 116 bytes */
    /* the memory map: the e820 map the other boot paths hand over, as 24-byte multiboot entries */
    struct e820_entry map[E820_MAX_ENTRIES];
    uint8_t mmap[E820_MAX_ENTRIES * 24];
    size_t n = 0;
    if (e820_build(pgm, map, E820_MAX_ENTRIES, &n) < 0)
        return modvm_err_set(-E2BIG, "kernel '%s': the memory map has too many entries", name);
    uint64_t below4g = 0;
    for (size_t i = 0; i < n; i++) {
        mb_mmap_entry(mmap + 24 * i, map[i].addr, map[i].size, map[i].type);
        if (map[i].type == E820_RAM && map[i].addr == EXT_RAM_START)
            below4g = map[i].addr + map[i].size; /* mem_upper: contiguous RAM from 1 MiB */
    }
    uint32_t mmap_addr = mb_put(area, &cursor, mmap, 24 * n);
    uint32_t cmd_addr = mb_put(area, &cursor, cmdline, strlen(cmdline) + 1);
    uint32_t name_addr = mb_put(area, &cursor, "modvm", 6);
    uint32_t mods_addr = 1;
    if (initrd) {
        mod[2] = mb_put(area, &cursor, initrd->name, strlen(initrd->name) + 1);
        mods_addr = mod[2] ? mb_put(area, &cursor, mod, 16) : 0;
    }
    if (!mmap_addr || !cmd_addr || !name_addr || !mods_addr)
        return modvm_err_set(-E2BIG, "kernel '%s': the command line (or the initrd's name) is too long for "
                                     "the multiboot information area", name);
    uint32_t mbi[29] = {0};
    mbi[0] = MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME;
    mbi[1] = LOW_RAM_END / 1024;
    mbi[2] = below4g > EXT_RAM_START ? (uint32_t)((below4g - EXT_RAM_START) / 1024) : 0;
    mbi[4] = cmd_addr;
    mbi[11] = (uint32_t)(24 * n);
    mbi[12] = mmap_addr;
    mbi[16] = name_addr;
    if (initrd) {
        mbi[0] |= MBI_MODS;
        mbi[5] = 1;
        mbi[6] = mods_addr;
    }
    memcpy(area, mbi, sizeof(mbi));
    *mbi_addr = MBI_BASE;
    return 0;
}

int loader_multiboot(struct pgm *pgm, const char *name, const uint8_t *img, size_t len, const char *cmdline,
                     struct boot_state *out)
{
    return loader_multiboot_initrd(pgm, name, img, len, cmdline, NULL, out);
}

int loader_multiboot_initrd(struct pgm *pgm, const char *name, const uint8_t *img, size_t len,
                            const char *cmdline, const struct loader_image *initrd, struct boot_state *out)
{
    long hoff = mb_find_header(img, len);
    if (hoff < 0)
        return modvm_err_set(-ENOEXEC, "kernel '%s' has no multiboot header", name);
    struct mb_header h = {0};
    size_t avail = len - (size_t)hoff < sizeof(h) ? len - (size_t)hoff : sizeof(h);
    for (size_t i = 0; i + 4 <= avail; i += 4)
        ((uint32_t *)&h)[i / 4] = le_rd32(img + hoff + i);
    if (h.flags & MB_UNSUPPORTED_REQUIRED)
        return modvm_err_set(-ENOTSUP, "kernel '%s' requires multiboot features modvm does not provide "
                                       "(flags 0x%x)", name, h.flags & MB_UNSUPPORTED_REQUIRED);
    if ((h.flags & MB_FLAG_ADDRS) && avail < sizeof(h))
        return modvm_err_set(-ENOEXEC, "kernel '%s': its multiboot header is truncated", name);
    uint32_t entry = 0, mod[4] = {0};
    uint64_t kend = 0;
    int rc = (h.flags & MB_FLAG_ADDRS) ? mb_load_kludge(pgm, name, img, len, (size_t)hoff, &h, &entry, &kend)
                                       : mb_load_elf(pgm, name, img, len, &entry, &kend);
    if (rc == 0 && initrd)
        rc = mb_place_module(pgm, initrd, kend, mod);
    uint32_t mbi = 0;
    if (rc == 0)
        rc = mb_build_mbi(pgm, name, cmdline, initrd, mod, &mbi);
    if (rc < 0)
        return rc;
    *out = (struct boot_state){.mode = BOOT_MODE_PROT32, .rip = entry, .rax = MB_BOOT_MAGIC, .rbx = mbi};
    return 0;
}
