/* l_yaml.c — the YAML reader and writer of the nnrun Lua module, on libyaml.

   Lua API (the table pushed by nnrun_yaml_open becomes require("nnrun").yaml):

   yaml.load(path [, opts])              -> value, positions
   yaml.parse(text [, name [, opts]])    -> value, positions
       (yaml.parse(text, opts) is accepted too.)
       Reads exactly one YAML document.
       value: mappings become tables with string keys (a scalar key that is
         not a string keeps its text: `1: a` gives key "1"), sequences become
         1-based arrays, and plain scalars are resolved by the YAML 1.2 core
         schema:
           ~ null Null NULL and the empty scalar      -> yaml.null
           true True TRUE false False FALSE           -> boolean
           [-+]?[0-9]+, 0x[0-9a-fA-F]+, 0o[0-7]+      -> integer (012 is 12;
             a value outside int64 becomes a float; only decimal takes a sign)
           [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?,
           [-+]?(.inf|.Inf|.INF), .nan .NaN .NAN      -> float
           anything else (yes, no, on, off, y, n, ...) -> string
         Quoted and block scalars are strings. Tags: `!` (string), and
         !!str !!int !!float !!bool !!null !!map !!seq (the text must fit the
         tag); any other tag is an error.
         Anchors and aliases work (an alias yields a fresh copy). Merge keys
         work: `<<: *a` or `<<: [*a, *b]`; keys written in the mapping win,
         then earlier merged mappings win over later ones.
       yaml.null: a light userdata, unique, so `v == yaml.null` tests for it
         and type(v) is "userdata", never mistaken for a mapping.
       An empty file (nothing but comments and blanks, or a UTF-8 byte-order
         mark) returns yaml.null and an empty positions table; an explicit
         empty document (`---` alone) returns yaml.null with positions[""].
       positions: { [path] = {line=L, col=C} }, 1-based, of where the node
         starts. Paths join mapping keys with '.' and put sequence items as
         [i] (1-based): "model.layers[2].dense"; the root is "". For a mapping
         entry, positions[path] is where its value starts and
         positions[path .. "#key"] where its key starts. Nodes produced by an
         alias or a merge carry the positions of their definition, except the
         alias node itself, which carries the position of the `*name`. Keys
         containing '.' or '[' make paths ambiguous; nodes whose path would
         exceed MAX_PATH bytes get no entry.
       Errors: a Lua error with a one-line message "NAME:LINE:COL: message",
         NAME being the path given to load, or the name given to parse
         (default "<string>"); e.g.
           exp.yaml:3:1: duplicate key 'lr' (first at line 2)
           exp.yaml:4:1: second document at line 4; a file holds exactly one
           exp.yaml:2:1: tab character used for indentation; indent with spaces
         Errors about the whole file have no position:
           exp.yaml: cannot open: No such file or directory
           exp.yaml: file is 20000000 bytes, over the limit of 16777216 (max_bytes)
       opts (unknown keys are refused): max_bytes, max_depth, max_aliases
         override the limits below (for tests, or for trusted large files);
         max_depth may not exceed DEPTH_CEILING (10000), as reading and
         writing recurse in C once per level.
       Numbers are read and written with '.' whatever the C locale.

   yaml.dump(value [, opts])             -> string
       Emits with libyaml's emitter, block style. Mapping keys are sorted
       bytewise; opts.key_order = {"name", "seed", ...} puts those keys first,
       in that order, at every level. Integers as decimal, floats in the
       shortest "%.{15,16,17}g" form that reads back exactly, always with a
       '.' or 'e' (1.0, 1.0e+20) and .inf/-.inf/.nan; yaml.null as null.
       Strings are quoted whenever their plain form could read back as
       anything but a string under YAML 1.2 or 1.1 ("true", "1", "", "yes",
       "<<", ...). An empty table is written as []. A table is a sequence when
       its keys are exactly 1..n, otherwise a mapping whose keys must all be
       strings. parse(dump(v)) deep-equals v (NaN aside).
       Refused, with an error naming the key path ("yaml.dump: cannot write
       a function at model.layers[2].act"): cycles, functions, threads,
       userdata other than yaml.null, non-string mapping keys, strings that
       are not UTF-8, more than max_depth nested tables (the root is level 1).
       opts: key_order, max_depth.

   yaml.write(path, value [, opts])
       dump, then write atomically (nn_file_write_atomic: a temporary file in
       the same directory, fsync, rename over path, fsync of the directory).
       Errors name the path: "out/config.yaml: cannot write: No space left on
       device".

   Every libyaml object and C allocation lives in a userdata box with a __gc,
   and is freed explicitly before any error is raised, so no error path
   leaks or longjmps over live libyaml state. */
#define _POSIX_C_SOURCE 200809L

#include "l_yaml.h"
#include "lnnrun.h"
#include "nnrun.h"

#include <lauxlib.h>
#include <yaml.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Limits against hostile files. A configuration is a few kilobytes; these
   leave three orders of magnitude for data-heavy YAML while keeping the
   worst case (memory and time) small. */
#define YAML_MAX_BYTES   (16L * 1024 * 1024) /* input size, refused before parsing */
#define YAML_MAX_DEPTH   256    /* nested collections, aliases included: bounds C recursion */
#define YAML_MAX_ALIASES 100000 /* nodes produced through aliases and merges, in total */
#define MAX_PATH         4096   /* bytes of a positions path; deeper nodes get none */
#define DEPTH_CEILING    10000  /* highest max_depth an option may set: C recursion */

#define READER_MT "nnrun.yaml.reader"
#define WRITER_MT "nnrun.yaml.writer"
#define YAML_CORE "tag:yaml.org,2002:"

static const char null_sentinel = 0;
#define YNULL ((void *)&null_sentinel)

typedef struct limits {
    lua_Integer max_bytes, max_depth, max_aliases;
} limits;

/* ------------------------------------------------------------------ */
/* Scalar resolution (YAML 1.2 core schema)                            */

enum { R_STR, R_NULL, R_TRUE, R_FALSE, R_INT, R_BIGINT, R_FLOAT };

static int is_one_of(const char *s, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(*words, s, len) == 0)
            return 1;
    return 0;
}

static int isdig(char c) { return c >= '0' && c <= '9'; }

