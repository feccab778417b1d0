#!/bin/sh
# luarocks.sh SOURCE_DIR — `luarocks make` of the rockspec at the root of a
# copy of the source into a temporary tree, then the module used from a
# stock lua5.4 with that tree's paths (luarocks path): a network trained,
# predicted, exported; every scripts/nnrun/*.lua installed.
# Exit 77 (skipped) without luarocks.
set -eu
src=$1
command -v luarocks >/dev/null 2>&1 || { echo "luarocks is not installed: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
tar -C "$src" --exclude=./.git --exclude='./build*' --exclude=./runs -cf - . | tar -C "$tmp/src" -xf -
(cd "$tmp/src" && luarocks --lua-version 5.4 make --tree "$tmp/tree" nnrun-dev-1.rockspec >"$tmp/log" 2>&1) ||
  { cat "$tmp/log"; exit 1; }
LUA_PATH="$(luarocks --lua-version 5.4 path --tree "$tmp/tree" --lr-path);;"
LUA_CPATH="$(luarocks --lua-version 5.4 path --tree "$tmp/tree" --lr-cpath);;"
export LUA_PATH LUA_CPATH
cd "$tmp"
TMPTREE="$tmp/tree" lua5.4 -e '
local nn = require "nnrun"
assert(package.searchpath("nnrun", package.cpath):find(os.getenv("TMPTREE"), 1, true))
local net = nn.sequential({ nn.dense(2, 4), nn.tanh(), nn.dense(2) }, { seed = 1 })
local x = nn.tensor{ { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } }
nn.fit(net, nn.dataset(x, nn.tensor{ { 0 }, { 1 }, { 1 }, { 0 } }),
  { loss = "cross_entropy", epochs = 2 })
net:save("m.nnrun")
local again = nn.load("m.nnrun")
assert(#again:predict_classes(x) == 4)
local onnx = require "nnrun.onnx"
assert(#onnx.encode(onnx.describe(again, {}, "cross_entropy")) > 0)
print("luarocks: ok " .. nn.version())
'
n_src=$(ls "$src"/scripts/nnrun/*.lua | wc -l)
n_tree=$(find "$tmp/tree" -path "*/share/lua/5.4/nnrun/*.lua" | wc -l)
test "$n_src" -eq "$n_tree" || { echo "installed $n_tree of $n_src scripts"; exit 1; }
