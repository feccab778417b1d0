/* train.c — the training loop: seeded shuffle, mini-batches (the last one
 * partial), forward, cost, backpropagation, the gradient seam (on_gradients
 * hook, clipping by value and by global norm) and the optimiser's update per
 * batch, stateful schedules fed at epoch ends, and evaluation.  After nn_trainer_create (and the first epoch on a data set of
 * a given size) a training step allocates nothing. */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "io/io.h"
#include "kernels/gemm.h"
#include "kernels/parallel.h"
#include "xsum.h"

struct nn_trainer {
    nn_net *net;
    nn_train_config cfg;
    nn_schedule sched;
    nn_optim *opt;
    nn_sched_state sst;   /* schedule state (PLATEAU)                */
    int64_t bs;           /* batch size (cfg.batch_size)             */
    int64_t cap;          /* rows the batch buffers hold: min(bs, N) */
    float *xb;            /* gathered inputs (cap, in)               */
    float *tb;            /* gathered targets (cap, tcols)           */
    int64_t tcols;        /* width tb was sized for                  */
    float *dy;            /* dL/dy (cap, out)                        */
    int64_t *perm;        /* sample order of the epoch               */
    int64_t perm_n;
    nn_rng rng;           /* shuffle generator                       */
    int64_t epoch, step;
    float last_lr;
    /* Micro-shard mode (cfg.parallel.shards > 0, see nn_parallel_config):
     * this rank's shards [k0, k1) of S. */
    int S, k0, k1, K;
    int64_t V;            /* values summed: gradients, then state changes */
    float *shard_v;       /* (k1 - k0, V): each local shard's values      */
    float *state0;        /* non-trainable state at the step's start      */
    float *sum_v;         /* (V): the exact sum                           */
    double *acc;          /* (V + S): fixed-point sums, then shard losses */
    int32_t *exps;        /* (nn_xsum_blocks(V)) block exponents          */
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The settings a host's configuration and nn_train share, with the one
 * default of each (nn_train_defaults, nn.fit and the YAML schema read them
 * here). */
#define TP(name_, type_, def_, lo_, hi_, doc_)                                                      \
    {.name = name_, .type = type_, .def = def_, .min = lo_, .max = hi_, .doc = doc_}
static const nn_param_spec train_params[] = {
    TP("epochs", NN_PARAM_INT, 10, 1, 1e8, "passes over the training set"),
    TP("batch_size", NN_PARAM_INT, 32, 1, 1e6, "samples per update"),
    TP("shuffle", NN_PARAM_BOOL, 1, 0, 1, "reshuffle each epoch"),
    TP("clip_norm", NN_PARAM_FLOAT, 0, 0, HUGE_VAL, "global L2 norm to clip the gradient to; 0: off"),
    TP("clip_value", NN_PARAM_FLOAT, 0, 0, HUGE_VAL, "clip each gradient to [-v, v]; 0: off"),
};
#define N_TRAIN_PARAMS ((int)(sizeof train_params / sizeof train_params[0]))

int nn_train_param_count(void) { return N_TRAIN_PARAMS; }

const nn_param_spec *nn_train_param(int i) { return i >= 0 && i < N_TRAIN_PARAMS ? &train_params[i] : NULL; }

nn_train_config nn_train_defaults(void)
{
    nn_train_config c;
    memset(&c, 0, sizeof c);
    c.loss = NN_LOSS_MSE;
    c.sgd.lr = 0.01f;
    c.optim.kind = NN_OPTIM_UNSET; /* take sgd */
    c.schedule = nn_schedule_constant(0.01f);
    c.schedule.lr0 = 0.0f; /* 0: take the optimiser's lr */
    c.batch_size = (int64_t)train_params[1].def;
    c.shuffle = (int)train_params[2].def;
    c.clip_norm = (float)train_params[3].def;
    c.clip_value = (float)train_params[4].def;
    return c;
}

nn_optim_config nn_train_optim(const nn_train_config *c)
{
    if (!c)
        return nn_optim_defaults(NN_OPTIM_SGD);
    return c->optim.kind == NN_OPTIM_UNSET ? nn_optim_from_sgd(&c->sgd) : c->optim;
}

nn_train_config nn_train_config_canonical(const nn_train_config *cfg, const nn_optim_config *oc)
{
    nn_train_config c = *cfg;
    if (oc->kind == NN_OPTIM_SGD) {
        c.sgd = (nn_sgd_config){oc->lr, oc->sgd.momentum, oc->sgd.nesterov, oc->weight_decay};
        memset(&c.optim, 0, sizeof c.optim); /* UNSET: take sgd */
    } else {
        c.optim = *oc;
    }
    return c;
}

void nn_trainer_free(nn_trainer *tr)
{
    if (!tr)
        return;
    nn_optim_free(tr->opt);
    nn_xfree(tr->xb);
    nn_xfree(tr->tb);
    nn_xfree(tr->dy);
    nn_xfree(tr->perm);
    nn_xfree(tr->shard_v);
    nn_xfree(tr->state0);
    nn_xfree(tr->sum_v);
    nn_xfree(tr->acc);
    nn_xfree(tr->exps);
    nn_xfree(tr);
}

#define PRESIZE 1024

/* Batch buffers (and the network's activations) for batches of rows rows;
 * allocates only when rows exceeds what they hold. */
static nn_status reserve_rows(nn_trainer *tr, int64_t rows)
{
    if (rows <= tr->cap)
        return NN_OK;
    const int64_t in = nn_net_input_size(tr->net), outw = nn_net_output_size(tr->net);
    int64_t xn, dyn, tn;
    if (!nn_mul_ok(rows, in, &xn) || !nn_mul_ok(rows, outw, &dyn) ||
        !nn_mul_ok(rows, tr->tcols > 0 ? tr->tcols : 1, &tn) ||
        xn > (int64_t)(SIZE_MAX / sizeof(float)) || tn > (int64_t)(SIZE_MAX / sizeof(float)))
        return nn_fail(NN_ERANGE, "trainer: batches of %lld rows are too large", (long long)rows);
    float *xb = nn_xalloc((size_t)xn * sizeof(float));
    float *dy = nn_xalloc((size_t)dyn * sizeof(float));
    float *tb = tr->tcols > 0 ? nn_xalloc((size_t)tn * sizeof(float)) : NULL;
    if (!xb || !dy || (tr->tcols > 0 && !tb)) {
        nn_xfree(xb);
        nn_xfree(dy);
        nn_xfree(tb);
        return nn_oom("trainer");
    }
    nn_status s = nn_net_prepare(tr->net, rows);
    if (s) {
        nn_xfree(xb);
        nn_xfree(dy);
        nn_xfree(tb);
        return s;
    }
    nn_xfree(tr->xb);
    nn_xfree(tr->dy);
    nn_xfree(tr->tb);
    tr->xb = xb;
    tr->dy = dy;
    tr->tb = tb;
    tr->cap = rows;
    return NN_OK;
}

/* The micro-shard buffers: this rank's shards, the exact sum. */
static nn_status shards_create(nn_trainer *tr)
{
    const nn_parallel_config *pc = &tr->cfg.parallel;
    const int64_t P = nn_net_param_count(tr->net), ns = nn_net_state_count(tr->net);
    tr->S = pc->shards;
    tr->k0 = (int)((int64_t)pc->rank * tr->S / pc->ranks);
    tr->k1 = (int)((int64_t)(pc->rank + 1) * tr->S / pc->ranks);
    tr->K = nn_xsum_bits(tr->S);
    tr->V = P + ns;
    int64_t vn;
    if (!nn_mul_ok(tr->k1 - tr->k0, tr->V, &vn) || vn > (int64_t)(SIZE_MAX / sizeof(float)) ||
        tr->V + tr->S > (int64_t)(SIZE_MAX / sizeof(double)))
        return nn_fail(NN_ERANGE, "trainer: %lld values in %d shards are too many", (long long)tr->V, tr->S);
    tr->shard_v = nn_xalloc((size_t)vn * sizeof(float));
    tr->state0 = nn_xalloc((size_t)ns * sizeof(float));
    tr->sum_v = nn_xalloc((size_t)tr->V * sizeof(float));
    tr->acc = nn_xalloc((size_t)(tr->V + tr->S) * sizeof(double));
    tr->exps = nn_xalloc((size_t)nn_xsum_blocks(tr->V) * sizeof(int32_t));
    if (!tr->shard_v || !tr->state0 || !tr->sum_v || !tr->acc || !tr->exps)
        return nn_oom("trainer");
    return NN_OK;
}

nn_status nn_trainer_create(nn_net *net, const nn_train_config *cfg, nn_trainer **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "trainer: out is NULL");
    *out = NULL;
    if (!net || !cfg)
        return nn_fail(NN_EINVAL, "trainer: network or config is NULL");
    if (!nn_loss_name(cfg->loss))
        return nn_fail(NN_EINVAL, "trainer: unknown loss %d", (int)cfg->loss);
    if (cfg->batch_size < 1)
        return nn_fail(NN_EINVAL, "trainer: batch_size must be >= 1, got %lld",
                       (long long)cfg->batch_size);
    if (nn_net_layers(net) == 0)
        return nn_fail(NN_ESTATE, "trainer: the network has no layers");
    const nn_optim_config oc = nn_train_optim(cfg);
    nn_status s = nn_optim_check(&oc);
    if (s)
        return s;
    if (!(cfg->clip_value == 0 || (isfinite(cfg->clip_value) && cfg->clip_value > 0)))
        return nn_fail(NN_EINVAL, "trainer: clip_value must be 0 (off) or finite and > 0, got %g",
                       (double)cfg->clip_value);
    if (!(cfg->clip_norm == 0 || (isfinite(cfg->clip_norm) && cfg->clip_norm > 0)))
        return nn_fail(NN_EINVAL, "trainer: clip_norm must be 0 (off) or finite and > 0, got %g",
                       (double)cfg->clip_norm);
    const nn_parallel_config *pc = &cfg->parallel;
    const int ranks = pc->ranks > 0 ? pc->ranks : 1;
    if (pc->shards < 0 || pc->shards > NN_MAX_SHARDS)
        return nn_fail(NN_EINVAL, "trainer: parallel.shards must be in [0, %d], got %d", NN_MAX_SHARDS,
                       pc->shards);
    if (ranks > 1 && ranks > pc->shards)
        return nn_fail(NN_EINVAL, "trainer: %d ranks need parallel.shards >= %d (one rank per shard at most), got %d",
                       ranks, ranks, pc->shards);
    if (pc->rank < 0 || pc->rank >= ranks)
        return nn_fail(NN_EINVAL, "trainer: parallel.rank %d outside [0, %d)", pc->rank, ranks);
    if (ranks > 1 && !pc->allreduce)
        return nn_fail(NN_EINVAL, "trainer: %d ranks need parallel.allreduce", ranks);
    nn_schedule sched = cfg->schedule;
    if (sched.lr0 == 0.0f)
        sched.lr0 = oc.lr;
    if ((s = nn_schedule_check(&sched)))
        return s;
    nn_trainer *tr = nn_xcalloc(1, sizeof *tr);
    if (!tr)
        return nn_oom("trainer");
    tr->net = net;
    tr->cfg = nn_train_config_canonical(cfg, &oc);
    tr->sched = sched;
    tr->sst = nn_sched_state_initial();
    tr->bs = cfg->batch_size;
    tr->last_lr = sched.lr0;
    tr->cfg.parallel.ranks = ranks;
    nn_rng_seed(&tr->rng, cfg->seed);
    if ((s = nn_optim_create(net, &oc, &tr->opt)))
        goto fail;
    if (pc->shards > 0 && (s = shards_create(tr)))
        goto fail;
    /* Batches of up to PRESIZE rows are sized now; a larger batch size is
     * sized at the first epoch, as min(batch_size, N) rows, so that a huge
     * batch_size (full-batch descent written as 1e9) costs only the data. */
    if ((s = reserve_rows(tr, tr->bs < PRESIZE ? tr->bs : PRESIZE)))
        goto fail;
    *out = tr;
    return NN_OK;
fail:
    nn_trainer_free(tr);
    return s;
}

