/* pdm/pci.c — the PCI bus: bus 0 of each VM, its functions' configuration space, BARs, capability
 * lists, MSI-X and INTx routing (struct modvm_pci_hlp, <modvm/pci.h>).
 *
 * Specs: PCI Local Bus Specification 3.0 (ch. 6 "Configuration Space": header type 0, command and
 * status registers, BARs and their sizing, capability lists, interrupt line/pin; §6.8.2 MSI-X: the
 * capability, table and PBA), PCI Express Base 4.0 §7.2 (the 4 KiB configuration space of express
 * functions). Interrupt routing follows the PC convention (PIRQ routing in the ISA bridge, the
 * router a plugin installs).
 *
 * What the core owns: every byte of the 64-byte type 0 header (identity registers from
 * struct modvm_pci_func; command: I/O, memory, bus master and INTx-disable writable; status: the
 * capabilities-list bit, the interrupt status bit 3 and the write-1-to-clear error bits; BAR0-5 with
 * sizing and the mapping of each BAR through PGM whenever its value or the command register's
 * decode bits change; the expansion ROM BAR, which reads 0: no ROMs yet; the cache line size and the
 * interrupt line, plain read/write; the interrupt pin), the chaining of capabilities (cap_add), and
 * the MSI-X capability, table and PBA. Everything else (device-specific registers, the bodies of the
 * device's capabilities) holds what the device put there with config_init and the bits config_init
 * made writable.
 *
 * Deviations: plain MSI (capability 05h) is not provided (MSI-X only); there are no PCI-PCI bridges,
 * so buses other than 0 are empty; a BAR that would overlap RAM or another range stays unmapped
 * (PGM has no overlap priorities) and counts as a guest error; a 32-bit memory BAR whose range
 * would reach 4 GiB, or one at address 0, is treated as unassigned (that is where sizing leaves
 * it); MSI-X messages whose address is not in the 0xFEExxxxx interrupt window are dropped and
 * counted rather than written to memory.
 *
 * Attacker model: every config cycle, BAR value and MSI-X table write comes from the guest. Offsets
 * and sizes are checked against the function's config size before any array is touched; BAR bases
 * are checked against the address space before PGM sees them; vector numbers against the vector
 * count. Plugins are trusted to follow pci.h, but their handles and arguments are checked all the
 * same (a wrong handle is refused, never dereferenced as something else).
 *
 * Locks (the order, outermost first; never taken in the other direction):
 *   host bridge's device lock → target function's device lock → function lock → bus lock.
 * Config cycles arrive on a vCPU thread inside the host bridge's port handler, with the bridge's
 * lock held; the core then takes the lock of the device owning the target function (unless it is
 * the bridge itself) and calls that device's config callbacks under it. Only one device per VM may
 * act as host bridge (the first to forward a cycle), so no two device locks are ever taken in the
 * other order. The function lock (a core lock) guards the function's config bytes and MSI-X state,
 * so self-locking devices are safe too; the bus lock guards the slot table and the INTx levels.
 * Neither core lock is held while a device lock is taken or a device callback runs, with one
 * exception documented in pci.h: the INTx router, which only reads its routing registers
 * atomically. Functions are created and destroyed only by construct/destruct (vCPUs stopped), so
 * a function pointer looked up under the bus lock stays valid while a cycle uses it. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/le.h"
#include "../core/vm.h"
#include "internal.h"
#include "pci.h"

/* ---- constants ---------------------------------------------------------------------------------- */

#define PCI_DEVFN_COUNT 256u
#define PCI_FUNCS_PER_SLOT 8u
#define PCI_AUTO_FIRST_SLOT 2u /* slots 0 and 1: host bridge and ISA bridge, as on a PC */
#define PCI_CFG_SIZE 256u
#define PCI_CFG_SIZE_EXPRESS 4096u
#define PCI_HEADER_SIZE 0x40u
#define PCI_CAP_END 0x100u

/* type 0 header offsets not in <modvm/pci.h> */
#define PCI_DEVICE_ID 0x02u
#define PCI_REVISION_ID 0x08u
#define PCI_PROG_IF 0x09u
#define PCI_SUBCLASS 0x0au
#define PCI_CLASS_CODE 0x0bu
#define PCI_CACHE_LINE_SIZE 0x0cu
#define PCI_HEADER_TYPE 0x0eu
#define PCI_BAR_END 0x28u /* one past BAR5 */
#define PCI_SUBSYSTEM_VENDOR_ID 0x2cu
#define PCI_SUBSYSTEM_ID 0x2eu
#define PCI_CAPABILITY_LIST 0x34u
#define PCI_INTERRUPT_PIN 0x3du

#define PCI_HEADER_TYPE_MULTIFUNCTION 0x80u
#define PCI_COMMAND_WRITABLE                                                                             \
    (MODVM_PCI_COMMAND_IO | MODVM_PCI_COMMAND_MEMORY | MODVM_PCI_COMMAND_MASTER |                        \
     MODVM_PCI_COMMAND_INTX_DISABLE)
#define PCI_STATUS_INTERRUPT 0x0008u
#define PCI_STATUS_CAP_LIST 0x0010u
/* master data parity error (8), signaled/received target abort (11, 12), received master abort
 * (13), signaled system error (14), detected parity error (15) */
#define PCI_STATUS_W1C 0xf900u

/* BAR register low bits */
#define PCI_BAR_SPACE_IO 0x1u
#define PCI_BAR_MEM_TYPE_64 0x4u
#define PCI_BAR_MEM_PREFETCH 0x8u
#define PCI_BAR_IO_ADDR_MASK 0xfffffffcu
#define PCI_BAR_MEM_ADDR_MASK 0xfffffff0u

#define PCI_BAR_COUNT 6u
#define PCI_BAR_IO_MIN 4u
#define PCI_BAR_IO_MAX 256u /* PCI 3.0 §6.2.5.1: at most 256 bytes per I/O BAR */
#define PCI_BAR_MEM_MIN 16u
#define PCI_BAR_MEM32_MAX (1ull << 31)
#define PCI_BAR_MEM64_MAX (1ull << 40)
#define PCI_PORT_LIMIT 0x10000ull
#define PCI_MEM32_LIMIT (1ull << 32)
#define PCI_MMIO_LIMIT (1ull << 52) /* PGM's guest-physical limit */
#define PCI_BAR_UNMAPPED UINT64_MAX

#define PCI_GSI_LIMIT 256

/* MSI-X (PCI 3.0 §6.8.2) */
#define PCI_CAP_ID_MSIX 0x11u
#define PCI_MSIX_CAP_SIZE 12u
#define PCI_MSIX_CONTROL 2u /* offsets inside the capability */
#define PCI_MSIX_TABLE 4u
#define PCI_MSIX_PBA 8u
#define PCI_MSIX_CONTROL_ENABLE 0x8000u
#define PCI_MSIX_CONTROL_MASKALL 0x4000u
#define PCI_MSIX_MAX_VECTORS 2048u
#define PCI_MSIX_ENTRY_SIZE 16u
#define PCI_MSIX_ENTRY_DATA 8u
#define PCI_MSIX_ENTRY_CONTROL 12u
#define PCI_MSIX_VECTOR_MASKED 0x1u
#define PCI_MSI_ADDR_WINDOW_MASK 0xfff00000ull
#define PCI_MSI_ADDR_WINDOW 0xfee00000ull

