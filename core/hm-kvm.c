/* core/hm-kvm.c — HM on KVM: sets the VM up through kmod/ (the only code with KVM ioctls) and handles
 * each vCPU exit. Port I/O and MMIO go to PGM; everything interrupt-related (PIC, IOAPIC, LAPIC, PIT)
 * is KVM's in-kernel model, so most timer and IPI traffic never leaves the kernel. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../kmod/kvm.h"
#include "err.h"
#include "hm.h"
#include "pgm.h"

struct hm {
    struct kmod_kvm *kvm;
    struct pgm *pgm;
    unsigned ncpus;
    struct kmod_vcpu **vcpus;
};

/* PGM memory listener: maps RAM/ROM regions into KVM memory slots. */
static int hm_mem_listener(void *ctx, const struct pgm_mem_region *r, bool added)
{
    struct hm *hm = ctx;
    int rc = kmod_kvm_set_memory(hm->kvm, r->slot, r->gpa, added ? r->size : 0, r->hva, r->readonly);
    if (rc < 0)
        modvm_err_set(rc, "KVM refused guest memory at 0x%llx (%llu MiB): %s", (unsigned long long)r->gpa,
                      (unsigned long long)(r->size >> 20), strerror(-rc));
    return rc;
}

int hm_create(struct pgm *pgm, unsigned ncpus, struct hm **out)
{
    struct hm *hm = calloc(1, sizeof(*hm));
    if (!hm || !(hm->vcpus = calloc(ncpus, sizeof(*hm->vcpus)))) {
        free(hm);
        return -ENOMEM;
    }
    hm->pgm = pgm;
    char err[256];
    int rc = kmod_kvm_open(&hm->kvm, err, sizeof(err));
    if (rc < 0) {
        free(hm->vcpus);
        free(hm);
        return modvm_err_set(rc, "%s", err);
    }
    rc = kmod_kvm_create_irqchip(hm->kvm);
    if (rc == 0)
        rc = kmod_kvm_create_pit(hm->kvm);
    if (rc < 0)
        modvm_err_set(rc, "KVM cannot create the in-kernel interrupt controllers and PIT: %s (see 'modvm "
                          "doctor')", strerror(-rc));
    if (rc == 0)
        rc = pgm_set_mem_listener(pgm, hm_mem_listener, hm);
    for (unsigned i = 0; i < ncpus && rc == 0; i++) {
        rc = kmod_vcpu_create(hm->kvm, i, ncpus, &hm->vcpus[i]);
        if (rc < 0)
            modvm_err_set(rc, "KVM cannot create vCPU %u of %u: %s (see 'modvm doctor' for the limits)", i,
                          ncpus, strerror(-rc));
        hm->ncpus = i + (rc == 0);
    }
    if (rc < 0) {
        hm_destroy(hm);
        return rc;
    }
    *out = hm;
    return 0;
}

void hm_destroy(struct hm *hm)
{
    if (!hm)
        return;
    if (hm->pgm)
        pgm_set_mem_listener(hm->pgm, NULL, NULL);
    for (unsigned i = 0; i < hm->ncpus; i++)
        kmod_vcpu_destroy(hm->vcpus[i]);
    kmod_kvm_close(hm->kvm);
    free(hm->vcpus);
    free(hm);
}

/* Converts the loader's boot state to kmod's. */
static struct kmod_cpu_state hm_cpu_state(const struct boot_state *b)
{
    static const enum kmod_cpu_mode modes[] = {
        [BOOT_MODE_RESET] = KMOD_CPU_RESET, [BOOT_MODE_REAL] = KMOD_CPU_REAL, [BOOT_MODE_PROT32] = KMOD_CPU_PROT32,
        [BOOT_MODE_LONG64] = KMOD_CPU_LONG64};
    return (struct kmod_cpu_state){.mode = modes[b->mode], .cs_selector = b->cs_selector, .rip = b->rip,
                                   .rsp = b->rsp, .rax = b->rax, .rbx = b->rbx, .rcx = b->rcx, .rdx = b->rdx,
                                   .rsi = b->rsi, .rdi = b->rdi, .rbp = b->rbp, .cr3 = b->cr3,
                                   .gdt_base = b->gdt_base, .gdt_limit = b->gdt_limit};
}

