/*
 * augment.h — training-time augmentation of 8-bit grey faces, producing the
 * normalised float input of the network.
 *
 * One geometric warp (flip, rotation, scale, shift — sampled together and applied
 * in a single bilinear pass, zero outside the image, as torchvision's RandomAffine
 * after a zero-padded random crop), then brightness/contrast jitter, normalisation
 * and random erasing (torchvision's RandomErasing, filling with 0 = the mean).
 * Each sample draws from its own RNG state, seeded from (seed, epoch, index), so
 * a batch is identical whichever thread makes it and a resumed run repeats it.
 */
#ifndef FER_AUGMENT_H
#define FER_AUGMENT_H

#include <stdint.h>

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

/* out (h*w floats) = normalise(augment(in (h*w bytes))); mean/std as in fer_preproc.
 * rng is the sample's own state. With a->enabled == 0 the rng is not used. */
void fer_augment_apply(float *out, const uint8_t *in, int h, int w, const fer_augment *a,
                       float mean, float std, uint64_t rng);

/* The per-sample seed of image `index` in epoch `epoch` of a run seeded `seed`. */
uint64_t fer_augment_seed(uint64_t seed, int epoch, int index);

#endif
