/* modvm/drv.h — drivers (backends) and the interfaces between a device and its driver.
 *
 * A device has numbered attachment points (LUNs). The user's configuration puts a driver at a LUN
 * (`--serial stdio` puts driver "stdio" at LUN 0 of the first UART). In its construct callback the
 * device calls modvm_dev_driver_attach(dev, lun, iface, up, up_ctx, &drv, &down): the core constructs
 * the configured driver, checks that it provides interface `iface`, gives it the device's side of the
 * interface (`up`, called by the driver) and hands the device the driver's side (`down`, called by
 * the device). Interfaces are named with a version ("modvm.char.1") and their structs start with a
 * version word, like every ABI struct.
 *
 * Threads and locks: a driver belongs to its device. Its callbacks — fd watches, lifecycle — run with
 * the device's lock held, so the driver may call `up` directly; `down` functions are called by the
 * device with its lock held. */
#ifndef MODVM_DRV_H
#define MODVM_DRV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modvm/cfg.h>
#include <modvm/pdm.h>
#include <modvm/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the character-stream interface (UART backends) --------------------------------------------- */

/** Interface name of a byte stream: serial ports and their backends. */
#define MODVM_IFACE_CHAR "modvm.char.1"
#define MODVM_CHAR_PORT_VERSION MODVM_VERSION_MAKE(0xd750, 1, 0)
#define MODVM_CHAR_CONN_VERSION MODVM_VERSION_MAKE(0xd751, 1, 0)

/** The device's side (implemented by the device, called by the driver with the device lock held). */
struct modvm_char_port {
    uint32_t version; /**< MODVM_CHAR_PORT_VERSION */
    uint32_t reserved0;
    /** How many bytes the device can take now (e.g. room in its receive FIFO). */
    size_t (*can_receive)(void *ctx);
    /** Delivers up to can_receive() bytes from the outside world to the device. */
    void (*receive)(void *ctx, const uint8_t *buf, size_t len);
    void *reserved[4];
};
/** The driver's side (implemented by the driver, called by the device with its lock held). */
struct modvm_char_conn {
    uint32_t version; /**< MODVM_CHAR_CONN_VERSION */
    uint32_t reserved0;
    /** Sends bytes to the outside world; returns how many were taken (a full backend drops the rest,
     * as a wire with no flow control would). Never blocks for long. */
    size_t (*write)(struct modvm_drv *drv, const uint8_t *buf, size_t len);
    /** The device has room again after can_receive() returned 0: the driver resumes delivering. */
    void (*receive_ready)(struct modvm_drv *drv);
    void *reserved[4];
};

/* ---- the block interface (disk images) ---------------------------------------------------------- */

/** Interface name of a block device backend (disk images). */
#define MODVM_IFACE_BLOCK "modvm.block.1"
#define MODVM_BLOCK_CONN_VERSION MODVM_VERSION_MAKE(0xd752, 1, 0)

/** The driver's side of a block backend, called by the device with its lock held. I/O is
 * synchronous in this version: a call returns when the data moved (or failed). Offsets and lengths
 * are in bytes, multiples of 512; the driver checks them against its size and returns -EINVAL for
 * out-of-range requests, -EROFS for writes to a read-only image, -EIO for host I/O errors. */
struct modvm_block_conn {
    uint32_t version; /**< MODVM_BLOCK_CONN_VERSION */
    uint32_t reserved0;
    uint64_t (*size)(struct modvm_drv *drv);
    bool (*read_only)(struct modvm_drv *drv);
    int (*read)(struct modvm_drv *drv, uint64_t offset, void *buf, size_t len);
    int (*write)(struct modvm_drv *drv, uint64_t offset, const void *buf, size_t len);
    int (*flush)(struct modvm_drv *drv);
    /** Lets the backend free the range (-EOPNOTSUPP when it cannot; the device may report success). */
    int (*discard)(struct modvm_drv *drv, uint64_t offset, uint64_t len);
    void *reserved[6];
};

/* ---- the driver helper table -------------------------------------------------------------------- */

#define MODVM_DRV_HLP_VERSION MODVM_VERSION_MAKE(0xd760, 1, 0)

/** The services a driver gets from the core (call through the modvm_drv_* wrappers). */
struct modvm_drv_hlp {
    uint32_t version; /**< MODVM_DRV_HLP_VERSION */
    uint32_t reserved0;
    int (*fd_watch_add)(struct modvm_drv *drv, int fd, uint32_t events, modvm_fd_fn fn, void *user,
                        modvm_fd_handle *out);
    int (*fd_watch_modify)(struct modvm_drv *drv, modvm_fd_handle h, uint32_t events);
    void (*fd_watch_remove)(struct modvm_drv *drv, modvm_fd_handle h);
    int (*cfg_get_uint)(struct modvm_drv *drv, const char *key, uint64_t *out);
    int (*cfg_get_bool)(struct modvm_drv *drv, const char *key, bool *out);
    int (*cfg_get_string)(struct modvm_drv *drv, const char *key, const char **out);
    void (*log)(struct modvm_drv *drv, int level, const char *fmt, va_list ap);
    int (*set_error)(struct modvm_drv *drv, int rc, const char *fmt, va_list ap);
    int (*vm_request)(struct modvm_drv *drv, enum modvm_vm_request req, int status);
    void *reserved[16];
    uint32_t version_end; /**< MODVM_DRV_HLP_VERSION */
};

