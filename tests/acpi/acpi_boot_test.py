#!/usr/bin/env python3
"""tests/acpi/acpi_boot_test.py — the ACPI tables end to end: SeaBIOS reads them through fw_cfg,
runs the loader script, and a boot sector (acpi-boot.asm) checks them from inside the guest, reads
the PM timer and powers off through \\_S5.

    acpi_boot_test.py CASE

CASE is one of:
  modvm    modvm + SeaBIOS + the PC platform (with "acpi"): the boot sector's four lines, then a
           clean power-off (exit status 0) through PM1a_CNT
  vs-qemu  the same boot sector under QEMU (-M pc, its own tables) prints the same lines and powers
           off the same way: the boot sector checks what an OS relies on, not our layout

Environment (set by tests/acpi/meson.build): MODVM, ACPI_BOOT (the 2048-byte image), QEMU (optional),
FETCH_SEABIOS and FIRMWARE_DIR (this test uses tests/firmware/firmware_test.py's helpers).
Exit status: 0 pass, 1 fail, 77 skip (no /dev/kvm, no SeaBIOS, no QEMU for vs-qemu).
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.environ.get("FIRMWARE_DIR") or os.path.join(os.path.dirname(__file__), "..", "firmware"))
from firmware_test import com1_lines, fail, need_kvm, seabios_image, skip  # noqa: E402

TIMEOUT = 60
LINES = [
    "acpi-boot: looking for the RSDP",
    "acpi-boot: RSDP, RSDT, FADT, FACS and DSDT are valid",
    "acpi-boot: the PM timer runs",
    "acpi-boot: entering S5 through PM1a_CNT",
]


def boot_lines(raw):
    """The boot sector's lines on COM1."""
    return [line for line in com1_lines(raw) if line.startswith("acpi-boot:")]


def make_disk(tmp):
    path = os.path.join(tmp, "acpi-boot.img")
    with open(os.environ["ACPI_BOOT"], "rb") as f:
        data = f.read()
    if len(data) != 2048 or data[510:512] != b"\x55\xaa":
        fail("%s is not the 2048-byte boot image" % os.environ["ACPI_BOOT"])
    with open(path, "wb") as f:
        f.write(data)
        f.truncate(1 << 20)
    return path


def run(argv):
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        fail("timed out after %d s: %s" % (TIMEOUT, " ".join(argv)), ("stdout", e.stdout or b""),
             ("stderr", e.stderr or b""))
    return r.returncode, r.stdout, r.stderr


def check(what, status, out, err):
    lines = boot_lines(out)
    if status != 0 or lines != LINES:
        fail("%s: expected exit status 0 after %r, got status %d and %r" % (what, LINES, status, lines),
             ("COM1", out), ("stderr", err))


def case_modvm():
    need_kvm()
    fw = seabios_image()
    with tempfile.TemporaryDirectory() as tmp:
        disk = make_disk(tmp)
        status, out, err = run([os.environ["MODVM"], "run", "--firmware", fw, "--disk", disk + ",format=raw",
                                "--device", "debug-exit"])
    check("modvm", status, out, err)
    print("ok: modvm powered off through S5 with status 0 after:")
    for line in LINES:
        print("  " + line)


def case_vs_qemu():
    need_kvm()
    fw = seabios_image()
    qemu = os.environ.get("QEMU") or "qemu-system-x86_64"
    if not shutil.which(qemu):
        skip("%s is not installed" % qemu)
    with tempfile.TemporaryDirectory() as tmp:
        disk = make_disk(tmp)
        status, out, err = run([qemu, "-M", "pc", "-accel", "kvm", "-bios", fw, "-m", "128",
                                "-drive", "file=%s,format=raw,if=virtio" % disk,
                                "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-nographic"])
    check("qemu", status, out, err)
    print("ok: QEMU's tables pass the same checks")


CASES = {"modvm": case_modvm, "vs-qemu": case_vs_qemu}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: acpi_boot_test.py %s" % "|".join(CASES))
        sys.exit(2)
    CASES[sys.argv[1]]()
