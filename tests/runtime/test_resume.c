/* test_resume.c — exact resume from a checkpoint.
 *
 * 1. In process: N epochs straight give bitwise the same weights (and
 *    momentum) as k epochs, save, free everything, load, restore, N-k more.
 * 2. Kill and resume: a child process trains from scratch, saving a
 *    checkpoint after every epoch, and is sent SIGKILL by this process after
 *    batch k, for several k (mid-epoch, just before and just after a save):
 *    the child reports each batch through a pipe and waits for this process
 *    to let it go on, so k is exact on any machine.  Another child resumes
 *    from the last checkpoint on disk (or from scratch if none was written)
 *    and finishes.  Its final weights must equal those of an uninterrupted
 *    run, bitwise.
 * Every training run happens in a child process: libgomp's thread pool does
 * not survive fork(), so this process stays free of OpenMP until the end.
 *
 * The data are byte-stored (like an image file) and scaled in the batch
 * gather, with shuffling, momentum with Nesterov, weight decay and a
 * per-batch step schedule: every piece of state a resume must carry. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/io.h"
#include "testutil.h"

enum { EPOCHS = 6, SPLIT = 2 };
static char dir[256], ckpath[512], outpath[512];

static nn_dataset *make_data(void)
{
    nn_dataset *f = NULL, *d = NULL;
    if (nn_data_digits03(40, 0.15f, 3, &f))
        return NULL;
    const int64_t n = nn_dataset_size(f);
    if (nn_dataset_alloc(n, 64, 1, 1, &d)) {
        nn_dataset_free(f);
        return NULL;
    }
    const float *x = nn_tensor_cdata(nn_dataset_x(f));
    for (int64_t i = 0; i < n * 64; i++) {
        const float v = x[i] < 0 ? 0 : x[i] > 1 ? 1 : x[i];
        d->xu8[i] = (uint8_t)(v * 255.0f + 0.5f);
    }
    memcpy(nn_tensor_data(d->t), nn_tensor_cdata(nn_dataset_t(f)), (size_t)n * sizeof(float));
    nn_dataset_free(f);
    nn_dataset_normalize(d, NN_NORM_SCALE);
    return d;
}

static nn_net *make_net(void)
{
    nn_net *net = NULL;
    const nn_init he = {NN_INIT_HE_NORMAL, 0, 0};
    nn_net_create(21, &net);
    nn_net_add_dense(net, 64, 24, &he, NULL);
    nn_net_add_activation(net, NN_ACT_RELU, 0);
    nn_net_add_dense(net, 24, 4, NULL, NULL);
    return net;
}

static nn_train_config make_cfg(void)
{
    nn_train_config c = nn_train_defaults();
    c.loss = NN_LOSS_CROSS_ENTROPY;
    c.sgd = (nn_sgd_config){0.1f, 0.9f, 1, 1e-4f};
    c.schedule = nn_schedule_constant(0.1f);
    c.schedule.kind = NN_SCHED_STEP;
    c.schedule.gamma = 0.7f;
    c.schedule.step_size = 25;
    c.schedule_per_batch = 1;
    c.batch_size = 16;
    c.seed = 1234;
    return c;
}

typedef struct run {
    nn_net *net;
    nn_trainer *tr;
    const nn_dataset *data;
    int pipe_fd; /* child: a byte per batch to the parent; -1: none */
    int ack_fd;  /* child: waits for a byte from the parent after each */
} run;

static int save(run *r)
{
    const nn_norm nm = nn_dataset_norm(r->data);
    const nn_checkpoint_extra ex = {&nm, "resume test", NULL, NULL, 0};
    return nn_save(ckpath, r->net, r->tr, &ex) == NN_OK ? 0 : -1;
}

static int on_epoch(const nn_epoch_stats *s, void *user)
{
    (void)s;
    return save(user);
}

static int on_batch(const nn_batch_stats *s, void *user)
{
    (void)s;
    run *r = user;
    if (r->pipe_fd >= 0) {
        char c = 'b';
        if (write(r->pipe_fd, &c, 1) != 1 || read(r->ack_fd, &c, 1) != 1)
            return -1;
    }
    return 0;
}

