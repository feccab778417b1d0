/* csv.c — CSV data files: a header row, numeric feature columns and one
 * label column (a number for regression, an integer class, or a text class).
 *
 * The file (plain or gzip) is streamed twice through a small buffer: the
 * first pass checks the shape of every record and counts them, the second
 * converts the values into a data set of exactly that size.  Memory is the
 * data set plus the header's names, whatever the size of the text (a gzip
 * file that inflates to gigabytes of text costs no more than its values),
 * and the values are bounded before anything is allocated for them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

#define CSV_MAX_BYTES ((int64_t)1 << 32)  /* of text, after decompression  */
#define CSV_MAX_VALUES ((int64_t)1 << 29) /* rows x columns: 2 GiB of float */
#define CSV_MAX_COLUMNS ((int64_t)1 << 24)
#define CSV_MAX_ROWS ((int64_t)INT32_MAX)
#define CSV_MAX_CLASSES 65536
#define FIELD_MAX 512 /* longest value shown or converted (a number, a class) */
#define SHOWN_MAX 40  /* longest value in a message                          */
#define CHUNK ((int64_t)1 << 16)

static int64_t max_bytes = CSV_MAX_BYTES, max_values = CSV_MAX_VALUES;

void nn_csv_limits(int64_t bytes, int64_t values)
{
    max_bytes = bytes > 0 ? bytes : CSV_MAX_BYTES;
    max_values = values > 0 ? values : CSV_MAX_VALUES;
}

nn_csv_options nn_csv_defaults(void)
{
    nn_csv_options o;
    memset(&o, 0, sizeof o);
    o.label_index = -1;
    o.target = NN_CSV_CLASS_TEXT;
    o.delimiter = ',';
    return o;
}

/* ---- the byte stream: line and column of every byte, NUL refused ------- */

typedef struct scanner {
    nn_rfile *f;
    const char *path;
    uint8_t *buf;     /* CHUNK bytes                                 */
    int64_t len, pos; /* buf[pos..len) not yet consumed              */
    int64_t total;    /* bytes read from the file so far             */
    int eof;
    int64_t line, col; /* of the next byte, 1-based; col in characters */
    int delim; /* a byte value, 0..255 */
    nn_status err; /* sticky: set once, every read then ends the data */
} scanner;

/* Makes at least k + 1 bytes available at buf[pos] unless the data ends
 * first; 0 if it does (or on an error, then sc->err is set). */
static int fill(scanner *sc, int64_t k)
{
    while (sc->len - sc->pos <= k) {
        if (sc->eof || sc->err)
            return 0;
        const int64_t keep = sc->len - sc->pos;
        memmove(sc->buf, sc->buf + sc->pos, (size_t)keep);
        sc->pos = 0;
        sc->len = keep;
        int64_t got = 0;
        if ((sc->err = nn_rfile_read(sc->f, sc->buf + keep, CHUNK - keep, &got)))
            return 0;
        sc->len += got;
        sc->total += got;
        sc->eof = got < CHUNK - keep;
        if (sc->total > max_bytes) {
            sc->err = nn_fail(NN_EFORMAT, "%s: larger than the limit of %lld bytes of text (after decompression)",
                              sc->path, (long long)max_bytes);
            return 0;
        }
    }
    return 1;
}

/* The byte k places ahead (k = 0 or 1), or -1 at the end of the data. */
static inline int peek(scanner *sc, int64_t k)
{
    if (sc->len - sc->pos > k || fill(sc, k))
        return sc->buf[sc->pos + k];
    return -1;
}

/* Consumes the next byte (there is one: peek said so).  A NUL byte is
 * refused here, where its position is known: C strings would cut the
 * field at it ("2\0 9999" would read as 2). */
static inline int take(scanner *sc)
{
    const int c = sc->buf[sc->pos];
    if (c == 0) {
        sc->err = nn_fail(NN_EFORMAT, "%s:%lld:%lld: NUL byte (a CSV file is text; UTF-16 must be converted to UTF-8)",
                          sc->path, (long long)sc->line, (long long)sc->col);
        return -1;
    }
    sc->pos++;
    if (c == '\n') {
        sc->line++;
        sc->col = 1;
    } else if ((c & 0xC0) != 0x80) { /* not a UTF-8 continuation byte */
        sc->col++;
    }
    return c;
}

