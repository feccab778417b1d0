/* test_gemm.c — nn_gemm against a double-precision reference, and bitwise
 * identity of its results at 1, 2, 3 and 4 threads, for every kernel set the
 * CPU can run (portable always, AVX2/FMA and AVX-512F when present; the
 * latter on the panel-limit shapes only: test_gemm_isa shows it gives the
 * AVX2 set's bits on every other shape class).
 *
 * Tolerance: each element is a float sum of K products, so its rounding
 * error is at most about K * eps * sum_k |a_ik b_kj| (eps = 2^-24), plus the
 * roundings of alpha*s and beta*c.  We allow 4 * (K + 2) * eps * the same
 * magnitude sum computed in double: a factor of 4 over the worst case bound
 * is loose enough for any summation order and tight enough to catch a wrong
 * index, a lost K block or a missed beta (errors of order 1 relative).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "nnrun.h"

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float frand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

/* A product to run: shapes, transposes, scalars, padded leading dims. */
typedef struct gcase {
    int ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    int pad; /* extra columns in every leading dimension */
} gcase;

typedef struct gdata {
    int64_t lda, ldb, ldc;
    float *A, *B, *C0; /* inputs; C0 = C before the product */
    size_t na, nb, nc;
} gdata;

static void make_data(const gcase *g, gdata *d)
{
    const int64_t arows = g->ta ? g->K : g->M, acols = g->ta ? g->M : g->K;
    const int64_t brows = g->tb ? g->N : g->K, bcols = g->tb ? g->K : g->N;
    d->lda = acols + g->pad;
    d->ldb = bcols + g->pad;
    d->ldc = g->N + g->pad;
    d->na = (size_t)(arows * d->lda) + 1;
    d->nb = (size_t)(brows * d->ldb) + 1;
    d->nc = (size_t)(g->M * d->ldc) + 1;
    d->A = malloc(d->na * sizeof(float));
    d->B = malloc(d->nb * sizeof(float));
    d->C0 = malloc(d->nc * sizeof(float));
    if (!d->A || !d->B || !d->C0) {
        fprintf(stderr, "test_gemm: out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < d->na; i++)
        d->A[i] = frand();
    for (size_t i = 0; i < d->nb; i++)
        d->B[i] = frand();
    for (size_t i = 0; i < d->nc; i++)
        d->C0[i] = g->beta == 0.0f ? NAN : frand();
}

static void free_data(gdata *d)
{
    free(d->A);
    free(d->B);
    free(d->C0);
}

static float *run(const gcase *g, const gdata *d)
{
    float *C = malloc(d->nc * sizeof(float));
    if (!C) {
        fprintf(stderr, "test_gemm: out of memory\n");
        exit(2);
    }
    memcpy(C, d->C0, d->nc * sizeof(float));
    nn_gemm(g->ta, g->tb, g->M, g->N, g->K, g->alpha, d->A, d->lda, d->B, d->ldb, g->beta, C,
            d->ldc);
    return C;
}

static void check_values(const gcase *g, const gdata *d, const float *C, const char *kern)
{
    int reported = 0;
    for (int64_t i = 0; i < g->M; i++) {
        for (int64_t j = 0; j < g->N; j++) {
            double s = 0.0, mag = 0.0;
            for (int64_t k = 0; k < g->K; k++) {
                const double a = g->ta ? d->A[k * d->lda + i] : d->A[i * d->lda + k];
                const double b = g->tb ? d->B[j * d->ldb + k] : d->B[k * d->ldb + j];
                s += a * b;
                mag += fabs(a * b);
            }
            const double c0 = d->C0[i * d->ldc + j];
            double want = (double)g->alpha * s;
            mag = fabs((double)g->alpha) * mag;
            if (g->beta != 0.0f) {
                want += (double)g->beta * c0;
                mag += fabs((double)g->beta * c0);
            }
            const double tol = 4.0 * (double)(g->K + 2) * ldexp(1.0, -24) * mag + 1e-30;
            const double got = C[i * d->ldc + j];
            if (!(fabs(got - want) <= tol) && reported++ < 3)
                CHECK(0, "%s ta=%d tb=%d M=%lld N=%lld K=%lld alpha=%g beta=%g pad=%d: "
                      "C[%lld,%lld] expected %.9g, got %.9g (tol %.3g)",
                      kern, g->ta, g->tb, (long long)g->M, (long long)g->N, (long long)g->K,
                      (double)g->alpha, (double)g->beta, g->pad, (long long)i, (long long)j, want,
                      got, tol);
        }
    }
    /* Padding columns of C and the guard element are never written. */
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = g->N; j < d->ldc; j++)
            if (memcmp(&C[i * d->ldc + j], &d->C0[i * d->ldc + j], sizeof(float)) != 0 &&
                reported++ < 3)
                CHECK(0, "%s M=%lld N=%lld: padding C[%lld,%lld] was written", kern,
                      (long long)g->M, (long long)g->N, (long long)i, (long long)j);
    CHECK(memcmp(&C[d->nc - 1], &d->C0[d->nc - 1], sizeof(float)) == 0,
          "%s: element past C was written", kern);
}

/* The value check at 1 thread, then the same product at 2 .. max_threads
 * threads must give the same bits. */
static void one_case_upto(const gcase *g, const char *kern, int max_threads)
{
    gdata d;
    make_data(g, &d);
    nn_set_threads(1);
    float *ref = run(g, &d);
    check_values(g, &d, ref, kern);
    /* The optional BLAS backend (-DNNRUN_BLAS=ON) is for comparison and
     * does not promise thread-count independent bits. */
    const int deterministic = strcmp(nn_gemm_kernel_name(), "openblas") != 0;
    for (int t = 2; t <= max_threads && deterministic; t++) {
        nn_set_threads(t);
        float *C = run(g, &d);
        CHECK(memcmp(C, ref, d.nc * sizeof(float)) == 0,
              "%s ta=%d tb=%d M=%lld N=%lld K=%lld: result at %d threads differs from 1 thread",
              kern, g->ta, g->tb, (long long)g->M, (long long)g->N, (long long)g->K, t);
        free(C);
    }
    free(ref);
    free_data(&d);
}

static void one_case(const gcase *g, const char *kern) { one_case_upto(g, kern, 4); }

static void all_cases(const char *kern)
{
    /* Odd sizes around the 6 x 16 and 12 x 32 tiles and the 256 K block,
     * the ones and the training shapes (scaled down where the double
     * reference would be slow). */
    static const int64_t Ms[] = {1, 2, 5, 6, 7, 12, 13, 150};
    static const int64_t Ns[] = {1, 3, 15, 16, 17, 31, 33, 100};
    static const int64_t Ks[] = {1, 2, 7, 8, 9, 31, 300};
    const float alphas[] = {1.0f, -0.5f};
    const float betas[] = {0.0f, 1.0f, 0.25f};
    int n = 0;
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
                /* Transposes and scalars rotate so that every combination
                 * meets many shapes without the full product of all. */
                gcase g;
                g.M = Ms[mi];
                g.N = Ns[ni];
                g.K = Ks[ki];
                g.ta = n & 1;
                g.tb = (n >> 1) & 1;
                g.alpha = alphas[(n / 4) % 2];
                g.beta = betas[(n / 3) % 3];
                g.pad = (n % 5 == 0) ? 3 : 0;
                one_case(&g, kern);
                n++;
            }
    /* The training products with their transposes, and blocks larger than
     * one M and one N panel. */
    const gcase big[] = {
        {0, 1, 64, 256, 784, 1.0f, 1.0f, 0},   /* forward x W^T onto the bias */
        {1, 0, 256, 784, 64, 1.0f, 1.0f, 1},   /* dW += dy^T x */
        {0, 0, 64, 784, 256, 1.0f, 0.0f, 0},   /* dx = dy W */
        {1, 1, 300, 2100, 40, -0.5f, 0.25f, 0},
        {1, 0, 1100, 9, 1000, 1.0f, 0.5f, 1}, /* packed A over 4 MB: two row panels */
        {0, 1, 7, 33, 180000, 1.0f, 0.0f, 0},  /* one A sliver over 4 MB: gemm_owned */
    };
    for (size_t s = 0; s < sizeof big / sizeof *big; s++)
        one_case(&big[s], kern);
}

