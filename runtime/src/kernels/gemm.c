/* gemm.c — the blocked, packed, multithreaded matrix product (see gemm.h).
 *
 * Threads: each of up to nn_threads() threads owns a rectangle of C (the
 * columns are split first, in whole NR-wide slivers; the rows too when
 * there are fewer slivers than threads) and computes it alone, so there
 * are no shared panels and no barriers, only the fork and join.
 * One thread's loop nest over its rectangle:
 *   for each column chunk of CH_N                    (B chunk stays in L2)
 *     for each K block [k0, k0+kc)          ascending; split depends on K only
 *       pack op(B)[k0.., chunk] into NR-column slivers
 *       for each MR-row sliver of its rows
 *         pack op(A)[rows, k0..] into an MR x kc sliver     (stays in L1)
 *         for each NR-column sliver of the chunk: micro-kernel
 * The K blocks are never split across threads, and a tile's sum over one
 * K block does not depend on where the tile is: every C element is summed
 * by one thread in the same order whatever the thread count, and the first
 * K block applies beta, the later ones add.
 *
 * Workspace: the packed B chunks live in a static, aligned buffer (one part
 * per thread) owned by the call that holds `ws_busy`, A slivers on each
 * thread's stack; nothing is allocated, so nn_gemm never fails.  A call
 * that finds the workspace in use (another host thread is inside nn_gemm,
 * or a layer calls it from each thread of a region) runs the same loops on
 * one thread, with a spare static chunk when one is free, else a
 * one-sliver chunk on its stack; the arithmetic, hence the result, is the
 * same.
 */
#include "gemm.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "gemm_kern.h"
#include "parallel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef NNRUN_BLAS
#include <cblas.h>
/* OpenBLAS's thread control, when the BLAS linked in is OpenBLAS (weak: a
 * reference BLAS without it leaves the pointer NULL). */
extern void openblas_set_num_threads(int n) __attribute__((weak));
#endif

/* The portable set's tile (the driver takes each set's own). */
#define PMR NN_GEMM_MR
#define PNR NN_GEMM_NR
/* Blocking (overridable with -D only for tuning experiments).
 * K block: the MR x KC sliver of A (6 KB) stays in L1 while the micro-kernel
 * streams KC x NR slivers of B (16 KB each) past it. */
#ifndef KC_MAX
#define KC_MAX 256
#endif
/* Column chunk a thread packs at once: KC_MAX x CH_N floats (256 KB) stay
 * in its L2 while its A slivers stream past. */
#ifndef CH_N
#define CH_N 256
#endif
/* gemm_shared_a cuts the columns into about this many units per thread:
 * enough for the dynamic schedule to even out a slow thread, and narrow
 * B chunks that stay close to L1. */
#ifndef UNITS_PER_THREAD
#define UNITS_PER_THREAD 4
#endif
/* The largest team the static workspace serves (more threads than this
 * give no more speed on the machines this runtime targets). */
#define MAX_TEAM 8
/* Products with fewer multiply-adds than this run on one thread: waking a
 * team costs more than it saves. */
#define PAR_MIN_WORK (64 * 64 * 64)
/* Products up to this many multiply-adds skip packing altogether (the tiny
 * layers of e.g. XOR, where call overhead is everything). */
#define TINY_WORK 2048
/* Up to this many multiply-adds a product with a bias writes the bias
 * rows first (no tiles to put them in: the tiny path, or the BLAS). */
#ifdef NNRUN_BLAS
#define TINY_WORK_OR_BLAS INT64_MAX
#else
#define TINY_WORK_OR_BLAS TINY_WORK
#endif

#ifndef NNRUN_BLAS
/* op(A) packed, a panel of rows at a time (5 MB: all of it for every
 * product of the training shapes and for 1024^3 with 12-row slivers, whose
 * 1032 x 1024 floats in two panels packed B twice; only the pages used
 * are ever touched). */
