/* test_sandbox_host.c — an embedding host runs hostile scripts through
 * nnrun_sandbox_new / nnrun_sandbox_pcall (bindings/nnrun_lua.h): every escape
 * is refused with its one-line message, an endless loop is stopped by the
 * instruction budget even inside pcall, xpcall and coroutines, a memory
 * bomb by the cap, nothing is written, and the host goes on (the same state
 * runs again; another sandbox is untouched) and exits cleanly. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lnnrun.h"
#include "testutil.h"

static const char *status_name(int s) {
    switch (s) {
    case NNRUN_SANDBOX_OK: return "ok";
    case NNRUN_SANDBOX_ERROR: return "error";
    case NNRUN_SANDBOX_INSTRUCTIONS: return "instructions";
    case NNRUN_SANDBOX_MEMORY: return "memory";
    }
    return "?";
}

/* Runs code in L; expects status want and, for "error" and "ok", the
 * string want_value (the error message, or the first result as a
 * string).  The stack is left as it was. */
static void expect_in(lua_State *L, const char *code, int want, const char *want_value) {
    int top = lua_gettop(L);
    int load = nnrun_sandbox_loadbuffer(L, code, strlen(code), "=hostile");
    CHECK_MSG(load == LUA_OK, "%s: load: %s", code, lua_tostring(L, -1));
    if (load != LUA_OK) {
        lua_settop(L, top);
        return;
    }
    int s = nnrun_sandbox_pcall(L, 0, 1);
    CHECK_MSG(s == want, "%s: status %s, expected %s (%s)", code, status_name(s), status_name(want),
          s == NNRUN_SANDBOX_ERROR && lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "");
    if (s == want && want_value) {
        /* Only a string is read: luaL_tolstring would run a __tostring of
         * the script outside its limits. */
        const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (lua_type(L, -1) == LUA_TBOOLEAN) {
            v = lua_toboolean(L, -1) ? "true" : "false";
        }
        CHECK_MSG(v && strcmp(v, want_value) == 0, "%s: got \"%s\", expected \"%s\"", code,
              v ? v : luaL_typename(L, -1), want_value);
    }
    if (s == NNRUN_SANDBOX_INSTRUCTIONS || s == NNRUN_SANDBOX_MEMORY) {
        CHECK_MSG(lua_gettop(L) == top, "%s: a limit left %d values", code, lua_gettop(L) - top);
    }
    lua_settop(L, top);
}

static void refused(lua_State *L, const char *code, const char *message) {
    expect_in(L, code, NNRUN_SANDBOX_ERROR, message);
}

