/* winograd.c — F(2x2, 3x3) convolutions (see winograd.h): the transforms,
 * each compiled for the vector ISA of the GEMM kernel (simd.h: the same
 * bits in every copy), and the 16 products on nn_gemm. */
#include "winograd.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "simd.h"

nn_wino_geom nn_wino_geom_of(int64_t C, int64_t H, int64_t W, int64_t F, int64_t p)
{
    nn_wino_geom g = {C, H, W, F, p, H + 2 * p - 2, W + 2 * p - 2, 0, 0};
    g.TH = (g.OH + 1) / 2;
    g.TW = (g.OW + 1) / 2;
    return g;
}

/* Tiles go through the transforms LN at a time (one 8-float vector per
 * value); a row of tiles is padded to a multiple of LN.  V's and M's
 * streams (one per xi) are LN floats longer than their C T or F T values:
 * a group's store past a row's last tile lands in the next row (written
 * after it) or in that tail, never in another stream. */
#define LN 8
static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
static int64_t round_ln(int64_t n) { return round_up(n, LN); }

/* Row stride of the scratch rows: the even and odd columns of a padded
 * row, (2 TW + 2) / 2 = TW + 1 each, read up to round_ln(TW) + 1, written
 * (to_cols) up to (p + 1) / 2 + round_ln(W / 2 + 1) <= round_ln(TW + 1) + LN. */
static int64_t row_stride(const nn_wino_geom *g) { return round_ln(g->TW + 1) + 2 * LN; }

int64_t nn_wino_v_floats(const nn_wino_geom *g, int64_t n) { return 16 * (g->C * n * g->TH * g->TW + LN); }
int64_t nn_wino_m_floats(const nn_wino_geom *g, int64_t n) { return 16 * (g->F * n * g->TH * g->TW + LN); }

/* The padded plane, 2 TH + 2 rows (the image at (p, p): it fits, as
 * 2 TH + 2 >= OH + 2 = H + 2 p), its even and its odd columns apart; and
 * 16 rows of one row of tiles. */
int64_t nn_wino_scratch_floats(const nn_wino_geom *g)
{
    return (2 * (2 * g->TH + 2) + 16) * row_stride(g) + LN;
}

void nn_wino_weights(const nn_wino_geom *g, const float *w, float *U)
{
    const int64_t FC = g->F * g->C;
    for (int64_t fc = 0; fc < FC; fc++) {
        const float *k = w + fc * 9;
        float t[4][3];
        for (int j = 0; j < 3; j++) { /* G g: the kernel's rows combined */
            t[0][j] = k[j];
            t[1][j] = 0.5f * (k[j] + k[3 + j] + k[6 + j]);
            t[2][j] = 0.5f * (k[j] - k[3 + j] + k[6 + j]);
            t[3][j] = k[6 + j];
        }
        for (int i = 0; i < 4; i++) { /* (G g) G^T */
            U[(4 * i + 0) * FC + fc] = t[i][0];
            U[(4 * i + 1) * FC + fc] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
            U[(4 * i + 2) * FC + fc] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
            U[(4 * i + 3) * FC + fc] = t[i][2];
        }
    }
}

void nn_wino_grad_weights(const nn_wino_geom *g, const float *dU, float *dW)
{
    const int64_t FC = g->F * g->C;
    for (int64_t fc = 0; fc < FC; fc++) {
        float u[4][4], t[3][4];
        for (int x = 0; x < 16; x++)
            u[x / 4][x % 4] = dU[x * FC + fc];
        for (int j = 0; j < 4; j++) { /* G^T dU */
            t[0][j] = u[0][j] + 0.5f * (u[1][j] + u[2][j]);
            t[1][j] = 0.5f * (u[1][j] - u[2][j]);
            t[2][j] = 0.5f * (u[1][j] + u[2][j]) + u[3][j];
        }
        float *k = dW + fc * 9;
        for (int i = 0; i < 3; i++) { /* (G^T dU) G */
            k[3 * i + 0] = t[i][0] + 0.5f * (t[i][1] + t[i][2]);
            k[3 * i + 1] = 0.5f * (t[i][1] - t[i][2]);
            k[3 * i + 2] = 0.5f * (t[i][1] + t[i][2]) + t[i][3];
        }
    }
}

