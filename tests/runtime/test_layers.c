/* test_layers.c — the layer registry and the kinds beyond dense:
 * activation layers (gelu, elu, silu, softplus among them), dropout,
 * batchnorm and layernorm.
 *
 * - gradients of every kind (gaussian_noise too), in train and eval mode, against central
 *   differences at odd sizes (B = 3, dense 5 -> 4 -> kind -> 3), for the
 *   input and for every parameter of the network;
 * - train/eval behaviour: dropout is the identity in eval mode, batchnorm
 *   uses its running statistics there, nn_evaluate runs in eval mode and
 *   restores the mode;
 * - one training run at 1 and 4 threads, compared with memcmp (weights,
 *   state, mask stream);
 * - exact resume through a checkpoint (weights, running statistics, mask
 *   stream and trainer);
 * - the exported parameter specs and the errors of nn_net_add;
 * - a checkpoint of format version 1 (written by nnrun before the
 *   registry, tests/e2e/v1/run/model.nnrun) loads, evaluates and resumes.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

static nn_status add(nn_net *net, const char *kind, int n, const char *const *keys, const nn_value *v)
{
    const nn_layer_spec spec = {kind, n, keys, v};
    return nn_net_add(net, &spec);
}
static nn_status add1(nn_net *net, const char *kind, const char *key, double num, const char *str)
{
    const nn_value v = {num, str, {NN_INIT_ZEROS, 0, 0}};
    return add(net, kind, key ? 1 : 0, &key, &v);
}

enum { B = 3, IN = 5, H = 4, OUT = 3 };

/* dense(5, 4) -> the layer under test -> dense(4, 3). */
static nn_net *sandwich(const char *kind, const char *key, double num, const char *str)
{
    nn_net *net = NULL;
    const nn_init w = {NN_INIT_UNIFORM, -0.8f, 0.8f}, b = {NN_INIT_UNIFORM, -0.3f, 0.3f};
    CHECK_OK(nn_net_create(7, &net));
    CHECK_OK(nn_net_add_dense(net, IN, H, &w, &b));
    CHECK_OK(add1(net, kind, key, num, str));
    CHECK_OK(nn_net_add_dense(net, H, OUT, &w, &b));
    return net;
}

/* L = sum r .* y for a fixed r: dL/dy = r.  The mask stream is rewound
 * before every forward, so dropout applies the same mask each time. */
typedef struct gc {
    nn_net *net;
    nn_tensor *x;
    float r[B * OUT];
    nn_rng mask;
} gc;

static double loss_of(void *ctx)
{
    gc *g = ctx;
    *nn_net_mask_rng(g->net) = g->mask;
    const nn_tensor *y;
    if (nn_net_forward(g->net, g->x, &y) != NN_OK)
        return NAN;
    double L = 0.0;
    for (int i = 0; i < B * OUT; i++)
        L += (double)g->r[i] * nn_tensor_cdata(y)[i];
    return L;
}

