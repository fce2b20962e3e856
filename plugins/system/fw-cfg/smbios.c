/* smbios.c — the SMBIOS tables the fw-cfg device serves to SeaBIOS as "etc/smbios/smbios-tables"
 * and "etc/smbios/smbios-anchor".
 *
 * Spec: DMTF DSP0134 "System Management BIOS (SMBIOS) Reference Specification" 3.0.0 (for the 3.0
 * 64-bit entry point and the structures) and 2.8.0 (the 32-bit "_SM_" entry point). Which structures,
 * and their handles, follow what QEMU hands SeaBIOS on a pc machine (QEMU hw/smbios/smbios.c), so a
 * guest sees the same shape of tables: type 0 BIOS, 1 system, 3 chassis, 4 one per vCPU (one socket
 * each), 16 the memory array, 17 one device per 16 GiB, 19 one mapped range per RAM range, 32 boot
 * information, 127 the end.
 *
 * The consumer is SeaBIOS's smbios_romfile_setup(): it accepts the anchor when its length and
 * signature are right, checks that the anchor's table length equals the tables file's size, copies
 * the tables into guest memory and patches the address and checksums. All input here comes from the
 * host (configuration and VM facts), not the guest; sizes are still bounded so a table always fits
 * the 16-bit lengths the format has. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw-cfg.h"

#define SMBIOS_DIMM_MAX (16ull << 30) /* bytes per type 17 device, as QEMU */
#define SMBIOS_EP30_LEN 0x18u
#define SMBIOS_EP21_LEN 0x1fu
#define SMBIOS_HANDLE_T0 0x0000u
#define SMBIOS_HANDLE_T1 0x0100u
#define SMBIOS_HANDLE_T3 0x0300u
#define SMBIOS_HANDLE_T4 0x0400u
#define SMBIOS_HANDLE_T16 0x1000u
#define SMBIOS_HANDLE_T17 0x1100u
#define SMBIOS_HANDLE_T19 0x1300u
#define SMBIOS_HANDLE_T32 0x2000u
#define SMBIOS_HANDLE_T127 0x7f00u
#define SMBIOS_NO_HANDLE 0xffffu
#define SMBIOS_NO_ERROR_INFO 0xfffeu
#define SMBIOS_MANUFACTURER "modvm"

/* ---- a growable byte buffer --------------------------------------------------------------------- */

struct smbios_buf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
    /* the structure being written */
    size_t start;    /* offset of its header */
    unsigned nstr;   /* strings added so far */
    size_t max_size; /* largest structure, strings included */
    unsigned count;  /* structures written */
};