/* Who owns a config byte (struct pci_func.kind). */
enum pci_byte_kind {
    PCI_BYTE_FREE = 0,  /* nothing: reads 0, writes ignored */
    PCI_BYTE_HEADER,    /* the type 0 header: the core's */
    PCI_BYTE_DEVICE,    /* a device-specific register (config_init) */
    PCI_BYTE_CAP_HDR,   /* capability ID / next pointer: the core's */
    PCI_BYTE_CAP_BODY,  /* the body of a device's capability (config_init) */
    PCI_BYTE_CORE,      /* the body of a capability the core serves (MSI-X) */
};

/* ---- state -------------------------------------------------------------------------------------- */

struct pci_bus;
struct pci_func;

/* A BAR a device registered. A 64-bit BAR is described by its lower slot; the upper slot is marked
 * `upper_half`. */
struct pci_bar {
    struct pci_func *fn;
    unsigned index;
    uint32_t kind;   /* MODVM_PCI_BAR_*, 0 when the slot is unused */
    bool upper_half; /* the high dword of the 64-bit BAR below */
    uint64_t size;
    struct modvm_mmio_ops mmio; /* the device's ops (memory BARs: the core's wrapper calls them) */
    void *user;
    modvm_pio_handle pio;
    modvm_mmio_handle mmio_region;
    uint64_t want;   /* the address the BAR last asked for, PCI_BAR_UNMAPPED for none */
    bool mapped;     /* the range is mapped at `want` */
};

/* MSI-X state (function lock). */
struct pci_msix {
    unsigned nvectors;
    unsigned bar;
    uint32_t table_offset, pba_offset;
    uint32_t table_size, pba_size;
    uint8_t cap; /* config offset of the capability */
    bool enabled, masked;
    uint8_t *table; /* nvectors * 16 bytes, little-endian as the guest sees it */
    uint8_t *pba;   /* pba_size bytes: bit v = vector v pending */
};

/* A PCI function (the opaque modvm_pci_handle). */
struct pci_func {
    struct pci_bus *bus;
    struct pdm_dev *dev;
    void *user;
    modvm_pci_config_read_fn config_read;
    modvm_pci_config_write_fn config_write;
    uint8_t devfn;
    uint8_t pin;
    uint8_t cap_last; /* offset of the last capability in the list, 0 for none */
    pthread_mutex_t lock;
    uint32_t cfg_size;
    uint8_t *cfg, *wmask, *w1c, *kind;
    struct pci_bar bars[PCI_BAR_COUNT];
    struct pci_msix *msix;
    bool intx_level; /* what the device drives (function lock) */
    /* bus lock: */
    bool intx_on;    /* the function asserts its line (level, not disabled, no MSI-X) */
    int intx_gsi;    /* the GSI it is counted on now, -1 for none */
};

/* Bus 0 of one VM. */
struct pci_bus {
    struct vm *vm;
    unsigned refs; /* functions + router (pci_buses_lock) */
    pthread_mutex_t lock;
    struct pci_func *slots[PCI_DEVFN_COUNT];
    struct pdm_dev *bridge; /* the device forwarding config cycles */
    bool bridge_warned;
    struct pdm_dev *router_dev;
    modvm_pci_intx_route_fn router;
    void *router_user;
    bool router_warned;
    uint16_t gsi_count[PCI_GSI_LIMIT]; /* asserted functions per GSI */
    struct pci_bus *next;
};

/* The buses of all VMs, looked up by VM. */
static pthread_mutex_t pci_buses_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pci_bus *pci_buses;

/* ---- small helpers ------------------------------------------------------------------------------ */

/* The PDM instance behind a plugin's device pointer. */
static struct pdm_dev *pci_pdm_dev(struct modvm_dev *dev)
{
    return (struct pdm_dev *)dev;
}

/* The function behind a handle, or NULL when the handle is not one of `dev`'s. */
static struct pci_func *pci_func_of(struct modvm_dev *dev, modvm_pci_handle h)
{
    struct pci_func *fn = (struct pci_func *)h;
    return fn && dev && fn->dev == pci_pdm_dev(dev) ? fn : NULL;
}

/* True when [a, a+alen) and [b, b+blen) share a byte. */
static bool pci_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* The low `size` bytes of all ones. */
static uint32_t pci_ones(unsigned size)
{
    return size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1u;
}

/* True for an access the config cycle rules allow: 1, 2 or 4 bytes inside one dword. */
static bool pci_cycle_ok(uint32_t offset, unsigned size)
{
    return (size == 1 || size == 2 || size == 4) && (offset & 3u) + size <= 4;
}

/* The command register. */
static uint16_t pci_command(const struct pci_func *fn)
{
    return (uint16_t)le_get(fn->cfg + MODVM_PCI_COMMAND, 2);
}

/* "00:1f.7" for messages. */
static void pci_bdf_name(const struct pci_func *fn, char *buf, size_t len)
{
    snprintf(buf, len, "00:%02x.%u", fn->devfn >> 3, fn->devfn & 7u);
}

/* Sets config bytes and their masks (function lock held or function not yet visible). */
static void pci_cfg_set(struct pci_func *fn, uint32_t offset, unsigned size, uint32_t value, uint32_t wmask,
                        uint32_t w1c)
{
    le_put(fn->cfg + offset, value, size);
    le_put(fn->wmask + offset, wmask, size);
    le_put(fn->w1c + offset, w1c, size);
}

/* ---- buses -------------------------------------------------------------------------------------- */

/* The bus of `vm` with a reference taken, created when missing; NULL without memory. */
static struct pci_bus *pci_bus_ref(struct vm *vm)
{
    pthread_mutex_lock(&pci_buses_lock);
    struct pci_bus *bus = pci_buses;
    while (bus && bus->vm != vm)
        bus = bus->next;
    if (!bus && (bus = calloc(1, sizeof(*bus))) != NULL) {
        bus->vm = vm;
        pthread_mutex_init(&bus->lock, NULL);
        bus->next = pci_buses;
        pci_buses = bus;
    }
    if (bus)
        bus->refs++;
    pthread_mutex_unlock(&pci_buses_lock);
    return bus;
}

/* Drops a reference; frees the bus with the last. */
static void pci_bus_unref(struct pci_bus *bus)
{
    pthread_mutex_lock(&pci_buses_lock);
    if (--bus->refs == 0) {
        struct pci_bus **pp = &pci_buses;
        while (*pp != bus)
            pp = &(*pp)->next;
        *pp = bus->next;
        pthread_mutex_destroy(&bus->lock);
        free(bus);
    }
    pthread_mutex_unlock(&pci_buses_lock);
}

/* The bus of `vm` without taking a reference, or NULL when nothing made one. Valid while a
 * function or router keeps it (see the file comment). */
static struct pci_bus *pci_bus_find(struct vm *vm)
{
    pthread_mutex_lock(&pci_buses_lock);
    struct pci_bus *bus = pci_buses;
    while (bus && bus->vm != vm)
        bus = bus->next;
    pthread_mutex_unlock(&pci_buses_lock);
    return bus;
}

/* ---- INTx ---------------------------------------------------------------------------------------- */

/* Counts one more function asserting `gsi`; raises the line with the first (bus lock held). */
static void pci_gsi_raise(struct pci_bus *bus, int gsi)
{
    if (bus->gsi_count[gsi]++ == 0)
        vm_irq_set(bus->vm, (uint32_t)gsi, MODVM_IRQ_HIGH);
}

/* Counts one function fewer asserting `gsi`; lowers the line with the last (bus lock held). */
static void pci_gsi_lower(struct pci_bus *bus, int gsi)
{
    if (bus->gsi_count[gsi] > 0 && --bus->gsi_count[gsi] == 0)
        vm_irq_set(bus->vm, (uint32_t)gsi, MODVM_IRQ_LOW);
}

