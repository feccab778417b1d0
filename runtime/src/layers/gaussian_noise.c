/* gaussian_noise.c — additive Gaussian noise, a regulariser.
 *
 * train: y(B,n) = x + stddev * z, z ~ N(0, 1) drawn in element order from
 *        the network's mask stream (the same for any thread count)
 * eval:  y = x
 * backward: dx = dy (the noise does not depend on x)
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../internal.h"
#include "layers.h"

static const nn_param_spec noise_params[] = {
    {"stddev", NN_PARAM_FLOAT, 0.1, 0, INFINITY, 0, 0, NULL, 1, "standard deviation of the noise", NULL},
};

static nn_status noise_setup(nn_layer *l)
{
    if (nn_shape_size(l->in) == 0)
        return nn_fail(NN_ESTATE, "a first gaussian_noise layer needs the network's input shape (nn_net_set_input)");
    l->f[0] = (float)l->v[0].num;
    return NN_OK;
}

static void noise_fwd(const nn_layer *l, const nn_layer_io *io)
{
    const int64_t n = io->B * nn_shape_size(l->in);
    const float s = l->f[0];
    if (io->mode == NN_MODE_EVAL || s == 0.0f) {
        memcpy(io->y, io->x, (size_t)n * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < n; i++)
        io->y[i] = io->x[i] + s * (float)nn_rng_normal(io->rng);
}

static void noise_bwd(const nn_layer *l, const nn_layer_io *io)
{
    if (io->dx && io->dx != io->dy)
        memcpy(io->dx, io->dy, (size_t)(io->B * nn_shape_size(l->in)) * sizeof(float));
}

static void noise_describe(const nn_layer *l, char *buf, size_t n)
{
    snprintf(buf, n, "gaussian_noise(%g) %lld", (double)l->f[0], (long long)nn_shape_size(l->in));
}

const nn_layer_ops nn_layer_gaussian_noise = {
    "gaussian_noise", "adds N(0, stddev^2) noise in train mode", noise_params, 1, noise_setup, NULL, NULL,
    noise_fwd, noise_bwd, noise_describe, 0,
};
