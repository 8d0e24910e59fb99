/*
 * run.c — running a built net: forward and backward over the layer list, and the
 * run-time options (batch-norm folding, binary16 fc weights, thread count).
 *
 * Forward in training mode writes every layer's output (identity layers copy),
 * so backward finds each layer's input in the previous layer's out and never
 * has to know what was skipped. At inference, identity layers (dropout, a
 * folded bn) are skipped by passing the pointer along.
 *
 * Choices made here for speed (the kernels in src/nn/ stay single-threaded):
 *  - a [relu] right after a conv (inference) or a bn (training) runs in that
 *    layer's epilogue; in training the fused result goes into the ReLU's own
 *    buffer, and bn's backward applies the ReLU mask itself;
 *  - training splits every layer over two threads (net/parallel.h) when
 *    fer_set_threads(2) asked for it: see "the two-thread split" below;
 *  - batch inference runs the layers before the first [fc] image by image, so
 *    activations stay in cache (fer_net_forward says more);
 *  - fer_net_use_f16 gives the fc layers binary16 weights for batch-1 inference;
 *  - at inference, the convs that fer_wino_pays selects run Winograd F(2x2, 3x3)
 *    (nn/winograd.c) from weights fer_net_fold_bn transforms once (net->wino_off
 *    turns that off for a same-run comparison).
 * net->prof, when a caller sets it, collects each layer's time (`fer bench`).
 */
#include "net/net.h"

#include <cblas.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/parallel.h"
#include "util/clock.h"

/* True when layer i passes its input through unchanged in this pass. */
static int is_identity(const fer_net *net, const fer_layer *l, int train)
{
    if (l->spec.type == FER_LAYER_BN)
        return l->folded;
    if (l->spec.type == FER_LAYER_DROPOUT)
        return !train || net->dropout_off || l->spec.p <= 0.0f;
    return 0;
}

/* The conv's bias, or NULL when it has none (bias=0 and no bn folded into it). */
static const float *conv_bias(const fer_net *net, int i)
{
    const fer_layer *l = &net->layers[i];
    if (l->spec.bias || (i + 1 < net->nlayers && net->layers[i + 1].folded))
        return l->b;
    return NULL;
}

/* ---- the two-thread split (net/parallel.h) --------------------------------------
 * One job describes one layer's call; the part functions split it: convolutions
 * and pooling by images, batch norm by channels, element-wise layers by elements.
 * Every split is exact (each output element is written by one thread, from the
 * same inputs as in a one-thread run), so results do not depend on the thread
 * count, except conv dW and db: the helper sums its half of the batch into its
 * own buffer, added to the caller's at the end (a different rounding order). */

typedef struct job {
    fer_net *net;
    fer_layer *l;
    const float *x;      /* layer input */
    float *y;            /* forward: output; backward: input gradient (or NULL) */
    const float *g;      /* backward: output gradient */
    const float *mask;   /* bn backward: the fused ReLU's output, or NULL */
    const float *bias;   /* conv forward */
    float *work;         /* conv scratch to use, running inline; NULL: by part */
    int n, train, relu, backward;
    int parts;           /* set by the parts: how many ran */
} job;

/* [*lo, *hi) = share part of parts of [0, n). */
static void share(int n, int part, int parts, int *lo, int *hi)
{
    *lo = (int)((long long)n * part / parts);
    *hi = (int)((long long)n * (part + 1) / parts);
}

static void conv_part(void *arg, int part, int parts)
{
    job *j = arg;
    fer_layer *l = j->l;
    int i0, i1;
    share(j->n, part, parts, &i0, &i1);
    j->parts = parts;
    float *work = j->work ? j->work : part ? j->net->work2 : j->net->work;
    if (i1 <= i0)
        return;
    const float *x = j->x + (size_t)i0 * l->in_size;
    if (!j->backward && l->wino && j->net->wino_ready && !j->net->wino_off) {
        fer_wino_forward(j->y + (size_t)i0 * l->out_size, x, l->wino, j->bias, j->relu,
                         &l->conv, i1 - i0, work);
        return;
    }
    if (!j->backward) {
        fer_conv2d_forward_relu(j->y + (size_t)i0 * l->out_size, x, l->w, j->bias, &l->conv,
                                i1 - i0, j->relu, work);
        return;
    }
    float *dw = l->dw, *db = l->spec.bias ? l->db : NULL;
    if (part) {
        // The helper's dW and db go after its conv scratch in work2.
        const size_t nw = (size_t)l->oc * l->ic * l->conv.kh * l->conv.kw;
        dw = j->net->work2 + j->net->work_len + 16;
        memset(dw, 0, (nw + (size_t)l->oc) * sizeof(float));
        db = db ? dw + nw : NULL;
    }
    fer_conv2d_backward(j->y ? j->y + (size_t)i0 * l->in_size : NULL, dw, db,
                        j->g + (size_t)i0 * l->out_size, x, l->w, &l->conv, i1 - i0, work);
}

