/* pdm/pci-bar.c — a PCI function's BARs and its expansion ROM BAR: their registers (type bits and
 * the size mask that sizing reads back), the mapping of each range through PDM/PGM whenever its
 * register or the command register's decode bits change, and the core's MMIO handler in front of
 * every memory BAR (the MSI-X table and PBA are the core's, the rest goes to the device's ops; the
 * ROM's "device ops" are pci-rom.c's). Spec: PCI Local Bus 3.0 §6.2.5 (BARs, §6.2.5.2 expansion
 * ROM BAR). Attacker model and locks: pci-bus.c. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/err.h"
#include "pci-internal.h"

/* BAR register low bits */
#define PCI_BAR_SPACE_IO 0x1u
#define PCI_BAR_MEM_TYPE_64 0x4u
#define PCI_BAR_MEM_PREFETCH 0x8u
#define PCI_BAR_IO_ADDR_MASK 0xfffffffcu
#define PCI_BAR_MEM_ADDR_MASK 0xfffffff0u
#define PCI_ROM_ENABLE 0x1u
#define PCI_ROM_ADDR_MASK 0xfffff800u

#define PCI_BAR_IO_MIN 4u
#define PCI_BAR_IO_MAX 256u /* PCI 3.0 §6.2.5.1: at most 256 bytes per I/O BAR */
#define PCI_BAR_MEM_MIN 16u
#define PCI_BAR_MEM32_MAX (1ull << 31)
#define PCI_BAR_MEM64_MAX (1ull << 40)
#define PCI_PORT_LIMIT 0x10000ull
#define PCI_MEM32_LIMIT (1ull << 32)
#define PCI_MMIO_LIMIT (1ull << 52) /* PGM's guest-physical limit */

/* The config offset of slot `slot`'s register. */
static uint32_t pci_bar_reg(unsigned slot)
{
    return slot == PCI_BAR_ROM ? PCI_ROM_ADDRESS : MODVM_PCI_BAR0 + 4u * slot;
}

/* "BAR2" or "ROM" for messages. */
static void pci_bar_name(const struct pci_bar *b, char *buf, size_t len)
{
    if (b->index == PCI_BAR_ROM)
        snprintf(buf, len, "ROM");
    else
        snprintf(buf, len, "BAR%u", b->index);
}

/* The base BAR `b` asks for now — its address with its decode bit on (and, for the ROM, its enable
 * bit) — or PCI_BAR_UNMAPPED when decoding is off or the address is unusable (function lock held). */
static uint64_t pci_bar_wanted(const struct pci_func *fn, const struct pci_bar *b)
{
    uint16_t cmd = pci_command(fn);
    uint32_t reg = pci_bar_reg(b->index);
    uint32_t lo = (uint32_t)le_get(fn->cfg + reg, 4);
    if (b->kind & MODVM_PCI_BAR_IO) {
        uint64_t base = lo & PCI_BAR_IO_ADDR_MASK;
        if (!(cmd & MODVM_PCI_COMMAND_IO) || base == 0 || base + b->size > PCI_PORT_LIMIT)
            return PCI_BAR_UNMAPPED;
        return base;
    }
    if (!(cmd & MODVM_PCI_COMMAND_MEMORY))
        return PCI_BAR_UNMAPPED;
    uint64_t base = lo & PCI_BAR_MEM_ADDR_MASK;
    if (b->index == PCI_BAR_ROM) {
        if (!(lo & PCI_ROM_ENABLE))
            return PCI_BAR_UNMAPPED;
        base = lo & PCI_ROM_ADDR_MASK;
    }
    if (b->kind & MODVM_PCI_BAR_MEM64) {
        base |= le_get(fn->cfg + reg + 4, 4) << 32;
        if (base == 0 || base >= PCI_MMIO_LIMIT || b->size > PCI_MMIO_LIMIT - base)
            return PCI_BAR_UNMAPPED;
        return base;
    }
    /* A range reaching the last byte below 4 GiB is where sizing leaves a BAR: unassigned. */
    if (base == 0 || base + b->size >= PCI_MEM32_LIMIT)
        return PCI_BAR_UNMAPPED;
    return base;
}

