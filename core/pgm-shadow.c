/* core/pgm-shadow.c — the legacy shadow window 0xC0000-0xFFFFF (see pgm.h): 16 KiB segments of low
 * RAM that a chipset switches between RAM and the window's ROM side, as the i440FX's PAM registers
 * do (Intel 82441FX datasheet §3.2.18). The engine maps each segment by its mode:
 *   read+write  the RAM, writable        read only   the RAM, read-only (writes exit and are dropped)
 *   neither     the ROM side, read-only  write only  nothing: every access exits to PGM, which reads
 *                                                     the ROM side and writes the RAM
 * so only write-only segments (SeaBIOS uses none) cost exits. Accesses that exit anyway (a write to a
 * read-only segment, or an access during a mode change) are served here by the same rules. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "pgm-internal.h"

#define PGM_SHADOW_END (PGM_SHADOW_BASE + PGM_SHADOW_SIZE)
#define PGM_SHADOW_RW (PGM_SHADOW_READ | PGM_SHADOW_WRITE)

/* What the engine maps for segment i in `mode` (size 0: nothing, accesses exit to PGM). */
static struct pgm_mem_region pgm_segment_mapping(const struct pgm_shadow *s, unsigned i, unsigned mode)
{
    uint64_t off = (uint64_t)i * PGM_SHADOW_SEGMENT;
    struct pgm_mem_region m = {.gpa = PGM_SHADOW_BASE + off, .size = PGM_SHADOW_SEGMENT,
                               .slot = PGM_SLOT_SHADOW + i};
    if (mode & PGM_SHADOW_READ) {
        m.hva = s->ram + off;
        m.readonly = !(mode & PGM_SHADOW_WRITE);
    } else if (!(mode & PGM_SHADOW_WRITE)) {
        m.hva = s->rom + off;
        m.readonly = true;
    } else {
        m.size = 0;
    }
    return m;
}

int pgm_shadow_init(struct pgm *pgm)
{
    struct pgm_shadow *s = &pgm->shadow;
    const struct pgm_mem_region *low = &pgm->regions[0];
    if (pgm->nregions == 0 || low->gpa != 0 || low->readonly || low->size < PGM_SHADOW_END)
        return 0;
    void *rom = mmap(NULL, PGM_SHADOW_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rom == MAP_FAILED)
        return -ENOMEM;
    memset(rom, 0xff, PGM_SHADOW_SIZE);
    s->rom = rom;
    s->ram = (uint8_t *)low->hva + PGM_SHADOW_BASE;
    for (unsigned i = 0; i < PGM_SHADOW_SEGMENTS; i++) {
        s->mode[i] = PGM_SHADOW_RW;
        s->mapped[i] = pgm_segment_mapping(s, i, PGM_SHADOW_RW);
    }
    s->present = true;
    return 0;
}

void pgm_shadow_fini(struct pgm *pgm)
{
    if (pgm->shadow.rom)
        munmap(pgm->shadow.rom, PGM_SHADOW_SIZE);
    pgm->shadow = (struct pgm_shadow){0};
}

int pgm_notify_region(struct pgm *pgm, const struct pgm_mem_region *r, bool added)
{
    if (!pgm->listener)
        return 0;
    struct pgm_shadow *s = &pgm->shadow;
    if (!s->present || r != &pgm->regions[0])
        return pgm->listener(pgm->listener_ctx, r, added);
    struct pgm_mem_region below = *r, above = *r;
    below.size = PGM_SHADOW_BASE;
    above.gpa = PGM_SHADOW_END;
    above.size = r->size - PGM_SHADOW_END;
    above.hva = (uint8_t *)r->hva + PGM_SHADOW_END;
    above.slot = PGM_SLOT_ABOVE_SHADOW;
    int rc = pgm->listener(pgm->listener_ctx, &below, added);
    if (rc == 0 && above.size)
        rc = pgm->listener(pgm->listener_ctx, &above, added);
    for (unsigned i = 0; i < PGM_SHADOW_SEGMENTS && rc == 0; i++)
        if (s->mapped[i].size)
            rc = pgm->listener(pgm->listener_ctx, &s->mapped[i], added);
    return rc;
}

