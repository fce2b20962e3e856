/* kmod/doctor.c — `modvm doctor` and the KVM backing probe. Looks at /dev/kvm, /sys/module (no lsmod
 * needed), /proc/cpuinfo and KVM_CHECK_EXTENSION (Linux KVM API, Documentation/virt/kvm/api.rst) and
 * says, one line per check, what is fine, what is degraded and what to do. Reads the host only; it
 * changes nothing. */
#include "doctor.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/kvm.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define DOC_API_WANTED 12

enum doc_level { DOC_OK, DOC_INFO, DOC_WARN, DOC_FAIL };

struct doc {
    FILE *out;
    const char *sysfs;   /* "/sys" */
    const char *dev_kvm; /* "/dev/kvm" */
    const char *cpuinfo; /* "/proc/cpuinfo" */
    int warns, fails;
    int fd;              /* /dev/kvm opened read-write, or -1 */
};

/* ---- output and small helpers ----------------------------------------------------------------- */

static void doc_line(struct doc *d, enum doc_level lv, const char *fmt, ...)
{
    static const char *const tag[] = { "OK  ", "INFO", "WARN", "FAIL" };
    if (lv == DOC_WARN)
        d->warns++;
    if (lv == DOC_FAIL)
        d->fails++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(d->out, "  %s  ", tag[lv]);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    va_end(ap);
}

static void copy_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (!why || !whylen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static bool path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool module_loaded(const char *sysfs, const char *name)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/module/%s", sysfs, name);
    return path_exists(p);
}

/* `name` in the directory that holds the KVM node (so tests can fake /dev too). */
static bool dev_node_exists(const char *dev_kvm, const char *name)
{
    char p[PATH_MAX];
    const char *slash = strrchr(dev_kvm, '/');
    int dirlen = slash ? (int)(slash - dev_kvm) : 1;
    snprintf(p, sizeof(p), "%.*s/%s", dirlen, slash ? dev_kvm : ".", name);
    return path_exists(p);
}

/* The KVM vendor module in use, or NULL. kvm_pvm wins: it is what /dev/kvm runs on when loaded. */
static const char *kvm_vendor_module(const char *sysfs)
{
    static const char *const mods[] = { "kvm_pvm", "kvm_intel", "kvm_amd" };
    for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++)
        if (module_loaded(sysfs, mods[i]))
            return mods[i];
    return NULL;
}

/* Whether the first "flags" line of cpuinfo lists `flag` as a whole word. */
static bool cpuinfo_has_flag(const char *cpuinfo, const char *flag, bool *readable)
{
    FILE *f = fopen(cpuinfo, "r");
    *readable = f != NULL;
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (getline(&line, &cap, f) > 0) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        char *save = NULL;
        char *colon = strchr(line, ':');
        for (char *w = strtok_r(colon ? colon + 1 : line, " \t\n", &save); w && !found;
             w = strtok_r(NULL, " \t\n", &save))
            found = strcmp(w, flag) == 0;
        break;
    }
    free(line);
    fclose(f);
    return found;
}

/* ---- the checks ------------------------------------------------------------------------------- */

static void node_owner(const struct stat *st, char *buf, size_t len)
{
    struct passwd *pw = getpwuid(st->st_uid);
    struct group *gr = getgrgid(st->st_gid);
    char u[32], g[32];
    snprintf(u, sizeof(u), "%s", pw ? pw->pw_name : "?");
    snprintf(g, sizeof(g), "%s", gr ? gr->gr_name : "?");
    snprintf(buf, len, "mode %03o, owner %s:%s", (unsigned)(st->st_mode & 0777), u, g);
}

