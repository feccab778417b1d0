/* test_net.c — the sequential network: structure (param count, layer info,
 * parameter views), forward against a hand loop in double, backpropagation
 * end to end against central differences for 3-layer networks with every
 * activation and every loss, gradient accumulation, reinit, and errors with
 * their exact messages.
 *
 * End-to-end gradient check.  The loss L(params, x) is nn_loss (double) of
 * the float32 forward.  Central differences with h = 1e-3 on values of order
 * 1.  Error budget: truncation h^2 |L'''| / 6 ~ 1e-7; float rounding of the
 * 12 outputs moves L by ~sqrt(12) * 6e-8 * |dL/dy| * |y| ~ 1e-8, i.e. ~1e-5
 * on a derivative after dividing by 2h.  Gradients are ~1e-3..1e-1.
 * Tolerance: 2e-2 relative with an absolute floor of 2e-4 (10x the noise);
 * a wrong rule in any layer is off by O(1) in most components.  relu and
 * leaky_relu pre-activations are kept at |z| >= 0.05 (the inputs are redrawn
 * until they are), far beyond what a step of 1e-3 can move them. */
#include "testutil.h"

#define B 3
#define NIN 5
#define NH1 7
#define NH2 6
#define NOUT 4
#define H 1e-3
#define RTOL 2e-2
#define ATOL 2e-4
#define KINK 0.05

static nn_tensor *tensor(int64_t rows, int64_t cols, const float *data)
{
    nn_tensor *t = NULL;
    if (nn_tensor_from(rows, cols, data, &t)) {
        fprintf(stderr, "tensor: %s\n", nn_last_error());
        exit(1);
    }
    return t;
}

static double act_d(nn_act a, float param, double z)
{
    switch (a) {
    case NN_ACT_SIGMOID: return 1.0 / (1.0 + exp(-z));
    case NN_ACT_TANH: return tanh(z);
    case NN_ACT_RELU: return z > 0 ? z : 0;
    case NN_ACT_LEAKY_RELU: return z > 0 ? z : param * z;
    default: return z;
    }
}

/* Forward in double from the network's own parameter block (layer order,
 * weights then bias).  Writes y (B, out); returns the smallest |pre-
 * activation| feeding a relu or leaky_relu (INFINITY if none). */
static double hand_forward(nn_net *net, const float *x, int64_t rows, double *y)
{
    double cur[64 * 16], nxt[64 * 16], minz = INFINITY;
    int64_t width = nn_net_input_size(net);
    const float *p = nn_net_params(net);
    for (int64_t i = 0; i < rows * width; i++)
        cur[i] = x[i];
    for (int l = 0; l < nn_net_layers(net); l++) {
        nn_layer_info li;
        nn_net_layer_info(net, l, &li);
        if (li.kind == NN_LAYER_DENSE) {
            const float *W = p, *b = p + li.in * li.out;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t j = 0; j < li.out; j++) {
                    double s = b[j];
                    for (int64_t k = 0; k < li.in; k++)
                        s += (double)W[j * li.in + k] * cur[r * li.in + k];
                    nxt[r * li.out + j] = s;
                }
            p += li.in * li.out + li.out;
        } else if (li.act == NN_ACT_SOFTMAX) {
            for (int64_t r = 0; r < rows; r++) {
                double m = cur[r * li.out], s = 0;
                for (int64_t j = 1; j < li.out; j++)
                    m = cur[r * li.out + j] > m ? cur[r * li.out + j] : m;
                for (int64_t j = 0; j < li.out; j++)
                    s += exp(cur[r * li.out + j] - m);
                for (int64_t j = 0; j < li.out; j++)
                    nxt[r * li.out + j] = exp(cur[r * li.out + j] - m) / s;
            }
        } else {
            for (int64_t i = 0; i < rows * li.out; i++) {
                if ((li.act == NN_ACT_RELU || li.act == NN_ACT_LEAKY_RELU) && fabs(cur[i]) < minz)
                    minz = fabs(cur[i]);
                nxt[i] = act_d(li.act, li.param, cur[i]);
            }
        }
        width = li.out;
        memcpy(cur, nxt, (size_t)(rows * width) * sizeof(double));
    }
    memcpy(y, cur, (size_t)(rows * width) * sizeof(double));
    return minz;
}

/* ---- structure ---- */

