/* pdm/pci-msi.c — message signalled interrupts: the one path by which MSI and MSI-X messages leave a
 * function (to the VM's interrupt controller: KVM's MSI injection), and plain MSI (PCI Local Bus 3.0
 * §6.8.1): the capability the core serves — Message Control (enable, Multiple Message Capable /
 * Enable, 64-bit and per-vector-masking capable), the 32- or 64-bit Message Address, the 16-bit
 * Message Data, and with per-vector masking the Mask and Pending Bits — with delivery per the
 * multiple-message rules (§6.8.3.4: the function replaces the low log2(enabled count) bits of the
 * data with the vector number). All MSI state lives in the capability's config bytes.
 *
 * Rules the guest cannot bend: Multiple Message Enable is held at most at Multiple Message Capable
 * (QEMU does the same); a vector beyond the enabled count shares the message of the vector its low
 * bits name (the function may modify no more data bits); masked vectors set their pending bit and
 * are sent when unmasked; nothing leaves a function that is not a bus master; with MSI-X also enabled
 * (undefined in §6.8.2) MSI-X wins and MSI is silent. Attacker model and locks: pci-bus.c. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "../core/vm.h"
#include "pci-internal.h"

#define PCI_CAP_ID_MSI 0x05u
#define PCI_MSI_CONTROL 2u /* offsets inside the capability */
#define PCI_MSI_ADDRESS_LO 4u
#define PCI_MSI_ADDRESS_HI 8u    /* 64-bit capable only */
#define PCI_MSI_DATA_32 8u
#define PCI_MSI_DATA_64 12u
#define PCI_MSI_CONTROL_ENABLE 0x0001u
#define PCI_MSI_CONTROL_MMC_SHIFT 1u
#define PCI_MSI_CONTROL_MME_SHIFT 4u
#define PCI_MSI_CONTROL_MME 0x0070u
#define PCI_MSI_CONTROL_64BIT 0x0080u
#define PCI_MSI_CONTROL_MASKABLE 0x0100u
#define PCI_MSI_ADDRESS_LO_WMASK 0xfffffffcu /* bits 1:0 are reserved */
#define PCI_MSI_MAX_VECTORS 32u
#define PCI_MSI_ADDR_WINDOW_MASK 0xfff00000ull
#define PCI_MSI_ADDR_WINDOW 0xfee00000ull

/* The layout of a function's MSI capability (fixed by msi_init). */
struct pci_msi {
    uint8_t cap;       /* config offset of the capability */
    uint8_t size;      /* its bytes */
    uint8_t data;      /* offset of Message Data inside it */
    uint8_t mask;      /* offset of the Mask Bits (Pending Bits follow), 0 without per-vector masking */
    unsigned log2_max; /* Multiple Message Capable: log2 of the vectors the device has */
    bool is64;
};

int pci_msg_send(struct pci_func *fn, const char *what, unsigned v, uint64_t addr, uint32_t data)
{
    if (!(pci_command(fn) & MODVM_PCI_COMMAND_MASTER))
        return 0; /* a message is a memory write: none without bus mastering */
    if ((addr & PCI_MSI_ADDR_WINDOW_MASK) != PCI_MSI_ADDR_WINDOW || (addr >> 32) != 0) {
        char bdf[16];
        pci_bdf_name(fn, bdf, sizeof(bdf));
        modvm_dev_guest_error(&fn->dev->pub, "PCI %s: %s vector %u has address 0x%llx outside the "
                              "interrupt window 0xfee00000; message dropped", bdf, what, v, (unsigned long long)addr);
        return 0;
    }
    return vm_msi_send(fn->dev->vm, addr, data);
}

/* Config bytes of the capability: `size` of them at `off` inside it. */
static uint32_t pci_msi_get(const struct pci_func *fn, unsigned off, unsigned size)
{
    return (uint32_t)le_get(fn->cfg + fn->msi->cap + off, size);
}
static void pci_msi_put(struct pci_func *fn, unsigned off, uint32_t value, unsigned size)
{
    le_put(fn->cfg + fn->msi->cap + off, value, size);
}

/* How many vectors the guest enabled (Multiple Message Enable, never more than the device has: the
 * register is held there too, this keeps every shift below by 32 on its own). */
