/* test_schedule.c — each learning-rate schedule's formula (nnrun.h) at
 * several steps, linear warm-up in front of each, names and errors.
 * Values are float: compared to the formula in double at 1e-6 relative. */
#include "testutil.h"

#define PI 3.141592653589793

static nn_schedule sched(nn_sched_kind k, float lr0, float gamma, int64_t step_size, int64_t total,
                         float min_lr)
{
    nn_schedule s = nn_schedule_constant(lr0);
    s.kind = k;
    s.gamma = gamma;
    s.step_size = step_size;
    s.total = total;
    s.min_lr = min_lr;
    return s;
}

#define CHECK_LR(expected, s, step) CHECK_NEAR(expected, nn_schedule_lr(&(s), step), 1e-6, 1e-12)

static void test_formulas(void)
{
    nn_schedule c = nn_schedule_constant(0.1f);
    CHECK_INT(NN_SCHED_CONSTANT, c.kind);
    CHECK_INT(0, c.warmup);
    CHECK_OK(nn_schedule_check(&c));
    CHECK_LR(0.1, c, 0);
    CHECK_LR(0.1, c, 7);
    CHECK_LR(0.1, c, 1000000);

    nn_schedule st = sched(NN_SCHED_STEP, 0.1f, 0.5f, 3, 1, 0);
    CHECK_OK(nn_schedule_check(&st));
    CHECK_LR(0.1, st, 0);
    CHECK_LR(0.1, st, 2);
    CHECK_LR(0.05, st, 3);
    CHECK_LR(0.05, st, 5);
    CHECK_LR(0.025, st, 6);
    CHECK_LR(0.1 * pow(0.5, 33), st, 100);

    nn_schedule ex = sched(NN_SCHED_EXPONENTIAL, 0.2f, 0.9f, 1, 1, 0);
    CHECK_OK(nn_schedule_check(&ex));
    CHECK_LR(0.2, ex, 0);
    CHECK_LR(0.2 * (double)0.9f, ex, 1);
    CHECK_LR(0.2 * pow((double)0.9f, 10), ex, 10); /* gamma is a float */
    CHECK_LR(0.2 * pow((double)0.9f, 57), ex, 57);

    nn_schedule it = sched(NN_SCHED_INVERSE_TIME, 0.1f, 0.5f, 1, 1, 0);
    CHECK_OK(nn_schedule_check(&it));
    CHECK_LR(0.1, it, 0);
    CHECK_LR(0.05, it, 2);
    CHECK_LR(0.1 / 6.0, it, 10);
    nn_schedule it0 = sched(NN_SCHED_INVERSE_TIME, 0.1f, 0.0f, 1, 1, 0);
    CHECK_OK(nn_schedule_check(&it0));
    CHECK_LR(0.1, it0, 1000);

    nn_schedule co = sched(NN_SCHED_COSINE, 0.1f, 1, 1, 10, 0.01f);
    CHECK_OK(nn_schedule_check(&co));
    CHECK_LR(0.1, co, 0);
    CHECK_LR(0.01 + 0.09 * (1 + cos(PI * 0.2)) / 2, co, 2);
    CHECK_LR(0.055, co, 5);
    CHECK_LR(0.01 + 0.09 * (1 + cos(PI * 0.9)) / 2, co, 9);
    CHECK_LR(0.01, co, 10);
    CHECK_LR(0.01, co, 25); /* min(step, total) */

    /* negative steps count as 0 */
    CHECK_LR(0.1, st, -5);
    CHECK_FLOAT_EQ(0, nn_schedule_lr(NULL, 3));
}

static void test_warmup(void)
{
    /* from 0.1 * lr0 to the schedule's value at step 0, over 4 steps */
    nn_schedule c = nn_schedule_constant(0.1f);
    c.warmup = 4;
    c.warmup_start = 0.1f;
    CHECK_OK(nn_schedule_check(&c));
    CHECK_LR(0.01, c, 0);
    CHECK_LR(0.0325, c, 1);
    CHECK_LR(0.055, c, 2);
    CHECK_LR(0.0775, c, 3);
    CHECK_LR(0.1, c, 4);
    CHECK_LR(0.1, c, 50);

    /* afterwards the schedule runs on step - warmup */
    nn_schedule st = sched(NN_SCHED_STEP, 0.1f, 0.5f, 3, 1, 0);
    st.warmup = 2;
    CHECK_LR(0.0, st, 0); /* warmup_start 0 */
    CHECK_LR(0.05, st, 1);
    CHECK_LR(0.1, st, 2);
    CHECK_LR(0.1, st, 4);
    CHECK_LR(0.05, st, 5);
    CHECK_LR(0.025, st, 8);

    nn_schedule ex = sched(NN_SCHED_EXPONENTIAL, 0.2f, 0.5f, 1, 1, 0);
    ex.warmup = 1;
    ex.warmup_start = 0.5f;
    CHECK_LR(0.1, ex, 0);
    CHECK_LR(0.2, ex, 1);
    CHECK_LR(0.1, ex, 2);

    nn_schedule it = sched(NN_SCHED_INVERSE_TIME, 0.1f, 1.0f, 1, 1, 0);
    it.warmup = 5;
    CHECK_LR(0.04, it, 2);
    CHECK_LR(0.1, it, 5);
    CHECK_LR(0.05, it, 6);

    nn_schedule co = sched(NN_SCHED_COSINE, 0.1f, 1, 1, 10, 0.0f);
    co.warmup = 10;
    co.warmup_start = 0.0f;
    CHECK_OK(nn_schedule_check(&co));
    CHECK_LR(0.05, co, 5);
    CHECK_LR(0.1, co, 10);
    CHECK_LR(0.05, co, 15);
    CHECK_LR(0.0, co, 20);
    CHECK_LR(0.0, co, 30);
}

