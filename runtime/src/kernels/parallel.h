/* parallel.h — element-wise work split over the OpenMP team, and the
 * team's guard against a busy neighbour.
 *
 * nn_parallel_range(n, grain, fn, ctx) calls fn(lo, hi, ctx) over disjoint
 * contiguous chunks covering [0, n).  Each index belongs to exactly one
 * call, and fn must compute every index on its own (no sums across
 * indices), so the result is the same, bit for bit, for any split and any
 * thread count.  Below 2 * grain indices, with one thread, or when called
 * inside a parallel region, it is one serial call on the calling thread: starting a team costs a microsecond or two, more than small
 * loops take.  No allocation; fn must not allocate, call Lua or fail.
 *
 * A busy neighbour.  When another process holds one of the cores, a team
 * member is descheduled for whole time slices (milliseconds) and every
 * parallel region waits for it: at its start (the member starts late) and
 * at its join (the member was preempted inside its share); with a dozen
 * regions per training step that made two threads 2 to 80 times slower than
 * one.  So every parallel region of the runtime (these ranges and the
 * products of gemm.c) asks nn_team_size() how many threads to start and
 * reports, after it ran, its wall time and the part of it the master spent
 * waiting for the others at barriers and the join (nn_team_clock).  When over a window of regions
 * (WINDOW_SECONDS of wall time or WINDOW_REGIONS regions) the waiting
 * is more than half of the wall time, two threads cannot beat one (the
 * master did less than half of a region's time of work), and the regions
 * run on one thread for a while: 50 ms, doubled after each probe that
 * finds the contention still there (up to 1 s), back to 50 ms after a
 * window without it.  Before such a probe (which costs a time slice when
 * the contention is still there) the guard reads how many tasks the
 * kernel has running (Linux: /proc/loadavg, less this process's own running
 * threads, from /proc/self/task); while they leave fewer CPUs free than
 * the team needs, it stays on one thread for another 50 ms.  It looks
 * also every 50 ms while the team runs, so a neighbour that was there
 * when a run starts is seen before any region waits for it; a running team
 * stops only when two looks 1 ms apart both see the CPUs taken
 * (nn_team_policy_look), not for a task that ran for an instant.  The thread count only changes which thread computes
 * an element, never how, so results are bitwise the same whatever the
 * guard decides; only speed depends on it.
 *
 * NNRUN_TEAM_GUARD=off in the environment turns the guard and the rate
 * check below off (for the benchmarks' before/after rows).
 *
 * The policy is a pure function of the reported times and a clock passed
 * in (nn_team_policy_*), so tests drive it without depending on timing.
 */
#ifndef NN_PARALLEL_H
#define NN_PARALLEL_H

#include <stdint.h>

typedef void (*nn_range_fn)(int64_t lo, int64_t hi, void *ctx);
void nn_parallel_range(int64_t n, int64_t grain, nn_range_fn fn, void *ctx);

/* Element counts below which element-wise loops stay on one thread. */
#define NN_GRAIN_ELEMENTS 16384

/* The guard's state (one global instance; tests may make their own). */
typedef struct nn_team_policy {
    double serial_until; /* regions run on one thread until this time */
    double backoff;      /* the next serial period */
    double win_wall, win_wait;
    int win_regions;
    int probing; /* the window follows a serial period */
    int suspect; /* the last look at the run queue saw the CPUs taken */
} nn_team_policy;

void nn_team_policy_init(nn_team_policy *p);
/* Threads a region that could use `want` should start at time `now`. */
int nn_team_policy_size(const nn_team_policy *p, int want, double now);
/* A region of several threads ended at `now`: it took `wall` seconds, of
 * which the master waited `wait` for the others. */
void nn_team_policy_note(nn_team_policy *p, double wall, double wait, double now);
/* Another BACKOFF_MIN on one thread from `now` (the CPUs are still taken:
 * see nn_team_size), without growing the backoff. */
void nn_team_policy_extend(nn_team_policy *p, double now);