#ifndef A_WS
#define A_WS (1280 * 1024)
#endif
static alignas(64) float ws_a[A_WS];
static alignas(64) float ws_b[MAX_TEAM * KC_MAX * CH_N];
/* A flag, not a float reduction: it only says which call owns ws_a/ws_b. */
static atomic_flag ws_busy = ATOMIC_FLAG_INIT;
/* One-thread B chunks for the calls that find ws_b taken (the products
 * of a layer's chunks, called from the threads of a parallel region):
 * with a CH_N-column chunk of its own such a call packs each A sliver
 * once per CH_N columns, not once per NR (its one-sliver chunk on the
 * stack, when all of these are taken too). */
#define SPARES 4
static alignas(64) float ws_spare[SPARES][KC_MAX * CH_N];
static atomic_flag spare_busy[SPARES] = {ATOMIC_FLAG_INIT, ATOMIC_FLAG_INIT, ATOMIC_FLAG_INIT, ATOMIC_FLAG_INIT};
#endif

/* ---- portable kernel set ------------------------------------------------ */

static void ukr_portable(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc,
                         float alpha, float beta, int overwrite, int mr, int nr)
{
    /* One row of the tile at a time: its PNR sums fit in registers (the
     * compiler vectorises the j loop), and the B sliver stays in L1. */
    float acc[PMR * PNR];
    for (int i = 0; i < PMR; i++) {
        float r[PNR];
        for (int j = 0; j < PNR; j++)
            r[j] = 0.0f;
        for (int64_t k = 0; k < kc; k++) {
            const float ai = Ap[k * PMR + i];
            const float *b = Bp + k * PNR;
            for (int j = 0; j < PNR; j++)
                r[j] += ai * b[j];
        }
        for (int j = 0; j < PNR; j++)
            acc[i * PNR + j] = r[j];
    }
    nn_gemm_store_edge(acc, PNR, C, ldc, alpha, beta, overwrite, mr, nr);
}

static void pack_a_portable(int ta, const float *A, int64_t lda, int64_t i0, int mr, int64_t k0,
                            int64_t kc, float *Ap)
{
    if (ta) { /* A stored K x M: PMR consecutive floats per k */
        for (int64_t k = 0; k < kc; k++) {
            const float *src = A + (k0 + k) * lda + i0;
            float *dst = Ap + k * PMR;
            int i = 0;
            for (; i < mr; i++)
                dst[i] = src[i];
            for (; i < PMR; i++)
                dst[i] = 0.0f;
        }
        return;
    }
    int i = 0;
    for (; i < mr; i++) {
        const float *src = A + (i0 + i) * lda + k0;
        for (int64_t k = 0; k < kc; k++)
            Ap[k * PMR + i] = src[k];
    }
    for (; i < PMR; i++)
        for (int64_t k = 0; k < kc; k++)
            Ap[k * PMR + i] = 0.0f;
}

static void pack_b_sliver(int tb, const float *B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0,
                          int nr, float *Bp)
{
    if (!tb) { /* B stored K x N: PNR consecutive floats per k */
        for (int64_t k = 0; k < kc; k++) {
            const float *src = B + (k0 + k) * ldb + j0;
            float *dst = Bp + k * PNR;
            int j = 0;
            for (; j < nr; j++)
                dst[j] = src[j];
            for (; j < PNR; j++)
                dst[j] = 0.0f;
        }
        return;
    }
    int j = 0;
    for (; j < nr; j++) {
        const float *src = B + (j0 + j) * ldb + k0;
        for (int64_t k = 0; k < kc; k++)
            Bp[k * PNR + j] = src[k];
    }
    for (; j < PNR; j++)
        for (int64_t k = 0; k < kc; k++)
            Bp[k * PNR + j] = 0.0f;
}

static void pack_b_portable(int tb, const float *B, int64_t ldb, int64_t k0, int64_t kc,
                            int64_t j0, int64_t n, float *Bp)
{
    for (int64_t j = 0; j < n; j += PNR)
        pack_b_sliver(tb, B, ldb, k0, kc, j0 + j, (int)(n - j < PNR ? n - j : PNR), Bp + j * kc);
}

const nn_gemm_kern nn_gemm_kern_portable = {"portable", PMR, PNR, ukr_portable, pack_a_portable,
                                            pack_b_portable};

/* ---- kernel choice ------------------------------------------------------ */

