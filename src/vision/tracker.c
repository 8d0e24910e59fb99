/*
 * tracker.c — greedy IoU association and per-track moving averages (see
 * tracker.h for the policy). With at most FER_TRACK_MAX tracks and
 * FER_RESULT_MAX_FACES boxes a frame, an exhaustive best-pair-first match costs a
 * few thousand operations, so there is no need for the Hungarian algorithm; greedy
 * differs from it only for heavily overlapping boxes, which Haar groups anyway.
 */
#include "vision/tracker.h"

#include <string.h>

/* Smoothing and hysteresis from tools/label_flips.py on samples/demo.avi (whose
 * faces never change expression, so every label change there is noise): the
 * raw label changes 96 times a minute, an average with alpha 0.6 alone 18 times,
 * alpha 0.4 with a lead of 0.15 held for 300 ms never (docs/ferd.md has the
 * table); a real change still comes through in about half a second. */
void fer_tracker_opts_default(fer_tracker_opts *o)
{
    o->iou_min = 0.3f;
    o->max_misses = 5;
    o->alpha = 0.4f;
    o->hold_margin = 0.15f;
    o->hold_ms = 300;
}

void fer_tracker_init(fer_tracker *t, const fer_tracker_opts *opts)
{
    memset(t, 0, sizeof *t);
    if (opts)
        t->opts = *opts;
    else
        fer_tracker_opts_default(&t->opts);
    if (!(t->opts.iou_min > 0.0f))
        t->opts.iou_min = 0.01f;
    if (t->opts.iou_min > 1.0f)
        t->opts.iou_min = 1.0f;
    if (t->opts.max_misses < 0)
        t->opts.max_misses = 0;
    if (!(t->opts.alpha >= 0.0f))
        t->opts.alpha = 0.0f;
    if (t->opts.alpha > 0.999f)
        t->opts.alpha = 0.999f;
    if (!(t->opts.hold_margin >= 0.0f))
        t->opts.hold_margin = 0.0f;
    if (t->opts.hold_margin > 1.0f)
        t->opts.hold_margin = 1.0f;
    if (t->opts.hold_ms < 0)
        t->opts.hold_ms = 0;
    t->next_id = 1;
}

void fer_tracker_clear(fer_tracker *t)
{
    memset(t->tracks, 0, sizeof t->tracks);
}

/* The entry of id, or NULL. */
static fer_track_avg *find_avg(fer_tracker *t, int id)
{
    for (int i = 0; i < FER_TRACK_AVG_MAX; i++)
        if (t->avg[i].id == id)
            return &t->avg[i];
    return NULL;
}

const fer_track_avg *fer_tracker_avg(const fer_tracker *t, int id)
{
    return id > 0 ? find_avg((fer_tracker *)t, id) : NULL;
}

/* A fresh entry for id: a free one, else the oldest id's (ids only grow, and
 * a table this full means ends were never reported: that track is long gone). */
static fer_track_avg *new_avg(fer_tracker *t, int id)
{
    fer_track_avg *e = NULL;
    for (int i = 0; i < FER_TRACK_AVG_MAX; i++) {
        if (t->avg[i].id == 0) {
            e = &t->avg[i];
            break;
        }
        if (!e || t->avg[i].id < e->id)
            e = &t->avg[i];
    }
    memset(e, 0, sizeof *e);
    e->id = id;
    e->label = -1;
    e->lead = -1;
    return e;
}

void fer_tracker_forget(fer_tracker *t, int id)
{
    fer_track_avg *e = id > 0 ? find_avg(t, id) : NULL;
    if (e)
        memset(e, 0, sizeof *e);
}

float fer_box_iou(fer_box a, fer_box b)
{
    if (a.w <= 0 || a.h <= 0 || b.w <= 0 || b.h <= 0)
        return 0.0f;
    int x0 = a.x > b.x ? a.x : b.x, y0 = a.y > b.y ? a.y : b.y;
    int x1 = a.x + a.w < b.x + b.w ? a.x + a.w : b.x + b.w;
    int y1 = a.y + a.h < b.y + b.h ? a.y + a.h : b.y + b.h;
    if (x1 <= x0 || y1 <= y0)
        return 0.0f;
    double inter = (double)(x1 - x0) * (y1 - y0);
    double uni = (double)a.w * a.h + (double)b.w * b.h - inter;
    return (float)(inter / uni);
}

static void end_track(fer_tracker *t, int s, int *ended, int *nended)
{
    ended[(*nended)++] = t->tracks[s].id;
    memset(&t->tracks[s], 0, sizeof t->tracks[s]);
}

/* A free slot, evicting the longest-coasting track not matched this frame if
 * every slot is taken; -1 if all are matched. */
static int free_slot(fer_tracker *t, const int *matched, int *ended, int *nended)
{
    int worst = -1;
    for (int s = 0; s < FER_TRACK_MAX; s++) {
        if (t->tracks[s].id == 0)
            return s;
        if (!matched[s] && (worst < 0 || t->tracks[s].misses > t->tracks[worst].misses))
            worst = s;
    }
    if (worst >= 0)
        end_track(t, worst, ended, nended);
    return worst;
}

