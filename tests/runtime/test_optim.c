/* test_optim.c — the optimiser registry and every kind's update against a
 * straightforward double-precision implementation of its formula
 * (nnrun.h), over six steps with fresh random gradients each step, at an
 * odd parameter count (dense 5->3 + dense 3->2: 26 parameters), with and
 * without weight decay.
 *
 * Tolerance: the runtime computes in float; each step rounds a handful of
 * operations (~1e-7 relative each) and the errors carry into the next
 * step through the state, so after six steps 1e-5 relative (1e-6
 * absolute, for values that cross zero) is ample while a wrong formula (a
 * missing bias correction, decay coupled instead of decoupled, eps inside
 * the square root) is off by 1e-3 or more. */
#include <math.h>

#include "testutil.h"

enum { STEPS = 6, MAXP = 64 };

typedef struct ref {
    double w[MAXP], s0[MAXP], s1[MAXP];
    int64_t t;
} ref;

/* One step of the formula of nnrun.h, in double. */
static void ref_step(ref *r, const nn_optim_config *c, const double *grad, int64_t P, double lr)
{
    r->t++;
    const double wd = c->weight_decay;
    for (int64_t i = 0; i < P; i++) {
        double g = grad[i], *w = &r->w[i], *a = &r->s0[i], *b = &r->s1[i];
        switch (c->kind) {
        case NN_OPTIM_SGD: {
            const double mu = c->sgd.momentum;
            g += wd * *w;
            if (mu == 0) {
                *w -= lr * g;
                break;
            }
            *a = mu * *a + g;
            *w -= lr * (c->sgd.nesterov ? g + mu * *a : *a);
            break;
        }
        case NN_OPTIM_ADAM:
        case NN_OPTIM_ADAMW: {
            const double b1 = c->adam.beta1, b2 = c->adam.beta2;
            if (c->kind == NN_OPTIM_ADAM)
                g += wd * *w;
            *a = b1 * *a + (1 - b1) * g;
            *b = b2 * *b + (1 - b2) * g * g;
            const double mh = *a / (1 - pow(b1, (double)r->t)), sh = *b / (1 - pow(b2, (double)r->t));
            double u = mh / (sqrt(sh) + c->adam.eps);
            if (c->kind == NN_OPTIM_ADAMW)
                u += wd * *w;
            *w -= lr * u;
            break;
        }
        case NN_OPTIM_RMSPROP: {
            const double rho = c->rmsprop.rho, mu = c->rmsprop.momentum;
            g += wd * *w;
            *a = rho * *a + (1 - rho) * g * g;
            const double u = g / (sqrt(*a) + c->rmsprop.eps);
            if (mu == 0) {
                *w -= lr * u;
            } else {
                *b = mu * *b + u;
                *w -= lr * *b;
            }
            break;
        }
        case NN_OPTIM_ADAGRAD:
            g += wd * *w;
            *a += g * g;
            *w -= lr * g / (sqrt(*a) + c->adagrad.eps);
            break;
        default:
            break;
        }
    }
}

