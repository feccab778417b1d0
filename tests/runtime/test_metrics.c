/* test_metrics.c — nn_evaluate_metrics against figures worked out by hand:
 * a 3-class "network" that returns its input (one dense layer with identity
 * weights), so the scores are the inputs; a binary BCE case; regression. */
#include "io/io.h"
#include "testutil.h"

static nn_net *identity_net(int64_t n)
{
    nn_net *net = NULL;
    nn_net_create(1, &net);
    nn_net_add_dense(net, n, n, NULL, NULL);
    float *p = nn_net_params(net);
    memset(p, 0, (size_t)nn_net_param_count(net) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        p[i * n + i] = 1.0f;
    return net;
}

static nn_dataset *make(int64_t rows, int64_t in, const float *x, int64_t tcols, const float *t)
{
    nn_tensor *X = NULL, *T = NULL;
    nn_dataset *d = NULL;
    nn_tensor_from(rows, in, x, &X);
    nn_tensor_from(rows, tcols, t, &T);
    CHECK_OK(nn_dataset_create(X, T, &d));
    nn_tensor_free(X);
    nn_tensor_free(T);
    return d;
}

static void test_classes(void)
{
    /* Scores (rows) and true classes.  Predictions: argmax. */
    const float x[6 * 3] = {
        0.9f, 0.1f, 0.0f, /* true 0, pred 0          */
        0.2f, 0.7f, 0.1f, /* true 0, pred 1, rank 2nd */
        0.1f, 0.8f, 0.1f, /* true 1, pred 1          */
        0.6f, 0.3f, 0.1f, /* true 1, pred 0, rank 2nd */
        0.5f, 0.1f, 0.4f, /* true 2, pred 0, rank 2nd */
        0.7f, 0.2f, 0.1f, /* true 2, pred 0, rank 3rd */
    };
    const float t[6] = {0, 0, 1, 1, 2, 2};
    nn_net *net = identity_net(3);
    nn_dataset *d = make(6, 3, x, 1, t);
    nn_metrics_options o = {4, 2, NULL}; /* batches of 4: a partial last batch */
    nn_metrics *m = NULL;
    CHECK_OK(nn_evaluate_metrics(net, d, NN_LOSS_CROSS_ENTROPY, &o, &m));
    if (!m)
        return;
    CHECK_INT(1, m->classification);
    CHECK_INT(3, m->classes);
    CHECK_INT(6, m->samples);
    CHECK_NEAR(2.0 / 6.0, m->accuracy, 1e-15, 0);
    CHECK_INT(2, m->top_k);
    CHECK_NEAR(5.0 / 6.0, m->top_k_accuracy, 1e-15, 0);
    const int64_t conf[9] = {1, 1, 0, 1, 1, 0, 2, 0, 0};
    for (int i = 0; i < 9; i++)
        CHECK_INT(conf[i], m->confusion[i]);
    /* class 0: tp 1, predicted 4, actual 2; class 1: tp 1, predicted 2,
     * actual 2; class 2: never predicted. */
    CHECK_NEAR(0.25, m->precision[0], 1e-15, 0);
    CHECK_NEAR(0.5, m->recall[0], 1e-15, 0);
    CHECK_NEAR(2 * 0.25 * 0.5 / 0.75, m->f1[0], 1e-15, 0);
    CHECK_NEAR(0.5, m->precision[1], 1e-15, 0);
    CHECK_NEAR(0.5, m->f1[1], 1e-15, 0);
    CHECK_NEAR(0.0, m->precision[2], 0, 0);
    CHECK_NEAR(0.0, m->f1[2], 0, 0);
    CHECK_NEAR((0.25 + 0.5) / 3, m->macro_precision, 1e-15, 0);
    CHECK_NEAR((0.5 + 0.5) / 3, m->macro_recall, 1e-15, 0);
    CHECK(isnan(m->mse) && isnan(m->r2));
    /* Same loss and accuracy as nn_evaluate. */
    nn_eval_result r;
    CHECK_OK(nn_evaluate(net, d, NN_LOSS_CROSS_ENTROPY, 4, &r));
    CHECK(r.loss == m->loss);
    CHECK(r.accuracy == m->accuracy);
    nn_metrics_free(m);
    /* One-hot targets give the same figures. */
    float oh[18] = {0};
    for (int i = 0; i < 6; i++)
        oh[i * 3 + (int)t[i]] = 1.0f;
    nn_dataset *d2 = make(6, 3, x, 3, oh);
    CHECK_OK(nn_evaluate_metrics(net, d2, NN_LOSS_CROSS_ENTROPY, NULL, &m));
    CHECK_INT(3, m->top_k); /* 5 capped at 3 classes */
    CHECK_NEAR(1.0, m->top_k_accuracy, 0, 0);
    for (int i = 0; i < 9; i++)
        CHECK_INT(conf[i], m->confusion[i]);
    nn_metrics_free(m);
    nn_dataset_free(d2);
    nn_dataset_free(d);
    /* Wrong width is refused. */
    const float x2[2] = {1, 2};
    d = make(1, 2, x2, 1, t);
    CHECK_ERR(NN_ESHAPE, "metrics: data has 2 features, network expects 3",
              nn_evaluate_metrics(net, d, NN_LOSS_CROSS_ENTROPY, NULL, &m));
    CHECK(m == NULL);
    nn_dataset_free(d);
    nn_net_free(net);
}

static void test_binary(void)
{
    /* One logit per row, BCE_LOGITS: class = logit > 0. */
    const float x[5] = {2.0f, -1.0f, 0.5f, -3.0f, 1.0f};
    const float t[5] = {1, 1, 0, 0, 1};
    nn_net *net = identity_net(1);
    nn_dataset *d = make(5, 1, x, 1, t);
    nn_metrics *m = NULL;
    CHECK_OK(nn_evaluate_metrics(net, d, NN_LOSS_BCE_LOGITS, NULL, &m));
    CHECK_INT(2, m->classes);
    CHECK_NEAR(3.0 / 5.0, m->accuracy, 1e-15, 0);
    const int64_t conf[4] = {1, 1, 1, 2};
    for (int i = 0; i < 4; i++)
        CHECK_INT(conf[i], m->confusion[i]);
    CHECK_NEAR(2.0 / 3.0, m->precision[1], 1e-15, 0);
    CHECK_NEAR(2.0 / 3.0, m->recall[1], 1e-15, 0);
    nn_metrics_free(m);
    nn_dataset_free(d);
    nn_net_free(net);
}

static void test_regression(void)
{
    /* Prediction = input; targets chosen so the errors are 1, -1, 2, 0. */
    const float y[4] = {1, 2, 5, 4}, t[4] = {0, 3, 3, 4};
    nn_net *net = identity_net(1);
    nn_dataset *d = make(4, 1, y, 1, t);
    nn_metrics *m = NULL;
    CHECK_OK(nn_evaluate_metrics(net, d, NN_LOSS_MSE, NULL, &m));
    CHECK_INT(0, m->classification);
    CHECK(isnan(m->accuracy) && m->confusion == NULL);
    CHECK_NEAR(6.0 / 4.0, m->mse, 1e-15, 0);
    CHECK_NEAR(4.0 / 4.0, m->mae, 1e-15, 0);
    /* mean t = 2.5, SS_tot = 6.25 + 0.25 + 0.25 + 2.25 = 9, SS_res = 6. */
    CHECK_NEAR(1.0 - 6.0 / 9.0, m->r2, 1e-15, 0);
    CHECK_NEAR(m->mse, m->loss, 1e-7, 0);
    nn_metrics_free(m);
    nn_dataset_free(d);
    nn_net_free(net);
}

/* Byte-stored inputs give the same metrics as the same values as floats. */
static void test_compact_and_alloc(void)
{
    nn_dataset *a = NULL;
    nn_data_digits03(5, 0.1f, 3, &a);
    nn_net *net = NULL;
    nn_net_create(5, &net);
    nn_net_add_dense(net, 64, 4, NULL, NULL);
    /* The same inputs as bytes: pixel values rounded to 0..255. */
    nn_dataset *b = NULL;
    CHECK_OK(nn_dataset_alloc(nn_dataset_size(a), 64, 1, 1, &b));
    float *xa = (float *)nn_tensor_cdata(nn_dataset_x(a));
    for (int64_t i = 0; i < nn_dataset_size(a) * 64; i++) {
        float v = xa[i] < 0 ? 0 : xa[i] > 1 ? 1 : xa[i];
        b->xu8[i] = (uint8_t)(v * 255.0f + 0.5f);
        xa[i] = (float)b->xu8[i];
    }
    memcpy(nn_tensor_data(b->t), nn_tensor_cdata(nn_dataset_t(a)), (size_t)nn_dataset_size(a) * sizeof(float));
    nn_metrics *ma = NULL, *mb = NULL;
    CHECK_OK(nn_evaluate_metrics(net, a, NN_LOSS_CROSS_ENTROPY, NULL, &ma));
    CHECK_OK(nn_evaluate_metrics(net, b, NN_LOSS_CROSS_ENTROPY, NULL, &mb));
    CHECK(ma && mb && ma->loss == mb->loss && ma->accuracy == mb->accuracy);
    nn_metrics_free(ma);
    nn_metrics_free(mb);
    /* The network's buffers are sized now: every later allocation is the
     * evaluation's own and must be released. */
    for (long k = 1;; k++) {
        tu_alloc_install(k);
        nn_metrics *m = NULL;
        const nn_status st = nn_evaluate_metrics(net, a, NN_LOSS_CROSS_ENTROPY, NULL, &m);
        nn_metrics_free(m);
        const long failed = tu_alloc.failed, live = tu_alloc.live;
        tu_alloc_remove();
        CHECK_INT(0, live);
        if (!failed) {
            CHECK_OK(st);
            break;
        }
        CHECK_STATUS(NN_ENOMEM, st);
    }
    nn_net_free(net);
    nn_dataset_free(a);
    nn_dataset_free(b);
}

int main(void)
{
    test_classes();
    test_binary();
    test_regression();
    test_compact_and_alloc();
    return tu_finish();
}
