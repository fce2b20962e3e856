/* kmod/kvm.c — the KVM backend of kmod/kvm.h: /dev/kvm, the VM fd, memory slots, the in-kernel
 * irqchip and PIT, vCPUs (CPUID, entry state, MP state) and the KVM_RUN exit decoder.
 * Follows the Linux KVM API (Documentation/virt/kvm/api.rst, API version 12) and, for the CPU entry
 * states, the Intel SDM vol. 3 §9.1 "Initialization overview" (reset values) and the multiboot v1
 * machine state. This is the only file in modvm that issues KVM ioctls. */
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define KVM_DEV_PATH "/dev/kvm"
#define KVM_API_WANTED 12
/* Three pages KVM's VMX code needs for real-mode emulation on hosts without unrestricted guest; the
 * identity-map page sits just below (KVM's default). Same place as other VMMs: below a 256 KiB BIOS. */
#define KVM_TSS_ADDR 0xfffbd000u

struct kmod_kvm {
    int sys_fd;                 /* /dev/kvm */
    int vm_fd;                  /* KVM_CREATE_VM */
    size_t run_size;            /* KVM_GET_VCPU_MMAP_SIZE */
    bool readonly_mem;          /* KVM_CAP_READONLY_MEM */
    bool immediate_exit;        /* KVM_CAP_IMMEDIATE_EXIT */
    bool has_irqchip;           /* kmod_kvm_create_irqchip succeeded */
    bool has_pit;               /* kmod_kvm_create_pit succeeded */
    struct kvm_cpuid2 *cpuid;   /* KVM_GET_SUPPORTED_CPUID, fetched once, patched per vCPU */
};

struct kmod_vcpu {
    struct kmod_kvm *kvm;
    uint32_t id;
    int fd;
    struct kvm_run *run;        /* mmap'd shared run area */
    size_t run_size;
    volatile int exit_requested; /* fallback when KVM lacks immediate_exit */
};

/* ---- small helpers ----------------------------------------------------------------------------- */

static void kvm_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ioctl that retries on EINTR and returns 0/positive or a negative errno. */
static int kvm_ioctl(int fd, unsigned long req, void *arg)
{
    int rc;
    do {
        rc = ioctl(fd, req, arg);
    } while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : rc;
}

static int kvm_check_cap(int fd, long cap)
{
    int rc = ioctl(fd, KVM_CHECK_EXTENSION, cap);
    return rc < 0 ? 0 : rc;
}

/* ---- opening /dev/kvm and the VM ------------------------------------------------------------- */

static int kvm_open_dev(int *fd, char *err, size_t errlen)
{
    *fd = open(KVM_DEV_PATH, O_RDWR | O_CLOEXEC);
    if (*fd >= 0)
        return 0;
    int e = errno;
    switch (e) {
    case ENOENT:
        kvm_seterr(err, errlen, "/dev/kvm does not exist (load kvm_intel or kvm_amd, or use a host "
                                "with virtualization enabled)");
        break;
    case EACCES:
    case EPERM:
        kvm_seterr(err, errlen, "cannot open /dev/kvm: %s (add your user to the 'kvm' group or "
                                "install modvm's udev rule)", strerror(e));
        break;
    case ENXIO:
    case ENODEV:
        kvm_seterr(err, errlen, "cannot open /dev/kvm: %s (the node exists but no KVM module is "
                                "loaded: load kvm_intel or kvm_amd)", strerror(e));
        break;
    default:
        kvm_seterr(err, errlen, "cannot open /dev/kvm: %s (run 'modvm doctor')", strerror(e));
        break;
    }
    return -e;
}

static int kvm_check_api(int fd, char *err, size_t errlen)
{
    int v = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (v == KVM_API_WANTED)
        return 0;
    if (v < 0)
        kvm_seterr(err, errlen, "/dev/kvm does not answer KVM_GET_API_VERSION: %s (is it really "
                                "the KVM device? run 'modvm doctor')", strerror(errno));
    else
        kvm_seterr(err, errlen, "/dev/kvm speaks KVM API version %d, modvm needs %d (use a newer "
                                "host kernel)", v, KVM_API_WANTED);
    return -ENOTSUP;
}

static int kvm_create_vm(struct kmod_kvm *kvm, char *err, size_t errlen)
{
    int rc = kvm_ioctl(kvm->sys_fd, KVM_CREATE_VM, (void *)0);
    if (rc >= 0) {
        kvm->vm_fd = rc;
        return 0;
    }
    if (rc == -EBUSY)
        kvm_seterr(err, errlen, "KVM_CREATE_VM failed: %s (another hypervisor such as VirtualBox or "
                                "VMware may own VT-x/AMD-V; unload it or run 'modvm doctor')",
                   strerror(-rc));
    else
        kvm_seterr(err, errlen, "KVM_CREATE_VM failed: %s (run 'modvm doctor')", strerror(-rc));
    return rc;
}

static int kvm_query_limits(struct kmod_kvm *kvm, char *err, size_t errlen)
{
    if (!kvm_check_cap(kvm->sys_fd, KVM_CAP_USER_MEMORY)) {
        kvm_seterr(err, errlen, "KVM lacks KVM_CAP_USER_MEMORY (host kernel too old)");
        return -ENOTSUP;
    }
    int sz = ioctl(kvm->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz < (int)sizeof(struct kvm_run)) {
        kvm_seterr(err, errlen, "KVM_GET_VCPU_MMAP_SIZE failed: %s",
                   sz < 0 ? strerror(errno) : "size too small");
        return sz < 0 ? -errno : -EINVAL;
    }
    kvm->run_size = (size_t)sz;
    kvm->readonly_mem = kvm_check_cap(kvm->sys_fd, KVM_CAP_READONLY_MEM) > 0;
    kvm->immediate_exit = kvm_check_cap(kvm->sys_fd, KVM_CAP_IMMEDIATE_EXIT) > 0;
    return 0;
}