static nn_net *build(uint64_t seed, nn_act a1, nn_act a2, int out_act, nn_act a3)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(seed, &net));
    /* biases random too, so that they matter in the check */
    const nn_init bias = {NN_INIT_UNIFORM, -0.5f, 0.5f};
    const nn_init w = {NN_INIT_UNIFORM, -0.8f, 0.8f};
    CHECK_OK(nn_net_add_dense(net, NIN, NH1, &w, &bias));
    CHECK_OK(nn_net_add_activation(net, a1, 0.1f));
    CHECK_OK(nn_net_add_dense(net, NH1, NH2, &w, &bias));
    CHECK_OK(nn_net_add_activation(net, a2, 0.2f));
    CHECK_OK(nn_net_add_dense(net, NH2, NOUT, &w, &bias));
    if (out_act)
        CHECK_OK(nn_net_add_activation(net, a3, 0.0f));
    return net;
}

static void test_structure(void)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(1, &net));
    CHECK_INT(0, nn_net_layers(net));
    CHECK_INT(0, nn_net_input_size(net));
    CHECK_INT(0, nn_net_output_size(net));
    CHECK_INT(0, nn_net_param_count(net));
    const nn_init he = {NN_INIT_HE_NORMAL, 0, 0}, c01 = {NN_INIT_CONSTANT, 0.1f, 0};
    CHECK_OK(nn_net_add_dense(net, NIN, NH1, &he, &c01));
    CHECK_OK(nn_net_add_activation(net, NN_ACT_LEAKY_RELU, 0.25f));
    CHECK_OK(nn_net_add_dense(net, NH1, NOUT, NULL, NULL));
    CHECK_OK(nn_net_add_activation(net, NN_ACT_SOFTMAX, 7.0f));
    CHECK_INT(4, nn_net_layers(net));
    CHECK_INT(NIN, nn_net_input_size(net));
    CHECK_INT(NOUT, nn_net_output_size(net));
    CHECK_INT(NIN * NH1 + NH1 + NH1 * NOUT + NOUT, nn_net_param_count(net));

    nn_layer_info li;
    CHECK_OK(nn_net_layer_info(net, 0, &li));
    CHECK_INT(NN_LAYER_DENSE, li.kind);
    CHECK_INT(NIN, li.in);
    CHECK_INT(NH1, li.out);
    CHECK_INT(NN_INIT_HE_NORMAL, li.weight_init.kind);
    CHECK_INT(NN_INIT_CONSTANT, li.bias_init.kind);
    CHECK_FLOAT_EQ(0.1f, li.bias_init.a);
    CHECK_OK(nn_net_layer_info(net, 1, &li));
    CHECK_INT(NN_LAYER_ACTIVATION, li.kind);
    CHECK_INT(NN_ACT_LEAKY_RELU, li.act);
    CHECK_INT(NH1, li.in);
    CHECK_INT(NH1, li.out);
    CHECK_FLOAT_EQ(0.25f, li.param);
    CHECK_OK(nn_net_layer_info(net, 2, &li));
    CHECK_INT(NN_INIT_XAVIER_UNIFORM, li.weight_init.kind); /* defaults */
    CHECK_INT(NN_INIT_ZEROS, li.bias_init.kind);
    CHECK_OK(nn_net_layer_info(net, 3, &li));
    CHECK_INT(NN_ACT_SOFTMAX, li.act);
    CHECK_FLOAT_EQ(0, li.param); /* only leaky_relu keeps its parameter */
    CHECK_ERR(NN_ERANGE, "net: layer index 4 outside [0, 4)", nn_net_layer_info(net, 4, &li));
    CHECK_ERR(NN_ERANGE, "net: layer index -1 outside [0, 4)", nn_net_layer_info(net, -1, &li));
    CHECK_ERR(NN_EINVAL, "net: NULL argument", nn_net_layer_info(NULL, 0, &li));
    CHECK_ERR(NN_EINVAL, "net: NULL argument", nn_net_layer_info(net, 0, NULL));

    /* Parameter views alias the blocks: layer order, weights before bias. */
    float *P = nn_net_params(net), *G = nn_net_grads(net);
    nn_tensor *v = NULL;
    CHECK_OK(nn_net_param(net, 0, NN_WEIGHTS, &v));
    CHECK_INT(2, nn_tensor_ndim(v));
    CHECK_INT(NH1, nn_tensor_dim(v, 0));
    CHECK_INT(NIN, nn_tensor_dim(v, 1));
    CHECK(nn_tensor_data(v) == P);
    CHECK_OK(nn_tensor_set(v, 1, 2, 42.0f));
    CHECK_FLOAT_EQ(42, P[1 * NIN + 2]);
    nn_tensor_free(v); /* does not free the block */
    CHECK_OK(nn_net_param(net, 0, NN_BIAS, &v));
    CHECK_INT(1, nn_tensor_ndim(v));
    CHECK_INT(NH1, nn_tensor_size(v));
    CHECK(nn_tensor_data(v) == P + NIN * NH1);
    CHECK_FLOAT_EQ(0.1f, nn_tensor_data(v)[NH1 - 1]); /* the constant bias init */
    nn_tensor_free(v);
    CHECK_OK(nn_net_param(net, 2, NN_WEIGHT_GRAD, &v));
    CHECK_INT(NOUT, nn_tensor_dim(v, 0));
    CHECK_INT(NH1, nn_tensor_dim(v, 1));
    CHECK(nn_tensor_data(v) == G + NIN * NH1 + NH1);
    nn_tensor_free(v);
    CHECK_OK(nn_net_param(net, 2, NN_BIAS_GRAD, &v));
    CHECK(nn_tensor_data(v) == G + NIN * NH1 + NH1 + NH1 * NOUT);
    CHECK_INT(NOUT, nn_tensor_size(v));
    nn_tensor_free(v);
    v = (nn_tensor *)&v;
    CHECK_ERR(NN_EINVAL, "layer 2 (leaky_relu) has no parameters", nn_net_param(net, 1, NN_WEIGHTS, &v));
    CHECK(v == NULL);
    CHECK_ERR(NN_ERANGE, "net: layer index 4 outside [0, 4)", nn_net_param(net, 4, NN_WEIGHTS, &v));
    CHECK_ERR(NN_EINVAL, "net: network is NULL", nn_net_param(NULL, 0, NN_WEIGHTS, &v));
    CHECK_ERR(NN_EINVAL, "net: view is NULL", nn_net_param(net, 0, NN_WEIGHTS, NULL));
    nn_net_free(net);
    nn_net_free(NULL); /* no-op */
}

