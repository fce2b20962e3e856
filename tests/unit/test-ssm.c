/* tests/unit/test-ssm.c — unit tests of SSM (core/ssm.c): the byte layout of core/ssm.h, round trips,
 * the per-unit read window (-EIO, zero fill, sticky failure, remaining), writer misuse, and the
 * reader against hostile streams: each malformation by name, then every truncation, every single
 * byte flipped and seeded random mutations of a valid stream. Each hostile copy lives in a buffer of
 * exactly its length, so a build with -fsanitize=address,undefined catches any read past it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ssm.h"

#define ERRLEN 256
#define HDR_LEN 16
#define BIG_LEN 300

/* ---- building streams -------------------------------------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void unit_put_le(struct modvm_ssm *u, uint64_t v, unsigned bytes)
{
    uint8_t b[8];
    put_le(b, v, bytes);
    assert_int_equal(ssm_unit_put(u, b, bytes), 0);
}

static void begin(struct ssm_writer *w, const char *name, uint32_t instance, uint32_t version,
                  struct modvm_ssm **u)
{
    assert_int_equal(ssm_writer_begin_unit(w, name, instance, version, u), 0);
    assert_non_null(*u);
}

/* The reference stream: four units, one of them empty, one a bit larger. */
static struct ssm_writer *write_reference(const uint8_t **data, size_t *len)
{
    struct ssm_writer *w = ssm_writer_create();
    struct modvm_ssm *u;
    assert_non_null(w);

    begin(w, "uart16550", 0, 1, &u);
    unit_put_le(u, 0x3f8, 2);
    unit_put_le(u, 0x1122334455667788ull, 8);
    assert_int_equal(ssm_unit_put(u, "abc", 3), 0);
    assert_int_equal(ssm_writer_end_unit(w), 0);

    begin(w, "pit", 0, 2, &u);
    assert_int_equal(ssm_writer_end_unit(w), 0);

    begin(w, "uart16550", 1, 1, &u);
    unit_put_le(u, 0x2f8, 2);
    assert_int_equal(ssm_writer_end_unit(w), 0);

    uint8_t big[BIG_LEN];
    for (size_t i = 0; i < BIG_LEN; i++)
        big[i] = (uint8_t)(i * 7 + 3);
    begin(w, "virtio-blk-9", 4294967295u, 7, &u);
    assert_int_equal(ssm_unit_put(u, big, BIG_LEN), 0);
    assert_int_equal(ssm_writer_end_unit(w), 0);

    assert_int_equal(ssm_writer_finish(w, data, len), 0);
    return w;
}

/* ---- reading a whole stream -------------------------------------------------------------------- */

#define MAX_UNITS 8

struct seen_unit {
    char name[64];
    uint32_t instance, version;
    size_t len;
    uint8_t data[512];
};

struct seen {
    int rc;                  /* of the last open/next call */
    char err[ERRLEN];
    size_t count;
    struct seen_unit units[MAX_UNITS];
};

/* Checks that a rejection came with a one-line reason. */
static void check_reason(const struct seen *s)
{
    assert_int_equal(s->rc, -EINVAL);
    assert_true(s->err[0] != '\0');
    assert_null(strchr(s->err, '\n'));
}

/* Reads every unit's data through the window and checks the window's edges. */
static void drain_unit(struct modvm_ssm *u, struct seen_unit *su)
{
    su->len = ssm_unit_remaining(u);
    assert_true(su->len <= sizeof(su->data));
    assert_int_equal(ssm_unit_get(u, su->data, su->len), 0);
    assert_int_equal(ssm_unit_remaining(u), 0);
    uint8_t extra = 0xaa;
    assert_int_equal(ssm_unit_get(u, &extra, 1), -EIO);
    assert_int_equal(extra, 0);
}

