#!/usr/bin/env python3
"""tests/firmware/firmware_test.py — firmware boot (SeaBIOS) under modvm, compared with QEMU.

    firmware_test.py CASE

CASE is one of:
  no-disk       SeaBIOS boots with no disk: its banner on COM1 (sercon), then "No bootable device."
  bootsect      the test boot sector on a raw virtio-blk disk: its lines and exit status 67
  default-boot  the same with only --disk and --boot disk: SeaBIOS is the default firmware
  vs-qemu       the boot sector's COM1 text and exit status equal QEMU's (-M pc, TCG, SeaBIOS)
  reboot        a boot sector that resets once (port 0x92): SeaBIOS runs its POST twice, as under QEMU
  bootorder     two disks: --boot disk boots the first; a fw-cfg bootorder naming slot 3 boots the second
  optionrom     pci-testdev with romfile= (optionrom.bin): SeaBIOS runs the expansion ROM, whose line (with
                the bus/devfn SeaBIOS passes in AX) comes before the boot sector's; the same under QEMU
  optionrom-errors  a romfile that is missing, not a file, empty or too large: one clear line each
  cli-errors    the firmware-related command-line mistakes give one clear line each

Environment (set by tests/firmware/meson.build):
  MODVM          the modvm executable
  BOOTSECT       the assembled boot sector (bootsect.bin, 1024 bytes)
  REBOOT         the assembled reset-once boot sector (reboot.bin, 512 bytes)
  OPTIONROM      the test option ROM for pci-testdev (optionrom.bin, checksummed)
  PCI_TESTDEV_DIR  where the test plugin pci-testdev is built (--plugin-path)
  FETCH_SEABIOS  fetch-seabios.sh (prints the SeaBIOS image to use)
  QEMU           the QEMU binary (default qemu-system-x86_64)

Exit status: 0 pass, 1 fail, 77 skip (no /dev/kvm, no SeaBIOS image, no QEMU for vs-qemu).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
EXIT_OK_STATUS = (0x21 << 1) | 1
REBOOT_STATUS = (0x22 << 1) | 1
REBOOT_LINES = [
    "SeaBIOS (version *",
    "Booting from Hard Disk...",
    "reboot: first boot, resetting through port 0x92",
    "SeaBIOS (version *",
    "Booting from Hard Disk...",
    "reboot: second boot after the reset",
]
RUN_TIMEOUT = 60
BOOT_LINES = [
    "bootsect: hello from sector 0",
    "bootsect: reading sector 1 (int 13h ah=42h)",
    "bootsect: sector 1 says hello",
    "bootsect: bios area write-protected",
    "bootsect: done",
]
ANSI = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|[A-Za-z])")


def skip(why):
    print("skipped: " + why)
    sys.exit(SKIP)


def fail(why, *outputs):
    print("FAIL: " + why)
    for name, text in outputs:
        print("---- %s ----" % name)
        print(text if isinstance(text, str) else text.decode("utf-8", "replace"))
    sys.exit(1)


def need_kvm():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
    except OSError as e:
        skip("/dev/kvm not available: %s" % e.strerror)


def seabios_image():
    """The SeaBIOS image: /usr/share/seabios/bios-256k.bin or one fetched into the cache."""
    r = subprocess.run([os.environ["FETCH_SEABIOS"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        skip("no SeaBIOS image: " + r.stderr.decode("utf-8", "replace").strip())
    return r.stdout.decode().strip()


def com1_lines(raw):
    """COM1 bytes as text lines: terminal escapes and carriage returns removed, blank lines dropped."""
    text = ANSI.sub(b"", raw).replace(b"\r", b"\n").decode("utf-8", "replace")
    return [line.rstrip() for line in text.split("\n") if line.strip()]


def from_boot(lines):
    """The lines from the firmware's last "Booting from ..." before the boot sector's first line on:
    what follows SeaBIOS's banner, option ROMs and boot menu, which differ between machines."""
    first = next((i for i, l in enumerate(lines) if l.startswith("bootsect:")), None)
    if first is None:
        return []
    if first > 0 and lines[first - 1].startswith("Booting from"):
        first -= 1
    return lines[first:]


def make_disk(tmp, var="BOOTSECT", size=1024):
    """The boot sector image in $var (`size` bytes), padded to a 1 MiB raw image."""
    path = os.path.join(tmp, var.lower() + ".img")
    with open(os.environ[var], "rb") as f:
        data = f.read()
    if len(data) != size or data[510:512] != b"\x55\xaa":
        fail("%s is not the %d-byte boot sector image" % (os.environ[var], size))
    with open(path, "wb") as f:
        f.write(data)
        f.truncate(1 << 20)
    return path


