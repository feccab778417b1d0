/* test_train.c — the training loop end to end: XOR, the seed article's
 * digits 0-3 (accuracy on held-out glyphs), every cost decreasing on a
 * problem it suits, callbacks (stop, cancel, statistics, last partial
 * batch), schedules in the trainer, divergence, determinism per seed, and
 * trainer / evaluation / data-set errors. */
#include "testutil.h"

static nn_net *mlp(uint64_t seed, int64_t in, int64_t hidden, nn_act act, int64_t out, int out_act,
                   nn_act oact)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(seed, &net));
    CHECK_OK(nn_net_add_dense(net, in, hidden, NULL, NULL));
    CHECK_OK(nn_net_add_activation(net, act, 0.01f));
    CHECK_OK(nn_net_add_dense(net, hidden, out, NULL, NULL));
    if (out_act)
        CHECK_OK(nn_net_add_activation(net, oact, 0));
    return net;
}

static nn_train_config config(nn_loss_kind loss, float lr, float momentum, int64_t batch)
{
    nn_train_config c = nn_train_defaults();
    c.loss = loss;
    c.sgd.lr = lr;
    c.sgd.momentum = momentum;
    c.batch_size = batch;
    c.seed = 1;
    return c;
}

static double eval_loss(nn_net *net, const nn_dataset *d, nn_loss_kind loss, double *acc)
{
    nn_eval_result r = {NAN, NAN, 0};
    CHECK_OK(nn_evaluate(net, d, loss, 0, &r));
    CHECK_INT(nn_dataset_size(d), r.samples);
    if (acc)
        *acc = r.accuracy;
    return r.loss;
}

/* Trains for epochs; returns the mean loss of the last epoch. */
static double train(nn_net *net, const nn_train_config *cfg, const nn_dataset *d, int64_t epochs)
{
    nn_trainer *tr = NULL;
    CHECK_OK(nn_trainer_create(net, cfg, &tr));
    double loss = NAN;
    for (int64_t e = 0; e < epochs; e++)
        CHECK_OK(nn_train_epoch(tr, d, &loss, NULL));
    CHECK_INT(epochs, nn_trainer_epoch(tr));
    nn_trainer_free(tr);
    return loss;
}

static void test_defaults(void)
{
    const nn_train_config c = nn_train_defaults();
    CHECK_INT(NN_LOSS_MSE, c.loss);
    CHECK_FLOAT_EQ(0.01f, c.sgd.lr);
    CHECK_FLOAT_EQ(0, c.sgd.momentum);
    CHECK_INT(NN_SCHED_CONSTANT, c.schedule.kind);
    CHECK_INT(32, c.batch_size);
    CHECK_INT(1, c.shuffle);
    CHECK_INT(0, c.seed);
    CHECK(c.on_batch == NULL && c.on_epoch == NULL);
}

static void test_xor(void)
{
    nn_dataset *d = NULL;
    CHECK_OK(nn_data_xor(&d));
    CHECK_INT(4, nn_dataset_size(d));
    CHECK_INT(2, nn_dataset_features(d));
    CHECK_INT(1, nn_dataset_target_cols(d));
    nn_net *net = mlp(3, 2, 8, NN_ACT_TANH, 1, 1, NN_ACT_SIGMOID);
    nn_train_config cfg = config(NN_LOSS_MSE, 0.5f, 0.9f, 4);
    train(net, &cfg, d, 1000);
    double acc;
    const double loss = eval_loss(net, d, NN_LOSS_MSE, &acc);
    CHECK_MSG(loss < 0.01, "xor 2-8-1: loss %g after 1000 epochs, expected < 0.01", loss);
    nn_eval_result r;
    CHECK_OK(nn_evaluate(net, d, NN_LOSS_BCE, 4, &r)); /* accuracy needs a binary loss */
    CHECK_MSG(r.accuracy == 1.0, "xor: accuracy %g", r.accuracy);
    CHECK(isnan(acc)); /* MSE on one output is regression: no accuracy */
    nn_net_free(net);
    nn_dataset_free(d);
}

