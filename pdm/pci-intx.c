/* pdm/pci-intx.c — INTx (PCI Local Bus 3.0 §2.2.6, §6.2.4, interrupt status and disable in §6.2.2-3):
 * the level each function drives, suppressed by COMMAND_INTX_DISABLE and while MSI or MSI-X is on
 * (§6.8), routed to a GSI by the VM's INTx router (an ISA bridge's PIRQ registers), and the wired OR
 * of every function routed to one GSI. Attacker model and locks: pci-bus.c. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "../core/err.h"
#include "../core/vm.h"
#include "pci-internal.h"

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

/* The line of a GSI is the OR of every function routed to it. */
void pci_intx_apply(struct pci_bus *bus, struct pci_func *fn, bool on)
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

void pci_intx_reroute(struct pci_bus *bus)
{
    for (unsigned devfn = 0; devfn < PCI_DEVFN_COUNT; devfn++) {
        struct pci_func *fn = bus->slots[devfn];
        if (fn && fn->intx_on)
            pci_intx_apply(bus, fn, true);
    }
}

/* The device's level, unless the guest set COMMAND_INTX_DISABLE or enabled MSI or MSI-X (PCI 3.0
 * §6.8: a function using messages must not use INTx). */
void pci_intx_update(struct pci_func *fn)
{
    bool on = fn->intx_level && fn->pin != 0 && !(pci_command(fn) & MODVM_PCI_COMMAND_INTX_DISABLE) &&
              !pci_msix_on(fn) && !pci_msi_active(fn);
    pthread_mutex_lock(&fn->bus->lock);
    pci_intx_apply(fn->bus, fn, on);
    pthread_mutex_unlock(&fn->bus->lock);
}

/* modvm_pci_hlp.intx_set: the device's level into status bit 3 and, unless disabled, the line. */
int pci_hlp_intx_set(struct modvm_dev *dev, modvm_pci_handle h, int level)
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

/* modvm_pci_hlp.intx_router_set: installs (or with fn NULL removes) the VM's INTx router. */
int pci_hlp_intx_router_set(struct modvm_dev *dev, modvm_pci_intx_route_fn fn, void *user)
{
    struct pdm_dev *d = (struct pdm_dev *)dev;
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
void pci_hlp_intx_routing_changed(struct modvm_dev *dev)
{
    struct pci_bus *bus = pci_bus_find(((struct pdm_dev *)dev)->vm);
    if (!bus)
        return;
    pthread_mutex_lock(&bus->lock);
    pci_intx_reroute(bus);
    pthread_mutex_unlock(&bus->lock);
}
