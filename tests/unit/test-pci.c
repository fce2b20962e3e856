/* tests/unit/test-pci.c — the core's PCI bus (pdm/pci-*.c) driven without a VM: the helper table of
 * <modvm/pci.h> against fake devices whose port/MMIO ranges live in a small table here, with the
 * VM's interrupt lines and MSIs recorded. Covers the header registers (identity, command and status
 * masks, BAR sizing), BAR mapping on every BAR/decode change (moves, RAM and range overlaps),
 * capability chaining and config_init ownership, device config callbacks and the lock taken for a
 * config cycle, MSI-X (masking, pending bits, delivery on unmask, bus master, address window, INTx
 * suppression), plain MSI (capability layout and write masks, multiple messages, per-vector masking
 * and pending bits, bus master, INTx suppression, MSI-X overriding it, reset), the expansion ROM
 * (sizing, mapping only with its enable bit and memory decode, contents, hostile addresses and
 * accesses), INTx (router, OR of functions sharing a GSI, INTx-disable, re-routing), reset,
 * destruction, and config cycles with random offsets/sizes/values.
 *
 * Spec: PCI Local Bus 3.0 ch. 6, §6.2.5.2 (expansion ROM), §6.8.1 (MSI), §6.8.2 (MSI-X), as
 * pdm/pci-bus.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/err.h"
#include "../../core/vm.h"
#include "../../pdm/internal.h"
#include "../../pdm/pci.h"

/* ---- the stubs pdm/pci.c links against ------------------------------------------------------------ */

#define MAX_GSI 32
static int gsi_level[MAX_GSI];
static unsigned gsi_rises[MAX_GSI];
static unsigned msi_count;
static uint64_t msi_addr;
static uint32_t msi_data;
static struct pdm_dev *entered[8];
static unsigned nentered, enter_calls;

int modvm_err_set(int rc, const char *fmt, ...)
{
    (void)fmt;
    return rc;
}

int vm_irq_set(struct vm *vm, uint32_t gsi, int level)
{
    (void)vm;
    assert_true(gsi < MAX_GSI);
    assert_true(level == MODVM_IRQ_LOW || level == MODVM_IRQ_HIGH);
    assert_int_not_equal(gsi_level[gsi], level); /* the core drives changes only */
    gsi_level[gsi] = level;
    gsi_rises[gsi] += level == MODVM_IRQ_HIGH;
    return 0;
}

int vm_msi_send(struct vm *vm, uint64_t address, uint32_t data)
{
    (void)vm;
    msi_count++;
    msi_addr = address;
    msi_data = data;
    return 0;
}

void pdm_dev_enter(struct pdm_dev *d)
{
    for (unsigned i = 0; i < nentered; i++)
        assert_ptr_not_equal(entered[i], d); /* never re-entered: the mutex is not recursive */
    assert_true(nentered < 8);
    entered[nentered++] = d;
    enter_calls++;
}

void pdm_dev_leave(struct pdm_dev *d)
{
    assert_true(nentered > 0);
    assert_ptr_equal(entered[nentered - 1], d);
    nentered--;
}

/* ---- fake devices and their I/O ranges ---------------------------------------------------------- */

#define RAM_END (128ull << 20)
#define MAX_REGIONS 32

struct region {
    bool used, mmio, mapped;
    struct modvm_dev *dev;
    struct modvm_pio_ops pio;
    struct modvm_mmio_ops mmio_ops;
    void *user;
    uint64_t size, base;
};
static struct region regions[MAX_REGIONS];
static unsigned guest_errors;

static int fake_create(struct modvm_dev *dev, bool mmio, uint64_t size, const void *ops, void *user, void **out)
{
    for (unsigned i = 0; i < MAX_REGIONS; i++) {
        if (regions[i].used)
            continue;
        regions[i] = (struct region){.used = true, .mmio = mmio, .dev = dev, .user = user, .size = size};
        if (mmio)
            regions[i].mmio_ops = *(const struct modvm_mmio_ops *)ops;
        else
            regions[i].pio = *(const struct modvm_pio_ops *)ops;
        *out = &regions[i];
        return 0;
    }
    return -ENOSPC;
}

static int fake_map(struct region *r, uint64_t base)
{
    if (r->mapped)
        return -EALREADY;
    if (r->mmio && base < RAM_END)
        return -EBUSY;
    for (unsigned i = 0; i < MAX_REGIONS; i++)
        if (regions[i].used && regions[i].mapped && regions[i].mmio == r->mmio &&
            base < regions[i].base + regions[i].size && regions[i].base < base + r->size)
            return -EBUSY;
    r->base = base;
    r->mapped = true;
    return 0;
}

static int fake_unmap(struct region *r)
{
    if (!r->mapped)
        return -ENOENT;
    r->mapped = false;
    return 0;
}

static int hlp_pio_create(struct modvm_dev *dev, uint32_t count, const struct modvm_pio_ops *ops, void *user,
                          const char *desc, modvm_pio_handle *out)
{
    (void)desc;
    return fake_create(dev, false, count, ops, user, (void **)out);
}
static int hlp_pio_map(struct modvm_dev *dev, modvm_pio_handle h, uint16_t base)
{
    (void)dev;
    return fake_map((struct region *)h, base);
}
static int hlp_pio_unmap(struct modvm_dev *dev, modvm_pio_handle h)
{
    (void)dev;
    return fake_unmap((struct region *)h);
}
static void hlp_pio_destroy(struct modvm_dev *dev, modvm_pio_handle h)
{
    (void)dev;
    memset(h, 0, sizeof(struct region));
}
static int hlp_mmio_create(struct modvm_dev *dev, uint64_t size, const struct modvm_mmio_ops *ops, void *user,
                           const char *desc, modvm_mmio_handle *out)
{
    (void)desc;
    return fake_create(dev, true, size, ops, user, (void **)out);
}
static int hlp_mmio_map(struct modvm_dev *dev, modvm_mmio_handle h, uint64_t gpa)
{
    (void)dev;
    return fake_map((struct region *)h, gpa);
}
static int hlp_mmio_unmap(struct modvm_dev *dev, modvm_mmio_handle h)
{
    (void)dev;
    return fake_unmap((struct region *)h);
}
static void hlp_mmio_destroy(struct modvm_dev *dev, modvm_mmio_handle h)
{
    (void)dev;
    memset(h, 0, sizeof(struct region));
}
static void hlp_log(struct modvm_dev *dev, int level, const char *fmt, va_list ap)
{
    (void)dev;
    (void)level;
    (void)fmt;
    (void)ap;
}
static void hlp_guest_error(struct modvm_dev *dev, const char *fmt, va_list ap)
{
    (void)dev;
    (void)fmt;
    (void)ap;
    guest_errors++;
}

static const struct modvm_dev_hlp fake_hlp = {
    .version = MODVM_DEV_HLP_VERSION,
    .pio_create = hlp_pio_create,
    .pio_map = hlp_pio_map,
    .pio_unmap = hlp_pio_unmap,
    .pio_destroy = hlp_pio_destroy,
    .mmio_create = hlp_mmio_create,
    .mmio_map = hlp_mmio_map,
    .mmio_unmap = hlp_mmio_unmap,
    .mmio_destroy = hlp_mmio_destroy,
    .log = hlp_log,
    .guest_error = hlp_guest_error,
    .version_end = MODVM_DEV_HLP_VERSION,
};

static int fake_vm; /* only its address matters: the bus is looked up by VM */

/* A device instance of the fake VM. */
static struct pdm_dev *new_dev(const char *name)
{
    struct pdm_dev *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    d->pub.hlp = &fake_hlp;
    d->pub.name = d->name;
    d->vm = (struct vm *)&fake_vm;
    snprintf(d->name, sizeof(d->name), "%s", name);
    return d;
}

/* Destructs a device's PCI side (as device.c does) and frees it. */
static void free_dev(struct pdm_dev *d)
{
    pdm_pci_dev_destruct(d);
    for (unsigned i = 0; i < MAX_REGIONS; i++)
        assert_false(regions[i].used && regions[i].dev == &d->pub); /* every BAR range destroyed */
    free(d);
}

/* The region mapped at `addr` of a space, or NULL. */
static struct region *find_mapped(bool mmio, uint64_t addr)
{
    for (unsigned i = 0; i < MAX_REGIONS; i++)
        if (regions[i].used && regions[i].mapped && regions[i].mmio == mmio && addr >= regions[i].base &&
            addr - regions[i].base < regions[i].size)
            return &regions[i];
    return NULL;
}

/* A guest MMIO access, as PGM + PDM would route it (the device lock is not modelled here). */
static uint64_t mmio_read(uint64_t gpa, unsigned size)
{
    struct region *r = find_mapped(true, gpa);
    return r ? r->mmio_ops.read(r->dev, r->user, gpa - r->base, size) : ~0ull;
}
static void mmio_write(uint64_t gpa, uint64_t value, unsigned size)
{
    struct region *r = find_mapped(true, gpa);
    if (r)
        r->mmio_ops.write(r->dev, r->user, gpa - r->base, value, size);
}

/* ---- test fixture ------------------------------------------------------------------------------- */

static const struct modvm_pci_hlp *pci = &pdm_pci_hlp;
static struct pdm_dev *bridge; /* the host bridge: issues config cycles */

