/* batchnorm.c — batch normalisation per channel.
 *
 * x (B, C, S) with S = H W; per channel c over its N = B S values:
 * train: mu, var = mean and biased variance of the batch, inv = 1/sqrt(var + eps),
 *        xhat = (x - mu) inv, y = gamma_c xhat + beta_c;
 *        running mean/var (state) = (1 - momentum) r + momentum (mu, var N/(N-1))
 * eval:  the same with the running statistics.
 * backward (train): dgamma += sum dy xhat; dbeta += sum dy;
 *                   dx = gamma inv / N (N dy - sum dy - xhat sum dy xhat)
 *          (eval):  dx = gamma inv dy
 * Workspace: xhat (B, C S) and inv (C).  Each channel's sums run in a fixed
 * order (b, then s) in double, by one thread.
 */
#include <math.h>
#include <stdio.h>

#include "../internal.h"
#include "../kernels/parallel.h"
#include "layers.h"

static const nn_param_spec bn_params[] = {
    {"momentum", NN_PARAM_FLOAT, 0.1, 0, 1, 0, 0, NULL, 0, "weight of the batch in the running statistics", NULL},
    {"eps", NN_PARAM_FLOAT, 1e-5, 0, INFINITY, 1, 0, NULL, 0, "added to the variance", NULL},
};

static nn_status bn_setup(nn_layer *l)
{
    if (nn_shape_size(l->in) == 0)
        return nn_fail(NN_ESTATE, "a first batchnorm layer needs the network's input shape (nn_net_set_input)");
    const int64_t C = l->in.c;
    l->np = 2 * C;
    l->nw = C;
    l->wrows = 1;
    l->wcols = C;
    l->ns = 2 * C;
    l->f[0] = (float)l->v[0].num;
    l->f[1] = (float)l->v[1].num;
    return NN_OK;
}

static int64_t bn_ws(const nn_layer *l, int64_t B) { return B * nn_shape_size(l->in) + l->in.c; }

static nn_status bn_init(const nn_layer *l, float *p, float *state, nn_rng *rng)
{
    (void)rng;
    const int64_t C = l->in.c;
    for (int64_t c = 0; c < C; c++) {
        p[c] = 1.0f;     /* gamma */
        p[C + c] = 0.0f; /* beta */
        state[c] = 0.0f; /* running mean */
        state[C + c] = 1.0f; /* running variance */
    }
    return NN_OK;
}

typedef struct bn_job {
    const nn_layer *l;
    const nn_layer_io *io;
} bn_job;

#define AT(b, c, s) (((b) * C + (c)) * S + (s))

static void bn_fwd_range(int64_t lo, int64_t hi, void *ctx)
{
    const bn_job *j = ctx;
    const nn_layer_io *io = j->io;
    const int64_t B = io->B, C = j->l->in.c, S = j->l->in.h * j->l->in.w, N = B * S;
    const float m = j->l->f[0], eps = j->l->f[1];
    const float *x = io->x, *gamma = io->p, *beta = io->p + C;
    float *xhat = io->ws, *inv = io->ws + B * C * S, *rmean = io->state, *rvar = io->state + C;
    for (int64_t c = lo; c < hi; c++) {
        double mu, var;
        if (io->mode == NN_MODE_TRAIN) {
            double sum = 0.0, ss = 0.0;
            for (int64_t b = 0; b < B; b++)
                for (int64_t s = 0; s < S; s++)
                    sum += x[AT(b, c, s)];
            mu = sum / (double)N;
            for (int64_t b = 0; b < B; b++)
                for (int64_t s = 0; s < S; s++) {
                    const double d = x[AT(b, c, s)] - mu;
                    ss += d * d;
                }
            var = ss / (double)N;
            const double unbiased = N > 1 ? ss / (double)(N - 1) : var;
            rmean[c] = (float)((1.0 - m) * rmean[c] + m * mu);
            rvar[c] = (float)((1.0 - m) * rvar[c] + m * unbiased);
        } else {
            mu = rmean[c];
            var = rvar[c];
        }
        const float iv = (float)(1.0 / sqrt(var + eps)), mf = (float)mu;
        inv[c] = iv;
        for (int64_t b = 0; b < B; b++)
            for (int64_t s = 0; s < S; s++) {
                const int64_t k = AT(b, c, s);
                xhat[k] = (x[k] - mf) * iv;
                io->y[k] = gamma[c] * xhat[k] + beta[c];
            }
    }
}

static void bn_bwd_range(int64_t lo, int64_t hi, void *ctx)
{
    const bn_job *j = ctx;
    const nn_layer_io *io = j->io;
    const int64_t B = io->B, C = j->l->in.c, S = j->l->in.h * j->l->in.w, N = B * S;
    const float *gamma = io->p, *dy = io->dy, *xhat = io->ws, *inv = io->ws + B * C * S;
    float *dgamma = io->g, *dbeta = io->g + C;
    for (int64_t c = lo; c < hi; c++) {
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t s = 0; s < S; s++) {
                const int64_t k = AT(b, c, s);
                sdy += dy[k];
                sdyx += (double)dy[k] * xhat[k];
            }
        dgamma[c] = (io->accumulate ? dgamma[c] : 0.0f) + (float)sdyx;
        dbeta[c] = (io->accumulate ? dbeta[c] : 0.0f) + (float)sdy;
        if (!io->dx)
            continue;
        const float gi = gamma[c] * inv[c];
        if (io->mode == NN_MODE_EVAL) {
            for (int64_t b = 0; b < B; b++)
                for (int64_t s = 0; s < S; s++)
                    io->dx[AT(b, c, s)] = gi * dy[AT(b, c, s)];
            continue;
        }
        const float a = gi / (float)N, mdy = (float)sdy, mdyx = (float)sdyx;
        for (int64_t b = 0; b < B; b++)
            for (int64_t s = 0; s < S; s++) {
                const int64_t k = AT(b, c, s);
                io->dx[k] = a * ((float)N * dy[k] - mdy - xhat[k] * mdyx);
            }
    }
}

static void bn_fwd(const nn_layer *l, const nn_layer_io *io)
{
    const bn_job j = {l, io};
    nn_parallel_range(l->in.c, NN_GRAIN_ELEMENTS / (io->B * l->in.h * l->in.w) + 1, bn_fwd_range, (void *)&j);
}

static void bn_bwd(const nn_layer *l, const nn_layer_io *io)
{
    const bn_job j = {l, io};
    nn_parallel_range(l->in.c, NN_GRAIN_ELEMENTS / (io->B * l->in.h * l->in.w) + 1, bn_bwd_range, (void *)&j);
}

static void bn_describe(const nn_layer *l, char *buf, size_t n)
{
    snprintf(buf, n, "batchnorm %lld", (long long)nn_shape_size(l->in));
}

const nn_layer_ops nn_layer_batchnorm = {
    "batchnorm", "normalises each channel over the batch; running statistics for eval mode", bn_params, 2,
    bn_setup, bn_ws, bn_init, bn_fwd, bn_bwd, bn_describe, 0,
};