/* Check: the device node exists and is a character device. Returns false if there is no node. */
static bool check_node(struct doc *d)
{
    struct stat st;
    if (stat(d->dev_kvm, &st) != 0) {
        doc_line(d, DOC_FAIL, "%s does not exist: load kvm_intel or kvm_amd (sudo modprobe kvm_intel), "
                 "or enable VT-x/AMD-V in the firmware, or use a host with virtualization enabled",
                 d->dev_kvm);
        return false;
    }
    char own[96];
    node_owner(&st, own, sizeof(own));
    if (!S_ISCHR(st.st_mode))
        doc_line(d, DOC_WARN, "%s exists but is not a character device (%s)", d->dev_kvm, own);
    else
        doc_line(d, DOC_OK, "%s present (char %u:%u, %s)", d->dev_kvm, major(st.st_rdev),
                 minor(st.st_rdev), own);
    return true;
}

/* Check: which KVM modules /sys/module shows. */
static void check_modules(struct doc *d)
{
    const char *vendor = kvm_vendor_module(d->sysfs);
    bool intel = module_loaded(d->sysfs, "kvm_intel"), amd = module_loaded(d->sysfs, "kvm_amd");
    if (!vendor && !module_loaded(d->sysfs, "kvm"))
        doc_line(d, DOC_FAIL, "no KVM module loaded (%s/module has no kvm): sudo modprobe kvm_intel "
                 "(Intel) or kvm_amd (AMD)", d->sysfs);
    else if (!vendor)
        doc_line(d, DOC_FAIL, "kvm is loaded but no vendor module (kvm_intel, kvm_amd, kvm_pvm): "
                 "sudo modprobe kvm_intel or kvm_amd; if that fails, check dmesg and the firmware's "
                 "VT-x/AMD-V setting");
    else
        doc_line(d, DOC_OK, "KVM module loaded: %s%s%s", vendor,
                 (intel && strcmp(vendor, "kvm_intel")) ? " (kvm_intel also loaded)" : "",
                 (amd && strcmp(vendor, "kvm_amd")) ? " (kvm_amd also loaded)" : "");
    if (vendor && strcmp(vendor, "kvm_pvm") == 0)
        doc_line(d, DOC_WARN, "KVM is software-nested (kvm_pvm): guests in kernel mode run ~100× "
                 "slower; expect the software engine");
}

/* Check (information): is this host itself a guest, and does the CPU expose VT-x/AMD-V? */
static void check_cpu(struct doc *d)
{
    bool ok;
    bool hv = cpuinfo_has_flag(d->cpuinfo, "hypervisor", &ok);
    if (!ok) {
        doc_line(d, DOC_INFO, "cannot read %s: CPU flags not checked", d->cpuinfo);
        return;
    }
    bool vmx = cpuinfo_has_flag(d->cpuinfo, "vmx", &ok), svm = cpuinfo_has_flag(d->cpuinfo, "svm", &ok);
    if (hv)
        doc_line(d, DOC_INFO, "this host is itself a virtual machine (cpuinfo 'hypervisor' flag): KVM "
                 "here is nested%s", (vmx || svm) ? "" : " and the CPU shows no vmx/svm");
    if (vmx || svm)
        doc_line(d, DOC_OK, "CPU virtualization extensions: %s", vmx ? "vmx (Intel VT-x)" : "svm (AMD-V)");
    else if (!hv)
        doc_line(d, DOC_WARN, "the CPU shows no vmx/svm flag: enable VT-x/AMD-V in the firmware setup");
}

/* Check: drivers of other hypervisors that may hold VT-x/AMD-V. */
static void check_other_hypervisors(struct doc *d)
{
    static const char *const vbox[] = { "vboxdrv", "vboxnetflt", "vboxnetadp", "vboxpci" };
    int found = 0;
    for (size_t i = 0; i < sizeof(vbox) / sizeof(vbox[0]); i++) {
        if (module_loaded(d->sysfs, vbox[i]) || (i == 0 && dev_node_exists(d->dev_kvm, "vboxdrv"))) {
            doc_line(d, DOC_WARN, "VirtualBox driver %s is loaded: VirtualBox and KVM may not run VMs "
                     "at the same time (KVM_CREATE_VM fails with EBUSY); stop VirtualBox VMs or unload "
                     "it (sudo modprobe -r vboxnetflt vboxnetadp vboxdrv)", vbox[i]);
            found++;
        }
    }
    if (module_loaded(d->sysfs, "vmmon") || dev_node_exists(d->dev_kvm, "vmmon")) {
        doc_line(d, DOC_WARN, "VMware driver vmmon is loaded: VMware and KVM may not run VMs at the "
                 "same time; stop VMware VMs or unload it (sudo modprobe -r vmnet vmmon)");
        found++;
    }
    if (!found)
        doc_line(d, DOC_OK, "no other hypervisor driver loaded (VirtualBox, VMware)");
}

