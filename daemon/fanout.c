/*
 * fanout.c — a result reaches every client that wants it.
 *
 * Each result is encoded once per distinct way clients asked for it (with or
 * without scores, a min_prob filter, an attached picture, as a POLL answer),
 * not once per client: the first client that needs a variant encodes it into a
 * shared message, and the others take a reference. With 100 clients watching
 * with the defaults, a frame costs one encoding and 100 queue pushes.
 *
 * Per client, a RESULT goes out when the client's max_fps schedule allows it,
 * and a picture when its image schedule allows it and the inference thread
 * produced one for this frame. The inference thread encodes pictures only when
 * asked (FERD_WANT_* in the shared state), which this file recomputes after
 * every fan-out: JPEG encoding is the most expensive part of a frame after the
 * network, and most frames need none.
 *
 * Event watchers are told the state before the changes: when a subscription
 * starts, one FACE "appeared" with "initial" per live track of the loop's
 * table (tracks.h), so a subscriber never waits for a face that is already
 * there to leave and come back. END, when the source has ended, goes to every
 * watcher after its last RESULT or FACE, and to a watcher that subscribes
 * later right after its WATCH answer.
 */
#include "fanout.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "demand.h"
#include "log.h"
#include "rate.h"
#include "proto/result_json.h"

/* Distinct variants cached per frame; more are encoded per client. */
#define VARIANTS 8

typedef struct variant {
    int scores;
    double min_prob;
    fer_image_kind image;
    int poll;
    ferd_msg *m;
} variant;

typedef struct frame_cache {
    variant v[VARIANTS];
    int n;
    /* FACE events of this frame, encoded once. */
    int events_built;
    int nevents;
    fer_face_event ev[FER_RESULT_MAX_FACES + FER_RESULT_MAX_ENDED];
    ferd_msg *evmsg[FER_RESULT_MAX_FACES + FER_RESULT_MAX_ENDED];
} frame_cache;

static const uint8_t *image_bytes(const ferd_result *res, fer_image_kind k, size_t *len)
{
    if (k == FER_IMAGE_JPEG && res->jpeg) {
        *len = res->jpeg_len;
        return res->jpeg;
    }
    if (k == FER_IMAGE_ANNOTATED && res->annotated) {
        *len = res->annotated_len;
        return res->annotated;
    }
    *len = 0;
    return NULL;
}

/*
 * Encodes res as one variant: faces under min_prob removed (on a copy), scores
 * left out if asked, the picture attached if given. A line that would exceed
 * the protocol's maximum goes without its picture rather than not at all.
 */
static ferd_msg *encode(const ferd_result *res, int scores, double min_prob,
                        fer_image_kind image, int poll)
{
    const fer_frame_result *r = &res->r;
    fer_frame_result filtered;
    if (min_prob > 0) {
        filtered = *r;
        int k = 0;
        for (int i = 0; i < r->nfaces; i++)
            if (r->faces[i].prob >= min_prob)
                filtered.faces[k++] = r->faces[i];
        filtered.nfaces = k;
        r = &filtered;
    }
    fer_image_data img = {0};
    if (image != FER_IMAGE_NONE) {
        img.kind = image;
        img.width = res->img_w;
        img.height = res->img_h;
        img.jpeg = (uint8_t *)image_bytes(res, image, &img.len);
    }
    char *json = NULL;
    unsigned flags = scores ? 0 : FER_JSON_NO_SCORES;
    if (fer_result_msg_to_json(r, flags, img.jpeg ? &img : NULL, res->ready_ns, poll, &json) < 0)
        return NULL;
    size_t len = strlen(json);
    if (len + 1 > FER_PROTO_MAX_RESPONSE) {
        /* A picture too large for one line: the result goes without it. */
        free(json);
        if (fer_result_msg_to_json(r, flags, NULL, res->ready_ns, poll, &json) < 0)
            return NULL;
        len = strlen(json);
    }
    ferd_msg *m = ferd_msg_new(json, len);
    free(json);
    return m;
}

/* The shared message for a variant (a new reference), or NULL when out of memory. */
static ferd_msg *get_variant(frame_cache *fc, const ferd_result *res, int scores,
                             double min_prob, fer_image_kind image, int poll)
{
    for (int i = 0; i < fc->n; i++) {
        variant *v = &fc->v[i];
        if (v->scores == scores && v->min_prob == min_prob && v->image == image &&
            v->poll == poll)
            return v->m ? ferd_msg_ref(v->m) : NULL;
    }
    ferd_msg *m = encode(res, scores, min_prob, image, poll);
    if (m && fc->n < VARIANTS) {
        fc->v[fc->n++] = (variant){scores, min_prob, image, poll, ferd_msg_ref(m)};
    }
    return m;
}