static int is_float_text(const char *s, size_t len)
{
    size_t i = 0, nint = 0, nfrac = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < len && isdig(s[i])) {
        i++;
        nint++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && isdig(s[i])) {
            i++;
            nfrac++;
        }
    }
    if (nint == 0 && nfrac == 0)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t nexp = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        while (i < len && isdig(s[i])) {
            i++;
            nexp++;
        }
        if (nexp == 0)
            return 0;
    }
    return i == len;
}

static int digit_value(char c, int base)
{
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    return d < base ? d : -1;
}

/* Unsigned digits in base; *overflow when beyond uint64. Returns 0 if a
   character is not a digit or there are none. */
static int parse_digits(const char *s, size_t len, int base, uint64_t *u,
                        double *d, int *overflow)
{
    *u = 0;
    *d = 0;
    *overflow = 0;
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        int v = digit_value(s[i], base);
        if (v < 0)
            return 0;
        if (*u > (UINT64_MAX - (uint64_t)v) / (uint64_t)base)
            *overflow = 1;
        *u = *u * (uint64_t)base + (uint64_t)v;
        *d = *d * base + v;
    }
    return 1;
}

/* strtod on text that uses '.', whatever LC_NUMERIC the host has set. */
static double c_strtod(const char *s, size_t len)
{
    char dp = localeconv()->decimal_point[0];
    const char *dot = dp == '.' ? NULL : memchr(s, '.', len);
    char small[128], *copy;
    double v;
    if (!dot)
        return strtod(s, NULL);
    copy = len < sizeof small ? small : malloc(len + 1);
    if (!copy)
        return strtod(s, NULL);
    memcpy(copy, s, len + 1);
    copy[dot - s] = dp;
    v = strtod(copy, NULL);
    if (copy != small)
        free(copy);
    return v;
}

/* s is NUL-terminated at s[len]. */
static int resolve(const char *s, size_t len, lua_Integer *iv, lua_Number *fv)
{
    static const char *const nulls[] = { "~", "null", "Null", "NULL", NULL };
    static const char *const trues[] = { "true", "True", "TRUE", NULL };
    static const char *const falses[] = { "false", "False", "FALSE", NULL };
    static const char *const infs[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf",
                                        "+.INF", NULL };
    static const char *const ninfs[] = { "-.inf", "-.Inf", "-.INF", NULL };
    static const char *const nans[] = { ".nan", ".NaN", ".NAN", NULL };
    uint64_t u;
    double d;
    int over;

    if (len == 0 || is_one_of(s, len, nulls))
        return R_NULL;
    if (is_one_of(s, len, trues))
        return R_TRUE;
    if (is_one_of(s, len, falses))
        return R_FALSE;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
        if (!parse_digits(s + 2, len - 2, s[1] == 'x' ? 16 : 8, &u, &d, &over))
            return R_STR;
        if (over || u > (uint64_t)LUA_MAXINTEGER) {
            *fv = (lua_Number)d;
            return R_BIGINT;
        }
        *iv = (lua_Integer)u;
        return R_INT;
    }
    {
        size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
        int neg = s[0] == '-';
        if (parse_digits(s + i, len - i, 10, &u, &d, &over)) {
            uint64_t lim = (uint64_t)LUA_MAXINTEGER + (neg ? 1u : 0u);
            if (over || u > lim) {
                *fv = c_strtod(s, len);
                return R_BIGINT;
            }
            *iv = neg ? (lua_Integer)(0 - u) : (lua_Integer)u;
            return R_INT;
        }
    }
    if (is_float_text(s, len)) {
        *fv = c_strtod(s, len);
        return R_FLOAT;
    }
    if (is_one_of(s, len, infs)) {
        *fv = HUGE_VAL;
        return R_FLOAT;
    }
    if (is_one_of(s, len, ninfs)) {
        *fv = -HUGE_VAL;
        return R_FLOAT;
    }
    if (is_one_of(s, len, nans)) {
        *fv = NAN;
        return R_FLOAT;
    }
    return R_STR;
}

/* ------------------------------------------------------------------ */
/* Text positions: libyaml breaks lines at LF, CR, CRLF, NEL, LS, PS   */
/* and counts columns in characters.                                    */

static size_t break_width(const unsigned char *p, size_t left)
{
    if (p[0] == '\n')
        return 1;
    if (p[0] == '\r')
        return (left > 1 && p[1] == '\n') ? 2 : 1;
    if (left > 1 && p[0] == 0xC2 && p[1] == 0x85)
        return 2;
    if (left > 2 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9))
        return 3;
    return 0;
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    unsigned c = p[0], cp, min;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2; cp = c & 0x1F; min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3; cp = c & 0x0F; min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4; cp = c & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Walks buf up to byte `stop`, or to the first invalid UTF-8 byte, or to
   the character at 0-based (want_line, want_col) when want_line >= 0.
   Returns the offset reached; *line, *col are 1-based there. */
static size_t walk(const char *buf, size_t len, size_t stop, long want_line,
                   long want_col, int *line, int *col)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t i = 0;
    *line = 1;
    *col = 1;
    while (i < len && i < stop) {
        if (want_line >= 0 && *line - 1 == want_line && *col - 1 == want_col)
            break;
        size_t bw = break_width(p + i, len - i);
        if (bw) {
            i += bw;
            (*line)++;
            *col = 1;
            continue;
        }
        size_t n = utf8_len(p + i, len - i);
        if (n == 0)
            break;
        i += n;
        (*col)++;
    }
    return i;
}

/* A key or value quoted in a message: one line, at most 60 bytes. */
static void quote_text(char *out, size_t outsz, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o >= 60) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7F)
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

/* ------------------------------------------------------------------ */
/* Reader: events -> C tree -> Lua values                              */

enum { N_SCALAR, N_SEQ, N_MAP, N_ALIAS };
enum { T_NONE, T_BANG, T_STR, T_INT, T_FLOAT, T_BOOL, T_NULL, T_SEQ, T_MAP };

typedef struct node node;
struct node {
    node *next_alloc;
    node *target;       /* N_ALIAS: the anchored node */
    node **kids;        /* N_SEQ: items; N_MAP: key, value, key, value ... */
    size_t nkids, cap;
    char *text;         /* N_SCALAR, NUL-terminated; N_ALIAS: anchor name */
    size_t len;
    size_t size;        /* nodes in the expanded subtree, this one included */
    long height;        /* collection levels in the expanded subtree */
    int line, col;
    unsigned char kind, tag, plain, done;
};

