/*
 * source.c — the frame-source object over the capture shim and the image reader.
 *
 * Design: a source is its parsed spec, its options and one of two back ends —
 * an OpenCV capture (camera, file, stream) or a list of image paths (a still is a
 * list of one). Opening reads the first frame into a pending slot, so failures
 * surface at open with their real cause; fer_source_read hands the pending frame
 * out first. Pacing, looping, end-of-stream versus lost-stream, and the camera
 * diagnosis (v4l2_probe.c) are decided here in C; capture.cpp only calls OpenCV.
 */
#include "vision/source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cv/capture.h"
#include "util/fileio.h"
#include "util/redact.h"
#include "vision/pace.h"
#include "vision/v4l2_probe.h"

/* The rate of a video file whose container does not say. */
#define DEFAULT_VIDEO_FPS 25.0
#define DEFAULT_IMAGES_FPS 2.0

struct fer_source {
    fer_source_spec spec;
    fer_source_opts opts;
    char name[FER_SOURCE_PATH_MAX];
    fer_capture *cap;       /* camera, video, stream */
    fer_image_list list;    /* image, images */
    int next;               /* index of the next image to read */
    fer_image still;        /* a still image, decoded once */
    fer_image pending;      /* the frame read at open, not yet delivered */
    int has_pending;
    fer_pacer pacer;
    double fps;
    long long frames;
    int width, height;
    uint64_t seq;
    /* Images of the list that could not be read, each with the file's state
     * then: skipped without a word until the file changes (NULL: none yet). */
    struct bad_image {
        int bad;
        struct timespec mtime;
        off_t size;
    } *bad;
};

void fer_source_opts_default(fer_source_opts *o)
{
    memset(o, 0, sizeof *o);
    o->loop = 1;
    o->realtime = 1;
    o->timeout_ms = 5000;
}