static void gradcheck(const char *what, nn_net *net, nn_mode mode)
{
    gc g;
    g.net = net;
    float xv[B * IN];
    for (int i = 0; i < B * IN; i++)
        xv[i] = (float)tu_uniform(-1.5, 1.5);
    for (int i = 0; i < B * OUT; i++)
        g.r[i] = (float)tu_uniform(-1.0, 1.0);
    CHECK_OK(nn_tensor_from(B, IN, xv, &g.x));
    CHECK_OK(nn_net_set_mode(net, mode));
    g.mask = *nn_net_mask_rng(net);
    /* Eval-mode batchnorm: running statistics away from their initial
     * values, so that the check covers them. */
    float *st = nn_net_state(net);
    for (int64_t i = 0; i < nn_net_state_count(net); i++)
        st[i] = i < nn_net_state_count(net) / 2 ? (float)tu_uniform(-0.5, 0.5) : (float)tu_uniform(0.5, 2.0);

    const nn_tensor *y, *dx;
    nn_tensor *dy = NULL;
    CHECK_OK(nn_tensor_from(B, OUT, g.r, &dy));
    *nn_net_mask_rng(net) = g.mask;
    nn_net_zero_grad(net);
    CHECK_OK(nn_net_forward(net, g.x, &y));
    CHECK_OK(nn_net_backward(net, dy, &dx));
    float gx[B * IN];
    memcpy(gx, nn_tensor_cdata(dx), sizeof gx);
    const int64_t P = nn_net_param_count(net);
    float *gp = malloc((size_t)P * sizeof(float));
    memcpy(gp, nn_net_grads(net), (size_t)P * sizeof(float));
    /* float32 forward passes: h = 1e-2 keeps the rounding error of the
     * difference (~1e-7 * |L| / h) near 1e-5, and the truncation error
     * (h^2 f''' ~ 1e-4) below the tolerance of 2e-3 relative (1e-4
     * absolute for components near 0). */
    char name[96];
    snprintf(name, sizeof name, "%s dx", what);
    GRADCHECK(name, loss_of, &g, nn_tensor_data(g.x), gx, B * IN, 1e-2, 2e-3, 1e-4);
    snprintf(name, sizeof name, "%s dparams", what);
    GRADCHECK(name, loss_of, &g, nn_net_params(net), gp, P, 1e-2, 2e-3, 1e-4);
    free(gp);
    nn_tensor_free(dy);
    nn_tensor_free(g.x);
}

static void test_gradients(void)
{
    static const char *const acts[] = {"identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax",
                                       "gelu",     "elu",     "silu", "softplus"};
    for (size_t k = 0; k < sizeof acts / sizeof *acts; k++) {
        nn_net *net = sandwich("activation", "name", 0, acts[k]);
        gradcheck(acts[k], net, NN_MODE_TRAIN);
        nn_net_free(net);
    }
    /* elu with alpha != 1 (a kink at 0 the inputs stay away from). */
    {
        const char *keys[] = {"name", "alpha"};
        const nn_value v[] = {{0, "elu", {0, 0, 0}}, {0.7, NULL, {0, 0, 0}}};
        nn_net *net = NULL;
        CHECK_OK(nn_net_create(7, &net));
        CHECK_OK(nn_net_add_dense(net, IN, H, &(nn_init){NN_INIT_UNIFORM, -0.8f, 0.8f}, NULL));
        CHECK_OK(add(net, "activation", 2, keys, v));
        CHECK_OK(nn_net_add_dense(net, H, OUT, NULL, NULL));
        gradcheck("elu(0.7)", net, NN_MODE_TRAIN);
        nn_net_free(net);
    }
    const nn_mode modes[] = {NN_MODE_TRAIN, NN_MODE_EVAL};
    for (int m = 0; m < 2; m++) {
        const char *mn = m ? "eval" : "train";
        char what[64];
        nn_net *net = sandwich("dropout", "p", 0.4, NULL);
        snprintf(what, sizeof what, "dropout %s", mn);
        gradcheck(what, net, modes[m]);
        nn_net_free(net);
        net = sandwich("batchnorm", NULL, 0, NULL);
        snprintf(what, sizeof what, "batchnorm %s", mn);
        gradcheck(what, net, modes[m]);
        nn_net_free(net);
        net = sandwich("layernorm", NULL, 0, NULL);
        snprintf(what, sizeof what, "layernorm %s", mn);
        gradcheck(what, net, modes[m]);
        nn_net_free(net);
        net = sandwich("gaussian_noise", "stddev", 0.3, NULL);
        snprintf(what, sizeof what, "gaussian_noise %s", mn);
        gradcheck(what, net, modes[m]);
        nn_net_free(net);
    }
}

/* dense(2, 6) -> kind, forward of x (4, 2) in a mode; y borrowed. */
static const float *forward_of(nn_net *net, nn_mode mode, const float *xv, int64_t rows)
{
    nn_tensor *x = NULL;
    const nn_tensor *y = NULL;
    CHECK_OK(nn_tensor_from(rows, 2, xv, &x));
    CHECK_OK(nn_net_set_mode(net, mode));
    CHECK_OK(nn_net_forward(net, x, &y));
    nn_tensor_free(x);
    return y ? nn_tensor_cdata(y) : NULL;
}

