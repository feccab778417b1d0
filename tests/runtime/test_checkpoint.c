/* test_checkpoint.c — the .nnrun checkpoint: a bitwise round trip of every
 * part, save -> load -> save byte-identical, every single-byte corruption and
 * every truncation refused (never a crash: run under the sanitizers too),
 * foreign and newer files, architecture and trainer mismatches, injected I/O
 * failures at every open/write/fsync/close/rename leaving the previous
 * checkpoint intact, an unwritable directory, failing allocations; files
 * with valid checksums but absurd counters or non-finite numbers. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/io.h"
#include "testutil.h"

static char dir[256], path[512], path2[512], bad[512], msg[4096];

static uint8_t *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static void spit(const char *p, const void *b, size_t n)
{
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", p);
        exit(2);
    }
}

static nn_net *make_net(void)
{
    nn_net *net = NULL;
    const nn_init he = {NN_INIT_HE_NORMAL, 0, 0}, c = {NN_INIT_CONSTANT, 0.01f, 0};
    nn_net_create(9, &net);
    nn_net_add_dense(net, 4, 6, &he, &c);
    nn_net_add_activation(net, NN_ACT_LEAKY_RELU, 0.1f);
    nn_net_add_dense(net, 6, 3, NULL, NULL);
    return net;
}

static nn_train_config make_cfg(void)
{
    nn_train_config c = nn_train_defaults();
    c.loss = NN_LOSS_CROSS_ENTROPY;
    c.sgd = (nn_sgd_config){0.05f, 0.9f, 1, 1e-4f};
    c.schedule = nn_schedule_constant(0.05f);
    c.schedule.kind = NN_SCHED_STEP;
    c.schedule.gamma = 0.5f;
    c.schedule.step_size = 2;
    c.batch_size = 5;
    c.seed = 77;
    return c;
}

static nn_dataset *make_data(void)
{
    float x[12 * 4], t[12];
    tu_seed(5);
    for (int i = 0; i < 12 * 4; i++)
        x[i] = (float)tu_uniform(-1, 1);
    for (int i = 0; i < 12; i++)
        t[i] = (float)(i % 3);
    nn_tensor *X, *T;
    nn_dataset *d = NULL;
    nn_tensor_from(12, 4, x, &X);
    nn_tensor_from(12, 1, t, &T);
    nn_dataset_create(X, T, &d);
    nn_tensor_free(X);
    nn_tensor_free(T);
    return d;
}

static const float shift[4] = {0.5f, -1, 2, 0}, divs[4] = {1, 2, 0.25f, 3};
static const char *keys[2] = {"name", "best_val_accuracy"}, *vals[2] = {"tiny", "0.75"};
static const char *config = "model:\n  layers: [dense, leaky_relu, dense]\nseed: 77\n";

static nn_checkpoint_extra extra(const nn_norm *nm)
{
    nn_checkpoint_extra e = {nm, config, keys, vals, 2};
    return e;
}

static int same_floats(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

/* Train a little, save, read back and compare every part bitwise. */
static void test_round_trip(void)
{
    nn_net *net = make_net();
    nn_dataset *d = make_data();
    nn_train_config cfg = make_cfg();
    nn_trainer *tr = NULL;
    CHECK_OK(nn_trainer_create(net, &cfg, &tr));
    CHECK_OK(nn_train(tr, d, NULL, 3, NULL));
    const nn_norm nm = {NN_NORM_STANDARDIZE, 4, shift, divs};
    const nn_checkpoint_extra ex = extra(&nm);
    CHECK_OK(nn_save(path, net, tr, &ex));

    nn_checkpoint *ck = NULL;
    CHECK_OK(nn_checkpoint_read(path, &ck));
    if (!ck)
        return;
    CHECK_INT(1, nn_checkpoint_has_trainer(ck));
    CHECK_INT(3, nn_checkpoint_epoch(ck));
    CHECK_INT(9, nn_checkpoint_step(ck));
    CHECK_STR(config, nn_checkpoint_config(ck));
    CHECK_INT(2, nn_checkpoint_meta_count(ck));
    CHECK_STR("0.75", nn_checkpoint_meta(ck, "best_val_accuracy"));
    CHECK_STR(NULL, nn_checkpoint_meta(ck, "nope"));
    CHECK_STR("name", nn_checkpoint_meta_key(ck, 0));
    const nn_norm n2 = nn_checkpoint_norm(ck);
    CHECK_INT(NN_NORM_STANDARDIZE, n2.kind);
    CHECK_INT(4, n2.features);
    CHECK(same_floats(shift, n2.shift, 4) && same_floats(divs, n2.div, 4));
    nn_train_config c2;
    CHECK_OK(nn_checkpoint_train_config(ck, &c2));
    CHECK_INT(cfg.batch_size, c2.batch_size);
    CHECK_INT(77, c2.seed);
    CHECK(c2.sgd.nesterov == 1 && c2.sgd.momentum == 0.9f && c2.schedule.step_size == 2);

    nn_net *net2 = NULL;
    CHECK_OK(nn_checkpoint_net(ck, &net2));
    CHECK_INT(nn_net_param_count(net), nn_net_param_count(net2));
    CHECK(same_floats(nn_net_params(net), nn_net_params(net2), nn_net_param_count(net)));
    for (int i = 0; i < 3; i++) {
        nn_layer_info a, b;
        nn_net_layer_info(net, i, &a);
        nn_net_layer_info(net2, i, &b);
        CHECK(memcmp(&a, &b, sizeof a) == 0);
    }
    nn_trainer *tr2 = NULL;
    CHECK_OK(nn_trainer_create(net2, &c2, &tr2));
    CHECK_OK(nn_checkpoint_restore(ck, tr2));
    CHECK(same_floats(nn_sgd_velocity(nn_trainer_sgd(tr)), nn_sgd_velocity(nn_trainer_sgd(tr2)),
                      nn_net_param_count(net)));
    CHECK(memcmp(nn_trainer_rng(tr), nn_trainer_rng(tr2), sizeof(nn_rng)) == 0);
    CHECK_INT(9, nn_trainer_step(tr2));

    /* save -> load -> save: byte-identical. */
    const nn_checkpoint_extra ex2 = nn_checkpoint_extra_of(ck);
    CHECK(ex2.norm && ex2.norm->kind == NN_NORM_STANDARDIZE && ex2.n_meta == 2);
    CHECK_OK(nn_save(path2, net2, tr2, &ex2));
    size_t na, nb;
    uint8_t *a = slurp(path, &na), *b = slurp(path2, &nb);
    CHECK_MSG(a && b && na == nb && memcmp(a, b, na) == 0, "re-saved checkpoint differs (%zu vs %zu bytes)", na, nb);
    free(a);
    free(b);

    /* Mismatches. */
    nn_net *other = NULL;
    nn_net_create(1, &other);
    nn_net_add_dense(other, 4, 5, NULL, NULL);
    nn_net_add_activation(other, NN_ACT_RELU, 0);
    nn_net_add_dense(other, 5, 3, NULL, NULL);
    CHECK_ERR(NN_ESHAPE, "checkpoint: layer 1 is dense 4->6, network has dense 4->5", nn_checkpoint_apply(ck, other));
    nn_net_free(other);
    nn_net_create(1, &other);
    nn_net_add_dense(other, 4, 6, NULL, NULL);
    nn_net_add_activation(other, NN_ACT_RELU, 0);
    nn_net_add_dense(other, 6, 3, NULL, NULL);
    CHECK_ERR(NN_ESHAPE, "checkpoint: layer 2 is leaky_relu(0.1) 6, network has relu 6", nn_checkpoint_apply(ck, other));
    nn_net_free(other);
    nn_trainer *tr3 = NULL;
    nn_train_config c3 = c2;
    c3.sgd.lr = 0.1f;
    CHECK_OK(nn_trainer_create(net2, &c3, &tr3));
    CHECK_ERR(NN_ESTATE, "checkpoint: the trainer's sgd.lr is 0.1, the checkpoint's 0.05", nn_checkpoint_restore(ck, tr3));
    nn_trainer_free(tr3);
    c3 = c2;
    c3.batch_size = 4;
    CHECK_OK(nn_trainer_create(net2, &c3, &tr3));
    CHECK_ERR(NN_ESTATE, "checkpoint: the trainer's batch_size is 4, the checkpoint's 5", nn_checkpoint_restore(ck, tr3));
    nn_trainer_free(tr3);

    /* A network alone: no training state. */
    CHECK_OK(nn_save(path2, net, NULL, NULL));
    nn_checkpoint *ck2 = NULL;
    nn_net *net3 = NULL;
    CHECK_OK(nn_load(path2, &net3, &ck2));
    CHECK_INT(0, nn_checkpoint_has_trainer(ck2));
    CHECK_STR(NULL, nn_checkpoint_config(ck2));
    CHECK_INT(NN_NORM_NONE, nn_checkpoint_norm(ck2).kind);
    CHECK_ERR(NN_ESTATE, "checkpoint: no training state saved", nn_checkpoint_restore(ck2, tr2));
    CHECK(net3 && same_floats(nn_net_params(net), nn_net_params(net3), nn_net_param_count(net)));
    nn_checkpoint_free(ck2);
    nn_net_free(net3);
    /* Bad save arguments. */
    const nn_norm wrong = {NN_NORM_SCALE, 3, shift, divs};
    const nn_checkpoint_extra exw = {&wrong, NULL, NULL, NULL, 0};
    CHECK_ERR(NN_EINVAL, "save: normalisation for 3 features, the network has 4 inputs", nn_save(path2, net, NULL, &exw));
    CHECK_ERR(NN_EINVAL, "save: the trainer trains another network", nn_save(path2, net2, tr, NULL));

    nn_trainer_free(tr2);
    nn_net_free(net2);
    nn_checkpoint_free(ck);
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_dataset_free(d);
}

