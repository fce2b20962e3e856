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
 * Loaded with --plugin-path <build>/tests/integration; never installed. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* MMIO write handler (BAR0). */
static void testdev_mmio_write(struct modvm_dev *dev, void *user, uint64_t off, uint64_t value, unsigned size)
{
    (void)dev;
    testdev_write(user, false, off, value, size);
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

/* Devreg construct callback: the function (first free slot) and its two BARs. */
static int testdev_construct(struct modvm_dev *dev)
{
    struct testdev_state *s = dev->data;
    s->current = -1;
    for (unsigned i = 0; i < TESTDEV_TESTS; i++)
        testdev_test_init(&s->tests[i], i);
    if (!(s->pci = modvm_pci_hlp(dev)))
        return modvm_dev_set_error(dev, -ENOSYS, "no PCI bus in this core");
    const struct modvm_pci_func func = {
        .version = MODVM_PCI_FUNC_VERSION,
        .vendor_id = 0x1b36,
        .device_id = 0x0005,
        .class_code = 0x00,
        .subclass = 0xff,
        .devfn = -1,
    };
    int rc = s->pci->func_register(dev, &func, s, &s->func);
    if (rc == 0)
        rc = s->pci->bar_register(dev, s->func, 0, MODVM_PCI_BAR_MEM32, TESTDEV_MEM_SIZE, NULL, &testdev_mmio_ops, s);
    if (rc == 0)
        rc = s->pci->bar_register(dev, s->func, 1, MODVM_PCI_BAR_IO, TESTDEV_IO_SIZE, &testdev_pio_ops, NULL, s);
    return rc == 0 ? 0 : modvm_dev_set_error(dev, rc, "cannot set up the PCI function (error %d)", rc);
}

/* Devreg reset callback: no test selected. */
static void testdev_reset(struct modvm_dev *dev)
{
    struct testdev_state *s = dev->data;
    s->current = -1;
}

static const struct modvm_devreg testdev_reg = {
    .version = MODVM_DEVREG_VERSION,
    .name = "pci-testdev",
    .description = "test only: QEMU pci-testdev look-alike (1b36:0005, BAR0 4 KiB memory, BAR1 256 ports)",
    .family = MODVM_DEV_FAMILY_MISC,
    .max_instances = 0,
    .instance_size = sizeof(struct testdev_state),
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
