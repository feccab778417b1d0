/* conv2d.c — 2-D convolution over images {C, H, W}, on nn_gemm through
 * im2col (geometry and layouts in kernels/conv.h).
 *
 * y(B, F, OH, OW) = W(F, K) col(x)(K, B P) + b(F),  K = C k k, P = OH OW
 * The batch goes through in chunks of n samples (n from the shapes alone,
 * so that a chunk's column matrix, K x n P floats, stays in a core's L2):
 *   forward:  col = im2col(x[chunk]); Yt(F, n P) = W col;
 *             y[chunk] = scatter(Yt) + b
 *   backward: per chunk in order: dYt = gather(dy[chunk]), db (+)= its
 *             row sums;
 *             col = im2col(x[chunk]) again (cheaper than keeping B K P
 *             floats from forward: those do not stay in any cache);
 *             dW (+)= dYt col^T  (the first chunk sets dW and db unless
 *             accumulating, the others add: a fixed order of sums);
 *             and only when dx is wanted (not for a first layer):
 *             dcol(K, n P) = W^T dYt into col's place; dx[chunk] = col2im(dcol)
 * Workspace (floats, for B rows): col / dcol (K n P), Yt / dYt (F n P),
 * and dW^T (K F) when dW is computed transposed (see dw_transposed).
 */
#include <math.h>
#include <stdio.h>

#include "../internal.h"
#include "layers.h"

#include "../kernels/conv.h"
#include "../kernels/gemm.h"

static const nn_param_spec conv_params[] = {
    {"filters", NN_PARAM_INT, NAN, 1, INFINITY, 0, 0, NULL, 1, "output channels", NULL},
    {"kernel", NN_PARAM_INT, NAN, 1, INFINITY, 0, 0, NULL, 0, "kernel height and width", NULL},
    {"stride", NN_PARAM_INT, 1, 1, INFINITY, 0, 0, NULL, 0, "step between kernel positions", NULL},
    {"padding", NN_PARAM_INT, 0, 0, INFINITY, 0, 0, NULL, 0, "zeros added on every side", NULL},
    {"dilation", NN_PARAM_INT, 1, 1, INFINITY, 0, 0, NULL, 0, "spacing of the kernel's taps", NULL},
    {"init", NN_PARAM_INIT, NN_INIT_HE_UNIFORM, 0, 0, 0, 0, nn_init_names, 0, "weight initialiser", NULL},
    {"bias_init", NN_PARAM_INIT, NN_INIT_ZEROS, 0, 0, 0, 0, nn_init_names, 0, "bias initialiser", NULL},
};
enum { C_FILTERS, C_KERNEL, C_STRIDE, C_PADDING, C_DILATION, C_INIT, C_BIAS_INIT };

/* Column matrices of about this many floats (1 MB: one core's L2 here;
 * measured against 0.5 and 2 MB on the bench network). */
#define COL_FLOATS (256 * 1024)

static nn_conv_geom geom(const nn_layer *l)
{
    return (nn_conv_geom){l->in.c, l->in.h, l->in.w, l->i[0], l->i[1], l->i[2], l->i[3], l->out.h, l->out.w};
}

static int64_t chunk_samples(const nn_layer *l, int64_t B)
{
    const int64_t per = l->wcols * l->out.h * l->out.w, n = COL_FLOATS / per;
    return n < 1 ? 1 : n > B ? B : n;
}

static nn_status conv_setup(nn_layer *l)
{
    if (nn_shape_size(l->in) == 0)
        return nn_fail(NN_ESTATE, "a first conv2d layer needs the network's input shape (nn_net_set_input)");
    const int64_t F = (int64_t)l->v[C_FILTERS].num, k = (int64_t)l->v[C_KERNEL].num;
    const int64_t s = (int64_t)l->v[C_STRIDE].num, p = (int64_t)l->v[C_PADDING].num;
    const int64_t d = (int64_t)l->v[C_DILATION].num, C = l->in.c, H = l->in.h, W = l->in.w;
    const int64_t lim = (int64_t)1 << 31;
    if (k >= lim || s >= lim || p >= lim || d >= lim || F >= lim)
        return nn_fail(NN_ERANGE, "settings too large");
    const int64_t span = d * (k - 1) + 1;
    if (H + 2 * p < span || W + 2 * p < span) {
        if (d > 1)
            return nn_fail(NN_ESHAPE, "kernel %lld at dilation %lld spans %lld, more than the padded input %lldx%lld",
                           (long long)k, (long long)d, (long long)span, (long long)(H + 2 * p),
                           (long long)(W + 2 * p));
        return nn_fail(NN_ESHAPE, "kernel %lld is larger than the padded input %lldx%lld", (long long)k,
                       (long long)(H + 2 * p), (long long)(W + 2 * p));
    }
    const int64_t OH = (H + 2 * p - span) / s + 1, OW = (W + 2 * p - span) / s + 1;
    int64_t K, wn, hw, out;
    if (!nn_mul_ok(C, k * k, &K) || K >= lim || !nn_mul_ok(F, K, &wn) || wn > INT64_MAX / 2 - F ||
        !nn_mul_ok(OH, OW, &hw) || !nn_mul_ok(F, hw, &out) || out >= lim)
        return nn_fail(NN_ERANGE, "too many parameters or outputs");
    l->out = (nn_shape){F, OH, OW};
    l->np = wn + F;
    l->nw = wn;
    l->wrows = F;
    l->wcols = K;
    l->i[0] = k;
    l->i[1] = s;
    l->i[2] = p;
    l->i[3] = d;
    return NN_OK;
}

