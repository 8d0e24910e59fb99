/*
 * preprocess.h — from a detected face box to the network's input, exactly as
 * the model's header prescribes (fer_preproc in net/model.h):
 *
 *   1. crop geometry: the box grown by `margin` times its side on every side,
 *      then (square) the larger side around the box centre;
 *   2. the crop cut from the frame; parts outside the frame repeat the nearest
 *      edge pixel (no black borders that training never showed);
 *   3. grey (ITU-R BT.601 weights, OpenCV's fixed-point rounding);
 *   4. resampled to the input size: resize "area" averages every covered source
 *      pixel by its covered fraction when shrinking and is bilinear when
 *      enlarging; "linear" is bilinear both ways (pixel centres aligned, edges
 *      repeated, as OpenCV's INTER_LINEAR);
 *   5. rounded to 8 bits; then the model's contrast normalisation, if any
 *      (none, histeq, clahe: vision/contrast.h), and the scaling
 *      (pixel/255 - mean) / std: both in fer_input_from_face() below, the one
 *      function every path uses from the 8-bit face to the network input (the
 *      pipeline, fer train's augmented and validation images, fer eval, fer
 *      classify). In the data path (FER2013: 48x48 face crops already) the
 *      image is the crop at the input size and steps 1-4 are the identity.
 *
 * Plain C, no OpenCV: unit-tested against hand-computed crops.
 */
#ifndef FER_PREPROCESS_H
#define FER_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "cv/image.h"
#include "net/model.h"
#include "types/result.h"

/* The network input from 8-bit pixels: out = (in/255 - mean) / std. Training,
 * evaluation and the pipeline all normalise through this one function. */
void fer_normalise(float *out, const uint8_t *in, int count, float mean, float std);

/*
 * The network input (h*w floats) from an 8-bit grey face at the input size (h rows of
 * w pixels): pre->contrast applied to face IN PLACE, then fer_normalise with pre's
 * mean and std. Every path that feeds a grey model goes through here, so a model's
 * contrast step is never assumed, only read from its header. -EINVAL (message in err)
 * for an invalid contrast setting or a face too small for the CLAHE grid.
 */
int fer_input_from_face(float *out, uint8_t *face, int h, int w, const fer_preproc *pre,
                        fer_error *err);

/* Test-time augmentation: the views of a network input whose probabilities are
 * averaged (fer eval --tta, ferd's `tta` setting). */
typedef enum fer_tta {
    FER_TTA_NONE = 0,
    FER_TTA_FLIP = 1,  /* average with the mirrored input */
    FER_TTA_CROPS = 2, /* flip, plus four copies shifted 2 pixels diagonally and their mirrors
                          (10 views; fer eval only) */
} fer_tta;

/* Views a tta mode averages: 1, 2 or 10. */
int fer_tta_views(fer_tta tta);

/*
 * View v of a network input (c planes of h x w floats) into out (not in): bit 0 of v
 * mirrors left to right, v >> 1 picks a shift (0: none; 1..4: 2 pixels up-left,
 * up-right, down-left, down-right). Pixels shifted in are 0, the normalised mean,
 * as training's zero padding. View 0 is a copy.
 */
void fer_input_view(float *out, const float *in, int c, int h, int w, int v);

/* Widest input row (width x channels) the resampler handles. */
#define FER_PREPROC_MAX_ROW 4096

/* Step 1: the crop rectangle for box under pre, in frame pixels. It may extend past
 * the frame; the cutting step pads. w and h are at least 1. */
fer_box fer_crop_box(fer_box box, const fer_preproc *pre);

/* BGR pixels to grey, npix pixels. dst may be src itself (converted in place) but
 * must not otherwise overlap it. */
void fer_grey_from_bgr(uint8_t *dst, const uint8_t *bgr, size_t npix);

/* dst = src in grey (a copy if src is grey). dst's buffer is reused when the size
 * matches, else reallocated. -ENOMEM, -EINVAL. */
int fer_image_to_grey(fer_image *dst, const fer_image *src, fer_error *err);

/*
 * Steps 2 and 4: the part crop of src (1 or 3 channels), edges repeated, resampled
 * to ow x oh into out (ow * oh * src->channels bytes, interleaved like src). area = 1
 * selects "area" resampling, 0 "linear". -EINVAL if sizes are out of range
 * (ow * channels > FER_PREPROC_MAX_ROW, empty crop or image).
 */
int fer_crop_resample(uint8_t *out, int ow, int oh, const fer_image *src, fer_box crop,
                      int area, fer_error *err);

/*
 * All five steps for one face: out receives c x h x w floats (planar; c = 1 grey,
 * or c = 3 for a colour model, planes R, G, B). frame may be grey or BGR; a grey
 * frame for a colour model is -EINVAL, as is c disagreeing with pre->grey.
 * scratch holds h * w * 3 bytes. The 8-bit crop, before any contrast step, is left in
 * scratch (the pipeline compares it with the previous frame's to skip unchanged
 * faces); a grey model's contrast step works on a copy in the rest of scratch. A
 * colour model with a contrast step is -EINVAL (the model loader refuses one).
 */
int fer_preprocess_face(float *out, uint8_t *scratch, int c, int h, int w,
                        const fer_image *frame, fer_box box, const fer_preproc *pre,
                        fer_error *err);

#endif
