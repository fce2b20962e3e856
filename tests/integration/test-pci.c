/* tests/integration/test-pci.c — the PCI bus end to end: the pci-scan guest (tests/guest/pci-scan.asm)
 * under the real `modvm run` with the i440fx host bridge, the piix3 ISA bridge and the test-only
 * pci-testdev plugin (tests/integration/pci-testdev.c, a look-alike of QEMU's pci-testdev), checked
 * line by line; then, with qemu-system-x86_64 on PATH, the same guest under QEMU -M pc with QEMU's
 * pci-testdev in slot 2, whose lines must contain modvm's in the same order (QEMU's PC also has the
 * PIIX IDE and PM functions at 00:01.1 and 00:01.3, which modvm does not model). Also the pam guest
 * (tests/guest/pam.asm): the i440fx's PAM registers switching the 0xC0000-0xFFFFF shadow window, and
 * cf9-reset (tests/guest/cf9-reset.asm): the reset control register at port 0xCF9; and the msi guest
 * (tests/guest/msi.asm): plain MSI from pci-testdev,msi=on to the local APIC, masking, INTx fallback.
 *
 * Environment (set by meson): MODVM, GUEST_DIR, GUEST_RUNNER, PCI_TESTDEV_DIR (where the test plugin
 * is built). Needs /dev/kvm (skips without). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "proc.h"

#define RUN_TIMEOUT_MS 60000u
#define QEMU_TIMEOUT_MS 90000u

/* What pci-scan prints with i440fx + piix3 (+ pci-testdev in slot 2). */
#define LINE_LATCH "pci-scan: confadd latch ok"
#define LINE_HOST "pci: 00:00.0 8086:1237 class 0600"
#define LINE_ISA "pci: 00:01.0 8086:7000 class 0601"
#define LINE_TESTDEV "pci: 00:02.0 1b36:0005 class 00ff"
#define LINE_TESTDEV_BAR0 "pci: 00:02.0 bar0 mem32 size 0x1000"
#define LINE_TESTDEV_BAR1 "pci: 00:02.0 bar1 io size 0x100"
#define LINE_EMPTY "pci-scan: empty functions read all ones"
#define LINE_IO_DECODE "pci-scan: testdev io bar decodes"
#define LINE_MEM_DECODE "pci-scan: testdev mem bar decodes"
#define LINE_PIRQ "pci-scan: pirq 0a 0a 0b 0b"
#define LINE_PIRQ_RW "pci-scan: pirq read back ok"

