/* modvm/virtio.h — virtio devices (Virtual I/O Device (VIRTIO) Version 1.2) on the core's one
 * virtio-pci transport.
 *
 * The core implements virtio-pci once for every virtio device: the modern transport (common,
 * notify, ISR and device config capabilities in a memory BAR, MSI-X) and the legacy I/O BAR, so
 * the function is transitional and legacy drivers work too; feature negotiation; and the virtqueue
 * rules (Firecracker's): queue size a power of two ≤ the device's maximum, descriptor/avail/used
 * rings aligned and inside guest RAM, queue configuration writable only before DRIVER_OK, every
 * descriptor index < queue size, chains no longer than the queue (a hop budget, so loops end),
 * indirect tables bounded, the avail index never more than a queue ahead. A driver that breaks a rule
 * puts the device into DEVICE_NEEDS_RESET — the host never crashes, the device stops using the
 * queues until the driver resets it.
 *
 * A device plugin describes itself (device type, features, queues, config space) and handles queue
 * notifications: it pops validated chains, moves data with chain_read/chain_write (which bound every
 * access by the chain's lengths), pushes them back and notifies the guest. */
#ifndef MODVM_VIRTIO_H
#define MODVM_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modvm/pdm.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MODVM_IFACE_VIRTIO "modvm.virtio.1"
#define MODVM_VIRTIO_HLP_VERSION MODVM_VERSION_MAKE(0xd7c1, 1, 0)
#define MODVM_VIRTIO_DEV_VERSION MODVM_VERSION_MAKE(0xd7c2, 1, 0)

/** Feature bits the transport owns (the device lists only its own in device_features). */
#define MODVM_VIRTIO_F_INDIRECT_DESC 28
#define MODVM_VIRTIO_F_EVENT_IDX 29
#define MODVM_VIRTIO_F_VERSION_1 32

/** A virtio device instance on the transport (opaque). */
typedef struct modvm_virtio_ *modvm_virtio_handle;

/** One buffer of a chain: guest-physical address and length (both validated against RAM). */
struct modvm_virtio_buf {
    uint64_t gpa;
    uint32_t len;
    uint32_t reserved0;
};

/** A popped descriptor chain. The caller provides `bufs` with room for `max_bufs` entries (the
 * queue size is always enough); device-readable buffers come first (nout), then device-writable
 * (nin). out_len/in_len are their byte totals. */
struct modvm_virtio_chain {
    uint16_t head;
    uint16_t nout, nin;
    uint16_t reserved0;
    uint32_t max_bufs;
    uint32_t reserved1;
    uint64_t out_len, in_len;
    struct modvm_virtio_buf *bufs;
};

/** What a virtio device is. Callbacks: vCPU thread, device lock held. */
struct modvm_virtio_dev {
    uint32_t version;         /**< MODVM_VIRTIO_DEV_VERSION */
    uint16_t device_type;     /**< virtio device ID 1-63 (2 = block, 1 = net, ...): PCI ID 0x1040 + type */
    uint16_t num_queues;
    uint16_t queue_max_size;  /**< power of two, ≤ 32768 */
    uint16_t reserved0;
    uint32_t config_size;     /**< bytes of device-specific config space */
    uint64_t device_features; /**< the device's feature bits (transport bits are added by the core) */
    int32_t devfn;            /**< PCI slot as in pci.h, or -1 for the first free one */
    uint32_t reserved1;
    /** Reads/writes the device-specific config space (offset < config_size, bounded by the core). */
    uint32_t (*config_read)(struct modvm_dev *dev, void *user, uint32_t offset, unsigned size);
    void (*config_write)(struct modvm_dev *dev, void *user, uint32_t offset, uint32_t value, unsigned size);
    /** The driver kicked queue `queue`. */
    void (*queue_notify)(struct modvm_dev *dev, void *user, unsigned queue);
    /** The driver set DRIVER_OK (negotiated features readable with `features`): `running` true; or
     * the driver reset the device (status 0) after DRIVER_OK: `running` false, and the device drops
     * in-flight work. A driver error found by the transport (a broken queue) is not reported here: the
     * device learns of it from the negative return of queue_pop/queue_push, the queues stay stopped
     * and the driver's eventual reset brings `running` false. Never called from inside a virtio
     * helper the device is calling. */
    void (*status_changed)(struct modvm_dev *dev, void *user, bool running);
    void *reserved[4];
};

/** The virtio services. */
struct modvm_virtio_hlp {
    uint32_t version; /**< MODVM_VIRTIO_HLP_VERSION */
    uint32_t reserved0;
    /** Creates the transitional virtio-pci function for `desc`. */
    int (*device_register)(struct modvm_dev *dev, const struct modvm_virtio_dev *desc, void *user,
                           modvm_virtio_handle *out);
    /** Pops the next available chain of `queue`: 1 and *chain filled, 0 when none, negative errno after
     * a driver error (the device is then in NEEDS_RESET). */
    int (*queue_pop)(struct modvm_dev *dev, modvm_virtio_handle h, unsigned queue, struct modvm_virtio_chain *chain);
    /** Returns a chain to the used ring with `written` bytes written into its device-writable part. */
    int (*queue_push)(struct modvm_dev *dev, modvm_virtio_handle h, unsigned queue,
                      const struct modvm_virtio_chain *chain, uint32_t written);
    /** Interrupts the guest for `queue` if it asked to be (EVENT_IDX / NO_INTERRUPT honoured). */
    int (*queue_notify_guest)(struct modvm_dev *dev, modvm_virtio_handle h, unsigned queue);
    /** Copies from the chain's device-readable part at byte `offset` (bounded by out_len). */
    int (*chain_read)(struct modvm_dev *dev, const struct modvm_virtio_chain *chain, uint64_t offset, void *buf,
                      size_t len);
    /** Copies into the chain's device-writable part at byte `offset` (bounded by in_len). */
    int (*chain_write)(struct modvm_dev *dev, const struct modvm_virtio_chain *chain, uint64_t offset,
                       const void *buf, size_t len);
    /** The negotiated feature bits. */
    uint64_t (*features)(struct modvm_dev *dev, modvm_virtio_handle h);
    /** Tells the driver the device config changed (config interrupt). */
    int (*config_changed)(struct modvm_dev *dev, modvm_virtio_handle h);
    /** The device found the driver's request unusable: sets DEVICE_NEEDS_RESET and tells the driver. */
    void (*needs_reset)(struct modvm_dev *dev, modvm_virtio_handle h);
    /** Resets the transport to its power-on state (status 0, queues off, MSI-X vectors unset, interrupt
     * lowered), as the device's own reset callback (VM reset) must. status_changed is not called. */
    void (*device_reset)(struct modvm_dev *dev, modvm_virtio_handle h);
    /** Frees what device_register made; call it from destruct (NULL is ignored). The PCI function
     * itself goes with the device. */
    void (*device_unregister)(struct modvm_dev *dev, modvm_virtio_handle h);
    void *reserved[6];
};

/** The virtio services, or NULL on a core without them (fetch once in construct). */
static inline const struct modvm_virtio_hlp *modvm_virtio_hlp(struct modvm_dev *dev)
{
    return (const struct modvm_virtio_hlp *)modvm_dev_core_interface(dev, MODVM_IFACE_VIRTIO,
                                                                       MODVM_VIRTIO_HLP_VERSION);
}

#ifdef __cplusplus
}
#endif
#endif
