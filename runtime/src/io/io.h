/* io.h — private declarations shared by the data-set code (dataset.c,
 * the io/ files), the trainer's batch gather (train.c), metrics.c and the
 * checkpoint writer.  Nothing here is exported. */
#ifndef NN_IO_H
#define NN_IO_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* A data set: n rows of `features` inputs and t (n, k) float targets.
 * Inputs are stored either as floats (x) or compactly as bytes (xu8, x ==
 * NULL); bytes are converted to floats only when a batch is gathered.
 * Normalisation (norm != NONE) is per feature, x' = (x - shift[f]) / div[f]:
 * applied in place to float storage, on the fly in the gather for bytes. */
struct nn_dataset {
    nn_tensor *x, *t;
    uint8_t *xu8;
    int64_t n, features;
    nn_norm_kind norm;
    float *shift, *div;  /* features values each, NULL while norm == NONE */
    char **classes;      /* class names (CSV text labels), may be NULL    */
    int64_t nclasses;
};

/* Makes an empty data set of n rows, `features` inputs and tcols target
 * columns, zero-filled.  compact 0: float inputs; 1: byte inputs; 2: byte
 * inputs that the caller provides (d->xu8 is left NULL for it to set). */
nn_status nn_dataset_alloc(int64_t n, int64_t features, int compact, int64_t tcols, nn_dataset **out);

/* Float inputs of d (n, features), or NULL when d stores bytes. */
const float *nn_dataset_xf(const nn_dataset *d);

/* Writes n input rows as floats (normalised) into out (n, features): rows
 * idx[0..n) or, when idx is NULL, rows start..start+n.  Indices must be in
 * range (callers own them).  For float storage this is a plain copy, so a
 * batch is bitwise the same whether gathered or read in place. */
void nn_dataset_gather_x(const nn_dataset *d, const int64_t *idx, int64_t start, int64_t n,
                         float *out);

/* Class of target row r: the label in a one-column target, else the argmax
 * of the row (one-hot). */
int64_t nn_dataset_class_of(const nn_dataset *d, int64_t r);

/* ---- file I/O with injectable failures (tests) ----------------------------
 * Every write(), fsync(), close() and rename() the checkpoint writer makes
 * goes through nn_io_*.  nn_io_fail_at(k, err) makes the k-th such call from
 * now (1-based) fail with errno err (0 disables); nn_io_calls() counts calls
 * since the last nn_io_fail_at.  Process-wide, not thread-safe: tests only. */
void nn_io_fail_at(long k, int err);
long nn_io_calls(void);

/* ---- reading data files, plain or gzip-compressed (io/file.c) ----------
 * Streams through zlib, which reads plain files transparently.  Errors name
 * the path: NN_EIO for system errors, NN_EFORMAT for a corrupt gzip stream. */
typedef struct nn_rfile nn_rfile;
nn_status nn_rfile_open(const char *path, nn_rfile **out);
void nn_rfile_close(nn_rfile *f);
/* Reads up to n bytes into buf; *got < n only at the end of the data. */
nn_status nn_rfile_read(nn_rfile *f, void *buf, int64_t n, int64_t *got);
/* Reads up to max bytes into a new buffer (nn_xfree) that grows with the
 * data actually present, so a file that declares more than it holds costs
 * no more memory than it holds (twice at most).  *got < max only at the end
 * of the data. */
nn_status nn_rfile_read_all(nn_rfile *f, int64_t max, uint8_t **buf, int64_t *got);
/* 1 if the file has no more data (reads one byte to find out). */
nn_status nn_rfile_at_end(nn_rfile *f, int *at_end);
/* Back to the first byte, to read the data again (NN_EIO for a pipe). */
nn_status nn_rfile_rewind(nn_rfile *f);

/* Test hook: the CSV reader's limits, bytes of text (after decompression)
 * and values (rows x columns); 0 restores the default.  Process-wide, not
 * thread-safe: tests only. */
void nn_csv_limits(int64_t bytes, int64_t values);

/* Formats "what: strerror(err)" safely into buf (thread-safe strerror). */
void nn_errno_text(int err, char *buf, size_t size);

#endif
