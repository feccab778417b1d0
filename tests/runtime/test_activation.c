/* test_activation.c — each activation's forward at known points (including
 * extreme inputs) and its backward against central differences.
 *
 * Gradient check: L(x) = sum_ij r_ij y_ij(x) with fixed random r, evaluated
 * in double from the float32 forward, so dL/dx must equal backward(dy = r).
 * Step h = 1e-3 on inputs of order 1.  Truncation error is ~h^2 |f'''| / 6
 * ~ 1e-7; rounding error is ~2 * 6e-8 * |y| * |r| / (2h) ~ 1e-4 for a
 * softmax row (every y of the row moves), less element-wise.  Tolerance:
 * 1e-2 relative with an absolute floor of 1e-4 (more than 10x the noise;
 * a wrong derivative is off by O(1) relative).  Inputs of relu and
 * leaky_relu are kept at |x| >= 0.1 >> h, away from the kink. */
#include "kernels/gemm.h"
#include "layers/layers.h"
#include "testutil.h"

#define B 3
#define NF 5
#define H 1e-3
#define RTOL 1e-2
#define ATOL 1e-4

static void test_names(void)
{
    static const char *const names[] = {"identity", "sigmoid", "tanh", "relu",     "leaky_relu",
                                        "softmax",  "gelu",    "elu",  "silu", "softplus"};
    for (int k = 0; k < 10; k++) {
        CHECK_STR(names[k], nn_act_name((nn_act)k));
        nn_act a = (nn_act)-1;
        CHECK_OK(nn_act_parse(names[k], &a));
        CHECK_INT(k, a);
    }
    CHECK_STR(NULL, nn_act_name((nn_act)10));
    nn_act a;
    CHECK_ERR(NN_EINVAL, "unknown activation 'swish'", nn_act_parse("swish", &a));
    CHECK_ERR(NN_EINVAL, "unknown activation '(null)'", nn_act_parse(NULL, &a));
}

static void fwd1(nn_act act, float param, const float *x, float *y, int64_t n)
{
    nn_act_forward(act, param, x, y, 1, n);
}

static void test_forward_values(void)
{
    const float x[7] = {0.0f, 2.0f, -2.0f, 0.5f, -100.0f, 100.0f, -1e30f};
    float y[7];
    fwd1(NN_ACT_IDENTITY, 0, x, y, 7);
    CHECK(memcmp(x, y, sizeof x) == 0);

    fwd1(NN_ACT_SIGMOID, 0, x, y, 7);
    CHECK_NEAR(0.5, y[0], 1e-6, 0);
    CHECK_NEAR(0.8807970779778823, y[1], 1e-6, 0);
    CHECK_NEAR(0.11920292202211755, y[2], 1e-6, 0);
    CHECK_NEAR(0.6224593312018546, y[3], 1e-6, 0);
    CHECK_NEAR(3.720075976020836e-44, y[4], 0.05, 0); /* subnormal float */
    CHECK_FLOAT_EQ(1, y[5]);
    CHECK_FLOAT_EQ(0, y[6]); /* no NaN from e^1e30 */

    fwd1(NN_ACT_TANH, 0, x, y, 7);
    CHECK_FLOAT_EQ(0, y[0]);
    CHECK_NEAR(0.9640275800758169, y[1], 1e-6, 0);
    CHECK_NEAR(-0.9640275800758169, y[2], 1e-6, 0);
    CHECK_NEAR(0.46211715726000974, y[3], 1e-6, 0);
    CHECK_FLOAT_EQ(-1, y[4]);
    CHECK_FLOAT_EQ(1, y[5]);
    CHECK_FLOAT_EQ(-1, y[6]);

    fwd1(NN_ACT_RELU, 0, x, y, 7);
    const float relu[7] = {0, 2, 0, 0.5f, 0, 100, 0};
    for (int i = 0; i < 7; i++)
        CHECK_FLOAT_EQ(relu[i], y[i]);

    fwd1(NN_ACT_LEAKY_RELU, 0.1f, x, y, 7);
    const float leaky[7] = {0, 2, -0.2f, 0.5f, -10.0f, 100, -1e29f};
    for (int i = 0; i < 7; i++)
        CHECK_NEAR(leaky[i], y[i], 1e-6, 0);

    /* softmax per row; rows (1,2,3), (1000,1000,1000), (-1e30, 0, 1e30) */
    const float xs[9] = {1, 2, 3, 1000, 1000, 1000, -1e30f, 0, 1e30f};
    float ys[9];
    nn_act_forward(NN_ACT_SOFTMAX, 0, xs, ys, 3, 3);
    CHECK_NEAR(0.09003057317038046, ys[0], 1e-6, 0);
    CHECK_NEAR(0.24472847105479767, ys[1], 1e-6, 0);
    CHECK_NEAR(0.6652409557748219, ys[2], 1e-6, 0);
    for (int j = 3; j < 6; j++)
        CHECK_NEAR(1.0 / 3.0, ys[j], 1e-6, 0);
    CHECK_FLOAT_EQ(0, ys[6]);
    CHECK_FLOAT_EQ(0, ys[7]);
    CHECK_FLOAT_EQ(1, ys[8]);
    /* in place (y == x) is allowed for element-wise forward */
    float inplace[3] = {-1, 0, 1};
    nn_act_forward(NN_ACT_TANH, 0, inplace, inplace, 1, 3);
    CHECK_NEAR(tanh(-1.0), inplace[0], 1e-6, 0);
}

