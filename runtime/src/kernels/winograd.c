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

/* The padded input plane, (2 TH + 2) x (2 TW + 2): every tile's patch
 * inside it, the image at (p, p) (it fits: 2 TH + 2 >= OH + 2 = H + 2 p). */
int64_t nn_wino_scratch_floats(const nn_wino_geom *g) { return (2 * g->TH + 2) * (2 * g->TW + 2); }

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

/* dW (F, C, 3, 3) = G^T dU G of dU (16, F, C). */
static void grad_weights(const nn_wino_geom *g, const float *dU, float *dW)
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
    int64_t T; /* tiles of the chunk */
} wino_job;

/* Planes b C + c of x -> V (16, C, T). */
NN_SIMD_BODY void input_body(int64_t lo, int64_t hi, void *ctx)
{
    const wino_job *j = ctx;
    const nn_wino_geom *g = j->g;
    const int64_t C = g->C, H = g->H, W = g->W, p = g->p, TH = g->TH, TW = g->TW, CT = C * j->T;
    const int64_t PW = 2 * TW + 2;
    float *buf = j->scratch;
    memset(buf, 0, (size_t)nn_wino_scratch_floats(g) * sizeof(float));
    for (int64_t it = lo; it < hi; it++) {
        const int64_t b = it / C, c = it % C;
        const float *src = j->src + it * H * W;
        /* the image at (p, p); the border stays zero from plane to plane */
        for (int64_t h = 0; h < H; h++)
            memcpy(buf + (h + p) * PW + p, src + h * W, (size_t)W * sizeof(float));
        float *out = j->dst + c * j->T + b * TH * TW;
        for (int64_t th = 0; th < TH; th++) {
            const float *r0 = buf + 2 * th * PW, *r1 = r0 + PW, *r2 = r1 + PW, *r3 = r2 + PW;
            float *o = out + th * TW;
            for (int64_t tw = 0; tw < TW; tw++) {
                const int64_t q = 2 * tw;
                float t[4][4];
                for (int x = 0; x < 4; x++) { /* B^T d */
                    t[0][x] = r0[q + x] - r2[q + x];
                    t[1][x] = r1[q + x] + r2[q + x];
                    t[2][x] = r2[q + x] - r1[q + x];
                    t[3][x] = r1[q + x] - r3[q + x];
                }
                for (int i = 0; i < 4; i++) { /* (B^T d) B */
                    o[(4 * i + 0) * CT + tw] = t[i][0] - t[i][2];
                    o[(4 * i + 1) * CT + tw] = t[i][1] + t[i][2];
                    o[(4 * i + 2) * CT + tw] = t[i][2] - t[i][1];
                    o[(4 * i + 3) * CT + tw] = t[i][1] - t[i][3];
                }
            }
        }
    }
}
NN_SIMD_RANGE(input_planes, input_body)

/* Planes b F + f of y (n, F, OH, OW) = A^T M A + bias, M (16, F, T).
 * Even OH and OW: straight into y; else through the scratch plane. */
NN_SIMD_BODY void output_body(int64_t lo, int64_t hi, void *ctx)
{
    const wino_job *j = ctx;
    const nn_wino_geom *g = j->g;
    const int64_t F = g->F, OH = g->OH, OW = g->OW, TH = g->TH, TW = g->TW, FT = F * j->T;
    const int direct = OH % 2 == 0 && OW % 2 == 0;
    const int64_t ld = direct ? OW : 2 * TW;
    for (int64_t it = lo; it < hi; it++) {
        const int64_t b = it / F, f = it % F;
        const float *m = j->src + f * j->T + b * TH * TW;
        float *y = j->dst + it * OH * OW, *d = direct ? y : j->scratch;
        const float bf = j->bias ? j->bias[f] : 0.0f;
        for (int64_t th = 0; th < TH; th++) {
            const float *mt = m + th * TW;
            float *d0 = d + 2 * th * ld, *d1 = d0 + ld;
            for (int64_t tw = 0; tw < TW; tw++) {
                float s[2][4];
                for (int x = 0; x < 4; x++) { /* A^T M */
                    const float m0 = mt[x * FT + tw], m1 = mt[(4 + x) * FT + tw];
                    const float m2 = mt[(8 + x) * FT + tw], m3 = mt[(12 + x) * FT + tw];
                    s[0][x] = m0 + m1 + m2;
                    s[1][x] = m1 - m2 - m3;
                }
                d0[2 * tw] = s[0][0] + s[0][1] + s[0][2] + bf; /* (A^T M) A */
                d0[2 * tw + 1] = s[0][1] - s[0][2] - s[0][3] + bf;
                d1[2 * tw] = s[1][0] + s[1][1] + s[1][2] + bf;
                d1[2 * tw + 1] = s[1][1] - s[1][2] - s[1][3] + bf;
            }
        }
        if (!direct)
            for (int64_t h = 0; h < OH; h++)
                memcpy(y + h * OW, d + h * ld, (size_t)OW * sizeof(float));
    }
}
NN_SIMD_RANGE(output_planes, output_body)

/* Planes b F + f of dy (n, F, OH, OW) -> dM (16, F, T) = A dY A^T (dY
 * read through a zeroed scratch plane when OH or OW is odd). */
