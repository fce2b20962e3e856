/* core/ssm.c — SSM, the saved-state stream (layout and API in core/ssm.h).
 *
 * The writer builds the whole stream in one growing buffer: a unit's length field is written as a
 * placeholder and patched, and its CRC appended, when the unit ends. The reader walks a stream it
 * does not own and treats it as hostile (attacker model: any byte of the file is chosen by someone
 * else): every read goes through ssm_take(), the one bounds check, which compares a length against
 * the bytes left (never adds to an offset, so a u64 length cannot wrap); names, data lengths and
 * CRCs are checked before a unit is handed out; the first malformation makes the reader fail for
 * good with a one-line reason. A device reads its unit through struct modvm_ssm, a window over that
 * unit's data only. CRC-32 is the IEEE 802.3 one (reflected, polynomial 0xEDB88320, initial and
 * final XOR 0xFFFFFFFF; check value 0xCBF43926 for "123456789"). */
#include "le.h"
#include "ssm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SSM_MAGIC "MODVMSSM"
#define SSM_MAGIC_LEN 8
#define SSM_UNIT_MAGIC 0x54494e55u /* "UNIT" */
#define SSM_END_MAGIC 0x21444e45u  /* "END!" */
#define SSM_NAME_MAX 63
#define SSM_CRC_LEN 4
#define SSM_REASON_MAX 160

enum ssm_mode { SSM_MODE_WRITE = 1, SSM_MODE_READ = 2 };

/* The per-unit handle. Writing: appends to `writer` while its unit is open. Reading: a window
 * data[0..len) with read position `pos` and a sticky failure flag. */
struct modvm_ssm {
    enum ssm_mode mode;
    struct ssm_writer *writer;
    const uint8_t *data;
    size_t len;
    size_t pos;
    bool failed;
};

struct ssm_writer {
    uint8_t *buf;
    size_t len;
    size_t cap;
    int error;           /* sticky: -ENOMEM once an append failed (the stream has a hole) */
    bool unit_open;
    bool finished;
    size_t len_field;    /* offset of the open unit's u64 data length */
    struct modvm_ssm unit;
};

struct ssm_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;
    bool done;                     /* the terminator was read */
    bool broken;                   /* malformed: every later call fails with `reason` */
    char reason[SSM_REASON_MAX];
    char name[SSM_NAME_MAX + 1];   /* the current unit's name */
    struct modvm_ssm unit;
};

/* ---- CRC-32 ------------------------------------------------------------------------------------ */

/* CRC of each 4-bit value under the reflected polynomial: two lookups per byte keep the table tiny
 * while being several times faster than bit-by-bit (units can hold guest RAM). */
static const uint32_t ssm_crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u, 0x4db26158u, 0x5005713cu,
    0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu, 0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
};

static uint32_t ssm_crc32(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ ssm_crc_nibble[crc & 0xf];
        crc = (crc >> 4) ^ ssm_crc_nibble[crc & 0xf];
    }
    return ~crc;
}

/* ---- names ------------------------------------------------------------------------------- */

