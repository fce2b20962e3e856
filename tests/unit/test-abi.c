/* tests/unit/test-abi.c — pins the plugin ABI 1.0 (STYLE.md point 12): the layout of every struct the
 * SDK passes between the core and a plugin, the version words and their rules, and the values of the
 * enums and flags that cross the boundary.
 *
 * A plugin built against one SDK must keep working with every core of the same ABI major, so within
 * a major (plugin.h, DESIGN.md "The plugin ABI"):
 *   - no field moves or changes size, and no enum value or flag changes;
 *   - a struct grows only in a new minor of its own version word, by taking reserved slots (its size
 *     and its version_end stay put) or, for structs the core allocates and no plugin embeds
 *     (modvm_dev, modvm_drv, modvm_ui), by appending at the end;
 *   - the plugin descriptor's version carries MODVM_ABI_MINOR, so every struct minor bump needs an
 *     MODVM_ABI_MINOR bump, or an older core would accept a plugin it does not understand.
 * If this test fails after an SDK header change, the change breaks plugins: undo it, or make it in the
 * ways above and update the pins here — deliberately, in the same commit. The layout pins are for
 * x86-64 (LP64, System V); elsewhere only the portable checks run.
 *
 * Not covered here: the parameter types of the helper-table functions (only the callback typedefs
 * are checked, in test_callback_types). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <modvm/cfg.h>
#include <modvm/drv.h>
#include <modvm/fw.h>
#include <modvm/pci.h>
#include <modvm/pdm.h>
#include <modvm/plugin.h>
#include <modvm/shadow.h>
#include <modvm/ssm.h>
#include <modvm/ui.h>
#include <modvm/virtio.h>

#define ABI_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the layout pins ---------------------------------------------------------------------------- */

/* One field: where ABI 1.0 has it and how big it is there. `reserved` marks the reserved slots a
 * later minor may take: their start may then move up, their end may not. */
struct abi_field {
    const char *name;
    size_t offset, size;               /* as compiled now */
    size_t pinned_offset, pinned_size; /* ABI 1.0 */
    bool reserved;
};

#define ABI_MEMBER_SIZE(type, f) sizeof(((struct type *)0)->f)
#define FIELD(type, f, off, sz) {#f, offsetof(struct type, f), ABI_MEMBER_SIZE(type, f), off, sz, false}
#define RESERVED(type, f, off, sz) {#f, offsetof(struct type, f), ABI_MEMBER_SIZE(type, f), off, sz, true}

/* One struct. `version` is its version word (0 for modvm_cfg_option, which has none: it is an array
 * element, so its size is the schema's stride and can never change within a major). `appendable`:
 * the core allocates it and no plugin embeds it, so a minor may append fields at its end. */
struct abi_struct {
    const char *name;
    uint32_t version;
    bool appendable;
    size_t size, align;
    size_t pinned_size, pinned_align;
    const struct abi_field *fields;
    size_t nfields;
};

