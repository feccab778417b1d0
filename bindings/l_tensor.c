/* l_tensor.c — nnrun.Tensor: float32 tensors to and from Lua tables.
 *
 * Lua indexes from 1: t[i][j] is element (i-1, j-1) of the runtime tensor.
 * A 1-D tensor indexes as t[i]; a tensor of more dimensions is seen as
 * (rows, cols) with cols the product of the other dimensions.
 */
#include "lnnrun.h"

#include <stdio.h>
#include <string.h>

typedef struct l_row {
    int64_t row; /* 0-based; user value 1: the tensor */
} l_row;

static int tensor_closed_parent(lua_State *L, int i) {
    int closed = 0;
    if (lua_getiuservalue(L, i, 1) == LUA_TUSERDATA) {
        void **h = (void **)lua_touserdata(L, -1);
        closed = (*h == NULL);
    }
    lua_pop(L, 1);
    return closed;
}

l_tensor *nnl_check_tensor(lua_State *L, int i) {
    l_tensor *ud = (l_tensor *)luaL_checkudata(L, i, NNL_TENSOR);
    if (ud->t == NULL) {
        luaL_argerror(L, i, "tensor is closed");
    }
    if (tensor_closed_parent(L, i)) {
        luaL_argerror(L, i, "tensor views a network that was closed");
    }
    return ud;
}

l_tensor *nnl_new_tensor(lua_State *L) {
    return (l_tensor *)nnl_newobject(L, sizeof(l_tensor), 1, NNL_TENSOR);
}

void nnl_push_view(lua_State *L, nn_tensor *view, int owner) {
    owner = lua_absindex(L, owner);
    l_tensor *ud = nnl_new_tensor(L);
    ud->t = view;
    lua_pushvalue(L, owner);
    lua_setiuservalue(L, -2, 1);
}

nn_tensor *nnl_push_copy(lua_State *L, const nn_tensor *src) {
    int64_t shape[NN_MAX_DIMS];
    int nd = nn_tensor_ndim(src);
    l_tensor *ud = nnl_new_tensor(L);
    for (int k = 0; k < nd; k++) {
        shape[k] = nn_tensor_dim(src, k);
    }
    nn_status s = nn_tensor_create(nd, shape, &ud->t);
    if (s == NN_OK) {
        s = nn_tensor_copy(ud->t, src);
    }
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
    return ud->t;
}

static float check_element(lua_State *L, int arg, int64_t r, int64_t c, int twod) {
    if (lua_type(L, -1) != LUA_TNUMBER) {
        if (twod) {
            luaL_argerror(L, arg, lua_pushfstring(L, "row %d, column %d: expected a number, got %s",
                                                  (int)r + 1, (int)c + 1, luaL_typename(L, -1)));
        } else {
            luaL_argerror(L, arg, lua_pushfstring(L, "element %d: expected a number, got %s",
                                                  (int)r + 1, luaL_typename(L, -1)));
        }
    }
    return (float)lua_tonumber(L, -1);
}

