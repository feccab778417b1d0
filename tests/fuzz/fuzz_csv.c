/* Any CSV text: a data set or an error, never a crash. */
#include "fuzz_common.h"
#include "nnrun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(".csv", data, size);
    for (int mode = 0; mode < 3; mode++) {
        nn_csv_options o = nn_csv_defaults();
        o.target = mode == 0 ? NN_CSV_REGRESSION : mode == 1 ? NN_CSV_CLASS_INT : NN_CSV_CLASS_TEXT;
        nn_dataset *d = NULL;
        if (nn_dataset_from_csv(path, &o, &d) == NN_OK) {
            float row[64];
            if (nn_dataset_features(d) <= 64)
                (void)nn_dataset_rows(d, 0, 1, row);
            (void)nn_dataset_normalize(d, NN_NORM_STANDARDIZE);
        }
        nn_dataset_free(d);
    }
    return 0;
}
