/*
 * layers.h — the CNN engine's kernels: one forward and one backward per layer.
 *
 * All tensors are float32, NCHW, contiguous. Every function works on raw
 * pointers plus sizes, outputs first, inputs const (llm.c's style). Backward
 * functions ACCUMULATE into parameter gradients (dw, db: +=) so a caller can
 * sum over micro-batches, but OVERWRITE the input gradient (din: =).
 * Kernels do not allocate: scratch space comes from the caller, sized by the
 * *_work_size() helpers. Shape comments give per-tensor layouts; N = batch.
 */
#ifndef FER_LAYERS_H
#define FER_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* ---- matrix product (gemm.c) ------------------------------------------------
 * c (M, N) = op(a) (M, K) . op(b) (K, N), row-major, where op(a) = a (lda >= K) or,
 * with ta, a^T for a stored (K, M) (lda >= M); likewise b with tb. accumulate: add
 * to c instead of overwriting it. Then, if bias (M) is given, c[i][:] += bias[i];
 * then ReLU if relu. An AVX-512 kernel when the processor has it, else cblas_sgemm
 * and separate passes; work: fer_gemm_work_size(M, N, K) floats. */
#define FER_GEMM_MR 8
#define FER_GEMM_NR 48
size_t fer_gemm_work_size(int m, int n, int k);
void fer_gemm(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b,
              int ldb, int accumulate, float *c, int ldc, const float *bias, int relu,
              float *work);
/* The same with B supplied block by block: pack(ctx, dst, k0, kc, n0, nc) must write
 * rows k0..k0+kc and columns n0..n0+nc of B into dst (64-byte aligned) as panels of
 * NR = FER_GEMM_NR columns: element (k0+kk, n0+j) at dst[((j / NR) * kc + kk) * NR + j % NR],
 * columns past nc zero. conv packs its im2col this way, straight from the image, so
 * the unrolled matrix never exists whole. work: fer_gemm_work_size() floats. */
typedef void (*fer_gemm_pack_fn)(void *ctx, float *dst, int k0, int kc, int n0, int nc);
void fer_gemm_cb(int ta, int m, int n, int k, const float *a, int lda, fer_gemm_pack_fn pack,
                 void *ctx, int accumulate, float *c, int ldc, const float *bias, int relu,
                 float *work);
/* c (M, N) = op(a) (M, K) . B (op as in fer_gemm) with B already in the panel layout above,
 * all K rows at once:
 * element (k, j) at bp[((j / NR) * K + k) * NR + j % NR], bp 64-byte aligned (columns of
 * the last panel past N are read but never stored, so they need not be zero). For a B
 * its producer can write in that layout directly (winograd.c's transformed input),
 * which saves the copy fer_gemm's packing makes. No bias, no accumulation. */
void fer_gemm_packed(int ta, int m, int n, int k, const float *a, int lda, const float *bp,
                     float *c, int ldc);
/* Reports whether the AVX-512 kernel is in use; enable 0/1 switches it off/on (on only
 * where the processor has it), -1 only asks. Tests run both paths with it. */
int fer_gemm_avx512(int enable);

/* ---- conv2d ---------------------------------------------------------------
 * Convolution as matrix products through fer_gemm (conv.c says how); a 1x1 kernel
 * with stride 1 and no padding multiplies the input directly (no im2col). */
typedef struct fer_conv_shape {
    int c, h, w;        /* input channels, height, width */
    int k;              /* output channels (filters) */
    int kh, kw;         /* kernel size */
    int stride, pad;    /* same in both directions */
    int oh, ow;         /* output size: (h + 2*pad - kh)/stride + 1, likewise ow */
} fer_conv_shape;

/* Fills oh/ow from the other fields; returns 0, or -1 if the output would be empty. */
int fer_conv_shape_init(fer_conv_shape *s);

/* Floats of scratch forward and backward need for any batch size (one image's im2col,
 * the flipped weights and fer_gemm's packing block). */
size_t fer_conv_work_size(const fer_conv_shape *s);

/* out: (N, K, OH, OW); in: (N, C, H, W); w: (K, C, KH, KW); b: (K) or NULL;
 * work: fer_conv_work_size() floats. */
