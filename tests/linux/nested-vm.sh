#!/bin/bash
# tests/linux/nested-vm.sh — run a scenario script *inside* a throwaway QEMU VM that has nested KVM,
# with modvm's build tree in it, so that modvm runs on a working /dev/kvm where the host's cannot
# serve (the host's KVM is itself software-nested, or there is none).
#
# QEMU's TCG emulates AMD SVM with nested paging for `-cpu max`, so a Linux VM under TCG (L1) with
# kvm_amd loaded has a working /dev/kvm; modvm runs there as a real KVM hypervisor for its guest (L2).
#
#   host: qemu-system-x86_64 -accel tcg -cpu max  (L1: Debian's kernel, PVH entry, + initramfs)
#     L1 initramfs: busybox-static, kvm/kvm_amd and their dependencies, the modvm build (the
#                   executable, libmodvm, the plugins and every shared library they need, at their
#                   build-tree paths so modvm finds its plugins as in the build tree), the SCENARIO and
#                   each --add FILE, all at their host paths
#     L1 /init:     insmod the modules, then `sh SCENARIO ARG...`, then power off
#
# Usage: nested-vm.sh [--add FILE]... [--console FILE] [--timeout SECONDS] MODVM SCENARIO [ARG...]
#   MODVM      the build tree's cli/modvm (its build root is MODVM/../..)
#   SCENARIO   a busybox sh script run in L1 once /dev/kvm is ready; it reports on stdout (L1's
#              console) in lines its caller parses, and gets NESTED_TIMEOUT (the seconds the whole L1
#              run may take) in its environment. Its exit status becomes this script's (0 or 1).
#   --add FILE     also put FILE (and, when it is a dynamically linked program, its libraries) into L1
#   --console FILE keep L1's whole console there (for the caller to parse)
#   --timeout S    seconds for the whole L1 run (default 540; MODVM_NESTED_TIMEOUT overrides it)
# Environment:
#   MODVM_LINUX_TESTS=1   run at all (otherwise exit 77 = skipped)
#   MODVM_NESTED_TIMEOUT  see --timeout
#   MODVM_NESTED_SMP=N    L1 vCPUs (default 2)
#   MODVM_NESTED_KEEP=1   keep the work directory (initramfs, console log)
#   MODVM_NESTED_MONITOR=PATH  give the L1 QEMU a monitor on the unix socket PATH (for debugging)
#   MODVM_CACHE           the fixture cache (see fetch-kernel.sh)
# Needs: qemu-system-x86_64 (TCG), gzip; the kernel and busybox-static come from fetch-kernel.sh.
# Known flake: now and then (about 3 runs in 20 here, QEMU 7.2) the whole L1 VM stops making progress
# while a Linux L2 is deep in its boot; the run then ends at the timeout. It looks like TCG's SVM
# emulation not leaving L2 for L1's own interrupts; -smp 2 for L1 made it rarer, not gone.
# Exit status: 0 the scenario ran and exited 0, 1 failure or timeout, 77 skipped (one "SKIP:" line).
set -euo pipefail
export LC_ALL=C

skip() { echo "nested-vm: SKIP: $*"; exit 77; }
fail() { echo "nested-vm: FAIL: $*"; exit 1; }
note() { echo "nested-vm: $*"; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
USAGE="usage: nested-vm.sh [--add FILE]... [--console FILE] [--timeout S] MODVM SCENARIO [ARG...]"
ADD=()
CONSOLE=
TIMEOUT=540
while [ $# -gt 0 ]; do
	case "$1" in
	--add) ADD+=("${2:?$USAGE}"); shift 2 ;;
	--console) CONSOLE=${2:?$USAGE}; shift 2 ;;
	--timeout) TIMEOUT=${2:?$USAGE}; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || fail "$USAGE"
MODVM=$1
SCENARIO=$2
shift 2
TIMEOUT=${MODVM_NESTED_TIMEOUT:-$TIMEOUT}
L1_SMP=${MODVM_NESTED_SMP:-2}

