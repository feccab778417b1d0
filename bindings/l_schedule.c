/* l_schedule.c — nnrun.Schedule: learning-rate schedules with warm-up.
 *
 * nn.schedule{ name = "cosine", total = 50, min_lr = 0, warmup = 5,
 *              warmup_start = 0, lr = 0.1, per_batch = false }
 * Each kind takes only its own parameters (others are rejected):
 *   constant      -
 *   step          step_size, gamma
 *   exponential   gamma
 *   inverse_time  gamma
 *   cosine        total, min_lr (default 0)
 *   plateau       metric (val_loss), factor (0.1), patience (10), min_lr (0),
 *                 cooldown (0)
 *   one_cycle     max_lr, total, pct_start (0.3), min_lr (0)
 *   cosine_restarts  period, mult (1), min_lr (0)
 * Every kind takes warmup (default 0), warmup_start (default 0), lr (the
 * base rate; default: the optimiser's) and per_batch (default false: steps
 * count epochs).
 */
#include "lnnrun.h"

#include <string.h>

static l_schedule *check_sched(lua_State *L, int i) {
    return (l_schedule *)luaL_checkudata(L, i, NNL_SCHEDULE);
}

static int has_field(lua_State *L, int i, const char *k) {
    int t = lua_getfield(L, i, k);
    lua_pop(L, 1);
    return t != LUA_TNIL;
}

/* Per kind the keys the Lua API needs (NULL-terminated), in nn_sched_kind
 * order; the keys each kind takes are its runtime parameter specs. */
static const char *const needs[][3] = {
    {NULL},                    /* constant */
    {"step_size", "gamma", NULL}, /* step */
    {"gamma", NULL},           /* exponential */
    {"gamma", NULL},           /* inverse_time */
    {"total", NULL},           /* cosine */
    {NULL},                    /* plateau */
    {"max_lr", "total", NULL}, /* one_cycle */
    {"period", NULL},          /* cosine_restarts */
};

