/* core/loader/linux.c — Linux bzImage, per the x86 boot protocol (Documentation/arch/x86/boot.rst)
 * and the zero page layout (Documentation/arch/x86/zero-page.rst), protocol 2.06 or newer.
 *
 * The real-mode setup code is not run: modvm acts as a 32/64-bit boot loader. It copies the setup
 * header into a zeroed boot_params ("zero page") at LOADER_BOOT_INFO_ADDR, fills the fields a boot
 * loader owns (type_of_loader, cmd_line_ptr, ramdisk_image/size, vid_mode, code32_start, the e820
 * table), loads the protected-mode kernel at 0x100000 — or at pref_address when the kernel is
 * relocatable and fits there, which spares the decompressor a copy — and enters it through the
 * 64-bit boot protocol (XLF_KERNEL_64: long mode at load + 0x200 with identity page tables and the
 * __BOOT_CS/__BOOT_DS GDT, RSI = boot_params) or else the 32-bit one (flat protected mode at the
 * load address, ESI = boot_params, EBX/EBP/EDI = 0). */
#include <errno.h>
#include <string.h>

#include "../e820.h"
#include "../err.h"
#include "../pgm.h"
#include "bootmem.h"
#include "loader.h"

/* Setup header fields: offsets in the image's first sector and in boot_params alike. */
#define HDR_START 0x1f1u
#define HDR_SETUP_SECTS 0x1f1u
#define HDR_SYSSIZE 0x1f4u
#define HDR_VID_MODE 0x1fau
#define HDR_BOOT_FLAG 0x1feu
#define HDR_JUMP 0x200u
#define HDR_MAGIC 0x202u
#define HDR_VERSION 0x206u
#define HDR_TYPE_OF_LOADER 0x210u
#define HDR_LOADFLAGS 0x211u
#define HDR_CODE32_START 0x214u
#define HDR_RAMDISK_IMAGE 0x218u
#define HDR_RAMDISK_SIZE 0x21cu
#define HDR_CMD_LINE_PTR 0x228u
#define HDR_INITRD_ADDR_MAX 0x22cu
#define HDR_KERNEL_ALIGNMENT 0x230u
#define HDR_RELOCATABLE 0x234u
#define HDR_XLOADFLAGS 0x236u
#define HDR_CMDLINE_SIZE 0x238u
#define HDR_SETUP_DATA 0x250u
#define HDR_PREF_ADDRESS 0x258u
#define HDR_INIT_SIZE 0x260u

/* The fields each protocol version needs in the header (end offsets). */
#define HDR_END_2_06 0x23cu /* through cmdline_size */
#define HDR_END_2_10 0x264u /* through init_size */
#define HDR_END_MAX 0x290u  /* where boot_params' setup_header area ends (edd_mbr_sig_buffer follows) */

/* boot_params fields outside the setup header. */
#define BP_SIZE 0x1000u
#define BP_ACPI_RSDP_ADDR 0x070u /* boot protocol 2.14 */
#define BP_EXT_RAMDISK_IMAGE 0x0c0u
#define BP_EXT_RAMDISK_SIZE 0x0c4u
#define BP_EXT_CMD_LINE_PTR 0x0c8u
#define BP_E820_ENTRIES 0x1e8u
#define BP_E820_TABLE 0x2d0u
#define BP_E820_MAX 128u

#define LOADFLAG_LOADED_HIGH 0x01u
#define XLF_KERNEL_64 0x01u
#define BOOT_MAGIC 0x53726448u /* "HdrS" */
#define LOADER_TYPE_UNDEFINED 0xffu
#define KERNEL_LOW_ADDR 0x100000u
#define ENTRY_64_OFFSET 0x200u

/* What the header says, validated. */
struct bz_header {
    uint16_t version;
    size_t hdr_end;            /* end of the setup header in the image */
    size_t pm_offset, pm_size; /* the protected-mode kernel in the file */
    uint32_t initrd_addr_max, kernel_alignment, cmdline_size, init_size;
    uint64_t pref_address;
    int relocatable, kernel64;
};

/* The Linux boot header's two signatures: boot_flag and "HdrS". */
int loader_is_bzimage(const uint8_t *img, size_t len)
{
    return len >= HDR_MAGIC + 4 && le_rd16(img + HDR_BOOT_FLAG) == 0xaa55 &&
           le_rd32(img + HDR_MAGIC) == BOOT_MAGIC;
}

