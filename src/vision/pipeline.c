/*
 * pipeline.c — detection scheduling, batching, tracking and result filling (the
 * policy is described in pipeline.h).
 *
 * Per frame, phase one (find): grey conversion; the clean start after a gap;
 * the still test against a coarse grid of the last processed frame; the face
 * search (full, or near each track); selection of the largest max_faces;
 * association with tracks; one crop per face (and with tta flip its mirror)
 * into the job's input batch (or a note to reuse the track's scores when its
 * crop did not change). Phase two (finish): the forward passes; probabilities
 * (the two views averaged with tta flip); smoothing; the result.
 *
 * Who touches what, so the phases can overlap on two threads: find owns the
 * detector, the grey image, the still grid, the tracker's tracks[] and the
 * crop cache (crops, crop_id, crop_age); finish owns the network, the
 * tracker's averages (avg[], by id), crop_probs and the last result. A job
 * carries everything between them. Statistics are split the same way.
 * Every buffer is allocated when the pipeline (or a job) is created or the
 * model swapped, none per frame.
 */
#include "vision/pipeline.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cv/detect.h"
#include "nn/layers.h"
#include "vision/pace.h"
#include "vision/preprocess.h"

/* Spacing of the grid the still test compares, in pixels. */
#define STILL_STEP 8
/* Most boxes one search may return before selection. */
#define MAX_HITS 64

struct fer_pipeline_job {
    size_t in_size;             /* c*h*w of the model it was made for */
    float *input;               /* (2 FER_RESULT_MAX_FACES, c, h, w): the crops to classify,
                                 * then (tta flip) their mirrors */
    int nviews;                 /* 1, or 2 with tta flip */
    float view_probs[2 * FER_RESULT_MAX_FACES][FER_RESULT_MAX_CLASSES]; /* per input row */
    int rc;                     /* find's outcome: finish reports it */
    uint64_t seq;
    int64_t wall_ms;
    uint64_t mono_ns;
    int width, height;
    int still;                  /* nothing moved: repeat the last result */
    int n;                      /* faces, in report order */
    fer_box box[FER_RESULT_MAX_FACES];
    int id[FER_RESULT_MAX_FACES];         /* track id, 0 = none */
    int is_new[FER_RESULT_MAX_FACES];
    int reuse[FER_RESULT_MAX_FACES];      /* >= 0: reuse crop_probs of this slot */
    int cache[FER_RESULT_MAX_FACES];      /* >= 0: store the new probabilities in this slot */
    int row[FER_RESULT_MAX_FACES];        /* the face's row in input, -1 when reused */
    int ntodo;                  /* rows in input */
    int nended;
    int ended[FER_RESULT_MAX_ENDED];
    double find_ms, crop_ms;    /* phase one's time; the cropping part of it */
};

struct fer_pipeline {
    fer_pipeline_opts o;
    fer_detector *det;
    fer_model *model;           /* borrowed */
    int c, h, w, k;             /* network input shape and class count */
    size_t in_size;             /* c*h*w */
    fer_pipeline_job *job;      /* fer_pipeline_process's own */
    uint8_t *crops;             /* (FER_TRACK_MAX, h*w*c): each slot's last classified crop */
    int crop_id[FER_TRACK_MAX]; /* track id the slot's crop belongs to, 0 = none */
    int crop_age[FER_TRACK_MAX];/* frames since that crop was classified */
    float crop_probs[FER_TRACK_MAX][FER_RESULT_MAX_CLASSES];
    uint8_t *scratch;           /* h*w*3: the 8-bit crop being made */
    fer_image grey;             /* the frame in grey */
    uint8_t *grid;              /* still test: last processed frame, every STILL_STEP pixels */
    size_t grid_len;
    int grid_w, grid_h;         /* frame size the grid belongs to; 0 = none */
    fer_tracker tracker;
    int since_full;             /* frames since the last full detection */
    int need_full;              /* a tracked face was lost: search everything next frame */
    int restart_pending;        /* fer_pipeline_restart: the next frame starts clean */
    uint64_t last_mono_ns;      /* capture time of the last processed frame; 0 = none */
    int grid_has_result;        /* find: the grid's frame went to finish as a processed frame */
    fer_frame_result last;      /* finish: repeated for still frames */
    int have_last;              /* finish: last is valid */
    fer_pipeline_stats stats;
};

