/* l_sandbox.c — restricted Lua states for untrusted scripts (the
 * nnrun_sandbox_* functions of nnrun_lua.h, for embedding hosts), the write
 * confinement every file writer of the binding asks (nnl_check_write), and
 * nn.sandbox_exec, through which `nnrun --sandbox` runs a script.
 *
 * A sandbox is a lua_State of its own.  Its globals are the allow-list a
 * script sees; the nnrun.* Lua modules it may require (nnrun.record) run
 * with a second, trusted set of globals kept in the registry, which still
 * has no os.execute, io.popen, debug, C modules or binary chunks, and whose
 * writes are confined to one directory.  The limits hold for everything the
 * state runs: an instruction budget (a count hook that pcall cannot
 * swallow: once reached, every instruction raises until the call has
 * unwound) and a memory cap (the state's allocator refuses growth past it
 * while a script runs).  Only plain data leaves a sandbox (copy_out): no
 * function, metatable or __tostring of the script runs outside its limits.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lnnrun.h"

#define HOOK_EVERY 1000
#define DEFAULT_INSTRUCTIONS 1000000000LL
#define DEFAULT_MEMORY ((size_t)256 << 20)
#define COPY_MAX_DEPTH 100

enum { TRIP_NONE, TRIP_INSTRUCTIONS, TRIP_MEMORY };

typedef struct sandbox {
    size_t used, cap;   /* bytes the state holds; the most allowed while running */
    long long budget;   /* instructions per nnrun_sandbox_pcall */
    long long left;
    int running;        /* inside nnrun_sandbox_pcall */
    int tripped;
    char *write_dir;    /* absolute, normalised; NULL: every write refused */
} sandbox;

/* Registry keys (their addresses). */
static int trusted_key, view_key, allowed_key;

static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    sandbox *sb = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        sb->used -= old;
        return NULL;
    }
    if (sb->running && nsize > old && sb->used - old + nsize > sb->cap) {
        sb->tripped = sb->tripped ? sb->tripped : TRIP_MEMORY;
        return NULL; /* Lua collects and retries, then raises a memory error */
    }
    void *p = realloc(ptr, nsize);
    if (p != NULL) {
        sb->used = sb->used - old + nsize;
    }
    return p;
}

static sandbox *sandbox_of(lua_State *L) {
    void *ud = NULL;
    lua_Alloc f = lua_getallocf(L, &ud);
    return f == sb_alloc ? ud : NULL;
}

static void sb_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    sandbox *sb = sandbox_of(L);
    if (!sb->running) {
        return; /* a coroutine of the script resumed by the host */
    }
    if (!sb->tripped) {
        sb->left -= HOOK_EVERY;
        if (sb->left < 0) {
            sb->tripped = TRIP_INSTRUCTIONS;
        }
    }
    if (sb->tripped) {
        /* From now on every instruction raises, so a pcall in a loop cannot
         * keep going.  A light userdata: raising needs no memory. */
        lua_sethook(L, sb_hook, LUA_MASKCOUNT, 1);
        lua_pushlightuserdata(L, sb);
        lua_error(L);
    }
}

/* --- paths: the write confinement ---------------------------------------- */

/* path made absolute (from the working directory) with ".", ".." and
 * repeated slashes resolved by its text; malloc'd, NULL if out of memory or
 * too long. */
