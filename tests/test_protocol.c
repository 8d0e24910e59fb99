/*
 * test_protocol.c — protocol v1 (proto/protocol.c), linked without libfer as a
 * client would be: request parsing (defaults, every refusal and its reason,
 * unknown keys, limits, NUL bytes), request encoding round trips, every daemon
 * object encoded and decoded back, absent-not-null, unknown classes, and
 * base64.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/protocol.h"
#include "proto/serve.h"
#include "proto/result_json.h"
#include "util/utf8.h"

static int parse(fer_request *r, const char *s)
{
    fer_error err = {0};
    return fer_request_parse(r, s, strlen(s), &err);
}

START_TEST(t_request_defaults)
{
    fer_request r;
    ck_assert_int_eq(parse(&r, "{\"class\":\"WATCH\"}\n"), 0);
    ck_assert_int_eq(r.kind, FER_REQ_WATCH);
    ck_assert_int_eq(r.watch.enable, 1);
    ck_assert_int_eq(r.watch.scores, 1);
    ck_assert_int_eq(r.watch.events, 0);
    ck_assert(r.watch.max_fps == 0 && r.watch.min_prob == 0);
    ck_assert_int_eq(r.watch.image, FER_IMAGE_NONE);
    ck_assert_int_eq(parse(&r, "{\"class\":\"POLL\"}\r\n"), 0);
    ck_assert_int_eq(r.kind, FER_REQ_POLL);
    ck_assert_int_eq(r.image, FER_IMAGE_NONE);
    ck_assert_int_eq(r.scores, 1);
    ck_assert_int_eq(parse(&r, "  {\"class\":\"STATUS\"}  "), 0);
    ck_assert_int_eq(r.kind, FER_REQ_STATUS);
    ck_assert_int_eq(parse(&r, "{\"class\":\"RELOAD\",\"x\":1}"), 0);
    ck_assert_int_eq(r.kind, FER_REQ_RELOAD);
}
END_TEST

START_TEST(t_request_options)
{
    fer_request r;
    ck_assert_int_eq(parse(&r, "{\"class\":\"WATCH\",\"enable\":false,\"max_fps\":2.5,"
                               "\"min_prob\":0.25,\"events\":true,\"scores\":false,"
                               "\"image\":\"annotated\",\"unknown\":{\"deep\":[null]}}"),
                     0);
    ck_assert_int_eq(r.watch.enable, 0);
    ck_assert(r.watch.max_fps == 2.5 && r.watch.min_prob == 0.25);
    ck_assert_int_eq(r.watch.events, 1);
    ck_assert_int_eq(r.watch.scores, 0);
    ck_assert_int_eq(r.watch.image, FER_IMAGE_ANNOTATED);
    ck_assert_int_eq(parse(&r, "{\"class\":\"WATCH\",\"image\":true}"), 0);
    ck_assert_int_eq(r.watch.image, FER_IMAGE_JPEG);
    ck_assert_int_eq(parse(&r, "{\"class\":\"POLL\",\"image\":\"jpeg\",\"scores\":false}"), 0);
    ck_assert_int_eq(r.image, FER_IMAGE_JPEG);
    ck_assert_int_eq(r.scores, 0);
}
END_TEST

START_TEST(t_request_refusals)
{
    static const struct {
        const char *line;
        fer_req_error why;
    } cases[] = {
        {"", FER_REQERR_JSON},
        {"\n", FER_REQERR_JSON},
        {"nonsense", FER_REQERR_JSON},
        {"{\"class\":\"STATUS\"", FER_REQERR_JSON},
        {"{\"class\":\"STATUS\"}{}", FER_REQERR_JSON},
        {"\"STATUS\"", FER_REQERR_JSON},
        {"null", FER_REQERR_JSON},
        {"{}", FER_REQERR_CLASS},
        {"{\"class\":null}", FER_REQERR_CLASS},
        {"{\"class\":[\"WATCH\"]}", FER_REQERR_CLASS},
        {"{\"class\":\"\"}", FER_REQERR_UNKNOWN},
        {"{\"class\":\"VERSION\"}", FER_REQERR_UNKNOWN},
        {"{\"class\":\"WATCH\",\"enable\":\"yes\"}", FER_REQERR_FIELD},
        {"{\"class\":\"WATCH\",\"max_fps\":1e9}", FER_REQERR_FIELD},
        {"{\"class\":\"WATCH\",\"min_prob\":-0.1}", FER_REQERR_FIELD},
        {"{\"class\":\"WATCH\",\"events\":null}", FER_REQERR_FIELD},
        {"{\"class\":\"WATCH\",\"image\":\"gif\"}", FER_REQERR_FIELD},
        {"{\"class\":\"POLL\",\"scores\":0}", FER_REQERR_FIELD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fer_request r;
        fer_error err = {0};
        int rc = fer_request_parse(&r, cases[i].line, strlen(cases[i].line), &err);
        ck_assert_msg(rc == FER_E_PROTO, "accepted: %s", cases[i].line);
        ck_assert_msg(r.error == cases[i].why, "%s: reason %d, expected %d", cases[i].line,
                      r.error, cases[i].why);
        ck_assert_int_eq(r.kind, FER_REQ_NONE);
        ck_assert(err.msg[0]);
    }
    /* The class is echoed for errors about a known class's fields. */
    fer_request r;
    parse(&r, "{\"class\":\"WATCH\",\"max_fps\":\"x\"}");
    ck_assert_str_eq(r.cls, "WATCH");
}
END_TEST

