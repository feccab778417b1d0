/* test_tensor.c — tensor creation, views, fill, copy, element access and
 * their errors; plus the small global API (version, strerror, threads). */
#include "testutil.h"

static void test_create(void)
{
    nn_tensor *t = NULL;
    const int64_t shape[3] = {2, 3, 4};
    CHECK_OK(nn_tensor_create(3, shape, &t));
    CHECK(t != NULL);
    CHECK_INT(3, nn_tensor_ndim(t));
    CHECK_INT(2, nn_tensor_dim(t, 0));
    CHECK_INT(3, nn_tensor_dim(t, 1));
    CHECK_INT(4, nn_tensor_dim(t, 2));
    CHECK_INT(0, nn_tensor_dim(t, 3));
    CHECK_INT(0, nn_tensor_dim(t, -1));
    CHECK_INT(24, nn_tensor_size(t));
    CHECK_INT(2, nn_tensor_rows(t));
    CHECK_INT(12, nn_tensor_cols(t));
    int zeros = 1;
    for (int64_t i = 0; i < 24; i++)
        zeros &= nn_tensor_cdata(t)[i] == 0.0f;
    CHECK_MSG(zeros, "a new tensor is not zero-filled");
    nn_tensor_free(t);

    CHECK_OK(nn_tensor_create2d(5, 1, &t));
    CHECK_INT(2, nn_tensor_ndim(t));
    CHECK_INT(5, nn_tensor_rows(t));
    CHECK_INT(1, nn_tensor_cols(t));
    nn_tensor_free(t);

    const int64_t one[1] = {7};
    CHECK_OK(nn_tensor_create(1, one, &t));
    CHECK_INT(7, nn_tensor_rows(t));
    CHECK_INT(1, nn_tensor_cols(t)); /* product of no dimensions */
    nn_tensor_free(t);

    const float data[6] = {1, 2, 3, 4, 5, 6};
    CHECK_OK(nn_tensor_from(2, 3, data, &t));
    CHECK(memcmp(nn_tensor_cdata(t), data, sizeof data) == 0);
    CHECK(nn_tensor_cdata(t) != data); /* copied, not borrowed */
    nn_tensor_free(t);

    nn_tensor_free(NULL); /* no-op */
    CHECK_INT(0, nn_tensor_ndim(NULL));
    CHECK_INT(0, nn_tensor_size(NULL));
    CHECK(nn_tensor_data(NULL) == NULL);
}

static void test_create_errors(void)
{
    nn_tensor *t = (nn_tensor *)&t; /* must be reset to NULL */
    const int64_t shape[5] = {2, 2, 2, 2, 2};
    CHECK_ERR(NN_EINVAL, "tensor: ndim must be 1..4, got 0", nn_tensor_create(0, shape, &t));
    CHECK(t == NULL);
    t = (nn_tensor *)&t;
    CHECK_ERR(NN_EINVAL, "tensor: ndim must be 1..4, got 5", nn_tensor_create(5, shape, &t));
    CHECK(t == NULL);
    CHECK_ERR(NN_EINVAL, "tensor: shape is NULL", nn_tensor_create(2, NULL, &t));
    CHECK_ERR(NN_EINVAL, "tensor: out is NULL", nn_tensor_create(2, shape, NULL));
    const int64_t zero[2] = {3, 0}, neg[2] = {-1, 3};
    CHECK_ERR(NN_EINVAL, "tensor: dimension 1 must be >= 1, got 0", nn_tensor_create(2, zero, &t));
    CHECK_ERR(NN_EINVAL, "tensor: dimension 0 must be >= 1, got -1", nn_tensor_create(2, neg, &t));
    CHECK_ERR(NN_EINVAL, "tensor: dimension 0 must be >= 1, got 0", nn_tensor_create2d(0, 4, &t));
    const int64_t huge[2] = {INT64_MAX / 2, 4};
    CHECK_ERR(NN_ERANGE, "tensor: element count overflows", nn_tensor_create(2, huge, &t));
    CHECK(t == NULL);
    CHECK_ERR(NN_EINVAL, "tensor: data is NULL", nn_tensor_from(2, 2, NULL, &t));
    const float d[1] = {0};
    CHECK_ERR(NN_EINVAL, "tensor: dimension 1 must be >= 1, got -3", nn_tensor_from(1, -3, d, &t));
    CHECK(t == NULL);
}

