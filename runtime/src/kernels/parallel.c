/* parallel.c — see parallel.h. */
#include "parallel.h"

#include "../internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void nn_parallel_range(int64_t n, int64_t grain, nn_range_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    int64_t chunks = n / grain;
    const int threads = nn_threads();
    if (chunks > threads)
        chunks = threads;
    if (chunks < 2) {
        fn(0, n, ctx);
        return;
    }
#pragma omp parallel num_threads((int)chunks)
    {
#ifdef _OPENMP
        const int64_t id = omp_get_thread_num(), team = omp_get_num_threads();
#else
        const int64_t id = 0, team = 1;
#endif
        const int64_t lo = n * id / team, hi = n * (id + 1) / team;
        if (lo < hi)
            fn(lo, hi, ctx);
    }
}
