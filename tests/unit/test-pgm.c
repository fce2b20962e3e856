/* tests/unit/test-pgm.c — PGM: range registration rules, dispatch with relative offsets and access
 * sizes, unassigned accesses, straddling accesses, and DMA bounds (RAM only, never MMIO). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "../../core/pgm.h"

/* A recording device: the last access it saw. */
struct rec {
    uint64_t off, value;
    unsigned size, reads, writes;
};

static uint64_t rec_read(void *opaque, uint64_t off, unsigned size)
{
    struct rec *r = opaque;
    r->off = off;
    r->size = size;
    r->reads++;
    return 0x1122334455667788ull >> (8 * (8 - size)) ^ off;
}

static void rec_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct rec *r = opaque;
    r->off = off;
    r->value = value;
    r->size = size;
    r->writes++;
}

static const struct pgm_io_ops rec_ops = {.read = rec_read, .write = rec_write};

static struct pgm *new_pgm(void)
{
    struct pgm *pgm;
    assert_int_equal(pgm_create(16 << 20, &pgm), 0);
    return pgm;
}

static void range_rules(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm();
    struct rec rec = {0};
    struct pgm_range *a, *b, *c, *z;
    assert_int_equal(pgm_range_create(pgm, PGM_SPACE_PIO, 0, 1, &rec_ops, &rec, "zero", &z), -EINVAL);
    assert_int_equal(pgm_range_create(pgm, PGM_SPACE_PIO, 8, 0, &rec_ops, &rec, "nosizes", &z), -EINVAL);
    assert_int_equal(pgm_range_create(pgm, PGM_SPACE_PIO, 8, 1, &rec_ops, &rec, "a", &a), 0);
    assert_int_equal(pgm_range_create(pgm, PGM_SPACE_PIO, 8, 1, &rec_ops, &rec, "b", &b), 0);
    assert_int_equal(pgm_range_map(a, 0x3f8), 0);
    assert_int_equal(pgm_range_map(a, 0x2f8), -EALREADY);
    assert_int_equal(pgm_range_map(b, 0x3fc), -EBUSY);  /* overlaps a's tail */
    assert_int_equal(pgm_range_map(b, 0xfffc), -EINVAL); /* wraps past 0xffff */
    assert_int_equal(pgm_range_map(b, 0x400), 0);        /* adjacent is fine */
    assert_int_equal(pgm_range_base(b), 0x400);
    assert_int_equal(pgm_range_create(pgm, PGM_SPACE_MMIO, 0x1000, 4, &rec_ops, &rec, "c", &c), 0);
    assert_int_equal(pgm_range_map(c, 0x100000), -EBUSY); /* over RAM */
    assert_int_equal(pgm_range_map(c, UINT64_MAX - 0x10), -EINVAL);
    assert_int_equal(pgm_range_map(c, 0xfee00000), 0);
    assert_int_equal(pgm_range_unmap(c), 0);
    assert_int_equal(pgm_range_unmap(c), -ENOENT);
    assert_int_equal(pgm_range_base(c), UINT64_MAX);
    pgm_range_destroy(a);
    pgm_range_destroy(b);
    pgm_range_destroy(c);
    pgm_destroy(pgm);
}