def run(argv, timeout=RUN_TIMEOUT):
    """Runs argv to completion; returns (status, stdout, stderr). A timeout is a failure."""
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        fail("timed out after %d s: %s" % (timeout, " ".join(argv)), ("stdout", e.stdout or b""),
             ("stderr", e.stderr or b""))
    return r.returncode, r.stdout, r.stderr


def run_until(argv, marker, timeout=RUN_TIMEOUT):
    """Runs argv until `marker` shows up in its stdout, then stops it with SIGTERM; returns
    (stdout, stderr, found)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        found = False
        while time.monotonic() < deadline and p.poll() is None:
            out.seek(0)
            if marker in out.read():
                found = True
                break
            time.sleep(0.1)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        out.seek(0)
        err.seek(0)
        return out.read(), err.read(), found


def case_no_disk():
    need_kvm()
    fw = seabios_image()
    out, err, found = run_until([os.environ["MODVM"], "run", "--firmware", fw, "-v"], b"No bootable device.")
    lines = com1_lines(out)
    if not found:
        fail("SeaBIOS did not reach 'No bootable device.'", ("COM1", out), ("stderr", err))
    if not lines or not lines[0].startswith("SeaBIOS (version"):
        fail("COM1 does not start with SeaBIOS's banner", ("COM1", out), ("stderr", err))
    print("ok: %s; then %r" % (lines[0], lines[-1]))


def check_bootsect(status, out, err, what):
    lines = from_boot(com1_lines(out))
    if status != EXIT_OK_STATUS or [l for l in lines if l.startswith("bootsect:")] != BOOT_LINES:
        fail("%s: expected status %d and the boot sector's lines %r, got status %d" %
             (what, EXIT_OK_STATUS, BOOT_LINES, status), ("COM1", out), ("stderr", err))
    return lines


def case_bootsect():
    need_kvm()
    fw = seabios_image()
    with tempfile.TemporaryDirectory() as tmp:
        disk = make_disk(tmp)
        status, out, err = run([os.environ["MODVM"], "run", "--firmware", fw, "--disk", disk + ",format=raw",
                                "--device", "debug-exit"])
        lines = check_bootsect(status, out, err, "modvm --firmware --disk")
    print("ok: status %d, %d lines from the boot sector" % (status, len(lines)))


def case_default_boot():
    need_kvm()
    if not os.access("/usr/share/seabios/bios-256k.bin", os.R_OK):
        skip("the default firmware needs Debian's seabios package installed (apt-get install seabios)")
    with tempfile.TemporaryDirectory() as tmp:
        disk = make_disk(tmp)
        status, out, err = run([os.environ["MODVM"], "run", "--disk", disk + ",readonly=on", "--boot", "disk",
                                "--device", "debug-exit"])
        check_bootsect(status, out, err, "modvm --disk --boot disk")
    print("ok: status %d" % status)


def case_vs_qemu():
    need_kvm()
    fw = seabios_image()
    qemu = os.environ.get("QEMU") or "qemu-system-x86_64"
    if not shutil.which(qemu):
        skip("%s is not installed" % qemu)
    with tempfile.TemporaryDirectory() as tmp:
        disk = make_disk(tmp)
        m_status, m_out, m_err = run([os.environ["MODVM"], "run", "--firmware", fw, "--disk", disk + ",format=raw",
                                      "--device", "debug-exit"])
        q_status, q_out, q_err = qemu_run(qemu, fw, disk)
    m_lines, q_lines = from_boot(com1_lines(m_out)), from_boot(com1_lines(q_out))
    if m_status != q_status or m_lines != q_lines or not m_lines:
        fail("modvm (status %d) and QEMU (status %d) differ after SeaBIOS's banner:\n  modvm %r\n  qemu  %r" %
             (m_status, q_status, m_lines, q_lines), ("modvm COM1", m_out), ("modvm stderr", m_err),
             ("qemu COM1", q_out), ("qemu stderr", q_err))
    print("ok: both status %d, both print:" % m_status)
    for line in m_lines:
        print("  " + line)


def qemu_run(qemu, fw, disk, extra=()):
    """The boot sector under QEMU's pc machine with SeaBIOS `fw`, TCG, the disk on virtio, and `extra`
    options. -nographic makes QEMU tell SeaBIOS "no graphics" (fw_cfg), so SeaBIOS's serial console
    mirrors INT 10h text to COM1 as under modvm, chained to the default VGA's BIOS."""
    return run([qemu, "-M", "pc", "-accel", "tcg", "-bios", fw, "-drive", "file=%s,format=raw,if=virtio" % disk,
                "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-nographic"] + list(extra))