/* Reads a variant: refused with NN_EFORMAT, or identical values. */
static int variant_ok(const uint8_t *ref_params, int64_t np)
{
    nn_checkpoint *ck = NULL;
    const nn_status st = nn_checkpoint_read(bad, &ck);
    if (st == NN_OK) {
        nn_net *n = NULL;
        int ok = nn_checkpoint_net(ck, &n) == NN_OK && nn_net_param_count(n) == np &&
                 memcmp(nn_net_params(n), ref_params, (size_t)np * sizeof(float)) == 0;
        nn_net_free(n);
        nn_checkpoint_free(ck);
        return ok;
    }
    return st == NN_EFORMAT && ck == NULL && strncmp(nn_last_error(), bad, strlen(bad)) == 0;
}

static void test_corruption(void)
{
    size_t n;
    uint8_t *good = slurp(path, &n);
    if (!good)
        return;
    nn_net *ref = NULL;
    CHECK_OK(nn_load(path, &ref, NULL));
    const int64_t np = nn_net_param_count(ref);
    uint8_t *params = malloc((size_t)np * sizeof(float));
    memcpy(params, nn_net_params(ref), (size_t)np * sizeof(float));
    nn_net_free(ref);
    uint8_t *b = malloc(n + 1);
    int refused = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t flips[2] = {0xFF, 0x01};
        for (int k = 0; k < 2; k++) {
            memcpy(b, good, n);
            b[i] ^= flips[k];
            spit(bad, b, n);
            if (!variant_ok(params, np)) {
                if (failed++ < 5)
                    CHECK_MSG(0, "byte %zu ^ 0x%02x: accepted with other values or wrong error: %s", i, flips[k], nn_last_error());
            } else {
                refused++;
            }
        }
    }
    for (size_t len = 0; len < n; len++) {
        spit(bad, good, len);
        if (!variant_ok(params, np) && failed++ < 5)
            CHECK_MSG(0, "truncated to %zu: %s", len, nn_last_error());
    }
    memcpy(b, good, n);
    b[n] = 0;
    spit(bad, b, n + 1);
    snprintf(msg, sizeof msg, "%s: unexpected length: the header says %zu bytes, the file has %zu", bad, n, n + 1);
    nn_checkpoint *ck = NULL;
    CHECK_ERR(NN_EFORMAT, msg, nn_checkpoint_read(bad, &ck));
    spit(bad, good, n - 1);
    snprintf(msg, sizeof msg, "%s: truncated: the header says %zu bytes, the file has %zu", bad, n, n - 1);
    CHECK_ERR(NN_EFORMAT, msg, nn_checkpoint_read(bad, &ck));
    CHECK_INT(0, failed);
    printf("corruption: %zu bytes, %d flipped variants and %zu truncations refused\n", n, refused, n);

    /* A foreign file, a newer version (with a valid header checksum), a
     * section checksum, a missing file, a directory. */
    spit(bad, "hello, world\n", 13);
    snprintf(msg, sizeof msg, "%s: not an nnrun checkpoint", bad);
    CHECK_ERR(NN_EFORMAT, msg, nn_checkpoint_read(bad, &ck));
    memcpy(b, good, n);
    b[8] = 4;
    memset(b + 24, 0, 4);
    const uint32_t nsec = b[12];
    const uint32_t crc = (uint32_t)crc32(0, b, 32 + 24 * nsec);
    for (int i = 0; i < 4; i++)
        b[24 + i] = (uint8_t)(crc >> (8 * i));
    spit(bad, b, n);
    snprintf(msg, sizeof msg, "%s: checkpoint version 4 is newer than this library reads (3)", bad);
    CHECK_ERR(NN_EFORMAT, msg, nn_checkpoint_read(bad, &ck));
    memcpy(b, good, n);
    b[n - 1] ^= 0x20;
    spit(bad, b, n);
    snprintf(msg, sizeof msg, "%s: section META: checksum mismatch", bad);
    CHECK_ERR(NN_EFORMAT, msg, nn_checkpoint_read(bad, &ck));
    snprintf(msg, sizeof msg, "%s/none.nnrun: cannot open: No such file or directory", dir);
    char none[600];
    snprintf(none, sizeof none, "%s/none.nnrun", dir);
    CHECK_ERR(NN_EIO, msg, nn_checkpoint_read(none, &ck));
    snprintf(msg, sizeof msg, "%s: not a regular file", dir);
    CHECK_ERR(NN_EIO, msg, nn_checkpoint_read(dir, &ck));
    unlink(bad);
    free(b);
    free(params);
    free(good);
}

