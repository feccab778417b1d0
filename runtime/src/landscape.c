/* landscape.c — the loss over a plane of parameter space (nnrun landscape):
 * nn_loss_surface, nn_net_random_direction, nn_plane_project.  No threads
 * of its own: every point is one nn_evaluate, whose kernels are parallel
 * and give the same figures for any thread count. */
#include "internal.h"

#include <math.h>
#include <string.h>

nn_status nn_loss_surface(nn_net *net, const nn_dataset *data, nn_loss_kind loss,
                          const float *center, const float *d1, const float *d2,
                          const double *alpha, int64_t na, const double *beta, int64_t nb,
                          int64_t batch_size, double *out)
{
    if (!net || !data || !center || !d1 || !alpha || !beta || !out)
        return nn_fail(NN_EINVAL, "loss surface: NULL argument");
    if (na < 1 || nb < 1)
        return nn_fail(NN_EINVAL, "loss surface: the grid needs at least 1 x 1 points, got %lld x %lld",
                       (long long)na, (long long)nb);
    if (!d2 && (nb != 1 || beta[0] != 0))
        return nn_fail(NN_EINVAL, "loss surface: a second direction is needed for beta != 0");
    const int64_t P = nn_net_param_count(net);
    if (P < 1)
        return nn_fail(NN_ESTATE, "loss surface: the network has no parameters");
    float *w = nn_net_params(net);
    float *saved = nn_xalloc((size_t)P * sizeof(float));
    if (!saved)
        return nn_oom("loss surface");
    memcpy(saved, w, (size_t)P * sizeof(float));
    nn_status s = NN_OK;
    for (int64_t j = 0; j < nb && s == NN_OK; j++) {
        for (int64_t i = 0; i < na && s == NN_OK; i++) {
            /* theta = center + a d1 + b d2, rounded once to float. */
            const double a = alpha[i], b = beta[j];
            for (int64_t k = 0; k < P; k++)
                w[k] = (float)((double)center[k] + a * d1[k] + (d2 ? b * d2[k] : 0.0));
            nn_eval_result r;
            s = nn_evaluate(net, data, loss, batch_size, &r);
            out[j * na + i] = s == NN_OK ? r.loss : NAN;
        }
    }
    memcpy(w, saved, (size_t)P * sizeof(float));
    nn_xfree(saved);
    return s;
}

/* Scales block x[0..n) of a Gaussian direction to the norm of ref[0..n). */
static void normalise_block(float *x, const float *ref, int64_t n)
{
    double nx = 0, nr = 0;
    for (int64_t k = 0; k < n; k++) {
        nx += (double)x[k] * x[k];
        nr += (double)ref[k] * ref[k];
    }
    const double f = nx > 0 && nr > 0 ? sqrt(nr / nx) : 0;
    for (int64_t k = 0; k < n; k++)
        x[k] = (float)(x[k] * f);
}

nn_status nn_net_random_direction(nn_net *net, nn_rng *rng, float *out)
{
    if (!net || !rng || !out)
        return nn_fail(NN_EINVAL, "random direction: NULL argument");
    const int64_t P = nn_net_param_count(net);
    float *w = nn_net_params(net);
    for (int64_t k = 0; k < P; k++)
        out[k] = (float)nn_rng_normal(rng);
    /* Which floats belong to a weight or bias view; the rest get 0. */
    unsigned char *seen = nn_xalloc((size_t)(P > 0 ? P : 1));
    if (!seen)
        return nn_oom("random direction");
    memset(seen, 0, (size_t)(P > 0 ? P : 1));
    const nn_param_which which[2] = {NN_WEIGHTS, NN_BIAS};
    for (int l = 0; l < nn_net_layers(net); l++) {
        for (int t = 0; t < 2; t++) {
            nn_tensor *v = NULL;
            if (nn_net_param(net, l, which[t], &v) != NN_OK)
                continue; /* a layer without this parameter */
            const int64_t off = nn_tensor_data(v) - w, n = nn_tensor_size(v);
            nn_tensor_free(v);
            if (off < 0 || off + n > P)
                continue;
            normalise_block(out + off, w + off, n);
            memset(seen + off, 1, (size_t)n);
        }
    }
    for (int64_t k = 0; k < P; k++) {
        if (!seen[k])
            out[k] = 0;
    }
    nn_xfree(seen);
    return NN_OK;
}

nn_status nn_plane_project(int64_t n, const float *center, const float *d1, const float *d2,
                           const float *p, double *a, double *b)
{
    if (!center || !d1 || !d2 || !p || !a || !b || n < 1)
        return nn_fail(NN_EINVAL, "plane projection: NULL argument or n < 1");
    double g11 = 0, g12 = 0, g22 = 0, r1 = 0, r2 = 0;
    for (int64_t k = 0; k < n; k++) {
        const double v = (double)p[k] - center[k];
        g11 += (double)d1[k] * d1[k];
        g12 += (double)d1[k] * d2[k];
        g22 += (double)d2[k] * d2[k];
        r1 += (double)d1[k] * v;
        r2 += (double)d2[k] * v;
    }
    const double det = g11 * g22 - g12 * g12;
    if (!(det > 1e-12 * g11 * g22) || g11 == 0 || g22 == 0)
        return nn_fail(NN_EINVAL, "plane projection: the two directions are zero or parallel");
    *a = (r1 * g22 - r2 * g12) / det;
    *b = (r2 * g11 - r1 * g12) / det;
    return NN_OK;
}
