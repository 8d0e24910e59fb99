/*
 * tracks.c — see tracks.h. A table of FER_TRACK_MAX entries searched linearly:
 * a frame has at most 16 faces and 32 ended ids, so an update costs a few
 * hundred comparisons, on the loop thread, once per result.
 */
#include "tracks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ferd_tracks_clear(ferd_tracks *ts)
{
    memset(ts, 0, sizeof *ts);
}

static ferd_track *find(ferd_tracks *ts, int id)
{
    for (int i = 0; i < FER_TRACK_MAX; i++)
        if (ts->t[i].id == id)
            return &ts->t[i];
    return NULL;
}

void ferd_tracks_update(ferd_tracks *ts, fer_frame_result *r)
{
    int kept = 0;
    for (int i = 0; i < r->nended && i < FER_RESULT_MAX_ENDED; i++) {
        ferd_track *t = r->ended[i] > 0 ? find(ts, r->ended[i]) : NULL;
        if (!t)
            continue;
        memset(t, 0, sizeof *t);
        r->ended[kept++] = r->ended[i];
    }
    r->nended = kept;
    for (int i = 0; i < r->nfaces && i < FER_RESULT_MAX_FACES; i++) {
        const fer_face_result *f = &r->faces[i];
        if (f->id <= 0)
            continue;
        ferd_track *t = find(ts, f->id);
        if (!t) {
            /* First shown now (results flowed to nobody before, e.g. for a
             * POLL): to clients it appears now, so its end is told later. */
            r->faces[i].events |= FER_FACE_NEW;
            t = find(ts, 0);
        }
        if (!t) {
            /* Full: the pipeline never has more live tracks than the table holds,
             * so the oldest entry is a track whose end was lost; it goes. */
            t = &ts->t[0];
            for (int k = 1; k < FER_TRACK_MAX; k++)
                if (ts->t[k].mono_ns < t->mono_ns)
                    t = &ts->t[k];
        }
        t->id = f->id;
        t->box = f->box;
        int l = f->smoothed_label;
        snprintf(t->label, sizeof t->label, "%s",
                 l >= 0 && l < r->nclasses ? r->classes[l] : "unknown");
        t->prob = f->smoothed_prob;
        t->seq = r->seq;
        t->wall_ms = r->wall_ms;
        t->mono_ns = r->mono_ns;
    }
}

static int by_id(const void *a, const void *b)
{
    const ferd_track *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int ferd_tracks_live(const ferd_tracks *ts, uint64_t min_mono_ns, ferd_track *out)
{
    int n = 0;
    for (int i = 0; i < FER_TRACK_MAX; i++)
        if (ts->t[i].id > 0 && ts->t[i].mono_ns >= min_mono_ns)
            out[n++] = ts->t[i];
    qsort(out, (size_t)n, sizeof *out, by_id);
    return n;
}
