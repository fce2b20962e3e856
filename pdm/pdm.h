/* pdm/pdm.h — the plugin manager: loading plugins, the registry of the types they register, device,
 * driver and frontend instances, and the helper tables they call (DESIGN.md "The plugin ABI"). */
#ifndef MODVM_PDM_H_INTERNAL
#define MODVM_PDM_H_INTERNAL

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <modvm/drv.h>
#include <modvm/pdm.h>
#include <modvm/ui.h>

struct pdm;
struct pdm_ui;
struct cfgm_node;
struct vm;

/** What one loaded plugin is. */
struct pdm_plugin_info {
    const char *path;
    const struct modvm_plugin_desc *desc;
};

/** Creates an empty plugin manager. */
int pdm_create(struct pdm **out);
/** Destroys every instance left, unloads every plugin. */
void pdm_destroy(struct pdm *pdm);

/** Loads every plugin (*.so) in `dir` (and below it when `recursive`). A file that fails to load is
 * an error: returns a negative errno with one line in modvm_err_get(). A missing directory is
 * skipped when `optional`. */
int pdm_load_directory(struct pdm *pdm, const char *dir, bool recursive, bool optional);
/** Loads one plugin file. */
int pdm_load_file(struct pdm *pdm, const char *path);
/** Loads the standard set: the build tree's plugins when this binary runs from the build tree, else
 * <libdir>/modvm/plugins; then each directory of $MODVM_PLUGIN_PATH (':'-separated); then `extra`. */
int pdm_load_standard(struct pdm *pdm, const char *const *extra, size_t nextra);

/** Loaded plugins, and registered types, for listing. */
size_t pdm_plugin_count(const struct pdm *pdm);
const struct pdm_plugin_info *pdm_plugin_at(const struct pdm *pdm, size_t i);
/** Registered types of plugin index `plugin` (SIZE_MAX = all), index 0.. until NULL. */
const struct modvm_devreg *pdm_devreg_at(const struct pdm *pdm, size_t plugin, size_t i);
const struct modvm_drvreg *pdm_drvreg_at(const struct pdm *pdm, size_t plugin, size_t i);
const struct modvm_uireg *pdm_uireg_at(const struct pdm *pdm, size_t plugin, size_t i);
/** Looks types up by name. */
const struct modvm_devreg *pdm_find_devreg(const struct pdm *pdm, const char *name);
const struct modvm_drvreg *pdm_find_drvreg(const struct pdm *pdm, const char *name);
const struct modvm_uireg *pdm_find_uireg(const struct pdm *pdm, const char *name);

/** Constructs every device configured under `devices` (Devices/<type>/<instance>/{Config,LUN#n}),
 * in configuration order. On failure everything constructed so far is destructed again. */
int pdm_devices_construct(struct pdm *pdm, struct vm *vm, struct cfgm_node *devices);
/** Destructs every device (and its drivers) in reverse order. */
void pdm_devices_destruct(struct pdm *pdm);
enum pdm_notify { PDM_NOTIFY_RESET, PDM_NOTIFY_SUSPEND, PDM_NOTIFY_RESUME, PDM_NOTIFY_POWER_OFF };
/** Calls a lifecycle callback of every device (and suspend/resume of drivers), vCPUs stopped. */
void pdm_devices_notify(struct pdm *pdm, enum pdm_notify what);
/** Guest errors counted across all devices. */
unsigned long pdm_guest_error_count(const struct pdm *pdm);

/** Constructs the frontend `name` with options `cfg` (may be NULL). */
int pdm_ui_construct(struct pdm *pdm, struct vm *vm, const char *name, struct cfgm_node *cfg,
                     struct pdm_ui **out);
/** Runs the frontend until the VM is off. */
int pdm_ui_run(struct pdm_ui *ui);
/** Destructs the frontend. */
void pdm_ui_destruct(struct pdm_ui *ui);

/** Validates the values in `cfg` against `schema` (unknown keys with a "did you mean", types, ranges),
 * converting string values given by the user to the schema's types in place. `what` names the owner
 * for messages, e.g. "device 'uart16550' #0". */
int pdm_options_validate(const struct modvm_cfg_option *schema, struct cfgm_node *cfg, const char *what);
/** Writes a schema as indented help lines (for `modvm list plugins -v`). */
void pdm_options_print(const struct modvm_cfg_option *schema, FILE *out, const char *indent);

#endif
