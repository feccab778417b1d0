/* test_alloc_fail.c — allocation failure paths.  For N = 1, 2, ... the
 * counting allocator (testutil.h) refuses the Nth allocation of a whole
 * session: network, layers, data sets, trainer, one epoch, evaluation,
 * parameter views.  Every failure must return NN_ENOMEM with an
 * "...: out of memory" message, leave *out NULL, and leak nothing: the
 * allocator's live-block count returns to 0 after cleanup (and the
 * sanitizer build's LeakSanitizer checks the same independently).  The loop
 * ends at the first N that the session completes without a refusal. */
#include "testutil.h"

/* Checks a failing status; returns 1 if the session must stop. */
static int failed(nn_status s, long n, const char *step)
{
    if (s == NN_OK)
        return 0;
    CHECK_MSG(s == NN_ENOMEM, "N=%ld, %s: expected NN_ENOMEM, got %d (%s): \"%s\"", n, step, (int)s,
              nn_strerror(s), nn_last_error());
    CHECK_MSG(strstr(nn_last_error(), ": out of memory") != NULL, "N=%ld, %s: message \"%s\"", n,
              step, nn_last_error());
    return 1;
}

/* One session; returns 1 if it completed. */
static int session(long n)
{
    nn_net *net = NULL;
    nn_dataset *xor = NULL, *digits = NULL;
    nn_trainer *tr = NULL;
    nn_tensor *x = NULL, *view = NULL;
    int done = 0;
    double loss;
    nn_eval_result r;
    const nn_tensor *y;

    /* A different last error, so that a failure that sets no message of
       its own is not excused by the previous session's. */
    CHECK_STATUS(NN_EINVAL, nn_set_threads(0));
    nn_status s = nn_net_create(1, &net);
    if (failed(s, n, "net_create")) {
        CHECK(net == NULL);
        goto out;
    }
    if (failed(nn_net_add_dense(net, 2, 8, NULL, NULL), n, "add_dense 1") ||
        failed(nn_net_add_activation(net, NN_ACT_TANH, 0), n, "add_activation") ||
        failed(nn_net_add_dense(net, 8, 8, NULL, NULL), n, "add_dense 2") ||
        failed(nn_net_add_activation(net, NN_ACT_RELU, 0), n, "add_activation 2") ||
        failed(nn_net_add_dense(net, 8, 1, NULL, NULL), n, "add_dense 3") ||
        failed(nn_net_add_activation(net, NN_ACT_SIGMOID, 0), n, "add_activation 3"))
        goto out;
    if (failed(nn_data_xor(&xor), n, "data_xor")) {
        CHECK(xor == NULL);
        goto out;
    }
    nn_train_config cfg = nn_train_defaults();
    cfg.loss = NN_LOSS_BCE;
    cfg.batch_size = 3; /* a partial last batch */
    cfg.sgd.momentum = 0.9f;
    if (failed(nn_trainer_create(net, &cfg, &tr), n, "trainer_create")) {
        CHECK(tr == NULL);
        goto out;
    }
    if (failed(nn_train_epoch(tr, xor, &loss, NULL), n, "train_epoch") ||
        failed(nn_train(tr, xor, xor, 2, NULL), n, "train with validation") ||
        failed(nn_evaluate(net, xor, NN_LOSS_BCE, 0, &r), n, "evaluate"))
        goto out;
    if (failed(nn_tensor_create2d(300, 2, &x), n, "tensor_create2d") ||
        failed(nn_net_forward(net, x, &y), n, "forward of a larger batch") ||
        failed(nn_net_param(net, 2, NN_WEIGHTS, &view), n, "net_param"))
        goto out;
    if (failed(nn_data_digits03(2, 0.1f, 1, &digits), n, "data_digits03")) {
        CHECK(digits == NULL);
        goto out;
    }
    done = 1;
out:
    nn_tensor_free(view);
    nn_tensor_free(x);
    nn_trainer_free(tr);
    nn_dataset_free(xor);
    nn_dataset_free(digits);
    nn_net_free(net);
    return done;
}

int main(void)
{
    /* Warm up once with the default allocator: lazily initialised global
     * state (if any) should not be charged to the first session. */
    session(0);

    long n = 1, total = 0;
    for (;; n++) {
        tu_alloc_install(n);
        const int done = session(n);
        const tu_alloc_stats st = tu_alloc;
        tu_alloc_remove();
        CHECK_MSG(st.live == 0, "N=%ld: %ld blocks leaked", n, st.live);
        if (done) {
            CHECK_MSG(st.failed == 0, "N=%ld: the session completed although allocation %ld failed", n, n);
            total = st.calls;
            break;
        }
        CHECK_MSG(st.failed == 1, "N=%ld: the session stopped without a refused allocation", n);
        if (n > 10000) {
            CHECK_MSG(0, "no end after %ld sessions", n);
            break;
        }
    }
    /* Every allocation was a failure point that was exercised. */
    CHECK_MSG(total == n - 1, "the full session made %ld allocations, failures tried at 1..%ld", total,
              n - 1);
    printf("%ld allocation failure points exercised\n", n - 1);
    return tu_finish();
}
