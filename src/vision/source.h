/*
 * source.h — one interface over every frame source: V4L2 camera, video file,
 * still image, directory or pattern of images, network stream (source_spec.h
 * says which string means which).
 *
 * Errors are distinct and name the device, file or URL: -ENOENT (no such device
 * or file, a directory without images), -EBUSY (camera in use), -EACCES
 * (permission denied; for a camera the message names the `video` group),
 * FER_E_UNSUPPORTED (a file, device or stream OpenCV cannot decode), FER_E_EOF
 * (end of a file or image list played without looping), FER_E_LOST (a camera or
 * stream stopped delivering, or a stream cannot be reached).
 *
 * A lost camera or stream is not fatal: the caller (the daemon) waits
 * fer_backoff_next() (pace.h) and calls fer_source_reopen until it succeeds.
 */
#ifndef FER_SOURCE_H
#define FER_SOURCE_H

#include <stdatomic.h>

#include "vision/frame.h"
#include "vision/source_spec.h"

typedef struct fer_source fer_source;

typedef struct fer_source_opts {
    int width, height;  /* camera: requested frame size; 0 = the driver's choice */
    double fps;         /* camera: requested rate; images: playback rate (0 = 2 per second) */
    int loop;           /* files, stills and image lists start again at the end (1) */
    int realtime;       /* files and images are released at their rate (1); 0 = as fast
                           as they decode, for tests and benchmarks */
    int timeout_ms;     /* streams: connection and read timeout (5000) */
    const atomic_int *cancel; /* nonzero ends a pacing wait early, for a shutdown (NULL) */
    long long max_pixels; /* frames and images larger than this (w x h) are refused, images
                             before they are decoded (0 = FER_IMAGE_MAX_PIXELS) */
} fer_source_opts;

void fer_source_opts_default(fer_source_opts *o);

typedef struct fer_source_info {
    fer_source_kind kind;
    int width, height;  /* of the frames delivered so far (the first frame's at open) */
    double fps;         /* the rate frames are released at or the device reports; 0 unknown */
    long long frames;   /* frames in a file or list; 0 unknown or live */
    const char *name;   /* the source string as given */
} fer_source_info;

/*
 * Opens spec. Every kind reads its first frame here, so a source that opens is
 * known to deliver frames: a camera that opens but yields nothing is diagnosed
 * now (busy, or a format OpenCV cannot convert), not on the first read.
 * opts may be NULL for the defaults. On failure *out is NULL.
 */
int fer_source_open(fer_source **out, const char *spec, const fer_source_opts *opts,
                    fer_error *err);

/*
 * Delivers the next frame into frame (its image buffer is reused), with seq and
 * capture time stamped. Blocks until the frame's slot for paced sources and until
 * the device delivers for live ones. Returns 0, FER_E_EOF, FER_E_LOST, or for an
 * image list the error of one unreadable image (the next call goes on with the
 * next image), each with a message naming the source.
 */
int fer_source_read(fer_source *s, fer_frame *frame, fer_error *err);

/* Closes and opens the source again (same string and options), for a lost camera or
 * stream; seq continues. Returns what fer_source_open would. */
int fer_source_reopen(fer_source *s, fer_error *err);

void fer_source_get_info(const fer_source *s, fer_source_info *info);

void fer_source_close(fer_source *s); /* accepts NULL */

#endif
