/* test_conv.c — convolutional layers: conv2d, maxpool, avgpool,
 * global_avgpool, flatten, batchnorm over channels, and the network's
 * input shape.
 *
 * - conv2d forward against a direct double-precision convolution at odd
 *   geometries (C > 1, non-square 7x5 images, stride 2, padding, dilation
 *   2, a kernel as large as the padded input);
 * - gradients of every kind against central differences at those sizes,
 *   for the input and every parameter (B = 3);
 * - shapes (nn_net_layer_shape, nn_net_input_shape), parameter views, and
 *   the errors of nn_net_set_input and of the kinds' settings;
 * - a checkpoint of a CNN: the input shape survives save -> load, the
 *   outputs are the same bits, a different input shape is refused;
 * - training a small CNN at 1 to 4 threads gives the same bits, and a run
 *   checkpointed mid-way and resumed ends bitwise where the uninterrupted
 *   one does;
 * - 3x3 stride-1 convolutions forced onto Winograd against the direct
 *   convolution, and against im2col for y, dx, dW and db.
 * ctest runs it three times: as the shapes choose the path, and with
 * NNRUN_CONV=winograd and =im2col (every check on each path).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "kernels/winograd.h"
#include "testutil.h"

enum { B = 3 };

/* conv2d with explicit settings and uniform(-0.5, 0.5) weights and bias. */
static nn_status conv(nn_net *net, int filters, int kernel, int stride, int padding, int dilation)
{
    const char *keys[] = {"filters", "kernel", "stride", "padding", "dilation", "init", "bias_init"};
    nn_value v[7];
    memset(v, 0, sizeof v);
    v[0].num = filters;
    v[1].num = kernel;
    v[2].num = stride;
    v[3].num = padding;
    v[4].num = dilation;
    v[5].init = (nn_init){NN_INIT_UNIFORM, -0.5f, 0.5f};
    v[6].init = (nn_init){NN_INIT_UNIFORM, -0.3f, 0.3f};
    const nn_layer_spec spec = {"conv2d", 7, keys, v};
    return nn_net_add(net, &spec);
}

static nn_status pool(nn_net *net, const char *kind, int size, int stride)
{
    const char *keys[] = {"size", "stride"};
    const double v[] = {size, stride};
    return tu_add_layer(net, kind, 2, keys, v);
}

static nn_status plain(nn_net *net, const char *kind) { return tu_add_layer(net, kind, 0, NULL, NULL); }

/* dense of `units`, its input from the previous layer (or the input shape),
 * uniform(-0.5, 0.5) weights. */
static nn_status dense(nn_net *net, int units)
{
    const char *keys[] = {"units", "init"};
    nn_value v[2];
    memset(v, 0, sizeof v);
    v[0].num = units;
    v[1].init = (nn_init){NN_INIT_UNIFORM, -0.5f, 0.5f};
    const nn_layer_spec spec = {"dense", 2, keys, v};
    return nn_net_add(net, &spec);
}

/* ---- forward against a direct convolution ------------------------------ */

/* nb samples; |y - direct| <= tol (1 + |direct|). */
static void check_forward_at(int nb, double tol, int C, int H, int W, int F, int k, int s, int p, int d)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(3, &net));
    CHECK_OK(nn_net_set_input(net, C, H, W));
    CHECK_OK(conv(net, F, k, s, p, d));
    const int OH = (H + 2 * p - d * (k - 1) - 1) / s + 1, OW = (W + 2 * p - d * (k - 1) - 1) / s + 1;
    int64_t shape[3];
    CHECK_OK(nn_net_layer_shape(net, 0, shape));
    CHECK_INT(F, shape[0]);
    CHECK_INT(OH, shape[1]);
    CHECK_INT(OW, shape[2]);
    const int n = C * H * W;
    float *xv = malloc((size_t)(nb * n) * sizeof(float));
    for (int i = 0; i < nb * n; i++)
        xv[i] = (float)tu_uniform(-1, 1);
    nn_tensor *x = NULL;
    const nn_tensor *y = NULL;
    CHECK_OK(nn_tensor_from(nb, n, xv, &x));
    CHECK_OK(nn_net_forward(net, x, &y));
    const float *w = nn_net_params(net), *bias = w + (int64_t)F * C * k * k;
    int bad = 0;
    for (int b = 0; b < nb; b++)
        for (int f = 0; f < F; f++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double sum = bias[f];
                    for (int c = 0; c < C; c++)
                        for (int ki = 0; ki < k; ki++)
                            for (int kj = 0; kj < k; kj++) {
                                const int ih = oh * s - p + ki * d, iw = ow * s - p + kj * d;
                                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                    sum += (double)w[((f * C + c) * k + ki) * k + kj] *
                                           xv[b * n + (c * H + ih) * W + iw];
                            }
                    const float got = nn_tensor_cdata(y)[((b * F + f) * OH + oh) * OW + ow];
                    if (!tu_close(sum, got, tol, tol) && bad++ < 3)
                        CHECK_MSG(0, "conv %dx%dx%d F%d k%d s%d p%d d%d: y[%d,%d,%d,%d] = %.7g, direct %.7g", C, H,
                                  W, F, k, s, p, d, b, f, oh, ow, (double)got, sum);
                }
    CHECK_MSG(bad == 0, "conv %dx%dx%d k%d s%d p%d d%d: %d outputs differ", C, H, W, k, s, p, d, bad);
    nn_tensor_free(x);
    free(xv);
    nn_net_free(net);
}

