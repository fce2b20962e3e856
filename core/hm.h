/* core/hm.h — HM, hardware-assisted execution: the guest CPUs on KVM (through kmod/), the in-kernel
 * interrupt controllers and PIT, and the handling of each exit (port I/O and MMIO go to PGM).
 * EM (em.c) owns the vCPU threads and calls hm_vcpu_run in each. */
#ifndef MODVM_CORE_HM_H
#define MODVM_CORE_HM_H

#include <stdbool.h>
#include <stdint.h>

#include "loader/loader.h"

struct hm;
struct pgm;

/** What ended one hm_vcpu_run. */
enum hm_event {
    HM_EVENT_CONTINUE,    /* an exit was handled; run again */
    HM_EVENT_INTERRUPTED, /* kicked (hm_vcpu_kick) or a signal: EM checks its requests */
    HM_EVENT_SHUTDOWN,    /* triple fault or a guest shutdown request: the VM resets */
    HM_EVENT_FAILED,      /* the engine cannot go on; message in modvm_err_get() of the vCPU thread */
};

/** Opens KVM, creates the VM with in-kernel irqchip and PIT, maps PGM's memory and creates `ncpus`
 * vCPUs. On failure: a negative errno, message in modvm_err_get(). */
int hm_create(struct pgm *pgm, unsigned ncpus, struct hm **out);
void hm_destroy(struct hm *hm);
/** Resets interrupt controllers and every vCPU; the BSP gets `bsp`, APs wait for INIT/SIPI. All vCPUs
 * must be stopped. */
int hm_reset(struct hm *hm, const struct boot_state *bsp);
/** Runs vCPU `id` until one exit is handled (on that vCPU's thread). */
enum hm_event hm_vcpu_run(struct hm *hm, unsigned id);
/** Sets or clears vCPU `id`'s kick flag (with a signal to its thread, this makes hm_vcpu_run return
 * HM_EVENT_INTERRUPTED). */
void hm_vcpu_kick(struct hm *hm, unsigned id, bool on);
/** Interrupt lines and MSIs on the in-kernel irqchip. */
int hm_irq_set(struct hm *hm, uint32_t gsi, int level);
int hm_msi_send(struct hm *hm, uint64_t address, uint32_t data);

#endif
