/* checkpoint.c — the .nnrun checkpoint: writing (atomically) and reading
 * (validating everything before trusting anything).  Format, version 3 (the
 * reader also reads versions 1 and 2), all integers little-endian, floats
 * IEEE-754 binary32:
 *
 *   header (32 bytes)  magic "\x89NNRUN\r\n" | u32 version | u32 sections |
 *                      u64 file size | u32 CRC-32 of header + table (this
 *                      field read as 0) | u32 0
 *   table              per section: u32 tag | u32 CRC-32 | u64 offset | u64 length
 *   sections           in canonical order, each at most once, tiling the
 *                      rest of the file exactly (no gaps, no trailing bytes):
 *     ARCH  u32 n, (version 3) i64 C, i64 H, i64 W of the per-sample
 *           input shape, then per layer a record: u32 length, kind name (the
 *           registry's, e.g. "dense"), u32 length, settings: u32 count,
 *           then per setting u32 length, name, u32 type (nn_param_type),
 *           value: INT i64 | FLOAT f64 | CHOICE u32 length, name |
 *           INIT u32 length, name, f32 a, f32 b.  A reader checks every
 *           setting with the same code as nn_net_add; a setting the file
 *           does not name takes its default.  (Version 2: no input shape,
 *           the first layer's settings give it.)
 *           (Version 1: per layer u32 kind, u32 act, i64 in, i64 out,
 *           f32 param, u32/f32/f32 weight init, u32/f32/f32 bias init.)
 *     PARM  f32 x parameter count
 *     STAT  u64 mask stream[4], f32 x non-trainable state count (version 2)
 *     TRNR  training state, with either VELO (the layout of nnrun 0.1, SGD
 *           only) or OPTM (any optimiser):
 *       with VELO: u32 loss, u32 shuffle, u32 schedule_per_batch,
 *           u32 nesterov, i64 batch_size, u64 seed, f32 lr, f32 momentum,
 *           f32 weight_decay, SCHED1, i64 epoch, i64 step, u64 rng[4]
 *       with OPTM: u32 loss, u32 shuffle, u32 schedule_per_batch,
 *           i64 batch_size, u64 seed, f32 clip_value, f32 clip_norm, SCHED1,
 *           u32 metric, f32 factor, i64 patience, i64 cooldown, f32 max_lr,
 *           f32 pct_start, i64 period, f32 mult, schedule state (f32 scale,
 *           f64 best, i64 bad, i64 cooldown left), i64 epoch, i64 step,
 *           u64 rng[4]
 *       SCHED1 = u32 sched kind, f32 lr0, f32 gamma, i64 step_size,
 *           i64 total, f32 min_lr, i64 warmup, f32 warmup_start
 *     VELO  f32 x parameter count (SGD momentum buffer)
 *     OPTM  the optimiser: u32 kind, u32 n, its n parameters in the order
 *           of nn_optim_param (f32 numbers, u32 integers and booleans),
 *           i64 updates done, u32 slots, f32 x slots x parameter count
 *     NORM  u32 kind, i64 features, f32 shift[features], f32 div[features]
 *     CONF  the config text (no NUL)
 *     META  u32 n, then n x (u32 len, key bytes, u32 len, value bytes)
 * Everything is serialised field by field (no struct is written), so the
 * bytes depend only on the content. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/io.h"
#include "layers/layers.h"
#include "optim/optim.h"

#define CK_VERSION 3u
#define CK_HEADER 32
#define CK_ENTRY 24
#define CK_MAX_SECTIONS 16
#define CK_MAX_BYTES ((int64_t)1 << 32)
#define CK_MAX_LAYERS 4096
#define CK_MAX_WIDTH ((int64_t)1 << 31)
#define CK_MAX_META 4096
#define CK_MAX_STEPS ((int64_t)1 << 53)
#define LAYER_BYTES 52
#define TRNR_BYTES 124
#define TRNR2_BYTES 200

static const uint8_t magic[8] = {0x89, 'N', 'N', 'R', 'U', 'N', '\r', '\n'};

#define TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
enum { S_ARCH, S_PARM, S_STAT, S_TRNR, S_VELO, S_OPTM, S_NORM, S_CONF, S_META, S_COUNT };
static const uint32_t tags[S_COUNT] = {TAG('A', 'R', 'C', 'H'), TAG('P', 'A', 'R', 'M'), TAG('S', 'T', 'A', 'T'),
                                       TAG('T', 'R', 'N', 'R'), TAG('V', 'E', 'L', 'O'), TAG('O', 'P', 'T', 'M'),
                                       TAG('N', 'O', 'R', 'M'), TAG('C', 'O', 'N', 'F'), TAG('M', 'E', 'T', 'A')};
static const char *const tag_names[S_COUNT] = {"ARCH", "PARM", "STAT", "TRNR", "VELO", "OPTM",
                                               "NORM", "CONF", "META"};

struct nn_checkpoint {
    int nlayers;
    nn_shape input;   /* the input shape (version 3; {0,0,0} before)      */
    nn_layer *layers; /* resolved by nn_layer_make, as the network holds them */
    int64_t nparams;
    float *params;
    int has_state;    /* STAT present (version 2)                           */
    int64_t nstate;
    float *state;
    nn_rng mask_rng;
    int has_trainer;
    nn_train_config cfg;
    int64_t epoch, step;
    nn_rng rng;
    nn_sched_state sst;
    int64_t optim_t;  /* optimiser updates done                      */
    float *velocity;  /* optimiser state, optim_slots x nparams      */
    int optim_slots;
    nn_norm_kind norm;
    int64_t norm_features;
    float *shift, *div;
    nn_norm normv; /* the above as an nn_norm, for nn_checkpoint_extra_of */
    char *config;
    int nmeta;
    char **keys, **values;
};

/* ---- serialisation ---------------------------------------------------- */

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    int oom;
} wbuf;

static void put(wbuf *w, const void *src, size_t n)
{
    if (w->oom)
        return;
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->n + n)
            cap *= 2;
        uint8_t *q = nn_xalloc(cap);
        if (!q) {
            w->oom = 1;
            return;
        }
        if (w->n)
            memcpy(q, w->p, w->n);
        nn_xfree(w->p);
        w->p = q;
        w->cap = cap;
    }
    memcpy(w->p + w->n, src, n);
    w->n += n;
}
static void le32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}
static void le64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}
static void put_u32(wbuf *w, uint32_t v)
{
    uint8_t b[4];
    le32(b, v);
    put(w, b, 4);
}
static void put_u64(wbuf *w, uint64_t v)
{
    uint8_t b[8];
    le64(b, v);
    put(w, b, 8);
}
static void put_f32(wbuf *w, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(w, v);
}
static void put_floats(wbuf *w, const float *f, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        put_f32(w, f[i]);
}

/* A bounded reader over one section: every get checks the remaining length;
 * after a failed get, bad is set and values read as 0. */
typedef struct rbuf {
    const uint8_t *p;
    uint64_t n, pos;
    int bad;
} rbuf;