/* Config cycles through the bridge. */
static uint32_t cfg_read(uint8_t devfn, uint32_t off, unsigned size)
{
    return pci->config_read(&bridge->pub, 0, devfn, off, size);
}
static void cfg_write(uint8_t devfn, uint32_t off, uint32_t value, unsigned size)
{
    pci->config_write(&bridge->pub, 0, devfn, off, value, size);
}

static int setup(void **state)
{
    (void)state;
    memset(regions, 0, sizeof(regions));
    memset(gsi_level, 0, sizeof(gsi_level));
    memset(gsi_rises, 0, sizeof(gsi_rises));
    msi_count = guest_errors = enter_calls = nentered = 0;
    bridge = new_dev("bridge");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free_dev(bridge);
    assert_int_equal(nentered, 0);
    return 0;
}

/* A plain endpoint identity. */
static struct modvm_pci_func ident(int32_t devfn, uint8_t pin)
{
    return (struct modvm_pci_func){.version = MODVM_PCI_FUNC_VERSION, .vendor_id = 0x1af4, .device_id = 0x1042,
                                   .subsystem_vendor_id = 0x1af4, .subsystem_id = 0x0002, .revision = 0x01,
                                   .prog_if = 0x00, .subclass = 0x80, .class_code = 0x01, .interrupt_pin = pin,
                                   .devfn = devfn};
}

/* ---- identity, registration -------------------------------------------------------------------- */

static void header_identity_and_masks(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev");
    struct modvm_pci_func id = ident(-1, 1);
    modvm_pci_handle h;
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h), 0);
    uint8_t devfn = 2 << 3; /* the first automatic slot */
    assert_int_equal(cfg_read(devfn, 0, 4), 0x10421af4u);
    assert_int_equal(cfg_read(devfn, 2, 2), 0x1042); /* byte lane 2 */
    assert_int_equal(cfg_read(devfn, 8, 4), 0x01800001u);
    assert_int_equal(cfg_read(devfn, 0x0e, 1), 0x00);
    assert_int_equal(cfg_read(devfn, 0x2c, 4), 0x00021af4u);
    assert_int_equal(cfg_read(devfn, 0x3d, 1), 1);
    /* identity, header type, pin: read-only */
    cfg_write(devfn, 0, 0xffffffffu, 4);
    cfg_write(devfn, 0x0c, 0xffffffffu, 4);
    cfg_write(devfn, 0x3c, 0xffffffffu, 4);
    assert_int_equal(cfg_read(devfn, 0, 4), 0x10421af4u);
    assert_int_equal(cfg_read(devfn, 0x0c, 4), 0x000000ffu); /* cache line size only */
    assert_int_equal(cfg_read(devfn, 0x3c, 4), 0x000001ffu); /* interrupt line only; pin stays 1 */
    /* command: I/O, memory, master, INTx disable; status: nothing settable, no capabilities */
    cfg_write(devfn, 4, 0xffffffffu, 4);
    assert_int_equal(cfg_read(devfn, 4, 2), 0x0407);
    assert_int_equal(cfg_read(devfn, 6, 2), 0x0000);
    /* no BARs, no ROM: all read 0 even after all ones */
    for (uint32_t off = 0x10; off <= 0x30; off += 4) {
        cfg_write(devfn, off, 0xffffffffu, 4);
        assert_int_equal(cfg_read(devfn, off, 4), off == 0x2c ? 0x00021af4u : 0u);
    }
    free_dev(d);
    assert_int_equal(cfg_read(devfn, 0, 4), 0xffffffffu);
}

static void registration_rules(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev");
    modvm_pci_handle h, h2;
    struct modvm_pci_func id = ident(0x18, 0);
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h), 0);
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h2), -EBUSY);
    id.devfn = 0x19; /* another function of the same slot */
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h2), 0);
    id.devfn = -1; /* slot 3 is partly used: the first all-free slot from 2 is 2 */
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h2), 0);
    assert_int_equal(cfg_read(0x10, 0, 2), 0x1af4);
    struct modvm_pci_func bad = ident(-1, 0);
    bad.version = MODVM_VERSION_MAKE(0xd7d1, 2, 0);
    assert_int_equal(pci->func_register(&d->pub, &bad, NULL, &h2), -EINVAL);
    bad = ident(-1, 5);
    assert_int_equal(pci->func_register(&d->pub, &bad, NULL, &h2), -EINVAL);
    bad = ident(256, 0);
    assert_int_equal(pci->func_register(&d->pub, &bad, NULL, &h2), -EINVAL);
    bad = ident(-1, 0);
    bad.header_type = 1;
    assert_int_equal(pci->func_register(&d->pub, &bad, NULL, &h2), -EOPNOTSUPP);
    bad = ident(-1, 0);
    bad.vendor_id = 0xffff;
    assert_int_equal(pci->func_register(&d->pub, &bad, NULL, &h2), -EINVAL);
    bad = ident(-1, 0);
    bad.flags = 0x80;
    assert_int_equal(pci->func_register(&d->pub, &bad, NULL, &h2), -EINVAL);
    /* a handle of another device is refused */
    struct pdm_dev *other = new_dev("other");
    assert_int_equal(pci->config_init(&other->pub, h, 0x40, 1, 0, 0), -EINVAL);
    assert_int_equal(pci->intx_set(&other->pub, h, 1), -EINVAL);
    free_dev(other);
    /* multifunction bit */
    id = ident(0x20, 0);
    id.flags = MODVM_PCI_F_MULTIFUNCTION;
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h2), 0);
    assert_int_equal(cfg_read(0x20, 0x0e, 1), 0x80);
    /* all 30 automatic slots */
    unsigned n = 0;
    id = ident(-1, 0);
    while (pci->func_register(&d->pub, &id, NULL, &h2) == 0)
        n++;
    assert_int_equal(n, 32 - 2 - 3); /* slots 2, 3, 4 are taken */
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h2), -ENOSPC);
    free_dev(d);
}

static void bad_cycles_read_all_ones(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev");
    struct modvm_pci_func id = ident(0x08, 0);
    modvm_pci_handle h;
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h), 0);
    assert_int_equal(pci->config_read(&bridge->pub, 1, 0x08, 0, 4), 0xffffffffu); /* bus 1 */
    assert_int_equal(cfg_read(0x09, 0, 4), 0xffffffffu);                           /* no such function */
    assert_int_equal(cfg_read(0x08, 0, 2), 0x1af4);
    assert_int_equal(cfg_read(0x08, 2, 4), 0xffffffffu);    /* crosses the dword */
    assert_int_equal(cfg_read(0x08, 3, 2), 0xffffffffu);    /* crosses the dword */
    assert_int_equal(cfg_read(0x08, 0, 3), 0xffffffffu);    /* no 3-byte cycles */
    assert_int_equal(cfg_read(0x08, 0x100, 4), 0xffffffffu); /* past 256 bytes */
    assert_int_equal(cfg_read(0x08, 0xfffffffcu, 4), 0xffffffffu);
    cfg_write(0x08, 0xfffffffcu, 0, 4);
    /* a second device posing as host bridge is ignored */
    assert_int_equal(pci->config_read(&d->pub, 0, 0x08, 0, 4), 0xffffffffu);
    free_dev(d);
}

/* ---- BARs --------------------------------------------------------------------------------------- */

static uint64_t dev_mmio_read(struct modvm_dev *dev, void *user, uint64_t off, unsigned size)
{
    (void)dev;
    (void)user;
    assert_int_equal(size, 1); /* the device takes bytes only: the core splits */
    return 0x40u + off;
}
static uint64_t dev_mmio_last_write;
static void dev_mmio_write(struct modvm_dev *dev, void *user, uint64_t off, uint64_t value, unsigned size)
{
    (void)dev;
    (void)user;
    assert_int_equal(size, 1);
    dev_mmio_last_write = off << 8 | value;
}
static const struct modvm_mmio_ops dev_mmio_ops = {.version = MODVM_MMIO_OPS_VERSION,
                                                   .sizes = MODVM_IO_SIZE_1,
                                                   .read = dev_mmio_read,
                                                   .write = dev_mmio_write};
static const struct modvm_pio_ops dev_pio_ops = {.version = MODVM_PIO_OPS_VERSION, .sizes = MODVM_IO_SIZE_ANY};

