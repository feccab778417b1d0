/* core.c — version, errors, the allocation hook, logging and threads. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "internal.h"
#include "kernels/parallel.h"

#define STR2(x) #x
#define STR(x) STR2(x)

const char *nn_version(void)
{
    return STR(NN_VERSION_MAJOR) "." STR(NN_VERSION_MINOR) "." STR(NN_VERSION_PATCH);
}

const char *nn_strerror(nn_status s)
{
    switch (s) {
    case NN_OK: return "ok";
    case NN_EINVAL: return "invalid argument";
    case NN_ESHAPE: return "shape mismatch";
    case NN_ENOMEM: return "out of memory";
    case NN_ERANGE: return "out of range";
    case NN_ESTATE: return "invalid state";
    case NN_EDIVERGED: return "training diverged";
    case NN_ECANCELLED: return "cancelled by callback";
    case NN_EIO: return "input/output error";
    case NN_EFORMAT: return "malformed file";
    }
    return "unknown status";
}

static _Thread_local char last_error[512];

const char *nn_last_error(void) { return last_error; }

nn_status nn_fail(nn_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

nn_status nn_oom(const char *what) { return nn_fail(NN_ENOMEM, "%s: out of memory", what); }

/* ---- allocation hook ---- */

static void *default_alloc(size_t size, void *user)
{
    (void)user;
    return malloc(size);
}
static void default_release(void *p, void *user)
{
    (void)user;
    free(p);
}
static nn_allocator allocator = {default_alloc, default_release, NULL};

void nn_set_allocator(const nn_allocator *a)
{
    if (a && a->alloc && a->release)
        allocator = *a;
    else
        allocator = (nn_allocator){default_alloc, default_release, NULL};
}

void *nn_xalloc(size_t size) { return allocator.alloc(size ? size : 1, allocator.user); }

void *nn_xcalloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = nn_xalloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void nn_xfree(void *p)
{
    if (p)
        allocator.release(p, allocator.user);
}

int nn_mul_ok(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0)
        return 0;
    if (a != 0 && b > INT64_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

/* ---- logging ---- */

static nn_log_fn log_fn;
static void *log_user;

void nn_set_log(nn_log_fn fn, void *user)
{
    log_fn = fn;
    log_user = user;
}

void nn_log(nn_log_level level, const char *fmt, ...)
{
    if (!log_fn)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(level, buf, log_user);
}

/* ---- threads ---- */

static int thread_count; /* 0: not set yet, use the OpenMP default */

nn_status nn_set_threads(int n)
{
    if (n < 1)
        return nn_fail(NN_EINVAL, "threads must be >= 1, got %d", n);
    if (n != thread_count)
        nn_team_rate_reset(); /* its choice was for the old team */
    thread_count = n;
    return NN_OK;
}

int nn_threads(void)
{
    if (thread_count > 0)
        return thread_count;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int nn_get_threads(void) { return nn_threads(); }
