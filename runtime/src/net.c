/* net.c — the sequential network: generic loops over layers of any kind of
 * the registry (layers/), one parameter block, one gradient block, one
 * block of non-trainable state, activation and workspace buffers sized for
 * the largest batch, and backpropagation from the last layer to the first.
 *
 * Fusion.  conv2d computes its batch in chunks of samples, each on one
 * thread.  The per-sample layers right after it (activations, pooling)
 * give the same bits whether run on the whole batch or chunk by chunk, so
 * nn_net_prepare plans them into the conv's run (net->plan): forward runs
 * them on each chunk as soon as the conv's rows of it are final, backward
 * on each chunk's rows of the gradients just before the conv reads them,
 * while those rows are still in that core's cache, instead of as passes
 * over the whole batch after the conv (a relu then a maxpool in one pass
 * backward: nn_maxpool_relu_backward).  flatten after a layer is a view:
 * its output is its input's buffer.  Every layer's output buffer holds the
 * same bytes as without fusion.  NNRUN_FUSE=off in the environment (read
 * when a network is created) or nn_net_set_fusion turns both off. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "layers/layers.h"

struct nn_net {
    nn_layer *layers;
    int n, cap;
    nn_shape input; /* nn_net_set_input's shape; {0,0,0}: the first layer's */
    float *params, *grads; /* one block each, nparams floats, layer order */
    int64_t nparams;
    float *state; /* non-trainable state, nstate floats, layer order      */
    int64_t nstate;
    nn_rng rng;      /* initial weights                                    */
    nn_rng mask_rng; /* dropout masks                                      */
    nn_mode mode, fwd_mode; /* current; that of the last forward           */
    /* Activations and workspaces, sized for max_batch rows by nn_net_prepare. */
    int64_t max_batch;
    float *acts;    /* outputs of every layer, one allocation       */
    float **outs;   /* outs[i]: output of layer i (max_batch, out)   */
    float **gbuf;   /* ngbuf gradient buffers (max_batch, widest): two
                       ping-pong, more for the fused runs (see backward) */
    int ngbuf;
    int *plan;      /* per layer: NN_PLAN_* (internal.h)              */
    const float **fdy; /* per fused layer: its dy and dx in the backward */
    float **fdx;       /* in progress (row 0 of whole-batch buffers)     */
    int fuse_off;      /* no fusion, no views: every layer on its own    */
    float *xcopy;   /* nn_net_forward's copy of x (max_batch, in)    */
    float *ws;      /* every layer's workspace, one allocation       */
    const float *x; /* input of the last forward                     */
    int64_t batch;  /* rows of the last forward; 0 before any        */
    nn_tensor yview, dxview;
    /* Normalisation of the inputs nn_predict applies (a checkpoint's). */
    nn_norm_kind norm;
    float *shift, *div; /* input-size floats each, or NULL */
};

/* The mask stream is a generator of its own, so that adding dropout to a
 * network does not change its initial weights. */
#define MASK_SEED_SALT 0x6d61736b73747265ull

static void free_buffers(nn_net *net)
{
    nn_xfree(net->acts);
    nn_xfree(net->outs);
    for (int b = 0; net->gbuf && b < net->ngbuf; b++)
        nn_xfree(net->gbuf[b]);
    nn_xfree(net->gbuf);
    nn_xfree(net->plan);
    nn_xfree(net->fdy);
    nn_xfree(net->fdx);
    nn_xfree(net->xcopy);
    nn_xfree(net->ws);
    net->acts = NULL;
    net->outs = NULL;
    net->gbuf = NULL;
    net->ngbuf = 0;
    net->plan = NULL;
    net->fdy = NULL;
    net->fdx = NULL;
    net->xcopy = NULL;
    net->ws = NULL;
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
    nn_rng_seed(&net->mask_rng, seed ^ MASK_SEED_SALT);
    net->mode = net->fwd_mode = NN_MODE_TRAIN;
    const char *fuse = getenv("NNRUN_FUSE");
    net->fuse_off = fuse && strcmp(fuse, "off") == 0;
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
    nn_xfree(net->state);
    nn_xfree(net->shift);
    nn_xfree(net->div);
    nn_xfree(net);
}

/* "relu" for an activation, the kind's name otherwise. */
static const char *layer_name(const nn_layer *l)
{
    return l->ops == &nn_layer_activation ? nn_act_name((nn_act)l->i[0]) : l->ops->name;
}

