/*
 * source_spec.h — what a frame-source string names, decided without OpenCV.
 *
 * The daemon's `source =` setting and the tools' arguments are one string:
 *   "0", "2"                       V4L2 camera by index (/dev/video<N>)
 *   "/dev/video0", any char device V4L2 camera by path
 *   "rtsp://…", "rtsps://…",
 *   "http://…", "https://…"        network stream (RTSP, MJPEG over HTTP)
 *   a directory                    its images, in name order
 *   a pattern with * ? or [        the images it matches, in name order
 *   a file named .png .jpg .jpeg .bmp .pgm .ppm .pnm .tif .tiff .webp   a still image
 *   any other file                 a video file (what OpenCV's FFmpeg backend reads)
 */
#ifndef FER_SOURCE_SPEC_H
#define FER_SOURCE_SPEC_H

#include "util/error.h"

#define FER_SOURCE_PATH_MAX 4096
/* Most images a directory or pattern may list (a bound on memory, not a guess at use). */
#define FER_SOURCE_MAX_IMAGES 100000

typedef enum fer_source_kind {
    FER_SOURCE_CAMERA,
    FER_SOURCE_VIDEO,
    FER_SOURCE_IMAGE,
    FER_SOURCE_IMAGES,   /* directory or pattern */
    FER_SOURCE_STREAM,
} fer_source_kind;

typedef struct fer_source_spec {
    fer_source_kind kind;
    char path[FER_SOURCE_PATH_MAX]; /* device node, file, directory, pattern or URL */
    int index;                      /* camera given as a number, else -1 */
    int is_dir;                     /* FER_SOURCE_IMAGES: 1 directory, 0 pattern */
} fer_source_spec;

/* Name of a kind ("camera", "video", "image", "images", "stream"). */
const char *fer_source_kind_name(fer_source_kind k);

/*
 * Classifies text as above. Looks at the file system (stat) but opens nothing.
 * Errors, each naming text: -EINVAL (empty or too long), FER_E_UNSUPPORTED (a URL
 * scheme other than rtsp, rtsps, http, https), -ENOENT (no such file; for a
 * /dev path "no such video device"), -EACCES and other -errno from stat.
 * A /dev/… path that does not exist is still reported as a camera by kind in
 * spec, so the caller's message can say "device", and the call returns -ENOENT.
 */
int fer_source_parse(fer_source_spec *spec, const char *text, fer_error *err);

/* Sorted list of image files of a directory or pattern spec. */
typedef struct fer_image_list {
    int n;
    char **paths;     /* n NUL-terminated paths, one allocation with the strings */
} fer_image_list;

/*
 * Lists the images of spec (kind FER_SOURCE_IMAGES): for a directory, its regular
 * files with an image extension (not recursive); for a pattern, every regular file
 * it matches. Sorted by byte order of the path. Errors: -ENOENT "no images in
 * directory" / "pattern matches no file", -EACCES/-errno (directory unreadable),
 * -E2BIG beyond FER_SOURCE_MAX_IMAGES, -ENOMEM. On failure list is empty.
 */
int fer_image_list_load(fer_image_list *list, const fer_source_spec *spec, fer_error *err);
void fer_image_list_free(fer_image_list *list); /* accepts NULL and an empty list */

/* 1 if path ends with one of the still-image extensions above (case-insensitive). */
int fer_is_image_name(const char *path);

#endif
