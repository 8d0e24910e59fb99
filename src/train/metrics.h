/*
 * metrics.h — the confusion matrix and what is derived from it: accuracy,
 * per-class precision, recall and F1, macro-F1.
 *
 * Rows are true classes, columns predictions. A class with no true samples
 * (a 6-class folder evaluated by a 7-class model) has recall and F1 undefined:
 * `present` is 0 for it and macro-F1 averages over present classes only.
 */
#ifndef FER_METRICS_H
#define FER_METRICS_H

#include "net/arch.h"

typedef struct fer_confusion {
    int nclasses;
    long long m[FER_MAX_CLASSES][FER_MAX_CLASSES]; /* [true][pred] */
} fer_confusion;

typedef struct fer_metrics {
    int nclasses;
    long long total, correct;
    double accuracy;
    double macro_f1;
    double precision[FER_MAX_CLASSES], recall[FER_MAX_CLASSES], f1[FER_MAX_CLASSES];
    long long support[FER_MAX_CLASSES];   /* true samples per class */
    int present[FER_MAX_CLASSES];         /* support > 0 */
} fer_metrics;

void fer_confusion_init(fer_confusion *c, int nclasses);
void fer_confusion_add(fer_confusion *c, int truth, int pred);
void fer_metrics_compute(fer_metrics *m, const fer_confusion *c);

#endif