START_TEST(t_request_limits)
{
    fer_request r;
    fer_error err = {0};
    /* A NUL byte inside the line. */
    ck_assert_int_eq(fer_request_parse(&r, "{\"class\":\0\"STATUS\"}", 19, &err), FER_E_PROTO);
    ck_assert_int_eq(r.error, FER_REQERR_JSON);
    /* Exactly the limit (newline included) is accepted; one more byte is not. */
    char *line = malloc(FER_PROTO_MAX_REQUEST + 2);
    int n = snprintf(line, FER_PROTO_MAX_REQUEST, "{\"class\":\"STATUS\",\"p\":\"");
    memset(line + n, 'a', FER_PROTO_MAX_REQUEST - (size_t)n - 3);
    memcpy(line + FER_PROTO_MAX_REQUEST - 3, "\"}\n", 3);
    ck_assert_int_eq(fer_request_parse(&r, line, FER_PROTO_MAX_REQUEST, &err), 0);
    memcpy(line + FER_PROTO_MAX_REQUEST - 3, "a\"}\n", 4);
    ck_assert_int_eq(fer_request_parse(&r, line, FER_PROTO_MAX_REQUEST + 1, &err), FER_E_PROTO);
    free(line);
    /* Deep nesting is refused by cJSON's limit, not by the stack. */
    char deep[4000];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    ck_assert_int_eq(parse(&r, deep), FER_E_PROTO);
}
END_TEST

