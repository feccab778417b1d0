/* gemm_avx2.c — AVX2 + FMA kernel set for the blocked product (see
 * gemm_kern.h for the packed layouts and the micro-kernel contract).
 *
 * Only the functions carry target("avx2,fma"); the file is compiled for the
 * baseline ISA like the rest of the library, and gemm.c calls it only after
 * checking the CPU, so one binary runs on any x86-64.
 */
#include "gemm_kern.h"

#ifdef NN_GEMM_HAVE_AVX2

#include "gemm_x86.h"

#define MR NN_GEMM_MR
#define NR NN_GEMM_NR
#define AVX2 NN_TARGET_AVX2

/* Ctile(6,16) = alpha * Ap(kc,6)^T Bp(kc,16) (+ beta * Ctile): twelve
 * 8-float accumulators, one broadcast of A and two rows of B per k. */
AVX2 static void ukr_avx2(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc,
                          float alpha, float beta, int overwrite, int mr, int nr)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    const float *a = Ap, *b = Bp;
    /* The rows of the C tile are often a power-of-two stride apart, so
     * they compete for the same L1 sets: fetch them while the sum runs. */
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(C + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(C + i * ldc + NR - 1), _MM_HINT_T0);
    }
#define NN_STEP(o)                                                                                 \
    do {                                                                                           \
        const __m256 b0 = _mm256_load_ps(b + (o) * NR), b1 = _mm256_load_ps(b + (o) * NR + 8);      \
        __m256 av = _mm256_broadcast_ss(a + (o) * MR + 0);                                         \
        c00 = _mm256_fmadd_ps(av, b0, c00);                                                        \
        c01 = _mm256_fmadd_ps(av, b1, c01);                                                        \
        av = _mm256_broadcast_ss(a + (o) * MR + 1);                                                \
        c10 = _mm256_fmadd_ps(av, b0, c10);                                                        \
        c11 = _mm256_fmadd_ps(av, b1, c11);                                                        \
        av = _mm256_broadcast_ss(a + (o) * MR + 2);                                                \
        c20 = _mm256_fmadd_ps(av, b0, c20);                                                        \
        c21 = _mm256_fmadd_ps(av, b1, c21);                                                        \
        av = _mm256_broadcast_ss(a + (o) * MR + 3);                                                \
        c30 = _mm256_fmadd_ps(av, b0, c30);                                                        \
        c31 = _mm256_fmadd_ps(av, b1, c31);                                                        \
        av = _mm256_broadcast_ss(a + (o) * MR + 4);                                                \
        c40 = _mm256_fmadd_ps(av, b0, c40);                                                        \
        c41 = _mm256_fmadd_ps(av, b1, c41);                                                        \
        av = _mm256_broadcast_ss(a + (o) * MR + 5);                                                \
        c50 = _mm256_fmadd_ps(av, b0, c50);                                                        \
        c51 = _mm256_fmadd_ps(av, b1, c51);                                                        \
    } while (0)
    for (int64_t k = 0; k < kc; k++) {
        NN_STEP(0);
        a += MR;
        b += NR;
    }
#undef NN_STEP

    if (mr == MR && nr == NR) {
        const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#define NN_ROW(i, x0, x1)                                                                          \
    do {                                                                                           \
        float *c = C + (i) * ldc;                                                                  \
        __m256 r0 = _mm256_mul_ps(va, x0), r1 = _mm256_mul_ps(va, x1);                             \
        if (!overwrite) {                                                                          \
            r0 = _mm256_add_ps(_mm256_mul_ps(vb, _mm256_loadu_ps(c)), r0);                         \
            r1 = _mm256_add_ps(_mm256_mul_ps(vb, _mm256_loadu_ps(c + 8)), r1);                     \
        }                                                                                          \
        _mm256_storeu_ps(c, r0);                                                                   \
        _mm256_storeu_ps(c + 8, r1);                                                               \
    } while (0)
        NN_ROW(0, c00, c01);
        NN_ROW(1, c10, c11);
        NN_ROW(2, c20, c21);
        NN_ROW(3, c30, c31);
        NN_ROW(4, c40, c41);
        NN_ROW(5, c50, c51);
#undef NN_ROW
        return;
    }
    float acc[MR * NR] __attribute__((aligned(32)));
    _mm256_store_ps(acc + 0 * NR, c00);
    _mm256_store_ps(acc + 0 * NR + 8, c01);
    _mm256_store_ps(acc + 1 * NR, c10);
    _mm256_store_ps(acc + 1 * NR + 8, c11);
    _mm256_store_ps(acc + 2 * NR, c20);
    _mm256_store_ps(acc + 2 * NR + 8, c21);
    _mm256_store_ps(acc + 3 * NR, c30);
    _mm256_store_ps(acc + 3 * NR + 8, c31);
    _mm256_store_ps(acc + 4 * NR, c40);
    _mm256_store_ps(acc + 4 * NR + 8, c41);
    _mm256_store_ps(acc + 5 * NR, c50);
    _mm256_store_ps(acc + 5 * NR + 8, c51);
    nn_gemm_store_edge(acc, NR, C, ldc, alpha, beta, overwrite, mr, nr);
}