void fer_tracker_update(fer_tracker *t, const fer_box *boxes, int n, int *slot, int *is_new,
                        int *ended, int *nended)
{
    int matched[FER_TRACK_MAX] = {0};
    *nended = 0;
    for (int i = 0; i < n; i++) {
        slot[i] = -1;
        is_new[i] = 0;
    }

    /* Best pair first until no pair reaches iou_min. */
    for (;;) {
        float best = t->opts.iou_min;
        int bi = -1, bs = -1;
        for (int s = 0; s < FER_TRACK_MAX; s++) {
            if (t->tracks[s].id == 0 || matched[s])
                continue;
            for (int i = 0; i < n; i++) {
                if (slot[i] >= 0)
                    continue;
                float iou = fer_box_iou(t->tracks[s].box, boxes[i]);
                if (iou >= best && (bi < 0 || iou > best)) {
                    best = iou;
                    bi = i;
                    bs = s;
                }
            }
        }
        if (bi < 0)
            break;
        slot[bi] = bs;
        matched[bs] = 1;
        fer_track *tr = &t->tracks[bs];
        tr->box = boxes[bi];
        tr->misses = 0;
        tr->age++;
    }

    /* Unclaimed tracks coast, and end after max_misses frames. */
    for (int s = 0; s < FER_TRACK_MAX; s++) {
        fer_track *tr = &t->tracks[s];
        if (tr->id == 0 || matched[s])
            continue;
        tr->age++;
        if (++tr->misses > t->opts.max_misses)
            end_track(t, s, ended, nended);
    }

    /* Unclaimed boxes start tracks. */
    for (int i = 0; i < n; i++) {
        if (slot[i] >= 0)
            continue;
        int s = free_slot(t, matched, ended, nended);
        if (s < 0)
            continue;
        fer_track *tr = &t->tracks[s];
        memset(tr, 0, sizeof *tr);
        tr->id = t->next_id++;
        tr->box = boxes[i];
        matched[s] = 1;
        slot[i] = s;
        is_new[i] = 1;
    }
}

/*
 * The hysteresis (see tracker.h). The label changes to the class that leads
 * it in the average by hold_margin once that lead has held for hold_ms; the
 * wait restarts whenever the leader changes or its lead falls short.
 */
static void hold_label(fer_tracker *t, fer_track_avg *tr, int best, uint64_t now_ns,
                       fer_face_result *face)
{
    if (tr->label < 0) {
        tr->label = best;
        tr->lead = -1;
        return;
    }
    if (best == tr->label || tr->ema[best] - tr->ema[tr->label] < t->opts.hold_margin) {
        tr->lead = -1;
        return;
    }
    if (tr->lead != best) {
        tr->lead = best;
        tr->lead_since_ns = now_ns;
    }
    uint64_t held = now_ns >= tr->lead_since_ns ? now_ns - tr->lead_since_ns : 0;
    if (held < (uint64_t)t->opts.hold_ms * 1000000ull)
        return;
    face->events |= FER_FACE_LABEL_CHANGED;
    face->previous_label = tr->label;
    tr->label = best;
    tr->lead = -1;
}

void fer_tracker_observe(fer_tracker *t, int id, const float *probs, int k, uint64_t now_ns,
                         fer_face_result *face)
{
    face->previous_label = -1;
    fer_track_avg *tr = NULL;
    if (id > 0 && k > 0 && k <= FER_RESULT_MAX_CLASSES) {
        tr = find_avg(t, id);
        if (!tr)
            tr = new_avg(t, id);
    }
    if (!tr) {
        /* No track (capacity exhausted): report the raw probabilities. */
        int best = 0;
        for (int c = 1; c < k; c++)
            if (probs[c] > probs[best])
                best = c;
        face->smoothed_label = k > 0 ? best : -1;
        face->smoothed_prob = k > 0 ? probs[best] : 0.0f;
        return;
    }
    const float a = t->opts.alpha;
    if (tr->nclasses != k) {
        /* The first observation, or another model: class indices mean something
         * else now, so the label starts again too. */
        memcpy(tr->ema, probs, sizeof(float) * (size_t)k);
        tr->nclasses = k;
        tr->label = -1;
    } else {
        for (int c = 0; c < k; c++)
            tr->ema[c] = a * tr->ema[c] + (1.0f - a) * probs[c];
    }
    int best = 0;
    for (int c = 1; c < k; c++)
        if (tr->ema[c] > tr->ema[best])
            best = c;
    hold_label(t, tr, best, now_ns, face);
    face->smoothed_label = tr->label;
    face->smoothed_prob = tr->ema[tr->label];
}

void fer_tracker_reset_smoothing(fer_tracker *t)
{
    memset(t->avg, 0, sizeof t->avg);
}