/* Appends bytes (remembers running out of memory; later appends do nothing). */
static void smbios_append(struct smbios_buf *b, const void *data, size_t len)
{
    if (b->oom)
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *n = realloc(b->p, cap);
        if (!n) {
            b->oom = true;
            return;
        }
        b->p = n;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

/* Stores `v` little-endian in `bytes` bytes at offset `off` of the current structure. */
static void smbios_set(struct smbios_buf *b, size_t off, uint64_t v, unsigned bytes)
{
    if (b->oom)
        return;
    for (unsigned i = 0; i < bytes; i++)
        b->p[b->start + off + i] = (uint8_t)(v >> (8 * i));
}

/* Starts a structure: its formatted area of `length` bytes, zeroed, with the header filled in. */
static void smbios_begin(struct smbios_buf *b, uint8_t type, uint8_t length, uint16_t handle)
{
    static const uint8_t zeros[256];
    b->start = b->len;
    b->nstr = 0;
    smbios_append(b, zeros, length);
    smbios_set(b, 0, type, 1);
    smbios_set(b, 1, length, 1);
    smbios_set(b, 2, handle, 2);
}

/* Adds string `s` to the current structure and points the byte field at `off` to it; NULL or ""
 * leaves the field 0 ("no string"). */
static void smbios_string(struct smbios_buf *b, size_t off, const char *s)
{
    if (!s || !*s)
        return;
    smbios_append(b, s, strlen(s) + 1);
    smbios_set(b, off, ++b->nstr, 1);
}

/* Ends the current structure: the string set's terminating NUL (two NULs when it has no strings). */
static void smbios_end(struct smbios_buf *b)
{
    static const uint8_t nul[2];
    smbios_append(b, nul, b->nstr ? 1 : 2);
    if (b->len - b->start > b->max_size)
        b->max_size = b->len - b->start;
    b->count++;
}

/* ---- the structures ----------------------------------------------------------------------------- */

/* Type 0, BIOS Information (2.4+ layout, 0x18 bytes). */
static void smbios_type0(struct smbios_buf *b, const struct fwcfg_smbios_params *p)
{
    smbios_begin(b, 0, 0x18, SMBIOS_HANDLE_T0);
    smbios_set(b, 0x06, 0xe800, 2);   /* BIOS starting address segment, as SeaBIOS reports it */
    smbios_set(b, 0x0a, 0x08, 1);     /* characteristics: "not supported" */
    smbios_set(b, 0x13, 0x14, 1);     /* extension byte 2: targeted content distribution, a VM */
    smbios_set(b, 0x16, 0xff, 1);     /* no embedded controller */
    smbios_set(b, 0x17, 0xff, 1);
    smbios_string(b, 0x04, SMBIOS_MANUFACTURER);
    smbios_string(b, 0x05, p->bios_version);
    smbios_end(b);
}

/* Type 1, System Information (2.4+, 0x1b bytes). The UUID's first three fields are little-endian
 * in SMBIOS 2.6 and later (the spec's "UUID" note), unlike fw_cfg's RFC 4122 order. */
static void smbios_type1(struct smbios_buf *b, const struct fwcfg_smbios_params *p)
{
    static const uint8_t order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    smbios_begin(b, 1, 0x1b, SMBIOS_HANDLE_T1);
    for (unsigned i = 0; i < 16; i++)
        smbios_set(b, 0x08 + i, p->uuid[order[i]], 1);
    smbios_set(b, 0x18, 0x06, 1); /* wake-up type: power switch */
    smbios_string(b, 0x04, SMBIOS_MANUFACTURER);
    smbios_string(b, 0x05, "modvm virtual machine");
    smbios_end(b);
}

/* Type 3, System Enclosure (2.7+, 0x16 bytes with no contained elements). */
static void smbios_type3(struct smbios_buf *b)
{
    smbios_begin(b, 3, 0x16, SMBIOS_HANDLE_T3);
    smbios_set(b, 0x05, 0x01, 1); /* type: other */
    smbios_set(b, 0x09, 0x03, 1); /* boot-up state: safe */
    smbios_set(b, 0x0a, 0x03, 1); /* power supply state: safe */
    smbios_set(b, 0x0b, 0x03, 1); /* thermal state: safe */
    smbios_set(b, 0x0c, 0x02, 1); /* security status: unknown */
    smbios_string(b, 0x04, SMBIOS_MANUFACTURER);
    smbios_end(b);
}

/* Type 4, Processor Information: one single-core, single-thread socket per vCPU (0x2a bytes for
 * 2.8, 0x30 for 3.0 with the 16-bit core/thread counts). */
static void smbios_type4(struct smbios_buf *b, const struct fwcfg_smbios_params *p, unsigned cpu)
{
    char socket[24];
    snprintf(socket, sizeof(socket), "CPU %u", cpu);
    bool v3 = p->entry == FWCFG_SMBIOS_64;
    smbios_begin(b, 4, v3 ? 0x30 : 0x2a, (uint16_t)(SMBIOS_HANDLE_T4 + cpu));
    smbios_set(b, 0x05, 0x03, 1);      /* central processor */
    smbios_set(b, 0x06, 0x01, 1);      /* family: other */
    smbios_set(b, 0x14, 2000, 2);      /* max speed MHz (unknown to a VM; QEMU says 2000) */
    smbios_set(b, 0x16, 2000, 2);      /* current speed */
    smbios_set(b, 0x18, 0x41, 1);      /* socket populated, CPU enabled */
    smbios_set(b, 0x19, 0x01, 1);      /* upgrade: other */
    smbios_set(b, 0x1a, SMBIOS_NO_HANDLE, 2); /* no cache information */
    smbios_set(b, 0x1c, SMBIOS_NO_HANDLE, 2);
    smbios_set(b, 0x1e, SMBIOS_NO_HANDLE, 2);
    smbios_set(b, 0x23, 1, 1);         /* cores, enabled cores, threads */
    smbios_set(b, 0x24, 1, 1);
    smbios_set(b, 0x25, 1, 1);
    smbios_set(b, 0x26, 0x02, 2);      /* characteristics: unknown */
    smbios_set(b, 0x28, 0x01, 2);      /* family 2: other */
    if (v3) {
        smbios_set(b, 0x2a, 1, 2);
        smbios_set(b, 0x2c, 1, 2);
        smbios_set(b, 0x2e, 1, 2);
    }
    smbios_string(b, 0x04, socket);
    smbios_string(b, 0x07, SMBIOS_MANUFACTURER);
    smbios_end(b);
}

/* Type 16, Physical Memory Array (2.7+, 0x17 bytes). */
static void smbios_type16(struct smbios_buf *b, const struct fwcfg_smbios_params *p, unsigned ndimms)
{
    uint64_t kib = (p->ram_size + 1023) / 1024;
    smbios_begin(b, 16, 0x17, SMBIOS_HANDLE_T16);
    smbios_set(b, 0x04, 0x01, 1); /* location: other */
    smbios_set(b, 0x05, 0x03, 1); /* use: system memory */
    smbios_set(b, 0x06, 0x06, 1); /* error correction: multi-bit ECC, as QEMU */
    if (kib < 0x80000000u) {
        smbios_set(b, 0x07, kib, 4);
    } else {
        smbios_set(b, 0x07, 0x80000000u, 4); /* see the extended maximum capacity */
        smbios_set(b, 0x0f, p->ram_size, 8);
    }
    smbios_set(b, 0x0b, SMBIOS_NO_ERROR_INFO, 2);
    smbios_set(b, 0x0d, ndimms, 2);
    smbios_end(b);
}

/* Type 17, Memory Device (2.8 layout, 0x28 bytes): device `i` of `bytes`. */
static void smbios_type17(struct smbios_buf *b, unsigned i, uint64_t bytes)
{
    char locator[24];
    snprintf(locator, sizeof(locator), "DIMM %u", i);
    uint64_t mib = (bytes + (1u << 20) - 1) >> 20;
    smbios_begin(b, 17, 0x28, (uint16_t)(SMBIOS_HANDLE_T17 + i));
    smbios_set(b, 0x04, SMBIOS_HANDLE_T16, 2);
    smbios_set(b, 0x06, SMBIOS_NO_ERROR_INFO, 2);
    smbios_set(b, 0x08, 0xffff, 2); /* total and data width unknown */
    smbios_set(b, 0x0a, 0xffff, 2);
    if (mib < 0x7fff) {
        smbios_set(b, 0x0c, mib, 2);
    } else {
        smbios_set(b, 0x0c, 0x7fff, 2); /* see the extended size */
        smbios_set(b, 0x1c, mib, 4);
    }
    smbios_set(b, 0x0e, 0x09, 1);   /* form factor: DIMM */
    smbios_set(b, 0x12, 0x07, 1);   /* type: RAM */
    smbios_set(b, 0x13, 0x0002, 2); /* type detail: other */
    smbios_string(b, 0x10, locator);
    smbios_string(b, 0x17, SMBIOS_MANUFACTURER);
    smbios_end(b);
}

/* Type 19, Memory Array Mapped Address (2.7+, 0x1f bytes) for RAM [start, end). */
static void smbios_type19(struct smbios_buf *b, unsigned i, uint64_t start, uint64_t end)
{
    smbios_begin(b, 19, 0x1f, (uint16_t)(SMBIOS_HANDLE_T19 + i));
    uint64_t start_kib = start / 1024, last_kib = (end - 1) / 1024;
    if (last_kib < 0xffffffffu) {
        smbios_set(b, 0x04, start_kib, 4);
        smbios_set(b, 0x08, last_kib, 4);
    } else {
        smbios_set(b, 0x04, 0xffffffffu, 4); /* see the extended addresses */
        smbios_set(b, 0x08, 0xffffffffu, 4);
        smbios_set(b, 0x0f, start, 8);
        smbios_set(b, 0x17, end - 1, 8);
    }
    smbios_set(b, 0x0c, SMBIOS_HANDLE_T16, 2);
    smbios_set(b, 0x0e, 1, 1); /* partition width */
    smbios_end(b);
}

/* Type 32, System Boot Information (0x0b bytes): no errors. */
static void smbios_type32(struct smbios_buf *b)
{
    smbios_begin(b, 32, 0x0b, SMBIOS_HANDLE_T32);
    smbios_end(b);
}

/* Type 127, End-of-Table. */
static void smbios_type127(struct smbios_buf *b)
{
    smbios_begin(b, 127, 4, SMBIOS_HANDLE_T127);
    smbios_end(b);
}

/* ---- entry points ------------------------------------------------------------------------------- */

/* The value that makes `len` bytes sum to zero. */
static uint8_t smbios_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)(0u - sum);
}

