/* test_team_guard.c — the busy-neighbour guard of kernels/parallel.h.
 *
 * The policy is driven with made-up region timings and a made-up clock
 * (nothing here depends on the machine's speed or load):
 *   - regions whose master waits more than half of the wall time, over a
 *     window (2 ms of wall or 32 regions), send the team to one thread for
 *     50 ms; a probe that finds it still so doubles the period (up to 1 s);
 *     a healthy window restores 50 ms; healthy regions never do;
 *   - extend adds 50 ms without growing the backoff.
 * The rate check, driven with made-up step times and clock: the first
 * trial comes RUN_MIN (0.2 s) after the first step; a trial is a window on
 * the other choice, then one on the current choice, each skipping its
 * first step and ending after 4 steps and 5 ms (or 16 steps); the other
 * choice wins when its median is more than 10 % faster; keeping doubles
 * the time to the next trial (to 3.2 s), changing restarts it, and the
 * next waits at least 20 times the trial's length; a step of
 * another size restarts the window.  And through the global hook: a team
 * whose steps are slower than one thread's goes to one thread.
 * Then the real thing: products and element-wise ranges give the same bits
 * with the guard forcing one thread as with two threads free to run.
 * And the count of this process's running threads that the guard takes
 * from the machine's (nn_team_own_running): a thread blocked in read() is
 * not counted, a spinning one is (Linux with OpenMP; elsewhere -1).  The
 * test waits for the states it expects, never for a time.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "kernels/gemm.h"
#include "kernels/parallel.h"
#include "testutil.h"

static void policy(void)
{
    nn_team_policy p;
    nn_team_policy_init(&p);
    CHECK_INT(2, nn_team_policy_size(&p, 2, 0.0));
    CHECK_INT(1, nn_team_policy_size(&p, 1, 0.0));
    /* Healthy: 100 windows of regions waiting 20 % of their time. */
    double t = 0.0;
    for (int i = 0; i < 3200; i++) {
        t += 1e-4;
        nn_team_policy_note(&p, 1e-4, 2e-5, t);
        CHECK_INT(2, nn_team_policy_size(&p, 2, t));
    }
    /* One bad window (two 1 ms regions waiting 0.8 ms each): 50 ms on one
     * thread, the first region alone does not decide. */
    t += 1e-3;
    nn_team_policy_note(&p, 1e-3, 8e-4, t);
    CHECK_INT(2, nn_team_policy_size(&p, 2, t));
    t += 1e-3;
    nn_team_policy_note(&p, 1e-3, 8e-4, t);
    CHECK_INT(1, nn_team_policy_size(&p, 2, t));
    CHECK_INT(1, nn_team_policy_size(&p, 2, t + 0.0499));
    CHECK_INT(2, nn_team_policy_size(&p, 2, t + 0.0501));
    /* The probe finds it still bad: 100 ms, then 200, ... up to 1 s. */
    const double want[] = {0.1, 0.2, 0.4, 0.8, 1.0, 1.0};
    for (int k = 0; k < 6; k++) {
        t = p.serial_until + 1e-6;
        nn_team_policy_note(&p, 3e-3, 2e-3, t);
        CHECK_MSG(fabs(p.serial_until - t - want[k]) < 1e-9, "probe %d: serial for %g s, want %g",
                  k, p.serial_until - t, want[k]);
    }
    /* A region that began before the verdict and ends inside the serial
     * period does not count. */
    const double until = p.serial_until;
    nn_team_policy_note(&p, 1.0, 0.0, until - 0.5);
    CHECK(p.win_wall == 0.0);
    /* A healthy probe window: back to 50 ms for the next verdict. */
    t = until + 1e-6;
    nn_team_policy_note(&p, 3e-3, 1e-4, t);
    CHECK_INT(2, nn_team_policy_size(&p, 2, t));
    for (int i = 0; i < 32; i++) /* 32 short regions close a window too */
        nn_team_policy_note(&p, 1e-5, 9e-6, t + 1e-5 * i);
    CHECK_MSG(fabs(p.serial_until - (t + 31e-5) - 0.05) < 1e-9, "after recovery: %g s",
              p.serial_until - (t + 31e-5));
    /* extend: 50 ms from now, the backoff unchanged. */
    const double b = p.backoff;
    nn_team_policy_extend(&p, 10.0);
    CHECK(p.serial_until == 10.0 + 0.05 && p.backoff == b);
    CHECK_INT(1, nn_team_policy_size(&p, 4, 10.01));
}

