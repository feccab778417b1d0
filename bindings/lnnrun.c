/* lnnrun.c — luaopen_nnrun and the helpers shared by the binding. */
#include "lnnrun.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef NNRUN_HAVE_YAML
#include "l_yaml.h"
#endif

static const char *status_class(nn_status s) {
    switch (s) {
    case NN_EINVAL: return "invalid";
    case NN_ESHAPE: return "shape";
    case NN_ENOMEM: return "nomem";
    case NN_ERANGE: return "range";
    case NN_ESTATE: return "state";
    case NN_EDIVERGED: return "diverged";
    case NN_ECANCELLED: return "cancelled";
    case NN_EIO: return "io";
    case NN_EFORMAT: return "format";
    default: return "error";
    }
}

#define LASTFAIL "nnrun.lastfailure"

int nnl_fail(lua_State *L, nn_status s) {
    const char *msg = nn_last_error();
    luaL_where(L, 1);
    lua_pushstring(L, (msg && msg[0]) ? msg : nn_strerror(s));
    lua_concat(L, 2);
    /* Remember which class the message belongs to, so that a host (the
     * CLI) can tell a failed run from a bad call: nn.error_class(msg). */
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "message");
    lua_pushstring(L, status_class(s));
    lua_setfield(L, -2, "class");
    lua_setfield(L, LUA_REGISTRYINDEX, LASTFAIL);
    return lua_error(L);
}

/* nn.error_class(msg) -> "diverged" | "io" | ... | nil: the class of the
 * runtime failure that raised msg (nil if msg was not raised by one). */
static int l_error_class(lua_State *L) {
    if (lua_type(L, 1) != LUA_TSTRING) {
        lua_pushnil(L);
        return 1;
    }
    if (lua_getfield(L, LUA_REGISTRYINDEX, LASTFAIL) != LUA_TTABLE) {
        lua_pushnil(L);
        return 1;
    }
    lua_getfield(L, -1, "message");
    if (lua_rawequal(L, 1, -1)) {
        lua_getfield(L, -2, "class");
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

int nnl_argerror(lua_State *L, int arg, const char *what, const char *msg) {
    if (what) {
        msg = lua_pushfstring(L, "%s: %s", what, msg);
    }
    return luaL_argerror(L, arg, msg);
}

void nnl_check_options(lua_State *L, int idx, int arg, const char *what,
                       const char *const keys[]) {
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int known = 0;
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            for (int i = 0; keys[i]; i++) {
                if (strcmp(k, keys[i]) == 0) {
                    known = 1;
                    break;
                }
            }
            if (!known) {
                nnl_argerror(L, arg, what, lua_pushfstring(L, "unknown option '%s'", k));
            }
        } else {
            nnl_argerror(L, arg, what,
                         lua_pushfstring(L, "unexpected %s key in option table",
                                         luaL_typename(L, -1)));
        }
    }
}

static void opt_type_error(lua_State *L, int arg, const char *what, const char *key,
                           const char *want) {
    nnl_argerror(L, arg, what, lua_pushfstring(L, "option '%s' must be %s, got %s", key, want,
                                               luaL_typename(L, -1)));
}

lua_Number nnl_opt_number(lua_State *L, int idx, int arg, const char *what,
                          const char *key, lua_Number def) {
    lua_Number v = def;
    if (lua_isnoneornil(L, idx)) {
        return def;
    }
    lua_getfield(L, idx, key);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER) {
            opt_type_error(L, arg, what, key, "a number");
        }
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

lua_Integer nnl_opt_integer(lua_State *L, int idx, int arg, const char *what,
                          const char *key, lua_Integer def) {
    lua_Integer v = def;
    if (lua_isnoneornil(L, idx)) {
        return def;
    }
    lua_getfield(L, idx, key);
    if (!lua_isnil(L, -1)) {
        int isint = 0;
        v = lua_tointegerx(L, -1, &isint);
        if (lua_type(L, -1) != LUA_TNUMBER || !isint) {
            opt_type_error(L, arg, what, key, "an integer");
        }
    }
    lua_pop(L, 1);
    return v;
}