/* Whether the CPU can run set k (and, for AVX-512, whether the OS saves
 * the opmask and zmm registers: XCR0 bits 1, 2, 5, 6, 7). */
static int usable(const nn_gemm_kern *k)
{
#ifdef NN_GEMM_HAVE_AVX2
    __builtin_cpu_init();
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (k == &nn_gemm_kern_avx2)
        return avx2;
    if (k == &nn_gemm_kern_avx512) {
        if (!avx2 || !__builtin_cpu_supports("avx512f"))
            return 0;
        unsigned eax, ebx, ecx, edx;
        __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1), "c"(0));
        if (!(ecx & (1u << 27))) /* OSXSAVE: xgetbv is there */
            return 0;
        unsigned lo, hi;
        __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        (void)hi;
        return (lo & 0xE6u) == 0xE6u;
    }
#endif
    return k == &nn_gemm_kern_portable;
}

/* Every set, best first. */
static const nn_gemm_kern *const sets[] = {
#ifdef NN_GEMM_HAVE_AVX2
    &nn_gemm_kern_avx512,
    &nn_gemm_kern_avx2,
#endif
    &nn_gemm_kern_portable,
};
#define NSETS (sizeof sets / sizeof *sets)

static const nn_gemm_kern *by_name(const char *name)
{
    for (size_t i = 0; i < NSETS; i++)
        if (strcmp(sets[i]->name, name) == 0)
            return usable(sets[i]) ? sets[i] : NULL;
    return NULL;
}

static const nn_gemm_kern *forced;
/* The automatic choice, made once: NNRUN_KERNEL when it names a set this
 * CPU runs, else the best set it runs. */
static _Atomic(const nn_gemm_kern *) chosen;

static const nn_gemm_kern *kern(void)
{
    if (forced)
        return forced;
    const nn_gemm_kern *k = atomic_load_explicit(&chosen, memory_order_acquire);
    if (k)
        return k;
    const char *env = getenv("NNRUN_KERNEL");
    k = env ? by_name(env) : NULL;
    for (size_t i = 0; !k && i < NSETS; i++)
        if (usable(sets[i]))
            k = sets[i];
    atomic_store_explicit(&chosen, k, memory_order_release);
    return k;
}

int nn_gemm_force_kernel(const char *name)
{
    if (!name) {
        forced = NULL;
        return 0;
    }
    const nn_gemm_kern *k = by_name(name);
    if (!k)
        return -1;
    forced = k;
    return 0;
}

void nn_gemm_kernel_tile(int *mr, int *nr)
{
    *mr = kern()->mr;
    *nr = kern()->nr;
}

int nn_gemm_isa(void)
{
#ifdef NN_GEMM_HAVE_AVX2
    const nn_gemm_kern *k = kern();
    return k == &nn_gemm_kern_avx512 ? 2 : k == &nn_gemm_kern_avx2 ? 1 : 0;
#else
    return 0;
#endif
}

const char *nn_gemm_kernel_name(void)
{
#ifdef NNRUN_BLAS
    (void)kern;
    return "openblas";
#else
    return kern()->name;
#endif
}

nn_status nn_gemm_reserve(int64_t M, int64_t N, int64_t K)
{
    /* The workspace is static and the blocking bounds every panel, so any
     * size is served without allocation. */
    (void)M;
    (void)N;
    (void)K;
    return NN_OK;
}

/* ---- the products ------------------------------------------------------- */

/* C = beta * C (K == 0 or alpha == 0: A and B are not read). */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    if (beta == 1.0f)
        return;
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            for (int64_t j = 0; j < N; j++)
                c[j] = 0.0f;
        else
            for (int64_t j = 0; j < N; j++)
                c[j] *= beta;
    }
}

#ifndef NNRUN_BLAS
/* Unpacked product for tiny shapes, on the calling thread: each element
 * one dot product over the whole of K in ascending order. */