/* Writes the network's parameters and momentum to outpath. */
static int dump(run *r)
{
    FILE *f = fopen(outpath, "wb");
    const int64_t n = nn_net_param_count(r->net);
    int ok = f && fwrite(nn_net_params(r->net), sizeof(float), (size_t)n, f) == (size_t)n &&
             fwrite(nn_sgd_velocity(nn_trainer_sgd(r->tr)), sizeof(float), (size_t)n, f) == (size_t)n;
    if (f)
        ok &= fclose(f) == 0;
    return ok ? 0 : 1;
}

/* Training from scratch for EPOCHS epochs, checkpointing each; returns the
 * exit status for the child. */
static int child_train(int pipe_fd, int ack_fd)
{
    nn_set_threads(2);
    run r = {make_net(), NULL, make_data(), pipe_fd, ack_fd};
    nn_train_config c = make_cfg();
    c.on_epoch = on_epoch;
    c.on_batch = on_batch;
    c.user = &r;
    if (!r.net || !r.data || nn_trainer_create(r.net, &c, &r.tr) || nn_train(r.tr, r.data, NULL, EPOCHS, NULL))
        return 3;
    return dump(&r);
}

/* Resuming from ckpath (or from scratch without one) up to EPOCHS epochs. */
static int child_resume(void)
{
    nn_set_threads(2);
    run r = {NULL, NULL, make_data(), -1, -1};
    nn_checkpoint *ck = NULL;
    nn_train_config c = make_cfg();
    if (access(ckpath, F_OK) == 0) {
        if (nn_load(ckpath, &r.net, &ck) || nn_checkpoint_train_config(ck, &c))
            return 4;
    } else {
        r.net = make_net();
    }
    if (nn_trainer_create(r.net, &c, &r.tr) || (ck && nn_checkpoint_restore(ck, r.tr)))
        return 5;
    const int64_t left = EPOCHS - nn_trainer_epoch(r.tr);
    if (nn_train(r.tr, r.data, NULL, left, NULL))
        return 6;
    return dump(&r);
}

static int wait_child(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

static uint8_t *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n ? *n : 1);
    if (fread(b, 1, *n, f) != *n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static void test_kill_and_resume(void)
{
    /* The uninterrupted reference. */
    unlink(ckpath);
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_train(-1, -1));
    int st = wait_child(pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reference run failed (status 0x%x)", st);
    size_t nref;
    uint8_t *ref = slurp(outpath, &nref);
    CHECK(ref != NULL);
    unlink(outpath);

    /* 10 batches per epoch (160 rows / 16), 60 in all; the save of epoch e
     * comes after batch 10 e. */
    const int kill_at[] = {1, 5, 10, 11, 19, 26, 35, 44, 57, 60};
    for (size_t i = 0; ref && i < sizeof kill_at / sizeof kill_at[0]; i++) {
        unlink(ckpath);
        int fds[2], ack[2];
        if (pipe(fds) != 0)
            return;
        if (pipe(ack) != 0)
            return;
        pid = fork();
        if (pid == 0) {
            close(fds[0]);
            close(ack[1]);
            _exit(child_train(fds[1], ack[0]));
        }
        close(fds[1]);
        close(ack[0]);
        /* The child waits after each batch; batch kill_at[i] gets no reply. */
        int seen = 0;
        char c = 'a';
        while (read(fds[0], &c, 1) == 1 && ++seen < kill_at[i])
            if (write(ack[1], &c, 1) != 1)
                break;
        CHECK_MSG(seen == kill_at[i], "the child reported %d batches, not %d", seen, kill_at[i]);
        kill(pid, SIGKILL);
        st = wait_child(pid);
        close(fds[0]);
        close(ack[1]);
        CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "kill at batch %d: the child was not killed (status 0x%x)",
                  kill_at[i], st);
        nn_checkpoint *ck = NULL;
        int64_t epoch = -1;
        if (access(ckpath, F_OK) == 0) {
            CHECK_OK(nn_checkpoint_read(ckpath, &ck));
            epoch = nn_checkpoint_epoch(ck);
            nn_checkpoint_free(ck);
        }
        /* Killed before the save after batch 10 e: the last is epoch e - 1's. */
        const int64_t want = (kill_at[i] - 1) / 10;
        CHECK_MSG(epoch == (want ? want : -1), "killed after batch %d: checkpoint of epoch %lld",
                  kill_at[i], (long long)epoch);
        pid = fork();
        if (pid == 0)
            _exit(child_resume());
        st = wait_child(pid);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "resume after a kill at batch %d failed (status 0x%x)",
                  kill_at[i], st);
        size_t n;
        uint8_t *got = slurp(outpath, &n);
        CHECK_MSG(got && n == nref && memcmp(got, ref, n) == 0,
                  "killed at batch %d, resumed from epoch %lld: final weights differ from the uninterrupted run",
                  kill_at[i], (long long)epoch);
        printf("killed after batch %d, resumed from epoch %lld: identical\n", kill_at[i], (long long)epoch);
        free(got);
        unlink(outpath);
        /* No temporary file may survive a completed save; one left by the
         * killed child is possible and harmless. */
    }
    free(ref);
}