int nnl_opt_boolean(lua_State *L, int idx, int arg, const char *what,
                          const char *key, int def) {
    int v = def;
    if (lua_isnoneornil(L, idx)) {
        return def;
    }
    lua_getfield(L, idx, key);
    if (!lua_isnil(L, -1)) {
        if (!lua_isboolean(L, -1)) {
            opt_type_error(L, arg, what, key, "a boolean");
        }
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

void nnl_push_param_spec(lua_State *L, const nn_param_spec *p) {
    /* By nn_param_type. */
    static const char *const types[] = {"int", "float", "choice", "init", "bool"};
    lua_createtable(L, 0, 10);
    lua_pushstring(L, p->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, types[p->type]);
    lua_setfield(L, -2, "type");
    if (!isnan(p->def)) {
        if (p->type == NN_PARAM_CHOICE || p->type == NN_PARAM_INIT) {
            lua_pushstring(L, p->choices[(int)p->def]);
        } else if (p->type == NN_PARAM_BOOL) {
            lua_pushboolean(L, p->def != 0);
        } else if (p->type == NN_PARAM_INT) {
            lua_pushinteger(L, (lua_Integer)p->def);
        } else {
            lua_pushnumber(L, (lua_Number)p->def);
        }
        lua_setfield(L, -2, "default");
    }
    if (p->type == NN_PARAM_INT || p->type == NN_PARAM_FLOAT) {
        if (!isinf(p->min)) {
            lua_pushnumber(L, (lua_Number)p->min);
            lua_setfield(L, -2, "min");
        }
        if (!isinf(p->max)) {
            lua_pushnumber(L, (lua_Number)p->max);
            lua_setfield(L, -2, "max");
        }
        lua_pushboolean(L, p->min_open);
        lua_setfield(L, -2, "min_open");
        lua_pushboolean(L, p->max_open);
        lua_setfield(L, -2, "max_open");
    }
    if (p->choices) {
        lua_newtable(L);
        for (int c = 0; p->choices[c]; c++) {
            lua_pushstring(L, p->choices[c]);
            lua_rawseti(L, -2, c + 1);
        }
        lua_setfield(L, -2, "choices");
    }
    lua_pushboolean(L, p->primary);
    lua_setfield(L, -2, "primary");
    if (p->applies_to) {
        lua_pushstring(L, p->applies_to);
        lua_setfield(L, -2, "applies_to");
    }
    lua_pushstring(L, p->doc);
    lua_setfield(L, -2, "doc");
}

void nnl_pushfloat(lua_State *L, float f) {
    char buf[32];
    double d = (double)f;
    if (isfinite(f)) {
        for (int prec = 6; prec <= 9; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, d);
            if ((float)strtod(buf, NULL) == f) {
                d = strtod(buf, NULL);
                break;
            }
        }
    }
    lua_pushnumber(L, d);
}

void *nnl_newobject(lua_State *L, size_t size, int nuv, const char *tname) {
    void *p = lua_newuserdatauv(L, size, nuv);
    memset(p, 0, size);
    luaL_setmetatable(L, tname);
    return p;
}

void nnl_setfuncs(lua_State *L, const luaL_Reg *l) {
    luaL_setfuncs(L, l, 0);
}

void nnl_newclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                  const luaL_Reg *meta) {
    luaL_newmetatable(L, tname);
    luaL_setfuncs(L, meta, 0);
    if (methods) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}

/* An initialiser: "he_normal", or {name = "uniform", a = -0.1, b = 0.1};
 * a/b may also be spelt value (constant), low/high (uniform) and mean/std
 * (normal). */