/* -errno if path cannot be opened for reading, with a message naming it. */
static int check_readable(const char *path, fer_error *err)
{
    /* Without blocking: a video file replaced by a FIFO is refused, not
     * waited on (fer_open_regular). */
    int fd = fer_open_regular(path, NULL, err);
    if (fd == -EACCES || fd == -EPERM)
        return fer_fail(err, -EACCES, "%s: permission denied", path);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

/* Reads image i of the list into img (BGR); errors name the file. A file OpenCV
 * cannot decode is FER_E_UNSUPPORTED, the source interface's code for it. */
static int read_image(fer_source *s, int i, fer_image *img, fer_error *err)
{
    fer_image tmp;
    int rc = fer_image_read_max(&tmp, s->list.paths[i], 0, s->opts.max_pixels, err);
    if (rc == FER_E_INVAL) {
        rc = FER_E_UNSUPPORTED;
        if (err)
            err->code = rc; /* the message from fer_image_read already says what is wrong */
    }
    if (rc < 0)
        return rc;
    fer_image_free(img);
    *img = tmp;
    return 0;
}

/* A camera that OpenCV could not open, or that opened but delivered nothing: the
 * kernel says why (busy, permissions, not a capture node), else the format. */
static int camera_failure(fer_source *s, const char *what, fer_error *err)
{
    int rc = fer_v4l2_probe(s->spec.path, err);
    if (rc < 0)
        return rc;
    return fer_fail(err, FER_E_UNSUPPORTED, "%s: %s (no pixel format OpenCV can convert?)",
                    s->spec.path, what);
}

/* A capture's frames must not be larger than the images a list may hold:
 * checked on the size the backend states before the first frame is
 * converted, and on every frame (a stream may change its size). */
static int check_frame_size(const fer_source *s, long long w, long long h, fer_error *err)
{
    long long max = s->opts.max_pixels > 0 ? s->opts.max_pixels : FER_IMAGE_MAX_PIXELS;
    if (w > 0 && h > 0 && w * h > max)
        return fer_fail(err, FER_E_UNSUPPORTED,
                        "%s: frames of %lldx%lld pixels are more than the %.3g megapixels "
                        "allowed", s->name, w, h, (double)max / 1e6);
    return 0;
}

static int read_list(fer_source *s, fer_image *img, fer_error *err);

static int check_capture_size(const fer_source *s, fer_error *err)
{
    fer_capture_info ci;
    fer_capture_get_info(s->cap, &ci);
    return check_frame_size(s, ci.width, ci.height, err);
}

static int open_backend(fer_source *s, fer_error *err)
{
    const char *path = s->spec.path;
    int rc;
    switch (s->spec.kind) {
    case FER_SOURCE_CAMERA:
        rc = fer_v4l2_probe(path, err);
        if (rc < 0)
            return rc;
        rc = fer_capture_open_camera(&s->cap, path, s->opts.width, s->opts.height, s->opts.fps,
                                     err);
        if (rc == FER_E_UNSUPPORTED)
            return camera_failure(s, "OpenCV's V4L2 backend cannot open the device", err);
        if (rc < 0)
            return rc;
        rc = fer_capture_read(s->cap, &s->pending, err);
        if (rc == FER_E_EOF)
            return camera_failure(s, "the device opened but delivers no frames", err);
        break;
    case FER_SOURCE_VIDEO:
        rc = check_readable(path, err);
        if (rc < 0)
            return rc;
        rc = fer_capture_open_file(&s->cap, path, err);
        if (rc == 0)
            rc = check_capture_size(s, err);
        if (rc < 0)
            return rc;
        rc = fer_capture_read(s->cap, &s->pending, err);
        if (rc == FER_E_EOF)
            return fer_fail(err, FER_E_UNSUPPORTED, "%s: no frame can be decoded", path);
        break;
    case FER_SOURCE_STREAM:
        /* Messages name a stream by s->name, its URL with any credential
         * masked (util/redact.h): they reach STATUS and the log. */
        rc = fer_capture_open_stream(&s->cap, path, s->opts.timeout_ms, err);
        if (rc == FER_E_UNSUPPORTED)
            return fer_fail(err, FER_E_LOST,
                            "%s: cannot open the stream (unreachable, refused, or not a video)",
                            s->name);
        if (rc == 0)
            rc = check_capture_size(s, err);
        if (rc < 0)
            return rc;
        rc = fer_capture_read(s->cap, &s->pending, err);
        if (rc == FER_E_EOF)
            return fer_fail(err, FER_E_LOST, "%s: the stream opened but delivers no frames",
                            s->name);
        break;
    case FER_SOURCE_IMAGE:
    case FER_SOURCE_IMAGES:
        if (s->list.n == 0) {
            if (s->spec.kind == FER_SOURCE_IMAGES) {
                rc = fer_image_list_load(&s->list, &s->spec, err);
            } else {
                /* A still is a list of one: the same reading and looping code. */
                rc = 0;
                s->list.paths = malloc(sizeof(char *) + strlen(path) + 1);
                if (!s->list.paths)
                    return fer_fail(err, -ENOMEM, "%s: out of memory", path);
                s->list.paths[0] = (char *)(s->list.paths + 1);
                strcpy(s->list.paths[0], path);
                s->list.n = 1;
            }
            if (rc < 0)
                return rc;
        }
        /* The first readable image; one that fails is reported by this open
         * and skipped by the next (read_list). */
        s->next = 0;
        rc = read_list(s, &s->pending, err);
        break;
    default:
        return fer_fail(err, -EINVAL, "%s: unknown source kind", path);
    }
    if (rc < 0)
        return rc;
    s->has_pending = 1;
    s->width = s->pending.w;
    s->height = s->pending.h;
    s->frames = s->list.n;
    s->fps = s->opts.fps > 0 ? s->opts.fps : 0;
    if (s->cap) {
        fer_capture_info ci;
        fer_capture_get_info(s->cap, &ci);
        s->frames = s->spec.kind == FER_SOURCE_VIDEO ? ci.frames : 0;
        if (ci.fps > 0)
            s->fps = ci.fps;
        if (s->spec.kind == FER_SOURCE_VIDEO && !(s->fps > 0))
            s->fps = DEFAULT_VIDEO_FPS;
    } else if (!(s->fps > 0)) {
        s->fps = DEFAULT_IMAGES_FPS;
    }
    int paced = s->opts.realtime && (s->spec.kind == FER_SOURCE_VIDEO ||
                                     s->spec.kind == FER_SOURCE_IMAGE ||
                                     s->spec.kind == FER_SOURCE_IMAGES);
    fer_pacer_init(&s->pacer, paced ? s->fps : 0.0);
    s->pacer.cancel = s->opts.cancel;
    return 0;
}

static void close_backend(fer_source *s)
{
    fer_capture_close(s->cap);
    s->cap = NULL;
    s->has_pending = 0;
}

int fer_source_open(fer_source **out, const char *spec, const fer_source_opts *opts,
                    fer_error *err)
{
    *out = NULL;
    fer_source *s = calloc(1, sizeof *s);
    if (!s)
        return fer_fail(err, -ENOMEM, "%s: out of memory", spec ? spec : "source");
    int rc = fer_source_parse(&s->spec, spec, err);
    if (rc == 0) {
        fer_redact(spec, s->name, sizeof s->name);
        if (opts)
            s->opts = *opts;
        else
            fer_source_opts_default(&s->opts);
        rc = open_backend(s, err);
    }
    if (rc < 0) {
        fer_source_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int fer_source_reopen(fer_source *s, fer_error *err)
{
    close_backend(s);
    fer_pacer_reset(&s->pacer);
    return open_backend(s, err);
}

/* The next frame of a capture back end into img. */
static int read_capture(fer_source *s, fer_image *img, fer_error *err)
{
    int rc = fer_capture_read(s->cap, img, err);
    if (rc == 0)
        return check_frame_size(s, img->w, img->h, err);
    if (rc != FER_E_EOF)
        return rc;
    if (s->spec.kind == FER_SOURCE_CAMERA) {
        struct stat st;
        if (stat(s->spec.path, &st) < 0)
            return fer_fail(err, FER_E_LOST, "%s: the device disappeared (unplugged?)",
                            s->spec.path);
        return fer_fail(err, FER_E_LOST, "%s: the camera stopped delivering frames",
                        s->spec.path);
    }
    if (s->spec.kind == FER_SOURCE_STREAM)
        return fer_fail(err, FER_E_LOST, "%s: the stream stopped delivering frames", s->name);
    if (!s->opts.loop)
        return fer_fail(err, FER_E_EOF, "%s: end of video", s->spec.path);
    rc = fer_capture_rewind(s->cap, err);
    if (rc < 0)
        return rc;
    rc = fer_capture_read(s->cap, img, err);
    if (rc == FER_E_EOF)
        return fer_fail(err, FER_E_EOF, "%s: no frame after rewinding", s->spec.path);
    return rc;
}

/* 1 if image i failed before and its file has not changed since. */
static int known_bad(const fer_source *s, int i)
{
    if (!s->bad || !s->bad[i].bad)
        return 0;
    struct stat st;
    if (stat(s->list.paths[i], &st) < 0)
        return 1; /* still not readable */
    return st.st_mtim.tv_sec == s->bad[i].mtime.tv_sec &&
           st.st_mtim.tv_nsec == s->bad[i].mtime.tv_nsec && st.st_size == s->bad[i].size;
}

/* Remembers that image i failed (or, ok = 1, that it reads again). */
static void mark_image(fer_source *s, int i, int ok)
{
    if (ok) {
        if (s->bad)
            s->bad[i].bad = 0;
        return;
    }
    if (!s->bad && !(s->bad = calloc((size_t)s->list.n, sizeof *s->bad)))
        return; /* out of memory: it is retried, and reported, on every pass */
    struct stat st;
    memset(&st, 0, sizeof st);
    stat(s->list.paths[i], &st);
    s->bad[i].bad = 1;
    s->bad[i].mtime = st.st_mtim;
    s->bad[i].size = st.st_size;
}

/*
 * The next image of the list into img, looping if asked. An image that
 * cannot be read is reported once (its error is returned, naming it) and then
 * skipped on every later pass until its file changes: a bad file in a
 * directory must not cost a decode and a log line per pass, forever (issue 13,
 * class 8). A list of which no image can be read is a lost source.
 */
static int read_list(fer_source *s, fer_image *img, fer_error *err)
{
    int i = -1;
    for (int tries = 0; tries <= s->list.n; tries++) {
        if (s->next >= s->list.n) {
            if (!s->opts.loop)
                return fer_fail(err, FER_E_EOF, "%s: end of %s", s->name,
                                s->list.n == 1 ? "image" : "images");
            s->next = 0;
        }
        i = s->next++;
        if (!known_bad(s, i))
            break;
        i = -1;
    }
    if (i < 0)
        return fer_fail(err, FER_E_LOST, "%s: none of its %d image%s can be read", s->name,
                        s->list.n, s->list.n == 1 ? "" : "s");
    if (s->list.n == 1 && s->still.data) {
        /* A looping still is decoded once and copied after that. */
        if (img->w != s->still.w || img->h != s->still.h || img->channels != 3 || !img->data) {
            fer_image_free(img);
            int rc = fer_image_alloc(img, s->still.w, s->still.h, 3);
            if (rc < 0)
                return fer_fail(err, rc, "%s: out of memory", s->name);
        }
        memcpy(img->data, s->still.data, (size_t)img->w * img->h * 3);
        return 0;
    }
    int rc = read_image(s, i, img, err);
    if (rc != -ENOMEM)
        mark_image(s, i, rc == 0);
    return rc;
}

int fer_source_read(fer_source *s, fer_frame *frame, fer_error *err)
{
    int rc;
    if (s->has_pending) {
        /* The frame read at open: hand over its buffer instead of copying. */
        s->has_pending = 0;
        if (s->list.n == 1 && !s->still.data && s->opts.loop) {
            rc = fer_image_alloc(&s->still, s->pending.w, s->pending.h, 3);
            if (rc < 0)
                return fer_fail(err, rc, "%s: out of memory", s->name);
            memcpy(s->still.data, s->pending.data, (size_t)s->still.w * s->still.h * 3);
        }
        fer_image_free(&frame->img);
        frame->img = s->pending;
        memset(&s->pending, 0, sizeof s->pending);
        rc = 0;
    } else if (s->cap) {
        rc = read_capture(s, &frame->img, err);
    } else {
        rc = read_list(s, &frame->img, err);
    }
    if (rc < 0)
        return rc;
    fer_pacer_wait(&s->pacer);
    fer_frame_stamp(frame);
    frame->seq = ++s->seq;
    s->width = frame->img.w;
    s->height = frame->img.h;
    return 0;
}

void fer_source_get_info(const fer_source *s, fer_source_info *info)
{
    memset(info, 0, sizeof *info);
    info->kind = s->spec.kind;
    info->width = s->width;
    info->height = s->height;
    info->fps = s->fps;
    info->frames = s->frames;
    info->name = s->name;
}

void fer_source_close(fer_source *s)
{
    if (!s)
        return;
    close_backend(s);
    fer_image_list_free(&s->list);
    free(s->bad);
    fer_image_free(&s->still);
    fer_image_free(&s->pending);
    free(s);
}