void fer_pipeline_opts_default(fer_pipeline_opts *o)
{
    memset(o, 0, sizeof *o);
    o->cascade = NULL;
    o->detect_width = 320;
    o->scale_factor = 1.1;
    o->min_neighbors = 3;
    o->min_face = 48;
    o->max_face = 0;
    o->equalize = FER_EQUALIZE_CLAHE;
    o->full_every = 10;
    o->track_search = 1;
    o->search_margin = 0.3f;
    o->search_face_px = 56;
    o->search_range = 1.25f;
    o->still_threshold = 1.0f;
    o->face_threshold = 0.0f;
    o->face_refresh = 10;
    o->largest_only = 0;
    o->max_faces = 8;
    o->gap_ms = 1000;
    fer_tracker_opts_default(&o->tracker);
}

void fer_pipeline_opts_still(fer_pipeline_opts *o)
{
    fer_pipeline_opts_default(o);
    /* Search everything every time, at a width that keeps large photos quick but
     * small faces findable; nothing to track, smooth or skip. */
    o->detect_width = 640;
    o->min_neighbors = 4;
    o->min_face = 24;
    o->full_every = 1;
    o->track_search = 0;
    o->still_threshold = 0;
    o->face_threshold = 0;
    o->gap_ms = 0;
    o->tracker.alpha = 0;
    o->tracker.hold_margin = 0;
    o->tracker.hold_ms = 0;
}

static double ms_since(uint64_t t0)
{
    return (double)(fer_mono_ns() - t0) / 1e6;
}

static int check_opts(const fer_pipeline_opts *o, fer_error *err)
{
    int ok = o->detect_width >= 0 && o->scale_factor > 1.0 && o->scale_factor <= 4.0 &&
             o->min_neighbors >= 0 && o->equalize >= 0 && o->equalize <= FER_EQUALIZE_GLOBAL &&
             o->min_face >= 0 && o->max_face >= 0 &&
             (o->max_face == 0 || o->max_face >= o->min_face) && o->full_every >= 1 &&
             o->search_margin >= 0 && o->search_margin <= 4 && o->search_face_px >= 24 &&
             o->search_face_px <= 400 && o->search_range >= 1.05f && o->search_range <= 4 &&
             o->still_threshold >= 0 && o->face_threshold >= 0 && o->face_refresh >= 1 &&
             o->max_faces >= 1 && o->max_faces <= FER_RESULT_MAX_FACES && o->gap_ms >= 0 &&
             (o->tta == FER_TTA_NONE || o->tta == FER_TTA_FLIP);
    if (!ok)
        return fer_fail(err, -EINVAL,
                        "pipeline: option out of range (scale factor in (1, 4], full_every >= 1, "
                        "search_face_px in [24, 400], search_range in [1.05, 4], max_faces in "
                        "[1, %d], thresholds >= 0, gap_ms >= 0, max_face >= min_face, tta none "
                        "or flip)",
                        FER_RESULT_MAX_FACES);
    return 0;
}

static fer_pipeline_job *job_alloc(size_t in_size)
{
    fer_pipeline_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->in_size = in_size;
    j->nviews = 1;
    j->input = malloc(sizeof(float) * 2 * FER_RESULT_MAX_FACES * in_size);
    if (!j->input) {
        free(j);
        return NULL;
    }
    return j;
}

int fer_pipeline_job_new(const fer_pipeline *p, fer_pipeline_job **out)
{
    *out = job_alloc(p->in_size);
    return *out ? 0 : -ENOMEM;
}

void fer_pipeline_job_free(fer_pipeline_job *j)
{
    if (!j)
        return;
    free(j->input);
    free(j);
}

int fer_pipeline_model_fits(const fer_model *m, fer_error *err)
{
    if (!m || !m->net || !m->net->arch)
        return fer_fail(err, -EINVAL, "no model");
    const fer_arch *a = m->net->arch;
    if ((a->in_c != 1 && a->in_c != 3) || a->in_h < 1 || a->in_w < 1 ||
        a->in_w * a->in_c > FER_PREPROC_MAX_ROW || a->nclasses < 1 ||
        a->nclasses > FER_RESULT_MAX_CLASSES || m->net->max_batch < 1)
        return fer_fail(err, -EINVAL,
                        "the pipeline cannot feed a model of input %dx%dx%d with %d classes and "
                        "batch %d (it needs 1 or 3 channels, at most %d classes)", a->in_c,
                        a->in_h, a->in_w, a->nclasses, m->net->max_batch,
                        FER_RESULT_MAX_CLASSES);
    if ((a->in_c == 1) != (m->pre.grey != 0))
        return fer_fail(err, -EINVAL, "the model's input has %d channel(s) but its "
                        "preprocessing says grey = %d", a->in_c, m->pre.grey);
    return 0;
}