static void test_names_and_errors(void)
{
    static const char *const names[] = {"constant", "step", "exponential", "inverse_time", "cosine"};
    for (int k = 0; k < 5; k++) {
        CHECK_STR(names[k], nn_sched_name((nn_sched_kind)k));
        nn_sched_kind got = (nn_sched_kind)-1;
        CHECK_OK(nn_sched_parse(names[k], &got));
        CHECK_INT(k, got);
    }
    CHECK_STR(NULL, nn_sched_name((nn_sched_kind)8));
    nn_sched_kind k;
    CHECK_ERR(NN_EINVAL, "unknown schedule 'linear'", nn_sched_parse("linear", &k));
    CHECK_ERR(NN_EINVAL, "unknown schedule '(null)'", nn_sched_parse(NULL, &k));

    CHECK_ERR(NN_EINVAL, "schedule: NULL", nn_schedule_check(NULL));
    nn_schedule s = nn_schedule_constant(0.1f);
    s.kind = (nn_sched_kind)9;
    CHECK_ERR(NN_EINVAL, "schedule: unknown kind 9", nn_schedule_check(&s));
    s = nn_schedule_constant(0.0f);
    CHECK_ERR(NN_EINVAL, "schedule constant: lr must be finite and > 0, got 0", nn_schedule_check(&s));
    s = nn_schedule_constant(NAN);
    CHECK_ERR(NN_EINVAL, "schedule constant: lr must be finite and > 0, got nan", nn_schedule_check(&s));
    s = sched(NN_SCHED_STEP, 0.1f, 0.5f, 0, 1, 0);
    CHECK_ERR(NN_EINVAL, "schedule step: step_size must be >= 1, got 0", nn_schedule_check(&s));
    s = sched(NN_SCHED_STEP, 0.1f, 1.5f, 2, 1, 0);
    CHECK_ERR(NN_EINVAL, "schedule step: gamma must be in (0, 1], got 1.5", nn_schedule_check(&s));
    s = sched(NN_SCHED_EXPONENTIAL, 0.1f, 0.0f, 1, 1, 0);
    CHECK_ERR(NN_EINVAL, "schedule exponential: gamma must be in (0, 1], got 0", nn_schedule_check(&s));
    s = sched(NN_SCHED_EXPONENTIAL, 0.1f, NAN, 1, 1, 0);
    CHECK_ERR(NN_EINVAL, "schedule exponential: gamma must be in (0, 1], got nan", nn_schedule_check(&s));
    s = sched(NN_SCHED_INVERSE_TIME, 0.1f, -1.0f, 1, 1, 0);
    CHECK_ERR(NN_EINVAL, "schedule inverse_time: gamma must be finite and >= 0, got -1",
              nn_schedule_check(&s));
    s = sched(NN_SCHED_COSINE, 0.1f, 1, 1, 0, 0);
    CHECK_ERR(NN_EINVAL, "schedule cosine: total must be >= 1, got 0", nn_schedule_check(&s));
    s = sched(NN_SCHED_COSINE, 0.1f, 1, 1, 10, 0.2f);
    CHECK_ERR(NN_EINVAL, "schedule cosine: min_lr must be in [0, lr], got 0.2", nn_schedule_check(&s));
    s = sched(NN_SCHED_COSINE, 0.1f, 1, 1, 10, -0.01f);
    CHECK_ERR(NN_EINVAL, "schedule cosine: min_lr must be in [0, lr], got -0.01", nn_schedule_check(&s));
    s = nn_schedule_constant(0.1f);
    s.warmup = -1;
    CHECK_ERR(NN_EINVAL, "schedule constant: warmup must be >= 0, got -1", nn_schedule_check(&s));
    s.warmup = 3;
    s.warmup_start = 1.5f;
    CHECK_ERR(NN_EINVAL, "schedule constant: warmup_start must be in [0, 1], got 1.5", nn_schedule_check(&s));
}

