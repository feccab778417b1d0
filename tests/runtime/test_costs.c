/* test_costs.c — every cost function: value at hand-computed points,
 * gradient against central differences (class labels, one-hot and soft
 * targets), finite results for extreme finite inputs, non-finite results
 * for non-finite outputs (and the trainer stopping on them), names and
 * errors.
 *
 * Gradient check: the loss is computed by nn_loss in double from float32
 * outputs; we perturb one float output by h = 1e-3 (values are of order 1,
 * probabilities kept in [0.1, 0.9] so the clamps are far away).  Truncation
 * error h^2 |L'''| / 6 is at most ~1e-6 / 6 * 2 / 0.1^3 / B ~ 1e-4 of a
 * gradient ~1/(B p) ~ 3, i.e. < 1e-4 relative; rounding is only the double
 * sum (~1e-16 / h).  Tolerance: 1e-3 relative with an absolute floor of 1e-6:
 * tight enough to see a missing 1/B, a factor 2, a wrong sign or a wrong
 * class index, and still 10x above the error budget.  The returned dy is
 * float, so it carries 6e-8 relative rounding of its own. */
#include <float.h>

#include "testutil.h"

#define B 3
#define C 4
#define H 1e-3
#define RTOL 1e-3
#define ATOL 1e-6

static nn_tensor *tensor(int64_t rows, int64_t cols, const float *data)
{
    nn_tensor *t = NULL;
    if (nn_tensor_from(rows, cols, data, &t)) {
        fprintf(stderr, "tensor: %s\n", nn_last_error());
        exit(1);
    }
    return t;
}

static nn_tensor *labels1d(int64_t n, const float *data)
{
    nn_tensor *t = NULL;
    const int64_t shape[1] = {n};
    if (nn_tensor_create(1, shape, &t)) {
        fprintf(stderr, "tensor: %s\n", nn_last_error());
        exit(1);
    }
    memcpy(nn_tensor_data(t), data, (size_t)n * sizeof(float));
    return t;
}

/* Loss and gradient of y against t; returns the loss (NaN on failure). */
static double loss_of(nn_loss_kind k, nn_tensor *y, nn_tensor *t, nn_tensor *dy)
{
    double L = NAN;
    CHECK_OK(nn_loss(k, y, t, &L, dy));
    return L;
}

static void test_names(void)
{
    static const char *const names[] = {"mse", "cross_entropy", "bce", "bce_logits", "log_loss"};
    for (int k = 0; k < 5; k++) {
        CHECK_STR(names[k], nn_loss_name((nn_loss_kind)k));
        nn_loss_kind got = (nn_loss_kind)-1;
        CHECK_OK(nn_loss_parse(names[k], &got));
        CHECK_INT(k, got);
    }
    CHECK_STR(NULL, nn_loss_name((nn_loss_kind)5));
    const struct {
        const char *alias;
        nn_loss_kind kind;
    } aliases[4] = {{"mean_squared_error", NN_LOSS_MSE},
                    {"categorical_crossentropy", NN_LOSS_CROSS_ENTROPY},
                    {"binary_crossentropy", NN_LOSS_BCE},
                    {"nll", NN_LOSS_LOG_LOSS}};
    for (int i = 0; i < 4; i++) {
        nn_loss_kind got = (nn_loss_kind)-1;
        CHECK_OK(nn_loss_parse(aliases[i].alias, &got));
        CHECK_INT(aliases[i].kind, got);
    }
    nn_loss_kind k;
    CHECK_ERR(NN_EINVAL, "unknown loss 'hinge'", nn_loss_parse("hinge", &k));
    CHECK_ERR(NN_EINVAL, "loss: NULL name", nn_loss_parse(NULL, &k));
}

