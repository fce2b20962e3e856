#!/bin/bash
# tests/sdk/install-and-build.sh — "a third party can build a plugin against the *installed* SDK".
#
#   install-and-build.sh BUILD_DIR SOURCE_DIR
#
# 1. installs the build (`meson install --destdir`) into a scratch root;
# 2. checks the installed SDK: every header of sdk/include/modvm is installed and compiles on its own
#    as C11 (-pedantic -Werror) and as C++17, and MODVM_PLUGIN gives C linkage in C++;
# 3. builds a copy of sdk/examples/counter with nothing but that root's pkg-config file — the copy has
#    no path back into the source or build tree, so a header or flag that only the tree provides
#    fails here;
# 4. checks the plugin's linkage: no undefined modvm symbol, no libmodvm dependency, and
#    modvm_plugin_descriptor its only export;
# 5. runs the *installed* modvm (installed libmodvm and plugins) with the example plugin on the guest
#    tests/guest/example-device.elf, which must print "example-device: ok" and exit with status 39.
#
# Exit status: 0 on success; 77 (meson's "skipped") when /dev/kvm cannot be opened — then only step
# 5 was left out, which the message says; 1 with a "FAIL:" line otherwise. Set KEEP_TMP=1 to keep
# the scratch directory for a look after a failure.
set -u

me=sdk-install-and-build
fail() {
    echo "$me: FAIL: $*" >&2
    exit 1
}
# Prints a log file (indented) after a failed command.
show_log() {
    echo "---- $1" >&2
    sed 's/^/    /' "$1" >&2
    echo "----" >&2
}

[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2; exit 2; }
build=$(realpath -e "$1") || fail "build directory '$1' does not exist"
src=$(realpath -e "$2") || fail "source directory '$2' does not exist"
[ -f "$build/meson-private/coredata.dat" ] || fail "'$build' is not a meson build directory"
[ -d "$src/sdk/include/modvm" ] || fail "'$src' is not the modvm source tree (no sdk/include/modvm)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/modvm-sdk-test.XXXXXX") || fail "cannot create a scratch directory"
tmp=$(realpath "$tmp")
if [ "${KEEP_TMP:-0}" = 1 ]; then
    echo "$me: scratch directory kept: $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi
case "$tmp/" in
"$src"/* | "$build"/*)
    fail "the scratch directory $tmp lies inside the modvm tree, so 'no path back into the tree' " \
         "cannot be checked; set TMPDIR elsewhere" ;;
esac
root=$tmp/root

# ---- 1. install ---------------------------------------------------------------------------------
# Without --no-rebuild: meson test builds only the test's `depends`, and an installed target added
# later and missing there must not make this test fail. After `ninja` this rebuild is a no-op.
echo "$me: installing $build into $root"
meson install -C "$build" --destdir "$root" --quiet >"$tmp/install.log" 2>&1 ||
    { show_log "$tmp/install.log"; fail "meson install --destdir failed"; }

pcfile=$(find "$root" -name modvm-sdk.pc -type f -print -quit)
[ -n "$pcfile" ] || fail "meson install did not install modvm-sdk.pc"
pcdir=$(dirname "$pcfile")
# Only the installed .pc: PKG_CONFIG_LIBDIR replaces the default search path, so a modvm-sdk.pc
# elsewhere on this host cannot stand in for it.
pkgconf() {
    PKG_CONFIG_LIBDIR=$pcdir PKG_CONFIG_PATH='' PKG_CONFIG_SYSROOT_DIR='' pkg-config "$@"
}
command -v pkg-config >/dev/null || fail "pkg-config is not installed"
includedir=$(pkgconf --variable=includedir modvm-sdk) || fail "$pcfile: no 'includedir'"
plugindir=$(pkgconf --variable=plugindir modvm-sdk) || fail "$pcfile: no 'plugindir'"
if [ -z "$includedir" ] || [ -z "$plugindir" ]; then
    fail "$pcfile: 'includedir' or 'plugindir' is empty"
fi
inc=$root$includedir
plugins=$root$plugindir
[ -f "$inc/modvm/plugin.h" ] || fail "$pcfile says includedir=$includedir, but $inc/modvm/plugin.h is not there"
[ -f "$plugins/debug-exit.so" ] ||
    fail "$pcfile says plugindir=$plugindir, but the installed plugins are not there: $(find "$root" -name debug-exit.so)"

modvm=$(find "$root" -path '*/bin/modvm' -type f -print -quit)
[ -n "$modvm" ] || fail "meson install did not install the modvm program"
[ -x "$modvm" ] || fail "the installed $modvm is not executable"
libmodvm=$(find "$root" -name 'libmodvm.so*' -print -quit)
[ -n "$libmodvm" ] || fail "meson install did not install libmodvm"
libdir=$(dirname "$libmodvm")

