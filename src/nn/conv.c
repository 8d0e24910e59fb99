/*
 * conv.c — 2-D convolution, forward and backward, as matrix products.
 *
 * Per image, the layer is one product out (K, OH*OW) = W (K, C*KH*KW) . col,
 * where col (C*KH*KW, OH*OW) is the im2col unrolling of the input. Backward:
 *   dW  (K, CKK)   += dout (K, P) . col^T        (accumulating)
 *   db  (K)        += row sums of dout
 *   din             = the transpose of the forward applied to dout.
 *
 * Which path runs:
 *  - stride 1 on an AVX-512 processor (every conv of the shipped nets):
 *    conv_direct.c, which reads the im2col rows as shifted views of a padded
 *    copy of the image and packs nothing;
 *  - other strides with AVX-512: fer_gemm (gemm.c); the forward never
 *    materialises col: fer_gemm_cb asks fer_im2col_pack for one cache-sized
 *    block at a time, already in the kernel's panel layout, and dW packs col^T
 *    the same way (fer_im2col_pack_t);
 *  - without AVX-512: im2col + cblas_sgemm, dcol = W^T . dout, then col2im.
 * In every path the bias (and a following ReLU, fer_conv2d_forward_relu) is
 * applied to the tile in registers or in one pass. With AVX-512, for stride 1 and a square
 * kernel, din is itself a convolution: dout padded by KH-1-pad and correlated
 * with the weights flipped in space and transposed in (K, C), so it runs as a
 * forward pass into din with no dcol buffer and no col2im scatter (each input
 * pixel is summed once, in registers, instead of KH*KW read-modify-writes).
 * A 1x1 kernel with stride 1 and no padding multiplies the input itself.
 *
 * One product per image rather than one for the batch keeps the workspace at
 * one image's size; with the weights as the unpacked A operand and the pixel
 * axis as N, the per-image products are as efficient as a batched one.
 * Thread counts are the caller's business: this file is single-threaded.
 *
 * Inference nets run most 3x3 stride-1 layers by Winograd F(2x2, 3x3) instead
 * (winograd.c: 2.25x fewer multiply-adds, from weights transformed once); the
 * choice is fer_wino_pays there, and net/run.c makes it, not this file.
 */
#include "nn/layers.h"

#include <stdint.h>
#include <string.h>

/* True when col would be an exact copy of the image: no im2col needed. */
static int is_direct(const fer_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0;
}

/* True when din can run as a forward convolution of dout (see the top comment). */
static int can_flip(const fer_conv_shape *s)
{
    return s->stride == 1 && s->kh == s->kw && s->pad <= s->kh - 1;
}

/* The shape of that convolution: dout (K, OH, OW) -> din (C, H, W). */
static fer_conv_shape flipped_shape(const fer_conv_shape *s)
{
    fer_conv_shape f = {.c = s->k, .h = s->oh, .w = s->ow, .k = s->c, .kh = s->kh,
                        .kw = s->kw, .stride = 1, .pad = s->kh - 1 - s->pad};
    fer_conv_shape_init(&f); // cannot fail: its output is (H, W)
    return f;
}

int fer_conv_shape_init(fer_conv_shape *s)
{
    if (s->c <= 0 || s->h <= 0 || s->w <= 0 || s->k <= 0 || s->kh <= 0 || s->kw <= 0 ||
        s->stride <= 0 || s->pad < 0)
        return -1;
    // Checked before dividing: C's division truncates toward zero, so a
    // negative span would otherwise round up to a bogus one-pixel output.
    if (s->h + 2 * s->pad < s->kh || s->w + 2 * s->pad < s->kw)
        return -1;
    s->oh = (s->h + 2 * s->pad - s->kh) / s->stride + 1;
    s->ow = (s->w + 2 * s->pad - s->kw) / s->stride + 1;
    return 0;
}

/* The workspace, carved into 64-byte-aligned parts. */
typedef struct conv_work {
    float *col;  /* (CKK, P): the plain im2col (dW, and the paths without AVX-512) */
    float *wrot; /* (C, K*KH*KW): flipped weights for din as a convolution */
    float *gemm; /* fer_gemm's packing block */
} conv_work;

static size_t round16(size_t n)
{
    return (n + 15) / 16 * 16;
}

static size_t gemm_need(const fer_conv_shape *s)
{
    const int CKK = s->c * s->kh * s->kw, P = s->oh * s->ow, KKK = s->k * s->kh * s->kw;
    size_t need = fer_gemm_work_size(s->k, P, CKK);                  // forward
    size_t v = fer_gemm_work_size(s->k, CKK, P);                     // dW
    need = v > need ? v : need;
    v = fer_gemm_work_size(CKK, P, s->k);                            // dcol
    need = v > need ? v : need;
    v = fer_gemm_work_size(s->c, s->h * s->w, KKK);                  // din as a convolution
    return v > need ? v : need;
}

static conv_work split_work(const fer_conv_shape *s, float *work)
{
    const size_t col = is_direct(s) ? 0 : round16((size_t)s->c * s->kh * s->kw * s->oh * s->ow);
    const size_t wrot = round16((size_t)s->k * s->c * s->kh * s->kw);
    float *base = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    conv_work w = {base, base + col, base + col + wrot};
    return w;
}

size_t fer_conv_work_size(const fer_conv_shape *s)
{
    const size_t col = is_direct(s) ? 0 : round16((size_t)s->c * s->kh * s->kw * s->oh * s->ow);
    const size_t wrot = round16((size_t)s->k * s->c * s->kh * s->kw);
    const size_t gemm = 16 + col + wrot + gemm_need(s);
    // The direct path (stride 1) uses the same buffer its own way.
    const size_t direct = s->stride == 1 ? fer_conv_direct_work_size(s) : 0;
    return gemm > direct ? gemm : direct;
}

