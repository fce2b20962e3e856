/* core/loader/loader.h — putting a guest image into RAM and describing the CPU state it starts in.
 * Formats: multiboot v1 (ELF32 and the a.out kludge), as QEMU's -kernel loads them, and a flat
 * binary at a given address. Images are hostile input: every offset and size is checked against the
 * file and against guest RAM. */
#ifndef MODVM_CORE_LOADER_H
#define MODVM_CORE_LOADER_H

#include <stddef.h>
#include <stdint.h>

struct pgm;

/** The entry state of the boot CPU. */
enum boot_mode {
    BOOT_MODE_RESET,  /* architectural reset (firmware at the reset vector) */
    BOOT_MODE_REAL,   /* real mode at cs_selector:rip */
    BOOT_MODE_PROT32, /* flat 32-bit protected mode, paging off, interrupts off */
};
struct boot_state {
    enum boot_mode mode;
    uint16_t cs_selector;
    uint64_t rip, rsp;
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
};

/** What to load. */
struct loader_request {
    const char *path;    /* the image file */
    const char *cmdline; /* --append (may be NULL) */
    int flat;            /* 1: flat binary at load_addr; 0: detect the format */
    uint64_t load_addr;  /* flat: where to put it and start */
    enum boot_mode flat_mode; /* flat: BOOT_MODE_REAL or BOOT_MODE_PROT32 */
};

/** Loads the image into guest RAM and fills the boot CPU's state. On failure: a negative errno and
 * one line in modvm_err_get() naming the file and what is wrong with it. */
int loader_load(struct pgm *pgm, const struct loader_request *req, struct boot_state *out);

/** Format loaders over an image already in memory (for tests and fuzzing). `name` names it in errors. */
int loader_multiboot(struct pgm *pgm, const char *name, const uint8_t *img, size_t len, const char *cmdline,
                     struct boot_state *out);
int loader_flat(struct pgm *pgm, const char *name, const uint8_t *img, size_t len, uint64_t addr,
                enum boot_mode mode, struct boot_state *out);
/** True when the image carries a valid multiboot v1 header in its first 8 KiB. */
int loader_is_multiboot(const uint8_t *img, size_t len);

#endif
