/* l_data.c — nnrun.Dataset: in-memory datasets, the synthetic generators
 * (nn.datasets.xor/digits03/curve) and splits. */
#include "lnnrun.h"

#include <string.h>

l_dataset *nnl_check_dataset(lua_State *L, int i) {
    l_dataset *ud = (l_dataset *)luaL_checkudata(L, i, NNL_DATASET);
    if (ud->d == NULL) {
        luaL_argerror(L, i, "dataset is closed");
    }
    return ud;
}

static l_dataset *new_dataset(lua_State *L) {
    return (l_dataset *)nnl_newobject(L, sizeof(l_dataset), 0, NNL_DATASET);
}

/* nn.dataset(x, t): x (N, features), t (N, k); tensors or nested tables. */
static int l_dataset_new(lua_State *L) {
    nn_tensor *x = nnl_to_tensor(L, 1);
    nn_tensor *t = nnl_to_tensor(L, 2);
    if (nn_tensor_rows(x) != nn_tensor_rows(t)) {
        return luaL_argerror(L, 2,
                             lua_pushfstring(L, "targets have %I rows, inputs have %I",
                                             (lua_Integer)nn_tensor_rows(t),
                                             (lua_Integer)nn_tensor_rows(x)));
    }
    l_dataset *ud = new_dataset(L);
    nn_status s = nn_dataset_create(x, t, &ud->d);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 1;
}

static int d_size(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)nn_dataset_size(nnl_check_dataset(L, 1)->d));
    return 1;
}

static int d_features(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)nn_dataset_features(nnl_check_dataset(L, 1)->d));
    return 1;
}

static int d_target_cols(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)nn_dataset_target_cols(nnl_check_dataset(L, 1)->d));
    return 1;
}

/* d:x(), d:t(): copies of the inputs and the targets. */
static int d_x(lua_State *L) {
    nnl_push_copy(L, nn_dataset_x(nnl_check_dataset(L, 1)->d));
    return 1;
}

static int d_t(lua_State *L) {
    nnl_push_copy(L, nn_dataset_t(nnl_check_dataset(L, 1)->d));
    return 1;
}

/* Pushes a Tensor with rows idx[0..count) of src (copies, no arithmetic). */
static nn_tensor *gather_rows(lua_State *L, const nn_tensor *src, const int64_t *idx,
                              int64_t count) {
    int64_t shape[NN_MAX_DIMS];
    int nd = nn_tensor_ndim(src);
    int64_t cols = nn_tensor_cols(src);
    for (int k = 0; k < nd; k++) {
        shape[k] = nn_tensor_dim(src, k);
    }
    shape[0] = count;
    l_tensor *ud = nnl_new_tensor(L);
    nn_status s = nn_tensor_create(nd, shape, &ud->t);
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
    const float *from = nn_tensor_cdata(src);
    float *to = nn_tensor_data(ud->t);
    for (int64_t r = 0; r < count; r++) {
        memcpy(to + r * cols, from + idx[r] * cols, (size_t)cols * sizeof(float));
    }
    return ud->t;
}

/* Pushes a Dataset of rows idx[0..count) of d. */
static void push_subset(lua_State *L, const nn_dataset *d, const int64_t *idx, int64_t count) {
    l_dataset *out = new_dataset(L);
    nn_tensor *x = gather_rows(L, nn_dataset_x(d), idx, count);
    nn_tensor *t = gather_rows(L, nn_dataset_t(d), idx, count);
    nn_status s = nn_dataset_create(x, t, &out->d);
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
    lua_pop(L, 2); /* the temporaries; the collector frees them */
}

/* d:split(fraction [, seed]) -> rest, part.  part holds round(N * fraction)
 * rows: the last ones, or with a seed a seeded random choice; both keep the
 * order of d.  Each part must get at least one row. */
static int d_split(lua_State *L) {
    const nn_dataset *d = nnl_check_dataset(L, 1)->d;
    lua_Number f = luaL_checknumber(L, 2);
    int64_t n = nn_dataset_size(d);
    luaL_argcheck(L, f > 0 && f < 1, 2, "fraction must be in (0, 1)");
    int seeded = !lua_isnoneornil(L, 3);
    uint64_t seed = seeded ? (uint64_t)luaL_checkinteger(L, 3) : 0;
    lua_settop(L, 3);
    int64_t k = (int64_t)(f * (lua_Number)n + 0.5);
    if (k < 1 || k >= n) {
        return luaL_argerror(L, 2,
                             lua_pushfstring(L, "fraction %f of %I rows leaves an empty part", f,
                                             (lua_Integer)n));
    }
    int64_t *idx = (int64_t *)lua_newuserdatauv(L, (size_t)n * sizeof(int64_t), 0);
    char *in_part = (char *)lua_newuserdatauv(L, (size_t)n, 0);
    memset(in_part, 0, (size_t)n);
    if (!seeded) {
        memset(in_part + (n - k), 1, (size_t)k);
    } else {
        /* Choose k rows by a partial Fisher-Yates shuffle of 0..n-1. */
        nn_rng rng;
        nn_rng_seed(&rng, seed);
        for (int64_t i = 0; i < n; i++) {
            idx[i] = i;
        }
        for (int64_t i = 0; i < k; i++) {
            int64_t j = i + (int64_t)nn_rng_below(&rng, (uint64_t)(n - i));
            int64_t tmp = idx[i];
            idx[i] = idx[j];
            idx[j] = tmp;
            in_part[idx[i]] = 1;
        }
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!in_part[i]) {
            idx[m++] = i;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        if (in_part[i]) {
            idx[m++] = i;
        }
    }
    push_subset(L, d, idx, n - k);
    push_subset(L, d, idx + (n - k), k);
    return 2;
}

