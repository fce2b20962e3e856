/* tests/unit/test-linux-loader.c — the Linux loaders on images built here: synthetic bzImages (x86
 * boot protocol, Documentation/arch/x86/boot.rst and zero-page.rst) and synthetic PVH ELFs (Xen's
 * hvm_start_info ABI, xen/include/public/arch-x86/hvm/start_info.h), plus the multiboot initrd
 * module and the format detection of loader_load. Checked: the zero page and start info fields, the
 * e820 map, command line, initrd placement, the entry state (mode, registers, GDT, identity page
 * tables), one clear line for every refusal, and hostile images — every truncation and random
 * corruption is refused or loaded consistently, never a crash (the suite also runs under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/err.h"
#include "../../core/loader/loader.h"
#include "../../core/pgm.h"

#define RAM (64ull << 20)
#define ZP 0x7000u

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}
static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static uint16_t get16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static struct pgm *new_pgm(uint64_t size)
{
    struct pgm *pgm;
    assert_int_equal(pgm_create(size, &pgm), 0);
    return pgm;
}

static uint8_t *ram(struct pgm *pgm, uint64_t gpa, size_t len)
{
    uint8_t *p = pgm_phys_ptr(pgm, gpa, len);
    assert_non_null(p);
    return p;
}

/* Asserts a refusal with a one-line message containing `needle`. */
static void assert_refused(int rc, const char *needle)
{
    assert_true(rc < 0);
    const char *msg = modvm_err_get();
    if (needle && !strstr(msg, needle))
        fail_msg("message '%s' lacks '%s'", msg, needle);
    assert_null(strchr(msg, '\n'));
}

/* ---- synthetic bzImages --------------------------------------------------------------------- */

struct bz_opts {
    uint16_t version;
    uint8_t loadflags, relocatable, setup_sects;
    uint16_t xloadflags;
    uint32_t pm_size, init_size, initrd_addr_max, cmdline_size, kernel_alignment;
    uint64_t pref_address;
};

static struct bz_opts bz_defaults(void)
{
    return (struct bz_opts){.version = 0x20f, .loadflags = 0x01, .relocatable = 1, .setup_sects = 4,
                            .xloadflags = 0x1, .pm_size = 0x3000, .init_size = 0x200000,
                            .initrd_addr_max = 0x7fffffff, .cmdline_size = 2047,
                            .kernel_alignment = 0x200000, .pref_address = 0x1000000};
}

/* A bzImage: boot sector + setup sectors, then the protected-mode kernel (a byte pattern with
 * "ENTRY64" at +0x200). Returns its length. */
static size_t make_bz(uint8_t *img, size_t cap, const struct bz_opts *o)
{
    unsigned sects = o->setup_sects ? o->setup_sects : 4;
    size_t pm_off = (size_t)(sects + 1) * 512, len = pm_off + o->pm_size;
    assert_true(len <= cap);
    memset(img, 0, len);
    img[0x1f1] = o->setup_sects;
    put32(img + 0x1f4, o->pm_size / 16);
    put16(img + 0x1fa, 0xfffd); /* "ask": the loader must override it */
    put16(img + 0x1fe, 0xaa55);
    img[0x200] = 0xeb;
    img[0x201] = 0x6a; /* header ends at 0x26c */
    memcpy(img + 0x202, "HdrS", 4);
    put16(img + 0x206, o->version);
    img[0x211] = o->loadflags;
    put32(img + 0x214, 0x100000);
    put32(img + 0x22c, o->initrd_addr_max);
    put32(img + 0x230, o->kernel_alignment);
    img[0x234] = o->relocatable;
    img[0x235] = 21;
    put16(img + 0x236, o->xloadflags);
    put32(img + 0x238, o->cmdline_size);
    put64(img + 0x250, 0xdeadbeef); /* a setup_data pointer the loader must clear */
    put64(img + 0x258, o->pref_address);
    put32(img + 0x260, o->init_size);
    for (size_t i = 0; i < o->pm_size; i++)
        img[pm_off + i] = (uint8_t)(i * 7 + 1);
    if (o->pm_size >= 0x208)
        memcpy(img + pm_off + 0x200, "ENTRY64", 7);
    return len;
}

static uint8_t bzimg[0x10000];

/* Loads a bzImage built from `o` with `cmdline` and an optional initrd. */
static int load_bz(struct pgm *pgm, const struct bz_opts *o, const char *cmdline, const struct loader_image *initrd,
                   struct boot_state *bs)
{
    size_t len = make_bz(bzimg, sizeof(bzimg), o);
    struct loader_image k = {.name = "bz", .data = bzimg, .len = len};
    modvm_err_clear();
    return loader_bzimage(pgm, &k, cmdline, initrd, bs);
}

/* Walks the 4-level page tables at cr3 for `va`; returns the physical address or UINT64_MAX. */
static uint64_t walk(struct pgm *pgm, uint64_t cr3, uint64_t va)
{
    uint64_t table = cr3 & ~0xfffull;
    for (int level = 3; level >= 0; level--) {
        uint64_t e = get64(ram(pgm, table + 8 * ((va >> (12 + 9 * level)) & 511), 8));
        if (!(e & 1) || !(e & 2))
            return UINT64_MAX;
        if (level == 1 && (e & 0x80))
            return (e & 0x000fffffffe00000ull) | (va & 0x1fffff);
        if (level == 0)
            return (e & 0x000ffffffffff000ull) | (va & 0xfff);
        table = e & 0x000ffffffffff000ull;
    }
    return UINT64_MAX;
}