int pgm_shadow_set_rom(struct pgm *pgm, const void *data, size_t len)
{
    struct pgm_shadow *s = &pgm->shadow;
    if (!s->present)
        return -ENODEV;
    if (len > PGM_SHADOW_SIZE)
        return -EINVAL;
    pthread_rwlock_wrlock(&pgm->lock);
    memset(s->rom, 0xff, PGM_SHADOW_SIZE - len);
    memcpy(s->rom + PGM_SHADOW_SIZE - len, data, len);
    pthread_rwlock_unlock(&pgm->lock);
    return 0;
}

int pgm_shadow_set(struct pgm *pgm, uint64_t base, uint64_t size, unsigned mode)
{
    struct pgm_shadow *s = &pgm->shadow;
    if (!s->present)
        return -ENODEV;
    if ((mode & ~PGM_SHADOW_RW) || size == 0 || base < PGM_SHADOW_BASE || base >= PGM_SHADOW_END ||
        size > PGM_SHADOW_END - base || (base | size) % PGM_SHADOW_SEGMENT)
        return -EINVAL;
    int rc = 0;
    pthread_rwlock_wrlock(&pgm->lock);
    for (uint64_t a = base; a < base + size && rc == 0; a += PGM_SHADOW_SEGMENT) {
        unsigned i = (unsigned)((a - PGM_SHADOW_BASE) / PGM_SHADOW_SEGMENT);
        if (s->mode[i] == mode)
            continue;
        /* the engine cannot change a mapping in place: drop the old one, then add the new one. When
         * it refuses the drop, the segment keeps its mode; when it refuses the add, the segment stays
         * unmapped, and accesses exit to PGM, which serves them by the new mode. */
        if (pgm->listener && s->mapped[i].size && (rc = pgm->listener(pgm->listener_ctx, &s->mapped[i], false)))
            break;
        s->mode[i] = (uint8_t)mode;
        s->mapped[i] = pgm_segment_mapping(s, i, mode);
        if (pgm->listener && s->mapped[i].size && (rc = pgm->listener(pgm->listener_ctx, &s->mapped[i], true)))
            s->mapped[i].size = 0;
    }
    pthread_rwlock_unlock(&pgm->lock);
    return rc;
}

int pgm_shadow_get(struct pgm *pgm, uint64_t addr)
{
    struct pgm_shadow *s = &pgm->shadow;
    if (!s->present)
        return -ENODEV;
    if (addr < PGM_SHADOW_BASE || addr >= PGM_SHADOW_END)
        return -EINVAL;
    pthread_rwlock_rdlock(&pgm->lock);
    int mode = s->mode[(addr - PGM_SHADOW_BASE) / PGM_SHADOW_SEGMENT];
    pthread_rwlock_unlock(&pgm->lock);
    return mode;
}

/* Copies [gpa, gpa+len) of low RAM, the window part by its segments' modes (read lock held). Writes
 * into segments without PGM_SHADOW_WRITE are dropped; reads of segments without PGM_SHADOW_READ come
 * from the ROM side. */
static void pgm_shadow_copy(struct pgm *pgm, uint64_t gpa, uint8_t *buf, size_t len, bool write)
{
    struct pgm_shadow *s = &pgm->shadow;
    uint8_t *low = pgm->regions[0].hva;
    while (len) {
        size_t n = len;
        uint8_t *ram = low + gpa, *rom = NULL;
        unsigned mode = PGM_SHADOW_RW;
        if (gpa < PGM_SHADOW_BASE) {
            n = PGM_SHADOW_BASE - gpa < n ? PGM_SHADOW_BASE - gpa : n;
        } else if (gpa < PGM_SHADOW_END) {
            uint64_t off = gpa - PGM_SHADOW_BASE, seg_left = PGM_SHADOW_SEGMENT - off % PGM_SHADOW_SEGMENT;
            n = seg_left < n ? seg_left : n;
            mode = s->mode[off / PGM_SHADOW_SEGMENT];
            rom = s->rom + off;
        }
        if (write && (mode & PGM_SHADOW_WRITE))
            memcpy(ram, buf, n);
        else if (!write)
            memcpy(buf, (mode & PGM_SHADOW_READ) ? ram : rom, n);
        gpa += n;
        buf += n;
        len -= n;
    }
}

