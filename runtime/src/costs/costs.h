/* costs.h — cost functions on raw buffers (formulas in nnrun.h).
 * y(B,C) network output; t(B,C) targets, or t(B) class labels when labels
 * is set (already checked to be integers in [0,C)); dy(B,C) receives dL/dy
 * when not NULL.  Each returns the mean loss.  Per-row terms are summed in
 * ascending row order in double. */
#ifndef NN_COSTS_H
#define NN_COSTS_H

#include <stdint.h>

/* Probabilities are clamped to [NN_PROB_EPS, 1 - NN_PROB_EPS] before a log. */
#define NN_PROB_EPS 1e-7

double nn_cost_mse(const float *y, const float *t, float *dy, int64_t B, int64_t C);
double nn_cost_cross_entropy(const float *y, const float *t, int labels, float *dy, int64_t B,
                             int64_t C);
double nn_cost_bce(const float *y, const float *t, float *dy, int64_t B, int64_t C);
double nn_cost_bce_logits(const float *y, const float *t, float *dy, int64_t B, int64_t C);
double nn_cost_log_loss(const float *y, const float *t, int labels, float *dy, int64_t B,
                        int64_t C);

#endif