/* Is s[0..n) a unit name: 1..63 characters of [a-z0-9-]? */
static bool ssm_name_valid(const char *s, size_t n)
{
    if (n == 0 || n > SSM_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

/* ---- writer ------------------------------------------------------------------------------------ */

/* Makes room for `n` more bytes; the error is sticky. */
static int ssm_reserve(struct ssm_writer *w, size_t n)
{
    if (w->error)
        return w->error;
    if (n <= w->cap - w->len)
        return 0;
    if (n > SIZE_MAX - w->len) {
        w->error = -ENOMEM;
        return w->error;
    }
    size_t need = w->len + n;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *buf = realloc(w->buf, cap);
    if (!buf) {
        w->error = -ENOMEM;
        return w->error;
    }
    w->buf = buf;
    w->cap = cap;
    return 0;
}

static int ssm_append(struct ssm_writer *w, const void *p, size_t n)
{
    int rc = ssm_reserve(w, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 0;
}

static int ssm_append_le(struct ssm_writer *w, uint64_t v, unsigned bytes)
{
    uint8_t b[8];
    le_put(b, v, bytes);
    return ssm_append(w, b, bytes);
}

/** A writer building a stream in memory (the header already written); NULL when out of memory. */
struct ssm_writer *ssm_writer_create(void)
{
    struct ssm_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->unit = (struct modvm_ssm){ .mode = SSM_MODE_WRITE, .writer = w };
    ssm_append(w, SSM_MAGIC, SSM_MAGIC_LEN);
    ssm_append_le(w, SSM_STREAM_VERSION, 4);
    ssm_append_le(w, 0, 4);
    if (w->error) {
        ssm_writer_destroy(w);
        return NULL;
    }
    return w;
}

/** Frees the writer and its stream. */
void ssm_writer_destroy(struct ssm_writer *w)
{
    if (!w)
        return;
    free(w->buf);
    free(w);
}

/** Starts a unit and returns the handle the device's save callback writes into. -EINVAL if a unit is
 * already open, the stream is finished or the name is bad; -ENOMEM. */
int ssm_writer_begin_unit(struct ssm_writer *w, const char *name, uint32_t instance, uint32_t version,
                          struct modvm_ssm **unit)
{
    if (!w || !unit || !name || w->unit_open || w->finished)
        return -EINVAL;
    size_t n = strnlen(name, SSM_NAME_MAX + 1);
    if (!ssm_name_valid(name, n))
        return -EINVAL;
    ssm_append_le(w, SSM_UNIT_MAGIC, 4);
    ssm_append_le(w, n, 1);
    ssm_append(w, name, n);
    ssm_append_le(w, instance, 4);
    ssm_append_le(w, version, 4);
    w->len_field = w->len;
    ssm_append_le(w, 0, 8); /* patched by ssm_writer_end_unit */
    if (w->error)
        return w->error;
    w->unit_open = true;
    *unit = &w->unit;
    return 0;
}

/** Appends bytes to the open unit. -EINVAL without an open unit or on a reading handle; -ENOMEM. */
int ssm_unit_put(struct modvm_ssm *unit, const void *buf, size_t len)
{
    if (!unit || unit->mode != SSM_MODE_WRITE || !unit->writer->unit_open || (!buf && len))
        return -EINVAL;
    return ssm_append(unit->writer, buf, len);
}

/** Closes the open unit (fills in its length and CRC). -EINVAL without an open unit. */
int ssm_writer_end_unit(struct ssm_writer *w)
{
    if (!w || !w->unit_open)
        return -EINVAL;
    w->unit_open = false;
    if (w->error)
        return w->error;
    size_t data = w->len_field + 8;
    le_put(w->buf + w->len_field, w->len - data, 8);
    return ssm_append_le(w, ssm_crc32(w->buf + data, w->len - data), 4);
}

/** Writes the terminator (once) and returns the finished stream, owned by the writer. -EINVAL while
 * a unit is open; the sticky -ENOMEM of an earlier append. */
int ssm_writer_finish(struct ssm_writer *w, const uint8_t **data, size_t *len)
{
    if (!w || !data || !len || w->unit_open)
        return -EINVAL;
    if (!w->finished) {
        ssm_append_le(w, SSM_END_MAGIC, 4);
        w->finished = true;
    }
    if (w->error)
        return w->error;
    *data = w->buf;
    *len = w->len;
    return 0;
}

/* ---- reader ------------------------------------------------------------------------------------ */

static void ssm_copy_reason(const char *reason, char *err, size_t errlen)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", reason);
}

/* Marks the reader broken with a one-line reason (also copied to err); returns -EINVAL. */
__attribute__((format(printf, 4, 5)))
static int ssm_fail(struct ssm_reader *r, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
    va_end(ap);
    r->broken = true;
    ssm_copy_reason(r->reason, err, errlen);
    return -EINVAL;
}

/* The bounds check every read goes through: the next `n` bytes, or NULL when fewer are left. */
static const uint8_t *ssm_take(struct ssm_reader *r, uint64_t n)
{
    if (n > r->len - r->pos)
        return NULL;
    const uint8_t *p = r->data + r->pos;
    r->pos += (size_t)n;
    return p;
}

static bool ssm_take_le(struct ssm_reader *r, unsigned bytes, uint64_t *v)
{
    const uint8_t *p = ssm_take(r, bytes);
    if (!p)
        return false;
    *v = le_get(p, bytes);
    return true;
}

/** A reader over a stream in memory (not copied: keep `data` alive). -EINVAL with a reason in `err`
 * when it is not a modvm saved state or has another version; -ENOMEM. */
int ssm_reader_open(const uint8_t *data, size_t len, struct ssm_reader **out, char *err, size_t errlen)
{
    *out = NULL;
    struct ssm_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->data = data;
    r->len = data ? len : 0;
    const uint8_t *magic = ssm_take(r, SSM_MAGIC_LEN);
    uint64_t version, reserved;
    int rc = 0;
    if (!magic || memcmp(magic, SSM_MAGIC, SSM_MAGIC_LEN) != 0)
        rc = ssm_fail(r, err, errlen, "not a modvm saved state (no \"MODVMSSM\" header)");
    else if (!ssm_take_le(r, 4, &version) || !ssm_take_le(r, 4, &reserved))
        rc = ssm_fail(r, err, errlen, "saved state truncated in its header (%zu bytes)", len);
    else if (version != SSM_STREAM_VERSION)
        rc = ssm_fail(r, err, errlen, "saved state has stream version %" PRIu64 ", this modvm reads "
                      "version %d", version, SSM_STREAM_VERSION);
    else if (reserved != 0)
        rc = ssm_fail(r, err, errlen, "saved state header has a non-zero reserved field");
    if (rc < 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/** Frees the reader (not the stream). */
void ssm_reader_destroy(struct ssm_reader *r)
{
    free(r);
}

/* Reads the terminator; anything after it is rejected. Returns 0 or -EINVAL. */
static int ssm_read_end(struct ssm_reader *r, char *err, size_t errlen)
{
    if (r->pos != r->len)
        return ssm_fail(r, err, errlen, "saved state has trailing data after its terminator at "
                        "offset %zu", r->pos);
    r->done = true;
    return 0;
}

/* Reads a unit's name (after its magic at offset `at`) into r->name. Returns 0 or -EINVAL. */
static int ssm_read_name(struct ssm_reader *r, size_t at, char *err, size_t errlen)
{
    uint64_t n;
    if (!ssm_take_le(r, 1, &n))
        return ssm_fail(r, err, errlen, "saved state truncated in the unit at offset %zu", at);
    if (n == 0 || n > SSM_NAME_MAX)
        return ssm_fail(r, err, errlen, "saved-state unit at offset %zu has a name of %" PRIu64
                        " bytes (must be 1..%d)", at, n, SSM_NAME_MAX);
    const uint8_t *name = ssm_take(r, n);
    if (!name)
        return ssm_fail(r, err, errlen, "saved state truncated in the unit at offset %zu", at);
    if (!ssm_name_valid((const char *)name, (size_t)n))
        return ssm_fail(r, err, errlen, "saved-state unit at offset %zu has a name with characters "
                        "outside [a-z0-9-]", at);
    memcpy(r->name, name, (size_t)n);
    r->name[n] = '\0';
    return 0;
}

/* Reads the rest of a unit after its name: instance, version, data and CRC; sets up r->unit. */
static int ssm_read_body(struct ssm_reader *r, size_t at, uint32_t *instance, uint32_t *version,
                         char *err, size_t errlen)
{
    uint64_t inst, ver, dlen, crc;
    if (!ssm_take_le(r, 4, &inst) || !ssm_take_le(r, 4, &ver) || !ssm_take_le(r, 8, &dlen))
        return ssm_fail(r, err, errlen, "saved state truncated in unit '%s' at offset %zu", r->name, at);
    const uint8_t *data = ssm_take(r, dlen);
    if (!data || !ssm_take_le(r, SSM_CRC_LEN, &crc))
        return ssm_fail(r, err, errlen, "saved-state unit '%s' #%" PRIu64 " at offset %zu: data length "
                        "%" PRIu64 " runs past the end of the stream", r->name, inst, at, dlen);
    uint32_t actual = ssm_crc32(data, (size_t)dlen);
    if (actual != crc)
        return ssm_fail(r, err, errlen, "saved-state unit '%s' #%" PRIu64 " at offset %zu: CRC mismatch "
                        "(stored 0x%08" PRIx64 ", computed 0x%08" PRIx32 ")", r->name, inst, at, crc, actual);
    r->unit = (struct modvm_ssm){ .mode = SSM_MODE_READ, .data = data, .len = (size_t)dlen };
    *instance = (uint32_t)inst;
    *version = (uint32_t)ver;
    return 0;
}

/* Reads one unit (its magic already consumed at offset `at`). Returns 1 or -EINVAL. */
static int ssm_read_unit(struct ssm_reader *r, size_t at, uint32_t *instance, uint32_t *version,
                         char *err, size_t errlen)
{
    int rc = ssm_read_name(r, at, err, errlen);
    if (rc == 0)
        rc = ssm_read_body(r, at, instance, version, err, errlen);
    return rc < 0 ? rc : 1;
}

/** Advances to the next unit. Returns 1 and fills name/instance/version and the unit handle; 0 at the
 * terminator (and after it); -EINVAL with a one-line reason on a malformed stream (and after it). */
int ssm_reader_next_unit(struct ssm_reader *r, const char **name, uint32_t *instance, uint32_t *version,
                         struct modvm_ssm **unit, char *err, size_t errlen)
{
    *name = NULL;
    *unit = NULL;
    /* One handle serves every unit: until another unit is read it is empty and failed, so a loader
     * holding it after the terminator or an error reads zeros and -EIO. */
    r->unit = (struct modvm_ssm){ .mode = SSM_MODE_READ, .failed = true };
    if (r->broken) {
        ssm_copy_reason(r->reason, err, errlen);
        return -EINVAL;
    }
    if (r->done)
        return 0;
    size_t at = r->pos;
    uint64_t magic;
    if (!ssm_take_le(r, 4, &magic))
        return ssm_fail(r, err, errlen, "saved state truncated at offset %zu (no terminator)", at);
    if (magic == SSM_END_MAGIC)
        return ssm_read_end(r, err, errlen);
    if (magic != SSM_UNIT_MAGIC)
        return ssm_fail(r, err, errlen, "saved state has a bad unit magic 0x%08" PRIx64 " at offset %zu",
                        magic, at);
    int rc = ssm_read_unit(r, at, instance, version, err, errlen);
    if (rc == 1) {
        *name = r->name;
        *unit = &r->unit;
    }
    return rc;
}

/** Reads from the current unit: -EIO (and zero-fills) past its end; sticky after the first failure.
 * -EINVAL on a writing handle. */
int ssm_unit_get(struct modvm_ssm *unit, void *buf, size_t len)
{
    if (!unit || unit->mode != SSM_MODE_READ || (!buf && len))
        return -EINVAL;
    if (unit->failed || len > unit->len - unit->pos) {
        unit->failed = true;
        if (len)
            memset(buf, 0, len);
        return -EIO;
    }
    if (len)
        memcpy(buf, unit->data + unit->pos, len);
    unit->pos += len;
    return 0;
}

/** Bytes of the current unit not read yet (0 for a writing handle). */
size_t ssm_unit_remaining(const struct modvm_ssm *unit)
{
    if (!unit || unit->mode != SSM_MODE_READ)
        return 0;
    return unit->len - unit->pos;
}