START_TEST(t_request_round_trip)
{
    fer_request a, b;
    memset(&a, 0, sizeof a);
    fer_watch_default(&a.watch);
    a.kind = FER_REQ_WATCH;
    a.watch.max_fps = 10;
    a.watch.min_prob = 0.5;
    a.watch.events = 1;
    a.watch.image = FER_IMAGE_JPEG;
    a.scores = 1;
    char *s = NULL;
    ck_assert_int_eq(fer_request_to_json(&a, &s), 0);
    ck_assert_ptr_null(strstr(s, "enable")); /* defaults are not written */
    ck_assert_int_eq(parse(&b, s), 0);
    free(s);
    ck_assert(b.watch.max_fps == 10 && b.watch.min_prob == 0.5);
    ck_assert_int_eq(b.watch.events, 1);
    ck_assert_int_eq(b.watch.image, FER_IMAGE_JPEG);
    /* A slow positive rate stays a rate (0 would mean every frame): F4. */
    a.watch.max_fps = 0.0002;
    ck_assert_int_eq(fer_request_to_json(&a, &s), 0);
    ck_assert_int_eq(parse(&b, s), 0);
    free(s);
    ck_assert_msg(b.watch.max_fps == 0.001, "max_fps 0.0002 came back as %g", b.watch.max_fps);
    a.kind = FER_REQ_POLL;
    a.image = FER_IMAGE_ANNOTATED;
    a.scores = 0;
    ck_assert_int_eq(fer_request_to_json(&a, &s), 0);
    ck_assert_str_eq(s, "{\"class\":\"POLL\",\"image\":\"annotated\",\"scores\":false}");
    free(s);
    a.kind = FER_REQ_STATUS;
    ck_assert_int_eq(fer_request_to_json(&a, &s), 0);
    ck_assert_str_eq(s, "{\"class\":\"STATUS\"}");
    free(s);
    a.kind = FER_REQ_NONE;
    ck_assert_int_eq(fer_request_to_json(&a, &s), -EINVAL);
}
END_TEST

static fer_message M;

static void decode(const char *s)
{
    fer_error err = {0};
    int rc = fer_message_parse(&M, s, strlen(s), &err);
    ck_assert_msg(rc == 0, "%s: %s", err.msg, s);
}

START_TEST(t_version_error_watch)
{
    fer_version_msg v = {"0.1.0", 1, 0, 4096, FER_PROTO_MAX_RESPONSE};
    char *s = NULL;
    ck_assert_int_eq(fer_version_to_json(&v, &s), 0);
    decode(s);
    free(s);
    ck_assert_int_eq(M.kind, FER_MSG_VERSION);
    ck_assert_str_eq(M.u.version.release, "0.1.0");
    ck_assert_int_eq(M.u.version.proto_major, 1);
    ck_assert_int_eq(M.u.version.max_request, 4096);

    fer_error_msg e = {"bad_json", "not valid JSON", ""};
    ck_assert_int_eq(fer_error_to_json(&e, &s), 0);
    ck_assert_ptr_null(strstr(s, "request")); /* absent, not null or "" */
    ck_assert_ptr_null(strstr(s, "null"));
    decode(s);
    free(s);
    ck_assert_int_eq(M.kind, FER_MSG_ERROR);
    ck_assert_str_eq(M.u.error.code, "bad_json");
    ck_assert_str_eq(M.u.error.request, "");

    fer_watch w;
    fer_watch_default(&w);
    w.max_fps = 5;
    w.image = FER_IMAGE_ANNOTATED;
    ck_assert_int_eq(fer_watch_to_json(&w, &s), 0);
    decode(s);
    free(s);
    ck_assert_int_eq(M.kind, FER_MSG_WATCH);
    ck_assert(M.u.watch.max_fps == 5);
    ck_assert_int_eq(M.u.watch.image, FER_IMAGE_ANNOTATED);
    fer_message_clear(&M);
}
END_TEST

static fer_frame_result sample_result(void)
{
    static const char *const names[7] = {"angry", "disgust", "fear", "happy",
                                         "sad", "surprise", "neutral"};
    fer_frame_result r;
    memset(&r, 0, sizeof r);
    r.seq = 12;
    r.wall_ms = 1795860000123LL;
    r.mono_ns = 5000000000ULL;
    r.width = 320;
    r.height = 240;
    r.nclasses = 7;
    for (int c = 0; c < 7; c++)
        snprintf(r.classes[c], sizeof r.classes[c], "%s", names[c]);
    r.has_scores = 1;
    r.nfaces = 1;
    r.faces[0].id = 3;
    r.faces[0].box = (fer_box){10, 20, 60, 61};
    r.faces[0].label = 3;
    r.faces[0].prob = 0.7f;
    for (int c = 0; c < 7; c++)
        r.faces[0].scores[c] = c == 3 ? 0.7f : 0.05f;
    r.faces[0].smoothed_label = 3;
    r.faces[0].smoothed_prob = 0.6f;
    r.faces[0].previous_label = -1;
    return r;
}