typedef struct reader {
    yaml_parser_t parser;
    int have_parser;
    yaml_event_t event;
    int have_event;
    char *data;         /* file contents (load) */
    node *all;          /* every node, for freeing */
    node *root;
    node **open;        /* collections being read */
    size_t nopen, capopen;
    char *path;         /* positions path being built */
    size_t plen, pcap;
    long over;          /* levels whose segment did not fit in MAX_PATH */
    size_t expanded;    /* nodes produced through aliases so far */
} reader;

static void reader_free(reader *r)
{
    if (r->have_event) {
        yaml_event_delete(&r->event);
        r->have_event = 0;
    }
    if (r->have_parser) {
        yaml_parser_delete(&r->parser);
        r->have_parser = 0;
    }
    while (r->all) {
        node *n = r->all;
        r->all = n->next_alloc;
        free(n->kids);
        free(n->text);
        free(n);
    }
    r->root = NULL;
    free(r->open);
    r->open = NULL;
    r->nopen = r->capopen = 0;
    free(r->path);
    r->path = NULL;
    r->plen = r->pcap = 0;
    free(r->data);
    r->data = NULL;
}

static int reader_gc(lua_State *L)
{
    reader_free(luaL_checkudata(L, 1, READER_MT));
    return 0;
}

/* Frees everything, then raises "name:line:col: message" (no position when
   line is 0). Never returns. */
