/* l_sys.c — the few operating-system helpers the CLI needs that stock Lua
 * lacks: nn.isatty, nn.now (a monotonic clock), nn.mkdir and nn.listdir. */
#define _POSIX_C_SOURCE 200809L
#include "lnnrun.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* nn.isatty([fd = 1]) -> boolean */
static int l_isatty(lua_State *L) {
    lua_Integer fd = luaL_optinteger(L, 1, 1);
    luaL_argcheck(L, fd >= 0 && fd <= 1024, 1, "not a file descriptor");
    lua_pushboolean(L, isatty((int)fd));
    return 1;
}

/* nn.now() -> seconds of a monotonic clock (for durations only). */
static int l_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/* nn.mkdir(path) -> true | nil, message: creates one directory; an existing
 * directory is success. */
static int l_mkdir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (mkdir(path, 0777) == 0 || (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        lua_pushboolean(L, 1);
        return 1;
    }
    int e = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(e));
    return 2;
}

/* nn.listdir(path) -> list of the entry names (without . and ..), unsorted;
 * nil, message if the directory cannot be read. */
static int l_listdir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_newtable(L);
    DIR *d = opendir(path);
    if (d == NULL) {
        int e = errno;
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(e));
        return 2;
    }
    lua_Integer n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) {
            continue;
        }
        lua_pushstring(L, ent->d_name); /* memory errors here would leak d: */
        lua_rawseti(L, -2, ++n);        /* acceptable for a CLI helper     */
    }
    closedir(d);
    return 1;
}

void nnl_open_sys(lua_State *L) {
    static const luaL_Reg funcs[] = {{"isatty", l_isatty}, {"now", l_now},
                                     {"mkdir", l_mkdir},   {"listdir", l_listdir},
                                     {NULL, NULL}};
    nnl_setfuncs(L, funcs);
}
