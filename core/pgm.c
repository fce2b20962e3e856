/* core/pgm.c — PGM: guest memory regions, the port-I/O and MMIO maps, dispatch and DMA.
 * See pgm.h for the rules this file enforces. */
#include "pgm-internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PGM_LOW_RAM_LIMIT 0xe0000000ull /* RAM below 4 GiB ends where the PCI hole starts */
#define PGM_HIGH_RAM_BASE 0x100000000ull
#define PGM_MMIO_LIMIT (1ull << 52)
#define PGM_MAX_RAM (1ull << 40)

/* Maps anonymous host memory for a region; guest RAM is demand-zero and never pre-touched. */
static void *pgm_alloc_host(uint64_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, size, MADV_MERGEABLE);
    return p;
}

/* Appends a memory region and tells the listener. */
static int pgm_add_region(struct pgm *pgm, uint64_t gpa, uint64_t size, void *hva, bool readonly)
{
    if (pgm->nregions == PGM_MAX_REGIONS)
        return -ENOSPC;
    struct pgm_mem_region *r = &pgm->regions[pgm->nregions];
    *r = (struct pgm_mem_region){.gpa = gpa, .size = size, .hva = hva, .readonly = readonly,
                                 .slot = (uint32_t)pgm->nregions};
    int rc = pgm_notify_region(pgm, r, true);
    if (rc < 0)
        return rc;
    pgm->nregions++;
    return 0;
}

/* Finds the memory region holding [gpa, gpa+len), or NULL. */
static const struct pgm_mem_region *pgm_find_region(const struct pgm *pgm, uint64_t gpa, uint64_t len)
{
    for (size_t i = 0; i < pgm->nregions; i++) {
        const struct pgm_mem_region *r = &pgm->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
            return r;
    }
    return NULL;
}

/* True when [a, a+alen) and [b, b+blen) overlap (lengths > 0, no wrap). */
static bool pgm_overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int pgm_create(uint64_t ram_size, struct pgm **out)
{
    if (ram_size == 0 || ram_size > PGM_MAX_RAM || (ram_size & 0xfff))
        return -EINVAL;
    struct pgm *pgm = calloc(1, sizeof(*pgm));
    if (!pgm)
        return -ENOMEM;
    pthread_rwlock_init(&pgm->lock, NULL);
    pgm->ram_size = ram_size;
    uint64_t low = ram_size < PGM_LOW_RAM_LIMIT ? ram_size : PGM_LOW_RAM_LIMIT;
    void *hva = pgm_alloc_host(ram_size);
    if (!hva) {
        pgm_destroy(pgm);
        return -ENOMEM;
    }
    pgm_add_region(pgm, 0, low, hva, false);
    if (ram_size > low)
        pgm_add_region(pgm, PGM_HIGH_RAM_BASE, ram_size - low, (uint8_t *)hva + low, false);
    if (pgm_shadow_init(pgm) < 0) {
        pgm_destroy(pgm);
        return -ENOMEM;
    }
    *out = pgm;
    return 0;
}

void pgm_destroy(struct pgm *pgm)
{
    if (!pgm)
        return;
    for (size_t i = 0; i < pgm->nregions; i++) {
        struct pgm_mem_region *r = &pgm->regions[i];
        if (r->readonly)
            munmap(r->hva, r->size);
    }
    pgm_shadow_fini(pgm);
    if (pgm->nregions)
        munmap(pgm->regions[0].hva, pgm->ram_size);
    free(pgm->mmio);
    pthread_rwlock_destroy(&pgm->lock);
    free(pgm);
}

uint64_t pgm_ram_size(const struct pgm *pgm)
{
    return pgm->ram_size;
}

