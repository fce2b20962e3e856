#!/bin/bash
# tests/linux/probe.sh — run one of the probe kernels built from tests/linux/*-probe.asm under
# modvm: a synthetic bzImage (64-bit or 32-bit boot protocol entry) or PVH ELF that checks the
# entry state and boot information the loader hands it (Documentation/arch/x86/boot.rst; Xen's
# PVH start_info ABI) and reports through COM1 and the debug-exit device. Takes well under a second
# and downloads nothing, so unlike the Debian-kernel tests it always runs (where /dev/kvm works).
#
# Usage: probe.sh MODVM IMAGE [with-initrd]
# Exit status: 0 the probe printed "OK" and exited with 0x10 (status 33); 1 otherwise; 77 no KVM.
set -euo pipefail
MODVM=${1:?usage: probe.sh MODVM IMAGE [with-initrd]}
IMAGE=${2:?usage: probe.sh MODVM IMAGE [with-initrd]}

[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "probe: SKIP: /dev/kvm is not accessible"; exit 77; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/modvm-probe.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ARGS=(run --kernel "$IMAGE" --append "probe cmdline" --device debug-exit --no-reboot)
if [ "${3:-}" = with-initrd ]; then
	printf 'INITRD-probe-payload' >"$WORK/initrd"
	ARGS+=(--initrd "$WORK/initrd")
fi
set +e
timeout 60 "$MODVM" "${ARGS[@]}" </dev/null >"$WORK/out" 2>&1
st=$?
set -e
cat "$WORK/out"
if [ $st = 33 ] && grep -q ": OK" "$WORK/out"; then
	echo "probe: PASS"
	exit 0
fi
echo "probe: FAIL (exit status $st, expected 33)"
exit 1