/* Sizes the per-data-set buffers; allocates only when the size changes. */
static nn_status fit_data(nn_trainer *tr, const nn_dataset *d, int *labels)
{
    if (!d)
        return nn_fail(NN_EINVAL, "train: data set is NULL");
    const int64_t N = nn_dataset_size(d), tcols = nn_dataset_target_cols(d);
    if (nn_dataset_features(d) != nn_net_input_size(tr->net))
        return nn_fail(NN_ESHAPE, "train: data has %lld features, network expects %lld",
                       (long long)nn_dataset_features(d), (long long)nn_net_input_size(tr->net));
    nn_status s = nn_loss_targets(tr->cfg.loss, N, nn_net_output_size(tr->net),
                                  nn_tensor_cdata(nn_dataset_t(d)), tcols, labels);
    if (s)
        return s;
    if (tcols != tr->tcols) {
        nn_xfree(tr->tb);
        tr->tb = nn_xalloc((size_t)(tr->cap * tcols) * sizeof(float));
        tr->tcols = tr->tb ? tcols : 0;
        if (!tr->tb)
            return nn_oom("trainer");
    }
    if ((s = reserve_rows(tr, tr->bs < N ? tr->bs : N)))
        return s;
    if (N != tr->perm_n) {
        nn_xfree(tr->perm);
        tr->perm = nn_xalloc((size_t)N * sizeof *tr->perm);
        tr->perm_n = tr->perm ? N : 0;
        if (!tr->perm)
            return nn_oom("trainer");
    }
    return NN_OK;
}