typedef struct wino_job {
    const nn_wino_geom *g;
    const float *src;
    float *dst;
    const float *bias;
    float *scratch;
    int64_t n, T; /* samples and tiles of the chunk */
    int64_t vs;   /* stride of V's or M's streams */
} wino_job;

/* LN floats of LN tiles: GCC's vector extension, element-wise IEEE
 * operations (the same bits in every ISA copy), unaligned loads and
 * stores through memcpy. */
typedef float vf __attribute__((vector_size(LN * sizeof(float))));
#define VLD(v, p) memcpy(&(v), (p), sizeof(vf))
#define VST(p, v) memcpy((p), &(v), sizeof(vf))
typedef int32_t vi __attribute__((vector_size(LN * sizeof(int32_t))));
/* [prev[LN - 1], cur[0], ..., cur[LN - 2]]: the tile before's value moved
 * into a lane (in registers: through memory, a load spanning two fresh
 * stores would stall). */
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define WINO_SHUFFLE 1
#define SHIFT_IN(prev, cur) __builtin_shufflevector(prev, cur, 7, 8, 9, 10, 11, 12, 13, 14)
#endif
#endif
#ifndef SHIFT_IN
#define SHIFT_IN(prev, cur)                                                                    \
    __extension__({                                                                            \
        float t_[2 * LN];                                                                      \
        vf r_;                                                                                 \
        memcpy(t_, &(prev), sizeof(vf));                                                       \
        memcpy(t_ + LN, &(cur), sizeof(vf));                                                   \
        memcpy(&r_, t_ + LN - 1, sizeof(vf));                                                  \
        r_;                                                                                    \
    })
#endif

/* e[k] = in[2 k], o[k] = in[2 k + 1] for k < n, and back (loops the
 * compiler vectorises). */
static inline void deinterleave(const float *restrict in, int64_t n, float *restrict e, float *restrict o)
{
    for (int64_t k = 0; k < n; k++) {
        e[k] = in[2 * k];
        o[k] = in[2 * k + 1];
    }
}
static inline void interleave(const float *restrict e, const float *restrict o, int64_t n, float *restrict out)
{
    for (int64_t k = 0; k < n; k++) {
        out[2 * k] = e[k];
        out[2 * k + 1] = o[k];
    }
}

/* A padded row kept as its even / odd columns e, o: out[q] = its column
 * p + q for q < n, and back.  Straight to and from the images' rows (a
 * copy through a row buffer at another offset would stall each load on
 * the stores before it).  With `whole`, LN pairs at a time: from_cols
 * then writes out[0, round_up(n, 2 LN)) (the caller's later rows overwrite
 * what lies past n), to_cols reads in[0, round_up(n, 2 LN)) and writes
 * e, o up to LN past the row's last column, zeros past it. */
static inline void from_cols(const float *e, const float *o, int64_t p, int64_t n, float *out, int whole)
{
    const float *a = p % 2 ? o + (p - 1) / 2 : e + p / 2; /* columns p + 2 m     */
    const float *b = p % 2 ? e + (p + 1) / 2 : o + p / 2; /* columns p + 2 m + 1 */
#ifdef WINO_SHUFFLE
    if (whole) {
        for (int64_t m = 0; 2 * m < n; m += LN) {
            vf x, y;
            VLD(x, a + m);
            VLD(y, b + m);
            const vf lo = __builtin_shufflevector(x, y, 0, 8, 1, 9, 2, 10, 3, 11);
            const vf hi = __builtin_shufflevector(x, y, 4, 12, 5, 13, 6, 14, 7, 15);
            VST(out + 2 * m, lo);
            VST(out + 2 * m + LN, hi);
        }
        return;
    }
#endif
    (void)whole;
    interleave(a, b, n / 2, out);
    if (n % 2)
        out[n - 1] = a[n / 2];
}
static inline void to_cols(const float *in, int64_t p, int64_t n, float *e, float *o, int whole)
{
    float *a = p % 2 ? o + (p - 1) / 2 : e + p / 2, *b = p % 2 ? e + (p + 1) / 2 : o + p / 2;
#ifdef WINO_SHUFFLE
    if (whole) {
        const vi lane = {0, 1, 2, 3, 4, 5, 6, 7};
        for (int64_t m = 0; 2 * m < n; m += LN) {
            vf x, y;
            VLD(x, in + 2 * m);
            VLD(y, in + 2 * m + LN);
            /* in[2 (m + l)] lies in the row when m + l < (n + 1) / 2, in[2 (m + l) + 1] when m + l < n / 2 */
            const vf ev = (vf)((vi)__builtin_shufflevector(x, y, 0, 2, 4, 6, 8, 10, 12, 14) &
                               (lane + (int32_t)m < (int32_t)((n + 1) / 2)));
            const vf od = (vf)((vi)__builtin_shufflevector(x, y, 1, 3, 5, 7, 9, 11, 13, 15) &
                               (lane + (int32_t)m < (int32_t)(n / 2)));
            VST(a + m, ev);
            VST(b + m, od);
        }
        return;
    }
#endif
    (void)whole;
    deinterleave(in, n / 2, a, b);
    if (n % 2)
        a[n / 2] = in[n - 1];
}