static void test_values(void)
{
    /* MSE: differences 1, 0, 2, 3 -> (1 + 0 + 4 + 9) / 4; dy = 2 d / 4 */
    const float my[4] = {1, 2, 3, 4}, mt[4] = {0, 2, 1, 1};
    nn_tensor *y = tensor(2, 2, my), *t = tensor(2, 2, mt), *dy = NULL;
    CHECK_OK(nn_tensor_create2d(2, 2, &dy));
    CHECK_NEAR(3.5, loss_of(NN_LOSS_MSE, y, t, dy), 1e-12, 0);
    const float mdy[4] = {0.5f, 0, 1, 1.5f};
    for (int i = 0; i < 4; i++)
        CHECK_FLOAT_EQ(mdy[i], nn_tensor_cdata(dy)[i]);
    double L = 0;
    CHECK_OK(nn_loss(NN_LOSS_MSE, y, t, &L, NULL)); /* value only */
    CHECK_NEAR(3.5, L, 1e-12, 0);
    nn_tensor_free(y);
    nn_tensor_free(t);
    nn_tensor_free(dy);

    /* Cross-entropy: rows (1,2,3) class 2 and (0,0,0) class 0:
       (logsumexp(1,2,3) - 3 + log 3) / 2 */
    const float cy[6] = {1, 2, 3, 0, 0, 0}, clab[2] = {2, 0};
    y = tensor(2, 3, cy);
    t = tensor(2, 1, clab);
    CHECK_NEAR(0.7531091265562452, loss_of(NN_LOSS_CROSS_ENTROPY, y, t, NULL), 1e-6, 0);
    nn_tensor_free(t);
    t = labels1d(2, clab); /* (B) labels as well as (B, 1) */
    CHECK_NEAR(0.7531091265562452, loss_of(NN_LOSS_CROSS_ENTROPY, y, t, NULL), 1e-6, 0);
    nn_tensor_free(t);
    const float onehot[6] = {0, 0, 1, 1, 0, 0};
    t = tensor(2, 3, onehot);
    CHECK_NEAR(0.7531091265562452, loss_of(NN_LOSS_CROSS_ENTROPY, y, t, NULL), 1e-6, 0);
    nn_tensor_free(t);
    nn_tensor_free(y);
    /* soft target (0.2, 0.3, 0.5) on (1,2,3): logsumexp - 2.3 */
    const float soft[3] = {0.2f, 0.3f, 0.5f};
    y = tensor(1, 3, cy);
    t = tensor(1, 3, soft);
    CHECK_NEAR(1.1076059644443808, loss_of(NN_LOSS_CROSS_ENTROPY, y, t, NULL), 1e-6, 0);
    nn_tensor_free(t);
    nn_tensor_free(y);

    /* BCE: -log 0.8, -log 0.7, log 2 (p = 0.5, t = 0.25), mean of 3 */
    const float by[3] = {0.8f, 0.3f, 0.5f}, bt[3] = {1, 0, 0.25f};
    y = tensor(3, 1, by);
    t = tensor(3, 1, bt);
    CHECK_NEAR(0.4243218919376292, loss_of(NN_LOSS_BCE, y, t, NULL), 1e-6, 0);
    nn_tensor_free(t);
    nn_tensor_free(y);

    /* BCE with logits: z = 0, 2, -3 with t = 1, 0, 1; dy = (sigmoid(z) - t) / 3 */
    const float zy[3] = {0, 2, -3}, zt[3] = {1, 0, 1};
    y = tensor(1, 3, zy);
    t = tensor(1, 3, zt);
    CHECK_OK(nn_tensor_create2d(1, 3, &dy));
    CHECK_NEAR(1.9562208477255532, loss_of(NN_LOSS_BCE_LOGITS, y, t, dy), 1e-6, 0);
    CHECK_NEAR(-0.5 / 3, nn_tensor_cdata(dy)[0], 1e-6, 0);
    CHECK_NEAR(0.29359902599262744, nn_tensor_cdata(dy)[1], 1e-6, 0);
    CHECK_NEAR(-0.3175247089408111, nn_tensor_cdata(dy)[2], 1e-6, 0);
    nn_tensor_free(dy);
    nn_tensor_free(t);
    nn_tensor_free(y);

    /* Log loss: -log 0.5 and -log 0.6, mean; soft (0.5, 0, 0.5) on (0.2, 0.3, 0.5) */
    const float py[6] = {0.2f, 0.3f, 0.5f, 0.1f, 0.6f, 0.3f}, plab[2] = {2, 1};
    y = tensor(2, 3, py);
    t = tensor(2, 1, plab);
    CHECK_NEAR(0.601986402162968, loss_of(NN_LOSS_LOG_LOSS, y, t, NULL), 1e-6, 0);
    nn_tensor_free(t);
    nn_tensor_free(y);
    const float psoft[3] = {0.5f, 0, 0.5f};
    y = tensor(1, 3, py);
    t = tensor(1, 3, psoft);
    CHECK_NEAR(1.1512925464970227, loss_of(NN_LOSS_LOG_LOSS, y, t, NULL), 1e-6, 0);
    nn_tensor_free(t);
    nn_tensor_free(y);
}

