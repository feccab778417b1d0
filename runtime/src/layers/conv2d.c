/* conv2d.c — 2-D convolution over images {C, H, W}, on nn_gemm through
 * im2col (geometry and layouts in kernels/conv.h).
 *
 * y(B, F, OH, OW) = W(F, K) col(x)(K, B P) + b(F),  K = C k k, P = OH OW
 * The batch goes through in chunks of n samples (n from the shapes alone,
 * so that a chunk's column matrix, K x n P floats, stays in a core's L2),
 * the chunks dealt out to the threads (see SLOTS), each chunk on one:
 *   forward:  col = im2col(x[chunk]); Yt(F, n P) = W col;
 *             y[chunk] = scatter(Yt) + b
 *   backward: dYt = gather(dy[chunk]) and db_chunk = its row sums;
 *             col = im2col(x[chunk]) again (cheaper than keeping B K P
 *             floats from forward: those do not stay in any cache);
 *             dW_chunk = dYt col^T (or its transpose, see dw_transposed);
 *             and only when dx is wanted (not for a first layer):
 *             dcol(K, n P) = W^T dYt into col's place; dx[chunk] = col2im(dcol)
 *             then dW (+)= the dW_chunk in chunk order, db likewise: the
 *             same sums in the same order for any thread count.
 * Workspace (floats, for B rows): SLOTS x (col / dcol (K n P), Yt / dYt
 * (F n P), dW^T (K F)) and every chunk's dW and db.
 * Products per sample.  When P >= PER_SAMPLE_MIN_P (the 1-channel first
 * layer of an image network, 28x28 outputs), the products go sample by
 * sample instead, straight in y's layout, with the bias as one more
 * column of W and a row of ones under col (K + 1 rows):
 *   forward:  y[b] (F, P) = [W | b] (F, K + 1) col[b] (K + 1, P)  (no Yt,
 *             no scatter pass);
 *   backward: [dW | db] = the sum over b, in order, of dy[b] col[b]^T
 *             (the ones give db; no gather pass), and when dx is wanted
 *             dcol[b] = W^T dy[b], then col2im.
 *
 * 3x3 kernels at stride 1 and dilation 1 with C >= WINO_MIN_C run on
 * Winograd's F(2x2, 3x3) instead (kernels/winograd.h; 2.25x fewer
 * multiplies), in the same chunks and slots: U = G W G^T once per pass
 * at the workspace's head; per chunk, y[chunk] straight from x[chunk]
 * through V and M, and backward dx[chunk] and the slot's dU (+)= the
 * chunk's, then dW = G^T dU G per slot (parts per slot, not per chunk).
 * NNRUN_CONV=im2col|winograd forces a path (read once).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../internal.h"
#include "layers.h"

#include "../kernels/conv.h"
#include "../kernels/gemm.h"
#include "../kernels/parallel.h"
#include "../kernels/winograd.h"

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
/* The chunks are dealt out to SLOTS workers, each a contiguous run of
 * chunks with its own buffers, and the slots to the team's threads
 * (nn_parallel_range): a chunk is computed the same way whichever thread
 * runs it, and its products run inside the region on that one thread
 * (nn_gemm's contract), so each thread keeps its chunk in its own L2.
 * 4: even shares for 1, 2 and 4 threads. */
#define SLOTS 4
/* Winograd's V and M of a chunk: about this many floats (2 MB: measured
 * against 0.25 to 4 MB on the bench network's second layer, 1.1x faster
 * than 1 MB: its 16 products get 2x the columns). */
#define WINO_FLOATS (512 * 1024)

static nn_conv_geom geom(const nn_layer *l)
{
    return (nn_conv_geom){l->in.c, l->in.h, l->in.w, l->i[0], l->i[1], l->i[2], l->i[3], l->out.h, l->out.w};
}

/* Whether the layer runs on Winograd's F(2x2, 3x3) (kernels/winograd.h),
 * decided once by conv_setup (wino_pays), kept in l->f[0]. */
static int on_wino(const nn_layer *l) { return l->f[0] != 0.0f; }

static nn_wino_geom wgeom(const nn_layer *l)
{
    return nn_wino_geom_of(l->in.c, l->in.h, l->in.w, l->out.c, l->i[2]);
}