static void test_modes(void)
{
    const float xv[8] = {0.5f, -1.0f, 2.0f, 0.25f, -0.75f, 1.5f, 1.0f, 1.0f};
    const nn_init w = {NN_INIT_UNIFORM, -1, 1};
    /* dropout: about p of the values are zeroed in train mode, the rest
     * scaled by 1/(1-p); eval mode is the identity. */
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(3, &net));
    CHECK_OK(nn_net_add_dense(net, 2, 600, &w, &(nn_init){NN_INIT_CONSTANT, 1, 0}));
    CHECK_OK(add1(net, "dropout", "p", 0.25, NULL));
    CHECK_INT(NN_MODE_TRAIN, nn_net_mode(net));
    float dense_out[4 * 600];
    const float *y = forward_of(net, NN_MODE_EVAL, xv, 4);
    memcpy(dense_out, y, sizeof dense_out);
    /* eval: the dense output itself (checked against W x + b by hand for one value) */
    nn_tensor *W = NULL;
    CHECK_OK(nn_net_param(net, 0, NN_WEIGHTS, &W));
    CHECK_FLOAT_EQ(nn_tensor_cdata(W)[0] * 0.5f + nn_tensor_cdata(W)[1] * -1.0f + 1.0f, dense_out[0]);
    nn_tensor_free(W);
    const nn_rng before = *nn_net_mask_rng(net);
    y = forward_of(net, NN_MODE_EVAL, xv, 4);
    CHECK(memcmp(nn_net_mask_rng(net), &before, sizeof before) == 0); /* eval draws nothing */
    y = forward_of(net, NN_MODE_TRAIN, xv, 4);
    int zeros = 0, scaled = 0;
    for (int i = 0; i < 4 * 600; i++) {
        if (y[i] == 0.0f)
            zeros++;
        else if (y[i] == dense_out[i] * (1.0f / 0.75f))
            scaled++;
    }
    CHECK_INT(4 * 600, zeros + scaled);
    CHECK_MSG(zeros > 500 && zeros < 700, "dropout 0.25 zeroed %d of 2400", zeros);
    nn_net_free(net);

    /* gaussian_noise: the identity in eval mode; in train mode noise of
     * mean 0 and the given deviation (2400 draws: within 10 %). */
    CHECK_OK(nn_net_create(3, &net));
    CHECK_OK(nn_net_add_dense(net, 2, 600, &w, NULL));
    CHECK_OK(add1(net, "gaussian_noise", "stddev", 0.3, NULL));
    y = forward_of(net, NN_MODE_EVAL, xv, 4);
    memcpy(dense_out, y, sizeof dense_out);
    y = forward_of(net, NN_MODE_TRAIN, xv, 4);
    double s1 = 0, s2 = 0;
    for (int i = 0; i < 4 * 600; i++) {
        const double e = (double)y[i] - dense_out[i];
        s1 += e;
        s2 += e * e;
    }
    CHECK_NEAR(0.0, s1 / 2400, 0, 0.03);
    CHECK_NEAR(0.3, sqrt(s2 / 2400 - (s1 / 2400) * (s1 / 2400)), 0.1, 0);
    nn_net_free(net);

    /* batchnorm: train mode normalises with the batch and updates the
     * running statistics by momentum; eval mode uses them. */
    CHECK_OK(nn_net_create(3, &net));
    CHECK_OK(nn_net_add_dense(net, 2, 1, &(nn_init){NN_INIT_CONSTANT, 1, 0}, NULL)); /* y = x0 + x1 */
    const char *keys[] = {"momentum", "eps"};
    const nn_value v[] = {{0.5, NULL, {0, 0, 0}}, {0.01, NULL, {0, 0, 0}}};
    CHECK_OK(add(net, "batchnorm", 2, keys, v));
    CHECK_INT(2, nn_net_state_count(net));
    y = forward_of(net, NN_MODE_TRAIN, xv, 4); /* dense outputs -0.5, 2.25, 0.75, 2 */
    const double z[4] = {-0.5, 2.25, 0.75, 2.0}, mu = 4.5 / 4;
    double var = 0;
    for (int i = 0; i < 4; i++)
        var += (z[i] - mu) * (z[i] - mu) / 4;
    for (int i = 0; i < 4; i++)
        CHECK_NEAR((z[i] - mu) / sqrt(var + 0.01), y[i], 1e-5, 1e-6);
    const float *st = nn_net_state(net);
    CHECK_NEAR(0.5 * 0 + 0.5 * mu, st[0], 1e-6, 0);
    CHECK_NEAR(0.5 * 1 + 0.5 * var * 4 / 3, st[1], 1e-6, 0);
    const float rm = st[0], rv = st[1];
    y = forward_of(net, NN_MODE_EVAL, xv, 4);
    for (int i = 0; i < 4; i++)
        CHECK_NEAR((z[i] - rm) / sqrt(rv + 0.01), y[i], 1e-5, 1e-6);
    CHECK_FLOAT_EQ(rm, st[0]); /* eval mode leaves the statistics alone */
    CHECK_FLOAT_EQ(rv, st[1]);

    /* nn_evaluate runs in eval mode (statistics untouched) and restores the mode. */
    nn_tensor *xt = NULL, *tt = NULL;
    nn_dataset *d = NULL;
    const float tv[4] = {0, 1, 0, 1};
    CHECK_OK(nn_tensor_from(4, 2, xv, &xt));
    CHECK_OK(nn_tensor_from(4, 1, tv, &tt));
    CHECK_OK(nn_dataset_create(xt, tt, &d));
    CHECK_OK(nn_net_set_mode(net, NN_MODE_TRAIN));
    nn_eval_result r;
    CHECK_OK(nn_evaluate(net, d, NN_LOSS_MSE, 0, &r));
    double want = 0;
    for (int i = 0; i < 4; i++) {
        const double e = (z[i] - rm) / sqrt((double)rv + 0.01) - tv[i];
        want += e * e / 4;
    }
    CHECK_NEAR(want, r.loss, 1e-5, 0);
    CHECK_INT(NN_MODE_TRAIN, nn_net_mode(net));
    CHECK_FLOAT_EQ(rm, st[0]);
    nn_metrics *m = NULL;
    CHECK_OK(nn_evaluate_metrics(net, d, NN_LOSS_MSE, NULL, &m));
    CHECK_NEAR(want, m->loss, 1e-5, 0);
    CHECK_INT(NN_MODE_TRAIN, nn_net_mode(net));
    CHECK_FLOAT_EQ(rm, st[0]);
    nn_metrics_free(m);
    CHECK_ERR(NN_EINVAL, "net: unknown mode 7", nn_net_set_mode(net, (nn_mode)7));
    nn_dataset_free(d);
    nn_tensor_free(xt);
    nn_tensor_free(tt);
    nn_net_free(net);
}