/* Moves BAR `b` to where it asks to be: unmaps the old range, maps the new one. A new range that
 * overlaps RAM or another device stays unmapped (a guest error; retried when the BAR or the decode
 * bits change again) (function lock held). */
static void pci_bar_update(struct pci_func *fn, struct pci_bar *b)
{
    uint64_t want = pci_bar_wanted(fn, b);
    if (want == b->want)
        return;
    struct modvm_dev *dev = &fn->dev->pub;
    bool io = (b->kind & MODVM_PCI_BAR_IO) != 0;
    if (b->mapped) {
        if (io)
            dev->hlp->pio_unmap(dev, b->pio);
        else
            dev->hlp->mmio_unmap(dev, b->mmio_region);
        b->mapped = false;
    }
    b->want = want;
    if (want == PCI_BAR_UNMAPPED)
        return;
    int rc = io ? dev->hlp->pio_map(dev, b->pio, (uint16_t)want) : dev->hlp->mmio_map(dev, b->mmio_region, want);
    if (rc == 0) {
        b->mapped = true;
        return;
    }
    char bdf[16], name[8];
    pci_bdf_name(fn, bdf, sizeof(bdf));
    pci_bar_name(b, name, sizeof(name));
    modvm_dev_guest_error(dev, "PCI %s %s: %s range 0x%llx-0x%llx overlaps RAM or another range; left unmapped",
                          bdf, name, io ? "port" : "memory", (unsigned long long)want,
                          (unsigned long long)(want + b->size - 1));
}

void pci_bars_update(struct pci_func *fn)
{
    for (unsigned i = 0; i < PCI_BAR_SLOTS; i++)
        if (fn->bars[i].kind)
            pci_bar_update(fn, &fn->bars[i]);
}

/* Clears the address bits of BAR0-5 and the ROM BAR (the read-only type bits stay), which unmaps them
 * all: the command register was cleared first. */
void pci_bars_reset(struct pci_func *fn)
{
    for (unsigned i = 0; i < PCI_BAR_SLOTS; i++) {
        uint32_t reg = pci_bar_reg(i);
        uint32_t v = (uint32_t)le_get(fn->cfg + reg, 4);
        uint32_t wmask = (uint32_t)le_get(fn->wmask + reg, 4);
        le_put(fn->cfg + reg, v & ~wmask, 4);
    }
    pci_bars_update(fn);
}

void pci_bars_destroy(struct pci_func *fn)
{
    struct modvm_dev *dev = &fn->dev->pub;
    for (unsigned i = 0; i < PCI_BAR_SLOTS; i++) {
        if (fn->bars[i].pio)
            dev->hlp->pio_destroy(dev, fn->bars[i].pio);
        if (fn->bars[i].mmio_region)
            dev->hlp->mmio_destroy(dev, fn->bars[i].mmio_region);
    }
}

/* ---- memory BAR dispatch: the core's ops in front of the device's ------------------------------- */

/* Forwards a read to the device's ops, honouring the access sizes it declared exactly as PGM does
 * for its own ranges (split into bytes when it takes bytes, else all ones and a guest error). */
static uint64_t pci_bar_device_read(struct modvm_dev *dev, struct pci_bar *b, uint64_t off, unsigned size)
{
    if (!b->mmio.read)
        return ~0ull;
    if (b->mmio.sizes & size)
        return b->mmio.read(dev, b->user, off, size);
    if (b->mmio.sizes & MODVM_IO_SIZE_1) {
        uint64_t v = 0;
        for (unsigned i = 0; i < size; i++)
            v |= (b->mmio.read(dev, b->user, off + i, 1) & 0xffu) << (8 * i);
        return v;
    }
    char name[8];
    pci_bar_name(b, name, sizeof(name));
    modvm_dev_guest_error(dev, "%u-byte read at %s+0x%llx: the device does not take that size", size, name,
                          (unsigned long long)off);
    return ~0ull;
}

