/* test_simd_isa.c — the element-wise passes give the same bits whichever
 * vector ISA runs them (kernels/simd.h): every activation forward and
 * backward (leaky/elu with their parameter), the dense layer's bias column
 * sums (overwrite and accumulate), and one step of every optimiser kind
 * (SGD plain, momentum, Nesterov, with weight decay; Adam, AdamW, RMSprop
 * with and without momentum, Adagrad), maxpool 2x2 and 3x3 forward and
 * backward, alone and with a relu's backward folded in (rows of 1 to 33
 * windows, ties, both zeros, NaN), run with the portable, AVX2 and
 * AVX-512 sets (nn_gemm_force_kernel: the element-wise loops follow the
 * GEMM kernel), at 1 and 2 threads, on lengths with vector tails and
 * inputs with zeros of both signs, tiny and large values, compared with
 * memcmp against the portable set at 1 thread.  Exit 77 (ctest SKIP)
 * on a CPU or OS without AVX-512F (AVX2 is still checked when present). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kernels/gemm.h"
#include "layers/layers.h"
#include "nnrun.h"
#include "testutil.h"

static const char *const sets[] = {"portable", "avx2", "avx512"};
#define NSETS 3

static float *alloc_f(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "test_simd_isa: out of memory\n");
        exit(2);
    }
    return p;
}

/* Mixed values: signs, both zeros, tiny, large, around the branch points. */
static void fill(float *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 7u;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        const float u = (float)(x >> 8) / 16777216.0f * 2.0f - 1.0f;
        switch (i % 11) {
        case 0: p[i] = 0.0f; break;
        case 1: p[i] = -0.0f; break;
        case 2: p[i] = u * 1e-30f; break;
        case 3: p[i] = u * 30.0f; break;
        default: p[i] = u * 3.0f; break;
        }
    }
}

static int same(const char *what, const char *set, int t, int64_t n, const float *ref,
                const float *got)
{
    if (memcmp(ref, got, (size_t)n * sizeof *ref) == 0)
        return 1;
    int64_t i = 0;
    while (memcmp(ref + i, got + i, sizeof *ref) == 0)
        i++;
    CHECK_MSG(0, "%s, n=%lld: %s at %d threads differs from portable at element %lld: %.9g vs %.9g\n",
              what, (long long)n, set, t, (long long)i, (double)ref[i], (double)got[i]);
    return 0;
}

/* Each element-wise pass under every usable set and thread count. */
static void activations(int64_t B, int64_t n, int nsets)
{
    const int64_t len = B * n;
    float *x = alloc_f((size_t)len), *dy = alloc_f((size_t)len);
    float *y[NSETS][2], *dx[NSETS][2];
    fill(x, (size_t)len, 1);
    fill(dy, (size_t)len, 2);
    for (int a = 0; nn_act_name((nn_act)a); a++) {
        const float param = a == NN_ACT_LEAKY_RELU ? 0.02f : a == NN_ACT_ELU ? 1.5f : 0.0f;
        for (int s = 0; s < nsets; s++)
            for (int t = 0; t < 2; t++) {
                nn_gemm_force_kernel(sets[s]);
                nn_set_threads(t + 1);
                y[s][t] = alloc_f((size_t)len);
                dx[s][t] = alloc_f((size_t)len);
                nn_act_forward((nn_act)a, param, x, y[s][t], B, n);
                nn_act_backward((nn_act)a, param, x, y[s][t], dy, dx[s][t], B, n);
            }
        char what[64];
        for (int s = 0; s < nsets; s++)
            for (int t = 0; t < 2; t++) {
                snprintf(what, sizeof what, "%s forward", nn_act_name((nn_act)a));
                same(what, sets[s], t + 1, len, y[0][0], y[s][t]);
                snprintf(what, sizeof what, "%s backward", nn_act_name((nn_act)a));
                same(what, sets[s], t + 1, len, dx[0][0], dx[s][t]);
            }
        for (int s = 0; s < nsets; s++)
            for (int t = 0; t < 2; t++) {
                free(y[s][t]);
                free(dx[s][t]);
            }
    }
    free(x);
    free(dy);
}

/* The bias gradient of nn_dense_backward_ex (dW and dx come from nn_gemm,
 * checked by test_gemm_isa), overwritten and accumulated. */