static void pio_dispatch(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm();
    struct rec rec = {0}, wide = {0};
    struct pgm_range *a, *w;
    assert_int_equal(pgm_range_create(pgm, PGM_SPACE_PIO, 8, 1, &rec_ops, &rec, "bytes", &a), 0);
    assert_int_equal(pgm_range_map(a, 0x3f8), 0);
    assert_int_equal(pgm_range_create(pgm, PGM_SPACE_PIO, 4, 4, &rec_ops, &wide, "dwords", &w), 0);
    assert_int_equal(pgm_range_map(w, 0xcf8), 0);

    pgm_pio_write(pgm, 0x3fb, 1, 0x83);
    assert_int_equal(rec.off, 3);
    assert_int_equal(rec.value, 0x83);
    assert_int_equal(rec.size, 1);

    /* A 2-byte access to a byte-only range is split into two byte accesses. */
    rec.writes = 0;
    pgm_pio_write(pgm, 0x3f8, 2, 0xbbaa);
    assert_int_equal(rec.writes, 2);
    assert_int_equal(rec.off, 1);
    assert_int_equal(rec.value, 0xbb);

    /* A 4-byte access at the last port straddles into unassigned ports: bytes, rest reads 0xff. */
    uint32_t v = 0;
    rec.reads = 0;
    pgm_pio_read(pgm, 0x3ff, 4, &v);
    assert_int_equal(rec.reads, 1);
    assert_int_equal(v & 0xffffff00u, 0xffffff00u);

    /* A dword-only range refuses byte accesses: reads all ones, counted. */
    pgm_pio_read(pgm, 0xcf8, 1, &v);
    assert_int_equal(v, 0xff);
    assert_int_equal(wide.reads, 0);
    pgm_pio_write(pgm, 0xcf8, 4, 0x80000000u);
    assert_int_equal(wide.value, 0x80000000u);
    struct pgm_stats st;
    pgm_get_stats(pgm, &st);
    assert_int_equal(st.bad_size_accesses, 1);

    /* Unassigned ports. */
    pgm_pio_read(pgm, 0x80, 2, &v);
    assert_int_equal(v, 0xffff);
    pgm_pio_write(pgm, 0x80, 1, 1);
    pgm_get_stats(pgm, &st);
    assert_true(st.unassigned_pio_reads >= 2);
    assert_int_equal(st.unassigned_pio_writes, 1);

    /* An unmapped range gets nothing. */
    pgm_range_unmap(a);
    rec.writes = 0;
    pgm_pio_write(pgm, 0x3f8, 1, 1);
    assert_int_equal(rec.writes, 0);
    pgm_range_destroy(a);
    pgm_range_destroy(w);
    pgm_destroy(pgm);
}

static void mmio_dispatch(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm();
    struct rec r1 = {0}, r2 = {0};
    struct pgm_range *a, *b;
    assert_int_equal(pgm_range_create(pgm, PGM_SPACE_MMIO, 0x1000, 4 | 8, &rec_ops, &r1, "a", &a), 0);
    assert_int_equal(pgm_range_create(pgm, PGM_SPACE_MMIO, 0x100, 0xf, &rec_ops, &r2, "b", &b), 0);
    assert_int_equal(pgm_range_map(a, 0xfec00000), 0);
    assert_int_equal(pgm_range_map(b, 0xfed00000), 0);
    uint64_t v;
    pgm_mmio_read(pgm, 0xfed00010, 8, &v);
    assert_int_equal(r2.off, 0x10);
    assert_int_equal(r2.size, 8);
    pgm_mmio_write(pgm, 0xfec00ff8, 8, 0xdeadbeefcafef00dull);
    assert_int_equal(r1.off, 0xff8);
    assert_int_equal(r1.value, 0xdeadbeefcafef00dull);
    /* Past the end of b: unassigned. */
    pgm_mmio_read(pgm, 0xfed00100, 4, &v);
    assert_int_equal(v, 0xffffffffu);
    /* A byte access to a 4/8-only region is refused. */
    r1.reads = 0;
    pgm_mmio_read(pgm, 0xfec00000, 1, &v);
    assert_int_equal(r1.reads, 0);
    assert_int_equal(v, 0xff);
    /* Bad sizes never reach a device. */
    pgm_mmio_read(pgm, 0xfed00000, 0, &v);
    pgm_mmio_read(pgm, 0xfed00000, 9, &v);
    pgm_range_destroy(a);
    pgm_range_destroy(b);
    pgm_destroy(pgm);
}