static nn_status grow_layers(nn_net *net)
{
    if (net->n < net->cap)
        return NN_OK;
    int cap = net->cap ? 2 * net->cap : 8;
    nn_layer *ls = nn_xcalloc((size_t)cap, sizeof *ls);
    if (!ls)
        return nn_oom("net");
    if (net->n)
        memcpy(ls, net->layers, (size_t)net->n * sizeof *ls);
    nn_xfree(net->layers);
    net->layers = ls;
    net->cap = cap;
    return NN_OK;
}

/* A copy of old (n floats) grown to total floats; NULL on failure. */
static float *grown(const float *old, int64_t n, int64_t total, int zero)
{
    float *p = zero ? nn_xcalloc((size_t)total, sizeof(float)) : nn_xalloc((size_t)total * sizeof(float));
    if (p && n)
        memcpy(p, old, (size_t)n * sizeof(float));
    return p;
}

/* Frees the blocks nn_net_add grew, leaving the network's own. */
static void drop_new(nn_net *net, float *params, float *grads, float *state)
{
    if (params != net->params)
        nn_xfree(params);
    if (grads != net->grads)
        nn_xfree(grads);
    if (state != net->state)
        nn_xfree(state);
}

nn_status nn_net_add(nn_net *net, const nn_layer_spec *spec)
{
    if (!net)
        return nn_fail(NN_EINVAL, "net: network is NULL");
    const int idx = net->n + 1;
    nn_layer l;
    nn_status s = nn_layer_make(spec, net->n ? net->layers[net->n - 1].out : net->input, &l);
    if (s) {
        /* Copy first: nn_fail writes the buffer nn_last_error() points to. */
        char why[256];
        snprintf(why, sizeof why, "%s", nn_last_error());
        if (!l.ops)
            return nn_fail(s, "layer %d: %s", idx, why);
        return nn_fail(s, "layer %d (%s): %s", idx, l.ops->name, why);
    }
    const int64_t P = net->nparams + l.np, S = net->nstate + l.ns;
    if (l.np > (int64_t)(SIZE_MAX / sizeof(float)) - net->nparams ||
        l.ns > (int64_t)(SIZE_MAX / sizeof(float)) - net->nstate)
        return nn_fail(NN_ERANGE, "layer %d (%s): too many parameters", idx, l.ops->name);
    l.poff = net->nparams;
    l.soff = net->nstate;
    if ((s = grow_layers(net)))
        return s;
    float *params = net->params, *grads = net->grads, *state = net->state;
    if (l.np) {
        params = grown(net->params, net->nparams, P, 0);
        grads = grown(net->grads, net->nparams, P, 1);
    }
    if (l.ns)
        state = grown(net->state, net->nstate, S, 0);
    if ((l.np && (!params || !grads)) || (l.ns && !state)) {
        drop_new(net, params, grads, state);
        return nn_oom("net");
    }
    /* Draw from a copy of the generator: a bad initialiser leaves the
     * network exactly as it was. */
    nn_rng rng = net->rng;
    if (l.ops->init && (s = l.ops->init(&l, params + l.poff, state ? state + l.soff : NULL, &rng))) {
        drop_new(net, params, grads, state);
        char why[256];
        snprintf(why, sizeof why, "%s", nn_last_error());
        return nn_fail(s, "layer %d (%s): %s", idx, l.ops->name, why);
    }
    if (params != net->params) {
        nn_xfree(net->params);
        nn_xfree(net->grads);
    }
    if (state != net->state)
        nn_xfree(net->state);
    net->params = params;
    net->grads = grads;
    net->state = state;
    net->nparams = P;
    net->nstate = S;
    net->rng = rng;
    net->layers[net->n++] = l;
    free_buffers(net);
    return NN_OK;
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
    const char *keys[] = {"units", "in", "init", "bias_init"};
    nn_value v[4];
    memset(v, 0, sizeof v);
    v[0].num = (double)out;
    v[1].num = (double)in;
    v[2].init = weight_init ? *weight_init : (nn_init){NN_INIT_XAVIER_UNIFORM, 0, 0};
    v[3].init = bias_init ? *bias_init : (nn_init){NN_INIT_ZEROS, 0, 0};
    const nn_layer_spec spec = {"dense", 4, keys, v};
    return nn_net_add(net, &spec);
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
    if (net->n == 0 && net->input.c == 0)
        return nn_fail(NN_ESTATE, "layer 1 (%s): a first activation layer needs the network's input shape (nn_net_set_input)",
                       nn_act_name(act));
    const char *keys[] = {"name", act == NN_ACT_ELU ? "alpha" : "slope"};
    nn_value v[2];
    memset(v, 0, sizeof v);
    v[0].str = nn_act_name(act);
    v[1].num = param;
    const nn_layer_spec spec = {"activation", act == NN_ACT_LEAKY_RELU || act == NN_ACT_ELU ? 2 : 1, keys, v};
    return nn_net_add(net, &spec);
}

