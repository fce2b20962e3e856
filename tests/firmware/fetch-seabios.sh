#!/bin/sh
# fetch-seabios.sh — prints the path of a SeaBIOS image (Debian's seabios package, bios-256k.bin) for
# the firmware tests, fetching the package into a cache when the system has none.
#
#   fetch-seabios.sh            prints /usr/share/seabios/bios-256k.bin when installed, else
#                               $CACHE/usr/share/seabios/bios-256k.bin after fetching
#
# The cache is $MODVM_FIXTURE_CACHE/seabios (default ${XDG_CACHE_HOME:-$HOME/.cache}/modvm/seabios).
# Fetching uses `apt-get download seabios` (needs Debian's package lists: run `apt-get update`
# first on a fresh machine) and unpacks the .deb with `dpkg-deb -x`; nothing is installed and
# nothing needs root. Exits 1 with one line on stderr when no image can be had.
set -eu

image=usr/share/seabios/bios-256k.bin
if [ -r "/$image" ]; then
    echo "/$image"
    exit 0
fi

cache=${MODVM_FIXTURE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/modvm}/seabios
if [ -r "$cache/$image" ]; then
    echo "$cache/$image"
    exit 0
fi

die() {
    echo "fetch-seabios: $*" >&2
    exit 1
}

command -v apt-get >/dev/null 2>&1 || die "no /$image and no apt-get to fetch Debian's seabios package"
command -v dpkg-deb >/dev/null 2>&1 || die "no /$image and no dpkg-deb to unpack Debian's seabios package"
mkdir -p "$cache" || die "cannot create $cache"
work=$(mktemp -d "$cache/.fetch.XXXXXX") || die "cannot create a temporary directory in $cache"
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current directory; as root it drops privileges to _apt, which
# must be able to write there.
chmod 0777 "$work"
(cd "$work" && apt-get download -q seabios >/dev/null 2>"$work/apt.log") ||
    die "apt-get download seabios failed (try 'apt-get update', or 'apt-get install seabios'): $(tail -n 1 "$work/apt.log")"
deb=$(ls "$work"/seabios_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "apt-get download seabios left no .deb"
dpkg-deb -x "$deb" "$work/root" || die "dpkg-deb -x $deb failed"
[ -r "$work/root/$image" ] || die "the seabios package has no /$image"
rm -rf "$cache/usr"
mv "$work/root/usr" "$cache/usr" || die "cannot move the unpacked files into $cache"
echo "$cache/$image"