/* Only matters on VMX hosts without unrestricted guest; harmless elsewhere, so failures are ignored. */
static void kvm_set_tss_addr(struct kmod_kvm *kvm)
{
    if (kvm_check_cap(kvm->sys_fd, KVM_CAP_SET_TSS_ADDR))
        (void)ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR);
}

/* Opens /dev/kvm, checks the API version and creates a VM (see kvm.h). */
int kmod_kvm_open(struct kmod_kvm **out, char *err, size_t errlen)
{
    *out = NULL;
    struct kmod_kvm *kvm = calloc(1, sizeof(*kvm));
    if (!kvm) {
        kvm_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    kvm->sys_fd = kvm->vm_fd = -1;
    int rc = kvm_open_dev(&kvm->sys_fd, err, errlen);
    if (!rc)
        rc = kvm_check_api(kvm->sys_fd, err, errlen);
    if (!rc)
        rc = kvm_query_limits(kvm, err, errlen);
    if (!rc)
        rc = kvm_create_vm(kvm, err, errlen);
    if (rc) {
        kmod_kvm_close(kvm);
        return rc;
    }
    kvm_set_tss_addr(kvm);
    *out = kvm;
    return 0;
}

/* Closes the VM and /dev/kvm; all vCPUs must be destroyed first. */
void kmod_kvm_close(struct kmod_kvm *kvm)
{
    if (!kvm)
        return;
    if (kvm->vm_fd >= 0)
        close(kvm->vm_fd);
    if (kvm->sys_fd >= 0)
        close(kvm->sys_fd);
    free(kvm->cpuid);
    free(kvm);
}

/* ---- memory and interrupts -------------------------------------------------------------------- */

/* Adds, replaces or (size 0) deletes a guest-physical memory slot. */
int kmod_kvm_set_memory(struct kmod_kvm *kvm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
                        bool readonly)
{
    if (readonly && !kvm->readonly_mem)
        return -ENOTSUP;
    struct kvm_userspace_memory_region r = {
        .slot = slot,
        .flags = readonly ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = size ? (uint64_t)(uintptr_t)hva : 0,
    };
    int rc = kvm_ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
    return rc < 0 ? rc : 0;
}

/* Creates the in-kernel PIC pair, IOAPIC and LAPICs. */
int kmod_kvm_create_irqchip(struct kmod_kvm *kvm)
{
    int rc = kvm_ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP, (void *)0);
    if (rc < 0)
        return rc;
    kvm->has_irqchip = true;
    return 0;
}

/* Creates the in-kernel i8254 PIT with the speaker port (0x61). */
int kmod_kvm_create_pit(struct kmod_kvm *kvm)
{
    /* The speaker port 0x61 (PIT channel 2 gate and output) in the kernel too: Linux calibrates the
     * TSC with it. Without this flag KVM leaves port 0x61 to userspace. */
    struct kvm_pit_config cfg = { .flags = KVM_PIT_SPEAKER_DUMMY };
    int rc = kvm_ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &cfg);
    if (rc < 0)
        return rc;
    kvm->has_pit = true;
    return 0;
}

/* Sets a GSI line level on the in-kernel irqchip. */
int kmod_kvm_irq_line(struct kmod_kvm *kvm, uint32_t gsi, int level)
{
    struct kvm_irq_level l = { .irq = gsi, .level = level ? 1 : 0 };
    int rc = kvm_ioctl(kvm->vm_fd, KVM_IRQ_LINE, &l);
    return rc < 0 ? rc : 0;
}

/* Injects one MSI; KVM returns 0 when the interrupt was blocked, which is not an error here. */
int kmod_kvm_signal_msi(struct kmod_kvm *kvm, uint64_t address, uint32_t data)
{
    struct kvm_msi msi = {
        .address_lo = (uint32_t)address,
        .address_hi = (uint32_t)(address >> 32),
        .data = data,
    };
    int rc = kvm_ioctl(kvm->vm_fd, KVM_SIGNAL_MSI, &msi);
    return rc < 0 ? rc : 0;
}

/* ---- CPUID ------------------------------------------------------------------------------------ */
/* The guest sees one package of `ncpus` cores, one thread per core, APIC ID = vCPU id: leaves 1, 4,
 * 0xB/0x1F (and AMD's 0x80000008) are made to agree on that (Intel SDM vol. 2A, CPUID; AMD APM vol. 3). */

#define CPUID_VENDOR_AMD_EBX 0x68747541u /* "Auth" of "AuthenticAMD" */
#define CPUID_TOPO_LEVELS 3              /* SMT, core, then the terminating invalid level */

/* Fetches KVM_GET_SUPPORTED_CPUID once per VM, growing the buffer while KVM says E2BIG. */
static int cpuid_fetch_supported(struct kmod_kvm *kvm)
{
    if (kvm->cpuid)
        return 0;
    for (uint32_t n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        if (!c)
            return -ENOMEM;
        c->nent = n;
        int rc = kvm_ioctl(kvm->sys_fd, KVM_GET_SUPPORTED_CPUID, c);
        if (rc >= 0) {
            kvm->cpuid = c;
            return 0;
        }
        free(c);
        if (rc != -E2BIG)
            return rc;
    }
    return -E2BIG;
}

static unsigned cpuid_log2_ceil(uint32_t n)
{
    unsigned s = 0;
    while (s < 31 && (1u << s) < n)
        s++;
    return s;
}

static const struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *c, uint32_t fn)
{
    for (uint32_t i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn && c->entries[i].index == 0)
            return &c->entries[i];
    return NULL;
}

/* Leaf 1: initial APIC ID, logical processor count, HTT when >1, hypervisor present. */
static void cpuid_patch_leaf1(struct kvm_cpuid_entry2 *e, uint32_t id, uint32_t ncpus)
{
    uint32_t count = ncpus > 255 ? 255 : ncpus;
    e->ebx = (e->ebx & 0x0000ffffu) | ((id & 0xffu) << 24) | (count << 16);
    if (ncpus > 1)
        e->edx |= 1u << 28;
    e->ecx |= 1u << 31;
}

