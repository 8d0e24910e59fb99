/*
 * state.h — the retained summary of what an instance sees now, and when to
 * publish it.
 *
 *   {"faces":1,"dominant":"happy",
 *    "scores":{"angry":0.01,...,"neutral":0.08},
 *    "tracks":[{"id":3,"label":"happy","prob":0.7655,"box":{...}}],
 *    "seq":1042,"time":"2026-11-28T10:00:00.123Z"}
 *
 * It is derived from ferd's RESULTs (and the POLL answer asked for right after
 * subscribing, so it is right at once rather than at the first change): the
 * faces of the latest frame with each track's smoothed label and probability;
 * "dominant" is the smoothed label most faces show (ties: the larger summed
 * probability, then model order), "none" without faces; "scores" is, per
 * class of the model, the mean over the faces of this frame's probability (0
 * without faces), which Home Assistant's per-class sensors read.
 *
 * When: on a change, at most max_rate times a second. A change is a face
 * appearing or leaving, a smoothed label or the dominant expression changing,
 * or a probability (a face's, or a class score) moving by prob_delta or more
 * since the last published state; boxes moving alone are not a change. A
 * change inside the rate interval is published when the interval ends, with
 * the state as it is then, so the last state always reaches the broker.
 *
 * A source that stops sending frames (a camera gone, a file at its end)
 * would leave the last faces retained for ever, and "a face is present" on
 * in Home Assistant: fmq_state_stall makes the state say no faces, with
 * "stalled":true, until frames come again.
 *
 * RESULTs arrive on one connection and the POLL answer may overtake or trail
 * them: a frame older than the one applied (lower seq) is ignored.
 * fmq_state_new_session forgets that order when ferd restarts (its seq
 * starts again at 1).
 */
#ifndef FMQ_STATE_H
#define FMQ_STATE_H

#include <stdint.h>

#include "proto/protocol.h"

typedef struct fmq_state_face {
    int id;
    char label[FER_RESULT_CLASS_NAME];
    float prob;
    fer_box box;
} fmq_state_face;

typedef struct fmq_summary {
    uint64_t seq;
    int64_t wall_ms;
    int nfaces;
    fmq_state_face faces[FER_RESULT_MAX_FACES];
    float scores[FER_RESULT_MAX_CLASSES]; /* per class of fmq_state.classes */
    char dominant[FER_RESULT_CLASS_NAME]; /* "none" without faces */
    int stalled;           /* no frame for a while: faces unknown, told as none */
} fmq_summary;

typedef struct fmq_state {
    double max_rate, prob_delta;
    int nclasses;
    char classes[FER_RESULT_MAX_CLASSES][FER_RESULT_CLASS_NAME];
    int have;              /* cur holds a frame */
    fmq_summary cur;
    int published;         /* pub holds what was last published */
    fmq_summary pub;
    int64_t last_pub_ms;
    uint64_t last_seq;     /* newest frame applied in this session */
} fmq_state;

void fmq_state_init(fmq_state *s, double max_rate, double prob_delta);
/* ferd (re)connected: frames are ordered anew. */
void fmq_state_new_session(fmq_state *s);

/* The model's classes, in order (from STATUS). A different list resets the
 * summary's scores; returns 1 if the list changed, else 0. */
int fmq_state_set_classes(fmq_state *s, const char (*classes)[FER_RESULT_CLASS_NAME], int n);

/* Applies a frame. 0 applied, -ESTALE older than the last one applied. Classes
 * not yet known are taken from the frame. */
int fmq_state_update(fmq_state *s, const fer_frame_result *r);

/* No frame for too long: cur becomes "no faces, stalled" (scores 0, tracks
 * none; seq and time stay those of the last frame). A no-op without a frame
 * or when already stalled. The next frame applied clears it. */
void fmq_state_stall(fmq_state *s);

/* 1 if cur differs from what was last published (or nothing was), as
 * defined above. */
int fmq_state_changed(const fmq_state *s);

/* When the state should next be published: -1 never (no change), else a
 * monotonic ms time (<= now: now). */
int64_t fmq_state_due_ms(const fmq_state *s);

/* The payload of cur into *out (malloc'd). 0, -ENODATA (no frame yet), -ENOMEM. */
int fmq_state_payload(const fmq_state *s, char **out);

/* cur was published at now_ms. */
void fmq_state_mark_published(fmq_state *s, int64_t now_ms);

#endif