static void bar_sizing(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev");
    struct modvm_pci_func id = ident(0x10, 0);
    modvm_pci_handle h;
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h), 0);
    assert_int_equal(pci->bar_register(&d->pub, h, 0, MODVM_PCI_BAR_IO, 256, &dev_pio_ops, NULL, NULL), 0);
    assert_int_equal(pci->bar_register(&d->pub, h, 1, MODVM_PCI_BAR_MEM32, 4096, NULL, &dev_mmio_ops, NULL), 0);
    assert_int_equal(pci->bar_register(&d->pub, h, 2, MODVM_PCI_BAR_MEM64 | MODVM_PCI_BAR_PREFETCH, 1u << 20, NULL,
                                       &dev_mmio_ops, NULL), 0);
    assert_int_equal(pci->bar_register(&d->pub, h, 4, MODVM_PCI_BAR_MEM64, 1ull << 33, NULL, &dev_mmio_ops, NULL),
                     0);
    /* refusals */
    assert_int_equal(pci->bar_register(&d->pub, h, 3, MODVM_PCI_BAR_MEM32, 4096, NULL, &dev_mmio_ops, NULL),
                     -EINVAL); /* upper half of BAR2 */
    assert_int_equal(pci->bar_register(&d->pub, h, 6, MODVM_PCI_BAR_MEM32, 4096, NULL, &dev_mmio_ops, NULL),
                     -EINVAL);
    struct modvm_pci_func id2 = ident(0x18, 0);
    modvm_pci_handle h2;
    assert_int_equal(pci->func_register(&d->pub, &id2, NULL, &h2), 0);
    assert_int_equal(pci->bar_register(&d->pub, h2, 5, MODVM_PCI_BAR_MEM64, 4096, NULL, &dev_mmio_ops, NULL),
                     -EINVAL); /* no BAR6 for the upper half */
    assert_int_equal(pci->bar_register(&d->pub, h2, 0, MODVM_PCI_BAR_IO, 512, &dev_pio_ops, NULL, NULL), -EINVAL);
    assert_int_equal(pci->bar_register(&d->pub, h2, 0, MODVM_PCI_BAR_IO, 2, &dev_pio_ops, NULL, NULL), -EINVAL);
    assert_int_equal(pci->bar_register(&d->pub, h2, 0, MODVM_PCI_BAR_MEM32, 4095, NULL, &dev_mmio_ops, NULL),
                     -EINVAL);
    assert_int_equal(pci->bar_register(&d->pub, h2, 0, MODVM_PCI_BAR_IO | MODVM_PCI_BAR_PREFETCH, 16, &dev_pio_ops,
                                       NULL, NULL), -EINVAL);
    assert_int_equal(pci->bar_register(&d->pub, h2, 0, MODVM_PCI_BAR_IO | MODVM_PCI_BAR_MEM32, 16, &dev_pio_ops,
                                       &dev_mmio_ops, NULL), -EINVAL);
    assert_int_equal(pci->bar_register(&d->pub, h2, 0, MODVM_PCI_BAR_MEM32, 16, NULL, NULL, NULL), -EINVAL);
    /* power-on values: the type bits */
    assert_int_equal(cfg_read(0x10, 0x10, 4), 0x1u);
    assert_int_equal(cfg_read(0x10, 0x14, 4), 0x0u);
    assert_int_equal(cfg_read(0x10, 0x18, 4), 0xcu);
    assert_int_equal(cfg_read(0x10, 0x1c, 4), 0x0u);
    assert_int_equal(cfg_read(0x10, 0x20, 4), 0x4u);
    /* sizing */
    for (uint32_t off = 0x10; off <= 0x24; off += 4)
        cfg_write(0x10, off, 0xffffffffu, 4);
    assert_int_equal(cfg_read(0x10, 0x10, 4), 0xffffff01u);
    assert_int_equal(cfg_read(0x10, 0x14, 4), 0xfffff000u);
    assert_int_equal(cfg_read(0x10, 0x18, 4), 0xfff0000cu);
    assert_int_equal(cfg_read(0x10, 0x1c, 4), 0xffffffffu);
    assert_int_equal(cfg_read(0x10, 0x20, 4), 0x00000004u); /* 8 GiB: no address bits in the low half */
    assert_int_equal(cfg_read(0x10, 0x24, 4), 0xfffffffeu);
    /* byte writes go through the masks too */
    cfg_write(0x10, 0x14, 0x12, 1);
    assert_int_equal(cfg_read(0x10, 0x14, 4), 0xfffff000u);
    cfg_write(0x10, 0x15, 0x12, 1); /* bits 15:12 are address bits */
    assert_int_equal(cfg_read(0x10, 0x14, 4), 0xffff1000u);
    free_dev(d);
}

static void bar_mapping(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev");
    struct modvm_pci_func id = ident(0x10, 0);
    modvm_pci_handle h;
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h), 0);
    assert_int_equal(pci->bar_register(&d->pub, h, 0, MODVM_PCI_BAR_IO, 64, &dev_pio_ops, NULL, NULL), 0);
    assert_int_equal(pci->bar_register(&d->pub, h, 1, MODVM_PCI_BAR_MEM32, 4096, NULL, &dev_mmio_ops, NULL), 0);
    assert_int_equal(pci->bar_register(&d->pub, h, 2, MODVM_PCI_BAR_MEM64, 4096, NULL, &dev_mmio_ops, NULL), 0);
    /* sizing with decode on maps nothing and is no guest error */
    cfg_write(0x10, 4, MODVM_PCI_COMMAND_IO | MODVM_PCI_COMMAND_MEMORY, 2);
    for (uint32_t off = 0x10; off <= 0x1c; off += 4)
        cfg_write(0x10, off, 0xffffffffu, 4);
    assert_null(find_mapped(false, 0xffc0));
    assert_null(find_mapped(true, 0xfffff000u));
    assert_int_equal(guest_errors, 0);
    cfg_write(0x10, 4, 0, 2);
    /* program, then enable */
    cfg_write(0x10, 0x10, 0xc040, 4);
    cfg_write(0x10, 0x14, 0xe0000000u, 4);
    cfg_write(0x10, 0x18, 0xe0001000u, 4);
    cfg_write(0x10, 0x1c, 0x1, 4);
    assert_null(find_mapped(false, 0xc040));
    assert_null(find_mapped(true, 0xe0000000u));
    cfg_write(0x10, 4, MODVM_PCI_COMMAND_IO, 2);
    assert_non_null(find_mapped(false, 0xc040));
    assert_null(find_mapped(true, 0xe0000000u));
    cfg_write(0x10, 4, MODVM_PCI_COMMAND_IO | MODVM_PCI_COMMAND_MEMORY, 2);
    assert_non_null(find_mapped(true, 0xe0000000u));
    assert_non_null(find_mapped(true, 0x1e0001000ull)); /* the 64-bit BAR */
    /* device ops get offsets relative to the BAR, split into bytes */
    assert_int_equal(mmio_read(0xe0000010u, 4), 0x53525150u);
    mmio_write(0xe0000020u, 0xabcd, 2);
    assert_int_equal(dev_mmio_last_write, (0x21u << 8) | 0xab);
    /* move: the old range goes, the new one comes */
    cfg_write(0x10, 0x14, 0xe0100000u, 4);
    assert_null(find_mapped(true, 0xe0000000u));
    assert_non_null(find_mapped(true, 0xe0100000u));
    /* over RAM: left unmapped, a guest error */
    cfg_write(0x10, 0x14, 0x00100000u, 4);
    assert_null(find_mapped(true, 0x00100000u));
    assert_null(find_mapped(true, 0xe0100000u));
    assert_int_equal(guest_errors, 1);
    /* over the 64-bit BAR's range once it moves there: refused as well */
    cfg_write(0x10, 0x1c, 0, 4);
    cfg_write(0x10, 0x14, 0xe0001000u, 4);
    assert_int_equal(guest_errors, 2);
    /* the 64-bit BAR moves away: a new value of BAR1 maps again */
    cfg_write(0x10, 0x18, 0xe0002000u, 4);
    cfg_write(0x10, 0x14, 0xe0003000u, 4);
    assert_non_null(find_mapped(true, 0xe0003000u));
    /* I/O range leaving the port space, or at 0: unassigned, no guest error */
    cfg_write(0x10, 0x10, 0x0, 4);
    assert_null(find_mapped(false, 0xc040));
    cfg_write(0x10, 0x10, 0x10000u, 4);
    assert_null(find_mapped(false, 0));
    assert_int_equal(guest_errors, 2);
    /* decode off: everything goes */
    cfg_write(0x10, 0x10, 0xc040, 4);
    assert_non_null(find_mapped(false, 0xc040));
    cfg_write(0x10, 4, 0, 2);
    assert_null(find_mapped(false, 0xc040));
    assert_null(find_mapped(true, 0xe0003000u));
    assert_null(find_mapped(true, 0xe0002000u));
    free_dev(d);
}

/* ---- expansion ROM ------------------------------------------------------------------------------ */

#define ROM_GPA 0xfebc0000u
#define ROM_LEN 3000u /* padded to 4 KiB */

static uint8_t rom_image[ROM_LEN];

/* Fills the test image with a pattern. */
static void rom_fill(void)
{
    for (unsigned i = 0; i < ROM_LEN; i++)
        rom_image[i] = (uint8_t)(i * 7u + 1u);
}

/* The `size` bytes at `off` of the padded image, little-endian. */
static uint64_t rom_expect(unsigned off, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)(off + i < ROM_LEN ? rom_image[off + i] : 0u) << (8 * i);
    return v;
}