static const uint8_t *take(rbuf *r, uint64_t n)
{
    if (r->bad || n > r->n - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *q = r->p + r->pos;
    r->pos += n;
    return q;
}
static uint32_t rd32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t rd64(const uint8_t *b) { return (uint64_t)rd32(b) | (uint64_t)rd32(b + 4) << 32; }
static uint32_t get_u32(rbuf *r)
{
    const uint8_t *b = take(r, 4);
    return b ? rd32(b) : 0;
}
static uint64_t get_u64(rbuf *r)
{
    const uint8_t *b = take(r, 8);
    return b ? rd64(b) : 0;
}
static int64_t get_i64(rbuf *r) { return (int64_t)get_u64(r); }
static float get_f32(rbuf *r)
{
    const uint32_t v = get_u32(r);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

/* ---- writing ---------------------------------------------------------- */

static void put_text(wbuf *w, const char *t)
{
    const size_t n = strlen(t);
    put_u32(w, (uint32_t)n);
    put(w, t, n);
}

/* One layer record: kind, then its settings as the specs type them. */
static void put_layer(wbuf *w, const nn_net *net, int i)
{
    nn_layer_spec spec;
    nn_net_layer_spec(net, i, &spec);
    const nn_layer_ops *ops = nn_layer_find(spec.kind);
    wbuf b = {NULL, 0, 0, 0};
    put_u32(&b, (uint32_t)spec.n);
    for (int k = 0; k < spec.n; k++) {
        const nn_param_spec *p = &ops->params[k];
        const nn_value *v = &spec.values[k];
        put_text(&b, p->name);
        put_u32(&b, (uint32_t)p->type);
        if (p->type == NN_PARAM_INT || p->type == NN_PARAM_BOOL) {
            put_u64(&b, (uint64_t)(int64_t)v->num);
        } else if (p->type == NN_PARAM_FLOAT) {
            uint64_t bits;
            memcpy(&bits, &v->num, 8);
            put_u64(&b, bits);
        } else if (p->type == NN_PARAM_CHOICE) {
            put_text(&b, v->str);
        } else {
            put_text(&b, nn_init_name(v->init.kind));
            put_f32(&b, v->init.a);
            put_f32(&b, v->init.b);
        }
    }
    put_text(w, spec.kind);
    put_u32(w, (uint32_t)b.n);
    if (b.n)
        put(w, b.p, b.n);
    w->oom |= b.oom;
    nn_xfree(b.p);
}

static void put_schedule(wbuf *w, const nn_schedule *s)
{
    put_u32(w, (uint32_t)s->kind);
    put_f32(w, s->lr0);
    put_f32(w, s->gamma);
    put_u64(w, (uint64_t)s->step_size);
    put_u64(w, (uint64_t)s->total);
    put_f32(w, s->min_lr);
    put_u64(w, (uint64_t)s->warmup);
    put_f32(w, s->warmup_start);
}

/* ---- non-finite numbers ------------------------------------------------ */

/* Index of the first non-finite value of v[0..n), or -1. */
static int64_t first_nonfinite(const float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return i;
    return -1;
}

/* Where parameter k of the parameter block is, for messages (1-based):
 * "layer 3: bias 2 of 4".  layers[] when given (a checkpoint's), else the
 * network's, resolved from its specs as nn_checkpoint_apply does. */
static void param_place(char *buf, size_t size, const nn_layer *layers, int nlayers, const nn_net *net,
                        int64_t k)
{
    nn_shape prev = {0, 0, 0};
    for (int i = 0; i < nlayers; i++) {
        nn_layer l;
        if (layers) {
            l = layers[i];
        } else {
            nn_layer_spec spec;
            nn_net_layer_spec(net, i, &spec);
            if (nn_layer_make(&spec, prev, &l) != NN_OK)
                break;
        }
        prev = l.out;
        if (k < l.np) {
            const int w = k < l.nw;
            snprintf(buf, size, "layer %d: %s %lld of %lld", i + 1, w ? "weight" : "bias",
                     (long long)(w ? k : k - l.nw) + 1, (long long)(w ? l.nw : l.np - l.nw));
            return;
        }
        k -= l.np;
    }
    snprintf(buf, size, "parameter %lld", (long long)k + 1);
}

static const char *nonfinite_name(float v) { return isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

/* What an optimiser's state is called in messages. */
static const char *state_name(nn_optim_kind k)
{
    return k == NN_OPTIM_SGD ? "the momentum of " : "the optimiser state of ";
}

static void put_f64(wbuf *w, double d)
{
    uint64_t v;
    memcpy(&v, &d, 8);
    put_u64(w, v);
}

/* The schedule fields after SCHED1, and the schedule state. */
static void put_schedule2(wbuf *w, const nn_schedule *s, const nn_sched_state *st)
{
    put_u32(w, (uint32_t)s->metric);
    put_f32(w, s->factor);
    put_u64(w, (uint64_t)s->patience);
    put_u64(w, (uint64_t)s->cooldown);
    put_f32(w, s->max_lr);
    put_f32(w, s->pct_start);
    put_u64(w, (uint64_t)s->period);
    put_f32(w, s->mult);
    put_f32(w, st->scale);
    put_f64(w, st->best);
    put_u64(w, (uint64_t)st->bad);
    put_u64(w, (uint64_t)st->cooldown);
}

/* OPTM: generic over the kind's parameter list. */
static void put_optim(wbuf *w, nn_optim *o, int64_t P)
{
    const nn_optim_config c = nn_optim_config_of(o);
    const int n = nn_optim_param_count(c.kind);
    put_u32(w, (uint32_t)c.kind);
    put_u32(w, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const nn_param_spec *p = nn_optim_param(c.kind, i);
        double v = 0;
        nn_optim_get(&c, p->name, &v);
        if (p->type == NN_PARAM_FLOAT)
            put_f32(w, (float)v);
        else
            put_u32(w, (uint32_t)(int)v);
    }
    put_u64(w, (uint64_t)nn_optim_steps(o));
    put_u32(w, (uint32_t)nn_optim_slots(o));
    put_floats(w, nn_optim_state(o), (int64_t)nn_optim_slots(o) * P);
}

/* Builds the file image in w.  Argument errors are NN_EINVAL. */
static nn_status build(wbuf *w, const nn_net *cnet, const nn_trainer *ctr, const nn_checkpoint_extra *ex)
{
    nn_net *net = (nn_net *)cnet; /* read only: the accessors are not const */
    nn_trainer *tr = (nn_trainer *)ctr;
    const int64_t P = nn_net_param_count(net);
    if (tr && nn_trainer_net(tr) != cnet)
        return nn_fail(NN_EINVAL, "save: the trainer trains another network");
    const nn_checkpoint_extra none = {NULL, NULL, NULL, NULL, 0};
    if (!ex)
        ex = &none;
    if (ex->norm && ex->norm->kind != NN_NORM_NONE) {
        const nn_norm *nm = ex->norm;
        if (!nn_norm_name(nm->kind) || nm->features != nn_net_input_size(net) || !nm->shift || !nm->div)
            return nn_fail(NN_EINVAL, "save: normalisation for %lld features, the network has %lld inputs",
                           (long long)nm->features, (long long)nn_net_input_size(net));
        for (int64_t f = 0; f < nm->features; f++)
            if (!isfinite(nm->shift[f]) || !isfinite(nm->div[f]) || !(nm->div[f] > 0))
                return nn_fail(NN_EINVAL, "save: normalisation of feature %lld is not finite with div > 0",
                               (long long)f);
    }
    /* What the reader refuses is not written: a diverged network (NaN
     * weights behind a ReLU can leave the loss finite) is not saved. */
    const int64_t bad_state = first_nonfinite(nn_net_state(net), nn_net_state_count(net));
    if (bad_state >= 0)
        return nn_fail(NN_EDIVERGED, "save: state value %lld of %lld is %s: the network diverged (nothing saved)",
                       (long long)bad_state + 1, (long long)nn_net_state_count(net),
                       nonfinite_name(nn_net_state(net)[bad_state]));
    /* The weights, then each slot of the optimiser's state. */
    nn_optim *opt = tr ? nn_trainer_optim(tr) : NULL;
    for (int v = 0; v <= (opt ? nn_optim_slots(opt) : 0); v++) {
        const float *vals = v ? nn_optim_state(opt) + (int64_t)(v - 1) * P : nn_net_params(net);
        const int64_t k = vals ? first_nonfinite(vals, P) : -1;
        if (k >= 0) {
            char place[96];
            param_place(place, sizeof place, NULL, nn_net_layers(net), net, k);
            return nn_fail(NN_EDIVERGED, "save: %s%s is %s: the network diverged (nothing saved)",
                           v ? state_name(nn_optim_config_of(opt).kind) : "", place, nonfinite_name(vals[k]));
        }
    }
    if (ex->n_meta < 0 || ex->n_meta > CK_MAX_META || (ex->n_meta && (!ex->meta_keys || !ex->meta_values)))
        return nn_fail(NN_EINVAL, "save: bad metadata (%d entries)", ex->n_meta);
    for (int i = 0; i < ex->n_meta; i++)
        if (!ex->meta_keys[i] || !*ex->meta_keys[i] || !ex->meta_values[i])
            return nn_fail(NN_EINVAL, "save: metadata entry %d has an empty key or a NULL value", i);

    wbuf sec[S_COUNT];
    memset(sec, 0, sizeof sec);
    int present[S_COUNT] = {0};
    /* ARCH, PARM, STAT */
    present[S_ARCH] = present[S_PARM] = present[S_STAT] = 1;
    put_u32(&sec[S_ARCH], (uint32_t)nn_net_layers(net));
    int64_t shape[3];
    nn_net_input_shape(net, shape);
    for (int i = 0; i < 3; i++)
        put_u64(&sec[S_ARCH], (uint64_t)shape[i]);
    for (int i = 0; i < nn_net_layers(net); i++)
        put_layer(&sec[S_ARCH], net, i);
    put_floats(&sec[S_PARM], nn_net_params(net), P);
    const nn_rng *mrng = nn_net_mask_rng(net);
    for (int i = 0; i < 4; i++)
        put_u64(&sec[S_STAT], mrng->s[i]);
    put_floats(&sec[S_STAT], nn_net_state(net), nn_net_state_count(net));
    if (tr) {
        present[S_TRNR] = present[S_OPTM] = 1;
        const nn_train_config c = nn_trainer_config(tr);
        wbuf *t = &sec[S_TRNR];
        put_u32(t, (uint32_t)c.loss);
        put_u32(t, c.shuffle != 0);
        put_u32(t, c.schedule_per_batch != 0);
        put_u64(t, (uint64_t)c.batch_size);
        put_u64(t, c.seed);
        put_f32(t, c.clip_value);
        put_f32(t, c.clip_norm);
        put_schedule(t, &c.schedule);
        put_schedule2(t, &c.schedule, nn_trainer_sched_state(tr));
        put_u64(t, (uint64_t)nn_trainer_epoch(tr));
        put_u64(t, (uint64_t)nn_trainer_step(tr));
        const nn_rng *rng = nn_trainer_rng(tr);
        for (int i = 0; i < 4; i++)
            put_u64(t, rng->s[i]);
        put_optim(&sec[S_OPTM], nn_trainer_optim(tr), P);
    }
    if (ex->norm && ex->norm->kind != NN_NORM_NONE) {
        present[S_NORM] = 1;
        put_u32(&sec[S_NORM], (uint32_t)ex->norm->kind);
        put_u64(&sec[S_NORM], (uint64_t)ex->norm->features);
        put_floats(&sec[S_NORM], ex->norm->shift, ex->norm->features);
        put_floats(&sec[S_NORM], ex->norm->div, ex->norm->features);
    }
    if (ex->config && *ex->config) {
        present[S_CONF] = 1;
        put(&sec[S_CONF], ex->config, strlen(ex->config));
    }
    if (ex->n_meta > 0) {
        present[S_META] = 1;
        put_u32(&sec[S_META], (uint32_t)ex->n_meta);
        for (int i = 0; i < ex->n_meta; i++) {
            const size_t kl = strlen(ex->meta_keys[i]), vl = strlen(ex->meta_values[i]);
            put_u32(&sec[S_META], (uint32_t)kl);
            put(&sec[S_META], ex->meta_keys[i], kl);
            put_u32(&sec[S_META], (uint32_t)vl);
            put(&sec[S_META], ex->meta_values[i], vl);
        }
    }
    int nsec = 0, oom = 0;
    uint64_t total = 0;
    for (int k = 0; k < S_COUNT; k++) {
        oom |= sec[k].oom;
        if (present[k]) {
            nsec++;
            total += sec[k].n;
        }
    }
    total += CK_HEADER + (uint64_t)CK_ENTRY * (uint64_t)nsec;
    nn_status s = NN_OK;
    if (oom) {
        s = nn_oom("save");
        goto done;
    }
    if (total > (uint64_t)CK_MAX_BYTES) {
        s = nn_fail(NN_ERANGE, "save: a checkpoint of %llu bytes is larger than the limit of %lld",
                    (unsigned long long)total, (long long)CK_MAX_BYTES);
        goto done;
    }
    uint8_t h[CK_HEADER] = {0};
    memcpy(h, magic, 8);
    le32(h + 8, CK_VERSION);
    le32(h + 12, (uint32_t)nsec);
    le64(h + 16, total);
    put(w, h, CK_HEADER);
    uint64_t off = CK_HEADER + (uint64_t)CK_ENTRY * (uint64_t)nsec;
    for (int k = 0; k < S_COUNT; k++) {
        if (!present[k])
            continue;
        uint8_t e[CK_ENTRY];
        le32(e, tags[k]);
        le32(e + 4, (uint32_t)crc32_z(0, sec[k].p ? sec[k].p : (const uint8_t *)"", sec[k].n));
        le64(e + 8, off);
        le64(e + 16, sec[k].n);
        put(w, e, CK_ENTRY);
        off += sec[k].n;
    }
    for (int k = 0; k < S_COUNT; k++)
        if (present[k] && sec[k].n)
            put(w, sec[k].p, sec[k].n);
    if (w->oom) {
        s = nn_oom("save");
        goto done;
    }
    le32(w->p + 24, (uint32_t)crc32_z(0, w->p, CK_HEADER + (size_t)CK_ENTRY * (size_t)nsec));
done:
    for (int k = 0; k < S_COUNT; k++)
        nn_xfree(sec[k].p);
    return s;
}

nn_status nn_save(const char *path, const nn_net *net, const nn_trainer *tr, const nn_checkpoint_extra *extra)
{
    if (!path || !*path || !net)
        return nn_fail(NN_EINVAL, "save: path or network is NULL or empty");
    if (nn_net_layers(net) == 0)
        return nn_fail(NN_EINVAL, "save: the network has no layers");
    /* Without a normalisation given, the one the network carries (a loaded
     * model saved again keeps it). */
    nn_checkpoint_extra ex = extra ? *extra : (nn_checkpoint_extra){0};
    const nn_norm carried = nn_net_norm(net);
    if (!ex.norm && carried.kind != NN_NORM_NONE)
        ex.norm = &carried;
    wbuf w = {NULL, 0, 0, 0};
    nn_status s = build(&w, net, tr, &ex);
    if (s) {
        nn_xfree(w.p);
        return s;
    }
    /* The sections follow the header and table in the buffer: one file. */
    s = nn_file_write_atomic(path, w.p, w.n);
    nn_xfree(w.p);
    return s;
}

/* ---- reading ---------------------------------------------------------- */

void nn_checkpoint_free(nn_checkpoint *ck)
{
    if (!ck)
        return;
    nn_xfree(ck->layers);
    nn_xfree(ck->params);
    nn_xfree(ck->state);
    nn_xfree(ck->velocity);
    nn_xfree(ck->shift);
    nn_xfree(ck->div);
    nn_xfree(ck->config);
    for (int i = 0; i < ck->nmeta; i++) {
        nn_xfree(ck->keys[i]);
        nn_xfree(ck->values[i]);
    }
    nn_xfree(ck->keys);
    nn_xfree(ck->values);
    nn_xfree(ck);
}

static nn_status read_whole(const char *path, uint8_t **data, uint64_t *size)
{
    *data = NULL;
    *size = 0;
    char m[128];
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        nn_errno_text(errno, m, sizeof m);
        return nn_fail(NN_EIO, "%s: cannot open: %s", path, m);
    }
    struct stat st;
    nn_status s = NN_OK;
    if (fstat(fd, &st) != 0) {
        nn_errno_text(errno, m, sizeof m);
        s = nn_fail(NN_EIO, "%s: cannot read: %s", path, m);
    } else if (!S_ISREG(st.st_mode)) {
        s = nn_fail(NN_EIO, "%s: not a regular file", path);
    } else if (st.st_size > CK_MAX_BYTES) {
        s = nn_fail(NN_EFORMAT, "%s: larger than the limit of %lld bytes", path, (long long)CK_MAX_BYTES);
    }
    uint8_t *b = NULL;
    uint64_t have = 0;
    if (!s) {
        const uint64_t want = (uint64_t)st.st_size;
        if (!(b = nn_xalloc(want ? (size_t)want : 1)))
            s = nn_oom(path);
        while (!s && have < want) {
            const ssize_t r = read(fd, b + have, want - have < ((uint64_t)1 << 30) ? want - have : ((uint64_t)1 << 30));
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                nn_errno_text(errno, m, sizeof m);
                s = nn_fail(NN_EIO, "%s: cannot read: %s", path, m);
            } else if (r == 0) {
                break; /* shrank while reading: the size checks catch it */
            }
            else
                have += (uint64_t)r;
        }
    }
    close(fd);
    if (s) {
        nn_xfree(b);
        return s;
    }
    *data = b;
    *size = have;
    return NN_OK;
}

static int valid_init(const nn_init *i) { return nn_init_name(i->kind) && isfinite(i->a) && isfinite(i->b); }

/* Layer i of ck from spec, checked as nn_net_add checks it. */
static nn_status make_layer(nn_checkpoint *ck, uint32_t i, const nn_layer_spec *spec, const char *path)
{
    nn_layer *l = &ck->layers[i];
    if (nn_layer_make(spec, i ? ck->layers[i - 1].out : ck->input, l) != NN_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", nn_last_error());
        return nn_fail(NN_EFORMAT, "%s: section ARCH: layer %u is invalid: %s", path, i + 1, why);
    }
    if (l->np > INT64_MAX / 2 - ck->nparams || l->ns > INT64_MAX / 2 - ck->nstate ||
        nn_shape_size(l->out) >= CK_MAX_WIDTH)
        return nn_fail(NN_EFORMAT, "%s: section ARCH: layer %u is too large", path, i + 1);
    l->poff = ck->nparams;
    l->soff = ck->nstate;
    ck->nparams += l->np;
    ck->nstate += l->ns;
    return NN_OK;
}

static const char *get_text(rbuf *r, uint32_t *len)
{
    *len = get_u32(r);
    return (const char *)take(r, *len);
}

static int text_is(const char *t, uint32_t len, const char *name)
{
    return t && strlen(name) == len && memcmp(t, name, len) == 0;
}

static nn_status parse_arch2(nn_checkpoint *ck, rbuf *r, const char *path, uint32_t version)
{
    const uint32_t n = get_u32(r);
    if (n < 1 || n > CK_MAX_LAYERS || (uint64_t)n * 8 > r->n)
        return nn_fail(NN_EFORMAT, "%s: section ARCH: bad layer count %u", path, n);
    if (version >= 3) {
        const int64_t c = get_i64(r), h = get_i64(r), w = get_i64(r);
        if (r->bad || c < 1 || h < 1 || w < 1 || c >= CK_MAX_WIDTH || h >= CK_MAX_WIDTH || w >= CK_MAX_WIDTH ||
            c * h >= CK_MAX_WIDTH || c * h * w >= CK_MAX_WIDTH)
            return nn_fail(NN_EFORMAT, "%s: section ARCH: bad input shape", path);
        ck->input = (nn_shape){c, h, w};
    }
    if (!(ck->layers = nn_xcalloc(n, sizeof *ck->layers)))
        return nn_oom(path);
    ck->nlayers = (int)n;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t klen, blen;
        const char *kind = get_text(r, &klen);
        const uint8_t *body = (const uint8_t *)get_text(r, &blen);
        const nn_layer_ops *ops = NULL;
        for (int k = 0; kind && k < nn_layer_registry_n; k++)
            if (text_is(kind, klen, nn_layer_registry[k]->name))
                ops = nn_layer_registry[k];
        if (!body || !ops)
            return nn_fail(NN_EFORMAT, "%s: section ARCH: layer %u %s", path, i + 1,
                           body ? "has an unknown kind" : "is truncated");
        rbuf b = {body, blen, 0, 0};
        const uint32_t cnt = get_u32(&b);
        const char *keys[NN_LAYER_MAX_PARAMS];
        nn_value vals[NN_LAYER_MAX_PARAMS];
        memset(vals, 0, sizeof vals);
        int ok = cnt <= (uint32_t)ops->nparams;
        for (uint32_t j = 0; ok && j < cnt; j++) {
            uint32_t len;
            const char *key = get_text(&b, &len);
            const nn_param_spec *p = NULL;
            for (int k = 0; k < ops->nparams; k++)
                if (text_is(key, len, ops->params[k].name))
                    p = &ops->params[k];
            const uint32_t type = get_u32(&b);
            if (!p || type != (uint32_t)p->type) {
                ok = 0;
                break;
            }
            keys[j] = p->name;
            if (p->type == NN_PARAM_INT || p->type == NN_PARAM_BOOL) {
                vals[j].num = (double)get_i64(&b);
            } else if (p->type == NN_PARAM_FLOAT) {
                const uint64_t bits = get_u64(&b);
                memcpy(&vals[j].num, &bits, 8);
            } else {
                const char *t = get_text(&b, &len);
                int c = 0;
                while (p->choices[c] && !text_is(t, len, p->choices[c]))
                    c++;
                ok = p->choices[c] != NULL;
                vals[j].str = p->choices[c];
                if (p->type == NN_PARAM_INIT) {
                    vals[j].init.kind = (nn_init_kind)c;
                    vals[j].init.a = get_f32(&b);
                    vals[j].init.b = get_f32(&b);
                }
            }
        }
        if (!ok || b.bad || b.pos != b.n)
            return nn_fail(NN_EFORMAT, "%s: section ARCH: layer %u (%s) has malformed settings", path, i + 1,
                           ops->name);
        const nn_layer_spec spec = {ops->name, (int)cnt, keys, vals};
        nn_status s = make_layer(ck, i, &spec, path);
        if (s)
            return s;
    }
    if (r->bad || r->pos != r->n)
        return nn_fail(NN_EFORMAT, "%s: section ARCH: %llu bytes left over", path,
                       (unsigned long long)(r->n - r->pos));
    return NN_OK;
}

