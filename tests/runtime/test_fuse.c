/* test_fuse.c — the network's fused runs (net.c): the per-sample layers
 * after a conv2d run on each of its chunks, flatten is a view.
 *
 * - the plan: which layers are fused (activations, pooling, the last
 *   layer too; relu then maxpool, 2x2 and 3x3, one pass backward), which
 *   are views (flatten), and which are not (batchnorm,
 *   dropout, dense, a conv as the last layer, a flatten that comes first);
 * - training with and without fusion, at 1 and 3 threads, at a batch size
 *   that is no multiple of the conv's chunks (37: chunks of 10, 10, 10, 7;
 *   the epoch's last batch of 12: chunks of 3), gives the same bits:
 *   parameters, mask stream, the epochs' losses, the outputs in train and
 *   eval mode and the gradient of the input.
 * ctest runs it also under NNRUN_CONV=winograd and =im2col (every 3x3
 * conv on one path).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "testutil.h"

#include "internal.h"

static nn_status conv(nn_net *net, int filters, int kernel, int padding)
{
    const char *keys[] = {"filters", "kernel", "padding"};
    const double v[] = {filters, kernel, padding};
    return tu_add_layer(net, "conv2d", 3, keys, v);
}

static nn_status pool(nn_net *net, const char *kind, int size)
{
    const char *key = "size";
    const double v = size;
    return tu_add_layer(net, kind, 1, &key, &v);
}

static nn_status plain(nn_net *net, const char *kind) { return tu_add_layer(net, kind, 0, NULL, NULL); }

static nn_status dense(nn_net *net, int units)
{
    const char *key = "units";
    const double v = units;
    return tu_add_layer(net, "dense", 1, &key, &v);
}

enum { NETS = 5, MAXL = 12 };
#define F NN_PLAN_FUSED
#define V NN_PLAN_VIEW

/* The networks on digits03's 8x8 images, 4 classes, and their plans. */
static nn_net *make(int which, int plan[MAXL], int *nl)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(11 + (uint64_t)which, &net));
    CHECK_OK(nn_net_set_input(net, 1, 8, 8));
    switch (which) {
    case 0: { /* conv relu maxpool | conv (8 channels in: Winograd) avgpool sigmoid flatten | dense relu dense */
        CHECK_OK(conv(net, 8, 3, 1));
        CHECK_OK(tu_add_act(net, "relu"));
        CHECK_OK(pool(net, "maxpool", 2));
        CHECK_OK(conv(net, 6, 3, 1));
        CHECK_OK(pool(net, "avgpool", 2));
        CHECK_OK(tu_add_act(net, "sigmoid"));
        CHECK_OK(plain(net, "flatten"));
        CHECK_OK(dense(net, 7));
        CHECK_OK(tu_add_act(net, "relu"));
        CHECK_OK(dense(net, 4));
        const int p[] = {3, F, F, 6, F, F, V, 0, 0, 0};
        memcpy(plan, p, sizeof p);
        *nl = 10;
        break;
    }
    case 1: { /* conv batchnorm relu | conv dropout flatten dense: nothing fused */
        CHECK_OK(conv(net, 4, 3, 1));
        CHECK_OK(plain(net, "batchnorm"));
        CHECK_OK(tu_add_act(net, "relu"));
        CHECK_OK(conv(net, 5, 3, 0));
        const char *pk = "p";
        const double p = 0.25;
        CHECK_OK(tu_add_layer(net, "dropout", 1, &pk, &p));
        CHECK_OK(plain(net, "flatten"));
        CHECK_OK(dense(net, 4));
        const int q[] = {0, 0, 0, 0, 0, V, 0};
        memcpy(plan, q, sizeof q);
        *nl = 7;
        break;
    }
    case 2: { /* conv leaky_relu maxpool tanh | conv (last: 4 x 1 x 1) */
        CHECK_OK(conv(net, 6, 3, 1));
        const char *ak[] = {"name", "slope"};
        nn_value a[2];
        memset(a, 0, sizeof a);
        a[0].str = "leaky_relu";
        a[1].num = 0.1;
        CHECK_OK(nn_net_add(net, &(nn_layer_spec){"activation", 2, ak, a}));
        CHECK_OK(pool(net, "maxpool", 2));
        CHECK_OK(tu_add_act(net, "tanh"));
        CHECK_OK(conv(net, 4, 4, 0));
        const int p[] = {4, F, F, F, 0};
        memcpy(plan, p, sizeof p);
        *nl = 5;
        break;
    }
    case 3: { /* conv relu maxpool(3) global_avgpool elu, the last layer fused (its dy the caller's) */
        CHECK_OK(conv(net, 4, 3, 1));
        CHECK_OK(tu_add_act(net, "relu"));
        CHECK_OK(pool(net, "maxpool", 3));
        CHECK_OK(plain(net, "global_avgpool"));
        CHECK_OK(tu_add_act(net, "elu"));
        const int p[] = {5, F, F, F, F};
        memcpy(plan, p, sizeof p);
        *nl = 5;
        break;
    }
    default: { /* a first flatten copies, a later one is a view */
        CHECK_OK(plain(net, "flatten"));
        CHECK_OK(dense(net, 16));
        CHECK_OK(tu_add_act(net, "relu"));
        CHECK_OK(plain(net, "flatten"));
        CHECK_OK(dense(net, 4));
        const int p[] = {0, 0, 0, V, 0};
        memcpy(plan, p, sizeof p);
        *nl = 5;
        break;
    }
    }
    return net;
}

