/* l_net.c — nnrun.Layer (layer descriptions) and nnrun.Net (sequential
 * networks): building, forward/backward, and views of the parameters. */
#include "lnnrun.h"

#include <stdio.h>
#include <string.h>

/* ---- layer descriptions --------------------------------------------- */

static l_layer *new_layer(lua_State *L) {
    return (l_layer *)nnl_newobject(L, sizeof(l_layer), 0, NNL_LAYER);
}

/* nn.dense(in, out [, opts]) or nn.dense(out [, opts]) (in taken from the
 * previous layer).  opts: init, bias_init. */
static int l_dense(lua_State *L) {
    static const char *const keys[] = {"init", "bias_init", NULL};
    lua_Integer in = -1, out;
    int oarg;
    if (lua_type(L, 2) == LUA_TNUMBER) {
        in = luaL_checkinteger(L, 1);
        out = luaL_checkinteger(L, 2);
        luaL_argcheck(L, in >= 1, 1, "input width must be >= 1");
        luaL_argcheck(L, out >= 1, 2, "output width must be >= 1");
        oarg = 3;
    } else {
        out = luaL_checkinteger(L, 1);
        luaL_argcheck(L, out >= 1, 1, "output width must be >= 1");
        oarg = 2;
    }
    if (!lua_isnoneornil(L, oarg)) {
        luaL_checktype(L, oarg, LUA_TTABLE);
        nnl_check_options(L, oarg, oarg, NULL, keys);
    }
    lua_settop(L, oarg);
    l_layer *ly = new_layer(L);
    ly->kind = NN_LAYER_DENSE;
    ly->in = in;
    ly->out = out;
    if (lua_istable(L, oarg)) {
        if (lua_getfield(L, oarg, "init") != LUA_TNIL) {
            nnl_check_init(L, -1, oarg, "init", &ly->winit);
            ly->has_winit = 1;
        }
        lua_pop(L, 1);
        if (lua_getfield(L, oarg, "bias_init") != LUA_TNIL) {
            nnl_check_init(L, -1, oarg, "bias_init", &ly->binit);
            ly->has_binit = 1;
        }
        lua_pop(L, 1);
    }
    return 1;
}

static int push_activation(lua_State *L, nn_act act, float param) {
    l_layer *ly = new_layer(L);
    ly->kind = NN_LAYER_ACTIVATION;
    ly->act = act;
    ly->param = param;
    return 1;
}

static int l_relu(lua_State *L) {
    return push_activation(L, NN_ACT_RELU, 0);
}
static int l_sigmoid(lua_State *L) {
    return push_activation(L, NN_ACT_SIGMOID, 0);
}
static int l_tanh(lua_State *L) {
    return push_activation(L, NN_ACT_TANH, 0);
}
static int l_identity(lua_State *L) {
    return push_activation(L, NN_ACT_IDENTITY, 0);
}
static int l_softmax(lua_State *L) {
    return push_activation(L, NN_ACT_SOFTMAX, 0);
}
static int l_leaky_relu(lua_State *L) {
    return push_activation(L, NN_ACT_LEAKY_RELU, (float)luaL_optnumber(L, 1, 0.01));
}

/* nn.activation(name [, slope]) */
static int l_activation(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    nn_act act;
    if (nn_act_parse(name, &act) != NN_OK) {
        return luaL_argerror(L, 1, lua_pushfstring(L, "unknown activation '%s'", name));
    }
    return push_activation(L, act, (float)luaL_optnumber(L, 2, act == NN_ACT_LEAKY_RELU ? 0.01 : 0));
}

static void push_init(lua_State *L, const nn_init *in) {
    lua_createtable(L, 0, 3);
    lua_pushstring(L, nn_init_name(in->kind));
    lua_setfield(L, -2, "name");
    if (in->kind == NN_INIT_CONSTANT || in->kind == NN_INIT_UNIFORM || in->kind == NN_INIT_NORMAL) {
        nnl_pushfloat(L, in->a);
        lua_setfield(L, -2, "a");
    }
    if (in->kind == NN_INIT_UNIFORM || in->kind == NN_INIT_NORMAL) {
        nnl_pushfloat(L, in->b);
        lua_setfield(L, -2, "b");
    }
}