static void cache_release(frame_cache *fc)
{
    for (int i = 0; i < fc->n; i++)
        ferd_msg_unref(fc->v[i].m);
    for (int i = 0; i < fc->nevents; i++)
        ferd_msg_unref(fc->evmsg[i]);
    fc->n = fc->nevents = 0;
}

/* The frame's FACE events: a track appears, its smoothed label changes, it ends. */
static void build_events(frame_cache *fc, const fer_frame_result *r)
{
    fc->events_built = 1;
    for (int i = 0; i < r->nfaces && i < FER_RESULT_MAX_FACES; i++) {
        const fer_face_result *f = &r->faces[i];
        fer_face_event ev;
        memset(&ev, 0, sizeof ev);
        if (f->events & FER_FACE_NEW)
            ev.event = FER_EVENT_APPEARED;
        else if (f->events & FER_FACE_LABEL_CHANGED)
            ev.event = FER_EVENT_CHANGED;
        else
            continue;
        ev.seq = r->seq;
        ev.wall_ms = r->wall_ms;
        ev.id = f->id;
        ev.box = f->box;
        int sl = f->smoothed_label, pl = f->previous_label;
        snprintf(ev.label, sizeof ev.label, "%s",
                 sl >= 0 && sl < r->nclasses ? r->classes[sl] : "unknown");
        ev.prob = f->smoothed_prob;
        if (ev.event == FER_EVENT_CHANGED)
            snprintf(ev.from, sizeof ev.from, "%s",
                     pl >= 0 && pl < r->nclasses ? r->classes[pl] : "unknown");
        fc->ev[fc->nevents] = ev;
        fc->evmsg[fc->nevents++] = NULL;
    }
    for (int i = 0; i < r->nended && i < FER_RESULT_MAX_ENDED; i++) {
        fer_face_event ev;
        memset(&ev, 0, sizeof ev);
        ev.event = FER_EVENT_ENDED;
        ev.seq = r->seq;
        ev.wall_ms = r->wall_ms;
        ev.id = r->ended[i];
        fc->ev[fc->nevents] = ev;
        fc->evmsg[fc->nevents++] = NULL;
    }
    for (int i = 0; i < fc->nevents; i++) {
        char *json = NULL;
        if (fer_face_event_to_json(&fc->ev[i], &json) == 0) {
            fc->evmsg[i] = ferd_msg_new(json, strlen(json));
            free(json);
        }
    }
}

static void send_events(frame_cache *fc, ferd_client *c, const fer_frame_result *r)
{
    if (!fc->events_built)
        build_events(fc, r);
    for (int i = 0; i < fc->nevents; i++) {
        if (!fc->evmsg[i])
            continue;
        /* min_prob hides weak appearances and changes; an end is always told. */
        if (fc->ev[i].event != FER_EVENT_ENDED && fc->ev[i].prob < c->watch.min_prob)
            continue;
        if (ferd_client_send(c, fc->evmsg[i], 1) == FERD_CLOSED)
            return;
    }
}

static double image_fps(const ferd *d, const ferd_client *c)
{
    return ferd_rate_image(c->watch.max_fps, d->cfg.image_max_fps);
}

static void answer_poll(frame_cache *fc, ferd_client *c, const ferd_result *res)
{
    fer_image_kind image = c->poll_image;
    ferd_msg *m = get_variant(fc, res, c->poll_scores, 0, image, 1);
    if (c->poll_waiting)
        ferd_client_poll_done(c);
    if (!m) {
        ferd_client_error(c, "internal", "POLL", "out of memory encoding the result");
        return;
    }
    ferd_client_send(c, m, 0);
    ferd_msg_unref(m);
}

/*
 * One pass over the clients per result: waiting POLLs whose picture is there
 * are answered; event watchers get this frame's FACE events; result watchers
 * get the RESULT variant they asked for when their rate schedule allows it,
 * with a picture when theirs allows one too. Stream messages go through
 * ferd_client_send as droppable, so a slow client only loses its own frames.
 */
void ferd_fanout_result(ferd *d, const ferd_result *res)
{
    frame_cache fc;
    fc.n = fc.nevents = fc.events_built = 0;
    uint64_t now = fer_mono_ns();
    for (int i = 0; i < d->nslots; i++) {
        ferd_client *c = &d->clients[i];
        if (!c->in_use || c->close_pending || c->closing || c->reject)
            continue;
        if (c->poll_waiting) {
            size_t len;
            if (c->poll_image == FER_IMAGE_NONE || image_bytes(res, c->poll_image, &len))
                answer_poll(&fc, c, res);
        }
        if (!c->watching)
            continue;
        if (c->watch.events) {
            send_events(&fc, c, &res->r);
            continue;
        }
        if (!ferd_rate_due(now, &c->next_due_ns, c->watch.max_fps))
            continue;
        fer_image_kind image = FER_IMAGE_NONE;
        size_t len;
        if (c->watch.image != FER_IMAGE_NONE && image_bytes(res, c->watch.image, &len) &&
            ferd_rate_due(now, &c->next_image_ns, image_fps(d, c)))
            image = c->watch.image;
        ferd_msg *m = get_variant(&fc, res, c->watch.scores, c->watch.min_prob, image, 0);
        if (!m) {
            c->dropped++;
            continue;
        }
        ferd_client_send(c, m, 1);
        ferd_msg_unref(m);
    }
    cache_release(&fc);
    ferd_fanout_update_images(d);
}

