#!/bin/sh
# tests/linux/l1-banner.sh — in-nested-vm.sh's scenario, run by busybox sh inside the L1 VM of
# nested-vm.sh: boot each Linux image under modvm until WANT appears on its COM1, then stop modvm.
#
# Usage: l1-banner.sh MODVM WANT LINGER INITRD NAME=IMAGE...
#   WANT    what to wait for on COM1 ("Linux version", or the L2 initramfs's "L2-INIT-OK")
#   LINGER  seconds to let L2 run on after WANT, then print its whole console (0: just the banner)
#   INITRD  an --initrd for L2, or "" for none
#   NAME=IMAGE  the image to boot with --kernel and the name to report it under (bzimage, pvh)
# Reports, per image, "NESTED-BANNER: NAME SECONDS ('WANT' seen)" or "NESTED-FAIL: NAME ..." with the
# end of modvm's output; in-nested-vm.sh judges them. Each image gets NESTED_TIMEOUT - 60 seconds (L1
# spends some of NESTED_TIMEOUT booting). Exits 0 once every image had its run.
MODVM=$1
WANT=$2
LINGER=$3
INITRD=$4
shift 4
L2_TIMEOUT=$((NESTED_TIMEOUT - 60))
APPEND="console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1 nokaslr"
[ "$WANT" = "L2-INIT-OK" ] && APPEND="$APPEND rdinit=/init"

up() { cut -d' ' -f1 /proc/uptime; }
mkdir -p /l2log
for run in "$@"; do
	name=${run%%=*}
	image=${run#*=}
	log=/l2log/$name.log
	: >"$log"
	t0=$(up)
	"$MODVM" run --kernel "$image" ${INITRD:+--initrd "$INITRD"} --append "$APPEND" --memory 512 --no-reboot \
		</dev/null >"$log" 2>&1 &
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
		echo "NESTED-BANNER: $name $result ('$WANT' seen)"
		if [ "$LINGER" -gt 0 ]; then sed "s/^/L2 /" "$log"; echo; else grep -m1 "Linux version" "$log"; fi
	else
		echo "NESTED-FAIL: $name (no '$WANT'); modvm's output ends with:"
		tail -n 15 "$log"
	fi
done
exit 0