/* Check: this user can open the node read-write. Leaves d->fd open on success. */
static void check_open(struct doc *d)
{
    d->fd = open(d->dev_kvm, O_RDWR | O_CLOEXEC);
    if (d->fd >= 0) {
        doc_line(d, DOC_OK, "%s opens read-write for this user", d->dev_kvm);
        return;
    }
    int e = errno;
    if (e == EACCES || e == EPERM)
        doc_line(d, DOC_FAIL, "cannot open %s: %s (add your user to the 'kvm' group: sudo usermod "
                 "-aG kvm $USER, then log in again; or install modvm's udev rule)", d->dev_kvm,
                 strerror(e));
    else
        doc_line(d, DOC_FAIL, "cannot open %s: %s (is the KVM module loaded? check dmesg)", d->dev_kvm,
                 strerror(e));
}

/* Check: API version 12, and a VM can be created. Returns false if KVM is unusable. */
static bool check_api_and_vm(struct doc *d)
{
    int v = ioctl(d->fd, KVM_GET_API_VERSION, 0);
    if (v != DOC_API_WANTED) {
        if (v < 0)
            doc_line(d, DOC_FAIL, "KVM_GET_API_VERSION failed: %s (%s is not a KVM device?)",
                     strerror(errno), d->dev_kvm);
        else
            doc_line(d, DOC_FAIL, "KVM API version %d, modvm needs %d: use a newer host kernel", v,
                     DOC_API_WANTED);
        return false;
    }
    doc_line(d, DOC_OK, "KVM API version %d", v);
    int vm = ioctl(d->fd, KVM_CREATE_VM, 0);
    if (vm < 0) {
        int e = errno;
        doc_line(d, DOC_FAIL, "KVM_CREATE_VM failed: %s%s", strerror(e),
                 e == EBUSY ? " (another hypervisor holds VT-x/AMD-V: stop VirtualBox/VMware VMs)"
                            : " (check dmesg)");
        return false;
    }
    close(vm);
    doc_line(d, DOC_OK, "a test VM can be created");
    return true;
}

struct doc_cap {
    long cap;
    const char *name;
    enum doc_level missing; /* DOC_FAIL: modvm cannot run on KVM without it */
    const char *why;        /* what goes wrong without it */
};

