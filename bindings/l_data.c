/* l_data.c — nnrun.Dataset: in-memory datasets, the synthetic generators
 * (nn.datasets.xor/digits03/curve), files (nn.datasets.idx/csv/fashion_mnist),
 * normalisation and splits.  Only the runtime's row accessors are used, so
 * byte-stored (IDX) data sets work everywhere. */
#include "lnnrun.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

l_dataset *nnl_check_dataset(lua_State *L, int i) {
    l_dataset *ud = (l_dataset *)luaL_checkudata(L, i, NNL_DATASET);
    if (ud->d == NULL) {
        luaL_argerror(L, i, "dataset is closed");
    }
    return ud;
}

/* User value 1: the class names (a list) when the loader knows them;
 * user value 2: the image shape of a sample, { C, H, W }, when it does. */
static l_dataset *new_dataset(lua_State *L) {
    return (l_dataset *)nnl_newobject(L, sizeof(l_dataset), 2, NNL_DATASET);
}

/* Sets { c, h, w } as the image shape of the Dataset on top of the stack. */
static void set_shape(lua_State *L, int64_t c, int64_t h, int64_t w) {
    const int64_t dims[3] = {c, h, w};
    lua_createtable(L, 3, 0);
    for (int i = 0; i < 3; i++) {
        lua_pushinteger(L, (lua_Integer)dims[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setiuservalue(L, -2, 2);
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

/* d:x(), d:t(): copies of the inputs (normalised, as floats, whatever the
 * storage) and of the targets. */
static int d_x(lua_State *L) {
    const nn_dataset *d = nnl_check_dataset(L, 1)->d;
    l_tensor *ud = nnl_new_tensor(L);
    nn_status s = nn_tensor_create2d(nn_dataset_size(d), nn_dataset_features(d), &ud->t);
    if (s == NN_OK) {
        s = nn_dataset_rows(d, 0, nn_dataset_size(d), nn_tensor_data(ud->t));
    }
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 1;
}

static int d_t(lua_State *L) {
    nnl_push_copy(L, nn_dataset_t(nnl_check_dataset(L, 1)->d));
    return 1;
}

/* Pushes a new Dataset userdata that carries the class names and the
 * image shape (user values 1 and 2) of the one at index from. */
static l_dataset *new_dataset_like(lua_State *L, int from) {
    from = lua_absindex(L, from);
    l_dataset *out = new_dataset(L);
    for (int u = 1; u <= 2; u++) {
        lua_getiuservalue(L, from, u);
        lua_setiuservalue(L, -2, u);
    }
    return out;
}

/* Pushes a Dataset of rows idx[0..count) of the dataset at index i (same
 * storage, normalisation and class names). */
static void push_subset(lua_State *L, int i, const int64_t *idx, int64_t count) {
    const nn_dataset *d = nnl_check_dataset(L, i)->d;
    l_dataset *out = new_dataset_like(L, i);
    nn_status s = nn_dataset_subset(d, idx, count, &out->d);
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
}

/* d:split(fraction [, seed [, { stratify = false }]]) -> rest, part.  part
 * holds round(N * fraction) rows: the last ones, or with a seed a seeded
 * random choice (nn_dataset_split, per class with stratify); both keep the
 * order of d.  Each part must get at least one row. */
static int d_split(lua_State *L) {
    static const char *const keys[] = {"stratify", NULL};
    const nn_dataset *d = nnl_check_dataset(L, 1)->d;
    lua_Number f = luaL_checknumber(L, 2);
    int64_t n = nn_dataset_size(d);
    luaL_argcheck(L, f > 0 && f < 1, 2, "fraction must be in (0, 1)");
    int seeded = !lua_isnoneornil(L, 3);
    uint64_t seed = seeded ? (uint64_t)luaL_checkinteger(L, 3) : 0;
    int stratify = 0;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        nnl_check_options(L, 4, 4, NULL, keys);
        stratify = nnl_opt_boolean(L, 4, 4, NULL, "stratify", 0);
    }
    lua_settop(L, 4);
    int64_t k = (int64_t)(f * (lua_Number)n + 0.5);
    if (k < 1 || k >= n) {
        return luaL_argerror(L, 2,
                             lua_pushfstring(L, "fraction %f of %I rows leaves an empty part", f,
                                             (lua_Integer)n));
    }
    if (seeded || stratify) {
        l_dataset *rest = new_dataset_like(L, 1);
        l_dataset *part = new_dataset_like(L, 1);
        nn_status s = nn_dataset_split(d, (double)f, seed, stratify, &rest->d, &part->d);
        if (s != NN_OK) {
            return nnl_fail(L, s);
        }
        return 2;
    }
    int64_t *idx = (int64_t *)lua_newuserdatauv(L, (size_t)n * sizeof(int64_t), 0);
    for (int64_t i = 0; i < n; i++) {
        idx[i] = i;
    }
    push_subset(L, 1, idx, n - k);
    push_subset(L, 1, idx + (n - k), k);
    return 2;
}

/* ---- normalisation and class names ---------------------------------- */

/* Reads a normalisation table { kind =, shift = {...}, div = {...} } at
 * index i into n, its arrays in new userdata left on the stack. */
void nnl_check_norm(lua_State *L, int i, int arg, nn_norm *n) {
    i = lua_absindex(L, i);
    luaL_checktype(L, i, LUA_TTABLE);
    memset(n, 0, sizeof *n);
    lua_getfield(L, i, "kind");
    const char *kind = lua_tostring(L, -1);
    if (kind == NULL || nn_norm_parse(kind, &n->kind) != NN_OK) {
        nnl_argerror(L, arg, "norm", "kind must be 'none', 'scale' or 'standardize'");
    }
    lua_pop(L, 1);
    if (n->kind == NN_NORM_NONE) {
        return;
    }
    lua_getfield(L, i, "shift");
    lua_getfield(L, i, "div");
    if (!lua_istable(L, -1) || !lua_istable(L, -2) || lua_rawlen(L, -1) != lua_rawlen(L, -2) ||
        lua_rawlen(L, -1) == 0) {
        nnl_argerror(L, arg, "norm", "shift and div must be lists of the same length");
    }
    int64_t f = (int64_t)lua_rawlen(L, -1);
    float *shift = (float *)lua_newuserdatauv(L, (size_t)f * sizeof(float), 0);
    float *div = (float *)lua_newuserdatauv(L, (size_t)f * sizeof(float), 0);
    for (int64_t j = 0; j < f; j++) {
        lua_rawgeti(L, -4, (lua_Integer)j + 1);
        lua_rawgeti(L, -4, (lua_Integer)j + 1);
        if (!lua_isnumber(L, -1) || !lua_isnumber(L, -2)) {
            nnl_argerror(L, arg, "norm", "shift and div must hold numbers");
        }
        shift[j] = (float)lua_tonumber(L, -2);
        div[j] = (float)lua_tonumber(L, -1);
        lua_pop(L, 2);
    }
    n->features = f;
    n->shift = shift;
    n->div = div;
}

void nnl_push_norm(lua_State *L, const nn_norm *n) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, nn_norm_name(n->kind));
    lua_setfield(L, -2, "kind");
    if (n->kind == NN_NORM_NONE || n->shift == NULL) {
        return;
    }
    lua_createtable(L, (int)n->features, 0);
    lua_createtable(L, (int)n->features, 0);
    for (int64_t j = 0; j < n->features; j++) {
        nnl_pushfloat(L, n->shift[j]);
        lua_rawseti(L, -3, (lua_Integer)j + 1);
        nnl_pushfloat(L, n->div[j]);
        lua_rawseti(L, -2, (lua_Integer)j + 1);
    }
    lua_setfield(L, -3, "div");
    lua_setfield(L, -2, "shift");
}

/* d:normalize("scale" | "standardize" | "none"): statistics from d itself. */
static int d_normalize(lua_State *L) {
    nn_dataset *d = nnl_check_dataset(L, 1)->d;
    const char *name = luaL_checkstring(L, 2);
    nn_norm_kind k;
    if (nn_norm_parse(name, &k) != NN_OK) {
        return luaL_argerror(L, 2, lua_pushfstring(L, "unknown normalisation '%s' (expected "
                                                      "none, scale or standardize)", name));
    }
    nn_status s = nn_dataset_normalize(d, k);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_settop(L, 1);
    return 1;
}

/* d:normalize_like(other): other is a Dataset or a normalisation table
 * (d:norm(), or the norm of nn.load's checkpoint info). */
static int d_normalize_like(lua_State *L) {
    nn_dataset *d = nnl_check_dataset(L, 1)->d;
    nn_status s;
    if (lua_istable(L, 2)) {
        nn_norm n;
        nnl_check_norm(L, 2, 2, &n);
        if (n.kind == NN_NORM_NONE) {
            lua_settop(L, 1);
            return 1;
        }
        s = nn_dataset_set_norm(d, &n);
    } else {
        s = nn_dataset_normalize_like(d, nnl_check_dataset(L, 2)->d);
    }
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_settop(L, 1);
    return 1;
}

/* d:norm() -> { kind =, shift = {...}, div = {...} } (kind "none" alone). */
static int d_norm(lua_State *L) {
    nn_norm n = nn_dataset_norm(nnl_check_dataset(L, 1)->d);
    nnl_push_norm(L, &n);
    return 1;
}

/* d:class_names() -> list of names or nil: set by the loader (Fashion-MNIST,
 * nn.datasets.idx{ class_names = }) or read from a CSV text label column. */
static int d_class_names(lua_State *L) {
    const nn_dataset *d = nnl_check_dataset(L, 1)->d;
    if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE) {
        return 1;
    }
    int64_t n = nn_dataset_class_count(d);
    if (n <= 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushstring(L, nn_dataset_class_name(d, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* d:class_count() -> the number of classes of one-column class labels: the
 * count of its class names when it has them, else the largest label + 1;
 * nil when a target is not a whole number >= 0 (regression targets) or the
 * targets have several columns. */
static int d_class_count(lua_State *L) {
    const nn_dataset *d = nnl_check_dataset(L, 1)->d;
    if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE) {
        lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
        return 1;
    }
    if (nn_dataset_class_count(d) > 0) {
        lua_pushinteger(L, (lua_Integer)nn_dataset_class_count(d));
        return 1;
    }
    const nn_tensor *t = nn_dataset_t(d);
    if (nn_dataset_target_cols(d) != 1) {
        lua_pushnil(L);
        return 1;
    }
    const float *v = nn_tensor_cdata(t);
    float most = -1.0f;
    for (int64_t i = 0, n = nn_dataset_size(d); i < n; i++) {
        if (!(v[i] >= 0.0f && v[i] <= 16777216.0f && v[i] == (float)(int32_t)v[i])) {
            lua_pushnil(L);
            return 1;
        }
        most = v[i] > most ? v[i] : most;
    }
    lua_pushinteger(L, (lua_Integer)most + 1);
    return 1;
}

/* d:target_stats() -> { mean... }, { sd... } (a value per target column). */
static int d_target_stats(lua_State *L) {
    const nn_dataset *d = nnl_check_dataset(L, 1)->d;
    int64_t k = nn_dataset_target_cols(d);
    double *v = (double *)lua_newuserdatauv(L, 2 * (size_t)k * sizeof(double), 0);
    nn_status s = nn_dataset_target_stats(d, v, v + k);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    for (int part = 0; part < 2; part++) {
        lua_createtable(L, (int)k, 0);
        for (int64_t j = 0; j < k; j++) {
            lua_pushnumber(L, v[part * k + j]);
            lua_rawseti(L, -2, (lua_Integer)j + 1);
        }
    }
    return 2;
}

/* d:scale_targets({ shift... }, { div... }): t' = (t - shift) / div. */
static int d_scale_targets(lua_State *L) {
    nn_dataset *d = nnl_check_dataset(L, 1)->d;
    int64_t k = nn_dataset_target_cols(d);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_argcheck(L, (int64_t)lua_rawlen(L, 2) == k && (int64_t)lua_rawlen(L, 3) == k, 2,
                  "one shift and one div per target column");
    double *v = (double *)lua_newuserdatauv(L, 2 * (size_t)k * sizeof(double), 0);
    for (int part = 0; part < 2; part++) {
        for (int64_t j = 0; j < k; j++) {
            lua_rawgeti(L, 2 + part, (lua_Integer)j + 1);
            int ok = 0;
            v[part * k + j] = (double)lua_tonumberx(L, -1, &ok);
            luaL_argcheck(L, ok, 2 + part, "expected a list of numbers");
            lua_pop(L, 1);
        }
    }
    nn_status s = nn_dataset_scale_targets(d, v, v + k);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 0;
}

/* d:shape() -> { C, H, W } (a copy) or nil: the image shape of a sample as
 * the loader knows it (IDX files of 3 or 4 dimensions, Fashion-MNIST,
 * digits03), kept by splits. */
static int d_shape(lua_State *L) {
    nnl_check_dataset(L, 1);
    if (lua_getiuservalue(L, 1, 2) != LUA_TTABLE) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 3, 0);
    for (int i = 1; i <= 3; i++) {
        lua_rawgeti(L, -2, i);
        lua_rawseti(L, -2, i);
    }
    return 1;
}

static int d_is_compact(lua_State *L) {
    lua_pushboolean(L, nn_dataset_is_compact(nnl_check_dataset(L, 1)->d));
    return 1;
}

static int d_release(lua_State *L) {
    l_dataset *ud = (l_dataset *)luaL_checkudata(L, 1, NNL_DATASET);
    if (ud->busy) {
        return luaL_error(L, "cannot close the dataset: a running nn.fit uses it "
                             "(close it after nn.fit returns)");
    }
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
    set_shape(L, 1, 8, 8); /* 8x8 glyphs */
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

/* ---- files ------------------------------------------------------------ */

static const char *opt_string(lua_State *L, int idx, const char *key, const char *def) {
    int t = lua_getfield(L, idx, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    if (t != LUA_TSTRING) {
        nnl_argerror(L, 1, NULL, lua_pushfstring(L, "option '%s' must be a string, got %s", key,
                                                 luaL_typename(L, -1)));
    }
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1); /* still referenced by the options table */
    return v;
}

/* Sets the list at index names (or nil) as the class names of the Dataset
 * on top of the stack. */
static void set_class_names(lua_State *L, int names) {
    if (names != 0 && lua_istable(L, names)) {
        lua_pushvalue(L, names);
        lua_setiuservalue(L, -2, 1);
    }
}

/* The image shape of the Dataset on top of the stack from the dimensions
 * of its IDX images file (which nn_dataset_from_idx has read and checked):
 * (N, H, W) gives { 1, H, W }, (N, C, H, W) gives { C, H, W } (channels
 * first, the layout of a sample); (N, F) gives none.  The header is read
 * through zlib, as the runtime reads the file (plain or gzip). */
static void set_idx_shape(lua_State *L, const char *images) {
    unsigned char head[4 + 4 * 4];
    gzFile gz = gzopen(images, "rb");
    if (gz == NULL) {
        return;
    }
    const int got = gzread(gz, head, sizeof head);
    gzclose_r(gz);
    const int ndim = got >= 4 ? head[3] : 0;
    if (ndim < 3 || ndim > 4 || got < 4 + 4 * ndim) {
        return;
    }
    int64_t dims[4];
    for (int i = 0; i < ndim; i++) {
        const unsigned char *p = head + 4 + 4 * i;
        dims[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
    }
    if (ndim == 3) {
        set_shape(L, 1, dims[1], dims[2]);
    } else {
        set_shape(L, dims[1], dims[2], dims[3]);
    }
}

/* nn.datasets.idx{ images =, labels =, classes = 0, class_names = nil }:
 * IDX files (plain or gzip); images stay bytes until a batch is formed.
 * labels = false: images alone, to predict on (targets zeros; as a CSV's
 * label = false), never by leaving labels out. */
static int l_idx(lua_State *L) {
    static const char *const keys[] = {"images", "labels", "classes", "class_names", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    nnl_check_options(L, 1, 1, NULL, keys);
    lua_settop(L, 1);
    const char *images = opt_string(L, 1, "images", NULL);
    lua_getfield(L, 1, "labels");
    const int no_labels = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    const char *labels = no_labels ? NULL : opt_string(L, 1, "labels", NULL);
    luaL_argcheck(L, images && (labels || no_labels), 1,
                  "options 'images' and 'labels' are required (labels = false: images alone)");
    lua_Integer classes = nnl_opt_integer(L, 1, 1, NULL, "classes", 0);
    luaL_argcheck(L, classes >= 0 && classes <= 256, 1, "classes must be in [0, 256]");
    lua_getfield(L, 1, "class_names");
    int names = lua_istable(L, -1) ? lua_gettop(L) : 0;
    l_dataset *ud = new_dataset(L);
    nn_status s = nn_dataset_from_idx(images, labels, (int64_t)classes, &ud->d);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    set_class_names(L, names);
    set_idx_shape(L, images);
    return 1;
}

/* nn.datasets.csv{ path =, label = -1 (a column name, or its index from 1;
 * -1 the last; false: none, every column a feature), target = "class" | "class_int" | "regression",
 * classes = { names... }, first_seen_order = false, delimiter = ",",
 * header = true (false: the first line is data) } */
static int l_csv(lua_State *L) {
    static const char *const keys[] = {"path", "label", "target", "classes", "first_seen_order",
                                       "delimiter", "header", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    nnl_check_options(L, 1, 1, NULL, keys);
    lua_settop(L, 1);
    nn_csv_options o = nn_csv_defaults();
    const char *path = opt_string(L, 1, "path", NULL);
    luaL_argcheck(L, path != NULL, 1, "option 'path' is required");
    int t = lua_getfield(L, 1, "label");
    if (t == LUA_TSTRING) {
        o.label_column = lua_tostring(L, -1);
    } else if (t == LUA_TNUMBER && lua_isinteger(L, -1)) {
        lua_Integer i = lua_tointeger(L, -1);
        luaL_argcheck(L, i >= 1 || i == -1, 1, "label index must be >= 1 (or -1, the last)");
        o.label_index = i == -1 ? -1 : (int64_t)(i - 1);
    } else if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        o.no_label = 1; /* label = false: every column is a feature */
    } else if (t != LUA_TNIL) {
        return nnl_argerror(L, 1, NULL, "option 'label' must be a column name or index (or false)");
    }
    lua_pop(L, 1);
    const char *target = opt_string(L, 1, "target", "class");
    if (strcmp(target, "class") == 0) {
        o.target = NN_CSV_CLASS_TEXT;
    } else if (strcmp(target, "class_int") == 0) {
        o.target = NN_CSV_CLASS_INT;
    } else if (strcmp(target, "regression") == 0) {
        o.target = NN_CSV_REGRESSION;
    } else {
        return nnl_argerror(L, 1, NULL,
                            lua_pushfstring(L, "unknown target '%s' (expected class, class_int "
                                               "or regression)", target));
    }
    o.first_seen_order = nnl_opt_boolean(L, 1, 1, NULL, "first_seen_order", 0);
    o.no_header = !nnl_opt_boolean(L, 1, 1, NULL, "header", 1);
    const char *delim = opt_string(L, 1, "delimiter", ",");
    luaL_argcheck(L, strlen(delim) == 1, 1, "delimiter must be one character");
    o.delimiter = delim[0];
    if (lua_getfield(L, 1, "classes") == LUA_TTABLE) {
        int64_t n = (int64_t)lua_rawlen(L, -1);
        const char **names = (const char **)lua_newuserdatauv(
            L, (size_t)(n > 0 ? n : 1) * sizeof(char *), 0);
        for (int64_t i = 0; i < n; i++) {
            lua_rawgeti(L, -2, (lua_Integer)i + 1);
            names[i] = lua_tostring(L, -1);
            luaL_argcheck(L, names[i] != NULL, 1, "classes must be a list of names");
            lua_pop(L, 1); /* anchored by the list */
        }
        o.classes = names;
        o.n_classes = n;
    }
    l_dataset *ud = new_dataset(L);
    nn_status s = nn_dataset_from_csv(path, &o, &ud->d);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 1;
}

static const char *const FASHION_CLASSES[] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                              "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* The first of path, path.gz that exists (pushed), or nil. */
static const char *existing(lua_State *L, const char *dir, const char *stem) {
    const char *forms[] = {"%s/%s.gz", "%s/%s"};
    for (int i = 0; i < 2; i++) {
        const char *p = lua_pushfstring(L, forms[i], dir, stem);
        FILE *f = fopen(p, "rb");
        if (f) {
            fclose(f);
            return p;
        }
        lua_pop(L, 1);
    }
    return NULL;
}

/* nn.datasets.fashion_mnist{ split = "train" | "test",
 *   dir = "/usr/share/datasets/fashion-mnist" } (Debian dataset-fashion-mnist) */
static int l_fashion_mnist(lua_State *L) {
    static const char *const keys[] = {"split", "dir", NULL};
    opt_table(L, keys);
    if (lua_isnil(L, 1)) {
        lua_newtable(L);
        lua_replace(L, 1);
    }
    const char *split = opt_string(L, 1, "split", "train");
    const char *dir = opt_string(L, 1, "dir", FASHION_DIR);
    const char *prefix = NULL;
    if (strcmp(split, "train") == 0) {
        prefix = "train";
    } else if (strcmp(split, "test") == 0) {
        prefix = "t10k";
    } else {
        return nnl_argerror(L, 1, NULL,
                            lua_pushfstring(L, "split must be 'train' or 'test', got '%s'", split));
    }
    const char *images = existing(L, dir, lua_pushfstring(L, "%s-images-idx3-ubyte", prefix));
    const char *labels = existing(L, dir, lua_pushfstring(L, "%s-labels-idx1-ubyte", prefix));
    if (images == NULL || labels == NULL) {
        return luaL_error(L, "Fashion-MNIST not found: %s/%s-%s-idx%s-ubyte.gz is missing "
                             "(install the Debian package dataset-fashion-mnist, or give dir)",
                          dir, prefix, images == NULL ? "images" : "labels",
                          images == NULL ? "3" : "1");
    }
    l_dataset *ud = new_dataset(L);
    nn_status s = nn_dataset_from_idx(images, labels, 10, &ud->d);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_createtable(L, 10, 0);
    for (int i = 0; i < 10; i++) {
        lua_pushstring(L, FASHION_CLASSES[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setiuservalue(L, -2, 1);
    set_idx_shape(L, images);
    return 1;
}

void nnl_open_data(lua_State *L) {
    static const luaL_Reg methods[] = {{"size", d_size},       {"features", d_features},
                                       {"target_cols", d_target_cols},
                                       {"x", d_x},             {"t", d_t},
                                       {"split", d_split},     {"close", d_release},
                                       {"normalize", d_normalize},
                                       {"normalize_like", d_normalize_like},
                                       {"norm", d_norm},       {"class_names", d_class_names},
                                       {"is_compact", d_is_compact},
                                       {"shape", d_shape},
                                       {"class_count", d_class_count},
                                       {"target_stats", d_target_stats},
                                       {"scale_targets", d_scale_targets},
                                       {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", d_release},       {"__close", d_release},
                                    {"__len", d_size},         {"__tostring", d_tostring},
                                    {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"dataset", l_dataset_new}, {NULL, NULL}};
    static const luaL_Reg gens[] = {
        {"xor", l_xor},   {"digits03", l_digits03},           {"curve", l_curve},
        {"idx", l_idx},   {"csv", l_csv}, {"fashion_mnist", l_fashion_mnist}, {NULL, NULL}};
    nnl_newclass(L, NNL_DATASET, methods, meta);
    nnl_setfuncs(L, funcs);
    lua_newtable(L);
    nnl_setfuncs(L, gens);
    lua_setfield(L, -2, "datasets");
}
