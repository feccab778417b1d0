/* gemm_avx2.c — AVX2 + FMA kernel set for the blocked product (see
 * gemm_kern.h for the packed layouts and the micro-kernel contract).
 *
 * Only the functions carry target("avx2,fma"); the file is compiled for the
 * baseline ISA like the rest of the library, and gemm.c calls it only after
 * checking the CPU, so one binary runs on any x86-64.
 */
#include "gemm_kern.h"

#include <stdalign.h>

#ifdef NN_GEMM_HAVE_AVX2

#include "gemm_x86.h"

#define MR NN_GEMM_MR
#define NR NN_GEMM_NR
#define AVX2 NN_TARGET_AVX2

/* The micro-kernel comes in row counts of 6, 4 and 2 and column counts of
 * 16 and 8 (the packed slivers are always 6 x 16): an edge tile runs the
 * smallest that covers it instead of padding to 6 x 16 (M = 64 is ten
 * slivers of 6 and one of 4, N = 10 one of 16).  Every C element is the
 * same fused multiply-add chain acc = fma(a_ik, b_kj, acc) over the K block
 * in ascending k in each of them (and in the AVX-512 set's).  The sums are
 * named variables, from macro lists of rows (an array of them, indexed in
 * loops, ends up on the stack).  The k loop runs four steps per turn: one
 * loop branch and pointer update per 48 multiply-adds, not per 12. */
#define NN_R2(X) X(0) X(1)
#define NN_R4(X) NN_R2(X) X(2) X(3)
#define NN_R6(X) NN_R4(X) X(4) X(5)
#define NN_DECL(i) __m256 c##i##a = _mm256_setzero_ps(), c##i##b = _mm256_setzero_ps();
#define NN_FMA2(i)                                                                                 \
    {                                                                                              \
        const __m256 av = _mm256_broadcast_ss(ak + (i));                                 \
        c##i##a = _mm256_fmadd_ps(av, b0, c##i##a);                                                \
        c##i##b = _mm256_fmadd_ps(av, b1, c##i##b);                                                \
    }
#define NN_FMA1(i) c##i##a = _mm256_fmadd_ps(_mm256_broadcast_ss(ak + (i)), b0, c##i##a);
/* One k step o of the tile: ROWS x (8 * NV) columns. */
#define NN_STEP(ROWS, NV, o)                                                                       \
    do {                                                                                           \
        const float *ak = a + (o) * MR;                                                            \
        const __m256 b0 = _mm256_load_ps(b + (o) * NR);                                            \
        if (NV == 2) {                                                                             \
            const __m256 b1 = _mm256_load_ps(b + (o) * NR + 8);                                    \
            ROWS(NN_FMA2)                                                                          \
        } else {                                                                                   \
            ROWS(NN_FMA1)                                                                          \
        }                                                                                          \
    } while (0)
/* The epilogue of row i (see gemm_kern.h) from its sums x0 (columns 0..7)
 * and x1 (8..15; not stored when nv, the kernel's NV, is 1).  A factor of 1 is left out:
 * x * 1 is x exactly, so the bits are those of the product with it. */
#define NN_STORE(i, x0, x1)                                                                        \
    {                                                                                              \
        float *ci = C + (i) * ldc;                                                                 \
        __m256 r0 = x0, r1 = x1;                                                                   \
        if (!unit_a) {                                                                             \
            r0 = _mm256_mul_ps(va, r0);                                                            \
            r1 = _mm256_mul_ps(va, r1);                                                            \
        }                                                                                          \
        if (!overwrite) {                                                                          \
            __m256 d0 = _mm256_loadu_ps(ci), d1 = nv == 2 ? _mm256_loadu_ps(ci + 8) : r1;          \
            if (!unit_b) {                                                                         \
                d0 = _mm256_mul_ps(vb, d0);                                                        \
                d1 = _mm256_mul_ps(vb, d1);                                                        \
            }                                                                                      \
            r0 = _mm256_add_ps(d0, r0);                                                            \
            r1 = _mm256_add_ps(d1, r1);                                                            \
        }                                                                                          \
        _mm256_storeu_ps(ci, r0);                                                                  \
        if (nv == 2)                                                                               \
            _mm256_storeu_ps(ci + 8, r1);                                                          \
    }