static void bz64_zero_page_and_entry(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    struct bz_opts o = bz_defaults();
    struct boot_state bs;
    assert_int_equal(load_bz(pgm, &o, "console=ttyS0 quiet", NULL, &bs), 0);
    /* Relocatable and it fits: loaded at pref_address, entered at +0x200 in long mode. */
    assert_int_equal(bs.mode, BOOT_MODE_LONG64);
    assert_int_equal(bs.rip, 0x1000200);
    assert_memory_equal(ram(pgm, 0x1000200, 7), "ENTRY64", 7);
    assert_memory_equal(ram(pgm, 0x1000000, o.pm_size), bzimg + 5 * 512, o.pm_size);
    assert_int_equal(bs.rsi, ZP);
    assert_int_equal(bs.cr3, LOADER_PAGE_TABLE_ADDR);
    assert_int_equal(bs.gdt_base, LOADER_GDT_ADDR);
    assert_int_equal(bs.gdt_limit, 31);
    const uint8_t *zp = ram(pgm, ZP, 0x1000);
    assert_memory_equal(zp + 0x1f1, bzimg + 0x1f1, 0x1fa - 0x1f1); /* the header, but vid_mode */
    assert_memory_equal(zp + 0x1fc, bzimg + 0x1fc, 0x210 - 0x1fc); /* ... up to type_of_loader */
    assert_memory_equal(zp + 0x230, bzimg + 0x230, 0x250 - 0x230);
    assert_memory_equal(zp + 0x202, "HdrS", 4);
    assert_int_equal(get16(zp + 0x206), 0x20f);
    assert_int_equal(zp[0x210], 0xff);            /* type_of_loader: undefined */
    assert_int_equal(get16(zp + 0x1fa), 0xffff);  /* vid_mode: normal */
    assert_int_equal(zp[0x0f], 0);                /* orig_video_isVGA */
    assert_int_equal(get32(zp + 0x214), 0x1000000); /* code32_start = load address */
    assert_int_equal(get32(zp + 0x218), 0);       /* no initrd */
    assert_int_equal(get32(zp + 0x21c), 0);
    assert_int_equal(get32(zp + 0x228), LOADER_CMDLINE_ADDR);
    assert_int_equal(get32(zp + 0xc8), 0);
    assert_int_equal(get64(zp + 0x250), 0);       /* setup_data cleared */
    assert_int_equal(get32(zp + 0x260), o.init_size);
    assert_string_equal((const char *)ram(pgm, get32(zp + 0x228), 20), "console=ttyS0 quiet");
    for (size_t i = 0x26c; i < 0x1000; i++)       /* nothing beyond the header but the e820 table */
        if (i < 0x2d0 || i >= 0x2d0 + 4 * 20)
            assert_int_equal(zp[i], 0);
    /* e820 (core/e820.h): RAM 0-0x9fc00, the EBDA and the BIOS reserved, RAM 1 MiB-64 MiB. */
    assert_int_equal(zp[0x1e8], 4);
    static const uint64_t want[4][3] = {{0, 0x9fc00, 1}, {0x9fc00, 0x400, 2}, {0xf0000, 0x10000, 2},
                                        {0x100000, RAM - 0x100000, 1}};
    for (int i = 0; i < 4; i++) {
        const uint8_t *e = zp + 0x2d0 + 20 * i;
        assert_int_equal(get64(e), want[i][0]);
        assert_int_equal(get64(e + 8), want[i][1]);
        assert_int_equal(get32(e + 16), want[i][2]);
    }
    pgm_destroy(pgm);
}

static void bz64_gdt_and_page_tables(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    struct bz_opts o = bz_defaults();
    struct boot_state bs;
    assert_int_equal(load_bz(pgm, &o, NULL, NULL, &bs), 0);
    const uint8_t *gdt = ram(pgm, bs.gdt_base, 32);
    assert_int_equal(get64(gdt), 0);
    uint64_t cs = get64(gdt + 0x10), ds = get64(gdt + 0x18);
    assert_int_equal((cs >> 40) & 0xff, 0x9b); /* present, DPL 0, code execute/read */
    assert_int_equal((cs >> 53) & 1, 1);       /* L */
    assert_int_equal((cs >> 54) & 1, 0);       /* D must be 0 with L */
    assert_int_equal((ds >> 40) & 0xff, 0x93); /* present, data read/write */
    assert_int_equal((ds >> 55) & 1, 1);       /* 4 KiB granularity: 4 GiB limit */
    assert_int_equal(ds & 0xffff, 0xffff);
    /* The page tables map the first 4 GiB 1:1 and nothing else. */
    const uint64_t probes[] = {0, 0x1000, ZP, LOADER_CMDLINE_ADDR, 0x100000, 0x1000200, 0x3fffffff, 0x40000000,
                               0x7fffe123, 0xc0000000, 0xfee00000, 0xffffffff};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
        assert_int_equal(walk(pgm, bs.cr3, probes[i]), probes[i]);
    for (uint64_t va = 0; va < (1ull << 32); va += 0x1fff000)
        assert_int_equal(walk(pgm, bs.cr3, va), va);
    assert_int_equal(walk(pgm, bs.cr3, 0x100000000ull), UINT64_MAX);
    /* The tables lie where loader.h says, clear of the zero page and the command line. */
    assert_true(bs.cr3 >= ZP + 0x1000 && bs.cr3 + 0x6000 <= LOADER_CMDLINE_ADDR);
    pgm_destroy(pgm);
}

