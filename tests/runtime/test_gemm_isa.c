/* test_gemm_isa.c — the AVX-512 and AVX2 kernel sets give the same bits
 * (gemm.h promises it): the same products, every shape class (full and
 * edge tiles of both, several K blocks, transposes, beta 0 / 1 / other,
 * padded leading dimensions, two row panels of packed A), at 1 and 2
 * threads, compared with memcmp.  Also NNRUN_KERNEL: it picks the set.
 * Exit 77 (ctest SKIP) on a CPU or OS without AVX-512F or AVX2. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "nnrun.h"
#include "testutil.h"

static float *fill(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "test_gemm_isa: out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)tu_uniform(-1.0, 1.0);
    return p;
}

static void compare(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, float beta,
                    int pad)
{
    const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    const size_t na = (size_t)((ta ? K : M) * lda), nb = (size_t)((tb ? N : K) * ldb);
    const size_t nc = (size_t)(M * ldc);
    float *A = fill(na), *B = fill(nb), *C0 = fill(nc);
    float *C[2][2];
    const char *sets[2] = {"avx2", "avx512"};
    for (int s = 0; s < 2; s++)
        for (int t = 0; t < 2; t++) {
            nn_gemm_force_kernel(sets[s]);
            nn_set_threads(t + 1);
            C[s][t] = malloc(nc * sizeof(float));
            memcpy(C[s][t], C0, nc * sizeof(float));
            nn_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C[s][t], ldc);
        }
    for (int s = 0; s < 2; s++)
        for (int t = 0; t < 2; t++)
            if (memcmp(C[s][t], C[0][0], nc * sizeof(float)) != 0) {
                tu_failures++;
                int64_t e = 0;
                while (memcmp(&C[s][t][e], &C[0][0][e], sizeof(float)) == 0)
                    e++;
                fprintf(stderr,
                        "ta=%d tb=%d M=%lld N=%lld K=%lld beta=%g pad=%d: %s at %d threads "
                        "differs from avx2 at 1 thread at C[%lld] (%.9g vs %.9g)\n",
                        ta, tb, (long long)M, (long long)N, (long long)K, (double)beta, pad,
                        sets[s], t + 1, (long long)e, (double)C[s][t][e], (double)C[0][0][e]);
            }
    for (int s = 0; s < 2; s++)
        for (int t = 0; t < 2; t++)
            free(C[s][t]);
    free(A);
    free(B);
    free(C0);
}

int main(void)
{
    if (nn_gemm_force_kernel("avx2") != 0 || nn_gemm_force_kernel("avx512") != 0) {
        printf("test_gemm_isa: this CPU or OS lacks AVX2 or AVX-512F: skipped\n");
        return 77;
    }
    /* The automatic choice here would be avx512; NNRUN_KERNEL, read at the
     * first product, overrides it; a name the CPU cannot run does not. */
    nn_gemm_force_kernel(NULL);
    setenv("NNRUN_KERNEL", "avx2", 1);
    if (strcmp(nn_gemm_kernel_name(), "avx2") != 0) {
        fprintf(stderr, "test_gemm_isa: NNRUN_KERNEL=avx2 gave %s\n", nn_gemm_kernel_name());
        tu_failures++;
    }
    if (nn_gemm_force_kernel("avx1024") != -1 || nn_gemm_force_kernel("") != -1) {
        fprintf(stderr, "test_gemm_isa: an unknown kernel name was accepted\n");
        tu_failures++;
    }
    nn_gemm_force_kernel("avx512");
    if (strcmp(nn_gemm_kernel_name(), "avx512") != 0) {
        fprintf(stderr, "test_gemm_isa: forcing avx512 gave %s\n", nn_gemm_kernel_name());
        return 1;
    }
    static const int64_t Ms[] = {1, 6, 11, 12, 13, 25, 64, 150};
    static const int64_t Ns[] = {1, 10, 16, 17, 31, 32, 33, 100, 256};
    static const int64_t Ks[] = {1, 9, 256, 257, 784};
    const float betas[] = {0.0f, 1.0f, 0.25f};
    int n = 0;
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++, n++)
                compare(n & 1, (n >> 1) & 1, Ms[mi], Ns[ni], Ks[ki], (n % 7) ? 1.0f : -0.5f,
                        betas[n % 3], n % 5 == 0 ? 3 : 0);
    /* The training shapes (784-1024-1024-10, batch 256) and two row panels
     * of packed A. */
    compare(0, 1, 256, 1024, 784, 1.0f, 1.0f, 0);
    compare(1, 0, 1024, 784, 256, 1.0f, 1.0f, 0);
    compare(0, 0, 256, 784, 1024, 1.0f, 0.0f, 0);
    compare(0, 1, 256, 10, 1024, 1.0f, 1.0f, 0);
    compare(1, 0, 2700, 20, 784, 1.0f, 0.0f, 1);
    nn_gemm_force_kernel(NULL);
    printf("test_gemm_isa: avx2 and avx512 agree bit for bit on %d products\n", n + 5);
    return tu_failures ? 1 : 0;
}
