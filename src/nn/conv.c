/*
 * conv.c — 2-D convolution, forward and backward, as im2col + sgemm.
 *
 * Per image, the input is unrolled into col (C*KH*KW, OH*OW) and the layer
 * becomes one matrix product out (K, OH*OW) = W (K, C*KH*KW) . col. Backward
 * reuses the same unrolling:
 *   dW  (K, CKK)   += dout (K, P) . col^T        (one sgemm, beta = 1)
 *   db  (K)        += row sums of dout
 *   dcol (CKK, P)   = W^T . dout, then col2im scatters dcol into din.
 * A 1x1 kernel with stride 1 and no padding has col == the input itself, so
 * that path skips im2col and its workspace entirely (the bottleneck layers of
 * a small CNN are mostly such convolutions).
 *
 * One sgemm per image rather than one big batched product keeps the workspace
 * at one image's im2col — the daemon runs batch 1, and the trainer's batches
 * gain little from a larger single call since K*P is already large.
 * Thread counts are OpenBLAS's business (OPENBLAS_NUM_THREADS), not ours.
 */
#include "nn/layers.h"

#include <cblas.h>
#include <string.h>

/* True when col would be an exact copy of the image: no im2col needed. */
static int is_direct(const fer_conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->stride == 1 && s->pad == 0;
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

size_t fer_conv_work_size(const fer_conv_shape *s)
{
    if (is_direct(s))
        return 0;
    return (size_t)s->c * s->kh * s->kw * s->oh * s->ow;
}

/*
 * out: (N, K, OH, OW) = conv(in: (N, C, H, W), w: (K, C, KH, KW)) + b: (K).
 * The bias is written first and the sgemm accumulates onto it (beta = 1), which
 * saves a separate pass over the output. work must hold fer_conv_work_size()
 * floats (it may be NULL for the direct 1x1 path).
 */
void fer_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                        const fer_conv_shape *s, int n, float *work)
{
    const int K = s->k;
    const int CKK = s->c * s->kh * s->kw;
    const int P = s->oh * s->ow;
    const size_t in_size = (size_t)s->c * s->h * s->w;
    const size_t out_size = (size_t)K * P;
    const int direct = is_direct(s);

    for (int i = 0; i < n; i++) {
        float *o = out + i * out_size;       // (K, P)
        const float *x = in + i * in_size;   // (C, H, W)
        const float *col = x;                // (CKK, P)
        if (!direct) {
            fer_im2col(work, x, s);
            col = work;
        }
        float beta = 0.0f;
        if (b) {
            for (int k = 0; k < K; k++) {
                float *ok = o + (size_t)k * P;
                for (int p = 0; p < P; p++)
                    ok[p] = b[k];
            }
            beta = 1.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, P, CKK, 1.0f, w, CKK, col, P,
                    beta, o, P);
    }
}

/*
 * Accumulates dw (and db unless NULL) over the batch and overwrites din unless
 * it is NULL (the first layer needs no input gradient, and skipping it saves
 * the larger half of the work). work is used twice per image: first for the
 * im2col of the input (needed by dW), then overwritten by dcol.
 */
void fer_conv2d_backward(float *din, float *dw, float *db, const float *dout,
                         const float *in, const float *w, const fer_conv_shape *s, int n,
                         float *work)
{
    const int K = s->k;
    const int CKK = s->c * s->kh * s->kw;
    const int P = s->oh * s->ow;
    const size_t in_size = (size_t)s->c * s->h * s->w;
    const size_t out_size = (size_t)K * P;
    const int direct = is_direct(s);

    for (int i = 0; i < n; i++) {
        const float *g = dout + i * out_size; // (K, P)
        const float *x = in + i * in_size;    // (C, H, W)

        const float *col = x; // (CKK, P)
        if (!direct) {
            fer_im2col(work, x, s);
            col = work;
        }
        // dW (K, CKK) += dout (K, P) . col^T (P, CKK)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, K, CKK, P, 1.0f, g, P, col, P, 1.0f,
                    dw, CKK);

        if (db) {
            for (int k = 0; k < K; k++) {
                const float *gk = g + (size_t)k * P;
                float sum = 0.0f;
                for (int p = 0; p < P; p++)
                    sum += gk[p];
                db[k] += sum;
            }
        }

        if (!din)
            continue;
        float *dx = din + i * in_size; // (C, H, W)
        if (direct) {
            // dx (C, P) = W^T (C, K) . dout (K, P), straight into din.
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, P, K, 1.0f, w, CKK, g, P,
                        0.0f, dx, P);
        } else {
            // dcol (CKK, P) = W^T . dout overwrites col, which dW no longer needs.
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, P, K, 1.0f, w, CKK, g, P,
                        0.0f, work, P);
            memset(dx, 0, in_size * sizeof(float));
            fer_col2im(dx, work, s);
        }
    }
}