/* A network with every new kind, and digits to train it on. */
static nn_net *every_kind(uint64_t seed, int64_t width)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(seed, &net));
    CHECK_OK(nn_net_add_dense(net, 64, width, NULL, NULL));
    CHECK_OK(add1(net, "batchnorm", NULL, 0, NULL));
    CHECK_OK(add1(net, "activation", "name", 0, "silu"));
    CHECK_OK(add1(net, "dropout", "p", 0.2, NULL));
    CHECK_OK(nn_net_add_dense(net, width, width, NULL, NULL));
    CHECK_OK(add1(net, "layernorm", NULL, 0, NULL));
    CHECK_OK(add1(net, "activation", "name", 0, "gelu"));
    CHECK_OK(nn_net_add_activation(net, NN_ACT_ELU, 0.5f));
    CHECK_OK(add1(net, "activation", "name", 0, "softplus"));
    CHECK_OK(nn_net_add_dense(net, width, 4, NULL, NULL));
    return net;
}

static nn_train_config train_config(void)
{
    nn_train_config c = nn_train_defaults();
    c.loss = NN_LOSS_CROSS_ENTROPY;
    c.sgd.lr = 0.05f;
    c.sgd.momentum = 0.9f;
    c.batch_size = 64;
    c.seed = 9;
    return c;
}


