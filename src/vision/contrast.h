/*
 * contrast.h — per-face contrast normalisation of an 8-bit grey face at the
 * network's input size: the step the model's header names in
 * preprocess.contrast (docs/MODEL_FORMAT.md), between resampling and the
 * mean/std scaling. fer_input_from_face() in preprocess.h is its one caller on
 * every path (pipeline, training, evaluation, classification).
 *
 * Both methods follow OpenCV's 8-bit semantics so that a model can be checked
 * against cv2 (tests/fixtures/contrast/, made by tools/contrast_fixture.py):
 *  - histeq = cv::equalizeHist: LUT(v) = round(cdf'(v) * 255 / (N - h_min)), where
 *    cdf' counts the pixels above the darkest level present (the darkest level maps
 *    to 0); a one-level image is left unchanged;
 *  - clahe = cv::createCLAHE(clip, Size(tiles, tiles))->apply: a tiles x tiles
 *    grid; an image whose sides the grid does not divide is extended (for the
 *    histograms only) by OpenCV's reflect-101 border, tiles - side % tiles pixels on
 *    the right and bottom; each tile's histogram is clipped at max(1, int(clip *
 *    tile_pixels / 256)) with the excess spread evenly and the remainder one by one
 *    from bin 0 in steps of 256 / remainder; the tile LUT is round(cdf * 255 /
 *    tile_pixels); each pixel interpolates bilinearly between the LUTs of the four
 *    nearest tile centres (at x / tile_w - 0.5, in float as OpenCV computes it).
 * Rounding is round-half-even, like OpenCV's saturate_cast.
 */
#ifndef FER_CONTRAST_H
#define FER_CONTRAST_H

#include <stddef.h>
#include <stdint.h>

#include "net/model.h"

/* Global histogram equalisation of the n pixels of img, in place. */
void fer_histeq(uint8_t *img, size_t n);

/* CLAHE of img (h rows of w pixels, packed), in place. -EINVAL if tiles is outside
 * 1..FER_CLAHE_MAX_TILES, clip outside [0, 256], or the grid leaves tiles narrower than
 * 2 pixels (tiles > min(w, h) / 2). Allocates nothing. */
int fer_clahe(uint8_t *img, int h, int w, float clip, int tiles);

/* Applies c (none, histeq or clahe) to img in place; the result of fer_clahe, else 0. */
int fer_contrast_apply(uint8_t *img, int h, int w, const fer_contrast *c);

#endif
