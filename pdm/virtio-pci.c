/* pdm/virtio-pci.c — the core's one virtio transport, transitional virtio-pci: the modvm.virtio.1
 * helper table (struct modvm_virtio_hlp, MODVM_IFACE_VIRTIO) a virtio device plugin calls, from
 * registration to its queue and config services.
 *
 * Spec: Virtual I/O Device (VIRTIO) Version 1.2, §4.1 "Virtio Over PCI Bus", implemented by the
 * files listed in virtio-pci-internal.h; the virtqueues themselves are virtqueue.c's.
 *
 * The function (virtio-pci-caps.c):
 *   BAR0 (I/O, transitional devices only)  the legacy header + device config (virtio-pci-legacy.c)
 *   BAR4 (64-bit memory, 32 KiB)            0x0000 common config   0x1000 ISR   0x2000 device config
 *                                           0x3000 notifications (4 bytes per queue)
 *                                           0x4000 MSI-X table, 0x6000 PBA (served by the PCI core)
 * MSI-X has one vector for config changes plus one per queue (the driver chooses the mapping).
 *
 * Attacker model: every register value comes from the guest; each file bounds what it decodes. A
 * queue error (from virtqueue.c) or the device's needs_reset sets DEVICE_NEEDS_RESET: the queues
 * stop, the driver gets a configuration interrupt if it is running, and only a reset (status 0)
 * clears it. Accesses of the wrong width are guest errors, never crashes. What the device passes in
 * (its description, queue numbers, chains) is checked here too.
 *
 * Threads and locks: BAR and config callbacks come from PCI with the device's lock held; helpers are
 * called by the device with its lock held; so all state of the transport is under the device lock. */
#include <errno.h>
#include <stdlib.h>

#include "virtio-pci-internal.h"

/* Limits of this transport; device types end where the PCI device IDs of virtio do, at
 * 0x1040 + 0x3f = 0x107f (§4.1.2). */
#define VPCI_MAX_DEVICE_TYPE 0x3fu
#define VPCI_MAX_QUEUES 256u
#define VPCI_MAX_CONFIG VPCI_WINDOW

/* Feature bits a device may use: 0-23 and 50-63 are device-specific (§6); the rest belong to the
 * transport and the queue mechanism. */
#define VPCI_DEVICE_FEATURE_MASK (((1ull << 24) - 1) | ~((1ull << 50) - 1))
#define VPCI_TRANSPORT_FEATURES \
    (1ull << MODVM_VIRTIO_F_INDIRECT_DESC | 1ull << MODVM_VIRTIO_F_EVENT_IDX | 1ull << MODVM_VIRTIO_F_VERSION_1)

/* Checks the device's description; sets the user-facing message. */
static int vpci_check_desc(struct modvm_dev *dev, const struct modvm_virtio_dev *d)
{
    if (!d || !MODVM_VERSION_ARE_COMPATIBLE(MODVM_VIRTIO_DEV_VERSION, d->version))
        return modvm_dev_set_error(dev, -EINVAL, "virtio: the device description has a bad version");
    if (d->device_type == 0)
        return modvm_dev_set_error(dev, -EINVAL, "virtio: device type 0 is reserved");
    if (d->device_type > VPCI_MAX_DEVICE_TYPE)
        return modvm_dev_set_error(dev, -EINVAL, "virtio: device type %u has no virtio PCI device ID (at most %u)",
                                   d->device_type, VPCI_MAX_DEVICE_TYPE);
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
    if ((rc = vpci_function_build(v)) < 0) {
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
    if (rc < 0)
        vpci_queue_fail(h, queue, vq);
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
    if (rc == -EFAULT)
        vpci_queue_fail(h, queue, vq);
    else if (rc < 0)
        modvm_dev_log(h->dev, MODVM_LOG_ERROR, "virtio: queue %u: device error: %s", queue, vq->error);
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
    vpci_devcfg_changed(h);
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