static nn_status scan_open(scanner *sc)
{
    sc->pos = sc->len = sc->total = 0;
    sc->eof = 0;
    sc->line = sc->col = 1;
    sc->err = NN_OK;
    /* A UTF-8 byte order mark is not part of the first column's name. */
    if (peek(sc, 0) == 0xEF && fill(sc, 2) && memcmp(sc->buf + sc->pos, "\xEF\xBB\xBF", 3) == 0)
        sc->pos += 3;
    return sc->err;
}

/* ---- records and fields ------------------------------------------------- */

typedef struct field {
    char text[FIELD_MAX]; /* unescaped, NUL-terminated: the first FIELD_MAX - 1 bytes */
    int fits;             /* the whole value is in text                             */
} field;

static int is_blank(const scanner *sc, int c) { return (c == ' ' || c == '\t') && c != sc->delim; }

/* Starts the next record: skips empty lines (also lines of blanks only);
 * *line = its first line; *have = 0 at the end of the file. */
static nn_status record_start(scanner *sc, int64_t *line, int *have)
{
    *have = 0;
    for (;;) {
        int c;
        while (is_blank(sc, c = peek(sc, 0)))
            take(sc);
        if (c == '\r' && peek(sc, 1) == '\n') {
            take(sc);
            c = '\n';
        }
        if (c == '\n') {
            take(sc);
            continue;
        }
        if (c < 0)
            return sc->err;
        break;
    }
    *line = sc->line;
    *have = 1;
    return NN_OK;
}

static void put(field *f, int64_t *n, int c)
{
    if (*n < FIELD_MAX - 1)
        f->text[*n] = (char)c;
    (*n)++;
}

static void finish(field *f, int64_t n)
{
    f->fits = n <= FIELD_MAX - 1;
    f->text[f->fits ? n : FIELD_MAX - 1] = 0;
}

/* Reads field number index (1-based) of the record that began on `line`
 * into f; *more = 1 if a delimiter follows (another field), 0 at the end of
 * the record. */
static nn_status next_field(scanner *sc, int64_t line, int64_t index, field *f, int *more)
{
    *more = 0;
    int c;
    while (is_blank(sc, c = peek(sc, 0)))
        take(sc);
    int64_t n = 0;
    if (c == '"') {
        take(sc);
        for (;;) {
            if ((c = peek(sc, 0)) < 0)
                return sc->err ? sc->err
                               : nn_fail(NN_EFORMAT, "%s:%lld: column %lld: unterminated quoted field", sc->path,
                                         (long long)line, (long long)index);
            if (take(sc) < 0)
                return sc->err;
            if (c == '"') {
                if (peek(sc, 0) != '"')
                    break;
                take(sc); /* "" inside quotes is one quote */
            }
            put(f, &n, c);
        }
        finish(f, n);
        while (is_blank(sc, c = peek(sc, 0)))
            take(sc);
        if (c == '\r' && peek(sc, 1) == '\n') {
            take(sc);
            c = '\n';
        }
        if (c >= 0 && c != sc->delim && c != '\n')
            return sc->err ? sc->err
                           : nn_fail(NN_EFORMAT, "%s:%lld: column %lld: unexpected character '%c' after a quoted field",
                                     sc->path, (long long)sc->line, (long long)index,
                                     c >= 32 && c < 127 ? c : '?');
    } else {
        /* Blanks and CRs at the end are not part of the value. */
        int64_t keep = 0;
        while ((c = peek(sc, 0)) >= 0 && c != sc->delim && c != '\n') {
            if (take(sc) < 0)
                return sc->err;
            put(f, &n, c);
            if (!is_blank(sc, c) && c != '\r')
                keep = n;
        }
        finish(f, keep);
    }
    if (c < 0)
        return sc->err;
    take(sc); /* the delimiter or the line end */
    *more = c == sc->delim;
    return NN_OK;
}