bool pgm_shadow_mmio(struct pgm *pgm, uint64_t gpa, unsigned size, bool write, uint64_t *value)
{
    struct pgm_shadow *s = &pgm->shadow;
    if (!s->present || gpa < PGM_SHADOW_BASE || gpa >= PGM_SHADOW_END)
        return false;
    uint8_t bytes[8] = {0};
    size_t n = size;
    if (n > pgm->regions[0].size - gpa) /* a wide access at the top of a 1 MiB guest */
        n = pgm->regions[0].size - gpa;
    for (unsigned i = 0; i < 8; i++)
        bytes[i] = write ? (uint8_t)(*value >> (8 * i)) : 0xff;
    pthread_rwlock_rdlock(&pgm->lock);
    pgm_shadow_copy(pgm, gpa, bytes, n, write);
    pthread_rwlock_unlock(&pgm->lock);
    if (!write) {
        uint64_t v = 0;
        for (unsigned i = 0; i < 8; i++)
            v |= (uint64_t)bytes[i] << (8 * i);
        *value = v;
    }
    return true;
}

/* True when some segment of the window part of [gpa, end) lacks every bit of `need` (read lock held). */
static bool pgm_shadow_lacks(const struct pgm_shadow *s, uint64_t gpa, uint64_t end, unsigned need)
{
    uint64_t first = gpa < PGM_SHADOW_BASE ? PGM_SHADOW_BASE : gpa;
    uint64_t last = end > PGM_SHADOW_END ? PGM_SHADOW_END : end;
    for (uint64_t a = first & ~(uint64_t)(PGM_SHADOW_SEGMENT - 1); a < last; a += PGM_SHADOW_SEGMENT)
        if ((s->mode[(a - PGM_SHADOW_BASE) / PGM_SHADOW_SEGMENT] & need) != need)
            return true;
    return false;
}

/* True when [gpa, gpa+len) (len > 0, no wrap) touches the window. */
static bool pgm_shadow_touches(const struct pgm_shadow *s, uint64_t gpa, size_t len)
{
    return s->present && gpa < PGM_SHADOW_END && gpa + len > PGM_SHADOW_BASE;
}

int pgm_shadow_dma(struct pgm *pgm, uint64_t gpa, void *buf, size_t len, bool write)
{
    struct pgm_shadow *s = &pgm->shadow;
    if (len > UINT64_MAX - gpa || !pgm_shadow_touches(s, gpa, len))
        return 1;
    if (len > pgm->regions[0].size - gpa)
        return -EFAULT;
    pthread_rwlock_rdlock(&pgm->lock);
    int rc = write && pgm_shadow_lacks(s, gpa, gpa + len, PGM_SHADOW_WRITE) ? -EFAULT : 0;
    if (rc == 0)
        pgm_shadow_copy(pgm, gpa, buf, len, write);
    pthread_rwlock_unlock(&pgm->lock);
    return rc;
}

bool pgm_shadow_blocks_ptr(struct pgm *pgm, uint64_t gpa, size_t len)
{
    struct pgm_shadow *s = &pgm->shadow;
    if (len == 0 || len > UINT64_MAX - gpa || !pgm_shadow_touches(s, gpa, len))
        return false;
    pthread_rwlock_rdlock(&pgm->lock);
    bool blocked = pgm_shadow_lacks(s, gpa, gpa + len, PGM_SHADOW_RW);
    pthread_rwlock_unlock(&pgm->lock);
    return blocked;
}