/* ---- gradients ---- */

typedef struct costctx {
    nn_loss_kind kind;
    nn_tensor *y, *t;
} costctx;

static double cost_loss(void *p)
{
    costctx *c = p;
    double L = NAN;
    nn_loss(c->kind, c->y, c->t, &L, NULL);
    return L;
}

/* Outputs in [lo, hi]; targets: labels (one column), one-hot or soft rows,
 * or element-wise values in [0, 1] (MSE/BCE). */
enum target { LABELS, ONEHOT, SOFT, ELEMENTS, UNNORMALISED };

static void gradcheck_cost(nn_loss_kind kind, enum target tk, double lo, double hi, uint64_t seed)
{
    tu_seed(seed);
    float yd[B * C], td[B * C];
    int64_t tcols = C;
    for (int i = 0; i < B * C; i++)
        yd[i] = (float)tu_uniform(lo, hi);
    for (int i = 0; i < B; i++) {
        const int k = (int)(tu_uniform(0, C)) % C;
        double s = 0, w[C];
        for (int j = 0; j < C; j++)
            s += w[j] = tu_uniform(0.05, 1);
        for (int j = 0; j < C; j++) {
            if (tk == LABELS)
                td[i] = (float)k;
            else if (tk == ONEHOT)
                td[i * C + j] = j == k ? 1.0f : 0.0f;
            else if (tk == SOFT)
                td[i * C + j] = (float)(w[j] / s);
            else if (tk == UNNORMALISED) /* rows sum to 0.7: outside the contract, */
                td[i * C + j] = (float)(0.7 * w[j] / s); /* but dy must still be dL/dy */
            else
                td[i * C + j] = (float)tu_uniform(0, 1);
        }
    }
    if (tk == LABELS)
        tcols = 1;
    costctx c = {kind, tensor(B, C, yd), tensor(B, tcols, td)};
    nn_tensor *dy = NULL;
    CHECK_OK(nn_tensor_create2d(B, C, &dy));
    loss_of(kind, c.y, c.t, dy);
    static const char *const tnames[] = {"labels", "one-hot", "soft", "elements",
                                              "unnormalised"};
    char what[64];
    snprintf(what, sizeof what, "%s (%s) dy", nn_loss_name(kind), tnames[tk]);
    GRADCHECK(what, cost_loss, &c, nn_tensor_data(c.y), nn_tensor_cdata(dy), B * C, H, RTOL, ATOL);
    nn_tensor_free(dy);
    nn_tensor_free(c.y);
    nn_tensor_free(c.t);
}

static void test_gradients(void)
{
    gradcheck_cost(NN_LOSS_MSE, ELEMENTS, -2, 2, 1);
    gradcheck_cost(NN_LOSS_CROSS_ENTROPY, LABELS, -3, 3, 2);
    gradcheck_cost(NN_LOSS_CROSS_ENTROPY, ONEHOT, -3, 3, 3);
    gradcheck_cost(NN_LOSS_CROSS_ENTROPY, SOFT, -3, 3, 4);
    gradcheck_cost(NN_LOSS_CROSS_ENTROPY, UNNORMALISED, -3, 3, 10);
    gradcheck_cost(NN_LOSS_BCE, ELEMENTS, 0.1, 0.9, 5);
    gradcheck_cost(NN_LOSS_BCE_LOGITS, ELEMENTS, -4, 4, 6);
    gradcheck_cost(NN_LOSS_LOG_LOSS, LABELS, 0.1, 0.9, 7);
    gradcheck_cost(NN_LOSS_LOG_LOSS, ONEHOT, 0.1, 0.9, 8);
    gradcheck_cost(NN_LOSS_LOG_LOSS, SOFT, 0.1, 0.9, 9);
}

