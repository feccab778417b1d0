-- luarocks make: builds the nnrun Lua module (nnrun.so, the C runtime
-- linked in statically) with CMake and installs it with the nnrun.* scripts
-- into a Lua tree, as Lua libraries install:
--   luarocks --lua-version 5.4 make --local
--   eval "$(luarocks --lua-version 5.4 path)"; lua5.4 -e "require 'nnrun'"
-- Needs a C compiler, CMake, the Lua 5.4 headers and libyaml (Debian:
-- build-essential cmake liblua5.4-dev libyaml-dev zlib1g-dev).
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
  -- every scripts/nnrun/*.lua, whatever modules exist: no list to forget
  install_command = [[mkdir -p "$(LUADIR)/nnrun" "$(LIBDIR)" && ]]
    .. [[cp scripts/nnrun/*.lua "$(LUADIR)/nnrun/" && cp build.luarocks/lua/nnrun.so "$(LIBDIR)/"]],
}
