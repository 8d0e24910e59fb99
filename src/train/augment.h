/*
 * augment.h — training-time augmentation of 8-bit grey faces, producing the
 * normalised float input of the network.
 *
 * One geometric warp (flip, rotation, scale, shift — sampled together and applied
 * in a single bilinear pass, zero outside the image, as torchvision's RandomAffine
 * after a zero-padded random crop), then brightness/contrast jitter, the model's
 * input step (contrast normalisation and scaling) and random erasing
 * (torchvision's RandomErasing, filling with 0 = the mean).
 *
 * Where the model's contrast normalisation (histeq, clahe) goes: after the warp
 * and the jitter, before erasing. The warp and the jitter stand for what varies
 * before a face reaches the network in service (the detector's box, the pose, the
 * lighting), and in service the contrast step sees all of that; so in training it
 * must too, and every image the network sees is then a contrast-normalised 8-bit
 * face, as in service. The jittered image is rounded to 8 bits first, as the
 * pipeline rounds its resampled crop. Erasing is a regulariser on the network
 * input (it masks part of what the network sees), not a model of the camera, so it
 * stays last. Without a contrast step the float path is kept exactly as before
 * (no rounding): runs and checkpoints made before contrast existed repeat
 * bit for bit.
 * Each sample draws from its own RNG state, seeded from (seed, epoch, index), so
 * a batch is identical whichever thread makes it and a resumed run repeats it.
 */
#ifndef FER_AUGMENT_H
#define FER_AUGMENT_H

#include <stdint.h>

#include "net/model.h"

typedef struct fer_augment {
    int enabled;         /* 0: normalise only */
    float flip;          /* probability of a horizontal flip (0.5) */
    float shift;         /* max shift in pixels, each axis (4) */
    float rotate;        /* max rotation in degrees (10) */
    float scale_min, scale_max; /* zoom range (0.9, 1.1) */
    float brightness;    /* max additive change, fraction of 255 (0.2) */
    float contrast;      /* max relative change (0.2) */
    float erase;         /* probability of random erasing (0.5) */
    float erase_min, erase_max; /* erased area fraction (0.02, 0.33) */
} fer_augment;

void fer_augment_default(fer_augment *a);
void fer_augment_none(fer_augment *a);

/* out (h*w floats) = input step of pre (augment(in (h*w bytes))), as described above;
 * work holds h*w bytes (used with a contrast step only). rng is the sample's own
 * state; with a->enabled == 0 it is not used. Returns 0, or -EINVAL if pre's contrast
 * step cannot apply to an h x w face (fer_input_from_face). The same as
 * fer_augment_pixels then fer_augment_finish. */
int fer_augment_apply(float *out, uint8_t *work, const uint8_t *in, int h, int w,
                      const fer_augment *a, const fer_preproc *pre, uint64_t rng);

/* The rectangle random erasing blanks (h == 0: none). */
typedef struct fer_erase_box {
    int x0, y0, w, h;
} fer_erase_box;

/* The two halves of fer_augment_apply, for distillation, where one augmented image
 * goes to several networks, each with its own input step (contrast, mean, std):
 * fer_augment_pixels draws the augmentation (warp and jitter into pix, h*w floats in
 * [0, 255], not yet rounded; the erase box) and depends on no model; then
 * fer_augment_finish makes one model's input from it (out may be pix itself). */
void fer_augment_pixels(float *pix, fer_erase_box *box, const uint8_t *in, int h, int w,
                        const fer_augment *a, uint64_t rng);
int fer_augment_finish(float *out, uint8_t *work, const float *pix, const fer_erase_box *box,
                       int h, int w, const fer_preproc *pre);

/* The per-sample seed of image `index` in epoch `epoch` of a run seeded `seed`. */
uint64_t fer_augment_seed(uint64_t seed, int epoch, int index);

#endif
