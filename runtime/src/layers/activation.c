/* activation.c — element-wise activations and the per-row softmax.
 *
 * forward  y = f(x)
 * backward dx = dy * f'(x): sigmoid y(1-y); tanh 1-y^2; relu [x>0];
 *          leaky_relu [x>0] + slope [x<=0];
 *          softmax dx_j = y_j (dy_j - sum_k dy_k y_k)
 */
#include <math.h>
#include <string.h>

#include "../internal.h"
#include "../kernels/parallel.h"
#include "layers.h"

static const char *const act_names[] = {"identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"};
#define N_ACTS ((int)(sizeof act_names / sizeof act_names[0]))

const char *nn_act_name(nn_act a) { return (int)a >= 0 && (int)a < N_ACTS ? act_names[a] : NULL; }

nn_status nn_act_parse(const char *name, nn_act *out)
{
    for (int i = 0; name && i < N_ACTS; i++) {
        if (strcmp(name, act_names[i]) == 0) {
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

static void forward_range(int64_t lo, int64_t hi, void *ctx)
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
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case NN_ACT_LEAKY_RELU:
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] > 0.0f ? x[i] : a * x[i];
        break;
    case NN_ACT_SOFTMAX:
        softmax_rows(x, y, lo, hi, j->n);
        break;
    }
}

/* Loads are unconditional and the selects branch-free so that the loops
 * vectorise (random signs would make a branchy loop mispredict). */
static void backward_range(int64_t lo, int64_t hi, void *ctx)
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
    }
}

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