static void test_digits(void)
{
    nn_dataset *tr = NULL, *te = NULL;
    CHECK_OK(nn_data_digits03(100, 0.1f, 1, &tr));
    CHECK_OK(nn_data_digits03(50, 0.1f, 2, &te)); /* held-out glyphs */
    CHECK_INT(400, nn_dataset_size(tr));
    CHECK_INT(64, nn_dataset_features(tr));
    CHECK_MSG(memcmp(nn_tensor_cdata(nn_dataset_x(tr)), nn_tensor_cdata(nn_dataset_x(te)), 64 * 200 * sizeof(float)),
              "the held-out glyphs repeat the training glyphs");
    nn_net *net = mlp(7, 64, 32, NN_ACT_RELU, 4, 0, NN_ACT_IDENTITY);
    nn_train_config cfg = config(NN_LOSS_CROSS_ENTROPY, 0.05f, 0.9f, 32);
    double acc0;
    const double before = eval_loss(net, te, NN_LOSS_CROSS_ENTROPY, &acc0);
    train(net, &cfg, tr, 20);
    double acc;
    const double after = eval_loss(net, te, NN_LOSS_CROSS_ENTROPY, &acc);
    CHECK_MSG(acc >= 0.95, "digits03: test accuracy %g (loss %g -> %g), expected >= 0.95", acc, before,
              after);
    CHECK_MSG(after < 0.5 * before, "digits03: test loss %g -> %g", before, after);
    nn_net_free(net);
    nn_dataset_free(tr);
    nn_dataset_free(te);
}

/* A binary problem: x in [-1, 1]^2, label [x0 + 2 x1 > 0.2]. */
static nn_dataset *binary_data(int64_t n, uint64_t seed)
{
    float *x = malloc((size_t)(2 * n) * sizeof(float)), *t = malloc((size_t)n * sizeof(float));
    tu_seed(seed);
    for (int64_t i = 0; i < n; i++) {
        x[2 * i] = (float)tu_uniform(-1, 1);
        x[2 * i + 1] = (float)tu_uniform(-1, 1);
        t[i] = x[2 * i] + 2 * x[2 * i + 1] > 0.2f;
    }
    nn_tensor *tx = NULL, *tt = NULL;
    nn_dataset *d = NULL;
    CHECK_OK(nn_tensor_from(n, 2, x, &tx));
    CHECK_OK(nn_tensor_from(n, 1, t, &tt));
    CHECK_OK(nn_dataset_create(tx, tt, &d));
    nn_tensor_free(tx);
    nn_tensor_free(tt);
    free(x);
    free(t);
    return d;
}

static void check_decreases(const char *what, nn_net *net, const nn_train_config *cfg,
                            const nn_dataset *d, int64_t epochs, double factor, double min_acc)
{
    double acc0, acc;
    const double before = eval_loss(net, d, cfg->loss, &acc0);
    const double last = train(net, cfg, d, epochs);
    const double after = eval_loss(net, d, cfg->loss, &acc);
    CHECK_MSG(isfinite(last), "%s: last epoch loss %g", what, last);
    CHECK_MSG(after < factor * before, "%s: loss %g -> %g after %lld epochs, expected < %g x", what,
              before, after, (long long)epochs, factor);
    if (min_acc > 0)
        CHECK_MSG(acc >= min_acc, "%s: accuracy %g -> %g, expected >= %g", what, acc0, acc, min_acc);
}

