/* prep.c — preparing data sets: per-feature normalisation (statistics from
 * one data set, applied to others), subsets and seeded (stratified) splits. */
#include <math.h>
#include <string.h>

#include "io/io.h"

const char *nn_norm_name(nn_norm_kind k)
{
    switch (k) {
    case NN_NORM_NONE: return "none";
    case NN_NORM_SCALE: return "scale";
    case NN_NORM_STANDARDIZE: return "standardize";
    }
    return NULL;
}

nn_status nn_norm_parse(const char *name, nn_norm_kind *out)
{
    if (!name || !out)
        return nn_fail(NN_EINVAL, "normalisation: NULL argument");
    static const struct { const char *name; nn_norm_kind k; } names[] = {
        {"none", NN_NORM_NONE}, {"scale", NN_NORM_SCALE}, {"standardize", NN_NORM_STANDARDIZE},
        {"standardise", NN_NORM_STANDARDIZE}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].k;
            return NN_OK;
        }
    return nn_fail(NN_EINVAL, "unknown normalisation '%s' (expected none, scale or standardize)", name);
}

nn_norm nn_dataset_norm(const nn_dataset *d)
{
    nn_norm n = {NN_NORM_NONE, d ? d->features : 0, NULL, NULL};
    if (d && d->norm != NN_NORM_NONE) {
        n.kind = d->norm;
        n.shift = d->shift;
        n.div = d->div;
    }
    return n;
}

/* Installs copies of shift/div and, for float storage, transforms x. */
static nn_status apply(nn_dataset *d, nn_norm_kind kind, const float *shift, const float *div)
{
    const int64_t F = d->features;
    float *sh = nn_xalloc((size_t)F * sizeof(float)), *dv = nn_xalloc((size_t)F * sizeof(float));
    if (!sh || !dv) {
        nn_xfree(sh);
        nn_xfree(dv);
        return nn_oom("normalise");
    }
    memcpy(sh, shift, (size_t)F * sizeof(float));
    memcpy(dv, div, (size_t)F * sizeof(float));
    d->shift = sh;
    d->div = dv;
    d->norm = kind;
    if (d->x) {
        float *x = d->x->data;
        for (int64_t r = 0; r < d->n; r++)
            for (int64_t f = 0; f < F; f++)
                x[r * F + f] = (x[r * F + f] - sh[f]) / dv[f];
    }
    return NN_OK;
}

static float input_at(const nn_dataset *d, int64_t r, int64_t f)
{
    return d->x ? d->x->data[r * d->features + f] : (float)d->xu8[r * d->features + f];
}

nn_status nn_dataset_normalize(nn_dataset *d, nn_norm_kind kind)
{
    if (!d)
        return nn_fail(NN_EINVAL, "normalise: data set is NULL");
    if (!nn_norm_name(kind))
        return nn_fail(NN_EINVAL, "normalise: unknown kind %d", (int)kind);
    if (kind == NN_NORM_NONE)
        return NN_OK;
    if (d->norm != NN_NORM_NONE)
        return nn_fail(NN_ESTATE, "normalise: the data set is already normalised (%s)", nn_norm_name(d->norm));
    const int64_t F = d->features, N = d->n;
    float *sh = nn_xalloc((size_t)F * sizeof(float)), *dv = nn_xalloc((size_t)F * sizeof(float));
    if (!sh || !dv) {
        nn_xfree(sh);
        nn_xfree(dv);
        return nn_oom("normalise");
    }
    for (int64_t f = 0; f < F; f++) {
        double lo = INFINITY, hi = -INFINITY, sum = 0.0;
        for (int64_t r = 0; r < N; r++) {
            const double v = input_at(d, r, f);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            sum += v;
        }
        if (kind == NN_NORM_SCALE) {
            if (d->xu8) {
                sh[f] = 0.0f;
                dv[f] = 255.0f;
            } else {
                sh[f] = (float)lo;
                dv[f] = hi > lo && (float)(hi - lo) > 0 ? (float)(hi - lo) : 1.0f;
            }
            continue;
        }
        /* Two passes in double: the mean, then the mean squared deviation. */
        const double mean = sum / (double)N;
        double ss = 0.0;
        for (int64_t r = 0; r < N; r++) {
            const double e = input_at(d, r, f) - mean;
            ss += e * e;
        }
        const float sd = (float)sqrt(ss / (double)N);
        sh[f] = (float)mean;
        /* A constant feature (or one whose spread underflows) keeps its scale. */
        dv[f] = hi > lo && sd > 0 && isfinite(sd) ? sd : 1.0f;
    }
    nn_status s = apply(d, kind, sh, dv);
    nn_xfree(sh);
    nn_xfree(dv);
    return s;
}

