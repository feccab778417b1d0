/* net.c — the sequential network: layers, one parameter block, one gradient
 * block, activation buffers sized for the largest batch, and backpropagation
 * from the last layer to the first. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "layers/layers.h"

typedef struct layer {
    nn_layer_kind kind;
    int64_t in, out;
    nn_act act;
    float param;
    nn_init winit, binit;
    int64_t woff, boff; /* dense: offsets of W(out,in) and b(out) in the blocks */
} layer;

struct nn_net {
    layer *layers;
    int n, cap;
    float *params, *grads; /* one block each, nparams floats, layer order */
    int64_t nparams;
    nn_rng rng;
    /* Activations, sized for max_batch rows by nn_net_prepare. */
    int64_t max_batch;
    float *acts;    /* outputs of every layer, one allocation       */
    float **outs;   /* outs[i]: output of layer i (max_batch, out)   */
    float *gbuf[2]; /* ping-pong gradients (max_batch, widest)       */
    float *xcopy;   /* nn_net_forward's copy of x (max_batch, in)    */
    const float *x; /* input of the last forward                     */
    int64_t batch;  /* rows of the last forward; 0 before any        */
    nn_tensor yview, dxview;
};

static void free_buffers(nn_net *net)
{
    nn_xfree(net->acts);
    nn_xfree(net->outs);
    nn_xfree(net->gbuf[0]);
    nn_xfree(net->gbuf[1]);
    nn_xfree(net->xcopy);
    net->acts = NULL;
    net->outs = NULL;
    net->gbuf[0] = net->gbuf[1] = NULL;
    net->xcopy = NULL;
    net->max_batch = 0;
    net->batch = 0;
    net->x = NULL;
}

nn_status nn_net_create(uint64_t seed, nn_net **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "net: out is NULL");
    *out = NULL;
    nn_net *net = nn_xcalloc(1, sizeof *net);
    if (!net)
        return nn_oom("net");
    nn_rng_seed(&net->rng, seed);
    *out = net;
    return NN_OK;
}

void nn_net_free(nn_net *net)
{
    if (!net)
        return;
    free_buffers(net);
    nn_xfree(net->layers);
    nn_xfree(net->params);
    nn_xfree(net->grads);
    nn_xfree(net);
}

static const char *layer_name(const layer *l)
{
    return l->kind == NN_LAYER_DENSE ? "dense" : nn_act_name(l->act);
}

static nn_status grow_layers(nn_net *net)
{
    if (net->n < net->cap)
        return NN_OK;
    int cap = net->cap ? 2 * net->cap : 8;
    layer *ls = nn_xcalloc((size_t)cap, sizeof *ls);
    if (!ls)
        return nn_oom("net");
    if (net->n)
        memcpy(ls, net->layers, (size_t)net->n * sizeof *ls);
    nn_xfree(net->layers);
    net->layers = ls;
    net->cap = cap;
    return NN_OK;
}

static nn_status init_layer(const layer *l, float *params, nn_rng *rng)
{
    nn_status s = nn_init_fill(&l->winit, params + l->woff, l->in * l->out, l->in, l->out, rng);
    if (!s)
        s = nn_init_fill(&l->binit, params + l->boff, l->out, l->in, l->out, rng);
    return s;
}