static void dma_bounds(void **state)
{
    (void)state;
    struct pgm *pgm = new_pgm();
    uint8_t buf[64];
    memset(buf, 0x5a, sizeof(buf));
    assert_int_equal(pgm_phys_write(pgm, 0x1000, buf, sizeof(buf)), 0);
    uint8_t back[64] = {0};
    assert_int_equal(pgm_phys_read(pgm, 0x1000, back, sizeof(back)), 0);
    assert_memory_equal(buf, back, sizeof(buf));
    /* Straddling the end of RAM, past it, wrapping, or into MMIO: refused whole. */
    assert_int_equal(pgm_phys_write(pgm, (16 << 20) - 32, buf, sizeof(buf)), -EFAULT);
    assert_int_equal(pgm_phys_read(pgm, 16 << 20, back, 1), -EFAULT);
    assert_int_equal(pgm_phys_read(pgm, UINT64_MAX - 8, back, 16), -EFAULT);
    struct rec rec = {0};
    struct pgm_range *m;
    assert_int_equal(pgm_range_create(pgm, PGM_SPACE_MMIO, 0x1000, 0xf, &rec_ops, &rec, "m", &m), 0);
    assert_int_equal(pgm_range_map(m, 0xfee00000), 0);
    assert_int_equal(pgm_phys_write(pgm, 0xfee00000, buf, 4), -EFAULT);
    assert_int_equal(rec.writes, 0);
    assert_null(pgm_phys_ptr(pgm, (16 << 20) - 8, 16));
    assert_non_null(pgm_phys_ptr(pgm, 0, 16 << 20));
    /* ROM: readable, not writable. */
    assert_int_equal(pgm_add_rom(pgm, 0xfffff000, 0x1000, "rom!", 4), 0);
    assert_int_equal(pgm_phys_read(pgm, 0xfffff000, back, 8), 0);
    assert_memory_equal(back, "rom!\xff\xff\xff\xff", 8);
    assert_int_equal(pgm_phys_write(pgm, 0xfffff000, buf, 1), -EFAULT);
    assert_int_equal(pgm_add_rom(pgm, 0xfffff000, 0x1000, "x", 1), -EBUSY);
    pgm_range_destroy(m);
    pgm_destroy(pgm);
}

static void ram_layout(void **state)
{
    (void)state;
    struct pgm *pgm;
    assert_int_equal(pgm_create(0, &pgm), -EINVAL);
    assert_int_equal(pgm_create(12345, &pgm), -EINVAL);
    assert_int_equal(pgm_create(4ull << 30, &pgm), 0); /* split around the PCI hole */
    assert_int_equal(pgm_mem_region_count(pgm), 2);
    assert_int_equal(pgm_mem_region_at(pgm, 0)->size, 0xe0000000ull);
    assert_int_equal(pgm_mem_region_at(pgm, 1)->gpa, 0x100000000ull);
    assert_int_equal(pgm_mem_region_at(pgm, 1)->size, (4ull << 30) - 0xe0000000ull);
    pgm_destroy(pgm);
}

/* ---- The legacy shadow window (PAM) ---- */

#define SEG PGM_SHADOW_SEGMENT
#define NSEG (PGM_SHADOW_SIZE / PGM_SHADOW_SEGMENT)
#define WIN_END (PGM_SHADOW_BASE + PGM_SHADOW_SIZE)
#define RW (PGM_SHADOW_READ | PGM_SHADOW_WRITE)
#define TEST_ROM_LEN 0x10000u
#define MAX_SLOTS 64

/* Test patterns: a RAM byte never equals the ROM byte at the same address. */
static uint8_t ram_at(uint64_t gpa)
{
    return (uint8_t)(gpa % 251);
}

static uint8_t rom_at(uint64_t gpa)
{
    return ram_at(gpa) ^ 0x80;
}

/* The window's ROM side at `gpa` after set_test_rom(len). */
static uint8_t rom_side(uint64_t gpa, size_t len)
{
    return gpa >= WIN_END - len ? rom_at(gpa) : 0xff;
}

/* Gives the window a ROM of `len` bytes (rom_at) ending at 1 MiB. */
static void set_test_rom(struct pgm *pgm, size_t len)
{
    static uint8_t rom[PGM_SHADOW_SIZE];
    for (size_t k = 0; k < len; k++)
        rom[k] = rom_at(WIN_END - len + k);
    assert_int_equal(pgm_shadow_set_rom(pgm, rom, len), 0);
}

/* The mode of the segment holding `gpa`, RW outside the window. */
static unsigned mode_at(struct pgm *pgm, uint64_t gpa)
{
    int mode = pgm_shadow_get(pgm, gpa);
    return mode < 0 ? RW : (unsigned)mode;
}

/* What a CPU or DMA read of byte `gpa` must see: RAM with READ, else the ROM side. */
static uint8_t seen(struct pgm *pgm, const uint8_t *ram, uint64_t gpa)
{
    return (mode_at(pgm, gpa) & PGM_SHADOW_READ) ? ram[gpa] : rom_side(gpa, TEST_ROM_LEN);
}

