/* aml.c — the AML encoder (see aml.h).
 *
 * Spec: ACPI 6.5, section 20.2 "AML Grammar Definition" and section 6.4 "Resource Data Types for
 * ACPI". Opcode values are those of 20.3 "AML Byte Stream Byte Values". */
#include "aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* AML opcodes (20.3). */
#define AML_OP_ZERO 0x00u
#define AML_OP_ONE 0x01u
#define AML_OP_NAME 0x08u
#define AML_OP_BYTE 0x0au
#define AML_OP_WORD 0x0bu
#define AML_OP_DWORD 0x0cu
#define AML_OP_STRING 0x0du
#define AML_OP_QWORD 0x0eu
#define AML_OP_SCOPE 0x10u
#define AML_OP_BUFFER 0x11u
#define AML_OP_PACKAGE 0x12u
#define AML_OP_METHOD 0x14u
#define AML_OP_DUAL_NAME 0x2eu
#define AML_OP_MULTI_NAME 0x2fu
#define AML_OP_EXT 0x5bu
#define AML_OP_ROOT 0x5cu
#define AML_OP_PARENT 0x5eu
#define AML_OP_LOCAL0 0x60u
#define AML_OP_ARG0 0x68u
#define AML_OP_STORE 0x70u
#define AML_OP_SHIFT_LEFT 0x79u
#define AML_OP_AND 0x7bu
#define AML_OP_OR 0x7du
#define AML_OP_RETURN 0xa4u
#define AML_OP_ONES 0xffu
#define AML_EXT_DEVICE 0x82u

/* Resource descriptor tags (6.4.2 small: type << 3 | length; 6.4.3 large: 0x80 | type). */
#define AML_RT_TAG_IRQ_NOFLAGS 0x22u /* type 0x04, 2 bytes */
#define AML_RT_TAG_IO 0x47u          /* type 0x08, 7 bytes */
#define AML_RT_TAG_END 0x79u         /* type 0x0f, 1 byte */
#define AML_RT_TAG_MEMORY32_FIXED 0x86u
#define AML_RT_TAG_DWORD_ADDRESS 0x87u
#define AML_RT_TAG_WORD_ADDRESS 0x88u
#define AML_RT_TAG_EXT_INTERRUPT 0x89u
#define AML_RT_TAG_QWORD_ADDRESS 0x8au

#define AML_NAMESEG_LEN 4u
#define AML_MAX_SEGS 255u     /* MultiNamePrefix SegCount is a byte */
#define AML_PKGLEN_LIMIT (1u << 28)

void aml_init(struct aml *a)
{
    memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
    free(a->buf);
    memset(a, 0, sizeof(*a));
}

int aml_error(const struct aml *a)
{
    return a->err;
}

/* Records the first error. */
static void aml_fail(struct aml *a, int rc)
{
    if (a->err == 0)
        a->err = rc;
}

/* Makes room for `n` more bytes; false (with the error recorded) when it cannot. */
static bool aml_reserve(struct aml *a, size_t n)
{
    if (a->err)
        return false;
    if (n > AML_MAX_LEN || a->len > AML_MAX_LEN - n) {
        aml_fail(a, -E2BIG);
        return false;
    }
    if (a->len + n <= a->cap)
        return true;
    size_t cap = a->cap ? a->cap : 256;
    while (cap < a->len + n)
        cap *= 2;
    uint8_t *nb = realloc(a->buf, cap);
    if (!nb) {
        aml_fail(a, -ENOMEM);
        return false;
    }
    a->buf = nb;
    a->cap = cap;
    return true;
}

void aml_bytes(struct aml *a, const void *data, size_t len)
{
    if (len == 0 || !aml_reserve(a, len))
        return;
    memcpy(a->buf + a->len, data, len);
    a->len += len;
}

void aml_byte(struct aml *a, uint8_t b)
{
    aml_bytes(a, &b, 1);
}

/* Writes the low `n` bytes of `v`, least significant first. */
static void aml_le(struct aml *a, uint64_t v, unsigned n)
{
    uint8_t b[8];
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    aml_bytes(a, b, n);
}

void aml_le16(struct aml *a, uint16_t v)
{
    aml_le(a, v, 2);
}

void aml_le32(struct aml *a, uint32_t v)
{
    aml_le(a, v, 4);
}

void aml_le64(struct aml *a, uint64_t v)
{
    aml_le(a, v, 8);
}

void aml_append(struct aml *a, const struct aml *b)
{
    if (b->err) {
        aml_fail(a, b->err);
        return;
    }
    aml_bytes(a, b->buf, b->len);
}

/* ---- encodings ----------------------------------------------------------------------------------- */