/* ---- valid checksums, absurd content --------------------------------- */

static uint32_t get32(const uint8_t *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24; }
static uint64_t get64(const uint8_t *b) { return (uint64_t)get32(b) | (uint64_t)get32(b + 4) << 32; }
static void set32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}
static void set64(uint8_t *b, uint64_t v)
{
    set32(b, (uint32_t)v);
    set32(b + 4, (uint32_t)(v >> 32));
}

/* Offset and length of the section tagged tag ("TRNR", ...). */
static size_t find_section(const uint8_t *b, const char *tag, size_t *len)
{
    const uint32_t nsec = get32(b + 12);
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = b + 32 + 24 * i;
        if (memcmp(e, tag, 4) == 0) {
            *len = (size_t)get64(e + 16);
            return (size_t)get64(e + 8);
        }
    }
    fprintf(stderr, "no section %s\n", tag);
    exit(2);
}

/* Recomputes every section CRC, then the header's, and writes bad. */
static void spit_valid(uint8_t *b, size_t n)
{
    const uint32_t nsec = get32(b + 12);
    for (uint32_t i = 0; i < nsec; i++) {
        uint8_t *e = b + 32 + 24 * i;
        set32(e + 4, (uint32_t)crc32(0, b + get64(e + 8), (uInt)get64(e + 16)));
    }
    set32(b + 24, 0);
    set32(b + 24, (uint32_t)crc32(0, b, 32 + 24 * nsec));
    spit(bad, b, n);
}

