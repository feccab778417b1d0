/* activation.c — element-wise activations and the per-row softmax, and
 * the `activation` layer kind.
 *
 * forward  y = f(x)
 * backward dx = dy * f'(x): sigmoid y(1-y); tanh 1-y^2; relu [x>0];
 *          leaky_relu [x>0] + slope [x<=0];
 *          softmax dx_j = y_j (dy_j - sum_k dy_k y_k);
 *          gelu Phi(x) + x phi(x); elu [x>0] + (y + alpha) [x<=0];
 *          silu s (1 + x (1 - s)), s = sigmoid(x); softplus sigmoid(x)
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../internal.h"
#include "../kernels/parallel.h"
#include "../kernels/simd.h"
#include "layers.h"

const char *const nn_act_names[] = {"identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax",
                                    "gelu",     "elu",     "silu", "softplus", NULL};
#define N_ACTS ((int)(sizeof nn_act_names / sizeof nn_act_names[0]) - 1)

const char *nn_act_name(nn_act a) { return (int)a >= 0 && (int)a < N_ACTS ? nn_act_names[a] : NULL; }

nn_status nn_act_parse(const char *name, nn_act *out)
{
    for (int i = 0; name && i < N_ACTS; i++) {
        if (strcmp(name, nn_act_names[i]) == 0) {
            *out = (nn_act)i;
            return NN_OK;
        }
    }
    return nn_fail(NN_EINVAL, "unknown activation '%s'", name ? name : "(null)");
}

static float sigmoidf(float x)
{
    /* Two branches so that e^x never overflows. */
    if (x >= 0)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* tanh to within 4 ulp (3.2 measured over every float in [-12, 12]) at
 * about a third of glibc's tanhf, which goes through expm1f: in a small
 * network tanh is most of a training step.  Near 0 a Taylor polynomial
 * (the first omitted term is below 1e-8 relative for |x| < 0.25); beyond,
 * (1 - e^-2|x|) / (1 + e^-2|x|), whose subtraction is exact there
 * (Sterbenz); beyond 9.1 the result rounds to +-1.  NaN stays NaN. */
static float fast_tanhf(float x)
{
    const float a = fabsf(x);
    if (a < 0.25f) {
        if (x == 0.0f)
            return x; /* keeps the sign of -0 */
        const float x2 = x * x;
        return x + x * x2 *
                       (-1.0f / 3.0f +
                        x2 * (2.0f / 15.0f + x2 * (-17.0f / 315.0f + x2 * (62.0f / 2835.0f))));
    }
    float r = 1.0f;
    if (!(a > 9.1f)) { /* NaN takes this branch and stays NaN */
        const float t = expf(-2.0f * a);
        r = (1.0f - t) / (1.0f + t);
    }
    return copysignf(r, x);
}

/* One activation call over elements [lo, hi) (rows for softmax). */
typedef struct act_job {
    nn_act act;
    float param;
    const float *x, *y, *dy;
    float *out;
    int64_t n; /* row width */
} act_job;

static void softmax_rows(const float *x, float *y, int64_t lo, int64_t hi, int64_t n)
{
    for (int64_t r = lo; r < hi; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float m = xr[0];
        for (int64_t j = 1; j < n; j++)
            m = xr[j] > m ? xr[j] : m;
        double s = 0.0;
        for (int64_t j = 0; j < n; j++) {
            yr[j] = expf(xr[j] - m);
            s += yr[j];
        }
        const float inv = (float)(1.0 / s);
        for (int64_t j = 0; j < n; j++)
            yr[j] *= inv;
    }
}

/* The loops below are compiled for each vector ISA (simd.h): the same bits
 * in each; the ones that call libm stay scalar. */