#define STRUCT(type, ver, app, sz, al, fields) \
    {#type, ver, app, sizeof(struct type), _Alignof(struct type), sz, al, fields, ABI_LEN(fields)}

/* The pins below are ABI 1.0 as first released, recorded from the SDK headers on x86-64. */
#if defined(__x86_64__) && defined(__LP64__)
#define ABI_LAYOUT_PINNED 1

static const struct abi_field plugin_desc_fields[] = {
    FIELD(modvm_plugin_desc, version, 0, 4),
    FIELD(modvm_plugin_desc, reserved0, 4, 4),
    FIELD(modvm_plugin_desc, name, 8, 8),
    FIELD(modvm_plugin_desc, plugin_version, 16, 8),
    FIELD(modvm_plugin_desc, license, 24, 8),
    FIELD(modvm_plugin_desc, description, 32, 8),
    FIELD(modvm_plugin_desc, register_types, 40, 8),
    RESERVED(modvm_plugin_desc, reserved, 48, 48),
    FIELD(modvm_plugin_desc, version_end, 96, 4),
};

static const struct abi_field registrar_fields[] = {
    FIELD(modvm_registrar, version, 0, 4),
    FIELD(modvm_registrar, reserved0, 4, 4),
    FIELD(modvm_registrar, core, 8, 8),
    FIELD(modvm_registrar, register_device, 16, 8),
    FIELD(modvm_registrar, register_driver, 24, 8),
    FIELD(modvm_registrar, register_ui, 32, 8),
    RESERVED(modvm_registrar, reserved, 40, 64),
};

static const struct abi_field cfg_option_fields[] = {
    FIELD(modvm_cfg_option, name, 0, 8),
    FIELD(modvm_cfg_option, type, 8, 4),
    FIELD(modvm_cfg_option, default_value, 16, 8),
    FIELD(modvm_cfg_option, min, 24, 8),
    FIELD(modvm_cfg_option, max, 32, 8),
    FIELD(modvm_cfg_option, help, 40, 8),
    FIELD(modvm_cfg_option, flags, 48, 4),
    FIELD(modvm_cfg_option, reserved0, 52, 4),
    RESERVED(modvm_cfg_option, reserved, 56, 16),
};

static const struct abi_field pio_ops_fields[] = {
    FIELD(modvm_pio_ops, version, 0, 4),
    FIELD(modvm_pio_ops, sizes, 4, 4),
    FIELD(modvm_pio_ops, in, 8, 8),
    FIELD(modvm_pio_ops, out, 16, 8),
    RESERVED(modvm_pio_ops, reserved, 24, 16),
};

static const struct abi_field mmio_ops_fields[] = {
    FIELD(modvm_mmio_ops, version, 0, 4),
    FIELD(modvm_mmio_ops, sizes, 4, 4),
    FIELD(modvm_mmio_ops, read, 8, 8),
    FIELD(modvm_mmio_ops, write, 16, 8),
    RESERVED(modvm_mmio_ops, reserved, 24, 16),
};

static const struct abi_field dev_hlp_fields[] = {
    FIELD(modvm_dev_hlp, version, 0, 4),
    FIELD(modvm_dev_hlp, reserved0, 4, 4),
    FIELD(modvm_dev_hlp, pio_create, 8, 8),
    FIELD(modvm_dev_hlp, pio_map, 16, 8),
    FIELD(modvm_dev_hlp, pio_unmap, 24, 8),
    FIELD(modvm_dev_hlp, pio_destroy, 32, 8),
    FIELD(modvm_dev_hlp, mmio_create, 40, 8),
    FIELD(modvm_dev_hlp, mmio_map, 48, 8),
    FIELD(modvm_dev_hlp, mmio_unmap, 56, 8),
    FIELD(modvm_dev_hlp, mmio_destroy, 64, 8),
    FIELD(modvm_dev_hlp, irq_set, 72, 8),
    FIELD(modvm_dev_hlp, msi_send, 80, 8),
    FIELD(modvm_dev_hlp, phys_read, 88, 8),
    FIELD(modvm_dev_hlp, phys_write, 96, 8),
    FIELD(modvm_dev_hlp, timer_create, 104, 8),
    FIELD(modvm_dev_hlp, timer_arm, 112, 8),
    FIELD(modvm_dev_hlp, timer_stop, 120, 8),
    FIELD(modvm_dev_hlp, timer_destroy, 128, 8),
    FIELD(modvm_dev_hlp, clock_now, 136, 8),
    FIELD(modvm_dev_hlp, fd_watch_add, 144, 8),
    FIELD(modvm_dev_hlp, fd_watch_modify, 152, 8),
    FIELD(modvm_dev_hlp, fd_watch_remove, 160, 8),
    FIELD(modvm_dev_hlp, cfg_get_uint, 168, 8),
    FIELD(modvm_dev_hlp, cfg_get_int, 176, 8),
    FIELD(modvm_dev_hlp, cfg_get_bool, 184, 8),
    FIELD(modvm_dev_hlp, cfg_get_string, 192, 8),
    FIELD(modvm_dev_hlp, driver_attach, 200, 8),
    FIELD(modvm_dev_hlp, log, 208, 8),
    FIELD(modvm_dev_hlp, set_error, 216, 8),
    FIELD(modvm_dev_hlp, guest_error, 224, 8),
    FIELD(modvm_dev_hlp, ssm_put, 232, 8),
    FIELD(modvm_dev_hlp, ssm_get, 240, 8),
    FIELD(modvm_dev_hlp, vm_request, 248, 8),
    FIELD(modvm_dev_hlp, vm_query, 256, 8),
    FIELD(modvm_dev_hlp, core_interface, 264, 8), /* ABI 1.1: the first reserved slot */
    RESERVED(modvm_dev_hlp, reserved, 264, 128),
    FIELD(modvm_dev_hlp, version_end, 392, 4),
};

static const struct abi_field dev_fields[] = {
    FIELD(modvm_dev, version, 0, 4),
    FIELD(modvm_dev, instance, 4, 4),
    FIELD(modvm_dev, data, 8, 8),
    FIELD(modvm_dev, hlp, 16, 8),
    FIELD(modvm_dev, reg, 24, 8),
    FIELD(modvm_dev, name, 32, 8),
    FIELD(modvm_dev, core, 40, 8),
};

static const struct abi_field devreg_fields[] = {
    FIELD(modvm_devreg, version, 0, 4),
    FIELD(modvm_devreg, flags, 4, 4),
    FIELD(modvm_devreg, name, 8, 8),
    FIELD(modvm_devreg, description, 16, 8),
    FIELD(modvm_devreg, family, 24, 4),
    FIELD(modvm_devreg, max_instances, 28, 4),
    FIELD(modvm_devreg, instance_size, 32, 8),
    FIELD(modvm_devreg, options, 40, 8),
    FIELD(modvm_devreg, saved_state_version, 48, 4),
    FIELD(modvm_devreg, construct, 56, 8),
    FIELD(modvm_devreg, destruct, 64, 8),
    FIELD(modvm_devreg, reset, 72, 8),
    FIELD(modvm_devreg, suspend, 80, 8),
    FIELD(modvm_devreg, resume, 88, 8),
    FIELD(modvm_devreg, power_off, 96, 8),
    FIELD(modvm_devreg, save, 104, 8),
    FIELD(modvm_devreg, load, 112, 8),
    RESERVED(modvm_devreg, reserved, 120, 64),
    FIELD(modvm_devreg, version_end, 184, 4),
};

static const struct abi_field char_port_fields[] = {
    FIELD(modvm_char_port, version, 0, 4),
    FIELD(modvm_char_port, reserved0, 4, 4),
    FIELD(modvm_char_port, can_receive, 8, 8),
    FIELD(modvm_char_port, receive, 16, 8),
    RESERVED(modvm_char_port, reserved, 24, 32),
};

static const struct abi_field char_conn_fields[] = {
    FIELD(modvm_char_conn, version, 0, 4),
    FIELD(modvm_char_conn, reserved0, 4, 4),
    FIELD(modvm_char_conn, write, 8, 8),
    FIELD(modvm_char_conn, receive_ready, 16, 8),
    RESERVED(modvm_char_conn, reserved, 24, 32),
};

static const struct abi_field drv_hlp_fields[] = {
    FIELD(modvm_drv_hlp, version, 0, 4),
    FIELD(modvm_drv_hlp, reserved0, 4, 4),
    FIELD(modvm_drv_hlp, fd_watch_add, 8, 8),
    FIELD(modvm_drv_hlp, fd_watch_modify, 16, 8),
    FIELD(modvm_drv_hlp, fd_watch_remove, 24, 8),
    FIELD(modvm_drv_hlp, cfg_get_uint, 32, 8),
    FIELD(modvm_drv_hlp, cfg_get_bool, 40, 8),
    FIELD(modvm_drv_hlp, cfg_get_string, 48, 8),
    FIELD(modvm_drv_hlp, log, 56, 8),
    FIELD(modvm_drv_hlp, set_error, 64, 8),
    FIELD(modvm_drv_hlp, vm_request, 72, 8),
    RESERVED(modvm_drv_hlp, reserved, 80, 128),
    FIELD(modvm_drv_hlp, version_end, 208, 4),
};

static const struct abi_field drv_fields[] = {
    FIELD(modvm_drv, version, 0, 4),
    FIELD(modvm_drv, lun, 4, 4),
    FIELD(modvm_drv, data, 8, 8),
    FIELD(modvm_drv, hlp, 16, 8),
    FIELD(modvm_drv, reg, 24, 8),
    FIELD(modvm_drv, name, 32, 8),
    FIELD(modvm_drv, up, 40, 8),
    FIELD(modvm_drv, up_ctx, 48, 8),
    FIELD(modvm_drv, core, 56, 8),
};

static const struct abi_field drvreg_fields[] = {
    FIELD(modvm_drvreg, version, 0, 4),
    FIELD(modvm_drvreg, flags, 4, 4),
    FIELD(modvm_drvreg, name, 8, 8),
    FIELD(modvm_drvreg, description, 16, 8),
    FIELD(modvm_drvreg, iface, 24, 8),
    FIELD(modvm_drvreg, instance_size, 32, 8),
    FIELD(modvm_drvreg, options, 40, 8),
    FIELD(modvm_drvreg, construct, 48, 8),
    FIELD(modvm_drvreg, destruct, 56, 8),
    FIELD(modvm_drvreg, query_interface, 64, 8),
    FIELD(modvm_drvreg, suspend, 72, 8),
    FIELD(modvm_drvreg, resume, 80, 8),
    RESERVED(modvm_drvreg, reserved, 88, 64),
    FIELD(modvm_drvreg, version_end, 152, 4),
};

static const struct abi_field ui_hlp_fields[] = {
    FIELD(modvm_ui_hlp, version, 0, 4),
    FIELD(modvm_ui_hlp, reserved0, 4, 4),
    FIELD(modvm_ui_hlp, vm_state, 8, 8),
    FIELD(modvm_ui_hlp, vm_wait_state, 16, 8),
    FIELD(modvm_ui_hlp, vm_request, 24, 8),
    FIELD(modvm_ui_hlp, cfg_get_uint, 32, 8),
    FIELD(modvm_ui_hlp, cfg_get_bool, 40, 8),
    FIELD(modvm_ui_hlp, cfg_get_string, 48, 8),
    FIELD(modvm_ui_hlp, log, 56, 8),
    FIELD(modvm_ui_hlp, set_error, 64, 8),
    RESERVED(modvm_ui_hlp, reserved, 72, 128),
    FIELD(modvm_ui_hlp, version_end, 200, 4),
};

static const struct abi_field ui_fields[] = {
    FIELD(modvm_ui, version, 0, 4),
    FIELD(modvm_ui, reserved0, 4, 4),
    FIELD(modvm_ui, data, 8, 8),
    FIELD(modvm_ui, hlp, 16, 8),
    FIELD(modvm_ui, reg, 24, 8),
    FIELD(modvm_ui, core, 32, 8),
};

static const struct abi_field uireg_fields[] = {
    FIELD(modvm_uireg, version, 0, 4),
    FIELD(modvm_uireg, flags, 4, 4),
    FIELD(modvm_uireg, name, 8, 8),
    FIELD(modvm_uireg, description, 16, 8),
    FIELD(modvm_uireg, instance_size, 24, 8),
    FIELD(modvm_uireg, options, 32, 8),
    FIELD(modvm_uireg, construct, 40, 8),
    FIELD(modvm_uireg, run, 48, 8),
    FIELD(modvm_uireg, destruct, 56, 8),
    RESERVED(modvm_uireg, reserved, 64, 64),
    FIELD(modvm_uireg, version_end, 128, 4),
};

/* PCI (pci.h, a core interface since SDK 1.1): pinned as PCI 1.0 first shipped. */
static const struct abi_field pci_func_fields[] = {
    FIELD(modvm_pci_func, version, 0, 4),
    FIELD(modvm_pci_func, flags, 4, 4),
    FIELD(modvm_pci_func, vendor_id, 8, 2),
    FIELD(modvm_pci_func, device_id, 10, 2),
    FIELD(modvm_pci_func, subsystem_vendor_id, 12, 2),
    FIELD(modvm_pci_func, subsystem_id, 14, 2),
    FIELD(modvm_pci_func, revision, 16, 1),
    FIELD(modvm_pci_func, prog_if, 17, 1),
    FIELD(modvm_pci_func, subclass, 18, 1),
    FIELD(modvm_pci_func, class_code, 19, 1),
    FIELD(modvm_pci_func, header_type, 20, 1),
    FIELD(modvm_pci_func, interrupt_pin, 21, 1),
    FIELD(modvm_pci_func, reserved1, 22, 2),
    FIELD(modvm_pci_func, devfn, 24, 4),
    FIELD(modvm_pci_func, reserved2, 28, 4),
    FIELD(modvm_pci_func, config_read, 32, 8),
    FIELD(modvm_pci_func, config_write, 40, 8),
    RESERVED(modvm_pci_func, reserved, 48, 32),
};

static const struct abi_field pci_hlp_fields[] = {
    FIELD(modvm_pci_hlp, version, 0, 4),
    FIELD(modvm_pci_hlp, reserved0, 4, 4),
    FIELD(modvm_pci_hlp, func_register, 8, 8),
    FIELD(modvm_pci_hlp, bar_register, 16, 8),
    FIELD(modvm_pci_hlp, config_init, 24, 8),
    FIELD(modvm_pci_hlp, config_get, 32, 8),
    FIELD(modvm_pci_hlp, cap_add, 40, 8),
    FIELD(modvm_pci_hlp, msix_init, 48, 8),
    FIELD(modvm_pci_hlp, msix_notify, 56, 8),
    FIELD(modvm_pci_hlp, msix_enabled, 64, 8),
    FIELD(modvm_pci_hlp, intx_set, 72, 8),
    FIELD(modvm_pci_hlp, config_read, 80, 8),
    FIELD(modvm_pci_hlp, config_write, 88, 8),
    FIELD(modvm_pci_hlp, intx_router_set, 96, 8),
    FIELD(modvm_pci_hlp, intx_routing_changed, 104, 8),
    FIELD(modvm_pci_hlp, msi_init, 112, 8), /* PCI 1.1: the first four reserved slots */
    FIELD(modvm_pci_hlp, msi_notify, 120, 8),
    FIELD(modvm_pci_hlp, msi_enabled, 128, 8),
    FIELD(modvm_pci_hlp, rom_register, 136, 8),
    RESERVED(modvm_pci_hlp, reserved, 112, 64),
};

static const struct abi_field fw_hlp_fields[] = {
FIELD(modvm_fw_hlp, version, 0, 4),
    FIELD(modvm_fw_hlp, reserved0, 4, 4),
    FIELD(modvm_fw_hlp, file_add, 8, 8),
    FIELD(modvm_fw_hlp, file_get, 16, 8),
    FIELD(modvm_fw_hlp, file_at, 24, 8),
    RESERVED(modvm_fw_hlp, reserved, 32, 64),
};

static const struct abi_field shadow_hlp_fields[] = {
    FIELD(modvm_shadow_hlp, version, 0, 4),
    FIELD(modvm_shadow_hlp, reserved0, 4, 4),
    FIELD(modvm_shadow_hlp, set, 8, 8),
    FIELD(modvm_shadow_hlp, get, 16, 8),
    RESERVED(modvm_shadow_hlp, reserved, 24, 48),
};

static const struct abi_field virtio_buf_fields[] = {
    FIELD(modvm_virtio_buf, gpa, 0, 8),
    FIELD(modvm_virtio_buf, len, 8, 4),
    FIELD(modvm_virtio_buf, reserved0, 12, 4),
};

static const struct abi_field virtio_chain_fields[] = {
    FIELD(modvm_virtio_chain, head, 0, 2),
    FIELD(modvm_virtio_chain, nout, 2, 2),
    FIELD(modvm_virtio_chain, nin, 4, 2),
    FIELD(modvm_virtio_chain, reserved0, 6, 2),
    FIELD(modvm_virtio_chain, max_bufs, 8, 4),
    FIELD(modvm_virtio_chain, reserved1, 12, 4),
    FIELD(modvm_virtio_chain, out_len, 16, 8),
    FIELD(modvm_virtio_chain, in_len, 24, 8),
    FIELD(modvm_virtio_chain, bufs, 32, 8),
};

static const struct abi_field virtio_dev_fields[] = {
    FIELD(modvm_virtio_dev, version, 0, 4),
    FIELD(modvm_virtio_dev, device_type, 4, 2),
    FIELD(modvm_virtio_dev, num_queues, 6, 2),
    FIELD(modvm_virtio_dev, queue_max_size, 8, 2),
    FIELD(modvm_virtio_dev, reserved0, 10, 2),
    FIELD(modvm_virtio_dev, config_size, 12, 4),
    FIELD(modvm_virtio_dev, device_features, 16, 8),
    FIELD(modvm_virtio_dev, devfn, 24, 4),
    FIELD(modvm_virtio_dev, reserved1, 28, 4),
    FIELD(modvm_virtio_dev, config_read, 32, 8),
    FIELD(modvm_virtio_dev, config_write, 40, 8),
    FIELD(modvm_virtio_dev, queue_notify, 48, 8),
    FIELD(modvm_virtio_dev, status_changed, 56, 8),
    RESERVED(modvm_virtio_dev, reserved, 64, 32),
};

static const struct abi_field virtio_hlp_fields[] = {
    FIELD(modvm_virtio_hlp, version, 0, 4),
    FIELD(modvm_virtio_hlp, reserved0, 4, 4),
    FIELD(modvm_virtio_hlp, device_register, 8, 8),
    FIELD(modvm_virtio_hlp, queue_pop, 16, 8),
    FIELD(modvm_virtio_hlp, queue_push, 24, 8),
    FIELD(modvm_virtio_hlp, queue_notify_guest, 32, 8),
    FIELD(modvm_virtio_hlp, chain_read, 40, 8),
    FIELD(modvm_virtio_hlp, chain_write, 48, 8),
    FIELD(modvm_virtio_hlp, features, 56, 8),
    FIELD(modvm_virtio_hlp, config_changed, 64, 8),
    FIELD(modvm_virtio_hlp, needs_reset, 72, 8),
    FIELD(modvm_virtio_hlp, device_reset, 80, 8),
    FIELD(modvm_virtio_hlp, device_unregister, 88, 8),
    RESERVED(modvm_virtio_hlp, reserved, 96, 48),
};

static const struct abi_struct abi_structs[] = {
    STRUCT(modvm_plugin_desc, MODVM_PLUGIN_DESC_VERSION, false, 104, 8, plugin_desc_fields),
    STRUCT(modvm_registrar, MODVM_REGISTRAR_VERSION, false, 104, 8, registrar_fields),
    STRUCT(modvm_cfg_option, 0, false, 72, 8, cfg_option_fields),
    STRUCT(modvm_pio_ops, MODVM_PIO_OPS_VERSION, false, 40, 8, pio_ops_fields),
    STRUCT(modvm_mmio_ops, MODVM_MMIO_OPS_VERSION, false, 40, 8, mmio_ops_fields),
    STRUCT(modvm_dev_hlp, MODVM_DEV_HLP_VERSION, false, 400, 8, dev_hlp_fields),
    STRUCT(modvm_dev, MODVM_DEV_VERSION, true, 48, 8, dev_fields),
    STRUCT(modvm_devreg, MODVM_DEVREG_VERSION, false, 192, 8, devreg_fields),
    STRUCT(modvm_char_port, MODVM_CHAR_PORT_VERSION, false, 56, 8, char_port_fields),
    STRUCT(modvm_char_conn, MODVM_CHAR_CONN_VERSION, false, 56, 8, char_conn_fields),
    STRUCT(modvm_drv_hlp, MODVM_DRV_HLP_VERSION, false, 216, 8, drv_hlp_fields),
    STRUCT(modvm_drv, MODVM_DRV_VERSION, true, 64, 8, drv_fields),
    STRUCT(modvm_drvreg, MODVM_DRVREG_VERSION, false, 160, 8, drvreg_fields),
    STRUCT(modvm_ui_hlp, MODVM_UI_HLP_VERSION, false, 208, 8, ui_hlp_fields),
    STRUCT(modvm_ui, MODVM_UI_VERSION, true, 40, 8, ui_fields),
    STRUCT(modvm_uireg, MODVM_UIREG_VERSION, false, 136, 8, uireg_fields),
    STRUCT(modvm_pci_func, MODVM_PCI_FUNC_VERSION, false, 80, 8, pci_func_fields),
    STRUCT(modvm_pci_hlp, MODVM_PCI_HLP_VERSION, false, 176, 8, pci_hlp_fields),
    STRUCT(modvm_fw_hlp, MODVM_FW_HLP_VERSION, false, 96, 8, fw_hlp_fields),
    STRUCT(modvm_shadow_hlp, MODVM_SHADOW_HLP_VERSION, false, 72, 8, shadow_hlp_fields),
    STRUCT(modvm_virtio_buf, 0, false, 16, 8, virtio_buf_fields),
    STRUCT(modvm_virtio_chain, 0, false, 40, 8, virtio_chain_fields),
    STRUCT(modvm_virtio_dev, MODVM_VIRTIO_DEV_VERSION, false, 96, 8, virtio_dev_fields),
    STRUCT(modvm_virtio_hlp, MODVM_VIRTIO_HLP_VERSION, false, 144, 8, virtio_hlp_fields),
};
#endif /* x86-64 */

/* Checks one struct against its pins; prints every difference and returns how many there were. */
#ifdef ABI_LAYOUT_PINNED
static unsigned abi_check_struct(const struct abi_struct *s)
{
    unsigned bad = 0;
    /* A struct still at minor 0 of its version (or without one) must be exactly as pinned. */
    bool grown_ok = s->version != 0 && MODVM_VERSION_MINOR(s->version) > 0;

    for (size_t i = 0; i < s->nfields; i++) {
        const struct abi_field *f = &s->fields[i];
        if (!f->reserved || !grown_ok) {
            if (f->offset != f->pinned_offset || f->size != f->pinned_size) {
                print_error("ABI break: %s.%s is %zu bytes at offset %zu; ABI 1.0 has %zu bytes at offset %zu\n",
                            s->name, f->name, f->size, f->offset, f->pinned_size, f->pinned_offset);
                bad++;
            }
        } else if (f->offset < f->pinned_offset || f->offset + f->size != f->pinned_offset + f->pinned_size) {
            /* A later minor took reserved slots: they may only shrink from the front. */
            print_error("ABI break: %s.%s spans [%zu, %zu); a minor may take slots from its front only, "
                        "ABI 1.0 has [%zu, %zu)\n",
                        s->name, f->name, f->offset, f->offset + f->size, f->pinned_offset,
                        f->pinned_offset + f->pinned_size);
            bad++;
        }
    }
    bool size_ok = s->size == s->pinned_size || (grown_ok && s->appendable && s->size > s->pinned_size);
    if (!size_ok) {
        print_error("ABI break: sizeof(struct %s) is %zu; ABI 1.0 has %zu%s\n", s->name, s->size,
                    s->pinned_size,
                    s->appendable ? " (it may grow only with a minor bump of its version word)"
                                  : " (new fields must take reserved slots)");
        bad++;
    }
    if (s->align != s->pinned_align) {
        print_error("ABI break: _Alignof(struct %s) is %zu; ABI 1.0 has %zu\n", s->name, s->align,
                    s->pinned_align);
        bad++;
    }
    return bad;
}
#endif

/* Every SDK struct keeps the ABI 1.0 layout (within the growth rules above). */
static void test_struct_layout(void **state)
{
    (void)state;
#ifdef ABI_LAYOUT_PINNED
    unsigned bad = 0;
    for (size_t i = 0; i < ABI_LEN(abi_structs); i++)
        bad += abi_check_struct(&abi_structs[i]);
    assert_int_equal(bad, 0);
#else
    skip(); /* the pins are x86-64's */
#endif
}

/* ---- version words ------------------------------------------------------------------------------ */

struct abi_version_pin {
    const char *name;
    uint32_t value;  /* as compiled now */
    uint32_t pinned; /* ABI 1.0 */
};

#define VERSION_PIN(macro, pinned) {#macro, macro, pinned}

static const struct abi_version_pin abi_versions[] = {
    VERSION_PIN(MODVM_PLUGIN_DESC_VERSION, 0xd7e50100u),
    VERSION_PIN(MODVM_REGISTRAR_VERSION, 0xd7e60100u),
    VERSION_PIN(MODVM_PIO_OPS_VERSION, 0xd7100100u),
    VERSION_PIN(MODVM_MMIO_OPS_VERSION, 0xd7110100u),
    VERSION_PIN(MODVM_DEV_HLP_VERSION, 0xd7200100u),
    VERSION_PIN(MODVM_DEV_VERSION, 0xd7300100u),
    VERSION_PIN(MODVM_DEVREG_VERSION, 0xd7400100u),
    VERSION_PIN(MODVM_CHAR_PORT_VERSION, 0xd7500100u),
    VERSION_PIN(MODVM_CHAR_CONN_VERSION, 0xd7510100u),
    VERSION_PIN(MODVM_DRV_HLP_VERSION, 0xd7600100u),
    VERSION_PIN(MODVM_DRV_VERSION, 0xd7700100u),
    VERSION_PIN(MODVM_DRVREG_VERSION, 0xd7800100u),
    VERSION_PIN(MODVM_UI_HLP_VERSION, 0xd7900100u),
    VERSION_PIN(MODVM_UI_VERSION, 0xd7a00100u),
    VERSION_PIN(MODVM_UIREG_VERSION, 0xd7b00100u),
    VERSION_PIN(MODVM_PCI_FUNC_VERSION, 0xd7d10100u),
    VERSION_PIN(MODVM_PCI_HLP_VERSION, 0xd7d00100u),
    VERSION_PIN(MODVM_FW_HLP_VERSION, 0xd7f00100u),
    VERSION_PIN(MODVM_SHADOW_HLP_VERSION, 0xd7e00100u),
    VERSION_PIN(MODVM_VIRTIO_HLP_VERSION, 0xd7c10100u),
    VERSION_PIN(MODVM_VIRTIO_DEV_VERSION, 0xd7c20100u),
};

/* The ABI is 1.x, and the descriptor's version word carries it. */
static void test_abi_version(void **state)
{
    (void)state;
    assert_int_equal(MODVM_ABI_MAJOR, 1); /* a new major needs new pins: this file is ABI 1's */
    assert_int_equal(MODVM_VERSION_MAJOR(MODVM_PLUGIN_DESC_VERSION), MODVM_ABI_MAJOR);
    assert_int_equal(MODVM_VERSION_MINOR(MODVM_PLUGIN_DESC_VERSION), MODVM_ABI_MINOR);
    assert_string_equal(MODVM_PLUGIN_SYMBOL_NAME, "modvm_plugin_descriptor");
}

/* Each version word keeps its magic and major; at ABI 1.0 every minor is 0. Magics are distinct, so
 * a struct passed where another is expected is caught. A struct minor bump needs an ABI minor bump. */
static void test_version_words(void **state)
{
    (void)state;
    unsigned bad = 0;
    for (size_t i = 0; i < ABI_LEN(abi_versions); i++) {
        const struct abi_version_pin *v = &abi_versions[i];
        bool same_line = MODVM_VERSION_MAGIC(v->value) == MODVM_VERSION_MAGIC(v->pinned) &&
                         MODVM_VERSION_MAJOR(v->value) == MODVM_VERSION_MAJOR(v->pinned) &&
                         MODVM_VERSION_MINOR(v->value) >= MODVM_VERSION_MINOR(v->pinned);
        if (!same_line || (MODVM_ABI_MINOR == 0 && v->value != v->pinned)) {
            print_error("ABI break: %s is 0x%08x; ABI 1.0 has 0x%08x (magic and major never change "
                        "within a major; a minor bump needs MODVM_ABI_MINOR bumped too)\n",
                        v->name, (unsigned)v->value, (unsigned)v->pinned);
            bad++;
        }
        for (size_t j = 0; j < i; j++) {
            if (MODVM_VERSION_MAGIC(abi_versions[j].value) == MODVM_VERSION_MAGIC(v->value)) {
                print_error("%s and %s share the magic 0x%04x\n", abi_versions[j].name, v->name,
                            (unsigned)MODVM_VERSION_MAGIC(v->value));
                bad++;
            }
        }
    }
    assert_int_equal(bad, 0);
}

/* The version words are constant expressions (plugins use them in static initializers). */
_Static_assert(MODVM_VERSION_MAKE(0xd740, 1, 0) == 0xd7400100u, "MODVM_VERSION_MAKE layout");
_Static_assert(MODVM_VERSION_MAGIC(MODVM_VERSION_MAKE(0xd740, 2, 3)) == 0xd740 &&
                   MODVM_VERSION_MAJOR(MODVM_VERSION_MAKE(0xd740, 2, 3)) == 2 &&
                   MODVM_VERSION_MINOR(MODVM_VERSION_MAKE(0xd740, 2, 3)) == 3,
               "version accessors are constant expressions");

/* MAKE and the accessors: magic in bits 31-16, major in 15-8, minor in 7-0. */
static void test_version_make(void **state)
{
    (void)state;
    uint32_t v = MODVM_VERSION_MAKE(0xd740, 1, 0);
    assert_int_equal(v, 0xd7400100u);
    assert_int_equal(MODVM_VERSION_MAGIC(v), 0xd740);
    assert_int_equal(MODVM_VERSION_MAJOR(v), 1);
    assert_int_equal(MODVM_VERSION_MINOR(v), 0);

    v = MODVM_VERSION_MAKE(0xffff, 0xff, 0xff);
    assert_int_equal(v, 0xffffffffu);
    assert_int_equal(MODVM_VERSION_MAGIC(v), 0xffff);
    assert_int_equal(MODVM_VERSION_MAJOR(v), 0xff);
    assert_int_equal(MODVM_VERSION_MINOR(v), 0xff);

    v = MODVM_VERSION_MAKE(0x1234, 0x56, 0x78);
    assert_int_equal(v, 0x12345678u);
    assert_int_equal(MODVM_VERSION_MAGIC(v), 0x1234);
    assert_int_equal(MODVM_VERSION_MAJOR(v), 0x56);
    assert_int_equal(MODVM_VERSION_MINOR(v), 0x78);

    /* Arguments are converted before shifting: no sign extension, no int overflow. */
    int magic = 0xd7e5, major = MODVM_ABI_MAJOR, minor = MODVM_ABI_MINOR;
    assert_int_equal(MODVM_VERSION_MAKE(magic, major, minor), MODVM_PLUGIN_DESC_VERSION);
}

/* ARE_COMPATIBLE(want, have): the code built for `want` (the core) accepts a struct of version
 * `have` (from a plugin) when magic and major match and have's minor is not newer. */
static void test_version_compatible(void **state)
{
    (void)state;
    const uint32_t core = MODVM_VERSION_MAKE(0xd740, 1, 3);

    /* Accepted: the same version, and every older minor of the same major. */
    assert_true(MODVM_VERSION_ARE_COMPATIBLE(core, core));
    for (unsigned minor = 0; minor <= 3; minor++)
        assert_true(MODVM_VERSION_ARE_COMPATIBLE(core, MODVM_VERSION_MAKE(0xd740, 1, minor)));

    /* Rejected: a newer minor (the plugin may fill fields the core does not know). */
    assert_false(MODVM_VERSION_ARE_COMPATIBLE(core, MODVM_VERSION_MAKE(0xd740, 1, 4)));
    assert_false(MODVM_VERSION_ARE_COMPATIBLE(core, MODVM_VERSION_MAKE(0xd740, 1, 0xff)));
    /* Rejected: another major, older or newer, whatever the minor. */
    assert_false(MODVM_VERSION_ARE_COMPATIBLE(core, MODVM_VERSION_MAKE(0xd740, 0, 0)));
    assert_false(MODVM_VERSION_ARE_COMPATIBLE(core, MODVM_VERSION_MAKE(0xd740, 2, 0)));
    assert_false(MODVM_VERSION_ARE_COMPATIBLE(core, MODVM_VERSION_MAKE(0xd740, 2, 3)));
    /* Rejected: another struct's magic, even with the same major and minor. */
    assert_false(MODVM_VERSION_ARE_COMPATIBLE(core, MODVM_VERSION_MAKE(0xd741, 1, 3)));
    assert_false(MODVM_VERSION_ARE_COMPATIBLE(core, MODVM_VERSION_MAKE(0x40d7, 1, 3)));
    /* Rejected: garbage (an uninitialised or zeroed version word). */
    assert_false(MODVM_VERSION_ARE_COMPATIBLE(core, 0));
    assert_false(MODVM_VERSION_ARE_COMPATIBLE(core, 0xffffffffu));

    /* The real words: each accepts itself and rejects every other struct's word. */
    for (size_t i = 0; i < ABI_LEN(abi_versions); i++) {
        uint32_t want = abi_versions[i].value;
        assert_true(MODVM_VERSION_ARE_COMPATIBLE(want, want));
        uint32_t next_minor = MODVM_VERSION_MAKE(MODVM_VERSION_MAGIC(want), MODVM_VERSION_MAJOR(want),
                                                 MODVM_VERSION_MINOR(want) + 1);
        assert_false(MODVM_VERSION_ARE_COMPATIBLE(want, next_minor));
        uint32_t next_major = MODVM_VERSION_MAKE(MODVM_VERSION_MAGIC(want), MODVM_VERSION_MAJOR(want) + 1, 0);
        assert_false(MODVM_VERSION_ARE_COMPATIBLE(want, next_major));
        for (size_t j = 0; j < ABI_LEN(abi_versions); j++)
            if (j != i)
                assert_false(MODVM_VERSION_ARE_COMPATIBLE(want, abi_versions[j].value));
    }
}

/* ---- enums, flags and names that cross the boundary --------------------------------------------- */

static void test_enum_values(void **state)
{
    (void)state;
    /* Enums are stored in ABI structs and passed to helpers: they must stay int-sized. */
    assert_int_equal(sizeof(enum modvm_dev_family), 4);
    assert_int_equal(sizeof(enum modvm_cfg_type), 4);
    assert_int_equal(sizeof(enum modvm_clock), 4);
    assert_int_equal(sizeof(enum modvm_vm_request), 4);
    assert_int_equal(sizeof(enum modvm_vm_fact), 4);
    assert_int_equal(sizeof(enum modvm_log_level), 4);
    assert_int_equal(sizeof(enum modvm_vm_state), 4);

    assert_int_equal(MODVM_DEV_FAMILY_SYSTEM, 1);
    assert_int_equal(MODVM_DEV_FAMILY_DISPLAY, 2);
    assert_int_equal(MODVM_DEV_FAMILY_STORAGE, 3);
    assert_int_equal(MODVM_DEV_FAMILY_NET, 4);
    assert_int_equal(MODVM_DEV_FAMILY_USB, 5);
    assert_int_equal(MODVM_DEV_FAMILY_INPUT, 6);
    assert_int_equal(MODVM_DEV_FAMILY_MISC, 7);

    assert_int_equal(MODVM_CFG_UINT, 1);
    assert_int_equal(MODVM_CFG_INT, 2);
    assert_int_equal(MODVM_CFG_BOOL, 3);
    assert_int_equal(MODVM_CFG_STRING, 4);

    assert_int_equal(MODVM_DEVREG_F_SELF_LOCKING, 0x1);
    assert_int_equal(MODVM_IO_SIZE_1, 0x1);
    assert_int_equal(MODVM_IO_SIZE_2, 0x2);
    assert_int_equal(MODVM_IO_SIZE_4, 0x4);
    assert_int_equal(MODVM_IO_SIZE_8, 0x8);
    assert_int_equal(MODVM_IO_SIZE_ANY, 0xf);

    assert_int_equal(MODVM_CLOCK_VIRTUAL, 0);
    assert_int_equal(MODVM_CLOCK_HOST, 1);
    assert_int_equal(MODVM_FD_READ, 0x1);
    assert_int_equal(MODVM_FD_WRITE, 0x2);
    assert_int_equal(MODVM_FD_HANGUP, 0x4);
    assert_int_equal(MODVM_IRQ_LOW, 0);
    assert_int_equal(MODVM_IRQ_HIGH, 1);
    assert_int_equal(MODVM_IRQ_PULSE, 2);

    assert_int_equal(MODVM_VM_REQ_RESET, 1);
    assert_int_equal(MODVM_VM_REQ_POWER_OFF, 2);
    assert_int_equal(MODVM_VM_REQ_PAUSE, 3);
    assert_int_equal(MODVM_VM_REQ_RESUME, 4);
    assert_int_equal(MODVM_VM_FACT_CPU_COUNT, 1);
    assert_int_equal(MODVM_VM_FACT_RAM_SIZE, 2);
    assert_int_equal(MODVM_LOG_ERROR, 0);
    assert_int_equal(MODVM_LOG_WARN, 1);
    assert_int_equal(MODVM_LOG_INFO, 2);
    assert_int_equal(MODVM_LOG_DEBUG, 3);

    assert_int_equal(MODVM_VM_STATE_CREATED, 1);
    assert_int_equal(MODVM_VM_STATE_RUNNING, 2);
    assert_int_equal(MODVM_VM_STATE_PAUSED, 3);
    assert_int_equal(MODVM_VM_STATE_OFF, 4);

    /* Interface names are matched as strings between plugins built at different times. */
    assert_string_equal(MODVM_IFACE_CHAR, "modvm.char.1");
}

/* The callback types a plugin implements keep their signatures (a change compiles silently in old
 * plugins and then passes arguments they do not expect). */
#define ABI_SAME_TYPE(expr, type) _Generic((expr), type: true, default: false)
static void test_callback_types(void **state)
{
    (void)state;
    assert_true(ABI_SAME_TYPE((modvm_pio_in_fn)0, uint32_t (*)(struct modvm_dev *, void *, uint16_t, unsigned)));
    assert_true(ABI_SAME_TYPE((modvm_pio_out_fn)0,
                              void (*)(struct modvm_dev *, void *, uint16_t, uint32_t, unsigned)));
    assert_true(ABI_SAME_TYPE((modvm_mmio_read_fn)0, uint64_t (*)(struct modvm_dev *, void *, uint64_t, unsigned)));
    assert_true(ABI_SAME_TYPE((modvm_mmio_write_fn)0,
                              void (*)(struct modvm_dev *, void *, uint64_t, uint64_t, unsigned)));
    assert_true(ABI_SAME_TYPE((modvm_timer_fn)0, void (*)(struct modvm_dev *, void *)));
    assert_true(ABI_SAME_TYPE((modvm_fd_fn)0, void (*)(void *, int, uint32_t)));
    assert_true(ABI_SAME_TYPE((modvm_dev_construct_fn)0, int (*)(struct modvm_dev *)));
    assert_true(ABI_SAME_TYPE((modvm_dev_destruct_fn)0, void (*)(struct modvm_dev *)));
    assert_true(ABI_SAME_TYPE((modvm_dev_notify_fn)0, void (*)(struct modvm_dev *)));
    assert_true(ABI_SAME_TYPE((modvm_dev_save_fn)0, int (*)(struct modvm_dev *, struct modvm_ssm *)));
    assert_true(ABI_SAME_TYPE((modvm_dev_load_fn)0, int (*)(struct modvm_dev *, struct modvm_ssm *, uint32_t)));

    struct modvm_plugin_desc desc;
    struct modvm_drvreg drvreg;
    struct modvm_uireg uireg;
    struct modvm_char_port port;
    struct modvm_char_conn conn;
    assert_true(ABI_SAME_TYPE(desc.register_types, int (*)(const struct modvm_registrar *)));
    assert_true(ABI_SAME_TYPE(drvreg.construct, int (*)(struct modvm_drv *)));
    assert_true(ABI_SAME_TYPE(drvreg.destruct, void (*)(struct modvm_drv *)));
    assert_true(ABI_SAME_TYPE(drvreg.query_interface, const void *(*)(struct modvm_drv *, const char *)));
    assert_true(ABI_SAME_TYPE(drvreg.suspend, void (*)(struct modvm_drv *)));
    assert_true(ABI_SAME_TYPE(drvreg.resume, void (*)(struct modvm_drv *)));
    assert_true(ABI_SAME_TYPE(uireg.construct, int (*)(struct modvm_ui *)));
    assert_true(ABI_SAME_TYPE(uireg.run, int (*)(struct modvm_ui *)));
    assert_true(ABI_SAME_TYPE(uireg.destruct, void (*)(struct modvm_ui *)));
    assert_true(ABI_SAME_TYPE(port.can_receive, size_t (*)(void *)));
    assert_true(ABI_SAME_TYPE(port.receive, void (*)(void *, const uint8_t *, size_t)));
    assert_true(ABI_SAME_TYPE(conn.write, size_t (*)(struct modvm_drv *, const uint8_t *, size_t)));
    assert_true(ABI_SAME_TYPE(conn.receive_ready, void (*)(struct modvm_drv *)));
    assert_true(ABI_SAME_TYPE((modvm_pci_config_write_fn)0,
                              void (*)(struct modvm_dev *, void *, uint32_t, uint32_t, unsigned)));
    assert_true(ABI_SAME_TYPE((modvm_pci_config_read_fn)0,
                              uint32_t (*)(struct modvm_dev *, void *, uint32_t, unsigned, uint32_t)));
    assert_true(ABI_SAME_TYPE((modvm_pci_intx_route_fn)0, int (*)(void *, uint8_t, uint8_t)));
}

/* ---- PCI: flags and the detection of an older core's table ---------------------------------------- */

static void test_pci_values(void **state)
{
    (void)state;
    assert_string_equal(MODVM_IFACE_PCI, "modvm.pci.1");
    assert_int_equal(MODVM_PCI_HLP_VERSION_1_0, 0xd7d00100u);
    assert_int_equal(MODVM_PCI_BAR_IO, 0x1);
    assert_int_equal(MODVM_PCI_BAR_MEM32, 0x2);
    assert_int_equal(MODVM_PCI_BAR_MEM64, 0x4);
    assert_int_equal(MODVM_PCI_BAR_PREFETCH, 0x8);
    assert_int_equal(MODVM_PCI_F_EXPRESS, 0x1);
    assert_int_equal(MODVM_PCI_F_MULTIFUNCTION, 0x2);
    assert_int_equal(MODVM_PCI_MSI_64BIT, 0x1);
    assert_int_equal(MODVM_PCI_MSI_MASKABLE, 0x2);
}

/* A core that offers one PCI table, by the rule of pdm/interfaces.c: the table is returned when it is
 * at least the version asked for. */
static struct modvm_pci_hlp fake_core_pci;

static const void *fake_core_interface(struct modvm_dev *dev, const char *name, uint32_t min_version)
{
    (void)dev;
    if (strcmp(name, MODVM_IFACE_PCI) != 0 || !MODVM_VERSION_ARE_COMPATIBLE(fake_core_pci.version, min_version))
        return NULL;
    return &fake_core_pci;
}

/* A plugin built against PCI 1.1 still finds a 1.0 core's table through modvm_pci_hlp() and sees that
 * the 1.1 fields are missing; a plugin built against 1.0 (asking for 1.0) gets a 1.1 core's table. */
static void test_pci_version_detection(void **state)
{
    (void)state;
    static const struct modvm_dev_hlp hlp = {.version = MODVM_DEV_HLP_VERSION,
                                             .core_interface = fake_core_interface,
                                             .version_end = MODVM_DEV_HLP_VERSION};
    struct modvm_dev dev = {.version = MODVM_DEV_VERSION, .hlp = &hlp};

    fake_core_pci.version = MODVM_VERSION_MAKE(0xd7d0, 1, 0); /* an older core */
    const struct modvm_pci_hlp *p = modvm_pci_hlp(&dev);
    assert_ptr_equal(p, &fake_core_pci);
    assert_true(modvm_pci_hlp_since(p, 0));
    assert_false(modvm_pci_hlp_since(p, 1));
    assert_null(modvm_dev_core_interface(&dev, MODVM_IFACE_PCI, MODVM_PCI_HLP_VERSION)); /* 1.1 required */

    fake_core_pci.version = MODVM_PCI_HLP_VERSION; /* this SDK's core */
    p = modvm_pci_hlp(&dev);
    assert_true(modvm_pci_hlp_since(p, 1));
    assert_ptr_equal(modvm_dev_core_interface(&dev, MODVM_IFACE_PCI, MODVM_VERSION_MAKE(0xd7d0, 1, 0)), p);

    fake_core_pci.version = MODVM_VERSION_MAKE(0xd7d0, 2, 0); /* another major: not PCI 1.x */
    assert_null(modvm_pci_hlp(&dev));
    assert_false(modvm_pci_hlp_since(NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_struct_layout),
        cmocka_unit_test(test_abi_version),
        cmocka_unit_test(test_version_words),
        cmocka_unit_test(test_version_make),
        cmocka_unit_test(test_version_compatible),
        cmocka_unit_test(test_enum_values),
        cmocka_unit_test(test_callback_types),
        cmocka_unit_test(test_pci_values),
        cmocka_unit_test(test_pci_version_detection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