/* PLATEAU, ONE_CYCLE and COSINE_RESTARTS against values worked by hand. */
static void test_new_kinds(void)
{
    nn_schedule p = nn_schedule_constant(1.0f);
    p.kind = NN_SCHED_PLATEAU;
    p.patience = 1;
    p.factor = 0.5f;
    p.cooldown = 1;
    p.min_lr = 0.2f;
    CHECK_OK(nn_schedule_check(&p));
    nn_sched_state st = nn_sched_state_initial();
    CHECK_FLOAT_EQ(1.0f, nn_schedule_lr_state(&p, &st, 7));
    /* losses:   1.0  0.9  0.9  0.9  0.95 0.9  0.9  0.9  0.9  0.9
     * bad:      0    0    1    2->0 c    1    2->0 c    1    2->0
     * rate:     1    1    1    .5   .5   .5   .25->.2 (floor) ... */
    const double losses[] = {1.0, 0.9, 0.9, 0.9, 0.95, 0.9, 0.9, 0.9};
    const float rates[] = {1, 1, 1, 0.5f, 0.5f, 0.5f, 0.25f, 0.25f};
    for (int e = 0; e < 8; e++) {
        nn_schedule_observe(&p, &st, losses[e]);
        CHECK_MSG(fabsf(rates[e] - st.scale) < 1e-7f, "plateau after epoch %d: scale %g, expected %g", e + 1,
                  (double)st.scale, (double)rates[e]);
    }
    CHECK_FLOAT_EQ(0.25f, nn_schedule_lr_state(&p, &st, 0));
    nn_schedule_observe(&p, &st, 0.9);
    nn_schedule_observe(&p, &st, 0.9);
    CHECK_FLOAT_EQ(0.2f, st.scale);                          /* floored at min_lr / lr */
    CHECK_FLOAT_EQ(0.2f, nn_schedule_lr_state(&p, &st, 0));
    nn_schedule_observe(&p, &st, NAN); /* no metric: no change */
    CHECK_INT(0, (int)st.bad);
    /* Accuracy: higher is better. */
    p.metric = NN_METRIC_VAL_ACCURACY;
    p.cooldown = 0;
    st = nn_sched_state_initial();
    nn_schedule_observe(&p, &st, 0.5);
    nn_schedule_observe(&p, &st, 0.6);
    nn_schedule_observe(&p, &st, 0.55);
    CHECK_FLOAT_EQ(1.0f, st.scale);
    nn_schedule_observe(&p, &st, 0.6); /* not better than 0.6: second bad epoch */
    CHECK_FLOAT_EQ(0.5f, st.scale);

    nn_schedule o = nn_schedule_constant(0.1f);
    o.kind = NN_SCHED_ONE_CYCLE;
    o.max_lr = 1.0f;
    o.total = 10;
    o.pct_start = 0.3f; /* up over 3 steps, down over 7 */
    o.min_lr = 0.0f;
    CHECK_OK(nn_schedule_check(&o));
    CHECK_FLOAT_EQ(0.1f, nn_schedule_lr(&o, 0));
    CHECK_NEAR(0.1 + 0.9 * 0.25, nn_schedule_lr(&o, 1), 1e-6, 1e-7); /* (1 - cos(pi/3)) / 2 = 1/4 */
    CHECK_FLOAT_EQ(1.0f, nn_schedule_lr(&o, 3));
    CHECK_NEAR(0.5 * (1 + cos(3.141592653589793 * 3 / 7)), nn_schedule_lr(&o, 6), 1e-6, 1e-7);
    CHECK_FLOAT_EQ(0.0f, nn_schedule_lr(&o, 10));
    CHECK_FLOAT_EQ(0.0f, nn_schedule_lr(&o, 99));

    nn_schedule r = nn_schedule_constant(1.0f);
    r.kind = NN_SCHED_COSINE_RESTARTS;
    r.period = 4;
    r.mult = 2.0f; /* periods of 4, 8, 16: restarts at 4 and 12 */
    CHECK_OK(nn_schedule_check(&r));
    CHECK_FLOAT_EQ(1.0f, nn_schedule_lr(&r, 0));
    CHECK_NEAR(0.5, nn_schedule_lr(&r, 2), 1e-6, 1e-7);
    CHECK_FLOAT_EQ(1.0f, nn_schedule_lr(&r, 4));
    CHECK_NEAR(0.5, nn_schedule_lr(&r, 8), 1e-6, 1e-7);
    CHECK_FLOAT_EQ(1.0f, nn_schedule_lr(&r, 12));
    CHECK_NEAR(0.5 * (1 + cos(3.141592653589793 / 16)), nn_schedule_lr(&r, 13), 1e-6, 1e-7);

    /* Their checks. */
    nn_schedule b = p;
    b.factor = 1;
    CHECK_ERR(NN_EINVAL, "schedule plateau: factor must be in (0, 1), got 1", nn_schedule_check(&b));
    b = p;
    b.patience = -1;
    CHECK_ERR(NN_EINVAL, "schedule plateau: patience must be >= 0, got -1", nn_schedule_check(&b));
    b = p;
    b.min_lr = 2;
    CHECK_ERR(NN_EINVAL, "schedule plateau: min_lr must be in [0, lr], got 2", nn_schedule_check(&b));
    b = o;
    b.max_lr = 0.05f;
    CHECK_ERR(NN_EINVAL, "schedule one_cycle: max_lr must be finite and >= lr, got 0.05", nn_schedule_check(&b));
    b = o;
    b.pct_start = 1;
    CHECK_ERR(NN_EINVAL, "schedule one_cycle: pct_start must be in (0, 1), got 1", nn_schedule_check(&b));
    b = r;
    b.mult = 0.5f;
    CHECK_ERR(NN_EINVAL, "schedule cosine_restarts: mult must be finite and >= 1, got 0.5", nn_schedule_check(&b));
    b = r;
    b.period = 0;
    CHECK_ERR(NN_EINVAL, "schedule cosine_restarts: period must be >= 1, got 0", nn_schedule_check(&b));
    static const char *const names[] = {"plateau", "one_cycle", "cosine_restarts"};
    for (int k = 0; k < 3; k++) {
        nn_sched_kind got;
        CHECK_OK(nn_sched_parse(names[k], &got));
        CHECK_INT(NN_SCHED_PLATEAU + k, got);
    }
    nn_sched_metric m;
    CHECK_OK(nn_sched_metric_parse("val_accuracy", &m));
    CHECK_INT(NN_METRIC_VAL_ACCURACY, m);
    CHECK_STR("train_loss", nn_sched_metric_name(NN_METRIC_TRAIN_LOSS));
    CHECK_ERR(NN_EINVAL, "unknown metric 'accuracy'", nn_sched_metric_parse("accuracy", &m));
}

