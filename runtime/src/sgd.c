/* sgd.c — stochastic gradient descent with momentum, Nesterov momentum and
 * weight decay, over the network's single parameter block:
 *   g = grad + wd * w;  v = mu v + g;  w -= lr * (nesterov ? g + mu v : v)
 * With mu == 0 the velocity is not used, and the step is w -= lr * g. */
#include <math.h>

#include "internal.h"
#include "kernels/parallel.h"

struct nn_sgd {
    nn_net *net;
    nn_sgd_config cfg;
    float *v;
    int64_t n;
};

nn_status nn_sgd_check(const nn_sgd_config *c)
{
    if (!c)
        return nn_fail(NN_EINVAL, "sgd: config is NULL");
    if (!(isfinite(c->lr) && c->lr > 0))
        return nn_fail(NN_EINVAL, "sgd: lr must be finite and > 0, got %g", c->lr);
    if (!(c->momentum >= 0 && c->momentum < 1))
        return nn_fail(NN_EINVAL, "sgd: momentum must be in [0, 1), got %g", c->momentum);
    if (!(isfinite(c->weight_decay) && c->weight_decay >= 0))
        return nn_fail(NN_EINVAL, "sgd: weight_decay must be finite and >= 0, got %g",
                       c->weight_decay);
    if (c->nesterov && c->momentum == 0)
        return nn_fail(NN_EINVAL, "sgd: nesterov needs momentum > 0");
    return NN_OK;
}

nn_status nn_sgd_create(nn_net *net, const nn_sgd_config *cfg, nn_sgd **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "sgd: out is NULL");
    *out = NULL;
    if (!net)
        return nn_fail(NN_EINVAL, "sgd: network is NULL");
    nn_status s = nn_sgd_check(cfg);
    if (s)
        return s;
    if (nn_net_param_count(net) == 0)
        return nn_fail(NN_ESTATE, "sgd: the network has no parameters");
    nn_sgd *o = nn_xcalloc(1, sizeof *o);
    if (!o)
        return nn_oom("sgd");
    o->net = net;
    o->cfg = *cfg;
    o->n = nn_net_param_count(net);
    o->v = nn_xcalloc((size_t)o->n, sizeof(float));
    if (!o->v) {
        nn_xfree(o);
        return nn_oom("sgd");
    }
    *out = o;
    return NN_OK;
}

void nn_sgd_free(nn_sgd *o)
{
    if (!o)
        return;
    nn_xfree(o->v);
    nn_xfree(o);
}

typedef struct sgd_job {
    float *w, *v;
    const float *g;
    float lr, mu, wd;
    int nesterov;
} sgd_job;

/* Parameters [lo, hi): each is updated on its own, so any split gives the
 * same bits. */
static void sgd_range(int64_t lo, int64_t hi, void *ctx)
{
    const sgd_job *j = ctx;
    float *restrict w = j->w, *restrict v = j->v;
    const float *restrict g = j->g;
    const float lr = j->lr, mu = j->mu, wd = j->wd;
    if (mu == 0.0f) {
        for (int64_t i = lo; i < hi; i++)
            w[i] -= lr * (g[i] + wd * w[i]);
    } else if (j->nesterov) {
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

nn_status nn_sgd_step(nn_sgd *o, float lr)
{
    if (!o)
        return nn_fail(NN_EINVAL, "sgd: optimiser is NULL");
    /* 0 is allowed here: a warm-up or cosine schedule may reach it. */
    if (!(isfinite(lr) && lr >= 0))
        return nn_fail(NN_EINVAL, "sgd: step lr must be finite and >= 0, got %g", lr);
    if (nn_net_param_count(o->net) != o->n)
        return nn_fail(NN_ESTATE, "sgd: the network changed after the optimiser was made");
    sgd_job j = {nn_net_params(o->net), o->v, nn_net_grads(o->net), lr,
                 o->cfg.momentum, o->cfg.weight_decay, o->cfg.nesterov};
    nn_parallel_range(o->n, NN_GRAIN_ELEMENTS, sgd_range, &j);
    return NN_OK;
}

float nn_sgd_lr(const nn_sgd *o) { return o ? o->cfg.lr : 0.0f; }
float *nn_sgd_velocity(nn_sgd *o) { return o ? o->v : NULL; }
