/* file.c — reading data files through zlib (plain or gzip, detected from the
 * content), and the error text helpers shared by the I/O code. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "io/io.h"

struct nn_rfile {
    gzFile gz;
    char *path;
};

void nn_errno_text(int err, char *buf, size_t size)
{
    /* The POSIX strerror_r (this file defines _POSIX_C_SOURCE, not
     * _GNU_SOURCE) fills buf and returns 0. */
    if (strerror_r(err, buf, size) != 0)
        snprintf(buf, size, "error %d", err);
}

static char *dup_str(const char *s)
{
    const size_t n = strlen(s) + 1;
    char *p = nn_xalloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

nn_status nn_rfile_open(const char *path, nn_rfile **out)
{
    *out = NULL;
    if (!path || !*path)
        return nn_fail(NN_EINVAL, "file name is empty");
    nn_rfile *f = nn_xcalloc(1, sizeof *f);
    if (!f || !(f->path = dup_str(path))) {
        nn_xfree(f);
        return nn_oom(path);
    }
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz) {
        char msg[128];
        nn_errno_text(errno ? errno : ENOMEM, msg, sizeof msg);
        nn_rfile_close(f);
        return nn_fail(NN_EIO, "%s: cannot open: %s", path, msg);
    }
    *out = f;
    return NN_OK;
}

void nn_rfile_close(nn_rfile *f)
{
    if (!f)
        return;
    if (f->gz)
        gzclose_r(f->gz);
    nn_xfree(f->path);
    nn_xfree(f);
}

static nn_status read_error(nn_rfile *f)
{
    int zerr = 0;
    const char *zmsg = gzerror(f->gz, &zerr);
    if (zerr == Z_ERRNO) {
        char msg[128];
        nn_errno_text(errno, msg, sizeof msg);
        return nn_fail(NN_EIO, "%s: cannot read: %s", f->path, msg);
    }
    return nn_fail(NN_EFORMAT, "%s: corrupt gzip data: %s", f->path,
                   zmsg && *zmsg ? zmsg : "unknown error");
}

nn_status nn_rfile_read(nn_rfile *f, void *buf, int64_t n, int64_t *got)
{
    *got = 0;
    uint8_t *p = buf;
    while (*got < n) {
        /* gzread counts in unsigned int: read in chunks of at most 1 GiB. */
        const int64_t left = n - *got;
        const unsigned chunk = (unsigned)(left < (1 << 30) ? left : (1 << 30));
        errno = 0;
        const int r = gzread(f->gz, p + *got, chunk);
        if (r < 0)
            return read_error(f);
        if (r == 0) {
            /* A clean end, or a gzip stream cut short: gzread reports the
             * latter as an error only on this call. */
            int zerr = 0;
            gzerror(f->gz, &zerr);
            if (zerr != Z_OK && zerr != Z_STREAM_END)
                return read_error(f);
            break;
        }
        *got += r;
    }
    return NN_OK;
}

nn_status nn_rfile_read_all(nn_rfile *f, int64_t max, uint8_t **buf, int64_t *got)
{
    *buf = NULL;
    *got = 0;
    int64_t cap = max < ((int64_t)1 << 24) ? max : ((int64_t)1 << 24);
    if (cap < 1)
        cap = 1;
    uint8_t *b = nn_xalloc((size_t)cap);
    if (!b)
        return nn_oom(f->path);
    int64_t have = 0;
    for (;;) {
        int64_t n;
        nn_status s = nn_rfile_read(f, b + have, (cap < max ? cap : max) - have, &n);
        if (s) {
            nn_xfree(b);
            return s;
        }
        have += n;
        if (have < cap || cap >= max)
            break;
        /* The buffer is full and more may follow: double it (up to max). */
        const int64_t ncap = cap > max / 2 ? max : 2 * cap;
        uint8_t *nb = nn_xalloc((size_t)ncap);
        if (!nb) {
            nn_xfree(b);
            return nn_oom(f->path);
        }
        memcpy(nb, b, (size_t)have);
        nn_xfree(b);
        b = nb;
        cap = ncap;
    }
    *buf = b;
    *got = have;
    return NN_OK;
}

nn_status nn_rfile_at_end(nn_rfile *f, int *at_end)
{
    uint8_t c;
    int64_t n;
    nn_status s = nn_rfile_read(f, &c, 1, &n);
    *at_end = n == 0;
    return s;
}
