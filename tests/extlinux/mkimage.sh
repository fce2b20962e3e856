#!/bin/sh
# mkimage.sh — builds a raw disk image that boots EXTLINUX (Debian's syslinux 6) from an ext2 partition:
#
#   sector 0     syslinux's mbr.bin (boot code, 440 bytes) + one partition entry: type 0x83, active,
#                LBA 2048 (1 MiB) to the end of the image
#   partition 1  ext2 with EXTLINUX installed by `extlinux --install` (its boot sector is the
#                partition's first sector; mbr.bin hands it the partition entry in DS:SI), and
#                  extlinux.conf   SERIAL 0 115200, PROMPT 1, TIMEOUT 0 (wait at "boot:"),
#                                  DEFAULT exit7, labels exit7 and exit9
#                  ldlinux.c32 libcom32.c32 mboot.c32   syslinux's BIOS modules (mboot.c32 needs
#                                  libcom32.c32)
#                  exit-code.elf   the multiboot test guest: label exitN runs
#                                  `mboot.c32 exit-code.elf exit=N`, which prints "exit-code: N" on
#                                  COM1 and leaves through debug-exit (status 2N+1)
#
#   mkimage.sh IMAGE EXIT_CODE_ELF
#
# Needs root (loop mount), mkfs.ext2 (e2fsprogs), losetup/mount (util-linux). EXTLINUX comes from the
# system (Debian packages extlinux + syslinux-common) when installed, else both packages are fetched
# with `apt-get download` and unpacked with `dpkg-deb -x` into $MODVM_FIXTURE_CACHE/syslinux (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/modvm/syslinux); nothing is installed. The partition table is
# written here (printf + dd), so sfdisk is not needed.
#
# Exit status: 0 image built, 1 failure, 77 this host cannot build it (not root, no loop devices,
# no mkfs.ext2, EXTLINUX neither installed nor fetchable). One line on stderr says why.
set -eu

SIZE_MIB=32
PART_START=2048 # sectors

die() {
    echo "mkimage: $*" >&2
    exit 1
}
cannot() {
    echo "mkimage: $*" >&2
    exit 77
}