/* The parameter specs: every kind ends with warmup and warmup_start, its
 * own settings name the fields nn_schedule_check reads, and the defaults of
 * nn_schedule_constant are the specs'. */
static const nn_param_spec *find(nn_sched_kind k, const char *name)
{
    for (int i = 0; i < nn_sched_param_count(k); i++)
        if (strcmp(nn_sched_param(k, i)->name, name) == 0)
            return nn_sched_param(k, i);
    return NULL;
}

static void test_param_specs(void)
{
    for (int k = NN_SCHED_CONSTANT; k <= NN_SCHED_COSINE_RESTARTS; k++) {
        const int n = nn_sched_param_count((nn_sched_kind)k);
        CHECK(n >= 2);
        CHECK_STR("warmup", nn_sched_param((nn_sched_kind)k, n - 2)->name);
        CHECK_STR("warmup_start", nn_sched_param((nn_sched_kind)k, n - 1)->name);
        CHECK(nn_sched_param((nn_sched_kind)k, n) == NULL);
    }
    CHECK_INT(0, nn_sched_param_count((nn_sched_kind)99));
    CHECK(nn_sched_param(NN_SCHED_STEP, -1) == NULL);
    const nn_schedule d = nn_schedule_constant(0.1f);
    CHECK_NEAR(d.factor, find(NN_SCHED_PLATEAU, "factor")->def, 1e-7, 0);
    CHECK_INT(d.patience, (int64_t)find(NN_SCHED_PLATEAU, "patience")->def);
    CHECK_NEAR(d.pct_start, find(NN_SCHED_ONE_CYCLE, "pct_start")->def, 1e-7, 0);
    CHECK_INT(d.period, (int64_t)find(NN_SCHED_COSINE_RESTARTS, "period")->def);
    CHECK_NEAR(d.mult, find(NN_SCHED_COSINE_RESTARTS, "mult")->def, 0, 0);
    const nn_param_spec *m = find(NN_SCHED_PLATEAU, "metric");
    CHECK_INT(NN_PARAM_CHOICE, m->type);
    for (int i = 0; i < 3; i++)
        CHECK_STR(nn_sched_metric_name((nn_sched_metric)i), m->choices[i]);
    CHECK(m->choices[3] == NULL);
    CHECK(isnan(find(NN_SCHED_ONE_CYCLE, "max_lr")->def));
    CHECK(find(NN_SCHED_COSINE, "gamma") == NULL);
    const nn_param_spec *g = find(NN_SCHED_STEP, "gamma");
    CHECK(g->min == 0 && g->min_open && g->max == 1 && !g->max_open);
}

int main(void)
{
    test_param_specs();
    test_new_kinds();
    test_formulas();
    test_warmup();
    test_names_and_errors();
    return tu_finish();
}