nn_status nn_net_add_dense(nn_net *net, int64_t in, int64_t out, const nn_init *weight_init,
                           const nn_init *bias_init)
{
    if (!net)
        return nn_fail(NN_EINVAL, "net: network is NULL");
    const int idx = net->n + 1;
    if (in < 1 || out < 1)
        return nn_fail(NN_EINVAL, "layer %d (dense): sizes must be >= 1, got in=%lld out=%lld", idx,
                       (long long)in, (long long)out);
    if (net->n > 0 && in != net->layers[net->n - 1].out)
        return nn_fail(NN_ESHAPE, "layer %d (dense): input has %lld features, previous layer gives %lld",
                       idx, (long long)in, (long long)net->layers[net->n - 1].out);
    int64_t wn, total;
    if (!nn_mul_ok(in, out, &wn) || wn > INT64_MAX - out - net->nparams ||
        (total = net->nparams + wn + out) > (int64_t)(SIZE_MAX / sizeof(float)))
        return nn_fail(NN_ERANGE, "layer %d (dense): too many parameters", idx);

    layer l = {0};
    l.kind = NN_LAYER_DENSE;
    l.in = in;
    l.out = out;
    l.winit = weight_init ? *weight_init : (nn_init){NN_INIT_XAVIER_UNIFORM, 0, 0};
    l.binit = bias_init ? *bias_init : (nn_init){NN_INIT_ZEROS, 0, 0};
    l.woff = net->nparams;
    l.boff = net->nparams + wn;

    nn_status s = grow_layers(net);
    if (s)
        return s;
    float *params = nn_xalloc((size_t)total * sizeof(float));
    float *grads = nn_xcalloc((size_t)total, sizeof(float));
    if (!params || !grads) {
        nn_xfree(params);
        nn_xfree(grads);
        return nn_oom("net");
    }
    if (net->nparams) {
        memcpy(params, net->params, (size_t)net->nparams * sizeof(float));
        memcpy(grads, net->grads, (size_t)net->nparams * sizeof(float));
    }
    /* Draw from a copy of the generator: a bad initialiser leaves the
     * network exactly as it was. */
    nn_rng rng = net->rng;
    s = init_layer(&l, params, &rng);
    if (s) {
        nn_xfree(params);
        nn_xfree(grads);
        /* Copy first: nn_fail writes the buffer nn_last_error() points to. */
        char why[256];
        snprintf(why, sizeof why, "%s", nn_last_error());
        return nn_fail(s, "layer %d (dense): %s", idx, why);
    }
    nn_xfree(net->params);
    nn_xfree(net->grads);
    net->params = params;
    net->grads = grads;
    net->nparams = total;
    net->rng = rng;
    net->layers[net->n++] = l;
    free_buffers(net);
    return NN_OK;
}

nn_status nn_net_add_activation(nn_net *net, nn_act act, float param)
{
    if (!net)
        return nn_fail(NN_EINVAL, "net: network is NULL");
    const int idx = net->n + 1;
    if (!nn_act_name(act))
        return nn_fail(NN_EINVAL, "layer %d: unknown activation %d", idx, (int)act);
    if (!isfinite(param))
        return nn_fail(NN_EINVAL, "layer %d (%s): parameter must be finite", idx, nn_act_name(act));
    if (net->n == 0)
        return nn_fail(NN_ESTATE, "layer 1 (%s): a network must start with a dense layer",
                       nn_act_name(act));
    nn_status s = grow_layers(net);
    if (s)
        return s;
    layer l = {0};
    l.kind = NN_LAYER_ACTIVATION;
    l.in = l.out = net->layers[net->n - 1].out;
    l.act = act;
    l.param = act == NN_ACT_LEAKY_RELU ? param : 0.0f;
    net->layers[net->n++] = l;
    free_buffers(net);
    return NN_OK;
}

nn_status nn_net_reinit(nn_net *net, uint64_t seed)
{
    if (!net)
        return nn_fail(NN_EINVAL, "net: network is NULL");
    nn_rng_seed(&net->rng, seed);
    for (int i = 0; i < net->n; i++) {
        if (net->layers[i].kind != NN_LAYER_DENSE)
            continue;
        nn_status s = init_layer(&net->layers[i], net->params, &net->rng);
        if (s)
            return s;
    }
    nn_net_zero_grad(net);
    net->batch = 0;
    return NN_OK;
}

int nn_net_layers(const nn_net *net) { return net ? net->n : 0; }
int64_t nn_net_input_size(const nn_net *net) { return net && net->n ? net->layers[0].in : 0; }
int64_t nn_net_output_size(const nn_net *net)
{
    return net && net->n ? net->layers[net->n - 1].out : 0;
}
int64_t nn_net_param_count(const nn_net *net) { return net ? net->nparams : 0; }
float *nn_net_params(nn_net *net) { return net ? net->params : NULL; }
float *nn_net_grads(nn_net *net) { return net ? net->grads : NULL; }

