/* adam.c — Adam (weight decay as L2, added to the gradient) and AdamW
 * (weight decay decoupled, applied to the weights), formulas in nnrun.h.
 * Slots: m (first moment) then s (second moment).  The bias corrections are
 * computed once per step in double (prepare); the loop is one pass. */
#include <math.h>

#include "optim/optim.h"
#include "kernels/simd.h"

#define ADAM_OWN                                                                                   \
    NN_OPTIM_PARAM(adam.beta1, "beta1", NN_PARAM_FLOAT, 0.9, 0, 0, 1, 1, "decay of the first moment"),     \
    NN_OPTIM_PARAM(adam.beta2, "beta2", NN_PARAM_FLOAT, 0.999, 0, 0, 1, 1, "decay of the second moment"), \
    NN_OPTIM_PARAM(adam.eps, "eps", NN_PARAM_FLOAT, 1e-8, 0, 1, HUGE_VAL, 0, "added to the denominator")
static const nn_optim_param_def adam_params[] = {
    NN_OPTIM_LR(0.001),
    NN_OPTIM_WD("L2 weight decay, added to the gradient"),
    ADAM_OWN,
};
static const nn_optim_param_def adamw_params[] = {
    NN_OPTIM_LR(0.001),
    NN_OPTIM_WD("decoupled weight decay: w -= lr wd w"),
    ADAM_OWN,
};

static void adam_prepare(nn_optim_job *j, int64_t t)
{
    j->bc1 = (float)(1.0 - pow(j->cfg->adam.beta1, (double)t));
    j->rbc2 = (float)(1.0 / (1.0 - pow(j->cfg->adam.beta2, (double)t)));
}

/* m = b1 m + (1-b1) g;  s = b2 s + (1-b2) g^2;
   w -= lr/bc1 * m / (sqrt(s / bc2) + eps)  [+ lr wd w for AdamW] */
static inline __attribute__((always_inline)) void adam_loop(const nn_optim_job *j, int64_t lo, int64_t hi, int decoupled)
{
    float *restrict w = j->w, *restrict m = j->s, *restrict s = j->s + j->P;
    const float *restrict g = j->g;
    const float b1 = j->cfg->adam.beta1, b2 = j->cfg->adam.beta2, eps = j->cfg->adam.eps;
    const float a1 = 1.0f - b1, a2 = 1.0f - b2;
    const float step = j->lr / j->bc1, rbc2 = j->rbc2, wd = j->wd, lrwd = j->lr * j->wd;
    for (int64_t i = lo; i < hi; i++) {
        const float gi = decoupled ? g[i] : g[i] + wd * w[i];
        m[i] = b1 * m[i] + a1 * gi;
        s[i] = b2 * s[i] + a2 * (gi * gi);
        const float u = step * m[i] / (sqrtf(s[i] * rbc2) + eps);
        w[i] -= decoupled ? u + lrwd * w[i] : u;
    }
}

NN_SIMD_BODY void adam_body(int64_t lo, int64_t hi, void *ctx) { adam_loop(ctx, lo, hi, 0); }
NN_SIMD_BODY void adamw_body(int64_t lo, int64_t hi, void *ctx) { adam_loop(ctx, lo, hi, 1); }
/* One copy per vector ISA, the same bits in each (simd.h). */
NN_SIMD_RANGE(adam_range, adam_body)
NN_SIMD_RANGE(adamw_range, adamw_body)

const nn_optim_ops nn_optim_adam_ops = {NN_OPTIM_ADAM, "adam", 2, adam_params, 5, NULL, adam_prepare,
                                        adam_range};
const nn_optim_ops nn_optim_adamw_ops = {NN_OPTIM_ADAMW, "adamw", 2, adamw_params, 5, NULL, adam_prepare,
                                         adamw_range};