/* Opens `data` and reads units until the terminator or an error; the result goes to `s`. */
static void read_all(const uint8_t *data, size_t len, struct seen *s)
{
    struct ssm_reader *r;
    memset(s, 0, sizeof(*s));
    s->rc = ssm_reader_open(data, len, &r, s->err, sizeof(s->err));
    if (s->rc < 0) {
        assert_null(r);
        return;
    }
    for (;;) {
        const char *name;
        uint32_t instance, version;
        struct modvm_ssm *u;
        s->rc = ssm_reader_next_unit(r, &name, &instance, &version, &u, s->err, sizeof(s->err));
        if (s->rc <= 0)
            break;
        assert_int_equal(s->rc, 1);
        assert_true(s->count < MAX_UNITS);
        struct seen_unit *su = &s->units[s->count++];
        assert_true(strlen(name) < sizeof(su->name));
        strcpy(su->name, name);
        su->instance = instance;
        su->version = version;
        drain_unit(u, su);
    }
    ssm_reader_destroy(r);
}

/* A heap copy of exactly `len` bytes (at least 1 allocated, never read past `len`). */
static uint8_t *exact_copy(const uint8_t *data, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, data, len);
    return p;
}

static void read_copy(const uint8_t *data, size_t len, struct seen *s)
{
    uint8_t *copy = exact_copy(data, len);
    read_all(copy, len, s);
    free(copy);
}

/* ---- round trips and layout -------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    (void)state;
    const uint8_t *data;
    size_t len;
    struct ssm_writer *w = write_reference(&data, &len);
    struct seen *s = malloc(sizeof(*s));
    assert_non_null(s);
    read_all(data, len, s);
    assert_int_equal(s->rc, 0);
    assert_int_equal(s->count, 4);

    static const uint8_t uart0[] = { 0xf8, 0x03, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
                                     'a', 'b', 'c' };
    assert_string_equal(s->units[0].name, "uart16550");
    assert_int_equal(s->units[0].instance, 0);
    assert_int_equal(s->units[0].version, 1);
    assert_int_equal(s->units[0].len, sizeof(uart0));
    assert_memory_equal(s->units[0].data, uart0, sizeof(uart0));

    assert_string_equal(s->units[1].name, "pit");
    assert_int_equal(s->units[1].version, 2);
    assert_int_equal(s->units[1].len, 0);

    assert_string_equal(s->units[2].name, "uart16550");
    assert_int_equal(s->units[2].instance, 1);
    assert_int_equal(s->units[2].len, 2);
    assert_int_equal(s->units[2].data[0], 0xf8);
    assert_int_equal(s->units[2].data[1], 0x02);

    assert_string_equal(s->units[3].name, "virtio-blk-9");
    assert_int_equal(s->units[3].instance, 4294967295u);
    assert_int_equal(s->units[3].version, 7);
    assert_int_equal(s->units[3].len, BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        assert_int_equal(s->units[3].data[i], (uint8_t)(i * 7 + 3));
    free(s);
    ssm_writer_destroy(w);
}

static void test_empty_stream(void **state)
{
    (void)state;
    const uint8_t *data;
    size_t len;
    struct ssm_writer *w = ssm_writer_create();
    assert_non_null(w);
    assert_int_equal(ssm_writer_finish(w, &data, &len), 0);
    static const uint8_t expect[] = { 'M', 'O', 'D', 'V', 'M', 'S', 'S', 'M', 1, 0, 0, 0, 0, 0, 0, 0,
                                      'E', 'N', 'D', '!' };
    assert_int_equal(len, sizeof(expect));
    assert_memory_equal(data, expect, sizeof(expect));
    struct seen s;
    read_all(data, len, &s);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.count, 0);
    ssm_writer_destroy(w);
}

/* The exact bytes of core/ssm.h, with the standard CRC-32 check value of "123456789". */
static const uint8_t check_stream[] = {
    'M', 'O', 'D', 'V', 'M', 'S', 'S', 'M', 1, 0, 0, 0, 0, 0, 0, 0,
    'U', 'N', 'I', 'T', 3, 'd', 'e', 'v', 0x05, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00, 0x00,
    9, 0, 0, 0, 0, 0, 0, 0, '1', '2', '3', '4', '5', '6', '7', '8', '9',
    0x26, 0x39, 0xf4, 0xcb, /* CRC-32 0xcbf43926 */
    'E', 'N', 'D', '!',
};

