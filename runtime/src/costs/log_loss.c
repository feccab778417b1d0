/* log_loss.c — negative log-likelihood of predicted class probabilities.
 * p = max(y, eps);  L = -1/B sum_i sum_j t_ij log p_ij
 * dL/dy_ij = -t_ij / (B p_ij) where y_ij >= eps, 0 where the clamp holds.
 * A non-finite y_ij, whatever its target, makes the loss and its gradient
 * NaN rather than being clamped: the trainer must see the divergence. */
#include <math.h>

#include "costs.h"

double nn_cost_log_loss(const float *y, const float *t, int labels, float *dy, int64_t B,
                        int64_t C)
{
    const double invB = 1.0 / (double)B;
    double sum = 0.0;
    for (int64_t i = 0; i < B; i++) {
        for (int64_t j = 0; j < C; j++) {
            const double tj = labels ? (j == (int64_t)t[i]) : t[i * C + j];
            double p = y[i * C + j];
            if (!isfinite(p)) {
                sum += NAN;
                if (dy)
                    dy[i * C + j] = NAN;
                continue;
            }
            const int clamped = p < NN_PROB_EPS;
            if (clamped)
                p = NN_PROB_EPS;
            if (tj != 0.0)
                sum -= tj * log(p);
            if (dy)
                dy[i * C + j] = clamped ? 0.0f : (float)(-tj / p * invB);
        }
    }
    return sum * invB;
}