NN_SIMD_BODY void forward_body(int64_t lo, int64_t hi, void *ctx)
{
    const act_job *j = ctx;
    const float *x = j->x;
    float *y = j->out;
    const float a = j->param;
    switch (j->act) {
    case NN_ACT_IDENTITY:
        if (y != x)
            memcpy(y + lo, x + lo, (size_t)(hi - lo) * sizeof *y);
        break;
    case NN_ACT_SIGMOID:
        for (int64_t i = lo; i < hi; i++)
            y[i] = sigmoidf(x[i]);
        break;
    case NN_ACT_TANH:
        for (int64_t i = lo; i < hi; i++)
            y[i] = fast_tanhf(x[i]);
        break;
    case NN_ACT_RELU:
        /* x < 0 ? 0 : x would keep NaN but turn -0 into -0; this keeps
         * the +0 of before and passes a NaN on (x != x), so a divergence
         * shows in the loss at once. */
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] > 0.0f || x[i] != x[i] ? x[i] : 0.0f;
        break;
    case NN_ACT_LEAKY_RELU:
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] > 0.0f ? x[i] : a * x[i];
        break;
    case NN_ACT_SOFTMAX:
        softmax_rows(x, y, lo, hi, j->n);
        break;
    case NN_ACT_GELU:
        for (int64_t i = lo; i < hi; i++)
            y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
        break;
    case NN_ACT_ELU:
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] > 0.0f ? x[i] : a * expm1f(x[i]);
        break;
    case NN_ACT_SILU:
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] * sigmoidf(x[i]);
        break;
    case NN_ACT_SOFTPLUS:
        /* max(x, 0) + log(1 + e^-|x|): no overflow for large |x|. */
        for (int64_t i = lo; i < hi; i++)
            y[i] = (x[i] > 0.0f ? x[i] : 0.0f) + log1pf(expf(-fabsf(x[i])));
        break;
    }
}

/* Loads are unconditional and the selects branch-free so that the loops
 * vectorise (random signs would make a branchy loop mispredict). */
NN_SIMD_BODY void backward_body(int64_t lo, int64_t hi, void *ctx)
{
    const act_job *j = ctx;
    const float *x = j->x, *y = j->y, *dy = j->dy;
    float *dx = j->out; /* may alias dy: each element reads its own dy first */
    const float a = j->param;
    switch (j->act) {
    case NN_ACT_IDENTITY:
        if (dx != dy)
            memcpy(dx + lo, dy + lo, (size_t)(hi - lo) * sizeof *dx);
        break;
    case NN_ACT_SIGMOID:
        for (int64_t i = lo; i < hi; i++)
            dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case NN_ACT_TANH:
        for (int64_t i = lo; i < hi; i++)
            dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case NN_ACT_RELU:
        for (int64_t i = lo; i < hi; i++) {
            const float g = dy[i];
            dx[i] = x[i] > 0.0f ? g : 0.0f;
        }
        break;
    case NN_ACT_LEAKY_RELU:
        for (int64_t i = lo; i < hi; i++) {
            const float g = dy[i];
            dx[i] = x[i] > 0.0f ? g : a * g;
        }
        break;
    case NN_ACT_SOFTMAX:
        for (int64_t r = lo; r < hi; r++) {
            const int64_t n = j->n;
            const float *yr = y + r * n, *dyr = dy + r * n;
            float *dxr = dx + r * n;
            double dot = 0.0;
            for (int64_t k = 0; k < n; k++)
                dot += (double)dyr[k] * yr[k];
            for (int64_t k = 0; k < n; k++)
                dxr[k] = yr[k] * (dyr[k] - (float)dot);
        }
        break;
    case NN_ACT_GELU:
        for (int64_t i = lo; i < hi; i++) {
            const float g = dy[i], v = x[i];
            const float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
            const float pdf = expf(-0.5f * v * v) * 0.3989422804014327f; /* 1/sqrt(2 pi) */
            dx[i] = g * (cdf + v * pdf);
        }
        break;
    case NN_ACT_ELU:
        for (int64_t i = lo; i < hi; i++) {
            const float g = dy[i];
            dx[i] = x[i] > 0.0f ? g : g * (y[i] + a);
        }
        break;
    case NN_ACT_SILU:
        for (int64_t i = lo; i < hi; i++) {
            const float g = dy[i], sg = sigmoidf(x[i]);
            dx[i] = g * sg * (1.0f + x[i] * (1.0f - sg));
        }
        break;
    case NN_ACT_SOFTPLUS:
        for (int64_t i = lo; i < hi; i++) {
            const float g = dy[i];
            dx[i] = g * sigmoidf(x[i]);
        }
        break;
    }
}