static void test_errors(void)
{
    nn_net *net = (nn_net *)&net;
    CHECK_ERR(NN_EINVAL, "net: out is NULL", nn_net_create(1, NULL));
    CHECK_OK(nn_net_create(1, &net));
    CHECK_ERR(NN_ESTATE, "layer 1 (relu): a first activation layer needs the network's input shape (nn_net_set_input)",
              nn_net_add_activation(net, NN_ACT_RELU, 0));
    CHECK_ERR(NN_EINVAL, "layer 1 (dense): sizes must be >= 1, got in=0 out=4",
              nn_net_add_dense(net, 0, 4, NULL, NULL));
    CHECK_ERR(NN_EINVAL, "layer 1 (dense): sizes must be >= 1, got in=3 out=-2",
              nn_net_add_dense(net, 3, -2, NULL, NULL));
    const nn_init bad = {NN_INIT_UNIFORM, 1, 0};
    CHECK_ERR(NN_EINVAL, "layer 1 (dense): init uniform: need finite a <= b, got a=1 b=0",
              nn_net_add_dense(net, 3, 4, &bad, NULL));
    CHECK_ERR(NN_EINVAL, "layer 1 (dense): init normal: need finite mean and std >= 0, got mean=0 std=-1",
              nn_net_add_dense(net, 3, 4, NULL, &(nn_init){NN_INIT_NORMAL, 0, -1}));
    CHECK_INT(0, nn_net_layers(net)); /* failed adds change nothing */
    CHECK_INT(0, nn_net_param_count(net));

    nn_tensor *x = NULL;
    const nn_tensor *y = NULL;
    CHECK_OK(nn_tensor_create2d(2, 4, &x));
    CHECK_ERR(NN_ESTATE, "forward: the network has no layers", nn_net_forward(net, x, &y));
    CHECK_ERR(NN_ESTATE, "net: the network has no layers", nn_net_prepare(net, 4));

    CHECK_OK(nn_net_add_dense(net, 3, 4, NULL, NULL));
    CHECK_OK(nn_net_add_activation(net, NN_ACT_TANH, 0));
    CHECK_ERR(NN_ESHAPE, "layer 3 (dense): input has 8 features, previous layer gives 4",
              nn_net_add_dense(net, 8, 2, NULL, NULL));
    CHECK_ERR(NN_EINVAL, "layer 3: unknown activation 17", nn_net_add_activation(net, (nn_act)17, 0));
    CHECK_ERR(NN_EINVAL, "layer 3 (leaky_relu): parameter must be finite",
              nn_net_add_activation(net, NN_ACT_LEAKY_RELU, NAN));
    CHECK_ERR(NN_EINVAL, "layer 3 (leaky_relu): parameter must be finite",
              nn_net_add_activation(net, NN_ACT_LEAKY_RELU, INFINITY));
    CHECK_INT(2, nn_net_layers(net));
    CHECK_INT(16, nn_net_param_count(net));

    CHECK_ERR(NN_EINVAL, "net: network is NULL", nn_net_add_dense(NULL, 1, 1, NULL, NULL));
    CHECK_ERR(NN_EINVAL, "net: network is NULL", nn_net_add_activation(NULL, NN_ACT_RELU, 0));
    CHECK_ERR(NN_EINVAL, "net: network is NULL", nn_net_reinit(NULL, 1));
    CHECK_ERR(NN_EINVAL, "net: network is NULL", nn_net_prepare(NULL, 1));
    CHECK_ERR(NN_EINVAL, "net: batch size must be >= 1, got 0", nn_net_prepare(net, 0));
    CHECK_INT(0, nn_net_layers(NULL));
    CHECK_INT(0, nn_net_param_count(NULL));
    CHECK(nn_net_params(NULL) == NULL);
    nn_net_zero_grad(NULL); /* no-op */

    CHECK_ERR(NN_ESHAPE, "forward: input has 4 features, network expects 3", nn_net_forward(net, x, &y));
    CHECK(y == NULL);
    CHECK_ERR(NN_EINVAL, "forward: NULL argument", nn_net_forward(NULL, x, &y));
    CHECK_ERR(NN_EINVAL, "forward: NULL argument", nn_net_forward(net, NULL, &y));
    CHECK_ERR(NN_EINVAL, "forward: NULL argument", nn_net_forward(net, x, NULL));
    nn_tensor *dy = NULL, *x3 = NULL;
    CHECK_OK(nn_tensor_create2d(2, 4, &dy));
    CHECK_ERR(NN_ESTATE, "backward: no forward pass to propagate through", nn_net_backward(net, dy, NULL));
    CHECK_OK(nn_tensor_create2d(3, 3, &x3));
    CHECK_OK(nn_net_forward(net, x3, &y));
    CHECK_ERR(NN_ESHAPE, "backward: gradient is (2, 4), output was (3, 4)", nn_net_backward(net, dy, NULL));
    CHECK_ERR(NN_EINVAL, "backward: NULL argument", nn_net_backward(net, NULL, NULL));
    CHECK_ERR(NN_EINVAL, "backward: NULL argument", nn_net_backward(NULL, dy, NULL));
    /* A structural change forgets the forward pass. */
    CHECK_OK(nn_net_add_activation(net, NN_ACT_RELU, 0));
    nn_tensor *dy3 = NULL;
    CHECK_OK(nn_tensor_create2d(3, 4, &dy3));
    CHECK_ERR(NN_ESTATE, "backward: no forward pass to propagate through", nn_net_backward(net, dy3, NULL));
    nn_tensor_free(x);
    nn_tensor_free(x3);
    nn_tensor_free(dy);
    nn_tensor_free(dy3);
    nn_net_free(net);
}