/* The GSI the router gives the function's pin now, or -1 (bus lock held; the router only reads
 * its registers, see pci.h). */
static int pci_intx_route(struct pci_bus *bus, const struct pci_func *fn)
{
    if (!bus->router || fn->pin < 1 || fn->pin > 4)
        return -1;
    int gsi = bus->router(bus->router_user, fn->devfn, fn->pin);
    if (gsi >= PCI_GSI_LIMIT) {
        if (!bus->router_warned) {
            bus->router_warned = true;
            modvm_dev_log(&bus->router_dev->pub, MODVM_LOG_ERROR,
                          "INTx router returned GSI %d (limit %d): the line stays unconnected", gsi,
                          PCI_GSI_LIMIT - 1);
        }
        return -1;
    }
    return gsi < 0 ? -1 : gsi;
}

/* Brings the function's contribution to the GSI lines in line with `on` and the routing now: the
 * line of a GSI is the OR of every function routed to it (bus lock held). */
static void pci_intx_apply(struct pci_bus *bus, struct pci_func *fn, bool on)
{
    int gsi = on ? pci_intx_route(bus, fn) : -1;
    fn->intx_on = on;
    if (gsi == fn->intx_gsi)
        return;
    if (gsi >= 0)
        pci_gsi_raise(bus, gsi);
    if (fn->intx_gsi >= 0)
        pci_gsi_lower(bus, fn->intx_gsi);
    fn->intx_gsi = gsi;
}

/* Re-routes every asserting function (bus lock held). */
static void pci_intx_reroute(struct pci_bus *bus)
{
    for (unsigned devfn = 0; devfn < PCI_DEVFN_COUNT; devfn++) {
        struct pci_func *fn = bus->slots[devfn];
        if (fn && fn->intx_on)
            pci_intx_apply(bus, fn, true);
    }
}

/* Recomputes whether the function asserts INTx: the device's level, unless the guest set
 * COMMAND_INTX_DISABLE or enabled MSI-X (PCI 3.0 §6.8.2: a function using MSI-X must not use INTx)
 * (function lock held). */
static void pci_intx_update(struct pci_func *fn)
{
    bool on = fn->intx_level && fn->pin != 0 && !(pci_command(fn) & MODVM_PCI_COMMAND_INTX_DISABLE) &&
              !(fn->msix && fn->msix->enabled);
    pthread_mutex_lock(&fn->bus->lock);
    pci_intx_apply(fn->bus, fn, on);
    pthread_mutex_unlock(&fn->bus->lock);
}

/* ---- BARs --------------------------------------------------------------------------------------- */

/* The base BAR `b` asks for now — its address with its decode bit on — or PCI_BAR_UNMAPPED when
 * decoding is off or the address is unusable (function lock held). */
static uint64_t pci_bar_wanted(const struct pci_func *fn, const struct pci_bar *b)
{
    uint16_t cmd = pci_command(fn);
    uint32_t reg = MODVM_PCI_BAR0 + 4u * b->index;
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
    char bdf[16];
    pci_bdf_name(fn, bdf, sizeof(bdf));
    modvm_dev_guest_error(dev, "PCI %s BAR%u: %s range 0x%llx-0x%llx overlaps RAM or another range; left unmapped",
                          bdf, b->index, io ? "port" : "memory", (unsigned long long)want,
                          (unsigned long long)(want + b->size - 1));
}

/* Re-evaluates every BAR of the function (function lock held). */
static void pci_bars_update(struct pci_func *fn)
{
    for (unsigned i = 0; i < PCI_BAR_COUNT; i++)
        if (fn->bars[i].kind)
            pci_bar_update(fn, &fn->bars[i]);
}

/* ---- MSI-X -------------------------------------------------------------------------------------- */

/* True when vector `v` is pending. */
static bool pci_msix_pending(const struct pci_msix *m, unsigned v)
{
    return (m->pba[v / 8] >> (v % 8)) & 1u;
}

/* Sets or clears the pending bit of vector `v`. */
static void pci_msix_set_pending(struct pci_msix *m, unsigned v, bool on)
{
    if (on)
        m->pba[v / 8] |= (uint8_t)(1u << (v % 8));
    else
        m->pba[v / 8] &= (uint8_t)~(1u << (v % 8));
}

/* True when vector `v`'s own mask bit is set. */
static bool pci_msix_vector_masked(const struct pci_msix *m, unsigned v)
{
    return m->table[v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_CONTROL] & PCI_MSIX_VECTOR_MASKED;
}

/* Sends vector `v`'s message. The function must be a bus master (a message is a memory write), and
 * the address must lie in the interrupt window: anything else would be a DMA write the core does
 * not do on a device's behalf (function lock held). */
static int pci_msix_send(struct pci_func *fn, unsigned v)
{
    const uint8_t *e = fn->msix->table + v * PCI_MSIX_ENTRY_SIZE;
    uint64_t addr = le_get(e, 8);
    uint32_t data = (uint32_t)le_get(e + PCI_MSIX_ENTRY_DATA, 4);
    if (!(pci_command(fn) & MODVM_PCI_COMMAND_MASTER))
        return 0;
    if ((addr & PCI_MSI_ADDR_WINDOW_MASK) != PCI_MSI_ADDR_WINDOW || (addr >> 32) != 0) {
        char bdf[16];
        pci_bdf_name(fn, bdf, sizeof(bdf));
        modvm_dev_guest_error(&fn->dev->pub, "PCI %s: MSI-X vector %u has address 0x%llx outside the "
                              "interrupt window 0xfee00000; message dropped", bdf, v, (unsigned long long)addr);
        return 0;
    }
    return vm_msi_send(fn->dev->vm, addr, data);
}

/* Delivers vector `v` if it is pending and nothing masks it any more (function lock held). */
static void pci_msix_try_deliver(struct pci_func *fn, unsigned v)
{
    struct pci_msix *m = fn->msix;
    if (m->enabled && !m->masked && !pci_msix_vector_masked(m, v) && pci_msix_pending(m, v)) {
        pci_msix_set_pending(m, v, false);
        pci_msix_send(fn, v);
    }
}

/* The guest wrote the Message Control register: take the enable and function-mask bits, deliver
 * what was held back by a mask now gone, and re-evaluate INTx (function lock held). */
static void pci_msix_control_changed(struct pci_func *fn)
{
    struct pci_msix *m = fn->msix;
    uint16_t ctrl = (uint16_t)le_get(fn->cfg + m->cap + PCI_MSIX_CONTROL, 2);
    bool was_enabled = m->enabled;
    m->enabled = (ctrl & PCI_MSIX_CONTROL_ENABLE) != 0;
    m->masked = (ctrl & PCI_MSIX_CONTROL_MASKALL) != 0;
    if (m->enabled && !m->masked)
        for (unsigned v = 0; v < m->nvectors; v++)
            pci_msix_try_deliver(fn, v);
    if (m->enabled != was_enabled)
        pci_intx_update(fn);
}

/* MSI-X back to power-on: disabled, unmasked function, every vector masked with a zero message,
 * nothing pending (function lock held). */
static void pci_msix_reset(struct pci_func *fn)
{
    struct pci_msix *m = fn->msix;
    uint8_t *ctrl = fn->cfg + m->cap + PCI_MSIX_CONTROL + 1;
    *ctrl &= (uint8_t)~((PCI_MSIX_CONTROL_ENABLE | PCI_MSIX_CONTROL_MASKALL) >> 8);
    m->enabled = m->masked = false;
    memset(m->table, 0, m->table_size);
    for (unsigned v = 0; v < m->nvectors; v++)
        m->table[v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_CONTROL] = PCI_MSIX_VECTOR_MASKED;
    memset(m->pba, 0, m->pba_size);
}

