/* modvm/plugin.h — the plugin ABI: versions, the plugin descriptor, the one exported entry symbol.
 *
 * A modvm plugin is a shared object that exports exactly one symbol, `modvm_plugin_descriptor`, a
 * const struct modvm_plugin_desc written by MODVM_PLUGIN(). The core loads it with RTLD_LOCAL, checks
 * the descriptor's versions, then calls its `register_types` function with a registrar through which
 * the plugin registers its device types, drivers and frontends. Nothing runs before that check: no
 * constructors. A plugin has no undefined symbols from modvm — every service comes through the
 * helper tables handed to it (see pdm.h, drv.h, ui.h).
 *
 * Versioning (every struct that crosses the ABI starts with a version word): a 16-bit per-struct
 * magic, an 8-bit major and an 8-bit minor. The core accepts a struct when magic and major match and
 * the struct's minor is <= the core's. Within a major, a struct grows only by turning reserved slots
 * into new fields, so its size and the position of its end marker never change and an older
 * plugin's struct stays valid; new optional callbacks are called only after a version + NULL check. Registration structs repeat the version word at their end,
 * after reserved slots, to catch truncated or mis-laid-out structs. */
#ifndef MODVM_PLUGIN_H
#define MODVM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The plugin ABI this SDK describes. Major changes break plugins; minor ones only add. */
#define MODVM_ABI_MAJOR 1
#define MODVM_ABI_MINOR 1

/** Builds a struct version word from a 16-bit magic and the major/minor version. */
#define MODVM_VERSION_MAKE(magic, major, minor) \
    ((uint32_t)(((uint32_t)(magic) << 16) | ((uint32_t)(major) << 8) | (uint32_t)(minor)))
/** The parts of a version word. */
#define MODVM_VERSION_MAGIC(v) ((uint32_t)(v) >> 16)
#define MODVM_VERSION_MAJOR(v) (((uint32_t)(v) >> 8) & 0xffu)
#define MODVM_VERSION_MINOR(v) ((uint32_t)(v)&0xffu)
/** True when a struct with version `have` can be used by code built for version `want`: same magic,
 * same major, and `have`'s minor not newer than `want`'s. (A function, not a macro body, so that
 * comparing against a minor of 0 draws no -Wtype-limits warning in plugins.) */
static inline int modvm_version_are_compatible(uint32_t want, uint32_t have)
{
    return MODVM_VERSION_MAGIC(want) == MODVM_VERSION_MAGIC(have) &&
           MODVM_VERSION_MAJOR(want) == MODVM_VERSION_MAJOR(have) &&
           MODVM_VERSION_MINOR(have) <= MODVM_VERSION_MINOR(want);
}
#define MODVM_VERSION_ARE_COMPATIBLE(want, have) modvm_version_are_compatible((want), (have))

/** Version word of struct modvm_plugin_desc. */
#define MODVM_PLUGIN_DESC_VERSION MODVM_VERSION_MAKE(0xd7e5, MODVM_ABI_MAJOR, MODVM_ABI_MINOR)
/** Version word of struct modvm_registrar. */
#define MODVM_REGISTRAR_VERSION MODVM_VERSION_MAKE(0xd7e6, 1, 0)

/** The name of the one symbol a plugin exports. */
#define MODVM_PLUGIN_SYMBOL modvm_plugin_descriptor
#define MODVM_PLUGIN_SYMBOL_NAME "modvm_plugin_descriptor"

struct modvm_devreg;
struct modvm_drvreg;
struct modvm_uireg;

/** Handed to a plugin's register_types function; registers what the plugin provides. Each register
 * call copies nothing: the registration struct must be static (it lives as long as the plugin).
 * Each returns 0 or a negative errno (-EEXIST for a duplicate type name, -EINVAL for a malformed
 * registration, with the reason already recorded for the user). */
struct modvm_registrar {
    uint32_t version; /**< MODVM_REGISTRAR_VERSION */
    uint32_t reserved0;
    void *core;       /**< opaque to the plugin */
    /** Registers a device type (pdm.h). */
    int (*register_device)(const struct modvm_registrar *reg, const struct modvm_devreg *dev);
    /** Registers a driver (backend) type (drv.h). */
    int (*register_driver)(const struct modvm_registrar *reg, const struct modvm_drvreg *drv);
    /** Registers a frontend (ui.h). */
    int (*register_ui)(const struct modvm_registrar *reg, const struct modvm_uireg *ui);
    void *reserved[8];
};

/** The descriptor a plugin exports (write it with MODVM_PLUGIN). */
struct modvm_plugin_desc {
    uint32_t version;       /**< MODVM_PLUGIN_DESC_VERSION: carries the plugin's ABI major/minor */
    uint32_t reserved0;
    const char *name;       /**< short name, e.g. "uart16550" */
    const char *plugin_version; /**< the plugin's own version string, e.g. "1.0.0" */
    const char *license;    /**< SPDX identifier, e.g. "MIT" */
    const char *description;/**< one line */
    /** Called once after the version check, on the main thread, with no lock held. Registers the
     * plugin's types through `reg`; returns 0 or a negative errno. */
    int (*register_types)(const struct modvm_registrar *reg);
    void *reserved[6];
    uint32_t version_end;   /**< MODVM_PLUGIN_DESC_VERSION again */
};

#if defined(__GNUC__)
#define MODVM_EXPORT __attribute__((visibility("default")))
#else
#define MODVM_EXPORT
#endif

#ifdef __cplusplus
#define MODVM_EXTERN_C extern "C"
#else
#define MODVM_EXTERN_C
#endif

/** Defines the plugin's exported descriptor. Use designated initializers for the rest:
 *   MODVM_PLUGIN(.name = "uart16550", .plugin_version = "1.0.0", .license = "MIT",
 *                .description = "16550A UART", .register_types = uart_register);
 */
#define MODVM_PLUGIN(...)                                                                     \
    MODVM_EXTERN_C MODVM_EXPORT const struct modvm_plugin_desc MODVM_PLUGIN_SYMBOL = {        \
        .version = MODVM_PLUGIN_DESC_VERSION, __VA_ARGS__,                                   \
        .version_end = MODVM_PLUGIN_DESC_VERSION}

#ifdef __cplusplus
}
#endif
#endif