static void bias_sums(int64_t B, int64_t in, int64_t out, int nsets)
{
    float *x = alloc_f((size_t)(B * in)), *W = alloc_f((size_t)(out * in));
    float *dy = alloc_f((size_t)(B * out));
    fill(x, (size_t)(B * in), 3);
    fill(W, (size_t)(out * in), 4);
    fill(dy, (size_t)(B * out), 5);
    float *db[NSETS][2];
    float *dW = alloc_f((size_t)(out * in));
    for (int s = 0; s < nsets; s++)
        for (int t = 0; t < 2; t++) {
            nn_gemm_force_kernel(sets[s]);
            nn_set_threads(t + 1);
            db[s][t] = alloc_f((size_t)out);
            fill(db[s][t], (size_t)out, 6);
            nn_dense_backward_ex(x, W, dy, dW, db[s][t], NULL, B, in, out, 0);
            nn_dense_backward_ex(x, W, dy, dW, db[s][t], NULL, B, in, out, 1);
        }
    for (int s = 0; s < nsets; s++)
        for (int t = 0; t < 2; t++)
            same("dense bias column sums", sets[s], t + 1, out, db[0][0], db[s][t]);
    for (int s = 0; s < nsets; s++)
        for (int t = 0; t < 2; t++)
            free(db[s][t]);
    free(dW);
    free(x);
    free(W);
    free(dy);
}

/* Three steps of optimiser c on a network of `units` units (parameters
 * out of the vector width), from the same weights and gradients. */
static void optimiser(const char *what, nn_optim_config c, int64_t units, int nsets)
{
    float *wout[NSETS][2];
    int64_t P = 0;
    for (int s = 0; s < nsets; s++)
        for (int t = 0; t < 2; t++) {
            nn_gemm_force_kernel(sets[s]);
            nn_set_threads(t + 1);
            nn_net *net = NULL;
            nn_optim *opt = NULL;
            CHECK_OK(nn_net_create(9, &net));
            CHECK_OK(nn_net_add_dense(net, 301, units, NULL, NULL));
            P = nn_net_param_count(net);
            float *w = nn_net_params(net), *g = nn_net_grads(net);
            fill(w, (size_t)P, 7);
            CHECK_OK(nn_optim_create(net, &c, &opt));
            for (int step = 0; step < 3; step++) {
                fill(g, (size_t)P, 8 + (unsigned)step);
                CHECK_OK(nn_optim_step(opt, c.lr));
            }
            wout[s][t] = alloc_f((size_t)P);
            memcpy(wout[s][t], w, (size_t)P * sizeof *w);
            nn_optim_free(opt);
            nn_net_free(net);
        }
    for (int s = 0; s < nsets; s++)
        for (int t = 0; t < 2; t++)
            same(what, sets[s], t + 1, P, wout[0][0], wout[s][t]);
    for (int s = 0; s < nsets; s++)
        for (int t = 0; t < 2; t++)
            free(wout[s][t]);
}

/* maxpool size x size over B = 2 images 3 x H x W, whose input x is the
 * relu of r (ties of -1, 0, +1, both zeros, a NaN now and then): which
 * element of a window wins and what each gets, and the backward with the
 * relu's folded in (nn_maxpool_relu_backward) against the relu's backward
 * after maxpool's. */
static void maxpool(int64_t size, int64_t H, int64_t W, int nsets)
{
    const int64_t in = 3 * H * W, B = 2, out = 3 * ((H - size) / size + 1) * ((W - size) / size + 1);
    float *r = alloc_f((size_t)(B * in)), *x = alloc_f((size_t)(B * in)), *g = alloc_f((size_t)(B * out));
    uint32_t u = 99;
    for (int64_t i = 0; i < B * in; i++) {
        u = u * 1664525u + 1013904223u;
        r[i] = i % 37 == 5 ? NAN : i % 7 == 0 ? -0.0f : (float)((u >> 12) % 3) - 1.0f;
    }
    nn_act_forward(NN_ACT_RELU, 0.0f, r, x, B, in);
    fill(g, (size_t)(B * out), 11);
    const char *key = "size";
    nn_value v;
    memset(&v, 0, sizeof v);
    v.num = (double)size;
    const nn_layer_spec spec = {"maxpool", 1, &key, &v};
    nn_layer l;
    CHECK_OK(nn_layer_make(&spec, (nn_shape){3, H, W}, &l));
    float *y[NSETS][2], *dx[NSETS][2], *fold[NSETS][2], *comp = alloc_f((size_t)(B * in));
    char what[64];
    for (int s = 0; s < nsets; s++)
        for (int t = 0; t < 2; t++) {
            nn_gemm_force_kernel(sets[s]);
            nn_set_threads(t + 1);
            y[s][t] = alloc_f((size_t)(B * out));
            dx[s][t] = alloc_f((size_t)(B * in));
            fold[s][t] = alloc_f((size_t)(B * in));
            nn_layer_io io;
            memset(&io, 0, sizeof io);
            io.x = x;
            io.y = y[s][t];
            io.dy = g;
            io.dx = dx[s][t];
            io.B = B;
            l.ops->forward(&l, &io);
            l.ops->backward(&l, &io);
            io.dx = fold[s][t];
            nn_maxpool_relu_backward(&l, &io);
            nn_act_backward(NN_ACT_RELU, 0.0f, r, x, dx[s][t], comp, B, in);
            snprintf(what, sizeof what, "maxpool %lld + relu backward vs the two", (long long)size);
            same(what, sets[s], t + 1, B * in, comp, fold[s][t]);
        }
    for (int s = 0; s < nsets; s++)
        for (int t = 0; t < 2; t++) {
            snprintf(what, sizeof what, "maxpool %lld forward", (long long)size);
            same(what, sets[s], t + 1, B * out, y[0][0], y[s][t]);
            snprintf(what, sizeof what, "maxpool %lld backward", (long long)size);
            same(what, sets[s], t + 1, B * in, dx[0][0], dx[s][t]);
            snprintf(what, sizeof what, "maxpool %lld + relu backward", (long long)size);
            same(what, sets[s], t + 1, B * in, fold[0][0], fold[s][t]);
        }
    for (int s = 0; s < nsets; s++)
        for (int t = 0; t < 2; t++) {
            free(y[s][t]);
            free(dx[s][t]);
            free(fold[s][t]);
        }
    free(comp);
    free(r);
    free(x);
    free(g);
}

