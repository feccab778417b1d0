/* conv.h — the data movement around the convolutions' products: im2col,
 * col2im, and the layout changes between a batch of images and the
 * products' matrices.  The products themselves are nn_gemm's.
 *
 * Geometry of one convolution (every count >= 1, output size >= 1):
 *   input x (B, C, H, W), kernel k x k, stride s, padding p (zeros on every
 *   side), dilation d; output (B, F, OH, OW), P = OH OW, K = C k k.
 * The column matrix of a batch, col (K, B P): row r = (c k + ki) k + kj,
 * column b P + oh OW + ow holds x[b, c, oh s - p + ki d, ow s - p + kj d]
 * (0 outside the image).  Then the forward product is
 *   Yt (F, B P) = W (F, K) col (K, B P)
 * and Yt holds the output channel-major over the whole batch ("CNHW"),
 * which nn_conv_scatter turns into y (B, F, P).
 *
 * Every function here runs on the calling thread, each output element
 * summed in a fixed order; conv2d.c splits a batch into chunks of samples
 * and deals those out to the team.  No allocation.
 */
#ifndef NN_CONV_H
#define NN_CONV_H

#include <stdint.h>

typedef struct nn_conv_geom {
    int64_t C, H, W;     /* input, per sample                  */
    int64_t k, s, p, d;  /* kernel, stride, padding, dilation  */
    int64_t OH, OW;      /* output, per sample                 */
} nn_conv_geom;

/* col (K, ldc) columns [c0, c0 + n P) = im2col of samples x (n, C, H, W)
 * (ldc >= c0 + n P; col points at column 0). */
void nn_im2col(const nn_conv_geom *g, const float *x, int64_t n, float *col, int64_t ldc, int64_t c0);

/* dx (n, C, H, W) = col2im of dcol (K, n P): each input element the sum,
 * over the kernel positions in (ki, kj) order and the outputs in (oh, ow)
 * order, of the dcol entries that read it.  Overwrites dx. */
void nn_col2im(const nn_conv_geom *g, const float *dcol, int64_t n, float *dx);

/* y (B, F, P) = Yt (F, B P) + bias (F) (bias may be NULL). */
void nn_conv_scatter(const float *Yt, const float *bias, float *y, int64_t B, int64_t F, int64_t P);

/* dYt (F, B P) = dy (B, F, P) rearranged; db (F) = (accumulate ? db : 0) +
 * the sum of dy over b and p (per sample in float, those in double, b
 * ascending).  Either of dYt and db may be NULL. */
void nn_conv_gather(const float *dy, float *dYt, float *db, int64_t B, int64_t F, int64_t P, int accumulate);

#endif