/* The looks at the run queue: a running team that sees the CPUs taken
 * once looks again 1 ms later and stays on its threads if they are free
 * by then (a task that ran for an instant); taken at two looks in a row,
 * or at the end of a serial period, 50 ms on one thread. */
static void looks(void)
{
    nn_team_policy p;
    nn_team_policy_init(&p);
    CHECK(fabs(nn_team_policy_look(&p, 0, 0, 1.0) - 0.05) < 1e-12);
    CHECK(fabs(nn_team_policy_look(&p, 1, 0, 1.05) - 1e-3) < 1e-12);
    CHECK_INT(2, nn_team_policy_size(&p, 2, 1.05));
    CHECK(fabs(nn_team_policy_look(&p, 0, 0, 1.051) - 0.05) < 1e-12);
    CHECK_INT(2, nn_team_policy_size(&p, 2, 1.051));
    /* A busy neighbour: taken at two looks in a row. */
    nn_team_policy_look(&p, 1, 0, 2.0);
    CHECK_INT(2, nn_team_policy_size(&p, 2, 2.0));
    CHECK(fabs(nn_team_policy_look(&p, 1, 0, 2.001) - 0.05) < 1e-12);
    CHECK_INT(1, nn_team_policy_size(&p, 2, 2.001));
    CHECK_INT(1, nn_team_policy_size(&p, 2, 2.05));
    CHECK_INT(2, nn_team_policy_size(&p, 2, 2.0511));
    /* Still there when the period ends: at once another 50 ms. */
    nn_team_policy_look(&p, 1, 1, 2.0511);
    CHECK_INT(1, nn_team_policy_size(&p, 2, 2.0511));
    CHECK(fabs(p.serial_until - 2.1011) < 1e-9);
    /* Gone at the end of a period: the next taken look is a first one. */
    nn_team_policy_look(&p, 0, 1, 2.2);
    nn_team_policy_look(&p, 1, 0, 2.25);
    CHECK_INT(2, nn_team_policy_size(&p, 2, 2.25));
}

/* Steps of `sec` from time *t (advanced) until the rate check's window
 * ends (its phase changes); returns how many it took, the skipped first
 * one included. */
static int rate_window_of(nn_rate_policy *p, double sec, double *t)
{
    const int phase = p->phase;
    int n = 0;
    while (p->phase == phase && n < 100) {
        nn_rate_policy_step(p, 64, sec, *t += sec);
        n++;
    }
    return n;
}

/* Whether the next trial is `run` after t, or RATE_COST (20) times the
 * trial that just ended when that is longer. */
static int next_is(const nn_rate_policy *p, double t, double run)
{
    const double cost = 20.0 * (t - p->trial_start);
    return fabs(p->next - (t + (run > cost ? run : cost))) < 1e-9;
}

