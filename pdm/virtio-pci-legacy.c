/* pdm/virtio-pci-legacy.c — the legacy interface of a transitional device: the I/O BAR0 with virtio
 * 0.9.5's header, the MSI-X vector registers while MSI-X is on, then the device config.
 *
 * Spec: Virtual I/O Device (VIRTIO) Version 1.2, §4.1.4.10 "Legacy Interfaces: A Note on PCI Device
 * Layout", §4.1.5.1.3.1 the queue address as a 4 KiB page number, §2.7.2 the fixed ring layout it
 * implies, §2.2.3 feature bits 0-31 only.
 *
 * Attacker model: as the modern interface's — each register only at its offset and width, queue
 * configuration only before DRIVER_OK and for a queue that is not enabled, checked when the PFN
 * enables it; the driver's features are masked to what was offered. */
#include "virtio-pci-internal.h"

/* The header (§4.1.4.10). */
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
#define VPCI_L_MIN_BAR 32u       /* the header and a little config */
#define VPCI_L_MAX_BAR 256u      /* an I/O BAR larger than this would not fit guests' port maps */
#define VPCI_L_PFN_SHIFT 12u     /* the legacy queue address is a 4 KiB page number */
#define VPCI_L_ALIGN 4096u       /* legacy used-ring alignment */

/* See virtio-pci-internal.h: a power of two that holds the header with the MSI-X registers and the
 * device config. */
uint32_t vpci_legacy_bar_size(uint32_t config_size)
{
    if (config_size > VPCI_L_MAX_BAR - VPCI_L_CONFIG_MSIX)
        return 0;
    uint32_t size = VPCI_L_MIN_BAR;
    while (size < VPCI_L_CONFIG_MSIX + config_size)
        size <<= 1;
    return size;
}

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

/* modvm_pio_in_fn for BAR0. */
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
        if (vpci_features_locked(v))
            break;
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

const struct modvm_pio_ops vpci_legacy_ops = {
    .version = MODVM_PIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_1 | MODVM_IO_SIZE_2 | MODVM_IO_SIZE_4,
    .in = vpci_legacy_in,
    .out = vpci_legacy_out,
};
