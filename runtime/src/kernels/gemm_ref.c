/* gemm_ref.c — straightforward, correct matrix product (see gemm.h).
 * Parallel over rows of C; each element summed by one thread over k in
 * ascending order, so the result does not depend on the thread count. */
#include "gemm.h"

#include "../internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many multiply-adds the product stays on one thread: starting a
 * team costs more than it saves. */
#define PAR_MIN_WORK 32768

static float at(const float *X, int trans, int64_t ld, int64_t r, int64_t c)
{
    return trans ? X[c * ld + r] : X[r * ld + c];
}

/* C row i = alpha * op(A)[i,:] op(B) + beta * C row i */
static void gemm_row(int ta, int tb, int64_t i, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    float *c = C + i * ldc;
    if (tb) {
        /* B stored N x K: each element is a contiguous dot product. */
        for (int64_t j = 0; j < N; j++) {
            const float *b = B + j * ldb;
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++)
                s += at(A, ta, lda, i, k) * b[k];
            c[j] = (beta == 0.0f ? 0.0f : beta * c[j]) + alpha * s;
        }
        return;
    }
    /* B stored K x N: accumulate rows of B into a row of C.  For every j the
     * terms are still added in ascending k. */
    for (int64_t j = 0; j < N; j++)
        c[j] = beta == 0.0f ? 0.0f : beta * c[j];
    for (int64_t k = 0; k < K; k++) {
        const float a = alpha * at(A, ta, lda, i, k);
        const float *b = B + k * ldb;
        for (int64_t j = 0; j < N; j++)
            c[j] += a * b[j];
    }
}

void nn_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
             int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0)
        return;
    int threads = nn_threads();
    if (threads > 1 && M > 1 && M * N * (K > 0 ? K : 1) >= PAR_MIN_WORK) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < M; i++)
            gemm_row(ta, tb, i, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    } else {
        for (int64_t i = 0; i < M; i++)
            gemm_row(ta, tb, i, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
}

nn_status nn_gemm_reserve(int64_t M, int64_t N, int64_t K)
{
    (void)M;
    (void)N;
    (void)K;
    return NN_OK;
}

const char *nn_gemm_kernel_name(void) { return "reference"; }