static int reader_fail(lua_State *L, reader *r, const char *name, int line, int col,
                       const char *fmt, ...)
{
    char msg[512], full[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(full, sizeof full, "%s:%d:%d: %s", name, line, col, msg);
    else
        snprintf(full, sizeof full, "%s: %s", name, msg);
    reader_free(r);
    lua_pushstring(L, full);
    return lua_error(L);
}

typedef struct ctx {
    lua_State *L;
    reader *r;
    const char *name;
    const char *buf;    /* the text libyaml reads (after any BOM) */
    size_t len;
    limits lim;
    int anchors;        /* stack index: anchor name -> light userdata node */
    int positions;      /* stack index */
} ctx;

#define FAIL(c, line, col, ...) reader_fail((c)->L, (c)->r, (c)->name, line, col, __VA_ARGS__)
#define OOM(c) FAIL(c, 0, 0, "out of memory")

static node *new_node(ctx *c, int kind, const yaml_mark_t *m)
{
    node *n = calloc(1, sizeof *n);
    if (!n)
        OOM(c);
    n->next_alloc = c->r->all;
    c->r->all = n;
    n->kind = (unsigned char)kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    n->size = 1;
    return n;
}

static void add_kid(ctx *c, node *n)
{
    reader *r = c->r;
    if (r->nopen == 0) {
        r->root = n;
        return;
    }
    node *p = r->open[r->nopen - 1];
    if (p->nkids == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        node **k = realloc(p->kids, cap * sizeof *k);
        if (!k)
            OOM(c);
        p->kids = k;
        p->cap = cap;
    }
    p->kids[p->nkids++] = n;
}

static void show_tag(char *out, size_t sz, const char *tag)
{
    size_t pre = strlen(YAML_CORE);
    if (strncmp(tag, YAML_CORE, pre) == 0)
        snprintf(out, sz, "!!%.60s", tag + pre);
    else
        quote_text(out, sz, tag, strlen(tag));
}

static int tag_kind(ctx *c, const yaml_char_t *utag, const yaml_mark_t *m)
{
    static const struct { const char *name; int kind; } core[] = {
        { "str", T_STR }, { "int", T_INT }, { "float", T_FLOAT }, { "bool", T_BOOL },
        { "null", T_NULL }, { "seq", T_SEQ }, { "map", T_MAP },
    };
    const char *tag = (const char *)utag;
    char shown[80];
    if (!tag)
        return T_NONE;
    if (strcmp(tag, "!") == 0)
        return T_BANG;
    if (strncmp(tag, YAML_CORE, strlen(YAML_CORE)) == 0) {
        for (size_t i = 0; i < sizeof core / sizeof core[0]; i++)
            if (strcmp(tag + strlen(YAML_CORE), core[i].name) == 0)
                return core[i].kind;
    }
    show_tag(shown, sizeof shown, tag);
    FAIL(c, (int)m->line + 1, (int)m->column + 1, "unsupported tag '%s'", shown);
    return T_NONE;
}

static void register_anchor(ctx *c, const yaml_char_t *anchor, node *n)
{
    if (!anchor)
        return;
    lua_pushstring(c->L, (const char *)anchor);
    lua_pushlightuserdata(c->L, n);
    lua_rawset(c->L, c->anchors);
}

static void on_scalar(ctx *c, yaml_event_t *e)
{
    node *n = new_node(c, N_SCALAR, &e->start_mark);
    int tag = tag_kind(c, e->data.scalar.tag, &e->start_mark);
    lua_Integer iv;
    lua_Number fv;
    n->tag = (unsigned char)tag;
    n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->len = e->data.scalar.length;
    n->text = malloc(n->len + 1);
    if (!n->text)
        OOM(c);
    memcpy(n->text, e->data.scalar.value, n->len);
    n->text[n->len] = '\0';
    n->done = 1;
    if (tag == T_SEQ || tag == T_MAP) {
        FAIL(c, n->line, n->col, "tag !!%s does not apply to a scalar",
             tag == T_SEQ ? "seq" : "map");
    }
    if (tag >= T_INT && tag <= T_NULL) {
        int k = resolve(n->text, n->len, &iv, &fv);
        int ok = (tag == T_INT && (k == R_INT || k == R_BIGINT))
              || (tag == T_FLOAT && (k == R_INT || k == R_BIGINT || k == R_FLOAT))
              || (tag == T_BOOL && (k == R_TRUE || k == R_FALSE))
              || (tag == T_NULL && k == R_NULL);
        if (!ok) {
            static const char *const names[] = { "int", "float", "bool", "null" };
            char q[80];
            quote_text(q, sizeof q, n->text, n->len);
            FAIL(c, n->line, n->col, "'%s' is not a valid !!%s", q, names[tag - T_INT]);
        }
    }
    add_kid(c, n);
    register_anchor(c, e->data.scalar.anchor, n);
}

static void on_start(ctx *c, yaml_event_t *e, int kind)
{
    reader *r = c->r;
    const yaml_char_t *t = kind == N_SEQ ? e->data.sequence_start.tag
                                         : e->data.mapping_start.tag;
    const yaml_char_t *anchor = kind == N_SEQ ? e->data.sequence_start.anchor
                                              : e->data.mapping_start.anchor;
    /* Checked as each start event arrives, before anything deeper is read:
       libyaml 0.2.5 has no depth limit of its own. */
    if ((lua_Integer)r->nopen + 1 > c->lim.max_depth) {
        FAIL(c, (int)e->start_mark.line + 1, (int)e->start_mark.column + 1,
             "nesting deeper than %lld levels (max_depth)", (long long)c->lim.max_depth);
    }
    node *n = new_node(c, kind, &e->start_mark);
    int tag = tag_kind(c, t, &e->start_mark);
    if (tag != T_NONE && tag != T_BANG && tag != (kind == N_SEQ ? T_SEQ : T_MAP)) {
        char shown[80];
        show_tag(shown, sizeof shown, (const char *)t);
        FAIL(c, n->line, n->col, "tag '%s' does not apply to a %s", shown,
             kind == N_SEQ ? "sequence" : "mapping");
    }
    add_kid(c, n);
    if (r->nopen == r->capopen) {
        size_t cap = r->capopen ? r->capopen * 2 : 16;
        node **o = realloc(r->open, cap * sizeof *o);
        if (!o)
            OOM(c);
        r->open = o;
        r->capopen = cap;
    }
    r->open[r->nopen++] = n;
    register_anchor(c, anchor, n);
}

static void on_end(ctx *c)
{
    reader *r = c->r;
    node *n = r->open[--r->nopen];
    for (size_t i = 0; i < n->nkids; i++) {
        n->size += n->kids[i]->size;
        if (n->kids[i]->height > n->height - 1)
            n->height = n->kids[i]->height + 1;
    }
    if (n->height < 1)
        n->height = 1;
    n->done = 1;
}

static void on_alias(ctx *c, yaml_event_t *e)
{
    reader *r = c->r;
    const char *name = (const char *)e->data.alias.anchor;
    int line = (int)e->start_mark.line + 1, col = (int)e->start_mark.column + 1;
    char q[80];
    quote_text(q, sizeof q, name, strlen(name));
    lua_pushstring(c->L, name);
    lua_rawget(c->L, c->anchors);
    node *t = lua_touserdata(c->L, -1);
    lua_pop(c->L, 1);
    if (!t)
        FAIL(c, line, col, "undefined alias '*%s'", q);
    if (!t->done)
        FAIL(c, line, col, "alias '*%s' refers to a node that contains it", q);
    /* Sizes of anchored subtrees are known, so a "billion laughs" file is
       refused here, in time proportional to its text, never expanded. */
    if (t->size > (size_t)c->lim.max_aliases - r->expanded)
        FAIL(c, line, col, "aliases expand to more than %lld nodes (max_aliases)",
             (long long)c->lim.max_aliases);
    if ((lua_Integer)r->nopen + t->height > c->lim.max_depth)
        FAIL(c, line, col, "nesting deeper than %lld levels (max_depth)",
             (long long)c->lim.max_depth);
    r->expanded += t->size;
    node *n = new_node(c, N_ALIAS, &e->start_mark);
    n->target = t;
    n->size = t->size;
    n->height = t->height;
    n->done = 1;
    add_kid(c, n);
}

static void syntax_error(ctx *c)
{
    yaml_parser_t *p = &c->r->parser;
    int line, col;
    char hint[256];
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        OOM(c);
        break;
    case YAML_READER_ERROR:
        walk(c->buf, c->len, p->problem_offset, -1, -1, &line, &col);
        if (p->problem_value != -1)
            FAIL(c, line, col, "%s (#%X)", p->problem, (unsigned)p->problem_value);
        FAIL(c, line, col, "%s", p->problem ? p->problem : "cannot read");
        break;
    default:
        {
            size_t at = walk(c->buf, c->len, c->len, (long)p->problem_mark.line,
                             (long)p->problem_mark.column, &line, &col);
            line = (int)p->problem_mark.line + 1;
            col = (int)p->problem_mark.column + 1;
            /* libyaml says "found character that cannot start any token". */
            if (p->error == YAML_SCANNER_ERROR && at < c->len && c->buf[at] == '\t')
                FAIL(c, line, col, "tab character used for indentation; indent with spaces");
        }
        if (p->context) {
            if (p->context_mark.line == p->problem_mark.line
                && p->context_mark.column == p->problem_mark.column)
                snprintf(hint, sizeof hint, " (%s)", p->context);
            else
                snprintf(hint, sizeof hint, " (%s at line %d, column %d)", p->context,
                         (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
        } else {
            hint[0] = '\0';
        }
        FAIL(c, line, col, "%s%s", p->problem ? p->problem : "syntax error", hint);
    }
}

static void read_events(ctx *c)
{
    reader *r = c->r;
    int docs = 0, done = 0;
    while (!done) {
        if (!yaml_parser_parse(&r->parser, &r->event))
            syntax_error(c);
        r->have_event = 1;
        yaml_event_t *e = &r->event;
        switch (e->type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                int line = (int)e->start_mark.line + 1;
                FAIL(c, line, (int)e->start_mark.column + 1,
                     "second document at line %d; a file holds exactly one", line);
            }
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_ALIAS_EVENT:
            on_alias(c, e);
            break;
        case YAML_SCALAR_EVENT:
            on_scalar(c, e);
            break;
        case YAML_SEQUENCE_START_EVENT:
            on_start(c, e, N_SEQ);
            break;
        case YAML_MAPPING_START_EVENT:
            on_start(c, e, N_MAP);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            on_end(c);
            break;
        default:
            break;
        }
        yaml_event_delete(&r->event);
        r->have_event = 0;
    }
    yaml_parser_delete(&r->parser);
    r->have_parser = 0;
}

/* Path segments: a key joins with '.', an item is [i]. Returns the length
   to restore. Paths that outgrow MAX_PATH stop growing and get no entry. */
static size_t path_push(ctx *c, const char *key, size_t klen, size_t item)
{
    reader *r = c->r;
    size_t old = r->plen;
    char num[32];
    if (!key) {
        snprintf(num, sizeof num, "[%zu]", item);
        key = num;
        klen = strlen(num);
    }
    size_t need = r->plen + klen + 2;
    if (r->over || need > MAX_PATH) {
        r->over++;
        return SIZE_MAX;
    }
    if (need > r->pcap) {
        char *p = realloc(r->path, MAX_PATH + 1);
        if (!p)
            OOM(c);
        r->path = p;
        r->pcap = MAX_PATH + 1;
    }
    if (item == 0 && r->plen > 0)
        r->path[r->plen++] = '.';
    memcpy(r->path + r->plen, key, klen);
    r->plen += klen;
    return old;
}

static void path_pop(ctx *c, size_t old)
{
    if (old == SIZE_MAX)
        c->r->over--;
    else
        c->r->plen = old;
}

static void record(ctx *c, const node *at, int is_key)
{
    lua_State *L = c->L;
    reader *r = c->r;
    if (r->over)
        return;
    luaL_checkstack(L, 4, NULL);
    lua_pushlstring(L, r->path ? r->path : "", r->plen);
    if (is_key) {
        lua_pushliteral(L, "#key");
        lua_concat(L, 2);
    }
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, at->line);
    lua_setfield(L, -2, "line");
    lua_pushinteger(L, at->col);
    lua_setfield(L, -2, "col");
    lua_rawset(L, c->positions);
}

