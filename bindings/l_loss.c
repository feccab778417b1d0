/* l_loss.c — nnrun.Loss: cost functions by name, and loss objects with
 * forward(y, t) / backward() for hand-written training loops. */
#include "lnnrun.h"

nn_loss_kind nnl_check_loss_kind(lua_State *L, int i, int arg) {
    l_loss *obj = (l_loss *)luaL_testudata(L, i, NNL_LOSS);
    nn_loss_kind k;
    if (obj) {
        return obj->kind;
    }
    if (lua_type(L, i) != LUA_TSTRING) {
        nnl_argerror(L, arg, arg != i ? "loss" : NULL,
                     lua_pushfstring(L, "loss name or nn.loss object expected, got %s",
                                     luaL_typename(L, i)));
    }
    const char *name = lua_tostring(L, i);
    if (nn_loss_parse(name, &k) != NN_OK) {
        nnl_argerror(L, arg, arg != i ? "loss" : NULL,
                     lua_pushfstring(L, "unknown loss '%s' (mse, cross_entropy, bce, "
                                         "bce_logits, log_loss)",
                                      name));
    }
    return k;
}

/* nn.loss(name) */
static int l_loss_new(lua_State *L) {
    nn_loss_kind k = nnl_check_loss_kind(L, 1, 1);
    l_loss *obj = (l_loss *)nnl_newobject(L, sizeof(l_loss), 0, NNL_LOSS);
    obj->kind = k;
    return 1;
}

static l_loss *check_loss(lua_State *L, int i) {
    return (l_loss *)luaL_checkudata(L, i, NNL_LOSS);
}

/* loss:forward(y, t) -> value; keeps dL/dy for backward(). */
static int lo_forward(lua_State *L) {
    l_loss *obj = check_loss(L, 1);
    nn_tensor *y = nnl_to_tensor(L, 2);
    nn_tensor *t = nnl_to_tensor(L, 3);
    nn_status s = NN_OK;
    int nd = nn_tensor_ndim(y);
    int same = obj->dy != NULL && nn_tensor_ndim(obj->dy) == nd;
    for (int k = 0; same && k < nd; k++) {
        same = nn_tensor_dim(obj->dy, k) == nn_tensor_dim(y, k);
    }
    if (!same) {
        int64_t shape[NN_MAX_DIMS];
        for (int k = 0; k < nd; k++) {
            shape[k] = nn_tensor_dim(y, k);
        }
        nn_tensor_free(obj->dy);
        obj->dy = NULL;
        s = nn_tensor_create(nd, shape, &obj->dy);
    }
    obj->value = 0;
    if (s == NN_OK) {
        s = nn_loss(obj->kind, y, t, &obj->value, obj->dy);
    }
    if (s != NN_OK) {
        nn_tensor_free(obj->dy);
        obj->dy = NULL;
        return nnl_fail(L, s);
    }
    lua_pushnumber(L, obj->value);
    return 1;
}

/* loss:backward() -> dL/dy of the last forward, as a new tensor. */
static int lo_backward(lua_State *L) {
    l_loss *obj = check_loss(L, 1);
    if (obj->dy == NULL) {
        return luaL_error(L, "loss:backward(): call loss:forward(y, t) first");
    }
    nnl_push_copy(L, obj->dy);
    return 1;
}

static int lo_value(lua_State *L) {
    lua_pushnumber(L, check_loss(L, 1)->value);
    return 1;
}

static int lo_name(lua_State *L) {
    lua_pushstring(L, nn_loss_name(check_loss(L, 1)->kind));
    return 1;
}

static int lo_release(lua_State *L) {
    l_loss *obj = check_loss(L, 1);
    nn_tensor_free(obj->dy);
    obj->dy = NULL;
    return 0;
}

static int lo_tostring(lua_State *L) {
    lua_pushfstring(L, "nnrun.Loss(%s)", nn_loss_name(check_loss(L, 1)->kind));
    return 1;
}

void nnl_open_loss(lua_State *L) {
    static const luaL_Reg methods[] = {{"forward", lo_forward}, {"backward", lo_backward},
                                       {"value", lo_value},     {"name", lo_name},
                                       {"close", lo_release},   {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", lo_release},
                                    {"__close", lo_release},
                                    {"__tostring", lo_tostring},
                                    {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"loss", l_loss_new}, {NULL, NULL}};
    nnl_newclass(L, NNL_LOSS, methods, meta);
    nnl_setfuncs(L, funcs);
}
