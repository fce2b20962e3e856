/* core/loader/loader.h — putting a guest image into RAM and describing the CPU state it starts in.
 * Formats, told apart by their signatures as QEMU's -kernel does:
 *   - Linux bzImage (x86 boot protocol 2.06+, Documentation/arch/x86/boot.rst): linux.c
 *   - multiboot v1 (ELF32 and the a.out kludge): multiboot.c
 *   - an ELF kernel with a PVH entry note (Xen's hvm_start_info ABI, e.g. a vmlinux built with
 *     CONFIG_PVH): pvh.c
 *   - a flat binary at a given address (--kernel-addr): flat.c
 * An initrd goes with the Linux formats and becomes module 0 of a multiboot kernel.
 * Images are hostile input: every offset and size is checked against the file and against guest RAM.
 *
 * Guest-physical layout of the boot structures (the Linux and PVH loaders; multiboot keeps its MBI
 * at 0x9000): a GDT at 0x500, the zero page (boot_params) or hvm_start_info with its memory map
 * and module list at 0x7000, the boot page tables at 0x9000-0xefff (long-mode entry only) and the
 * command line at 0x20000. All of it lies in the first MiB, which Linux reserves for itself and
 * only reuses after it has copied boot_params and the command line and switched to its own page
 * tables; so the e820 map shows it as RAM, as Firecracker and QEMU do. No kernel may load there.
 * Neither boot protocol promises a stack; modvm points RSP just below the boot information anyway. */
#ifndef MODVM_CORE_LOADER_H
#define MODVM_CORE_LOADER_H

#include <stddef.h>
#include <stdint.h>

struct pgm;

/** The entry state of the boot CPU. */
enum boot_mode {
    BOOT_MODE_RESET,  /* architectural reset (firmware at the reset vector) */
    BOOT_MODE_REAL,   /* real mode at cs_selector:rip */
    BOOT_MODE_PROT32, /* flat 32-bit protected mode, paging off, interrupts off; CS 0x10, DS..SS 0x18.
                       * With gdt_limit != 0 the GDTR points at the loader's GDT (gdt_base). */
    BOOT_MODE_LONG64, /* 64-bit long mode, interrupts off: CR0.PE|PG, CR4.PAE, EFER.LME|LMA, CR3 = cr3
                       * (the loader's identity-mapping page tables), GDTR = gdt_base/gdt_limit,
                       * CS 0x10 (64-bit code, L=1), DS/ES/SS/FS/GS 0x18 (flat data) — the Linux
                       * 64-bit boot protocol's entry state */
};
struct boot_state {
    enum boot_mode mode;
    uint16_t cs_selector;
    uint64_t rip, rsp;
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
    uint64_t cr3;       /* BOOT_MODE_LONG64 */
    uint64_t gdt_base;  /* BOOT_MODE_LONG64, and BOOT_MODE_PROT32 when gdt_limit != 0 */
    uint16_t gdt_limit;
};

/** Where the Linux and PVH loaders put their boot structures (see the banner). */
#define LOADER_GDT_ADDR 0x500u
#define LOADER_STACK_TOP 0x6ff0u      /* an initial RSP below it, though neither protocol needs one */
#define LOADER_BOOT_INFO_ADDR 0x7000u /* boot_params or hvm_start_info */
#define LOADER_PAGE_TABLE_ADDR 0x9000u
#define LOADER_PAGE_TABLE_END 0xf000u
#define LOADER_CMDLINE_ADDR 0x20000u
#define LOADER_CMDLINE_MAX 0x10000u   /* bytes, with the terminating NUL */
#define LOADER_BOOT_AREA_END 0x30000u /* kernels must load above this */
#define LOADER_SEL_CODE 0x10u
#define LOADER_SEL_DATA 0x18u

/** An image already in memory (the kernel or the initrd); `name` names it in errors. */
struct loader_image {
    const char *name;
    const uint8_t *data;
    size_t len;
};

