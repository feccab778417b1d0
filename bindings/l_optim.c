/* l_optim.c — nnrun.Optimizer: one userdata type over the runtime's
 * optimiser registry, and one constructor per kind, nn.optim.<name>{...}
 * (sgd, adam, adamw, rmsprop, adagrad), made from the registry: the keys a
 * kind takes, their types, defaults and ranges are the runtime's
 * (nn_optim_param), never repeated here.
 *
 * nn.optim.adam{...} makes an unbound optimiser: a configuration that
 * nn.fit uses (the trainer owns its own state).  For hand-written loops it
 * is bound to a network, either at creation, nn.optim.adam(net, {...}), or
 * with opt:bind(net); opt:step() then updates that network.
 * nn.optim.params(name) lists a kind's parameters (for the schema).
 */
#include "lnnrun.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_KEYS 16

/* Reads an option table at i into cfg (whose kind is set; its defaults
 * stand for absent keys).  "name", when given, must be the kind's. */
static void read_table(lua_State *L, int i, int arg, const char *what, nn_optim_config *cfg) {
    const char *keys[MAX_KEYS + 2] = {"name"};
    const int n = nn_optim_param_count(cfg->kind);
    for (int k = 0; k < n && k < MAX_KEYS; k++) {
        keys[k + 1] = nn_optim_param(cfg->kind, k)->name;
    }
    keys[n + 1] = NULL;
    nnl_check_options(L, i, arg, what, keys);
    const char *kind = nn_optim_name(cfg->kind);
    if (lua_getfield(L, i, "name") != LUA_TNIL) {
        const char *name = lua_tostring(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING || strcmp(name, kind) != 0) {
            nnl_argerror(L, arg, what,
                         lua_pushfstring(L, "option 'name' is '%s', but this is nn.optim.%s",
                                         name ? name : luaL_typename(L, -1), kind));
        }
    }
    lua_pop(L, 1);
    for (int k = 0; k < n; k++) {
        const nn_param_spec *p = nn_optim_param(cfg->kind, k);
        double v = 0;
        nn_optim_get(cfg, p->name, &v);
        if (p->type == NN_PARAM_BOOL) {
            v = nnl_opt_boolean(L, i, arg, what, p->name, v != 0);
        } else if (p->type == NN_PARAM_INT) {
            v = (double)nnl_opt_integer(L, i, arg, what, p->name, (lua_Integer)v);
        } else {
            v = nnl_opt_number(L, i, arg, what, p->name, v);
        }
        nn_status s = nn_optim_set(cfg, p->name, v);
        if (s != NN_OK) {
            nnl_fail(L, s);
        }
    }
    nn_status s = nn_optim_check(cfg);
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
}

/* An optimiser given to nn.fit: an nnrun.Optimizer, or a table whose
 * "name" picks the kind (default sgd), or nothing (the defaults). */
void nnl_check_optim_config(lua_State *L, int i, int arg, const char *what, nn_optim_config *cfg) {
    l_optim *o = (l_optim *)luaL_testudata(L, i, NNL_OPTIM);
    *cfg = nn_optim_defaults(NN_OPTIM_SGD);
    if (o) {
        *cfg = o->cfg;
    } else if (lua_istable(L, i)) {
        nn_optim_kind k = NN_OPTIM_SGD;
        if (lua_getfield(L, i, "name") != LUA_TNIL) {
            const char *name = lua_tostring(L, -1);
            if (lua_type(L, -1) != LUA_TSTRING || nn_optim_parse(name, &k) != NN_OK) {
                nnl_argerror(L, arg, what,
                             lua_pushfstring(L, "unknown optimizer '%s' (sgd, adam, adamw, rmsprop, "
                                                "adagrad)",
                                             name ? name : luaL_typename(L, -1)));
            }
        }
        lua_pop(L, 1);
        *cfg = nn_optim_defaults(k);
        read_table(L, i, arg, what, cfg);
    } else if (!lua_isnoneornil(L, i)) {
        nnl_argerror(L, arg, what,
                     lua_pushfstring(L, "nn.optim.<name> or option table expected, got %s",
                                     luaL_typename(L, i)));
    }
}