/* Width 600 at batch 64: batchnorm's channels (38400 values) and
 * layernorm's rows split over the threads. */
static tu_snapshot train_with(int threads, nn_dataset *d, int epochs)
{
    CHECK_OK(nn_set_threads(threads));
    nn_net *net = every_kind(5, 600);
    nn_trainer *tr = NULL;
    const nn_train_config c = train_config();
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    for (int e = 0; e < epochs; e++)
        CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
    tu_snapshot s = tu_snap(net);
    nn_trainer_free(tr);
    nn_net_free(net);
    return s;
}

static void test_threads(void)
{
    nn_dataset *d = NULL;
    CHECK_OK(nn_data_digits03(40, 0.3f, 2, &d)); /* 160 rows: batches of 64, 64, 32 */
    tu_snapshot one = train_with(1, d, 2);
    for (int t = 2; t <= 4; t++) {
        tu_snapshot other = train_with(t, d, 2);
        CHECK_MSG(tu_same(&one, &other), "training at %d threads differs from 1 thread", t);
        tu_unsnap(&other);
    }
    /* and it trained: the weights moved, the statistics too */
    nn_net *fresh = every_kind(5, 600);
    CHECK(memcmp(nn_net_params(fresh), one.p, (size_t)one.np * sizeof(float)) != 0);
    CHECK(memcmp(nn_net_state(fresh), one.s, (size_t)one.ns * sizeof(float)) != 0);
    nn_net_free(fresh);
    tu_unsnap(&one);
    nn_dataset_free(d);
    CHECK_OK(nn_set_threads(1));
}

static void test_resume(void)
{
    char dir[] = "/tmp/nnrun-layers-XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/m.nnrun", dir);
    nn_dataset *d = NULL;
    CHECK_OK(nn_data_digits03(30, 0.3f, 4, &d));
    const nn_train_config c = train_config();
    /* uninterrupted: 3 epochs */
    nn_net *net = every_kind(8, 24);
    nn_trainer *tr = NULL;
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    for (int e = 0; e < 3; e++)
        CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
    tu_snapshot whole = tu_snap(net);
    nn_trainer_free(tr);
    nn_net_free(net);
    /* 1 epoch, save, load into a network built with another seed, 2 more */
    net = every_kind(8, 24);
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
    CHECK_OK(nn_save(path, net, tr, NULL));
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_checkpoint *ck = NULL;
    net = every_kind(99, 24);
    CHECK_OK(nn_checkpoint_read(path, &ck));
    CHECK_OK(nn_checkpoint_apply(ck, net));
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    CHECK_OK(nn_checkpoint_restore(ck, tr));
    for (int e = 0; e < 2; e++)
        CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
    tu_snapshot resumed = tu_snap(net);
    CHECK_MSG(tu_same(&whole, &resumed), "resumed training differs from the uninterrupted run");
    /* save -> load -> save is byte-identical, and nn_load rebuilds the kinds */
    nn_net *again = NULL;
    CHECK_OK(nn_save(path, net, NULL, NULL));
    CHECK_OK(nn_load(path, &again, NULL));
    tu_snapshot loaded = tu_snap(again);
    CHECK(tu_same(&resumed, &loaded));
    nn_layer_info li;
    CHECK_OK(nn_net_layer_info(again, 1, &li));
    CHECK_INT(NN_LAYER_OTHER, li.kind);
    CHECK_STR("batchnorm", li.name);
    CHECK_INT(48, li.params);
    CHECK_INT(48, li.state);
    /* an architecture that differs in a setting is refused, naming it */
    nn_net *other = NULL;
    CHECK_OK(nn_net_create(1, &other));
    CHECK_OK(nn_net_add_dense(other, 64, 24, NULL, NULL));
    CHECK_OK(add1(other, "batchnorm", NULL, 0, NULL));
    CHECK_OK(add1(other, "activation", "name", 0, "silu"));
    CHECK_OK(add1(other, "dropout", "p", 0.5, NULL));
    CHECK_ERR(NN_ESHAPE, "checkpoint: 10 layers, network has 4", nn_checkpoint_apply(ck, other));
    for (int i = 4; i < 10; i++) {
        nn_layer_spec spec;
        CHECK_OK(nn_net_layer_spec(again, i, &spec));
        CHECK_OK(nn_net_add(other, &spec));
    }
    CHECK_ERR(NN_ESHAPE, "checkpoint: layer 4 is dropout(0.2) 24, network has dropout(0.5) 24",
              nn_checkpoint_apply(ck, other));
    nn_net_free(other);
    tu_unsnap(&loaded);
    nn_net_free(again);
    tu_unsnap(&resumed);
    tu_unsnap(&whole);
    nn_checkpoint_free(ck);
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_dataset_free(d);
    remove(path);
    rmdir(dir);
}