nn_status nn_net_layer_info(const nn_net *net, int i, nn_layer_info *info)
{
    if (!net || !info)
        return nn_fail(NN_EINVAL, "net: NULL argument");
    if (i < 0 || i >= net->n)
        return nn_fail(NN_ERANGE, "net: layer index %d outside [0, %d)", i, net->n);
    const layer *l = &net->layers[i];
    memset(info, 0, sizeof *info);
    info->kind = l->kind;
    info->in = l->in;
    info->out = l->out;
    info->act = l->act;
    info->param = l->param;
    info->weight_init = l->winit;
    info->bias_init = l->binit;
    return NN_OK;
}

nn_status nn_net_param(nn_net *net, int i, nn_param_which which, nn_tensor **view)
{
    if (!view)
        return nn_fail(NN_EINVAL, "net: view is NULL");
    *view = NULL;
    if (!net)
        return nn_fail(NN_EINVAL, "net: network is NULL");
    if (i < 0 || i >= net->n)
        return nn_fail(NN_ERANGE, "net: layer index %d outside [0, %d)", i, net->n);
    const layer *l = &net->layers[i];
    if (which != NN_WEIGHTS && which != NN_BIAS && which != NN_WEIGHT_GRAD && which != NN_BIAS_GRAD)
        return nn_fail(NN_EINVAL, "net: unknown parameter kind %d", (int)which);
    if (l->kind != NN_LAYER_DENSE)
        return nn_fail(NN_EINVAL, "layer %d (%s) has no parameters", i + 1, layer_name(l));
    nn_tensor *t = nn_xcalloc(1, sizeof *t);
    if (!t)
        return nn_oom("net");
    const int weights = which == NN_WEIGHTS || which == NN_WEIGHT_GRAD;
    float *block = which == NN_WEIGHTS || which == NN_BIAS ? net->params : net->grads;
    if (weights) {
        nn_tensor_wrap(t, block + l->woff, l->out, l->in);
    } else {
        nn_tensor_wrap(t, block + l->boff, l->out, 1);
        t->ndim = 1;
    }
    *view = t;
    return NN_OK;
}

nn_status nn_net_prepare(nn_net *net, int64_t max_batch)
{
    if (!net)
        return nn_fail(NN_EINVAL, "net: network is NULL");
    if (net->n == 0)
        return nn_fail(NN_ESTATE, "net: the network has no layers");
    if (max_batch < 1)
        return nn_fail(NN_EINVAL, "net: batch size must be >= 1, got %lld", (long long)max_batch);
    if (max_batch <= net->max_batch)
        return NN_OK;
    int64_t width = net->layers[0].in, total = 0;
    for (int i = 0; i < net->n; i++) {
        if (net->layers[i].out > width)
            width = net->layers[i].out;
        total += net->layers[i].out;
    }
    int64_t acts_n, g_n, x_n;
    if (!nn_mul_ok(total, max_batch, &acts_n) || !nn_mul_ok(width, max_batch, &g_n) ||
        !nn_mul_ok(net->layers[0].in, max_batch, &x_n) ||
        acts_n > (int64_t)(SIZE_MAX / sizeof(float)) || g_n > (int64_t)(SIZE_MAX / sizeof(float)))
        return nn_fail(NN_ERANGE, "net: batch of %lld rows is too large", (long long)max_batch);
    free_buffers(net);
    net->acts = nn_xalloc((size_t)acts_n * sizeof(float));
    net->outs = nn_xcalloc((size_t)net->n, sizeof(float *));
    net->gbuf[0] = nn_xalloc((size_t)g_n * sizeof(float));
    net->gbuf[1] = nn_xalloc((size_t)g_n * sizeof(float));
    net->xcopy = nn_xalloc((size_t)x_n * sizeof(float));
    if (!net->acts || !net->outs || !net->gbuf[0] || !net->gbuf[1] || !net->xcopy) {
        free_buffers(net);
        return nn_oom("net");
    }
    float *p = net->acts;
    for (int i = 0; i < net->n; i++) {
        net->outs[i] = p;
        p += net->layers[i].out * max_batch;
    }
    net->max_batch = max_batch;
    return NN_OK;
}