/* Converts the table at idx into a new Tensor pushed on the stack. */
static nn_tensor *table_to_tensor(lua_State *L, int idx, int arg) {
    idx = lua_absindex(L, idx);
    int64_t rows = (int64_t)lua_rawlen(L, idx), cols = 1;
    int twod;
    if (rows == 0) {
        luaL_argerror(L, arg, "empty table: a tensor needs at least one element");
    }
    twod = lua_rawgeti(L, idx, 1) == LUA_TTABLE;
    if (twod) {
        cols = (int64_t)lua_rawlen(L, -1);
        if (cols == 0) {
            luaL_argerror(L, arg, "row 1 is empty");
        }
    }
    lua_pop(L, 1);
    l_tensor *ud = nnl_new_tensor(L);
    int64_t shape[2] = {rows, cols};
    nn_status s = nn_tensor_create(twod ? 2 : 1, shape, &ud->t);
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
    float *d = nn_tensor_data(ud->t);
    for (int64_t r = 0; r < rows; r++) {
        int ty = lua_rawgeti(L, idx, (lua_Integer)r + 1);
        if (!twod) {
            d[r] = check_element(L, arg, r, 0, 0);
        } else {
            if (ty != LUA_TTABLE) {
                luaL_argerror(L, arg, lua_pushfstring(L, "row %d: expected a table, got %s",
                                                      (int)r + 1, luaL_typename(L, -1)));
            }
            if ((int64_t)lua_rawlen(L, -1) != cols) {
                luaL_argerror(L, arg,
                              lua_pushfstring(L, "row %d has %d values, row 1 has %d", (int)r + 1,
                                              (int)lua_rawlen(L, -1), (int)cols));
            }
            for (int64_t c = 0; c < cols; c++) {
                lua_rawgeti(L, -1, (lua_Integer)c + 1);
                d[r * cols + c] = check_element(L, arg, r, c, 1);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    return ud->t;
}

nn_tensor *nnl_to_tensor(lua_State *L, int i) {
    i = lua_absindex(L, i);
    if (lua_type(L, i) == LUA_TTABLE) {
        nn_tensor *t = table_to_tensor(L, i, i);
        lua_replace(L, i);
        return t;
    }
    if (!luaL_testudata(L, i, NNL_TENSOR)) {
        luaL_typeerror(L, i, "tensor or table");
    }
    return nnl_check_tensor(L, i)->t;
}

/* nn.tensor{{...}, ...} | nn.tensor{...} | nn.tensor(rows, cols [, value]) */
static int l_tensor_new(lua_State *L) {
    if (lua_type(L, 1) == LUA_TTABLE) {
        table_to_tensor(L, 1, 1);
        return 1;
    }
    lua_Integer rows = luaL_checkinteger(L, 1);
    lua_Integer cols = luaL_optinteger(L, 2, 1);
    lua_Number v = luaL_optnumber(L, 3, 0);
    luaL_argcheck(L, rows >= 1, 1, "rows must be >= 1");
    luaL_argcheck(L, cols >= 1, 2, "cols must be >= 1");
    l_tensor *ud = nnl_new_tensor(L);
    nn_status s = nn_tensor_create2d(rows, cols, &ud->t);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    if (v != 0) {
        nn_tensor_fill(ud->t, (float)v);
    }
    return 1;
}

/* A 1-based index at stack slot |arg|; arg < 0 marks an index written
 * t[i] rather than passed to a method. */
static int64_t check_index(lua_State *L, int arg, int64_t n, const char *what) {
    int isint = 0;
    int slot = arg < 0 ? -arg : arg;
    lua_Integer i = lua_tointegerx(L, slot, &isint);
    if (!isint) {
        if (arg < 0) {
            luaL_error(L, "tensor %s index must be an integer, got %s", what,
                       luaL_typename(L, slot));
        }
        luaL_typeerror(L, arg, "integer");
    }
    if (i < 1 || i > n) {
        if (arg < 0) { /* from t[i] / t[i][j]: no argument to name */
            luaL_error(L, "tensor %s index %I out of range 1..%I", what, i, (lua_Integer)n);
        }
        luaL_argerror(L, arg, lua_pushfstring(L, "%s index %I out of range 1..%I", what, i,
                                              (lua_Integer)n));
    }
    return (int64_t)i - 1;
}

static int push_element(lua_State *L, const nn_tensor *t, int64_t r, int64_t c) {
    float v = 0;
    nn_status s = nn_tensor_get(t, r, c, &v);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_pushnumber(L, (lua_Number)v);
    return 1;
}

static void set_element(lua_State *L, nn_tensor *t, int64_t r, int64_t c, int varg) {
    nn_status s = nn_tensor_set(t, r, c, (float)luaL_checknumber(L, varg));
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
}

/* t:get(i [, j]) */
static int t_get(lua_State *L) {
    nn_tensor *t = nnl_check_tensor(L, 1)->t;
    int64_t r = check_index(L, 2, nn_tensor_rows(t), "row");
    int64_t c = 0;
    if (nn_tensor_ndim(t) > 1 || !lua_isnone(L, 3)) {
        c = check_index(L, 3, nn_tensor_cols(t), "column");
    }
    return push_element(L, t, r, c);
}

/* t:set(i, j, v) on a 2-D tensor, t:set(i, v) on a 1-D one. */
static int t_set(lua_State *L) {
    nn_tensor *t = nnl_check_tensor(L, 1)->t;
    int64_t r = check_index(L, 2, nn_tensor_rows(t), "row");
    if (nn_tensor_ndim(t) == 1) {
        set_element(L, t, r, 0, 3);
    } else {
        set_element(L, t, r, check_index(L, 3, nn_tensor_cols(t), "column"), 4);
    }
    return 0;
}

static int t_shape(lua_State *L) {
    nn_tensor *t = nnl_check_tensor(L, 1)->t;
    int nd = nn_tensor_ndim(t);
    lua_createtable(L, nd, 0);
    for (int k = 0; k < nd; k++) {
        lua_pushinteger(L, (lua_Integer)nn_tensor_dim(t, k));
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

static int t_ndim(lua_State *L) {
    lua_pushinteger(L, nn_tensor_ndim(nnl_check_tensor(L, 1)->t));
    return 1;
}

static int t_size(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)nn_tensor_size(nnl_check_tensor(L, 1)->t));
    return 1;
}

static int t_rows(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)nn_tensor_rows(nnl_check_tensor(L, 1)->t));
    return 1;
}

static int t_cols(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)nn_tensor_cols(nnl_check_tensor(L, 1)->t));
    return 1;
}

