/* optim.c — the optimiser registry: names, parameter lists, defaults,
 * validation from the ranges (lr and weight_decay first in every kind's
 * list), and the generic optimiser over one state
 * block of slots x P floats.  A new kind is one file with its ops entry and
 * one line in `kinds`. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/parallel.h"
#include "optim/optim.h"

static const nn_optim_ops *const kinds[NN_OPTIM_KINDS] = {&nn_optim_sgd_ops, &nn_optim_adam_ops,
                                                          &nn_optim_adamw_ops, &nn_optim_rmsprop_ops,
                                                          &nn_optim_adagrad_ops};

struct nn_optim {
    nn_net *net;
    const nn_optim_ops *ops;
    nn_optim_config cfg;
    float *state; /* slots x n, NULL when slots == 0 */
    int64_t n;
    int64_t t; /* updates done */
};

const nn_optim_ops *nn_optim_ops_of(nn_optim_kind k)
{
    return (int)k >= 1 && (int)k <= NN_OPTIM_KINDS ? kinds[k - 1] : NULL;
}

const char *nn_optim_name(nn_optim_kind k)
{
    const nn_optim_ops *o = nn_optim_ops_of(k);
    return o ? o->name : NULL;
}

nn_status nn_optim_parse(const char *name, nn_optim_kind *out)
{
    for (int i = 0; name && out && i < NN_OPTIM_KINDS; i++) {
        if (strcmp(name, kinds[i]->name) == 0) {
            *out = kinds[i]->kind;
            return NN_OK;
        }
    }
    return nn_fail(NN_EINVAL, "unknown optimizer '%s'", name ? name : "(null)");
}

int nn_optim_param_count(nn_optim_kind k)
{
    const nn_optim_ops *o = nn_optim_ops_of(k);
    return o ? o->nparams : 0;
}

static const nn_optim_param_def *param_def(nn_optim_kind k, int i)
{
    const nn_optim_ops *o = nn_optim_ops_of(k);
    return o && i >= 0 && i < o->nparams ? &o->params[i] : NULL;
}

const nn_param_spec *nn_optim_param(nn_optim_kind k, int i)
{
    const nn_optim_param_def *d = param_def(k, i);
    return d ? &d->spec : NULL;
}

static const nn_optim_param_def *find(nn_optim_kind k, const char *name)
{
    for (int i = 0; name && i < nn_optim_param_count(k); i++) {
        const nn_optim_param_def *d = param_def(k, i);
        if (strcmp(d->spec.name, name) == 0)
            return d;
    }
    return NULL;
}

static void store(nn_optim_config *c, const nn_optim_param_def *d, double v)
{
    char *p = (char *)c + d->offset;
    if (d->spec.type == NN_PARAM_FLOAT) {
        const float f = (float)v;
        memcpy(p, &f, sizeof f);
    } else {
        const int i = (int)v;
        memcpy(p, &i, sizeof i);
    }
}

static double load(const nn_optim_config *c, const nn_optim_param_def *d)
{
    const char *p = (const char *)c + d->offset;
    if (d->spec.type == NN_PARAM_FLOAT) {
        float f;
        memcpy(&f, p, sizeof f);
        return f;
    }
    int i;
    memcpy(&i, p, sizeof i);
    return i;
}

nn_optim_config nn_optim_defaults(nn_optim_kind k)
{
    nn_optim_config c;
    memset(&c, 0, sizeof c);
    if (!nn_optim_ops_of(k))
        k = NN_OPTIM_SGD;
    c.kind = k;
    for (int i = 0; i < nn_optim_param_count(k); i++) {
        const nn_optim_param_def *d = param_def(k, i);
        store(&c, d, d->spec.def);
    }
    return c;
}

/* NN_EINVAL "<kind>: <name> must be ..., got v" unless v is in range. */
static nn_status check_value(const char *kind, const nn_param_spec *s, double v)
{
    char got[32];
    snprintf(got, sizeof got, isnan(v) ? "nan" : "%g", v);
    if (s->type == NN_PARAM_BOOL) {
        if (v != 0 && v != 1)
            return nn_fail(NN_EINVAL, "%s: %s must be 0 or 1 (a boolean), got %s", kind, s->name, got);
        return NN_OK;
    }
    if (s->type == NN_PARAM_INT && !(v == floor(v)))
        return nn_fail(NN_EINVAL, "%s: %s must be an integer, got %s", kind, s->name, got);
    const int lo_ok = s->min_open ? v > s->min : v >= s->min;
    const int hi_ok = s->max_open ? v < s->max : v <= s->max;
    if (lo_ok && hi_ok && isfinite(v))
        return NN_OK;
    if (isinf(s->max))
        return nn_fail(NN_EINVAL, "%s: %s must be finite and %s %g, got %s", kind, s->name,
                       s->min_open ? ">" : ">=", s->min, got);
    return nn_fail(NN_EINVAL, "%s: %s must be in %c%g, %g%c, got %s", kind, s->name, s->min_open ? '(' : '[',
                   s->min, s->max, s->max_open ? ')' : ']', got);
}