/*
 * out: (N, K, OH, OW) = conv(in: (N, C, H, W), w: (K, C, KH, KW)) + b: (K), then
 * max(0, .) if relu. work: fer_conv_work_size() floats.
 */
void fer_conv2d_forward_relu(float *out, const float *in, const float *w, const float *b,
                             const fer_conv_shape *s, int n, int relu, float *work)
{
    const int K = s->k;
    const int CKK = s->c * s->kh * s->kw;
    const int P = s->oh * s->ow;
    const size_t in_size = (size_t)s->c * s->h * s->w;
    const size_t out_size = (size_t)K * P;
    const int direct = is_direct(s), fast = fer_gemm_avx512(-1);
    const int shifted = !direct && fer_conv_direct_ok(s);
    const conv_work cw = split_work(s, work);

    for (int i = 0; i < n; i++) {
        float *o = out + i * out_size;       // (K, P)
        const float *x = in + i * in_size;   // (C, H, W)
        if (direct) {
            fer_gemm(0, 0, K, P, CKK, w, CKK, x, P, 0, o, P, b, relu, cw.gemm);
        } else if (shifted) {
            fer_conv_direct_forward(o, x, w, b, relu, s, work);
        } else if (fast) {
            fer_im2col_src src = {x, s};
            fer_gemm_cb(0, K, P, CKK, w, CKK, fer_im2col_pack, &src, 0, o, P, b, relu, cw.gemm);
        } else {
            fer_im2col(cw.col, x, s);
            fer_gemm(0, 0, K, P, CKK, w, CKK, cw.col, P, 0, o, P, b, relu, cw.gemm);
        }
    }
}

void fer_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                        const fer_conv_shape *s, int n, float *work)
{
    fer_conv2d_forward_relu(out, in, w, b, s, n, 0, work);
}

/*
 * Accumulates dw (and db unless NULL) over the batch and overwrites din unless
 * it is NULL (the first layer needs no input gradient, and skipping it saves
 * the larger half of the work).
 */
void fer_conv2d_backward(float *din, float *dw, float *db, const float *dout,
                         const float *in, const float *w, const fer_conv_shape *s, int n,
                         float *work)
{
    const int K = s->k, C = s->c, KK = s->kh * s->kw;
    const int CKK = C * KK;
    const int P = s->oh * s->ow, HW = s->h * s->w;
    const size_t in_size = (size_t)C * HW;
    const size_t out_size = (size_t)K * P;
    const int direct = is_direct(s), fast = fer_gemm_avx512(-1);
    const int shifted = !direct && fer_conv_direct_ok(s);
    const int flip = din && !direct && can_flip(s) && fast;
    const conv_work cw = split_work(s, work);
    const fer_conv_shape fs = flip ? flipped_shape(s) : *s;

    if (flip && shifted) {
        fer_conv_direct_flip(work, w, s);
    } else if (flip) {
        // wrot (C, K, KH, KW)[c][k][a][b] = w (K, C, KH, KW)[k][c][KH-1-a][KW-1-b]
        for (int k = 0; k < K; k++)
            for (int c = 0; c < C; c++)
                for (int j = 0; j < KK; j++)
                    cw.wrot[((size_t)c * K + k) * KK + j] =
                        w[((size_t)k * C + c) * KK + (KK - 1 - j)];
    }

    if (shifted)
        fer_conv_direct_dw(dw, dout, in, s, n, work); // all images at once (grouped)
    for (int i = 0; i < n; i++) {
        const float *g = dout + i * out_size; // (K, P)
        const float *x = in + i * in_size;    // (C, H, W)
        float *dx = din ? din + i * in_size : NULL; // (C, H, W)

        if (shifted) {
            if (dx && flip)
                fer_conv_direct_din(dx, g, s, work);
        } else {
            // dW (K, CKK) += dout (K, P) . col^T (P, CKK); with AVX-512 col^T is packed
            // straight from the image, block by block.
            const float *col = x; // (CKK, P)
            if (!direct && fast) {
                fer_im2col_src src = {x, s};
                fer_gemm_cb(0, K, CKK, P, g, P, fer_im2col_pack_t, &src, 1, dw, CKK, NULL, 0,
                            cw.gemm);
            } else {
                if (!direct) {
                    fer_im2col(cw.col, x, s);
                    col = cw.col;
                }
                fer_gemm(0, 1, K, CKK, P, g, P, col, P, 1, dw, CKK, NULL, 0, cw.gemm);
            }
        }

        if (db) {
            for (int k = 0; k < K; k++) {
                const float *gk = g + (size_t)k * P;
                float sum = 0.0f;
                for (int p = 0; p < P; p++)
                    sum += gk[p];
                db[k] += sum;
            }
        }

        if (!dx || (shifted && flip))
            continue;
        if (direct) {
            // dx (C, P) = W^T (C, K) . dout (K, P), straight into din.
            fer_gemm(1, 0, CKK, P, K, w, CKK, g, P, 0, dx, P, NULL, 0, cw.gemm);
        } else if (flip) {
            fer_im2col_src src = {g, &fs};
            fer_gemm_cb(0, C, HW, K * KK, cw.wrot, K * KK, fer_im2col_pack, &src, 0, dx, HW,
                        NULL, 0, cw.gemm);
        } else {
            // dcol (CKK, P) = W^T . dout into col, then scattered back.
            fer_gemm(1, 0, CKK, P, K, w, CKK, g, P, 0, cw.col, P, NULL, 0, cw.gemm);
            memset(dx, 0, in_size * sizeof(float));
            fer_col2im(dx, cw.col, s);
        }
    }
}