/* Planes c n + b of x (n, C, H, W) -> V (16, C, T): row by row of tiles,
 * LN tiles at a time (c-major: every stream written in ascending order).
 * The plane goes first into E / O, the even / odd columns of the padded
 * plane (the padding stays zero from plane to plane). */
NN_SIMD_BODY void input_body(int64_t lo, int64_t hi, void *ctx)
{
    const wino_job *j = ctx;
    const nn_wino_geom *g = j->g;
    const int64_t C = g->C, H = g->H, W = g->W, p = g->p, TH = g->TH, TW = g->TW, VS = j->vs;
    const int64_t ES = row_stride(g), PH = 2 * TH + 2;
    float *E = j->scratch, *O = E + PH * ES;
    memset(E, 0, (size_t)(2 * PH * ES) * sizeof(float));
    for (int64_t it = lo; it < hi; it++) {
        const int64_t c = it / j->n, b = it % j->n;
        const float *src = j->src + (b * C + c) * H * W;
        for (int64_t h = 0; h < H; h++)
            to_cols(src + h * W, p, W, E + (h + p) * ES, O + (h + p) * ES, h * W + round_up(W, 2 * LN) <= H * W);
        float *out = j->dst + c * j->T + b * TH * TW;
        for (int64_t th = 0; th < TH; th++) {
            const float *e = E + 2 * th * ES, *o = O + 2 * th * ES;
            float *ot = out + th * TW;
            for (int64_t k = 0; k < TW; k += LN) {
                /* B^T d: the patches' columns are e[k], o[k], e[k+1], o[k+1] */
                vf r0, r1, r2, r3, a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3;
                VLD(r0, e + k);
                VLD(r1, e + ES + k);
                VLD(r2, e + 2 * ES + k);
                VLD(r3, e + 3 * ES + k);
                a0 = r0 - r2, a1 = r1 + r2, a2 = r2 - r1, a3 = r1 - r3;
                VLD(r0, o + k);
                VLD(r1, o + ES + k);
                VLD(r2, o + 2 * ES + k);
                VLD(r3, o + 3 * ES + k);
                b0 = r0 - r2, b1 = r1 + r2, b2 = r2 - r1, b3 = r1 - r3;
                VLD(r0, e + k + 1);
                VLD(r1, e + ES + k + 1);
                VLD(r2, e + 2 * ES + k + 1);
                VLD(r3, e + 3 * ES + k + 1);
                c0 = r0 - r2, c1 = r1 + r2, c2 = r2 - r1, c3 = r1 - r3;
                VLD(r0, o + k + 1);
                VLD(r1, o + ES + k + 1);
                VLD(r2, o + 2 * ES + k + 1);
                VLD(r3, o + 3 * ES + k + 1);
                d0 = r0 - r2, d1 = r1 + r2, d2 = r2 - r1, d3 = r1 - r3;
                /* (B^T d) B */
                const vf v[16] = {a0 - c0, b0 + c0, c0 - b0, b0 - d0, a1 - c1, b1 + c1, c1 - b1, b1 - d1,
                                  a2 - c2, b2 + c2, c2 - b2, b2 - d2, a3 - c3, b3 + c3, c3 - b3, b3 - d3};
                for (int x = 0; x < 16; x++)
                    VST(ot + x * VS + k, v[x]);
            }
        }
    }
}
NN_SIMD_RANGE(input_planes, input_body)