static void test_layout(void **state)
{
    (void)state;
    const uint8_t *data;
    size_t len;
    struct modvm_ssm *u;
    struct ssm_writer *w = ssm_writer_create();
    assert_non_null(w);
    begin(w, "dev", 5, 0x102, &u);
    assert_int_equal(ssm_unit_put(u, "12345", 5), 0);
    assert_int_equal(ssm_unit_put(u, NULL, 0), 0);
    assert_int_equal(ssm_unit_put(u, "6789", 4), 0);
    assert_int_equal(ssm_writer_end_unit(w), 0);
    assert_int_equal(ssm_writer_finish(w, &data, &len), 0);
    assert_int_equal(len, sizeof(check_stream));
    assert_memory_equal(data, check_stream, sizeof(check_stream));
    ssm_writer_destroy(w);

    struct seen s;
    read_copy(check_stream, sizeof(check_stream), &s);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.units[0].name, "dev");
    assert_int_equal(s.units[0].instance, 5);
    assert_int_equal(s.units[0].version, 0x102);
    assert_memory_equal(s.units[0].data, "123456789", 9);
}

/* ---- the unit window --------------------------------------------------------------------------- */

static void test_read_past_end(void **state)
{
    (void)state;
    struct ssm_reader *r;
    const char *name;
    uint32_t inst, ver;
    struct modvm_ssm *u;
    char err[ERRLEN];
    assert_int_equal(ssm_reader_open(check_stream, sizeof(check_stream), &r, err, sizeof(err)), 0);
    assert_int_equal(ssm_reader_next_unit(r, &name, &inst, &ver, &u, err, sizeof(err)), 1);

    uint8_t buf[8];
    assert_int_equal(ssm_unit_remaining(u), 9);
    assert_int_equal(ssm_unit_get(u, buf, 0), 0);
    assert_int_equal(ssm_unit_get(u, buf, 4), 0);
    assert_memory_equal(buf, "1234", 4);
    assert_int_equal(ssm_unit_remaining(u), 5);

    memset(buf, 0xee, sizeof(buf));
    assert_int_equal(ssm_unit_get(u, buf, 6), -EIO); /* one byte too many: all zero */
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(buf[i], 0);
    assert_int_equal(buf[6], 0xee);

    memset(buf, 0xee, sizeof(buf));
    assert_int_equal(ssm_unit_get(u, buf, 1), -EIO); /* would fit, but the failure is sticky */
    assert_int_equal(buf[0], 0);
    assert_int_equal(ssm_unit_get(u, buf, 0), -EIO);
    assert_int_equal(ssm_unit_remaining(u), 5); /* a failed get consumes nothing */

    /* past the terminator the handle is empty */
    assert_int_equal(ssm_reader_next_unit(r, &name, &inst, &ver, &u, err, sizeof(err)), 0);
    assert_null(u);
    assert_null(name);
    assert_int_equal(ssm_reader_next_unit(r, &name, &inst, &ver, &u, err, sizeof(err)), 0);
    ssm_reader_destroy(r);
}

