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
 * amplifies. Mean and variance are two passes (sum, then squared deviations)
 * rather than E[x^2] - E[x]^2, which cancels catastrophically when |mean| >> std.
 */
#include "nn/layers.h"

#include <math.h>

/*
 * out, in: (N, C, HW); save: (2*C) receives mean then invstd = 1/sqrt(var + eps)
 * for fer_bn_backward. run_mean and run_var (C) are updated in place; either
 * may be NULL to leave running statistics alone (finite-difference tests call
 * this forward many times). With a single value per channel the unbiased
 * variance is undefined (PyTorch refuses); the biased one (0) is used instead.
 */
void fer_bn_forward_train(float *out, float *save, float *run_mean, float *run_var,
                          const float *in, const float *gamma, const float *beta,
                          const fer_bn_shape *s, int n)
{
    const int C = s->c, hw = s->hw;
    const size_t count = (size_t)n * hw;

    for (int c = 0; c < C; c++) {
        double sum = 0.0;
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * C + c) * hw;
            for (int j = 0; j < hw; j++)
                sum += x[j];
        }
        const double mean = sum / (double)count;
        double ss = 0.0;
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * C + c) * hw;
            for (int j = 0; j < hw; j++) {
                double d = x[j] - mean;
                ss += d * d;
            }
        }
        const double var = ss / (double)count;
        const float invstd = (float)(1.0 / sqrt(var + s->eps));
        const float m = (float)mean;

        // y = gamma * (x - mean) * invstd + beta as one multiply-add per element.
        const float scale = gamma[c] * invstd;
        const float shift = beta[c] - m * scale;
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * C + c) * hw;
            float *y = out + ((size_t)i * C + c) * hw;
            for (int j = 0; j < hw; j++)
                y[j] = x[j] * scale + shift;
        }

        save[c] = m;
        save[C + c] = invstd;
        const double unbiased = count > 1 ? ss / (double)(count - 1) : var;
        if (run_mean)
            run_mean[c] = (1.0f - s->momentum) * run_mean[c] + s->momentum * m;
        if (run_var)
            run_var[c] = (1.0f - s->momentum) * run_var[c] + s->momentum * (float)unbiased;
    }
}

void fer_bn_forward_infer(float *out, const float *in, const float *gamma, const float *beta,
                          const float *run_mean, const float *run_var, const fer_bn_shape *s,
                          int n)
{
    const int C = s->c, hw = s->hw;
    for (int c = 0; c < C; c++) {
        const float scale = gamma[c] / sqrtf(run_var[c] + s->eps);
        const float shift = beta[c] - run_mean[c] * scale;
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * C + c) * hw;
            float *y = out + ((size_t)i * C + c) * hw;
            for (int j = 0; j < hw; j++)
                y[j] = x[j] * scale + shift;
        }
    }
}

/*
 * With xhat = (x - mean) * invstd and M = N*HW values per channel:
 *   dbeta  += sum dout
 *   dgamma += sum dout * xhat
 *   din     = gamma * invstd / M * (M * dout - sum dout - xhat * sum(dout * xhat))
 * The last line is the full derivative through the batch mean and variance
 * (both depend on every x), which is why din needs the two sums first.
 * din may be NULL; dgamma and dbeta accumulate.
 */
void fer_bn_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                     const float *gamma, const float *save, const fer_bn_shape *s, int n)
{
    const int C = s->c, hw = s->hw;
    const size_t count = (size_t)n * hw;

    for (int c = 0; c < C; c++) {
        const float mean = save[c];
        const float invstd = save[C + c];

        double sum_g = 0.0, sum_gx = 0.0;
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * C + c) * hw;
            const float *g = dout + ((size_t)i * C + c) * hw;
            for (int j = 0; j < hw; j++) {
                sum_g += g[j];
                sum_gx += (double)g[j] * ((x[j] - mean) * invstd);
            }
        }
        dbeta[c] += (float)sum_g;
        dgamma[c] += (float)sum_gx;

        if (!din)
            continue;
        const float k = gamma[c] * invstd;
        const float mean_g = (float)(sum_g / (double)count);
        const float mean_gx = (float)(sum_gx / (double)count);
        for (int i = 0; i < n; i++) {
            const float *x = in + ((size_t)i * C + c) * hw;
            const float *g = dout + ((size_t)i * C + c) * hw;
            float *dx = din + ((size_t)i * C + c) * hw;
            for (int j = 0; j < hw; j++) {
                float xhat = (x[j] - mean) * invstd;
                dx[j] = k * (g[j] - mean_g - xhat * mean_gx);
            }
        }
    }
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
