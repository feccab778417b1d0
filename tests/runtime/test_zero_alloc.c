/* test_zero_alloc.c — after the first epoch, training allocates nothing.
 *
 * Every allocation of the library goes through the allocator hook, so a
 * counting allocator (testutil.h) sees them all.  For a few configurations
 * (cross-entropy with a partial last batch, MSE on a full batch with
 * Nesterov momentum, a network with dropout, batchnorm, layernorm and gelu
 * layers, a CNN with conv2d, batchnorm and pooling, each other optimiser
 * with gradient clipping by value and by norm;
 * 1 and 2 threads, so the parallel matrix products run too) we train one epoch, reset the count, train a dozen more epochs and
 * require zero allocations and zero releases.
 */
#include "testutil.h"

/* n rows of `features` uniform inputs; labels in [0, classes) or, with
 * onehot, one-hot rows of width classes. */
static nn_dataset *make_data(int64_t n, int64_t features, int64_t classes, int onehot)
{
    const int64_t tc = onehot ? classes : 1;
    float *x = malloc((size_t)(n * features) * sizeof(float));
    float *t = calloc((size_t)(n * tc), sizeof(float));
    nn_tensor *xt = NULL, *tt = NULL;
    nn_dataset *d = NULL;
    if (!x || !t)
        return NULL;
    for (int64_t i = 0; i < n * features; i++)
        x[i] = (float)tu_uniform(-1.0, 1.0);
    for (int64_t i = 0; i < n; i++) {
        const int64_t c = (int64_t)tu_uniform(0.0, (double)classes) % classes;
        if (onehot)
            t[i * tc + c] = 1.0f;
        else
            t[i] = (float)c;
    }
    CHECK_OK(nn_tensor_from(n, features, x, &xt));
    CHECK_OK(nn_tensor_from(n, tc, t, &tt));
    CHECK_OK(nn_dataset_create(xt, tt, &d));
    nn_tensor_free(xt);
    nn_tensor_free(tt);
    free(x);
    free(t);
    return d;
}

typedef struct config {
    const char *name;
    nn_loss_kind loss;
    int64_t batch; /* 0: the whole data set */
    int nesterov;
    int layers; /* 1: dropout, batchnorm, layernorm and gelu too; 2: a CNN */
    nn_optim_kind optim; /* UNSET: SGD through the deprecated .sgd */
} config;

static nn_status add(nn_net *net, const char *kind, const char *key, double num, const char *str)
{
    nn_value v = {num, str, {NN_INIT_ZEROS, 0, 0}};
    const nn_layer_spec spec = {kind, key ? 1 : 0, &key, &v};
    return nn_net_add(net, &spec);
}