static const struct doc_cap doc_caps[] = {
    { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", DOC_FAIL, "guest memory cannot be mapped" },
    { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", DOC_FAIL, "no in-kernel PIC/IOAPIC/LAPIC: modvm cannot run on this KVM" },
    { KVM_CAP_PIT2, "KVM_CAP_PIT2", DOC_WARN, "no in-kernel PIT: the userspace timer plugin is needed" },
    { KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM", DOC_WARN, "ROM writes are not trapped" },
    { KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI", DOC_WARN, "devices fall back from MSI to INTx" },
    { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", DOC_WARN, "stopping a vCPU may be delayed "
      "until its next exit" },
};

/* Check: the capabilities modvm relies on, and the vCPU limits. */
static void check_caps(struct doc *d)
{
    for (size_t i = 0; i < sizeof(doc_caps) / sizeof(doc_caps[0]); i++) {
        const struct doc_cap *c = &doc_caps[i];
        int r = ioctl(d->fd, KVM_CHECK_EXTENSION, c->cap);
        if (r > 0)
            doc_line(d, DOC_OK, "%s", c->name);
        else
            doc_line(d, c->missing, "%s missing: %s", c->name, c->why);
    }
    int nr = ioctl(d->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    int max = ioctl(d->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (nr <= 0)
        nr = 4; /* KVM's documented default when the capability is absent */
    if (max <= 0)
        max = nr;
    doc_line(d, DOC_INFO, "vCPUs per VM: %d recommended (KVM_CAP_NR_VCPUS), %d maximum "
             "(KVM_CAP_MAX_VCPUS)", nr, max);
}

static void doc_summary(struct doc *d)
{
    if (d->fails)
        fprintf(d->out, "KVM is NOT usable (%d problem%s, %d warning%s): fix the FAIL lines\n", d->fails, d->fails == 1 ? "" : "s", d->warns,
                d->warns == 1 ? "" : "s");
    else if (d->warns)
        fprintf(d->out, "KVM is usable, with %d warning%s\n", d->warns, d->warns == 1 ? "" : "s");
    else
        fprintf(d->out, "KVM is usable\n");
}

/* Runs every check against the given roots (see doctor.h); 0 = usable, 1 = not. */
int kmod_doctor_report_at(FILE *out, const char *sysfs_root, const char *dev_kvm_path,
                          const char *cpuinfo_path)
{
    struct doc d = { .out = out, .sysfs = sysfs_root, .dev_kvm = dev_kvm_path,
                     .cpuinfo = cpuinfo_path, .fd = -1 };
    fprintf(out, "modvm doctor: KVM on this host\n");
    bool node = check_node(&d);
    check_modules(&d);
    check_cpu(&d);
    check_other_hypervisors(&d);
    if (node)
        check_open(&d);
    if (d.fd >= 0) {
        if (check_api_and_vm(&d))
            check_caps(&d);
        close(d.fd);
    }
    doc_summary(&d);
    return d.fails ? 1 : 0;
}

/* Runs every check against the real host and prints the report. */
int kmod_doctor_report(FILE *out)
{
    return kmod_doctor_report_at(out, "/sys", "/dev/kvm", "/proc/cpuinfo");
}

/* ---- the probe for --accel auto --------------------------------------------------------------- */

/* Classifies the KVM node at the given roots (see doctor.h). */
enum kmod_kvm_backing kmod_kvm_probe_at(char *why, size_t whylen, const char *sysfs_root,
                                        const char *dev_kvm_path)
{
    int fd = open(dev_kvm_path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        copy_why(why, whylen, "cannot open %s: %s", dev_kvm_path, strerror(e));
        return (e == EACCES || e == EPERM) ? KMOD_KVM_NO_ACCESS : KMOD_KVM_ABSENT;
    }
    int v = ioctl(fd, KVM_GET_API_VERSION, 0);
    close(fd);
    if (v < 0) {
        copy_why(why, whylen, "%s does not answer KVM_GET_API_VERSION: not a KVM device", dev_kvm_path);
        return KMOD_KVM_ABSENT;
    }
    if (v != DOC_API_WANTED) {
        copy_why(why, whylen, "%s: KVM API version %d, modvm needs %d", dev_kvm_path, v,
                 DOC_API_WANTED);
        return KMOD_KVM_ABSENT;
    }
    const char *vendor = kvm_vendor_module(sysfs_root);
    if (vendor && strcmp(vendor, "kvm_pvm") == 0) {
        copy_why(why, whylen, "KVM is software-nested (kvm_pvm): guest kernel code runs far slower "
                              "than on hardware KVM");
        return KMOD_KVM_SOFTWARE_NESTED;
    }
    copy_why(why, whylen, "KVM is hardware-backed (%s)", vendor ? vendor : "vendor module unknown");
    return KMOD_KVM_HARDWARE;
}

/* Classifies /dev/kvm on this host without creating a VM. */
enum kmod_kvm_backing kmod_kvm_probe(char *why, size_t whylen)
{
    return kmod_kvm_probe_at(why, whylen, "/sys", "/dev/kvm");
}
