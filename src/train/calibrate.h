/*
 * calibrate.h — how far a model's probabilities mean what they say, and the
 * temperature that makes them mean it better.
 *
 * Reliability: predictions are put in 15 equal-width bins by the confidence of
 * their top class, bin b holding confidences in (b/15, (b+1)/15]. The expected
 * calibration error is ECE = sum_b n_b/N * |accuracy_b - mean confidence_b|
 * (Guo et al., 2017). The negative log-likelihood is the mean of -log p(true class).
 *
 * Temperature scaling: probabilities softmax(z / T) with one T > 0 for the whole
 * model, fitted by minimising the NLL of a held-out split (PublicTest). The NLL
 * is convex in 1/T, so it has one minimum; a golden-section search over log T in
 * [log 0.05, log 20] finds it to 1e-9 in log T. T < 1 sharpens, T > 1 softens; the
 * top class, hence accuracy, never changes.
 */
#ifndef FER_CALIBRATE_H
#define FER_CALIBRATE_H

#include "data/dataset.h"
#include "net/model.h"
#include "util/error.h"

#define FER_RELIABILITY_BINS 15

typedef struct fer_reliability {
    long long count[FER_RELIABILITY_BINS];
    double conf_sum[FER_RELIABILITY_BINS];  /* sum of top-class confidences */
    long long correct[FER_RELIABILITY_BINS];
} fer_reliability;

void fer_reliability_init(fer_reliability *r);
/* Adds one prediction: probs (c) and the outputs that count as correct (bit k =
 * output k: one bit for a hard label, several for a tied crowd vote). */
void fer_reliability_add(fer_reliability *r, const float *probs, int c, unsigned correct);
/* The expected calibration error of what was added (0 if nothing was). */
double fer_reliability_ece(const fer_reliability *r);

/* Mean NLL and ECE of logits (n, c) at temperature t, against correct (n) output bit
 * masks. A sample's NLL is the mean of -log p over its correct outputs (for a tie, the
 * cross-entropy against equal shares of the tied classes, as fer_evaluate counts it). */
void fer_calibration_score(const float *logits, const unsigned *correct, int n, int c,
                           double t, double *nll, double *ece);

/* The temperature minimising that mean NLL, in [0.05, 20]. -EINVAL for n < 1, c outside
 * 2..32, or a mask that is empty or names no output below c. */
int fer_fit_temperature(const float *logits, const unsigned *correct, int n, int c, double *t,
                        fer_error *err);

/*
 * Fits m's temperature on `split` of ds and records it in m->calib with the NLL and
 * ECE before (T = 1, whatever m had) and after. The model is changed in memory only.
 */
int fer_calibrate_model(fer_model *m, const fer_dataset *ds, int split, const char *split_name,
                        fer_error *err);

#endif
