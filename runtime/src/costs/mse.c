/* mse.c — mean squared error.
 * L = 1/(B*C) sum (y - t)^2;  dL/dy = 2 (y - t) / (B*C) */
#include "costs.h"

double nn_cost_mse(const float *y, const float *t, float *dy, int64_t B, int64_t C)
{
    const int64_t n = B * C;
    const double scale = 1.0 / (double)n;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)y[i] - (double)t[i];
        sum += d * d;
        if (dy)
            dy[i] = (float)(2.0 * d * scale);
    }
    return sum * scale;
}