static void test_costs_decrease(void)
{
    nn_dataset *curve = NULL, *digits = NULL, *bin = binary_data(200, 5);
    CHECK_OK(nn_data_curve(200, 0.05f, 3, &curve));
    CHECK_INT(200, nn_dataset_size(curve));
    CHECK_OK(nn_data_digits03(25, 0.1f, 4, &digits));

    nn_net *net = mlp(1, 1, 16, NN_ACT_TANH, 1, 0, NN_ACT_IDENTITY);
    nn_train_config cfg = config(NN_LOSS_MSE, 0.05f, 0.9f, 16);
    check_decreases("mse on curve", net, &cfg, curve, 100, 0.25, 0);
    nn_net_free(net);

    net = mlp(2, 64, 16, NN_ACT_TANH, 4, 0, NN_ACT_IDENTITY);
    cfg = config(NN_LOSS_CROSS_ENTROPY, 0.05f, 0.9f, 16);
    check_decreases("cross-entropy on digits", net, &cfg, digits, 10, 0.25, 0.9);
    nn_net_free(net);

    net = mlp(3, 64, 16, NN_ACT_TANH, 4, 1, NN_ACT_SOFTMAX);
    cfg = config(NN_LOSS_LOG_LOSS, 0.05f, 0.9f, 16);
    check_decreases("log loss with softmax on digits", net, &cfg, digits, 10, 0.25, 0.9);
    nn_net_free(net);

    net = mlp(4, 2, 8, NN_ACT_TANH, 1, 1, NN_ACT_SIGMOID);
    cfg = config(NN_LOSS_BCE, 0.1f, 0.9f, 16);
    check_decreases("bce on binary labels", net, &cfg, bin, 40, 0.5, 0.9);
    nn_net_free(net);

    net = mlp(5, 2, 8, NN_ACT_RELU, 1, 0, NN_ACT_IDENTITY);
    cfg = config(NN_LOSS_BCE_LOGITS, 0.1f, 0.9f, 16);
    check_decreases("bce with logits on binary labels", net, &cfg, bin, 40, 0.5, 0.9);
    nn_net_free(net);

    /* plain (no momentum) full-batch and stochastic descent also decrease */
    net = mlp(6, 2, 8, NN_ACT_TANH, 1, 1, NN_ACT_SIGMOID);
    cfg = config(NN_LOSS_BCE, 1.0f, 0, 1000);
    check_decreases("bce, full-batch gradient descent", net, &cfg, bin, 100, 0.8, 0);
    nn_net_free(net);
    net = mlp(6, 2, 8, NN_ACT_TANH, 1, 1, NN_ACT_SIGMOID);
    cfg = config(NN_LOSS_BCE, 0.05f, 0, 1);
    check_decreases("bce, stochastic gradient descent", net, &cfg, bin, 5, 0.8, 0);
    nn_net_free(net);

    nn_dataset_free(curve);
    nn_dataset_free(digits);
    nn_dataset_free(bin);
}

/* ---- callbacks ---- */

typedef struct cbstate {
    int batches, epochs;
    int stop_at_batch, cancel_at_batch; /* -1: never */
    int stop_at_epoch, cancel_at_epoch;
    int64_t sizes[64];
    double weighted, running;
    float lrs[64];
    double val_acc;
    int64_t base; /* the trainer's epoch at the first batch */
    int ok;
} cbstate;

static int on_batch(const nn_batch_stats *s, void *user)
{
    cbstate *c = user;
    if (c->batches < 64) {
        c->sizes[c->batches] = s->size;
        c->lrs[c->batches] = s->lr;
    }
    if (c->batches == 0)
        c->base = s->epoch;
    c->ok &= s->batch == c->batches % s->batches && s->epoch == c->base + c->batches / s->batches;
    c->weighted += s->loss * (double)s->size;
    c->running = s->running_loss;
    c->batches++;
    if (c->batches == c->cancel_at_batch)
        return -1;
    return c->batches == c->stop_at_batch;
}

static int on_epoch(const nn_epoch_stats *s, void *user)
{
    cbstate *c = user;
    c->ok &= s->epoch == c->base + c->epochs && isfinite(s->train_loss) && s->seconds >= 0;
    c->val_acc = s->val_accuracy;
    c->epochs++;
    if (c->epochs == c->cancel_at_epoch)
        return -7;
    return c->epochs == c->stop_at_epoch;
}