/* tanh is computed by the runtime's own approximation: within 4 ulp of the
 * exact value everywhere, NaN stays NaN, infinities give +-1.  Every 101st
 * float of [-12, 12] (about 21 million, so that the sanitizer build stays
 * quick; every float was checked once by hand: worst 3.2 ulp), and every
 * float within 1000 ulp of the approximation's seams at 0.25 and 9.1. */
static float float_of_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits_of_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void test_tanh_accuracy(void)
{
    enum { N = 4096 };
    static float x[N], y[N];
    double worst = 0;
    float at = 0;
    /* Ranges of bit patterns of positive floats, each walked with a stride;
     * every value is checked with both signs. */
    const uint32_t top = bits_of_float(12.0f), s1 = bits_of_float(0.25f), s2 = bits_of_float(9.1f);
    const uint32_t ranges[3][3] = {{1, top, 101}, {s1 - 1000, s1 + 1000, 1}, {s2 - 1000, s2 + 1000, 1}};
    for (int r = 0; r < 3; r++) {
        int n = 0;
        for (uint32_t u = ranges[r][0]; u <= ranges[r][1]; u += ranges[r][2]) {
            x[n++] = float_of_bits(u);
            x[n++] = -float_of_bits(u);
            if (n + 2 <= N && u + ranges[r][2] <= ranges[r][1])
                continue;
            nn_act_forward(NN_ACT_TANH, 0, x, y, 1, n);
            for (int i = 0; i < n; i++) {
                const double ref = tanh((double)x[i]);
                const double rel = fabs(y[i] - ref) / fabs(ref);
                if (rel > worst) {
                    worst = rel;
                    at = x[i];
                }
            }
            n = 0;
        }
    }
    if (!(worst <= 4 * 5.960464477539063e-08))
        printf("tanh: worst relative error %g at %.9g\n", worst, at);
    CHECK(worst <= 4 * 5.960464477539063e-08); /* 4 ulp of a float near 1 */
    const float special[4] = {INFINITY, -INFINITY, NAN, -0.0f};
    float out[4];
    nn_act_forward(NN_ACT_TANH, 0, special, out, 1, 4);
    CHECK_FLOAT_EQ(1, out[0]);
    CHECK_FLOAT_EQ(-1, out[1]);
    CHECK(isnan(out[2]));
    CHECK(out[3] == 0.0f && signbit(out[3]));
}

/* ---- gradient check ---- */

typedef struct actctx {
    nn_act act;
    float param;
    float x[B * NF], y[B * NF];
    double r[B * NF];
} actctx;

