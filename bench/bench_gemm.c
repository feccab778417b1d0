/* bench_gemm.c — nnrun's built-in nn_gemm against OpenBLAS cblas_sgemm on
 * the same products, at 1 and 2 threads, in one run.
 *
 * Shapes (M, N, K) and transposes: the three products of a 784-256-128-10
 * network at batch 64 as training issues them, then 256^3 and 1024^3.
 * Each measurement: a warm-up, then >= 5 repetitions of a fixed number of
 * calls (calibrated to ~40 ms); GFLOPS = 2 M N K calls / seconds; median,
 * min and max over the repetitions.  The repetitions of the two libraries
 * alternate, with a pause between them so that one library's spinning
 * threads do not eat the other's cores, and so that both see the same
 * background load on a shared machine.
 *
 * Before that, the core check: the same fixed floating-point work on one
 * thread and on each of two threads at once.  Two real cores take the same
 * time; one core (or two hyperthreads of one core) shared by two threads
 * takes twice as long.
 *
 * The FMA peak of this CPU: one thread running independent multiply-add
 * chains in registers (AVX2 and, where the CPU has it, AVX-512), GFLOPS;
 * each GEMM row prints its share of the peak of the ISA its kernel uses.
 * OpenBLAS reports the kernel it chose (openblas_get_corename) and its
 * build (openblas_get_config): run_bench.py starts this program with
 * OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from the environment (they
 * would pin OpenBLAS to older kernels; nnrun does not read them).
 *
 * Output: a table on stdout, JSON lines to --out (bench "gemm", impl
 * "nnrun" / "openblas" in GFLOPS, impl "ratio" = nnrun / openblas, with
 * "kernel" and "peak_share"; bench "peak", impl "avx2" / "avx512"; bench
 * "cores").
 */
#define _POSIX_C_SOURCE 199309L
#include <cblas.h>
#include <string.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"
#include "kernels/gemm.h"
#include "nnrun.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* OpenBLAS's own thread control and self-description (not part of CBLAS). */
void openblas_set_num_threads(int n);
char *openblas_get_corename(void);
char *openblas_get_config(void);

typedef struct shape {
    int ta, tb;
    int64_t M, N, K;
    const char *what;
    double target; /* issue 11: nnrun / openblas at least this */
} shape;

static const shape shapes[] = {
    {0, 1, 64, 256, 784, "fwd 784->256 b64", 0.95},
    {0, 1, 64, 128, 256, "fwd 256->128 b64", 0.95},
    {1, 0, 784, 256, 64, "dW^T 784x256 b64", 0.95},
    {0, 1, 256, 1024, 784, "fwd 784->1024 b256", 0.95},
    {0, 0, 256, 256, 256, "square", 0.0},
    {0, 0, 1024, 1024, 1024, "square", 0.95},
};

static volatile double sink;

/* CPU seconds of the calling thread: on a shared machine they leave out
 * the time this thread was preempted, so 1-thread figures by this clock
 * stay meaningful under load (every 1-thread product runs on the caller;
 * the VM has no cycle counters for perf). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
/* The last peak loop's GFLOPS by cpu_now. */
static double peak_cpu_last;

/* ---- FMA peak ---------------------------------------------------------- */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PEAK_ITERS 20000000L
/* 12 independent chains of FMAs (more than latency x ports). */
__attribute__((target("avx2,fma"))) static double peak_avx2(void)
{
    __m256 a[12];
    const __m256 m = _mm256_set1_ps(0.999999f + 0.0f * (float)sink), c = _mm256_set1_ps(1e-7f);
    for (int j = 0; j < 12; j++)
        a[j] = _mm256_set1_ps((float)j);
    const double t0 = bench_now(), c0 = cpu_now();
    for (long i = 0; i < PEAK_ITERS; i++)
        for (int j = 0; j < 12; j++)
            a[j] = _mm256_fmadd_ps(a[j], m, c);
    const double dt = bench_now() - t0;
    peak_cpu_last = 2.0 * 8 * 12 * (double)PEAK_ITERS / (cpu_now() - c0) / 1e9;
    float out[8];
    for (int j = 1; j < 12; j++)
        a[0] = _mm256_add_ps(a[0], a[j]);
    _mm256_storeu_ps(out, a[0]);
    sink += out[0];
    return 2.0 * 8 * 12 * (double)PEAK_ITERS / dt / 1e9;
}