/* Reads the rest of a record; *count = its number of fields (the first
 * `have` already read); f receives each. */
static nn_status skip_record(scanner *sc, int64_t line, int64_t have, field *f, int64_t *count)
{
    int more = 1;
    *count = have;
    while (more) {
        if (*count == CSV_MAX_COLUMNS)
            return nn_fail(NN_EFORMAT, "%s:%lld: more than %lld columns", sc->path, (long long)line,
                           (long long)CSV_MAX_COLUMNS);
        nn_status s = next_field(sc, line, *count + 1, f, &more);
        if (s)
            return s;
        (*count)++;
    }
    return NN_OK;
}

/* A value for messages: at most SHOWN_MAX characters. */
static const char *shown(char *text)
{
    if (strlen(text) > SHOWN_MAX)
        strcpy(text + SHOWN_MAX - 3, "...");
    return text;
}

static int parse_number(const char *text, double *v)
{
    if (!*text)
        return 0;
    char *end;
    *v = strtod(text, &end);
    return *end == 0 && isfinite(*v);
}

/* Open-addressing table of class names: slots hold index + 1 (0 = empty). */
typedef struct classes {
    char **names;
    int64_t n;
    int32_t *slots;
    uint32_t mask;
} classes;

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static int64_t class_find(const classes *c, const char *name, uint32_t *slot)
{
    uint32_t i = hash_str(name) & c->mask;
    while (c->slots[i]) {
        if (strcmp(c->names[c->slots[i] - 1], name) == 0)
            return c->slots[i] - 1;
        i = (i + 1) & c->mask;
    }
    *slot = i;
    return -1;
}

static nn_status class_add(classes *c, const char *name, uint32_t slot)
{
    const size_t len = strlen(name) + 1;
    char *p = nn_xalloc(len);
    if (!p)
        return nn_oom("csv");
    memcpy(p, name, len);
    c->names[c->n] = p;
    c->slots[slot] = (int32_t)(++c->n);
    return NN_OK;
}