/* A PGM of `ram_size` with patterned RAM; *ram is its host memory. */
static struct pgm *shadow_pgm(uint64_t ram_size, uint8_t **ram)
{
    struct pgm *pgm;
    assert_int_equal(pgm_create(ram_size, &pgm), 0);
    *ram = pgm_mem_region_at(pgm, 0)->hva;
    for (uint64_t g = 0; g < ram_size; g++)
        (*ram)[g] = ram_at(g);
    return pgm;
}

/* A 2 MiB PGM with the test ROM and segment i in mode i % 4 (none, R, W, RW). */
static struct pgm *mixed_pgm(uint8_t **ram)
{
    struct pgm *pgm = shadow_pgm(2 << 20, ram);
    set_test_rom(pgm, TEST_ROM_LEN);
    for (unsigned i = 0; i < NSEG; i++)
        assert_int_equal(pgm_shadow_set(pgm, PGM_SHADOW_BASE + i * SEG, SEG, i % 4), 0);
    return pgm;
}

static void shadow_presence(void **state)
{
    (void)state;
    static const struct {
        uint64_t ram;
        bool window;
    } cases[] = {{512 << 10, false}, {0xe0000, false}, {0xff000, false},
                 {1 << 20, true},    {2 << 20, true},  {4ull << 30, true}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct pgm *pgm;
        assert_int_equal(pgm_create(cases[c].ram, &pgm), 0);
        int want = cases[c].window ? 0 : -ENODEV;
        assert_int_equal(pgm_shadow_get(pgm, PGM_SHADOW_BASE), cases[c].window ? (int)RW : -ENODEV);
        assert_int_equal(pgm_shadow_set_rom(pgm, "rom", 3), want);
        assert_int_equal(pgm_shadow_set(pgm, PGM_SHADOW_BASE, SEG, PGM_SHADOW_READ), want);
        assert_int_equal(pgm_shadow_get(pgm, PGM_SHADOW_BASE), cases[c].window ? (int)PGM_SHADOW_READ : -ENODEV);
        pgm_destroy(pgm);
    }
}

static void shadow_args(void **state)
{
    (void)state;
    static const struct {
        uint64_t base, size;
        unsigned mode;
    } bad[] = {
        {PGM_SHADOW_BASE + 1, SEG, RW},           /* unaligned base */
        {PGM_SHADOW_BASE, 0x1000, RW},            /* unaligned size */
        {PGM_SHADOW_BASE, 0, RW},                 /* empty */
        {PGM_SHADOW_BASE - SEG, SEG, RW},         /* below */
        {PGM_SHADOW_BASE - SEG, 2 * SEG, RW},     /* straddles the start */
        {WIN_END, SEG, RW},                       /* above */
        {WIN_END - SEG, 2 * SEG, RW},             /* straddles the end */
        {PGM_SHADOW_BASE, UINT64_MAX & ~(uint64_t)(SEG - 1), RW},
        {UINT64_MAX & ~(uint64_t)(SEG - 1), SEG, RW},
        {PGM_SHADOW_BASE, SEG, 4},                /* bad mode bits */
        {PGM_SHADOW_BASE, SEG, ~0u},
    };
    struct pgm *pgm;
    assert_int_equal(pgm_create(2 << 20, &pgm), 0);
    for (size_t c = 0; c < sizeof(bad) / sizeof(bad[0]); c++)
        assert_int_equal(pgm_shadow_set(pgm, bad[c].base, bad[c].size, bad[c].mode), -EINVAL);
    for (unsigned i = 0; i < NSEG; i++) /* nothing changed */
        assert_int_equal(pgm_shadow_get(pgm, PGM_SHADOW_BASE + i * SEG), RW);
    static const uint64_t outside[] = {0, PGM_SHADOW_BASE - 1, WIN_END, UINT64_MAX};
    for (size_t c = 0; c < sizeof(outside) / sizeof(outside[0]); c++)
        assert_int_equal(pgm_shadow_get(pgm, outside[c]), -EINVAL);
    static uint8_t rom[PGM_SHADOW_SIZE + 1];
    assert_int_equal(pgm_shadow_set_rom(pgm, rom, sizeof(rom)), -EINVAL);
    assert_int_equal(pgm_shadow_set_rom(pgm, rom, PGM_SHADOW_SIZE), 0);
    pgm_destroy(pgm);
}