static void rom_sizing(void **state)
{
    (void)state;
    rom_fill();
    struct pdm_dev *d = new_dev("dev"), *other = new_dev("other");
    struct modvm_pci_func id = ident(0x10, 0);
    modvm_pci_handle h;
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h), 0);
    /* refusals: no image, empty, over 16 MiB, another device's handle */
    assert_int_equal(pci->rom_register(&d->pub, h, NULL, 100), -EINVAL);
    assert_int_equal(pci->rom_register(&d->pub, h, rom_image, 0), -EINVAL);
    assert_int_equal(pci->rom_register(&d->pub, h, rom_image, (16u << 20) + 1u), -EINVAL);
    assert_int_equal(pci->rom_register(&other->pub, h, rom_image, ROM_LEN), -EINVAL);
    free_dev(other);
    cfg_write(0x10, MODVM_PCI_ROM_ADDRESS, 0xffffffffu, 4);
    assert_int_equal(cfg_read(0x10, MODVM_PCI_ROM_ADDRESS, 4), 0); /* no ROM: reads 0 */
    assert_int_equal(pci->rom_register(&d->pub, h, rom_image, ROM_LEN), 0);
    assert_int_equal(pci->rom_register(&d->pub, h, rom_image, ROM_LEN), -EINVAL); /* once */
    assert_int_equal(cfg_read(0x10, MODVM_PCI_ROM_ADDRESS, 4), 0);
    /* sizing: address bits 31:12 for 4 KiB, and the enable bit; bits 10:1 read 0 */
    cfg_write(0x10, MODVM_PCI_ROM_ADDRESS, 0xffffffffu, 4);
    assert_int_equal(cfg_read(0x10, MODVM_PCI_ROM_ADDRESS, 4), 0xfffff001u);
    cfg_write(0x10, MODVM_PCI_ROM_ADDRESS, 0xfffff800u, 4); /* Linux keeps the enable bit as it was */
    assert_int_equal(cfg_read(0x10, MODVM_PCI_ROM_ADDRESS, 4), 0xfffff000u);
    /* sizing with decode and enable on maps nothing and is no guest error */
    cfg_write(0x10, 4, MODVM_PCI_COMMAND_MEMORY, 2);
    cfg_write(0x10, MODVM_PCI_ROM_ADDRESS, 0xffffffffu, 4);
    assert_null(find_mapped(true, 0xfffff000u));
    assert_int_equal(guest_errors, 0);
    /* the smallest ROM is 2 KiB, the largest image 16 MiB */
    struct modvm_pci_func id2 = ident(0x18, 0);
    modvm_pci_handle h2;
    assert_int_equal(pci->func_register(&d->pub, &id2, NULL, &h2), 0);
    assert_int_equal(pci->rom_register(&d->pub, h2, rom_image, 1), 0);
    cfg_write(0x18, MODVM_PCI_ROM_ADDRESS, 0xffffffffu, 4);
    assert_int_equal(cfg_read(0x18, MODVM_PCI_ROM_ADDRESS, 4), 0xfffff801u);
    struct modvm_pci_func id3 = ident(0x20, 0);
    modvm_pci_handle h3;
    assert_int_equal(pci->func_register(&d->pub, &id3, NULL, &h3), 0);
    uint8_t *big = calloc(1, 16u << 20);
    assert_non_null(big);
    assert_int_equal(pci->rom_register(&d->pub, h3, big, 16u << 20), 0);
    free(big);
    cfg_write(0x20, MODVM_PCI_ROM_ADDRESS, 0xffffffffu, 4);
    assert_int_equal(cfg_read(0x20, MODVM_PCI_ROM_ADDRESS, 4), 0xff000001u);
    free_dev(d);
}

static void rom_mapping(void **state)
{
    (void)state;
    rom_fill();
    struct pdm_dev *d = new_dev("dev");
    struct modvm_pci_func id = ident(0x10, 0);
    modvm_pci_handle h;
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h), 0);
    assert_int_equal(pci->bar_register(&d->pub, h, 0, MODVM_PCI_BAR_MEM32, 4096, NULL, &dev_mmio_ops, NULL), 0);
    assert_int_equal(pci->rom_register(&d->pub, h, rom_image, ROM_LEN), 0);
    /* an address without the enable bit, or the enable bit without memory decode: unmapped */
    cfg_write(0x10, MODVM_PCI_ROM_ADDRESS, ROM_GPA, 4);
    cfg_write(0x10, 4, MODVM_PCI_COMMAND_MEMORY, 2);
    assert_null(find_mapped(true, ROM_GPA));
    cfg_write(0x10, 4, 0, 2);
    cfg_write(0x10, MODVM_PCI_ROM_ADDRESS, ROM_GPA | 1u, 4);
    assert_null(find_mapped(true, ROM_GPA));
    cfg_write(0x10, 4, MODVM_PCI_COMMAND_MEMORY, 2);
    assert_non_null(find_mapped(true, ROM_GPA));
    /* the image, then zero padding, at every width */
    assert_int_equal(mmio_read(ROM_GPA, 4), rom_expect(0, 4));
    assert_int_equal(mmio_read(ROM_GPA + 8, 8), rom_expect(8, 8));
    assert_int_equal(mmio_read(ROM_GPA + 1001, 2), rom_expect(1001, 2));
    assert_int_equal(mmio_read(ROM_GPA + ROM_LEN - 1, 1), rom_image[ROM_LEN - 1]);
    assert_int_equal(mmio_read(ROM_GPA + ROM_LEN - 2, 4), rom_expect(ROM_LEN - 2, 4));
    assert_int_equal(mmio_read(ROM_GPA + 4088, 8), 0);
    /* read-only */
    mmio_write(ROM_GPA, 0x12345678u, 4);
    assert_int_equal(mmio_read(ROM_GPA, 4), rom_expect(0, 4));
    /* wrong-size and out-of-range accesses straight to the range's ops: all ones, guest errors */
    struct region *r = find_mapped(true, ROM_GPA);
    assert_int_equal(r->mmio_ops.read(r->dev, r->user, 0, 3), ~0ull);
    assert_int_equal(r->mmio_ops.read(r->dev, r->user, 4094, 4), ~0ull);
    assert_int_equal(r->mmio_ops.read(r->dev, r->user, 4096, 1), ~0ull);
    assert_int_equal(r->mmio_ops.read(r->dev, r->user, ~0ull - 1, 4), ~0ull);
    assert_int_equal(guest_errors, 4);
    /* memory decode or the enable bit off: unmapped; back on: mapped */
    cfg_write(0x10, 4, 0, 2);
    assert_null(find_mapped(true, ROM_GPA));
    cfg_write(0x10, 4, MODVM_PCI_COMMAND_MEMORY, 2);
    assert_non_null(find_mapped(true, ROM_GPA));
    cfg_write(0x10, MODVM_PCI_ROM_ADDRESS, 0x00, 1);
    assert_null(find_mapped(true, ROM_GPA));
    /* over RAM, or over BAR0: left unmapped, guest errors */
    cfg_write(0x10, MODVM_PCI_ROM_ADDRESS, 0x00100001u, 4);
    assert_null(find_mapped(true, 0x00100000u));
    assert_int_equal(guest_errors, 5);
    cfg_write(0x10, MODVM_PCI_BAR0, 0xe0000000u, 4);
    assert_non_null(find_mapped(true, 0xe0000000u));
    cfg_write(0x10, MODVM_PCI_ROM_ADDRESS, 0xe0000001u, 4);
    assert_int_equal(guest_errors, 6);
    assert_int_equal(mmio_read(0xe0000000u, 1), 0x40); /* still BAR0's */
    /* at 0, or reaching 4 GiB: unassigned, no guest error */
    cfg_write(0x10, MODVM_PCI_ROM_ADDRESS, 0x1u, 4);
    cfg_write(0x10, MODVM_PCI_ROM_ADDRESS, 0xfffff001u, 4);
    assert_int_equal(guest_errors, 6);
    cfg_write(0x10, MODVM_PCI_ROM_ADDRESS, ROM_GPA | 1u, 4);
    assert_non_null(find_mapped(true, ROM_GPA));
    /* reset: unassigned and unmapped */
    pdm_pci_dev_reset(d);
    assert_int_equal(cfg_read(0x10, MODVM_PCI_ROM_ADDRESS, 4), 0);
    assert_null(find_mapped(true, ROM_GPA));
    free_dev(d);
}

/* ---- capabilities, config_init, device callbacks -------------------------------------------------- */

static unsigned cb_writes, cb_reads;
static uint32_t cb_off, cb_value;
static struct pdm_dev *cb_expect_locked;

static void cb_config_write(struct modvm_dev *dev, void *user, uint32_t offset, uint32_t value, unsigned size)
{
    (void)user;
    (void)size;
    cb_writes++;
    cb_off = offset;
    cb_value = value;
    if (cb_expect_locked) {
        assert_int_equal(nentered, 1);
        assert_ptr_equal(entered[0], cb_expect_locked);
    }
    /* the core stored the write before calling */
    (void)dev;
}

static uint32_t cb_config_read(struct modvm_dev *dev, void *user, uint32_t offset, unsigned size, uint32_t stored)
{
    (void)dev;
    (void)user;
    (void)size;
    cb_reads++;
    return offset == 0x50 ? 0xdeadbeefu : offset == 0x51 ? 0xabcdefu : stored;
}

