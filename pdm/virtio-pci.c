/* pdm/virtio-pci.c — the core's one virtio transport: transitional virtio-pci (struct
 * modvm_virtio_hlp, MODVM_IFACE_VIRTIO).
 *
 * Spec: Virtual I/O Device (VIRTIO) Version 1.2, §4.1 "Virtio Over PCI Bus": PCI IDs (§4.1.2: vendor
 * 0x1AF4, transitional device IDs 0x1000-0x103F with subsystem ID = virtio device ID and revision 0,
 * modern-only 0x1040 + ID with revision 1), the vendor-specific capabilities (§4.1.4: common config,
 * notifications with notify_off_multiplier, ISR status, device config, PCI configuration access),
 * the legacy I/O BAR (§4.1.4.10 "Legacy Interfaces: A Note on PCI Device Layout" — virtio 0.9.5's
 * header, MSI-X vector registers while MSI-X is on, then device config; §2.7.2 for its fixed ring
 * layout), MSI-X (§4.1.4.3, §4.1.5) and INTx with the ISR status (§4.1.4.5); device status (§2.1,
 * §3.1 driver initialisation), feature bits (§2.2, §6), the reset rules (§2.4). The virtqueues
 * themselves are virtqueue.c's.
 *
 * The function is built from PCI's public helper table (modvm_pci_hlp(dev), <modvm/pci.h>): the
 * core registers it like any device would.
 *   BAR0 (I/O, transitional devices only)  the legacy header + device config
 *   BAR4 (64-bit memory, 32 KiB)            0x0000 common config   0x1000 ISR   0x2000 device config
 *                                           0x3000 notifications (4 bytes per queue)
 *                                           0x4000 MSI-X table, 0x6000 PBA (served by the PCI core)
 * MSI-X has one vector for config changes plus one per queue (the driver chooses the mapping).
 *
 * Attacker model: every register value comes from the guest. Queue configuration is accepted only
 * before DRIVER_OK and only for a queue that is not enabled; it is validated once, when the queue is
 * enabled (modern queue_enable, legacy PFN), by virtqueue.c. Features the device did not offer fail
 * FEATURES_OK. A queue error (from virtqueue.c) or the device's needs_reset sets DEVICE_NEEDS_RESET:
 * the queues stop, the driver gets a configuration interrupt if it is running, and only a reset
 * (status 0) clears it. Selectors beyond the queue or feature count read as absent. Accesses of the
 * wrong width are guest errors, never crashes.
 *
 * Threads and locks: BAR and config callbacks come from PCI with the device's lock held; helpers are
 * called by the device with its lock held; so all state here is under the device lock. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/pci.h>
#include <modvm/virtio.h>

#include "../core/vm.h"
#include "internal.h"
#include "virtqueue.h"

/* ---- the spec's numbers ------------------------------------------------------------------------- */

#define VPCI_VENDOR 0x1af4u
#define VPCI_MODERN_DEVICE_BASE 0x1040u
#define VPCI_MODERN_SUBSYS_MIN 0x40u

/* Device status (§2.1). */
#define VPCI_S_ACKNOWLEDGE 0x01u
#define VPCI_S_DRIVER 0x02u
#define VPCI_S_DRIVER_OK 0x04u
#define VPCI_S_FEATURES_OK 0x08u
#define VPCI_S_NEEDS_RESET 0x40u
#define VPCI_S_FAILED 0x80u

/* ISR status bits (§4.1.4.5). */
#define VPCI_ISR_QUEUE 0x1u
#define VPCI_ISR_CONFIG 0x2u

/* Capability (§4.1.4): cap_vndr, cap_next, cap_len, cfg_type, bar, id, padding[2], offset, length. */
#define VPCI_CAP_ID_VNDR 0x09u
#define VPCI_CAP_COMMON 1u
#define VPCI_CAP_NOTIFY 2u
#define VPCI_CAP_ISR 3u
#define VPCI_CAP_DEVICE 4u
#define VPCI_CAP_PCI_CFG 5u
#define VPCI_CAP_LEN 16u
#define VPCI_CAP_NOTIFY_LEN 20u  /* + notify_off_multiplier */
#define VPCI_CAP_PCICFG_LEN 20u  /* + pci_cfg_data[4] */
#define VPCI_CAP_OFF_BAR 4u
#define VPCI_CAP_OFF_OFFSET 8u
#define VPCI_CAP_OFF_LENGTH 12u
#define VPCI_CAP_OFF_EXTRA 16u

/* The modern BAR (see the file comment). */
#define VPCI_MODERN_BAR 4u
#define VPCI_MODERN_BAR_SIZE 0x8000u
#define VPCI_COMMON_OFF 0x0000u
#define VPCI_ISR_OFF 0x1000u
#define VPCI_DEVICE_OFF 0x2000u
#define VPCI_NOTIFY_OFF 0x3000u
#define VPCI_MSIX_TABLE_OFF 0x4000u
#define VPCI_MSIX_PBA_OFF 0x6000u
#define VPCI_WINDOW 0x1000u
#define VPCI_NOTIFY_MULT 4u

/* struct virtio_pci_common_cfg (§4.1.4.3). */
#define VPCI_CC_DFSELECT 0x00u
#define VPCI_CC_DF 0x04u
#define VPCI_CC_GFSELECT 0x08u
#define VPCI_CC_GF 0x0cu
#define VPCI_CC_MSIX_CONFIG 0x10u
#define VPCI_CC_NUM_QUEUES 0x12u
#define VPCI_CC_STATUS 0x14u
#define VPCI_CC_CFG_GENERATION 0x15u
#define VPCI_CC_Q_SELECT 0x16u
#define VPCI_CC_Q_SIZE 0x18u
#define VPCI_CC_Q_MSIX 0x1au
#define VPCI_CC_Q_ENABLE 0x1cu
#define VPCI_CC_Q_NOTIFY_OFF 0x1eu
#define VPCI_CC_Q_DESC 0x20u
#define VPCI_CC_Q_DRIVER 0x28u
#define VPCI_CC_Q_DEVICE 0x30u
#define VPCI_CC_LEN 0x38u /* VIRTIO 1.0's struct; the 1.2 additions need features not offered */

/* The legacy header (§4.1.4.10). */
#define VPCI_LEGACY_BAR 0u
#define VPCI_L_HOST_FEATURES 0x00u
#define VPCI_L_GUEST_FEATURES 0x04u
#define VPCI_L_QUEUE_PFN 0x08u
#define VPCI_L_QUEUE_SIZE 0x0cu
#define VPCI_L_QUEUE_SEL 0x0eu
#define VPCI_L_QUEUE_NOTIFY 0x10u
#define VPCI_L_STATUS 0x12u
#define VPCI_L_ISR 0x13u
#define VPCI_L_MSIX_CONFIG 0x14u
#define VPCI_L_MSIX_QUEUE 0x16u
#define VPCI_L_CONFIG_NOMSIX 0x14u
#define VPCI_L_CONFIG_MSIX 0x18u
#define VPCI_L_MAX_BAR 256u      /* an I/O BAR larger than this would not fit guests' port maps */
#define VPCI_L_PFN_SHIFT 12u     /* the legacy queue address is a 4 KiB page number */
#define VPCI_L_ALIGN 4096u       /* legacy used-ring alignment */

