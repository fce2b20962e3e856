/* tests/unit/test-virtqueue.c — the split-virtqueue engine (pdm/virtqueue.c) against hostile rings,
 * and the virtio-pci transport's status/feature/queue-config rules (pdm/virtio-pci*.c) through fake
 * PCI and device helper tables. No VM: guest memory is a real PGM (pgm_create + pgm_phys_*).
 *
 * Spec: Virtual I/O Device (VIRTIO) Version 1.2, §2.7 (split virtqueues), §4.1 (virtio over PCI),
 * §2.1 (device status). Every rule virtqueue.h lists has a case here that breaks it and expects a
 * negative errno, never a crash; ASan/UBSan builds run the same cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/pci.h>
#include <modvm/virtio.h>

#include "../../core/pgm.h"
#include "../../core/vm.h"
#include "../../pdm/internal.h"
#include "../../pdm/virtqueue.h"

#define RAM_SIZE (1u << 20)
#define DESC_GPA 0x1000u
#define AVAIL_GPA 0x2000u
#define USED_GPA 0x3000u
#define DATA_GPA 0x10000u
#define QSIZE 8u
#define MAX_BUFS 64u

/* One engine test: guest memory, a queue, a chain buffer. */
struct vqt {
    struct pgm *pgm;
    struct virtq vq;
    struct modvm_virtio_buf bufs[MAX_BUFS];
    struct modvm_virtio_chain chain;
    uint16_t avail_idx; /* what the "driver" published */
};

/* ---- a tiny driver: writes descriptors and ring entries into guest RAM ------------------------- */

static void wr16(struct vqt *t, uint64_t gpa, uint16_t v)
{
    assert_int_equal(pgm_phys_write(t->pgm, gpa, &v, 2), 0);
}

static uint16_t rd16(struct vqt *t, uint64_t gpa)
{
    uint16_t v = 0;
    assert_int_equal(pgm_phys_read(t->pgm, gpa, &v, 2), 0);
    return v;
}

static uint32_t rd32(struct vqt *t, uint64_t gpa)
{
    uint32_t v = 0;
    assert_int_equal(pgm_phys_read(t->pgm, gpa, &v, 4), 0);
    return v;
}

/* Writes descriptor `i` of the table at `table`. */
static void set_desc_at(struct vqt *t, uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                        uint16_t next)
{
    uint8_t d[16];
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    assert_int_equal(pgm_phys_write(t->pgm, table + 16ull * i, d, 16), 0);
}

static void set_desc(struct vqt *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    set_desc_at(t, DESC_GPA, i, addr, len, flags, next);
}

/* Makes chain `head` available and publishes the new avail index. */
static void make_avail(struct vqt *t, uint16_t head)
{
    wr16(t, AVAIL_GPA + 4 + 2u * (t->avail_idx % t->vq.size), head);
    t->avail_idx++;
    wr16(t, AVAIL_GPA + 2, t->avail_idx);
}

static int pop(struct vqt *t)
{
    t->chain = (struct modvm_virtio_chain){.bufs = t->bufs, .max_bufs = MAX_BUFS};
    return virtq_pop(&t->vq, t->pgm, &t->chain);
}

static int setup(void **state)
{
    struct vqt *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    assert_int_equal(pgm_create(RAM_SIZE, &t->pgm), 0);
    virtq_init(&t->vq, QSIZE);
    t->vq.desc_gpa = DESC_GPA;
    t->vq.avail_gpa = AVAIL_GPA;
    t->vq.used_gpa = USED_GPA;
    assert_int_equal(virtq_enable(&t->vq, t->pgm), 0);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct vqt *t = *state;
    pgm_destroy(t->pgm);
    free(t);
    return 0;
}

/* ---- happy paths -------------------------------------------------------------------------------- */

