/*
 * distill.h — the teachers of knowledge distillation (`fer train --teacher`):
 * trained models that run in inference mode beside the student and give it a
 * softened target, the average of their softmax(z / T).
 *
 * A teacher may have any architecture and its own input step (contrast mode,
 * mean, std: each from its own header), but it must see the student's input
 * shape and have the student's classes (by name, in any order: its outputs are
 * mapped to the student's). The trainer makes each teacher's input from the same
 * augmented image the student gets in that step (train/augment.h:
 * fer_augment_pixels once, fer_augment_finish per network).
 */
#ifndef FER_DISTILL_H
#define FER_DISTILL_H

#include <stdint.h>

#include "net/model.h"

#define FER_MAX_TEACHERS 8

typedef struct fer_teachers {
    int n;                              /* teachers */
    int nout;                           /* the student's outputs */
    int h, w;                           /* input size */
    fer_model *m[FER_MAX_TEACHERS];
    int out[FER_MAX_TEACHERS][FER_MAX_CLASSES]; /* student output k -> teacher t's output */
    float *mirror;                      /* (max_batch, h*w) scratch for flip averaging */
} fer_teachers;

/*
 * Loads the n models at paths for inference on batches of up to max_batch, and checks
 * each against the student arch: input 1 x in_h x in_w, and the same class names.
 * crc[i] receives the CRC-32 of file i (the checkpoint keeps it so that --resume
 * refuses a teacher that changed). Errors name the file: -errno, the model loader's
 * codes, FER_E_ARCH (input shape), FER_E_CLASSES (class list), -EINVAL (n out of
 * 1..FER_MAX_TEACHERS). *out is NULL on failure.
 */
int fer_teachers_load(fer_teachers **out, const char *const *paths, int n,
                      const fer_arch *student, int max_batch, uint32_t *crc, fer_error *err);
void fer_teachers_free(fer_teachers *t); /* accepts NULL */

/*
 * probs (n, nout) = the mean over the teachers (and, with flip, over each image and
 * its mirror image) of softmax(z / temp), in the student's output order. in[t] holds
 * teacher t's inputs, (n, h*w), made with its own input step; n <= max_batch.
 */
void fer_teachers_predict(fer_teachers *t, float *probs, float *const *in, int n, float temp,
                          int flip);

#endif
