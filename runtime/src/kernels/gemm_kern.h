/* gemm_kern.h — what the blocked driver (gemm.c) needs from a kernel set.
 *
 * The product is computed in MR x NR register tiles over packed panels:
 *   Ap: an MR-row sliver of op(A) for one K block, stored k-major:
 *       Ap[k*MR + i] = op(A)[i0+i, k0+k], rows past M zero-filled.
 *   Bp: an NR-column sliver of op(B) for one K block, stored k-major:
 *       Bp[k*NR + j] = op(B)[k0+k, j0+j], columns past N zero-filled.
 * Both are 32-byte aligned.
 *
 * Micro-kernel contract (what makes results thread-count independent):
 *   acc[i][j] = sum over k = 0 .. kc-1, in ascending k, of Ap[i] * Bp[j],
 *   starting from 0 (the accumulation of one element never depends on
 *   which tile, thread or edge it sits in); then for i < mr, j < nr:
 *     overwrite:  C[i][j] = alpha * acc
 *     otherwise:  C[i][j] = beta * C[i][j] + alpha * acc
 *   with the multiplications and the addition rounded separately, the same
 *   in the vector and the scalar (edge) epilogue.
 * Each kernel set is internally consistent (the AVX2 one fuses the
 * multiply-adds of the sum, the portable one does not), and the choice of
 * set depends only on the CPU, never on the thread count or the shape.
 */
#ifndef NN_GEMM_KERN_H
#define NN_GEMM_KERN_H

#include <stdint.h>

#define NN_GEMM_MR 6
#define NN_GEMM_NR 16

typedef void (*nn_gemm_ukr_fn)(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc,
                               float alpha, float beta, int overwrite, int mr, int nr);
/* Packs rows [i0, i0+mr) x columns [k0, k0+kc) of op(A) into one sliver
 * (mr <= MR). */
typedef void (*nn_gemm_pack_a_fn)(int ta, const float *A, int64_t lda, int64_t i0, int mr,
                                  int64_t k0, int64_t kc, float *Ap);
/* Packs rows [k0, k0+kc) x columns [j0, j0+n) of op(B) into ceil(n/NR)
 * consecutive slivers of NR * kc floats (a range at once, so that rows of B
 * stored K x N are read contiguously). */
typedef void (*nn_gemm_pack_b_fn)(int tb, const float *B, int64_t ldb, int64_t k0, int64_t kc,
                                  int64_t j0, int64_t n, float *Bp);

typedef struct nn_gemm_kern {
    const char *name;
    nn_gemm_ukr_fn ukr;
    nn_gemm_pack_a_fn pack_a;
    nn_gemm_pack_b_fn pack_b;
} nn_gemm_kern;

/* The portable C kernel set (gemm.c); always available. */
extern const nn_gemm_kern nn_gemm_kern_portable;

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define NN_GEMM_HAVE_AVX2 1
/* AVX2 + FMA kernel set (gemm_avx2.c); use only when the CPU has both. */
extern const nn_gemm_kern nn_gemm_kern_avx2;
#endif

/* The scalar epilogue of the contract above for an mr x nr tile whose sums
 * are in acc (row stride NR).  Kernels use it for edge tiles. */
static inline void nn_gemm_store_edge(const float *acc, float *C, int64_t ldc, float alpha,
                                      float beta, int overwrite, int mr, int nr)
{
    for (int i = 0; i < mr; i++) {
        float *c = C + i * ldc;
        const float *s = acc + i * NN_GEMM_NR;
        if (overwrite) {
            for (int j = 0; j < nr; j++)
                c[j] = alpha * s[j];
        } else {
            for (int j = 0; j < nr; j++) {
                const float bc = beta * c[j];
                const float as = alpha * s[j];
                c[j] = bc + as;
            }
        }
    }
}

#endif
