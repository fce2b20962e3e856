/* modvm/fw.h — firmware data shared between plugins: named blobs ("files") such as the ACPI tables
 * one plugin builds and the fw_cfg device serves to SeaBIOS, or the core places in memory for a
 * directly booted kernel. Names follow QEMU's fw_cfg file names ("etc/acpi/tables", "bootorder").
 * Reached through modvm_dev_core_interface(dev, MODVM_IFACE_FW, MODVM_FW_HLP_VERSION). */
#ifndef MODVM_FW_H
#define MODVM_FW_H

#include <stddef.h>
#include <stdint.h>

#include <modvm/pdm.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MODVM_IFACE_FW "modvm.fw.1"
#define MODVM_FW_HLP_VERSION MODVM_VERSION_MAKE(0xd7f0, 1, 0)
/** Longest file name (fw_cfg's limit, without the terminating NUL). */
#define MODVM_FW_NAME_MAX 55

/** The firmware-file services (any thread; they take the core's own lock). */
struct modvm_fw_hlp {
    uint32_t version; /**< MODVM_FW_HLP_VERSION */
    uint32_t reserved0;
    /** Adds or replaces file `name` with a copy of `len` bytes. -EINVAL for a bad name, -E2BIG over
     * 16 MiB. */
    int (*file_add)(struct modvm_dev *dev, const char *name, const void *data, size_t len);
    /** Looks a file up; the data stays valid until the file is replaced or the VM is destroyed. */
    int (*file_get)(struct modvm_dev *dev, const char *name, const void **data, size_t *len);
    /** The index-th file in name order (0..), for directories; -ENOENT past the last. */
    int (*file_at)(struct modvm_dev *dev, size_t index, const char **name, const void **data, size_t *len);
    void *reserved[8];
};

/** The firmware-file services, or NULL on a core without them. */
static inline const struct modvm_fw_hlp *modvm_fw_hlp(struct modvm_dev *dev)
{
    return (const struct modvm_fw_hlp *)modvm_dev_core_interface(dev, MODVM_IFACE_FW, MODVM_FW_HLP_VERSION);
}

#ifdef __cplusplus
}
#endif
#endif
