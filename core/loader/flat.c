/* core/loader/flat.c — a flat binary copied to a guest address and started there, in real mode
 * (CS = addr >> 4, IP = addr & 0xf, e.g. a boot sector at 0x7c00) or flat 32-bit protected mode. */
#include <errno.h>
#include <string.h>

#include "../err.h"
#include "../pgm.h"
#include "loader.h"

int loader_flat(struct pgm *pgm, const char *name, const uint8_t *img, size_t len, uint64_t addr,
                enum boot_mode mode, struct boot_state *out)
{
    if (mode == BOOT_MODE_REAL && (addr + len > 0x100000 || addr + len < addr))
        return modvm_err_set(-EINVAL, "flat image '%s' (%zu bytes at 0x%llx) must lie below 1 MiB to start "
                                      "in real mode", name, len, (unsigned long long)addr);
    uint8_t *dst = pgm_phys_ptr(pgm, addr, len ? len : 1);
    if (!dst)
        return modvm_err_set(-EINVAL, "flat image '%s' (%zu bytes at 0x%llx) does not fit in guest RAM",
                             name, len, (unsigned long long)addr);
    memcpy(dst, img, len);
    *out = (struct boot_state){.mode = mode};
    if (mode == BOOT_MODE_REAL) {
        out->cs_selector = (uint16_t)(addr >> 4);
        out->rip = addr & 0xf;
    } else {
        out->rip = addr;
    }
    return 0;
}
