/* flatten.c — {C, H, W} -> {C H W, 1, 1}: the same floats in the same
 * order (a sample's row does not change), so forward and backward copy;
 * after another layer, net.c runs it as a view of that layer's output
 * instead (neither is called; see net.c).
 * (dense flattens implicitly; this layer says so in a model.) */
#include <stdio.h>
#include <string.h>

#include "../internal.h"
#include "layers.h"

/* No settings (a non-NULL spec list all the same, as the registry promises). */
static const nn_param_spec no_params[] = {{NULL, NN_PARAM_INT, 0, 0, 0, 0, 0, NULL, 0, NULL, NULL}};

static nn_status flatten_setup(nn_layer *l)
{
    if (nn_shape_size(l->in) == 0)
        return nn_fail(NN_ESTATE, "a first flatten layer needs the network's input shape (nn_net_set_input)");
    l->out = (nn_shape){nn_shape_size(l->in), 1, 1};
    return NN_OK;
}

static void flatten_fwd(const nn_layer *l, const nn_layer_io *io)
{
    memcpy(io->y, io->x, (size_t)(io->B * nn_shape_size(l->in)) * sizeof(float));
}

static void flatten_bwd(const nn_layer *l, const nn_layer_io *io)
{
    if (io->dx)
        memcpy(io->dx, io->dy, (size_t)(io->B * nn_shape_size(l->in)) * sizeof(float));
}

static void flatten_describe(const nn_layer *l, char *buf, size_t n)
{
    snprintf(buf, n, "flatten %lldx%lldx%lld->%lld", (long long)l->in.c, (long long)l->in.h, (long long)l->in.w,
             (long long)l->out.c);
}

const nn_layer_ops nn_layer_flatten = {
    "flatten", "{C,H,W} -> {C*H*W}: the same values as one feature vector", no_params, 0, flatten_setup, NULL, NULL,
    flatten_fwd, flatten_bwd, flatten_describe, NN_KIND_VIEW,
};
