#!/bin/sh
# tools/deps.sh GROUP... — make sure the Debian packages nnrun needs are
# installed.  Installs the missing ones with apt-get (as root) or sudo;
# otherwise prints the exact command to run and exits 2.
#
#   base   build and test: compiler, CMake, Lua 5.4, busted, libyaml, zlib,
#          gnuplot (nnrun plot, landscape, explain, report) and the
#          Fashion-MNIST data of the default experiment; python3-onnx
#          (the check of nnrun export --onnx), luarocks (luarocks make),
#          Open MPI (mpirun -np N nnrun ..., the NNRUN_MPI build)
#   browser  headless Chromium, which the tests of nnrun report render in
#   bench  benchmark references: OpenBLAS and PyTorch
#   fuzz   clang and its libFuzzer runtime
set -eu

pkgs_for() {
    case "$1" in
    base) echo "build-essential cmake pkg-config lua5.4 liblua5.4-dev lua-busted libyaml-dev zlib1g-dev gnuplot-nox dataset-fashion-mnist python3-onnx luarocks libopenmpi-dev openmpi-bin" ;;
    browser) echo "chromium" ;;
    bench) echo "libopenblas-dev python3-torch" ;;
    fuzz) echo "clang libclang-rt-14-dev" ;;
    *) echo "deps.sh: unknown group '$1' (expected base, browser, bench or fuzz)" >&2; exit 2 ;;
    esac
}

for group in "${@:-base}"; do
    pkgs_for "$group" >/dev/null
done

missing=""
for group in "${@:-base}"; do
    for p in $(pkgs_for "$group"); do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing="$missing $p"
        fi
    done
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing missing packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
else
    echo "deps.sh: missing packages:$missing" >&2
    echo "deps.sh: run: sudo apt-get install -y$missing" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y -q $missing; then
    # A fresh machine may have no package lists yet.
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q $missing
fi
