/* pdm/virtqueue.c — the split-virtqueue engine.
 *
 * Spec: Virtual I/O Device (VIRTIO) Version 1.2, §2.7 "Split Virtqueues": §2.7.5 descriptor table,
 * §2.7.5.3 indirect descriptors, §2.7.6 available ring, §2.7.8 used ring, §2.7.7/§2.7.10 notification
 * suppression (VIRTQ_AVAIL_F_NO_INTERRUPT, used_event/avail_event of VIRTIO_F_EVENT_IDX), §2.7.13
 * memory barriers. The rules it enforces and the attacker model are in virtqueue.h; every guest
 * value is bounded here, once, so devices never see an unchecked index or address.
 *
 * Ring memory is reached through PGM only: descriptors and ring entries are copied out with
 * pgm_phys_read (one fetch each — the copy is what gets validated and used); the 16-bit index and
 * flag words, which the guest updates concurrently, are loaded and stored atomically through
 * pgm_phys_ptr at their natural alignment (guaranteed by virtq_enable's checks). All fields are
 * little-endian (§2.7 for VERSION_1; legacy drivers on x86 use the same byte order). */
#include "virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../core/pgm.h"

/* A descriptor as the guest lays it out (§2.7.5): 16 bytes, little-endian. */
struct virtq_desc_raw {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
_Static_assert(sizeof(struct virtq_desc_raw) == 16, "virtq descriptor is 16 bytes");

/* A used-ring element (§2.7.8). */
struct virtq_used_elem_raw {
    uint32_t id;
    uint32_t len;
};
_Static_assert(sizeof(struct virtq_used_elem_raw) == 8, "virtq used element is 8 bytes");

/* Offsets inside the rings (§2.7.6, §2.7.8). */
#define VQ_AVAIL_FLAGS 0u
#define VQ_AVAIL_IDX 2u
#define VQ_AVAIL_RING 4u
#define VQ_USED_FLAGS 0u
#define VQ_USED_IDX 2u
#define VQ_USED_RING 4u

/* A chain being collected by virtq_pop. */
struct vq_walk {
    struct modvm_virtio_chain *chain;
    uint32_t nbufs;     /* buffers collected so far */
    uint32_t limit;     /* min(queue size, caller's max_bufs) */
    bool seen_writable; /* a device-writable buffer was collected */
};

/* Records why a call failed and returns rc. */
__attribute__((format(printf, 3, 4))) static int vq_fail(struct virtq *vq, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vq->error, sizeof(vq->error), fmt, ap);
    va_end(ap);
    return rc;
}

/* True when [gpa, gpa+len) lies wholly inside one guest memory region: RAM when `need_ram` (the
 * device writes there, or it must be addressable atomically), else RAM or ROM. A zero-length range
 * touches nothing and is always fine. */
static bool vq_range_ok(struct pgm *pgm, uint64_t gpa, uint64_t len, bool need_ram)
{
    if (len == 0)
        return true;
    if (gpa + len < gpa)
        return false;
    size_t n = pgm_mem_region_count(pgm);
    for (size_t i = 0; i < n; i++) {
        const struct pgm_mem_region *r = pgm_mem_region_at(pgm, i);
        if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
            return !(need_ram && r->readonly);
    }
    return false;
}

/* Atomically loads the 16-bit ring word at `gpa` (naturally aligned, in RAM: virtq_enable checked). */
static int vq_load16(struct pgm *pgm, uint64_t gpa, uint16_t *out)
{
    uint16_t *p = pgm_phys_ptr(pgm, gpa, sizeof(*p));
    if (!p)
        return -EFAULT;
    *out = le16toh(__atomic_load_n(p, __ATOMIC_RELAXED));
    return 0;
}

/* Atomically stores the 16-bit ring word at `gpa` with release ordering: everything written before
 * (used elements) is visible to a driver that sees the new value. */
static int vq_store16(struct pgm *pgm, uint64_t gpa, uint16_t value)
{
    uint16_t *p = pgm_phys_ptr(pgm, gpa, sizeof(*p));
    if (!p)
        return -EFAULT;
    __atomic_store_n(p, htole16(value), __ATOMIC_RELEASE);
    return 0;
}

/* See virtqueue.h: the device's maximum, then a reset. */
void virtq_init(struct virtq *vq, uint16_t max_size)
{
    vq->max_size = max_size;
    virtq_reset(vq);
}

/* See virtqueue.h: everything but max_size back to its initial value. */
void virtq_reset(struct virtq *vq)
{
    uint16_t max = vq->max_size;
    memset(vq, 0, sizeof(*vq));
    vq->max_size = max;
    vq->size = max;
    vq->msix_vector = VIRTQ_NO_VECTOR;
}

