/* tests/acpi/test-acpi-place.c — core/loader/acpi-place.c: the ACPI plugin's real tables placed into
 * guest RAM (RSDP in the F segment where the legacy scan finds it, every pointer relocated, every
 * checksum right), and hostile loader scripts (QEMU BIOSLinker format) refused with one clear line
 * and no guest memory touched — plus a mutation fuzz that must never crash (run it under ASan).
 *
 * Spec: QEMU hw/acpi/bios-linker-loader.c (the command format), ACPI 6.5 5.2.5 (RSDP search). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/err.h"
#include "../../core/fw.h"
#include "../../core/loader/acpi-place.h"
#include "../../core/pgm.h"
#include "tables.h"

#define RAM (128ull << 20)
#define FSEG 0xe0000ull
#define HIGH (RAM - (1ull << 20))

/* ---- fixtures ------------------------------------------------------------------------------------ */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}
static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    while (len--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* A pgm with RAM and a firmware-file set holding the tables of a 4-CPU, 128 MiB platform. */
struct fixture {
    struct pgm *pgm;
    struct fw_files *fw;
    struct acpi_blobs blobs;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct acpi_platform p = {.ncpus = 4, .ram_size = RAM, .pci_hole64_size = 32ull << 30, .com1 = true,
                              .rtc = true, .i8042 = true};
    if (!f || pgm_create(RAM, &f->pgm) != 0 || !(f->fw = fw_files_create()) || acpi_build(&p, &f->blobs) != 0)
        return -1;
    fw_files_add(f->fw, ACPI_FILE_TABLES, f->blobs.tables, f->blobs.tables_len);
    fw_files_add(f->fw, ACPI_FILE_RSDP, f->blobs.rsdp, f->blobs.rsdp_len);
    fw_files_add(f->fw, ACPI_FILE_LOADER, f->blobs.loader, f->blobs.loader_len);
    modvm_err_clear();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    acpi_blobs_free(&f->blobs);
    fw_files_destroy(f->fw);
    pgm_destroy(f->pgm);
    free(f);
    return 0;
}

/* A guest pointer to `len` bytes of RAM (the test fails if it is not RAM). */
static uint8_t *guest(struct fixture *f, uint64_t gpa, size_t len)
{
    uint8_t *p = pgm_phys_ptr(f->pgm, gpa, len);
    assert_non_null(p);
    return p;
}

/* Checks a placed table: in RAM, signature, zero sum. */
static const uint8_t *placed_table(struct fixture *f, uint64_t gpa, const char *sig)
{
    const uint8_t *t = guest(f, gpa, 36);
    assert_memory_equal(t, sig, 4);
    uint32_t len = rd32(t + 4);
    t = guest(f, gpa, len);
    assert_int_equal(sum(t, len), 0);
    return t;
}

/* ---- the real tables ----------------------------------------------------------------------------- */

/* The RSDP lands in the F segment on a 16-byte boundary, and every pointer it leads to holds a
 * guest address of a valid table inside the HIGH area. */
static void test_place_real_tables(void **state)
{
    struct fixture *f = *state;
    struct acpi_place_result r;
    assert_int_equal(acpi_place_ex(f->pgm, f->fw, FSEG, HIGH, &r), 0);
    assert_int_equal(r.rsdp_gpa, FSEG);
    assert_int_equal(r.low_start, FSEG);
    assert_int_equal(r.low_end, FSEG + 36);
    assert_int_equal(r.high_start, HIGH);
    assert_int_equal(r.high_end, HIGH + f->blobs.tables_len);

    const uint8_t *rsdp = guest(f, r.rsdp_gpa, 36);
    assert_memory_equal(rsdp, "RSD PTR ", 8);
    assert_int_equal(sum(rsdp, 20), 0);
    assert_int_equal(sum(rsdp, 36), 0);
    const uint8_t *rsdt = placed_table(f, rd32(rsdp + 16), "RSDT");
    const uint8_t *xsdt = placed_table(f, rd64(rsdp + 24), "XSDT");
    for (unsigned i = 0; i < 2; i++) {
        uint64_t a = rd64(xsdt + 36 + 8 * i);
        assert_int_equal(rd32(rsdt + 36 + 4 * i), a);
        assert_true(a >= r.high_start && a < r.high_end);
    }
    const uint8_t *fadt = placed_table(f, rd64(xsdt + 36), "FACP");
    placed_table(f, rd64(xsdt + 44), "APIC");
    placed_table(f, rd64(fadt + 140), "DSDT");
    assert_int_equal(rd32(fadt + 40), rd64(fadt + 140));
    uint64_t facs = rd32(fadt + 36);
    assert_int_equal(facs % 64, 0);
    assert_int_equal(rd64(fadt + 132), facs);
    assert_memory_equal(guest(f, facs, 4), "FACS", 4);

    /* The legacy search (5.2.5.1): 16-byte steps through 0xE0000-0xFFFFF find it. */
    uint64_t found = 0;
    for (uint64_t a = 0xe0000; a < 0x100000 && !found; a += 16)
        if (memcmp(guest(f, a, 8), "RSD PTR ", 8) == 0 && sum(guest(f, a, 20), 20) == 0)
            found = a;
    assert_int_equal(found, r.rsdp_gpa);

    /* acpi_place gives the same RSDP; placing again is idempotent. */
    uint64_t rsdp_gpa = 0;
    assert_int_equal(acpi_place(f->pgm, f->fw, FSEG, HIGH, &rsdp_gpa), 0);
    assert_int_equal(rsdp_gpa, FSEG);
}

/* measure gives the sizes, so the caller can put the HIGH area right below the end of RAM. */
static void test_measure(void **state)
{
    struct fixture *f = *state;
    uint64_t lo = 0, hi = 0;
    assert_int_equal(acpi_place_measure(f->fw, &lo, &hi), 0);
    assert_int_equal(lo, 36);
    assert_int_equal(hi, f->blobs.tables_len);
    uint64_t high = (RAM - hi) & ~0xfffull;
    struct acpi_place_result r;
    assert_int_equal(acpi_place_ex(f->pgm, f->fw, FSEG, high, &r), 0);
    assert_true(r.high_end <= RAM);
    /* One byte higher no longer fits in RAM. */
    assert_int_equal(acpi_place_ex(f->pgm, f->fw, FSEG, RAM - hi + 1, &r), -EINVAL);
    assert_non_null(strstr(modvm_err_get(), "not in guest RAM"));
}

/* No script: -ENOENT, nothing to do. */
static void test_no_script(void **state)
{
    (void)state;
    struct fw_files *fw = fw_files_create();
    struct pgm *pgm;
    uint64_t rsdp, lo, hi;
    assert_int_equal(pgm_create(1 << 20, &pgm), 0);
    assert_int_equal(acpi_place(pgm, fw, FSEG, 0x80000, &rsdp), -ENOENT);
    assert_int_equal(acpi_place_measure(fw, &lo, &hi), -ENOENT);
    fw_files_destroy(fw);
    pgm_destroy(pgm);
}

/* ---- hostile scripts ----------------------------------------------------------------------------- */

/* A script under construction. */
struct script {
    uint8_t buf[64 * 128];
    size_t len;
};

static uint8_t *cmd(struct script *s, uint32_t command)
{
    uint8_t *e = s->buf + s->len;
    memset(e, 0, 128);
    wr32(e, command);
    s->len += 128;
    return e;
}
static void alloc(struct script *s, const char *file, uint32_t align, uint8_t zone)
{
    uint8_t *e = cmd(s, 1);
    strncpy((char *)e + 4, file, 56);
    wr32(e + 60, align);
    e[64] = zone;
}
static void pointer(struct script *s, const char *dest, const char *src, uint32_t offset, uint8_t size)
{
    uint8_t *e = cmd(s, 2);
    strncpy((char *)e + 4, dest, 56);
    strncpy((char *)e + 60, src, 56);
    wr32(e + 116, offset);
    e[120] = size;
}
static void checksum(struct script *s, const char *file, uint32_t offset, uint32_t start, uint32_t length)
{
    uint8_t *e = cmd(s, 3);
    strncpy((char *)e + 4, file, 56);
    wr32(e + 60, offset);
    wr32(e + 64, start);
    wr32(e + 68, length);
}
/* The minimal valid prefix: both files allocated. */
static void allocs(struct script *s)
{
    alloc(s, ACPI_FILE_TABLES, 64, 1);
    alloc(s, ACPI_FILE_RSDP, 16, 2);
}

/* Runs `s` as the script and expects failure with `needle` in the message and guest RAM as before. */
static void expect_refused(struct fixture *f, const void *script, size_t len, const char *needle, uint64_t low,
                           uint64_t high)
{
    uint8_t *fseg = guest(f, FSEG, 0x20000), *hi = guest(f, HIGH, 0x10000);
    memset(fseg, 0xa5, 0x20000);
    memset(hi, 0x5a, 0x10000);
    assert_int_equal(fw_files_add(f->fw, ACPI_FILE_LOADER, script, len), 0);
    modvm_err_clear();
    uint64_t rsdp = 0;
    int rc = acpi_place(f->pgm, f->fw, low, high, &rsdp);
    if (rc != -EINVAL || !strstr(modvm_err_get(), needle))
        fail_msg("expected -EINVAL with '%s', got %d: '%s'", needle, rc, modvm_err_get());
    assert_null(strchr(modvm_err_get(), '\n'));
    for (size_t i = 0; i < 0x20000; i++)
        if (fseg[i] != 0xa5)
            fail_msg("FSEG byte %zu was written", i);
    for (size_t i = 0; i < 0x10000; i++)
        if (hi[i] != 0x5a)
            fail_msg("HIGH byte %zu was written", i);
}
#define REFUSED(f, s, needle) expect_refused((f), (s)->buf, (s)->len, (needle), FSEG, HIGH)

static void test_hostile_framing(void **state)
{
    struct fixture *f = *state;
    struct script s = {.len = 0};
    allocs(&s);
    expect_refused(f, s.buf, s.len - 1, "not a whole number", FSEG, HIGH);
    uint8_t *big = calloc(4097, 128);
    assert_non_null(big);
    expect_refused(f, big, 4097 * 128, "more than 4096", FSEG, HIGH);
    free(big);
    /* A script of only unknown commands allocates no RSDP. */
    s.len = 0;
    cmd(&s, 99);
    REFUSED(f, &s, "never allocates etc/acpi/rsdp");
}

static void test_hostile_allocate(void **state)
{
    struct fixture *f = *state;
    struct script s = {.len = 0};

    uint8_t *e = cmd(&s, 1);
    memset(e + 4, 'A', 56); /* no NUL */
    e[64] = 1;
    REFUSED(f, &s, "not NUL-terminated");

    s.len = 0;
    alloc(&s, "etc/no-such-file", 16, 1);
    REFUSED(f, &s, "no firmware file 'etc/no-such-file'");

    s.len = 0;
    allocs(&s);
    alloc(&s, ACPI_FILE_RSDP, 16, 2);
    REFUSED(f, &s, "allocated twice");

    s.len = 0;
    alloc(&s, ACPI_FILE_TABLES, 3, 1);
    REFUSED(f, &s, "not a power of two");
    s.len = 0;
    alloc(&s, ACPI_FILE_TABLES, 8192, 1);
    REFUSED(f, &s, "not a power of two up to 4096");
    s.len = 0;
    alloc(&s, ACPI_FILE_TABLES, 0x80000000u, 1);
    REFUSED(f, &s, "power of two");

    s.len = 0;
    alloc(&s, ACPI_FILE_TABLES, 64, 0);
    REFUSED(f, &s, "zone 0");
    s.len = 0;
    alloc(&s, ACPI_FILE_TABLES, 64, 3);
    REFUSED(f, &s, "zone 3");

    /* The FSEG zone ends at 1 MiB; the HIGH zone must be RAM. */
    s.len = 0;
    allocs(&s);
    expect_refused(f, s.buf, s.len, "does not fit below 1 MiB", 0xffff0, HIGH);
    expect_refused(f, s.buf, s.len, "not in guest RAM", FSEG, 0xf0000000ull);
    expect_refused(f, s.buf, s.len, "not in guest RAM", FSEG, RAM - 16);
    expect_refused(f, s.buf, s.len, "no room", FSEG, UINT64_MAX - 8);
    /* The zones may not overlap. */
    expect_refused(f, s.buf, s.len, "overlaps", FSEG, FSEG - 64);

    /* An empty file, and too many files. */
    assert_int_equal(fw_files_add(f->fw, "etc/empty", "", 0), 0);
    s.len = 0;
    alloc(&s, "etc/empty", 1, 1);
    REFUSED(f, &s, "is empty");
    char name[40];
    for (int i = 0; i < 33; i++) {
        snprintf(name, sizeof(name), "etc/f%02d", i);
        assert_int_equal(fw_files_add(f->fw, name, "x", 1), 0);
    }
    s.len = 0;
    for (int i = 0; i < 33; i++) {
        snprintf(name, sizeof(name), "etc/f%02d", i);
        alloc(&s, name, 1, 1);
    }
    REFUSED(f, &s, "more than 32 files");
}

static void test_hostile_pointer(void **state)
{
    struct fixture *f = *state;
    struct script s;
    size_t tlen = f->blobs.tables_len;

    s.len = 0;
    alloc(&s, ACPI_FILE_RSDP, 16, 2);
    pointer(&s, ACPI_FILE_RSDP, ACPI_FILE_TABLES, 16, 4);
    REFUSED(f, &s, "'etc/acpi/tables' was not allocated");

    s.len = 0;
    allocs(&s);
    pointer(&s, ACPI_FILE_RSDP, ACPI_FILE_TABLES, 16, 3);
    REFUSED(f, &s, "width 3");
    s.len = 0;
    allocs(&s);
    pointer(&s, ACPI_FILE_RSDP, ACPI_FILE_TABLES, 16, 0);
    REFUSED(f, &s, "width 0");

    s.len = 0;
    allocs(&s);
    pointer(&s, ACPI_FILE_RSDP, ACPI_FILE_TABLES, 33, 4); /* 33 + 4 > 36 */
    REFUSED(f, &s, "past the end of 'etc/acpi/rsdp'");
    s.len = 0;
    allocs(&s);
    pointer(&s, ACPI_FILE_RSDP, ACPI_FILE_TABLES, 0xfffffffcu, 8); /* would wrap in 32 bits */
    REFUSED(f, &s, "past the end");

    /* A pointer value beyond the file it points into: the RSDP's checksum byte region holds "RSD " */
    s.len = 0;
    allocs(&s);
    pointer(&s, ACPI_FILE_RSDP, ACPI_FILE_TABLES, 0, 8); /* "RSD PTR " as a number: huge */
    REFUSED(f, &s, "past the end of 'etc/acpi/tables'");

    /* A relocated address that does not fit a 2-byte pointer (HIGH is above 64 KiB). */
    s.len = 0;
    allocs(&s);
    pointer(&s, ACPI_FILE_TABLES, ACPI_FILE_TABLES, (uint32_t)tlen - 2, 2);
    /* the last two bytes of the tables are part of the XSDT's last entry: a small offset */
    REFUSED(f, &s, "does not fit the 2-byte pointer");

    s.len = 0;
    allocs(&s);
    uint8_t *e = cmd(&s, 2);
    memset(e + 60, 'B', 56); /* source name without NUL */
    REFUSED(f, &s, "not NUL-terminated");
}

static void test_hostile_checksum(void **state)
{
    struct fixture *f = *state;
    struct script s;

    s.len = 0;
    alloc(&s, ACPI_FILE_RSDP, 16, 2);
    checksum(&s, ACPI_FILE_TABLES, 9, 0, 36);
    REFUSED(f, &s, "'etc/acpi/tables' was not allocated");

    s.len = 0;
    allocs(&s);
    checksum(&s, ACPI_FILE_RSDP, 36, 0, 20);
    REFUSED(f, &s, "outside 'etc/acpi/rsdp'");
    s.len = 0;
    allocs(&s);
    checksum(&s, ACPI_FILE_RSDP, 8, 0, 37);
    REFUSED(f, &s, "outside");
    s.len = 0;
    allocs(&s);
    checksum(&s, ACPI_FILE_RSDP, 8, 0xffffffffu, 2); /* start + length wraps in 32 bits */
    REFUSED(f, &s, "outside");

    /* The checksum budget: 64 MiB in all. */
    uint8_t *big = calloc(1, 16u << 20);
    assert_non_null(big);
    assert_int_equal(fw_files_add(f->fw, "etc/big", big, 16u << 20), 0);
    free(big);
    s.len = 0;
    allocs(&s);
    alloc(&s, "etc/big", 4096, 1);
    for (int i = 0; i < 5; i++)
        checksum(&s, "etc/big", 0, 0, 16u << 20);
    /* HIGH at 96 MiB leaves RAM for the 16 MiB file: the budget is what trips, at the 5th checksum. */
    assert_int_equal(fw_files_add(f->fw, ACPI_FILE_LOADER, s.buf, s.len), 0);
    uint64_t rsdp;
    assert_int_equal(acpi_place(f->pgm, f->fw, FSEG, 96ull << 20, &rsdp), -EINVAL);
    assert_non_null(strstr(modvm_err_get(), "64 MiB"));
}

/* A broken RSDP (after linking) is refused, and unknown commands are skipped. */
static void test_rsdp_checked_and_unknown_skipped(void **state)
{
    struct fixture *f = *state;
    struct script s;

    /* The real script with an extra command that breaks the RSDP's checksum after the fact. */
    memcpy(s.buf, f->blobs.loader, f->blobs.loader_len);
    s.len = f->blobs.loader_len;
    checksum(&s, ACPI_FILE_RSDP, 8, 9, 1); /* byte 8 -= byte 9: wrong unless byte 9 is 0 */
    REFUSED(f, &s, "valid RSDP");

    uint8_t rsdp[36];
    memcpy(rsdp, f->blobs.rsdp, 36);
    rsdp[0] = 'X';
    assert_int_equal(fw_files_add(f->fw, ACPI_FILE_RSDP, rsdp, 36), 0);
    memcpy(s.buf, f->blobs.loader, f->blobs.loader_len);
    s.len = f->blobs.loader_len;
    REFUSED(f, &s, "valid RSDP");
    assert_int_equal(fw_files_add(f->fw, ACPI_FILE_RSDP, f->blobs.rsdp, 36), 0);

    /* WRITE_POINTER (4) and unknown commands in between real ones are skipped. */
    s.len = 0;
    cmd(&s, 4);
    cmd(&s, 0);
    cmd(&s, 0xffffffffu);
    memcpy(s.buf + s.len, f->blobs.loader, f->blobs.loader_len);
    s.len += f->blobs.loader_len;
    assert_int_equal(fw_files_add(f->fw, ACPI_FILE_LOADER, s.buf, s.len), 0);
    uint64_t gpa;
    assert_int_equal(acpi_place(f->pgm, f->fw, FSEG, HIGH, &gpa), 0);
    assert_int_equal(gpa, FSEG);
}

/* Random mutations of the real script: success or one clear line, never a crash or a write outside
 * the files' places (ASan and the RAM checks see to that). */
static void test_fuzz(void **state)
{
    struct fixture *f = *state;
    uint8_t *s = malloc(f->blobs.loader_len);
    assert_non_null(s);
    uint32_t seed = 12345;
    unsigned ok = 0, refused = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(s, f->blobs.loader, f->blobs.loader_len);
        int flips = 1 + iter % 4;
        for (int i = 0; i < flips; i++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % f->blobs.loader_len;
            seed = seed * 1103515245u + 12345u;
            /* bias towards the numeric fields (offsets, sizes, zones) rather than names */
            if (iter % 2)
                at = (at & ~(size_t)127) + 60 + (seed >> 20) % 68;
            s[at] = (uint8_t)(seed >> 12);
        }
        assert_int_equal(fw_files_add(f->fw, ACPI_FILE_LOADER, s, f->blobs.loader_len), 0);
        modvm_err_clear();
        uint64_t gpa;
        int rc = acpi_place(f->pgm, f->fw, FSEG, HIGH, &gpa);
        if (rc == 0) {
            ok++;
            assert_true(gpa >= FSEG && gpa < 0x100000);
        } else {
            refused++;
            assert_int_equal(rc, -EINVAL);
            assert_true(strlen(modvm_err_get()) > 0);
        }
    }
    free(s);
    assert_true(refused > 0);
    print_message("fuzz: %u placed, %u refused\n", ok, refused);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_place_real_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_measure, setup, teardown),
        cmocka_unit_test(test_no_script),
        cmocka_unit_test_setup_teardown(test_hostile_framing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_allocate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_pointer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_checksum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rsdp_checked_and_unknown_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fuzz, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