# ---- 2. the installed headers -------------------------------------------------------------------
for h in "$src"/sdk/include/modvm/*.h; do
    [ -f "$inc/modvm/${h##*/}" ] || fail "SDK header modvm/${h##*/} is not installed (add it to sdk/meson.build)"
done
cc=${CC:-cc}
cxx=${CXX:-g++}
command -v "$cxx" >/dev/null || cxx=
nheaders=0
for h in "$inc"/modvm/*.h; do
    name=modvm/${h##*/}
    printf '#include <%s>\n' "$name" >"$tmp/header.c"
    "$cc" -std=c11 -pedantic -Wall -Wextra -Werror -fsyntax-only -I"$inc" "$tmp/header.c" \
        >"$tmp/header.log" 2>&1 ||
        { show_log "$tmp/header.log"; fail "<$name> alone does not compile as C11 (-pedantic -Wall -Wextra -Werror)"; }
    if [ -n "$cxx" ]; then
        "$cxx" -std=c++17 -x c++ -pedantic -Wall -Wextra -Werror -fsyntax-only -I"$inc" "$tmp/header.c" \
            >"$tmp/header.log" 2>&1 ||
            { show_log "$tmp/header.log"; fail "<$name> alone does not compile as C++17"; }
    fi
    nheaders=$((nheaders + 1))
done
if [ -n "$cxx" ]; then
    # MODVM_PLUGIN in C++ must define the descriptor with C linkage, unmangled, or the loader cannot
    # find it. (Designated initializers need C++20, in declaration order. g++ -Wextra warns about the
    # reserved fields MODVM_PLUGIN leaves to zero — C++ warns where C does not — hence the -Wno.)
    cat >"$tmp/plugin.cc" <<'CXX'
#include <modvm/drv.h>
#include <modvm/pdm.h>
#include <modvm/plugin.h>
#include <modvm/ui.h>
static int cxx_register(const struct modvm_registrar *reg) { return reg ? 0 : -1; }
MODVM_PLUGIN(.name = "cxx", .plugin_version = "1.0.0", .license = "MIT", .description = "C++ plugin",
             .register_types = cxx_register);
CXX
    "$cxx" -std=c++20 -pedantic -Wall -Wextra -Werror -Wno-missing-field-initializers -fPIC -c -I"$inc" -o "$tmp/plugin.o" "$tmp/plugin.cc" \
        >"$tmp/header.log" 2>&1 || { show_log "$tmp/header.log"; fail "a C++20 plugin using MODVM_PLUGIN does not compile"; }
    nm -P --defined-only "$tmp/plugin.o" | grep -q '^modvm_plugin_descriptor ' ||
        fail "MODVM_PLUGIN in C++ does not define an unmangled (extern \"C\") modvm_plugin_descriptor: $(nm -P "$tmp/plugin.o")"
    echo "$me: $nheaders installed headers compile alone as C11 and C++17; MODVM_PLUGIN has C linkage in C++"
else
    echo "$me: NOTE: no C++ compiler ($cxx; set CXX): the C++ header checks were left out"
    echo "$me: $nheaders installed headers compile alone as C11"
fi

# ---- 3. build the example from a copy, against the installed SDK only ---------------------------
example=$tmp/counter
mkdir "$example" || fail "cannot create $example"
# Files only (-L: no symlink may point back into the tree); a build directory someone left in the
# example folder is not part of the example.
find "$src/sdk/examples/counter" -maxdepth 1 -type f -exec cp -L {} "$example/" \; ||
    fail "cannot copy sdk/examples/counter"
[ -f "$example/meson.build" ] || fail "sdk/examples/counter has no meson.build"
if grep -rIlF -e "$src" -e "$build" "$example" >"$tmp/grep.log"; then
    show_log "$tmp/grep.log"
    fail "the example's files name the modvm source or build tree"
fi

echo "$me: building a copy of sdk/examples/counter against $pcfile"
export PKG_CONFIG_LIBDIR=$pcdir PKG_CONFIG_PATH='' PKG_CONFIG_SYSROOT_DIR=$root
meson setup "$tmp/counter-build" "$example" -Dwerror=true >"$tmp/setup.log" 2>&1 ||
    { show_log "$tmp/setup.log"; fail "meson setup of the example against the installed SDK failed"; }