/* ---- forward, reinit, accumulation ---- */

static void test_forward_and_reinit(void)
{
    nn_net *net = build(5, NN_ACT_TANH, NN_ACT_SIGMOID, 1, NN_ACT_SOFTMAX);
    float xd[16 * NIN];
    tu_seed(5);
    for (int i = 0; i < 16 * NIN; i++)
        xd[i] = (float)tu_uniform(-2, 2);
    /* a small batch, then a larger one (buffers grow), then the small again */
    const int64_t sizes[3] = {B, 16, 1};
    for (int k = 0; k < 3; k++) {
        nn_tensor *x = tensor(sizes[k], NIN, xd);
        const nn_tensor *y = NULL;
        CHECK_OK(nn_net_forward(net, x, &y));
        CHECK_INT(sizes[k], nn_tensor_rows(y));
        CHECK_INT(NOUT, nn_tensor_cols(y));
        double ref[16 * NOUT];
        hand_forward(net, xd, sizes[k], ref);
        int ok = 1;
        for (int64_t i = 0; i < sizes[k] * NOUT; i++)
            ok &= tu_close(ref[i], nn_tensor_cdata(y)[i], 1e-5, 1e-6);
        CHECK_MSG(ok, "forward of %lld rows differs from the hand loop", (long long)sizes[k]);
        nn_tensor_free(x);
    }

    /* reinit(s) gives the weights of a network built with seed s */
    nn_net *other = build(77, NN_ACT_TANH, NN_ACT_SIGMOID, 1, NN_ACT_SOFTMAX);
    const size_t bytes = (size_t)nn_net_param_count(net) * sizeof(float);
    CHECK(memcmp(nn_net_params(net), nn_net_params(other), bytes) != 0);
    CHECK_OK(nn_net_reinit(net, 77));
    CHECK(memcmp(nn_net_params(net), nn_net_params(other), bytes) == 0);
    nn_net *same = build(5, NN_ACT_RELU, NN_ACT_RELU, 0, NN_ACT_IDENTITY);
    CHECK_OK(nn_net_reinit(net, 5));
    CHECK(memcmp(nn_net_params(net), nn_net_params(same), bytes) == 0);
    nn_net_free(other);
    nn_net_free(same);

    /* backward accumulates; zero_grad clears */
    nn_tensor *x = tensor(B, NIN, xd), *dy = NULL;
    CHECK_OK(nn_tensor_create2d(B, NOUT, &dy));
    for (int i = 0; i < B * NOUT; i++)
        nn_tensor_data(dy)[i] = (float)tu_uniform(-1, 1);
    const nn_tensor *y, *dx;
    const int64_t n = nn_net_param_count(net);
    float *once = malloc((size_t)n * sizeof(float));
    nn_net_zero_grad(net);
    CHECK_OK(nn_net_forward(net, x, &y));
    CHECK_OK(nn_net_backward(net, dy, &dx));
    CHECK_INT(B, nn_tensor_rows(dx));
    CHECK_INT(NIN, nn_tensor_cols(dx));
    memcpy(once, nn_net_grads(net), (size_t)n * sizeof(float));
    CHECK_OK(nn_net_backward(net, dy, NULL));
    int ok = 1;
    for (int64_t i = 0; i < n; i++)
        ok &= tu_close(2.0 * once[i], nn_net_grads(net)[i], 1e-6, 1e-9);
    CHECK_MSG(ok, "a second backward did not add the same gradients");
    nn_net_zero_grad(net);
    ok = 1;
    for (int64_t i = 0; i < n; i++)
        ok &= nn_net_grads(net)[i] == 0.0f;
    CHECK_MSG(ok, "zero_grad left non-zero gradients");
    free(once);
    nn_tensor_free(x);
    nn_tensor_free(dy);
    nn_net_free(net);
}

