/* bench_reduce.c — the cost per training step of the gradient reduction of
 * data-parallel training (nn_parallel_config), against a plain
 * MPI_Allreduce of floats (what PyTorch DDP or Horovod do, whose result
 * changes with the rank count).
 *
 *   mpirun -np R bench_reduce [--shards S] [--params P ...] [--reps N]
 *
 * Per step and rank, for each gradient size P (default: 235146, the
 * 784-256-128-10 MLP, and 2212, the 64-32-4 one of digits03):
 *   exact   what the trainer does with its S/R local shard gradients: the
 *           block exponents of each, MPI_Allreduce MAX (int32, P/256), the
 *           fixed-point sum of the local shards, MPI_Allreduce SUM
 *           (double, P + S), back to float (xsum.h)
 *   exact-mpi  the two MPI_Allreduce calls of exact alone
 *   float   MPI_Allreduce SUM of one gradient of P floats per rank
 * Median and minimum over --reps steps (default 200), microseconds, from
 * rank 0, after a barrier each step; one JSON line per row on stdout.
 */
#define _POSIX_C_SOURCE 199309L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnrun.h"
#include "xsum.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e6 * (double)t.tv_sec + 1e-3 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, R;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &R);
    int S = 8, reps = 200, np = 0;
    int64_t sizes[8];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shards") == 0 && i + 1 < argc)
            S = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--params") == 0 && i + 1 < argc && np < 8)
            sizes[np++] = atoll(argv[++i]);
    }
    if (np == 0) {
        sizes[np++] = 235146;
        sizes[np++] = 2212;
    }
    if (S < R || S > NN_MAX_SHARDS || reps < 1) {
        if (rank == 0)
            fprintf(stderr, "bench_reduce: need %d <= shards <= %d and reps >= 1\n", R, NN_MAX_SHARDS);
        MPI_Finalize();
        return 2;
    }
    const int k0 = rank * S / R, k1 = (rank + 1) * S / R, m = k1 - k0, K = nn_xsum_bits(S);
    for (int pi = 0; pi < np; pi++) {
        const int64_t P = sizes[pi], blocks = nn_xsum_blocks(P);
        float *v = malloc((size_t)(m * P) * sizeof(float)), *out = malloc((size_t)P * sizeof(float));
        double *acc = malloc((size_t)(P + S) * sizeof(double));
        int32_t *e = malloc((size_t)blocks * sizeof(int32_t));
        double *t_exact = malloc((size_t)reps * sizeof(double)), *t_float = malloc((size_t)reps * sizeof(double));
        double *t_mpi = malloc((size_t)reps * sizeof(double));
        nn_rng rng;
        nn_rng_seed(&rng, (uint64_t)rank + 1);
        for (int64_t i = 0; i < m * P; i++)
            v[i] = (float)(nn_rng_normal(&rng) * 1e-3);
        for (int r = 0; r < reps; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = now_us();
            for (int64_t b = 0; b < blocks; b++)
                e[b] = NN_XSUM_ZERO;
            for (int k = 0; k < m; k++)
                nn_xsum_exponents(v + (int64_t)k * P, P, e);
            double t1 = now_us();
            MPI_Allreduce(MPI_IN_PLACE, e, (int)blocks, MPI_INT32_T, MPI_MAX, MPI_COMM_WORLD);
            double in_mpi = now_us() - t1;
            memset(acc, 0, (size_t)(P + S) * sizeof(double));
            nn_xsum_add(v, m, P, P, e, K, acc);
            t1 = now_us();
            MPI_Allreduce(MPI_IN_PLACE, acc, (int)(P + S), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            in_mpi += now_us() - t1;
            nn_xsum_result(acc, P, e, K, out);
            t_exact[r] = now_us() - t0;
            t_mpi[r] = in_mpi;
            memcpy(out, v, (size_t)P * sizeof(float));
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = now_us();
            MPI_Allreduce(MPI_IN_PLACE, out, (int)P, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            t_float[r] = now_us() - t0;
        }
        qsort(t_exact, (size_t)reps, sizeof(double), cmp_double);
        qsort(t_float, (size_t)reps, sizeof(double), cmp_double);
        qsort(t_mpi, (size_t)reps, sizeof(double), cmp_double);
        if (rank == 0) {
            printf("{\"bench\":\"reduce\",\"impl\":\"exact\",\"ranks\":%d,\"shards\":%d,\"params\":%lld,"
                   "\"median_us\":%.1f,\"min_us\":%.1f}\n",
                   R, S, (long long)P, t_exact[reps / 2], t_exact[0]);
            printf("{\"bench\":\"reduce\",\"impl\":\"exact-mpi\",\"ranks\":%d,\"shards\":%d,\"params\":%lld,"
                   "\"median_us\":%.1f,\"min_us\":%.1f}\n",
                   R, S, (long long)P, t_mpi[reps / 2], t_mpi[0]);
            printf("{\"bench\":\"reduce\",\"impl\":\"float\",\"ranks\":%d,\"shards\":%d,\"params\":%lld,"
                   "\"median_us\":%.1f,\"min_us\":%.1f}\n",
                   R, S, (long long)P, t_float[reps / 2], t_float[0]);
        }
        free(v);
        free(out);
        free(acc);
        free(e);
        free(t_exact);
        free(t_float);
        free(t_mpi);
    }
    MPI_Finalize();
    return 0;
}
