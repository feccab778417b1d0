/* l_net.c — nnrun.Layer (layer descriptions) and nnrun.Net (sequential
 * networks): building, forward/backward, and views of the parameters. */
#include "lnnrun.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- layer descriptions --------------------------------------------- */

static l_layer *new_layer(lua_State *L, const char *kind) {
    l_layer *ly = (l_layer *)nnl_newobject(L, sizeof(l_layer), 0, NNL_LAYER);
    ly->kind = kind;
    return ly;
}

static void set_value(l_layer *ly, const char *key, nn_value v) {
    for (int k = 0; k < ly->n; k++) {
        if (ly->keys[k] == key) {
            ly->vals[k] = v;
            return;
        }
    }
    ly->keys[ly->n] = key;
    ly->vals[ly->n++] = v;
}

static int kind_index(const char *name) {
    for (int k = 0; k < nn_layer_kind_count(); k++) {
        if (strcmp(nn_layer_kind_name(k), name) == 0) {
            return k;
        }
    }
    return -1;
}

/* The value at idx as setting p of a layer (errors name argument arg and
 * the setting).  Ranges are checked by the runtime when the layer is added. */
static nn_value check_value(lua_State *L, int idx, int arg, const nn_param_spec *p) {
    nn_value v;
    memset(&v, 0, sizeof v);
    switch (p->type) {
    case NN_PARAM_INT: {
        int ok = 0;
        const lua_Integer i = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &ok) : 0;
        if (!ok) {
            nnl_argerror(L, arg, p->name, "expected an integer");
        }
        v.num = (double)i;
        break;
    }
    case NN_PARAM_FLOAT:
        if (lua_type(L, idx) != LUA_TNUMBER) {
            nnl_argerror(L, arg, p->name, "expected a number");
        }
        v.num = (double)lua_tonumber(L, idx);
        break;
    case NN_PARAM_BOOL:
        if (lua_type(L, idx) != LUA_TBOOLEAN) {
            nnl_argerror(L, arg, p->name, "expected a boolean");
        }
        v.num = lua_toboolean(L, idx);
        break;
    case NN_PARAM_CHOICE: {
        if (lua_type(L, idx) != LUA_TSTRING) {
            nnl_argerror(L, arg, p->name, "expected a string");
        }
        const char *str = lua_tostring(L, idx);
        int c = 0;
        while (p->choices[c] && strcmp(p->choices[c], str) != 0) {
            c++;
        }
        if (!p->choices[c]) {
            nnl_argerror(L, arg, p->name, lua_pushfstring(L, "unknown value '%s'", str));
        }
        v.str = p->choices[c];
        break;
    }
    case NN_PARAM_INIT:
        nnl_check_init(L, idx, arg, p->name, &v.init);
        break;
    }
    return v;
}

/* The zero padding of a "same" convolution (nnrun.h, conv2d): at stride 1,
 * dilation (kernel - 1) / 2 on every side keeps H x W; an even
 * dilation (kernel - 1) has no symmetric padding.  NULL and *pad, or why
 * not (a string pushed). */
static const char *same_padding(lua_State *L, lua_Integer kernel, lua_Integer dilation,
                                lua_Integer stride, lua_Integer *pad) {
    if (stride != 1) {
        return lua_pushfstring(L, "'same' needs stride 1, got %I (give the padding as a number)", stride);
    }
    if ((dilation * (kernel - 1)) % 2 != 0) {
        return lua_pushfstring(L, "'same' needs an odd kernel, got %I (no symmetric padding keeps "
                                  "the size; give the padding as a number)", kernel);
    }
    *pad = dilation * (kernel - 1) / 2;
    return NULL;
}

/* nn.same_padding(kernel [, dilation = 1 [, stride = 1]]) -> padding, or
 * nil and why not: the padding that conv2d{ padding = "same" } takes. */