nn_status nn_net_reinit(nn_net *net, uint64_t seed)
{
    if (!net)
        return nn_fail(NN_EINVAL, "net: network is NULL");
    nn_rng_seed(&net->rng, seed);
    nn_rng_seed(&net->mask_rng, seed ^ MASK_SEED_SALT);
    for (int i = 0; i < net->n; i++) {
        const nn_layer *l = &net->layers[i];
        if (!l->ops->init)
            continue;
        nn_status s = l->ops->init(l, net->params + l->poff, net->state ? net->state + l->soff : NULL, &net->rng);
        if (s)
            return s;
    }
    nn_net_zero_grad(net);
    net->batch = 0;
    return NN_OK;
}

nn_status nn_net_set_input(nn_net *net, int64_t c, int64_t h, int64_t w)
{
    if (!net)
        return nn_fail(NN_EINVAL, "net: network is NULL");
    if (net->n)
        return nn_fail(NN_EINVAL, "net: the input shape is set before the first layer (the network has %d)", net->n);
    int64_t hw, chw;
    if (c < 1 || h < 1 || w < 1)
        return nn_fail(NN_EINVAL, "net: input shape %lldx%lldx%lld: every dimension must be >= 1", (long long)c,
                       (long long)h, (long long)w);
    if (!nn_mul_ok(h, w, &hw) || !nn_mul_ok(c, hw, &chw) || chw >= ((int64_t)1 << 31))
        return nn_fail(NN_EINVAL, "net: input shape %lldx%lldx%lld is too large", (long long)c, (long long)h,
                       (long long)w);
    net->input = (nn_shape){c, h, w};
    return NN_OK;
}

void nn_net_input_shape(const nn_net *net, int64_t shape[3])
{
    const nn_shape s = !net ? (nn_shape){0, 0, 0} : net->input.c ? net->input
                                            : net->n                ? net->layers[0].in
                                                                    : (nn_shape){0, 0, 0};
    shape[0] = s.c;
    shape[1] = s.h;
    shape[2] = s.w;
}

nn_status nn_net_layer_shape(const nn_net *net, int i, int64_t out[3])
{
    if (!net || !out)
        return nn_fail(NN_EINVAL, "net: NULL argument");
    if (i < 0 || i >= net->n)
        return nn_fail(NN_ERANGE, "net: layer index %d outside [0, %d)", i, net->n);
    const nn_shape s = net->layers[i].out;
    out[0] = s.c;
    out[1] = s.h;
    out[2] = s.w;
    return NN_OK;
}

int nn_net_layers(const nn_net *net) { return net ? net->n : 0; }
int64_t nn_net_input_size(const nn_net *net) { return net && net->n ? nn_shape_size(net->layers[0].in) : 0; }
int64_t nn_net_output_size(const nn_net *net)
{
    return net && net->n ? nn_shape_size(net->layers[net->n - 1].out) : 0;
}
int64_t nn_net_param_count(const nn_net *net) { return net ? net->nparams : 0; }
float *nn_net_params(nn_net *net) { return net ? net->params : NULL; }
float *nn_net_grads(nn_net *net) { return net ? net->grads : NULL; }
float *nn_net_swap_grads(nn_net *net, float *g)
{
    float *old = net->grads;
    net->grads = g;
    return old;
}
int64_t nn_net_state_count(const nn_net *net) { return net ? net->nstate : 0; }
float *nn_net_state(nn_net *net) { return net ? net->state : NULL; }
nn_rng *nn_net_mask_rng(nn_net *net) { return net ? &net->mask_rng : NULL; }
nn_mode nn_net_mode(const nn_net *net) { return net ? net->mode : NN_MODE_TRAIN; }

