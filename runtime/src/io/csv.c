/* csv.c — CSV data files: a header row, numeric feature columns and one
 * label column (a number for regression, an integer class, or a text class).
 *
 * The whole file is read into memory (plain or gzip) and scanned twice: the
 * first pass checks the shape of every record and counts them, the second
 * converts the values into a data set of exactly that size.  The scanner
 * never writes into the file's bytes: quoted fields are unescaped into a
 * scratch buffer when their value is needed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

#define CSV_MAX_BYTES ((int64_t)1 << 32)
#define CSV_MAX_COLUMNS ((int64_t)1 << 24)
#define CSV_MAX_ROWS ((int64_t)INT32_MAX)
#define CSV_MAX_CLASSES 65536
#define FIELD_MAX 512 /* longest value shown or converted (a number, a class) */

nn_csv_options nn_csv_defaults(void)
{
    nn_csv_options o;
    memset(&o, 0, sizeof o);
    o.label_index = -1;
    o.target = NN_CSV_CLASS_TEXT;
    o.delimiter = ',';
    return o;
}

typedef struct field {
    const char *p;
    int64_t len;
    int quoted; /* p..p+len is the raw text between the quotes */
} field;

typedef struct scanner {
    const char *path;
    const char *buf;
    int64_t size, pos;
    int64_t line;  /* line of the next character */
    char delim;
    field *fields; /* current record */
    int64_t nfields, cap;
} scanner;

static nn_status push_field(scanner *sc, const char *p, int64_t len, int quoted)
{
    if (sc->nfields == sc->cap) {
        if (sc->cap >= CSV_MAX_COLUMNS)
            return nn_fail(NN_EFORMAT, "%s:%lld: more than %lld columns", sc->path, (long long)sc->line,
                           (long long)CSV_MAX_COLUMNS);
        const int64_t ncap = sc->cap ? 2 * sc->cap : 64;
        field *nf = nn_xalloc((size_t)ncap * sizeof *nf);
        if (!nf)
            return nn_oom(sc->path);
        if (sc->nfields)
            memcpy(nf, sc->fields, (size_t)sc->nfields * sizeof *nf);
        nn_xfree(sc->fields);
        sc->fields = nf;
        sc->cap = ncap;
    }
    sc->fields[sc->nfields++] = (field){p, len, quoted};
    return NN_OK;
}

static int is_blank(const scanner *sc, char c) { return (c == ' ' || c == '\t') && c != sc->delim; }

/* Reads the next record into sc->fields; *line = its first line; *have = 0
 * at the end of the file.  Empty lines are skipped. */
static nn_status next_record(scanner *sc, int64_t *line, int *have)
{
    const char *b = sc->buf;
    const int64_t n = sc->size;
    *have = 0;
    sc->nfields = 0;
    /* Skip empty lines (also lines of blanks only). */
    for (;;) {
        int64_t q = sc->pos;
        while (q < n && is_blank(sc, b[q]))
            q++;
        if (q < n && b[q] == '\r' && q + 1 < n && b[q + 1] == '\n')
            q++;
        if (q < n && b[q] == '\n') {
            sc->pos = q + 1;
            sc->line++;
            continue;
        }
        if (q >= n) {
            sc->pos = n;
            return NN_OK;
        }
        break;
    }
    *line = sc->line;
    *have = 1;
    for (;;) {
        int64_t q = sc->pos;
        while (q < n && is_blank(sc, b[q]))
            q++;
        nn_status s;
        if (q < n && b[q] == '"') {
            const int64_t start = ++q;
            for (;;) {
                if (q >= n)
                    return nn_fail(NN_EFORMAT, "%s:%lld: column %lld: unterminated quoted field", sc->path,
                                   (long long)*line, (long long)sc->nfields + 1);
                if (b[q] == '"') {
                    if (q + 1 < n && b[q + 1] == '"') {
                        q += 2;
                        continue;
                    }
                    break;
                }
                if (b[q] == '\n')
                    sc->line++;
                q++;
            }
            if ((s = push_field(sc, b + start, q - start, 1)))
                return s;
            q++; /* closing quote */
            while (q < n && is_blank(sc, b[q]))
                q++;
            if (q < n && b[q] == '\r' && q + 1 < n && b[q + 1] == '\n')
                q++;
            if (q < n && b[q] != sc->delim && b[q] != '\n')
                return nn_fail(NN_EFORMAT, "%s:%lld: column %lld: unexpected character '%c' after a quoted field",
                               sc->path, (long long)sc->line, (long long)sc->nfields,
                               b[q] >= 32 && b[q] < 127 ? b[q] : '?');
        } else {
            const int64_t start = q;
            while (q < n && b[q] != sc->delim && b[q] != '\n')
                q++;
            int64_t end = q;
            while (end > start && (is_blank(sc, b[end - 1]) || b[end - 1] == '\r'))
                end--;
            if ((s = push_field(sc, b + start, end - start, 0)))
                return s;
        }
        if (q >= n) {
            sc->pos = n;
            return NN_OK;
        }
        if (b[q] == '\n') {
            sc->pos = q + 1;
            sc->line++;
            return NN_OK;
        }
        sc->pos = q + 1; /* delimiter */
    }
}

/* The field's text, unescaped and NUL-terminated, in out[FIELD_MAX]; 0 if
 * it is longer than FIELD_MAX - 1 (out then holds its beginning). */