/* Stores lanes 0..5 of v at p (no masked stores: they are slow on AMD). */
AVX2 static inline void store6(float *p, __m256 v)
{
    _mm_storeu_ps(p, _mm256_castps256_ps128(v));
    _mm_storel_pi((__m64 *)(p + 4), _mm256_extractf128_ps(v, 1));
}

AVX2 static void pack_a_avx2(int ta, const float *A, int64_t lda, int64_t i0, int mr, int64_t k0,
                             int64_t kc, float *Ap)
{
    int64_t k = 0;
    if (ta) { /* A stored K x M: MR consecutive floats per k */
        if (mr == MR)
            for (; k < kc; k++) {
                const float *src = A + (k0 + k) * lda + i0;
                const __m128 lo = _mm_loadu_ps(src);
                const __m128 hi = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(src + 4)));
                _mm_storeu_ps(Ap + k * MR, lo);
                _mm_storel_pi((__m64 *)(Ap + k * MR + 4), hi);
            }
        for (; k < kc; k++) {
            const float *src = A + (k0 + k) * lda + i0;
            for (int i = 0; i < MR; i++)
                Ap[k * MR + i] = i < mr ? src[i] : 0.0f;
        }
        return;
    }
    /* A stored M x K: transpose 8-k blocks of the MR rows.  Each k's 8-lane
     * store spills 2 lanes into the next k's place, which the next store
     * overwrites; the sliver's last k is stored exactly (another thread may
     * be packing the next sliver). */
    if (mr == MR) {
        for (; k + 8 <= kc; k += 8) {
            __m256 r[8];
            for (int i = 0; i < MR; i++)
                r[i] = _mm256_loadu_ps(A + (i0 + i) * lda + k0 + k);
            r[6] = r[7] = _mm256_setzero_ps();
            nn_transpose8(r);
            for (int q = 0; q < 8; q++) {
                if (k + q + 1 < kc)
                    _mm256_storeu_ps(Ap + (k + q) * MR, r[q]);
                else
                    store6(Ap + (k + q) * MR, r[q]);
            }
        }
    }
    for (; k < kc; k++)
        for (int i = 0; i < MR; i++)
            Ap[k * MR + i] = i < mr ? A[(i0 + i) * lda + k0 + k] : 0.0f;
}

AVX2 static void pack_b_avx2(int tb, const float *B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0,
                             int64_t n, float *Bp)
{
    if (tb) {
        for (int64_t j = 0; j < n; j += NR)
            nn_pack_bt_sliver(B, ldb, k0, kc, j0 + j, (int)(n - j < NR ? n - j : NR), NR,
                              Bp + j * kc);
        return;
    }
    /* B stored K x N: walk each row once, left to right, dealing its
     * 16-float pieces to the slivers. */
    const int64_t full = n / NR, rest = n - full * NR;
    for (int64_t k = 0; k < kc; k++) {
        const float *src = B + (k0 + k) * ldb + j0;
        float *dst = Bp + k * NR;
        for (int64_t s = 0; s < full; s++) {
            _mm256_store_ps(dst + s * NR * kc, _mm256_loadu_ps(src + s * NR));
            _mm256_store_ps(dst + s * NR * kc + 8, _mm256_loadu_ps(src + s * NR + 8));
        }
        if (rest) {
            float *d = dst + full * NR * kc;
            const float *sr = src + full * NR;
            for (int j = 0; j < NR; j++)
                d[j] = j < rest ? sr[j] : 0.0f;
        }
    }
}

const nn_gemm_kern nn_gemm_kern_avx2 = {"avx2", MR, NR, ukr_avx2, pack_a_avx2, pack_b_avx2};

#else
/* ISO C forbids an empty translation unit. */
typedef int nn_gemm_avx2_unused;
#endif
