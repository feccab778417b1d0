/* test_csv.c — the CSV loader on files written here: text, integer and
 * regression targets, quoting, CRLF, gzip, class numbering, every
 * malformed case with its exact message (row and column named), NUL bytes,
 * and memory bounded by the data, not the (inflated) text. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "io/io.h"
#include "testutil.h"

static char dir[256], path[512], msg[1024];

static const char *put(const char *text)
{
    snprintf(path, sizeof path, "%s/data.csv", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    return path;
}

static nn_dataset *load(const char *text, const nn_csv_options *o)
{
    nn_dataset *d = NULL;
    CHECK_OK(nn_dataset_from_csv(put(text), o, &d));
    return d;
}

static void expect(const char *text, const nn_csv_options *o, nn_status st, const char *fmt)
{
    nn_dataset *d = (nn_dataset *)1;
    put(text);
    snprintf(msg, sizeof msg, fmt, path);
    CHECK_ERR(st, msg, nn_dataset_from_csv(path, o, &d));
    CHECK(d == NULL);
}

static const char *iris =
    "sepal_length,sepal_width,petal_length,petal_width,species\n"
    "5.1,3.5,1.4,0.2,setosa\n"
    "7.0,3.2,4.7,1.4,versicolor\n"
    "\n"
    "6.3,3.3,6.0,2.5,virginica\r\n"
    " 4.9 , 3.0 ,1.4,0.2, \"setosa\"\n"
    "6.4,3.2,4.5,1.5,versicolor";

static void test_text_classes(void)
{
    nn_csv_options o = nn_csv_defaults();
    nn_dataset *d = load(iris, &o);
    if (!d)
        return;
    CHECK_INT(5, nn_dataset_size(d));
    CHECK_INT(4, nn_dataset_features(d));
    CHECK_INT(0, nn_dataset_is_compact(d));
    CHECK_INT(3, nn_dataset_class_count(d));
    CHECK_STR("setosa", nn_dataset_class_name(d, 0));
    CHECK_STR("versicolor", nn_dataset_class_name(d, 1));
    CHECK_STR("virginica", nn_dataset_class_name(d, 2));
    CHECK_STR(NULL, nn_dataset_class_name(d, 3));
    const float *t = nn_tensor_cdata(nn_dataset_t(d)), *x = nn_tensor_cdata(nn_dataset_x(d));
    const float et[5] = {0, 1, 2, 0, 1};
    for (int i = 0; i < 5; i++)
        CHECK_FLOAT_EQ(et[i], t[i]);
    CHECK_FLOAT_EQ(4.9f, x[12]);
    CHECK_FLOAT_EQ(3.0f, x[13]);
    CHECK_FLOAT_EQ(2.5f, x[11]);
    /* A split keeps the class names. */
    nn_dataset *a = NULL, *b = NULL;
    CHECK_OK(nn_dataset_split(d, 0.4, 3, 0, &a, &b));
    CHECK_STR("virginica", nn_dataset_class_name(b, 2));
    nn_dataset_free(a);
    nn_dataset_free(b);
    nn_dataset_free(d);

    /* First-seen order. */
    const char *rev = "a,label\n1,zebra\n2,ant\n3,zebra\n";
    o.first_seen_order = 1;
    d = load(rev, &o);
    CHECK_STR("zebra", nn_dataset_class_name(d, 0));
    CHECK_FLOAT_EQ(1.0f, nn_tensor_cdata(nn_dataset_t(d))[1]);
    nn_dataset_free(d);
    o.first_seen_order = 0;
    d = load(rev, &o);
    CHECK_STR("ant", nn_dataset_class_name(d, 0));
    CHECK_FLOAT_EQ(1.0f, nn_tensor_cdata(nn_dataset_t(d))[0]);
    nn_dataset_free(d);

    /* A fixed class list (a test file read with the training classes). */
    const char *names[] = {"zebra", "bee", "ant"};
    o.classes = names;
    o.n_classes = 3;
    d = load(rev, &o);
    CHECK_INT(3, nn_dataset_class_count(d));
    CHECK_FLOAT_EQ(2.0f, nn_tensor_cdata(nn_dataset_t(d))[1]);
    nn_dataset_free(d);
    expect("a,label\n1,zebra\n2,cat\n", &o, NN_EFORMAT, "%s:3: column 2 ('label'): unknown class 'cat'");
}