static void shadow_modes(void **state)
{
    (void)state;
    struct pgm *pgm;
    assert_int_equal(pgm_create(2 << 20, &pgm), 0);
    for (uint64_t a = PGM_SHADOW_BASE; a < WIN_END; a += 0x1000)
        assert_int_equal(pgm_shadow_get(pgm, a), RW);
    assert_int_equal(pgm_shadow_set(pgm, 0xc0000, 4 * SEG, PGM_SHADOW_READ), 0);
    assert_int_equal(pgm_shadow_set(pgm, 0xc8000, 2 * SEG, 0), 0);
    assert_int_equal(pgm_shadow_set(pgm, 0xf0000, 4 * SEG, PGM_SHADOW_WRITE), 0);
    assert_int_equal(pgm_shadow_set(pgm, 0xfc000, SEG, RW), 0);
    static const uint8_t want[NSEG] = {1, 1, 0, 0, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3};
    for (unsigned i = 0; i < NSEG; i++) {
        assert_int_equal(pgm_shadow_get(pgm, PGM_SHADOW_BASE + i * SEG), want[i]);
        assert_int_equal(pgm_shadow_get(pgm, PGM_SHADOW_BASE + i * SEG + SEG - 1), want[i]);
    }
    pgm_destroy(pgm);
}

/* A recording engine: every call, and what is mapped per slot (checks that slots never collide,
 * live mappings never overlap, and only what was added is removed). */
struct lcall {
    struct pgm_mem_region r;
    bool added;
};

struct lrec {
    struct lcall calls[64];
    unsigned n;
    struct pgm_mem_region live[MAX_SLOTS];
};

static int lrec_fn(void *ctx, const struct pgm_mem_region *r, bool added)
{
    struct lrec *l = ctx;
    assert_true(l->n < sizeof(l->calls) / sizeof(l->calls[0]));
    assert_true(r->slot < MAX_SLOTS && r->size > 0);
    l->calls[l->n++] = (struct lcall){.r = *r, .added = added};
    struct pgm_mem_region *s = &l->live[r->slot];
    if (added) {
        assert_int_equal(s->size, 0);
        for (unsigned i = 0; i < MAX_SLOTS; i++)
            assert_false(l->live[i].size && r->gpa < l->live[i].gpa + l->live[i].size &&
                         l->live[i].gpa < r->gpa + r->size);
        *s = *r;
    } else {
        assert_int_equal(s->gpa, r->gpa);
        assert_int_equal(s->size, r->size);
        assert_ptr_equal(s->hva, r->hva);
        assert_int_equal(s->readonly, r->readonly);
        s->size = 0;
    }
    return 0;
}

/* Checks that call c maps (or unmaps) segment i as `mode` demands: its RAM, or the ROM side. */
static void check_seg_call(const struct lcall *c, bool added, unsigned i, unsigned mode, const uint8_t *ram,
                           uint64_t ram_size)
{
    uint64_t gpa = PGM_SHADOW_BASE + (uint64_t)i * SEG;
    const uint8_t *hva = c->r.hva;
    assert_int_equal(c->added, added);
    assert_int_equal(c->r.gpa, gpa);
    assert_int_equal(c->r.size, SEG);
    assert_int_equal(c->r.readonly, mode != RW);
    if (mode & PGM_SHADOW_READ) {
        assert_ptr_equal(hva, ram + gpa);
        return;
    }
    assert_true(hva < ram || hva >= ram + ram_size);
    for (uint64_t k = 0; k < SEG; k++)
        assert_int_equal(hva[k], rom_side(gpa + k, TEST_ROM_LEN));
}

/* Checks a replay of the 2 MiB PGM's low RAM: below the window, above it, then each segment. */
static void check_replay(struct pgm *pgm, const struct lrec *l, const uint8_t *ram)
{
    const struct lcall *c = l->calls;
    assert_true(c[0].added && c[0].r.gpa == 0 && c[0].r.size == PGM_SHADOW_BASE && !c[0].r.readonly);
    assert_ptr_equal(c[0].r.hva, ram);
    assert_true(c[1].added && c[1].r.gpa == WIN_END && c[1].r.size == (2 << 20) - WIN_END && !c[1].r.readonly);
    assert_ptr_equal(c[1].r.hva, ram + WIN_END);
    assert_int_not_equal(c[0].r.slot, c[1].r.slot);
    unsigned n = 2;
    for (unsigned i = 0; i < NSEG; i++) {
        unsigned mode = mode_at(pgm, PGM_SHADOW_BASE + i * SEG);
        if (mode != PGM_SHADOW_WRITE)
            check_seg_call(&c[n++], true, i, mode, ram, 2 << 20);
    }
    assert_int_equal(l->n, n + pgm_mem_region_count(pgm) - 1); /* then the other regions */
}