static void bz32_entry_when_not_64bit(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    struct bz_opts o = bz_defaults();
    o.xloadflags = 0;  /* no XLF_KERNEL_64 */
    o.relocatable = 0; /* stays at 1 MiB */
    struct boot_state bs;
    memset(&bs, 0x55, sizeof(bs));
    assert_int_equal(load_bz(pgm, &o, "x", NULL, &bs), 0);
    assert_int_equal(bs.mode, BOOT_MODE_PROT32);
    assert_int_equal(bs.rip, 0x100000);
    assert_int_equal(bs.rsi, ZP);
    assert_int_equal(bs.rbx, 0);
    assert_int_equal(bs.rbp, 0);
    assert_int_equal(bs.rdi, 0);
    assert_int_equal(bs.gdt_base, LOADER_GDT_ADDR);
    uint64_t cs = get64(ram(pgm, LOADER_GDT_ADDR + 0x10, 8));
    assert_int_equal((cs >> 54) & 1, 1); /* D: 32-bit code */
    assert_int_equal((cs >> 53) & 1, 0);
    assert_int_equal(get32(ram(pgm, ZP + 0x214, 4)), 0x100000);
    assert_memory_equal(ram(pgm, 0x100000, o.pm_size), bzimg + 5 * 512, o.pm_size);
    /* Protocol 2.11 has no xloadflags: 0x236 is not read even if set. */
    o.version = 0x20b;
    o.xloadflags = 1;
    assert_int_equal(load_bz(pgm, &o, "x", NULL, &bs), 0);
    assert_int_equal(bs.mode, BOOT_MODE_PROT32);
    pgm_destroy(pgm);
}

static void bz_load_address_choice(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    struct bz_opts o = bz_defaults();
    struct boot_state bs;
    o.pref_address = 0x1100000; /* not aligned to kernel_alignment: stay at 1 MiB */
    assert_int_equal(load_bz(pgm, &o, NULL, NULL, &bs), 0);
    assert_int_equal(bs.rip, 0x100200);
    o = bz_defaults();
    o.relocatable = 0;
    assert_int_equal(load_bz(pgm, &o, NULL, NULL, &bs), 0);
    assert_int_equal(bs.rip, 0x100200);
    o = bz_defaults();
    o.version = 0x209; /* no pref_address/init_size before 2.10 */
    o.xloadflags = 0;
    assert_int_equal(load_bz(pgm, &o, NULL, NULL, &bs), 0);
    assert_int_equal(bs.rip, 0x100000);
    assert_int_equal(bs.mode, BOOT_MODE_PROT32);
    o = bz_defaults();
    o.setup_sects = 0; /* means 4 */
    assert_int_equal(load_bz(pgm, &o, NULL, NULL, &bs), 0);
    assert_memory_equal(ram(pgm, 0x1000200, 7), "ENTRY64", 7);
    o.setup_sects = 9;
    assert_int_equal(load_bz(pgm, &o, NULL, NULL, &bs), 0);
    assert_memory_equal(ram(pgm, 0x1000000, o.pm_size), bzimg + 10 * 512, o.pm_size);
    pgm_destroy(pgm);
}

static void bz_refusals(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    struct bz_opts o = bz_defaults();
    struct boot_state bs;
    o.version = 0x205;
    assert_refused(load_bz(pgm, &o, NULL, NULL, &bs), "too old");
    o.version = 0x201;
    assert_refused(load_bz(pgm, &o, NULL, NULL, &bs), "protocol 2.01 is too old");
    o = bz_defaults();
    o.loadflags = 0;
    assert_refused(load_bz(pgm, &o, NULL, NULL, &bs), "zImage");
    o = bz_defaults();
    o.init_size = 0x4000000; /* 16 MiB + 64 MiB > RAM */
    assert_refused(load_bz(pgm, &o, NULL, NULL, &bs), "too big for guest RAM");
    o = bz_defaults();
    o.relocatable = 0;
    o.init_size = 0xffffffff;
    assert_refused(load_bz(pgm, &o, NULL, NULL, &bs), "too big for guest RAM");
    o = bz_defaults();
    o.pref_address = UINT64_MAX - 0x1000;
    assert_refused(load_bz(pgm, &o, NULL, NULL, &bs), "too big for guest RAM");
    o = bz_defaults();
    o.cmdline_size = 5;
    assert_refused(load_bz(pgm, &o, "123456", NULL, &bs), "command line");
    assert_int_equal(load_bz(pgm, &o, "12345", NULL, &bs), 0);
    /* A command line longer than modvm's area, even when the kernel would take it. */
    o.cmdline_size = 0xffffffff;
    char *big = malloc(LOADER_CMDLINE_MAX + 1);
    memset(big, 'a', LOADER_CMDLINE_MAX);
    big[LOADER_CMDLINE_MAX] = '\0';
    assert_refused(load_bz(pgm, &o, big, NULL, &bs), "command line");
    big[LOADER_CMDLINE_MAX - 1] = '\0';
    assert_int_equal(load_bz(pgm, &o, big, NULL, &bs), 0);
    free(big);
    /* A zero page needs RAM: 1 MiB guest cannot hold the kernel. */
    struct pgm *tiny = new_pgm(1 << 20);
    o = bz_defaults();
    assert_refused(load_bz(tiny, &o, NULL, NULL, &bs), "too big");
    pgm_destroy(tiny);
    /* Not a bzImage at all. */
    struct loader_image k = {.name = "zeros", .data = bzimg, .len = 0x400};
    memset(bzimg, 0, 0x400);
    assert_false(loader_is_bzimage(bzimg, 0x400));
    assert_refused(loader_bzimage(pgm, &k, NULL, NULL, &bs), "not a Linux bzImage");
    pgm_destroy(pgm);
}

