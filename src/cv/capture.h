/*
 * capture.h — video capture through OpenCV's VideoCapture, behind a C interface.
 *
 * The thin layer under src/vision/source.c: it opens a V4L2 camera, a video file
 * or a network stream with an explicitly chosen backend, reads BGR frames into
 * fer_images and reports what the backend says about size and rate. Policy
 * (what a source string means, pacing, looping, reopening, telling the user why a
 * camera failed) lives in plain C in src/vision/. No OpenCV type crosses this
 * header; capture.cpp catches every exception at its boundary.
 *
 * OpenCV's own log output is switched off the first time a capture is opened
 * (library code never prints; the callers report errors with the codes below).
 */
#ifndef FER_CAPTURE_H
#define FER_CAPTURE_H

#include "cv/image.h"

typedef struct fer_capture fer_capture;

typedef struct fer_capture_info {
    int width, height;   /* frame size the backend delivers */
    double fps;          /* rate the backend reports; 0 if unknown */
    long long frames;    /* frame count of a file; 0 if unknown or a live source */
    char backend[32];    /* OpenCV's backend name ("V4L2", "FFMPEG") */
} fer_capture_info;

/*
 * Opens a V4L2 device (path "/dev/videoN") with cv::CAP_V4L2 — never the default
 * backend, which tries GStreamer first — and requests width x height at fps (0 =
 * leave the driver's choice). The driver may deliver something else; info says.
 * FER_E_UNSUPPORTED if OpenCV cannot open it (the caller asks v4l2_probe why).
 */
int fer_capture_open_camera(fer_capture **out, const char *device, int width, int height,
                            double fps, fer_error *err);

/* Opens a video file with cv::CAP_FFMPEG. FER_E_UNSUPPORTED if FFmpeg cannot read it. */
int fer_capture_open_file(fer_capture **out, const char *path, fer_error *err);

/* Opens an rtsp:// or http(s):// stream with cv::CAP_FFMPEG, giving up after
 * timeout_ms for the connection and for each later read. FER_E_UNSUPPORTED if
 * it cannot be opened (unreachable, refused, or not a video). */
int fer_capture_open_stream(fer_capture **out, const char *url, int timeout_ms, fer_error *err);

/*
 * Reads the next frame into img as BGR. img must be an empty image or a previous
 * frame; its buffer is reused when the size is unchanged. Returns 0, FER_E_EOF
 * when the backend delivers no frame (end of a file; for live sources the caller
 * turns this into FER_E_LOST), -ENOMEM, FER_E_INVAL (an OpenCV exception).
 */
int fer_capture_read(fer_capture *c, fer_image *img, fer_error *err);

/* Starts a file again from its first frame (reopening it). */
int fer_capture_rewind(fer_capture *c, fer_error *err);

void fer_capture_get_info(const fer_capture *c, fer_capture_info *info);

void fer_capture_close(fer_capture *c); /* accepts NULL */

#endif
