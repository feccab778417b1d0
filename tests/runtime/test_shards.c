/* test_shards.c — data-parallel training in micro-shards without MPI: R
 * ranks simulated by R host threads (pthreads) in one process, each with
 * its own network, data and trainer, joined by an allreduce over shared
 * memory that adds the ranks' buffers in a different order on every rank.
 *
 * Checked: for batch sizes that do and do not divide by the shard count
 * (some below it, so shards are empty), R = 1, 2, 3, 6 ranks give the same
 * bits on every rank and for every R: weights, non-trainable state
 * (batchnorm's running statistics), the mask stream, every epoch's train
 * and validation loss and accuracy; with dropout, Gaussian noise and
 * batchnorm in the network and Adam as the optimiser.  One process alone
 * (ranks 1, no allreduce) gives the same.  The gradient of the shards'
 * sum is the batch's gradient; bad settings are refused with their
 * message.  nn_evaluate_metrics split over 2-4 ranks gives the figures of
 * one process, bit for bit (classification and regression).
 */
#define _POSIX_C_SOURCE 200809L /* pthread_barrier_t */
#include <pthread.h>

#include "testutil.h"
#include "xsum.h"

enum { EPOCHS = 3, SHARDS = 6, MAX_RANKS = 6 };

/* The shared memory of one simulated job. */
typedef struct world {
    int ranks;
    pthread_barrier_t bar;
    void *bufs[MAX_RANKS];
    int failed;
} world;

typedef struct rank_job {
    world *w;
    int rank;
    int64_t batch;
    void *tmp; /* this rank's reduction result, as large as any buffer */
    /* out */
    nn_status status;
    char where[200];
    float *params, *state;
    int64_t count, state_size;
    uint64_t mask[4];
    double train[EPOCHS], val[EPOCHS], acc[EPOCHS];
    int epochs;
} rank_job;

enum { TMP_BYTES = 1 << 20 };

/* Everyone's buf into this rank's, added from rank `rank` round (so the
 * ranks add in different orders); nobody overwrites a buf before all have
 * read it. */
static int sim_allreduce(void *buf, int64_t n, nn_reduce_op op, void *user)
{
    rank_job *j = user;
    world *w = j->w;
    const size_t esz = op == NN_REDUCE_MAX_INT32 ? sizeof(int32_t) : sizeof(double);
    if ((size_t)n * esz > TMP_BYTES)
        return -1;
    w->bufs[j->rank] = buf;
    pthread_barrier_wait(&w->bar);
    for (int i = 0; i < w->ranks; i++) {
        const int r = (j->rank + i) % w->ranks;
        for (int64_t k = 0; k < n; k++) {
            if (op == NN_REDUCE_MAX_INT32) {
                const int32_t v = ((const int32_t *)w->bufs[r])[k];
                int32_t *t = (int32_t *)j->tmp + k;
                *t = i == 0 || v > *t ? v : *t;
            } else {
                const double v = ((const double *)w->bufs[r])[k];
                double *t = (double *)j->tmp + k;
                *t = i == 0 ? v : *t + v;
            }
        }
    }
    pthread_barrier_wait(&w->bar);
    memcpy(buf, j->tmp, (size_t)n * esz);
    return 0;
}

static int on_epoch(const nn_epoch_stats *s, void *user)
{
    rank_job *j = user;
    j->train[s->epoch] = s->train_loss;
    j->val[s->epoch] = s->val_loss;
    j->acc[s->epoch] = s->val_accuracy;
    j->epochs++;
    return 0;
}

static void add_layer(rank_job *j, nn_net *net, const char *kind, const char *key, double v)
{
    const char *keys[] = {key};
    nn_value val;
    memset(&val, 0, sizeof val);
    val.num = v;
    const nn_layer_spec spec = {kind, key ? 1 : 0, keys, &val};
    TRY(j, nn_net_add(net, &spec));
}

/* dense 64->24, batchnorm, relu, dropout, gaussian noise, dense 24->4. */
static nn_net *make_net(rank_job *j)
{
    nn_net *net = NULL;
    TRY(j, nn_net_create(5, &net));
    if (!net)
        return NULL;
    TRY(j, nn_net_add_dense(net, 64, 24, NULL, NULL));
    add_layer(j, net, "batchnorm", NULL, 0);
    TRY(j, nn_net_add_activation(net, NN_ACT_RELU, 0.0f));
    add_layer(j, net, "dropout", "p", 0.25);
    add_layer(j, net, "gaussian_noise", "stddev", 0.05);
    TRY(j, nn_net_add_dense(net, 24, 4, NULL, NULL));
    return net;
}

