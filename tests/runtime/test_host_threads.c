/* test_host_threads.c — two networks trained at once on two host threads
 * (pthreads), each with its own trainer and data set, give bitwise the
 * weights, optimiser state and epoch losses of the same runs one after the
 * other on one thread; and nn_last_error() is per thread.
 *
 * The kernels run OpenMP teams of 2 inside each host thread, with layers
 * wide enough that the matrix products take the blocked, parallel path.
 * The two threads start together at a barrier (no timing involved); the
 * CHECK macros are called only on the main thread.
 */
#define _POSIX_C_SOURCE 200809L /* pthread_barrier_t */
#include <pthread.h>

#include "kernels/gemm.h"
#include "testutil.h"

enum { EPOCHS = 5 };

typedef struct job {
    /* in */
    int variant; /* 0: SGD with momentum, three dense layers; 1: Adam, two */
    pthread_barrier_t *start, *errored;
    /* out */
    nn_status status; /* first failure, NN_OK when none */
    char where[160];
    float *params, *state;
    int64_t count, state_size;
    double losses[EPOCHS];
    char own_error[256];   /* nn_last_error() right after this thread's failure */
    char later_error[256]; /* and again once the other thread failed too */
} job;

static void run(job *j)
{
    nn_net *net = NULL;
    nn_trainer *tr = NULL;
    nn_dataset *d = NULL;
    const int v = j->variant;
    TRY(j, nn_data_digits03(v ? 73 : 70, 0.1f, v ? 8 : 4, &d));
    TRY(j, nn_net_create(v ? 33 : 21, &net));
    if (v == 0) {
        TRY(j, nn_net_add_dense(net, 64, 150, NULL, NULL));
        TRY(j, nn_net_add_activation(net, NN_ACT_RELU, 0.0f));
        TRY(j, nn_net_add_dense(net, 150, 120, NULL, NULL));
        TRY(j, nn_net_add_activation(net, NN_ACT_SIGMOID, 0.0f));
        TRY(j, nn_net_add_dense(net, 120, 4, NULL, NULL));
    } else {
        TRY(j, nn_net_add_dense(net, 64, 140, NULL, NULL));
        TRY(j, nn_net_add_activation(net, NN_ACT_TANH, 0.0f));
        TRY(j, nn_net_add_dense(net, 140, 4, NULL, NULL));
    }
    nn_train_config cfg = nn_train_defaults();
    cfg.loss = NN_LOSS_CROSS_ENTROPY;
    cfg.optim = nn_optim_defaults(v ? NN_OPTIM_ADAM : NN_OPTIM_SGD);
    cfg.optim.lr = v ? 0.005f : 0.05f;
    if (v == 0)
        cfg.optim.sgd.momentum = 0.9f;
    cfg.batch_size = v ? 64 : 70;
    cfg.seed = v ? 5 : 9;
    if (j->status == NN_OK)
        TRY(j, nn_trainer_create(net, &cfg, &tr));
    if (j->start)
        pthread_barrier_wait(j->start);
    for (int e = 0; e < EPOCHS && tr; e++)
        TRY(j, nn_train_epoch(tr, d, &j->losses[e], NULL));
    if (tr && j->status == NN_OK) {
        nn_optim *o = nn_trainer_optim(tr);
        j->count = nn_net_param_count(net);
        j->state_size = nn_optim_state_size(o);
        j->params = malloc((size_t)j->count * sizeof(float));
        j->state = malloc((size_t)(j->state_size ? j->state_size : 1) * sizeof(float));
        if (j->params && j->state) {
            memcpy(j->params, nn_net_params(net), (size_t)j->count * sizeof(float));
            memcpy(j->state, nn_optim_state(o), (size_t)j->state_size * sizeof(float));
        }
    }
    /* nn_last_error: thread 0 fails first, then thread 1; each still reads
     * its own message afterwards. */
    if (j->errored) {
        nn_layer_info li;
        int bad = v ? 9 : 7;
        if (v == 1)
            pthread_barrier_wait(j->errored);
        (void)nn_net_layer_info(net, bad, &li);
        snprintf(j->own_error, sizeof j->own_error, "%s", nn_last_error());
        if (v == 0)
            pthread_barrier_wait(j->errored);
        pthread_barrier_wait(j->errored);
        snprintf(j->later_error, sizeof j->later_error, "%s", nn_last_error());
    }
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_dataset_free(d);
}

