/* parallel.h — element-wise work split over the OpenMP team.
 *
 * nn_parallel_range(n, grain, fn, ctx) calls fn(lo, hi, ctx) over disjoint
 * contiguous chunks covering [0, n).  Each index belongs to exactly one
 * call, and fn must compute every index on its own (no sums across
 * indices), so the result is the same, bit for bit, for any split and any
 * thread count.  Below 2 * grain indices, or with one thread, it is one
 * serial call: starting a team costs a microsecond or two, more than small
 * loops take.  No allocation; fn must not allocate, call Lua or fail. */
#ifndef NN_PARALLEL_H
#define NN_PARALLEL_H

#include <stdint.h>

typedef void (*nn_range_fn)(int64_t lo, int64_t hi, void *ctx);
void nn_parallel_range(int64_t n, int64_t grain, nn_range_fn fn, void *ctx);

/* Element counts below which element-wise loops stay on one thread. */
#define NN_GRAIN_ELEMENTS 16384

#endif
