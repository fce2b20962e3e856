/* modvm/ui.h — frontends: what a person sees and uses (the SDL window, the headless console).
 *
 * One frontend runs per VM. Its `run` callback owns the process's main thread (SDL requires that)
 * from power-on until the VM is off; it waits on VM state changes, turns user input into VM requests
 * and shows what it must. Frontends read their own options like devices do. */
#ifndef MODVM_UI_H
#define MODVM_UI_H

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

struct modvm_ui;

/** VM states as a frontend sees them. */
enum modvm_vm_state {
    MODVM_VM_STATE_CREATED = 1,
    MODVM_VM_STATE_RUNNING = 2,
    MODVM_VM_STATE_PAUSED = 3,
    MODVM_VM_STATE_OFF = 4,
};

#define MODVM_UI_HLP_VERSION MODVM_VERSION_MAKE(0xd790, 1, 0)

/** The services a frontend gets from the core. */
struct modvm_ui_hlp {
    uint32_t version; /**< MODVM_UI_HLP_VERSION */
    uint32_t reserved0;
    /** The VM's current state (enum modvm_vm_state). */
    int (*vm_state)(struct modvm_ui *ui);
    /** Waits until the state differs from `seen` or `timeout_ms` passes (-1 = forever); returns the
     * state then. */
    int (*vm_wait_state)(struct modvm_ui *ui, int seen, int timeout_ms);
    int (*vm_request)(struct modvm_ui *ui, enum modvm_vm_request req, int status);
    int (*cfg_get_uint)(struct modvm_ui *ui, const char *key, uint64_t *out);
    int (*cfg_get_bool)(struct modvm_ui *ui, const char *key, bool *out);
    int (*cfg_get_string)(struct modvm_ui *ui, const char *key, const char **out);
    void (*log)(struct modvm_ui *ui, int level, const char *fmt, va_list ap);
    int (*set_error)(struct modvm_ui *ui, int rc, const char *fmt, va_list ap);
    void *reserved[16];
    uint32_t version_end; /**< MODVM_UI_HLP_VERSION */
};

#define MODVM_UI_VERSION MODVM_VERSION_MAKE(0xd7a0, 1, 0)

/** A frontend instance. */
struct modvm_ui {
    uint32_t version; /**< MODVM_UI_VERSION */
    uint32_t reserved0;
    void *data;       /**< uireg->instance_size bytes, zeroed */
    const struct modvm_ui_hlp *hlp;
    const struct modvm_uireg *reg;
    void *core;       /**< opaque to the frontend */
};

#define MODVM_UIREG_VERSION MODVM_VERSION_MAKE(0xd7b0, 1, 0)

/** A frontend type; registered with registrar->register_ui. All callbacks run on the main thread. */
struct modvm_uireg {
    uint32_t version; /**< MODVM_UIREG_VERSION */
    uint32_t flags;   /**< none yet: 0 */
    const char *name; /**< e.g. "headless" */
    const char *description;
    size_t instance_size;
    const struct modvm_cfg_option *options;
    /** Prepares the frontend once the VM is built, before it powers on. */
    int (*construct)(struct modvm_ui *ui);
    /** Runs the frontend until the VM is off; returns 0 or a negative errno. */
    int (*run)(struct modvm_ui *ui);
    /** Always called, even after a failed construct; restores what construct changed. */
    void (*destruct)(struct modvm_ui *ui);
    void *reserved[8];
    uint32_t version_end; /**< MODVM_UIREG_VERSION */
};

/** The VM's current state. */
static inline int modvm_ui_vm_state(struct modvm_ui *ui) { return ui->hlp->vm_state(ui); }
/** Waits for the VM state to change from `seen` (timeout in ms, -1 forever). */
static inline int modvm_ui_vm_wait_state(struct modvm_ui *ui, int seen, int timeout_ms)
{
    return ui->hlp->vm_wait_state(ui, seen, timeout_ms);
}
/** Asks the VM to reset, power off, pause or resume. */
static inline int modvm_ui_vm_request(struct modvm_ui *ui, enum modvm_vm_request req, int status)
{
    return ui->hlp->vm_request(ui, req, status);
}
/** Reads an unsigned option of the frontend. */
static inline int modvm_ui_cfg_uint(struct modvm_ui *ui, const char *key, uint64_t *out)
{
    return ui->hlp->cfg_get_uint(ui, key, out);
}
/** Reads a boolean option of the frontend. */
static inline int modvm_ui_cfg_bool(struct modvm_ui *ui, const char *key, bool *out)
{
    return ui->hlp->cfg_get_bool(ui, key, out);
}
/** Reads a string option of the frontend. */
static inline int modvm_ui_cfg_string(struct modvm_ui *ui, const char *key, const char **out)
{
    return ui->hlp->cfg_get_string(ui, key, out);
}
/** Logs a frontend message. */
static inline MODVM_PRINTF(3, 4) void modvm_ui_log(struct modvm_ui *ui, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ui->hlp->log(ui, level, fmt, ap);
    va_end(ap);
}
/** Records the user-facing error of a failing frontend callback; returns rc. */
static inline MODVM_PRINTF(3, 4) int modvm_ui_set_error(struct modvm_ui *ui, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rc = ui->hlp->set_error(ui, rc, fmt, ap);
    va_end(ap);
    return rc;
}

#ifdef __cplusplus
}
#endif
#endif