static double act_loss(void *p)
{
    actctx *c = p;
    nn_act_forward(c->act, c->param, c->x, c->y, B, NF);
    double L = 0;
    for (int i = 0; i < B * NF; i++)
        L += c->r[i] * c->y[i];
    return L;
}

static void gradcheck_act(nn_act act, float param, uint64_t seed)
{
    actctx c;
    c.act = act;
    c.param = param;
    tu_seed(seed);
    for (int i = 0; i < B * NF; i++) {
        double v = tu_uniform(-2.5, 2.5);
        if (fabs(v) < 0.1) /* keep away from the relu kink */
            v = v < 0 ? v - 0.1 : v + 0.1;
        c.x[i] = (float)v;
        c.r[i] = tu_uniform(-1, 1);
    }
    float dy[B * NF], dx[B * NF];
    nn_act_forward(act, param, c.x, c.y, B, NF);
    for (int i = 0; i < B * NF; i++)
        dy[i] = (float)c.r[i];
    nn_act_backward(act, param, c.x, c.y, dy, dx, B, NF);

    char what[64];
    snprintf(what, sizeof what, "%s dx", nn_act_name(act));
    double worst = 0;
    tu_gradcheck(__FILE__, __LINE__, what, act_loss, &c, c.x, dx, B * NF, H, RTOL, ATOL, &worst);

    /* dx may alias dy: the same result in place */
    nn_act_forward(act, param, c.x, c.y, B, NF);
    float inplace[B * NF];
    memcpy(inplace, dy, sizeof dy);
    nn_act_backward(act, param, c.x, c.y, inplace, inplace, B, NF);
    CHECK_MSG(memcmp(inplace, dx, sizeof dx) == 0, "%s backward in place differs", nn_act_name(act));
}

/* A NaN input stays NaN through every activation (relu once made it 0,
 * which hid a divergence until the loss); under every kernel set. */
static void test_nan_propagates(void)
{
    static const char *const sets[] = {"portable", "avx2", "avx512"};
    const nn_act acts[] = {NN_ACT_IDENTITY, NN_ACT_SIGMOID, NN_ACT_TANH, NN_ACT_RELU, NN_ACT_LEAKY_RELU,
                           NN_ACT_GELU, NN_ACT_ELU, NN_ACT_SILU, NN_ACT_SOFTPLUS};
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        if (nn_gemm_force_kernel(sets[k]) != 0)
            continue; /* a set this CPU cannot run */
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
            float x[40], y[40];
            for (int i = 0; i < 40; i++)
                x[i] = (float)(i - 20) * 0.25f;
            x[3] = NAN;  /* within the vector body */
            x[39] = NAN; /* in the tail */
            nn_act_forward(acts[a], 0.1f, x, y, 1, 40);
            CHECK_MSG(isnan(y[3]) && isnan(y[39]), "%s(NaN) is not NaN (%s kernels)", nn_act_name(acts[a]),
                      sets[k]);
            if (acts[a] == NN_ACT_RELU)
                CHECK_MSG(y[10] == 0.0f && !signbit(y[10]) && y[30] == 2.5f, "relu(-2.5) is not +0 or relu(2.5) not 2.5");
        }
    }
    nn_gemm_force_kernel(NULL);
}

static void test_gradients(void)
{
    gradcheck_act(NN_ACT_IDENTITY, 0, 1);
    gradcheck_act(NN_ACT_SIGMOID, 0, 2);
    gradcheck_act(NN_ACT_TANH, 0, 3);
    gradcheck_act(NN_ACT_RELU, 0, 4);
    gradcheck_act(NN_ACT_LEAKY_RELU, 0.1f, 5);
    gradcheck_act(NN_ACT_LEAKY_RELU, 0.3f, 6);
    gradcheck_act(NN_ACT_SOFTMAX, 0, 7);
    gradcheck_act(NN_ACT_SOFTMAX, 0, 8);
}

int main(void)
{
    test_names();
    test_forward_values();
    test_tanh_accuracy();
    test_gradients();
    test_nan_propagates();
    return tu_finish();
}
