/*
 * bn.c — batch normalisation per channel over (N, H, W), with PyTorch's semantics.
 *
 * Training normalises by the batch's mean and BIASED variance, and moves the
 * running statistics toward the batch's mean and UNBIASED variance (as
 * torch.nn.BatchNorm2d does, so a model trained here matches one trained
 * there). Inference uses the running statistics, and fer_bn_fold() bakes them
 * into the preceding convolution so the daemon pays nothing for the layer.
 *
 * Statistics are summed in double: a channel of a training batch holds 10^5
 * or more values, where float sums lose digits that the variance then
 * amplifies. Sums are taken around a shift (see channel_sums) rather than as
 * E[x^2] - E[x]^2, which cancels catastrophically when |mean| >> std.
 * Every pass has an AVX-512 version (simd.h); a ReLU that follows the layer
 * can be fused into forward and backward (the net does so in training).
 */
#include "nn/simd.h"

#include <math.h>

/* ---- per-channel sums ----------------------------------------------------------------
 * Statistics are two sums in double over a channel's M = N*HW values. The forward takes
 * them around a shift K (the channel's first value): var = E[(x-K)^2] - E[x-K]^2 is
 * exact algebra, and with K inside the data's range the double sums do not cancel
 * (the textbook E[x^2] - E[x]^2 does when |mean| >> std). One pass instead of two. */

typedef struct sums {
    double s1, s2;
} sums;

/* s1 = sum (x - k), s2 = sum (x - k)^2 over channel c. */
static sums channel_sums(const float *in, int C, int hw, int n, int c, double k)
{
    sums r = {0.0, 0.0};
    for (int i = 0; i < n; i++) {
        const float *x = in + ((size_t)i * C + c) * hw;
        for (int j = 0; j < hw; j++) {
            const double d = x[j] - k;
            r.s1 += d;
            r.s2 += d * d;
        }
    }
    return r;
}

/* s1 = sum g, s2 = sum g * (x - mean) over channel c, g masked by mask > 0 if mask. */
static sums grad_sums(const float *dout, const float *mask, const float *in, int C, int hw, int n,
                      int c, double mean)
{
    sums r = {0.0, 0.0};
    for (int i = 0; i < n; i++) {
        const size_t at = ((size_t)i * C + c) * hw;
        for (int j = 0; j < hw; j++) {
            const double g = (!mask || mask[at + j] > 0.0f) ? dout[at + j] : 0.0f;
            r.s1 += g;
            r.s2 += g * (in[at + j] - mean);
        }
    }
    return r;
}

#if FER_X86
FER_AVX512 static sums channel_sums512(const float *in, int C, int hw, int n, int c, double k)
{
    __m512d a1 = _mm512_setzero_pd(), a2 = _mm512_setzero_pd();
    const __m512d kk = _mm512_set1_pd(k);
    for (int i = 0; i < n; i++) {
        const float *x = in + ((size_t)i * C + c) * hw;
        for (int j = 0; j < hw; j += 8) {
            const __mmask8 m = (__mmask8)(hw - j >= 8 ? 0xFF : (1u << (hw - j)) - 1);
            const __m512d d = _mm512_maskz_sub_pd(
                m, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + j)), kk);
            a1 = _mm512_add_pd(a1, d);
            a2 = _mm512_fmadd_pd(d, d, a2);
        }
    }
    sums r = {_mm512_reduce_add_pd(a1), _mm512_reduce_add_pd(a2)};
    return r;
}

FER_AVX512 static sums grad_sums512(const float *dout, const float *mask, const float *in, int C,
                                    int hw, int n, int c, double mean)
{
    __m512d a1 = _mm512_setzero_pd(), a2 = _mm512_setzero_pd();
    const __m512d mu = _mm512_set1_pd(mean);
    for (int i = 0; i < n; i++) {
        const size_t at = ((size_t)i * C + c) * hw;
        for (int j = 0; j < hw; j += 8) {
            __mmask8 m = (__mmask8)(hw - j >= 8 ? 0xFF : (1u << (hw - j)) - 1);
            const __mmask8 all = m;
            if (mask)
                m &= _mm256_cmp_ps_mask(_mm256_maskz_loadu_ps(m, mask + at + j),
                                        _mm256_setzero_ps(), _CMP_GT_OQ);
            const __m512d g = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, dout + at + j));
            const __m512d d = _mm512_maskz_sub_pd(
                all, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(all, in + at + j)), mu);
            a1 = _mm512_add_pd(a1, g);
            a2 = _mm512_fmadd_pd(g, d, a2);
        }
    }
    sums r = {_mm512_reduce_add_pd(a1), _mm512_reduce_add_pd(a2)};
    return r;
}

