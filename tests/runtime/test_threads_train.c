/* test_threads_train.c — a full training run gives bitwise identical
 * weights, velocities and losses at 1, 2, 3 and 4 threads.
 *
 * The layers are wide enough (and the batches large enough) that every
 * matrix product of the step takes the blocked, parallel path, so each
 * thread count splits the work differently; the kernels promise that each
 * output is still summed by one thread in one order.
 */
#include "kernels/gemm.h"
#include "testutil.h"

typedef struct result {
    float *params, *velocity;
    int64_t count;
    double losses[6];
} result;

static void train(int threads, nn_dataset *d, result *r)
{
    nn_net *net = NULL;
    nn_trainer *tr = NULL;
    memset(r, 0, sizeof *r);
    CHECK_OK(nn_set_threads(threads));
    CHECK_OK(nn_net_create(21, &net));
    CHECK_OK(nn_net_add_dense(net, 64, 150, NULL, NULL));
    CHECK_OK(nn_net_add_activation(net, NN_ACT_RELU, 0.0f));
    CHECK_OK(nn_net_add_dense(net, 150, 120, NULL, NULL));
    CHECK_OK(nn_net_add_activation(net, NN_ACT_SIGMOID, 0.0f));
    CHECK_OK(nn_net_add_dense(net, 120, 4, NULL, NULL));
    nn_train_config cfg = nn_train_defaults();
    cfg.loss = NN_LOSS_CROSS_ENTROPY;
    cfg.sgd.lr = 0.05f;
    cfg.sgd.momentum = 0.9f;
    cfg.sgd.weight_decay = 1e-4f;
    cfg.batch_size = 70; /* 280 samples: four full batches; 292: a partial fifth */
    cfg.seed = 9;
    CHECK_OK(nn_trainer_create(net, &cfg, &tr));
    if (!tr) {
        nn_net_free(net);
        return;
    }
    for (int e = 0; e < 6; e++)
        CHECK_OK(nn_train_epoch(tr, d, &r->losses[e], NULL));
    r->count = nn_net_param_count(net);
    r->params = malloc((size_t)r->count * sizeof(float));
    r->velocity = malloc((size_t)r->count * sizeof(float));
    if (r->params && r->velocity) {
        memcpy(r->params, nn_net_params(net), (size_t)r->count * sizeof(float));
        memcpy(r->velocity, nn_sgd_velocity(nn_trainer_sgd(tr)),
               (size_t)r->count * sizeof(float));
    }
    nn_trainer_free(tr);
    nn_net_free(net);
}

int main(void)
{
    if (strcmp(nn_gemm_kernel_name(), "openblas") == 0) {
        /* The comparison backend makes no such promise. */
        printf("test_threads_train: skipped with the BLAS backend\n");
        return 77; /* ctest: skipped */
    }
    /* digits03 gives 4 * n samples. */
    const int64_t sizes[] = {70, 73};
    for (size_t si = 0; si < 2; si++) {
        nn_dataset *d = NULL;
        CHECK_OK(nn_data_digits03(sizes[si], 0.1f, 4, &d));
        if (!d)
            continue;
        result ref, r;
        train(1, d, &ref);
        CHECK_MSG(isfinite(ref.losses[5]) && ref.losses[5] < ref.losses[0],
                  "training at 1 thread did not reduce the loss: %g -> %g", ref.losses[0],
                  ref.losses[5]);
        for (int t = 2; t <= 4; t++) {
            train(t, d, &r);
            CHECK_INT(ref.count, r.count);
            if (ref.params && r.params && ref.count == r.count) {
                CHECK_MSG(memcmp(ref.params, r.params, (size_t)r.count * sizeof(float)) == 0,
                          "%lld samples: weights after 6 epochs at %d threads differ from 1 "
                          "thread", (long long)nn_dataset_size(d), t);
                CHECK_MSG(memcmp(ref.velocity, r.velocity, (size_t)r.count * sizeof(float)) == 0,
                          "%lld samples: momentum at %d threads differs from 1 thread",
                          (long long)nn_dataset_size(d), t);
            }
            CHECK_MSG(memcmp(ref.losses, r.losses, sizeof r.losses) == 0,
                      "%lld samples: epoch losses at %d threads differ from 1 thread",
                      (long long)nn_dataset_size(d), t);
            free(r.params);
            free(r.velocity);
        }
        free(ref.params);
        free(ref.velocity);
        nn_dataset_free(d);
    }
    return tu_finish();
}
