/* l_landscape.c — the loss over a plane of parameter space, for nnrun
 * landscape (scripts/nnrun/landscape.lua):
 *   nn.param_vector(net) -> Tensor (P): a copy of the parameters
 *   nn.random_direction(net, seed) -> Tensor (P), normalised per layer
 *   nn.loss_surface(net, data, loss, center, d1, d2, alphas, betas
 *                   [, batch_size]) -> rows: rows[j][i], the loss at
 *                   center + alphas[i] d1 + betas[j] d2
 *   nn.plane_project(center, d1, d2, p) -> a, b
 * Vectors are Tensors of nn_net_param_count floats (any shape). */
#include "lnnrun.h"

#include <string.h>

/* Argument i as a Tensor of exactly n floats. */
static const float *check_vector(lua_State *L, int i, int64_t n) {
    const nn_tensor *t = nnl_check_tensor(L, i)->t;
    if (!t) {
        luaL_argerror(L, i, "tensor is closed");
    }
    if (nn_tensor_size(t) != n) {
        luaL_argerror(L, i,
                      lua_pushfstring(L, "expected %I floats (the network's parameters), got %I",
                                      (lua_Integer)n, (lua_Integer)nn_tensor_size(t)));
    }
    return nn_tensor_cdata(t);
}

/* A new 1-D Tensor of n floats on the stack. */
static float *new_vector(lua_State *L, int64_t n) {
    l_tensor *t = nnl_new_tensor(L);
    nn_status s = nn_tensor_create(1, &n, &t->t);
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
    return nn_tensor_data(t->t);
}

static int l_param_vector(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    const int64_t P = nn_net_param_count(ud->net);
    float *v = new_vector(L, P);
    memcpy(v, nn_net_params(ud->net), (size_t)P * sizeof(float));
    return 1;
}

static int l_random_direction(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    lua_Integer seed = luaL_checkinteger(L, 2);
    float *v = new_vector(L, nn_net_param_count(ud->net));
    nn_rng rng;
    nn_rng_seed(&rng, (uint64_t)seed);
    nn_status s = nn_net_random_direction(ud->net, &rng, v);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 1;
}

/* The numbers of the list at index i, into a new userdata block (freed
 * by Lua's collector, so an error leaks nothing). */
static double *check_numbers(lua_State *L, int i, int64_t *n) {
    luaL_checktype(L, i, LUA_TTABLE);
    *n = (int64_t)lua_rawlen(L, i);
    luaL_argcheck(L, *n >= 1, i, "expected a non-empty list of numbers");
    double *v = (double *)lua_newuserdatauv(L, (size_t)*n * sizeof(double), 0);
    for (int64_t k = 0; k < *n; k++) {
        lua_rawgeti(L, i, (lua_Integer)k + 1);
        int ok = 0;
        v[k] = (double)lua_tonumberx(L, -1, &ok);
        if (!ok) {
            luaL_argerror(L, i, "expected a list of numbers");
        }
        lua_pop(L, 1);
    }
    return v;
}

static int l_loss_surface(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    l_dataset *data = nnl_check_dataset(L, 2);
    nn_loss_kind k = nnl_check_loss_kind(L, 3, 3);
    const int64_t P = nn_net_param_count(ud->net);
    const float *center = check_vector(L, 4, P);
    const float *d1 = check_vector(L, 5, P);
    const float *d2 = check_vector(L, 6, P);
    lua_Integer batch = luaL_optinteger(L, 9, 0);
    luaL_argcheck(L, batch >= 0, 9, "batch size must be >= 0");
    lua_settop(L, 9);
    int64_t na, nb, cells;
    const double *alpha = check_numbers(L, 7, &na);
    const double *beta = check_numbers(L, 8, &nb);
    if (na > 100000 || nb > 100000) {
        return luaL_error(L, "loss surface: at most 100000 x 100000 points, got %I x %I",
                          (lua_Integer)na, (lua_Integer)nb);
    }
    cells = na * nb;
    double *out = (double *)lua_newuserdatauv(L, (size_t)cells * sizeof(double), 0);
    nn_status s = nn_loss_surface(ud->net, data->d, k, center, d1, d2, alpha, na, beta, nb,
                                  (int64_t)batch, out);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_createtable(L, (int)nb, 0);
    for (int64_t j = 0; j < nb; j++) {
        lua_createtable(L, (int)na, 0);
        for (int64_t i = 0; i < na; i++) {
            lua_pushnumber(L, out[j * na + i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_rawseti(L, -2, (lua_Integer)j + 1);
    }
    return 1;
}

static int l_plane_project(lua_State *L) {
    const nn_tensor *c = nnl_check_tensor(L, 1)->t;
    luaL_argcheck(L, c != NULL, 1, "tensor is closed");
    const int64_t n = nn_tensor_size(c);
    const float *d1 = check_vector(L, 2, n), *d2 = check_vector(L, 3, n);
    const float *p = check_vector(L, 4, n);
    double a = 0, b = 0;
    nn_status s = nn_plane_project(n, nn_tensor_cdata(c), d1, d2, p, &a, &b);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_pushnumber(L, a);
    lua_pushnumber(L, b);
    return 2;
}

void nnl_open_landscape(lua_State *L) {
    static const luaL_Reg funcs[] = {{"param_vector", l_param_vector},
                                     {"random_direction", l_random_direction},
                                     {"loss_surface", l_loss_surface},
                                     {"plane_project", l_plane_project},
                                     {NULL, NULL}};
    nnl_setfuncs(L, funcs);
}
