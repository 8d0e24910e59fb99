/*
 * pipeline.h — one frame in, one fer_frame_result out: detect faces, cut each
 * out as the model was trained to see it, classify all of them in one batch,
 * and track and smooth them across frames.
 *
 * Budget: 10 ms for a 640x480 frame with one face on one thread. A full Haar
 * search of such a frame at scale 1.1 costs about ten times that, so the
 * pipeline avoids it on most frames:
 *   - full detections run on the frame shrunk to detect_width and only every
 *     full_every frames, or when no face is tracked, or when a tracked face was
 *     lost on the previous frame;
 *   - between them, each tracked face is searched for only in a small region
 *     around its last box, shrunk so the face is about search_face_px wide, over
 *     the few pyramid levels within search_range of its size;
 *   - a frame that differs from the last processed one by less than
 *     still_threshold (mean absolute difference of a coarse grid, grey levels)
 *     repeats that frame's result; a face whose network input differs from its
 *     track's last classified input by less than face_threshold reuses its
 *     scores (at most face_refresh frames in a row).
 *
 * Fresh state after a gap: a frame captured more than gap_ms after the last
 * processed one, or the first frame after fer_pipeline_restart, starts clean —
 * every live track ends (its id is reported in that frame's "ended"), the
 * frame gets a full search and no still test, and no average or id carries
 * over. So after a pause nothing of a face that was there is attached to a
 * face that is there now.
 *
 * The model is borrowed, not owned, and can be swapped between frames.
 * Not thread-safe: one pipeline belongs to one thread.
 */
#ifndef FER_PIPELINE_H
#define FER_PIPELINE_H

#include "net/model.h"
#include "types/result.h"
#include "vision/frame.h"
#include "vision/tracker.h"

typedef struct fer_pipeline fer_pipeline;

typedef struct fer_pipeline_opts {
    const char *cascade;    /* Haar cascade XML (NULL: FER_CASCADE_DEFAULT) */
    /* Full detections. */
    int detect_width;       /* search the frame shrunk to this width (320; 0 = full size) */
    double scale_factor;    /* pyramid step (1.1) */
    int min_neighbors;      /* (3) */
    int min_face;           /* smallest face side, frame pixels (48) */
    int max_face;           /* largest (0 = no limit) */
    int equalize;           /* FER_EQUALIZE_* of cv/detect.h (CLAHE) */
    /* Search near tracked faces between full detections. */
    int full_every;         /* a full detection at least every N frames (10); 1 = always */
    int track_search;       /* 1: search near tracked faces in between (1) */
    float search_margin;    /* region = last box grown by this fraction of its side (0.3) */
    int search_face_px;     /* face side the region is resized to (56) */
    float search_range;     /* sizes searched: last side / range .. last side * range (1.25) */
    /* Skipping unchanged work. */
    float still_threshold;  /* grey levels; 0 = process every frame (1.0) */
    float face_threshold;   /* grey levels; 0 = classify every face every frame (0) */
    int face_refresh;       /* classify a face at least every N frames (10) */
    /* Test-time augmentation: FER_TTA_NONE (default) or FER_TTA_FLIP, each face's
     * probabilities averaged with its mirrored input's (fer eval --tta flip's rule). */
    int tta;
    /* Which faces. */
    int largest_only;       /* report only the largest face (0) */
    int max_faces;          /* at most this many, largest first (8; <= FER_RESULT_MAX_FACES) */
    /* Fresh state: a gap longer than this between the capture times of processed
     * frames restarts tracking (1000 ms; 0 = never). */
    int gap_ms;
    fer_tracker_opts tracker;
} fer_pipeline_opts;

void fer_pipeline_opts_default(fer_pipeline_opts *o);
/* The settings for unrelated still images (`fer classify`, libferclassify): a full
 * search of each image at detect_width 640, min_neighbors 4, min_face 24; no region
 * searches, still test, score reuse or smoothing (so "smoothed" equals the raw label).
 * Call fer_pipeline_reset between images so no track carries over. */
void fer_pipeline_opts_still(fer_pipeline_opts *o);

/* Loads the cascade and binds model (borrowed; it must outlive the pipeline or be
 * swapped out first). Errors: those of fer_detector_load, -EINVAL for options out
 * of range or a model the pipeline cannot feed (see fer_pipeline_set_model). */
int fer_pipeline_create(fer_pipeline **out, const fer_pipeline_opts *opts, fer_model *model,
                        fer_error *err);

/* 0 if the pipeline can feed model m (what fer_pipeline_set_model needs), else
 * -EINVAL with err saying why, without naming a file: the caller knows it. */
