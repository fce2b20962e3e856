#!/bin/bash
# tests/linux/in-nested-vm.sh — boot Debian's kernel under modvm *inside* a throwaway QEMU VM that has
# nested KVM (nested-vm.sh), and pass when the L2 kernel's banner ("Linux version") appears.
#
# Why: on a host whose own KVM is software-nested, the bzImage's in-guest XZ decompression crawls
# (more than 10 minutes to the banner). In nested-vm.sh's L1 VM (QEMU TCG with emulated SVM) modvm
# runs as a real KVM hypervisor and its guest (L2) reaches the banner in well under a minute.
#
#   host: nested-vm.sh → L1 (QEMU TCG, kvm_amd) with the modvm build, the images and l1-banner.sh
#     L1: l1-banner.sh runs `modvm run --kernel <image>` per FORMAT until the banner
#       L2: Debian's kernel as bzImage (64-bit boot protocol) or PVH vmlinux
#
# Usage: in-nested-vm.sh MODVM [FORMAT...]     FORMAT: bzimage (default) and/or pvh
#   MODVM is the build tree's cli/modvm.
# Environment (and nested-vm.sh's: MODVM_NESTED_TIMEOUT, _SMP, _KEEP, _MONITOR, MODVM_CACHE):
#   MODVM_LINUX_TESTS=1   run at all (otherwise exit 77 = skipped)
#   MODVM_LINUX_SLOW_TESTS=1  also run the MODVM_NESTED_INIT=1 variant (otherwise it skips)
#   MODVM_NESTED_LINGER=N let each L2 run N more seconds after its banner and print its console
#   MODVM_NESTED_INIT=1   also give L2 an initramfs (--initrd) whose /init prints "L2-INIT-OK", and
#                         wait for that line instead of the banner (the whole boot, initrd included)
# Known flake: see nested-vm.sh (L1 stalls now and then while L2 Linux is deep in its boot).
# Exit status: 0 every FORMAT showed the banner, 1 failure or timeout, 77 skipped.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODVM=${1:?usage: in-nested-vm.sh MODVM [bzimage|pvh...]}
shift
FORMATS=${*:-bzimage}

skip() { echo "in-nested-vm: SKIP: $*"; exit 77; }
fail() { echo "in-nested-vm: FAIL: $*"; exit 1; }
note() { echo "in-nested-vm: $*"; }

# (checked here as well as in nested-vm.sh: the images are fetched before it runs)
[ "${MODVM_LINUX_TESTS:-0}" = 1 ] || skip "set MODVM_LINUX_TESTS=1 to boot Debian's kernel in a nested VM"
# Booting on to /init stalls in about 3 of 20 runs inside QEMU's emulated SVM (the L1 VM stops making
# progress; not modvm), so that longer run is opt-in until the cause is found.
[ "${MODVM_NESTED_INIT:-0}" = 1 ] && [ "${MODVM_LINUX_SLOW_TESTS:-0}" != 1 ] &&
	skip "set MODVM_LINUX_SLOW_TESTS=1 to boot through to /init in the nested VM (flaky in QEMU's nested SVM)"
for f in $FORMATS; do
	case "$f" in bzimage | pvh) ;; *) fail "unknown FORMAT '$f' (bzimage or pvh)" ;; esac
done
# absolute: l1-banner.sh runs it in L1, where the working directory is /
MODVM=$(cd "$(dirname "$MODVM")" && pwd)/$(basename "$MODVM")

set +e
FETCHED=$("$HERE/fetch-kernel.sh" --busybox)
rc=$?
set -e
[ $rc = 77 ] && skip "cannot fetch Debian's kernel on this host"
[ $rc = 0 ] || fail "fetch-kernel.sh failed"
KDIR=$(echo "$FETCHED" | sed -n 1p)
BUSYBOX=$(echo "$FETCHED" | sed -n 2p)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/modvm-nested-linux.XXXXXX")
cleanup() { [ "${MODVM_NESTED_KEEP:-0}" = 1 ] && note "work directory kept: $WORK" || rm -rf "$WORK"; }
trap cleanup EXIT

ADD=()
RUNS=()
for f in $FORMATS; do
	case "$f" in
	bzimage) image=$KDIR/vmlinuz ;;
	pvh) image=$KDIR/vmlinux ;;
	esac
	ADD+=(--add "$image")
	RUNS+=("$f=$image")
done
WANT="Linux version"
INITRD=
if [ "${MODVM_NESTED_INIT:-0}" = 1 ]; then
	# L2's initramfs: busybox and an /init that says it ran and powers off
	WANT="L2-INIT-OK"
	INITRD=$WORK/l2-initrd.gz
	L2=$WORK/l2root
	mkdir -p "$L2/bin"
	cp "$BUSYBOX" "$L2/bin/busybox"
	printf '#!/bin/busybox sh\n/bin/busybox echo L2-INIT-OK\n/bin/busybox poweroff -f\n' >"$L2/init"
	chmod +x "$L2/init"
	(cd "$L2" && find . | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1) >"$INITRD"
	ADD+=(--add "$INITRD")
fi

set +e
"$HERE/nested-vm.sh" "${ADD[@]}" --console "$WORK/console.log" "$MODVM" \
	"$HERE/l1-banner.sh" "$MODVM" "$WANT" "${MODVM_NESTED_LINGER:-0}" "$INITRD" "${RUNS[@]}"
rc=$?
set -e
[ $rc = 77 ] && exit 77
sed 's/^/    /' "$WORK/console.log" | grep -E 'NESTED|Linux version|modvm|^    L2 ' || true
status=$rc
for f in $FORMATS; do
	if grep -q "NESTED-BANNER: $f " "$WORK/console.log"; then
		note "$f: $(sed -n "s/.*NESTED-BANNER: $f \([0-9.]*\) (\(.*\))/\2 after \1 s/p" "$WORK/console.log") of L1 time"
	else
		note "$f: no L2 banner"
		status=1
	fi
done
if [ $status != 0 ]; then
	# (nested-vm.sh printed the console's end itself when L1 failed)
	[ $rc = 0 ] && note "L1 console (last 30 lines):" && tail -n 30 "$WORK/console.log" | sed 's/^/    /'
	fail "no banner"
fi
echo "in-nested-vm: PASS"