static int layer_tostring(lua_State *L) {
    l_layer *ly = (l_layer *)luaL_checkudata(L, 1, NNL_LAYER);
    if (ly->kind == NN_LAYER_DENSE) {
        if (ly->in < 0) {
            lua_pushfstring(L, "nnrun.Layer(dense ? -> %I)", (lua_Integer)ly->out);
        } else {
            lua_pushfstring(L, "nnrun.Layer(dense %I -> %I)", (lua_Integer)ly->in,
                            (lua_Integer)ly->out);
        }
    } else if (ly->act == NN_ACT_LEAKY_RELU) {
        lua_pushfstring(L, "nnrun.Layer(leaky_relu %f)", (lua_Number)ly->param);
    } else {
        lua_pushfstring(L, "nnrun.Layer(%s)", nn_act_name(ly->act));
    }
    return 1;
}

/* ---- networks ---------------------------------------------------------- */

l_net *nnl_check_net(lua_State *L, int i) {
    l_net *ud = (l_net *)luaL_checkudata(L, i, NNL_NET);
    if (ud->net == NULL) {
        luaL_argerror(L, i, "network is closed");
    }
    return ud;
}

/* nn.sequential{ layer, ... } [, { seed = 0 }] */
static int l_sequential(lua_State *L) {
    static const char *const keys[] = {"seed", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        nnl_check_options(L, 2, 2, NULL, keys);
    }
    lua_Integer seed = nnl_opt_integer(L, 2, 2, NULL, "seed", 0);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    if (n == 0) {
        return luaL_argerror(L, 1, "a network needs at least one layer");
    }
    lua_settop(L, 2);
    l_net *ud = (l_net *)nnl_newobject(L, sizeof(l_net), 0, NNL_NET);
    nn_status s = nn_net_create((uint64_t)seed, &ud->net);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        l_layer *ly = (l_layer *)luaL_testudata(L, -1, NNL_LAYER);
        if (!ly) {
            return luaL_argerror(
                L, 1,
                lua_pushfstring(L, "layer %I: expected a layer (nn.dense, nn.relu, ...), got %s",
                                i, luaL_typename(L, -1)));
        }
        if (ly->kind == NN_LAYER_DENSE) {
            int64_t in = ly->in;
            if (in < 0) {
                in = nn_net_output_size(ud->net);
                if (in == 0) {
                    return luaL_argerror(
                        L, 1,
                        lua_pushfstring(L, "layer %I: the first dense layer needs its input "
                                           "width: nn.dense(in, out)",
                                        i));
                }
            }
            s = nn_net_add_dense(ud->net, in, ly->out, ly->has_winit ? &ly->winit : NULL,
                                 ly->has_binit ? &ly->binit : NULL);
        } else {
            s = nn_net_add_activation(ud->net, ly->act, ly->param);
        }
        if (s != NN_OK) {
            return nnl_fail(L, s);
        }
        lua_pop(L, 1);
    }
    return 1;
}

static int n_forward(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    nn_tensor *x = nnl_to_tensor(L, 2);
    const nn_tensor *y = NULL;
    nn_status s = nn_net_forward(ud->net, x, &y);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    nnl_push_copy(L, y);
    return 1;
}

static int n_backward(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    nn_tensor *dy = nnl_to_tensor(L, 2);
    const nn_tensor *dx = NULL;
    nn_status s = nn_net_backward(ud->net, dy, &dx);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    nnl_push_copy(L, dx);
    return 1;
}

static int n_zero_grad(lua_State *L) {
    nn_net_zero_grad(nnl_check_net(L, 1)->net);
    return 0;
}

static int n_param_count(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)nn_net_param_count(nnl_check_net(L, 1)->net));
    return 1;
}

static int n_input_size(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)nn_net_input_size(nnl_check_net(L, 1)->net));
    return 1;
}

static int n_output_size(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)nn_net_output_size(nnl_check_net(L, 1)->net));
    return 1;
}

static int n_len(lua_State *L) {
    lua_pushinteger(L, nn_net_layers(nnl_check_net(L, 1)->net));
    return 1;
}

static int n_reinit(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    nn_status s = nn_net_reinit(ud->net, (uint64_t)luaL_checkinteger(L, 2));
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 0;
}