size_t aml_pkglen_encode(size_t content_len, uint8_t out[4])
{
    /* The encoded value includes the PkgLength's own bytes, so try each size in turn: one byte holds
     * 0-63 in bits 5:0; n bytes hold 4 bits in the lead byte plus 8 in each following byte. */
    if (content_len <= 0x3e) {
        out[0] = (uint8_t)(content_len + 1);
        return 1;
    }
    for (size_t n = 2; n <= 4; n++) {
        if (content_len >= ((size_t)1 << (4 + 8 * (n - 1))) - n) /* the total would not fit */
            continue;
        size_t total = content_len + n;
        out[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
        for (size_t i = 1; i < n; i++)
            out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
        return n;
    }
    return 0;
}

/* The 5-bit code of an EISA ID letter ('A' = 1 ... 'Z' = 26), or -1. */
static int aml_eisa_letter(char c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 1 : -1;
}

/* The value of an upper-case hex digit, or -1 (iasl accepts only upper case). */
static int aml_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool aml_eisaid_value(const char *id, uint32_t *out)
{
    if (!id || strlen(id) != 7)
        return false;
    int l0 = aml_eisa_letter(id[0]), l1 = aml_eisa_letter(id[1]), l2 = aml_eisa_letter(id[2]);
    if (l0 < 0 || l1 < 0 || l2 < 0)
        return false;
    uint32_t product = 0;
    for (int i = 3; i < 7; i++) {
        int d = aml_hex_digit(id[i]);
        if (d < 0)
            return false;
        product = (product << 4) | (uint32_t)d;
    }
    /* Bytes in the stream: the 15-bit vendor code big-endian (0 L0[4:0] L1[4:0] L2[4:0]), then the
     * product number big-endian; read as a little-endian DWord. */
    uint32_t vendor = ((uint32_t)l0 << 10) | ((uint32_t)l1 << 5) | (uint32_t)l2;
    uint8_t b[4] = {(uint8_t)(vendor >> 8), (uint8_t)vendor, (uint8_t)(product >> 8), (uint8_t)product};
    *out = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return true;
}

/* ---- names, data objects ------------------------------------------------------------------------- */

/* True for a character allowed at position `i` of a NameSeg. */
static bool aml_seg_char_ok(char c, size_t i)
{
    if ((c >= 'A' && c <= 'Z') || c == '_')
        return true;
    return i > 0 && c >= '0' && c <= '9';
}

void aml_name(struct aml *a, const char *name)
{
    if (a->err)
        return;
    if (!name) {
        aml_fail(a, -EINVAL);
        return;
    }
    const char *p = name;
    uint8_t prefix[256];
    size_t nprefix = 0;
    if (*p == '\\') {
        prefix[nprefix++] = AML_OP_ROOT;
        p++;
    } else {
        while (*p == '^') {
            if (nprefix == sizeof(prefix)) {
                aml_fail(a, -EINVAL);
                return;
            }
            prefix[nprefix++] = AML_OP_PARENT;
            p++;
        }
    }
    /* Split and pad the segments first, so a bad name writes nothing. */
    uint8_t segs[AML_MAX_SEGS][AML_NAMESEG_LEN];
    size_t nsegs = 0;
    while (*p) {
        size_t n = 0;
        if (nsegs == AML_MAX_SEGS) {
            aml_fail(a, -EINVAL);
            return;
        }
        while (p[n] && p[n] != '.') {
            if (n == AML_NAMESEG_LEN || !aml_seg_char_ok(p[n], n)) {
                aml_fail(a, -EINVAL);
                return;
            }
            n++;
        }
        if (n == 0) {
            aml_fail(a, -EINVAL); /* "..", a leading or trailing '.' */
            return;
        }
        memset(segs[nsegs], '_', AML_NAMESEG_LEN);
        memcpy(segs[nsegs], p, n);
        nsegs++;
        p += n;
        if (*p == '.' && *++p == '\0') {
            aml_fail(a, -EINVAL);
            return;
        }
    }
    if (nprefix == 0 && nsegs == 0) {
        aml_fail(a, -EINVAL); /* an empty name */
        return;
    }
    aml_bytes(a, prefix, nprefix);
    if (nsegs == 0) {
        aml_byte(a, AML_OP_ZERO); /* NullName: "\" alone, or "^" */
        return;
    }
    if (nsegs == 2) {
        aml_byte(a, AML_OP_DUAL_NAME);
    } else if (nsegs > 2) {
        aml_byte(a, AML_OP_MULTI_NAME);
        aml_byte(a, (uint8_t)nsegs);
    }
    aml_bytes(a, segs, nsegs * AML_NAMESEG_LEN);
}

void aml_int(struct aml *a, uint64_t v)
{
    if (v == 0) {
        aml_byte(a, AML_OP_ZERO);
    } else if (v == 1) {
        aml_byte(a, AML_OP_ONE);
    } else if (v == UINT64_MAX) {
        aml_byte(a, AML_OP_ONES);
    } else if (v <= 0xff) {
        aml_byte(a, AML_OP_BYTE);
        aml_byte(a, (uint8_t)v);
    } else if (v <= 0xffff) {
        aml_byte(a, AML_OP_WORD);
        aml_le16(a, (uint16_t)v);
    } else if (v <= 0xffffffffu) {
        aml_byte(a, AML_OP_DWORD);
        aml_le32(a, (uint32_t)v);
    } else {
        aml_byte(a, AML_OP_QWORD);
        aml_le64(a, v);
    }
}

void aml_string(struct aml *a, const char *s)
{
    if (!s) {
        aml_fail(a, -EINVAL);
        return;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p > 0x7f) {
            aml_fail(a, -EINVAL);
            return;
        }
    }
    aml_byte(a, AML_OP_STRING);
    aml_bytes(a, s, strlen(s) + 1);
}