/* The row panels of packed A fit the static workspace for every shape
 * (issue 9, item 1: K = 784 with M = 2665..2670 or 3997..4002, K = 4096
 * with M = 505..510 packed past it).  The plan is checked for every M up
 * to 12000 at the reported K, and near 1..4 panels' worth of rows for many
 * K; then real products at the panel limits (under ASan, make sanitize, a
 * write past the workspace is reported), checked against the reference
 * and across thread counts. */
static void panel_limits(const char *kern)
{
    int64_t cap = 0;
    int mr = 0, nr = 0;
    nn_gemm_kernel_tile(&mr, &nr);
    static const int64_t every_k[] = {784, 4096};
    for (size_t ki = 0; ki < sizeof every_k / sizeof *every_k; ki++)
        for (int64_t M = 1; M <= 12000; M++) {
            const int64_t used = nn_gemm_a_panel_floats(M, every_k[ki], &cap);
            if (used > cap) {
                CHECK(0, "M=%lld K=%lld: a row panel packs %lld floats into a %lld-float workspace",
                      (long long)M, (long long)every_k[ki], (long long)used, (long long)cap);
                break;
            }
        }
    static const int64_t Ks[] = {1, 7, 255, 300, 784, 1000, 1500, 2048, 4096, 10000, 100000, 174762};
    for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
        const int64_t K = Ks[ki];
        nn_gemm_a_panel_floats(1, K, &cap);
        if (cap == 0)
            return; /* the BLAS backend: no workspace */
        const int64_t rows = cap / (mr * K) * mr; /* one panel's rows */
        for (int64_t p = 1; p <= 4; p++)
            for (int64_t M = p * rows - 20; M <= p * rows + 20; M++) {
                const int64_t used = nn_gemm_a_panel_floats(M, K, &cap);
                CHECK(M < 1 || used <= cap, "M=%lld K=%lld: a row panel packs %lld floats into %lld",
                      (long long)M, (long long)K, (long long)used, (long long)cap);
            }
    }
    static const int64_t run_k[] = {784, 4096};
    int n = 0;
    for (size_t ki = 0; ki < sizeof run_k / sizeof *run_k; ki++) {
        const int64_t rows = cap / (mr * run_k[ki]) * mr;
        for (int64_t p = 1; p <= 3; p++) {
            const int64_t Ms[] = {p * rows, p * rows + 1, p * rows + 7};
            for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++, n++) {
                const gcase g = {n & 1, (n >> 1) & 1, Ms[mi], 5, run_k[ki], 1.0f,
                                 (n % 3) ? 0.0f : 0.5f, 0};
                one_case_upto(&g, kern, 2);
            }
        }
    }
}

