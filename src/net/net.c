/*
 * net.c — a network built from an architecture: shape planning, the three
 * memory blocks, initialisation, and forward/backward over the layer list.
 *
 * Planning (fer_net_plan) walks the layer specs once, computing each layer's
 * input and output shape, parameter count and MACs with overflow-checked
 * arithmetic and fixed size limits. It allocates nothing, so the parser can
 * run it to reject architectures whose shapes do not fit, and the model loader
 * can check a file's tensors before it commits memory to them.
 *
 * Building (fer_net_create) then lays out, llm.c-style, ONE block each for
 *   params: per layer, in layer order: weight, bias, running_mean, running_var
 *           (conv with bias=0 still gets a zero bias slot, so bn can fold into it);
 *   grads:  the same layout (training only), so dw = grads + (w - params);
 *   acts:   [training: a copy of the input] then per layer out, dout (training)
 *           and save (bn: mean+invstd; dropout: the mask, training only);
 *   work:   the conv scratch for the largest conv (fer_conv_work_size, or
 *           fer_wino_work_size where an inference net runs Winograd); training
 *           nets get a second one (work2) for the engine's second thread;
 *   wino:   inference nets only: the Winograd weights (16, K, C) of the convs
 *           fer_wino_pays selects, filled by fer_net_fold_bn (run.c) from the
 *           folded weights; never part of params, so never saved.
 * Layout is one function run twice: with NULL bases to count, then to assign
 * pointers. Every sub-buffer starts on a 64-byte boundary.
 *
 * Running a built net (forward, backward, the run-time options) is run.c.
 */
#include "net/net.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Size limits (floats) that keep every count far from overflow and every block
 * allocatable; net.h and docs/ARCH_FORMAT.md state them. */
#define MAX_INPUT ((size_t)FER_MAX_INPUT_FLOATS)
#define MAX_ACTS ((size_t)FER_MAX_ACT_FLOATS)
#define MAX_WORK ((size_t)FER_MAX_ACT_FLOATS)
#define MAX_LAYER_WEIGHTS ((size_t)INT32_MAX)
#define MAX_BATCH 65536
#define ALIGN_FLOATS 16