/* Where an access to a memory BAR lands. */
enum pci_bar_part { PCI_PART_DEVICE, PCI_PART_TABLE, PCI_PART_PBA, PCI_PART_STRADDLE };

/* Classifies an access of `size` at `off` of BAR `b`; for the table and PBA, *rel is the offset
 * inside them. The MSI-X layout is fixed after construct, so no lock is needed. */
static enum pci_bar_part pci_bar_part(const struct pci_bar *b, uint64_t off, unsigned size, uint32_t *rel)
{
    const struct pci_msix *m = b->fn->msix;
    if (!m || m->bar != b->index)
        return PCI_PART_DEVICE;
    if (pci_overlap(off, size, m->table_offset, m->table_size)) {
        if (off < m->table_offset || off + size > (uint64_t)m->table_offset + m->table_size)
            return PCI_PART_STRADDLE;
        *rel = (uint32_t)(off - m->table_offset);
        return PCI_PART_TABLE;
    }
    if (pci_overlap(off, size, m->pba_offset, m->pba_size)) {
        if (off < m->pba_offset || off + size > (uint64_t)m->pba_offset + m->pba_size)
            return PCI_PART_STRADDLE;
        *rel = (uint32_t)(off - m->pba_offset);
        return PCI_PART_PBA;
    }
    return PCI_PART_DEVICE;
}

/* A guest write to the MSI-X table: addresses and data are plain read/write, of the vector control
 * word only the mask bit is. A vector whose mask goes away gets its pending message (function lock
 * held). */
