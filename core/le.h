/* core/le.h — little-endian loads and stores of guest and file structures (x86 guest memory, boot
 * protocol headers, ACPI/fw_cfg blobs, saved-state streams), independent of host alignment. */
#ifndef MODVM_CORE_LE_H
#define MODVM_CORE_LE_H

#include <stdint.h>

/** Reads `n` (1..8) little-endian bytes. */
static inline uint64_t le_get(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/** Writes the low `n` (1..8) bytes of `v` little-endian. */
static inline void le_put(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/** Fixed-width forms. */
static inline uint16_t le_rd16(const uint8_t *p) { return (uint16_t)le_get(p, 2); }
static inline uint32_t le_rd32(const uint8_t *p) { return (uint32_t)le_get(p, 4); }
static inline uint64_t le_rd64(const uint8_t *p) { return le_get(p, 8); }
static inline void le_wr16(uint8_t *p, uint16_t v) { le_put(p, v, 2); }
static inline void le_wr32(uint8_t *p, uint32_t v) { le_put(p, v, 4); }
static inline void le_wr64(uint8_t *p, uint64_t v) { le_put(p, v, 8); }

#endif