static void *thread_main(void *arg)
{
    run(arg);
    return NULL;
}

static void check_same(const job *ref, const job *got)
{
    const int v = ref->variant;
    CHECK_MSG(got->status == NN_OK, "network %d on its host thread: %s", v, got->where);
    CHECK_INT(ref->count, got->count);
    CHECK_INT(ref->state_size, got->state_size);
    if (got->status != NN_OK || !ref->params || !got->params || ref->count != got->count ||
        ref->state_size != got->state_size)
        return;
    CHECK_MSG(memcmp(ref->params, got->params, (size_t)ref->count * sizeof(float)) == 0,
              "network %d: weights trained beside the other network differ from its run alone", v);
    CHECK_MSG(memcmp(ref->state, got->state, (size_t)ref->state_size * sizeof(float)) == 0,
              "network %d: optimiser state trained beside the other network differs", v);
    CHECK_MSG(memcmp(ref->losses, got->losses, sizeof ref->losses) == 0,
              "network %d: epoch losses trained beside the other network differ", v);
}

int main(void)
{
    if (strcmp(nn_gemm_kernel_name(), "openblas") == 0) {
        printf("test_host_threads: skipped with the BLAS backend\n");
        return 77; /* ctest: skipped */
    }
    CHECK_OK(nn_set_threads(2));
    /* One after the other on this thread. */
    job ref[2] = {{.variant = 0}, {.variant = 1}};
    for (int i = 0; i < 2; i++) {
        run(&ref[i]);
        CHECK_MSG(ref[i].status == NN_OK, "network %d alone: %s", i, ref[i].where);
        CHECK_MSG(isfinite(ref[i].losses[EPOCHS - 1]) && ref[i].losses[EPOCHS - 1] < ref[i].losses[0],
                  "network %d alone did not reduce its loss: %g -> %g", i, ref[i].losses[0],
                  ref[i].losses[EPOCHS - 1]);
    }
    /* Both at once, three times over. */
    for (int round = 0; round < 3; round++) {
        pthread_barrier_t start, errored;
        pthread_barrier_init(&start, NULL, 2);
        pthread_barrier_init(&errored, NULL, 2);
        job got[2];
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            memset(&got[i], 0, sizeof got[i]);
            got[i].variant = i;
            got[i].start = &start;
            got[i].errored = &errored;
        }
        int created = 0;
        for (int i = 0; i < 2; i++)
            if (pthread_create(&th[i], NULL, thread_main, &got[i]) == 0)
                created++;
        CHECK_INT(2, created);
        if (created != 2) /* the barrier would never open */
            return tu_finish();
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        for (int i = 0; i < 2; i++) {
            check_same(&ref[i], &got[i]);
            free(got[i].params);
            free(got[i].state);
        }
        CHECK_STR("net: layer index 7 outside [0, 5)", got[0].own_error);
        CHECK_STR("net: layer index 7 outside [0, 5)", got[0].later_error);
        CHECK_STR("net: layer index 9 outside [0, 3)", got[1].own_error);
        CHECK_STR("net: layer index 9 outside [0, 3)", got[1].later_error);
        pthread_barrier_destroy(&start);
        pthread_barrier_destroy(&errored);
    }
    /* This thread's own message is untouched by the other threads' failures. */
    CHECK_STR("", nn_last_error());
    for (int i = 0; i < 2; i++) {
        free(ref[i].params);
        free(ref[i].state);
    }
    return tu_finish();
}
