/* optim.h — the optimiser registry (private).  A kind is one ops entry: its
 * parameters (besides lr and weight_decay, which every kind has), its state
 * slots per parameter, and its update over a range of the parameter block.
 * Encoding (checkpoints) is generic over the parameter list. */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include <stddef.h>

#include "internal.h"

/* A parameter and where it lives in nn_optim_config (a float, or an int
 * for integers and booleans). */
typedef struct nn_optim_param_def {
    nn_param_spec spec;
    size_t offset;
} nn_optim_param_def;

/* One update over parameters [lo, hi).  Every parameter is updated on its
 * own, so any split gives the same bits. */
typedef struct nn_optim_job {
    float *w;       /* parameters                                */
    const float *g; /* gradients                                 */
    float *s;       /* state: slot k of parameter i at s[k*P + i] */
    int64_t P;
    float lr, wd;
    const nn_optim_config *cfg;
    float bc1, rbc2; /* Adam: 1 - b1^t and 1 / (1 - b2^t)        */
} nn_optim_job;

typedef struct nn_optim_ops {
    nn_optim_kind kind;
    const char *name;
    int slots;
    const nn_optim_param_def *params; /* lr and weight_decay first */
    int nparams;
    /* Combinations the ranges cannot say (NULL: none). */
    nn_status (*check)(const nn_optim_config *c);
    /* Per-step constants from the update count t >= 1 (NULL: none). */
    void (*prepare)(nn_optim_job *j, int64_t t);
    void (*range)(int64_t lo, int64_t hi, void *job);
} nn_optim_ops;

extern const nn_optim_ops nn_optim_sgd_ops, nn_optim_adam_ops, nn_optim_adamw_ops,
    nn_optim_rmsprop_ops, nn_optim_adagrad_ops;

#include <math.h>

/* The registry entry of a kind, NULL for a bad one. */
const nn_optim_ops *nn_optim_ops_of(nn_optim_kind k);

#define NN_OPTIM_PARAM(field_, name_, type_, def_, lo_, lo_open_, hi_, hi_open_, doc_)                 \
    {{.name = name_, .type = type_, .def = def_, .min = lo_, .max = hi_, .min_open = lo_open_,             \
      .max_open = hi_open_, .doc = doc_},                                                                  \
     offsetof(nn_optim_config, field_)}

/* The two parameters every kind has, first in its list; lr's default is
 * the kind's. */
#define NN_OPTIM_LR(def) NN_OPTIM_PARAM(lr, "lr", NN_PARAM_FLOAT, def, 0, 1, HUGE_VAL, 0, "learning rate")
#define NN_OPTIM_WD(help) NN_OPTIM_PARAM(weight_decay, "weight_decay", NN_PARAM_FLOAT, 0, 0, 0, HUGE_VAL, 0, help)

#endif