/* K == 0 and alpha == 0: C = beta * C and A, B (here NaN) are not read;
 * M or N == 0: nothing is touched. */
static void edge_cases(void)
{
    float A[12], B[12], C[12];
    for (int i = 0; i < 12; i++) {
        A[i] = NAN;
        B[i] = NAN;
        C[i] = (float)i;
    }
    nn_gemm(0, 0, 3, 4, 0, 1.0f, A, 1, B, 4, 2.0f, C, 4);
    for (int i = 0; i < 12; i++)
        CHECK(C[i] == 2.0f * (float)i, "K=0 beta=2: C[%d] = %g", i, (double)C[i]);
    nn_gemm(0, 0, 3, 4, 3, 0.0f, A, 3, B, 4, 1.0f, C, 4);
    for (int i = 0; i < 12; i++)
        CHECK(C[i] == 2.0f * (float)i, "alpha=0 beta=1: C[%d] = %g", i, (double)C[i]);
    for (int i = 0; i < 12; i++)
        C[i] = NAN;
    nn_gemm(1, 1, 3, 4, 0, 1.0f, A, 3, B, 1, 0.0f, C, 4);
    for (int i = 0; i < 12; i++)
        CHECK(C[i] == 0.0f && !signbit(C[i]), "K=0 beta=0 over NaN: C[%d] = %g", i, (double)C[i]);
    for (int i = 0; i < 12; i++)
        C[i] = (float)i;
    nn_gemm(0, 0, 0, 4, 3, 1.0f, A, 3, B, 4, 0.0f, C, 4);
    nn_gemm(0, 0, 3, 0, 3, 1.0f, A, 3, B, 4, 0.0f, C, 4);
    for (int i = 0; i < 12; i++)
        CHECK(C[i] == (float)i, "M or N = 0 wrote C[%d] = %g", i, (double)C[i]);
    CHECK(nn_gemm_reserve(1024, 1024, 1024) == NN_OK, "reserve failed");
}

