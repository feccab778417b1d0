/* dense.c — fully connected layer.
 *
 * y(B,out) = x(B,in) W(out,in)^T + b
 * backward: dx = dy W; dW += dy^T x; db += colsum(dy)
 *           (or dW = dy^T x; db = colsum(dy) when not accumulating, which
 *           spares the trainer clearing the gradients every step)
 */
#include <math.h>
#include <stdio.h>

#include "../internal.h"
#include "layers.h"

#include "../kernels/gemm.h"
#include "../kernels/parallel.h"
#include "../kernels/simd.h"

typedef struct bias_job {
    const float *dy;
    float *db;
    int64_t B, out;
    int accumulate;
} bias_job;

/* Columns [lo, hi) of colsum(dy), each summed over rows in ascending order:
 * the same for any split and in each vector ISA's copy (simd.h). */
NN_SIMD_BODY void bias_cols_body(int64_t lo, int64_t hi, void *ctx)
{
    const bias_job *j = ctx;
    float *db = j->db;
    if (!j->accumulate)
        for (int64_t c = lo; c < hi; c++)
            db[c] = 0.0f;
    for (int64_t i = 0; i < j->B; i++) {
        const float *row = j->dy + i * j->out;
        for (int64_t c = lo; c < hi; c++)
            db[c] += row[c];
    }
}

NN_SIMD_RANGE(bias_cols, bias_cols_body)

void nn_dense_forward(const float *x, const float *W, const float *b, float *y, int64_t B,
                      int64_t in, int64_t out)
{
    /* The bias goes into each tile of y as its product starts (no pass
     * of its own over y; the same bits as y = b then y += x W^T). */
    nn_gemm_bias(0, 1, B, out, in, x, in, W, in, b, y, out);
}

void nn_dense_backward_ex(const float *x, const float *W, const float *dy, float *dW, float *db,
                          float *dx, int64_t B, int64_t in, int64_t out, int accumulate)
{
    nn_gemm(1, 0, out, in, B, 1.0f, dy, out, x, in, accumulate ? 1.0f : 0.0f, dW, in);
    bias_job j = {dy, db, B, out, accumulate};
    nn_parallel_range(out, NN_GRAIN_ELEMENTS / (B > 0 ? B : 1) + 1, bias_cols, &j);
    if (dx)
        nn_gemm(0, 0, B, in, out, 1.0f, dy, out, W, in, 0.0f, dx, in);
}

void nn_dense_backward(const float *x, const float *W, const float *dy, float *dW, float *db,
                       float *dx, int64_t B, int64_t in, int64_t out)
{
    nn_dense_backward_ex(x, W, dy, dW, db, dx, B, in, out, 1);
}

/* ---- the registry entry ------------------------------------------------ */


static const nn_param_spec dense_params[] = {
    {"units", NN_PARAM_INT, NAN, 1, INFINITY, 0, 0, NULL, 1, "output width", NULL},
    {"in", NN_PARAM_INT, 0, 0, INFINITY, 0, 0, NULL, 0, "input width (0: the previous layer's)", NULL},
    {"init", NN_PARAM_INIT, NN_INIT_XAVIER_UNIFORM, 0, 0, 0, 0, nn_init_names, 0, "weight initialiser", NULL},
    {"bias_init", NN_PARAM_INIT, NN_INIT_ZEROS, 0, 0, 0, 0, nn_init_names, 0, "bias initialiser", NULL},
};
enum { D_UNITS, D_IN, D_INIT, D_BIAS_INIT };

static nn_status dense_setup(nn_layer *l)
{
    const int64_t prev = nn_shape_size(l->in), given = (int64_t)l->v[D_IN].num;
    const int64_t out = (int64_t)l->v[D_UNITS].num;
    if (prev == 0 && given == 0)
        return nn_fail(NN_EINVAL, "a first layer needs its input width (in)");
    if (prev && given && given != prev)
        return nn_fail(NN_ESHAPE, "input has %lld features, previous layer gives %lld", (long long)given,
                       (long long)prev);
    const int64_t in = prev ? prev : given;
    int64_t wn;
    if (!nn_mul_ok(in, out, &wn) || wn > INT64_MAX / 2 - out)
        return nn_fail(NN_ERANGE, "too many parameters");
    l->v[D_IN].num = (double)in;
    l->in = (nn_shape){in, 1, 1};
    l->out = (nn_shape){out, 1, 1};
    l->np = wn + out;
    l->nw = wn;
    l->wrows = out;
    l->wcols = in;
    return NN_OK;
}

static nn_status dense_init(const nn_layer *l, float *p, float *state, nn_rng *rng)
{
    (void)state;
    const int64_t in = l->in.c, out = l->out.c;
    nn_status s = nn_init_fill(&l->v[D_INIT].init, p, l->nw, in, out, rng);
    if (!s)
        s = nn_init_fill(&l->v[D_BIAS_INIT].init, p + l->nw, out, in, out, rng);
    return s;
}

static void dense_fwd(const nn_layer *l, const nn_layer_io *io)
{
    nn_dense_forward(io->x, io->p, io->p + l->nw, io->y, io->B, l->in.c, l->out.c);
}

static void dense_bwd(const nn_layer *l, const nn_layer_io *io)
{
    nn_dense_backward_ex(io->x, io->p, io->dy, io->g, io->g + l->nw, io->dx, io->B, l->in.c, l->out.c,
                         io->accumulate);
}

static void dense_describe(const nn_layer *l, char *buf, size_t n)
{
    snprintf(buf, n, "dense %lld->%lld", (long long)l->in.c, (long long)l->out.c);
}

const nn_layer_ops nn_layer_dense = {
    "dense", "fully connected: y = x W^T + b", dense_params, 4, dense_setup, NULL, dense_init, dense_fwd,
    dense_bwd, dense_describe, 0,
};
