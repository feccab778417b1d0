/* parallel.c — see parallel.h. */
#define _POSIX_C_SOURCE 200809L
#include "parallel.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __linux__
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#endif

#include "../internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* The guard's constants (see parallel.h). */
#define WINDOW_SECONDS 2e-3
#define WINDOW_REGIONS 32
#define WAIT_SHARE 0.5
#define BACKOFF_MIN 0.05
#define BACKOFF_MAX 1.0
#define CONFIRM_SECONDS 1e-3

/* ---- the policy --------------------------------------------------------- */

void nn_team_policy_init(nn_team_policy *p)
{
    p->serial_until = 0.0;
    p->backoff = BACKOFF_MIN;
    p->win_wall = p->win_wait = 0.0;
    p->win_regions = 0;
    p->probing = 0;
    p->suspect = 0;
}

int nn_team_policy_size(const nn_team_policy *p, int want, double now)
{
    return want > 1 && now < p->serial_until ? 1 : want;
}

void nn_team_policy_extend(nn_team_policy *p, double now)
{
    p->serial_until = now + BACKOFF_MIN;
}

double nn_team_policy_look(nn_team_policy *p, int taken, int leaving, double now)
{
    if (!taken) {
        p->suspect = 0;
        return BACKOFF_MIN;
    }
    if (leaving || p->suspect) {
        p->suspect = 0;
        nn_team_policy_extend(p, now);
        return BACKOFF_MIN;
    }
    p->suspect = 1;
    return CONFIRM_SECONDS;
}

void nn_team_policy_note(nn_team_policy *p, double wall, double wait, double now)
{
    if (now < p->serial_until) /* a region that began before the verdict */
        return;
    p->win_wall += wall;
    p->win_wait += wait;
    if (p->win_wall < WINDOW_SECONDS && ++p->win_regions < WINDOW_REGIONS)
        return;
    if (p->win_wait > WAIT_SHARE * p->win_wall) {
        /* The first verdict starts at the shortest period; a probe that
         * finds the contention still there doubles it. */
        if (p->probing && p->backoff < BACKOFF_MAX)
            p->backoff = p->backoff * 2.0 < BACKOFF_MAX ? p->backoff * 2.0 : BACKOFF_MAX;
        p->serial_until = now + p->backoff;
        p->probing = 1;
    } else {
        p->backoff = BACKOFF_MIN;
        p->probing = 0;
    }
    p->win_wall = p->win_wait = 0.0;
    p->win_regions = 0;
}

/* ---- the rate check ------------------------------------------------------ */

#define RATE_STEPS_MIN 4
#define RATE_WINDOW_SECONDS 5e-3
#define RATE_MARGIN 0.9
#define RUN_MIN 0.2
#define RUN_MAX 3.2
/* The next trial waits at least this many times the last one's length, so
 * that trials of long steps (a 25 ms step makes a 250 ms trial, half of it
 * on the worse choice) cost no more than one part in 2 * RATE_COST. */
#define RATE_COST 20.0

void nn_rate_policy_init(nn_rate_policy *p)
{
    memset(p, 0, sizeof *p);
    p->run = RUN_MIN;
}

int nn_rate_policy_solo(const nn_rate_policy *p) { return p->phase == 1 ? !p->solo : p->solo; }

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void rate_window(nn_rate_policy *p, int64_t work)
{
    p->work = work;
    p->n = 0;
    p->skipped = 0;
    p->sum = 0.0;
}

void nn_rate_policy_step(nn_rate_policy *p, int64_t work, double seconds, double now)
{
    if (p->phase == 0) {
        if (p->next == 0.0) {
            p->next = now + p->run;
        } else if (now >= p->next) {
            p->phase = 1;
            p->trial_start = now;
            rate_window(p, work);
        }
        return;
    }
    if (work != p->work) /* a step of another size: start the window again */
        rate_window(p, work);
    if (!p->skipped) { /* the first step after the switch */
        p->skipped = 1;
        return;
    }
    p->t[p->n++] = seconds;
    p->sum += seconds;
    if (p->n < NN_RATE_STEPS_MAX && (p->n < RATE_STEPS_MIN || p->sum < RATE_WINDOW_SECONDS))
        return;
    qsort(p->t, (size_t)p->n, sizeof *p->t, cmp_double);
    const double median = p->n % 2 ? p->t[p->n / 2] : 0.5 * (p->t[p->n / 2 - 1] + p->t[p->n / 2]);
    if (p->phase == 1) {
        p->other = median;
        p->phase = 2;
        rate_window(p, work);
        return;
    }
    if (p->other < RATE_MARGIN * median) {
        p->solo = !p->solo;
        p->run = RUN_MIN;
    } else {
        p->run = p->run * 2.0 < RUN_MAX ? p->run * 2.0 : RUN_MAX;
    }
    p->phase = 0;
    const double cost = RATE_COST * (now - p->trial_start);
    p->next = now + (p->run > cost ? p->run : cost);
}