static float current_lr(const nn_trainer *tr)
{
    return nn_schedule_lr_state(&tr->sched, &tr->sst, tr->cfg.schedule_per_batch ? tr->step : tr->epoch);
}

/* Clipping of the gradient block g (n floats): by value, then by global
 * L2 norm.  The norm is summed serially in double, in index order, so it
 * does not depend on the thread count. */
static void clip_gradients(const nn_train_config *c, float *restrict g, int64_t n)
{
    if (c->clip_value > 0) {
        const float hi = c->clip_value, lo = -c->clip_value;
        for (int64_t i = 0; i < n; i++)
            g[i] = g[i] > hi ? hi : (g[i] < lo ? lo : g[i]);
    }
    if (c->clip_norm > 0) {
        double ss = 0.0;
        for (int64_t i = 0; i < n; i++)
            ss += (double)g[i] * (double)g[i];
        const double norm = sqrt(ss);
        if (norm > c->clip_norm) {
            const float k = (float)(c->clip_norm / norm);
            for (int64_t i = 0; i < n; i++)
                g[i] *= k;
        }
    }
}

/* First row of shard k of a batch of n rows. */
static int64_t shard_lo(int64_t n, int S, int k) { return (int64_t)k * n / S; }

/* The mask stream of shard k at a step: keyed by the network's stream at
 * the step's start and k only, so that a shard draws the same masks on any
 * rank. */
