/* gen_v1.c — how tests/runtime/data/v1_trainer.nnrun and v1_after.bin were
 * made, with nnrun 0.1.0 (checkpoint format v1, SGD welded into
 * nn_train_config), before the optimiser registry.  Not built: kept so the
 * files can be understood.  v1_after.bin holds the parameters after one
 * more epoch from the saved state (float32, native order), followed by the
 * evaluation loss of the saved network (double). */
#include <stdio.h>
#include <string.h>

#include "nnrun.h"

int main(void)
{
    nn_dataset *d;
    nn_net *net;
    nn_trainer *tr;
    if (nn_data_digits03(10, 0.1f, 3, &d) || nn_net_create(7, &net) ||
        nn_net_add_dense(net, 64, 6, NULL, NULL) || nn_net_add_activation(net, NN_ACT_TANH, 0) ||
        nn_net_add_dense(net, 6, 4, NULL, NULL))
        return 1;
    nn_train_config c = nn_train_defaults();
    c.loss = NN_LOSS_CROSS_ENTROPY;
    c.sgd = (nn_sgd_config){0.05f, 0.9f, 1, 1e-4f};
    c.schedule = nn_schedule_constant(0.05f);
    c.schedule.kind = NN_SCHED_STEP;
    c.schedule.gamma = 0.9f;
    c.schedule.step_size = 1;
    c.batch_size = 16;
    c.seed = 11;
    if (nn_trainer_create(net, &c, &tr) || nn_train(tr, d, NULL, 2, NULL))
        return 1;
    if (nn_save("v1_trainer.nnrun", net, tr, NULL))
        return 1;
    nn_eval_result r;
    if (nn_evaluate(net, d, NN_LOSS_CROSS_ENTROPY, 0, &r) || nn_train(tr, d, NULL, 1, NULL))
        return 1;
    FILE *f = fopen("v1_after.bin", "wb");
    fwrite(nn_net_params(net), sizeof(float), (size_t)nn_net_param_count(net), f);
    fwrite(&r.loss, sizeof r.loss, 1, f);
    fclose(f);
    printf("params %lld loss %.17g\n", (long long)nn_net_param_count(net), r.loss);
    return 0;
}
