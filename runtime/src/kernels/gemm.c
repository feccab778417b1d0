/* gemm.c — the blocked, packed, multithreaded matrix product (see gemm.h).
 *
 * Loop nest (Goto/BLIS):
 *   for jc in N by NC                       columns of C
 *     for each K block [k0, k0+kc)           ascending; split depends on K only
 *       pack op(B)[k0.., jc..] into NR-column slivers      (threads share it)
 *       for ic in M by MC
 *         pack op(A)[ic.., k0..] into MR-row slivers       (threads share it)
 *         for each MR x NR tile of the MC x NC block:  micro-kernel
 * Threads split sliver packing and the tiles of each block (contiguous runs
 * of tiles, column-sliver major so a thread reuses its B sliver from L1).
 * The K blocks are never split across threads, and a tile's sum over one
 * K block does not depend on where the tile is: every C element is summed
 * by one thread in the same order whatever the thread count, and the first
 * K block applies beta, the later ones add.
 *
 * Workspace: the packed panels live in static, aligned buffers owned by the
 * call that holds `ws_busy`; nothing is allocated, so nn_gemm never fails.
 * A call that finds the workspace in use (another host thread is inside
 * nn_gemm) runs the same loop nest on one thread over one-sliver panels on
 * its stack; the arithmetic, hence the result, is the same.
 */
#include "gemm.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>

#include "../internal.h"
#include "gemm_kern.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef NNRUN_BLAS
#include <cblas.h>
#endif

#define MR NN_GEMM_MR
#define NR NN_GEMM_NR
/* Blocking (overridable with -D only for tuning experiments).
 * K block: an MR x KC sliver of A (6 KB) and a KC x NR sliver of B (16 KB)
 * stay in L1 while the micro-kernel runs. */
#ifndef KC_MAX
#define KC_MAX 256
#endif
/* M block: the MC x KC panel of A (144 KB) stays in L2. */
#ifndef MC_MAX
#define MC_MAX 144
#endif
/* N block: the KC x NC panel of B (2 MB) stays in L3. */
#ifndef NC_MAX
#define NC_MAX 2048
#endif
/* Products with fewer multiply-adds than this run on one thread: waking a
 * team and three barriers per block cost more than they save. */
#define PAR_MIN_WORK (64 * 64 * 64)
/* Products up to this many multiply-adds skip packing altogether (the tiny
 * layers of e.g. XOR, where call overhead is everything). */
#define TINY_WORK 2048

static alignas(64) float ws_a[MC_MAX * KC_MAX];
static alignas(64) float ws_b[KC_MAX * NC_MAX];
/* A flag, not a float reduction: it only says which call owns ws_a/ws_b. */
static atomic_flag ws_busy = ATOMIC_FLAG_INIT;

/* ---- portable kernel set ------------------------------------------------ */

static void ukr_portable(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc,
                         float alpha, float beta, int overwrite, int mr, int nr)
{
    float acc[MR * NR];
    memset(acc, 0, sizeof acc);
    for (int64_t k = 0; k < kc; k++) {
        const float *a = Ap + k * MR;
        const float *b = Bp + k * NR;
        for (int i = 0; i < MR; i++) {
            const float ai = a[i];
            for (int j = 0; j < NR; j++)
                acc[i * NR + j] += ai * b[j];
        }
    }
    nn_gemm_store_edge(acc, C, ldc, alpha, beta, overwrite, mr, nr);
}

static void pack_a_portable(int ta, const float *A, int64_t lda, int64_t i0, int mr, int64_t k0,
                            int64_t kc, float *Ap)
{
    if (ta) { /* A stored K x M: MR consecutive floats per k */
        for (int64_t k = 0; k < kc; k++) {
            const float *src = A + (k0 + k) * lda + i0;
            float *dst = Ap + k * MR;
            int i = 0;
            for (; i < mr; i++)
                dst[i] = src[i];
            for (; i < MR; i++)
                dst[i] = 0.0f;
        }
        return;
    }
    int i = 0;
    for (; i < mr; i++) {
        const float *src = A + (i0 + i) * lda + k0;
        for (int64_t k = 0; k < kc; k++)
            Ap[k * MR + i] = src[k];
    }
    for (; i < MR; i++)
        for (int64_t k = 0; k < kc; k++)
            Ap[k * MR + i] = 0.0f;
}

static void pack_b_sliver(int tb, const float *B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0,
                          int nr, float *Bp)
{
    if (!tb) { /* B stored K x N: NR consecutive floats per k */
        for (int64_t k = 0; k < kc; k++) {
            const float *src = B + (k0 + k) * ldb + j0;
            float *dst = Bp + k * NR;
            int j = 0;
            for (; j < nr; j++)
                dst[j] = src[j];
            for (; j < NR; j++)
                dst[j] = 0.0f;
        }
        return;
    }
    int j = 0;
    for (; j < nr; j++) {
        const float *src = B + (j0 + j) * ldb + k0;
        for (int64_t k = 0; k < kc; k++)
            Bp[k * NR + j] = src[k];
    }
    for (; j < NR; j++)
        for (int64_t k = 0; k < kc; k++)
            Bp[k * NR + j] = 0.0f;
}

static void pack_b_portable(int tb, const float *B, int64_t ldb, int64_t k0, int64_t kc,
                            int64_t j0, int64_t n, float *Bp)
{
    for (int64_t j = 0; j < n; j += NR)
        pack_b_sliver(tb, B, ldb, k0, kc, j0 + j, (int)(n - j < NR ? n - j : NR), Bp + j * kc);
}

const nn_gemm_kern nn_gemm_kern_portable = {"portable", ukr_portable, pack_a_portable,
                                            pack_b_portable};

