/* cross_entropy.c — categorical cross-entropy on logits, softmax fused.
 * L = 1/B sum_i [ logsumexp_j y_ij - sum_j t_ij y_ij ] (targets summing to 1)
 * dL/dy_ij = (softmax(y_i)_j * sum_k t_ik - t_ij) / B
 * Log-sum-exp with the row maximum subtracted: finite for every finite y.
 * A row with a non-finite logit has a NaN term and gradient (a -inf logit
 * of a class other than the label would otherwise vanish in the sum). */
#include <math.h>

#include "costs.h"

double nn_cost_cross_entropy(const float *y, const float *t, int labels, float *dy, int64_t B,
                             int64_t C)
{
    double sum = 0.0;
    const double invB = 1.0 / (double)B;
    for (int64_t i = 0; i < B; i++) {
        const float *yr = y + i * C;
        double m = yr[0];
        int finite = isfinite(yr[0]) != 0;
        for (int64_t j = 1; j < C; j++) {
            m = yr[j] > m ? yr[j] : m;
            finite &= isfinite(yr[j]) != 0;
        }
        if (!finite) {
            sum += NAN;
            if (dy)
                for (int64_t j = 0; j < C; j++)
                    dy[i * C + j] = NAN;
            continue;
        }
        double z = 0.0;
        for (int64_t j = 0; j < C; j++)
            z += exp((double)yr[j] - m);
        const double lse = m + log(z);
        double tsum = 0.0, ty = 0.0;
        if (labels) {
            const int64_t k = (int64_t)t[i];
            tsum = 1.0;
            ty = yr[k];
        } else {
            for (int64_t j = 0; j < C; j++) {
                tsum += t[i * C + j];
                ty += (double)t[i * C + j] * yr[j];
            }
        }
        sum += tsum * lse - ty;
        if (dy) {
            for (int64_t j = 0; j < C; j++) {
                const double p = exp((double)yr[j] - lse);
                const double tj = labels ? (j == (int64_t)t[i]) : t[i * C + j];
                dy[i * C + j] = (float)((p * tsum - tj) * invB);
            }
        }
    }
    return sum * invB;
}