/* Forwards a write to the device's ops (sizes as pci_bar_device_read). */
static void pci_bar_device_write(struct modvm_dev *dev, struct pci_bar *b, uint64_t off, uint64_t value,
                                 unsigned size)
{
    if (!b->mmio.write)
        return;
    if (b->mmio.sizes & size) {
        b->mmio.write(dev, b->user, off, value, size);
        return;
    }
    if (b->mmio.sizes & MODVM_IO_SIZE_1) {
        for (unsigned i = 0; i < size; i++)
            b->mmio.write(dev, b->user, off + i, (value >> (8 * i)) & 0xffu, 1);
        return;
    }
    char name[8];
    pci_bar_name(b, name, sizeof(name));
    modvm_dev_guest_error(dev, "%u-byte write at %s+0x%llx: the device does not take that size", size, name,
                          (unsigned long long)off);
}

/* MMIO read handler of every memory BAR (modvm_mmio_ops.read). vCPU thread, the device's lock held
 * by PDM. */
static uint64_t pci_bar_mmio_read(struct modvm_dev *dev, void *user, uint64_t off, unsigned size)
{
    struct pci_bar *b = user;
    uint64_t v;
    if (pci_msix_mmio(dev, b, off, size, false, &v))
        return v;
    return pci_bar_device_read(dev, b, off, size);
}

/* MMIO write handler of every memory BAR (modvm_mmio_ops.write). */
static void pci_bar_mmio_write(struct modvm_dev *dev, void *user, uint64_t off, uint64_t value, unsigned size)
{
    struct pci_bar *b = user;
    if (!pci_msix_mmio(dev, b, off, size, true, &value))
        pci_bar_device_write(dev, b, off, value, size);
}

static const struct modvm_mmio_ops pci_bar_mmio_ops = {
    .version = MODVM_MMIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_ANY,
    .read = pci_bar_mmio_read,
    .write = pci_bar_mmio_write,
};

/* ---- registration ------------------------------------------------------------------------------- */

/* Checks a BAR registration; NULL or why it is wrong. */
static const char *pci_bar_check(const struct pci_func *fn, unsigned slot, uint32_t kind, uint64_t size,
                                 const struct modvm_pio_ops *pio, const struct modvm_mmio_ops *mmio)
{
    uint32_t space = kind & (MODVM_PCI_BAR_IO | MODVM_PCI_BAR_MEM32 | MODVM_PCI_BAR_MEM64);
    bool io = space == MODVM_PCI_BAR_IO, mem64 = space == MODVM_PCI_BAR_MEM64;
    if (mem64 && slot + 1 >= PCI_BAR_COUNT) /* the callers keep `slot` to BAR0-5 or the ROM */
        return "BAR number out of range";
    if (space != MODVM_PCI_BAR_IO && space != MODVM_PCI_BAR_MEM32 && space != MODVM_PCI_BAR_MEM64)
        return "kind must be exactly one of IO, MEM32, MEM64";
    if ((kind & ~(space | MODVM_PCI_BAR_PREFETCH)) != 0 || (io && (kind & MODVM_PCI_BAR_PREFETCH)))
        return "kind has unknown bits (or PREFETCH on an I/O BAR)";
    if (fn->bars[slot].kind || fn->bars[slot].upper_half ||
        (mem64 && (fn->bars[slot + 1].kind || fn->bars[slot + 1].upper_half)))
        return "BAR already registered";
    if (size == 0 || (size & (size - 1)) != 0)
        return "size is not a power of two";
    if (io && (size < PCI_BAR_IO_MIN || size > PCI_BAR_IO_MAX))
        return "I/O BAR size must be 4..256 bytes";
    if (!io && (size < PCI_BAR_MEM_MIN || size > (mem64 ? PCI_BAR_MEM64_MAX : PCI_BAR_MEM32_MAX)))
        return "memory BAR size must be 16 bytes..2 GiB (64-bit: ..1 TiB)";
    if (io ? !pio : !mmio)
        return "no handlers for the BAR's space";
    if (!io && !MODVM_VERSION_ARE_COMPATIBLE(MODVM_MMIO_OPS_VERSION, mmio->version))
        return "MMIO ops have a bad version";
    if (!io && !(mmio->sizes & MODVM_IO_SIZE_ANY))
        return "MMIO ops allow no access size";
    return NULL;
}

