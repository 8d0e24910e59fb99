/*
 * targets.h — what a network is trained towards and scored against, per image:
 * the dataset's labels mapped to the model's outputs by class name, and, from
 * them, a target distribution (for the loss) and the set of outputs that count
 * as a correct answer (for accuracy).
 *
 * Hard labels (the FER2013 emotion column, image folders) give a one-hot target
 * and one correct output. Crowd votes (FER+, ds->votes) give either
 *   majority: the top-voted emotion, or, for a tie, equal shares of the tied ones;
 *   dist:     the eight emotions' votes, normalised (unknown/NF were never kept);
 * and, in both cases, a prediction is correct if it is ANY of the top-voted
 * emotions (the tie rule stated in models/README.md and by `fer eval`).
 */
#ifndef FER_TARGETS_H
#define FER_TARGETS_H

#include "data/dataset.h"
#include "net/arch.h"

typedef enum fer_target { FER_TARGET_MAJORITY = 0, FER_TARGET_DIST = 1 } fer_target;

/* "majority" / "dist" -> the value, or -1. */
int fer_target_parse(const char *name);
const char *fer_target_name(fer_target t);

/* out[label] = the model output of each dataset label, or -1 if the model lacks it. */
typedef struct fer_label_map {
    int out[FER_NUM_LABELS];
    int nout;            /* the model's outputs (its class count) */
} fer_label_map;

/* Builds the map of arch's classes (an arch without names counts as FER2013's
 * first nout classes in order). With require_all_of, every label in that bit
 * mask must be an output: FER_E_CLASSES naming the missing class otherwise. A
 * class name that is no known label is FER_E_CLASSES only with strict. */
int fer_label_map_init(fer_label_map *m, const fer_arch *a, int nout, unsigned require_all_of,
                       int strict, fer_error *err);

/* The outputs counted correct for image i (bit k = output k); 0 when none of the
 * image's (top) labels is an output, i.e. the model cannot be scored on it. */
unsigned fer_target_correct(const fer_dataset *ds, int i, const fer_label_map *m);

/* q (m->nout floats) = image i's target distribution of kind t (t is ignored for
 * hard labels). Labels the model lacks get no share; with none left q is all 0. */
void fer_target_fill(float *q, const fer_dataset *ds, int i, const fer_label_map *m,
                     fer_target t);

#endif