int hm_reset(struct hm *hm, const struct boot_state *bsp)
{
    int rc = kmod_kvm_reset_irqchip(hm->kvm);
    for (unsigned i = 0; i < hm->ncpus && rc == 0; i++)
        rc = kmod_vcpu_reset(hm->vcpus[i], i == 0);
    struct kmod_cpu_state st = hm_cpu_state(bsp);
    if (rc == 0)
        rc = kmod_vcpu_set_state(hm->vcpus[0], &st);
    if (rc < 0)
        modvm_err_set(rc, "KVM refused the reset CPU state: %s", strerror(-rc));
    return rc;
}

/* Port I/O exit: each repetition (rep ins/outs) is one access of `size` bytes. */
static void hm_handle_io(struct hm *hm, struct kmod_exit *e)
{
    for (uint32_t i = 0; i < e->count; i++) {
        uint8_t *p = e->data + (size_t)i * e->size;
        uint32_t v = 0;
        if (e->is_write) {
            memcpy(&v, p, e->size);
            pgm_pio_write(hm->pgm, e->port, e->size, v);
        } else {
            pgm_pio_read(hm->pgm, e->port, e->size, &v);
            memcpy(p, &v, e->size);
        }
    }
}

/* MMIO exit (little-endian data of 1-8 bytes). */
static void hm_handle_mmio(struct hm *hm, struct kmod_exit *e)
{
    uint64_t v = 0;
    if (e->is_write) {
        memcpy(&v, e->data, e->size);
        pgm_mmio_write(hm->pgm, e->gpa, e->size, v);
    } else {
        pgm_mmio_read(hm->pgm, e->gpa, e->size, &v);
        memcpy(e->data, &v, e->size);
    }
}

enum hm_event hm_vcpu_run(struct hm *hm, unsigned id)
{
    struct kmod_exit e;
    int rc = kmod_vcpu_run(hm->vcpus[id], &e);
    if (rc < 0) {
        modvm_err_set(rc, "vCPU %u: entering the guest failed: %s", id, strerror(-rc));
        return HM_EVENT_FAILED;
    }
    switch (e.kind) {
    case KMOD_EXIT_IO:
        hm_handle_io(hm, &e);
        return HM_EVENT_CONTINUE;
    case KMOD_EXIT_MMIO:
        if (e.size < 1 || e.size > 8)
            return HM_EVENT_CONTINUE;
        hm_handle_mmio(hm, &e);
        return HM_EVENT_CONTINUE;
    case KMOD_EXIT_INTR:
        return HM_EVENT_INTERRUPTED;
    case KMOD_EXIT_HLT:
        /* Only without an in-kernel LAPIC; with it KVM sleeps in the kernel. */
        return HM_EVENT_CONTINUE;
    case KMOD_EXIT_SHUTDOWN:
        return HM_EVENT_SHUTDOWN;
    case KMOD_EXIT_SYSTEM:
        return e.system_event == 3 ? (modvm_err_set(-EIO, "vCPU %u: the guest reported a crash", id),
                                      HM_EVENT_FAILED)
                                   : HM_EVENT_SHUTDOWN;
    case KMOD_EXIT_FAIL:
    default:
        modvm_err_set(-EIO, "vCPU %u: KVM cannot run the guest: %s", id, e.reason);
        return HM_EVENT_FAILED;
    }
}

void hm_vcpu_kick(struct hm *hm, unsigned id, bool on)
{
    kmod_vcpu_request_exit(hm->vcpus[id], on);
}

int hm_irq_set(struct hm *hm, uint32_t gsi, int level)
{
    return kmod_kvm_irq_line(hm->kvm, gsi, level);
}

int hm_msi_send(struct hm *hm, uint64_t address, uint32_t data)
{
    return kmod_kvm_signal_msi(hm->kvm, address, data);
}
