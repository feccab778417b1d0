/* dataset.c — in-memory data sets: inputs x (N, features), targets t (N, k). */
#include "internal.h"

struct nn_dataset {
    nn_tensor *x, *t;
};

nn_status nn_dataset_create(const nn_tensor *x, const nn_tensor *t, nn_dataset **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "dataset: out is NULL");
    *out = NULL;
    if (!x || !t)
        return nn_fail(NN_EINVAL, "dataset: inputs or targets are NULL");
    if (nn_tensor_rows(x) != nn_tensor_rows(t))
        return nn_fail(NN_ESHAPE, "dataset: %lld input rows but %lld target rows",
                       (long long)nn_tensor_rows(x), (long long)nn_tensor_rows(t));
    nn_dataset *d = nn_xcalloc(1, sizeof *d);
    if (!d)
        return nn_oom("dataset");
    nn_status s = nn_tensor_from(nn_tensor_rows(x), nn_tensor_cols(x), nn_tensor_cdata(x), &d->x);
    if (!s)
        s = nn_tensor_from(nn_tensor_rows(t), nn_tensor_cols(t), nn_tensor_cdata(t), &d->t);
    if (s) {
        nn_dataset_free(d);
        return s;
    }
    *out = d;
    return NN_OK;
}

void nn_dataset_free(nn_dataset *d)
{
    if (!d)
        return;
    nn_tensor_free(d->x);
    nn_tensor_free(d->t);
    nn_xfree(d);
}

int64_t nn_dataset_size(const nn_dataset *d) { return d ? nn_tensor_rows(d->x) : 0; }
int64_t nn_dataset_features(const nn_dataset *d) { return d ? nn_tensor_cols(d->x) : 0; }
int64_t nn_dataset_target_cols(const nn_dataset *d) { return d ? nn_tensor_cols(d->t) : 0; }
const nn_tensor *nn_dataset_x(const nn_dataset *d) { return d ? d->x : NULL; }
const nn_tensor *nn_dataset_t(const nn_dataset *d) { return d ? d->t : NULL; }
