/* pool.c — pooling over images {C, H, W}, per channel, no padding.
 *
 * maxpool, avgpool: windows size x size at steps of stride (0: = size),
 *   OH = (H - size) / stride + 1 (floor), OW likewise.
 *   max:  y = the window's maximum; backward: dx[first argmax] += dy (the
 *         first in row-major order, found again from the cached x; for
 *         2x2 windows at stride 2, the first element equal to y);
 *         nn_maxpool_relu_backward also applies a relu's backward before.
 *   avg:  y = sum / size^2 (sum in row-major order); backward:
 *         dx[every tap] += dy / size^2.
 *   Overlapping windows (stride < size) add into dx in (oh, ow) order.
 * global_avgpool: {C, H, W} -> {C, 1, 1}, y = sum over H W / (H W);
 *   backward: dx = dy / (H W).
 * Each plane (b, c) is computed by one thread, in a fixed order.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../internal.h"
#include "../kernels/parallel.h"
#include "../kernels/simd.h"

#ifdef NN_SIMD_X86
#include <immintrin.h>
#endif
#include "layers.h"

static const nn_param_spec pool_params[] = {
    {"size", NN_PARAM_INT, 2, 1, INFINITY, 0, 0, NULL, 1, "window height and width", NULL},
    {"stride", NN_PARAM_INT, 0, 0, INFINITY, 0, 0, NULL, 0, "step between windows (0: the size)", NULL},
};

static nn_status pool_setup(nn_layer *l)
{
    if (nn_shape_size(l->in) == 0)
        return nn_fail(NN_ESTATE, "a first %s layer needs the network's input shape (nn_net_set_input)",
                       l->ops->name);
    const int64_t size = (int64_t)l->v[0].num, given = (int64_t)l->v[1].num;
    const int64_t s = given ? given : size, H = l->in.h, W = l->in.w;
    if (size > H || size > W)
        return nn_fail(NN_ESHAPE, "size %lld is larger than the input %lldx%lld", (long long)size, (long long)H,
                       (long long)W);
    l->out = (nn_shape){l->in.c, (H - size) / s + 1, (W - size) / s + 1};
    l->i[0] = size;
    l->i[1] = s;
    return NN_OK;
}

/* No settings (a non-NULL spec list all the same, as the registry promises). */
static const nn_param_spec no_params[] = {{NULL, NN_PARAM_INT, 0, 0, 0, 0, 0, NULL, 0, NULL, NULL}};

static nn_status gap_setup(nn_layer *l)
{
    if (nn_shape_size(l->in) == 0)
        return nn_fail(NN_ESTATE, "a first global_avgpool layer needs the network's input shape (nn_net_set_input)");
    l->out = (nn_shape){l->in.c, 1, 1};
    return NN_OK;
}

typedef struct pool_job {
    const nn_layer *l;
    const nn_layer_io *io;
    int relu; /* max backward: times [x > 0] (nn_maxpool_relu_backward) */
} pool_job;

/* Index in the plane of the first maximum of window (oh, ow). */
static int64_t argmax(const float *x, int64_t W, int64_t size, int64_t s, int64_t oh, int64_t ow)
{
    const int64_t r0 = oh * s, c0 = ow * s;
    int64_t best = r0 * W + c0;
    float m = x[best];
    for (int64_t i = 0; i < size; i++)
        for (int64_t j = 0; j < size; j++) {
            const int64_t at = (r0 + i) * W + c0 + j;
            if (x[at] > m) {
                m = x[at];
                best = at;
            }
        }
    return best;
}

/* One row of 2x2 windows: y[ow] = the first maximum of r0[2 ow],
 * r0[2 ow + 1], r1[2 ow], r1[2 ow + 1] (a NaN only where the first is). */
static inline void max2x2_row(const float *restrict r0, const float *restrict r1, float *restrict y, int64_t OW)
{
    for (int64_t ow = 0; ow < OW; ow++) {
        const float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
        float m = a;
        m = b > m ? b : m;
        m = c > m ? c : m;
        m = d > m ? d : m;
        y[ow] = m;
    }
}

