/* dense.c — fully connected layer.
 *
 * y(B,out) = x(B,in) W(out,in)^T + b
 * backward: dx = dy W; dW += dy^T x; db += colsum(dy)
 *           (or dW = dy^T x; db = colsum(dy) when not accumulating, which
 *           spares the trainer clearing the gradients every step)
 */
#include <string.h>

#include "layers.h"

#include "../kernels/gemm.h"
#include "../kernels/parallel.h"

typedef struct bias_job {
    const float *b, *dy;
    float *y, *db;
    int64_t B, out;
    int accumulate;
} bias_job;

/* Rows [lo, hi) of y start from the bias. */
static void bias_rows(int64_t lo, int64_t hi, void *ctx)
{
    const bias_job *j = ctx;
    for (int64_t i = lo; i < hi; i++)
        memcpy(j->y + i * j->out, j->b, (size_t)j->out * sizeof(float));
}

/* Columns [lo, hi) of colsum(dy), each summed over rows in ascending order:
 * the same for any split. */
static void bias_cols(int64_t lo, int64_t hi, void *ctx)
{
    const bias_job *j = ctx;
    float *db = j->db;
    if (!j->accumulate)
        for (int64_t c = lo; c < hi; c++)
            db[c] = 0.0f;
    for (int64_t i = 0; i < j->B; i++) {
        const float *row = j->dy + i * j->out;
        for (int64_t c = lo; c < hi; c++)
            db[c] += row[c];
    }
}

void nn_dense_forward(const float *x, const float *W, const float *b, float *y, int64_t B,
                      int64_t in, int64_t out)
{
    bias_job j = {b, NULL, y, NULL, B, out, 0};
    nn_parallel_range(B, NN_GRAIN_ELEMENTS / out + 1, bias_rows, &j);
    nn_gemm(0, 1, B, out, in, 1.0f, x, in, W, in, 1.0f, y, out);
}

void nn_dense_backward_ex(const float *x, const float *W, const float *dy, float *dW, float *db,
                          float *dx, int64_t B, int64_t in, int64_t out, int accumulate)
{
    nn_gemm(1, 0, out, in, B, 1.0f, dy, out, x, in, accumulate ? 1.0f : 0.0f, dW, in);
    bias_job j = {NULL, dy, NULL, db, B, out, accumulate};
    nn_parallel_range(out, NN_GRAIN_ELEMENTS / (B > 0 ? B : 1) + 1, bias_cols, &j);
    if (dx)
        nn_gemm(0, 0, B, in, out, 1.0f, dy, out, W, in, 0.0f, dx, in);
}

void nn_dense_backward(const float *x, const float *W, const float *dy, float *dW, float *db,
                       float *dx, int64_t B, int64_t in, int64_t out)
{
    nn_dense_backward_ex(x, W, dy, dW, db, dx, B, in, out, 1);
}