/* Labels and the equivalent one-hot rows give the same loss and gradient;
 * cross-entropy on logits equals log loss on their softmax. */
static void test_equivalences(void)
{
    const float y[6] = {0.5f, -1, 2, 0.25f, 0.125f, -0.5f}, lab[2] = {1, 0};
    const float oh[6] = {0, 1, 0, 1, 0, 0};
    float p[6];
    for (int i = 0; i < 2; i++) {
        double s = 0;
        for (int j = 0; j < 3; j++)
            s += exp(y[i * 3 + j]);
        for (int j = 0; j < 3; j++)
            p[i * 3 + j] = (float)(exp(y[i * 3 + j]) / s);
    }
    nn_tensor *ty = tensor(2, 3, y), *tp = tensor(2, 3, p), *tl = tensor(2, 1, lab), *to = tensor(2, 3, oh);
    nn_tensor *d1, *d2;
    CHECK_OK(nn_tensor_create2d(2, 3, &d1));
    CHECK_OK(nn_tensor_create2d(2, 3, &d2));
    for (int k = 0; k < 2; k++) {
        const nn_loss_kind kind = k ? NN_LOSS_LOG_LOSS : NN_LOSS_CROSS_ENTROPY;
        nn_tensor *in = k ? tp : ty;
        const double a = loss_of(kind, in, tl, d1), b = loss_of(kind, in, to, d2);
        CHECK_NEAR(a, b, 1e-12, 0);
        CHECK_MSG(memcmp(nn_tensor_cdata(d1), nn_tensor_cdata(d2), 6 * sizeof(float)) == 0,
                  "%s: labels and one-hot give different gradients", nn_loss_name(kind));
    }
    CHECK_NEAR(loss_of(NN_LOSS_CROSS_ENTROPY, ty, tl, NULL), loss_of(NN_LOSS_LOG_LOSS, tp, tl, NULL),
               1e-6, 0);
    nn_tensor_free(ty);
    nn_tensor_free(tp);
    nn_tensor_free(tl);
    nn_tensor_free(to);
    nn_tensor_free(d1);
    nn_tensor_free(d2);
}

static int all_finite(const nn_tensor *t)
{
    for (int64_t i = 0; i < nn_tensor_size(t); i++)
        if (!isfinite(nn_tensor_cdata(t)[i]))
            return 0;
    return 1;
}

static void check_finite(nn_loss_kind kind, int64_t rows, int64_t cols, const float *y,
                         int64_t tcols, const float *t, double expected, const char *what)
{
    nn_tensor *ty = tensor(rows, cols, y), *tt = tensor(rows, tcols, t), *dy;
    CHECK_OK(nn_tensor_create2d(rows, cols, &dy));
    const double L = loss_of(kind, ty, tt, dy);
    CHECK_MSG(isfinite(L), "%s %s: loss %g is not finite", nn_loss_name(kind), what, L);
    CHECK_MSG(all_finite(dy), "%s %s: gradient not finite", nn_loss_name(kind), what);
    if (!isnan(expected))
        CHECK_MSG(tu_close(expected, L, 1e-6, 1e-12), "%s %s: loss %.9g, expected %.9g",
                  nn_loss_name(kind), what, L, expected);
    nn_tensor_free(ty);
    nn_tensor_free(tt);
    nn_tensor_free(dy);
}

