/* test_idx.c — the IDX loader (plain and gzip) on small files written here,
 * every malformed case with its exact message, failing allocations, the
 * byte storage and its normalisation, splits, and (when installed) the real
 * Fashion-MNIST files. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "io/io.h"
#include "testutil.h"

static char dir[256];
static char msg[1024];

static const char *pathf(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_file(const char *name, const void *data, size_t n, int gz)
{
    if (gz) {
        gzFile g = gzopen(pathf(name), "wb");
        if (!g || (n && gzwrite(g, data, (unsigned)n) != (int)n) || gzclose(g) != Z_OK) {
            fprintf(stderr, "cannot write %s\n", name);
            exit(2);
        }
        return;
    }
    FILE *f = fopen(pathf(name), "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", name);
        exit(2);
    }
}

static size_t put_header(uint8_t *b, uint8_t type, int ndim, const uint32_t *dims)
{
    b[0] = b[1] = 0;
    b[2] = type;
    b[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        b[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        b[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        b[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        b[7 + 4 * i] = (uint8_t)dims[i];
    }
    return 4 + 4 * (size_t)ndim;
}

/* 5 images of 3x4 and their labels i % 3. */
enum { NI = 5, H = 3, W = 4 };
static uint8_t images[16 + NI * H * W], labels[8 + NI];
static size_t nimages, nlabels;

static void make_valid(void)
{
    const uint32_t di[3] = {NI, H, W}, dl[1] = {NI};
    nimages = put_header(images, 8, 3, di);
    for (int i = 0; i < NI * H * W; i++)
        images[nimages + i] = (uint8_t)(i * 37 % 256);
    nimages += NI * H * W;
    nlabels = put_header(labels, 8, 1, dl);
    for (int i = 0; i < NI; i++)
        labels[nlabels + i] = (uint8_t)(i % 3);
    nlabels += NI;
}

/* Whether d's rows are make_valid's pixels, unnormalised. */
static int raw_pixels(const nn_dataset *d)
{
    float rows[NI * H * W];
    if (nn_dataset_rows(d, 0, NI, rows) != NN_OK)
        return 0;
    int same = 1;
    for (int i = 0; i < NI * H * W; i++)
        same &= rows[i] == (float)(i * 37 % 256);
    return same;
}

static void check_valid(const char *img, const char *lab)
{
    nn_dataset *d = NULL;
    CHECK_OK(nn_dataset_from_idx(pathf(img), pathf(lab), 3, &d));
    if (!d)
        return;
    CHECK_INT(NI, nn_dataset_size(d));
    CHECK_INT(H * W, nn_dataset_features(d));
    CHECK_INT(1, nn_dataset_target_cols(d));
    CHECK_INT(1, nn_dataset_is_compact(d));
    CHECK(nn_dataset_x(d) == NULL);
    CHECK_MSG(raw_pixels(d), "raw pixel values differ");
    for (int i = 0; i < NI; i++)
        CHECK_FLOAT_EQ((float)(i % 3), nn_tensor_cdata(nn_dataset_t(d))[i]);
    float rows[NI * H * W];
    CHECK_STATUS(NN_ERANGE, nn_dataset_rows(d, 3, 3, rows));
    nn_dataset_free(d);
}

/* No labels file (labels_path NULL): the same images, targets zeros; a
 * bad images file is still refused. */
static void check_images_alone(void)
{
    nn_dataset *d = NULL;
    CHECK_OK(nn_dataset_from_idx(pathf("img.gz"), NULL, 3, &d));
    if (!d)
        return;
    CHECK_INT(NI, nn_dataset_size(d));
    CHECK_INT(H * W, nn_dataset_features(d));
    CHECK_INT(1, nn_dataset_target_cols(d));
    CHECK_MSG(raw_pixels(d), "raw pixel values differ without labels");
    for (int i = 0; i < NI; i++)
        CHECK_FLOAT_EQ(0.0f, nn_tensor_cdata(nn_dataset_t(d))[i]);
    nn_dataset_free(d);
    d = (nn_dataset *)1;
    CHECK_STATUS(NN_EFORMAT, nn_dataset_from_idx(pathf("lab"), NULL, 0, &d));
    CHECK(d == NULL);
    CHECK_STATUS(NN_EINVAL, nn_dataset_from_idx(NULL, pathf("lab"), 0, &d));
}