/* im2col: float32 sums of at most C k k = 75 products of magnitude <=
 * 0.5: within 1e-5. */
static void check_forward(int C, int H, int W, int F, int k, int s, int p, int d)
{
    check_forward_at(B, 1e-5, C, H, W, F, k, s, p, d);
}

static void test_forward(void)
{
    check_forward(1, 5, 5, 2, 3, 1, 0, 1);
    check_forward(2, 7, 5, 3, 3, 2, 1, 1); /* stride 2, padding, non-square */
    check_forward(3, 7, 5, 4, 3, 1, 2, 2); /* dilation 2 */
    check_forward(2, 6, 9, 3, 2, 3, 1, 1); /* even kernel, stride 3 */
    check_forward(2, 3, 4, 2, 5, 1, 1, 1); /* kernel = padded height */
    check_forward(1, 4, 4, 3, 1, 1, 0, 1); /* 1x1 */
    check_forward(2, 9, 8, 3, 3, 1, 1, 1);   /* P = 72: the products per sample */
    check_forward(3, 19, 17, 4, 3, 2, 1, 2); /* P = 8 x 8, stride 2, dilation 2 */
}

/* ---- gradients --------------------------------------------------------- */

/* L = sum r .* y for a fixed r; dL/dy = r. */
typedef struct gc {
    nn_net *net;
    nn_tensor *x;
    float *r;
    int64_t nout;
} gc;

static double loss_of(void *ctx)
{
    gc *g = ctx;
    const nn_tensor *y;
    if (nn_net_forward(g->net, g->x, &y) != NN_OK)
        return NAN;
    double L = 0.0;
    for (int64_t i = 0; i < B * g->nout; i++)
        L += (double)g->r[i] * nn_tensor_cdata(y)[i];
    return L;
}

/* x: B rows of distinct values (each row a shuffled grid 3 / in apart,
 * 0.04 at in = 70, so that a max window has no near-tie a step of h = 1e-2
 * could flip) or uniform ones. */
static void gradcheck(const char *what, nn_net *net, nn_mode mode, int distinct)
{
    const int64_t in = nn_net_input_size(net), out = nn_net_output_size(net);
    gc g = {net, NULL, malloc((size_t)(B * out) * sizeof(float)), out};
    float *xv = malloc((size_t)(B * in) * sizeof(float));
    for (int64_t i = 0; i < B * in; i++)
        xv[i] = distinct ? (float)(-1.5 + 3.0 * (double)(i % in) / (double)in) : (float)tu_uniform(-1.5, 1.5);
    if (distinct) /* Fisher-Yates within each row */
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = in - 1; i > 0; i--) {
                const int64_t j = (int64_t)tu_uniform(0, (double)i + 1);
                const float t = xv[b * in + i];
                xv[b * in + i] = xv[b * in + j];
                xv[b * in + j] = t;
            }
    for (int64_t i = 0; i < B * out; i++)
        g.r[i] = (float)tu_uniform(-1.0, 1.0);
    CHECK_OK(nn_tensor_from(B, in, xv, &g.x));
    CHECK_OK(nn_net_set_mode(net, mode));
    float *st = nn_net_state(net);
    for (int64_t i = 0; i < nn_net_state_count(net); i++)
        st[i] = i < nn_net_state_count(net) / 2 ? (float)tu_uniform(-0.5, 0.5) : (float)tu_uniform(0.5, 2.0);
    const nn_tensor *y, *dx;
    nn_tensor *dy = NULL;
    CHECK_OK(nn_tensor_from(B, out, g.r, &dy));
    nn_net_zero_grad(net);
    CHECK_OK(nn_net_forward(net, g.x, &y));
    CHECK_OK(nn_net_backward(net, dy, &dx));
    float *gx = malloc((size_t)(B * in) * sizeof(float));
    memcpy(gx, nn_tensor_cdata(dx), (size_t)(B * in) * sizeof(float));
    const int64_t P = nn_net_param_count(net);
    float *gp = malloc((size_t)(P ? P : 1) * sizeof(float));
    if (P)
        memcpy(gp, nn_net_grads(net), (size_t)P * sizeof(float));
    /* As test_layers.c: float32 forward passes, h = 1e-2 keeps rounding
     * (~1e-7 |L| / h) and truncation (h^2 f''') errors under 2e-3
     * relative, 1e-4 absolute near 0.  The layers here are piecewise
     * linear or smooth (tanh, batchnorm) away from kinks. */
    char name[128];
    snprintf(name, sizeof name, "%s dx", what);
    GRADCHECK(name, loss_of, &g, nn_tensor_data(g.x), gx, B * in, 1e-2, 2e-3, 1e-4);
    if (P) {
        snprintf(name, sizeof name, "%s dparams", what);
        GRADCHECK(name, loss_of, &g, nn_net_params(net), gp, P, 1e-2, 2e-3, 1e-4);
    }
    free(gp);
    free(gx);
    free(xv);
    free(g.r);
    nn_tensor_free(dy);
    nn_tensor_free(g.x);
}

