/* conv.c — im2col, col2im and the layout changes of the convolutions (see
 * conv.h). */
#include "conv.h"

#include <string.h>


/* Partial sums of the bias gradient (see gather_channels). */
#define LANES 16

/* The outputs o in [*lo, *hi) whose input position o s - p + off lies in
 * [0, n). */
static void valid_range(int64_t n, int64_t s, int64_t p, int64_t off, int64_t nout, int64_t *lo, int64_t *hi)
{
    /* o s >= p - off  and  o s <= n - 1 + p - off */
    const int64_t a = p - off, b = n - 1 + p - off;
    int64_t l = a <= 0 ? 0 : (a + s - 1) / s;
    int64_t h = b < 0 ? 0 : b / s + 1;
    if (h > nout)
        h = nout;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

typedef struct im2col_job {
    const nn_conv_geom *g;
    const float *x;
    int64_t n;
    float *col;
    int64_t ldc, c0;
    const float *dcol;
    float *dx;
} im2col_job;

/* Items r n + b: row r of col for sample b (OH OW contiguous floats). */
static void im2col_items(int64_t lo, int64_t hi, void *ctx)
{
    const im2col_job *j = ctx;
    const nn_conv_geom *g = j->g;
    const int64_t k = g->k, P = g->OH * g->OW, OW = g->OW;
    for (int64_t it = lo; it < hi; it++) {
        const int64_t r = it / j->n, b = it % j->n;
        const int64_t c = r / (k * k), ki = r / k % k, kj = r % k;
        const float *src = j->x + (b * g->C + c) * g->H * g->W;
        float *dst = j->col + r * j->ldc + j->c0 + b * P;
        int64_t w0, w1, h0, h1;
        valid_range(g->W, g->s, g->p, kj * g->d, OW, &w0, &w1);
        valid_range(g->H, g->s, g->p, ki * g->d, g->OH, &h0, &h1);
        /* output (oh, ow) reads input row oh s + ki d - p, column ow s + off */
        const int64_t off = kj * g->d - g->p;
        if (h0 > 0)
            memset(dst, 0, (size_t)(h0 * OW) * sizeof(float));
        if (g->s == 1 && OW == g->W && w1 > w0 && h1 > h0) {
            /* Output rows as long as input rows: rows h0..h1 are one
             * shifted block of the image, from its first element in range
             * to its last (one copy); then the columns outside [w0, w1),
             * which the shift took from the neighbouring rows, are zeroed. */
            const int64_t q0 = h0 * OW + w0, q1 = (h1 - 1) * OW + w1;
            const float *from = src + (h0 + ki * g->d - g->p) * g->W + w0 + off;
            memcpy(dst + q0, from, (size_t)(q1 - q0) * sizeof(float));
        }
        for (int64_t oh = h0; oh < h1; oh++) {
            float *out = dst + oh * OW;
            for (int64_t ow = 0; ow < w0; ow++)
                out[ow] = 0.0f;
            for (int64_t ow = w1; ow < OW; ow++)
                out[ow] = 0.0f;
            if (g->s == 1 && OW == g->W && w1 > w0)
                continue; /* copied above */
            const float *row = src + (oh * g->s - g->p + ki * g->d) * g->W;
            if (g->s == 1) { /* rows of ~14-28 floats: a loop beats memcpy's call */
                const float *in = row + off;
                for (int64_t ow = w0; ow < w1; ow++)
                    out[ow] = in[ow];
            } else {
                for (int64_t ow = w0; ow < w1; ow++)
                    out[ow] = row[ow * g->s + off];
            }
        }
        if (h1 < g->OH)
            memset(dst + h1 * OW, 0, (size_t)((g->OH - h1) * OW) * sizeof(float));
    }
}

void nn_im2col(const nn_conv_geom *g, const float *x, int64_t n, float *col, int64_t ldc, int64_t c0)
{
    const int64_t K = g->C * g->k * g->k;
    im2col_job j = {g, x, n, col, ldc, c0, NULL, NULL};
    im2col_items(0, K * n, &j);
}

/* Planes b C + c of dx, each summed in (ki, kj, oh, ow) order. */
static void col2im_planes(int64_t lo, int64_t hi, void *ctx)
{
    const im2col_job *j = ctx;
    const nn_conv_geom *g = j->g;
    const int64_t k = g->k, P = g->OH * g->OW, OW = g->OW, ld = j->n * P;
    for (int64_t it = lo; it < hi; it++) {
        const int64_t b = it / g->C, c = it % g->C;
        float *dst = j->dx + it * g->H * g->W;
        memset(dst, 0, (size_t)(g->H * g->W) * sizeof(float));
        for (int64_t ki = 0; ki < k; ki++) {
            int64_t h0, h1;
            valid_range(g->H, g->s, g->p, ki * g->d, g->OH, &h0, &h1);
            for (int64_t kj = 0; kj < k; kj++) {
                int64_t w0, w1;
                valid_range(g->W, g->s, g->p, kj * g->d, OW, &w0, &w1);
                const float *src = j->dcol + ((c * k + ki) * k + kj) * ld + b * P;
                for (int64_t oh = h0; oh < h1; oh++) {
                    float *row = dst + (oh * g->s - g->p + ki * g->d) * g->W;
                    const int64_t off = kj * g->d - g->p;
                    const float *in = src + oh * OW;
                    if (g->s == 1)
                        for (int64_t ow = w0; ow < w1; ow++)
                            row[ow + off] += in[ow];
                    else
                        for (int64_t ow = w0; ow < w1; ow++)
                            row[ow * g->s + off] += in[ow];
                }
            }
        }
    }
}

void nn_col2im(const nn_conv_geom *g, const float *dcol, int64_t n, float *dx)
{
    im2col_job j = {g, NULL, n, NULL, 0, 0, dcol, dx};
    col2im_planes(0, n * g->C, &j);
}

typedef struct layout_job {
    const float *src, *bias;
    float *dst, *db;
    int64_t B, F, P;
    int accumulate;
} layout_job;

static void scatter_samples(int64_t lo, int64_t hi, void *ctx)
{
    const layout_job *j = ctx;
    const int64_t F = j->F, P = j->P, BP = j->B * P;
    for (int64_t b = lo; b < hi; b++)
        for (int64_t f = 0; f < F; f++) {
            const float *in = j->src + f * BP + b * P;
            float *out = j->dst + (b * F + f) * P;
            const float bf = j->bias ? j->bias[f] : 0.0f;
            for (int64_t q = 0; q < P; q++)
                out[q] = in[q] + bf;
        }
}

void nn_conv_scatter(const float *Yt, const float *bias, float *y, int64_t B, int64_t F, int64_t P)
{
    layout_job j = {Yt, bias, y, NULL, B, F, P, 0};
    scatter_samples(0, B, &j);
}

static void gather_channels(int64_t lo, int64_t hi, void *ctx)
{
    const layout_job *j = ctx;
    const int64_t F = j->F, P = j->P, BP = j->B * P;
    for (int64_t f = lo; f < hi; f++) {
        double sum = 0.0;
        float *out = j->dst ? j->dst + f * BP : NULL;
        for (int64_t b = 0; b < j->B; b++) {
            const float *in = j->src + (b * F + f) * P;
            if (out) {
                float *o = out + b * P;
                for (int64_t q = 0; q < P; q++)
                    o[q] = in[q];
            }
            if (j->db) {
                /* LANES independent partial sums (a vector's worth, so the
                 * loop vectorises without reordering a sum), then added in
                 * lane order: fixed, whatever the thread count */
                float lane[LANES] = {0};
                int64_t q = 0;
                for (; q + LANES <= P; q += LANES)
                    for (int l = 0; l < LANES; l++)
                        lane[l] += in[q + l];
                for (; q < P; q++)
                    lane[0] += in[q];
                float part = 0.0f;
                for (int l = 0; l < LANES; l++)
                    part += lane[l];
                sum += part;
            }
        }
        if (j->db)
            j->db[f] = (j->accumulate ? j->db[f] : 0.0f) + (float)sum;
    }
}

void nn_conv_gather(const float *dy, float *dYt, float *db, int64_t B, int64_t F, int64_t P, int accumulate)
{
    layout_job j = {dy, NULL, dYt, db, B, F, P, accumulate};
    gather_channels(0, F, &j);
}