nn_status nn_dataset_set_norm(nn_dataset *d, const nn_norm *norm)
{
    if (!d || !norm)
        return nn_fail(NN_EINVAL, "normalise: NULL argument");
    if (!nn_norm_name(norm->kind))
        return nn_fail(NN_EINVAL, "normalise: unknown kind %d", (int)norm->kind);
    if (norm->kind == NN_NORM_NONE)
        return NN_OK;
    if (d->norm != NN_NORM_NONE)
        return nn_fail(NN_ESTATE, "normalise: the data set is already normalised (%s)", nn_norm_name(d->norm));
    if (norm->features != d->features)
        return nn_fail(NN_ESHAPE, "normalise: statistics for %lld features, data set has %lld",
                       (long long)norm->features, (long long)d->features);
    if (!norm->shift || !norm->div)
        return nn_fail(NN_EINVAL, "normalise: statistics are NULL");
    for (int64_t f = 0; f < d->features; f++)
        if (!isfinite(norm->shift[f]) || !isfinite(norm->div[f]) || !(norm->div[f] > 0))
            return nn_fail(NN_EINVAL, "normalise: feature %lld: shift %g, div %g (must be finite, div > 0)",
                           (long long)f, (double)norm->shift[f], (double)norm->div[f]);
    return apply(d, norm->kind, norm->shift, norm->div);
}

nn_status nn_dataset_normalize_like(nn_dataset *d, const nn_dataset *src)
{
    if (!d || !src)
        return nn_fail(NN_EINVAL, "normalise: NULL argument");
    const nn_norm n = nn_dataset_norm(src);
    return nn_dataset_set_norm(d, &n);
}

nn_status nn_dataset_target_stats(const nn_dataset *d, double *mean, double *sd)
{
    if (!d || !mean || !sd)
        return nn_fail(NN_EINVAL, "target stats: NULL argument");
    const int64_t K = nn_tensor_cols(d->t), N = d->n;
    const float *t = d->t->data;
    for (int64_t j = 0; j < K; j++) {
        double sum = 0.0, ss = 0.0;
        for (int64_t r = 0; r < N; r++)
            sum += t[r * K + j];
        const double m = N > 0 ? sum / (double)N : 0.0;
        for (int64_t r = 0; r < N; r++) {
            const double e = t[r * K + j] - m;
            ss += e * e;
        }
        const double s = N > 0 ? sqrt(ss / (double)N) : 0.0;
        mean[j] = m;
        sd[j] = s > 0 && isfinite(s) ? s : 1.0;
    }
    return NN_OK;
}

nn_status nn_dataset_scale_targets(nn_dataset *d, const double *shift, const double *div)
{
    if (!d || !shift || !div)
        return nn_fail(NN_EINVAL, "scale targets: NULL argument");
    const int64_t K = nn_tensor_cols(d->t), N = d->n;
    for (int64_t j = 0; j < K; j++)
        if (!isfinite(shift[j]) || !isfinite(div[j]) || !(div[j] > 0))
            return nn_fail(NN_EINVAL, "scale targets: column %lld: shift %g, div %g (must be finite, div > 0)",
                           (long long)j + 1, shift[j], div[j]);
    float *t = d->t->data;
    for (int64_t r = 0; r < N; r++)
        for (int64_t j = 0; j < K; j++)
            t[r * K + j] = (float)(((double)t[r * K + j] - shift[j]) / div[j]);
    return NN_OK;
}

static char *dup_str(const char *s)
{
    const size_t n = strlen(s) + 1;
    char *p = nn_xalloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

nn_status nn_dataset_subset(const nn_dataset *d, const int64_t *idx, int64_t n, nn_dataset **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "subset: out is NULL");
    *out = NULL;
    if (!d || (!idx && n > 0))
        return nn_fail(NN_EINVAL, "subset: NULL argument");
    if (n < 1)
        return nn_fail(NN_EINVAL, "subset: needs at least one row, got %lld", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= d->n)
            return nn_fail(NN_ERANGE, "subset: row %lld outside [0, %lld)", (long long)idx[i],
                           (long long)d->n);
    const int64_t F = d->features, k = nn_tensor_cols(d->t);
    nn_dataset *o;
    nn_status s = nn_dataset_alloc(n, F, d->xu8 != NULL, k, &o);
    if (s)
        return s;
    for (int64_t i = 0; i < n; i++) {
        const int64_t r = idx[i];
        if (d->xu8)
            memcpy(o->xu8 + i * F, d->xu8 + r * F, (size_t)F);
        else
            memcpy(o->x->data + i * F, d->x->data + r * F, (size_t)F * sizeof(float));
        memcpy(o->t->data + i * k, d->t->data + r * k, (size_t)k * sizeof(float));
    }
    if (d->norm != NN_NORM_NONE) {
        /* The values are already transformed (float storage) or are
         * transformed on the fly (bytes): carry the statistics only. */
        o->shift = nn_xalloc((size_t)F * sizeof(float));
        o->div = nn_xalloc((size_t)F * sizeof(float));
        if (!o->shift || !o->div) {
            s = nn_oom("subset");
            goto fail;
        }
        memcpy(o->shift, d->shift, (size_t)F * sizeof(float));
        memcpy(o->div, d->div, (size_t)F * sizeof(float));
        o->norm = d->norm;
    }
    if (d->nclasses) {
        o->classes = nn_xcalloc((size_t)d->nclasses, sizeof(char *));
        if (!o->classes) {
            s = nn_oom("subset");
            goto fail;
        }
        for (; o->nclasses < d->nclasses; o->nclasses++)
            if (!(o->classes[o->nclasses] = dup_str(d->classes[o->nclasses]))) {
                s = nn_oom("subset");
                goto fail;
            }
    }
    *out = o;
    return NN_OK;
fail:
    nn_dataset_free(o);
    return s;
}