/* nn_gemm_bias: the bits of C filled with the bias rows and then nn_gemm
 * with alpha = beta = 1, at 1 to 4 threads, whatever C held (NaN here:
 * it must not be read), on tiny (unpacked), edge-tile, several-K-block and
 * K = 0 shapes, with padded leading dimensions. */
static void bias_cases(const char *kern)
{
    static const int64_t shapes[][3] = {{1, 1, 1},    {3, 5, 4},     {13, 17, 9},  {64, 256, 784},
                                        {25, 33, 257}, {150, 100, 512}, {7, 40, 0}, {64, 10, 128}};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int t = 0; t < 4; t++) {
            const gcase g = {t & 1, t >> 1, shapes[si][0], shapes[si][1], shapes[si][2],
                             1.0f,  1.0f,   (int)(si % 3)};
            gdata d;
            make_data(&g, &d);
            float *bias = malloc((size_t)g.N * sizeof(float));
            for (int64_t j = 0; j < g.N; j++)
                bias[j] = frand();
            float *ref = malloc(d.nc * sizeof(float)), *C = malloc(d.nc * sizeof(float));
            memcpy(ref, d.C0, d.nc * sizeof(float));
            for (int64_t i = 0; i < g.M; i++)
                memcpy(ref + i * d.ldc, bias, (size_t)g.N * sizeof(float));
            nn_set_threads(1);
            nn_gemm(g.ta, g.tb, g.M, g.N, g.K, 1.0f, d.A, d.lda, d.B, d.ldb, 1.0f, ref, d.ldc);
            for (int th = 1; th <= 4; th++) {
                memcpy(C, d.C0, d.nc * sizeof(float));
                for (int64_t i = 0; i < g.M; i++)
                    for (int64_t j = 0; j < g.N; j++)
                        C[i * d.ldc + j] = NAN;
                nn_set_threads(th);
                nn_gemm_bias(g.ta, g.tb, g.M, g.N, g.K, d.A, d.lda, d.B, d.ldb, bias, C, d.ldc);
                CHECK(memcmp(C, ref, d.nc * sizeof(float)) == 0,
                      "%s bias ta=%d tb=%d M=%lld N=%lld K=%lld pad=%d at %d threads: not the "
                      "bits of bias rows + nn_gemm",
                      kern, g.ta, g.tb, (long long)g.M, (long long)g.N, (long long)g.K, g.pad, th);
            }
            free(bias);
            free(ref);
            free(C);
            free_data(&d);
        }
    nn_set_threads(1);
}

