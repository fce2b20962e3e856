/* tests/acpi/acpidump.c — `modvm-acpidump PLUGIN OUTDIR CPUS RAM_MIB [OPTION=VALUE...]`: builds the
 * ACPI tables the way a VM does and writes each one, as placed in guest RAM, to OUTDIR for iasl.
 *
 * The "acpi" plugin is loaded through the device harness (tests/unit/devharness) and constructed
 * for CPUS vCPUs and RAM_MIB MiB with the given options; its firmware files are copied into a core
 * firmware-file set, core/loader/acpi-place.c executes the loader script into a guest RAM of that
 * size (FSEG area 0xE0000, HIGH area below the end of low RAM), and the tables are then found the
 * way an OS finds them: RSDP → XSDT/RSDT → FADT → DSDT/FACS, MADT. Files: rsdp.dat, rsdt.dat,
 * xsdt.dat, facp.dat, apic.dat, dsdt.dat, facs.dat. Exit status 0, or 1 with one line on stderr.
 *
 * Spec: ACPI 6.5 5.2.5 (RSDP), 5.2.7-5.2.9 (RSDT, XSDT, FADT pointers). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/err.h"
#include "../../core/fw.h"
#include "../../core/loader/acpi-place.h"
#include "../../core/pgm.h"
#include "devharness.h"
#include "tables.h"

#define DUMP_FSEG 0xe0000ull
#define DUMP_LOW_RAM_LIMIT 0xe0000000ull
#define DUMP_MAX_TABLE (1u << 20)

static const char *dump_dir;

/* Prints one line and exits 1. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("modvm-acpidump: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* `len` bytes of guest RAM at `gpa`, or exits. */
static const uint8_t *guest(struct pgm *pgm, uint64_t gpa, size_t len, const char *what)
{
    const uint8_t *p = pgm_phys_ptr(pgm, gpa, len);
    if (!p)
        die("%s at 0x%" PRIx64 " (%zu bytes) is not in guest RAM", what, gpa, len);
    return p;
}

/* Writes `len` bytes to OUTDIR/name. */
static void dump(const char *name, const uint8_t *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dump_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die("cannot write %s: %s", path, strerror(errno));
}

/* Finds the table at `gpa`, checks its signature, dumps it as `name` and returns it. */
static const uint8_t *table(struct pgm *pgm, uint64_t gpa, const char *sig, const char *name)
{
    const uint8_t *t = guest(pgm, gpa, 8, sig);
    if (memcmp(t, sig, 4) != 0)
        die("expected %s at 0x%" PRIx64 ", found '%.4s'", sig, gpa, (const char *)t);
    uint32_t len = rd32(t + 4);
    if (len < 8 || len > DUMP_MAX_TABLE)
        die("%s has length %" PRIu32, sig, len);
    t = guest(pgm, gpa, len, sig);
    dump(name, t, len);
    return t;
}

/* Copies the plugin's firmware files into a core set. */
static void copy_fw(struct devharness *h, struct fw_files *fw)
{
    static const char *const names[] = {ACPI_FILE_TABLES, ACPI_FILE_RSDP, ACPI_FILE_LOADER};
    for (size_t i = 0; i < 3; i++) {
        const void *data;
        size_t len;
        if (devharness_fw_file_get(h, names[i], &data, &len) != 0)
            die("the plugin published no '%s'", names[i]);
        if (fw_files_add(fw, names[i], data, len) != 0)
            die("cannot copy '%s'", names[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc < 5)
        die("usage: modvm-acpidump PLUGIN OUTDIR CPUS RAM_MIB [OPTION=VALUE...]");
    dump_dir = argv[2];
    uint64_t cpus = strtoull(argv[3], NULL, 0), ram = strtoull(argv[4], NULL, 0) << 20;
    if (cpus == 0 || ram == 0)
        die("CPUS and RAM_MIB must be positive");

    struct devharness *h = devharness_open(argv[1]);
    if (!h)
        die("cannot load %s", argv[1]);
    devharness_set_vm_facts(h, cpus, ram);
    int rc = devharness_construct(h, "acpi", 0, (const char *const *)(argv + 5));
    if (rc != 0)
        die("constructing acpi: %s", devharness_last_error(h));

    struct fw_files *fw = fw_files_create();
    struct pgm *pgm = NULL;
    if (!fw || pgm_create(ram, &pgm) != 0)
        die("cannot create a %" PRIu64 " MiB guest", ram >> 20);
    copy_fw(h, fw);

    uint64_t low_size, high_size;
    if (acpi_place_measure(fw, &low_size, &high_size) != 0)
        die("%s", modvm_err_get());
    uint64_t low_ram = ram < DUMP_LOW_RAM_LIMIT ? ram : DUMP_LOW_RAM_LIMIT;
    uint64_t high = (low_ram - high_size) & ~0xfffull;
    struct acpi_place_result r;
    if (acpi_place_ex(pgm, fw, DUMP_FSEG, high, &r) != 0)
        die("%s", modvm_err_get());

    const uint8_t *rsdp = guest(pgm, r.rsdp_gpa, 36, "RSDP");
    dump("rsdp.dat", rsdp, 36);
    const uint8_t *rsdt = table(pgm, rd32(rsdp + 16), "RSDT", "rsdt.dat");
    const uint8_t *xsdt = table(pgm, rd64(rsdp + 24), "XSDT", "xsdt.dat");
    uint32_t n = (rd32(xsdt + 4) - 36) / 8;
    if (n != (rd32(rsdt + 4) - 36) / 4)
        die("the RSDT and XSDT list different numbers of tables");
    for (uint32_t i = 0; i < n; i++) {
        uint64_t a = rd64(xsdt + 36 + 8 * i);
        if (a != rd32(rsdt + 36 + 4 * i))
            die("RSDT and XSDT entry %" PRIu32 " differ", i);
        const uint8_t *t = guest(pgm, a, 4, "table");
        if (memcmp(t, "FACP", 4) == 0) {
            const uint8_t *fadt = table(pgm, a, "FACP", "facp.dat");
            if (rd32(fadt + 40) != rd64(fadt + 140) || rd32(fadt + 36) != rd64(fadt + 132))
                die("the FADT's 32- and 64-bit pointers disagree");
            table(pgm, rd64(fadt + 140), "DSDT", "dsdt.dat");
            table(pgm, rd32(fadt + 36), "FACS", "facs.dat");
        } else if (memcmp(t, "APIC", 4) == 0) {
            table(pgm, a, "APIC", "apic.dat");
        } else {
            die("unexpected table '%.4s'", (const char *)t);
        }
    }
    printf("RSDP at 0x%" PRIx64 ", tables at 0x%" PRIx64 "-0x%" PRIx64 "\n", r.rsdp_gpa, r.high_start,
           r.high_end - 1);
    pgm_destroy(pgm);
    fw_files_destroy(fw);
    devharness_close(h);
    return 0;
}