/* Version 1: fixed records of the two kinds it knew. */
static nn_status parse_arch1(nn_checkpoint *ck, rbuf *r, const char *path)
{
    const uint32_t n = get_u32(r);
    if (n < 1 || n > CK_MAX_LAYERS || r->n != 4 + (uint64_t)n * LAYER_BYTES)
        return nn_fail(NN_EFORMAT, "%s: section ARCH: %u layers do not fit its %llu bytes", path, n,
                       (unsigned long long)r->n);
    if (!(ck->layers = nn_xcalloc(n, sizeof *ck->layers)))
        return nn_oom(path);
    ck->nlayers = (int)n;
    int64_t P = 0, prev_out = 0;
    for (uint32_t i = 0; i < n; i++) {
        nn_layer_info li, *l = &li;
        const uint32_t kind = get_u32(r), act = get_u32(r);
        l->in = get_i64(r);
        l->out = get_i64(r);
        l->param = get_f32(r);
        const uint32_t wk = get_u32(r);
        l->weight_init.a = get_f32(r);
        l->weight_init.b = get_f32(r);
        const uint32_t bk = get_u32(r);
        l->bias_init.a = get_f32(r);
        l->bias_init.b = get_f32(r);
        l->kind = (nn_layer_kind)kind;
        l->act = (nn_act)act;
        l->weight_init.kind = (nn_init_kind)wk;
        l->bias_init.kind = (nn_init_kind)bk;
        const int64_t prev = i ? prev_out : l->in;
        int ok = kind <= NN_LAYER_ACTIVATION && act <= NN_ACT_SOFTMAX && wk <= NN_INIT_HE_NORMAL &&
                 bk <= NN_INIT_HE_NORMAL && l->in >= 1 && l->in < CK_MAX_WIDTH && l->out >= 1 &&
                 l->out < CK_MAX_WIDTH && l->in == prev && isfinite(l->param);
        if (ok && kind == NN_LAYER_DENSE) {
            ok = act == 0 && l->param == 0 && valid_init(&l->weight_init) && valid_init(&l->bias_init);
            int64_t wn = 0;
            ok = ok && nn_mul_ok(l->in, l->out, &wn) && wn <= INT64_MAX - l->out - P;
            if (ok)
                P += wn + l->out;
        } else if (ok) {
            /* Activation layers: what nn_net_layer_info reports for them. */
            ok = i > 0 && l->in == l->out && (act == NN_ACT_LEAKY_RELU || l->param == 0) && wk == 0 &&
                 bk == 0 && l->weight_init.a == 0 && l->weight_init.b == 0 && l->bias_init.a == 0 &&
                 l->bias_init.b == 0;
        }
        if (!ok)
            return nn_fail(NN_EFORMAT, "%s: section ARCH: layer %u is invalid", path, i + 1);
        prev_out = l->out;
        /* As the layer nn_net_add_dense / nn_net_add_activation made. */
        nn_value v[4];
        memset(v, 0, sizeof v);
        nn_layer_spec spec;
        if (kind == NN_LAYER_DENSE) {
            static const char *const dk[] = {"units", "in", "init", "bias_init"};
            v[0].num = (double)l->out;
            v[1].num = (double)l->in;
            v[2].init = l->weight_init;
            v[3].init = l->bias_init;
            spec = (nn_layer_spec){"dense", 4, dk, v};
        } else {
            static const char *const ak[] = {"name", "slope"};
            v[0].str = nn_act_name(l->act);
            v[1].num = l->param;
            spec = (nn_layer_spec){"activation", l->act == NN_ACT_LEAKY_RELU ? 2 : 1, ak, v};
        }
        nn_status s = make_layer(ck, i, &spec, path);
        if (s)
            return s;
    }
    if (ck->nparams != P)
        return nn_fail(NN_EFORMAT, "%s: section ARCH: the layers need %lld parameters, not %lld", path,
                       (long long)ck->nparams, (long long)P);
    return NN_OK;
}