/* no_header: the first line is data (it was lost as a header row). */
static void test_no_header(void)
{
    nn_csv_options o = nn_csv_defaults();
    o.no_header = 1;
    o.target = NN_CSV_CLASS_INT;
    nn_dataset *d = load("1,2,0\n3,4,1\n\n5,6,1\n", &o);
    if (!d)
        return;
    CHECK_INT(3, nn_dataset_size(d));
    CHECK_INT(2, nn_dataset_features(d));
    const float *x = nn_tensor_cdata(nn_dataset_x(d)), *t = nn_tensor_cdata(nn_dataset_t(d));
    CHECK_FLOAT_EQ(1.0f, x[0]);
    CHECK_FLOAT_EQ(6.0f, x[5]);
    CHECK_FLOAT_EQ(0.0f, t[0]);
    CHECK_FLOAT_EQ(1.0f, t[2]);
    nn_dataset_free(d);
    d = load("7,8,2\n", &o); /* one line: one row */
    CHECK_INT(1, d ? nn_dataset_size(d) : -1);
    nn_dataset_free(d);
    expect("1,2,0\n1,x,1\n", &o, NN_EFORMAT, "%s:2: column 2 ('column 2'): 'x' is not a number");
    expect("1,2,0\n1,2\n", &o, NN_EFORMAT, "%s:2: expected 3 columns, found 2");
    o.label_column = "y";
    expect("1,2,0\n", &o, NN_EINVAL, "csv: a label column name needs a header row (give its index)");
}

/* no_label: every column is an input (a file to predict on), t zeros. */
static void test_no_label(void)
{
    nn_csv_options o = nn_csv_defaults();
    o.no_label = 1;
    o.label_column = "species"; /* ignored */
    nn_dataset *d = load("a,b,c\n1,2,3\n4,5,6\n", &o);
    if (d) {
        CHECK_INT(2, nn_dataset_size(d));
        CHECK_INT(3, nn_dataset_features(d));
        const float *x = nn_tensor_cdata(nn_dataset_x(d)), *t = nn_tensor_cdata(nn_dataset_t(d));
        CHECK_FLOAT_EQ(3.0f, x[2]);
        CHECK_FLOAT_EQ(6.0f, x[5]);
        CHECK_FLOAT_EQ(0.0f, t[0]);
        CHECK_FLOAT_EQ(0.0f, t[1]);
        CHECK_INT(0, nn_dataset_class_count(d));
    }
    nn_dataset_free(d);
    o.no_header = 1;
    d = load("7\n8\n", &o); /* one column: one feature */
    CHECK_INT(2, d ? nn_dataset_size(d) : -1);
    CHECK_INT(1, d ? nn_dataset_features(d) : -1);
    nn_dataset_free(d);
    expect("1,x\n", &o, NN_EFORMAT, "%s:1: column 2 ('column 2'): 'x' is not a number");
}

static void test_other_targets(void)
{
    nn_csv_options o = nn_csv_defaults();
    /* Label by name, not the last column; quoted header with a comma. */
    o.label_column = "y";
    o.target = NN_CSV_REGRESSION;
    nn_dataset *d = load("y,\"x, first\",x2\n1.5,2,3\n-2e-3,4,5\n", &o);
    CHECK_INT(2, nn_dataset_features(d));
    CHECK_FLOAT_EQ(-2e-3f, nn_tensor_cdata(nn_dataset_t(d))[1]);
    CHECK_FLOAT_EQ(4.0f, nn_tensor_cdata(nn_dataset_x(d))[2]);
    nn_dataset *a = NULL, *b = NULL; /* rows are counted from 1 */
    CHECK_ERR(NN_EINVAL, "split: stratify needs class labels, row 1 has target 1.5",
              nn_dataset_split(d, 0.5, 1, 1, &a, &b));
    nn_dataset_free(d);
    /* Integer classes by index, with a ';' delimiter and gzip. */
    o = nn_csv_defaults();
    o.label_index = 0;
    o.target = NN_CSV_CLASS_INT;
    o.delimiter = ';';
    snprintf(path, sizeof path, "%s/data.csv.gz", dir);
    gzFile g = gzopen(path, "wb");
    gzputs(g, "c;a;b\n3;1;2\n0;\"3\";4\n7.0;5;6\n");
    gzclose(g);
    d = NULL;
    CHECK_OK(nn_dataset_from_csv(path, &o, &d));
    if (d) {
        CHECK_INT(3, nn_dataset_size(d));
        CHECK_FLOAT_EQ(7.0f, nn_tensor_cdata(nn_dataset_t(d))[2]);
        CHECK_FLOAT_EQ(3.0f, nn_tensor_cdata(nn_dataset_x(d))[2]);
    }
    nn_dataset_free(d);
    unlink(path);
    expect("c;a\n3;1\n2.5;1\n", &o, NN_EFORMAT,
           "%s:3: column 1 ('c'): '2.5' is not a class index (an integer in [0, 65536))");
    expect("c;a\n-1;1\n", &o, NN_EFORMAT,
           "%s:2: column 1 ('c'): '-1' is not a class index (an integer in [0, 65536))");
}

