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
    double loss;         /* mean cross-entropy of the averaged probabilities (a tie: against
                            equal shares of the tied classes) */
    long long skipped;   /* images whose class the model does not have */
    long long ties;      /* images (crowd votes) whose top vote several classes share */
    long long ties_correct; /* of those, predicted as one of the tied classes */
} fer_eval_result;

/* Evaluates m (any build; batch up to its max_batch) on the images of `split`
 * (split < 0: all). Labels are mapped to model outputs by class name. With crowd
 * votes (ds->votes) a prediction is correct if it is any of the top-voted classes
 * (train/targets.h); the confusion matrix then counts a correct tie on its diagonal
 * and a wrong one in the row of the first tied class in the model's order, so the
 * matrix's accuracy is that rule's. ties/ties_correct give the figure without ties. */
int fer_evaluate(fer_model *m, const fer_dataset *ds, int split, fer_tta tta,
                 fer_eval_result *res, fer_error *err);

#endif
