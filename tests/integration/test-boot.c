/* tests/integration/test-boot.c — boot every test guest under the real `modvm run` and check the COM1
 * lines and the exit status exactly; with qemu-system-x86_64 on PATH, run the same guest under QEMU
 * (tests/guest/run-under-qemu.sh, TCG) and require the same lines and status. Also the serial
 * backends: file:PATH, unix:PATH (server and client) and none.
 *
 * Environment (set by meson): MODVM, GUEST_DIR, GUEST_RUNNER. Needs /dev/kvm (skips without). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "proc.h"

#define RUN_TIMEOUT_MS 120000u
#define QEMU_TIMEOUT_MS 90000u

/* One boot: the guest, the modvm options that differ, and what must come out. */
struct boot_case {
    const char *guest;
    const char *cpus;          /* --cpus / -smp, or NULL */
    const char *memory;        /* --memory / -m (MiB), or NULL */
    const char *append;        /* --append / -append, or NULL */
    int status;                /* exact exit status */
    const char *lines[6];      /* fnmatch patterns of the exact stdout lines */
};

/* The exact stdout lines a failing exit-code run prints: the loader passes "<kernel path> <append>"
 * (modvm and QEMU both prefix the kernel file name, as GRUB does). */
#define EXIT_CODE_GARBLED "exit-code: FAIL garbled exit=N on command line: \"*\""

static const struct boot_case boot_cases[] = {
    {"serial-poll", NULL, NULL, NULL, 33, {"serial-poll: ok"}},
    {"serial-irq", NULL, NULL, NULL, 35, {"serial-irq: tx via THRE interrupts", "serial-irq: ok"}},
    {"timer", NULL, NULL, NULL, 37, {"timer: ok 50 ticks"}},
    {"smp", "1", NULL, NULL, 3, {"smp: apic ids: bsp 0, aps none", "smp: 1 cpus"}},
    {"smp", "2", NULL, NULL, 5, {"smp: apic ids: bsp 0, aps 1", "smp: 2 cpus"}},
    {"smp", "4", NULL, NULL, 9, {"smp: apic ids: bsp 0, aps [123] [123] [123]", "smp: 4 cpus"}},
    /* the acceptance run */
    {"demo", "4", "64", NULL, 0x24 * 2 + 1,
     {"modvm demo guest", "demo: apic ids: bsp 0, aps [123] [123] [123]", "demo: 4 cpus, ok"}},
    {"demo", NULL, NULL, NULL, 0x21 * 2 + 1, {"modvm demo guest", "demo: apic ids: bsp 0, aps*", "demo: 1 cpus, ok"}},
    {"exit-code", NULL, NULL, "exit=0", 1, {"exit-code: 0"}},
    {"exit-code", NULL, NULL, "exit=1", 3, {"exit-code: 1"}},
    {"exit-code", NULL, NULL, "exit=42", 85, {"exit-code: 42"}},
    /* 127 -> (127 << 1) | 1 = 255, the same status as a FAIL: the line tells them apart */
    {"exit-code", NULL, NULL, "exit=127", 255, {"exit-code: 127"}},
    /* 200 -> 401, truncated to 8 bits by exit(): 145 */
    {"exit-code", NULL, NULL, "exit=200", 145, {"exit-code: 200"}},
    {"exit-code", NULL, NULL, "console=ttyS0 exit=7 quiet exit=9", 15, {"exit-code: 7"}},
    {"exit-code", NULL, NULL, "exit=zz", 255, {EXIT_CODE_GARBLED}},
    {"exit-code", NULL, NULL, "exit=256", 255, {EXIT_CODE_GARBLED}},
    {"exit-code", NULL, NULL, "exit=12ab", 255, {EXIT_CODE_GARBLED}},
    {"exit-code", NULL, NULL, "exit=", 255, {EXIT_CODE_GARBLED}},
    {"exit-code", NULL, NULL, "noexit", 255, {"exit-code: FAIL no exit=N on command line: \"* noexit\""}},
};

/* ------------------------------------------------------------------------------------------------ */

