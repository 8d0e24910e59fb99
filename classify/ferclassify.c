/*
 * ferclassify.c — libferclassify: the public face of libfer's vision pipeline
 * for programs that classify images in their own process (the API and its
 * promises are in ferclassify.h).
 *
 * Design. This file adds no image processing of its own. A handle owns one
 * model and one fer_pipeline set for stills by fer_pipeline_opts_still(), the
 * settings `fer classify` uses, and every call resets the pipeline and runs it
 * on the image, exactly as `fer classify` does per file; caller-given boxes go
 * through fer_pipeline_process_boxes(), the same crop, network and softmax
 * minus the search. What is here is translation: caller pixels of any stride
 * and channel order into the pipeline's packed frame, the pipeline's result
 * into the public structs (and back, for the JSON encoder that proto/ shares
 * with the daemon), libfer's fer_error into the public one.
 *
 * A pipeline belongs to one thread at a time, so each handle has a mutex held
 * for the whole of a call. Decoding a file or buffer happens before taking it,
 * into memory of the call's own, so threads sharing a handle overlap their
 * decoding at least. The packed copy of raw pixels lives in the handle (under
 * the lock) and is reused while the image size stays the same.
 *
 * The shared object links libfer statically and exports only the
 * fer_classifier_* functions (ferclassify.map plus hidden visibility), so a
 * host program never sees, or clashes with, libfer's symbols.
 */
#define FER_CLASSIFY_BUILDING 1
#include "ferclassify.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cv/detect.h"
#include "cv/image.h"
#include "net/model.h"
#include "nn/layers.h"
#include "util/paths.h"
#include "proto/result_json.h"
#include "vision/frame.h"
#include "vision/pipeline.h"

/* The public structs mirror proto/result.h's limits: a face or class the pipeline
 * reports always fits. */
_Static_assert(FER_CLASSIFIER_MAX_FACES == FER_RESULT_MAX_FACES, "face limit differs");
_Static_assert(FER_CLASSIFIER_MAX_CLASSES == FER_RESULT_MAX_CLASSES, "class limit differs");
_Static_assert(FER_CLASSIFIER_CLASS_NAME == FER_RESULT_CLASS_NAME, "class name size differs");
_Static_assert(sizeof(((fer_classifier_error *)0)->msg) == sizeof(((fer_error *)0)->msg),
               "error message size differs");

/* Largest side of a raw image: far beyond any camera, and keeps w * h * 3 in an int. */
#define MAX_SIDE 32767

struct fer_classifier {
    pthread_mutex_t mu;     /* held for a whole call: the pipeline is single-threaded */
    fer_model *model;
    fer_pipeline *pl;
    fer_frame frame;        /* packed copy of the caller's raw pixels (under mu) */
    uint64_t seq;           /* calls so far (under mu) */
    char path[4096];
};

/* Copies libfer's error into the caller's (which may be NULL); returns its code. */
static int give(fer_classifier_error *out, const fer_error *e)
{
    if (out) {
        out->code = e->code;
        memcpy(out->msg, e->msg, sizeof out->msg);
        out->msg[sizeof out->msg - 1] = '\0';
    }
    return e->code;
}

/* fer_fail into a local fer_error, handed on to the caller's. */
#define FAIL(out, code, ...)                                                                  \
    do {                                                                                      \
        fer_error e_ = {0};                                                                   \
        fer_fail(&e_, (code), __VA_ARGS__);                                                   \
        return give((out), &e_);                                                              \
    } while (0)

static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The engine caches the processor's instruction set in a plain static on first use;
 * decide it here, once, before two handles could race to. */
static void init_once(void)
{
    (void)fer_gemm_avx512(-1);
}

const char *fer_classifier_version(void)
{
    return FER_VERSION;
}

void fer_classifier_opts_init(fer_classifier_opts *o)
{
    if (!o)
        return;
    fer_pipeline_opts po;
    fer_pipeline_opts_still(&po);
    memset(o, 0, sizeof *o);
    o->cascade = NULL;
    o->max_faces = po.max_faces;
    o->largest_only = po.largest_only;
    o->detect_width = po.detect_width;
    o->scale_factor = po.scale_factor;
    o->min_neighbors = po.min_neighbors;
    o->min_face = po.min_face;
}

/* The public options onto the still-image pipeline settings; -EINVAL names the
 * first value out of range (the pipeline checks the rest of its own). */