/* Limits of this transport. */
#define VPCI_MAX_QUEUES 256u
#define VPCI_MAX_CONFIG VPCI_WINDOW

/* Feature bits a device may use: 0-23 and 50-63 are device-specific (§6); the rest belong to the
 * transport and the queue mechanism. */
#define VPCI_DEVICE_FEATURE_MASK (((1ull << 24) - 1) | ~((1ull << 50) - 1))
#define VPCI_TRANSPORT_FEATURES \
    (1ull << MODVM_VIRTIO_F_INDIRECT_DESC | 1ull << MODVM_VIRTIO_F_EVENT_IDX | 1ull << MODVM_VIRTIO_F_VERSION_1)

/* ---- state -------------------------------------------------------------------------------------- */

/* One queue and its transport-side extras. */
struct vpci_queue {
    struct virtq vq;
    bool kick_pending; /* kicked before DRIVER_OK: delivered when the driver is ready */
};

/* A virtio device on the transport (the opaque modvm_virtio_handle). */
struct modvm_virtio_ {
    struct modvm_dev *dev;
    const struct modvm_pci_hlp *pci;
    modvm_pci_handle fn;
    struct modvm_virtio_dev desc; /* the device's description (copied) */
    void *user;
    bool transitional;            /* has the legacy BAR0 */
    uint32_t legacy_bar_size;
    uint16_t nvectors;            /* MSI-X: config + one per queue */
    uint8_t pcicfg_cap;           /* offset of the PCI configuration access capability */
    /* guest-visible state */
    uint8_t status;
    uint8_t isr;
    uint8_t config_generation;
    bool intx_level;
    bool told_running;            /* status_changed(true) was called and not yet undone */
    uint64_t host_features;       /* what is offered */
    uint64_t guest_features;      /* what the driver accepted */
    uint32_t dfselect, gfselect;
    uint16_t queue_select;
    uint16_t config_vector;
    struct vpci_queue *queues;    /* desc.num_queues */
};

typedef struct modvm_virtio_ vpci;

/* ---- helpers ------------------------------------------------------------------------------------ */

/* Guest memory of the device's VM. */
static struct pgm *vpci_pgm(vpci *v)
{
    return vm_pgm(((struct pdm_dev *)v->dev)->vm);
}

/* The selected queue, or NULL when the selector is beyond the queues. */
static struct vpci_queue *vpci_selected(vpci *v)
{
    return v->queue_select < v->desc.num_queues ? &v->queues[v->queue_select] : NULL;
}

/* Brings the INTx line to `level` when it changed. */
static void vpci_intx(vpci *v, bool level)
{
    if (level == v->intx_level)
        return;
    v->intx_level = level;
    (void)v->pci->intx_set(v->dev, v->fn, level ? MODVM_IRQ_HIGH : MODVM_IRQ_LOW);
}

/* Interrupts the driver: the MSI-X vector when MSI-X is on (none when the driver mapped none), else
 * the ISR bit and INTx (§4.1.5.3, §4.1.5.4). */
static void vpci_raise(vpci *v, uint16_t vector, uint8_t isr_bit)
{
    if (v->pci->msix_enabled(v->dev, v->fn)) {
        vpci_intx(v, false);
        if (vector != VIRTQ_NO_VECTOR && vector < v->nvectors)
            (void)v->pci->msix_notify(v->dev, v->fn, vector);
        return;
    }
    v->isr |= isr_bit;
    vpci_intx(v, true);
}

/* Sets DEVICE_NEEDS_RESET after a driver error (§2.1.2): the queues stop until a reset, and a driver
 * that is running is told through a configuration interrupt. */
static void vpci_fail(vpci *v, const char *why)
{
    modvm_dev_guest_error(v->dev, "virtio: %s; the device needs a reset", why);
    if (v->status & VPCI_S_NEEDS_RESET)
        return;
    v->status |= VPCI_S_NEEDS_RESET;
    if (v->status & VPCI_S_DRIVER_OK) {
        v->config_generation++;
        vpci_raise(v, v->config_vector, VPCI_ISR_CONFIG);
    }
}

/* True while the driver may use the queues: DRIVER_OK, not FAILED, not NEEDS_RESET. */
static bool vpci_running(const vpci *v)
{
    return (v->status & (VPCI_S_DRIVER_OK | VPCI_S_FAILED | VPCI_S_NEEDS_RESET)) == VPCI_S_DRIVER_OK;
}

/* Hands the negotiated queue features to the engine. */
static void vpci_apply_features(vpci *v)
{
    for (unsigned q = 0; q < v->desc.num_queues; q++) {
        v->queues[q].vq.indirect = (v->guest_features >> MODVM_VIRTIO_F_INDIRECT_DESC) & 1u;
        v->queues[q].vq.event_idx = (v->guest_features >> MODVM_VIRTIO_F_EVENT_IDX) & 1u;
    }
}

/* Device reset (§2.4): everything the driver set goes back to its initial value. `tell` calls the
 * device's status_changed(false) when it had been told the driver runs it. */
static void vpci_reset(vpci *v, bool tell)
{
    bool was_running = v->told_running;
    v->told_running = false;
    v->status = 0;
    v->isr = 0;
    vpci_intx(v, false);
    v->guest_features = 0;
    v->dfselect = v->gfselect = 0;
    v->queue_select = 0;
    v->config_vector = VIRTQ_NO_VECTOR;
    for (unsigned q = 0; q < v->desc.num_queues; q++) {
        virtq_reset(&v->queues[q].vq);
        v->queues[q].kick_pending = false;
    }
    if (tell && was_running && v->desc.status_changed)
        v->desc.status_changed(v->dev, v->user, false);
}

/* Enables a queue after its configuration was written; a bad configuration needs a reset. */
static void vpci_queue_enable(vpci *v, unsigned q)
{
    struct virtq *vq = &v->queues[q].vq;
    vpci_apply_features(v);
    if (virtq_enable(vq, vpci_pgm(v)) < 0) {
        char why[192];
        snprintf(why, sizeof(why), "queue %u: %s", q, vq->error);
        vpci_fail(v, why);
    }
}

/* A driver notification for queue `q` (either interface). Before DRIVER_OK it is remembered and
 * delivered once the driver is ready (old legacy drivers kick early). */
