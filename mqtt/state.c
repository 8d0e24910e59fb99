/*
 * state.c — see state.h. The summary is a fixed-size struct, compared with
 * the last published one field by field; nothing here allocates except the
 * payload.
 */
#include "state.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topics.h"

void fmq_state_init(fmq_state *s, double max_rate, double prob_delta)
{
    memset(s, 0, sizeof *s);
    s->max_rate = max_rate > 0 ? max_rate : 1;
    s->prob_delta = prob_delta;
}

void fmq_state_new_session(fmq_state *s)
{
    s->last_seq = 0;
}

int fmq_state_set_classes(fmq_state *s, const char (*classes)[FER_RESULT_CLASS_NAME], int n)
{
    if (n < 0)
        n = 0;
    if (n > FER_RESULT_MAX_CLASSES)
        n = FER_RESULT_MAX_CLASSES;
    int same = n == s->nclasses;
    for (int i = 0; same && i < n; i++)
        same = strcmp(s->classes[i], classes[i]) == 0;
    if (same)
        return 0;
    s->nclasses = n;
    for (int i = 0; i < n; i++)
        snprintf(s->classes[i], sizeof s->classes[i], "%s", classes[i]);
    /* Scores of the old list mean nothing under the new one. */
    memset(s->cur.scores, 0, sizeof s->cur.scores);
    s->published = 0;
    return 1;
}

static int class_index(const fmq_state *s, const char *name)
{
    for (int i = 0; i < s->nclasses; i++)
        if (strcmp(s->classes[i], name) == 0)
            return i;
    return -1;
}

static const char *label_of(const fer_frame_result *r, int i)
{
    return i >= 0 && i < r->nclasses ? r->classes[i] : "";
}

int fmq_state_update(fmq_state *s, const fer_frame_result *r)
{
    if (s->have && s->last_seq && r->seq <= s->last_seq)
        return -ESTALE;
    if (s->nclasses == 0 && r->nclasses > 0)
        fmq_state_set_classes(s, (const char (*)[FER_RESULT_CLASS_NAME])r->classes, r->nclasses);
    fmq_summary *c = &s->cur;
    memset(c, 0, sizeof *c);
    c->seq = r->seq;
    c->wall_ms = r->wall_ms;
    c->nfaces = r->nfaces < FER_RESULT_MAX_FACES ? r->nfaces : FER_RESULT_MAX_FACES;
    double votes[FER_RESULT_MAX_CLASSES] = {0}, mass[FER_RESULT_MAX_CLASSES] = {0};
    for (int i = 0; i < c->nfaces; i++) {
        const fer_face_result *f = &r->faces[i];
        fmq_state_face *o = &c->faces[i];
        o->id = f->id;
        snprintf(o->label, sizeof o->label, "%s", label_of(r, f->smoothed_label));
        o->prob = f->smoothed_prob;
        o->box = f->box;
        int k = class_index(s, o->label);
        if (k >= 0) {
            votes[k] += 1;
            mass[k] += f->smoothed_prob;
        }
        if (r->has_scores)
            for (int j = 0; j < r->nclasses; j++) {
                int m = class_index(s, r->classes[j]);
                if (m >= 0)
                    c->scores[m] += f->scores[j];
            }
    }
    if (c->nfaces > 0)
        for (int m = 0; m < s->nclasses; m++)
            c->scores[m] /= (float)c->nfaces;
    int best = -1;
    for (int m = 0; m < s->nclasses; m++)
        if (votes[m] > 0 &&
            (best < 0 || votes[m] > votes[best] || (votes[m] == votes[best] && mass[m] > mass[best])))
            best = m;
    snprintf(c->dominant, sizeof c->dominant, "%s",
             best >= 0 ? s->classes[best] : c->nfaces ? c->faces[0].label : "none");
    s->have = 1;
    s->last_seq = r->seq;
    return 0;
}

void fmq_state_stall(fmq_state *s)
{
    if (!s->have || s->cur.stalled)
        return;
    fmq_summary *c = &s->cur;
    c->nfaces = 0;
    memset(c->scores, 0, sizeof c->scores);
    snprintf(c->dominant, sizeof c->dominant, "none");
    c->stalled = 1;
}

static int moved(float a, float b, double delta)
{
    return delta <= 0 ? a != b : fabs((double)a - (double)b) >= delta;
}

int fmq_state_changed(const fmq_state *s)
{
    if (!s->have)
        return 0;
    if (!s->published)
        return 1;
    const fmq_summary *a = &s->cur, *b = &s->pub;
    if (a->nfaces != b->nfaces || strcmp(a->dominant, b->dominant) != 0 ||
        a->stalled != b->stalled)
        return 1;
    for (int i = 0; i < a->nfaces; i++) {
        /* Faces are compared by track id: ferd may list them in another order. */
        const fmq_state_face *fa = &a->faces[i], *fb = NULL;
        for (int j = 0; j < b->nfaces && !fb; j++)
            if (b->faces[j].id == fa->id)
                fb = &b->faces[j];
        if (!fb || strcmp(fa->label, fb->label) != 0 || moved(fa->prob, fb->prob, s->prob_delta))
            return 1;
    }
    for (int m = 0; m < s->nclasses; m++)
        if (moved(a->scores[m], b->scores[m], s->prob_delta))
            return 1;
    return 0;
}

int64_t fmq_state_due_ms(const fmq_state *s)
{
    if (!fmq_state_changed(s))
        return -1;
    if (!s->published)
        return 0;
    return s->last_pub_ms + (int64_t)ceil(1000.0 / s->max_rate);
}

int fmq_state_payload(const fmq_state *s, char **out)
{
    *out = NULL;
    if (!s->have)
        return -ENODATA;
    const fmq_summary *c = &s->cur;
    cJSON *o = cJSON_CreateObject();
    cJSON *sc = NULL, *tracks = NULL;
    int ok = o && cJSON_AddNumberToObject(o, "faces", c->nfaces) &&
             cJSON_AddStringToObject(o, "dominant", c->dominant) &&
             (sc = cJSON_AddObjectToObject(o, "scores")) != NULL;
    for (int m = 0; ok && m < s->nclasses; m++)
        ok = cJSON_AddNumberToObject(sc, s->classes[m], fmq_round(c->scores[m], 1e-4)) != NULL;
    ok = ok && (tracks = cJSON_AddArrayToObject(o, "tracks")) != NULL;
    for (int i = 0; ok && i < c->nfaces; i++) {
        const fmq_state_face *f = &c->faces[i];
        cJSON *t = cJSON_CreateObject();
        ok = t && cJSON_AddItemToArray(tracks, t);
        if (!ok) {
            cJSON_Delete(t);
            break;
        }
        ok = cJSON_AddNumberToObject(t, "id", f->id) &&
             cJSON_AddStringToObject(t, "label", f->label) &&
             cJSON_AddNumberToObject(t, "prob", fmq_round(f->prob, 1e-4)) &&
             fmq_json_add_box(t, "box", f->box) == 0;
    }
    ok = ok && cJSON_AddNumberToObject(o, "seq", (double)c->seq) &&
         fmq_json_add_time(o, "time", c->wall_ms) == 0;
    if (ok && c->stalled)
        ok = cJSON_AddBoolToObject(o, "stalled", 1) != NULL;
    return fmq_json_finish(o, ok, out);
}

void fmq_state_mark_published(fmq_state *s, int64_t now_ms)
{
    s->pub = s->cur;
    s->published = 1;
    s->last_pub_ms = now_ms;
}
