/* test-fw-cfg.c — the fw-cfg plugin through the device harness: selector/data ports, the file
 * directory, the files the device adds itself (sercon, boot order, SMBIOS), the DMA interface with
 * well-formed and hostile descriptors, reset and saved state.
 *
 * Spec: QEMU docs/specs/fw_cfg.rst; SeaBIOS src/fw/paravirt.c (how it reads the device),
 * src/fw/biostables.c (what it checks in the SMBIOS anchor); DMTF DSP0134 (SMBIOS). The real
 * fw-cfg.so is loaded from $FWCFG_PLUGIN. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devharness.h"

#define PORT_SEL 0x510
#define PORT_DATA 0x511
#define PORT_DMA_HI 0x514
#define PORT_DMA_LO 0x518
#define KEY_SIGNATURE 0x00
#define KEY_ID 0x01
#define KEY_UUID 0x02
#define KEY_RAM_SIZE 0x03
#define KEY_NOGRAPHIC 0x04
#define KEY_NB_CPUS 0x05
#define KEY_MAX_CPUS 0x0f
#define KEY_FILE_DIR 0x19
#define KEY_FILE_FIRST 0x20
#define KEY_IRQ0_OVERRIDE 0x8002
#define DMA_ERROR 0x01u
#define DMA_READ 0x02u
#define DMA_SKIP 0x04u
#define DMA_SELECT 0x08u
#define DMA_WRITE 0x10u
#define RAM_SIZE (1u << 20)
#define DESC 0x1000u /* where the tests put DMA descriptors */
#define BUF 0x2000u  /* and DMA destinations */
#define BIG_LEN 100000u

/* Layout of saved-state unit v1 (fwcfg_save); pinned by test_save_format. */
#define SS_LEN 20

/* ---- helpers ------------------------------------------------------------------------------------ */

/* Opens the plugin (failing the test if it cannot). */
static struct devharness *open_plugin(void)
{
    const char *path = getenv("FWCFG_PLUGIN");
    if (!path)
        fail_msg("FWCFG_PLUGIN is not set (path of fw-cfg.so)");
    struct devharness *h = devharness_open(path);
    assert_non_null(h);
    devharness_set_ram_size(h, RAM_SIZE);
    return h;
}

/* The e820 map the core publishes for 128 MiB (0-0x9fc00 RAM, EBDA and BIOS reserved, 1 MiB-128 MiB
 * RAM), in QEMU's etc/e820 layout. */
static void add_e820(struct devharness *h)
{
    static const uint64_t map[][3] = {
        {0, 0x9fc00, 1}, {0x9fc00, 0x400, 2}, {0xf0000, 0x10000, 2}, {0x100000, (128u << 20) - 0x100000, 1}};
    uint8_t bytes[4 * 20];
    for (unsigned i = 0; i < 4; i++)
        for (unsigned b = 0; b < 8; b++) {
            bytes[i * 20 + b] = (uint8_t)(map[i][0] >> (8 * b));
            bytes[i * 20 + 8 + b] = (uint8_t)(map[i][1] >> (8 * b));
            if (b < 4)
                bytes[i * 20 + 16 + b] = (uint8_t)(map[i][2] >> (8 * b));
        }
    assert_int_equal(devharness_fw_file_add(h, "etc/e820", bytes, sizeof(bytes)), 0);
}

/* A big file with a recognisable pattern: byte i is (i * 7) & 0xff. */
static void add_big(struct devharness *h)
{
    uint8_t *big = malloc(BIG_LEN);
    assert_non_null(big);
    for (uint32_t i = 0; i < BIG_LEN; i++)
        big[i] = (uint8_t)(i * 7);
    assert_int_equal(devharness_fw_file_add(h, "zz/big", big, BIG_LEN), 0);
    free(big);
}

/* A harness with the core's files (e820, an ACPI table blob, a big file) and fw-cfg built with
 * `opts`. */
static struct devharness *fwcfg_new(const char *const *opts)
{
    struct devharness *h = open_plugin();
    add_e820(h);
    assert_int_equal(devharness_fw_file_add(h, "etc/acpi/tables", "ACPITABLES", 10), 0);
    add_big(h);
    int rc = devharness_construct(h, "fw-cfg", 0, opts);
    if (rc != 0)
        fail_msg("construct failed (%d): %s", rc, devharness_last_error(h));
    return h;
}