static void vpci_kick(vpci *v, uint32_t q)
{
    if (q >= v->desc.num_queues) {
        modvm_dev_guest_error(v->dev, "virtio: notification for queue %u of %u", q, v->desc.num_queues);
        return;
    }
    if (!v->queues[q].vq.enabled)
        return;
    if (!vpci_running(v)) {
        v->queues[q].kick_pending = !(v->status & (VPCI_S_FAILED | VPCI_S_NEEDS_RESET));
        return;
    }
    if (v->desc.queue_notify)
        v->desc.queue_notify(v->dev, v->user, q);
}

/* A driver write of the device status (§2.1, §3.1.1), from either interface. */
static void vpci_set_status(vpci *v, uint8_t val, bool legacy)
{
    if (val == 0) {
        vpci_reset(v, true);
        return;
    }
    uint8_t old = v->status;
    val &= (uint8_t)~VPCI_S_NEEDS_RESET; /* the device's bit */
    if (old & ~val & ~VPCI_S_NEEDS_RESET) {
        modvm_dev_guest_error(v->dev, "virtio: status 0x%02x clears bits of 0x%02x (only a reset may)", val, old);
        val |= old & (uint8_t)~VPCI_S_NEEDS_RESET;
    }
    uint8_t added = val & (uint8_t)~old;
    if ((added & VPCI_S_FEATURES_OK) && !legacy) {
        uint64_t extra = v->guest_features & ~v->host_features;
        if (extra || !((v->guest_features >> MODVM_VIRTIO_F_VERSION_1) & 1u)) {
            modvm_dev_guest_error(v->dev, "virtio: FEATURES_OK refused: %s (driver 0x%llx, device 0x%llx)",
                                  extra ? "features the device did not offer" : "VERSION_1 not accepted",
                                  (unsigned long long)v->guest_features, (unsigned long long)v->host_features);
            val &= (uint8_t)~VPCI_S_FEATURES_OK;
            added &= (uint8_t)~VPCI_S_FEATURES_OK;
        }
    }
    if ((added & VPCI_S_DRIVER_OK) && !legacy && !(val & VPCI_S_FEATURES_OK)) {
        modvm_dev_guest_error(v->dev, "virtio: DRIVER_OK without FEATURES_OK");
        val &= (uint8_t)~VPCI_S_DRIVER_OK;
        added &= (uint8_t)~VPCI_S_DRIVER_OK;
    }
    v->status = val | (old & VPCI_S_NEEDS_RESET);
    if ((added & VPCI_S_DRIVER_OK) && !(v->status & (VPCI_S_FAILED | VPCI_S_NEEDS_RESET))) {
        vpci_apply_features(v);
        v->told_running = true;
        if (v->desc.status_changed)
            v->desc.status_changed(v->dev, v->user, true);
        for (unsigned q = 0; q < v->desc.num_queues && vpci_running(v); q++) {
            if (v->queues[q].kick_pending) {
                v->queues[q].kick_pending = false;
                vpci_kick(v, q);
            }
        }
    }
}

/* True (after a guest-error line) when queue configuration may no longer be written. */
static bool vpci_queue_config_locked(vpci *v, const char *what)
{
    if (v->status & VPCI_S_DRIVER_OK) {
        modvm_dev_guest_error(v->dev, "virtio: %s written after DRIVER_OK (ignored)", what);
        return true;
    }
    struct vpci_queue *q = vpci_selected(v);
    if (!q) {
        modvm_dev_guest_error(v->dev, "virtio: %s written for absent queue %u", what, v->queue_select);
        return true;
    }
    if (q->vq.enabled) {
        modvm_dev_guest_error(v->dev, "virtio: %s written while queue %u is enabled (ignored)", what,
                              v->queue_select);
        return true;
    }
    return false;
}

/* An MSI-X vector the driver writes: kept when it exists, else NO_VECTOR (which the driver reads back
 * to learn the mapping failed, §4.1.5.1.2). */
static uint16_t vpci_vector(vpci *v, uint32_t value)
{
    return value < v->nvectors ? (uint16_t)value : (uint16_t)VIRTQ_NO_VECTOR;
}

/* Device-specific config read of any width, bounded by config_size; 8 bytes as two 4-byte reads. */
static uint64_t vpci_devcfg_read(vpci *v, uint64_t off, unsigned size)
{
    if (size == 8)
        return vpci_devcfg_read(v, off, 4) | vpci_devcfg_read(v, off + 4, 4) << 32;
    if (off >= v->desc.config_size || size > v->desc.config_size - off || !v->desc.config_read)
        return 0;
    return v->desc.config_read(v->dev, v->user, (uint32_t)off, size);
}

/* Device-specific config write, bounded likewise. */
static void vpci_devcfg_write(vpci *v, uint64_t off, uint64_t value, unsigned size)
{
    if (size == 8) {
        vpci_devcfg_write(v, off, value & 0xffffffffu, 4);
        vpci_devcfg_write(v, off + 4, value >> 32, 4);
        return;
    }
    if (off >= v->desc.config_size || size > v->desc.config_size - off) {
        modvm_dev_guest_error(v->dev, "virtio: %u-byte config write at %llu beyond %u bytes", size,
                              (unsigned long long)off, v->desc.config_size);
        return;
    }
    if (v->desc.config_write)
        v->desc.config_write(v->dev, v->user, (uint32_t)off, (uint32_t)value, size);
}

/* Reads the ISR status: reading clears it and lowers INTx (§4.1.4.5). */
static uint8_t vpci_isr_read(vpci *v)
{
    uint8_t isr = v->isr;
    v->isr = 0;
    vpci_intx(v, false);
    return isr;
}

/* ---- the modern interface: common config -------------------------------------------------------- */

/* The width of the common-config field at `off` (0 when none starts there). */
static unsigned vpci_cc_width(uint64_t off)
{
    switch (off) {
    case VPCI_CC_DFSELECT: case VPCI_CC_DF: case VPCI_CC_GFSELECT: case VPCI_CC_GF:
        return 4;
    case VPCI_CC_STATUS: case VPCI_CC_CFG_GENERATION:
        return 1;
    case VPCI_CC_Q_DESC: case VPCI_CC_Q_DRIVER: case VPCI_CC_Q_DEVICE:
        return 8;
    case VPCI_CC_Q_DESC + 4: case VPCI_CC_Q_DRIVER + 4: case VPCI_CC_Q_DEVICE + 4:
        return 4; /* high halves of the 64-bit addresses */
    case VPCI_CC_MSIX_CONFIG: case VPCI_CC_NUM_QUEUES: case VPCI_CC_Q_SELECT: case VPCI_CC_Q_SIZE:
    case VPCI_CC_Q_MSIX: case VPCI_CC_Q_ENABLE: case VPCI_CC_Q_NOTIFY_OFF:
        return 2;
    default:
        return 0;
    }
}

