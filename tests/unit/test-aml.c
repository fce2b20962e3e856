/* tests/unit/test-aml.c — the ACPI plugin's AML encoder and table builder, linked directly.
 *
 * Spec: ACPI 6.5 20.2 (AML grammar: PkgLength 20.2.4, NameString 20.2.2, data objects 20.2.3), 6.4
 * (resource descriptors), 5.2 (table headers, checksums, RSDP). Expected bytes are written out by
 * hand from the spec's encodings (and agree with what iasl compiles for the same ASL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aml.h"
#include "tables.h"

/* Asserts that `a` holds exactly `len` bytes `want` and no error. */
static void expect_bytes(const struct aml *a, const uint8_t *want, size_t len)
{
    assert_int_equal(aml_error(a), 0);
    assert_int_equal(a->len, len);
    assert_memory_equal(a->buf, want, len);
}
#define EXPECT(a, ...)                                                                                           \
    do {                                                                                                         \
        static const uint8_t want_[] = {__VA_ARGS__};                                                            \
        expect_bytes((a), want_, sizeof(want_));                                                                 \
    } while (0)

/* Decodes a PkgLength; returns its value and sets *n to its size. */
static uint64_t pkglen_decode(const uint8_t *p, size_t *n)
{
    size_t follow = p[0] >> 6;
    *n = follow + 1;
    if (follow == 0)
        return p[0] & 0x3f;
    uint64_t v = p[0] & 0x0f;
    for (size_t i = 0; i < follow; i++)
        v |= (uint64_t)p[1 + i] << (4 + 8 * i);
    return v;
}

/* ---- PkgLength ------------------------------------------------------------------------------------- */

/* Every boundary of the 1-4 byte encodings: the value counts its own bytes, uses the fewest bytes
 * possible, and keeps bits 5:4 of a multi-byte lead byte clear. */
static void test_pkglen_boundaries(void **state)
{
    (void)state;
    static const struct {
        size_t content;
        size_t bytes;
    } cases[] = {
        {0, 1},          {61, 1},         {62, 1}, /* total 63: the largest one-byte value */
        {63, 2},                                   /* 63 + 1 no longer fits one byte: total 65 */
        {4093, 2},                                 /* total 4095 */
        {4094, 3},       {4095, 3},       {4096, 3}, {0xffffc, 3}, /* total 0xfffff */
        {0xffffd, 4},    {0xfffffff - 4, 4}, /* total 0xfffffff: the largest */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t enc[4] = {0};
        size_t n = aml_pkglen_encode(cases[i].content, enc), dn;
        assert_int_equal(n, cases[i].bytes);
        assert_int_equal(pkglen_decode(enc, &dn), cases[i].content + n);
        assert_int_equal(dn, n);
        if (n > 1)
            assert_int_equal(enc[0] & 0x30, 0);
    }
    uint8_t enc[4];
    assert_int_equal(aml_pkglen_encode(0xfffffff - 3, enc), 0);
    assert_int_equal(aml_pkglen_encode(SIZE_MAX, enc), 0);
    /* Spot value: total 65 = 0x41 is lead 0x41 (one byte follows, low nibble 1), then 0x04. */
    assert_int_equal(aml_pkglen_encode(63, enc), 2);
    assert_int_equal(enc[0], 0x41);
    assert_int_equal(enc[1], 0x04);
}

/* aml_close inserts the right PkgLength in front of contents of every size class. */
static void test_pkglen_in_stream(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 57, 58, 59, 4085, 4086, 4090, 70000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct aml a;
        aml_init(&a);
        size_t m = aml_scope(&a, "\\");
        uint8_t *filler = calloc(1, sizes[i] + 1);
        assert_non_null(filler);
        memset(filler, 0xa3, sizes[i]);
        aml_bytes(&a, filler, sizes[i]);
        aml_close(&a, m);
        assert_int_equal(aml_error(&a), 0);
        assert_int_equal(a.buf[0], 0x10); /* ScopeOp */
        size_t n;
        uint64_t v = pkglen_decode(a.buf + 1, &n);
        assert_int_equal(v, a.len - 1);
        assert_int_equal(a.buf[1 + n], 0x5c); /* the name follows the PkgLength */
        assert_int_equal(a.buf[2 + n], 0x00);
        assert_int_equal(a.len, 1 + n + 2 + sizes[i]);
        free(filler);
        aml_free(&a);
    }
}