NN_SIMD_RANGE(forward_range, forward_body)
NN_SIMD_RANGE(backward_range, backward_body)

/* Softmax splits over rows, everything else over elements. */
static void run(const act_job *j, int64_t B, nn_range_fn fn)
{
    if (j->act == NN_ACT_SOFTMAX)
        nn_parallel_range(B, NN_GRAIN_ELEMENTS / (j->n > 0 ? j->n : 1) + 1, fn, (void *)j);
    else
        nn_parallel_range(B * j->n, NN_GRAIN_ELEMENTS, fn, (void *)j);
}

void nn_act_forward(nn_act act, float param, const float *x, float *y, int64_t B, int64_t n)
{
    const act_job j = {act, param, x, NULL, NULL, y, n};
    run(&j, B, forward_range);
}

void nn_act_backward(nn_act act, float param, const float *x, const float *y, const float *dy,
                     float *dx, int64_t B, int64_t n)
{
    const act_job j = {act, param, x, y, dy, dx, n};
    run(&j, B, backward_range);
}

/* ---- the registry entry ------------------------------------------------ */

static const nn_param_spec act_params[] = {
    {"name", NN_PARAM_CHOICE, NAN, 0, 0, 0, 0, nn_act_names, 1, "the function", NULL},
    {"slope", NN_PARAM_FLOAT, 0.01, -INFINITY, INFINITY, 0, 0, NULL, 0, "slope for x <= 0", "leaky_relu"},
    {"alpha", NN_PARAM_FLOAT, 1.0, 0, INFINITY, 0, 0, NULL, 0, "alpha (e^x - 1) for x <= 0", "elu"},
};
enum { A_NAME, A_SLOPE, A_ALPHA };

static nn_status act_setup(nn_layer *l)
{
    if (nn_shape_size(l->in) == 0)
        return nn_fail(NN_ESTATE, "a first activation layer needs the network's input shape (nn_net_set_input)");
    nn_act act = NN_ACT_IDENTITY;
    nn_act_parse(l->v[A_NAME].str, &act); /* a valid choice: cannot fail */
    l->i[0] = act;
    l->f[0] = act == NN_ACT_LEAKY_RELU ? (float)l->v[A_SLOPE].num : act == NN_ACT_ELU ? (float)l->v[A_ALPHA].num : 0.0f;
    return NN_OK;
}

static void act_fwd(const nn_layer *l, const nn_layer_io *io)
{
    nn_act_forward((nn_act)l->i[0], l->f[0], io->x, io->y, io->B, nn_shape_size(l->in));
}

static void act_bwd(const nn_layer *l, const nn_layer_io *io)
{
    if (io->dx)
        nn_act_backward((nn_act)l->i[0], l->f[0], io->x, io->y, io->dy, io->dx, io->B, nn_shape_size(l->in));
}

static void act_describe(const nn_layer *l, char *buf, size_t n)
{
    const nn_act act = (nn_act)l->i[0];
    if (act == NN_ACT_LEAKY_RELU || act == NN_ACT_ELU)
        snprintf(buf, n, "%s(%g) %lld", nn_act_name(act), (double)l->f[0], (long long)nn_shape_size(l->in));
    else
        snprintf(buf, n, "%s %lld", nn_act_name(act), (long long)nn_shape_size(l->in));
}

const nn_layer_ops nn_layer_activation = {
    "activation", "element-wise function (softmax: per sample)", act_params, 3, act_setup, NULL, NULL, act_fwd,
    act_bwd, act_describe, NN_KIND_PER_SAMPLE | NN_KIND_DX_IN_PLACE,
};