static nn_status get_floats(rbuf *r, int64_t n, float **out, const char *path)
{
    if (!(*out = nn_xalloc((size_t)n * sizeof(float))))
        return nn_oom(path);
    for (int64_t i = 0; i < n; i++)
        (*out)[i] = get_f32(r);
    return NN_OK;
}

static double get_f64(rbuf *r)
{
    const uint64_t v = get_u64(r);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

static void get_schedule(rbuf *r, nn_schedule *s)
{
    s->kind = (nn_sched_kind)get_u32(r);
    s->lr0 = get_f32(r);
    s->gamma = get_f32(r);
    s->step_size = get_i64(r);
    s->total = get_i64(r);
    s->min_lr = get_f32(r);
    s->warmup = get_i64(r);
    s->warmup_start = get_f32(r);
}

/* TRNR in either layout: v2 (with OPTM) or that of 0.1 (with VELO, SGD). */
static nn_status parse_trnr(nn_checkpoint *ck, rbuf *r, const char *path, int v2)
{
    nn_train_config c = nn_train_defaults();
    nn_sched_state st = nn_sched_state_initial();
    const uint32_t loss = get_u32(r), shuffle = get_u32(r), spb = get_u32(r), nest = v2 ? 0 : get_u32(r);
    c.loss = (nn_loss_kind)loss;
    c.shuffle = (int)shuffle;
    c.schedule_per_batch = (int)spb;
    c.batch_size = get_i64(r);
    c.seed = get_u64(r);
    if (v2) {
        c.clip_value = get_f32(r);
        c.clip_norm = get_f32(r);
    } else {
        c.sgd.nesterov = (int)nest;
        c.sgd.lr = get_f32(r);
        c.sgd.momentum = get_f32(r);
        c.sgd.weight_decay = get_f32(r);
    }
    get_schedule(r, &c.schedule);
    const uint32_t sk = (uint32_t)c.schedule.kind;
    uint32_t metric = 0;
    if (v2) {
        metric = get_u32(r);
        c.schedule.metric = (nn_sched_metric)metric;
        c.schedule.factor = get_f32(r);
        c.schedule.patience = get_i64(r);
        c.schedule.cooldown = get_i64(r);
        c.schedule.max_lr = get_f32(r);
        c.schedule.pct_start = get_f32(r);
        c.schedule.period = get_i64(r);
        c.schedule.mult = get_f32(r);
        st.scale = get_f32(r);
        st.best = get_f64(r);
        st.bad = get_i64(r);
        st.cooldown = get_i64(r);
    }
    ck->epoch = get_i64(r);
    ck->step = get_i64(r);
    for (int i = 0; i < 4; i++)
        ck->rng.s[i] = get_u64(r);
    if (r->bad || r->pos != r->n)
        return nn_fail(NN_EFORMAT, "%s: section TRNR has %llu bytes, expected %d", path, (unsigned long long)r->n,
                       v2 ? TRNR2_BYTES : TRNR_BYTES);
    nn_schedule sched = c.schedule;
    if (sched.lr0 == 0.0f)
        sched.lr0 = c.sgd.lr; /* v2: replaced by the optimiser's lr in parse_optm */
    /* The checks below set nn_last_error; the message is replaced. */
    const int ok = loss <= NN_LOSS_LOG_LOSS && shuffle <= 1 && spb <= 1 && nest <= 1 && c.batch_size >= 1 &&
                   sk <= (v2 ? NN_SCHED_COSINE_RESTARTS : NN_SCHED_COSINE) && metric <= NN_METRIC_VAL_ACCURACY &&
                   (v2 || nn_sgd_check(&c.sgd) == NN_OK) && (v2 || nn_schedule_check(&sched) == NN_OK) &&
                   (c.clip_value == 0 || (isfinite(c.clip_value) && c.clip_value > 0)) &&
                   (c.clip_norm == 0 || (isfinite(c.clip_norm) && c.clip_norm > 0)) &&
                   isfinite(st.scale) && st.scale > 0 && st.scale <= 1 && !isinf(st.best) && st.bad >= 0 &&
                   st.cooldown >= 0 &&
                   (ck->rng.s[0] | ck->rng.s[1] | ck->rng.s[2] | ck->rng.s[3]) != 0;
    if (!ok)
        return nn_fail(NN_EFORMAT, "%s: section TRNR holds an invalid training state", path);
    /* Every epoch takes at least one step; no run takes 2^53 (where Lua's
     * and JSON's numbers stop counting exactly). */
    if (ck->step < 0 || ck->step > CK_MAX_STEPS)
        return nn_fail(NN_EFORMAT, "%s: section TRNR: step %lld is out of range [0, 2^53]", path,
                       (long long)ck->step);
    if (ck->epoch < 0 || ck->epoch > ck->step)
        return nn_fail(NN_EFORMAT, "%s: section TRNR: epoch %lld after %lld steps (every epoch takes at least one)",
                       path, (long long)ck->epoch, (long long)ck->step);
    ck->cfg = c;
    ck->sst = st;
    ck->optim_t = ck->step; /* 0.1: one SGD update per step */
    ck->optim_slots = 1;
    ck->has_trainer = 1;
    return NN_OK;
}

/* OPTM (after TRNR): the optimiser's kind, parameters and state. */
static nn_status parse_optm(nn_checkpoint *ck, rbuf *r, const char *path)
{
    const uint32_t kind = get_u32(r), n = get_u32(r);
    nn_optim_config c = nn_optim_defaults((nn_optim_kind)kind);
    if (!nn_optim_name((nn_optim_kind)kind) || n != (uint32_t)nn_optim_param_count((nn_optim_kind)kind))
        return nn_fail(NN_EFORMAT, "%s: section OPTM: unknown optimiser %u with %u parameters", path, kind, n);
    for (uint32_t i = 0; i < n; i++) {
        const nn_param_spec *p = nn_optim_param(c.kind, (int)i);
        const double v = p->type == NN_PARAM_FLOAT ? (double)get_f32(r) : (double)(int32_t)get_u32(r);
        if (r->bad || nn_optim_set(&c, p->name, v))
            return nn_fail(NN_EFORMAT, "%s: section OPTM: %s %s is invalid", path, nn_optim_name(c.kind), p->name);
    }
    const int64_t t = get_i64(r);
    const uint32_t slots = get_u32(r);
    if (r->bad || t < 0 || nn_optim_check(&c) || slots != (uint32_t)nn_optim_ops_of(c.kind)->slots ||
        r->n - r->pos != (uint64_t)slots * (uint64_t)ck->nparams * 4)
        return nn_fail(NN_EFORMAT, "%s: section OPTM is malformed", path);
    nn_schedule sched = ck->cfg.schedule;
    if (sched.lr0 == 0.0f)
        sched.lr0 = c.lr;
    if (nn_schedule_check(&sched))
        return nn_fail(NN_EFORMAT, "%s: section TRNR holds an invalid training state", path);
    ck->cfg = nn_train_config_canonical(&ck->cfg, &c);
    ck->optim_t = t;
    ck->optim_slots = (int)slots;
    return slots ? get_floats(r, (int64_t)slots * ck->nparams, &ck->velocity, path) : NN_OK;
}

static char *copy_text(const uint8_t *p, uint64_t n)
{
    if (memchr(p, 0, (size_t)n))
        return NULL;
    char *s = nn_xalloc((size_t)n + 1);
    if (s) {
        memcpy(s, p, (size_t)n);
        s[n] = 0;
    }
    return s;
}

static nn_status parse_meta(nn_checkpoint *ck, rbuf *r, const char *path)
{
    const uint32_t n = get_u32(r);
    /* Each entry takes at least 9 bytes: bounds the allocation by the size. */
    if (n < 1 || n > CK_MAX_META || (uint64_t)n * 9 > r->n)
        return nn_fail(NN_EFORMAT, "%s: section META: bad entry count %u", path, n);
    ck->keys = nn_xcalloc(n, sizeof(char *));
    ck->values = nn_xcalloc(n, sizeof(char *));
    if (!ck->keys || !ck->values)
        return nn_oom(path);
    ck->nmeta = (int)n; /* entries are NULL until read: freed either way */
    for (uint32_t i = 0; i < n; i++) {
        char **dst[2] = {&ck->keys[i], &ck->values[i]};
        for (int j = 0; j < 2; j++) {
            const uint32_t len = get_u32(r);
            const uint8_t *p = take(r, len);
            if (!p || (j == 0 && len == 0))
                return nn_fail(NN_EFORMAT, "%s: section META: entry %u is malformed", path, i + 1);
            if (!(*dst[j] = copy_text(p, len))) {
                if (memchr(p, 0, len))
                    return nn_fail(NN_EFORMAT, "%s: section META: entry %u holds a NUL byte", path, i + 1);
                return nn_oom(path);
            }
        }
    }
    if (r->pos != r->n)
        return nn_fail(NN_EFORMAT, "%s: section META: %llu bytes left over", path,
                       (unsigned long long)(r->n - r->pos));
    return NN_OK;
}

/* Parameters and momentum are finite numbers (a CRC does not say so). */
static nn_status all_finite(const nn_checkpoint *ck, const float *v, const char *sec, const char *what,
                            const char *path)
{
    const int64_t k = first_nonfinite(v, ck->nparams);
    if (k < 0)
        return NN_OK;
    char place[96];
    param_place(place, sizeof place, ck->layers, ck->nlayers, NULL, k);
    return nn_fail(NN_EFORMAT, "%s: section %s: %s%s is %s (not a finite number)", path, sec, what, place,
                   nonfinite_name(v[k]));
}

static nn_status parse(nn_checkpoint *ck, const uint8_t *b, uint64_t size, const char *path)
{
    if (size < 8 || memcmp(b, magic, 8) != 0) {
        if (size < 8 && memcmp(b, magic, (size_t)size) == 0)
            return nn_fail(NN_EFORMAT, "%s: truncated (%llu bytes)", path, (unsigned long long)size);
        return nn_fail(NN_EFORMAT, "%s: not an nnrun checkpoint", path);
    }
    if (size < CK_HEADER)
        return nn_fail(NN_EFORMAT, "%s: truncated (%llu bytes)", path, (unsigned long long)size);
    const uint32_t version = rd32(b + 8), nsec = rd32(b + 12);
    const uint64_t declared = rd64(b + 16);
    if (version != CK_VERSION && version != 2 && version != 1) {
        if (version > CK_VERSION)
            return nn_fail(NN_EFORMAT, "%s: checkpoint version %u is newer than this library reads (%u)", path,
                           version, CK_VERSION);
        return nn_fail(NN_EFORMAT, "%s: bad checkpoint version %u", path, version);
    }
    if (declared != size)
        return nn_fail(NN_EFORMAT, "%s: %s: the header says %llu bytes, the file has %llu", path,
                       size < declared ? "truncated" : "unexpected length", (unsigned long long)declared,
                       (unsigned long long)size);
    if (nsec < 2 || nsec > CK_MAX_SECTIONS || rd32(b + 28) != 0)
        return nn_fail(NN_EFORMAT, "%s: bad header (%u sections)", path, nsec);
    const uint64_t hlen = CK_HEADER + (uint64_t)CK_ENTRY * nsec;
    if (size < hlen)
        return nn_fail(NN_EFORMAT, "%s: truncated section table", path);
    /* Header CRC with its own field counted as zero. */
    uint32_t crc = (uint32_t)crc32_z(0, b, 24);
    const uint8_t zero[4] = {0};
    crc = (uint32_t)crc32_z(crc, zero, 4);
    crc = (uint32_t)crc32_z(crc, b + 28, (size_t)(hlen - 28));
    /* Fuzzing builds (tools/fuzz.sh) skip the checksums, or random inputs
     * would never get past them to the parsing they protect. */
#ifndef NNRUN_FUZZING
    if (crc != rd32(b + 24))
        return nn_fail(NN_EFORMAT, "%s: header checksum mismatch", path);
#endif

    rbuf sec[S_COUNT];
    memset(sec, 0, sizeof sec);
    int present[S_COUNT] = {0}, last = -1;
    uint64_t off = hlen;
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = b + CK_HEADER + (size_t)CK_ENTRY * i;
        const uint32_t tag = rd32(e), scrc = rd32(e + 4);
        const uint64_t o = rd64(e + 8), len = rd64(e + 16);
        int k = 0;
        while (k < S_COUNT && tags[k] != tag)
            k++;
        if (k == S_COUNT)
            return nn_fail(NN_EFORMAT, "%s: unknown section tag 0x%08x", path, (unsigned)tag);
        if (k <= last)
            return nn_fail(NN_EFORMAT, "%s: section %s is repeated or out of order", path, tag_names[k]);
        last = k;
        /* Sections tile the file: each starts where the previous ended. */
        if (o != off || len > size - off)
            return nn_fail(NN_EFORMAT, "%s: section %s at offset %llu, length %llu does not tile the file", path,
                           tag_names[k], (unsigned long long)o, (unsigned long long)len);
#ifndef NNRUN_FUZZING
        if ((uint32_t)crc32_z(0, b + o, (size_t)len) != scrc)
            return nn_fail(NN_EFORMAT, "%s: section %s: checksum mismatch", path, tag_names[k]);
#else
        (void)scrc;
        (void)crc;
#endif
        sec[k] = (rbuf){b + o, len, 0, 0};
        present[k] = 1;
        off += len;
    }
    if (off != size)
        return nn_fail(NN_EFORMAT, "%s: %llu bytes after the last section", path, (unsigned long long)(size - off));
    if (!present[S_ARCH] || !present[S_PARM])
        return nn_fail(NN_EFORMAT, "%s: section %s is missing", path, present[S_ARCH] ? "PARM" : "ARCH");
    if (present[S_TRNR] != (present[S_VELO] + present[S_OPTM]))
        return nn_fail(NN_EFORMAT, "%s: section TRNR must come with one of VELO and OPTM", path);

    if (present[S_STAT] != (version >= 2))
        return nn_fail(NN_EFORMAT, "%s: section STAT is %s", path, version >= 2 ? "missing" : "not in version 1");
    nn_status s = version == 1 ? parse_arch1(ck, &sec[S_ARCH], path) : parse_arch2(ck, &sec[S_ARCH], path, version);
    if (s)
        return s;
    if (sec[S_PARM].n / 4 != (uint64_t)ck->nparams || sec[S_PARM].n % 4)
        return nn_fail(NN_EFORMAT, "%s: section PARM has %llu bytes, the architecture needs %lld parameters", path,
                       (unsigned long long)sec[S_PARM].n, (long long)ck->nparams);
    if ((s = get_floats(&sec[S_PARM], ck->nparams, &ck->params, path)) ||
        (s = all_finite(ck, ck->params, "PARM", "", path)))
        return s;
    if (present[S_STAT]) {
        rbuf *r = &sec[S_STAT];
        for (int i = 0; i < 4; i++)
            ck->mask_rng.s[i] = get_u64(r);
        if (r->bad || (r->n - r->pos) / 4 != (uint64_t)ck->nstate || (r->n - r->pos) % 4 ||
            (ck->mask_rng.s[0] | ck->mask_rng.s[1] | ck->mask_rng.s[2] | ck->mask_rng.s[3]) == 0)
            return nn_fail(NN_EFORMAT, "%s: section STAT has %llu bytes, the architecture needs %lld state values",
                           path, (unsigned long long)r->n, (long long)ck->nstate);
        if ((s = get_floats(r, ck->nstate, &ck->state, path)))
            return s;
        const int64_t k = first_nonfinite(ck->state, ck->nstate);
        if (k >= 0)
            return nn_fail(NN_EFORMAT, "%s: section STAT: state value %lld of %lld is %s (not a finite number)", path,
                           (long long)k + 1, (long long)ck->nstate, nonfinite_name(ck->state[k]));
        ck->has_state = 1;
    }
    if (present[S_TRNR]) {
        if ((s = parse_trnr(ck, &sec[S_TRNR], path, present[S_OPTM])))
            return s;
        if (present[S_OPTM]) {
            if ((s = parse_optm(ck, &sec[S_OPTM], path)))
                return s;
            for (int k = 0; k < ck->optim_slots; k++)
                if ((s = all_finite(ck, ck->velocity + k * ck->nparams, "OPTM",
                                    state_name(nn_train_optim(&ck->cfg).kind), path)))
                    return s;
        } else {
            if (sec[S_VELO].n != sec[S_PARM].n)
                return nn_fail(NN_EFORMAT, "%s: section VELO has %llu bytes, PARM %llu", path,
                               (unsigned long long)sec[S_VELO].n, (unsigned long long)sec[S_PARM].n);
            if ((s = get_floats(&sec[S_VELO], ck->nparams, &ck->velocity, path)) ||
                (s = all_finite(ck, ck->velocity, "VELO", "the momentum of ", path)))
                return s;
        }
    }
    if (present[S_NORM]) {
        rbuf *r = &sec[S_NORM];
        const uint32_t kind = get_u32(r);
        const int64_t F = get_i64(r);
        if ((kind != NN_NORM_SCALE && kind != NN_NORM_STANDARDIZE) || F != nn_shape_size(ck->layers[0].in) ||
            r->n != 12 + 8 * (uint64_t)F)
            return nn_fail(NN_EFORMAT, "%s: section NORM is malformed", path);
        if ((s = get_floats(r, F, &ck->shift, path)) || (s = get_floats(r, F, &ck->div, path)))
            return s;
        for (int64_t f = 0; f < F; f++)
            if (!isfinite(ck->shift[f]) || !isfinite(ck->div[f]) || !(ck->div[f] > 0))
                return nn_fail(NN_EFORMAT, "%s: section NORM: feature %lld has invalid statistics", path,
                               (long long)f);
        ck->norm = (nn_norm_kind)kind;
        ck->norm_features = F;
        ck->normv = (nn_norm){ck->norm, F, ck->shift, ck->div};
    }
    if (present[S_CONF]) {
        if (sec[S_CONF].n == 0 || memchr(sec[S_CONF].p, 0, (size_t)sec[S_CONF].n))
            return nn_fail(NN_EFORMAT, "%s: section CONF is empty or holds a NUL byte", path);
        if (!(ck->config = copy_text(sec[S_CONF].p, sec[S_CONF].n)))
            return nn_oom(path);
    }
    if (present[S_META] && (s = parse_meta(ck, &sec[S_META], path)))
        return s;
    return NN_OK;
}

