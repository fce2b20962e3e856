/* core/pgm-internal.h — PGM's state, shared by pgm.c (memory regions, I/O maps, dispatch, DMA) and
 * pgm-shadow.c (the legacy shadow window). Nothing outside core/pgm*.c includes this. */
#ifndef MODVM_CORE_PGM_INTERNAL_H
#define MODVM_CORE_PGM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "pgm.h"

#define PGM_PORT_COUNT 0x10000u
#define PGM_MAX_REGIONS 32
#define PGM_SHADOW_SEGMENTS (PGM_SHADOW_SIZE / PGM_SHADOW_SEGMENT)
/* Engine slots beyond the regions': one per shadow segment, then the low RAM above the window. */
#define PGM_SLOT_SHADOW PGM_MAX_REGIONS
#define PGM_SLOT_ABOVE_SHADOW (PGM_SLOT_SHADOW + PGM_SHADOW_SEGMENTS)

struct pgm_range {
    struct pgm *pgm;
    enum pgm_space space;
    uint64_t base, size; /* base == UINT64_MAX while unmapped */
    uint32_t sizes;
    struct pgm_io_ops ops;
    void *opaque;
    char *desc;
    atomic_uint inflight;
};

/* The shadow window 0xC0000-0xFFFFF (see pgm.h). Modes change under the write lock. */
struct pgm_shadow {
    bool present;                                    /* low RAM covers the window */
    uint8_t mode[PGM_SHADOW_SEGMENTS];               /* PGM_SHADOW_READ | PGM_SHADOW_WRITE */
    struct pgm_mem_region mapped[PGM_SHADOW_SEGMENTS]; /* what the engine maps (size 0: nothing) */
    uint8_t *ram;                                    /* host address of the window's RAM */
    uint8_t *rom;                                    /* the window's ROM side, 0xff where nothing */
};

struct pgm {
    pthread_rwlock_t lock;
    uint64_t ram_size;
    struct pgm_mem_region regions[PGM_MAX_REGIONS];
    size_t nregions;
    pgm_mem_listener_fn listener;
    void *listener_ctx;
    struct pgm_range *ports[PGM_PORT_COUNT];
    struct pgm_range **mmio; /* mapped MMIO ranges sorted by base */
    size_t nmmio, mmio_cap;
    _Atomic uint64_t stats[5];
    uint64_t acpi_start, acpi_end, acpi_rsdp;
    struct pgm_shadow shadow;
};

enum { STAT_PIO_R, STAT_PIO_W, STAT_MMIO_R, STAT_MMIO_W, STAT_BAD_SIZE };

/* Sets the window up once RAM exists (all segments read/write RAM); -ENOMEM. */
int pgm_shadow_init(struct pgm *pgm);
void pgm_shadow_fini(struct pgm *pgm);
/* Tells the listener about a region; low RAM holding the window goes as the pieces around it plus
 * one mapping per segment in its current mode. */
int pgm_notify_region(struct pgm *pgm, const struct pgm_mem_region *r, bool added);
/* A CPU access that exited to PGM inside the window: served by the segments' modes. False when
 * `gpa` is outside the window (or there is none). */
bool pgm_shadow_mmio(struct pgm *pgm, uint64_t gpa, unsigned size, bool write, uint64_t *value);
/* DMA overlapping the window: 1 when [gpa, gpa+len) does not touch it (caller does the plain copy),
 * else 0 or -EFAULT as pgm_phys_read/write promise. */
int pgm_shadow_dma(struct pgm *pgm, uint64_t gpa, void *buf, size_t len, bool write);
/* True when [gpa, gpa+len) touches the window in a segment that is not plain read/write RAM. */
bool pgm_shadow_blocks_ptr(struct pgm *pgm, uint64_t gpa, size_t len);

#endif