static void check_kind(const char *what, nn_optim_config c)
{
    nn_net *net = NULL;
    nn_optim *opt = NULL;
    CHECK_OK(nn_net_create(3, &net));
    CHECK_OK(nn_net_add_dense(net, 5, 3, NULL, NULL));
    CHECK_OK(nn_net_add_activation(net, NN_ACT_TANH, 0));
    CHECK_OK(nn_net_add_dense(net, 3, 2, NULL, NULL));
    const int64_t P = nn_net_param_count(net);
    CHECK_INT(26, P);
    CHECK_OK(nn_optim_create(net, &c, &opt));
    if (!opt) {
        nn_net_free(net);
        return;
    }
    ref r;
    memset(&r, 0, sizeof r);
    float *w = nn_net_params(net), *g = nn_net_grads(net);
    for (int64_t i = 0; i < P; i++)
        r.w[i] = w[i];
    double grad[MAXP];
    int ok = 1;
    for (int s = 0; s < STEPS && ok; s++) {
        /* A step's rate differs from the configured one (a schedule's). */
        const float lr = c.lr * (1.0f - 0.1f * (float)s);
        for (int64_t i = 0; i < P; i++) {
            g[i] = (float)tu_uniform(-1.0, 1.0) * (i % 3 ? 1.0f : 0.01f); /* mixed scales */
            grad[i] = g[i];
        }
        CHECK_OK(nn_optim_step(opt, lr));
        ref_step(&r, &c, grad, P, lr);
        for (int64_t i = 0; i < P && ok; i++) {
            ok = tu_close(r.w[i], w[i], 1e-5, 1e-6);
            CHECK_MSG(ok, "%s, step %d, parameter %lld: expected %.9g, got %.9g", what, s + 1, (long long)i,
                      r.w[i], (double)w[i]);
        }
    }
    CHECK_INT(STEPS, (int)nn_optim_steps(opt));
    /* The state block holds the reference's state, slot by slot. */
    const int slots = nn_optim_slots(opt);
    CHECK_INT(slots * P, nn_optim_state_size(opt));
    const float *st = nn_optim_state(opt);
    const double *rs[2] = {r.s0, r.s1};
    const int used = c.kind == NN_OPTIM_SGD && c.sgd.momentum == 0 ? 0
                     : c.kind == NN_OPTIM_RMSPROP && c.rmsprop.momentum == 0 ? 1 : slots;
    for (int k = 0; k < used; k++)
        for (int64_t i = 0; i < P; i++)
            CHECK_MSG(tu_close(rs[k][i], st[k * P + i], 1e-5, 1e-7), "%s: state slot %d[%lld]: expected %.9g, got %.9g",
                      what, k, (long long)i, rs[k][i], (double)st[k * P + i]);
    nn_optim_free(opt);
    nn_net_free(net);
}

static nn_optim_config with(nn_optim_kind k, float lr, float wd)
{
    nn_optim_config c = nn_optim_defaults(k);
    c.lr = lr;
    c.weight_decay = wd;
    return c;
}

static void test_updates(void)
{
    nn_optim_config c = with(NN_OPTIM_SGD, 0.1f, 0);
    check_kind("sgd", c);
    c.sgd.momentum = 0.9f;
    c.weight_decay = 0.01f;
    check_kind("sgd momentum + decay", c);
    c.sgd.nesterov = 1;
    check_kind("sgd nesterov + decay", c);
    check_kind("adam", with(NN_OPTIM_ADAM, 0.01f, 0));
    check_kind("adam, L2", with(NN_OPTIM_ADAM, 0.01f, 0.1f));
    c = with(NN_OPTIM_ADAM, 0.01f, 0);
    c.adam.beta1 = 0.5f;
    c.adam.beta2 = 0.8f;
    c.adam.eps = 1e-3f;
    check_kind("adam, other betas and eps", c);
    check_kind("adamw, decoupled", with(NN_OPTIM_ADAMW, 0.01f, 0.1f));
    check_kind("rmsprop", with(NN_OPTIM_RMSPROP, 0.01f, 0));
    c = with(NN_OPTIM_RMSPROP, 0.01f, 0.05f);
    c.rmsprop.momentum = 0.9f;
    c.rmsprop.rho = 0.7f;
    check_kind("rmsprop momentum + decay", c);
    check_kind("adagrad", with(NN_OPTIM_ADAGRAD, 0.1f, 0));
    check_kind("adagrad + decay", with(NN_OPTIM_ADAGRAD, 0.1f, 0.01f));

    /* Adam and AdamW differ exactly by where the decay goes: with no decay
     * they are the same update, bit for bit. */
    nn_net *a = NULL, *b = NULL;
    nn_optim *oa = NULL, *ob = NULL;
    nn_net_create(9, &a);
    nn_net_add_dense(a, 7, 5, NULL, NULL);
    nn_net_create(9, &b);
    nn_net_add_dense(b, 7, 5, NULL, NULL);
    const nn_optim_config ca = with(NN_OPTIM_ADAM, 0.01f, 0), cb = with(NN_OPTIM_ADAMW, 0.01f, 0);
    CHECK_OK(nn_optim_create(a, &ca, &oa));
    CHECK_OK(nn_optim_create(b, &cb, &ob));
    for (int s = 0; s < 3; s++) {
        for (int64_t i = 0; i < 40; i++)
            nn_net_grads(a)[i] = nn_net_grads(b)[i] = (float)tu_uniform(-1, 1);
        nn_optim_step(oa, 0.01f);
        nn_optim_step(ob, 0.01f);
    }
    CHECK(memcmp(nn_net_params(a), nn_net_params(b), 40 * sizeof(float)) == 0);
    nn_optim_free(oa);
    nn_optim_free(ob);
    nn_net_free(a);
    nn_net_free(b);
}

