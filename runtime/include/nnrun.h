/* nnrun.h — the public C API of libnnrun.
 *
 * libnnrun is a small neural-network training runtime: float32 tensors,
 * dense layers and activations, cost functions, optimisers (SGD, Adam,
 * AdamW, RMSprop, Adagrad), learning rate schedules and a training loop
 * with a gradient hook and clipping.  It never prints, never exits and never
 * aborts: every fallible call returns an nn_status, and nn_last_error() holds
 * a message naming the problem.
 *
 * Conventions
 * - Handles are opaque.  Every _create has a _free; _free(NULL) is a no-op.
 *   On failure *out is set to NULL.
 * - Pointers obtained from a handle are borrowed: valid while the handle lives
 *   (and, for a network, until its next structural change), never freed.
 * - Buffers passed in are copied unless documented as borrowed.
 * - Tensors are float32, row-major, contiguous, batch first.
 * - Thread safety: distinct handles may be used from distinct threads at the
 *   same time.  One handle is not safe to use from two threads at once.
 *   Global settings (nn_set_threads, nn_set_allocator, nn_set_log) are
 *   process-wide and must not race with other calls.
 * - Results are bitwise identical for any thread count.
 */
#ifndef NNRUN_H
#define NNRUN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(NNRUN_SHARED_BUILD)
#define NN_API __declspec(dllexport)
#elif defined(__GNUC__)
#define NN_API __attribute__((visibility("default")))
#else
#define NN_API
#endif

#define NN_VERSION_MAJOR 0
#define NN_VERSION_MINOR 1
#define NN_VERSION_PATCH 0

/* The library's version, "MAJOR.MINOR.PATCH".  Static string. */
NN_API const char *nn_version(void);

/* ------------------------------------------------------------------------
 * Status codes and errors
 * ------------------------------------------------------------------------ */
typedef enum nn_status {
    NN_OK = 0,
    NN_EINVAL = 1,     /* an argument is invalid (NULL handle, bad value)  */
    NN_ESHAPE = 2,     /* tensor shapes do not agree                       */
    NN_ENOMEM = 3,     /* an allocation failed                             */
    NN_ERANGE = 4,     /* a size or index is out of range                  */
    NN_ESTATE = 5,     /* call not valid in the object's current state     */
    NN_EDIVERGED = 6,  /* training produced a non-finite loss              */
    NN_ECANCELLED = 7, /* a callback reported an error                     */
    NN_EIO = 8,        /* reading or writing a file failed                 */
    NN_EFORMAT = 9     /* a file is malformed                              */
} nn_status;

/* Short, static name of a status ("invalid argument").  Never NULL. */
NN_API const char *nn_strerror(nn_status s);

/* Detail of this thread's last failure, e.g.
 * "dense: input has 3 features, layer expects 4".  Valid until the next
 * failing call on this thread.  Empty string when nothing failed yet. */
NN_API const char *nn_last_error(void);

/* ------------------------------------------------------------------------
 * Allocation, logging, threads
 * ------------------------------------------------------------------------ */

/* All memory the library allocates goes through this allocator.  alloc
 * returns NULL on failure; size is never 0.  Tests use it to count
 * allocations and to fail the Nth one.  Pass NULL to restore malloc/free.
 * Change it only while no library object is alive. */
typedef struct nn_allocator {
    void *(*alloc)(size_t size, void *user);
    void (*release)(void *ptr, void *user);
    void *user;
} nn_allocator;
NN_API void nn_set_allocator(const nn_allocator *a);

/* Progress messages and warnings (the library never prints). */
typedef enum nn_log_level { NN_LOG_DEBUG, NN_LOG_INFO, NN_LOG_WARN } nn_log_level;
typedef void (*nn_log_fn)(nn_log_level level, const char *msg, void *user);
NN_API void nn_set_log(nn_log_fn fn, void *user); /* NULL: discard */

/* Threads used by the parallel kernels.  n >= 1; NN_EINVAL otherwise.
 * Default: the OpenMP default (usually the number of cores).  Results do
 * not depend on it. */
NN_API nn_status nn_set_threads(int n);
NN_API int nn_get_threads(void);

/* ------------------------------------------------------------------------
 * Random numbers: xoshiro256** seeded through splitmix64.  The state is
 * plain data so a host can store and restore it.  A seed fixes every
 * initialisation and every shuffle.
 * ------------------------------------------------------------------------ */
typedef struct nn_rng {
    uint64_t s[4];
} nn_rng;
NN_API void nn_rng_seed(nn_rng *r, uint64_t seed);
NN_API uint64_t nn_rng_next(nn_rng *r);
NN_API double nn_rng_uniform(nn_rng *r);             /* [0, 1)          */
NN_API double nn_rng_normal(nn_rng *r);              /* N(0, 1)         */
NN_API uint64_t nn_rng_below(nn_rng *r, uint64_t n); /* [0, n), n > 0   */

/* ------------------------------------------------------------------------
 * Tensors: float32, row-major, contiguous, 1 to 4 dimensions, batch first.
 * ------------------------------------------------------------------------ */
#define NN_MAX_DIMS 4
typedef struct nn_tensor nn_tensor;

/* A new tensor of the given shape, zero-filled.  ndim in 1..4, each
 * dimension >= 1 (NN_EINVAL otherwise; NN_ERANGE if the element count
 * overflows). */
NN_API nn_status nn_tensor_create(int ndim, const int64_t *shape, nn_tensor **out);
/* Shorthand for a (rows, cols) tensor. */
NN_API nn_status nn_tensor_create2d(int64_t rows, int64_t cols, nn_tensor **out);
/* A new (rows, cols) tensor holding a copy of data (rows*cols floats). */
NN_API nn_status nn_tensor_from(int64_t rows, int64_t cols, const float *data, nn_tensor **out);
/* A view of rows [start, start+count) of t's first dimension.  The view
 * borrows t's memory: it is valid while t lives and never resized.  Freeing
 * the view does not free the data. */
NN_API nn_status nn_tensor_view_rows(nn_tensor *t, int64_t start, int64_t count, nn_tensor **out);
/* Frees the tensor (and its data unless it is a view).  NULL is a no-op. */
NN_API void nn_tensor_free(nn_tensor *t);

NN_API int nn_tensor_ndim(const nn_tensor *t);
NN_API int64_t nn_tensor_dim(const nn_tensor *t, int i); /* 0 if i out of range */
NN_API int64_t nn_tensor_size(const nn_tensor *t);       /* element count */
/* Rows = first dimension; cols = product of the others. */
NN_API int64_t nn_tensor_rows(const nn_tensor *t);
NN_API int64_t nn_tensor_cols(const nn_tensor *t);
NN_API float *nn_tensor_data(nn_tensor *t); /* borrowed */
NN_API const float *nn_tensor_cdata(const nn_tensor *t);

NN_API void nn_tensor_fill(nn_tensor *t, float v);
/* dst = src; element counts must match (NN_ESHAPE). */
NN_API nn_status nn_tensor_copy(nn_tensor *dst, const nn_tensor *src);
/* Bounds-checked element access on a 2-D view of the tensor (rows, cols). */
NN_API nn_status nn_tensor_get(const nn_tensor *t, int64_t row, int64_t col, float *v);
NN_API nn_status nn_tensor_set(nn_tensor *t, int64_t row, int64_t col, float v);

/* ------------------------------------------------------------------------
 * Initialisers (for weights and biases)
 *   fan_in = inputs of the layer, fan_out = its units.
 *   ZEROS            0
 *   CONSTANT         a
 *   UNIFORM          U(a, b)
 *   NORMAL           N(mean a, std b)
 *   XAVIER_UNIFORM   U(-l, l),  l = sqrt(6 / (fan_in + fan_out))
 *   XAVIER_NORMAL    N(0, s),   s = sqrt(2 / (fan_in + fan_out))
 *   HE_UNIFORM       U(-l, l),  l = sqrt(6 / fan_in)
 *   HE_NORMAL        N(0, s),   s = sqrt(2 / fan_in)
 * ------------------------------------------------------------------------ */
typedef enum nn_init_kind {
    NN_INIT_ZEROS,
    NN_INIT_CONSTANT,
    NN_INIT_UNIFORM,
    NN_INIT_NORMAL,
    NN_INIT_XAVIER_UNIFORM,
    NN_INIT_XAVIER_NORMAL,
    NN_INIT_HE_UNIFORM,
    NN_INIT_HE_NORMAL
} nn_init_kind;
typedef struct nn_init {
    nn_init_kind kind;
    float a, b;
} nn_init;
/* Fill n values with the initialiser.  NN_EINVAL for a bad kind, a
 * non-finite parameter, b < a (uniform) or b < 0 (normal std). */
NN_API nn_status nn_init_fill(const nn_init *init, float *w, int64_t n, int64_t fan_in,
                              int64_t fan_out, nn_rng *rng);
/* "zeros", "constant", "uniform", "normal", "xavier_uniform",
 * "xavier_normal", "he_uniform", "he_normal"; NULL for a bad kind. */
NN_API const char *nn_init_name(nn_init_kind k);
NN_API nn_status nn_init_parse(const char *name, nn_init_kind *out);

