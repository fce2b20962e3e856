/* pdm/ui.c — the frontend instance and the frontend helper table (struct modvm_ui_hlp). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cfgm.h"
#include "../core/err.h"
#include "../core/vm.h"
#include "internal.h"

struct pdm_ui {
    struct modvm_ui pub; /* first: the plugin's pointer is ours */
    struct vm *vm;
    struct cfgm_node *cfg;
    char name[64];
};

/* The PDM instance behind a plugin's frontend pointer. */
static struct pdm_ui *pdm_ui_of(struct modvm_ui *ui)
{
    return (struct pdm_ui *)ui;
}

static int uhlp_vm_state(struct modvm_ui *ui)
{
    return vm_state(pdm_ui_of(ui)->vm);
}

static int uhlp_vm_wait_state(struct modvm_ui *ui, int seen, int timeout_ms)
{
    return vm_wait_state(pdm_ui_of(ui)->vm, seen, timeout_ms);
}

static int uhlp_vm_request(struct modvm_ui *ui, enum modvm_vm_request req, int status)
{
    return vm_request(pdm_ui_of(ui)->vm, req, status);
}

static int uhlp_cfg_get_uint(struct modvm_ui *ui, const char *key, uint64_t *out)
{
    return pdm_cfg_get_uint(ui->reg->options, pdm_ui_of(ui)->cfg, key, out);
}

static int uhlp_cfg_get_bool(struct modvm_ui *ui, const char *key, bool *out)
{
    return pdm_cfg_get_bool(ui->reg->options, pdm_ui_of(ui)->cfg, key, out);
}

static int uhlp_cfg_get_string(struct modvm_ui *ui, const char *key, const char **out)
{
    return pdm_cfg_get_string(ui->reg->options, pdm_ui_of(ui)->cfg, key, out);
}

static void uhlp_log(struct modvm_ui *ui, int level, const char *fmt, va_list ap)
{
    pdm_log(pdm_ui_of(ui)->vm, pdm_ui_of(ui)->name, level, fmt, ap);
}

static int uhlp_set_error(struct modvm_ui *ui, int rc, const char *fmt, va_list ap)
{
    return pdm_set_error(pdm_ui_of(ui)->name, rc, fmt, ap);
}

static const struct modvm_ui_hlp pdm_ui_hlp = {
    .version = MODVM_UI_HLP_VERSION,
    .vm_state = uhlp_vm_state,
    .vm_wait_state = uhlp_vm_wait_state,
    .vm_request = uhlp_vm_request,
    .cfg_get_uint = uhlp_cfg_get_uint,
    .cfg_get_bool = uhlp_cfg_get_bool,
    .cfg_get_string = uhlp_cfg_get_string,
    .log = uhlp_log,
    .set_error = uhlp_set_error,
    .version_end = MODVM_UI_HLP_VERSION,
};

int pdm_ui_construct(struct pdm *pdm, struct vm *vm, const char *name, struct cfgm_node *cfg,
                     struct pdm_ui **out)
{
    const struct modvm_uireg *reg = pdm_find_uireg(pdm, name);
    if (!reg)
        return modvm_err_set(-ENOENT, "unknown frontend '%s' (see 'modvm list plugins')", name);
    struct pdm_ui *ui = calloc(1, sizeof(*ui));
    if (!ui)
        return -ENOMEM;
    ui->vm = vm;
    ui->cfg = cfg;
    snprintf(ui->name, sizeof(ui->name), "frontend '%s'", name);
    ui->pub = (struct modvm_ui){.version = MODVM_UI_VERSION, .hlp = &pdm_ui_hlp, .reg = reg, .core = pdm};
    ui->pub.data = calloc(1, reg->instance_size ? reg->instance_size : 1);
    int rc = ui->pub.data ? pdm_options_validate(reg->options, cfg, ui->name) : -ENOMEM;
    if (rc == 0 && reg->construct) {
        modvm_err_clear();
        rc = reg->construct(&ui->pub);
        if (rc < 0 && !*modvm_err_get())
            modvm_err_set(rc, "%s: construction failed: %s", ui->name, strerror(-rc));
    }
    if (rc < 0) {
        char saved[512];
        snprintf(saved, sizeof(saved), "%s", modvm_err_get());
        pdm_ui_destruct(ui);
        return modvm_err_set(rc, "%s", saved);
    }
    *out = ui;
    return 0;
}

int pdm_ui_run(struct pdm_ui *ui)
{
    return ui->pub.reg->run(&ui->pub);
}

void pdm_ui_destruct(struct pdm_ui *ui)
{
    if (!ui)
        return;
    if (ui->pub.reg->destruct)
        ui->pub.reg->destruct(&ui->pub);
    free(ui->pub.data);
    free(ui);
}