static void run(const config *c, int threads)
{
    /* Wide enough layers that nn_gemm takes its blocked, parallel path. */
    const int64_t n = 150, features = 90, hidden1 = 128, hidden2 = 80, classes = 5;
    tu_alloc_install(0);
    CHECK_OK(nn_set_threads(threads));
    nn_dataset *d = make_data(n, features, classes, c->loss == NN_LOSS_MSE);
    nn_net *net = NULL;
    nn_trainer *tr = NULL;
    CHECK_OK(nn_net_create(11, &net));
    if (c->layers == 2) {
        /* the 90 features as 1x9x10 images: conv2d, batchnorm over
         * channels, maxpool, conv2d at stride 2, avgpool, global_avgpool,
         * flatten, dense */
        CHECK_OK(nn_net_set_input(net, 1, 9, 10));
        const char *ck[] = {"filters", "kernel", "padding"};
        const nn_value v1[] = {{16, NULL, {0, 0, 0}}, {3, NULL, {0, 0, 0}}, {1, NULL, {0, 0, 0}}};
        CHECK_OK(nn_net_add(net, &(nn_layer_spec){"conv2d", 3, ck, v1}));
        CHECK_OK(add(net, "batchnorm", NULL, 0, NULL));
        CHECK_OK(nn_net_add_activation(net, NN_ACT_RELU, 0.0f));
        CHECK_OK(add(net, "maxpool", "size", 2, NULL));
        const char *ck2[] = {"filters", "kernel", "stride", "padding"};
        const nn_value v2[] = {{24, NULL, {0, 0, 0}}, {3, NULL, {0, 0, 0}}, {1, NULL, {0, 0, 0}}, {1, NULL, {0, 0, 0}}};
        CHECK_OK(nn_net_add(net, &(nn_layer_spec){"conv2d", 4, ck2, v2}));
        CHECK_OK(add(net, "avgpool", "stride", 1, NULL));
        CHECK_OK(add(net, "global_avgpool", NULL, 0, NULL));
        CHECK_OK(add(net, "flatten", NULL, 0, NULL));
        CHECK_OK(nn_net_add_dense(net, 24, classes, NULL, NULL));
    } else {
        CHECK_OK(nn_net_add_dense(net, features, hidden1, NULL, NULL));
        if (c->layers)
            CHECK_OK(add(net, "batchnorm", NULL, 0, NULL));
        CHECK_OK(nn_net_add_activation(net, NN_ACT_RELU, 0.0f));
        if (c->layers)
            CHECK_OK(add(net, "dropout", "p", 0.3, NULL));
        CHECK_OK(nn_net_add_dense(net, hidden1, hidden2, NULL, NULL));
        if (c->layers) {
            CHECK_OK(add(net, "layernorm", NULL, 0, NULL));
            CHECK_OK(add(net, "activation", "name", 0, "gelu"));
        }
        CHECK_OK(nn_net_add_activation(net, NN_ACT_TANH, 0.0f));
        CHECK_OK(nn_net_add_dense(net, hidden2, classes, NULL, NULL));
    }
    nn_train_config cfg = nn_train_defaults();
    cfg.loss = c->loss;
    cfg.sgd.lr = 0.01f;
    cfg.sgd.momentum = 0.9f;
    cfg.sgd.nesterov = c->nesterov;
    if (c->optim != NN_OPTIM_UNSET) {
        cfg.optim = nn_optim_defaults(c->optim);
        cfg.optim.lr = 0.001f;
        cfg.clip_value = 0.5f;
        cfg.clip_norm = 1.0f;
    }
    cfg.batch_size = c->batch ? c->batch : n;
    cfg.seed = 5;
    CHECK_OK(nn_trainer_create(net, &cfg, &tr));
    if (d && tr) {
        CHECK_OK(nn_train_epoch(tr, d, NULL, NULL)); /* may size buffers */
        const long before_calls = tu_alloc.calls, before_live = tu_alloc.live;
        for (int e = 0; e < 12; e++)
            CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
        CHECK_MSG(tu_alloc.calls == before_calls,
                  "%s, %d threads: %ld allocations in 12 epochs after the first, expected 0",
                  c->name, threads, tu_alloc.calls - before_calls);
        CHECK_MSG(tu_alloc.live == before_live,
                  "%s, %d threads: %ld blocks released in 12 epochs after the first, expected 0",
                  c->name, threads, before_live - tu_alloc.live);
    }
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_dataset_free(d);
    CHECK_MSG(tu_alloc.live == 0, "%s: %ld blocks leaked", c->name, tu_alloc.live);
    tu_alloc_remove();
}

int main(void)
{
    tu_seed(3);
    const config configs[] = {
        {"cross-entropy, batch 32 (last batch partial)", NN_LOSS_CROSS_ENTROPY, 32, 0, 0, NN_OPTIM_UNSET},
        {"mse, full batch, nesterov", NN_LOSS_MSE, 0, 1, 0, NN_OPTIM_UNSET},
        {"dropout, batchnorm, layernorm, gelu; batch 32", NN_LOSS_CROSS_ENTROPY, 32, 0, 1, NN_OPTIM_UNSET},
        {"adam, clipped", NN_LOSS_CROSS_ENTROPY, 32, 0, 0, NN_OPTIM_ADAM},
        {"adamw, clipped, with the normalisation layers", NN_LOSS_CROSS_ENTROPY, 32, 0, 1, NN_OPTIM_ADAMW},
        {"rmsprop, clipped", NN_LOSS_CROSS_ENTROPY, 32, 0, 0, NN_OPTIM_RMSPROP},
        {"a CNN (conv2d, batchnorm, pooling), batch 32", NN_LOSS_CROSS_ENTROPY, 32, 0, 2, NN_OPTIM_UNSET},
        {"adagrad, clipped", NN_LOSS_MSE, 0, 0, 0, NN_OPTIM_ADAGRAD},
    };
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++)
        for (int t = 1; t <= 2; t++)
            run(&configs[i], t);
    return tu_finish();
}