/* See virtqueue.h: the one-time checks of the driver's queue configuration (§2.7: sizes and
 * alignments; rings in RAM), then the queue starts at index 0. */
int virtq_enable(struct virtq *vq, struct pgm *pgm)
{
    uint32_t n = vq->size;
    vq->enabled = false;
    if (n == 0 || (n & (n - 1)) != 0 || n > vq->max_size || n > VIRTQ_MAX_SIZE)
        return vq_fail(vq, -EINVAL, "queue size %u is not a power of two from 1 to %u", n, vq->max_size);
    if (vq->desc_gpa % 16 != 0)
        return vq_fail(vq, -EINVAL, "descriptor table at 0x%llx is not 16-byte aligned",
                       (unsigned long long)vq->desc_gpa);
    if (vq->avail_gpa % 2 != 0)
        return vq_fail(vq, -EINVAL, "available ring at 0x%llx is not 2-byte aligned",
                       (unsigned long long)vq->avail_gpa);
    if (vq->used_gpa % 4 != 0)
        return vq_fail(vq, -EINVAL, "used ring at 0x%llx is not 4-byte aligned", (unsigned long long)vq->used_gpa);
    /* RAM for all three: the device reads the first two and writes the third, and the index words
     * are accessed atomically through host pointers, which ROM does not give out. */
    if (!vq_range_ok(pgm, vq->desc_gpa, VIRTQ_DESC_BYTES(n), true))
        return vq_fail(vq, -EFAULT, "descriptor table 0x%llx+0x%llx is not in guest RAM",
                       (unsigned long long)vq->desc_gpa, (unsigned long long)VIRTQ_DESC_BYTES(n));
    if (!vq_range_ok(pgm, vq->avail_gpa, VIRTQ_AVAIL_BYTES(n), true))
        return vq_fail(vq, -EFAULT, "available ring 0x%llx+0x%llx is not in guest RAM",
                       (unsigned long long)vq->avail_gpa, (unsigned long long)VIRTQ_AVAIL_BYTES(n));
    if (!vq_range_ok(pgm, vq->used_gpa, VIRTQ_USED_BYTES(n), true))
        return vq_fail(vq, -EFAULT, "used ring 0x%llx+0x%llx is not in guest RAM",
                       (unsigned long long)vq->used_gpa, (unsigned long long)VIRTQ_USED_BYTES(n));
    vq->last_avail = 0;
    vq->used_idx = 0;
    vq->signalled_used = 0;
    vq->signalled_valid = false;
    vq->error[0] = '\0';
    vq->enabled = true;
    return 0;
}

/* Reads descriptor `index` of the table at `table` into host memory (the one fetch) and converts it
 * to host byte order. */
static int vq_read_desc(struct virtq *vq, struct pgm *pgm, uint64_t table, uint32_t index,
                        struct virtq_desc_raw *out)
{
    struct virtq_desc_raw raw;
    if (pgm_phys_read(pgm, table + 16ull * index, &raw, sizeof(raw)) < 0)
        return vq_fail(vq, -EFAULT, "descriptor %u at 0x%llx is not in guest memory", index,
                       (unsigned long long)(table + 16ull * index));
    out->addr = le64toh(raw.addr);
    out->len = le32toh(raw.len);
    out->flags = le16toh(raw.flags);
    out->next = le16toh(raw.next);
    return 0;
}

/* Adds the buffer of a (host-copied) descriptor to the chain, enforcing the order, the buffer
 * budget, the guest-memory bounds and the 32-bit totals. */
static int vq_add_buf(struct virtq *vq, struct pgm *pgm, struct vq_walk *w, const struct virtq_desc_raw *d)
{
    struct modvm_virtio_chain *c = w->chain;
    bool writable = (d->flags & VIRTQ_DESC_F_WRITE) != 0;
    if (!writable && w->seen_writable)
        return vq_fail(vq, -EINVAL, "chain %u: device-readable buffer after a device-writable one", c->head);
    if (w->nbufs >= w->limit)
        return vq_fail(vq, -ENOBUFS, "chain %u: more than %u buffers", c->head, w->limit);
    if (!vq_range_ok(pgm, d->addr, d->len, writable))
        return vq_fail(vq, -EFAULT, "chain %u: %s buffer 0x%llx+0x%x is not in guest %s", c->head,
                       writable ? "device-writable" : "device-readable", (unsigned long long)d->addr, d->len,
                       writable ? "RAM" : "memory");
    uint64_t *total = writable ? &c->in_len : &c->out_len;
    if (*total + d->len > UINT32_MAX)
        return vq_fail(vq, -EOVERFLOW, "chain %u: %s bytes exceed 4 GiB", c->head,
                       writable ? "device-writable" : "device-readable");
    *total += d->len;
    c->bufs[w->nbufs] = (struct modvm_virtio_buf){.gpa = d->addr, .len = d->len};
    w->nbufs++;
    if (writable) {
        w->seen_writable = true;
        c->nin++;
    } else {
        c->nout++;
    }
    return 0;
}