#ifdef NN_SIMD_X86
/* AVX-512: the same rows, 16 windows at a time, the last ones masked (rows
 * of 7 or 14 windows are too short for a compiler's vector loop).  The
 * same comparisons in the same order: the same bits. */
#define E16 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0
#define O16 31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1

/* Masks of the k (<= 16) windows at ow: k outputs, 2k inputs in two vectors. */
static inline void masks_of(int64_t k, __mmask16 *out, __mmask16 *in0, __mmask16 *in1)
{
    *out = (__mmask16)((1u << k) - 1u);
    *in0 = k >= 8 ? (__mmask16)0xFFFF : (__mmask16)((1u << 2 * k) - 1u);
    *in1 = k > 8 ? (__mmask16)((1u << (2 * k - 16)) - 1u) : (__mmask16)0;
}

NN_TARGET_512 static void max2x2_row_512(const float *r0, const float *r1, float *y, int64_t OW)
{
    const __m512i ev = _mm512_set_epi32(E16), od = _mm512_set_epi32(O16);
    for (int64_t ow = 0; ow < OW; ow += 16) {
        __mmask16 mo, m0, m1;
        masks_of(OW - ow < 16 ? OW - ow : 16, &mo, &m0, &m1);
        const __m512 p0 = _mm512_maskz_loadu_ps(m0, r0 + 2 * ow), p1 = _mm512_maskz_loadu_ps(m1, r0 + 2 * ow + 16);
        const __m512 q0 = _mm512_maskz_loadu_ps(m0, r1 + 2 * ow), q1 = _mm512_maskz_loadu_ps(m1, r1 + 2 * ow + 16);
        const __m512 b = _mm512_permutex2var_ps(p0, od, p1), c = _mm512_permutex2var_ps(q0, ev, q1);
        const __m512 d = _mm512_permutex2var_ps(q0, od, q1);
        __m512 m = _mm512_permutex2var_ps(p0, ev, p1);
        m = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, m, _CMP_GT_OQ), m, b);
        m = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(c, m, _CMP_GT_OQ), m, c);
        m = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(d, m, _CMP_GT_OQ), m, d);
        _mm512_mask_storeu_ps(y + ow, mo, m);
    }
}

