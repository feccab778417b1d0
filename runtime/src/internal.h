/* internal.h — private helpers shared by the runtime's translation units.
 * Nothing here is exported (the library builds with -fvisibility=hidden). */
#ifndef NN_INTERNAL_H
#define NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "nnrun.h"

/* Every allocation of the library goes through these (see nn_set_allocator).
 * nn_xalloc(0) allocates one byte so that NULL always means failure. */
void *nn_xalloc(size_t size);
void *nn_xcalloc(size_t n, size_t size); /* zeroed; NULL on overflow */
void nn_xfree(void *p);

/* Records the detail of a failure for nn_last_error() and returns s, so that
 * callers can write `return nn_fail(NN_EINVAL, "...", ...)`. */
nn_status nn_fail(nn_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* nn_fail(NN_ENOMEM, "<what>: out of memory"). */
nn_status nn_oom(const char *what);

/* Logs through the host's callback, if any. */
void nn_log(nn_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Threads the kernels use (nn_set_threads). */
int nn_threads(void);

/* a*b into *out without overflow; 0 on overflow or negative input. */
int nn_mul_ok(int64_t a, int64_t b, int64_t *out);

/* Tensor internals, so that the runtime can place tensors over its own
 * buffers without allocating in the training step. */
struct nn_tensor {
    float *data;
    int64_t shape[NN_MAX_DIMS];
    int ndim;
    int owns; /* frees data in nn_tensor_free */
};
/* Makes t a (rows, cols) tensor over borrowed data, no allocation. */
void nn_tensor_wrap(nn_tensor *t, float *data, int64_t rows, int64_t cols);

/* Cost dispatch on raw buffers (costs/loss.c).  nn_loss_targets decides
 * whether t(B, tcols) holds class labels for an output of width C and checks
 * them; nn_loss_raw then computes the loss (and dy when not NULL). */
nn_status nn_loss_targets(nn_loss_kind kind, int64_t B, int64_t C, const float *t, int64_t tcols,
                          int *labels);
double nn_loss_raw(nn_loss_kind kind, const float *y, const float *t, int labels, float *dy,
                   int64_t B, int64_t C);

/* Names of the initialisers and activations in enum order, NULL-terminated
 * (init.c, layers/activation.c): the choices of the layer settings. */
extern const char *const nn_init_names[];
extern const char *const nn_act_names[];

/* Network internals the trainer uses: forward on a borrowed buffer of B
 * rows (must stay valid until backward), and backward with dx only when
 * wanted; accumulate == 0 overwrites the gradients instead of adding to
 * them (the same as nn_net_zero_grad first, without the extra pass). */
nn_status nn_net_forward_raw(nn_net *net, const float *x, int64_t B, const float **y);
/* The same in a given mode whatever the network's (the trainer's steps run
 * in train mode, evaluation in eval mode). */
nn_status nn_net_forward_in(nn_net *net, const float *x, int64_t B, nn_mode mode, const float **y);
nn_status nn_net_backward_raw(nn_net *net, const float *dy, int want_dx, int accumulate,
                              const float **dx);
/* Points the network's gradient block at g (nn_net_param_count floats,
 * the caller's) and returns the block it replaces: backward then writes a
 * micro-shard's gradient where the trainer keeps it, without a copy. */
float *nn_net_swap_grads(nn_net *net, float *g);
/* For tests: on = 0 runs every layer on its own (no fused runs, no
 * views; see net.c), as NNRUN_FUSE=off does; the same bits either way.
 * Frees the activations (the next forward plans again). */
void nn_net_set_fusion(nn_net *net, int on);
/* How the last nn_net_prepare planned layer i (valid): on its own
 * (NN_PLAN_SELF, also before any prepare), as a view of its input
 * (flatten), run on the chunks of the conv2d before it, or, for a conv2d
 * heading such a run, the index past the run (> 0). */
enum { NN_PLAN_SELF = 0, NN_PLAN_VIEW = -1, NN_PLAN_FUSED = -2 };
int nn_net_plan(const nn_net *net, int i);
/* Layer i (valid) as error messages name it: "dense 4->8", "relu 8". */
void nn_net_describe_layer(const nn_net *net, int i, char *buf, size_t n);

/* The form in which configurations are handed back (nn_trainer_config,
 * nn_checkpoint_train_config): an SGD optimiser as the deprecated .sgd with
 * optim.kind UNSET, so that 0.1 callers that change .sgd keep working;
 * any other kind in .optim.  oc is the optimiser cfg selects. */
nn_train_config nn_train_config_canonical(const nn_train_config *cfg, const nn_optim_config *oc);

/* Index of the first largest of v[0..n), n >= 1: the predicted class
 * (shared by nn_evaluate and nn_evaluate_metrics, so they agree on ties). */
static inline int64_t nn_argmax(const float *v, int64_t n)
{
    int64_t k = 0;
    for (int64_t j = 1; j < n; j++)
        if (v[j] > v[k])
            k = j;
    return k;
}

#endif
