#!/usr/bin/env python3
"""tests/extlinux/extlinux_test.py — SeaBIOS boots EXTLINUX from a partitioned raw virtio-blk disk;
at its "boot:" prompt on COM1 the test types a label, and EXTLINUX's mboot.c32 starts the multiboot
guest exit-code.elf, under modvm and under QEMU (-M pc, TCG) for comparison.

    extlinux_test.py

The disk comes from mkimage.sh (syslinux mbr.bin + an active ext2 partition with EXTLINUX, labels
exit7 (the DEFAULT) and exit9). Under each VMM, COM1 is on stdout and stdin is a pipe:
  1. wait for "boot:" on COM1, type "exit9\\r"  -> "exit-code: 9", exit status 19
  2. wait for "boot:" on COM1, type "\\r"       -> the DEFAULT label: "exit-code: 7", status 15

Environment (set by tests/extlinux/meson.build):
  MODVM          the modvm executable
  EXIT_CODE_ELF  tests/guest's exit-code.elf
  MKIMAGE        mkimage.sh (builds the disk; needs root and loop devices)
  FETCH_SEABIOS  tests/firmware/fetch-seabios.sh (prints the SeaBIOS image to use)
  FIRMWARE_DIR   tests/firmware (this test uses firmware_test.py's helpers)
  QEMU           the QEMU binary (default qemu-system-x86_64); without it modvm runs alone

Exit status: 0 pass, 1 fail, 77 skip: not root, no loop devices, no /dev/kvm, no SeaBIOS, EXTLINUX
neither installed nor fetchable, or this host's KVM cannot run EXTLINUX (kvm_pvm: see below).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.environ.get("FIRMWARE_DIR") or os.path.join(os.path.dirname(__file__), "..", "firmware"))
from firmware_test import SKIP, com1_lines, fail, need_kvm, seabios_image, skip  # noqa: E402

PROMPT_TIMEOUT = 60   # seconds from the VMM's start to "boot:"
BOOT_TIMEOUT = 60     # seconds from typing the label to the VMM's exit
CHOICES = [           # what is typed at "boot:", the guest's line, the exit status
    (b"exit9\r", "exit-code: 9", (9 << 1) | 1),
    (b"\r", "exit-code: 7", (7 << 1) | 1),
]


def interact(argv, typed):
    """Runs argv with stdin a pipe and stdout/stderr in files; types `typed` once "boot:" shows up on
    stdout. Returns (status or None when it timed out, what, stdout, stderr)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err)
        status, what = None, "no 'boot:' prompt within %d s" % PROMPT_TIMEOUT
        deadline = time.monotonic() + PROMPT_TIMEOUT
        while time.monotonic() < deadline and p.poll() is None:
            out.seek(0)
            if b"boot:" in out.read():
                try:
                    p.stdin.write(typed)
                    p.stdin.flush()
                except BrokenPipeError:
                    pass
                what = "no exit within %d s of typing %r" % (BOOT_TIMEOUT, typed)
                deadline = time.monotonic() + BOOT_TIMEOUT
                break
            time.sleep(0.05)
        try:
            status = p.wait(max(deadline - time.monotonic(), 0.1))
            what = "exited"
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        out.seek(0)
        err.seek(0)
        return status, what, out.read(), err.read()


def host_kvm_cannot(err):
    """True when modvm stopped because this host's KVM is kvm_pvm (software-nested KVM on a VM without
    VMX/SVM): it runs unpaged protected-mode code through KVM's instruction emulator, which does not
    implement a protected-mode IRET, and EXTLINUX's core takes interrupts in 32-bit protected mode.
    QEMU -enable-kvm stops with the same emulation failure there."""
    return os.path.isdir("/sys/module/kvm_pvm") and b"KVM internal error" in err


def boot_all(name, argv):
    """Both CHOICES under one VMM; fails on any difference. Returns a summary line or None when this
    host's KVM cannot run the guest (modvm only)."""
    seen = []
    for typed, want_line, want_status in CHOICES:
        status, what, out, err = interact(argv, typed)
        lines = com1_lines(out)
        if status != want_status or want_line not in lines:
            if name == "modvm" and status == 1 and host_kvm_cannot(err):
                return None
            fail("%s, typed %r at boot:: %s, want status %d and the line %r, got status %s" %
                 (name, typed, what, want_status, want_line, status),
                 ("%s COM1" % name, out), ("%s stderr" % name, err))
        seen.append("%r -> %r, status %d" % (typed.decode(), want_line, status))
    return "; ".join(seen)


def main():
    need_kvm()
    fw = seabios_image()
    qemu = os.environ.get("QEMU") or "qemu-system-x86_64"
    with tempfile.TemporaryDirectory() as tmp:
        disk = os.path.join(tmp, "extlinux.img")
        r = subprocess.run([os.environ["MKIMAGE"], disk, os.environ["EXIT_CODE_ELF"]],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode == SKIP:
            skip(r.stdout.decode("utf-8", "replace").strip())
        if r.returncode != 0:
            fail("mkimage.sh failed (status %d)" % r.returncode, ("mkimage", r.stdout))

        modvm = boot_all("modvm", [os.environ["MODVM"], "run", "--firmware", fw,
                                   "--disk", disk + ",format=raw", "--device", "debug-exit",
                                   "--serial", "stdio"])
        if not shutil.which(qemu):
            qemu_said = "%s is not installed: no comparison" % qemu
        else:
            qemu_said = boot_all("qemu", [qemu, "-M", "pc", "-accel", "tcg", "-bios", fw, "-drive",
                                          "file=%s,format=raw,if=virtio" % disk,
                                          "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                                          "-display", "none", "-serial", "stdio", "-monitor", "none"])
    if modvm is None:
        skip("this host's KVM is kvm_pvm (software-nested): it cannot run EXTLINUX's protected-mode IRET "
             "('KVM internal error', emulation failure; QEMU -enable-kvm fails the same way). QEMU TCG: %s" %
             qemu_said)
    print("ok: modvm: %s" % modvm)
    print("    qemu (tcg): %s" % qemu_said)


if __name__ == "__main__":
    main()