/* Straight vs split in this process. */
static void test_in_process(void)
{
    nn_set_threads(2);
    nn_dataset *data = make_data();
    nn_train_config c = make_cfg();
    nn_net *a = make_net();
    nn_trainer *ta = NULL;
    CHECK_OK(nn_trainer_create(a, &c, &ta));
    CHECK_OK(nn_train(ta, data, NULL, EPOCHS, NULL));

    nn_net *b = make_net();
    nn_trainer *tb = NULL;
    CHECK_OK(nn_trainer_create(b, &c, &tb));
    CHECK_OK(nn_train(tb, data, NULL, SPLIT, NULL));
    run r = {b, tb, data, -1, -1};
    CHECK_INT(0, save(&r));
    nn_trainer_free(tb);
    nn_net_free(b);
    nn_dataset_free(data);

    data = make_data();
    nn_checkpoint *ck = NULL;
    b = NULL;
    CHECK_OK(nn_load(ckpath, &b, &ck));
    nn_train_config c2;
    CHECK_OK(nn_checkpoint_train_config(ck, &c2));
    CHECK_OK(nn_trainer_create(b, &c2, &tb));
    CHECK_OK(nn_checkpoint_restore(ck, tb));
    CHECK_INT(SPLIT, nn_trainer_epoch(tb));
    CHECK_OK(nn_train(tb, data, NULL, EPOCHS - SPLIT, NULL));
    const int64_t n = nn_net_param_count(a);
    CHECK_MSG(memcmp(nn_net_params(a), nn_net_params(b), (size_t)n * sizeof(float)) == 0,
              "weights after a resume differ from a straight run");
    CHECK(memcmp(nn_sgd_velocity(nn_trainer_sgd(ta)), nn_sgd_velocity(nn_trainer_sgd(tb)), (size_t)n * sizeof(float)) == 0);
    CHECK_INT(nn_trainer_step(ta), nn_trainer_step(tb));
    /* Training moved the weights (the comparison is not vacuous). */
    nn_net *fresh = make_net();
    CHECK(memcmp(nn_net_params(a), nn_net_params(fresh), (size_t)n * sizeof(float)) != 0);
    nn_net_free(fresh);
    nn_checkpoint_free(ck);
    nn_trainer_free(ta);
    nn_trainer_free(tb);
    nn_net_free(a);
    nn_net_free(b);
    nn_dataset_free(data);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/nnrun-resume-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(ckpath, sizeof ckpath, "%s/model.nnrun", dir);
    snprintf(outpath, sizeof outpath, "%s/final.bin", dir);
    fflush(stdout);
    test_kill_and_resume();
    test_in_process();
    /* Remove what is left, temporary files of killed children included. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish();
}
