#!/bin/sh
# tests/acpi/iasl-check.sh ACPIDUMP PLUGIN — the ACPI tables of several VM shapes, as placed in guest
# RAM, checked by ACPICA's iasl: each table disassembles (iasl -d) with no error and no warning
# (bad checksums, truncated tables and unknown opcodes are warnings there), and each disassembly
# compiles back (iasl) with 0 errors and 0 warnings — the compiler checks the DSDT's namespace,
# reserved names (_HID/_ADR, _CRS resource descriptors, _PRT packages, _Sx) and the data tables'
# field values. The recompiled DSDT must also be byte-identical to ours after its header.
# Skips (exit 77) where iasl is missing: it is Debian's acpica-tools package.
set -u

dump=$1
plugin=$2
if ! command -v iasl >/dev/null 2>&1; then
	echo "iasl not found (install Debian's acpica-tools): skipping"
	exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
failed=0

fail() {
	echo "FAIL: $*"
	failed=1
}

# Runs iasl with the given arguments in the current directory, output to $1; fails on a non-zero
# exit and on any line naming an error or a warning (the compiler's "0 Errors, 0 Warnings" summary
# aside).
run_iasl() {
	log=$1
	shift
	iasl "$@" >"$log" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ] ||
		grep -Ev '^Compilation successful\. 0 Errors, 0 Warnings, [0-9]+ Remarks' "$log" | grep -Eiq 'error|warning'; then
		echo "FAIL: iasl $* (exit $rc):"
		cat "$log"
		return 1
	fi
	return 0
}

check_config() {
	name=$1
	shift
	dir="$tmp/$name"
	mkdir -p "$dir"
	if ! "$dump" "$plugin" "$dir" "$@" >"$dir/dump.log" 2>&1; then
		fail "$name: modvm-acpidump $*"
		cat "$dir/dump.log"
		return
	fi
	for t in rsdp rsdt xsdt facp apic dsdt facs; do
		[ -s "$dir/$t.dat" ] || fail "$name: no $t.dat"
	done
	(
		cd "$dir" || exit 1
		ok=0
		# (The RSDP has no table header: iasl cannot read it from a file; acpidump checked it.)
		for t in rsdt xsdt facp apic dsdt facs; do
			run_iasl "$t.disasm.log" -d "$t.dat" || ok=1
			[ -s "$t.dsl" ] || { echo "FAIL: $name: iasl -d wrote no $t.dsl"; ok=1; continue; }
			# Compile the disassembly back; data tables through the data-table compiler.
			mkdir -p re
			run_iasl "$t.compile.log" -oa -p "re/$t" "$t.dsl" || ok=1
		done
		# The DSDT body iasl compiles (optimizations off: -oa) from our disassembly equals ours
		# (the header's compiler fields and checksum differ).
		if [ -s re/dsdt.aml ]; then
			tail -c +37 dsdt.dat >body.ours
			tail -c +37 re/dsdt.aml >body.iasl
			if ! cmp -s body.ours body.iasl; then
				echo "FAIL: $name: iasl recompiles the DSDT to different AML"
				cmp body.ours body.iasl | head -3
				ok=1
			fi
		fi
		exit $ok
	) || failed=1
	[ "$failed" = 0 ] && echo "ok: $name ($*)"
}

check_config one-cpu 1 128
check_config high-ram 4 6144
check_config no-legacy 8 512 com1=off i8042=off rtc=off pci-hole64-size=0
check_config many-cpus 254 2048

exit "$failed"