static void pci_msix_table_write(struct pci_func *fn, uint32_t rel, uint64_t value, unsigned size)
{
    struct pci_msix *m = fn->msix;
    unsigned first = rel / PCI_MSIX_ENTRY_SIZE, last = (rel + size - 1) / PCI_MSIX_ENTRY_SIZE;
    bool was_masked[2] = {pci_msix_vector_masked(m, first), pci_msix_vector_masked(m, last)};
    for (unsigned i = 0; i < size; i++) {
        uint32_t at = rel + i, in_entry = at % PCI_MSIX_ENTRY_SIZE;
        uint8_t wmask = in_entry < PCI_MSIX_ENTRY_CONTROL    ? 0xffu
                        : in_entry == PCI_MSIX_ENTRY_CONTROL ? PCI_MSIX_VECTOR_MASKED
                                                             : 0u;
        uint8_t byte = (uint8_t)(value >> (8 * i));
        m->table[at] = (uint8_t)((m->table[at] & ~wmask) | (byte & wmask));
    }
    if (was_masked[0] && !pci_msix_vector_masked(m, first))
        pci_msix_try_deliver(fn, first);
    if (last != first && was_masked[1] && !pci_msix_vector_masked(m, last))
        pci_msix_try_deliver(fn, last);
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
    modvm_dev_guest_error(dev, "%u-byte read at BAR%u+0x%llx: the device does not take that size", size, b->index,
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
    modvm_dev_guest_error(dev, "%u-byte write at BAR%u+0x%llx: the device does not take that size", size,
                          b->index, (unsigned long long)off);
}

/* MMIO read handler of every memory BAR (modvm_mmio_ops.read): the MSI-X table and PBA are the
 * core's, the rest goes to the device. vCPU thread, the device's lock held by PDM. */
static uint64_t pci_bar_mmio_read(struct modvm_dev *dev, void *user, uint64_t off, unsigned size)
{
    struct pci_bar *b = user;
    struct pci_func *fn = b->fn;
    uint32_t rel = 0;
    uint64_t v;
    switch (pci_bar_part(b, off, size, &rel)) {
    case PCI_PART_DEVICE:
        return pci_bar_device_read(dev, b, off, size);
    case PCI_PART_TABLE:
        pthread_mutex_lock(&fn->lock);
        v = le_get(fn->msix->table + rel, size);
        pthread_mutex_unlock(&fn->lock);
        return v;
    case PCI_PART_PBA:
        pthread_mutex_lock(&fn->lock);
        v = le_get(fn->msix->pba + rel, size);
        pthread_mutex_unlock(&fn->lock);
        return v;
    case PCI_PART_STRADDLE:
        break;
    }
    modvm_dev_guest_error(dev, "%u-byte read at BAR%u+0x%llx straddles the MSI-X table or PBA", size, b->index,
                          (unsigned long long)off);
    return ~0ull;
}

/* MMIO write handler of every memory BAR (modvm_mmio_ops.write); the PBA is read-only. */
static void pci_bar_mmio_write(struct modvm_dev *dev, void *user, uint64_t off, uint64_t value, unsigned size)
{
    struct pci_bar *b = user;
    struct pci_func *fn = b->fn;
    uint32_t rel = 0;
    switch (pci_bar_part(b, off, size, &rel)) {
    case PCI_PART_DEVICE:
        pci_bar_device_write(dev, b, off, value, size);
        return;
    case PCI_PART_TABLE:
        pthread_mutex_lock(&fn->lock);
        pci_msix_table_write(fn, rel, value, size);
        pthread_mutex_unlock(&fn->lock);
        return;
    case PCI_PART_PBA:
        return;
    case PCI_PART_STRADDLE:
        break;
    }
    modvm_dev_guest_error(dev, "%u-byte write at BAR%u+0x%llx straddles the MSI-X table or PBA", size, b->index,
                          (unsigned long long)off);
}

static const struct modvm_mmio_ops pci_bar_mmio_ops = {
    .version = MODVM_MMIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_ANY,
    .read = pci_bar_mmio_read,
    .write = pci_bar_mmio_write,
};

/* ---- config space ------------------------------------------------------------------------------- */

/* Stores a guest write through the write mask and the write-1-to-clear mask, then applies what it
 * changed: BAR mappings, INTx, MSI-X (function lock held; `offset`/`size` already checked). */
static void pci_cfg_guest_write(struct pci_func *fn, uint32_t offset, uint32_t value, unsigned size)
{
    for (unsigned i = 0; i < size; i++) {
        uint32_t at = offset + i;
        uint8_t byte = (uint8_t)(value >> (8 * i));
        uint8_t v = (uint8_t)((fn->cfg[at] & ~fn->wmask[at]) | (byte & fn->wmask[at]));
        fn->cfg[at] = (uint8_t)(v & ~(byte & fn->w1c[at]));
    }
    bool command = pci_overlap(offset, size, MODVM_PCI_COMMAND, 2);
    if (command || pci_overlap(offset, size, MODVM_PCI_BAR0, PCI_BAR_END - MODVM_PCI_BAR0))
        pci_bars_update(fn);
    if (command)
        pci_intx_update(fn);
    if (fn->msix && pci_overlap(offset, size, fn->msix->cap + PCI_MSIX_CONTROL, 2))
        pci_msix_control_changed(fn);
}

/* The header registers back to power-on: command 0 (so every BAR is unmapped), BAR addresses 0,
 * cache line size and interrupt line 0, status bits other than the capabilities bit clear, MSI-X
 * reset, INTx low. Device-specific registers are the device's (its reset callback) (function lock
 * held). */
static void pci_func_reset(struct pci_func *fn)
{
    le_put(fn->cfg + MODVM_PCI_COMMAND, 0, 2);
    uint16_t status = (uint16_t)le_get(fn->cfg + MODVM_PCI_STATUS, 2);
    le_put(fn->cfg + MODVM_PCI_STATUS, status & PCI_STATUS_CAP_LIST, 2);
    for (unsigned i = 0; i < PCI_BAR_COUNT; i++) {
        uint32_t reg = MODVM_PCI_BAR0 + 4u * i;
        uint32_t v = (uint32_t)le_get(fn->cfg + reg, 4);
        uint32_t wmask = (uint32_t)le_get(fn->wmask + reg, 4);
        le_put(fn->cfg + reg, v & ~wmask, 4); /* the read-only type bits stay */
    }
    fn->cfg[PCI_CACHE_LINE_SIZE] = 0;
    fn->cfg[MODVM_PCI_INTERRUPT_LINE] = 0;
    pci_bars_update(fn);
    if (fn->msix)
        pci_msix_reset(fn);
    fn->intx_level = false;
    pci_intx_update(fn);
}

/* Fills the type 0 header of a new function from its identity. */
static void pci_func_init_header(struct pci_func *fn, const struct modvm_pci_func *id)
{
    memset(fn->kind, PCI_BYTE_HEADER, PCI_HEADER_SIZE);
    pci_cfg_set(fn, MODVM_PCI_VENDOR_ID, 2, id->vendor_id, 0, 0);
    pci_cfg_set(fn, PCI_DEVICE_ID, 2, id->device_id, 0, 0);
    pci_cfg_set(fn, MODVM_PCI_COMMAND, 2, 0, PCI_COMMAND_WRITABLE, 0);
    pci_cfg_set(fn, MODVM_PCI_STATUS, 2, 0, 0, PCI_STATUS_W1C);
    pci_cfg_set(fn, PCI_REVISION_ID, 1, id->revision, 0, 0);
    pci_cfg_set(fn, PCI_PROG_IF, 1, id->prog_if, 0, 0);
    pci_cfg_set(fn, PCI_SUBCLASS, 1, id->subclass, 0, 0);
    pci_cfg_set(fn, PCI_CLASS_CODE, 1, id->class_code, 0, 0);
    pci_cfg_set(fn, PCI_CACHE_LINE_SIZE, 1, 0, 0xffu, 0);
    uint8_t type = id->header_type | ((id->flags & MODVM_PCI_F_MULTIFUNCTION) ? PCI_HEADER_TYPE_MULTIFUNCTION : 0u);
    pci_cfg_set(fn, PCI_HEADER_TYPE, 1, type, 0, 0);
    pci_cfg_set(fn, PCI_SUBSYSTEM_VENDOR_ID, 2, id->subsystem_vendor_id, 0, 0);
    pci_cfg_set(fn, PCI_SUBSYSTEM_ID, 2, id->subsystem_id, 0, 0);
    pci_cfg_set(fn, MODVM_PCI_INTERRUPT_LINE, 1, 0, 0xffu, 0);
    pci_cfg_set(fn, PCI_INTERRUPT_PIN, 1, id->interrupt_pin, 0, 0);
}

/* Frees a function's memory (it is no longer on the bus). */
static void pci_func_free(struct pci_func *fn)
{
    if (!fn)
        return;
    if (fn->msix) {
        free(fn->msix->table);
        free(fn->msix->pba);
        free(fn->msix);
    }
    free(fn->cfg);
    free(fn->wmask);
    free(fn->w1c);
    free(fn->kind);
    pthread_mutex_destroy(&fn->lock);
    free(fn);
}

/* ---- helper table: functions, BARs, config --------------------------------------------------------- */

/* Checks a function's identity; 0 or -EINVAL/-EOPNOTSUPP with the message set. */
static int pci_func_check(struct pdm_dev *d, const struct modvm_pci_func *id)
{
    if (!id || !MODVM_VERSION_ARE_COMPATIBLE(MODVM_PCI_FUNC_VERSION, id->version))
        return modvm_err_set(-EINVAL, "%s: PCI function description has a bad version", d->name);
    if (id->flags & ~(MODVM_PCI_F_EXPRESS | MODVM_PCI_F_MULTIFUNCTION))
        return modvm_err_set(-EINVAL, "%s: PCI function flags 0x%x are unknown", d->name, id->flags);
    if (id->vendor_id == 0xffffu || id->vendor_id == 0)
        return modvm_err_set(-EINVAL, "%s: PCI vendor ID 0x%04x is invalid", d->name, id->vendor_id);
    if (id->header_type != 0)
        return modvm_err_set(-EOPNOTSUPP, "%s: PCI header type %u is not supported (endpoints only)", d->name,
                             id->header_type);
    if (id->interrupt_pin > 4)
        return modvm_err_set(-EINVAL, "%s: PCI interrupt pin %u is not 0-4", d->name, id->interrupt_pin);
    if (id->devfn < -1 || id->devfn >= (int32_t)PCI_DEVFN_COUNT)
        return modvm_err_set(-EINVAL, "%s: PCI devfn %d is not -1 or 0-255", d->name, (int)id->devfn);
    return 0;
}

/* Puts the function on the bus at its devfn, or in the first slot ≥ 2 with all eight functions
 * free (bus lock taken here). */
static int pci_func_attach(struct pci_bus *bus, struct pci_func *fn, int32_t devfn)
{
    int rc = 0;
    pthread_mutex_lock(&bus->lock);
    if (devfn >= 0) {
        if (bus->slots[devfn])
            rc = -EBUSY;
    } else {
        rc = -ENOSPC;
        for (unsigned slot = PCI_AUTO_FIRST_SLOT; slot < PCI_DEVFN_COUNT / PCI_FUNCS_PER_SLOT && rc; slot++) {
            bool free_slot = true;
            for (unsigned f = 0; f < PCI_FUNCS_PER_SLOT; f++)
                free_slot = free_slot && !bus->slots[slot * PCI_FUNCS_PER_SLOT + f];
            if (free_slot) {
                devfn = (int32_t)(slot * PCI_FUNCS_PER_SLOT);
                rc = 0;
            }
        }
    }
    if (rc == 0) {
        fn->devfn = (uint8_t)devfn;
        bus->slots[devfn] = fn;
    }
    pthread_mutex_unlock(&bus->lock);
    return rc;
}

/* modvm_pci_hlp.func_register. */
static int hlp_func_register(struct modvm_dev *dev, const struct modvm_pci_func *func, void *user,
                             modvm_pci_handle *out)
{
    struct pdm_dev *d = pci_pdm_dev(dev);
    int rc = pci_func_check(d, func);
    if (rc < 0)
        return rc;
    if (!out)
        return -EINVAL;
    struct pci_func *fn = calloc(1, sizeof(*fn));
    if (!fn)
        return -ENOMEM;
    pthread_mutex_init(&fn->lock, NULL);
    fn->dev = d;
    fn->user = user;
    fn->config_read = func->config_read;
    fn->config_write = func->config_write;
    fn->pin = func->interrupt_pin;
    fn->intx_gsi = -1;
    fn->cfg_size = (func->flags & MODVM_PCI_F_EXPRESS) ? PCI_CFG_SIZE_EXPRESS : PCI_CFG_SIZE;
    fn->cfg = calloc(1, fn->cfg_size);
    fn->wmask = calloc(1, fn->cfg_size);
    fn->w1c = calloc(1, fn->cfg_size);
    fn->kind = calloc(1, fn->cfg_size);
    for (unsigned i = 0; i < PCI_BAR_COUNT; i++)
        fn->bars[i] = (struct pci_bar){.fn = fn, .index = i, .want = PCI_BAR_UNMAPPED};
    if (!fn->cfg || !fn->wmask || !fn->w1c || !fn->kind || !(fn->bus = pci_bus_ref(d->vm))) {
        pci_func_free(fn);
        return -ENOMEM;
    }
    pci_func_init_header(fn, func);
    if ((rc = pci_func_attach(fn->bus, fn, func->devfn)) < 0) {
        pci_bus_unref(fn->bus);
        pci_func_free(fn);
        if (rc == -EBUSY)
            return modvm_err_set(rc, "%s: PCI address 00:%02x.%d is taken by another function", d->name,
                                 (int)func->devfn >> 3, (int)func->devfn & 7);
        return modvm_err_set(rc, "%s: no free PCI slot left on bus 0", d->name);
    }
    *out = (modvm_pci_handle)fn;
    return 0;
}

/* Checks a BAR registration; 0 or -EINVAL with the message set. */
static int pci_bar_check(struct pdm_dev *d, const struct pci_func *fn, unsigned bar, uint32_t kind, uint64_t size,
                         const struct modvm_pio_ops *pio, const struct modvm_mmio_ops *mmio)
{
    uint32_t space = kind & (MODVM_PCI_BAR_IO | MODVM_PCI_BAR_MEM32 | MODVM_PCI_BAR_MEM64);
    bool io = space == MODVM_PCI_BAR_IO, mem64 = space == MODVM_PCI_BAR_MEM64;
    const char *why = NULL;
    if (bar >= PCI_BAR_COUNT || (mem64 && bar + 1 >= PCI_BAR_COUNT))
        why = "BAR number out of range";
    else if (space != MODVM_PCI_BAR_IO && space != MODVM_PCI_BAR_MEM32 && space != MODVM_PCI_BAR_MEM64)
        why = "kind must be exactly one of IO, MEM32, MEM64";
    else if ((kind & ~(space | MODVM_PCI_BAR_PREFETCH)) != 0 || (io && (kind & MODVM_PCI_BAR_PREFETCH)))
        why = "kind has unknown bits (or PREFETCH on an I/O BAR)";
    else if (fn->bars[bar].kind || fn->bars[bar].upper_half || (mem64 && (fn->bars[bar + 1].kind ||
                                                                          fn->bars[bar + 1].upper_half)))
        why = "BAR already registered";
    else if (size == 0 || (size & (size - 1)) != 0)
        why = "size is not a power of two";
    else if (io && (size < PCI_BAR_IO_MIN || size > PCI_BAR_IO_MAX))
        why = "I/O BAR size must be 4..256 bytes";
    else if (!io && (size < PCI_BAR_MEM_MIN || size > (mem64 ? PCI_BAR_MEM64_MAX : PCI_BAR_MEM32_MAX)))
        why = "memory BAR size must be 16 bytes..2 GiB (64-bit: ..1 TiB)";
    else if (io ? !pio : !mmio)
        why = "no handlers for the BAR's space";
    else if (!io && !MODVM_VERSION_ARE_COMPATIBLE(MODVM_MMIO_OPS_VERSION, mmio->version))
        why = "MMIO ops have a bad version";
    else if (!io && !(mmio->sizes & MODVM_IO_SIZE_ANY))
        why = "MMIO ops allow no access size";
    if (why)
        return modvm_err_set(-EINVAL, "%s: PCI BAR%u: %s", d->name, bar, why);
    return 0;
}

/* modvm_pci_hlp.bar_register. */
static int hlp_bar_register(struct modvm_dev *dev, modvm_pci_handle h, unsigned bar, uint32_t kind, uint64_t size,
                            const struct modvm_pio_ops *pio, const struct modvm_mmio_ops *mmio, void *user)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn)
        return -EINVAL;
    int rc = pci_bar_check(fn->dev, fn, bar, kind, size, pio, mmio);
    if (rc < 0)
        return rc;
    struct pci_bar *b = &fn->bars[bar];
    bool io = (kind & MODVM_PCI_BAR_IO) != 0;
    char desc[48], bdf[16];
    pci_bdf_name(fn, bdf, sizeof(bdf));
    snprintf(desc, sizeof(desc), "PCI %s BAR%u", bdf, bar);
    if (io)
        rc = dev->hlp->pio_create(dev, (uint32_t)size, pio, user, desc, &b->pio);
    else
        rc = dev->hlp->mmio_create(dev, size, &pci_bar_mmio_ops, b, desc, &b->mmio_region);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&fn->lock);
    b->kind = kind;
    b->size = size;
    b->user = user;
    if (!io)
        b->mmio = *mmio;
    uint32_t reg = MODVM_PCI_BAR0 + 4u * bar;
    uint64_t addr_mask = ~(size - 1);
    if (io) {
        pci_cfg_set(fn, reg, 4, PCI_BAR_SPACE_IO, (uint32_t)addr_mask & PCI_BAR_IO_ADDR_MASK, 0);
    } else {
        uint32_t type = ((kind & MODVM_PCI_BAR_MEM64) ? PCI_BAR_MEM_TYPE_64 : 0u) |
                        ((kind & MODVM_PCI_BAR_PREFETCH) ? PCI_BAR_MEM_PREFETCH : 0u);
        pci_cfg_set(fn, reg, 4, type, (uint32_t)addr_mask & PCI_BAR_MEM_ADDR_MASK, 0);
        if (kind & MODVM_PCI_BAR_MEM64) {
            pci_cfg_set(fn, reg + 4, 4, 0, (uint32_t)(addr_mask >> 32), 0);
            fn->bars[bar + 1].upper_half = true;
        }
    }
    pci_bar_update(fn, b);
    pthread_mutex_unlock(&fn->lock);
    return 0;
}