static uint8_t initrd_data[0x5123];

static struct loader_image make_initrd(void)
{
    for (size_t i = 0; i < sizeof(initrd_data); i++)
        initrd_data[i] = (uint8_t)(i ^ (i >> 8));
    return (struct loader_image){.name = "rd.img", .data = initrd_data, .len = sizeof(initrd_data)};
}

static void bz_initrd_placement(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    struct loader_image rd = make_initrd();
    struct bz_opts o = bz_defaults();
    struct boot_state bs;
    /* As high as RAM allows, page aligned. */
    assert_int_equal(load_bz(pgm, &o, NULL, &rd, &bs), 0);
    const uint8_t *zp = ram(pgm, ZP, 0x1000);
    uint32_t at = get32(zp + 0x218);
    assert_int_equal(get32(zp + 0x21c), rd.len);
    assert_int_equal(at & 0xfff, 0);
    assert_true(at + rd.len <= RAM && at + rd.len > RAM - 0x1000);
    assert_memory_equal(ram(pgm, at, rd.len), rd.data, rd.len);
    assert_int_equal(get32(zp + 0xc0), 0);
    assert_int_equal(get32(zp + 0xc4), 0);
    /* Below initrd_addr_max (inclusive limit of the last byte). */
    o.initrd_addr_max = 0x2000000 - 1;
    assert_int_equal(load_bz(pgm, &o, NULL, &rd, &bs), 0);
    at = get32(ram(pgm, ZP + 0x218, 4));
    assert_true(at + rd.len <= 0x2000000 && at >= 0x2000000 - rd.len - 0x1000);
    assert_memory_equal(ram(pgm, at, rd.len), rd.data, rd.len);
    /* Not over the kernel: the kernel (pref 16 MiB + init_size 2 MiB) ends at 18 MiB. */
    o.initrd_addr_max = 0x1200000 + (uint32_t)rd.len + 0xfff;
    assert_int_equal(load_bz(pgm, &o, NULL, &rd, &bs), 0);
    assert_int_equal(get32(ram(pgm, ZP + 0x218, 4)), 0x1200000);
    o.initrd_addr_max = 0x1200000 + (uint32_t)rd.len - 2;
    assert_refused(load_bz(pgm, &o, NULL, &rd, &bs), "does not fit");
    assert_refused(load_bz(pgm, &o, NULL, &rd, &bs), "initrd_addr_max");
    /* Larger than the RAM left over. */
    o = bz_defaults();
    struct loader_image huge = {.name = "huge.img", .data = initrd_data, .len = RAM};
    assert_refused(load_bz(pgm, &o, NULL, &huge, &bs), "initrd 'huge.img'");
    struct loader_image empty = {.name = "empty.img", .data = initrd_data, .len = 0};
    assert_refused(load_bz(pgm, &o, NULL, &empty, &bs), "empty");
    pgm_destroy(pgm);
}

static void bz_e820_high_ram(void **state)
{
    (void)state;
    /* 5 GiB: 3.5 GiB below the PCI hole, 1.5 GiB from 4 GiB (PGM reserves, it does not commit). */
    uint64_t size = 5ull << 30;
    struct pgm *pgm = new_pgm(size);
    struct bz_opts o = bz_defaults();
    struct boot_state bs;
    struct loader_image rd = make_initrd();
    assert_int_equal(load_bz(pgm, &o, NULL, &rd, &bs), 0);
    const uint8_t *zp = ram(pgm, ZP, 0x1000);
    assert_int_equal(zp[0x1e8], 5);
    const uint8_t *e = zp + 0x2d0;
    assert_int_equal(get64(e + 60), 0x100000);
    assert_int_equal(get64(e + 60 + 8), 0xe0000000ull - 0x100000);
    assert_int_equal(get64(e + 80), 1ull << 32);
    assert_int_equal(get64(e + 88), size - 0xe0000000ull);
    assert_int_equal(get32(e + 96), 1);
    /* The initrd goes as high as initrd_addr_max (2 GiB - 1) allows; with no limit, to the hole. */
    uint32_t at = get32(zp + 0x218);
    assert_true(at + rd.len <= 0x80000000ull && at > 0x7fff0000u);
    o.initrd_addr_max = 0xffffffff;
    assert_int_equal(load_bz(pgm, &o, NULL, &rd, &bs), 0);
    at = get32(zp + 0x218);
    assert_true(at + rd.len <= 0xe0000000ull && at > 0xdfff0000u);
    pgm_destroy(pgm);
}

