/* gemm_avx512.c — AVX-512F kernel set for the blocked product (see
 * gemm_kern.h for the packed layouts and the micro-kernel contract), on
 * 12 x 32 register tiles: 24 zmm accumulators, two rows of B and twelve
 * broadcasts of A per k (edge tiles on 8- and 4-row, 16-column variants).
 *
 * Same bits as the AVX2 set: each C element is the fused multiply-add
 * chain acc = fma(a_ik, b_kj, acc) over the same K block in ascending k
 * from 0, and the same separately rounded epilogue (alpha * acc, then
 * beta * c + that); the tile shape only changes which elements are computed
 * together, never how one is.  Edge tiles use masked loads and stores, lane
 * for lane the same operations.
 *
 * Only the functions carry target("avx512f"); gemm.c calls them only after
 * checking the CPU and the OS's register state.
 */
#include "gemm_kern.h"

#include <stdalign.h>

#ifdef NN_GEMM_HAVE_AVX2

#include "gemm_x86.h"

#define MR 12
#define NR 32
#define AVX512 __attribute__((target("avx512f,avx2,fma")))

#if MR > NN_GEMM_MR_MAX || NR > NN_GEMM_NR_MAX
#error "the AVX-512 tile exceeds the driver's bounds"
#endif

/* The micro-kernel comes in row counts of 12, 8 and 4 and column counts of
 * 32 and 16 (the packed slivers are always 12 x 32): an edge tile runs the
 * smallest that covers it instead of padding to 12 x 32 (M = 64 is five
 * slivers of 12 and one of 4).  Every C element is the same fused
 * multiply-add chain in each of them.  The sums are named variables, from
 * macro lists of rows (an array of them, indexed in loops, ends up on the
 * stack). */
#define NN_R4(X) X(0) X(1) X(2) X(3)
#define NN_R8(X) NN_R4(X) X(4) X(5) X(6) X(7)
#define NN_R12(X) NN_R8(X) X(8) X(9) X(10) X(11)
#define NN_DECL(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
#define NN_FMA2(i)                                                                                 \
    {                                                                                              \
        const __m512 av = _mm512_set1_ps(a[i]);                                                    \
        c##i##a = _mm512_fmadd_ps(av, b0, c##i##a);                                                \
        c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);                                                \
    }
#define NN_FMA1(i) c##i##a = _mm512_fmadd_ps(_mm512_set1_ps(a[i]), b0, c##i##a);
/* The epilogue of row i (see gemm_kern.h) from its sums x0, x1, columns by
 * the masks m0 (0..15) and m1 (16..31).  A factor of 1 is left out: x * 1
 * is x exactly, so the bits are those of the product with it. */
#define NN_STORE(i, x0, x1)                                                                        \
    {                                                                                              \
        float *ci = C + (i) * ldc;                                                                 \
        __m512 r0 = x0, r1 = x1;                                                                   \
        if (!unit_a) {                                                                             \
            r0 = _mm512_mul_ps(va, r0);                                                            \
            r1 = _mm512_mul_ps(va, r1);                                                            \
        }                                                                                          \
        if (!overwrite) {                                                                          \
            __m512 d0 = _mm512_maskz_loadu_ps(m0, ci), d1 = _mm512_maskz_loadu_ps(m1, ci + 16);    \
            if (!unit_b) {                                                                         \
                d0 = _mm512_mul_ps(vb, d0);                                                        \
                d1 = _mm512_mul_ps(vb, d1);                                                        \
            }                                                                                      \
            r0 = _mm512_add_ps(d0, r0);                                                            \
            r1 = _mm512_add_ps(d1, r1);                                                            \
        }                                                                                          \
        _mm512_mask_storeu_ps(ci, m0, r0);                                                         \
        if (m1)                                                                                    \
            _mm512_mask_storeu_ps(ci + 16, m1, r1);                                                \
    }