/* Planes b F + f of y (n, F, OH, OW) = A^T M A + bias, M (16, F, T): a
 * row of tiles at a time, LN tiles at a time, into the even / odd columns
 * of two rows of the scratch, then their OH / OW part into y. */
NN_SIMD_BODY void output_body(int64_t lo, int64_t hi, void *ctx)
{
    const wino_job *j = ctx;
    const nn_wino_geom *g = j->g;
    const int64_t F = g->F, OH = g->OH, OW = g->OW, TH = g->TH, TW = g->TW, MS = j->vs;
    const int64_t ES = row_stride(g);
    float *e0 = j->scratch, *o0 = e0 + ES, *e1 = o0 + ES, *o1 = e1 + ES;
    for (int64_t it = lo; it < hi; it++) {
        const int64_t b = it / F, f = it % F;
        const float *m = j->src + f * j->T + b * TH * TW;
        float *y = j->dst + it * OH * OW;
        vf bf;
        for (int l = 0; l < LN; l++)
            bf[l] = j->bias ? j->bias[f] : 0.0f;
        for (int64_t th = 0; th < TH; th++) {
            const float *mt = m + th * TW;
            for (int64_t k = 0; k < TW; k += LN) {
                vf s0[4], s1[4];
                for (int x = 0; x < 4; x++) { /* A^T M */
                    vf m0, m1, m2, m3;
                    VLD(m0, mt + x * MS + k);
                    VLD(m1, mt + (4 + x) * MS + k);
                    VLD(m2, mt + (8 + x) * MS + k);
                    VLD(m3, mt + (12 + x) * MS + k);
                    s0[x] = m0 + m1 + m2;
                    s1[x] = m1 - m2 - m3;
                }
                const vf y00 = s0[0] + s0[1] + s0[2] + bf, y01 = s0[1] - s0[2] - s0[3] + bf; /* (A^T M) A */
                const vf y10 = s1[0] + s1[1] + s1[2] + bf, y11 = s1[1] - s1[2] - s1[3] + bf;
                VST(e0 + k, y00);
                VST(o0 + k, y01);
                VST(e1 + k, y10);
                VST(o1 + k, y11);
            }
            float *y0 = y + 2 * th * OW;
            /* past OW: rows written after this one, up to the range's end */
            const int64_t at = (it * OH + 2 * th) * OW, end = hi * OH * OW, span = round_up(OW, 2 * LN);
            from_cols(e0, o0, 0, OW, y0, at + span <= end);
            if (2 * th + 1 < OH)
                from_cols(e1, o1, 0, OW, y0 + OW, at + OW + span <= end);
        }
    }
}
NN_SIMD_RANGE(output_planes, output_body)

/* Planes f n + b of dy (n, F, OH, OW) -> dM (16, F, T) = A dY A^T: two
 * rows of dy at a time into the even / odd columns of the scratch (zeros
 * past OH and OW), then LN tiles at a time (f-major: every stream written
 * in ascending order). */