static void bn_part(void *arg, int part, int parts)
{
    job *j = arg;
    fer_layer *l = j->l;
    fer_bn_shape s = l->bn;
    share(s.c, part, parts, &s.c0, &s.c1);
    j->parts = parts;
    if (s.c1 <= s.c0)
        return;
    if (j->backward)
        fer_bn_backward_relu(j->y, l->dw, l->db, j->g, j->mask, j->x, l->w, l->save, &s, j->n);
    else if (j->train)
        fer_bn_forward_train_relu(j->y, l->save, l->run_mean, l->run_var, j->x, l->w, l->b, &s,
                                  j->n, j->relu);
    else
        fer_bn_forward_infer(j->y, j->x, l->w, l->b, l->run_mean, l->run_var, &s, j->n);
}

static void pool_part(void *arg, int part, int parts)
{
    job *j = arg;
    fer_layer *l = j->l;
    int i0, i1;
    share(j->n, part, parts, &i0, &i1);
    j->parts = parts;
    if (i1 <= i0)
        return;
    if (j->backward)
        fer_maxpool_backward(j->y + (size_t)i0 * l->in_size, j->g + (size_t)i0 * l->out_size,
                             j->x + (size_t)i0 * l->in_size, &l->pool, i1 - i0);
    else
        fer_maxpool_forward(j->y + (size_t)i0 * l->out_size, j->x + (size_t)i0 * l->in_size,
                            &l->pool, i1 - i0);
}

/* ReLU and the identity copies, split by elements (in 64-byte pieces). */
static void elem_part(void *arg, int part, int parts)
{
    job *j = arg;
    const size_t count = (size_t)j->n * j->l->out_size;
    const size_t lo = count * part / parts / 16 * 16;
    const size_t hi = part + 1 == parts ? count : count * (part + 1) / parts / 16 * 16;
    j->parts = parts;
    if (hi <= lo)
        return;
    if (j->l->spec.type == FER_LAYER_RELU && j->backward)
        fer_relu_backward(j->y + lo, j->g + lo, j->l->out + lo, hi - lo);
    else if (j->l->spec.type == FER_LAYER_RELU)
        fer_relu_forward(j->y + lo, j->x + lo, hi - lo);
    else
        memcpy(j->y + lo, j->backward ? j->g + lo : j->x + lo, (hi - lo) * sizeof(float));
}

/* Runs fn on the job: on two threads when fer_set_threads asked for two, the job has
 * more than one image to share, and (for convolutions) the net has the second
 * thread's scratch (training nets) and the products are ferd's own; else inline. */
static void run_job(fer_par_fn fn, job *j)
{
    // Without AVX-512 a conv's products are cblas_sgemm calls, which OpenBLAS already
    // spreads over its own threads: two of ours calling it at once would oversubscribe.
    const int own_conv = fn != conv_part || (j->net->work2 && fer_gemm_avx512(-1));
    if (!j->work && j->n > 1 && own_conv)
        fer_par_run(fn, j);
    else
        fn(j, 0, 1);
}

/* The next layer after i that is not an identity in this pass, or -1. */
static int next_live(const fer_net *net, int i, int train)
{
    for (int j = i + 1; j < net->nlayers; j++)
        if (!is_identity(net, &net->layers[j], train))
            return j;
    return -1;
}

/* Runs layers [first, last) on n images whose input is x, writing each layer's output
 * from image img on (its buffer + img * out_size); returns the last output. work: NULL
 * to let each layer use both threads, or the conv scratch to run everything inline with. */