static int l_same_padding(lua_State *L) {
    const lua_Integer kernel = luaL_checkinteger(L, 1);
    const lua_Integer dilation = luaL_optinteger(L, 2, 1);
    const lua_Integer stride = luaL_optinteger(L, 3, 1);
    luaL_argcheck(L, kernel >= 1, 1, "kernel must be >= 1");
    luaL_argcheck(L, dilation >= 1, 2, "dilation must be >= 1");
    lua_Integer pad = 0;
    const char *why = same_padding(L, kernel, dilation, stride, &pad);
    if (why) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushinteger(L, pad);
    return 1;
}

/* The integer setting `key` of ly, else its default in specs. */
static lua_Integer int_setting(const l_layer *ly, const nn_param_spec *specs, int n, const char *key) {
    for (int k = 0; k < ly->n; k++) {
        if (strcmp(ly->keys[k], key) == 0) {
            return (lua_Integer)ly->vals[k].num;
        }
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(specs[i].name, key) == 0 && !isnan(specs[i].def)) {
            return (lua_Integer)specs[i].def;
        }
    }
    return 0;
}

/* Settings of kind k from the options table at arg (or, for a number or a
 * string, its primary setting) into ly.  A kind with kernel and padding
 * settings (conv2d) takes padding = "same" (same_padding). */
static void read_settings(lua_State *L, l_layer *ly, int k, int arg) {
    const nn_param_spec *specs;
    const int n = nn_layer_kind_params(k, &specs);
    if (lua_isnoneornil(L, arg)) {
        return;
    }
    if (lua_type(L, arg) != LUA_TTABLE) {
        for (int i = 0; i < n; i++) {
            if (specs[i].primary) {
                set_value(ly, specs[i].name, check_value(L, arg, arg, &specs[i]));
                return;
            }
        }
        luaL_typeerror(L, arg, "table of options");
    }
    const char *keys[NN_LAYER_MAX_PARAMS + 1];
    for (int i = 0; i < n; i++) {
        keys[i] = specs[i].name;
    }
    keys[n] = NULL;
    nnl_check_options(L, arg, arg, NULL, keys);
    const nn_param_spec *same = NULL;
    int has_kernel = 0;
    for (int i = 0; i < n; i++) {
        has_kernel |= strcmp(specs[i].name, "kernel") == 0;
    }
    for (int i = 0; i < n; i++) {
        const int t = lua_getfield(L, arg, specs[i].name);
        if (has_kernel && strcmp(specs[i].name, "padding") == 0 && t == LUA_TSTRING) {
            if (strcmp(lua_tostring(L, -1), "same") != 0) {
                nnl_argerror(L, arg, specs[i].name, "expected an integer or 'same'");
            }
            same = &specs[i];
        } else if (t != LUA_TNIL) {
            set_value(ly, specs[i].name, check_value(L, -1, arg, &specs[i]));
        }
        lua_pop(L, 1);
    }
    if (same && int_setting(ly, specs, n, "kernel") >= 1) { /* else the runtime: kernel is required */
        lua_Integer pad = 0;
        const char *why = same_padding(L, int_setting(ly, specs, n, "kernel"),
                                       int_setting(ly, specs, n, "dilation"),
                                       int_setting(ly, specs, n, "stride"), &pad);
        if (why) {
            nnl_argerror(L, arg, same->name, why);
        }
        nn_value v;
        memset(&v, 0, sizeof v);
        v.num = (double)pad;
        set_value(ly, same->name, v);
    }
}

/* nn.layer(kind [, options | primary value]): a layer of any kind of the
 * registry, e.g. nn.layer("dropout", 0.2), nn.layer("batchnorm", { eps = 1e-3 }). */
static int l_layer_any(lua_State *L) {
    const char *kind = luaL_checkstring(L, 1);
    const int k = kind_index(kind);
    if (k < 0) {
        return luaL_argerror(L, 1, lua_pushfstring(L, "unknown layer kind '%s'", kind));
    }
    lua_settop(L, 2);
    l_layer *ly = new_layer(L, nn_layer_kind_name(k));
    read_settings(L, ly, k, 2);
    return 1;
}

/* nn.<kind>([options | primary value]) for the kinds beyond dense and
 * activation (upvalue: the kind's index): nn.dropout(0.2), nn.batchnorm{...}. */
