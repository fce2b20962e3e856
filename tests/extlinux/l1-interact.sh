#!/bin/sh
# tests/extlinux/l1-interact.sh — extlinux_test.py's interact() for the L1 VM of
# tests/linux/nested-vm.sh (busybox sh): runs COMMAND once per TYPED with its stdin on a fifo, types
# TYPED once "boot:" shows up in its stdout, and reports how it ended and what it printed.
#
# Usage: l1-interact.sh PROMPT_TIMEOUT BOOT_TIMEOUT TYPED -- COMMAND [ARG...]
#   PROMPT_TIMEOUT  seconds from COMMAND's start to "boot:"
#   BOOT_TIMEOUT    seconds from typing to COMMAND's exit
#   TYPED           what to type per run, separated by spaces, each with printf %b escapes (a space
#                   in what is typed is \040): 'exit9\r \r' runs COMMAND twice
# Reports, for run N (0, 1, ... in the order of TYPED):
#   NESTED-RUN N STATE STATUS SECONDS  STATE: exited (STATUS is the exit status), no-prompt or
#                               no-exit (COMMAND was killed at the deadline; STATUS is "-");
#                               SECONDS of L1 time from COMMAND's start to its end
#   NESTED-OUT N BASE64         COMMAND's stdout, base64 (the console carries any byte then)
#   NESTED-ERR N BASE64         COMMAND's stderr, base64
# Exits 0 once every run is reported (extlinux_test.py judges them), 1 on a usage error.
[ $# -ge 5 ] && [ "$4" = -- ] ||
	{ echo "usage: l1-interact.sh PROMPT_TIMEOUT BOOT_TIMEOUT TYPED -- COMMAND [ARG...]"; exit 1; }
PROMPT_TIMEOUT=$1
BOOT_TIMEOUT=$2
TYPED=$3
shift 4

up() { cut -d' ' -f1 /proc/uptime; }
# True while L1's uptime is before $1.
before() { awk -v now="$(up)" -v t="$1" 'BEGIN { exit !(now < t) }'; }
after() { awk -v now="$(up)" -v s="$1" 'BEGIN { printf "%.2f", now + s }'; }

dir=/l1-interact
mkdir -p "$dir"
i=0
set -f # TYPED is split on spaces only
for typed in $TYPED; do
	out=$dir/$i.out
	err=$dir/$i.err
	# A fifo opened read-write by this shell: COMMAND's reads block until something is typed, and it
	# never sees end-of-file (as under the host test's pipe, which stays open until COMMAND exits).
	mkfifo "$dir/$i.in"
	exec 3<>"$dir/$i.in"
	t0=$(up)
	"$@" <&3 >"$out" 2>"$err" &
	pid=$!
	state=no-prompt
	deadline=$(after "$PROMPT_TIMEOUT")
	while kill -0 $pid 2>/dev/null && before "$deadline"; do
		if grep -q "boot:" "$out"; then
			printf '%b' "$typed" >&3
			state=no-exit
			deadline=$(after "$BOOT_TIMEOUT")
			break
		fi
		sleep 0.05
	done
	while kill -0 $pid 2>/dev/null && before "$deadline"; do sleep 0.05; done
	if kill -0 $pid 2>/dev/null; then
		kill $pid
		sleep 1
		kill -9 $pid 2>/dev/null
		wait $pid
		status=-
	else
		wait $pid
		status=$?
		state=exited
	fi
	exec 3>&-
	echo "NESTED-RUN $i $state $status $(awk -v a="$t0" -v b="$(up)" 'BEGIN { printf "%.2f", b - a }')"
	base64 "$out" | sed "s/^/NESTED-OUT $i /"
	base64 "$err" | sed "s/^/NESTED-ERR $i /"
	i=$((i + 1))
done
exit 0