def case_reboot():
    need_kvm()
    fw = seabios_image()
    qemu = os.environ.get("QEMU") or "qemu-system-x86_64"
    with tempfile.TemporaryDirectory() as tmp:
        disk = make_disk(tmp, "REBOOT", 512)
        m_status, m_out, m_err = run([os.environ["MODVM"], "run", "--firmware", fw, "--disk", disk,
                                      "--device", "debug-exit"])
        keep = ("SeaBIOS (version", "Booting from", "reboot:")
        m_lines = [l for l in com1_lines(m_out) if l.startswith(keep)]
        ok = m_status == REBOOT_STATUS and len(m_lines) == len(REBOOT_LINES) and all(
            l == w or (w.endswith("*") and l.startswith(w[:-1])) for l, w in zip(m_lines, REBOOT_LINES))
        if not ok:
            fail("modvm: expected status %d and %r, got status %d" % (REBOOT_STATUS, REBOOT_LINES, m_status),
                 ("COM1", m_out), ("stderr", m_err))
        if not shutil.which(qemu):
            print("ok: status %d (%s is not installed: no comparison)" % (m_status, qemu))
            return
        q_status, q_out, q_err = qemu_run(qemu, fw, disk)
    q_lines = [l for l in com1_lines(q_out) if l.startswith(keep)]
    if (q_status, q_lines) != (m_status, m_lines):
        fail("modvm (status %d) and QEMU (status %d) differ:\n  modvm %r\n  qemu  %r" %
             (m_status, q_status, m_lines, q_lines), ("qemu COM1", q_out), ("qemu stderr", q_err))
    print("ok: both status %d, both print:" % m_status)
    for line in m_lines:
        print("  " + line)


def case_bootorder():
    need_kvm()
    fw = seabios_image()
    with tempfile.TemporaryDirectory() as tmp:
        reboot, bootsect = make_disk(tmp, "REBOOT", 512), make_disk(tmp)
        base = [os.environ["MODVM"], "run", "--firmware", fw, "--disk", reboot, "--disk", bootsect, "--boot", "disk",
                "--device", "debug-exit"]
        status, out, err = run(base)
        if status != REBOOT_STATUS:
            fail("--boot disk: expected the first disk (reset-once sector, status %d), got status %d" %
                 (REBOOT_STATUS, status), ("COM1", out), ("stderr", err))
        status, out, err = run(base + ["--device", "fw-cfg,bootorder=/pci@i0cf8/scsi@3/disk@0,,0"])
        check_bootsect(status, out, err, "bootorder naming slot 3")
    print("ok: --boot disk boots slot 2, bootorder=/pci@i0cf8/scsi@3/disk@0,0 boots slot 3")


def case_cli_errors():
    modvm = os.environ["MODVM"]
    with tempfile.TemporaryDirectory() as tmp:
        odd = os.path.join(tmp, "odd.bin")
        with open(odd, "wb") as f:
            f.write(b"\x90" * 1000)
        disk = os.path.join(tmp, "d.img")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        cases = [
            (["--kernel", odd, "--firmware", "seabios"], 1, "--kernel and --firmware together are not supported yet"),
            (["--disk", disk + ",format=qcow2"], 2, "format 'qcow2' is not supported (only format=raw)"),
            (["--disk", disk + ",bus=ide"], 2, "bus 'ide' is not supported (only bus=virtio)"),
            (["--disk", disk + ",cache=none"], 2, "unknown option 'cache'"),
            (["--disk", disk, "--boot", "cdrom"], 2, "booting from cdrom is not supported yet"),
            (["--disk", disk, "--boot", "floppy"], 2, "expected a list of disk, cdrom, net"),
            (["--kernel", odd, "--boot", "disk"], 1, "--boot orders the firmware's boot devices"),
            (["--firmware", os.path.join(tmp, "missing.bin")], 1, "cannot open firmware"),
            (["--firmware", odd], 1, "a whole number of 64 KiB blocks"),
            ([], 1, "no guest to run"),
        ]
        bad = []
        for args, want_status, want in cases:
            status, out, err = run([modvm, "run"] + args)
            text = err.decode("utf-8", "replace")
            if status != want_status or want not in text or len(text.strip().split("\n")) != 1:
                bad.append("modvm run %s: want status %d and one line with %r, got status %d:\n%s" %
                           (" ".join(args), want_status, want, status, text))
        if bad:
            fail("\n".join(bad))
    print("ok: %d command lines refused with a clear message" % len(cases))


OPTIONROM_LINE = re.compile(r"optionrom: hello from bus ([0-9a-f]{2}) devfn ([0-9a-f]{2})$")
QEMU_TESTDEV_SLOT = 5