/* The register value and write mask of slot `b` (kind and size set). */
static void pci_bar_init_reg(struct pci_func *fn, struct pci_bar *b)
{
    uint32_t reg = pci_bar_reg(b->index);
    uint64_t addr_mask = ~(b->size - 1);
    if (b->index == PCI_BAR_ROM) {
        pci_cfg_set(fn, reg, 4, 0, ((uint32_t)addr_mask & PCI_ROM_ADDR_MASK) | PCI_ROM_ENABLE, 0);
    } else if (b->kind & MODVM_PCI_BAR_IO) {
        pci_cfg_set(fn, reg, 4, PCI_BAR_SPACE_IO, (uint32_t)addr_mask & PCI_BAR_IO_ADDR_MASK, 0);
    } else {
        uint32_t type = ((b->kind & MODVM_PCI_BAR_MEM64) ? PCI_BAR_MEM_TYPE_64 : 0u) |
                        ((b->kind & MODVM_PCI_BAR_PREFETCH) ? PCI_BAR_MEM_PREFETCH : 0u);
        pci_cfg_set(fn, reg, 4, type, (uint32_t)addr_mask & PCI_BAR_MEM_ADDR_MASK, 0);
        if (b->kind & MODVM_PCI_BAR_MEM64) {
            pci_cfg_set(fn, reg + 4, 4, 0, (uint32_t)(addr_mask >> 32), 0);
            fn->bars[b->index + 1].upper_half = true;
        }
    }
}

int pci_bar_setup(struct pci_func *fn, unsigned slot, uint32_t kind, uint64_t size, const struct modvm_pio_ops *pio,
                  const struct modvm_mmio_ops *mmio, void *user)
{
    const char *why = pci_bar_check(fn, slot, kind, size, pio, mmio);
    struct pci_bar *b = &fn->bars[slot];
    char desc[48], bdf[16], name[8];
    pci_bdf_name(fn, bdf, sizeof(bdf));
    pci_bar_name(b, name, sizeof(name));
    if (why)
        return modvm_err_set(-EINVAL, "%s: PCI %s: %s", fn->dev->name, name, why);
    struct modvm_dev *dev = &fn->dev->pub;
    bool io = (kind & MODVM_PCI_BAR_IO) != 0;
    snprintf(desc, sizeof(desc), "PCI %s %s", bdf, name);
    int rc = io ? dev->hlp->pio_create(dev, (uint32_t)size, pio, user, desc, &b->pio)
                : dev->hlp->mmio_create(dev, size, &pci_bar_mmio_ops, b, desc, &b->mmio_region);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&fn->lock);
    b->kind = kind;
    b->size = size;
    b->user = user;
    if (!io)
        b->mmio = *mmio;
    pci_bar_init_reg(fn, b);
    pci_bar_update(fn, b);
    pthread_mutex_unlock(&fn->lock);
    return 0;
}

/* modvm_pci_hlp.bar_register. */
int pci_hlp_bar_register(struct modvm_dev *dev, modvm_pci_handle h, unsigned bar, uint32_t kind, uint64_t size,
                         const struct modvm_pio_ops *pio, const struct modvm_mmio_ops *mmio, void *user)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn)
        return -EINVAL;
    if (bar >= PCI_BAR_COUNT)
        return modvm_err_set(-EINVAL, "%s: PCI BAR%u: BAR number out of range", fn->dev->name, bar);
    return pci_bar_setup(fn, bar, kind, size, pio, mmio, user);
}