static void test_views(void)
{
    nn_tensor *t, *v = NULL;
    const int64_t shape[3] = {4, 2, 3};
    CHECK_OK(nn_tensor_create(3, shape, &t));
    float *d = nn_tensor_data(t);
    for (int i = 0; i < 24; i++)
        d[i] = (float)i;
    CHECK_OK(nn_tensor_view_rows(t, 1, 2, &v));
    CHECK_INT(3, nn_tensor_ndim(v));
    CHECK_INT(2, nn_tensor_rows(v));
    CHECK_INT(6, nn_tensor_cols(v));
    CHECK_INT(12, nn_tensor_size(v));
    CHECK(nn_tensor_data(v) == d + 6); /* borrowed, offset by one row */
    float x = -1;
    CHECK_OK(nn_tensor_get(v, 0, 0, &x));
    CHECK_FLOAT_EQ(6, x);
    CHECK_OK(nn_tensor_set(v, 1, 5, 100.0f));
    CHECK_FLOAT_EQ(100, d[17]); /* writes go through to the parent */
    CHECK_ERR(NN_ERANGE, "tensor: index (2, 0) outside (2, 6)", nn_tensor_get(v, 2, 0, &x));
    nn_tensor_free(v); /* must not free the parent's data */
    CHECK_FLOAT_EQ(100, d[17]);

    CHECK_OK(nn_tensor_view_rows(t, 0, 4, &v)); /* whole */
    nn_tensor_free(v);
    CHECK_OK(nn_tensor_view_rows(t, 3, 1, &v)); /* last row */
    CHECK(nn_tensor_data(v) == d + 18);
    nn_tensor_free(v);

    v = (nn_tensor *)&v;
    CHECK_ERR(NN_ERANGE, "tensor view: rows [3, 5) outside [0, 4)", nn_tensor_view_rows(t, 3, 2, &v));
    CHECK(v == NULL);
    CHECK_ERR(NN_ERANGE, "tensor view: rows [-1, 0) outside [0, 4)", nn_tensor_view_rows(t, -1, 1, &v));
    CHECK_ERR(NN_ERANGE, "tensor view: rows [1, 1) outside [0, 4)", nn_tensor_view_rows(t, 1, 0, &v));
    CHECK_ERR(NN_ERANGE, "tensor view: rows [4, 5) outside [0, 4)", nn_tensor_view_rows(t, 4, 1, &v));
    CHECK_ERR(NN_ERANGE, "tensor view: rows [1, 9223372036854775807) outside [0, 4)",
              nn_tensor_view_rows(t, 1, INT64_MAX, &v));
    CHECK_ERR(NN_ERANGE, "tensor view: rows [-9223372036854775808, -9223372036854775808) outside [0, 4)",
              nn_tensor_view_rows(t, INT64_MIN, -1, &v));
    CHECK_ERR(NN_EINVAL, "tensor view: tensor is NULL", nn_tensor_view_rows(NULL, 0, 1, &v));
    CHECK_ERR(NN_EINVAL, "tensor view: out is NULL", nn_tensor_view_rows(t, 0, 1, NULL));
    nn_tensor_free(t);
}

