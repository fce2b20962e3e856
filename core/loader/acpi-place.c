/* core/loader/acpi-place.c — executes the ACPI loader script into guest RAM (see acpi-place.h).
 *
 * Spec: QEMU's BIOSLinker command format (hw/acpi/bios-linker-loader.c): 128-byte little-endian
 * entries, a u32 command then its fields — ALLOCATE {file[56], u32 align, u8 zone},
 * ADD_POINTER {dest_file[56], src_file[56], u32 offset, u8 size}, ADD_CHECKSUM {file[56], u32 offset,
 * u32 start, u32 length}; semantics as SeaBIOS src/fw/romfile_loader.c. ACPI 6.5 5.2.5 for the RSDP
 * we check at the end.
 *
 * The work happens on host copies of the allocated files; guest memory is written only once every
 * command has succeeded and the RSDP checks out, so a bad script leaves the guest untouched. */
#include "acpi-place.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../err.h"
#include "../fw.h"
#include "../le.h"
#include "../pgm.h"

#define AP_SCRIPT "etc/table-loader"
#define AP_RSDP_FILE "etc/acpi/rsdp"
#define AP_ENTRY_SIZE 128u
#define AP_FILESZ 56u
#define AP_CMD_ALLOCATE 1u
#define AP_CMD_ADD_POINTER 2u
#define AP_CMD_ADD_CHECKSUM 3u
#define AP_ZONE_HIGH 1u
#define AP_ZONE_FSEG 2u
#define AP_NZONES 3u /* indexed by zone number; 0 unused */
#define AP_MAX_COMMANDS 4096u
#define AP_MAX_FILES 32u
#define AP_MAX_ALIGN 4096u
#define AP_CHECKSUM_BUDGET (64ull << 20)
#define AP_FSEG_END 0x100000ull
#define AP_RSDP_V1_LEN 20u
#define AP_RSDP_V2_LEN 36u

/* An allocated file: its host copy and where it goes. */
struct ap_file {
    char name[AP_FILESZ];
    uint8_t *data;
    size_t len;
    uint64_t gpa;
};

/* The executor's state. `pgm` is NULL when only measuring. */
struct ap_ctx {
    struct pgm *pgm;
    struct fw_files *fw;
    struct ap_file files[AP_MAX_FILES];
    unsigned nfiles;
    uint64_t base[AP_NZONES], next[AP_NZONES];
    uint64_t checksummed;
    unsigned cmd; /* index of the command being run, for messages */
};

/* The sum of `len` bytes. */
static uint8_t ap_sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