NN_TARGET_512 static void max2x2_grad_row_512(const float *r0, const float *r1, const float *y, const float *dy,
                                              float *d0, float *d1, int64_t OW, int relu)
{
    const __m512 zero = _mm512_setzero_ps();
    const __m512i ev = _mm512_set_epi32(E16), od = _mm512_set_epi32(O16);
    /* back to pairs: element 2i from a[i], 2i + 1 from b[i] */
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (int64_t ow = 0; ow < OW; ow += 16) {
        __mmask16 mo, m0, m1;
        masks_of(OW - ow < 16 ? OW - ow : 16, &mo, &m0, &m1);
        const __m512 p0 = _mm512_maskz_loadu_ps(m0, r0 + 2 * ow), p1 = _mm512_maskz_loadu_ps(m1, r0 + 2 * ow + 16);
        const __m512 q0 = _mm512_maskz_loadu_ps(m0, r1 + 2 * ow), q1 = _mm512_maskz_loadu_ps(m1, r1 + 2 * ow + 16);
        const __m512 m = _mm512_maskz_loadu_ps(mo, y + ow), g = _mm512_maskz_loadu_ps(mo, dy + ow);
        const __m512 a = _mm512_permutex2var_ps(p0, ev, p1), b = _mm512_permutex2var_ps(p0, od, p1);
        const __m512 c = _mm512_permutex2var_ps(q0, ev, q1), d = _mm512_permutex2var_ps(q0, od, q1);
        const __mmask16 k0 = _mm512_cmp_ps_mask(a, m, _CMP_EQ_OQ);
        const __mmask16 k1 = (__mmask16)(_mm512_cmp_ps_mask(b, m, _CMP_EQ_OQ) & ~k0);
        const __mmask16 k2 = (__mmask16)(_mm512_cmp_ps_mask(c, m, _CMP_EQ_OQ) & ~(k0 | k1));
        const __mmask16 k3 = (__mmask16)~(k0 | k1 | k2);
        const __mmask16 all = (__mmask16)0xFFFF;
        const __mmask16 pa = relu ? _mm512_cmp_ps_mask(a, zero, _CMP_GT_OQ) : all;
        const __mmask16 pb = relu ? _mm512_cmp_ps_mask(b, zero, _CMP_GT_OQ) : all;
        const __mmask16 pc = relu ? _mm512_cmp_ps_mask(c, zero, _CMP_GT_OQ) : all;
        const __mmask16 pd = relu ? _mm512_cmp_ps_mask(d, zero, _CMP_GT_OQ) : all;
        const __m512 ga = _mm512_maskz_mov_ps(k0 & pa, g), gb = _mm512_maskz_mov_ps(k1 & pb, g);
        const __m512 gc = _mm512_maskz_mov_ps(k2 & pc, g), gd = _mm512_maskz_mov_ps(k3 & pd, g);
        _mm512_mask_storeu_ps(d0 + 2 * ow, m0, _mm512_permutex2var_ps(ga, lo, gb));
        _mm512_mask_storeu_ps(d0 + 2 * ow + 16, m1, _mm512_permutex2var_ps(ga, hi, gb));
        _mm512_mask_storeu_ps(d1 + 2 * ow, m0, _mm512_permutex2var_ps(gc, lo, gd));
        _mm512_mask_storeu_ps(d1 + 2 * ow + 16, m1, _mm512_permutex2var_ps(gc, hi, gd));
    }
}
#define AVX512_ROWS() (nn_gemm_isa() == 2)
#else
#define AVX512_ROWS() 0
#define max2x2_row_512 max2x2_row
#define max2x2_grad_row_512 max2x2_grad_row
#endif

static void max_fwd_planes(int64_t lo, int64_t hi, void *ctx)
{
    const int wide = AVX512_ROWS();
    const pool_job *j = ctx;
    const nn_layer *l = j->l;
    const int64_t H = l->in.h, W = l->in.w, OH = l->out.h, OW = l->out.w, size = l->i[0], s = l->i[1];
    for (int64_t pl = lo; pl < hi; pl++) {
        const float *x = j->io->x + pl * H * W;
        float *y = j->io->y + pl * OH * OW;
        if (size == 2 && s == 2) { /* the common case, without the index search */
            for (int64_t oh = 0; oh < OH; oh++) {
                (wide ? max2x2_row_512 : max2x2_row)(x + 2 * oh * W, x + (2 * oh + 1) * W, y + oh * OW, OW);
            }
            continue;
        }
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++)
                y[oh * OW + ow] = x[argmax(x, W, size, s, oh, ow)];
    }
}

static inline uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* One 2x2 window (rows r0, r1) whose maximum the forward pass found to be
 * m: g to its first element equal to m, in row-major order (the first
 * maximum, as argmax finds it), 0 to the others.  With masks, not
 * branches: which element wins is data, and mispredicted branches cost
 * more than the window. */
static inline void max2x2_grad(const float *r0, const float *r1, float m, float g, float *d0, float *d1, int relu)
{
    const uint32_t gb = bits_of(g);
    const uint32_t k0 = 0u - (uint32_t)(r0[0] == m);
    const uint32_t k1 = (0u - (uint32_t)(r0[1] == m)) & ~k0;
    const uint32_t k2 = (0u - (uint32_t)(r1[0] == m)) & ~(k0 | k1);
    const uint32_t k3 = ~(k0 | k1 | k2);
    /* with relu: and each element's [x > 0] */
    const uint32_t p0 = relu ? 0u - (uint32_t)(r0[0] > 0.0f) : ~0u, p1 = relu ? 0u - (uint32_t)(r0[1] > 0.0f) : ~0u;
    const uint32_t p2 = relu ? 0u - (uint32_t)(r1[0] > 0.0f) : ~0u, p3 = relu ? 0u - (uint32_t)(r1[1] > 0.0f) : ~0u;
    d0[0] = float_of(gb & k0 & p0);
    d0[1] = float_of(gb & k1 & p1);
    d1[0] = float_of(gb & k2 & p2);
    d1[1] = float_of(gb & k3 & p3);
}