static void test_registry(void)
{
    CHECK_INT(11, nn_layer_kind_count());
    const char *const kinds[] = {"dense",  "activation", "dropout", "batchnorm",      "layernorm", "gaussian_noise",
                                 "conv2d", "maxpool",    "avgpool", "global_avgpool", "flatten"};
    for (int k = 0; k < 11; k++)
        CHECK_STR(kinds[k], nn_layer_kind_name(k));
    CHECK_STR(NULL, nn_layer_kind_name(11));
    const nn_param_spec *p;
    CHECK_INT(1, nn_layer_kind_params(2, &p));
    CHECK_STR("p", p[0].name);
    CHECK_INT(NN_PARAM_FLOAT, p[0].type);
    CHECK_FLOAT_EQ(0.5, p[0].def);
    CHECK_INT(1, p[0].max_open);
    CHECK_INT(2, nn_layer_kind_params(3, &p));
    CHECK_STR("momentum", p[0].name);
    CHECK_FLOAT_EQ(0.1, p[0].def);
    CHECK_STR("eps", p[1].name);
    CHECK_FLOAT_EQ(1e-5, p[1].def);
    CHECK_INT(3, nn_layer_kind_params(1, &p));
    CHECK_STR("gelu", p[0].choices[6]);
    CHECK(isnan(p[0].def)); /* the function is required */
    CHECK_INT(0, nn_layer_kind_params(11, &p));

    nn_net *net = NULL;
    CHECK_OK(nn_net_create(1, &net));
    CHECK_ERR(NN_ESTATE, "layer 1 (dropout): a first dropout layer needs the network's input shape (nn_net_set_input)",
              add1(net, "dropout", NULL, 0, NULL));
    CHECK_ERR(NN_EINVAL, "layer 1 (dense): a first layer needs its input width (in)",
              add1(net, "dense", "units", 4, NULL));
    CHECK_OK(nn_net_add_dense(net, 3, 4, NULL, NULL));
    CHECK_ERR(NN_EINVAL, "layer 2: unknown layer kind 'dropuot'", add1(net, "dropuot", NULL, 0, NULL));
    CHECK_ERR(NN_EINVAL, "layer 2 (dropout): unknown setting 'q'", add1(net, "dropout", "q", 0.1, NULL));
    CHECK_ERR(NN_EINVAL, "layer 2 (dropout): p must be in [0, 1), got 1", add1(net, "dropout", "p", 1, NULL));
    CHECK_ERR(NN_EINVAL, "layer 2 (batchnorm): eps must be > 0, got 0", add1(net, "batchnorm", "eps", 0, NULL));
    CHECK_ERR(NN_EINVAL, "layer 2 (batchnorm): momentum must be in [0, 1], got 1.5",
              add1(net, "batchnorm", "momentum", 1.5, NULL));
    CHECK_ERR(NN_EINVAL, "layer 2 (dense): units must be an integer >= 1, got 2.5",
              add1(net, "dense", "units", 2.5, NULL));
    CHECK_ERR(NN_EINVAL, "layer 2 (dense): units is required", add1(net, "dense", NULL, 0, NULL));
    CHECK_ERR(NN_EINVAL, "layer 2 (activation): unknown activation 'swish'",
              add1(net, "activation", "name", 0, "swish"));
    CHECK_ERR(NN_EINVAL, "layer 2 (activation): alpha must be >= 0, got -1",
              nn_net_add_activation(net, NN_ACT_ELU, -1.0f));
    CHECK_ERR(NN_ESHAPE, "layer 2 (dense): input has 5 features, previous layer gives 4",
              nn_net_add_dense(net, 5, 2, NULL, NULL));
    CHECK_INT(1, nn_net_layers(net));
    CHECK_OK(add1(net, "dense", "units", 2, NULL)); /* in from the previous layer */
    nn_layer_spec spec;
    CHECK_OK(nn_net_layer_spec(net, 1, &spec));
    CHECK_STR("dense", spec.kind);
    CHECK_INT(4, spec.n);
    CHECK_STR("in", spec.keys[1]);
    CHECK_FLOAT_EQ(4, spec.values[1].num);
    CHECK_STR("xavier_uniform", spec.values[2].str);
    CHECK_OK(add1(net, "dropout", NULL, 0, NULL));
    nn_tensor *view = NULL;
    CHECK_ERR(NN_EINVAL, "layer 3 (dropout) has no parameters", nn_net_param(net, 2, NN_WEIGHTS, &view));
    nn_net_free(net);
}