static void expect_err(nn_status st, const char *img, const char *lab, int64_t classes, const char *expected)
{
    nn_dataset *d = (nn_dataset *)1;
    CHECK_ERR(st, expected, nn_dataset_from_idx(pathf(img), pathf(lab), classes, &d));
    CHECK(d == NULL);
}

static void test_malformed(void)
{
    uint8_t b[256];
    size_t n;
    write_file("img", images, nimages, 0);
    write_file("lab", labels, nlabels, 0);

    /* A file with the wrong magic in its first bytes. */
    memcpy(b, images, nimages);
    b[0] = 1;
    write_file("bad", b, nimages, 0);
    snprintf(msg, sizeof msg, "%s: not an IDX file (magic 0x01000803)", pathf("bad"));
    expect_err(NN_EFORMAT, "bad", "lab", 0, msg);

    /* Unsupported element type (float, 0x0D). */
    memcpy(b, images, nimages);
    b[2] = 0x0D;
    write_file("bad", b, nimages, 0);
    snprintf(msg, sizeof msg, "%s: IDX data type 0x0d is not supported (only unsigned bytes, 0x08)", pathf("bad"));
    expect_err(NN_EFORMAT, "bad", "lab", 0, msg);

    /* Files swapped: labels where images belong, and the other way. */
    snprintf(msg, sizeof msg,
             "%s: expected an IDX images file (magic 0x00000803), found magic 0x00000801 (1 dimensions)",
             pathf("lab"));
    expect_err(NN_EFORMAT, "lab", "img", 0, msg);
    snprintf(msg, sizeof msg,
             "%s: expected an IDX labels file (magic 0x00000801), found magic 0x00000803 (3 dimensions)",
             pathf("img"));
    expect_err(NN_EFORMAT, "img", "img", 0, msg);

    /* Short files. */
    write_file("bad", images, 0, 0);
    snprintf(msg, sizeof msg, "%s: too short for an IDX header (0 bytes)", pathf("bad"));
    expect_err(NN_EFORMAT, "bad", "lab", 0, msg);
    write_file("bad", images, 9, 0);
    snprintf(msg, sizeof msg, "%s: truncated IDX header", pathf("bad"));
    expect_err(NN_EFORMAT, "bad", "lab", 0, msg);

    /* Data shorter or longer than the header says. */
    write_file("bad", images, nimages - 1, 0);
    snprintf(msg, sizeof msg,
             "%s: truncated: the header declares 5 items of 12 bytes (60 bytes of data) but the file holds 59",
             pathf("bad"));
    expect_err(NN_EFORMAT, "bad", "lab", 0, msg);
    memcpy(b, images, nimages);
    b[nimages] = 0;
    write_file("bad", b, nimages + 1, 0);
    snprintf(msg, sizeof msg, "%s: unexpected data after the 5 items the header declares", pathf("bad"));
    expect_err(NN_EFORMAT, "bad", "lab", 0, msg);

    /* A tiny file declaring 2^31-1 items: refused at the real size, without
     * allocating gigabytes. */
    const uint32_t big[3] = {0x7FFFFFFF, 1, 1};
    n = put_header(b, 8, 3, big);
    write_file("bad", b, n + 3, 0);
    snprintf(msg, sizeof msg,
             "%s: truncated: the header declares 2147483647 items of 1 bytes (2147483647 bytes of data) but the file holds 3",
             pathf("bad"));
    expect_err(NN_EFORMAT, "bad", "lab", 0, msg);
    /* Sizes whose product exceeds the limits. */
    const uint32_t huge[3] = {0xFFFFFFFF, 28, 28};
    n = put_header(b, 8, 3, huge);
    write_file("bad", b, n, 0);
    snprintf(msg, sizeof msg, "%s: 4294967295 items is more than the limit of 2147483647", pathf("bad"));
    expect_err(NN_EFORMAT, "bad", "lab", 0, msg);
    const uint32_t wide[4] = {100000, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF};
    n = put_header(b, 8, 4, wide);
    write_file("bad", b, n, 0);
    snprintf(msg, sizeof msg, "%s: more than 16777216 values per item", pathf("bad"));
    expect_err(NN_EFORMAT, "bad", "lab", 0, msg);
    const uint32_t many[2] = {2000000000, 4096};
    n = put_header(b, 8, 2, many);
    write_file("bad", b, n, 0);
    snprintf(msg, sizeof msg,
             "%s: 2000000000 items of 4096 bytes is more than the limit of 4294967296 bytes", pathf("bad"));
    expect_err(NN_EFORMAT, "bad", "lab", 0, msg);
    const uint32_t zero[3] = {5, 0, 4};
    n = put_header(b, 8, 3, zero);
    write_file("bad", b, n, 0);
    snprintf(msg, sizeof msg, "%s: dimension 2 is 0 (the file holds no data)", pathf("bad"));
    expect_err(NN_EFORMAT, "bad", "lab", 0, msg);

    /* Count mismatch and label range. */
    const uint32_t four[1] = {4};
    n = put_header(b, 8, 1, four);
    memset(b + n, 0, 4);
    write_file("bad", b, n + 4, 0);
    snprintf(msg, sizeof msg, "%s holds 5 images but %s holds 4 labels", pathf("img"), pathf("bad"));
    expect_err(NN_EFORMAT, "img", "bad", 0, msg);
    snprintf(msg, sizeof msg, "%s: label 2 of item 3 is outside [0, 2)", pathf("lab"));
    expect_err(NN_EFORMAT, "img", "lab", 2, msg);

    /* Missing file, directory instead of a file. */
    snprintf(msg, sizeof msg, "%s: cannot open: No such file or directory", pathf("missing"));
    expect_err(NN_EIO, "missing", "lab", 0, msg);
    snprintf(msg, sizeof msg, "%s: cannot read: Is a directory", pathf(""));
    expect_err(NN_EIO, "", "lab", 0, msg);

    /* Broken gzip streams: a cut and a flipped byte in the deflate data. */
    write_file("gz", images, nimages, 1);
    FILE *f = fopen(pathf("gz"), "rb");
    uint8_t z[512];
    const size_t zn = fread(z, 1, sizeof z, f);
    fclose(f);
    write_file("bad", z, zn - 12, 0);
    nn_dataset *d = NULL;
    CHECK_STATUS(NN_EFORMAT, nn_dataset_from_idx(pathf("bad"), pathf("lab"), 0, &d));
    CHECK(strstr(nn_last_error(), pathf("bad")) == nn_last_error());
    for (size_t i = 10; i < zn; i++) {
        uint8_t c[512];
        memcpy(c, z, zn);
        c[i] ^= 0x55;
        write_file("bad", c, zn, 0);
        const nn_status st = nn_dataset_from_idx(pathf("bad"), pathf("lab"), 0, &d);
        /* Every flip is caught: by inflate, the CRC-32 or the length check
         * of the gzip trailer, or the IDX checks. */
        CHECK_MSG(st == NN_EFORMAT, "flip at %zu: status %d (%s)", i, (int)st, nn_last_error());
        nn_dataset_free(d);
        d = NULL;
    }
}