/* y = x * a + b over one channel of every image, then ReLU if relu. */
FER_AVX512 static void affine512(float *out, const float *in, int C, int hw, int n, int c,
                                 float a, float b, int relu)
{
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), z = _mm512_setzero_ps();
    for (int i = 0; i < n; i++) {
        const float *x = in + ((size_t)i * C + c) * hw;
        float *y = out + ((size_t)i * C + c) * hw;
        for (int j = 0; j < hw; j += 16) {
            const __mmask16 m = FER_MASK16(hw - j);
            __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + j), va, vb);
            if (relu)
                v = _mm512_max_ps(v, z);
            _mm512_mask_storeu_ps(y + j, m, v);
        }
    }
}

/* dx = g' * a + x * b + c, g' = g masked by mask > 0 if mask. */
FER_AVX512 static void dx512(float *din, const float *dout, const float *mask, const float *in,
                             int C, int hw, int n, int c, float a, float b, float k)
{
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), vk = _mm512_set1_ps(k);
    for (int i = 0; i < n; i++) {
        const size_t at = ((size_t)i * C + c) * hw;
        for (int j = 0; j < hw; j += 16) {
            const __mmask16 all = FER_MASK16(hw - j);
            __mmask16 m = all;
            if (mask)
                m &= _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(all, mask + at + j),
                                        _mm512_setzero_ps(), _CMP_GT_OQ);
            const __m512 g = _mm512_maskz_loadu_ps(m, dout + at + j);
            const __m512 x = _mm512_maskz_loadu_ps(all, in + at + j);
            _mm512_mask_storeu_ps(din + at + j, all,
                                  _mm512_fmadd_ps(g, va, _mm512_fmadd_ps(x, vb, vk)));
        }
    }
}
#endif

static void affine(float *out, const float *in, int C, int hw, int n, int c, float a, float b,
                   int relu)
{
#if FER_X86
    if (fer_simd()) {
        affine512(out, in, C, hw, n, c, a, b, relu);
        return;
    }
#endif
    for (int i = 0; i < n; i++) {
        const float *x = in + ((size_t)i * C + c) * hw;
        float *y = out + ((size_t)i * C + c) * hw;
        for (int j = 0; j < hw; j++) {
            const float v = x[j] * a + b;
            y[j] = relu && !(v > 0.0f) ? 0.0f : v;
        }
    }
}

/*
 * out, in: (N, C, HW); save: (2*C) receives mean then invstd = 1/sqrt(var + eps)
 * for fer_bn_backward. run_mean and run_var (C) are updated in place; either
 * may be NULL to leave running statistics alone (finite-difference tests call
 * this forward many times). With a single value per channel the unbiased
 * variance is undefined (PyTorch refuses); the biased one (0) is used instead.
 * relu = 1 writes max(0, y) instead of y (the net fuses a following ReLU).
 */
void fer_bn_forward_train_relu(float *out, float *save, float *run_mean, float *run_var,
                               const float *in, const float *gamma, const float *beta,
                               const fer_bn_shape *s, int n, int relu)
{
    const int C = s->c, hw = s->hw;
    const size_t count = (size_t)n * hw;
    const int fast = fer_simd();

    for (int c = s->c0; c < (s->c1 ? s->c1 : C); c++) {
        const double k = in[(size_t)c * hw]; // image 0's first value: the shift
#if FER_X86
        const sums r = fast ? channel_sums512(in, C, hw, n, c, k) : channel_sums(in, C, hw, n, c, k);
#else
        (void)fast;
        const sums r = channel_sums(in, C, hw, n, c, k);
#endif
        const double d = r.s1 / (double)count;
        const double mean = k + d;
        double ss = r.s2 - r.s1 * d; // sum (x - mean)^2
        if (ss < 0.0)
            ss = 0.0;
        const double var = ss / (double)count;
        const float invstd = (float)(1.0 / sqrt(var + s->eps));
        const float m = (float)mean;

        // y = gamma * (x - mean) * invstd + beta as one multiply-add per element.
        const float scale = gamma[c] * invstd;
        const float shift = beta[c] - m * scale;
        affine(out, in, C, hw, n, c, scale, shift, relu);

        save[c] = m;
        save[C + c] = invstd;
        const double unbiased = count > 1 ? ss / (double)(count - 1) : var;
        if (run_mean)
            run_mean[c] = (1.0f - s->momentum) * run_mean[c] + s->momentum * m;
        if (run_var)
            run_var[c] = (1.0f - s->momentum) * run_var[c] + s->momentum * (float)unbiased;
    }
}

