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

void nn_act_forward(nn_act act, float param, const float *x, float *y, int64_t B, int64_t n)
{
    const int64_t len = B * n;
    switch (act) {
    case NN_ACT_IDENTITY:
        if (y != x)
            memcpy(y, x, (size_t)len * sizeof *y);
        break;
    case NN_ACT_SIGMOID:
        for (int64_t i = 0; i < len; i++)
            y[i] = sigmoidf(x[i]);
        break;
    case NN_ACT_TANH:
        for (int64_t i = 0; i < len; i++)
            y[i] = tanhf(x[i]);
        break;
    case NN_ACT_RELU:
        for (int64_t i = 0; i < len; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case NN_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < len; i++)
            y[i] = x[i] > 0.0f ? x[i] : param * x[i];
        break;
    case NN_ACT_SOFTMAX:
        for (int64_t r = 0; r < B; r++) {
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
        break;
    }
}

void nn_act_backward(nn_act act, float param, const float *x, const float *y, const float *dy,
                     float *dx, int64_t B, int64_t n)
{
    const int64_t len = B * n;
    switch (act) {
    case NN_ACT_IDENTITY:
        if (dx != dy)
            memcpy(dx, dy, (size_t)len * sizeof *dx);
        break;
    case NN_ACT_SIGMOID:
        for (int64_t i = 0; i < len; i++)
            dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case NN_ACT_TANH:
        for (int64_t i = 0; i < len; i++)
            dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case NN_ACT_RELU:
        for (int64_t i = 0; i < len; i++)
            dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case NN_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < len; i++)
            dx[i] = x[i] > 0.0f ? dy[i] : param * dy[i];
        break;
    case NN_ACT_SOFTMAX:
        for (int64_t r = 0; r < B; r++) {
            const float *yr = y + r * n, *dyr = dy + r * n;
            float *dxr = dx + r * n;
            double dot = 0.0;
            for (int64_t j = 0; j < n; j++)
                dot += (double)dyr[j] * yr[j];
            for (int64_t j = 0; j < n; j++)
                dxr[j] = yr[j] * (dyr[j] - (float)dot);
        }
        break;
    }
}