def check_optionrom(status, out, err, what):
    """The boot sector ran (status, lines) and, before its first line, the option ROM printed its line
    exactly once; returns the (bus, devfn) it printed."""
    check_bootsect(status, out, err, what)
    lines = com1_lines(out)
    found = [(i, OPTIONROM_LINE.match(l)) for i, l in enumerate(lines) if l.startswith("optionrom:")]
    first_boot = next(i for i, l in enumerate(lines) if l.startswith("bootsect:"))
    if len(found) != 1 or not found[0][1] or found[0][0] > first_boot:
        fail("%s: expected one line 'optionrom: hello from bus BB devfn DD' before the boot sector's, got %r" %
             (what, [lines[i] for i, _ in found]), ("COM1", out), ("stderr", err))
    return int(found[0][1].group(1), 16), int(found[0][1].group(2), 16)


def case_optionrom():
    need_kvm()
    fw = seabios_image()
    qemu = os.environ.get("QEMU") or "qemu-system-x86_64"
    rom = os.environ["OPTIONROM"]
    with tempfile.TemporaryDirectory() as tmp:
        disk = make_disk(tmp)
        status, out, err = run([os.environ["MODVM"], "run", "--firmware", fw, "--disk", disk + ",format=raw",
                                "--device", "debug-exit", "--plugin-path", os.environ["PCI_TESTDEV_DIR"],
                                "--device", "pci-testdev,romfile=" + rom])
        bus, devfn = check_optionrom(status, out, err, "modvm pci-testdev,romfile=")
        # the device takes the first free slot from 2 up (function 0); the disk takes another
        if bus != 0 or devfn & 7 or devfn >> 3 < 2:
            fail("modvm: the option ROM ran for bus %02x devfn %02x, not function 0 of a slot from 2 up on bus 0" %
                 (bus, devfn), ("COM1", out))
        if not shutil.which(qemu):
            print("ok: modvm ran the option ROM for 00:%02x.0 (%s is not installed: no comparison)" %
                  (devfn >> 3, qemu))
            return
        q_status, q_out, q_err = qemu_run(qemu, fw, disk, [
            "-device", "pci-testdev,addr=%x.0,romfile=%s" % (QEMU_TESTDEV_SLOT, rom)])
    q_bdf = check_optionrom(q_status, q_out, q_err, "qemu pci-testdev,romfile=")
    if q_bdf != (0, QEMU_TESTDEV_SLOT << 3):
        fail("qemu: the option ROM printed bus %02x devfn %02x for the device at 00:%02x.0" %
             (q_bdf + (QEMU_TESTDEV_SLOT,)), ("qemu COM1", q_out))
    print("ok: both ran the option ROM before the boot sector (modvm devfn %02x, QEMU devfn %02x), status %d" %
          (devfn, q_bdf[1], status))


def case_optionrom_errors():
    need_kvm()
    fw = seabios_image()
    modvm = os.environ["MODVM"]
    with tempfile.TemporaryDirectory() as tmp:
        empty, large = os.path.join(tmp, "empty.rom"), os.path.join(tmp, "large.rom")
        open(empty, "wb").close()
        with open(large, "wb") as f:
            f.truncate((16 << 20) + 1)
        cases = [
            (os.path.join(tmp, "missing.rom"), "cannot open it: No such file or directory"),
            (tmp, "not a regular file"),
            (empty, "0 bytes; an expansion ROM has 1 byte to 16 MiB"),
            (large, "16777217 bytes; an expansion ROM has 1 byte to 16 MiB"),
        ]
        bad = []
        for path, want in cases:
            argv = [modvm, "run", "--firmware", fw, "--plugin-path", os.environ["PCI_TESTDEV_DIR"],
                    "--device", "pci-testdev,romfile=" + path]
            status, out, err = run(argv)
            text = err.decode("utf-8", "replace")
            want = "romfile '%s': %s" % (path, want)
            if status != 1 or want not in text or len(text.strip().split("\n")) != 1:
                bad.append("%s: want status 1 and one line with %r, got status %d:\n%s" % (" ".join(argv), want,
                                                                                       status, text))
        if bad:
            fail("\n".join(bad))
    print("ok: %d bad romfiles refused with a clear message" % len(cases))


CASES = {
    "no-disk": case_no_disk,
    "bootsect": case_bootsect,
    "default-boot": case_default_boot,
    "vs-qemu": case_vs_qemu,
    "reboot": case_reboot,
    "bootorder": case_bootorder,
    "cli-errors": case_cli_errors,
    "optionrom": case_optionrom,
    "optionrom-errors": case_optionrom_errors,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: firmware_test.py %s" % "|".join(CASES), file=sys.stderr)
        sys.exit(2)
    CASES[sys.argv[1]]()
