#!/bin/bash
# tests/linux/in-nested-vm.sh — boot Debian's kernel under modvm *inside* a throwaway QEMU VM that
# has nested KVM, and pass when the L2 kernel's banner ("Linux version") appears.
#
# Why: on a host whose own KVM is software-nested, the bzImage's in-guest XZ decompression crawls
# (more than 10 minutes to the banner). QEMU's TCG emulates AMD SVM with nested paging for
# `-cpu max`, so a Linux VM under TCG (L1) with kvm_amd loaded has a working /dev/kvm; modvm runs
# there as a real KVM hypervisor and its guest (L2) reaches the banner in well under a minute.
#
#   host: qemu-system-x86_64 -accel tcg -cpu max  (L1: Debian's kernel, PVH entry, + initramfs)
#     L1 initramfs: busybox-static, kvm/kvm_amd and their dependencies, the modvm build (the
#                   executable, libmodvm, the plugins and every shared library they need, at their
#                   build-tree paths so modvm finds its plugins as in the build tree), the images
#     L1 /init:     insmod the modules, run `modvm run --kernel <image>` per FORMAT, report
#       L2: Debian's kernel as bzImage (64-bit boot protocol) or PVH vmlinux
#
# Usage: in-nested-vm.sh MODVM [FORMAT...]     FORMAT: bzimage (default) and/or pvh
#   MODVM is the build tree's cli/modvm (its build root is MODVM/../..).
# Environment:
#   MODVM_LINUX_TESTS=1   run at all (otherwise exit 77 = skipped)
#   MODVM_LINUX_SLOW_TESTS=1  also run the MODVM_NESTED_INIT=1 variant (otherwise it skips)
#   MODVM_NESTED_TIMEOUT  seconds for the whole L1 run (default 540)
#   MODVM_NESTED_SMP=N    L1 vCPUs (default 2)
#   MODVM_NESTED_KEEP=1   keep the work directory (initramfs, logs)
#   MODVM_NESTED_MONITOR=PATH  give the L1 QEMU a monitor on the unix socket PATH (for debugging)
#   MODVM_NESTED_LINGER=N let each L2 run N more seconds after its banner and print its console
#   MODVM_NESTED_INIT=1   also give L2 an initramfs (--initrd) whose /init prints "L2-INIT-OK", and
#                         wait for that line instead of the banner (the whole boot, initrd included)
#   MODVM_CACHE           the fixture cache (see fetch-kernel.sh)
# Needs: qemu-system-x86_64 (TCG), gzip; the kernel and busybox-static come from fetch-kernel.sh.
# Known flake: now and then (about 3 runs in 20 here, QEMU 7.2) the whole L1 VM stops making progress
# while L2 is deep in its boot (always after L2's banner had been printed, once before L1 noticed it);
# the run then ends at the timeout. It looks like TCG's SVM emulation not leaving L2 for L1's own
# interrupts; -smp 2 for L1 made it rarer, not gone.
# Exit status: 0 every FORMAT showed the banner, 1 failure or timeout, 77 skipped.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODVM=${1:?usage: in-nested-vm.sh MODVM [bzimage|pvh...]}
shift
FORMATS=${*:-bzimage}
TIMEOUT=${MODVM_NESTED_TIMEOUT:-540}
L1_SMP=${MODVM_NESTED_SMP:-2}
L2_TIMEOUT=$((TIMEOUT - 60))

skip() { echo "in-nested-vm: SKIP: $*"; exit 77; }
fail() { echo "in-nested-vm: FAIL: $*"; exit 1; }
note() { echo "in-nested-vm: $*"; }

[ "${MODVM_LINUX_TESTS:-0}" = 1 ] || skip "set MODVM_LINUX_TESTS=1 to boot Debian's kernel in a nested VM"
# Booting on to /init stalls in about 3 of 20 runs inside QEMU's emulated SVM (the L1 VM stops making
# progress; not modvm), so that longer run is opt-in until the cause is found.
[ "${MODVM_NESTED_INIT:-0}" = 1 ] && [ "${MODVM_LINUX_SLOW_TESTS:-0}" != 1 ] &&
	skip "set MODVM_LINUX_SLOW_TESTS=1 to boot through to /init in the nested VM (flaky in QEMU's nested SVM)"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found"
command -v gzip >/dev/null || skip "gzip not found"
for f in $FORMATS; do
	case "$f" in bzimage | pvh) ;; *) fail "unknown FORMAT '$f' (bzimage or pvh)" ;; esac
