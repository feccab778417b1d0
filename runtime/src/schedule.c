/* schedule.c — learning-rate schedules with optional linear warm-up
 * (formulas in nnrun.h). */
#include <math.h>
#include <string.h>

#include "internal.h"

static const char *const sched_names[] = {"constant", "step", "exponential", "inverse_time", "cosine"};
#define N_SCHEDS ((int)(sizeof sched_names / sizeof sched_names[0]))

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

nn_schedule nn_schedule_constant(float lr0)
{
    nn_schedule s;
    memset(&s, 0, sizeof s);
    s.kind = NN_SCHED_CONSTANT;
    s.lr0 = lr0;
    s.gamma = 1.0f;
    s.step_size = 1;
    s.total = 1;
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
    case NN_SCHED_COSINE:
        if (s->total < 1)
            return nn_fail(NN_EINVAL, "schedule cosine: total must be >= 1, got %lld",
                           (long long)s->total);
        if (!(s->min_lr >= 0 && s->min_lr <= s->lr0))
            return nn_fail(NN_EINVAL, "schedule cosine: min_lr must be in [0, lr], got %g", s->min_lr);
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

static double base_lr(const nn_schedule *s, int64_t step)
{
    const double lr0 = s->lr0;
    switch (s->kind) {
    case NN_SCHED_CONSTANT: return lr0;
    case NN_SCHED_STEP: return lr0 * pow(s->gamma, (double)(step / s->step_size));
    case NN_SCHED_EXPONENTIAL: return lr0 * pow(s->gamma, (double)step);
    case NN_SCHED_INVERSE_TIME: return lr0 / (1.0 + s->gamma * (double)step);
    case NN_SCHED_COSINE: {
        const double t = step < s->total ? (double)step / (double)s->total : 1.0;
        return s->min_lr + (lr0 - s->min_lr) * 0.5 * (1.0 + cos(3.141592653589793 * t));
    }
    }
    return lr0;
}

float nn_schedule_lr(const nn_schedule *s, int64_t step)
{
    if (!s)
        return 0.0f;
    if (step < 0)
        step = 0;
    if (s->warmup > 0 && step < s->warmup) {
        const double start = s->warmup_start * (double)s->lr0, end = base_lr(s, 0);
        return (float)(start + (end - start) * (double)step / (double)s->warmup);
    }
    return (float)base_lr(s, step - s->warmup);
}