/* A row of 2x2 windows (rows r0, r1 of x, their maxima y, gradients dy)
 * into rows d0, d1 of dx. */
static inline void max2x2_grad_row(const float *restrict r0, const float *restrict r1, const float *restrict y,
                                   const float *restrict dy, float *restrict d0, float *restrict d1, int64_t OW,
                                   int relu)
{
    for (int64_t ow = 0; ow < OW; ow++)
        max2x2_grad(r0 + 2 * ow, r1 + 2 * ow, y[ow], dy[ow], d0 + 2 * ow, d1 + 2 * ow, relu);
}

static void max_bwd_planes(int64_t lo, int64_t hi, void *ctx)
{
    const int wide = AVX512_ROWS();
    const pool_job *j = ctx;
    const nn_layer *l = j->l;
    const int64_t H = l->in.h, W = l->in.w, OH = l->out.h, OW = l->out.w, size = l->i[0], s = l->i[1];
    for (int64_t pl = lo; pl < hi; pl++) {
        const float *x = j->io->x + pl * H * W, *dy = j->io->dy + pl * OH * OW;
        float *dx = j->io->dx + pl * H * W;
        if (size == 2 && s == 2) { /* disjoint windows: each dx written once */
            const float *y = j->io->y + pl * OH * OW;
            for (int64_t oh = 0; oh < OH; oh++) {
                float *d0 = dx + 2 * oh * W, *d1 = d0 + W;
                (wide ? max2x2_grad_row_512 : max2x2_grad_row)(x + 2 * oh * W, x + (2 * oh + 1) * W, y + oh * OW,
                                                               dy + oh * OW, d0, d1, OW, j->relu);
                for (int64_t c = 2 * OW; c < W; c++) /* a last odd column */
                    d0[c] = d1[c] = 0.0f;
            }
            if (2 * OH < H) /* a last odd row */
                memset(dx + 2 * OH * W, 0, (size_t)W * sizeof(float));
            continue;
        }
        memset(dx, 0, (size_t)(H * W) * sizeof(float));
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t at = argmax(x, W, size, s, oh, ow);
                dx[at] += !j->relu || x[at] > 0.0f ? dy[oh * OW + ow] : 0.0f;
            }
    }
}

static void avg_fwd_planes(int64_t lo, int64_t hi, void *ctx)
{
    const pool_job *j = ctx;
    const nn_layer *l = j->l;
    const int64_t H = l->in.h, W = l->in.w, OH = l->out.h, OW = l->out.w, size = l->i[0], s = l->i[1];
    const float inv = 1.0f / (float)(size * size);
    for (int64_t pl = lo; pl < hi; pl++) {
        const float *x = j->io->x + pl * H * W;
        float *y = j->io->y + pl * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                float sum = 0.0f;
                for (int64_t i = 0; i < size; i++)
                    for (int64_t c = 0; c < size; c++)
                        sum += x[(oh * s + i) * W + ow * s + c];
                y[oh * OW + ow] = sum * inv;
            }
    }
}

static void avg_bwd_planes(int64_t lo, int64_t hi, void *ctx)
{
    const pool_job *j = ctx;
    const nn_layer *l = j->l;
    const int64_t H = l->in.h, W = l->in.w, OH = l->out.h, OW = l->out.w, size = l->i[0], s = l->i[1];
    const float inv = 1.0f / (float)(size * size);
    for (int64_t pl = lo; pl < hi; pl++) {
        const float *dy = j->io->dy + pl * OH * OW;
        float *dx = j->io->dx + pl * H * W;
        memset(dx, 0, (size_t)(H * W) * sizeof(float));
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                const float g = dy[oh * OW + ow] * inv;
                for (int64_t i = 0; i < size; i++)
                    for (int64_t c = 0; c < size; c++)
                        dx[(oh * s + i) * W + ow * s + c] += g;
            }
    }
}

