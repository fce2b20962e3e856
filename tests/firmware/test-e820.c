/* test-e820.c — the e820 map core/e820.c builds from PGM's regions, and its "etc/e820" encoding.
 *
 * Spec: ACPI 6.5 chapter 15 (address range types); the layout documented in core/e820.h; QEMU's
 * etc/e820 format as SeaBIOS reads it (src/fw/paravirt.c qemu_early_e820: {le64, le64, le32}). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "e820.h"
#include "pgm.h"

/* Builds the map of a VM with `ram` bytes into `out`; returns the count. */
static size_t build(uint64_t ram, struct e820_entry *out, size_t max)
{
    struct pgm *pgm;
    assert_int_equal(pgm_create(ram, &pgm), 0);
    size_t n = 0;
    assert_int_equal(e820_build(pgm, out, max, &n), 0);
    pgm_destroy(pgm);
    return n;
}

/* Checks entry `e` against addr/size/type. */
static void expect(const struct e820_entry *e, uint64_t addr, uint64_t size, uint32_t type)
{
    assert_int_equal(e->addr, addr);
    assert_int_equal(e->size, size);
    assert_int_equal(e->type, type);
}

/* 128 MiB: low RAM, the EBDA and BIOS reserved, RAM from 1 MiB. */
static void test_128m(void **state)
{
    (void)state;
    struct e820_entry e[E820_MAX_ENTRIES];
    size_t n = build(128u << 20, e, E820_MAX_ENTRIES);
    assert_int_equal(n, 4);
    expect(&e[0], 0, 0x9fc00, E820_RAM);
    expect(&e[1], 0x9fc00, 0x400, E820_RESERVED);
    expect(&e[2], 0xf0000, 0x10000, E820_RESERVED);
    expect(&e[3], 0x100000, (128u << 20) - 0x100000, E820_RAM);
}

/* 1 MiB: nothing above 1 MiB. */
static void test_1m(void **state)
{
    (void)state;
    struct e820_entry e[E820_MAX_ENTRIES];
    size_t n = build(1u << 20, e, E820_MAX_ENTRIES);
    assert_int_equal(n, 3);
    expect(&e[0], 0, 0x9fc00, E820_RAM);
    expect(&e[2], 0xf0000, 0x10000, E820_RESERVED);
}

/* 4 GiB: RAM stops at the PCI hole (3.5 GiB) and the rest is above 4 GiB. ROMs are not listed. */
static void test_4g_and_rom(void **state)
{
    (void)state;
    struct pgm *pgm;
    assert_int_equal(pgm_create(4ull << 30, &pgm), 0);
    assert_int_equal(pgm_add_rom(pgm, 0xfffc0000u, 0x40000, "x", 1), 0);
    struct e820_entry e[E820_MAX_ENTRIES];
    size_t n = 0;
    assert_int_equal(e820_build(pgm, e, E820_MAX_ENTRIES, &n), 0);
    assert_int_equal(n, 5);
    expect(&e[3], 0x100000, 0xe0000000ull - 0x100000, E820_RAM);
    expect(&e[4], 0x100000000ull, (4ull << 30) - 0xe0000000ull, E820_RAM);
    /* too small an array: -ENOSPC and the count needed */
    assert_int_equal(e820_build(pgm, e, 2, &n), -ENOSPC);
    assert_int_equal(n, 5);
    pgm_destroy(pgm);
}

/* The etc/e820 bytes: 20 per entry, little-endian. */
static void test_encode(void **state)
{
    (void)state;
    const struct e820_entry e[2] = {{0x0102030405060708ull, 0x1112131415161718ull, 0x21222324u},
                                    {0x100000, 0x200000, E820_RAM}};
    uint8_t out[2 * E820_QEMU_ENTRY_SIZE];
    assert_int_equal(e820_encode_qemu(e, 2, out), 40);
    static const uint8_t first[20] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x18, 0x17,
                                      0x16, 0x15, 0x14, 0x13, 0x12, 0x11, 0x24, 0x23, 0x22, 0x21};
    assert_memory_equal(out, first, 20);
    assert_int_equal(out[20 + 2], 0x10);
    assert_int_equal(out[20 + 16], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_128m),
        cmocka_unit_test(test_1m),
        cmocka_unit_test(test_4g_and_rom),
        cmocka_unit_test(test_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