/* True when config_init may set bytes [offset, offset+size): none of them belongs to the header, a
 * capability's ID/next pair or a capability the core serves. */
static bool pci_init_allowed(const struct pci_func *fn, uint32_t offset, unsigned size)
{
    for (unsigned i = 0; i < size; i++) {
        uint8_t k = fn->kind[offset + i];
        if (k != PCI_BYTE_FREE && k != PCI_BYTE_DEVICE && k != PCI_BYTE_CAP_BODY)
            return false;
    }
    return true;
}

/* modvm_pci_hlp.config_init. */
static int hlp_config_init(struct modvm_dev *dev, modvm_pci_handle h, uint32_t offset, unsigned size, uint32_t value,
                           uint32_t wmask)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn || size < 1 || size > 4 || offset > fn->cfg_size || size > fn->cfg_size - offset)
        return -EINVAL;
    pthread_mutex_lock(&fn->lock);
    bool ok = pci_init_allowed(fn, offset, size);
    if (ok) {
        pci_cfg_set(fn, offset, size, value, wmask, 0);
        for (unsigned i = 0; i < size; i++)
            if (fn->kind[offset + i] == PCI_BYTE_FREE)
                fn->kind[offset + i] = PCI_BYTE_DEVICE;
    }
    pthread_mutex_unlock(&fn->lock);
    if (!ok)
        return modvm_err_set(-EINVAL, "%s: PCI config bytes 0x%x-0x%x belong to the core (header or capability "
                             "list)", fn->dev->name, offset, offset + size - 1);
    return 0;
}

/* modvm_pci_hlp.config_get: the stored bytes (all ones for a bad request). */
static uint32_t hlp_config_get(struct modvm_dev *dev, modvm_pci_handle h, uint32_t offset, unsigned size)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn || size < 1 || size > 4 || offset > fn->cfg_size || size > fn->cfg_size - offset)
        return 0xffffffffu;
    pthread_mutex_lock(&fn->lock);
    uint32_t v = (uint32_t)le_get(fn->cfg + offset, size);
    pthread_mutex_unlock(&fn->lock);
    return v;
}