void fer_bn_forward_train(float *out, float *save, float *run_mean, float *run_var,
                          const float *in, const float *gamma, const float *beta,
                          const fer_bn_shape *s, int n)
{
    fer_bn_forward_train_relu(out, save, run_mean, run_var, in, gamma, beta, s, n, 0);
}

void fer_bn_forward_infer(float *out, const float *in, const float *gamma, const float *beta,
                          const float *run_mean, const float *run_var, const fer_bn_shape *s,
                          int n)
{
    const int C = s->c, hw = s->hw;
    for (int c = s->c0; c < (s->c1 ? s->c1 : C); c++) {
        const float scale = gamma[c] / sqrtf(run_var[c] + s->eps);
        const float shift = beta[c] - run_mean[c] * scale;
        affine(out, in, C, hw, n, c, scale, shift, 0);
    }
}

/*
 * With xhat = (x - mean) * invstd and M = N*HW values per channel:
 *   dbeta  += sum dout
 *   dgamma += sum dout * xhat
 *   din     = gamma * invstd / M * (M * dout - sum dout - xhat * sum(dout * xhat))
 * The last line is the full derivative through the batch mean and variance
 * (both depend on every x), which is why din needs the two sums first; it is
 * evaluated as din = a*dout + b*x + c with per-channel a, b, c.
 * relu_out, if not NULL, is the output of a ReLU fused after this layer: dout is
 * then the gradient w.r.t. that output, zeroed where relu_out <= 0.
 * din may be NULL; dgamma and dbeta accumulate.
 */
void fer_bn_backward_relu(float *din, float *dgamma, float *dbeta, const float *dout,
                          const float *relu_out, const float *in, const float *gamma,
                          const float *save, const fer_bn_shape *s, int n)
{
    const int C = s->c, hw = s->hw;
    const size_t count = (size_t)n * hw;
    const int fast = fer_simd();

    for (int c = s->c0; c < (s->c1 ? s->c1 : C); c++) {
        const float mean = save[c];
        const float invstd = save[C + c];
#if FER_X86
        const sums r = fast ? grad_sums512(dout, relu_out, in, C, hw, n, c, mean)
                            : grad_sums(dout, relu_out, in, C, hw, n, c, mean);
#else
        (void)fast;
        const sums r = grad_sums(dout, relu_out, in, C, hw, n, c, mean);
#endif
        const double sum_g = r.s1, sum_gx = r.s2 * invstd;
        dbeta[c] += (float)sum_g;
        dgamma[c] += (float)sum_gx;

        if (!din)
            continue;
        // dx = k * (g - mean_g - (x - mean) * invstd * mean_gx) = a*g + b*x + c0
        const float k = gamma[c] * invstd;
        const float mean_g = (float)(sum_g / (double)count);
        const float mean_gx = (float)(sum_gx / (double)count);
        const float a = k, b = -k * invstd * mean_gx;
        const float c0 = -k * mean_g - b * mean;
#if FER_X86
        if (fast) {
            dx512(din, dout, relu_out, in, C, hw, n, c, a, b, c0);
            continue;
        }
#endif
        for (int i = 0; i < n; i++) {
            const size_t at = ((size_t)i * C + c) * hw;
            for (int j = 0; j < hw; j++) {
                const float g = (!relu_out || relu_out[at + j] > 0.0f) ? dout[at + j] : 0.0f;
                din[at + j] = g * a + (in[at + j] * b + c0);
            }
        }
    }
}

void fer_bn_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                     const float *gamma, const float *save, const fer_bn_shape *s, int n)
{
    fer_bn_backward_relu(din, dgamma, dbeta, dout, NULL, in, gamma, save, s, n);
}

/*
 * Inference BN after a convolution is y = scale * (conv(x) + b - mean) + beta
 * with scale = gamma / sqrt(var + eps), i.e. a convolution with weights
 * scale*W and bias scale*(b - mean) + beta. w: (K, per_filter), b: (K).
 */
void fer_bn_fold(float *w, float *b, const float *gamma, const float *beta, const float *run_mean,
                 const float *run_var, float eps, int k, int per_filter)
{
    for (int f = 0; f < k; f++) {
        const float scale = gamma[f] / sqrtf(run_var[f] + eps);
        float *wf = w + (size_t)f * per_filter;
        for (int j = 0; j < per_filter; j++)
            wf[j] *= scale;
        b[f] = (b[f] - run_mean[f]) * scale + beta[f];
    }
}