static char *normalize(const char *path) {
    char cwd[PATH_MAX];
    size_t n = strlen(path);
    if (path[0] != '/' && getcwd(cwd, sizeof cwd) == NULL) {
        return NULL;
    }
    size_t cap = (path[0] == '/' ? 0 : strlen(cwd)) + n + 3;
    char *in = malloc(cap), *out = malloc(cap);
    if (!in || !out) {
        free(in);
        free(out);
        return NULL;
    }
    snprintf(in, cap, "%s/%s", path[0] == '/' ? "" : cwd, path);
    size_t len = 0;
    char *save = NULL;
    for (char *part = strtok_r(in, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (strcmp(part, ".") == 0) {
            continue;
        }
        if (strcmp(part, "..") == 0) {
            while (len > 0 && out[len - 1] != '/') {
                len--;
            }
            if (len > 0) {
                len--;
            }
            continue;
        }
        out[len++] = '/';
        memcpy(out + len, part, strlen(part));
        len += strlen(part);
    }
    if (len == 0) {
        out[len++] = '/';
    }
    out[len] = '\0';
    free(in);
    return out;
}

/* Whether a is b or a directory above b (both normalised). */
static int is_within(const char *b, const char *a) {
    size_t n = strlen(a);
    if (strncmp(a, b, n) != 0) {
        return 0;
    }
    return b[n] == '\0' || b[n] == '/' || (n == 1 && a[0] == '/');
}

/* Whether a symbolic link lies between dir and path (path within dir). */
static int has_link_below(const char *dir, char *path) {
    struct stat st;
    for (char *p = path + strlen(dir) + 1; p <= path + strlen(path); p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            int link = lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
            *p = c;
            if (link) {
                return 1;
            }
        }
    }
    return 0;
}

void nnl_check_write(lua_State *L, const char *path, int is_dir) {
    sandbox *sb = sandbox_of(L);
    if (sb == NULL) {
        return;
    }
    if (sb->write_dir == NULL) {
        luaL_error(L, "%s: writing files is not allowed in the sandbox", path);
        return;
    }
    char *abs = normalize(path);
    int ok = abs && ((is_within(abs, sb->write_dir) && !has_link_below(sb->write_dir, abs)) ||
                     (is_dir && is_within(sb->write_dir, abs)));
    free(abs);
    if (!ok) {
        luaL_error(L, "%s: writing outside the run directory is not allowed in the sandbox", path);
    }
}

/* --- the trusted globals: confined io and os ----------------------------- */

/* io.open(path, mode): any mode that writes must name a file within the
 * write directory. */
static int t_io_open(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    const char *mode = luaL_optstring(L, 2, "r");
    if (strpbrk(mode, "wa+")) {
        nnl_check_write(L, path, 0);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* io.output(path) opens path for writing; os.remove(path); os.rename(a, b). */
static int t_checked(lua_State *L) {
    int nargs = (int)lua_tointeger(L, lua_upvalueindex(2));
    for (int i = 1; i <= nargs; i++) {
        if (lua_type(L, i) == LUA_TSTRING) {
            nnl_check_write(L, lua_tostring(L, i), 0);
        }
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* Replaces lib[name] (lib on top) by a closure f with the old value as
 * upvalue 1 and n as upvalue 2. */
static void wrap_field(lua_State *L, const char *name, lua_CFunction f, int n) {
    lua_getfield(L, -1, name);
    lua_pushinteger(L, n);
    lua_pushcclosure(L, f, 2);
    lua_setfield(L, -2, name);
}

static void remove_fields(lua_State *L, const char *const names[]) {
    for (int i = 0; names[i]; i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, names[i]);
    }
}

/* package.searchers[2] of a sandbox: a Lua module of package.path, loaded
 * as text with the trusted globals as its _ENV.  Upvalue 1: package. */
static int t_searcher(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    lua_getfield(L, lua_upvalueindex(1), "searchpath");
    lua_pushstring(L, name);
    lua_getfield(L, lua_upvalueindex(1), "path");
    lua_call(L, 2, 2);
    if (lua_isnil(L, -2)) {
        return 1; /* the message of searchpath */
    }
    lua_pop(L, 1);
    const char *file = lua_tostring(L, -1);
    if (luaL_loadfilex(L, file, "t") != LUA_OK) {
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file,
                          lua_tostring(L, -1));
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &trusted_key);
    lua_setupvalue(L, -2, 1);
    lua_insert(L, -2);
    return 2;
}

/* --- the script's globals ------------------------------------------------ */

static int s_denied(lua_State *L) {
    return luaL_error(L, "%s is not allowed in the sandbox",
                      lua_tostring(L, lua_upvalueindex(1)));
}

static int s_denied_field(lua_State *L) {
    return luaL_error(L, "%s.%s is not allowed in the sandbox",
                      lua_tostring(L, lua_upvalueindex(1)), luaL_tolstring(L, 2, NULL));
}

static void push_denied(lua_State *L, const char *name) {
    lua_pushstring(L, name);
    lua_pushcclosure(L, s_denied, 1);
}

/* A table whose every field is refused (io, debug, package), or, with
 * fields already in it (os), every other field. */
static void set_denied_meta(lua_State *L, const char *name) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, name);
    lua_pushcclosure(L, s_denied_field, 1);
    lua_setfield(L, -2, "__index");
    push_denied(L, name);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
}