static void gemm_tiny(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    const int64_t ars = ta ? 1 : lda, acs = ta ? lda : 1;
    const int64_t brs = tb ? 1 : ldb, bcs = tb ? ldb : 1;
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        const float *a = A + i * ars;
        int64_t j = 0;
        /* Four columns at a time: four independent sums share each a. */
        for (; j + 4 <= N; j += 4) {
            const float *b = B + j * bcs;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                const float av = a[k * acs];
                const float *bk = b + k * brs;
                s0 += av * bk[0];
                s1 += av * bk[bcs];
                s2 += av * bk[2 * bcs];
                s3 += av * bk[3 * bcs];
            }
            const float r[4] = {s0, s1, s2, s3};
            for (int q = 0; q < 4; q++) {
                const float as = alpha * r[q];
                c[j + q] = beta == 0.0f ? as : beta * c[j + q] + as;
            }
        }
        for (; j < N; j++) {
            const float *b = B + j * bcs;
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++)
                s += a[k * acs] * b[k * brs];
            const float as = alpha * s;
            c[j] = beta == 0.0f ? as : beta * c[j] + as;
        }
    }
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* The bias row into an mr x nr tile of C, just before its first K block
 * adds to it (beta 1): the same operations as a C filled beforehand, done
 * by the thread that owns the tile while the tile is in its cache. */
static void fill_bias(const float *bias, float *C, int64_t ldc, int mr, int nr)
{
    for (int i = 0; i < mr; i++)
        memcpy(C + i * ldc, bias, (size_t)nr * sizeof(float));
}

/* One thread's share of gemm_owned: C rows [i0, i1) x columns [j0, j1),
 * in column chunks of ch_n that it packs into its own part wb of the
 * workspace (KC_MAX x ch_n), A slivers on its stack. */
static void gemm_part(const nn_gemm_kern *kr, float *wb, int64_t ch_n, int64_t i0, int64_t i1,
                      int64_t j0, int64_t j1, int ta, int tb, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                      float *C, int64_t ldc, const float *bias)
{
    const int MR = kr->mr, NR = kr->nr;
    alignas(64) float ap[NN_GEMM_MR_MAX * KC_MAX];
    const int64_t nkb = (K + KC_MAX - 1) / KC_MAX;
    for (int64_t jc = j0; jc < j1; jc += ch_n) {
        const int64_t nc = min64(ch_n, j1 - jc);
        for (int64_t kb = 0; kb < nkb; kb++) {
            /* Near-equal K blocks, a function of K alone. */
            const int64_t k0 = kb * K / nkb, kc = (kb + 1) * K / nkb - k0;
            const int overwrite = kb == 0 && beta == 0.0f;
            const float beta_k = kb == 0 ? beta : 1.0f;
            kr->pack_b(tb, B, ldb, k0, kc, jc, nc, wb);
            for (int64_t i = i0; i < i1; i += MR) {
                const int mr = (int)min64(MR, i1 - i);
                kr->pack_a(ta, A, lda, i, mr, k0, kc, ap);
                for (int64_t j = 0; j < nc; j += NR) {
                    if (bias && kb == 0)
                        fill_bias(bias + jc + j, C + i * ldc + jc + j, ldc, mr,
                                  (int)min64(NR, nc - j));
                    kr->ukr(kc, ap, wb + j * kc, C + i * ldc + jc + j, ldc, alpha, beta_k,
                            overwrite, mr, (int)min64(NR, nc - j));
                }
            }
        }
    }
}

/* Lines of memory to prefetch a few at a time while tiles run: `rows`
 * rows of `len` floats, `stride` floats apart, from `base` (a block of a
 * matrix that a later pack reads).  Prefetches never fault, and touch
 * only the lines of that block. */
typedef struct pf_stream {
    const char *row; /* the current row */
    int64_t stride;  /* bytes */
    int64_t lpr;     /* lines per row (one more when a row starts mid-line) */
    int64_t rows, line;
} pf_stream;

static void pf_init(pf_stream *p, const float *base, int64_t rows, int64_t stride, int64_t len)
{
    p->row = (const char *)base;
    p->stride = stride * (int64_t)sizeof(float);
    p->lpr = (len + 15) / 16 + 1;
    p->rows = len > 0 ? rows : 0;
    p->line = 0;
}

