/* tests/integration/pci-testdev.c — "pci-testdev": a test-only device plugin that behaves like QEMU's
 * PCI test device (hw/misc/pci-testdev.c, vendor 1b36h device 0005h, class 00/ffh), so one test guest
 * (tests/guest/pci-scan.asm) can check BAR sizing and decoding the same way under modvm and QEMU.
 *
 * Spec: QEMU's pci-testdev protocol, as observed by a guest: BAR0 is 4 KiB of memory, BAR1 256 I/O
 * ports, no interrupt pin. Six tests exist, numbered type * 3 + n (type 0 memory, 1 I/O; n 0
 * "no-eventfd", 1 "wildcard-eventfd", 2 "datamatch-eventfd"). Writing n < 3 at offset 0 of a BAR
 * selects test n of that BAR's type (any other value deselects). While a test is selected, a read of
 * byte k returns byte k of its 16-byte header + NUL-terminated name — u8 test, u8 width (1),
 * u16 pad, u32 offset (BAR size / 2 + test number), u8 data (FAh when the test matches data, CEh for
 * the wildcard test), u8 pad[3], u32 count, name "mmio-no-eventfd" etc. — and 0 past its end or
 * with none selected. A byte write at the test's offset (of the matching data, unless wildcard)
 * increments count. QEMU backs the eventfd tests with KVM ioeventfds, which swallow the writes; this
 * model counts them all (the guest uses test 0 only). Accesses are byte-wide (wider ones are split
 * by the bus), as QEMU's implementation size 1.
 *
 * Beyond QEMU's device, for the PCI core's 1.1 features (both off by default, so the device stays
 * QEMU's look-alike):
 *   romfile=PATH  the file (1 byte to 16 MiB) becomes the function's expansion ROM (rom_register),
 *                 e.g. tests/firmware/optionrom.asm, which SeaBIOS runs.
 *   msi=on        an MSI capability (1 vector, 64-bit address, per-vector mask) and INTA#, driven by a
 *                 doorbell in BAR0: a byte write (any value) at offset F00h sends MSI vector 0 while
 *                 the guest has MSI enabled, and otherwise raises INTx (status bit 3), which stays
 *                 high until a byte write at offset F04h lowers it. Without msi=on both offsets are
 *                 plain unused offsets, as in QEMU.
 *
 * Loaded with --plugin-path <build>/tests/integration; never installed. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <modvm/pci.h>
#include <modvm/pdm.h>
#include <modvm/plugin.h>

#define TESTDEV_MEM_SIZE 4096u
#define TESTDEV_IO_SIZE 256u
#define TESTDEV_TESTS_PER_TYPE 3u
#define TESTDEV_TESTS 6u
#define TESTDEV_HDR_SIZE 16u
#define TESTDEV_NAME_MAX 24u
#define TESTDEV_DATA_MATCH 0xfau
#define TESTDEV_DATA_ANY 0xceu
#define TESTDEV_WILDCARD 1u
#define TESTDEV_DOORBELL 0xf00u  /* BAR0, msi=on: MSI vector 0, or INTx with MSI off */
#define TESTDEV_INTX_ACK 0xf04u  /* BAR0, msi=on: INTx low */
#define TESTDEV_ROM_MAX (16u << 20) /* the largest expansion ROM the PCI core takes */

/* One test's header as the guest reads it. */
struct testdev_test {
    uint8_t bytes[TESTDEV_HDR_SIZE + TESTDEV_NAME_MAX];
    unsigned len;    /* header + name + NUL */
    uint32_t offset; /* the trigger offset in its BAR */
    uint32_t count;
    bool match_data;
};

/* Instance data (zeroed by the core). */
struct testdev_state {
    const struct modvm_pci_hlp *pci;
    modvm_pci_handle func;
    struct testdev_test tests[TESTDEV_TESTS];
    int current; /* selected test, -1 for none */
    bool msi;    /* msi=on: the MSI capability, INTA# and the doorbell */
};

/* Builds test i's header. */
static void testdev_test_init(struct testdev_test *t, unsigned i)
{
    static const char *const kinds[TESTDEV_TESTS_PER_TYPE] = {"no-eventfd", "wildcard-eventfd",
                                                              "datamatch-eventfd"};
    bool io = i >= TESTDEV_TESTS_PER_TYPE;
    unsigned n = i % TESTDEV_TESTS_PER_TYPE;
    memset(t, 0, sizeof(*t));
    t->match_data = n != TESTDEV_WILDCARD;
    t->offset = (io ? TESTDEV_IO_SIZE : TESTDEV_MEM_SIZE) / 2u + i;
    t->bytes[0] = (uint8_t)i;
    t->bytes[1] = 1; /* width */
    for (unsigned b = 0; b < 4; b++)
        t->bytes[4 + b] = (uint8_t)(t->offset >> (8 * b));
    t->bytes[8] = t->match_data ? TESTDEV_DATA_MATCH : TESTDEV_DATA_ANY;
    const char *type = io ? "portio-" : "mmio-";
    size_t tl = strlen(type), kl = strlen(kinds[n]);
    memcpy(t->bytes + TESTDEV_HDR_SIZE, type, tl);
    memcpy(t->bytes + TESTDEV_HDR_SIZE + tl, kinds[n], kl + 1);
    t->len = (unsigned)(TESTDEV_HDR_SIZE + tl + kl + 1);
}