ninja -C "$tmp/counter-build" >"$tmp/ninja.log" 2>&1 ||
    { show_log "$tmp/ninja.log"; fail "the example does not build against the installed SDK (-Werror)"; }
unset PKG_CONFIG_LIBDIR PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
commands=$tmp/counter-build/compile_commands.json
grep -qF -e "-I$inc" "$commands" || fail "the example was not compiled with the installed headers (-I$inc): $(cat "$commands")"
if grep -F -e "$src" -e "$build" "$commands" >"$tmp/grep.log"; then
    show_log "$tmp/grep.log"
    fail "the example's build reaches into the modvm source or build tree"
fi

plugin=$tmp/counter-build/example-counter.so
[ -f "$plugin" ] || fail "the example's build did not produce example-counter.so: $(ls "$tmp/counter-build")"

# ---- 4. linkage of the plugin -------------------------------------------------------------------
undefined=$(nm -D --undefined-only "$plugin" | awk '{print $NF}' | grep -i modvm)
[ -z "$undefined" ] || fail "example-counter.so needs modvm symbols (a plugin uses only its helper table): $undefined"
if readelf -d "$plugin" | grep NEEDED | grep -qi modvm; then
    fail "example-counter.so links to libmodvm: $(readelf -d "$plugin" | grep NEEDED)"
fi
# Symbols the linker itself may add (older binutils export them) are not the plugin's.
exports=$(nm -D --defined-only "$plugin" | awk '{print $NF}' | grep -vxE '_init|_fini|__bss_start|_edata|_end' |
          sort | tr '\n' ' ')
[ "$exports" = "modvm_plugin_descriptor " ] ||
    fail "example-counter.so must export only modvm_plugin_descriptor, but exports: $exports"
echo "$me: example-counter.so: no modvm symbols needed, only modvm_plugin_descriptor exported"

# ---- 5. the installed modvm with the example plugin ---------------------------------------------
# A program installed under --destdir looks for its plugins in the real plugin directory; point it
# at the scratch root's with MODVM_PLUGIN_PATH, and at the example with --plugin-path.
# Only the installed library: meson test puts the build tree's libmodvm on LD_LIBRARY_PATH.
run_env() {
    env LD_LIBRARY_PATH="$libdir" MODVM_PLUGIN_PATH="$plugins" "$@"
}
resolved=$(run_env ldd "$modvm" | awk '/libmodvm/ {print $3}')
case "$resolved" in
"$root"/*) ;;
*) fail "the installed modvm resolves libmodvm to '$resolved', not the installed one under $root" ;;
esac
run_env "$modvm" list plugins -v --plugin-path "$tmp/counter-build" >"$tmp/list.log" 2>&1 ||
    { show_log "$tmp/list.log"; fail "'modvm list plugins' (installed) failed"; }
grep -qF "$plugins/debug-exit.so" "$tmp/list.log" ||
    { show_log "$tmp/list.log"; fail "the installed modvm did not load the installed plugins from $plugins"; }
if ! grep -q 'example-counter' "$tmp/list.log" || ! grep -q 'iobase' "$tmp/list.log"; then
    show_log "$tmp/list.log"
    fail "'modvm list plugins -v' does not show example-counter and its option iobase"
fi

# -c first: `<>` would create a missing /dev/kvm as a plain file.
if ! [ -c /dev/kvm ] || ! (exec 3<>/dev/kvm) 2>/dev/null; then
    echo "$me: SKIP: cannot open /dev/kvm read-write (is KVM available, are you in group kvm?), so the" \
         "example plugin was not run; install, header, build and linkage checks passed"
    exit 77
fi

guest=$build/tests/guest/example-device.elf
[ -f "$guest" ] || fail "test guest $guest is not built (ninja -C $build)"
echo "$me: running the installed modvm with example-counter on example-device.elf"
run_env timeout -k 5 60 "$modvm" run --kernel "$guest" --device debug-exit --device example-counter \
    --plugin-path "$tmp/counter-build" </dev/null >"$tmp/run.log" 2>&1
status=$?
if [ "$status" -ne 39 ] || ! grep -q 'example-device: ok' "$tmp/run.log"; then
    show_log "$tmp/run.log"
    [ "$status" -eq 124 ] && fail "modvm run timed out after 60 s"
    fail "modvm run exited with status $status (expected 39, the guest's debug-exit 0x13) or did not print" \
         "'example-device: ok'"
fi
echo "$me: PASS"
exit 0
