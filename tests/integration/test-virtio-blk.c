/* tests/integration/test-virtio-blk.c — a virtio-blk disk end to end: the virtio-blk test guest
 * (tests/guest/virtio-blk.asm) drives the legacy transport on the i440fx PCI bus under modvm, and
 * the same guest runs under QEMU with its virtio-blk-pci; output, exit status and the resulting
 * disk contents must agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

#define SECTOR 512
#define WRITE_PATTERN "virtio-blk guest wrote sector 2"

static const char *const expected_lines[] = {
    "virtio-blk: capacity 64 sectors",      "virtio-blk: sector 0: modvm-disk-sec-0",
    "virtio-blk: sector 1: modvm-disk-sec-1", "virtio-blk: serial modvm-test-serial",
    "virtio-blk: write/read-back ok",       "virtio-blk: out-of-range read -> IOERR",
    "virtio-blk: write-zeroes ok",          "virtio-blk: discard ok",
    "virtio-blk: ok",                       NULL};

/* Writes a 64-sector image whose sectors 0 and 1 carry the markers the guest looks for. */
static void make_disk(const char *path)
{
    static uint8_t img[64 * SECTOR];
    memset(img, 0x5a, sizeof(img));
    memcpy(img, "modvm-disk-sec-0", 16);
    memcpy(img + SECTOR, "modvm-disk-sec-1", 16);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
    close(fd);
}

/* Checks what the guest left on the disk: sector 2 written, sector 1 zeroed. */
static void check_disk(const char *who, const char *path)
{
    uint8_t sec[3 * SECTOR];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, sec, sizeof(sec)), (ssize_t)sizeof(sec));
    close(fd);
    if (memcmp(sec + 2 * SECTOR, WRITE_PATTERN, strlen(WRITE_PATTERN)) != 0)
        fail_msg("%s: sector 2 does not hold the guest's pattern", who);
    for (size_t i = SECTOR; i < 2 * SECTOR; i++)
        if (sec[i] != 0)
            fail_msg("%s: sector 1 byte %zu is 0x%02x after write-zeroes/discard", who, i - SECTOR, sec[i]);
}

static void virtio_blk_guest(void **state)
{
    (void)state;
    ITEST_REQUIRE_KVM();
    char *dir = itest_tmpdir();
    char disk[512], diskarg[600];
    snprintf(disk, sizeof(disk), "%s/disk.img", dir);
    make_disk(disk);
    snprintf(diskarg, sizeof(diskarg), "%s,format=raw,serial=modvm-test-serial", disk);
    const char *argv[] = {itest_modvm(), "run", "--kernel", itest_guest("virtio-blk"), "--device", "i440fx",
                          "--device", "piix3", "--device", "debug-exit", "--disk", diskarg, NULL};
    struct proc_result r;
    assert_int_equal(proc_run(&(struct proc_opts){.argv = argv, .timeout_ms = 60000}, &r), 0);
    if (!r.exited || r.status != 41 || !itest_lines_match("modvm virtio-blk", r.out, expected_lines)) {
        itest_dump("modvm", &r);
        fail();
    }
    check_disk("modvm", disk);
    proc_result_free(&r);

    if (itest_have_qemu()) {
        make_disk(disk);
        char drive[600];
        snprintf(drive, sizeof(drive), "file=%s,format=raw,if=none,id=d0", disk);
        const char *qargv[] = {itest_qemu_runner(), itest_guest("virtio-blk"), "-drive", drive, "-device",
                               "virtio-blk-pci,drive=d0,serial=modvm-test-serial", NULL};
        assert_int_equal(proc_run(&(struct proc_opts){.argv = qargv, .timeout_ms = 60000}, &r), 0);
        if (!r.exited || r.status != 41 || !itest_lines_match("qemu virtio-blk", r.out, expected_lines)) {
            itest_dump("qemu", &r);
            fail();
        }
        check_disk("qemu", disk);
        proc_result_free(&r);
    }
    itest_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(virtio_blk_guest)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