done
MODVM=$(cd "$(dirname "$MODVM")" && pwd)/$(basename "$MODVM")
[ -x "$MODVM" ] || fail "$MODVM is not executable"
BUILD=$(cd "$(dirname "$MODVM")/.." && pwd)

set +e
FETCHED=$("$HERE/fetch-kernel.sh" --busybox)
rc=$?
set -e
[ $rc = 77 ] && skip "cannot fetch Debian's kernel on this host"
[ $rc = 0 ] || fail "fetch-kernel.sh failed"
KDIR=$(echo "$FETCHED" | sed -n 1p)
BUSYBOX=$(echo "$FETCHED" | sed -n 2p)
KVER=$(cat "$KDIR/version")
MODDIR=$KDIR/root/lib/modules/$KVER

WORK=$(mktemp -d "${TMPDIR:-/tmp}/modvm-nested.XXXXXX")
cleanup() { [ "${MODVM_NESTED_KEEP:-0}" = 1 ] && note "work directory kept: $WORK" || rm -rf "$WORK"; }
trap cleanup EXIT
R=$WORK/root
mkdir -p "$R"/{bin,dev,proc,sys,linux,lib/modules}
cp "$BUSYBOX" "$R/bin/busybox"

# Copies a file to the same absolute path inside the initramfs, with the shared libraries it needs.
add_with_libs() {
	local f=$1 lib
	[ -e "$R$f" ] && return 0
	mkdir -p "$R$(dirname "$f")"
	cp -L "$f" "$R$f"
	for lib in $(ldd "$f" 2>/dev/null | grep -oE '/[^ ]+' || true); do
		if [ -e "$lib" ] && [ ! -e "$R$lib" ]; then
			mkdir -p "$R$(dirname "$lib")"
			cp -L "$lib" "$R$lib"
		fi
	done
}
add_with_libs "$MODVM"
while IFS= read -r so; do add_with_libs "$so"; done < <(find "$BUILD/plugins" -name '*.so' 2>/dev/null)
# libmodvm's SONAME links (ldd names the versioned file; keep every name the loader may ask for)
for so in "$BUILD"/core/libmodvm.so*; do [ -f "$so" ] && add_with_libs "$so"; done

# Kernel modules for /dev/kvm: kvm_amd and what it depends on, dependencies first.
mod_path() { find "$MODDIR/kernel" -name "$1.ko" -o -name "$(echo "$1" | tr _ -).ko" | head -1; }
ORDER=()
add_module() {
	local name=$1 path dep
	for dep in "${ORDER[@]+"${ORDER[@]}"}"; do [ "$dep" = "$name" ] && return 0; done
	path=$(mod_path "$name")
	[ -n "$path" ] || fail "module $name not found in $MODDIR"
	# the .modinfo section's NUL-separated "depends=a,b" string
	for dep in $(tr '\0' '\n' <"$path" | sed -n 's/^depends=//p' | head -1 | tr ',' ' '); do
		add_module "$dep"
	done
	cp "$path" "$R/lib/modules/$name.ko"
	ORDER+=("$name")
}
add_module kvm_amd
printf '%s\n' "${ORDER[@]}" >"$R/lib/modules/order"

for f in $FORMATS; do
	case "$f" in
	bzimage) cp -L "$KDIR/vmlinuz" "$R/linux/bzimage" ;;
	pvh) cp -L "$KDIR/vmlinux" "$R/linux/pvh" ;;
	esac
done

cat >"$R/init" <<EOF
#!/bin/busybox sh
MODVM='$MODVM'
FORMATS='$FORMATS'
L2_TIMEOUT=$L2_TIMEOUT
LINGER=${MODVM_NESTED_LINGER:-0}
WAIT_INIT=${MODVM_NESTED_INIT:-0}
EOF
cat >>"$R/init" <<'EOF'
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /l2log  # (no tmpfs on /tmp: the build tree may live there)
up() { cut -d' ' -f1 /proc/uptime; }
echo "NESTED: init at $(up) s"
while read -r m; do
	insmod "/lib/modules/$m.ko" || echo "NESTED: insmod $m failed"
done </lib/modules/order
if [ ! -c /dev/kvm ]; then
	echo "NESTED-RESULT: no /dev/kvm in the L1 VM"
	dmesg | grep -i -E 'kvm|svm' | tail -n 5
	poweroff -f
