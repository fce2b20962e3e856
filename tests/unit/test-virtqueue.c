/* tests/unit/test-virtqueue.c — the split-virtqueue engine (pdm/virtqueue.c) against hostile rings,
 * and the virtio-pci transport's status/feature/queue-config rules (pdm/virtio-pci.c) through fake
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

#include "../../core/pgm.h"
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