static void expect_refused(const char *what)
{
    nn_checkpoint *ck = (nn_checkpoint *)1;
    snprintf(msg, sizeof msg, "%s: %s", bad, what);
    CHECK_ERR(NN_EFORMAT, msg, nn_checkpoint_read(bad, &ck));
    CHECK(ck == NULL);
}

/* A CRC says the bytes are the ones written, not that they make sense:
 * counters beyond any run (step INT64_MAX, epoch 2^62), counters that do
 * not fit the data they resume on, non-finite weights or momentum. */
static void test_absurd(void)
{
    nn_net *net = make_net();
    nn_dataset *d = make_data(); /* 12 rows in batches of 5: 3 steps an epoch */
    nn_train_config cfg = make_cfg();
    nn_trainer *tr = NULL;
    CHECK_OK(nn_trainer_create(net, &cfg, &tr));
    CHECK_OK(nn_train(tr, d, NULL, 3, NULL));
    CHECK_OK(nn_save(path2, net, tr, NULL));
    size_t n;
    uint8_t *good = slurp(path2, &n), *b = malloc(n);
    if (!good || !b)
        return;
    size_t tlen, plen, vlen;
    const size_t trnr = find_section(good, "TRNR", &tlen), parm = find_section(good, "PARM", &plen),
                 optm = find_section(good, "OPTM", &vlen);
    /* OPTM: kind, count, SGD's 4 parameters, updates, slots, then the state. */
    const size_t velo = optm + 36;
    vlen -= 36;
    const size_t epoch_at = trnr + tlen - 48, step_at = trnr + tlen - 40; /* before u64 rng[4] */
    CHECK_INT(3, get64(good + epoch_at));
    CHECK_INT(9, get64(good + step_at));

    const struct {
        int64_t epoch, step;
        const char *error; /* NULL: read, then refused on this data */
    } counters[] = {
        {3, INT64_MAX, "section TRNR: step 9223372036854775807 is out of range [0, 2^53]"},
        {(int64_t)1 << 62, 9, "section TRNR: epoch 4611686018427387904 after 9 steps (every epoch takes at least one)"},
        {3, ((int64_t)1 << 53) + 1, "section TRNR: step 9007199254740993 is out of range [0, 2^53]"},
        {3, -1, "section TRNR: step -1 is out of range [0, 2^53]"},
        {-1, 9, "section TRNR: epoch -1 after 9 steps (every epoch takes at least one)"},
        {10, 9, "section TRNR: epoch 10 after 9 steps (every epoch takes at least one)"},
        {3, (int64_t)1 << 53, NULL},
        {4, 9, NULL},
        {3, 10, NULL},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        memcpy(b, good, n);
        set64(b + epoch_at, (uint64_t)counters[i].epoch);
        set64(b + step_at, (uint64_t)counters[i].step);
        spit_valid(b, n);
        if (counters[i].error) {
            expect_refused(counters[i].error);
            continue;
        }
        nn_checkpoint *ck = NULL;
        CHECK_OK(nn_checkpoint_read(bad, &ck));
        if (!ck)
            continue;
        snprintf(msg, sizeof msg, "checkpoint: epoch %lld at step %lld, but 12 samples in batches of 5 take 3 steps an epoch: "
                 "saved on other data, or damaged", (long long)counters[i].epoch, (long long)counters[i].step);
        CHECK_ERR(NN_ESTATE, msg, nn_checkpoint_check_data(ck, d));
        nn_checkpoint_free(ck);
    }
    /* The file as written fits its data, and not other data. */
    nn_checkpoint *ck = NULL;
    CHECK_OK(nn_checkpoint_read(path2, &ck));
    CHECK_OK(nn_checkpoint_check_data(ck, d));
    nn_dataset *d10 = NULL;
    CHECK_OK(nn_dataset_subset(d, (const int64_t[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10, &d10));
    CHECK_ERR(NN_ESTATE, "checkpoint: epoch 3 at step 9, but 10 samples in batches of 5 take 2 steps an epoch: "
              "saved on other data, or damaged", nn_checkpoint_check_data(ck, d10));
    nn_dataset_free(d10);

    /* Kinds by name in a mismatch. */
    nn_train_config c2 = cfg;
    c2.schedule.kind = NN_SCHED_COSINE;
    c2.schedule.total = 10;
    nn_trainer *t2 = NULL;
    CHECK_OK(nn_trainer_create(net, &c2, &t2));
    CHECK_ERR(NN_ESTATE, "checkpoint: the trainer's schedule.kind is cosine, the checkpoint's step",
              nn_checkpoint_restore(ck, t2));
    nn_trainer_free(t2);
    c2 = cfg;
    c2.loss = NN_LOSS_LOG_LOSS;
    CHECK_OK(nn_trainer_create(net, &c2, &t2));
    CHECK_ERR(NN_ESTATE, "checkpoint: the trainer's loss is log_loss, the checkpoint's cross_entropy",
              nn_checkpoint_restore(ck, t2));
    nn_trainer_free(t2);
    nn_checkpoint_free(ck);

    /* Non-finite numbers, named by layer and place (1-based).  Layers:
     * dense 4->6 (24 weights, 6 biases), leaky_relu, dense 6->3 (18, 3). */
    const float nan = NAN, inf = INFINITY, minf = -INFINITY;
    const struct {
        size_t at;
        float v;
        const char *error;
    } floats[] = {
        {parm, nan, "section PARM: layer 1: weight 1 of 24 is nan (not a finite number)"},
        {parm + 4 * 26, inf, "section PARM: layer 1: bias 3 of 6 is inf (not a finite number)"},
        {parm + plen - 4, minf, "section PARM: layer 3: bias 3 of 3 is -inf (not a finite number)"},
        {parm + 4 * 31, nan, "section PARM: layer 3: weight 2 of 18 is nan (not a finite number)"},
        {velo + 4 * 29, inf, "section OPTM: the momentum of layer 1: bias 6 of 6 is inf (not a finite number)"},
        {velo + vlen - 4, nan, "section OPTM: the momentum of layer 3: bias 3 of 3 is nan (not a finite number)"},
    };
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        memcpy(b, good, n);
        memcpy(b + floats[i].at, &floats[i].v, 4);
        spit_valid(b, n);
        expect_refused(floats[i].error);
    }

    /* And the writer does not write what the reader refuses: a diverged
     * network is not saved, the previous file stays. */
    nn_net_params(net)[31] = NAN;
    CHECK_ERR(NN_EDIVERGED, "save: layer 3: weight 2 of 18 is nan: the network diverged (nothing saved)",
              nn_save(path2, net, NULL, NULL));
    nn_net_params(net)[31] = 0.5f;
    nn_sgd_velocity(nn_trainer_sgd(tr))[0] = INFINITY;
    CHECK_ERR(NN_EDIVERGED, "save: the momentum of layer 1: weight 1 of 24 is inf: the network diverged (nothing saved)",
              nn_save(path2, net, tr, NULL));
    size_t n2;
    uint8_t *after = slurp(path2, &n2);
    CHECK_MSG(after && n2 == n && memcmp(after, good, n) == 0, "a refused save changed %s", path2);
    free(after);
    free(b);
    free(good);

    /* Non-trainable state (a batchnorm's running statistics) likewise. */
    nn_net *bn = NULL;
    const nn_layer_spec norm = {"batchnorm", 0, NULL, NULL};
    CHECK_OK(nn_net_create(3, &bn));
    CHECK_OK(nn_net_add_dense(bn, 4, 6, NULL, NULL));
    CHECK_OK(nn_net_add(bn, &norm));
    CHECK_OK(nn_net_add_dense(bn, 6, 3, NULL, NULL));
    const long long ns = (long long)nn_net_state_count(bn);
    CHECK(ns > 1);
    CHECK_OK(nn_save(path2, bn, NULL, NULL));
    good = slurp(path2, &n);
    b = malloc(n);
    if (good && b) {
        size_t slen;
        const size_t stat = find_section(good, "STAT", &slen);
        memcpy(b, good, n);
        memcpy(b + stat + 32 + 4, &nan, 4); /* after the mask generator */
        spit_valid(b, n);
        char what[128];
        snprintf(what, sizeof what, "section STAT: state value 2 of %lld is nan (not a finite number)", ns);
        expect_refused(what);
        nn_net_state(bn)[1] = inf;
        snprintf(msg, sizeof msg, "save: state value 2 of %lld is inf: the network diverged (nothing saved)", ns);
        CHECK_ERR(NN_EDIVERGED, msg, nn_save(path2, bn, NULL, NULL));
    }
    free(b);
    free(good);
    nn_net_free(bn);
    unlink(bad);
    nn_trainer_free(tr);
    nn_net_free(net);
    nn_dataset_free(d);
}

static int temp_files_left(void)
{
    DIR *dd = opendir(dir);
    int n = 0;
    for (struct dirent *e; dd && (e = readdir(dd));)
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (dd)
        closedir(dd);
    return n;
}

static void test_io_failures(void)
{
    nn_net *net = make_net();
    CHECK_OK(nn_save(path, net, NULL, NULL));
    size_t n0;
    uint8_t *old = slurp(path, &n0);
    nn_net_params(net)[0] += 1.0f; /* the new checkpoint differs */
    const nn_norm nm = {NN_NORM_SCALE, 4, shift, divs};
    const nn_checkpoint_extra ex = extra(&nm);
    const int errs[2] = {EIO, ENOSPC};
    const char *texts[2] = {"Input/output error", "No space left on device"};
    long k;
    for (k = 1; k < 100; k++) {
        const int e = (int)(k % 2);
        nn_io_fail_at(k, errs[e]);
        const nn_status st = nn_save(path, net, NULL, &ex);
        const long calls = nn_io_calls();
        nn_io_fail_at(0, 0);
        if (calls < k) {
            CHECK_OK(st);
            break;
        }
        CHECK_STATUS(NN_EIO, st);
        snprintf(msg, sizeof msg, "%s: ", path);
        CHECK_MSG(strncmp(nn_last_error(), msg, strlen(msg)) == 0 && strstr(nn_last_error(), texts[e]),
                  "I/O call %ld: message \"%s\"", k, nn_last_error());
        CHECK_INT(0, temp_files_left());
        /* The previous checkpoint is intact, unless the failure came after
         * the rename (the directory fsync): then the new one is complete. */
        size_t n1;
        uint8_t *now = slurp(path, &n1);
        const int is_old = now && n1 == n0 && memcmp(now, old, n0) == 0;
        nn_checkpoint *ck = NULL;
        const int after_rename = strstr(nn_last_error(), "directory") != NULL;
        CHECK_MSG(after_rename ? nn_checkpoint_read(path, &ck) == NN_OK && !is_old : is_old,
                  "I/O call %ld (%s): the checkpoint on disk is neither the old nor a valid new one", k,
                  nn_last_error());
        nn_checkpoint_free(ck);
        free(now);
        if (after_rename) {
            /* Put the old one back for the next round. */
            spit(path, old, n0);
        }
    }
    CHECK_MSG(k >= 8, "expected at least 8 I/O calls in a save, saw %ld", k - 1);
    printf("I/O failures injected at each of %ld calls of a save\n", k - 1);
    free(old);

    /* Unwritable places. */
    char p[700];
    snprintf(p, sizeof p, "%s/no/such/dir/m.nnrun", dir);
    snprintf(msg, sizeof msg, "%s: cannot write: No such file or directory", p);
    CHECK_ERR(NN_EIO, msg, nn_save(p, net, NULL, NULL));
    snprintf(p, sizeof p, "%s/m.nnrun", path); /* a file used as a directory */
    snprintf(msg, sizeof msg, "%s: cannot write: Not a directory", p);
    CHECK_ERR(NN_EIO, msg, nn_save(p, net, NULL, NULL));
    if (geteuid() != 0) {
        char ro[600];
        snprintf(ro, sizeof ro, "%s/ro", dir);
        mkdir(ro, 0555);
        snprintf(p, sizeof p, "%s/m.nnrun", ro);
        snprintf(msg, sizeof msg, "%s: cannot write: Permission denied", p);
        CHECK_ERR(NN_EIO, msg, nn_save(p, net, NULL, NULL));
        rmdir(ro);
    }
    nn_net_free(net);
}

static int exists(const char *name)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void touch(const char *name)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    spit(p, "x", 1);
}

