/* metrics.c — evaluation metrics over a data set: loss; for classification
 * accuracy, top-k accuracy, the confusion matrix and per-class precision,
 * recall and F1; for regression MSE, MAE and R^2.
 * Sums are accumulated serially in double, in row order, so the figures do
 * not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "io/io.h"

void nn_metrics_free(nn_metrics *m)
{
    if (!m)
        return;
    nn_xfree(m->confusion);
    nn_xfree(m->precision);
    nn_xfree(m->recall);
    nn_xfree(m->f1);
    nn_xfree(m);
}

/* Rank of the true class among the outputs: the number of outputs scoring
 * strictly higher (ties count in the true class's favour). */
static int64_t rank_of(const float *y, int64_t C, int64_t cls)
{
    int64_t higher = 0;
    for (int64_t j = 0; j < C; j++)
        higher += y[j] > y[cls];
    return higher;
}

/* The network's outputs on every row of data, (N, C) into *yall, with the
 * batches of bs rows split over the ranks of pc: each rank runs its
 * contiguous part and the outputs meet in one allreduce of doubles in
 * which each value comes from one rank and the others add 0 (exact).  The
 * outputs are those one process computes, batch by batch. */
static nn_status split_outputs(nn_net *net, const nn_dataset *data, int64_t bs, const nn_parallel_config *pc,
                               float *xbuf, float **yall)
{
    const int64_t N = nn_dataset_size(data), in = nn_dataset_features(data), C = nn_net_output_size(net);
    const float *X = nn_dataset_xf(data);
    const int64_t nb = (N + bs - 1) / bs, b0 = (int64_t)pc->rank * nb / pc->ranks;
    const int64_t b1 = (int64_t)(pc->rank + 1) * nb / pc->ranks;
    int64_t NC;
    if (!nn_mul_ok(N, C, &NC) || (uint64_t)NC > SIZE_MAX / sizeof(double))
        return nn_fail(NN_ERANGE, "metrics: %lld outputs are too many", (long long)N);
    double *buf = nn_xalloc((size_t)NC * sizeof(double));
    float *y = nn_xalloc((size_t)NC * sizeof(float));
    nn_status s = buf && y ? NN_OK : nn_oom("metrics");
    /* -0 where this rank has nothing: x + -0 is x for every x, +0 and -0
     * included (+0 would turn a -0 output into +0). */
    for (int64_t i = 0; s == NN_OK && i < NC; i++)
        buf[i] = -0.0;
    for (int64_t bi = b0; s == NN_OK && bi < b1; bi++) {
        const int64_t start = bi * bs, n = start + bs <= N ? bs : N - start;
        const float *yb;
        if (xbuf)
            nn_dataset_gather_x(data, NULL, start, n, xbuf);
        if ((s = nn_net_forward_in(net, xbuf ? xbuf : X + start * in, n, NN_MODE_EVAL, &yb)))
            break;
        for (int64_t i = 0; i < n * C; i++)
            buf[start * C + i] = yb[i];
    }
    if (s == NN_OK && pc->allreduce(buf, NC, NN_REDUCE_SUM_DOUBLE, pc->user) < 0)
        s = nn_fail(NN_ECANCELLED, "metrics: the reduction across ranks failed");
    for (int64_t i = 0; s == NN_OK && i < NC; i++)
        y[i] = (float)buf[i];
    nn_xfree(buf);
    if (s) {
        nn_xfree(y);
        return s;
    }
    *yall = y;
    return NN_OK;
}