fi
echo "NESTED: /dev/kvm ready at $(up) s"
APPEND="console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1 nokaslr"
WANT="Linux version"
INITRD=
if [ "$WAIT_INIT" = 1 ]; then
	APPEND="$APPEND rdinit=/init"
	WANT="L2-INIT-OK"
	INITRD="--initrd /linux/l2-initrd.gz"
fi
for fmt in $FORMATS; do
	log=/l2log/$fmt.log
	: >"$log"
	t0=$(up)
	"$MODVM" run --kernel "/linux/$fmt" $INITRD --append "$APPEND" --memory 512 --no-reboot </dev/null >"$log" 2>&1 &
	pid=$!
	result=
	while :; do
		if grep -q "$WANT" "$log"; then
			result=$(awk -v a="$t0" -v b="$(up)" 'BEGIN { printf "%.2f", b - a }')
			break
		fi
		kill -0 $pid 2>/dev/null || break
		[ "$(awk -v a="$t0" -v b="$(up)" -v t="$L2_TIMEOUT" 'BEGIN { print (b - a > t) }')" = 1 ] && break
		sleep 0.2
	done
	[ -n "$result" ] && [ "$LINGER" -gt 0 ] && sleep "$LINGER"
	kill $pid 2>/dev/null
	sleep 0.5
	kill -9 $pid 2>/dev/null
	if [ -n "$result" ]; then
		echo "NESTED-BANNER: $fmt $result ('$WANT' seen)"
		if [ "$LINGER" -gt 0 ]; then sed "s/^/L2 /" "$log"; echo; else grep -m1 "Linux version" "$log"; fi
	else
		echo "NESTED-FAIL: $fmt (no '$WANT'); modvm's output ends with:"
		tail -n 15 "$log"
	fi
done
echo "NESTED-DONE"
poweroff -f
EOF
chmod +x "$R/init"
if [ "${MODVM_NESTED_INIT:-0}" = 1 ]; then
	# L2's initramfs: busybox and an /init that says it ran and powers off
	L2=$WORK/l2root
	mkdir -p "$L2/bin"
	cp "$BUSYBOX" "$L2/bin/busybox"
	printf '#!/bin/busybox sh\n/bin/busybox echo L2-INIT-OK\n/bin/busybox poweroff -f\n' >"$L2/init"
	chmod +x "$L2/init"
	(cd "$L2" && find . | LC_ALL=C sort | "$R/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) \
		>"$R/linux/l2-initrd.gz"
fi
(cd "$R" && find . | LC_ALL=C sort | "$R/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$WORK/initrd.gz"
note "initramfs $(du -k "$WORK/initrd.gz" | cut -f1) KiB (modules: ${ORDER[*]}); L1 boots $KVER under TCG"

T0=$(date +%s.%N)
set +e
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -M q35 -m 2048 -smp "$L1_SMP" -nodefaults \
	-no-user-config -display none -no-reboot -serial stdio ${MODVM_NESTED_MONITOR:+-monitor unix:$MODVM_NESTED_MONITOR,server=on,wait=off} \
	-kernel "$KDIR/vmlinux" -initrd "$WORK/initrd.gz" \
	-append "console=ttyS0 panic=-1 rdinit=/init quiet" </dev/null >"$WORK/console.log" 2>&1
qrc=$?
set -e
T1=$(date +%s.%N)
sed 's/^/    /' "$WORK/console.log" | grep -E 'NESTED|Linux version|modvm|^    L2 ' || true
note "L1 VM ran $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }') s (qemu exit status $qrc)"
grep -q "NESTED-RESULT: no /dev/kvm" "$WORK/console.log" && skip "QEMU's TCG gave the L1 VM no usable SVM/KVM"
status=0
for f in $FORMATS; do
	if grep -q "NESTED-BANNER: $f " "$WORK/console.log"; then
		note "$f: $(sed -n "s/.*NESTED-BANNER: $f \([0-9.]*\) (\(.*\))/\2 after \1 s/p" "$WORK/console.log") of L1 time"
	else
		note "$f: no L2 banner"
		status=1
	fi
done
if [ $status != 0 ]; then
	[ $qrc = 124 ] && note "the L1 VM timed out after ${TIMEOUT}s"
	note "L1 console (last 30 lines):"
	tail -n 30 "$WORK/console.log" | sed 's/^/    /'
	fail "no banner"
fi
echo "in-nested-vm: PASS"
