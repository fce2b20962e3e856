/* kmod/kvm.h — the host-kernel interface to KVM. This is the only module that opens /dev/kvm and
 * issues KVM ioctls (DESIGN.md: kmod/ owns the host kernel). The rest of modvm sees decoded exits
 * and plain structs, never <linux/kvm.h>. */
#ifndef MODVM_KMOD_KVM_H
#define MODVM_KMOD_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kmod_kvm;  /* one VM: /dev/kvm fd + VM fd */
struct kmod_vcpu; /* one vCPU fd + its mmap'd run area */

/* Opens /dev/kvm and creates a VM. On failure returns a negative errno and writes one line to err
 * saying what failed and what to do (e.g. "cannot open /dev/kvm: Permission denied (add yourself to
 * the kvm group)"). Guest-physical [0xfffbc000, 0xfffc0000) is reserved for KVM's real-mode TSS and
 * identity-map pages (KVM_SET_TSS_ADDR, VMX hosts); keep RAM and ROM slots out of it. */
int kmod_kvm_open(struct kmod_kvm **out, char *err, size_t errlen);
void kmod_kvm_close(struct kmod_kvm *kvm);

/* Registers host memory [hva, hva+size) at guest-physical gpa in the given slot (size 0 deletes it). */
int kmod_kvm_set_memory(struct kmod_kvm *kvm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
                        bool readonly);
/* In-kernel PIC pair + IOAPIC + per-vCPU LAPIC, and the in-kernel PIT (KVM_CREATE_PIT2). Call before
 * creating vCPUs. */
int kmod_kvm_create_irqchip(struct kmod_kvm *kvm);
int kmod_kvm_create_pit(struct kmod_kvm *kvm);
/* Puts the in-kernel PIC pair, IOAPIC and PIT (those created above) back into their power-on state,
 * the state KVM gives them on creation: PICs all zero (IMR 0, ELCR 0, awaiting ICW1), every IOAPIC
 * redirection entry masked, PIT channels unprogrammed (count 0x10000, no IRQ 0 until the guest
 * programs channel 0; gate 1 on channels 0/1, 0 on the speaker channel 2; port 0x61 bits 0/1
 * clear). For a VM reset: stop every vCPU, call this, reset each vCPU with kmod_vcpu_reset, reset
 * the devices, resume. */
int kmod_kvm_reset_irqchip(struct kmod_kvm *kvm);

/* Drives GSI line `gsi` to `level` (0/1) on the in-kernel irqchip. */
int kmod_kvm_irq_line(struct kmod_kvm *kvm, uint32_t gsi, int level);
/* Injects an MSI (address/data as the device wrote them). */
int kmod_kvm_signal_msi(struct kmod_kvm *kvm, uint64_t address, uint32_t data);

/* Creates vCPU `id`, sets its CPUID from KVM's supported set (with this vCPU's APIC ID in leaves 1,
 * 0xB and 0x1F, and the hypervisor bit) for a VM of `ncpus` CPUs. */
int kmod_vcpu_create(struct kmod_kvm *kvm, uint32_t id, uint32_t ncpus, struct kmod_vcpu **out);
void kmod_vcpu_destroy(struct kmod_vcpu *vcpu);

/* Architectural entry state loaded into a vCPU. */
enum kmod_cpu_mode {
    KMOD_CPU_RESET,  /* power-on reset state: real mode, CS:IP = F000:FFF0 (CS base 0xFFFF0000),
                      * EDX = 0x600; the register fields of the struct are ignored */
    KMOD_CPU_REAL,   /* real mode, CS = cs_selector (base cs_selector*16), IP = rip */
    KMOD_CPU_PROT32, /* flat 32-bit protected mode (CS 0x10 code, DS..SS 0x18 data, base 0, limit 4G),
                      * paging off, interrupts off — the multiboot and PVH entry state. GDTR =
                      * gdt_base/gdt_limit when gdt_limit != 0, else base 0 limit 0 */
    KMOD_CPU_LONG64, /* 64-bit long mode, interrupts off — the Linux 64-bit boot protocol's entry state:
                      * CR0 = PE|ET|PG, CR4 = PAE, EFER = LME|LMA, CR3 = cr3 (the caller's page tables
                      * in guest RAM), GDTR = gdt_base/gdt_limit, CS 0x10 (64-bit code: L=1, D=0),
                      * DS/ES/FS/GS/SS 0x18 (flat data, base 0, limit 4G), TR a busy 64-bit TSS */
};
struct kmod_cpu_state {
    enum kmod_cpu_mode mode;
    uint16_t cs_selector; /* KMOD_CPU_REAL only */
    uint64_t rip, rsp;
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
    uint64_t cr3;         /* KMOD_CPU_LONG64 */
    uint64_t gdt_base;    /* KMOD_CPU_LONG64, KMOD_CPU_PROT32 (see there) */
    uint16_t gdt_limit;
};
int kmod_vcpu_set_state(struct kmod_vcpu *vcpu, const struct kmod_cpu_state *st);
/* Puts an AP in wait-for-SIPI (KVM_MP_STATE_INIT_RECEIVED semantics via the in-kernel LAPIC) or
 * makes it runnable. */