/* ---- the global guard --------------------------------------------------- */

static nn_team_policy guard = {0.0, BACKOFF_MIN, 0.0, 0.0, 0, 0, 0};
/* Held while guard is updated (a region that finds it held drops its
 * sample); serial_ns mirrors guard.serial_until for lock-free reads. */
static atomic_flag guard_lock = ATOMIC_FLAG_INIT;
static _Atomic int64_t serial_ns;
static atomic_int forced_serial;
/* The rate check (its own lock: steps come from the training loop, not
 * from inside regions); rate_solo mirrors nn_rate_policy_solo. */
static nn_rate_policy rate = {0, 0, 0.0, RUN_MIN, 0.0, 0, 0, 0, {0.0}, 0.0, 0.0};
static atomic_flag rate_lock = ATOMIC_FLAG_INIT;
static atomic_int rate_solo;
/* Regions that asked for a team (nn_team_size with want > 1): a step
 * without one (a tiny network) is nothing the rate check can judge. */
static _Atomic long team_asks;
static long rate_asks;   /* team_asks at the last step */
static double rate_prev; /* when the last step ended (0: unknown) */

double nn_team_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* NNRUN_TEAM_GUARD=off (read once) turns the guard off, for measuring
 * what it saves; results do not change either way. */
static int guard_off(void)
{
    static atomic_int state; /* 0 unknown, 1 on, 2 off */
    int v = atomic_load_explicit(&state, memory_order_relaxed);
    if (v == 0) {
        const char *e = getenv("NNRUN_TEAM_GUARD");
        v = e && strcmp(e, "off") == 0 ? 2 : 1;
        atomic_store_explicit(&state, v, memory_order_relaxed);
    }
    return v == 2;
}

#if defined(__linux__) && defined(_OPENMP)
/* The first number after the third space of the small file at path (the
 * running count of /proc/loadavg: "0.52 0.58 0.59 3/187 12345"), or the
 * state letter after the ')' of a /proc task's stat line; -1 if unread. */
static long read_small(const char *path, int state)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[512];
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    if (state) { /* "tid (comm) S ...": comm may hold spaces or ')' */
        const char *q = strrchr(buf, ')');
        return q && q[1] == ' ' && q[2] ? (long)(unsigned char)q[2] : -1;
    }
    const char *q = buf;
    for (int field = 0; field < 3 && q; field++) {
        q = strchr(q, ' ');
        q = q ? q + 1 : NULL;
    }
    return q ? strtol(q, NULL, 10) : -1;
}
#endif

int nn_team_own_running(void)
{
#if defined(__linux__) && defined(_OPENMP)
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    char path[64];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%.20s/stat", e->d_name);
        n += read_small(path, 1) == 'R';
    }
    closedir(d);
    return n;
#else
    return -1;
#endif
}

/* Whether the other runnable tasks leave fewer than `want` CPUs free
 * (Linux: the running count of /proc/loadavg, less this process's own
 * running threads, counted one by one in /proc/self/task, against the
 * online CPUs).  Counting our own threads, rather than assuming the whole
 * team runs, sees a single busy neighbour while our idle members sleep
 * (it was missed until the regions had waited for it).  0 when unknown. */
static int cpus_taken(int want)
{
#if defined(__linux__) && defined(_OPENMP)
    const long running = read_small("/proc/loadavg", 0);
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const int ours = nn_team_own_running();
    if (running < 0 || cpus < 1 || ours < 1)
        return 0;
    return running - ours + want > cpus;
#else
    (void)want;
    return 0;
#endif
}

/* The next look at the run queue (ns; 0: at the next region). */
static _Atomic int64_t next_look_ns;

int nn_team_size(int want)
{
    if (want <= 1 || guard_off())
        return want;
    atomic_fetch_add_explicit(&team_asks, 1, memory_order_relaxed);
    if (atomic_load_explicit(&forced_serial, memory_order_relaxed) ||
        atomic_load_explicit(&rate_solo, memory_order_relaxed))
        return 1;
    const int64_t until = atomic_load_explicit(&serial_ns, memory_order_relaxed);
    const int64_t now_ns = (int64_t)(nn_team_now() * 1e9);
    if (now_ns < until)
        return 1;
    if (now_ns < atomic_load_explicit(&next_look_ns, memory_order_relaxed))
        return want;
    /* Every BACKOFF_MIN, and when a serial period ends (before probing
     * with a real region, which costs a time slice if the contention is
     * still there): are the CPUs taken?  Then one thread for a period
     * (nn_team_policy_look: a running team looks twice first). */
    if (atomic_flag_test_and_set_explicit(&guard_lock, memory_order_acquire))
        return until ? 1 : want;
    int n = want;
    const double now = 1e-9 * (double)now_ns;
    const double next = nn_team_policy_look(&guard, cpus_taken(want), until != 0, now);
    if (guard.serial_until > now) {
        atomic_store_explicit(&serial_ns, (int64_t)(guard.serial_until * 1e9),
                              memory_order_relaxed);
        n = 1;
    } else {
        atomic_store_explicit(&serial_ns, 0, memory_order_relaxed);
    }
    atomic_store_explicit(&next_look_ns, now_ns + (int64_t)(next * 1e9), memory_order_relaxed);
    atomic_flag_clear_explicit(&guard_lock, memory_order_release);
    return n;
}