static void rate(void)
{
    nn_rate_policy p;
    nn_rate_policy_init(&p);
    double t = 10.0;
    nn_rate_policy_step(&p, 64, 1e-3, t); /* sets the first trial at 10.2 */
    CHECK_INT(0, nn_rate_policy_solo(&p));
    nn_rate_policy_step(&p, 64, 1e-3, 10.19);
    CHECK_INT(0, p.phase);
    t = 10.2;
    nn_rate_policy_step(&p, 64, 1e-3, t); /* the trial starts: one thread */
    CHECK_INT(1, p.phase);
    CHECK_INT(1, nn_rate_policy_solo(&p));
    /* 1.3 ms steps: the skipped one, then 4 make 5 ms */
    CHECK_INT(5, rate_window_of(&p, 1.3e-3, &t));
    CHECK_INT(2, p.phase); /* back on the team */
    CHECK_INT(0, nn_rate_policy_solo(&p));
    CHECK(fabs(p.other - 1.3e-3) < 1e-15);
    /* the team at 1.3 ms too: one thread is not 10 % faster; keep, and
     * the next trial comes 0.4 s later */
    CHECK_INT(5, rate_window_of(&p, 1.3e-3, &t));
    CHECK_INT(0, p.phase);
    CHECK_INT(0, p.solo);
    CHECK(next_is(&p, t, 0.4));
    /* 0.3 ms steps: a window takes 17 (under 5 ms, 16 is the most) */
    t = p.next;
    nn_rate_policy_step(&p, 64, 1e-3, t);
    CHECK_INT(1, nn_rate_policy_solo(&p));
    CHECK_INT(17, rate_window_of(&p, 0.3e-3, &t));
    CHECK_INT(0, nn_rate_policy_solo(&p));
    /* a step of another size restarts the window; its skipped step too */
    nn_rate_policy_step(&p, 64, 1.2e-3, t += 1.2e-3);
    nn_rate_policy_step(&p, 32, 9.0, t += 1e-3);
    CHECK_INT(2, p.phase);
    CHECK_INT(0, p.n);
    /* the team at 2 ms against 0.3: one thread becomes the choice */
    CHECK_INT(5, rate_window_of(&p, 2e-3, &t)); /* 64 rows again: skip, then 4 */
    CHECK_INT(0, p.phase);
    CHECK_INT(1, p.solo);
    CHECK_INT(1, nn_rate_policy_solo(&p));
    CHECK(next_is(&p, t, 0.2)); /* a change restarts at 0.2 s */
    /* the trial of the team finds it faster: back to it */
    t = p.next;
    nn_rate_policy_step(&p, 64, 1e-3, t);
    CHECK_INT(0, nn_rate_policy_solo(&p));
    rate_window_of(&p, 1.3e-3, &t);
    CHECK_INT(1, nn_rate_policy_solo(&p));
    rate_window_of(&p, 2e-3, &t);
    CHECK_INT(0, nn_rate_policy_solo(&p));
    CHECK(next_is(&p, t, 0.2));
    /* every trial that keeps doubles the interval, to 3.2 s at most */
    for (int k = 0; k < 6; k++) {
        t = p.next;
        nn_rate_policy_step(&p, 64, 1e-3, t);
        rate_window_of(&p, 2e-3, &t);
        rate_window_of(&p, 1.3e-3, &t);
    }
    CHECK_INT(0, p.solo);
    CHECK(next_is(&p, t, 3.2));
    /* long steps: a trial of five 40 ms and five 25 ms steps (325 ms)
     * waits 20 times that, 6.5 s, not the 3.2 s of the back-off */
    t = p.next;
    nn_rate_policy_step(&p, 64, 25e-3, t);
    CHECK_INT(5, rate_window_of(&p, 40e-3, &t));
    CHECK_INT(5, rate_window_of(&p, 25e-3, &t));
    CHECK_INT(0, p.phase);
    CHECK(fabs(p.next - (t + 6.5)) < 1e-9);
    /* a median: one 50 ms step among 0.1 ms ones does not decide */
    t = p.next;
    nn_rate_policy_step(&p, 64, 1e-3, t);
    nn_rate_policy_step(&p, 64, 1e-3, t += 1e-4); /* skipped */
    for (int i = 0; i < 3; i++)
        nn_rate_policy_step(&p, 64, 1e-4, t += 1e-4);
    CHECK_INT(1, p.phase);
    nn_rate_policy_step(&p, 64, 5e-2, t += 5e-2); /* 4 steps, 50.3 ms */
    CHECK_INT(2, p.phase);
    CHECK(fabs(p.other - 1e-4) < 1e-15);

    /* The global hook: a team at 2 ms a step against one thread at 1 ms
     * goes to one thread (nn_team_size), and force_serial(0) resets it. */
    CHECK_OK(nn_set_threads(2));
    nn_team_force_serial(0);
    t = 1000.0;
    nn_team_step_at(64, 2e-3, t);
    t += 1.0;
    nn_team_step_at(64, 2e-3, t); /* the trial: one thread */
    CHECK_INT(1, nn_team_size(2));
    for (int i = 0; i < 7; i++)
        nn_team_step_at(64, 1.3e-3, t += 1.3e-3);
    CHECK_INT(2, nn_team_size(2)); /* the team again */
    for (int i = 0; i < 7; i++)
        nn_team_step_at(64, 2e-3, t += 2e-3);
    CHECK_INT(1, nn_team_size(2)); /* one thread is the choice */
    nn_team_force_serial(0);
    CHECK_INT(2, nn_team_size(2));
    /* a new thread count forgets the choice; setting the same keeps it */
    t += 1.0;
    nn_team_step_at(64, 2e-3, t);
    t += 1.0;
    nn_team_step_at(64, 2e-3, t);
    for (int i = 0; i < 7; i++)
        nn_team_step_at(64, 1.3e-3, t += 1.3e-3);
    for (int i = 0; i < 7; i++)
        nn_team_step_at(64, 2e-3, t += 2e-3);
    CHECK_INT(1, nn_team_size(2));
    CHECK_OK(nn_set_threads(2));
    CHECK_INT(1, nn_team_size(2));
    CHECK_OK(nn_set_threads(3));
    CHECK_INT(2, nn_team_size(2));
}