/* The guest-physical address field of the selected queue a 64-bit common-config offset names. */
static uint64_t *vpci_cc_addr(struct vpci_queue *q, uint64_t off)
{
    uint64_t base = off & ~7ull;
    return base == VPCI_CC_Q_DESC ? &q->vq.desc_gpa : base == VPCI_CC_Q_DRIVER ? &q->vq.avail_gpa : &q->vq.used_gpa;
}

/* True when the access (off, size) is a natural one: the field's width, or 4 bytes at either half of a
 * 64-bit address (vp_iowrite64_twopart). */
static bool vpci_cc_access_ok(uint64_t off, unsigned size)
{
    unsigned w = vpci_cc_width(off);
    return w != 0 && (size == w || (w == 8 && size == 4));
}

/* Common config read (§4.1.4.3). */
static uint64_t vpci_cc_read(vpci *v, uint64_t off, unsigned size)
{
    if (!vpci_cc_access_ok(off, size)) {
        if (off >= VPCI_CC_LEN)
            return 0; /* fields of later spec versions, unoffered: read as zero */
        modvm_dev_guest_error(v->dev, "virtio: %u-byte common config read at 0x%llx", size, (unsigned long long)off);
        return 0;
    }
    struct vpci_queue *q = vpci_selected(v);
    switch (off) {
    case VPCI_CC_DFSELECT: return v->dfselect;
    case VPCI_CC_DF: return v->dfselect < 2 ? (uint32_t)(v->host_features >> (32 * v->dfselect)) : 0;
    case VPCI_CC_GFSELECT: return v->gfselect;
    case VPCI_CC_GF: return v->gfselect < 2 ? (uint32_t)(v->guest_features >> (32 * v->gfselect)) : 0;
    case VPCI_CC_MSIX_CONFIG: return v->config_vector;
    case VPCI_CC_NUM_QUEUES: return v->desc.num_queues;
    case VPCI_CC_STATUS: return v->status;
    case VPCI_CC_CFG_GENERATION: return v->config_generation;
    case VPCI_CC_Q_SELECT: return v->queue_select;
    case VPCI_CC_Q_SIZE: return q ? q->vq.size : 0; /* 0: no such queue */
    case VPCI_CC_Q_MSIX: return q ? q->vq.msix_vector : VIRTQ_NO_VECTOR;
    case VPCI_CC_Q_ENABLE: return q ? q->vq.enabled : 0;
    case VPCI_CC_Q_NOTIFY_OFF: return q ? v->queue_select : 0; /* queue q notifies at q * multiplier */
    default: {
        if (!q)
            return 0;
        uint64_t a = *vpci_cc_addr(q, off);
        return size == 8 ? a : (uint32_t)(a >> (off & 4 ? 32 : 0));
    }
    }
}

/* Common config write (§4.1.4.3). */
static void vpci_cc_write(vpci *v, uint64_t off, uint64_t value, unsigned size)
{
    if (!vpci_cc_access_ok(off, size)) {
        modvm_dev_guest_error(v->dev, "virtio: %u-byte common config write at 0x%llx", size, (unsigned long long)off);
        return;
    }
    struct vpci_queue *q = vpci_selected(v);
    switch (off) {
    case VPCI_CC_DFSELECT:
        v->dfselect = (uint32_t)value;
        break;
    case VPCI_CC_GFSELECT:
        v->gfselect = (uint32_t)value;
        break;
    case VPCI_CC_GF:
        if (v->status & VPCI_S_FEATURES_OK) {
            modvm_dev_guest_error(v->dev, "virtio: driver features written after FEATURES_OK (ignored)");
            break;
        }
        if (v->gfselect < 2) {
            unsigned shift = 32 * v->gfselect;
            v->guest_features = (v->guest_features & ~(0xffffffffull << shift)) | (value & 0xffffffffull) << shift;
        }
        break;
    case VPCI_CC_MSIX_CONFIG:
        v->config_vector = vpci_vector(v, (uint32_t)value);
        break;
    case VPCI_CC_STATUS:
        vpci_set_status(v, (uint8_t)value, false);
        break;
    case VPCI_CC_Q_SELECT:
        v->queue_select = (uint16_t)value;
        break;
    case VPCI_CC_Q_SIZE:
        if (!vpci_queue_config_locked(v, "queue_size"))
            q->vq.size = (uint16_t)value; /* checked when the queue is enabled */
        break;
    case VPCI_CC_Q_MSIX:
        if (q)
            q->vq.msix_vector = vpci_vector(v, (uint32_t)value);
        break;
    case VPCI_CC_Q_ENABLE:
        if (vpci_queue_config_locked(v, "queue_enable"))
            break;
        if (value != 1) {
            modvm_dev_guest_error(v->dev, "virtio: queue_enable written with %llu (only 1 is allowed)",
                                  (unsigned long long)value);
            break;
        }
        vpci_queue_enable(v, v->queue_select);
        break;
    case VPCI_CC_DF:
    case VPCI_CC_NUM_QUEUES:
    case VPCI_CC_CFG_GENERATION:
    case VPCI_CC_Q_NOTIFY_OFF:
        modvm_dev_guest_error(v->dev, "virtio: write to read-only common config field 0x%llx",
                              (unsigned long long)off);
        break;
    default: { /* queue_desc / queue_driver / queue_device, whole or by halves */
        if (vpci_queue_config_locked(v, "a queue address"))
            break;
        uint64_t *a = vpci_cc_addr(q, off);
        if (size == 8)
            *a = value;
        else if (off & 4)
            *a = (*a & 0xffffffffull) | value << 32;
        else
            *a = (*a & ~0xffffffffull) | (value & 0xffffffffull);
        break;
    }
    }
}

/* ---- the modern BAR ----------------------------------------------------------------------------- */

/* modvm_mmio_read_fn for BAR4: dispatches to the structure whose window holds `off`. */
static uint64_t vpci_modern_read(struct modvm_dev *dev, void *user, uint64_t off, unsigned size)
{
    vpci *v = user;
    (void)dev;
    if (off < VPCI_ISR_OFF)
        return vpci_cc_read(v, off - VPCI_COMMON_OFF, size);
    if (off < VPCI_DEVICE_OFF)
        return off == VPCI_ISR_OFF ? vpci_isr_read(v) : 0;
    if (off < VPCI_NOTIFY_OFF)
        return vpci_devcfg_read(v, off - VPCI_DEVICE_OFF, size);
    return 0; /* notifications are write-only; MSI-X is the PCI core's */
}