static nn_net *image_net(int C, int H, int W)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(11, &net));
    CHECK_OK(nn_net_set_input(net, C, H, W));
    return net;
}

static void test_gradients(void)
{
    nn_net *net;
    /* stride 2, padding 1, C = 2, 7x5 -> dense (implicit flatten) */
    net = image_net(2, 7, 5);
    CHECK_OK(conv(net, 3, 3, 2, 1, 1));
    CHECK_OK(dense(net, 4));
    gradcheck("conv s2 p1", net, NN_MODE_TRAIN, 0);
    nn_net_free(net);
    /* dilation 2, padding 2, two convolutions (the second's dx goes
     * through col2im into the first; linear, so that the check has no
     * truncation error: tanh's curvature with these weights and inputs
     * would bring it near the tolerance) */
    net = image_net(3, 7, 5);
    CHECK_OK(conv(net, 2, 3, 1, 2, 2));
    CHECK_OK(tu_add_act(net, "identity"));
    CHECK_OK(conv(net, 3, 2, 1, 0, 1));
    gradcheck("conv d2 p2 -> conv k2", net, NN_MODE_TRAIN, 0);
    nn_net_free(net);
    /* a second 3x3 convolution of 8 channels goes on Winograd (partial
     * tiles: 9x7 outputs), its dx into the first; the average keeps |L|
     * (and so the differences' rounding) small */
    net = image_net(3, 7, 5);
    CHECK_OK(conv(net, 8, 3, 1, 1, 1));
    CHECK_OK(tu_add_act(net, "identity"));
    CHECK_OK(conv(net, 5, 3, 1, 2, 1));
    CHECK_OK(plain(net, "global_avgpool"));
    gradcheck("conv 3->8 p1 -> conv 8->5 p2 -> gap", net, NN_MODE_TRAIN, 0);
    nn_net_free(net);
    /* products per sample (P >= 64, with the bias's row of ones): a
     * stride-2 first layer of 9x8 outputs, then a 1x1 one of 11x10 (K = 3
     * < F = 9: dW^T) whose dx flows through col2im into it, then a pool */
    net = image_net(2, 17, 16);
    CHECK_OK(conv(net, 3, 3, 2, 1, 1));
    CHECK_OK(tu_add_act(net, "identity"));
    CHECK_OK(conv(net, 9, 1, 1, 1, 1));
    CHECK_OK(pool(net, "avgpool", 2, 2));
    gradcheck("conv s2 p1 17x16 -> conv 1x1 p1 -> avgpool", net, NN_MODE_TRAIN, 0);
    nn_net_free(net);
    /* few inputs per filter (K = 4 < F = 13): dW goes through dW^T, with
     * the batch's rows accumulated over chunks, and accumulating into
     * the gradients of an earlier backward */
    net = image_net(1, 6, 5);
    CHECK_OK(conv(net, 13, 2, 1, 0, 1));
    CHECK_OK(dense(net, 3));
    gradcheck("conv 1->13 k2", net, NN_MODE_TRAIN, 0);
    nn_net_free(net);
    /* maxpool with stride != size (overlapping windows), on the input */
    net = image_net(2, 7, 5);
    CHECK_OK(pool(net, "maxpool", 3, 2));
    CHECK_OK(dense(net, 3));
    gradcheck("maxpool 3/2", net, NN_MODE_TRAIN, 1);
    nn_net_free(net);
    net = image_net(2, 7, 5);
    CHECK_OK(pool(net, "maxpool", 2, 0)); /* 2x2, the fast path; 7x5 -> 3x2 drops a row and a column */
    CHECK_OK(plain(net, "flatten"));
    gradcheck("maxpool 2", net, NN_MODE_TRAIN, 1);
    nn_net_free(net);
    /* avgpool: overlapping and default */
    net = image_net(2, 7, 5);
    CHECK_OK(pool(net, "avgpool", 2, 1));
    CHECK_OK(pool(net, "avgpool", 2, 0));
    gradcheck("avgpool 2/1 -> 2", net, NN_MODE_TRAIN, 0);
    nn_net_free(net);
    /* conv -> batchnorm over channels -> tanh -> global_avgpool -> dense,
     * in both modes */
    const nn_mode modes[] = {NN_MODE_TRAIN, NN_MODE_EVAL};
    for (int m = 0; m < 2; m++) {
        net = image_net(2, 5, 7);
        CHECK_OK(conv(net, 4, 3, 1, 1, 1));
        CHECK_OK(plain(net, "batchnorm"));
        CHECK_OK(tu_add_act(net, "tanh"));
        CHECK_OK(plain(net, "global_avgpool"));
        CHECK_OK(dense(net, 3));
        CHECK_INT(2 * 4, nn_net_state_count(net)); /* running mean and variance per channel */
        gradcheck(m ? "conv bn(eval) gap" : "conv bn(train) gap", net, modes[m], 0);
        nn_net_free(net);
    }
}

