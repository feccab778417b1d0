/* l_optim.c — nnrun.Optimizer: stochastic gradient descent.
 *
 * nn.optim.sgd{...} makes an unbound optimiser: a configuration that nn.fit
 * uses (the trainer owns its own state).  For hand-written loops it is bound
 * to a network, either at creation, nn.optim.sgd(net, {...}), or with
 * opt:bind(net); opt:step() then updates that network.
 */
#include "lnnrun.h"

#include <stdio.h>
#include <string.h>

static const char *const sgd_keys[] = {"name", "lr", "momentum", "nesterov", "weight_decay",
                                       NULL};

/* Reads an option table at i into cfg (defaults of nn_train_defaults). */
static void read_sgd_table(lua_State *L, int i, int arg, const char *what, nn_sgd_config *cfg) {
    nnl_check_options(L, i, arg, what, sgd_keys);
    if (lua_getfield(L, i, "name") != LUA_TNIL) {
        const char *name = lua_tostring(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING || strcmp(name, "sgd") != 0) {
            nnl_argerror(L, arg, what,
                         lua_pushfstring(L, "unknown optimizer '%s' (sgd)",
                                         name ? name : luaL_typename(L, -1)));
        }
    }
    lua_pop(L, 1);
    cfg->lr = (float)nnl_opt_number(L, i, arg, what, "lr", cfg->lr);
    cfg->momentum = (float)nnl_opt_number(L, i, arg, what, "momentum", cfg->momentum);
    cfg->nesterov = nnl_opt_boolean(L, i, arg, what, "nesterov", cfg->nesterov);
    cfg->weight_decay = (float)nnl_opt_number(L, i, arg, what, "weight_decay", cfg->weight_decay);
    nn_status s = nn_sgd_check(cfg);
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
}

void nnl_check_sgd_config(lua_State *L, int i, int arg, const char *what, nn_sgd_config *cfg) {
    l_sgd *o = (l_sgd *)luaL_testudata(L, i, NNL_SGD);
    *cfg = nn_train_defaults().sgd;
    if (o) {
        *cfg = o->cfg;
    } else if (lua_istable(L, i)) {
        read_sgd_table(L, i, arg, what, cfg);
    } else if (!lua_isnoneornil(L, i)) {
        nnl_argerror(L, arg, what,
                     lua_pushfstring(L, "nn.optim.sgd or option table expected, got %s",
                                     luaL_typename(L, i)));
    }
}

static l_sgd *check_sgd(lua_State *L, int i) {
    return (l_sgd *)luaL_checkudata(L, i, NNL_SGD);
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
    l_sgd *o = check_sgd(L, oi);
    l_net *net = nnl_check_net(L, ni);
    if (o->opt) {
        luaL_error(L, "optimizer is already bound to a network");
    }
    nn_status s = nn_sgd_create(net->net, &o->cfg, &o->opt);
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
    lua_pushvalue(L, ni);
    lua_setiuservalue(L, oi, 1);
}

/* nn.optim.sgd{ lr=, momentum=, nesterov=, weight_decay= }
 * nn.optim.sgd(net, { ... }) */
static int l_sgd_new(lua_State *L) {
    int net_arg = luaL_testudata(L, 1, NNL_NET) != NULL;
    int oarg = net_arg ? 2 : 1;
    nn_sgd_config cfg = nn_train_defaults().sgd;
    if (net_arg) {
        nnl_check_net(L, 1);
    }
    if (!lua_isnoneornil(L, oarg)) {
        luaL_checktype(L, oarg, LUA_TTABLE);
        read_sgd_table(L, oarg, oarg, NULL, &cfg);
    }
    l_sgd *o = (l_sgd *)nnl_newobject(L, sizeof(l_sgd), 1, NNL_SGD);
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
    l_sgd *o = check_sgd(L, 1);
    float lr = (float)luaL_optnumber(L, 2, o->cfg.lr);
    if (o->opt == NULL) {
        return luaL_error(L, "optimizer is not bound to a network: use nn.optim.sgd(net, {...}) "
                             "or opt:bind(net)");
    }
    bound_net(L, 1);
    nn_status s = nn_sgd_step(o->opt, lr);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 0;
}

static int o_lr(lua_State *L) {
    nnl_pushfloat(L, check_sgd(L, 1)->cfg.lr);
    return 1;
}

static int o_set_lr(lua_State *L) {
    l_sgd *o = check_sgd(L, 1);
    nn_sgd_config c = o->cfg;
    c.lr = (float)luaL_checknumber(L, 2);
    nn_status s = nn_sgd_check(&c);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    o->cfg = c;
    return 0;
}

static int o_config(lua_State *L) {
    l_sgd *o = check_sgd(L, 1);
    lua_createtable(L, 0, 5);
    lua_pushliteral(L, "sgd");
    lua_setfield(L, -2, "name");
    nnl_pushfloat(L, o->cfg.lr);
    lua_setfield(L, -2, "lr");
    nnl_pushfloat(L, o->cfg.momentum);
    lua_setfield(L, -2, "momentum");
    lua_pushboolean(L, o->cfg.nesterov);
    lua_setfield(L, -2, "nesterov");
    nnl_pushfloat(L, o->cfg.weight_decay);
    lua_setfield(L, -2, "weight_decay");
    return 1;
}

/* opt:velocity() -> copy of the momentum buffer (1-D), nil when unbound. */
static int o_velocity(lua_State *L) {
    l_sgd *o = check_sgd(L, 1);
    if (o->opt == NULL) {
        lua_pushnil(L);
        return 1;
    }
    l_net *net = bound_net(L, 1);
    int64_t n = nn_net_param_count(net->net);
    l_tensor *t = nnl_new_tensor(L);
    nn_status s = nn_tensor_create(1, &n, &t->t);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    memcpy(nn_tensor_data(t->t), nn_sgd_velocity(o->opt), (size_t)n * sizeof(float));
    return 1;
}

static int o_release(lua_State *L) {
    l_sgd *o = check_sgd(L, 1);
    nn_sgd_free(o->opt);
    o->opt = NULL;
    return 0;
}

static int o_tostring(lua_State *L) {
    l_sgd *o = check_sgd(L, 1);
    char buf[160];
    snprintf(buf, sizeof buf, "nnrun.Optimizer(sgd lr=%g momentum=%g%s%s%s)", (double)o->cfg.lr,
             (double)o->cfg.momentum, o->cfg.nesterov ? " nesterov" : "",
             o->cfg.weight_decay > 0 ? " weight_decay" : "", o->opt ? " bound" : "");
    lua_pushstring(L, buf);
    return 1;
}

void nnl_open_optim(lua_State *L) {
    static const luaL_Reg methods[] = {{"step", o_step},         {"bind", o_bind},
                                       {"lr", o_lr},             {"set_lr", o_set_lr},
                                       {"config", o_config},     {"velocity", o_velocity},
                                       {"close", o_release},     {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", o_release},
                                    {"__close", o_release},
                                    {"__tostring", o_tostring},
                                    {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"sgd", l_sgd_new}, {NULL, NULL}};
    nnl_newclass(L, NNL_SGD, methods, meta);
    lua_newtable(L);
    nnl_setfuncs(L, funcs);
    lua_setfield(L, -2, "optim");
}