static void gap_fwd_planes(int64_t lo, int64_t hi, void *ctx)
{
    const pool_job *j = ctx;
    const int64_t S = j->l->in.h * j->l->in.w;
    const float inv = 1.0f / (float)S;
    for (int64_t pl = lo; pl < hi; pl++) {
        const float *x = j->io->x + pl * S;
        float sum = 0.0f;
        for (int64_t q = 0; q < S; q++)
            sum += x[q];
        j->io->y[pl] = sum * inv;
    }
}

static void gap_bwd_planes(int64_t lo, int64_t hi, void *ctx)
{
    const pool_job *j = ctx;
    const int64_t S = j->l->in.h * j->l->in.w;
    const float inv = 1.0f / (float)S;
    for (int64_t pl = lo; pl < hi; pl++) {
        const float g = j->io->dy[pl] * inv;
        float *dx = j->io->dx + pl * S;
        for (int64_t q = 0; q < S; q++)
            dx[q] = g;
    }
}

static void run_relu(const nn_layer *l, const nn_layer_io *io, nn_range_fn fn, int relu)
{
    const pool_job j = {l, io, relu};
    nn_parallel_range(io->B * l->in.c, NN_GRAIN_ELEMENTS / (l->in.h * l->in.w) + 1, fn, (void *)&j);
}

static void run(const nn_layer *l, const nn_layer_io *io, nn_range_fn fn) { run_relu(l, io, fn, 0); }

static void max_fwd(const nn_layer *l, const nn_layer_io *io) { run(l, io, max_fwd_planes); }
static void avg_fwd(const nn_layer *l, const nn_layer_io *io) { run(l, io, avg_fwd_planes); }
static void gap_fwd(const nn_layer *l, const nn_layer_io *io) { run(l, io, gap_fwd_planes); }
static void max_bwd(const nn_layer *l, const nn_layer_io *io)
{
    if (io->dx)
        run(l, io, max_bwd_planes);
}
void nn_maxpool_relu_backward(const nn_layer *l, const nn_layer_io *io)
{
    if (io->dx)
        run_relu(l, io, max_bwd_planes, 1);
}
static void avg_bwd(const nn_layer *l, const nn_layer_io *io)
{
    if (io->dx)
        run(l, io, avg_bwd_planes);
}
static void gap_bwd(const nn_layer *l, const nn_layer_io *io)
{
    if (io->dx)
        run(l, io, gap_bwd_planes);
}

static void pool_describe(const nn_layer *l, char *buf, size_t n)
{
    char win[48] = "";
    if (l->ops->nparams)
        snprintf(win, sizeof win, " %lld/%lld", (long long)l->i[0], (long long)l->i[1]);
    snprintf(buf, n, "%s%s %lldx%lldx%lld->%lldx%lldx%lld", l->ops->name, win, (long long)l->in.c,
             (long long)l->in.h, (long long)l->in.w, (long long)l->out.c, (long long)l->out.h, (long long)l->out.w);
}

const nn_layer_ops nn_layer_maxpool = {
    "maxpool", "maximum over size x size windows of each channel", pool_params, 2, pool_setup, NULL, NULL,
    max_fwd, max_bwd, pool_describe, NN_KIND_PER_SAMPLE,
};
const nn_layer_ops nn_layer_avgpool = {
    "avgpool", "mean over size x size windows of each channel", pool_params, 2, pool_setup, NULL, NULL,
    avg_fwd, avg_bwd, pool_describe, NN_KIND_PER_SAMPLE,
};
const nn_layer_ops nn_layer_global_avgpool = {
    "global_avgpool", "mean of each channel: {C,H,W} -> {C,1,1}", no_params, 0, gap_setup, NULL, NULL,
    gap_fwd, gap_bwd, pool_describe, NN_KIND_PER_SAMPLE,
};