static unsigned pci_msi_enabled_count(const struct pci_func *fn)
{
    unsigned mme = (pci_msi_get(fn, PCI_MSI_CONTROL, 2) & PCI_MSI_CONTROL_MME) >> PCI_MSI_CONTROL_MME_SHIFT;
    return 1u << (mme < fn->msi->log2_max ? mme : fn->msi->log2_max);
}

/* True when vector `v` is masked (never without per-vector masking). */
static bool pci_msi_masked(const struct pci_func *fn, unsigned v)
{
    return fn->msi->mask && ((pci_msi_get(fn, fn->msi->mask, 4) >> v) & 1u);
}

/* True when vector `v` is pending. */
static bool pci_msi_pending(const struct pci_func *fn, unsigned v)
{
    return fn->msi->mask && ((pci_msi_get(fn, fn->msi->mask + 4u, 4) >> v) & 1u);
}

/* Sets or clears vector `v`'s pending bit (per-vector masking only). */
static void pci_msi_set_pending(struct pci_func *fn, unsigned v, bool on)
{
    uint32_t bits = pci_msi_get(fn, fn->msi->mask + 4u, 4);
    bits = on ? bits | (1u << v) : bits & ~(1u << v);
    pci_msi_put(fn, fn->msi->mask + 4u, bits, 4);
}

/* Sends vector `v` (below the enabled count): the programmed address, the data with its low bits
 * replaced by the vector number (function lock held). */
static int pci_msi_send(struct pci_func *fn, unsigned v)
{
    const struct pci_msi *m = fn->msi;
    uint64_t addr = pci_msi_get(fn, PCI_MSI_ADDRESS_LO, 4);
    if (m->is64)
        addr |= (uint64_t)pci_msi_get(fn, PCI_MSI_ADDRESS_HI, 4) << 32;
    uint32_t low = pci_msi_enabled_count(fn) - 1u;
    uint32_t data = (pci_msi_get(fn, m->data, 2) & ~low) | (v & low);
    return pci_msg_send(fn, "MSI", v, addr, data);
}

bool pci_msi_active(const struct pci_func *fn)
{
    return fn->msi && (pci_msi_get(fn, PCI_MSI_CONTROL, 2) & PCI_MSI_CONTROL_ENABLE) && !pci_msix_on(fn);
}

void pci_msi_deliver_pending(struct pci_func *fn)
{
    if (!pci_msi_active(fn) || !fn->msi->mask)
        return;
    unsigned n = pci_msi_enabled_count(fn);
    for (unsigned v = 0; v < n; v++) {
        if (pci_msi_pending(fn, v) && !pci_msi_masked(fn, v)) {
            pci_msi_set_pending(fn, v, false);
            pci_msi_send(fn, v);
        }
    }
}

/* Holds Multiple Message Enable at most at Multiple Message Capable (§6.8.1.3: software must not write
 * more), re-evaluates INTx for the enable bit and sends what a mask or a disable held back. */
void pci_msi_config_written(struct pci_func *fn, uint32_t offset, unsigned size)
{
    struct pci_msi *m = fn->msi;
    if (!m || !pci_overlap(offset, size, m->cap, m->size))
        return;
    uint32_t ctrl = pci_msi_get(fn, PCI_MSI_CONTROL, 2);
    if (((ctrl & PCI_MSI_CONTROL_MME) >> PCI_MSI_CONTROL_MME_SHIFT) > m->log2_max)
        pci_msi_put(fn, PCI_MSI_CONTROL, (ctrl & ~PCI_MSI_CONTROL_MME) | (m->log2_max << PCI_MSI_CONTROL_MME_SHIFT),
                    2);
    pci_intx_update(fn);
    pci_msi_deliver_pending(fn);
}

/* Disabled, one vector enabled, address and data 0, nothing masked or pending. */
void pci_msi_reset(struct pci_func *fn)
{
    struct pci_msi *m = fn->msi;
    if (!m)
        return;
    uint32_t ctrl = pci_msi_get(fn, PCI_MSI_CONTROL, 2);
    pci_msi_put(fn, PCI_MSI_CONTROL, ctrl & ~(PCI_MSI_CONTROL_ENABLE | PCI_MSI_CONTROL_MME), 2);
    memset(fn->cfg + m->cap + PCI_MSI_ADDRESS_LO, 0, m->size - PCI_MSI_ADDRESS_LO);
}

/* ---- helper table ----------------------------------------------------------------------------------- */