/* A byte read at `off` of either BAR: the selected test's header byte, else 0. */
static uint8_t testdev_read(struct testdev_state *s, uint64_t off)
{
    if (s->current < 0)
        return 0;
    struct testdev_test *t = &s->tests[s->current];
    if (off + 1 >= t->len) /* QEMU's bound: the NUL reads 0 too */
        return 0;
    uint8_t v = t->bytes[off];
    if (off >= 12 && off < 16)
        v = (uint8_t)(t->count >> (8 * (off - 12)));
    return v;
}

/* A write at `off` of a BAR of type `io`: select a test, or count a trigger. */
static void testdev_write(struct testdev_state *s, bool io, uint64_t off, uint64_t value, unsigned size)
{
    if (off == 0) {
        s->current = -1;
        if (value < TESTDEV_TESTS_PER_TYPE) {
            s->current = (int)((io ? TESTDEV_TESTS_PER_TYPE : 0u) + value);
            s->tests[s->current].count = 0;
        }
        return;
    }
    if (s->current < 0)
        return;
    struct testdev_test *t = &s->tests[s->current];
    if (off != t->offset || (t->match_data && (size != 1 || value != t->bytes[8])))
        return;
    t->count++;
}

/* MMIO read handler (BAR0). */
static uint64_t testdev_mmio_read(struct modvm_dev *dev, void *user, uint64_t off, unsigned size)
{
    (void)dev;
    (void)size;
    return testdev_read(user, off);
}

/* The doorbell (msi=on): MSI vector 0 while the guest has MSI on, else INTx high. */
static void testdev_ring(struct modvm_dev *dev, struct testdev_state *s)
{
    if (s->pci->msi_notify(dev, s->func, 0) == -ENOTCONN)
        s->pci->intx_set(dev, s->func, MODVM_IRQ_HIGH);
}

/* MMIO write handler (BAR0): the doorbell registers with msi=on, else QEMU's protocol. */
static void testdev_mmio_write(struct modvm_dev *dev, void *user, uint64_t off, uint64_t value, unsigned size)
{
    struct testdev_state *s = user;
    if (s->msi && off == TESTDEV_DOORBELL)
        testdev_ring(dev, s);
    else if (s->msi && off == TESTDEV_INTX_ACK)
        s->pci->intx_set(dev, s->func, MODVM_IRQ_LOW);
    else
        testdev_write(s, false, off, value, size);
}

/* Port read handler (BAR1). */
static uint32_t testdev_pio_in(struct modvm_dev *dev, void *user, uint16_t off, unsigned size)
{
    (void)dev;
    (void)size;
    return testdev_read(user, off);
}

/* Port write handler (BAR1). */
static void testdev_pio_out(struct modvm_dev *dev, void *user, uint16_t off, uint32_t value, unsigned size)
{
    (void)dev;
    testdev_write(user, true, off, value, size);
}

static const struct modvm_mmio_ops testdev_mmio_ops = {
    .version = MODVM_MMIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1,
    .read = testdev_mmio_read,
    .write = testdev_mmio_write,
};

static const struct modvm_pio_ops testdev_pio_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1,
    .in = testdev_pio_in,
    .out = testdev_pio_out,
};