/* Parses and validates the setup header; one clear line on failure. */
static int bz_parse(const struct loader_image *k, struct bz_header *h)
{
    const uint8_t *img = k->data;
    if (!loader_is_bzimage(img, k->len))
        return modvm_err_set(-ENOEXEC, "kernel '%s' is not a Linux bzImage (no boot header)", k->name);
    memset(h, 0, sizeof(*h));
    if (k->len < HDR_VERSION + 2)
        return modvm_err_set(-ENOEXEC, "kernel '%s': its Linux boot header is truncated", k->name);
    h->version = le_rd16(img + HDR_VERSION);
    if (h->version < 0x206)
        return modvm_err_set(-ENOTSUP, "kernel '%s': Linux boot protocol %u.%02u is too old (modvm needs 2.06 "
                                       "or newer, Linux 2.6.22 and later)", k->name, h->version >> 8,
                             h->version & 0xff);
    h->hdr_end = HDR_JUMP + 2 + img[HDR_JUMP + 1];
    size_t need = h->version >= 0x20a ? HDR_END_2_10 : HDR_END_2_06;
    if (h->hdr_end < need || h->hdr_end > k->len)
        return modvm_err_set(-ENOEXEC, "kernel '%s': its Linux boot header is truncated or inconsistent "
                                       "(it ends at 0x%zx)", k->name, h->hdr_end);
    if (!(img[HDR_LOADFLAGS] & LOADFLAG_LOADED_HIGH))
        return modvm_err_set(-ENOTSUP, "kernel '%s' is a zImage (loaded low); modvm boots only bzImages",
                             k->name);
    unsigned setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
    h->pm_offset = (size_t)(setup_sects + 1) * 512;
    uint64_t syssize = (uint64_t)le_rd32(img + HDR_SYSSIZE) * 16;
    if (h->pm_offset >= k->len || syssize > k->len - h->pm_offset)
        return modvm_err_set(-ENOEXEC, "kernel '%s' is truncated: its header promises %u setup sectors and "
                                       "%llu bytes of kernel, the file has %zu bytes", k->name, setup_sects,
                             (unsigned long long)syssize, k->len);
    h->pm_size = k->len - h->pm_offset;
    h->initrd_addr_max = le_rd32(img + HDR_INITRD_ADDR_MAX);
    h->kernel_alignment = le_rd32(img + HDR_KERNEL_ALIGNMENT);
    h->relocatable = img[HDR_RELOCATABLE] != 0;
    h->cmdline_size = le_rd32(img + HDR_CMDLINE_SIZE);
    if (h->version >= 0x20a) {
        h->pref_address = le_rd64(img + HDR_PREF_ADDRESS);
        h->init_size = le_rd32(img + HDR_INIT_SIZE);
    }
    h->kernel64 = h->version >= 0x20c && (le_rd16(img + HDR_XLOADFLAGS) & XLF_KERNEL_64);
    return 0;
}

/* Chooses where the protected-mode kernel goes and checks the memory it will need: the image
 * itself, and init_size bytes from where the kernel decompresses (pref_address or above). */
static int bz_place(struct pgm *pgm, const struct loader_image *k, const struct bz_header *h, uint64_t *load,
                    uint64_t *kernel_end)
{
    uint64_t ram_end = bootmem_low_ram_end(pgm);
    uint64_t run = h->pref_address > KERNEL_LOW_ADDR ? h->pref_address : KERNEL_LOW_ADDR;
    uint64_t span = h->init_size > h->pm_size ? h->init_size : h->pm_size;
    uint64_t align = h->kernel_alignment;
    int aligned = align == 0 || (align & (align - 1)) != 0 || (h->pref_address & (align - 1)) == 0;
    *load = KERNEL_LOW_ADDR;
    if (h->relocatable && h->pref_address >= KERNEL_LOW_ADDR && aligned && h->pref_address <= ram_end &&
        span <= ram_end - h->pref_address)
        *load = h->pref_address;
    if (*load > ram_end || h->pm_size > ram_end - *load || run > ram_end || h->init_size > ram_end - run)
        return modvm_err_set(-E2BIG, "kernel '%s' is too big for guest RAM: %zu bytes of image at 0x%llx and "
                                     "init_size 0x%x at 0x%llx, but RAM below 4 GiB ends at 0x%llx (give the "
                                     "VM more --memory)", k->name, h->pm_size, (unsigned long long)*load,
                             h->init_size, (unsigned long long)run, (unsigned long long)ram_end);
    uint64_t image_end = *load + h->pm_size, run_end = run + h->init_size;
    *kernel_end = image_end > run_end ? image_end : run_end;
    return 0;
}

