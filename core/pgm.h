/* core/pgm.h — PGM: guest-physical memory and I/O dispatch.
 *
 * PGM owns guest RAM and ROM (host mmaps that the execution engine maps into the guest) and routes
 * the guest's port I/O and MMIO to the ranges devices registered. It is the one choke point for
 * guest-driven addresses (Firecracker's bus.rs idea): ranges are checked at registration (no zero
 * length, no wrap, no overlap), every access is bounds-checked at dispatch, accesses nobody claims
 * read all ones and drop writes, and device DMA (pgm_phys_read/write) reaches RAM only — never MMIO,
 * so a device cannot re-enter a device through DMA.
 *
 * Locking: one rwlock guards the maps. Dispatch looks a range up under the read lock, takes a
 * reference and calls the handler without the lock, so a handler may map/unmap ranges (a PCI BAR
 * move) itself. Unmapping is immediate; destroying a range waits until no access is in flight. */
#ifndef MODVM_CORE_PGM_H
#define MODVM_CORE_PGM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pgm;
struct pgm_range;

/** Handlers of a range. `offset` is relative to the range's base; `size` is allowed by `sizes`. */
struct pgm_io_ops {
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
};

enum pgm_space { PGM_SPACE_PIO = 0, PGM_SPACE_MMIO = 1 };

/** A piece of guest memory backed by host memory. */
struct pgm_mem_region {
    uint64_t gpa, size;
    void *hva;
    bool readonly; /* ROM: guest writes exit to PGM and are dropped */
    uint32_t slot;
};

/** Called when a memory region appears (added=true) or goes; the engine maps it into the guest. */
typedef int (*pgm_mem_listener_fn)(void *ctx, const struct pgm_mem_region *region, bool added);

/** Counters of guest misbehaviour seen by the bus. */
struct pgm_stats {
    uint64_t unassigned_pio_reads, unassigned_pio_writes;
    uint64_t unassigned_mmio_reads, unassigned_mmio_writes;
    uint64_t bad_size_accesses;
};

/** Creates PGM with `ram_size` bytes of RAM: below 4 GiB up to the 3.5 GiB PCI hole, the rest from
 * 4 GiB. -EINVAL for 0 or an absurd size, -ENOMEM. */
int pgm_create(uint64_t ram_size, struct pgm **out);
void pgm_destroy(struct pgm *pgm);
uint64_t pgm_ram_size(const struct pgm *pgm);

/** Sets the listener and replays every existing region to it. */
int pgm_set_mem_listener(struct pgm *pgm, pgm_mem_listener_fn fn, void *ctx);
/** Adds a ROM of `size` bytes at `gpa` filled from `data` (len ≤ size; the rest is 0xff). */
int pgm_add_rom(struct pgm *pgm, uint64_t gpa, uint64_t size, const void *data, size_t len);
/** The memory regions (RAM and ROM), for the engine and loaders. */
size_t pgm_mem_region_count(const struct pgm *pgm);
const struct pgm_mem_region *pgm_mem_region_at(const struct pgm *pgm, size_t index);

/** Creates an unmapped range of `size` units (ports or bytes) with allowed access sizes `sizes`
 * (mask of 1, 2, 4, 8 bytes). */
int pgm_range_create(struct pgm *pgm, enum pgm_space space, uint64_t size, uint32_t sizes,
                     const struct pgm_io_ops *ops, void *opaque, const char *desc, struct pgm_range **out);
/** Maps a range at `base`: -EINVAL when it wraps or leaves the space (ports ≤ 0xffff, MMIO < 2^52),
 * -EBUSY when it overlaps another range or (MMIO) guest memory, -EALREADY when mapped. */
int pgm_range_map(struct pgm_range *range, uint64_t base);
/** Describes the mapped range or memory that [base, base+size) would overlap in `space` as
 * "<desc> at 0x<base>-0x<end>" into buf; returns 0, or -ENOENT when nothing overlaps. */
int pgm_describe_overlap(struct pgm *pgm, enum pgm_space space, uint64_t base, uint64_t size, char *buf,
                         size_t len);