void aml_eisaid(struct aml *a, const char *id)
{
    uint32_t v;
    if (!aml_eisaid_value(id, &v)) {
        aml_fail(a, -EINVAL);
        return;
    }
    /* An EISA ID is just an Integer: "PNP0000" (0xd041) fits a WordConst, as iasl encodes it. */
    aml_int(a, v);
}

void aml_buffer(struct aml *a, const void *data, size_t len)
{
    size_t mark = aml_open(a, AML_OP_BUFFER, false);
    aml_int(a, len);
    aml_bytes(a, data, len);
    aml_close(a, mark);
}

void aml_arg(struct aml *a, unsigned n)
{
    if (n > 6) {
        aml_fail(a, -EINVAL);
        return;
    }
    aml_byte(a, (uint8_t)(AML_OP_ARG0 + n));
}

void aml_local(struct aml *a, unsigned n)
{
    if (n > 7) {
        aml_fail(a, -EINVAL);
        return;
    }
    aml_byte(a, (uint8_t)(AML_OP_LOCAL0 + n));
}

/* ---- terms with a PkgLength ---------------------------------------------------------------------- */

size_t aml_open(struct aml *a, uint8_t op, bool ext_prefix)
{
    if (ext_prefix)
        aml_byte(a, AML_OP_EXT);
    aml_byte(a, op);
    return a->len;
}

void aml_close(struct aml *a, size_t mark)
{
    if (a->err)
        return;
    if (mark > a->len) {
        aml_fail(a, -EINVAL);
        return;
    }
    uint8_t enc[4];
    size_t n = aml_pkglen_encode(a->len - mark, enc);
    if (n == 0) {
        aml_fail(a, -E2BIG);
        return;
    }
    if (!aml_reserve(a, n))
        return;
    memmove(a->buf + mark + n, a->buf + mark, a->len - mark);
    memcpy(a->buf + mark, enc, n);
    a->len += n;
}

void aml_name_decl(struct aml *a, const char *name)
{
    aml_byte(a, AML_OP_NAME);
    aml_name(a, name);
}

size_t aml_scope(struct aml *a, const char *name)
{
    size_t mark = aml_open(a, AML_OP_SCOPE, false);
    aml_name(a, name);
    return mark;
}

size_t aml_device(struct aml *a, const char *name)
{
    size_t mark = aml_open(a, AML_EXT_DEVICE, true);
    aml_name(a, name);
    return mark;
}

size_t aml_method(struct aml *a, const char *name, unsigned nargs, bool serialized)
{
    size_t mark = aml_open(a, AML_OP_METHOD, false);
    aml_name(a, name);
    if (nargs > 7)
        aml_fail(a, -EINVAL);
    /* MethodFlags: bits 2:0 ArgCount, bit 3 SerializeFlag, bits 7:4 SyncLevel (0). */
    aml_byte(a, (uint8_t)((nargs & 7u) | (serialized ? 0x08u : 0u)));
    return mark;
}

size_t aml_package(struct aml *a, unsigned nelem)
{
    size_t mark = aml_open(a, AML_OP_PACKAGE, false);
    if (nelem > 0xff)
        aml_fail(a, -EINVAL); /* would need a VarPackage */
    aml_byte(a, (uint8_t)nelem);
    return mark;
}

/* ---- statements and expressions ------------------------------------------------------------------ */

void aml_return(struct aml *a)
{
    aml_byte(a, AML_OP_RETURN);
}

void aml_store(struct aml *a)
{
    aml_byte(a, AML_OP_STORE);
}

void aml_and(struct aml *a)
{
    aml_byte(a, AML_OP_AND);
}

void aml_or(struct aml *a)
{
    aml_byte(a, AML_OP_OR);
}

void aml_shift_left(struct aml *a)
{
    aml_byte(a, AML_OP_SHIFT_LEFT);
}

