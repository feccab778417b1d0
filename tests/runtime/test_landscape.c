/* test_landscape.c — nn_loss_surface, nn_net_random_direction and
 * nn_plane_project (nnrun landscape).
 *
 * The surface is checked point by point against nn_evaluate at the same
 * parameters (set by hand, rounded to float the same way: equal bitwise),
 * the network's parameters come back unchanged, the figures are the same at
 * 1 and 4 threads, and on a least-squares problem solved exactly the grid's
 * lowest point is its centre.
 */
#include "testutil.h"

/* A 5-3-relu-2 network under MSE (B = 37 samples, odd sizes). */
static nn_net *small_net(void)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(5, &net));
    CHECK_OK(nn_net_add_dense(net, 5, 3, NULL, NULL));
    CHECK_OK(nn_net_add_activation(net, NN_ACT_RELU, 0.0f));
    CHECK_OK(nn_net_add_dense(net, 3, 2, NULL, NULL));
    return net;
}

static nn_dataset *random_data(int64_t n, int64_t in, int64_t out)
{
    nn_tensor *x = NULL, *t = NULL;
    nn_dataset *d = NULL;
    CHECK_OK(nn_tensor_create2d(n, in, &x));
    CHECK_OK(nn_tensor_create2d(n, out, &t));
    for (int64_t i = 0; i < n * in; i++)
        nn_tensor_data(x)[i] = (float)tu_uniform(-1, 1);
    for (int64_t i = 0; i < n * out; i++)
        nn_tensor_data(t)[i] = (float)tu_uniform(-1, 1);
    CHECK_OK(nn_dataset_create(x, t, &d));
    nn_tensor_free(x);
    nn_tensor_free(t);
    return d;
}

static void test_surface_matches_evaluate(void)
{
    nn_net *net = small_net();
    nn_dataset *d = random_data(37, 5, 2);
    const int64_t P = nn_net_param_count(net);
    CHECK_INT(5 * 3 + 3 + 3 * 2 + 2, P);
    float *w = nn_net_params(net);
    float *center = malloc((size_t)P * sizeof(float)), *before = malloc((size_t)P * sizeof(float));
    float *d1 = malloc((size_t)P * sizeof(float)), *d2 = malloc((size_t)P * sizeof(float));
    memcpy(center, w, (size_t)P * sizeof(float));
    memcpy(before, w, (size_t)P * sizeof(float));
    for (int64_t k = 0; k < P; k++) {
        d1[k] = (float)tu_uniform(-0.5, 0.5);
        d2[k] = (float)tu_uniform(-0.5, 0.5);
    }
    const double alpha[3] = {-1.0, 0.0, 0.75}, beta[2] = {0.0, -2.5};
    double out[6], out4[6];
    CHECK_OK(nn_set_threads(1));
    CHECK_OK(nn_loss_surface(net, d, NN_LOSS_MSE, center, d1, d2, alpha, 3, beta, 2, 7, out));
    CHECK(memcmp(before, w, (size_t)P * sizeof(float)) == 0); /* restored */
    for (int j = 0; j < 2; j++) {
        for (int i = 0; i < 3; i++) {
            for (int64_t k = 0; k < P; k++)
                w[k] = (float)((double)center[k] + alpha[i] * d1[k] + beta[j] * d2[k]);
            nn_eval_result r;
            CHECK_OK(nn_evaluate(net, d, NN_LOSS_MSE, 7, &r));
            CHECK_MSG(r.loss == out[j * 3 + i], "point (%d, %d): surface %.17g, evaluate %.17g", i,
                      j, out[j * 3 + i], r.loss);
        }
    }
    memcpy(w, before, (size_t)P * sizeof(float));
    /* The same figures at 4 threads. */
    CHECK_OK(nn_set_threads(4));
    CHECK_OK(nn_loss_surface(net, d, NN_LOSS_MSE, center, d1, d2, alpha, 3, beta, 2, 7, out4));
    CHECK(memcmp(out, out4, sizeof out) == 0);
    CHECK_OK(nn_set_threads(1));
    /* A line: d2 NULL. */
    const double zero = 0;
    double line[3];
    CHECK_OK(nn_loss_surface(net, d, NN_LOSS_MSE, center, d1, NULL, alpha, 3, &zero, 1, 7, line));
    CHECK(line[0] == out[0] && line[1] == out[1] && line[2] == out[2]);
    /* Failures leave the parameters as they were. */
    CHECK_ERR(NN_EINVAL, "loss surface: the grid needs at least 1 x 1 points, got 0 x 2",
              nn_loss_surface(net, d, NN_LOSS_MSE, center, d1, d2, alpha, 0, beta, 2, 0, out));
    CHECK_ERR(NN_EINVAL, "loss surface: a second direction is needed for beta != 0",
              nn_loss_surface(net, d, NN_LOSS_MSE, center, d1, NULL, alpha, 3, beta, 2, 0, out));
    nn_dataset *wrong = random_data(4, 6, 2);
    CHECK_STATUS(NN_ESHAPE,
                 nn_loss_surface(net, wrong, NN_LOSS_MSE, center, d1, d2, alpha, 3, beta, 2, 0, out));
    CHECK(memcmp(before, nn_net_params(net), (size_t)P * sizeof(float)) == 0);
    nn_dataset_free(wrong);
    free(center);
    free(before);
    free(d1);
    free(d2);
    nn_dataset_free(d);
    nn_net_free(net);
}