static struct proc_result run_modvm(const char *const *args, unsigned timeout_ms)
{
    const char *argv[32] = {itest_modvm(), "run"};
    size_t n = 2;
    for (; *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    struct proc_result r;
    assert_int_equal(proc_run(&(struct proc_opts){.argv = argv, .timeout_ms = timeout_ms}, &r), 0);
    return r;
}

/* modvm run --kernel G --device debug-exit [--cpus N] [--memory M] [--append A] [extra...] */
static struct proc_result run_case(const struct boot_case *c, const char *const *extra)
{
    const char *args[24] = {"--kernel", itest_guest(c->guest), "--device", "debug-exit"};
    size_t n = 4;
    if (c->cpus)
        args[n++] = "--cpus", args[n++] = c->cpus;
    if (c->memory)
        args[n++] = "--memory", args[n++] = c->memory;
    if (c->append)
        args[n++] = "--append", args[n++] = c->append;
    for (; extra && *extra && n < 23; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    return run_modvm(args, RUN_TIMEOUT_MS);
}

/* The same guest under QEMU (run-under-qemu.sh, TCG unless $QEMU_ACCEL says otherwise). */
static struct proc_result run_case_qemu(const struct boot_case *c)
{
    const char *argv[16] = {"sh", itest_qemu_runner(), itest_guest(c->guest)};
    size_t n = 3;
    if (c->cpus)
        argv[n++] = "-smp", argv[n++] = c->cpus;
    if (c->memory)
        argv[n++] = "-m", argv[n++] = c->memory;
    if (c->append)
        argv[n++] = "-append", argv[n++] = c->append;
    argv[n] = NULL;
    static const char *const env[] = {"QEMU_TIMEOUT=80", NULL};
    struct proc_result r;
    assert_int_equal(proc_run(&(struct proc_opts){.argv = argv, .env = env, .timeout_ms = QEMU_TIMEOUT_MS},
                              &r), 0);
    return r;
}

/* Checks a run: not killed, exact status, exact lines. */
static void check_result(const char *what, const struct proc_result *r, int status, const char *text,
                         const char *const *lines)
{
    bool ok = r->exited && r->status == status;
    if (!ok)
        print_message("%s: %s, expected exit status %d\n", what, r->describe, status);
    if (!itest_lines_match(what, text, lines))
        ok = false;
    if (!ok) {
        itest_dump(what, r);
        fail();
    }
}

/* With QEMU available: the same guest under QEMU gives the same status and (normalized) lines as
 * `modvm_text` did under modvm. */
static void compare_with_qemu(const struct boot_case *c, int modvm_status, const char *modvm_text)
{
    if (!itest_have_qemu()) {
        print_message("note: qemu-system-x86_64 not on PATH, no QEMU comparison\n");
        return;
    }
    struct proc_result q = run_case_qemu(c);
    char *qn = itest_normalize(q.out), *mn = itest_normalize(modvm_text);
    bool same = q.exited && q.status == modvm_status && strcmp(qn, mn) == 0;
    if (!same) {
        print_message("QEMU and modvm differ for %s (modvm: status %d)\n---- modvm output:\n%s", c->guest,
                      modvm_status, modvm_text);
        itest_dump("qemu", &q);
    }
    free(qn);
    free(mn);
    proc_result_free(&q);
    assert_true(same);
}

static void test_boot_case(void **state)
{
    const struct boot_case *c = *state;
    ITEST_REQUIRE_KVM();
    struct proc_result r = run_case(c, NULL);
    check_result("modvm", &r, c->status, r.out, c->lines);
    compare_with_qemu(c, r.status, r.out);
    proc_result_free(&r);
}

/* ------------------------------------------------------------------------------------------------ */
/* Serial backends                                                                                  */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void expect_no_guest_output(const struct proc_result *r, const char *guest)
{
    if (strstr(r->out, guest) != NULL || r->out_len != 0) {
        print_message("guest output reached stdout although COM1 is not on stdio\n");
        itest_dump("modvm", r);
        fail();
    }
}

static const struct boot_case serial_poll_case = {"serial-poll", NULL, NULL, NULL, 33, {"serial-poll: ok"}};

static void test_serial_file(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    char *dir = itest_tmpdir(), path[4200], arg[4300];
    snprintf(path, sizeof(path), "%s/com1.txt", dir);
    snprintf(arg, sizeof(arg), "file:%s", path);
    const char *extra[] = {"--serial", arg, NULL};
    struct proc_result r = run_case(&serial_poll_case, extra);
    char *text = read_file(path);
    if (!text)
        print_message("%s was not created\n", path);
    check_result("modvm --serial file", &r, 33, text ? text : "", serial_poll_case.lines);
    expect_no_guest_output(&r, "serial-poll");
    compare_with_qemu(&serial_poll_case, r.status, text);
    free(text);
    proc_result_free(&r);

    /* append=on keeps what was there; the default truncates */
    FILE *f = fopen(path, "w");
    fputs("before\n", f);
    fclose(f);
    snprintf(arg, sizeof(arg), "file:%s,append=on", path);
    r = run_case(&serial_poll_case, extra);
    text = read_file(path);
    check_result("modvm --serial file:...,append=on", &r, 33, text ? text : "",
                 (const char *const[]){"before", "serial-poll: ok", NULL});
    free(text);
    proc_result_free(&r);
    snprintf(arg, sizeof(arg), "file:%s", path);
    r = run_case(&serial_poll_case, extra);
    text = read_file(path);
    check_result("modvm --serial file (truncates)", &r, 33, text ? text : "", serial_poll_case.lines);
    free(text);
    proc_result_free(&r);
    itest_rmtree(dir);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads from fd until EOF or the deadline; returns a malloc'ed NUL-terminated string. */
static char *read_until_eof(int fd, double deadline)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = calloc(1, cap);
    for (;;) {
        int ms = (int)((deadline - now_s()) * 1000);
        if (ms <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ssize_t got = read(fd, buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
        if (len + 1 >= cap)
            break;
    }
    buf[len] = '\0';
    return buf;
}

/* unix:PATH (server, the default): modvm listens; we connect as soon as the socket appears and read
 * the guest's output. The smp guest with one CPU prints only after waiting ~1 s for APs, so nothing
 * is written before we can connect. */
static void test_serial_unix_server(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    char *dir = itest_tmpdir(), arg[4300];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/com1.sock", dir);
    snprintf(arg, sizeof(arg), "unix:%s", sa.sun_path);
    const struct boot_case c = {"smp", "1", NULL, NULL, 3, {"smp: apic ids: bsp 0, aps none", "smp: 1 cpus"}};
    const char *argv[] = {itest_modvm(), "run", "--kernel", itest_guest(c.guest), "--device", "debug-exit",
                          "--cpus", "1", "--serial", arg, NULL};
    double started = now_s();
    struct proc *p = proc_start(&(struct proc_opts){.argv = argv, .timeout_ms = RUN_TIMEOUT_MS});
    assert_non_null(p);

    double deadline = now_s() + 10;
    int fd = -1;
    bool appeared = false;
    while (now_s() < deadline) {
        struct stat st;
        if (stat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            appeared = true;
            fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                break;
            close(fd);
            fd = -1;
        }
        usleep(500);
    }
    double connected_at = now_s();
    bool connected = fd >= 0;
    char *text = connected ? read_until_eof(fd, now_s() + RUN_TIMEOUT_MS / 1000.0) : NULL;
    if (connected)
        close(fd);
    struct proc_result r;
    assert_int_equal(proc_wait(p, &r), 0);
    struct stat st;
    bool removed = stat(sa.sun_path, &st) < 0 && errno == ENOENT;

    if (!appeared)
        print_message("socket %s never appeared\n", sa.sun_path);
    else if (!connected)
        print_message("could not connect to %s\n", sa.sun_path);
    if (!removed)
        print_message("socket %s is still there after modvm exited\n", sa.sun_path);
    if (!appeared || !connected || !removed) {
        itest_dump("modvm", &r);
        fail();
    }
    print_message("connected %.1f ms after start\n", (connected_at - started) * 1000);
    check_result("modvm --serial unix (server)", &r, c.status, text, c.lines);
    expect_no_guest_output(&r, "smp");
    compare_with_qemu(&c, r.status, text);
    free(text);
    proc_result_free(&r);
    itest_rmtree(dir);
}

/* unix:PATH,server=off: we listen first, modvm connects to us; deterministic, so the guest may print
 * right away. */
static void test_serial_unix_client(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    char *dir = itest_tmpdir(), arg[4300];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/listen.sock", dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    snprintf(arg, sizeof(arg), "unix:%s,server=off", sa.sun_path);
    const char *extra[] = {"--serial", arg, NULL};
    const char *argv[] = {itest_modvm(), "run", "--kernel", itest_guest("serial-poll"), "--device",
                          "debug-exit", extra[0], extra[1], NULL};
    struct proc *p = proc_start(&(struct proc_opts){.argv = argv, .timeout_ms = RUN_TIMEOUT_MS});
    assert_non_null(p);
    struct pollfd pl = {.fd = lfd, .events = POLLIN};
    char *text = NULL;
    if (poll(&pl, 1, 10000) == 1) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd >= 0) {
            text = read_until_eof(cfd, now_s() + RUN_TIMEOUT_MS / 1000.0);
            close(cfd);
        }
    }
    close(lfd);
    struct proc_result r;
    assert_int_equal(proc_wait(p, &r), 0);
    if (!text) {
        print_message("modvm never connected to %s\n", sa.sun_path);
        itest_dump("modvm", &r);
        fail();
    }
    check_result("modvm --serial unix,server=off", &r, 33, text, serial_poll_case.lines);
    expect_no_guest_output(&r, "serial-poll");
    compare_with_qemu(&serial_poll_case, r.status, text);
    free(text);
    proc_result_free(&r);
    itest_rmtree(dir);
}

/* --serial none: no COM1 at all; the exit-code guest prints into the void (reads of an absent port
 * give 0xff, so LSR looks ready) and still exits with its status. */
static void test_serial_none(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    const struct boot_case c = {"exit-code", NULL, NULL, "exit=5", 11, {"exit-code: 5"}};
    const char *extra[] = {"--serial", "none", NULL};
    struct proc_result r = run_case(&c, extra);
    check_result("modvm --serial none", &r, 11, r.out, (const char *const[]){NULL});
    compare_with_qemu(&c, r.status, "exit-code: 5\n");
    proc_result_free(&r);
}

/* ------------------------------------------------------------------------------------------------ */
/* Stopping a guest that never exits (serial-poll without the debug-exit device halts forever)      */

static const char *const halting_lines[] = {"serial-poll: ok",
                                            "serial-poll: debug-exit port 0xf4 did not exit; halting", NULL};

/* Starts the halting guest with stdin from stdin_fd and waits until it has said it halts. */
static struct proc *start_halting(int stdin_fd)
{
    const char *argv[] = {itest_modvm(), "run", "--kernel", itest_guest("serial-poll"), NULL};
    struct proc *p = proc_start(&(struct proc_opts){.argv = argv, .stdin_fd = stdin_fd,
                                                     .timeout_ms = RUN_TIMEOUT_MS});
    assert_non_null(p);
    if (!proc_wait_output(p, "halting\n", 30000)) {
        struct proc_result r;
        kill(proc_pid(p), SIGKILL);
        proc_wait(p, &r);
        print_message("the guest did not report that it halts\n");
        itest_dump("modvm", &r);
        fail();
    }
    return p;
}

/* SIGTERM / SIGINT / SIGHUP: clean power-off, status 128 + N (the CLI's documented contract). */
static void test_stop_signals(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct proc *p = start_halting(-1);
        kill(proc_pid(p), sigs[i]);
        struct proc_result r;
        assert_int_equal(proc_wait(p, &r), 0);
        char what[64];
        snprintf(what, sizeof(what), "modvm stopped by %s", strsignal(sigs[i]));
        check_result(what, &r, 128 + sigs[i], r.out, halting_lines);
        proc_result_free(&r);
    }
}

/* The headless escape keys on stdin (a pipe, not a terminal): Ctrl-A x powers off, status 0. */
static void test_escape_quit(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    int in[2];
    assert_int_equal(pipe(in), 0);
    struct proc *p = start_halting(in[0]);
    close(in[0]);
    assert_int_equal(write(in[1], "\001x", 2), 2);
    struct proc_result r;
    assert_int_equal(proc_wait(p, &r), 0);
    close(in[1]);
    check_result("modvm after Ctrl-A x", &r, 0, r.out, halting_lines);
    proc_result_free(&r);
}

/* ------------------------------------------------------------------------------------------------ */

int main(void)
{
    enum { NCASES = sizeof(boot_cases) / sizeof(boot_cases[0]) };
    static struct CMUnitTest tests[NCASES + 6];
    static char names[NCASES][128];
    size_t n = 0;
    for (size_t i = 0; i < NCASES; i++) {
        const struct boot_case *c = &boot_cases[i];
        snprintf(names[i], sizeof(names[i]), "boot %s%s%s%s%s%s%s", c->guest, c->cpus ? " --cpus " : "",
                 c->cpus ? c->cpus : "", c->memory ? " --memory " : "", c->memory ? c->memory : "",
                 c->append ? " --append " : "", c->append ? c->append : "");
        tests[n++] = (struct CMUnitTest){names[i], test_boot_case, NULL, NULL, (void *)c};
    }
    tests[n++] = (struct CMUnitTest){"serial file:PATH", test_serial_file, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"serial unix:PATH (server)", test_serial_unix_server, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"serial unix:PATH,server=off", test_serial_unix_client, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"serial none", test_serial_none, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"stop by SIGTERM/SIGINT/SIGHUP", test_stop_signals, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"Ctrl-A x on stdin", test_escape_quit, NULL, NULL, NULL};
    return _cmocka_run_group_tests("boot", tests, n, NULL, NULL);
}