/* Allocates `size` bytes for capability `cap_id` in the first free dword-aligned gap of
 * 0x40-0xff and links it at the end of the list (function lock held). */
static int pci_cap_alloc(struct pci_func *fn, uint8_t cap_id, uint8_t size, enum pci_byte_kind body, uint8_t *out)
{
    if (size < 2 || size > PCI_CAP_END - PCI_HEADER_SIZE)
        return -EINVAL;
    for (uint32_t at = PCI_HEADER_SIZE; at + size <= PCI_CAP_END; at += 4) {
        bool gap = true;
        for (uint32_t i = 0; i < size && gap; i++)
            gap = fn->kind[at + i] == PCI_BYTE_FREE;
        if (!gap)
            continue;
        memset(fn->kind + at, PCI_BYTE_CAP_HDR, 2);
        memset(fn->kind + at + 2, body, size - 2u);
        memset(fn->cfg + at, 0, size);
        memset(fn->wmask + at, 0, size);
        fn->cfg[at] = cap_id;
        if (fn->cap_last)
            fn->cfg[fn->cap_last + 1] = (uint8_t)at;
        else
            fn->cfg[PCI_CAPABILITY_LIST] = (uint8_t)at;
        fn->cap_last = (uint8_t)at;
        fn->cfg[MODVM_PCI_STATUS] |= PCI_STATUS_CAP_LIST;
        *out = (uint8_t)at;
        return 0;
    }
    return -ENOSPC;
}

/* modvm_pci_hlp.cap_add. */
static int hlp_cap_add(struct modvm_dev *dev, modvm_pci_handle h, uint8_t cap_id, uint8_t size, uint8_t *offset)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn || !offset)
        return -EINVAL;
    pthread_mutex_lock(&fn->lock);
    int rc = pci_cap_alloc(fn, cap_id, size, PCI_BYTE_CAP_BODY, offset);
    pthread_mutex_unlock(&fn->lock);
    if (rc == -ENOSPC)
        return modvm_err_set(rc, "%s: no room for a %u-byte PCI capability", fn->dev->name, size);
    return rc;
}

/* Checks an MSI-X layout against its BAR; NULL or why it is wrong. */
static const char *pci_msix_check(const struct pci_func *fn, unsigned nvectors, unsigned bar, uint32_t table_offset,
                                  uint32_t pba_offset)
{
    if (fn->msix)
        return "MSI-X is already set up";
    if (nvectors < 1 || nvectors > PCI_MSIX_MAX_VECTORS)
        return "the vector count must be 1-2048";
    if (bar >= PCI_BAR_COUNT || !fn->bars[bar].kind || (fn->bars[bar].kind & MODVM_PCI_BAR_IO))
        return "the BAR is not a registered memory BAR";
    if ((table_offset | pba_offset) & 7u)
        return "the table and PBA offsets must be multiples of 8";
    uint64_t size = fn->bars[bar].size;
    uint64_t table_size = (uint64_t)nvectors * PCI_MSIX_ENTRY_SIZE, pba_size = ((nvectors + 63u) / 64u) * 8u;
    if (table_offset + table_size > size || pba_offset + pba_size > size)
        return "the table or PBA does not fit in the BAR";
    if (pci_overlap(table_offset, table_size, pba_offset, pba_size))
        return "the table and PBA overlap";
    return NULL;
}

/* modvm_pci_hlp.msix_init. */
static int hlp_msix_init(struct modvm_dev *dev, modvm_pci_handle h, unsigned nvectors, unsigned bar,
                         uint32_t table_offset, uint32_t pba_offset)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn)
        return -EINVAL;
    pthread_mutex_lock(&fn->lock);
    const char *why = pci_msix_check(fn, nvectors, bar, table_offset, pba_offset);
    struct pci_msix *m = NULL;
    int rc = why ? -EINVAL : 0;
    if (rc == 0 && (m = calloc(1, sizeof(*m))) != NULL) {
        m->nvectors = nvectors;
        m->bar = bar;
        m->table_offset = table_offset;
        m->pba_offset = pba_offset;
        m->table_size = nvectors * PCI_MSIX_ENTRY_SIZE;
        m->pba_size = ((nvectors + 63u) / 64u) * 8u;
        m->table = calloc(1, m->table_size);
        m->pba = calloc(1, m->pba_size);
    }
    if (rc == 0 && (!m || !m->table || !m->pba))
        rc = -ENOMEM;
    if (rc == 0 && (rc = pci_cap_alloc(fn, PCI_CAP_ID_MSIX, PCI_MSIX_CAP_SIZE, PCI_BYTE_CORE, &m->cap)) == -ENOSPC)
        why = "no room for the capability";
    if (rc == 0) {
        pci_cfg_set(fn, m->cap + PCI_MSIX_CONTROL, 2, nvectors - 1u,
                    PCI_MSIX_CONTROL_ENABLE | PCI_MSIX_CONTROL_MASKALL, 0);
        pci_cfg_set(fn, m->cap + PCI_MSIX_TABLE, 4, table_offset | bar, 0, 0);
        pci_cfg_set(fn, m->cap + PCI_MSIX_PBA, 4, pba_offset | bar, 0, 0);
        fn->msix = m;
        pci_msix_reset(fn);
    } else if (m) {
        free(m->table);
        free(m->pba);
        free(m);
    }
    pthread_mutex_unlock(&fn->lock);
    if (why)
        return modvm_err_set(rc, "%s: MSI-X: %s", fn->dev->name, why);
    return rc;
}

/* modvm_pci_hlp.msix_notify. */
static int hlp_msix_notify(struct modvm_dev *dev, modvm_pci_handle h, unsigned vector)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn)
        return -EINVAL;
    pthread_mutex_lock(&fn->lock);
    struct pci_msix *m = fn->msix;
    int rc = 0;
    if (!m || vector >= m->nvectors)
        rc = -EINVAL;
    else if (!m->enabled)
        rc = -ENOTCONN;
    else if (m->masked || pci_msix_vector_masked(m, vector))
        pci_msix_set_pending(m, vector, true);
    else
        rc = pci_msix_send(fn, vector);
    pthread_mutex_unlock(&fn->lock);
    return rc;
}

/* modvm_pci_hlp.msix_enabled. */
static bool hlp_msix_enabled(struct modvm_dev *dev, modvm_pci_handle h)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn)
        return false;
    pthread_mutex_lock(&fn->lock);
    bool on = fn->msix && fn->msix->enabled;
    pthread_mutex_unlock(&fn->lock);
    return on;
}

/* modvm_pci_hlp.intx_set: the device's level into status bit 3 and, unless disabled, the line. */
static int hlp_intx_set(struct modvm_dev *dev, modvm_pci_handle h, int level)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn || fn->pin == 0 || (level != MODVM_IRQ_LOW && level != MODVM_IRQ_HIGH))
        return -EINVAL;
    pthread_mutex_lock(&fn->lock);
    fn->intx_level = level == MODVM_IRQ_HIGH;
    if (fn->intx_level)
        fn->cfg[MODVM_PCI_STATUS] |= PCI_STATUS_INTERRUPT;
    else
        fn->cfg[MODVM_PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
    pci_intx_update(fn);
    pthread_mutex_unlock(&fn->lock);
    return 0;
}

/* ---- helper table: the host bridge's config cycles ------------------------------------------------- */

/* The function a host bridge's cycle addresses, or NULL (no such function, another bus, or a second
 * device trying to act as host bridge). Records the first caller as the VM's host bridge. */