/* Every truncation of a valid image: refused with a message, or loaded with a sane entry. */
static void bz_truncations_and_corruption(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    struct bz_opts o = bz_defaults();
    static uint8_t full[0x10000], work[0x10000];
    size_t len = make_bz(full, sizeof(full), &o);
    struct boot_state bs;
    for (size_t cut = 0; cut <= len; cut++) {
        struct loader_image k = {.name = "cut", .data = full, .len = cut};
        modvm_err_clear();
        int rc = loader_bzimage(pgm, &k, "c", NULL, &bs);
        if (rc < 0)
            assert_true(*modvm_err_get());
        else
            assert_true(cut >= 5 * 512 + o.pm_size && bs.rip == 0x1000200);
    }
    /* Random corruption of the boot sector and header. */
    srand(1);
    struct loader_image rd = make_initrd();
    for (int round = 0; round < 3000; round++) {
        memcpy(work, full, len);
        int flips = 1 + rand() % 8;
        for (int f = 0; f < flips; f++)
            work[0x1f1 + rand() % (0x270 - 0x1f1)] = (uint8_t)rand();
        struct loader_image k = {.name = "fuzz", .data = work, .len = len};
        int rc = loader_bzimage(pgm, &k, "c", round & 1 ? &rd : NULL, &bs);
        if (rc == 0) {
            assert_true(bs.mode == BOOT_MODE_LONG64 || bs.mode == BOOT_MODE_PROT32);
            assert_true(bs.rip >= 0x100000 && bs.rip < RAM);
        } else {
            assert_true(*modvm_err_get());
        }
    }
    pgm_destroy(pgm);
}

/* ---- synthetic PVH ELFs -------------------------------------------------------------------- */

static uint8_t elfimg[0x8000];

/* Appends one note at *off; returns the new offset. */
static size_t put_note(uint8_t *img, size_t off, const char *name, uint32_t type, const void *desc,
                       uint32_t descsz)
{
    uint32_t namesz = (uint32_t)strlen(name) + 1;
    put32(img + off, namesz);
    put32(img + off + 4, descsz);
    put32(img + off + 8, type);
    memcpy(img + off + 12, name, namesz);
    off += 12 + ((namesz + 3) & ~3u);
    memcpy(img + off, desc, descsz);
    return off + ((descsz + 3) & ~3u);
}

struct elf_opts {
    int is64;
    int note_in_phdr; /* PT_NOTE program header, else only a SHT_NOTE section */
    int with_note;
    uint32_t descsz;
    uint64_t paddr; /* of the one PT_LOAD */
    uint32_t filesz, memsz;
};

static struct elf_opts elf_defaults(void)
{
    return (struct elf_opts){.is64 = 1, .note_in_phdr = 1, .with_note = 1, .descsz = 8, .paddr = 0x1000000,
                             .filesz = 0x1000, .memsz = 0x3000};
}

/* An ELF: header, 2 program headers (PT_LOAD, PT_NOTE or PT_NULL) at 0x40, notes at 0x400, section
 * headers at 0x600 (null + .notes), segment data at 0x1000 (with "PVHENTRY" at +0x40). */
static size_t make_elf(const struct elf_opts *o)
{
    uint8_t *img = elfimg;
    memset(img, 0, sizeof(elfimg));
    memcpy(img, "\x7f" "ELF", 4);
    img[4] = o->is64 ? 2 : 1;
    img[5] = 1;
    img[6] = 1;
    put16(img + 16, 2);
    put16(img + 18, o->is64 ? 62 : 3);
    put32(img + 20, 1);
    /* notes: a foreign one, a Xen note of another type, then PHYS32_ENTRY */
    size_t n = 0x400;
    n = put_note(img, n, "GNU", 3, "buildid!", 8);
    n = put_note(img, n, "Xen", 6, "linux", 6);
    uint64_t entry = o->paddr + 0x40;
    if (o->with_note)
        n = put_note(img, n, "Xen", 18, &entry, o->descsz);
    size_t notesz = n - 0x400;
    size_t phoff = 0x40, shoff = 0x600;
    if (o->is64) {
        put64(img + 24, 0xffffffff81000000ull);
        put64(img + 0x20, phoff);
        put64(img + 0x28, shoff);
        put16(img + 0x34, 64);
        put16(img + 0x36, 56);
        put16(img + 0x38, 2);
        put16(img + 0x3a, 64);
        put16(img + 0x3c, 2);
        uint8_t *ph = img + phoff;
        put32(ph, 1);
        put64(ph + 8, 0x1000);
        put64(ph + 0x10, 0xffffffff81000000ull);
        put64(ph + 0x18, o->paddr);
        put64(ph + 0x20, o->filesz);
        put64(ph + 0x28, o->memsz);
        ph += 56;
        put32(ph, o->note_in_phdr ? 4 : 0);
        put64(ph + 8, 0x400);
        put64(ph + 0x20, notesz);
        uint8_t *sh = img + shoff + 64;
        put32(sh + 4, 7);
        put64(sh + 0x18, 0x400);
        put64(sh + 0x20, notesz);
    } else {
        put32(img + 24, (uint32_t)entry);
        put32(img + 28, (uint32_t)phoff);
        put32(img + 32, (uint32_t)shoff);
        put16(img + 40, 52);
        put16(img + 42, 32);
        put16(img + 44, 2);
        put16(img + 46, 40);
        put16(img + 48, 2);
        uint8_t *ph = img + phoff;
        put32(ph, 1);
        put32(ph + 4, 0x1000);
        put32(ph + 8, (uint32_t)o->paddr);
        put32(ph + 12, (uint32_t)o->paddr);
        put32(ph + 16, o->filesz);
        put32(ph + 20, o->memsz);
        ph += 32;
        put32(ph, o->note_in_phdr ? 4 : 0);
        put32(ph + 4, 0x400);
        put32(ph + 16, (uint32_t)notesz);
        uint8_t *sh = img + shoff + 40;
        put32(sh + 4, 7);
        put32(sh + 16, 0x400);
        put32(sh + 20, (uint32_t)notesz);
    }
    for (uint32_t i = 0; i < o->filesz; i++)
        img[0x1000 + i] = (uint8_t)(i * 13 + 5);
    memcpy(img + 0x1040, "PVHENTRY", 8);
    return 0x1000 + o->filesz;
}

