/* schedule.c — learning-rate schedules with optional linear warm-up
 * (formulas in nnrun.h).  PLATEAU is stateful: nn_schedule_observe moves
 * its nn_sched_state, and the rate is read from that state. */
#include <math.h>
#include <string.h>

#include "internal.h"

static const char *const sched_names[] = {"constant", "step",    "exponential", "inverse_time",
                                          "cosine",   "plateau", "one_cycle",   "cosine_restarts"};
#define N_SCHEDS ((int)(sizeof sched_names / sizeof sched_names[0]))
/* NULL-terminated: also the choices of the plateau metric setting. */
static const char *const metric_names[] = {"val_loss", "train_loss", "val_accuracy", NULL};
#define N_METRICS ((int)(sizeof metric_names / sizeof metric_names[0]) - 1)
#define PI 3.141592653589793

const char *nn_sched_name(nn_sched_kind k)
{
    return (int)k >= 0 && (int)k < N_SCHEDS ? sched_names[k] : NULL;
}

nn_status nn_sched_parse(const char *name, nn_sched_kind *out)
{
    for (int i = 0; name && i < N_SCHEDS; i++) {
        if (strcmp(name, sched_names[i]) == 0) {
            *out = (nn_sched_kind)i;
            return NN_OK;
        }
    }
    return nn_fail(NN_EINVAL, "unknown schedule '%s'", name ? name : "(null)");
}

const char *nn_sched_metric_name(nn_sched_metric m)
{
    return (int)m >= 0 && (int)m < N_METRICS ? metric_names[m] : NULL;
}

nn_status nn_sched_metric_parse(const char *name, nn_sched_metric *out)
{
    for (int i = 0; name && i < N_METRICS; i++) {
        if (strcmp(name, metric_names[i]) == 0) {
            *out = (nn_sched_metric)i;
            return NN_OK;
        }
    }
    return nn_fail(NN_EINVAL, "unknown metric '%s'", name ? name : "(null)");
}

/* Each kind's settings (its own, then the two every kind has) with their
 * defaults and ranges, as the schema shows them.  A NaN default: none (the
 * caller gives it: total follows the epochs, max_lr is required).  The
 * bounds against lr0 (min_lr <= lr0, max_lr >= lr0) are checked by
 * nn_schedule_check, not by a range. */
#define SP(name_, type_, def_, lo_, lo_open_, hi_, hi_open_, doc_)                                  \
    {.name = name_, .type = type_, .def = def_, .min = lo_, .max = hi_, .min_open = lo_open_,       \
     .max_open = hi_open_, .doc = doc_}
#define SP_WARMUP                                                                                   \
    SP("warmup", NN_PARAM_INT, 0, 0, 0, HUGE_VAL, 0, "steps of linear warm-up"),                   \
        SP("warmup_start", NN_PARAM_FLOAT, 0, 0, 0, 1, 0, "warm-up starts at warmup_start * lr")
#define SP_MIN_LR SP("min_lr", NN_PARAM_FLOAT, 0, 0, 0, HUGE_VAL, 0, "the lowest rate (<= lr)")
#define SP_TOTAL SP("total", NN_PARAM_INT, NAN, 1, 0, HUGE_VAL, 0, "length in steps (default: the epochs)")
static const nn_param_spec p_constant[] = {SP_WARMUP};
static const nn_param_spec p_step[] = {
    SP("step_size", NN_PARAM_INT, 10, 1, 0, HUGE_VAL, 0, "steps between reductions"),
    SP("gamma", NN_PARAM_FLOAT, 0.5, 0, 1, 1, 0, "factor per reduction"), SP_WARMUP};
static const nn_param_spec p_exponential[] = {
    SP("gamma", NN_PARAM_FLOAT, 0.95, 0, 1, 1, 0, "factor per step"), SP_WARMUP};
static const nn_param_spec p_inverse_time[] = {
    SP("gamma", NN_PARAM_FLOAT, 0.1, 0, 0, HUGE_VAL, 0, "decay rate"), SP_WARMUP};
static const nn_param_spec p_cosine[] = {SP_TOTAL, SP_MIN_LR, SP_WARMUP};
static const nn_param_spec p_plateau[] = {
    {.name = "metric", .type = NN_PARAM_CHOICE, .def = 0, .choices = metric_names,
     .doc = "the metric watched"},
    SP("factor", NN_PARAM_FLOAT, 0.1, 0, 1, 1, 1, "factor per reduction"),
    SP("patience", NN_PARAM_INT, 10, 0, 0, HUGE_VAL, 0, "epochs without improvement before one"),
    SP_MIN_LR,
    SP("cooldown", NN_PARAM_INT, 0, 0, 0, HUGE_VAL, 0, "epochs after a reduction before counting"),
    SP_WARMUP};
