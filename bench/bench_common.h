/* bench_common.h — timing, statistics and JSON-lines output shared by the
 * benchmarks.  Header-only: each benchmark is one executable. */
#ifndef NN_BENCH_COMMON_H
#define NN_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The 1-minute load average (-1 if unknown): on a shared machine a value
 * near or above the core count means other work competed with the run. */
static double bench_loadavg(void)
{
    double v = -1.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &v) != 1)
            v = -1.0;
        fclose(f);
    }
    return v;
}

static int bench_cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench_stats {
    double median, min, max;
} bench_stats;

/* Sorts v in place. */
static bench_stats bench_summarise(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    bench_stats s;
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return s;
}

/* One JSON object per line.  key_name is "shape" or "model"; batch < 0
 * leaves the batch field out; extra (may be NULL) is appended verbatim,
 * e.g. "\"note\":\"...\"". */
static void bench_json(FILE *f, const char *bench, const char *impl, const char *key_name,
                       const char *key, long batch, int threads, bench_stats s, const char *unit,
                       const char *extra)
{
    if (!f)
        return;
    fprintf(f, "{\"bench\":\"%s\",\"impl\":\"%s\",\"%s\":\"%s\",", bench, impl, key_name, key);
    if (batch >= 0)
        fprintf(f, "\"batch\":%ld,", batch);
    fprintf(f, "\"threads\":%d,\"median\":%.6g,\"min\":%.6g,\"max\":%.6g,\"unit\":\"%s\"", threads,
            s.median, s.min, s.max, unit);
    if (extra && *extra)
        fprintf(f, ",%s", extra);
    fprintf(f, "}\n");
    fflush(f);
}

/* --out FILE and --reps N from argv; anything else is a usage error. */
static int bench_args(int argc, char **argv, const char **out, int *reps)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            *out = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc && atoi(argv[i + 1]) >= 5)
            *reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--out FILE.jsonl] [--reps N>=5]\n", argv[0]);
            return 2;
        }
    }
    return 0;
}

#endif