/* ------------------------------------------------------------------------
 * Activations (element-wise except softmax, which is per row)
 *   IDENTITY    y = x
 *   SIGMOID     y = 1 / (1 + e^-x)
 *   TANH        y = tanh x
 *   RELU        y = max(0, x)
 *   LEAKY_RELU  y = x if x > 0 else slope * x     (slope = param)
 *   SOFTMAX     y_j = e^(x_j - m) / sum_k e^(x_k - m), m = max_k x_k
 * ------------------------------------------------------------------------ */
typedef enum nn_act {
    NN_ACT_IDENTITY,
    NN_ACT_SIGMOID,
    NN_ACT_TANH,
    NN_ACT_RELU,
    NN_ACT_LEAKY_RELU,
    NN_ACT_SOFTMAX,
    NN_ACT_GELU,    /* y = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2       */
    NN_ACT_ELU,     /* y = x if x > 0 else alpha (e^x - 1)  (alpha = param) */
    NN_ACT_SILU,    /* y = x sigmoid(x)                                 */
    NN_ACT_SOFTPLUS /* y = log(1 + e^x)                                 */
} nn_act;
NN_API const char *nn_act_name(nn_act a); /* "relu", ...; NULL if bad */
NN_API nn_status nn_act_parse(const char *name, nn_act *out);

/* ------------------------------------------------------------------------
 * Cost functions.  y is the network output (B, C), t the target.
 *
 *   MSE            L = 1/(B*C) sum_{i,j} (y_ij - t_ij)^2         t: (B, C)
 *   CROSS_ENTROPY  categorical cross-entropy on logits, softmax fused:
 *                  L = 1/B sum_i [ (sum_j t_ij) logsumexp_j y_ij - sum_j t_ij y_ij ]
 *                  (= -1/B sum t log softmax(y); the first sum is 1 for
 *                  one-hot targets and labels)
 *                  t: (B, C) one-hot or soft targets (rows sum to 1), or
 *                  (B, 1) / (B) integer class labels in [0, C).  C >= 2.
 *   BCE            binary cross-entropy on probabilities p = y in [0,1]:
 *                  L = -1/(B*C) sum t log p + (1-t) log(1-p),
 *                  p clamped to [1e-7, 1-1e-7].                  t: (B, C)
 *   BCE_LOGITS     the same on logits z = y, stable form:
 *                  L = 1/(B*C) sum max(z,0) - z t + log(1 + e^-|z|)
 *   LOG_LOSS       negative log-likelihood of predicted class probabilities
 *                  (e.g. a softmax output):
 *                  L = -1/B sum_i sum_j t_ij log p_ij, p clamped to >= 1e-7
 *                  t as for CROSS_ENTROPY (labels or one-hot/soft).
 *
 * Class labels are stored as floats holding exact integers.  No finite input
 * gives a NaN or infinite loss.
 * ------------------------------------------------------------------------ */
typedef enum nn_loss_kind {
    NN_LOSS_MSE,
    NN_LOSS_CROSS_ENTROPY,
    NN_LOSS_BCE,
    NN_LOSS_BCE_LOGITS,
    NN_LOSS_LOG_LOSS
} nn_loss_kind;
/* "mse", "cross_entropy", "bce", "bce_logits", "log_loss". */
NN_API const char *nn_loss_name(nn_loss_kind k);
/* Also accepts the aliases "mean_squared_error", "categorical_crossentropy",
 * "binary_crossentropy", "nll". */
NN_API nn_status nn_loss_parse(const char *name, nn_loss_kind *out);

/* Value of the loss, and (if dy is not NULL) its gradient dL/dy written into
 * dy, which must have y's shape.  NN_ESHAPE if t does not fit y; NN_ERANGE for
 * a class label outside [0, C) or not an integer. */
NN_API nn_status nn_loss(nn_loss_kind kind, const nn_tensor *y, const nn_tensor *t,
                         double *loss, nn_tensor *dy);

/* ------------------------------------------------------------------------
 * Sequential network
 * ------------------------------------------------------------------------ */
typedef struct nn_net nn_net;
/* The kinds nn_layer_info names by number; every other kind of the registry
 * is NN_LAYER_OTHER (its name is in nn_layer_info.name). */
typedef enum nn_layer_kind { NN_LAYER_DENSE, NN_LAYER_ACTIVATION, NN_LAYER_OTHER } nn_layer_kind;

/* ---- the layer registry ----------------------------------------------
 * Every layer kind is an entry of a registry in the runtime, with its
 * settings described by parameter specs (name, type, default, range), the
 * one definition the Lua bindings and the YAML schema are built from.
 *
 *   dense       units (int >= 1), in (int >= 0; 0: the previous layer's
 *               width, required on a first layer), init (xavier_uniform),
 *               bias_init (zeros).  y = x W^T + b.
 *   activation  name (identity, sigmoid, tanh, relu, leaky_relu, softmax,
 *               gelu, elu, silu, softplus), slope (leaky_relu, 0.01),
 *               alpha (elu, 1).  Element-wise (softmax per sample).
 *   dropout     p in [0, 1) (0.5).  Train mode: y = x m / (1 - p), m ~
 *               Bernoulli(1 - p) drawn from the network's mask stream;
 *               eval mode: y = x.
 *   batchnorm   momentum in [0, 1] (0.1), eps > 0 (1e-5).  Per channel over
 *               the batch (and H, W): train mode y = gamma xhat + beta with
 *               the batch's mean and (biased) variance, and running
 *               statistics r = (1 - momentum) r + momentum batch (the
 *               unbiased variance), kept as non-trainable state; eval mode
 *               uses the running statistics.
 *   layernorm   eps > 0 (1e-5).  Per sample over all its features:
 *               y = gamma (x - mean) / sqrt(var + eps) + beta, gamma and
 *               beta per feature.
 *   gaussian_noise  stddev >= 0 (0.1).  Train mode: y = x + stddev z,
 *               z ~ N(0, 1) from the mask stream; eval mode: y = x.
 *   conv2d      filters (int >= 1, required), kernel (int >= 1, required),
 *               stride (1), padding (int >= 0, 0), dilation (1), init
 *               (he_uniform, fan_in = C k k), bias_init (zeros).  On
 *               {C,H,W}: y(F, OH, OW) = W(F, C k k) im2col(x) + b(F), with
 *               OH = (H + 2 padding - dilation (kernel - 1) - 1) / stride + 1
 *               (floor; OW likewise); zero padding on every side.  No
 *               activation of its own (a following activation layer).
 *               "Same" padding (front ends): padding = dilation (kernel - 1)
 *               / 2 for an odd kernel at stride 1 keeps H x W; an even
 *               kernel has no symmetric "same" padding and should be
 *               refused.  Weights view (F, C k k) (row f: c-major, then the
 *               kernel row, then its column), bias (F).
 *   maxpool     size (int >= 1, 2), stride (int >= 0, 0: = size).  Per
 *               channel, the maximum over each size x size window (no
 *               padding; OH = (H - size) / stride + 1); the gradient goes
 *               to the first maximum of a window in row-major order.
 *   avgpool     size (2), stride (0: = size).  The mean over each window.
 *   global_avgpool  (no settings).  {C,H,W} -> {C,1,1}: the mean per channel.
 *   flatten     (no settings).  {C,H,W} -> {C H W,1,1}, the same floats.
 * Shapes: every layer maps a per-sample shape {C,H,W} to another, stored
 * row-major (c, then h, then w) in each sample's row.  A feature vector is
 * {n,1,1}.  dense flattens implicitly: after {C,H,W} it takes C H W
 * features in that order (flatten is there to say so).  activation,
 * dropout, gaussian_noise and layernorm keep any shape (layernorm over all
 * of a sample's values); batchnorm after {C,H,W} normalises per channel
 * over B H W values (after a dense, per feature).
 * A first layer takes the input shape nn_net_set_input gave; without one,
 * only a dense layer can come first (its `in` gives the shape {in,1,1}). */
typedef enum nn_param_type {
    NN_PARAM_INT,    /* value.num holds an integer                       */
    NN_PARAM_FLOAT,  /* value.num                                        */
    NN_PARAM_CHOICE, /* value.str, one of spec.choices                   */
    NN_PARAM_INIT,   /* value.init (kind one of spec.choices)            */
    NN_PARAM_BOOL    /* value.num, 0 or 1 (optimisers: nesterov)          */
} nn_param_type;
typedef struct nn_param_spec {
    const char *name;
    nn_param_type type;
    /* Default: the number (INT, FLOAT) or the index into choices (CHOICE,
     * INIT); NaN when the setting is required. */
    double def;
    double min, max;            /* range of INT and FLOAT settings      */
    int min_open, max_open;     /* 1: the bound itself is excluded      */
    const char *const *choices; /* CHOICE, INIT: NULL-terminated names  */
    int primary;                /* 1: the setting a scalar shorthand sets
                                   (YAML `- dropout: 0.2`)               */
    const char *doc;            /* one line                             */
    const char *applies_to;     /* NULL, or the value of the primary
                                   setting this one is used with
                                   (activation slope: "leaky_relu")      */
} nn_param_spec;
typedef struct nn_value {
    double num;
    const char *str;
    nn_init init;
} nn_value;
#define NN_LAYER_MAX_PARAMS 8
/* A layer to add: its kind's name and n named settings (the others take
 * their defaults).  Keys and values are read during the call only. */
typedef struct nn_layer_spec {
    const char *kind;
    int n;
    const char *const *keys;
    const nn_value *values;
} nn_layer_spec;