static int l_kind(lua_State *L) {
    const int k = (int)lua_tointeger(L, lua_upvalueindex(1));
    lua_settop(L, 1);
    l_layer *ly = new_layer(L, nn_layer_kind_name(k));
    read_settings(L, ly, k, 1);
    return 1;
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
    l_layer *ly = new_layer(L, "dense");
    nn_value v;
    memset(&v, 0, sizeof v);
    v.num = (double)out;
    set_value(ly, "units", v);
    if (in >= 1) {
        v.num = (double)in;
        set_value(ly, "in", v);
    }
    if (lua_istable(L, oarg)) {
        const nn_param_spec *specs;
        const int n = nn_layer_kind_params(kind_index("dense"), &specs);
        for (int i = 0; i < n; i++) {
            if (specs[i].type == NN_PARAM_INIT && lua_getfield(L, oarg, specs[i].name) != LUA_TNIL) {
                set_value(ly, specs[i].name, check_value(L, -1, oarg, &specs[i]));
            }
            if (specs[i].type == NN_PARAM_INIT) {
                lua_pop(L, 1);
            }
        }
    }
    return 1;
}

/* An activation layer of the given function with its parameter (the
 * setting that applies to it: leaky_relu's slope, elu's alpha) from the
 * number at arg, if any. */
static int push_activation(lua_State *L, const char *name, int arg) {
    const nn_param_spec *specs;
    const int n = nn_layer_kind_params(kind_index("activation"), &specs);
    nn_value v;
    memset(&v, 0, sizeof v);
    const char *fn = NULL;
    for (int c = 0; specs[0].choices[c]; c++) {
        if (strcmp(specs[0].choices[c], name) == 0) {
            fn = specs[0].choices[c];
        }
    }
    if (!fn) {
        return luaL_argerror(L, 1, lua_pushfstring(L, "unknown activation '%s'", name));
    }
    const nn_param_spec *own = NULL;
    for (int i = 1; i < n; i++) {
        if (specs[i].applies_to && strcmp(specs[i].applies_to, fn) == 0) {
            own = &specs[i];
        }
    }
    nn_value pv = v;
    if (own) {
        pv.num = lua_isnoneornil(L, arg) ? own->def : (double)luaL_checknumber(L, arg);
    }
    l_layer *ly = new_layer(L, "activation");
    v.str = fn;
    set_value(ly, "name", v);
    if (own) {
        set_value(ly, own->name, pv);
    }
    return 1;
}

/* nn.relu(), nn.gelu(), nn.leaky_relu([slope]), nn.elu([alpha]), ...: one
 * per activation the runtime has (upvalue: its name). */
static int l_act_fn(lua_State *L) {
    return push_activation(L, lua_tostring(L, lua_upvalueindex(1)), 1);
}

/* nn.activation(name [, slope | alpha]) */
static int l_activation(lua_State *L) {
    return push_activation(L, luaL_checkstring(L, 1), 2);
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

static const nn_value *setting(const l_layer *ly, const char *key) {
    for (int k = 0; k < ly->n; k++) {
        if (strcmp(ly->keys[k], key) == 0) {
            return &ly->vals[k];
        }
    }
    return NULL;
}

static int layer_tostring(lua_State *L) {
    l_layer *ly = (l_layer *)luaL_checkudata(L, 1, NNL_LAYER);
    const nn_value *in = setting(ly, "in"), *units = setting(ly, "units"), *name = setting(ly, "name");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (strcmp(ly->kind, "dense") == 0) {
        if (!in) {
            lua_pushfstring(L, "nnrun.Layer(dense ? -> %I)", (lua_Integer)units->num);
        } else {
            lua_pushfstring(L, "nnrun.Layer(dense %I -> %I)", (lua_Integer)in->num, (lua_Integer)units->num);
        }
        return 1;
    }
    /* nnrun.Layer(relu), nnrun.Layer(leaky_relu 0.2), nnrun.Layer(dropout p=0.2) */
    luaL_addstring(&b, "nnrun.Layer(");
    luaL_addstring(&b, name ? name->str : ly->kind);
    for (int k = 0; k < ly->n; k++) {
        if (&ly->vals[k] == name) {
            continue;
        }
        char num[64];
        snprintf(num, sizeof num, "%.9g", ly->vals[k].num);
        if (name) {
            lua_pushfstring(L, " %s", num);
        } else {
            lua_pushfstring(L, " %s=%s", ly->keys[k], num);
        }
        luaL_addvalue(&b);
    }
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
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

/* The input shape at idx (the field `input` of nn.sequential's table): an
 * integer n (features: {n, 1, 1}) or { C, H, W }, into shape. */
static void check_input_shape(lua_State *L, int idx, int64_t shape[3]) {
    static const char *const msg = "input: expected an integer (features) or { C, H, W }";
    idx = lua_absindex(L, idx);
    shape[1] = shape[2] = 1;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        int ok = 0;
        shape[0] = (int64_t)lua_tointegerx(L, idx, &ok);
        if (!ok || shape[0] < 1) {
            luaL_argerror(L, 1, "input: the number of features must be an integer >= 1");
        }
        return;
    }
    if (lua_type(L, idx) != LUA_TTABLE || lua_rawlen(L, idx) != 3) {
        luaL_argerror(L, 1, msg);
    }
    for (int i = 0; i < 3; i++) {
        int ok = 0;
        lua_rawgeti(L, idx, i + 1);
        shape[i] = (int64_t)lua_tointegerx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok || shape[i] < 1) {
            luaL_argerror(L, 1, "input: { C, H, W } must be 3 integers >= 1");
        }
    }
}

