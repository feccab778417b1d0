/* Any text given to nn.yaml.parse: a value or one Lua error, never a crash;
 * what parses dumps and parses again. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <stdint.h>

#include "l_yaml.h"

static const char *const roundtrip =
    "local yaml, text = ...\n"
    "local ok, v = pcall(yaml.parse, text)\n"
    "if ok then local okd, out = pcall(yaml.dump, v); if okd then yaml.parse(out) end end\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_loadstring(L, roundtrip) != LUA_OK)
        __builtin_trap();
    nnrun_yaml_open(L);
    lua_pushlstring(L, (const char *)data, size);
    /* A dump of a parsed value must parse again: an error there is a bug. */
    if (lua_pcall(L, 2, 0, 0) != LUA_OK)
        __builtin_trap();
    lua_close(L);
    return 0;
}
