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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(range_rules), cmocka_unit_test(pio_dispatch), cmocka_unit_test(mmio_dispatch),
        cmocka_unit_test(dma_bounds),  cmocka_unit_test(ram_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
