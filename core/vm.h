/* core/vm.h — the VM object: its managers, its state machine and the requests that drive it.
 *
 * States: created → running ⇄ paused → off (reset keeps it running). Requests (reset, power off,
 * pause, resume) may come from any thread — a device on a vCPU, a driver on the I/O thread, the
 * frontend on the main thread — and are carried out by the VM's control thread, which first stops
 * every vCPU. */
#ifndef MODVM_CORE_VM_H
#define MODVM_CORE_VM_H

#include <stdbool.h>
#include <stdint.h>

#include <modvm/pdm.h>
#include <modvm/ui.h>

struct vm;
struct cfgm_node;
struct pdm;
struct pgm;
struct tm_mgr;
struct fw_files;

/** Builds a VM from the config tree `root` (see cli/run.c for the keys): RAM, engine, devices from
 * the plugins loaded in `pdm`, the kernel. On failure returns a negative errno with the message in
 * modvm_err_get(). */
int vm_create(struct cfgm_node *root, struct pdm *pdm, struct vm **out);
/** Starts the I/O thread and the vCPUs. */
int vm_power_on(struct vm *vm);
/** Powers off (if needed), joins every thread, destructs devices, frees the VM. */
void vm_destroy(struct vm *vm);

/** Queues a request (asynchronous; see the file comment). */
int vm_request(struct vm *vm, enum modvm_vm_request req, int status);
/** The current state (enum modvm_vm_state). */
int vm_state(struct vm *vm);
/** Waits until the state is not `seen` or `timeout_ms` passed (-1: forever); returns the state. */
int vm_wait_state(struct vm *vm, int seen, int timeout_ms);
/** The process exit status the VM ended with: the power-off request's status, or 1 after a fatal
 * error (its message in vm_failure()). */
int vm_exit_status(struct vm *vm);
/** The one-line description of the fatal error that stopped the VM, or NULL. */
const char *vm_failure(struct vm *vm);
/** Stops the VM because of a fatal host-side error (e.g. the engine failed); records `msg`. */
void vm_fail(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** The VM's managers and facts, for PDM and the engine. */
struct pgm *vm_pgm(struct vm *vm);
struct tm_mgr *vm_tm(struct vm *vm);
struct fw_files *vm_fw_files(struct vm *vm);
int vm_query(struct vm *vm, enum modvm_vm_fact fact, uint64_t *out);
/** Drives an interrupt line (MODVM_IRQ_LOW/HIGH/PULSE) / sends an MSI. */
int vm_irq_set(struct vm *vm, uint32_t gsi, int level);
int vm_msi_send(struct vm *vm, uint64_t address, uint32_t data);
/** Claims the legacy shadow window for `dev` (the chipset that switches it, modvm/shadow.h): true
 * when `dev` is, or now becomes, its only controller. */
bool vm_claim_shadow(struct vm *vm, const void *dev);
/** Verbosity of `modvm run -v` (0 = errors and warnings only). */
int vm_verbosity(struct vm *vm);

#endif