static void test_malformed(void)
{
    nn_csv_options o = nn_csv_defaults();
    expect("a,b,petal_width,c\n1,2,3,x\n1,2,abc,y\n", &o, NN_EFORMAT,
           "%s:3: column 3 ('petal_width'): 'abc' is not a number");
    expect("a,b,c\n1,2,x\n\n1,2\n", &o, NN_EFORMAT, "%s:4: expected 3 columns, found 2");
    expect("a,b,c\n1,2,x\n1,2,3,x\n", &o, NN_EFORMAT, "%s:3: expected 3 columns, found 4");
    expect("a,b,c\n1,,x\n", &o, NN_EFORMAT, "%s:2: column 2 ('b'): '' is not a number");
    expect("a,b,c\n1,nan,x\n", &o, NN_EFORMAT, "%s:2: column 2 ('b'): 'nan' is not a number");
    expect("a,b,c\n1,1e39,x\n", &o, NN_EFORMAT, "%s:2: column 2 ('b'): '1e39' is not a number");
    expect("a,b,c\n1,2 3,x\n", &o, NN_EFORMAT, "%s:2: column 2 ('b'): '2 3' is not a number");
    expect("a,b,c\n1,2,\n", &o, NN_EFORMAT, "%s:2: column 3 ('c'): class name is empty");
    expect("a,b,c\n1,\"2,x\n", &o, NN_EFORMAT, "%s:2: column 2: unterminated quoted field");
    expect("a,b,c\n1,\"2\"x,y\n", &o, NN_EFORMAT, "%s:2: column 2: unexpected character 'x' after a quoted field");
    expect("", &o, NN_EFORMAT, "%s: empty file (no header row)");
    expect("\n\n", &o, NN_EFORMAT, "%s: empty file (no header row)");
    expect("a,b\n", &o, NN_EFORMAT, "%s: no data rows after the header");
    expect("a\n1\n", &o, NN_EFORMAT, "%s:1: the header has 1 column; needs a label and at least one feature");
    char longv[200];
    memset(longv, '9', sizeof longv);
    memcpy(longv, "a,b\n1x", 6);
    strcpy(longv + 150, ",q\n");
    expect(longv, &o, NN_EFORMAT,
           "%s:2: column 1 ('a'): '1x99999999999999999999999999999999999...' is not a number");
    o.label_column = "species";
    expect("a,b\n1,2\n", &o, NN_EINVAL, "%s: no column named 'species' (the header has 2 columns, the first 'a')");
    o.label_column = NULL;
    o.label_index = 5;
    expect("a,b\n1,2\n", &o, NN_EINVAL, "%s: label column 6 is out of range (the file has 2 columns)");
    o.label_index = -1;
    snprintf(path, sizeof path, "%s/none.csv", dir);
    snprintf(msg, sizeof msg, "%s: cannot open: No such file or directory", path);
    nn_dataset *d = NULL;
    CHECK_ERR(NN_EIO, msg, nn_dataset_from_csv(path, &o, &d));
}

/* The file holds text[0..n), NUL bytes included; gzip-compressed if gz. */
static const char *put_bytes(const char *text, size_t n, int gz)
{
    snprintf(path, sizeof path, "%s/data.csv%s", dir, gz ? ".gz" : "");
    if (gz) {
        gzFile g = gzopen(path, "wb");
        if (!g || gzwrite(g, text, (unsigned)n) != (int)n || gzclose(g) != Z_OK) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(2);
        }
        return path;
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, n, f) != n || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    return path;
}

