#!/bin/bash
# tests/linux/fetch-kernel.sh — fetch Debian's kernel (the package linux-image-amd64 depends on) into
# the modvm fixture cache and derive the two boot images modvm's Linux loaders take:
#   vmlinuz   the bzImage as Debian ships it (x86 boot protocol, Documentation/arch/x86/boot.rst)
#   vmlinux   the ELF inside it: the bzImage payload (boot.rst: payload_offset/payload_length) is an
#             XZ stream; decompressed, it is the kernel ELF with the PVH entry note
#             (XEN_ELFNOTE_PHYS32_ENTRY, type 18, owner "Xen") when the kernel has CONFIG_PVH=y.
# The extracted package stays in <dir>/root (modules for the nested-KVM test).
#
# Usage: fetch-kernel.sh [--busybox]
#   Prints the kernel directory (holding vmlinuz, vmlinux, version, root/) on stdout; with --busybox
#   also fetches busybox-static and prints its path on a second line.
# Cache: $MODVM_CACHE, else $XDG_CACHE_HOME/modvm, else ~/.cache/modvm. Concurrent runs serialise
# on a lock in the cache. Needs apt-get/apt-cache (Debian or a derivative), dpkg-deb and xz.
# Exit status: 0, 1 on failure, 77 when this host cannot fetch Debian packages (no apt).
set -euo pipefail
export LC_ALL=C

CACHE=${MODVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/modvm}
WANT_BUSYBOX=0
[ "${1:-}" = --busybox ] && WANT_BUSYBOX=1

die() { echo "fetch-kernel: $*" >&2; exit 1; }
note() { echo "fetch-kernel: $*" >&2; }

for t in apt-get apt-cache dpkg-deb; do
	command -v $t >/dev/null || { note "$t not found: fetching Debian's kernel needs a Debian host"; exit 77; }
done
command -v xz >/dev/null || die "xz not found (install xz-utils)"

mkdir -p "$CACHE/debs" "$CACHE/linux"
exec 9>"$CACHE/.lock"
flock 9
# apt-get download as root drops to the _apt user, which cannot write to the cache.
APT=(apt-get -q -o APT::Sandbox::User=root)

# Little-endian unsigned integer of $3 bytes at offset $2 of file $1.
le() { od -An -tu"$3" -j "$2" -N "$3" --endian=little "$1" | tr -d ' '; }

# Derives vmlinux from the bzImage $1 into $2; fails when the payload is not XZ.
extract_vmlinux() {
	local z=$1 out=$2 setup_sects pm poff plen
	[ "$(dd if="$z" bs=1 skip=$((0x202)) count=4 status=none)" = HdrS ] || die "$z is not a bzImage"
	setup_sects=$(le "$z" $((0x1f1)) 1)
	[ "$setup_sects" = 0 ] && setup_sects=4
	pm=$(((setup_sects + 1) * 512))
	poff=$(le "$z" $((0x248)) 4)
	plen=$(le "$z" $((0x24c)) 4)
	[ "$(dd if="$z" bs=1 skip=$((pm + poff)) count=6 status=none | od -An -tx1 | tr -d ' ')" = fd377a585a00 ] ||
		die "$z: the payload is not XZ-compressed (CONFIG_KERNEL_XZ); cannot derive vmlinux"
	dd if="$z" iflag=skip_bytes,count_bytes skip=$((pm + poff)) count="$plen" bs=1M status=none |
		xz -dc --single-stream >"$out.tmp" ||
		die "$z: cannot decompress the XZ payload"
	mv "$out.tmp" "$out"
}

# True when ELF $1 has the PVH entry note (owner Xen, type 0x12).
has_pvh_note() {
	command -v readelf >/dev/null || return 0 # no binutils: modvm itself will say
	readelf -n "$1" 2>/dev/null | awk '$1 == "Xen" && /0x00000012|PHYS32_ENTRY/ { f = 1 } END { exit !f }'
}

if [ -s "$CACHE/linux/pkg" ]; then
	pkg=$(cat "$CACHE/linux/pkg")
else
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$pkg" ] || die "cannot resolve linux-image-amd64 to a kernel package (run apt-get update?)"
fi
K=$CACHE/linux/$pkg
if [ ! -e "$K/.done" ]; then
	note "fetching $pkg into $K"
	deb=$(ls -t "$CACHE"/debs/"$pkg"_*.deb 2>/dev/null | head -1 || true)
	if [ -z "$deb" ]; then
		(cd "$CACHE/debs" && "${APT[@]}" download "$pkg" >&2) || die "apt-get download $pkg failed"
		deb=$(ls -t "$CACHE"/debs/"$pkg"_*.deb | head -1)
	fi
	rm -rf "$K" && mkdir -p "$K"
	dpkg-deb -x "$deb" "$K/root"
	kver=$(ls "$K/root/lib/modules" | head -1)
	[ -f "$K/root/boot/vmlinuz-$kver" ] || die "$deb has no /boot/vmlinuz-$kver"
	echo "$kver" >"$K/version"
	ln -sf "root/boot/vmlinuz-$kver" "$K/vmlinuz"
	extract_vmlinux "$K/vmlinuz" "$K/vmlinux"
	has_pvh_note "$K/vmlinux" || die "$K/vmlinux has no PVH entry note (kernel without CONFIG_PVH)"
	echo "$pkg" >"$CACHE/linux/pkg"
	touch "$K/.done"
	note "kernel $kver ready: $K/vmlinuz, $K/vmlinux"
fi
echo "$K"

if [ "$WANT_BUSYBOX" = 1 ]; then
	B=$CACHE/busybox/busybox
	if [ ! -x "$B" ]; then
		note "fetching busybox-static"
		deb=$(ls -t "$CACHE"/debs/busybox-static_*.deb 2>/dev/null | head -1 || true)
		if [ -z "$deb" ]; then
			(cd "$CACHE/debs" && "${APT[@]}" download busybox-static >&2) || die "apt-get download busybox-static failed"
			deb=$(ls -t "$CACHE"/debs/busybox-static_*.deb | head -1)
		fi
		rm -rf "$CACHE/busybox" && mkdir -p "$CACHE/busybox"
		dpkg-deb -x "$deb" "$CACHE/busybox/x"
		cp "$CACHE/busybox/x/bin/busybox" "$B.tmp" && mv "$B.tmp" "$B"
		rm -rf "$CACHE/busybox/x"
	fi
	echo "$B"
fi