static void test_alloc_failures(void)
{
    /* Fail each allocation in turn: a clean NN_ENOMEM and nothing leaked. */
    for (long k = 1;; k++) {
        tu_alloc_install(k);
        nn_dataset *d = NULL;
        const nn_status st = nn_dataset_from_idx(pathf("img.gz"), pathf("lab.gz"), 3, &d);
        nn_dataset_free(d);
        const long failed = tu_alloc.failed, live = tu_alloc.live;
        tu_alloc_remove();
        CHECK_INT(0, live);
        if (!failed) {
            CHECK_OK(st);
            break;
        }
        CHECK_STATUS(NN_ENOMEM, st);
    }
}

static void test_normalise(void)
{
    nn_dataset *d = NULL, *e = NULL;
    CHECK_OK(nn_dataset_from_idx(pathf("img"), pathf("lab"), 0, &d));
    CHECK_OK(nn_dataset_from_idx(pathf("img.gz"), pathf("lab.gz"), 0, &e));
    if (!d || !e)
        return;
    CHECK_OK(nn_dataset_normalize(d, NN_NORM_SCALE));
    CHECK_ERR(NN_ESTATE, "normalise: the data set is already normalised (scale)",
              nn_dataset_normalize(d, NN_NORM_STANDARDIZE));
    float rows[NI * H * W];
    CHECK_OK(nn_dataset_rows(d, 0, NI, rows));
    int same = 1;
    for (int i = 0; i < NI * H * W; i++)
        same &= rows[i] == (float)(i * 37 % 256) / 255.0f;
    CHECK_MSG(same, "scaled values are not u/255");
    /* Standardise: per-feature mean 0 and std 1 over the data set. */
    CHECK_OK(nn_dataset_normalize(e, NN_NORM_STANDARDIZE));
    CHECK_OK(nn_dataset_rows(e, 0, NI, rows));
    for (int f = 0; f < H * W; f++) {
        double m = 0, v = 0;
        for (int r = 0; r < NI; r++)
            m += rows[r * H * W + f] / (double)NI;
        for (int r = 0; r < NI; r++)
            v += (rows[r * H * W + f] - m) * (rows[r * H * W + f] - m) / NI;
        CHECK_NEAR(0.0, m, 0, 1e-6);
        CHECK_NEAR(1.0, v, 1e-5, 0);
    }
    /* The same statistics applied to another data set give the same values. */
    nn_dataset *g = NULL;
    CHECK_OK(nn_dataset_from_idx(pathf("img"), pathf("lab"), 0, &g));
    CHECK_OK(nn_dataset_normalize_like(g, e));
    float rows2[NI * H * W];
    CHECK_OK(nn_dataset_rows(g, 0, NI, rows2));
    CHECK(memcmp(rows, rows2, sizeof rows) == 0);
    CHECK_INT(NN_NORM_STANDARDIZE, nn_dataset_norm(g).kind);
    nn_dataset_free(d);
    nn_dataset_free(e);
    nn_dataset_free(g);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Run alone (`test_idx fashion`, ctest test_idx_fashion): exit 77, which
 * ctest reports as skipped, without the dataset. */
static int test_fashion(void)
{
    const char *base = "/usr/share/datasets/fashion-mnist/";
    char ti[256], tl[256], si[256], sl[256];
    snprintf(ti, sizeof ti, "%strain-images-idx3-ubyte.gz", base);
    snprintf(tl, sizeof tl, "%strain-labels-idx1-ubyte.gz", base);
    snprintf(si, sizeof si, "%st10k-images-idx3-ubyte.gz", base);
    snprintf(sl, sizeof sl, "%st10k-labels-idx1-ubyte.gz", base);
    if (access(ti, R_OK) != 0) {
        printf("Fashion-MNIST not installed (dataset-fashion-mnist): skipped\n");
        return 77;
    }
    const double t0 = now();
    nn_dataset *train = NULL, *test = NULL;
    CHECK_OK(nn_dataset_from_idx(ti, tl, 10, &train));
    const double t1 = now();
    CHECK_OK(nn_dataset_from_idx(si, sl, 10, &test));
    if (!train || !test)
        return 0;
    printf("Fashion-MNIST: train loaded in %.3f s, test in %.3f s; inputs %.1f MB as bytes\n", t1 - t0,
           now() - t1, (double)(nn_dataset_size(train) * nn_dataset_features(train)) / 1e6);
    CHECK_INT(60000, nn_dataset_size(train));
    CHECK_INT(784, nn_dataset_features(train));
    CHECK_INT(10000, nn_dataset_size(test));
    int64_t count[10] = {0};
    for (int64_t i = 0; i < 60000; i++)
        count[(int)nn_tensor_cdata(nn_dataset_t(train))[i]]++;
    for (int c = 0; c < 10; c++)
        CHECK_INT(6000, count[c]);
    /* Stratified split: 10% per class into validation, the rest for training. */
    nn_dataset *tr = NULL, *va = NULL;
    CHECK_OK(nn_dataset_split(train, 0.1, 7, 1, &tr, &va));
    if (tr && va) {
        CHECK_INT(54000, nn_dataset_size(tr));
        CHECK_INT(6000, nn_dataset_size(va));
        CHECK_INT(1, nn_dataset_is_compact(va));
        int64_t vc[10] = {0};
        for (int64_t i = 0; i < 6000; i++)
            vc[(int)nn_tensor_cdata(nn_dataset_t(va))[i]]++;
        for (int c = 0; c < 10; c++)
            CHECK_INT(600, vc[c]);
    }
    nn_dataset_free(tr);
    nn_dataset_free(va);
    nn_dataset_free(train);
    nn_dataset_free(test);
    return 0;
}

static void test_split(void)
{
    /* 10 rows, classes 0 (7 rows) and 1 (3 rows). */
    float x[10], t[10];
    for (int i = 0; i < 10; i++) {
        x[i] = (float)i;
        t[i] = i % 3 == 0 && i > 0 ? 1.0f : 0.0f;
    }
    nn_tensor *X, *T;
    nn_dataset *d, *a = NULL, *b = NULL, *a2 = NULL, *b2 = NULL;
    nn_tensor_from(10, 1, x, &X);
    nn_tensor_from(10, 1, t, &T);
    CHECK_OK(nn_dataset_create(X, T, &d));
    CHECK_OK(nn_dataset_split(d, 0.3, 42, 0, &a, &b));
    CHECK_INT(7, nn_dataset_size(a));
    CHECK_INT(3, nn_dataset_size(b));
    CHECK_OK(nn_dataset_split(d, 0.3, 42, 0, &a2, &b2));
    CHECK(memcmp(nn_tensor_cdata(nn_dataset_x(b)), nn_tensor_cdata(nn_dataset_x(b2)), 3 * sizeof(float)) == 0);
    /* Source order kept, every row in exactly one part. */
    float seen = 0;
    for (int i = 0; i < 7; i++)
        seen += nn_tensor_cdata(nn_dataset_x(a))[i];
    for (int i = 0; i < 3; i++)
        seen += nn_tensor_cdata(nn_dataset_x(b))[i];
    CHECK_FLOAT_EQ(45.0f, seen);
    for (int i = 1; i < 7; i++)
        CHECK(nn_tensor_cdata(nn_dataset_x(a))[i] > nn_tensor_cdata(nn_dataset_x(a))[i - 1]);
    nn_dataset_free(a);
    nn_dataset_free(b);
    nn_dataset_free(a2);
    nn_dataset_free(b2);
    /* Stratified: round(0.3*7) = 2 of class 0 and round(0.3*3) = 1 of class 1. */
    CHECK_OK(nn_dataset_split(d, 0.3, 1, 1, &a, &b));
    int ones = 0;
    for (int i = 0; i < 3; i++)
        ones += nn_tensor_cdata(nn_dataset_t(b))[i] == 1.0f;
    CHECK_INT(3, nn_dataset_size(b));
    CHECK_INT(1, ones);
    nn_dataset_free(a);
    nn_dataset_free(b);
    CHECK_ERR(NN_EINVAL, "split: a fraction of 0.01 of 10 rows leaves 0 for validation and 10 for training; both need at least one",
              nn_dataset_split(d, 0.01, 1, 0, &a, &b));
    CHECK(a == NULL && b == NULL);
    CHECK_ERR(NN_EINVAL, "split: validation fraction must be in (0, 1), got 1", nn_dataset_split(d, 1.0, 1, 0, &a, &b));
    /* Float storage: scale is min-max per feature. */
    CHECK_OK(nn_dataset_normalize(d, NN_NORM_SCALE));
    CHECK_FLOAT_EQ(0.0f, nn_tensor_cdata(nn_dataset_x(d))[0]);
    CHECK_FLOAT_EQ(1.0f, nn_tensor_cdata(nn_dataset_x(d))[9]);
    nn_dataset_free(d);
    nn_tensor_free(X);
    nn_tensor_free(T);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "fashion") == 0) {
        const int skip = test_fashion();
        return skip ? skip : tu_finish();
    }
    snprintf(dir, sizeof dir, "%s/nnrun-idx-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    make_valid();
    write_file("img", images, nimages, 0);
    write_file("lab", labels, nlabels, 0);
    write_file("img.gz", images, nimages, 1);
    write_file("lab.gz", labels, nlabels, 1);
    check_valid("img", "lab");
    check_valid("img.gz", "lab.gz");
    check_valid("img.gz", "lab");
    check_images_alone();
    test_alloc_failures();
    test_normalise();
    test_malformed();
    test_split();
    const char *names[] = {"img", "lab", "img.gz", "lab.gz", "bad", "gz"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(pathf(names[i]));
    rmdir(dir);
    return tu_finish();
}