static const nn_param_spec p_one_cycle[] = {
    SP("max_lr", NN_PARAM_FLOAT, NAN, 0, 1, HUGE_VAL, 0, "the peak rate (>= lr; required)"),
    SP("pct_start", NN_PARAM_FLOAT, 0.3, 0, 1, 1, 1, "share of the steps rising"), SP_TOTAL,
    SP_MIN_LR, SP_WARMUP};
static const nn_param_spec p_cosine_restarts[] = {
    SP("period", NN_PARAM_INT, 10, 1, 0, HUGE_VAL, 0, "steps of the first period"),
    SP("mult", NN_PARAM_FLOAT, 1, 1, 0, HUGE_VAL, 0, "growth of each period"), SP_MIN_LR,
    SP_WARMUP};
#define ENTRY(a) {a, (int)(sizeof a / sizeof a[0])}
static const struct {
    const nn_param_spec *p;
    int n;
} sched_params[] = {ENTRY(p_constant), ENTRY(p_step),    ENTRY(p_exponential), ENTRY(p_inverse_time),
                    ENTRY(p_cosine),   ENTRY(p_plateau), ENTRY(p_one_cycle),   ENTRY(p_cosine_restarts)};

int nn_sched_param_count(nn_sched_kind k) { return nn_sched_name(k) ? sched_params[k].n : 0; }

const nn_param_spec *nn_sched_param(nn_sched_kind k, int i)
{
    return i >= 0 && i < nn_sched_param_count(k) ? &sched_params[k].p[i] : NULL;
}

nn_schedule nn_schedule_constant(float lr0)
{
    nn_schedule s;
    memset(&s, 0, sizeof s);
    s.kind = NN_SCHED_CONSTANT;
    s.lr0 = lr0;
    s.gamma = 1.0f;
    s.step_size = 1;
    s.total = 1;
    s.metric = NN_METRIC_VAL_LOSS;
    /* The defaults are the parameter specs' (one source). */
    s.factor = (float)p_plateau[1].def;
    s.patience = (int64_t)p_plateau[2].def;
    s.max_lr = lr0 * 10.0f;
    s.pct_start = (float)p_one_cycle[1].def;
    s.period = (int64_t)p_cosine_restarts[0].def;
    s.mult = (float)p_cosine_restarts[1].def;
    return s;
}

nn_status nn_schedule_check(const nn_schedule *s)
{
    if (!s)
        return nn_fail(NN_EINVAL, "schedule: NULL");
    const char *name = nn_sched_name(s->kind);
    if (!name)
        return nn_fail(NN_EINVAL, "schedule: unknown kind %d", (int)s->kind);
    if (!(isfinite(s->lr0) && s->lr0 > 0))
        return nn_fail(NN_EINVAL, "schedule %s: lr must be finite and > 0, got %g", name, s->lr0);
    const int uses_min_lr = s->kind == NN_SCHED_COSINE || s->kind == NN_SCHED_PLATEAU ||
                            s->kind == NN_SCHED_ONE_CYCLE || s->kind == NN_SCHED_COSINE_RESTARTS;
    if (uses_min_lr && !(s->min_lr >= 0 && s->min_lr <= s->lr0))
        return nn_fail(NN_EINVAL, "schedule %s: min_lr must be in [0, lr], got %g", name, s->min_lr);
    switch (s->kind) {
    case NN_SCHED_STEP:
        if (s->step_size < 1)
            return nn_fail(NN_EINVAL, "schedule step: step_size must be >= 1, got %lld",
                           (long long)s->step_size);
        /* fall through */
    case NN_SCHED_EXPONENTIAL:
        if (!(s->gamma > 0 && s->gamma <= 1))
            return nn_fail(NN_EINVAL, "schedule %s: gamma must be in (0, 1], got %g", name, s->gamma);
        break;
    case NN_SCHED_INVERSE_TIME:
        if (!(isfinite(s->gamma) && s->gamma >= 0))
            return nn_fail(NN_EINVAL, "schedule inverse_time: gamma must be finite and >= 0, got %g",
                           s->gamma);
        break;
    case NN_SCHED_ONE_CYCLE:
        if (!(isfinite(s->max_lr) && s->max_lr >= s->lr0))
            return nn_fail(NN_EINVAL, "schedule one_cycle: max_lr must be finite and >= lr, got %g",
                           s->max_lr);
        if (!(s->pct_start > 0 && s->pct_start < 1))
            return nn_fail(NN_EINVAL, "schedule one_cycle: pct_start must be in (0, 1), got %g", s->pct_start);
        /* fall through */
    case NN_SCHED_COSINE:
        if (s->total < 1)
            return nn_fail(NN_EINVAL, "schedule %s: total must be >= 1, got %lld", name, (long long)s->total);
        break;
    case NN_SCHED_PLATEAU:
        if (!nn_sched_metric_name(s->metric))
            return nn_fail(NN_EINVAL, "schedule plateau: unknown metric %d", (int)s->metric);
        if (!(s->factor > 0 && s->factor < 1))
            return nn_fail(NN_EINVAL, "schedule plateau: factor must be in (0, 1), got %g", s->factor);
        if (s->patience < 0)
            return nn_fail(NN_EINVAL, "schedule plateau: patience must be >= 0, got %lld",
                           (long long)s->patience);
        if (s->cooldown < 0)
            return nn_fail(NN_EINVAL, "schedule plateau: cooldown must be >= 0, got %lld",
                           (long long)s->cooldown);
        break;
    case NN_SCHED_COSINE_RESTARTS:
        if (s->period < 1)
            return nn_fail(NN_EINVAL, "schedule cosine_restarts: period must be >= 1, got %lld",
                           (long long)s->period);
        if (!(isfinite(s->mult) && s->mult >= 1))
            return nn_fail(NN_EINVAL, "schedule cosine_restarts: mult must be finite and >= 1, got %g", s->mult);
        break;
    case NN_SCHED_CONSTANT:
        break;
    }
    if (s->warmup < 0)
        return nn_fail(NN_EINVAL, "schedule %s: warmup must be >= 0, got %lld", name,
                       (long long)s->warmup);
    if (!(s->warmup_start >= 0 && s->warmup_start <= 1))
        return nn_fail(NN_EINVAL, "schedule %s: warmup_start must be in [0, 1], got %g", name,
                       s->warmup_start);
    return NN_OK;
}