/* Stores `v` little-endian. */
static void smbios_put(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The 3.0 entry point (DSP0134 3.0.0 section 5.2.2); the table address is SeaBIOS's to fill. */
static void smbios_ep30(uint8_t ep[SMBIOS_EP30_LEN], size_t table_len)
{
    memset(ep, 0, SMBIOS_EP30_LEN);
    memcpy(ep, "_SM3_", 5);
    ep[6] = SMBIOS_EP30_LEN;
    ep[7] = 3; /* version 3.0.0 */
    ep[8] = 0;
    ep[9] = 0;
    ep[10] = 1; /* entry point revision */
    smbios_put(ep + 12, table_len, 4);
    ep[5] = smbios_checksum(ep, SMBIOS_EP30_LEN);
}

/* The 2.1-style entry point of version 2.8 (DSP0134 2.8.0 section 5.2.1). */
static void smbios_ep21(uint8_t ep[SMBIOS_EP21_LEN], size_t table_len, size_t max_size, unsigned count)
{
    memset(ep, 0, SMBIOS_EP21_LEN);
    memcpy(ep, "_SM_", 4);
    ep[5] = SMBIOS_EP21_LEN;
    ep[6] = 2;
    ep[7] = 8;
    smbios_put(ep + 8, max_size, 2);
    memcpy(ep + 0x10, "_DMI_", 5);
    smbios_put(ep + 0x16, table_len, 2);
    smbios_put(ep + 0x1c, count, 2);
    ep[0x1e] = 0x28;
    ep[0x15] = smbios_checksum(ep + 0x10, SMBIOS_EP21_LEN - 0x10);
    ep[4] = smbios_checksum(ep, SMBIOS_EP21_LEN);
}

int fwcfg_smbios_build(const struct fwcfg_smbios_params *p, uint8_t **tables, size_t *tables_len, uint8_t **anchor,
                       size_t *anchor_len)
{
    if (p->ncpus < 1 || p->ncpus > FWCFG_SMBIOS_MAX_CPUS || p->nram > FWCFG_SMBIOS_MAX_RANGES || p->ram_size == 0 ||
        (p->entry != FWCFG_SMBIOS_64 && p->entry != FWCFG_SMBIOS_32))
        return -EINVAL;
    /* at most 2^40 bytes of RAM in a VM: ≤ 65 devices of 16 GiB */
    uint64_t ndimms64 = (p->ram_size + SMBIOS_DIMM_MAX - 1) / SMBIOS_DIMM_MAX;
    if (ndimms64 > 0x100)
        return -EINVAL;
    unsigned ndimms = (unsigned)ndimms64;
    struct smbios_buf b = {0};

    smbios_type0(&b, p);
    smbios_type1(&b, p);
    smbios_type3(&b);
    for (unsigned i = 0; i < p->ncpus; i++)
        smbios_type4(&b, p, i);
    smbios_type16(&b, p, ndimms);
    for (unsigned i = 0; i < ndimms; i++) {
        uint64_t left = p->ram_size - (uint64_t)i * SMBIOS_DIMM_MAX;
        smbios_type17(&b, i, left < SMBIOS_DIMM_MAX ? left : SMBIOS_DIMM_MAX);
    }
    for (size_t i = 0; i < p->nram; i++)
        if (p->ram[i].end > p->ram[i].start)
            smbios_type19(&b, (unsigned)i, p->ram[i].start, p->ram[i].end);
    smbios_type32(&b);
    smbios_type127(&b);
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    if (p->entry == FWCFG_SMBIOS_32 && (b.len > 0xffff || b.max_size > 0xffff)) {
        free(b.p);
        return -E2BIG;
    }
    size_t eplen = p->entry == FWCFG_SMBIOS_64 ? SMBIOS_EP30_LEN : SMBIOS_EP21_LEN;
    uint8_t *ep = malloc(eplen);
    if (!ep) {
        free(b.p);
        return -ENOMEM;
    }
    if (p->entry == FWCFG_SMBIOS_64)
        smbios_ep30(ep, b.len);
    else
        smbios_ep21(ep, b.len, b.max_size, b.count);
    *tables = b.p;
    *tables_len = b.len;
    *anchor = ep;
    *anchor_len = eplen;
    return 0;
}