NN_SIMD_BODY void grad_output_body(int64_t lo, int64_t hi, void *ctx)
{
    const wino_job *j = ctx;
    const nn_wino_geom *g = j->g;
    const int64_t F = g->F, OH = g->OH, OW = g->OW, TH = g->TH, TW = g->TW, MS = j->vs;
    const int64_t ES = row_stride(g);
    float *e0 = j->scratch, *o0 = e0 + ES, *e1 = o0 + ES, *o1 = e1 + ES;
    memset(e0, 0, (size_t)(4 * ES) * sizeof(float));
    for (int64_t it = lo; it < hi; it++) {
        const int64_t f = it / j->n, b = it % j->n;
        const float *dy = j->src + (b * F + f) * OH * OW;
        float *m = j->dst + f * j->T + b * TH * TW;
        for (int64_t th = 0; th < TH; th++) {
            /* rows 2 th and 2 th + 1 (column OW of an odd OW stays 0) */
            const int64_t span = round_up(OW, 2 * LN), P = OH * OW;
            to_cols(dy + 2 * th * OW, 0, OW, e0, o0, 2 * th * OW + span <= P);
            if (2 * th + 1 < OH)
                to_cols(dy + (2 * th + 1) * OW, 0, OW, e1, o1, (2 * th + 1) * OW + span <= P);
            else
                memset(e1, 0, (size_t)(2 * ES) * sizeof(float));
            float *mt = m + th * TW;
            for (int64_t k = 0; k < TW; k += LN) {
                vf u0, u1, v0, v1;
                VLD(u0, e0 + k);
                VLD(u1, o0 + k);
                VLD(v0, e1 + k);
                VLD(v1, o1 + k);
                const vf r[4][2] = {{u0, u1}, {u0 + v0, u1 + v1}, {u0 - v0, u1 - v1}, {-v0, -v1}}; /* A dY */
                for (int i = 0; i < 4; i++) { /* (A dY) A^T */
                    const vf q[4] = {r[i][0], r[i][0] + r[i][1], r[i][0] - r[i][1], -r[i][1]};
                    for (int x = 0; x < 4; x++)
                        VST(mt + (4 * i + x) * MS + k, q[x]);
                }
            }
        }
    }
}
NN_SIMD_RANGE(grad_output_planes, grad_output_body)

/* Planes b C + c of dx (n, C, H, W) = the sum over the tiles of B dV B^T,
 * dV (16, C, T), in the even / odd columns of the padded plane: row of
 * tiles th, LN tiles at a time, adds to padded row 2 th + i, columns k ..
 * k + LN - 1, its tiles' columns 0 / 1 and (shifted a lane) the tiles'
 * before columns 2 / 3, in registers; then the rows from (p, p) into dx. */
NN_SIMD_BODY void grad_input_body(int64_t lo, int64_t hi, void *ctx)
{
    const wino_job *j = ctx;
    const nn_wino_geom *g = j->g;
    const int64_t C = g->C, H = g->H, W = g->W, p = g->p, TH = g->TH, TW = g->TW, VS = j->vs;
    const int64_t ES = row_stride(g), PH = 2 * TH + 2;
    float *BE = j->scratch, *BO = BE + PH * ES;
    const vi lane = {0, 1, 2, 3, 4, 5, 6, 7};
    for (int64_t it = lo; it < hi; it++) {
        const int64_t b = it / C, c = it % C;
        const float *v = j->src + c * j->T + b * TH * TW;
        memset(BE, 0, (size_t)(2 * PH * ES) * sizeof(float));
        for (int64_t th = 0; th < TH; th++) {
            const float *vt = v + th * TW;
            const vf zero = {0};
            vf carry[4][2]; /* the previous group's columns 2, 3 */
            for (int i = 0; i < 4; i++)
                carry[i][0] = carry[i][1] = zero;
            for (int64_t k = 0; k <= TW; k += LN) {
                vf q[4][4];
                for (int i = 0; i < 4; i++)
                    q[i][0] = q[i][1] = q[i][2] = q[i][3] = zero;
                if (k < TW) {
                    /* tiles k .. k + LN - 1, those past TW zeroed */
                    const vi live = lane + (int32_t)k < (int32_t)TW;
                    vf e[4][4];
                    for (int x = 0; x < 4; x++) { /* B dV */
                        vf v0, v1, v2, v3;
                        VLD(v0, vt + x * VS + k);
                        VLD(v1, vt + (4 + x) * VS + k);
                        VLD(v2, vt + (8 + x) * VS + k);
                        VLD(v3, vt + (12 + x) * VS + k);
                        e[0][x] = v0;
                        e[1][x] = v1 - v2 + v3;
                        e[2][x] = v1 + v2 - v0;
                        e[3][x] = -v3;
                    }
                    for (int i = 0; i < 4; i++) { /* (B dV) B^T */
                        q[i][0] = e[i][0];
                        q[i][1] = e[i][1] - e[i][2] + e[i][3];
                        q[i][2] = e[i][1] + e[i][2] - e[i][0];
                        q[i][3] = -e[i][3];
                        for (int x = 0; x < 4; x++)
                            q[i][x] = (vf)((vi)q[i][x] & live);
                    }
                }
                /* padded row 2 th + i, even / odd columns k ..: a tile's
                 * columns 0, 1 there, the tile before's 2, 3 */
                for (int i = 0; i < 4; i++) {
                    float *be = BE + (2 * th + i) * ES + k, *bo = BO + (2 * th + i) * ES + k;
                    vf se, so;
                    VLD(se, be);
                    VLD(so, bo);
                    se += q[i][0] + SHIFT_IN(carry[i][0], q[i][2]);
                    so += q[i][1] + SHIFT_IN(carry[i][1], q[i][3]);
                    VST(be, se);
                    VST(bo, so);
                    carry[i][0] = q[i][2];
                    carry[i][1] = q[i][3];
                }
            }
        }
        float *dx = j->dst + it * H * W;
        for (int64_t h = 0; h < H; h++)
            from_cols(BE + (h + p) * ES, BO + (h + p) * ES, p, W, dx + h * W,
                      (it * H + h) * W + round_up(W, 2 * LN) <= hi * H * W);
    }
}
NN_SIMD_RANGE(grad_input_planes, grad_input_body)