/* A NUL byte is refused where it is (C strings would cut the field at it:
 * "2\0 9999" read as 2, class "x\0evil" merged with "x"). */
static void test_nul(void)
{
    static const struct {
        const char *text;
        size_t n;
        const char *where;
    } cases[] = {
        {"a,b\n2\0 9999,x\n", 14, "2:2"},
        {"a,b\n1,x\n2,x\0evil\n", 17, "3:4"},
        {"a,b\n1,\"x\0\"\n", 11, "2:5"},
        {"a\0,b\n1,x\n", 9, "1:2"},
        {"a,b\n1,\xC3\xA9\0\n", 10, "2:4"}, /* é is one column */
        {"a,b\n1,x\n \0\n", 11, "3:2"},
        {"a,b\n1,x\n\0", 9, "3:1"},
        {"\xFF\xFE" "a\0,\0b\0\n\0", 10, "1:4"}, /* UTF-16 */
    };
    nn_csv_options o = nn_csv_defaults();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int gz = 0; gz < 2; gz++) {
            put_bytes(cases[i].text, cases[i].n, gz);
            snprintf(msg, sizeof msg, "%s:%s: NUL byte (a CSV file is text; UTF-16 must be converted to UTF-8)",
                     path, cases[i].where);
            nn_dataset *d = (nn_dataset *)1;
            CHECK_ERR(NN_EFORMAT, msg, nn_dataset_from_csv(path, &o, &d));
            CHECK(d == NULL);
            unlink(path);
        }
    }
}

/* ---- an allocator that knows the peak of bytes in use ------------------ */
static size_t peak_now, peak_max;
static void *peak_alloc(size_t size, void *user)
{
    (void)user;
    size_t *p = malloc(size + sizeof(size_t) * 2);
    if (!p)
        return NULL;
    p[0] = size;
    peak_now += size;
    if (peak_now > peak_max)
        peak_max = peak_now;
    return p + 2;
}
static void peak_release(void *q, void *user)
{
    (void)user;
    if (!q)
        return;
    size_t *p = (size_t *)q - 2;
    peak_now -= p[0];
    free(p);
}

/* Peak bytes the library allocates while reading path with integer
 * classes (the data set freed). */
static size_t peak_of(const char *file, int64_t rows, int64_t features)
{
    static const nn_allocator a = {peak_alloc, peak_release, NULL};
    peak_now = peak_max = 0;
    nn_set_allocator(&a);
    nn_csv_options o = nn_csv_defaults();
    o.target = NN_CSV_CLASS_INT;
    nn_dataset *d = NULL;
    CHECK_OK(nn_dataset_from_csv(file, &o, &d));
    if (d) {
        CHECK_INT(rows, nn_dataset_size(d));
        CHECK_INT(features, nn_dataset_features(d));
    }
    nn_dataset_free(d);
    nn_set_allocator(NULL);
    CHECK_INT(0, peak_now);
    return peak_max;
}

/* Memory follows the parsed data, not the text: a gzip file of 2 rows that
 * inflates to 16 MiB (blank lines, long padding) once cost 16 MiB or more;
 * a file of 100,000 rows costs its values and not its text as well. */
static void test_memory(void)
{
    const size_t pad = (size_t)16 << 20;
    char *text = malloc(pad + 64);
    if (!text) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    size_t n = (size_t)sprintf(text, "a,b,label\n1,2,0\n");
    memset(text + n, '\n', pad / 2);
    memset(text + n + pad / 2, ' ', pad / 2); /* one line of blanks */
    n += pad;
    n += (size_t)sprintf(text + n, "\n3,  4 ,1\n");
    put_bytes(text, n, 1);
    const size_t gzpeak = peak_of(path, 2, 2);
    CHECK_MSG(gzpeak < ((size_t)1 << 20), "a gzip file of 2 rows and 16 MiB of text took %zu bytes at its peak",
              gzpeak);
    unlink(path);

    /* 100,000 rows of 3 values, 8 bytes of text each: 1.2 MB of values. */
    n = (size_t)sprintf(text, "a,b,label\n");
    for (int r = 0; r < 100000; r++)
        n += (size_t)sprintf(text + n, "%d.5,%d,%d\n", r % 10, r % 7, r % 3);
    put_bytes(text, n, 0);
    const size_t values = 100000 * 3 * sizeof(float);
    const size_t plain = peak_of(path, 100000, 2);
    CHECK_MSG(plain < values + ((size_t)1 << 18),
              "100,000 rows (%zu bytes of values, %zu of text) took %zu bytes at the peak", values, n, plain);
    free(text);
    unlink(path);
}