static int n_prepare(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    lua_Integer b = luaL_checkinteger(L, 2);
    luaL_argcheck(L, b >= 1, 2, "batch size must be >= 1");
    nn_status s = nn_net_prepare(ud->net, b);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 0;
}

static int check_layer_index(lua_State *L, l_net *ud, int arg) {
    lua_Integer i = luaL_checkinteger(L, arg);
    int n = nn_net_layers(ud->net);
    if (i < 1 || i > n) {
        luaL_argerror(L, arg, lua_pushfstring(L, "layer index %I out of range 1..%d", i, n));
    }
    return (int)i - 1;
}

static void push_layer_info(lua_State *L, const nn_layer_info *in) {
    lua_createtable(L, 0, 6);
    if (in->kind == NN_LAYER_DENSE) {
        lua_pushliteral(L, "dense");
        lua_setfield(L, -2, "kind");
        push_init(L, &in->weight_init);
        lua_setfield(L, -2, "init");
        push_init(L, &in->bias_init);
        lua_setfield(L, -2, "bias_init");
    } else {
        lua_pushliteral(L, "activation");
        lua_setfield(L, -2, "kind");
        lua_pushstring(L, nn_act_name(in->act));
        lua_setfield(L, -2, "activation");
        if (in->act == NN_ACT_LEAKY_RELU) {
            nnl_pushfloat(L, in->param);
            lua_setfield(L, -2, "slope");
        }
    }
    lua_pushinteger(L, (lua_Integer)in->in);
    lua_setfield(L, -2, "inputs");
    lua_pushinteger(L, (lua_Integer)in->out);
    lua_setfield(L, -2, "outputs");
}

/* net:layer(i) -> { kind=, inputs=, outputs=, activation= | init=, bias_init= } */
static int n_layer(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    nn_layer_info info;
    nn_status s = nn_net_layer_info(ud->net, check_layer_index(L, ud, 2), &info);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    push_layer_info(L, &info);
    return 1;
}

/* Pushes a view of a dense layer's parameter, owned by the net at index 1. */
static void push_param(lua_State *L, l_net *ud, int layer, nn_param_which which, int arg) {
    nn_layer_info info;
    nn_tensor *v = NULL;
    nn_status s = nn_net_layer_info(ud->net, layer, &info);
    if (s == NN_OK && info.kind != NN_LAYER_DENSE) {
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "layer %d (%s) has no parameters", layer + 1,
                                      nn_act_name(info.act)));
    }
    /* The Tensor exists before the view, so an error leaks nothing. */
    l_tensor *t = nnl_new_tensor(L);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    if (s == NN_OK) {
        s = nn_net_param(ud->net, layer, which, &v);
    }
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
    t->t = v;
}

static int param_getter(lua_State *L, nn_param_which which) {
    l_net *ud = nnl_check_net(L, 1);
    lua_settop(L, 2);
    push_param(L, ud, check_layer_index(L, ud, 2), which, 2);
    return 1;
}

static int n_weights(lua_State *L) {
    return param_getter(L, NN_WEIGHTS);
}
static int n_bias(lua_State *L) {
    return param_getter(L, NN_BIAS);
}
static int n_weight_grad(lua_State *L) {
    return param_getter(L, NN_WEIGHT_GRAD);
}
static int n_bias_grad(lua_State *L) {
    return param_getter(L, NN_BIAS_GRAD);
}

/* net:params() -> { { layer=i, weights=, bias=, weight_grad=, bias_grad= }, ... }
 * one entry per dense layer; the tensors are live views. */
static int n_params(lua_State *L) {
    static const struct {
        const char *name;
        nn_param_which which;
    } fields[] = {{"weights", NN_WEIGHTS},
                  {"bias", NN_BIAS},
                  {"weight_grad", NN_WEIGHT_GRAD},
                  {"bias_grad", NN_BIAS_GRAD}};
    l_net *ud = nnl_check_net(L, 1);
    int n = nn_net_layers(ud->net), k = 0;
    lua_settop(L, 1);
    lua_newtable(L);
    for (int i = 0; i < n; i++) {
        nn_layer_info info;
        nn_status s = nn_net_layer_info(ud->net, i, &info);
        if (s != NN_OK) {
            return nnl_fail(L, s);
        }
        if (info.kind != NN_LAYER_DENSE) {
            continue;
        }
        lua_createtable(L, 0, 5);
        lua_pushinteger(L, i + 1);
        lua_setfield(L, -2, "layer");
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            push_param(L, ud, i, fields[f].which, 1);
            lua_setfield(L, -2, fields[f].name);
        }
        lua_rawseti(L, 2, ++k);
    }
    return 1;
}

