/* Any pair of IDX files (the input split in two): a data set or an error,
 * never a crash.  The first byte picks the split point. */
#include "fuzz_common.h"
#include "nnrun.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cut = 1 + (size - 1) * data[0] / 255;
    char images[160], labels[160];
    snprintf(images, sizeof images, "%s", fuzz_write(".images", data + 1, cut - 1));
    snprintf(labels, sizeof labels, "%s", fuzz_write(".labels", data + cut, size - cut));
    nn_dataset *d = NULL;
    if (nn_dataset_from_idx(images, labels, 0, &d) == NN_OK) {
        float row[1024];
        if (nn_dataset_features(d) <= 1024)
            (void)nn_dataset_rows(d, nn_dataset_size(d) - 1, 1, row);
    }
    nn_dataset_free(d);
    return 0;
}
