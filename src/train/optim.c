/*
 * optim.c — SGD and Adam(W) updates, PyTorch's formulas:
 *
 *   SGD:   g += wd * p (L2);  buf = mu * buf + g (buf = g on the first step);
 *          g = nesterov ? g + mu * buf : buf;  p -= lr * g
 *   Adam:  g += wd * p (L2, Adam only);  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *          p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 *   AdamW: as Adam without the L2 term, and p *= 1 - lr * wd before the update.
 *
 * The update walks the net's tensor list, not the raw block, because only tensors
 * with a gradient are trained (batch-norm running statistics are not) and weight
 * decay is per tensor. State is addressed by the tensor's offset in the block.
 */
#include "train/optim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void fer_optim_cfg_default(fer_optim_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = FER_OPT_SGD;
    cfg->momentum = 0.9f;
    cfg->nesterov = 1;
    cfg->weight_decay = 5e-4f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-8f;
}

int fer_opt_kind_parse(const char *name)
{
    if (!strcmp(name, "sgd"))
        return FER_OPT_SGD;
    if (!strcmp(name, "adam"))
        return FER_OPT_ADAM;
    if (!strcmp(name, "adamw"))
        return FER_OPT_ADAMW;
    return -1;
}

const char *fer_opt_kind_name(fer_opt_kind k)
{
    switch (k) {
    case FER_OPT_SGD: return "sgd";
    case FER_OPT_ADAM: return "adam";
    case FER_OPT_ADAMW: return "adamw";
    }
    return "?";
}

int fer_optim_create(fer_optim **out, fer_net *net, const fer_optim_cfg *cfg, fer_error *err)
{
    *out = NULL;
    if (!net->grads)
        return fer_fail(err, -EINVAL, "optimiser: the net was built without gradients");
    fer_optim *o = calloc(1, sizeof *o);
    if (!o)
        return fer_fail(err, -ENOMEM, "optimiser: out of memory");
    o->cfg = *cfg;
    o->net = net;
    o->state_len = net->params_len * (cfg->kind == FER_OPT_SGD ? 1 : 2);
    o->state = calloc(o->state_len ? o->state_len : 1, sizeof(float));
    if (!o->state) {
        size_t want = o->state_len;
        free(o);
        return fer_fail(err, -ENOMEM, "optimiser: out of memory for %zu floats of state", want);
    }
    *out = o;
    return 0;
}

void fer_optim_free(fer_optim *o)
{
    if (!o)
        return;
    free(o->state);
    free(o);
}

static void sgd_tensor(const fer_optim *o, float *p, const float *g, float *buf, size_t n,
                       float lr, float wd)
{
    const float mu = o->cfg.momentum;
    const int first = o->steps == 0;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        if (mu != 0.0f) {
            buf[i] = first ? gi : mu * buf[i] + gi;
            gi = o->cfg.nesterov ? gi + mu * buf[i] : buf[i];
        }
        p[i] -= lr * gi;
    }
}

static void adam_tensor(const fer_optim *o, float *p, const float *g, float *m, float *v, size_t n,
                        float lr, float wd)
{
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const double t = (double)(o->steps + 1);
    const float c1 = (float)(1.0 - pow(b1, t));
    const float c2 = (float)(1.0 - pow(b2, t));
    const int decoupled = o->cfg.kind == FER_OPT_ADAMW;
    const float l2 = decoupled ? 0.0f : wd;
    const float shrink = decoupled ? 1.0f - lr * wd : 1.0f;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + l2 * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] *= shrink;
        p[i] -= lr * (m[i] / c1) / (sqrtf(v[i] / c2) + eps);
    }
}

void fer_optim_step(fer_optim *o, float lr)
{
    fer_net *net = o->net;
    fer_tensor_ref refs[4 * FER_MAX_LAYERS];
    int nt = fer_net_tensors(net, refs, (int)(sizeof refs / sizeof refs[0]));
    for (int t = 0; t < nt; t++) {
        fer_tensor_ref *r = &refs[t];
        if (!r->grad)
            continue;
        size_t off = (size_t)(r->data - net->params);
        float wd = (r->decay || o->cfg.decay_all) ? o->cfg.weight_decay : 0.0f;
        if (o->cfg.kind == FER_OPT_SGD)
            sgd_tensor(o, r->data, r->grad, o->state + off, r->count, lr, wd);
        else
            adam_tensor(o, r->data, r->grad, o->state + off, o->state + net->params_len + off,
                        r->count, lr, wd);
    }
    o->steps++;
}
