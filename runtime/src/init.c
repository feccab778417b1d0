/* init.c — weight initialisers (formulas in nnrun.h). */
#include <math.h>
#include <string.h>

#include "internal.h"

const char *const nn_init_names[] = {
    "zeros", "constant", "uniform", "normal", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal", NULL,
};
#define N_INITS ((int)(sizeof nn_init_names / sizeof nn_init_names[0]) - 1)

const char *nn_init_name(nn_init_kind k)
{
    return (int)k >= 0 && (int)k < N_INITS ? nn_init_names[k] : NULL;
}

nn_status nn_init_parse(const char *name, nn_init_kind *out)
{
    for (int i = 0; name && i < N_INITS; i++) {
        if (strcmp(name, nn_init_names[i]) == 0) {
            *out = (nn_init_kind)i;
            return NN_OK;
        }
    }
    return nn_fail(NN_EINVAL, "unknown initialiser '%s'", name ? name : "(null)");
}

nn_status nn_init_fill(const nn_init *init, float *w, int64_t n, int64_t fan_in, int64_t fan_out,
                       nn_rng *rng)
{
    if (!init || (!w && n > 0) || !rng)
        return nn_fail(NN_EINVAL, "init: NULL argument");
    if (n < 0 || fan_in < 1 || fan_out < 1)
        return nn_fail(NN_EINVAL, "init: sizes must be positive");
    float a = init->a, b = init->b;
    double lo = 0, hi = 0, mean = 0, std = 0;
    int normal = 0;
    switch (init->kind) {
    case NN_INIT_ZEROS:
        if (n > 0)
            memset(w, 0, (size_t)n * sizeof *w);
        return NN_OK;
    case NN_INIT_CONSTANT:
        if (!isfinite(a))
            return nn_fail(NN_EINVAL, "init constant: value must be finite");
        for (int64_t i = 0; i < n; i++)
            w[i] = a;
        return NN_OK;
    case NN_INIT_UNIFORM:
        if (!isfinite(a) || !isfinite(b) || b < a)
            return nn_fail(NN_EINVAL, "init uniform: need finite a <= b, got a=%g b=%g", a, b);
        lo = a;
        hi = b;
        break;
    case NN_INIT_NORMAL:
        if (!isfinite(a) || !isfinite(b) || b < 0)
            return nn_fail(NN_EINVAL, "init normal: need finite mean and std >= 0, got mean=%g std=%g",
                           a, b);
        normal = 1;
        mean = a;
        std = b;
        break;
    case NN_INIT_XAVIER_UNIFORM:
        hi = sqrt(6.0 / (double)(fan_in + fan_out));
        lo = -hi;
        break;
    case NN_INIT_XAVIER_NORMAL:
        normal = 1;
        std = sqrt(2.0 / (double)(fan_in + fan_out));
        break;
    case NN_INIT_HE_UNIFORM:
        hi = sqrt(6.0 / (double)fan_in);
        lo = -hi;
        break;
    case NN_INIT_HE_NORMAL:
        normal = 1;
        std = sqrt(2.0 / (double)fan_in);
        break;
    default:
        return nn_fail(NN_EINVAL, "init: unknown kind %d", (int)init->kind);
    }
    for (int64_t i = 0; i < n; i++)
        w[i] = normal ? (float)(mean + std * nn_rng_normal(rng))
                      : (float)(lo + (hi - lo) * nn_rng_uniform(rng));
    return NN_OK;
}