/* Nested terms: inner PkgLengths grow before outer ones are measured. */
static void test_nesting(void **state)
{
    (void)state;
    struct aml a;
    aml_init(&a);
    size_t outer = aml_scope(&a, "_SB");
    size_t inner = aml_device(&a, "DEV");
    uint8_t filler[100];
    memset(filler, 0x01, sizeof(filler));
    aml_bytes(&a, filler, sizeof(filler));
    aml_close(&a, inner);
    aml_close(&a, outer);
    assert_int_equal(aml_error(&a), 0);
    size_t n;
    assert_int_equal(pkglen_decode(a.buf + 1, &n), a.len - 1);
    const uint8_t *dev = a.buf + 1 + n + 4;
    assert_int_equal(dev[0], 0x5b);
    assert_int_equal(dev[1], 0x82);
    size_t dn;
    uint64_t dlen = pkglen_decode(dev + 2, &dn);
    assert_int_equal(dlen, 4 + sizeof(filler) + dn);
    assert_memory_equal(dev + 2 + dn, "DEV_", 4);
    aml_free(&a);
}

/* ---- names, integers, strings, EISA IDs ------------------------------------------------------------ */

static void test_names(void **state)
{
    (void)state;
    struct aml a;
    aml_init(&a);
    aml_name(&a, "\\_SB.PCI0");
    EXPECT(&a, 0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0');
    aml_free(&a);

    aml_name(&a, "^^FOO");
    EXPECT(&a, 0x5e, 0x5e, 'F', 'O', 'O', '_');
    aml_free(&a);

    aml_name(&a, "A.B1.C_2");
    EXPECT(&a, 0x2f, 0x03, 'A', '_', '_', '_', 'B', '1', '_', '_', 'C', '_', '2', '_');
    aml_free(&a);

    aml_name(&a, "\\");
    EXPECT(&a, 0x5c, 0x00);
    aml_free(&a);

    aml_name(&a, "_S5");
    EXPECT(&a, '_', 'S', '5', '_');
    aml_free(&a);

    aml_name(&a, "\\_SB.PCI0.ISA.COM1");
    EXPECT(&a, 0x5c, 0x2f, 0x04, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'I', 'S', 'A', '_', 'C', 'O', 'M', '1');
    aml_free(&a);

    static const char *const bad[] = {"pci0", "1ABC", "ABCDE", "A..B", "A.", ".A", "\\^A", "A-B", "^\\A", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        aml_name(&a, bad[i]);
        assert_int_equal(aml_error(&a), -EINVAL);
        assert_int_equal(a.len, 0); /* nothing written */
        aml_free(&a);
    }
}

static void test_integers(void **state)
{
    (void)state;
    struct aml a;
    aml_init(&a);
    aml_int(&a, 0);
    aml_int(&a, 1);
    aml_int(&a, 2);
    aml_int(&a, 0xff);
    aml_int(&a, 0x100);
    aml_int(&a, 0xffff);
    aml_int(&a, 0x10000);
    aml_int(&a, 0xffffffffu);
    aml_int(&a, 0x100000000ull);
    aml_int(&a, UINT64_MAX - 1);
    aml_int(&a, UINT64_MAX);
    EXPECT(&a, 0x00, 0x01, 0x0a, 0x02, 0x0a, 0xff, 0x0b, 0x00, 0x01, 0x0b, 0xff, 0xff, 0x0c, 0x00, 0x00, 0x01, 0x00,
           0x0c, 0xff, 0xff, 0xff, 0xff, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0e, 0xfe, 0xff, 0xff,
           0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    aml_free(&a);
}

static void test_strings_and_eisaid(void **state)
{
    (void)state;
    struct aml a;
    aml_init(&a);
    aml_string(&a, "ACPI0007");
    EXPECT(&a, 0x0d, 'A', 'C', 'P', 'I', '0', '0', '0', '7', 0x00);
    aml_free(&a);
    aml_string(&a, "caf\xc3\xa9");
    assert_int_equal(aml_error(&a), -EINVAL);
    aml_free(&a);

    uint32_t v;
    assert_true(aml_eisaid_value("PNP0A03", &v));
    assert_int_equal(v, 0x030ad041u);
    assert_true(aml_eisaid_value("PNP0501", &v));
    assert_int_equal(v, 0x0105d041u);
    assert_true(aml_eisaid_value("PNP0F13", &v));
    assert_int_equal(v, 0x130fd041u);
    assert_false(aml_eisaid_value("pnp0a03", &v));
    assert_false(aml_eisaid_value("PNP0A0", &v));
    assert_false(aml_eisaid_value("PNP0A0G", &v));
    assert_false(aml_eisaid_value("PNP0a03", &v));
    assert_false(aml_eisaid_value("P1P0A03", &v));
    aml_eisaid(&a, "PNP0B00");
    EXPECT(&a, 0x0c, 0x41, 0xd0, 0x0b, 0x00);
    aml_free(&a);
    aml_eisaid(&a, "PNP0000"); /* 0x0000d041: a WordConst, as iasl compiles it */
    EXPECT(&a, 0x0b, 0x41, 0xd0);
    aml_free(&a);
    aml_eisaid(&a, "XYZ");
    assert_int_equal(aml_error(&a), -EINVAL);
    aml_free(&a);
}

/* ---- objects and statements ------------------------------------------------------------------------ */

static void test_objects(void **state)
{
    (void)state;
    struct aml a;
    aml_init(&a);

    /* Name (_S5, Package (4) {5, 5, 0, 0}) */
    aml_name_decl(&a, "_S5");
    size_t p = aml_package(&a, 4);
    aml_int(&a, 5);
    aml_int(&a, 5);
    aml_int(&a, 0);
    aml_int(&a, 0);
    aml_close(&a, p);
    EXPECT(&a, 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00);
    aml_free(&a);

    /* Method (_PIC, 1, NotSerialized) { Store (Arg0, PICF) } */
    size_t m = aml_method(&a, "_PIC", 1, false);
    aml_store(&a);
    aml_arg(&a, 0);
    aml_name(&a, "PICF");
    aml_close(&a, m);
    EXPECT(&a, 0x14, 0x0c, '_', 'P', 'I', 'C', 0x01, 0x70, 0x68, 'P', 'I', 'C', 'F');
    aml_free(&a);

    /* Method (FOO, 2, Serialized) { Return (Or (ShiftLeft (Arg0, 4), And (Arg1, 0x0F, Local0))) } */
    m = aml_method(&a, "FOO", 2, true);
    aml_return(&a);
    aml_or(&a);
    aml_shift_left(&a);
    aml_arg(&a, 0);
    aml_int(&a, 4);
    aml_no_target(&a);
    aml_and(&a);
    aml_arg(&a, 1);
    aml_int(&a, 0x0f);
    aml_local(&a, 0);
    aml_no_target(&a);
    aml_close(&a, m);
    EXPECT(&a, 0x14, 0x13, 'F', 'O', 'O', '_', 0x0a, 0xa4, 0x7d, 0x79, 0x68, 0x0a, 0x04, 0x00, 0x7b, 0x69, 0x0a, 0x0f,
           0x60, 0x00);
    aml_free(&a);

    /* Buffer: BufferOp PkgLength BufferSize bytes */
    aml_buffer(&a, "\x01\x02\x03", 3);
    EXPECT(&a, 0x11, 0x06, 0x0a, 0x03, 0x01, 0x02, 0x03);
    aml_free(&a);

    aml_arg(&a, 7);
    assert_int_equal(aml_error(&a), -EINVAL);
    aml_free(&a);
    aml_local(&a, 8);
    assert_int_equal(aml_error(&a), -EINVAL);
    aml_free(&a);
    aml_package(&a, 256);
    assert_int_equal(aml_error(&a), -EINVAL);
    aml_free(&a);
    aml_method(&a, "BAD", 8, false);
    assert_int_equal(aml_error(&a), -EINVAL);
    aml_free(&a);
}

/* Errors are sticky: later calls do nothing and the first error is kept. */
static void test_sticky_errors(void **state)
{
    (void)state;
    struct aml a;
    aml_init(&a);
    aml_int(&a, 7);
    aml_name(&a, "bad");
    aml_int(&a, 8);
    size_t m = aml_scope(&a, "\\");
    aml_close(&a, m);
    assert_int_equal(aml_error(&a), -EINVAL);
    assert_int_equal(a.len, 2);
    struct aml b;
    aml_init(&b);
    aml_byte(&b, 1);
    aml_append(&b, &a);
    assert_int_equal(aml_error(&b), -EINVAL);
    aml_free(&a);
    aml_free(&b);

    aml_init(&a);
    aml_byte(&a, 1);
    aml_close(&a, 5); /* a mark past the end */
    assert_int_equal(aml_error(&a), -EINVAL);
    aml_free(&a);
}

/* ---- resource descriptors -------------------------------------------------------------------------- */

static void test_resources(void **state)
{
    (void)state;
    struct aml a;
    aml_init(&a);
    aml_rt_io(&a, true, 0x3f8, 0x3f8, 0x01, 0x08);
    aml_rt_irq_noflags(&a, 1u << 4);
    aml_rt_end(&a);
    EXPECT(&a, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00);
    aml_free(&a);

    uint32_t gsis[2] = {9, 0x10203};
    aml_rt_interrupt(&a, AML_RT_INT_CONSUMER | AML_RT_INT_SHARED, gsis, 2);
    EXPECT(&a, 0x89, 0x0a, 0x00, 0x09, 0x02, 0x09, 0x00, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00);
    aml_free(&a);

    aml_rt_memory32_fixed(&a, true, 0xfec00000u, 0x1000);
    EXPECT(&a, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xc0, 0xfe, 0x00, 0x10, 0x00, 0x00);
    aml_free(&a);

    aml_rt_word_bus_number(&a, 0, 0xff);
    EXPECT(&a, 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01);
    aml_free(&a);

    aml_rt_dword_io(&a, 0x0d00, 0xffff);
    EXPECT(&a, 0x87, 0x17, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0, 0, 0x00, 0x0d, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0,
           0x00, 0xf3, 0, 0);
    aml_free(&a);

    aml_rt_dword_memory(&a, AML_RT_MEM_CACHEABLE, 0xa0000, 0xbffff);
    EXPECT(&a, 0x87, 0x17, 0x00, 0x00, 0x0c, 0x03, 0, 0, 0, 0, 0x00, 0x00, 0x0a, 0x00, 0xff, 0xff, 0x0b, 0x00, 0, 0,
           0, 0, 0x00, 0x00, 0x02, 0x00);
    aml_free(&a);

    aml_rt_qword_memory(&a, AML_RT_MEM_NONCACHEABLE, 0x100000000ull, 0x8ffffffffull);
    EXPECT(&a, 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0, 0, 0xff, 0xff,
           0xff, 0xff, 0x08, 0, 0, 0, /* translation */ 0, 0, 0, 0, 0, 0, 0, 0, /* length */ 0, 0, 0, 0, 0x08, 0,
           0, 0);
    aml_free(&a);

    /* Errors: reversed range, a value too wide for a Word, a bad width, no interrupts. */
    aml_rt_io(&a, true, 0x100, 0xff, 1, 1);
    assert_int_equal(aml_error(&a), -EINVAL);
    aml_free(&a);
    aml_rt_address(&a, 2, AML_RT_IO, 0, 0, 0, 0, 0x10000, 0, 0x10001);
    assert_int_equal(aml_error(&a), -EINVAL);
    aml_free(&a);
    aml_rt_address(&a, 3, AML_RT_IO, 0, 0, 0, 0, 1, 0, 2);
    assert_int_equal(aml_error(&a), -EINVAL);
    aml_free(&a);
    aml_rt_interrupt(&a, 0, gsis, 0);
    assert_int_equal(aml_error(&a), -EINVAL);
    aml_free(&a);
    aml_rt_qword_memory(&a, 0, 0, UINT64_MAX);
    assert_int_equal(aml_error(&a), -EINVAL);
    aml_free(&a);
}

/* ---- the tables ------------------------------------------------------------------------------------ */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}
static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    while (len--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* Whether the loader script holds ADD_CHECKSUM {file, offset, start, len}. */
static bool script_has_checksum(const struct acpi_blobs *b, const char *file, uint32_t offset, uint32_t start,
                                uint32_t len)
{
    for (size_t o = 0; o < b->loader_len; o += ACPI_LOADER_ENTRY_SIZE) {
        const uint8_t *e = b->loader + o;
        if (rd32(e) == ACPI_LOADER_ADD_CHECKSUM && strcmp((const char *)e + 4, file) == 0 && rd32(e + 60) == offset &&
            rd32(e + 64) == start && rd32(e + 68) == len)
            return true;
    }
    return false;
}

/* Checks one table at `off`: signature, length inside the blob, zero sum, and its ADD_CHECKSUM. */
static const uint8_t *check_table(const struct acpi_blobs *b, uint64_t off, const char *sig)
{
    assert_true(off + 36 <= b->tables_len);
    const uint8_t *t = b->tables + off;
    assert_memory_equal(t, sig, 4);
    uint32_t len = rd32(t + 4);
    assert_true(len >= 36 && off + len <= b->tables_len);
    assert_int_equal(sum(t, len), 0);
    assert_true(script_has_checksum(b, ACPI_FILE_TABLES, (uint32_t)off + 9, (uint32_t)off, len));
    return t;
}

/* Builds the tables for several platforms and checks every checksum, the RSDP, the pointers (which
 * hold file offsets before linking) and the MADT's contents. */
static void test_tables(void **state)
{
    (void)state;
    static const struct acpi_platform platforms[] = {
        {.ncpus = 1, .ram_size = 128ull << 20, .pci_hole64_size = 32ull << 30, .com1 = true, .rtc = true, .i8042 = true},
        {.ncpus = 4, .ram_size = 6ull << 30, .pci_hole64_size = 0, .com1 = false, .rtc = true, .i8042 = false},
        {.ncpus = 64, .ram_size = 1ull << 20, .pci_hole64_size = 1ull << 30, .com1 = true, .rtc = false, .i8042 = true},
        {.ncpus = ACPI_MAX_CPUS, .ram_size = 0xe0000000ull, .pci_hole64_size = 0},
    };
    for (size_t i = 0; i < sizeof(platforms) / sizeof(platforms[0]); i++) {
        const struct acpi_platform *p = &platforms[i];
        struct acpi_blobs b;
        assert_int_equal(acpi_build(p, &b), 0);
        assert_int_equal(b.loader_len % ACPI_LOADER_ENTRY_SIZE, 0);

        /* RSDP */
        assert_int_equal(b.rsdp_len, 36);
        assert_memory_equal(b.rsdp, "RSD PTR ", 8);
        assert_int_equal(b.rsdp[15], 2);
        assert_int_equal(sum(b.rsdp, 20), 0);
        assert_int_equal(sum(b.rsdp, 36), 0);
        assert_int_equal(rd32(b.rsdp + 20), 36);
        assert_true(script_has_checksum(&b, ACPI_FILE_RSDP, 8, 0, 20));
        assert_true(script_has_checksum(&b, ACPI_FILE_RSDP, 32, 0, 36));

        /* RSDT and XSDT list the same two tables: FADT and MADT. */
        const uint8_t *rsdt = check_table(&b, rd32(b.rsdp + 16), "RSDT");
        const uint8_t *xsdt = check_table(&b, rd64(b.rsdp + 24), "XSDT");
        assert_int_equal(rd32(rsdt + 4), 36 + 2 * 4);
        assert_int_equal(rd32(xsdt + 4), 36 + 2 * 8);
        for (unsigned e = 0; e < 2; e++)
            assert_int_equal(rd32(rsdt + 36 + 4 * e), rd64(xsdt + 36 + 8 * e));
        const uint8_t *fadt = check_table(&b, rd32(rsdt + 36), "FACP");
        const uint8_t *madt = check_table(&b, rd32(rsdt + 40), "APIC");

        /* FADT: revision 6.5, 276 bytes, both DSDT pointers agree, FACS 64-aligned at 0. */
        assert_int_equal(rd32(fadt + 4), 276);
        assert_int_equal(fadt[8], 6);
        assert_int_equal(fadt[131], 5);
        assert_int_equal(rd32(fadt + 40), rd64(fadt + 140));
        assert_int_equal(rd32(fadt + 36), rd64(fadt + 132));
        const uint8_t *facs = b.tables + rd32(fadt + 36);
        assert_int_equal(rd32(fadt + 36) % 64, 0);
        assert_memory_equal(facs, "FACS", 4);
        assert_int_equal(rd32(facs + 4), 64);
        check_table(&b, rd32(fadt + 40), "DSDT");
        assert_int_equal(fadt[46], ACPI_SCI_GSI);
        assert_int_equal(rd32(fadt + 48), 0); /* no SMI_CMD: ACPI mode from power-on */
        assert_int_equal(rd32(fadt + 56), ACPI_PM_BASE);
        assert_int_equal(rd32(fadt + 64), ACPI_PM_BASE + 4);
        assert_int_equal(rd32(fadt + 76), ACPI_PM_BASE + 8);
        assert_int_equal(rd32(fadt + 80), ACPI_GPE0_BASE);
        assert_int_equal(fadt[108], p->rtc ? 0x32 : 0);
        assert_int_equal(fadt[109], p->i8042 ? 3 : 1);
        assert_int_equal(rd32(fadt + 112), 0x0565u); /* WBINVD PROC_C1 SLP_BUTTON FIX_RTC TMR_VAL_EXT RESET_REG_SUP */
        assert_int_equal(fadt[116], 1);              /* reset register: System I/O */
        assert_int_equal(fadt[117], 8);
        assert_int_equal(rd64(fadt + 120), ACPI_PM_BASE + ACPI_RESET_OFF);
        assert_int_equal(fadt[128], ACPI_RESET_VALUE);

        /* MADT: a LAPIC per CPU, one IOAPIC, 4 overrides, one LAPIC NMI, nothing else. */
        uint32_t mlen = rd32(madt + 4);
        unsigned lapics = 0, ioapics = 0, isos = 0, nmis = 0;
        for (uint32_t o = 44; o < mlen;) {
            const uint8_t *s = madt + o;
            assert_true(s[1] >= 2 && o + s[1] <= mlen);
            switch (s[0]) {
            case 0:
                assert_int_equal(s[2], lapics); /* UID */
                assert_int_equal(s[3], lapics); /* APIC ID */
                assert_int_equal(rd32(s + 4), 1);
                lapics++;
                break;
            case 1:
                assert_int_equal(rd32(s + 4), ACPI_IOAPIC_ADDR);
                ioapics++;
                break;
            case 2:
                if (s[3] == 0)
                    assert_int_equal(rd32(s + 4), 2);
                else
                    assert_int_equal(s[8], 0x0d);
                isos++;
                break;
            case 4:
                assert_int_equal(s[5], 1); /* LINT1 */
                nmis++;
                break;
            default:
                fail_msg("unexpected MADT structure type %u", s[0]);
            }
            o += s[1];
        }
        assert_int_equal(lapics, p->ncpus);
        assert_int_equal(ioapics, 1);
        assert_int_equal(isos, 4);
        assert_int_equal(nmis, 1);
        acpi_blobs_free(&b);
    }
}

/* Platforms the tables cannot describe are refused. */
static void test_tables_refused(void **state)
{
    (void)state;
    struct acpi_blobs b;
    struct acpi_platform p = {.ncpus = 0, .ram_size = 1 << 20};
    assert_int_equal(acpi_build(&p, &b), -EINVAL);
    p.ncpus = ACPI_MAX_CPUS + 1;
    assert_int_equal(acpi_build(&p, &b), -EINVAL);
    p.ncpus = 1;
    p.ram_size = 0;
    assert_int_equal(acpi_build(&p, &b), -EINVAL);
    p.ram_size = 1 << 20;
    p.pci_hole64_size = 1ull << 60;
    assert_int_equal(acpi_build(&p, &b), -EINVAL);
    assert_null(b.tables);
}

/* The PIIX3 swizzle: slot 1 INTA on PIRQA, each slot shifted by one, PIRQA/B on 10, C/D on 11. */
static void test_intx_swizzle(void **state)
{
    (void)state;
    static const unsigned slot1[4] = {10, 10, 11, 11}; /* PIRQ A B C D */
    static const unsigned slot2[4] = {10, 11, 11, 10}; /* PIRQ B C D A */
    static const unsigned slot3[4] = {11, 11, 10, 10}; /* PIRQ C D A B */
    for (unsigned pin = 0; pin < 4; pin++) {
        assert_int_equal(acpi_pci_intx_gsi(1, pin), slot1[pin]);
        assert_int_equal(acpi_pci_intx_gsi(2, pin), slot2[pin]);
        assert_int_equal(acpi_pci_intx_gsi(3, pin), slot3[pin]);
        assert_int_equal(acpi_pci_intx_gsi(5, pin), slot1[pin]);
    }
    uint64_t lo32, lo64;
    struct acpi_platform p = {.ncpus = 1, .ram_size = 6ull << 30};
    acpi_pci_windows(&p, &lo32, &lo64);
    assert_int_equal(lo32, 0xe0000000ull);
    assert_int_equal(lo64, 0x1c0000000ull); /* 4 GiB + the 2.5 GiB above 3.5, rounded up to 1 GiB */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pkglen_boundaries),
        cmocka_unit_test(test_pkglen_in_stream),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_strings_and_eisaid),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_sticky_errors),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_tables_refused),
        cmocka_unit_test(test_intx_swizzle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