START_TEST(t_result_and_poll_with_image)
{
    fer_frame_result r = sample_result();
    uint8_t jpeg[5] = {0xff, 0xd8, 0x00, 0xff, 0xd9};
    fer_image_data img = {FER_IMAGE_JPEG, 320, 240, jpeg, sizeof jpeg};
    char *s = NULL;
    ck_assert_int_eq(fer_result_msg_to_json(&r, 0, &img, 123456789012345ULL, 0, &s), 0);
    decode(s);
    free(s);
    ck_assert_int_eq(M.kind, FER_MSG_RESULT);
    ck_assert_uint_eq(M.u.result.seq, 12);
    ck_assert_uint_eq(M.ready_ns, 123456789012345ULL);
    ck_assert_int_eq(M.u.result.nfaces, 1);
    ck_assert_int_eq(M.image.kind, FER_IMAGE_JPEG);
    ck_assert_uint_eq(M.image.len, sizeof jpeg);
    ck_assert_mem_eq(M.image.jpeg, jpeg, sizeof jpeg);
    /* As a POLL answer, without scores or image. */
    ck_assert_int_eq(fer_result_msg_to_json(&r, FER_JSON_NO_SCORES, NULL, 0, 1, &s), 0);
    ck_assert_ptr_null(strstr(s, "ready_ns"));
    ck_assert_ptr_null(strstr(s, "scores"));
    decode(s);
    free(s);
    ck_assert_int_eq(M.kind, FER_MSG_POLL);
    ck_assert_uint_eq(M.u.result.seq, 12);
    ck_assert_int_eq(M.image.kind, FER_IMAGE_NONE);
    ck_assert_ptr_null(M.image.jpeg);
    /* A bad picture is a protocol error. */
    fer_error err = {0};
    const char *bad = "{\"class\":\"RESULT\",\"seq\":1,\"time\":\"2026-01-01T00:00:00Z\","
                      "\"width\":1,\"height\":1,\"faces\":[],\"image\":{\"kind\":\"jpeg\","
                      "\"width\":1,\"height\":1,\"data\":\"@@@@\"}}";
    ck_assert_int_eq(fer_message_parse(&M, bad, strlen(bad), &err), FER_E_PROTO);
    ck_assert_str_eq(M.cls, "RESULT");
    fer_message_clear(&M);
}
END_TEST

START_TEST(t_face_events)
{
    fer_face_event ev;
    memset(&ev, 0, sizeof ev);
    ev.event = FER_EVENT_CHANGED;
    ev.seq = 99;
    ev.wall_ms = 1795860000123LL;
    ev.id = 4;
    ev.box = (fer_box){1, 2, 30, 40};
    snprintf(ev.label, sizeof ev.label, "happy");
    snprintf(ev.from, sizeof ev.from, "neutral");
    ev.prob = 0.8f;
    char *s = NULL;
    ck_assert_int_eq(fer_face_event_to_json(&ev, &s), 0);
    decode(s);
    free(s);
    ck_assert_int_eq(M.kind, FER_MSG_FACE);
    ck_assert_int_eq(M.u.face.event, FER_EVENT_CHANGED);
    ck_assert_uint_eq(M.u.face.seq, 99);
    ck_assert_int_eq(M.u.face.id, 4);
    ck_assert_int_eq(M.u.face.box.h, 40);
    ck_assert_str_eq(M.u.face.label, "happy");
    ck_assert_str_eq(M.u.face.from, "neutral");
    ev.event = FER_EVENT_ENDED;
    ck_assert_int_eq(fer_face_event_to_json(&ev, &s), 0);
    ck_assert_ptr_null(strstr(s, "label"));
    decode(s);
    free(s);
    ck_assert_int_eq(M.u.face.event, FER_EVENT_ENDED);
    ev.event = 0;
    ck_assert_int_eq(fer_face_event_to_json(&ev, &s), -EINVAL);
}
END_TEST