/* The registry: kinds 0 .. nn_layer_kind_count()-1, their names, one-line
 * descriptions and parameter specs (static, never NULL for a valid k;
 * NULL / 0 otherwise). */
NN_API int nn_layer_kind_count(void);
NN_API const char *nn_layer_kind_name(int k);
NN_API const char *nn_layer_kind_doc(int k);
NN_API int nn_layer_kind_params(int k, const nn_param_spec **specs);

/* Train or eval mode: dropout and batchnorm behave differently in each.
 * A new network is in train mode; nn_evaluate and nn_evaluate_metrics run
 * in eval mode and restore the mode after; the trainer's steps run in
 * train mode.  nn_net_forward uses the current mode. */
typedef enum nn_mode { NN_MODE_TRAIN, NN_MODE_EVAL } nn_mode;

/* An empty network.  seed seeds the network's generator, which draws every
 * initial weight in the order layers are added. */
NN_API nn_status nn_net_create(uint64_t seed, nn_net **out);
NN_API void nn_net_free(nn_net *net);

/* Appends a dense layer y(B,out) = x(B,in) W(out,in)^T + b(out).
 * in must equal the previous layer's output width (NN_ESHAPE otherwise,
 * e.g. "layer 3 (dense): input has 8 features, previous layer gives 4").
 * weight_init / bias_init may be NULL: defaults are XAVIER_UNIFORM and ZEROS.
 * Invalidates pointers previously obtained from the network. */
NN_API nn_status nn_net_add_dense(nn_net *net, int64_t in, int64_t out, const nn_init *weight_init,
                                  const nn_init *bias_init);
/* Appends an activation; param is the slope of LEAKY_RELU or the alpha of
 * ELU (ignored otherwise, must be finite).  Not allowed as the first layer. */
NN_API nn_status nn_net_add_activation(nn_net *net, nn_act act, float param);
/* Appends a layer of any registered kind (the two functions above are
 * shorthands for it).  Every setting is checked against its spec and the
 * shape against the previous layer: NN_EINVAL / NN_ESHAPE, e.g.
 * "layer 3 (dropout): p must be in [0, 1), got 1.5", "layer 2: unknown
 * layer kind 'dropuot'", "layer 2 (dropout): unknown setting 'q'".  Draws
 * the layer's initial parameters from the network's generator.
 * Invalidates pointers previously obtained from the network. */
NN_API nn_status nn_net_add(nn_net *net, const nn_layer_spec *spec);
/* The settings of layer i, all of them, resolved: keys and values borrowed
 * from the network (valid until its next structural change). */
NN_API nn_status nn_net_layer_spec(const nn_net *net, int i, nn_layer_spec *spec);

NN_API nn_status nn_net_set_mode(nn_net *net, nn_mode mode); /* NN_EINVAL for a bad mode */
NN_API nn_mode nn_net_mode(const nn_net *net);
/* Non-trainable state (batchnorm running statistics), one block in layer
 * order, borrowed; not touched by optimisers or weight decay. */
NN_API int64_t nn_net_state_count(const nn_net *net);
NN_API float *nn_net_state(nn_net *net);
/* The mask stream (dropout), seeded from the network's seed; borrowed, so
 * that a checkpoint can save and restore it (and a gradient check can
 * replay a mask). */
NN_API nn_rng *nn_net_mask_rng(nn_net *net);

/* Re-draws every parameter from a generator seeded with seed. */
NN_API nn_status nn_net_reinit(nn_net *net, uint64_t seed);

/* The per-sample input shape {C, H, W} (images: channels, height, width),
 * for networks whose first layer cannot infer it (conv2d, pooling).  Only
 * before the first layer is added; NN_EINVAL otherwise, and for a
 * dimension < 1 or a size C H W of 2^31 or more.  A first dense layer then
 * takes C H W features (its `in` must be 0 or equal to that). */
NN_API nn_status nn_net_set_input(nn_net *net, int64_t c, int64_t h, int64_t w);
/* shape = {C, H, W} of the input: the one set, else the first layer's
 * ({in, 1, 1} for a dense layer), else {0, 0, 0} (no layers). */
NN_API void nn_net_input_shape(const nn_net *net, int64_t shape[3]);
/* out = {C, H, W} of the output of layer i (0-based); NN_ERANGE if i is out
 * of range, NN_EINVAL for NULL arguments. */
NN_API nn_status nn_net_layer_shape(const nn_net *net, int i, int64_t out[3]);

NN_API int nn_net_layers(const nn_net *net);
NN_API int64_t nn_net_input_size(const nn_net *net);  /* 0 when empty */
NN_API int64_t nn_net_output_size(const nn_net *net); /* 0 when empty */
NN_API int64_t nn_net_param_count(const nn_net *net);

/* Description of layer i (0-based).  NN_ERANGE if i is out of range.
 * (Error messages name layers from 1, as users count them: "layer 3".) */
typedef struct nn_layer_info {
    nn_layer_kind kind;
    int64_t in, out;       /* feature widths                          */
    nn_act act;            /* activation layers                       */
    float param;           /* leaky_relu slope, elu alpha             */
    nn_init weight_init, bias_init; /* dense layers                   */
    const char *name;      /* the registry kind ("dense", ...)        */
    int64_t params, state; /* floats of parameters and state          */
} nn_layer_info;
NN_API nn_status nn_net_layer_info(const nn_net *net, int i, nn_layer_info *info);

/* Borrowed views of a layer's parameters and gradients: dense weights
 * (out, in), bias (out); conv2d weights (filters, C k k), bias (filters);
 * batchnorm and layernorm gamma as weights (1, C),
 * beta as bias (C).  Writable; valid until the next structural change or
 * nn_net_free.  NN_EINVAL for a layer without parameters. */
typedef enum nn_param_which { NN_WEIGHTS, NN_BIAS, NN_WEIGHT_GRAD, NN_BIAS_GRAD } nn_param_which;
NN_API nn_status nn_net_param(nn_net *net, int layer, nn_param_which which, nn_tensor **view);
/* Free a view from nn_net_param with nn_tensor_free. */

/* All parameters (and gradients) as one contiguous block, in layer order,
 * weights before bias.  Borrowed; length nn_net_param_count(). */
NN_API float *nn_net_params(nn_net *net);
NN_API float *nn_net_grads(nn_net *net);

/* Sizes the activation buffers for batches of up to max_batch rows.  Called
 * implicitly by forward when a batch is larger than any seen before; call it
 * up front so that later steps allocate nothing. */
NN_API nn_status nn_net_prepare(nn_net *net, int64_t max_batch);
/* Floats of layer workspace (a convolution's im2col columns, ...) that
 * nn_net_prepare allocates for batches of max_batch rows, besides the
 * activations (every layer's output, two gradient buffers of the widest
 * layer and a copy of the input); 0 for an empty network or max_batch < 1. */
NN_API int64_t nn_net_workspace_size(const nn_net *net, int64_t max_batch);

/* Forward pass on x (B, in).  *y is borrowed from the network, shape
 * (B, out), valid until the next forward or structural change.  Caches what
 * backward needs. */
NN_API nn_status nn_net_forward(nn_net *net, const nn_tensor *x, const nn_tensor **y);
/* Backpropagation of dy = dL/dy (B, out), from the last layer to the first,
 * after a forward pass of the same batch.  Accumulates (adds) into the
 * gradients.  *dx (B, in), borrowed, may be requested (pass NULL if not). */
NN_API nn_status nn_net_backward(nn_net *net, const nn_tensor *dy, const nn_tensor **dx);
NN_API void nn_net_zero_grad(nn_net *net);

/* ------------------------------------------------------------------------
 * Optimisers: one registry of kinds over the network's single parameter
 * block.  Each update is one pass over the block; each kind keeps `slots`
 * floats of state per parameter in one block of slots x P floats (slot k
 * at offset k * P).  g below is the gradient (after the trainer's clipping
 * and on_gradients hook), w the parameters, t the update count from 1.
 *
 *   SGD      (momentum, nesterov; 1 slot: v)
 *            g += wd w;  v = momentum v + g;
 *            w -= lr (nesterov ? g + momentum v : v)    (momentum 0: w -= lr g)
 *   ADAM     (beta1, beta2, eps; 2 slots: m, s)  weight_decay as L2:
 *            g += wd w;  m = b1 m + (1-b1) g;  s = b2 s + (1-b2) g^2;
 *            w -= lr (m / (1-b1^t)) / (sqrt(s / (1-b2^t)) + eps)
 *   ADAMW    as ADAM, weight decay decoupled (not added to g):
 *            w -= lr ((m / (1-b1^t)) / (sqrt(s / (1-b2^t)) + eps) + wd w)
 *   RMSPROP  (rho, eps, momentum; 2 slots: s, v)
 *            g += wd w;  s = rho s + (1-rho) g^2;  u = g / (sqrt(s) + eps);
 *            momentum > 0: v = momentum v + u, w -= lr v;  else w -= lr u
 *   ADAGRAD  (eps; 1 slot: s)
 *            g += wd w;  s += g^2;  w -= lr g / (sqrt(s) + eps)
 * The bias corrections 1-b^t are computed in double once per step.
 * Every kind takes lr (> 0; default 0.01 for sgd and adagrad, 0.001 for
 * adam, adamw and rmsprop) and weight_decay (>= 0, default 0); the rest are
 * in its parameter list (nn_optim_param).
 * ------------------------------------------------------------------------ */