static void shadow_listener(void **state)
{
    (void)state;
    uint8_t *ram;
    struct pgm *pgm = shadow_pgm(2 << 20, &ram);
    set_test_rom(pgm, TEST_ROM_LEN);
    static struct lrec l, l2;
    memset(&l, 0, sizeof(l));
    assert_int_equal(pgm_set_mem_listener(pgm, lrec_fn, &l), 0);
    assert_int_equal(l.n, 2 + NSEG);
    check_replay(pgm, &l, ram);
    l.n = 0; /* a ROM added later gets a slot of its own (lrec_fn checks) */
    assert_int_equal(pgm_add_rom(pgm, 0xfffc0000, 0x40000, "bios", 4), 0);
    assert_int_equal(l.n, 1);

    static const struct {
        uint64_t base, size;
        unsigned mode, calls;
    } steps[] = {
        {0xc4000, 2 * SEG, PGM_SHADOW_READ, 4},  /* RW -> R: remove + add each */
        {0xc0000, 4 * SEG, PGM_SHADOW_READ, 4},  /* only segments 0 and 3 change */
        {0xc0000, 4 * SEG, PGM_SHADOW_READ, 0},  /* same mode: nothing */
        {0xc0000, SEG, 0, 2},                    /* R -> ROM side (all ones) */
        {0xfc000, SEG, 0, 2},                    /* RW -> ROM side (the ROM's top) */
        {0xc4000, SEG, PGM_SHADOW_WRITE, 1},     /* R -> W: removed only */
        {0xc4000, SEG, PGM_SHADOW_WRITE, 0},
        {0xc4000, SEG, RW, 1},                   /* W -> RW: added only */
        {PGM_SHADOW_BASE, PGM_SHADOW_SIZE, RW, 8},
        {0xf0000, 4 * SEG, PGM_SHADOW_WRITE, 4},
        {0xe0000, 2 * SEG, 0, 4},
    };
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        uint8_t old[NSEG];
        for (unsigned i = 0; i < NSEG; i++)
            old[i] = (uint8_t)mode_at(pgm, PGM_SHADOW_BASE + i * SEG);
        l.n = 0;
        assert_int_equal(pgm_shadow_set(pgm, steps[s].base, steps[s].size, steps[s].mode), 0);
        assert_int_equal(l.n, steps[s].calls);
        unsigned n = 0;
        for (unsigned i = 0; i < NSEG; i++) {
            uint64_t gpa = PGM_SHADOW_BASE + i * SEG;
            unsigned now = mode_at(pgm, gpa);
            assert_int_equal(now, gpa - steps[s].base < steps[s].size ? steps[s].mode : old[i]);
            if (now == old[i])
                continue;
            if (old[i] != PGM_SHADOW_WRITE) /* the old mapping goes first */
                check_seg_call(&l.calls[n++], false, i, old[i], ram, 2 << 20);
            if (now != PGM_SHADOW_WRITE)
                check_seg_call(&l.calls[n++], true, i, now, ram, 2 << 20);
        }
        assert_int_equal(n, l.n);
    }
    /* A new listener gets the current modes replayed, then the ROM. */
    memset(&l2, 0, sizeof(l2));
    assert_int_equal(pgm_set_mem_listener(pgm, lrec_fn, &l2), 0);
    check_replay(pgm, &l2, ram);
    assert_int_equal(l2.calls[l2.n - 1].r.gpa, 0xfffc0000);
    pgm_destroy(pgm);
}