START_TEST(t_status_reload_shutdown)
{
    fer_status_msg *st = calloc(1, sizeof *st);
    snprintf(st->release, sizeof st->release, "0.1.0");
    st->uptime = 12.5;
    st->pid = 42;
    snprintf(st->source.name, sizeof st->source.name, "/dev/video0");
    snprintf(st->source.kind, sizeof st->source.kind, "camera");
    snprintf(st->source.state, sizeof st->source.state, "reconnecting");
    snprintf(st->source.error, sizeof st->source.error, "no such device");
    st->source.fps = -1;
    st->has_model = 1;
    snprintf(st->model.name, sizeof st->model.name, "default");
    st->model.nclasses = 2;
    snprintf(st->model.classes[0], 32, "a");
    snprintf(st->model.classes[1], 32, "b");
    st->model.params = 1000;
    st->model.val_acc = 0.61;
    st->model.test_acc = -1;
    st->clients.connected = 2;
    st->clients.max = 64;
    st->clients.soft_disconnects = 3;
    st->frames.captured = 100;
    st->frames.dropped = 5;
    st->latency.samples = 0;
    st->nlist = 1;
    st->list[0] = (fer_status_client){7, 1000, 55, 1, 0, FER_IMAGE_JPEG, 5, 10, 2, 300};
    char *s = NULL;
    ck_assert_int_eq(fer_status_to_json(st, &s), 0);
    ck_assert_ptr_null(strstr(s, "latency_ms")); /* no samples: absent */
    ck_assert_ptr_null(strstr(s, "test_acc"));
    ck_assert_ptr_null(strstr(s, "\"fps\""));
    decode(s);
    free(s);
    ck_assert_int_eq(M.kind, FER_MSG_STATUS);
    fer_status_msg *d = M.status;
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d->source.state, "reconnecting");
    ck_assert_str_eq(d->source.error, "no such device");
    ck_assert(d->source.fps < 0 && d->latency.p50 < 0 && d->model.test_acc < 0);
    ck_assert(d->model.val_acc > 0.6 && d->model.val_acc < 0.62);
    ck_assert_int_eq(d->model.nclasses, 2);
    ck_assert_int_eq(d->clients.soft_disconnects, 3);
    ck_assert_int_eq(d->frames.dropped, 5);
    ck_assert_int_eq(d->nlist, 1);
    ck_assert_str_eq(d->model.test_split, "");
    ck_assert(d->model.temperature < 0); /* absent: not calibrated */
    ck_assert_int_eq(d->list[0].id, 7);
    ck_assert_int_eq(d->list[0].image, FER_IMAGE_JPEG);
    ck_assert_uint_eq(d->list[0].dropped, 2);
    free(st);

    fer_reload_msg rl;
    memset(&rl, 0, sizeof rl);
    snprintf(rl.model.name, sizeof rl.model.name, "default");
    rl.model.params = -1;
    rl.model.val_acc = -1;
    rl.model.test_acc = 0.7012;
    snprintf(rl.model.test_split, sizeof rl.model.test_split, "PrivateTest FER+");
    rl.model.temperature = 1.1834;
    snprintf(rl.model.calib_split, sizeof rl.model.calib_split, "PublicTest");
    rl.nrestart = 2;
    snprintf(rl.restart[0], 32, "source");
    snprintf(rl.restart[1], 32, "socket");
    ck_assert_int_eq(fer_reload_to_json(&rl, &s), 0);
    ck_assert_msg(strstr(s, "\"test_acc\":0.7012,\"test_split\":\"PrivateTest FER+\","
                            "\"calibration\":{\"temperature\":1.1834,\"split\":\"PublicTest\"}"),
                  "%s", s);
    decode(s);
    free(s);
    ck_assert_int_eq(M.kind, FER_MSG_RELOAD);
    ck_assert_str_eq(M.u.reload.model.test_split, "PrivateTest FER+");
    ck_assert_str_eq(M.u.reload.model.calib_split, "PublicTest");
    ck_assert_double_eq_tol(M.u.reload.model.temperature, 1.1834, 1e-9);
    ck_assert_int_eq(M.u.reload.nrestart, 2);
    ck_assert_str_eq(M.u.reload.restart[1], "socket");
    static const char bad_cal[] = "{\"class\":\"RELOAD\",\"model\":{\"name\":\"x\","
                                  "\"calibration\":{\"temperature\":0}}}";
    fer_error perr = {0};
    ck_assert_int_eq(fer_message_parse(&M, bad_cal, strlen(bad_cal), &perr), FER_E_PROTO);
    ck_assert_ptr_nonnull(strstr(perr.msg, "temperature"));

    ck_assert_int_eq(fer_shutdown_to_json("bye", &s), 0);
    decode(s);
    free(s);
    ck_assert_int_eq(M.kind, FER_MSG_SHUTDOWN);
    ck_assert_str_eq(M.u.shutdown, "bye");
    fer_message_clear(&M);
}
END_TEST