static void run_rank(rank_job *j)
{
    nn_dataset *all = NULL, *train = NULL, *val = NULL;
    nn_trainer *tr = NULL;
    TRY(j, nn_data_digits03(13, 0.1f, 3, &all)); /* 52 rows */
    TRY(j, nn_dataset_split(all, 0.25, 9, 0, &train, &val));
    nn_net *net = make_net(j);
    nn_train_config c = nn_train_defaults();
    c.loss = NN_LOSS_CROSS_ENTROPY;
    c.optim = nn_optim_defaults(NN_OPTIM_ADAM);
    c.optim.lr = 0.01f;
    c.batch_size = j->batch;
    c.seed = 11;
    c.on_epoch = on_epoch;
    c.user = j;
    c.parallel.shards = SHARDS;
    c.parallel.rank = j->rank;
    c.parallel.ranks = j->w ? j->w->ranks : 1;
    c.parallel.allreduce = j->w ? sim_allreduce : NULL;
    c.parallel.user = j;
    if (j->status == NN_OK)
        TRY(j, nn_trainer_create(net, &c, &tr));
    /* A rank that failed to start would leave the others waiting in the
     * allreduce: this test then reports and exits instead. */
    if (j->status == NN_OK)
        TRY(j, nn_train(tr, train, val, EPOCHS, NULL));
    if (j->status == NN_OK) {
        j->count = nn_net_param_count(net);
        j->state_size = nn_net_state_count(net);
        j->params = malloc((size_t)j->count * sizeof(float));
        j->state = malloc((size_t)j->state_size * sizeof(float));
        memcpy(j->params, nn_net_params(net), (size_t)j->count * sizeof(float));
        memcpy(j->state, nn_net_state(net), (size_t)j->state_size * sizeof(float));
        memcpy(j->mask, nn_net_mask_rng(net)->s, sizeof j->mask);
    }
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_dataset_free(all);
    nn_dataset_free(train);
    nn_dataset_free(val);
}

static void *thread_main(void *arg)
{
    rank_job *j = arg;
    nn_set_threads(1);
    run_rank(j);
    return NULL;
}

static void free_job(rank_job *j)
{
    free(j->params);
    free(j->state);
    free(j->tmp);
}

/* Runs fn on R threads, the ranks of one world: fn(job r) with job r at
 * jobs + r size, whose leading rank_job gets the world, its rank and its
 * reduction buffer (freed by the caller). */
static void run_world(int R, void *(*fn)(void *), void *jobs, size_t size)
{
    world w;
    memset(&w, 0, sizeof w);
    w.ranks = R;
    pthread_barrier_init(&w.bar, NULL, (unsigned)R);
    pthread_t th[MAX_RANKS];
    for (int r = 0; r < R; r++) {
        rank_job *j = (rank_job *)((char *)jobs + (size_t)r * size);
        j->w = &w;
        j->rank = r;
        j->tmp = malloc(TMP_BYTES);
        pthread_create(&th[r], NULL, fn, j);
    }
    for (int r = 0; r < R; r++)
        pthread_join(th[r], NULL);
    pthread_barrier_destroy(&w.bar);
}

/* a and b hold the same bits (what: the run b is, for messages). */
static void check_same(const rank_job *a, const rank_job *b, const char *what)
{
    CHECK_MSG(b->status == NN_OK, "%s failed: %s", what, b->where);
    if (b->status != NN_OK || a->status != NN_OK)
        return;
    CHECK_INT(a->count, b->count);
    CHECK_INT(a->state_size, b->state_size);
    CHECK_INT(EPOCHS, b->epochs);
    CHECK_MSG(memcmp(a->params, b->params, (size_t)a->count * sizeof(float)) == 0, "%s: weights differ", what);
    CHECK_MSG(memcmp(a->state, b->state, (size_t)a->state_size * sizeof(float)) == 0,
              "%s: running statistics differ", what);
    CHECK_MSG(memcmp(a->mask, b->mask, sizeof a->mask) == 0, "%s: mask stream differs", what);
    CHECK_MSG(memcmp(a->train, b->train, sizeof a->train) == 0, "%s: train losses differ", what);
    CHECK_MSG(memcmp(a->val, b->val, sizeof a->val) == 0, "%s: validation losses differ", what);
    CHECK_MSG(memcmp(a->acc, b->acc, sizeof a->acc) == 0, "%s: validation accuracies differ", what);
}