/* ---- end-to-end gradient check ---- */

typedef struct netctx {
    nn_net *net;
    nn_tensor *x, *t;
    nn_loss_kind loss;
} netctx;

static double net_loss(void *p)
{
    netctx *c = p;
    const nn_tensor *y;
    double L = NAN;
    if (nn_net_forward(c->net, c->x, &y) || nn_loss(c->loss, y, c->t, &L, NULL))
        return NAN;
    return L;
}

enum targets { T_LABELS, T_ONEHOT, T_SOFT, T_VALUES };

static void gradcheck_net(const char *name, nn_act a1, nn_act a2, int out_act, nn_act a3,
                          nn_loss_kind loss, enum targets tk, uint64_t seed)
{
    nn_net *net = build(seed, a1, a2, out_act, a3);
    float xd[B * NIN], td[B * NOUT];
    double yref[B * NOUT];
    /* redraw the inputs until no relu pre-activation is near its kink */
    int tries = 0;
    tu_seed(seed);
    do {
        for (int i = 0; i < B * NIN; i++)
            xd[i] = (float)tu_uniform(-1.5, 1.5);
    } while (hand_forward(net, xd, B, yref) < KINK && ++tries < 1000);
    CHECK_MSG(tries < 1000, "%s: no input away from the relu kinks", name);
    for (int i = 0; i < B; i++) {
        const int k = (i + (int)seed) % NOUT;
        double w[NOUT], s = 0;
        for (int j = 0; j < NOUT; j++)
            s += w[j] = tu_uniform(0.1, 1);
        for (int j = 0; j < NOUT; j++) {
            if (tk == T_LABELS)
                td[i] = (float)k;
            else if (tk == T_ONEHOT)
                td[i * NOUT + j] = j == k;
            else if (tk == T_SOFT)
                td[i * NOUT + j] = (float)(w[j] / s);
            else
                td[i * NOUT + j] = (float)tu_uniform(0, 1);
        }
    }
    netctx c = {net, tensor(B, NIN, xd), tensor(B, tk == T_LABELS ? 1 : NOUT, td), loss};

    const nn_tensor *y, *dx;
    nn_tensor *dy = NULL;
    double L;
    CHECK_OK(nn_tensor_create2d(B, NOUT, &dy));
    nn_net_zero_grad(net);
    CHECK_OK(nn_net_forward(net, c.x, &y));
    CHECK_OK(nn_loss(loss, y, c.t, &L, dy));
    CHECK_OK(nn_net_backward(net, dy, &dx));
    const int64_t n = nn_net_param_count(net);
    float *g = malloc((size_t)n * sizeof(float)), gx[B * NIN];
    memcpy(g, nn_net_grads(net), (size_t)n * sizeof(float));
    memcpy(gx, nn_tensor_cdata(dx), sizeof gx);

    char what[96];
    snprintf(what, sizeof what, "%s: dL/dparams", name);
    GRADCHECK(what, net_loss, &c, nn_net_params(net), g, n, H, RTOL, ATOL);
    snprintf(what, sizeof what, "%s: dL/dx", name);
    GRADCHECK(what, net_loss, &c, nn_tensor_data(c.x), gx, B * NIN, H, RTOL, ATOL);

    free(g);
    nn_tensor_free(dy);
    nn_tensor_free(c.x);
    nn_tensor_free(c.t);
    nn_net_free(net);
}

