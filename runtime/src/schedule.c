/* schedule.c — learning-rate schedules with optional linear warm-up
 * (formulas in nnrun.h).  PLATEAU is stateful: nn_schedule_observe moves
 * its nn_sched_state, and the rate is read from that state. */
#include <math.h>
#include <string.h>

#include "internal.h"

static const char *const sched_names[] = {"constant", "step",    "exponential", "inverse_time",
                                          "cosine",   "plateau", "one_cycle",   "cosine_restarts"};
#define N_SCHEDS ((int)(sizeof sched_names / sizeof sched_names[0]))
static const char *const metric_names[] = {"val_loss", "train_loss", "val_accuracy"};
#define N_METRICS ((int)(sizeof metric_names / sizeof metric_names[0]))
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
    s.factor = 0.1f;
    s.patience = 10;
    s.max_lr = lr0 * 10.0f;
    s.pct_start = 0.3f;
    s.period = 10;
    s.mult = 1.0f;
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