static int t_fill(lua_State *L) {
    nn_tensor *t = nnl_check_tensor(L, 1)->t;
    nn_tensor_fill(t, (float)luaL_checknumber(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int t_clone(lua_State *L) {
    nnl_push_copy(L, nnl_check_tensor(L, 1)->t);
    return 1;
}

/* t:copy_from(src): element counts must match; src may be a table. */
static int t_copy_from(lua_State *L) {
    nn_tensor *t = nnl_check_tensor(L, 1)->t;
    nn_tensor *src = nnl_to_tensor(L, 2);
    nn_status s = nn_tensor_copy(t, src);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_settop(L, 1);
    return 1;
}

static int t_totable(lua_State *L) {
    nn_tensor *t = nnl_check_tensor(L, 1)->t;
    const float *d = nn_tensor_cdata(t);
    int64_t rows = nn_tensor_rows(t), cols = nn_tensor_cols(t);
    lua_createtable(L, (int)rows, 0);
    for (int64_t r = 0; r < rows; r++) {
        if (nn_tensor_ndim(t) == 1) {
            lua_pushnumber(L, (lua_Number)d[r]);
        } else {
            lua_createtable(L, (int)cols, 0);
            for (int64_t c = 0; c < cols; c++) {
                lua_pushnumber(L, (lua_Number)d[r * cols + c]);
                lua_rawseti(L, -2, (lua_Integer)c + 1);
            }
        }
        lua_rawseti(L, -2, (lua_Integer)r + 1);
    }
    return 1;
}

static int t_release(lua_State *L) {
    l_tensor *ud = (l_tensor *)luaL_checkudata(L, 1, NNL_TENSOR);
    nn_tensor_free(ud->t);
    ud->t = NULL;
    return 0;
}

static int t_len(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)nn_tensor_rows(nnl_check_tensor(L, 1)->t));
    return 1;
}

static int t_tostring(lua_State *L) {
    l_tensor *ud = (l_tensor *)luaL_checkudata(L, 1, NNL_TENSOR);
    luaL_Buffer b;
    if (ud->t == NULL || tensor_closed_parent(L, 1)) {
        lua_pushstring(L, "nnrun.Tensor (closed)");
        return 1;
    }
    nn_tensor *t = ud->t;
    int nd = nn_tensor_ndim(t);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "nnrun.Tensor(");
    for (int k = 0; k < nd; k++) {
        lua_pushfstring(L, k ? "x%I" : "%I", (lua_Integer)nn_tensor_dim(t, k));
        luaL_addvalue(&b);
    }
    luaL_addstring(&b, ")");
    if (nn_tensor_size(t) <= 64) {
        const float *d = nn_tensor_cdata(t);
        int64_t rows = nn_tensor_rows(t), cols = nn_tensor_cols(t);
        luaL_addstring(&b, " {");
        for (int64_t r = 0; r < rows; r++) {
            luaL_addstring(&b, r ? ", " : "");
            if (nd > 1) {
                luaL_addstring(&b, "{");
            }
            for (int64_t c = 0; c < cols; c++) {
                char num[32];
                snprintf(num, sizeof num, "%s%.6g", c ? ", " : "", (double)d[r * cols + c]);
                luaL_addstring(&b, num);
            }
            if (nd > 1) {
                luaL_addstring(&b, "}");
            }
        }
        luaL_addstring(&b, "}");
    }
    luaL_pushresult(&b);
    return 1;
}