static int to_pipeline_opts(fer_pipeline_opts *po, const fer_classifier_opts *o,
                            fer_classifier_error *err)
{
    fer_pipeline_opts_still(po);
    if (!o)
        return 0;
    if (o->max_faces < 1 || o->max_faces > FER_CLASSIFIER_MAX_FACES)
        FAIL(err, -EINVAL, "max_faces %d is not in [1, %d]", o->max_faces,
             FER_CLASSIFIER_MAX_FACES);
    if (o->detect_width < 0 || o->detect_width > 100000)
        FAIL(err, -EINVAL, "detect_width %d is not in [0, 100000]", o->detect_width);
    if (!(o->scale_factor > 1.0 && o->scale_factor <= 4.0))
        FAIL(err, -EINVAL, "scale_factor %g is not in (1, 4]", o->scale_factor);
    if (o->min_neighbors < 0 || o->min_neighbors > 100)
        FAIL(err, -EINVAL, "min_neighbors %d is not in [0, 100]", o->min_neighbors);
    if (o->min_face < 0 || o->min_face > 100000)
        FAIL(err, -EINVAL, "min_face %d is not in [0, 100000]", o->min_face);
    po->cascade = o->cascade;
    po->max_faces = o->max_faces;
    po->largest_only = o->largest_only != 0;
    po->detect_width = o->detect_width;
    po->scale_factor = o->scale_factor;
    po->min_neighbors = o->min_neighbors;
    po->min_face = o->min_face;
    return 0;
}

int fer_classifier_open(fer_classifier **out, const char *model_path,
                        const fer_classifier_opts *opts, fer_classifier_error *err)
{
    if (!out)
        FAIL(err, -EINVAL, "fer_classifier_open: NULL handle pointer");
    *out = NULL;
    pthread_once(&once, init_once);
    fer_pipeline_opts po;
    int rc = to_pipeline_opts(&po, opts, err);
    if (rc < 0)
        return rc;
    fer_classifier *c = calloc(1, sizeof *c);
    if (!c)
        FAIL(err, -ENOMEM, "fer_classifier_open: out of memory");
    if (fer_find_model(model_path, c->path, sizeof c->path) < 0) {
        fer_error e = {0};
        fer_fail(&e, -ENOENT, "no model given and no default model: set FER_MODEL or install "
                 "ferd's models (looked for %s)", c->path);
        free(c);
        return give(err, &e);
    }
    if (strlen(c->path) >= sizeof c->path - 1) {
        free(c);
        FAIL(err, -ENAMETOOLONG, "model path too long");
    }
    fer_error e = {0};
    /* As `fer classify`: the batch holds every face an image may report. */
    rc = fer_model_load(&c->model, c->path, po.max_faces, FER_LOAD_INFER, &e);
    if (rc == 0)
        rc = fer_pipeline_create(&c->pl, &po, c->model, &e);
    if (rc == 0 && pthread_mutex_init(&c->mu, NULL) != 0)
        rc = fer_fail(&e, -ENOMEM, "fer_classifier_open: cannot create a mutex");
    if (rc < 0) {
        fer_pipeline_free(c->pl);
        fer_model_free(c->model);
        free(c);
        return give(err, &e);
    }
    *out = c;
    return 0;
}

