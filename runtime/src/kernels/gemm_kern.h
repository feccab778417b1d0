/* gemm_kern.h — what the blocked driver (gemm.c) needs from a kernel set.
 *
 * The product is computed in MR x NR register tiles over packed panels:
 *   Ap: an MR-row sliver of op(A) for one K block, stored k-major:
 *       Ap[k*MR + i] = op(A)[i0+i, k0+k], rows past M zero-filled.
 *   Bp: an NR-column sliver of op(B) for one K block, stored k-major:
 *       Bp[k*NR + j] = op(B)[k0+k, j0+j], columns past N zero-filled.
 * MR and NR are the set's tile; every Bp sliver is 64-byte aligned (NR is
 * a multiple of 16), Ap slivers only as floats are.
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

/* The tile of the portable and AVX2 sets; each set names its own
 * (mr x nr, at most MR_MAX x NR_MAX), and the driver follows it. */
#define NN_GEMM_MR 6
#define NN_GEMM_NR 16
#define NN_GEMM_MR_MAX 12
#define NN_GEMM_NR_MAX 32

typedef void (*nn_gemm_ukr_fn)(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc,
                               float alpha, float beta, int overwrite, int mr, int nr);
/* Packs rows [i0, i0+mr) x columns [k0, k0+kc) of op(A) into one sliver
 * (mr <= the set's tile rows). */
typedef void (*nn_gemm_pack_a_fn)(int ta, const float *A, int64_t lda, int64_t i0, int mr,
                                  int64_t k0, int64_t kc, float *Ap);
/* Packs rows [k0, k0+kc) x columns [j0, j0+n) of op(B) into ceil(n/NR)
 * consecutive slivers of NR * kc floats (a range at once, so that rows of B
 * stored K x N are read contiguously). */
typedef void (*nn_gemm_pack_b_fn)(int tb, const float *B, int64_t ldb, int64_t k0, int64_t kc,
                                  int64_t j0, int64_t n, float *Bp);

typedef struct nn_gemm_kern {
    const char *name;
    int mr, nr; /* the register tile: MR and NR above, for this set */
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
/* AVX-512F kernel set (gemm_avx512.c), 12 x 32 tiles; use only when the
 * CPU has AVX-512F and the OS saves its registers. */
extern const nn_gemm_kern nn_gemm_kern_avx512;
#endif

/* The scalar epilogue of the contract above for an mr x nr tile whose sums
 * are in acc (row stride lds).  Kernels use it for edge tiles. */
static inline void nn_gemm_store_edge(const float *acc, int lds, float *C, int64_t ldc,
                                      float alpha, float beta, int overwrite, int mr, int nr)
{
    for (int i = 0; i < mr; i++) {
        float *c = C + i * ldc;
        const float *s = acc + i * lds;
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
