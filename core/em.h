/* core/em.h — EM, the execution manager: one thread per vCPU running the engine (HM on KVM), and the
 * protocol that stops every vCPU before the VM changes state (pause, reset, power off). */
#ifndef MODVM_CORE_EM_H
#define MODVM_CORE_EM_H

struct em;
struct hm;
struct vm;

/** Creates the vCPU threads' manager (threads start in em_start). */
int em_create(struct vm *vm, struct hm *hm, unsigned ncpus, struct em **out);
/** Starts one thread per vCPU, running. */
int em_start(struct em *em);
/** Makes every vCPU leave the guest and park as soon as it can, without waiting (safe from a vCPU
 * thread: a device asking for power-off stops its own vCPU before the next guest instruction). */
void em_request_pause(struct em *em);
/** Stops every vCPU and returns once all of them are parked outside the guest. */
void em_pause(struct em *em);
/** Lets parked vCPUs run again. */
void em_resume(struct em *em);
/** Ends and joins the vCPU threads, frees EM. */
void em_destroy(struct em *em);

#endif