void aml_no_target(struct aml *a)
{
    aml_byte(a, AML_OP_ZERO); /* NullName */
}

/* ---- resource descriptors ------------------------------------------------------------------------ */

void aml_rt_io(struct aml *a, bool decode16, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
    if (min > max) {
        aml_fail(a, -EINVAL);
        return;
    }
    aml_byte(a, AML_RT_TAG_IO);
    aml_byte(a, decode16 ? 1 : 0);
    aml_le16(a, min);
    aml_le16(a, max);
    aml_byte(a, align);
    aml_byte(a, len);
}

void aml_rt_irq_noflags(struct aml *a, uint16_t mask)
{
    aml_byte(a, AML_RT_TAG_IRQ_NOFLAGS);
    aml_le16(a, mask);
}

void aml_rt_interrupt(struct aml *a, uint8_t flags, const uint32_t *gsis, unsigned n)
{
    if (n == 0 || n > 0xff || !gsis || (flags & ~0x1fu)) {
        aml_fail(a, -EINVAL);
        return;
    }
    aml_byte(a, AML_RT_TAG_EXT_INTERRUPT);
    aml_le16(a, (uint16_t)(2 + 4 * n));
    aml_byte(a, flags);
    aml_byte(a, (uint8_t)n);
    for (unsigned i = 0; i < n; i++)
        aml_le32(a, gsis[i]);
}

void aml_rt_memory32_fixed(struct aml *a, bool rw, uint32_t base, uint32_t len)
{
    aml_byte(a, AML_RT_TAG_MEMORY32_FIXED);
    aml_le16(a, 9);
    aml_byte(a, rw ? 1 : 0);
    aml_le32(a, base);
    aml_le32(a, len);
}

void aml_rt_address(struct aml *a, unsigned width, enum aml_rt_space space, uint8_t general_flags,
                    uint8_t type_flags, uint64_t granularity, uint64_t min, uint64_t max, uint64_t translation,
                    uint64_t len)
{
    uint8_t tag;
    switch (width) {
    case 2:
        tag = AML_RT_TAG_WORD_ADDRESS;
        break;
    case 4:
        tag = AML_RT_TAG_DWORD_ADDRESS;
        break;
    case 8:
        tag = AML_RT_TAG_QWORD_ADDRESS;
        break;
    default:
        aml_fail(a, -EINVAL);
        return;
    }
    uint64_t limit = width == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * width)) - 1;
    if (granularity > limit || min > limit || max > limit || translation > limit || len > limit || min > max ||
        (unsigned)space > AML_RT_BUS || (general_flags & ~0x0fu)) {
        aml_fail(a, -EINVAL);
        return;
    }
    aml_byte(a, tag);
    aml_le16(a, (uint16_t)(3 + 5 * width));
    aml_byte(a, (uint8_t)space);
    aml_byte(a, general_flags);
    aml_byte(a, type_flags);
    aml_le(a, granularity, width);
    aml_le(a, min, width);
    aml_le(a, max, width);
    aml_le(a, translation, width);
    aml_le(a, len, width);
}

/* The flags of a bridge's window: it produces the range, fixed at both ends, positive decode. */
#define AML_RT_WINDOW (AML_RT_MIN_FIXED | AML_RT_MAX_FIXED)

void aml_rt_word_bus_number(struct aml *a, uint16_t min, uint16_t max)
{
    aml_rt_address(a, 2, AML_RT_BUS, AML_RT_WINDOW, 0, 0, min, max, 0, (uint64_t)max - min + 1);
}

void aml_rt_dword_io(struct aml *a, uint32_t min, uint32_t max)
{
    aml_rt_address(a, 4, AML_RT_IO, AML_RT_WINDOW, AML_RT_IO_ENTIRE_RANGE, 0, min, max, 0, (uint64_t)max - min + 1);
}

void aml_rt_dword_memory(struct aml *a, uint8_t cache, uint32_t min, uint32_t max)
{
    aml_rt_address(a, 4, AML_RT_MEMORY, AML_RT_WINDOW, (uint8_t)(cache | AML_RT_MEM_RW), 0, min, max, 0,
                   (uint64_t)max - min + 1);
}

void aml_rt_qword_memory(struct aml *a, uint8_t cache, uint64_t min, uint64_t max)
{
    if (min == 0 && max == UINT64_MAX) {
        aml_fail(a, -EINVAL); /* the length would not fit */
        return;
    }
    aml_rt_address(a, 8, AML_RT_MEMORY, AML_RT_WINDOW, (uint8_t)(cache | AML_RT_MEM_RW), 0, min, max, 0,
                   max - min + 1);
}

void aml_rt_end(struct aml *a)
{
    aml_byte(a, AML_RT_TAG_END);
    aml_byte(a, 0);
}
