/*
 * tracker.h — who is who across frames: an IoU tracker with stable ids, and an
 * exponential moving average of each track's class probabilities.
 *
 * Each frame's boxes are matched greedily to live tracks by intersection over
 * union (best pair first, at least iou_min). A box no track claims starts a
 * track with a new id; ids count up from 1 and are never reused. A track no box
 * claims coasts for up to max_misses frames (a detector blinks) and then ends.
 *
 * Smoothing: s = alpha * s + (1 - alpha) * p, starting from the first p, so
 * alpha = 0 reports the raw probabilities and alpha near 1 a slow average.
 *
 * Hysteresis: the track's label (the "smoothed" label it reports) starts as
 * argmax s and changes only when another class has led it in s by at least
 * hold_margin on every observation for at least hold_ms (measured on the
 * frames' capture clock); the change is an event (FER_FACE_LABEL_CHANGED with
 * the previous label). A lead that lapses, or passes to a third class, starts
 * the wait again. hold_ms = 0 and hold_margin = 0 make the label argmax s on
 * every frame. Without it a face between two expressions flips its label on
 * nearly every frame (docs/ferd.md has the measured figures).
 *
 * The boxes and the averages are kept apart: tracks[] (slots, boxes, misses)
 * belong to fer_tracker_update, avg[] (the averages and labels, keyed by track
 * id) to fer_tracker_observe. So one thread may advance the tracker to the
 * next frame while another folds the previous frame's probabilities in (the
 * pipeline's two phases, pipeline.h); an average is dropped when its track's
 * end is reported to fer_tracker_forget.
 *
 * Fixed capacity, no allocation: the tracker lives inside its owner.
 */
#ifndef FER_TRACKER_H
#define FER_TRACKER_H

#include <stdint.h>

#include "types/result.h"

/* Live tracks at most: a full frame of faces plus as many coasting. */
#define FER_TRACK_MAX (2 * FER_RESULT_MAX_FACES)

typedef struct fer_tracker_opts {
    float iou_min;    /* a box continues a track at IoU >= iou_min (0.3) */
    int max_misses;   /* frames a track coasts without a box before it ends (5) */
    float alpha;      /* weight of the past in the moving average, 0 <= alpha < 1 (0.4) */
    float hold_margin;/* a new label must lead the current one by this much in s (0.15) ... */
    int hold_ms;      /* ... for at least this long before the label changes (300) */
} fer_tracker_opts;

void fer_tracker_opts_default(fer_tracker_opts *o);

/* Averages kept: live tracks, plus those ended in frames whose probabilities
 * are not folded in yet (the pipeline's phases may be a few frames apart). */
#define FER_TRACK_AVG_MAX (4 * FER_TRACK_MAX)

typedef struct fer_track {
    int id;           /* 0 = free slot */
    fer_box box;      /* last box */
    int age;          /* frames since the track started (0 on its first) */
    int misses;       /* consecutive frames without a box */
} fer_track;

/* One track's average and label. */
typedef struct fer_track_avg {
    int id;           /* 0 = free entry */
    int nclasses;     /* classes in ema */
    float ema[FER_RESULT_MAX_CLASSES];
    int label;        /* the reported label (with hysteresis), -1 before the first observation */
    int lead;         /* the class leading label by hold_margin, -1 none */
    uint64_t lead_since_ns; /* capture time of the first observation of that lead */
} fer_track_avg;

typedef struct fer_tracker {
    fer_tracker_opts opts;
    int next_id;
    fer_track tracks[FER_TRACK_MAX]; /* slots; a slot is reused, an id never */
    fer_track_avg avg[FER_TRACK_AVG_MAX];
} fer_tracker;

/* opts may be NULL for the defaults; values out of range are clamped. */
void fer_tracker_init(fer_tracker *t, const fer_tracker_opts *opts);

/* Ends every track (their ids are not reused); the averages stay until forgotten
 * (fer_tracker_forget) or reset (fer_tracker_reset_smoothing). */
void fer_tracker_clear(fer_tracker *t);

/*
 * Advances one frame with its n boxes. slot[i] receives the slot (index into
 * t->tracks) of box i and is_new[i] 1 if the track started now. Tracks that end
 * (too many misses, or evicted — the longest-coasting first — to make room when
 * all slots are taken) have their ids written to ended[] (room for FER_TRACK_MAX)
 * and counted in *nended. Boxes beyond FER_TRACK_MAX live tracks get slot -1.
 */
void fer_tracker_update(fer_tracker *t, const fer_box *boxes, int n, int *slot, int *is_new,
                        int *ended, int *nended);

/*
 * Folds probs (k classes), observed at now_ns (the frame's capture time, any
 * monotonic clock), into the moving average of track id, applies the
 * hysteresis, and fills face's smoothed_label and smoothed_prob (the track's
 * label and its averaged probability), and the FER_FACE_LABEL_CHANGED event
 * with previous_label. The first observation of an id starts its average; a
 * change of class count (a swapped model) restarts it and the label, without an
 * event. id 0 (a face without a track) and a full table report the raw
 * probabilities (the table makes room by dropping the oldest id's average).
 */
void fer_tracker_observe(fer_tracker *t, int id, const float *probs, int k, uint64_t now_ns,
                         fer_face_result *face);

/* Drops the average of a track that ended (after its last observation). */
void fer_tracker_forget(fer_tracker *t, int id);

/* The average of track id, or NULL (for tests and diagnostics). */
const fer_track_avg *fer_tracker_avg(const fer_tracker *t, int id);

/* Forgets every average (keeps ids and boxes): for a model swap. */
void fer_tracker_reset_smoothing(fer_tracker *t);

/* Intersection over union of two boxes (0 for empty ones). */
float fer_box_iou(fer_box a, fer_box b);

#endif