/* Leaf 4: EAX[31:26] = cores per package - 1; EAX[25:14] = threads sharing the cache - 1, which is
 * 0 for per-core L1/L2 and all CPUs for the L3. */
static void cpuid_patch_leaf4(struct kvm_cpuid_entry2 *e, uint32_t ncpus)
{
    if ((e->eax & 0x1fu) == 0) /* no cache at this subleaf */
        return;
    uint32_t cores = ncpus > 64 ? 64 : ncpus;
    uint32_t level = (e->eax >> 5) & 7u;
    uint32_t sharing = level >= 3 ? (ncpus > 4096 ? 4096 : ncpus) : 1;
    e->eax = (e->eax & 0x00003fffu) | ((cores - 1) << 26) | ((sharing - 1) << 14);
}

/* AMD 0x80000008 ECX: NC = cores - 1 (bits 7:0), ApicIdCoreIdSize (bits 15:12). */
static void cpuid_patch_amd_cores(struct kvm_cpuid_entry2 *e, uint32_t ncpus)
{
    uint32_t nc = ncpus > 256 ? 255 : ncpus - 1;
    e->ecx = (e->ecx & ~0xf0ffu) | (cpuid_log2_ceil(ncpus) << 12) | nc;
}

/* One level of leaf 0xB/0x1F: SMT (1 thread), core (ncpus), then an invalid terminator. */
static struct kvm_cpuid_entry2 cpuid_topology_level(uint32_t fn, uint32_t level, uint32_t id,
                                                   uint32_t ncpus)
{
    struct kvm_cpuid_entry2 e = {
        .function = fn, .index = level, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .edx = id,
        .ecx = level & 0xffu,
    };
    if (level == 0) {
        e.ebx = 1;
        e.ecx |= 1u << 8;
    } else if (level == 1) {
        e.eax = cpuid_log2_ceil(ncpus);
        e.ebx = ncpus & 0xffffu;
        e.ecx |= 2u << 8;
    }
    return e;
}

/* Builds this vCPU's table: the supported set minus KVM's 0xB/0x1F entries, patched, plus our own
 * 0xB/0x1F levels when the maximum basic leaf reaches them. */
static struct kvm_cpuid2 *cpuid_build(const struct kvm_cpuid2 *src, uint32_t id, uint32_t ncpus)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (src->nent + 2 * CPUID_TOPO_LEVELS) *
                                                      sizeof(c->entries[0]));
    if (!c)
        return NULL;
    const struct kvm_cpuid_entry2 *l0 = cpuid_find(src, 0);
    uint32_t max_basic = l0 ? l0->eax : 0;
    bool amd = l0 && l0->ebx == CPUID_VENDOR_AMD_EBX;
    for (uint32_t i = 0; i < src->nent; i++) {
        struct kvm_cpuid_entry2 e = src->entries[i];
        if (e.function == 0xb || e.function == 0x1f)
            continue;
        if (e.function == 1)
            cpuid_patch_leaf1(&e, id, ncpus);
        else if (e.function == 4)
            cpuid_patch_leaf4(&e, ncpus);
        else if (e.function == 0x80000008 && amd)
            cpuid_patch_amd_cores(&e, ncpus);
        c->entries[c->nent++] = e;
    }
    for (uint32_t lv = 0; lv < CPUID_TOPO_LEVELS; lv++) {
        if (max_basic >= 0xb)
            c->entries[c->nent++] = cpuid_topology_level(0xb, lv, id, ncpus);
        if (max_basic >= 0x1f)
            c->entries[c->nent++] = cpuid_topology_level(0x1f, lv, id, ncpus);
    }
    return c;
}

/* Loads the VM's supported CPUID, made specific to this vCPU, with KVM_SET_CPUID2. */
static int vcpu_set_cpuid(struct kmod_vcpu *vcpu, uint32_t ncpus)
{
    int rc = cpuid_fetch_supported(vcpu->kvm);
    if (rc)
        return rc;
    struct kvm_cpuid2 *c = cpuid_build(vcpu->kvm->cpuid, vcpu->id, ncpus);
    if (!c)
        return -ENOMEM;
    rc = kvm_ioctl(vcpu->fd, KVM_SET_CPUID2, c);
    free(c);
    return rc < 0 ? rc : 0;
}

/* ---- vCPUs ------------------------------------------------------------------------------------ */

/* Creates vCPU `id` with its run area mapped and its CPUID set (see kvm.h). */
int kmod_vcpu_create(struct kmod_kvm *kvm, uint32_t id, uint32_t ncpus, struct kmod_vcpu **out)
{
    *out = NULL;
    if (ncpus == 0 || id >= ncpus)
        return -EINVAL;
    struct kmod_vcpu *vcpu = calloc(1, sizeof(*vcpu));
    if (!vcpu)
        return -ENOMEM;
    vcpu->kvm = kvm;
    vcpu->id = id;
    vcpu->run = MAP_FAILED;
    vcpu->run_size = kvm->run_size;
    int rc = kvm_ioctl(kvm->vm_fd, KVM_CREATE_VCPU, (void *)(uintptr_t)id);
    vcpu->fd = rc;
    if (rc >= 0) {
        vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
        rc = vcpu->run == MAP_FAILED ? -errno : 0;
    }
    if (!rc)
        rc = vcpu_set_cpuid(vcpu, ncpus);
    if (rc) {
        kmod_vcpu_destroy(vcpu);
        return rc;
    }
    *out = vcpu;
    return 0;
}