typedef struct sq_job {
    const float *x;
    float *y;
} sq_job;

static void sq_range(int64_t lo, int64_t hi, void *ctx)
{
    const sq_job *j = ctx;
    for (int64_t i = lo; i < hi; i++)
        j->y[i] = j->x[i] * j->x[i] + 0.5f * j->x[i];
}

static void same_bits(void)
{
    enum { M = 300, N = 200, K = 500, E = 200000 };
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C[2] = {malloc(sizeof(float) * M * N), malloc(sizeof(float) * M * N)};
    float *x = malloc(sizeof(float) * E), *y[2] = {malloc(sizeof(float) * E),
                                                   malloc(sizeof(float) * E)};
    if (!A || !B || !C[0] || !C[1] || !x || !y[0] || !y[1]) {
        fprintf(stderr, "test_team_guard: out of memory\n");
        exit(2);
    }
    tu_seed(5);
    for (int i = 0; i < M * K; i++)
        A[i] = (float)tu_uniform(-1, 1);
    for (int i = 0; i < K * N; i++)
        B[i] = (float)tu_uniform(-1, 1);
    for (int i = 0; i < E; i++)
        x[i] = (float)tu_uniform(-3, 3);
    CHECK_OK(nn_set_threads(2));
    for (int forced = 0; forced < 2; forced++) {
        nn_team_force_serial(forced);
        if (forced)
            CHECK_INT(1, nn_team_size(2));
        nn_gemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C[forced], N);
        sq_job j = {x, y[forced]};
        nn_parallel_range(E, NN_GRAIN_ELEMENTS, sq_range, &j);
    }
    nn_team_force_serial(0);
    CHECK_MSG(memcmp(C[0], C[1], sizeof(float) * M * N) == 0,
              "a product on the guard's one thread differs from two threads");
    CHECK_MSG(memcmp(y[0], y[1], sizeof(float) * E) == 0,
              "a range on the guard's one thread differs from two threads");
    free(A);
    free(B);
    free(C[0]);
    free(C[1]);
    free(x);
    free(y[0]);
    free(y[1]);
}

static int pipe_fd[2];
static atomic_int spin_on = 1;

static void *blocked(void *arg)
{
    (void)arg;
    char c;
    return read(pipe_fd[0], &c, 1) == 1 ? NULL : arg;
}

static void *spinning(void *arg)
{
    while (atomic_load(&spin_on))
        ;
    return arg;
}

/* Polls nn_team_own_running() until it is n (or gives up after far more
 * looks than a scheduler needs: a thread that never reaches the state). */
static int wait_running(int n)
{
    int got = -1;
    for (long i = 0; i < 200000 && (got = nn_team_own_running()) != n; i++)
        sched_yield();
    CHECK_MSG(got == n, "%d of this process's threads running, want %d", got, n);
    return got == n;
}

/* Before any parallel region: no OpenMP worker exists yet. */
static void own_running(void)
{
    const int base = nn_team_own_running();
    if (base < 0) {
        printf("test_team_guard: no /proc task states here (or no OpenMP): count not checked\n");
        return;
    }
    CHECK_INT(1, base); /* this thread */
    pthread_t b, s;
    if (pipe(pipe_fd) != 0 || pthread_create(&b, NULL, blocked, NULL) != 0) {
        CHECK_MSG(0, "pipe/pthread_create failed");
        return;
    }
    wait_running(1); /* the reader sleeps in read() */
    if (pthread_create(&s, NULL, spinning, NULL) == 0) {
        wait_running(2); /* the spinner runs or waits for a CPU: both R */
        atomic_store(&spin_on, 0);
        pthread_join(s, NULL);
    }
    CHECK_INT(1, (int)write(pipe_fd[1], "x", 1));
    pthread_join(b, NULL);
    CHECK_INT(1, nn_team_own_running());
    close(pipe_fd[0]);
    close(pipe_fd[1]);
}

int main(void)
{
    own_running();
    policy();
    looks();
    rate();
    same_bits();
    return tu_finish();
}
