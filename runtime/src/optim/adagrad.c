/* adagrad.c — Adagrad (formula in nnrun.h).  Slot: s (sum of squares). */
#include <math.h>

#include "optim/optim.h"
#include "kernels/simd.h"

static const nn_optim_param_def adagrad_params[] = {
    NN_OPTIM_LR(0.01),
    NN_OPTIM_WD("L2 weight decay, added to the gradient"),
    NN_OPTIM_PARAM(adagrad.eps, "eps", NN_PARAM_FLOAT, 1e-10, 0, 1, HUGE_VAL, 0, "added to the denominator"),
};

/* g += wd w;  s += g^2;  w -= lr g / (sqrt(s) + eps) */
NN_SIMD_BODY void adagrad_body(int64_t lo, int64_t hi, void *ctx)
{
    const nn_optim_job *j = ctx;
    float *restrict w = j->w, *restrict s = j->s;
    const float *restrict g = j->g;
    const float eps = j->cfg->adagrad.eps, lr = j->lr, wd = j->wd;
    for (int64_t i = lo; i < hi; i++) {
        const float gi = g[i] + wd * w[i];
        s[i] += gi * gi;
        w[i] -= lr * gi / (sqrtf(s[i]) + eps);
    }
}

/* One copy per vector ISA, the same bits in each (simd.h). */
NN_SIMD_RANGE(adagrad_range, adagrad_body)

const nn_optim_ops nn_optim_adagrad_ops = {NN_OPTIM_ADAGRAD, "adagrad", 1, adagrad_params, 3, NULL, NULL,
                                           adagrad_range};