void nnl_check_init(lua_State *L, int idx, int arg, const char *what, nn_init *out) {
    static const char *const keys[] = {"name", "a", "b", "value", "low", "high", "mean", "std",
                                       NULL};
    const char *name;
    idx = lua_absindex(L, idx);
    memset(out, 0, sizeof *out);
    if (lua_type(L, idx) == LUA_TSTRING) {
        name = lua_tostring(L, idx);
    } else if (lua_type(L, idx) == LUA_TTABLE) {
        nnl_check_options(L, idx, arg, what, keys);
        lua_getfield(L, idx, "name");
        if (lua_type(L, -1) != LUA_TSTRING) {
            nnl_argerror(L, arg, what, "initialiser table needs a string 'name'");
        }
        name = lua_tostring(L, -1);
        lua_pop(L, 1); /* the string stays referenced by the table */
    } else {
        nnl_argerror(L, arg, what,
                     lua_pushfstring(L, "initialiser must be a name or a table, got %s",
                                     luaL_typename(L, idx)));
        return;
    }
    if (nn_init_parse(name, &out->kind) != NN_OK) {
        nnl_argerror(L, arg, what, lua_pushfstring(L, "unknown initialiser '%s'", name));
    }
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_Number a = 0, b = 0;
        switch (out->kind) {
        case NN_INIT_CONSTANT:
            a = nnl_opt_number(L, idx, arg, what, "a", nnl_opt_number(L, idx, arg, what, "value", 0));
            break;
        case NN_INIT_UNIFORM:
            a = nnl_opt_number(L, idx, arg, what, "a", nnl_opt_number(L, idx, arg, what, "low", -0.05));
            b = nnl_opt_number(L, idx, arg, what, "b", nnl_opt_number(L, idx, arg, what, "high", 0.05));
            break;
        case NN_INIT_NORMAL:
            a = nnl_opt_number(L, idx, arg, what, "a", nnl_opt_number(L, idx, arg, what, "mean", 0));
            b = nnl_opt_number(L, idx, arg, what, "b", nnl_opt_number(L, idx, arg, what, "std", 0.05));
            break;
        default:
            break;
        }
        out->a = (float)a;
        out->b = (float)b;
    } else if (out->kind == NN_INIT_UNIFORM) {
        out->a = -0.05f;
        out->b = 0.05f;
    } else if (out->kind == NN_INIT_NORMAL) {
        out->b = 0.05f;
    }
}

static int l_version(lua_State *L) {
    lua_pushstring(L, nn_version());
    return 1;
}

static int l_set_threads(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 4096, 1, "thread count must be in 1..4096");
    nn_status s = nn_set_threads((int)n);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    return 0;
}

static int l_get_threads(lua_State *L) {
    lua_pushinteger(L, nn_get_threads());
    return 1;
}

/* Pushes an array of the names f(0), f(1), ... until f returns NULL. */
static void push_names(lua_State *L, const char *(*f)(int), const char *field) {
    lua_newtable(L);
    for (int i = 0;; i++) {
        const char *n = f(i);
        if (!n) {
            break;
        }
        lua_pushstring(L, n);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, field);
}

static const char *init_name(int i) {
    return i <= NN_INIT_HE_NORMAL ? nn_init_name((nn_init_kind)i) : NULL;
}
static const char *act_name(int i) {
    return i <= NN_ACT_SOFTMAX ? nn_act_name((nn_act)i) : NULL;
}
static const char *loss_name(int i) {
    return i <= NN_LOSS_LOG_LOSS ? nn_loss_name((nn_loss_kind)i) : NULL;
}
static const char *sched_name(int i) {
    return i <= NN_SCHED_COSINE ? nn_sched_name((nn_sched_kind)i) : NULL;
}

int luaopen_nnrun(lua_State *L) {
    static const luaL_Reg funcs[] = {{"version", l_version},
                                     {"set_threads", l_set_threads},
                                     {"get_threads", l_get_threads},
                                     {"error_class", l_error_class},
                                     {NULL, NULL}};
    luaL_checkversion(L);
    lua_newtable(L);
    luaL_setfuncs(L, funcs, 0);
    nnl_open_tensor(L);
    nnl_open_net(L);
    nnl_open_loss(L);
    nnl_open_optim(L);
    nnl_open_schedule(L);
    nnl_open_data(L);
    nnl_open_train(L);
    nnl_open_sys(L);
    nnl_open_landscape(L);
    nnl_open_sandbox(L);
    nnl_open_mpi(L);
    nnl_open_mpi_train(L);
    push_names(L, init_name, "initialisers");
    push_names(L, act_name, "activations");
    push_names(L, loss_name, "losses");
    push_names(L, sched_name, "schedules");
#ifdef NNRUN_HAVE_YAML
    nnrun_yaml_open(L);
    lua_setfield(L, -2, "yaml");
#endif
    return 1;
}
