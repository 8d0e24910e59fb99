/*
 * net.h — a network built from an architecture: shapes, one allocation each
 * for parameters, gradients and activations (sized for a maximum batch),
 * forward and backward over the whole layer list.
 *
 * Parameter tensors are named "<layer index>.<kind>" with kind one of weight,
 * bias, running_mean, running_var — the keys of a PyTorch nn.Sequential built
 * one module per layer, which keeps conversion and parity tools simple.
 */
#ifndef FER_NET_H
#define FER_NET_H

#include <stddef.h>
#include <stdint.h>

#include "net/arch.h"
#include "nn/layers.h"

/* Size limits, in floats per image, that fer_net_plan enforces (docs/ARCH_FORMAT.md). */
#define FER_MAX_INPUT_FLOATS (1 << 24)  /* the input image, C*H*W */
#define FER_MAX_ACT_FLOATS (1 << 26)    /* all layer outputs together; also one conv's im2col */

/* Flags for fer_net_create. */
enum {
    FER_NET_TRAIN = 1 << 0, /* allocate gradients and activation gradients */
};

/* A layer of a built net: its spec, its shapes and pointers into the net's blocks. */
typedef struct fer_layer {
    fer_layer_spec spec;
    int ic, ih, iw;       /* input shape of one image (a flattened input: ic x 1 x 1) */
    int oc, oh, ow;       /* output shape of one image */
    size_t in_size;       /* ic*ih*iw */
    size_t out_size;      /* oc*oh*ow */
    long long macs;       /* multiply-accumulates per image */
    size_t nparams;       /* trainable parameters (weight + bias) */
    fer_conv_shape conv;  /* conv only */
    fer_pool_shape pool;  /* maxpool only */
    fer_bn_shape bn;      /* bn only */
    float *w, *b;         /* parameters (NULL if none); conv with bias=0 still gets b,
                             zero and untrained, so batch norm can fold into it */
    float *run_mean, *run_var; /* bn running statistics (in the parameter block) */
    float *dw, *db;       /* parameter gradients (training) */
    float *out;           /* (max_batch, out_size) */
    float *dout;          /* (max_batch, out_size), gradient w.r.t. out (training) */
    float *save;          /* bn: (2*C) mean, invstd; dropout: (max_batch, out_size) mask */
    int folded;           /* bn folded into the conv before it: skipped at run time */
    int fused_relu;       /* run time: the [relu] after this conv (inference) or bn
                             (training) runs inside it; set by each forward */
    const uint16_t *w16;  /* fc: binary16 copy of w (fer_net_use_f16), or NULL */
    float *wino;          /* conv of an inference net where fer_wino_pays: its Winograd
                             weights (16, K, C) in net->wino, else NULL; valid once
                             net->wino_ready */
} fer_layer;

typedef struct fer_net {
    fer_arch *arch;       /* owned */
    int nlayers;
    fer_layer *layers;
    int max_batch;
    unsigned flags;
    size_t nparams;       /* trainable parameter count (what `fer info` reports) */
    float *params;        /* one block: every weight, bias and bn statistic */
    size_t params_len;    /* floats in the block */
    float *grads;         /* one block parallel to params (training), else NULL */
    float *acts;          /* one block: outputs, output gradients, saves */
    size_t acts_len;
    float *work;          /* conv scratch (fer_conv_work_size), sized for the largest conv */
    size_t work_len;
    float *work2;         /* training: the second thread's conv scratch, then room for one
                             conv's dW and db (it accumulates its half of the batch there) */
    size_t work2_len;
    uint64_t rng;         /* dropout state */
    int dropout_off;      /* 1: dropout is identity even in training (parity tests) */
    uint16_t *half;       /* fer_net_use_f16: every fc layer's weights as binary16 */
    float *wino;          /* inference nets: the prepared Winograd weights of every conv
                             that uses them (one block, never saved), or NULL */
    size_t wino_len;
    int wino_ready;       /* 1 once fer_net_fold_bn has transformed the current weights */
    int wino_off;         /* 1: those convs run the im2col/direct path (fer bench compares) */
    double *prof;         /* NULL, or (2 * nlayers) seconds that forward (first half) and
                             backward (second half) ADD each layer's wall time to; set and
                             owned by the caller (`fer bench`) */
} fer_net;