static int load_elf(struct pgm *pgm, const struct elf_opts *o, const char *cmdline, const struct loader_image *rd,
                    struct boot_state *bs)
{
    size_t len = make_elf(o);
    struct loader_image k = {.name = "vmlinux", .data = elfimg, .len = len};
    modvm_err_clear();
    return loader_pvh(pgm, &k, cmdline, rd, bs);
}

/* Checks the start info and memory map of a PVH load into a RAM-byte guest. */
static void check_start_info(struct pgm *pgm, uint64_t ram_size, const char *cmdline, uint32_t nmods)
{
    const uint8_t *si = ram(pgm, ZP, 56);
    assert_int_equal(get32(si), 0x336ec578u);
    assert_int_equal(get32(si + 4), 1);
    assert_int_equal(get32(si + 8), 0);
    assert_int_equal(get32(si + 12), nmods);
    assert_string_equal((const char *)ram(pgm, get64(si + 24), strlen(cmdline) + 1), cmdline);
    assert_int_equal(get64(si + 32), 0); /* rsdp */
    uint32_t n = get32(si + 48);
    assert_int_equal(n, 4);
    assert_int_equal(get32(si + 52), 0);
    const uint8_t *mm = ram(pgm, get64(si + 40), 24 * n);
    static const uint64_t want[4][3] = {{0, 0x9fc00, 1}, {0x9fc00, 0x400, 2}, {0xf0000, 0x10000, 2},
                                        {0x100000, 0, 1}};
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(get64(mm + 24 * i), want[i][0]);
        assert_int_equal(get64(mm + 24 * i + 8), want[i][1] ? want[i][1] : ram_size - 0x100000);
        assert_int_equal(get32(mm + 24 * i + 16), want[i][2]);
        assert_int_equal(get32(mm + 24 * i + 20), 0); /* reserved */
    }
}

static void pvh_elf64_loads(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    memset(ram(pgm, 0x1000000, 0x3000), 0xaa, 0x3000); /* stale memory in the bss */
    struct elf_opts o = elf_defaults();
    struct boot_state bs;
    assert_int_equal(load_elf(pgm, &o, "console=ttyS0", NULL, &bs), 0);
    assert_int_equal(bs.mode, BOOT_MODE_PROT32);
    assert_int_equal(bs.rip, 0x1000040);
    assert_int_equal(bs.rbx, ZP);
    assert_int_equal(bs.gdt_base, LOADER_GDT_ADDR);
    assert_int_equal(bs.gdt_limit, 31);
    uint64_t cs = get64(ram(pgm, LOADER_GDT_ADDR + 0x10, 8));
    assert_int_equal((cs >> 40) & 0xff, 0x9b);
    assert_int_equal((cs >> 54) & 1, 1);
    assert_memory_equal(ram(pgm, 0x1000040, 8), "PVHENTRY", 8);
    assert_memory_equal(ram(pgm, 0x1000000, 0x1000), elfimg + 0x1000, 0x1000);
    const uint8_t *bss = ram(pgm, 0x1001000, 0x2000);
    for (size_t i = 0; i < 0x2000; i++)
        assert_int_equal(bss[i], 0);
    check_start_info(pgm, RAM, "console=ttyS0", 0);
    assert_int_equal(get64(ram(pgm, ZP + 16, 8)), 0); /* no module list */
    pgm_destroy(pgm);
}

static void pvh_elf32_note_in_section(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    struct elf_opts o = elf_defaults();
    o.is64 = 0;
    o.descsz = 4;
    o.note_in_phdr = 0;
    struct boot_state bs;
    assert_int_equal(load_elf(pgm, &o, NULL, NULL, &bs), 0);
    assert_int_equal(bs.rip, 0x1000040);
    check_start_info(pgm, RAM, "", 0);
    /* The 64-bit image with the note only in a section, too. */
    o = elf_defaults();
    o.note_in_phdr = 0;
    assert_int_equal(load_elf(pgm, &o, NULL, NULL, &bs), 0);
    assert_int_equal(bs.rip, 0x1000040);
    pgm_destroy(pgm);
}

static void pvh_initrd_module(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    struct loader_image rd = make_initrd();
    struct elf_opts o = elf_defaults();
    struct boot_state bs;
    assert_int_equal(load_elf(pgm, &o, "root=/dev/ram0", &rd, &bs), 0);
    check_start_info(pgm, RAM, "root=/dev/ram0", 1);
    const uint8_t *si = ram(pgm, ZP, 56);
    const uint8_t *mod = ram(pgm, get64(si + 16), 32);
    uint64_t at = get64(mod);
    assert_int_equal(get64(mod + 8), rd.len);
    assert_int_equal(get64(mod + 16), 0);
    assert_int_equal(get64(mod + 24), 0);
    assert_int_equal(at & 0xfff, 0);
    assert_true(at >= 0x1003000 && at + rd.len <= RAM && at + rd.len > RAM - 0x1000);
    assert_memory_equal(ram(pgm, at, rd.len), rd.data, rd.len);
    /* The initrd does not fit above the kernel. */
    o.memsz = (uint32_t)(RAM - 0x1000000 - 0x1000);
    assert_refused(load_elf(pgm, &o, NULL, &rd, &bs), "does not fit");
    pgm_destroy(pgm);
}