/* Unmaps the run area and closes the vCPU fd. */
void kmod_vcpu_destroy(struct kmod_vcpu *vcpu)
{
    if (!vcpu)
        return;
    if (vcpu->run != MAP_FAILED)
        munmap(vcpu->run, vcpu->run_size);
    if (vcpu->fd >= 0)
        close(vcpu->fd);
    free(vcpu);
}

/* ---- entry state ------------------------------------------------------------------------------ */

static struct kvm_segment seg_make(uint16_t sel, uint64_t base, uint32_t limit, uint8_t type,
                                   bool db, bool g)
{
    return (struct kvm_segment){
        .base = base, .limit = limit, .selector = sel, .type = type,
        .present = 1, .dpl = 0, .db = db, .s = 1, .l = 0, .g = g, .avl = 0, .unusable = 0,
    };
}

/* TR: a present busy 32-bit TSS (type 11), LDTR: a present LDT (type 2); VM entry checks both even
 * though no guest here uses them. */
static void seg_system(struct kvm_sregs *s, uint32_t tr_limit)
{
    s->tr = (struct kvm_segment){ .limit = tr_limit, .type = 11, .present = 1 };
    s->ldt = (struct kvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
}

/* Real mode: CS from the selector (or the reset alias), data segments base 0 limit 64 KiB. */
static void sregs_real(struct kvm_sregs *s, uint16_t cs_sel, uint64_t cs_base)
{
    s->cs = seg_make(cs_sel, cs_base, 0xffff, 0xb, false, false);
    s->ds = s->es = s->fs = s->gs = s->ss = seg_make(0, 0, 0xffff, 0x3, false, false);
    seg_system(s, 0xffff);
    s->gdt = (struct kvm_dtable){ .base = 0, .limit = 0xffff };
    s->idt = (struct kvm_dtable){ .base = 0, .limit = 0xffff };
    s->cr0 = 0x60000010; /* CD | NW | ET, the reset value */
}

/* Flat 32-bit protected mode, paging off (multiboot v1 and PVH machine state). */
static void sregs_prot32(struct kvm_sregs *s, const struct kmod_cpu_state *st)
{
    s->cs = seg_make(0x10, 0, 0xffffffffu, 0xb, true, true);
    s->ds = s->es = s->fs = s->gs = s->ss = seg_make(0x18, 0, 0xffffffffu, 0x3, true, true);
    seg_system(s, 0x67);
    s->gdt = (struct kvm_dtable){ .base = st->gdt_limit ? st->gdt_base : 0, .limit = st->gdt_limit };
    s->idt = (struct kvm_dtable){ .base = 0, .limit = 0 };
    s->cr0 = 0x11; /* PE | ET */
}

/* 64-bit long mode with the caller's page tables and GDT (Linux 64-bit boot protocol). */
static void sregs_long64(struct kvm_sregs *s, const struct kmod_cpu_state *st)
{
    s->cs = seg_make(0x10, 0, 0xffffffffu, 0xb, false, true);
    s->cs.l = 1; /* 64-bit code segment: L=1 requires D=0 */
    s->ds = s->es = s->fs = s->gs = s->ss = seg_make(0x18, 0, 0xffffffffu, 0x3, true, true);
    seg_system(s, 0x67); /* type 11: in IA-32e mode a busy 64-bit TSS */
    s->gdt = (struct kvm_dtable){ .base = st->gdt_base, .limit = st->gdt_limit };
    s->idt = (struct kvm_dtable){ .base = 0, .limit = 0 };
    s->cr0 = 0x80000011; /* PG | ET | PE */
    s->cr3 = st->cr3;
    s->cr4 = 0x20;       /* PAE */
    s->efer = 0x500;     /* LMA | LME */
}

static int vcpu_load_sregs(struct kmod_vcpu *vcpu, const struct kmod_cpu_state *st)
{
    struct kvm_sregs s;
    int rc = kvm_ioctl(vcpu->fd, KVM_GET_SREGS, &s);
    if (rc < 0)
        return rc;
    s.cr2 = s.cr3 = s.cr4 = s.cr8 = 0;
    s.efer = 0;
    switch (st->mode) {
    case KMOD_CPU_RESET:
        sregs_real(&s, 0xf000, 0xffff0000u);
        break;
    case KMOD_CPU_REAL:
        sregs_real(&s, st->cs_selector, (uint64_t)st->cs_selector << 4);
        break;
    case KMOD_CPU_PROT32:
        sregs_prot32(&s, st);
        break;
    case KMOD_CPU_LONG64:
        sregs_long64(&s, st);
        break;
    default:
        return -EINVAL;
    }
    memset(s.interrupt_bitmap, 0, sizeof(s.interrupt_bitmap));
    rc = kvm_ioctl(vcpu->fd, KVM_SET_SREGS, &s);
    return rc < 0 ? rc : 0;
}

static int vcpu_load_regs(struct kmod_vcpu *vcpu, const struct kmod_cpu_state *st)
{
    struct kvm_regs r = { .rflags = 0x2 };
    if (st->mode == KMOD_CPU_RESET) {
        r.rip = 0xfff0;
        r.rdx = 0x600; /* processor signature: family 6 */
    } else {
        r.rip = st->rip;
        r.rsp = st->rsp;
        r.rax = st->rax;
        r.rbx = st->rbx;
        r.rcx = st->rcx;
        r.rdx = st->rdx;
        r.rsi = st->rsi;
        r.rdi = st->rdi;
        r.rbp = st->rbp;
    }
    int rc = kvm_ioctl(vcpu->fd, KVM_SET_REGS, &r);
    return rc < 0 ? rc : 0;
}

/* x87/SSE reset values (FCW 0x37F, MXCSR 0x1F80, empty tag word) so a re-reset vCPU starts clean. */
static int vcpu_reset_fpu(struct kmod_vcpu *vcpu)
{
    struct kvm_fpu f = { .fcw = 0x37f, .mxcsr = 0x1f80 };
    int rc = kvm_ioctl(vcpu->fd, KVM_SET_FPU, &f);
    return rc < 0 ? rc : 0;
}

/* Loads an architectural entry state (see enum kmod_cpu_mode). */
int kmod_vcpu_set_state(struct kmod_vcpu *vcpu, const struct kmod_cpu_state *st)
{
    int rc = vcpu_load_sregs(vcpu, st);
    if (!rc)
        rc = vcpu_load_regs(vcpu, st);
    if (!rc)
        rc = vcpu_reset_fpu(vcpu);
    return rc;
}

/* Wait-for-SIPI (INIT received) or runnable, through the in-kernel LAPIC. */
int kmod_vcpu_set_waiting_for_sipi(struct kmod_vcpu *vcpu, bool waiting)
{
    struct kvm_mp_state mp = {
        .mp_state = waiting ? KVM_MP_STATE_INIT_RECEIVED : KVM_MP_STATE_RUNNABLE,
    };
    int rc = kvm_ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp);
    return rc < 0 ? rc : 0;
}