nn_status nn_net_set_mode(nn_net *net, nn_mode mode)
{
    if (!net)
        return nn_fail(NN_EINVAL, "net: network is NULL");
    if (mode != NN_MODE_TRAIN && mode != NN_MODE_EVAL)
        return nn_fail(NN_EINVAL, "net: unknown mode %d", (int)mode);
    net->mode = mode;
    return NN_OK;
}

/* NN_EINVAL for a NULL argument, NN_ERANGE for a bad layer index. */
static nn_status check_layer(const nn_net *net, int i, const void *out)
{
    if (!net || !out)
        return nn_fail(NN_EINVAL, "net: NULL argument");
    if (i < 0 || i >= net->n)
        return nn_fail(NN_ERANGE, "net: layer index %d outside [0, %d)", i, net->n);
    return NN_OK;
}

nn_status nn_net_layer_info(const nn_net *net, int i, nn_layer_info *info)
{
    nn_status s = check_layer(net, i, info);
    if (s)
        return s;
    const nn_layer *l = &net->layers[i];
    memset(info, 0, sizeof *info);
    info->kind = l->ops == &nn_layer_dense ? NN_LAYER_DENSE
                 : l->ops == &nn_layer_activation ? NN_LAYER_ACTIVATION : NN_LAYER_OTHER;
    info->in = nn_shape_size(l->in);
    info->out = nn_shape_size(l->out);
    if (info->kind == NN_LAYER_ACTIVATION) {
        info->act = (nn_act)l->i[0];
        info->param = l->f[0];
    }
    if (info->kind == NN_LAYER_DENSE) {
        info->weight_init = l->v[2].init;
        info->bias_init = l->v[3].init;
    }
    info->name = l->ops->name;
    info->params = l->np;
    info->state = l->ns;
    return NN_OK;
}

nn_status nn_net_layer_spec(const nn_net *net, int i, nn_layer_spec *spec)
{
    nn_status s = check_layer(net, i, spec);
    if (s)
        return s;
    nn_layer_spec_of(&net->layers[i], spec);
    return NN_OK;
}

/* For the checkpoint and error messages: "dense 4->8". */
void nn_net_describe_layer(const nn_net *net, int i, char *buf, size_t n)
{
    const nn_layer *l = &net->layers[i];
    l->ops->describe(l, buf, n);
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
    const nn_layer *l = &net->layers[i];
    if (which != NN_WEIGHTS && which != NN_BIAS && which != NN_WEIGHT_GRAD && which != NN_BIAS_GRAD)
        return nn_fail(NN_EINVAL, "net: unknown parameter kind %d", (int)which);
    if (l->np == 0)
        return nn_fail(NN_EINVAL, "layer %d (%s) has no parameters", i + 1, layer_name(l));
    nn_tensor *t = nn_xcalloc(1, sizeof *t);
    if (!t)
        return nn_oom("net");
    const int weights = which == NN_WEIGHTS || which == NN_WEIGHT_GRAD;
    float *block = (which == NN_WEIGHTS || which == NN_BIAS ? net->params : net->grads) + l->poff;
    if (weights) {
        nn_tensor_wrap(t, block, l->wrows, l->wcols);
    } else {
        nn_tensor_wrap(t, block + l->nw, l->np - l->nw, 1);
        t->ndim = 1;
    }
    *view = t;
    return NN_OK;
}

/* Gradient buffers a fused run may take beyond the two of the ping-pong
 * (one per pooling layer in it): a longer run ends there. */
#define FUSE_FRESH_MAX 8

/* The per-sample layers (layers.h, NN_KIND_*): the same bits on any
 * split of the batch. */
static int fusable(const nn_layer *l) { return (l->ops->flags & NN_KIND_PER_SAMPLE) != 0; }

/* A fused layer's backward writes its dx over its dy (an element-wise
 * activation may: nn_act_backward) or into a buffer of its own. */
static int in_place(const nn_layer *l) { return (l->ops->flags & NN_KIND_DX_IN_PLACE) != 0; }
static int is_view(const nn_layer *l) { return (l->ops->flags & NN_KIND_VIEW) != 0; }

/* Fills net->plan; returns how many gradient buffers backward needs: two,
 * and for a run, one per layer of it that cannot write over its dy (the
 * top one too when it is an activation: its dy may be the caller's), so
 * that the run's dy, each chunk's rows of every buffer of the run and the
 * conv's dx are all in different buffers (chunks of the run on other
 * threads use the rows of theirs at other strides). */