#define NN_FULL(i) NN_STORE(i, c##i##a, c##i##b)
#define NN_SAVE(i)                                                                                 \
    _mm512_store_ps(x[i], c##i##a);                                                                \
    _mm512_store_ps(x[i] + 16, c##i##b);

/* One kernel of ROWS (a row list) x (16 * NV) columns. */
#define NN_UKR(name, ROWS, NV, rows)                                                               \
    AVX512 static void name(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc,   \
                            float alpha, float beta, int overwrite, int mr, int nr)                \
    {                                                                                              \
        ROWS(NN_DECL)                                                                              \
        for (int i = 0; i < mr; i++) {                                                             \
            _mm_prefetch((const char *)(C + i * ldc), _MM_HINT_T0);                                \
            _mm_prefetch((const char *)(C + i * ldc + 16 * NV - 1), _MM_HINT_T0);                  \
        }                                                                                          \
        const float *a = Ap, *b = Bp;                                                              \
        for (int64_t k = 0; k < kc; k++) {                                                         \
            const __m512 b0 = _mm512_load_ps(b);                                                   \
            _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);                                 \
            if (NV == 2) {                                                                         \
                const __m512 b1 = _mm512_load_ps(b + 16);                                          \
                _mm_prefetch((const char *)(b + 8 * NR + 16), _MM_HINT_T0);                        \
                ROWS(NN_FMA2)                                                                      \
            } else {                                                                               \
                ROWS(NN_FMA1)                                                                      \
            }                                                                                      \
            a += MR;                                                                               \
            b += NR;                                                                               \
        }                                                                                          \
        const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                        \
        const int unit_a = alpha == 1.0f, unit_b = beta == 1.0f;                                   \
        const unsigned m = nr >= NR ? 0xFFFFFFFFu : (1u << nr) - 1u;                               \
        const __mmask16 m0 = (__mmask16)(m & 0xFFFFu), m1 = (__mmask16)(m >> 16);                  \
        if (mr == rows) {                                                                          \
            ROWS(NN_FULL)                                                                          \
            return;                                                                                \
        }                                                                                          \
        alignas(64) float x[rows][NR];                                                             \
        ROWS(NN_SAVE)                                                                              \
        for (int i = 0; i < mr; i++)                                                               \
            NN_STORE(i, _mm512_load_ps(x[i]), _mm512_load_ps(x[i] + 16))                           \
    }

NN_UKR(ukr_12x32, NN_R12, 2, 12)
NN_UKR(ukr_8x32, NN_R8, 2, 8)
NN_UKR(ukr_4x32, NN_R4, 2, 4)
NN_UKR(ukr_12x16, NN_R12, 1, 12)
NN_UKR(ukr_8x16, NN_R8, 1, 8)
NN_UKR(ukr_4x16, NN_R4, 1, 4)

#undef NN_UKR
#undef NN_R4
#undef NN_R8
#undef NN_R12
#undef NN_DECL
#undef NN_FMA2
#undef NN_FMA1
#undef NN_STORE
#undef NN_FULL
#undef NN_SAVE

AVX512 static void ukr_avx512(int64_t kc, const float *Ap, const float *Bp, float *C,
                              int64_t ldc, float alpha, float beta, int overwrite, int mr, int nr)
{
    if (nr > 16) {
        if (mr > 8)
            ukr_12x32(kc, Ap, Bp, C, ldc, alpha, beta, overwrite, mr, nr);
        else if (mr > 4)
            ukr_8x32(kc, Ap, Bp, C, ldc, alpha, beta, overwrite, mr, nr);
        else
            ukr_4x32(kc, Ap, Bp, C, ldc, alpha, beta, overwrite, mr, nr);
    } else if (mr > 8) {
        ukr_12x16(kc, Ap, Bp, C, ldc, alpha, beta, overwrite, mr, nr);
    } else if (mr > 4) {
        ukr_8x16(kc, Ap, Bp, C, ldc, alpha, beta, overwrite, mr, nr);
    } else {
        ukr_4x16(kc, Ap, Bp, C, ldc, alpha, beta, overwrite, mr, nr);
    }
}

/* 4 x 4 transpose of the rows r[0..3] (r[k][i] = old r[i][k]). */
AVX512 static inline void transpose4(__m128 r[4])
{
    const __m128 t0 = _mm_unpacklo_ps(r[0], r[1]), t1 = _mm_unpackhi_ps(r[0], r[1]);
    const __m128 t2 = _mm_unpacklo_ps(r[2], r[3]), t3 = _mm_unpackhi_ps(r[2], r[3]);
    r[0] = _mm_movelh_ps(t0, t2);
    r[1] = _mm_movehl_ps(t2, t0);
    r[2] = _mm_movelh_ps(t1, t3);
    r[3] = _mm_movehl_ps(t3, t1);
}

AVX512 static void pack_a_avx512(int ta, const float *A, int64_t lda, int64_t i0, int mr,
                                 int64_t k0, int64_t kc, float *Ap)
{
    int64_t k = 0;
    if (ta) { /* A stored K x M: mr consecutive floats per k, zeros after */
        const __mmask16 lm = (__mmask16)((1u << mr) - 1u), sm = (__mmask16)((1u << MR) - 1u);
        for (; k < kc; k++)
            _mm512_mask_storeu_ps(Ap + k * MR, sm,
                                  _mm512_maskz_loadu_ps(lm, A + (k0 + k) * lda + i0));
        return;
    }
    /* A stored M x K: 8-k blocks, rows 0..7 through an 8 x 8 transpose,
     * rows 8..11 through two 4 x 4 ones; every store exact (another thread
     * may be packing the next sliver). */
    if (mr == MR) {
        for (; k + 8 <= kc; k += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = _mm256_loadu_ps(A + (i0 + i) * lda + k0 + k);
            nn_transpose8(r);
            __m128 lo[4], hi[4];
            for (int i = 0; i < 4; i++) {
                const __m256 v = _mm256_loadu_ps(A + (i0 + 8 + i) * lda + k0 + k);
                lo[i] = _mm256_castps256_ps128(v);
                hi[i] = _mm256_extractf128_ps(v, 1);
            }
            transpose4(lo);
            transpose4(hi);
            for (int q = 0; q < 8; q++) {
                _mm256_storeu_ps(Ap + (k + q) * MR, r[q]);
                _mm_storeu_ps(Ap + (k + q) * MR + 8, q < 4 ? lo[q] : hi[q - 4]);
            }
        }
    }
    for (; k < kc; k++)
        for (int i = 0; i < MR; i++)
            Ap[k * MR + i] = i < mr ? A[(i0 + i) * lda + k0 + k] : 0.0f;
}

AVX512 static void pack_b_avx512(int tb, const float *B, int64_t ldb, int64_t k0, int64_t kc,
                                 int64_t j0, int64_t n, float *Bp)
{
    if (tb) {
        for (int64_t j = 0; j < n; j += NR)
            nn_pack_bt_sliver(B, ldb, k0, kc, j0 + j, (int)(n - j < NR ? n - j : NR), NR,
                              Bp + j * kc);
        return;
    }
    /* B stored K x N: walk each row once, left to right, dealing its
     * 32-float pieces to the slivers (the last one masked, zeros after). */
    const int64_t full = n / NR, rest = n - full * NR;
    const unsigned m = (1u << rest) - 1u;
    const __mmask16 m0 = (__mmask16)(m & 0xFFFFu), m1 = (__mmask16)(m >> 16);
    for (int64_t k = 0; k < kc; k++) {
        const float *src = B + (k0 + k) * ldb + j0;
        float *dst = Bp + k * NR;
        for (int64_t s = 0; s < full; s++) {
            _mm512_store_ps(dst + s * NR * kc, _mm512_loadu_ps(src + s * NR));
            _mm512_store_ps(dst + s * NR * kc + 16, _mm512_loadu_ps(src + s * NR + 16));
        }
        if (rest) {
            float *d = dst + full * NR * kc;
            const float *sr = src + full * NR;
            _mm512_store_ps(d, _mm512_maskz_loadu_ps(m0, sr));
            _mm512_store_ps(d + 16, _mm512_maskz_loadu_ps(m1, sr + 16));
        }
    }
}

const nn_gemm_kern nn_gemm_kern_avx512 = {"avx512", MR, NR, ukr_avx512, pack_a_avx512,
                                          pack_b_avx512};

#else
/* ISO C forbids an empty translation unit. */
typedef int nn_gemm_avx512_unused;
#endif
