#!/bin/bash
# tests/linux/boot-banner.sh — boot Debian's kernel under modvm on this host's KVM and pass as soon
# as the kernel's banner ("Linux version") appears on COM1; modvm is then stopped.
#
# Usage: boot-banner.sh MODVM FORMAT [--vs-qemu]
#   MODVM    the modvm executable (the build tree's cli/modvm)
#   FORMAT   pvh      the vmlinux ELF through its PVH entry note (protected-mode entry, no decompressor)
#            bzimage  vmlinuz through the Linux 64-bit boot protocol (the kernel decompresses itself)
#   --vs-qemu  afterwards boot the same image with qemu-system-x86_64 -enable-kvm -kernel and print
#            both times (QEMU takes the PVH vmlinux and the bzImage alike with -kernel)
# Environment:
#   MODVM_LINUX_TESTS=1   run at all (otherwise exit 77 = skipped: it downloads a ~70 MB Debian
#                         package once and takes tens of seconds to minutes)
#   MODVM_LINUX_TIMEOUT   seconds to wait for the banner (default 120 for pvh, 900 for bzimage)
#   MODVM_CACHE           the fixture cache (see fetch-kernel.sh)
#   BANNER_MARK           what to wait for instead of "Linux version" (e.g. a later boot message)
#   BANNER_REQUIRE        lines (separated by '|') that must also be on COM1 by then
#   BANNER_MODVM_ARGS     extra modvm options (e.g. "--cpus 2 --device acpi")
# Exit status: 0 banner seen, 1 failure or timeout, 77 skipped. Prints "banner after N.NN s".
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODVM=${1:?usage: boot-banner.sh MODVM pvh|bzimage [--vs-qemu]}
FORMAT=${2:?usage: boot-banner.sh MODVM pvh|bzimage [--vs-qemu]}
VS_QEMU=0
[ "${3:-}" = --vs-qemu ] && VS_QEMU=1

skip() { echo "boot-banner: SKIP: $*"; exit 77; }
[ "${MODVM_LINUX_TESTS:-0}" = 1 ] || skip "set MODVM_LINUX_TESTS=1 to boot Debian's kernel (downloads it once)"
[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "/dev/kvm is not accessible"

case "$FORMAT" in
pvh) TIMEOUT=${MODVM_LINUX_TIMEOUT:-120} ;;
bzimage) TIMEOUT=${MODVM_LINUX_TIMEOUT:-900} ;;
*) echo "boot-banner: FORMAT must be pvh or bzimage" >&2; exit 1 ;;
esac

set +e
KDIR=$("$HERE/fetch-kernel.sh")
rc=$?
set -e
[ $rc = 77 ] && skip "cannot fetch Debian's kernel on this host"
[ $rc = 0 ] || { echo "boot-banner: FAIL: fetch-kernel.sh failed" >&2; exit 1; }
IMAGE=$KDIR/vmlinux
[ "$FORMAT" = bzimage ] && IMAGE=$KDIR/vmlinuz

APPEND="console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1 nokaslr"
MARK=${BANNER_MARK:-Linux version}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/modvm-banner.XXXXXX")
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && sleep 0.5 && kill -9 "$PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# Runs "$@" with output to $WORK/$1-console.log until the banner appears, the program ends or the
# timeout; sets RESULT (seconds or empty) and stops the program.
wait_banner() {
	local name=$1 log=$WORK/$1-console.log t0 deadline
	shift
	: >"$log"
	t0=$(now)
	"$@" </dev/null >"$log" 2>&1 &
	PID=$!
	deadline=$(awk -v t="$t0" -v d="$TIMEOUT" 'BEGIN { printf "%d", t + d }')
	RESULT=
	while :; do
		if grep -qF "$MARK" "$log"; then
			RESULT=$(elapsed "$t0" "$(now)")
			break
		fi
		kill -0 "$PID" 2>/dev/null || break
		[ "$(date +%s)" -lt "$deadline" ] || break
		sleep 0.1
	done
	kill "$PID" 2>/dev/null || true
	for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
	kill -9 "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	PID=
	if [ -z "$RESULT" ]; then
		echo "boot-banner: $name: no banner within ${TIMEOUT}s; its output ends with:"
		tail -n 20 "$log" | sed 's/^/    /'
	fi
}

echo "boot-banner: $FORMAT: $IMAGE"
# shellcheck disable=SC2086 # BANNER_MODVM_ARGS is a list of options
wait_banner modvm "$MODVM" run --kernel "$IMAGE" --append "$APPEND" --memory 512 --no-reboot ${BANNER_MODVM_ARGS:-}
MODVM_T=$RESULT
if [ -n "$MODVM_T" ] && [ -n "${BANNER_REQUIRE:-}" ]; then
	IFS='|' read -r -a required <<<"$BANNER_REQUIRE"
	for line in "${required[@]}"; do
		grep -qF "$line" "$WORK/modvm-console.log" || { echo "boot-banner: FAIL: no '$line' on COM1"; exit 1; }
	done
fi
[ -n "$MODVM_T" ] && echo "boot-banner: modvm: banner after $MODVM_T s" && grep -m1 "Linux version" "$WORK/modvm-console.log"

if [ "$VS_QEMU" = 1 ]; then
	if command -v qemu-system-x86_64 >/dev/null; then
		wait_banner qemu qemu-system-x86_64 -enable-kvm -M pc -m 512 -nodefaults -no-user-config \
			-display none -no-reboot -serial stdio -kernel "$IMAGE" -append "$APPEND"
		QEMU_T=$RESULT
		[ -n "$QEMU_T" ] && echo "boot-banner: qemu -enable-kvm: banner after $QEMU_T s"
		[ -n "$QEMU_T" ] && [ -n "$MODVM_T" ] &&
			echo "boot-banner: modvm/qemu = $(awk -v a="$MODVM_T" -v b="$QEMU_T" 'BEGIN { printf "%.2f", a / b }')"
	else
		echo "boot-banner: qemu-system-x86_64 not found: no comparison"
	fi
fi
[ -n "$MODVM_T" ] || { echo "boot-banner: FAIL"; exit 1; }
echo "boot-banner: PASS"