/* net:save(path [, { trainer =, config =, norm =, meta = }]): the network
 * (architecture and weights) as a checkpoint, written atomically.
 *   trainer  the Trainer passed to nn.fit's on_epoch: adds the training
 *            state, so that nn.fit{ resume = path } continues exactly
 *   config   text stored with the model (e.g. the resolved YAML)
 *   norm     a Dataset (its normalisation) or a table as d:norm() gives
 *   meta     a table of string keys and string (or number) values */
static int n_save(lua_State *L) {
    static const char *const keys[] = {"trainer", "config", "norm", "meta", NULL};
    l_net *ud = nnl_check_net(L, 1);
    const char *path = luaL_checkstring(L, 2);
    const nn_trainer *tr = NULL;
    nn_checkpoint_extra extra;
    nn_norm norm;
    memset(&extra, 0, sizeof extra);
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        nnl_check_options(L, 3, 3, NULL, keys);
        if (lua_getfield(L, 3, "trainer") != LUA_TNIL) {
            l_trainer *t = (l_trainer *)luaL_testudata(L, -1, NNL_TRAINER);
            if (t == NULL || t->tr == NULL) {
                return nnl_argerror(L, 3, "trainer",
                                    t ? "the trainer is closed (use it inside on_epoch)"
                                      : "expected the trainer given to on_epoch");
            }
            if (nn_trainer_net(t->tr) != ud->net) {
                return nnl_argerror(L, 3, "trainer", "it trains another network");
            }
            tr = t->tr;
        }
        if (lua_getfield(L, 3, "config") != LUA_TNIL) {
            if (lua_type(L, -1) != LUA_TSTRING) {
                return nnl_argerror(L, 3, "config", "expected a string");
            }
            extra.config = lua_tostring(L, -1);
        }
        if (lua_getfield(L, 3, "norm") != LUA_TNIL) {
            l_dataset *d = (l_dataset *)luaL_testudata(L, -1, NNL_DATASET);
            if (d != NULL && d->d != NULL) {
                norm = nn_dataset_norm(d->d);
            } else {
                nnl_check_norm(L, -1, 3, &norm);
            }
            if (norm.kind != NN_NORM_NONE) {
                extra.norm = &norm;
            }
        }
        if (lua_getfield(L, 3, "meta") == LUA_TTABLE) {
            int t = lua_gettop(L);
            int n = 0;
            lua_pushnil(L);
            while (lua_next(L, t) != 0) {
                lua_pop(L, 1);
                n++;
            }
            const char **k = (const char **)lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 0);
            const char **v = (const char **)lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 0);
            lua_newtable(L); /* anchors the strings */
            int a = lua_gettop(L), i = 0;
            lua_pushnil(L);
            while (lua_next(L, t) != 0) {
                if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1)) {
                    return nnl_argerror(L, 3, "meta", "keys and values must be strings");
                }
                k[i] = lua_tostring(L, -2);
                v[i] = lua_tostring(L, -1); /* converts a number in place */
                lua_rawseti(L, a, i + 1);
                i++;
            }
            extra.meta_keys = k;
            extra.meta_values = v;
            extra.n_meta = n;
        } else if (!lua_isnil(L, -1)) {
            return nnl_argerror(L, 3, "meta", "expected a table");
        }
    }
    nn_status s = nn_save(path, ud->net, tr, &extra);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 0;
}

/* Protected: (checkpoint*) -> info table. */
static int push_ck_info(lua_State *L) {
    const nn_checkpoint *ck = (const nn_checkpoint *)lua_touserdata(L, 1);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)nn_checkpoint_epoch(ck));
    lua_setfield(L, -2, "epoch");
    lua_pushinteger(L, (lua_Integer)nn_checkpoint_step(ck));
    lua_setfield(L, -2, "step");
    lua_pushboolean(L, nn_checkpoint_has_trainer(ck));
    lua_setfield(L, -2, "has_trainer");
    if (nn_checkpoint_config(ck)) {
        lua_pushstring(L, nn_checkpoint_config(ck));
        lua_setfield(L, -2, "config");
    }
    nn_norm n = nn_checkpoint_norm(ck);
    if (n.kind != NN_NORM_NONE) {
        nnl_push_norm(L, &n);
        lua_setfield(L, -2, "norm");
    }
    lua_newtable(L);
    for (int i = 0; i < nn_checkpoint_meta_count(ck); i++) {
        lua_pushstring(L, nn_checkpoint_meta_value(ck, i));
        lua_setfield(L, -2, nn_checkpoint_meta_key(ck, i));
    }
    lua_setfield(L, -2, "meta");
    return 1;
}