/* Walks the indirect table a descriptor points at (§2.7.5.3): `len` a non-zero multiple of 16 of at
 * most `size` entries, inside guest memory, no nested indirect descriptor, every `next` inside the
 * table, at most as many hops as entries. */
static int vq_walk_indirect(struct virtq *vq, struct pgm *pgm, struct vq_walk *w, const struct virtq_desc_raw *ind)
{
    uint16_t head = w->chain->head;
    if (!vq->indirect)
        return vq_fail(vq, -EINVAL, "chain %u: indirect descriptor, but VIRTIO_F_INDIRECT_DESC was not negotiated",
                       head);
    if (ind->flags & VIRTQ_DESC_F_NEXT)
        return vq_fail(vq, -EINVAL, "chain %u: indirect descriptor with VIRTQ_DESC_F_NEXT", head);
    if (ind->len == 0 || ind->len % 16 != 0)
        return vq_fail(vq, -EINVAL, "chain %u: indirect table length %u is not a non-zero multiple of 16", head,
                       ind->len);
    uint32_t n = ind->len / 16;
    if (n > vq->size)
        return vq_fail(vq, -EINVAL, "chain %u: indirect table of %u entries exceeds the queue size %u", head, n,
                       vq->size);
    if (!vq_range_ok(pgm, ind->addr, ind->len, false))
        return vq_fail(vq, -EFAULT, "chain %u: indirect table 0x%llx+0x%x is not in guest memory", head,
                       (unsigned long long)ind->addr, ind->len);
    uint32_t index = 0;
    for (uint32_t hops = 1;; hops++) {
        if (hops > n)
            return vq_fail(vq, -ELOOP, "chain %u: indirect chain longer than its %u-entry table", head, n);
        struct virtq_desc_raw d;
        int rc = vq_read_desc(vq, pgm, ind->addr, index, &d);
        if (rc < 0)
            return rc;
        if (d.flags & VIRTQ_DESC_F_INDIRECT)
            return vq_fail(vq, -EINVAL, "chain %u: nested indirect descriptor (entry %u)", head, index);
        if ((rc = vq_add_buf(vq, pgm, w, &d)) < 0)
            return rc;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        if (d.next >= n)
            return vq_fail(vq, -EINVAL, "chain %u: indirect entry %u: next %u is outside the %u-entry table", head,
                           index, d.next, n);
        index = d.next;
    }
}

/* Walks the chain starting at `head` in the descriptor table: at most `size` hops, every `next`
 * < size; zero or more direct descriptors optionally ending in one indirect descriptor (§2.7.5.3.2:
 * the device handles that case). */
static int vq_walk_chain(struct virtq *vq, struct pgm *pgm, struct vq_walk *w, uint16_t head)
{
    uint32_t index = head;
    for (uint32_t hops = 1;; hops++) {
        if (hops > vq->size)
            return vq_fail(vq, -ELOOP, "chain %u: longer than the queue size %u (a loop?)", head, vq->size);
        struct virtq_desc_raw d;
        int rc = vq_read_desc(vq, pgm, vq->desc_gpa, index, &d);
        if (rc < 0)
            return rc;
        if (d.flags & VIRTQ_DESC_F_INDIRECT)
            return vq_walk_indirect(vq, pgm, w, &d);
        if ((rc = vq_add_buf(vq, pgm, w, &d)) < 0)
            return rc;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        if (d.next >= vq->size)
            return vq_fail(vq, -EINVAL, "chain %u: descriptor %u: next %u is not below the queue size %u", head,
                           index, d.next, vq->size);
        index = d.next;
    }
}

/* Loads avail->idx and checks it is at most a queue ahead of what we consumed; *pending gets how
 * many chains wait. */
static int vq_avail_pending(struct virtq *vq, struct pgm *pgm, uint16_t *pending)
{
    uint16_t avail_idx;
    if (vq_load16(pgm, vq->avail_gpa + VQ_AVAIL_IDX, &avail_idx) < 0)
        return vq_fail(vq, -EFAULT, "available ring at 0x%llx is no longer RAM", (unsigned long long)vq->avail_gpa);
    uint16_t n = (uint16_t)(avail_idx - vq->last_avail);
    if (n > vq->size)
        return vq_fail(vq, -EPROTO, "available index %u is %u ahead of the %u consumed (queue size %u)", avail_idx,
                       n, vq->last_avail, vq->size);
    *pending = n;
    return 0;
}

