/* Any byte string given to nn_load is refused with an error or loads: it
 * never crashes, leaks or reads out of bounds. */
#include "fuzz_common.h"
#include "nnrun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(".nnrun", data, size);
    nn_net *net = NULL;
    nn_checkpoint *ck = NULL;
    if (nn_load(path, &net, &ck) == NN_OK) {
        /* A file that loads must be usable. */
        nn_trainer *tr = NULL;
        nn_train_config cfg;
        if (nn_checkpoint_has_trainer(ck) && nn_checkpoint_train_config(ck, &cfg) == NN_OK &&
            nn_trainer_create(net, &cfg, &tr) == NN_OK)
            (void)nn_checkpoint_restore(ck, tr);
        nn_trainer_free(tr);
    }
    nn_checkpoint_free(ck);
    nn_net_free(net);
    return 0;
}