typedef enum nn_optim_kind {
    NN_OPTIM_UNSET = 0, /* nn_train_config: take the deprecated .sgd field */
    NN_OPTIM_SGD = 1,
    NN_OPTIM_ADAM = 2,
    NN_OPTIM_ADAMW = 3,
    NN_OPTIM_RMSPROP = 4,
    NN_OPTIM_ADAGRAD = 5
} nn_optim_kind;
#define NN_OPTIM_KINDS 5 /* kinds 1..NN_OPTIM_KINDS */

typedef struct nn_sgd_params {
    float momentum; /* [0, 1)            */
    int nesterov;   /* needs momentum > 0 */
} nn_sgd_params;
typedef struct nn_adam_params { /* ADAM and ADAMW */
    float beta1, beta2; /* [0, 1)        */
    float eps;          /* > 0           */
} nn_adam_params;
typedef struct nn_rmsprop_params {
    float rho;      /* [0, 1)  */
    float eps;      /* > 0     */
    float momentum; /* [0, 1)  */
} nn_rmsprop_params;
typedef struct nn_adagrad_params {
    float eps; /* > 0 */
} nn_adagrad_params;

typedef struct nn_optim_config {
    nn_optim_kind kind;
    float lr;           /* > 0                                   */
    float weight_decay; /* >= 0                                  */
    union {             /* the member of kind                    */
        nn_sgd_params sgd;
        nn_adam_params adam; /* ADAM, ADAMW */
        nn_rmsprop_params rmsprop;
        nn_adagrad_params adagrad;
    };
} nn_optim_config;

/* "sgd", "adam", "adamw", "rmsprop", "adagrad"; NULL for a bad kind. */
NN_API const char *nn_optim_name(nn_optim_kind k);
NN_API nn_status nn_optim_parse(const char *name, nn_optim_kind *out);
/* The kind's parameters, lr and weight_decay first: n of them, i from 0.
 * NULL when k or i is out of range. */
NN_API int nn_optim_param_count(nn_optim_kind k);
NN_API const nn_param_spec *nn_optim_param(nn_optim_kind k, int i);
/* Every parameter at its default (kind SGD for a bad kind). */
NN_API nn_optim_config nn_optim_defaults(nn_optim_kind k);
/* Sets / reads one parameter by name.  NN_EINVAL for a name the kind does
 * not have ("adam: unknown parameter 'momentum'") or a value out of its
 * range ("adam: beta1 must be in [0, 1), got 1.5"). */
NN_API nn_status nn_optim_set(nn_optim_config *c, const char *name, double v);
NN_API nn_status nn_optim_get(const nn_optim_config *c, const char *name, double *v);
/* Checks every parameter (messages as nn_optim_set) and the combinations
 * ("sgd: nesterov needs momentum > 0"). */
NN_API nn_status nn_optim_check(const nn_optim_config *c);

typedef struct nn_optim nn_optim;
/* An optimiser for net's parameters; its state block is allocated (zeroed)
 * here.  The network must outlive the optimiser and not change structure. */
NN_API nn_status nn_optim_create(nn_net *net, const nn_optim_config *cfg, nn_optim **out);
NN_API void nn_optim_free(nn_optim *opt);
/* One update from the accumulated gradients with learning rate lr (finite,
 * >= 0; use nn_optim_config_of(opt).lr for the configured one).  Does not
 * clear the gradients.  Allocates nothing. */
NN_API nn_status nn_optim_step(nn_optim *opt, float lr);
NN_API nn_optim_config nn_optim_config_of(const nn_optim *opt);
/* State: slots x P floats (borrowed, writable, for checkpoints), and the
 * number of updates done (the t of the bias corrections). */
NN_API int nn_optim_slots(const nn_optim *opt);
NN_API float *nn_optim_state(nn_optim *opt);
NN_API int64_t nn_optim_state_size(const nn_optim *opt); /* slots x P */
NN_API int64_t nn_optim_steps(const nn_optim *opt);
NN_API void nn_optim_set_steps(nn_optim *opt, int64_t t);

/* ------------------------------------------------------------------------
 * DEPRECATED (0.1 API, kept for one release): SGD as its own type.
 * nn_sgd is now an nn_optim of kind SGD; these wrap nn_optim_*.  New code
 * uses nn_optim_config (nn_train_config.optim) and nn_optim_*.
 * ------------------------------------------------------------------------ */
typedef struct nn_sgd_config {
    float lr;           /* > 0                                        */
    float momentum;     /* [0, 1)                                     */
    int nesterov;       /* needs momentum > 0                         */
    float weight_decay; /* >= 0, L2 on every parameter              */
} nn_sgd_config;
typedef struct nn_optim nn_sgd;
/* The same configuration as an nn_optim_config of kind SGD. */
NN_API nn_optim_config nn_optim_from_sgd(const nn_sgd_config *c);
/* Checks the configuration (NN_EINVAL naming the field, e.g.
 * "sgd: lr must be finite and > 0, got nan"). */
NN_API nn_status nn_sgd_check(const nn_sgd_config *cfg);
NN_API nn_status nn_sgd_create(nn_net *net, const nn_sgd_config *cfg, nn_sgd **out);
NN_API void nn_sgd_free(nn_sgd *opt);
NN_API nn_status nn_sgd_step(nn_sgd *opt, float lr); /* lr >= 0, finite */
NN_API float nn_sgd_lr(const nn_sgd *opt);
/* Momentum buffer, length nn_net_param_count (borrowed). */
NN_API float *nn_sgd_velocity(nn_sgd *opt);

/* ------------------------------------------------------------------------
 * Learning-rate schedules.  step counts epochs or batches (the trainer's
 * choice), from 0.  lr0 = base learning rate.
 *   CONSTANT      lr0
 *   STEP          lr0 * gamma^floor(step / step_size)
 *   EXPONENTIAL   lr0 * gamma^step
 *   INVERSE_TIME  lr0 / (1 + gamma * step)
 *   COSINE        min_lr + (lr0 - min_lr) (1 + cos(pi min(step,total)/total)) / 2
 *   PLATEAU       lr0 * scale, where scale starts at 1 and is multiplied by
 *                 factor (floored so that the rate stays >= min_lr) when the
 *                 metric has not improved on its best for more than patience
 *                 epochs; after a reduction, cooldown epochs pass before the
 *                 count starts again.  Stateful: nn_schedule_observe feeds it
 *                 one metric value per epoch (the trainer does; the state is
 *                 in the checkpoint).  An improvement is a change of more
 *                 than 1e-4 relative to the best (down for losses, up for
 *                 accuracy).
 *   ONE_CYCLE     over total steps: for the first p = pct_start * total
 *                 steps the rate rises from lr0 to max_lr along a half
 *                 cosine, then falls from max_lr to min_lr along a half
 *                 cosine; min_lr after total.
 *   COSINE_RESTARTS  cosine from lr0 to min_lr over a period of `period`
 *                 steps, then again from lr0 over period * mult, then
 *                 period * mult^2, ... (SGDR).
 * Warm-up (warmup > 0): for step < warmup the rate rises linearly from
 * warmup_start * lr0 to the schedule's value at step 0; afterwards the
 * schedule runs on step - warmup.
 * ------------------------------------------------------------------------ */
typedef enum nn_sched_kind {
    NN_SCHED_CONSTANT,
    NN_SCHED_STEP,
    NN_SCHED_EXPONENTIAL,
    NN_SCHED_INVERSE_TIME,
    NN_SCHED_COSINE,
    NN_SCHED_PLATEAU,
    NN_SCHED_ONE_CYCLE,
    NN_SCHED_COSINE_RESTARTS
} nn_sched_kind;
/* What PLATEAU watches (lower is better for losses, higher for accuracy). */
typedef enum nn_sched_metric {
    NN_METRIC_VAL_LOSS,
    NN_METRIC_TRAIN_LOSS,
    NN_METRIC_VAL_ACCURACY
} nn_sched_metric;
typedef struct nn_schedule {
    nn_sched_kind kind;
    float lr0;          /* > 0                                     */
    float gamma;        /* STEP, EXPONENTIAL: (0, 1]; INVERSE_TIME >= 0 */
    int64_t step_size;  /* STEP: >= 1                               */
    int64_t total;      /* COSINE, ONE_CYCLE: >= 1                  */
    float min_lr;       /* COSINE, PLATEAU, ONE_CYCLE, COSINE_RESTARTS: [0, lr0] */
    int64_t warmup;     /* >= 0                                     */
    float warmup_start; /* [0, 1]                                    */
    /* PLATEAU */
    nn_sched_metric metric;
    float factor;       /* (0, 1)                                    */
    int64_t patience;   /* >= 0                                      */
    int64_t cooldown;   /* >= 0                                      */
    /* ONE_CYCLE */
    float max_lr;       /* >= lr0                                    */
    float pct_start;    /* (0, 1)                                    */
    /* COSINE_RESTARTS */
    int64_t period;     /* >= 1                                      */
    float mult;         /* >= 1                                      */
} nn_schedule;
/* The state of a stateful schedule (PLATEAU; the others ignore it).
 * Plain data, saved in checkpoints. */