/* a*b, or SIZE_MAX when it overflows (every limit above is far below SIZE_MAX). */
static size_t mul_sat(size_t a, size_t b)
{
    size_t r;
    return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

static int is_spatial(fer_layer_type t)
{
    return t == FER_LAYER_CONV || t == FER_LAYER_MAXPOOL || t == FER_LAYER_GAP;
}

/* Layers that keep the shape and may trail the last [fc]. */
static int keeps_shape(fer_layer_type t)
{
    return t == FER_LAYER_BN || t == FER_LAYER_RELU || t == FER_LAYER_DROPOUT;
}

/* Plans one conv layer l (input shape already in l). */
static int plan_conv(fer_layer *l, const char *origin, fer_error *err)
{
    const fer_layer_spec *s = &l->spec;
    if (s->filters < 1 || s->size < 1 || s->stride < 1 || s->pad < 0 || s->pad >= s->size)
        return fer_fail(err, FER_E_ARCH, "%s:%d: [conv] needs filters, size, stride >= 1 and "
                        "0 <= pad < size", origin, s->line);
    l->conv = (fer_conv_shape){.c = l->ic, .h = l->ih, .w = l->iw, .k = s->filters, .kh = s->size,
                               .kw = s->size, .stride = s->stride, .pad = s->pad};
    if (fer_conv_shape_init(&l->conv) < 0)
        return fer_fail(err, FER_E_ARCH,
                        "%s:%d: [conv] output would be empty: input %dx%dx%d, size %d, pad %d",
                        origin, s->line, l->ic, l->ih, l->iw, s->size, s->pad);
    size_t per_filter = mul_sat(mul_sat((size_t)l->ic, (size_t)s->size), (size_t)s->size);
    size_t weights = mul_sat(per_filter, (size_t)s->filters);
    size_t pixels = (size_t)l->conv.oh * (size_t)l->conv.ow;
    if (weights > MAX_LAYER_WEIGHTS)
        return fer_fail(err, FER_E_ARCH, "%s:%d: [conv] has more than %zu weights", origin,
                        s->line, MAX_LAYER_WEIGHTS);
    if (mul_sat(per_filter, pixels) > MAX_WORK)
        return fer_fail(err, FER_E_ARCH, "%s:%d: [conv] im2col needs more than %zu floats",
                        origin, s->line, MAX_WORK);
    l->oc = s->filters;
    l->oh = l->conv.oh;
    l->ow = l->conv.ow;
    l->nparams = weights + (s->bias ? (size_t)s->filters : 0);
    l->macs = (long long)weights * (long long)pixels;
    return 0;
}

int fer_net_plan(fer_layer *layers, const fer_arch *a, const char *origin, fer_error *err)
{
    if (!origin)
        origin = a->name[0] ? a->name : "arch";
    if (a->nlayers < 1 || a->nlayers > FER_MAX_LAYERS)
        return fer_fail(err, FER_E_ARCH, "%s: %d layers, expected 1..%d", origin, a->nlayers,
                        FER_MAX_LAYERS);
    if (a->in_c < 1 || a->in_h < 1 || a->in_w < 1 ||
        mul_sat(mul_sat((size_t)a->in_c, (size_t)a->in_h), (size_t)a->in_w) > MAX_INPUT)
        return fer_fail(err, FER_E_ARCH, "%s: input %dx%dx%d: each side must be >= 1 and the "
                        "image at most %zu floats", origin, a->in_c, a->in_h, a->in_w, MAX_INPUT);

    int c = a->in_c, h = a->in_h, w = a->in_w;
    int flat_line = 0;          /* line of the [fc]/[gap] that flattened, 0 = not flat */
    size_t total = 0;           /* floats of all outputs so far */
    for (int i = 0; i < a->nlayers; i++) {
        fer_layer *l = &layers[i];
        memset(l, 0, sizeof *l);
        l->spec = a->layers[i];
        const fer_layer_spec *s = &l->spec;
        const char *name = fer_layer_type_name(s->type);
        l->ic = c;
        l->ih = h;
        l->iw = w;
        l->in_size = (size_t)c * h * w;
        l->oc = c;
        l->oh = h;
        l->ow = w;

        if (flat_line && is_spatial(s->type))
            return fer_fail(err, FER_E_ARCH,
                            "%s:%d: [%s] after the input was flattened (line %d)", origin,
                            s->line, name, flat_line);
        int r = 0;
        switch (s->type) {
        case FER_LAYER_CONV:
            r = plan_conv(l, origin, err);
            break;
        case FER_LAYER_BN:
            if (!flat_line && !(i > 0 && a->layers[i - 1].type == FER_LAYER_CONV))
                return fer_fail(err, FER_E_ARCH, "%s:%d: [bn] must directly follow [conv], or "
                                "come after the input was flattened by [fc] or [gap]", origin,
                                s->line);
            if (!(s->eps > 0.0f) || !(s->momentum >= 0.0f && s->momentum <= 1.0f))
                return fer_fail(err, FER_E_ARCH, "%s:%d: [bn] needs eps > 0, 0 <= momentum <= 1",
                                origin, s->line);
            l->bn = (fer_bn_shape){.c = c, .hw = h * w, .eps = s->eps, .momentum = s->momentum};
            l->nparams = 2 * (size_t)c;
            break;
        case FER_LAYER_RELU:
            break;
        case FER_LAYER_MAXPOOL:
            l->pool = (fer_pool_shape){.c = c, .h = h, .w = w, .size = s->size,
                                       .stride = s->stride};
            if (fer_pool_shape_init(&l->pool) < 0)
                return fer_fail(err, FER_E_ARCH,
                                "%s:%d: [maxpool] output would be empty: input %dx%dx%d, size %d, "
                                "stride %d", origin, s->line, c, h, w, s->size, s->stride);
            l->oh = l->pool.oh;
            l->ow = l->pool.ow;
            break;
        case FER_LAYER_GAP:
            l->oh = l->ow = 1;
            flat_line = s->line;
            break;
        case FER_LAYER_FC: {
            size_t weights = mul_sat(l->in_size, (size_t)(s->outputs > 0 ? s->outputs : 0));
            if (s->outputs < 1)
                return fer_fail(err, FER_E_ARCH, "%s:%d: [fc] needs outputs >= 1", origin,
                                s->line);
            if (weights > MAX_LAYER_WEIGHTS)
                return fer_fail(err, FER_E_ARCH, "%s:%d: [fc] has more than %zu weights",
                                origin, s->line, MAX_LAYER_WEIGHTS);
            l->oc = s->outputs;
            l->oh = l->ow = 1;
            l->nparams = weights + (size_t)s->outputs;
            l->macs = (long long)weights;
            flat_line = s->line;
            break;
        }
        case FER_LAYER_DROPOUT:
            if (!(s->p >= 0.0f && s->p < 1.0f))
                return fer_fail(err, FER_E_ARCH, "%s:%d: [dropout] needs 0 <= p < 1", origin,
                                s->line);
            break;
        default:
            return fer_fail(err, FER_E_LAYER, "%s:%d: unknown layer type %d", origin, s->line,
                            (int)s->type);
        }
        if (r < 0)
            return r;

        l->out_size = (size_t)l->oc * l->oh * l->ow;
        total += l->out_size;   // each term <= MAX_ACTS after the check below
        if (l->out_size > MAX_ACTS || total > MAX_ACTS)
            return fer_fail(err, FER_E_ARCH, "%s:%d: the outputs up to this [%s] exceed %zu "
                            "floats per image", origin, s->line, name, MAX_ACTS);
        c = l->oc;
        h = l->oh;
        w = l->ow;
    }

    int last = a->nlayers - 1;
    while (last > 0 && keeps_shape(a->layers[last].type))
        last--;
    if (a->layers[last].type != FER_LAYER_FC)
        return fer_fail(err, FER_E_ARCH, "%s:%d: the network must end with [fc] (only [bn], "
                        "[relu] or [dropout] may follow it), not [%s]", origin,
                        a->layers[last].line, fer_layer_type_name(a->layers[last].type));
    return 0;
}

/* ---- building -------------------------------------------------------------- */

/* A bump allocator over one block; with a NULL base it only counts. */
typedef struct bump {
    float *base;
    size_t off;
} bump;

static float *take(bump *b, size_t n)
{
    float *p = b->base ? b->base + b->off : NULL;
    b->off += (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    return p;
}

/* True for a conv of an inference net that runs Winograd (nn/winograd.c): where it pays,
 * and where its scratch stays within the bound im2col's has (MAX_WORK). */
static int wino_layer(const fer_layer *l, unsigned flags)
{
    return !(flags & FER_NET_TRAIN) && l->spec.type == FER_LAYER_CONV &&
           fer_wino_pays(&l->conv) && fer_wino_work_size(&l->conv) <= MAX_WORK;
}

/* Floats of a layer's weight and bias slots. */
static size_t weight_count(const fer_layer *l)
{
    switch (l->spec.type) {
    case FER_LAYER_CONV: return (size_t)l->conv.k * l->ic * l->conv.kh * l->conv.kw;
    case FER_LAYER_FC: return (size_t)l->oc * l->in_size;
    case FER_LAYER_BN: return (size_t)l->ic;
    default: return 0;
    }
}

/* Assigns every layer pointer into the given blocks (or, with NULL bases, just counts)
 * and records the block lengths in net. */
static void layout(fer_net *net, float *params, float *grads, float *acts)
{
    bump P = {params, 0}, G = {grads, 0}, A = {acts, 0};
    const int train = (net->flags & FER_NET_TRAIN) != 0;
    const size_t mb = (size_t)net->max_batch;

    if (train)
        take(&A, mb * net->layers[0].in_size); // the input copy, at offset 0
    for (int i = 0; i < net->nlayers; i++) {
        fer_layer *l = &net->layers[i];
        size_t nw = weight_count(l);
        if (nw) {
            size_t nb = l->spec.type == FER_LAYER_BN ? (size_t)l->ic : (size_t)l->oc;
            l->w = take(&P, nw);
            l->dw = take(&G, nw);
            l->b = take(&P, nb);
            l->db = take(&G, nb);
            if (l->spec.type == FER_LAYER_BN) {
                l->run_mean = take(&P, nb);
                take(&G, nb);
                l->run_var = take(&P, nb);
                take(&G, nb);
            }
        }
        size_t count = mb * l->out_size;
        l->out = take(&A, count);
        if (train)
            l->dout = take(&A, count);
        if (l->spec.type == FER_LAYER_BN)
            l->save = take(&A, 2 * (size_t)l->ic);
        else if (l->spec.type == FER_LAYER_DROPOUT && train)
            l->save = take(&A, count);
    }
    net->params_len = P.off;
    net->acts_len = A.off;
}

/* U(-bound, bound) into x[0..n). */
static void init_uniform(float *x, size_t n, float bound, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = bound * (2.0f * fer_rng_uniform(rng) - 1.0f);
}

/* PyTorch's defaults: conv and Linear weights kaiming_uniform(a=sqrt(5)), which is
 * U(+-1/sqrt(fan_in)), biases the same bound; bn gamma 1, beta 0, mean 0, var 1.
 * Drawn layer by layer, weight before bias, from one stream seeded by seed. */
static void init_params(fer_net *net, uint64_t seed)
{
    uint64_t rng = seed;
    for (int i = 0; i < net->nlayers; i++) {
        fer_layer *l = &net->layers[i];
        const fer_layer_spec *s = &l->spec;
        if (s->type == FER_LAYER_CONV || s->type == FER_LAYER_FC) {
            size_t fan_in = s->type == FER_LAYER_FC ? l->in_size
                                                     : (size_t)l->ic * l->conv.kh * l->conv.kw;
            float bound = 1.0f / sqrtf((float)fan_in);
            init_uniform(l->w, weight_count(l), bound, &rng);
            if (s->type == FER_LAYER_FC || s->bias)
                init_uniform(l->b, (size_t)l->oc, bound, &rng);
        } else if (s->type == FER_LAYER_BN) {
            for (int j = 0; j < l->ic; j++) {
                l->w[j] = 1.0f;
                l->run_var[j] = 1.0f;
            }
        }
    }
}

int fer_net_create(fer_net **out, fer_arch *arch, int max_batch, unsigned flags, uint64_t seed,
                   fer_error *err)
{
    *out = NULL;
    if (!arch)
        return fer_fail(err, -EINVAL, "fer_net_create: no architecture");
    const char *origin = arch->name[0] ? arch->name : "arch";
    fer_net *net = calloc(1, sizeof *net);
    if (!net) {
        fer_arch_free(arch);
        return fer_fail(err, -ENOMEM, "%s: out of memory", origin);
    }
    net->arch = arch;
    net->max_batch = max_batch;
    net->flags = flags;
    int r;
    if (max_batch < 1 || max_batch > MAX_BATCH) {
        r = fer_fail(err, -EINVAL, "%s: max_batch %d is outside 1..%d", origin, max_batch,
                     MAX_BATCH);
        goto fail;
    }
    if (arch->nlayers < 1 || arch->nlayers > FER_MAX_LAYERS) {
        r = fer_fail(err, FER_E_ARCH, "%s: %d layers, expected 1..%d", origin, arch->nlayers,
                     FER_MAX_LAYERS);
        goto fail;
    }
    net->layers = calloc((size_t)arch->nlayers, sizeof *net->layers);
    if (!net->layers) {
        r = fer_fail(err, -ENOMEM, "%s: out of memory", origin);
        goto fail;
    }
    r = fer_net_plan(net->layers, arch, origin, err);
    if (r < 0)
        goto fail;
    net->nlayers = arch->nlayers;
    if (net->layers[net->nlayers - 1].out_size != (size_t)arch->nclasses) {
        r = fer_fail(err, FER_E_CLASSES, "%s: %d classes, the output layer has %zu", origin,
                     arch->nclasses, net->layers[net->nlayers - 1].out_size);
        goto fail;
    }

    size_t conv_params = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const fer_layer *l = &net->layers[i];
        net->nparams += l->nparams;
        if (l->spec.type == FER_LAYER_CONV && fer_conv_work_size(&l->conv) > net->work_len)
            net->work_len = fer_conv_work_size(&l->conv);
        if (l->spec.type == FER_LAYER_CONV && weight_count(l) + l->oc > conv_params)
            conv_params = weight_count(l) + (size_t)l->oc;
    }
    if ((flags & FER_NET_TRAIN) && net->work_len)
        net->work2_len = net->work_len + 16 + conv_params;
    // Inference nets: room for the Winograd weights of the convs it pays for (the
    // rule is fer_wino_pays), and the scratch fer_wino_forward needs.
    for (int i = 0; i < net->nlayers; i++) {
        const fer_layer *l = &net->layers[i];
        if (!wino_layer(l, flags))
            continue;
        net->wino_len += (fer_wino_weight_size(&l->conv) + ALIGN_FLOATS - 1) / ALIGN_FLOATS *
                         ALIGN_FLOATS;
        if (fer_wino_work_size(&l->conv) > net->work_len)
            net->work_len = fer_wino_work_size(&l->conv);
    }
    layout(net, NULL, NULL, NULL);
    net->params = calloc(net->params_len, sizeof(float));
    net->acts = calloc(net->acts_len, sizeof(float));
    if (flags & FER_NET_TRAIN)
        net->grads = calloc(net->params_len, sizeof(float));
    if (net->work_len)
        net->work = calloc(net->work_len, sizeof(float));
    if (net->work2_len)
        net->work2 = calloc(net->work2_len, sizeof(float));
    if (net->wino_len)
        net->wino = aligned_alloc(64, (net->wino_len * sizeof(float) + 63) / 64 * 64);
    if (!net->params || !net->acts || (!net->grads && (flags & FER_NET_TRAIN)) ||
        (!net->work && net->work_len) || (!net->work2 && net->work2_len) ||
        (!net->wino && net->wino_len)) {
        r = fer_fail(err, -ENOMEM, "%s: out of memory for %zu parameters and %zu activations",
                     origin, net->params_len, net->acts_len);
        goto fail;
    }
    layout(net, net->params, net->grads, net->acts);
    size_t at = 0;
    for (int i = 0; i < net->nlayers && net->wino; i++) {
        fer_layer *l = &net->layers[i];
        if (!wino_layer(l, flags))
            continue;
        l->wino = net->wino + at;
        at += (fer_wino_weight_size(&l->conv) + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
    }
    init_params(net, seed);
    // Dropout draws from its own stream so masks do not repeat the weights' draws.
    net->rng = seed ^ 0x6A09E667F3BCC909ull;
    *out = net;
    return 0;

fail:
    fer_net_free(net);
    return r;
}

void fer_net_free(fer_net *net)
{
    if (!net)
        return;
    free(net->params);
    free(net->grads);
    free(net->acts);
    free(net->work);
    free(net->work2);
    free(net->half);
    free(net->wino);
    free(net->layers);
    fer_arch_free(net->arch);
    free(net);
}

/* ---- tensors --------------------------------------------------------------- */

/* Appends one ref if there is room; always counts it. */
static void add_ref(fer_tensor_ref *refs, int max, int *count, int layer, const char *kind,
                    int ndim, const int *shape, float *data, float *grad, int decay)
{
    if (*count < max) {
        fer_tensor_ref *t = &refs[*count];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "%d.%s", layer, kind);
        t->layer = layer;
        t->ndim = ndim;
        t->count = 1;
        for (int d = 0; d < ndim; d++) {
            t->shape[d] = shape[d];
            t->count *= (size_t)shape[d];
        }
        t->data = data;
        t->grad = grad;
        t->decay = decay;
    }
    (*count)++;
}

int fer_net_tensors(const fer_net *net, fer_tensor_ref *refs, int max)
{
    int n = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const fer_layer *l = &net->layers[i];
        switch (l->spec.type) {
        case FER_LAYER_CONV: {
            int ws[4] = {l->oc, l->ic, l->conv.kh, l->conv.kw}, bs[1] = {l->oc};
            add_ref(refs, max, &n, i, "weight", 4, ws, l->w, l->dw, 1);
            if (l->spec.bias)
                add_ref(refs, max, &n, i, "bias", 1, bs, l->b, l->db, 0);
            break;
        }
        case FER_LAYER_BN: {
            int cs[1] = {l->ic};
            add_ref(refs, max, &n, i, "weight", 1, cs, l->w, l->dw, 0);
            add_ref(refs, max, &n, i, "bias", 1, cs, l->b, l->db, 0);
            add_ref(refs, max, &n, i, "running_mean", 1, cs, l->run_mean, NULL, 0);
            add_ref(refs, max, &n, i, "running_var", 1, cs, l->run_var, NULL, 0);
            break;
        }
        case FER_LAYER_FC: {
            int ws[2] = {l->oc, (int)l->in_size}, bs[1] = {l->oc};
            add_ref(refs, max, &n, i, "weight", 2, ws, l->w, l->dw, 1);
            add_ref(refs, max, &n, i, "bias", 1, bs, l->b, l->db, 0);
            break;
        }
        default:
            break;
        }
    }
    return n;
}

long long fer_net_macs(const fer_net *net)
{
    long long total = 0;
    for (int i = 0; i < net->nlayers; i++)
        total += net->layers[i].macs;
    return total;
}