/* Computes every layer's shapes, MACs and parameter count for arch into
 * layers[0 .. arch->nlayers) without allocating anything: the pointers stay NULL.
 * Enforces the shape rules of docs/ARCH_FORMAT.md (empty outputs, spatial layers
 * after a flatten, [bn] placement, last layer [fc], size limits). Returns 0 or
 * FER_E_ARCH (FER_E_LAYER for a type out of range) with err->msg "<origin>:<line>:
 * problem". fer_arch_parse runs it, so a parsed arch always plans; `fer info` and the
 * model loader use it to size a net before (or instead of) building it. */
int fer_net_plan(fer_layer *layers, const fer_arch *arch, const char *origin, fer_error *err);

/* Builds a net for arch (ownership of arch passes to the net, also on failure).
 * Parameters are initialised (Kaiming-uniform as PyTorch's defaults, bn gamma 1 beta 0,
 * running var 1) from seed. Errors: -ENOMEM, -EINVAL (max_batch outside 1..65536),
 * FER_E_ARCH (shapes do not fit), FER_E_CLASSES (arch->nclasses is not the output width;
 * only for an arch not made by fer_arch_parse). */
int fer_net_create(fer_net **out, fer_arch *arch, int max_batch, unsigned flags, uint64_t seed,
                   fer_error *err);
void fer_net_free(fer_net *net); /* accepts NULL */

/* Runs the net on in: (n, C, H, W), n <= max_batch. train = 1 uses batch statistics and
 * dropout (needs FER_NET_TRAIN; without it the call runs as inference) and copies in,
 * so the caller may reuse its buffer before fer_net_backward. Returns the logits:
 * (n, nclasses), owned by the net and valid until the next forward; NULL if n is out of
 * range. A folded bn is skipped (its conv already applies it). */
const float *fer_net_forward(fer_net *net, const float *in, int n, int train);

/* Back-propagates dlogits (n, nclasses) through the last training forward (same n);
 * accumulates into net->grads (call fer_net_zero_grad first). din, if not NULL, receives
 * the input gradient (n, C, H, W); when NULL, layer 0's input gradient is not computed.
 * Does nothing on a net built without FER_NET_TRAIN. */
void fer_net_backward(fer_net *net, const float *dlogits, float *din, int n);
void fer_net_zero_grad(fer_net *net);

/* Folds every bn that directly follows a conv into that conv (inference only), then
 * prepares the weights inference runs from: on an inference net, the Winograd
 * transform of every conv that fer_wino_pays selects (those convs then run
 * fer_wino_forward). Call it once the weights are final, and again after changing them. */
void fer_net_fold_bn(fer_net *net);

/* Keeps a binary16 copy of every fc layer's weights and runs batch-1 inference from it:
 * half the bytes of the memory-bound fc layers (the seed net's 151 MB first layer), at
 * the cost of rounding each weight to 11 significant bits (`fer bench --fp16` measures
 * the logit difference). Inference nets only (-EINVAL otherwise); the float32 weights
 * stay for larger batches and for saving. Returns 0 or -ENOMEM. */
int fer_net_use_f16(fer_net *net);

/* Sets the thread count (the daemon infers with 1; training uses 2): OpenBLAS's, and
 * the engine's own split of each layer's work over two threads in training forward and
 * backward (net/parallel.h). */
void fer_set_threads(int n);

/* A parameter tensor of the net, for files, optimisers and tools. */
typedef struct fer_tensor_ref {
    char name[32];        /* "3.weight" */
    int layer;            /* index into net->layers */
    int ndim;
    int shape[4];
    size_t count;
    float *data;          /* into net->params */
    float *grad;          /* into net->grads, or NULL (no gradient: bn statistics) */
    int decay;            /* 1 for conv/fc weights (weight decay applies), else 0 */
} fer_tensor_ref;

/* Fills up to max refs in file order and returns how many the net has. Reads only
 * the layers' specs, shapes and pointers, so it also lists the tensors of a merely
 * planned net (layers from fer_net_plan, no blocks): data and grad are then NULL. */
int fer_net_tensors(const fer_net *net, fer_tensor_ref *refs, int max);

/* Total multiply-accumulates per image. */
long long fer_net_macs(const fer_net *net);

#endif