void fer_classifier_close(fer_classifier *c)
{
    if (!c)
        return;
    fer_pipeline_free(c->pl);
    fer_model_free(c->model);
    fer_frame_free(&c->frame);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int fer_classifier_nclasses(const fer_classifier *c)
{
    return c ? c->model->net->arch->nclasses : 0;
}

const char *fer_classifier_class_name(const fer_classifier *c, int i)
{
    if (!c || i < 0 || i >= c->model->net->arch->nclasses)
        return "";
    return c->model->net->arch->classes[i];
}

const char *fer_classifier_model_path(const fer_classifier *c)
{
    return c ? c->path : "";
}

const char *fer_classifier_model_name(const fer_classifier *c)
{
    return c ? c->model->net->arch->name : "";
}

/* The pipeline's result in the public struct. */
static void to_public(fer_classifier_result *out, const fer_frame_result *r)
{
    memset(out, 0, sizeof *out);
    out->seq = r->seq;
    out->wall_ms = r->wall_ms;
    out->mono_ns = r->mono_ns;
    out->width = r->width;
    out->height = r->height;
    out->detect_ms = r->detect_ms;
    out->classify_ms = r->classify_ms;
    out->total_ms = r->total_ms;
    out->nclasses = r->nclasses;
    out->nfaces = r->nfaces;
    for (int i = 0; i < r->nfaces; i++) {
        const fer_face_result *f = &r->faces[i];
        fer_classifier_face *g = &out->faces[i];
        g->id = f->id;
        g->box = (fer_classifier_box){f->box.x, f->box.y, f->box.w, f->box.h};
        g->label = f->label;
        g->prob = f->prob;
        memcpy(g->scores, f->scores, sizeof g->scores);
        g->smoothed_label = f->smoothed_label;
        g->smoothed_prob = f->smoothed_prob;
        g->is_new = (f->events & FER_FACE_NEW) != 0;
    }
}

/*
 * One image through the pipeline, under the handle's lock: a fresh start (no
 * track carries over from the previous image, as in `fer classify`), then a
 * search or the caller's boxes. frame->img is the packed image; seq and times
 * are stamped here.
 */
static int run(fer_classifier *c, fer_frame *frame, const fer_classifier_box *boxes,
               int nboxes, fer_classifier_result *res, fer_classifier_error *err)
{
    fer_box given[FER_CLASSIFIER_MAX_FACES];
    for (int i = 0; boxes && i < nboxes && i < FER_CLASSIFIER_MAX_FACES; i++)
        given[i] = (fer_box){boxes[i].x, boxes[i].y, boxes[i].w, boxes[i].h};
    fer_frame_stamp(frame);
    frame->seq = ++c->seq;
    fer_frame_result r;
    fer_error e = {0};
    fer_pipeline_reset(c->pl);
    int rc = boxes ? fer_pipeline_process_boxes(c->pl, frame, given, nboxes, &r, &e)
                   : fer_pipeline_process(c->pl, frame, &r, &e);
    if (rc < 0)
        return give(err, &e);
    to_public(res, &r);
    return 0;
}

/* Checks what every classify call shares: handle, result, boxes. */
static int check_call(const fer_classifier *c, const fer_classifier_box *boxes, int nboxes,
                      const fer_classifier_result *res, fer_classifier_error *err)
{
    if (!c || !res)
        FAIL(err, -EINVAL, "NULL classifier or result");
    if (nboxes < 0 || nboxes > FER_CLASSIFIER_MAX_FACES || (nboxes > 0 && !boxes))
        FAIL(err, -EINVAL, "%d boxes given (0 to %d, and a box array when not 0)", nboxes,
             FER_CLASSIFIER_MAX_FACES);
    return 0;
}

/* Row-by-row copy of img into the packed 1- or 3-channel dst, channel order BGR. */
static void pack(fer_image *dst, const fer_classifier_image *img)
{
    const size_t row = (size_t)img->width * (size_t)dst->channels;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *s = img->data + (size_t)y * img->stride;
        uint8_t *d = dst->data + (size_t)y * row;
        if (img->format != FER_PIXELS_RGB) {
            memcpy(d, s, row);
            continue;
        }
        for (int x = 0; x < img->width; x++, s += 3, d += 3) {
            d[0] = s[2];
            d[1] = s[1];
            d[2] = s[0];
        }
    }
}

