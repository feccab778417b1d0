/* test_predict.c — nn_predict: raw inputs through the normalisation the
 * network carries, eval mode, batches of 256 rows, the caller's output;
 * the normalisation set by nn_load from a checkpoint and kept when the
 * loaded model is saved again. */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "testutil.h"

static char dir[256], path[512], path2[512];

/* dense(2,2) W1 = [[1,-1],[0.5,2]], b1 = [0,0.5]; relu; dense(2,1) W2 = [[2,1]], b2 = 0.25. */
static nn_net *small_net(void)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(1, &net));
    CHECK_OK(nn_net_add_dense(net, 2, 2, NULL, NULL));
    CHECK_OK(nn_net_add_activation(net, NN_ACT_RELU, 0));
    CHECK_OK(nn_net_add_dense(net, 2, 1, NULL, NULL));
    const float p[] = {1, -1, 0.5f, 2, 0, 0.5f, 2, 1, 0.25f};
    CHECK_INT(9, nn_net_param_count(net));
    memcpy(nn_net_params(net), p, sizeof p);
    return net;
}

static const float shift[2] = {1, 2}, div_[2] = {2, 4};

static void test_values(void)
{
    nn_net *net = small_net();
    /* Raw rows; normalised (1,1), (0,0), (-1,2); outputs by hand. */
    const float x[6] = {3, 6, 1, 2, -1, 10};
    nn_tensor *X = NULL, *Y = NULL, *bad = NULL;
    CHECK_OK(nn_tensor_from(3, 2, x, &X));
    CHECK_OK(nn_tensor_create2d(3, 1, &Y));
    const nn_norm norm = {NN_NORM_STANDARDIZE, 2, shift, div_};
    CHECK_OK(nn_net_set_norm(net, &norm));
    const nn_norm got = nn_net_norm(net);
    CHECK_INT(NN_NORM_STANDARDIZE, got.kind);
    CHECK_INT(2, got.features);
    CHECK(got.shift != shift && got.shift[1] == 2 && got.div[1] == 4); /* a copy */
    CHECK_OK(nn_predict(net, X, Y));
    const float want[3] = {3.25f, 0.75f, 4.25f};
    for (int i = 0; i < 3; i++)
        CHECK_FLOAT_EQ(want[i], nn_tensor_cdata(Y)[i]);
    CHECK_INT(NN_MODE_TRAIN, nn_net_mode(net));

    /* Without the normalisation: the raw rows go in. (3,6): h = (-3, 13.5+... ) */
    CHECK_OK(nn_net_set_norm(net, NULL));
    CHECK_INT(NN_NORM_NONE, nn_net_norm(net).kind);
    CHECK(nn_net_norm(net).shift == NULL);
    CHECK_OK(nn_predict(net, X, Y));
    /* (3,6): (-3, 14) -> 14.25; (1,2): (-1, 5) -> 5.25; (-1,10): (-11, 20) -> 20.25 */
    const float raw[3] = {14.25f, 5.25f, 20.25f};
    for (int i = 0; i < 3; i++)
        CHECK_FLOAT_EQ(raw[i], nn_tensor_cdata(Y)[i]);

    CHECK_OK(nn_tensor_create2d(3, 2, &bad));
    CHECK_ERR(NN_ESHAPE, "predict: y must be (3, 1)", nn_predict(net, X, bad));
    CHECK_ERR(NN_ESHAPE, "predict: x must be (N, 2), got 1 columns", nn_predict(net, Y, Y));
    CHECK_ERR(NN_EINVAL, "predict: NULL argument", nn_predict(net, NULL, Y));
    const nn_norm three = {NN_NORM_SCALE, 3, shift, div_};
    CHECK_ERR(NN_ESHAPE, "net: normalisation for 3 features, the network takes 2", nn_net_set_norm(net, &three));
    const float zero[2] = {1, 0};
    const nn_norm z = {NN_NORM_SCALE, 2, shift, zero};
    CHECK_ERR(NN_EINVAL, "net: feature 1: shift 2, div 0 (must be finite, div > 0)", nn_net_set_norm(net, &z));
    nn_tensor_free(bad);
    nn_tensor_free(X);
    nn_tensor_free(Y);
    nn_net_free(net);
}

/* 600 rows (three batches, the last partial) through dense, batchnorm,
 * dropout: equal, bit for bit, to an eval-mode forward of the normalised
 * rows; the network stays in train mode. */
