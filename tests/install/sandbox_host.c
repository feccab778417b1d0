/* sandbox_host.c — a host built against an installed nnrun (nnrun_lua.h,
 * nnrun.so, liblua5.4; see install.sh): a script that trains through
 * nnrun runs, one that reaches for os.execute is refused with its line, an
 * endless loop inside pcall is stopped by the budget. */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>

#include <nnrun_lua.h>

static int run(lua_State *L, const char *code, int want, const char *want_text)
{
    int s = nnrun_sandbox_loadbuffer(L, code, strlen(code), "=user");
    if (s == LUA_OK)
        s = nnrun_sandbox_pcall(L, 0, 1);
    else
        s = NNRUN_SANDBOX_ERROR;
    const char *got = (s == NNRUN_SANDBOX_OK || s == NNRUN_SANDBOX_ERROR) && lua_type(L, -1) == LUA_TSTRING
                          ? lua_tostring(L, -1)
                          : "";
    int ok = s == want && (want_text == NULL || strstr(got, want_text) != NULL);
    if (!ok)
        fprintf(stderr, "sandbox_host: %s\n  status %d (want %d), got '%s'\n", code, s, want, got);
    if (s == NNRUN_SANDBOX_OK || s == NNRUN_SANDBOX_ERROR)
        lua_pop(L, 1);
    return ok;
}

int main(void)
{
    nnrun_sandbox_limits lim = {.max_instructions = 1000000, .max_memory = 32 << 20};
    lua_State *L = nnrun_sandbox_new(&lim);
    if (L == NULL)
        return 1;
    int ok = 1;
    ok &= run(L,
              "local nn = require 'nnrun'\n"
              "local x = nn.tensor{ {0, 0}, {0, 1}, {1, 0}, {1, 1} }\n"
              "local net = nn.sequential{ nn.dense(2, 3), nn.relu(), nn.dense(3, 1) }\n"
              "local y = net:forward(x)\n"
              "return tostring(y:rows()) .. 'x' .. tostring(y:cols())",
              NNRUN_SANDBOX_OK, "4x1");
    ok &= run(L, "os.execute('true')", NNRUN_SANDBOX_ERROR, "os.execute is not allowed in the sandbox");
    ok &= run(L, "pcall(function() while true do end end) return 'escaped'", NNRUN_SANDBOX_INSTRUCTIONS, NULL);
    nnrun_sandbox_close(L);
    if (ok)
        printf("sandbox_host: ok\n");
    return ok ? 0 : 1;
}
