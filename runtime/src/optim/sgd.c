/* sgd.c — stochastic gradient descent with momentum, Nesterov momentum and
 * L2 weight decay (formula in nnrun.h), and the deprecated nn_sgd_* API of
 * 0.1 as wrappers over nn_optim.  With momentum 0 the velocity slot is not
 * touched and the step is w -= lr * g. */
#include <math.h>

#include "optim/optim.h"
#include "kernels/simd.h"

static const nn_optim_param_def sgd_params[] = {
    NN_OPTIM_LR(0.01),
    NN_OPTIM_WD("L2 weight decay, added to the gradient"),
    NN_OPTIM_PARAM(sgd.momentum, "momentum", NN_PARAM_FLOAT, 0, 0, 0, 1, 1, "momentum factor"),
    NN_OPTIM_PARAM(sgd.nesterov, "nesterov", NN_PARAM_BOOL, 0, 0, 0, 1, 0,
                   "Nesterov momentum (needs momentum > 0)"),
};

static nn_status sgd_check(const nn_optim_config *c)
{
    if (c->sgd.nesterov && c->sgd.momentum == 0)
        return nn_fail(NN_EINVAL, "sgd: nesterov needs momentum > 0");
    return NN_OK;
}

/* g = grad + wd w;  v = mu v + g;  w -= lr (nesterov ? g + mu v : v)
 * (compiled for each vector ISA, the same bits in each: simd.h) */
NN_SIMD_BODY void sgd_body(int64_t lo, int64_t hi, void *ctx)
{
    const nn_optim_job *j = ctx;
    float *restrict w = j->w, *restrict v = j->s;
    const float *restrict g = j->g;
    const float lr = j->lr, mu = j->cfg->sgd.momentum, wd = j->wd;
    if (mu == 0.0f) {
        for (int64_t i = lo; i < hi; i++)
            w[i] -= lr * (g[i] + wd * w[i]);
    } else if (j->cfg->sgd.nesterov) {
        for (int64_t i = lo; i < hi; i++) {
            const float gi = g[i] + wd * w[i];
            v[i] = mu * v[i] + gi;
            w[i] -= lr * (gi + mu * v[i]);
        }
    } else {
        for (int64_t i = lo; i < hi; i++) {
            v[i] = mu * v[i] + (g[i] + wd * w[i]);
            w[i] -= lr * v[i];
        }
    }
}

NN_SIMD_RANGE(sgd_range, sgd_body)

const nn_optim_ops nn_optim_sgd_ops = {NN_OPTIM_SGD, "sgd", 1, sgd_params, 4, sgd_check, NULL, sgd_range};

/* ---- deprecated 0.1 API ----------------------------------------------- */

nn_optim_config nn_optim_from_sgd(const nn_sgd_config *c)
{
    nn_optim_config o = nn_optim_defaults(NN_OPTIM_SGD);
    if (c) {
        o.lr = c->lr;
        o.weight_decay = c->weight_decay;
        o.sgd.momentum = c->momentum;
        o.sgd.nesterov = c->nesterov;
    }
    return o;
}

nn_status nn_sgd_check(const nn_sgd_config *c)
{
    if (!c)
        return nn_fail(NN_EINVAL, "sgd: config is NULL");
    const nn_optim_config o = nn_optim_from_sgd(c);
    return nn_optim_check(&o);
}

nn_status nn_sgd_create(nn_net *net, const nn_sgd_config *cfg, nn_sgd **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "sgd: out is NULL");
    *out = NULL;
    if (!cfg)
        return nn_fail(NN_EINVAL, "sgd: config is NULL");
    const nn_optim_config o = nn_optim_from_sgd(cfg);
    return nn_optim_create(net, &o, out);
}

void nn_sgd_free(nn_sgd *o) { nn_optim_free(o); }
nn_status nn_sgd_step(nn_sgd *o, float lr)
{
    return o ? nn_optim_step(o, lr) : nn_fail(NN_EINVAL, "sgd: optimiser is NULL");
}
float nn_sgd_lr(const nn_sgd *o) { return o ? nn_optim_config_of(o).lr : 0.0f; }
float *nn_sgd_velocity(nn_sgd *o) { return nn_optim_state(o); }