static cbstate fresh(void)
{
    cbstate c;
    memset(&c, 0, sizeof c);
    c.stop_at_batch = c.cancel_at_batch = c.stop_at_epoch = c.cancel_at_epoch = -1;
    c.ok = 1;
    return c;
}

static void test_callbacks(void)
{
    nn_dataset *d = NULL, *val = NULL;
    CHECK_OK(nn_data_digits03(5, 0.1f, 8, &d)); /* 20 samples: batches of 8, 8, 4 */
    CHECK_OK(nn_data_digits03(5, 0.1f, 9, &val));
    nn_net *net = mlp(1, 64, 8, NN_ACT_TANH, 4, 0, NN_ACT_IDENTITY);
    nn_train_config cfg = config(NN_LOSS_CROSS_ENTROPY, 0.01f, 0, 8);
    cfg.on_batch = on_batch;
    cfg.on_epoch = on_epoch;
    cbstate cs = fresh();
    cfg.user = &cs;

    /* statistics, last partial batch, mean loss = size-weighted batch mean */
    nn_trainer *tr = NULL;
    CHECK_OK(nn_trainer_create(net, &cfg, &tr));
    double mean = NAN;
    int stopped = -1;
    CHECK_OK(nn_train_epoch(tr, d, &mean, &stopped));
    CHECK_INT(0, stopped);
    CHECK_INT(3, cs.batches);
    CHECK_INT(8, cs.sizes[0]);
    CHECK_INT(8, cs.sizes[1]);
    CHECK_INT(4, cs.sizes[2]);
    CHECK_NEAR(cs.weighted / 20.0, mean, 1e-12, 0);
    CHECK_NEAR(mean, cs.running, 1e-12, 0);
    CHECK_INT(1, nn_trainer_epoch(tr));
    CHECK_INT(3, nn_trainer_step(tr));
    CHECK(cs.ok);

    /* on_batch returning 1 stops cleanly after that batch */
    cs = fresh();
    cs.stop_at_batch = 2;
    CHECK_OK(nn_train_epoch(tr, d, &mean, &stopped));
    CHECK_INT(1, stopped);
    CHECK_INT(2, cs.batches);
    CHECK_INT(5, nn_trainer_step(tr));
    CHECK(isfinite(mean));

    /* on_batch returning a negative value cancels with a message */
    cs = fresh();
    cs.cancel_at_batch = 1;
    CHECK_ERR(NN_ECANCELLED, "training cancelled: the batch callback reported an error",
              nn_train_epoch(tr, d, &mean, &stopped));
    CHECK_INT(1, cs.batches);

    /* nn_train: on_epoch returning 1 stops after that epoch */
    cs = fresh();
    int64_t done = -1;
    cs.stop_at_epoch = 3;
    CHECK_OK(nn_train(tr, d, val, 10, &done));
    CHECK_INT(1, cs.base); /* epochs stopped or cancelled midway do not count */
    CHECK_INT(3, done);
    CHECK_INT(3, cs.epochs);
    CHECK_INT(9, cs.batches);
    CHECK(cs.ok);
    CHECK_MSG(cs.val_acc >= 0 && cs.val_acc <= 1, "val_accuracy %g", cs.val_acc);

    /* ... a negative value cancels */
    cs = fresh();
    cs.cancel_at_epoch = 2;
    CHECK_ERR(NN_ECANCELLED, "training cancelled: the epoch callback reported an error",
              nn_train(tr, d, NULL, 10, &done));
    CHECK_INT(2, cs.epochs);
    CHECK(isnan(cs.val_acc)); /* no validation data */

    /* on_batch stopping inside nn_train ends it too */
    cs = fresh();
    cs.stop_at_batch = 4;
    CHECK_OK(nn_train(tr, d, NULL, 10, &done));
    CHECK_INT(1, done);
    CHECK_INT(4, cs.batches);
    nn_trainer_free(tr);

    /* a schedule stepping per batch: the callback sees each rate */
    cs = fresh();
    cfg.schedule = nn_schedule_constant(0.1f);
    cfg.schedule.kind = NN_SCHED_EXPONENTIAL;
    cfg.schedule.gamma = 0.5f;
    cfg.schedule_per_batch = 1;
    CHECK_OK(nn_trainer_create(net, &cfg, &tr));
    CHECK_OK(nn_train(tr, d, NULL, 2, &done));
    CHECK_INT(6, cs.batches);
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(0.1 * pow(0.5, i), cs.lrs[i], 1e-6, 0);
    nn_trainer_free(tr);
    /* ... and per epoch (schedule_per_batch 0) */
    cs = fresh();
    cfg.schedule_per_batch = 0;
    CHECK_OK(nn_trainer_create(net, &cfg, &tr));
    CHECK_OK(nn_train(tr, d, NULL, 2, &done));
    for (int i = 0; i < 6; i++)
        CHECK_NEAR(0.1 * pow(0.5, i / 3), cs.lrs[i], 1e-6, 0);
    nn_trainer_free(tr);

    nn_net_free(net);
    nn_dataset_free(d);
    nn_dataset_free(val);
}