#define MODVM_DRV_VERSION MODVM_VERSION_MAKE(0xd770, 1, 0)

/** A driver instance. */
struct modvm_drv {
    uint32_t version;               /**< MODVM_DRV_VERSION */
    uint32_t lun;                   /**< the LUN of its device it is attached to */
    void *data;                     /**< drvreg->instance_size bytes, zeroed */
    const struct modvm_drv_hlp *hlp;
    const struct modvm_drvreg *reg;
    const char *name;               /**< "driver@device#instance/lun", for messages */
    const void *up;                 /**< the device's side of the interface (set before construct) */
    void *up_ctx;                   /**< the device's context for `up` */
    void *core;                     /**< opaque to the driver */
};

#define MODVM_DRVREG_VERSION MODVM_VERSION_MAKE(0xd780, 1, 0)

/** A driver type. Static in the plugin; registered with registrar->register_driver. Lifecycle
 * callbacks run on the main thread with the device's lock held. */
struct modvm_drvreg {
    uint32_t version;         /**< MODVM_DRVREG_VERSION */
    uint32_t flags;           /**< none yet: 0 */
    const char *name;         /**< unique driver name: [a-z0-9-]+, e.g. "stdio" */
    const char *description;
    const char *iface;        /**< the interface it provides, e.g. MODVM_IFACE_CHAR */
    size_t instance_size;
    const struct modvm_cfg_option *options;
    /** Opens the backend; returns 0 or a negative errno with modvm_drv_set_error. */
    int (*construct)(struct modvm_drv *drv);
    /** Always called, even after a failed construct. */
    void (*destruct)(struct modvm_drv *drv);
    /** The driver's side of `iface` (static struct), returned to the device on attach. */
    const void *(*query_interface)(struct modvm_drv *drv, const char *iface);
    void (*suspend)(struct modvm_drv *drv);
    void (*resume)(struct modvm_drv *drv);
    void *reserved[8];
    uint32_t version_end;     /**< MODVM_DRVREG_VERSION */
};

/** Watches `fd` on the I/O thread (callback with the device's lock held). */
static inline int modvm_drv_fd_watch_add(struct modvm_drv *drv, int fd, uint32_t events, modvm_fd_fn fn,
                                         void *user, modvm_fd_handle *out)
{
    return drv->hlp->fd_watch_add(drv, fd, events, fn, user, out);
}
/** Changes a watch's events. */
static inline int modvm_drv_fd_watch_modify(struct modvm_drv *drv, modvm_fd_handle h, uint32_t events)
{
    return drv->hlp->fd_watch_modify(drv, h, events);
}
/** Removes a watch; NULL is ignored. */
static inline void modvm_drv_fd_watch_remove(struct modvm_drv *drv, modvm_fd_handle h)
{
    if (h)
        drv->hlp->fd_watch_remove(drv, h);
}
/** Reads an unsigned option of the driver. */
static inline int modvm_drv_cfg_uint(struct modvm_drv *drv, const char *key, uint64_t *out)
{
    return drv->hlp->cfg_get_uint(drv, key, out);
}
/** Reads a boolean option of the driver. */
static inline int modvm_drv_cfg_bool(struct modvm_drv *drv, const char *key, bool *out)
{
    return drv->hlp->cfg_get_bool(drv, key, out);
}
/** Reads a string option of the driver. */
static inline int modvm_drv_cfg_string(struct modvm_drv *drv, const char *key, const char **out)
{
    return drv->hlp->cfg_get_string(drv, key, out);
}
/** Logs a driver message. */
static inline MODVM_PRINTF(3, 4) void modvm_drv_log(struct modvm_drv *drv, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    drv->hlp->log(drv, level, fmt, ap);
    va_end(ap);
}
/** Records the user-facing error of a failing driver callback; returns rc. */
static inline MODVM_PRINTF(3, 4) int modvm_drv_set_error(struct modvm_drv *drv, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rc = drv->hlp->set_error(drv, rc, fmt, ap);
    va_end(ap);
    return rc;
}
/** Asks the VM to reset, power off, pause or resume. */
static inline int modvm_drv_vm_request(struct modvm_drv *drv, enum modvm_vm_request req, int status)
{
    return drv->hlp->vm_request(drv, req, status);
}

#ifdef __cplusplus
}
#endif
#endif