/* Images large enough that the batch goes through conv2d in chunks (one
 * sample each: K P = 200 x 1296 floats is past the chunk size): the
 * batch's outputs, gradients and dx are bitwise those of the samples one
 * at a time, accumulated in order.  Both dW layouts (K < F and K > F). */
static void check_chunks(int C, int F, int k)
{
    enum { HW = 36 };
    nn_net *net = image_net(C, HW, HW);
    CHECK_OK(conv(net, F, k, 1, k / 2, 1));
    const int64_t in = nn_net_input_size(net), out = nn_net_output_size(net), P = nn_net_param_count(net);
    float *xv = malloc((size_t)(B * in) * sizeof(float)), *dyv = malloc((size_t)(B * out) * sizeof(float));
    for (int64_t i = 0; i < B * in; i++)
        xv[i] = (float)tu_uniform(-1, 1);
    for (int64_t i = 0; i < B * out; i++)
        dyv[i] = (float)tu_uniform(-1, 1);
    float *y = malloc((size_t)(B * out) * sizeof(float)), *dx = malloc((size_t)(B * in) * sizeof(float));
    float *g = malloc((size_t)P * sizeof(float));
    nn_tensor *x = NULL, *dy = NULL;
    const nn_tensor *yt, *dxt;
    CHECK_OK(nn_tensor_from(B, in, xv, &x));
    CHECK_OK(nn_tensor_from(B, out, dyv, &dy));
    nn_net_zero_grad(net);
    CHECK_OK(nn_net_forward(net, x, &yt));
    memcpy(y, nn_tensor_cdata(yt), (size_t)(B * out) * sizeof(float));
    CHECK_OK(nn_net_backward(net, dy, &dxt));
    memcpy(dx, nn_tensor_cdata(dxt), (size_t)(B * in) * sizeof(float));
    memcpy(g, nn_net_grads(net), (size_t)P * sizeof(float));
    nn_tensor_free(x);
    nn_tensor_free(dy);
    nn_net_zero_grad(net);
    int same_y = 1, same_dx = 1;
    for (int b = 0; b < B; b++) {
        CHECK_OK(nn_tensor_from(1, in, xv + b * in, &x));
        CHECK_OK(nn_tensor_from(1, out, dyv + b * out, &dy));
        CHECK_OK(nn_net_forward(net, x, &yt));
        same_y &= memcmp(y + b * out, nn_tensor_cdata(yt), (size_t)out * sizeof(float)) == 0;
        CHECK_OK(nn_net_backward(net, dy, &dxt));
        same_dx &= memcmp(dx + b * in, nn_tensor_cdata(dxt), (size_t)in * sizeof(float)) == 0;
        nn_tensor_free(x);
        nn_tensor_free(dy);
    }
    CHECK_MSG(same_y, "conv %d->%d k%d: a batch's outputs differ from its samples'", C, F, k);
    CHECK_MSG(same_dx, "conv %d->%d k%d: a batch's dx differs from its samples'", C, F, k);
    CHECK_MSG(memcmp(g, nn_net_grads(net), (size_t)P * sizeof(float)) == 0,
              "conv %d->%d k%d: a batch's gradients differ from its samples' accumulated", C, F, k);
    free(xv);
    free(dyv);
    free(y);
    free(dx);
    free(g);
    nn_net_free(net);
}

static void test_chunks(void)
{
    check_chunks(8, 3, 5);   /* K = 200 > F */
    check_chunks(1, 40, 15); /* K = 225 > F, but at a 12 x 32 tile dW^T covers less */
    check_chunks(2, 64, 11); /* K = 242 */
}

/* ---- Winograd F(2x2, 3x3) against the direct convolution and im2col ---- */

static void test_winograd_forward(void)
{
    nn_conv_force_mode(NN_CONV_WINOGRAD);
    /* C, H, W, F, p: odd and even outputs (partial tiles), padding 0 to
     * 2; 7 samples: chunks of 2, the last of 1 */
    static const int geo[][5] = {
        {1, 7, 5, 5, 0},  /* 5x3 */
        {3, 7, 5, 16, 1}, /* 7x5 */
        {8, 7, 5, 5, 2},  /* 9x7 */
        {3, 5, 9, 5, 0},  /* 3x7 */
        {8, 6, 8, 16, 0}, /* 4x6: whole tiles */
        {1, 5, 9, 16, 2}, /* 7x11 */
        {8, 6, 9, 5, 1},  /* 6x9 */
        {3, 3, 3, 5, 0},  /* 1x1: one partial tile */
    };
    /* The transforms scale a 4x4 patch by up to 4 and the weights by up
     * to 2.25 before the 16 C products, then combine 9 of those: float32
     * rounding of such sums stays under 1e-5 relative (a wrong transform
     * coefficient is off by ~0.1). */
    for (size_t i = 0; i < sizeof geo / sizeof *geo; i++)
        check_forward_at(7, 1e-5, geo[i][0], geo[i][1], geo[i][2], geo[i][3], 3, 1, geo[i][4], 1);
    nn_conv_force_mode(-1);
}

