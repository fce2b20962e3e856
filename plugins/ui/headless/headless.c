/* plugins/ui/headless/headless.c — the "headless" plugin and its frontend "headless": no window,
 * the guest's serial console on the terminal, like QEMU's -nographic.
 *
 * The plugin registers two things that share the terminal (headless.h): the frontend "headless"
 * (here) and the char driver "stdio" (stdio.c, `--serial stdio`), which carries the serial port on
 * stdin/stdout and turns escape keys (Ctrl-A x, r, p, h) into VM requests.
 *
 * The frontend's part is small: at construct it puts a terminal on stdin into raw mode (option
 * `raw`, default on; nothing changes when stdin is a pipe or file) so keys reach the guest as typed;
 * run() follows the VM's state until it is off, printing "[modvm: paused]" / "[modvm: resumed]" on
 * stderr when it pauses or resumes — it prints nothing else; destruct restores the terminal. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "headless.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <modvm/plugin.h>
#include <modvm/ui.h>

/* Instance data (zeroed by the core). */
struct headless_ui {
    bool raw; /* construct asked for raw mode (the terminal is restored in destruct either way) */
};

static const struct modvm_cfg_option headless_ui_options[] = {
    {.name = "raw", .type = MODVM_CFG_BOOL, .default_value = "on",
     .help = "put a terminal on stdin into raw mode (keys, Ctrl-C included, go to the guest)"},
    {.name = NULL},
};

/* Frontend construct callback (modvm_uireg.construct): raw mode for a terminal on stdin. A terminal
 * we cannot configure is not fatal: the VM runs, with line-buffered input. */
static int headless_ui_construct(struct modvm_ui *ui)
{
    struct headless_ui *st = ui->data;
    int rc = modvm_ui_cfg_bool(ui, "raw", &st->raw);
    if (rc != 0)
        return modvm_ui_set_error(ui, rc, "frontend 'headless': cannot read option 'raw'");
    if (!st->raw || !isatty(STDIN_FILENO))
        return 0;
    rc = headless_term_enter_raw();
    if (rc != 0)
        modvm_ui_log(ui, MODVM_LOG_WARN, "cannot put the terminal into raw mode (%s); input stays line-buffered",
                     strerror(-rc));
    return 0;
}

/* Prints the pause/resume transitions between two observed states. */
static void headless_ui_report(int before, int after)
{
    if (after == MODVM_VM_STATE_PAUSED && before != MODVM_VM_STATE_PAUSED)
        headless_print("[modvm: paused]\r\n");
    else if (before == MODVM_VM_STATE_PAUSED && after == MODVM_VM_STATE_RUNNING)
        headless_print("[modvm: resumed]\r\n");
}

/* Frontend run callback (modvm_uireg.run): follows the VM state until it is off. The shared state
 * lets the stdio driver's pause key know whether to pause or resume. */
static int headless_ui_run(struct modvm_ui *ui)
{
    int seen = modvm_ui_vm_state(ui);
    if (seen < 0)
        return seen;
    headless_shared_set_state(seen);
    while (seen != MODVM_VM_STATE_OFF) {
        int now = modvm_ui_vm_wait_state(ui, seen, -1);
        if (now < 0) {
            headless_shared_set_state(0);
            return now;
        }
        headless_ui_report(seen, now);
        headless_shared_set_state(now);
        seen = now;
    }
    headless_shared_set_state(0);
    return 0;
}

/* Frontend destruct callback (modvm_uireg.destruct): gives the terminal back as it was. */
static void headless_ui_destruct(struct modvm_ui *ui)
{
    (void)ui;
    headless_shared_set_state(0);
    headless_term_restore();
}

static const struct modvm_uireg headless_ui_reg = {
    .version = MODVM_UIREG_VERSION,
    .name = "headless",
    .description = "no window: the serial console on the terminal (like QEMU -nographic)",
    .instance_size = sizeof(struct headless_ui),
    .options = headless_ui_options,
    .construct = headless_ui_construct,
    .run = headless_ui_run,
    .destruct = headless_ui_destruct,
    .version_end = MODVM_UIREG_VERSION,
};

/* Plugin entry (modvm_plugin_desc.register_types): checks the registrar's magic and major (the core
 * has already checked minors against our descriptor), then registers the frontend and the driver. */
static int headless_register(const struct modvm_registrar *reg)
{
    if (MODVM_VERSION_MAGIC(reg->version) != MODVM_VERSION_MAGIC(MODVM_REGISTRAR_VERSION) ||
        MODVM_VERSION_MAJOR(reg->version) != MODVM_VERSION_MAJOR(MODVM_REGISTRAR_VERSION))
        return -EINVAL;
    int rc = reg->register_ui(reg, &headless_ui_reg);
    if (rc == 0)
        rc = reg->register_driver(reg, &headless_stdio_reg);
    return rc;
}

MODVM_PLUGIN(.name = "headless", .plugin_version = "1.0.0", .license = "MIT",
             .description = "headless frontend and the stdio serial backend",
             .register_types = headless_register);
