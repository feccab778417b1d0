/* bce.c — binary cross-entropy, on probabilities and on logits.
 *
 * On probabilities p = clamp(y, eps, 1-eps):
 *   L = -1/(B*C) sum t log p + (1-t) log(1-p)
 *   dL/dy = (p - t) / (p (1-p)) / (B*C) inside the clamp, 0 outside it.
 *   A non-finite y is not clamped: its term and gradient are NaN, so the
 *   trainer sees the divergence instead of a finite loss at the clamp.
 * On logits z (stable: no exp of a positive number, log1p):
 *   L = 1/(B*C) sum max(z,0) - z t + log(1 + e^-|z|)
 *   dL/dz = (sigmoid(z) - t) / (B*C)
 */
#include <math.h>

#include "costs.h"

double nn_cost_bce(const float *y, const float *t, float *dy, int64_t B, int64_t C)
{
    const int64_t n = B * C;
    const double scale = 1.0 / (double)n;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double p = y[i];
        int clamped = 0;
        if (!isfinite(p)) {
            sum += NAN;
            if (dy)
                dy[i] = NAN;
            continue;
        }
        if (p < NN_PROB_EPS) {
            p = NN_PROB_EPS;
            clamped = 1;
        } else if (p > 1.0 - NN_PROB_EPS) {
            p = 1.0 - NN_PROB_EPS;
            clamped = 1;
        }
        const double ti = t[i];
        sum -= ti * log(p) + (1.0 - ti) * log(1.0 - p);
        if (dy)
            dy[i] = clamped ? 0.0f : (float)((p - ti) / (p * (1.0 - p)) * scale);
    }
    return sum * scale;
}

double nn_cost_bce_logits(const float *y, const float *t, float *dy, int64_t B, int64_t C)
{
    const int64_t n = B * C;
    const double scale = 1.0 / (double)n;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double z = y[i], ti = t[i];
        const double e = exp(-fabs(z)); /* in (0, 1] */
        sum += (z > 0 ? z : 0.0) - z * ti + log1p(e);
        if (dy) {
            const double s = z >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
            dy[i] = (float)((s - ti) * scale);
        }
    }
    return sum * scale;
}