nn_status nn_net_forward_raw(nn_net *net, const float *x, int64_t B, const float **y)
{
    nn_status s = nn_net_prepare(net, B);
    if (s)
        return s;
    const float *in = x;
    for (int i = 0; i < net->n; i++) {
        const layer *l = &net->layers[i];
        if (l->kind == NN_LAYER_DENSE)
            nn_dense_forward(in, net->params + l->woff, net->params + l->boff, net->outs[i], B,
                             l->in, l->out);
        else
            nn_act_forward(l->act, l->param, in, net->outs[i], B, l->out);
        in = net->outs[i];
    }
    net->x = x;
    net->batch = B;
    *y = in;
    return NN_OK;
}

nn_status nn_net_backward_raw(nn_net *net, const float *dy, int want_dx, int accumulate,
                              const float **dx)
{
    if (!net->batch)
        return nn_fail(NN_ESTATE, "backward: no forward pass to propagate through");
    const int64_t B = net->batch;
    const float *g = dy;
    int next = 0;
    for (int i = net->n - 1; i >= 0; i--) {
        const layer *l = &net->layers[i];
        const float *in = i ? net->outs[i - 1] : net->x;
        const int need_dx = i > 0 || want_dx;
        float *gx = need_dx ? net->gbuf[next] : NULL;
        if (l->kind == NN_LAYER_DENSE)
            nn_dense_backward_ex(in, net->params + l->woff, g, net->grads + l->woff,
                                 net->grads + l->boff, gx, B, l->in, l->out, accumulate);
        else
            nn_act_backward(l->act, l->param, in, net->outs[i], g, gx, B, l->out);
        g = gx;
        next ^= 1;
    }
    if (dx)
        *dx = g;
    return NN_OK;
}

nn_status nn_net_forward(nn_net *net, const nn_tensor *x, const nn_tensor **y)
{
    if (!net || !x || !y)
        return nn_fail(NN_EINVAL, "forward: NULL argument");
    *y = NULL;
    if (net->n == 0)
        return nn_fail(NN_ESTATE, "forward: the network has no layers");
    const int64_t B = nn_tensor_rows(x), in = nn_tensor_cols(x);
    if (in != net->layers[0].in)
        return nn_fail(NN_ESHAPE, "forward: input has %lld features, network expects %lld",
                       (long long)in, (long long)net->layers[0].in);
    nn_status s = nn_net_prepare(net, B);
    if (s)
        return s;
    memcpy(net->xcopy, nn_tensor_cdata(x), (size_t)(B * in) * sizeof(float));
    const float *out;
    s = nn_net_forward_raw(net, net->xcopy, B, &out);
    if (s)
        return s;
    nn_tensor_wrap(&net->yview, (float *)out, B, nn_net_output_size(net));
    *y = &net->yview;
    return NN_OK;
}

nn_status nn_net_backward(nn_net *net, const nn_tensor *dy, const nn_tensor **dx)
{
    if (!net || !dy)
        return nn_fail(NN_EINVAL, "backward: NULL argument");
    if (dx)
        *dx = NULL;
    if (!net->batch)
        return nn_fail(NN_ESTATE, "backward: no forward pass to propagate through");
    const int64_t out = nn_net_output_size(net);
    if (nn_tensor_rows(dy) != net->batch || nn_tensor_cols(dy) != out)
        return nn_fail(NN_ESHAPE, "backward: gradient is (%lld, %lld), output was (%lld, %lld)",
                       (long long)nn_tensor_rows(dy), (long long)nn_tensor_cols(dy),
                       (long long)net->batch, (long long)out);
    const float *g;
    nn_status s = nn_net_backward_raw(net, nn_tensor_cdata(dy), dx != NULL, 1, &g);
    if (s)
        return s;
    if (dx) {
        nn_tensor_wrap(&net->dxview, (float *)g, net->batch, net->layers[0].in);
        *dx = &net->dxview;
    }
    return NN_OK;
}

void nn_net_zero_grad(nn_net *net)
{
    if (net && net->nparams)
        memset(net->grads, 0, (size_t)net->nparams * sizeof(float));
}