nn_status nn_checkpoint_read(const char *path, nn_checkpoint **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "load: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return nn_fail(NN_EINVAL, "load: path is NULL or empty");
    uint8_t *b;
    uint64_t size;
    nn_status s = read_whole(path, &b, &size);
    if (s)
        return s;
    nn_checkpoint *ck = nn_xcalloc(1, sizeof *ck);
    if (!ck)
        s = nn_oom(path);
    else
        s = parse(ck, b, size, path);
    nn_xfree(b);
    if (s) {
        nn_checkpoint_free(ck);
        return s;
    }
    *out = ck;
    return NN_OK;
}

/* ---- using a checkpoint ----------------------------------------------- */

/* Same kind, shapes and settings (initialisers aside: they do not shape
 * the network). */
static int same_layer(const nn_layer *a, const nn_layer *b)
{
    if (a->ops != b->ops || memcmp(&a->in, &b->in, sizeof a->in) || memcmp(&a->out, &b->out, sizeof a->out) ||
        a->np != b->np || a->ns != b->ns)
        return 0;
    for (int k = 0; k < a->ops->nparams; k++) {
        const nn_param_type t = a->ops->params[k].type;
        if ((t == NN_PARAM_INT || t == NN_PARAM_FLOAT) && a->v[k].num != b->v[k].num)
            return 0;
        if (t == NN_PARAM_CHOICE && strcmp(a->v[k].str, b->v[k].str) != 0)
            return 0;
    }
    return 1;
}