int fer_classifier_classify(fer_classifier *c, const fer_classifier_image *img,
                            const fer_classifier_box *boxes, int nboxes,
                            fer_classifier_result *res, fer_classifier_error *err)
{
    int rc = check_call(c, boxes, nboxes, res, err);
    if (rc < 0)
        return rc;
    if (!img || !img->data)
        FAIL(err, -EINVAL, "image: no pixels");
    if (img->format != FER_PIXELS_GREY && img->format != FER_PIXELS_BGR &&
        img->format != FER_PIXELS_RGB)
        FAIL(err, -EINVAL, "image: unknown pixel format %d", img->format);
    const int ch = img->format == FER_PIXELS_GREY ? 1 : 3;
    if (img->width < 1 || img->height < 1 || img->width > MAX_SIDE || img->height > MAX_SIDE)
        FAIL(err, -EINVAL, "image: size %dx%d is not within 1x1 .. %dx%d", img->width,
             img->height, MAX_SIDE, MAX_SIDE);
    if (img->stride < (size_t)img->width * ch)
        FAIL(err, -EINVAL, "image: stride %zu is below width x %d bytes (%d)", img->stride, ch,
             img->width * ch);

    pthread_mutex_lock(&c->mu);
    fer_image *packed = &c->frame.img;
    if (packed->w != img->width || packed->h != img->height || packed->channels != ch) {
        fer_image_free(packed);
        rc = fer_image_alloc(packed, img->width, img->height, ch);
        if (rc < 0) {
            pthread_mutex_unlock(&c->mu);
            FAIL(err, rc, "image: cannot hold a %dx%d copy", img->width, img->height);
        }
    }
    pack(packed, img);
    rc = run(c, &c->frame, boxes, nboxes, res, err);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* A decoded image (owned by frame) through run(). */
static int run_decoded(fer_classifier *c, fer_frame *frame, const fer_classifier_box *boxes,
                       int nboxes, fer_classifier_result *res, fer_classifier_error *err)
{
    pthread_mutex_lock(&c->mu);
    int rc = run(c, frame, boxes, nboxes, res, err);
    pthread_mutex_unlock(&c->mu);
    fer_frame_free(frame);
    return rc;
}

/* An image that did not decode still takes its sequence number, as a file that fails
 * does in `fer classify`, so the numbers of the others match its output. */
static int skip(fer_classifier *c, fer_classifier_error *err, const fer_error *e)
{
    pthread_mutex_lock(&c->mu);
    c->seq++;
    pthread_mutex_unlock(&c->mu);
    return give(err, e);
}

int fer_classifier_classify_encoded(fer_classifier *c, const void *buf, size_t len,
                                    const fer_classifier_box *boxes, int nboxes,
                                    fer_classifier_result *res, fer_classifier_error *err)
{
    int rc = check_call(c, boxes, nboxes, res, err);
    if (rc < 0)
        return rc;
    if (!buf && len > 0)
        FAIL(err, -EINVAL, "image in memory: NULL buffer");
    fer_frame frame = {0};
    fer_error e = {0};
    /* BGR, as `fer classify` reads files: a grey model converts it the same way. */
    rc = fer_image_decode(&frame.img, buf, len, 0, &e);
    if (rc < 0)
        return skip(c, err, &e);
    return run_decoded(c, &frame, boxes, nboxes, res, err);
}

int fer_classifier_classify_file(fer_classifier *c, const char *path,
                                 const fer_classifier_box *boxes, int nboxes,
                                 fer_classifier_result *res, fer_classifier_error *err)
{
    int rc = check_call(c, boxes, nboxes, res, err);
    if (rc < 0)
        return rc;
    if (!path)
        FAIL(err, -EINVAL, "NULL image path");
    fer_frame frame = {0};
    fer_error e = {0};
    rc = fer_image_read(&frame.img, path, 0, &e);
    if (rc < 0)
        return skip(c, err, &e);
    return run_decoded(c, &frame, boxes, nboxes, res, err);
}

int fer_classifier_result_json(const fer_classifier *c, const fer_classifier_result *res,
                               const char *path, unsigned flags, char *buf, size_t size)
{
    if (!c || !res || (!buf && size > 0) || res->nfaces < 0 ||
        res->nfaces > FER_CLASSIFIER_MAX_FACES)
        return -EINVAL;
    /* Back into the pipeline's struct, class names from the model. */
    fer_frame_result r;
    memset(&r, 0, sizeof r);
    r.seq = res->seq;
    r.wall_ms = res->wall_ms;
    r.mono_ns = res->mono_ns;
    r.width = res->width;
    r.height = res->height;
    r.detect_ms = res->detect_ms;
    r.classify_ms = res->classify_ms;
    r.total_ms = res->total_ms;
    r.nclasses = fer_classifier_nclasses(c);
    for (int k = 0; k < r.nclasses; k++)
        snprintf(r.classes[k], sizeof r.classes[k], "%s", fer_classifier_class_name(c, k));
    r.has_scores = 1;
    r.nfaces = res->nfaces;
    for (int i = 0; i < res->nfaces; i++) {
        const fer_classifier_face *g = &res->faces[i];
        fer_face_result *f = &r.faces[i];
        f->id = g->id;
        f->box = (fer_box){g->box.x, g->box.y, g->box.w, g->box.h};
        f->label = g->label;
        f->prob = g->prob;
        memcpy(f->scores, g->scores, sizeof f->scores);
        f->smoothed_label = g->smoothed_label;
        f->smoothed_prob = g->smoothed_prob;
        f->events = g->is_new ? FER_FACE_NEW : 0;
        f->previous_label = -1;
    }
    cJSON *o = fer_result_to_cjson(&r, flags & FER_CLASSIFIER_JSON_NO_SCORES ? FER_JSON_NO_SCORES
                                                                             : 0);
    char *line = NULL;
    if (o && (!path || cJSON_AddStringToObject(o, "path", path)))
        line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line)
        return -ENOMEM;
    size_t len = strlen(line);
    if (len > INT_MAX) {
        free(line);
        return -ENOMEM;
    }
    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(buf, line, n);
        buf[n] = '\0';
    }
    free(line);
    return (int)len;
}

void fer_classifier_set_threads(int n)
{
    if (n < 1)
        n = 1;
    fer_set_threads(n);
    fer_detect_set_threads(n);
}

const char *fer_classifier_strerror(int code)
{
    return fer_strerror(code);
}