nn_sched_state nn_sched_state_initial(void)
{
    nn_sched_state st = {1.0f, NAN, 0, 0};
    return st;
}

/* Half a cosine from a (t = 0) to b (t = 1). */
static double anneal(double a, double b, double t) { return b + (a - b) * 0.5 * (1.0 + cos(PI * t)); }

static double base_lr(const nn_schedule *s, const nn_sched_state *st, int64_t step)
{
    const double lr0 = s->lr0;
    switch (s->kind) {
    case NN_SCHED_CONSTANT: return lr0;
    case NN_SCHED_STEP: return lr0 * pow(s->gamma, (double)(step / s->step_size));
    case NN_SCHED_EXPONENTIAL: return lr0 * pow(s->gamma, (double)step);
    case NN_SCHED_INVERSE_TIME: return lr0 / (1.0 + s->gamma * (double)step);
    case NN_SCHED_COSINE:
        return anneal(lr0, s->min_lr, step < s->total ? (double)step / (double)s->total : 1.0);
    case NN_SCHED_PLATEAU: {
        const double lr = lr0 * (double)(st ? st->scale : 1.0f);
        return lr > s->min_lr ? lr : s->min_lr;
    }
    case NN_SCHED_ONE_CYCLE: {
        const double up = (double)s->pct_start * (double)s->total;
        if ((double)step < up)
            return anneal(lr0, s->max_lr, (double)step / up);
        if (step >= s->total)
            return s->min_lr;
        return anneal(s->max_lr, s->min_lr, ((double)step - up) / ((double)s->total - up));
    }
    case NN_SCHED_COSINE_RESTARTS: {
        /* Find the period step falls in: periods P, P m, P m^2, ... */
        double len = (double)s->period, t = (double)step;
        while (t >= len) {
            t -= len;
            len *= s->mult;
        }
        return anneal(lr0, s->min_lr, t / len);
    }
    }
    return lr0;
}

float nn_schedule_lr_state(const nn_schedule *s, const nn_sched_state *st, int64_t step)
{
    if (!s)
        return 0.0f;
    if (step < 0)
        step = 0;
    if (s->warmup > 0 && step < s->warmup) {
        const double start = s->warmup_start * (double)s->lr0, end = base_lr(s, st, 0);
        return (float)(start + (end - start) * (double)step / (double)s->warmup);
    }
    return (float)base_lr(s, st, step - s->warmup);
}

float nn_schedule_lr(const nn_schedule *s, int64_t step) { return nn_schedule_lr_state(s, NULL, step); }

void nn_schedule_observe(const nn_schedule *s, nn_sched_state *st, double metric)
{
    if (!s || !st || s->kind != NN_SCHED_PLATEAU || isnan(metric))
        return;
    const int higher = s->metric == NN_METRIC_VAL_ACCURACY;
    /* Relative threshold 1e-4, as reduce-on-plateau usually has. */
    const int better = isnan(st->best) ||
                       (higher ? metric > st->best * (1.0 + 1e-4 * (st->best >= 0 ? 1 : -1))
                               : metric < st->best * (1.0 - 1e-4 * (st->best >= 0 ? 1 : -1)));
    if (better) {
        st->best = metric;
        st->bad = 0;
    } else {
        st->bad++;
    }
    if (st->cooldown > 0) {
        st->cooldown--;
        st->bad = 0;
    }
    if (st->bad > s->patience) {
        const float floor_scale = s->min_lr / s->lr0;
        st->scale = st->scale * s->factor > floor_scale ? st->scale * s->factor : floor_scale;
        st->cooldown = s->cooldown;
        st->bad = 0;
    }
}