/* collectgarbage("count") only. */
static int s_collectgarbage(lua_State *L) {
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") != 0) {
        return luaL_error(L, "collectgarbage('%s') is not allowed in the sandbox", opt);
    }
    lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT, 0) +
                          (lua_Number)lua_gc(L, LUA_GCCOUNTB, 0) / 1024);
    return 1;
}

/* load of text chunks only.  Upvalue 1: the real load. */
static int s_load(lua_State *L) {
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    if ((!lua_isnoneornil(L, 3) &&
         !(lua_type(L, 3) == LUA_TSTRING && strcmp(lua_tostring(L, 3), "t") == 0)) ||
        (lua_type(L, 1) == LUA_TSTRING && n > 0 && s[0] == LUA_SIGNATURE[0])) {
        return luaL_error(L, "load of a binary chunk is not allowed in the sandbox");
    }
    int nargs = lua_gettop(L) < 3 ? 3 : (lua_gettop(L) > 4 ? 4 : lua_gettop(L));
    lua_settop(L, nargs); /* an env given (even nil) stays given; absent: the globals */
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, nargs, LUA_MULTRET);
    return lua_gettop(L);
}

/* setmetatable refusing __gc: Lua runs finalizers with hooks off, outside
 * the instruction budget.  Upvalue 1: the real setmetatable. */