static void shard_stream(nn_rng *r, const nn_rng *base, int k)
{
    nn_rng t = *base;
    nn_rng_seed(r, nn_rng_next(&t) ^ (0x9e3779b97f4a7c15ull * (uint64_t)(k + 1)));
}

static int reduce(const nn_trainer *tr, void *buf, int64_t n, nn_reduce_op op)
{
    const nn_parallel_config *pc = &tr->cfg.parallel;
    return pc->ranks > 1 ? pc->allreduce(buf, n, op, pc->user) : 0;
}

/* A batch of n rows in micro-shard mode, leaving the batch gradient (the
 * exact sum over the shards of every rank) in the network's gradient
 * block and the batch's mean loss in *loss.  xb and tb hold the rows of
 * this rank's shards, from row shard_lo(n, S, k0) of the batch. */
static nn_status shard_step(nn_trainer *tr, const float *xb, const float *tb, int labels, int64_t n,
                            double *loss)
{
    nn_net *net = tr->net;
    const int S = tr->S;
    const int64_t P = nn_net_param_count(net), ns = nn_net_state_count(net), V = tr->V;
    const int64_t in = nn_net_input_size(net), C = nn_net_output_size(net), tcols = tr->tcols;
    const int64_t r0 = shard_lo(n, S, tr->k0), blocks = nn_xsum_blocks(V);
    float *state = nn_net_state(net), *g = nn_net_grads(net);
    nn_rng *mrng = nn_net_mask_rng(net);
    const nn_rng base = *mrng;
    double *losses = tr->acc + V;
    nn_status s;
    if (ns)
        memcpy(tr->state0, state, (size_t)ns * sizeof(float));
    memset(losses, 0, (size_t)S * sizeof(double));
    for (int64_t b = 0; b < blocks; b++)
        tr->exps[b] = NN_XSUM_ZERO;
    for (int k = tr->k0; k < tr->k1; k++) {
        float *v = tr->shard_v + (int64_t)(k - tr->k0) * V;
        const int64_t lo = shard_lo(n, S, k), nk = shard_lo(n, S, k + 1) - lo;
        if (nk == 0) {
            memset(v, 0, (size_t)V * sizeof(float));
            continue;
        }
        shard_stream(mrng, &base, k);
        if (ns)
            memcpy(state, tr->state0, (size_t)ns * sizeof(float));
        const float *y;
        if ((s = nn_net_forward_in(net, xb + (lo - r0) * in, nk, NN_MODE_TRAIN, &y)))
            return s;
        const double lk = nn_loss_raw(tr->cfg.loss, y, tb + (lo - r0) * tcols, labels, tr->dy, nk, C);
        /* The loss of a shard is its rows' mean: weighted by its share of
         * the batch, the shards' gradients add up to the batch's. */
        const float w = (float)((double)nk / (double)n);
        if (nk != n) {
            for (int64_t i = 0; i < nk * C; i++)
                tr->dy[i] *= w;
        }
        nn_net_swap_grads(net, v);
        s = nn_net_backward_raw(net, tr->dy, 0, 0, NULL);
        nn_net_swap_grads(net, g);
        if (s)
            return s;
        for (int64_t j = 0; j < ns; j++)
            v[P + j] = w * (state[j] - tr->state0[j]);
        losses[k] = lk * (double)nk;
        nn_xsum_exponents(v, V, tr->exps);
    }
    if (reduce(tr, tr->exps, blocks, NN_REDUCE_MAX_INT32) < 0)
        return nn_fail(NN_ECANCELLED, "training cancelled: the reduction across ranks failed");
    memset(tr->acc, 0, (size_t)V * sizeof(double));
    nn_xsum_add(tr->shard_v, tr->k1 - tr->k0, V, V, tr->exps, tr->K, tr->acc);
    /* One reduction for the sums and the losses: each loss comes from the
     * one rank that holds its shard, the others add 0. */
    if (reduce(tr, tr->acc, V + S, NN_REDUCE_SUM_DOUBLE) < 0)
        return nn_fail(NN_ECANCELLED, "training cancelled: the reduction across ranks failed");
    nn_xsum_result(tr->acc, V, tr->exps, tr->K, tr->sum_v);
    memcpy(g, tr->sum_v, (size_t)P * sizeof(float));
    for (int64_t j = 0; j < ns; j++)
        state[j] = tr->state0[j] + tr->sum_v[P + j];
    *mrng = base;
    nn_rng_next(mrng);
    double sum = 0.0;
    for (int k = 0; k < S; k++)
        sum += losses[k];
    *loss = sum / (double)n;
    return NN_OK;
}