static int plan_layers(nn_net *net)
{
    int ngbuf = 2;
    for (int i = 0; i < net->n; i++)
        net->plan[i] = NN_PLAN_SELF;
    for (int i = 0; !net->fuse_off && i < net->n; i++) {
        const nn_layer *l = &net->layers[i];
        if (is_view(l) && i > 0)
            net->plan[i] = NN_PLAN_VIEW;
        if (!(l->ops->flags & NN_KIND_CHUNKED))
            continue;
        int end = i + 1, fresh = 0, top = -1;
        for (; end < net->n; end++) {
            const nn_layer *f = &net->layers[end];
            if (is_view(f)) {
                net->plan[end] = NN_PLAN_VIEW;
                continue;
            }
            if (!fusable(f) || fresh + !in_place(f) > FUSE_FRESH_MAX)
                break;
            net->plan[end] = NN_PLAN_FUSED;
            fresh += !in_place(f);
            top = end;
        }
        if (top < 0)
            continue;
        fresh += in_place(&net->layers[top]);
        net->plan[i] = top + 1;
        ngbuf = 2 + fresh > ngbuf ? 2 + fresh : ngbuf;
        i = end - 1;
    }
    return ngbuf;
}

void nn_net_set_fusion(nn_net *net, int on)
{
    net->fuse_off = !on;
    free_buffers(net);
}

int nn_net_plan(const nn_net *net, int i) { return net->plan ? net->plan[i] : NN_PLAN_SELF; }

int64_t nn_net_workspace_size(const nn_net *net, int64_t max_batch)
{
    int64_t n = 0;
    for (int i = 0; net && max_batch >= 1 && i < net->n; i++) {
        const nn_layer *l = &net->layers[i];
        n += l->ops->workspace ? l->ops->workspace(l, max_batch) : 0;
    }
    return n;
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
    const int64_t in = nn_net_input_size(net);
    int64_t width = in, total = 0, wsn = 0;
    for (int i = 0; i < net->n; i++) {
        const int64_t o = nn_shape_size(net->layers[i].out);
        if (o > width)
            width = o;
        total += o;
    }
    int64_t acts_n, g_n, x_n;
    const int64_t lim = (int64_t)(SIZE_MAX / sizeof(float));
    /* (acts_n bounds the floats of the outputs, which the views lessen.) */
    int ok = nn_mul_ok(total, max_batch, &acts_n) && nn_mul_ok(width, max_batch, &g_n) &&
             nn_mul_ok(in, max_batch, &x_n) && acts_n <= lim && g_n <= lim;
    /* Workspaces grow linearly in B: their size at B is bounded once the
     * activations at B are. */
    for (int i = 0; ok && i < net->n; i++) {
        const nn_layer *l = &net->layers[i];
        const int64_t w = l->ops->workspace ? l->ops->workspace(l, max_batch) : 0;
        ok = w >= 0 && w <= lim - wsn;
        wsn += w;
    }
    if (!ok)
        return nn_fail(NN_ERANGE, "net: batch of %lld rows is too large", (long long)max_batch);
    free_buffers(net);
    net->plan = nn_xalloc((size_t)net->n * sizeof(int));
    net->fdy = nn_xcalloc((size_t)net->n, sizeof(const float *));
    net->fdx = nn_xcalloc((size_t)net->n, sizeof(float *));
    if (!net->plan || !net->fdy || !net->fdx) {
        free_buffers(net);
        return nn_oom("net");
    }
    const int ngbuf = plan_layers(net);
    total = 0; /* the views take no floats of their own */
    for (int i = 0; i < net->n; i++)
        total += net->plan[i] == NN_PLAN_VIEW ? 0 : nn_shape_size(net->layers[i].out);
    net->acts = nn_xalloc((size_t)(total * max_batch) * sizeof(float));
    net->outs = nn_xcalloc((size_t)net->n, sizeof(float *));
    net->gbuf = nn_xcalloc((size_t)ngbuf, sizeof(float *));
    int gok = net->gbuf != NULL;
    if (gok) {
        net->ngbuf = ngbuf;
        for (int b = 0; b < ngbuf; b++)
            gok = gok && (net->gbuf[b] = nn_xalloc((size_t)g_n * sizeof(float))) != NULL;
    }
    net->xcopy = nn_xalloc((size_t)x_n * sizeof(float));
    net->ws = wsn ? nn_xalloc((size_t)wsn * sizeof(float)) : NULL;
    if (!net->acts || !net->outs || !gok || !net->xcopy || (wsn && !net->ws)) {
        free_buffers(net);
        return nn_oom("net");
    }
    float *p = net->acts;
    int64_t woff = 0;
    for (int i = 0; i < net->n; i++) {
        nn_layer *l = &net->layers[i];
        if (net->plan[i] == NN_PLAN_VIEW) {
            net->outs[i] = net->outs[i - 1];
        } else {
            net->outs[i] = p;
            p += nn_shape_size(l->out) * max_batch;
        }
        l->woff = woff;
        woff += l->ops->workspace ? l->ops->workspace(l, max_batch) : 0;
    }
    net->max_batch = max_batch;
    return NN_OK;
}

