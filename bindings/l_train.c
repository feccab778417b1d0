/* l_train.c — nn.fit (the runtime's training loop with Lua callbacks),
 * nn.evaluate and nn.gradcheck.
 *
 * Callbacks run under lua_pcall from inside nn_train: no Lua error ever
 * unwinds through runtime frames.  An error in a callback is kept on the
 * stack of nn.fit, the callback returns -1 (nn_train returns
 * NN_ECANCELLED), and nn.fit raises the kept error once the runtime has
 * returned.  A callback returning false stops training.
 */
#include "lnnrun.h"

#include <math.h>
#include <signal.h>
#include <string.h>

typedef struct fit_ctx {
    lua_State *L;
    int hist;     /* stack index of the history table          */
    int on_batch; /* stack index of the function, 0 when none   */
    int on_epoch;
    int err;      /* stack index of the slot for a kept error  */
    int trainer;  /* stack index of the Trainer userdata       */
    int failed;
    int mpi;      /* data-parallel over MPI: ranks stop together */
} fit_ctx;


static int tr_release(lua_State *L) {
    l_trainer *ud = (l_trainer *)luaL_checkudata(L, 1, NNL_TRAINER);
    if (ud->running) {
        return luaL_error(L, "cannot close the trainer inside nn.fit's callbacks "
                             "(nn.fit closes it when it returns)");
    }
    nn_trainer_free(ud->tr);
    ud->tr = NULL;
    return 0;
}