/* The bounds, lowered through the test hook: values (rows x columns) and
 * inflated text.  Both refuse before the data is allocated. */
static void test_limits(void)
{
    nn_csv_options o = nn_csv_defaults();
    nn_csv_limits(0, 12);
    expect("a,b,c\n1,2,x\n3,4,y\n\n5,6,z\n7,8,x\n9,9,y\n", &o, NN_EFORMAT,
           "%s:7: more than 12 values (rows x columns), the limit of a CSV data set (48 bytes of float32)");
    nn_dataset *d = load("a,b,c\n1,2,x\n3,4,y\n5,6,z\n", &o); /* exactly 12 */
    CHECK(d && nn_dataset_size(d) == 3);
    nn_dataset_free(d);
    nn_csv_limits(100, 0);
    char text[300];
    memset(text, '\n', sizeof text);
    memcpy(text, "a,b\n1,x\n", 8);
    put_bytes(text, sizeof text, 1);
    snprintf(msg, sizeof msg, "%s: larger than the limit of 100 bytes of text (after decompression)", path);
    d = (nn_dataset *)1;
    CHECK_ERR(NN_EFORMAT, msg, nn_dataset_from_csv(path, &o, &d));
    CHECK(d == NULL);
    unlink(path);
    nn_csv_limits(0, 0);
    put_bytes(text, sizeof text, 1);
    CHECK_OK(nn_dataset_from_csv(path, &o, &d));
    nn_dataset_free(d);
    unlink(path);
}

/* A pipe cannot be read twice: a clear error, not a crash or a half read.
 * The writer is a child process; the FIFO's open and EOF synchronise. */
static void test_pipe(void)
{
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/pipe.csv", dir);
    if (mkfifo(fifo, 0600) != 0) {
        perror("mkfifo");
        exit(2);
    }
    const pid_t pid = fork();
    if (pid == 0) {
        FILE *w = fopen(fifo, "w");
        if (w) {
            fputs("a,b\n1,x\n", w);
            fclose(w);
        }
        _exit(0);
    }
    nn_csv_options o = nn_csv_defaults();
    nn_dataset *d = (nn_dataset *)1;
    snprintf(msg, sizeof msg, "%s: cannot read the file a second time (Illegal seek); a pipe cannot be read as CSV data",
             fifo);
    CHECK_ERR(NN_EIO, msg, nn_dataset_from_csv(fifo, &o, &d));
    CHECK(d == NULL);
    int st = 0;
    waitpid(pid, &st, 0);
    unlink(fifo);
}

static void test_alloc_failures(void)
{
    put(iris);
    nn_csv_options o = nn_csv_defaults();
    for (long k = 1;; k++) {
        tu_alloc_install(k);
        nn_dataset *d = NULL;
        const nn_status st = nn_dataset_from_csv(path, &o, &d);
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

/* Random bytes never crash the reader (run under the sanitizers too). */
static void test_garbage(void)
{
    tu_seed(11);
    const char alphabet[] = "0123456789.,-e\"\n\r ab";
    char buf[300];
    for (int it = 0; it < 600; it++) {
        const int n = (int)tu_uniform(0, 299);
        for (int i = 0; i < n; i++)
            buf[i] = alphabet[(int)tu_uniform(0, sizeof alphabet - 1)];
        buf[n] = 0;
        nn_dataset *d = NULL;
        nn_csv_options o = nn_csv_defaults();
        o.target = it % 2 ? NN_CSV_CLASS_TEXT : NN_CSV_REGRESSION;
        const nn_status st = nn_dataset_from_csv(put(buf), &o, &d);
        CHECK(st == NN_OK || st == NN_EFORMAT || st == NN_EINVAL);
        CHECK((st == NN_OK) == (d != NULL));
        nn_dataset_free(d);
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/nnrun-csv-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_text_classes();
    test_other_targets();
    test_no_header();
    test_no_label();
    test_malformed();
    test_nul();
    test_memory();
    test_limits();
    test_pipe();
    test_alloc_failures();
    test_garbage();
    snprintf(path, sizeof path, "%s/data.csv", dir);
    unlink(path);
    rmdir(dir);
    return tu_finish();
}