int main(void) {
    nnrun_sandbox_limits lim = {0};
    lim.max_instructions = 1000000;
    lim.max_memory = (size_t)16 << 20;
    lua_State *L = nnrun_sandbox_new(&lim);
    CHECK_MSG(L != NULL, "nnrun_sandbox_new failed");
    if (L == NULL) {
        return 1;
    }

    /* Escapes. */
    refused(L, "os.execute('touch pwned')", "hostile:1: os.execute is not allowed in the sandbox");
    refused(L, "return os.exit", "hostile:1: os.exit is not allowed in the sandbox");
    refused(L, "io.open('pwned', 'w')", "hostile:1: io.open is not allowed in the sandbox");
    refused(L, "io.write('x')", "hostile:1: io.write is not allowed in the sandbox");
    refused(L, "require 'lpeg'",
            "hostile:1: require 'lpeg' is not allowed in the sandbox (only nnrun)");
    refused(L, "require 'io'", "hostile:1: require 'io' is not allowed in the sandbox (only nnrun)");
    refused(L, "package.loadlib('/lib/x.so', 'f')",
            "hostile:1: package.loadlib is not allowed in the sandbox");
    refused(L, "package.cpath = './?.so'", "hostile:1: package is not allowed in the sandbox");
    refused(L, "load('\\27LuaT\\0\\25\\147\\r\\n\\26\\n')",
            "hostile:1: load of a binary chunk is not allowed in the sandbox");
    refused(L, "load('return 1', 'c', 'b')",
            "hostile:1: load of a binary chunk is not allowed in the sandbox");
    refused(L, "string.dump(print)", "hostile:1: string.dump is not allowed in the sandbox");
    refused(L, "return ('x').dump(print)", "hostile:1: string.dump is not allowed in the sandbox");
    refused(L, "return load('return string.dump(print)')()",
            "[string \"return string.dump(print)\"]:1: string.dump is not allowed in the sandbox");
    refused(L, "debug.sethook()", "hostile:1: debug.sethook is not allowed in the sandbox");
    refused(L, "return debug.getregistry()",
            "hostile:1: debug.getregistry is not allowed in the sandbox");
    refused(L, "dofile('/etc/passwd')", "hostile:1: dofile is not allowed in the sandbox");
    refused(L, "loadfile('/etc/passwd')", "hostile:1: loadfile is not allowed in the sandbox");
    refused(L, "collectgarbage('stop')",
            "hostile:1: collectgarbage('stop') is not allowed in the sandbox");
    refused(L, "setmetatable({}, { __gc = function() while true do end end })",
            "hostile:1: __gc metamethods are not allowed in the sandbox");
    expect_in(L, "return getmetatable('') == nil and getmetatable(require('nnrun').tensor{ 1 }) == nil",
              NNRUN_SANDBOX_OK, "true");
    /* nnrun without processes, signals, MPI; its writers refused (no
     * write_dir), and nothing written. */
    expect_in(L, "local nn = require 'nnrun'\n"
                 "return nn.spawn == nil and nn.kill == nil and nn.mpi == nil and "
                 "nn.trap_signals == nil and nn.sandbox_exec == nil and nn.listdir == nil",
              NNRUN_SANDBOX_OK, "true");
    refused(L, "local nn = require 'nnrun'\nnn.sequential{ nn.dense(2, 1) }:save('pwned.nnrun')",
            "hostile:2: pwned.nnrun: writing files is not allowed in the sandbox");
    refused(L, "require('nnrun').write_file('pwned', 'x')",
            "hostile:1: pwned: writing files is not allowed in the sandbox");
    refused(L, "require('nnrun').yaml.write('pwned', {})",
            "hostile:1: pwned: writing files is not allowed in the sandbox");
    CHECK_MSG(access("pwned", F_OK) != 0 && access("pwned.nnrun", F_OK) != 0, "a file was written");
    /* An error value that is not a message: the host sees its type only. */
    expect_in(L, "error(setmetatable({}, { __tostring = function() while true do end end }))",
              NNRUN_SANDBOX_ERROR, NULL);

    /* The budget: pcall, xpcall (whose handler the hook's error would call
     * with hooks off) and coroutines cannot swallow it. */
    expect_in(L, "while true do end", NNRUN_SANDBOX_INSTRUCTIONS, NULL);
    expect_in(L, "while true do pcall(function() while true do end end) end",
              NNRUN_SANDBOX_INSTRUCTIONS, NULL);
    expect_in(L, "local function h() while true do end end\n"
                 "while true do xpcall(function() while true do end end, h) end",
              NNRUN_SANDBOX_INSTRUCTIONS, NULL);
    expect_in(L, "while true do coroutine.resume(coroutine.create(function()\n"
                 "  while true do pcall(function() while true do end end) end end)) end",
              NNRUN_SANDBOX_INSTRUCTIONS, NULL);
    expect_in(L, "local s = 'x' while true do pcall(string.rep, s, 10) end",
              NNRUN_SANDBOX_INSTRUCTIONS, NULL);
    /* The cap. */
    expect_in(L, "local t = {}\nwhile true do pcall(function()\n"
                 "  for i = 1, math.huge do t[#t + 1] = string.rep('x', 100000) .. i end\n"
                 "end) end",
              NNRUN_SANDBOX_MEMORY, NULL);
    expect_in(L, "return pcall(string.rep, 'x', 1 << 30)", NNRUN_SANDBOX_MEMORY, NULL);

    /* The state goes on after each limit, with a fresh budget. */
    expect_in(L, "local n = 0 for i = 1, 100000 do n = n + i end return tostring(n)",
              NNRUN_SANDBOX_OK, "5000050000");
    expect_in(L, "local nn = require 'nnrun'\nlocal net = nn.sequential{ nn.dense(2, 1) }\n"
                 "return tostring(net:param_count())",
              NNRUN_SANDBOX_OK, "3");
    /* Binary chunks are refused at the host's load too. */
    static const char bytecode[] = "\x1bLuaT\0\x19\x93\r\n\x1a\n";
    CHECK_MSG(nnrun_sandbox_loadbuffer(L, bytecode, sizeof bytecode - 1, "=blob") == LUA_ERRSYNTAX,
          "a binary chunk loaded");
    lua_pop(L, 1);

    /* Another sandbox is independent: its globals, its budget. */
    lua_State *B = nnrun_sandbox_new(&lim);
    CHECK_MSG(B != NULL, "second sandbox");
    expect_in(L, "x_of_L = 1 return 'set'", NNRUN_SANDBOX_OK, "set");
    expect_in(B, "return tostring(x_of_L)", NNRUN_SANDBOX_OK, "nil");
    nnrun_sandbox_close(B);
    nnrun_sandbox_close(L);
    nnrun_sandbox_close(NULL);
    return tu_finish();
}