typedef struct nn_sched_state {
    float scale;      /* multiplies lr0; starts at 1                */
    double best;      /* best metric so far (NaN before the first)  */
    int64_t bad;      /* epochs since the best                      */
    int64_t cooldown; /* epochs of cooldown left                    */
} nn_sched_state;
/* A constant schedule at lr0 (the new kinds' fields at their defaults:
 * factor 0.1, patience 10, max_lr = lr0 * 10, pct_start 0.3, period 10,
 * mult 1). */
NN_API nn_schedule nn_schedule_constant(float lr0);
NN_API nn_status nn_schedule_check(const nn_schedule *s);
/* The rate at step for a stateless schedule (PLATEAU: lr0). */
NN_API float nn_schedule_lr(const nn_schedule *s, int64_t step);
NN_API nn_sched_state nn_sched_state_initial(void);
/* The rate at step given the state (st may be NULL: the initial state). */
NN_API float nn_schedule_lr_state(const nn_schedule *s, const nn_sched_state *st, int64_t step);
/* Feeds one epoch's metric to a stateful schedule; a no-op for the others
 * and for a NaN metric. */
NN_API void nn_schedule_observe(const nn_schedule *s, nn_sched_state *st, double metric);
/* "constant", "step", "exponential", "inverse_time", "cosine", "plateau",
 * "one_cycle", "cosine_restarts". */
NN_API const char *nn_sched_name(nn_sched_kind k);
NN_API nn_status nn_sched_parse(const char *name, nn_sched_kind *out);
/* "val_loss", "train_loss", "val_accuracy". */
NN_API const char *nn_sched_metric_name(nn_sched_metric m);
NN_API nn_status nn_sched_metric_parse(const char *name, nn_sched_metric *out);
/* A kind's settings, as the schema shows them: its own, then warmup and
 * warmup_start; n of them, i from 0 (NULL when k or i is out of range).
 * The defaults are the schema's (step: step_size 10, gamma 0.5; ...); a
 * NaN default has none (total follows the epochs; max_lr is required).
 * metric is a CHOICE of the metric names.  Static, never freed. */
NN_API int nn_sched_param_count(nn_sched_kind k);
NN_API const nn_param_spec *nn_sched_param(nn_sched_kind k, int i);

/* ------------------------------------------------------------------------
 * In-memory datasets: inputs x (N, features) and targets t (N, k).
 * ------------------------------------------------------------------------ */
typedef struct nn_dataset nn_dataset;
/* Copies x and t.  Row counts must match and be >= 1 (NN_ESHAPE). */
NN_API nn_status nn_dataset_create(const nn_tensor *x, const nn_tensor *t, nn_dataset **out);
NN_API void nn_dataset_free(nn_dataset *d);
NN_API int64_t nn_dataset_size(const nn_dataset *d);
NN_API int64_t nn_dataset_features(const nn_dataset *d);
NN_API int64_t nn_dataset_target_cols(const nn_dataset *d);
/* Borrowed views of all inputs and all targets. */
NN_API const nn_tensor *nn_dataset_x(const nn_dataset *d);
NN_API const nn_tensor *nn_dataset_t(const nn_dataset *d);

/* ------------------------------------------------------------------------
 * Training
 * ------------------------------------------------------------------------ */
typedef struct nn_batch_stats {
    int64_t epoch;   /* from 0                              */
    int64_t batch;   /* index within the epoch, from 0      */
    int64_t batches; /* batches in this epoch               */
    int64_t size;    /* rows in this batch                  */
    double loss;     /* this batch's mean loss              */
    double running_loss; /* mean loss of the epoch so far   */
    float lr;
} nn_batch_stats;
typedef struct nn_epoch_stats {
    int64_t epoch;     /* from 0                              */
    double train_loss; /* mean over samples of the epoch      */
    double val_loss;   /* NaN without validation data         */
    double val_accuracy; /* NaN without validation or classes */
    float lr;          /* rate used in the epoch's last step   */
    double seconds;    /* wall time of the epoch              */
} nn_epoch_stats;
/* Callbacks: return 0 to go on, 1 to stop training cleanly after this
 * batch/epoch, a negative value to report an error (the call then returns
 * NN_ECANCELLED). */
typedef int (*nn_batch_fn)(const nn_batch_stats *s, void *user);
typedef int (*nn_epoch_fn)(const nn_epoch_stats *s, void *user);
/* The training step's seam between backward and update: called once per
 * batch with the one gradient block (n = nn_net_param_count floats, the
 * mean over the batch), before clipping and the update.  It may change the
 * gradients in place (an all-reduce across processes, say).  Return 0 to go
 * on, a negative value to report an error (the call returns
 * NN_ECANCELLED).  Runs on the calling thread; must not free the network. */
typedef int (*nn_grad_fn)(float *grads, int64_t n, void *user);

/* Data-parallel training in micro-shards (nn_train_config.parallel).
 *
 * With shards = S >= 1 every batch of n rows is split into S fixed
 * micro-shards (shard k holds rows [k n / S, (k+1) n / S) of the batch;
 * some are empty when n < S).  Each shard's gradient comes from a forward
 * and backward pass over its rows alone, weighted by its share of the
 * batch; the S gradients are added by an exact sum: per block of
 * NN_SHARD_BLOCK values one shared exponent (the largest over all shards),
 * every value a multiple of the same power of two below it, added as
 * integers.  Integer addition has no order, so the sum is the same bits
 * whichever process holds which shard: the result depends on S, never on
 * the number of ranks.  Per shard, dropout and noise draw from a stream
 * keyed by (the network's mask stream at the step, shard), and batch
 * normalisation takes its statistics over the shard's rows (ghost batch
 * normalisation); the running statistics move by the shards' weighted
 * mean change.  The optimiser then updates the same on every rank.
 *
 * A process (rank r of R, R <= S) computes shards [r S / R, (r+1) S / R)
 * and joins the others through allreduce.  Validation in nn_train is split
 * over the ranks too, by batches, and gives the same bits as nn_evaluate.
 * shards = 0: one pass per batch (the default; R must be 1). */
#define NN_SHARD_BLOCK 256
#define NN_MAX_SHARDS 1024
typedef enum nn_reduce_op {
    NN_REDUCE_MAX_INT32 = 0, /* int32_t elements, elementwise maximum */
    /* double elements, elementwise sum.  The runtime hands over only
     * integers whose every partial sum is below 2^53, or values of which
     * one rank holds each and the others 0: every order of additions gives
     * the same bits. */
    NN_REDUCE_SUM_DOUBLE = 1
} nn_reduce_op;
/* In place over all ranks: buf (n elements) becomes the reduction of every
 * rank's buf.  Every rank makes the same calls in the same order (the
 * runtime calls it at the same points on every rank).  Return 0, or a
 * negative value on failure (the call training returns NN_ECANCELLED). */
typedef int (*nn_allreduce_fn)(void *buf, int64_t n, nn_reduce_op op, void *user);
typedef struct nn_parallel_config {
    int shards;                /* 0: off; 1..NN_MAX_SHARDS                 */
    int rank, ranks;           /* this process; ranks 0 is taken as 1      */
    nn_allreduce_fn allreduce; /* required when ranks > 1                  */
    void *user;                /* handed to allreduce                      */
} nn_parallel_config;

typedef struct nn_train_config {
    nn_loss_kind loss;
    nn_sgd_config sgd;      /* DEPRECATED: used when optim.kind is UNSET */
    nn_schedule schedule;   /* lr0 > 0 overrides the optimiser's lr; 0: its lr */
    int schedule_per_batch; /* 0: schedule steps count epochs       */
    int64_t batch_size;     /* >= 1; larger than N means full batch */
    int shuffle;            /* reshuffle each epoch                 */
    uint64_t seed;          /* seeds the shuffle                    */
    nn_batch_fn on_batch;   /* may be NULL                          */
    nn_epoch_fn on_epoch;   /* may be NULL                          */
    void *user;
    nn_optim_config optim;  /* the optimiser (kind UNSET: from .sgd) */
    /* Gradient clipping before each update (after on_gradients): first
     * every gradient to [-clip_value, clip_value], then the whole block
     * scaled by clip_norm / ||g||_2 when its norm exceeds clip_norm.
     * 0 turns each off; otherwise finite and > 0. */
    float clip_value;
    float clip_norm;
    nn_grad_fn on_gradients; /* may be NULL; gets user              */
    nn_parallel_config parallel; /* micro-shards and ranks; zero: off  */
} nn_train_config;
/* Defaults: mse, optimiser UNSET with sgd lr 0.01 no momentum (that is,
 * plain SGD at 0.01), constant schedule, batch 32, shuffle on, seed 0, no
 * clipping, no callbacks. */
NN_API nn_train_config nn_train_defaults(void);
/* The training settings with their one default and range, for hosts'
 * schemas and options: epochs (10; nn_train's epochs argument), batch_size
 * (32), shuffle (on), clip_norm and clip_value (0: off); n of them, i from
 * 0 (NULL out of range).  nn_train_defaults uses the same defaults. */
NN_API int nn_train_param_count(void);
NN_API const nn_param_spec *nn_train_param(int i);
/* The optimiser the configuration selects: optim, or (kind UNSET) the
 * deprecated sgd field as an SGD configuration. */
NN_API nn_optim_config nn_train_optim(const nn_train_config *cfg);

