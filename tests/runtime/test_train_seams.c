/* test_train_seams.c — the training step between backward and update:
 * the on_gradients hook (called once per batch with the one gradient
 * block, may change it, may cancel), clipping by value and by global norm
 * (checked against updates worked by hand), their validation, and a
 * plateau schedule inside nn_train (it needs validation data for a val_
 * metric, and lowers the rate the trainer uses). */
#include <math.h>

#include "testutil.h"

typedef struct hook_ctx {
    int calls;
    int64_t n;
    float value; /* every gradient is set to +value (even) / -value/10 (odd) */
    int fail;
} hook_ctx;

static int hook(float *g, int64_t n, void *user)
{
    hook_ctx *h = user;
    h->calls++;
    h->n = n;
    for (int64_t i = 0; i < n; i++)
        g[i] = i % 2 ? -h->value / 10 : h->value;
    return h->fail ? -1 : 0;
}

/* One batch (4 XOR points, full batch) of plain SGD at lr 1 with the hook
 * fixing the gradients: the change of each weight is minus the clipped
 * gradient. */
static void one_step(float value, float clip_value, float clip_norm, float *delta, int64_t *P)
{
    nn_dataset *d = NULL;
    nn_net *net = NULL;
    nn_trainer *tr = NULL;
    nn_data_xor(&d);
    nn_net_create(1, &net);
    nn_net_add_dense(net, 2, 3, NULL, NULL);
    nn_net_add_activation(net, NN_ACT_TANH, 0);
    nn_net_add_dense(net, 3, 1, NULL, NULL);
    *P = nn_net_param_count(net);
    hook_ctx h = {0, 0, value, 0};
    nn_train_config c = nn_train_defaults();
    c.optim = nn_optim_defaults(NN_OPTIM_SGD);
    c.optim.lr = 1.0f;
    c.batch_size = 4;
    c.shuffle = 0;
    c.clip_value = clip_value;
    c.clip_norm = clip_norm;
    c.on_gradients = hook;
    c.user = &h;
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    float before[64];
    memcpy(before, nn_net_params(net), (size_t)*P * sizeof(float));
    CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
    CHECK_INT(1, h.calls);
    CHECK_INT(*P, h.n);
    for (int64_t i = 0; i < *P; i++)
        delta[i] = before[i] - nn_net_params(net)[i];
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_dataset_free(d);
}

static void test_clipping(void)
{
    float d[64];
    int64_t P;
    /* No clipping: the hook's gradients are the update. */
    one_step(3.0f, 0, 0, d, &P);
    CHECK_INT(13, P);
    CHECK_FLOAT_EQ(3.0f, d[0]);
    CHECK_FLOAT_EQ(-0.3f, d[1]);
    /* By value: 3 -> 1, -0.3 stays. */
    one_step(3.0f, 1.0f, 0, d, &P);
    CHECK_FLOAT_EQ(1.0f, d[0]);
    CHECK_FLOAT_EQ(-0.3f, d[1]);
    /* By norm: 7 entries of 3 and 6 of -0.3: norm sqrt(63 + 0.54); scaled
     * to norm 2. */
    const double norm = sqrt(7 * 9.0 + 6 * 0.09), k = 2.0 / norm;
    one_step(3.0f, 0, 2.0f, d, &P);
    CHECK_NEAR(3.0 * k, d[0], 1e-5, 1e-7);
    CHECK_NEAR(-0.3 * k, d[1], 1e-5, 1e-7);
    double ss = 0;
    for (int64_t i = 0; i < P; i++)
        ss += (double)d[i] * d[i];
    CHECK_NEAR(2.0, sqrt(ss), 1e-5, 0);
    /* A norm below the threshold is left alone. */
    one_step(3.0f, 0, 100.0f, d, &P);
    CHECK_FLOAT_EQ(3.0f, d[0]);
    /* Value first, then norm: 7 x 1 and 6 x -0.3. */
    const double k2 = 1.0 / sqrt(7 * 1.0 + 6 * 0.09);
    one_step(3.0f, 1.0f, 1.0f, d, &P);
    CHECK_NEAR(k2, d[0], 1e-5, 1e-7);
    CHECK_NEAR(-0.3 * k2, d[1], 1e-5, 1e-7);
}

