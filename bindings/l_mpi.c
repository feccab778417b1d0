/* l_mpi.c — the optional MPI glue: the Lua table nnrun.mpi.
 *
 * The nnrun executable owns MPI's life: main.c calls nnl_mpi_init() before
 * Lua starts and nnl_mpi_finalize() at exit.  MPI is initialised
 * (MPI_Init_thread, MPI_THREAD_FUNNELED: only the main thread calls MPI,
 * OpenMP threads never do) only when the process was launched by an MPI
 * launcher, seen by its environment (OMPI_COMM_WORLD_SIZE of Open MPI's
 * mpirun, PMIX_RANK of PMIx launchers such as srun --mpi=pmix, PMI_RANK /
 * PMI_SIZE of MPICH's): plain `nnrun` never touches MPI.  Those variables are
 * then removed from the environment, so that the processes nnrun starts
 * (the trials of a sweep) are plain nnrun processes, not more ranks.
 * runtime/ knows nothing of MPI; nothing here is numerical.
 *
 * nnrun.mpi (in every build; without MPI, or not under a launcher, it is a
 * world of one rank):
 *   available() -> boolean   MPI is running: built with MPI (NNRUN_MPI) and
 *                            launched by mpirun/srun (or, in nnrun.so, the
 *                            host program initialised MPI itself)
 *   built -> boolean         this build has MPI (NNRUN_MPI=ON)
 *   rank() -> integer        this rank in MPI_COMM_WORLD (0 without MPI)
 *   size() -> integer        ranks in MPI_COMM_WORLD (1 without MPI)
 *   barrier()                MPI_Barrier (nothing without MPI)
 *   send(dest, tag, string)  blocking MPI_Send of the string's bytes;
 *                            0 <= tag <= 32767 (the least MPI_TAG_UB)
 *   recv([src [, tag]]) -> string, src, tag
 *                            blocking receive of one message; src and tag
 *                            nil or -1 for any (MPI_ANY_SOURCE/_TAG).  It
 *                            waits without spinning a core (MPI_Iprobe and
 *                            naps of at most 2 ms): an idle rank of a sweep
 *                            may wait minutes beside the trials of others
 *   poll([src [, tag]]) -> src, tag | nil
 *                            MPI_Iprobe: whether a message is waiting,
 *                            without receiving it
 *   bcast(string|nil, root) -> string
 *                            root's string on every rank (others pass nil)
 *   abort(code)              (the nnrun executable only) MPI_Abort of every
 *                            rank with exit status code; without MPI, exits
 *                            this process with code
 * send, recv and poll raise "nnrun.mpi: not running under MPI" without
 * MPI.  MPI failures are raised as Lua errors with MPI's message (the
 * communicator returns errors instead of aborting).
 *
 * Other C files of the binding may add functions to nnrun.mpi (for example
 * reductions for data-parallel training): they check nnl_mpi_on() first.
 */
#define _DEFAULT_SOURCE
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lnnrun.h"

#ifdef NNRUN_HAVE_MPI
#include <mpi.h>
#endif

#define MPI_TAG_MAX 32767

/* The environment variables a launcher sets in each rank. */
static const char *const launcher_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                            "PMI_SIZE", NULL};

static int owner;     /* nnl_mpi_init ran (the nnrun executable) */
static int we_inited; /* nnl_mpi_init called MPI_Init_thread */

int nnl_mpi_on(void) {
#ifdef NNRUN_HAVE_MPI
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return init && !fin;
#else
    return 0;
#endif
}

int nnl_mpi_init(int *argc, char ***argv) {
    owner = 1;
#ifdef NNRUN_HAVE_MPI
    int launched = 0;
    for (int i = 0; launcher_vars[i]; i++) {
        launched |= getenv(launcher_vars[i]) != NULL;
    }
    if (!launched) {
        return 0;
    }
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "nnrun: MPI_Init_thread failed\n");
        return -1;
    }
    we_inited = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    for (int i = 0; launcher_vars[i]; i++) {
        unsetenv(launcher_vars[i]);
    }