static int field_text(const field *f, char *out)
{
    int64_t o = 0;
    for (int64_t i = 0; i < f->len; i++) {
        if (o == FIELD_MAX - 1) {
            out[o] = 0;
            return 0;
        }
        out[o++] = f->p[i];
        if (f->quoted && f->p[i] == '"')
            i++; /* "" inside quotes is one quote */
    }
    out[o] = 0;
    return 1;
}

/* A value for messages: at most 40 characters. */
static const char *shown(char *text)
{
    if (strlen(text) > 40)
        strcpy(text + 37, "...");
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
    if (opt.n_classes < 0 || opt.n_classes > CSV_MAX_CLASSES || (opt.n_classes > 0 && !opt.classes))
        return nn_fail(NN_EINVAL, "csv: bad class list (%lld names)", (long long)opt.n_classes);

    nn_rfile *f;
    uint8_t *data = NULL;
    int64_t size = 0;
    nn_status s = nn_rfile_open(path, &f);
    if (s)
        return s;
    s = nn_rfile_read_all(f, CSV_MAX_BYTES, &data, &size);
    int at_end = 1;
    if (!s && size == CSV_MAX_BYTES)
        s = nn_rfile_at_end(f, &at_end);
    nn_rfile_close(f);
    if (s)
        return s;
    scanner sc = {path, (const char *)data, size, 0, 1, delim, NULL, 0, 0};
    char **header = NULL;
    int64_t ncols = 0, label = -1, rows = 0, line = 0;
    classes cl = {NULL, 0, NULL, 0};
    nn_dataset *d = NULL;
    char text[FIELD_MAX];
    int have;
    if (!at_end) {
        s = nn_fail(NN_EFORMAT, "%s: larger than the limit of %lld bytes", path, (long long)CSV_MAX_BYTES);
        goto done;
    }
    /* A UTF-8 byte order mark is not part of the first column's name. */
    if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        sc.pos = 3;

    /* Header. */
    if ((s = next_record(&sc, &line, &have)))
        goto done;
    if (!have) {
        s = nn_fail(NN_EFORMAT, "%s: empty file (no header row)", path);
        goto done;
    }
    ncols = sc.nfields;
    if (ncols < 2) {
        s = nn_fail(NN_EFORMAT, "%s:%lld: the header has %lld column; needs a label and at least one feature",
                    path, (long long)line, (long long)ncols);
        goto done;
    }
    header = nn_xcalloc((size_t)ncols, sizeof *header);
    if (!header) {
        s = nn_oom(path);
        goto done;
    }
    for (int64_t c = 0; c < ncols; c++) {
        field_text(&sc.fields[c], text);
        const size_t len = strlen(text) + 1;
        if (!(header[c] = nn_xalloc(len))) {
            s = nn_oom(path);
            goto done;
        }
        memcpy(header[c], text, len);
    }
    if (opt.label_column) {
        for (int64_t c = 0; c < ncols && label < 0; c++)
            if (strcmp(header[c], opt.label_column) == 0)
                label = c;
        if (label < 0) {
            s = nn_fail(NN_EINVAL, "%s: no column named '%s' (the header has %lld columns, the first '%s')",
                        path, opt.label_column, (long long)ncols, shown(header[0]));
            goto done;
        }
    } else {
        label = opt.label_index == -1 ? ncols - 1 : opt.label_index;
        if (label < 0 || label >= ncols) {
            /* Columns are counted from 1 in messages, as in the others. */
            s = nn_fail(NN_EINVAL, "%s: label column %lld is out of range (the file has %lld columns)",
                        path, (long long)opt.label_index + 1, (long long)ncols);
            goto done;
        }
    }

    /* Pass 1: the shape of every record. */
    const int64_t body = sc.pos, body_line = sc.line;
    for (;;) {
        if ((s = next_record(&sc, &line, &have)))
            goto done;
        if (!have)
            break;
        if (sc.nfields != ncols) {
            s = nn_fail(NN_EFORMAT, "%s:%lld: expected %lld columns, found %lld", path, (long long)line,
                        (long long)ncols, (long long)sc.nfields);
            goto done;
        }
        if (++rows > CSV_MAX_ROWS) {
            s = nn_fail(NN_EFORMAT, "%s: more than %lld rows", path, (long long)CSV_MAX_ROWS);
            goto done;
        }
    }
    if (rows == 0) {
        s = nn_fail(NN_EFORMAT, "%s: no data rows after the header", path);
        goto done;
    }

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

    /* Pass 2: the values. */
    const int64_t F = ncols - 1;
    if ((s = nn_dataset_alloc(rows, F, 0, 1, &d)))
        goto done;
    sc.pos = body;
    sc.line = body_line;
    float *X = nn_tensor_data(d->x), *T = nn_tensor_data(d->t);
    for (int64_t r = 0; r < rows; r++) {
        if ((s = next_record(&sc, &line, &have)))
            goto done;
        for (int64_t c = 0, fo = 0; c < ncols; c++) {
            const int fits = field_text(&sc.fields[c], text);
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
    }
    if (opt.target == NN_CSV_CLASS_TEXT) {
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
done:
    nn_dataset_free(d);
    classes_free(&cl);
    if (header)
        for (int64_t c = 0; c < ncols; c++)
            nn_xfree(header[c]);
    nn_xfree(header);
    nn_xfree(sc.fields);
    nn_xfree(data);
    return s;
}
