#!/usr/bin/env python3
"""tests/extlinux/extlinux_test.py — SeaBIOS boots EXTLINUX from a partitioned raw virtio-blk disk;
at its "boot:" prompt on COM1 the test types a label, and EXTLINUX's mboot.c32 starts the multiboot
guest exit-code.elf, under modvm and under QEMU (-M pc, TCG) for comparison.

    extlinux_test.py

The disk comes from mkimage.sh (syslinux mbr.bin + an active ext2 partition with EXTLINUX, labels
exit7 (the DEFAULT) and exit9). Under each VMM, COM1 is on stdout and stdin is a pipe:
  1. wait for "boot:" on COM1, type "exit9\\r"  -> "exit-code: 9", exit status 19
  2. wait for "boot:" on COM1, type "\\r"       -> the DEFAULT label: "exit-code: 7", status 15

Where this host's KVM cannot run the guest (no /dev/kvm, or kvm_pvm: see host_kvm_cannot), modvm runs
in the nested-KVM VM of tests/linux/nested-vm.sh instead when MODVM_LINUX_TESTS=1: one L1 VM (QEMU
TCG with emulated SVM) holds the modvm build, SeaBIOS and the disk at their host paths, and
l1-interact.sh does there what interact() does here, for each choice. QEMU still runs on the host.

Environment (set by tests/extlinux/meson.build):
  MODVM          the modvm executable
  EXIT_CODE_ELF  tests/guest's exit-code.elf
  MKIMAGE        mkimage.sh (builds the disk; needs root and loop devices)
  FETCH_SEABIOS  tests/firmware/fetch-seabios.sh (prints the SeaBIOS image to use)
  FIRMWARE_DIR   tests/firmware (this test uses firmware_test.py's helpers)
  NESTED_VM      tests/linux/nested-vm.sh
  QEMU           the QEMU binary (default qemu-system-x86_64); without it modvm runs alone
  MODVM_LINUX_TESTS=1  allows the nested-KVM VM (it fetches Debian's kernel once; about 10 s a run)

Exit status: 0 pass, 1 fail, 77 skip: not root, no loop devices, no SeaBIOS, EXTLINUX neither
installed nor fetchable, or this host's KVM cannot run EXTLINUX and the nested VM is not allowed or
not possible here.
"""
import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.environ.get("FIRMWARE_DIR") or os.path.join(os.path.dirname(__file__), "..", "firmware"))
from firmware_test import SKIP, com1_lines, fail, seabios_image, skip  # noqa: E402

PROMPT_TIMEOUT = 60   # seconds from the VMM's start to "boot:"
BOOT_TIMEOUT = 60     # seconds from typing the label to the VMM's exit
CHOICES = [           # what is typed at "boot:", the guest's line, the exit status
    (b"exit9\r", "exit-code: 9", (9 << 1) | 1),
    (b"\r", "exit-code: 7", (7 << 1) | 1),
]
# The whole nested-KVM run: about 20 s to boot the L1 VM, then each choice within both timeouts.
NESTED_TIMEOUT = 60 + len(CHOICES) * (PROMPT_TIMEOUT + BOOT_TIMEOUT)


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