void fer_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                        const fer_conv_shape *s, int n, float *work);
/* The same followed by ReLU when relu is 1, fused into the product's epilogue. */
void fer_conv2d_forward_relu(float *out, const float *in, const float *w, const float *b,
                             const fer_conv_shape *s, int n, int relu, float *work);

/* din: (N, C, H, W) or NULL when the input gradient is not needed (first layer);
 * dw: (K, C, KH, KW) +=; db: (K) += or NULL; dout: (N, K, OH, OW).
 * work: fer_conv_work_size() floats. */
void fer_conv2d_backward(float *din, float *dw, float *db, const float *dout,
                         const float *in, const float *w, const fer_conv_shape *s, int n,
                         float *work);

/* col: (C*KH*KW, OH*OW) from one image im: (C, H, W); zero outside the image. */
void fer_im2col(float *col, const float *im, const fer_conv_shape *s);
/* im: (C, H, W) += col scattered back (the adjoint of fer_im2col); caller zeroes im. */
void fer_col2im(float *im, const float *col, const fer_conv_shape *s);

/* A fer_gemm_pack_fn for fer_gemm_cb: packs rows k0.. and pixels p0.. of the im2col
 * matrix (C*KH*KW, OH*OW) of one image, ctx pointing to a fer_im2col_src. */
typedef struct fer_im2col_src {
    const float *im;            /* (C, H, W) */
    const fer_conv_shape *s;
} fer_im2col_src;
void fer_im2col_pack(void *ctx, float *dst, int k0, int kc, int p0, int np);
/* The same for the transpose (OH*OW, C*KH*KW), which conv's dW = dout . col^T needs:
 * rows k0.. are pixels, columns n0.. rows of col. */
void fer_im2col_pack_t(void *ctx, float *dst, int k0, int kc, int n0, int nc);

/* Stride-1 convolution straight from a zero-padded copy of the image (conv_direct.c;
 * AVX-512 only: fer_conv_direct_ok says whether it may run). One image per call; work:
 * fer_conv_direct_work_size() floats (included in fer_conv_work_size()). */
int fer_conv_direct_ok(const fer_conv_shape *s);
size_t fer_conv_direct_work_size(const fer_conv_shape *s);
void fer_conv_direct_forward(float *out, const float *in, const float *w, const float *b,
                             int relu, const fer_conv_shape *s, float *work);
/* Flipped weights into work, once per batch, before fer_conv_direct_din (pad < KH, KW). */
void fer_conv_direct_flip(float *work, const float *w, const fer_conv_shape *s);
void fer_conv_direct_din(float *din, const float *dout, const fer_conv_shape *s, float *work);
/* dw (K, C*KH*KW) += the weight gradient of n images. */
void fer_conv_direct_dw(float *dw, const float *dout, const float *in, const fer_conv_shape *s,
                        int n, float *work);

/* Winograd F(2x2, 3x3) for 3x3 kernels, stride 1, pad 0 or 1 (winograd.c): forward
 * only, from weights transformed once by fer_wino_weights. fer_wino_ok says whether it
 * can run, fer_wino_pays whether it is faster than the path above (the one selection
 * rule, with the measurements behind it). u: fer_wino_weight_size() floats, 64-byte
 * aligned, (16, K, C) or, for maps of few tiles, transposed panels (winograd.c says why);
 * work: fer_wino_work_size() floats (0 when it cannot run). */
int fer_wino_ok(const fer_conv_shape *s);
int fer_wino_pays(const fer_conv_shape *s);
size_t fer_wino_weight_size(const fer_conv_shape *s);
void fer_wino_weights(float *u, const float *w, const fer_conv_shape *s);
size_t fer_wino_work_size(const fer_conv_shape *s);
/* out: (N, K, OH, OW); in: (N, C, H, W); b: (K) or NULL; ReLU after when relu is 1. */
void fer_wino_forward(float *out, const float *in, const float *u, const float *b, int relu,
                      const fer_conv_shape *s, int n, float *work);

/* The test oracles: direct six-loop convolution and a triple-loop matmul. */
void fer_conv2d_naive(float *out, const float *in, const float *w, const float *b,
                      const fer_conv_shape *s, int n);
/* c (M, N) = a (M, K) . b (K, N), row-major. */
void fer_matmul_naive(float *c, const float *a, const float *b, int m, int n, int k);

