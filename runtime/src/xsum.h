/* xsum.h — the exact, order-free sum of float vectors that makes
 * data-parallel training independent of the rank count (see
 * nn_parallel_config in nnrun.h).
 *
 * Vectors of V floats are cut into blocks of NN_SHARD_BLOCK values.  A
 * block's exponent e is the largest over all the vectors summed (|x| < 2^e
 * for every x of the block in any of them): an elementwise maximum, exact.
 * Each value then becomes the integer q = round(x 2^(K - e)), |q| <= 2^K,
 * held in a double; with K = min(51, 53 - ceil(log2 S)) for S vectors
 * every partial sum of any subset is an integer of magnitude <= 2^53, so
 * every addition is exact and the sum is the same bits in any order.  The
 * result is rounded to float once: 2^-K of the block's largest value
 * finer than float rounding itself. */
#ifndef NN_XSUM_H
#define NN_XSUM_H

#include <stdint.h>

#include "nnrun.h"

#define NN_XSUM_ZERO INT32_MIN     /* exponent code of an all-zero block  */
#define NN_XSUM_NONFINITE INT32_MAX /* a block holding an inf or NaN      */

/* Blocks of V values. */
static inline int64_t nn_xsum_blocks(int64_t V) { return (V + NN_SHARD_BLOCK - 1) / NN_SHARD_BLOCK; }
/* K for sums of up to S vectors (1 <= S <= NN_MAX_SHARDS). */
int nn_xsum_bits(int S);
/* e[b] = max(e[b], code of block b of v); start from NN_XSUM_ZERO. */
void nn_xsum_exponents(const float *v, int64_t V, int32_t *e);
/* acc[i] += q(v[k stride + i]) for the m vectors k under the exponents e
 * (the maximum over every vector of the sum, on every rank). */
void nn_xsum_add(const float *v, int m, int64_t stride, int64_t V, const int32_t *e, int K, double *acc);
/* out[i] = acc[i] 2^(e - K) rounded to float; NaN in a NONFINITE block. */
void nn_xsum_result(const double *acc, int64_t V, const int32_t *e, int K, float *out);

#endif
