/* kmod/doctor.h — `modvm doctor`: is KVM usable on this host, and if not, what to do about it.
 * Also the probe `--accel auto` uses to choose between KVM and the software engine. */
#ifndef MODVM_KMOD_DOCTOR_H
#define MODVM_KMOD_DOCTOR_H

#include <stddef.h>
#include <stdio.h>

/* Prints one line per check (OK / WARN / FAIL / INFO, with advice) and a summary to `out`.
 * Returns 0 when KVM is usable (possibly with warnings), 1 when it is not. */
int kmod_doctor_report(FILE *out);

/* What backs /dev/kvm on this host. */
enum kmod_kvm_backing {
    KMOD_KVM_ABSENT,          /* no /dev/kvm, no KVM module, or a KVM API modvm cannot use */
    KMOD_KVM_NO_ACCESS,       /* /dev/kvm exists but this user cannot open it read-write */
    KMOD_KVM_SOFTWARE_NESTED, /* kvm_pvm: works, but guest kernel code runs far slower than native */
    KMOD_KVM_HARDWARE,        /* kvm_intel / kvm_amd on VT-x / AMD-V */
};
/* Classifies /dev/kvm without creating a VM; writes a one-line explanation to why (may be NULL). */
enum kmod_kvm_backing kmod_kvm_probe(char *why, size_t whylen);

/* For unit tests only: the same as above, reading `sysfs_root` (normally "/sys"), `dev_kvm_path`
 * (normally "/dev/kvm"; other device nodes such as vboxdrv are looked up in its directory) and
 * `cpuinfo_path` (normally "/proc/cpuinfo") so a fake tree can stand in for the host. */
int kmod_doctor_report_at(FILE *out, const char *sysfs_root, const char *dev_kvm_path,
                          const char *cpuinfo_path);
enum kmod_kvm_backing kmod_kvm_probe_at(char *why, size_t whylen, const char *sysfs_root,
                                        const char *dev_kvm_path);

#endif