/* The same convolution (same seed: same weights) on im2col and on
 * Winograd, nb samples: y, dx, dW and db within 1e-5 (relative to the
 * largest magnitude of each), not the same bits (two paths; db is summed
 * by the products' row of ones on im2col once P >= 64, by nn_conv_gather
 * on Winograd). */
static void check_paths(int C, int H, int W, int F, int p, int nb)
{
    const int modes[2] = {NN_CONV_IM2COL, NN_CONV_WINOGRAD};
    float *got[2][3] = {{NULL}};
    int64_t size[3] = {0};
    float *xv = NULL, *dyv = NULL;
    for (int m = 0; m < 2; m++) {
        nn_conv_force_mode(modes[m]);
        nn_net *net = image_net(C, H, W);
        CHECK_OK(conv(net, F, 3, 1, p, 1));
        const int64_t in = nn_net_input_size(net), out = nn_net_output_size(net);
        size[0] = nb * out;
        size[1] = nb * in;
        size[2] = nn_net_param_count(net);
        if (!xv) {
            xv = malloc((size_t)size[1] * sizeof(float));
            dyv = malloc((size_t)size[0] * sizeof(float));
            for (int64_t i = 0; i < size[1]; i++)
                xv[i] = (float)tu_uniform(-1, 1);
            for (int64_t i = 0; i < size[0]; i++)
                dyv[i] = (float)tu_uniform(-1, 1);
        }
        nn_tensor *x = NULL, *dy = NULL;
        const nn_tensor *y, *dx;
        CHECK_OK(nn_tensor_from(nb, in, xv, &x));
        CHECK_OK(nn_tensor_from(nb, out, dyv, &dy));
        nn_net_zero_grad(net);
        CHECK_OK(nn_net_forward(net, x, &y));
        const float *src[3] = {nn_tensor_cdata(y), NULL, nn_net_grads(net)};
        got[m][0] = malloc((size_t)size[0] * sizeof(float));
        memcpy(got[m][0], src[0], (size_t)size[0] * sizeof(float));
        CHECK_OK(nn_net_backward(net, dy, &dx));
        src[1] = nn_tensor_cdata(dx);
        for (int k = 1; k < 3; k++) {
            got[m][k] = malloc((size_t)size[k] * sizeof(float));
            memcpy(got[m][k], src[k], (size_t)size[k] * sizeof(float));
        }
        nn_tensor_free(x);
        nn_tensor_free(dy);
        nn_net_free(net);
    }
    nn_conv_force_mode(-1);
    const char *names[4] = {"y", "dx", "dW", "db"};
    const int64_t nw = (int64_t)F * C * 9;
    const int64_t per_sample = (int64_t)(H + 2 * p - 2) * (W + 2 * p - 2) >= 64;
    for (int k = 0; k < 4; k++) {
        const int64_t n = k == 3 ? F : k == 2 ? nw : size[k], at = k == 3 ? nw : 0;
        const float *a = got[0][k < 3 ? k : 2] + at, *b = got[1][k < 3 ? k : 2] + at;
        double big = 0.0, worst = 0.0;
        for (int64_t i = 0; i < n; i++) {
            big = fmax(big, fabs(a[i]));
            worst = fmax(worst, fabs((double)a[i] - b[i]));
        }
        CHECK_MSG(worst <= 1e-5 * big, "conv %dx%dx%d F%d p%d: Winograd's %s differs from im2col's by %g (of %g)", C,
                  H, W, F, p, names[k], worst, big);
        if (k < 3 || per_sample) /* db: the same sums on both below P = 64 */
            CHECK_MSG(memcmp(a, b, (size_t)n * sizeof(float)) != 0,
                      "conv %dx%dx%d F%d p%d: %s the same bits on both paths (one path taken twice?)", C, H, W, F,
                      p, names[k]);
        else
            CHECK_MSG(memcmp(a, b, (size_t)n * sizeof(float)) == 0,
                      "conv %dx%dx%d F%d p%d: db differs between the paths", C, H, W, F, p);
    }
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 3; k++)
            free(got[m][k]);
    free(xv);
    free(dyv);
}

static void test_winograd_paths(void)
{
    check_paths(3, 7, 5, 5, 1, 7);
    check_paths(8, 5, 9, 16, 0, 9);
    check_paths(8, 6, 8, 16, 2, 5);
    check_paths(32, 14, 14, 64, 1, 11); /* the bench network's second layer */
}

/* ---- shapes, views, errors --------------------------------------------- */