nn_status nn_checkpoint_apply(const nn_checkpoint *ck, nn_net *net)
{
    if (!ck || !net)
        return nn_fail(NN_EINVAL, "checkpoint: NULL argument");
    int64_t in[3];
    nn_net_input_shape(net, in);
    if (ck->input.c && (in[0] != ck->input.c || in[1] != ck->input.h || in[2] != ck->input.w))
        return nn_fail(NN_ESHAPE, "checkpoint: the input is %lldx%lldx%lld, the network's %lldx%lldx%lld",
                       (long long)ck->input.c, (long long)ck->input.h, (long long)ck->input.w, (long long)in[0],
                       (long long)in[1], (long long)in[2]);
    if (nn_net_layers(net) != ck->nlayers)
        return nn_fail(NN_ESHAPE, "checkpoint: %d layers, network has %d", ck->nlayers, nn_net_layers(net));
    for (int i = 0; i < ck->nlayers; i++) {
        nn_layer mine;
        nn_layer_spec spec;
        nn_net_layer_spec(net, i, &spec);
        nn_layer_make(&spec, i ? ck->layers[i - 1].out : ck->input, &mine);
        const nn_layer *c = &ck->layers[i];
        if (!mine.ops || !same_layer(&mine, c)) {
            char a[96], b[96];
            c->ops->describe(c, a, sizeof a);
            nn_net_describe_layer(net, i, b, sizeof b);
            return nn_fail(NN_ESHAPE, "checkpoint: layer %d is %s, network has %s", i + 1, a, b);
        }
    }
    memcpy(nn_net_params(net), ck->params, (size_t)ck->nparams * sizeof(float));
    if (ck->has_state) {
        if (ck->nstate)
            memcpy(nn_net_state(net), ck->state, (size_t)ck->nstate * sizeof(float));
        *nn_net_mask_rng(net) = ck->mask_rng;
    }
    nn_net_zero_grad(net);
    return NN_OK;
}