int fer_pipeline_set_model(fer_pipeline *p, fer_model *m, fer_error *err)
{
    int rc = fer_pipeline_model_fits(m, err);
    if (rc < 0)
        return rc;
    const fer_arch *a = m->net->arch;
    size_t in_size = (size_t)a->in_c * a->in_h * a->in_w;
    fer_pipeline_job *job = job_alloc(in_size);
    uint8_t *crops = malloc((size_t)FER_TRACK_MAX * in_size);
    uint8_t *scratch = malloc((size_t)a->in_h * a->in_w * 3);
    if (!job || !crops || !scratch) {
        fer_pipeline_job_free(job);
        free(crops);
        free(scratch);
        return fer_fail(err, -ENOMEM, "pipeline: out of memory");
    }
    fer_pipeline_job_free(p->job);
    free(p->crops);
    free(p->scratch);
    p->job = job;
    p->crops = crops;
    p->scratch = scratch;
    p->model = m;
    p->c = a->in_c;
    p->h = a->in_h;
    p->w = a->in_w;
    p->k = a->nclasses;
    p->in_size = in_size;
    memset(p->crop_id, 0, sizeof p->crop_id);
    fer_tracker_reset_smoothing(&p->tracker);
    p->have_last = 0; /* a still frame must not repeat the old model's scores */
    p->grid_has_result = 0;
    return 0;
}