__attribute__((target("avx512f"))) static double peak_avx512(void)
{
    __m512 a[12];
    const __m512 m = _mm512_set1_ps(0.999999f + 0.0f * (float)sink), c = _mm512_set1_ps(1e-7f);
    for (int j = 0; j < 12; j++)
        a[j] = _mm512_set1_ps((float)j);
    const double t0 = bench_now(), c0 = cpu_now();
    for (long i = 0; i < PEAK_ITERS; i++)
        for (int j = 0; j < 12; j++)
            a[j] = _mm512_fmadd_ps(a[j], m, c);
    const double dt = bench_now() - t0;
    peak_cpu_last = 2.0 * 16 * 12 * (double)PEAK_ITERS / (cpu_now() - c0) / 1e9;
    for (int j = 1; j < 12; j++)
        a[0] = _mm512_add_ps(a[0], a[j]);
    sink += _mm512_reduce_add_ps(a[0]);
    return 2.0 * 16 * 12 * (double)PEAK_ITERS / dt / 1e9;
}
#endif

/* Median single-thread peak GFLOPS of each ISA (0: not on this CPU), by
 * the wall clock and (c2, c512) by the thread's CPU time. */
static void fma_peak(int reps, FILE *out, double *p2, double *p512, double *c2, double *c512)
{
    *p2 = *p512 = *c2 = *c512 = 0.0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    for (int isa = 0; isa < 2; isa++) {
        const int has = isa ? __builtin_cpu_supports("avx512f") : __builtin_cpu_supports("avx2");
        if (!has || !__builtin_cpu_supports("fma"))
            continue;
        double v[32], vc[32];
        for (int r = 0; r < reps; r++) {
            v[r] = isa ? peak_avx512() : peak_avx2();
            vc[r] = peak_cpu_last;
        }
        const bench_stats s = bench_summarise(v, reps), sc = bench_summarise(vc, reps);
        char ex[64];
        snprintf(ex, sizeof ex, "\"cpu_time_median\":%.6g", sc.median);
        bench_json(out, "peak", isa ? "avx512" : "avx2", "shape", "fma chains", -1, 1, s,
                   "GFLOPS", ex);
        *(isa ? p512 : p2) = s.median;
        *(isa ? c512 : c2) = sc.median;
    }
#else
    (void)reps;
    (void)out;
    (void)c2;
    (void)c512;
#endif
}

/* Fixed work that keeps the floating-point units busy (sixteen independent
 * vector multiply-add chains, no memory traffic): two threads on one core,
 * or on the two hyperthreads of one core, share those units and take twice
 * as long; two real cores do not. */
static volatile float work_factor = 0.9999999f;

static double core_work(void)
{
    const float f = work_factor; /* read at run time: the work is not folded */
    float acc[64];
    for (int j = 0; j < 64; j++)
        acc[j] = (float)j;
    for (long i = 0; i < 18000000L; i++)
        for (int j = 0; j < 64; j++)
            acc[j] = acc[j] * f + 1e-7f;
    double s = 0.0;
    for (int j = 0; j < 64; j++)
        s += acc[j];
    return s;
}

/* Returns t(2 threads, 2 units) / t(1 thread, 1 unit): ~1 with two real
 * cores, ~2 when the second core is not really there. */
static double core_check(int reps, FILE *out, bench_stats *s1, bench_stats *s2)
{
    double t1[32], t2[32];
    sink = core_work(); /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        sink = core_work();
        t1[r] = bench_now() - t0;
        t0 = bench_now();
#pragma omp parallel num_threads(2)
        {
            double v = core_work();
#pragma omp critical
            sink += v;
        }
        t2[r] = bench_now() - t0;
    }
    *s1 = bench_summarise(t1, reps);
    *s2 = bench_summarise(t2, reps);
    const double ratio = s2->median / s1->median;
    char extra[128];
    snprintf(extra, sizeof extra, "\"ratio_2x_work_on_2_threads\":%.3f,\"second_core\":\"%s\"",
             ratio, ratio < 1.3 ? "real" : ratio > 1.7 ? "not real" : "partly shared");
    bench_json(out, "cores", "fixed_work", "shape", "1 unit per thread", -1, 1, *s1, "s", NULL);
    bench_json(out, "cores", "fixed_work", "shape", "1 unit per thread", -1, 2, *s2, "s", extra);
    return ratio;
}

