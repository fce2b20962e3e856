/* pdm/virtio-pci-notify.c — virtio-pci notifications, both ways.
 *
 * Spec: Virtual I/O Device (VIRTIO) Version 1.2, §2.3 notifications; §4.1.5.2 available buffer
 * notifications (a driver's kick, through the notify window or the legacy Queue Notify register);
 * §4.1.5.3/§4.1.5.4 used buffer and configuration change notifications: an MSI-X message on the
 * vector the driver mapped while MSI-X is on, else the ISR status bit and INTx (§4.1.4.5);
 * §4.1.5.1.2 the MSI-X vector mapping and how a failed mapping reads back.
 *
 * Attacker model: queue numbers and vectors come from the guest and are bounded here; a kick before
 * DRIVER_OK is remembered, not acted on (§2.1.2: no buffers consumed before DRIVER_OK). */
#include "virtio-pci-internal.h"

/* See virtio-pci-internal.h. */
void vpci_intx(vpci *v, bool level)
{
    if (level == v->intx_level)
        return;
    v->intx_level = level;
    (void)v->pci->intx_set(v->dev, v->fn, level ? MODVM_IRQ_HIGH : MODVM_IRQ_LOW);
}

/* See virtio-pci-internal.h: §4.1.5.3, §4.1.5.4. With MSI-X on, an unmapped vector sends nothing,
 * and the configuration bit still goes into the ISR: §4.1.4.5.1 wants it set before every
 * configuration change notification, for drivers that read the ISR to tell the causes apart. */
void vpci_raise(vpci *v, uint16_t vector, uint8_t isr_bit)
{
    if (v->pci->msix_enabled(v->dev, v->fn)) {
        v->isr |= isr_bit & VPCI_ISR_CONFIG;
        vpci_intx(v, false);
        if (vector != VIRTQ_NO_VECTOR && vector < v->nvectors)
            (void)v->pci->msix_notify(v->dev, v->fn, vector);
        return;
    }
    v->isr |= isr_bit;
    vpci_intx(v, true);
}

/* See virtio-pci-internal.h. */
uint8_t vpci_isr_read(vpci *v)
{
    uint8_t isr = v->isr;
    v->isr = 0;
    vpci_intx(v, false);
    return isr;
}

/* See virtio-pci-internal.h: a vector that does not exist reads back as NO_VECTOR, which is how the
 * driver learns the mapping failed (§4.1.5.1.2). */
uint16_t vpci_vector(vpci *v, uint32_t value)
{
    return value < v->nvectors ? (uint16_t)value : (uint16_t)VIRTQ_NO_VECTOR;
}

/* See virtio-pci-internal.h. Before DRIVER_OK the kick is remembered and delivered once the driver
 * is ready (old legacy drivers kick early). */
void vpci_kick(vpci *v, uint32_t q)
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

/* See virtio-pci-internal.h: stops early if serving one of them made the device need a reset. */
void vpci_kick_pending(vpci *v)
{
    for (unsigned q = 0; q < v->desc.num_queues && vpci_running(v); q++) {
        if (v->queues[q].kick_pending) {
            v->queues[q].kick_pending = false;
            vpci_kick(v, q);
        }
    }
}
