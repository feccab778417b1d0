/* dropout.c — inverted dropout.
 *
 * train: y(B,n) = x * m, m = [u >= p] / (1 - p), u ~ U[0, 1) drawn in
 *        element order from the network's mask stream (so the masks depend
 *        on the seed and the step only, never on the thread count)
 * eval:  y = x
 * backward: dx = dy * m (train), dx = dy (eval); m is kept in the
 *           workspace (B, n) from forward to backward.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../internal.h"
#include "layers.h"

static const nn_param_spec dropout_params[] = {
    {"p", NN_PARAM_FLOAT, 0.5, 0, 1, 0, 1, NULL, 1, "probability of dropping each value", NULL},
};

static nn_status dropout_setup(nn_layer *l)
{
    if (nn_shape_size(l->in) == 0)
        return nn_fail(NN_ESTATE, "a first dropout layer needs the network's input shape (nn_net_set_input)");
    l->f[0] = (float)l->v[0].num;
    return NN_OK;
}

static int64_t dropout_ws(const nn_layer *l, int64_t B) { return B * nn_shape_size(l->in); }

static void dropout_fwd(const nn_layer *l, const nn_layer_io *io)
{
    const int64_t n = io->B * nn_shape_size(l->in);
    const float p = l->f[0];
    if (io->mode == NN_MODE_EVAL || p == 0.0f) {
        memcpy(io->y, io->x, (size_t)n * sizeof(float));
        return;
    }
    /* Two 32-bit draws per generator step; keep when u >= p. */
    const uint64_t thr = (uint64_t)ldexp((double)p, 32);
    const float scale = 1.0f / (1.0f - p);
    float *m = io->ws;
    for (int64_t i = 0; i < n; i += 2) {
        const uint64_t r = nn_rng_next(io->rng);
        m[i] = (r >> 32) >= thr ? scale : 0.0f;
        if (i + 1 < n)
            m[i + 1] = (r & 0xffffffffu) >= thr ? scale : 0.0f;
    }
    for (int64_t i = 0; i < n; i++)
        io->y[i] = io->x[i] * m[i];
}

static void dropout_bwd(const nn_layer *l, const nn_layer_io *io)
{
    if (!io->dx)
        return;
    const int64_t n = io->B * nn_shape_size(l->in);
    if (io->mode == NN_MODE_EVAL || l->f[0] == 0.0f) {
        if (io->dx != io->dy)
            memcpy(io->dx, io->dy, (size_t)n * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < n; i++)
        io->dx[i] = io->dy[i] * io->ws[i];
}

static void dropout_describe(const nn_layer *l, char *buf, size_t n)
{
    snprintf(buf, n, "dropout(%g) %lld", (double)l->f[0], (long long)nn_shape_size(l->in));
}

const nn_layer_ops nn_layer_dropout = {
    "dropout", "zeroes values with probability p in train mode (scaled by 1/(1-p))", dropout_params, 1,
    dropout_setup, dropout_ws, NULL, dropout_fwd, dropout_bwd, dropout_describe, 0,
};