/* Hands the file `path` to the core as the function's expansion ROM. */
static int testdev_load_rom(struct modvm_dev *dev, struct testdev_state *s, const char *path)
{
    if (!modvm_pci_hlp_since(s->pci, 1))
        return modvm_dev_set_error(dev, -ENOTSUP, "romfile needs a core with PCI expansion ROMs (pci.h 1.1)");
    FILE *f = fopen(path, "rb");
    if (!f)
        return modvm_dev_set_error(dev, -errno, "romfile '%s': cannot open it: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        rc = modvm_dev_set_error(dev, -EINVAL, "romfile '%s': not a regular file", path);
    else if (st.st_size < 1 || st.st_size > TESTDEV_ROM_MAX)
        rc = modvm_dev_set_error(dev, -EFBIG, "romfile '%s': %lld bytes; an expansion ROM has 1 byte to 16 MiB",
                                 path, (long long)st.st_size);
    size_t len = rc == 0 ? (size_t)st.st_size : 0;
    uint8_t *image = rc == 0 ? malloc(len) : NULL;
    if (rc == 0 && !image)
        rc = modvm_dev_set_error(dev, -ENOMEM, "romfile '%s': out of memory", path);
    if (rc == 0 && fread(image, 1, len, f) != len)
        rc = modvm_dev_set_error(dev, -EIO, "romfile '%s': cannot read its %zu bytes", path, len);
    if (rc == 0 && (rc = s->pci->rom_register(dev, s->func, image, len)) != 0)
        rc = modvm_dev_set_error(dev, rc, "romfile '%s': the PCI core refused it (error %d)", path, rc);
    free(image);
    fclose(f);
    return rc;
}

/* Devreg construct callback: the function (first free slot), its two BARs and the options. */
static int testdev_construct(struct modvm_dev *dev)
{
    struct testdev_state *s = dev->data;
    s->current = -1;
    for (unsigned i = 0; i < TESTDEV_TESTS; i++)
        testdev_test_init(&s->tests[i], i);
    const char *romfile = NULL;
    int rc = modvm_dev_cfg_bool(dev, "msi", &s->msi);
    if (rc == 0 && (rc = modvm_dev_cfg_string(dev, "romfile", &romfile)) == -ENOENT)
        rc = 0; /* no ROM */
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot read the options (error %d)", rc);
    if (!(s->pci = modvm_pci_hlp(dev)))
        return modvm_dev_set_error(dev, -ENOSYS, "no PCI bus in this core");
    if (s->msi && !modvm_pci_hlp_since(s->pci, 1))
        return modvm_dev_set_error(dev, -ENOTSUP, "msi=on needs a core with plain MSI (pci.h 1.1)");
    const struct modvm_pci_func func = {
        .version = MODVM_PCI_FUNC_VERSION,
        .vendor_id = 0x1b36,
        .device_id = 0x0005,
        .class_code = 0x00,
        .subclass = 0xff,
        .interrupt_pin = s->msi ? 1 : 0, /* INTA#, the doorbell's fallback */
        .devfn = -1,
    };
    rc = s->pci->func_register(dev, &func, s, &s->func);
    if (rc == 0)
        rc = s->pci->bar_register(dev, s->func, 0, MODVM_PCI_BAR_MEM32, TESTDEV_MEM_SIZE, NULL, &testdev_mmio_ops, s);
    if (rc == 0)
        rc = s->pci->bar_register(dev, s->func, 1, MODVM_PCI_BAR_IO, TESTDEV_IO_SIZE, &testdev_pio_ops, NULL, s);
    if (rc == 0 && s->msi)
        rc = s->pci->msi_init(dev, s->func, 1, MODVM_PCI_MSI_64BIT | MODVM_PCI_MSI_MASKABLE);
    if (rc != 0)
        return modvm_dev_set_error(dev, rc, "cannot set up the PCI function (error %d)", rc);
    return romfile ? testdev_load_rom(dev, s, romfile) : 0;
}

/* Devreg reset callback: no test selected. */
static void testdev_reset(struct modvm_dev *dev)
{
    struct testdev_state *s = dev->data;
    s->current = -1;
}

static const struct modvm_cfg_option testdev_options[] = {
    {.name = "romfile", .type = MODVM_CFG_STRING, .default_value = NULL,
     .help = "a file (1 byte to 16 MiB) served as the function's expansion ROM"},
    {.name = "msi", .type = MODVM_CFG_BOOL, .default_value = "off",
     .help = "an MSI capability (1 vector, 64-bit, maskable), INTA# and the doorbell at BAR0+F00h (ack F04h)"},
    {.name = NULL},
};

static const struct modvm_devreg testdev_reg = {
    .version = MODVM_DEVREG_VERSION,
    .name = "pci-testdev",
    .description = "test only: QEMU pci-testdev look-alike (1b36:0005, BAR0 4 KiB memory, BAR1 256 ports)",
    .family = MODVM_DEV_FAMILY_MISC,
    .max_instances = 0,
    .instance_size = sizeof(struct testdev_state),
    .options = testdev_options,
    .construct = testdev_construct,
    .reset = testdev_reset,
    .version_end = MODVM_DEVREG_VERSION,
};

/* Plugin entry (modvm_plugin_desc.register_types). */
static int testdev_register(const struct modvm_registrar *reg)
{
    return reg->register_device(reg, &testdev_reg);
}

MODVM_PLUGIN(.name = "pci-testdev", .plugin_version = "1.0.0", .license = "MIT",
             .description = "test only: QEMU pci-testdev look-alike", .register_types = testdev_register);
