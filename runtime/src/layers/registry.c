/* registry.c — the table of layer kinds, and the one place where a layer's
 * settings are resolved and checked against its parameter specs (for
 * nn_net_add, the checkpoint reader and, through the exported specs, the
 * Lua bindings and the YAML schema). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../internal.h"
#include "layers.h"

/* The kinds that net.c does not name (layers.h declares the others). */
extern const nn_layer_ops nn_layer_dropout;
extern const nn_layer_ops nn_layer_batchnorm;
extern const nn_layer_ops nn_layer_layernorm;
extern const nn_layer_ops nn_layer_gaussian_noise;
extern const nn_layer_ops nn_layer_conv2d;
extern const nn_layer_ops nn_layer_avgpool;
extern const nn_layer_ops nn_layer_global_avgpool;
extern const nn_layer_ops nn_layer_flatten;

/* One line per kind; the order is the order nn_layer_kind_name lists. */
const nn_layer_ops *const nn_layer_registry[] = {
    &nn_layer_dense,
    &nn_layer_activation,
    &nn_layer_dropout,
    &nn_layer_batchnorm,
    &nn_layer_layernorm,
    &nn_layer_gaussian_noise,
    &nn_layer_conv2d,
    &nn_layer_maxpool,
    &nn_layer_avgpool,
    &nn_layer_global_avgpool,
    &nn_layer_flatten,
};
const int nn_layer_registry_n = (int)(sizeof nn_layer_registry / sizeof nn_layer_registry[0]);

const nn_layer_ops *nn_layer_find(const char *name)
{
    for (int k = 0; name && k < nn_layer_registry_n; k++)
        if (strcmp(nn_layer_registry[k]->name, name) == 0)
            return nn_layer_registry[k];
    return NULL;
}

int nn_layer_kind_count(void) { return nn_layer_registry_n; }
const char *nn_layer_kind_name(int k) { return k >= 0 && k < nn_layer_registry_n ? nn_layer_registry[k]->name : NULL; }
const char *nn_layer_kind_doc(int k) { return k >= 0 && k < nn_layer_registry_n ? nn_layer_registry[k]->doc : NULL; }
int nn_layer_kind_params(int k, const nn_param_spec **specs)
{
    if (k < 0 || k >= nn_layer_registry_n) {
        if (specs)
            *specs = NULL;
        return 0;
    }
    if (specs)
        *specs = nn_layer_registry[k]->params;
    return nn_layer_registry[k]->nparams;
}

/* "in [0, 1)", "> 0", ">= 1" into buf. */
static void range_text(const nn_param_spec *p, char *buf, size_t n)
{
    if (isinf(p->min) && isinf(p->max))
        snprintf(buf, n, "finite");
    else if (isinf(p->max))
        snprintf(buf, n, "%s %g", p->min_open ? ">" : ">=", p->min);
    else
        snprintf(buf, n, "in %c%g, %g%c", p->min_open ? '(' : '[', p->min, p->max, p->max_open ? ')' : ']');
}

static int choice_index(const char *const *choices, const char *s)
{
    for (int i = 0; s && choices[i]; i++)
        if (strcmp(choices[i], s) == 0)
            return i;
    return -1;
}

