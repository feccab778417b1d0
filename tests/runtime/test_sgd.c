/* test_sgd.c — one and two SGD steps computed by hand for plain descent,
 * weight decay, momentum and Nesterov momentum (formulas in nnrun.h), and
 * every configuration error with its message.  The expected values repeat
 * the documented float operations, so they agree to a few ulps; 1e-6
 * relative is far below any formula mistake (e.g. a missing mu or wd). */
#include "testutil.h"

#define NP 6 /* dense(2, 2): 4 weights, 2 biases */

static const float w0[NP] = {0.5f, -1.0f, 2.0f, 0.25f, -0.75f, 1.5f};
static const float g1[NP] = {0.1f, 0.2f, -0.3f, 0.4f, -0.5f, 0.6f};
static const float g2[NP] = {-0.2f, 0.05f, 0.3f, 0.1f, 0.7f, -0.4f};

static nn_net *small_net(void)
{
    nn_net *net = NULL;
    CHECK_OK(nn_net_create(1, &net));
    CHECK_OK(nn_net_add_dense(net, 2, 2, NULL, NULL));
    CHECK_INT(NP, nn_net_param_count(net));
    memcpy(nn_net_params(net), w0, sizeof w0);
    return net;
}

/* Two steps with gradients g1 then g2 at lr; compares with the formula. */
static void check_two_steps(const char *what, nn_sgd_config cfg, float lr)
{
    nn_net *net = small_net();
    nn_sgd *opt = NULL;
    CHECK_OK(nn_sgd_create(net, &cfg, &opt));
    CHECK_FLOAT_EQ(cfg.lr, nn_sgd_lr(opt));
    float w[NP], v[NP] = {0};
    memcpy(w, w0, sizeof w);
    for (int s = 0; s < 2; s++) {
        const float *g = s ? g2 : g1;
        memcpy(nn_net_grads(net), g, sizeof g1);
        CHECK_OK(nn_sgd_step(opt, lr));
        for (int i = 0; i < NP; i++) {
            const float gi = g[i] + cfg.weight_decay * w[i];
            v[i] = cfg.momentum * v[i] + gi;
            w[i] -= lr * (cfg.momentum == 0 ? gi : cfg.nesterov ? gi + cfg.momentum * v[i] : v[i]);
        }
        int ok = 1;
        for (int i = 0; i < NP; i++)
            ok &= tu_close(w[i], nn_net_params(net)[i], 1e-6, 1e-7);
        CHECK_MSG(ok, "%s, step %d: w[0] expected %.9g got %.9g, w[5] expected %.9g got %.9g", what,
                  s + 1, w[0], nn_net_params(net)[0], w[5], nn_net_params(net)[5]);
        if (cfg.momentum > 0) {
            ok = 1;
            for (int i = 0; i < NP; i++)
                ok &= tu_close(v[i], nn_sgd_velocity(opt)[i], 1e-6, 1e-7);
            CHECK_MSG(ok, "%s, step %d: velocity differs", what, s + 1);
        }
        /* the step does not clear the gradients */
        CHECK(memcmp(nn_net_grads(net), g, sizeof g1) == 0);
    }
    nn_sgd_free(opt);
    nn_net_free(net);
}

static void test_steps(void)
{
    /* plain, by literal numbers: w - 0.1 g */
    nn_net *net = small_net();
    nn_sgd *opt = NULL;
    nn_sgd_config plain = {0.1f, 0, 0, 0};
    CHECK_OK(nn_sgd_create(net, &plain, &opt));
    memcpy(nn_net_grads(net), g1, sizeof g1);
    CHECK_OK(nn_sgd_step(opt, 0.1f));
    CHECK_NEAR(0.49, nn_net_params(net)[0], 1e-6, 0);
    CHECK_NEAR(-1.02, nn_net_params(net)[1], 1e-6, 0);
    CHECK_NEAR(2.03, nn_net_params(net)[2], 1e-6, 0);
    CHECK_NEAR(1.44, nn_net_params(net)[5], 1e-6, 0);
    /* lr 0 (a schedule may reach it) changes nothing */
    float before[NP];
    memcpy(before, nn_net_params(net), sizeof before);
    CHECK_OK(nn_sgd_step(opt, 0.0f));
    CHECK(memcmp(before, nn_net_params(net), sizeof before) == 0);
    CHECK_ERR(NN_EINVAL, "sgd: step lr must be finite and >= 0, got nan", nn_sgd_step(opt, NAN));
    CHECK_ERR(NN_EINVAL, "sgd: step lr must be finite and >= 0, got -0.1", nn_sgd_step(opt, -0.1f));
    CHECK_ERR(NN_EINVAL, "sgd: step lr must be finite and >= 0, got inf", nn_sgd_step(opt, INFINITY));
    CHECK_ERR(NN_EINVAL, "sgd: optimiser is NULL", nn_sgd_step(NULL, 0.1f));
    CHECK(memcmp(before, nn_net_params(net), sizeof before) == 0);
    /* changing the network under the optimiser is caught */
    CHECK_OK(nn_net_add_dense(net, 2, 1, NULL, NULL));
    CHECK_ERR(NN_ESTATE, "sgd: the network changed after the optimiser was made", nn_sgd_step(opt, 0.1f));
    nn_sgd_free(opt);
    nn_sgd_free(NULL);
    nn_net_free(net);

    check_two_steps("plain", (nn_sgd_config){0.1f, 0, 0, 0}, 0.1f);
    check_two_steps("plain, step lr overrides", (nn_sgd_config){0.1f, 0, 0, 0}, 0.3f);
    check_two_steps("weight decay", (nn_sgd_config){0.1f, 0, 0, 0.01f}, 0.1f);
    check_two_steps("momentum", (nn_sgd_config){0.05f, 0.9f, 0, 0}, 0.05f);
    check_two_steps("nesterov", (nn_sgd_config){0.05f, 0.9f, 1, 0}, 0.05f);
    check_two_steps("nesterov + weight decay", (nn_sgd_config){0.05f, 0.5f, 1, 0.1f}, 0.05f);
    check_two_steps("momentum + weight decay", (nn_sgd_config){0.2f, 0.3f, 0, 0.2f}, 0.2f);

    /* momentum, by literal numbers: v1 = g1, v2 = 0.9 g1 + g2 */
    net = small_net();
    nn_sgd_config mom = {0.1f, 0.9f, 0, 0};
    CHECK_OK(nn_sgd_create(net, &mom, &opt));
    memcpy(nn_net_grads(net), g1, sizeof g1);
    CHECK_OK(nn_sgd_step(opt, 0.1f));
    memcpy(nn_net_grads(net), g2, sizeof g2);
    CHECK_OK(nn_sgd_step(opt, 0.1f));
    CHECK_NEAR(0.9 * 0.1 - 0.2, nn_sgd_velocity(opt)[0], 1e-6, 1e-7);
    CHECK_NEAR(0.5 - 0.1 * 0.1 - 0.1 * (0.9 * 0.1 - 0.2), nn_net_params(net)[0], 1e-6, 0);
    nn_sgd_free(opt);
    nn_net_free(net);
}