/* A save removes what killed saves of the same file left (their pid is no
 * longer a process: 999999999 is above any pid_max), and nothing else; a
 * run directory's lock removes those of a known past owner too. */
static void test_stale_temps(void)
{
    nn_net *net = make_net();
    char mine[64];
    snprintf(mine, sizeof mine, "model.nnrun.tmp.%ld.7", (long)getpid());
    const char *gone[] = {"model.nnrun.tmp.999999999", "model.nnrun.tmp.999999999.12"};
    const char *kept[] = {"model.nnrun.tmp.1", /* pid 1 runs */
                          mine, "other.nnrun.tmp.999999999", "model.nnrun.tmp.x",
                          "model.nnrun.tmp.999999999.", "model.nnrun.tmpl.999999999"};
    for (int i = 0; i < 2; i++)
        touch(gone[i]);
    for (int i = 0; i < 6; i++)
        touch(kept[i]);
    CHECK_OK(nn_save(path, net, NULL, NULL));
    for (int i = 0; i < 2; i++)
        CHECK_MSG(!exists(gone[i]), "%s was not removed", gone[i]);
    for (int i = 0; i < 6; i++)
        CHECK_MSG(exists(kept[i]), "%s was removed", kept[i]);
    /* Any name, and pid 1 as a known past owner; never this process's. */
    CHECK_INT(2, nn_file_remove_stale_temps(dir, 1));
    CHECK_MSG(!exists("model.nnrun.tmp.1") && !exists("other.nnrun.tmp.999999999"),
              "stale temporaries of any name were not removed");
    CHECK_MSG(exists(mine) && exists("model.nnrun.tmp.x"), "a live or foreign file was removed");
    CHECK_INT(0, nn_file_remove_stale_temps(dir, 0));
    for (int i = 0; i < 6; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", dir, kept[i]);
        unlink(p);
    }
    nn_net_free(net);
}