/* ---- reset ------------------------------------------------------------------------------------ */
/* Power-on state of the in-kernel chips. The values are the ones KVM gives a freshly created irqchip
 * and PIT, so a machine after reset is indistinguishable from a cold-booted one:
 *  - 8259A pair (KVM's kvm_create_pic; QEMU's kvm_pic_reset/pic_reset_common agree): every field 0 —
 *    IMR 0, IRR/ISR 0, no ICW sequence seen, ELCR 0 (the PIIX ELCR resets to 0) — except elcr_mask,
 *    which describes which lines the chipset lets be level-triggered and is kept as KVM reports it.
 *  - IOAPIC (KVM's kvm_ioapic_reset; QEMU's ioapic_reset_common): ID 0, IOREGSEL 0, IRR 0, base
 *    0xFEC00000, every redirection entry 0x10000 (bit 16 masked, everything else 0).
 *  - 8254 PIT (KVM's kvm_pit_reset): count 0x10000 (what a written 0 means), gate 1 on channels 0/1
 *    and 0 on the speaker channel 2, latches and read/write sequencing idle, flags 0 (no HPET legacy
 *    replacement, speaker data off). Gate 2 and speaker data are port 0x61 bits 0 and 1, which the
 *    in-kernel speaker port (KVM_PIT_SPEAKER_DUMMY) keeps here, so this is port 0x61's reset too;
 *    mode 0xff = "never programmed": channel 0 raises no IRQ 0 until the guest writes a control word.
 *    QEMU's pit_reset_common loads mode 3 instead, which starts an 18.2 Hz IRQ 0 right after reset;
 *    the 82C54 data sheet calls the power-up mode undefined and firmware always programs the PIT, so
 *    modvm keeps KVM's cold value and reset == cold boot. */

#define IOAPIC_DEFAULT_BASE 0xfec00000u
#define IOAPIC_RTE_MASKED (1ull << 16)
#define PIT_RESET_COUNT 0x10000u
#define PIT_MODE_UNPROGRAMMED 0xffu

static int irqchip_reset_pit(struct kmod_kvm *kvm)
{
    struct kvm_pit_state2 ps;
    memset(&ps, 0, sizeof(ps));
    for (int i = 0; i < 3; i++) {
        ps.channels[i].count = PIT_RESET_COUNT;
        ps.channels[i].mode = PIT_MODE_UNPROGRAMMED;
        ps.channels[i].gate = i != 2;
    }
    int rc = kvm_ioctl(kvm->vm_fd, KVM_SET_PIT2, &ps);
    return rc < 0 ? rc : 0;
}

static int irqchip_reset_chip(struct kmod_kvm *kvm, uint32_t chip_id)
{
    struct kvm_irqchip c;
    memset(&c, 0, sizeof(c));
    c.chip_id = chip_id;
    int rc = kvm_ioctl(kvm->vm_fd, KVM_GET_IRQCHIP, &c);
    if (rc < 0)
        return rc;
    if (chip_id == KVM_IRQCHIP_IOAPIC) {
        struct kvm_ioapic_state *io = &c.chip.ioapic;
        memset(io, 0, sizeof(*io));
        io->base_address = IOAPIC_DEFAULT_BASE;
        for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
            io->redirtbl[i].bits = IOAPIC_RTE_MASKED;
    } else {
        uint8_t elcr_mask = c.chip.pic.elcr_mask;
        memset(&c.chip.pic, 0, sizeof(c.chip.pic));
        c.chip.pic.elcr_mask = elcr_mask;
    }
    rc = kvm_ioctl(kvm->vm_fd, KVM_SET_IRQCHIP, &c);
    return rc < 0 ? rc : 0;
}

/* Puts the in-kernel PIT, PIC pair and IOAPIC (those that were created) into their power-on state.
 * The PIT goes first so that its timer cannot latch an IRQ 0 into a PIC that was already reset. */
int kmod_kvm_reset_irqchip(struct kmod_kvm *kvm)
{
    int rc = 0;
    if (kvm->has_pit)
        rc = irqchip_reset_pit(kvm);
    if (!rc && kvm->has_irqchip)
        rc = irqchip_reset_chip(kvm, KVM_IRQCHIP_PIC_MASTER);
    if (!rc && kvm->has_irqchip)
        rc = irqchip_reset_chip(kvm, KVM_IRQCHIP_PIC_SLAVE);
    if (!rc && kvm->has_irqchip)
        rc = irqchip_reset_chip(kvm, KVM_IRQCHIP_IOAPIC);
    return rc;
}

/* vCPU RESET (Intel SDM vol. 3A §10.1 table 10-1 "IA-32 and Intel 64 processor states following
 * power-up, reset, or INIT"; §11.4.7.1 "Local APIC state after power-up or reset"). */

#define MSR_IA32_APIC_BASE 0x1bu
#define APIC_BASE_DEFAULT 0xfee00000u
#define APIC_BASE_BSP (1u << 8)
#define APIC_BASE_ENABLE (1u << 11)