int fer_pipeline_model_fits(const fer_model *m, fer_error *err);

/* Swaps the model (for the daemon's reload) between frames. Tracks and ids survive;
 * their moving averages restart. The model needs a 1- or 3-channel input, at most
 * FER_RESULT_MAX_CLASSES classes and max_batch >= 1 (faces beyond max_batch go in
 * further batches). On failure the old model stays in use. */
int fer_pipeline_set_model(fer_pipeline *p, fer_model *model, fer_error *err);

/* Switches test-time augmentation between frames (ferd's live `tta` key): FER_TTA_NONE
 * or FER_TTA_FLIP; -EINVAL otherwise. A face's cached scores restart. */
int fer_pipeline_set_tta(fer_pipeline *p, int tta, fer_error *err);

/* Processes one frame (BGR or grey) into res. seq and capture times are copied from
 * frame. Errors: -EINVAL (empty frame), -ENOMEM, FER_E_INVAL (OpenCV failed). */
int fer_pipeline_process(fer_pipeline *p, const fer_frame *frame, fer_frame_result *res,
                         fer_error *err);

/*
 * The same work in two phases, for a caller that wants both cores on one video
 * (`fer analyze`): fer_pipeline_find does the grey image, the still test, the
 * face search, the tracking and the crops of a frame into a job;
 * fer_pipeline_finish runs the network on the job and fills res. The frame is
 * not needed after find. Phases must run in frame order — finds in order,
 * finishes in the same order, each finish after its find — and one find may run
 * on one thread while earlier frames' finishes run on another (they share no
 * state: see pipeline.c). fer_pipeline_process is find then finish.
 *
 * A job holds one frame's crops; it is made for the model in use
 * (fer_pipeline_job_new) and must be made again after fer_pipeline_set_model.
 * find stores its error in the job and returns it; finish returns it again (so a
 * caller can always call both), and drops the averages of tracks that ended.
 * With face_threshold > 0 and overlapping phases, a reused face takes the scores
 * its track's last classified crop got — finishes run in order, so they are there.
 */
typedef struct fer_pipeline_job fer_pipeline_job;

int fer_pipeline_job_new(const fer_pipeline *p, fer_pipeline_job **out); /* 0 or -ENOMEM */
void fer_pipeline_job_free(fer_pipeline_job *job); /* accepts NULL */
int fer_pipeline_find(fer_pipeline *p, const fer_frame *frame, fer_pipeline_job *job,
                      fer_error *err);
int fer_pipeline_finish(fer_pipeline *p, fer_pipeline_job *job, fer_frame_result *res,
                        fer_error *err);

/*
 * Processes one frame whose faces the caller found: boxes[0 .. n) (n <=
 * FER_RESULT_MAX_FACES; each at least 1x1 and overlapping the frame) are tracked,
 * cut out, classified and reported in the order given, exactly as detected faces
 * are; no search runs and max_faces/largest_only do not apply. -EINVAL for an empty
 * frame or a bad box (the message names its index), else as fer_pipeline_process.
 */
int fer_pipeline_process_boxes(fer_pipeline *p, const fer_frame *frame, const fer_box *boxes,
                               int n, fer_frame_result *res, fer_error *err);

/* Forgets tracks and the last frame (a new source, or a still image unrelated to the
 * previous one). Ended ids are not reported. */
void fer_pipeline_reset(fer_pipeline *p);

/* The next frame starts clean, as after a gap (see above): for a caller that knows
 * frames were skipped (the daemon after an idle spell). The live tracks' ids are
 * reported ended with that frame. */
void fer_pipeline_restart(fer_pipeline *p);

/* Counters since creation, for benchmarks and status output. */
typedef struct fer_pipeline_stats {
    long long frames;          /* frames processed */
    long long still_frames;    /* repeated as unchanged */
    long long full_detections; /* full-frame searches */
    long long region_searches; /* searches near tracked faces */
    long long faces_classified;
    long long faces_reused;    /* scores reused for an unchanged face */
    long long restarts;        /* clean starts after a gap or fer_pipeline_restart */
    /* The parts of the last processed frame, ms: grey conversion and change test,
     * face search, cropping and normalising, the network's forward pass. */
    double last_grey_ms, last_detect_ms, last_crop_ms, last_forward_ms;
} fer_pipeline_stats;

void fer_pipeline_get_stats(const fer_pipeline *p, fer_pipeline_stats *s);

void fer_pipeline_free(fer_pipeline *p); /* accepts NULL */

#endif
