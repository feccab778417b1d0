/* dataset.c — in-memory data sets: inputs x (N, features), targets t (N, k).
 * Inputs are floats, or (data sets read from image files) bytes that stay
 * bytes until a batch is gathered; see struct nn_dataset in io/io.h.
 * Normalisation, subsets and splits are in io/prep.c. */
#include <string.h>

#include "internal.h"
#include "kernels/parallel.h"
#include "io/io.h"

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
    d->n = nn_tensor_rows(x);
    d->features = nn_tensor_cols(x);
    *out = d;
    return NN_OK;
}

nn_status nn_dataset_alloc(int64_t n, int64_t features, int compact, int64_t tcols, nn_dataset **out)
{
    *out = NULL;
    int64_t xn;
    if (n < 1 || features < 1 || tcols < 1 || !nn_mul_ok(n, features, &xn) ||
        (uint64_t)xn > SIZE_MAX / sizeof(float))
        return nn_fail(NN_ERANGE, "dataset: %lld rows of %lld features is out of range",
                       (long long)n, (long long)features);
    nn_dataset *d = nn_xcalloc(1, sizeof *d);
    if (!d)
        return nn_oom("dataset");
    d->n = n;
    d->features = features;
    nn_status s = nn_tensor_create2d(n, tcols, &d->t);
    if (!s && compact == 2) {
        /* bytes the caller hands over: set d->xu8 */
    } else if (!s && compact) {
        d->xu8 = nn_xcalloc((size_t)xn, 1);
        if (!d->xu8)
            s = nn_oom("dataset");
    } else if (!s) {
        s = nn_tensor_create2d(n, features, &d->x);
    }
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
    nn_xfree(d->xu8);
    nn_xfree(d->shift);
    nn_xfree(d->div);
    for (int64_t i = 0; i < d->nclasses; i++)
        nn_xfree(d->classes[i]);
    nn_xfree(d->classes);
    nn_xfree(d);
}

int64_t nn_dataset_size(const nn_dataset *d) { return d ? d->n : 0; }
int64_t nn_dataset_features(const nn_dataset *d) { return d ? d->features : 0; }
int64_t nn_dataset_target_cols(const nn_dataset *d) { return d ? nn_tensor_cols(d->t) : 0; }
/* NULL for byte storage: the float inputs never exist as a whole. */
const nn_tensor *nn_dataset_x(const nn_dataset *d) { return d ? d->x : NULL; }
const nn_tensor *nn_dataset_t(const nn_dataset *d) { return d ? d->t : NULL; }

int nn_dataset_is_compact(const nn_dataset *d) { return d && d->xu8; }
const float *nn_dataset_xf(const nn_dataset *d) { return d && d->x ? d->x->data : NULL; }

int64_t nn_dataset_class_count(const nn_dataset *d) { return d ? d->nclasses : 0; }
const char *nn_dataset_class_name(const nn_dataset *d, int64_t i)
{
    return d && i >= 0 && i < d->nclasses ? d->classes[i] : NULL;
}

typedef struct gather_job {
    const nn_dataset *d;
    const int64_t *idx;
    int64_t start;
    float *out;
} gather_job;

/* Rows [lo, hi) of the batch: each row is converted on its own, so the
 * rows can be split over threads. */
static void gather_range(int64_t lo, int64_t hi, void *ctx)
{
    const gather_job *j = ctx;
    const nn_dataset *d = j->d;
    const int64_t F = d->features;
    for (int64_t r = lo; r < hi; r++) {
        const int64_t src = j->idx ? j->idx[r] : j->start + r;
        float *o = j->out + r * F;
        if (d->x) {
            memcpy(o, d->x->data + src * F, (size_t)F * sizeof(float));
            continue;
        }
        const uint8_t *u = d->xu8 + src * F;
        if (d->norm == NN_NORM_NONE) {
            for (int64_t f = 0; f < F; f++)
                o[f] = (float)u[f];
        } else {
            /* A division, not a multiplication by 1/div: SCALE then gives
             * exactly u/255, the correctly rounded value. */
            const float *sh = d->shift, *dv = d->div;
            for (int64_t f = 0; f < F; f++)
                o[f] = ((float)u[f] - sh[f]) / dv[f];
        }
    }
}

void nn_dataset_gather_x(const nn_dataset *d, const int64_t *idx, int64_t start, int64_t n,
                         float *out)
{
    gather_job j = {d, idx, start, out};
    nn_parallel_range(n, NN_GRAIN_ELEMENTS / (d->features > 0 ? d->features : 1) + 1, gather_range, &j);
}

nn_status nn_dataset_rows(const nn_dataset *d, int64_t start, int64_t count, float *out)
{
    if (!d || !out)
        return nn_fail(NN_EINVAL, "dataset: NULL argument");
    if (start < 0 || count < 0 || start > d->n || count > d->n - start)
        return nn_fail(NN_ERANGE, "dataset: rows [%lld, +%lld) outside [0, %lld)", (long long)start,
                       (long long)count, (long long)d->n);
    nn_dataset_gather_x(d, NULL, start, count, out);
    return NN_OK;
}

int64_t nn_dataset_class_of(const nn_dataset *d, int64_t r)
{
    const int64_t k = nn_tensor_cols(d->t);
    const float *t = d->t->data + r * k;
    if (k == 1)
        return (int64_t)t[0];
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
        if (t[j] > t[best])
            best = j;
    return best;
}