static const node *real(const node *n)
{
    return n->kind == N_ALIAS ? n->target : n;
}

static void convert(ctx *c, const node *n, const node *at);

static void push_scalar(ctx *c, const node *n)
{
    lua_State *L = c->L;
    lua_Integer iv = 0;
    lua_Number fv = 0;
    int k;
    if (n->tag == T_STR || n->tag == T_BANG || (n->tag == T_NONE && !n->plain)) {
        lua_pushlstring(L, n->text, n->len);
        return;
    }
    k = resolve(n->text, n->len, &iv, &fv);
    if (n->tag == T_FLOAT && k == R_INT)
        fv = (lua_Number)iv, k = R_FLOAT;
    switch (k) {
    case R_NULL: lua_pushlightuserdata(L, YNULL); break;
    case R_TRUE: lua_pushboolean(L, 1); break;
    case R_FALSE: lua_pushboolean(L, 0); break;
    case R_INT: lua_pushinteger(L, iv); break;
    case R_BIGINT:
    case R_FLOAT: lua_pushnumber(L, fv); break;
    default: lua_pushlstring(L, n->text, n->len); break;
    }
}

/* Adds the pairs of mapping m to the table at the top of the stack; `seen`
   (stack index) maps each key already set to its line. Explicit pairs of
   the mapping being built report duplicates; merged ones yield to keys
   already present. */
static void add_pairs(ctx *c, const node *m, int seen, int explicit)
{
    lua_State *L = c->L;
    int tbl = lua_gettop(L);
    for (size_t i = 0; i + 1 < m->nkids; i += 2) {
        const node *kn = m->kids[i], *k = real(kn), *v = m->kids[i + 1];
        if (k->kind != N_SCALAR)
            FAIL(c, kn->line, kn->col, "mapping keys must be scalars");
        if (k->plain && k->tag == T_NONE && k->len == 2 && memcmp(k->text, "<<", 2) == 0)
            continue;
        lua_pushlstring(L, k->text, k->len);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, seen) != LUA_TNIL) {
            if (explicit) {
                char q[80];
                quote_text(q, sizeof q, k->text, k->len);
                FAIL(c, kn->line, kn->col, "duplicate key '%s' (first at line %d)", q,
                     (int)lua_tointeger(L, -1));
            }
            lua_pop(L, 2);
            continue;
        }
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushinteger(L, kn->line);
        lua_rawset(L, seen);
        size_t old = path_push(c, k->text, k->len, 0);
        record(c, kn, 1);
        convert(c, real(v), v);
        path_pop(c, old);
        lua_rawset(L, tbl);
    }
    /* Merge keys, after the explicit pairs so that those win; earlier
       sources win over later ones. */
    for (size_t i = 0; i + 1 < m->nkids; i += 2) {
        const node *k = real(m->kids[i]), *v = m->kids[i + 1], *rv = real(v);
        if (!(k->kind == N_SCALAR && k->plain && k->tag == T_NONE && k->len == 2
              && memcmp(k->text, "<<", 2) == 0))
            continue;
        if (explicit && lua_rawgetp(L, seen, &null_sentinel) != LUA_TNIL)
            FAIL(c, m->kids[i]->line, m->kids[i]->col,
                 "duplicate key '<<' (first at line %d)", (int)lua_tointeger(L, -1));
        if (explicit) {
            lua_pop(L, 1);
            lua_pushinteger(L, m->kids[i]->line);
            lua_rawsetp(L, seen, &null_sentinel);
        }
        if (rv->kind == N_MAP) {
            add_pairs(c, rv, seen, 0);
            continue;
        }
        int ok = rv->kind == N_SEQ;
        for (size_t j = 0; ok && j < rv->nkids; j++)
            ok = real(rv->kids[j])->kind == N_MAP;
        if (!ok)
            FAIL(c, v->line, v->col,
                 "merge key '<<' needs a mapping or a sequence of mappings");
        for (size_t j = 0; j < rv->nkids; j++)
            add_pairs(c, real(rv->kids[j]), seen, 0);
    }
}

/* Pushes the Lua value of n, recording positions; `at` is where it is
   written (the alias node when n comes through one). */