void nn_wino_forward(const nn_wino_geom *g, const float *U, const float *bias, const float *x, int64_t n, float *y,
                     float *V, float *M, float *scratch)
{
    const int64_t C = g->C, F = g->F, T = n * g->TH * g->TW;
    const int64_t VS = nn_wino_v_floats(g, n) / 16, MS = nn_wino_m_floats(g, n) / 16;
    wino_job in = {g, x, V, NULL, scratch, n, T, VS};
    input_planes(0, n * C, &in);
    for (int xi = 0; xi < 16; xi++)
        nn_gemm(0, 0, F, T, C, 1.0f, U + xi * F * C, C, V + xi * VS, T, 0.0f, M + xi * MS, T);
    wino_job out = {g, M, y, bias, scratch, n, T, MS};
    output_planes(0, n * F, &out);
}

void nn_wino_backward(const nn_wino_geom *g, const float *U, const float *x, const float *dy, int64_t n, float *dU,
                      int accumulate, float *dx, float *V, float *M, float *scratch)
{
    const int64_t C = g->C, F = g->F, T = n * g->TH * g->TW;
    const int64_t VS = nn_wino_v_floats(g, n) / 16, MS = nn_wino_m_floats(g, n) / 16;
    wino_job in = {g, x, V, NULL, scratch, n, T, VS};
    input_planes(0, n * C, &in);
    wino_job dm = {g, dy, M, NULL, scratch, n, T, MS};
    grad_output_planes(0, n * F, &dm);
    for (int xi = 0; xi < 16; xi++)
        nn_gemm(0, 1, F, C, T, 1.0f, M + xi * MS, T, V + xi * VS, T, accumulate ? 1.0f : 0.0f, dU + xi * F * C, C);
    if (!dx)
        return;
    for (int xi = 0; xi < 16; xi++) /* dV into V's place */
        nn_gemm(1, 0, C, T, F, 1.0f, U + xi * F * C, C, M + xi * MS, T, 0.0f, V + xi * VS, T);
    wino_job gi = {g, V, dx, NULL, scratch, n, T, VS};
    grad_input_planes(0, n * C, &gi);
}

/* NNRUN_CONV, read once (0: not yet); nn_conv_force_mode's override. */
static _Atomic int env_mode;
static int forced = -1;

int nn_conv_mode(void)
{
    if (forced >= 0)
        return forced;
    int m = atomic_load_explicit(&env_mode, memory_order_acquire);
    if (m)
        return m - 1;
    const char *env = getenv("NNRUN_CONV");
    m = NN_CONV_AUTO;
    if (env && strcmp(env, "im2col") == 0)
        m = NN_CONV_IM2COL;
    else if (env && strcmp(env, "winograd") == 0)
        m = NN_CONV_WINOGRAD;
    atomic_store_explicit(&env_mode, m + 1, memory_order_release);
    return m;
}

void nn_conv_force_mode(int mode) { forced = mode; }
