/* tests/unit/test-doctor.c — unit tests of `modvm doctor` and the KVM backing probe (kmod/doctor.c).
 * Each test builds a fake host in a mkdtemp directory — sys/module/<name>/ for loaded modules, dev/
 * for device nodes, a cpuinfo file — and drives kmod_doctor_report_at / kmod_kvm_probe_at through
 * it, capturing the report with open_memstream. Where a case needs a working KVM device, dev/kvm is
 * a symlink to the host's /dev/kvm and the case skips when that is unusable; everything else
 * (modules, other hypervisors' nodes, CPU flags) stays fake, so the result does not depend on the
 * host's own modules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doctor.h"

/* ---- fixture: a fake host ----------------------------------------------------------------------- */

struct fakehost {
    char root[PATH_MAX];
    char sys[PATH_MAX];     /* root/sys (sysfs_root) */
    char dev[PATH_MAX];     /* root/dev */
    char dev_kvm[PATH_MAX]; /* root/dev/kvm (not created by the fixture) */
    char cpuinfo[PATH_MAX]; /* root/cpuinfo */
    char *report;           /* the last captured report */
};

static void path_join(char *out, const char *a, const char *b)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", a, b);
    assert_true(n > 0 && n < PATH_MAX);
}

static void make_dir(const char *path)
{
    assert_int_equal(mkdir(path, 0755), 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    assert_int_equal(chmod(path, mode), 0); /* exact mode, whatever the umask */
}

/* cpuinfo with one "flags" line (as /proc/cpuinfo has one per CPU; the doctor reads the first). */
static void write_cpuinfo(struct fakehost *h, const char *flags)
{
    char text[512];
    snprintf(text, sizeof(text), "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: %s\n\n"
             "processor\t: 1\nflags\t\t: fpu\n", flags);
    write_file(h->cpuinfo, text, 0644);
}

/* Marks a module as loaded: sysfs shows every loaded module as /sys/module/<name>/. */
static void add_module(struct fakehost *h, const char *name)
{
    char p[PATH_MAX], mod[PATH_MAX];
    path_join(mod, h->sys, "module");
    path_join(p, mod, name);
    make_dir(p);
}

static int setup_host(void **state)
{
    struct fakehost *h = calloc(1, sizeof(*h));
    if (!h)
        return -1;
    snprintf(h->root, sizeof(h->root), "%s/modvm-test-doctor-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(h->root)) {
        free(h);
        return -1;
    }
    /* Traversable by everyone: the no-access case drops to an unprivileged user. */
    chmod(h->root, 0755);
    path_join(h->sys, h->root, "sys");
    path_join(h->dev, h->root, "dev");
    path_join(h->dev_kvm, h->dev, "kvm");
    path_join(h->cpuinfo, h->root, "cpuinfo");
    char mod[PATH_MAX];
    path_join(mod, h->sys, "module");
    if (mkdir(h->sys, 0755) || mkdir(mod, 0755) || mkdir(h->dev, 0755))
        return -1;
    write_cpuinfo(h, "fpu vme de pse tsc msr pae vmx");
    *state = h;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown_host(void **state)
{
    struct fakehost *h = *state;
    int rc = nftw(h->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(h->report);
    free(h);
    return rc;
}

/* ---- running the doctor and reading its report ----------------------------------------------- */

/* Runs the report against the fake host; the text stays in h->report. */
static int run_report(struct fakehost *h)
{
    free(h->report);
    h->report = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&h->report, &len);
    assert_non_null(out);
    int rc = kmod_doctor_report_at(out, h->sys, h->dev_kvm, h->cpuinfo);
    assert_int_equal(fclose(out), 0);
    assert_non_null(h->report);
    return rc;
}

/* The first report line tagged `tag` ("OK", "INFO", "WARN", "FAIL") that contains every needle
 * (NULL-terminated list); NULL if there is none. Lines look like "  WARN  text". */
static const char *find_line(const char *report, const char *tag, ...)
{
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "  %-4s  ", tag);
    for (const char *line = report; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            bool all = true;
            va_list ap;
            va_start(ap, tag);
            for (const char *needle = va_arg(ap, const char *); needle && all;
                 needle = va_arg(ap, const char *)) {
                const char *hit = strstr(line, needle);
                all = hit && hit + strlen(needle) <= line + len;
            }
            va_end(ap);
            if (all)
                return line;
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

/* Prints the report when an assertion about it is about to fail, so the log shows what was seen. */
static void expect_line(const struct fakehost *h, bool found, const char *what)
{
    if (!found)
        print_error("report lacks %s:\n%s", what, h->report);
    assert_true(found);
}

/* Points the fake dev/kvm at the host's real /dev/kvm, or skips the test when that is unusable. */
static void link_real_kvm(struct fakehost *h)
{
    char why[256] = "";
    enum kmod_kvm_backing real = kmod_kvm_probe(why, sizeof(why));
    if (real == KMOD_KVM_ABSENT || real == KMOD_KVM_NO_ACCESS) {
        print_message("skipped: this case needs a usable /dev/kvm on the host (%s)\n", why);
        skip();
    }
    assert_int_equal(symlink("/dev/kvm", h->dev_kvm), 0);
}

/* ---- no /dev/kvm -------------------------------------------------------------------------------- */

static void test_absent_node(void **state)
{
    struct fakehost *h = *state;
    /* A node in a directory that does not exist: ENOENT on every path. */
    char missing[PATH_MAX];
    path_join(missing, h->root, "no-such-dir/kvm");
    snprintf(h->dev_kvm, sizeof(h->dev_kvm), "%s", missing);

    assert_int_equal(run_report(h), 1);
    expect_line(h, find_line(h->report, "FAIL", missing, "does not exist", "modprobe kvm_intel", NULL),
                "a FAIL line saying the node is missing, with modprobe advice");
    expect_line(h, find_line(h->report, "FAIL", "no KVM module loaded", NULL),
                "a FAIL line for the empty module list");
    expect_line(h, strstr(h->report, "KVM is NOT usable") != NULL, "the NOT usable summary");
    /* nothing was opened, so no open/API lines */
    assert_null(find_line(h->report, "OK", "opens read-write", NULL));

    char why[256] = "";
    assert_int_equal(kmod_kvm_probe_at(why, sizeof(why), h->sys, missing), KMOD_KVM_ABSENT);
    assert_non_null(strstr(why, missing));
    assert_non_null(strstr(why, strerror(ENOENT)));
}

/* A node that opens but is no KVM device (a plain file): the API check rejects it. */
static void test_not_a_kvm_device(void **state)
{
    struct fakehost *h = *state;
    write_file(h->dev_kvm, "", 0666);
    add_module(h, "kvm");
    add_module(h, "kvm_intel");

    assert_int_equal(run_report(h), 1);
    expect_line(h, find_line(h->report, "WARN", "not a character device", NULL),
                "a WARN line for a node that is not a character device");
    expect_line(h, find_line(h->report, "FAIL", "KVM_GET_API_VERSION failed", NULL),
                "a FAIL line for the failed API version check");

    char why[256] = "";
    assert_int_equal(kmod_kvm_probe_at(why, sizeof(why), h->sys, h->dev_kvm), KMOD_KVM_ABSENT);
    assert_non_null(strstr(why, "not a KVM device"));
}

/* ---- a node this user may not open (EACCES) ----------------------------------------------------- */

/* What the no-access case observed, passed from the unprivileged child to the test. */
struct noaccess_result {
    int dropped;  /* 0: could not drop privileges (errno in err) */
    int err;
    int backing;
    int report_rc;
    char why[256];
    char report[4096];
};

static void noaccess_run(struct fakehost *h, struct noaccess_result *r)
{
    r->dropped = 1;
    r->backing = (int)kmod_kvm_probe_at(r->why, sizeof(r->why), h->sys, h->dev_kvm);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) {
        r->report_rc = -1;
        return;
    }
    r->report_rc = kmod_doctor_report_at(out, h->sys, h->dev_kvm, h->cpuinfo);
    fclose(out);
    snprintf(r->report, sizeof(r->report), "%s", text ? text : "");
    free(text);
}

/* As root the permission check never fails (CAP_DAC_OVERRIDE), so the probe runs in a child that
 * has dropped to the unprivileged user 65534 (nobody) — a real EACCES from open(), not a fake. */
static void noaccess_run_unprivileged(struct fakehost *h, struct noaccess_result *r)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct noaccess_result c;
        memset(&c, 0, sizeof(c));
        if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
            c.err = errno;
        else
            noaccess_run(h, &c);
        ssize_t n = write(fds[1], &c, sizeof(c));
        _exit(n == (ssize_t)sizeof(c) ? 0 : 1);
    }
    close(fds[1]);
    size_t got = 0;
    while (got < sizeof(*r)) {
        ssize_t n = read(fds[0], (char *)r + got, sizeof(*r) - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(got, sizeof(*r));
}

static void test_no_access(void **state)
{
    struct fakehost *h = *state;
    /* Mode 000: nobody but a process with CAP_DAC_OVERRIDE may open it. */
    write_file(h->dev_kvm, "", 0);
    add_module(h, "kvm");
    add_module(h, "kvm_intel");

    struct noaccess_result r;
    memset(&r, 0, sizeof(r));
    if (geteuid() == 0)
        noaccess_run_unprivileged(h, &r);
    else
        noaccess_run(h, &r);
    if (!r.dropped) {
        print_message("skipped: running as root and cannot drop to uid 65534 to get a real EACCES "
                      "(%s)\n", strerror(r.err));
        skip();
    }
    h->report = strdup(r.report);

    assert_int_equal(r.backing, KMOD_KVM_NO_ACCESS);
    assert_non_null(strstr(r.why, strerror(EACCES)));
    assert_int_equal(r.report_rc, 1);
    expect_line(h, find_line(h->report, "FAIL", "cannot open", strerror(EACCES), "kvm' group", NULL),
                "a FAIL line for EACCES with the kvm-group advice");
    expect_line(h, strstr(h->report, "KVM is NOT usable") != NULL, "the NOT usable summary");
}

/* ---- what backs KVM ---------------------------------------------------------------------------- */

static void test_software_nested(void **state)
{
    struct fakehost *h = *state;
    link_real_kvm(h);
    add_module(h, "kvm");
    add_module(h, "kvm_pvm");
    write_cpuinfo(h, "fpu tsc msr pae hypervisor");

    char why[256] = "";
    assert_int_equal(kmod_kvm_probe_at(why, sizeof(why), h->sys, h->dev_kvm), KMOD_KVM_SOFTWARE_NESTED);
    assert_non_null(strstr(why, "software-nested"));

    run_report(h);
    expect_line(h, find_line(h->report, "WARN", "software-nested", "kvm_pvm", NULL),
                "the software-nested WARN line");
    expect_line(h, find_line(h->report, "OK", "KVM module loaded: kvm_pvm", NULL),
                "the module line naming kvm_pvm");
    expect_line(h, find_line(h->report, "INFO", "itself a virtual machine", "no vmx/svm", NULL),
                "the INFO line about a nested host without vmx/svm");

    /* kvm_pvm wins over a vendor module loaded beside it: /dev/kvm runs on PVM then. */
    add_module(h, "kvm_intel");
    assert_int_equal(kmod_kvm_probe_at(NULL, 0, h->sys, h->dev_kvm), KMOD_KVM_SOFTWARE_NESTED);
    run_report(h);
    expect_line(h, find_line(h->report, "OK", "kvm_pvm", "(kvm_intel also loaded)", NULL),
                "the module line naming kvm_pvm and the other vendor module");
}

static void test_hardware(void **state)
{
    struct fakehost *h = *state;
    link_real_kvm(h);
    add_module(h, "kvm");
    add_module(h, "kvm_intel");

    char why[256] = "";
    assert_int_equal(kmod_kvm_probe_at(why, sizeof(why), h->sys, h->dev_kvm), KMOD_KVM_HARDWARE);
    assert_non_null(strstr(why, "hardware-backed (kvm_intel)"));

    run_report(h);
    expect_line(h, find_line(h->report, "OK", "present (char", NULL), "the OK line for a char device");
    expect_line(h, find_line(h->report, "OK", "KVM module loaded: kvm_intel", NULL),
                "the module line naming kvm_intel");
    expect_line(h, find_line(h->report, "OK", "vmx (Intel VT-x)", NULL), "the vmx flag line");
    expect_line(h, find_line(h->report, "OK", "opens read-write", NULL), "the open line");
    expect_line(h, find_line(h->report, "OK", "KVM API version 12", NULL), "the API version line");
    assert_null(strstr(h->report, "software-nested"));
}

/* ---- other hypervisors -------------------------------------------------------------------------- */

static void test_vbox_module(void **state)
{
    struct fakehost *h = *state;
    /* Without any: the OK line, no VirtualBox warning. */
    run_report(h);
    expect_line(h, find_line(h->report, "OK", "no other hypervisor driver loaded", NULL),
                "the OK line for no other hypervisor");
    assert_null(strstr(h->report, "VirtualBox driver"));

    add_module(h, "vboxdrv");
    add_module(h, "vboxnetflt");
    run_report(h);
    expect_line(h, find_line(h->report, "WARN", "VirtualBox", "vboxdrv", "EBUSY", NULL),
                "a WARN line naming VirtualBox's vboxdrv");
    expect_line(h, find_line(h->report, "WARN", "VirtualBox", "vboxnetflt", NULL),
                "a WARN line naming vboxnetflt");
    assert_null(find_line(h->report, "OK", "no other hypervisor", NULL));
}

/* /dev/vboxdrv without the sysfs entry (e.g. sysfs not mounted in a container) still warns. */
static void test_vbox_node(void **state)
{
    struct fakehost *h = *state;
    char node[PATH_MAX];
    path_join(node, h->dev, "vboxdrv");
    write_file(node, "", 0600);
    run_report(h);
    expect_line(h, find_line(h->report, "WARN", "VirtualBox driver vboxdrv", NULL),
                "a WARN line naming VirtualBox from /dev/vboxdrv");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_absent_node, setup_host, teardown_host),
        cmocka_unit_test_setup_teardown(test_not_a_kvm_device, setup_host, teardown_host),
        cmocka_unit_test_setup_teardown(test_no_access, setup_host, teardown_host),
        cmocka_unit_test_setup_teardown(test_software_nested, setup_host, teardown_host),
        cmocka_unit_test_setup_teardown(test_hardware, setup_host, teardown_host),
        cmocka_unit_test_setup_teardown(test_vbox_module, setup_host, teardown_host),
        cmocka_unit_test_setup_teardown(test_vbox_node, setup_host, teardown_host),
    };
    return cmocka_run_group_tests_name("doctor", tests, NULL, NULL);
}