static void set_num(lua_State *L, const char *k, double v) {
    if (isnan(v)) {
        return; /* absent: no validation data, or not classifying */
    }
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, int64_t v) {
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

/* Protected: (stats*, fn) -> keep going (true) or stop (false). */
static int batch_protected(lua_State *L) {
    const nn_batch_stats *s = (const nn_batch_stats *)lua_touserdata(L, 1);
    lua_createtable(L, 0, 7);
    set_int(L, "epoch", s->epoch + 1);
    set_int(L, "batch", s->batch + 1);
    set_int(L, "batches", s->batches);
    set_int(L, "size", s->size);
    set_num(L, "loss", s->loss);
    set_num(L, "running_loss", s->running_loss);
    nnl_pushfloat(L, s->lr);
    lua_setfield(L, -2, "lr");
    lua_call(L, 1, 1);
    lua_pushboolean(L, !(lua_isboolean(L, -1) && !lua_toboolean(L, -1)));
    return 1;
}

/* Protected: (stats*, history, fn or nil, trainer) -> keep going or stop.
 * fn(stats, trainer). */
static int epoch_protected(lua_State *L) {
    const nn_epoch_stats *s = (const nn_epoch_stats *)lua_touserdata(L, 1);
    lua_createtable(L, 0, 6);
    set_int(L, "epoch", s->epoch + 1);
    set_num(L, "train_loss", s->train_loss);
    set_num(L, "val_loss", s->val_loss);
    set_num(L, "val_accuracy", s->val_accuracy);
    nnl_pushfloat(L, s->lr);
    lua_setfield(L, -2, "lr");
    set_num(L, "seconds", s->seconds);
    lua_pushvalue(L, -1);
    lua_rawseti(L, 2, (lua_Integer)lua_rawlen(L, 2) + 1);
    if (lua_isnil(L, 3)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushvalue(L, 3);
    lua_insert(L, -2);
    lua_pushvalue(L, 4);
    lua_call(L, 2, 1);
    lua_pushboolean(L, !(lua_isboolean(L, -1) && !lua_toboolean(L, -1)));
    return 1;
}

/* Runs the protected function already pushed with its nargs arguments;
 * maps the outcome to the runtime's callback convention. */
static int finish_callback(fit_ctx *c, int nargs) {
    lua_State *L = c->L;
    if (lua_pcall(L, nargs, 1, 0) != LUA_OK) {
        lua_replace(L, c->err);
        c->failed = 1;
        return -1;
    }
    int go_on = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return go_on ? 0 : 1;
}

/* The stack space these callbacks use is reserved before training starts,
 * so pushing here cannot raise. */
static int on_batch(const nn_batch_stats *s, void *user) {
    fit_ctx *c = (fit_ctx *)user;
    /* Ctrl-C or SIGTERM (once nn.trap_signals() is on): stop cleanly at
     * this batch boundary; the caller asks nn.interrupted() why. */
    int sig = nnl_interrupt_signal();
    if (c->mpi) {
        /* Every rank stops at the same batch, or the others would wait
         * in the next reduction; one that got no signal takes the one
         * another rank got. */
        const int any = nnl_mpi_any(sig);
        if (any && !sig)
            raise(any);
        sig = any;
    }
    if (sig)
        return 1;
    if (!c->on_batch)
        return 0;
    lua_pushcfunction(c->L, batch_protected);
    lua_pushlightuserdata(c->L, (void *)s);
    lua_pushvalue(c->L, c->on_batch);
    return finish_callback(c, 2);
}

static int on_epoch(const nn_epoch_stats *s, void *user) {
    fit_ctx *c = (fit_ctx *)user;
    lua_pushcfunction(c->L, epoch_protected);
    lua_pushlightuserdata(c->L, (void *)s);
    lua_pushvalue(c->L, c->hist);
    if (c->on_epoch) {
        lua_pushvalue(c->L, c->on_epoch);
    } else {
        lua_pushnil(c->L);
    }
    lua_pushvalue(c->L, c->trainer);
    const int r = finish_callback(c, 4);
    nnl_test_gate((long long)s->epoch + 1);
    return r;
}

static int opt_function(lua_State *L, int opts, const char *key) {
    int t = lua_getfield(L, opts, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (t != LUA_TFUNCTION) {
        luaL_argerror(L, 3, lua_pushfstring(L, "option '%s' must be a function, got %s", key,
                                            luaL_typename(L, -1)));
    }
    return lua_gettop(L);
}

static int ck_release(lua_State *L) {
    l_checkpoint *ud = (l_checkpoint *)luaL_checkudata(L, 1, NNL_CHECKPOINT);
    nn_checkpoint_free(ud->ck);
    ud->ck = NULL;
    return 0;
}

/* nn.fit(net, data, { loss=, optimizer=, schedule=, batch_size=, epochs=,
 *                     shuffle=, seed=, validation=, on_epoch=, on_batch=,
 *                     resume=, clip_norm=, clip_value=, parallel= })
 * optimizer: nn.optim.<kind>{...} or { name = "adam", lr = ... } (default
 * sgd); clip_norm / clip_value: gradient clipping before each update (0 or
 * absent: off); parallel = { shards = S, mpi = true|false }: every batch in
 * S micro-shards (nn_parallel_config), over the ranks of MPI_COMM_WORLD
 * when mpi (default: whether MPI is running), the same bits for any rank
 * count; every rank calls nn.fit alike, and any callback's decision to
 * stop must be the same on every rank.
 *   -> history (array of epoch stats), stopped (true if a callback stopped)
 * on_epoch(stats, trainer): trainer is valid during the call only; pass it
 * to net:save(path, { trainer = trainer }) to write a checkpoint that
 * resumes exactly (only at epoch boundaries, which is where on_epoch runs).
 * resume = path of such a checkpoint: its weights are copied into net (the
 * architecture must match), the trainer continues from its optimiser state,
 * shuffle generator and position (the configuration must match in all that
 * shapes the trajectory), and training runs the epochs left to reach
 * `epochs` (the total, counting those done before the checkpoint). */
/* The default of a training setting (nn_train_param): nn.fit and the YAML
 * schema take the same one. */
static double train_default(const char *name) {
    for (int i = 0; i < nn_train_param_count(); i++) {
        if (strcmp(nn_train_param(i)->name, name) == 0) {
            return nn_train_param(i)->def;
        }
    }
    return 0;
}

static int l_fit(lua_State *L) {
    static const char *const keys[] = {"loss",    "optimizer",  "schedule", "batch_size",
                                       "epochs",  "shuffle",    "seed",     "validation",
                                       "on_epoch", "on_batch",  "resume",   "clip_norm",
                                       "clip_value", "parallel", NULL};
    l_net *net = nnl_check_net(L, 1);
    l_dataset *data = nnl_check_dataset(L, 2);
    l_dataset *valud = NULL;
    const nn_dataset *val = NULL;
    nn_train_config cfg = nn_train_defaults();
    l_schedule sched;
    fit_ctx ctx;
    int64_t done = 0;

    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        nnl_check_options(L, 3, 3, NULL, keys);
    }
    if (net->busy) {
        return luaL_argerror(L, 1, "the network is being trained by a running nn.fit");
    }
    /* Slot 4 anchors the validation set: a callback may drop the option
     * table's reference to it, and it must not be collected mid-run. */
    lua_settop(L, 4);
    if (lua_istable(L, 3)) {
        if (lua_getfield(L, 3, "loss") != LUA_TNIL) {
            cfg.loss = nnl_check_loss_kind(L, lua_gettop(L), 3);
        }
        if (lua_getfield(L, 3, "optimizer") != LUA_TNIL) {
            nnl_check_optim_config(L, lua_gettop(L), 3, "optimizer", &cfg.optim);
        }
        if (lua_getfield(L, 3, "schedule") != LUA_TNIL) {
            nnl_check_schedule(L, lua_gettop(L), 3, "schedule", &sched);
            cfg.schedule = sched.s;
            if (!sched.has_lr) {
                cfg.schedule.lr0 = nn_train_optim(&cfg).lr;
            }
            cfg.schedule_per_batch = sched.per_batch;
        } else {
            cfg.schedule = nn_schedule_constant(nn_train_optim(&cfg).lr);
        }
        if (lua_getfield(L, 3, "validation") != LUA_TNIL) {
            l_dataset *v = (l_dataset *)luaL_testudata(L, -1, NNL_DATASET);
            if (v == NULL || v->d == NULL) {
                nnl_argerror(L, 3, "validation",
                             v ? "dataset is closed"
                               : lua_pushfstring(L, "nn.dataset expected, got %s",
                                                 luaL_typename(L, -1)));
            }
            val = v->d;
            valud = v;
            lua_copy(L, -1, 4);
        }
        lua_settop(L, 4);
    }
    lua_Integer epochs = nnl_opt_integer(L, 3, 3, NULL, "epochs", (lua_Integer)train_default("epochs"));
    lua_Integer batch = nnl_opt_integer(L, 3, 3, NULL, "batch_size", cfg.batch_size);
    luaL_argcheck(L, epochs >= 1, 3, "option 'epochs' must be >= 1");
    luaL_argcheck(L, batch >= 1, 3, "option 'batch_size' must be >= 1");
    cfg.batch_size = batch;
    cfg.shuffle = nnl_opt_boolean(L, 3, 3, NULL, "shuffle", cfg.shuffle);
    cfg.seed = (uint64_t)nnl_opt_integer(L, 3, 3, NULL, "seed", (lua_Integer)cfg.seed);
    cfg.clip_norm = (float)nnl_opt_number(L, 3, 3, NULL, "clip_norm", cfg.clip_norm);
    cfg.clip_value = (float)nnl_opt_number(L, 3, 3, NULL, "clip_value", cfg.clip_value);
    int mpi = 0;
    if (lua_istable(L, 3) && lua_getfield(L, 3, "parallel") != LUA_TNIL) {
        static const char *const pkeys[] = {"shards", "mpi", NULL};
        const int pt = lua_gettop(L);
        if (!lua_istable(L, pt)) {
            return nnl_argerror(L, 3, NULL, "option 'parallel' must be a table");
        }
        nnl_check_options(L, pt, 3, "parallel", pkeys);
        lua_Integer sh = nnl_opt_integer(L, pt, 3, "parallel", "shards", 0);
        luaL_argcheck(L, sh >= 0 && sh <= NN_MAX_SHARDS, 3,
                      "parallel: option 'shards' must be in 0..1024");
        cfg.parallel.shards = (int)sh;
        if (nnl_opt_boolean(L, pt, 3, "parallel", "mpi", nnl_mpi_on())) {
            if (!nnl_mpi_on()) {
                return nnl_argerror(L, 3, "parallel", "mpi: not running under MPI");
            }
            mpi = nnl_mpi_parallel(&cfg.parallel) && cfg.parallel.ranks > 1;
        }
    }
    lua_settop(L, 4);

    memset(&ctx, 0, sizeof ctx);
    ctx.L = L;
    ctx.mpi = mpi;
    ctx.on_batch = lua_istable(L, 3) ? opt_function(L, 3, "on_batch") : 0;
    ctx.on_epoch = lua_istable(L, 3) ? opt_function(L, 3, "on_epoch") : 0;
    lua_newtable(L);
    ctx.hist = lua_gettop(L);
    lua_pushnil(L);
    ctx.err = lua_gettop(L);
    cfg.on_batch = on_batch; /* also polls for an interrupt */
    cfg.on_epoch = on_epoch;
    cfg.user = &ctx;

    l_checkpoint *ck = NULL;
    if (lua_istable(L, 3) && lua_getfield(L, 3, "resume") != LUA_TNIL) {
        const char *path = lua_tostring(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            return nnl_argerror(L, 3, NULL, "option 'resume' must be a checkpoint path");
        }
        ck = (l_checkpoint *)nnl_newobject(L, sizeof(l_checkpoint), 0, NNL_CHECKPOINT);
        nn_status cs = nn_checkpoint_read(path, &ck->ck);
        if (cs == NN_OK && !nn_checkpoint_has_trainer(ck->ck)) {
            return luaL_error(L, "%s: holds no training state (cannot resume from it)", path);
        }
        if (cs == NN_OK) {
            cs = nn_checkpoint_apply(ck->ck, net->net);
        }
        if (cs != NN_OK) {
            return nnl_fail(L, cs);
        }
    }

    l_trainer *tr = (l_trainer *)nnl_newobject(L, sizeof(l_trainer), 1, NNL_TRAINER);
    ctx.trainer = lua_gettop(L);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1); /* the net outlives the trainer */
    nn_status s = nn_trainer_create(net->net, &cfg, &tr->tr);
    if (s == NN_OK && ck != NULL) {
        s = nn_checkpoint_restore(ck->ck, tr->tr);
        if (s == NN_OK) {
            s = nn_checkpoint_check_data(ck->ck, data->d);
        }
        epochs -= (lua_Integer)nn_trainer_epoch(tr->tr);
    }
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    luaL_checkstack(L, 8, "nn.fit callbacks");
    /* Pinned while the loop runs: the callbacks cannot close what it uses.
     * Nothing between here and the unpinning raises. */
    net->busy++;
    data->busy++;
    if (valud) {
        valud->busy++;
    }
    tr->running = 1;
    s = epochs > 0 ? nn_train(tr->tr, data->d, val, (int64_t)epochs, &done) : NN_OK;
    tr->running = 0;
    net->busy--;
    data->busy--;
    if (valud) {
        valud->busy--;
    }
    if (epochs < 0) {
        epochs = 0;
    }
    nn_trainer_free(tr->tr);
    tr->tr = NULL;
    if (ctx.failed) {
        lua_pushvalue(L, ctx.err);
        return lua_error(L);
    }
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_pushvalue(L, ctx.hist);
    lua_pushboolean(L, done < epochs);
    return 2;
}

static void set_list(lua_State *L, const char *k, const double *v, int64_t n) {
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, k);
}