/* A block-style chain: header (readable), data (writable), status (writable); pushed and notified. */
static void test_pop_push_happy(void **state)
{
    struct vqt *t = *state;
    assert_int_equal(pop(t), 0); /* nothing yet */
    set_desc(t, 3, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 5);
    set_desc(t, 5, DATA_GPA + 0x1000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
    set_desc(t, 0, DATA_GPA + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
    make_avail(t, 3);
    assert_int_equal(pop(t), 1);
    assert_int_equal(t->chain.head, 3);
    assert_int_equal(t->chain.nout, 1);
    assert_int_equal(t->chain.nin, 2);
    assert_int_equal(t->chain.out_len, 16);
    assert_int_equal(t->chain.in_len, 513);
    assert_int_equal(t->bufs[0].gpa, DATA_GPA);
    assert_int_equal(t->bufs[1].gpa, DATA_GPA + 0x1000);
    assert_int_equal(t->bufs[2].len, 1);
    assert_int_equal(pop(t), 0);
    assert_int_equal(virtq_push(&t->vq, t->pgm, 3, 513), 0);
    assert_int_equal(rd16(t, USED_GPA + 2), 1);
    assert_int_equal(rd32(t, USED_GPA + 4), 3);
    assert_int_equal(rd32(t, USED_GPA + 8), 513);
    assert_true(virtq_should_notify(&t->vq, t->pgm));
}

/* The free-running indices wrap at 65536; ring slots follow idx % size. */
static void test_index_wrap(void **state)
{
    struct vqt *t = *state;
    set_desc(t, 1, DATA_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
    for (unsigned i = 0; i < 70000; i++) {
        make_avail(t, 1);
        assert_int_equal(pop(t), 1);
        assert_int_equal(virtq_push(&t->vq, t->pgm, 1, 64), 0);
    }
    assert_int_equal(rd16(t, USED_GPA + 2), (uint16_t)70000);
    assert_int_equal(pop(t), 0);
}

/* A full queue's worth (avail exactly `size` ahead) is legal. */
static void test_avail_full_queue_ok(void **state)
{
    struct vqt *t = *state;
    for (unsigned i = 0; i < QSIZE; i++) {
        set_desc(t, i, DATA_GPA + i * 16u, 16, 0, 0);
        make_avail(t, (uint16_t)i);
    }
    for (unsigned i = 0; i < QSIZE; i++) {
        assert_int_equal(pop(t), 1);
        assert_int_equal(t->chain.head, i);
    }
    assert_int_equal(pop(t), 0);
}

/* An indirect table after one direct descriptor (§2.7.5.3.2), when negotiated. */
static void test_indirect_happy(void **state)
{
    struct vqt *t = *state;
    t->vq.indirect = true;
    uint64_t table = 0x8000;
    set_desc_at(t, table, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 2);
    set_desc_at(t, table, 2, DATA_GPA + 0x100, 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_desc_at(t, table, 1, DATA_GPA + 0x200, 1, VIRTQ_DESC_F_WRITE, 0);
    set_desc(t, 4, DATA_GPA + 0x300, 8, VIRTQ_DESC_F_NEXT, 6);
    /* the WRITE flag on the descriptor that points at the table is ignored (§2.7.5.3.2) */
    set_desc(t, 6, table, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
    make_avail(t, 4);
    assert_int_equal(pop(t), 1);
    assert_int_equal(t->chain.nout, 2);
    assert_int_equal(t->chain.nin, 2);
    assert_int_equal(t->chain.out_len, 24);
    assert_int_equal(t->chain.in_len, 101);
    assert_int_equal(t->bufs[0].gpa, DATA_GPA + 0x300);
    assert_int_equal(t->bufs[1].gpa, DATA_GPA);
}

/* A readable buffer in ROM is fine (the device only reads it). */
static void test_readable_rom_ok(void **state)
{
    struct vqt *t = *state;
    static const uint8_t rom[16] = {1, 2, 3};
    assert_int_equal(pgm_add_rom(t->pgm, 0x200000, 0x1000, rom, sizeof(rom)), 0);
    set_desc(t, 0, 0x200000, 16, 0, 0);
    make_avail(t, 0);
    assert_int_equal(pop(t), 1);
}

/* ---- notification suppression ------------------------------------------------------------------- */

/* Without EVENT_IDX: VIRTQ_AVAIL_F_NO_INTERRUPT suppresses. */
static void test_no_interrupt_flag(void **state)
{
    struct vqt *t = *state;
    set_desc(t, 0, DATA_GPA, 4, VIRTQ_DESC_F_WRITE, 0);
    wr16(t, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
    make_avail(t, 0);
    assert_int_equal(pop(t), 1);
    assert_int_equal(virtq_push(&t->vq, t->pgm, 0, 4), 0);
    assert_false(virtq_should_notify(&t->vq, t->pgm));
    wr16(t, AVAIL_GPA, 0);
    assert_true(virtq_should_notify(&t->vq, t->pgm));
}

/* With EVENT_IDX: interrupt only when used_idx passes used_event; avail_event published on empty. */
static void test_event_idx(void **state)
{
    struct vqt *t = *state;
    t->vq.event_idx = true;
    uint64_t used_event = AVAIL_GPA + 4 + 2 * QSIZE, avail_event = USED_GPA + 4 + 8 * QSIZE;
    set_desc(t, 0, DATA_GPA, 4, VIRTQ_DESC_F_WRITE, 0);
    wr16(t, avail_event, 0xdead);
    assert_int_equal(pop(t), 0);
    assert_int_equal(rd16(t, avail_event), 0); /* "kick me at index 0" */
    /* first completion always interrupts */
    make_avail(t, 0);
    assert_int_equal(pop(t), 1);
    assert_int_equal(virtq_push(&t->vq, t->pgm, 0, 4), 0);
    assert_true(virtq_should_notify(&t->vq, t->pgm));
    /* driver wants an interrupt only after used index 3 (used_event = 2 means "when idx passes 2") */
    wr16(t, used_event, 2);
    make_avail(t, 0);
    assert_int_equal(pop(t), 1);
    assert_int_equal(virtq_push(&t->vq, t->pgm, 0, 4), 0); /* used_idx 2 */
    assert_false(virtq_should_notify(&t->vq, t->pgm));
    make_avail(t, 0);
    assert_int_equal(pop(t), 1);
    assert_int_equal(virtq_push(&t->vq, t->pgm, 0, 4), 0); /* used_idx 3: passed 2 */
    assert_true(virtq_should_notify(&t->vq, t->pgm));
    assert_false(virtq_should_notify(&t->vq, t->pgm)); /* nothing new */
    assert_int_equal(pop(t), 0);
    assert_int_equal(rd16(t, avail_event), 3);
}

/* ---- hostile chains ----------------------------------------------------------------------------- */

/* next pointing back: a two-descriptor loop and a self loop end at the hop budget. */
static void test_loop(void **state)
{
    struct vqt *t = *state;
    set_desc(t, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc(t, 1, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 0);
    make_avail(t, 0);
    assert_int_equal(pop(t), -ELOOP);
    assert_non_null(strstr(t->vq.error, "longer than the queue"));
}

static void test_self_loop(void **state)
{
    struct vqt *t = *state;
    set_desc(t, 2, DATA_GPA, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    make_avail(t, 2);
    assert_int_equal(pop(t), -ELOOP);
}

/* A chain using every descriptor once is fine; the same with a zero-length loop back is not. */
static void test_longest_chain(void **state)
{
    struct vqt *t = *state;
    for (unsigned i = 0; i < QSIZE; i++)
        set_desc(t, i, DATA_GPA, 1, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    make_avail(t, 0);
    assert_int_equal(pop(t), 1);
    assert_int_equal(t->chain.nout, QSIZE);
    set_desc(t, QSIZE - 1, DATA_GPA, 0, VIRTQ_DESC_F_NEXT, 0);
    make_avail(t, 0);
    assert_int_equal(pop(t), -ELOOP);
}

static void test_head_out_of_range(void **state)
{
    struct vqt *t = *state;
    make_avail(t, QSIZE);
    assert_int_equal(pop(t), -EINVAL);
    assert_non_null(strstr(t->vq.error, "head"));
}

static void test_next_out_of_range(void **state)
{
    struct vqt *t = *state;
    set_desc(t, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 0xffff);
    make_avail(t, 0);
    assert_int_equal(pop(t), -EINVAL);
    assert_non_null(strstr(t->vq.error, "next"));
}

/* The avail index more than a queue ahead of what was consumed. */
static void test_avail_idx_jump(void **state)
{
    struct vqt *t = *state;
    wr16(t, AVAIL_GPA + 2, QSIZE + 1);
    assert_int_equal(pop(t), -EPROTO);
    wr16(t, AVAIL_GPA + 2, 0xffff); /* "behind" is the same as far ahead modulo 2^16 */
    assert_int_equal(pop(t), -EPROTO);
}

static void test_readable_after_writable(void **state)
{
    struct vqt *t = *state;
    set_desc(t, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_desc(t, 1, DATA_GPA, 16, 0, 0);
    make_avail(t, 0);
    assert_int_equal(pop(t), -EINVAL);
    assert_non_null(strstr(t->vq.error, "readable buffer after"));
}

/* Buffers outside RAM, wrapping around 2^64, and a writable buffer in ROM. */
static void test_buffer_outside_ram(void **state)
{
    struct vqt *t = *state;
    set_desc(t, 0, RAM_SIZE - 8, 16, 0, 0);
    make_avail(t, 0);
    assert_int_equal(pop(t), -EFAULT);
}

static void test_buffer_wraps(void **state)
{
    struct vqt *t = *state;
    set_desc(t, 0, UINT64_MAX - 3, 16, VIRTQ_DESC_F_WRITE, 0);
    make_avail(t, 0);
    assert_int_equal(pop(t), -EFAULT);
}

static void test_buffer_in_mmio_hole(void **state)
{
    struct vqt *t = *state;
    set_desc(t, 0, 0xfee00000, 4, VIRTQ_DESC_F_WRITE, 0);
    make_avail(t, 0);
    assert_int_equal(pop(t), -EFAULT);
}

static void test_writable_rom_refused(void **state)
{
    struct vqt *t = *state;
    static const uint8_t rom[16] = {0};
    assert_int_equal(pgm_add_rom(t->pgm, 0x200000, 0x1000, rom, sizeof(rom)), 0);
    set_desc(t, 0, 0x200000, 16, VIRTQ_DESC_F_WRITE, 0);
    make_avail(t, 0);
    assert_int_equal(pop(t), -EFAULT);
}

/* More buffers than the caller has room for. */
static void test_caller_max_bufs(void **state)
{
    struct vqt *t = *state;
    set_desc(t, 0, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 1);
    set_desc(t, 1, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 2);
    set_desc(t, 2, DATA_GPA, 1, 0, 0);
    make_avail(t, 0);
    t->chain = (struct modvm_virtio_chain){.bufs = t->bufs, .max_bufs = 2};
    assert_int_equal(virtq_pop(&t->vq, t->pgm, &t->chain), -ENOBUFS);
}

/* ---- hostile indirect tables -------------------------------------------------------------------- */

#define TABLE_GPA 0x8000u

/* Points descriptor 0 at an indirect table of `len` bytes at `table` and makes it available. */
static int pop_indirect(struct vqt *t, uint64_t table, uint32_t len, uint16_t flags)
{
    set_desc(t, 0, table, len, VIRTQ_DESC_F_INDIRECT | flags, 0);
    make_avail(t, 0);
    return pop(t);
}

static void test_indirect_not_negotiated(void **state)
{
    struct vqt *t = *state;
    set_desc_at(t, TABLE_GPA, 0, DATA_GPA, 16, 0, 0);
    assert_int_equal(pop_indirect(t, TABLE_GPA, 16, 0), -EINVAL);
    assert_non_null(strstr(t->vq.error, "not negotiated"));
}

static void test_indirect_bad_length(void **state)
{
    struct vqt *t = *state;
    t->vq.indirect = true;
    set_desc_at(t, TABLE_GPA, 0, DATA_GPA, 16, 0, 0);
    assert_int_equal(pop_indirect(t, TABLE_GPA, 24, 0), -EINVAL);
    assert_int_equal(pop_indirect(t, TABLE_GPA, 0, 0), -EINVAL);
}

static void test_indirect_too_many_entries(void **state)
{
    struct vqt *t = *state;
    t->vq.indirect = true;
    for (unsigned i = 0; i <= QSIZE; i++)
        set_desc_at(t, TABLE_GPA, i, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
    assert_int_equal(pop_indirect(t, TABLE_GPA, 16 * (QSIZE + 1), 0), -EINVAL);
}

/* Direct buffers plus table entries beyond the queue size. */
static void test_indirect_total_over_queue(void **state)
{
    struct vqt *t = *state;
    t->vq.indirect = true;
    for (unsigned i = 0; i < QSIZE; i++)
        set_desc_at(t, TABLE_GPA, i, DATA_GPA, 1, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    set_desc(t, 1, DATA_GPA, 1, VIRTQ_DESC_F_NEXT, 2);
    set_desc(t, 2, TABLE_GPA, 16 * QSIZE, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(t, 1);
    assert_int_equal(pop(t), -ENOBUFS);
}

static void test_indirect_nested(void **state)
{
    struct vqt *t = *state;
    t->vq.indirect = true;
    set_desc_at(t, TABLE_GPA, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    assert_int_equal(pop_indirect(t, TABLE_GPA, 32, 0), -EINVAL);
    assert_non_null(strstr(t->vq.error, "nested"));
}

static void test_indirect_next_outside_table(void **state)
{
    struct vqt *t = *state;
    t->vq.indirect = true;
    /* entry 2 exists in memory (and in the descriptor table's range) but not in this 2-entry table */
    set_desc_at(t, TABLE_GPA, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 2);
    set_desc_at(t, TABLE_GPA, 2, DATA_GPA, 16, 0, 0);
    assert_int_equal(pop_indirect(t, TABLE_GPA, 32, 0), -EINVAL);
}

static void test_indirect_loop(void **state)
{
    struct vqt *t = *state;
    t->vq.indirect = true;
    set_desc_at(t, TABLE_GPA, 0, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
    set_desc_at(t, TABLE_GPA, 1, DATA_GPA, 16, VIRTQ_DESC_F_NEXT, 0);
    assert_int_equal(pop_indirect(t, TABLE_GPA, 32, 0), -ELOOP);
}

static void test_indirect_with_next(void **state)
{
    struct vqt *t = *state;
    t->vq.indirect = true;
    set_desc_at(t, TABLE_GPA, 0, DATA_GPA, 16, 0, 0);
    assert_int_equal(pop_indirect(t, TABLE_GPA, 16, VIRTQ_DESC_F_NEXT), -EINVAL);
}

static void test_indirect_table_outside_ram(void **state)
{
    struct vqt *t = *state;
    t->vq.indirect = true;
    assert_int_equal(pop_indirect(t, RAM_SIZE - 16, 32, 0), -EFAULT);
}

/* A table whose entries break the order rule across the direct/indirect boundary. */
static void test_indirect_readable_after_writable(void **state)
{
    struct vqt *t = *state;
    t->vq.indirect = true;
    set_desc_at(t, TABLE_GPA, 0, DATA_GPA, 16, 0, 0);
    set_desc(t, 1, DATA_GPA, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    set_desc(t, 2, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    make_avail(t, 1);
    assert_int_equal(pop(t), -EINVAL);
}

/* ---- queue setup -------------------------------------------------------------------------------- */

/* Tries virtq_enable with one field changed from a valid setup. */
static int try_enable(struct vqt *t, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
    virtq_reset(&t->vq);
    t->vq.size = size;
    t->vq.desc_gpa = desc;
    t->vq.avail_gpa = avail;
    t->vq.used_gpa = used;
    int rc = virtq_enable(&t->vq, t->pgm);
    assert_true(rc == 0 ? t->vq.enabled : !t->vq.enabled);
    return rc;
}

static void test_setup_size(void **state)
{
    struct vqt *t = *state;
    assert_int_equal(try_enable(t, 4, DESC_GPA, AVAIL_GPA, USED_GPA), 0);
    assert_int_equal(try_enable(t, 0, DESC_GPA, AVAIL_GPA, USED_GPA), -EINVAL);
    assert_int_equal(try_enable(t, 6, DESC_GPA, AVAIL_GPA, USED_GPA), -EINVAL);
    assert_int_equal(try_enable(t, 16, DESC_GPA, AVAIL_GPA, USED_GPA), -EINVAL); /* > max 8 */
}

static void test_setup_alignment(void **state)
{
    struct vqt *t = *state;
    assert_int_equal(try_enable(t, QSIZE, DESC_GPA + 8, AVAIL_GPA, USED_GPA), -EINVAL);
    assert_int_equal(try_enable(t, QSIZE, DESC_GPA, AVAIL_GPA + 1, USED_GPA), -EINVAL);
    assert_int_equal(try_enable(t, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA + 2), -EINVAL);
    /* the minimum alignments are enough */
    assert_int_equal(try_enable(t, QSIZE, DESC_GPA + 16, AVAIL_GPA + 2, USED_GPA + 4), 0);
}

static void test_setup_outside_ram(void **state)
{
    struct vqt *t = *state;
    /* each ring straddling the end of RAM, in the MMIO hole, or wrapping */
    assert_int_equal(try_enable(t, QSIZE, RAM_SIZE - 64, AVAIL_GPA, USED_GPA), -EFAULT);
    assert_int_equal(try_enable(t, QSIZE, DESC_GPA, RAM_SIZE - 16, USED_GPA), -EFAULT);
    assert_int_equal(try_enable(t, QSIZE, DESC_GPA, AVAIL_GPA, RAM_SIZE - 32), -EFAULT);
    assert_int_equal(try_enable(t, QSIZE, 0xfec00000, AVAIL_GPA, USED_GPA), -EFAULT);
    assert_int_equal(try_enable(t, QSIZE, DESC_GPA, AVAIL_GPA, UINT64_MAX - 3), -EFAULT);
}

static void test_setup_rings_in_rom(void **state)
{
    struct vqt *t = *state;
    static const uint8_t rom[16] = {0};
    assert_int_equal(pgm_add_rom(t->pgm, 0x200000, 0x1000, rom, sizeof(rom)), 0);
    assert_int_equal(try_enable(t, QSIZE, DESC_GPA, AVAIL_GPA, 0x200000), -EFAULT);
}

/* Pops on a disabled queue find nothing; pushes are refused; a push without a pop is refused. */
static void test_disabled_and_unbalanced(void **state)
{
    struct vqt *t = *state;
    assert_int_equal(virtq_push(&t->vq, t->pgm, 0, 0), -EINVAL); /* nothing in flight */
    assert_int_equal(virtq_push(&t->vq, t->pgm, QSIZE, 0), -EINVAL);
    virtq_reset(&t->vq);
    make_avail(t, 0);
    assert_int_equal(pop(t), 0);
    assert_int_equal(virtq_push(&t->vq, t->pgm, 0, 0), -EINVAL);
    assert_false(virtq_should_notify(&t->vq, t->pgm));
}

/* Byte totals beyond what the used ring's 32-bit length can carry (needs a big, untouched RAM). */
static void test_total_length_overflow(void **state)
{
    (void)state;
    struct vqt t = {0};
    if (pgm_create(0xe0000000ull, &t.pgm) != 0)
        skip();
    virtq_init(&t.vq, QSIZE);
    t.vq.desc_gpa = DESC_GPA;
    t.vq.avail_gpa = AVAIL_GPA;
    t.vq.used_gpa = USED_GPA;
    assert_int_equal(virtq_enable(&t.vq, t.pgm), 0);
    set_desc(&t, 0, 0x100000, 0xc0000000u, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_desc(&t, 1, 0x100000, 0xc0000000u, VIRTQ_DESC_F_WRITE, 0);
    make_avail(&t, 0);
    assert_int_equal(pop(&t), -EOVERFLOW);
    pgm_destroy(t.pgm);
}


/* ================================================================================================ */
/* The virtio-pci transport (pdm/virtio-pci*.c) over fake PCI and device helper tables.             */
/* ================================================================================================ */

/* The VM of the fake device is its PGM (the transport reaches guest memory through vm_pgm). */
struct pgm *vm_pgm(struct vm *vm)
{
    return (struct pgm *)vm;
}

/* What the fake PCI core records. */
struct fake_pci {
    struct modvm_pci_func func;
    void *user;
    uint8_t cfg[256];
    uint8_t wmask[256];
    uint8_t cap_next_free, cap_last;
    const struct modvm_pio_ops *pio[6];
    const struct modvm_mmio_ops *mmio[6];
    void *bar_user[6];
    uint64_t bar_size[6];
    uint32_t bar_kind[6];
    unsigned msix_vectors, msix_bar;
    uint32_t msix_table, msix_pba;
    bool msix_on;
    unsigned msix_sent[8];
    int intx;
};

/* One transport test: guest memory, the fake device and PCI, the test device's counters. */
struct vpt {
    struct pgm *pgm;
    struct pdm_dev pdev;
    struct modvm_dev_hlp hlp;
    struct fake_pci pci;
    modvm_virtio_handle vh;
    const struct modvm_virtio_hlp *virtio;
    unsigned guest_errors;
    char last_guest_error[256];
    unsigned notifies[4], running_calls, stopped_calls;
    bool echo; /* the test device serves queue 0: copies readable bytes into the writable part */
    bool fuzz; /* serves every queue without asserting anything: random guests */
    unsigned popped;
    int last_pop_rc;
    struct modvm_virtio_buf bufs[16];
};

static struct vpt *vpt_of(struct modvm_dev *dev)
{
    return (struct vpt *)((char *)dev - offsetof(struct vpt, pdev));
}

/* -- fake PCI helper table -- */

static int fpci_func_register(struct modvm_dev *dev, const struct modvm_pci_func *func, void *user,
                              modvm_pci_handle *out)
{
    struct fake_pci *p = &vpt_of(dev)->pci;
    p->func = *func;
    p->user = user;
    p->cap_next_free = 0x40;
    *out = (modvm_pci_handle)p;
    return 0;
}

static int fpci_bar_register(struct modvm_dev *dev, modvm_pci_handle h, unsigned bar, uint32_t kind, uint64_t size,
                             const struct modvm_pio_ops *pio, const struct modvm_mmio_ops *mmio, void *user)
{
    (void)dev;
    struct fake_pci *p = (struct fake_pci *)h;
    assert_true(bar < 6);
    assert_true(size && !(size & (size - 1)));
    p->pio[bar] = pio;
    p->mmio[bar] = mmio;
    p->bar_user[bar] = user;
    p->bar_size[bar] = size;
    p->bar_kind[bar] = kind;
    return 0;
}

static int fpci_config_init(struct modvm_dev *dev, modvm_pci_handle h, uint32_t offset, unsigned size, uint32_t value,
                            uint32_t wmask)
{
    (void)dev;
    struct fake_pci *p = (struct fake_pci *)h;
    assert_true(offset >= 0x40 && size >= 1 && size <= 4 && offset + size <= 256);
    for (unsigned i = 0; i < size; i++) {
        p->cfg[offset + i] = (uint8_t)(value >> (8 * i));
        p->wmask[offset + i] = (uint8_t)(wmask >> (8 * i));
    }
    return 0;
}

static uint32_t fpci_config_get(struct modvm_dev *dev, modvm_pci_handle h, uint32_t offset, unsigned size)
{
    (void)dev;
    struct fake_pci *p = (struct fake_pci *)h;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && offset + i < 256; i++)
        v |= (uint32_t)p->cfg[offset + i] << (8 * i);
    return v;
}

static int fpci_cap_add(struct modvm_dev *dev, modvm_pci_handle h, uint8_t cap_id, uint8_t size, uint8_t *offset)
{
    (void)dev;
    struct fake_pci *p = (struct fake_pci *)h;
    uint8_t at = p->cap_next_free;
    assert_true(at + size <= 256);
    p->cfg[at] = cap_id;
    p->cfg[at + 1] = 0;
    if (p->cap_last)
        p->cfg[p->cap_last + 1] = at;
    else
        p->cfg[0x34] = at;
    p->cap_last = at;
    p->cap_next_free = (uint8_t)((at + size + 3u) & ~3u);
    *offset = at;
    return 0;
}

static int fpci_msix_init(struct modvm_dev *dev, modvm_pci_handle h, unsigned nvectors, unsigned bar,
                          uint32_t table_offset, uint32_t pba_offset)
{
    (void)dev;
    struct fake_pci *p = (struct fake_pci *)h;
    assert_non_null(p->mmio[bar]);
    assert_true(table_offset + nvectors * 16u <= p->bar_size[bar] && pba_offset < p->bar_size[bar]);
    p->msix_vectors = nvectors;
    p->msix_bar = bar;
    p->msix_table = table_offset;
    p->msix_pba = pba_offset;
    return 0;
}

static int fpci_msix_notify(struct modvm_dev *dev, modvm_pci_handle h, unsigned vector)
{
    (void)dev;
    struct fake_pci *p = (struct fake_pci *)h;
    assert_true(vector < p->msix_vectors && vector < 8);
    if (!p->msix_on)
        return -ENOTCONN;
    p->msix_sent[vector]++;
    return 0;
}

static bool fpci_msix_enabled(struct modvm_dev *dev, modvm_pci_handle h)
{
    (void)dev;
    return ((struct fake_pci *)h)->msix_on;
}

static int fpci_intx_set(struct modvm_dev *dev, modvm_pci_handle h, int level)
{
    (void)dev;
    ((struct fake_pci *)h)->intx = level;
    return 0;
}

static const struct modvm_pci_hlp fake_pci_hlp = {
    .version = MODVM_PCI_HLP_VERSION,
    .func_register = fpci_func_register,
    .bar_register = fpci_bar_register,
    .config_init = fpci_config_init,
    .config_get = fpci_config_get,
    .cap_add = fpci_cap_add,
    .msix_init = fpci_msix_init,
    .msix_notify = fpci_msix_notify,
    .msix_enabled = fpci_msix_enabled,
    .intx_set = fpci_intx_set,
};

/* -- fake device helper table: DMA, messages, core interfaces -- */

static int fdev_phys_read(struct modvm_dev *dev, uint64_t gpa, void *buf, size_t len)
{
    return pgm_phys_read(vpt_of(dev)->pgm, gpa, buf, len);
}

static int fdev_phys_write(struct modvm_dev *dev, uint64_t gpa, const void *buf, size_t len)
{
    return pgm_phys_write(vpt_of(dev)->pgm, gpa, buf, len);
}

static void fdev_log(struct modvm_dev *dev, int level, const char *fmt, va_list ap)
{
    (void)dev;
    (void)level;
    (void)fmt;
    (void)ap;
}

static int fdev_set_error(struct modvm_dev *dev, int rc, const char *fmt, va_list ap)
{
    vsnprintf(vpt_of(dev)->last_guest_error, sizeof(vpt_of(dev)->last_guest_error), fmt, ap);
    return rc;
}

static void fdev_guest_error(struct modvm_dev *dev, const char *fmt, va_list ap)
{
    struct vpt *t = vpt_of(dev);
    t->guest_errors++;
    vsnprintf(t->last_guest_error, sizeof(t->last_guest_error), fmt, ap);
}

static const void *fdev_core_interface(struct modvm_dev *dev, const char *name, uint32_t min_version)
{
    (void)dev;
    if (strcmp(name, MODVM_IFACE_PCI) == 0 && MODVM_VERSION_ARE_COMPATIBLE(MODVM_PCI_HLP_VERSION, min_version))
        return &fake_pci_hlp;
    if (strcmp(name, MODVM_IFACE_VIRTIO) == 0)
        return &pdm_virtio_hlp;
    return NULL;
}

/* -- the test device -- */

/* Config space: 8 bytes 0x10..0x17. */
static uint32_t tdev_config_read(struct modvm_dev *dev, void *user, uint32_t offset, unsigned size)
{
    (void)dev;
    (void)user;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (0x10u + offset + i) << (8 * i);
    return v;
}

/* Queue 0 echoes: the readable bytes go to the start of the writable part; pushes, notifies. */
static void tdev_queue_notify(struct modvm_dev *dev, void *user, unsigned queue)
{
    struct vpt *t = user;
    t->notifies[queue < 4 ? queue : 3]++;
    if (t->fuzz) {
        struct modvm_virtio_chain c = {.bufs = t->bufs, .max_bufs = 16};
        uint8_t tmp[64] = {0};
        while (t->virtio->queue_pop(dev, t->vh, queue, &c) > 0) {
            t->popped++;
            (void)t->virtio->chain_read(dev, &c, 0, tmp, c.out_len < 64 ? (size_t)c.out_len : 64);
            (void)t->virtio->chain_write(dev, &c, 0, tmp, c.in_len < 64 ? (size_t)c.in_len : 64);
            (void)t->virtio->queue_push(dev, t->vh, queue, &c, 64);
            c = (struct modvm_virtio_chain){.bufs = t->bufs, .max_bufs = 16};
        }
        t->virtio->queue_notify_guest(dev, t->vh, queue);
        return;
    }
    if (!t->echo || queue != 0)
        return;
    for (;;) {
        struct modvm_virtio_chain c = {.bufs = t->bufs, .max_bufs = 16};
        int rc = t->last_pop_rc = t->virtio->queue_pop(dev, t->vh, 0, &c);
        if (rc <= 0)
            break;
        uint8_t tmp[256];
        size_t n = c.out_len < c.in_len ? (size_t)c.out_len : (size_t)c.in_len;
        assert_true(n <= sizeof(tmp));
        assert_int_equal(t->virtio->chain_read(dev, &c, 0, tmp, n), 0);
        assert_int_equal(t->virtio->chain_write(dev, &c, 0, tmp, n), 0);
        /* bounds: nothing beyond the chain's totals */
        assert_int_equal(t->virtio->chain_read(dev, &c, c.out_len, tmp, 1), -EINVAL);
        assert_int_equal(t->virtio->chain_write(dev, &c, c.in_len - 1, tmp, 2), -EINVAL);
        assert_int_equal(t->virtio->queue_push(dev, t->vh, 0, &c, (uint32_t)n), 0);
    }
    t->virtio->queue_notify_guest(dev, t->vh, 0);
}

static void tdev_status_changed(struct modvm_dev *dev, void *user, bool running)
{
    (void)dev;
    struct vpt *t = user;
    if (running)
        t->running_calls++;
    else
        t->stopped_calls++;
}

#define TDEV_FEATURES (1ull << 0 | 1ull << 5 | 1ull << 55)

static struct modvm_virtio_dev tdev_desc(void)
{
    return (struct modvm_virtio_dev){
        .version = MODVM_VIRTIO_DEV_VERSION,
        .device_type = 2,
        .num_queues = 2,
        .queue_max_size = QSIZE,
        .config_size = 8,
        .device_features = TDEV_FEATURES,
        .devfn = -1,
        .config_read = tdev_config_read,
        .queue_notify = tdev_queue_notify,
        .status_changed = tdev_status_changed,
    };
}

static int vpt_setup(void **state)
{
    struct vpt *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    assert_int_equal(pgm_create(RAM_SIZE, &t->pgm), 0);
    t->hlp = (struct modvm_dev_hlp){.version = MODVM_DEV_HLP_VERSION, .phys_read = fdev_phys_read,
                                    .phys_write = fdev_phys_write, .log = fdev_log, .set_error = fdev_set_error,
                                    .guest_error = fdev_guest_error, .core_interface = fdev_core_interface,
                                    .version_end = MODVM_DEV_HLP_VERSION};
    t->pdev.pub = (struct modvm_dev){.version = MODVM_DEV_VERSION, .hlp = &t->hlp, .name = "test"};
    t->pdev.vm = (struct vm *)t->pgm;
    t->virtio = modvm_virtio_hlp(&t->pdev.pub);
    assert_ptr_equal(t->virtio, &pdm_virtio_hlp);
    struct modvm_virtio_dev d = tdev_desc();
    assert_int_equal(t->virtio->device_register(&t->pdev.pub, &d, t, &t->vh), 0);
    *state = t;
    return 0;
}

static int vpt_teardown(void **state)
{
    struct vpt *t = *state;
    t->virtio->device_unregister(&t->pdev.pub, t->vh);
    pgm_destroy(t->pgm);
    free(t);
    return 0;
}

/* -- guest accesses -- */

static struct modvm_dev *D(struct vpt *t)
{
    return &t->pdev.pub;
}

static uint64_t mr(struct vpt *t, uint64_t off, unsigned size)
{
    return t->pci.mmio[4]->read(D(t), t->pci.bar_user[4], off, size);
}

static void mw(struct vpt *t, uint64_t off, uint64_t v, unsigned size)
{
    t->pci.mmio[4]->write(D(t), t->pci.bar_user[4], off, v, size);
}

static uint32_t lin(struct vpt *t, uint16_t off, unsigned size)
{
    return t->pci.pio[0]->in(D(t), t->pci.bar_user[0], off, size);
}

static void lout(struct vpt *t, uint16_t off, uint32_t v, unsigned size)
{
    t->pci.pio[0]->out(D(t), t->pci.bar_user[0], off, v, size);
}

/* Finds the vendor capability of cfg_type `type`; returns its offset or 0. */
static uint8_t find_vcap(struct vpt *t, uint8_t type)
{
    for (uint8_t at = t->pci.cfg[0x34]; at; at = t->pci.cfg[at + 1])
        if (t->pci.cfg[at] == 0x09 && t->pci.cfg[at + 3] == type)
            return at;
    return 0;
}

static uint32_t cfg32(struct vpt *t, unsigned off)
{
    return fpci_config_get(D(t), (modvm_pci_handle)&t->pci, off, 4);
}

/* Modern driver initialisation (§3.1.1) up to FEATURES_OK with `features`; returns the status read. */
static uint8_t modern_negotiate(struct vpt *t, uint64_t features)
{
    mw(t, 0x14, 0x01, 1);
    mw(t, 0x14, 0x03, 1);
    mw(t, 0x08, 0, 4);
    mw(t, 0x0c, (uint32_t)features, 4);
    mw(t, 0x08, 1, 4);
    mw(t, 0x0c, (uint32_t)(features >> 32), 4);
    mw(t, 0x14, 0x0b, 1);
    return (uint8_t)mr(t, 0x14, 1);
}

/* Configures and enables queue `q` with the test ring addresses (64-bit fields written by halves). */
static void modern_queue(struct vpt *t, uint16_t q, uint16_t size)
{
    mw(t, 0x16, q, 2);
    mw(t, 0x18, size, 2);
    mw(t, 0x20, DESC_GPA, 4);
    mw(t, 0x24, 0, 4);
    mw(t, 0x28, AVAIL_GPA, 4);
    mw(t, 0x2c, 0, 4);
    mw(t, 0x30, USED_GPA, 8);
    mw(t, 0x1c, 1, 2);
}

/* A readable 4-byte buffer and a writable 8-byte one as chain 0, made available (through a struct vqt
 * view of the same memory). */
static void echo_chain(struct vpt *t, uint16_t *avail)
{
    struct vqt v = {.pgm = t->pgm, .avail_idx = *avail};
    v.vq.size = QSIZE;
    uint32_t word = 0xcafef00d;
    assert_int_equal(pgm_phys_write(t->pgm, DATA_GPA, &word, 4), 0);
    set_desc(&v, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
    set_desc(&v, 1, DATA_GPA + 0x100, 8, VIRTQ_DESC_F_WRITE, 0);
    make_avail(&v, 0);
    *avail = v.avail_idx;
}

/* ---- transport tests ---------------------------------------------------------------------------- */

/* Identity, BARs and the capability list a driver walks (§4.1.2, §4.1.4). */
static void test_vpci_function_layout(void **state)
{
    struct vpt *t = *state;
    assert_int_equal(t->pci.func.vendor_id, 0x1af4);
    assert_int_equal(t->pci.func.device_id, 0x1001); /* transitional block */
    assert_int_equal(t->pci.func.subsystem_id, 2);
    assert_int_equal(t->pci.func.revision, 0);
    assert_int_equal(t->pci.func.class_code, 0x01);
    assert_int_equal(t->pci.func.subclass, 0x00);
    assert_int_equal(t->pci.func.interrupt_pin, 1);
    assert_int_equal(t->pci.bar_kind[0], MODVM_PCI_BAR_IO);
    assert_true(t->pci.bar_size[0] >= 0x18 + 8);
    assert_int_equal(t->pci.bar_kind[4], MODVM_PCI_BAR_MEM64);
    assert_int_equal(t->pci.msix_vectors, 3);
    assert_int_equal(t->pci.msix_bar, 4);
    uint8_t common = find_vcap(t, 1), notify = find_vcap(t, 2), isr = find_vcap(t, 3), devcfg = find_vcap(t, 4),
            pcicfg = find_vcap(t, 5);
    assert_true(common && notify && isr && devcfg && pcicfg);
    assert_int_equal(t->pci.cfg[common + 2], 16);
    assert_int_equal(t->pci.cfg[common + 4], 4);
    assert_int_equal(cfg32(t, common + 8), 0);
    assert_true(cfg32(t, common + 12) >= 0x38);
    assert_int_equal(t->pci.cfg[notify + 2], 20);
    assert_int_equal(cfg32(t, notify + 16), 4); /* notify_off_multiplier */
    assert_int_equal(cfg32(t, isr + 8), 0x1000);
    assert_int_equal(cfg32(t, devcfg + 12), 8);
    /* structures do not overlap the MSI-X table/PBA */
    assert_true(cfg32(t, notify + 8) + cfg32(t, notify + 12) <= t->pci.msix_table);
    /* device features: VERSION_1 and the transport's bits on top of the device's */
    mw(t, 0x00, 0, 4);
    uint64_t f = mr(t, 0x04, 4);
    mw(t, 0x00, 1, 4);
    f |= mr(t, 0x04, 4) << 32;
    assert_int_equal(f, TDEV_FEATURES | 1ull << 28 | 1ull << 29 | 1ull << 32);
    mw(t, 0x00, 7, 4);
    assert_int_equal(mr(t, 0x04, 4), 0);
    assert_int_equal(mr(t, 0x12, 2), 2); /* num_queues */
    mw(t, 0x16, 1, 2);
    assert_int_equal(mr(t, 0x18, 2), QSIZE);
    assert_int_equal(mr(t, 0x1e, 2), 1); /* queue_notify_off */
    mw(t, 0x16, 9, 2);
    assert_int_equal(mr(t, 0x18, 2), 0); /* absent queue */
    /* device config through BAR4 and its bounds */
    assert_int_equal(mr(t, 0x2000, 4), 0x13121110);
    assert_int_equal(mr(t, 0x2006, 2), 0x1716);
    assert_int_equal(mr(t, 0x2006, 4), 0);
}

/* The whole modern path: negotiate, set up a queue, kick, get the echo and an INTx with ISR bit 0. */
static void test_vpci_modern_happy(void **state)
{
    struct vpt *t = *state;
    t->echo = true;
    assert_int_equal(modern_negotiate(t, 1ull << 32 | 1ull << 5), 0x0b);
    modern_queue(t, 0, QSIZE);
    assert_int_equal(mr(t, 0x1c, 2), 1);
    assert_int_equal(mr(t, 0x20, 8), DESC_GPA);
    assert_int_equal(mr(t, 0x2c, 4), 0);
    mw(t, 0x14, 0x0f, 1);
    assert_int_equal(mr(t, 0x14, 1), 0x0f);
    assert_int_equal(t->running_calls, 1);
    assert_int_equal(t->virtio->features(D(t), t->vh), 1ull << 32 | 1ull << 5);
    uint16_t avail = 0;
    echo_chain(t, &avail);
    mw(t, 0x3000 + 0 * 4, 0, 2); /* notify queue 0 */
    assert_int_equal(t->notifies[0], 1);
    uint32_t echoed = 0;
    assert_int_equal(pgm_phys_read(t->pgm, DATA_GPA + 0x100, &echoed, 4), 0);
    assert_int_equal(echoed, 0xcafef00d);
    uint16_t used_idx = 0;
    assert_int_equal(pgm_phys_read(t->pgm, USED_GPA + 2, &used_idx, 2), 0);
    assert_int_equal(used_idx, 1);
    assert_int_equal(t->pci.intx, 1);
    assert_int_equal(mr(t, 0x1000, 1), 1); /* ISR: queue interrupt, read clears */
    assert_int_equal(t->pci.intx, 0);
    assert_int_equal(mr(t, 0x1000, 1), 0);
    /* notify for a queue that is not enabled / does not exist */
    mw(t, 0x3000 + 1 * 4, 1, 2);
    assert_int_equal(t->notifies[1], 0);
    unsigned errs = t->guest_errors;
    mw(t, 0x3000 + 9 * 4, 9, 2);
    assert_int_equal(t->guest_errors, errs + 1);
    /* reset */
    mw(t, 0x14, 0, 1);
    assert_int_equal(mr(t, 0x14, 1), 0);
    assert_int_equal(t->stopped_calls, 1);
    mw(t, 0x16, 0, 2);
    assert_int_equal(mr(t, 0x1c, 2), 0);
    assert_int_equal(t->virtio->features(D(t), t->vh), 0);
}

/* FEATURES_OK fails for features not offered, and without VERSION_1 on the modern interface. */
static void test_vpci_features_ok_refused(void **state)
{
    struct vpt *t = *state;
    assert_int_equal(modern_negotiate(t, 1ull << 32 | 1ull << 7), 0x03);
    mw(t, 0x14, 0, 1);
    assert_int_equal(modern_negotiate(t, 1ull << 5), 0x03);
    mw(t, 0x14, 0, 1);
    assert_int_equal(modern_negotiate(t, 1ull << 32), 0x0b);
    /* features are frozen after FEATURES_OK */
    mw(t, 0x08, 0, 4);
    mw(t, 0x0c, 1, 4);
    assert_int_equal(mr(t, 0x0c, 4), 0);
}

/* DRIVER_OK without FEATURES_OK is refused on the modern interface; clearing bits is ignored. */
static void test_vpci_status_rules(void **state)
{
    struct vpt *t = *state;
    mw(t, 0x14, 0x07, 1);
    assert_int_equal(mr(t, 0x14, 1), 0x03);
    assert_int_equal(t->running_calls, 0);
    assert_int_equal(modern_negotiate(t, 1ull << 32), 0x0b);
    mw(t, 0x14, 0x01, 1); /* tries to clear DRIVER and FEATURES_OK */
    assert_int_equal(mr(t, 0x14, 1), 0x0b);
    mw(t, 0x14, 0x4b, 1); /* NEEDS_RESET is the device's to set */
    assert_int_equal(mr(t, 0x14, 1), 0x0b);
}

/* Queue configuration is frozen after DRIVER_OK, and while the queue is enabled. */
static void test_vpci_writes_after_driver_ok(void **state)
{
    struct vpt *t = *state;
    assert_int_equal(modern_negotiate(t, 1ull << 32), 0x0b);
    modern_queue(t, 0, QSIZE);
    unsigned errs = t->guest_errors;
    mw(t, 0x18, 4, 2); /* size while enabled */
    mw(t, 0x20, 0x5000, 4);
    assert_int_equal(mr(t, 0x18, 2), QSIZE);
    assert_int_equal(mr(t, 0x20, 4), DESC_GPA);
    assert_true(t->guest_errors >= errs + 2);
    mw(t, 0x14, 0x0f, 1);
    mw(t, 0x16, 1, 2);
    errs = t->guest_errors;
    mw(t, 0x18, 4, 2);
    mw(t, 0x20, DESC_GPA + 0x400, 4);
    mw(t, 0x28, AVAIL_GPA + 0x400, 8);
    mw(t, 0x1c, 1, 2);
    assert_int_equal(mr(t, 0x18, 2), QSIZE);
    assert_int_equal(mr(t, 0x20, 8), 0);
    assert_int_equal(mr(t, 0x1c, 2), 0);
    assert_int_equal(t->guest_errors, errs + 4);
    assert_non_null(strstr(t->last_guest_error, "after DRIVER_OK"));
    assert_int_equal(mr(t, 0x14, 1), 0x0f); /* not a reason to reset */
}

/* A queue configuration that fails validation at enable sets NEEDS_RESET. */
static void test_vpci_bad_queue_config(void **state)
{
    struct vpt *t = *state;
    assert_int_equal(modern_negotiate(t, 1ull << 32), 0x0b);
    mw(t, 0x16, 0, 2);
    mw(t, 0x18, 6, 2); /* not a power of two */
    mw(t, 0x20, DESC_GPA, 8);
    mw(t, 0x28, AVAIL_GPA, 8);
    mw(t, 0x30, USED_GPA, 8);
    mw(t, 0x1c, 1, 2);
    assert_int_equal(mr(t, 0x1c, 2), 0);
    assert_int_equal(mr(t, 0x14, 1), 0x4b);
    /* the queues stay stopped even after DRIVER_OK, until a reset */
    mw(t, 0x14, 0x4f, 1);
    assert_int_equal(t->running_calls, 0);
    mw(t, 0x14, 0, 1);
    assert_int_equal(mr(t, 0x14, 1), 0);
    assert_int_equal(t->stopped_calls, 0); /* never told it was running */
    assert_int_equal(modern_negotiate(t, 1ull << 32), 0x0b);
    mw(t, 0x18, 4, 2);
    mw(t, 0x20, DESC_GPA + 8, 8); /* misaligned */
    mw(t, 0x1c, 1, 2);
    assert_int_equal(mr(t, 0x14, 1), 0x4b);
}

/* A running driver with MSI-X: config changes on vector 0, queue 0 (echoing) on vector 1, and one
 * chain served. */
static void msix_echo_running(struct vpt *t, uint16_t *avail)
{
    t->echo = true;
    t->pci.msix_on = true;
    assert_int_equal(modern_negotiate(t, 1ull << 32), 0x0b);
    mw(t, 0x10, 0, 2); /* config vector 0 */
    assert_int_equal(mr(t, 0x10, 2), 0);
    modern_queue(t, 0, QSIZE);
    mw(t, 0x1a, 3, 2); /* vector 3 does not exist: reads back NO_VECTOR */
    assert_int_equal(mr(t, 0x1a, 2), 0xffff);
    mw(t, 0x1a, 1, 2); /* queue 0 → vector 1 */
    assert_int_equal(mr(t, 0x1a, 2), 1);
    mw(t, 0x14, 0x0f, 1);
    echo_chain(t, avail);
    mw(t, 0x3000, 0, 2);
    assert_int_equal(t->pci.msix_sent[1], 1);
    assert_int_equal(t->pci.intx, 0);
}

/* A hostile chain at run time: NEEDS_RESET, a config interrupt on its MSI-X vector, -EIO afterwards. */
static void test_vpci_hostile_chain_needs_reset(void **state)
{
    struct vpt *t = *state;
    uint16_t avail = 0;
    msix_echo_running(t, &avail);
    /* now a loop */
    struct vqt v = {.pgm = t->pgm, .avail_idx = avail};
    v.vq.size = QSIZE;
    set_desc(&v, 2, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
    make_avail(&v, 2);
    mw(t, 0x3000, 0, 2);
    assert_int_equal(t->last_pop_rc, -ELOOP);
    assert_int_equal(mr(t, 0x14, 1) & 0x40, 0x40);
    assert_int_equal(t->pci.msix_sent[0], 1); /* the config change notification */
    assert_non_null(strstr(t->last_guest_error, "needs a reset"));
    struct modvm_virtio_chain c = {.bufs = t->bufs, .max_bufs = 16};
    assert_int_equal(t->virtio->queue_pop(D(t), t->vh, 0, &c), -EIO);
    unsigned before = t->notifies[0];
    mw(t, 0x3000, 0, 2);
    assert_int_equal(t->notifies[0], before); /* stopped */
    mw(t, 0x14, 0, 1);
    assert_int_equal(mr(t, 0x14, 1), 0);
    assert_int_equal(t->stopped_calls, 1);
}

/* The device's own needs_reset and config_changed. */
static void test_vpci_device_needs_reset(void **state)
{
    struct vpt *t = *state;
    assert_int_equal(modern_negotiate(t, 1ull << 32), 0x0b);
    modern_queue(t, 0, QSIZE);
    mw(t, 0x14, 0x0f, 1);
    uint8_t gen = (uint8_t)mr(t, 0x15, 1);
    t->virtio->config_changed(D(t), t->vh);
    assert_int_equal(mr(t, 0x15, 1), (uint8_t)(gen + 1));
    assert_int_equal(t->pci.intx, 1);
    assert_int_equal(mr(t, 0x1000, 1), 2); /* ISR: config change */
    t->virtio->needs_reset(D(t), t->vh);
    assert_int_equal(mr(t, 0x14, 1), 0x4f);
    assert_int_equal(mr(t, 0x1000, 1), 2);
    t->virtio->device_reset(D(t), t->vh); /* VM reset */
    assert_int_equal(mr(t, 0x14, 1), 0);
    assert_int_equal(t->stopped_calls, 0);
}

/* The legacy interface: low feature bits, PFN ring layout, notify register, ISR, config offsets. */
static void test_vpci_legacy(void **state)
{
    struct vpt *t = *state;
    t->echo = true;
    assert_int_equal(lin(t, 0x00, 4), (uint32_t)(TDEV_FEATURES | 1ull << 28 | 1ull << 29));
    lout(t, 0x12, 0x03, 1);
    lout(t, 0x04, 0xffffffffu, 4); /* accepts everything: masked to what was offered */
    assert_int_equal(lin(t, 0x04, 4), (uint32_t)(TDEV_FEATURES | 1ull << 28 | 1ull << 29));
    lout(t, 0x0e, 0, 2);
    assert_int_equal(lin(t, 0x0c, 2), QSIZE);
    /* PFN layout (§2.7.2): desc at PFN, avail after 16*size, used at the next 4 KiB boundary */
    lout(t, 0x08, DESC_GPA >> 12, 4);
    assert_int_equal(lin(t, 0x08, 4), DESC_GPA >> 12);
    lout(t, 0x12, 0x07, 1);
    assert_int_equal(t->running_calls, 1);
    struct vqt v = {.pgm = t->pgm};
    v.vq.size = QSIZE;
    uint32_t word = 0x11223344;
    assert_int_equal(pgm_phys_write(t->pgm, DATA_GPA, &word, 4), 0);
    set_desc(&v, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
    set_desc(&v, 1, DATA_GPA + 0x100, 4, VIRTQ_DESC_F_WRITE, 0);
    uint64_t avail = DESC_GPA + 16 * QSIZE, used = (avail + 6 + 2 * QSIZE + 4095) & ~4095ull;
    wr16(&v, avail + 4, 0);
    wr16(&v, avail + 2, 1);
    lout(t, 0x10, 0, 2); /* notify queue 0 */
    assert_int_equal(t->notifies[0], 1);
    assert_int_equal(rd16(&v, used + 2), 1);
    assert_int_equal(rd32(&v, DATA_GPA + 0x100), 0x11223344);
    assert_int_equal(t->pci.intx, 1);
    assert_int_equal(lin(t, 0x13, 1), 1);
    assert_int_equal(t->pci.intx, 0);
    /* device config at 0x14 without MSI-X, at 0x18 with it (and the vector registers in between) */
    assert_int_equal(lin(t, 0x14, 4), 0x13121110);
    t->pci.msix_on = true;
    assert_int_equal(lin(t, 0x18, 2), 0x1110);
    lout(t, 0x14, 2, 2);
    assert_int_equal(lin(t, 0x14, 2), 2);
    lout(t, 0x16, 7, 2);
    assert_int_equal(lin(t, 0x16, 2), 0xffff);
    /* PFN after DRIVER_OK is refused; wrong widths are guest errors */
    unsigned errs = t->guest_errors;
    lout(t, 0x0e, 1, 2);
    lout(t, 0x08, 0x40, 4);
    assert_int_equal(lin(t, 0x08, 4), 0);
    assert_int_equal(lin(t, 0x00, 2), 0xffffffffu);
    lout(t, 0x12, 0, 4);
    assert_int_equal(lin(t, 0x12, 1), 0x07);
    assert_int_equal(t->guest_errors, errs + 3);
    /* reset through the legacy status */
    lout(t, 0x12, 0, 1);
    assert_int_equal(t->stopped_calls, 1);
    lout(t, 0x0e, 0, 2);
    assert_int_equal(lin(t, 0x08, 4), 0);
}

/* A kick before DRIVER_OK is delivered when the driver is ready (old legacy drivers kick early). */
static void test_vpci_early_kick(void **state)
{
    struct vpt *t = *state;
    lout(t, 0x12, 0x03, 1);
    lout(t, 0x0e, 0, 2);
    lout(t, 0x08, DESC_GPA >> 12, 4);
    lout(t, 0x10, 0, 2);
    assert_int_equal(t->notifies[0], 0);
    lout(t, 0x12, 0x07, 1);
    assert_int_equal(t->notifies[0], 1);
}

/* The PCI configuration access capability (§4.1.4.9): BAR4 registers through config space. */
static void test_vpci_pci_cfg_cap(void **state)
{
    struct vpt *t = *state;
    uint8_t cap = find_vcap(t, 5);
    assert_true(cap != 0);
    assert_int_equal(t->pci.wmask[cap + 4], 0xff);
    assert_non_null(t->pci.func.config_read);
    /* select BAR4 offset 0x14 (device_status), 1 byte, then write 3 through pci_cfg_data */
    fpci_config_init(D(t), (modvm_pci_handle)&t->pci, cap + 4, 1, 4, 0xff);
    fpci_config_init(D(t), (modvm_pci_handle)&t->pci, cap + 8, 4, 0x14, 0xffffffffu);
    fpci_config_init(D(t), (modvm_pci_handle)&t->pci, cap + 12, 4, 1, 0xffffffffu);
    fpci_config_init(D(t), (modvm_pci_handle)&t->pci, cap + 16, 4, 3, 0xffffffffu);
    t->pci.func.config_write(D(t), t->pci.user, cap + 16, 3, 4);
    assert_int_equal(mr(t, 0x14, 1), 3);
    assert_int_equal(t->pci.func.config_read(D(t), t->pci.user, cap + 16, 4, 0xdeadbeef), 3);
    /* a byte read of data[0] only */
    assert_int_equal(t->pci.func.config_read(D(t), t->pci.user, cap + 16, 1, 0xaa), 3);
    /* unaligned or bad length: ignored, the stored value is returned */
    fpci_config_init(D(t), (modvm_pci_handle)&t->pci, cap + 12, 4, 3, 0xffffffffu);
    assert_int_equal(t->pci.func.config_read(D(t), t->pci.user, cap + 16, 4, 0x1234), 0x1234);
    /* other config offsets pass through */
    assert_int_equal(t->pci.func.config_read(D(t), t->pci.user, 0x40, 4, 0x5678), 0x5678);
}

/* Wrong widths and odd offsets everywhere: guest errors, no effect, no crash. */
static void test_vpci_bad_widths(void **state)
{
    struct vpt *t = *state;
    unsigned errs = t->guest_errors;
    mw(t, 0x14, 0x01, 4);  /* status is a byte */
    mw(t, 0x16, 1, 4);     /* queue_select is 16-bit */
    mw(t, 0x01, 1, 1);     /* inside a field */
    assert_int_equal(mr(t, 0x15, 2), 0);
    assert_int_equal(mr(t, 0x14, 1), 0);
    assert_int_equal(mr(t, 0x16, 2), 0);
    assert_true(t->guest_errors >= errs + 4);
    assert_int_equal(mr(t, 0x40, 4), 0); /* beyond the common config: reads 0 */
    mw(t, 0x1004, 1, 1);
    mw(t, 0x2000, 1, 4); /* no config_write: ignored */
    mw(t, 0x2006, 1, 4); /* straddles the end of config */
    mw(t, 0x4000, 1, 4); /* the MSI-X table is the PCI core's; the device never sees it */
    for (uint32_t off = 0; off < 0x20; off++)
        for (unsigned size = 1; size <= 4; size *= 2)
            (void)lin(t, (uint16_t)off, size);
}

/* A seeded random guest: register accesses of every width at field offsets and random ones on both
 * BARs, kicks, MSI-X toggling, and ring memory rewritten with noise or near-valid descriptors. The
 * transport and engine must stay within bounds (ASan/UBSan builds check) and never abort. */
static void test_vpci_random_guest(void **state)
{
    struct vpt *t = *state;
    t->fuzz = true;
    static const uint16_t cc_offsets[] = {0x00, 0x04, 0x08, 0x0c, 0x10, 0x12, 0x14, 0x15, 0x16, 0x18,
                                          0x1a, 0x1c, 0x1e, 0x20, 0x24, 0x28, 0x2c, 0x30, 0x34, 0x38};
    static const uint8_t cc_widths[] = {4, 4, 4, 4, 2, 2, 1, 1, 2, 2, 2, 2, 2, 4, 4, 8, 4, 4, 4, 2};
    static const unsigned sizes[] = {1, 2, 4, 8};
    uint32_t x = 12345;
    for (unsigned i = 0; i < 200000; i++) {
        if (i % 2000 == 0) {
            /* a proper start now and then (fresh rings, as a driver allocates them), so the noise
             * also lands on running queues */
            static const uint8_t zero[0x3000];
            mw(t, 0x14, 0, 1);
            assert_int_equal(pgm_phys_write(t->pgm, DESC_GPA, zero, sizeof(zero)), 0);
            if ((i / 2000) % 2) {
                assert_int_equal(modern_negotiate(t, 1ull << 32 | 3ull << 28), 0x0b);
                modern_queue(t, 0, QSIZE);
                mw(t, 0x14, 0x0f, 1);
            } else {
                lout(t, 0x12, 0x03, 1);
                lout(t, 0x04, 3u << 28, 4);
                lout(t, 0x0e, 0, 2);
                lout(t, 0x08, DESC_GPA >> 12, 4);
                lout(t, 0x12, 0x07, 1);
            }
        }
        x = x * 1103515245u + 12345u;
        uint32_t r = x >> 8, op = r % 16;
        x = x * 1103515245u + 12345u;
        uint64_t value = (uint64_t)x << 32 | (x * 2654435761u);
        unsigned size = sizes[(r >> 4) % 4];
        if (op < 5) {
            /* a common-config field with mostly sane values (so queues do get enabled) */
            unsigned k = (r >> 6) % (sizeof(cc_offsets) / sizeof(cc_offsets[0]));
            uint16_t off = cc_offsets[k];
            uint64_t v = (r >> 12) % 4 == 0 ? value
                         : off == 0x14 ? (value & 0x0f) : off == 0x18 ? QSIZE >> ((r >> 14) % 3)
                         : off >= 0x20 ? (op & 1 ? DESC_GPA : USED_GPA) : value % 4;
            mw(t, off, v, (r >> 16) % 8 == 0 ? size : cc_widths[k]);
        } else if (op < 7) {
            mw(t, value % 0x8000, value >> 17, size);
        } else if (op < 9) {
            (void)mr(t, value % 0x8000, size);
        } else if (op < 11) {
            mw(t, 0x3000 + (value % 3) * 4, 0, 2);
        } else if (op < 13) {
            uint16_t off = (uint16_t)(value % 0x30);
            unsigned lsize = size == 8 ? 4 : size;
            if (op == 11)
                lout(t, off, (uint32_t)(off == 0x08 ? DESC_GPA >> 12 : value >> 7), lsize);
            else
                (void)lin(t, off, lsize);
        } else if (op == 13) {
            t->pci.msix_on = !t->pci.msix_on;
        } else if (op == 14 && (r >> 20) % 8 == 0) {
            /* noise over the rings and descriptors */
            uint64_t gpa = DESC_GPA + value % 0x3000;
            (void)pgm_phys_write(t->pgm, gpa & ~7ull, &value, 8);
        } else {
            /* a near-valid descriptor: in-range address, small length, random flags/next */
            struct vqt v = {.pgm = t->pgm};
            v.vq.size = QSIZE;
            set_desc(&v, (unsigned)(value % QSIZE), DATA_GPA + (value >> 8) % 0x1000, (uint32_t)((value >> 20) % 300),
                     (uint16_t)((value >> 40) % ((value >> 60) ? 4 : 8)), (uint16_t)((value >> 44) % (QSIZE + 2)));
            uint16_t idx = rd16(&v, AVAIL_GPA + 2);
            wr16(&v, AVAIL_GPA + 4 + 2 * (idx % QSIZE), (uint16_t)((value >> 50) % (QSIZE + 1)));
            wr16(&v, AVAIL_GPA + 2, (uint16_t)(idx + 1));
        }
    }
    assert_true(t->notifies[0] > 0);
    assert_true(t->popped > 0);
}

/* §4.1.4.5.1: the configuration bit goes into the ISR before every configuration change
 * notification, with MSI-X on too (the queue bit only without MSI-X). */
static void test_vpci_isr_config_bit_with_msix(void **state)
{
    struct vpt *t = *state;
    uint16_t avail = 0;
    msix_echo_running(t, &avail);
    assert_int_equal(mr(t, 0x1000, 1), 0);
    t->virtio->config_changed(D(t), t->vh);
    assert_int_equal(t->pci.msix_sent[0], 1);
    assert_int_equal(t->pci.intx, 0);
    assert_int_equal(mr(t, 0x1000, 1), 2);
    assert_int_equal(mr(t, 0x1000, 1), 0);
}

/* §4.1.4.3.1: config_generation differs from what the driver saw whenever the config changed since
 * it last read any of it, however many changes there were (a byte bumped per change wraps back). */
static void test_vpci_config_generation_no_wrap(void **state)
{
    struct vpt *t = *state;
    uint8_t gen = (uint8_t)mr(t, 0x15, 1);
    assert_int_equal(mr(t, 0x2000, 4), 0x13121110);
    for (unsigned i = 0; i < 256; i++)
        t->virtio->config_changed(D(t), t->vh);
    uint8_t now = (uint8_t)mr(t, 0x15, 1);
    assert_int_not_equal(now, gen);
    /* once the driver read the config (either interface), the next change is a new generation */
    assert_int_equal(lin(t, 0x14, 1), 0x10);
    t->virtio->config_changed(D(t), t->vh);
    assert_int_not_equal(mr(t, 0x15, 1), now);
}

/* A driver mixing the interfaces gets no features past negotiation (§2.2, §2.2.3): FEATURES_OK
 * through the legacy status is checked like the modern one, a legacy DRIVER_OK without FEATURES_OK
 * leaves the offered bits 0-31 only, and the features are frozen from then on. */
static void test_vpci_mixed_interface_features(void **state)
{
    struct vpt *t = *state;
    mw(t, 0x14, 0x03, 1);
    mw(t, 0x08, 0, 4);
    mw(t, 0x0c, 1u << 7 | 1u, 4); /* bit 7 was not offered */
    mw(t, 0x08, 1, 4);
    mw(t, 0x0c, 1, 4);            /* VERSION_1 */
    lout(t, 0x12, 0x0b, 1);
    assert_int_equal(lin(t, 0x12, 1), 0x03);
    lout(t, 0x12, 0x07, 1);
    assert_int_equal(t->running_calls, 1);
    assert_int_equal(t->virtio->features(D(t), t->vh), 1);
    mw(t, 0x08, 0, 4);
    mw(t, 0x0c, 1u << 5, 4);
    assert_int_equal(t->virtio->features(D(t), t->vh), 1);
}

/* device_register refuses malformed descriptions with a message. */
static void test_vpci_register_checks(void **state)
{
    struct vpt *t = *state;
    modvm_virtio_handle h = NULL;
    struct modvm_virtio_dev d = tdev_desc();
    d.device_features |= 1ull << MODVM_VIRTIO_F_EVENT_IDX;
    assert_int_equal(t->virtio->device_register(D(t), &d, t, &h), -EINVAL);
    d = tdev_desc();
    d.num_queues = 0;
    assert_int_equal(t->virtio->device_register(D(t), &d, t, &h), -EINVAL);
    d = tdev_desc();
    d.queue_max_size = 12;
    assert_int_equal(t->virtio->device_register(D(t), &d, t, &h), -EINVAL);
    d = tdev_desc();
    d.version = MODVM_VERSION_MAKE(0xd7c2, 2, 0);
    assert_int_equal(t->virtio->device_register(D(t), &d, t, &h), -EINVAL);
    d = tdev_desc();
    d.device_type = 64; /* 0x1040 + 64 is past the virtio PCI device IDs (§4.1.2) */
    assert_int_equal(t->virtio->device_register(D(t), &d, t, &h), -EINVAL);
    assert_null(h);
    /* a type without a transitional ID is modern-only: no legacy BAR, revision 1 */
    struct vpt *u = calloc(1, sizeof(*u));
    assert_non_null(u);
    u->pgm = t->pgm;
    u->hlp = t->hlp;
    u->pdev.pub = (struct modvm_dev){.version = MODVM_DEV_VERSION, .hlp = &u->hlp, .name = "t2"};
    u->pdev.vm = (struct vm *)t->pgm;
    u->virtio = t->virtio;
    d = tdev_desc();
    d.device_type = 16; /* GPU */
    assert_int_equal(u->virtio->device_register(&u->pdev.pub, &d, u, &h), 0);
    assert_int_equal(u->pci.func.device_id, 0x1050);
    assert_int_equal(u->pci.func.revision, 1);
    assert_null(u->pci.pio[0]);
    u->virtio->device_unregister(&u->pdev.pub, h);
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pop_push_happy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_wrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_avail_full_queue_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_happy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readable_rom_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_interrupt_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_idx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_self_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_longest_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_avail_idx_jump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readable_after_writable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_outside_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_in_mmio_hole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writable_rom_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caller_max_bufs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_not_negotiated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_bad_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_too_many_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_total_over_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_nested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_next_outside_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_with_next, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_table_outside_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_readable_after_writable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setup_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setup_alignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setup_outside_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setup_rings_in_rom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disabled_and_unbalanced, setup, teardown),
        cmocka_unit_test(test_total_length_overflow),
        cmocka_unit_test_setup_teardown(test_vpci_function_layout, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_modern_happy, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_features_ok_refused, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_status_rules, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_writes_after_driver_ok, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_bad_queue_config, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_hostile_chain_needs_reset, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_device_needs_reset, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_legacy, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_early_kick, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_pci_cfg_cap, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_bad_widths, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_isr_config_bit_with_msix, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_config_generation_no_wrap, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_mixed_interface_features, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_register_checks, vpt_setup, vpt_teardown),
        cmocka_unit_test_setup_teardown(test_vpci_random_guest, vpt_setup, vpt_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