static void pvh_refusals(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    struct elf_opts o = elf_defaults();
    struct boot_state bs;
    o.with_note = 0;
    assert_refused(load_elf(pgm, &o, NULL, NULL, &bs), "use the bzImage or a kernel built with CONFIG_PVH");
    o = elf_defaults();
    o.descsz = 2;
    assert_refused(load_elf(pgm, &o, NULL, NULL, &bs), "malformed");
    o = elf_defaults();
    o.paddr = 0x10000; /* over the boot structures */
    assert_refused(load_elf(pgm, &o, NULL, NULL, &bs), "boot information area");
    o = elf_defaults();
    o.paddr = RAM - 0x1000;
    assert_refused(load_elf(pgm, &o, NULL, NULL, &bs), "too big for guest RAM");
    o = elf_defaults();
    o.filesz = 0x2000;
    o.memsz = 0x1000; /* filesz > memsz */
    assert_refused(load_elf(pgm, &o, NULL, NULL, &bs), "malformed");
    o = elf_defaults();
    size_t len = make_elf(&o);
    elfimg[5] = 2; /* big-endian */
    struct loader_image k = {.name = "be", .data = elfimg, .len = len};
    assert_refused(loader_pvh(pgm, &k, NULL, NULL, &bs), "x86");
    struct loader_image notelf = {.name = "text", .data = (const uint8_t *)"hello", .len = 5};
    assert_false(loader_is_elf(notelf.data, notelf.len));
    assert_refused(loader_pvh(pgm, &notelf, NULL, NULL, &bs), "not an ELF");
    pgm_destroy(pgm);
}

static void pvh_truncations_and_corruption(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    struct loader_image rd = make_initrd();
    static uint8_t full[0x8000], work[0x8000];
    for (int variant = 0; variant < 4; variant++) {
        struct elf_opts o = elf_defaults();
        o.is64 = variant & 1;
        o.descsz = o.is64 ? 8 : 4;
        o.note_in_phdr = !(variant & 2);
        size_t len = make_elf(&o);
        memcpy(full, elfimg, len);
        struct boot_state bs;
        for (size_t cut = 0; cut <= len; cut++) {
            struct loader_image k = {.name = "cut", .data = full, .len = cut};
            modvm_err_clear();
            int rc = loader_pvh(pgm, &k, "c", NULL, &bs);
            if (rc < 0)
                assert_true(*modvm_err_get());
            else
                assert_true(cut == len && bs.rip == 0x1000040);
        }
        srand(2 + variant);
        for (int round = 0; round < 3000; round++) {
            memcpy(work, full, len);
            int flips = 1 + rand() % 8;
            for (int f = 0; f < flips; f++) {
                size_t at = rand() % 2 ? (size_t)(rand() % 0x80) : 0x400 + (size_t)(rand() % 0x300);
                work[at] = (uint8_t)rand();
            }
            struct loader_image k = {.name = "fuzz", .data = work, .len = len};
            int rc = loader_pvh(pgm, &k, "c", round & 1 ? &rd : NULL, &bs);
            if (rc == 0)
                assert_true(bs.mode == BOOT_MODE_PROT32 && bs.rbx == ZP);
            else
                assert_true(*modvm_err_get());
        }
    }
    pgm_destroy(pgm);
}

/* ---- multiboot module 0, and loader_load's detection -------------------------------------- */

/* A multiboot ELF32 (code at 0x200000, memsz 0x3000) as in test-loader.c. */
static size_t make_mb_elf(uint8_t *img, size_t cap)
{
    memset(img, 0, cap);
    memcpy(img, "\x7f" "ELF", 4);
    img[4] = 1;
    img[5] = 1;
    img[6] = 1;
    put16(img + 16, 2);
    put16(img + 18, 3);
    put32(img + 20, 1);
    put32(img + 24, 0x200010);
    put32(img + 28, 52);
    put16(img + 40, 52);
    put16(img + 42, 32);
    put16(img + 44, 1);
    uint8_t *ph = img + 52;
    put32(ph, 1);
    put32(ph + 4, 0x1000);
    put32(ph + 8, 0x200000);
    put32(ph + 12, 0x200000);
    put32(ph + 16, 0x1000);
    put32(ph + 20, 0x3000);
    put32(img + 0x1000, 0x1BADB002u);
    put32(img + 0x1004, 0x3);
    put32(img + 0x1008, (uint32_t)-(0x1BADB002u + 0x3));
    return 0x2000;
}