/* 1 when kind k has the setting named key. */
static int takes(nn_sched_kind k, const char *key) {
    for (int j = 0; j < nn_sched_param_count(k); j++) {
        if (strcmp(nn_sched_param(k, j)->name, key) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Rejects the settings of other kinds that kind k does not take. */
static void check_others(lua_State *L, int i, int arg, const char *what, nn_sched_kind k,
                         const char *name) {
    for (int o = 0; nn_sched_name((nn_sched_kind)o); o++) {
        for (int j = 0; j < nn_sched_param_count((nn_sched_kind)o); j++) {
            const char *key = nn_sched_param((nn_sched_kind)o, j)->name;
            if (!takes(k, key) && has_field(L, i, key)) {
                nnl_argerror(L, arg, what,
                             lua_pushfstring(L, "option '%s' is not used by the '%s' schedule", key,
                                             name));
            }
        }
    }
}

/* Reads the table (or name) at i into out and checks it. */
static void read_schedule(lua_State *L, int i, int arg, const char *what, l_schedule *out) {
    static const char *const keys[] = {"name",   "lr",     "gamma",     "step_size", "total",    "min_lr",
                                       "warmup", "warmup_start", "per_batch", "metric", "factor",
                                       "patience", "cooldown", "max_lr", "pct_start", "period", "mult",
                                       NULL};
    const char *name;
    memset(out, 0, sizeof *out);
    i = lua_absindex(L, i);
    if (lua_type(L, i) == LUA_TSTRING) {
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, i);
        lua_setfield(L, -2, "name");
        lua_replace(L, i);
    }
    if (!lua_istable(L, i)) {
        nnl_argerror(L, arg, what,
                     lua_pushfstring(L, "schedule table expected, got %s", luaL_typename(L, i)));
    }
    nnl_check_options(L, i, arg, what, keys);
    lua_getfield(L, i, "name");
    if (lua_type(L, -1) != LUA_TSTRING) {
        nnl_argerror(L, arg, what, "schedule needs a string 'name'");
    }
    name = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (nn_sched_parse(name, &out->s.kind) != NN_OK) {
        nnl_argerror(L, arg, what,
                     lua_pushfstring(L, "unknown schedule '%s' (constant, step, exponential, "
                                         "inverse_time, cosine, plateau, one_cycle, cosine_restarts)",
                                      name));
    }
    for (int k = 0; needs[out->s.kind][k]; k++) {
        if (!has_field(L, i, needs[out->s.kind][k])) {
            nnl_argerror(L, arg, what, lua_pushfstring(L, "the '%s' schedule needs '%s'", name,
                                                        needs[out->s.kind][k]));
        }
    }
    check_others(L, i, arg, what, out->s.kind, name);
    const nn_schedule d = nn_schedule_constant(0);
    const nn_sched_kind kind = out->s.kind;
    out->s = d;
    out->s.kind = kind;
    out->has_lr = has_field(L, i, "lr");
    out->s.lr0 = (float)nnl_opt_number(L, i, arg, what, "lr", 0);
    out->s.gamma = (float)nnl_opt_number(L, i, arg, what, "gamma", 1);
    out->s.step_size = (int64_t)nnl_opt_integer(L, i, arg, what, "step_size", 1);
    out->s.total = (int64_t)nnl_opt_integer(L, i, arg, what, "total", 1);
    out->s.min_lr = (float)nnl_opt_number(L, i, arg, what, "min_lr", 0);
    out->s.warmup = (int64_t)nnl_opt_integer(L, i, arg, what, "warmup", 0);
    out->s.warmup_start = (float)nnl_opt_number(L, i, arg, what, "warmup_start", 0);
    out->s.factor = (float)nnl_opt_number(L, i, arg, what, "factor", d.factor);
    out->s.patience = (int64_t)nnl_opt_integer(L, i, arg, what, "patience", d.patience);
    out->s.cooldown = (int64_t)nnl_opt_integer(L, i, arg, what, "cooldown", d.cooldown);
    out->s.max_lr = (float)nnl_opt_number(L, i, arg, what, "max_lr", 0);
    out->s.pct_start = (float)nnl_opt_number(L, i, arg, what, "pct_start", d.pct_start);
    out->s.period = (int64_t)nnl_opt_integer(L, i, arg, what, "period", d.period);
    out->s.mult = (float)nnl_opt_number(L, i, arg, what, "mult", d.mult);
    if (lua_getfield(L, i, "metric") != LUA_TNIL) {
        const char *m = lua_tostring(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING || nn_sched_metric_parse(m, &out->s.metric) != NN_OK) {
            nnl_argerror(L, arg, what,
                         "option 'metric' must be 'val_loss', 'train_loss' or 'val_accuracy'");
        }
    }
    lua_pop(L, 1);
    out->per_batch = nnl_opt_boolean(L, i, arg, what, "per_batch", 0);
    /* Without a base rate yet, check the rest against a stand-in rate. */
    nn_schedule c = out->s;
    if (!out->has_lr) {
        c.lr0 = c.min_lr > 1 ? c.min_lr : 1;
        if (c.kind == NN_SCHED_ONE_CYCLE && c.max_lr < c.lr0 && c.max_lr > 0) {
            c.lr0 = c.max_lr > c.min_lr ? c.max_lr : c.min_lr;
        }
    }
    nn_status s = nn_schedule_check(&c);
    if (s != NN_OK) {
        nnl_fail(L, s);
    }
}

void nnl_check_schedule(lua_State *L, int i, int arg, const char *what, l_schedule *out) {
    l_schedule *obj = (l_schedule *)luaL_testudata(L, i, NNL_SCHEDULE);
    if (obj) {
        *out = *obj;
    } else if (lua_type(L, i) == LUA_TTABLE || lua_type(L, i) == LUA_TSTRING) {
        read_schedule(L, i, arg, what, out);
    } else {
        nnl_argerror(L, arg, what,
                     lua_pushfstring(L, "nn.schedule, name or option table expected, got %s",
                                     luaL_typename(L, i)));
    }
}

static int l_schedule_new(lua_State *L) {
    l_schedule tmp;
    lua_settop(L, 1);
    read_schedule(L, 1, 1, NULL, &tmp);
    l_schedule *obj = (l_schedule *)nnl_newobject(L, sizeof(l_schedule), 0, NNL_SCHEDULE);
    *obj = tmp;
    return 1;
}

/* sched:lr(step [, lr0]) -> the rate at step (0-based, as the runtime). */
static int s_lr(lua_State *L) {
    l_schedule *obj = check_sched(L, 1);
    lua_Integer step = luaL_checkinteger(L, 2);
    nn_schedule c = obj->s;
    luaL_argcheck(L, step >= 0, 2, "step must be >= 0");
    if (!lua_isnoneornil(L, 3)) {
        c.lr0 = (float)luaL_checknumber(L, 3);
    } else if (!obj->has_lr) {
        return luaL_argerror(L, 3, "the schedule has no base rate: give lr0");
    }
    nn_status s = nn_schedule_check(&c);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_pushnumber(L, nn_schedule_lr(&c, step));
    return 1;
}

static int s_config(lua_State *L) {
    l_schedule *obj = check_sched(L, 1);
    const nn_schedule *s = &obj->s;
    lua_newtable(L);
    lua_pushstring(L, nn_sched_name(s->kind));
    lua_setfield(L, -2, "name");
    if (obj->has_lr) {
        nnl_pushfloat(L, s->lr0);
        lua_setfield(L, -2, "lr");
    }
    if (s->kind == NN_SCHED_STEP) {
        lua_pushinteger(L, (lua_Integer)s->step_size);
        lua_setfield(L, -2, "step_size");
    }
    if (s->kind == NN_SCHED_STEP || s->kind == NN_SCHED_EXPONENTIAL ||
        s->kind == NN_SCHED_INVERSE_TIME) {
        nnl_pushfloat(L, s->gamma);
        lua_setfield(L, -2, "gamma");
    }
    if (s->kind == NN_SCHED_COSINE || s->kind == NN_SCHED_ONE_CYCLE) {
        lua_pushinteger(L, (lua_Integer)s->total);
        lua_setfield(L, -2, "total");
    }
    if (takes(s->kind, "min_lr")) {
        nnl_pushfloat(L, s->min_lr);
        lua_setfield(L, -2, "min_lr");
    }
    if (s->kind == NN_SCHED_PLATEAU) {
        lua_pushstring(L, nn_sched_metric_name(s->metric));
        lua_setfield(L, -2, "metric");
        nnl_pushfloat(L, s->factor);
        lua_setfield(L, -2, "factor");
        lua_pushinteger(L, (lua_Integer)s->patience);
        lua_setfield(L, -2, "patience");
        lua_pushinteger(L, (lua_Integer)s->cooldown);
        lua_setfield(L, -2, "cooldown");
    }
    if (s->kind == NN_SCHED_ONE_CYCLE) {
        nnl_pushfloat(L, s->max_lr);
        lua_setfield(L, -2, "max_lr");
        nnl_pushfloat(L, s->pct_start);
        lua_setfield(L, -2, "pct_start");
    }
    if (s->kind == NN_SCHED_COSINE_RESTARTS) {
        lua_pushinteger(L, (lua_Integer)s->period);
        lua_setfield(L, -2, "period");
        nnl_pushfloat(L, s->mult);
        lua_setfield(L, -2, "mult");
    }
    lua_pushinteger(L, (lua_Integer)s->warmup);
    lua_setfield(L, -2, "warmup");
    nnl_pushfloat(L, s->warmup_start);
    lua_setfield(L, -2, "warmup_start");
    lua_pushboolean(L, obj->per_batch);
    lua_setfield(L, -2, "per_batch");
    return 1;
}

/* nn.schedule_names() -> { "constant", "step", ... } in nn_sched_kind order. */
static int l_schedule_names(lua_State *L) {
    lua_newtable(L);
    for (int k = 0; nn_sched_name((nn_sched_kind)k); k++) {
        lua_pushstring(L, nn_sched_name((nn_sched_kind)k));
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

/* nn.schedule_params(name) -> { spec, ... } (nnl_push_param_spec): the
 * kind's own settings, then warmup and warmup_start; the schema of
 * `schedule` is built from them. */
static int l_schedule_params(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    nn_sched_kind k;
    if (nn_sched_parse(name, &k) != NN_OK) {
        return luaL_argerror(L, 1, lua_pushfstring(L, "unknown schedule '%s'", name));
    }
    const int n = nn_sched_param_count(k);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        nnl_push_param_spec(L, nn_sched_param(k, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int s_tostring(lua_State *L) {
    l_schedule *obj = check_sched(L, 1);
    lua_pushfstring(L, "nnrun.Schedule(%s, warmup %I)", nn_sched_name(obj->s.kind),
                    (lua_Integer)obj->s.warmup);
    return 1;
}

void nnl_open_schedule(lua_State *L) {
    static const luaL_Reg methods[] = {{"lr", s_lr}, {"config", s_config}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__tostring", s_tostring}, {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"schedule", l_schedule_new},
                                     {"schedule_names", l_schedule_names},
                                     {"schedule_params", l_schedule_params},
                                     {NULL, NULL}};
    nnl_newclass(L, NNL_SCHEDULE, methods, meta);
    nnl_setfuncs(L, funcs);
}