static const float *forward_layers(fer_net *net, const float *x, int n, int train, int first,
                                   int last, size_t img, float *work)
{
    int skip = -1; /* a ReLU already applied by the layer before it */
    for (int i = first; i < last; i++) {
        fer_layer *l = &net->layers[i];
        float *out = l->out + img * l->out_size;
        const double t0 = net->prof ? fer_mono_s() : 0.0;
        job j = {.net = net, .l = l, .x = x, .y = out, .n = n, .train = train, .work = work};
        if (i == skip) {
            // Fused into the layer before: its output is this layer's output.
            if (train)
                x = out;
        } else if (is_identity(net, l, train)) {
            // Training keeps every layer's output in its own buffer for backward.
            if (train) {
                run_job(elem_part, &j);
                x = out;
            }
        } else {
            // A ReLU right after (identities between) runs in this layer's epilogue:
            // conv at inference, bn in training (where conv's output must stay raw).
            const int nx = next_live(net, i, train);
            const int fuse = nx > 0 && nx < last && net->layers[nx].spec.type == FER_LAYER_RELU &&
                             ((l->spec.type == FER_LAYER_CONV && !train) ||
                              (l->spec.type == FER_LAYER_BN && train));
            if (fuse) {
                if (train) // backward's cue (inference may run on two threads: no writes)
                    l->fused_relu = 1;
                skip = nx;
                j.relu = 1;
                if (train) // the ReLU's buffer holds the fused result
                    j.y = net->layers[nx].out + img * net->layers[nx].out_size;
            }
            switch (l->spec.type) {
            case FER_LAYER_CONV:
                j.bias = conv_bias(net, i);
                run_job(conv_part, &j);
                break;
            case FER_LAYER_BN:
                run_job(bn_part, &j);
                break;
            case FER_LAYER_RELU:
                run_job(elem_part, &j);
                break;
            case FER_LAYER_MAXPOOL:
                run_job(pool_part, &j);
                break;
            case FER_LAYER_GAP:
                fer_gap_forward(out, x, l->ic, l->ih * l->iw, n);
                break;
            case FER_LAYER_FC:
                if (l->w16 && n == 1 && !train)
                    fer_fc_forward_f16(out, x, l->w16, l->b, (int)l->in_size, l->oc, n);
                else
                    fer_fc_forward(out, x, l->w, l->b, (int)l->in_size, l->oc, n);
                break;
            case FER_LAYER_DROPOUT:
                fer_dropout_forward(out, l->save, x, l->spec.p, (size_t)n * l->out_size,
                                    &net->rng);
                break;
            }
            x = j.y;
        }
        if (net->prof)
            net->prof[i] += fer_mono_s() - t0;
    }
    return x;
}

/* Batch inference up to layer f, image by image, on share part of parts of the images. */
typedef struct infer_job {
    fer_net *net;
    const float *x;      /* the batch's input */
    int n, f;
    const float *base;   /* out: image 0's output of layer f-1 (all images follow it) */
} infer_job;

static void infer_part(void *arg, int part, int parts)
{
    infer_job *ij = arg;
    fer_net *net = ij->net;
    int i0, i1;
    share(ij->n, part, parts, &i0, &i1);
    float *work = part ? net->work2 : net->work;
    for (int img = i0; img < i1; img++) {
        const float *y = forward_layers(net, ij->x + (size_t)img * net->layers[0].in_size, 1, 0,
                                        0, ij->f, (size_t)img, work);
        if (img == 0)
            ij->base = y;
    }
}

/*
 * Training runs layer by layer over the whole batch (backward needs every output).
 * Inference of a batch runs the layers before the first [fc] image by image, so
 * each image's activations stay in cache from one layer to the next (at batch 32 a
 * 32x48x48 map is 9 MB per layer, which would stream through memory at every
 * layer), the two threads taking half the images each where the net has scratch
 * for both (training nets: the trainer's validation); the [fc] layers then run on
 * the whole batch, where one sgemm reads the weights once instead of once per image.
 */
const float *fer_net_forward(fer_net *net, const float *in, int n, int train)
{
    if (!net || !in || n < 1 || n > net->max_batch)
        return NULL;
    if (!(net->flags & FER_NET_TRAIN))
        train = 0;
    const float *x = in;
    if (train) {
        memcpy(net->acts, in, (size_t)n * net->layers[0].in_size * sizeof(float));
        x = net->acts;
    }
    for (int i = 0; i < net->nlayers; i++)
        net->layers[i].fused_relu = 0;
    if (train || n == 1)
        return forward_layers(net, x, n, train, 0, net->nlayers, 0, NULL);

    infer_job ij = {net, x, n, 0, NULL};
    while (ij.f < net->nlayers && net->layers[ij.f].spec.type != FER_LAYER_FC)
        ij.f++; // the first [fc]: the batched part starts here
    ij.base = x;
    if (ij.f > 0) {
        // Two threads take half the images each when there is scratch for both (and the
        // products are ferd's own: see run_job).
        if (net->work2 && !net->prof && fer_gemm_avx512(-1))
            fer_par_run(infer_part, &ij);
        else
            infer_part(&ij, 0, 1);
    }
    return forward_layers(net, ij.base, n, 0, ij.f, net->nlayers, 0, NULL);
}