static void classes_free(classes *c)
{
    for (int64_t i = 0; i < c->n; i++)
        nn_xfree(c->names[i]);
    nn_xfree(c->names);
    nn_xfree(c->slots);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

/* Pass 1: the header (names as shown in messages, at most SHOWN_MAX
 * characters each, and the label column) and the shape of every record. */
static nn_status pass1(scanner *sc, const nn_csv_options *opt, field *f, char ***header_out,
                       int64_t *ncols_out, int64_t *label_out, int64_t *rows_out)
{
    const char *path = sc->path;
    char **header = NULL;
    int64_t ncols = 0, cap = 0, label = -1, rows = 0, line = 0;
    int have, more = 1;
    nn_status s;
    if ((s = record_start(sc, &line, &have)))
        goto done;
    if (!have) {
        s = nn_fail(NN_EFORMAT, "%s: empty file (no header row)", path);
        goto done;
    }
    while (more) {
        if (ncols == CSV_MAX_COLUMNS) {
            s = nn_fail(NN_EFORMAT, "%s:%lld: more than %lld columns", path, (long long)line,
                        (long long)CSV_MAX_COLUMNS);
            goto done;
        }
        if ((s = next_field(sc, line, ncols + 1, f, &more)))
            goto done;
        if (ncols == cap) {
            const int64_t ncap = cap ? 2 * cap : 64;
            char **nh = nn_xcalloc((size_t)ncap, sizeof *nh);
            if (!nh) {
                s = nn_oom(path);
                goto done;
            }
            if (ncols)
                memcpy(nh, header, (size_t)ncols * sizeof *nh);
            nn_xfree(header);
            header = nh;
            cap = ncap;
        }
        if (label < 0 && opt->label_column && f->fits && strcmp(f->text, opt->label_column) == 0)
            label = ncols;
        /* Without a header row, columns are named by number in messages. */
        char num[32];
        char *name = f->text;
        if (opt->no_header) {
            snprintf(num, sizeof num, "column %lld", (long long)ncols + 1);
            name = num;
        }
        const size_t len = strlen(shown(name)) + 1;
        if (!(header[ncols] = nn_xalloc(len))) {
            s = nn_oom(path);
            goto done;
        }
        memcpy(header[ncols++], name, len);
    }
    if (opt->no_header)
        rows = 1; /* the first record is data */
    if (ncols < 2 - !!opt->no_label) {
        s = nn_fail(NN_EFORMAT, "%s:%lld: the header has %lld column; needs a label and at least one feature",
                    path, (long long)line, (long long)ncols);
        goto done;
    }
    if (opt->no_label) {
        label = -1; /* every column is a feature */
    } else if (opt->label_column) {
        if (label < 0) {
            s = nn_fail(NN_EINVAL, "%s: no column named '%s' (the header has %lld columns, the first '%s')",
                        path, opt->label_column, (long long)ncols, header[0]);
            goto done;
        }
    } else {
        label = opt->label_index == -1 ? ncols - 1 : opt->label_index;
        if (label < 0 || label >= ncols) {
            /* Columns are counted from 1 in messages, as in the others. */
            s = nn_fail(NN_EINVAL, "%s: label column %lld is out of range (the file has %lld columns)",
                        path, (long long)opt->label_index + 1, (long long)ncols);
            goto done;
        }
    }
    for (;;) {
        if ((s = record_start(sc, &line, &have)))
            goto done;
        if (!have)
            break;
        int64_t n;
        if ((s = skip_record(sc, line, 0, f, &n)))
            goto done;
        if (n != ncols) {
            s = nn_fail(NN_EFORMAT, "%s:%lld: expected %lld columns, found %lld", path, (long long)line,
                        (long long)ncols, (long long)n);
            goto done;
        }
        if (++rows > CSV_MAX_ROWS) {
            s = nn_fail(NN_EFORMAT, "%s: more than %lld rows", path, (long long)CSV_MAX_ROWS);
            goto done;
        }
        /* rows * ncols <= max_values < 2^63 before this row: no overflow. */
        if (rows * ncols > max_values) {
            const int64_t b = max_values * (int64_t)sizeof(float);
            const int sh = b % ((int64_t)1 << 30) == 0 ? 30 : b % ((int64_t)1 << 20) == 0 ? 20 : 0;
            s = nn_fail(NN_EFORMAT, "%s:%lld: more than %lld values (rows x columns), the limit of a CSV data set (%lld %s of float32)",
                        path, (long long)line, (long long)max_values, (long long)(b >> sh),
                        sh == 30 ? "GiB" : sh == 20 ? "MiB" : "bytes");
            goto done;
        }
    }
    if (rows == 0)
        s = nn_fail(NN_EFORMAT, "%s: no data rows after the header", path);
done:
    *header_out = header;
    *ncols_out = ncols;
    *label_out = label;
    *rows_out = rows;
    return s;
}

nn_status nn_dataset_from_csv(const char *path, const nn_csv_options *opt_in, nn_dataset **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "csv: out is NULL");
    *out = NULL;
    if (!path)
        return nn_fail(NN_EINVAL, "csv: file name is NULL");
    const nn_csv_options opt = opt_in ? *opt_in : nn_csv_defaults();
    const char delim = opt.delimiter ? opt.delimiter : ',';
    if (delim == '"' || delim == '\n' || delim == '\r' || delim == ' ')
        return nn_fail(NN_EINVAL, "csv: the delimiter cannot be a quote, a space or a line end");
    if (opt.target != NN_CSV_REGRESSION && opt.target != NN_CSV_CLASS_INT && opt.target != NN_CSV_CLASS_TEXT)
        return nn_fail(NN_EINVAL, "csv: unknown target kind %d", (int)opt.target);
    if (opt.no_header && opt.label_column && !opt.no_label)
        return nn_fail(NN_EINVAL, "csv: a label column name needs a header row (give its index)");
    if (opt.n_classes < 0 || opt.n_classes > CSV_MAX_CLASSES || (opt.n_classes > 0 && !opt.classes))
        return nn_fail(NN_EINVAL, "csv: bad class list (%lld names)", (long long)opt.n_classes);

    scanner sc;
    memset(&sc, 0, sizeof sc);
    sc.path = path;
    sc.delim = (unsigned char)delim;
    char **header = NULL;
    int64_t ncols = 0, label = -1, rows = 0, line = 0;
    classes cl = {NULL, 0, NULL, 0};
    nn_dataset *d = NULL;
    field *f = NULL;
    int have, more;
    nn_status s = nn_rfile_open(path, &sc.f);
    if (s)
        return s;
    sc.buf = nn_xalloc((size_t)CHUNK);
    f = nn_xalloc(sizeof *f);
    if (!sc.buf || !f) {
        s = nn_oom(path);
        goto done;
    }
    if ((s = scan_open(&sc)) || (s = pass1(&sc, &opt, f, &header, &ncols, &label, &rows)))
        goto done;

    if (opt.target == NN_CSV_CLASS_TEXT) {
        /* At most min(rows + listed names, limit) classes; the table keeps
         * at least half its slots free. */
        const int64_t most = rows + opt.n_classes < CSV_MAX_CLASSES ? rows + opt.n_classes : CSV_MAX_CLASSES;
        uint32_t slots = 16;
        while ((int64_t)slots < 2 * most)
            slots *= 2;
        cl.names = nn_xcalloc((size_t)most, sizeof(char *));
        cl.slots = nn_xcalloc(slots, sizeof(int32_t));
        cl.mask = slots - 1;
        if (!cl.names || !cl.slots) {
            s = nn_oom(path);
            goto done;
        }
        for (int64_t i = 0; i < opt.n_classes; i++) {
            uint32_t slot = 0;
            if (!opt.classes[i] || class_find(&cl, opt.classes[i], &slot) >= 0) {
                s = nn_fail(NN_EINVAL, "csv: class list entry %lld is NULL or repeated", (long long)i);
                goto done;
            }
            if ((s = class_add(&cl, opt.classes[i], slot)))
                goto done;
        }
    }

    /* Pass 2: the values, from the start again.  The file may have changed
     * in between: every record is checked against pass 1's shape again. */
    const int64_t F = ncols - (label >= 0);
    if ((s = nn_dataset_alloc(rows, F, 0, 1, &d)))
        goto done;
    if (label < 0)
        memset(nn_tensor_data(d->t), 0, (size_t)rows * sizeof(float));
    if ((s = nn_rfile_rewind(sc.f)) || (s = scan_open(&sc)) || (s = record_start(&sc, &line, &have)))
        goto done;
    int64_t n = opt.no_header ? ncols : 0; /* the header's columns, checked again */
    if (!have || (!opt.no_header && (s = skip_record(&sc, line, 0, f, &n))))
        goto changed;
    float *X = nn_tensor_data(d->x), *T = nn_tensor_data(d->t);
    for (int64_t r = 0; r < rows; r++) {
        if ((s = record_start(&sc, &line, &have)))
            goto done;
        if (!have)
            goto changed;
        more = 1;
        for (int64_t c = 0, fo = 0; c < ncols; c++) {
            if (!more)
                goto changed;
            if ((s = next_field(&sc, line, c + 1, f, &more)))
                goto done;
            char *text = f->text;
            const int fits = f->fits;
            double v;
            if (c != label) {
                if (!fits || !parse_number(text, &v) || !isfinite((float)v)) {
                    s = nn_fail(NN_EFORMAT, "%s:%lld: column %lld ('%s'): '%s' is not a number", path,
                                (long long)line, (long long)c + 1, header[c], shown(text));
                    goto done;
                }
                X[r * F + fo++] = (float)v;
                continue;
            }
            if (opt.target == NN_CSV_REGRESSION) {
                if (!fits || !parse_number(text, &v) || !isfinite((float)v)) {
                    s = nn_fail(NN_EFORMAT, "%s:%lld: column %lld ('%s'): '%s' is not a number", path,
                                (long long)line, (long long)c + 1, header[c], shown(text));
                    goto done;
                }
                T[r] = (float)v;
            } else if (opt.target == NN_CSV_CLASS_INT) {
                if (!fits || !parse_number(text, &v) || v != floor(v) || v < 0 || v >= CSV_MAX_CLASSES) {
                    s = nn_fail(NN_EFORMAT, "%s:%lld: column %lld ('%s'): '%s' is not a class index (an integer in [0, %d))",
                                path, (long long)line, (long long)c + 1, header[c], shown(text), CSV_MAX_CLASSES);
                    goto done;
                }
                T[r] = (float)v;
            } else {
                uint32_t slot = 0;
                int64_t k = fits ? class_find(&cl, text, &slot) : -1;
                if (k < 0 && (!fits || !*text)) {
                    s = nn_fail(NN_EFORMAT, "%s:%lld: column %lld ('%s'): class name %s", path, (long long)line,
                                (long long)c + 1, header[c], fits ? "is empty" : "is too long");
                    goto done;
                }
                if (k < 0 && opt.n_classes > 0) {
                    s = nn_fail(NN_EFORMAT, "%s:%lld: column %lld ('%s'): unknown class '%s'", path,
                                (long long)line, (long long)c + 1, header[c], shown(text));
                    goto done;
                }
                if (k < 0) {
                    if (cl.n == CSV_MAX_CLASSES) {
                        s = nn_fail(NN_EFORMAT, "%s:%lld: more than %d distinct classes", path, (long long)line,
                                    CSV_MAX_CLASSES);
                        goto done;
                    }
                    k = cl.n;
                    if ((s = class_add(&cl, text, slot)))
                        goto done;
                }
                T[r] = (float)k;
            }
        }
        if (more)
            goto changed;
    }
    if ((s = record_start(&sc, &line, &have)))
        goto done;
    if (have || n != ncols)
        goto changed;
    if (opt.target == NN_CSV_CLASS_TEXT && !opt.no_label) {
        if (!opt.first_seen_order && opt.n_classes == 0) {
            /* Renumber by sorted name: rank[first-seen index]. */
            char ***byname = nn_xalloc((size_t)cl.n * sizeof *byname);
            int32_t *rank = nn_xalloc((size_t)cl.n * sizeof *rank);
            char **sorted = nn_xalloc((size_t)cl.n * sizeof *sorted);
            if (!byname || !rank || !sorted) {
                nn_xfree(byname);
                nn_xfree(rank);
                nn_xfree(sorted);
                s = nn_oom(path);
                goto done;
            }
            for (int64_t i = 0; i < cl.n; i++)
                byname[i] = &cl.names[i];
            qsort(byname, (size_t)cl.n, sizeof *byname, cmp_names);
            for (int64_t i = 0; i < cl.n; i++) {
                rank[byname[i] - cl.names] = (int32_t)i;
                sorted[i] = *byname[i];
            }
            for (int64_t r = 0; r < rows; r++)
                T[r] = (float)rank[(int64_t)T[r]];
            memcpy(cl.names, sorted, (size_t)cl.n * sizeof *sorted);
            nn_xfree(byname);
            nn_xfree(rank);
            nn_xfree(sorted);
        }
        /* The data set takes the names. */
        d->classes = nn_xalloc((size_t)cl.n * sizeof(char *));
        if (!d->classes) {
            s = nn_oom(path);
            goto done;
        }
        memcpy(d->classes, cl.names, (size_t)cl.n * sizeof(char *));
        d->nclasses = cl.n;
        cl.n = 0;
    }
    *out = d;
    d = NULL;
    goto done;
changed:
    if (!s)
        s = nn_fail(NN_EIO, "%s: changed while being read", path);
done:
    nn_dataset_free(d);
    classes_free(&cl);
    for (int64_t c = 0; header && c < ncols; c++)
        nn_xfree(header[c]);
    nn_xfree(header);
    nn_xfree(f);
    nn_xfree(sc.buf);
    nn_rfile_close(sc.f);
    return s;
}