static void shuffle(int64_t *v, int64_t n, nn_rng *rng)
{
    for (int64_t i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)nn_rng_below(rng, (uint64_t)i + 1);
        const int64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

nn_status nn_dataset_split(const nn_dataset *d, double val_fraction, uint64_t seed, int stratify,
                           nn_dataset **train, nn_dataset **val)
{
    if (!train || !val)
        return nn_fail(NN_EINVAL, "split: out is NULL");
    *train = *val = NULL;
    if (!d)
        return nn_fail(NN_EINVAL, "split: data set is NULL");
    if (!(val_fraction > 0 && val_fraction < 1))
        return nn_fail(NN_EINVAL, "split: validation fraction must be in (0, 1), got %g", val_fraction);
    const int64_t N = d->n;
    /* mark[r] = 1 for validation rows. */
    uint8_t *mark = nn_xcalloc((size_t)N, 1);
    int64_t *order = nn_xalloc((size_t)N * sizeof(int64_t));
    int64_t *cls = NULL, nval = 0;
    nn_status s = NN_OK;
    if (!mark || !order) {
        s = nn_oom("split");
        goto done;
    }
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    if (!stratify) {
        for (int64_t i = 0; i < N; i++)
            order[i] = i;
        shuffle(order, N, &rng);
        nval = (int64_t)llround(val_fraction * (double)N);
        for (int64_t i = 0; i < nval && i < N; i++)
            mark[order[i]] = 1;
    } else {
        /* Group rows by class (a counting sort keeps row order within a
         * class), then shuffle and cut each group. */
        int64_t C = 0;
        for (int64_t r = 0; r < N; r++) {
            const float *t = d->t->data + r * nn_tensor_cols(d->t);
            if (nn_tensor_cols(d->t) == 1 && !(t[0] >= 0 && t[0] < 1e9f && t[0] == floorf(t[0]))) {
                s = nn_fail(NN_EINVAL, "split: stratify needs class labels, row %lld has target %g",
                            (long long)r + 1, (double)t[0]); /* rows from 1 */
                goto done;
            }
            const int64_t c = nn_dataset_class_of(d, r);
            C = c + 1 > C ? c + 1 : C;
        }
        if (C > N) {
            s = nn_fail(NN_EINVAL, "split: stratify: class label %lld is larger than the data set", (long long)C - 1);
            goto done;
        }
        cls = nn_xcalloc((size_t)C + 1, sizeof(int64_t));
        if (!cls) {
            s = nn_oom("split");
            goto done;
        }
        for (int64_t r = 0; r < N; r++)
            cls[nn_dataset_class_of(d, r) + 1]++;
        for (int64_t c = 0; c < C; c++)
            cls[c + 1] += cls[c];
        /* cls[c] = first slot of class c; fill moves it to its end. */
        for (int64_t r = 0; r < N; r++)
            order[cls[nn_dataset_class_of(d, r)]++] = r;
        int64_t start = 0;
        for (int64_t c = 0; c < C; c++) {
            const int64_t end = cls[c], n = end - start;
            shuffle(order + start, n, &rng);
            const int64_t k = (int64_t)llround(val_fraction * (double)n);
            for (int64_t i = 0; i < k; i++)
                mark[order[start + i]] = 1;
            nval += k;
            start = end;
        }
    }
    if (nval < 1 || nval >= N) {
        s = nn_fail(NN_EINVAL, "split: a fraction of %g of %lld rows leaves %lld for validation and %lld for training; both need at least one",
                    val_fraction, (long long)N, (long long)nval, (long long)(N - nval));
        goto done;
    }
    /* Both parts in source order. */
    int64_t nt = 0, nv = 0;
    for (int64_t r = 0; r < N; r++)
        if (!mark[r])
            order[nt++] = r;
    for (int64_t r = 0; r < N; r++)
        if (mark[r])
            order[nt + nv++] = r;
    if ((s = nn_dataset_subset(d, order, nt, train)))
        goto done;
    if ((s = nn_dataset_subset(d, order + nt, nv, val))) {
        nn_dataset_free(*train);
        *train = NULL;
    }
done:
    nn_xfree(mark);
    nn_xfree(order);
    nn_xfree(cls);
    return s;
}
