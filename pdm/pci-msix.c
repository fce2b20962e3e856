/* pdm/pci-msix.c — MSI-X (PCI Local Bus 3.0 §6.8.2): the capability (Message Control with the
 * enable and function-mask bits; table and PBA locations), the vector table and pending-bit array the
 * core serves inside a memory BAR of the function, per-vector masking with pending bits, and delivery
 * through pci-msi.c's message path. Attacker model and locks: pci-bus.c. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/err.h"
#include "pci-internal.h"

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

/* Sends vector `v`'s message from its table entry (function lock held). */
static int pci_msix_send(struct pci_func *fn, unsigned v)
{
    const uint8_t *e = fn->msix->table + v * PCI_MSIX_ENTRY_SIZE;
    return pci_msg_send(fn, "MSI-X", v, le_get(e, 8), (uint32_t)le_get(e + PCI_MSIX_ENTRY_DATA, 4));
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

bool pci_msix_on(const struct pci_func *fn)
{
    return fn->msix && fn->msix->enabled;
}

/* The guest wrote the Message Control register: take the enable and function-mask bits, deliver
 * what was held back by a mask now gone, and when the enable bit changed re-evaluate INTx and plain
 * MSI (which MSI-X overrides) (function lock held). */
void pci_msix_config_written(struct pci_func *fn, uint32_t offset, unsigned size)
{
    struct pci_msix *m = fn->msix;
    if (!m || !pci_overlap(offset, size, m->cap + PCI_MSIX_CONTROL, 2))
        return;
    uint16_t ctrl = (uint16_t)le_get(fn->cfg + m->cap + PCI_MSIX_CONTROL, 2);
    bool was_enabled = m->enabled;
    m->enabled = (ctrl & PCI_MSIX_CONTROL_ENABLE) != 0;
    m->masked = (ctrl & PCI_MSIX_CONTROL_MASKALL) != 0;
    if (m->enabled && !m->masked)
        for (unsigned v = 0; v < m->nvectors; v++)
            pci_msix_try_deliver(fn, v);
    if (m->enabled != was_enabled) {
        pci_intx_update(fn);
        pci_msi_deliver_pending(fn);
    }
}

/* Disabled, unmasked function, every vector masked with a zero message, nothing pending. */
void pci_msix_reset(struct pci_func *fn)
{
    struct pci_msix *m = fn->msix;
    if (!m)
        return;
    uint8_t *ctrl = fn->cfg + m->cap + PCI_MSIX_CONTROL + 1;
    *ctrl &= (uint8_t)~((PCI_MSIX_CONTROL_ENABLE | PCI_MSIX_CONTROL_MASKALL) >> 8);
    m->enabled = m->masked = false;
    memset(m->table, 0, m->table_size);
    for (unsigned v = 0; v < m->nvectors; v++)
        m->table[v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_CONTROL] = PCI_MSIX_VECTOR_MASKED;
    memset(m->pba, 0, m->pba_size);
}

void pci_msix_free(struct pci_msix *m)
{
    free(m->table);
    free(m->pba);
    free(m);
}

/* ---- the table and PBA in the BAR ------------------------------------------------------------------- */

/* Where an access to a memory BAR lands. */
enum pci_msix_part { PCI_PART_DEVICE, PCI_PART_TABLE, PCI_PART_PBA, PCI_PART_STRADDLE };

/* Classifies an access of `size` at `off` of BAR `b`; for the table and PBA, *rel is the offset
 * inside them. The MSI-X layout is fixed after construct, so no lock is needed. */
static enum pci_msix_part pci_msix_part(const struct pci_bar *b, uint64_t off, unsigned size, uint32_t *rel)
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

bool pci_msix_mmio(struct modvm_dev *dev, struct pci_bar *b, uint64_t off, unsigned size, bool write, uint64_t *value)
{
    struct pci_func *fn = b->fn;
    uint32_t rel = 0;
    enum pci_msix_part part = pci_msix_part(b, off, size, &rel);
    if (part == PCI_PART_DEVICE)
        return false;
    if (part == PCI_PART_STRADDLE) {
        modvm_dev_guest_error(dev, "%u-byte %s at BAR%u+0x%llx straddles the MSI-X table or PBA", size,
                              write ? "write" : "read", b->index, (unsigned long long)off);
        if (!write)
            *value = ~0ull;
        return true;
    }
    pthread_mutex_lock(&fn->lock);
    if (!write)
        *value = le_get((part == PCI_PART_TABLE ? fn->msix->table : fn->msix->pba) + rel, size);
    else if (part == PCI_PART_TABLE)
        pci_msix_table_write(fn, rel, *value, size); /* the PBA is read-only */
    pthread_mutex_unlock(&fn->lock);
    return true;
}

/* ---- helper table ----------------------------------------------------------------------------------- */

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
int pci_hlp_msix_init(struct modvm_dev *dev, modvm_pci_handle h, unsigned nvectors, unsigned bar,
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
        pci_msix_free(m);
    }
    pthread_mutex_unlock(&fn->lock);
    if (why)
        return modvm_err_set(rc, "%s: MSI-X: %s", fn->dev->name, why);
    return rc;
}

/* modvm_pci_hlp.msix_notify. */
int pci_hlp_msix_notify(struct modvm_dev *dev, modvm_pci_handle h, unsigned vector)
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
bool pci_hlp_msix_enabled(struct modvm_dev *dev, modvm_pci_handle h)
{
    struct pci_func *fn = pci_func_of(dev, h);
    if (!fn)
        return false;
    pthread_mutex_lock(&fn->lock);
    bool on = pci_msix_on(fn);
    pthread_mutex_unlock(&fn->lock);
    return on;
}
