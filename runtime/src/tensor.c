/* tensor.c — float32, row-major, contiguous tensors of 1 to 4 dimensions. */
#include <string.h>

#include "internal.h"

static nn_status tensor_new(int ndim, const int64_t *shape, int zero, nn_tensor **out)
{
    *out = NULL;
    if (ndim < 1 || ndim > NN_MAX_DIMS)
        return nn_fail(NN_EINVAL, "tensor: ndim must be 1..%d, got %d", NN_MAX_DIMS, ndim);
    if (!shape)
        return nn_fail(NN_EINVAL, "tensor: shape is NULL");
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return nn_fail(NN_EINVAL, "tensor: dimension %d must be >= 1, got %lld", i,
                           (long long)shape[i]);
        if (!nn_mul_ok(n, shape[i], &n) || n > (int64_t)(SIZE_MAX / sizeof(float)))
            return nn_fail(NN_ERANGE, "tensor: element count overflows");
    }
    nn_tensor *t = nn_xcalloc(1, sizeof *t);
    if (!t)
        return nn_oom("tensor");
    t->data = zero ? nn_xcalloc((size_t)n, sizeof(float)) : nn_xalloc((size_t)n * sizeof(float));
    if (!t->data) {
        nn_xfree(t);
        return nn_oom("tensor");
    }
    t->ndim = ndim;
    t->owns = 1;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    *out = t;
    return NN_OK;
}

nn_status nn_tensor_create(int ndim, const int64_t *shape, nn_tensor **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "tensor: out is NULL");
    return tensor_new(ndim, shape, 1, out);
}

nn_status nn_tensor_create2d(int64_t rows, int64_t cols, nn_tensor **out)
{
    int64_t shape[2] = {rows, cols};
    return nn_tensor_create(2, shape, out);
}

nn_status nn_tensor_from(int64_t rows, int64_t cols, const float *data, nn_tensor **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "tensor: out is NULL");
    *out = NULL;
    if (!data)
        return nn_fail(NN_EINVAL, "tensor: data is NULL");
    int64_t shape[2] = {rows, cols};
    nn_status s = tensor_new(2, shape, 0, out);
    if (s)
        return s;
    memcpy((*out)->data, data, (size_t)(rows * cols) * sizeof(float));
    return NN_OK;
}

nn_status nn_tensor_view_rows(nn_tensor *t, int64_t start, int64_t count, nn_tensor **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "tensor view: out is NULL");
    *out = NULL;
    if (!t)
        return nn_fail(NN_EINVAL, "tensor view: tensor is NULL");
    if (start < 0 || count < 1 || start > t->shape[0] || count > t->shape[0] - start) {
        /* The end, saturated: start + count may overflow. */
        const int64_t end = count > 0 && start > INT64_MAX - count   ? INT64_MAX
                            : count < 0 && start < INT64_MIN - count ? INT64_MIN
                                                                     : start + count;
        return nn_fail(NN_ERANGE, "tensor view: rows [%lld, %lld) outside [0, %lld)",
                       (long long)start, (long long)end, (long long)t->shape[0]);
    }
    nn_tensor *v = nn_xcalloc(1, sizeof *v);
    if (!v)
        return nn_oom("tensor view");
    *v = *t;
    v->owns = 0;
    v->shape[0] = count;
    v->data = t->data + start * nn_tensor_cols(t);
    *out = v;
    return NN_OK;
}

void nn_tensor_wrap(nn_tensor *t, float *data, int64_t rows, int64_t cols)
{
    memset(t, 0, sizeof *t);
    t->data = data;
    t->ndim = 2;
    t->shape[0] = rows;
    t->shape[1] = cols;
}

void nn_tensor_free(nn_tensor *t)
{
    if (!t)
        return;
    if (t->owns)
        nn_xfree(t->data);
    nn_xfree(t);
}

int nn_tensor_ndim(const nn_tensor *t) { return t ? t->ndim : 0; }

int64_t nn_tensor_dim(const nn_tensor *t, int i)
{
    return t && i >= 0 && i < t->ndim ? t->shape[i] : 0;
}

int64_t nn_tensor_size(const nn_tensor *t)
{
    if (!t)
        return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

int64_t nn_tensor_rows(const nn_tensor *t) { return t ? t->shape[0] : 0; }

int64_t nn_tensor_cols(const nn_tensor *t)
{
    if (!t)
        return 0;
    int64_t n = 1;
    for (int i = 1; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

float *nn_tensor_data(nn_tensor *t) { return t ? t->data : NULL; }
const float *nn_tensor_cdata(const nn_tensor *t) { return t ? t->data : NULL; }

void nn_tensor_fill(nn_tensor *t, float v)
{
    if (!t)
        return;
    int64_t n = nn_tensor_size(t);
    for (int64_t i = 0; i < n; i++)
        t->data[i] = v;
}

nn_status nn_tensor_copy(nn_tensor *dst, const nn_tensor *src)
{
    if (!dst || !src)
        return nn_fail(NN_EINVAL, "tensor copy: tensor is NULL");
    if (nn_tensor_size(dst) != nn_tensor_size(src))
        return nn_fail(NN_ESHAPE, "tensor copy: destination has %lld elements, source %lld",
                       (long long)nn_tensor_size(dst), (long long)nn_tensor_size(src));
    if (dst->data != src->data)
        memmove(dst->data, src->data, (size_t)nn_tensor_size(src) * sizeof(float));
    return NN_OK;
}

static nn_status check_index(const nn_tensor *t, int64_t row, int64_t col)
{
    if (!t)
        return nn_fail(NN_EINVAL, "tensor: tensor is NULL");
    if (row < 0 || row >= nn_tensor_rows(t) || col < 0 || col >= nn_tensor_cols(t))
        return nn_fail(NN_ERANGE, "tensor: index (%lld, %lld) outside (%lld, %lld)",
                       (long long)row, (long long)col, (long long)nn_tensor_rows(t),
                       (long long)nn_tensor_cols(t));
    return NN_OK;
}

nn_status nn_tensor_get(const nn_tensor *t, int64_t row, int64_t col, float *v)
{
    nn_status s = check_index(t, row, col);
    if (s)
        return s;
    *v = t->data[row * nn_tensor_cols(t) + col];
    return NN_OK;
}

nn_status nn_tensor_set(nn_tensor *t, int64_t row, int64_t col, float v)
{
    nn_status s = check_index(t, row, col);
    if (s)
        return s;
    t->data[row * nn_tensor_cols(t) + col] = v;
    return NN_OK;
}