static void test_rank_counts(int64_t batch)
{
    /* The reference: one process, no allreduce. */
    rank_job ref;
    memset(&ref, 0, sizeof ref);
    ref.batch = batch;
    nn_set_threads(1);
    run_rank(&ref);
    CHECK_MSG(ref.status == NN_OK, "batch %lld, one process: %s", (long long)batch, ref.where);
    CHECK(ref.status != NN_OK || isfinite(ref.train[EPOCHS - 1]));
    static const int counts[] = {1, 2, 3, 6};
    for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
        const int R = counts[ci];
        rank_job jobs[MAX_RANKS];
        memset(jobs, 0, sizeof jobs);
        for (int r = 0; r < R; r++)
            jobs[r].batch = batch;
        run_world(R, thread_main, jobs, sizeof jobs[0]);
        for (int r = 0; r < R; r++) {
            char what[64];
            snprintf(what, sizeof what, "batch %lld, rank %d of %d", (long long)batch, r, R);
            check_same(&ref, &jobs[r], what);
            free_job(&jobs[r]);
        }
    }
    free_job(&ref);
}

/* The gradient hook keeps the gradient of the first step. */
typedef struct grab {
    float g[64];
    int64_t n;
    int calls;
} grab;

static int keep_first(float *g, int64_t n, void *user)
{
    grab *k = user;
    if (k->calls++ == 0 && n <= 64) {
        memcpy(k->g, g, (size_t)n * sizeof(float));
        k->n = n;
    }
    return 0;
}

/* One full batch of 7 rows (XOR and three repeats) in 0 (off), 1, 3 and 5
 * shards: the same gradient to float rounding.  The rows' contributions
 * are summed in different groupings, each rounded to float once or twice,
 * so they agree to a few ulps of the largest term; 1e-5 relative to the
 * largest gradient leaves room for that and for nothing else. */
static void test_gradient_is_the_batch_gradient(void)
{
    grab ref;
    memset(&ref, 0, sizeof ref);
    static const int shard_counts[] = {0, 1, 3, 5, 7};
    for (size_t si = 0; si < sizeof shard_counts / sizeof shard_counts[0]; si++) {
        rank_job j;
        memset(&j, 0, sizeof j);
        nn_dataset *d = NULL;
        nn_tensor *x = NULL, *t = NULL;
        const float xs[7][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 1}, {1, 1}, {0.5f, 0.25f}};
        const float ts[7] = {0, 1, 1, 0, 1, 0, 0.75f};
        TRY(&j, nn_tensor_from(7, 2, &xs[0][0], &x));
        TRY(&j, nn_tensor_from(7, 1, ts, &t));
        TRY(&j, nn_dataset_create(x, t, &d));
        nn_net *net = NULL;
        TRY(&j, nn_net_create(3, &net));
        TRY(&j, nn_net_add_dense(net, 2, 5, NULL, NULL));
        TRY(&j, nn_net_add_activation(net, NN_ACT_TANH, 0.0f));
        TRY(&j, nn_net_add_dense(net, 5, 1, NULL, NULL));
        grab k;
        memset(&k, 0, sizeof k);
        nn_train_config c = nn_train_defaults();
        c.batch_size = 7;
        c.shuffle = 0;
        c.on_gradients = keep_first;
        c.user = &k;
        c.parallel.shards = shard_counts[si];
        nn_trainer *tr = NULL;
        TRY(&j, nn_trainer_create(net, &c, &tr));
        TRY(&j, nn_train_epoch(tr, d, NULL, NULL));
        CHECK_MSG(j.status == NN_OK, "shards %d: %s", shard_counts[si], j.where);
        CHECK_INT(21, k.n);
        if (si == 0) {
            ref = k;
        } else {
            float big = 0;
            for (int64_t i = 0; i < ref.n; i++)
                big = fabsf(ref.g[i]) > big ? fabsf(ref.g[i]) : big;
            for (int64_t i = 0; i < ref.n; i++)
                CHECK_MSG(fabsf(k.g[i] - ref.g[i]) <= 1e-5f * big, "shards %d: gradient %lld is %.9g, batch %.9g",
                          shard_counts[si], (long long)i, (double)k.g[i], (double)ref.g[i]);
        }
        nn_trainer_free(tr);
        nn_net_free(net);
        nn_dataset_free(d);
        nn_tensor_free(x);
        nn_tensor_free(t);
    }
}

