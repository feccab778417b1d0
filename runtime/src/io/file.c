/* file.c — reading data files through zlib (plain or gzip, detected from the
 * content), writing files atomically (nn_file_write_atomic: the one writer
 * of every file nnrun writes whole), and the error text helpers shared by
 * the I/O code. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
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

nn_status nn_rfile_rewind(nn_rfile *f)
{
    errno = 0;
    if (gzrewind(f->gz) != 0) {
        char msg[128];
        nn_errno_text(errno ? errno : ESPIPE, msg, sizeof msg);
        return nn_fail(NN_EIO, "%s: cannot read the file a second time (%s); a pipe cannot be read as CSV data",
                       f->path, msg);
    }
    return NN_OK;
}

/* ---- injectable I/O (tests) ------------------------------------------- */

static long io_fail_at, io_calls;
static int io_err;

void nn_io_fail_at(long k, int err)
{
    io_fail_at = k;
    io_err = err;
    io_calls = 0;
}
long nn_io_calls(void) { return io_calls; }

static int injected(void)
{
    io_calls++;
    if (io_fail_at > 0 && io_calls == io_fail_at) {
        errno = io_err;
        return 1;
    }
    return 0;
}
static int x_open(const char *p, int flags, mode_t mode) { return injected() ? -1 : open(p, flags, mode); }
static ssize_t x_write(int fd, const void *b, size_t n) { return injected() ? -1 : write(fd, b, n); }
static int x_fsync(int fd) { return injected() ? -1 : fsync(fd); }
static int x_close(int fd)
{
    if (injected()) {
        close(fd);
        return -1;
    }
    return close(fd);
}
static int x_rename(const char *a, const char *b) { return injected() ? -1 : rename(a, b); }

/* ---- atomic writes ------------------------------------------------------ */

/* The pid in a temporary name's suffix "<pid>" or "<pid>.<n>" (what follows
 * ".tmp."), or 0 when the suffix is not one. */
static long temp_pid(const char *suffix)
{
    char *end;
    if (*suffix < '1' || *suffix > '9')
        return 0;
    errno = 0;
    const long pid = strtol(suffix, &end, 10);
    if (errno || pid <= 0)
        return 0;
    if (*end == '.') {
        const char *n = end + 1;
        if (*n < '0' || *n > '9')
            return 0;
        strtoul(n, &end, 10);
    }
    return *end ? 0 : pid;
}

/* Removes from dir the temporary files of base ("<base>.tmp.<pid>[.<n>]";
 * any base when base is NULL) whose writer is gone: its pid is no longer a
 * process, or it is owner (a pid known to have stopped writing here, which
 * the system may have reused).  Never this process's own.  Returns the
 * count removed. */
static int remove_stale(const char *dir, const char *base, long owner)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    const size_t blen = base ? strlen(base) : 0;
    const long self = (long)getpid();
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        const char *name = e->d_name, *tmp;
        if (base) {
            if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp.", 5) != 0)
                continue;
            tmp = name + blen;
        } else {
            tmp = strstr(name, ".tmp.");
            while (tmp && strstr(tmp + 1, ".tmp."))
                tmp = strstr(tmp + 1, ".tmp.");
            if (!tmp || tmp == name)
                continue;
        }
        const long pid = temp_pid(tmp + 5);
        if (pid == 0 || pid == self)
            continue;
        if (pid != owner && (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue;
        const size_t n = strlen(dir) + strlen(name) + 2;
        char *full = nn_xalloc(n);
        if (!full)
            break;
        snprintf(full, n, "%s/%s", dir, name);
        removed += unlink(full) == 0;
        nn_xfree(full);
    }
    closedir(d);
    return removed;
}

int nn_file_remove_stale_temps(const char *dir, long owner)
{
    return dir && *dir ? remove_stale(dir, NULL, owner) : 0;
}

static nn_status write_error(const char *path, const char *what, int err)
{
    char m[128];
    nn_errno_text(err, m, sizeof m);
    return nn_fail(NN_EIO, "%s: %s: %s", path, what, m);
}

nn_status nn_file_write_atomic(const char *path, const void *data, size_t n)
{
    static atomic_ulong counter;
    if (!path || !*path)
        return nn_fail(NN_EINVAL, "write: the file name is empty");
    if (!data && n > 0)
        return nn_fail(NN_EINVAL, "%s: write: data is NULL", path);
    const size_t plen = strlen(path);
    char *tmp = nn_xalloc(plen + 48), *dir = nn_xalloc(plen + 2);
    nn_status s = NN_OK;
    int fd = -1, created = 0, renamed = 0;
    if (!tmp || !dir) {
        s = nn_oom(path);
        goto done;
    }
    /* The directory (to clean and fsync): path up to its last '/'. */
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = 0;
    }
    if (!*base) {
        s = nn_fail(NN_EINVAL, "%s: write: not a file name", path);
        goto done;
    }
    /* What a killed writer left of this file goes first. */
    remove_stale(dir, base, 0);
    /* A name no other writer (thread or process) uses: pid and a counter;
     * O_EXCL refuses a leftover of the same name. */
    for (int tries = 0; fd < 0; tries++) {
        snprintf(tmp, plen + 48, "%s.tmp.%ld.%lu", path, (long)getpid(),
                 (unsigned long)atomic_fetch_add(&counter, 1));
        fd = x_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && (errno != EEXIST || tries >= 100)) {
            s = write_error(path, "cannot write", errno);
            goto done;
        }
    }
    created = 1;
    const uint8_t *p = data;
    for (size_t left = n; left > 0;) {
        /* At most 1 MiB per call. */
        const ssize_t r = x_write(fd, p, left < ((size_t)1 << 20) ? left : ((size_t)1 << 20));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            s = write_error(path, "cannot write", r < 0 ? errno : ENOSPC);
            goto done;
        }
        p += r;
        left -= (size_t)r;
    }
    if (x_fsync(fd) != 0) {
        s = write_error(path, "cannot write", errno);
        goto done;
    }
    const int cfd = fd;
    fd = -1;
    if (x_close(cfd) != 0) {
        s = write_error(path, "cannot write", errno);
        goto done;
    }
    if (x_rename(tmp, path) != 0) {
        s = write_error(path, "cannot write (renaming the temporary file over it)", errno);
        goto done;
    }
    renamed = 1;
    /* Make the rename itself durable.  The new file is in place whatever
     * happens now; the message says so. */
    const int dfd = x_open(dir, O_RDONLY | O_CLOEXEC, 0);
    if (dfd < 0) {
        s = write_error(path, "written, but its directory cannot be opened to fsync it", errno);
        goto done;
    }
    if (x_fsync(dfd) != 0 && errno != EINVAL) {
        s = write_error(path, "written, but the fsync of its directory failed", errno);
        close(dfd);
        goto done;
    }
    close(dfd);
done:
    if (fd >= 0)
        close(fd);
    if (s && created && !renamed)
        unlink(tmp);
    nn_xfree(tmp);
    nn_xfree(dir);
    return s;
}
