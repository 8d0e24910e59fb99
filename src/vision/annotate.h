/*
 * annotate.h — a result drawn onto its frame: each face's box, its label and
 * probability, its track id, and a bar per class score. Used by
 * `fer classify --annotate` and, later, the daemon's preview stream.
 */
#ifndef FER_ANNOTATE_H
#define FER_ANNOTATE_H

#include "cv/image.h"
#include "types/result.h"

enum {
    FER_ANNOTATE_SMOOTHED = 1 << 0, /* show the smoothed label (video), not the raw one */
    FER_ANNOTATE_NO_BARS = 1 << 1,  /* no per-class score bars */
};

/* Draws r onto img (BGR or grey, the frame r was computed on). flags: FER_ANNOTATE_*. */
void fer_annotate(fer_image *img, const fer_frame_result *r, unsigned flags);

#endif