/* modvm_mmio_write_fn for BAR4. */
static void vpci_modern_write(struct modvm_dev *dev, void *user, uint64_t off, uint64_t value, unsigned size)
{
    vpci *v = user;
    (void)dev;
    if (off < VPCI_ISR_OFF)
        vpci_cc_write(v, off - VPCI_COMMON_OFF, value, size);
    else if (off < VPCI_DEVICE_OFF)
        modvm_dev_guest_error(v->dev, "virtio: write to the ISR status");
    else if (off < VPCI_NOTIFY_OFF)
        vpci_devcfg_write(v, off - VPCI_DEVICE_OFF, value, size);
    else if (off < VPCI_NOTIFY_OFF + VPCI_WINDOW)
        vpci_kick(v, (uint32_t)((off - VPCI_NOTIFY_OFF) / VPCI_NOTIFY_MULT));
}

static const struct modvm_mmio_ops vpci_modern_ops = {
    .version = MODVM_MMIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_ANY,
    .read = vpci_modern_read,
    .write = vpci_modern_write,
};

/* ---- the legacy BAR ----------------------------------------------------------------------------- */

/* Where device config starts in the legacy BAR: after the MSI-X vector registers while MSI-X is on. */
static uint32_t vpci_legacy_config_off(vpci *v)
{
    return v->pci->msix_enabled(v->dev, v->fn) ? VPCI_L_CONFIG_MSIX : VPCI_L_CONFIG_NOMSIX;
}

/* The natural width of the legacy header register at `off` (0 when none), given the config offset. */
static unsigned vpci_legacy_width(uint32_t off, uint32_t cfg_off)
{
    switch (off) {
    case VPCI_L_HOST_FEATURES: case VPCI_L_GUEST_FEATURES: case VPCI_L_QUEUE_PFN:
        return 4;
    case VPCI_L_QUEUE_SIZE: case VPCI_L_QUEUE_SEL: case VPCI_L_QUEUE_NOTIFY:
        return 2;
    case VPCI_L_STATUS: case VPCI_L_ISR:
        return 1;
    case VPCI_L_MSIX_CONFIG: case VPCI_L_MSIX_QUEUE:
        return cfg_off == VPCI_L_CONFIG_MSIX ? 2 : 0;
    default:
        return 0;
    }
}

/* modvm_pio_in_fn for BAR0 (virtio 0.9.5 header, §4.1.4.10). */
static uint32_t vpci_legacy_in(struct modvm_dev *dev, void *user, uint16_t off, unsigned size)
{
    vpci *v = user;
    (void)dev;
    uint32_t cfg_off = vpci_legacy_config_off(v);
    if (off >= cfg_off)
        return (uint32_t)vpci_devcfg_read(v, off - cfg_off, size);
    if (vpci_legacy_width(off, cfg_off) != size) {
        modvm_dev_guest_error(v->dev, "virtio: %u-byte legacy read at 0x%x", size, off);
        return 0xffffffffu;
    }
    struct vpci_queue *q = vpci_selected(v);
    switch (off) {
    case VPCI_L_HOST_FEATURES: return (uint32_t)v->host_features; /* legacy drivers see bits 0-31 */
    case VPCI_L_GUEST_FEATURES: return (uint32_t)v->guest_features;
    case VPCI_L_QUEUE_PFN: return q && q->vq.enabled ? (uint32_t)(q->vq.desc_gpa >> VPCI_L_PFN_SHIFT) : 0;
    case VPCI_L_QUEUE_SIZE: return q ? q->vq.max_size : 0; /* legacy queues have the device's size */
    case VPCI_L_QUEUE_SEL: return v->queue_select;
    case VPCI_L_QUEUE_NOTIFY: return 0;
    case VPCI_L_STATUS: return v->status;
    case VPCI_L_ISR: return vpci_isr_read(v);
    case VPCI_L_MSIX_CONFIG: return v->config_vector;
    case VPCI_L_MSIX_QUEUE: return q ? q->vq.msix_vector : VIRTQ_NO_VECTOR;
    default: return 0;
    }
}

/* A legacy queue PFN write: 0 disables the queue; otherwise the rings follow each other from that
 * page in the fixed layout of §2.7.2 (descriptors, avail ring, used ring at the next 4 KiB). */
static void vpci_legacy_pfn(vpci *v, uint32_t pfn)
{
    struct vpci_queue *q = vpci_selected(v);
    if (pfn == 0) {
        if (q && !(v->status & VPCI_S_DRIVER_OK)) {
            uint16_t vector = q->vq.msix_vector;
            virtq_reset(&q->vq);
            q->vq.msix_vector = vector;
        }
        return;
    }
    if (vpci_queue_config_locked(v, "the queue PFN"))
        return;
    uint64_t n = q->vq.max_size;
    q->vq.size = q->vq.max_size;
    q->vq.desc_gpa = (uint64_t)pfn << VPCI_L_PFN_SHIFT;
    q->vq.avail_gpa = q->vq.desc_gpa + VIRTQ_DESC_BYTES(n);
    q->vq.used_gpa = (q->vq.avail_gpa + VIRTQ_AVAIL_BYTES(n) + VPCI_L_ALIGN - 1) & ~(uint64_t)(VPCI_L_ALIGN - 1);
    vpci_queue_enable(v, v->queue_select);
}

/* modvm_pio_out_fn for BAR0. */
static void vpci_legacy_out(struct modvm_dev *dev, void *user, uint16_t off, uint32_t value, unsigned size)
{
    vpci *v = user;
    (void)dev;
    uint32_t cfg_off = vpci_legacy_config_off(v);
    if (off >= cfg_off) {
        vpci_devcfg_write(v, off - cfg_off, value, size);
        return;
    }
    if (vpci_legacy_width(off, cfg_off) != size) {
        modvm_dev_guest_error(v->dev, "virtio: %u-byte legacy write at 0x%x", size, off);
        return;
    }
    struct vpci_queue *q = vpci_selected(v);
    switch (off) {
    case VPCI_L_GUEST_FEATURES:
        if (v->status & VPCI_S_DRIVER_OK) {
            modvm_dev_guest_error(v->dev, "virtio: guest features written after DRIVER_OK (ignored)");
            break;
        }
        /* what the driver accepts of bits 0-31; nothing it was not offered */
        v->guest_features = value & v->host_features & 0xffffffffull;
        vpci_apply_features(v);
        break;
    case VPCI_L_QUEUE_PFN:
        vpci_legacy_pfn(v, value);
        break;
    case VPCI_L_QUEUE_SEL:
        v->queue_select = (uint16_t)value;
        break;
    case VPCI_L_QUEUE_NOTIFY:
        vpci_kick(v, value & 0xffffu);
        break;
    case VPCI_L_STATUS:
        vpci_set_status(v, (uint8_t)value, true);
        break;
    case VPCI_L_MSIX_CONFIG:
        v->config_vector = vpci_vector(v, value & 0xffffu);
        break;
    case VPCI_L_MSIX_QUEUE:
        if (q)
            q->vq.msix_vector = vpci_vector(v, value & 0xffffu);
        break;
    default:
        modvm_dev_guest_error(v->dev, "virtio: write to read-only legacy register 0x%x", off);
        break;
    }
}

