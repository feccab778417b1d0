/* Trains XOR through the installed library: proves the installed header,
 * libraries and CMake package are complete. */
#include <nnrun.h>
#include <stdio.h>

int main(void)
{
    nn_dataset *d = NULL;
    nn_net *net = NULL;
    nn_trainer *tr = NULL;
    nn_eval_result r = {0};
    int ok = nn_data_xor(&d) == NN_OK && nn_net_create(3, &net) == NN_OK &&
             nn_net_add_dense(net, 2, 8, NULL, NULL) == NN_OK &&
             nn_net_add_activation(net, NN_ACT_TANH, 0) == NN_OK &&
             nn_net_add_dense(net, 8, 1, NULL, NULL) == NN_OK;
    nn_train_config cfg = nn_train_defaults();
    cfg.loss = NN_LOSS_BCE_LOGITS;
    cfg.sgd = (nn_sgd_config){.lr = 0.5f, .momentum = 0.9f};
    cfg.batch_size = 4;
    ok = ok && nn_trainer_create(net, &cfg, &tr) == NN_OK && nn_train(tr, d, NULL, 500, NULL) == NN_OK &&
         nn_evaluate(net, d, NN_LOSS_BCE_LOGITS, 0, &r) == NN_OK;
    printf("nnrun %s: xor accuracy %.2f loss %.4f\n", nn_version(), r.accuracy, r.loss);
    if (!ok)
        fprintf(stderr, "consumer: %s\n", nn_last_error());
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_dataset_free(d);
    return ok && r.accuracy == 1.0 ? 0 : 1;
}