#else
    (void)argc;
    (void)argv;
#endif
    return 0;
}

void nnl_mpi_finalize(void) {
#ifdef NNRUN_HAVE_MPI
    if (we_inited && nnl_mpi_on()) {
        MPI_Finalize();
    }
#endif
}

#ifdef NNRUN_HAVE_MPI
static int mpi_fail(lua_State *L, const char *what, int err) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, msg, &len) != MPI_SUCCESS) {
        len = snprintf(msg, sizeof msg, "error %d", err);
    }
    return luaL_error(L, "nnrun.mpi.%s: %s", what, msg);
}

static int check_rank(lua_State *L, int arg, int any) {
    if (any && lua_isnoneornil(L, arg)) {
        return MPI_ANY_SOURCE;
    }
    lua_Integer r = luaL_checkinteger(L, arg);
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (any && r == -1) {
        return MPI_ANY_SOURCE;
    }
    luaL_argcheck(L, r >= 0 && r < size, arg, "no such rank");
    return (int)r;
}

static int check_tag(lua_State *L, int arg, int any) {
    if (any && lua_isnoneornil(L, arg)) {
        return MPI_ANY_TAG;
    }
    lua_Integer t = luaL_checkinteger(L, arg);
    if (any && t == -1) {
        return MPI_ANY_TAG;
    }
    luaL_argcheck(L, t >= 0 && t <= MPI_TAG_MAX, arg, "tag must be in 0..32767");
    return (int)t;
}
#endif

static void need_mpi(lua_State *L) {
    if (!nnl_mpi_on()) {
        luaL_error(L, "nnrun.mpi: not running under MPI");
    }
}

static int l_available(lua_State *L) {
    lua_pushboolean(L, nnl_mpi_on());
    return 1;
}

static int l_rank(lua_State *L) {
    int r = 0;
#ifdef NNRUN_HAVE_MPI
    if (nnl_mpi_on()) {
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
    }
#endif
    lua_pushinteger(L, r);
    return 1;
}

static int l_size(lua_State *L) {
    int n = 1;
#ifdef NNRUN_HAVE_MPI
    if (nnl_mpi_on()) {
        MPI_Comm_size(MPI_COMM_WORLD, &n);
    }
#endif
    lua_pushinteger(L, n);
    return 1;
}

static int l_barrier(lua_State *L) {
#ifdef NNRUN_HAVE_MPI
    if (nnl_mpi_on()) {
        int err = MPI_Barrier(MPI_COMM_WORLD);
        if (err != MPI_SUCCESS) {
            return mpi_fail(L, "barrier", err);
        }
    }
#else
    (void)L;
#endif
    return 0;
}

static int l_send(lua_State *L) {
    need_mpi(L);
#ifdef NNRUN_HAVE_MPI
    int dest = check_rank(L, 1, 0), tag = check_tag(L, 2, 0);
    size_t len;
    const char *s = luaL_checklstring(L, 3, &len);
    luaL_argcheck(L, len <= (size_t)0x7fffffff, 3, "message over 2 GiB");
    int err = MPI_Send(s, (int)len, MPI_CHAR, dest, tag, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS) {
        return mpi_fail(L, "send", err);
    }
#endif
    return 0;
}