[ $# -eq 2 ] || { echo "usage: mkimage.sh IMAGE EXIT_CODE_ELF" >&2; exit 2; }
image=$1
guest=$2
[ -r "$guest" ] || die "cannot read the guest $guest"

[ "$(id -u)" = 0 ] || cannot "needs root (it loop-mounts the image)"
[ -e /dev/loop-control ] || [ -e /dev/loop0 ] || cannot "no loop devices (/dev/loop-control)"
PATH=$PATH:/usr/sbin:/sbin
for tool in mkfs.ext2 losetup mount umount dd; do
    command -v "$tool" >/dev/null 2>&1 || cannot "$tool is not installed (e2fsprogs, util-linux)"
done

# ---- EXTLINUX: the system's, or Debian's packages unpacked into the cache ----
modules=usr/lib/syslinux/modules/bios
mbr=usr/lib/syslinux/mbr/mbr.bin
if command -v extlinux >/dev/null 2>&1 && [ -r "/$modules/mboot.c32" ] && [ -r "/$mbr" ]; then
    extlinux=$(command -v extlinux)
    root=
else
    cache=${MODVM_FIXTURE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/modvm}/syslinux
    root=$cache
    extlinux=$cache/usr/bin/extlinux
    if ! [ -x "$extlinux" ] || ! [ -r "$cache/$modules/mboot.c32" ] || ! [ -r "$cache/$mbr" ]; then
        if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
            cannot "EXTLINUX is not installed and there is no apt-get/dpkg-deb to fetch Debian's extlinux + syslinux-common"
        fi
        mkdir -p "$cache" || die "cannot create $cache"
        work=$(mktemp -d "$cache/.fetch.XXXXXX") || die "cannot create a temporary directory in $cache"
        trap 'rm -rf "$work"' EXIT
        # apt-get download as root drops privileges to _apt, which must be able to write here.
        chmod 0777 "$work"
        (cd "$work" && apt-get download -q extlinux syslinux-common >/dev/null 2>"$work/apt.log") ||
            cannot "apt-get download extlinux syslinux-common failed (try 'apt-get update'): $(tail -n 1 "$work/apt.log")"
        for deb in "$work"/extlinux_*.deb "$work"/syslinux-common_*.deb; do
            [ -r "$deb" ] || die "apt-get download left no $deb"
            dpkg-deb -x "$deb" "$work/root" || die "dpkg-deb -x $deb failed"
        done
        if ! [ -x "$work/root/usr/bin/extlinux" ] || ! [ -r "$work/root/$modules/mboot.c32" ] ||
            ! [ -r "$work/root/$mbr" ]; then
            die "the packages lack usr/bin/extlinux, $modules/mboot.c32 or $mbr"
        fi
        rm -rf "${cache:?}/usr"
        mv "$work/root/usr" "$cache/usr" || die "cannot move the unpacked files into $cache"
        rm -rf "$work"
        trap - EXIT
    fi
fi
modules=$root/$modules
mbr=$root/$mbr

# ---- the disk: MBR boot code + partition table ----
rm -f "$image"
dd if=/dev/zero of="$image" bs=1M count=0 seek=$SIZE_MIB status=none || die "cannot create $image"
dd if="$mbr" of="$image" bs=440 count=1 conv=notrunc status=none || die "cannot write $mbr into $image"

# A little-endian 32-bit value as printf escapes.
le32() {
    printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255))
}
# CHS of LBA $1 for the 255-head, 63-sector geometry, as the three printf escapes of a partition entry
# (head, sector | cylinder bits 8-9 << 6, cylinder bits 0-7); beyond cylinder 1023 it is 1023/254/63.
chs() {
    c=$(($1 / (255 * 63)))
    h=$((($1 / 63) % 255))
    s=$(($1 % 63 + 1))
    if [ $c -gt 1023 ]; then c=1023 h=254 s=63; fi
    printf '\\%03o\\%03o\\%03o' $h $((s | ((c >> 8) << 6))) $((c & 255))
}
sectors=$((SIZE_MIB * 2048 - PART_START))
# Partition 1 at offset 446: active (0x80), start CHS, type 0x83 (Linux), end CHS, start LBA, sectors;
# the disk signature at 440 and the boot signature 55 AA at 510.
# shellcheck disable=SC2059 # the format is built from escapes on purpose
{
    printf "$(le32 0x4d564d31)\\000\\000"
    printf "\\200$(chs $PART_START)\\203$(chs $((PART_START + sectors - 1)))$(le32 $PART_START)$(le32 $sectors)"
    dd if=/dev/zero bs=16 count=3 status=none
    printf '\125\252'
} | dd of="$image" bs=1 seek=440 conv=notrunc status=none || die "cannot write the partition table"

# ---- partition 1: ext2 + EXTLINUX ----
offset=$((PART_START * 512))
mkfs.ext2 -q -F -L extlinux -E offset=$offset "$image" $((sectors / 2))k >/dev/null ||
    die "mkfs.ext2 failed"

mnt=$(mktemp -d "${TMPDIR:-/tmp}/modvm-extlinux.XXXXXX") || die "cannot create a mount point"
mounted=0
cleanup() {
    if [ $mounted = 1 ]; then
        umount "$mnt" || umount -l "$mnt" || true
    fi
    rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! mount -o loop,offset=$offset -t ext2 "$image" "$mnt" 2>"$mnt.err"; then
    why=$(cat "$mnt.err")
    rm -f "$mnt.err"
    cannot "cannot loop-mount the image: $why"
fi
rm -f "$mnt.err"
mounted=1

cp "$modules/ldlinux.c32" "$modules/libcom32.c32" "$modules/mboot.c32" "$mnt/" || die "cannot copy the modules"
cp "$guest" "$mnt/exit-code.elf" || die "cannot copy $guest"
cat >"$mnt/extlinux.conf" <<'EOF'
SERIAL 0 115200
PROMPT 1
TIMEOUT 0
DEFAULT exit7

LABEL exit7
  KERNEL mboot.c32
  APPEND exit-code.elf exit=7

LABEL exit9
  KERNEL mboot.c32
  APPEND exit-code.elf exit=9
EOF
# extlinux writes its boot sector into the partition's first sector (the loop device starts there)
# and ldlinux.sys into the directory; it warns that a loop device has no geometry.
"$extlinux" --install "$mnt" >"$mnt.log" 2>&1 || { cat "$mnt.log" >&2; rm -f "$mnt.log"; die "extlinux --install failed"; }
rm -f "$mnt.log"
sync
umount "$mnt" || die "cannot unmount $mnt"
mounted=0
