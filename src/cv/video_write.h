/*
 * video_write.h — writing MJPEG .avi files through OpenCV's built-in MJPEG
 * encoder (no FFmpeg needed), behind a C interface. Used by the tests, which
 * make their own short clips, and by tools that record annotated frames.
 * The file is written in place, not atomically: it is a recording, not state.
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