def kvm_unusable():
    """Why this host's /dev/kvm cannot be used, or None."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        return "/dev/kvm is not available (%s)" % e.strerror
    return None


def nested_runs(argv, fw, disk, tmp, why):
    """Every CHOICES under argv (modvm) in the nested-KVM VM of tests/linux/nested-vm.sh: one L1 VM
    boot in which l1-interact.sh does interact()'s work once per choice. Returns what interact()
    returns, one per choice, and a summary: what nested-vm.sh said and each run's L1 time. Skips when
    nested-vm.sh does, saying `why` modvm is not running on this host's KVM."""
    console = os.path.join(tmp, "l1-console.log")
    # what l1-interact.sh types, as printf %b escapes, one word per choice
    typed = " ".join("".join(chr(b) if chr(b).isalnum() else "\\0%03o" % b for b in t) for t, _, _ in CHOICES)
    r = subprocess.run([os.environ["NESTED_VM"], "--timeout", str(NESTED_TIMEOUT), "--console", console,
                        "--add", fw, "--add", disk, argv[0],
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "l1-interact.sh"),
                        str(PROMPT_TIMEOUT), str(BOOT_TIMEOUT), typed, "--"] + argv,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    said = r.stdout.decode("utf-8", "replace").strip()
    if r.returncode == SKIP:
        skip("%s, and the nested-KVM VM cannot run here: %s" % (why, said.split("\n")[-1]))
    if r.returncode != 0:
        fail("the nested-KVM VM failed (nested-vm.sh status %d)" % r.returncode, ("nested-vm.sh", said))
    with open(console, "rb") as f:
        text = f.read()
    # "NESTED-RUN N STATE STATUS SECONDS" and base64 "NESTED-OUT N ..." / "NESTED-ERR N ..." lines
    ends, outs, errs = {}, {}, {}
    for line in text.decode("latin-1").splitlines():
        words = line.strip().split(" ")
        if len(words) == 5 and words[0] == "NESTED-RUN":
            ends[int(words[1])] = words[2], words[3], words[4]
        elif len(words) == 3 and words[0] in ("NESTED-OUT", "NESTED-ERR"):
            into = outs if words[0] == "NESTED-OUT" else errs
            into[int(words[1])] = into.get(int(words[1]), "") + words[2]
    runs, times = [], []
    for i, (t, _, _) in enumerate(CHOICES):
        if i not in ends:
            fail("the nested-KVM VM reported no run for %r" % t, ("nested-vm.sh", said), ("L1 console", text))
        state, status, seconds = ends[i]
        times.append("%r %s s" % (t.decode(), seconds))
        what = {"exited": "exited",
                "no-prompt": "no 'boot:' prompt within %d s of L1 time" % PROMPT_TIMEOUT,
                "no-exit": "no exit within %d s of L1 time after typing %r" % (BOOT_TIMEOUT, t)}[state]
        try:
            out = base64.b64decode(outs.get(i, ""), validate=True)
            err = base64.b64decode(errs.get(i, ""), validate=True)
        except ValueError:
            fail("the L1 console garbled run %d's output" % i, ("L1 console", text))
        runs.append((int(status) if state == "exited" else None, what, out, err))
    return runs, "%s\nL1 time per run: %s" % (said, ", ".join(times))


def boot_all(name, runs):
    """Checks the runs of one VMM, one (status, what, stdout, stderr) per CHOICES; fails on any
    difference. Returns a summary line or None when this host's KVM cannot run the guest (modvm
    only). `runs` may be a generator: no further choice runs once one has failed."""
    seen = []
    for (typed, want_line, want_status), (status, what, out, err) in zip(CHOICES, runs):
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

        argv = [os.environ["MODVM"], "run", "--firmware", fw, "--disk", disk + ",format=raw",
                "--device", "debug-exit", "--serial", "stdio"]
        modvm, nested = None, kvm_unusable()
        if nested is None:
            modvm = boot_all("modvm", (interact(argv, typed) for typed, _, _ in CHOICES))
            if modvm is None:
                nested = ("this host's KVM is kvm_pvm (software-nested): it cannot run EXTLINUX's protected-mode "
                          "IRET ('KVM internal error', emulation failure; QEMU -enable-kvm fails the same way)")
        if not shutil.which(qemu):
            qemu_said = "%s is not installed: no comparison" % qemu
        else:
            qemu_argv = [qemu, "-M", "pc", "-accel", "tcg", "-bios", fw, "-drive",
                         "file=%s,format=raw,if=virtio" % disk, "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                         "-display", "none", "-serial", "stdio", "-monitor", "none"]
            qemu_said = boot_all("qemu", (interact(qemu_argv, typed) for typed, _, _ in CHOICES))
        if nested is not None:
            if os.environ.get("MODVM_LINUX_TESTS") != "1":
                skip("%s; set MODVM_LINUX_TESTS=1 to run modvm in a nested-KVM VM instead. QEMU TCG: %s" %
                     (nested, qemu_said))
            runs, said = nested_runs(argv, fw, disk, tmp, nested)
            modvm = boot_all("modvm in the nested-KVM VM", runs)
    if nested is None:
        print("ok: modvm: %s" % modvm)
    else:
        print("ok: modvm in the nested-KVM VM (%s): %s" % (nested, modvm))
        print("    " + said.replace("\n", "\n    "))
    print("    qemu (tcg): %s" % qemu_said)


if __name__ == "__main__":
    main()
