/*
 * image.c — the plain-C half of fer_image: allocation and release.
 *
 * A fer_image is a bare struct over one malloc'd block of tightly packed rows,
 * so every part of ferd (engine, dataset, daemon) can read pixels without
 * knowing about OpenCV. Decoding, encoding and resampling live in the C++ shim
 * image_io.cpp; what needs no OpenCV lives here, so it can be reasoned about
 * (and sanitised) as ordinary C.
 */
#include "cv/image.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/*
 * Contract: on success img holds a zeroed w x h x channels image; on failure img
 * is left as an empty image (all fields zero) so fer_image_free on it is safe.
 * channels must be 1 or 3; the byte count must fit in an int, which keeps every
 * index computation elsewhere (OpenCV included) free of overflow.
 */
int fer_image_alloc(fer_image *img, int w, int h, int channels)
{
    if (!img)
        return -EINVAL;
    memset(img, 0, sizeof *img);
    if (w <= 0 || h <= 0 || (channels != 1 && channels != 3))
        return -EINVAL;
    if ((size_t)w * (size_t)h * (size_t)channels > (size_t)INT_MAX)
        return -EINVAL;
    img->data = calloc((size_t)w * (size_t)h * (size_t)channels, 1);
    if (!img->data)
        return -ENOMEM;
    img->w = w;
    img->h = h;
    img->channels = channels;
    return 0;
}

void fer_image_free(fer_image *img)
{
    if (!img)
        return;
    free(img->data);
    memset(img, 0, sizeof *img);
}
