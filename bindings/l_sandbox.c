/* l_sandbox.c — the limits of `nnrun --sandbox`: an instruction budget
 * (a count hook) and a memory cap (a wrapper around the Lua allocator).
 *
 *   ok, result = nn.sandbox_run(fn, arg, max_instructions, max_bytes)
 *
 * calls fn(arg) with both limits on.  It returns true and fn's first result;
 * false and "instructions" or "memory" when a limit was reached; a plain
 * error of fn is raised again as it is.  pcall in the script cannot swallow
 * a limit: once one is reached the hook raises again on every instruction
 * (within 1000 of a memory refusal) until fn has unwound, and the allocator keeps refusing growth past the
 * cap.  The environment (which globals fn sees) is nnrun.sandbox's business.
 * One sandbox at a time per process (it is not reentrant).
 */
#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>

#include "lnnrun.h"

#define SANDBOX_HOOK_EVERY 1000

enum { TRIP_NONE, TRIP_INSTRUCTIONS, TRIP_MEMORY };

static struct {
    int active;
    int tripped;
    lua_Alloc alloc; /* the state's allocator, wrapped while active */
    void *alloc_ud;
    size_t used, cap; /* bytes the state holds, and the most allowed */
    long long left;   /* instructions left in the budget */
} sb;

static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    size_t old = ptr ? osize : 0;
    if (nsize > old && sb.active && sb.used - old + nsize > sb.cap) {
        sb.tripped = sb.tripped ? sb.tripped : TRIP_MEMORY;
        return NULL; /* Lua collects and retries, then raises a memory error */
    }
    void *p = sb.alloc(sb.alloc_ud, ptr, osize, nsize);
    if (p != NULL || nsize == 0) {
        sb.used = sb.used - old + nsize;
    }
    return p;
}

static void sandbox_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    if (!sb.tripped) {
        sb.left -= SANDBOX_HOOK_EVERY;
        if (sb.left < 0) {
            sb.tripped = TRIP_INSTRUCTIONS;
        }
    }
    if (sb.tripped) {
        /* From now on every instruction raises, so a pcall in a loop cannot
         * keep going.  A preallocated value: raising needs no memory. */
        lua_sethook(L, sandbox_hook, LUA_MASKCOUNT, 1);
        lua_pushlightuserdata(L, (void *)&sb);
        lua_error(L);
    }
}

static int l_sandbox_run(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_Integer max_instr = luaL_checkinteger(L, 3);
    lua_Integer max_bytes = luaL_checkinteger(L, 4);
    luaL_argcheck(L, max_instr > 0, 3, "expected a positive instruction budget");
    luaL_argcheck(L, max_bytes > 0, 4, "expected a positive memory cap");
    if (sb.active) {
        return luaL_error(L, "nn.sandbox_run: a sandbox is already running");
    }
    lua_settop(L, 2);
    lua_gc(L, LUA_GCCOLLECT);
    sb.used = (size_t)lua_gc(L, LUA_GCCOUNT) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB);
    sb.cap = sb.used + (size_t)max_bytes;
    sb.left = (long long)max_instr;
    sb.tripped = TRIP_NONE;
    sb.alloc = lua_getallocf(L, &sb.alloc_ud);
    lua_setallocf(L, sandbox_alloc, NULL);
    lua_Hook old_hook = lua_gethook(L);
    int old_mask = lua_gethookmask(L), old_count = lua_gethookcount(L);
    sb.active = 1;
    lua_sethook(L, sandbox_hook, LUA_MASKCOUNT, SANDBOX_HOOK_EVERY);
    int status = lua_pcall(L, 1, 1, 0);
    lua_sethook(L, old_hook, old_mask, old_count);
    sb.active = 0;
    lua_setallocf(L, sb.alloc, sb.alloc_ud);
    int tripped = sb.tripped;
    sb.tripped = TRIP_NONE;
    if (tripped) {
        lua_pushboolean(L, 0);
        lua_pushstring(L, tripped == TRIP_MEMORY ? "memory" : "instructions");
        return 2;
    }
    if (status != LUA_OK) {
        return lua_error(L);
    }
    lua_pushboolean(L, 1);
    lua_insert(L, -2);
    return 2;
}

/* nn.sandbox_tripped() -> whether a limit of the running sandbox was
 * reached.  A message handler that the hook's error calls runs with hooks
 * off: nnrun.sandbox's xpcall asks this before calling the script's. */
static int l_sandbox_tripped(lua_State *L) {
    lua_pushboolean(L, sb.active && sb.tripped);
    return 1;
}

void nnl_open_sandbox(lua_State *L) {
    static const luaL_Reg funcs[] = {
        {"sandbox_run", l_sandbox_run}, {"sandbox_tripped", l_sandbox_tripped}, {NULL, NULL}};
    nnl_setfuncs(L, funcs);
}
