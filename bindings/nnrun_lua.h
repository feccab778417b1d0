/* nnrun_lua.h — the public C interface of the nnrun Lua module (nnrun.so):
 * luaopen_nnrun, and sandboxed Lua states for embedding hosts (README
 * "Sandboxed Lua for hosts").  Installed beside nnrun.h; a host includes
 * it, links nnrun.so (from the Lua C module directory, e.g.
 * PREFIX/lib/lua/5.4/nnrun.so) and liblua5.4. */
#ifndef NNRUN_LUA_H
#define NNRUN_LUA_H

#include <stddef.h>

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NNRUN_API __attribute__((visibility("default")))

/* require "nnrun" in a state of the host's own (all of the module, no
 * limits): luaL_requiref(L, "nnrun", luaopen_nnrun, 1). */
NNRUN_API int luaopen_nnrun(lua_State *L);

/* --- sandboxes, for embedding hosts (l_sandbox.c; README "Sandboxed Lua
 * for hosts") ------------------------------------------------------------- */

/* The limits of a sandbox.  Zero fields take the defaults. */
typedef struct nnrun_sandbox_limits {
    long long max_instructions; /* Lua VM instructions per nnrun_sandbox_pcall,
                                   counted every 1000 (default 1e9); time in
                                   nnrun's C kernels is not counted */
    size_t max_memory;          /* bytes the state's Lua heap may hold while
                                   a script runs (default 256 MiB); tensors
                                   held by the C runtime are not counted */
    const char *write_dir;      /* the directory that nnrun's writers
                                   (net:save, nn.yaml.write, nnrun.record,
                                   io.open for writing, ...) may write in,
                                   copied; NULL: every write is refused */
    const char *lua_path;       /* package.path of the trusted nnrun.* Lua
                                   modules (e.g. "/usr/local/share/lua/5.4/?.lua");
                                   NULL: none */
    const char *const *modules; /* the Lua modules of lua_path a script may
                                   require besides "nnrun" (e.g.
                                   "nnrun.record"), NULL-terminated; NULL: none */
} nnrun_sandbox_limits;

enum {
    NNRUN_SANDBOX_OK = 0,
    NNRUN_SANDBOX_ERROR,        /* the script raised: its error value on top */
    NNRUN_SANDBOX_INSTRUCTIONS, /* the instruction budget was spent */
    NNRUN_SANDBOX_MEMORY        /* the memory cap was reached */
};

/* A new Lua state for untrusted code, or NULL (out of memory).  Its globals
 * are an allow-list: the base functions (no dofile, loadfile;
 * collectgarbage "count" only; setmetatable refuses __gc; getmetatable of
 * tables only; xpcall's handler is not called once a limit is reached),
 * load of text only, string without dump, math, table, utf8, coroutine,
 * os.clock/time/date/difftime, and require of "nnrun" (no processes,
 * signals, MPI or file helpers) and of lim->modules.  io, debug, package,
 * os.execute and the rest raise "x.lua:1: io.open is not allowed in the
 * sandbox".  Close it with nnrun_sandbox_close.  A state is used by one
 * thread at a time; separate sandboxes are independent. */
NNRUN_API lua_State *nnrun_sandbox_new(const nnrun_sandbox_limits *lim);
/* Load a script, text only (never luaL_loadbuffer: binary chunks can crash
 * the VM).  Return LUA_OK with the function pushed, or an error code with
 * the message pushed. */
NNRUN_API int nnrun_sandbox_loadbuffer(lua_State *L, const char *buf, size_t len,
                                       const char *name);
NNRUN_API int nnrun_sandbox_loadfile(lua_State *L, const char *path);
/* lua_pcall under the limits: NNRUN_SANDBOX_OK with nresults pushed,
 * NNRUN_SANDBOX_ERROR with the error value pushed (read it with lua_type
 * and lua_tolstring of a string only: luaL_tolstring would run a __tostring
 * of the script outside the limits), or a limit, with nothing pushed.  The
 * budget starts afresh at each call; pcall, xpcall and coroutines in the
 * script cannot swallow a limit reached. */
NNRUN_API int nnrun_sandbox_pcall(lua_State *L, int nargs, int nresults);
NNRUN_API void nnrun_sandbox_close(lua_State *L); /* NULL is a no-op */

#ifdef __cplusplus
}
#endif

#endif