int ferd_fanout_poll_now(ferd *d, ferd_client *c)
{
    if (d->ended && !d->has_last) {
        ferd_client_error(c, "unavailable", "POLL", "the source ended before any frame was "
                          "processed (%s)", d->end.message);
        return 1;
    }
    if (!d->has_last || (d->watching == 0 && !d->ended))
        return 0;
    if (!d->ended && fer_mono_ns() - d->last.ready_ns > 1000000000ull)
        return 0;
    size_t len;
    if (c->poll_image != FER_IMAGE_NONE && !image_bytes(&d->last, c->poll_image, &len))
        return 0;
    frame_cache fc;
    fc.n = fc.nevents = fc.events_built = 0;
    answer_poll(&fc, c, &d->last);
    cache_release(&fc);
    return 1;
}

void ferd_fanout_watch_started(ferd *d, ferd_client *c)
{
    if (!c->watching)
        return;
    if (c->watch.events) {
        /* Tracks not seen for longer than the gap rule are about to end (the
         * source stalled): they are not "there" any more. */
        uint64_t now = fer_mono_ns(), gap = (uint64_t)d->cfg.track_gap_ms * 1000000ull;
        uint64_t since = d->cfg.track_gap_ms > 0 && now > gap ? now - gap : 0;
        ferd_track live[FER_TRACK_MAX];
        int n = ferd_tracks_live(&d->tracks, since, live);
        for (int i = 0; i < n; i++) {
            if (live[i].prob < c->watch.min_prob)
                continue;
            fer_face_event ev;
            memset(&ev, 0, sizeof ev);
            ev.event = FER_EVENT_APPEARED;
            ev.initial = 1;
            ev.seq = live[i].seq;
            ev.wall_ms = live[i].wall_ms;
            ev.id = live[i].id;
            ev.box = live[i].box;
            snprintf(ev.label, sizeof ev.label, "%s", live[i].label);
            ev.prob = live[i].prob;
            char *json = NULL;
            if (fer_face_event_to_json(&ev, &json) < 0)
                continue;
            ferd_msg *m = ferd_msg_new(json, strlen(json));
            free(json);
            if (!m)
                continue;
            int rc = ferd_client_send(c, m, 0);
            ferd_msg_unref(m);
            if (rc == FERD_CLOSED)
                return;
        }
    }
    if (d->ended) {
        char *json = NULL;
        if (fer_end_to_json(&d->end, &json) == 0)
            ferd_client_reply(c, json);
    }
}

void ferd_fanout_end(ferd *d)
{
    char *json = NULL;
    if (fer_end_to_json(&d->end, &json) < 0)
        return;
    ferd_msg *m = ferd_msg_new(json, strlen(json));
    free(json);
    for (int i = 0; i < d->nslots; i++) {
        ferd_client *c = &d->clients[i];
        if (!c->in_use || c->close_pending || c->closing || c->reject)
            continue;
        if (c->poll_waiting) {
            /* The result it waits for will not come: the last one is the answer. */
            ferd_client_poll_done(c);
            if (!ferd_fanout_poll_now(d, c))
                ferd_client_error(c, "unavailable", "POLL", "the source ended (%s) and the "
                                  "last frame has no picture", d->end.message);
        }
        if (c->watching && m)
            ferd_client_send(c, m, 0);
    }
    ferd_msg_unref(m);
}

void ferd_fanout_update_images(ferd *d)
{
    int want = 0;
    uint64_t soon = fer_mono_ns() + 100000000ull; /* pictures due within 100 ms */
    for (int i = 0; i < d->nslots; i++) {
        const ferd_client *c = &d->clients[i];
        if (!c->in_use || c->close_pending || c->reject)
            continue;
        fer_image_kind k = FER_IMAGE_NONE;
        if (c->poll_waiting && c->poll_image != FER_IMAGE_NONE)
            k = c->poll_image;
        else if (c->watching && !c->watch.events && c->watch.image != FER_IMAGE_NONE &&
                 c->next_image_ns <= soon)
            k = c->watch.image;
        if (k == FER_IMAGE_JPEG)
            want |= FERD_WANT_JPEG;
        else if (k == FER_IMAGE_ANNOTATED)
            want |= FERD_WANT_ANNOTATED;
    }
    atomic_store(&d->sh.want_images, want);
}