static void test_divergence(void)
{
    nn_dataset *d = NULL;
    CHECK_OK(nn_data_curve(64, 0.1f, 1, &d));
    nn_net *net = mlp(1, 1, 16, NN_ACT_RELU, 1, 0, NN_ACT_IDENTITY);
    nn_train_config cfg = config(NN_LOSS_MSE, 1e6f, 0.9f, 8);
    nn_trainer *tr = NULL;
    CHECK_OK(nn_trainer_create(net, &cfg, &tr));
    int64_t done = -1;
    const nn_status s = nn_train(tr, d, NULL, 50, &done);
    CHECK_STATUS(NN_EDIVERGED, s);
    const char *prefix = "training diverged at epoch ";
    CHECK_MSG(strncmp(nn_last_error(), prefix, strlen(prefix)) == 0 && strstr(nn_last_error(), ": loss is "),
              "divergence message: \"%s\"", nn_last_error());
    CHECK(done < 50);
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_dataset_free(d);
}

static void test_determinism(void)
{
    nn_dataset *d = NULL;
    CHECK_OK(nn_data_digits03(10, 0.1f, 3, &d));
    nn_train_config cfg = config(NN_LOSS_CROSS_ENTROPY, 0.05f, 0.9f, 7);
    float *w[4];
    int64_t n = 0;
    const uint64_t net_seed[4] = {11, 11, 12, 11}, shuffle_seed[4] = {5, 5, 5, 6};
    for (int k = 0; k < 4; k++) {
        nn_net *net = mlp(net_seed[k], 64, 16, NN_ACT_RELU, 4, 0, NN_ACT_IDENTITY);
        cfg.seed = shuffle_seed[k];
        train(net, &cfg, d, 3);
        n = nn_net_param_count(net);
        w[k] = malloc((size_t)n * sizeof(float));
        memcpy(w[k], nn_net_params(net), (size_t)n * sizeof(float));
        nn_net_free(net);
    }
    const size_t bytes = (size_t)n * sizeof(float);
    CHECK_MSG(memcmp(w[0], w[1], bytes) == 0, "same seeds gave different weights");
    CHECK_MSG(memcmp(w[0], w[2], bytes) != 0, "another network seed gave the same weights");
    CHECK_MSG(memcmp(w[0], w[3], bytes) != 0, "another shuffle seed gave the same weights");
    for (int k = 0; k < 4; k++)
        free(w[k]);
    nn_dataset_free(d);
}