/* The next n lines of p (into L2: the block is read soon, not at once). */
static void pf_step(pf_stream *p, int64_t n)
{
    for (; n > 0 && p->rows > 0; n--) {
        __builtin_prefetch(p->row + 64 * p->line, 0, 2);
        if (++p->line == p->lpr) {
            p->line = 0;
            p->row += p->stride;
            p->rows--;
        }
    }
}

/* The block of op(B) that pack_b reads for columns [jc, jc+nc) and K
 * block [k0, k0+kc), as a prefetch stream. */
static void pf_b_chunk(pf_stream *p, int tb, const float *B, int64_t ldb, int64_t k0, int64_t kc,
                       int64_t jc, int64_t nc)
{
    if (tb) /* B stored N x K: nc rows of kc floats */
        pf_init(p, B + jc * ldb + k0, nc, ldb, kc);
    else /* B stored K x N: kc rows of nc floats */
        pf_init(p, B + k0 * ldb + jc, kc, ldb, nc);
}

/* Each of up to nt threads owns a rectangle of C (a grid of pm x pn,
 * columns split first, in whole slivers) and computes it alone: no
 * shared panels, no barriers.  wb holds nt parts of KC_MAX x ch_n. */
static void gemm_owned(const nn_gemm_kern *kr, int nt, float *wb, int64_t ch_n, int ta, int tb,
                       int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                       const float *bias)
{
    const int MR = kr->mr, NR = kr->nr;
    const int64_t njr = (N + NR - 1) / NR, nir = (M + MR - 1) / MR;
    const int64_t pn = min64(nt, njr), pm = min64(nt / pn, nir);
    (void)nt;
    nn_team_clock clk;
    nn_team_region_begin(&clk);
#pragma omp parallel num_threads((int)(pm * pn)) if (pm * pn > 1)
    {
        int64_t tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        /* A smaller team than asked for (nested region, thread limit)
         * leaves rectangles undone: take them over in turn. */
        int64_t nth = 1;
#ifdef _OPENMP
        nth = omp_get_num_threads();
#endif
        for (int64_t r = tid; r < pm * pn; r += nth) {
            const int64_t tn = r % pn, tm = r / pn;
            const int64_t j0 = njr * tn / pn * NR, j1 = min64(N, njr * (tn + 1) / pn * NR);
            const int64_t i0 = nir * tm / pm * MR, i1 = min64(M, nir * (tm + 1) / pm * MR);
            if (j1 > j0 && i1 > i0)
                gemm_part(kr, wb + tid * KC_MAX * ch_n, ch_n, i0, i1, j0, j1, ta, tb, K, alpha,
                          A, lda, B, ldb, beta, C, ldc, bias);
        }
        if (tid == 0)
            nn_team_wait_begin(&clk);
    }
    if (pm * pn > 1)
        nn_team_region_end(&clk);
}

/* Row panels of gemm_shared_a for nir_all MR-row slivers of K columns:
 * panel p holds slivers [nir_all*p/panels, nir_all*(p+1)/panels), at most
 * ceil(nir_all/panels) of them, and with panels = ceil(nir_all/cap) that is
 * at most cap, the slivers of MR x K floats that fit A_WS (MR * K <= A_WS).
 * (Dividing the total floats by A_WS instead gives panels whose share of
 * slivers, rounded up, can pass A_WS: issue 9, item 1.) */
static int64_t a_panels(int64_t nir_all, int64_t K, int MR)
{
    const int64_t cap = A_WS / (MR * K);
    return (nir_all + cap - 1) / cap;
}

int64_t nn_gemm_a_panel_floats(int64_t M, int64_t K, int64_t *capacity)
{
    const int MR = kern()->mr;
    *capacity = A_WS;
    if (M <= 0 || K <= 0 || MR * K > A_WS)
        return 0;
    const int64_t nir_all = (M + MR - 1) / MR, panels = a_panels(nir_all, K, MR);
    int64_t most = 0;
    for (int64_t p = 0; p < panels; p++) {
        const int64_t nir = nir_all * (p + 1) / panels - nir_all * p / panels;
        most = nir > most ? nir : most;
    }
    return most * MR * K;
}