NN_SIMD_BODY void grad_output_body(int64_t lo, int64_t hi, void *ctx)
{
    const wino_job *j = ctx;
    const nn_wino_geom *g = j->g;
    const int64_t F = g->F, OH = g->OH, OW = g->OW, TH = g->TH, TW = g->TW, FT = F * j->T;
    const int direct = OH % 2 == 0 && OW % 2 == 0;
    const int64_t ld = direct ? OW : 2 * TW;
    if (!direct)
        memset(j->scratch, 0, (size_t)(2 * TH * ld) * sizeof(float));
    for (int64_t it = lo; it < hi; it++) {
        const int64_t b = it / F, f = it % F;
        const float *dy = j->src + it * OH * OW, *s = dy;
        if (!direct) {
            for (int64_t h = 0; h < OH; h++)
                memcpy(j->scratch + h * ld, dy + h * OW, (size_t)OW * sizeof(float));
            s = j->scratch;
        }
        float *m = j->dst + f * j->T + b * TH * TW;
        for (int64_t th = 0; th < TH; th++) {
            const float *a0 = s + 2 * th * ld, *a1 = a0 + ld;
            float *mt = m + th * TW;
            for (int64_t tw = 0; tw < TW; tw++) {
                float r[4][2];
                for (int x = 0; x < 2; x++) { /* A dY */
                    const float u = a0[2 * tw + x], v = a1[2 * tw + x];
                    r[0][x] = u;
                    r[1][x] = u + v;
                    r[2][x] = u - v;
                    r[3][x] = -v;
                }
                for (int i = 0; i < 4; i++) { /* (A dY) A^T */
                    mt[(4 * i + 0) * FT + tw] = r[i][0];
                    mt[(4 * i + 1) * FT + tw] = r[i][0] + r[i][1];
                    mt[(4 * i + 2) * FT + tw] = r[i][0] - r[i][1];
                    mt[(4 * i + 3) * FT + tw] = -r[i][1];
                }
            }
        }
    }
}
NN_SIMD_RANGE(grad_output_planes, grad_output_body)

/* Planes b C + c of dx (n, C, H, W) = the sum over the tiles, in (th, tw)
 * order, of B dV B^T, dV (16, C, T), accumulated in the padded scratch
 * plane. */
NN_SIMD_BODY void grad_input_body(int64_t lo, int64_t hi, void *ctx)
{
    const wino_job *j = ctx;
    const nn_wino_geom *g = j->g;
    const int64_t C = g->C, H = g->H, W = g->W, p = g->p, TH = g->TH, TW = g->TW, CT = C * j->T;
    const int64_t PW = 2 * TW + 2;
    float *buf = j->scratch;
    for (int64_t it = lo; it < hi; it++) {
        const int64_t b = it / C, c = it % C;
        const float *v = j->src + c * j->T + b * TH * TW;
        memset(buf, 0, (size_t)nn_wino_scratch_floats(g) * sizeof(float));
        for (int64_t th = 0; th < TH; th++) {
            const float *vt = v + th * TW;
            float *r0 = buf + 2 * th * PW, *r1 = r0 + PW, *r2 = r1 + PW, *r3 = r2 + PW;
            for (int64_t tw = 0; tw < TW; tw++) {
                float e[4][4];
                for (int x = 0; x < 4; x++) { /* B dV */
                    const float v0 = vt[x * CT + tw], v1 = vt[(4 + x) * CT + tw];
                    const float v2 = vt[(8 + x) * CT + tw], v3 = vt[(12 + x) * CT + tw];
                    e[0][x] = v0;
                    e[1][x] = v1 - v2 + v3;
                    e[2][x] = v1 + v2 - v0;
                    e[3][x] = -v3;
                }
                float *rows[4] = {r0, r1, r2, r3};
                const int64_t q = 2 * tw;
                for (int i = 0; i < 4; i++) { /* (B dV) B^T */
                    float *r = rows[i] + q;
                    r[0] += e[i][0];
                    r[1] += e[i][1] - e[i][2] + e[i][3];
                    r[2] += e[i][1] + e[i][2] - e[i][0];
                    r[3] += -e[i][3];
                }
            }
        }
        float *dx = j->dst + it * H * W;
        for (int64_t h = 0; h < H; h++)
            memcpy(dx + h * W, buf + (h + p) * PW + p, (size_t)W * sizeof(float));
    }
}
NN_SIMD_RANGE(grad_input_planes, grad_input_body)

void nn_wino_forward(const nn_wino_geom *g, const float *U, const float *bias, const float *x, int64_t n, float *y,
                     float *V, float *M, float *scratch)
{
    const int64_t C = g->C, F = g->F, T = n * g->TH * g->TW;
    wino_job in = {g, x, V, NULL, scratch, T};
    input_planes(0, n * C, &in);
    for (int xi = 0; xi < 16; xi++)
        nn_gemm(0, 0, F, T, C, 1.0f, U + xi * F * C, C, V + xi * C * T, T, 0.0f, M + xi * F * T, T);
    wino_job out = {g, M, y, bias, scratch, T};
    output_planes(0, n * F, &out);
}

void nn_wino_backward(const nn_wino_geom *g, const float *U, const float *x, const float *dy, int64_t n, float *dW,
                      float *dx, float *V, float *M, float *dU, float *scratch)
{
    const int64_t C = g->C, F = g->F, T = n * g->TH * g->TW;
    wino_job in = {g, x, V, NULL, scratch, T};
    input_planes(0, n * C, &in);
    wino_job dm = {g, dy, M, NULL, scratch, T};
    grad_output_planes(0, n * F, &dm);
    for (int xi = 0; xi < 16; xi++)
        nn_gemm(0, 1, F, C, T, 1.0f, M + xi * F * T, T, V + xi * C * T, T, 0.0f, dU + xi * F * C, C);
    grad_weights(g, dU, dW);
    if (!dx)
        return;
    for (int xi = 0; xi < 16; xi++) /* dV into V's place */
        nn_gemm(1, 0, C, T, F, 1.0f, U + xi * F * C, C, M + xi * F * T, T, 0.0f, V + xi * C * T, T);
    wino_job gi = {g, V, dx, NULL, scratch, T};
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