/* ---- batch norm (per channel over N, H, W) ---------------------------------
 * Training: normalise by batch statistics (biased variance), save mean and
 * 1/sqrt(var+eps) for backward, and update running statistics as PyTorch does:
 * running = (1-momentum)*running + momentum*batch, with the UNBIASED batch variance.
 * Inference: normalise by the running statistics. */
typedef struct fer_bn_shape {
    int c, hw;          /* channels, spatial size (H*W; 1 after a flatten) */
    float eps, momentum;
    int c0, c1;         /* process only channels [c0, c1) (c1 = 0: all), so two threads
                           can share a layer; tensors keep their full (N, C, HW) layout */
} fer_bn_shape;

/* out, in: (N, C, HW); gamma, beta, run_mean, run_var: (C); save: (2*C) = mean, invstd. */
void fer_bn_forward_train(float *out, float *save, float *run_mean, float *run_var,
                          const float *in, const float *gamma, const float *beta,
                          const fer_bn_shape *s, int n);
void fer_bn_forward_infer(float *out, const float *in, const float *gamma, const float *beta,
                          const float *run_mean, const float *run_var, const fer_bn_shape *s,
                          int n);
/* The training forward followed by ReLU when relu is 1 (out = max(0, bn(in))). */
void fer_bn_forward_train_relu(float *out, float *save, float *run_mean, float *run_var,
                               const float *in, const float *gamma, const float *beta,
                               const fer_bn_shape *s, int n, int relu);
/* din: (N, C, HW) (may be NULL); dgamma, dbeta: (C) +=; uses save from the training forward. */
void fer_bn_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                     const float *gamma, const float *save, const fer_bn_shape *s, int n);
/* The backward of fer_bn_forward_train_relu: dout is the gradient w.r.t. the ReLU's
 * output relu_out (N, C, HW) and counts only where relu_out > 0 (NULL: no ReLU). */
void fer_bn_backward_relu(float *din, float *dgamma, float *dbeta, const float *dout,
                          const float *relu_out, const float *in, const float *gamma,
                          const float *save, const fer_bn_shape *s, int n);

/* Folds inference batch norm into the convolution before it:
 * w: (K, C*KH*KW) scaled per output channel, b: (K) replaced (b may have been zero). */
void fer_bn_fold(float *w, float *b, const float *gamma, const float *beta, const float *run_mean,
                 const float *run_var, float eps, int k, int per_filter);

/* ---- ReLU --------------------------------------------------------------------
 * out may equal in. backward: din = dout where out > 0, else 0 (din may equal dout). */
void fer_relu_forward(float *out, const float *in, size_t count);
void fer_relu_backward(float *din, const float *dout, const float *out, size_t count);

/* ---- max-pool ----------------------------------------------------------------
 * Window size x size, given stride, no padding; output (H-size)/stride+1.
 * Ties go to the first maximum in scan order, as in PyTorch. */
typedef struct fer_pool_shape {
    int c, h, w, size, stride, oh, ow;
} fer_pool_shape;
int fer_pool_shape_init(fer_pool_shape *s);

/* out: (N, C, OH, OW); in: (N, C, H, W). */
void fer_maxpool_forward(float *out, const float *in, const fer_pool_shape *s, int n);
/* din: (N, C, H, W) = 0 except dout routed to each window's maximum (recomputed from in). */
void fer_maxpool_backward(float *din, const float *dout, const float *in, const fer_pool_shape *s,
                          int n);

/* ---- global average pool: (N, C, HW) -> (N, C) --------------------------------- */
void fer_gap_forward(float *out, const float *in, int c, int hw, int n);
void fer_gap_backward(float *din, const float *dout, int c, int hw, int n);

/* ---- dropout (inverted) --------------------------------------------------------
 * Training: each element kept with probability 1-p and scaled by 1/(1-p); the mask
 * (0 or 1/(1-p)) is saved for backward. rng: the caller's state, advanced. */
void fer_dropout_forward(float *out, float *mask, const float *in, float p, size_t count,
                         uint64_t *rng);
void fer_dropout_backward(float *din, const float *dout, const float *mask, size_t count);

/* ---- fully connected ------------------------------------------------------------
 * out (N, O) = in (N, I) . w^T + b with w: (O, I) as in PyTorch's Linear.
 * Batch 1 runs a matrix-vector product (AVX-512 kernel, else cblas_sgemv: sgemm with M=1
 * is several times slower); larger batches sgemm. */