static int s_setmetatable(lua_State *L) {
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL) {
            return luaL_error(L, "__gc metamethods are not allowed in the sandbox");
        }
        lua_pop(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* getmetatable of tables only: the metatables of strings and of nnrun's
 * objects (their __gc) stay out of reach. */
static int s_getmetatable(lua_State *L) {
    luaL_checkany(L, 1);
    if (lua_type(L, 1) != LUA_TTABLE) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* A message handler called for an error the hook raised runs with hooks
 * off: once a limit is reached the script's handler is not called.
 * Upvalue 1: the script's handler. */
static int s_msgh(lua_State *L) {
    sandbox *sb = sandbox_of(L);
    if (sb->tripped) {
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int s_xpcall(lua_State *L) {
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, s_msgh, 1); /* n + 1 */
    lua_pushboolean(L, 1);          /* n + 2: the first result */
    lua_pushvalue(L, 1);
    for (int i = 3; i <= n; i++) {
        lua_pushvalue(L, i);
    }
    if (lua_pcall(L, n - 2, LUA_MULTRET, n + 1) != LUA_OK) {
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (n + 1);
}

/* The shallow copy of the table at idx (pushed). */
static void push_copy(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
}

/* require "nnrun" (the script's view) and the allowed modules (a copy: the
 * script cannot patch the module trusted code runs).  Upvalue 1: the real
 * require. */
static int s_require(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    if (strcmp(name, "nnrun") == 0) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &view_key);
        return 1;
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &allowed_key);
    lua_getfield(L, -1, name);
    if (lua_toboolean(L, -1)) {
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_pushstring(L, name);
        lua_call(L, 1, 1);
        if (lua_type(L, -1) == LUA_TTABLE) {
            push_copy(L, -1);
        }
        return 1;
    }
    lua_rawgeti(L, -2, 1); /* "nnrun, nnrun.record" */
    return luaL_error(L, "require '%s' is not allowed in the sandbox (only %s)", name,
                      lua_tostring(L, -1));
}

/* --- the state ----------------------------------------------------------- */

static void push_closure_of(lua_State *L, int t, const char *name, lua_CFunction f) {
    lua_getfield(L, t, name);
    lua_pushcclosure(L, f, 1);
}

/* Builds the sandbox: called under lua_pcall by nnrun_sandbox_new, the
 * limits as a light userdata. */
static int setup(lua_State *L) {
    const nnrun_sandbox_limits *lim = lua_touserdata(L, 1);
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},          {LUA_LOADLIBNAME, luaopen_package},
        {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
        {LUA_IOLIBNAME, luaopen_io},        {LUA_OSLIBNAME, luaopen_os},
        {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},    {NULL, NULL}}; /* no debug */
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    /* The trusted globals T: no file loading, string.dump, processes, C
     * modules or binary chunks; writes confined. */
    lua_pushglobaltable(L);
    int T = lua_gettop(L);
    remove_fields(L, (const char *const[]){"dofile", "loadfile", NULL});
    lua_getfield(L, T, "string"); /* also the strings' methods: ("x").dump */
    push_denied(L, "string.dump");
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    lua_getfield(L, T, "io");
    remove_fields(L, (const char *const[]){"popen", "tmpfile", NULL});
    lua_getfield(L, -1, "open");
    lua_pushcclosure(L, t_io_open, 1);
    lua_setfield(L, -2, "open");
    wrap_field(L, "output", t_checked, 1);
    lua_pop(L, 1);
    lua_getfield(L, T, "os");
    remove_fields(L, (const char *const[]){"execute", "exit", "tmpname", "setlocale", NULL});
    wrap_field(L, "remove", t_checked, 1);
    wrap_field(L, "rename", t_checked, 2);
    lua_pop(L, 1);
    lua_getfield(L, T, "package");
    int pkg = lua_gettop(L);
    remove_fields(L, (const char *const[]){"loadlib", NULL});
    lua_pushliteral(L, "");
    lua_setfield(L, pkg, "cpath");
    lua_pushstring(L, lim->lua_path ? lim->lua_path : "");
    lua_setfield(L, pkg, "path");
    lua_createtable(L, 2, 0);
    lua_getfield(L, pkg, "searchers");
    lua_rawgeti(L, -1, 1); /* package.preload */
    lua_rawseti(L, -3, 1);
    lua_pop(L, 1);
    lua_pushvalue(L, pkg);
    lua_pushcclosure(L, t_searcher, 1);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, pkg, "searchers");
    lua_pop(L, 1);
    push_closure_of(L, T, "load", s_load); /* text only, trusted code too */
    lua_setfield(L, T, "load");
    lua_pushvalue(L, T);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &trusted_key);

    /* nnrun, for trusted code too, without what starts processes, signals
     * or leaves the process; the script's view also without listdir and
     * lock_dir (mkdir and write_file are confined as every writer is). */
    luaL_requiref(L, "nnrun", luaopen_nnrun, 0);
    remove_fields(L, (const char *const[]){"spawn", "wait", "kill", "exe_path", "trap_signals",
                                           "sandbox_exec", "mpi", NULL});
    push_copy(L, -1);
    remove_fields(L, (const char *const[]){"listdir", "lock_dir", NULL});
    lua_rawsetp(L, LUA_REGISTRYINDEX, &view_key);
    lua_pop(L, 1);

    lua_newtable(L); /* allowed module -> true; [1]: their list, for messages */
    lua_pushliteral(L, "nnrun");
    for (const char *const *m = lim->modules; m && *m; m++) {
        lua_pushfstring(L, "%s, %s", lua_tostring(L, -1), *m);
        lua_replace(L, -2);
        lua_pushboolean(L, 1);
        lua_setfield(L, -3, *m);
    }
    lua_rawseti(L, -2, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &allowed_key);

    /* The script's globals R. */
    lua_newtable(L);
    int R = lua_gettop(L);
    static const char *const base[] = {"assert", "error", "ipairs", "next", "pairs", "pcall",
                                       "print", "rawequal", "rawget", "rawlen", "rawset",
                                       "select", "tonumber", "tostring", "type", "_VERSION",
                                       NULL};
    for (int i = 0; base[i]; i++) {
        lua_getfield(L, T, base[i]);
        lua_setfield(L, R, base[i]);
    }
    lua_pushcfunction(L, s_xpcall);
    lua_setfield(L, R, "xpcall");
    lua_pushcfunction(L, s_collectgarbage);
    lua_setfield(L, R, "collectgarbage");
    push_closure_of(L, T, "setmetatable", s_setmetatable);
    lua_setfield(L, R, "setmetatable");
    push_closure_of(L, T, "getmetatable", s_getmetatable);
    lua_setfield(L, R, "getmetatable");
    lua_getfield(L, T, "load");
    lua_setfield(L, R, "load");
    push_closure_of(L, T, "require", s_require);
    lua_setfield(L, R, "require");
    push_denied(L, "dofile");
    lua_setfield(L, R, "dofile");
    push_denied(L, "loadfile");
    lua_setfield(L, R, "loadfile");
    static const char *const libcopies[] = {"math", "table", "utf8", "coroutine", "string", NULL};
    for (int i = 0; libcopies[i]; i++) {
        lua_getfield(L, T, libcopies[i]);
        push_copy(L, -1);
        lua_setfield(L, R, libcopies[i]);
        lua_pop(L, 1);
    }
    lua_getfield(L, R, "string");
    push_denied(L, "string.dump");
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_createtable(L, 0, 4);
    lua_getfield(L, T, "os");
    static const char *const os_allowed[] = {"clock", "time", "date", "difftime", NULL};
    for (int i = 0; os_allowed[i]; i++) {
        lua_getfield(L, -1, os_allowed[i]);
        lua_setfield(L, -3, os_allowed[i]);
    }
    lua_pop(L, 1);
    set_denied_meta(L, "os");
    lua_setfield(L, R, "os");
    static const char *const denied_libs[] = {"io", "debug", "package", NULL};
    for (int i = 0; denied_libs[i]; i++) {
        lua_newtable(L);
        set_denied_meta(L, denied_libs[i]);
        lua_setfield(L, R, denied_libs[i]);
    }
    lua_pushvalue(L, R);
    lua_setfield(L, R, "_G");
    lua_pushvalue(L, R);
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    return 0;
}