int kmod_vcpu_set_waiting_for_sipi(struct kmod_vcpu *vcpu, bool waiting);

/* Architectural RESET of one vCPU (Intel SDM vol. 3A §10.1, table 10-1): KMOD_CPU_RESET registers
 * (F000:FFF0, EDX 0x600), no pending exception/interrupt/NMI/SMI/INIT, out of SMM and of nested
 * VMX/SVM, x87/SSE/XSAVE state initial (FCW 0x37F, MXCSR 0x1F80, XCR0 1), DR6/DR7 0xFFFF0FF0/0x400,
 * EFER, SYSCALL/SYSENTER MSRs, KERNEL_GS_BASE, TSC_AUX zero, PAT at its reset value, the KVM
 * paravirtual MSRs (kvmclock, steal time, async PF, PV EOI) off; IA32_APIC_BASE 0xFEE00900 for the
 * BSP / 0xFEE00800 for an AP and, with the in-kernel irqchip, its LAPIC in the reset state (ID =
 * vCPU id, SVR 0xFF, LVTs masked — but the BSP's LINT0 is ExtINT as QEMU and KVM set it — TPR 0,
 * IRR/ISR/TMR clear, timer stopped). Then the BSP is runnable and an AP waits for SIPI. The vCPU
 * must not be in kmod_vcpu_run (call it from its own thread or while it is stopped). An AP without
 * the in-kernel irqchip gets everything but the wait-for-SIPI state and -ENOTSUP: KVM cannot hold
 * it, so the caller must not run it until it is started. */
int kmod_vcpu_reset(struct kmod_vcpu *vcpu, bool bsp);

/* One exit from the guest, decoded. */
enum kmod_exit_kind {
    KMOD_EXIT_IO,        /* port I/O: port, size, is_write, count, data */
    KMOD_EXIT_MMIO,      /* gpa, size (1-8), is_write, data */
    KMOD_EXIT_HLT,       /* guest halted with no in-kernel wakeup (only without in-kernel irqchip) */
    KMOD_EXIT_SHUTDOWN,  /* triple fault */
    KMOD_EXIT_INTR,      /* KVM_RUN interrupted by a signal / immediate_exit: check for requests */
    KMOD_EXIT_SYSTEM,    /* KVM_SYSTEM_EVENT (reset/shutdown requested) — system_event set */
    KMOD_EXIT_FAIL,      /* entry failure / internal error / unknown: reason holds a description */
};
struct kmod_exit {
    enum kmod_exit_kind kind;
    bool is_write;
    uint8_t size;     /* bytes per access: 1, 2, 4 (IO) or 1..8 (MMIO) */
    uint16_t port;
    uint32_t count;   /* IO: number of repetitions (rep ins/outs); data holds count*size bytes */
    uint64_t gpa;
    uint8_t *data;    /* points into the run area: for writes the bytes written; for reads fill it */
    uint32_t system_event; /* 1 shutdown, 2 reset, 3 crash */
    char reason[96];
};
/* Enters the guest until the next exit that userspace must handle. Returns 0 and fills *exit, or a
 * negative errno (not -EINTR: a signal yields KMOD_EXIT_INTR). Read data for an IO/MMIO read exit is
 * written to exit->data before the next call. */
int kmod_vcpu_run(struct kmod_vcpu *vcpu, struct kmod_exit *exit);
/* Makes the next (or the current, if a signal interrupts it) kmod_vcpu_run return KMOD_EXIT_INTR;
 * safe to call from any thread together with a signal sent to the vCPU thread. The request stays set
 * until the vCPU thread clears it with on = false after handling it.
 * Kicking a running guest: call kmod_vcpu_request_exit(vcpu, true), then pthread_kill() the vCPU
 * thread with a signal (e.g. SIGUSR1). The CALLER installs a no-op handler for that signal with
 * sigaction() and without SA_RESTART before the first kmod_vcpu_run; kmod never touches signal
 * dispositions. Without a handler the default action kills the process; with SIG_IGN the signal
 * never interrupts KVM_RUN. */
void kmod_vcpu_request_exit(struct kmod_vcpu *vcpu, bool on);

#endif