static const struct modvm_pio_ops vpci_legacy_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1 | MODVM_IO_SIZE_2 | MODVM_IO_SIZE_4,
    .in = vpci_legacy_in,
    .out = vpci_legacy_out,
};

/* ---- PCI configuration access capability (§4.1.4.9) ---------------------------------------------- */

/* The BAR access the capability's bar/offset/length describe: read (write=false) or write `*value`.
 * Returns false when the capability does not describe a valid access (ignored, §4.1.4.9.1). */
static bool vpci_pcicfg_access(vpci *v, bool write, uint32_t *value)
{
    uint8_t cap = v->pcicfg_cap;
    uint32_t bar = v->pci->config_get(v->dev, v->fn, cap + VPCI_CAP_OFF_BAR, 1);
    uint32_t off = v->pci->config_get(v->dev, v->fn, cap + VPCI_CAP_OFF_OFFSET, 4);
    uint32_t len = v->pci->config_get(v->dev, v->fn, cap + VPCI_CAP_OFF_LENGTH, 4);
    if ((len != 1 && len != 2 && len != 4) || off % len != 0)
        return false;
    uint32_t mask = len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
    if (bar == VPCI_MODERN_BAR && off < VPCI_MODERN_BAR_SIZE - len + 1) {
        if (write)
            vpci_modern_write(v->dev, v, off, *value & mask, len);
        else
            *value = (uint32_t)vpci_modern_read(v->dev, v, off, len) & mask;
        return true;
    }
    if (bar == VPCI_LEGACY_BAR && v->transitional && off < v->legacy_bar_size - len + 1) {
        if (write)
            vpci_legacy_out(v->dev, v, (uint16_t)off, *value & mask, len);
        else
            *value = vpci_legacy_in(v->dev, v, (uint16_t)off, len) & mask;
        return true;
    }
    return false;
}

/* modvm_pci_config_read_fn: reads of pci_cfg_data perform the BAR read; everything else is stored. */
static uint32_t vpci_config_read(struct modvm_dev *dev, void *user, uint32_t offset, unsigned size, uint32_t stored)
{
    vpci *v = user;
    (void)dev;
    uint32_t data = v->pcicfg_cap + VPCI_CAP_OFF_EXTRA;
    if (!v->pcicfg_cap || offset + size <= data || offset >= data + 4)
        return stored;
    uint32_t value = 0;
    if (!vpci_pcicfg_access(v, false, &value))
        return stored;
    /* the caller's window into the 4-byte data field (other bytes of a straddling read stay stored) */
    uint32_t out = stored;
    for (unsigned i = 0; i < size; i++) {
        uint32_t at = offset + i;
        if (at >= data && at < data + 4) {
            out &= ~(0xffu << (8 * i));
            out |= ((value >> (8 * (at - data))) & 0xffu) << (8 * i);
        }
    }
    return out;
}

/* modvm_pci_config_write_fn: a write touching pci_cfg_data performs the BAR write with the field's
 * (already stored) value. */
static void vpci_config_write(struct modvm_dev *dev, void *user, uint32_t offset, uint32_t value, unsigned size)
{
    vpci *v = user;
    (void)dev;
    (void)value;
    uint32_t data = v->pcicfg_cap + VPCI_CAP_OFF_EXTRA;
    if (!v->pcicfg_cap || offset + size <= data || offset >= data + 4)
        return;
    uint32_t stored = v->pci->config_get(v->dev, v->fn, data, 4);
    (void)vpci_pcicfg_access(v, true, &stored);
}

/* ---- registration ------------------------------------------------------------------------------- */

/* The transitional PCI device ID of a virtio device type (§4.1.2.3), or 0 when it has none. */
static uint16_t vpci_transitional_id(uint16_t type)
{
    switch (type) {
    case 1: return 0x1000; /* network */
    case 2: return 0x1001; /* block */
    case 5: return 0x1002; /* memory balloon */
    case 3: return 0x1003; /* console */
    case 8: return 0x1004; /* SCSI host */
    case 4: return 0x1005; /* entropy source */
    case 9: return 0x1009; /* 9P transport */
    default: return 0;
    }
}

/* PCI class/subclass for a virtio device type (what guests and QEMU use). */
static void vpci_class(uint16_t type, uint8_t *class_code, uint8_t *subclass)
{
    switch (type) {
    case 1: *class_code = 0x02; *subclass = 0x00; break; /* network controller */
    case 2: case 8: *class_code = 0x01; *subclass = 0x00; break; /* mass storage (SCSI) */
    case 3: *class_code = 0x07; *subclass = 0x80; break; /* other communication controller */
    default: *class_code = 0xff; *subclass = 0x00; break;
    }
}

/* Adds a vendor-specific virtio capability of `len` bytes describing [offset, offset+length) of `bar`. */
static int vpci_add_cap(vpci *v, uint8_t type, uint8_t len, uint8_t bar, uint32_t offset, uint32_t length,
                        uint8_t *at)
{
    const struct modvm_pci_hlp *p = v->pci;
    uint8_t cap;
    int rc = p->cap_add(v->dev, v->fn, VPCI_CAP_ID_VNDR, len, &cap);
    if (rc < 0)
        return rc;
    if ((rc = p->config_init(v->dev, v->fn, cap + 2u, 1, len, 0)) < 0 ||
        (rc = p->config_init(v->dev, v->fn, cap + 3u, 1, type, 0)) < 0 ||
        (rc = p->config_init(v->dev, v->fn, cap + VPCI_CAP_OFF_BAR, 4, bar, type == VPCI_CAP_PCI_CFG ? 0xffu : 0)) < 0 ||
        (rc = p->config_init(v->dev, v->fn, cap + VPCI_CAP_OFF_OFFSET, 4, offset,
                             type == VPCI_CAP_PCI_CFG ? 0xffffffffu : 0)) < 0 ||
        (rc = p->config_init(v->dev, v->fn, cap + VPCI_CAP_OFF_LENGTH, 4, length,
                             type == VPCI_CAP_PCI_CFG ? 0xffffffffu : 0)) < 0)
        return rc;
    if (at)
        *at = cap;
    return 0;
}

