-- luarocks make: builds the nnrun Lua module (nnrun.so, the C runtime
-- linked in statically) with CMake and installs it with the nnrun.* scripts
-- into a Lua tree, as Lua libraries install:
--   luarocks --lua-version 5.4 make --local
--   eval "$(luarocks --lua-version 5.4 path)"; lua5.4 -e "require 'nnrun'"
-- Needs a C compiler, CMake, the Lua 5.4 headers and libyaml (Debian:
-- build-essential cmake liblua5.4-dev libyaml-dev zlib1g-dev).
-- tests/install/luarocks.sh checks that every scripts/nnrun/*.lua is listed.
rockspec_format = "3.0"
package = "nnrun"
version = "dev-1"
source = { url = "git+file://." }
description = {
  summary = "A small, fast, embeddable neural-network training runtime (C11 + OpenMP) for Lua",
}
dependencies = { "lua >= 5.4, < 5.5" }
build = {
  type = "command",
  build_command = [[cmake -S . -B build.luarocks -DCMAKE_BUILD_TYPE=Release >/dev/null && ]]
    .. [[cmake --build build.luarocks --target nnrun_lua -j 2]],
  install = {
    lib = { nnrun = "build.luarocks/lua/nnrun.so" },
    lua = {
      ["nnrun.checkpoint"] = "scripts/nnrun/checkpoint.lua",
      ["nnrun.cli"] = "scripts/nnrun/cli.lua",
      ["nnrun.config"] = "scripts/nnrun/config.lua",
      ["nnrun.data"] = "scripts/nnrun/data.lua",
      ["nnrun.eval"] = "scripts/nnrun/eval.lua",
      ["nnrun.explain"] = "scripts/nnrun/explain.lua",
      ["nnrun.gnuplot"] = "scripts/nnrun/gnuplot.lua",
      ["nnrun.json"] = "scripts/nnrun/json.lua",
      ["nnrun.landscape"] = "scripts/nnrun/landscape.lua",
      ["nnrun.onnx"] = "scripts/nnrun/onnx.lua",
      ["nnrun.options"] = "scripts/nnrun/options.lua",
      ["nnrun.plot"] = "scripts/nnrun/plot.lua",
      ["nnrun.predict"] = "scripts/nnrun/predict.lua",
      ["nnrun.progress"] = "scripts/nnrun/progress.lua",
      ["nnrun.record"] = "scripts/nnrun/record.lua",
      ["nnrun.report"] = "scripts/nnrun/report.lua",
      ["nnrun.rundir"] = "scripts/nnrun/rundir.lua",
      ["nnrun.runner"] = "scripts/nnrun/runner.lua",
      ["nnrun.sweep"] = "scripts/nnrun/sweep.lua",
      ["nnrun.util"] = "scripts/nnrun/util.lua",
    },
  },
}