static int sb_panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "nnrun: sandbox: unprotected error: %s\n", msg ? msg : "?");
    return 0; /* Lua aborts */
}

lua_State *nnrun_sandbox_new(const nnrun_sandbox_limits *lim) {
    const nnrun_sandbox_limits none = {0};
    lim = lim ? lim : &none;
    sandbox *sb = calloc(1, sizeof *sb);
    if (sb == NULL) {
        return NULL;
    }
    sb->budget = lim->max_instructions > 0 ? lim->max_instructions : DEFAULT_INSTRUCTIONS;
    sb->cap = lim->max_memory > 0 ? lim->max_memory : DEFAULT_MEMORY;
    if (lim->write_dir && (sb->write_dir = normalize(lim->write_dir)) == NULL) {
        free(sb);
        return NULL;
    }
    lua_State *L = lua_newstate(sb_alloc, sb);
    if (L == NULL) {
        free(sb->write_dir);
        free(sb);
        return NULL;
    }
    lua_atpanic(L, sb_panic);
    lua_pushcfunction(L, setup);
    lua_pushlightuserdata(L, (void *)lim);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        nnrun_sandbox_close(L);
        return NULL;
    }
    return L;
}

int nnrun_sandbox_loadbuffer(lua_State *L, const char *buf, size_t len, const char *name) {
    return luaL_loadbufferx(L, buf, len, name, "t");
}

int nnrun_sandbox_loadfile(lua_State *L, const char *path) {
    return luaL_loadfilex(L, path, "t");
}

int nnrun_sandbox_pcall(lua_State *L, int nargs, int nresults) {
    sandbox *sb = sandbox_of(L);
    if (sb == NULL) {
        lua_settop(L, lua_gettop(L) - nargs - 1);
        lua_pushliteral(L, "nnrun_sandbox_pcall: not a state of nnrun_sandbox_new");
        return NNRUN_SANDBOX_ERROR;
    }
    int base = lua_gettop(L) - nargs - 1;
    sb->left = sb->budget;
    sb->tripped = TRIP_NONE;
    sb->running = 1;
    lua_sethook(L, sb_hook, LUA_MASKCOUNT, HOOK_EVERY);
    int status = lua_pcall(L, nargs, nresults, 0);
    lua_sethook(L, NULL, 0, 0);
    sb->running = 0;
    int tripped = sb->tripped;
    sb->tripped = TRIP_NONE;
    if (tripped || status == LUA_ERRMEM) {
        lua_settop(L, base);
        return tripped == TRIP_INSTRUCTIONS ? NNRUN_SANDBOX_INSTRUCTIONS : NNRUN_SANDBOX_MEMORY;
    }
    return status == LUA_OK ? NNRUN_SANDBOX_OK : NNRUN_SANDBOX_ERROR;
}

