/* devharness.h — runs a real modvm device plugin without a VM, for unit tests.
 *
 * Spec: the modvm plugin ABI, sdk/include/modvm/{plugin,pdm,drv,cfg,ssm}.h (STYLE.md point 12).
 *
 * The harness loads a plugin .so the way the core does (dlopen RTLD_NOW|RTLD_LOCAL, the one
 * exported descriptor, version checks, register_types through a recording registrar), constructs one
 * device instance of a registered type with options given as "key=value" strings, and implements
 * every function of struct modvm_dev_hlp for tests:
 *   - port I/O and MMIO ranges in a table; devharness_pio_* / devharness_mmio_* dispatch guest
 *     accesses with range-relative offsets, splitting widths the range does not allow into bytes as
 *     pdm.h documents;
 *   - IRQ lines: the current level of each GSI and a count of rising edges; MSIs counted;
 *   - timers on a manual clock (the virtual and host clocks are the same manual clock here):
 *     devharness_advance_ns() fires due timers in expiry order;
 *   - DMA over a small test RAM at guest-physical 0, bounds-checked;
 *   - core interfaces: the firmware files of fw.h over an in-memory set;
 *   - config reads over the option strings, parsed with the schema's types, ranges and defaults;
 *   - a built-in char driver (MODVM_IFACE_CHAR) at LUN 0 that captures output and feeds input with
 *     flow control;
 *   - saved state over a growable memory buffer (put/get with the sticky-failure rule of ssm.h);
 *   - set_error/guest_error/log/vm_request/vm_query recorded.
 * One harness = one plugin handle + at most one device instance; open the same .so twice for two
 * instances (e.g. save in one, load in another). Single-threaded: no device locks are needed.
 *
 * ABI misuse by the plugin that a core would treat as a host-side bug (a stale handle, ssm_put
 * outside save) is reported on stderr and aborts the test program. */
#ifndef MODVM_TESTS_DEVHARNESS_H
#define MODVM_TESTS_DEVHARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modvm/pdm.h>
#include <modvm/plugin.h>

struct devharness;

/* ---- plugin and device lifecycle ---------------------------------------------------------------- */

/* Loads the plugin at `path`, checks its descriptor and runs its register_types. Returns NULL and
 * prints one line on stderr when any of that fails. */
struct devharness *devharness_open(const char *path);
/* Destructs the device (if any), frees everything and unloads the plugin. NULL is ignored. */
void devharness_close(struct devharness *h);

/* The loaded plugin's descriptor. */
const struct modvm_plugin_desc *devharness_plugin(struct devharness *h);
/* A registered device type by name, or NULL. */
const struct modvm_devreg *devharness_devreg(struct devharness *h, const char *type);
/* How many device / driver / frontend registrations the plugin made. */
unsigned devharness_device_types(struct devharness *h);
unsigned devharness_driver_types(struct devharness *h);
unsigned devharness_ui_types(struct devharness *h);

/* Before construct: whether the test char driver is configured at LUN 0 (default: yes). Without
 * it, driver_attach answers -ENOENT as for a device with nothing attached. */
void devharness_set_char_driver(struct devharness *h, bool present);
/* Before construct: the size of the test RAM at guest-physical 0 (default 64 KiB). */
void devharness_set_ram_size(struct devharness *h, size_t size);
/* Before construct: what vm_query answers for MODVM_VM_FACT_CPU_COUNT and MODVM_VM_FACT_RAM_SIZE
 * (defaults: 1 CPU and the test RAM's size). Nothing is allocated: a device that sizes firmware
 * tables from the RAM size can be told about 8 GiB without the test owning 8 GiB. 0 keeps the
 * default. */
void devharness_set_vm_facts(struct devharness *h, uint64_t cpu_count, uint64_t ram_size);

/* Validates `options` (a NULL-terminated array of "key=value" strings, or NULL) against the type's
 * schema as the core does, then constructs instance `instance` of `type`. Returns 0 or the negative
 * errno; on failure the message is in devharness_last_error() and destruct has already run (the
 * core always calls it). */
int devharness_construct(struct devharness *h, const char *type, uint32_t instance, const char *const *options);
/* The constructed device (NULL before construct / after destruct). */
struct modvm_dev *devharness_dev(struct devharness *h);
/* Calls destruct and frees the instance. Returns how many port/MMIO ranges, timers and fd watches
 * the device left behind (they are freed by the harness). */
unsigned devharness_destruct(struct devharness *h);
/* Resources the device left behind at its last destruct, explicit or after a failed construct. */
unsigned devharness_leaks(struct devharness *h);
/* Makes the next call of helper `name` ("pio_create", "pio_map", "mmio_create", "mmio_map",
 * "timer_create", "fd_watch_add", "driver_attach" or "vm_query") fail with `rc`, once: for testing a device's
 * error paths and its destruct after a partial construct. */
void devharness_fail_next(struct devharness *h, const char *name, int rc);
/* Calls the device's reset / suspend / resume / power-off callback (if it has one). */
void devharness_reset(struct devharness *h);
void devharness_suspend(struct devharness *h);
void devharness_resume(struct devharness *h);
void devharness_power_off(struct devharness *h);

