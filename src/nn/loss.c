/*
 * loss.c — softmax and the training loss, cross-entropy.
 *
 * The cross-entropy follows torch.nn.CrossEntropyLoss(weight=w,
 * label_smoothing=eps, reduction='mean') term for term, so losses and
 * gradients can be compared with the PyTorch reference:
 *   l_i  = (1-eps) * w[y_i] * -log p_i[y_i] + eps/C * sum_c w[c] * -log p_i[c]
 *   loss = sum_i l_i / sum_i w[y_i]
 * Note the smoothing term is also divided by sum_i w[y_i], not by N: that is
 * PyTorch's choice, and matching it matters more than its elegance.
 * Log-probabilities come from log-sum-exp, never from log(softmax), which
 * would be -inf for a confident wrong answer.
 *
 * The soft-target cross-entropy generalises the hard one so that a one-hot row
 * gives exactly the hard loss and gradient (smoothing and weights included):
 * hard labels keep their own, cheaper function, and a run that switches to soft
 * targets (FER+ votes, mixup, distillation) changes nothing else. The
 * distillation term is the KL divergence of Hinton et al. (2015), scaled by T^2
 * so that its gradient keeps the hard term's magnitude whatever the temperature.
 */
#include "nn/layers.h"

#include <math.h>

void fer_softmax_t(float *probs, const float *logits, float temperature, int c, int n)
{
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * c;
        float *p = probs + (size_t)i * c;
        // Subtracting the max makes every exponent <= 0: no overflow, and at
        // least one term is 1, so the sum cannot underflow to 0. Dividing the
        // difference (not each logit) by T keeps T = 1 bit-identical to no T.
        float m = z[0];
        for (int j = 1; j < c; j++)
            m = z[j] > m ? z[j] : m;
        float sum = 0.0f;
        for (int j = 0; j < c; j++) {
            p[j] = expf((z[j] - m) / temperature);
            sum += p[j];
        }
        const float inv = 1.0f / sum;
        for (int j = 0; j < c; j++)
            p[j] *= inv;
    }
}

void fer_softmax(float *probs, const float *logits, int c, int n)
{
    fer_softmax_t(probs, logits, 1.0f, c, n);
}

/*
 * labels: (N) in [0, C) (not checked: the data loader validates them).
 * class_weights: (C) or NULL for all 1. Returns the mean loss as defined
 * above; if every sample's class weight is 0 the result is NaN, as in PyTorch.
 * dlogits (N, C), if not NULL, is the gradient of that mean:
 *   d l_i / d z_j = (1-eps) w[y_i] (p_j - [j == y_i]) + eps/C (p_j sum_c w[c] - w[j])
 * divided by the same sum_i w[y_i].
 */
float fer_cross_entropy(float *dlogits, float *probs, const float *logits, const int *labels,
                        const float *class_weights, float smoothing, int c, int n)
{
    fer_softmax(probs, logits, c, n);

    double wsum_all = 0.0; // sum_c w[c], the same for every sample
    for (int j = 0; j < c; j++)
        wsum_all += class_weights ? class_weights[j] : 1.0f;
    const double eps = smoothing;
    const double eps_c = eps / c;

    double total = 0.0, denom = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * c;
        const int y = labels[i];
        const double wy = class_weights ? class_weights[y] : 1.0;

        double m = z[0];
        for (int j = 1; j < c; j++)
            m = z[j] > m ? z[j] : m;
        double se = 0.0;
        for (int j = 0; j < c; j++)
            se += exp(z[j] - m);
        const double lse = m + log(se); // -log p[j] = lse - z[j]

        double smooth = 0.0;
        if (eps != 0.0) {
            for (int j = 0; j < c; j++)
                smooth += (class_weights ? class_weights[j] : 1.0) * (lse - z[j]);
        }
        total += (1.0 - eps) * wy * (lse - z[y]) + eps_c * smooth;
        denom += wy;
    }
    const double inv = 1.0 / denom;

    if (dlogits) {
        for (int i = 0; i < n; i++) {
            const float *p = probs + (size_t)i * c;
            float *d = dlogits + (size_t)i * c;
            const int y = labels[i];
            const double wy = class_weights ? class_weights[y] : 1.0;
            for (int j = 0; j < c; j++) {
                const double wj = class_weights ? class_weights[j] : 1.0;
                double g = (1.0 - eps) * wy * (p[j] - (j == y)) + eps_c * (p[j] * wsum_all - wj);
                d[j] = (float)(g * inv);
            }
        }
    }
    return (float)(total * inv);
}