static void caps_and_device_registers(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev");
    struct modvm_pci_func id = ident(0x10, 0);
    id.config_write = cb_config_write;
    id.config_read = cb_config_read;
    modvm_pci_handle h;
    cb_writes = cb_reads = 0;
    cb_expect_locked = d;
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h), 0);
    /* device registers first: capabilities must go around them */
    assert_int_equal(pci->config_init(&d->pub, h, 0x40, 4, 0x11223344u, 0x0000ffffu), 0);
    uint8_t c1, c2;
    assert_int_equal(pci->cap_add(&d->pub, h, 0x09, 6, &c1), 0);
    assert_int_equal(c1, 0x44);
    assert_int_equal(pci->cap_add(&d->pub, h, 0x10, 0x3c, &c2), 0);
    assert_int_equal(c2, 0x4c);
    assert_int_equal(cfg_read(0x10, 6, 2) & 0x10, 0x10); /* capability list */
    assert_int_equal(cfg_read(0x10, 0x34, 1), 0x44);
    assert_int_equal(cfg_read(0x10, 0x44, 2), 0x4c09);
    assert_int_equal(cfg_read(0x10, 0x4c, 2), 0x0010);
    /* capability headers and the type 0 header are the core's */
    assert_int_equal(pci->config_init(&d->pub, h, 0x44, 1, 0, 0), -EINVAL);
    assert_int_equal(pci->config_init(&d->pub, h, 0x3c, 1, 0, 0), -EINVAL);
    assert_int_equal(pci->config_init(&d->pub, h, 0x46, 4, 0xaabbccddu, 0xffffffffu), 0);
    assert_int_equal(pci->config_init(&d->pub, h, 0xfe, 4, 0, 0), -EINVAL); /* past the end */
    assert_int_equal(pci->config_get(&d->pub, h, 0x46, 4), 0xaabbccddu);
    /* guest writes: through the wmask, then the callback (with the device's lock, taken for the cycle) */
    cfg_write(0x10, 0x40, 0xffffffffu, 4);
    assert_int_equal(cfg_read(0x10, 0x40, 4), 0x1122ffffu);
    assert_int_equal(cb_writes, 1);
    assert_int_equal(cb_off, 0x40);
    assert_int_equal(cb_value, 0xffffffffu);
    cfg_write(0x10, 0x44, 0xffff, 2); /* the capability header stays */
    assert_int_equal(cfg_read(0x10, 0x44, 2), 0x4c09);
    cfg_write(0x10, 4, 0x2, 2); /* header writes reach the callback too */
    assert_int_equal(cb_off, 4);
    /* config_read overrides only above the header */
    unsigned reads = cb_reads;
    assert_int_equal(cfg_read(0x10, 0, 4), 0x10421af4u);
    assert_int_equal(cb_reads, reads);
    assert_int_equal(cfg_read(0x10, 0x50, 4), 0xdeadbeefu);
    assert_int_equal(cfg_read(0x10, 0x51, 1), 0xefu); /* masked to the access size */
    /* no room */
    assert_int_equal(pci->cap_add(&d->pub, h, 0x09, 0xc0, &c1), -ENOSPC);
    /* a function of the bridge itself: no second lock */
    struct modvm_pci_func bid = ident(0x00, 0);
    bid.config_write = cb_config_write;
    modvm_pci_handle bh;
    assert_int_equal(pci->func_register(&bridge->pub, &bid, NULL, &bh), 0);
    cb_expect_locked = NULL;
    unsigned enters = enter_calls;
    cfg_write(0x00, 0x3c, 5, 1);
    assert_int_equal(enter_calls, enters);
    assert_int_equal(nentered, 0);
    free_dev(d);
}

/* ---- the INTx router of the tests ---------------------------------------------------------------- */

static _Atomic uint32_t route_pirq = 0x0b0b0a0au;

/* A PIIX-like router: PIRQ[(slot + pin - 2) & 3], bit 7 = off. */
static int test_route(void *user, uint8_t devfn, uint8_t pin)
{
    (void)user;
    uint8_t reg = (uint8_t)(route_pirq >> (8 * (((devfn >> 3) + pin - 2u) & 3u)));
    return (reg & 0x80) ? -1 : (reg & 0x0f);
}

/* ---- MSI-X -------------------------------------------------------------------------------------- */

#define MSIX_BAR_GPA 0xfe000000u
#define MSIX_TABLE 0x800u
#define MSIX_PBA 0xc00u

/* A function with an 8 KiB memory BAR2 holding an 8-vector MSI-X table and PBA, mapped and
 * enabled; INTA with the device driving it high. */
static modvm_pci_handle msix_func(struct pdm_dev *d, uint8_t *cap)
{
    struct modvm_pci_func id = ident(0x10, 1);
    modvm_pci_handle h;
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h), 0);
    assert_int_equal(pci->bar_register(&d->pub, h, 2, MODVM_PCI_BAR_MEM32, 8192, NULL, &dev_mmio_ops, NULL), 0);
    assert_int_equal(pci->msix_init(&d->pub, h, 8, 3, MSIX_TABLE, MSIX_PBA), -EINVAL); /* no BAR3 */
    assert_int_equal(pci->msix_init(&d->pub, h, 8, 2, MSIX_TABLE + 4, MSIX_PBA), -EINVAL);
    assert_int_equal(pci->msix_init(&d->pub, h, 8, 2, MSIX_TABLE, MSIX_TABLE + 8), -EINVAL);
    assert_int_equal(pci->msix_init(&d->pub, h, 8, 2, 8192 - 64, MSIX_PBA), -EINVAL);
    assert_int_equal(pci->msix_init(&d->pub, h, 0, 2, MSIX_TABLE, MSIX_PBA), -EINVAL);
    assert_int_equal(pci->msix_init(&d->pub, h, 2049, 2, MSIX_TABLE, MSIX_PBA), -EINVAL);
    assert_int_equal(pci->msix_init(&d->pub, h, 8, 2, MSIX_TABLE, MSIX_PBA), 0);
    assert_int_equal(pci->msix_init(&d->pub, h, 8, 2, MSIX_TABLE, MSIX_PBA), -EINVAL);
    *cap = (uint8_t)cfg_read(0x10, 0x34, 1);
    assert_int_equal(cfg_read(0x10, *cap, 4), 0x00070011u); /* ID 11h, table size N-1 = 7 */
    assert_int_equal(cfg_read(0x10, *cap + 4, 4), MSIX_TABLE | 2u);
    assert_int_equal(cfg_read(0x10, *cap + 8, 4), MSIX_PBA | 2u);
    assert_int_equal(pci->config_init(&d->pub, h, *cap + 2, 2, 0, 0xffff), -EINVAL); /* the core's */
    cfg_write(0x10, 0x18, MSIX_BAR_GPA, 4);
    cfg_write(0x10, 4, MODVM_PCI_COMMAND_MEMORY | MODVM_PCI_COMMAND_MASTER, 2);
    return h;
}

/* Programs vector v's message. */
static void msix_program(unsigned v, uint32_t addr, uint32_t data)
{
    uint64_t e = MSIX_BAR_GPA + MSIX_TABLE + 16u * v;
    mmio_write(e, addr, 4);
    mmio_write(e + 4, 0, 4);
    mmio_write(e + 8, data, 4);
}

static void msix_masking_and_pending(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev");
    struct pdm_dev *router = new_dev("router");
    uint8_t cap;
    modvm_pci_handle h = msix_func(d, &cap);
    /* every vector starts masked with a zero message */
    for (unsigned v = 0; v < 8; v++) {
        assert_int_equal(mmio_read(MSIX_BAR_GPA + MSIX_TABLE + 16u * v, 8), 0);
        assert_int_equal(mmio_read(MSIX_BAR_GPA + MSIX_TABLE + 16u * v + 12, 4), 1);
    }
    /* the rest of the BAR is the device's */
    assert_int_equal(mmio_read(MSIX_BAR_GPA + 0x10, 2), 0x5150);
    assert_false(pci->msix_enabled(&d->pub, h));
    assert_int_equal(pci->msix_notify(&d->pub, h, 0), -ENOTCONN);
    assert_int_equal(pci->msix_notify(&d->pub, h, 8), -EINVAL);
    msix_program(3, 0xfee00000u, 0x4041);
    assert_int_equal(mmio_read(MSIX_BAR_GPA + MSIX_TABLE + 48 + 8, 4), 0x4041);
    mmio_write(MSIX_BAR_GPA + MSIX_TABLE + 48 + 12, 0xfffffffeu, 4); /* only bit 0 is writable */
    assert_int_equal(mmio_read(MSIX_BAR_GPA + MSIX_TABLE + 48 + 12, 4), 0);
    mmio_write(MSIX_BAR_GPA + MSIX_TABLE + 48 + 12, 1, 4);
    /* INTA of slot 2 is on PIRQB = GSI 10; the device drives it */
    assert_int_equal(pci->intx_set(&d->pub, h, 1), 0);
    assert_int_equal(gsi_level[10], 0); /* no router yet */
    route_pirq = 0x0b0b0a0au;
    assert_int_equal(pci->intx_router_set(&router->pub, test_route, NULL), 0);
    assert_int_equal(gsi_level[10], 1);
    /* enable MSI-X: INTx is off while it is on (PCI 3.0 §6.8.2) */
    cfg_write(0x10, cap + 2, 0x8000, 2);
    assert_int_equal(gsi_level[10], 0);
    assert_true(pci->msix_enabled(&d->pub, h));
    assert_int_equal(cfg_read(0x10, cap + 2, 2), 0x8007);
    /* masked vector: pending */
    assert_int_equal(pci->msix_notify(&d->pub, h, 3), 0);
    assert_int_equal(msi_count, 0);
    assert_int_equal(mmio_read(MSIX_BAR_GPA + MSIX_PBA, 8), 1u << 3);
    mmio_write(MSIX_BAR_GPA + MSIX_PBA, 0, 8); /* the PBA is read-only */
    assert_int_equal(mmio_read(MSIX_BAR_GPA + MSIX_PBA, 1), 1u << 3);
    /* unmask: delivered, pending clear */
    mmio_write(MSIX_BAR_GPA + MSIX_TABLE + 48 + 12, 0, 4);
    assert_int_equal(msi_count, 1);
    assert_int_equal(msi_addr, 0xfee00000u);
    assert_int_equal(msi_data, 0x4041);
    assert_int_equal(mmio_read(MSIX_BAR_GPA + MSIX_PBA, 8), 0);
    /* unmasked: sent at once */
    assert_int_equal(pci->msix_notify(&d->pub, h, 3), 0);
    assert_int_equal(msi_count, 2);
    /* function mask: pending until the mask goes */
    cfg_write(0x10, cap + 3, 0xc0, 1);
    assert_int_equal(pci->msix_notify(&d->pub, h, 3), 0);
    assert_int_equal(msi_count, 2);
    assert_int_equal(mmio_read(MSIX_BAR_GPA + MSIX_PBA, 1), 1u << 3);
    cfg_write(0x10, cap + 3, 0x80, 1);
    assert_int_equal(msi_count, 3);
    /* not a bus master: dropped */
    cfg_write(0x10, 4, MODVM_PCI_COMMAND_MEMORY, 2);
    assert_int_equal(pci->msix_notify(&d->pub, h, 3), 0);
    assert_int_equal(msi_count, 3);
    cfg_write(0x10, 4, MODVM_PCI_COMMAND_MEMORY | MODVM_PCI_COMMAND_MASTER, 2);
    /* an address outside the interrupt window: dropped, a guest error */
    unsigned errors = guest_errors;
    msix_program(5, 0x00001000u, 1);
    mmio_write(MSIX_BAR_GPA + MSIX_TABLE + 80 + 12, 0, 4);
    assert_int_equal(pci->msix_notify(&d->pub, h, 5), 0);
    assert_int_equal(msi_count, 3);
    assert_int_equal(guest_errors, errors + 1);
    /* accesses straddling the table's end: refused */
    assert_int_equal(mmio_read(MSIX_BAR_GPA + MSIX_TABLE + 8 * 16 - 4, 8), ~0ull);
    assert_int_equal(guest_errors, errors + 2);
    /* disabling MSI-X lets INTx through again */
    cfg_write(0x10, cap + 3, 0x00, 1);
    assert_false(pci->msix_enabled(&d->pub, h));
    assert_int_equal(gsi_level[10], 1);
    assert_int_equal(pci->msix_notify(&d->pub, h, 3), -ENOTCONN);
    free_dev(router);
    free_dev(d);
}