/* xAPIC register offsets in the KVM_GET/SET_LAPIC page. */
#define LAPIC_REG_ID 0x20
#define LAPIC_REG_VERSION 0x30
#define LAPIC_REG_DFR 0xe0
#define LAPIC_REG_SVR 0xf0
#define LAPIC_REG_LVT_CMCI 0x2f0
#define LAPIC_REG_LVT_FIRST 0x320 /* timer, thermal, perfmon, LINT0, LINT1, error: 0x320..0x370 */
#define LAPIC_REG_LVT_LINT0 0x350
#define LAPIC_LVT_CLASSIC 6       /* the six LVTs at LAPIC_REG_LVT_FIRST; a seventh is CMCI */
#define LAPIC_LVT_MASKED (1u << 16)
#define LAPIC_LVT_EXTINT (7u << 8)
#define LAPIC_SVR_RESET 0xffu

static uint32_t lapic_reg(const struct kvm_lapic_state *s, unsigned off)
{
    uint32_t v;
    memcpy(&v, s->regs + off, sizeof(v));
    return v;
}

static void lapic_set(struct kvm_lapic_state *s, unsigned off, uint32_t v)
{
    memcpy(s->regs + off, &v, sizeof(v));
}

/* The LAPIC page after RESET: APIC ID = vCPU id, the version KVM reports (it encodes how many LVTs
 * exist), DFR all ones, SVR 0xFF (software-disabled), every LVT masked, TPR/LDR/ESR/ICR/timer and
 * IRR/ISR/TMR all 0. The BSP's LINT0 is ExtINT, unmasked: QEMU's apic_reset_common and KVM's
 * KVM_X86_QUIRK_LINT0_REENABLED both do this, so the PIC reaches the BSP as on a cold boot. The
 * IA32_APIC_BASE MSR must already hold the xAPIC value, so the ID is read in xAPIC format. */
static int vcpu_reset_lapic(struct kmod_vcpu *vcpu, bool bsp)
{
    struct kvm_lapic_state s;
    int rc = kvm_ioctl(vcpu->fd, KVM_GET_LAPIC, &s);
    if (rc < 0)
        return rc;
    uint32_t version = lapic_reg(&s, LAPIC_REG_VERSION);
    unsigned nlvt = ((version >> 16) & 0xffu) + 1;
    memset(&s, 0, sizeof(s));
    lapic_set(&s, LAPIC_REG_ID, (vcpu->id & 0xffu) << 24);
    lapic_set(&s, LAPIC_REG_VERSION, version);
    lapic_set(&s, LAPIC_REG_DFR, 0xffffffffu);
    lapic_set(&s, LAPIC_REG_SVR, LAPIC_SVR_RESET);
    for (unsigned i = 0; i < nlvt && i < LAPIC_LVT_CLASSIC; i++)
        lapic_set(&s, LAPIC_REG_LVT_FIRST + 0x10 * i, LAPIC_LVT_MASKED);
    if (nlvt > LAPIC_LVT_CLASSIC)
        lapic_set(&s, LAPIC_REG_LVT_CMCI, LAPIC_LVT_MASKED);
    if (bsp)
        lapic_set(&s, LAPIC_REG_LVT_LINT0, LAPIC_LVT_EXTINT);
    rc = kvm_ioctl(vcpu->fd, KVM_SET_LAPIC, &s);
    return rc < 0 ? rc : 0;
}

/* MSRs a guest leaves behind that must not survive a reset. All are written; KVM_SET_MSRS stops at
 * the first MSR KVM refuses, and a refused one that is not `required` is skipped (e.g. MSR_KVM_*
 * on a kernel without that feature). KVM_GET_MSR_INDEX_LIST is no filter: it can leave out MSRs
 * KVM still holds state for (TSC_AUX when the host lacks RDTSCP). The paravirtual ones matter most:
 * left enabled, KVM keeps writing kvmclock, steal-time and async-PF data into guest memory that
 * the rebooted guest uses for something else. */
struct msr_reset {
    uint32_t index;
    uint64_t value;
    bool required;
};

static const struct msr_reset vcpu_msr_resets[] = {
    { 0xc0000080u, 0, true },                  /* IA32_EFER */
    { 0xc0000081u, 0, false },                 /* STAR */
    { 0xc0000082u, 0, false },                 /* LSTAR */
    { 0xc0000083u, 0, false },                 /* CSTAR */
    { 0xc0000084u, 0, false },                 /* SFMASK */
    { 0xc0000102u, 0, false },                 /* KERNEL_GS_BASE */
    { 0xc0000103u, 0, false },                 /* TSC_AUX */
    { 0x174u, 0, false },                      /* SYSENTER_CS */
    { 0x175u, 0, false },                      /* SYSENTER_ESP */
    { 0x176u, 0, false },                      /* SYSENTER_EIP */
    { 0x277u, 0x0007040600070406ull, false },  /* IA32_PAT, its power-on value */
    { 0x12u, 0, false },                       /* MSR_KVM_SYSTEM_TIME (kvmclock, old) */
    { 0x4b564d01u, 0, false },                 /* MSR_KVM_SYSTEM_TIME_NEW */
    { 0x4b564d02u, 0, false },                 /* MSR_KVM_ASYNC_PF_EN */
    { 0x4b564d06u, 0, false },                 /* MSR_KVM_ASYNC_PF_INT */
    { 0x4b564d03u, 0, false },                 /* MSR_KVM_STEAL_TIME */
    { 0x4b564d04u, 0, false },                 /* MSR_KVM_PV_EOI_EN */
    { 0x4b564d05u, 1, false },                 /* MSR_KVM_POLL_CONTROL: 1 = host polling on */
};

#define VCPU_RESET_NMSRS (1 + sizeof(vcpu_msr_resets) / sizeof(vcpu_msr_resets[0]))