void fer_fc_forward(float *out, const float *in, const float *w, const float *b, int in_dim,
                    int out_dim, int n);
/* din: (N, I) or NULL; dw: (O, I) +=; db: (O) +=. */
void fer_fc_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, int in_dim, int out_dim, int n);

/* Half-precision weight storage for inference: w16 (O, I) holds IEEE binary16 weights
 * (fer_f32_to_f16, round to nearest even); sums in float32; any batch (one
 * matrix-vector product per image). */
void fer_fc_forward_f16(float *out, const float *in, const uint16_t *w16, const float *b,
                        int in_dim, int out_dim, int n);
void fer_f32_to_f16(uint16_t *dst, const float *src, size_t n);
float fer_f16_to_f32(uint16_t h);

/* ---- softmax and cross-entropy ------------------------------------------------------
 * probs (N, C) = softmax(logits / temperature), numerically stable: the one softmax
 * (a model's calibrated probabilities go through it via fer_model_probs). T > 0. */
void fer_softmax_t(float *probs, const float *logits, float temperature, int c, int n);
/* The same at T = 1 (training's losses). */
void fer_softmax(float *probs, const float *logits, int c, int n);

/* Cross-entropy with optional label smoothing eps and class weights (NULL = all 1),
 * with PyTorch's CrossEntropyLoss(weight, label_smoothing, reduction='mean') semantics:
 *   l_i = (1-eps) * w[y_i] * -log p_i[y_i] + eps/C * sum_c w[c] * -log p_i[c]
 *   loss = sum_i l_i / sum_i w[y_i]
 * Writes probs (N, C) and returns the loss; dlogits (N, C) = d loss / d logits if not NULL. */
float fer_cross_entropy(float *dlogits, float *probs, const float *logits, const int *labels,
                        const float *class_weights, float smoothing, int c, int n);

/* Cross-entropy against a target distribution per sample (soft labels: FER+ votes,
 * mixup, distillation's hard part). targets (N, C), rows >= 0 (normally summing to 1).
 * With smoothing eps a row q becomes q' = (1-eps) q + eps/C * sum(q):
 *   l_i  = sum_j w[j] q'_ij * -log p_ij
 *   loss = sum_i l_i / sum_i sum_j w[j] q_ij
 * For one-hot rows this is fer_cross_entropy term for term (same loss, same gradient);
 * for soft rows without weights the divisor is N, as in PyTorch's probability targets
 * (PyTorch divides by N even with weights; here weights keep the hard-label divisor).
 * Writes probs (N, C) and returns the loss; dlogits (N, C) = d loss / d logits if not NULL:
 *   d l_i / d z_k = p_ik sum_j w[j] q'_ij - w[k] q'_ik, over the same divisor. */
float fer_soft_cross_entropy(float *dlogits, float *probs, const float *logits,
                             const float *targets, const float *class_weights, float smoothing,
                             int c, int n);

/* The distillation term of Hinton et al.: scale * T^2 * mean_i KL(t_i || softmax(z_i / T)).
 * teacher (N, C): the teachers' probabilities, already softened at temperature T.
 * If dlogits is not NULL its gradient, scale * T * (softmax(z_i / T) - t_i) / N, is ADDED
 * to dlogits (the hard part's gradient is normally there already). Returns the term. */
float fer_distill_loss(float *dlogits, const float *logits, const float *teacher, float temp,
                       float scale, int c, int n);

/* ---- random numbers ------------------------------------------------------------
 * splitmix64: small, seedable, and reproducible across platforms. */
uint64_t fer_rng_next(uint64_t *state);
/* Uniform in [0, 1) with 24 random bits. */
float fer_rng_uniform(uint64_t *state);
/* Normal(0, 1) by Box-Muller. */
float fer_rng_normal(uint64_t *state);

/* A counter-based value in [-1, 1): the same in C and in numpy (tools/ferparity.py),
 * so large parity nets can be re-created on both sides without shipping weights.
 *   x = splitmix64_mix(seed + i * 0x9E3779B97F4A7C15);  value = (x >> 40) / 2^23 - 1 */
float fer_hash_uniform(uint64_t seed, uint64_t i);

#endif