/* See virtqueue.h: the next available chain, walked and validated from host copies (§2.7.6, §2.7.5). */
int virtq_pop(struct virtq *vq, struct pgm *pgm, struct modvm_virtio_chain *chain)
{
    if (!vq->enabled)
        return 0;
    uint16_t pending;
    int rc = vq_avail_pending(vq, pgm, &pending);
    if (rc < 0)
        return rc;
    if (pending == 0) {
        if (!vq->event_idx)
            return 0;
        /* Ask to be kicked when the driver moves past what we consumed (avail_event lives after the
         * used ring's entries), then look again: a chain added before the driver could see the new
         * avail_event would otherwise wait for a kick that never comes. */
        if (vq_store16(pgm, vq->used_gpa + VQ_USED_RING + 8ull * vq->size, vq->last_avail) < 0)
            return vq_fail(vq, -EFAULT, "used ring at 0x%llx is no longer RAM", (unsigned long long)vq->used_gpa);
        atomic_thread_fence(memory_order_seq_cst);
        if ((rc = vq_avail_pending(vq, pgm, &pending)) < 0)
            return rc;
        if (pending == 0)
            return 0;
    }
    /* The ring entry and the descriptors were written before the index we saw. */
    atomic_thread_fence(memory_order_acquire);

    uint16_t head_le;
    uint64_t slot = vq->avail_gpa + VQ_AVAIL_RING + 2ull * (vq->last_avail % vq->size);
    if (pgm_phys_read(pgm, slot, &head_le, sizeof(head_le)) < 0)
        return vq_fail(vq, -EFAULT, "available ring at 0x%llx is no longer in guest memory",
                       (unsigned long long)vq->avail_gpa);
    uint16_t head = le16toh(head_le);
    if (head >= vq->size)
        return vq_fail(vq, -EINVAL, "available ring entry %u: head %u is not below the queue size %u",
                       vq->last_avail % vq->size, head, vq->size);

    chain->head = head;
    chain->nout = chain->nin = 0;
    chain->out_len = chain->in_len = 0;
    struct vq_walk w = {.chain = chain, .limit = vq->size};
    if (chain->max_bufs < w.limit)
        w.limit = chain->max_bufs;
    if (!chain->bufs)
        w.limit = 0;
    if ((rc = vq_walk_chain(vq, pgm, &w, head)) < 0)
        return rc;
    vq->last_avail++;
    return 1;
}

/* See virtqueue.h: one used element, then the used index (§2.7.8, §2.7.14). */
int virtq_push(struct virtq *vq, struct pgm *pgm, uint16_t head, uint32_t len)
{
    if (!vq->enabled)
        return vq_fail(vq, -EINVAL, "push to a disabled queue");
    if (head >= vq->size)
        return vq_fail(vq, -EINVAL, "push of head %u, queue size %u", head, vq->size);
    if (vq->used_idx == vq->last_avail)
        return vq_fail(vq, -EINVAL, "push of head %u with no chain in flight", head);
    struct virtq_used_elem_raw e = {.id = htole32(head), .len = htole32(len)};
    uint64_t slot = vq->used_gpa + VQ_USED_RING + 8ull * (vq->used_idx % vq->size);
    if (pgm_phys_write(pgm, slot, &e, sizeof(e)) < 0)
        return vq_fail(vq, -EFAULT, "used ring at 0x%llx is no longer RAM", (unsigned long long)vq->used_gpa);
    vq->used_idx++;
    /* vq_store16 is a release store: the element is visible before the index that covers it. */
    if (vq_store16(pgm, vq->used_gpa + VQ_USED_IDX, vq->used_idx) < 0)
        return vq_fail(vq, -EFAULT, "used ring at 0x%llx is no longer RAM", (unsigned long long)vq->used_gpa);
    return 0;
}

/* See virtqueue.h: the driver's interrupt suppression (§2.7.7, §2.7.10). */
bool virtq_should_notify(struct virtq *vq, struct pgm *pgm)
{
    if (!vq->enabled)
        return false;
    /* The used index we published must be visible before we read what the driver asked for, or a
     * driver that just re-enabled interrupts and re-checked the ring could be missed (§2.7.13.3). */
    atomic_thread_fence(memory_order_seq_cst);
    if (vq->event_idx) {
        uint16_t old = vq->signalled_used, now = vq->used_idx, used_event;
        bool valid = vq->signalled_valid;
        vq->signalled_used = now;
        vq->signalled_valid = true;
        if (!valid)
            return true;
        /* used_event lives after the available ring's entries. */
        if (vq_load16(pgm, vq->avail_gpa + VQ_AVAIL_RING + 2ull * vq->size, &used_event) < 0)
            return true;
        /* vring_need_event: did used_idx pass used_event since the last interrupt? (§2.7.10) */
        return (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
    }
    uint16_t flags;
    if (vq_load16(pgm, vq->avail_gpa + VQ_AVAIL_FLAGS, &flags) < 0)
        return true;
    return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}