/* Two host threads in nn_gemm at once: one of them finds the workspace in
 * use and takes the one-thread fallback; both must still get the bits of a
 * lone call. */
static void concurrent_calls(void)
{
    const gcase g = {0, 1, 70, 200, 300, 1.0f, 0.0f, 0};
    gdata d;
    make_data(&g, &d);
    nn_set_threads(2);
    float *ref = run(&g, &d);
    int bad = 0;
#pragma omp parallel num_threads(2) reduction(+ : bad)
    for (int rep = 0; rep < 20; rep++) {
        float *C = run(&g, &d);
        bad += memcmp(C, ref, d.nc * sizeof(float)) != 0;
        free(C);
    }
    CHECK(bad == 0 || strcmp(nn_gemm_kernel_name(), "openblas") == 0,
          "%d of 40 concurrent products differ from a lone one", bad);
    free(ref);
    free_data(&d);
}

/* Edge tiles give the bits of full ones: each product of an M x N corner
 * (edge tiles of every row and column count of the sets: 1, 2, 4, 8 rows, 8,
 * 10, 16, 24 columns) must equal, bit for bit, that corner of the product
 * of the whole 72 x 64 matrices, which runs full tiles there. */
static void edge_tiles_same_bits(const char *kern)
{
    enum { MB = 72, NB = 64, K = 300 };
    static const int64_t corner[][2] = {{64, 10}, {2, 8}, {4, 24}, {8, 16}, {65, 40}, {1, 30}};
    float *A = malloc(sizeof(float) * MB * K), *B = malloc(sizeof(float) * K * NB);
    float *big = malloc(sizeof(float) * MB * NB), *small = malloc(sizeof(float) * MB * NB);
    if (!A || !B || !big || !small) {
        fprintf(stderr, "test_gemm: out of memory\n");
        exit(2);
    }
    for (int i = 0; i < MB * K; i++)
        A[i] = frand();
    for (int i = 0; i < K * NB; i++)
        B[i] = frand();
    nn_set_threads(1);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const int64_t lda = ta ? MB : K, ldb = tb ? K : NB;
            nn_gemm(ta, tb, MB, NB, K, 1.0f, A, lda, B, ldb, 0.0f, big, NB);
            for (size_t c = 0; c < sizeof corner / sizeof *corner; c++) {
                const int64_t M = corner[c][0], N = corner[c][1];
                nn_gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, small, NB);
                int same = 1;
                for (int64_t i = 0; i < M; i++)
                    same &= memcmp(small + i * NB, big + i * NB, sizeof(float) * (size_t)N) == 0;
                CHECK(same, "%s ta=%d tb=%d: the %lld x %lld corner differs from full tiles", kern,
                      ta, tb, (long long)M, (long long)N);
            }
        }
    free(A);
    free(B);
    free(big);
    free(small);
}

int main(void)
{
    edge_cases();
    const char *kerns[] = {"portable", "avx2", "avx512"};
    for (size_t i = 0; i < sizeof kerns / sizeof *kerns; i++) {
        if (nn_gemm_force_kernel(kerns[i]) != 0) {
            printf("test_gemm: kernel %s not available on this CPU, skipped\n", kerns[i]);
            continue;
        }
        /* avx512 gives the bits of avx2 on every shape class
         * (test_gemm_isa); here only its packing at the panel limits. */
        if (strcmp(kerns[i], "avx512") != 0)
            all_cases(kerns[i]);
        panel_limits(kerns[i]);
        bias_cases(kerns[i]);
        edge_tiles_same_bits(kerns[i]);
    }
    nn_gemm_force_kernel(NULL);
    concurrent_calls();
    printf("test_gemm: automatic kernel is %s\n", nn_gemm_kernel_name());
    if (failures) {
        fprintf(stderr, "test_gemm: %d failures\n", failures);
        return 1;
    }
    printf("test_gemm: ok\n");
    return 0;
}