static void test_unit_remaining(void **state)
{
    (void)state;
    const uint8_t *data;
    size_t len;
    struct ssm_writer *w = write_reference(&data, &len);
    struct ssm_reader *r;
    const char *name;
    uint32_t inst, ver;
    struct modvm_ssm *u;
    char err[ERRLEN];
    assert_int_equal(ssm_reader_open(data, len, &r, err, sizeof(err)), 0);

    assert_int_equal(ssm_reader_next_unit(r, &name, &inst, &ver, &u, err, sizeof(err)), 1);
    assert_int_equal(ssm_unit_remaining(u), 13);
    uint8_t b[2];
    assert_int_equal(ssm_unit_get(u, b, 2), 0);
    assert_int_equal(ssm_unit_remaining(u), 11);
    /* leaving data unread: the next unit starts at its own beginning anyway */
    assert_int_equal(ssm_reader_next_unit(r, &name, &inst, &ver, &u, err, sizeof(err)), 1);
    assert_string_equal(name, "pit");
    assert_int_equal(ssm_unit_remaining(u), 0);
    assert_int_equal(ssm_unit_get(u, b, 1), -EIO);
    assert_int_equal(ssm_reader_next_unit(r, &name, &inst, &ver, &u, err, sizeof(err)), 1);
    assert_int_equal(inst, 1);
    assert_int_equal(ssm_unit_remaining(u), 2); /* the failure of the previous unit is not carried */
    assert_int_equal(ssm_unit_get(u, b, 2), 0);
    assert_int_equal(b[0], 0xf8);
    assert_int_equal(ssm_reader_next_unit(r, &name, &inst, &ver, &u, err, sizeof(err)), 1);
    assert_int_equal(ssm_unit_remaining(u), BIG_LEN);
    /* past the terminator a handle kept from the last unit reads nothing more */
    struct modvm_ssm *stale = u;
    assert_int_equal(ssm_reader_next_unit(r, &name, &inst, &ver, &u, err, sizeof(err)), 0);
    assert_int_equal(ssm_unit_remaining(stale), 0);
    b[0] = 0xee;
    assert_int_equal(ssm_unit_get(stale, b, 1), -EIO);
    assert_int_equal(b[0], 0);
    assert_int_equal(ssm_unit_remaining(NULL), 0);
    ssm_reader_destroy(r);
    ssm_writer_destroy(w);
}

/* ---- writer misuse ----------------------------------------------------------------------------- */

static void test_writer_misuse(void **state)
{
    (void)state;
    struct ssm_writer *w = ssm_writer_create();
    struct modvm_ssm *u;
    struct modvm_ssm *u2 = NULL;
    const uint8_t *data;
    size_t len;
    char name[66];
    assert_non_null(w);

    assert_int_equal(ssm_writer_end_unit(w), -EINVAL);
    static const char *const bad[] = { "", "Uart", "a_b", "a b", "a.b", "a/b", "\xc3\xa4" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ssm_writer_begin_unit(w, bad[i], 0, 0, &u), -EINVAL);
    assert_int_equal(ssm_writer_begin_unit(w, NULL, 0, 0, &u), -EINVAL);
    memset(name, 'x', 64);
    name[64] = '\0';
    assert_int_equal(ssm_writer_begin_unit(w, name, 0, 0, &u), -EINVAL);
    name[63] = '\0';
    begin(w, name, 0, 0, &u);

    assert_int_equal(ssm_writer_begin_unit(w, "other", 0, 0, &u2), -EINVAL);
    assert_null(u2);
    assert_int_equal(ssm_writer_finish(w, &data, &len), -EINVAL);
    assert_int_equal(ssm_unit_put(u, NULL, 1), -EINVAL);
    uint8_t b = 0;
    assert_int_equal(ssm_unit_get(u, &b, 1), -EINVAL); /* a writing handle cannot read */
    assert_int_equal(ssm_unit_remaining(u), 0);
    assert_int_equal(ssm_writer_end_unit(w), 0);
    assert_int_equal(ssm_unit_put(u, "x", 1), -EINVAL); /* the unit is closed */
    assert_int_equal(ssm_writer_end_unit(w), -EINVAL);

    assert_int_equal(ssm_writer_finish(w, &data, &len), 0);
    const uint8_t *data2;
    size_t len2;
    assert_int_equal(ssm_writer_finish(w, &data2, &len2), 0); /* idempotent */
    assert_ptr_equal(data2, data);
    assert_int_equal(len2, len);
    assert_int_equal(ssm_writer_begin_unit(w, "late", 0, 0, &u), -EINVAL);

    struct seen s;
    read_all(data, len, &s);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.count, 1);
    assert_string_equal(s.units[0].name, name);
    ssm_writer_destroy(w);
    ssm_writer_destroy(NULL);
}

