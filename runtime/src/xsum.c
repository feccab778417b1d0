/* xsum.c — the exact sum of float vectors (xsum.h). */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "xsum.h"

int nn_xsum_bits(int S)
{
    int lg = 0;
    while ((1 << lg) < S)
        lg++;
    return 53 - lg < 51 ? 53 - lg : 51;
}

void nn_xsum_exponents(const float *v, int64_t V, int32_t *e)
{
    for (int64_t b = 0, lo = 0; lo < V; b++, lo += NN_SHARD_BLOCK) {
        const int64_t hi = lo + NN_SHARD_BLOCK < V ? lo + NN_SHARD_BLOCK : V;
        /* The magnitude bits of a float order as its magnitude does, and
         * inf and NaN are above every finite value: an integer maximum. */
        uint32_t m = 0;
        for (int64_t i = lo; i < hi; i++) {
            uint32_t u;
            memcpy(&u, &v[i], sizeof u);
            u &= 0x7fffffffu;
            m = u > m ? u : m;
        }
        int32_t code = NN_XSUM_ZERO;
        if (m >= 0x7f800000u) {
            code = NN_XSUM_NONFINITE;
        } else if (m > 0) {
            float f;
            int ex;
            memcpy(&f, &m, sizeof f);
            frexpf(f, &ex); /* every value of the block < 2^ex */
            code = ex;
        }
        e[b] = code > e[b] ? code : e[b];
    }
}

/* Adding then subtracting 1.5 2^52 rounds a double of magnitude <= 2^51 to
 * the nearest integer (ties to even) in the default rounding mode; the
 * runtime is never built with -ffast-math, so the compiler keeps both. */
#define ROUNDER 0x1.8p52

static void add_scaled(const float *restrict x, int64_t n, double scale, double *restrict acc)
{
    for (int64_t i = 0; i < n; i++)
        acc[i] += ((double)x[i] * scale + ROUNDER) - ROUNDER;
}

void nn_xsum_add(const float *v, int m, int64_t stride, int64_t V, const int32_t *e, int K, double *acc)
{
    /* Block by block, every vector into it: the block of acc stays in
     * cache. */
    for (int64_t b = 0, lo = 0; lo < V; b++, lo += NN_SHARD_BLOCK) {
        const int64_t hi = lo + NN_SHARD_BLOCK < V ? lo + NN_SHARD_BLOCK : V;
        if (e[b] == NN_XSUM_ZERO || e[b] == NN_XSUM_NONFINITE)
            continue;
        const double scale = ldexp(1.0, K - e[b]);
        for (int k = 0; k < m; k++)
            add_scaled(v + (int64_t)k * stride + lo, hi - lo, scale, acc + lo);
    }
}

void nn_xsum_result(const double *acc, int64_t V, const int32_t *e, int K, float *out)
{
    for (int64_t b = 0, lo = 0; lo < V; b++, lo += NN_SHARD_BLOCK) {
        const int64_t hi = lo + NN_SHARD_BLOCK < V ? lo + NN_SHARD_BLOCK : V;
        if (e[b] == NN_XSUM_ZERO || e[b] == NN_XSUM_NONFINITE) {
            const float f = e[b] == NN_XSUM_ZERO ? 0.0f : NAN;
            for (int64_t i = lo; i < hi; i++)
                out[i] = f;
            continue;
        }
        const double scale = ldexp(1.0, e[b] - K);
        for (int64_t i = lo; i < hi; i++)
            out[i] = (float)(acc[i] * scale);
    }
}
