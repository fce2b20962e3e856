/* pdm/pci-bus.c — the PCI bus: bus 0 of each VM, the registration of functions on it (devfn
 * allocation), the host bridge's config cycles, the lifecycle hooks device.c calls and the helper table
 * behind MODVM_IFACE_PCI (struct modvm_pci_hlp, <modvm/pci.h>). The other jobs live beside it (see
 * pci-internal.h): config space, BARs, the expansion ROM, MSI, MSI-X, INTx.
 *
 * Specs: PCI Local Bus Specification 3.0 (ch. 6 "Configuration Space": header type 0, command and
 * status registers, BARs and their sizing, the expansion ROM BAR §6.2.5.2, capability lists,
 * interrupt line/pin; §6.8.1 MSI, §6.8.2 MSI-X), PCI Express Base 4.0 §7.2 (the 4 KiB configuration
 * space of express functions). Interrupt routing follows the PC convention (PIRQ routing in the ISA
 * bridge, the router a plugin installs).
 *
 * What the core owns: every byte of the 64-byte type 0 header (identity registers from
 * struct modvm_pci_func; command: I/O, memory, bus master and INTx-disable writable; status: the
 * capabilities-list bit, the interrupt status bit 3 and the write-1-to-clear error bits; BAR0-5 with
 * sizing and the mapping of each BAR through PGM whenever its value or the command register's
 * decode bits change; the expansion ROM BAR, the same way for a ROM image the device registered, 0
 * without one; the cache line size and the interrupt line, plain read/write; the interrupt pin), the
 * chaining of capabilities (cap_add), and the MSI and MSI-X capabilities (with the MSI-X table and
 * PBA). Everything else (device-specific registers, the bodies of the device's capabilities) holds
 * what the device put there with config_init and the bits config_init made writable.
 *
 * Deviations: there are no PCI-PCI bridges, so buses other than 0 are empty; a BAR or ROM that would
 * overlap RAM or another range stays unmapped (PGM has no overlap priorities) and counts as a guest
 * error; a 32-bit memory BAR (or the ROM) whose range would reach 4 GiB, or one at address 0, is
 * treated as unassigned (that is where sizing leaves it); MSI and MSI-X messages whose address is not
 * in the 0xFEExxxxx interrupt window are dropped and counted rather than written to memory; a guest
 * that enables MSI and MSI-X together (undefined in §6.8.2) gets MSI-X: plain MSI stays silent until
 * MSI-X is off again.
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
 * other order. The function lock (a core lock) guards the function's config bytes and MSI/MSI-X
 * state, so self-locking devices are safe too; the bus lock guards the slot table and the INTx
 * levels. Neither core lock is held while a device lock is taken or a device callback runs, with one
 * exception documented in pci.h: the INTx router, which only reads its routing registers
 * atomically. Functions are created and destroyed only by construct/destruct (vCPUs stopped), so
 * a function pointer looked up under the bus lock stays valid while a cycle uses it. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "../core/err.h"
#include "pci-internal.h"
#include "pci.h"

#define PCI_FUNCS_PER_SLOT 8u
#define PCI_AUTO_FIRST_SLOT 2u /* slots 0 and 1: host bridge and ISA bridge, as on a PC */
#define PCI_CFG_SIZE 256u
#define PCI_CFG_SIZE_EXPRESS 4096u

/* The buses of all VMs, looked up by VM. */
static pthread_mutex_t pci_buses_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pci_bus *pci_buses;

/* The PDM instance behind a plugin's device pointer. */
static struct pdm_dev *pci_pdm_dev(struct modvm_dev *dev)
{
    return (struct pdm_dev *)dev;
}

struct pci_func *pci_func_of(struct modvm_dev *dev, modvm_pci_handle h)
{
    struct pci_func *fn = (struct pci_func *)h;
    return fn && dev && fn->dev == pci_pdm_dev(dev) ? fn : NULL;
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

/* ---- buses -------------------------------------------------------------------------------------- */

struct pci_bus *pci_bus_ref(struct vm *vm)
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

void pci_bus_unref(struct pci_bus *bus)
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

struct pci_bus *pci_bus_find(struct vm *vm)
{
    pthread_mutex_lock(&pci_buses_lock);
    struct pci_bus *bus = pci_buses;
    while (bus && bus->vm != vm)
        bus = bus->next;
    pthread_mutex_unlock(&pci_buses_lock);
    return bus;
}

/* ---- functions ---------------------------------------------------------------------------------- */

/* Frees a function's memory (it is no longer on the bus). */
static void pci_func_free(struct pci_func *fn)
{
    if (!fn)
        return;
    if (fn->msix)
        pci_msix_free(fn->msix);
    free(fn->msi);
    free(fn->rom);
    free(fn->cfg);
    free(fn->wmask);
    free(fn->w1c);
    free(fn->kind);
    pthread_mutex_destroy(&fn->lock);
    free(fn);
}

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
    for (unsigned i = 0; i < PCI_BAR_SLOTS; i++)
        fn->bars[i] = (struct pci_bar){.fn = fn, .index = i, .want = PCI_BAR_UNMAPPED};
    if (!fn->cfg || !fn->wmask || !fn->w1c || !fn->kind || !(fn->bus = pci_bus_ref(d->vm))) {
        pci_func_free(fn);
        return -ENOMEM;
    }
    pci_cfg_init_header(fn, func);
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

/* ---- the host bridge's config cycles ---------------------------------------------------------------- */

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

const struct modvm_pci_hlp pdm_pci_hlp = {
    .version = MODVM_PCI_HLP_VERSION,
    .func_register = hlp_func_register,
    .bar_register = pci_hlp_bar_register,
    .config_init = pci_hlp_config_init,
    .config_get = pci_hlp_config_get,
    .cap_add = pci_hlp_cap_add,
    .msix_init = pci_hlp_msix_init,
    .msix_notify = pci_hlp_msix_notify,
    .msix_enabled = pci_hlp_msix_enabled,
    .intx_set = pci_hlp_intx_set,
    .config_read = hlp_config_read,
    .config_write = hlp_config_write,
    .intx_router_set = pci_hlp_intx_router_set,
    .intx_routing_changed = pci_hlp_intx_routing_changed,
    .msi_init = pci_hlp_msi_init,
    .msi_notify = pci_hlp_msi_notify,
    .msi_enabled = pci_hlp_msi_enabled,
    .rom_register = pci_hlp_rom_register,
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
        pci_cfg_reset(fn);
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
        pci_bars_destroy(fn);
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