static nn_layer_io layer_io(nn_net *net, const nn_layer *l, int64_t B, nn_mode mode)
{
    nn_layer_io io;
    memset(&io, 0, sizeof io); /* NULL hooks: not in a fused run */
    io.p = net->params ? net->params + l->poff : NULL;
    io.g = net->grads ? net->grads + l->poff : NULL;
    io.state = net->state ? net->state + l->soff : NULL;
    io.ws = net->ws ? net->ws + l->woff : NULL;
    io.B = B;
    io.mode = mode;
    io.rng = &net->mask_rng;
    return io;
}

/* The fused layers [first, end) of a conv2d's run, on its chunks. */
typedef struct fuse_job {
    nn_net *net;
    int first, end;
    nn_mode mode;
} fuse_job;

/* Layer k's io on rows [b0, b0 + n) of its buffers. */
static nn_layer_io fused_io(const fuse_job *f, int k, int64_t b0, int64_t n)
{
    const nn_layer *l = &f->net->layers[k];
    const int64_t in = nn_shape_size(l->in), out = nn_shape_size(l->out);
    nn_layer_io io = layer_io(f->net, l, n, f->mode);
    io.x = f->net->outs[k - 1] + b0 * in;
    io.y = f->net->outs[k] + b0 * out;
    if (f->net->fdx[k]) {
        io.dy = f->net->fdy[k] + b0 * out;
        io.dx = f->net->fdx[k] + b0 * in;
    }
    return io;
}

static void fuse_fwd(void *ctx, int64_t b0, int64_t n)
{
    const fuse_job *f = ctx;
    for (int k = f->first; k < f->end; k++) {
        if (f->net->plan[k] != NN_PLAN_FUSED)
            continue;
        const nn_layer *l = &f->net->layers[k];
        const nn_layer_io io = fused_io(f, k, b0, n);
        l->ops->forward(l, &io);
    }
}

/* A maxpool right after a relu, both in the run: one pass backward. */
static int relu_pool(const fuse_job *f, int k)
{
    const nn_layer *l = &f->net->layers[k];
    return l->ops == &nn_layer_maxpool && k - 1 >= f->first && f->net->plan[k - 1] == NN_PLAN_FUSED &&
           l[-1].ops == &nn_layer_activation && (nn_act)l[-1].i[0] == NN_ACT_RELU;
}

static void fuse_bwd(void *ctx, int64_t b0, int64_t n)
{
    const fuse_job *f = ctx;
    for (int k = f->end - 1; k >= f->first; k--) {
        if (f->net->plan[k] != NN_PLAN_FUSED)
            continue;
        const nn_layer *l = &f->net->layers[k];
        nn_layer_io io = fused_io(f, k, b0, n);
        if (relu_pool(f, k)) { /* into the relu's dx, which is in place */
            io.dx = f->net->fdx[k - 1] + b0 * nn_shape_size(l->in);
            nn_maxpool_relu_backward(l, &io);
            k--;
            continue;
        }
        l->ops->backward(l, &io);
    }
}

/* The first gradient buffer not in busy (plan_layers made enough). */
static int free_gbuf(const nn_net *net, unsigned busy)
{
    int b = 0;
    while (busy >> b & 1u)
        b++;
    assert(b < net->ngbuf);
    (void)net;
    return b;
}