static void test_gradients(void)
{
    gradcheck_net("relu-tanh, mse", NN_ACT_RELU, NN_ACT_TANH, 0, 0, NN_LOSS_MSE, T_VALUES, 1);
    gradcheck_net("tanh-sigmoid, cross-entropy labels", NN_ACT_TANH, NN_ACT_SIGMOID, 0, 0,
                  NN_LOSS_CROSS_ENTROPY, T_LABELS, 2);
    gradcheck_net("relu-tanh, cross-entropy soft", NN_ACT_RELU, NN_ACT_TANH, 0, 0,
                  NN_LOSS_CROSS_ENTROPY, T_SOFT, 3);
    gradcheck_net("leaky-relu-relu-softmax, log loss labels", NN_ACT_LEAKY_RELU, NN_ACT_RELU, 1,
                  NN_ACT_SOFTMAX, NN_LOSS_LOG_LOSS, T_LABELS, 4);
    gradcheck_net("tanh-tanh-softmax, log loss one-hot", NN_ACT_TANH, NN_ACT_TANH, 1, NN_ACT_SOFTMAX,
                  NN_LOSS_LOG_LOSS, T_ONEHOT, 5);
    gradcheck_net("sigmoid-tanh-sigmoid, bce", NN_ACT_SIGMOID, NN_ACT_TANH, 1, NN_ACT_SIGMOID,
                  NN_LOSS_BCE, T_VALUES, 6);
    gradcheck_net("tanh-leaky-relu, bce logits", NN_ACT_TANH, NN_ACT_LEAKY_RELU, 0, 0,
                  NN_LOSS_BCE_LOGITS, T_VALUES, 7);
    gradcheck_net("sigmoid-identity-tanh, mse", NN_ACT_SIGMOID, NN_ACT_IDENTITY, 1, NN_ACT_TANH,
                  NN_LOSS_MSE, T_VALUES, 8);
}

int main(void)
{
    test_structure();
    test_errors();
    test_forward_and_reinit();
    test_gradients();
    return tu_finish();
}