/* nn.load(path) -> net, info: a network from a checkpoint written by
 * net:save or a run, and { epoch, step, has_trainer, config (text),
 * norm (as d:norm()), meta = { key = value } }. */
static int l_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    l_net *ud = (l_net *)nnl_newobject(L, sizeof(l_net), 0, NNL_NET);
    nn_checkpoint *ck = NULL;
    nn_status s = nn_load(path, &ud->net, &ck);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_pushcfunction(L, push_ck_info);
    lua_pushlightuserdata(L, ck);
    int r = lua_pcall(L, 1, 1, 0); /* free ck whatever happens */
    nn_checkpoint_free(ck);
    if (r != LUA_OK) {
        return lua_error(L);
    }
    return 2;
}

static int n_release(lua_State *L) {
    l_net *ud = (l_net *)luaL_checkudata(L, 1, NNL_NET);
    if (ud->busy) {
        return luaL_error(L, "cannot close the network: a running nn.fit trains it "
                             "(close it after nn.fit returns)");
    }
    nn_net_free(ud->net);
    ud->net = NULL;
    return 0;
}

static int n_tostring(lua_State *L) {
    l_net *ud = (l_net *)luaL_checkudata(L, 1, NNL_NET);
    luaL_Buffer b;
    if (ud->net == NULL) {
        lua_pushliteral(L, "nnrun.Net (closed)");
        return 1;
    }
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "nnrun.Net(");
    int n = nn_net_layers(ud->net);
    for (int i = 0; i < n; i++) {
        nn_layer_info info;
        if (nn_net_layer_info(ud->net, i, &info) != NN_OK) {
            continue;
        }
        if (i) {
            luaL_addstring(&b, ", ");
        }
        if (info.kind == NN_LAYER_DENSE) {
            lua_pushfstring(L, "dense %I -> %I", (lua_Integer)info.in, (lua_Integer)info.out);
            luaL_addvalue(&b);
        } else {
            luaL_addstring(&b, nn_act_name(info.act));
        }
    }
    lua_pushfstring(L, "; %I parameters)", (lua_Integer)nn_net_param_count(ud->net));
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    return 1;
}

void nnl_open_net(lua_State *L) {
    static const luaL_Reg layer_meta[] = {{"__tostring", layer_tostring}, {NULL, NULL}};
    static const luaL_Reg methods[] = {
        {"forward", n_forward},         {"backward", n_backward},
        {"zero_grad", n_zero_grad},     {"param_count", n_param_count},
        {"input_size", n_input_size},   {"output_size", n_output_size},
        {"layer_count", n_len},         {"layer", n_layer},
        {"weights", n_weights},         {"bias", n_bias},
        {"weight_grad", n_weight_grad}, {"bias_grad", n_bias_grad},
        {"params", n_params},           {"reinit", n_reinit},
        {"prepare", n_prepare},         {"save", n_save},
        {"close", n_release},
        {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", n_release},
                                    {"__close", n_release},
                                    {"__len", n_len},
                                    {"__tostring", n_tostring},
                                    {NULL, NULL}};
    static const luaL_Reg funcs[] = {
        {"dense", l_dense},     {"relu", l_relu},         {"sigmoid", l_sigmoid},
        {"tanh", l_tanh},       {"identity", l_identity}, {"softmax", l_softmax},
        {"leaky_relu", l_leaky_relu}, {"activation", l_activation},
        {"sequential", l_sequential}, {"load", l_load}, {NULL, NULL}};
    nnl_newclass(L, NNL_LAYER, NULL, layer_meta);
    nnl_newclass(L, NNL_NET, methods, meta);
    nnl_setfuncs(L, funcs);
}
