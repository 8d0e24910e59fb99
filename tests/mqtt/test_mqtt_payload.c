/*
 * test_mqtt_payload.c — what ferd-mqtt publishes, made from ferd's objects
 * without a broker: event messages and their track memory (mqtt/events.c),
 * the state summary with its change and rate rules (mqtt/state.c), the
 * status message and the redaction of credentials (mqtt/topics.c). Every
 * payload is parsed back with cJSON and checked field by field.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "proto/protocol.h"
#include "state.h"
#include "topics.h"

static const char *const classes7[] = {"angry", "disgust", "fear", "happy",
                                       "sad",   "surprise", "neutral"};

static cJSON *parse_free(char *text)
{
    ck_assert_ptr_nonnull(text);
    cJSON *o = cJSON_Parse(text);
    ck_assert_msg(o != NULL, "not JSON: %s", text);
    free(text);
    return o;
}

static const cJSON *get(const cJSON *o, const char *path)
{
    /* "a.b.c" */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        cur = cJSON_GetObjectItemCaseSensitive(cur, k);
        ck_assert_msg(cur != NULL, "no %s", path);
    }
    return cur;
}

static const char *str(const cJSON *o, const char *path)
{
    const cJSON *v = get(o, path);
    ck_assert_msg(cJSON_IsString(v), "%s is not a string", path);
    return v->valuestring;
}

static double num(const cJSON *o, const char *path)
{
    const cJSON *v = get(o, path);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", path);
    return v->valuedouble;
}