static void test_errors(void)
{
    nn_net *net = mlp(1, 2, 3, NN_ACT_TANH, 2, 0, NN_ACT_IDENTITY), *empty = NULL;
    CHECK_OK(nn_net_create(1, &empty));
    nn_trainer *tr = (nn_trainer *)&tr;
    nn_train_config cfg = config(NN_LOSS_MSE, 0.1f, 0, 4);
    CHECK_ERR(NN_EINVAL, "trainer: out is NULL", nn_trainer_create(net, &cfg, NULL));
    CHECK_ERR(NN_EINVAL, "trainer: network or config is NULL", nn_trainer_create(NULL, &cfg, &tr));
    CHECK(tr == NULL);
    CHECK_ERR(NN_EINVAL, "trainer: network or config is NULL", nn_trainer_create(net, NULL, &tr));
    CHECK_ERR(NN_ESTATE, "trainer: the network has no layers", nn_trainer_create(empty, &cfg, &tr));
    nn_train_config bad = cfg;
    bad.batch_size = 0;
    CHECK_ERR(NN_EINVAL, "trainer: batch_size must be >= 1, got 0", nn_trainer_create(net, &bad, &tr));
    bad = cfg;
    bad.loss = (nn_loss_kind)9;
    CHECK_ERR(NN_EINVAL, "trainer: unknown loss 9", nn_trainer_create(net, &bad, &tr));
    bad = cfg;
    bad.sgd.lr = NAN;
    CHECK_ERR(NN_EINVAL, "sgd: lr must be finite and > 0, got nan", nn_trainer_create(net, &bad, &tr));
    bad = cfg;
    bad.sgd.momentum = 1.0f;
    CHECK_ERR(NN_EINVAL, "sgd: momentum must be in [0, 1), got 1", nn_trainer_create(net, &bad, &tr));
    bad = cfg;
    bad.schedule.kind = NN_SCHED_STEP;
    bad.schedule.step_size = 0;
    CHECK_ERR(NN_EINVAL, "schedule step: step_size must be >= 1, got 0", nn_trainer_create(net, &bad, &tr));
    CHECK(tr == NULL);

    CHECK_OK(nn_trainer_create(net, &cfg, &tr));
    double loss = 0;
    int stopped = -1;
    nn_dataset *x3 = NULL, *lab = NULL;
    nn_tensor *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(nn_tensor_create2d(5, 3, &a));
    CHECK_OK(nn_tensor_create2d(5, 2, &b));
    CHECK_OK(nn_tensor_create2d(4, 2, &c));
    CHECK_OK(nn_dataset_create(a, b, &x3));
    CHECK_ERR(NN_ESHAPE, "train: data has 3 features, network expects 2", nn_train_epoch(tr, x3, &loss, &stopped));
    CHECK(isnan(loss));
    CHECK_INT(0, stopped);
    CHECK_ERR(NN_EINVAL, "train: data set is NULL", nn_train_epoch(tr, NULL, &loss, NULL));
    CHECK_ERR(NN_EINVAL, "train: trainer is NULL", nn_train_epoch(NULL, x3, &loss, NULL));
    CHECK_ERR(NN_EINVAL, "train: trainer is NULL", nn_train(NULL, x3, NULL, 1, NULL));
    CHECK_ERR(NN_EINVAL, "train: epochs must be >= 0, got -1", nn_train(tr, x3, NULL, -1, NULL));
    int64_t done = -1;
    CHECK_OK(nn_train(tr, x3, NULL, 0, &done)); /* zero epochs: nothing to do */
    CHECK_INT(0, done);
    nn_dataset *d2 = NULL;
    CHECK_OK(nn_dataset_create(b, b, &d2)); /* 2 features, 2 targets */
    CHECK_OK(nn_train_epoch(tr, d2, &loss, NULL));
    nn_trainer_free(tr);

    /* class labels out of range, and targets that fit no loss */
    cfg.loss = NN_LOSS_CROSS_ENTROPY;
    CHECK_OK(nn_trainer_create(net, &cfg, &tr));
    nn_tensor *xl = NULL, *tl = NULL;
    const float xs[6] = {0, 1, 2, 3, 4, 5}, ts[3] = {0, 1, 2};
    CHECK_OK(nn_tensor_from(3, 2, xs, &xl));
    CHECK_OK(nn_tensor_from(3, 1, ts, &tl));
    CHECK_OK(nn_dataset_create(xl, tl, &lab));
    CHECK_ERR(NN_ERANGE, "cross_entropy: target row 3: class label 2 is not an integer in [0, 2)",
              nn_train_epoch(tr, lab, &loss, NULL));
    nn_eval_result r;
    CHECK_ERR(NN_ERANGE, "cross_entropy: target row 3: class label 2 is not an integer in [0, 2)",
              nn_evaluate(net, lab, NN_LOSS_CROSS_ENTROPY, 0, &r));
    CHECK_ERR(NN_ESHAPE, "mse: target has 1 columns, output has 2", nn_evaluate(net, lab, NN_LOSS_MSE, 0, &r));
    CHECK_ERR(NN_ESHAPE, "evaluate: data has 3 features, network expects 2",
              nn_evaluate(net, x3, NN_LOSS_MSE, 0, &r));
    CHECK_ERR(NN_EINVAL, "evaluate: batch_size must be >= 0, got -1", nn_evaluate(net, d2, NN_LOSS_MSE, -1, &r));
    CHECK_ERR(NN_EINVAL, "evaluate: unknown loss 9", nn_evaluate(net, d2, (nn_loss_kind)9, 0, &r));
    CHECK_ERR(NN_EINVAL, "evaluate: NULL argument", nn_evaluate(NULL, d2, NN_LOSS_MSE, 0, &r));
    CHECK_ERR(NN_ESTATE, "evaluate: the network has no layers", nn_evaluate(empty, d2, NN_LOSS_MSE, 0, &r));
    /* evaluation in any batch size gives the same loss */
    nn_eval_result r1, r2;
    CHECK_OK(nn_evaluate(net, d2, NN_LOSS_MSE, 1, &r1));
    CHECK_OK(nn_evaluate(net, d2, NN_LOSS_MSE, 3, &r2));
    CHECK_NEAR(r1.loss, r2.loss, 1e-12, 0);
    CHECK(isnan(r1.accuracy) == 0); /* 2 outputs: argmax accuracy */
    nn_trainer_free(tr);

    /* data sets */
    nn_dataset *dd = (nn_dataset *)&dd;
    CHECK_ERR(NN_ESHAPE, "dataset: 5 input rows but 4 target rows", nn_dataset_create(a, c, &dd));
    CHECK(dd == NULL);
    CHECK_ERR(NN_EINVAL, "dataset: inputs or targets are NULL", nn_dataset_create(NULL, c, &dd));
    CHECK_ERR(NN_EINVAL, "dataset: out is NULL", nn_dataset_create(a, b, NULL));
    CHECK_ERR(NN_EINVAL, "digits03: n_per_class must be in [1, 10000000], got 0", nn_data_digits03(0, 0.1f, 1, &dd));
    CHECK_ERR(NN_EINVAL, "digits03: noise must be finite and >= 0, got nan", nn_data_digits03(1, NAN, 1, &dd));
    CHECK_ERR(NN_EINVAL, "curve: n must be in [1, 100000000], got -1", nn_data_curve(-1, 0.1f, 1, &dd));
    CHECK_ERR(NN_EINVAL, "curve: noise must be finite and >= 0, got -1", nn_data_curve(10, -1, 1, &dd));
    CHECK_ERR(NN_EINVAL, "xor: out is NULL", nn_data_xor(NULL));

    nn_tensor_free(a);
    nn_tensor_free(b);
    nn_tensor_free(c);
    nn_tensor_free(xl);
    nn_tensor_free(tl);
    nn_dataset_free(x3);
    nn_dataset_free(d2);
    nn_dataset_free(lab);
    nn_net_free(net);
    nn_net_free(empty);
}

int main(void)
{
    test_defaults();
    test_xor();
    test_digits();
    test_costs_decrease();
    test_callbacks();
    test_divergence();
    test_determinism();
    test_errors();
    return tu_finish();
}