/* The definition of parameter name of c's kind, or an error. */
static nn_status lookup(const nn_optim_config *c, const char *name, const nn_optim_param_def **out)
{
    if (!c || !name)
        return nn_fail(NN_EINVAL, "optimizer: NULL argument");
    const char *kind = nn_optim_name(c->kind);
    if (!kind)
        return nn_fail(NN_EINVAL, "optimizer: unknown kind %d", (int)c->kind);
    if (!(*out = find(c->kind, name)))
        return nn_fail(NN_EINVAL, "%s: unknown parameter '%s'", kind, name);
    return NN_OK;
}

nn_status nn_optim_set(nn_optim_config *c, const char *name, double v)
{
    const nn_optim_param_def *d;
    nn_status s = lookup(c, name, &d);
    if (!s && !(s = check_value(nn_optim_name(c->kind), &d->spec, v)))
        store(c, d, v);
    return s;
}

nn_status nn_optim_get(const nn_optim_config *c, const char *name, double *v)
{
    const nn_optim_param_def *d;
    nn_status s = v ? lookup(c, name, &d) : nn_fail(NN_EINVAL, "optimizer: NULL argument");
    if (!s)
        *v = load(c, d);
    return s;
}

nn_status nn_optim_check(const nn_optim_config *c)
{
    if (!c)
        return nn_fail(NN_EINVAL, "optimizer: config is NULL");
    const nn_optim_ops *o = nn_optim_ops_of(c->kind);
    if (!o)
        return nn_fail(NN_EINVAL, "optimizer: unknown kind %d", (int)c->kind);
    for (int i = 0; i < nn_optim_param_count(c->kind); i++) {
        const nn_optim_param_def *d = param_def(c->kind, i);
        nn_status s = check_value(o->name, &d->spec, load(c, d));
        if (s)
            return s;
    }
    return o->check ? o->check(c) : NN_OK;
}

nn_status nn_optim_create(nn_net *net, const nn_optim_config *cfg, nn_optim **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "optimizer: out is NULL");
    *out = NULL;
    nn_status s = nn_optim_check(cfg);
    if (s)
        return s;
    const char *name = nn_optim_name(cfg->kind);
    if (!net)
        return nn_fail(NN_EINVAL, "%s: network is NULL", name);
    const int64_t n = nn_net_param_count(net);
    if (n == 0)
        return nn_fail(NN_ESTATE, "%s: the network has no parameters", name);
    nn_optim *o = nn_xcalloc(1, sizeof *o);
    if (!o)
        return nn_oom(name);
    o->net = net;
    o->ops = nn_optim_ops_of(cfg->kind);
    o->cfg = *cfg;
    o->n = n;
    int64_t sn;
    if (o->ops->slots > 0 && (!nn_mul_ok(n, o->ops->slots, &sn) || !(o->state = nn_xcalloc((size_t)sn, sizeof(float))))) {
        nn_xfree(o);
        return nn_oom(name);
    }
    *out = o;
    return NN_OK;
}

void nn_optim_free(nn_optim *o)
{
    if (!o)
        return;
    nn_xfree(o->state);
    nn_xfree(o);
}

nn_status nn_optim_step(nn_optim *o, float lr)
{
    if (!o)
        return nn_fail(NN_EINVAL, "optimizer: optimiser is NULL");
    /* 0 is allowed here: a warm-up or cosine schedule may reach it. */
    if (!(isfinite(lr) && lr >= 0))
        return nn_fail(NN_EINVAL, "%s: step lr must be finite and >= 0, got %g", o->ops->name, lr);
    if (nn_net_param_count(o->net) != o->n)
        return nn_fail(NN_ESTATE, "%s: the network changed after the optimiser was made", o->ops->name);
    o->t++;
    nn_optim_job j = {nn_net_params(o->net), nn_net_grads(o->net), o->state, o->n, lr, o->cfg.weight_decay,
                      &o->cfg, 1.0f, 1.0f};
    if (o->ops->prepare)
        o->ops->prepare(&j, o->t);
    nn_parallel_range(o->n, NN_GRAIN_ELEMENTS, o->ops->range, &j);
    return NN_OK;
}

nn_optim_config nn_optim_config_of(const nn_optim *o)
{
    if (!o) {
        nn_optim_config c;
        memset(&c, 0, sizeof c);
        return c;
    }
    return o->cfg;
}
int nn_optim_slots(const nn_optim *o) { return o ? o->ops->slots : 0; }
float *nn_optim_state(nn_optim *o) { return o ? o->state : NULL; }
int64_t nn_optim_state_size(const nn_optim *o) { return o ? o->n * o->ops->slots : 0; }
int64_t nn_optim_steps(const nn_optim *o) { return o ? o->t : 0; }
void nn_optim_set_steps(nn_optim *o, int64_t t)
{
    if (o)
        o->t = t > 0 ? t : 0;
}
