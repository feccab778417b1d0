/* loss.c — names, shape checks and dispatch of the cost functions. */
#include <math.h>
#include <string.h>

#include "../internal.h"
#include "costs.h"

static const char *const loss_names[] = {"mse", "cross_entropy", "bce", "bce_logits", "log_loss"};
#define N_LOSSES ((int)(sizeof loss_names / sizeof loss_names[0]))

const char *nn_loss_name(nn_loss_kind k)
{
    return (int)k >= 0 && (int)k < N_LOSSES ? loss_names[k] : NULL;
}

nn_status nn_loss_parse(const char *name, nn_loss_kind *out)
{
    static const struct {
        const char *alias;
        nn_loss_kind kind;
    } aliases[] = {
        {"mean_squared_error", NN_LOSS_MSE},
        {"categorical_crossentropy", NN_LOSS_CROSS_ENTROPY},
        {"binary_crossentropy", NN_LOSS_BCE},
        {"nll", NN_LOSS_LOG_LOSS},
    };
    if (!name || !out)
        return nn_fail(NN_EINVAL, "loss: NULL name");
    for (int i = 0; i < N_LOSSES; i++) {
        if (strcmp(name, loss_names[i]) == 0) {
            *out = (nn_loss_kind)i;
            return NN_OK;
        }
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        if (strcmp(name, aliases[i].alias) == 0) {
            *out = aliases[i].kind;
            return NN_OK;
        }
    }
    return nn_fail(NN_EINVAL, "unknown loss '%s'", name);
}

/* Whether t holds class labels for y of width C under this loss: t has one
 * column and the loss is categorical.  Checks the labels. */
nn_status nn_loss_targets(nn_loss_kind kind, int64_t B, int64_t C, const float *t, int64_t tcols,
                          int *labels)
{
    const char *name = nn_loss_name(kind);
    *labels = 0;
    if (kind == NN_LOSS_CROSS_ENTROPY || kind == NN_LOSS_LOG_LOSS) {
        if (C < 2)
            return nn_fail(NN_ESHAPE, "%s: the output has %lld column; a categorical loss needs >= 2 classes",
                           name, (long long)C);
        if (tcols == 1) {
            for (int64_t i = 0; i < B; i++) {
                const float v = t[i];
                if (!(v >= 0.0f && v < (float)C && v == floorf(v)))
                    return nn_fail(NN_ERANGE, "%s: target row %lld: class label %g is not an integer in [0, %lld)",
                                   name, (long long)i + 1, v, (long long)C); /* rows from 1 */
            }
            *labels = 1;
            return NN_OK;
        }
    }
    if (tcols != C)
        return nn_fail(NN_ESHAPE, "%s: target has %lld columns, output has %lld", name,
                       (long long)tcols, (long long)C);
    return NN_OK;
}

double nn_loss_raw(nn_loss_kind kind, const float *y, const float *t, int labels, float *dy,
                   int64_t B, int64_t C)
{
    switch (kind) {
    case NN_LOSS_MSE: return nn_cost_mse(y, t, dy, B, C);
    case NN_LOSS_CROSS_ENTROPY: return nn_cost_cross_entropy(y, t, labels, dy, B, C);
    case NN_LOSS_BCE: return nn_cost_bce(y, t, dy, B, C);
    case NN_LOSS_BCE_LOGITS: return nn_cost_bce_logits(y, t, dy, B, C);
    case NN_LOSS_LOG_LOSS: return nn_cost_log_loss(y, t, labels, dy, B, C);
    }
    return NAN;
}

nn_status nn_loss(nn_loss_kind kind, const nn_tensor *y, const nn_tensor *t, double *loss,
                  nn_tensor *dy)
{
    if (!y || !t || !loss)
        return nn_fail(NN_EINVAL, "loss: NULL argument");
    if (!nn_loss_name(kind))
        return nn_fail(NN_EINVAL, "loss: unknown kind %d", (int)kind);
    const int64_t B = nn_tensor_rows(y), C = nn_tensor_cols(y);
    if (nn_tensor_rows(t) != B)
        return nn_fail(NN_ESHAPE, "%s: target has %lld rows, output has %lld", nn_loss_name(kind),
                       (long long)nn_tensor_rows(t), (long long)B);
    if (dy && (nn_tensor_rows(dy) != B || nn_tensor_cols(dy) != C))
        return nn_fail(NN_ESHAPE, "%s: gradient tensor is (%lld, %lld), output is (%lld, %lld)",
                       nn_loss_name(kind), (long long)nn_tensor_rows(dy),
                       (long long)nn_tensor_cols(dy), (long long)B, (long long)C);
    int labels;
    nn_status s = nn_loss_targets(kind, B, C, nn_tensor_cdata(t), nn_tensor_cols(t), &labels);
    if (s)
        return s;
    *loss = nn_loss_raw(kind, nn_tensor_cdata(y), nn_tensor_cdata(t), labels,
                        dy ? nn_tensor_data(dy) : NULL, B, C);
    return NN_OK;
}