static int has(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

/* ---- events ---- */

static fer_face_event ev_make(fer_face_event_kind k, int id, uint64_t seq, const char *label,
                              float prob, const char *from)
{
    fer_face_event ev;
    memset(&ev, 0, sizeof ev);
    ev.event = k;
    ev.id = id;
    ev.seq = seq;
    ev.wall_ms = 1796000000000LL + (int64_t)seq * 100;
    ev.box = (fer_box){10 * id, 20, 100, 100 + (int)seq};
    if (label)
        snprintf(ev.label, sizeof ev.label, "%s", label);
    ev.prob = prob;
    if (from)
        snprintf(ev.from, sizeof ev.from, "%s", from);
    return ev;
}

START_TEST(t_event_lifecycle)
{
    fmq_tracks tr;
    fmq_tracks_clear(&tr);
    char *out = NULL;

    fer_face_event ev = ev_make(FER_EVENT_APPEARED, 3, 10, "happy", 0.81234f, NULL);
    ck_assert_int_eq(fmq_event_payload(&tr, &ev, "kitchen", &out), 0);
    cJSON *o = parse_free(out);
    ck_assert_str_eq(str(o, "type"), "new");
    ck_assert_str_eq(str(o, "event"), "appeared");
    ck_assert_str_eq(str(o, "instance"), "kitchen");
    ck_assert(num(o, "id") == 3 && num(o, "seq") == 10);
    ck_assert_str_eq(str(o, "time"), "2026-11-30T00:53:21.000Z");
    /* Frigate's "new": before is after. */
    ck_assert_str_eq(str(o, "after.label"), "happy");
    ck_assert(num(o, "after.prob") == 0.8123);
    ck_assert(num(o, "after.box.h") == 110);
    ck_assert_str_eq(str(o, "after.start_time"), str(o, "time"));
    char *b = cJSON_PrintUnformatted(get(o, "before")), *a = cJSON_PrintUnformatted(get(o, "after"));
    ck_assert_str_eq(b, a);
    free(b);
    free(a);
    cJSON_Delete(o);
    ck_assert_int_eq(fmq_tracks_count(&tr), 1);

    ev = ev_make(FER_EVENT_CHANGED, 3, 20, "surprise", 0.6f, "happy");
    ck_assert_int_eq(fmq_event_payload(&tr, &ev, "kitchen", &out), 0);
    o = parse_free(out);
    ck_assert_str_eq(str(o, "type"), "update");
    ck_assert_str_eq(str(o, "before.label"), "happy");
    ck_assert(num(o, "before.prob") == 0.8123);
    ck_assert(num(o, "before.box.h") == 110);
    ck_assert_str_eq(str(o, "after.label"), "surprise");
    ck_assert(num(o, "after.prob") == 0.6);
    ck_assert(num(o, "after.box.h") == 120);
    /* The track keeps its start. */
    ck_assert_str_eq(str(o, "after.start_time"), "2026-11-30T00:53:21.000Z");
    ck_assert(!has(get(o, "after"), "end_time"));
    cJSON_Delete(o);

    ev = ev_make(FER_EVENT_ENDED, 3, 30, NULL, 0, NULL);
    ck_assert_int_eq(fmq_event_payload(&tr, &ev, "kitchen", &out), 0);
    o = parse_free(out);
    ck_assert_str_eq(str(o, "type"), "end");
    ck_assert_str_eq(str(o, "event"), "ended");
    ck_assert_str_eq(str(o, "before.label"), "surprise");
    ck_assert_str_eq(str(o, "after.label"), "surprise");
    ck_assert_str_eq(str(o, "after.end_time"), "2026-11-30T00:53:23.000Z");
    ck_assert(!has(get(o, "before"), "end_time"));
    cJSON_Delete(o);
    ck_assert_int_eq(fmq_tracks_count(&tr), 0);
    ck_assert_ptr_null(fmq_tracks_find(&tr, 3));
}
END_TEST

START_TEST(t_event_unknown_track)
{
    fmq_tracks tr;
    fmq_tracks_clear(&tr);
    char *out = NULL;
    /* The bridge started in the middle of track 7. */
    fer_face_event ev = ev_make(FER_EVENT_CHANGED, 7, 5, "sad", 0.5f, "neutral");
    ck_assert_int_eq(fmq_event_payload(&tr, &ev, "x", &out), 0);
    cJSON *o = parse_free(out);
    ck_assert_str_eq(str(o, "before.label"), "neutral");
    /* What is not known is absent, never made up. */
    ck_assert(!has(get(o, "before"), "prob"));
    ck_assert(!has(get(o, "before"), "box"));
    ck_assert(!has(get(o, "before"), "start_time"));
    ck_assert(!has(get(o, "after"), "start_time"));
    cJSON_Delete(o);

    ev = ev_make(FER_EVENT_ENDED, 8, 6, NULL, 0, NULL);
    ck_assert_int_eq(fmq_event_payload(&tr, &ev, "x", &out), 0);
    o = parse_free(out);
    ck_assert(num(o, "before.id") == 8);
    ck_assert(!has(get(o, "before"), "label"));
    ck_assert(has(get(o, "after"), "end_time"));
    cJSON_Delete(o);

    ev.event = (fer_face_event_kind)99;
    ck_assert_int_eq(fmq_event_payload(&tr, &ev, "x", &out), -EINVAL);
    ck_assert_ptr_null(out);
}
END_TEST

START_TEST(t_event_table_bounded)
{
    fmq_tracks tr;
    fmq_tracks_clear(&tr);
    char *out = NULL;
    /* Tracks whose end never came (ferd restarted): the table stays bounded
     * and forgets the oldest. */
    for (int id = 1; id <= FMQ_TRACKS_MAX + 10; id++) {
        fer_face_event ev = ev_make(FER_EVENT_APPEARED, id, (uint64_t)id, "fear", 0.4f, NULL);
        ck_assert_int_eq(fmq_event_payload(&tr, &ev, "x", &out), 0);
        free(out);
    }
    ck_assert_int_eq(fmq_tracks_count(&tr), FMQ_TRACKS_MAX);
    ck_assert_ptr_null(fmq_tracks_find(&tr, 1));
    ck_assert_ptr_null(fmq_tracks_find(&tr, 10));
    ck_assert_ptr_nonnull(fmq_tracks_find(&tr, 11));
    ck_assert_ptr_nonnull(fmq_tracks_find(&tr, FMQ_TRACKS_MAX + 10));
    fmq_tracks_clear(&tr);
    ck_assert_int_eq(fmq_tracks_count(&tr), 0);
}
END_TEST

/* ---- state ---- */

static void set_classes(fer_frame_result *r)
{
    r->nclasses = 7;
    for (int i = 0; i < 7; i++)
        snprintf(r->classes[i], sizeof r->classes[i], "%s", classes7[i]);
    r->has_scores = 1;
}

/* A face whose smoothed label is `label` with smoothed prob p, and whose
 * frame scores put s on `label` and the rest evenly on the others. */
static void add_face(fer_frame_result *r, int id, int label, float p, float s)
{
    fer_face_result *f = &r->faces[r->nfaces++];
    memset(f, 0, sizeof *f);
    f->id = id;
    f->box = (fer_box){id * 50, 10, 80, 80};
    f->label = label;
    f->prob = s;
    f->smoothed_label = label;
    f->smoothed_prob = p;
    for (int c = 0; c < 7; c++)
        f->scores[c] = c == label ? s : (1 - s) / 6;
    f->previous_label = -1;
}

static fer_frame_result frame(uint64_t seq)
{
    fer_frame_result r;
    memset(&r, 0, sizeof r);
    r.seq = seq;
    r.wall_ms = 1796000000000LL + (int64_t)seq;
    r.width = 640;
    r.height = 480;
    set_classes(&r);
    return r;
}

static void state_classes(fmq_state *s)
{
    char cl[7][FER_RESULT_CLASS_NAME];
    for (int i = 0; i < 7; i++)
        snprintf(cl[i], sizeof cl[i], "%s", classes7[i]);
    ck_assert_int_eq(fmq_state_set_classes(s, (const char (*)[FER_RESULT_CLASS_NAME])cl, 7), 1);
    ck_assert_int_eq(fmq_state_set_classes(s, (const char (*)[FER_RESULT_CLASS_NAME])cl, 7), 0);
}

START_TEST(t_state_summary)
{
    fmq_state s;
    fmq_state_init(&s, 2, 0.05);
    state_classes(&s);
    char *out = NULL;
    ck_assert_int_eq(fmq_state_payload(&s, &out), -ENODATA);
    ck_assert_int_eq(fmq_state_due_ms(&s), -1);

    fer_frame_result r = frame(5);
    ck_assert_int_eq(fmq_state_update(&s, &r), 0);
    ck_assert_int_eq(fmq_state_payload(&s, &out), 0);
    cJSON *o = parse_free(out);
    ck_assert(num(o, "faces") == 0);
    ck_assert_str_eq(str(o, "dominant"), "none");
    ck_assert(num(o, "scores.happy") == 0);
    ck_assert_int_eq(cJSON_GetArraySize(get(o, "tracks")), 0);
    ck_assert(num(o, "seq") == 5);
    cJSON_Delete(o);

    /* Two happy faces and one sad one: happy dominates by count, although
     * the sad face is the most certain. */
    r = frame(6);
    add_face(&r, 1, 3, 0.5f, 0.6f);
    add_face(&r, 2, 3, 0.4f, 0.4f);
    add_face(&r, 3, 4, 0.95f, 0.9f);
    ck_assert_int_eq(fmq_state_update(&s, &r), 0);
    ck_assert_int_eq(fmq_state_payload(&s, &out), 0);
    o = parse_free(out);
    ck_assert(num(o, "faces") == 3);
    ck_assert_str_eq(str(o, "dominant"), "happy");
    /* Mean over faces of the frame's scores. */
    double happy = (0.6 + 0.4 + 0.1 / 6) / 3, sad = (0.4 / 6 + 0.6 / 6 + 0.9) / 3;
    ck_assert_msg(fabs(num(o, "scores.happy") - happy) < 1e-4, "%g", num(o, "scores.happy"));
    ck_assert_msg(fabs(num(o, "scores.sad") - sad) < 1e-4, "%g", num(o, "scores.sad"));
    const cJSON *t = cJSON_GetArrayItem(get(o, "tracks"), 2);
    ck_assert(num(t, "id") == 3);
    ck_assert_str_eq(str(t, "label"), "sad");
    ck_assert(num(t, "prob") == 0.95);
    ck_assert(num(t, "box.x") == 150);
    cJSON_Delete(o);

    /* A tie in count goes to the larger summed probability. */
    r = frame(7);
    add_face(&r, 1, 3, 0.5f, 0.5f);
    add_face(&r, 3, 4, 0.7f, 0.7f);
    ck_assert_int_eq(fmq_state_update(&s, &r), 0);
    ck_assert_str_eq(s.cur.dominant, "sad");

    /* An older frame (a POLL answer that trailed the stream) is ignored. */
    r = frame(6);
    ck_assert_int_eq(fmq_state_update(&s, &r), -ESTALE);
    ck_assert_int_eq(s.cur.seq, 7);
    /* ... until ferd restarts and numbers frames from 1 again. */
    fmq_state_new_session(&s);
    r = frame(1);
    ck_assert_int_eq(fmq_state_update(&s, &r), 0);
    ck_assert_int_eq(s.cur.seq, 1);
}
END_TEST

START_TEST(t_state_changes_and_rate)
{
    fmq_state s;
    fmq_state_init(&s, 2, 0.05); /* at most every 500 ms */
    state_classes(&s);
    fer_frame_result r = frame(1);
    add_face(&r, 1, 3, 0.6f, 0.6f);
    fmq_state_update(&s, &r);
    ck_assert_int_eq(fmq_state_changed(&s), 1);
    ck_assert_int_eq(fmq_state_due_ms(&s), 0); /* never published: now */
    fmq_state_mark_published(&s, 10000);
    ck_assert_int_eq(fmq_state_changed(&s), 0);
    ck_assert_int_eq(fmq_state_due_ms(&s), -1);

    /* The box moves and the probability drifts under the delta: no change. */
    r = frame(2);
    add_face(&r, 1, 3, 0.63f, 0.62f);
    r.faces[0].box.x += 40;
    fmq_state_update(&s, &r);
    ck_assert_int_eq(fmq_state_changed(&s), 0);

    /* Past the delta: a change, due when the interval ends. */
    r = frame(3);
    add_face(&r, 1, 3, 0.66f, 0.6f);
    fmq_state_update(&s, &r);
    ck_assert_int_eq(fmq_state_changed(&s), 1);
    ck_assert_int_eq(fmq_state_due_ms(&s), 10500);

    /* A label change, and then back before the interval ended: nothing left
     * to say compared with what was published... */
    r = frame(4);
    add_face(&r, 1, 4, 0.6f, 0.6f);
    fmq_state_update(&s, &r);
    ck_assert_int_eq(fmq_state_changed(&s), 1);
    r = frame(5);
    add_face(&r, 1, 3, 0.6f, 0.6f);
    fmq_state_update(&s, &r);
    ck_assert_int_eq(fmq_state_changed(&s), 0);

    /* A face appearing is a change; the same faces listed in another order
     * are not. */
    r = frame(6);
    add_face(&r, 1, 3, 0.6f, 0.6f);
    add_face(&r, 2, 6, 0.5f, 0.5f);
    fmq_state_update(&s, &r);
    ck_assert_int_eq(fmq_state_changed(&s), 1);
    fmq_state_mark_published(&s, 20000);
    r = frame(7);
    add_face(&r, 2, 6, 0.5f, 0.5f);
    add_face(&r, 1, 3, 0.6f, 0.6f);
    fmq_state_update(&s, &r);
    ck_assert_int_eq(fmq_state_changed(&s), 0);
    /* A face replaced by another with the same label is a change. */
    r = frame(8);
    add_face(&r, 1, 3, 0.6f, 0.6f);
    add_face(&r, 9, 6, 0.5f, 0.5f);
    fmq_state_update(&s, &r);
    ck_assert_int_eq(fmq_state_changed(&s), 1);

    /* With delta 0 any probability change counts. */
    fmq_state s0;
    fmq_state_init(&s0, 10, 0);
    state_classes(&s0);
    r = frame(1);
    add_face(&r, 1, 3, 0.6f, 0.6f);
    fmq_state_update(&s0, &r);
    fmq_state_mark_published(&s0, 0);
    r = frame(2);
    add_face(&r, 1, 3, 0.6001f, 0.6f);
    fmq_state_update(&s0, &r);
    ck_assert_int_eq(fmq_state_changed(&s0), 1);
    ck_assert_int_eq(fmq_state_due_ms(&s0), 100);
}
END_TEST

START_TEST(t_state_stall)
{
    fmq_state s;
    fmq_state_init(&s, 1, 0.05);
    state_classes(&s);
    fmq_state_stall(&s); /* no frame yet: nothing to say */
    ck_assert_int_eq(s.have, 0);
    fer_frame_result r = frame(40);
    add_face(&r, 1, 3, 0.9f, 0.9f);
    fmq_state_update(&s, &r);
    fmq_state_mark_published(&s, 0);
    fmq_state_stall(&s);
    ck_assert_int_eq(fmq_state_changed(&s), 1);
    char *out = NULL;
    ck_assert_int_eq(fmq_state_payload(&s, &out), 0);
    cJSON *o = parse_free(out);
    ck_assert(num(o, "faces") == 0);
    ck_assert_str_eq(str(o, "dominant"), "none");
    ck_assert(num(o, "scores.happy") == 0);
    ck_assert_int_eq(cJSON_GetArraySize(get(o, "tracks")), 0);
    ck_assert(cJSON_IsTrue(get(o, "stalled")));
    ck_assert(num(o, "seq") == 40); /* the last frame there was */
    cJSON_Delete(o);
    fmq_state_mark_published(&s, 1000);
    fmq_state_stall(&s); /* already: no change */
    ck_assert_int_eq(fmq_state_changed(&s), 0);
    /* Frames again: the mark goes. */
    r = frame(41);
    add_face(&r, 1, 3, 0.9f, 0.9f);
    fmq_state_update(&s, &r);
    ck_assert_int_eq(fmq_state_changed(&s), 1);
    ck_assert_int_eq(fmq_state_payload(&s, &out), 0);
    o = parse_free(out);
    ck_assert(!has(o, "stalled"));
    ck_assert(num(o, "faces") == 1);
    cJSON_Delete(o);
}
END_TEST

START_TEST(t_state_classes)
{
    /* Without STATUS yet, the classes come from the first frame with faces;
     * a new model's list resets the scores and forces a publish. */
    fmq_state s;
    fmq_state_init(&s, 1, 0.05);
    fer_frame_result r = frame(1);
    add_face(&r, 1, 0, 0.9f, 0.9f);
    fmq_state_update(&s, &r);
    ck_assert_int_eq(s.nclasses, 7);
    fmq_state_mark_published(&s, 0);
    char cl[2][FER_RESULT_CLASS_NAME] = {"yes", "no"};
    ck_assert_int_eq(fmq_state_set_classes(&s, (const char (*)[FER_RESULT_CLASS_NAME])cl, 2), 1);
    ck_assert_int_eq(fmq_state_changed(&s), 1);
    char *out = NULL;
    ck_assert_int_eq(fmq_state_payload(&s, &out), 0);
    cJSON *o = parse_free(out);
    ck_assert_int_eq(cJSON_GetArraySize(get(o, "scores")), 2);
    ck_assert(num(o, "scores.yes") == 0);
    cJSON_Delete(o);
}
END_TEST

/* ---- status and redaction ---- */

START_TEST(t_redact)
{
    char s[128];
    snprintf(s, sizeof s, "rtsp://admin:hunter2@cam.lan:554/stream");
    fmq_redact_userinfo(s, sizeof s);
    ck_assert_str_eq(s, "rtsp://***@cam.lan:554/stream");
    snprintf(s, sizeof s, "cannot open rtsp://u:p@a/x or http://b/c@d or https://k@h");
    fmq_redact_userinfo(s, sizeof s);
    ck_assert_str_eq(s, "cannot open rtsp://***@a/x or http://b/c@d or https://***@h");
    snprintf(s, sizeof s, "/dev/video0");
    fmq_redact_userinfo(s, sizeof s);
    ck_assert_str_eq(s, "/dev/video0");
    /* "a@" grows to "***@": the buffer's end is respected. */
    char small[12] = "x://a@hostz";
    fmq_redact_userinfo(small, sizeof small);
    ck_assert_uint_lt(strlen(small), sizeof small);
    ck_assert_msg(strncmp(small, "x://***@", 8) == 0, "%s", small);
    char tiny[7] = "x://a@";
    fmq_redact_userinfo(tiny, sizeof tiny);
    ck_assert_msg(!strchr(tiny, 'a'), "%s", tiny);
}
END_TEST

START_TEST(t_status_payload)
{
    fer_status_msg *st = calloc(1, sizeof *st);
    ck_assert_ptr_nonnull(st);
    snprintf(st->release, sizeof st->release, "0.1.0");
    st->uptime = 12.5;
    st->pid = 4242;
    snprintf(st->source.name, sizeof st->source.name, "rtsp://admin:hunter2@cam/live");
    snprintf(st->source.kind, sizeof st->source.kind, "stream");
    snprintf(st->source.state, sizeof st->source.state, "reconnecting");
    snprintf(st->source.error, sizeof st->source.error,
             "cannot open rtsp://admin:hunter2@cam/live: timeout");
    st->source.fps = -1;
    st->has_model = 1;
    snprintf(st->model.name, sizeof st->model.name, "default");
    st->model.nclasses = 2;
    snprintf(st->model.classes[0], sizeof st->model.classes[0], "a");
    snprintf(st->model.classes[1], sizeof st->model.classes[1], "b");
    st->model.params = 10;
    st->model.val_acc = st->model.test_acc = -1;
    st->latency.p50 = st->latency.p99 = -1;
    st->nlist = 1;
    st->list[0].id = 1;
    st->list[0].uid = 1000;
    st->list[0].pid = 777;
    fmq_bridge_stats bs = {.events = 3, .dropped = 2, .queued = 1, .bad_lines = 4};
    char *out = NULL;
    ck_assert_int_eq(fmq_status_payload(st, "door", &bs, &out), 0);
    ck_assert_msg(!strstr(out, "hunter2"), "%s", out);
    cJSON *o = parse_free(out);
    ck_assert_str_eq(str(o, "class"), "STATUS");
    ck_assert_str_eq(str(o, "instance"), "door");
    ck_assert_str_eq(str(o, "source.name"), "rtsp://***@cam/live");
    ck_assert_str_eq(str(o, "source.error"), "cannot open rtsp://***@cam/live: timeout");
    ck_assert(!has(o, "client_list"));
    ck_assert(num(o, "bridge.events") == 3 && num(o, "bridge.dropped") == 2 &&
              num(o, "bridge.queued") == 1 && num(o, "bridge.bad_lines") == 4);
    ck_assert_int_eq(cJSON_GetArraySize(get(o, "model.classes")), 2);
    /* The input was not modified. */
    ck_assert_str_eq(st->source.name, "rtsp://admin:hunter2@cam/live");
    cJSON_Delete(o);
    free(st);
}
END_TEST

START_TEST(t_topics)
{
    fmq_config c;
    fmq_config_default(&c);
    snprintf(c.topic_prefix, sizeof c.topic_prefix, "site/ferd");
    snprintf(c.instance, sizeof c.instance, "door");
    fmq_topics t;
    fmq_topics_init(&t, &c);
    ck_assert_str_eq(t.base, "site/ferd/door");
    ck_assert_str_eq(t.availability, "site/ferd/door/availability");
    ck_assert_str_eq(t.events, "site/ferd/door/events");
    ck_assert_str_eq(t.state, "site/ferd/door/state");
    ck_assert_str_eq(t.results, "site/ferd/door/results");
    ck_assert_str_eq(t.status, "site/ferd/door/status");
    ck_assert(fabs(fmq_round(0.123456, 1e-4) - 0.1235) < 1e-12);
    ck_assert(fmq_round(NAN, 1e-4) == 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mqtt-payload");
    TCase *tc = tcase_create("payload");
    tcase_add_test(tc, t_event_lifecycle);
    tcase_add_test(tc, t_event_unknown_track);
    tcase_add_test(tc, t_event_table_bounded);
    tcase_add_test(tc, t_state_summary);
    tcase_add_test(tc, t_state_changes_and_rate);
    tcase_add_test(tc, t_state_stall);
    tcase_add_test(tc, t_state_classes);
    tcase_add_test(tc, t_redact);
    tcase_add_test(tc, t_status_payload);
    tcase_add_test(tc, t_topics);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
