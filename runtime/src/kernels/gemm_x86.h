/* gemm_x86.h — pieces the AVX2 and AVX-512 kernel sets share (x86 only;
 * include after gemm_kern.h, under NN_GEMM_HAVE_AVX2). */
#ifndef NN_GEMM_X86_H
#define NN_GEMM_X86_H

#include <immintrin.h>
#include <stdint.h>

#define NN_TARGET_AVX2 __attribute__((target("avx2,fma")))

/* In-register transpose: on return r[k] holds element k of each input row,
 * i.e. r[k][i] = old r[i][k]. */
NN_TARGET_AVX2 static inline void nn_transpose8(__m256 r[8])
{
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* One sliver of B stored N x K (nr <= w, the set's tile width) into Bp
 * (row stride w, 32-byte aligned rows): 8 x 8 blocks through the transpose,
 * the columns of a last partial block and those past nr one by one. */
NN_TARGET_AVX2 static inline void nn_pack_bt_sliver(const float *B, int64_t ldb, int64_t k0,
                                                    int64_t kc, int64_t j0, int nr, int w,
                                                    float *Bp)
{
    int64_t k = 0;
    const int full = nr / 8 * 8;
    for (; k + 8 <= kc; k += 8) {
        for (int h = 0; h < full; h += 8) {
            __m256 r[8];
            for (int j = 0; j < 8; j++)
                r[j] = _mm256_loadu_ps(B + (j0 + h + j) * ldb + k0 + k);
            nn_transpose8(r);
            for (int q = 0; q < 8; q++)
                _mm256_store_ps(Bp + (k + q) * w + h, r[q]);
        }
        for (int q = 0; q < 8; q++)
            for (int j = full; j < w; j++)
                Bp[(k + q) * w + j] = j < nr ? B[(j0 + j) * ldb + k0 + k + q] : 0.0f;
    }
    for (; k < kc; k++)
        for (int j = 0; j < w; j++)
            Bp[k * w + j] = j < nr ? B[(j0 + j) * ldb + k0 + k] : 0.0f;
}

#endif
