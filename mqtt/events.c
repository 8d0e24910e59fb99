/*
 * events.c — see events.h. The table is a fixed array searched linearly: it
 * holds at most a few live tracks (ferd reports at most 16 faces a frame),
 * and a fixed size means no event stream can make the bridge grow.
 */
#include "events.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "topics.h"

void fmq_tracks_clear(fmq_tracks *tr)
{
    memset(tr, 0, sizeof *tr);
}

static fmq_track *find(fmq_tracks *tr, int id)
{
    for (int i = 0; i < FMQ_TRACKS_MAX; i++)
        if (tr->t[i].used && tr->t[i].id == id)
            return &tr->t[i];
    return NULL;
}

const fmq_track *fmq_tracks_find(const fmq_tracks *tr, int id)
{
    return find((fmq_tracks *)tr, id);
}

int fmq_tracks_count(const fmq_tracks *tr)
{
    int n = 0;
    for (int i = 0; i < FMQ_TRACKS_MAX; i++)
        n += tr->t[i].used;
    return n;
}

/* A free entry, or the one touched longest ago. */
static fmq_track *slot_for(fmq_tracks *tr)
{
    fmq_track *oldest = &tr->t[0];
    for (int i = 0; i < FMQ_TRACKS_MAX; i++) {
        if (!tr->t[i].used)
            return &tr->t[i];
        if (tr->t[i].touched < oldest->touched)
            oldest = &tr->t[i];
    }
    return oldest;
}

/* One face object: what is known of it. */
static cJSON *face_object(const fmq_track *f, int64_t end_ms)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddNumberToObject(o, "id", f->id);
    if (ok && f->label[0])
        ok = cJSON_AddStringToObject(o, "label", f->label) != NULL;
    if (ok && f->has_prob)
        ok = cJSON_AddNumberToObject(o, "prob", fmq_round(f->prob, 1e-4)) != NULL;
    if (ok && f->has_box)
        ok = fmq_json_add_box(o, "box", f->box) == 0;
    if (ok && f->start_ms >= 0)
        ok = fmq_json_add_time(o, "start_time", f->start_ms) == 0;
    if (ok && end_ms >= 0)
        ok = fmq_json_add_time(o, "end_time", end_ms) == 0;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int fmq_event_payload(fmq_tracks *tr, const fer_face_event *ev, const char *instance, char **out)
{
    *out = NULL;
    const char *type;
    switch (ev->event) {
    case FER_EVENT_APPEARED:
        type = "new";
        break;
    case FER_EVENT_CHANGED:
        type = "update";
        break;
    case FER_EVENT_ENDED:
        type = "end";
        break;
    default:
        return -EINVAL;
    }
    tr->clock++;
    fmq_track *known = find(tr, ev->id);
    fmq_track before, after;
    memset(&before, 0, sizeof before);
    before.id = ev->id;
    before.start_ms = -1;
    if (known)
        before = *known;
    /* ferd says what the label was; the table may have missed a change. */
    if (ev->event == FER_EVENT_CHANGED)
        snprintf(before.label, sizeof before.label, "%s", ev->from);

    after = before;
    int64_t end_ms = -1;
    if (ev->event == FER_EVENT_ENDED) {
        end_ms = ev->wall_ms;
    } else {
        snprintf(after.label, sizeof after.label, "%s", ev->label);
        after.prob = ev->prob;
        after.has_prob = 1;
        after.box = ev->box;
        after.has_box = 1;
        if (ev->event == FER_EVENT_APPEARED) {
            after.start_ms = ev->wall_ms;
            before = after;
        }
    }

    /* The table follows the stream whether or not the message can be made. */
    if (ev->event == FER_EVENT_ENDED) {
        if (known)
            known->used = 0;
    } else {
        fmq_track *slot = known ? known : slot_for(tr);
        *slot = after;
        slot->used = 1;
        slot->touched = tr->clock;
    }

    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "type", type) &&
             cJSON_AddStringToObject(o, "event", fer_face_event_name(ev->event)) &&
             cJSON_AddStringToObject(o, "instance", instance) &&
             cJSON_AddNumberToObject(o, "id", ev->id) &&
             cJSON_AddNumberToObject(o, "seq", (double)ev->seq) &&
             fmq_json_add_time(o, "time", ev->wall_ms) == 0;
    cJSON *b = face_object(&before, -1);
    if (ok && b && cJSON_AddItemToObject(o, "before", b))
        b = NULL;
    else
        ok = 0;
    cJSON_Delete(b);
    cJSON *a = face_object(&after, end_ms);
    if (ok && a && cJSON_AddItemToObject(o, "after", a))
        a = NULL;
    else
        ok = 0;
    cJSON_Delete(a);
    return fmq_json_finish(o, ok, out);
}
