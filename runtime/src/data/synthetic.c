/* synthetic.c — small deterministic data sets for examples and tests. */
#include <math.h>

#include "../internal.h"

static nn_status make_dataset(int64_t n, int64_t xc, int64_t tc, nn_tensor **x, nn_tensor **t)
{
    *x = *t = NULL;
    nn_status s = nn_tensor_create2d(n, xc, x);
    if (!s)
        s = nn_tensor_create2d(n, tc, t);
    return s;
}

static nn_status finish(nn_status s, nn_tensor *x, nn_tensor *t, nn_dataset **out)
{
    if (!s)
        s = nn_dataset_create(x, t, out);
    nn_tensor_free(x);
    nn_tensor_free(t);
    return s;
}

nn_status nn_data_xor(nn_dataset **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "xor: out is NULL");
    *out = NULL;
    static const float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ts[4] = {0, 1, 1, 0};
    nn_tensor *x = NULL, *t = NULL;
    nn_status s = nn_tensor_from(4, 2, xs, &x);
    if (!s)
        s = nn_tensor_from(4, 1, ts, &t);
    return finish(s, x, t, out);
}

/* The seed article's digits, drawn on an 8x8 grid. */
static const char *const glyphs[4][8] = {
    {"..####..", ".#....#.", ".#....#.", ".#....#.", ".#....#.", ".#....#.", ".#....#.", "..####.."},
    {"...##...", "..###...", ".#.##...", "...##...", "...##...", "...##...", "...##...", ".######."},
    {"..####..", ".#....#.", "......#.", ".....#..", "....#...", "...#....", "..#.....", ".######."},
    {"..####..", ".#....#.", "......#.", "...###..", "......#.", "......#.", ".#....#.", "..####.."},
};

nn_status nn_data_digits03(int64_t n_per_class, float noise, uint64_t seed, nn_dataset **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "digits03: out is NULL");
    *out = NULL;
    if (n_per_class < 1 || n_per_class > 10000000)
        return nn_fail(NN_EINVAL, "digits03: n_per_class must be in [1, 10000000], got %lld",
                       (long long)n_per_class);
    if (!(isfinite(noise) && noise >= 0))
        return nn_fail(NN_EINVAL, "digits03: noise must be finite and >= 0, got %g", noise);
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    const int64_t n = 4 * n_per_class;
    nn_tensor *x, *t;
    nn_status s = make_dataset(n, 64, 1, &x, &t);
    if (s)
        return finish(s, x, t, out);
    float *xd = nn_tensor_data(x), *td = nn_tensor_data(t);
    for (int64_t i = 0; i < n; i++) {
        const int cls = (int)(i % 4);
        const int dx = (int)nn_rng_below(&rng, 3) - 1, dy = (int)nn_rng_below(&rng, 3) - 1;
        const float ink = 0.7f + 0.3f * (float)nn_rng_uniform(&rng);
        for (int r = 0; r < 8; r++) {
            for (int c = 0; c < 8; c++) {
                const int sr = r - dy, sc = c - dx;
                float v = 0.0f;
                if (sr >= 0 && sr < 8 && sc >= 0 && sc < 8 && glyphs[cls][sr][sc] == '#')
                    v = ink;
                v += noise * (float)nn_rng_normal(&rng);
                xd[i * 64 + r * 8 + c] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            }
        }
        td[i] = (float)cls;
    }
    return finish(NN_OK, x, t, out);
}

nn_status nn_data_curve(int64_t n, float noise, uint64_t seed, nn_dataset **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "curve: out is NULL");
    *out = NULL;
    if (n < 1 || n > 100000000)
        return nn_fail(NN_EINVAL, "curve: n must be in [1, 100000000], got %lld", (long long)n);
    if (!(isfinite(noise) && noise >= 0))
        return nn_fail(NN_EINVAL, "curve: noise must be finite and >= 0, got %g", noise);
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    nn_tensor *x, *t;
    nn_status s = make_dataset(n, 1, 1, &x, &t);
    if (s)
        return finish(s, x, t, out);
    float *xd = nn_tensor_data(x), *td = nn_tensor_data(t);
    for (int64_t i = 0; i < n; i++) {
        const double u = nn_rng_uniform(&rng);
        xd[i] = (float)u;
        td[i] = (float)(sin(6.283185307179586 * u) + noise * nn_rng_normal(&rng));
    }
    return finish(NN_OK, x, t, out);
}
