/*
 * tracks.h — the live tracks as the loop knows them: what a new event
 * subscriber is told first, and which track ends are worth telling.
 *
 * The inference thread's tracker is the truth, but it belongs to that thread;
 * the loop keeps its own table, updated from every result it takes while a
 * client watches (results that reach nobody leave it empty): each
 * face's track is added or refreshed (box, smoothed label and probability,
 * the frame it was last seen on), each ended id removed. So at any moment the
 * table is the state that clients have been shown. Two uses:
 *   - WATCH with events: the subscriber first gets one FACE per live track
 *     (ferd_tracks_each), marked as already present, then the changes;
 *   - a result's "ended" list names only tracks in the table: when results
 *     resume after an idle spell, the tracks the pipeline ends then were never
 *     shown to anyone watching now (the table was cleared when the last one
 *     left, ferd_tracks_clear), and an "ended" for an id a client never saw is
 *     noise.
 * Fixed capacity (the pipeline's own bound on live tracks), loop thread only.
 */
#ifndef FERD_TRACKS_H
#define FERD_TRACKS_H

#include <stdint.h>

#include "types/result.h"
#include "vision/tracker.h"

typedef struct ferd_track {
    int id;                       /* 0 = free */
    fer_box box;
    char label[FER_RESULT_CLASS_NAME];
    float prob;
    uint64_t seq;                 /* the frame it was last seen on */
    int64_t wall_ms;
    uint64_t mono_ns;
} ferd_track;

typedef struct ferd_tracks {
    ferd_track t[FER_TRACK_MAX];
} ferd_tracks;

void ferd_tracks_clear(ferd_tracks *ts);

/* Applies result r: removes from r->ended the ids the table does not hold (and
 * removes the others from the table), then adds or refreshes r's faces; a face
 * the table did not hold is marked FER_FACE_NEW (it appears to clients now). */
void ferd_tracks_update(ferd_tracks *ts, fer_frame_result *r);

/* The live tracks seen at or after min_mono_ns (older ones are about to end:
 * the source stalled), in id order, into out (room for FER_TRACK_MAX).
 * Returns how many. */
int ferd_tracks_live(const ferd_tracks *ts, uint64_t min_mono_ns, ferd_track *out);

#endif
