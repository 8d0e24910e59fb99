/*
 * detect.h — Haar-cascade face detection through OpenCV, behind a C interface.
 *
 * The shim runs one search: a rectangle of a grey frame, resized by a given
 * factor, optionally histogram-equalised, searched with
 * cv::CascadeClassifier::detectMultiScale, and the boxes mapped back to
 * full-frame pixels. Which rectangle and which factor — the whole frame at the
 * detection width, or a small region around a tracked face — is the pipeline's
 * policy (src/vision/pipeline.c), in C. No OpenCV type crosses this header;
 * detect.cpp catches every exception at its boundary.
 */
#ifndef FER_DETECT_H
#define FER_DETECT_H

#include "cv/image.h"
#include "types/result.h"

#define FER_CASCADE_DEFAULT \
    "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"

typedef struct fer_detector fer_detector;

/* One search. */
typedef struct fer_detect_req {
    fer_box roi;          /* region of the frame to search, inside the frame */
    double scale;         /* the region is resized by this factor first (0 < scale <= 1 shrinks) */
    int min_side;         /* smallest face side searched, full-frame pixels (0: the window) */
    int max_side;         /* largest, full-frame pixels (0: no limit) */
    double scale_factor;  /* pyramid step of detectMultiScale (> 1) */
    int min_neighbors;    /* overlapping hits a face needs (>= 0) */
    int equalize;         /* FER_EQUALIZE_*: contrast normalisation of the resized region */
} fer_detect_req;

/* Contrast normalisation before a search. Haar features are normalised by each
 * window's standard deviation, so only non-linear changes matter. A global histogram
 * equalisation (OpenCV's classic recipe) flattens a face into a few grey levels when
 * a plain background fills most of the frame; CLAHE (contrast-limited, per tile,
 * tiles of about 40 px) does not, and still lifts faces out of dim, flat lighting. */
enum {
    FER_EQUALIZE_NONE = 0,
    FER_EQUALIZE_CLAHE = 1,  /* the default */
    FER_EQUALIZE_GLOBAL = 2, /* cv::equalizeHist */
};

/* Loads a cascade XML. -ENOENT/-EACCES if the file cannot be read (message names
 * path and, for the default, the opencv-data package), FER_E_INVAL if OpenCV
 * cannot parse it as a cascade. */
int fer_detector_load(fer_detector **out, const char *path, fer_error *err);
void fer_detector_free(fer_detector *d); /* accepts NULL */

/* Side of the cascade's detection window in pixels (24 for the frontal-face cascades). */
int fer_detector_window(const fer_detector *d);

/*
 * Runs req on grey (1 channel). Writes up to max boxes, in full-frame pixels, and
 * their count to *n (OpenCV's order; more than max are dropped). -EINVAL for a
 * malformed request (roi outside the frame, scale <= 0, ...), FER_E_INVAL if
 * OpenCV throws.
 */
int fer_detect_run(fer_detector *d, const fer_image *grey, const fer_detect_req *req,
                   fer_box *boxes, int max, int *n, fer_error *err);

/* Threads OpenCV may use inside one call (cv::setNumThreads; global to the process).
 * The daemon and the benchmark use 1: detection runs on the inference thread. */
void fer_detect_set_threads(int n);

#endif