void fer_net_backward(fer_net *net, const float *dlogits, float *din, int n)
{
    if (!net || !dlogits || !(net->flags & FER_NET_TRAIN) || n < 1 || n > net->max_batch)
        return;
    const float *g = dlogits; // gradient w.r.t. the current layer's output
    const float *relu_g = NULL, *relu_out = NULL; // a ReLU fused into the bn before it
    for (int i = net->nlayers - 1; i >= 0; i--) {
        fer_layer *l = &net->layers[i];
        const float *x = i ? net->layers[i - 1].out : net->acts; // this layer's input
        float *dx = i ? net->layers[i - 1].dout : din;           // NULL: not wanted
        const double t0 = net->prof ? fer_mono_s() : 0.0;
        job j = {.net = net, .l = l, .x = x, .y = dx, .g = g, .n = n, .train = 1,
                 .backward = 1};

        if (l->spec.type == FER_LAYER_RELU && i > 0 && net->layers[i - 1].fused_relu) {
            // The bn before applies this ReLU's mask to g itself.
            relu_g = g;
            relu_out = l->out;
        } else if (is_identity(net, l, 1)) {
            if (dx)
                run_job(elem_part, &j);
        } else {
            switch (l->spec.type) {
            case FER_LAYER_CONV:
                run_job(conv_part, &j);
                if (j.parts == 2) {
                    // Add the helper's half of dW and db.
                    const size_t nw = (size_t)l->oc * l->ic * l->conv.kh * l->conv.kw;
                    const float *hw = net->work2 + net->work_len + 16;
                    for (size_t k = 0; k < nw; k++)
                        l->dw[k] += hw[k];
                    if (l->spec.bias)
                        for (int k = 0; k < l->oc; k++)
                            l->db[k] += hw[nw + k];
                }
                break;
            case FER_LAYER_BN:
                if (l->fused_relu) {
                    j.g = relu_g;
                    j.mask = relu_out;
                }
                run_job(bn_part, &j);
                break;
            case FER_LAYER_RELU:
                if (dx)
                    run_job(elem_part, &j);
                break;
            case FER_LAYER_MAXPOOL:
                if (dx)
                    run_job(pool_part, &j);
                break;
            case FER_LAYER_GAP:
                if (dx)
                    fer_gap_backward(dx, g, l->ic, l->ih * l->iw, n);
                break;
            case FER_LAYER_FC:
                fer_fc_backward(dx, l->dw, l->db, g, x, l->w, (int)l->in_size, l->oc, n);
                break;
            case FER_LAYER_DROPOUT:
                if (dx)
                    fer_dropout_backward(dx, g, l->save, (size_t)n * l->out_size);
                break;
            }
        }
        if (net->prof)
            net->prof[net->nlayers + i] += fer_mono_s() - t0;
        g = dx;
    }
}

void fer_net_zero_grad(fer_net *net)
{
    if (net && net->grads)
        memset(net->grads, 0, net->params_len * sizeof(float));
}

int fer_net_use_f16(fer_net *net)
{
    if (!net || (net->flags & FER_NET_TRAIN))
        return -EINVAL;
    if (net->half)
        return 0;
    size_t total = 0;
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].spec.type == FER_LAYER_FC)
            total += (size_t)net->layers[i].oc * net->layers[i].in_size;
    net->half = malloc((total ? total : 1) * sizeof *net->half);
    if (!net->half)
        return -ENOMEM;
    size_t at = 0;
    for (int i = 0; i < net->nlayers; i++) {
        fer_layer *l = &net->layers[i];
        if (l->spec.type != FER_LAYER_FC)
            continue;
        const size_t count = (size_t)l->oc * l->in_size;
        fer_f32_to_f16(net->half + at, l->w, count);
        l->w16 = net->half + at;
        at += count;
    }
    return 0;
}

void fer_net_fold_bn(fer_net *net)
{
    if (!net)
        return;
    for (int i = 1; i < net->nlayers; i++) {
        fer_layer *bn = &net->layers[i], *conv = &net->layers[i - 1];
        if (bn->spec.type != FER_LAYER_BN || conv->spec.type != FER_LAYER_CONV || bn->folded)
            continue;
        fer_bn_fold(conv->w, conv->b, bn->w, bn->b, bn->run_mean, bn->run_var, bn->spec.eps,
                    conv->conv.k, conv->ic * conv->conv.kh * conv->conv.kw);
        bn->folded = 1;
    }
    // The Winograd weights come from the folded ones, so they are made here, and
    // made again on every call (a caller that changed the weights calls this again).
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].wino)
            fer_wino_weights(net->layers[i].wino, net->layers[i].w, &net->layers[i].conv);
    net->wino_ready = net->wino != NULL;
}

void fer_set_threads(int n)
{
    openblas_set_num_threads(n < 1 ? 1 : n);
    fer_par_set_threads(n);
}