/* Writes entries[0..n) with KVM_SET_MSRS, which stops at the first MSR KVM refuses: such an entry
 * is skipped unless it is required. */
static int vcpu_write_msrs(struct kmod_vcpu *vcpu, const struct kvm_msr_entry *entries,
                           const bool *required, uint32_t n)
{
    struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(m->entries[0]));
    if (!m)
        return -ENOMEM;
    uint32_t pos = 0;
    int rc = 0;
    while (pos < n) {
        m->nmsrs = n - pos;
        memcpy(m->entries, entries + pos, m->nmsrs * sizeof(m->entries[0]));
        rc = kvm_ioctl(vcpu->fd, KVM_SET_MSRS, m);
        if (rc < 0)
            break;
        pos += (uint32_t)rc;
        rc = 0;
        if (pos == n)
            break;
        if (required[pos]) {
            rc = -EINVAL;
            break;
        }
        pos++; /* refused and not required: skip it */
    }
    free(m);
    return rc;
}

static int vcpu_reset_msrs(struct kmod_vcpu *vcpu, bool bsp)
{
    struct kvm_msr_entry e[VCPU_RESET_NMSRS];
    bool required[VCPU_RESET_NMSRS];
    uint32_t n = 0;
    memset(e, 0, sizeof(e));
    e[n].index = MSR_IA32_APIC_BASE;
    e[n].data = APIC_BASE_DEFAULT | APIC_BASE_ENABLE | (bsp ? APIC_BASE_BSP : 0);
    required[n++] = true;
    for (size_t i = 0; i < VCPU_RESET_NMSRS - 1; i++) {
        const struct msr_reset *r = &vcpu_msr_resets[i];
        e[n].index = r->index;
        e[n].data = r->value;
        required[n++] = r->required;
    }
    return vcpu_write_msrs(vcpu, e, required, n);
}

/* Drops any pending or injected exception, interrupt, NMI, SMI, latched INIT and interrupt shadow,
 * leaves SMM, and clears the SIPI vector. */
static int vcpu_reset_events(struct kmod_vcpu *vcpu)
{
    struct kvm_vcpu_events ev;
    memset(&ev, 0, sizeof(ev));
    ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
               KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
    int rc = kvm_ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &ev);
    return rc < 0 ? rc : 0;
}

#define CPUID_VENDOR_HYGON_EBX 0x6f677948u /* "Hygo" of "HygonGenuine" */

/* Takes the vCPU out of VMX operation / SVM guest mode if the guest used nested virtualization (KVM
 * refuses a CR4 without VMXE while VMXON is in effect). Best effort: a kernel without nested state
 * support has no nested guest to leave, and a failure here surfaces in KVM_SET_SREGS anyway. */
static void vcpu_leave_nested(struct kmod_vcpu *vcpu)
{
    if (kvm_check_cap(vcpu->kvm->vm_fd, KVM_CAP_NESTED_STATE) <= 0 || !vcpu->kvm->cpuid)
        return;
    const struct kvm_cpuid_entry2 *l0 = cpuid_find(vcpu->kvm->cpuid, 0);
    bool svm = l0 && (l0->ebx == CPUID_VENDOR_AMD_EBX || l0->ebx == CPUID_VENDOR_HYGON_EBX);
    struct kvm_nested_state st;
    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    if (svm) {
        st.format = KVM_STATE_NESTED_FORMAT_SVM;
        st.flags = KVM_STATE_NESTED_GIF_SET; /* not in guest mode, GIF = 1 */
    } else {
        st.format = KVM_STATE_NESTED_FORMAT_VMX;
        st.hdr.vmx.vmxon_pa = ~0ull; /* no VMXON region: out of VMX operation */
        st.hdr.vmx.vmcs12_pa = ~0ull;
    }
    (void)kvm_ioctl(vcpu->fd, KVM_SET_NESTED_STATE, &st);
}

/* XCR0 = 1 (x87 only) and the whole XSAVE area in its initial state: x87 FCW 0x37F, MXCSR 0x1F80,
 * every register 0, XSTATE_BV = x87|SSE so AVX, AVX-512, PKRU... start from their init values. */
#define XSAVE_LEGACY_MXCSR 24
#define XSAVE_HEADER_XSTATE_BV 512
#define XSAVE_MIN_SIZE 4096

static int vcpu_reset_xstate(struct kmod_vcpu *vcpu)
{
    if (kvm_check_cap(vcpu->kvm->sys_fd, KVM_CAP_XCRS) > 0) {
        struct kvm_xcrs x;
        memset(&x, 0, sizeof(x));
        x.nr_xcrs = 1;
        x.xcrs[0].xcr = 0;
        x.xcrs[0].value = 1;
        int rc = kvm_ioctl(vcpu->fd, KVM_SET_XCRS, &x);
        if (rc < 0)
            return rc;
    }
    if (kvm_check_cap(vcpu->kvm->sys_fd, KVM_CAP_XSAVE) <= 0)
        return 0; /* KVM_SET_FPU in kmod_vcpu_set_state covered x87/SSE */
    int size = kvm_check_cap(vcpu->kvm->vm_fd, KVM_CAP_XSAVE2);
    size_t len = size > XSAVE_MIN_SIZE ? (size_t)size : XSAVE_MIN_SIZE;
    uint8_t *x = calloc(1, len);
    if (!x)
        return -ENOMEM;
    uint16_t fcw = 0x37f;
    uint32_t mxcsr = 0x1f80;
    uint64_t xstate_bv = 0x3;
    memcpy(x, &fcw, sizeof(fcw));
    memcpy(x + XSAVE_LEGACY_MXCSR, &mxcsr, sizeof(mxcsr));
    memcpy(x + XSAVE_HEADER_XSTATE_BV, &xstate_bv, sizeof(xstate_bv));
    int rc = kvm_ioctl(vcpu->fd, KVM_SET_XSAVE, x);
    free(x);
    return rc < 0 ? rc : 0;
}