/* Runs the device's save callback; on success *buf (free() it) holds *len bytes of unit data. */
int devharness_save(struct devharness *h, uint8_t **buf, size_t *len);
/* Runs the device's load callback over a copy of `buf` with unit version `version`. A load that
 * returns 0 but leaves bytes unread fails with -EINVAL, as the core would. */
int devharness_load(struct devharness *h, const uint8_t *buf, size_t len, uint32_t version);

/* ---- guest accesses ----------------------------------------------------------------------------- */

/* A guest port access of `size` 1, 2 or 4 bytes. Unclaimed ports read all ones, writes vanish. */
void devharness_pio_out(struct devharness *h, uint16_t port, uint32_t value, unsigned size);
uint32_t devharness_pio_in(struct devharness *h, uint16_t port, unsigned size);
/* A guest MMIO access of `size` 1, 2, 4 or 8 bytes. */
void devharness_mmio_write(struct devharness *h, uint64_t gpa, uint64_t value, unsigned size);
uint64_t devharness_mmio_read(struct devharness *h, uint64_t gpa, unsigned size);
/* A port access handed whole to the range containing `port`, ignoring the widths the range
 * allows: a core that forgot modvm_pio_ops.sizes, for robustness tests. Unclaimed ports read all
 * ones. */
void devharness_pio_out_whole(struct devharness *h, uint16_t port, uint32_t value, unsigned size);
uint32_t devharness_pio_in_whole(struct devharness *h, uint16_t port, unsigned size);
/* True when a mapped port range / MMIO region covers the address. */
bool devharness_pio_mapped(struct devharness *h, uint16_t port);
bool devharness_mmio_mapped(struct devharness *h, uint64_t gpa);

/* ---- interrupts, time, memory ------------------------------------------------------------------- */

/* The current level (0/1) of interrupt line `gsi` and how many times it went from 0 to 1 (a
 * MODVM_IRQ_PULSE counts once and leaves the line at 0). */
int devharness_irq_level(struct devharness *h, uint32_t gsi);
unsigned devharness_irq_raises(struct devharness *h, uint32_t gsi);
/* How many MSIs were sent, and the last one's address/data (either pointer may be NULL). */
unsigned devharness_msi_count(struct devharness *h, uint64_t *address, uint32_t *data);

/* The manual clock, starting at 1 s. */
uint64_t devharness_now_ns(struct devharness *h);
/* Moves the clock forward by `ns`, firing every timer that falls due, in expiry order (timers armed
 * during a callback fire too if they fall due within the window). */
void devharness_advance_ns(struct devharness *h, uint64_t ns);
/* How many timers are armed now. */
unsigned devharness_timers_armed(struct devharness *h);

/* The test RAM (at guest-physical 0) and its size. */
uint8_t *devharness_ram(struct devharness *h, size_t *size);

/* ---- the test char driver (LUN 0) --------------------------------------------------------------- */

/* Everything the device wrote to its char driver so far. */
const uint8_t *devharness_char_output(struct devharness *h, size_t *len);
/* Forgets the captured output. */
void devharness_char_clear_output(struct devharness *h);
/* Queues input and delivers as much as the device's can_receive() allows; the rest stays queued
 * until the device calls receive_ready. */
void devharness_char_input(struct devharness *h, const uint8_t *bytes, size_t len);
/* Delivers bytes ignoring can_receive(): a driver breaking the contract, for robustness tests. */
void devharness_char_input_raw(struct devharness *h, const uint8_t *bytes, size_t len);
/* Bytes still queued for the device, and how often it called receive_ready. */
size_t devharness_char_pending(struct devharness *h);
unsigned devharness_char_ready_calls(struct devharness *h);
/* Whether the device attached the test char driver. */
bool devharness_char_attached(struct devharness *h);

/* ---- firmware files (fw.h) -------------------------------------------------------------------- */

/* The harness serves "modvm.fw.1" through core_interface over an in-memory file set (empty at open;
 * kept across construct/destruct, freed at close), with the core's rules: names of 1..55 printable
 * characters, at most 16 MiB, listed in name order, replaced data valid until close. */
int devharness_fw_file_add(struct devharness *h, const char *name, const void *data, size_t len);
int devharness_fw_file_get(struct devharness *h, const char *name, const void **data, size_t *len);
size_t devharness_fw_file_count(struct devharness *h);
/* Before construct: whether core_interface offers "modvm.fw.1" at all (default: yes); without it
 * the device sees a core that has no firmware-file services. */
void devharness_set_fw_interface(struct devharness *h, bool present);

/* ---- fd watches --------------------------------------------------------------------------------- */

/* Calls every watch on `fd` whose events match (hang-up always matches). Returns how many ran. */
unsigned devharness_fd_fire(struct devharness *h, int fd, uint32_t events);

/* ---- messages ----------------------------------------------------------------------------------- */

/* The last message given to set_error (or by the harness's own option checks); "" when none. */
const char *devharness_last_error(struct devharness *h);
/* Forgets the last error. */
void devharness_clear_error(struct devharness *h);
/* Guest errors reported by the device, plus accesses the bus refused (pdm.h's disallowed widths). */
unsigned devharness_guest_errors(struct devharness *h);
/* The last guest error message; "" when none. */
const char *devharness_last_guest_error(struct devharness *h);
/* VM requests made, and the last one (either pointer may be NULL). */
unsigned devharness_vm_requests(struct devharness *h, enum modvm_vm_request *last, int *status);

#endif