/* ---- plain MSI ---------------------------------------------------------------------------------- */

#define MSI_DEVFN 0x10u

/* Reads / writes the MSI capability at `cap` of the test function. */
static uint32_t msi_rd(uint8_t cap, uint32_t off, unsigned size)
{
    return cfg_read(MSI_DEVFN, cap + off, size);
}
static void msi_wr(uint8_t cap, uint32_t off, uint32_t value, unsigned size)
{
    cfg_write(MSI_DEVFN, cap + off, value, size);
}

/* The VM received `count` MSIs so far, the last with `addr` and `data`. */
static void expect_msi(unsigned count, uint64_t addr, uint32_t data)
{
    assert_int_equal(msi_count, count);
    assert_int_equal(msi_addr, addr);
    assert_int_equal(msi_data, data);
}

/* Installs the test router, which puts INTA of slot 2 on PIRQB = GSI 10, and drives that INTA high. */
static void intx_high_on_gsi10(struct pdm_dev *router, struct pdm_dev *d, modvm_pci_handle h)
{
    route_pirq = 0x0b0b0a0au;
    assert_int_equal(pci->intx_router_set(&router->pub, test_route, NULL), 0);
    assert_int_equal(pci->intx_set(&d->pub, h, 1), 0);
    assert_int_equal(gsi_level[10], 1);
}

/* A function (INTA) with an MSI capability of `nvectors` and `flags`, a bus master; its offset in *cap. */
static modvm_pci_handle msi_func(struct pdm_dev *d, unsigned nvectors, uint32_t flags, uint8_t *cap)
{
    struct modvm_pci_func id = ident(MSI_DEVFN, 1);
    modvm_pci_handle h;
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h), 0);
    assert_int_equal(pci->msi_init(&d->pub, h, nvectors, flags), 0);
    *cap = (uint8_t)cfg_read(MSI_DEVFN, 0x34, 1);
    cfg_write(MSI_DEVFN, 4, MODVM_PCI_COMMAND_MASTER, 2);
    return h;
}

static void msi_capability_layout(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev");
    struct modvm_pci_func id = ident(MSI_DEVFN, 1);
    modvm_pci_handle h;
    assert_int_equal(pci->func_register(&d->pub, &id, NULL, &h), 0);
    /* refusals */
    assert_int_equal(pci->msi_init(&d->pub, h, 0, 0), -EINVAL);
    assert_int_equal(pci->msi_init(&d->pub, h, 3, 0), -EINVAL);
    assert_int_equal(pci->msi_init(&d->pub, h, 64, 0), -EINVAL);
    assert_int_equal(pci->msi_init(&d->pub, h, 4, 0x4), -EINVAL);
    assert_int_equal(cfg_read(MSI_DEVFN, 6, 2) & 0x10, 0); /* nothing was added */
    /* 4 vectors, 64-bit, per-vector masking: 24 bytes */
    assert_int_equal(pci->msi_init(&d->pub, h, 4, MODVM_PCI_MSI_64BIT | MODVM_PCI_MSI_MASKABLE), 0);
    assert_int_equal(pci->msi_init(&d->pub, h, 4, 0), -EINVAL); /* once */
    uint8_t cap = (uint8_t)cfg_read(MSI_DEVFN, 0x34, 1);
    assert_int_equal(cap, 0x40);
    assert_int_equal(cfg_read(MSI_DEVFN, 6, 2) & 0x10, 0x10);
    /* ID 05h, next 0, control: MMC 2 (bits 3:1), 64-bit (7), maskable (8) */
    assert_int_equal(msi_rd(cap, 0, 4), 0x01840005u);
    for (uint32_t off = 4; off < 0x18; off += 4)
        assert_int_equal(msi_rd(cap, off, 4), 0);
    /* the capability is the core's */
    assert_int_equal(pci->config_init(&d->pub, h, cap + 2, 2, 0, 0xffff), -EINVAL);
    assert_int_equal(pci->config_init(&d->pub, h, cap + 0x10, 4, 0, 0), -EINVAL);
    /* write masks: enable and MME (held at MMC), address bits 31:2, the upper address, 16 data bits,
     * one mask bit per vector; pending bits read-only */
    msi_wr(cap, 0, 0xffffffffu, 4);
    assert_int_equal(msi_rd(cap, 0, 4), 0x01a50005u);
    msi_wr(cap, 2, 0x0041, 2); /* MME 4 > MMC 2: held at 2 */
    assert_int_equal(msi_rd(cap, 2, 2), 0x01a5);
    msi_wr(cap, 2, 0x0010, 2);
    assert_int_equal(msi_rd(cap, 2, 2), 0x0194);
    msi_wr(cap, 4, 0xffffffffu, 4);
    msi_wr(cap, 8, 0xffffffffu, 4);
    msi_wr(cap, 0xc, 0xffffffffu, 4);
    msi_wr(cap, 0x10, 0xffffffffu, 4);
    msi_wr(cap, 0x14, 0xffffffffu, 4);
    assert_int_equal(msi_rd(cap, 4, 4), 0xfffffffcu);
    assert_int_equal(msi_rd(cap, 8, 4), 0xffffffffu);
    assert_int_equal(msi_rd(cap, 0xc, 4), 0x0000ffffu);
    assert_int_equal(msi_rd(cap, 0x10, 4), 0xfu);
    assert_int_equal(msi_rd(cap, 0x14, 4), 0);
    /* the next capability goes after its 24 bytes */
    uint8_t next;
    assert_int_equal(pci->cap_add(&d->pub, h, 0x09, 4, &next), 0);
    assert_int_equal(next, cap + 0x18);
    assert_int_equal(msi_rd(cap, 1, 1), next);
    /* 1 vector, 32-bit, no masking: 12 bytes, data at +8 with 16 reserved bits after it */
    struct modvm_pci_func id2 = ident(0x18, 0);
    modvm_pci_handle h2;
    assert_int_equal(pci->func_register(&d->pub, &id2, NULL, &h2), 0);
    assert_int_equal(pci->msi_init(&d->pub, h2, 1, 0), 0);
    uint8_t cap2 = (uint8_t)cfg_read(0x18, 0x34, 1);
    assert_int_equal(cfg_read(0x18, cap2, 4), 0x00000005u);
    cfg_write(0x18, cap2, 0xffffffffu, 4);
    assert_int_equal(cfg_read(0x18, cap2, 4), 0x00010005u); /* MME held at 0 */
    cfg_write(0x18, cap2 + 8, 0xffffffffu, 4);
    assert_int_equal(cfg_read(0x18, cap2 + 8, 4), 0x0000ffffu);
    assert_int_equal(pci->cap_add(&d->pub, h2, 0x09, 4, &next), 0);
    assert_int_equal(next, cap2 + 0x0c);
    /* 32 vectors, masking: every mask bit writable */
    struct modvm_pci_func id3 = ident(0x20, 0);
    modvm_pci_handle h3;
    assert_int_equal(pci->func_register(&d->pub, &id3, NULL, &h3), 0);
    assert_int_equal(pci->msi_init(&d->pub, h3, 32, MODVM_PCI_MSI_MASKABLE), 0);
    uint8_t cap3 = (uint8_t)cfg_read(0x20, 0x34, 1);
    assert_int_equal(cfg_read(0x20, cap3 + 2, 2), 0x010a); /* MMC 5 */
    cfg_write(0x20, cap3 + 0xc, 0xffffffffu, 4);
    assert_int_equal(cfg_read(0x20, cap3 + 0xc, 4), 0xffffffffu);
    /* no room left for a second 20-byte MSI capability after filling the space */
    struct modvm_pci_func id4 = ident(0x28, 0);
    modvm_pci_handle h4;
    assert_int_equal(pci->func_register(&d->pub, &id4, NULL, &h4), 0);
    assert_int_equal(pci->cap_add(&d->pub, h4, 0x09, 0xb0, &next), 0);
    assert_int_equal(pci->msi_init(&d->pub, h4, 1, MODVM_PCI_MSI_MASKABLE), -ENOSPC);
    assert_int_equal(pci->msi_notify(&d->pub, h4, 0), -EINVAL); /* no MSI */
    free_dev(d);
}

