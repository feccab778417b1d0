/* layers.h — the layer registry: one ops table per layer kind, and the
 * kernels of the kinds on raw buffers.  Shapes are given with every
 * function; all buffers are row-major, batch first.
 *
 * A layer kind is one file in this directory defining one
 * `const nn_layer_ops nn_layer_<name>` and one line in registry.c.  The
 * network (net.c) only loops over layers and calls these entries; the
 * checkpoint stores a layer as its kind name and its settings, encoded from
 * the parameter specs (so a kind writes no serialisation code). */
#ifndef NN_LAYERS_H
#define NN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "nnrun.h"

/* Per-sample shape {C, H, W}; a feature vector is {features, 1, 1}. */
typedef struct nn_shape {
    int64_t c, h, w;
} nn_shape;
static inline int64_t nn_shape_size(nn_shape s) { return s.c * s.h * s.w; }

typedef struct nn_layer_ops nn_layer_ops;

/* One layer of a network.  Everything but the offsets and priv is filled
 * by the kind's setup from its resolved settings v (in the order of its
 * parameter specs). */
typedef struct nn_layer {
    const nn_layer_ops *ops;
    nn_value v[NN_LAYER_MAX_PARAMS]; /* resolved settings               */
    const char *keys[NN_LAYER_MAX_PARAMS]; /* their names (static)      */
    nn_shape in, out;                /* per-sample shapes                */
    int64_t np;                      /* floats in the parameter block    */
    int64_t nw;                      /* of which the "weights" view      */
    int64_t wrows, wcols;            /* shape of the weights view        */
    int64_t ns;                      /* floats of non-trainable state    */
    int64_t poff, soff, woff;        /* offsets in the parameter, state
                                        and workspace blocks (net.c)    */
    float f[4];                      /* kind-private decoded settings    */
    int64_t i[4];
} nn_layer;

/* What forward and backward work on.  x (B, in), y (B, out); p, g the
 * layer's slices of the parameter and gradient blocks; state its
 * non-trainable state; ws its workspace (ops->workspace floats for B rows,
 * kept from forward to backward); rng the network's mask stream. */
typedef struct nn_layer_io {
    const float *x;
    float *y;
    const float *dy; /* backward: dL/dy (B, out)                        */
    float *dx;       /* backward: dL/dx (B, in), NULL when not wanted    */
    const float *p;
    float *g;
    float *state;
    float *ws;
    int64_t B;
    nn_mode mode;
    int accumulate; /* backward: add into g (1) or overwrite it (0)     */
    nn_rng *rng;
    /* conv2d, for the per-sample layers net.c fuses after it: chunk_fwd
     * once rows [b0, b0 + n) of y are final, chunk_bwd before rows
     * [b0, b0 + n) of dy are first read; on the thread computing that
     * chunk (maybe inside a parallel region).  NULL: none. */
    void (*chunk_fwd)(void *ctx, int64_t b0, int64_t n);
    void (*chunk_bwd)(void *ctx, int64_t b0, int64_t n);
    void *chunk_ctx;
} nn_layer_io;

struct nn_layer_ops {
    const char *name;
    const char *doc;
    const nn_param_spec *params; /* nparams specs                      */
    int nparams;
    /* Shape inference and sizes from l->v and l->in (in.c == 0 when the
     * layer comes first: the kind must then take its input from its
     * settings or fail).  Messages have no "layer N" prefix (net.c adds
     * it).  May be NULL: shape kept, no parameters. */
    nn_status (*setup)(nn_layer *l);
    /* Floats of workspace for batches of B rows (NULL: none). */
    int64_t (*workspace)(const nn_layer *l, int64_t B);
    /* Initial parameters (np floats) and state (ns floats); NULL: none. */
    nn_status (*init)(const nn_layer *l, float *p, float *state, nn_rng *rng);
    void (*forward)(const nn_layer *l, const nn_layer_io *io);
    void (*backward)(const nn_layer *l, const nn_layer_io *io);
    /* "dense 4->8" — used in error messages and summaries. */
    void (*describe)(const nn_layer *l, char *buf, size_t n);
    /* What the network's planner may do with the kind (NN_KIND_*). */
    unsigned flags;
};

/* nn_layer_ops.flags (net.c plans fused runs and views from them):
 * CHUNKED     forward and backward go through the batch in chunks and
 *             call io->chunk_fwd / chunk_bwd for each (conv2d), so the
 *             per-sample layers after it may run inside its chunks;
 * PER_SAMPLE  no parameters, workspace or mask stream, each sample on
 *             its own: the same bits on any split of the batch;
 * DX_IN_PLACE backward may write dx over dy;
 * VIEW        the output is the input's bytes: after another layer, the
 *             output buffer is the input's (no copy either way). */
enum { NN_KIND_CHUNKED = 1, NN_KIND_PER_SAMPLE = 2, NN_KIND_DX_IN_PLACE = 4, NN_KIND_VIEW = 8 };

/* The registry (registry.c), in a fixed order. */
extern const nn_layer_ops *const nn_layer_registry[];
extern const int nn_layer_registry_n;
const nn_layer_ops *nn_layer_find(const char *name);

/* Resolves spec into l (settings with defaults, each checked against its
 * spec: "dropout: p must be in [0, 1), got 1"), then runs setup over the
 * input shape in.  Messages have no layer prefix.  No allocation. */
nn_status nn_layer_make(const nn_layer_spec *spec, nn_shape in, nn_layer *l);
/* The settings of l as a spec (keys and values borrowed from l). */
void nn_layer_spec_of(const nn_layer *l, nn_layer_spec *spec);

/* ---- kinds (the others are declared where registry.c lists them) ---- */
extern const nn_layer_ops nn_layer_dense;
extern const nn_layer_ops nn_layer_activation;
/* The pool net.c pairs with a relu before it (nn_maxpool_relu_backward). */
extern const nn_layer_ops nn_layer_maxpool;

/* ---- kernels ---------------------------------------------------------- */

/* y(B,out) = x(B,in) W(out,in)^T + b(out) */
void nn_dense_forward(const float *x, const float *W, const float *b, float *y, int64_t B,
                      int64_t in, int64_t out);
/* dW(out,in) += dy^T x; db(out) += colsum(dy); dx(B,in) = dy W (skipped if
 * dx is NULL). */
void nn_dense_backward(const float *x, const float *W, const float *dy, float *dW, float *db,
                       float *dx, int64_t B, int64_t in, int64_t out);
/* The same; with accumulate == 0, dW and db are overwritten instead. */
void nn_dense_backward_ex(const float *x, const float *W, const float *dy, float *dW, float *db,
                          float *dx, int64_t B, int64_t in, int64_t out, int accumulate);

/* y(B,n) = f(x(B,n)); softmax per row. */
void nn_act_forward(nn_act act, float param, const float *x, float *y, int64_t B, int64_t n);
/* dx(B,n) = dy * f'(x), from the cached x and y of the forward pass.
 * dx may alias dy. */
void nn_act_backward(nn_act act, float param, const float *x, const float *y, const float *dy,
                     float *dx, int64_t B, int64_t n);

/* maxpool's backward (l a maxpool layer, io as for its backward) followed
 * by the backward of a relu whose output x is: dx = [x > 0] * maxpool's dx,
 * in one pass.  x > 0 exactly where the relu's input is, so these are the
 * bits of the two passes (net.c pairs them in a fused run). */
void nn_maxpool_relu_backward(const nn_layer *l, const nn_layer_io *io);

#endif