static int l_recv(lua_State *L) {
    need_mpi(L);
#ifdef NNRUN_HAVE_MPI
    int src = check_rank(L, 1, 1), tag = check_tag(L, 2, 1), n = 0, flag = 0;
    MPI_Status st;
    /* MPI_Probe would busy-poll (Open MPI's default): probe, then nap,
     * 20 us doubling up to 2 ms. */
    int err = MPI_SUCCESS;
    for (long ns = 20000;; ns = ns < 2000000 ? 2 * ns : 2000000) {
        err = MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, &st);
        if (err != MPI_SUCCESS || flag) {
            break;
        }
        struct timespec nap = {0, ns};
        nanosleep(&nap, NULL);
    }
    if (err == MPI_SUCCESS) {
        err = MPI_Get_count(&st, MPI_CHAR, &n);
    }
    if (err != MPI_SUCCESS) {
        return mpi_fail(L, "recv", err);
    }
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, (size_t)n);
    /* The probed message itself: its source and tag, not the wildcards. */
    err = MPI_Recv(p, n, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (err != MPI_SUCCESS) {
        return mpi_fail(L, "recv", err);
    }
    luaL_pushresultsize(&b, (size_t)n);
    lua_pushinteger(L, st.MPI_SOURCE);
    lua_pushinteger(L, st.MPI_TAG);
    return 3;
#else
    return 0;
#endif
}

static int l_poll(lua_State *L) {
    need_mpi(L);
#ifdef NNRUN_HAVE_MPI
    int src = check_rank(L, 1, 1), tag = check_tag(L, 2, 1), flag = 0;
    MPI_Status st;
    int err = MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, &st);
    if (err != MPI_SUCCESS) {
        return mpi_fail(L, "poll", err);
    }
    if (!flag) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, st.MPI_SOURCE);
    lua_pushinteger(L, st.MPI_TAG);
    return 2;
#else
    return 0;
#endif
}

static int l_bcast(lua_State *L) {
#ifdef NNRUN_HAVE_MPI
    if (nnl_mpi_on()) {
        int root = check_rank(L, 2, 0), me = 0;
        MPI_Comm_rank(MPI_COMM_WORLD, &me);
        size_t len = 0;
        const char *s = me == root ? luaL_checklstring(L, 1, &len) : NULL;
        long long n = (long long)len;
        int err = MPI_Bcast(&n, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD);
        if (err == MPI_SUCCESS && n > 0x7fffffff) {
            return luaL_error(L, "nnrun.mpi.bcast: message over 2 GiB");
        }
        if (err != MPI_SUCCESS) {
            return mpi_fail(L, "bcast", err);
        }
        luaL_Buffer b;
        char *p = luaL_buffinitsize(L, &b, (size_t)n);
        if (me == root) {
            memcpy(p, s, (size_t)n);
        }
        err = MPI_Bcast(p, (int)n, MPI_CHAR, root, MPI_COMM_WORLD);
        if (err != MPI_SUCCESS) {
            return mpi_fail(L, "bcast", err);
        }
        luaL_pushresultsize(&b, (size_t)n);
        return 1;
    }
#endif
    lua_Integer root = luaL_checkinteger(L, 2);
    luaL_argcheck(L, root == 0, 2, "no such rank");
    luaL_checkstring(L, 1);
    lua_settop(L, 1);
    return 1;
}

static int l_abort(lua_State *L) {
    lua_Integer code = luaL_checkinteger(L, 1);
    luaL_argcheck(L, code >= 0 && code <= 255, 1, "exit status must be in 0..255");
    fflush(stdout);
    fflush(stderr);
#ifdef NNRUN_HAVE_MPI
    if (nnl_mpi_on()) {
        MPI_Abort(MPI_COMM_WORLD, (int)code);
    }
#endif
    exit((int)code);
}

void nnl_open_mpi(lua_State *L) {
    static const luaL_Reg funcs[] = {{"available", l_available}, {"rank", l_rank},
                                     {"size", l_size},           {"barrier", l_barrier},
                                     {"send", l_send},           {"recv", l_recv},
                                     {"poll", l_poll},           {"bcast", l_bcast},
                                     {NULL, NULL}};
    lua_newtable(L);
    luaL_setfuncs(L, funcs, 0);
#ifdef NNRUN_HAVE_MPI
    lua_pushboolean(L, 1);
#else
    lua_pushboolean(L, 0);
#endif
    lua_setfield(L, -2, "built");
    if (owner) {
        lua_pushcfunction(L, l_abort);
        lua_setfield(L, -2, "abort");
    }
    lua_setfield(L, -2, "mpi");
}