/* One line about command c->cmd; returns -EINVAL. */
static int ap_fail(const struct ap_ctx *c, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int ap_fail(const struct ap_ctx *c, const char *what, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return modvm_err_set(-EINVAL, "ACPI tables: %s command %u (%s): %s", AP_SCRIPT, c->cmd, what, msg);
}

/* Copies a 56-byte name field into `out`; false when it has no terminating NUL. */
static bool ap_name(const uint8_t *field, char out[AP_FILESZ])
{
    if (!memchr(field, 0, AP_FILESZ))
        return false;
    memcpy(out, field, AP_FILESZ);
    return true;
}

/* The allocated file called `name`, or NULL. */
static struct ap_file *ap_find(struct ap_ctx *c, const char *name)
{
    for (unsigned i = 0; i < c->nfiles; i++)
        if (strcmp(c->files[i].name, name) == 0)
            return &c->files[i];
    return NULL;
}

/* ALLOCATE: copy a firmware file into the next aligned place of its zone. */
static int ap_allocate(struct ap_ctx *c, const uint8_t *e)
{
    static const char what[] = "ALLOCATE";
    char name[AP_FILESZ];
    if (!ap_name(e + 4, name))
        return ap_fail(c, what, "the file name is not NUL-terminated");
    uint32_t align = le_rd32(e + 60);
    uint8_t zone = e[64];
    if (align == 0)
        align = 1;
    if ((align & (align - 1)) || align > AP_MAX_ALIGN)
        return ap_fail(c, what, "alignment %" PRIu32 " of '%s' is not a power of two up to %u", align, name,
                       AP_MAX_ALIGN);
    if (zone != AP_ZONE_HIGH && zone != AP_ZONE_FSEG)
        return ap_fail(c, what, "'%s' names zone %u; only 1 (high) and 2 (FSEG) exist", name, zone);
    if (ap_find(c, name))
        return ap_fail(c, what, "'%s' is allocated twice", name);
    if (c->nfiles == AP_MAX_FILES)
        return ap_fail(c, what, "more than %u files", AP_MAX_FILES);
    const void *src;
    size_t len;
    if (fw_files_get(c->fw, name, &src, &len) != 0)
        return ap_fail(c, what, "there is no firmware file '%s'", name);
    if (len == 0)
        return ap_fail(c, what, "firmware file '%s' is empty", name);

    uint64_t at = c->next[zone];
    if (at > UINT64_MAX - (align - 1))
        return ap_fail(c, what, "no room for '%s'", name);
    at = (at + align - 1) & ~(uint64_t)(align - 1);
    if (len > UINT64_MAX - at)
        return ap_fail(c, what, "no room for '%s'", name);
    uint64_t end = at + len;
    if (c->pgm) {
        if (zone == AP_ZONE_FSEG && end > AP_FSEG_END)
            return ap_fail(c, what, "'%s' (%zu bytes) at 0x%" PRIx64 " does not fit below 1 MiB", name, len, at);
        if (!pgm_phys_ptr(c->pgm, at, len))
            return ap_fail(c, what, "'%s' (%zu bytes) at 0x%" PRIx64 " is not in guest RAM", name, len, at);
    }
    uint8_t *copy = malloc(len);
    if (!copy)
        return modvm_err_set(-ENOMEM, "ACPI tables: out of memory copying '%s'", name);
    memcpy(copy, src, len);
    struct ap_file *f = &c->files[c->nfiles++];
    memcpy(f->name, name, AP_FILESZ);
    f->data = copy;
    f->len = len;
    f->gpa = at;
    c->next[zone] = end;
    return 0;
}

/* ADD_POINTER: relocate the pointer at dest+offset by the guest address of src. */
static int ap_add_pointer(struct ap_ctx *c, const uint8_t *e)
{
    static const char what[] = "ADD_POINTER";
    char dname[AP_FILESZ], sname[AP_FILESZ];
    if (!ap_name(e + 4, dname) || !ap_name(e + 60, sname))
        return ap_fail(c, what, "a file name is not NUL-terminated");
    uint32_t offset = le_rd32(e + 116);
    uint8_t size = e[120];
    struct ap_file *dest = ap_find(c, dname), *src = ap_find(c, sname);
    if (!dest || !src)
        return ap_fail(c, what, "'%s' was not allocated", dest ? sname : dname);
    if (size != 1 && size != 2 && size != 4 && size != 8)
        return ap_fail(c, what, "pointer width %u is not 1, 2, 4 or 8", size);
    if ((uint64_t)offset + size > dest->len)
        return ap_fail(c, what, "a %u-byte pointer at offset %" PRIu32 " is past the end of '%s' (%zu bytes)", size,
                       offset, dname, dest->len);
    uint64_t v = le_get(dest->data + offset, size);
    if (v >= src->len)
        return ap_fail(c, what, "the pointer at offset %" PRIu32 " of '%s' holds %" PRIu64
                       ", past the end of '%s' (%zu bytes)", offset, dname, v, sname, src->len);
    v += src->gpa;
    if (size < 8 && (v >> (8 * size)) != 0)
        return ap_fail(c, what, "address 0x%" PRIx64 " does not fit the %u-byte pointer at offset %" PRIu32 " of '%s'",
                       v, size, offset, dname);
    le_put(dest->data + offset, v, size);
    return 0;
}

/* ADD_CHECKSUM: make [start, start+length) of the file sum to zero through the byte at offset. */
static int ap_add_checksum(struct ap_ctx *c, const uint8_t *e)
{
    static const char what[] = "ADD_CHECKSUM";
    char name[AP_FILESZ];
    if (!ap_name(e + 4, name))
        return ap_fail(c, what, "the file name is not NUL-terminated");
    uint32_t offset = le_rd32(e + 60), start = le_rd32(e + 64), length = le_rd32(e + 68);
    struct ap_file *f = ap_find(c, name);
    if (!f)
        return ap_fail(c, what, "'%s' was not allocated", name);
    if (offset >= f->len || (uint64_t)start + length > f->len)
        return ap_fail(c, what, "checksum byte %" PRIu32 " or range %" PRIu32 "+%" PRIu32
                       " is outside '%s' (%zu bytes)", offset, start, length, name, f->len);
    if (length > AP_CHECKSUM_BUDGET - c->checksummed)
        return ap_fail(c, what, "more than %llu MiB checksummed in all", AP_CHECKSUM_BUDGET >> 20);
    c->checksummed += length;
    f->data[offset] = (uint8_t)(f->data[offset] - ap_sum(f->data + start, length));
    return 0;
}

/* Checks the relocated RSDP (5.2.5.3): signature, checksum, and for revision 2+ its length and
 * extended checksum. */
static int ap_check_rsdp(const struct ap_file *r)
{
    if (r->len < AP_RSDP_V1_LEN || memcmp(r->data, "RSD PTR ", 8) != 0 || ap_sum(r->data, AP_RSDP_V1_LEN) != 0)
        return modvm_err_set(-EINVAL, "ACPI tables: %s does not hold a valid RSDP after linking", AP_RSDP_FILE);
    if (r->data[15] >= 2) {
        uint32_t len = le_rd32(r->data + 20);
        if (len < AP_RSDP_V2_LEN || len > r->len || ap_sum(r->data, len) != 0)
            return modvm_err_set(-EINVAL, "ACPI tables: the extended RSDP in %s is invalid after linking",
                                 AP_RSDP_FILE);
    }
    return 0;
}

/* Runs every command of the script. */
static int ap_run(struct ap_ctx *c, const uint8_t *script, size_t len)
{
    if (len % AP_ENTRY_SIZE)
        return modvm_err_set(-EINVAL, "ACPI tables: %s is %zu bytes, not a whole number of %u-byte commands",
                             AP_SCRIPT, len, AP_ENTRY_SIZE);
    if (len / AP_ENTRY_SIZE > AP_MAX_COMMANDS)
        return modvm_err_set(-EINVAL, "ACPI tables: %s has %zu commands, more than %u", AP_SCRIPT,
                             len / AP_ENTRY_SIZE, AP_MAX_COMMANDS);
    for (size_t off = 0; off < len; off += AP_ENTRY_SIZE) {
        const uint8_t *e = script + off;
        int rc = 0;
        c->cmd = (unsigned)(off / AP_ENTRY_SIZE);
        switch (le_rd32(e)) {
        case AP_CMD_ALLOCATE:
            rc = ap_allocate(c, e);
            break;
        case AP_CMD_ADD_POINTER:
            rc = ap_add_pointer(c, e);
            break;
        case AP_CMD_ADD_CHECKSUM:
            rc = ap_add_checksum(c, e);
            break;
        default:
            break; /* unknown commands are skipped, as firmware does */
        }
        if (rc)
            return rc;
    }
    struct ap_file *rsdp = ap_find(c, AP_RSDP_FILE);
    if (!rsdp)
        return modvm_err_set(-EINVAL, "ACPI tables: %s never allocates %s", AP_SCRIPT, AP_RSDP_FILE);
    return ap_check_rsdp(rsdp);
}

/* Frees the host copies. */
static void ap_free(struct ap_ctx *c)
{
    for (unsigned i = 0; i < c->nfiles; i++)
        free(c->files[i].data);
    c->nfiles = 0;
}

/* Loads and runs the script with zone bases `low` (FSEG) and `high`. */
static int ap_execute(struct ap_ctx *c, uint64_t low, uint64_t high)
{
    const void *script;
    size_t len;
    if (fw_files_get(c->fw, AP_SCRIPT, &script, &len) != 0)
        return -ENOENT;
    c->base[AP_ZONE_FSEG] = c->next[AP_ZONE_FSEG] = low;
    c->base[AP_ZONE_HIGH] = c->next[AP_ZONE_HIGH] = high;
    return ap_run(c, script, len);
}

int acpi_place_ex(struct pgm *pgm, struct fw_files *fw, uint64_t low_area, uint64_t high_area,
                  struct acpi_place_result *out)
{
    struct ap_ctx c = {.pgm = pgm, .fw = fw};
    if (!pgm || !fw || !out)
        return modvm_err_set(-EINVAL, "ACPI tables: nothing to place them in");
    int rc = ap_execute(&c, low_area, high_area);
    if (rc == 0) {
        uint64_t lo = c.base[AP_ZONE_FSEG], lo_end = c.next[AP_ZONE_FSEG];
        uint64_t hi = c.base[AP_ZONE_HIGH], hi_end = c.next[AP_ZONE_HIGH];
        if (lo < lo_end && hi < hi_end && lo < hi_end && hi < lo_end)
            rc = modvm_err_set(-EINVAL,
                               "ACPI tables: the FSEG area 0x%" PRIx64 "-0x%" PRIx64 " overlaps the high area 0x%" PRIx64
                               "-0x%" PRIx64, lo, lo_end - 1, hi, hi_end - 1);
    }
    for (unsigned i = 0; rc == 0 && i < c.nfiles; i++) {
        if (pgm_phys_write(pgm, c.files[i].gpa, c.files[i].data, c.files[i].len) != 0)
            rc = modvm_err_set(-EFAULT, "ACPI tables: cannot write '%s' at 0x%" PRIx64, c.files[i].name,
                               c.files[i].gpa);
    }
    if (rc == 0) {
        *out = (struct acpi_place_result){
            .rsdp_gpa = ap_find(&c, AP_RSDP_FILE)->gpa,
            .low_start = c.base[AP_ZONE_FSEG],
            .low_end = c.next[AP_ZONE_FSEG],
            .high_start = c.base[AP_ZONE_HIGH],
            .high_end = c.next[AP_ZONE_HIGH],
        };
    }
    ap_free(&c);
    return rc;
}

int acpi_place(struct pgm *pgm, struct fw_files *fw, uint64_t low_area, uint64_t high_area, uint64_t *rsdp_gpa)
{
    struct acpi_place_result r;
    int rc = acpi_place_ex(pgm, fw, low_area, high_area, &r);
    if (rc == 0)
        *rsdp_gpa = r.rsdp_gpa;
    return rc;
}

int acpi_place_measure(struct fw_files *fw, uint64_t *low_size, uint64_t *high_size)
{
    struct ap_ctx c = {.fw = fw};
    if (!fw)
        return -ENOENT;
    int rc = ap_execute(&c, 0, 0);
    if (rc == 0) {
        *low_size = c.next[AP_ZONE_FSEG];
        *high_size = c.next[AP_ZONE_HIGH];
    }
    ap_free(&c);
    return rc;
}