static l_optim *check_optim(lua_State *L, int i) {
    return (l_optim *)luaL_checkudata(L, i, NNL_OPTIM);
}

/* The network a bound optimiser (at index i) updates; an error if closed. */
static l_net *bound_net(lua_State *L, int i) {
    lua_getiuservalue(L, i, 1);
    l_net *net = (l_net *)luaL_testudata(L, -1, NNL_NET);
    lua_pop(L, 1); /* the optimiser's user value keeps it alive */
    if (net == NULL || net->net == NULL) {
        luaL_error(L, "the optimizer's network was closed");
    }
    return net;
}

/* Binds o (at index oi) to the net at index ni. */
static void bind(lua_State *L, int oi, int ni) {
    l_optim *o = check_optim(L, oi);
    l_net *net = nnl_check_net(L, ni);
    if (o->opt) {
        luaL_error(L, "optimizer is already bound to a network");
    }
    nn_status s = nn_optim_create(net->net, &o->cfg, &o->opt);
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
    lua_pushvalue(L, ni);
    lua_setiuservalue(L, oi, 1);
}

/* nn.optim.<kind>{ ... } / nn.optim.<kind>(net, { ... }); the kind is the
 * closure's upvalue. */
static int l_optim_new(lua_State *L) {
    int net_arg = luaL_testudata(L, 1, NNL_NET) != NULL;
    int oarg = net_arg ? 2 : 1;
    nn_optim_config cfg = nn_optim_defaults((nn_optim_kind)lua_tointeger(L, lua_upvalueindex(1)));
    if (net_arg) {
        nnl_check_net(L, 1);
    }
    if (!lua_isnoneornil(L, oarg)) {
        luaL_checktype(L, oarg, LUA_TTABLE);
        read_table(L, oarg, oarg, NULL, &cfg);
    }
    l_optim *o = (l_optim *)nnl_newobject(L, sizeof(l_optim), 1, NNL_OPTIM);
    o->cfg = cfg;
    if (net_arg) {
        bind(L, lua_gettop(L), 1);
    }
    return 1;
}

static int o_bind(lua_State *L) {
    bind(L, 1, 2);
    lua_settop(L, 1);
    return 1;
}

/* opt:step([lr]) */
static int o_step(lua_State *L) {
    l_optim *o = check_optim(L, 1);
    float lr = (float)luaL_optnumber(L, 2, o->cfg.lr);
    if (o->opt == NULL) {
        return luaL_error(L, "optimizer is not bound to a network: use nn.optim.%s(net, {...}) "
                             "or opt:bind(net)",
                          nn_optim_name(o->cfg.kind));
    }
    bound_net(L, 1);
    nn_status s = nn_optim_step(o->opt, lr);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 0;
}

static int o_lr(lua_State *L) {
    nnl_pushfloat(L, check_optim(L, 1)->cfg.lr);
    return 1;
}

static int o_set_lr(lua_State *L) {
    l_optim *o = check_optim(L, 1);
    nn_optim_config c = o->cfg;
    nn_status s = nn_optim_set(&c, "lr", luaL_checknumber(L, 2));
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    o->cfg = c;
    return 0;
}

static int o_name(lua_State *L) {
    lua_pushstring(L, nn_optim_name(check_optim(L, 1)->cfg.kind));
    return 1;
}

/* opt:config() -> { name =, <every parameter> = } */
static int o_config(lua_State *L) {
    l_optim *o = check_optim(L, 1);
    const int n = nn_optim_param_count(o->cfg.kind);
    lua_createtable(L, 0, n + 1);
    lua_pushstring(L, nn_optim_name(o->cfg.kind));
    lua_setfield(L, -2, "name");
    for (int k = 0; k < n; k++) {
        const nn_param_spec *p = nn_optim_param(o->cfg.kind, k);
        double v = 0;
        nn_optim_get(&o->cfg, p->name, &v);
        if (p->type == NN_PARAM_BOOL) {
            lua_pushboolean(L, v != 0);
        } else if (p->type == NN_PARAM_INT) {
            lua_pushinteger(L, (lua_Integer)v);
        } else {
            nnl_pushfloat(L, (float)v);
        }
        lua_setfield(L, -2, p->name);
    }
    return 1;
}