static void test_alloc_failures(void)
{
    nn_net *net = make_net();
    const nn_norm nm = {NN_NORM_SCALE, 4, shift, divs};
    const nn_checkpoint_extra ex = extra(&nm);
    for (long k = 1;; k++) {
        tu_alloc_install(k);
        const nn_status st = nn_save(path2, net, NULL, &ex);
        const long failed = tu_alloc.failed, live = tu_alloc.live;
        tu_alloc_remove();
        CHECK_INT(0, live);
        if (!failed) {
            CHECK_OK(st);
            break;
        }
        CHECK_STATUS(NN_ENOMEM, st);
    }
    for (long k = 1;; k++) {
        tu_alloc_install(k);
        nn_net *n2 = NULL;
        nn_checkpoint *ck = NULL;
        const nn_status st = nn_load(path2, &n2, &ck);
        nn_net_free(n2);
        nn_checkpoint_free(ck);
        const long failed = tu_alloc.failed, live = tu_alloc.live;
        tu_alloc_remove();
        CHECK_MSG(live == 0, "load, allocation %ld failed: %ld blocks leaked", k, live);
        if (!failed) {
            CHECK_OK(st);
            break;
        }
        CHECK_STATUS(NN_ENOMEM, st);
    }
    nn_net_free(net);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/nnrun-ck-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(path, sizeof path, "%s/model.nnrun", dir);
    snprintf(path2, sizeof path2, "%s/again.nnrun", dir);
    snprintf(bad, sizeof bad, "%s/bad.nnrun", dir);
    test_round_trip();
    test_corruption();
    test_absurd();
    test_io_failures();
    test_stale_temps();
    test_alloc_failures();
    unlink(path);
    unlink(path2);
    rmdir(dir);
    return tu_finish();
}