nn_status nn_train_epoch(nn_trainer *tr, const nn_dataset *data, double *mean_loss, int *stopped)
{
    if (stopped)
        *stopped = 0;
    if (mean_loss)
        *mean_loss = NAN;
    if (!tr)
        return nn_fail(NN_EINVAL, "train: trainer is NULL");
    int labels;
    nn_status s = fit_data(tr, data, &labels);
    if (s)
        return s;
    nn_net *net = tr->net;
    const int64_t N = nn_dataset_size(data), in = nn_dataset_features(data);
    const int64_t tcols = nn_dataset_target_cols(data), C = nn_net_output_size(net);
    /* X is NULL for byte-stored inputs: every batch is then gathered. */
    const float *X = nn_dataset_xf(data), *T = nn_tensor_cdata(nn_dataset_t(data));

    /* The order restarts from identity each epoch, so the shuffle generator
     * is the only state a checkpoint needs to continue exactly. */
    for (int64_t i = 0; i < N; i++)
        tr->perm[i] = i;
    if (tr->cfg.shuffle)
        for (int64_t i = N - 1; i > 0; i--) {
            const int64_t j = (int64_t)nn_rng_below(&tr->rng, (uint64_t)i + 1);
            const int64_t tmp = tr->perm[i];
            tr->perm[i] = tr->perm[j];
            tr->perm[j] = tmp;
        }

    const int64_t bs = tr->bs < N ? tr->bs : N;
    const int64_t batches = (N + bs - 1) / bs;
    double sum = 0.0;
    int64_t seen = 0;
    for (int64_t b = 0; b < batches; b++) {
        const int64_t start = b * bs, n = start + bs <= N ? bs : N - start;
        /* The rows this process works on, [lo, hi) of the batch: all of
         * them, or those of its shards. */
        const int64_t lo = tr->S ? shard_lo(n, tr->S, tr->k0) : 0;
        const int64_t hi = tr->S ? shard_lo(n, tr->S, tr->k1) : n, m = hi - lo;
        const float *xb = X ? X + (start + lo) * in : NULL, *tb = T + (start + lo) * tcols;
        if (tr->cfg.shuffle) {
            for (int64_t r = 0; r < m; r++) {
                const int64_t src = tr->perm[start + lo + r];
                memcpy(tr->tb + r * tcols, T + src * tcols, (size_t)tcols * sizeof(float));
            }
            tb = tr->tb;
        }
        /* Inputs: copied rows (float storage) or converted bytes (compact
         * storage, normalised on the fly); see nn_dataset_gather_x. */
        if (tr->cfg.shuffle || !X) {
            nn_dataset_gather_x(data, tr->cfg.shuffle ? tr->perm + start + lo : NULL, start + lo, m, tr->xb);
            xb = tr->xb;
        }
        const float lr = current_lr(tr);
        double loss = NAN;
        if (tr->S) {
            if ((s = shard_step(tr, xb, tb, labels, n, &loss)))
                return s;
        } else {
            const float *y;
            if ((s = nn_net_forward_in(net, xb, n, NN_MODE_TRAIN, &y)))
                return s;
            loss = nn_loss_raw(tr->cfg.loss, y, tb, labels, tr->dy, n, C);
        }
        /* After the reduction in shard mode: every rank stops here alike. */
        if (!isfinite(loss))
            return nn_fail(NN_EDIVERGED, "training diverged at epoch %lld, batch %lld: loss is %g",
                           (long long)tr->epoch + 1, (long long)b + 1, loss);
        /* Overwriting the gradients replaces nn_net_zero_grad: one pass
         * over the gradient block fewer per step. */
        if (!tr->S && (s = nn_net_backward_raw(net, tr->dy, 0, 0, NULL)))
            return s;
        float *g = nn_net_grads(net);
        const int64_t P = nn_net_param_count(net);
        if (tr->cfg.on_gradients && tr->cfg.on_gradients(g, P, tr->cfg.user) < 0)
            return nn_fail(NN_ECANCELLED, "training cancelled: the gradient hook reported an error");
        clip_gradients(&tr->cfg, g, P);
        if ((s = nn_optim_step(tr->opt, lr)))
            return s;
        nn_team_step(n); /* the rate check (kernels/parallel.h) */
        tr->step++;
        tr->last_lr = lr;
        sum += loss * (double)n;
        seen += n;
        if (tr->cfg.on_batch) {
            nn_batch_stats bst = {tr->epoch, b, batches, n, loss, sum / (double)seen, lr};
            const int r = tr->cfg.on_batch(&bst, tr->cfg.user);
            if (r < 0)
                return nn_fail(NN_ECANCELLED, "training cancelled: the batch callback reported an error");
            if (r > 0) {
                if (stopped)
                    *stopped = 1;
                if (mean_loss)
                    *mean_loss = sum / (double)seen;
                return NN_OK;
            }
        }
    }
    tr->epoch++;
    if (mean_loss)
        *mean_loss = sum / (double)seen;
    return NN_OK;
}