/* log-sum-exp of z[0..c) / t, in double. */
static double lse_scaled(const float *z, int c, double t)
{
    double m = z[0] / t;
    for (int j = 1; j < c; j++)
        m = z[j] / t > m ? z[j] / t : m;
    double se = 0.0;
    for (int j = 0; j < c; j++)
        se += exp(z[j] / t - m);
    return m + log(se);
}

/*
 * targets (N, C) >= 0, class_weights (C) or NULL. Returns the loss defined in
 * layers.h; NaN if every row's weighted mass is 0 (like the hard version).
 */
float fer_soft_cross_entropy(float *dlogits, float *probs, const float *logits,
                             const float *targets, const float *class_weights, float smoothing,
                             int c, int n)
{
    fer_softmax(probs, logits, c, n);
    const double eps = smoothing;
    double total = 0.0, denom = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * c;
        const float *q = targets + (size_t)i * c;
        double mass = 0.0;
        for (int j = 0; j < c; j++)
            mass += q[j];
        const double lse = lse_scaled(z, c, 1.0), spread = eps / c * mass;
        for (int j = 0; j < c; j++) {
            const double wj = class_weights ? class_weights[j] : 1.0;
            total += wj * ((1.0 - eps) * q[j] + spread) * (lse - z[j]);
            denom += wj * q[j];
        }
    }
    const double inv = 1.0 / denom;
    if (dlogits) {
        for (int i = 0; i < n; i++) {
            const float *p = probs + (size_t)i * c;
            const float *q = targets + (size_t)i * c;
            float *d = dlogits + (size_t)i * c;
            double mass = 0.0;
            for (int j = 0; j < c; j++)
                mass += q[j];
            const double spread = eps / c * mass;
            double wq = 0.0; // sum_j w[j] q'_ij
            for (int j = 0; j < c; j++)
                wq += (class_weights ? class_weights[j] : 1.0) * ((1.0 - eps) * q[j] + spread);
            for (int k = 0; k < c; k++) {
                const double wk = class_weights ? class_weights[k] : 1.0;
                d[k] = (float)((p[k] * wq - wk * ((1.0 - eps) * q[k] + spread)) * inv);
            }
        }
    }
    return (float)(total * inv);
}

/*
 * KL(t || s) = sum_j t_j (log t_j - log s_j) with log s_j = z_j/T - lse(z/T);
 * terms with t_j = 0 contribute 0 (the limit of t log t). d/dz_k of T^2 KL is
 * T (s_k - t_k), because d log s_j / d z_k = ([j == k] - s_k) / T and sum_j t_j = 1.
 */
float fer_distill_loss(float *dlogits, const float *logits, const float *teacher, float temp,
                       float scale, int c, int n)
{
    const double t = temp;
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * c;
        const float *q = teacher + (size_t)i * c;
        float *d = dlogits ? dlogits + (size_t)i * c : NULL;
        const double lse = lse_scaled(z, c, t);
        for (int j = 0; j < c; j++) {
            const double log_s = z[j] / t - lse;
            if (q[j] > 0.0f)
                total += q[j] * (log((double)q[j]) - log_s);
            if (d)
                d[j] += (float)(scale * t * (exp(log_s) - q[j]) / n);
        }
    }
    return (float)(scale * t * t * total / n);
}
