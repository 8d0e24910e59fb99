/*
 * evaluate.h — a model over one split of a dataset: the confusion matrix and
 * the mean cross-entropy, optionally with test-time augmentation.
 */
#ifndef FER_EVALUATE_H
#define FER_EVALUATE_H

#include "data/dataset.h"
#include "net/model.h"
#include "train/calibrate.h"
#include "train/metrics.h"
#include "vision/preprocess.h"

/* fer_tta and the views it makes (fer_input_view) are vision/preprocess.h's: ferd's
 * pipeline uses the same ones. */

typedef struct fer_eval_result {
    fer_confusion conf;  /* in the model's class order */
    double loss;         /* mean cross-entropy (NLL) of the averaged probabilities (a tie:
                            against equal shares of the tied classes) */
    double ece;          /* expected calibration error of the same (calibrate.h; a tie: the
                            top class is right if it is any of the tied classes) */
    fer_reliability rel; /* its bins, for the reliability diagram */
    long long skipped;   /* images whose class the model does not have */
    long long ties;      /* images (crowd votes) whose top vote several classes share */
    long long ties_correct; /* of those, predicted as one of the tied classes */
} fer_eval_result;

/* Evaluates m (any build; batch up to its max_batch) on the images of `split`
 * (split < 0: all). Labels are mapped to model outputs by class name. With crowd
 * votes (ds->votes) a prediction is correct if it is any of the top-voted classes
 * (train/targets.h); the confusion matrix then counts a correct tie on its diagonal
 * and a wrong one in the row of the first tied class in the model's order, so the
 * matrix's accuracy is that rule's. ties/ties_correct give the figure without ties.
 * Probabilities are the model's (fer_model_probs: its calibration temperature applied
 * to each view), averaged over the views. */
int fer_evaluate(fer_model *m, const fer_dataset *ds, int split, fer_tta tta,
                 fer_eval_result *res, fer_error *err);

/* The model's raw logits (n, classes) on the images of `split` it can be scored on,
 * with each image's correct outputs as a bit mask (bit k = output k; several for a
 * tied crowd vote, as fer_evaluate counts them): malloc'd into *logits and *correct
 * (the caller frees them), the count in *n. Same input step and batching as
 * fer_evaluate, one view. For fitting a temperature (calibrate.h). */
int fer_collect_logits(fer_model *m, const fer_dataset *ds, int split, float **logits,
                       unsigned **correct, int *n, fer_error *err);

#endif