nn_status nn_checkpoint_net(const nn_checkpoint *ck, nn_net **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "checkpoint: out is NULL");
    *out = NULL;
    if (!ck)
        return nn_fail(NN_EINVAL, "checkpoint: NULL argument");
    nn_net *net;
    nn_status s = nn_net_create(0, &net);
    if (s)
        return s;
    if (ck->input.c)
        s = nn_net_set_input(net, ck->input.c, ck->input.h, ck->input.w);
    for (int i = 0; i < ck->nlayers && !s; i++) {
        nn_layer_spec spec;
        nn_layer_spec_of(&ck->layers[i], &spec);
        s = nn_net_add(net, &spec);
    }
    if (!s)
        s = nn_checkpoint_apply(ck, net);
    if (!s && ck->norm != NN_NORM_NONE) {
        const nn_norm norm = nn_checkpoint_norm(ck);
        s = nn_net_set_norm(net, &norm);
    }
    if (s) {
        nn_net_free(net);
        return s;
    }
    *out = net;
    return NN_OK;
}

nn_status nn_load(const char *path, nn_net **net_out, nn_checkpoint **ck_out)
{
    if (ck_out)
        *ck_out = NULL;
    if (!net_out)
        return nn_fail(NN_EINVAL, "load: out is NULL");
    *net_out = NULL;
    nn_checkpoint *ck;
    nn_status s = nn_checkpoint_read(path, &ck);
    if (s)
        return s;
    if ((s = nn_checkpoint_net(ck, net_out)) || !ck_out)
        nn_checkpoint_free(ck);
    else
        *ck_out = ck;
    return s;
}

