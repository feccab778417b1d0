#!/bin/sh
# install.sh BUILD_DIR SOURCE_DIR — install nnrun into a temporary prefix,
# build and run programs against it through find_package(nnrun) and through
# pkg-config, then uninstall it the way `make uninstall` does (from the
# install manifest) and check that no installed file is left.
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
manifest=$build/install_manifest.txt
# cmake --install rewrites BUILD_DIR/install_manifest.txt: keep the one of a
# real `make install` (what `make uninstall` will read) and put it back.
if [ -f "$manifest" ]; then cp "$manifest" "$tmp/manifest.saved"; fi
restore() {
    if [ -f "$tmp/manifest.saved" ]; then cp "$tmp/manifest.saved" "$manifest"; else rm -f "$manifest"; fi
    rm -rf "$tmp"
}
trap restore EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cp "$manifest" "$tmp/manifest"
# Every installed file is listed, and lies in the prefix.
n=$(find "$tmp/prefix" ! -type d | wc -l)
test "$n" -gt 0
listed=$(grep -c "" "$tmp/manifest")
test "$listed" -eq "$n" || { echo "install: manifest lists $listed files, $n installed"; exit 1; }
if grep -v "^$tmp/prefix/" "$tmp/manifest"; then echo "install: files outside the prefix"; exit 1; fi

cmake -S "$src/tests/install" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/consumer" >/dev/null
libdir=$(dirname "$(find "$tmp/prefix" -name 'libnnrun.so*' | head -n 1)")
LD_LIBRARY_PATH=$libdir "$tmp/consumer/consumer"
"$tmp/consumer/consumer_static"
pc=$(find "$tmp/prefix" -name nnrun.pc | head -n 1)
# shellcheck disable=SC2046
cc -o "$tmp/pc" "$src/tests/install/consumer.c" $(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs nnrun)
LD_LIBRARY_PATH=$libdir "$tmp/pc"
test -x "$tmp/prefix/bin/nnrun"
mod=$(find "$tmp/prefix" -name nnrun.so | head -n 1)
test -f "$mod"
# A host of sandboxed scripts, built from the installed nnrun_lua.h and nnrun.so.
# shellcheck disable=SC2046
cc -o "$tmp/host" "$src/tests/install/sandbox_host.c" -I"$tmp/prefix/include" $(pkg-config --cflags --libs lua5.4) "$mod" -Wl,-rpath,"$(dirname "$mod")"
LD_LIBRARY_PATH=$libdir "$tmp/host"

# Uninstall: the command of `make uninstall` and of the uninstall target.
cmake -DMANIFEST="$tmp/manifest" -P "$src/cmake/uninstall.cmake" >/dev/null
left=$(find "$tmp/prefix" ! -type d -o -type d -name '*nnrun*')
if [ -n "$left" ]; then echo "uninstall left:"; echo "$left"; exit 1; fi
# A second uninstall finds nothing to remove and does not fail.
cmake -DMANIFEST="$tmp/manifest" -P "$src/cmake/uninstall.cmake" >/dev/null
# Without a manifest: one line, failure.
if cmake -DMANIFEST="$tmp/none.txt" -P "$src/cmake/uninstall.cmake" 2>"$tmp/err"; then echo "uninstall without a manifest succeeded"; exit 1; fi
grep -q "uninstall: $tmp/none.txt does not exist" "$tmp/err"
echo "install: ok"