static void test_registry(void)
{
    static const char *const names[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
    static const int slots[] = {1, 2, 2, 2, 1};
    for (int k = 1; k <= NN_OPTIM_KINDS; k++) {
        CHECK_STR(names[k - 1], nn_optim_name((nn_optim_kind)k));
        nn_optim_kind got = NN_OPTIM_UNSET;
        CHECK_OK(nn_optim_parse(names[k - 1], &got));
        CHECK_INT(k, got);
        /* Every kind: lr then weight_decay, then its own; defaults valid. */
        CHECK_STR("lr", nn_optim_param((nn_optim_kind)k, 0)->name);
        CHECK_STR("weight_decay", nn_optim_param((nn_optim_kind)k, 1)->name);
        const nn_optim_config d = nn_optim_defaults((nn_optim_kind)k);
        CHECK_INT(k, d.kind);
        CHECK_OK(nn_optim_check(&d));
        for (int i = 0; i < nn_optim_param_count((nn_optim_kind)k); i++) {
            const nn_param_spec *p = nn_optim_param((nn_optim_kind)k, i);
            double v = -1;
            CHECK_OK(nn_optim_get(&d, p->name, &v));
            CHECK_MSG(v == (double)(float)p->def, "%s.%s: default %g, spec says %g", names[k - 1], p->name, v, p->def);
        }
        nn_net *net = NULL;
        nn_optim *o = NULL;
        nn_net_create(1, &net);
        nn_net_add_dense(net, 3, 3, NULL, NULL);
        CHECK_OK(nn_optim_create(net, &d, &o));
        CHECK_INT(slots[k - 1], nn_optim_slots(o));
        nn_optim_free(o);
        nn_net_free(net);
    }
    CHECK_STR(NULL, nn_optim_name(NN_OPTIM_UNSET));
    CHECK_STR(NULL, nn_optim_name((nn_optim_kind)6));
    CHECK(nn_optim_param(NN_OPTIM_ADAM, 5) == NULL);
    CHECK(nn_optim_param(NN_OPTIM_UNSET, 0) == NULL);
    nn_optim_kind k;
    CHECK_ERR(NN_EINVAL, "unknown optimizer 'adamax'", nn_optim_parse("adamax", &k));

    /* The kinds' own parameters, with their defaults and ranges. */
    static const struct {
        nn_optim_kind k;
        const char *list;
    } lists[] = {
        {NN_OPTIM_SGD, "lr weight_decay momentum nesterov"},
        {NN_OPTIM_ADAM, "lr weight_decay beta1 beta2 eps"},
        {NN_OPTIM_ADAMW, "lr weight_decay beta1 beta2 eps"},
        {NN_OPTIM_RMSPROP, "lr weight_decay rho eps momentum"},
        {NN_OPTIM_ADAGRAD, "lr weight_decay eps"},
    };
    for (int i = 0; i < 5; i++) {
        char buf[128] = "";
        for (int j = 0; j < nn_optim_param_count(lists[i].k); j++) {
            if (j)
                strcat(buf, " ");
            strcat(buf, nn_optim_param(lists[i].k, j)->name);
        }
        CHECK_STR(lists[i].list, buf);
    }
    const nn_param_spec *b1 = nn_optim_param(NN_OPTIM_ADAM, 2);
    CHECK(b1->type == NN_PARAM_FLOAT && b1->def == 0.9 && b1->min == 0 && !b1->min_open && b1->max == 1 &&
          b1->max_open);
    CHECK(nn_optim_param(NN_OPTIM_SGD, 3)->type == NN_PARAM_BOOL);

    /* Setting by name, checked against the ranges. */
    nn_optim_config c = nn_optim_defaults(NN_OPTIM_ADAM);
    CHECK_OK(nn_optim_set(&c, "beta1", 0.5));
    CHECK_FLOAT_EQ(0.5f, c.adam.beta1);
    CHECK_ERR(NN_EINVAL, "adam: beta1 must be in [0, 1), got 1.5", nn_optim_set(&c, "beta1", 1.5));
    CHECK_ERR(NN_EINVAL, "adam: beta2 must be in [0, 1), got 1", nn_optim_set(&c, "beta2", 1));
    CHECK_ERR(NN_EINVAL, "adam: eps must be finite and > 0, got 0", nn_optim_set(&c, "eps", 0));
    CHECK_ERR(NN_EINVAL, "adam: lr must be finite and > 0, got nan", nn_optim_set(&c, "lr", NAN));
    CHECK_ERR(NN_EINVAL, "adam: weight_decay must be finite and >= 0, got inf",
              nn_optim_set(&c, "weight_decay", INFINITY));
    CHECK_ERR(NN_EINVAL, "adam: unknown parameter 'momentum'", nn_optim_set(&c, "momentum", 0.9));
    CHECK_FLOAT_EQ(0.5f, c.adam.beta1); /* unchanged by the failures */
    double v;
    CHECK_ERR(NN_EINVAL, "adam: unknown parameter 'rho'", nn_optim_get(&c, "rho", &v));
    c = nn_optim_defaults(NN_OPTIM_SGD);
    CHECK_ERR(NN_EINVAL, "sgd: nesterov must be 0 or 1 (a boolean), got 2", nn_optim_set(&c, "nesterov", 2));
    CHECK_OK(nn_optim_set(&c, "nesterov", 1));
    CHECK_ERR(NN_EINVAL, "sgd: nesterov needs momentum > 0", nn_optim_check(&c));
    c.adam.beta1 = 2; /* through the union: sgd.momentum */
    CHECK_ERR(NN_EINVAL, "sgd: momentum must be in [0, 1), got 2", nn_optim_check(&c));
    c.kind = NN_OPTIM_UNSET;
    CHECK_ERR(NN_EINVAL, "optimizer: unknown kind 0", nn_optim_check(&c));
    CHECK_ERR(NN_EINVAL, "optimizer: config is NULL", nn_optim_check(NULL));

    /* Creation and step failures. */
    nn_net *net = NULL, *empty = NULL;
    nn_optim *o = (nn_optim *)&o;
    nn_net_create(1, &net);
    nn_net_add_dense(net, 2, 1, NULL, NULL);
    nn_net_create(1, &empty);
    c = nn_optim_defaults(NN_OPTIM_RMSPROP);
    CHECK_ERR(NN_ESTATE, "rmsprop: the network has no parameters", nn_optim_create(empty, &c, &o));
    CHECK(o == NULL);
    CHECK_ERR(NN_EINVAL, "rmsprop: network is NULL", nn_optim_create(NULL, &c, &o));
    CHECK_OK(nn_optim_create(net, &c, &o));
    CHECK_ERR(NN_EINVAL, "rmsprop: step lr must be finite and >= 0, got -1", nn_optim_step(o, -1));
    CHECK_INT(0, (int)nn_optim_steps(o)); /* a refused step does not count */
    nn_net_add_dense(net, 1, 1, NULL, NULL);
    CHECK_ERR(NN_ESTATE, "rmsprop: the network changed after the optimiser was made", nn_optim_step(o, 0.1f));
    nn_optim_free(o);
    nn_optim_free(NULL);
    nn_net_free(net);
    nn_net_free(empty);
}

/* The deprecated 0.1 API is the SGD kind underneath. */
static void test_sgd_compat(void)
{
    const nn_sgd_config s = {0.2f, 0.5f, 1, 0.01f};
    const nn_optim_config o = nn_optim_from_sgd(&s);
    CHECK(o.kind == NN_OPTIM_SGD && o.lr == 0.2f && o.sgd.momentum == 0.5f && o.sgd.nesterov == 1 &&
          o.weight_decay == 0.01f);
    nn_train_config tc = nn_train_defaults();
    CHECK_INT(NN_OPTIM_UNSET, tc.optim.kind);
    tc.sgd = s;
    const nn_optim_config r = nn_train_optim(&tc);
    CHECK(r.kind == NN_OPTIM_SGD && r.lr == 0.2f && r.sgd.nesterov == 1);
    tc.optim = nn_optim_defaults(NN_OPTIM_ADAGRAD);
    CHECK_INT(NN_OPTIM_ADAGRAD, nn_train_optim(&tc).kind);
}

int main(void)
{
    tu_seed(17);
    test_registry();
    test_updates();
    test_sgd_compat();
    return tu_finish();
}