/* Protected: (metrics*) -> table. */
static int push_metrics(lua_State *L) {
    const nn_metrics *m = (const nn_metrics *)lua_touserdata(L, 1);
    lua_createtable(L, 0, 16);
    set_int(L, "samples", m->samples);
    set_num(L, "loss", m->loss);
    lua_pushboolean(L, m->classification);
    lua_setfield(L, -2, "classification");
    if (m->classification) {
        int64_t c = m->classes;
        set_int(L, "classes", c);
        set_num(L, "accuracy", m->accuracy);
        set_int(L, "top_k", m->top_k);
        set_num(L, "top_k_accuracy", m->top_k_accuracy);
        set_num(L, "macro_precision", m->macro_precision);
        set_num(L, "macro_recall", m->macro_recall);
        set_num(L, "macro_f1", m->macro_f1);
        if (m->precision) {
            set_list(L, "precision", m->precision, c);
            set_list(L, "recall", m->recall, c);
            set_list(L, "f1", m->f1, c);
        }
        if (m->confusion) {
            lua_createtable(L, (int)c, 0);
            for (int64_t i = 0; i < c; i++) {
                lua_createtable(L, (int)c, 0);
                for (int64_t j = 0; j < c; j++) {
                    lua_pushinteger(L, (lua_Integer)m->confusion[i * c + j]);
                    lua_rawseti(L, -2, (lua_Integer)j + 1);
                }
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            }
            lua_setfield(L, -2, "confusion");
        }
    } else {
        set_num(L, "mse", m->mse);
        set_num(L, "mae", m->mae);
        set_num(L, "r2", m->r2);
    }
    return 1;
}

