/* pdm/pci-config.c — a PCI function's configuration space: its bytes with a write mask, a
 * write-1-to-clear mask and an owner per byte; the type 0 header the core fills and resets; guest
 * writes and what they set in motion (BAR mapping, INTx, MSI, MSI-X); capability chaining and the
 * device's own registers (config_init). Spec: PCI Local Bus 3.0 §6.1-6.2 (header), §6.7 (capability
 * list). Attacker model and locks: pci-bus.c. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../core/err.h"
#include "pci-internal.h"

#define PCI_CAP_END 0x100u

/* type 0 header offsets not in <modvm/pci.h> */
#define PCI_DEVICE_ID 0x02u
#define PCI_REVISION_ID 0x08u
#define PCI_PROG_IF 0x09u
#define PCI_SUBCLASS 0x0au
#define PCI_CLASS_CODE 0x0bu
#define PCI_CACHE_LINE_SIZE 0x0cu
#define PCI_HEADER_TYPE 0x0eu
#define PCI_SUBSYSTEM_VENDOR_ID 0x2cu
#define PCI_SUBSYSTEM_ID 0x2eu
#define PCI_CAPABILITY_LIST 0x34u
#define PCI_INTERRUPT_PIN 0x3du

#define PCI_HEADER_TYPE_MULTIFUNCTION 0x80u
#define PCI_COMMAND_WRITABLE                                                                             \
    (MODVM_PCI_COMMAND_IO | MODVM_PCI_COMMAND_MEMORY | MODVM_PCI_COMMAND_MASTER |                        \
     MODVM_PCI_COMMAND_INTX_DISABLE)
/* master data parity error (8), signaled/received target abort (11, 12), received master abort
 * (13), signaled system error (14), detected parity error (15) */
#define PCI_STATUS_W1C 0xf900u

void pci_bdf_name(const struct pci_func *fn, char *buf, size_t len)
{
    snprintf(buf, len, "00:%02x.%u", fn->devfn >> 3, fn->devfn & 7u);
}

void pci_cfg_set(struct pci_func *fn, uint32_t offset, unsigned size, uint32_t value, uint32_t wmask, uint32_t w1c)
{
    le_put(fn->cfg + offset, value, size);
    le_put(fn->wmask + offset, wmask, size);
    le_put(fn->w1c + offset, w1c, size);
}

void pci_cfg_init_header(struct pci_func *fn, const struct modvm_pci_func *id)
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

void pci_cfg_guest_write(struct pci_func *fn, uint32_t offset, uint32_t value, unsigned size)
{
    for (unsigned i = 0; i < size; i++) {
        uint32_t at = offset + i;
        uint8_t byte = (uint8_t)(value >> (8 * i));
        uint8_t v = (uint8_t)((fn->cfg[at] & ~fn->wmask[at]) | (byte & fn->wmask[at]));
        fn->cfg[at] = (uint8_t)(v & ~(byte & fn->w1c[at]));
    }
    bool command = pci_overlap(offset, size, MODVM_PCI_COMMAND, 2);
    if (command || pci_overlap(offset, size, MODVM_PCI_BAR0, PCI_BAR_END - MODVM_PCI_BAR0) ||
        pci_overlap(offset, size, PCI_ROM_ADDRESS, 4))
        pci_bars_update(fn);
    if (command)
        pci_intx_update(fn);
    pci_msix_config_written(fn, offset, size);
    pci_msi_config_written(fn, offset, size);
}

/* The header registers back to power-on: command 0 (so every BAR and the ROM are unmapped), BAR and
 * ROM addresses 0, cache line size and interrupt line 0, status bits other than the capabilities bit
 * clear, MSI and MSI-X reset, INTx low. Device-specific registers are the device's (its reset
 * callback). */
void pci_cfg_reset(struct pci_func *fn)
{
    le_put(fn->cfg + MODVM_PCI_COMMAND, 0, 2);
    uint16_t status = (uint16_t)le_get(fn->cfg + MODVM_PCI_STATUS, 2);
    le_put(fn->cfg + MODVM_PCI_STATUS, status & PCI_STATUS_CAP_LIST, 2);
    fn->cfg[PCI_CACHE_LINE_SIZE] = 0;
    fn->cfg[MODVM_PCI_INTERRUPT_LINE] = 0;
    pci_bars_reset(fn);
    pci_msix_reset(fn);
    pci_msi_reset(fn);
    fn->intx_level = false;
    pci_intx_update(fn);
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
int pci_hlp_config_init(struct modvm_dev *dev, modvm_pci_handle h, uint32_t offset, unsigned size, uint32_t value,
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
uint32_t pci_hlp_config_get(struct modvm_dev *dev, modvm_pci_handle h, uint32_t offset, unsigned size)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn || size < 1 || size > 4 || offset > fn->cfg_size || size > fn->cfg_size - offset)
        return 0xffffffffu;
    pthread_mutex_lock(&fn->lock);
    uint32_t v = (uint32_t)le_get(fn->cfg + offset, size);
    pthread_mutex_unlock(&fn->lock);
    return v;
}

/* In the first free dword-aligned gap of 0x40-0xff; linked at the end of the list. */
int pci_cap_alloc(struct pci_func *fn, uint8_t cap_id, uint8_t size, enum pci_byte_kind body, uint8_t *out)
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
int pci_hlp_cap_add(struct modvm_dev *dev, modvm_pci_handle h, uint8_t cap_id, uint8_t size, uint8_t *offset)
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
