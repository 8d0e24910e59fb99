/*
 * video_write.h — writing videos through OpenCV behind a C interface: MJPEG .avi
 * with OpenCV's built-in encoder (no FFmpeg needed), or .mp4/.m4v/.mov/.mkv with
 * FFmpeg (H.264 when the build has an encoder for it, else MPEG-4 part 2). The
 * container follows the file name; a name without one of those extensions gets
 * MJPEG AVI. Used by the tests, which make their own short clips, and by
 * `fer analyze --annotate`. The file is written at path as given: a caller that
 * wants it atomic writes a temporary (fer_atomic_open keeps the extension).
 */
#ifndef FER_VIDEO_WRITE_H
#define FER_VIDEO_WRITE_H

#include "cv/image.h"

typedef struct fer_video_writer fer_video_writer;

/* Creates path (w x h, fps, JPEG quality 1..100; 3-channel BGR frames).
 * -EINVAL for bad arguments, FER_E_UNSUPPORTED if OpenCV cannot create the file. */
int fer_video_writer_open(fer_video_writer **out, const char *path, int w, int h, double fps,
                          int quality, fer_error *err);
/* Appends a frame; it must have the size given at open (grey frames are converted). */
int fer_video_writer_write(fer_video_writer *v, const fer_image *img, fer_error *err);
/* Finishes the file (writes the index) and frees v; accepts NULL. */
int fer_video_writer_close(fer_video_writer *v, fer_error *err);

#endif