static void test_shapes(void)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(1, &net));
    int64_t s[3];
    nn_net_input_shape(net, s);
    CHECK(s[0] == 0 && s[1] == 0 && s[2] == 0);
    CHECK_ERR(NN_EINVAL, "net: input shape 1x0x28: every dimension must be >= 1", nn_net_set_input(net, 1, 0, 28));
    CHECK_ERR(NN_EINVAL, "net: input shape 65536x65536x1 is too large", nn_net_set_input(net, 65536, 65536, 1));
    CHECK_ERR(NN_ESTATE, "layer 1 (conv2d): a first conv2d layer needs the network's input shape (nn_net_set_input)",
              conv(net, 4, 3, 1, 0, 1));
    CHECK_OK(nn_net_set_input(net, 1, 28, 28));
    nn_net_input_shape(net, s);
    CHECK(s[0] == 1 && s[1] == 28 && s[2] == 28);
    {
        const char *keys[] = {"filters", "kernel", "padding"};
        const double v[] = {32, 3, 1};
        CHECK_OK(tu_add_layer(net, "conv2d", 3, keys, v));
    }
    CHECK_ERR(NN_EINVAL, "net: the input shape is set before the first layer (the network has 1)",
              nn_net_set_input(net, 1, 28, 28));
    CHECK_OK(tu_add_act(net, "relu"));
    CHECK_OK(pool(net, "maxpool", 2, 0));
    CHECK_OK(conv(net, 64, 3, 1, 1, 1));
    CHECK_OK(pool(net, "avgpool", 3, 2));
    CHECK_OK(plain(net, "flatten"));
    CHECK_OK(nn_net_add_dense(net, 64 * 6 * 6, 10, NULL, NULL));
    const int64_t want[][3] = {{32, 28, 28}, {32, 28, 28}, {32, 14, 14}, {64, 14, 14}, {64, 6, 6}, {2304, 1, 1}, {10, 1, 1}};
    for (int i = 0; i < 7; i++) {
        CHECK_OK(nn_net_layer_shape(net, i, s));
        CHECK_MSG(s[0] == want[i][0] && s[1] == want[i][1] && s[2] == want[i][2], "layer %d: %lldx%lldx%lld", i,
                  (long long)s[0], (long long)s[1], (long long)s[2]);
    }
    CHECK_ERR(NN_ERANGE, "net: layer index 7 outside [0, 7)", nn_net_layer_shape(net, 7, s));
    CHECK_INT(784, nn_net_input_size(net));
    CHECK_INT(32 * 9 + 32 + 64 * 32 * 9 + 64 + 2304 * 10 + 10, nn_net_param_count(net));
    nn_tensor *v = NULL;
    CHECK_OK(nn_net_param(net, 3, NN_WEIGHTS, &v));
    CHECK_INT(64, nn_tensor_rows(v));
    CHECK_INT(32 * 9, nn_tensor_cols(v));
    nn_tensor_free(v);
    CHECK_OK(nn_net_param(net, 3, NN_BIAS_GRAD, &v));
    CHECK_INT(64, nn_tensor_rows(v));
    nn_tensor_free(v);
    nn_layer_info li;
    CHECK_OK(nn_net_layer_info(net, 0, &li));
    CHECK_STR("conv2d", li.name);
    CHECK_INT(784, li.in);
    CHECK_INT(32 * 784, li.out);
    CHECK_INT(32 * 9 + 32, li.params);
    /* he_uniform by default: |w| <= sqrt(6 / fan_in), fan_in = C k k = 9 */
    const float lim = sqrtf(6.0f / 9.0f), *w = nn_net_params(net);
    int inside = 1;
    for (int i = 0; i < 32 * 9; i++)
        inside &= fabsf(w[i]) <= lim;
    CHECK(inside);
    CHECK_FLOAT_EQ(0.0f, w[32 * 9]); /* bias zeros */
    /* errors of the settings, named as nn_net_add names them */
    CHECK_ERR(NN_ESHAPE, "layer 8 (conv2d): kernel 3 is larger than the padded input 1x1", conv(net, 2, 3, 1, 0, 1));
    nn_net_free(net);
    net = image_net(2, 3, 3);
    CHECK_ERR(NN_ESHAPE, "layer 1 (conv2d): kernel 5 is larger than the padded input 3x3", conv(net, 2, 5, 1, 0, 1));
    CHECK_ERR(NN_ESHAPE, "layer 1 (conv2d): kernel 3 at dilation 2 spans 5, more than the padded input 3x3",
              conv(net, 2, 3, 1, 0, 2));
    CHECK_ERR(NN_EINVAL, "layer 1 (conv2d): stride must be an integer >= 1, got 0", conv(net, 2, 3, 0, 0, 1));
    {
        const char *k = "kernel";
        const double v1 = 3;
        CHECK_ERR(NN_EINVAL, "layer 1 (conv2d): filters is required", tu_add_layer(net, "conv2d", 1, &k, &v1));
    }
    CHECK_ERR(NN_ESHAPE, "layer 1 (maxpool): size 4 is larger than the input 3x3", pool(net, "maxpool", 4, 0));
    CHECK_OK(pool(net, "avgpool", 2, 1)); /* 2x2x2 */
    CHECK_OK(plain(net, "global_avgpool"));
    CHECK_OK(nn_net_layer_shape(net, 1, s));
    CHECK(s[0] == 2 && s[1] == 1 && s[2] == 1);
    char d[96];
    nn_layer_spec spec;
    CHECK_OK(nn_net_layer_spec(net, 0, &spec));
    CHECK_STR("avgpool", spec.kind);
    CHECK_INT(2, spec.n);
    nn_net_free(net);
    /* a dense first layer on a set input takes C H W features */
    net = image_net(2, 3, 3);
    CHECK_ERR(NN_ESHAPE, "layer 1 (dense): input has 17 features, previous layer gives 18",
              nn_net_add_dense(net, 17, 4, NULL, NULL));
    CHECK_OK(nn_net_add_dense(net, 18, 4, NULL, NULL));
    CHECK_OK(plain(net, "flatten")); /* of {4,1,1}: a no-op */
    nn_net_input_shape(net, s);
    CHECK(s[0] == 2 && s[1] == 3 && s[2] == 3);
    (void)d;
    nn_net_free(net);
    /* without a set input the first dense layer gives {in,1,1} */
    CHECK_OK(nn_net_create(1, &net));
    CHECK_OK(nn_net_add_dense(net, 5, 4, NULL, NULL));
    nn_net_input_shape(net, s);
    CHECK(s[0] == 5 && s[1] == 1 && s[2] == 1);
    nn_net_free(net);
    /* the registry lists the kinds with their specs */
    int found = 0;
    for (int k = 0; k < nn_layer_kind_count(); k++) {
        const nn_param_spec *ps = NULL;
        const int np = nn_layer_kind_params(k, &ps);
        CHECK(ps != NULL);
        if (strcmp(nn_layer_kind_name(k), "conv2d") == 0) {
            found++;
            CHECK_INT(7, np);
            CHECK_STR("filters", ps[0].name);
            CHECK_INT(1, ps[0].primary);
            CHECK(isnan(ps[1].def));
            CHECK_STR("he_uniform", ps[5].choices[(int)ps[5].def]);
        }
        if (strcmp(nn_layer_kind_name(k), "maxpool") == 0 || strcmp(nn_layer_kind_name(k), "avgpool") == 0) {
            found++;
            CHECK_INT(2, np);
            CHECK_STR("size", ps[0].name);
            CHECK_INT(1, ps[0].primary);
        }
        if (strcmp(nn_layer_kind_name(k), "global_avgpool") == 0 || strcmp(nn_layer_kind_name(k), "flatten") == 0) {
            found++;
            CHECK_INT(0, np);
        }
    }
    CHECK_INT(5, found);
}