static void msi_delivery(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev"), *router = new_dev("router");
    uint8_t cap;
    modvm_pci_handle h = msi_func(d, 8, MODVM_PCI_MSI_64BIT | MODVM_PCI_MSI_MASKABLE, &cap);
    /* off: nothing to send */
    assert_false(pci->msi_enabled(&d->pub, h));
    assert_int_equal(pci->msi_notify(&d->pub, h, 0), -ENOTCONN);
    assert_int_equal(pci->msi_notify(&d->pub, h, 8), -EINVAL);
    intx_high_on_gsi10(router, d, h);
    /* program and enable one vector: INTx goes low */
    msi_wr(cap, 4, 0xfee01000u, 4);
    msi_wr(cap, 0xc, 0x4066, 2);
    msi_wr(cap, 2, 0x0001, 2);
    assert_true(pci->msi_enabled(&d->pub, h));
    assert_int_equal(gsi_level[10], 0);
    assert_int_equal(pci->msi_notify(&d->pub, h, 0), 0);
    expect_msi(1, 0xfee01000u, 0x4066);
    /* one vector enabled: the function may change no data bit, every vector shares the message */
    assert_int_equal(pci->msi_notify(&d->pub, h, 7), 0);
    assert_int_equal(msi_data, 0x4066);
    /* two vectors: bit 0 of the data is the vector's */
    msi_wr(cap, 2, 0x0011, 2);
    assert_int_equal(pci->msi_notify(&d->pub, h, 1), 0);
    assert_int_equal(msi_data, 0x4067);
    assert_int_equal(pci->msi_notify(&d->pub, h, 0), 0);
    assert_int_equal(msi_data, 0x4066);
    assert_int_equal(pci->msi_notify(&d->pub, h, 3), 0); /* beyond the two: low bit names vector 1 */
    assert_int_equal(msi_data, 0x4067);
    /* eight vectors: bits 2:0 */
    msi_wr(cap, 0xc, 0x4060, 2);
    msi_wr(cap, 2, 0x0031, 2);
    assert_int_equal(pci->msi_notify(&d->pub, h, 5), 0);
    assert_int_equal(msi_data, 0x4065);
    assert_int_equal(msi_count, 6);
    /* an address outside the interrupt window (the upper dword included): dropped, a guest error */
    unsigned errors = guest_errors;
    msi_wr(cap, 8, 1, 4);
    assert_int_equal(pci->msi_notify(&d->pub, h, 0), 0);
    assert_int_equal(msi_count, 6);
    assert_int_equal(guest_errors, errors + 1);
    msi_wr(cap, 8, 0, 4);
    /* a masked vector is held pending (read-only), sent when unmasked */
    msi_wr(cap, 0x10, 0x04, 4);
    assert_int_equal(pci->msi_notify(&d->pub, h, 2), 0);
    assert_int_equal(msi_count, 6);
    assert_int_equal(msi_rd(cap, 0x14, 4), 0x04);
    msi_wr(cap, 0x14, 0, 4);
    assert_int_equal(msi_rd(cap, 0x14, 4), 0x04);
    msi_wr(cap, 0x10, 0, 4);
    assert_int_equal(msi_count, 7);
    assert_int_equal(msi_data, 0x4062);
    assert_int_equal(msi_rd(cap, 0x14, 4), 0);
    /* pending across a disable: kept, sent once MSI is on and the vector unmasked again */
    msi_wr(cap, 0x10, 0x02, 4);
    assert_int_equal(pci->msi_notify(&d->pub, h, 1), 0);
    msi_wr(cap, 2, 0x0030, 2);
    assert_int_equal(gsi_level[10], 1); /* MSI off: INTx is back */
    msi_wr(cap, 0x10, 0, 4);
    assert_int_equal(msi_count, 7);
    assert_int_equal(msi_rd(cap, 0x14, 4), 0x02);
    msi_wr(cap, 2, 0x0031, 2);
    assert_int_equal(gsi_level[10], 0);
    assert_int_equal(msi_count, 8);
    assert_int_equal(msi_data, 0x4061);
    /* not a bus master: dropped */
    cfg_write(MSI_DEVFN, 4, 0, 2);
    assert_int_equal(pci->msi_notify(&d->pub, h, 0), 0);
    assert_int_equal(msi_count, 8);
    cfg_write(MSI_DEVFN, 4, MODVM_PCI_COMMAND_MASTER, 2);
    assert_int_equal(pci->msi_notify(&d->pub, h, 0), 0);
    assert_int_equal(msi_count, 9);
    /* reset: MSI off, one vector, message and masks cleared; INTx low as the device's level is */
    msi_wr(cap, 0x10, 0x01, 4);
    assert_int_equal(pci->msi_notify(&d->pub, h, 0), 0);
    pdm_pci_dev_reset(d);
    assert_false(pci->msi_enabled(&d->pub, h));
    assert_int_equal(msi_rd(cap, 0, 4), 0x01860005u);
    for (uint32_t off = 4; off < 0x18; off += 4)
        assert_int_equal(msi_rd(cap, off, 4), 0);
    assert_int_equal(pci->msi_notify(&d->pub, h, 0), -ENOTCONN);
    assert_int_equal(gsi_level[10], 0);
    assert_int_equal(pci->intx_set(&d->pub, h, 1), 0);
    assert_int_equal(gsi_level[10], 1);
    free_dev(router);
    free_dev(d);
}

static void msi_without_masking(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev");
    uint8_t cap;
    modvm_pci_handle h = msi_func(d, 2, 0, &cap);
    msi_wr(cap, 4, 0xfee00000u, 4);
    msi_wr(cap, 8, 0x0031, 2);
    msi_wr(cap, 2, 0x0011, 2);
    assert_int_equal(pci->msi_notify(&d->pub, h, 1), 0);
    expect_msi(1, 0xfee00000u, 0x0031);
    assert_int_equal(pci->msi_notify(&d->pub, h, 0), 0);
    assert_int_equal(msi_data, 0x0030);
    assert_int_equal(pci->msi_notify(&d->pub, h, 2), -EINVAL);
    /* the bytes where a mask register would be are nobody's */
    cfg_write(MSI_DEVFN, cap + 0xc, 0xffffffffu, 4);
    assert_int_equal(cfg_read(MSI_DEVFN, cap + 0xc, 4), 0);
    free_dev(d);
}

static void msi_and_msix(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev"), *router = new_dev("router");
    uint8_t xcap;
    modvm_pci_handle h = msix_func(d, &xcap);
    assert_int_equal(pci->msi_init(&d->pub, h, 1, 0), 0);
    uint8_t cap = (uint8_t)cfg_read(MSI_DEVFN, xcap + 1, 1); /* chained after MSI-X */
    assert_int_equal(cfg_read(MSI_DEVFN, cap, 1), 0x05);
    intx_high_on_gsi10(router, d, h);
    msi_wr(cap, 4, 0xfee00000u, 4);
    msi_wr(cap, 8, 0x21, 2);
    msix_program(0, 0xfee00000u, 0x31);
    mmio_write(MSIX_BAR_GPA + MSIX_TABLE + 12, 0, 4);
    /* both enabled (undefined in the spec): MSI-X wins, MSI is silent */
    msi_wr(cap, 2, 0x0001, 2);
    cfg_write(MSI_DEVFN, xcap + 2, 0x8000, 2);
    assert_true(pci->msix_enabled(&d->pub, h));
    assert_false(pci->msi_enabled(&d->pub, h));
    assert_int_equal(pci->msi_notify(&d->pub, h, 0), -ENOTCONN);
    assert_int_equal(pci->msix_notify(&d->pub, h, 0), 0);
    assert_int_equal(msi_count, 1);
    assert_int_equal(msi_data, 0x31);
    assert_int_equal(gsi_level[10], 0);
    /* MSI-X off: MSI takes over, INTx stays low */
    cfg_write(MSI_DEVFN, xcap + 2, 0, 2);
    assert_true(pci->msi_enabled(&d->pub, h));
    assert_int_equal(gsi_level[10], 0);
    assert_int_equal(pci->msi_notify(&d->pub, h, 0), 0);
    assert_int_equal(msi_count, 2);
    assert_int_equal(msi_data, 0x21);
    /* MSI off as well: INTx is back */
    msi_wr(cap, 2, 0, 2);
    assert_int_equal(gsi_level[10], 1);
    free_dev(router);
    free_dev(d);
}

/* ---- INTx --------------------------------------------------------------------------------------- */