static void test_put_on_reading_handle(void **state)
{
    (void)state;
    struct ssm_reader *r;
    const char *name;
    uint32_t inst, ver;
    struct modvm_ssm *u;
    assert_int_equal(ssm_reader_open(check_stream, sizeof(check_stream), &r, NULL, 0), 0);
    assert_int_equal(ssm_reader_next_unit(r, &name, &inst, &ver, &u, NULL, 0), 1);
    assert_int_equal(ssm_unit_put(u, "x", 1), -EINVAL);
    assert_int_equal(ssm_unit_remaining(u), 9);
    ssm_reader_destroy(r);
}

/* ---- hostile streams, one malformation at a time ----------------------------------------------- */

/* Offsets in check_stream: unit magic 16, name length 20, name 21..23, instance 24, version 28,
 * data length 32, data 40..48, CRC 49, terminator 53. */
enum { OFF_UNIT = 16, OFF_NLEN = 20, OFF_NAME = 21, OFF_DLEN = 32, OFF_CRC = 49, OFF_END = 53 };

/* Reads `data` and expects a rejection whose reason contains `words`. */
static void expect_reject(const uint8_t *data, size_t len, const char *words)
{
    struct seen s;
    read_copy(data, len, &s);
    check_reason(&s);
    if (!strstr(s.err, words))
        fail_msg("reason \"%s\" does not mention \"%s\"", s.err, words);
}

/* check_stream with `n` bytes at `off` replaced by the little-endian `v`, then rejected. */
static void patch_reject(size_t off, uint64_t v, unsigned n, const char *words)
{
    uint8_t buf[sizeof(check_stream)];
    memcpy(buf, check_stream, sizeof(buf));
    put_le(buf + off, v, n);
    expect_reject(buf, sizeof(buf), words);
}