static double norm(const float *x, int64_t n)
{
    double s = 0;
    for (int64_t k = 0; k < n; k++)
        s += (double)x[k] * x[k];
    return sqrt(s);
}

static void test_random_direction(void)
{
    nn_net *net = small_net();
    const int64_t P = nn_net_param_count(net);
    float *w = nn_net_params(net);
    /* Non-zero biases, so that every block has a norm to match. */
    for (int64_t k = 15; k < 18; k++)
        w[k] = 0.1f * (float)(k - 14);
    w[24] = 0.5f;
    w[25] = -0.25f;
    float *a = malloc((size_t)P * sizeof(float)), *b = malloc((size_t)P * sizeof(float));
    nn_rng r1, r2;
    nn_rng_seed(&r1, 3);
    nn_rng_seed(&r2, 3);
    CHECK_OK(nn_net_random_direction(net, &r1, a));
    CHECK_OK(nn_net_random_direction(net, &r2, b));
    CHECK(memcmp(a, b, (size_t)P * sizeof(float)) == 0); /* same seed, same direction */
    /* Blocks: W1 [0,15), b1 [15,18), W2 [18,24), b2 [24,26).  The scaled
     * norm is exact up to float rounding of each entry (rtol 1e-6). */
    const int64_t off[5] = {0, 15, 18, 24, 26};
    for (int blk = 0; blk < 4; blk++) {
        const int64_t o = off[blk], n = off[blk + 1] - off[blk];
        CHECK_NEAR(norm(w + o, n), norm(a + o, n), 1e-6, 0);
    }
    CHECK_OK(nn_net_random_direction(net, &r1, b));
    CHECK(memcmp(a, b, (size_t)P * sizeof(float)) != 0); /* the stream went on */
    free(a);
    free(b);
    nn_net_free(net);
}

static void test_plane_project(void)
{
    enum { N = 101 };
    float c[N], d1[N], d2[N], p[N];
    for (int k = 0; k < N; k++) {
        c[k] = (float)tu_uniform(-1, 1);
        d1[k] = (float)tu_uniform(-1, 1);
        d2[k] = (float)tu_uniform(-1, 1) + 0.3f * d1[k]; /* not orthogonal */
        p[k] = (float)(c[k] + 0.3 * d1[k] - 1.7 * d2[k]);
    }
    double a = 0, b = 0;
    CHECK_OK(nn_plane_project(N, c, d1, d2, p, &a, &b));
    /* p is rounded to float: errors of ~1e-7 per entry. */
    CHECK_NEAR(0.3, a, 0, 1e-5);
    CHECK_NEAR(-1.7, b, 0, 1e-5);
    CHECK_ERR(NN_EINVAL, "plane projection: the two directions are zero or parallel",
              nn_plane_project(N, c, d1, d1, p, &a, &b));
}

/* Least squares y = X w (a dense layer, no activation, MSE) solved exactly:
 * the data are made from known weights, so the loss is 0 at them and > 0
 * elsewhere; the lowest point of the grid is its centre. */
static void test_convex_minimum(void)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(1, &net));
    CHECK_OK(nn_net_add_dense(net, 3, 1, NULL, NULL));
    const int64_t P = nn_net_param_count(net);
    float *w = nn_net_params(net);
    nn_tensor *x = NULL, *t = NULL;
    nn_dataset *d = NULL;
    CHECK_OK(nn_tensor_create2d(41, 3, &x));
    CHECK_OK(nn_tensor_create2d(41, 1, &t));
    for (int i = 0; i < 41; i++) {
        float *xi = nn_tensor_data(x) + 3 * i;
        double y = w[3];
        for (int k = 0; k < 3; k++) {
            xi[k] = (float)tu_uniform(-1, 1);
            y += (double)w[k] * xi[k];
        }
        nn_tensor_data(t)[i] = (float)y;
    }
    CHECK_OK(nn_dataset_create(x, t, &d));
    float center[4], d1[4], d2[4];
    memcpy(center, w, sizeof center);
    nn_rng rng;
    nn_rng_seed(&rng, 8);
    CHECK_OK(nn_net_random_direction(net, &rng, d1));
    CHECK_OK(nn_net_random_direction(net, &rng, d2));
    double alpha[9], grid[81];
    for (int i = 0; i < 9; i++)
        alpha[i] = -1 + 0.25 * i;
    CHECK_OK(nn_loss_surface(net, d, NN_LOSS_MSE, center, d1, d2, alpha, 9, alpha, 9, 0, grid));
    int best = 0;
    for (int k = 1; k < 81; k++) {
        if (grid[k] < grid[best])
            best = k;
    }
    CHECK_INT(4 * 9 + 4, best);
    CHECK(grid[best] < 1e-10);
    (void)P;
    nn_dataset_free(d);
    nn_tensor_free(x);
    nn_tensor_free(t);
    nn_net_free(net);
}

int main(void)
{
    tu_seed(12);
    test_surface_matches_evaluate();
    test_random_direction();
    test_plane_project();
    test_convex_minimum();
    return tu_finish();
}
