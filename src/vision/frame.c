/*
 * frame.c — release and time-stamping of a fer_frame (see frame.h). The stamp
 * is taken once, right after a frame is grabbed, so both clocks describe the
 * same instant and the pipeline's results carry capture time, not processing time.
 */
#include "vision/frame.h"

#include <string.h>

#include "vision/pace.h"

void fer_frame_free(fer_frame *f)
{
    if (!f)
        return;
    fer_image_free(&f->img);
    memset(f, 0, sizeof *f);
}

void fer_frame_stamp(fer_frame *f)
{
    f->wall_ms = fer_wall_ms();
    f->mono_ns = fer_mono_ns();
}