/* The exact sum itself: any order of adding gives the same bits, and the
 * result is the correctly rounded sum where the terms are exact multiples
 * of the block's unit. */
static void test_exact_sum(void)
{
    enum { V = 300, S = 5 };
    static float v[S][V];
    nn_rng r;
    nn_rng_seed(&r, 1);
    for (int k = 0; k < S; k++)
        for (int i = 0; i < V; i++)
            v[k][i] = (float)(nn_rng_normal(&r) * ldexp(1.0, (int)(nn_rng_below(&r, 40)) - 20));
    v[2][7] = 0; /* a zero among the others */
    const int64_t nb = nn_xsum_blocks(V);
    CHECK_INT(2, nb);
    int32_t e[2] = {NN_XSUM_ZERO, NN_XSUM_ZERO};
    for (int k = 0; k < S; k++)
        nn_xsum_exponents(v[k], V, e);
    const int K = nn_xsum_bits(S);
    CHECK_INT(50, K);
    static double fwd[V], rev[V];
    static float a[V], b[V];
    memset(fwd, 0, sizeof fwd);
    memset(rev, 0, sizeof rev);
    nn_xsum_add(v[0], S, V, V, e, K, fwd);
    for (int k = S - 1; k >= 0; k--)
        nn_xsum_add(v[k], 1, V, V, e, K, rev);
    nn_xsum_result(fwd, V, e, K, a);
    nn_xsum_result(rev, V, e, K, b);
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* Against a long-double sum: within one float rounding. */
    for (int i = 0; i < V; i++) {
        long double s = 0;
        for (int k = 0; k < S; k++)
            s += v[k][i];
        CHECK_MSG(fabsl((long double)a[i] - s) <= fabsl(s) * 0x1p-23L + ldexpl(1.0L, e[i / NN_SHARD_BLOCK] - K),
                  "value %d: %.9g vs %.12Lg", i, (double)a[i], s);
    }
    /* An all-zero block stays zero; a NaN makes its block NaN. */
    static float z[V];
    memset(z, 0, sizeof z);
    int32_t ez[2] = {NN_XSUM_ZERO, NN_XSUM_ZERO};
    z[299] = NAN;
    nn_xsum_exponents(z, V, ez);
    CHECK_INT(NN_XSUM_ZERO, ez[0]);
    CHECK_INT(NN_XSUM_NONFINITE, ez[1]);
    memset(fwd, 0, sizeof fwd);
    nn_xsum_add(z, 1, V, V, ez, K, fwd);
    nn_xsum_result(fwd, V, ez, K, a);
    CHECK(a[0] == 0.0f && a[255] == 0.0f && isnan(a[256]) && isnan(a[299]));
}

static void test_refusals(void)
{
    nn_net *net = NULL;
    nn_trainer *tr = NULL;
    CHECK_OK(nn_net_create(1, &net));
    CHECK_OK(nn_net_add_dense(net, 2, 1, NULL, NULL));
    nn_train_config c = nn_train_defaults();
    c.parallel.ranks = 3;
    c.parallel.shards = 2;
    c.parallel.allreduce = sim_allreduce;
    CHECK_STATUS(NN_EINVAL, nn_trainer_create(net, &c, &tr));
    CHECK_STR("trainer: 3 ranks need parallel.shards >= 3 (one rank per shard at most), got 2", nn_last_error());
    c.parallel.shards = 0;
    CHECK_STATUS(NN_EINVAL, nn_trainer_create(net, &c, &tr));
    CHECK_STR("trainer: 3 ranks need parallel.shards >= 3 (one rank per shard at most), got 0", nn_last_error());
    c.parallel.shards = NN_MAX_SHARDS + 1;
    CHECK_STATUS(NN_EINVAL, nn_trainer_create(net, &c, &tr));
    CHECK_STR("trainer: parallel.shards must be in [0, 1024], got 1025", nn_last_error());
    c.parallel.shards = 4;
    c.parallel.rank = 3;
    CHECK_STATUS(NN_EINVAL, nn_trainer_create(net, &c, &tr));
    CHECK_STR("trainer: parallel.rank 3 outside [0, 3)", nn_last_error());
    c.parallel.rank = 0;
    c.parallel.allreduce = NULL;
    CHECK_STATUS(NN_EINVAL, nn_trainer_create(net, &c, &tr));
    CHECK_STR("trainer: 3 ranks need parallel.allreduce", nn_last_error());
    CHECK(tr == NULL);
    nn_net_free(net);
}