static void test_bad_header(void **state)
{
    (void)state;
    uint8_t buf[sizeof(check_stream)];
    expect_reject(check_stream, 0, "not a modvm saved state");
    expect_reject(check_stream, 7, "not a modvm saved state");
    expect_reject(check_stream, 8, "truncated");
    expect_reject(check_stream, 15, "truncated");
    memcpy(buf, check_stream, sizeof(buf));
    buf[0] = 'm';
    expect_reject(buf, sizeof(buf), "not a modvm saved state");
    patch_reject(8, 2, 4, "version 2");
    patch_reject(8, 0, 4, "version 0");
    patch_reject(12, 1, 4, "reserved");

    struct ssm_reader *r = (struct ssm_reader *)buf; /* any non-NULL value: open must clear it */
    assert_int_equal(ssm_reader_open(NULL, 100, &r, NULL, 0), -EINVAL);
    assert_null(r);
    /* a tiny error buffer gets a truncated, terminated reason */
    char small[8];
    assert_int_equal(ssm_reader_open(check_stream, 3, &r, small, sizeof(small)), -EINVAL);
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_bad_unit_magic(void **state)
{
    (void)state;
    patch_reject(OFF_UNIT, 0x54494e56, 4, "bad unit magic 0x54494e56 at offset 16");
    patch_reject(OFF_UNIT, 0, 4, "bad unit magic");
}

static void test_bad_names(void **state)
{
    (void)state;
    patch_reject(OFF_NLEN, 0, 1, "name of 0 bytes");
    patch_reject(OFF_NLEN, 64, 1, "name of 64 bytes");
    patch_reject(OFF_NLEN, 255, 1, "name of 255 bytes");
    patch_reject(OFF_NAME, 'D', 1, "outside [a-z0-9-]");
    patch_reject(OFF_NAME + 1, '_', 1, "outside [a-z0-9-]");
    patch_reject(OFF_NAME + 2, 0, 1, "outside [a-z0-9-]");
    patch_reject(OFF_NAME, 0xff, 1, "outside [a-z0-9-]");
    patch_reject(OFF_NAME, '/', 1, "outside [a-z0-9-]");
    /* a longer (valid-length) name swallows the following fields and then runs out of stream */
    patch_reject(OFF_NLEN, 63, 1, "truncated in the unit at offset 16");
}

static void test_bad_lengths(void **state)
{
    (void)state;
    size_t left = sizeof(check_stream) - (OFF_DLEN + 8); /* data + CRC + terminator */
    patch_reject(OFF_DLEN, UINT64_MAX, 8, "runs past the end");
    patch_reject(OFF_DLEN, UINT64_MAX - (OFF_DLEN + 8) + 1, 8, "runs past the end"); /* wraps to 0 */
    patch_reject(OFF_DLEN, (uint64_t)SIZE_MAX, 8, "runs past the end");
    patch_reject(OFF_DLEN, 1ull << 63, 8, "runs past the end");
    patch_reject(OFF_DLEN, left + 1, 8, "runs past the end");
    patch_reject(OFF_DLEN, left, 8, "runs past the end");        /* no room for the CRC */
    patch_reject(OFF_DLEN, left - 3, 8, "runs past the end");
    patch_reject(OFF_DLEN, left - 4, 8, "CRC mismatch");         /* the terminator read as the CRC */
    patch_reject(OFF_DLEN, 8, 8, "CRC mismatch");                /* shorter: CRC over other bytes */
}

static void test_bad_crc(void **state)
{
    (void)state;
    patch_reject(OFF_CRC, 0xcbf43927, 4, "CRC mismatch (stored 0xcbf43927, computed 0xcbf43926)");
    patch_reject(OFF_CRC + 3, 0, 1, "unit 'dev' #5 at offset 16: CRC mismatch");
    patch_reject(OFF_DLEN + 8, '0', 1, "CRC mismatch"); /* data changed, CRC not */
}

static void test_terminator(void **state)
{
    (void)state;
    uint8_t buf[sizeof(check_stream) + 4];
    /* a stream that ends after a unit (no terminator), and one cut inside the terminator */
    expect_reject(check_stream, OFF_END, "no terminator");
    expect_reject(check_stream, OFF_END + 3, "no terminator");
    /* anything after the terminator */
    memcpy(buf, check_stream, sizeof(check_stream));
    memcpy(buf + sizeof(check_stream), "END!", 4);
    expect_reject(buf, sizeof(check_stream) + 1, "trailing data after its terminator at offset 57");
    expect_reject(buf, sizeof(check_stream) + 4, "trailing data after its terminator at offset 57");
    patch_reject(OFF_END, 0x21444e46, 4, "bad unit magic");
}

static void test_reader_failure_is_sticky(void **state)
{
    (void)state;
    uint8_t buf[sizeof(check_stream)];
    struct ssm_reader *r;
    const char *name;
    uint32_t inst, ver;
    struct modvm_ssm *u;
    char err[ERRLEN], again[ERRLEN];
    memcpy(buf, check_stream, sizeof(buf));
    buf[OFF_CRC] ^= 1;
    assert_int_equal(ssm_reader_open(buf, sizeof(buf), &r, err, sizeof(err)), 0);
    assert_int_equal(ssm_reader_next_unit(r, &name, &inst, &ver, &u, err, sizeof(err)), -EINVAL);
    assert_null(u);
    assert_null(name);
    buf[OFF_CRC] ^= 1; /* even repaired, the reader stays failed */
    assert_int_equal(ssm_reader_next_unit(r, &name, &inst, &ver, &u, again, sizeof(again)), -EINVAL);
    assert_string_equal(again, err);
    assert_int_equal(ssm_reader_next_unit(r, &name, &inst, &ver, &u, NULL, 0), -EINVAL);
    ssm_reader_destroy(r);
}

/* ---- hostile streams, exhaustively ------------------------------------------------------------- */

/* An accepted mutation must not have changed what the units contain: only the header fields the
 * CRC does not cover (name, instance, version) may differ. */
static void check_consistent(const struct seen *ref, const struct seen *s)
{
    assert_int_equal(s->count, ref->count);
    for (size_t i = 0; i < s->count; i++) {
        assert_int_equal(s->units[i].len, ref->units[i].len);
        assert_memory_equal(s->units[i].data, ref->units[i].data, s->units[i].len);
    }
}

static void test_every_truncation(void **state)
{
    (void)state;
    const uint8_t *data;
    size_t len;
    struct ssm_writer *w = write_reference(&data, &len);
    struct seen *s = malloc(sizeof(*s));
    assert_non_null(s);
    for (size_t n = 0; n < len; n++) {
        read_copy(data, n, s);
        check_reason(s);
    }
    read_copy(data, len, s);
    assert_int_equal(s->rc, 0);
    free(s);
    ssm_writer_destroy(w);
}

static void test_every_byte_flipped(void **state)
{
    (void)state;
    static const uint8_t masks[] = { 0x01, 0x80, 0xff, 0x20 };
    const uint8_t *data;
    size_t len;
    struct ssm_writer *w = write_reference(&data, &len);
    struct seen *ref = malloc(sizeof(*ref));
    struct seen *s = malloc(sizeof(*s));
    assert_non_null(ref);
    assert_non_null(s);
    read_all(data, len, ref);
    assert_int_equal(ref->rc, 0);
    uint8_t *copy = exact_copy(data, len);
    size_t accepted = 0;
    for (size_t i = 0; i < len; i++) {
        for (size_t m = 0; m < sizeof(masks); m++) {
            copy[i] ^= masks[m];
            read_all(copy, len, s);
            copy[i] ^= masks[m];
            if (s->rc == 0) {
                check_consistent(ref, s);
                accepted++;
            } else {
                check_reason(s);
            }
        }
    }
    /* only the uncovered fields may accept a flip: instance, version and (to valid characters) names */
    assert_true(accepted > 0);
    assert_true(accepted < len);
    free(copy);
    free(ref);
    free(s);
    ssm_writer_destroy(w);
}

/* xorshift32: a fixed seed keeps the run reproducible. */
static uint32_t next_random(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void test_random_mutations(void **state)
{
    (void)state;
    const uint8_t *data;
    size_t len;
    struct ssm_writer *w = write_reference(&data, &len);
    struct seen *ref = malloc(sizeof(*ref));
    struct seen *s = malloc(sizeof(*s));
    assert_non_null(ref);
    assert_non_null(s);
    read_all(data, len, ref);
    uint32_t seed = 0x6d6f6476;
    for (int iter = 0; iter < 20000; iter++) {
        size_t cut = len - next_random(&seed) % 8; /* sometimes also shorter */
        uint8_t *copy = exact_copy(data, cut);
        for (uint32_t k = next_random(&seed) % 4 + 1; k > 0; k--)
            copy[next_random(&seed) % cut] = (uint8_t)next_random(&seed);
        read_all(copy, cut, s);
        if (s->rc == 0)
            check_consistent(ref, s);
        else
            check_reason(s);
        free(copy);
    }
    free(ref);
    free(s);
    ssm_writer_destroy(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_stream),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_read_past_end),
        cmocka_unit_test(test_unit_remaining),
        cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_put_on_reading_handle),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_unit_magic),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_terminator),
        cmocka_unit_test(test_reader_failure_is_sticky),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_every_byte_flipped),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