/* The team packs op(A) for a panel of rows (all of K, K block by K block,
 * in MR-row slivers; as many rows as fit wa's A_WS floats), then deals the
 * columns out in units of w columns, dynamically, so a thread slowed down
 * by other work on its core does fewer of them; the next panel follows.
 * A unit packs its B chunk (stays in L2) and runs each A sliver (stays in
 * L1) past it.  Which thread computes a unit does not change a bit of it.
 * wb holds one KC_MAX x CH_N part per thread. */
static void gemm_shared_a(const nn_gemm_kern *kr, int nt, float *wa, float *wb, int ta, int tb,
                          int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                          int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                          int64_t ldc, const float *bias)
{
    const int MR = kr->mr, NR = kr->nr;
    const int64_t nir_all = (M + MR - 1) / MR, njr = (N + NR - 1) / NR;
    const int64_t nkb = (K + KC_MAX - 1) / KC_MAX;
    const int64_t panels = a_panels(nir_all, K, MR);
    /* About UNITS_PER_THREAD units per thread, each a whole number of
     * slivers. */
    const int64_t per = (njr + UNITS_PER_THREAD * nt - 1) / (UNITS_PER_THREAD * nt);
    const int64_t w = min64(CH_N, NR * per), units = (N + w - 1) / w;
    (void)nt;
    nn_team_clock clk;
    nn_team_region_begin(&clk);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int64_t tid = 0, nth = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        float *bp = wb + tid * KC_MAX * CH_N;
        for (int64_t pnl = 0; pnl < panels; pnl++) {
            const int64_t s0 = nir_all * pnl / panels, nir = nir_all * (pnl + 1) / panels - s0;
            const int64_t i0 = s0 * MR, m = min64(M - i0, nir * MR);
            /* A block kb starts at wa + k0 * nir * MR; sliver ir of it at
             * + ir * MR * kc. */
            const int64_t slivers = nkb * nir;
            for (int64_t q = slivers * tid / nth; q < slivers * (tid + 1) / nth; q++) {
                const int64_t kb = q / nir, ir = q % nir;
                const int64_t k0 = kb * K / nkb, kc = (kb + 1) * K / nkb - k0;
                kr->pack_a(ta, A, lda, i0 + ir * MR, (int)min64(MR, m - ir * MR), k0, kc,
                           wa + k0 * nir * MR + ir * MR * kc);
            }
            if (tid == 0)
                nn_team_wait_begin(&clk);
#pragma omp barrier
            if (tid == 0)
                nn_team_wait_end(&clk);
#pragma omp for schedule(dynamic, 1) nowait
            for (int64_t u = 0; u < units; u++) {
                const int64_t jc = u * w, nc = min64(w, N - jc);
                const int64_t tiles = nir * ((nc + NR - 1) / NR);
                for (int64_t kb = 0; kb < nkb; kb++) {
                    /* Near-equal K blocks, a function of K alone. */
                    const int64_t k0 = kb * K / nkb, kc = (kb + 1) * K / nkb - k0;
                    const int overwrite = kb == 0 && beta == 0.0f;
                    const float beta_k = kb == 0 ? beta : 1.0f;
                    const float *ap = wa + k0 * nir * MR;
                    kr->pack_b(tb, B, ldb, k0, kc, jc, nc, bp);
                    /* While the tiles run, the block of B stored N x K
                     * that the next pack reads (the next K block, or the
                     * first of the unit this thread likely takes next)
                     * comes into L2: its rows are read a few lines each
                     * per K block, too short a run for the hardware
                     * prefetcher, and from memory the transposing pack
                     * took 10 % of 256 x 1024 x 784 (B stored K x N is
                     * read in long rows, which the hardware fetches
                     * ahead: prefetching it too was slower). */
                    pf_stream pb;
                    if (!tb) {
                        pf_init(&pb, B, 0, 0, 0);
                    } else if (kb + 1 < nkb) {
                        const int64_t k1 = (kb + 1) * K / nkb;
                        pf_b_chunk(&pb, tb, B, ldb, k1, (kb + 2) * K / nkb - k1, jc, nc);
                    } else if (u + nth < units) {
                        const int64_t jn = (u + nth) * w;
                        pf_b_chunk(&pb, tb, B, ldb, 0, K / nkb, jn, min64(w, N - jn));
                    } else {
                        pf_init(&pb, B, 0, 0, 0);
                    }
                    const int64_t per_tile = (pb.rows * pb.lpr + tiles - 1) / tiles;
                    for (int64_t ir = 0; ir < nir; ir++) {
                        const int mr = (int)min64(MR, m - ir * MR);
                        for (int64_t j = 0; j < nc; j += NR) {
                            pf_step(&pb, per_tile);
                            if (bias && kb == 0)
                                fill_bias(bias + jc + j, C + (i0 + ir * MR) * ldc + jc + j, ldc,
                                          mr, (int)min64(NR, nc - j));
                            kr->ukr(kc, ap + ir * MR * kc, bp + j * kc,
                                    C + (i0 + ir * MR) * ldc + jc + j, ldc, alpha, beta_k,
                                    overwrite, mr, (int)min64(NR, nc - j));
                        }
                    }
                }
            }
            /* A is not repacked under a unit (the master's wait here and
             * at the join is what nn_team_note judges). */
            if (tid == 0)
                nn_team_wait_begin(&clk);
            if (pnl + 1 < panels) {
#pragma omp barrier
                if (tid == 0)
                    nn_team_wait_end(&clk);
            }
        }
    }
    if (nt > 1)
        nn_team_region_end(&clk);
}
#else
int64_t nn_gemm_a_panel_floats(int64_t M, int64_t K, int64_t *capacity)
{
    (void)M;
    (void)K;
    *capacity = 0;
    return 0;
}
#endif

