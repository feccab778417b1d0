/* test_dense.c — the dense layer y = x W^T + b: forward against a hand loop
 * in double, backward (dW, db accumulated; dx) against central differences.
 *
 * Forward tolerance: each output is a float sum of `in` products plus the
 * bias, whose rounding error is at most ~in * 6e-8 * (sum_k |x_k W_jk| + |b_j|);
 * we allow 4 * (in + 1) * 6e-8 times that magnitude.
 *
 * Gradient check: L = sum_ij r_ij y_ij with fixed random r, summed in double
 * from the float32 forward, so dL/dW = r^T x, dL/db = colsum r, dL/dx = r W.
 * Step h = 1e-3 on values of order 1; L is linear in each parameter, so
 * there is no truncation error, only float rounding of the perturbed
 * outputs: ~in * 6e-8 * |y| * |r| * B / (2h) ~ 1e-4.  Tolerance: 1e-2
 * relative with an absolute floor of 1e-3; a wrong index, a missing term or
 * a transposition is off by O(1). */
#include "layers/layers.h"
#include "testutil.h"

#define H 1e-3
#define RTOL 1e-2
#define ATOL 1e-3

typedef struct densectx {
    int64_t B, in, out;
    float *x, *W, *b, *y;
    double *r;
} densectx;

static double dense_loss(void *p)
{
    densectx *c = p;
    nn_dense_forward(c->x, c->W, c->b, c->y, c->B, c->in, c->out);
    double L = 0;
    for (int64_t i = 0; i < c->B * c->out; i++)
        L += c->r[i] * c->y[i];
    return L;
}

static void make(densectx *c, int64_t B, int64_t in, int64_t out, uint64_t seed)
{
    c->B = B;
    c->in = in;
    c->out = out;
    c->x = malloc((size_t)(B * in) * sizeof(float));
    c->W = malloc((size_t)(out * in) * sizeof(float));
    c->b = malloc((size_t)out * sizeof(float));
    c->y = malloc((size_t)(B * out) * sizeof(float));
    c->r = malloc((size_t)(B * out) * sizeof(double));
    tu_seed(seed);
    for (int64_t i = 0; i < B * in; i++)
        c->x[i] = (float)tu_uniform(-1, 1);
    for (int64_t i = 0; i < out * in; i++)
        c->W[i] = (float)tu_uniform(-1, 1);
    for (int64_t i = 0; i < out; i++)
        c->b[i] = (float)tu_uniform(-1, 1);
    for (int64_t i = 0; i < B * out; i++)
        c->r[i] = tu_uniform(-1, 1);
}

static void unmake(densectx *c)
{
    free(c->x);
    free(c->W);
    free(c->b);
    free(c->y);
    free(c->r);
}

static void check_forward(int64_t B, int64_t in, int64_t out, uint64_t seed)
{
    densectx c;
    make(&c, B, in, out, seed);
    for (int64_t i = 0; i < B * out; i++)
        c.y[i] = NAN; /* forward must overwrite, not accumulate */
    nn_dense_forward(c.x, c.W, c.b, c.y, B, in, out);
    int bad = 0;
    for (int64_t i = 0; i < B; i++) {
        for (int64_t j = 0; j < out; j++) {
            double s = c.b[j], mag = fabs(c.b[j]);
            for (int64_t k = 0; k < in; k++) {
                s += (double)c.x[i * in + k] * c.W[j * in + k];
                mag += fabs((double)c.x[i * in + k] * c.W[j * in + k]);
            }
            const double got = c.y[i * out + j], tol = 4.0 * (double)(in + 1) * 6e-8 * mag;
            if (!(fabs(got - s) <= tol) && bad++ < 5)
                CHECK_MSG(0, "dense forward (%lld,%lld,%lld) y[%lld][%lld]: expected %.9g, got %.9g",
                          (long long)B, (long long)in, (long long)out, (long long)i, (long long)j,
                          s, got);
        }
    }
    CHECK_MSG(bad == 0, "dense forward (%lld,%lld,%lld): %d wrong outputs", (long long)B,
              (long long)in, (long long)out, bad);
    unmake(&c);
}

static void check_backward(int64_t B, int64_t in, int64_t out, uint64_t seed)
{
    densectx c;
    make(&c, B, in, out, seed);
    const int64_t nw = out * in;
    float *dy = malloc((size_t)(B * out) * sizeof(float));
    float *dW = malloc((size_t)nw * sizeof(float)), *db = malloc((size_t)out * sizeof(float));
    float *dx = malloc((size_t)(B * in) * sizeof(float));
    for (int64_t i = 0; i < B * out; i++)
        dy[i] = (float)c.r[i];
    /* Gradients accumulate: start from non-zero values and subtract them. */
    for (int64_t i = 0; i < nw; i++)
        dW[i] = 0.5f;
    for (int64_t i = 0; i < out; i++)
        db[i] = -0.25f;
    for (int64_t i = 0; i < B * in; i++)
        dx[i] = NAN; /* dx is overwritten, not accumulated */
    nn_dense_forward(c.x, c.W, c.b, c.y, B, in, out);
    nn_dense_backward(c.x, c.W, dy, dW, db, dx, B, in, out);
    for (int64_t i = 0; i < nw; i++)
        dW[i] -= 0.5f;
    for (int64_t i = 0; i < out; i++)
        db[i] += 0.25f;

    GRADCHECK("dense dW", dense_loss, &c, c.W, dW, nw, H, RTOL, ATOL);
    GRADCHECK("dense db", dense_loss, &c, c.b, db, out, H, RTOL, ATOL);
    GRADCHECK("dense dx", dense_loss, &c, c.x, dx, B * in, H, RTOL, ATOL);

    /* Without dx: the same dW and db. */
    float *dW2 = calloc((size_t)nw, sizeof(float)), *db2 = calloc((size_t)out, sizeof(float));
    nn_dense_backward(c.x, c.W, dy, dW2, db2, NULL, B, in, out);
    int same = 1;
    for (int64_t i = 0; i < nw; i++)
        same &= tu_close(dW[i], dW2[i], 1e-5, 1e-6);
    for (int64_t i = 0; i < out; i++)
        same &= tu_close(db[i], db2[i], 1e-5, 1e-6);
    CHECK_MSG(same, "dense backward without dx gives other dW/db");
    free(dW2);
    free(db2);
    free(dy);
    free(dW);
    free(db);
    free(dx);
    unmake(&c);
}

int main(void)
{
    check_forward(3, 5, 4, 1);
    check_forward(1, 1, 1, 2);
    check_forward(37, 70, 45, 3); /* past the kernel's small-shape path */
    check_forward(130, 9, 3, 4);
    check_backward(3, 5, 4, 5);
    check_backward(1, 7, 2, 6);
    check_backward(11, 19, 13, 7);
    return tu_finish();
}
