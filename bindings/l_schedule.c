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

static void need(lua_State *L, int i, int arg, const char *what, const char *kind,
                 const char *k) {
    if (!has_field(L, i, k)) {
        nnl_argerror(L, arg, what, lua_pushfstring(L, "the '%s' schedule needs '%s'", kind, k));
    }
}

static void unused(lua_State *L, int i, int arg, const char *what, const char *kind,
                   const char *const keys[]) {
    for (int k = 0; keys[k]; k++) {
        if (has_field(L, i, keys[k])) {
            nnl_argerror(L, arg, what,
                          lua_pushfstring(L, "option '%s' is not used by the '%s' schedule",
                                          keys[k], kind));
        }
    }
}

/* Reads the table (or name) at i into out and checks it. */
static void read_schedule(lua_State *L, int i, int arg, const char *what, l_schedule *out) {
    static const char *const keys[] = {"name",   "lr",     "gamma",        "step_size", "total",
                                       "min_lr", "warmup", "warmup_start", "per_batch", NULL};
    static const char *const no_gamma[] = {"gamma", "step_size", NULL};
    static const char *const no_cos[] = {"total", "min_lr", NULL};
    static const char *const no_step[] = {"step_size", NULL};
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
                                         "inverse_time, cosine)",
                                      name));
    }
    switch (out->s.kind) {
    case NN_SCHED_CONSTANT:
        unused(L, i, arg, what, name, no_gamma);
        unused(L, i, arg, what, name, no_cos);
        break;
    case NN_SCHED_STEP:
        need(L, i, arg, what, name, "step_size");
        need(L, i, arg, what, name, "gamma");
        unused(L, i, arg, what, name, no_cos);
        break;
    case NN_SCHED_EXPONENTIAL:
    case NN_SCHED_INVERSE_TIME:
        need(L, i, arg, what, name, "gamma");
        unused(L, i, arg, what, name, no_step);
        unused(L, i, arg, what, name, no_cos);
        break;
    case NN_SCHED_COSINE:
        need(L, i, arg, what, name, "total");
        unused(L, i, arg, what, name, no_gamma);
        break;
    }
    out->has_lr = has_field(L, i, "lr");
    out->s.lr0 = (float)nnl_opt_number(L, i, arg, what, "lr", 0);
    out->s.gamma = (float)nnl_opt_number(L, i, arg, what, "gamma", 1);
    out->s.step_size = (int64_t)nnl_opt_integer(L, i, arg, what, "step_size", 1);
    out->s.total = (int64_t)nnl_opt_integer(L, i, arg, what, "total", 1);
    out->s.min_lr = (float)nnl_opt_number(L, i, arg, what, "min_lr", 0);
    out->s.warmup = (int64_t)nnl_opt_integer(L, i, arg, what, "warmup", 0);
    out->s.warmup_start = (float)nnl_opt_number(L, i, arg, what, "warmup_start", 0);
    out->per_batch = nnl_opt_boolean(L, i, arg, what, "per_batch", 0);
    /* Without a base rate yet, check the rest against a stand-in rate. */
    nn_schedule c = out->s;
    if (!out->has_lr) {
        c.lr0 = c.min_lr > 1 ? c.min_lr : 1;
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
    if (s->kind == NN_SCHED_COSINE) {
        lua_pushinteger(L, (lua_Integer)s->total);
        lua_setfield(L, -2, "total");
        nnl_pushfloat(L, s->min_lr);
        lua_setfield(L, -2, "min_lr");
    }
    lua_pushinteger(L, (lua_Integer)s->warmup);
    lua_setfield(L, -2, "warmup");
    nnl_pushfloat(L, s->warmup_start);
    lua_setfield(L, -2, "warmup_start");
    lua_pushboolean(L, obj->per_batch);
    lua_setfield(L, -2, "per_batch");
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
    static const luaL_Reg funcs[] = {{"schedule", l_schedule_new}, {NULL, NULL}};
    nnl_newclass(L, NNL_SCHEDULE, methods, meta);
    nnl_setfuncs(L, funcs);
}
