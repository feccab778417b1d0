/* test_rng.c — the seeded generator: the documented algorithm (xoshiro256**
 * seeded through splitmix64, re-implemented here as a reference),
 * determinism per seed, and the distributions of uniform(), normal() and
 * below().
 *
 * Statistical tolerances are about 5 standard errors of the estimate, so a
 * correct generator fails with probability far below 1e-5 (and the seeds are
 * fixed, so a pass is reproducible), while a wrong scale, offset or range
 * (errors of several percent) fails. */
#include "testutil.h"

#define N_DRAWS 400000

static uint64_t ref_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t ref_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t ref_next(uint64_t s[4])
{
    const uint64_t r = ref_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ref_rotl(s[3], 45);
    return r;
}

static void test_algorithm_and_determinism(void)
{
    const uint64_t seeds[3] = {0, 42, 0xFFFFFFFFFFFFFFFFull};
    for (int k = 0; k < 3; k++) {
        uint64_t x = seeds[k], s[4];
        for (int i = 0; i < 4; i++)
            s[i] = ref_splitmix(&x);
        nn_rng r;
        nn_rng_seed(&r, seeds[k]);
        CHECK(memcmp(r.s, s, sizeof s) == 0);
        int same = 1;
        for (int i = 0; i < 1000; i++)
            same &= nn_rng_next(&r) == ref_next(s);
        CHECK_MSG(same, "seed %llu: nn_rng_next differs from xoshiro256**",
                  (unsigned long long)seeds[k]);
    }

    /* Same seed, same stream through every kind of draw; other seed differs. */
    nn_rng a, b, c;
    nn_rng_seed(&a, 7);
    nn_rng_seed(&b, 7);
    nn_rng_seed(&c, 8);
    int same = 1, differ = 0;
    for (int i = 0; i < 1000; i++) {
        const double ua = nn_rng_uniform(&a), ub = nn_rng_uniform(&b), uc = nn_rng_uniform(&c);
        const double na = nn_rng_normal(&a), nb = nn_rng_normal(&b);
        const uint64_t ka = nn_rng_below(&a, 13), kb = nn_rng_below(&b, 13);
        same &= ua == ub && na == nb && ka == kb;
        differ += ua != uc;
    }
    CHECK_MSG(same, "two generators with the same seed diverged");
    CHECK_MSG(differ > 990, "seeds 7 and 8 gave %d equal uniforms of 1000", 1000 - differ);

    /* The state is plain data: a copy continues identically. */
    nn_rng saved = a;
    const uint64_t v1 = nn_rng_next(&a);
    CHECK(nn_rng_next(&saved) == v1);
}

static void test_uniform(void)
{
    nn_rng r;
    nn_rng_seed(&r, 1);
    double sum = 0, sum2 = 0, lo = 1, hi = 0;
    int in_range = 1;
    for (int i = 0; i < N_DRAWS; i++) {
        const double u = nn_rng_uniform(&r);
        in_range &= u >= 0.0 && u < 1.0;
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        sum += u;
        sum2 += u * u;
    }
    CHECK_MSG(in_range, "a uniform draw fell outside [0, 1)");
    const double mean = sum / N_DRAWS, var = sum2 / N_DRAWS - mean * mean;
    /* std error of the mean: sqrt(1/12 / N) = 4.6e-4; of the variance ~1.2e-4 */
    CHECK_NEAR(0.5, mean, 0, 2.5e-3);
    CHECK_NEAR(1.0 / 12.0, var, 0, 1e-3);
    CHECK_MSG(lo < 1e-4 && hi > 1 - 1e-4, "uniform draws span only [%g, %g]", lo, hi);
}

static void test_normal(void)
{
    nn_rng r;
    nn_rng_seed(&r, 2);
    double sum = 0, sum2 = 0, sum4 = 0;
    long within1 = 0;
    int finite = 1;
    for (int i = 0; i < N_DRAWS; i++) {
        const double z = nn_rng_normal(&r);
        finite &= isfinite(z);
        sum += z;
        sum2 += z * z;
        sum4 += z * z * z * z;
        within1 += fabs(z) < 1.0;
    }
    CHECK_MSG(finite, "a normal draw was not finite");
    const double mean = sum / N_DRAWS, var = sum2 / N_DRAWS - mean * mean;
    /* std errors: mean 1/sqrt(N) = 1.6e-3; variance sqrt(2/N) = 2.2e-3;
       fourth moment (3 for a normal) sqrt(96/N) = 0.015; P(|z|<1) 7.4e-4. */
    CHECK_NEAR(0.0, mean, 0, 0.01);
    CHECK_NEAR(1.0, var, 0, 0.012);
    CHECK_NEAR(3.0, sum4 / N_DRAWS, 0, 0.08);
    CHECK_NEAR(0.682689, (double)within1 / N_DRAWS, 0, 0.004);
}

static void test_below(void)
{
    nn_rng r;
    nn_rng_seed(&r, 3);
    int ok = 1;
    for (int i = 0; i < 1000; i++)
        ok &= nn_rng_below(&r, 1) == 0;
    CHECK_MSG(ok, "below(1) returned a non-zero value");

    const uint64_t ns[5] = {2, 3, 10, 1000003, (1ull << 63) + 12345};
    for (int k = 0; k < 5; k++) {
        ok = 1;
        uint64_t maxv = 0;
        for (int i = 0; i < 20000; i++) {
            const uint64_t v = nn_rng_below(&r, ns[k]);
            ok &= v < ns[k];
            maxv = v > maxv ? v : maxv;
        }
        CHECK_MSG(ok, "below(%llu) returned a value out of range", (unsigned long long)ns[k]);
        /* 20000 draws reach the top 1% of the range unless it is biased low */
        CHECK_MSG(maxv >= ns[k] - 1 - ns[k] / 100, "below(%llu): largest of 20000 draws %llu",
                  (unsigned long long)ns[k], (unsigned long long)maxv);
    }

    /* Chi-squared over 7 bins: 6 degrees of freedom, P(chi2 > 30) ~ 4e-5. */
    enum { BINS = 7, DRAWS = 70000 };
    long count[BINS] = {0};
    for (int i = 0; i < DRAWS; i++)
        count[nn_rng_below(&r, BINS)]++;
    double chi2 = 0;
    for (int b = 0; b < BINS; b++) {
        const double e = (double)DRAWS / BINS, d = (double)count[b] - e;
        chi2 += d * d / e;
    }
    CHECK_MSG(chi2 < 30.0, "below(7): chi-squared %.2f over 7 bins (6 dof) is too large", chi2);
}

int main(void)
{
    test_algorithm_and_determinism();
    test_uniform();
    test_normal();
    test_below();
    return tu_finish();
}
