/* pdm/virtio-pci-status.c — the transport's state machine, shared by the modern and the legacy
 * register interfaces: device status, feature negotiation, reset, queue enable.
 *
 * Spec: Virtual I/O Device (VIRTIO) Version 1.2, §2.1 device status (§2.1.2 DEVICE_NEEDS_RESET),
 * §2.2 feature bits (and §2.2.3 their legacy interface), §2.4 device reset, §3.1.1 driver
 * initialisation order; the virtqueue checks at enable are virtqueue.c's.
 *
 * Attacker model: the driver may write any status at any time, through either interface, and may
 * mix the two. Only a reset (status 0) clears a bit; DEVICE_NEEDS_RESET is the device's to set.
 * FEATURES_OK is refused for features the device did not offer or without VERSION_1; DRIVER_OK
 * without FEATURES_OK is refused on the modern interface and keeps only the offered bits 0-31 on the
 * legacy one; the features are frozen from FEATURES_OK or DRIVER_OK on. So a running device's
 * features are always a subset of what it offered. Queue configuration is accepted only before
 * DRIVER_OK and only for a queue that is not enabled; a queue that fails validation, or a device that
 * calls needs_reset, sets DEVICE_NEEDS_RESET: the queues stop and only a reset clears it. */
#include <stdio.h>

#include "virtio-pci-internal.h"

/* See virtio-pci-internal.h. */
bool vpci_running(const vpci *v)
{
    return (v->status & (VPCI_S_DRIVER_OK | VPCI_S_FAILED | VPCI_S_NEEDS_RESET)) == VPCI_S_DRIVER_OK;
}

/* See virtio-pci-internal.h: the queues stop until a reset, and a driver that is running is told
 * through a configuration interrupt (§2.1.2). */
void vpci_fail(vpci *v, const char *why)
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

/* See virtio-pci-internal.h. */
void vpci_queue_fail(vpci *v, unsigned q, const struct virtq *vq)
{
    char why[192];
    snprintf(why, sizeof(why), "queue %u: %s", q, vq->error);
    vpci_fail(v, why);
}

/* See virtio-pci-internal.h. */
void vpci_apply_features(vpci *v)
{
    for (unsigned q = 0; q < v->desc.num_queues; q++) {
        v->queues[q].vq.indirect = (v->guest_features >> MODVM_VIRTIO_F_INDIRECT_DESC) & 1u;
        v->queues[q].vq.event_idx = (v->guest_features >> MODVM_VIRTIO_F_EVENT_IDX) & 1u;
    }
}

/* See virtio-pci-internal.h: everything the driver set goes back to its initial value (§2.4). */
void vpci_reset(vpci *v, bool tell)
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

/* See virtio-pci-internal.h. */
void vpci_set_status(vpci *v, uint8_t val, bool legacy)
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
    if (added & VPCI_S_FEATURES_OK) { /* checked whichever interface sets it */
        uint64_t extra = v->guest_features & ~v->host_features;
        if (extra || !((v->guest_features >> MODVM_VIRTIO_F_VERSION_1) & 1u)) {
            modvm_dev_guest_error(v->dev, "virtio: FEATURES_OK refused: %s (driver 0x%llx, device 0x%llx)",
                                  extra ? "features the device did not offer" : "VERSION_1 not accepted",
                                  (unsigned long long)v->guest_features, (unsigned long long)v->host_features);
            val &= (uint8_t)~VPCI_S_FEATURES_OK;
            added &= (uint8_t)~VPCI_S_FEATURES_OK;
        }
    }
    if ((added & VPCI_S_DRIVER_OK) && !(val & VPCI_S_FEATURES_OK)) {
        if (legacy) {
            /* a legacy driver: bits 32-63 are not acknowledged (§2.2.3), nor is anything not
             * offered that the modern interface may have been told */
            v->guest_features &= v->host_features & 0xffffffffull;
        } else {
            modvm_dev_guest_error(v->dev, "virtio: DRIVER_OK without FEATURES_OK");
            val &= (uint8_t)~VPCI_S_DRIVER_OK;
            added &= (uint8_t)~VPCI_S_DRIVER_OK;
        }
    }
    v->status = val | (old & VPCI_S_NEEDS_RESET);
    if ((added & VPCI_S_DRIVER_OK) && !(v->status & (VPCI_S_FAILED | VPCI_S_NEEDS_RESET))) {
        vpci_apply_features(v);
        v->told_running = true;
        if (v->desc.status_changed)
            v->desc.status_changed(v->dev, v->user, true);
        vpci_kick_pending(v);
    }
}

/* See virtio-pci-internal.h: "the only way to renegotiate is to reset the device" (§2.2). */
bool vpci_features_locked(vpci *v)
{
    if (!(v->status & (VPCI_S_FEATURES_OK | VPCI_S_DRIVER_OK)))
        return false;
    modvm_dev_guest_error(v->dev, "virtio: driver features written after FEATURES_OK or DRIVER_OK (ignored)");
    return true;
}

/* See virtio-pci-internal.h. */
bool vpci_queue_config_locked(vpci *v, const char *what)
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

/* See virtio-pci-internal.h. */
void vpci_queue_enable(vpci *v, unsigned q)
{
    struct virtq *vq = &v->queues[q].vq;
    vpci_apply_features(v);
    if (virtq_enable(vq, vpci_pgm(v)) < 0)
        vpci_queue_fail(v, q, vq);
}