/* nn.metrics(net, data, loss [, { top_k = 5, batch_size = 256, parallel = false }]) ->
 *   { samples, loss, classification, and for classification: classes,
 *     accuracy, top_k, top_k_accuracy, confusion (rows = true class, from 1),
 *     precision, recall, f1 (per class), macro_precision, macro_recall,
 *     macro_f1; for regression: mse, mae, r2 } */
static int l_metrics(lua_State *L) {
    static const char *const keys[] = {"top_k", "batch_size", "parallel", NULL};
    l_net *net = nnl_check_net(L, 1);
    l_dataset *data = nnl_check_dataset(L, 2);
    nn_loss_kind k = nnl_check_loss_kind(L, 3, 3);
    nn_metrics_options o = {0, 0, NULL};
    nn_parallel_config pc;
    memset(&pc, 0, sizeof pc);
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        nnl_check_options(L, 4, 4, NULL, keys);
        lua_Integer tk = nnl_opt_integer(L, 4, 4, NULL, "top_k", 5);
        lua_Integer bs = nnl_opt_integer(L, 4, 4, NULL, "batch_size", 0);
        luaL_argcheck(L, tk >= 1 && tk <= 1000000, 4, "option 'top_k' must be >= 1");
        luaL_argcheck(L, bs >= 0, 4, "option 'batch_size' must be >= 0");
        o.top_k = (int)tk;
        o.batch_size = (int64_t)bs;
        /* parallel = true: the forward passes split over MPI's ranks */
        if (nnl_opt_boolean(L, 4, 4, NULL, "parallel", 0) && nnl_mpi_parallel(&pc)) {
            o.parallel = &pc;
        }
    }
    nn_metrics *m = NULL;
    nn_status s = nn_evaluate_metrics(net->net, data->d, k, &o, &m);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_pushcfunction(L, push_metrics);
    lua_pushlightuserdata(L, m);
    int r = lua_pcall(L, 1, 1, 0); /* free m whatever happens */
    nn_metrics_free(m);
    if (r != LUA_OK) {
        return lua_error(L);
    }
    return 1;
}