int pgm_set_mem_listener(struct pgm *pgm, pgm_mem_listener_fn fn, void *ctx)
{
    pgm->listener = fn;
    pgm->listener_ctx = ctx;
    for (size_t i = 0; fn && i < pgm->nregions; i++) {
        int rc = pgm_notify_region(pgm, &pgm->regions[i], true);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int pgm_add_rom(struct pgm *pgm, uint64_t gpa, uint64_t size, const void *data, size_t len)
{
    if (size == 0 || (size & 0xfff) || (gpa & 0xfff) || len > size || gpa + size < gpa)
        return -EINVAL;
    pthread_rwlock_wrlock(&pgm->lock);
    int rc = 0;
    for (size_t i = 0; i < pgm->nregions && rc == 0; i++)
        if (pgm_overlaps(gpa, size, pgm->regions[i].gpa, pgm->regions[i].size))
            rc = -EBUSY;
    for (size_t i = 0; i < pgm->nmmio && rc == 0; i++)
        if (pgm_overlaps(gpa, size, pgm->mmio[i]->base, pgm->mmio[i]->size))
            rc = -EBUSY;
    void *hva = rc == 0 ? pgm_alloc_host(size) : NULL;
    if (rc == 0 && !hva)
        rc = -ENOMEM;
    if (rc == 0) {
        memset(hva, 0xff, size);
        memcpy(hva, data, len);
        rc = pgm_add_region(pgm, gpa, size, hva, true);
        if (rc < 0)
            munmap(hva, size);
    }
    pthread_rwlock_unlock(&pgm->lock);
    return rc;
}

size_t pgm_mem_region_count(const struct pgm *pgm)
{
    return pgm->nregions;
}

const struct pgm_mem_region *pgm_mem_region_at(const struct pgm *pgm, size_t index)
{
    return index < pgm->nregions ? &pgm->regions[index] : NULL;
}

int pgm_range_create(struct pgm *pgm, enum pgm_space space, uint64_t size, uint32_t sizes,
                     const struct pgm_io_ops *ops, void *opaque, const char *desc, struct pgm_range **out)
{
    uint64_t limit = space == PGM_SPACE_PIO ? PGM_PORT_COUNT : PGM_MMIO_LIMIT;
    if (size == 0 || size > limit || (sizes & 0xf) == 0 || (sizes & ~0xfu))
        return -EINVAL;
    if (space == PGM_SPACE_PIO)
        sizes &= 0x7; /* no 8-byte port I/O on x86 */
    struct pgm_range *r = calloc(1, sizeof(*r));
    if (!r || !(r->desc = strdup(desc ? desc : "?"))) {
        free(r);
        return -ENOMEM;
    }
    r->pgm = pgm;
    r->space = space;
    r->base = UINT64_MAX;
    r->size = size;
    r->sizes = sizes;
    r->ops = *ops;
    r->opaque = opaque;
    *out = r;
    return 0;
}

/* Inserts a range into the sorted MMIO array after checking for overlaps (write lock held). */
static int pgm_mmio_insert(struct pgm *pgm, struct pgm_range *r, uint64_t base)
{
    for (size_t i = 0; i < pgm->nregions; i++)
        if (pgm_overlaps(base, r->size, pgm->regions[i].gpa, pgm->regions[i].size))
            return -EBUSY;
    size_t pos = 0;
    while (pos < pgm->nmmio && pgm->mmio[pos]->base < base)
        pos++;
    if ((pos > 0 && pgm_overlaps(base, r->size, pgm->mmio[pos - 1]->base, pgm->mmio[pos - 1]->size)) ||
        (pos < pgm->nmmio && pgm_overlaps(base, r->size, pgm->mmio[pos]->base, pgm->mmio[pos]->size)))
        return -EBUSY;
    if (pgm->nmmio == pgm->mmio_cap) {
        size_t cap = pgm->mmio_cap ? pgm->mmio_cap * 2 : 16;
        struct pgm_range **n = realloc(pgm->mmio, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        pgm->mmio = n;
        pgm->mmio_cap = cap;
    }
    memmove(&pgm->mmio[pos + 1], &pgm->mmio[pos], (pgm->nmmio - pos) * sizeof(*pgm->mmio));
    pgm->mmio[pos] = r;
    pgm->nmmio++;
    return 0;
}

/* Claims the ports of a range after checking they are free (write lock held). */
static int pgm_pio_insert(struct pgm *pgm, struct pgm_range *r, uint64_t base)
{
    for (uint64_t p = base; p < base + r->size; p++)
        if (pgm->ports[p])
            return -EBUSY;
    for (uint64_t p = base; p < base + r->size; p++)
        pgm->ports[p] = r;
    return 0;
}

int pgm_range_map(struct pgm_range *r, uint64_t base)
{
    uint64_t limit = r->space == PGM_SPACE_PIO ? PGM_PORT_COUNT : PGM_MMIO_LIMIT;
    if (base >= limit || r->size > limit - base)
        return -EINVAL;
    struct pgm *pgm = r->pgm;
    pthread_rwlock_wrlock(&pgm->lock);
    int rc = -EALREADY;
    if (r->base == UINT64_MAX) {
        rc = r->space == PGM_SPACE_PIO ? pgm_pio_insert(pgm, r, base) : pgm_mmio_insert(pgm, r, base);
        if (rc == 0)
            r->base = base;
    }
    pthread_rwlock_unlock(&pgm->lock);
    return rc;
}

/* Formats one overlapping object for pgm_describe_overlap. */
static int pgm_describe(char *buf, size_t len, const char *desc, uint64_t base, uint64_t size)
{
    snprintf(buf, len, "%s at 0x%llx-0x%llx", desc, (unsigned long long)base,
             (unsigned long long)(base + size - 1));
    return 0;
}

int pgm_describe_overlap(struct pgm *pgm, enum pgm_space space, uint64_t base, uint64_t size, char *buf,
                         size_t len)
{
    int rc = -ENOENT;
    pthread_rwlock_rdlock(&pgm->lock);
    if (space == PGM_SPACE_PIO) {
        for (uint64_t p = base; p < base + size && p < PGM_PORT_COUNT && rc; p++)
            if (pgm->ports[p])
                rc = pgm_describe(buf, len, pgm->ports[p]->desc, pgm->ports[p]->base, pgm->ports[p]->size);
    } else {
        for (size_t i = 0; i < pgm->nregions && rc; i++)
            if (pgm_overlaps(base, size, pgm->regions[i].gpa, pgm->regions[i].size))
                rc = pgm_describe(buf, len, pgm->regions[i].readonly ? "ROM" : "RAM", pgm->regions[i].gpa,
                                  pgm->regions[i].size);
        for (size_t i = 0; i < pgm->nmmio && rc; i++)
            if (pgm_overlaps(base, size, pgm->mmio[i]->base, pgm->mmio[i]->size))
                rc = pgm_describe(buf, len, pgm->mmio[i]->desc, pgm->mmio[i]->base, pgm->mmio[i]->size);
    }
    pthread_rwlock_unlock(&pgm->lock);
    return rc;
}

int pgm_range_unmap(struct pgm_range *r)
{
    struct pgm *pgm = r->pgm;
    pthread_rwlock_wrlock(&pgm->lock);
    int rc = -ENOENT;
    if (r->base != UINT64_MAX) {
        if (r->space == PGM_SPACE_PIO) {
            for (uint64_t p = r->base; p < r->base + r->size; p++)
                pgm->ports[p] = NULL;
        } else {
            size_t i = 0;
            while (pgm->mmio[i] != r)
                i++;
            memmove(&pgm->mmio[i], &pgm->mmio[i + 1], (pgm->nmmio - i - 1) * sizeof(*pgm->mmio));
            pgm->nmmio--;
        }
        r->base = UINT64_MAX;
        rc = 0;
    }
    pthread_rwlock_unlock(&pgm->lock);
    return rc;
}

void pgm_range_destroy(struct pgm_range *r)
{
    if (!r)
        return;
    pgm_range_unmap(r);
    /* Accesses that looked the range up before the unmap finish first; they are short. */
    while (atomic_load(&r->inflight) != 0)
        sched_yield();
    free(r->desc);
    free(r);
}

const char *pgm_range_desc(const struct pgm_range *r)
{
    return r->desc;
}

uint64_t pgm_range_base(const struct pgm_range *r)
{
    return r->base;
}

uint64_t pgm_range_size(const struct pgm_range *r)
{
    return r->size;
}

/* Looks up the mapped range holding `addr` and pins it; NULL when unassigned. */
static struct pgm_range *pgm_lookup_pin(struct pgm *pgm, enum pgm_space space, uint64_t addr)
{
    struct pgm_range *r = NULL;
    pthread_rwlock_rdlock(&pgm->lock);
    if (space == PGM_SPACE_PIO) {
        r = pgm->ports[addr];
    } else {
        size_t lo = 0, hi = pgm->nmmio;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            struct pgm_range *m = pgm->mmio[mid];
            if (addr < m->base)
                hi = mid;
            else if (addr - m->base >= m->size)
                lo = mid + 1;
            else {
                r = m;
                break;
            }
        }
    }
    if (r)
        atomic_fetch_add(&r->inflight, 1);
    pthread_rwlock_unlock(&pgm->lock);
    return r;
}

static void pgm_unpin(struct pgm_range *r)
{
    atomic_fetch_sub(&r->inflight, 1);
}

/* True when the whole access [addr, addr+size) fits range r at an allowed width. */
static bool pgm_access_fits(const struct pgm_range *r, uint64_t addr, unsigned size)
{
    uint64_t off = addr - r->base;
    return (r->sizes & size) && size <= r->size - off;
}

/* One access of `size` bytes: direct when the range allows it, else split into single bytes. */
static void pgm_access(struct pgm *pgm, enum pgm_space space, uint64_t addr, unsigned size, bool write,
                       uint64_t *value)
{
    int unassigned_stat = space == PGM_SPACE_PIO ? (write ? STAT_PIO_W : STAT_PIO_R)
                                                 : (write ? STAT_MMIO_W : STAT_MMIO_R);
    struct pgm_range *r = pgm_lookup_pin(pgm, space, addr);
    if (r && pgm_access_fits(r, addr, size)) {
        uint64_t off = addr - r->base;
        if (write) {
            if (r->ops.write)
                r->ops.write(r->opaque, off, *value, size);
        } else {
            *value = r->ops.read ? r->ops.read(r->opaque, off, size) : ~0ull;
        }
        pgm_unpin(r);
        return;
    }
    if (!r && size == 1) {
        atomic_fetch_add(&pgm->stats[unassigned_stat], 1);
        if (!write)
            *value = 0xff;
        return;
    }
    bool bytes_ok = !r || (r->sizes & 1);
    if (r)
        pgm_unpin(r);
    if (!bytes_ok) {
        atomic_fetch_add(&pgm->stats[STAT_BAD_SIZE], 1);
        if (!write)
            *value = ~0ull;
        return;
    }
    uint64_t result = 0;
    for (unsigned i = 0; i < size; i++) {
        uint64_t addr_i = space == PGM_SPACE_PIO ? ((addr + i) & 0xffff) : addr + i;
        uint64_t byte = (*value >> (8 * i)) & 0xff;
        pgm_access(pgm, space, addr_i, 1, write, &byte);
        result |= (byte & 0xff) << (8 * i);
    }
    if (!write)
        *value = result;
}

/* Masks a value to `size` bytes. */
static uint64_t pgm_mask(uint64_t v, unsigned size)
{
    return size >= 8 ? v : v & ((1ull << (8 * size)) - 1);
}

/* True for the access widths the bus accepts from the CPU. */
static bool pgm_valid_size(enum pgm_space space, unsigned size)
{
    return size == 1 || size == 2 || size == 4 || (space == PGM_SPACE_MMIO && size == 8);
}

void pgm_pio_read(struct pgm *pgm, uint16_t port, unsigned size, uint32_t *value)
{
    uint64_t v = ~0ull;
    if (pgm_valid_size(PGM_SPACE_PIO, size))
        pgm_access(pgm, PGM_SPACE_PIO, port, size, false, &v);
    *value = (uint32_t)pgm_mask(v, size);
}

void pgm_pio_write(struct pgm *pgm, uint16_t port, unsigned size, uint32_t value)
{
    uint64_t v = pgm_mask(value, size);
    if (pgm_valid_size(PGM_SPACE_PIO, size))
        pgm_access(pgm, PGM_SPACE_PIO, port, size, true, &v);
}

void pgm_mmio_read(struct pgm *pgm, uint64_t gpa, unsigned size, uint64_t *value)
{
    uint64_t v = ~0ull;
    if (size >= 1 && size <= 8 && pgm_shadow_mmio(pgm, gpa, size, false, &v)) {
        *value = pgm_mask(v, size);
        return;
    }
    if (size >= 1 && size <= 8 && gpa < PGM_MMIO_LIMIT) {
        if (pgm_valid_size(PGM_SPACE_MMIO, size))
            pgm_access(pgm, PGM_SPACE_MMIO, gpa, size, false, &v);
        else /* odd widths (3, 5-7 bytes) from string instructions: byte by byte */
            for (unsigned i = 0; i < size; i++) {
                uint64_t b = 0xff;
                pgm_access(pgm, PGM_SPACE_MMIO, gpa + i, 1, false, &b);
                v = (i == 0 ? 0 : v) | ((b & 0xff) << (8 * i));
            }
    }
    *value = pgm_mask(v, size);
}

void pgm_mmio_write(struct pgm *pgm, uint64_t gpa, unsigned size, uint64_t value)
{
    if (size < 1 || size > 8 || gpa >= PGM_MMIO_LIMIT)
        return;
    uint64_t v = pgm_mask(value, size);
    if (pgm_shadow_mmio(pgm, gpa, size, true, &v))
        return;
    if (pgm_valid_size(PGM_SPACE_MMIO, size)) {
        pgm_access(pgm, PGM_SPACE_MMIO, gpa, size, true, &v);
        return;
    }
    for (unsigned i = 0; i < size; i++) {
        uint64_t b = (v >> (8 * i)) & 0xff;
        pgm_access(pgm, PGM_SPACE_MMIO, gpa + i, 1, true, &b);
    }
}

int pgm_phys_read(struct pgm *pgm, uint64_t gpa, void *buf, size_t len)
{
    if (len == 0)
        return 0;
    int rc = pgm_shadow_dma(pgm, gpa, buf, len, false);
    if (rc <= 0)
        return rc;
    const struct pgm_mem_region *r = pgm_find_region(pgm, gpa, len);
    if (!r)
        return -EFAULT;
    memcpy(buf, (uint8_t *)r->hva + (gpa - r->gpa), len);
    return 0;
}

int pgm_phys_write(struct pgm *pgm, uint64_t gpa, const void *buf, size_t len)
{
    if (len == 0)
        return 0;
    int rc = pgm_shadow_dma(pgm, gpa, (void *)buf, len, true);
    if (rc <= 0)
        return rc;
    const struct pgm_mem_region *r = pgm_find_region(pgm, gpa, len);
    if (!r || r->readonly)
        return -EFAULT;
    memcpy((uint8_t *)r->hva + (gpa - r->gpa), buf, len);
    return 0;
}

void *pgm_phys_ptr(struct pgm *pgm, uint64_t gpa, size_t len)
{
    if (pgm_shadow_blocks_ptr(pgm, gpa, len ? len : 1))
        return NULL;
    const struct pgm_mem_region *r = pgm_find_region(pgm, gpa, len ? len : 1);
    return r && !r->readonly ? (uint8_t *)r->hva + (gpa - r->gpa) : NULL;
}

void pgm_set_acpi_area(struct pgm *pgm, uint64_t start, uint64_t end, uint64_t rsdp)
{
    pgm->acpi_start = start;
    pgm->acpi_end = end > start ? end : start;
    pgm->acpi_rsdp = rsdp;
}

void pgm_get_acpi_area(const struct pgm *pgm, uint64_t *start, uint64_t *end, uint64_t *rsdp)
{
    *start = pgm->acpi_start;
    *end = pgm->acpi_end;
    *rsdp = pgm->acpi_rsdp;
}

void pgm_get_stats(struct pgm *pgm, struct pgm_stats *out)
{
    out->unassigned_pio_reads = atomic_load(&pgm->stats[STAT_PIO_R]);
    out->unassigned_pio_writes = atomic_load(&pgm->stats[STAT_PIO_W]);
    out->unassigned_mmio_reads = atomic_load(&pgm->stats[STAT_MMIO_R]);
    out->unassigned_mmio_writes = atomic_load(&pgm->stats[STAT_MMIO_W]);
    out->bad_size_accesses = atomic_load(&pgm->stats[STAT_BAD_SIZE]);
}