nn_status nn_net_forward_in(nn_net *net, const float *x, int64_t B, nn_mode mode, const float **y)
{
    nn_status s = nn_net_prepare(net, B);
    if (s)
        return s;
    for (int i = 0; i < net->n; i++) {
        const nn_layer *l = &net->layers[i];
        const int plan = net->plan[i];
        if (plan < 0) /* a view, or run by the conv before it */
            continue;
        nn_layer_io io = layer_io(net, l, B, mode);
        io.x = i ? net->outs[i - 1] : x;
        io.y = net->outs[i];
        fuse_job f = {net, i + 1, plan, mode};
        if (plan > 0) {
            for (int k = i + 1; k < plan; k++)
                net->fdx[k] = NULL;
            io.chunk_fwd = fuse_fwd;
            io.chunk_ctx = &f;
        }
        l->ops->forward(l, &io);
    }
    net->x = x;
    net->batch = B;
    net->fwd_mode = mode;
    *y = net->outs[net->n - 1];
    return NN_OK;
}

nn_status nn_net_forward_raw(nn_net *net, const float *x, int64_t B, const float **y)
{
    return nn_net_forward_in(net, x, B, net->mode, y);
}

nn_status nn_net_backward_raw(nn_net *net, const float *dy, int want_dx, int accumulate,
                              const float **dx)
{
    if (!net->batch)
        return nn_fail(NN_ESTATE, "backward: no forward pass to propagate through");
    const int64_t B = net->batch;
    const float *g = dy;
    int gi = -1; /* the buffer holding g; -1: the caller's dy */
    for (int i = net->n - 1; i >= 0; i--) {
        const nn_layer *l = &net->layers[i];
        const int plan = net->plan[i];
        if (plan < 0) /* a view (g passes through), or in the conv's run */
            continue;
        const int need_dx = i > 0 || want_dx;
        nn_layer_io io = layer_io(net, l, B, net->fwd_mode);
        io.x = i ? net->outs[i - 1] : net->x;
        io.y = net->outs[i];
        io.dy = g;
        io.accumulate = accumulate;
        unsigned busy = gi >= 0 ? 1u << gi : 0u;
        fuse_job f = {net, i + 1, plan, net->fwd_mode};
        if (plan > 0) { /* the run's buffers, top down (see plan_layers) */
            int ci = gi;
            for (int k = plan - 1; k > i; k--) {
                if (net->plan[k] != NN_PLAN_FUSED)
                    continue;
                net->fdy[k] = ci >= 0 ? net->gbuf[ci] : dy;
                if (ci < 0 || !in_place(&net->layers[k])) {
                    ci = free_gbuf(net, busy);
                    busy |= 1u << ci;
                }
                net->fdx[k] = net->gbuf[ci];
            }
            io.dy = net->gbuf[ci];
            io.chunk_bwd = fuse_bwd;
            io.chunk_ctx = &f;
        }
        const int di = need_dx ? free_gbuf(net, busy) : -1;
        io.dx = di >= 0 ? net->gbuf[di] : NULL;
        l->ops->backward(l, &io);
        g = io.dx;
        gi = di;
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
    if (in != nn_net_input_size(net))
        return nn_fail(NN_ESHAPE, "forward: input has %lld features, network expects %lld",
                       (long long)in, (long long)nn_net_input_size(net));
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
        nn_tensor_wrap(&net->dxview, (float *)g, net->batch, nn_net_input_size(net));
        *dx = &net->dxview;
    }
    return NN_OK;
}

void nn_net_zero_grad(nn_net *net)
{
    if (net && net->nparams)
        memset(net->grads, 0, (size_t)net->nparams * sizeof(float));
}

nn_status nn_net_set_norm(nn_net *net, const nn_norm *norm)
{
    if (!net)
        return nn_fail(NN_EINVAL, "net: network is NULL");
    if (!norm || norm->kind == NN_NORM_NONE) {
        nn_xfree(net->shift);
        nn_xfree(net->div);
        net->shift = net->div = NULL;
        net->norm = NN_NORM_NONE;
        return NN_OK;
    }
    if (!nn_norm_name(norm->kind))
        return nn_fail(NN_EINVAL, "net: unknown normalisation kind %d", (int)norm->kind);
    const int64_t F = nn_net_input_size(net);
    if (net->n == 0)
        return nn_fail(NN_ESTATE, "net: the network has no layers");
    if (norm->features != F)
        return nn_fail(NN_ESHAPE, "net: normalisation for %lld features, the network takes %lld",
                       (long long)norm->features, (long long)F);
    if (!norm->shift || !norm->div)
        return nn_fail(NN_EINVAL, "net: normalisation statistics are NULL");
    for (int64_t f = 0; f < F; f++)
        if (!isfinite(norm->shift[f]) || !isfinite(norm->div[f]) || !(norm->div[f] > 0))
            return nn_fail(NN_EINVAL, "net: feature %lld: shift %g, div %g (must be finite, div > 0)",
                           (long long)f, (double)norm->shift[f], (double)norm->div[f]);
    float *sh = nn_xalloc((size_t)F * sizeof(float)), *dv = nn_xalloc((size_t)F * sizeof(float));
    if (!sh || !dv) {
        nn_xfree(sh);
        nn_xfree(dv);
        return nn_oom("net");
    }
    memcpy(sh, norm->shift, (size_t)F * sizeof(float));
    memcpy(dv, norm->div, (size_t)F * sizeof(float));
    nn_xfree(net->shift);
    nn_xfree(net->div);
    net->shift = sh;
    net->div = dv;
    net->norm = norm->kind;
    return NN_OK;
}