START_TEST(t_unknown_and_malformed_messages)
{
    decode("{\"class\":\"SKY\",\"satellites\":[]}");
    ck_assert_int_eq(M.kind, FER_MSG_UNKNOWN);
    ck_assert_str_eq(M.cls, "SKY");
    static const char *const bad[] = {
        "{\"class\":\"VERSION\",\"release\":\"1\"}",             /* proto_major missing */
        "{\"class\":\"VERSION\",\"release\":null,\"proto_major\":1,\"proto_minor\":0}",
        "{\"class\":\"ERROR\"}",                                 /* message missing */
        "{\"class\":\"FACE\",\"event\":\"exploded\"}",
        "{\"class\":\"POLL\"}",                                  /* result missing */
        "{\"class\":\"RELOAD\"}",
        "{\"class\":\"STATUS\",\"source\":{}}",                  /* state missing */
        "{\"class\":\"STATUS\",\"client_list\":[{\"watching\":true}]}",
        "{\"nope\":1}",
        "42",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fer_error err = {0};
        ck_assert_msg(fer_message_parse(&M, bad[i], strlen(bad[i]), &err) == FER_E_PROTO,
                      "accepted: %s", bad[i]);
        ck_assert_ptr_null(M.status);
    }
    fer_message_clear(&M);
}
END_TEST

START_TEST(t_base64)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                      "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *s = NULL;
        size_t n;
        ck_assert_int_eq(fer_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), &s, &n),
                         0);
        ck_assert_str_eq(s, enc[i]);
        uint8_t *b = NULL;
        size_t bl;
        ck_assert_int_eq(fer_base64_decode(s, n, &b, &bl), 0);
        ck_assert_uint_eq(bl, strlen(plain[i]));
        ck_assert_mem_eq(b, plain[i], bl);
        free(s);
        free(b);
    }
    uint8_t *b = NULL;
    size_t bl;
    static const char *const bad[] = {"Zg=", "Z===", "Zg==Zg==", "Zm9v!A==", "=AAA"};
    for (int i = 0; i < 5; i++)
        ck_assert_msg(fer_base64_decode(bad[i], strlen(bad[i]), &b, &bl) == FER_E_PROTO, "%s",
                      bad[i]);
    /* Every byte value survives. */
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    char *s = NULL;
    size_t n;
    ck_assert_int_eq(fer_base64_encode(all, 256, &s, &n), 0);
    ck_assert_int_eq(fer_base64_decode(s, n, &b, &bl), 0);
    ck_assert_uint_eq(bl, 256);
    ck_assert_mem_eq(b, all, 256);
    free(s);
    free(b);
}
END_TEST