/* Everything a run leaves that the comparison looks at. */
typedef struct result {
    tu_snapshot snap;
    double loss[3];
    float *y_train, *y_eval, *dx;
    int64_t ny, ndx;
} result;

static float *copy_of(const nn_tensor *t, int64_t *n)
{
    *n = nn_tensor_rows(t) * nn_tensor_cols(t);
    float *c = malloc((size_t)*n * sizeof *c);
    memcpy(c, nn_tensor_cdata(t), (size_t)*n * sizeof *c);
    return c;
}

static result run(int which, int fuse, int threads, const nn_dataset *d)
{
    CHECK_OK(nn_set_threads(threads));
    int plan[MAXL], nl = 0;
    nn_net *net = make(which, plan, &nl);
    nn_net_set_fusion(net, fuse);
    nn_train_config c = nn_train_defaults();
    c.loss = NN_LOSS_CROSS_ENTROPY;
    c.sgd.lr = 0.05f;
    c.sgd.momentum = 0.9f;
    c.batch_size = 37;
    c.seed = 3;
    nn_trainer *tr = NULL;
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    result r;
    memset(&r, 0, sizeof r);
    for (int e = 0; e < 3; e++)
        CHECK_OK(nn_train_epoch(tr, d, &r.loss[e], NULL));
    for (int i = 0; i < nl; i++)
        CHECK_MSG(nn_net_plan(net, i) == (fuse ? plan[i] : NN_PLAN_SELF), "net %d fuse %d layer %d: plan %d, expected %d",
                  which, fuse, i + 1, nn_net_plan(net, i), fuse ? plan[i] : NN_PLAN_SELF);
    /* 23 images, in both modes, and the input's gradient */
    nn_tensor x;
    nn_tensor_wrap(&x, (float *)nn_tensor_cdata(nn_dataset_x(d)), 23, 64);
    const nn_tensor *y = NULL, *dx = NULL;
    CHECK_OK(nn_net_set_mode(net, NN_MODE_EVAL));
    CHECK_OK(nn_net_forward(net, &x, &y));
    r.y_eval = copy_of(y, &r.ny);
    CHECK_OK(nn_net_set_mode(net, NN_MODE_TRAIN));
    CHECK_OK(nn_net_forward(net, &x, &y));
    r.y_train = copy_of(y, &r.ny);
    float g[23 * 4];
    for (int i = 0; i < 23 * 4; i++)
        g[i] = (float)(i % 7) * 0.125f - 0.375f;
    nn_tensor dy;
    nn_tensor_wrap(&dy, g, 23, 4);
    CHECK_OK(nn_net_backward(net, &dy, &dx));
    r.dx = copy_of(dx, &r.ndx);
    r.snap = tu_snap(net); /* after backward: the gradients went nowhere, the params are the trained ones */
    nn_trainer_free(tr);
    nn_net_free(net);
    return r;
}

static int same(const result *a, const result *b)
{
    return tu_same(&a->snap, &b->snap) && memcmp(a->loss, b->loss, sizeof a->loss) == 0 && a->ny == b->ny &&
           memcmp(a->y_train, b->y_train, (size_t)a->ny * sizeof(float)) == 0 &&
           memcmp(a->y_eval, b->y_eval, (size_t)a->ny * sizeof(float)) == 0 && a->ndx == b->ndx &&
           memcmp(a->dx, b->dx, (size_t)a->ndx * sizeof(float)) == 0;
}

static void drop(result *r)
{
    tu_unsnap(&r->snap);
    free(r->y_train);
    free(r->y_eval);
    free(r->dx);
}

int main(void)
{
    /* The team guard may run every region on one thread on a busy
     * machine (the same bits either way; this keeps 3 threads 3). */
    setenv("NNRUN_TEAM_GUARD", "off", 1);
    nn_dataset *d = NULL;
    CHECK_OK(nn_data_digits03(40, 0.3f, 2, &d)); /* 160 images: 4 x 37 + 12 */
    for (int which = 0; which < NETS; which++) {
        result ref = run(which, 0, 1, d);
        CHECK_MSG(ref.loss[2] < ref.loss[0], "net %d: no learning (loss %g -> %g)", which, ref.loss[0], ref.loss[2]);
        const int cases[][2] = {{1, 1}, {0, 3}, {1, 3}};
        for (int c = 0; c < 3; c++) {
            result r = run(which, cases[c][0], cases[c][1], d);
            CHECK_MSG(same(&ref, &r), "net %d: fusion %s at %d threads differs from no fusion at 1", which,
                      cases[c][0] ? "on" : "off", cases[c][1]);
            drop(&r);
        }
        drop(&ref);
    }
    nn_dataset_free(d);
    return tu_finish();
}
