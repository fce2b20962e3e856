/* pdm/pci.h — PDM's side of the PCI bus (pci-*.c): the helper table behind MODVM_IFACE_PCI and the two
 * lifecycle hooks device.c calls. Private to pdm/; plugins see only <modvm/pci.h>. Spec: PCI Local
 * Bus 3.0 (see pci-bus.c). */
#ifndef MODVM_PDM_PCI_H
#define MODVM_PDM_PCI_H

#include <modvm/pci.h>

struct pdm_dev;

/** The table interfaces.c hands out for MODVM_IFACE_PCI. */
extern const struct modvm_pci_hlp pdm_pci_hlp;

/** Device reset (main thread, vCPUs stopped, the device's lock held), before the device's own reset
 * callback: puts the header registers the core owns of every function of `d` back to their power-on
 * values (command 0, BARs and ROM unassigned and unmapped, MSI off, MSI-X off with every vector
 * masked, INTx low). */
void pdm_pci_dev_reset(struct pdm_dev *d);

/** Device destruction (vCPUs stopped, the device's lock held), after the device's destruct callback:
 * removes the functions of `d` (deasserting their INTx lines, destroying their BAR ranges), its INTx
 * router and its host-bridge claim; frees the bus when nothing is left on it. */
void pdm_pci_dev_destruct(struct pdm_dev *d);

#endif