/* DR0-DR3 0, DR6 0xFFFF0FF0, DR7 0x400: no hardware breakpoint survives into the firmware. */
static int vcpu_reset_debugregs(struct kmod_vcpu *vcpu)
{
    if (kvm_check_cap(vcpu->kvm->sys_fd, KVM_CAP_DEBUGREGS) <= 0)
        return 0;
    struct kvm_debugregs d;
    memset(&d, 0, sizeof(d));
    d.dr6 = 0xffff0ff0u;
    d.dr7 = 0x400u;
    int rc = kvm_ioctl(vcpu->fd, KVM_SET_DEBUGREGS, &d);
    return rc < 0 ? rc : 0;
}

/* Architectural RESET of one vCPU (see kvm.h). Events and nested state go first so that KVM accepts
 * the real-mode registers; IA32_APIC_BASE goes before the LAPIC page, which KVM reads in the mode
 * that MSR selects; the MP state goes last. */
int kmod_vcpu_reset(struct kmod_vcpu *vcpu, bool bsp)
{
    static const struct kmod_cpu_state reset = { .mode = KMOD_CPU_RESET };
    int rc = vcpu_reset_events(vcpu);
    if (!rc) {
        vcpu_leave_nested(vcpu);
        rc = kmod_vcpu_set_state(vcpu, &reset);
    }
    if (!rc)
        rc = vcpu_reset_msrs(vcpu, bsp);
    if (!rc && vcpu->kvm->has_irqchip)
        rc = vcpu_reset_lapic(vcpu, bsp);
    if (!rc)
        rc = vcpu_reset_xstate(vcpu);
    if (!rc)
        rc = vcpu_reset_debugregs(vcpu);
    if (rc)
        return rc;
    if (!bsp && !vcpu->kvm->has_irqchip)
        return -ENOTSUP; /* only the in-kernel LAPIC can hold an AP in wait-for-SIPI */
    return kmod_vcpu_set_waiting_for_sipi(vcpu, !bsp);
}

/* ---- running ---------------------------------------------------------------------------------- */

static void exit_decode_io(struct kvm_run *run, struct kmod_exit *x)
{
    x->kind = KMOD_EXIT_IO;
    x->is_write = run->io.direction == KVM_EXIT_IO_OUT;
    x->size = run->io.size;
    x->port = run->io.port;
    x->count = run->io.count;
    x->data = (uint8_t *)run + run->io.data_offset;
}

static void exit_decode_mmio(struct kvm_run *run, struct kmod_exit *x)
{
    x->kind = KMOD_EXIT_MMIO;
    x->is_write = run->mmio.is_write;
    x->size = (uint8_t)run->mmio.len;
    x->gpa = run->mmio.phys_addr;
    x->count = 1;
    x->data = run->mmio.data;
}

static void exit_fail(struct kmod_exit *x, const char *fmt, ...)
{
    x->kind = KMOD_EXIT_FAIL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->reason, sizeof(x->reason), fmt, ap);
    va_end(ap);
}

static void exit_decode_internal(struct kvm_run *run, struct kmod_exit *x)
{
    uint32_t n = run->internal.ndata;
    exit_fail(x, "KVM internal error: suberror %u, ndata %u, data %#llx %#llx %#llx",
              run->internal.suberror, n,
              (unsigned long long)(n > 0 ? run->internal.data[0] : 0),
              (unsigned long long)(n > 1 ? run->internal.data[1] : 0),
              (unsigned long long)(n > 2 ? run->internal.data[2] : 0));
}

static void exit_decode(struct kvm_run *run, struct kmod_exit *x)
{
    switch (run->exit_reason) {
    case KVM_EXIT_IO: exit_decode_io(run, x); break;
    case KVM_EXIT_MMIO: exit_decode_mmio(run, x); break;
    case KVM_EXIT_HLT: x->kind = KMOD_EXIT_HLT; break;
    case KVM_EXIT_SHUTDOWN: x->kind = KMOD_EXIT_SHUTDOWN; break;
    case KVM_EXIT_INTR: x->kind = KMOD_EXIT_INTR; break;
    case KVM_EXIT_SYSTEM_EVENT:
        x->kind = KMOD_EXIT_SYSTEM;
        x->system_event = run->system_event.type;
        break;
    case KVM_EXIT_FAIL_ENTRY:
        exit_fail(x, "VM entry failed: hardware_entry_failure_reason %#llx on host cpu %u",
                  (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
                  run->fail_entry.cpu);
        break;
    case KVM_EXIT_INTERNAL_ERROR: exit_decode_internal(run, x); break;
    case KVM_EXIT_UNKNOWN:
        exit_fail(x, "unknown exit: hardware_exit_reason %#llx",
                  (unsigned long long)run->hw.hardware_exit_reason);
        break;
    default: exit_fail(x, "unhandled KVM exit reason %u", run->exit_reason); break;
    }
}

/* Enters the guest until the next exit userspace must handle, and decodes it. */
int kmod_vcpu_run(struct kmod_vcpu *vcpu, struct kmod_exit *exit)
{
    memset(exit, 0, sizeof(*exit));
    if (!vcpu->kvm->immediate_exit && vcpu->exit_requested) {
        exit->kind = KMOD_EXIT_INTR;
        return 0;
    }
    if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
        if (errno == EINTR) {
            exit->kind = KMOD_EXIT_INTR;
            return 0;
        }
        return -errno;
    }
    exit_decode(vcpu->run, exit);
    return 0;
}

/* Sets or clears the exit request; paired with a signal to the vCPU thread to kick a running guest. */
void kmod_vcpu_request_exit(struct kmod_vcpu *vcpu, bool on)
{
    __atomic_store_n(&vcpu->run->immediate_exit, on ? 1 : 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&vcpu->exit_requested, on ? 1 : 0, __ATOMIC_SEQ_CST);
}
