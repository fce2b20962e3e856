#!/usr/bin/env python3
"""bench.py - the measurements behind tests/bench/bench.sh (run that; it builds the guest).

Runs the pio-loop guest under modvm and under qemu-system-x86_64 -enable-kvm and prints:
  (a) port write: (wall time with iters=N - wall time with iters=0) / N, median of --runs each
  (b) start -> first serial byte: from just before spawning the process to the first byte read
      from its stdout pipe, median of --runs
  (c) peak RSS: ru_maxrss of the VMM process, 64 MiB headless guest, median of --runs; taken by
      the rss-run helper (rss-run.c) because a child of Python inherits the interpreter's RSS
      high-water mark across exec
Every run must end with the guest's own exit status (97) and output, otherwise the bench stops.
Standard library only.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

GUEST_STATUS = (0x30 << 1) | 1  # pio-loop exits via debug-exit 0x30
MEMORY_MIB = 64


def modvm_argv(modvm, guest, iters):
    return [modvm, "run", "--kernel", guest, "--append", f"iters={iters}",
            "--memory", str(MEMORY_MIB), "--device", "debug-exit"]


def qemu_argv(qemu, guest, iters):
    # The same machine as tests/guest/run-under-qemu.sh, with KVM.
    return [qemu, "-enable-kvm", "-kernel", guest, "-append", f"iters={iters}",
            "-m", str(MEMORY_MIB), "-serial", "stdio", "-display", "none", "-monitor", "none",
            "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"]


class Run:
    """One run: wall time, time to the first stdout byte, peak RSS, status, output."""

    def __init__(self, argv, rss_run=None):
        rss_file = None
        if rss_run:
            fd, rss_file = tempfile.mkstemp(prefix="rss-")
            os.close(fd)
            argv = [rss_run, rss_file] + argv
        with tempfile.TemporaryFile() as err:
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
            fd = p.stdout.fileno()
            first = os.read(fd, 1)
            self.first_byte_s = time.perf_counter() - t0 if first else None
            chunks = [first]
            while True:
                b = os.read(fd, 65536)
                if not b:
                    break
                chunks.append(b)
            _, wstatus, usage = os.wait4(p.pid, 0)
            self.wall_s = time.perf_counter() - t0
            p.returncode = os.waitstatus_to_exitcode(wstatus)
            p.stdout.close()
            err.seek(0)
            self.stderr = err.read().decode(errors="replace")
        self.status = p.returncode
        self.maxrss_kib = None
        if rss_file:
            with open(rss_file) as f:
                text = f.read().strip()
            os.unlink(rss_file)
            self.maxrss_kib = int(text) if text else None
        self.stdout = b"".join(chunks).decode(errors="replace")

    def check(self, what, iters):
        want = f"pio-loop: start\npio-loop: {iters} writes, scratch ok\n"
        if self.status != GUEST_STATUS or self.stdout.replace("\r\n", "\n") != want:
            sys.exit(f"bench.py: {what} iters={iters}: status {self.status} (want {GUEST_STATUS}), "
                     f"stdout {self.stdout!r}, stderr {self.stderr!r}")
        return self


def measure(name, make_argv, iters, runs, rss_run, log):
    """Returns {'pio_us', 'first_ms', 'rss_mib'} for one VMM."""
    per_write, first, rss = [], [], []
    for i in range(runs):
        # (a) and (c): both runs through rss-run, so its own small cost cancels in the difference
        r0 = Run(make_argv(0), rss_run).check(name, 0)
        rn = Run(make_argv(iters), rss_run).check(name, iters)
        per_write.append((rn.wall_s - r0.wall_s) / iters * 1e6)
        rss.append(r0.maxrss_kib)
        # (b): spawned directly, nothing between us and the VMM
        rb = Run(make_argv(0)).check(name, 0)
        first.append(rb.first_byte_s)
        log(f"  {name} run {i + 1}/{runs}: iters=0 {r0.wall_s * 1e3:.1f} ms, iters={iters} "
            f"{rn.wall_s * 1e3:.1f} ms ({per_write[-1]:.2f} us/write), first byte "
            f"{rb.first_byte_s * 1e3:.1f} ms, peak RSS {r0.maxrss_kib / 1024:.2f} MiB")
    return {
        "pio_us": statistics.median(per_write),
        "first_ms": statistics.median(first) * 1e3,
        "rss_mib": statistics.median(rss) / 1024,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modvm", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--rss-run", required=True, help="the rss-run helper built from rss-run.c")
    ap.add_argument("--iters", type=int, default=200000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quiet", action="store_true", help="no per-run lines")
    a = ap.parse_args()
    log = (lambda s: None) if a.quiet else (lambda s: print(s, flush=True))

    qemu = shutil.which(a.qemu)
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit("bench.py: /dev/kvm is not available: both VMMs need it")
    log(f"guest {a.guest}, {a.iters} port writes, {MEMORY_MIB} MiB, {a.runs} runs each")
    m = measure("modvm", lambda n: modvm_argv(a.modvm, a.guest, n), a.iters, a.runs, a.rss_run, log)
    q = None
    if qemu:
        q = measure("qemu", lambda n: qemu_argv(qemu, a.guest, n), a.iters, a.runs, a.rss_run, log)
    else:
        log(f"  {a.qemu} not found: modvm only")

    rows = [
        ("(a) port write 0x3ff, us/write", "pio_us", "{:.2f}", "ratio <= 1.0",
         lambda mv, qv: qv is not None and mv / qv <= 1.0),
        ("(b) start -> first serial byte, ms", "first_ms", "{:.1f}", "<= 50 ms",
         lambda mv, qv: mv <= 50.0),
        (f"(c) peak RSS, {MEMORY_MIB} MiB guest, MiB", "rss_mib", "{:.2f}", "<= 6 MiB",
         lambda mv, qv: mv <= 6.0),
    ]
    head = f"{'metric':<40} {'modvm':>10} {'qemu':>10} {'modvm/qemu':>11}  {'target':<14} met"
    print()
    print(head)
    print("-" * len(head))
    for label, key, fmt, target, ok in rows:
        mv = m[key]
        qv = q[key] if q else None
        ratio = f"{mv / qv:.3f}" if qv else "n/a"
        print(f"{label:<40} {fmt.format(mv):>10} {fmt.format(qv) if qv is not None else 'n/a':>10} "
              f"{ratio:>11}  {target:<14} {'yes' if ok(mv, qv) else 'NO'}")
    print()
    print(f"qemu: {qemu or 'not found'} -enable-kvm (same machine as tests/guest/run-under-qemu.sh)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