[ "${MODVM_LINUX_TESTS:-0}" = 1 ] || skip "set MODVM_LINUX_TESTS=1 to boot Debian's kernel in a nested-KVM VM"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found"
command -v gzip >/dev/null || skip "gzip not found"
MODVM=$(cd "$(dirname "$MODVM")" && pwd)/$(basename "$MODVM")
[ -x "$MODVM" ] || fail "$MODVM is not executable"
BUILD=$(cd "$(dirname "$MODVM")/.." && pwd)
SCENARIO=$(cd "$(dirname "$SCENARIO")" && pwd)/$(basename "$SCENARIO")
[ -r "$SCENARIO" ] || fail "cannot read the scenario $SCENARIO"

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
[ -n "$CONSOLE" ] || CONSOLE=$WORK/console.log
R=$WORK/root
mkdir -p "$R"/{bin,dev,proc,sys,lib/modules}
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
add_with_libs "$SCENARIO"
for f in "${ADD[@]+"${ADD[@]}"}"; do
	[ -r "$f" ] || fail "cannot read $f"
	add_with_libs "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"
done

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

# /init's positional parameters are the scenario's command line, each word single-quoted.
quoted=
for a in "$SCENARIO" "$@"; do quoted="$quoted '${a//\'/\'\\\'\'}'"; done
cat >"$R/init" <<EOF
#!/bin/busybox sh
export NESTED_TIMEOUT=$TIMEOUT
set --$quoted
EOF
cat >>"$R/init" <<'EOF'
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# (no tmpfs on /tmp: the build tree and the added files may live there)
echo "NESTED: init at $(cut -d' ' -f1 /proc/uptime) s"
while read -r m; do
	insmod "/lib/modules/$m.ko" || echo "NESTED: insmod $m failed"
done </lib/modules/order
if [ ! -c /dev/kvm ]; then
	echo "NESTED-NO-KVM"
	dmesg | grep -i -E 'kvm|svm' | tail -n 5
	poweroff -f
fi
echo "NESTED: /dev/kvm ready at $(cut -d' ' -f1 /proc/uptime) s"
sh "$@"
echo "NESTED-EXIT: $?"
poweroff -f
EOF
chmod +x "$R/init"
(cd "$R" && find . | LC_ALL=C sort | "$R/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$WORK/initrd.gz"
note "initramfs $(du -k "$WORK/initrd.gz" | cut -f1) KiB (modules: ${ORDER[*]}); L1 boots $KVER under TCG"

T0=$(date +%s.%N)
set +e
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -M q35 -m 2048 -smp "$L1_SMP" -nodefaults \
	-no-user-config -display none -no-reboot -serial stdio ${MODVM_NESTED_MONITOR:+-monitor unix:$MODVM_NESTED_MONITOR,server=on,wait=off} \
	-kernel "$KDIR/vmlinux" -initrd "$WORK/initrd.gz" \
	-append "console=ttyS0 panic=-1 rdinit=/init quiet" </dev/null >"$CONSOLE" 2>&1
qrc=$?
set -e
T1=$(date +%s.%N)
note "L1 VM ran $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }') s (qemu exit status $qrc)"
grep -q "^NESTED-NO-KVM" "$CONSOLE" && skip "QEMU's TCG gave the L1 VM no usable SVM/KVM"
src=$(sed -n 's/^NESTED-EXIT: \([0-9]*\).*/\1/p' "$CONSOLE" | tail -n 1)
[ "$src" = 0 ] && exit 0
if [ -z "$src" ]; then
	[ $qrc = 124 ] && note "the L1 VM timed out after ${TIMEOUT}s"
	why="the L1 VM ended before the scenario did"
else
	why="the scenario exited with status $src"
fi
note "L1 console (last 30 lines):"
tail -n 30 "$CONSOLE" | sed 's/^/    /'
fail "$why"