static nn_status evaluate_in(nn_net *net, const nn_dataset *data, nn_loss_kind loss, int64_t batch_size,
                             const nn_parallel_config *pc, nn_eval_result *res);

nn_status nn_train(nn_trainer *tr, const nn_dataset *data, const nn_dataset *val, int64_t epochs,
                   int64_t *done)
{
    if (done)
        *done = 0;
    if (!tr)
        return nn_fail(NN_EINVAL, "train: trainer is NULL");
    if (epochs < 0)
        return nn_fail(NN_EINVAL, "train: epochs must be >= 0, got %lld", (long long)epochs);
    const int plateau = tr->sched.kind == NN_SCHED_PLATEAU;
    if (plateau && !val && tr->sched.metric != NN_METRIC_TRAIN_LOSS)
        return nn_fail(NN_EINVAL, "train: schedule plateau watches %s: give validation data",
                       nn_sched_metric_name(tr->sched.metric));
    for (int64_t e = 0; e < epochs; e++) {
        const double t0 = now_seconds();
        nn_epoch_stats st;
        const int64_t epoch = tr->epoch;
        int stopped = 0;
        nn_status s = nn_train_epoch(tr, data, &st.train_loss, &stopped);
        if (s)
            return s;
        if (stopped)
            return NN_OK;
        if (done)
            (*done)++;
        st.epoch = epoch;
        st.val_loss = st.val_accuracy = NAN;
        if (val) {
            nn_eval_result r;
            if ((s = evaluate_in(tr->net, val, tr->cfg.loss, tr->bs,
                                 tr->cfg.parallel.ranks > 1 ? &tr->cfg.parallel : NULL, &r)))
                return s;
            st.val_loss = r.loss;
            st.val_accuracy = r.accuracy;
        }
        st.lr = tr->last_lr;
        /* Before on_epoch, so that a checkpoint saved there holds the
         * state the next epoch starts from. */
        if (plateau)
            nn_schedule_observe(&tr->sched, &tr->sst,
                                tr->sched.metric == NN_METRIC_VAL_LOSS     ? st.val_loss
                                : tr->sched.metric == NN_METRIC_TRAIN_LOSS ? st.train_loss
                                                                           : st.val_accuracy);
        st.seconds = now_seconds() - t0;
        if (tr->cfg.on_epoch) {
            const int r = tr->cfg.on_epoch(&st, tr->cfg.user);
            if (r < 0)
                return nn_fail(NN_ECANCELLED, "training cancelled: the epoch callback reported an error");
            if (r > 0)
                return NN_OK;
        }
    }
    return NN_OK;
}