/* Whether dW is better computed as dW^T (K, F) = col dYt^T: when that
 * product's padded register tiles cover less (conv2d 1 -> 32 at k 3: a
 * 9 x 32 product is one 12 x 32 tile per K block, 32 x 9 three).  Each
 * element is the same sum in the same order either way. */
static int dw_transposed(const nn_layer *l)
{
    int mr, nr;
    nn_gemm_kernel_tile(&mr, &nr);
    const int64_t F = l->out.c, K = l->wcols;
    const int64_t normal = (F + mr - 1) / mr * mr * ((K + nr - 1) / nr * nr);
    const int64_t trans = (K + mr - 1) / mr * mr * ((F + nr - 1) / nr * nr);
    return trans < normal;
}

static int64_t conv_ws(const nn_layer *l, int64_t B)
{
    const int64_t K = l->wcols, F = l->out.c, P = l->out.h * l->out.w;
    return (K + F) * chunk_samples(l, B) * P + K * F;
}

static nn_status conv_init(const nn_layer *l, float *p, float *state, nn_rng *rng)
{
    (void)state;
    const int64_t k2 = l->i[0] * l->i[0], fan_in = l->wcols, fan_out = l->out.c * k2;
    nn_status s = nn_init_fill(&l->v[C_INIT].init, p, l->nw, fan_in, fan_out, rng);
    if (!s)
        s = nn_init_fill(&l->v[C_BIAS_INIT].init, p + l->nw, l->out.c, fan_in, fan_out, rng);
    return s;
}

static void conv_fwd(const nn_layer *l, const nn_layer_io *io)
{
    const nn_conv_geom g = geom(l);
    const int64_t B = io->B, K = l->wcols, F = l->out.c, P = g.OH * g.OW, S = chunk_samples(l, B);
    const int64_t plane = g.C * g.H * g.W;
    float *col = io->ws, *T = io->ws + K * S * P;
    for (int64_t b0 = 0; b0 < B; b0 += S) {
        const int64_t n = B - b0 < S ? B - b0 : S;
        nn_im2col(&g, io->x + b0 * plane, n, col, n * P, 0);
        nn_gemm(0, 0, F, n * P, K, 1.0f, io->p, K, col, n * P, 0.0f, T, n * P);
        nn_conv_scatter(T, io->p + l->nw, io->y + b0 * F * P, n, F, P);
    }
}

static void conv_bwd(const nn_layer *l, const nn_layer_io *io)
{
    const nn_conv_geom g = geom(l);
    const int64_t B = io->B, K = l->wcols, F = l->out.c, P = g.OH * g.OW, S = chunk_samples(l, B);
    const int64_t plane = g.C * g.H * g.W;
    float *col = io->ws, *T = io->ws + K * S * P, *dWt = T + F * S * P;
    const int trans = dw_transposed(l);
    for (int64_t b0 = 0; b0 < B; b0 += S) {
        const int64_t n = B - b0 < S ? B - b0 : S;
        const int add = b0 > 0 || io->accumulate;
        nn_conv_gather(io->dy + b0 * F * P, T, io->g + l->nw, n, F, P, add);
        nn_im2col(&g, io->x + b0 * plane, n, col, n * P, 0);
        if (trans) { /* dW (+)= (dW^T)^T */
            nn_gemm(0, 1, K, F, n * P, 1.0f, col, n * P, T, n * P, 0.0f, dWt, F);
            for (int64_t f = 0; f < F; f++)
                for (int64_t r = 0; r < K; r++)
                    io->g[f * K + r] = (add ? io->g[f * K + r] : 0.0f) + dWt[r * F + f];
        } else {
            nn_gemm(0, 1, F, K, n * P, 1.0f, T, n * P, col, n * P, add ? 1.0f : 0.0f, io->g, K);
        }
        if (!io->dx)
            continue;
        nn_gemm(1, 0, K, n * P, F, 1.0f, io->p, K, T, n * P, 0.0f, col, n * P);
        nn_col2im(&g, col, n, io->dx + b0 * plane);
    }
}

static void conv_describe(const nn_layer *l, char *buf, size_t n)
{
    /* "conv2d 1x28x28->32x28x28 k3 p1" (stride, padding, dilation when not the defaults) */
    char s[24] = "", p[24] = "", d[24] = "";
    if (l->i[1] != 1)
        snprintf(s, sizeof s, " s%lld", (long long)l->i[1]);
    if (l->i[2] != 0)
        snprintf(p, sizeof p, " p%lld", (long long)l->i[2]);
    if (l->i[3] != 1)
        snprintf(d, sizeof d, " d%lld", (long long)l->i[3]);
    snprintf(buf, n, "conv2d %lldx%lldx%lld->%lldx%lldx%lld k%lld%s%s%s", (long long)l->in.c, (long long)l->in.h,
             (long long)l->in.w, (long long)l->out.c, (long long)l->out.h, (long long)l->out.w,
             (long long)l->i[0], s, p, d);
}

const nn_layer_ops nn_layer_conv2d = {
    "conv2d", "2-D convolution over {C,H,W}: y = W * x + b", conv_params, 7, conv_setup, conv_ws, conv_init,
    conv_fwd, conv_bwd, conv_describe,
};