/** What to load. */
struct loader_request {
    const char *path;    /* the image file */
    const char *cmdline; /* --append (may be NULL) */
    const char *initrd;  /* --initrd (may be NULL) */
    int flat;            /* 1: flat binary at load_addr; 0: detect the format */
    uint64_t load_addr;  /* flat: where to put it and start */
    enum boot_mode flat_mode; /* flat: BOOT_MODE_REAL or BOOT_MODE_PROT32 */
};

/** Reads a whole regular file of at most `limit` bytes into a malloc'ed buffer; `what` ("kernel",
 * "initrd", "firmware") names it in the one-line error. */
int loader_read_file(const char *what, const char *path, uint64_t limit, uint8_t **data, size_t *len);

/** Loads the image into guest RAM and fills the boot CPU's state. On failure: a negative errno and
 * one line in modvm_err_get() naming the file and what is wrong with it. */
int loader_load(struct pgm *pgm, const struct loader_request *req, struct boot_state *out);

/** Format loaders over an image already in memory (for tests and fuzzing). `name` names it in errors. */
int loader_multiboot(struct pgm *pgm, const char *name, const uint8_t *img, size_t len, const char *cmdline,
                     struct boot_state *out);
int loader_flat(struct pgm *pgm, const char *name, const uint8_t *img, size_t len, uint64_t addr,
                enum boot_mode mode, struct boot_state *out);
/** The multiboot loader with an initrd passed as module 0 (its string is the initrd's name), placed
 * page-aligned after the kernel as QEMU's -initrd does for multiboot kernels. initrd may be NULL. */
int loader_multiboot_initrd(struct pgm *pgm, const char *name, const uint8_t *img, size_t len,
                            const char *cmdline, const struct loader_image *initrd, struct boot_state *out);
/** True when the image carries a valid multiboot v1 header in its first 8 KiB. */
int loader_is_multiboot(const uint8_t *img, size_t len);

/** A Linux bzImage (boot protocol 2.06 or newer): protected-mode kernel at 0x100000 (or at
 * pref_address when relocatable and it fits), zero page, command line, initrd as high as
 * initrd_addr_max and RAM allow; entry through the 64-bit boot protocol (BOOT_MODE_LONG64 at
 * load + 0x200) when the kernel has XLF_KERNEL_64, else the 32-bit one (BOOT_MODE_PROT32 at the
 * load address). RSI/ESI = the zero page. cmdline and initrd may be NULL. */
int loader_bzimage(struct pgm *pgm, const struct loader_image *kernel, const char *cmdline,
                   const struct loader_image *initrd, struct boot_state *out);
/** True when the image carries the Linux boot header (boot_flag 0xAA55 and "HdrS"). */
int loader_is_bzimage(const uint8_t *img, size_t len);

/** An ELF32/ELF64 x86 kernel with a XEN_ELFNOTE_PHYS32_ENTRY note: PT_LOAD segments at their
 * physical addresses, hvm_start_info (version 1, memory map, initrd as module 0), entry in flat
 * 32-bit protected mode with EBX = the start info. An ELF without the note is refused. */
int loader_pvh(struct pgm *pgm, const struct loader_image *kernel, const char *cmdline,
               const struct loader_image *initrd, struct boot_state *out);
/** True when the image starts with the ELF magic. */
int loader_is_elf(const uint8_t *img, size_t len);

/** Firmware boot (firmware.c): an image (a whole number of 64 KiB blocks, at most 16 MiB) mapped as
 * ROM ending at 4 GiB, its last 128 KiB also the ROM side of the shadow window at 0xE0000-0xFFFFF
 * (pgm.h), where real-mode code reaches it until the chipset switches the window to RAM; the CPU
 * starts at the reset vector (BOOT_MODE_RESET). Path "seabios" means LOADER_SEABIOS_PATH (Debian's
 * seabios package). */
#define LOADER_SEABIOS_PATH "/usr/share/seabios/bios-256k.bin"
/** Reads the image and maps it (once per VM). On failure one line in modvm_err_get(). */
int loader_firmware_load(struct pgm *pgm, const char *path);

#endif