int nn_checkpoint_has_trainer(const nn_checkpoint *ck) { return ck && ck->has_trainer; }
int64_t nn_checkpoint_epoch(const nn_checkpoint *ck) { return ck ? ck->epoch : 0; }
int64_t nn_checkpoint_step(const nn_checkpoint *ck) { return ck ? ck->step : 0; }

nn_status nn_checkpoint_train_config(const nn_checkpoint *ck, nn_train_config *cfg)
{
    if (!ck || !cfg)
        return nn_fail(NN_EINVAL, "checkpoint: NULL argument");
    if (!ck->has_trainer)
        return nn_fail(NN_ESTATE, "checkpoint: no training state saved");
    *cfg = ck->cfg;
    return NN_OK;
}

nn_status nn_checkpoint_restore(const nn_checkpoint *ck, nn_trainer *tr)
{
    if (!ck || !tr)
        return nn_fail(NN_EINVAL, "checkpoint: NULL argument");
    if (!ck->has_trainer)
        return nn_fail(NN_ESTATE, "checkpoint: no training state saved");
    const nn_train_config a = nn_trainer_config(tr), *b = &ck->cfg;
    const nn_optim_config oa = nn_train_optim(&a), ob = nn_train_optim(b);
    /* The first field that would change the trajectory. */
#define SAME(field, fmt, cast)                                                                                \
    if (!(a.field == b->field))                                                                               \
        return nn_fail(NN_ESTATE, "checkpoint: the trainer's " #field " is " fmt ", the checkpoint's " fmt,  \
                       cast a.field, cast b->field);
    /* Kinds by name (both are valid: the trainer's were checked when it
     * was made, the checkpoint's when it was read). */
#define SAME_KIND(field, name)                                                                                \
    if (a.field != b->field)                                                                                  \
        return nn_fail(NN_ESTATE, "checkpoint: the trainer's " #field " is %s, the checkpoint's %s",          \
                       name(a.field) ? name(a.field) : "?", name(b->field) ? name(b->field) : "?");
    SAME_KIND(loss, nn_loss_name)
    SAME(batch_size, "%lld", (long long))
    if (oa.kind != ob.kind)
        return nn_fail(NN_ESTATE, "checkpoint: the trainer's optimizer is %s, the checkpoint's %s",
                       nn_optim_name(oa.kind), nn_optim_name(ob.kind));
    for (int i = 0; i < nn_optim_param_count(oa.kind); i++) {
        const nn_param_spec *p = nn_optim_param(oa.kind, i);
        double va = 0, vb = 0;
        nn_optim_get(&oa, p->name, &va);
        nn_optim_get(&ob, p->name, &vb);
        if (va != vb)
            return nn_fail(NN_ESTATE, "checkpoint: the trainer's %s.%s is %g, the checkpoint's %g",
                           nn_optim_name(oa.kind), p->name, va, vb);
    }
    SAME(clip_value, "%g", (double))
    SAME(clip_norm, "%g", (double))
    SAME_KIND(schedule.kind, nn_sched_name)
    SAME(schedule.lr0, "%g", (double))
    SAME(schedule.gamma, "%g", (double))
    SAME(schedule.step_size, "%lld", (long long))
    SAME(schedule.total, "%lld", (long long))
    SAME(schedule.min_lr, "%g", (double))
    SAME(schedule.warmup, "%lld", (long long))
    SAME(schedule.warmup_start, "%g", (double))
    if (a.schedule.kind == NN_SCHED_PLATEAU) {
        SAME(schedule.metric, "%d", (int))
        SAME(schedule.factor, "%g", (double))
        SAME(schedule.patience, "%lld", (long long))
        SAME(schedule.cooldown, "%lld", (long long))
    } else if (a.schedule.kind == NN_SCHED_ONE_CYCLE) {
        SAME(schedule.max_lr, "%g", (double))
        SAME(schedule.pct_start, "%g", (double))
    } else if (a.schedule.kind == NN_SCHED_COSINE_RESTARTS) {
        SAME(schedule.period, "%lld", (long long))
        SAME(schedule.mult, "%g", (double))
    }
#undef SAME
#undef SAME_KIND
    if ((a.shuffle != 0) != b->shuffle || (a.schedule_per_batch != 0) != b->schedule_per_batch)
        return nn_fail(NN_ESTATE, "checkpoint: the trainer's shuffle or schedule_per_batch differs from the checkpoint's");
    nn_optim *opt = nn_trainer_optim(tr);
    const nn_net *net = nn_trainer_net(tr);
    /* The state block has the length of the trained network's parameters. */
    if (!opt || nn_net_param_count(net) != ck->nparams || nn_optim_slots(opt) != ck->optim_slots)
        return nn_fail(NN_ESHAPE, "checkpoint: %lld parameters, the trainer's network has %lld",
                       (long long)ck->nparams, (long long)nn_net_param_count(net));
    if (ck->optim_slots)
        memcpy(nn_optim_state(opt), ck->velocity, (size_t)(ck->nparams * ck->optim_slots) * sizeof(float));
    nn_optim_set_steps(opt, ck->optim_t);
    *nn_trainer_sched_state(tr) = ck->sst;
    *nn_trainer_rng(tr) = ck->rng;
    nn_trainer_set_position(tr, ck->epoch, ck->step);
    return NN_OK;
}

nn_status nn_checkpoint_check_data(const nn_checkpoint *ck, const nn_dataset *data)
{
    if (!ck || !data)
        return nn_fail(NN_EINVAL, "checkpoint: NULL argument");
    if (!ck->has_trainer)
        return nn_fail(NN_ESTATE, "checkpoint: no training state saved");
    const int64_t n = nn_dataset_size(data), bs = ck->cfg.batch_size < n ? ck->cfg.batch_size : n;
    const int64_t per = n > 0 ? (n + bs - 1) / bs : 0;
    int64_t steps;
    if (!nn_mul_ok(ck->epoch, per, &steps) || steps != ck->step)
        return nn_fail(NN_ESTATE, "checkpoint: epoch %lld at step %lld, but %lld samples in batches of %lld take %lld step%s an epoch: "
                       "saved on other data, or damaged",
                       (long long)ck->epoch, (long long)ck->step, (long long)n, (long long)bs, (long long)per,
                       per == 1 ? "" : "s");
    return NN_OK;
}

const char *nn_checkpoint_config(const nn_checkpoint *ck) { return ck ? ck->config : NULL; }

nn_norm nn_checkpoint_norm(const nn_checkpoint *ck)
{
    nn_norm n = {NN_NORM_NONE, ck && ck->nlayers ? nn_shape_size(ck->layers[0].in) : 0, NULL, NULL};
    if (ck && ck->norm != NN_NORM_NONE) {
        n.kind = ck->norm;
        n.features = ck->norm_features;
        n.shift = ck->shift;
        n.div = ck->div;
    }
    return n;
}

int nn_checkpoint_meta_count(const nn_checkpoint *ck) { return ck ? ck->nmeta : 0; }
const char *nn_checkpoint_meta_key(const nn_checkpoint *ck, int i)
{
    return ck && i >= 0 && i < ck->nmeta ? ck->keys[i] : NULL;
}
const char *nn_checkpoint_meta_value(const nn_checkpoint *ck, int i)
{
    return ck && i >= 0 && i < ck->nmeta ? ck->values[i] : NULL;
}
const char *nn_checkpoint_meta(const nn_checkpoint *ck, const char *key)
{
    for (int i = 0; ck && key && i < ck->nmeta; i++)
        if (strcmp(ck->keys[i], key) == 0)
            return ck->values[i];
    return NULL;
}

nn_checkpoint_extra nn_checkpoint_extra_of(const nn_checkpoint *ck)
{
    nn_checkpoint_extra e = {NULL, NULL, NULL, NULL, 0};
    if (!ck)
        return e;
    e.norm = ck->norm != NN_NORM_NONE ? &ck->normv : NULL;
    e.config = ck->config;
    e.meta_keys = (const char *const *)ck->keys;
    e.meta_values = (const char *const *)ck->values;
    e.n_meta = ck->nmeta;
    return e;
}