/* Metrics over simulated ranks: each computes its batches' outputs, all
 * compute the figures; they must be those of one process, bit for bit. */
typedef struct metrics_job {
    rank_job r; /* world, rank, tmp; status and where */
    int regression;
    nn_metrics *m;
} metrics_job;

static void metrics_run(metrics_job *j)
{
    nn_dataset *d = NULL;
    nn_net *net = NULL;
    rank_job *r = &j->r;
    nn_parallel_config pc = {0, r->rank, r->w ? r->w->ranks : 1, r->w ? sim_allreduce : NULL, r};
    nn_metrics_options o = {7, 3, r->w ? &pc : NULL}; /* batches of 7: a partial last one */
    if (j->regression) {
        TRY(r, nn_data_curve(40, 0.1f, 2, &d));
        TRY(r, nn_net_create(4, &net));
        TRY(r, nn_net_add_dense(net, 1, 8, NULL, NULL));
        TRY(r, nn_net_add_activation(net, NN_ACT_TANH, 0.0f));
        TRY(r, nn_net_add_dense(net, 8, 1, NULL, NULL));
    } else {
        TRY(r, nn_data_digits03(11, 0.2f, 6, &d));
        net = make_net(r);
    }
    if (r->status == NN_OK)
        TRY(r, nn_evaluate_metrics(net, d, j->regression ? NN_LOSS_MSE : NN_LOSS_CROSS_ENTROPY, &o, &j->m));
    nn_net_free(net);
    nn_dataset_free(d);
}

static void *metrics_thread(void *arg)
{
    nn_set_threads(1);
    metrics_run(arg);
    return NULL;
}

static void test_split_metrics(int regression)
{
    metrics_job ref;
    memset(&ref, 0, sizeof ref);
    ref.regression = regression;
    metrics_run(&ref);
    CHECK_MSG(ref.r.status == NN_OK, "one process: %s", ref.r.where);
    for (int R = 2; R <= 4; R++) {
        metrics_job jobs[MAX_RANKS];
        memset(jobs, 0, sizeof jobs);
        for (int r = 0; r < R; r++)
            jobs[r].regression = regression;
        run_world(R, metrics_thread, jobs, sizeof jobs[0]);
        for (int r = 0; r < R; r++) {
            const nn_metrics *a = ref.m, *b = jobs[r].m;
            CHECK_MSG(jobs[r].r.status == NN_OK, "rank %d of %d: %s", r, R, jobs[r].r.where);
            if (a && b) {
                CHECK_MSG(memcmp(&a->loss, &b->loss, sizeof a->loss) == 0, "rank %d of %d: loss %.17g vs %.17g",
                          r, R, b->loss, a->loss);
                CHECK_MSG(memcmp(&a->accuracy, &b->accuracy, sizeof(double)) == 0 &&
                              memcmp(&a->top_k_accuracy, &b->top_k_accuracy, sizeof(double)) == 0 &&
                              memcmp(&a->macro_f1, &b->macro_f1, sizeof(double)) == 0 &&
                              memcmp(&a->mse, &b->mse, sizeof(double)) == 0 &&
                              memcmp(&a->mae, &b->mae, sizeof(double)) == 0 &&
                              memcmp(&a->r2, &b->r2, sizeof(double)) == 0,
                          "rank %d of %d: figures differ", r, R);
                CHECK(!a->confusion || memcmp(a->confusion, b->confusion,
                                              (size_t)(a->classes * a->classes) * sizeof(int64_t)) == 0);
            }
            nn_metrics_free(jobs[r].m);
            free(jobs[r].r.tmp);
        }
    }
    CHECK(regression ? isfinite(ref.m->r2) : ref.m->classification);
    nn_metrics_free(ref.m);
}

int main(void)
{
    test_split_metrics(0);
    test_split_metrics(1);
    test_exact_sum();
    test_refusals();
    test_gradient_is_the_batch_gradient();
    test_rank_counts(5);  /* below the shard count: one shard empty */
    test_rank_counts(8);  /* does not divide: shards of 1 and 2 rows */
    test_rank_counts(12); /* divides */
    return tu_finish();
}