/* A CPU read and write of `size` bytes at `gpa` that exited to PGM, checked byte by byte. */
static void check_cpu_access(struct pgm *pgm, uint8_t *ram, uint64_t gpa, unsigned size)
{
    uint64_t v = 0, want = 0, wr = 0;
    uint8_t before[8];
    for (unsigned k = 0; k < size; k++) {
        want |= (uint64_t)seen(pgm, ram, gpa + k) << (8 * k);
        wr |= (uint64_t)(uint8_t)~ram[gpa + k] << (8 * k);
        before[k] = ram[gpa + k];
    }
    pgm_mmio_read(pgm, gpa, size, &v);
    assert_int_equal(v, want);
    pgm_mmio_write(pgm, gpa, size, wr);
    for (unsigned k = 0; k < size; k++)
        assert_int_equal(ram[gpa + k],
                         (mode_at(pgm, gpa + k) & PGM_SHADOW_WRITE) ? (uint8_t)(wr >> (8 * k)) : before[k]);
}

static void shadow_cpu_access(void **state)
{
    (void)state;
    uint8_t *ram;
    struct pgm *pgm = mixed_pgm(&ram);
    static const unsigned sizes[] = {1, 2, 4, 8};
    for (unsigned i = 0; i < NSEG; i++) {
        uint64_t seg = PGM_SHADOW_BASE + i * SEG;
        for (unsigned s = 0; s < 4; s++)
            check_cpu_access(pgm, ram, seg + 0x100 + sizes[s], sizes[s]);
        check_cpu_access(pgm, ram, seg + SEG - 3, 8); /* across into the next segment (or RAM above) */
    }
    check_cpu_access(pgm, ram, 0xffff0, 8); /* the reset vector's alias, in the ROM */
    struct pgm_stats st;
    pgm_get_stats(pgm, &st);
    assert_int_equal(st.unassigned_mmio_reads, 0);
    assert_int_equal(st.unassigned_mmio_writes, 0);
    assert_int_equal(st.bad_size_accesses, 0);
    uint64_t v;
    pgm_mmio_read(pgm, 0xfed00000, 1, &v); /* the counter does work */
    pgm_get_stats(pgm, &st);
    assert_int_equal(st.unassigned_mmio_reads, 1);
    pgm_destroy(pgm);

    /* A 1 MiB guest: a wide access at the window's top ends with its RAM. */
    pgm = shadow_pgm(1 << 20, &ram);
    pgm_mmio_read(pgm, 0xffffc, 8, &v);
    assert_int_equal(v, 0xffffffff00000000ull | ram[0xffffc] | ram[0xffffd] << 8 | ram[0xffffe] << 16 |
                            (uint64_t)ram[0xfffff] << 24);
    pgm_mmio_write(pgm, 0xffffc, 8, 0);
    assert_int_equal(ram[0xfffff], 0);
    pgm_destroy(pgm);
}