nn_norm nn_net_norm(const nn_net *net)
{
    nn_norm n = {NN_NORM_NONE, net ? nn_net_input_size(net) : 0, NULL, NULL};
    if (net && net->norm != NN_NORM_NONE) {
        n.kind = net->norm;
        n.shift = net->shift;
        n.div = net->div;
    }
    return n;
}

#define PREDICT_BATCH 256

nn_status nn_predict(nn_net *net, const nn_tensor *x, nn_tensor *y)
{
    if (!net || !x || !y)
        return nn_fail(NN_EINVAL, "predict: NULL argument");
    if (net->n == 0)
        return nn_fail(NN_ESTATE, "predict: the network has no layers");
    const int64_t in = nn_net_input_size(net), out = nn_net_output_size(net);
    if (x->ndim != 2 || x->shape[1] != in)
        return nn_fail(NN_ESHAPE, "predict: x must be (N, %lld), got %lld columns", (long long)in,
                       (long long)(x->ndim == 2 ? x->shape[1] : nn_tensor_cols(x)));
    const int64_t N = x->shape[0];
    if (y->ndim != 2 || y->shape[0] != N || y->shape[1] != out)
        return nn_fail(NN_ESHAPE, "predict: y must be (%lld, %lld)", (long long)N, (long long)out);
    if (N == 0)
        return NN_OK;
    const int64_t bs = N < PREDICT_BATCH ? N : PREDICT_BATCH;
    /* Two ping-pong activation buffers of the widest layer output and the
     * largest workspace of any layer: forward only, nothing kept for a
     * backward pass, and the network's own buffers are not touched. */
    int64_t width = in, wsn = 0;
    for (int i = 0; i < net->n; i++) {
        const nn_layer *l = &net->layers[i];
        const int64_t o = nn_shape_size(l->out), w = l->ops->workspace ? l->ops->workspace(l, bs) : 0;
        width = o > width ? o : width;
        wsn = w > wsn ? w : wsn;
    }
    const size_t act = (size_t)(width * bs);
    float *a = nn_xalloc(2 * act * sizeof(float));
    float *xb = net->norm != NN_NORM_NONE ? nn_xalloc((size_t)(in * bs) * sizeof(float)) : NULL;
    float *ws = wsn ? nn_xalloc((size_t)wsn * sizeof(float)) : NULL;
    if (!a || (net->norm != NN_NORM_NONE && !xb) || (wsn && !ws)) {
        nn_xfree(a);
        nn_xfree(xb);
        nn_xfree(ws);
        return nn_oom("predict");
    }
    for (int64_t start = 0; start < N; start += bs) {
        const int64_t n = start + bs <= N ? bs : N - start;
        const float *src = x->data + start * in;
        if (xb) {
            for (int64_t r = 0; r < n; r++)
                for (int64_t f = 0; f < in; f++)
                    xb[r * in + f] = (src[r * in + f] - net->shift[f]) / net->div[f];
            src = xb;
        }
        for (int i = 0; i < net->n; i++) {
            const nn_layer *l = &net->layers[i];
            nn_layer_io io = layer_io(net, l, n, NN_MODE_EVAL);
            io.g = NULL;
            io.ws = ws;
            io.x = src;
            io.y = i == net->n - 1 ? y->data + start * out : a + (size_t)(i & 1) * act;
            l->ops->forward(l, &io);
            src = io.y;
        }
    }
    nn_xfree(a);
    nn_xfree(xb);
    nn_xfree(ws);
    return NN_OK;
}