static void test_extremes(void)
{
    const float big[4] = {1e30f, -1e30f, -1e30f, 1e30f};
    const float lab[2] = {0, 0}, soft[4] = {0.5f, 0.5f, 0, 1};
    /* row 1 right with margin 2e30 -> 0; row 2 wrong by 2e30 -> 2e30; mean 1e30 */
    check_finite(NN_LOSS_CROSS_ENTROPY, 2, 2, big, 1, lab, 1e30, "logits +-1e30, labels");
    /* row 1: (1e30 + 0) - (0.5e30 - 0.5e30) = 1e30; row 2 right -> 0 */
    check_finite(NN_LOSS_CROSS_ENTROPY, 2, 2, big, 2, soft, 5e29, "logits +-1e30, soft");
    const float fmax[2] = {FLT_MAX, -FLT_MAX}, one[1] = {1};
    check_finite(NN_LOSS_CROSS_ENTROPY, 1, 2, fmax, 1, one, 2.0 * FLT_MAX, "logits +-FLT_MAX");
    const float zt[4] = {1, 0, 1, 0};
    /* z = 1e30, t = 1 -> 0; z = -1e30, t = 0 -> 0; z = -1e30, t = 1 -> 1e30;
       z = 1e30, t = 0 -> 1e30: mean 5e29 */
    check_finite(NN_LOSS_BCE_LOGITS, 2, 2, big, 2, zt, 5e29, "logits +-1e30");
    check_finite(NN_LOSS_MSE, 2, 2, big, 2, zt, 1e60, "outputs +-1e30");
    /* probabilities exactly 0 and 1: clamped to 1e-7, 1 - 1e-7 */
    const float p01[4] = {0, 1, 1, 0}, t01[4] = {0, 1, 0, 1};
    check_finite(NN_LOSS_BCE, 2, 2, p01, 2, t01, (2 * 1.0000000494736474e-07 + 2 * 16.11809565095832) / 4,
                 "probabilities 0 and 1");
    const float lp[4] = {0, 1, 1, 0}, ll[2] = {0, 0};
    check_finite(NN_LOSS_LOG_LOSS, 2, 2, lp, 1, ll, 16.11809565095832 / 2, "probabilities 0 and 1");
    const float lneg[4] = {-5, 1e30f, 1e30f, -1e30f};
    check_finite(NN_LOSS_LOG_LOSS, 2, 2, lneg, 1, ll, NAN, "outputs -5 and +-1e30");
    check_finite(NN_LOSS_BCE, 2, 2, lneg, 2, t01, NAN, "outputs -5 and +-1e30");
}

/* Every loss propagates a NaN or infinite output wherever it is, whatever
 * its target: the clamps of bce and log_loss must not turn it into eps, and
 * a -inf logit of a non-target class must not vanish from cross-entropy.
 * Otherwise a network of NaN weights "trains" to a finite loss. */
static void test_nonfinite(void)
{
    const float prob[B * C] = {0.2f, 0.7f, 0.4f, 0.9f, 0.5f, 0.1f, 0.3f, 0.6f, 0.8f, 0.25f, 0.35f, 0.45f};
    const float lab[B] = {0, 3, 1};
    const float onehot[B * C] = {1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0};
    const float bin[B * C] = {0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1};
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    const struct {
        nn_loss_kind kind;
        const float *t;
        int64_t tcols;
        int dy_nonfinite; /* bce_logits keeps a finite gradient at z = +-inf */
    } cases[] = {
        {NN_LOSS_MSE, prob, C, 1},           {NN_LOSS_BCE, bin, C, 1},
        {NN_LOSS_BCE_LOGITS, bin, C, 0},     {NN_LOSS_CROSS_ENTROPY, lab, 1, 1},
        {NN_LOSS_CROSS_ENTROPY, onehot, C, 1}, {NN_LOSS_LOG_LOSS, lab, 1, 1},
        {NN_LOSS_LOG_LOSS, onehot, C, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int b = 0; b < 3; b++) {
            for (int k = 0; k < B * C; k++) {
                float y[B * C];
                memcpy(y, prob, sizeof y);
                y[k] = bad[b];
                nn_tensor *ty = tensor(B, C, y), *tt = tensor(B, cases[c].tcols, cases[c].t), *dy;
                CHECK_OK(nn_tensor_create2d(B, C, &dy));
                const double L = loss_of(cases[c].kind, ty, tt, dy);
                CHECK_MSG(!isfinite(L), "%s (targets of %lld columns), output %d = %g: loss %g is finite",
                          nn_loss_name(cases[c].kind), (long long)cases[c].tcols, k, y[k], L);
                if (cases[c].dy_nonfinite)
                    CHECK_MSG(!isfinite(nn_tensor_cdata(dy)[k]), "%s, output %d = %g: gradient %g is finite",
                              nn_loss_name(cases[c].kind), k, y[k], nn_tensor_cdata(dy)[k]);
                double L2 = 0;
                CHECK_OK(nn_loss(cases[c].kind, ty, tt, &L2, NULL)); /* value only: the same */
                CHECK_MSG(!isfinite(L2), "%s, output %d = %g: loss without gradient %g is finite",
                          nn_loss_name(cases[c].kind), k, y[k], L2);
                nn_tensor_free(ty);
                nn_tensor_free(tt);
                nn_tensor_free(dy);
            }
        }
    }
}