static void shadow_dma(void **state)
{
    (void)state;
    uint8_t *ram;
    struct pgm *pgm = mixed_pgm(&ram);
    static uint8_t buf[PGM_SHADOW_SIZE + 0x4000], before[PGM_SHADOW_SIZE + 0x4000];
    /* Reads follow the modes: segments 0 (none), 1 (R), 2 (W), 3 (RW), ..., 12-15 over the ROM. */
    assert_int_equal(pgm_phys_read(pgm, PGM_SHADOW_BASE - 0x2000, buf, PGM_SHADOW_SIZE + 0x4000), 0);
    for (uint64_t k = 0; k < PGM_SHADOW_SIZE + 0x4000; k++)
        assert_int_equal(buf[k], seen(pgm, ram, PGM_SHADOW_BASE - 0x2000 + k));

#define S(i) (PGM_SHADOW_BASE + (i) * SEG)
    static const struct {
        uint64_t gpa, len;
        bool write_ok, ptr_ok;
    } cases[] = {
        {S(3) + 0x10, 0x100, true, true},    /* RW */
        {S(2) + 0x10, 0x100, true, false},   /* W */
        {S(1) + 0x10, 0x100, false, false},  /* R */
        {S(0) + 0x10, 0x100, false, false},  /* none */
        {S(3) - 0x80, 0x100, true, false},   /* W | RW */
        {S(4) - 0x80, 0x100, false, false},  /* RW | none */
        {S(15) - 0x80, 0x100, true, false},  /* W | RW */
        {S(2) - 1, 2, false, false},         /* last byte of R | W */
        {S(3) - 1, 2, true, false},          /* last byte of W | RW */
        {WIN_END - 0x80, 0x100, true, true}, /* RW | RAM above */
        {S(0) - 0x80, 0x100, false, false},  /* RAM below | none */
        {S(0) - 0x100, 0x100, true, true},   /* ends where the window starts */
        {WIN_END, 0x100, true, true},        /* starts where it ends */
        {0x1000, 0x100, true, true},
    };
#undef S
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        uint64_t gpa = cases[c].gpa, len = cases[c].len;
        assert_int_equal(pgm_phys_read(pgm, gpa, buf, len), 0);
        for (uint64_t k = 0; k < len; k++)
            assert_int_equal(buf[k], seen(pgm, ram, gpa + k));
        memcpy(before, ram + gpa - 16, len + 32);
        for (uint64_t k = 0; k < len; k++)
            buf[k] = (uint8_t)~ram[gpa + k];
        assert_int_equal(pgm_phys_write(pgm, gpa, buf, len), cases[c].write_ok ? 0 : -EFAULT);
        assert_memory_equal(ram + gpa - 16, before, 16);
        assert_memory_equal(ram + gpa, cases[c].write_ok ? buf : before + 16, len);
        assert_memory_equal(ram + gpa + len, before + 16 + len, 16);
        assert_ptr_equal(pgm_phys_ptr(pgm, gpa, len), cases[c].ptr_ok ? ram + gpa : NULL);
    }

    /* All RW: a DMA from below the window to above it is plain RAM. */
    assert_int_equal(pgm_shadow_set(pgm, PGM_SHADOW_BASE, PGM_SHADOW_SIZE, RW), 0);
    uint64_t gpa = PGM_SHADOW_BASE - 0x2000, len = sizeof(buf);
    for (uint64_t k = 0; k < len; k++)
        buf[k] = (uint8_t)(k * 31 + 7);
    assert_int_equal(pgm_phys_write(pgm, gpa, buf, len), 0);
    assert_memory_equal(ram + gpa, buf, len);
    memset(before, 0, len);
    assert_int_equal(pgm_phys_read(pgm, gpa, before, len), 0);
    assert_memory_equal(before, buf, len);
    assert_ptr_equal(pgm_phys_ptr(pgm, gpa, len), ram + gpa);
    pgm_destroy(pgm);
}

static void shadow_rom(void **state)
{
    (void)state;
    uint8_t *ram;
    struct pgm *pgm = shadow_pgm(2 << 20, &ram);
    assert_int_equal(pgm_shadow_set(pgm, PGM_SHADOW_BASE, PGM_SHADOW_SIZE, 0), 0);
    static uint8_t buf[PGM_SHADOW_SIZE];
    static const size_t lens[] = {0x20000, 0x8000, PGM_SHADOW_SIZE, 1, 0};
    for (size_t c = 0; c < sizeof(lens) / sizeof(lens[0]); c++) {
        set_test_rom(pgm, lens[c]); /* replaces the previous one */
        assert_int_equal(pgm_phys_read(pgm, PGM_SHADOW_BASE, buf, PGM_SHADOW_SIZE), 0);
        for (uint64_t k = 0; k < PGM_SHADOW_SIZE; k++)
            assert_int_equal(buf[k], rom_side(PGM_SHADOW_BASE + k, lens[c]));
    }
    /* The RAM behind the window was never touched. */
    assert_int_equal(pgm_shadow_set(pgm, PGM_SHADOW_BASE, PGM_SHADOW_SIZE, RW), 0);
    assert_int_equal(pgm_phys_read(pgm, PGM_SHADOW_BASE, buf, PGM_SHADOW_SIZE), 0);
    for (uint64_t k = 0; k < PGM_SHADOW_SIZE; k++)
        assert_int_equal(buf[k], ram_at(PGM_SHADOW_BASE + k));
    pgm_destroy(pgm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(range_rules), cmocka_unit_test(pio_dispatch), cmocka_unit_test(mmio_dispatch),
        cmocka_unit_test(dma_bounds),  cmocka_unit_test(ram_layout),
        cmocka_unit_test(shadow_presence), cmocka_unit_test(shadow_args), cmocka_unit_test(shadow_modes),
        cmocka_unit_test(shadow_listener), cmocka_unit_test(shadow_cpu_access), cmocka_unit_test(shadow_dma),
        cmocka_unit_test(shadow_rom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