void nnrun_sandbox_close(lua_State *L) {
    if (L == NULL) {
        return;
    }
    sandbox *sb = sandbox_of(L);
    lua_close(L);
    if (sb) {
        free(sb->write_dir);
        free(sb);
    }
}

/* --- plain data across states --------------------------------------------- */

typedef struct copier {
    lua_State *from, *to;
    int objects; /* move nnrun's runtime objects too (out of a sandbox) */
    int memo; /* index in to: table address in from -> its copy (false: being copied) */
    char path[256];
    char err[400];
} copier;

static int copy_fail(copier *c, const char *what) {
    snprintf(c->err, sizeof c->err, "%s%s%s", what, c->path[0] ? " at " : "",
             c->path[0] == '.' ? c->path + 1 : c->path);
    return -1;
}

/* Appends key (at -2 in from) to c->path. */
static void path_push(copier *c, size_t len) {
    lua_State *F = c->from;
    char *p = c->path + len;
    size_t room = sizeof c->path - len;
    if (lua_type(F, -2) == LUA_TSTRING) {
        snprintf(p, room, ".%s", lua_tostring(F, -2));
    } else if (lua_isinteger(F, -2)) {
        snprintf(p, room, "[%lld]", (long long)lua_tointeger(F, -2));
    } else {
        snprintf(p, room, "[%s]", lua_type(F, -2) == LUA_TBOOLEAN
                                      ? (lua_toboolean(F, -2) ? "true" : "false")
                                      : "number");
    }
}

static int copy_value(copier *c, int idx, int depth);

/* Moves the runtime object at idx of c->from (a network, a data set, an
 * unbound optimiser or a schedule: C data, no code of the script) into a
 * new object of c->to, pushed; the old one is left closed.  Memoised, so
 * one object met twice is moved once. */
static int move_object(copier *c, int idx, int depth) {
    lua_State *F = c->from, *T = c->to;
    void *p;
    if ((p = luaL_testudata(F, idx, NNL_NET)) != NULL) {
        l_net *src = p;
        if (src->net == NULL || src->busy) {
            return copy_fail(c, "a closed network");
        }
        l_net *dst = nnl_newobject(T, sizeof *dst, 0, NNL_NET);
        dst->net = src->net;
        src->net = NULL;
    } else if ((p = luaL_testudata(F, idx, NNL_DATASET)) != NULL) {
        l_dataset *src = p;
        if (src->d == NULL || src->busy) {
            return copy_fail(c, "a closed data set");
        }
        l_dataset *dst = nnl_newobject(T, sizeof *dst, 1, NNL_DATASET);
        lua_getiuservalue(F, idx, 1); /* its class names */
        if (copy_value(c, -1, depth + 1) < 0) {
            lua_pop(F, 1);
            return -1;
        }
        lua_pop(F, 1);
        lua_setiuservalue(T, -2, 1);
        dst->d = src->d;
        src->d = NULL;
    } else if ((p = luaL_testudata(F, idx, NNL_OPTIM)) != NULL) {
        const l_optim *src = p;
        if (src->opt != NULL) {
            return copy_fail(c, "an optimizer bound to a network");
        }
        l_optim *dst = nnl_newobject(T, sizeof *dst, 1, NNL_OPTIM);
        dst->cfg = src->cfg;
    } else if ((p = luaL_testudata(F, idx, NNL_SCHEDULE)) != NULL) {
        l_schedule *dst = nnl_newobject(T, sizeof *dst, 0, NNL_SCHEDULE);
        *dst = *(const l_schedule *)p;
    } else {
        return copy_fail(c, "a userdata");
    }
    return 0;
}