/* Builds the PCI function: identity, BARs, capabilities, MSI-X. */
static int vpci_build_function(vpci *v)
{
    const struct modvm_virtio_dev *d = &v->desc;
    const struct modvm_pci_hlp *p = v->pci;
    uint16_t legacy_id = vpci_transitional_id(d->device_type);
    uint32_t legacy_need = VPCI_L_CONFIG_MSIX + d->config_size;
    v->transitional = legacy_id != 0 && legacy_need <= VPCI_L_MAX_BAR;
    struct modvm_pci_func f = {
        .version = MODVM_PCI_FUNC_VERSION,
        .vendor_id = VPCI_VENDOR,
        .device_id = v->transitional ? legacy_id : (uint16_t)(VPCI_MODERN_DEVICE_BASE + d->device_type),
        .subsystem_vendor_id = VPCI_VENDOR,
        .subsystem_id = v->transitional ? d->device_type
                        : (uint16_t)(d->device_type < VPCI_MODERN_SUBSYS_MIN ? VPCI_MODERN_SUBSYS_MIN : d->device_type),
        .revision = v->transitional ? 0 : 1,
        .interrupt_pin = 1,
        .devfn = d->devfn,
        .config_read = vpci_config_read,
        .config_write = vpci_config_write,
    };
    vpci_class(d->device_type, &f.class_code, &f.subclass);
    int rc = p->func_register(v->dev, &f, v, &v->fn);
    if (rc < 0)
        return rc;
    if (v->transitional) {
        v->legacy_bar_size = 32;
        while (v->legacy_bar_size < legacy_need)
            v->legacy_bar_size <<= 1;
        if ((rc = p->bar_register(v->dev, v->fn, VPCI_LEGACY_BAR, MODVM_PCI_BAR_IO, v->legacy_bar_size,
                                  &vpci_legacy_ops, NULL, v)) < 0)
            return rc;
    }
    if ((rc = p->bar_register(v->dev, v->fn, VPCI_MODERN_BAR, MODVM_PCI_BAR_MEM64, VPCI_MODERN_BAR_SIZE, NULL,
                              &vpci_modern_ops, v)) < 0)
        return rc;
    uint8_t notify_cap;
    if ((rc = vpci_add_cap(v, VPCI_CAP_COMMON, VPCI_CAP_LEN, VPCI_MODERN_BAR, VPCI_COMMON_OFF, VPCI_CC_LEN,
                           NULL)) < 0 ||
        (rc = vpci_add_cap(v, VPCI_CAP_NOTIFY, VPCI_CAP_NOTIFY_LEN, VPCI_MODERN_BAR, VPCI_NOTIFY_OFF,
                           d->num_queues * VPCI_NOTIFY_MULT, &notify_cap)) < 0 ||
        (rc = p->config_init(v->dev, v->fn, notify_cap + VPCI_CAP_OFF_EXTRA, 4, VPCI_NOTIFY_MULT, 0)) < 0 ||
        (rc = vpci_add_cap(v, VPCI_CAP_ISR, VPCI_CAP_LEN, VPCI_MODERN_BAR, VPCI_ISR_OFF, 1, NULL)) < 0)
        return rc;
    if (d->config_size &&
        (rc = vpci_add_cap(v, VPCI_CAP_DEVICE, VPCI_CAP_LEN, VPCI_MODERN_BAR, VPCI_DEVICE_OFF, d->config_size,
                           NULL)) < 0)
        return rc;
    if ((rc = vpci_add_cap(v, VPCI_CAP_PCI_CFG, VPCI_CAP_PCICFG_LEN, 0, 0, 0, &v->pcicfg_cap)) < 0 ||
        (rc = p->config_init(v->dev, v->fn, v->pcicfg_cap + VPCI_CAP_OFF_EXTRA, 4, 0, 0xffffffffu)) < 0)
        return rc;
    return p->msix_init(v->dev, v->fn, v->nvectors, VPCI_MODERN_BAR, VPCI_MSIX_TABLE_OFF, VPCI_MSIX_PBA_OFF);
}

/* Checks the device's description; sets the user-facing message. */
static int vpci_check_desc(struct modvm_dev *dev, const struct modvm_virtio_dev *d)
{
    if (!d || !MODVM_VERSION_ARE_COMPATIBLE(MODVM_VIRTIO_DEV_VERSION, d->version))
        return modvm_dev_set_error(dev, -EINVAL, "virtio: the device description has a bad version");
    if (d->device_type == 0)
        return modvm_dev_set_error(dev, -EINVAL, "virtio: device type 0 is reserved");
    if (d->num_queues == 0 || d->num_queues > VPCI_MAX_QUEUES)
        return modvm_dev_set_error(dev, -EINVAL, "virtio: %u queues (1 to %u are supported)", d->num_queues,
                                   VPCI_MAX_QUEUES);
    uint32_t m = d->queue_max_size;
    if (m == 0 || (m & (m - 1)) || m > VIRTQ_MAX_SIZE)
        return modvm_dev_set_error(dev, -EINVAL, "virtio: queue size %u is not a power of two up to %u", m,
                                   VIRTQ_MAX_SIZE);
    if (d->config_size > VPCI_MAX_CONFIG)
        return modvm_dev_set_error(dev, -EINVAL, "virtio: %u bytes of device config (at most %u)", d->config_size,
                                   VPCI_MAX_CONFIG);
    if (d->device_features & ~VPCI_DEVICE_FEATURE_MASK)
        return modvm_dev_set_error(dev, -EINVAL, "virtio: device features 0x%llx include transport bits 24-49",
                                   (unsigned long long)d->device_features);
    if (d->devfn < -1 || d->devfn > 0xff)
        return modvm_dev_set_error(dev, -EINVAL, "virtio: PCI devfn %d out of range", d->devfn);
    return 0;
}

/* modvm_virtio_hlp.device_register: creates the transitional virtio-pci function for `desc`. */
static int vpci_device_register(struct modvm_dev *dev, const struct modvm_virtio_dev *desc, void *user,
                                modvm_virtio_handle *out)
{
    int rc = vpci_check_desc(dev, desc);
    if (rc < 0)
        return rc;
    const struct modvm_pci_hlp *pci = modvm_pci_hlp(dev);
    if (!pci)
        return modvm_dev_set_error(dev, -ENOSYS, "virtio: this core has no PCI bus (%s)", MODVM_IFACE_PCI);
    vpci *v = calloc(1, sizeof(*v));
    struct vpci_queue *queues = calloc(desc->num_queues, sizeof(*queues));
    if (!v || !queues) {
        free(v);
        free(queues);
        return modvm_dev_set_error(dev, -ENOMEM, "virtio: out of memory");
    }
    *v = (vpci){.dev = dev, .pci = pci, .desc = *desc, .user = user, .queues = queues,
                .nvectors = (uint16_t)(desc->num_queues + 1u), .config_vector = VIRTQ_NO_VECTOR};
    v->host_features = (desc->device_features & VPCI_DEVICE_FEATURE_MASK) | VPCI_TRANSPORT_FEATURES;
    for (unsigned q = 0; q < desc->num_queues; q++)
        virtq_init(&queues[q].vq, desc->queue_max_size);
    if ((rc = vpci_build_function(v)) < 0) {
        /* the function and its BARs go with the device; our callbacks must not outlive v: there are
         * none until the guest can reach the function, which it cannot before construct returns */
        free(queues);
        free(v);
        return rc;
    }
    *out = v;
    return 0;
}

