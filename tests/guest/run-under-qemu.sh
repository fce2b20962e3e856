#!/bin/sh
# run-under-qemu.sh - run a modvm test guest under plain QEMU.
#
#   run-under-qemu.sh GUEST.elf [extra qemu args...]
#
# Boots GUEST.elf as a Multiboot kernel with COM1 on stdout and the
# isa-debug-exit device at port 0xf4, and exits with QEMU's exit status
# (a guest write of V to port 0xf4 gives status (V << 1) | 1).
#
# Environment:
#   QEMU_ACCEL    tcg (default) or kvm
#   QEMU          emulator binary (default qemu-system-x86_64)
#   QEMU_TIMEOUT  seconds before the run is killed (default 20); status 124
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 GUEST.elf [qemu args...]" >&2
    exit 2
fi
guest=$1
shift
if [ ! -r "$guest" ]; then
    echo "$0: cannot read $guest" >&2
    exit 2
fi

accel=${QEMU_ACCEL:-tcg}
qemu=${QEMU:-qemu-system-x86_64}
limit=${QEMU_TIMEOUT:-20}

timeout -k 5 "$limit" "$qemu" \
    -accel "$accel" \
    -kernel "$guest" \
    -serial stdio \
    -display none \
    -monitor none \
    -no-reboot \
    -device isa-debug-exit,iobase=0xf4,iosize=4 \
    "$@" </dev/null
status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "$0: $guest timed out after ${limit}s" >&2
fi
exit "$status"