/* Issue 13, class 7: what a client sends is valid UTF-8 without NULs, escaped
 * or not, or it is refused as bad_json; and whatever the daemon's strings hold,
 * what it sends is valid UTF-8. */
START_TEST(t_request_utf8_and_escaped_nul)
{
    static const char *const bad[] = {
        "{\"class\":\"STATUS\\u0000x\"}",          /* would read as STATUS */
        "{\"class\":\"WATCH\",\"max_fps\\u0000\":1}", /* a key cut short */
        "{\"class\":\"STATUS\",\"x\":\"\\u0000\"}",    /* any string, even ignored */
        "{\"class\":\"\xff\xfe\"}",                 /* not UTF-8 at all */
        "{\"class\":\"STATUS\",\"x\":\"\xc0\xaf\"}",  /* overlong '/' */
        "{\"class\":\"STATUS\",\"x\":\"\xed\xa0\x80\"}", /* a surrogate, raw */
        "{\"class\":\"STATUS\",\"x\":\"\xf4\x90\x80\x80\"}", /* above U+10FFFF */
        "{\"class\":\"STATUS\",\"x\":\"\xe2\x82\"}",  /* a sequence cut short */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fer_request r;
        fer_error err = {0};
        int rc = fer_request_parse(&r, bad[i], strlen(bad[i]), &err);
        ck_assert_msg(rc == FER_E_PROTO && r.error == FER_REQERR_JSON, "accepted: case %zu", i);
        ck_assert_int_eq(r.kind, FER_REQ_NONE);
    }
    /* What is not an escaped NUL stays accepted: an escaped backslash before
     * u0000, a NUL-free escape, real multi-byte characters. */
    static const char *const good[] = {
        "{\"class\":\"STATUS\",\"x\":\"\\\\u0000\"}",
        "{\"class\":\"STATUS\",\"x\":\"\\u0001\\u00e9\\ud83d\\ude00\"}",
        "{\"class\":\"STATUS\",\"caf\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        fer_request r;
        ck_assert_msg(parse(&r, good[i]) == 0, "refused: case %zu", i);
        ck_assert_int_eq(r.kind, FER_REQ_STATUS);
    }
    /* An unknown class is echoed cut between characters: 15 bytes of "é"s
     * would end in half of one. */
    fer_request r;
    parse(&r, "{\"class\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}");
    ck_assert_int_eq(r.error, FER_REQERR_UNKNOWN);
    ck_assert(fer_utf8_valid(r.cls, strlen(r.cls)));
    ck_assert_uint_eq(strlen(r.cls), 14);
}
END_TEST

START_TEST(t_encoders_send_valid_utf8)
{
    /* Strings the daemon got from files and libraries, not from the protocol. */
    fer_error_msg e;
    memset(&e, 0, sizeof e);
    snprintf(e.code, sizeof e.code, "internal");
    snprintf(e.message, sizeof e.message, "/srv/caf\xe9/\xff\xfe x \xe2\x82");
    snprintf(e.request, sizeof e.request, "\xc3");
    char *json = NULL;
    ck_assert_int_eq(fer_error_to_json(&e, &json), 0);
    ck_assert_msg(fer_utf8_valid(json, strlen(json)), "invalid UTF-8 sent: %s", json);
    /* It is still JSON, and it decodes with the bad bytes replaced. */
    fer_message m;
    memset(&m, 0, sizeof m);
    fer_error err = {0};
    ck_assert_int_eq(fer_message_parse(&m, json, strlen(json), &err), 0);
    ck_assert_int_eq(m.kind, FER_MSG_ERROR);
    ck_assert_ptr_nonnull(strstr(m.u.error.message, "/srv/caf\xef\xbf\xbd/"));
    fer_message_clear(&m);
    free(json);

    /* RESULT: a model's class names are bytes from the model file. */
    fer_frame_result fr;
    memset(&fr, 0, sizeof fr);
    fr.seq = 1;
    fr.nclasses = 1;
    snprintf(fr.classes[0], sizeof fr.classes[0], "h\xe4ppy");
    fr.nfaces = 1;
    fr.faces[0].label = 0;
    fr.faces[0].prob = 1;
    fr.faces[0].scores[0] = 1;
    fr.faces[0].box.w = fr.faces[0].box.h = 10;
    ck_assert_int_eq(fer_result_msg_to_json(&fr, 0, NULL, 5, 0, &json), 0);
    ck_assert_msg(fer_utf8_valid(json, strlen(json)), "invalid UTF-8 sent: %s", json);
    free(json);
}
END_TEST