static void push_eval(lua_State *L, const nn_eval_result *r) {
    lua_createtable(L, 0, 3);
    set_num(L, "loss", r->loss);
    set_num(L, "accuracy", r->accuracy);
    set_int(L, "samples", r->samples);
}

/* nn.evaluate(net, data, loss [, batch_size]) -> { loss=, accuracy=?, samples= } */
static int l_evaluate(lua_State *L) {
    l_net *net = nnl_check_net(L, 1);
    l_dataset *data = nnl_check_dataset(L, 2);
    nn_loss_kind k = nnl_check_loss_kind(L, 3, 3);
    lua_Integer b = luaL_optinteger(L, 4, 0);
    nn_eval_result r;
    luaL_argcheck(L, b >= 0, 4, "batch size must be >= 0");
    nn_status s = nn_evaluate(net->net, data->d, k, (int64_t)b, &r);
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    push_eval(L, &r);
    return 1;
}

/* Loss of net on (x, t); dy receives the gradient when not NULL. */
static nn_status net_loss(nn_net *net, nn_loss_kind k, const nn_tensor *x, const nn_tensor *t,
                          nn_tensor *dy, double *loss) {
    const nn_tensor *y = NULL;
    nn_status s = nn_net_forward(net, x, &y);
    if (s == NN_OK) {
        s = nn_loss(k, y, t, loss, dy);
    }
    return s;
}

/* nn.gradcheck(net, x, t, loss [, { eps=1e-3, rtol=1e-2, atol=1e-4, max_params=0 }])
 *   -> { ok=, max_rel_error=, max_abs_error=, checked=, worst= { index=,
 *        analytic=, numeric= } }
 * Compares the backpropagated gradient of every parameter (or of
 * max_params evenly spaced ones) with the central difference
 * (L(w+eps) - L(w-eps)) / 2eps, the losses in double.  A parameter passes
 * when |a-n| <= atol or |a-n| / max(|a|, |n|) <= rtol.  Parameters are
 * restored; the gradients are left holding the backpropagated ones. */
