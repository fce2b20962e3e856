#!/bin/sh
# run-under-qemu.sh - run a modvm test guest under plain QEMU.
#
#   run-under-qemu.sh GUEST.elf [extra qemu args...]
#
# Boots GUEST.elf as a Multiboot kernel with COM1 on stdout and the
# isa-debug-exit device at port 0xf4, and exits with QEMU's exit status
# (a guest write of V to port 0xf4 gives status (V << 1) | 1; 124 means the
# run timed out).
#
# Environment:
#   QEMU_ACCEL      tcg (default) or kvm
#   QEMU            emulator binary (default qemu-system-x86_64)
#   QEMU_TIMEOUT    seconds before the run is killed (default 20)
#   EXPECT_STATUS   optional: exit 0 if QEMU's status equals this, else 1
#   EXPECT_LINE     optional: also require this exact line in the output
#                   (only checked together with EXPECT_STATUS)
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

run_qemu() {
    timeout -k 5 "$limit" "$qemu" \
        -accel "$accel" \
        -kernel "$guest" \
        -serial stdio \
        -display none \
        -monitor none \
        -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=4 \
        "$@" </dev/null
}

if [ -n "${EXPECT_STATUS:-}" ] && [ -n "${EXPECT_LINE:-}" ]; then
    # Capture the serial output so the expected line can be looked up.
    out=$(mktemp "${TMPDIR:-/tmp}/run-under-qemu.XXXXXX") || exit 2
    trap 'rm -f "$out"' EXIT
    run_qemu "$@" >"$out"
    status=$?
    cat "$out"
else
    out=
    run_qemu "$@"
    status=$?
fi
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "$0: $guest timed out after ${limit}s" >&2
fi

if [ -n "${EXPECT_STATUS:-}" ]; then
    if [ "$status" -ne "$EXPECT_STATUS" ]; then
        echo "$0: $guest: exit status $status, expected $EXPECT_STATUS" >&2
        exit 1
    fi
    if [ -n "$out" ] && ! grep -qxF -- "$EXPECT_LINE" "$out"; then
        echo "$0: $guest: missing output line '$EXPECT_LINE'" >&2
        exit 1
    fi
    exit 0
fi
exit "$status"
