/* modvm/shadow.h — the PC's legacy shadow window for chipset plugins.
 *
 * 0xC0000-0xFFFFF is RAM whose 16 KiB segments a PC chipset switches, segment by segment, between
 * that RAM and the "PCI side" (in modvm: the firmware's real-mode alias, the last 128 KiB of its
 * image at 0xE0000-0xFFFFF, and all ones below) — the i440FX's PAM registers (82441FX datasheet
 * §3.2.18), Q35's PAM at 90h. Firmware copies itself into the RAM and write-protects it ("shadowing").
 * The core owns the mapping; the chipset plugin owns the registers and calls `set` when the guest
 * writes them. Modes: MODVM_SHADOW_READ — reads reach the RAM (else the PCI side); MODVM_SHADOW_WRITE —
 * writes reach the RAM (else they are dropped). Device DMA obeys the same modes.
 *
 * At power-on and at every VM reset, before devices reset, the core puts the window into the state
 * the guest should find: all segments 0 (the PCI side, as the chipset's power-on registers say) when
 * the VM starts in firmware, all READ|WRITE (plain RAM, as firmware leaves it for an OS) when modvm
 * boots a kernel directly. A chipset reads that state back with `get` in construct and reset to
 * initialise its registers, so registers and mapping always agree.
 *
 * Reached through modvm_shadow_hlp(dev); the first device that calls `set` controls the window, later
 * callers get -EBUSY. Any thread; the calls take the core's memory lock, never a device lock. */
#ifndef MODVM_SHADOW_H
#define MODVM_SHADOW_H

#include <stdint.h>

#include <modvm/pdm.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MODVM_IFACE_SHADOW "modvm.shadow.1"
#define MODVM_SHADOW_HLP_VERSION MODVM_VERSION_MAKE(0xd7e0, 1, 0)

#define MODVM_SHADOW_BASE 0xc0000u
#define MODVM_SHADOW_SIZE 0x40000u
#define MODVM_SHADOW_SEGMENT 0x4000u
#define MODVM_SHADOW_READ 0x1u
#define MODVM_SHADOW_WRITE 0x2u

/** The shadow-window services. */
struct modvm_shadow_hlp {
    uint32_t version; /**< MODVM_SHADOW_HLP_VERSION */
    uint32_t reserved0;
    /** Sets the mode (MODVM_SHADOW_* bits) of the whole segments in [base, base+size) inside the
     * window. -EINVAL for a bad range or mode, -EBUSY when another device controls the window,
     * -ENODEV when the VM has no window (RAM below 1 MiB), -EIO when the engine refused the mapping. */
    int (*set)(struct modvm_dev *dev, uint32_t base, uint32_t size, uint32_t mode);
    /** The mode of the segment holding `addr` in *mode. -EINVAL outside the window, -ENODEV. */
    int (*get)(struct modvm_dev *dev, uint32_t addr, uint32_t *mode);
    void *reserved[6];
};

/** The shadow-window services, or NULL on a core without them. */
static inline const struct modvm_shadow_hlp *modvm_shadow_hlp(struct modvm_dev *dev)
{
    return (const struct modvm_shadow_hlp *)modvm_dev_core_interface(dev, MODVM_IFACE_SHADOW,
                                                                      MODVM_SHADOW_HLP_VERSION);
}

#ifdef __cplusplus
}
#endif
#endif