static float *rand_buf(size_t n, unsigned seed)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
    }
    uint32_t x = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (float)(x >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

typedef struct prob {
    const shape *s;
    float *A, *B, *C;
    int64_t lda, ldb, ldc;
} prob;

static void call(const prob *p, int blas)
{
    const shape *s = p->s;
    if (blas)
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                    s->tb ? CblasTrans : CblasNoTrans, (int)s->M, (int)s->N, (int)s->K, 1.0f, p->A,
                    (int)p->lda, p->B, (int)p->ldb, 0.0f, p->C, (int)p->ldc);
    else
        nn_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, p->A, p->lda, p->B, p->ldb, 0.0f, p->C,
                p->ldc);
}

/* Number of calls that take about 40 ms (after a warm-up). */
static long calibrate(const prob *p, int blas)
{
    long calls = 1;
    for (;;) {
        const double t0 = bench_now();
        for (long i = 0; i < calls; i++)
            call(p, blas);
        const double dt = bench_now() - t0;
        if (dt > 0.04)
            return calls;
        calls = dt < 0.004 ? calls * 10 : (long)ceil((double)calls * 0.045 / dt);
    }
}

/* GFLOPS by the wall clock; *cpu: by the calling thread's CPU time. */
static double one_rep(const prob *p, int blas, long calls, double *cpu)
{
    const double flop = 2.0 * (double)p->s->M * (double)p->s->N * (double)p->s->K;
    const double t0 = bench_now(), c0 = cpu_now();
    for (long i = 0; i < calls; i++)
        call(p, blas);
    *cpu = flop * (double)calls / (cpu_now() - c0) / 1e9;
    return flop * (double)calls / (bench_now() - t0) / 1e9;
}

/* GFLOPS of both implementations, repetitions interleaved (nnrun, pause,
 * OpenBLAS, pause, ...) so that both see the same background load on a
 * shared machine; the pause lets the other library's idle threads stop
 * spinning (OpenBLAS's spin for up to ~0.1 s). */
static void measure_pair(const prob *p, int reps, bench_stats *ours, bench_stats *ref,
                         bench_stats *ours_cpu, bench_stats *ref_cpu)
{
    double g0[64], g1[64], c0v[64], c1v[64];
    const long c0 = calibrate(p, 0);
    bench_sleep_ms(120);
    const long c1 = calibrate(p, 1);
    for (int r = 0; r < reps; r++) {
        bench_sleep_ms(120);
        g0[r] = one_rep(p, 0, c0, &c0v[r]);
        bench_sleep_ms(120);
        g1[r] = one_rep(p, 1, c1, &c1v[r]);
    }
    *ours = bench_summarise(g0, reps);
    *ref = bench_summarise(g1, reps);
    *ours_cpu = bench_summarise(c0v, reps);
    *ref_cpu = bench_summarise(c1v, reps);
}

