/*
 * metrics.c — precision = tp / predicted, recall = tp / true, F1 their harmonic
 * mean; a zero denominator gives 0 (scikit-learn's zero_division=0).
 */
#include "train/metrics.h"

#include <string.h>

void fer_confusion_init(fer_confusion *c, int nclasses)
{
    memset(c, 0, sizeof *c);
    c->nclasses = nclasses;
}

void fer_confusion_add(fer_confusion *c, int truth, int pred)
{
    if (truth >= 0 && truth < c->nclasses && pred >= 0 && pred < c->nclasses)
        c->m[truth][pred]++;
}

void fer_metrics_compute(fer_metrics *m, const fer_confusion *c)
{
    const int k = c->nclasses;
    memset(m, 0, sizeof *m);
    m->nclasses = k;
    int npresent = 0;
    double f1sum = 0.0;
    for (int i = 0; i < k; i++) {
        long long tp = c->m[i][i], truth = 0, pred = 0;
        for (int j = 0; j < k; j++) {
            truth += c->m[i][j];
            pred += c->m[j][i];
            m->total += c->m[i][j];
        }
        m->correct += tp;
        m->support[i] = truth;
        m->present[i] = truth > 0;
        m->precision[i] = pred ? (double)tp / (double)pred : 0.0;
        m->recall[i] = truth ? (double)tp / (double)truth : 0.0;
        double pr = m->precision[i] + m->recall[i];
        m->f1[i] = pr > 0.0 ? 2.0 * m->precision[i] * m->recall[i] / pr : 0.0;
        if (m->present[i]) {
            npresent++;
            f1sum += m->f1[i];
        }
    }
    m->accuracy = m->total ? (double)m->correct / (double)m->total : 0.0;
    m->macro_f1 = npresent ? f1sum / npresent : 0.0;
}