/* A look at the run queue at `now` (see nn_team_size): `taken` says that
 * the other runnable tasks leave fewer CPUs free than the team needs,
 * `leaving` that a serial period has just ended.  Returns the seconds to
 * the next look.  CPUs taken at the end of a serial period, or at two
 * looks in a row, give another BACKOFF_MIN on one thread; taken at one
 * look of a running team, they are looked at again 1 ms later: a task
 * that ran for an instant (a kernel thread, a short command) cost the
 * team 50 ms on one thread; a busy neighbour is still there. */
double nn_team_policy_look(nn_team_policy *p, int taken, int leaving, double now);

/* The rate check.  A neighbour the kernel does not show (a hypervisor's
 * other guests on the host thread behind a vCPU, a sibling hyperthread)
 * can make a team slower than one thread with no wait long enough for the
 * guard above to see.  So the training loop reports each step (its work, a
 * number that is equal for steps of equal cost; its wall time), and
 * every so often the next steps run on the other choice (one thread or the
 * team) and then on the current one again, a window of RATE_STEPS_MIN to
 * RATE_STEPS_MAX equal steps each (the first step of a window, which pays
 * for the switch, not counted); when the other's median step is more than
 * RATE_MARGIN faster, it becomes the choice.  A trial that keeps the choice
 * doubles the time to the next (RUN_MIN to RUN_MAX), one that changes it
 * starts again from RUN_MIN; and the next trial waits at least RATE_COST
 * times the last one's length (long steps make long trials).  Only speed
 * depends on it. */
#define NN_RATE_STEPS_MAX 16
typedef struct nn_rate_policy {
    int solo;   /* the choice: 1 = regions on one thread */
    int phase;  /* 0 running the choice, 1 trying the other, 2 the choice again */
    double next, run; /* phase 0: the next trial starts at `next` (0: unset) */
    double trial_start;
    int64_t work;     /* the window's step size */
    int n, skipped;
    double t[NN_RATE_STEPS_MAX], sum;
    double other; /* the other choice's median step */
} nn_rate_policy;

void nn_rate_policy_init(nn_rate_policy *p);
/* Whether regions run on one thread now (the choice, or its trial). */
int nn_rate_policy_solo(const nn_rate_policy *p);
/* A step of `work` took `seconds`, ending at `now`. */
void nn_rate_policy_step(nn_rate_policy *p, int64_t work, double seconds, double now);

/* The global guard, for the runtime's regions (thread-safe: a lost update
 * only shifts a heuristic). */
int nn_team_size(int want);
void nn_team_note(double wall, double wait);
/* A training step of `work` (equal for steps of equal cost) ended: the
 * global rate check times it from the end of the step before (nothing
 * with one thread, with NNRUN_TEAM_GUARD=off, or when no region since
 * asked for a team: a tiny network pays no clock).  nn_team_step_at feeds
 * the check a step's time directly, for tests. */
void nn_team_step(int64_t work);
void nn_team_step_at(int64_t work, double seconds, double now);
/* Forgets what the rate check chose (nn_set_threads calls it when the
 * count changes: a choice made for another team size says nothing). */
void nn_team_rate_reset(void);
/* How many threads of this process are running or runnable now (Linux:
 * state R in /proc/self/task/<tid>/stat; -1 elsewhere or unreadable).  The
 * guard subtracts them from the machine's running count to see the
 * neighbours. */
int nn_team_own_running(void);
/* A monotonic clock in seconds, for the region timings. */
double nn_team_now(void);
/* For tests: 1 makes every region run on one thread until called with 0
 * (which also resets the guard and the rate check). */
void nn_team_force_serial(int on);

/* Timing one region on its master thread: nn_team_region_begin before the
 * fork; around each barrier inside, nn_team_wait_begin / _end; when its own
 * work is done, nn_team_wait_begin again; after the join,
 * nn_team_region_end reports the wall time and the sum of the waits.  A
 * member that starts late or is preempted shows as the master's wait at
 * the next barrier or at the join. */
typedef struct nn_team_clock {
    double t_fork, t_wait, waited;
} nn_team_clock;
void nn_team_region_begin(nn_team_clock *c);
void nn_team_wait_begin(nn_team_clock *c);
void nn_team_wait_end(nn_team_clock *c);
void nn_team_region_end(nn_team_clock *c);

#endif