typedef struct nn_trainer nn_trainer;
/* A trainer for net (borrowed: it must outlive the trainer).  Checks the
 * configuration, allocates the optimiser state and the batch buffers.  The
 * training step then allocates nothing. */
NN_API nn_status nn_trainer_create(nn_net *net, const nn_train_config *cfg, nn_trainer **out);
NN_API void nn_trainer_free(nn_trainer *tr);
/* One pass over data in mini-batches (seeded shuffle, last partial batch
 * included).  *mean_loss = mean loss over samples (may be NULL).  If a
 * callback stops, *stopped is set to 1 (may be NULL), *mean_loss covers the
 * batches done, and the epoch does not count as completed
 * (nn_trainer_epoch is unchanged).  NN_EDIVERGED when a batch loss is not
 * finite. */
NN_API nn_status nn_train_epoch(nn_trainer *tr, const nn_dataset *data, double *mean_loss,
                                int *stopped);
/* Up to epochs epochs, evaluating val (may be NULL) after each; a stateful
 * schedule (PLATEAU) is then fed the epoch's metric, before on_epoch is
 * called.  *done = epochs completed (may be NULL).  NN_EINVAL when PLATEAU
 * watches a val_ metric and val is NULL. */
NN_API nn_status nn_train(nn_trainer *tr, const nn_dataset *data, const nn_dataset *val,
                          int64_t epochs, int64_t *done);
NN_API int64_t nn_trainer_epoch(const nn_trainer *tr); /* epochs done so far */
NN_API int64_t nn_trainer_step(const nn_trainer *tr);  /* batches done so far */
/* The trainer's optimiser (borrowed), and its schedule state (borrowed,
 * writable, for checkpoints). */
NN_API nn_optim *nn_trainer_optim(nn_trainer *tr);
NN_API nn_sched_state *nn_trainer_sched_state(nn_trainer *tr);
/* DEPRECATED: the optimiser when it is SGD, else NULL. */
NN_API nn_sgd *nn_trainer_sgd(nn_trainer *tr);
/* The shuffle generator (borrowed), so that a checkpoint can save and
 * restore it; and the position counters, for the same reason. */
NN_API nn_rng *nn_trainer_rng(nn_trainer *tr);
NN_API void nn_trainer_set_position(nn_trainer *tr, int64_t epoch, int64_t step);

/* Evaluation: mean loss and accuracy over data, in batches of batch_size
 * (0: 256).  Accuracy is argmax(y) == class when the output has 2 or more
 * columns (class from a label column or argmax of one-hot targets), and
 * (y > 0.5) == (t > 0.5) for one output under BCE (y > 0 under BCE_LOGITS);
 * otherwise NaN (regression). */
typedef struct nn_eval_result {
    double loss;
    double accuracy;
    int64_t samples;
} nn_eval_result;
NN_API nn_status nn_evaluate(nn_net *net, const nn_dataset *data, nn_loss_kind loss,
                             int64_t batch_size, nn_eval_result *res);

/* ------------------------------------------------------------------------
 * Synthetic data sets, generated deterministically from a seed.
 *   xor       the four XOR points, x (4,2), t (4,1) in {0,1}
 *   digits03  8x8 glyphs of the digits 0-3 with pixel noise and shifts of up
 *             to one pixel: x (4n, 64) in [0,1], t (4n, 1) class labels,
 *             classes interleaved 0,1,2,3,0,1,...  noise = std of the
 *             Gaussian pixel noise (e.g. 0.1).
 *   curve     n points of y = sin(2 pi x) + N(0, noise^2), x uniform in
 *             [0, 1): x (n,1), t (n,1).
 * ------------------------------------------------------------------------ */
NN_API nn_status nn_data_xor(nn_dataset **out);
NN_API nn_status nn_data_digits03(int64_t n_per_class, float noise, uint64_t seed,
                                  nn_dataset **out);
NN_API nn_status nn_data_curve(int64_t n, float noise, uint64_t seed, nn_dataset **out);

/* NN-IO-SECTION: data files and checkpoints are declared below this line. */

/* ------------------------------------------------------------------------
 * Data sets from files, normalisation and splits.
 *
 * Every loader validates the whole file before it returns: magic numbers,
 * declared sizes against the real size (overflow-safe), label ranges, ragged
 * or non-numeric CSV rows, item counts.  A malformed file gives NN_EFORMAT,
 * an unreadable one NN_EIO; the message names the file (and for CSV the line
 * and column), e.g.
 *   "data.csv:17: column 3 ('petal_width'): 'abc' is not a number".
 * Limits: an IDX payload or a CSV file of at most 4 GiB (uncompressed), at
 * most 2^31-1 items, at most 2^24 features or CSV columns, at most 65536
 * distinct text class labels.  Reading is single-threaded per call.
 * ------------------------------------------------------------------------ */

/* Images and labels in the IDX format of the MNIST family (images magic
 * 0x00000803 — any 2 to 4 dimensions of unsigned bytes, type code 0x08 — and
 * labels magic 0x00000801), each plain or gzip-compressed (detected from the
 * content, not the name).  The result stores the images compactly, one byte
 * per pixel: x is (N, product of the image dimensions), converted to floats
 * only when a batch is formed; t is (N, 1) class labels (labels_path NULL:
 * no labels, images to predict on, t zeros, as a CSV's no_label).  classes > 0
 * requires every label to be < classes (else NN_EFORMAT naming the item);
 * 0 accepts any byte.  No normalisation is applied (see nn_dataset_normalize).
 * Errors: NN_EIO (cannot open/read), NN_EFORMAT (bad magic or type, size
 * mismatch, truncated or trailing data, count mismatch between the files,
 * label out of range), NN_ENOMEM. */
NN_API nn_status nn_dataset_from_idx(const char *images_path, const char *labels_path,
                                     int64_t classes, nn_dataset **out);

/* CSV: a header row of column names, then one record per line.  Fields are
 * separated by `delimiter` (0: ','), may be double-quoted ("" is a quote);
 * spaces around a field are ignored; LF or CRLF line ends; empty lines are
 * skipped.  Every column but the label column is an input feature and must
 * be a finite number.  Plain or gzip-compressed; read twice, streaming
 * (memory: the values, not the text), so a regular file, not a pipe (NN_EIO).
 * NN_EFORMAT, naming file:line, for a malformed record; file:line:col for a
 * NUL byte (anywhere); for more than 2^29 values (rows x columns) or 4 GiB
 * of text after decompression (checked before the values are allocated).
 *   target REGRESSION   the label column is a number; t (N, 1).
 *   target CLASS_INT    the label column is an integer in [0, 65536); it is
 *                       the class; t (N, 1).
 *   target CLASS_TEXT   the label column is text; classes are numbered in
 *                       byte-wise sorted order of their names (so the same
 *                       set of names gives the same numbers whatever the
 *                       row order), or in first-seen order when
 *                       first_seen_order is set.  If `classes` is given
 *                       (n_classes names) that list fixes the numbering
 *                       instead and any other name is an error — use it to
 *                       read a test file with the training file's classes
 *                       (nn_dataset_class_name).  t (N, 1).
 * label_column names the label column; when NULL, label_index selects it
 * (0-based; -1 = the last column). */
typedef enum nn_csv_target { NN_CSV_REGRESSION, NN_CSV_CLASS_INT, NN_CSV_CLASS_TEXT } nn_csv_target;
typedef struct nn_csv_options {
    const char *label_column;
    int64_t label_index;
    nn_csv_target target;
    int first_seen_order;
    const char *const *classes; /* borrowed; may be NULL */
    int64_t n_classes;
    char delimiter;
    int no_header; /* 1: the first line is data, not column names (columns are
                      then "column 1", ... in messages; label_column unusable) */
    int no_label;  /* 1: no label column (inputs to predict on): every column
                      is a feature, t (N, 1) zeros, label options ignored */
} nn_csv_options;
/* label_index -1, CLASS_TEXT, sorted order, ',' */
NN_API nn_csv_options nn_csv_defaults(void);
NN_API nn_status nn_dataset_from_csv(const char *path, const nn_csv_options *opt, nn_dataset **out);

/* Class names of a data set read with CLASS_TEXT (0 and NULL otherwise, or
 * when i is out of range).  Borrowed. */
NN_API int64_t nn_dataset_class_count(const nn_dataset *d);
NN_API const char *nn_dataset_class_name(const nn_dataset *d, int64_t i);

/* 1 when the inputs are stored as bytes (nn_dataset_from_idx and splits of
 * it).  For such a data set nn_dataset_x() returns NULL — the float inputs
 * never exist as a whole; read rows with nn_dataset_rows. */
NN_API int nn_dataset_is_compact(const nn_dataset *d);
/* Copies rows [start, start+count) of the inputs as floats, normalised, into
 * out (count, features).  Works for both storages.  NN_ERANGE if the rows
 * are out of range. */
NN_API nn_status nn_dataset_rows(const nn_dataset *d, int64_t start, int64_t count, float *out);

/* Normalisation of the inputs, per feature: x' = (x - shift[f]) / div[f].
 *   NONE          nothing (shift 0, div 1).
 *   SCALE         to [0, 1]: byte storage divides by 255 (shift 0, div 255);
 *                 float storage uses the feature's min and max over the data
 *                 set (shift = min, div = max - min).
 *   STANDARDIZE   shift = mean, div = standard deviation (population, over
 *                 the data set), computed in double.
 * A constant feature gets div = 1.  Statistics are computed from the data
 * set they are applied to — call it on the training split only and copy the
 * result to validation and test sets with nn_dataset_normalize_like or
 * nn_dataset_set_norm (e.g. from a checkpoint). */
