#!/bin/sh
# install.sh BUILD_DIR SOURCE_DIR — install nnrun into a temporary prefix,
# then build and run programs against it through find_package(nnrun) and
# through pkg-config.
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
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
test -f "$(find "$tmp/prefix" -name nnrun.so | head -n 1)"
echo "install: ok"