static void convert(ctx *c, const node *n, const node *at)
{
    lua_State *L = c->L;
    luaL_checkstack(L, 8, NULL);
    record(c, at, 0);
    if (n->kind == N_SCALAR) {
        push_scalar(c, n);
    } else if (n->kind == N_SEQ) {
        lua_createtable(L, (int)(n->nkids < INT_MAX ? n->nkids : 0), 0);
        for (size_t i = 0; i < n->nkids; i++) {
            size_t old = path_push(c, NULL, 0, i + 1);
            convert(c, real(n->kids[i]), n->kids[i]);
            path_pop(c, old);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    } else {
        lua_newtable(L);    /* seen */
        lua_newtable(L);    /* the mapping */
        add_pairs(c, n, lua_gettop(L) - 1, 1);
        lua_remove(L, -2);
    }
}

static void check_limits_opts(lua_State *L, int idx, limits *lim)
{
    lim->max_bytes = YAML_MAX_BYTES;
    lim->max_depth = YAML_MAX_DEPTH;
    lim->max_aliases = YAML_MAX_ALIASES;
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        lua_Integer *slot = strcmp(k, "max_bytes") == 0     ? &lim->max_bytes
                          : strcmp(k, "max_depth") == 0     ? &lim->max_depth
                          : strcmp(k, "max_aliases") == 0   ? &lim->max_aliases
                          : NULL;
        if (!slot) {
            lua_pushfstring(L, "unknown option '%s'", k);
            luaL_argerror(L, idx, lua_tostring(L, -1));
        }
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0) {
            lua_pushfstring(L, "option '%s' must be a non-negative integer", k);
            luaL_argerror(L, idx, lua_tostring(L, -1));
        }
        if (slot == &lim->max_depth && lua_tointeger(L, -1) > DEPTH_CEILING) {
            lua_pushfstring(L, "option 'max_depth' must be at most %d", DEPTH_CEILING);
            luaL_argerror(L, idx, lua_tostring(L, -1));
        }
        *slot = lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
}

/* Reads buf (kept alive by the caller) with the reader box at the top of
   the stack; pushes value, positions. */
static int read_document(lua_State *L, reader *r, const char *name, const char *buf,
                         size_t len, const limits *lim)
{
    ctx c;
    int line, col;
    memset(&c, 0, sizeof c);
    c.L = L;
    c.r = r;
    c.name = name;
    c.lim = *lim;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        buf += 3, len -= 3;
    c.buf = buf;
    c.len = len;
    size_t bad = walk(buf, len, len, -1, -1, &line, &col);
    if (bad < len)
        FAIL(&c, line, col, "invalid UTF-8 (byte 0x%02X)", (unsigned)(unsigned char)buf[bad]);
    if (!yaml_parser_initialize(&r->parser))
        OOM(&c);
    r->have_parser = 1;
    yaml_parser_set_input_string(&r->parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&r->parser, YAML_UTF8_ENCODING);
    lua_newtable(L);
    c.anchors = lua_gettop(L);
    read_events(&c);
    lua_newtable(L);
    c.positions = lua_gettop(L);
    if (!r->root) {
        lua_pushlightuserdata(L, YNULL);
    } else {
        convert(&c, real(r->root), r->root);
    }
    lua_pushvalue(L, c.positions);
    reader_free(r);
    return 2;
}

static reader *new_reader(lua_State *L)
{
    reader *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, READER_MT);
    return r;
}

static int y_parse(lua_State *L)
{
    size_t len;
    limits lim;
    const char *text = luaL_checklstring(L, 1, &len);
    int oi = 3;
    const char *name = "<string>";
    if (lua_istable(L, 2))
        oi = 2;
    else
        name = luaL_optstring(L, 2, "<string>");
    check_limits_opts(L, oi, &lim);
    lua_settop(L, 3);
    reader *r = new_reader(L);
    if ((lua_Integer)len > lim.max_bytes)
        reader_fail(L, r, name, 0, 0, "document is %zu bytes, over the limit of %lld (max_bytes)",
                    len, (long long)lim.max_bytes);
    return read_document(L, r, name, text, len, &lim);
}

static int y_load(lua_State *L)
{
    limits lim;
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    check_limits_opts(L, 2, &lim);
    lua_settop(L, 2);
    reader *r = new_reader(L);
    FILE *f = fopen(path, "rb");
    if (!f)
        return reader_fail(L, r, path, 0, 0, "cannot open: %s", strerror(errno));
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > lim.max_bytes) {
        fclose(f);
        return reader_fail(L, r, path, 0, 0, "file is %lld bytes, over the limit of %lld (max_bytes)",
                           (long long)st.st_size, (long long)lim.max_bytes);
    }
    /* Read at most max_bytes + 1, so a pipe or a growing file is caught too. */
    size_t cap = 0, len = 0, limit = (size_t)lim.max_bytes + 1;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > limit)
                ncap = limit;
            if (ncap == cap)
                break;
            char *d = realloc(r->data, ncap);
            if (!d) {
                fclose(f);
                return reader_fail(L, r, path, 0, 0, "out of memory");
            }
            r->data = d;
            cap = ncap;
        }
        size_t got = fread(r->data + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err)
        return reader_fail(L, r, path, 0, 0, "cannot read: %s", strerror(err));
    if ((lua_Integer)len > lim.max_bytes)
        return reader_fail(L, r, path, 0, 0, "file is over the limit of %lld bytes (max_bytes)",
                           (long long)lim.max_bytes);
    return read_document(L, r, path, r->data ? r->data : "", len, &lim);
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */

typedef struct writer {
    yaml_emitter_t em;
    int have_em;
    char *out;
    size_t len, cap;
    char *path;
    size_t plen, pcap;
    lua_Integer max_depth;
    int visiting, ranks;    /* stack indices */
} writer;

static void writer_free(writer *w)
{
    if (w->have_em) {
        yaml_emitter_delete(&w->em);
        w->have_em = 0;
    }
    free(w->out);
    w->out = NULL;
    w->len = w->cap = 0;
    free(w->path);
    w->path = NULL;
    w->plen = w->pcap = 0;
}

static int writer_gc(lua_State *L)
{
    writer_free(luaL_checkudata(L, 1, WRITER_MT));
    return 0;
}

static int write_handler(void *data, unsigned char *buf, size_t size)
{
    writer *w = data;
    if (w->len + size > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + size)
            cap *= 2;
        char *o = realloc(w->out, cap);
        if (!o)
            return 0;
        w->out = o;
        w->cap = cap;
    }
    memcpy(w->out + w->len, buf, size);
    w->len += size;
    return 1;
}

static int writer_fail(lua_State *L, writer *w, const char *fmt, ...)
{
    char msg[512], where[160], full[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->plen)
        quote_text(where, sizeof where, w->path, w->plen);
    snprintf(full, sizeof full, "yaml.dump: %s at %s", msg, w->plen ? where : "the top level");
    writer_free(w);
    lua_pushstring(L, full);
    return lua_error(L);
}

