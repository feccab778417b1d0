/* winograd.h — 3x3 convolutions (stride 1, dilation 1, any padding) on
 * Winograd's F(2x2, 3x3): 16 products of 2.25x fewer multiplies than
 * im2col's one.
 *
 * The output is cut into 2x2 tiles, TH = ceil(OH / 2) by TW = ceil(OW / 2)
 * per sample, T1 = TH TW; tile (th, tw) reads the 4x4 input patch at rows
 * 2 th - p .. 2 th - p + 3 and columns 2 tw - p .. (zeros outside the
 * image).  With the transform matrices
 *   G (4x3) = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   B^T (4x4) = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 *   A^T (2x4) = [1 1 1 0; 0 1 -1 -1]:
 *   U = G g G^T per (f, c)                   laid out U [16][F][C]
 *   V = B^T d B per (c, tile)                laid out V [16][C][T]
 *   M_xi (F, T) = U_xi (F, C) V_xi (C, T)    16 products, xi = 4 i + j
 *   y tile = A^T M A + bias (outputs past OH / OW dropped)
 * for a chunk of n samples, T = n T1, tile t = b T1 + th TW + tw.
 * Backward, with dM = A dY A^T (dY 2x2, zeros past OH / OW):
 *   dV_xi (C, T) = U_xi^T dM_xi,  dx = sum over tiles of B dV B^T
 *   dU_xi (F, C) = dM_xi V_xi^T,  dW = G^T dU G
 *
 * Every function runs on the calling thread (nn_gemm inside a parallel
 * region runs on that one thread), each output element summed in a fixed
 * order (dx: the tiles in (th, tw) order); no allocation.  Weights w are
 * (F, C, 3, 3) as conv2d keeps them.
 */
#ifndef NN_WINOGRAD_H
#define NN_WINOGRAD_H

#include <stdint.h>

typedef struct nn_wino_geom {
    int64_t C, H, W, F, p; /* input per sample, filters, padding          */
    int64_t OH, OW;        /* output: H + 2 p - 2, W + 2 p - 2 (>= 1)      */
    int64_t TH, TW;        /* tiles per sample: ceil(OH / 2), ceil(OW / 2) */
} nn_wino_geom;

nn_wino_geom nn_wino_geom_of(int64_t C, int64_t H, int64_t W, int64_t F, int64_t p);

/* Floats of V and of M for n samples (each stream, one per xi, a little
 * longer than its C n T1 or F n T1 values), and of the scratch the chunk
 * functions need. */
int64_t nn_wino_v_floats(const nn_wino_geom *g, int64_t n);
int64_t nn_wino_m_floats(const nn_wino_geom *g, int64_t n);
int64_t nn_wino_scratch_floats(const nn_wino_geom *g);

/* U (16, F, C) = G g G^T of the weights w (F, C, 3, 3). */
void nn_wino_weights(const nn_wino_geom *g, const float *w, float *U);

/* y (n, F, OH, OW) = conv(x (n, C, H, W)) + bias (F) through U; V and M
 * (nn_wino_v_floats, nn_wino_m_floats for n samples or more) are the
 * chunk's buffers. */
void nn_wino_forward(const nn_wino_geom *g, const float *U, const float *bias, const float *x, int64_t n, float *y,
                     float *V, float *M, float *scratch);

/* From x (n, C, H, W) and dy (n, F, OH, OW): dU (16, F, C) = (accumulate
 * ? dU : 0) + this chunk's transformed weight gradient; when dx is not
 * NULL, dx (n, C, H, W) = the input gradient (overwritten).  V, M and
 * scratch as in forward.  The bias gradient is nn_conv_gather's. */
void nn_wino_backward(const nn_wino_geom *g, const float *U, const float *x, const float *dy, int64_t n, float *dU,
                      int accumulate, float *dx, float *V, float *M, float *scratch);

/* dW (F, C, 3, 3) = G^T dU G of dU (16, F, C). */
void nn_wino_grad_weights(const nn_wino_geom *g, const float *dU, float *dW);

/* Which path conv2d takes for a 3x3 stride-1 convolution: NN_CONV_AUTO
 * (by the shapes), NN_CONV_IM2COL or NN_CONV_WINOGRAD.  The environment
 * variable NNRUN_CONV=im2col|winograd, read at the first call, forces one
 * (any other value: automatic). */
enum { NN_CONV_AUTO, NN_CONV_IM2COL, NN_CONV_WINOGRAD };
int nn_conv_mode(void);

/* For tests and benchmarks: force a mode for the layers set up from now
 * on (a negative one restores NNRUN_CONV's or the automatic choice).  Not
 * thread-safe. */
void nn_conv_force_mode(int mode);

#endif
