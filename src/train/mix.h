/*
 * mix.h — mixup (Zhang et al., 2018) and CutMix (Yun et al., 2019) on a batch,
 * `fer train --mixup A --cutmix A --mix-prob P`, with timm's conventions:
 *
 *  - one draw per batch: with probability P the batch is mixed; if both alphas
 *    are set, CutMix or mixup with even odds; lambda ~ Beta(alpha, alpha);
 *  - image i is paired with image n-1-i (the batch reversed), so each pair mixes
 *    both ways in place and nothing is copied;
 *  - mixup: x_i' = lambda x_i + (1 - lambda) x_j; CutMix: a box of (1 - lambda) of
 *    the area (centre uniform, clipped at the borders) is swapped between the two,
 *    and lambda becomes the share of the image each keeps;
 *  - targets mix with the same lambda (hard labels as one-hot rows, FER+ votes as
 *    their distributions), so the loss is the soft-target cross-entropy.
 *
 * Mixing applies to network inputs (after each network's input step), so the
 * student and every distillation teacher get the same mixture of the same images,
 * each in its own normalisation. The draw depends only on (seed, epoch, batch):
 * a resumed run repeats it.
 */
#ifndef FER_MIX_H
#define FER_MIX_H

#include <stdint.h>

typedef enum fer_mix_kind { FER_MIX_NONE = 0, FER_MIX_MIXUP = 1, FER_MIX_CUTMIX = 2 } fer_mix_kind;

/* One batch's mixing. */
typedef struct fer_mix {
    fer_mix_kind kind;
    float lambda;        /* the share of its own image each image keeps */
    int x0, y0, w, h;    /* CutMix: the swapped box */
} fer_mix;

/* A sample of Beta(a, a), a > 0 (Marsaglia-Tsang gammas; a < 1 through a + 1). */
float fer_rng_beta(uint64_t *rng, float a);

/* Draws a batch's mixing for h x w images from rng: none when both alphas are 0. */
void fer_mix_draw(fer_mix *m, float mixup, float cutmix, float prob, int h, int w,
                  uint64_t rng);

/* Mixes n rows of `len` floats in place, row i with row n-1-i: images (len = h*w; a
 * CutMix box needs the image width w) or targets (len = classes, w ignored: CutMix
 * targets mix like mixup's with the corrected lambda). */
void fer_mix_rows(float *x, int n, int len, int w, int image, const fer_mix *m);

#endif