/* ---- checkpoint, threads, resume --------------------------------------- */

/* digits03 images are 8x8: conv 3x3 p1 (w1) -> relu -> maxpool 2 -> conv
 * 3x3 s2 p1 (w2) -> batchnorm -> relu -> flatten -> dropout -> dense 4. */
static nn_net *cnn(uint64_t seed, int w1, int w2)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(seed, &net));
    CHECK_OK(nn_net_set_input(net, 1, 8, 8));
    const char *ck[] = {"filters", "kernel", "padding"};
    const double c1[] = {w1, 3, 1};
    CHECK_OK(tu_add_layer(net, "conv2d", 3, ck, c1));
    CHECK_OK(tu_add_act(net, "relu"));
    CHECK_OK(pool(net, "maxpool", 2, 0));
    const char *ck2[] = {"filters", "kernel", "stride", "padding"};
    const double c2[] = {w2, 3, 2, 1};
    CHECK_OK(tu_add_layer(net, "conv2d", 4, ck2, c2));
    CHECK_OK(plain(net, "batchnorm"));
    CHECK_OK(tu_add_act(net, "relu"));
    CHECK_OK(plain(net, "flatten"));
    const char *pk = "p";
    const double p = 0.2;
    CHECK_OK(tu_add_layer(net, "dropout", 1, &pk, &p));
    CHECK_OK(dense(net, 4));
    return net;
}
static nn_net *small_cnn(uint64_t seed) { return cnn(seed, 6, 8); }

static nn_train_config train_config(void)
{
    nn_train_config c = nn_train_defaults();
    c.loss = NN_LOSS_CROSS_ENTROPY;
    c.sgd.lr = 0.05f;
    c.sgd.momentum = 0.9f;
    c.batch_size = 32;
    c.seed = 9;
    return c;
}


/* Widths 16 and 24 at batch 64: every product and every im2col, col2im,
 * gather and pooling pass is large enough to be split over the threads. */
static tu_snapshot train_with(int threads, const nn_dataset *d, int epochs)
{
    CHECK_OK(nn_set_threads(threads));
    nn_net *net = cnn(5, 16, 24);
    nn_trainer *tr = NULL;
    nn_train_config c = train_config();
    c.batch_size = 64;
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    for (int e = 0; e < epochs; e++)
        CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
    tu_snapshot s = tu_snap(net);
    nn_trainer_free(tr);
    nn_net_free(net);
    return s;
}

