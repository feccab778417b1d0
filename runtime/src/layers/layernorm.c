/* layernorm.c — layer normalisation per sample.
 *
 * x (B, F): per row, mu and var (biased) over its F values,
 * inv = 1/sqrt(var + eps), xhat = (x - mu) inv, y = gamma xhat + beta
 * (gamma, beta per feature).  Same in train and eval mode.
 * backward: dgamma += colsum(dy xhat); dbeta += colsum(dy);
 *           dxhat = dy gamma; dx = inv / F (F dxhat - sum dxhat - xhat sum dxhat xhat)
 * Workspace: xhat (B, F) and inv (B).  Rows are split over threads for x,
 * columns for the parameter gradients (each summed over rows in order).
 */
#include <math.h>
#include <stdio.h>

#include "../internal.h"
#include "../kernels/parallel.h"
#include "layers.h"

static const nn_param_spec ln_params[] = {
    {"eps", NN_PARAM_FLOAT, 1e-5, 0, INFINITY, 1, 0, NULL, 0, "added to the variance", NULL},
};

static nn_status ln_setup(nn_layer *l)
{
    if (nn_shape_size(l->in) == 0)
        return nn_fail(NN_ESTATE, "a first layernorm layer needs the network's input shape (nn_net_set_input)");
    const int64_t F = nn_shape_size(l->in);
    l->np = 2 * F;
    l->nw = F;
    l->wrows = 1;
    l->wcols = F;
    l->f[0] = (float)l->v[0].num;
    return NN_OK;
}

static int64_t ln_ws(const nn_layer *l, int64_t B) { return B * nn_shape_size(l->in) + B; }

static nn_status ln_init(const nn_layer *l, float *p, float *state, nn_rng *rng)
{
    (void)state;
    (void)rng;
    const int64_t F = nn_shape_size(l->in);
    for (int64_t f = 0; f < F; f++) {
        p[f] = 1.0f;
        p[F + f] = 0.0f;
    }
    return NN_OK;
}

typedef struct ln_job {
    const nn_layer *l;
    const nn_layer_io *io;
} ln_job;

static void ln_fwd_rows(int64_t lo, int64_t hi, void *ctx)
{
    const ln_job *j = ctx;
    const nn_layer_io *io = j->io;
    const int64_t F = nn_shape_size(j->l->in);
    const float *gamma = io->p, *beta = io->p + F;
    float *xhat = io->ws, *inv = io->ws + io->B * F;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = io->x + r * F;
        double sum = 0.0, ss = 0.0;
        for (int64_t f = 0; f < F; f++)
            sum += x[f];
        const double mu = sum / (double)F;
        for (int64_t f = 0; f < F; f++)
            ss += (x[f] - mu) * (x[f] - mu);
        const float iv = (float)(1.0 / sqrt(ss / (double)F + j->l->f[0])), mf = (float)mu;
        inv[r] = iv;
        float *xh = xhat + r * F, *y = io->y + r * F;
        for (int64_t f = 0; f < F; f++) {
            xh[f] = (x[f] - mf) * iv;
            y[f] = gamma[f] * xh[f] + beta[f];
        }
    }
}

static void ln_bwd_rows(int64_t lo, int64_t hi, void *ctx)
{
    const ln_job *j = ctx;
    const nn_layer_io *io = j->io;
    const int64_t F = nn_shape_size(j->l->in);
    const float *gamma = io->p, *inv = io->ws + io->B * F;
    for (int64_t r = lo; r < hi; r++) {
        const float *dy = io->dy + r * F, *xh = io->ws + r * F;
        double s1 = 0.0, s2 = 0.0;
        for (int64_t f = 0; f < F; f++) {
            const double d = (double)dy[f] * gamma[f];
            s1 += d;
            s2 += d * xh[f];
        }
        const float a = inv[r] / (float)F, m1 = (float)s1, m2 = (float)s2;
        float *dx = io->dx + r * F;
        for (int64_t f = 0; f < F; f++)
            dx[f] = a * ((float)F * dy[f] * gamma[f] - m1 - xh[f] * m2);
    }
}

static void ln_bwd_cols(int64_t lo, int64_t hi, void *ctx)
{
    const ln_job *j = ctx;
    const nn_layer_io *io = j->io;
    const int64_t F = nn_shape_size(j->l->in);
    float *dgamma = io->g, *dbeta = io->g + F;
    if (!io->accumulate)
        for (int64_t f = lo; f < hi; f++)
            dgamma[f] = dbeta[f] = 0.0f;
    for (int64_t r = 0; r < io->B; r++) {
        const float *dy = io->dy + r * F, *xh = io->ws + r * F;
        for (int64_t f = lo; f < hi; f++) {
            dgamma[f] += dy[f] * xh[f];
            dbeta[f] += dy[f];
        }
    }
}

static void ln_fwd(const nn_layer *l, const nn_layer_io *io)
{
    const ln_job j = {l, io};
    nn_parallel_range(io->B, NN_GRAIN_ELEMENTS / nn_shape_size(l->in) + 1, ln_fwd_rows, (void *)&j);
}

static void ln_bwd(const nn_layer *l, const nn_layer_io *io)
{
    const ln_job j = {l, io};
    const int64_t F = nn_shape_size(l->in);
    nn_parallel_range(F, NN_GRAIN_ELEMENTS / io->B + 1, ln_bwd_cols, (void *)&j);
    if (io->dx)
        nn_parallel_range(io->B, NN_GRAIN_ELEMENTS / F + 1, ln_bwd_rows, (void *)&j);
}

static void ln_describe(const nn_layer *l, char *buf, size_t n)
{
    snprintf(buf, n, "layernorm %lld", (long long)nn_shape_size(l->in));
}

const nn_layer_ops nn_layer_layernorm = {
    "layernorm", "normalises each sample over its features", ln_params, 1, ln_setup, ln_ws, ln_init, ln_fwd,
    ln_bwd, ln_describe, 0,
};