/** Unmaps a range (in-flight accesses finish on the old mapping). */
int pgm_range_unmap(struct pgm_range *range);
/** Unmaps and frees a range, waiting for accesses in flight. */
void pgm_range_destroy(struct pgm_range *range);
/** The range's description and current base (UINT64_MAX when unmapped). */
const char *pgm_range_desc(const struct pgm_range *range);
uint64_t pgm_range_base(const struct pgm_range *range);
uint64_t pgm_range_size(const struct pgm_range *range);

/** Dispatches a guest port access of `size` (1, 2, 4) bytes. Reads fill *value (all ones when
 * unassigned). Accesses the target range does not allow at that size, or that straddle ranges, are
 * split into byte accesses. */
void pgm_pio_read(struct pgm *pgm, uint16_t port, unsigned size, uint32_t *value);
void pgm_pio_write(struct pgm *pgm, uint16_t port, unsigned size, uint32_t value);
/** Dispatches a guest MMIO access of 1..8 bytes (little-endian data). */
void pgm_mmio_read(struct pgm *pgm, uint64_t gpa, unsigned size, uint64_t *value);
void pgm_mmio_write(struct pgm *pgm, uint64_t gpa, unsigned size, uint64_t value);

/** DMA: copies between guest memory and `buf`. The whole range must lie in guest memory (RAM for
 * writes; RAM or ROM for reads), else -EFAULT and nothing is copied. */
int pgm_phys_read(struct pgm *pgm, uint64_t gpa, void *buf, size_t len);
int pgm_phys_write(struct pgm *pgm, uint64_t gpa, const void *buf, size_t len);
/** A host pointer to `len` bytes of guest RAM at `gpa` (for loaders), or NULL when not all RAM. */
void *pgm_phys_ptr(struct pgm *pgm, uint64_t gpa, size_t len);

/** The legacy shadow window 0xC0000-0xFFFFF: 16 KiB segments of low RAM that a chipset switches as
 * the i440FX's PAM registers do. With PGM_SHADOW_READ a segment's reads reach its RAM, else the
 * window's ROM side (what pgm_shadow_set_rom gave, all ones elsewhere); with PGM_SHADOW_WRITE writes
 * reach the RAM, else they are dropped. DMA follows the same modes (pgm_phys_write fails on a
 * segment without PGM_SHADOW_WRITE; pgm_phys_ptr needs read+write). A PGM whose low RAM ends below
 * 1 MiB has no window (-ENODEV); a new PGM starts with every segment read+write, i.e. plain RAM. */
#define PGM_SHADOW_BASE 0xc0000u
#define PGM_SHADOW_SIZE 0x40000u
#define PGM_SHADOW_SEGMENT 0x4000u
#define PGM_SHADOW_READ 0x1u
#define PGM_SHADOW_WRITE 0x2u
/** Sets the window's ROM side to `len` bytes (≤ PGM_SHADOW_SIZE) ending at 1 MiB (the firmware's
 * real-mode alias); -EINVAL, -ENODEV. */
int pgm_shadow_set_rom(struct pgm *pgm, const void *data, size_t len);
/** Sets the mode of the segments in [base, base+size) (whole segments inside the window): -EINVAL,
 * -ENODEV, or the engine's error from remapping. Any thread. */
int pgm_shadow_set(struct pgm *pgm, uint64_t base, uint64_t size, unsigned mode);
/** The mode of the segment holding `addr`: -EINVAL outside the window, -ENODEV without one. */
int pgm_shadow_get(struct pgm *pgm, uint64_t addr);

/** The ACPI tables a directly booted kernel gets: [start, end) of RAM holding them (reported as ACPI
 * memory in the e820 map and kept free by the loaders; start == end: none) and the RSDP's address
 * (0: none). Set by the VM before it loads a kernel. */
void pgm_set_acpi_area(struct pgm *pgm, uint64_t start, uint64_t end, uint64_t rsdp);
void pgm_get_acpi_area(const struct pgm *pgm, uint64_t *start, uint64_t *end, uint64_t *rsdp);

/** A snapshot of the guest-misbehaviour counters. */
void pgm_get_stats(struct pgm *pgm, struct pgm_stats *out);

#endif
