#!/bin/sh
# bench.sh - modvm vs QEMU (-enable-kvm) on the same multiboot guest, measured in one run.
#
#   tests/bench/bench.sh [BUILD_DIR]
#
# Builds tests/bench/pio-loop.asm (nasm + ld, with tests/guest's boot.inc/serial.inc and link.ld) and
# the rss-run helper (rss-run.c) into a temporary directory, then runs tests/bench/bench.py, which prints a table of
#   (a) the cost of one userspace-handled port write (UART scratch register 0x3ff),
#   (b) process start -> first guest serial byte on stdout (median),
#   (c) peak RSS of a 64 MiB headless guest (median),
# for modvm and QEMU, with the ratio modvm/QEMU and the targets. Not a pass/fail test: the exit
# status is 0 whenever the measurements could be taken.
#
# Environment: BUILD_DIR (default: build/ at the top of the source tree), QEMU (default
# qemu-system-x86_64), ITERS (default 200000), RUNS (runs per measurement, default 5), CC (default cc).
# Needs: nasm, ld, a C compiler, python3; qemu-system-x86_64 for the comparison (without it only modvm is shown).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-${BUILD_DIR:-$top/build}}
modvm=$build/cli/modvm

if [ ! -x "$modvm" ]; then
    echo "bench.sh: $modvm not found: build modvm first (meson setup build && ninja -C build)" >&2
    exit 2
fi
for tool in nasm ld "${CC:-cc}" python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench.sh: $tool is needed" >&2
        exit 2
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/modvm-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

nasm -f elf32 -I "$top/tests/guest/" -o "$work/pio-loop.o" "$here/pio-loop.asm"
ld -m elf_i386 -T "$top/tests/guest/link.ld" -z noexecstack --build-id=none \
    -o "$work/pio-loop.elf" "$work/pio-loop.o"

"${CC:-cc}" -std=c11 -O2 -Wall -Wextra -Werror -o "$work/rss-run" "$here/rss-run.c"

python3 "$here/bench.py" --modvm "$modvm" --guest "$work/pio-loop.elf" --rss-run "$work/rss-run" \
    --qemu "${QEMU:-qemu-system-x86_64}" --iters "${ITERS:-200000}" --runs "${RUNS:-5}"