int64_t nn_trainer_epoch(const nn_trainer *tr) { return tr ? tr->epoch : 0; }
int64_t nn_trainer_step(const nn_trainer *tr) { return tr ? tr->step : 0; }
nn_optim *nn_trainer_optim(nn_trainer *tr) { return tr ? tr->opt : NULL; }
nn_sched_state *nn_trainer_sched_state(nn_trainer *tr) { return tr ? &tr->sst : NULL; }
nn_sgd *nn_trainer_sgd(nn_trainer *tr)
{
    return tr && nn_optim_config_of(tr->opt).kind == NN_OPTIM_SGD ? tr->opt : NULL;
}
nn_rng *nn_trainer_rng(nn_trainer *tr) { return tr ? &tr->rng : NULL; }
/* For checkpoints (declared in the NN-IO-SECTION of nnrun.h). */
nn_train_config nn_trainer_config(const nn_trainer *tr) { return tr ? tr->cfg : nn_train_defaults(); }
nn_net *nn_trainer_net(const nn_trainer *tr) { return tr ? tr->net : NULL; }

void nn_trainer_set_position(nn_trainer *tr, int64_t epoch, int64_t step)
{
    if (!tr)
        return;
    tr->epoch = epoch > 0 ? epoch : 0;
    tr->step = step > 0 ? step : 0;
}

/* The one evaluation loop: batches of batch_size rows, in order.  With pc
 * (ranks > 1) each rank evaluates a contiguous part of the batches and the
 * per-batch figures (a loss sum, a count) meet through one allreduce, each
 * from the one rank that made it; they are then added in batch order, as
 * one process adds them: the same bits for any rank count. */