static void multiboot_initrd_is_module0(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    static uint8_t img[0x2000];
    size_t len = make_mb_elf(img, sizeof(img));
    struct loader_image rd = make_initrd();
    struct boot_state bs;
    assert_int_equal(loader_multiboot_initrd(pgm, "k.elf", img, len, "k.elf", &rd, &bs), 0);
    const uint8_t *mbi = ram(pgm, bs.rbx, 116);
    assert_true(get32(mbi) & 0x8);
    assert_int_equal(get32(mbi + 20), 1);
    const uint8_t *mod = ram(pgm, get32(mbi + 24), 16);
    assert_int_equal(get32(mod), 0x203000); /* page aligned after the kernel's bss */
    assert_int_equal(get32(mod + 4), 0x203000 + rd.len);
    assert_string_equal((const char *)ram(pgm, get32(mod + 8), 7), "rd.img");
    assert_memory_equal(ram(pgm, 0x203000, rd.len), rd.data, rd.len);
    /* Without an initrd: no module flag. */
    assert_int_equal(loader_multiboot(pgm, "k.elf", img, len, "k.elf", &bs), 0);
    assert_false(get32(ram(pgm, bs.rbx, 4)) & 0x8);
    struct loader_image huge = {.name = "huge", .data = initrd_data, .len = RAM};
    assert_refused(loader_multiboot_initrd(pgm, "k.elf", img, len, "k.elf", &huge, &bs), "initrd 'huge'");
    pgm_destroy(pgm);
}

/* Writes `len` bytes to a new temporary file; returns its path (static buffer per slot). */
static const char *tmpfile_with(int slot, const void *data, size_t len)
{
    static char paths[4][64];
    snprintf(paths[slot], sizeof(paths[slot]), "/tmp/test-linux-loader-%d-%d", (int)getpid(), slot);
    FILE *f = fopen(paths[slot], "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return paths[slot];
}

static void loader_load_detects_formats(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm(RAM);
    struct boot_state bs;
    struct loader_image rd = make_initrd();
    const char *rdpath = tmpfile_with(1, rd.data, rd.len);
    /* bzImage */
    struct bz_opts bo = bz_defaults();
    size_t len = make_bz(bzimg, sizeof(bzimg), &bo);
    struct loader_request req = {.path = tmpfile_with(0, bzimg, len), .cmdline = "a=b", .initrd = rdpath};
    assert_int_equal(loader_load(pgm, &req, &bs), 0);
    assert_int_equal(bs.mode, BOOT_MODE_LONG64);
    assert_string_equal((const char *)ram(pgm, LOADER_CMDLINE_ADDR, 4), "a=b");
    assert_int_equal(get32(ram(pgm, ZP + 0x21c, 4)), rd.len);
    /* PVH ELF */
    struct elf_opts eo = elf_defaults();
    len = make_elf(&eo);
    req.path = tmpfile_with(0, elfimg, len);
    assert_int_equal(loader_load(pgm, &req, &bs), 0);
    assert_int_equal(bs.mode, BOOT_MODE_PROT32);
    assert_int_equal(bs.rip, 0x1000040);
    assert_int_equal(get32(ram(pgm, ZP + 12, 4)), 1);
    /* ELF without the note */
    eo.with_note = 0;
    len = make_elf(&eo);
    req.path = tmpfile_with(0, elfimg, len);
    assert_refused(loader_load(pgm, &req, &bs), "CONFIG_PVH");
    /* multiboot, initrd as module 0; the command line is "<path> <append>" */
    static uint8_t mb[0x2000];
    len = make_mb_elf(mb, sizeof(mb));
    req.path = tmpfile_with(0, mb, len);
    assert_int_equal(loader_load(pgm, &req, &bs), 0);
    assert_int_equal(get32(ram(pgm, bs.rbx + 20, 4)), 1);
    /* not a kernel */
    req.path = tmpfile_with(0, "#!/bin/sh\necho hi\n", 18);
    assert_refused(loader_load(pgm, &req, &bs), "not a kernel modvm can boot");
    /* a flat binary takes no initrd */
    req.flat = 1;
    req.load_addr = 0x100000;
    req.flat_mode = BOOT_MODE_PROT32;
    assert_refused(loader_load(pgm, &req, &bs), "--initrd");
    req.flat = 0;
    /* missing initrd, initrd bigger than RAM (a sparse file) */
    req.path = tmpfile_with(0, bzimg, make_bz(bzimg, sizeof(bzimg), &bo));
    req.initrd = "/nonexistent/initrd";
    assert_refused(loader_load(pgm, &req, &bs), "cannot open initrd '/nonexistent/initrd'");
    const char *big = tmpfile_with(2, "x", 1);
    assert_int_equal(truncate(big, (off_t)RAM + 1), 0);
    req.initrd = big;
    assert_refused(loader_load(pgm, &req, &bs), "too big for guest RAM");
    unlink(big);
    unlink(rdpath);
    unlink(req.path);
    pgm_destroy(pgm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bz64_zero_page_and_entry),
        cmocka_unit_test(bz64_gdt_and_page_tables),
        cmocka_unit_test(bz32_entry_when_not_64bit),
        cmocka_unit_test(bz_load_address_choice),
        cmocka_unit_test(bz_refusals),
        cmocka_unit_test(bz_initrd_placement),
        cmocka_unit_test(bz_e820_high_ram),
        cmocka_unit_test(bz_truncations_and_corruption),
        cmocka_unit_test(pvh_elf64_loads),
        cmocka_unit_test(pvh_elf32_note_in_section),
        cmocka_unit_test(pvh_initrd_module),
        cmocka_unit_test(pvh_refusals),
        cmocka_unit_test(pvh_truncations_and_corruption),
        cmocka_unit_test(multiboot_initrd_is_module0),
        cmocka_unit_test(loader_load_detects_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
