/* layers.h — forward and backward of each layer type, on raw buffers.
 * Shapes are given with every function; all buffers are row-major. */
#ifndef NN_LAYERS_H
#define NN_LAYERS_H

#include <stdint.h>

#include "nnrun.h"

/* y(B,out) = x(B,in) W(out,in)^T + b(out) */
void nn_dense_forward(const float *x, const float *W, const float *b, float *y, int64_t B,
                      int64_t in, int64_t out);
/* dW(out,in) += dy^T x; db(out) += colsum(dy); dx(B,in) = dy W (skipped if
 * dx is NULL). */
void nn_dense_backward(const float *x, const float *W, const float *dy, float *dW, float *db,
                       float *dx, int64_t B, int64_t in, int64_t out);
/* The same; with accumulate == 0, dW and db are overwritten instead. */
void nn_dense_backward_ex(const float *x, const float *W, const float *dy, float *dW, float *db,
                          float *dx, int64_t B, int64_t in, int64_t out, int accumulate);

/* y(B,n) = f(x(B,n)); softmax per row. */
void nn_act_forward(nn_act act, float param, const float *x, float *y, int64_t B, int64_t n);
/* dx(B,n) = dy * f'(x), from the cached x and y of the forward pass.
 * dx may alias dy. */
void nn_act_backward(nn_act act, float param, const float *x, const float *y, const float *dy,
                     float *dx, int64_t B, int64_t n);

#endif