static nn_status evaluate_in(nn_net *net, const nn_dataset *data, nn_loss_kind loss, int64_t batch_size,
                             const nn_parallel_config *pc, nn_eval_result *res)
{
    if (!net || !data || !res)
        return nn_fail(NN_EINVAL, "evaluate: NULL argument");
    res->loss = res->accuracy = NAN;
    res->samples = 0;
    if (!nn_loss_name(loss))
        return nn_fail(NN_EINVAL, "evaluate: unknown loss %d", (int)loss);
    if (nn_net_layers(net) == 0)
        return nn_fail(NN_ESTATE, "evaluate: the network has no layers");
    if (batch_size < 0)
        return nn_fail(NN_EINVAL, "evaluate: batch_size must be >= 0, got %lld", (long long)batch_size);
    if (batch_size == 0)
        batch_size = 256;
    const int64_t N = nn_dataset_size(data), in = nn_dataset_features(data);
    const int64_t tcols = nn_dataset_target_cols(data), C = nn_net_output_size(net);
    if (in != nn_net_input_size(net))
        return nn_fail(NN_ESHAPE, "evaluate: data has %lld features, network expects %lld",
                       (long long)in, (long long)nn_net_input_size(net));
    const float *X = nn_dataset_xf(data), *T = nn_tensor_cdata(nn_dataset_t(data));
    int labels;
    nn_status s = nn_loss_targets(loss, N, C, T, tcols, &labels);
    if (s)
        return s;
    const int classify = C >= 2 || loss == NN_LOSS_BCE || loss == NN_LOSS_BCE_LOGITS;
    const float thresh = loss == NN_LOSS_BCE_LOGITS ? 0.0f : 0.5f;
    /* Byte-stored inputs are converted batch by batch into xbuf. */
    float *xbuf = NULL;
    if (!X) {
        const int64_t rows = batch_size < N ? batch_size : N;
        int64_t xn;
        if (!nn_mul_ok(rows, in, &xn) || !(xbuf = nn_xalloc((size_t)xn * sizeof(float))))
            return nn_oom("evaluate");
    }
    const int64_t nb = (N + batch_size - 1) / batch_size;
    int64_t b0 = 0, b1 = nb;
    double *parts = NULL; /* (nb, 2): loss sum, correct count per batch */
    if (pc) {
        b0 = (int64_t)pc->rank * nb / pc->ranks;
        b1 = (int64_t)(pc->rank + 1) * nb / pc->ranks;
        if ((uint64_t)nb > SIZE_MAX / (2 * sizeof(double)) ||
            !(parts = nn_xcalloc((size_t)(2 * nb), sizeof(double)))) {
            nn_xfree(xbuf);
            return nn_oom("evaluate");
        }
    }
    double sum = 0.0;
    int64_t correct = 0;
    for (int64_t bi = b0; bi < b1; bi++) {
        const int64_t start = bi * batch_size, n = start + batch_size <= N ? batch_size : N - start;
        const float *y;
        if (xbuf)
            nn_dataset_gather_x(data, NULL, start, n, xbuf);
        if ((s = nn_net_forward_in(net, xbuf ? xbuf : X + start * in, n, NN_MODE_EVAL, &y))) {
            nn_xfree(xbuf);
            nn_xfree(parts);
            return s;
        }
        const float *tb = T + start * tcols;
        const double part = nn_loss_raw(loss, y, tb, labels, NULL, n, C) * (double)n;
        int64_t hits = 0;
        for (int64_t r = 0; classify && r < n; r++) {
            if (C >= 2) {
                const int64_t cls = tcols == 1 ? (int64_t)tb[r] : nn_argmax(tb + r * tcols, tcols);
                hits += nn_argmax(y + r * C, C) == cls;
            } else {
                hits += (y[r] > thresh) == (tb[r] > 0.5f);
            }
        }
        if (parts) {
            parts[2 * bi] = part;
            parts[2 * bi + 1] = (double)hits;
        } else {
            sum += part;
            correct += hits;
        }
    }
    nn_xfree(xbuf);
    if (parts) {
        if (pc->allreduce(parts, 2 * nb, NN_REDUCE_SUM_DOUBLE, pc->user) < 0) {
            nn_xfree(parts);
            return nn_fail(NN_ECANCELLED, "evaluate: the reduction across ranks failed");
        }
        for (int64_t bi = 0; bi < nb; bi++) {
            sum += parts[2 * bi];
            correct += (int64_t)parts[2 * bi + 1];
        }
        nn_xfree(parts);
    }
    res->samples = N;
    res->loss = sum / (double)N;
    res->accuracy = classify ? (double)correct / (double)N : NAN;
    return NN_OK;
}

nn_status nn_evaluate(nn_net *net, const nn_dataset *data, nn_loss_kind loss, int64_t batch_size,
                      nn_eval_result *res)
{
    return evaluate_in(net, data, loss, batch_size, NULL, res);
}