/* The trainer stops in the first batch, naming it, when every weight is NaN
 * or infinite, under every loss (with the output activation it suits). */
static void test_trainer_diverges(void)
{
    const struct {
        nn_loss_kind kind;
        int64_t out;
        int act;
        nn_act oact;
    } cases[] = {
        {NN_LOSS_MSE, 1, 0, NN_ACT_IDENTITY},           {NN_LOSS_BCE, 1, 1, NN_ACT_SIGMOID},
        {NN_LOSS_BCE_LOGITS, 1, 0, NN_ACT_IDENTITY},    {NN_LOSS_CROSS_ENTROPY, 2, 0, NN_ACT_IDENTITY},
        {NN_LOSS_LOG_LOSS, 2, 1, NN_ACT_SOFTMAX},
    };
    const float bad[2] = {NAN, INFINITY};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int b = 0; b < 2; b++) {
            nn_dataset *d = NULL;
            nn_net *net = NULL;
            CHECK_OK(nn_data_xor(&d));
            CHECK_OK(nn_net_create(1, &net));
            CHECK_OK(nn_net_add_dense(net, 2, 4, NULL, NULL));
            CHECK_OK(nn_net_add_activation(net, NN_ACT_RELU, 0));
            CHECK_OK(nn_net_add_dense(net, 4, cases[c].out, NULL, NULL));
            if (cases[c].act)
                CHECK_OK(nn_net_add_activation(net, cases[c].oact, 0));
            float *w = nn_net_params(net);
            for (int64_t i = 0; i < nn_net_param_count(net); i++)
                w[i] = bad[b];
            nn_train_config cfg = nn_train_defaults();
            cfg.loss = cases[c].kind;
            cfg.batch_size = 4;
            nn_trainer *tr = NULL;
            CHECK_OK(nn_trainer_create(net, &cfg, &tr));
            int64_t done = -1;
            const nn_status s = nn_train(tr, d, NULL, 3, &done);
            CHECK_STATUS(NN_EDIVERGED, s);
            const char *prefix = "training diverged at epoch 1, batch 1: loss is ";
            CHECK_MSG(strncmp(nn_last_error(), prefix, strlen(prefix)) == 0,
                      "%s, weights %g: message \"%s\"", nn_loss_name(cases[c].kind), bad[b], nn_last_error());
            CHECK_INT(0, done);
            CHECK_INT(0, nn_trainer_epoch(tr));
            nn_trainer_free(tr);
            nn_net_free(net);
            nn_dataset_free(d);
        }
    }
}