static void wpath_push(lua_State *L, writer *w, const char *key, size_t klen, lua_Integer item,
                       size_t *old)
{
    char num[32];
    *old = w->plen;
    if (!key) {
        snprintf(num, sizeof num, "[%lld]", (long long)item);
        key = num;
        klen = strlen(num);
    }
    if (w->plen + klen + 2 > w->pcap) {
        size_t cap = (w->plen + klen + 2) * 2;
        char *p = realloc(w->path, cap);
        if (!p)
            writer_fail(L, w, "out of memory");
        w->path = p;
        w->pcap = cap;
    }
    if (item == 0 && w->plen > 0)
        w->path[w->plen++] = '.';
    memcpy(w->path + w->plen, key, klen);
    w->plen += klen;
}

static void emit(lua_State *L, writer *w, yaml_event_t *e)
{
    if (!yaml_emitter_emit(&w->em, e))
        writer_fail(L, w, "%s", w->em.problem ? w->em.problem : "emitter failed");
}

static void emit_scalar(lua_State *L, writer *w, const char *s, size_t len, int plain_ok,
                        yaml_scalar_style_t style)
{
    yaml_event_t e;
    if (!yaml_scalar_event_initialize(&e, NULL, NULL, (yaml_char_t *)s, (int)len, plain_ok, 1,
                                      style))
        writer_fail(L, w, "string is not valid UTF-8");
    emit(L, w, &e);
}

/* Whether s may be written plain: it must read back as a string under the
   1.2 core schema and under YAML 1.1 (yes/no/on/off, 1_000, 0b1, 1:30, <<,
   =, ...). The emitter still quotes it if its characters require. */
static int plain_safe(const char *s, size_t len)
{
    static const char *const words11[] = {
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON",
        "off", "Off", "OFF", NULL
    };
    lua_Integer iv;
    lua_Number fv;
    if (len == 0 || strlen(s) != len)
        return 0;
    if (resolve(s, len, &iv, &fv) != R_STR || is_one_of(s, len, words11))
        return 0;
    if (isdig(s[0]) || s[0] == '+' || s[0] == '-' || s[0] == '.' || s[0] == '<'
        || s[0] == '=' || s[0] == '~')
        return 0;
    return 1;
}

static void format_float(char *buf, size_t sz, lua_Number v)
{
    if (isnan(v)) {
        snprintf(buf, sz, ".nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, sz, v > 0 ? ".inf" : "-.inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sz, "%.*g", prec, (double)v);
        if (strtod(buf, NULL) == (double)v)
            break;
    }
    {
        char dp = localeconv()->decimal_point[0], *p = strchr(buf, dp);
        if (dp != '.' && p)
            *p = '.';
    }
    if (!strchr(buf, '.') && !strchr(buf, 'n') && !strchr(buf, 'i')) {
        /* "1" -> "1.0", "1e+20" -> "1.0e+20": a float for 1.2 and 1.1 readers. */
        char *e = strchr(buf, 'e');
        char tail[40];
        snprintf(tail, sizeof tail, "%s", e ? e : "");
        if (e)
            *e = '\0';
        size_t n = strlen(buf);
        snprintf(buf + n, sz - n, ".0%s", tail);
    }
}

typedef struct keyent {
    const char *s;
    size_t len;
    lua_Integer rank;
} keyent;

static int key_cmp(const void *a, const void *b)
{
    const keyent *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static void emit_value(lua_State *L, writer *w, int idx, lua_Integer depth);

static void emit_table(lua_State *L, writer *w, int t, lua_Integer depth)
{
    yaml_event_t e;
    lua_Integer count = 0;
    int is_seq = 1, all_str = 1;
    /* The root collection is level 1, as when reading. */
    if (depth >= w->max_depth)
        writer_fail(L, w, "nesting deeper than %lld levels (max_depth)", (long long)w->max_depth);
    lua_pushvalue(L, t);
    if (lua_rawget(L, w->visiting) != LUA_TNIL)
        writer_fail(L, w, "cycle: the table contains itself");
    lua_pop(L, 1);
    lua_pushvalue(L, t);
    lua_pushboolean(L, 1);
    lua_rawset(L, w->visiting);

    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        count++;
        if (lua_type(L, -1) != LUA_TSTRING)
            all_str = 0;
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
            is_seq = 0;
    }
    if (is_seq && count > 0 && (lua_Integer)lua_rawlen(L, t) != count)
        is_seq = 0;
    /* With integer keys only, check every 1..count is there. */
    for (lua_Integer i = 1; is_seq && i <= count; i++) {
        if (lua_rawgeti(L, t, i) == LUA_TNIL)
            is_seq = 0;
        lua_pop(L, 1);
    }

    if (count == 0 || is_seq) {
        yaml_sequence_start_event_initialize(&e, NULL, NULL, 1,
                                             count ? YAML_BLOCK_SEQUENCE_STYLE
                                                   : YAML_FLOW_SEQUENCE_STYLE);
        emit(L, w, &e);
        for (lua_Integer i = 1; i <= count; i++) {
            size_t old;
            wpath_push(L, w, NULL, 0, i, &old);
            lua_rawgeti(L, t, i);
            emit_value(L, w, lua_gettop(L), depth + 1);
            lua_pop(L, 1);
            w->plen = old;
        }
        yaml_sequence_end_event_initialize(&e);
        emit(L, w, &e);
    } else {
        if (!all_str) {
            lua_pushnil(L);
            while (lua_next(L, t)) {
                lua_pop(L, 1);
                if (lua_type(L, -1) != LUA_TSTRING)
                    writer_fail(L, w, "mapping key of type %s is not a string",
                                luaL_typename(L, -1));
            }
        }
        keyent *keys = lua_newuserdatauv(L, (size_t)count * sizeof *keys, 0);
        int ki = lua_gettop(L);
        lua_Integer n = 0;
        lua_pushnil(L);
        while (lua_next(L, t)) {
            lua_pop(L, 1);
            keys[n].s = lua_tolstring(L, -1, &keys[n].len);
            keys[n].rank = LUA_MAXINTEGER;
            if (w->ranks) {
                lua_pushvalue(L, -1);
                if (lua_rawget(L, w->ranks) == LUA_TNUMBER)
                    keys[n].rank = lua_tointeger(L, -1);
                lua_pop(L, 1);
            }
            n++;
        }
        qsort(keys, (size_t)n, sizeof *keys, key_cmp);
        yaml_mapping_start_event_initialize(&e, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        emit(L, w, &e);
        for (lua_Integer i = 0; i < n; i++) {
            size_t old;
            wpath_push(L, w, keys[i].s, keys[i].len, 0, &old);
            emit_scalar(L, w, keys[i].s, keys[i].len, plain_safe(keys[i].s, keys[i].len),
                        plain_safe(keys[i].s, keys[i].len) ? YAML_PLAIN_SCALAR_STYLE
                                                           : YAML_SINGLE_QUOTED_SCALAR_STYLE);
            lua_pushlstring(L, keys[i].s, keys[i].len);
            lua_rawget(L, t);
            emit_value(L, w, lua_gettop(L), depth + 1);
            lua_pop(L, 1);
            w->plen = old;
        }
        yaml_mapping_end_event_initialize(&e);
        emit(L, w, &e);
        lua_remove(L, ki);
    }
    lua_pushvalue(L, t);
    lua_pushnil(L);
    lua_rawset(L, w->visiting);
}

static void emit_value(lua_State *L, writer *w, int idx, lua_Integer depth)
{
    char buf[64];
    size_t len;
    const char *s;
    luaL_checkstack(L, 10, NULL);
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        s = lua_toboolean(L, idx) ? "true" : "false";
        emit_scalar(L, w, s, strlen(s), 1, YAML_PLAIN_SCALAR_STYLE);
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            snprintf(buf, sizeof buf, LUA_INTEGER_FMT, lua_tointeger(L, idx));
        else
            format_float(buf, sizeof buf, lua_tonumber(L, idx));
        emit_scalar(L, w, buf, strlen(buf), 1, YAML_PLAIN_SCALAR_STYLE);
        break;
    case LUA_TSTRING:
        s = lua_tolstring(L, idx, &len);
        /* The emitter falls back to double quotes where these do not fit. */
        if (memchr(s, '\n', len))
            emit_scalar(L, w, s, len, 0, YAML_LITERAL_SCALAR_STYLE);
        else if (plain_safe(s, len))
            emit_scalar(L, w, s, len, 1, YAML_PLAIN_SCALAR_STYLE);
        else
            emit_scalar(L, w, s, len, 0, YAML_SINGLE_QUOTED_SCALAR_STYLE);
        break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == YNULL) {
            emit_scalar(L, w, "null", 4, 1, YAML_PLAIN_SCALAR_STYLE);
            break;
        }
        writer_fail(L, w, "cannot write a userdata");
        break;
    case LUA_TTABLE:
        emit_table(L, w, idx, depth);
        break;
    default:
        writer_fail(L, w, "cannot write a %s", luaL_typename(L, idx));
    }
}

