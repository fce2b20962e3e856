#!/bin/sh
# platform.sh - modvm vs QEMU (-enable-kvm) on platform boots, measured in one run.
#
#   tests/bench/platform.sh [BUILD_DIR]
#
# Prints, for modvm and QEMU, the median time from process start to a marker on COM1 and the ratio
# modvm/QEMU (target <= 1.0):
#   (a) SeaBIOS -> boot sector: tests/firmware/bootsect.asm (assembled here) on a 1 MiB raw virtio-blk
#       disk, SeaBIOS from tests/firmware/fetch-seabios.sh; marker: the boot sector's first line
#   (b) kernel start -> "Linux version": Debian's kernel as PVH (the vmlinux of tests/linux/fetch-kernel.sh,
#       which downloads linux-image-amd64 once, ~70 MB, into its cache); "n/a" with the reason when
#       there is no such vmlinux
# Not a pass/fail test: the exit status is 0 whenever the measurements could be taken.
#
# Environment: BUILD_DIR (default: build/ at the top of the source tree), QEMU (default
# qemu-system-x86_64), RUNS (runs per VMM and measurement, default 3), LINUX=0 (leave (b) out).
# Needs: /dev/kvm, nasm, python3; qemu-system-x86_64 for the comparison (without it only modvm is shown).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-${BUILD_DIR:-$top/build}}
modvm=$build/cli/modvm

if [ ! -x "$modvm" ]; then
    echo "platform.sh: $modvm not found: build modvm first (meson setup build && ninja -C build)" >&2
    exit 2
fi
for tool in nasm python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "platform.sh: $tool is needed" >&2
        exit 2
    fi
done
if ! firmware=$("$top/tests/firmware/fetch-seabios.sh"); then
    echo "platform.sh: no SeaBIOS image (see the line above)" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/modvm-platform.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# (a)'s disk: the two-sector boot sector padded to 1 MiB, as tests/firmware/firmware_test.py does.
nasm -f bin -o "$work/bootsect.img" "$top/tests/firmware/bootsect.asm"
truncate -s 1M "$work/bootsect.img"

# (b)'s kernel, when the colleague's fetch script can provide it.
set -- --no-linux "LINUX=0"
if [ "${LINUX:-1}" != 0 ]; then
    fetch=$top/tests/linux/fetch-kernel.sh
    if [ ! -x "$fetch" ]; then
        set -- --no-linux "tests/linux/fetch-kernel.sh is not there (yet)"
    elif kdir=$("$fetch" 2>"$work/fetch.log"); then
        if [ -r "$kdir/vmlinux" ]; then
            set -- --vmlinux "$kdir/vmlinux"
        else
            set -- --no-linux "fetch-kernel.sh gave $kdir without a vmlinux"
        fi
    else
        set -- --no-linux "fetch-kernel.sh failed: $(tail -n 1 "$work/fetch.log")"
    fi
fi

qemu=$(command -v "${QEMU:-qemu-system-x86_64}" 2>/dev/null || true)
python3 "$here/platform.py" --modvm "$modvm" ${qemu:+--qemu "$qemu"} --firmware "$firmware" \
    --disk "$work/bootsect.img" --runs "${RUNS:-3}" "$@"