nn_status nn_evaluate_metrics(nn_net *net, const nn_dataset *data, nn_loss_kind loss,
                              const nn_metrics_options *opt, nn_metrics **out)
{
    if (!out)
        return nn_fail(NN_EINVAL, "metrics: out is NULL");
    *out = NULL;
    if (!net || !data)
        return nn_fail(NN_EINVAL, "metrics: NULL argument");
    if (!nn_loss_name(loss))
        return nn_fail(NN_EINVAL, "metrics: unknown loss %d", (int)loss);
    if (nn_net_layers(net) == 0)
        return nn_fail(NN_ESTATE, "metrics: the network has no layers");
    int64_t bs = opt ? opt->batch_size : 0;
    const nn_parallel_config *pc = opt && opt->parallel && opt->parallel->ranks > 1 ? opt->parallel : NULL;
    int top_k = opt ? opt->top_k : 0;
    if (bs < 0 || top_k < 0)
        return nn_fail(NN_EINVAL, "metrics: batch_size and top_k must be >= 0");
    bs = bs ? bs : 256;
    top_k = top_k ? top_k : 5;
    const int64_t N = nn_dataset_size(data), in = nn_dataset_features(data);
    const int64_t tcols = nn_dataset_target_cols(data), C = nn_net_output_size(net);
    if (in != nn_net_input_size(net))
        return nn_fail(NN_ESHAPE, "metrics: data has %lld features, network expects %lld", (long long)in,
                       (long long)nn_net_input_size(net));
    const float *X = nn_dataset_xf(data), *T = nn_tensor_cdata(nn_dataset_t(data));
    int labels;
    nn_status s = nn_loss_targets(loss, N, C, T, tcols, &labels);
    if (s)
        return s;
    const int binary = C == 1 && (loss == NN_LOSS_BCE || loss == NN_LOSS_BCE_LOGITS);
    const int classify = C >= 2 || binary;
    const int64_t K = binary ? 2 : C; /* classes */
    if (!classify && tcols != C)
        return nn_fail(NN_ESHAPE, "metrics: regression targets have %lld columns, the output %lld",
                       (long long)tcols, (long long)C);
    const float thresh = loss == NN_LOSS_BCE_LOGITS ? 0.0f : 0.5f;

    nn_metrics *m = nn_xcalloc(1, sizeof *m);
    float *xbuf = NULL, *yall = NULL;
    double *colsum = NULL, *colsq = NULL, *colres = NULL;
    if (!m)
        return nn_oom("metrics");
    m->samples = N;
    m->classification = classify;
    m->classes = classify ? K : 0;
    m->accuracy = m->top_k_accuracy = m->macro_precision = m->macro_recall = m->macro_f1 = NAN;
    m->mse = m->mae = m->r2 = NAN;
    m->top_k = classify ? (int)(top_k < K ? top_k : K) : 0;
    int64_t KK;
    if (classify) {
        if (!nn_mul_ok(K, K, &KK) || (uint64_t)KK > SIZE_MAX / sizeof(int64_t)) {
            s = nn_fail(NN_ERANGE, "metrics: too many classes (%lld)", (long long)K);
            goto fail;
        }
        m->confusion = nn_xcalloc((size_t)KK, sizeof(int64_t));
        m->precision = nn_xcalloc((size_t)K, sizeof(double));
        m->recall = nn_xcalloc((size_t)K, sizeof(double));
        m->f1 = nn_xcalloc((size_t)K, sizeof(double));
        if (!m->confusion || !m->precision || !m->recall || !m->f1) {
            s = nn_oom("metrics");
            goto fail;
        }
    } else {
        colsum = nn_xcalloc((size_t)C, sizeof(double));
        colsq = nn_xcalloc((size_t)C, sizeof(double));
        colres = nn_xcalloc((size_t)C, sizeof(double));
        if (!colsum || !colsq || !colres) {
            s = nn_oom("metrics");
            goto fail;
        }
    }
    if (!X) {
        int64_t xn;
        if (!nn_mul_ok(bs < N ? bs : N, in, &xn) || !(xbuf = nn_xalloc((size_t)xn * sizeof(float)))) {
            s = nn_oom("metrics");
            goto fail;
        }
    }
    if (pc && (s = split_outputs(net, data, bs, pc, xbuf, &yall)))
        goto fail;
    double sum = 0.0, se = 0.0, ae = 0.0;
    int64_t correct = 0, topk = 0;
    for (int64_t start = 0; start < N; start += bs) {
        const int64_t n = start + bs <= N ? bs : N - start;
        const float *y = yall ? yall + start * C : NULL;
        if (xbuf && !yall)
            nn_dataset_gather_x(data, NULL, start, n, xbuf);
        if (!yall && (s = nn_net_forward_in(net, xbuf ? xbuf : X + start * in, n, NN_MODE_EVAL, &y)))
            goto fail;
        const float *tb = T + start * tcols;
        sum += nn_loss_raw(loss, y, tb, labels, NULL, n, C) * (double)n;
        for (int64_t r = 0; r < n; r++) {
            const float *yr = y + r * C, *tr = tb + r * tcols;
            if (classify) {
                int64_t truth, pred;
                if (binary) {
                    truth = tr[0] > 0.5f;
                    pred = yr[0] > thresh;
                } else {
                    truth = tcols == 1 ? (int64_t)tr[0] : nn_argmax(tr, tcols);
                    pred = nn_argmax(yr, C);
                }
                m->confusion[truth * K + pred]++;
                correct += truth == pred;
                topk += binary ? truth == pred : rank_of(yr, C, truth) < m->top_k;
            } else {
                for (int64_t j = 0; j < C; j++) {
                    const double e = (double)yr[j] - (double)tr[j];
                    se += e * e;
                    ae += fabs(e);
                    colres[j] += e * e;
                    colsum[j] += tr[j];
                }
            }
        }
    }
    m->loss = sum / (double)N;
    if (classify) {
        m->accuracy = (double)correct / (double)N;
        m->top_k_accuracy = (double)topk / (double)N;
        double mp = 0, mr = 0, mf = 0;
        for (int64_t c = 0; c < K; c++) {
            int64_t tp = m->confusion[c * K + c], pred = 0, actual = 0;
            for (int64_t j = 0; j < K; j++) {
                pred += m->confusion[j * K + c];
                actual += m->confusion[c * K + j];
            }
            const double p = pred ? (double)tp / (double)pred : 0.0;
            const double rc = actual ? (double)tp / (double)actual : 0.0;
            m->precision[c] = p;
            m->recall[c] = rc;
            m->f1[c] = p + rc > 0 ? 2 * p * rc / (p + rc) : 0.0;
            mp += p;
            mr += rc;
            mf += m->f1[c];
        }
        m->macro_precision = mp / (double)K;
        m->macro_recall = mr / (double)K;
        m->macro_f1 = mf / (double)K;
    } else {
        int64_t nc;
        nn_mul_ok(N, C, &nc);
        m->mse = se / (double)nc;
        m->mae = ae / (double)nc;
        /* SS_tot per column around its mean: a second pass over the targets. */
        for (int64_t r = 0; r < N; r++)
            for (int64_t j = 0; j < C; j++) {
                const double e = (double)T[r * tcols + j] - colsum[j] / (double)N;
                colsq[j] += e * e;
            }
        double r2 = 0;
        for (int64_t j = 0; j < C; j++)
            r2 += colsq[j] > 0 ? 1.0 - colres[j] / colsq[j] : (colres[j] == 0 ? 1.0 : 0.0);
        m->r2 = r2 / (double)C;
    }
    nn_xfree(xbuf);
    nn_xfree(yall);
    nn_xfree(colsum);
    nn_xfree(colsq);
    nn_xfree(colres);
    *out = m;
    return NN_OK;
fail:
    nn_xfree(xbuf);
    nn_xfree(yall);
    nn_xfree(colsum);
    nn_xfree(colsq);
    nn_xfree(colres);
    nn_metrics_free(m);
    return s;
}