void nn_team_note(double wall, double wait)
{
    if (atomic_flag_test_and_set_explicit(&guard_lock, memory_order_acquire))
        return;
    const double now = nn_team_now();
    nn_team_policy_note(&guard, wall, wait, now);
    if (guard.serial_until > now)
        atomic_store_explicit(&serial_ns, (int64_t)(guard.serial_until * 1e9),
                              memory_order_relaxed);
    atomic_flag_clear_explicit(&guard_lock, memory_order_release);
}

void nn_team_step_at(int64_t work, double seconds, double now)
{
    if (atomic_flag_test_and_set_explicit(&rate_lock, memory_order_acquire))
        return; /* another host thread's step is being noted */
    nn_rate_policy_step(&rate, work, seconds, now);
    atomic_store_explicit(&rate_solo, nn_rate_policy_solo(&rate), memory_order_relaxed);
    atomic_flag_clear_explicit(&rate_lock, memory_order_release);
}

void nn_team_step(int64_t work)
{
    if (nn_threads() <= 1 || guard_off())
        return;
    const long asks = atomic_load_explicit(&team_asks, memory_order_relaxed);
    if (atomic_flag_test_and_set_explicit(&rate_lock, memory_order_acquire))
        return;
    /* A step's time: from the end of the one before (what it did between
     * them, a batch gather, is its cost too; an epoch's evaluation is one
     * long step that a median leaves out). */
    const int judged = asks != rate_asks;
    const double now = judged ? nn_team_now() : 0.0, prev = rate_prev;
    rate_asks = asks;
    rate_prev = now;
    atomic_flag_clear_explicit(&rate_lock, memory_order_release);
    if (judged && prev > 0.0)
        nn_team_step_at(work, now - prev, now);
}

void nn_team_force_serial(int on)
{
    while (atomic_flag_test_and_set_explicit(&guard_lock, memory_order_acquire))
        ;
    nn_team_policy_init(&guard);
    atomic_store_explicit(&serial_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&next_look_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&forced_serial, on, memory_order_relaxed);
    atomic_flag_clear_explicit(&guard_lock, memory_order_release);
    nn_team_rate_reset();
}

void nn_team_rate_reset(void)
{
    while (atomic_flag_test_and_set_explicit(&rate_lock, memory_order_acquire))
        ;
    nn_rate_policy_init(&rate);
    rate_prev = 0.0;
    atomic_store_explicit(&rate_solo, 0, memory_order_relaxed);
    atomic_flag_clear_explicit(&rate_lock, memory_order_release);
}

void nn_team_region_begin(nn_team_clock *c)
{
    c->t_fork = c->t_wait = nn_team_now();
    c->waited = 0.0;
}

void nn_team_wait_begin(nn_team_clock *c) { c->t_wait = nn_team_now(); }

void nn_team_wait_end(nn_team_clock *c) { c->waited += nn_team_now() - c->t_wait; }

void nn_team_region_end(nn_team_clock *c)
{
    const double end = nn_team_now();
    c->waited += end - c->t_wait;
    nn_team_note(end - c->t_fork, c->waited);
}

/* ---- element-wise ranges ------------------------------------------------ */

void nn_parallel_range(int64_t n, int64_t grain, nn_range_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
#ifdef _OPENMP
    /* Inside a region (a layer run on one chunk of a convolution's, see
     * net.c): on the calling thread, without asking the guard or timing
     * a region that would not fork. */
    if (omp_in_parallel()) {
        fn(0, n, ctx);
        return;
    }
#endif
    int64_t chunks = n / grain;
    const int threads = nn_threads();
    if (chunks > threads)
        chunks = threads;
    if (chunks > 1)
        chunks = nn_team_size((int)chunks);
    if (chunks < 2) {
        fn(0, n, ctx);
        return;
    }
    nn_team_clock clk;
    nn_team_region_begin(&clk);
#pragma omp parallel num_threads((int)chunks)
    {
#ifdef _OPENMP
        const int64_t id = omp_get_thread_num(), team = omp_get_num_threads();
#else
        const int64_t id = 0, team = 1;
#endif
        const int64_t lo = n * id / team, hi = n * (id + 1) / team;
        if (lo < hi)
            fn(lo, hi, ctx);
        if (id == 0)
            nn_team_wait_begin(&clk);
    }
    nn_team_region_end(&clk);
}