/* C = beta C + alpha op(A) op(B), or with bias (then alpha = beta = 1):
 * C = bias rows + op(A) op(B), C not read. */
static void gemm_run(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                     const float *bias)
{
    if (M <= 0 || N <= 0)
        return;
    if (bias && (K <= 0 || M * N * K <= TINY_WORK_OR_BLAS)) {
        /* No tiles: the rows first, then the product adds to them. */
        for (int64_t i = 0; i < M; i++)
            memcpy(C + i * ldc, bias, (size_t)N * sizeof(float));
        bias = NULL;
    }
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
#ifdef NNRUN_BLAS
    /* For comparison only: OpenBLAS does not promise results independent of
     * its thread count, and it may allocate. */
    if (openblas_set_num_threads)
        openblas_set_num_threads(nn_threads());
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    return;
#else
    const int64_t work = M * N * K;
    if (work <= TINY_WORK) {
        gemm_tiny(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const nn_gemm_kern *kr = kern();
    if (atomic_flag_test_and_set_explicit(&ws_busy, memory_order_acquire)) {
        for (int s = 0; s < SPARES; s++)
            if (!atomic_flag_test_and_set_explicit(&spare_busy[s], memory_order_acquire)) {
                gemm_owned(kr, 1, ws_spare[s], CH_N, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                           bias);
                atomic_flag_clear_explicit(&spare_busy[s], memory_order_release);
                return;
            }
        alignas(64) float sb[KC_MAX * NN_GEMM_NR_MAX];
        gemm_owned(kr, 1, sb, kr->nr, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias);
        return;
    }
    int nt = nn_threads();
    if (nt < 1 || work < PAR_MIN_WORK)
        nt = 1;
    if (nt > MAX_TEAM)
        nt = MAX_TEAM;
    nt = nn_team_size(nt); /* one thread while a neighbour holds a core */
    if (kr->mr * K <= A_WS)
        gemm_shared_a(kr, nt, ws_a, ws_b, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                      bias);
    else /* K beyond ~170000: one sliver of A does not fit */
        gemm_owned(kr, nt, ws_b, CH_N, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                   bias);
    atomic_flag_clear_explicit(&ws_busy, memory_order_release);
#endif
}

void nn_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
             int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    gemm_run(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
}

void nn_gemm_bias(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                  const float *B, int64_t ldb, const float *bias, float *C, int64_t ldc)
{
    gemm_run(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, C, ldc, bias);
}
