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
 */
#include "nn/layers.h"

#include <math.h>

void fer_softmax(float *probs, const float *logits, int c, int n)
{
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * c;
        float *p = probs + (size_t)i * c;
        // Subtracting the max makes every exponent <= 0: no overflow, and at
        // least one term is 1, so the sum cannot underflow to 0.
        float m = z[0];
        for (int j = 1; j < c; j++)
            m = z[j] > m ? z[j] : m;
        float sum = 0.0f;
        for (int j = 0; j < c; j++) {
            p[j] = expf(z[j] - m);
            sum += p[j];
        }
        const float inv = 1.0f / sum;
        for (int j = 0; j < c; j++)
            p[j] *= inv;
    }
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
