/* testutil.h — the tiny harness shared by the C tests in tests/runtime/.
 *
 * CHECK* macros print file:line, what was expected and what was found, count
 * the failure and go on (a test reports every broken property in one run).
 * main() ends with `return tu_finish();`: exit status 1 if anything failed.
 *
 * Also: relative-error helpers for numerical checks, a central-difference
 * derivative, and a counting allocator (nn_set_allocator) that can fail the
 * Nth allocation and tracks live blocks so a test can assert that nothing
 * leaked, even without LeakSanitizer.
 *
 * Everything is static (inline): each test is one translation unit.
 */
#ifndef NN_TESTUTIL_H
#define NN_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrun.h"

static int tu_failures;
static int tu_checks;

static inline void tu_fail_at(const char *file, int line)
{
    tu_failures++;
    fprintf(stderr, "%s:%d: FAIL: ", file, line);
}

/* Generic condition, with a printf-style explanation of what was found. */
#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        tu_checks++;                                                                               \
        if (!(cond)) {                                                                             \
            tu_fail_at(__FILE__, __LINE__);                                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK(cond) CHECK_MSG(cond, "expected %s", #cond)

/* Integers (any integer type, compared as long long). */
#define CHECK_INT(expected, actual)                                                                \
    do {                                                                                           \
        const long long tu_e_ = (long long)(expected), tu_a_ = (long long)(actual);                \
        CHECK_MSG(tu_e_ == tu_a_, "%s: expected %lld, got %lld", #actual, tu_e_, tu_a_);           \
    } while (0)

/* A status; on mismatch also prints nn_last_error(). */
#define CHECK_STATUS(expected, actual)                                                             \
    do {                                                                                           \
        const nn_status tu_e_ = (expected), tu_a_ = (actual);                                      \
        CHECK_MSG(tu_e_ == tu_a_, "%s: expected status %d (%s), got %d (%s), last error \"%s\"",   \
                  #actual, (int)tu_e_, nn_strerror(tu_e_), (int)tu_a_, nn_strerror(tu_a_),         \
                  nn_last_error());                                                                \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(NN_OK, expr)

/* Strings (NULL compares equal only to NULL). */
#define CHECK_STR(expected, actual)                                                                \
    do {                                                                                           \
        const char *tu_e_ = (expected), *tu_a_ = (actual);                                         \
        const int tu_eq_ = (tu_e_ && tu_a_) ? strcmp(tu_e_, tu_a_) == 0 : tu_e_ == tu_a_;          \
        CHECK_MSG(tu_eq_, "%s: expected \"%s\", got \"%s\"", #actual, tu_e_ ? tu_e_ : "(null)",    \
                  tu_a_ ? tu_a_ : "(null)");                                                       \
    } while (0)

/* A failing call: its status and the exact nn_last_error() text. */
#define CHECK_ERR(expected_status, expected_msg, expr)                                             \
    do {                                                                                           \
        const nn_status tu_s_ = (expr);                                                            \
        CHECK_STATUS(expected_status, tu_s_);                                                      \
        if (tu_s_ != NN_OK)                                                                        \
            CHECK_STR(expected_msg, nn_last_error());                                              \
    } while (0)

/* |actual - expected| <= rtol * max(|expected|, |actual|) + atol. */
static inline int tu_close(double expected, double actual, double rtol, double atol)
{
    if (isnan(expected) || isnan(actual))
        return 0;
    const double m = fabs(expected) > fabs(actual) ? fabs(expected) : fabs(actual);
    return fabs(actual - expected) <= rtol * m + atol;
}

/* Relative error with an absolute floor, for reports. */
static inline double tu_relerr(double expected, double actual, double floor)
{
    const double m = fabs(expected) > fabs(actual) ? fabs(expected) : fabs(actual);
    return fabs(actual - expected) / (m > floor ? m : floor);
}

#define CHECK_NEAR(expected, actual, rtol, atol)                                                   \
    do {                                                                                           \
        const double tu_e_ = (double)(expected), tu_a_ = (double)(actual);                         \
        CHECK_MSG(tu_close(tu_e_, tu_a_, rtol, atol),                                              \
                  "%s: expected %.9g, got %.9g (rtol %g, atol %g)", #actual, tu_e_, tu_a_,         \
                  (double)(rtol), (double)(atol));                                                 \
    } while (0)

/* Exact float equality, printing both with full precision. */
#define CHECK_FLOAT_EQ(expected, actual)                                                           \
    do {                                                                                           \
        const float tu_e_ = (float)(expected), tu_a_ = (float)(actual);                            \
        CHECK_MSG(tu_e_ == tu_a_, "%s: expected %.9g, got %.9g", #actual, (double)tu_e_,           \
                  (double)tu_a_);                                                                  \
    } while (0)

/* Central difference of a double-valued function of one float variable:
 * (f(p + h) - f(p - h)) / (x+ - x-), with x+/x- the float values actually
 * stored (so float rounding of the step does not bias the quotient).  *p is
 * restored. */
typedef double (*tu_fn)(void *ctx);
static inline double tu_central_diff(tu_fn f, void *ctx, float *p, double h)
{
    const float saved = *p;
    const float xp = (float)((double)saved + h), xm = (float)((double)saved - h);
    *p = xp;
    const double fp = f(ctx);
    *p = xm;
    const double fm = f(ctx);
    *p = saved;
    return (fp - fm) / ((double)xp - (double)xm);
}

/* Compares an analytic gradient g[0..n) with central differences of f with
 * respect to p[0..n).  Returns the number of failing components and prints
 * the first few; *worst (may be NULL) receives the largest relative error. */
static inline int tu_gradcheck(const char *file, int line, const char *what, tu_fn f, void *ctx,
                               float *p, const float *g, int64_t n, double h, double rtol,
                               double atol, double *worst)
{
    int bad = 0;
    double w = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double num = tu_central_diff(f, ctx, &p[i], h);
        const double e = tu_relerr(num, g[i], atol);
        if (e > w)
            w = e;
        tu_checks++;
        if (!tu_close(num, g[i], rtol, atol)) {
            if (bad < 5) {
                tu_fail_at(file, line);
                fprintf(stderr, "%s[%lld]: numerical %.9g, analytic %.9g\n", what, (long long)i,
                        num, (double)g[i]);
            } else {
                tu_failures++;
            }
            bad++;
        }
    }
    if (worst)
        *worst = w;
    return bad;
}
#define GRADCHECK(what, f, ctx, p, g, n, h, rtol, atol)                                           \
    tu_gradcheck(__FILE__, __LINE__, what, f, ctx, p, g, n, h, rtol, atol, NULL)

/* A small generator for test data (independent of the library's). */
static uint64_t tu_rng_state = 0x243F6A8885A308D3ull;
static inline void tu_seed(uint64_t s) { tu_rng_state = s * 0x9E3779B97F4A7C15ull + 1; }
static inline double tu_uniform(double lo, double hi)
{
    tu_rng_state ^= tu_rng_state << 13;
    tu_rng_state ^= tu_rng_state >> 7;
    tu_rng_state ^= tu_rng_state << 17;
    return lo + (hi - lo) * (double)(tu_rng_state >> 11) * 0x1.0p-53;
}

/* ---- counting / failing allocator -------------------------------------- */

typedef struct tu_alloc_stats {
    long calls;   /* allocation requests seen             */
    long fail_at; /* fail request number fail_at (1-based); 0: never */
    long failed;  /* requests refused                     */
    long live;    /* blocks allocated and not yet released */
} tu_alloc_stats;
static tu_alloc_stats tu_alloc;

static inline void *tu_alloc_fn(size_t size, void *user)
{
    (void)user;
    tu_alloc.calls++;
    if (tu_alloc.fail_at > 0 && tu_alloc.calls == tu_alloc.fail_at) {
        tu_alloc.failed++;
        return NULL;
    }
    void *p = malloc(size);
    if (p)
        tu_alloc.live++;
    return p;
}

static inline void tu_release_fn(void *p, void *user)
{
    (void)user;
    if (p)
        tu_alloc.live--;
    free(p);
}

/* Installs the counting allocator, failing allocation number fail_at
 * (0: none).  Only while no library object is alive. */
static inline void tu_alloc_install(long fail_at)
{
    static const nn_allocator a = {tu_alloc_fn, tu_release_fn, NULL};
    memset(&tu_alloc, 0, sizeof tu_alloc);
    tu_alloc.fail_at = fail_at;
    nn_set_allocator(&a);
}

static inline void tu_alloc_remove(void) { nn_set_allocator(NULL); }

/* ---- worker threads ---------------------------------------------------- */

/* For worker threads, which must not stop the test themselves: the first
 * failing call's status and "expr: nn_last_error()" go into the job's
 * status and where[] (checked by the main thread after the join). */
#define TRY(j, expr)                                                                               \
    do {                                                                                           \
        nn_status s_ = (expr);                                                                     \
        if (s_ != NN_OK && (j)->status == NN_OK) {                                                 \
            (j)->status = s_;                                                                      \
            snprintf((j)->where, sizeof (j)->where, "%s: %s", #expr, nn_last_error());             \
        }                                                                                          \
    } while (0)

/* ---- building networks ------------------------------------------------ */

/* Adds a layer of `kind` whose n settings keys[i] are the numbers nums[i]. */
static inline nn_status tu_add_layer(nn_net *net, const char *kind, int n, const char *const *keys,
                                     const double *nums)
{
    nn_value v[8];
    memset(v, 0, sizeof v);
    for (int i = 0; i < n && i < 8; i++)
        v[i].num = nums[i];
    const nn_layer_spec spec = {kind, n, keys, v};
    return nn_net_add(net, &spec);
}

/* Adds an activation layer by name ("relu"). */
static inline nn_status tu_add_act(nn_net *net, const char *name)
{
    const char *key = "name";
    nn_value v;
    memset(&v, 0, sizeof v);
    v.str = name;
    const nn_layer_spec spec = {"activation", 1, &key, &v};
    return nn_net_add(net, &spec);
}

/* ---- network snapshots (bitwise comparisons of trained networks) -------- */

/* A copy of a network's parameters, non-trainable state and mask stream. */
typedef struct tu_snapshot {
    float *p, *s;
    nn_rng mask;
    int64_t np, ns;
} tu_snapshot;

static inline tu_snapshot tu_snap(nn_net *net)
{
    tu_snapshot a;
    a.np = nn_net_param_count(net);
    a.ns = nn_net_state_count(net);
    a.p = malloc((size_t)a.np * sizeof(float));
    a.s = malloc((size_t)a.ns * sizeof(float));
    memcpy(a.p, nn_net_params(net), (size_t)a.np * sizeof(float));
    if (a.ns) /* a network without batchnorm has no state block (NULL) */
        memcpy(a.s, nn_net_state(net), (size_t)a.ns * sizeof(float));
    a.mask = *nn_net_mask_rng(net);
    return a;
}

/* The same bits everywhere. */
static inline int tu_same(const tu_snapshot *a, const tu_snapshot *b)
{
    return a->np == b->np && a->ns == b->ns && memcmp(a->p, b->p, (size_t)a->np * sizeof(float)) == 0 &&
           memcmp(a->s, b->s, (size_t)a->ns * sizeof(float)) == 0 && memcmp(&a->mask, &b->mask, sizeof a->mask) == 0;
}

static inline void tu_unsnap(tu_snapshot *a)
{
    free(a->p);
    free(a->s);
}

/* ---- end --------------------------------------------------------------- */

static inline int tu_finish(void)
{
    if (tu_failures)
        fprintf(stderr, "%d of %d checks FAILED\n", tu_failures, tu_checks);
    else
        printf("all %d checks passed\n", tu_checks);
    return tu_failures ? 1 : 0;
}

#endif