static int l_gradcheck(lua_State *L) {
    static const char *const keys[] = {"eps", "rtol", "atol", "max_params", NULL};
    l_net *ud = nnl_check_net(L, 1);
    nn_tensor *x = nnl_to_tensor(L, 2);
    nn_tensor *t = nnl_to_tensor(L, 3);
    nn_loss_kind k = nnl_check_loss_kind(L, 4, 4);
    if (!lua_isnoneornil(L, 5)) {
        luaL_checktype(L, 5, LUA_TTABLE);
        nnl_check_options(L, 5, 5, NULL, keys);
    }
    lua_settop(L, 5);
    double eps = nnl_opt_number(L, 5, 5, NULL, "eps", 1e-3);
    double rtol = nnl_opt_number(L, 5, 5, NULL, "rtol", 1e-2);
    double atol = nnl_opt_number(L, 5, 5, NULL, "atol", 1e-4);
    lua_Integer maxp = nnl_opt_integer(L, 5, 5, NULL, "max_params", 0);
    luaL_argcheck(L, eps > 0, 5, "option 'eps' must be > 0");
    luaL_argcheck(L, maxp >= 0, 5, "option 'max_params' must be >= 0");

    nn_net *net = ud->net;
    double loss = 0;
    int64_t n = nn_net_param_count(net);
    int64_t out = nn_net_output_size(net);
    l_tensor *dy = nnl_new_tensor(L);
    nn_status s = nn_tensor_create2d(nn_tensor_rows(x), out > 0 ? out : 1, &dy->t);
    const nn_tensor *dx = NULL;
    nn_net_zero_grad(net);
    if (s == NN_OK) {
        s = net_loss(net, k, x, t, dy->t, &loss);
    }
    if (s == NN_OK) {
        s = nn_net_backward(net, dy->t, &dx);
    }
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    float *grad = (float *)lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(float), 0);
    memcpy(grad, nn_net_grads(net), (size_t)n * sizeof(float));
    float *w = nn_net_params(net);
    int64_t stride = (maxp > 0 && maxp < n) ? (n + maxp - 1) / maxp : 1;
    int64_t checked = 0, worst = -1;
    double max_rel = 0, max_abs = 0, worst_n = 0;
    int ok = 1;
    for (int64_t i = 0; i < n && s == NN_OK; i += stride) {
        float w0 = w[i];
        double lp = 0, lm = 0;
        w[i] = (float)(w0 + eps);
        double ep = (double)w[i] - w0; /* the step actually taken in float */
        s = net_loss(net, k, x, t, NULL, &lp);
        w[i] = (float)(w0 - eps);
        double em = w0 - (double)w[i];
        if (s == NN_OK) {
            s = net_loss(net, k, x, t, NULL, &lm);
        }
        w[i] = w0;
        double num = (lp - lm) / (ep + em);
        double a = grad[i];
        double ae = fabs(a - num);
        double scale = fmax(fabs(a), fabs(num));
        double re = scale > 0 ? ae / scale : 0;
        int pass = ae <= atol || re <= rtol;
        if (ae > max_abs) {
            max_abs = ae;
        }
        /* Relative errors of gradients below atol are rounding noise. */
        if (ae > atol && re > max_rel) {
            max_rel = re;
            if (!pass) {
                worst = i;
                worst_n = num;
            }
        }
        ok = ok && pass;
        checked++;
    }
    if (s != NN_OK) {
        return nnl_fail(L, s);
    }
    lua_createtable(L, 0, 6);
    lua_pushboolean(L, ok);
    lua_setfield(L, -2, "ok");
    lua_pushnumber(L, max_rel);
    lua_setfield(L, -2, "max_rel_error");
    lua_pushnumber(L, max_abs);
    lua_setfield(L, -2, "max_abs_error");
    set_int(L, "checked", checked);
    lua_pushnumber(L, loss);
    lua_setfield(L, -2, "loss");
    if (worst >= 0) {
        lua_createtable(L, 0, 3);
        set_int(L, "index", worst + 1);
        lua_pushnumber(L, grad[worst]);
        lua_setfield(L, -2, "analytic");
        lua_pushnumber(L, worst_n);
        lua_setfield(L, -2, "numeric");
        lua_setfield(L, -2, "worst");
    }
    return 1;
}

/* nn.train_params() -> { spec, ... } (nnl_push_param_spec): epochs,
 * batch_size, shuffle, clip_norm, clip_value with their one default (the
 * YAML train schema is built from them; nn.fit takes the same defaults). */
static int l_train_params(lua_State *L) {
    lua_createtable(L, nn_train_param_count(), 0);
    for (int i = 0; i < nn_train_param_count(); i++) {
        nnl_push_param_spec(L, nn_train_param(i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

void nnl_open_train(lua_State *L) {
    static const luaL_Reg meta[] = {{"__gc", tr_release}, {"__close", tr_release}, {NULL, NULL}};
    static const luaL_Reg methods[] = {{"close", tr_release}, {NULL, NULL}};
    static const luaL_Reg ck_meta[] = {{"__gc", ck_release}, {"__close", ck_release}, {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"fit", l_fit},
                                     {"train_params", l_train_params},
                                     {"evaluate", l_evaluate},
                                     {"metrics", l_metrics},
                                     {"gradcheck", l_gradcheck},
                                     {NULL, NULL}};
    nnl_newclass(L, NNL_TRAINER, methods, meta);
    nnl_newclass(L, NNL_CHECKPOINT, NULL, ck_meta);
    nnl_setfuncs(L, funcs);
}