/* Sets up the capability's registers and write masks (function lock held, capability allocated). */
static void pci_msi_init_regs(struct pci_func *fn, unsigned nvectors)
{
    const struct pci_msi *m = fn->msi;
    uint32_t ctrl = (m->log2_max << PCI_MSI_CONTROL_MMC_SHIFT) | (m->is64 ? PCI_MSI_CONTROL_64BIT : 0u) |
                    (m->mask ? PCI_MSI_CONTROL_MASKABLE : 0u);
    pci_cfg_set(fn, m->cap + PCI_MSI_CONTROL, 2, ctrl, PCI_MSI_CONTROL_ENABLE | PCI_MSI_CONTROL_MME, 0);
    pci_cfg_set(fn, m->cap + PCI_MSI_ADDRESS_LO, 4, 0, PCI_MSI_ADDRESS_LO_WMASK, 0);
    if (m->is64)
        pci_cfg_set(fn, m->cap + PCI_MSI_ADDRESS_HI, 4, 0, 0xffffffffu, 0);
    pci_cfg_set(fn, m->cap + m->data, 2, 0, 0xffffu, 0);
    if (m->mask) /* a mask bit for each vector the device has; the pending bits are read-only */
        pci_cfg_set(fn, m->cap + m->mask, 4, 0, (uint32_t)((1ull << nvectors) - 1u), 0);
}

/* modvm_pci_hlp.msi_init. */
int pci_hlp_msi_init(struct modvm_dev *dev, modvm_pci_handle h, unsigned nvectors, uint32_t flags)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn)
        return -EINVAL;
    const char *why = NULL;
    if (nvectors < 1 || nvectors > PCI_MSI_MAX_VECTORS || (nvectors & (nvectors - 1)) != 0)
        why = "the vector count must be 1, 2, 4, 8, 16 or 32";
    else if (flags & ~(MODVM_PCI_MSI_64BIT | MODVM_PCI_MSI_MASKABLE))
        why = "unknown flags";
    struct pci_msi *m = why ? NULL : calloc(1, sizeof(*m));
    if (!why && !m)
        return -ENOMEM;
    int rc = why ? -EINVAL : 0;
    pthread_mutex_lock(&fn->lock);
    if (!why && fn->msi) {
        why = "MSI is already set up";
        rc = -EINVAL;
    }
    if (!why) {
        while ((1u << m->log2_max) < nvectors)
            m->log2_max++;
        m->is64 = (flags & MODVM_PCI_MSI_64BIT) != 0;
        m->data = m->is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32;
        m->mask = (flags & MODVM_PCI_MSI_MASKABLE) ? (uint8_t)(m->data + 4u) : 0u;
        m->size = m->mask ? (uint8_t)(m->mask + 8u) : (uint8_t)(m->data + 4u); /* whole dwords */
        if ((rc = pci_cap_alloc(fn, PCI_CAP_ID_MSI, m->size, PCI_BYTE_CORE, &m->cap)) == -ENOSPC)
            why = "no room for the capability";
    }
    if (rc == 0) {
        fn->msi = m;
        pci_msi_init_regs(fn, nvectors);
    } else {
        free(m);
    }
    pthread_mutex_unlock(&fn->lock);
    if (why)
        return modvm_err_set(rc, "%s: MSI: %s", fn->dev->name, why);
    return rc;
}

/* modvm_pci_hlp.msi_notify. */
int pci_hlp_msi_notify(struct modvm_dev *dev, modvm_pci_handle h, unsigned vector)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn)
        return -EINVAL;
    pthread_mutex_lock(&fn->lock);
    int rc = 0;
    if (!fn->msi || vector >= (1u << fn->msi->log2_max)) {
        rc = -EINVAL;
    } else if (!pci_msi_active(fn)) {
        rc = -ENOTCONN;
    } else {
        unsigned v = vector & (pci_msi_enabled_count(fn) - 1u);
        if (pci_msi_masked(fn, v))
            pci_msi_set_pending(fn, v, true);
        else
            rc = pci_msi_send(fn, v);
    }
    pthread_mutex_unlock(&fn->lock);
    return rc;
}

/* modvm_pci_hlp.msi_enabled. */
bool pci_hlp_msi_enabled(struct modvm_dev *dev, modvm_pci_handle h)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn)
        return false;
    pthread_mutex_lock(&fn->lock);
    bool on = pci_msi_active(fn);
    pthread_mutex_unlock(&fn->lock);
    return on;
}
