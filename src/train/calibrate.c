/*
 * calibrate.c — reliability bins, ECE, NLL and the temperature fit (the
 * definitions are in calibrate.h).
 *
 * The NLL at temperature T is computed from log-sum-exp in double on the raw
 * logits, never from log(softmax), so a confident wrong answer costs its true
 * (large, finite) amount at any T the search tries.
 */
#include "train/calibrate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"
#include "train/evaluate.h"

void fer_reliability_init(fer_reliability *r)
{
    memset(r, 0, sizeof *r);
}

void fer_reliability_add(fer_reliability *r, const float *probs, int c, unsigned correct)
{
    int top = 0;
    for (int j = 1; j < c; j++)
        if (probs[j] > probs[top])
            top = j;
    const double conf = probs[top];
    /* (b/15, (b+1)/15] -> b; confidences of 0 (impossible for a top class) go to bin 0. */
    int b = (int)ceil(conf * FER_RELIABILITY_BINS) - 1;
    b = b < 0 ? 0 : b >= FER_RELIABILITY_BINS ? FER_RELIABILITY_BINS - 1 : b;
    r->count[b]++;
    r->conf_sum[b] += conf;
    r->correct[b] += (correct >> top) & 1u;
}

double fer_reliability_ece(const fer_reliability *r)
{
    long long n = 0;
    for (int b = 0; b < FER_RELIABILITY_BINS; b++)
        n += r->count[b];
    if (n == 0)
        return 0.0;
    double ece = 0.0;
    for (int b = 0; b < FER_RELIABILITY_BINS; b++)
        if (r->count[b])
            ece += fabs((double)r->correct[b] - r->conf_sum[b]) / (double)n;
    return ece;
}

/* Mean NLL of logits at temperature t, in double: per sample, the mean over its correct
 * outputs of -log p = lse(z / t) - z_k / t. */
static double nll_at(const float *logits, const unsigned *correct, int n, int c, double t)
{
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * c;
        double m = z[0];
        for (int j = 1; j < c; j++)
            m = z[j] > m ? z[j] : m;
        double se = 0.0;
        for (int j = 0; j < c; j++)
            se += exp((z[j] - m) / t);
        const double lse = log(se);
        double l = 0.0;
        int k = 0;
        for (int j = 0; j < c; j++)
            if ((correct[i] >> j) & 1u) {
                l += lse - (z[j] - m) / t;
                k++;
            }
        total += l / k;
    }
    return total / n;
}

void fer_calibration_score(const float *logits, const unsigned *correct, int n, int c,
                           double t, double *nll, double *ece)
{
    fer_reliability r;
    fer_reliability_init(&r);
    float p[FER_MAX_CLASSES];
    for (int i = 0; i < n; i++) {
        fer_softmax_t(p, logits + (size_t)i * c, (float)t, c, 1);
        fer_reliability_add(&r, p, c, correct[i]);
    }
    *nll = n ? nll_at(logits, correct, n, c, t) : 0.0;
    *ece = fer_reliability_ece(&r);
}

int fer_fit_temperature(const float *logits, const unsigned *correct, int n, int c, double *t,
                        fer_error *err)
{
    if (n < 1 || c < 2 || c > FER_MAX_CLASSES)
        return fer_fail(err, -EINVAL, "calibration: %d samples of %d classes: nothing to fit",
                        n, c);
    const unsigned outputs = c == 32 ? ~0u : (1u << c) - 1u;
    for (int i = 0; i < n; i++)
        if (!correct[i] || (correct[i] & ~outputs))
            return fer_fail(err, -EINVAL, "calibration: sample %d's correct classes (mask 0x%x) "
                            "are not among the %d outputs", i, correct[i], c);
    /* Golden-section search on u = log T. The NLL is convex in 1/T = exp(-u), so it is
     * unimodal in u and the bracket shrinks onto its minimum. */
    const double g = (sqrt(5.0) - 1.0) / 2.0;
    double a = log(0.05), b = log(20.0);
    double x1 = b - g * (b - a), x2 = a + g * (b - a);
    double f1 = nll_at(logits, correct, n, c, exp(x1)), f2 = nll_at(logits, correct, n, c, exp(x2));
    while (b - a > 1e-9) {
        if (f1 <= f2) {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - g * (b - a);
            f1 = nll_at(logits, correct, n, c, exp(x1));
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + g * (b - a);
            f2 = nll_at(logits, correct, n, c, exp(x2));
        }
    }
    *t = exp((a + b) / 2.0);
    return 0;
}

int fer_calibrate_model(fer_model *m, const fer_dataset *ds, int split, const char *split_name,
                        fer_error *err)
{
    float *logits = NULL;
    unsigned *correct = NULL;
    int n = 0;
    const int c = m->net->layers[m->net->nlayers - 1].oc;
    int rc = fer_collect_logits(m, ds, split, &logits, &correct, &n, err);
    if (rc < 0)
        return rc;
    if (n == 0) {
        rc = fer_fail(err, -EINVAL, "calibration: no images of the model's classes in split %s",
                      split_name);
        goto out;
    }
    double t, nll0, ece0, nll1, ece1;
    if ((rc = fer_fit_temperature(logits, correct, n, c, &t, err)) < 0)
        goto out;
    fer_calibration_score(logits, correct, n, c, 1.0, &nll0, &ece0);
    fer_calibration_score(logits, correct, n, c, t, &nll1, &ece1);
    fer_calibration *cal = &m->calib;
    fer_calibration_init(cal);
    cal->temperature = (float)t;
    snprintf(cal->split, sizeof cal->split, "%s", split_name);
    cal->nll_before = (float)nll0;
    cal->nll_after = (float)nll1;
    cal->ece_before = (float)ece0;
    cal->ece_after = (float)ece1;
out:
    free(logits);
    free(correct);
    return rc;
}