int fer_pipeline_create(fer_pipeline **out, const fer_pipeline_opts *opts, fer_model *model,
                        fer_error *err)
{
    *out = NULL;
    fer_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return fer_fail(err, -ENOMEM, "pipeline: out of memory");
    if (opts)
        p->o = *opts;
    else
        fer_pipeline_opts_default(&p->o);
    int rc = check_opts(&p->o, err);
    if (rc == 0)
        rc = fer_detector_load(&p->det, p->o.cascade ? p->o.cascade : FER_CASCADE_DEFAULT, err);
    p->o.cascade = NULL; /* not kept: the caller's string may not outlive us */
    fer_tracker_init(&p->tracker, &p->o.tracker);
    if (rc == 0)
        rc = fer_pipeline_set_model(p, model, err);
    if (rc < 0) {
        fer_pipeline_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void fer_pipeline_free(fer_pipeline *p)
{
    if (!p)
        return;
    fer_detector_free(p->det);
    fer_pipeline_job_free(p->job);
    free(p->crops);
    free(p->scratch);
    free(p->grid);
    fer_image_free(&p->grey);
    free(p);
}

int fer_pipeline_set_tta(fer_pipeline *p, int tta, fer_error *err)
{
    if (tta != FER_TTA_NONE && tta != FER_TTA_FLIP)
        return fer_fail(err, -EINVAL, "pipeline: test-time augmentation %d is neither none nor "
                        "flip", tta);
    if (tta != p->o.tta) {
        p->o.tta = tta;
        memset(p->crop_id, 0, sizeof p->crop_id); /* cached scores were of the other rule */
        p->have_last = 0;
    }
    return 0;
}

void fer_pipeline_reset(fer_pipeline *p)
{
    fer_tracker_clear(&p->tracker);
    fer_tracker_reset_smoothing(&p->tracker);
    memset(p->crop_id, 0, sizeof p->crop_id);
    p->grid_w = p->grid_h = 0;
    p->grid_has_result = 0;
    p->have_last = 0;
    p->need_full = 1;
    p->since_full = 0;
    p->restart_pending = 0;
    p->last_mono_ns = 0;
}

void fer_pipeline_restart(fer_pipeline *p)
{
    p->restart_pending = 1;
}

/*
 * Starts clean when frame comes after a gap or a fer_pipeline_restart: the live
 * tracks end (their ids kept for this frame's result), and the state that
 * would carry the past into this frame — tracks, cached crops, the still
 * test's grid and last result — is forgotten, with a full search due.
 */
static void maybe_restart(fer_pipeline *p, const fer_frame *frame, fer_pipeline_job *job)
{
    int gap = p->o.gap_ms > 0 && p->last_mono_ns &&
              frame->mono_ns > p->last_mono_ns + (uint64_t)p->o.gap_ms * 1000000ull;
    if (frame->mono_ns)
        p->last_mono_ns = frame->mono_ns;
    if (!gap && !p->restart_pending)
        return;
    for (int s = 0; s < FER_TRACK_MAX && job->nended < FER_RESULT_MAX_ENDED; s++)
        if (p->tracker.tracks[s].id != 0)
            job->ended[job->nended++] = p->tracker.tracks[s].id;
    fer_tracker_clear(&p->tracker);
    memset(p->crop_id, 0, sizeof p->crop_id);
    p->grid_w = p->grid_h = 0;
    p->grid_has_result = 0;
    p->need_full = 1;
    p->since_full = 0;
    p->restart_pending = 0;
    p->stats.restarts++;
}

void fer_pipeline_get_stats(const fer_pipeline *p, fer_pipeline_stats *s)
{
    *s = p->stats;
}

/*
 * The still test. Compares the grey frame with the grid kept from the last
 * processed frame: 1 if the mean absolute difference is below the threshold.
 * When the frame counts as changed, the grid is refreshed from it (so drift is
 * measured from the last frame actually processed, and slow change accumulates).
 */
static int frame_is_still(fer_pipeline *p, fer_error *err, int *rc)
{
    *rc = 0;
    const fer_image *g = &p->grey;
    int gw = (g->w + STILL_STEP - 1) / STILL_STEP, gh = (g->h + STILL_STEP - 1) / STILL_STEP;
    size_t n = (size_t)gw * gh;
    if (n > p->grid_len) {
        uint8_t *grid = realloc(p->grid, n);
        if (!grid) {
            *rc = fer_fail(err, -ENOMEM, "pipeline: out of memory");
            return 0;
        }
        p->grid = grid;
        p->grid_len = n;
        p->grid_w = p->grid_h = 0;
    }
    int comparable = p->grid_w == g->w && p->grid_h == g->h && p->grid_has_result;
    long long sum = 0;
    if (comparable) {
        size_t i = 0;
        for (int y = 0; y < g->h; y += STILL_STEP)
            for (int x = 0; x < g->w; x += STILL_STEP, i++)
                sum += abs((int)g->data[(size_t)y * g->w + x] - (int)p->grid[i]);
        if ((double)sum < p->o.still_threshold * (double)n)
            return 1;
    }
    size_t i = 0;
    for (int y = 0; y < g->h; y += STILL_STEP)
        for (int x = 0; x < g->w; x += STILL_STEP)
            p->grid[i++] = g->data[(size_t)y * g->w + x];
    p->grid_w = g->w;
    p->grid_h = g->h;
    return 0;
}

/* Adds b to hits unless it overlaps one already there (two regions can find the
 * same face). */
static void add_hit(fer_box *hits, int *n, fer_box b)
{
    for (int i = 0; i < *n; i++)
        if (fer_box_iou(hits[i], b) > 0.5f)
            return;
    if (*n < MAX_HITS)
        hits[(*n)++] = b;
}

/* Searches near track tr: a region around its last box, resized so the face is
 * about search_face_px wide, for faces within search_range of its size. Returns the
 * number of boxes added to hits, or a negative error. */
static int search_near(fer_pipeline *p, const fer_track *tr, fer_box *hits, int *nhits,
                       fer_error *err)
{
    const fer_box b = tr->box;
    const fer_image *g = &p->grey;
    int side = b.w > b.h ? b.w : b.h;
    int grow = (int)lroundf(p->o.search_margin * (float)side);
    int x0 = b.x - grow, y0 = b.y - grow, x1 = b.x + b.w + grow, y1 = b.y + b.h + grow;
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > g->w ? g->w : x1;
    y1 = y1 > g->h ? g->h : y1;
    if (x1 - x0 < 1 || y1 - y0 < 1)
        return 0;
    fer_detect_req q = {
        .roi = {x0, y0, x1 - x0, y1 - y0},
        .scale = (double)p->o.search_face_px / side,
        .min_side = (int)floorf((float)side / p->o.search_range),
        .max_side = (int)ceilf((float)side * p->o.search_range),
        .scale_factor = p->o.scale_factor,
        .min_neighbors = p->o.min_neighbors,
        .equalize = p->o.equalize,
    };
    if (q.scale > 2.0)
        q.scale = 2.0;
    fer_box found[MAX_HITS];
    int n = 0;
    int rc = fer_detect_run(p->det, g, &q, found, MAX_HITS, &n, err);
    if (rc < 0)
        return rc;
    p->stats.region_searches++;
    /* Keep the hit closest to the track's box: a region holds one face of that size. */
    int best = -1;
    float best_iou = -1;
    for (int i = 0; i < n; i++) {
        float iou = fer_box_iou(found[i], b);
        if (iou > best_iou) {
            best_iou = iou;
            best = i;
        }
    }
    if (best < 0)
        return 0;
    add_hit(hits, nhits, found[best]);
    return 1;
}

/* A full search of the frame at the detection width. */
static int search_full(fer_pipeline *p, fer_box *hits, int *nhits, fer_error *err)
{
    const fer_image *g = &p->grey;
    double scale = 1.0;
    if (p->o.detect_width > 0 && p->o.detect_width < g->w)
        scale = (double)p->o.detect_width / g->w;
    fer_detect_req q = {
        .roi = {0, 0, g->w, g->h},
        .scale = scale,
        .min_side = p->o.min_face,
        .max_side = p->o.max_face,
        .scale_factor = p->o.scale_factor,
        .min_neighbors = p->o.min_neighbors,
        .equalize = p->o.equalize,
    };
    fer_box found[MAX_HITS];
    int n = 0;
    int rc = fer_detect_run(p->det, g, &q, found, MAX_HITS, &n, err);
    if (rc < 0)
        return rc;
    p->stats.full_detections++;
    for (int i = 0; i < n; i++)
        add_hit(hits, nhits, found[i]);
    return 0;
}

/* Finds this frame's faces into hits (unsorted): a full search when due, then a
 * search near every live track the full search did not already find. */
static int find_faces(fer_pipeline *p, fer_box *hits, int *nhits, fer_error *err)
{
    *nhits = 0;
    int live = 0;
    for (int s = 0; s < FER_TRACK_MAX; s++)
        live += p->tracker.tracks[s].id != 0;
    int full = !p->o.track_search || live == 0 || p->need_full ||
               p->since_full + 1 >= p->o.full_every;
    int rc;
    if (full) {
        rc = search_full(p, hits, nhits, err);
        if (rc < 0)
            return rc;
        p->since_full = 0;
    } else {
        p->since_full++;
    }
    p->need_full = 0;
    if (!p->o.track_search)
        return 0;
    for (int s = 0; s < FER_TRACK_MAX; s++) {
        const fer_track *tr = &p->tracker.tracks[s];
        if (tr->id == 0)
            continue;
        int seen = 0;
        for (int i = 0; i < *nhits && !seen; i++)
            seen = fer_box_iou(hits[i], tr->box) >= p->tracker.opts.iou_min;
        if (seen)
            continue;
        rc = search_near(p, tr, hits, nhits, err);
        if (rc < 0)
            return rc;
        /* A face seen on the last frame and not found near its box moved too far, or
         * left: look everywhere next frame. Only on its first miss — a track that
         * coasts (the detector blinks on it) must not force full searches each frame. */
        if (rc == 0 && !full && tr->misses == 0)
            p->need_full = 1;
    }
    return 0;
}

static int by_area_desc(const void *a, const void *b)
{
    const fer_box *x = a, *y = b;
    long long ax = (long long)x->w * x->h, ay = (long long)y->w * y->h;
    if (ax != ay)
        return ax < ay ? 1 : -1;
    return x->y != y->y ? (x->y < y->y ? -1 : 1) : (x->x < y->x ? -1 : x->x > y->x);
}

/* Mean absolute difference of two byte arrays, as a sum compared without division. */
static int bytes_close(const uint8_t *a, const uint8_t *b, size_t n, float threshold)
{
    long long sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += abs((int)a[i] - (int)b[i]);
    return (double)sum < threshold * (double)n;
}

/* Crops every face of the job into its input batch, or notes that an unchanged
 * face reuses its track's last scores (face_threshold). Phase one. */
static int crop_faces(fer_pipeline *p, const fer_image *src, const int *slot,
                      fer_pipeline_job *job, fer_error *err)
{
    const size_t crop_len = p->in_size; /* 8-bit crop: h*w*c bytes */
    uint64_t t0 = fer_mono_ns();
    job->ntodo = 0;
    for (int i = 0; i < job->n; i++) {
        float *in = job->input + (size_t)job->ntodo * p->in_size;
        int rc = fer_preprocess_face(in, p->scratch, p->c, p->h, p->w, src, job->box[i],
                                     &p->model->pre, err);
        if (rc < 0)
            return rc;
        int s = slot[i];
        const int tid = job->id[i];
        uint8_t *cached = s >= 0 ? p->crops + (size_t)s * crop_len : NULL;
        job->reuse[i] = job->cache[i] = job->row[i] = -1;
        if (cached && p->o.face_threshold > 0 && p->crop_id[s] == tid &&
            p->crop_age[s] + 1 < p->o.face_refresh &&
            bytes_close(cached, p->scratch, crop_len, p->o.face_threshold)) {
            p->crop_age[s]++;
            job->reuse[i] = s;
            p->stats.faces_reused++;
            continue;
        }
        if (cached) {
            memcpy(cached, p->scratch, crop_len);
            p->crop_id[s] = tid;
            p->crop_age[s] = 0;
            job->cache[i] = s;
        }
        job->row[i] = job->ntodo++;
    }
    job->crop_ms = ms_since(t0);
    p->stats.last_crop_ms = job->crop_ms;
    /* With flip, each face's mirrored input follows the faces in the batch: the
     * job carries its own view count, so a reload between phases cannot mismatch. */
    job->nviews = fer_tta_views((fer_tta)p->o.tta);
    for (int j = 0; j < job->ntodo && job->nviews == 2; j++)
        fer_input_view(job->input + (size_t)(job->ntodo + j) * p->in_size,
                       job->input + (size_t)j * p->in_size, p->c, p->h, p->w, 1);
    return 0;
}

/* The frame's identity into the job. */
static void job_header(fer_pipeline_job *job, const fer_frame *frame)
{
    job->seq = frame->seq;
    job->wall_ms = frame->wall_ms;
    job->mono_ns = frame->mono_ns;
    job->width = frame->img.w;
    job->height = frame->img.h;
    job->still = 0;
    job->n = job->ntodo = job->nended = 0;
    job->rc = 0;
    job->find_ms = job->crop_ms = 0;
}

/*
 * The part of phase one after the faces are known, shared by detected and
 * given boxes: hits[0 .. n) (in report order) go through the tracker and are
 * cut out. t_start is when the frame's processing began, t_find when the face
 * search did (timing).
 */
static int track_and_crop(fer_pipeline *p, const fer_frame *frame, const fer_box *hits, int n,
                          uint64_t t_start, uint64_t t_find, fer_pipeline_job *job,
                          fer_error *err)
{
    int slot[MAX_HITS], is_new[MAX_HITS], ended[FER_TRACK_MAX], nended = 0;
    fer_tracker_update(&p->tracker, hits, n, slot, is_new, ended, &nended);
    p->stats.last_detect_ms = ms_since(t_find);
    /* Tracks a restart ended come first (already in the job), then those that
     * ended with this frame. */
    for (int i = 0; i < nended && job->nended < FER_RESULT_MAX_ENDED; i++)
        job->ended[job->nended++] = ended[i];
    job->n = n;
    for (int i = 0; i < n; i++) {
        job->box[i] = hits[i];
        job->id[i] = slot[i] >= 0 ? p->tracker.tracks[slot[i]].id : 0;
        job->is_new[i] = is_new[i];
    }
    const fer_image *src = p->c == 1 ? &p->grey : &frame->img;
    int rc = crop_faces(p, src, slot, job, err);
    p->grid_has_result = 1;
    job->find_ms = ms_since(t_start);
    return rc;
}

/* Checks a frame and starts its job: a restart if due, the grey image. */
static int find_begin(fer_pipeline *p, const fer_frame *frame, fer_pipeline_job *job,
                      fer_error *err)
{
    job->n = job->ntodo = job->nended = job->still = 0;
    if (!frame || !frame->img.data || frame->img.w <= 0 || frame->img.h <= 0)
        return fer_fail(err, -EINVAL, "pipeline: empty frame");
    if (job->in_size != p->in_size)
        return fer_fail(err, -EINVAL, "pipeline: a job made for another model");
    job_header(job, frame);
    if (p->grey.data && (p->grey.w != frame->img.w || p->grey.h != frame->img.h))
        p->restart_pending = 1; /* a new frame size: nothing carries over */
    maybe_restart(p, frame, job);
    int rc = fer_image_to_grey(&p->grey, &frame->img, err);
    if (rc < 0)
        return rc;
    p->stats.frames++;
    return 0;
}

int fer_pipeline_find(fer_pipeline *p, const fer_frame *frame, fer_pipeline_job *job,
                      fer_error *err)
{
    const uint64_t t_start = fer_mono_ns();
    int rc = find_begin(p, frame, job, err);
    if (rc < 0)
        return job->rc = rc;

    /* A coasting track must still be able to end, so a frame is only skipped as
     * still when every live track was seen on the last processed frame. */
    int coasting = 0;
    for (int s = 0; s < FER_TRACK_MAX; s++)
        coasting |= p->tracker.tracks[s].id != 0 && p->tracker.tracks[s].misses > 0;
    if (p->o.still_threshold > 0 && !coasting) {
        int still = frame_is_still(p, err, &rc);
        if (rc < 0)
            return job->rc = rc;
        if (still) {
            /* Nothing moved: the last result stands, as of this frame. */
            job->still = 1;
            job->find_ms = ms_since(t_start);
            p->stats.still_frames++;
            return 0;
        }
    }
    p->stats.last_grey_ms = ms_since(t_start);

    uint64_t t0 = fer_mono_ns();
    fer_box hits[MAX_HITS];
    int nhits = 0;
    rc = find_faces(p, hits, &nhits, err);
    if (rc < 0)
        return job->rc = rc;
    qsort(hits, (size_t)nhits, sizeof hits[0], by_area_desc);
    int n = nhits;
    int cap = p->o.largest_only ? 1 : p->o.max_faces;
    if (n > cap)
        n = cap;
    return job->rc = track_and_crop(p, frame, hits, n, t_start, t0, job, err);
}

static void fill_header(const fer_pipeline *p, const fer_pipeline_job *job, fer_frame_result *res)
{
    res->seq = job->seq;
    res->wall_ms = job->wall_ms;
    res->mono_ns = job->mono_ns;
    res->width = job->width;
    res->height = job->height;
    res->nclasses = p->k;
    for (int c = 0; c < p->k; c++)
        snprintf(res->classes[c], sizeof res->classes[c], "%s", p->model->net->arch->classes[c]);
}

int fer_pipeline_finish(fer_pipeline *p, fer_pipeline_job *job, fer_frame_result *res,
                        fer_error *err)
{
    const uint64_t t0 = fer_mono_ns();
    memset(res, 0, sizeof *res);
    int rc = job->rc;
    if (rc == 0 && job->in_size != p->in_size)
        rc = fer_fail(err, -EINVAL, "pipeline: a job made for another model");
    if (rc == 0 && job->still) {
        if (p->have_last) {
            *res = p->last;
            for (int i = 0; i < res->nfaces; i++) {
                res->faces[i].events = 0;
                res->faces[i].previous_label = -1;
            }
            res->nended = 0;
        }
        fill_header(p, job, res);
        res->has_scores = 1;
        res->detect_ms = job->find_ms;
        res->total_ms = job->find_ms;
        return 0;
    }

    /* With flip, the two views' probabilities are averaged, as fer eval --tta flip
     * averages them. */
    float probs[FER_RESULT_MAX_FACES][FER_RESULT_MAX_CLASSES];
    const int ninputs = job->ntodo * job->nviews;
    for (int start = 0; rc == 0 && start < ninputs; start += p->model->net->max_batch) {
        int nb = ninputs - start;
        if (nb > p->model->net->max_batch)
            nb = p->model->net->max_batch;
        const float *logits =
            fer_net_forward(p->model->net, job->input + (size_t)start * p->in_size, nb, 0);
        if (!logits) {
            rc = fer_fail(err, -EINVAL, "pipeline: the network refused a batch of %d", nb);
            break;
        }
        for (int j = 0; j < nb; j++)
            fer_model_probs(p->model, job->view_probs[start + j], logits + (size_t)j * p->k, 1);
    }
    for (int i = 0; rc == 0 && i < job->n; i++) {
        const int row = job->row[i];
        if (row < 0)
            continue;
        for (int c = 0; c < p->k; c++) {
            float sum = 0.0f;
            for (int v = 0; v < job->nviews; v++)
                sum += job->view_probs[v * job->ntodo + row][c] / (float)job->nviews;
            probs[i][c] = sum;
        }
    }
    if (rc == 0) {
        fill_header(p, job, res);
        res->nfaces = job->n;
        for (int i = 0; i < job->n; i++) {
            if (job->reuse[i] >= 0)
                memcpy(probs[i], p->crop_probs[job->reuse[i]], sizeof(float) * (size_t)p->k);
            else if (job->cache[i] >= 0)
                memcpy(p->crop_probs[job->cache[i]], probs[i], sizeof(float) * (size_t)p->k);
            fer_face_result *f = &res->faces[i];
            f->id = job->id[i];
            f->box = job->box[i];
            memcpy(f->scores, probs[i], sizeof(float) * (size_t)p->k);
            f->label = 0;
            for (int c = 1; c < p->k; c++)
                if (probs[i][c] > probs[i][f->label])
                    f->label = c;
            f->prob = probs[i][f->label];
            f->events = job->is_new[i] ? FER_FACE_NEW : 0;
            fer_tracker_observe(&p->tracker, f->id, probs[i], p->k, job->mono_ns, f);
        }
        res->nended = job->nended;
        memcpy(res->ended, job->ended, sizeof(int) * (size_t)job->nended);
        res->has_scores = 1;
        double forward_ms = ms_since(t0);
        p->stats.faces_classified += job->ntodo;
        p->stats.last_forward_ms = forward_ms;
        res->detect_ms = job->find_ms - job->crop_ms;
        res->classify_ms = job->crop_ms + forward_ms;
        res->total_ms = job->find_ms + forward_ms;
        p->last = *res;
        p->have_last = 1;
    }
    /* Ended tracks' averages go, whatever became of the frame: nothing will
     * observe them again. */
    for (int i = 0; i < job->nended; i++)
        fer_tracker_forget(&p->tracker, job->ended[i]);
    if (rc < 0)
        memset(res, 0, sizeof *res);
    return rc;
}

int fer_pipeline_process(fer_pipeline *p, const fer_frame *frame, fer_frame_result *res,
                         fer_error *err)
{
    fer_pipeline_find(p, frame, p->job, err);
    return fer_pipeline_finish(p, p->job, res, err);
}

int fer_pipeline_process_boxes(fer_pipeline *p, const fer_frame *frame, const fer_box *boxes,
                               int n, fer_frame_result *res, fer_error *err)
{
    const uint64_t t_start = fer_mono_ns();
    memset(res, 0, sizeof *res);
    if (n < 0 || n > FER_RESULT_MAX_FACES || (n > 0 && !boxes))
        return fer_fail(err, -EINVAL, "pipeline: %d boxes given (0 to %d)", n,
                        FER_RESULT_MAX_FACES);
    for (int i = 0; frame && i < n; i++) {
        const fer_box b = boxes[i];
        /* A box must hold pixels of the frame: the crop repeats edge pixels beyond
         * it, so a box wholly outside would classify a smear of the border. */
        if (b.w < 1 || b.h < 1 || b.x >= frame->img.w || b.y >= frame->img.h ||
            (long long)b.x + b.w <= 0 || (long long)b.y + b.h <= 0 || b.w > 1000000 ||
            b.h > 1000000)
            return fer_fail(err, -EINVAL, "pipeline: box %d (%d,%d %dx%d) is empty or outside "
                            "the %dx%d frame", i, b.x, b.y, b.w, b.h, frame->img.w,
                            frame->img.h);
    }
    fer_pipeline_job *job = p->job;
    int rc = find_begin(p, frame, job, err);
    if (rc == 0) {
        p->stats.last_grey_ms = ms_since(t_start);
        /* This frame never entered the still test's grid: the next frame must not
         * compare against a grid older than the result it would repeat. */
        p->grid_w = p->grid_h = 0;
        fer_box hits[FER_RESULT_MAX_FACES];
        if (n > 0)
            memcpy(hits, boxes, sizeof(fer_box) * (size_t)n);
        rc = track_and_crop(p, frame, hits, n, t_start, fer_mono_ns(), job, err);
    }
    job->rc = rc;
    return fer_pipeline_finish(p, job, res, err);
}
