/* pdm/virtio-pci-modern.c — the modern interface: BAR4, with the common configuration structure
 * decoded here and the other windows (ISR, device config, notifications) handed on.
 *
 * Spec: Virtual I/O Device (VIRTIO) Version 1.2, §4.1.3 access widths (64-bit fields also by 32-bit
 * halves), §4.1.4.3 struct virtio_pci_common_cfg, §4.1.4.4 notifications (queue q at
 * q * notify_off_multiplier), §4.1.4.5 ISR status, §4.1.4.6 device-specific configuration.
 *
 * Attacker model: a field is reached only at its own offset with its own width (or a 32-bit half of
 * a 64-bit address); anything else is a guest error with no effect. Selectors beyond the queue or
 * feature count read as absent. Read-only fields ignore writes. */
#include "virtio-pci-internal.h"

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
        if (vpci_features_locked(v))
            break;
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

const struct modvm_mmio_ops vpci_modern_ops = {
    .version = MODVM_MMIO_OPS_VERSION,
    .sizes = MODVM_IO_SIZE_ANY,
    .read = vpci_modern_read,
    .write = vpci_modern_write,
};