static void test_errors(void)
{
    const float d[12] = {0.1f, 0.2f, 0.3f, 0.4f, 0.1f, 0.2f, 0.3f, 0.4f, 0.1f, 0.2f, 0.3f, 0.4f};
    nn_tensor *y = tensor(3, 4, d), *t3 = tensor(4, 3, d), *t23 = tensor(2, 4, d), *w3 = tensor(3, 3, d);
    nn_tensor *dy;
    double L;
    CHECK_OK(nn_tensor_create2d(2, 3, &dy));
    CHECK_ERR(NN_ESHAPE, "mse: target has 3 columns, output has 4", nn_loss(NN_LOSS_MSE, y, w3, &L, NULL));
    CHECK_ERR(NN_ESHAPE, "bce: target has 2 rows, output has 3", nn_loss(NN_LOSS_BCE, y, t23, &L, NULL));
    CHECK_ERR(NN_ESHAPE, "mse: target has 4 rows, output has 3", nn_loss(NN_LOSS_MSE, y, t3, &L, NULL));
    CHECK_ERR(NN_ESHAPE, "bce_logits: gradient tensor is (2, 3), output is (3, 4)",
              nn_loss(NN_LOSS_BCE_LOGITS, y, y, &L, dy));
    CHECK_ERR(NN_EINVAL, "loss: NULL argument", nn_loss(NN_LOSS_MSE, NULL, y, &L, NULL));
    CHECK_ERR(NN_EINVAL, "loss: NULL argument", nn_loss(NN_LOSS_MSE, y, NULL, &L, NULL));
    CHECK_ERR(NN_EINVAL, "loss: NULL argument", nn_loss(NN_LOSS_MSE, y, y, NULL, NULL));
    CHECK_ERR(NN_EINVAL, "loss: unknown kind 9", nn_loss((nn_loss_kind)9, y, y, &L, NULL));

    const float one[3] = {0, 0, 0};
    nn_tensor *y1 = tensor(3, 1, one);
    CHECK_ERR(NN_ESHAPE, "cross_entropy: the output has 1 column; a categorical loss needs >= 2 classes",
              nn_loss(NN_LOSS_CROSS_ENTROPY, y1, y1, &L, NULL));
    CHECK_ERR(NN_ESHAPE, "log_loss: the output has 1 column; a categorical loss needs >= 2 classes",
              nn_loss(NN_LOSS_LOG_LOSS, y1, y1, &L, NULL));
    const float bad4[3] = {0, 4, 1}, badh[3] = {1, 1.5f, 0}, badn[3] = {-1, 0, 0}, badnan[3] = {0, 0, NAN};
    nn_tensor *l4 = tensor(3, 1, bad4), *lh = tensor(3, 1, badh), *ln = tensor(3, 1, badn),
              *lnan = tensor(3, 1, badnan);
    CHECK_ERR(NN_ERANGE, "cross_entropy: target row 2: class label 4 is not an integer in [0, 4)",
              nn_loss(NN_LOSS_CROSS_ENTROPY, y, l4, &L, NULL));
    CHECK_ERR(NN_ERANGE, "log_loss: target row 2: class label 1.5 is not an integer in [0, 4)",
              nn_loss(NN_LOSS_LOG_LOSS, y, lh, &L, NULL));
    CHECK_ERR(NN_ERANGE, "cross_entropy: target row 1: class label -1 is not an integer in [0, 4)",
              nn_loss(NN_LOSS_CROSS_ENTROPY, y, ln, &L, NULL));
    CHECK_ERR(NN_ERANGE, "cross_entropy: target row 3: class label nan is not an integer in [0, 4)",
              nn_loss(NN_LOSS_CROSS_ENTROPY, y, lnan, &L, NULL));
    CHECK_ERR(NN_ESHAPE, "cross_entropy: target has 3 columns, output has 4",
              nn_loss(NN_LOSS_CROSS_ENTROPY, y, w3, &L, NULL));
    nn_tensor_free(l4);
    nn_tensor_free(lh);
    nn_tensor_free(ln);
    nn_tensor_free(lnan);
    nn_tensor_free(y1);
    nn_tensor_free(y);
    nn_tensor_free(t3);
    nn_tensor_free(t23);
    nn_tensor_free(w3);
    nn_tensor_free(dy);
}

int main(void)
{
    test_names();
    test_values();
    test_gradients();
    test_equivalences();
    test_extremes();
    test_nonfinite();
    test_trainer_diverges();
    test_errors();
    return tu_finish();
}