/* Floats of one sample's Winograd buffers: V (16 C T1) and M (16 F T1). */
static int64_t wino_sample_floats(const nn_layer *l)
{
    const nn_wino_geom g = wgeom(l);
    return 16 * (g.C + g.F) * g.TH * g.TW;
}

/* A slot's Winograd buffers for chunks of S samples: V / dV, M / dM, dU
 * (16 F C), the transforms' scratch; from `at` on (or sizes only, NULL). */
typedef struct wino_bufs {
    float *V, *M, *dU, *scratch;
    int64_t floats;
} wino_bufs;
static wino_bufs wino_slot(const nn_layer *l, int64_t S, float *at)
{
    const nn_wino_geom g = wgeom(l);
    const int64_t v = nn_wino_v_floats(&g, S), m = nn_wino_m_floats(&g, S), u = 16 * g.F * g.C;
    wino_bufs w = {at, at + v, at + v + m, at + v + m + u, v + m + u + nn_wino_scratch_floats(&g)};
    return w;
}

/* Whether an im2col layer takes its products sample by sample, straight
 * in y's layout (see the top of the file): when each has columns enough
 * (P >= PER_SAMPLE_MIN_P) for packing its A operand again per sample to
 * cost little (F (K+1) floats against 2 F (K+1) P flops). */
#define PER_SAMPLE_MIN_P 64
static int per_sample(const nn_layer *l) { return !on_wino(l) && l->out.h * l->out.w >= PER_SAMPLE_MIN_P; }

/* Rows of the column matrix: K, and a row of ones when the products are
 * per sample (the bias's column of Wb, the bias gradient's row). */
static int64_t col_rows(const nn_layer *l) { return l->wcols + per_sample(l); }

/* Floats at the head of the workspace: U (16 F C) on Winograd, Wb
 * (F, K + 1) (W with the bias as a last column) per sample, else 0. */
static int64_t ws_head(const nn_layer *l)
{
    if (on_wino(l))
        return 16 * l->out.c * l->in.c;
    return per_sample(l) ? l->out.c * (l->wcols + 1) : 0;
}

/* Samples per chunk: a column matrix of about COL_FLOATS, and at least
 * SLOTS chunks when the batch has that many samples, so that every slot
 * has work. */
static int64_t chunk_cap(const nn_layer *l)
{
    const int64_t per = on_wino(l) ? wino_sample_floats(l) : col_rows(l) * l->out.h * l->out.w;
    const int64_t n = (on_wino(l) ? WINO_FLOATS : COL_FLOATS) / per;
    return n < 1 ? 1 : n;
}
static int64_t chunk_samples(const nn_layer *l, int64_t B)
{
    const int64_t quarter = (B + SLOTS - 1) / SLOTS, n = chunk_cap(l);
    return n > quarter ? quarter : n;
}

/* Winograd for 3x3 kernels at stride 1, dilation 1 (NNRUN_CONV or
 * nn_conv_force_mode may force either path), when C >= WINO_MIN_C: each of
 * its 16 products has C terms per output, too few below that for the
 * transforms' memory traffic to pay.  Measured at 1 thread, forward +
 * backward with dx, batch 128, Winograd against im2col: 1 -> 32 at 28x28
 * 2.2x slower (the bench network's first layer stays on im2col), 4 -> 16
 * at 28x28 1.3x slower, 8 -> 16 at 28x28 1.3x faster, 16 -> 32 at 14x14
 * 1.4x, 32 -> 64 at 14x14 1.4x. */
#define WINO_MIN_C 8
static int wino_pays(int64_t k, int64_t s, int64_t d, int64_t C)
{
    if (k != 3 || s != 1 || d != 1)
        return 0;
    const int mode = nn_conv_mode();
    return mode == NN_CONV_WINOGRAD || (mode == NN_CONV_AUTO && C >= WINO_MIN_C);
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
    l->f[0] = (float)wino_pays(k, s, d, C);
    return NN_OK;
}

/* Whether dW is better computed as dW^T (K, F) = col dYt^T: when that
 * product's padded register tiles cover less (conv2d 1 -> 32 at k 3: a
 * 9 x 32 product is one 12 x 32 tile per K block, 32 x 9 three).  Each
 * element is the same sum in the same order either way.  (K: the column
 * matrix's rows, the bias's too per sample.) */
