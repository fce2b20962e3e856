/* pdm/virtio-pci-caps.c — the virtio-pci function as the guest's PCI scan finds it: IDs, BARs, the
 * vendor-specific capability list, MSI-X, and the PCI configuration access capability that reaches
 * the BARs through config space.
 *
 * Spec: Virtual I/O Device (VIRTIO) Version 1.2, §4.1.2 PCI IDs (vendor 0x1AF4; transitional device
 * IDs 0x1000-0x103F with subsystem ID = virtio device ID and revision 0; modern-only 0x1040 + ID with
 * revision 1 and subsystem ID ≥ 0x40), §4.1.4 the capabilities (common config, notifications with
 * notify_off_multiplier, ISR status, device config), §4.1.4.9 the PCI configuration access
 * capability, §4.1.5.1.2 MSI-X (one vector for config changes plus one per queue).
 *
 * Built through PCI's public helper table (modvm_pci_hlp(dev), <modvm/pci.h>): the core registers
 * the function like any device would.
 *
 * Attacker model: the guest writes cap.bar, cap.offset, cap.length and pci_cfg_data of the PCI
 * configuration access capability at will; an access they describe is performed only when it is
 * 1, 2 or 4 bytes, aligned, and wholly inside the chosen BAR, else ignored. */
#include "virtio-pci-internal.h"

#define VPCI_VENDOR 0x1af4u
#define VPCI_MODERN_DEVICE_BASE 0x1040u
#define VPCI_MODERN_SUBSYS_MIN 0x40u

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
            vpci_modern_ops.write(v->dev, v, off, *value & mask, len);
        else
            *value = (uint32_t)vpci_modern_ops.read(v->dev, v, off, len) & mask;
        return true;
    }
    if (bar == VPCI_LEGACY_BAR && v->transitional && off < v->legacy_bar_size - len + 1) {
        if (write)
            vpci_legacy_ops.out(v->dev, v, (uint16_t)off, *value & mask, len);
        else
            *value = vpci_legacy_ops.in(v->dev, v, (uint16_t)off, len) & mask;
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

/* ---- the function ------------------------------------------------------------------------------- */

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

/* The capability list (§4.1.4), all structures in the modern BAR, then the PCI cfg access one. */
static int vpci_add_caps(vpci *v)
{
    const struct modvm_virtio_dev *d = &v->desc;
    const struct modvm_pci_hlp *p = v->pci;
    uint8_t notify_cap;
    int rc;
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
    if ((rc = vpci_add_cap(v, VPCI_CAP_PCI_CFG, VPCI_CAP_PCICFG_LEN, 0, 0, 0, &v->pcicfg_cap)) < 0)
        return rc;
    return p->config_init(v->dev, v->fn, v->pcicfg_cap + VPCI_CAP_OFF_EXTRA, 4, 0, 0xffffffffu);
}

/* See virtio-pci-internal.h. */
int vpci_function_build(vpci *v)
{
    const struct modvm_virtio_dev *d = &v->desc;
    const struct modvm_pci_hlp *p = v->pci;
    uint16_t legacy_id = vpci_transitional_id(d->device_type);
    uint32_t legacy_bar_size = vpci_legacy_bar_size(d->config_size);
    v->transitional = legacy_id != 0 && legacy_bar_size != 0;
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
        v->legacy_bar_size = legacy_bar_size;
        if ((rc = p->bar_register(v->dev, v->fn, VPCI_LEGACY_BAR, MODVM_PCI_BAR_IO, v->legacy_bar_size,
                                  &vpci_legacy_ops, NULL, v)) < 0)
            return rc;
    }
    if ((rc = p->bar_register(v->dev, v->fn, VPCI_MODERN_BAR, MODVM_PCI_BAR_MEM64, VPCI_MODERN_BAR_SIZE, NULL,
                              &vpci_modern_ops, v)) < 0 ||
        (rc = vpci_add_caps(v)) < 0)
        return rc;
    return p->msix_init(v->dev, v->fn, v->nvectors, VPCI_MODERN_BAR, VPCI_MSIX_TABLE_OFF, VPCI_MSIX_PBA_OFF);
}