START_TEST(t_utf8_helpers)
{
    ck_assert(fer_utf8_valid("", 0));
    ck_assert(fer_utf8_valid("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10));
    ck_assert(fer_utf8_valid("\xf4\x8f\xbf\xbf", 4));           /* U+10FFFF */
    ck_assert(!fer_utf8_valid("\xf4\x90\x80\x80", 4));          /* U+110000 */
    ck_assert(!fer_utf8_valid("\xe0\x80\x80", 3));              /* overlong NUL */
    ck_assert(!fer_utf8_valid("\xc1\xbf", 2));                  /* overlong */
    ck_assert(!fer_utf8_valid("\xed\xbf\xbf", 3));              /* U+DFFF */
    ck_assert(!fer_utf8_valid("\x80", 1));
    ck_assert(!fer_utf8_valid("\xf8\x88\x80\x80\x80", 5));
    ck_assert_uint_eq(fer_utf8_valid_prefix("ab\xffz", 4), 2);
    size_t n;
    char *r = fer_utf8_repair("a\xff\xe2\x82" "b\xc3\xa9", 7, &n);
    ck_assert_str_eq(r, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "b\xc3\xa9");
    ck_assert_uint_eq(n, strlen(r));
    free(r);
    /* Cuts fall between characters. */
    ck_assert_uint_eq(fer_utf8_cut("a\xe2\x82\xac", 2), 1);
    ck_assert_uint_eq(fer_utf8_cut("a\xe2\x82\xac", 3), 1);
    ck_assert_uint_eq(fer_utf8_cut("a\xe2\x82\xac", 4), 4);
    ck_assert_uint_eq(fer_utf8_cut("a\xe2\x82\xac", 9), 4);
    ck_assert_uint_eq(fer_utf8_cut("ab", 1), 1);
    char buf[4];
    fer_utf8_copy(buf, sizeof buf, "\xc3\xa9\xc3\xa9");
    ck_assert_str_eq(buf, "\xc3\xa9");
}
END_TEST

static Suite *protocol_suite(void)
{
    Suite *s = suite_create("protocol");
    TCase *tc = tcase_create("protocol");
    tcase_add_test(tc, t_request_defaults);
    tcase_add_test(tc, t_request_options);
    tcase_add_test(tc, t_request_refusals);
    tcase_add_test(tc, t_request_limits);
    tcase_add_test(tc, t_request_round_trip);
    tcase_add_test(tc, t_version_error_watch);
    tcase_add_test(tc, t_result_and_poll_with_image);
    tcase_add_test(tc, t_face_events);
    tcase_add_test(tc, t_status_reload_shutdown);
    tcase_add_test(tc, t_unknown_and_malformed_messages);
    tcase_add_test(tc, t_base64);
    tcase_add_test(tc, t_request_utf8_and_escaped_nul);
    tcase_add_test(tc, t_encoders_send_valid_utf8);
    tcase_add_test(tc, t_utf8_helpers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(protocol_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
