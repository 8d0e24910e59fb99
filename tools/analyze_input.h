/*
 * analyze_input.h — what `fer analyze` reads: one video file, or a sequence of
 * images (a directory, a glob pattern, image files named on the command line,
 * or @LIST, a file naming one image per line, @- for stdin).
 *
 * Every frame is delivered, in order, as fast as it decodes: no pacing, no
 * looping, nothing dropped. Each frame carries its index (from 0, as in
 * samples/demo.truth.csv), its time in the file, and for images its path.
 * The frame's capture time (fer_frame.mono_ns) is set to its time in the
 * file, so the pipeline's gap rule and label hysteresis run on the video's own
 * clock, and the same file gives the same output on any machine at any load.
 */
#ifndef FER_ANALYZE_INPUT_H
#define FER_ANALYZE_INPUT_H

#include "vision/frame.h"

typedef struct analyze_input analyze_input;

typedef struct analyze_frame_info {
    long long index;      /* from 0 */
    double time_s;        /* seconds from the start of the file; < 0 unknown (images without --fps) */
    const char *path;     /* the image's path (images only; valid until the input is closed) */
} analyze_frame_info;

/*
 * Opens args[0 .. n): one video, or images as listed above (not a mix). fps
 * gives images a frame rate (0: none, so they have no time; a video's own
 * rate always wins). Errors name the argument: -ENOENT, -EINVAL (a camera,
 * stream, mixture or empty list: analyze reads files), FER_E_UNSUPPORTED (a
 * video FFmpeg cannot read), -ENOMEM.
 */
int analyze_input_open(analyze_input **out, char **args, int n, double fps, fer_error *err);

/*
 * The next frame into frame (its buffer reused) and info. Returns 0, FER_E_EOF
 * after the last, or the error of one unreadable image (info names it; the next
 * call goes on with the next image). A video that fails mid-file is an error
 * too, after which the next call returns FER_E_EOF.
 */
int analyze_input_read(analyze_input *in, fer_frame *frame, analyze_frame_info *info,
                       fer_error *err);

/* Frames in the input if known (images; a video's container count), else 0. */
long long analyze_input_frames(const analyze_input *in);
/* The video's frame rate, or the images' --fps (0 none). */
double analyze_input_fps(const analyze_input *in);
/* 1 for a video, 0 for images. */
int analyze_input_is_video(const analyze_input *in);

void analyze_input_close(analyze_input *in); /* accepts NULL */

#endif