int main(int argc, char **argv)
{
    const char *out_path = NULL;
    int reps = 7;
    if (bench_args(argc, argv, &out_path, &reps))
        return 2;
    if (reps > 30)
        reps = 30;
    FILE *out = out_path ? fopen(out_path, "w") : NULL;
    if (out_path && !out) {
        perror(out_path);
        return 1;
    }

    bench_stats c1, c2;
    const double cr = core_check(reps, out, &c1, &c2);
    printf("core check: fixed work %.3f s on 1 thread, %.3f s per thread on 2 threads -> "
           "ratio %.2f: second core %s\n",
           c1.median, c2.median, cr,
           cr < 1.3 ? "is real" : cr > 1.7 ? "is NOT real (two threads share one core)"
                                          : "is partly shared (busy machine?)");
    double peak2, peak512, cpeak2, cpeak512;
    fma_peak(reps, out, &peak2, &peak512, &cpeak2, &cpeak512);
    const char *kname = nn_gemm_kernel_name();
    const double peak = strcmp(kname, "avx512") == 0 ? peak512 : peak2;
    const double cpeak = strcmp(kname, "avx512") == 0 ? cpeak512 : cpeak2;
    printf("FMA peak, 1 thread: AVX2 %.1f GFLOPS, AVX-512 %.1f GFLOPS (by CPU time %.1f, %.1f; "
           "0: not on this CPU)\n",
           peak2, peak512, cpeak2, cpeak512);
    printf("OpenBLAS core: %s; config: %s\n", openblas_get_corename(), openblas_get_config());
    printf("nnrun kernel: %s;  medians of %d reps (min-max);  load average %.2f\n\n", kname,
           reps, bench_loadavg());
    if (out) {
        fprintf(out, "{\"bench\":\"openblas\",\"corename\":\"%s\",\"config\":\"%s\"}\n",
                openblas_get_corename(), openblas_get_config());
        fflush(out);
    }
    printf("%-18s %-17s %3s  %-22s %-22s %6s %7s %6s  %s\n", "M x N x K", "what", "thr",
           "nnrun GFLOPS", "OpenBLAS GFLOPS", "ratio", "target", "%peak",
           "1 thread by CPU time: ratio, %peak");

    int missed = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const shape *s = &shapes[si];
        prob p = {s, NULL, NULL, NULL, 0, 0, 0};
        p.lda = s->ta ? s->M : s->K;
        p.ldb = s->tb ? s->K : s->N;
        p.ldc = s->N;
        p.A = rand_buf((size_t)(s->M * s->K), 1);
        p.B = rand_buf((size_t)(s->K * s->N), 2);
        p.C = rand_buf((size_t)(s->M * s->N), 3);
        char key[96];
        snprintf(key, sizeof key, "%lldx%lldx%lld %c%c", (long long)s->M, (long long)s->N,
                 (long long)s->K, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N');
        for (int t = 1; t <= 2; t++) {
            nn_set_threads(t);
            openblas_set_num_threads(t);
            bench_stats ours, ref, ours_c, ref_c;
            measure_pair(&p, reps, &ours, &ref, &ours_c, &ref_c);
            const double ratio = ours.median / ref.median;
            const double cratio = ours_c.median / ref_c.median;
            const double cshare = cpeak > 0 ? ours_c.median / cpeak : 0.0;
            char kx[192];
            snprintf(kx, sizeof kx, "\"kernel\":\"%s\",\"peak_share\":%.3f", kname,
                     peak > 0 ? ours.median / (t * peak) : 0.0);
            if (t == 1)
                snprintf(kx + strlen(kx), sizeof kx - strlen(kx),
                         ",\"cpu_gflops\":%.6g,\"openblas_cpu_gflops\":%.6g,\"cpu_ratio\":%.4f,"
                         "\"cpu_peak_share\":%.3f",
                         ours_c.median, ref_c.median, cratio, cshare);
            bench_json(out, "gemm", "nnrun", "shape", key, -1, t, ours, "GFLOPS", kx);
            bench_json(out, "gemm", "openblas", "shape", key, -1, t, ref, "GFLOPS", NULL);
            bench_stats rs = {ratio, ours.min / ref.max, ours.max / ref.min};
            char extra[64];
            snprintf(extra, sizeof extra, "\"target\":%.2f", s->target);
            bench_json(out, "gemm", "ratio", "shape", key, -1, t, rs, "nnrun/openblas",
                       s->target > 0 ? extra : NULL);
            char a[32], b[32], tg[16] = "-";
            snprintf(a, sizeof a, "%6.1f (%5.1f-%5.1f)", ours.median, ours.min, ours.max);
            snprintf(b, sizeof b, "%6.1f (%5.1f-%5.1f)", ref.median, ref.min, ref.max);
            if (s->target > 0) {
                snprintf(tg, sizeof tg, ">=%.2f%s", s->target, ratio >= s->target ? "" : " !");
                missed += ratio < s->target;
            }
            char cx[48] = "";
            if (t == 1)
                snprintf(cx, sizeof cx, "  %.2f, %.0f%%", cratio, 100.0 * cshare);
            printf("%-18s %-17s %3d  %-22s %-22s %6.2f %7s %5.0f%%%s\n", key, s->what, t, a, b,
                   ratio, tg, peak > 0 ? 100.0 * ours.median / (t * peak) : 0.0, cx);
            fflush(stdout);
        }
        free(p.A);
        free(p.B);
        free(p.C);
    }
    printf("\n%d of %d ratio targets missed; load average now %.2f%s\n", missed, 10, bench_loadavg(),
           cr > 1.3 ? " (second core not fully available: 2-thread figures are not meaningful)"
                    : "");
    if (out)
        fclose(out);
    return 0;
}