/* Pushes on c->to a copy of the value at idx of c->from: nil, booleans,
 * numbers, strings and tables of them, read raw (no metamethod runs, no
 * metatable is copied), and with c->objects nnrun's runtime objects
 * (move_object); a table or object met twice is copied once.  Reading
 * from raises nothing.  -1 (c->err set) for anything else or a cycle. */
static int copy_value(copier *c, int idx, int depth) {
    lua_State *F = c->from, *T = c->to;
    if (!lua_checkstack(F, 4) || !lua_checkstack(T, 4)) {
        return copy_fail(c, "a table nested too deeply");
    }
    switch (lua_type(F, idx)) {
    case LUA_TNIL:
        lua_pushnil(T);
        return 0;
    case LUA_TBOOLEAN:
        lua_pushboolean(T, lua_toboolean(F, idx));
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(F, idx)) {
            lua_pushinteger(T, lua_tointeger(F, idx));
        } else {
            lua_pushnumber(T, lua_tonumber(F, idx));
        }
        return 0;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(F, idx, &n);
        lua_pushlstring(T, s, n);
        return 0;
    }
    case LUA_TTABLE:
        break;
    case LUA_TUSERDATA:
        if (c->objects) {
            idx = lua_absindex(F, idx);
            const void *key = lua_topointer(F, idx);
            if (lua_rawgetp(T, c->memo, key) == LUA_TUSERDATA) {
                return 0;
            }
            lua_pop(T, 1);
            if (move_object(c, idx, depth) < 0) {
                return -1;
            }
            lua_pushvalue(T, -1);
            lua_rawsetp(T, c->memo, key);
            return 0;
        }
        /* fall through */
    default: {
        char what[64];
        snprintf(what, sizeof what, "a %s", lua_typename(F, lua_type(F, idx)));
        return copy_fail(c, what);
    }
    }
    if (depth > COPY_MAX_DEPTH) {
        return copy_fail(c, "a table nested too deeply");
    }
    idx = lua_absindex(F, idx);
    const void *key = lua_topointer(F, idx);
    int seen = lua_rawgetp(T, c->memo, key);
    if (seen == LUA_TTABLE) {
        return 0;
    }
    lua_pop(T, 1);
    if (seen == LUA_TBOOLEAN) {
        return copy_fail(c, "a table that contains itself");
    }
    lua_pushboolean(T, 0);
    lua_rawsetp(T, c->memo, key);
    lua_newtable(T);
    size_t len = strlen(c->path);
    lua_pushnil(F);
    while (lua_next(F, idx)) {
        path_push(c, len);
        int kt = lua_type(F, -2);
        if (kt == LUA_TTABLE || kt == LUA_TFUNCTION || kt == LUA_TUSERDATA ||
            kt == LUA_TTHREAD || kt == LUA_TLIGHTUSERDATA) {
            c->path[len] = '\0';
            lua_pop(F, 2);
            char what[64];
            snprintf(what, sizeof what, "a %s key", lua_typename(F, kt));
            return copy_fail(c, what);
        }
        copy_value(c, -2, depth + 1);
        if (copy_value(c, -1, depth + 1) < 0) {
            lua_pop(F, 2);
            return -1;
        }
        lua_rawset(T, -3);
        lua_pop(F, 1);
        c->path[len] = '\0';
    }
    lua_pushvalue(T, -1);
    lua_rawsetp(T, c->memo, key);
    return 0;
}

/* Under lua_pcall in the sandbox S: pushes the copy of the copier's value
 * (at from's top). */
static int copy_in(lua_State *S) {
    copier *c = lua_touserdata(S, 1);
    c->to = S;
    lua_newtable(S);
    c->memo = lua_gettop(S);
    if (copy_value(c, -1, 0) < 0) {
        return luaL_error(S, "%s", c->err);
    }
    return 1;
}

#define SANDBOX_MT "nnrun.Sandbox"

static int box_gc(lua_State *L) {
    lua_State **box = luaL_checkudata(L, 1, SANDBOX_MT);
    nnrun_sandbox_close(*box);
    *box = NULL;
    return 0;
}