/* ---- kernel choice ------------------------------------------------------ */

static const nn_gemm_kern *forced;

static const nn_gemm_kern *kern(void)
{
    if (forced)
        return forced;
#ifdef NN_GEMM_HAVE_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &nn_gemm_kern_avx2;
#endif
    return &nn_gemm_kern_portable;
}

int nn_gemm_force_kernel(const char *name)
{
    if (!name) {
        forced = NULL;
        return 0;
    }
    if (strcmp(name, "portable") == 0) {
        forced = &nn_gemm_kern_portable;
        return 0;
    }
#ifdef NN_GEMM_HAVE_AVX2
    if (strcmp(name, "avx2") == 0) {
        __builtin_cpu_init();
        if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
            return -1;
        forced = &nn_gemm_kern_avx2;
        return 0;
    }
#endif
    return -1;
}

const char *nn_gemm_kernel_name(void)
{
#ifdef NNRUN_BLAS
    return "openblas";
#else
    return kern()->name;
#endif
}

nn_status nn_gemm_reserve(int64_t M, int64_t N, int64_t K)
{
    /* The workspace is static and the blocking bounds every panel, so any
     * size is served without allocation. */
    (void)M;
    (void)N;
    (void)K;
    return NN_OK;
}

/* ---- the products ------------------------------------------------------- */

/* C = beta * C (K == 0 or alpha == 0: A and B are not read). */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    if (beta == 1.0f)
        return;
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            for (int64_t j = 0; j < N; j++)
                c[j] = 0.0f;
        else
            for (int64_t j = 0; j < N; j++)
                c[j] *= beta;
    }
}

/* Unpacked product for tiny shapes: each element one dot product over the
 * whole of K in ascending order, on the calling thread. */
static void gemm_tiny(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    const int64_t ars = ta ? 1 : lda, acs = ta ? lda : 1;
    const int64_t brs = tb ? 1 : ldb, bcs = tb ? ldb : 1;
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        for (int64_t j = 0; j < N; j++) {
            const float *a = A + i * ars;
            const float *b = B + j * bcs;
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++)
                s += a[k * acs] * b[k * brs];
            const float as = alpha * s;
            c[j] = beta == 0.0f ? as : beta * c[j] + as;
        }
    }
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* The loop nest of the file comment over panels wa (mc_max x KC_MAX) and
 * wb (KC_MAX x nc_max), on up to nt threads. */
static void gemm_blocked(const nn_gemm_kern *kr, int nt, float *wa, float *wb, int64_t mc_max,
                         int64_t nc_max, int ta, int tb, int64_t M, int64_t N, int64_t K,
                         float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                         float beta, float *C, int64_t ldc)
{
    const int64_t nkb = (K + KC_MAX - 1) / KC_MAX;
    (void)nt;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int64_t tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        for (int64_t jc = 0; jc < N; jc += nc_max) {
            const int64_t nc = min64(nc_max, N - jc);
            const int64_t njr = (nc + NR - 1) / NR;
            for (int64_t kb = 0; kb < nkb; kb++) {
                /* Near-equal K blocks, a function of K alone. */
                const int64_t k0 = kb * K / nkb, kc = (kb + 1) * K / nkb - k0;
                const int overwrite = kb == 0 && beta == 0.0f;
                const float beta_k = kb == 0 ? beta : 1.0f;
                {
                    const int64_t s0 = njr * tid / nth, s1 = njr * (tid + 1) / nth;
                    if (s1 > s0)
                        kr->pack_b(tb, B, ldb, k0, kc, jc + s0 * NR,
                                   min64(nc, s1 * NR) - s0 * NR, wb + s0 * NR * kc);
                }
#pragma omp barrier
                for (int64_t ic = 0; ic < M; ic += mc_max) {
                    const int64_t mc = min64(mc_max, M - ic);
                    const int64_t nir = (mc + MR - 1) / MR;
                    for (int64_t s = nir * tid / nth; s < nir * (tid + 1) / nth; s++)
                        kr->pack_a(ta, A, lda, ic + s * MR, (int)min64(MR, mc - s * MR), k0, kc,
                                   wa + s * MR * kc);
#pragma omp barrier
                    const int64_t tiles = nir * njr;
                    for (int64_t t = tiles * tid / nth; t < tiles * (tid + 1) / nth; t++) {
                        const int64_t jr = t / nir, ir = t % nir;
                        kr->ukr(kc, wa + ir * MR * kc, wb + jr * NR * kc,
                                C + (ic + ir * MR) * ldc + jc + jr * NR, ldc, alpha, beta_k,
                                overwrite, (int)min64(MR, mc - ir * MR),
                                (int)min64(NR, nc - jr * NR));
                    }
#pragma omp barrier
                }
            }
        }
    }
}

void nn_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
             int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
#ifdef NNRUN_BLAS
    openblas_set_num_threads(nn_threads());
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    return;
#else
    const int64_t work = M * N * K;
    if (work <= TINY_WORK) {
        gemm_tiny(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const nn_gemm_kern *kr = kern();
    if (atomic_flag_test_and_set_explicit(&ws_busy, memory_order_acquire)) {
        alignas(64) float sa[MR * KC_MAX];
        alignas(64) float sb[KC_MAX * NR];
        gemm_blocked(kr, 1, sa, sb, MR, NR, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int nt = nn_threads();
    if (nt < 1 || work < PAR_MIN_WORK)
        nt = 1;
    gemm_blocked(kr, nt, ws_a, ws_b, MC_MAX, NC_MAX, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta,
                 C, ldc);
    atomic_flag_clear_explicit(&ws_busy, memory_order_release);
#endif
}
