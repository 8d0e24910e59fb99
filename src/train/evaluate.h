/*
 * evaluate.h — a model over one split of a dataset: the confusion matrix and
 * the mean cross-entropy, optionally with test-time augmentation.
 */
#ifndef FER_EVALUATE_H
#define FER_EVALUATE_H

#include "data/dataset.h"
#include "net/model.h"
#include "train/metrics.h"

typedef enum fer_tta {
    FER_TTA_NONE = 0,
    FER_TTA_FLIP = 1,  /* average with the mirrored image */
    FER_TTA_CROPS = 2, /* flip, plus four shifted copies and their mirrors (10 views) */
} fer_tta;

typedef struct fer_eval_result {
    fer_confusion conf;  /* in the model's class order */
    double loss;         /* mean cross-entropy of the averaged probabilities */
    long long skipped;   /* images whose class the model does not have */
} fer_eval_result;

/* Evaluates m (any build; batch up to its max_batch) on the images of `split`
 * (split < 0: all). Labels are mapped to model outputs by class name. */
int fer_evaluate(fer_model *m, const fer_dataset *ds, int split, fer_tta tta,
                 fer_eval_result *res, fer_error *err);

#endif