static void test_batches_eval_mode(void)
{
    enum { N = 600, IN = 5, OUT = 3 };
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(7, &net));
    CHECK_OK(nn_net_add_dense(net, IN, 8, NULL, NULL));
    const nn_layer_spec bn = {"batchnorm", 0, NULL, NULL};
    CHECK_OK(nn_net_add(net, &bn));
    CHECK_OK(nn_net_add_activation(net, NN_ACT_TANH, 0));
    const char *const dk[] = {"p"};
    const nn_value dv[] = {{0.5, NULL, {0}}};
    const nn_layer_spec drop = {"dropout", 1, dk, dv};
    CHECK_OK(nn_net_add(net, &drop));
    CHECK_OK(nn_net_add_dense(net, 8, OUT, NULL, NULL));
    float *st = nn_net_state(net);
    for (int64_t i = 0; i < nn_net_state_count(net); i++)
        st[i] = 0.1f * (float)(i % 8) + (i >= 8 ? 0.5f : -0.2f); /* running mean, var */
    static float x[N * IN], xn[N * IN];
    float sh[IN], dv2[IN];
    for (int f = 0; f < IN; f++) {
        sh[f] = 0.5f * (float)f;
        dv2[f] = 1.0f + (float)f;
    }
    for (int i = 0; i < N * IN; i++) {
        x[i] = (float)((i * 37) % 101) / 10.0f;
        xn[i] = (x[i] - sh[i % IN]) / dv2[i % IN];
    }
    const nn_norm norm = {NN_NORM_STANDARDIZE, IN, sh, dv2};
    CHECK_OK(nn_net_set_norm(net, &norm));
    nn_tensor *X = NULL, *Y = NULL, *XN = NULL;
    CHECK_OK(nn_tensor_from(N, IN, x, &X));
    CHECK_OK(nn_tensor_from(N, IN, xn, &XN));
    CHECK_OK(nn_tensor_create2d(N, OUT, &Y));
    CHECK_OK(nn_predict(net, X, Y));
    CHECK_INT(NN_MODE_TRAIN, nn_net_mode(net));
    CHECK_OK(nn_net_set_mode(net, NN_MODE_EVAL));
    const nn_tensor *ref = NULL;
    CHECK_OK(nn_net_forward(net, XN, &ref));
    int same = 0;
    for (int i = 0; i < N * OUT; i++)
        same += memcmp(&nn_tensor_cdata(Y)[i], &nn_tensor_cdata(ref)[i], sizeof(float)) == 0;
    CHECK_INT(N * OUT, same);
    /* And through a checkpoint: nn_load gives the normalisation back, a
     * loaded model saved again keeps it, predictions are the same bits. */
    const nn_checkpoint_extra ex = {&norm, NULL, NULL, NULL, 0};
    CHECK_OK(nn_save(path, net, NULL, &ex));
    nn_net *loaded = NULL, *again = NULL;
    CHECK_OK(nn_load(path, &loaded, NULL));
    if (loaded) {
        const nn_norm g = nn_net_norm(loaded);
        CHECK_INT(NN_NORM_STANDARDIZE, g.kind);
        CHECK(g.shift && memcmp(g.shift, sh, sizeof sh) == 0 && memcmp(g.div, dv2, sizeof dv2) == 0);
        CHECK_OK(nn_save(path2, loaded, NULL, NULL));
        CHECK_OK(nn_load(path2, &again, NULL));
        nn_tensor *Y2 = NULL;
        CHECK_OK(nn_tensor_create2d(N, OUT, &Y2));
        CHECK_OK(nn_predict(again, X, Y2));
        CHECK(memcmp(nn_tensor_cdata(Y), nn_tensor_cdata(Y2), sizeof(float) * N * OUT) == 0);
        nn_tensor_free(Y2);
    }
    nn_net_free(again);
    nn_net_free(loaded);
    nn_tensor_free(X);
    nn_tensor_free(XN);
    nn_tensor_free(Y);
    nn_net_free(net);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/nnrun-predict-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(path, sizeof path, "%s/a.nnrun", dir);
    snprintf(path2, sizeof path2, "%s/b.nnrun", dir);
    test_values();
    test_batches_eval_mode();
    unlink(path);
    unlink(path2);
    rmdir(dir);
    return tu_finish();
}