typedef enum nn_norm_kind { NN_NORM_NONE, NN_NORM_SCALE, NN_NORM_STANDARDIZE } nn_norm_kind;
typedef struct nn_norm {
    nn_norm_kind kind;
    int64_t features;
    const float *shift; /* features values; borrowed */
    const float *div;   /* features values, each finite and > 0; borrowed */
} nn_norm;
/* "none", "scale", "standardize" (also accepts "standardise"). */
NN_API const char *nn_norm_name(nn_norm_kind k);
NN_API nn_status nn_norm_parse(const char *name, nn_norm_kind *out);
/* Computes statistics of kind from d and applies them.  A data set is
 * normalised at most once (NN_ESTATE after that; NONE is a no-op and does
 * not count).  Float storage is transformed in place. */
NN_API nn_status nn_dataset_normalize(nn_dataset *d, nn_norm_kind kind);
/* Applies given statistics (copied).  features must match (NN_ESHAPE); the
 * values must be finite with div > 0 (NN_EINVAL); NN_ESTATE if d is already
 * normalised. */
NN_API nn_status nn_dataset_set_norm(nn_dataset *d, const nn_norm *norm);
/* nn_dataset_set_norm(d, statistics of src). */
NN_API nn_status nn_dataset_normalize_like(nn_dataset *d, const nn_dataset *src);
/* The statistics in effect (kind NONE with NULL arrays when none); the
 * arrays are borrowed from d. */
NN_API nn_norm nn_dataset_norm(const nn_dataset *d);

/* Target standardisation (regression): nn_dataset_target_stats gives each
 * target column's mean and population standard deviation (in double; a
 * constant column gets 1) into mean and sd (target_cols values each);
 * nn_dataset_scale_targets sets t' = (t - shift[j]) / div[j] for every
 * column j in place (shift finite, div finite and > 0, else NN_EINVAL).
 * Predictions y' of a network trained on t' are y = y' div + shift.  Not
 * recorded in the data set: subsets made before are not changed. */
NN_API nn_status nn_dataset_target_stats(const nn_dataset *d, double *mean, double *sd);
NN_API nn_status nn_dataset_scale_targets(nn_dataset *d, const double *shift, const double *div);

/* Rows idx[0..n) of d as a new data set (copies, same storage, same
 * normalisation and class names).  NN_ERANGE for an index out of range. */
NN_API nn_status nn_dataset_subset(const nn_dataset *d, const int64_t *idx, int64_t n,
                                   nn_dataset **out);
/* Seeded split into train and validation sets: round(val_fraction * N)
 * rows go to validation (val_fraction in (0, 1); both parts must get at
 * least one row, NN_EINVAL otherwise).  With stratify, the split is made per
 * class (classes from nn_dataset_class_of rules: a one-column label or the
 * argmax of one-hot rows), rounding each class's share, so both parts keep
 * the class proportions.  Each part keeps the source's row order.  The same
 * seed gives the same split.  Both outputs are new data sets (*train and
 * *val are NULL on failure). */
NN_API nn_status nn_dataset_split(const nn_dataset *d, double val_fraction, uint64_t seed,
                                  int stratify, nn_dataset **train, nn_dataset **val);

/* ------------------------------------------------------------------------
 * Metrics.  nn_evaluate_metrics runs the network over data in batches and
 * computes, for classification (output width >= 2, or one output under BCE
 * or BCE_LOGITS where the class is y > 0.5, resp. y > 0):
 *   accuracy, top-k accuracy (k = opt->top_k, 0: 5, capped at the class
 *   count), a confusion matrix confusion[true * classes + predicted], and per
 *   class precision, recall and F1 (0 when their denominator is 0, as
 *   scikit-learn's zero_division=0), with their unweighted (macro) means;
 * and for regression (otherwise): MSE and MAE over all outputs, and R^2 per
 * output column averaged uniformly (a constant column scores 1 if predicted
 * exactly, else 0).  loss is the mean loss over samples as nn_evaluate gives
 * it.  Fields that do not apply are NaN (and NULL/0 for arrays).
 * Thread safety as for nn_evaluate (uses the network's buffers).
 * ------------------------------------------------------------------------ */
typedef struct nn_metrics_options {
    int64_t batch_size; /* 0: 256 */
    int top_k;          /* 0: 5   */
    /* NULL, or ranks > 1: the batches' forward passes are split over the
     * ranks (each a contiguous part), their outputs meet through
     * allreduce (each value from the one rank that made it), and every
     * rank computes the metrics from all of them in row order: the same
     * bits as one process.  Every rank calls alike. */
    const nn_parallel_config *parallel;
} nn_metrics_options;
typedef struct nn_metrics {
    int64_t samples;
    double loss;
    int classification;  /* 1 for classification, 0 for regression */
    int64_t classes;     /* C (2 for a single BCE output)           */
    double accuracy;
    int top_k;
    double top_k_accuracy;
    int64_t *confusion;  /* classes * classes, row = true class     */
    double *precision, *recall, *f1; /* classes values each          */
    double macro_precision, macro_recall, macro_f1;
    double mse, mae, r2;
} nn_metrics;
/* *out is a new nn_metrics owned by the caller (nn_metrics_free).  opt may be
 * NULL.  Errors as nn_evaluate. */
NN_API nn_status nn_evaluate_metrics(nn_net *net, const nn_dataset *data, nn_loss_kind loss,
                                     const nn_metrics_options *opt, nn_metrics **out);
NN_API void nn_metrics_free(nn_metrics *m);

/* ------------------------------------------------------------------------
 * Prediction.  A network may carry the normalisation of its training
 * inputs (nn_checkpoint_net and nn_load set it from the checkpoint's);
 * nn_predict applies it, so raw inputs go in.
 * ------------------------------------------------------------------------ */
/* Copies norm (NULL or kind NONE: none).  features must equal the input
 * width (NN_ESHAPE), values finite with div > 0 (NN_EINVAL). */
NN_API nn_status nn_net_set_norm(nn_net *net, const nn_norm *norm);
/* The normalisation carried (kind NONE with NULL arrays when none);
 * arrays borrowed from net, valid until the next nn_net_set_norm. */
NN_API nn_norm nn_net_norm(const nn_net *net);
/* y (N, out) = the network on x (N, in) of raw inputs: x normalised by
 * nn_net_norm(net), run in eval mode (dropout off, batchnorm running
 * statistics) in batches of 256 rows, through buffers of its own: no
 * training buffers, the network's mode and last forward are unchanged.
 * y is the caller's, both 2-D (NN_ESHAPE otherwise).  Same thread rules as
 * nn_evaluate, except that the network's buffers are not used. */
NN_API nn_status nn_predict(nn_net *net, const nn_tensor *x, nn_tensor *y);

/* The trainer's configuration as given to nn_trainer_create (a copy; the
 * optimiser as nn_checkpoint_train_config describes it), and the network it
 * trains (borrowed). */
NN_API nn_train_config nn_trainer_config(const nn_trainer *tr);
NN_API nn_net *nn_trainer_net(const nn_trainer *tr);

/* ------------------------------------------------------------------------
 * Writing files atomically: the one writer of every file nnrun writes whole
 * (checkpoints, config.yaml, summary.json, ...).
 * ------------------------------------------------------------------------ */

/* Replaces the file at path with the n bytes at data, atomically: they are
 * written to "<path>.tmp.<pid>.<k>" in the same directory (a name no other
 * writer uses, created exclusively), fsynced, renamed over path, and the
 * directory is fsynced.  A crash leaves the old file or the new one, never
 * a torn one.  First removes the temporary files of path that a killed
 * writer left ("<path>.tmp.<pid>[.<k>]" whose process is gone).
 * Errors: NN_EINVAL for a NULL/empty path; NN_EIO naming path and the
 * system's reason, "runs/a/summary.json: cannot write: No space left on
 * device", after which the temporary file is gone and an existing file at
 * path is as it was; when only the final directory fsync fails the message
 * says "written, but ..." (the new file is then in place); NN_ENOMEM.
 * Thread-safe (distinct paths; one path from two threads: one wins). */
NN_API nn_status nn_file_write_atomic(const char *path, const void *data, size_t n);

/* Removes the temporary files nn_file_write_atomic (or an older nnrun's
 * "<name>.tmp.<pid>") left in dir when its writer was killed: those whose
 * pid is no longer a process, or is owner (a process known to have stopped
 * writing there, e.g. the previous holder of a run directory's lock, whose
 * pid the system may since have reused; 0: none).  Never the calling
 * process's own.  Returns how many were removed. */
NN_API int nn_file_remove_stale_temps(const char *dir, long owner);