static void test_fill_copy_get_set(void)
{
    nn_tensor *a, *b, *c;
    CHECK_OK(nn_tensor_create2d(3, 4, &a));
    CHECK_OK(nn_tensor_create2d(4, 3, &b)); /* same count, other shape */
    CHECK_OK(nn_tensor_create2d(2, 5, &c));
    nn_tensor_fill(a, 2.5f);
    int all = 1;
    for (int i = 0; i < 12; i++)
        all &= nn_tensor_cdata(a)[i] == 2.5f;
    CHECK_MSG(all, "fill did not set every element");
    nn_tensor_fill(NULL, 1.0f); /* no-op */

    for (int64_t r = 0; r < 3; r++)
        for (int64_t col = 0; col < 4; col++)
            CHECK_OK(nn_tensor_set(a, r, col, (float)(10 * r + col)));
    CHECK_FLOAT_EQ(23, nn_tensor_cdata(a)[11]); /* row-major */
    float v = 0;
    CHECK_OK(nn_tensor_get(a, 1, 2, &v));
    CHECK_FLOAT_EQ(12, v);

    CHECK_OK(nn_tensor_copy(b, a));
    CHECK(memcmp(nn_tensor_cdata(a), nn_tensor_cdata(b), 12 * sizeof(float)) == 0);
    CHECK_OK(nn_tensor_copy(a, a)); /* self-copy is fine */
    CHECK_ERR(NN_ESHAPE, "tensor copy: destination has 10 elements, source 12", nn_tensor_copy(c, a));
    CHECK_ERR(NN_EINVAL, "tensor copy: tensor is NULL", nn_tensor_copy(NULL, a));
    CHECK_ERR(NN_EINVAL, "tensor copy: tensor is NULL", nn_tensor_copy(a, NULL));

    CHECK_ERR(NN_ERANGE, "tensor: index (3, 0) outside (3, 4)", nn_tensor_get(a, 3, 0, &v));
    CHECK_ERR(NN_ERANGE, "tensor: index (0, 4) outside (3, 4)", nn_tensor_set(a, 0, 4, 1.0f));
    CHECK_ERR(NN_ERANGE, "tensor: index (-1, 0) outside (3, 4)", nn_tensor_set(a, -1, 0, 1.0f));
    CHECK_ERR(NN_ERANGE, "tensor: index (0, -1) outside (3, 4)", nn_tensor_get(a, 0, -1, &v));
    CHECK_ERR(NN_EINVAL, "tensor: tensor is NULL", nn_tensor_get(NULL, 0, 0, &v));
    CHECK_ERR(NN_EINVAL, "tensor: tensor is NULL", nn_tensor_set(NULL, 0, 0, 1.0f));
    nn_tensor_free(a);
    nn_tensor_free(b);
    nn_tensor_free(c);
}

static void test_globals(void)
{
    CHECK_STR("0.1.0", nn_version());
    CHECK_STR("ok", nn_strerror(NN_OK));
    CHECK_STR("invalid argument", nn_strerror(NN_EINVAL));
    CHECK_STR("shape mismatch", nn_strerror(NN_ESHAPE));
    CHECK_STR("out of memory", nn_strerror(NN_ENOMEM));
    CHECK_STR("out of range", nn_strerror(NN_ERANGE));
    CHECK_STR("invalid state", nn_strerror(NN_ESTATE));
    CHECK_STR("training diverged", nn_strerror(NN_EDIVERGED));
    CHECK_STR("cancelled by callback", nn_strerror(NN_ECANCELLED));
    CHECK_STR("input/output error", nn_strerror(NN_EIO));
    CHECK_STR("malformed file", nn_strerror(NN_EFORMAT));
    CHECK_STR("unknown status", nn_strerror((nn_status)99));

    const int before = nn_get_threads();
    CHECK(before >= 1);
    CHECK_ERR(NN_EINVAL, "threads must be >= 1, got 0", nn_set_threads(0));
    CHECK_ERR(NN_EINVAL, "threads must be >= 1, got -2", nn_set_threads(-2));
    CHECK_INT(before, nn_get_threads());
    CHECK_OK(nn_set_threads(3));
    CHECK_INT(3, nn_get_threads());
    CHECK_OK(nn_set_threads(before));
}

int main(void)
{
    test_create();
    test_create_errors();
    test_views();
    test_fill_copy_get_set();
    test_globals();
    return tu_finish();
}