static void test_hook_and_checks(void)
{
    nn_dataset *d = NULL;
    nn_net *net = NULL;
    nn_trainer *tr = NULL;
    nn_data_digits03(5, 0.1f, 1, &d); /* 20 samples */
    nn_net_create(1, &net);
    nn_net_add_dense(net, 64, 4, NULL, NULL);
    hook_ctx h = {0, 0, 0.0f, 0};
    nn_train_config c = nn_train_defaults();
    c.loss = NN_LOSS_CROSS_ENTROPY;
    c.optim = nn_optim_defaults(NN_OPTIM_ADAM);
    c.batch_size = 6; /* 4 batches, the last partial */
    c.on_gradients = hook;
    c.user = &h;
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    float before[260];
    memcpy(before, nn_net_params(net), sizeof before);
    CHECK_OK(nn_train_epoch(tr, d, NULL, NULL));
    CHECK_INT(4, h.calls);
    /* Zeroed gradients: Adam moves nothing (m = 0). */
    CHECK(memcmp(before, nn_net_params(net), sizeof before) == 0);
    h.fail = 1;
    CHECK_ERR(NN_ECANCELLED, "training cancelled: the gradient hook reported an error",
              nn_train_epoch(tr, d, NULL, NULL));
    CHECK_INT(5, h.calls);
    nn_trainer_free(tr);

    /* Bad clipping values. */
    c = nn_train_defaults();
    c.clip_norm = -1;
    tr = (nn_trainer *)&tr;
    CHECK_ERR(NN_EINVAL, "trainer: clip_norm must be 0 (off) or finite and > 0, got -1", nn_trainer_create(net, &c, &tr));
    CHECK(tr == NULL);
    c.clip_norm = 0;
    c.clip_value = NAN;
    CHECK_ERR(NN_EINVAL, "trainer: clip_value must be 0 (off) or finite and > 0, got nan", nn_trainer_create(net, &c, &tr));
    /* An optimiser's own check comes through. */
    c = nn_train_defaults();
    c.optim = nn_optim_defaults(NN_OPTIM_ADAM);
    c.optim.adam.beta1 = 1.5f;
    CHECK_ERR(NN_EINVAL, "adam: beta1 must be in [0, 1), got 1.5", nn_trainer_create(net, &c, &tr));
    /* Deprecated: .sgd still configures the optimiser when optim is UNSET. */
    c = nn_train_defaults();
    c.sgd.lr = -1;
    CHECK_ERR(NN_EINVAL, "sgd: lr must be finite and > 0, got -1", nn_trainer_create(net, &c, &tr));
    nn_net_free(net);
    nn_dataset_free(d);
}

typedef struct lr_log {
    float lr[8];
    int n;
} lr_log;

static int log_epoch(const nn_epoch_stats *s, void *user)
{
    lr_log *l = user;
    if (l->n < 8)
        l->lr[l->n++] = s->lr;
    return 0;
}

static void test_plateau_in_trainer(void)
{
    nn_dataset *d = NULL;
    nn_net *net = NULL;
    nn_trainer *tr = NULL;
    nn_data_digits03(5, 0.1f, 1, &d);
    nn_net_create(1, &net);
    nn_net_add_dense(net, 64, 4, NULL, NULL);
    lr_log log = {{0}, 0};
    nn_train_config c = nn_train_defaults();
    c.loss = NN_LOSS_CROSS_ENTROPY;
    c.optim = nn_optim_defaults(NN_OPTIM_SGD);
    c.optim.lr = 50.0f; /* far too large: the loss does not improve steadily */
    c.schedule = nn_schedule_constant(0);
    c.schedule.kind = NN_SCHED_PLATEAU;
    c.schedule.patience = 0;
    c.schedule.factor = 0.5f;
    c.on_epoch = log_epoch;
    c.user = &log;
    CHECK_OK(nn_trainer_create(net, &c, &tr));
    CHECK_ERR(NN_EINVAL, "train: schedule plateau watches val_loss: give validation data",
              nn_train(tr, d, NULL, 1, NULL));
    CHECK_OK(nn_train(tr, d, d, 8, NULL));
    CHECK_INT(8, log.n);
    /* Each epoch's rate is 50 times the scale the epochs before left. */
    CHECK_FLOAT_EQ(50.0f, log.lr[0]);
    int reduced = 0;
    for (int e = 1; e < 8; e++) {
        CHECK(log.lr[e] == log.lr[e - 1] || log.lr[e] == log.lr[e - 1] * 0.5f);
        reduced += log.lr[e] < log.lr[e - 1];
    }
    CHECK_MSG(reduced >= 1, "the rate was never reduced: %g ... %g", (double)log.lr[0], (double)log.lr[7]);
    /* The last epoch ran at the scale the schedule state held then (or
     * one reduction before what it holds now). */
    const float scale = nn_trainer_sched_state(tr)->scale;
    CHECK(log.lr[7] == 50.0f * scale || log.lr[7] * 0.5f == 50.0f * scale);
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_dataset_free(d);
}

int main(void)
{
    test_clipping();
    test_hook_and_checks();
    test_plateau_in_trainer();
    return tu_finish();
}
