/* pdm/virtio-pci-config.c — the device-specific configuration space on virtio-pci: the driver's
 * accesses, whichever window they come through, and the device's changes.
 *
 * Spec: Virtual I/O Device (VIRTIO) Version 1.2, §2.5 device configuration space, §4.1.4.6 its
 * capability window, §4.1.4.10 its place in the legacy header (any access width), §4.1.4.3.1
 * config_generation, §4.1.5.4 the configuration change notification.
 *
 * config_generation moves on at a change of the device config the driver has not read yet.
 *
 * Attacker model: offset and width come from the guest; every access is bounded by the device's
 * config_size before the device's config_read/config_write sees it (which then only ever gets
 * 1, 2 or 4 bytes inside its space). */
#include "virtio-pci-internal.h"

/* See virtio-pci-internal.h. */
uint64_t vpci_devcfg_read(vpci *v, uint64_t off, unsigned size)
{
    v->config_unread = false;
    if (size == 8)
        return vpci_devcfg_read(v, off, 4) | vpci_devcfg_read(v, off + 4, 4) << 32;
    if (off >= v->desc.config_size || size > v->desc.config_size - off || !v->desc.config_read)
        return 0;
    return v->desc.config_read(v->dev, v->user, (uint32_t)off, size);
}

/* See virtio-pci-internal.h. */
void vpci_devcfg_write(vpci *v, uint64_t off, uint64_t value, unsigned size)
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

/* See virtio-pci-internal.h. A new generation only for the first change the driver has not read:
 * with one per change, 256 changes between two reads would bring the byte back to the value the
 * driver saw, and it would take torn values for consistent ones (§4.1.4.3.1). */
void vpci_devcfg_changed(vpci *v)
{
    if (!v->config_unread)
        v->config_generation++;
    v->config_unread = true;
    if (v->status & VPCI_S_DRIVER_OK)
        vpci_raise(v, v->config_vector, VPCI_ISR_CONFIG);
}