static void intx_routing(void **state)
{
    (void)state;
    struct pdm_dev *router = new_dev("router"), *a = new_dev("a"), *b = new_dev("b");
    struct modvm_pci_func ida = ident(0x10, 1), idb = ident(0x18, 4), idc = ident(0x20, 0);
    modvm_pci_handle ha, hb, hc;
    assert_int_equal(pci->func_register(&a->pub, &ida, NULL, &ha), 0); /* slot 2 INTA -> PIRQB -> 10 */
    assert_int_equal(pci->func_register(&b->pub, &idb, NULL, &hb), 0); /* slot 3 INTD -> PIRQB -> 10 */
    assert_int_equal(pci->func_register(&b->pub, &idc, NULL, &hc), 0);
    assert_int_equal(pci->intx_set(&b->pub, hc, 1), -EINVAL); /* no pin */
    assert_int_equal(pci->intx_set(&a->pub, ha, 2), -EINVAL); /* level only */
    route_pirq = 0x0b0b0a0au;
    assert_int_equal(pci->intx_router_set(&router->pub, test_route, NULL), 0);
    assert_int_equal(pci->intx_router_set(&a->pub, test_route, NULL), -EBUSY);
    assert_int_equal(pci->intx_set(&a->pub, ha, 1), 0);
    assert_int_equal(gsi_level[10], 1);
    assert_int_equal(cfg_read(0x10, 6, 2) & 0x08, 0x08); /* interrupt status */
    assert_int_equal(pci->intx_set(&b->pub, hb, 1), 0);
    assert_int_equal(gsi_rises[10], 1); /* shared: still one rising edge */
    assert_int_equal(pci->intx_set(&a->pub, ha, 0), 0);
    assert_int_equal(gsi_level[10], 1); /* b still holds it */
    assert_int_equal(cfg_read(0x10, 6, 2) & 0x08, 0);
    /* INTx disable: the line drops, the status bit stays */
    cfg_write(0x18, 4, MODVM_PCI_COMMAND_INTX_DISABLE, 2);
    assert_int_equal(gsi_level[10], 0);
    assert_int_equal(cfg_read(0x18, 6, 2) & 0x08, 0x08);
    cfg_write(0x18, 4, 0, 2);
    assert_int_equal(gsi_level[10], 1);
    /* re-routing: PIRQB -> IRQ 5 */
    route_pirq = 0x0b0b050au;
    pci->intx_routing_changed(&router->pub);
    assert_int_equal(gsi_level[10], 0);
    assert_int_equal(gsi_level[5], 1);
    /* PIRQB disabled: unconnected */
    route_pirq = 0x0b0b850au;
    pci->intx_routing_changed(&router->pub);
    assert_int_equal(gsi_level[5], 0);
    route_pirq = 0x0b0b0b0au;
    pci->intx_routing_changed(&router->pub);
    assert_int_equal(gsi_level[11], 1);
    /* reset of b lowers its line and clears its header */
    pdm_pci_dev_reset(b);
    assert_int_equal(gsi_level[11], 0);
    assert_int_equal(cfg_read(0x18, 6, 2) & 0x08, 0);
    assert_int_equal(pci->intx_set(&b->pub, hb, 1), 0);
    assert_int_equal(gsi_level[11], 1);
    /* the router goes: lines unconnected */
    free_dev(router);
    assert_int_equal(gsi_level[11], 0);
    assert_int_equal(pci->intx_set(&a->pub, ha, 1), 0);
    assert_int_equal(gsi_level[11], 0);
    /* a device going away lowers its line */
    router = new_dev("router");
    assert_int_equal(pci->intx_router_set(&router->pub, test_route, NULL), 0);
    assert_int_equal(gsi_level[11], 1);
    free_dev(a);
    free_dev(b);
    assert_int_equal(gsi_level[11], 0);
    free_dev(router);
}

/* ---- reset -------------------------------------------------------------------------------------- */

static void reset_header(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev");
    uint8_t cap;
    modvm_pci_handle h = msix_func(d, &cap);
    assert_int_equal(pci->config_init(&d->pub, h, 0x60, 1, 0x5a, 0xff), 0);
    cfg_write(0x10, 0x60, 0x33, 1);
    cfg_write(0x10, 0x3c, 0x0b, 1);
    cfg_write(0x10, cap + 2, 0x8000, 2);
    msix_program(0, 0xfee00000u, 1);
    assert_non_null(find_mapped(true, MSIX_BAR_GPA));
    pdm_pci_dev_reset(d);
    assert_null(find_mapped(true, MSIX_BAR_GPA));
    assert_int_equal(cfg_read(0x10, 4, 2), 0);
    assert_int_equal(cfg_read(0x10, 0x18, 4), 0);
    assert_int_equal(cfg_read(0x10, 0x3c, 1), 0);
    assert_int_equal(cfg_read(0x10, 6, 2), 0x10); /* the capability list bit stays */
    assert_int_equal(cfg_read(0x10, cap + 2, 2), 0x0007);
    assert_false(pci->msix_enabled(&d->pub, h));
    assert_int_equal(cfg_read(0x10, 0x60, 1), 0x33); /* device registers: the device's reset */
    cfg_write(0x10, 0x18, MSIX_BAR_GPA, 4);
    cfg_write(0x10, 4, MODVM_PCI_COMMAND_MEMORY, 2);
    assert_int_equal(mmio_read(MSIX_BAR_GPA + MSIX_TABLE + 12, 4), 1); /* masked again */
    assert_int_equal(mmio_read(MSIX_BAR_GPA + MSIX_TABLE, 4), 0);
    free_dev(d);
}

/* ---- hostile config cycles ---------------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* xorshift64* */
static uint64_t next_rand(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

static void random_cycles(void **state)
{
    (void)state;
    struct pdm_dev *d = new_dev("dev"), *router = new_dev("router");
    uint8_t cap;
    modvm_pci_handle h = msix_func(d, &cap);
    assert_int_equal(pci->msi_init(&d->pub, h, 4, MODVM_PCI_MSI_64BIT | MODVM_PCI_MSI_MASKABLE), 0);
    rom_fill();
    assert_int_equal(pci->rom_register(&d->pub, h, rom_image, ROM_LEN), 0);
    struct modvm_pci_func ide = ident(0x20, 2);
    ide.flags = MODVM_PCI_F_EXPRESS;
    modvm_pci_handle he;
    assert_int_equal(pci->func_register(&d->pub, &ide, NULL, &he), 0);
    assert_int_equal(pci->bar_register(&d->pub, he, 0, MODVM_PCI_BAR_IO, 32, &dev_pio_ops, NULL, NULL), 0);
    assert_int_equal(pci->intx_router_set(&router->pub, test_route, NULL), 0);
    static const unsigned sizes[] = {1, 2, 3, 4, 8, 0};
    for (unsigned i = 0; i < 200000; i++) {
        uint64_t r = next_rand();
        uint8_t devfn = (r & 1) ? 0x10 : (r & 2) ? 0x20 : (uint8_t)(r >> 8);
        uint32_t off = (r & 4) ? (uint32_t)(r >> 16) & 0xfff : (uint32_t)(r >> 16) & 0xff;
        if ((r & 0x38) == 0)
            off = (uint32_t)(r >> 20);
        unsigned size = sizes[(r >> 40) % 6];
        uint32_t value = (uint32_t)next_rand();
        if (r & 0x40) {
            cfg_write(devfn, off, value, size);
            if ((r & 0x780) == 0)
                pci->intx_set(&d->pub, h, (int)((r >> 11) & 1));
            if ((r & 0x7800) == 0)
                mmio_write(MSIX_BAR_GPA + ((r >> 24) & 0x1fff), value, sizes[(r >> 50) % 4]);
            if ((r & 0x78000) == 0)
                pci->msix_notify(&d->pub, h, (unsigned)(r >> 44) & 15u);
            if ((r & 0x780000) == 0)
                pci->msi_notify(&d->pub, h, (unsigned)(r >> 36) & 7u);
        } else {
            (void)cfg_read(devfn, off, size);
        }
    }
    /* the identity survived */
    assert_int_equal(cfg_read(0x10, 0, 4), 0x10421af4u);
    assert_int_equal(cfg_read(0x20, 0, 4), 0x10421af4u);
    assert_int_equal(cfg_read(0x10, cap, 1), 0x11);
    assert_int_equal(cfg_read(0x10, cfg_read(0x10, cap + 1, 1), 1), 0x05);
    assert_int_equal(nentered, 0);
    free_dev(router);
    free_dev(d);
    for (unsigned g = 0; g < MAX_GSI; g++)
        assert_int_equal(gsi_level[g], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(header_identity_and_masks, setup, teardown),
        cmocka_unit_test_setup_teardown(registration_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_cycles_read_all_ones, setup, teardown),
        cmocka_unit_test_setup_teardown(bar_sizing, setup, teardown),
        cmocka_unit_test_setup_teardown(bar_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(caps_and_device_registers, setup, teardown),
        cmocka_unit_test_setup_teardown(rom_sizing, setup, teardown),
        cmocka_unit_test_setup_teardown(rom_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(msix_masking_and_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(msi_capability_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(msi_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(msi_without_masking, setup, teardown),
        cmocka_unit_test_setup_teardown(msi_and_msix, setup, teardown),
        cmocka_unit_test_setup_teardown(intx_routing, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_header, setup, teardown),
        cmocka_unit_test_setup_teardown(random_cycles, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
