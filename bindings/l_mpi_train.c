/* l_mpi_train.c — data-parallel training over MPI: the runtime's allreduce
 * (nn_parallel_config, see nnrun.h) on MPI_COMM_WORLD, for nn.fit's
 * `parallel` option, and nnrun.mpi.max for the ranks to agree on a status.
 *
 * The runtime hands over int32 maxima (block exponents) and double sums
 * whose every order of additions gives the same bits (integers below 2^53,
 * or values held by one rank alone): MPI_Allreduce may add in any order.
 * Nothing numerical happens here.
 */
#include <limits.h>

#include "lnnrun.h"

#ifdef NNRUN_HAVE_MPI
#include <mpi.h>

static int mpi_allreduce(void *buf, int64_t n, nn_reduce_op op, void *user) {
    (void)user;
    const int max = op == NN_REDUCE_MAX_INT32;
    const size_t esz = max ? sizeof(int32_t) : sizeof(double);
    /* MPI counts are int: pieces of at most 2^30 elements. */
    for (int64_t done = 0; done < n;) {
        const int64_t left = n - done, piece = left < (1 << 30) ? left : (1 << 30);
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)done * esz, (int)piece,
                          max ? MPI_INT32_T : MPI_DOUBLE, max ? MPI_MAX : MPI_SUM,
                          MPI_COMM_WORLD) != MPI_SUCCESS) {
            return -1;
        }
        done += piece;
    }
    return 0;
}
#endif

int nnl_mpi_parallel(nn_parallel_config *pc) {
#ifdef NNRUN_HAVE_MPI
    if (!nnl_mpi_on()) {
        return 0;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &pc->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &pc->ranks);
    pc->allreduce = mpi_allreduce;
    pc->user = NULL;
    return 1;
#else
    (void)pc;
    return 0;
#endif
}

int nnl_mpi_any(int flag) {
#ifdef NNRUN_HAVE_MPI
    if (nnl_mpi_on()) {
        int all = flag;
        if (MPI_Allreduce(&flag, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) == MPI_SUCCESS) {
            return all;
        }
    }
#endif
    return flag;
}

/* nnrun.mpi.max(integer) -> the largest of every rank's (its own without
 * MPI); every rank must call it. */
static int l_max(lua_State *L) {
    lua_Integer v = luaL_checkinteger(L, 1);
    luaL_argcheck(L, v >= INT_MIN && v <= INT_MAX, 1, "integer out of range");
    lua_pushinteger(L, nnl_mpi_any((int)v));
    return 1;
}

void nnl_open_mpi_train(lua_State *L) {
    if (lua_getfield(L, -1, "mpi") == LUA_TTABLE) {
        lua_pushcfunction(L, l_max);
        lua_setfield(L, -2, "max");
    }
    lua_pop(L, 1);
}