static struct pci_func *pci_cycle_target(struct pdm_dev *d, uint8_t bus_no, uint8_t devfn)
{
    struct pci_bus *bus = bus_no == 0 ? pci_bus_find(d->vm) : NULL;
    if (!bus)
        return NULL;
    pthread_mutex_lock(&bus->lock);
    if (!bus->bridge)
        bus->bridge = d;
    struct pci_func *fn = bus->bridge == d ? bus->slots[devfn] : NULL;
    bool warn = bus->bridge != d && !bus->bridge_warned;
    if (warn)
        bus->bridge_warned = true;
    pthread_mutex_unlock(&bus->lock);
    if (warn)
        modvm_dev_log(&d->pub, MODVM_LOG_ERROR, "PCI config cycles ignored: %s is the VM's host bridge already",
                      bus->bridge->name);
    return fn;
}

/* modvm_pci_hlp.config_read: host bridge's guest config read. */
static uint32_t hlp_config_read(struct modvm_dev *dev, uint8_t bus_no, uint8_t devfn, uint32_t offset, unsigned size)
{
    struct pdm_dev *d = pci_pdm_dev(dev);
    if (!pci_cycle_ok(offset, size))
        return 0xffffffffu;
    struct pci_func *fn = pci_cycle_target(d, bus_no, devfn);
    if (!fn || offset >= fn->cfg_size)
        return pci_ones(size);
    bool other = fn->dev != d; /* lock order: host bridge → target device */
    if (other)
        pdm_dev_enter(fn->dev);
    pthread_mutex_lock(&fn->lock);
    uint32_t v = (uint32_t)le_get(fn->cfg + offset, size);
    pthread_mutex_unlock(&fn->lock);
    if (offset >= PCI_HEADER_SIZE && fn->config_read)
        v = fn->config_read(&fn->dev->pub, fn->user, offset, size, v);
    if (other)
        pdm_dev_leave(fn->dev);
    return v & pci_ones(size);
}

/* modvm_pci_hlp.config_write: host bridge's guest config write. */
static void hlp_config_write(struct modvm_dev *dev, uint8_t bus_no, uint8_t devfn, uint32_t offset, uint32_t value,
                             unsigned size)
{
    struct pdm_dev *d = pci_pdm_dev(dev);
    if (!pci_cycle_ok(offset, size))
        return;
    struct pci_func *fn = pci_cycle_target(d, bus_no, devfn);
    if (!fn || offset >= fn->cfg_size)
        return;
    value &= pci_ones(size);
    bool other = fn->dev != d;
    if (other)
        pdm_dev_enter(fn->dev);
    pthread_mutex_lock(&fn->lock);
    pci_cfg_guest_write(fn, offset, value, size);
    pthread_mutex_unlock(&fn->lock);
    if (fn->config_write)
        fn->config_write(&fn->dev->pub, fn->user, offset, value, size);
    if (other)
        pdm_dev_leave(fn->dev);
}

/* ---- helper table: the INTx router ------------------------------------------------------------------ */

/* modvm_pci_hlp.intx_router_set: installs (or with fn NULL removes) the VM's INTx router. */
static int hlp_intx_router_set(struct modvm_dev *dev, modvm_pci_intx_route_fn fn, void *user)
{
    struct pdm_dev *d = pci_pdm_dev(dev);
    struct pci_bus *bus = pci_bus_ref(d->vm); /* the router's reference, if it keeps one */
    if (!bus)
        return -ENOMEM;
    pthread_mutex_lock(&bus->lock);
    int rc = 0;
    bool had = bus->router != NULL;
    if (had && bus->router_dev != d) {
        rc = modvm_err_set(-EBUSY, "%s: %s installed the PCI INTx router already", d->name, bus->router_dev->name);
    } else {
        bus->router = fn;
        bus->router_user = fn ? user : NULL;
        bus->router_dev = fn ? d : NULL;
        bus->router_warned = false;
        pci_intx_reroute(bus);
    }
    bool keep = rc == 0 && fn && !had;   /* a new router keeps the reference taken above */
    bool drop_old = rc == 0 && !fn && had; /* a removed one drops its own */
    pthread_mutex_unlock(&bus->lock);
    if (!keep)
        pci_bus_unref(bus);
    if (drop_old)
        pci_bus_unref(bus);
    return rc;
}

/* modvm_pci_hlp.intx_routing_changed: re-drives every asserted line through the router. */
static void hlp_intx_routing_changed(struct modvm_dev *dev)
{
    struct pci_bus *bus = pci_bus_find(pci_pdm_dev(dev)->vm);
    if (!bus)
        return;
    pthread_mutex_lock(&bus->lock);
    pci_intx_reroute(bus);
    pthread_mutex_unlock(&bus->lock);
}

const struct modvm_pci_hlp pdm_pci_hlp = {
    .version = MODVM_PCI_HLP_VERSION,
    .func_register = hlp_func_register,
    .bar_register = hlp_bar_register,
    .config_init = hlp_config_init,
    .config_get = hlp_config_get,
    .cap_add = hlp_cap_add,
    .msix_init = hlp_msix_init,
    .msix_notify = hlp_msix_notify,
    .msix_enabled = hlp_msix_enabled,
    .intx_set = hlp_intx_set,
    .config_read = hlp_config_read,
    .config_write = hlp_config_write,
    .intx_router_set = hlp_intx_router_set,
    .intx_routing_changed = hlp_intx_routing_changed,
};

/* ---- lifecycle hooks (device.c) --------------------------------------------------------------------- */

void pdm_pci_dev_reset(struct pdm_dev *d)
{
    struct pci_bus *bus = pci_bus_find(d->vm);
    if (!bus)
        return;
    for (unsigned devfn = 0; devfn < PCI_DEVFN_COUNT; devfn++) {
        pthread_mutex_lock(&bus->lock);
        struct pci_func *fn = bus->slots[devfn];
        pthread_mutex_unlock(&bus->lock);
        if (!fn || fn->dev != d)
            continue;
        pthread_mutex_lock(&fn->lock);
        pci_func_reset(fn);
        pthread_mutex_unlock(&fn->lock);
    }
}

void pdm_pci_dev_destruct(struct pdm_dev *d)
{
    struct pci_bus *bus = pci_bus_find(d->vm);
    if (!bus)
        return;
    unsigned unrefs = 0;
    for (unsigned devfn = 0; devfn < PCI_DEVFN_COUNT; devfn++) {
        pthread_mutex_lock(&bus->lock);
        struct pci_func *fn = bus->slots[devfn];
        if (fn && fn->dev == d) {
            pci_intx_apply(bus, fn, false);
            bus->slots[devfn] = NULL;
        } else {
            fn = NULL;
        }
        pthread_mutex_unlock(&bus->lock);
        if (!fn)
            continue;
        for (unsigned i = 0; i < PCI_BAR_COUNT; i++) {
            if (fn->bars[i].pio)
                d->pub.hlp->pio_destroy(&d->pub, fn->bars[i].pio);
            if (fn->bars[i].mmio_region)
                d->pub.hlp->mmio_destroy(&d->pub, fn->bars[i].mmio_region);
        }
        pci_func_free(fn);
        unrefs++;
    }
    pthread_mutex_lock(&bus->lock);
    if (bus->router_dev == d) {
        bus->router = NULL;
        bus->router_user = NULL;
        bus->router_dev = NULL;
        pci_intx_reroute(bus);
        unrefs++;
    }
    if (bus->bridge == d) {
        bus->bridge = NULL;
        bus->bridge_warned = false;
    }
    pthread_mutex_unlock(&bus->lock);
    while (unrefs-- > 0)
        pci_bus_unref(bus);
}