/* modvm_virtio_hlp.device_unregister. */
static void vpci_device_unregister(struct modvm_dev *dev, modvm_virtio_handle h)
{
    (void)dev;
    if (!h)
        return;
    vpci_intx(h, false);
    free(h->queues);
    free(h);
}

/* modvm_virtio_hlp.device_reset: the VM resets. */
static void vpci_device_reset(struct modvm_dev *dev, modvm_virtio_handle h)
{
    (void)dev;
    vpci_reset(h, false);
}

/* modvm_virtio_hlp.queue_pop. */
static int vpci_queue_pop(struct modvm_dev *dev, modvm_virtio_handle h, unsigned queue,
                          struct modvm_virtio_chain *chain)
{
    (void)dev;
    if (queue >= h->desc.num_queues || !chain)
        return -EINVAL;
    if (h->status & VPCI_S_NEEDS_RESET)
        return -EIO;
    if (!vpci_running(h))
        return 0;
    struct virtq *vq = &h->queues[queue].vq;
    int rc = virtq_pop(vq, vpci_pgm(h), chain);
    if (rc < 0) {
        char why[192];
        snprintf(why, sizeof(why), "queue %u: %s", queue, vq->error);
        vpci_fail(h, why);
    }
    return rc;
}

/* modvm_virtio_hlp.queue_push. */
static int vpci_queue_push(struct modvm_dev *dev, modvm_virtio_handle h, unsigned queue,
                           const struct modvm_virtio_chain *chain, uint32_t written)
{
    (void)dev;
    if (queue >= h->desc.num_queues || !chain)
        return -EINVAL;
    if (h->status & VPCI_S_NEEDS_RESET)
        return -EIO;
    if (written > chain->in_len) /* a device bug; the driver must not be told more than it gave */
        written = (uint32_t)chain->in_len;
    struct virtq *vq = &h->queues[queue].vq;
    int rc = virtq_push(vq, vpci_pgm(h), chain->head, written);
    if (rc == -EFAULT) {
        char why[192];
        snprintf(why, sizeof(why), "queue %u: %s", queue, vq->error);
        vpci_fail(h, why);
    } else if (rc < 0) {
        modvm_dev_log(h->dev, MODVM_LOG_ERROR, "virtio: queue %u: device error: %s", queue, vq->error);
    }
    return rc;
}

/* modvm_virtio_hlp.queue_notify_guest. */
static int vpci_queue_notify_guest(struct modvm_dev *dev, modvm_virtio_handle h, unsigned queue)
{
    (void)dev;
    if (queue >= h->desc.num_queues)
        return -EINVAL;
    if (!vpci_running(h))
        return 0;
    struct virtq *vq = &h->queues[queue].vq;
    if (virtq_should_notify(vq, vpci_pgm(h)))
        vpci_raise(h, vq->msix_vector, VPCI_ISR_QUEUE);
    return 0;
}

/* Copies between `buf` and the chain's readable (write=false) or writable part at byte `offset`. */
static int vpci_chain_copy(struct modvm_dev *dev, const struct modvm_virtio_chain *chain, uint64_t offset,
                           void *buf, size_t len, bool write)
{
    if (!chain || (len && !buf) || !chain->bufs || (uint32_t)chain->nout + chain->nin > chain->max_bufs)
        return -EINVAL;
    uint64_t total = write ? chain->in_len : chain->out_len;
    if (offset > total || len > total - offset)
        return -EINVAL;
    const struct modvm_virtio_buf *b = chain->bufs + (write ? chain->nout : 0);
    unsigned n = write ? chain->nin : chain->nout;
    uint8_t *p = buf;
    for (unsigned i = 0; i < n && len > 0; i++) {
        if (offset >= b[i].len) {
            offset -= b[i].len;
            continue;
        }
        size_t k = b[i].len - offset < len ? (size_t)(b[i].len - offset) : len;
        int rc = write ? modvm_dev_phys_write(dev, b[i].gpa + offset, p, k)
                       : modvm_dev_phys_read(dev, b[i].gpa + offset, p, k);
        if (rc < 0)
            return rc;
        p += k;
        len -= k;
        offset = 0;
    }
    return len == 0 ? 0 : -EINVAL; /* the buffers held less than the totals said */
}

/* modvm_virtio_hlp.chain_read. */
static int vpci_chain_read(struct modvm_dev *dev, const struct modvm_virtio_chain *chain, uint64_t offset,
                           void *buf, size_t len)
{
    return vpci_chain_copy(dev, chain, offset, buf, len, false);
}

/* modvm_virtio_hlp.chain_write. */
static int vpci_chain_write(struct modvm_dev *dev, const struct modvm_virtio_chain *chain, uint64_t offset,
                            const void *buf, size_t len)
{
    return vpci_chain_copy(dev, chain, offset, (void *)buf, len, true);
}

/* modvm_virtio_hlp.features. */
static uint64_t vpci_features(struct modvm_dev *dev, modvm_virtio_handle h)
{
    (void)dev;
    return h->guest_features;
}

/* modvm_virtio_hlp.config_changed: a new generation, and a config interrupt once the driver runs. */
static int vpci_config_changed(struct modvm_dev *dev, modvm_virtio_handle h)
{
    (void)dev;
    h->config_generation++;
    if (h->status & VPCI_S_DRIVER_OK)
        vpci_raise(h, h->config_vector, VPCI_ISR_CONFIG);
    return 0;
}

/* modvm_virtio_hlp.needs_reset. */
static void vpci_needs_reset(struct modvm_dev *dev, modvm_virtio_handle h)
{
    (void)dev;
    vpci_fail(h, "the device cannot use the driver's request");
}

const struct modvm_virtio_hlp pdm_virtio_hlp = {
    .version = MODVM_VIRTIO_HLP_VERSION,
    .device_register = vpci_device_register,
    .queue_pop = vpci_queue_pop,
    .queue_push = vpci_queue_push,
    .queue_notify_guest = vpci_queue_notify_guest,
    .chain_read = vpci_chain_read,
    .chain_write = vpci_chain_write,
    .features = vpci_features,
    .config_changed = vpci_config_changed,
    .needs_reset = vpci_needs_reset,
    .device_reset = vpci_device_reset,
    .device_unregister = vpci_device_unregister,
};