static void test_config_errors(void)
{
    const nn_sgd_config ok = {0.1f, 0.9f, 1, 0.001f};
    CHECK_OK(nn_sgd_check(&ok));
    CHECK_ERR(NN_EINVAL, "sgd: config is NULL", nn_sgd_check(NULL));
    CHECK_ERR(NN_EINVAL, "sgd: lr must be finite and > 0, got nan",
              nn_sgd_check(&(nn_sgd_config){NAN, 0, 0, 0}));
    CHECK_ERR(NN_EINVAL, "sgd: lr must be finite and > 0, got 0",
              nn_sgd_check(&(nn_sgd_config){0, 0, 0, 0}));
    CHECK_ERR(NN_EINVAL, "sgd: lr must be finite and > 0, got -1",
              nn_sgd_check(&(nn_sgd_config){-1, 0, 0, 0}));
    CHECK_ERR(NN_EINVAL, "sgd: lr must be finite and > 0, got inf",
              nn_sgd_check(&(nn_sgd_config){INFINITY, 0, 0, 0}));
    CHECK_ERR(NN_EINVAL, "sgd: momentum must be in [0, 1), got 1",
              nn_sgd_check(&(nn_sgd_config){0.1f, 1, 0, 0}));
    CHECK_ERR(NN_EINVAL, "sgd: momentum must be in [0, 1), got -0.5",
              nn_sgd_check(&(nn_sgd_config){0.1f, -0.5f, 0, 0}));
    CHECK_ERR(NN_EINVAL, "sgd: momentum must be in [0, 1), got nan",
              nn_sgd_check(&(nn_sgd_config){0.1f, NAN, 0, 0}));
    CHECK_ERR(NN_EINVAL, "sgd: weight_decay must be finite and >= 0, got -1",
              nn_sgd_check(&(nn_sgd_config){0.1f, 0, 0, -1}));
    CHECK_ERR(NN_EINVAL, "sgd: weight_decay must be finite and >= 0, got nan",
              nn_sgd_check(&(nn_sgd_config){0.1f, 0, 0, NAN}));
    CHECK_ERR(NN_EINVAL, "sgd: nesterov needs momentum > 0",
              nn_sgd_check(&(nn_sgd_config){0.1f, 0, 1, 0}));

    nn_net *net = NULL, *empty = NULL;
    nn_sgd *opt = (nn_sgd *)&opt;
    CHECK_OK(nn_net_create(1, &net));
    CHECK_OK(nn_net_create(1, &empty));
    CHECK_OK(nn_net_add_dense(net, 3, 2, NULL, NULL));
    CHECK_ERR(NN_EINVAL, "sgd: lr must be finite and > 0, got nan",
              nn_sgd_create(net, &(nn_sgd_config){NAN, 0, 0, 0}, &opt));
    CHECK(opt == NULL);
    CHECK_ERR(NN_EINVAL, "sgd: config is NULL", nn_sgd_create(net, NULL, &opt));
    CHECK_ERR(NN_EINVAL, "sgd: network is NULL", nn_sgd_create(NULL, &ok, &opt));
    CHECK_ERR(NN_EINVAL, "sgd: out is NULL", nn_sgd_create(net, &ok, NULL));
    CHECK_ERR(NN_ESTATE, "sgd: the network has no parameters", nn_sgd_create(empty, &ok, &opt));
    CHECK(nn_sgd_velocity(NULL) == NULL);
    CHECK_FLOAT_EQ(0, nn_sgd_lr(NULL));
    nn_net_free(net);
    nn_net_free(empty);
}

int main(void)
{
    test_steps();
    test_config_errors();
    return tu_finish();
}
