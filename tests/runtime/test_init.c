/* test_init.c — every initialiser against its formula in nnrun.h (range,
 * mean and standard deviation over a large n), names, and errors.
 *
 * With n = 200000 draws the standard error of a sample mean is
 * std / 447 and of a sample std about std / 632; the tolerances below are
 * 2% of the std (about 9 and 13 standard errors), which a correct
 * implementation always meets and a wrong fan (e.g. fan_in + fan_out vs
 * fan_in: a factor 1.26 here) or a uniform/normal mix-up never does. */
#include "testutil.h"

#define N 200000
#define FAN_IN 50
#define FAN_OUT 30

static float buf[N];

static void stats(const float *w, int64_t n, double *mean, double *std, double *lo, double *hi)
{
    double s = 0, s2 = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        s += w[i];
        s2 += (double)w[i] * w[i];
        *lo = w[i] < *lo ? w[i] : *lo;
        *hi = w[i] > *hi ? w[i] : *hi;
    }
    *mean = s / (double)n;
    *std = sqrt(s2 / (double)n - *mean * *mean);
}

static void check_uniform(const char *what, nn_init init, double a, double b)
{
    nn_rng r;
    nn_rng_seed(&r, 11);
    CHECK_OK(nn_init_fill(&init, buf, N, FAN_IN, FAN_OUT, &r));
    double mean, std, lo, hi;
    stats(buf, N, &mean, &std, &lo, &hi);
    const double s = (b - a) / sqrt(12.0);
    CHECK_MSG(lo >= (float)a && hi <= (float)b, "%s: values in [%g, %g], expected within [%g, %g]",
              what, lo, hi, a, b);
    CHECK_MSG(lo < a + 0.001 * (b - a) && hi > b - 0.001 * (b - a),
              "%s: values span [%g, %g], expected nearly all of [%g, %g]", what, lo, hi, a, b);
    CHECK_MSG(tu_close((a + b) / 2, mean, 0, 0.02 * s), "%s: mean %g, expected %g", what, mean,
              (a + b) / 2);
    CHECK_MSG(tu_close(s, std, 0.02, 0), "%s: std %g, expected %g", what, std, s);
}

static void check_normal(const char *what, nn_init init, double m, double s)
{
    nn_rng r;
    nn_rng_seed(&r, 12);
    CHECK_OK(nn_init_fill(&init, buf, N, FAN_IN, FAN_OUT, &r));
    double mean, std, lo, hi;
    stats(buf, N, &mean, &std, &lo, &hi);
    CHECK_MSG(tu_close(m, mean, 0, 0.02 * s), "%s: mean %g, expected %g", what, mean, m);
    CHECK_MSG(tu_close(s, std, 0.02, 0), "%s: std %g, expected %g", what, std, s);
    /* unbounded: some draws beyond 3 std (expected ~540 of 200000) */
    CHECK_MSG(hi > m + 3 * s && lo < m - 3 * s, "%s: range [%g, %g] too narrow for N(%g, %g)",
              what, lo, hi, m, s);
}

static void test_formulas(void)
{
    nn_rng r;
    nn_rng_seed(&r, 10);
    nn_init z = {NN_INIT_ZEROS, 5, 6};
    buf[0] = buf[N - 1] = 1.0f;
    CHECK_OK(nn_init_fill(&z, buf, N, FAN_IN, FAN_OUT, &r));
    CHECK(buf[0] == 0.0f && buf[N - 1] == 0.0f);
    nn_init c = {NN_INIT_CONSTANT, -0.25f, 0};
    CHECK_OK(nn_init_fill(&c, buf, N, FAN_IN, FAN_OUT, &r));
    CHECK(buf[0] == -0.25f && buf[N / 2] == -0.25f && buf[N - 1] == -0.25f);

    check_uniform("uniform", (nn_init){NN_INIT_UNIFORM, -0.5f, 1.5f}, -0.5, 1.5);
    check_normal("normal", (nn_init){NN_INIT_NORMAL, 0.5f, 2.0f}, 0.5, 2.0);
    const double xl = sqrt(6.0 / (FAN_IN + FAN_OUT)), hl = sqrt(6.0 / FAN_IN);
    check_uniform("xavier_uniform", (nn_init){NN_INIT_XAVIER_UNIFORM, 0, 0}, -xl, xl);
    check_normal("xavier_normal", (nn_init){NN_INIT_XAVIER_NORMAL, 0, 0}, 0,
                 sqrt(2.0 / (FAN_IN + FAN_OUT)));
    check_uniform("he_uniform", (nn_init){NN_INIT_HE_UNIFORM, 0, 0}, -hl, hl);
    check_normal("he_normal", (nn_init){NN_INIT_HE_NORMAL, 0, 0}, 0, sqrt(2.0 / FAN_IN));

    /* Degenerate but valid: U(a, a) and N(m, 0) are constants. */
    nn_init u = {NN_INIT_UNIFORM, 3, 3}, n0 = {NN_INIT_NORMAL, -1, 0};
    CHECK_OK(nn_init_fill(&u, buf, 10, 1, 1, &r));
    CHECK_FLOAT_EQ(3, buf[9]);
    CHECK_OK(nn_init_fill(&n0, buf, 10, 1, 1, &r));
    CHECK_FLOAT_EQ(-1, buf[9]);

    /* Same generator state, same values. */
    nn_rng r1, r2;
    nn_rng_seed(&r1, 99);
    nn_rng_seed(&r2, 99);
    float w1[64], w2[64];
    nn_init he = {NN_INIT_HE_NORMAL, 0, 0};
    CHECK_OK(nn_init_fill(&he, w1, 64, 8, 8, &r1));
    CHECK_OK(nn_init_fill(&he, w2, 64, 8, 8, &r2));
    CHECK(memcmp(w1, w2, sizeof w1) == 0);
}

