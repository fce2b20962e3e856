/* modvm/pdm.h — devices: the registration a plugin makes, the instance handle the core gives each
 * device, and the helper table through which a device reaches the core.
 *
 * Threads and locks (DESIGN.md "Threads and locking"): the core takes the device's lock around every
 * callback into a device — port/MMIO handlers (on vCPU threads), timer and fd callbacks (on the I/O
 * thread), lifecycle callbacks (on the main thread, with every vCPU stopped) — so device code is
 * single-threaded unless it registers with MODVM_DEVREG_F_SELF_LOCKING. Helpers may be called from any
 * device callback. Lock order: device lock → core locks; the core never calls into a device while
 * holding one of its own locks.
 *
 * Guests are hostile: every value a handler receives comes from the guest. Bound it; report misuse
 * with modvm_dev_guest_error (counted, rate-limited), never abort. */
#ifndef MODVM_PDM_H
#define MODVM_PDM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modvm/cfg.h>
#include <modvm/plugin.h>
#include <modvm/ssm.h>

#ifdef __cplusplus
extern "C" {
#endif

struct modvm_dev;
struct modvm_drv;

/** Opaque handles handed out by the core. */
typedef struct modvm_pio_region_ *modvm_pio_handle;
typedef struct modvm_mmio_region_ *modvm_mmio_handle;
typedef struct modvm_timer_ *modvm_timer_handle;
typedef struct modvm_fd_watch_ *modvm_fd_handle;

/** Device families (for listing and packaging). */
enum modvm_dev_family {
    MODVM_DEV_FAMILY_SYSTEM = 1,
    MODVM_DEV_FAMILY_DISPLAY = 2,
    MODVM_DEV_FAMILY_STORAGE = 3,
    MODVM_DEV_FAMILY_NET = 4,
    MODVM_DEV_FAMILY_USB = 5,
    MODVM_DEV_FAMILY_INPUT = 6,
    MODVM_DEV_FAMILY_MISC = 7,
};

/** struct modvm_devreg flags. */
#define MODVM_DEVREG_F_SELF_LOCKING 0x1u /**< the core takes no device lock; the device locks itself */

/* ---- I/O handlers ------------------------------------------------------------------------------ */

/** Allowed access widths of a port or MMIO range (struct modvm_pio_ops.sizes). An access of another
 * width is split into byte accesses when MODVM_IO_SIZE_1 is allowed; otherwise reads return all ones
 * and writes are dropped (and counted as a guest error). */
#define MODVM_IO_SIZE_1 0x1u
#define MODVM_IO_SIZE_2 0x2u
#define MODVM_IO_SIZE_4 0x4u
#define MODVM_IO_SIZE_8 0x8u
#define MODVM_IO_SIZE_ANY (MODVM_IO_SIZE_1 | MODVM_IO_SIZE_2 | MODVM_IO_SIZE_4 | MODVM_IO_SIZE_8)

/** Port read: `offset` is relative to the range's base, `size` is 1, 2 or 4. Called on a vCPU thread
 * with the device lock held. Returns the value (only the low `size` bytes are used). */
typedef uint32_t (*modvm_pio_in_fn)(struct modvm_dev *dev, void *user, uint16_t offset, unsigned size);
/** Port write: as modvm_pio_in_fn; `value` holds `size` bytes. */
typedef void (*modvm_pio_out_fn)(struct modvm_dev *dev, void *user, uint16_t offset, uint32_t value,
                                 unsigned size);
/** MMIO read/write: `offset` relative to the region's base, `size` 1, 2, 4 or 8. vCPU thread, device
 * lock held. */
typedef uint64_t (*modvm_mmio_read_fn)(struct modvm_dev *dev, void *user, uint64_t offset, unsigned size);
typedef void (*modvm_mmio_write_fn)(struct modvm_dev *dev, void *user, uint64_t offset, uint64_t value,
                                    unsigned size);

/** Version words of the ops structs below. */
#define MODVM_PIO_OPS_VERSION MODVM_VERSION_MAKE(0xd710, 1, 0)
#define MODVM_MMIO_OPS_VERSION MODVM_VERSION_MAKE(0xd711, 1, 0)

/** Handlers of a port range. A NULL handler reads all ones / ignores writes. */
struct modvm_pio_ops {
    uint32_t version; /**< MODVM_PIO_OPS_VERSION */
    uint32_t sizes;   /**< MODVM_IO_SIZE_* mask */
    modvm_pio_in_fn in;
    modvm_pio_out_fn out;
    void *reserved[2];
};
/** Handlers of an MMIO region. */
struct modvm_mmio_ops {
    uint32_t version; /**< MODVM_MMIO_OPS_VERSION */
    uint32_t sizes;   /**< MODVM_IO_SIZE_* mask */
    modvm_mmio_read_fn read;
    modvm_mmio_write_fn write;
    void *reserved[2];
};

/* ---- timers, fd watches, IRQs, requests -------------------------------------------------------- */

/** Clocks. The virtual clock stops while the VM is paused; the host clock never stops. */
enum modvm_clock { MODVM_CLOCK_VIRTUAL = 0, MODVM_CLOCK_HOST = 1 };

/** Timer expiry: I/O thread, device lock held. The timer is disarmed; re-arm it to make it periodic. */
typedef void (*modvm_timer_fn)(struct modvm_dev *dev, void *user);

/** fd watch events. */
#define MODVM_FD_READ 0x1u
#define MODVM_FD_WRITE 0x2u
#define MODVM_FD_HANGUP 0x4u /**< always reported, never needs asking for */
/** fd readiness: I/O thread, lock of the owning device held (for a driver: its device's lock). */
typedef void (*modvm_fd_fn)(void *user, int fd, uint32_t events);

/** IRQ line levels for modvm_dev_irq_set. */
#define MODVM_IRQ_LOW 0
#define MODVM_IRQ_HIGH 1
#define MODVM_IRQ_PULSE 2 /**< high then low: an edge */

/** Requests a device or frontend may make of the VM. They are asynchronous: the VM acts on them once
 * the caller's callback has returned. */
enum modvm_vm_request {
    MODVM_VM_REQ_RESET = 1,     /**< hard reset of every CPU and device */
    MODVM_VM_REQ_POWER_OFF = 2, /**< stop the VM; `status` becomes the process exit status */
    MODVM_VM_REQ_PAUSE = 3,
    MODVM_VM_REQ_RESUME = 4,
};

/** Facts about the VM a device may query (modvm_dev_vm_query). */
enum modvm_vm_fact {
    MODVM_VM_FACT_CPU_COUNT = 1,
    MODVM_VM_FACT_RAM_SIZE = 2, /**< bytes */
};

/** Log levels. */
enum modvm_log_level { MODVM_LOG_ERROR = 0, MODVM_LOG_WARN = 1, MODVM_LOG_INFO = 2, MODVM_LOG_DEBUG = 3 };

/* ---- the helper table -------------------------------------------------------------------------- */

/** Version word of struct modvm_dev_hlp. */
#define MODVM_DEV_HLP_VERSION MODVM_VERSION_MAKE(0xd720, 1, 1)

/** The services a device gets from the core. Call them through the modvm_* inline wrappers below.
 * Functions returning int give 0 or a negative errno. */
struct modvm_dev_hlp {
    uint32_t version; /**< MODVM_DEV_HLP_VERSION */
    uint32_t reserved0;

    /* Port I/O: create a range of `count` ports, then map it at a base (and unmap/remap it, e.g. for a
     * PCI I/O BAR). Mapping a range that overlaps another is refused with -EBUSY; a zero-length or
     * wrapping range with -EINVAL; either way the user-facing message is set already (naming the
     * device that holds the range), so construct returns the rc as it is. Unmap/destroy wait for
     * accesses in flight on other vCPUs. */
    int (*pio_create)(struct modvm_dev *dev, uint32_t count, const struct modvm_pio_ops *ops, void *user,
                      const char *desc, modvm_pio_handle *out);
    int (*pio_map)(struct modvm_dev *dev, modvm_pio_handle h, uint16_t base);
    int (*pio_unmap)(struct modvm_dev *dev, modvm_pio_handle h);
    void (*pio_destroy)(struct modvm_dev *dev, modvm_pio_handle h);

    /* MMIO: the same for guest-physical regions. */
    int (*mmio_create)(struct modvm_dev *dev, uint64_t size, const struct modvm_mmio_ops *ops, void *user,
                       const char *desc, modvm_mmio_handle *out);
    int (*mmio_map)(struct modvm_dev *dev, modvm_mmio_handle h, uint64_t gpa);
    int (*mmio_unmap)(struct modvm_dev *dev, modvm_mmio_handle h);
    void (*mmio_destroy)(struct modvm_dev *dev, modvm_mmio_handle h);

    /* Interrupts: set an interrupt line (GSI; ISA IRQs 0-15 are GSIs 0-15) to MODVM_IRQ_*; send an MSI. */
    int (*irq_set)(struct modvm_dev *dev, uint32_t gsi, int level);
    int (*msi_send)(struct modvm_dev *dev, uint64_t address, uint32_t data);

    /* Guest-memory DMA. The whole range must be guest RAM (or ROM, for reads): a range touching MMIO
     * or unbacked space fails with -EFAULT and transfers nothing — a device's DMA never re-enters a
     * device. */
    int (*phys_read)(struct modvm_dev *dev, uint64_t gpa, void *buf, size_t len);
    int (*phys_write)(struct modvm_dev *dev, uint64_t gpa, const void *buf, size_t len);

    /* Timers. `expire_ns` is absolute on the timer's clock (see clock_now). */
    int (*timer_create)(struct modvm_dev *dev, enum modvm_clock clock, modvm_timer_fn fn, void *user,
                        const char *desc, modvm_timer_handle *out);
    int (*timer_arm)(struct modvm_dev *dev, modvm_timer_handle h, uint64_t expire_ns);
    int (*timer_stop)(struct modvm_dev *dev, modvm_timer_handle h);
    void (*timer_destroy)(struct modvm_dev *dev, modvm_timer_handle h);
    uint64_t (*clock_now)(struct modvm_dev *dev, enum modvm_clock clock);

    /* fd watches run by the I/O thread. */
    int (*fd_watch_add)(struct modvm_dev *dev, int fd, uint32_t events, modvm_fd_fn fn, void *user,
                        modvm_fd_handle *out);
    int (*fd_watch_modify)(struct modvm_dev *dev, modvm_fd_handle h, uint32_t events);
    void (*fd_watch_remove)(struct modvm_dev *dev, modvm_fd_handle h);

    /* Configuration (keys must be in the device's schema; a key the user did not give yields its
     * default, or -ENOENT when the schema has none). Strings live as long as the device. */
    int (*cfg_get_uint)(struct modvm_dev *dev, const char *key, uint64_t *out);
    int (*cfg_get_int)(struct modvm_dev *dev, const char *key, int64_t *out);
    int (*cfg_get_bool)(struct modvm_dev *dev, const char *key, bool *out);
    int (*cfg_get_string)(struct modvm_dev *dev, const char *key, const char **out);

    /* Drivers: attach the driver configured at `lun`, which must provide interface `iface` (drv.h).
     * `up`/`up_ctx` is the device's side of the interface. Returns -ENOENT when (and only when)
     * nothing is configured there; any other failure has its user-facing message set already, so the
     * device returns that rc from construct as it is. The core destructs attached drivers after the
     * device's destruct callback. */
    int (*driver_attach)(struct modvm_dev *dev, uint32_t lun, const char *iface, const void *up,
                         void *up_ctx, struct modvm_drv **drv_out, const void **down_out);

    /* Messages: debug/info logs; the one-line user-facing error of a failed callback (returns rc);
     * guest misuse (counted per device, logged at a limited rate). */
    void (*log)(struct modvm_dev *dev, int level, const char *fmt, va_list ap);
    int (*set_error)(struct modvm_dev *dev, int rc, const char *fmt, va_list ap);
    void (*guest_error)(struct modvm_dev *dev, const char *fmt, va_list ap);

    /* Saved state (ssm.h). */
    int (*ssm_put)(struct modvm_dev *dev, struct modvm_ssm *ssm, const void *buf, size_t len);
    int (*ssm_get)(struct modvm_dev *dev, struct modvm_ssm *ssm, void *buf, size_t len);

    /* The VM. */
    int (*vm_request)(struct modvm_dev *dev, enum modvm_vm_request req, int status);
    int (*vm_query)(struct modvm_dev *dev, enum modvm_vm_fact fact, uint64_t *out);

    /* Since 1.1: further core services as versioned tables, looked up by interface name — "modvm.pci.1"
     * (pci.h), "modvm.virtio.1" (virtio.h), "modvm.fw.1" (fw.h). Returns NULL when the core does not
     * provide `name` at least at version `min_version` (same magic and major, minor ≥ min's). New
     * service families are added this way, so the table itself rarely grows. */
    const void *(*core_interface)(struct modvm_dev *dev, const char *name, uint32_t min_version);

    void *reserved[15];
    uint32_t version_end; /**< MODVM_DEV_HLP_VERSION */
};

/* ---- the device instance and its registration -------------------------------------------------- */

/** Version word of struct modvm_dev. */
#define MODVM_DEV_VERSION MODVM_VERSION_MAKE(0xd730, 1, 0)

/** A device instance, made by the core for each configured device. */
struct modvm_dev {
    uint32_t version;                 /**< MODVM_DEV_VERSION */
    uint32_t instance;                /**< 0, 1, ... among devices of this type */
    void *data;                       /**< the instance data: devreg->instance_size bytes, zeroed */
    const struct modvm_dev_hlp *hlp;  /**< the core's services */
    const struct modvm_devreg *reg;   /**< this device's registration */
    const char *name;                 /**< "type#instance", for messages */
    void *core;                       /**< opaque to the device */
};

/** Lifecycle callbacks. Main thread, all vCPUs stopped, device lock held. */
/** Builds the device: read config, register I/O, attach drivers. Returns 0 or a negative errno with
 * modvm_dev_set_error. */
typedef int (*modvm_dev_construct_fn)(struct modvm_dev *dev);
/** Frees what construct made; always called, even after construct failed part-way. */
typedef void (*modvm_dev_destruct_fn)(struct modvm_dev *dev);
/** Reset, suspend (pause), resume, power-off notifications. */
typedef void (*modvm_dev_notify_fn)(struct modvm_dev *dev);
/** Writes the device's state (unit version = devreg->saved_state_version). */
typedef int (*modvm_dev_save_fn)(struct modvm_dev *dev, struct modvm_ssm *ssm);
/** Reads state written by save of unit version `version`; validates everything (see ssm.h). */
typedef int (*modvm_dev_load_fn)(struct modvm_dev *dev, struct modvm_ssm *ssm, uint32_t version);

/** Version word of struct modvm_devreg. */
#define MODVM_DEVREG_VERSION MODVM_VERSION_MAKE(0xd740, 1, 0)

/** A device type. Static in the plugin; registered with registrar->register_device. */
struct modvm_devreg {
    uint32_t version;          /**< MODVM_DEVREG_VERSION */
    uint32_t flags;            /**< MODVM_DEVREG_F_* */
    const char *name;          /**< type name, unique among all plugins: [a-z0-9-]+ */
    const char *description;   /**< one line */
    enum modvm_dev_family family;
    uint32_t max_instances;    /**< 0 = unlimited */
    size_t instance_size;      /**< bytes of zeroed instance data (dev->data) */
    const struct modvm_cfg_option *options; /**< schema, NULL-name terminated; NULL = no options */
    uint32_t saved_state_version;
    uint32_t reserved1;        /**< 0 (keeps the layout explicit) */

    modvm_dev_construct_fn construct; /**< required */
    modvm_dev_destruct_fn destruct;
    modvm_dev_notify_fn reset;
    modvm_dev_notify_fn suspend;
    modvm_dev_notify_fn resume;
    modvm_dev_notify_fn power_off;
    modvm_dev_save_fn save;
    modvm_dev_load_fn load;

    void *reserved[8];
    uint32_t version_end;      /**< MODVM_DEVREG_VERSION */
};

/* ---- inline wrappers: the device API ------------------------------------------------------------ */

/** Creates a port range and maps it at `base` (see modvm_dev_hlp.pio_create). */
static inline int modvm_pio_register(struct modvm_dev *dev, uint16_t base, uint32_t count,
                                     const struct modvm_pio_ops *ops, void *user, const char *desc,
                                     modvm_pio_handle *out)
{
    int rc = dev->hlp->pio_create(dev, count, ops, user, desc, out);
    if (rc == 0 && (rc = dev->hlp->pio_map(dev, *out, base)) != 0) {
        dev->hlp->pio_destroy(dev, *out);
        *out = NULL;
    }
    return rc;
}
/** Creates an unmapped port range of `count` ports. */
static inline int modvm_pio_create(struct modvm_dev *dev, uint32_t count, const struct modvm_pio_ops *ops,
                                   void *user, const char *desc, modvm_pio_handle *out)
{
    return dev->hlp->pio_create(dev, count, ops, user, desc, out);
}
/** Maps a port range at `base`. */
static inline int modvm_pio_map(struct modvm_dev *dev, modvm_pio_handle h, uint16_t base)
{
    return dev->hlp->pio_map(dev, h, base);
}
/** Unmaps a port range (it stays created). */
static inline int modvm_pio_unmap(struct modvm_dev *dev, modvm_pio_handle h)
{
    return dev->hlp->pio_unmap(dev, h);
}
/** Unmaps and frees a port range; NULL is ignored. */
static inline void modvm_pio_destroy(struct modvm_dev *dev, modvm_pio_handle h)
{
    if (h)
        dev->hlp->pio_destroy(dev, h);
}
/** Creates an MMIO region and maps it at `gpa`. */
static inline int modvm_mmio_register(struct modvm_dev *dev, uint64_t gpa, uint64_t size,
                                      const struct modvm_mmio_ops *ops, void *user, const char *desc,
                                      modvm_mmio_handle *out)
{
    int rc = dev->hlp->mmio_create(dev, size, ops, user, desc, out);
    if (rc == 0 && (rc = dev->hlp->mmio_map(dev, *out, gpa)) != 0) {
        dev->hlp->mmio_destroy(dev, *out);
        *out = NULL;
    }
    return rc;
}
/** Creates an unmapped MMIO region of `size` bytes. */
static inline int modvm_mmio_create(struct modvm_dev *dev, uint64_t size, const struct modvm_mmio_ops *ops,
                                    void *user, const char *desc, modvm_mmio_handle *out)
{
    return dev->hlp->mmio_create(dev, size, ops, user, desc, out);
}
/** Maps an MMIO region at `gpa`. */
static inline int modvm_mmio_map(struct modvm_dev *dev, modvm_mmio_handle h, uint64_t gpa)
{
    return dev->hlp->mmio_map(dev, h, gpa);
}
/** Unmaps an MMIO region. */
static inline int modvm_mmio_unmap(struct modvm_dev *dev, modvm_mmio_handle h)
{
    return dev->hlp->mmio_unmap(dev, h);
}
/** Unmaps and frees an MMIO region; NULL is ignored. */
static inline void modvm_mmio_destroy(struct modvm_dev *dev, modvm_mmio_handle h)
{
    if (h)
        dev->hlp->mmio_destroy(dev, h);
}

/** Sets interrupt line `gsi` to MODVM_IRQ_LOW, MODVM_IRQ_HIGH or MODVM_IRQ_PULSE. */
static inline int modvm_dev_irq_set(struct modvm_dev *dev, uint32_t gsi, int level)
{
    return dev->hlp->irq_set(dev, gsi, level);
}
/** Sends a message-signalled interrupt. */
static inline int modvm_dev_msi_send(struct modvm_dev *dev, uint64_t address, uint32_t data)
{
    return dev->hlp->msi_send(dev, address, data);
}
/** Reads guest RAM (DMA). -EFAULT unless the whole range is RAM/ROM. */
static inline int modvm_dev_phys_read(struct modvm_dev *dev, uint64_t gpa, void *buf, size_t len)
{
    return dev->hlp->phys_read(dev, gpa, buf, len);
}
/** Writes guest RAM (DMA). -EFAULT unless the whole range is RAM. */
static inline int modvm_dev_phys_write(struct modvm_dev *dev, uint64_t gpa, const void *buf, size_t len)
{
    return dev->hlp->phys_write(dev, gpa, buf, len);
}

/** Creates a timer on `clock` (disarmed). */
static inline int modvm_timer_create(struct modvm_dev *dev, enum modvm_clock clock, modvm_timer_fn fn,
                                     void *user, const char *desc, modvm_timer_handle *out)
{
    return dev->hlp->timer_create(dev, clock, fn, user, desc, out);
}
/** Arms a timer to fire at absolute time `expire_ns` of its clock (re-arming moves it). */
static inline int modvm_timer_arm(struct modvm_dev *dev, modvm_timer_handle h, uint64_t expire_ns)
{
    return dev->hlp->timer_arm(dev, h, expire_ns);
}
/** Disarms a timer; its callback will not run until it is armed again. */
static inline int modvm_timer_stop(struct modvm_dev *dev, modvm_timer_handle h)
{
    return dev->hlp->timer_stop(dev, h);
}
/** Destroys a timer; NULL is ignored. */
static inline void modvm_timer_destroy(struct modvm_dev *dev, modvm_timer_handle h)
{
    if (h)
        dev->hlp->timer_destroy(dev, h);
}
/** Current time of `clock` in nanoseconds. */
static inline uint64_t modvm_clock_now(struct modvm_dev *dev, enum modvm_clock clock)
{
    return dev->hlp->clock_now(dev, clock);
}

/** Watches `fd` for MODVM_FD_* `events` on the I/O thread. */
static inline int modvm_dev_fd_watch_add(struct modvm_dev *dev, int fd, uint32_t events, modvm_fd_fn fn,
                                         void *user, modvm_fd_handle *out)
{
    return dev->hlp->fd_watch_add(dev, fd, events, fn, user, out);
}
/** Changes the events a watch waits for (0 = none for now). */
static inline int modvm_dev_fd_watch_modify(struct modvm_dev *dev, modvm_fd_handle h, uint32_t events)
{
    return dev->hlp->fd_watch_modify(dev, h, events);
}
/** Stops watching; NULL is ignored. */
static inline void modvm_dev_fd_watch_remove(struct modvm_dev *dev, modvm_fd_handle h)
{
    if (h)
        dev->hlp->fd_watch_remove(dev, h);
}

/** Reads an unsigned option (its default when not given). */
static inline int modvm_dev_cfg_uint(struct modvm_dev *dev, const char *key, uint64_t *out)
{
    return dev->hlp->cfg_get_uint(dev, key, out);
}
/** Reads a signed option. */
static inline int modvm_dev_cfg_int(struct modvm_dev *dev, const char *key, int64_t *out)
{
    return dev->hlp->cfg_get_int(dev, key, out);
}
/** Reads a boolean option. */
static inline int modvm_dev_cfg_bool(struct modvm_dev *dev, const char *key, bool *out)
{
    return dev->hlp->cfg_get_bool(dev, key, out);
}
/** Reads a string option (valid for the device's lifetime). */
static inline int modvm_dev_cfg_string(struct modvm_dev *dev, const char *key, const char **out)
{
    return dev->hlp->cfg_get_string(dev, key, out);
}

/** Attaches the driver configured at `lun` (see modvm_dev_hlp.driver_attach). */
static inline int modvm_dev_driver_attach(struct modvm_dev *dev, uint32_t lun, const char *iface,
                                          const void *up, void *up_ctx, struct modvm_drv **drv_out,
                                          const void **down_out)
{
    return dev->hlp->driver_attach(dev, lun, iface, up, up_ctx, drv_out, down_out);
}

#if defined(__GNUC__)
#define MODVM_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define MODVM_PRINTF(fmt_idx, arg_idx)
#endif

/** Logs a message at `level` (MODVM_LOG_*). */
static inline MODVM_PRINTF(3, 4) void modvm_dev_log(struct modvm_dev *dev, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dev->hlp->log(dev, level, fmt, ap);
    va_end(ap);
}
/** Records the one-line user-facing error for a failing callback and returns `rc`. */
static inline MODVM_PRINTF(3, 4) int modvm_dev_set_error(struct modvm_dev *dev, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rc = dev->hlp->set_error(dev, rc, fmt, ap);
    va_end(ap);
    return rc;
}
/** Reports guest misuse of the device (counted; logged at a limited rate). */
static inline MODVM_PRINTF(2, 3) void modvm_dev_guest_error(struct modvm_dev *dev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dev->hlp->guest_error(dev, fmt, ap);
    va_end(ap);
}

/** Saved state: raw bytes and little-endian integers (see ssm.h). */
static inline int modvm_ssm_put_bytes(struct modvm_dev *dev, struct modvm_ssm *ssm, const void *buf, size_t len)
{
    return dev->hlp->ssm_put(dev, ssm, buf, len);
}
/** Reads raw bytes from the saved-state unit. */
static inline int modvm_ssm_get_bytes(struct modvm_dev *dev, struct modvm_ssm *ssm, void *buf, size_t len)
{
    return dev->hlp->ssm_get(dev, ssm, buf, len);
}
/** Writes an unsigned integer of `bytes` (1, 2, 4, 8) little-endian. */
static inline int modvm_ssm_put_uint_(struct modvm_dev *dev, struct modvm_ssm *ssm, uint64_t v, unsigned bytes)
{
    uint8_t b[8];
    for (unsigned i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return dev->hlp->ssm_put(dev, ssm, b, bytes);
}
/** Reads an unsigned little-endian integer of `bytes`; 0 on failure. */
static inline int modvm_ssm_get_uint_(struct modvm_dev *dev, struct modvm_ssm *ssm, uint64_t *v, unsigned bytes)
{
    uint8_t b[8] = {0};
    int rc = dev->hlp->ssm_get(dev, ssm, b, bytes);
    *v = 0;
    for (unsigned i = 0; i < bytes; i++)
        *v |= (uint64_t)b[i] << (8 * i);
    return rc;
}
/** Typed saved-state puts. */
static inline int modvm_ssm_put_u8(struct modvm_dev *d, struct modvm_ssm *s, uint8_t v) { return modvm_ssm_put_uint_(d, s, v, 1); }
static inline int modvm_ssm_put_u16(struct modvm_dev *d, struct modvm_ssm *s, uint16_t v) { return modvm_ssm_put_uint_(d, s, v, 2); }
static inline int modvm_ssm_put_u32(struct modvm_dev *d, struct modvm_ssm *s, uint32_t v) { return modvm_ssm_put_uint_(d, s, v, 4); }
static inline int modvm_ssm_put_u64(struct modvm_dev *d, struct modvm_ssm *s, uint64_t v) { return modvm_ssm_put_uint_(d, s, v, 8); }
static inline int modvm_ssm_put_bool(struct modvm_dev *d, struct modvm_ssm *s, bool v) { return modvm_ssm_put_uint_(d, s, v ? 1 : 0, 1); }
/** Typed saved-state gets (0 / false on failure; see ssm.h). */
static inline int modvm_ssm_get_u8(struct modvm_dev *d, struct modvm_ssm *s, uint8_t *v)
{
    uint64_t x;
    int rc = modvm_ssm_get_uint_(d, s, &x, 1);
    *v = (uint8_t)x;
    return rc;
}
static inline int modvm_ssm_get_u16(struct modvm_dev *d, struct modvm_ssm *s, uint16_t *v)
{
    uint64_t x;
    int rc = modvm_ssm_get_uint_(d, s, &x, 2);
    *v = (uint16_t)x;
    return rc;
}
static inline int modvm_ssm_get_u32(struct modvm_dev *d, struct modvm_ssm *s, uint32_t *v)
{
    uint64_t x;
    int rc = modvm_ssm_get_uint_(d, s, &x, 4);
    *v = (uint32_t)x;
    return rc;
}
static inline int modvm_ssm_get_u64(struct modvm_dev *d, struct modvm_ssm *s, uint64_t *v)
{
    return modvm_ssm_get_uint_(d, s, v, 8);
}
static inline int modvm_ssm_get_bool(struct modvm_dev *d, struct modvm_ssm *s, bool *v)
{
    uint64_t x;
    int rc = modvm_ssm_get_uint_(d, s, &x, 1);
    *v = x != 0;
    return rc;
}

/** Asks the VM to reset, power off (with exit `status`), pause or resume. */
static inline int modvm_dev_vm_request(struct modvm_dev *dev, enum modvm_vm_request req, int status)
{
    return dev->hlp->vm_request(dev, req, status);
}
/** The core's table for interface `name` of at least `min_version`, or NULL (older core, or none).
 * Checks the helper table's own version first, so a plugin built for 1.1 still loads on a 1.0 core
 * and simply finds no interface there. */
static inline const void *modvm_dev_core_interface(struct modvm_dev *dev, const char *name, uint32_t min_version)
{
    if (MODVM_VERSION_MINOR(dev->hlp->version) < 1 || !dev->hlp->core_interface)
        return NULL;
    return dev->hlp->core_interface(dev, name, min_version);
}
/** Queries a fact about the VM (MODVM_VM_FACT_*). */
static inline int modvm_dev_vm_query(struct modvm_dev *dev, enum modvm_vm_fact fact, uint64_t *out)
{
    return dev->hlp->vm_query(dev, fact, out);
}

#ifdef __cplusplus
}
#endif
#endif