/* ------------------------------------------------------------------------
 * Checkpoints: one versioned binary file (.nnrun) holding a network's
 * architecture and weights and, optionally, the training state (optimiser
 * kind, parameters and state block, schedule and its state, clipping, epoch
 * and step counters, the shuffle generator), normalisation statistics, a config text and string
 * metadata.  Data only: nothing in it is executed or followed as a path.
 *
 * Format (version 3; version 2 files, written before input shapes, and
 * version 1 files, written before the layer registry, still load, evaluate
 * and resume; all integers little-endian, floats
 * IEEE-754 binary32):
 *   header   8 bytes magic "\x89NNRUN\r\n", u32 version, u32 section count
 *            (<= 16), u64 file size, u32 CRC-32 of the header and section
 *            table (this field counted as 0), u32 0
 *   table    per section: u32 tag, u32 CRC-32 of its bytes, u64 offset,
 *            u64 length
 *   sections in this order, each at most once, tiling the rest of the file
 *            exactly: ARCH (the input shape {C,H,W}, then the layers: each
 *            a record of its kind's name and
 *            its settings, named and typed as the kind's parameter specs),
 *            PARM (weights), STAT (the mask stream and the non-trainable
 *            state), TRNR (training state) with OPTM (the optimiser: kind,
 *            its parameters, update count, state block) — or TRNR in the
 *            older layout with VELO (SGD's momentum), as nnrun 0.1 wrote
 *            it, still read — NORM, CONF (config text), META (key/value
 *            strings).
 * The same content always gives the same bytes: save -> load -> save is
 * byte-identical.
 *
 * Writing is atomic, through nn_file_write_atomic (which see): a failure at
 * any step returns NN_EIO naming the path and the system's reason, removes
 * the temporary file and leaves an existing checkpoint at path as it was (a
 * failure of the final directory fsync is reported too; the new file is
 * then already in place).
 *
 * Reading validates before it trusts: header size capped, every size, offset
 * and count bounds-checked, sections tiling the file with no trailing bytes,
 * every CRC verified, every enum and value range checked, every weight and
 * momentum finite, epoch <= step <= 2^53; any violation is
 * NN_EFORMAT "<path>: <what>" ("not an nnrun checkpoint", "truncated",
 * "section PARM: checksum mismatch", "section PARM: layer 1: weight 3 of 8
 * is nan (not a finite number)", ...), a newer version is NN_EFORMAT
 * naming both versions.  Files up to 4 GiB.
 * ------------------------------------------------------------------------ */
typedef struct nn_checkpoint nn_checkpoint;

/* What a checkpoint holds besides the network and trainer.  Every field may
 * be NULL/0.  Strings must not contain NUL; keys should be unique. */
typedef struct nn_checkpoint_extra {
    const nn_norm *norm;          /* normalisation of the training inputs */
    const char *config;           /* e.g. the resolved YAML of the run    */
    const char *const *meta_keys; /* n_meta keys and values                */
    const char *const *meta_values;
    int n_meta;
} nn_checkpoint_extra;

/* Saves net (and tr's state when tr is not NULL; tr must train net) to
 * path atomically.  Neither is modified.  NN_EINVAL for NULL/empty
 * arguments, a network without layers, a norm whose feature count differs
 * from the network's input or a string with an embedded problem;
 * NN_EDIVERGED (nothing written) for a non-finite weight or momentum, which
 * the reader would refuse; NN_EIO for I/O errors; NN_ENOMEM. */
NN_API nn_status nn_save(const char *path, const nn_net *net, const nn_trainer *tr,
                         const nn_checkpoint_extra *extra);

/* Reads and validates a checkpoint.  The result holds everything in the
 * file; free it with nn_checkpoint_free. */
NN_API nn_status nn_checkpoint_read(const char *path, nn_checkpoint **out);
NN_API void nn_checkpoint_free(nn_checkpoint *ck);

/* Builds a new network with the checkpoint's architecture and weights. */
NN_API nn_status nn_checkpoint_net(const nn_checkpoint *ck, nn_net **out);
/* Copies the weights, the non-trainable state and the mask stream into an
 * existing network after comparing the architecture (layer kinds, widths,
 * settings): NN_ESHAPE naming the
 * first difference, e.g. "checkpoint: layer 1 is dense 4->8, network has
 * dense 4->6".  Initialisers are not compared. */
NN_API nn_status nn_checkpoint_apply(const nn_checkpoint *ck, nn_net *net);

/* 1 if the checkpoint holds training state. */
NN_API int nn_checkpoint_has_trainer(const nn_checkpoint *ck);
/* The training configuration saved with the state (callbacks and user are
 * NULL; an SGD optimiser comes back in the deprecated .sgd with optim.kind
 * UNSET, as nn_trainer_config gives it — read it with nn_train_optim).  NN_ESTATE without training state. */
NN_API nn_status nn_checkpoint_train_config(const nn_checkpoint *ck, nn_train_config *cfg);
/* Epochs and batches done at save time (0 without training state). */
NN_API int64_t nn_checkpoint_epoch(const nn_checkpoint *ck);
NN_API int64_t nn_checkpoint_step(const nn_checkpoint *ck);
/* Restores a trainer so that training continues exactly as if it had never
 * stopped: the optimiser's state block and update count, the schedule
 * state, the shuffle generator and the epoch/step position.  tr's network must already hold the checkpoint's weights
 * (nn_load / nn_checkpoint_apply).  tr's configuration must equal the saved
 * one in everything that shapes the trajectory (loss, batch size, shuffle,
 * schedule_per_batch, the optimiser's kind and parameters, clipping and
 * schedule; not the seed or callbacks): NN_ESTATE naming the first field
 * that differs ("checkpoint: the trainer's adam.beta2 is 0.99, the
 * checkpoint's 0.999").  NN_ESTATE without
 * training state; NN_ESHAPE if the parameter count differs. */
NN_API nn_status nn_checkpoint_restore(const nn_checkpoint *ck, nn_trainer *tr);
/* Whether training on data in the checkpoint's batch size reaches its
 * position at an epoch boundary (where checkpoints that resume exactly are
 * saved): step == epoch * ceil(N / min(batch_size, N)).  NN_ESTATE naming
 * both otherwise (other data, or counters a CRC cannot vouch for). */
NN_API nn_status nn_checkpoint_check_data(const nn_checkpoint *ck, const nn_dataset *data);

/* Borrowed from ck: the config text (NULL if none), the normalisation
 * (kind NONE when none), the metadata (value for key, NULL if absent), and
 * everything as an nn_checkpoint_extra for saving again. */
NN_API const char *nn_checkpoint_config(const nn_checkpoint *ck);
NN_API nn_norm nn_checkpoint_norm(const nn_checkpoint *ck);
NN_API int nn_checkpoint_meta_count(const nn_checkpoint *ck);
NN_API const char *nn_checkpoint_meta_key(const nn_checkpoint *ck, int i);
NN_API const char *nn_checkpoint_meta_value(const nn_checkpoint *ck, int i);
NN_API const char *nn_checkpoint_meta(const nn_checkpoint *ck, const char *key);
NN_API nn_checkpoint_extra nn_checkpoint_extra_of(const nn_checkpoint *ck);

/* Convenience: nn_checkpoint_read + nn_checkpoint_net.  ck_out may be NULL
 * (the checkpoint is then freed); otherwise it receives the checkpoint for
 * nn_checkpoint_restore and the accessors.  Both NULL on failure. */
NN_API nn_status nn_load(const char *path, nn_net **net_out, nn_checkpoint **ck_out);

/* ------------------------------------------------------------------------
 * Loss landscape (nnrun landscape): the loss over a plane through a point
 * of parameter space, and where other points lie on that plane.  Vectors
 * are nn_net_param_count(net) floats, in the order of nn_net_params.
 * ------------------------------------------------------------------------ */
/* out[j * na + i] = the mean loss over data, as nn_evaluate gives it
 * (batch_size 0: 256), at the parameters
 *     center + alpha[i] d1 + beta[j] d2      (i < na, j < nb)
 * (d2 may be NULL when nb == 1 and beta[0] == 0: a line).  Each point's
 * evaluation runs the network's kernels on the library's threads; the
 * figures are the same for any thread count.  The network's parameters
 * are restored before returning, on failure too; it must not be used by
 * another thread meanwhile.  NN_EINVAL for NULL arguments or na, nb < 1;
 * the errors of nn_evaluate. */
NN_API nn_status nn_loss_surface(nn_net *net, const nn_dataset *data, nn_loss_kind loss,
                                 const float *center, const float *d1, const float *d2,
                                 const double *alpha, int64_t na, const double *beta, int64_t nb,
                                 int64_t batch_size, double *out);

/* out: a random direction for nn_loss_surface, normalised per layer (Li et
 * al. 2018, "Visualizing the Loss Landscape of Neural Nets"): standard
 * normal entries drawn from rng, then each parameter tensor's block (a
 * dense layer's weights, its bias) scaled to the Euclidean norm that tensor
 * has in the network now.  A tensor of norm 0 gets a zero block, and so do
 * the parameters of layers without weight/bias views. */
NN_API nn_status nn_net_random_direction(nn_net *net, nn_rng *rng, float *out);

/* The coordinates (*a, *b) of p on the plane through center spanned by d1
 * and d2: the least-squares solution of p - center ~ a d1 + b d2 (n floats
 * each; sums in double, in index order).  NN_EINVAL when d1 and d2 are
 * zero or parallel. */
NN_API nn_status nn_plane_project(int64_t n, const float *center, const float *d1,
                                  const float *d2, const float *p, double *a, double *b);

#ifdef __cplusplus
}
#endif
#endif /* NNRUN_H */