/* nn.sequential{ [input = n | { C, H, W },] layer, ... } [, { seed = 0 }]
 * input: the shape of a sample, which the first layer takes (required for
 * a first layer other than dense; nn.dense(out) then needs no `in`). */
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
    lua_pushnil(L);
    while (lua_next(L, 1) != 0) { /* only the layers and `input` */
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING ? strcmp(lua_tostring(L, -1), "input") != 0
                                           : !lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
                                                 lua_tointeger(L, -1) > n) {
            return luaL_argerror(L, 1, lua_type(L, -1) == LUA_TSTRING
                                           ? lua_pushfstring(L, "unknown key '%s' (the layers and input)",
                                                             lua_tostring(L, -1))
                                           : "expected a list of layers (and input =)");
        }
    }
    const int has_input = lua_getfield(L, 1, "input") != LUA_TNIL;
    if (has_input) {
        int64_t shape[3];
        check_input_shape(L, -1, shape);
        s = nn_net_set_input(ud->net, shape[0], shape[1], shape[2]);
        if (s != NN_OK) {
            return nnl_fail(L, s);
        }
    }
    lua_pop(L, 1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        l_layer *ly = (l_layer *)luaL_testudata(L, -1, NNL_LAYER);
        if (!ly) {
            return luaL_argerror(
                L, 1,
                lua_pushfstring(L, "layer %I: expected a layer (nn.dense, nn.relu, ...), got %s",
                                i, luaL_typename(L, -1)));
        }
        if (strcmp(ly->kind, "dense") == 0 && !setting(ly, "in") && nn_net_layers(ud->net) == 0 &&
            !has_input) {
            return luaL_argerror(L, 1,
                                 lua_pushfstring(L, "layer %I: the first dense layer needs its input "
                                                    "width: nn.dense(in, out), or give input =",
                                                 i));
        }
        const nn_layer_spec spec = {ly->kind, ly->n, ly->keys, ly->vals};
        s = nn_net_add(ud->net, &spec);
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

/* net:predict(x) -> Tensor (N, outputs): the network on raw inputs x
 * (a Tensor or a table of rows) in eval mode, through the normalisation
 * it carries (a network from nn.load: the checkpoint's; see net:norm()). */
static nn_tensor *predict_into(lua_State *L, l_net *ud) {
    nn_tensor *x = nnl_to_tensor(L, 2);
    l_tensor *y = nnl_new_tensor(L);
    nn_status s = nn_tensor_create2d(nn_tensor_rows(x), nn_net_output_size(ud->net), &y->t);
    if (s == NN_OK) {
        s = nn_predict(ud->net, x, y->t);
    }
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
    return y->t;
}

static int n_predict(lua_State *L) {
    predict_into(L, nnl_check_net(L, 1));
    return 1;
}

/* net:predict_classes(x) -> { class, ... }: the argmax of each row of
 * net:predict(x), 1-based (ties: the first); a network with one output
 * has no classes to choose from. */
static int n_predict_classes(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    const int64_t C = nn_net_output_size(ud->net);
    if (C == 1) {
        return luaL_error(L, "predict_classes: the network has one output (use predict and a threshold)");
    }
    const nn_tensor *y = predict_into(L, ud);
    const int64_t N = nn_tensor_rows(y);
    const float *p = nn_tensor_cdata(y);
    lua_createtable(L, (int)N, 0);
    for (int64_t r = 0; r < N; r++) {
        int64_t best = 0;
        for (int64_t j = 1; j < C; j++) {
            if (p[r * C + j] > p[r * C + best]) {
                best = j;
            }
        }
        lua_pushinteger(L, (lua_Integer)best + 1);
        lua_rawseti(L, -2, (lua_Integer)r + 1);
    }
    return 1;
}

/* net:state() -> { numbers }: the non-trainable state block (batchnorm
 * running mean, then variance, per layer in layer order; net:layer(i).state
 * values each), a copy. */
static int n_state(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    const int64_t n = nn_net_state_count(ud->net);
    const float *st = nn_net_state(ud->net);
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushnumber(L, (lua_Number)st[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* net:norm() -> { kind =, shift =, div = } (as d:norm()), or nil when the
 * network carries none; net:set_norm(t | Dataset | nil). */
static int n_norm(lua_State *L) {
    const nn_norm n = nn_net_norm(nnl_check_net(L, 1)->net);
    if (n.kind == NN_NORM_NONE) {
        lua_pushnil(L);
    } else {
        nnl_push_norm(L, &n);
    }
    return 1;
}

static int n_set_norm(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    nn_norm n;
    memset(&n, 0, sizeof n);
    if (!lua_isnoneornil(L, 2)) {
        l_dataset *d = (l_dataset *)luaL_testudata(L, 2, NNL_DATASET);
        if (d != NULL && d->d != NULL) {
            n = nn_dataset_norm(d->d);
        } else {
            nnl_check_norm(L, 2, 2, &n);
        }
    }
    nn_status s = nn_net_set_norm(ud->net, &n);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 0;
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

static void push_shape(lua_State *L, const int64_t shape[3]) {
    lua_createtable(L, 3, 0);
    for (int i = 0; i < 3; i++) {
        lua_pushinteger(L, (lua_Integer)shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* net:input_shape() -> { C, H, W } of a sample ({ n, 1, 1 }: n features). */
static int n_input_shape(lua_State *L) {
    int64_t shape[3];
    nn_net_input_shape(nnl_check_net(L, 1)->net, shape);
    push_shape(L, shape);
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

/* net:workspace_size(batch) -> floats of layer workspace for that batch
 * size (convolutions' im2col columns), besides the activations. */
static int n_workspace_size(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    lua_Integer b = luaL_checkinteger(L, 2);
    luaL_argcheck(L, b >= 1, 2, "batch size must be >= 1");
    lua_pushinteger(L, (lua_Integer)nn_net_workspace_size(ud->net, b));
    return 1;
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

/* The resolved settings of layer i of the net (kind beyond dense and
 * activation): one field each. */
static void push_settings(lua_State *L, const nn_net *net, int i) {
    nn_layer_spec spec;
    if (nn_net_layer_spec(net, i, &spec) != NN_OK) {
        return;
    }
    const nn_param_spec *specs;
    nn_layer_kind_params(kind_index(spec.kind), &specs);
    for (int k = 0; k < spec.n; k++) {
        if (specs[k].type == NN_PARAM_BOOL) {
            lua_pushboolean(L, spec.values[k].num != 0);
        } else if (specs[k].type == NN_PARAM_INT) {
            lua_pushinteger(L, (lua_Integer)spec.values[k].num);
        } else if (specs[k].type == NN_PARAM_FLOAT) {
            nnl_pushfloat(L, (float)spec.values[k].num); /* 0.2, not 0.200000003 */
        } else if (specs[k].type == NN_PARAM_CHOICE) {
            lua_pushstring(L, spec.values[k].str);
        } else {
            push_init(L, &spec.values[k].init);
        }
        lua_setfield(L, -2, spec.keys[k]);
    }
}

static void push_layer_info(lua_State *L, const nn_net *net, int i, const nn_layer_info *in) {
    lua_createtable(L, 0, 6);
    lua_pushstring(L, in->name);
    lua_setfield(L, -2, "kind");
    if (in->kind == NN_LAYER_DENSE) {
        push_init(L, &in->weight_init);
        lua_setfield(L, -2, "init");
        push_init(L, &in->bias_init);
        lua_setfield(L, -2, "bias_init");
    } else if (in->kind == NN_LAYER_ACTIVATION) {
        lua_pushstring(L, nn_act_name(in->act));
        lua_setfield(L, -2, "activation");
        if (in->act == NN_ACT_LEAKY_RELU || in->act == NN_ACT_ELU) {
            nnl_pushfloat(L, in->param);
            lua_setfield(L, -2, in->act == NN_ACT_ELU ? "alpha" : "slope");
        }
    } else {
        push_settings(L, net, i);
    }
    lua_pushinteger(L, (lua_Integer)in->in);
    lua_setfield(L, -2, "inputs");
    lua_pushinteger(L, (lua_Integer)in->out);
    lua_setfield(L, -2, "outputs");
    lua_pushinteger(L, (lua_Integer)in->params);
    lua_setfield(L, -2, "params");
    lua_pushinteger(L, (lua_Integer)in->state);
    lua_setfield(L, -2, "state");
    int64_t shape[3];
    if (nn_net_layer_shape(net, i, shape) == NN_OK) {
        push_shape(L, shape);
        lua_setfield(L, -2, "shape");
    }
}

/* net:layer(i) -> { kind=, inputs=, outputs=, params=, state=, shape = { C, H, W }
 * (of its output), activation= [slope= | alpha=] | init=, bias_init= | the
 * kind's settings } */
static int n_layer(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    nn_layer_info info;
    const int i = check_layer_index(L, ud, 2);
    nn_status s = nn_net_layer_info(ud->net, i, &info);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    push_layer_info(L, ud->net, i, &info);
    return 1;
}

/* net:train() / net:eval(): the mode of dropout and batchnorm (nn.fit
 * trains in train mode and evaluates in eval mode by itself); net:mode(). */
static int set_mode(lua_State *L, nn_mode mode) {
    l_net *ud = nnl_check_net(L, 1);
    nn_status s = nn_net_set_mode(ud->net, mode);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_settop(L, 1);
    return 1;
}
static int n_train(lua_State *L) {
    return set_mode(L, NN_MODE_TRAIN);
}
static int n_eval(lua_State *L) {
    return set_mode(L, NN_MODE_EVAL);
}
static int n_mode(lua_State *L) {
    l_net *ud = nnl_check_net(L, 1);
    lua_pushstring(L, nn_net_mode(ud->net) == NN_MODE_EVAL ? "eval" : "train");
    return 1;
}

/* Pushes a view of a dense layer's parameter, owned by the net at index 1. */
static void push_param(lua_State *L, l_net *ud, int layer, nn_param_which which, int arg) {
    nn_layer_info info;
    nn_tensor *v = NULL;
    nn_status s = nn_net_layer_info(ud->net, layer, &info);
    if (s == NN_OK && info.params == 0) {
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "layer %d (%s) has no parameters", layer + 1,
                                      info.kind == NN_LAYER_ACTIVATION ? nn_act_name(info.act) : info.name));
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
 * one entry per layer with parameters (dense: W and b; batchnorm and
 * layernorm: gamma and beta); the tensors are live views. */
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
        if (info.params == 0) {
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
    nnl_check_write(L, path, 0);
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
            /* In key order: lua_next's order can differ from one process
             * to the next, and a checkpoint must be the same bytes each run. */
            for (int x = 1; x < n; x++) {
                for (int y = x; y > 0 && strcmp(k[y - 1], k[y]) > 0; y--) {
                    const char *tk = k[y], *tv = v[y];
                    k[y] = k[y - 1];
                    v[y] = v[y - 1];
                    k[y - 1] = tk;
                    v[y - 1] = tv;
                }
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
            luaL_addstring(&b, info.kind == NN_LAYER_ACTIVATION ? nn_act_name(info.act) : info.name);
        }
    }
    lua_pushfstring(L, "; %I parameters)", (lua_Integer)nn_net_param_count(ud->net));
    luaL_addvalue(&b);
    luaL_pushresult(&b);
    return 1;
}

/* nn.layer_kinds() -> { { name=, doc=, params = { spec, ... } }, ... }
 * (spec: nnl_push_param_spec): the runtime's registry, from which the YAML
 * schema is built. */
static int l_layer_kinds(lua_State *L) {
    const int n = nn_layer_kind_count();
    lua_createtable(L, n, 0);
    for (int k = 0; k < n; k++) {
        const nn_param_spec *p;
        const int np = nn_layer_kind_params(k, &p);
        lua_createtable(L, 0, 3);
        lua_pushstring(L, nn_layer_kind_name(k));
        lua_setfield(L, -2, "name");
        lua_pushstring(L, nn_layer_kind_doc(k));
        lua_setfield(L, -2, "doc");
        lua_createtable(L, np, 0);
        for (int i = 0; i < np; i++) {
            nnl_push_param_spec(L, &p[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "params");
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

void nnl_open_net(lua_State *L) {
    static const luaL_Reg layer_meta[] = {{"__tostring", layer_tostring}, {NULL, NULL}};
    static const luaL_Reg methods[] = {
        {"forward", n_forward},         {"backward", n_backward},
        {"zero_grad", n_zero_grad},     {"param_count", n_param_count},
        {"input_size", n_input_size},   {"output_size", n_output_size},
        {"input_shape", n_input_shape}, {"workspace_size", n_workspace_size},
        {"layer_count", n_len},         {"layer", n_layer},
        {"weights", n_weights},         {"bias", n_bias},
        {"weight_grad", n_weight_grad}, {"bias_grad", n_bias_grad},
        {"params", n_params},           {"reinit", n_reinit},
        {"prepare", n_prepare},         {"save", n_save},
        {"train", n_train},             {"eval", n_eval},
        {"mode", n_mode},               {"close", n_release},
        {"predict", n_predict},         {"predict_classes", n_predict_classes},
        {"norm", n_norm},               {"set_norm", n_set_norm},
        {"state", n_state},
        {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", n_release},
                                    {"__close", n_release},
                                    {"__len", n_len},
                                    {"__tostring", n_tostring},
                                    {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"dense", l_dense},
                                     {"activation", l_activation},
                                     {"layer", l_layer_any},
                                     {"layer_kinds", l_layer_kinds},
                                     {"same_padding", l_same_padding},
                                     {"sequential", l_sequential},
                                     {"load", l_load},
                                     {NULL, NULL}};
    nnl_newclass(L, NNL_LAYER, NULL, layer_meta);
    nnl_newclass(L, NNL_NET, methods, meta);
    nnl_setfuncs(L, funcs);
    /* One constructor per kind of the registry beyond dense and activation
     * (nn.dropout, nn.batchnorm, ...) and one per activation (nn.relu,
     * nn.gelu, ...): a new kind or function needs no code here. */
    for (int k = 0; k < nn_layer_kind_count(); k++) {
        const char *name = nn_layer_kind_name(k);
        if (strcmp(name, "dense") == 0 || strcmp(name, "activation") == 0) {
            continue;
        }
        lua_pushinteger(L, k);
        lua_pushcclosure(L, l_kind, 1);
        lua_setfield(L, -2, name);
    }
    const nn_param_spec *act;
    nn_layer_kind_params(kind_index("activation"), &act);
    for (int c = 0; act[0].choices[c]; c++) {
        lua_pushstring(L, act[0].choices[c]);
        lua_pushcclosure(L, l_act_fn, 1);
        lua_setfield(L, -2, act[0].choices[c]);
    }
}
