/* modvm/cfg.h — configuration schemas and reading the config tree.
 *
 * Every device, driver and frontend declares the options it accepts as a schema: name, type,
 * default, range and help. The core validates the user's options against it before constructing
 * anything — an unknown key is rejected with a "did you mean" suggestion, an ill-typed or
 * out-of-range value with the expected type — and `modvm list plugins -v` prints it. Inside the
 * construct callback the plugin then reads typed values (the default applies when the user gave
 * none) with the modvm_*_cfg_* wrappers of its helper table. */
#ifndef MODVM_CFG_H
#define MODVM_CFG_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Value types of an option. */
enum modvm_cfg_type {
    MODVM_CFG_UINT = 1, /**< unsigned integer: decimal, 0x hex or 0 octal; range [min, max] */
    MODVM_CFG_INT = 2,  /**< signed integer; range [(int64_t)min, (int64_t)max] */
    MODVM_CFG_BOOL = 3, /**< on/off, yes/no, true/false, 1/0 */
    MODVM_CFG_STRING = 4, /**< any string */
};

/** One option of a schema. A schema is an array ended by an entry whose name is NULL. */
struct modvm_cfg_option {
    const char *name;          /**< key as the user writes it, e.g. "iobase" */
    enum modvm_cfg_type type;
    uint32_t reserved1;        /**< 0 (keeps the layout explicit) */
    const char *default_value; /**< as the user would write it; NULL = no default (optional key) */
    uint64_t min, max;         /**< inclusive range for UINT/INT (both 0 = the type's full range) */
    const char *help;          /**< one line for `modvm list plugins -v` */
    uint32_t flags;            /**< none defined yet: 0 */
    uint32_t reserved0;
    const void *reserved[2];   /**< keep the array stride stable for future minors: NULL */
};

#ifdef __cplusplus
}
#endif
#endif
