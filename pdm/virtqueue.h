/* pdm/virtqueue.h — the split-virtqueue engine: the core's one validator of guest-driven virtqueue
 * state (STYLE.md point 10).
 *
 * Spec: Virtual I/O Device (VIRTIO) Version 1.2, §2.7 "Split Virtqueues" (descriptor table, available
 * and used rings, indirect descriptors §2.7.5.3, used buffer notification suppression §2.7.7 and
 * §2.7.10, the VIRTIO_F_EVENT_IDX mechanism); for legacy drivers §2.7.2 "Legacy Interfaces: A Note on
 * Virtqueue Layout" (the transport computes the ring addresses, the engine is the same).
 *
 * Attacker model: the guest owns every byte of the rings and may change any of them at any time,
 * from another vCPU, while the device walks them. So the engine
 *   - checks the queue configuration once when the queue is enabled: size a power of two ≤ the
 *     device's maximum, descriptor table 16-, avail ring 2-, used ring 4-byte aligned, all three
 *     wholly inside guest RAM (no ROM, no MMIO, no wrap-around);
 *   - reads every descriptor exactly once into host memory and validates and uses only that copy
 *     (no double fetch, no TOCTOU);
 *   - bounds every guest-controlled number by the queue: the avail index is never more than a queue
 *     ahead of what was consumed, every head and `next` index is < the queue size, a chain walks at
 *     most `size` descriptors (the hop budget, so `next` loops end) and holds at most `size`
 *     buffers, indirect tables only when negotiated, a multiple of 16 bytes, at most `size` entries,
 *     never nested, their `next` indices inside the table;
 *   - requires device-readable buffers before device-writable ones, every buffer wholly inside
 *     guest memory (RAM for buffers the device writes; RAM or ROM for those it reads), and byte
 *     totals that fit the used ring's 32-bit length;
 *   - never aborts: a violation returns a negative errno and describes itself in `error`; the
 *     transport then puts the device into DEVICE_NEEDS_RESET and stops using the queue.
 *
 * Memory ordering (§2.7.13 and the barriers of §2.7.13.3/§2.7.14): the avail index is loaded
 * atomically and followed by an acquire fence before ring entries and descriptors are read; a used
 * element is written before a release fence and the atomic store of the used index; a full fence
 * separates publishing the used index (or avail_event) from reading the driver's suppression fields.
 *
 * Not thread-safe by itself: the transport serialises all calls on a queue (device lock). Internal to
 * PDM; no plugin sees these types. */
#ifndef MODVM_PDM_VIRTQUEUE_H
#define MODVM_PDM_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include <modvm/virtio.h>

struct pgm;

/** Largest queue size the split ring format allows (§2.7: "Queue Size ... maximum 32768"). */
#define VIRTQ_MAX_SIZE 32768u

/** Descriptor flags (§2.7.5). */
#define VIRTQ_DESC_F_NEXT 0x1u
#define VIRTQ_DESC_F_WRITE 0x2u
#define VIRTQ_DESC_F_INDIRECT 0x4u
/** avail->flags (§2.7.6) and used->flags (§2.7.8). */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 0x1u
#define VIRTQ_USED_F_NO_NOTIFY 0x1u
/** "No MSI-X vector" (§4.1.4.3 VIRTIO_MSI_NO_VECTOR). */
#define VIRTQ_NO_VECTOR 0xffffu

/** Ring sizes in bytes for a queue of `n` entries (§2.7, "Queue Part sizes"). */
#define VIRTQ_DESC_BYTES(n) (16ull * (n))
#define VIRTQ_AVAIL_BYTES(n) (6ull + 2ull * (n))
#define VIRTQ_USED_BYTES(n) (6ull + 8ull * (n))

/** One virtqueue: the driver's configuration (written through the transport) and the device's
 * progress. Zero-initialise, then virtq_init. */
struct virtq {
    /* configuration */
    uint16_t max_size;  /**< the device's maximum (a power of two) */
    uint16_t size;      /**< the driver's choice (≤ max_size); checked by virtq_enable */
    uint64_t desc_gpa, avail_gpa, used_gpa;
    bool enabled;       /**< virtq_enable succeeded; virtq_reset clears it */
    bool indirect;      /**< VIRTIO_F_INDIRECT_DESC negotiated (set by the transport) */
    bool event_idx;     /**< VIRTIO_F_EVENT_IDX negotiated (set by the transport) */
    uint16_t msix_vector; /**< the transport's, kept here with the queue */
    /* progress */
    uint16_t last_avail;     /**< free-running index of the next avail entry to consume */
    uint16_t used_idx;       /**< free-running used index (what used->idx holds) */
    uint16_t signalled_used; /**< used_idx when the guest was last interrupted for this queue */
    bool signalled_valid;    /**< signalled_used means something (false after enable) */
    /** Why the last failing call failed, for the transport's guest-error line. */
    char error[128];
};

/** Sets the device's maximum size (a power of two ≤ VIRTQ_MAX_SIZE) and resets the queue. */
void virtq_init(struct virtq *vq, uint16_t max_size);

/** Device reset for this queue (§2.4): disabled, size back to the maximum, addresses 0, progress 0,
 * MSI-X vector VIRTQ_NO_VECTOR. Keeps max_size. */
void virtq_reset(struct virtq *vq);

/** Validates the configuration (size, alignment, rings inside guest RAM) and starts the queue from
 * index 0. Returns 0, or -EINVAL (size, alignment) / -EFAULT (a ring outside RAM) with `error` set;
 * the queue then stays disabled. */
int virtq_enable(struct virtq *vq, struct pgm *pgm);

/** Pops the next available chain into `chain` (its `bufs`/`max_bufs` provided by the caller).
 * Returns 1 with the chain filled, 0 when the driver has made nothing available (or the queue is
 * disabled), or a negative errno after a driver error (`error` says which):
 *   -EPROTO   avail index more than a queue ahead
 *   -EINVAL   head/next index out of range, indirect misuse, readable after writable
 *   -ELOOP    chain longer than the queue (hop budget)
 *   -ENOBUFS  more buffers than the queue size or the caller's max_bufs
 *   -EFAULT   a ring, table or buffer outside guest memory
 *   -EOVERFLOW byte totals beyond 32 bits
 * With EVENT_IDX, an empty queue publishes avail_event = the next index to consume and looks again,
 * so a chain made available meanwhile is not missed. */
int virtq_pop(struct virtq *vq, struct pgm *pgm, struct modvm_virtio_chain *chain);

/** Puts chain `head` on the used ring with `len` bytes written and publishes the new used index.
 * -EINVAL when the queue is disabled, `head` ≥ size or nothing is in flight (a push without a pop);
 * -EFAULT if the used ring is no longer RAM. */
int virtq_push(struct virtq *vq, struct pgm *pgm, uint16_t head, uint32_t len);

/** Decides whether the guest wants an interrupt for what was pushed since the last one (§2.7.10):
 * with EVENT_IDX by used_event, else by VIRTQ_AVAIL_F_NO_INTERRUPT. Records the decision point. */
bool virtq_should_notify(struct virtq *vq, struct pgm *pgm);

/** The virtio-pci transport's helper table (virtio-pci.c), which interfaces.c hands out for
 * MODVM_IFACE_VIRTIO. */
extern const struct modvm_virtio_hlp pdm_virtio_hlp;

#endif