/* t[i]: an element of a 1-D tensor, or a row proxy; t.name: a method. */
static int t_index(lua_State *L) {
    if (lua_type(L, 2) == LUA_TNUMBER) {
        nn_tensor *t = nnl_check_tensor(L, 1)->t;
        int64_t r = check_index(L, -2, nn_tensor_rows(t), "row");
        if (nn_tensor_ndim(t) == 1) {
            return push_element(L, t, r, 0);
        }
        l_row *row = (l_row *)nnl_newobject(L, sizeof(l_row), 1, NNL_ROW);
        row->row = r;
        lua_pushvalue(L, 1);
        lua_setiuservalue(L, -2, 1);
        return 1;
    }
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "methods");
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
}

static int t_newindex(lua_State *L) {
    nn_tensor *t = nnl_check_tensor(L, 1)->t;
    if (lua_type(L, 2) != LUA_TNUMBER) {
        return luaL_error(L, "tensors can only be assigned elements, t[i] = v or t[i][j] = v");
    }
    int64_t r = check_index(L, -2, nn_tensor_rows(t), "row");
    if (nn_tensor_ndim(t) != 1) {
        return luaL_error(L, "assign t[i][j] (or t:set(i, j, v)) on a 2-D tensor");
    }
    set_element(L, t, r, 0, 3);
    return 0;
}

static nn_tensor *row_tensor(lua_State *L, l_row **row) {
    *row = (l_row *)luaL_checkudata(L, 1, NNL_ROW);
    lua_getiuservalue(L, 1, 1);
    nn_tensor *t = nnl_check_tensor(L, lua_gettop(L))->t;
    lua_pop(L, 1);
    return t;
}

static int row_index(lua_State *L) {
    l_row *row;
    nn_tensor *t = row_tensor(L, &row);
    return push_element(L, t, row->row, check_index(L, -2, nn_tensor_cols(t), "column"));
}

static int row_newindex(lua_State *L) {
    l_row *row;
    nn_tensor *t = row_tensor(L, &row);
    set_element(L, t, row->row, check_index(L, -2, nn_tensor_cols(t), "column"), 3);
    return 0;
}

static int row_len(lua_State *L) {
    l_row *row;
    lua_pushinteger(L, (lua_Integer)nn_tensor_cols(row_tensor(L, &row)));
    return 1;
}

static int row_tostring(lua_State *L) {
    l_row *row = (l_row *)luaL_checkudata(L, 1, NNL_ROW);
    lua_pushfstring(L, "nnrun.TensorRow(%I)", (lua_Integer)row->row + 1);
    return 1;
}

void nnl_open_tensor(lua_State *L) {
    static const luaL_Reg methods[] = {
        {"get", t_get},       {"set", t_set},         {"shape", t_shape},
        {"ndim", t_ndim},     {"size", t_size},       {"rows", t_rows},
        {"cols", t_cols},     {"fill", t_fill},       {"clone", t_clone},
        {"copy_from", t_copy_from}, {"totable", t_totable}, {"close", t_release},
        {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", t_release},       {"__close", t_release},
                                    {"__len", t_len},          {"__tostring", t_tostring},
                                    {"__index", t_index},      {"__newindex", t_newindex},
                                    {NULL, NULL}};
    static const luaL_Reg rowmeta[] = {{"__index", row_index},
                                       {"__newindex", row_newindex},
                                       {"__len", row_len},
                                       {"__tostring", row_tostring},
                                       {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"tensor", l_tensor_new}, {NULL, NULL}};
    luaL_newmetatable(L, NNL_TENSOR);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "methods");
    lua_pop(L, 1);
    nnl_newclass(L, NNL_ROW, NULL, rowmeta);
    nnl_setfuncs(L, funcs);
}
