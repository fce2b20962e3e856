/* pdm/internal.h — PDM's private structures, shared by the files of pdm/ only. */
#ifndef MODVM_PDM_INTERNAL_H
#define MODVM_PDM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "pdm.h"

struct pgm_range;
struct tm_timer;
struct tm_fd_watch;

/** A loaded plugin. */
struct pdm_plugin {
    struct pdm_plugin_info info;
    void *handle; /* lt_dlhandle */
};

/** A registered type and the plugin it came from. */
struct pdm_type {
    size_t plugin;
    const void *reg; /* modvm_devreg / modvm_drvreg / modvm_uireg */
};

struct pdm_type_list {
    struct pdm_type *items;
    size_t count, cap;
};

struct pdm_dev;

/** An I/O region a device created (the opaque modvm_pio_handle / modvm_mmio_handle). */
struct pdm_io_region {
    struct pdm_dev *dev;
    bool mmio;
    struct modvm_pio_ops pio;
    struct modvm_mmio_ops mmio_ops;
    void *user;
    struct pgm_range *range;
    struct pdm_io_region *next;
};

/** A timer a device created (the opaque modvm_timer_handle). */
struct pdm_timer {
    struct pdm_dev *dev;
    modvm_timer_fn fn;
    void *user;
    struct tm_timer *timer;
    struct pdm_timer *next;
};

/** An fd watch of a device or driver (the opaque modvm_fd_handle). */
struct pdm_fd_watch {
    struct pdm_dev *dev;
    struct tm_fd_watch *watch;
    struct pdm_fd_watch *next;
};

/** A driver instance. */
struct pdm_drv {
    struct modvm_drv pub; /* first: the plugin's pointer is ours */
    struct pdm_dev *dev;
    struct cfgm_node *cfg;
    char name[128];
    bool constructed;
    struct pdm_drv *next;
};

/** A device instance. */
struct pdm_dev {
    struct modvm_dev pub; /* first: the plugin's pointer is ours */
    struct pdm *pdm;
    struct vm *vm;
    struct cfgm_node *node, *cfg;
    pthread_mutex_t lock;
    bool self_locking;
    char name[96];
    struct pdm_io_region *regions;
    struct pdm_timer *timers;
    struct pdm_fd_watch *watches;
    struct pdm_drv *drivers;
    atomic_ulong guest_errors;
    _Atomic uint64_t last_guest_log_ns;
    struct pdm_dev *next;
};

struct pdm {
    struct pdm_plugin *plugins;
    size_t nplugins, plugins_cap;
    struct pdm_type_list devs, drvs, uis;
    size_t loading_plugin; /* index of the plugin whose register_types is running */
    struct pdm_dev *devices; /* constructed devices, newest first */
    unsigned long dead_guest_errors;
    bool ltdl_ready;
};

/** The device's lock, or NULL for a self-locking device (owner lock for TM). */
pthread_mutex_t *pdm_dev_owner_lock(struct pdm_dev *dev);
/** Takes / drops the device's lock around a callback into it. */
void pdm_dev_enter(struct pdm_dev *dev);
void pdm_dev_leave(struct pdm_dev *dev);

/** Typed option reads shared by devices, drivers and frontends: the user's value, else the schema's
 * default; -EINVAL for a key not in the schema or of another type, -ENOENT for none. */
int pdm_cfg_get_uint(const struct modvm_cfg_option *schema, struct cfgm_node *cfg, const char *key,
                     uint64_t *out);
int pdm_cfg_get_int(const struct modvm_cfg_option *schema, struct cfgm_node *cfg, const char *key,
                    int64_t *out);
int pdm_cfg_get_bool(const struct modvm_cfg_option *schema, struct cfgm_node *cfg, const char *key, bool *out);
int pdm_cfg_get_string(const struct modvm_cfg_option *schema, struct cfgm_node *cfg, const char *key,
                       const char **out);

/** Registration validation (registry.c). */
int pdm_registry_add(struct pdm *pdm, struct pdm_type_list *list, const void *reg, const char *kind,
                     const char *name);

/** fd watches on behalf of a device or one of its drivers (device.c). */
int pdm_dev_fd_watch_add(struct pdm_dev *dev, int fd, uint32_t events, modvm_fd_fn fn, void *user,
                         modvm_fd_handle *out);
int pdm_dev_fd_watch_modify(struct pdm_dev *dev, modvm_fd_handle h, uint32_t events);
void pdm_dev_fd_watch_remove(struct pdm_dev *dev, modvm_fd_handle h);

/** Drivers (driver.c). */
int pdm_driver_attach(struct pdm_dev *dev, uint32_t lun, const char *iface, const void *up, void *up_ctx,
                      struct modvm_drv **drv_out, const void **down_out);
void pdm_drivers_destruct(struct pdm_dev *dev);
void pdm_drivers_notify(struct pdm_dev *dev, enum pdm_notify what);

/** The core interface table `name` if it is at least `min_version` (interfaces.c), else NULL. */
const void *pdm_core_interface(const char *name, uint32_t min_version);

/** Formats the message of a failing callback as "<who>: <message>" into the thread's error. */
int pdm_set_error(const char *who, int rc, const char *fmt, va_list ap);
/** Writes a log line "modvm: <who>: <message>" to stderr when `level` is within the verbosity. */
void pdm_log(struct vm *vm, const char *who, int level, const char *fmt, va_list ap);

#endif
