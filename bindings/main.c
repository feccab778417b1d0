/* main.c — the `nnrun` executable: hosts Lua 5.4 and hands the command line
 * to scripts/nnrun/cli.lua, which holds all of the command's logic.
 *
 * Everything runs under one lua_pcall with a message handler (as lua.c
 * does).  The Lua scripts are found without environment variables: the
 * source tree's scripts/ when this binary is the one in the build tree,
 * otherwise the installed share/lua/5.4.  The nnrun module is linked in and
 * preloaded, so `require "nnrun"` never loads another copy.
 */
#define _DEFAULT_SOURCE
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

#ifndef NNRUN_SOURCE_SCRIPTS
#define NNRUN_SOURCE_SCRIPTS ""
#endif
#ifndef NNRUN_INSTALL_SCRIPTS
#define NNRUN_INSTALL_SCRIPTS ""
#endif
#ifndef NNRUN_BUILD_DIR
#define NNRUN_BUILD_DIR ""
#endif

static int has_cli(const char *dir) {
    char path[PATH_MAX];
    struct stat st;
    if (!dir[0] || snprintf(path, sizeof path, "%s/nnrun/cli.lua", dir) >= (int)sizeof path) {
        return 0;
    }
    return stat(path, &st) == 0;
}

/* The directory of this executable, resolved; empty if unknown. */
static void exe_dir(char *out, size_t n) {
    char buf[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", buf, sizeof buf - 1);
    out[0] = '\0';
    if (len <= 0) {
        return;
    }
    buf[len] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash) {
        *slash = '\0';
        snprintf(out, n, "%s", buf);
    }
}

static int same_dir(const char *a, const char *b) {
    char ra[PATH_MAX], rb[PATH_MAX];
    return a[0] && b[0] && realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

static const char *scripts_dir(void) {
    char dir[PATH_MAX];
    exe_dir(dir, sizeof dir);
    if (same_dir(dir, NNRUN_BUILD_DIR) && has_cli(NNRUN_SOURCE_SCRIPTS)) {
        return NNRUN_SOURCE_SCRIPTS;
    }
    if (has_cli(NNRUN_INSTALL_SCRIPTS)) {
        return NNRUN_INSTALL_SCRIPTS;
    }
    if (has_cli(NNRUN_SOURCE_SCRIPTS)) {
        return NNRUN_SOURCE_SCRIPTS;
    }
    return NULL;
}

static int msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* pmain(argc, argv) -> exit status from cli.main(args, scripts_dir) */
static int pmain(lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    const char *dir = scripts_dir();
    luaL_openlibs(L);
    if (dir == NULL) {
        return luaL_error(L, "cannot find the nnrun Lua scripts (looked in %s and %s)",
                          NNRUN_INSTALL_SCRIPTS, NNRUN_SOURCE_SCRIPTS);
    }
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_nnrun);
    lua_setfield(L, -2, "nnrun");
    lua_pop(L, 1);
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", dir, dir);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "nnrun.cli");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc, 1);
    for (int i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_pushstring(L, argv[0]);
    lua_rawseti(L, -2, 0);
    lua_pushstring(L, dir);
    lua_call(L, 2, 1);
    return 1;
}

int main(int argc, char **argv) {
    int debug = 0, status;
    for (int i = 1; i < argc; i++) {
        debug |= strcmp(argv[i], "--debug") == 0;
    }
    /* Under mpirun (or srun): MPI starts before Lua and ends after it. */
    if (nnl_mpi_init(&argc, &argv) != 0) {
        return 1;
    }
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "nnrun: cannot create the Lua state: not enough memory\n");
        nnl_mpi_finalize();
        return 1;
    }
    lua_pushcfunction(L, msghandler);
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    if (lua_pcall(L, 2, 1, 1) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (!debug && msg && strchr(msg, '\n')) {
            /* One line without --debug: the traceback starts on line 2. */
            fprintf(stderr, "nnrun: internal error: %.*s\n", (int)(strchr(msg, '\n') - msg), msg);
        } else {
            fprintf(stderr, "nnrun: internal error: %s\n", msg ? msg : "?");
        }
        status = 1;
    } else {
        int isint = 0;
        lua_Integer code = lua_tointegerx(L, -1, &isint);
        status = isint && code >= 0 && code <= 255 ? (int)code : 1;
    }
    fflush(stdout);
    lua_close(L);
    nnl_mpi_finalize();
    return status;
}