static int dw_transposed(const nn_layer *l)
{
    int mr, nr;
    nn_gemm_kernel_tile(&mr, &nr);
    const int64_t F = l->out.c, K = col_rows(l);
    const int64_t normal = (F + mr - 1) / mr * mr * ((K + nr - 1) / nr * nr);
    const int64_t trans = (K + mr - 1) / mr * mr * ((F + nr - 1) / nr * nr);
    return trans < normal;
}

/* Floats of one slot's buffers: col / dcol (K n P), Yt / dYt (F n P),
 * dW^T (K F); per sample col / dcol ((K + 1) n P) and dWb ((K + 1) F). */
static int64_t slot_floats(const nn_layer *l, int64_t S)
{
    if (on_wino(l))
        return wino_slot(l, S, NULL).floats;
    const int64_t K = l->wcols, F = l->out.c, P = l->out.h * l->out.w;
    if (per_sample(l))
        return (K + 1) * (S * P + F);
    return (K + F) * S * P + K * F;
}

static int64_t conv_ws(const nn_layer *l, int64_t B)
{
    /* The slots, then each chunk's dW and db (summed in chunk order).
     * ceil(B / S) <= max(ceil(B / cap), SLOTS): a bound that grows with B,
     * so that what a smaller batch uses fits what nn_net_prepare sized. */
    const int64_t S = chunk_samples(l, B), cap = chunk_cap(l), by_cap = (B + cap - 1) / cap;
    const int64_t chunks = by_cap > SLOTS ? by_cap : SLOTS;
    return ws_head(l) + SLOTS * slot_floats(l, S) + chunks * (l->nw + l->out.c);
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

typedef struct conv_job {
    const nn_layer *l;
    const nn_layer_io *io;
    nn_conv_geom g;
    int64_t S, chunks, nparts, K, F, P, plane, slot;
    int trans, per_sample;
    float *parts; /* chunk c: dW (F K) then db (F) at c (F K + F) */
} conv_job;

static conv_job job_of(const nn_layer *l, const nn_layer_io *io)
{
    conv_job j;
    j.l = l;
    j.io = io;
    j.g = geom(l);
    j.S = chunk_samples(l, io->B);
    j.chunks = (io->B + j.S - 1) / j.S;
    j.nparts = on_wino(l) ? SLOTS : j.chunks;
    j.K = l->wcols;
    j.F = l->out.c;
    j.P = j.g.OH * j.g.OW;
    j.plane = j.g.C * j.g.H * j.g.W;
    j.slot = slot_floats(l, j.S);
    j.trans = dw_transposed(l);
    j.per_sample = per_sample(l);
    j.parts = io->ws + ws_head(l) + SLOTS * j.slot;
    return j;
}

/* The chunk's column matrix (K rows, then the row of ones per sample). */
static void columns(const conv_job *j, float *col, int64_t b0, int64_t n)
{
    nn_im2col(&j->g, j->io->x + b0 * j->plane, n, col, n * j->P, 0);
    if (j->per_sample) {
        float *ones = col + j->K * n * j->P;
        for (int64_t q = 0; q < n * j->P; q++)
            ones[q] = 1.0f;
    }
}

static void fwd_slots(int64_t lo, int64_t hi, void *ctx)
{
    const conv_job *j = ctx;
    const nn_layer_io *io = j->io;
    const int64_t K = j->K, F = j->F, P = j->P;
    for (int64_t sl = lo; sl < hi; sl++) {
        float *col = io->ws + ws_head(j->l) + sl * j->slot, *T = col + K * j->S * P;
        for (int64_t c = j->chunks * sl / SLOTS; c < j->chunks * (sl + 1) / SLOTS; c++) {
            const int64_t b0 = c * j->S, n = io->B - b0 < j->S ? io->B - b0 : j->S;
            columns(j, col, b0, n);
            if (j->per_sample) { /* y[b] (F, P) = Wb (F, K + 1) col[b] (K + 1, P) */
                for (int64_t b = 0; b < n; b++)
                    nn_gemm(0, 0, F, P, K + 1, 1.0f, io->ws, K + 1, col + b * P, n * P, 0.0f,
                            io->y + (b0 + b) * F * P, P);
            } else {
                nn_gemm(0, 0, F, n * P, K, 1.0f, io->p, K, col, n * P, 0.0f, T, n * P);
                nn_conv_scatter(T, io->p + j->l->nw, io->y + b0 * F * P, n, F, P);
            }
            if (io->chunk_fwd)
                io->chunk_fwd(io->chunk_ctx, b0, n);
        }
    }
}

/* Winograd: chunk c's y (n, F, OH, OW) straight from its x, through the
 * slot's V and M, with U (16 F C) at the workspace's head. */
static void wino_fwd_slots(int64_t lo, int64_t hi, void *ctx)
{
    const conv_job *j = ctx;
    const nn_layer_io *io = j->io;
    const nn_wino_geom g = wgeom(j->l);
    const int64_t F = j->F, P = j->P;
    for (int64_t sl = lo; sl < hi; sl++) {
        const wino_bufs w = wino_slot(j->l, j->S, io->ws + ws_head(j->l) + sl * j->slot);
        for (int64_t c = j->chunks * sl / SLOTS; c < j->chunks * (sl + 1) / SLOTS; c++) {
            const int64_t b0 = c * j->S, n = io->B - b0 < j->S ? io->B - b0 : j->S;
            nn_wino_forward(&g, io->ws, io->p + j->l->nw, io->x + b0 * j->plane, n, io->y + b0 * F * P, w.V, w.M,
                            w.scratch);
            if (io->chunk_fwd)
                io->chunk_fwd(io->chunk_ctx, b0, n);
        }
    }
}

static void conv_fwd(const nn_layer *l, const nn_layer_io *io)
{
    const conv_job j = job_of(l, io);
    if (on_wino(l)) {
        const nn_wino_geom g = wgeom(l);
        nn_wino_weights(&g, io->p, io->ws);
        nn_parallel_range(SLOTS, 1, wino_fwd_slots, (void *)&j);
        return;
    }
    if (j.per_sample) { /* Wb = [W | b] */
        float *Wb = io->ws;
        for (int64_t f = 0; f < j.F; f++) {
            memcpy(Wb + f * (j.K + 1), io->p + f * j.K, (size_t)j.K * sizeof(float));
            Wb[f * (j.K + 1) + j.K] = io->p[l->nw + f];
        }
    }
    nn_parallel_range(SLOTS, 1, fwd_slots, (void *)&j);
}

/* Per sample: [dW | db] (F, K + 1) = the sum over the chunk's samples b,
 * in order, of dy[b] (F, P) col[b]^T (or its transpose, see
 * dw_transposed), written into the chunk's part (dW (F K) then db (F));
 * dx[b] = col2im(W^T dy[b]) when wanted. */
static void bwd_per_sample(const conv_job *j, float *col, int64_t b0, int64_t n, float *dW)
{
    const nn_layer_io *io = j->io;
    const int64_t K = j->K, F = j->F, P = j->P, R = K + 1;
    float *dWb = col + R * n * P; /* (F, R), or (R, F) transposed */
    columns(j, col, b0, n);
    for (int64_t b = 0; b < n; b++) {
        const float *dy = io->dy + (b0 + b) * F * P;
        if (j->trans)
            nn_gemm(0, 1, R, F, P, 1.0f, col + b * P, n * P, dy, P, b ? 1.0f : 0.0f, dWb, F);
        else
            nn_gemm(0, 1, F, R, P, 1.0f, dy, P, col + b * P, n * P, b ? 1.0f : 0.0f, dWb, R);
    }
    for (int64_t f = 0; f < F; f++)
        for (int64_t r = 0; r <= K; r++) /* r == K: db, right after dW */
            dW[r < K ? f * K + r : F * K + f] = j->trans ? dWb[r * F + f] : dWb[f * R + r];
    if (!io->dx)
        return;
    for (int64_t b = 0; b < n; b++) /* dcol[b] (K, P) = W^T dy[b] */
        nn_gemm(1, 0, K, P, F, 1.0f, io->p, K, io->dy + (b0 + b) * F * P, P, 0.0f, col + b * P, n * P);
    nn_col2im(&j->g, col, n, io->dx + b0 * j->plane);
}

static void bwd_slots(int64_t lo, int64_t hi, void *ctx)
{
    const conv_job *j = ctx;
    const nn_layer_io *io = j->io;
    const int64_t K = j->K, F = j->F, P = j->P;
    for (int64_t sl = lo; sl < hi; sl++) {
        float *col = io->ws + ws_head(j->l) + sl * j->slot, *T = col + K * j->S * P, *dWt = T + F * j->S * P;
        for (int64_t c = j->chunks * sl / SLOTS; c < j->chunks * (sl + 1) / SLOTS; c++) {
            const int64_t b0 = c * j->S, n = io->B - b0 < j->S ? io->B - b0 : j->S;
            float *dW = j->parts + c * (F * K + F), *db = dW + F * K;
            if (io->chunk_bwd)
                io->chunk_bwd(io->chunk_ctx, b0, n);
            if (j->per_sample) {
                bwd_per_sample(j, col, b0, n, dW);
                continue;
            }
            nn_conv_gather(io->dy + b0 * F * P, T, db, n, F, P, 0);
            nn_im2col(&j->g, io->x + b0 * j->plane, n, col, n * P, 0);
            if (j->trans) {
                nn_gemm(0, 1, K, F, n * P, 1.0f, col, n * P, T, n * P, 0.0f, dWt, F);
                for (int64_t f = 0; f < F; f++)
                    for (int64_t r = 0; r < K; r++)
                        dW[f * K + r] = dWt[r * F + f];
            } else {
                nn_gemm(0, 1, F, K, n * P, 1.0f, T, n * P, col, n * P, 0.0f, dW, K);
            }
            if (!io->dx)
                continue;
            nn_gemm(1, 0, K, n * P, F, 1.0f, io->p, K, T, n * P, 0.0f, col, n * P);
            nn_col2im(&j->g, col, n, io->dx + b0 * j->plane);
        }
    }
}

/* g[e] (+)= the parts (one per chunk, or per slot on Winograd), in order. */
static void sum_parts(int64_t lo, int64_t hi, void *ctx)
{
    const conv_job *j = ctx;
    const int64_t stride = j->F * j->K + j->F;
    float *g = j->io->g;
    for (int64_t e = lo; e < hi; e++) {
        float v = j->io->accumulate ? g[e] : 0.0f;
        for (int64_t c = 0; c < j->nparts; c++)
            v += j->parts[c * stride + e];
        g[e] = v;
    }
}

/* Winograd: chunk c's dx (when wanted) straight into dx, from its x and
 * dy; its dU and db added to the slot's (a slot's chunks do not depend on
 * the thread count), and the slot's dW = G^T dU G and db into part sl:
 * one weight transform and one part per slot, not per chunk. */
static void wino_bwd_slots(int64_t lo, int64_t hi, void *ctx)
{
    const conv_job *j = ctx;
    const nn_layer_io *io = j->io;
    const nn_wino_geom g = wgeom(j->l);
    const int64_t F = j->F, K = j->K, P = j->P;
    for (int64_t sl = lo; sl < hi; sl++) {
        const wino_bufs w = wino_slot(j->l, j->S, io->ws + ws_head(j->l) + sl * j->slot);
        float *dW = j->parts + sl * (F * K + F), *db = dW + F * K;
        const int64_t c0 = j->chunks * sl / SLOTS, c1 = j->chunks * (sl + 1) / SLOTS;
        for (int64_t c = c0; c < c1; c++) {
            const int64_t b0 = c * j->S, n = io->B - b0 < j->S ? io->B - b0 : j->S;
            if (io->chunk_bwd)
                io->chunk_bwd(io->chunk_ctx, b0, n);
            nn_conv_gather(io->dy + b0 * F * P, NULL, db, n, F, P, c > c0);
            nn_wino_backward(&g, io->ws, io->x + b0 * j->plane, io->dy + b0 * F * P, n, w.dU, c > c0,
                             io->dx ? io->dx + b0 * j->plane : NULL, w.V, w.M, w.scratch);
        }
        if (c1 > c0)
            nn_wino_grad_weights(&g, w.dU, dW);
        else
            memset(dW, 0, (size_t)(F * K + F) * sizeof(float));
    }
}

static void conv_bwd(const nn_layer *l, const nn_layer_io *io)
{
    const conv_job j = job_of(l, io);
    if (on_wino(l)) {
        const nn_wino_geom g = wgeom(l);
        nn_wino_weights(&g, io->p, io->ws);
        nn_parallel_range(SLOTS, 1, wino_bwd_slots, (void *)&j);
    } else {
        nn_parallel_range(SLOTS, 1, bwd_slots, (void *)&j);
    }
    nn_parallel_range(l->np, NN_GRAIN_ELEMENTS / (j.nparts + 1) + 1, sum_parts, (void *)&j);
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
    conv_fwd, conv_bwd, conv_describe, NN_KIND_CHUNKED,
};