static void test_v1(void)
{
    const char *path = NNRUN_SOURCE_DIR "/tests/e2e/v1/run/model.nnrun";
    nn_checkpoint *ck = NULL;
    nn_net *net = NULL;
    CHECK_OK(nn_load(path, &net, &ck));
    if (!net)
        return;
    static const char *const want[] = {"dense 64->12", "leaky_relu(0.1) 12", "dense 12->10", "tanh 10",
                                       "dense 10->6", "sigmoid 6", "dense 6->4"};
    CHECK_INT(7, nn_net_layers(net));
    for (int i = 0; i < 7 && i < nn_net_layers(net); i++) {
        char d[64];
        nn_net_describe_layer(net, i, d, sizeof d);
        CHECK_STR(want[i], d);
    }
    CHECK_INT(1004, nn_net_param_count(net));
    CHECK_INT(0, nn_net_state_count(net));
    CHECK_INT(3, nn_checkpoint_epoch(ck));
    nn_layer_info li;
    CHECK_OK(nn_net_layer_info(net, 0, &li));
    CHECK_INT(NN_INIT_HE_NORMAL, li.weight_init.kind);
    /* evaluates */
    nn_dataset *d = NULL;
    CHECK_OK(nn_data_digits03(10, 0.3f, 1, &d));
    nn_eval_result r;
    CHECK_OK(nn_evaluate(net, d, NN_LOSS_CROSS_ENTROPY, 0, &r));
    CHECK(isfinite(r.loss) && r.loss > 0.5 && r.loss < 3.0);
    /* resumes: its trainer state restores, training goes on, and a resume
     * from its version-2 copy continues identically */
    nn_train_config c;
    CHECK_OK(nn_checkpoint_train_config(ck, &c));
    CHECK_FLOAT_EQ(0.2f, c.sgd.lr);
    CHECK_INT(1, c.sgd.nesterov);
    nn_trainer *tr = NULL;
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    CHECK_OK(nn_checkpoint_restore(ck, tr));
    CHECK_INT(3, nn_trainer_epoch(tr));
    char dir[] = "/tmp/nnrun-v1-XXXXXX", copy[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(copy, sizeof copy, "%s/v2.nnrun", dir);
    CHECK_OK(nn_save(copy, net, tr, NULL));
    CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
    CHECK_INT(4, nn_trainer_epoch(tr));
    tu_snapshot a = tu_snap(net);
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_checkpoint_free(ck);
    CHECK_OK(nn_load(copy, &net, &ck));
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    CHECK_OK(nn_checkpoint_restore(ck, tr));
    CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
    tu_snapshot b = tu_snap(net);
    CHECK(tu_same(&a, &b));
    tu_unsnap(&a);
    tu_unsnap(&b);
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_checkpoint_free(ck);
    nn_dataset_free(d);
    remove(copy);
    rmdir(dir);
}

int main(void)
{
    tu_seed(17);
    CHECK_OK(nn_set_threads(1));
    test_registry();
    test_gradients();
    test_modes();
    test_threads();
    test_resume();
    test_v1();
    return tu_finish();
}
