/* digits03.c — the seed article's example, embedded through the C API: a
 * dense network classifies 8x8 images of the digits 0-3.
 *
 *   digits03 [epochs] [threads]
 *
 * Prints the training loss, test loss and test accuracy after each epoch. */
#include <stdio.h>
#include <stdlib.h>

#include "nnrun.h"

struct progress {
    nn_net *net;
    const nn_dataset *test;
};

static int on_epoch(const nn_epoch_stats *s, void *user)
{
    const struct progress *p = user;
    nn_eval_result r;
    if (nn_evaluate(p->net, p->test, NN_LOSS_CROSS_ENTROPY, 0, &r) != NN_OK)
        return -1;
    printf("epoch %3lld  train_loss %.4f  test_loss %.4f  test_accuracy %.4f  lr %.4f  %.3fs\n",
           (long long)s->epoch + 1, s->train_loss, r.loss, r.accuracy, s->lr, s->seconds);
    return 0;
}

#define CHECK(call)                                                                       \
    do {                                                                                  \
        nn_status s_ = (call);                                                            \
        if (s_ != NN_OK) {                                                                \
            fprintf(stderr, "digits03: %s: %s\n", nn_strerror(s_), nn_last_error());      \
            goto done;                                                                    \
        }                                                                                 \
    } while (0)

int main(int argc, char **argv)
{
    const long epochs = argc > 1 ? strtol(argv[1], NULL, 10) : 15;
    int status = 1;
    nn_dataset *train = NULL, *test = NULL;
    nn_net *net = NULL;
    nn_trainer *tr = NULL;
    if (argc > 2)
        CHECK(nn_set_threads((int)strtol(argv[2], NULL, 10)));

    /* 300 glyphs of each digit to learn from, 100 unseen ones to test on. */
    CHECK(nn_data_digits03(300, 0.15f, 1, &train));
    CHECK(nn_data_digits03(100, 0.15f, 2, &test));

    const nn_init he = {NN_INIT_HE_NORMAL, 0, 0};
    CHECK(nn_net_create(42, &net));
    CHECK(nn_net_add_dense(net, 64, 32, &he, NULL));
    CHECK(nn_net_add_activation(net, NN_ACT_RELU, 0));
    CHECK(nn_net_add_dense(net, 32, 4, NULL, NULL));

    nn_train_config cfg = nn_train_defaults();
    cfg.loss = NN_LOSS_CROSS_ENTROPY;
    cfg.sgd = (nn_sgd_config){.lr = 0.05f, .momentum = 0.9f};
    cfg.batch_size = 32;
    cfg.seed = 7;
    struct progress p = {net, test};
    cfg.on_epoch = on_epoch;
    cfg.user = &p;
    CHECK(nn_trainer_create(net, &cfg, &tr));

    printf("nnrun %s: 64-32-4 network, %lld parameters, %lld training glyphs, %d threads\n",
           nn_version(), (long long)nn_net_param_count(net), (long long)nn_dataset_size(train),
           nn_get_threads());
    CHECK(nn_train(tr, train, NULL, epochs, NULL));

    nn_eval_result r;
    CHECK(nn_evaluate(net, test, NN_LOSS_CROSS_ENTROPY, 0, &r));
    printf("test accuracy %.4f on %lld held-out glyphs\n", r.accuracy, (long long)r.samples);
    status = 0;
done:
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_dataset_free(train);
    nn_dataset_free(test);
    return status;
}