/* `modvm run` of `guest` with `extra` options after the kernel and debug-exit. */
static struct proc_result run_guest(const char *guest, const char *const *extra)
{
    const char *argv[24] = {itest_modvm(), "run", "--kernel", itest_guest(guest), "--device", "debug-exit"};
    size_t n = 6;
    for (; *extra && n < 23; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    struct proc_result r;
    assert_int_equal(proc_run(&(struct proc_opts){.argv = argv, .timeout_ms = RUN_TIMEOUT_MS}, &r), 0);
    return r;
}

/* Fails the test unless `r` exited with `status`, printed exactly `lines` and no guest errors. */
static void check_run(const char *what, const struct proc_result *r, int status, const char *const *lines)
{
    bool ok = r->exited && r->status == status;
    if (!ok)
        print_message("%s: %s, expected exit status %d\n", what, r->describe, status);
    if (!itest_lines_match(what, r->out, lines))
        ok = false;
    if (strstr(r->err, "guest error")) {
        print_message("%s: guest errors were reported\n", what);
        ok = false;
    }
    if (!ok) {
        itest_dump(what, r);
        fail();
    }
}

/* Host bridge only: one function, no PIRQ lines. */
static void test_host_bridge_only(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    static const char *const extra[] = {"--device", "i440fx", NULL};
    static const char *const lines[] = {LINE_LATCH, LINE_HOST, LINE_EMPTY, "pci-scan: 1 functions", NULL};
    struct proc_result r = run_guest("pci-scan", extra);
    check_run("modvm i440fx", &r, 2 * 1 + 1, lines);
    proc_result_free(&r);
}

/* The acceptance run of the brief: i440fx + piix3 + debug-exit; then the same bus from the PC
 * machine type (--machine pc: the bridges plus the ISA devices, fw-cfg and ACPI, none on PCI). */
static void test_pc_bridges(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    static const char *const extra[] = {"--device", "i440fx", "--device", "piix3", NULL};
    static const char *const machine[] = {"--machine", "pc", NULL};
    static const char *const lines[] = {LINE_LATCH, LINE_HOST,    LINE_ISA,           LINE_EMPTY,
                                        LINE_PIRQ,  LINE_PIRQ_RW, "pci-scan: 2 functions", NULL};
    struct proc_result r = run_guest("pci-scan", extra);
    check_run("modvm i440fx+piix3", &r, 2 * 2 + 1, lines);
    proc_result_free(&r);
    r = run_guest("pci-scan", machine);
    check_run("modvm --machine pc", &r, 2 * 2 + 1, lines);
    proc_result_free(&r);
}

/* The lines modvm prints with the test device, without the final count. */
static const char *const testdev_lines[] = {LINE_LATCH,        LINE_HOST,         LINE_ISA,       LINE_TESTDEV,
                                            LINE_TESTDEV_BAR0, LINE_TESTDEV_BAR1, LINE_EMPTY,     LINE_IO_DECODE,
                                            LINE_MEM_DECODE,   LINE_PIRQ,         LINE_PIRQ_RW,   NULL};

/* True when every line of `want` occurs in `text`, in that order (other lines may come between). */
static bool lines_in_order(const char *text, const char *const *want)
{
    char **lines;
    size_t n = proc_lines(text, &lines), at = 0;
    for (; *want; want++) {
        while (at < n && strcmp(lines[at], *want) != 0)
            at++;
        if (at == n) {
            print_message("missing (or out of order): '%s'\n", *want);
            proc_lines_free(lines);
            return false;
        }
        at++;
    }
    proc_lines_free(lines);
    return true;
}

/* With pci-testdev: BAR sizing and decoding; then the same under QEMU. */
static void test_with_testdev(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    const char *dir = getenv("PCI_TESTDEV_DIR");
    assert_non_null(dir);
    const char *const extra[] = {"--plugin-path", dir,  "--device", "i440fx", "--device",
                                 "piix3",         "--device", "pci-testdev", NULL};
    const char *lines[16];
    size_t n = 0;
    for (; testdev_lines[n]; n++)
        lines[n] = testdev_lines[n];
    lines[n++] = "pci-scan: 3 functions";
    lines[n] = NULL;
    struct proc_result r = run_guest("pci-scan", extra);
    check_run("modvm with pci-testdev", &r, 2 * 3 + 1, lines);
    proc_result_free(&r);

    if (!itest_have_qemu()) {
        print_message("note: qemu-system-x86_64 not on PATH, no QEMU comparison\n");
        return;
    }
    const char *argv[] = {"sh", itest_qemu_runner(), itest_guest("pci-scan"), "-M", "pc", "-vga", "none",
                          "-nic", "none", "-device", "pci-testdev,addr=02.0", NULL};
    static const char *const env[] = {"QEMU_TIMEOUT=80", NULL};
    struct proc_result q;
    assert_int_equal(proc_run(&(struct proc_opts){.argv = argv, .env = env, .timeout_ms = QEMU_TIMEOUT_MS}, &q), 0);
    /* QEMU's PC: 00:00.0, 00:01.0, 00:01.1 (IDE), 00:01.3 (PM), 00:02.0 */
    bool ok = q.exited && q.status == 2 * 5 + 1 && lines_in_order(q.out, testdev_lines) &&
              strstr(q.out, "pci-scan: 5 functions\n") != NULL;
    if (!ok)
        itest_dump("qemu", &q);
    proc_result_free(&q);
    assert_true(ok);
}

/* The i440FX PAM registers switch the shadow window (tests/guest/pam.asm): power-on values of a
 * direct boot, every mode on one segment with its neighbour untouched, code in a read-only segment,
 * PAM0's 64 KiB segment. modvm only (SeaBIOS leaves other PAM values under QEMU). */
static void test_pam_shadow(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    static const char *const extra[] = {"--device", "i440fx", NULL};
    static const char *const lines[] = {"pam: power-on 30 33 33 33 33 33 33", "pam: read-only drops writes",
                                        "pam: disabled reads the pci side", "pam: write-only writes ram",
                                        "pam: code runs from read-only shadow", "pam: f segment switches",
                                        "pam: done", NULL};
    struct proc_result r = run_guest("pam", extra);
    check_run("modvm pam", &r, 2 * 1 + 1, lines);
    proc_result_free(&r);
}

/* Port 0xCF9 (tests/guest/cf9-reset.asm): RC reads back SRST, RCPU resets the VM, which
 * --no-reboot turns into a clean exit (status 0); the same under QEMU when it is installed. */
static void test_cf9_reset(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    static const char *const extra[] = {"--device", "i440fx", "--no-reboot", NULL};
    static const char *const lines[] = {"cf9-reset: rc 00", "cf9-reset: rc 02", "cf9-reset: resetting", NULL};
    struct proc_result r = run_guest("cf9-reset", extra);
    check_run("modvm cf9-reset", &r, 0, lines);
    proc_result_free(&r);

    if (!itest_have_qemu()) {
        print_message("note: qemu-system-x86_64 not on PATH, no QEMU comparison\n");
        return;
    }
    const char *argv[] = {"sh", itest_qemu_runner(), itest_guest("cf9-reset"), "-M", "pc", "-no-reboot", NULL};
    static const char *const env[] = {"QEMU_TIMEOUT=80", NULL};
    struct proc_result q;
    assert_int_equal(proc_run(&(struct proc_opts){.argv = argv, .env = env, .timeout_ms = QEMU_TIMEOUT_MS}, &q), 0);
    bool ok = q.exited && q.status == 0 && lines_in_order(q.out, lines);
    if (!ok)
        itest_dump("qemu cf9-reset", &q);
    proc_result_free(&q);
    assert_true(ok);
}

/* Plain MSI (tests/guest/msi.asm) with pci-testdev,msi=on: a doorbell in BAR0 delivers vector 0x40 to
 * the BSP, a masked vector only sets its pending bit and arrives on unmask, and with MSI off the
 * doorbell raises INTx (status bit 3) instead. modvm only: QEMU's pci-testdev has no MSI capability
 * and no doorbell. */
static void test_msi(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    const char *dir = getenv("PCI_TESTDEV_DIR");
    assert_non_null(dir);
    const char *const extra[] = {"--plugin-path", dir, "--device", "i440fx", "--device", "piix3",
                                 "--device", "pci-testdev,msi=on", NULL};
    static const char *const lines[] = {"msi: delivered vector 0x40", "msi: masked vector pending, delivered on unmask",
                                        "msi: off falls back to intx", NULL};
    struct proc_result r = run_guest("msi", extra);
    check_run("modvm msi", &r, 2 * 0x15 + 1, lines);
    proc_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_bridge_only),
        cmocka_unit_test(test_pc_bridges),
        cmocka_unit_test(test_with_testdev),
        cmocka_unit_test(test_pam_shadow),
        cmocka_unit_test(test_cf9_reset),
        cmocka_unit_test(test_msi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