static nn_status check_value(const nn_layer_ops *ops, const nn_param_spec *p, const nn_value *in, nn_value *out)
{
    char r[64];
    memset(out, 0, sizeof *out);
    switch (p->type) {
    case NN_PARAM_BOOL:
    case NN_PARAM_INT:
    case NN_PARAM_FLOAT: {
        /* Float settings are float32 in the layers: the value is rounded
         * first, so that 0.1 from Lua, YAML and a checkpoint is one value. */
        const double v = p->type == NN_PARAM_FLOAT && isfinite(in->num) && fabs(in->num) < 3.4e38
                             ? (double)(float)in->num
                             : in->num;
        const int bad_int = p->type == NN_PARAM_INT && floor(v) != v;
        const int below = p->min_open ? !(v > p->min) : !(v >= p->min);
        const int above = p->max_open ? !(v < p->max) : !(v <= p->max);
        if (!isfinite(v) || bad_int || below || above) {
            range_text(p, r, sizeof r);
            return nn_fail(NN_EINVAL, "%s must be %s%s, got %g", p->name, p->type == NN_PARAM_INT ? "an integer " : "",
                           r, v);
        }
        out->num = v;
        return NN_OK;
    }
    case NN_PARAM_CHOICE: {
        const int i = choice_index(p->choices, in->str);
        if (i < 0)
            return nn_fail(NN_EINVAL, "unknown %s '%s'", strcmp(p->name, "name") ? p->name : ops->name,
                           in->str ? in->str : "(null)");
        out->str = p->choices[i]; /* static: a resolved value borrows nothing */
        return NN_OK;
    }
    case NN_PARAM_INIT:
        if (!nn_init_name(in->init.kind) || !isfinite(in->init.a) || !isfinite(in->init.b))
            return nn_fail(NN_EINVAL, "%s: bad initialiser (kind %d)", p->name, (int)in->init.kind);
        out->init = in->init;
        out->str = nn_init_name(in->init.kind);
        return NN_OK;
    }
    return nn_fail(NN_EINVAL, "%s: bad parameter type", p->name);
}

nn_status nn_layer_make(const nn_layer_spec *spec, nn_shape in, nn_layer *l)
{
    memset(l, 0, sizeof *l);
    if (!spec)
        return nn_fail(NN_EINVAL, "spec is NULL");
    const nn_layer_ops *ops = nn_layer_find(spec->kind);
    if (!ops)
        return nn_fail(NN_EINVAL, "unknown layer kind '%s'", spec->kind ? spec->kind : "(null)");
    l->ops = ops; /* names the kind in the caller's messages from here on */
    if (spec->n < 0 || spec->n > NN_LAYER_MAX_PARAMS || (spec->n && (!spec->keys || !spec->values)))
        return nn_fail(NN_EINVAL, "%s: bad settings (%d)", ops->name, spec->n);
    int given[NN_LAYER_MAX_PARAMS] = {0};
    for (int j = 0; j < spec->n; j++) {
        int k = 0;
        while (k < ops->nparams && !(spec->keys[j] && strcmp(spec->keys[j], ops->params[k].name) == 0))
            k++;
        if (k == ops->nparams)
            return nn_fail(NN_EINVAL, "unknown setting '%s'", spec->keys[j] ? spec->keys[j] : "(null)");
        if (given[k])
            return nn_fail(NN_EINVAL, "setting '%s' given twice", spec->keys[j]);
        given[k] = 1;
        nn_status s = check_value(ops, &ops->params[k], &spec->values[j], &l->v[k]);
        if (s)
            return s;
    }
    for (int k = 0; k < ops->nparams; k++) {
        const nn_param_spec *p = &ops->params[k];
        if (given[k])
            continue;
        if (isnan(p->def))
            return nn_fail(NN_EINVAL, "%s is required", p->name);
        if (p->type == NN_PARAM_CHOICE)
            l->v[k].str = p->choices[(int)p->def];
        else if (p->type == NN_PARAM_INIT) {
            l->v[k].init = (nn_init){(nn_init_kind)(int)p->def, 0, 0};
            l->v[k].str = nn_init_name(l->v[k].init.kind);
        } else
            l->v[k].num = p->type == NN_PARAM_FLOAT ? (double)(float)p->def : p->def;
    }
    for (int k = 0; k < ops->nparams; k++)
        l->keys[k] = ops->params[k].name;
    l->ops = ops;
    l->in = l->out = in;
    return ops->setup ? ops->setup(l) : NN_OK;
}

void nn_layer_spec_of(const nn_layer *l, nn_layer_spec *spec)
{
    spec->kind = l->ops->name;
    spec->n = l->ops->nparams;
    spec->keys = l->keys;
    spec->values = l->v;
}