static nn_optim_config kind(nn_optim_kind k, double wd, const char *name, double v)
{
    nn_optim_config c = nn_optim_defaults(k);
    c.weight_decay = (float)wd;
    if (name)
        CHECK_OK(nn_optim_set(&c, name, v));
    return c;
}

int main(void)
{
    int nsets = 1;
    while (nsets < NSETS && nn_gemm_force_kernel(sets[nsets]) == 0)
        nsets++;
    if (nsets == 1) {
        printf("test_simd_isa: this CPU or OS lacks AVX2: skipped\n");
        return 77;
    }
    /* Lengths: under one vector, tails of 1..15, and above the parallel
     * grain (so that two threads split them). */
    static const int64_t shapes[][2] = {{1, 1}, {1, 7}, {3, 17}, {5, 31}, {64, 256}, {256, 129}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        activations(shapes[i][0], shapes[i][1], nsets);
    bias_sums(64, 33, 10, nsets);
    static const int64_t planes[][2] = {{2, 2}, {5, 3}, {4, 14}, {3, 15}, {28, 28}, {7, 33}, {2, 34}, {6, 67}};
    for (size_t i = 0; i < sizeof planes / sizeof *planes; i++)
        for (int64_t size = 2; size <= 3; size++)
            if (planes[i][0] >= size && planes[i][1] >= size)
                maxpool(size, planes[i][0], planes[i][1], nsets);
    bias_sums(256, 20, 1000, nsets);
    bias_sums(7, 5, 40001, nsets);
    for (int u = 0; u < 2; u++) {
        const int64_t units = u ? 131 : 3; /* 906 and 40k+ parameters */
        optimiser("sgd", kind(NN_OPTIM_SGD, 0.0, "momentum", 0.0), units, nsets);
        optimiser("sgd wd", kind(NN_OPTIM_SGD, 1e-3, "momentum", 0.0), units, nsets);
        optimiser("sgd momentum", kind(NN_OPTIM_SGD, 1e-4, "momentum", 0.9), units, nsets);
        nn_optim_config nes = kind(NN_OPTIM_SGD, 1e-4, "momentum", 0.9);
        CHECK_OK(nn_optim_set(&nes, "nesterov", 1));
        optimiser("sgd nesterov", nes, units, nsets);
        optimiser("adam", kind(NN_OPTIM_ADAM, 1e-3, NULL, 0), units, nsets);
        optimiser("adamw", kind(NN_OPTIM_ADAMW, 1e-2, NULL, 0), units, nsets);
        optimiser("rmsprop", kind(NN_OPTIM_RMSPROP, 0.0, NULL, 0), units, nsets);
        optimiser("rmsprop momentum", kind(NN_OPTIM_RMSPROP, 1e-4, "momentum", 0.5), units, nsets);
        optimiser("adagrad", kind(NN_OPTIM_ADAGRAD, 1e-4, NULL, 0), units, nsets);
    }
    nn_gemm_force_kernel(NULL);
    nn_set_threads(1);
    printf("test_simd_isa: %d sets (%s) agree bit for bit\n", nsets, sets[nsets - 1]);
    if (tu_failures)
        return 1;
    if (nsets < NSETS) {
        printf("test_simd_isa: this CPU or OS lacks AVX-512F: its part skipped\n");
        return 77;
    }
    return 0;
}