static int d_release(lua_State *L) {
    l_dataset *ud = (l_dataset *)luaL_checkudata(L, 1, NNL_DATASET);
    nn_dataset_free(ud->d);
    ud->d = NULL;
    return 0;
}

static int d_tostring(lua_State *L) {
    l_dataset *ud = (l_dataset *)luaL_checkudata(L, 1, NNL_DATASET);
    if (ud->d == NULL) {
        lua_pushliteral(L, "nnrun.Dataset (closed)");
    } else {
        lua_pushfstring(L, "nnrun.Dataset(%I samples, %I features, %I target columns)",
                        (lua_Integer)nn_dataset_size(ud->d),
                        (lua_Integer)nn_dataset_features(ud->d),
                        (lua_Integer)nn_dataset_target_cols(ud->d));
    }
    return 1;
}

/* ---- generators ------------------------------------------------------ */

static int l_xor(lua_State *L) {
    l_dataset *ud = new_dataset(L);
    nn_status s = nn_data_xor(&ud->d);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 1;
}

static void opt_table(lua_State *L, const char *const keys[]) {
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        nnl_check_options(L, 1, 1, NULL, keys);
    }
    lua_settop(L, 1);
}

/* nn.datasets.digits03{ n_per_class = 100, noise = 0.1, seed = 0 }
 * (n is accepted as another name of n_per_class). */
static int l_digits03(lua_State *L) {
    static const char *const keys[] = {"n_per_class", "n", "noise", "seed", NULL};
    opt_table(L, keys);
    lua_Integer n = nnl_opt_integer(L, 1, 1, NULL, "n_per_class", nnl_opt_integer(L, 1, 1, NULL, "n", 100));
    lua_Number noise = nnl_opt_number(L, 1, 1, NULL, "noise", 0.1);
    lua_Integer seed = nnl_opt_integer(L, 1, 1, NULL, "seed", 0);
    luaL_argcheck(L, n >= 1, 1, "n_per_class must be >= 1");
    luaL_argcheck(L, noise >= 0, 1, "noise must be >= 0");
    l_dataset *ud = new_dataset(L);
    nn_status s = nn_data_digits03((int64_t)n, (float)noise, (uint64_t)seed, &ud->d);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 1;
}

/* nn.datasets.curve{ n = 200, noise = 0.1, seed = 0 } */
static int l_curve(lua_State *L) {
    static const char *const keys[] = {"n", "noise", "seed", NULL};
    opt_table(L, keys);
    lua_Integer n = nnl_opt_integer(L, 1, 1, NULL, "n", 200);
    lua_Number noise = nnl_opt_number(L, 1, 1, NULL, "noise", 0.1);
    lua_Integer seed = nnl_opt_integer(L, 1, 1, NULL, "seed", 0);
    luaL_argcheck(L, n >= 1, 1, "n must be >= 1");
    luaL_argcheck(L, noise >= 0, 1, "noise must be >= 0");
    l_dataset *ud = new_dataset(L);
    nn_status s = nn_data_curve((int64_t)n, (float)noise, (uint64_t)seed, &ud->d);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 1;
}

void nnl_open_data(lua_State *L) {
    static const luaL_Reg methods[] = {{"size", d_size},       {"features", d_features},
                                       {"target_cols", d_target_cols},
                                       {"x", d_x},             {"t", d_t},
                                       {"split", d_split},     {"close", d_release},
                                       {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", d_release},       {"__close", d_release},
                                    {"__len", d_size},         {"__tostring", d_tostring},
                                    {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"dataset", l_dataset_new}, {NULL, NULL}};
    static const luaL_Reg gens[] = {
        {"xor", l_xor}, {"digits03", l_digits03}, {"curve", l_curve}, {NULL, NULL}};
    nnl_newclass(L, NNL_DATASET, methods, meta);
    nnl_setfuncs(L, funcs);
    lua_newtable(L);
    nnl_setfuncs(L, gens);
    lua_setfield(L, -2, "datasets");
}