static void test_threads(void)
{
    nn_dataset *d = NULL;
    CHECK_OK(nn_data_digits03(40, 0.3f, 2, &d)); /* 160 images: batches of 64, 64, 32 */
    tu_snapshot one = train_with(1, d, 2);
    for (int t = 2; t <= 4; t++) {
        tu_snapshot other = train_with(t, d, 2);
        CHECK_MSG(tu_same(&one, &other), "CNN training at %d threads differs from 1 thread", t);
        tu_unsnap(&other);
    }
    nn_net *fresh = cnn(5, 16, 24);
    CHECK(memcmp(nn_net_params(fresh), one.p, (size_t)one.np * sizeof(float)) != 0);
    nn_net_free(fresh);
    tu_unsnap(&one);
    nn_dataset_free(d);
    CHECK_OK(nn_set_threads(1));
}

static void test_checkpoint_resume(void)
{
    char dir[] = "/tmp/nnrun-conv-XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/m.nnrun", dir);
    nn_dataset *d = NULL;
    CHECK_OK(nn_data_digits03(30, 0.3f, 4, &d));
    const nn_train_config c = train_config();
    nn_net *net = small_cnn(8);
    nn_trainer *tr = NULL;
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    for (int e = 0; e < 3; e++)
        CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
    tu_snapshot whole = tu_snap(net);
    nn_trainer_free(tr);
    nn_net_free(net);
    /* 1 epoch, save, load into a network built with another seed, 2 more */
    net = small_cnn(8);
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
    CHECK_OK(nn_save(path, net, tr, NULL));
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_checkpoint *ck = NULL;
    net = small_cnn(99);
    CHECK_OK(nn_checkpoint_read(path, &ck));
    CHECK_OK(nn_checkpoint_apply(ck, net));
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    CHECK_OK(nn_checkpoint_restore(ck, tr));
    for (int e = 0; e < 2; e++)
        CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
    tu_snapshot resumed = tu_snap(net);
    CHECK_MSG(tu_same(&whole, &resumed), "resumed CNN training differs from the uninterrupted run");
    /* nn_load rebuilds it with its input shape; same outputs, same bytes */
    CHECK_OK(nn_save(path, net, NULL, NULL));
    nn_net *again = NULL;
    CHECK_OK(nn_load(path, &again, NULL));
    int64_t s[3];
    nn_net_input_shape(again, s);
    CHECK(s[0] == 1 && s[1] == 8 && s[2] == 8);
    CHECK_INT(nn_net_layers(net), nn_net_layers(again));
    const nn_tensor *xs = nn_dataset_x(d);
    nn_tensor *y1 = NULL, *y2 = NULL;
    const int64_t shape[2] = {nn_tensor_rows(xs), 4};
    CHECK_OK(nn_tensor_create(2, shape, &y1));
    CHECK_OK(nn_tensor_create(2, shape, &y2));
    CHECK_OK(nn_predict(net, xs, y1));
    CHECK_OK(nn_predict(again, xs, y2));
    CHECK(memcmp(nn_tensor_cdata(y1), nn_tensor_cdata(y2), (size_t)(shape[0] * 4) * sizeof(float)) == 0);
    /* the file is version 3 */
    FILE *f = fopen(path, "rb");
    unsigned char head[12] = {0};
    CHECK(f && fread(head, 1, 12, f) == 12);
    if (f)
        fclose(f);
    CHECK_INT(3, head[8]);
    /* another input shape is refused */
    nn_net *other = NULL;
    CHECK_OK(nn_net_create(1, &other));
    CHECK_OK(nn_net_set_input(other, 1, 4, 16));
    for (int i = 0; i < nn_net_layers(again); i++) {
        nn_layer_spec spec;
        CHECK_OK(nn_net_layer_spec(again, i, &spec));
        if (nn_net_add(other, &spec) != NN_OK)
            break;
    }
    nn_checkpoint_free(ck);
    ck = NULL;
    CHECK_OK(nn_checkpoint_read(path, &ck));
    CHECK_ERR(NN_ESHAPE, "checkpoint: the input is 1x8x8, the network's 1x4x16", nn_checkpoint_apply(ck, other));
    nn_net_free(other);
    nn_tensor_free(y1);
    nn_tensor_free(y2);
    nn_net_free(again);
    tu_unsnap(&resumed);
    tu_unsnap(&whole);
    nn_checkpoint_free(ck);
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_dataset_free(d);
    remove(path);
    rmdir(dir);
}

int main(void)
{
    /* The team guard may run every region on one thread on a busy
     * machine, which would leave the thread-count check nothing to
     * compare (results are the same either way). */
    setenv("NNRUN_TEAM_GUARD", "off", 1);
    tu_seed(13);
    test_forward();
    test_gradients();
    test_chunks();
    test_winograd_forward();
    test_winograd_paths();
    test_shapes();
    test_threads();
    test_checkpoint_resume();
    return tu_finish();
}
