/* rmsprop.c — RMSprop with optional momentum (formula in nnrun.h).
 * Slots: s (mean square), v (momentum; untouched when momentum is 0). */
#include <math.h>

#include "optim/optim.h"
#include "kernels/simd.h"

static const nn_optim_param_def rmsprop_params[] = {
    NN_OPTIM_LR(0.001),
    NN_OPTIM_WD("L2 weight decay, added to the gradient"),
    NN_OPTIM_PARAM(rmsprop.rho, "rho", NN_PARAM_FLOAT, 0.9, 0, 0, 1, 1, "decay of the mean square"),
    NN_OPTIM_PARAM(rmsprop.eps, "eps", NN_PARAM_FLOAT, 1e-8, 0, 1, HUGE_VAL, 0, "added to the denominator"),
    NN_OPTIM_PARAM(rmsprop.momentum, "momentum", NN_PARAM_FLOAT, 0, 0, 0, 1, 1, "momentum factor"),
};

/* g += wd w;  s = rho s + (1-rho) g^2;  u = g / (sqrt(s) + eps);
   v = mu v + u, w -= lr v  (mu 0: w -= lr u) */
NN_SIMD_BODY void rmsprop_body(int64_t lo, int64_t hi, void *ctx)
{
    const nn_optim_job *j = ctx;
    float *restrict w = j->w, *restrict s = j->s, *restrict v = j->s + j->P;
    const float *restrict g = j->g;
    const float rho = j->cfg->rmsprop.rho, a = 1.0f - rho, eps = j->cfg->rmsprop.eps;
    const float mu = j->cfg->rmsprop.momentum, lr = j->lr, wd = j->wd;
    if (mu == 0.0f) {
        for (int64_t i = lo; i < hi; i++) {
            const float gi = g[i] + wd * w[i];
            s[i] = rho * s[i] + a * (gi * gi);
            w[i] -= lr * gi / (sqrtf(s[i]) + eps);
        }
    } else {
        for (int64_t i = lo; i < hi; i++) {
            const float gi = g[i] + wd * w[i];
            s[i] = rho * s[i] + a * (gi * gi);
            v[i] = mu * v[i] + gi / (sqrtf(s[i]) + eps);
            w[i] -= lr * v[i];
        }
    }
}

/* One copy per vector ISA, the same bits in each (simd.h). */
NN_SIMD_RANGE(rmsprop_range, rmsprop_body)

const nn_optim_ops nn_optim_rmsprop_ops = {NN_OPTIM_RMSPROP, "rmsprop", 2, rmsprop_params, 5, NULL, NULL,
                                           rmsprop_range};