/* Pushes the YAML text of the value at index 1; options at index 2. */
static void dump_value(lua_State *L)
{
    yaml_event_t e;
    lua_Integer max_depth = YAML_MAX_DEPTH;
    int ranks = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            if (strcmp(k, "key_order") == 0) {
                if (!lua_istable(L, -1))
                    luaL_argerror(L, 2, "option 'key_order' must be a list of strings");
            } else if (strcmp(k, "max_depth") == 0) {
                if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0
                    || lua_tointeger(L, -1) > DEPTH_CEILING)
                    luaL_argerror(L, 2, "option 'max_depth' must be an integer in [0, 10000]");
                max_depth = lua_tointeger(L, -1);
            } else {
                lua_pushfstring(L, "unknown option '%s'", k);
                luaL_argerror(L, 2, lua_tostring(L, -1));
            }
            lua_pop(L, 1);
        }
    }
    writer *w = lua_newuserdatauv(L, sizeof *w, 0);
    memset(w, 0, sizeof *w);
    luaL_setmetatable(L, WRITER_MT);
    w->max_depth = max_depth;
    lua_newtable(L);
    w->visiting = lua_gettop(L);
    if (lua_istable(L, 2) && lua_getfield(L, 2, "key_order") == LUA_TTABLE) {
        int order = lua_gettop(L);
        lua_newtable(L);
        ranks = lua_gettop(L);
        for (lua_Integer i = 1; lua_rawgeti(L, order, i) == LUA_TSTRING; i++) {
            lua_pushinteger(L, i);
            lua_rawset(L, ranks);
        }
        lua_pop(L, 1);
    }
    w->ranks = ranks;
    if (!yaml_emitter_initialize(&w->em))
        writer_fail(L, w, "out of memory");
    w->have_em = 1;
    yaml_emitter_set_output(&w->em, write_handler, w);
    yaml_emitter_set_unicode(&w->em, 1);
    yaml_emitter_set_width(&w->em, -1);
    yaml_emitter_set_indent(&w->em, 2);
    yaml_stream_start_event_initialize(&e, YAML_UTF8_ENCODING);
    emit(L, w, &e);
    yaml_document_start_event_initialize(&e, NULL, NULL, NULL, 1);
    emit(L, w, &e);
    if (lua_isnoneornil(L, 1))
        writer_fail(L, w, "cannot write nil (use yaml.null)");
    emit_value(L, w, 1, 0);
    yaml_document_end_event_initialize(&e, 1);
    emit(L, w, &e);
    yaml_stream_end_event_initialize(&e);
    emit(L, w, &e);
    if (!yaml_emitter_flush(&w->em))
        writer_fail(L, w, "out of memory");
    lua_pushlstring(L, w->out ? w->out : "", w->len);
    writer_free(w);
}

static int y_dump(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 2);
    dump_value(L);
    return 1;
}

static int y_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    nnl_check_write(L, path, 0);
    size_t len;
    luaL_checkany(L, 2);
    lua_settop(L, 3);
    lua_rotate(L, 1, -1);   /* value, opts, path */
    dump_value(L);
    const char *text = lua_tolstring(L, -1, &len);
    if (nn_file_write_atomic(path, text, len) != NN_OK)
        return luaL_error(L, "%s", nn_last_error());
    return 0;
}

int nnrun_yaml_open(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        { "load", y_load }, { "parse", y_parse }, { "dump", y_dump }, { "write", y_write },
        { NULL, NULL },
    };
    if (luaL_newmetatable(L, READER_MT)) {
        lua_pushcfunction(L, reader_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, reader_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, WRITER_MT)) {
        lua_pushcfunction(L, writer_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, writer_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    lua_pushlightuserdata(L, YNULL);
    lua_setfield(L, -2, "null");
    return 1;
}
