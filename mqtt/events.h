/*
 * events.h — ferd's FACE events as MQTT event messages, in the shape Frigate
 * users know: one message per event with "type" (new, update, end) and the
 * face "before" and "after" it.
 *
 *   {"type":"update","event":"changed","instance":"kitchen","id":3,
 *    "seq":1100,"time":"2026-11-28T10:00:04.000Z",
 *    "before":{"id":3,"label":"happy","prob":0.77,"box":{...},"start_time":"..."},
 *    "after":{"id":3,"label":"surprise","prob":0.61,"box":{...},"start_time":"..."}}
 *
 * As in Frigate, both objects are always there: for "new", before is the
 * same as after; for "end", after is the last known face with "end_time".
 * ferd's own event name ("appeared", "changed", "ended") is kept in "event",
 * and its frame in "seq", so an event can be matched with `ferctl watch`.
 *
 * The last known face of each track is remembered from the events
 * themselves (appeared and changed carry label, probability and box), in a
 * table of FMQ_TRACKS_MAX entries: the oldest is forgotten when it is full,
 * and fmq_tracks_clear forgets all when ferd restarts (track ids start again
 * at 1). A track first seen in a change or an end (the bridge started in its
 * middle, or its appearance was below min_prob) has a before with what the
 * event says and nothing else.
 */
#ifndef FMQ_EVENTS_H
#define FMQ_EVENTS_H

#include <stdint.h>

#include "proto/protocol.h"

#define FMQ_TRACKS_MAX 64

typedef struct fmq_track {
    int used;
    int id;
    char label[FER_RESULT_CLASS_NAME];
    float prob;
    int has_prob;
    fer_box box;
    int has_box;
    int64_t start_ms;   /* wall time it appeared; < 0 unknown */
    uint64_t touched;   /* fmq_tracks.clock at the last event, for eviction */
} fmq_track;

typedef struct fmq_tracks {
    fmq_track t[FMQ_TRACKS_MAX];
    uint64_t clock;
} fmq_tracks;

void fmq_tracks_clear(fmq_tracks *tr);
/* The remembered track id, or NULL. */
const fmq_track *fmq_tracks_find(const fmq_tracks *tr, int id);
/* Number of tracks remembered. */
int fmq_tracks_count(const fmq_tracks *tr);

/*
 * Applies ev to the table (an end forgets the track) and makes its message
 * for instance into *out (malloc'd). 0, -EINVAL (an event kind this version
 * does not know: nothing is published), -ENOMEM.
 */
int fmq_event_payload(fmq_tracks *tr, const fer_face_event *ev, const char *instance, char **out);

#endif
