/* gemm.h — the one matrix product every layer goes through.
 *
 *   C(M,N) = alpha * op(A)(M,K) * op(B)(K,N) + beta * C
 *
 * Row-major.  op(A) = A when ta == 0 (A stored M x K, leading dimension lda),
 * A^T when ta != 0 (A stored K x M).  Likewise op(B) with tb (B stored K x N,
 * or N x K when transposed).  beta == 0 overwrites C without reading it (so
 * NaN in C does not propagate).  M, N, K >= 0; K == 0 or alpha == 0 gives
 * C = beta*C without reading A or B (as BLAS does).
 *
 * Determinism contract: every C element is computed by exactly one thread,
 * summing over k in an order that does not depend on the thread count, so the
 * result is bitwise identical for any nn_set_threads() value.
 * (The optional comparison backend, -DNNRUN_BLAS=ON, calls OpenBLAS and
 * does not carry this promise.)
 * Allocation contract: nn_gemm never allocates and never fails: its packed
 * panels live in static buffers (see gemm.c), so the training step
 * allocates nothing.  nn_gemm_reserve stays for callers that size things up
 * front; it has nothing to do.
 * Thread safety: may be called from several host threads at once (a call
 * that finds the workspace busy computes the same bits on one thread).
 *
 * The three products of training for a dense layer y = x W^T + b:
 *   forward   y(B,out)  = x(B,in) W(out,in)^T      ta=0 tb=1
 *   backward  dx(B,in)  = dy(B,out) W(out,in)      ta=0 tb=0
 *             dW(out,in) += dy(B,out)^T x(B,in)    ta=1 tb=0, beta=1
 */
#ifndef NN_GEMM_H
#define NN_GEMM_H

#include <stdint.h>

#include "nnrun.h"

void nn_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
             int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* C(M,N) = op(A) op(B) + bias, bias (N floats) added to every row: the
 * same bits as filling every row of C with bias and calling nn_gemm with
 * alpha = beta = 1 (each element is bias[j] + the first K block's sum, then
 * the later blocks' sums, as there), without a pass of its own over C:
 * each tile gets its bias from the thread that computes it, just before
 * its first K block.  C is not read.  The dense layer's forward product. */
void nn_gemm_bias(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                  const float *B, int64_t ldb, const float *bias, float *C, int64_t ldc);

/* Makes sure that products up to these sizes need no allocation inside
 * nn_gemm (always true: returns NN_OK). */
nn_status nn_gemm_reserve(int64_t M, int64_t N, int64_t K);

/* Name of the kernel in use ("portable", "avx2", "avx512", "openblas"),
 * for logs and benchmarks.  The automatic choice is the best set the CPU
 * (and, for AVX-512, the OS) supports, unless the environment variable
 * NNRUN_KERNEL, read at the first product, names another set it supports
 * (an unknown or unsupported name leaves the automatic choice: check this
 * name).  avx2 and avx512 give the same bits; portable (no fused
 * multiply-add) differs from them in the last bits. */
const char *nn_gemm_kernel_name(void);

/* The vector ISA of the kernel set in use: 2 avx512, 1 avx2, 0 portable
 * (the BLAS backend too: then the set nn_gemm would use); the
 * element-wise loops follow it (simd.h). */
int nn_gemm_isa(void);

/* The register tile (rows, columns) of the kernel set in use. */
void nn_gemm_kernel_tile(int *mr, int *nr);

/* For tests and benchmarks: use kernel set "portable", "avx2" or "avx512"
 * instead of the automatic one; NULL restores the automatic choice.
 * Returns -1 (and changes nothing) for an unknown name or one the CPU or
 * OS cannot run.  Not thread-safe: call it while no product runs.  Ignored
 * by the BLAS backend. */
int nn_gemm_force_kernel(const char *name);

/* For tests: how many floats of the static A workspace (its size in
 * *capacity) the largest row panel of an M x K product packs; 0 when the
 * product does not use it (the BLAS backend, or K too large for one
 * sliver). */
int64_t nn_gemm_a_panel_floats(int64_t M, int64_t K, int64_t *capacity);

#endif