/* Selects `key` through the selector port. */
static void sel(struct devharness *h, uint16_t key)
{
    devharness_pio_out(h, PORT_SEL, key, 2);
}

/* Reads `len` bytes through the data port. */
static void data_read(struct devharness *h, void *buf, size_t len)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)devharness_pio_in(h, PORT_DATA, 1);
}

/* Selects `key` and reads `len` bytes. */
static void item_read(struct devharness *h, uint16_t key, void *buf, size_t len)
{
    sel(h, key);
    data_read(h, buf, len);
}

/* Big-endian and little-endian loads/stores. */
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* A 32-bit value as the guest writes it with `outl` after cpu_to_be32 (SeaBIOS's way). */
static uint32_t bswap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* Starts a DMA transfer of the descriptor at guest address `desc` (high half first). */
static void dma_kick(struct devharness *h, uint64_t desc)
{
    devharness_pio_out(h, PORT_DMA_HI, bswap32((uint32_t)(desc >> 32)), 4);
    devharness_pio_out(h, PORT_DMA_LO, bswap32((uint32_t)desc), 4);
}

/* Writes a descriptor {control, length, address} at DESC, runs it and returns the control word the
 * device wrote back. */
static uint32_t dma(struct devharness *h, uint32_t control, uint32_t length, uint64_t address)
{
    uint8_t *ram = devharness_ram(h, NULL);
    put_be(ram + DESC, control, 4);
    put_be(ram + DESC + 4, length, 4);
    put_be(ram + DESC + 8, address, 8);
    dma_kick(h, DESC);
    return be32(ram + DESC);
}

/* The directory entry of `name`: its size and selector; false when absent. */
static bool dir_find(struct devharness *h, const char *name, uint32_t *size, uint16_t *key)
{
    uint8_t count[4], e[64];
    item_read(h, KEY_FILE_DIR, count, 4);
    for (uint32_t i = 0; i < be32(count); i++) {
        data_read(h, e, sizeof(e));
        if (strncmp((const char *)e + 8, name, 56) == 0) {
            *size = be32(e);
            *key = be16(e + 4);
            return true;
        }
    }
    return false;
}

/* Reads file `name` through the data port into a malloc'ed buffer. */
static uint8_t *file_read(struct devharness *h, const char *name, uint32_t *len)
{
    uint16_t key;
    if (!dir_find(h, name, len, &key))
        return NULL;
    uint8_t *buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    item_read(h, key, buf, *len);
    return buf;
}

/* ---- detection and fixed items ------------------------------------------------------------------ */

/* SeaBIOS's qemu_cfg_detect: "QEMU" at selector 0, the DMA bit in the ID; the DMA signature. */
static void test_signature_and_id(void **state)
{
    (void)state;
    struct devharness *h = fwcfg_new(NULL);
    char sig[5] = {0};
    uint8_t id[4];
    item_read(h, KEY_SIGNATURE, sig, 4);
    assert_string_equal(sig, "QEMU");
    item_read(h, KEY_ID, id, 4);
    assert_int_equal(le(id, 4), 3);
    /* "QEMU CFG" at 0x514 with any read width */
    char dsig[9] = {0};
    for (unsigned i = 0; i < 8; i++)
        dsig[i] = (char)devharness_pio_in(h, PORT_DMA_HI + i, 1);
    assert_string_equal(dsig, "QEMU CFG");
    assert_int_equal(devharness_pio_in(h, PORT_DMA_HI, 4), 0x554d4551u); /* "QEMU" in memory order */
    assert_int_equal(devharness_pio_in(h, PORT_DMA_LO, 2), 0x4320u);     /* " C" */
    devharness_close(h);
}

/* dma=off: the ID says traditional only and the DMA ports are not there. */
static void test_dma_off(void **state)
{
    (void)state;
    static const char *const opts[] = {"dma=off", NULL};
    struct devharness *h = fwcfg_new(opts);
    uint8_t id[4];
    item_read(h, KEY_ID, id, 4);
    assert_int_equal(le(id, 4), 1);
    assert_false(devharness_pio_mapped(h, PORT_DMA_HI));
    assert_true(devharness_pio_mapped(h, PORT_SEL));
    devharness_close(h);
}

/* RAM size, CPU counts, no-graphic, IRQ0 override; unknown items read 0; reads past an item's end
 * read 0. */
static void test_fixed_items(void **state)
{
    (void)state;
    struct devharness *h = open_plugin();
    add_e820(h);
    devharness_set_vm_facts(h, 4, 128u << 20);
    assert_int_equal(devharness_construct(h, "fw-cfg", 0, NULL), 0);
    uint8_t b[8];
    item_read(h, KEY_RAM_SIZE, b, 8);
    assert_int_equal(le(b, 8), 128u << 20);
    item_read(h, KEY_NB_CPUS, b, 2);
    assert_int_equal(le(b, 2), 4);
    item_read(h, KEY_MAX_CPUS, b, 2);
    assert_int_equal(le(b, 2), 4);
    item_read(h, KEY_NOGRAPHIC, b, 2);
    assert_int_equal(le(b, 2), 1);
    item_read(h, KEY_IRQ0_OVERRIDE, b, 4);
    assert_int_equal(le(b, 4), 1);
    item_read(h, KEY_UUID, b, 8);
    assert_int_equal(le(b, 8), 0); /* no uuid option: zeros */
    memset(b, 0xaa, sizeof(b));
    item_read(h, 0x0d, b, 8); /* NUMA: none */
    assert_int_equal(le(b, 8), 0);
    item_read(h, 0x3fff, b, 4);
    assert_int_equal(le(b, 4), 0);
    /* past the end of the 4-byte signature */
    item_read(h, KEY_SIGNATURE, b, 8);
    assert_memory_equal(b, "QEMU\0\0\0\0", 8);
    /* the write-channel bit selects the same item */
    item_read(h, 0x4000 | KEY_SIGNATURE, b, 4);
    assert_memory_equal(b, "QEMU", 4);
    devharness_close(h);
}

/* The uuid option: RFC 4122 order at selector 2; a malformed one is refused. */
static void test_uuid(void **state)
{
    (void)state;
    static const char *const opts[] = {"uuid=00112233-4455-6677-8899-aabbccddeeff", NULL};
    struct devharness *h = fwcfg_new(opts);
    uint8_t u[16];
    item_read(h, KEY_UUID, u, 16);
    static const uint8_t want[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                     0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    assert_memory_equal(u, want, 16);
    devharness_close(h);

    static const char *const bad[] = {"uuid=00112233-4455-6677-8899-aabbccddeefg", NULL};
    h = open_plugin();
    assert_int_equal(devharness_construct(h, "fw-cfg", 0, bad), -EINVAL);
    assert_non_null(strstr(devharness_last_error(h), "uuid"));
    assert_int_equal(devharness_leaks(h), 0);
    devharness_close(h);
}

/* ---- the directory and files -------------------------------------------------------------------- */

/* The directory lists every file in name order with selectors from 0x20; the data port reads them. */
static void test_directory(void **state)
{
    (void)state;
    struct devharness *h = fwcfg_new(NULL);
    uint8_t count[4], e[64];
    item_read(h, KEY_FILE_DIR, count, 4);
    uint32_t n = be32(count);
    assert_int_equal(n, devharness_fw_file_count(h));
    char prev[57] = "";
    for (uint32_t i = 0; i < n; i++) {
        data_read(h, e, sizeof(e));
        char name[57] = {0};
        memcpy(name, e + 8, 56);
        assert_int_equal(be16(e + 4), KEY_FILE_FIRST + i);
        assert_true(strcmp(prev, name) < 0);
        strcpy(prev, name);
        const void *data;
        size_t len;
        assert_int_equal(devharness_fw_file_get(h, name, &data, &len), 0);
        assert_int_equal(be32(e), len);
    }
    uint32_t len;
    uint8_t *acpi = file_read(h, "etc/acpi/tables", &len);
    assert_non_null(acpi);
    assert_int_equal(len, 10);
    assert_memory_equal(acpi, "ACPITABLES", 10);
    free(acpi);
    uint8_t *big = file_read(h, "zz/big", &len);
    assert_int_equal(len, BIG_LEN);
    for (uint32_t i = 0; i < BIG_LEN; i++)
        if (big[i] != (uint8_t)(i * 7))
            fail_msg("zz/big byte %u is 0x%02x", i, big[i]);
    free(big);
    /* a selector past the last file reads 0 */
    uint8_t b[4];
    item_read(h, (uint16_t)(KEY_FILE_FIRST + n), b, 4);
    assert_int_equal(le(b, 4), 0);
    devharness_close(h);
}

/* The directory is taken at the first access: files added before it are listed, later ones not. */
static void test_directory_snapshot(void **state)
{
    (void)state;
    struct devharness *h = fwcfg_new(NULL);
    assert_int_equal(devharness_fw_file_add(h, "etc/late-but-in-time", "x", 1), 0);
    uint32_t size;
    uint16_t key;
    assert_true(dir_find(h, "etc/late-but-in-time", &size, &key));
    assert_int_equal(devharness_fw_file_add(h, "etc/too-late", "y", 1), 0);
    assert_false(dir_find(h, "etc/too-late", &size, &key));
    devharness_close(h);
}

/* The device's own files: sercon port, boot-fail-wait; sercon=0 removes the console. */
static void test_own_files(void **state)
{
    (void)state;
    struct devharness *h = fwcfg_new(NULL);
    uint32_t len;
    uint8_t *f = file_read(h, "etc/sercon-port", &len);
    assert_non_null(f);
    assert_int_equal(len, 2);
    assert_int_equal(le(f, 2), 0x3f8);
    free(f);
    f = file_read(h, "etc/boot-fail-wait", &len);
    assert_non_null(f);
    assert_int_equal(len, 4);
    assert_int_equal(le(f, 4), 0xffffffffu);
    free(f);
    assert_null(file_read(h, "bootorder", &len));
    devharness_close(h);

    static const char *const opts[] = {"sercon=0", "boot-fail-wait=5000", NULL};
    h = fwcfg_new(opts);
    assert_null(file_read(h, "etc/sercon-port", &len));
    uint8_t b[2];
    item_read(h, KEY_NOGRAPHIC, b, 2);
    assert_int_equal(le(b, 2), 0);
    f = file_read(h, "etc/boot-fail-wait", &len);
    assert_int_equal(le(f, 4), 5000);
    free(f);
    devharness_close(h);
}

/* bootorder: OpenFirmware paths in order, newline-separated and NUL-terminated as QEMU writes it;
 * malformed entries are refused at construct. */
static void test_bootorder(void **state)
{
    (void)state;
    static const char *const opts[] = {"bootorder=  /pci@i0cf8/scsi@4/disk@0,0   /rom@genroms/x.bin ", NULL};
    struct devharness *h = fwcfg_new(opts);
    uint32_t len;
    uint8_t *f = file_read(h, "bootorder", &len);
    assert_non_null(f);
    static const char want[] = "/pci@i0cf8/scsi@4/disk@0,0\n/rom@genroms/x.bin";
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(f, want, sizeof(want));
    free(f);
    devharness_close(h);

    char longpath[300] = "bootorder=/";
    memset(longpath + 11, 'a', 270);
    const char *const bad[][2] = {{"bootorder=disk0", NULL}, {"bootorder=/pci@i0cf8 virtio-blk:0", NULL},
                                  {longpath, NULL}};
    for (unsigned i = 0; i < 3; i++) {
        h = open_plugin();
        assert_int_equal(devharness_construct(h, "fw-cfg", 0, bad[i]), -EINVAL);
        assert_non_null(strstr(devharness_last_error(h), "bootorder"));
        devharness_close(h);
    }
}

/* Walks an SMBIOS structure table: calls back with each structure's type and formatted area. */
static unsigned smbios_types(const uint8_t *t, size_t len, uint8_t *types, unsigned max)
{
    size_t off = 0;
    unsigned n = 0;
    while (off + 4 <= len && n < max) {
        uint8_t slen = t[off + 1];
        assert_true(slen >= 4 && off + slen <= len);
        types[n++] = t[off];
        size_t s = off + slen;
        /* the string set ends with two NULs */
        while (s + 1 < len && !(t[s] == 0 && t[s + 1] == 0))
            s++;
        assert_true(s + 1 < len);
        off = s + 2;
    }
    assert_int_equal(off, len);
    return n;
}

/* The byte sum of `len` bytes. */
static uint8_t sum8(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

/* SMBIOS 3.0: the anchor SeaBIOS accepts (length 0x18, "_SM3_", checksum, max size = the tables'
 * size) and the structures in QEMU's order; the UUID in type 1 with its first fields swapped. */
static void test_smbios_64(void **state)
{
    (void)state;
    static const char *const opts[] = {"uuid=00112233-4455-6677-8899-aabbccddeeff", NULL};
    struct devharness *h = open_plugin();
    add_e820(h);
    devharness_set_vm_facts(h, 2, 128u << 20);
    assert_int_equal(devharness_construct(h, "fw-cfg", 0, opts), 0);
    uint32_t alen, tlen;
    uint8_t *a = file_read(h, "etc/smbios/smbios-anchor", &alen);
    uint8_t *t = file_read(h, "etc/smbios/smbios-tables", &tlen);
    assert_non_null(a);
    assert_non_null(t);
    assert_int_equal(alen, 0x18);
    assert_memory_equal(a, "_SM3_", 5);
    assert_int_equal(a[6], 0x18);
    assert_int_equal(a[7], 3);
    assert_int_equal(sum8(a, alen), 0);
    assert_int_equal(le(a + 12, 4), tlen);
    uint8_t types[32];
    unsigned n = smbios_types(t, tlen, types, 32);
    static const uint8_t want[] = {0, 1, 3, 4, 4, 16, 17, 19, 32, 127};
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(types, want, sizeof(want));
    /* type 1 follows type 0 (0x18 bytes + "modvm\0modvm\0\0") */
    const uint8_t *t1 = t + 0x18 + 6 + 6 + 1;
    assert_int_equal(t1[0], 1);
    static const uint8_t uuid[16] = {0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66,
                                     0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    assert_memory_equal(t1 + 8, uuid, 16);
    free(a);
    free(t);
    devharness_close(h);
}

/* SMBIOS 2.8 ("_SM_" + "_DMI_", both checksums, 16-bit length and count); smbios=off adds none. */
static void test_smbios_32_and_off(void **state)
{
    (void)state;
    static const char *const opts[] = {"smbios=32", NULL};
    struct devharness *h = fwcfg_new(opts);
    uint32_t alen, tlen;
    uint8_t *a = file_read(h, "etc/smbios/smbios-anchor", &alen);
    uint8_t *t = file_read(h, "etc/smbios/smbios-tables", &tlen);
    assert_int_equal(alen, 0x1f);
    assert_memory_equal(a, "_SM_", 4);
    assert_memory_equal(a + 0x10, "_DMI_", 5);
    assert_int_equal(a[5], 0x1f);
    assert_int_equal(sum8(a, alen), 0);
    assert_int_equal(sum8(a + 0x10, alen - 0x10), 0);
    assert_int_equal(le(a + 0x16, 2), tlen);
    uint8_t types[32];
    assert_int_equal(le(a + 0x1c, 2), smbios_types(t, tlen, types, 32));
    free(a);
    free(t);
    devharness_close(h);

    static const char *const off[] = {"smbios=off", NULL};
    h = fwcfg_new(off);
    assert_null(file_read(h, "etc/smbios/smbios-anchor", &alen));
    devharness_close(h);
    static const char *const bad[] = {"smbios=3.0", NULL};
    h = open_plugin();
    assert_int_equal(devharness_construct(h, "fw-cfg", 0, bad), -EINVAL);
    devharness_close(h);
}

/* Without the core's firmware-file interface the device says so and builds nothing. */
static void test_no_fw_interface(void **state)
{
    (void)state;
    struct devharness *h = open_plugin();
    devharness_set_fw_interface(h, false);
    assert_int_equal(devharness_construct(h, "fw-cfg", 0, NULL), -ENOSYS);
    assert_non_null(strstr(devharness_last_error(h), "modvm.fw.1"));
    assert_int_equal(devharness_leaks(h), 0);
    devharness_close(h);
}

/* ---- DMA ---------------------------------------------------------------------------------------- */

/* SeaBIOS's reads: select+read in one descriptor, then a skip and a read of the rest. */
static void test_dma_read(void **state)
{
    (void)state;
    struct devharness *h = fwcfg_new(NULL);
    uint8_t *ram = devharness_ram(h, NULL);
    assert_int_equal(dma(h, KEY_SIGNATURE << 16 | DMA_SELECT | DMA_READ, 4, BUF), 0);
    assert_memory_equal(ram + BUF, "QEMU", 4);
    uint32_t size;
    uint16_t key;
    assert_true(dir_find(h, "zz/big", &size, &key));
    memset(ram + BUF, 0xee, BIG_LEN);
    assert_int_equal(dma(h, (uint32_t)key << 16 | DMA_SELECT | DMA_READ, BIG_LEN, BUF), 0);
    for (uint32_t i = 0; i < BIG_LEN; i++)
        if (ram[BUF + i] != (uint8_t)(i * 7))
            fail_msg("DMA byte %u is 0x%02x", i, ram[BUF + i]);
    /* skip 1000, read 10 */
    assert_int_equal(dma(h, (uint32_t)key << 16 | DMA_SELECT | DMA_SKIP, 1000, 0), 0);
    assert_int_equal(dma(h, DMA_READ, 10, BUF), 0);
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(ram[BUF + i], (uint8_t)((1000 + i) * 7));
    /* the data port continues where DMA stopped */
    assert_int_equal(devharness_pio_in(h, PORT_DATA, 1), (uint8_t)(1010 * 7));
    /* a read past the end zero-fills (QEMU), within the bound */
    memset(ram + BUF, 0xee, 16);
    assert_int_equal(dma(h, KEY_SIGNATURE << 16 | DMA_SELECT | DMA_READ, 16, BUF), 0);
    assert_memory_equal(ram + BUF, "QEMU\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    /* no operation bit: nothing happens, status 0 */
    assert_int_equal(dma(h, 0, 100, BUF), 0);
    assert_int_equal(devharness_guest_errors(h), 0);
    devharness_close(h);
}

/* Hostile descriptors: every one answers the error bit (where the descriptor is writable), never
 * writes outside RAM, and leaves the device usable. */
static void test_dma_hostile(void **state)
{
    (void)state;
    struct devharness *h = fwcfg_new(NULL);
    uint8_t *ram = devharness_ram(h, NULL);
    uint32_t size;
    uint16_t key;
    assert_true(dir_find(h, "zz/big", &size, &key));
    uint32_t sel_read = (uint32_t)key << 16 | DMA_SELECT | DMA_READ;

    /* destination past the end of RAM, straddling it, wrapping the address space */
    assert_int_equal(dma(h, sel_read, 16, RAM_SIZE), DMA_ERROR);
    assert_int_equal(dma(h, sel_read, 16, RAM_SIZE - 8), DMA_ERROR);
    assert_int_equal(dma(h, sel_read, 0x200, UINT64_MAX - 0xff), DMA_ERROR);
    /* a length far past the item: refused whole, nothing written */
    memset(ram + BUF, 0xee, 64);
    assert_int_equal(dma(h, sel_read, 0xffffffffu, BUF), DMA_ERROR);
    assert_int_equal(ram[BUF], 0xee);
    assert_int_equal(dma(h, KEY_SIGNATURE << 16 | DMA_SELECT | DMA_READ, 0x10000000u, BUF), DMA_ERROR);
    assert_int_equal(ram[BUF], 0xee);
    /* an unknown item read far past "its end" */
    assert_int_equal(dma(h, 0x1234u << 16 | DMA_SELECT | DMA_READ, 0x100000u, BUF), DMA_ERROR);
    /* writes are not supported; a zero-length write is a no-op */
    assert_int_equal(dma(h, sel_read | DMA_WRITE, 4, BUF), 0); /* READ wins over WRITE, as QEMU */
    assert_int_equal(dma(h, (uint32_t)key << 16 | DMA_SELECT | DMA_WRITE, 4, BUF), DMA_ERROR);
    assert_int_equal(dma(h, DMA_WRITE, 0, BUF), 0);
    /* a skip past the end stops at the end */
    assert_int_equal(dma(h, (uint32_t)key << 16 | DMA_SELECT | DMA_SKIP, 0xffffffffu, 0), 0);
    assert_int_equal(dma(h, DMA_READ, 4, BUF), 0);
    assert_int_equal(le(ram + BUF, 4), 0);

    /* descriptors outside RAM: nothing to write back, nothing breaks */
    unsigned before = devharness_guest_errors(h);
    dma_kick(h, RAM_SIZE);
    dma_kick(h, RAM_SIZE - 8);
    dma_kick(h, UINT64_MAX - 7);
    dma_kick(h, 0x100000000ull | DESC); /* only the high half differs */
    assert_true(devharness_guest_errors(h) >= before + 4);
    /* the descriptor overlapping the destination: the device worked on its own copy */
    put_be(ram + DESC, KEY_SIGNATURE << 16 | DMA_SELECT | DMA_READ, 4);
    put_be(ram + DESC + 4, 16, 4);
    put_be(ram + DESC + 8, DESC, 8);
    dma_kick(h, DESC);
    assert_memory_equal(ram + DESC, "\0\0\0\0", 4); /* status 0 written over the copied "QEMU" */
    assert_memory_equal(ram + DESC + 4, "\0\0\0\0\0\0\0\0", 8);

    /* wrong widths on the DMA ports and the selector are refused, the latch only takes 32 bits */
    before = devharness_guest_errors(h);
    devharness_pio_out(h, PORT_DMA_LO, 0x12, 1);
    devharness_pio_out(h, PORT_DMA_HI + 2, 0x1234, 2);
    assert_true(devharness_guest_errors(h) >= before + 2);
    /* still works */
    assert_int_equal(dma(h, KEY_SIGNATURE << 16 | DMA_SELECT | DMA_READ, 4, BUF), 0);
    assert_memory_equal(ram + BUF, "QEMU", 4);
    devharness_close(h);
}

/* The high half latch: set by 0x514, used and cleared by the 0x518 write. */
static void test_dma_latch(void **state)
{
    (void)state;
    struct devharness *h = fwcfg_new(NULL);
    uint8_t *ram = devharness_ram(h, NULL);
    put_be(ram + DESC, KEY_SIGNATURE << 16 | DMA_SELECT | DMA_READ, 4);
    put_be(ram + DESC + 4, 4, 4);
    put_be(ram + DESC + 8, BUF, 8);
    devharness_pio_out(h, PORT_DMA_HI, bswap32(1), 4); /* descriptor at 4 GiB + DESC: not RAM */
    devharness_pio_out(h, PORT_DMA_LO, bswap32(DESC), 4);
    assert_int_equal(be32(ram + DESC), KEY_SIGNATURE << 16 | DMA_SELECT | DMA_READ); /* untouched */
    devharness_pio_out(h, PORT_DMA_LO, bswap32(DESC), 4); /* the latch was cleared: runs at DESC */
    assert_int_equal(be32(ram + DESC), 0);
    assert_memory_equal(ram + BUF, "QEMU", 4);
    devharness_close(h);
}

/* ---- ports, reset, saved state ------------------------------------------------------------------ */

/* Port widths: a byte write to the selector and a 16-bit data read do nothing harmful. */
static void test_port_widths(void **state)
{
    (void)state;
    struct devharness *h = fwcfg_new(NULL);
    sel(h, KEY_SIGNATURE);
    assert_int_equal(devharness_pio_in(h, PORT_DATA, 1), 'Q');
    devharness_pio_out(h, PORT_SEL, KEY_ID, 1); /* not a selection */
    devharness_pio_out(h, PORT_DATA, 0x55, 1);  /* data writes are ignored */
    assert_int_equal(devharness_pio_in(h, PORT_DATA, 1), 'E');
    unsigned before = devharness_guest_errors(h);
    devharness_pio_in(h, PORT_SEL, 2);
    assert_int_equal(devharness_guest_errors(h), before + 1);
    /* a byte read at the selector port is the data register (QEMU's combined port) */
    assert_int_equal(devharness_pio_in(h, PORT_SEL, 1), 'M');
    devharness_close(h);
}

/* Reset selects the signature and clears the DMA latch. */
static void test_reset(void **state)
{
    (void)state;
    struct devharness *h = fwcfg_new(NULL);
    uint8_t b[2];
    item_read(h, KEY_ID, b, 2);
    devharness_pio_out(h, PORT_DMA_HI, bswap32(1), 4);
    devharness_reset(h);
    assert_int_equal(devharness_pio_in(h, PORT_DATA, 1), 'Q');
    uint8_t *ram = devharness_ram(h, NULL);
    put_be(ram + DESC, DMA_READ, 4);
    put_be(ram + DESC + 4, 3, 4);
    put_be(ram + DESC + 8, BUF, 8);
    devharness_pio_out(h, PORT_DMA_LO, bswap32(DESC), 4);
    assert_int_equal(be32(ram + DESC), 0);
    assert_memory_equal(ram + BUF, "EMU", 3);
    devharness_close(h);
}

/* Saved state: the layout, and a load that continues mid-file in a second instance. */
static void test_save_load(void **state)
{
    (void)state;
    struct devharness *a = fwcfg_new(NULL);
    uint32_t size;
    uint16_t key;
    assert_true(dir_find(a, "zz/big", &size, &key));
    sel(a, key);
    uint8_t skip[123];
    data_read(a, skip, sizeof(skip));
    uint8_t *buf;
    size_t len;
    assert_int_equal(devharness_save(a, &buf, &len), 0);
    assert_int_equal(len, SS_LEN);
    assert_int_equal(le(buf, 2), key);
    assert_int_equal(le(buf + 2, 4), 123);

    struct devharness *b = fwcfg_new(NULL);
    assert_int_equal(devharness_load(b, buf, len, 1), 0);
    assert_int_equal(devharness_pio_in(b, PORT_DATA, 1), (uint8_t)(123 * 7));
    free(buf);
    devharness_close(a);
    devharness_close(b);
}

/* Hostile saved states are refused and leave the device as it was. */
static void test_load_hostile(void **state)
{
    (void)state;
    struct devharness *h = fwcfg_new(NULL);
    uint8_t *good;
    size_t len;
    sel(h, KEY_SIGNATURE);
    assert_int_equal(devharness_save(h, &good, &len), 0);
    uint8_t bad[SS_LEN];

    assert_int_equal(devharness_load(h, good, len, 2), -EINVAL);                 /* version */
    assert_int_equal(devharness_load(h, good, len - 1, 1), -EINVAL);             /* truncated */
    memcpy(bad, good, len);
    bad[2] = 5;                                                                  /* offset 5 > 4 */
    assert_int_equal(devharness_load(h, bad, len, 1), -EINVAL);
    memcpy(bad, good, len);
    bad[0] = 0x34, bad[1] = 0x12, bad[2] = 1;                                    /* offset in no item */
    assert_int_equal(devharness_load(h, bad, len, 1), -EINVAL);
    memcpy(bad, good, len);
    bad[6] = 1;                                                                  /* latch low bits */
    assert_int_equal(devharness_load(h, bad, len, 1), -EINVAL);
    memcpy(bad, good, len);
    bad[15] = 0;                                                                 /* saved with dma=off */
    assert_int_equal(devharness_load(h, bad, len, 1), -EINVAL);
    memcpy(bad, good, len);
    bad[14] = 1, bad[16] = 99;                                                   /* another file set */
    assert_int_equal(devharness_load(h, bad, len, 1), -EINVAL);
    assert_non_null(strstr(devharness_last_error(h), "firmware files"));
    /* untouched: still at the signature's start */
    assert_int_equal(devharness_pio_in(h, PORT_DATA, 1), 'Q');
    free(good);
    devharness_close(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_and_id),
        cmocka_unit_test(test_dma_off),
        cmocka_unit_test(test_fixed_items),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_directory_snapshot),
        cmocka_unit_test(test_own_files),
        cmocka_unit_test(test_bootorder),
        cmocka_unit_test(test_smbios_64),
        cmocka_unit_test(test_smbios_32_and_off),
        cmocka_unit_test(test_no_fw_interface),
        cmocka_unit_test(test_dma_read),
        cmocka_unit_test(test_dma_hostile),
        cmocka_unit_test(test_dma_latch),
        cmocka_unit_test(test_port_widths),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_load_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
