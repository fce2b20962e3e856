#!/usr/bin/env python3
"""platform.py - the measurements behind tests/bench/platform.sh (run that; it prepares the inputs).

Boots the same images under modvm and qemu-system-x86_64 -enable-kvm, interleaving the two VMMs run by
run, and prints the median time from just before spawning the process to a marker line read from its
stdout (COM1), with the ratio modvm/QEMU:
  (a) SeaBIOS -> boot sector: tests/firmware/bootsect.asm on a raw virtio-blk disk, firmware SeaBIOS;
      the marker is the boot sector's first line. Every run must also end with the boot sector's
      exit status (67). QEMU gets modvm's devices (-nodefaults: no VGA, no NIC, no floppy/IDE); one
      more row shows QEMU's default pc devices (VGA + VGA BIOS, e1000 + iPXE ROM) for reference.
  (b) kernel start -> "Linux version": Debian's kernel (vmlinux) through its PVH entry note, 512 MiB,
      the kernel command line of tests/linux/boot-banner.sh; the VMM is stopped at the banner.
Standard library only.
"""
import argparse
import os
import select
import signal
import statistics
import subprocess
import sys
import time

BOOTSECT_MARKER = b"bootsect: hello from sector 0"
BOOTSECT_STATUS = (0x21 << 1) | 1
LINUX_MARKER = b"Linux version"
LINUX_APPEND = "console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1 nokaslr"


def time_to_marker(argv, marker, timeout, wait_exit):
    """Spawns argv and returns (seconds to `marker` on stdout or None, exit status, stdout, stderr).
    With wait_exit the process runs to its end afterwards; otherwise it is stopped (SIGTERM, SIGKILL)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    fd = p.stdout.fileno()
    buf, found = b"", None
    deadline = t0 + timeout
    while found is None:
        left = deadline - time.perf_counter()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        if marker in buf[-(len(chunk) + len(marker)):]:
            found = time.perf_counter() - t0
    if not (found is not None and wait_exit):
        p.send_signal(signal.SIGTERM)
    try:
        out, err = p.communicate(timeout=max(deadline - time.perf_counter(), 10))
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return found, p.returncode, buf + out, err


def measure(name, argv, marker, runs, timeout, wait_exit, want_status, log, idx, results):
    """One run of argv; appends the time to results[name] or exits with the run's output."""
    t, status, out, err = time_to_marker(argv, marker, timeout, wait_exit)
    if t is None or (want_status is not None and status != want_status):
        sys.exit("platform.py: %s run %d: %s (status %s, want %s)\n---- stdout (end) ----\n%s\n"
                 "---- stderr (end) ----\n%s" % (
                     name, idx + 1, "no %r within %d s" % (marker.decode(), timeout) if t is None else
                     "wrong exit status", status, want_status, out[-2000:].decode(errors="replace"),
                     err[-2000:].decode(errors="replace")))
    results.setdefault(name, []).append(t)
    log(f"  {name} run {idx + 1}/{runs}: {t * 1e3:.0f} ms")


def series(label, variants, marker, runs, timeout, wait_exit, want_status, log):
    """Runs every variant `runs` times, interleaved; returns {name: median seconds}."""
    log(label)
    results = {}
    for i in range(runs):
        for name, argv in variants:
            measure(name, argv, marker, runs, timeout, wait_exit, want_status, log, i, results)
    return {name: statistics.median(ts) for name, ts in results.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modvm", required=True)
    ap.add_argument("--qemu", help="the QEMU binary (without it, modvm alone)")
    ap.add_argument("--firmware", required=True, help="the SeaBIOS image (bios-256k.bin)")
    ap.add_argument("--disk", required=True, help="the boot-sector disk image (raw)")
    ap.add_argument("--vmlinux", help="Debian's vmlinux with a PVH entry note")
    ap.add_argument("--no-linux", metavar="REASON", help="why (b) is not measured")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=180, help="seconds per run to the marker")
    ap.add_argument("--quiet", action="store_true", help="no per-run lines")
    a = ap.parse_args()
    log = (lambda s: None) if a.quiet else (lambda s: print(s, flush=True))
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit("platform.py: /dev/kvm is not available: both VMMs need it")

    # (a) SeaBIOS -> boot sector
    fw_variants = [("modvm", [a.modvm, "run", "--firmware", a.firmware, "--disk", a.disk + ",format=raw",
                              "--memory", "128", "--device", "debug-exit"])]
    if a.qemu:
        qemu_fw = [a.qemu, "-M", "pc", "-enable-kvm", "-m", "128", "-bios", a.firmware, "-no-user-config",
                   "-drive", "file=%s,format=raw,if=virtio" % a.disk,
                   "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
        fw_variants += [("qemu", qemu_fw + ["-nodefaults", "-nographic", "-serial", "stdio"]),
                        ("qemu-defaults", qemu_fw + ["-nographic"])]
    fw = series(f"(a) SeaBIOS -> boot sector ({a.disk}), {a.runs} runs each", fw_variants, BOOTSECT_MARKER,
                a.runs, a.timeout, True, BOOTSECT_STATUS, log)

    # (b) PVH kernel -> banner
    linux = None
    if a.vmlinux:
        lx_variants = [("modvm", [a.modvm, "run", "--kernel", a.vmlinux, "--append", LINUX_APPEND,
                                  "--memory", "512", "--no-reboot"])]
        if a.qemu:
            lx_variants.append(("qemu", [a.qemu, "-enable-kvm", "-M", "pc", "-m", "512", "-nodefaults",
                                         "-no-user-config", "-display", "none", "-no-reboot", "-serial",
                                         "stdio", "-kernel", a.vmlinux, "-append", LINUX_APPEND]))
        linux = series(f"(b) PVH kernel -> 'Linux version' ({a.vmlinux}), {a.runs} runs each", lx_variants,
                       LINUX_MARKER, a.runs, a.timeout, False, None, log)

    def row(label, m, q, target=True):
        ratio = m / q if q else None
        met = "n/a" if ratio is None or not target else ("yes" if ratio <= 1.0 else "NO")
        print(f"{label:<44} {m:>9.3f} {'n/a' if q is None else format(q, '.3f'):>9} "
              f"{'n/a' if ratio is None else format(ratio, '.3f'):>11}  {'<= 1.0' if target else '(info)':<7} {met}")

    head = f"{'metric (median seconds to the marker)':<44} {'modvm':>9} {'qemu':>9} {'modvm/qemu':>11}  {'target':<7} met"
    print()
    print(head)
    print("-" * len(head))
    row("(a) SeaBIOS -> boot sector's first line", fw["modvm"], fw.get("qemu"))
    if "qemu-defaults" in fw:
        row("    vs QEMU's default pc devices", fw["modvm"], fw["qemu-defaults"], target=False)
    if linux:
        row("(b) PVH kernel start -> 'Linux version'", linux["modvm"], linux.get("qemu"))
    else:
        print(f"{'(b) PVH kernel start -> Linux version':<44} {'n/a':>9} {'n/a':>9} {'n/a':>11}  "
              f"{'<= 1.0':<7} n/a: {a.no_linux or 'no --vmlinux'}")
    print()
    if a.qemu:
        print(f"qemu: {a.qemu} -M pc -enable-kvm; (a) -nodefaults -nographic (modvm's devices), "
              f"the info row -nographic only; firmware {a.firmware}")
    else:
        print(f"qemu: not found, modvm only; firmware {a.firmware}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