/* Fills the zero page: the image's setup header, the loader's fields and the e820 table. */
static int bz_zero_page(struct pgm *pgm, const struct loader_image *k, const struct bz_header *h, uint64_t load,
                        uint64_t initrd_addr, uint64_t initrd_len)
{
    uint8_t *bp = pgm_phys_ptr(pgm, LOADER_BOOT_INFO_ADDR, BP_SIZE);
    if (!bp)
        return modvm_err_set(-ENOMEM, "the guest has too little RAM for the Linux zero page");
    memset(bp, 0, BP_SIZE);
    memcpy(bp + HDR_START, k->data + HDR_START, (h->hdr_end < HDR_END_MAX ? h->hdr_end : HDR_END_MAX) - HDR_START);
    bp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
    le_wr16(bp + HDR_VID_MODE, 0xffff); /* "normal": no VGA, the console is the serial port */
    le_wr32(bp + HDR_CODE32_START, (uint32_t)load);
    le_wr32(bp + HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
    le_wr32(bp + HDR_RAMDISK_SIZE, (uint32_t)initrd_len);
    le_wr32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
    le_wr32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_len >> 32));
    le_wr32(bp + HDR_CMD_LINE_PTR, LOADER_CMDLINE_ADDR);
    le_wr32(bp + BP_EXT_CMD_LINE_PTR, 0);
    if (h->hdr_end >= HDR_SETUP_DATA + 8)
        le_wr64(bp + HDR_SETUP_DATA, 0); /* no setup_data chain */
    struct e820_entry map[BP_E820_MAX];
    size_t n = 0;
    if (e820_build(pgm, map, BP_E820_MAX, &n) < 0)
        return modvm_err_set(-E2BIG, "the guest's memory map has %zu entries, more than the zero page's %u", n,
                             BP_E820_MAX);
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = bp + BP_E820_TABLE + 20 * i;
        le_wr64(e, map[i].addr);
        le_wr64(e + 8, map[i].size);
        le_wr32(e + 16, map[i].type);
    }
    bp[BP_E820_ENTRIES] = (uint8_t)n;
    uint64_t a0, a1, rsdp;
    pgm_get_acpi_area(pgm, &a0, &a1, &rsdp);
    if (h->version >= 0x20e) /* older kernels find the RSDP by the legacy scan of 0xE0000-0xFFFFF */
        le_wr64(bp + BP_ACPI_RSDP_ADDR, rsdp);
    return 0;
}

/* Validates everything before writing guest RAM, then loads and describes the entry (loader.h). */
int loader_bzimage(struct pgm *pgm, const struct loader_image *kernel, const char *cmdline,
                   const struct loader_image *initrd, struct boot_state *out)
{
    struct bz_header h;
    uint64_t load = 0, kernel_end = 0, initrd_addr = 0;
    int rc = bz_parse(kernel, &h);
    if (rc == 0)
        rc = bz_place(pgm, kernel, &h, &load, &kernel_end);
    if (rc == 0)
        rc = bootmem_write_cmdline(pgm, kernel->name, cmdline, h.cmdline_size);
    if (rc == 0 && initrd) {
        uint64_t ram_end = bootmem_low_ram_end(pgm), max = (uint64_t)h.initrd_addr_max + 1;
        rc = bootmem_place_initrd(pgm, initrd, kernel_end, max < ram_end ? max : ram_end,
                                  max < ram_end ? "the kernel's initrd_addr_max" : "the end of RAM below 4 GiB",
                                  &initrd_addr);
    }
    if (rc < 0)
        return rc;
    uint8_t *dst = pgm_phys_ptr(pgm, load, h.pm_size);
    if (!dst)
        return modvm_err_set(-E2BIG, "kernel '%s' is too big for guest RAM at 0x%llx", kernel->name,
                             (unsigned long long)load);
    memcpy(dst, kernel->data + h.pm_offset, h.pm_size);
    rc = bz_zero_page(pgm, kernel, &h, load, initrd_addr, initrd ? initrd->len : 0);
    struct boot_state bs = {.rsi = LOADER_BOOT_INFO_ADDR, .rsp = LOADER_STACK_TOP};
    if (rc == 0)
        rc = bootmem_write_gdt(pgm, h.kernel64, &bs);
    if (rc == 0 && h.kernel64) {
        rc = bootmem_write_page_tables(pgm, &bs);
        bs.mode = BOOT_MODE_LONG64;
        bs.rip = load + ENTRY_64_OFFSET;
    } else {
        bs.mode = BOOT_MODE_PROT32;
        bs.rip = load;
    }
    if (rc == 0)
        *out = bs;
    return rc;
}