/* status, ... = nn.sandbox_exec(path, arg, { max_instructions =, max_memory
 * = (bytes), write_dir =, lua_path =, modules = { names } })
 * runs the Lua file path in a new sandbox with a copy of arg as its `...`:
 *   "ok", copy of its first result
 *   "load", message             the file cannot be read or compiled
 *   "error", message | nil, type | nil, copy of an error table
 *   "instructions" | "memory"   a limit was reached
 *   "result", what              the result is not plain data ("a function
 *                               at model.init"); nnrun's networks, data
 *                               sets, unbound optimisers and schedules are
 *                               moved out (C data, no code of the script)
 * The sandbox is closed before it returns. */
static int l_sandbox_exec(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    luaL_checkany(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    nnrun_sandbox_limits lim = {0};
    lim.max_instructions = (long long)nnl_opt_integer(L, 3, 3, NULL, "max_instructions", 0);
    lim.max_memory = (size_t)nnl_opt_integer(L, 3, 3, NULL, "max_memory", 0);
    lua_getfield(L, 3, "write_dir");
    lim.write_dir = lua_tostring(L, -1);
    lua_getfield(L, 3, "lua_path");
    lim.lua_path = lua_tostring(L, -1);
    const char *mods[17] = {NULL};
    lua_getfield(L, 3, "modules");
    for (int i = 0; i < 16 && lua_istable(L, -1) && lua_rawgeti(L, -1, i + 1) == LUA_TSTRING; i++) {
        mods[i] = lua_tostring(L, -1); /* anchored in the options table */
        lua_pop(L, 1);
    }
    lua_settop(L, 3);
    lim.modules = mods;
    lua_State **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, SANDBOX_MT);
    lua_State *S = *box = nnrun_sandbox_new(&lim);
    if (S == NULL) {
        return luaL_error(L, "cannot create the sandbox: not enough memory");
    }
    copier c = {.from = L};
    int nret;
    if (nnrun_sandbox_loadfile(S, path) != LUA_OK) {
        lua_pushliteral(L, "load");
        lua_pushstring(L, lua_tostring(S, -1));
        nret = 2;
        goto done;
    }
    lua_pushcfunction(S, copy_in);
    lua_pushlightuserdata(S, &c);
    lua_pushvalue(L, 2);
    if (lua_pcall(S, 1, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        return luaL_error(L, "sandbox: the script's argument: %s", c.err);
    }
    lua_pop(L, 1);
    int status = nnrun_sandbox_pcall(S, 1, 1);
    c.from = S;
    c.to = L;
    c.objects = status == NNRUN_SANDBOX_OK;
    c.path[0] = '\0';
    lua_newtable(L);
    c.memo = lua_gettop(L);
    if (status == NNRUN_SANDBOX_OK) {
        lua_pushliteral(L, "ok");
        if (copy_value(&c, -1, 0) < 0) {
            lua_settop(L, c.memo);
            lua_pushliteral(L, "result");
            lua_pushstring(L, c.err);
        }
        nret = 2;
    } else if (status == NNRUN_SANDBOX_ERROR) {
        lua_pushliteral(L, "error");
        int t = lua_type(S, -1);
        if (t == LUA_TSTRING) {
            lua_pushstring(L, lua_tostring(S, -1));
            nret = 2;
        } else if (t == LUA_TTABLE && copy_value(&c, -1, 0) == 0) {
            lua_pushnil(L);
            lua_insert(L, -2);
            lua_pushliteral(L, "table");
            lua_insert(L, -2);
            nret = 4;
        } else {
            lua_settop(L, c.memo + 1);
            lua_pushnil(L);
            lua_pushstring(L, lua_typename(S, t));
            nret = 3;
        }
    } else {
        lua_pushstring(L, status == NNRUN_SANDBOX_INSTRUCTIONS ? "instructions" : "memory");
        nret = 1;
    }
done:
    nnrun_sandbox_close(S);
    *box = NULL;
    return nret;
}

void nnl_open_sandbox(lua_State *L) {
    if (luaL_newmetatable(L, SANDBOX_MT)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    static const luaL_Reg funcs[] = {{"sandbox_exec", l_sandbox_exec}, {NULL, NULL}};
    nnl_setfuncs(L, funcs);
}