/* opt:state() -> copy of the state block as a (slots, P) tensor; nil when
 * unbound or stateless.  opt:velocity() -> slot 0 (SGD's momentum), 1-D. */
static int push_state(lua_State *L, int only_first) {
    l_optim *o = check_optim(L, 1);
    if (o->opt == NULL || nn_optim_slots(o->opt) == 0) {
        lua_pushnil(L);
        return 1;
    }
    l_net *net = bound_net(L, 1);
    int64_t shape[2] = {nn_optim_slots(o->opt), nn_net_param_count(net->net)};
    l_tensor *t = nnl_new_tensor(L);
    nn_status s = only_first ? nn_tensor_create(1, shape + 1, &t->t) : nn_tensor_create(2, shape, &t->t);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    memcpy(nn_tensor_data(t->t), nn_optim_state(o->opt), (size_t)nn_tensor_size(t->t) * sizeof(float));
    return 1;
}
static int o_state(lua_State *L) { return push_state(L, 0); }
static int o_velocity(lua_State *L) { return push_state(L, 1); }

static int o_release(lua_State *L) {
    l_optim *o = check_optim(L, 1);
    nn_optim_free(o->opt);
    o->opt = NULL;
    return 0;
}

/* nnrun.Optimizer(adam lr=0.001 beta1=0.9 beta2=0.999 eps=1e-08): numbers
 * as name=value (weight_decay only when set), true booleans by name. */
static int o_tostring(lua_State *L) {
    l_optim *o = check_optim(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "nnrun.Optimizer(");
    luaL_addstring(&b, nn_optim_name(o->cfg.kind));
    for (int k = 0; k < nn_optim_param_count(o->cfg.kind); k++) {
        const nn_param_spec *p = nn_optim_param(o->cfg.kind, k);
        double v = 0;
        char item[64];
        nn_optim_get(&o->cfg, p->name, &v);
        if (p->type == NN_PARAM_BOOL || (strcmp(p->name, "weight_decay") == 0 && v == 0)) {
            snprintf(item, sizeof item, v != 0 && p->type == NN_PARAM_BOOL ? " %s" : "", p->name);
        } else {
            snprintf(item, sizeof item, " %s=%g", p->name, v);
        }
        luaL_addstring(&b, item);
    }
    if (o->opt) {
        luaL_addstring(&b, " bound");
    }
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    return 1;
}

/* nn.optim.params(name) -> { spec, ... } (nnl_push_param_spec) in the
 * runtime's order (lr and weight_decay first). */
static int l_params(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    nn_optim_kind k;
    if (nn_optim_parse(name, &k) != NN_OK) {
        return luaL_argerror(L, 1, lua_pushfstring(L, "unknown optimizer '%s'", name));
    }
    const int n = nn_optim_param_count(k);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        nnl_push_param_spec(L, nn_optim_param(k, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* nn.optim.names() -> { "sgd", "adam", ... } in registry order. */
static int l_names(lua_State *L) {
    lua_createtable(L, NN_OPTIM_KINDS, 0);
    for (int k = 1; k <= NN_OPTIM_KINDS; k++) {
        lua_pushstring(L, nn_optim_name((nn_optim_kind)k));
        lua_rawseti(L, -2, k);
    }
    return 1;
}

void nnl_open_optim(lua_State *L) {
    static const luaL_Reg methods[] = {{"step", o_step},     {"bind", o_bind},         {"lr", o_lr},
                                       {"set_lr", o_set_lr}, {"name", o_name},         {"config", o_config},
                                       {"state", o_state},   {"velocity", o_velocity}, {"close", o_release},
                                       {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", o_release},
                                    {"__close", o_release},
                                    {"__tostring", o_tostring},
                                    {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"params", l_params}, {"names", l_names}, {NULL, NULL}};
    nnl_newclass(L, NNL_OPTIM, methods, meta);
    lua_newtable(L);
    nnl_setfuncs(L, funcs);
    for (int k = 1; k <= NN_OPTIM_KINDS; k++) {
        lua_pushinteger(L, k);
        lua_pushcclosure(L, l_optim_new, 1);
        lua_setfield(L, -2, nn_optim_name((nn_optim_kind)k));
    }
    lua_setfield(L, -2, "optim");
}