static void test_names(void)
{
    static const char *const names[] = {"zeros",         "constant",   "uniform",   "normal",
                                        "xavier_uniform", "xavier_normal", "he_uniform", "he_normal"};
    for (int k = 0; k < 8; k++) {
        CHECK_STR(names[k], nn_init_name((nn_init_kind)k));
        nn_init_kind got = (nn_init_kind)-1;
        CHECK_OK(nn_init_parse(names[k], &got));
        CHECK_INT(k, got);
    }
    CHECK_STR(NULL, nn_init_name((nn_init_kind)8));
    CHECK_STR(NULL, nn_init_name((nn_init_kind)-1));
    nn_init_kind k;
    CHECK_ERR(NN_EINVAL, "unknown initialiser 'glorot'", nn_init_parse("glorot", &k));
    CHECK_ERR(NN_EINVAL, "unknown initialiser '(null)'", nn_init_parse(NULL, &k));
}

static void test_errors(void)
{
    nn_rng r;
    nn_rng_seed(&r, 1);
    float w[4];
    const nn_init good = {NN_INIT_HE_NORMAL, 0, 0};
    CHECK_ERR(NN_EINVAL, "init: NULL argument", nn_init_fill(NULL, w, 4, 2, 2, &r));
    CHECK_ERR(NN_EINVAL, "init: NULL argument", nn_init_fill(&good, NULL, 4, 2, 2, &r));
    CHECK_ERR(NN_EINVAL, "init: NULL argument", nn_init_fill(&good, w, 4, 2, 2, NULL));
    CHECK_ERR(NN_EINVAL, "init: sizes must be positive", nn_init_fill(&good, w, -1, 2, 2, &r));
    CHECK_ERR(NN_EINVAL, "init: sizes must be positive", nn_init_fill(&good, w, 4, 0, 2, &r));
    CHECK_ERR(NN_EINVAL, "init: sizes must be positive", nn_init_fill(&good, w, 4, 2, 0, &r));
    const nn_init bad_kind = {(nn_init_kind)42, 0, 0};
    CHECK_ERR(NN_EINVAL, "init: unknown kind 42", nn_init_fill(&bad_kind, w, 4, 2, 2, &r));
    const nn_init c_nan = {NN_INIT_CONSTANT, NAN, 0};
    CHECK_ERR(NN_EINVAL, "init constant: value must be finite", nn_init_fill(&c_nan, w, 4, 2, 2, &r));
    const nn_init u_rev = {NN_INIT_UNIFORM, 1, 0};
    CHECK_ERR(NN_EINVAL, "init uniform: need finite a <= b, got a=1 b=0",
              nn_init_fill(&u_rev, w, 4, 2, 2, &r));
    const nn_init u_inf = {NN_INIT_UNIFORM, 0, INFINITY};
    CHECK_ERR(NN_EINVAL, "init uniform: need finite a <= b, got a=0 b=inf",
              nn_init_fill(&u_inf, w, 4, 2, 2, &r));
    const nn_init n_neg = {NN_INIT_NORMAL, 0, -1};
    CHECK_ERR(NN_EINVAL, "init normal: need finite mean and std >= 0, got mean=0 std=-1",
              nn_init_fill(&n_neg, w, 4, 2, 2, &r));
    const nn_init n_nan = {NN_INIT_NORMAL, NAN, 1};
    CHECK_ERR(NN_EINVAL, "init normal: need finite mean and std >= 0, got mean=nan std=1",
              nn_init_fill(&n_nan, w, 4, 2, 2, &r));
    /* A failed fill draws nothing: the generator is where it was. */
    nn_rng fresh;
    nn_rng_seed(&fresh, 1);
    CHECK(memcmp(&r, &fresh, sizeof r) == 0);
}

int main(void)
{
    test_formulas();
    test_names();
    test_errors();
    return tu_finish();
}
