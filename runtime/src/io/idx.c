/* idx.c — the IDX format of the MNIST family, plain or gzip-compressed:
 *   u8 0, u8 0, u8 type (0x08 = unsigned byte), u8 ndim,
 *   ndim big-endian u32 dimensions, then the data, row-major.
 * Labels are 0x00000801 (one dimension), images 0x00000803 (N, rows, cols);
 * any 2 to 4 dimensions are read as (N, product of the others). */
#include <string.h>

#include "io/io.h"

#define IDX_MAX_ITEMS ((int64_t)INT32_MAX)
#define IDX_MAX_FEATURES ((int64_t)1 << 24)
#define IDX_MAX_BYTES ((int64_t)1 << 32)

typedef struct idx_data {
    int64_t items, features; /* features = 1 for labels */
    uint8_t *bytes;          /* items * features        */
} idx_data;

/* Reads and checks one IDX file of ndim dimensions in [min_dims, max_dims]. */
static nn_status read_idx(const char *path, const char *kind, int min_dims, int max_dims,
                          idx_data *out)
{
    memset(out, 0, sizeof *out);
    nn_rfile *f;
    nn_status s = nn_rfile_open(path, &f);
    if (s)
        return s;
    uint8_t head[4 + 4 * 4];
    int64_t got;
    if ((s = nn_rfile_read(f, head, 4, &got)))
        goto done;
    if (got < 4) {
        s = nn_fail(NN_EFORMAT, "%s: too short for an IDX header (%lld bytes)", path, (long long)got);
        goto done;
    }
    const uint32_t magic = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
    if (head[0] != 0 || head[1] != 0) {
        s = nn_fail(NN_EFORMAT, "%s: not an IDX file (magic 0x%08x)", path, (unsigned)magic);
        goto done;
    }
    if (head[2] != 0x08) {
        s = nn_fail(NN_EFORMAT, "%s: IDX data type 0x%02x is not supported (only unsigned bytes, 0x08)",
                    path, head[2]);
        goto done;
    }
    const int ndim = head[3];
    if (ndim < min_dims || ndim > max_dims) {
        s = nn_fail(NN_EFORMAT, "%s: expected an IDX %s file (magic 0x%08x), found magic 0x%08x (%d dimensions)",
                    path, kind, min_dims == 1 ? 0x801u : 0x803u, (unsigned)magic, ndim);
        goto done;
    }
    if ((s = nn_rfile_read(f, head + 4, 4 * ndim, &got)))
        goto done;
    if (got < 4 * ndim) {
        s = nn_fail(NN_EFORMAT, "%s: truncated IDX header", path);
        goto done;
    }
    int64_t dims[4], features = 1;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = head + 4 + 4 * i;
        dims[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        if (dims[i] == 0) {
            s = nn_fail(NN_EFORMAT, "%s: dimension %d is 0 (the file holds no data)", path, i + 1);
            goto done;
        }
        /* Each factor is < 2^32 and the product is checked against 2^24
         * after every step, so it never overflows. */
        if (i > 0 && (features *= dims[i]) > IDX_MAX_FEATURES) {
            s = nn_fail(NN_EFORMAT, "%s: more than %lld values per item", path, (long long)IDX_MAX_FEATURES);
            goto done;
        }
    }
    if (dims[0] > IDX_MAX_ITEMS) {
        s = nn_fail(NN_EFORMAT, "%s: %lld items is more than the limit of %lld", path, (long long)dims[0],
                    (long long)IDX_MAX_ITEMS);
        goto done;
    }
    int64_t total;
    if (!nn_mul_ok(dims[0], features, &total) || total > IDX_MAX_BYTES) {
        s = nn_fail(NN_EFORMAT, "%s: %lld items of %lld bytes is more than the limit of %lld bytes", path,
                    (long long)dims[0], (long long)features, (long long)IDX_MAX_BYTES);
        goto done;
    }
    /* The buffer grows with the data present: a short file that declares a
     * huge size fails below without a huge allocation. */
    if ((s = nn_rfile_read_all(f, total, &out->bytes, &got)))
        goto done;
    if (got < total) {
        s = nn_fail(NN_EFORMAT, "%s: truncated: the header declares %lld items of %lld bytes (%lld bytes of data) but the file holds %lld",
                    path, (long long)dims[0], (long long)features, (long long)total, (long long)got);
        goto done;
    }
    int at_end;
    if ((s = nn_rfile_at_end(f, &at_end)))
        goto done;
    if (!at_end) {
        s = nn_fail(NN_EFORMAT, "%s: unexpected data after the %lld items the header declares", path,
                    (long long)dims[0]);
        goto done;
    }
    out->items = dims[0];
    out->features = features;
done:
    nn_rfile_close(f);
    if (s) {
        nn_xfree(out->bytes);
        out->bytes = NULL;
    }
    return s;
}

nn_status nn_dataset_from_idx(const char *images_path, const char *labels_path, int64_t classes,
                              nn_dataset **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "idx: out is NULL");
    *out = NULL;
    if (!images_path)
        return nn_fail(NN_EINVAL, "idx: file name is NULL");
    if (classes < 0)
        return nn_fail(NN_EINVAL, "idx: classes must be >= 0, got %lld", (long long)classes);
    idx_data img, lab = {0, 0, NULL};
    nn_status s = read_idx(images_path, "images", 2, 4, &img);
    if (s)
        return s;
    if (!labels_path) /* images to predict on: t zeros */
        lab.items = img.items;
    else if ((s = read_idx(labels_path, "labels", 1, 1, &lab)))
        goto done;
    if (img.items != lab.items) {
        s = nn_fail(NN_EFORMAT, "%s holds %lld images but %s holds %lld labels", images_path,
                    (long long)img.items, labels_path, (long long)lab.items);
        goto done;
    }
    if (classes > 0 && lab.bytes)
        for (int64_t i = 0; i < lab.items; i++)
            if (lab.bytes[i] >= classes) {
                s = nn_fail(NN_EFORMAT, "%s: label %d of item %lld is outside [0, %lld)", labels_path,
                            lab.bytes[i], (long long)i + 1, (long long)classes); /* items from 1 */
                goto done;
            }
    nn_dataset *d;
    if ((s = nn_dataset_alloc(img.items, img.features, 2, 1, &d)))
        goto done;
    /* Hand the image bytes over instead of copying them. */
    d->xu8 = img.bytes;
    img.bytes = NULL;
    float *t = nn_tensor_data(d->t);
    for (int64_t i = 0; i < lab.items; i++)
        t[i] = lab.bytes ? (float)lab.bytes[i] : 0.0f;
    *out = d;
done:
    nn_xfree(img.bytes);
    nn_xfree(lab.bytes);
    return s;
}