#define NN_FULL(i) NN_STORE(i, c##i##a, c##i##b)
#define NN_SAVE(i)                                                                                 \
    _mm256_store_ps(x + (i) * NR, c##i##a);                                                        \
    _mm256_store_ps(x + (i) * NR + 8, c##i##b);

/* One kernel of ROWS (a row list of `rows`) x (8 * NV) columns. */
#define NN_UKR(name, ROWS, NV, rows)                                                               \
    AVX2 static void name(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc,     \
                          float alpha, float beta, int overwrite, int mr, int nr)                  \
    {                                                                                              \
        ROWS(NN_DECL)                                                                              \
        /* The rows of the C tile are often a power-of-two stride apart,                           \
         * so they compete for the same L1 sets: fetch them while the sum                          \
         * runs. */                                                                                \
        for (int i = 0; i < mr; i++) {                                                             \
            _mm_prefetch((const char *)(C + i * ldc), _MM_HINT_T0);                                \
            _mm_prefetch((const char *)(C + i * ldc + 8 * NV - 1), _MM_HINT_T0);                   \
        }                                                                                          \
        const float *a = Ap, *b = Bp;                                                              \
        int64_t k = 0;                                                                             \
        for (; k + 4 <= kc; k += 4) {                                                              \
            NN_STEP(ROWS, NV, 0);                                                                  \
            NN_STEP(ROWS, NV, 1);                                                                  \
            NN_STEP(ROWS, NV, 2);                                                                  \
            NN_STEP(ROWS, NV, 3);                                                                  \
            a += 4 * MR;                                                                           \
            b += 4 * NR;                                                                           \
        }                                                                                          \
        for (; k < kc; k++) {                                                                      \
            NN_STEP(ROWS, NV, 0);                                                                  \
            a += MR;                                                                               \
            b += NR;                                                                               \
        }                                                                                          \
        const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);                        \
        const int unit_a = alpha == 1.0f, unit_b = beta == 1.0f, nv = NV;                          \
        if (mr == rows && nr == 8 * NV) {                                                          \
            ROWS(NN_FULL)                                                                          \
            return;                                                                                \
        }                                                                                          \
        alignas(32) float x[rows * NR];                                                            \
        ROWS(NN_SAVE)                                                                              \
        nn_gemm_store_edge(x, NR, C, ldc, alpha, beta, overwrite, mr, nr);                         \
    }

NN_UKR(ukr_6x16, NN_R6, 2, 6)
NN_UKR(ukr_4x16, NN_R4, 2, 4)
NN_UKR(ukr_2x16, NN_R2, 2, 2)
NN_UKR(ukr_6x8, NN_R6, 1, 6)
NN_UKR(ukr_4x8, NN_R4, 1, 4)
NN_UKR(ukr_2x8, NN_R2, 1, 2)

#undef NN_UKR
#undef NN_R2
#undef NN_R4
#undef NN_R6
#undef NN_DECL
#undef NN_FMA2
#undef NN_FMA1
#undef NN_STEP
#undef NN_STORE
#undef NN_FULL
#undef NN_SAVE

AVX2 static void ukr_avx2(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc,
                          float alpha, float beta, int overwrite, int mr, int nr)
{
    if (nr > 8) {
        if (mr > 4)
            ukr_6x16(kc, Ap, Bp, C, ldc, alpha, beta, overwrite, mr, nr);
        else if (mr > 2)
            ukr_4x16(kc, Ap, Bp, C, ldc, alpha, beta, overwrite, mr, nr);
        else
            ukr_2x16(kc, Ap, Bp, C, ldc, alpha, beta, overwrite, mr, nr);
    } else if (mr > 4) {
        ukr_6x8(kc, Ap, Bp, C, ldc, alpha, beta, overwrite, mr, nr);
    } else if (mr > 2) {
        ukr_4x8(kc, Ap, Bp, C, ldc, alpha, beta, overwrite, mr, nr);
    } else {
        ukr_2x8(kc, Ap, Bp, C, ldc, alpha, beta, overwrite, mr, nr);
    }
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
