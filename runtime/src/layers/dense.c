/* dense.c — fully connected layer.
 *
 * y(B,out) = x(B,in) W(out,in)^T + b
 * backward: dx = dy W; dW += dy^T x; db += colsum(dy)
 */
#include "layers.h"

#include "../kernels/gemm.h"

void nn_dense_forward(const float *x, const float *W, const float *b, float *y, int64_t B,
                      int64_t in, int64_t out)
{
    /* Start every row from the bias, then accumulate the product onto it. */
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < out; j++)
            y[i * out + j] = b[j];
    nn_gemm(0, 1, B, out, in, 1.0f, x, in, W, in, 1.0f, y, out);
}

void nn_dense_backward(const float *x, const float *W, const float *dy, float *dW, float *db,
                       float *dx, int64_t B, int64_t in, int64_t out)
{
    nn_gemm(1, 0, out, in, B, 1.0f, dy, out, x, in, 1.0f, dW, in);
    /* Column sums in ascending row order: the same for any thread count. */
    for (int64_t i = 0; i < B; i++)
        for (int64_t j = 0; j < out; j++)
            db[j] += dy[i * out + j];
    if (dx)
        nn_gemm(0, 0, B, in, out, 1.0f, dy, out, W, in, 0.0f, dx, in);
}
