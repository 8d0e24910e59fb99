/*
 * test_result_json.c — the RESULT encoder and decoder (proto/, linked without
 * libfer): round trip, the no-scores option, absent-not-null, time formatting,
 * unknown keys ignored, and malformed objects rejected with FER_E_PROTO.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/result_json.h"

static const char *const names[7] = {"angry", "disgust", "fear", "happy",
                                     "sad", "surprise", "neutral"};

static fer_frame_result sample(void)
{
    fer_frame_result r;
    memset(&r, 0, sizeof r);
    r.seq = 42;
    r.wall_ms = 1795860000123LL; /* 2026-11-28T10:00:00.123Z */
    r.mono_ns = 9007199254740993ULL; /* 2^53 + 1: needs exact digits */
    r.width = 640;
    r.height = 480;
    r.detect_ms = 2.3456;
    r.classify_ms = 3.5;
    r.total_ms = 6.01;
    r.nclasses = 7;
    for (int c = 0; c < 7; c++)
        snprintf(r.classes[c], sizeof r.classes[c], "%s", names[c]);
    r.has_scores = 1;
    r.nfaces = 2;
    for (int i = 0; i < 2; i++) {
        fer_face_result *f = &r.faces[i];
        f->id = 7 + i;
        f->box = (fer_box){100 * i + 10, 20, 150, 151};
        for (int c = 0; c < 7; c++)
            f->scores[c] = 0.02f;
        f->scores[3 + i] = 0.88f;
        f->label = 3 + i;
        f->prob = 0.88f;
        f->smoothed_label = 3;
        f->smoothed_prob = 0.75f;
        f->previous_label = -1;
    }
    r.faces[0].events = FER_FACE_NEW;
    r.faces[1].events = FER_FACE_LABEL_CHANGED;
    r.faces[1].previous_label = 6;
    r.nended = 1;
    r.ended[0] = 3;
    return r;
}

START_TEST(t_roundtrip)
{
    fer_frame_result r = sample(), d;
    char *line = NULL;
    fer_error err = {0};
    ck_assert_int_eq(fer_result_to_json(&r, 0, &line, &err), 0);
    ck_assert_ptr_null(strchr(line, '\n'));
    ck_assert_ptr_null(strstr(line, "null"));
    ck_assert_ptr_nonnull(strstr(line, "{\"class\":\"RESULT\",\"seq\":42,"));
    ck_assert_ptr_nonnull(strstr(line, "\"time\":\"2026-11-28T10:00:00.123Z\""));
    ck_assert_ptr_nonnull(strstr(line, "\"mono_ns\":9007199254740993"));
    ck_assert_ptr_nonnull(strstr(line, "\"detect_ms\":2.346"));
    ck_assert_ptr_nonnull(strstr(line, "\"box\":{\"x\":10,\"y\":20,\"w\":150,\"h\":151}"));
    ck_assert_ptr_nonnull(strstr(line, "\"label\":\"happy\",\"prob\":0.88,"));
    ck_assert_ptr_nonnull(strstr(line, "\"scores\":{\"angry\":0.02,"));
    ck_assert_ptr_nonnull(strstr(line, "\"smoothed\":{\"label\":\"happy\",\"prob\":0.75}"));
    ck_assert_ptr_nonnull(strstr(line, "\"new\":true"));
    ck_assert_ptr_nonnull(strstr(line, "\"changed_from\":\"neutral\""));
    ck_assert_ptr_nonnull(strstr(line, "\"ended\":[3]"));

    ck_assert_int_eq(fer_result_from_json(&d, line, strlen(line), &err), 0);
    ck_assert_uint_eq(d.seq, 42);
    ck_assert_int_eq(d.wall_ms, r.wall_ms);
    ck_assert_int_eq(d.width, 640);
    ck_assert_double_eq_tol(d.detect_ms, 2.346, 1e-9);
    ck_assert_int_eq(d.nclasses, 7);
    for (int c = 0; c < 7; c++)
        ck_assert_str_eq(d.classes[c], names[c]);
    ck_assert_int_eq(d.has_scores, 1);
    ck_assert_int_eq(d.nfaces, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(d.faces[i].id, r.faces[i].id);
        ck_assert_mem_eq(&d.faces[i].box, &r.faces[i].box, sizeof(fer_box));
        ck_assert_int_eq(d.faces[i].label, r.faces[i].label);
        ck_assert_float_eq_tol(d.faces[i].prob, 0.88f, 1e-6);
        for (int c = 0; c < 7; c++)
            ck_assert_float_eq_tol(d.faces[i].scores[c], r.faces[i].scores[c], 1e-6);
        ck_assert_int_eq(d.faces[i].smoothed_label, 3);
        ck_assert_int_eq(d.faces[i].events, r.faces[i].events);
        ck_assert_int_eq(d.faces[i].previous_label, r.faces[i].previous_label);
    }
    ck_assert_int_eq(d.nended, 1);
    ck_assert_int_eq(d.ended[0], 3);
    free(line);
}
END_TEST

START_TEST(t_no_scores_and_empty)
{
    fer_frame_result r = sample(), d;
    char *line = NULL;
    fer_error err = {0};
    ck_assert_int_eq(fer_result_to_json(&r, FER_JSON_NO_SCORES, &line, &err), 0);
    ck_assert_ptr_null(strstr(line, "scores"));
    ck_assert_int_eq(fer_result_from_json(&d, line, strlen(line), &err), 0);
    ck_assert_int_eq(d.has_scores, 0);
    /* Without scores the class table holds the names met, in order of meeting. */
    ck_assert_str_eq(d.classes[d.faces[0].label], "happy");
    ck_assert_str_eq(d.classes[d.faces[1].label], "sad");
    ck_assert_str_eq(d.classes[d.faces[1].previous_label], "neutral");
    free(line);

    /* No faces, no ended tracks: "faces":[] and no "ended" key. */
    r.nfaces = 0;
    r.nended = 0;
    ck_assert_int_eq(fer_result_to_json(&r, 0, &line, &err), 0);
    ck_assert_ptr_nonnull(strstr(line, "\"faces\":[]"));
    ck_assert_ptr_null(strstr(line, "ended"));
    ck_assert_int_eq(fer_result_from_json(&d, line, strlen(line), &err), 0);
    ck_assert_int_eq(d.nfaces, 0);
    free(line);
}
END_TEST

START_TEST(t_time)
{
    char buf[40];
    ck_assert_int_eq(fer_time_format(0, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
    ck_assert_int_eq(fer_time_format(1795860000123LL, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "2026-11-28T10:00:00.123Z");
    ck_assert_int_eq(fer_time_format(-1, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
    int64_t ms;
    ck_assert_int_eq(fer_time_parse("2026-11-28T10:00:00.123Z", &ms), 0);
    ck_assert_int_eq(ms, 1795860000123LL);
    ck_assert_int_eq(fer_time_parse("2026-11-28T11:00:00.1234567+01:00", &ms), 0);
    ck_assert_int_eq(ms, 1795860000123LL);
    ck_assert_int_eq(fer_time_parse("2026-11-28T10:00:00Z", &ms), 0);
    ck_assert_int_eq(ms, 1795860000000LL);
    ck_assert_int_eq(fer_time_parse("2026-11-28 10:00:00Z", &ms), -EINVAL);
    ck_assert_int_eq(fer_time_parse("2026-13-28T10:00:00Z", &ms), -EINVAL);
    ck_assert_int_eq(fer_time_parse("2026-11-28T10:00:00", &ms), -EINVAL);
    ck_assert_int_eq(fer_time_parse("2026-11-28T10:00:00.Z", &ms), -EINVAL);
}
END_TEST

static void expect_proto(const char *json, const char *needle)
{
    fer_frame_result d;
    fer_error err = {0};
    ck_assert_int_eq(fer_result_from_json(&d, json, strlen(json), &err), FER_E_PROTO);
    ck_assert_msg(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
}

#define HEAD                                                                              \
    "{\"class\":\"RESULT\",\"seq\":1,\"time\":\"2026-11-28T10:00:00.000Z\",\"width\":64," \
    "\"height\":48,"

START_TEST(t_decode_rules)
{
    fer_frame_result d;
    fer_error err = {0};
    /* Minimal object, unknown keys ignored (also inside a face). */
    const char *ok = HEAD "\"faces\":[{\"id\":1,\"box\":{\"x\":1,\"y\":2,\"w\":3,\"h\":4},"
                     "\"label\":\"happy\",\"prob\":0.5,\"mood\":\"x\"}],\"future\":[1,2]}";
    ck_assert_int_eq(fer_result_from_json(&d, ok, strlen(ok), &err), 0);
    ck_assert_int_eq(d.nfaces, 1);
    ck_assert_int_eq(d.faces[0].smoothed_label, d.faces[0].label); /* smoothed absent: raw */
    ck_assert_float_eq_tol(d.faces[0].smoothed_prob, 0.5f, 1e-6);

    expect_proto("[1,2]", "not a JSON object");
    expect_proto("{\"class\":\"VERSION\"}", "\"class\"");
    expect_proto("{\"class\":\"RESULT\",\"seq\":1}", "\"time\"");
    expect_proto(HEAD "\"faces\":{}}", "\"faces\"");
    expect_proto(HEAD "\"faces\":[{\"id\":1}]}", "faces[0]: \"box\"");
    expect_proto(HEAD "\"faces\":[{\"id\":1,\"box\":{\"x\":1,\"y\":2,\"w\":-3,\"h\":4},"
                 "\"label\":\"happy\",\"prob\":0.5}]}", "faces[0].box: \"w\"");
    expect_proto(HEAD "\"faces\":[{\"id\":1,\"box\":{\"x\":1,\"y\":2,\"w\":3,\"h\":4},"
                 "\"label\":\"happy\",\"prob\":1.5}]}", "\"prob\"");
    expect_proto(HEAD "\"faces\":[{\"id\":1,\"box\":{\"x\":1,\"y\":2,\"w\":3,\"h\":4},"
                 "\"label\":null,\"prob\":0.5}]}", "\"label\"");
    expect_proto(HEAD "\"faces\":[],\"ended\":[0]}", "\"ended\"");
    expect_proto("{\"class\":\"RESULT\",\"seq\":-1}", "\"seq\"");
    expect_proto("{not json", "not valid JSON");
    /* The gate every daemon line passes (proto/json.c), so RESULT on its own is no
     * laxer: a second object, raw or escaped NULs, and trailing text are refused. */
    expect_proto(HEAD "\"faces\":[]}{\"class\":\"RESULT\"}", "text after the JSON object");
    expect_proto(HEAD "\"faces\":[{\"id\":1,\"box\":{\"x\":1,\"y\":2,\"w\":3,\"h\":4},"
                 "\"label\":\"happy\\u0000x\",\"prob\":0.5}]}", "NUL character");
    {
        static const char nul[] = HEAD "\"faces\":[]}\0junk";
        fer_frame_result d2;
        fer_error e2 = {0};
        ck_assert_int_eq(fer_result_from_json(&d2, nul, sizeof nul - 1, &e2), FER_E_PROTO);
        ck_assert_msg(strstr(e2.msg, "NUL byte"), "%s", e2.msg);
    }
    ok = HEAD "\"faces\":[]}\r\n";
    ck_assert_int_eq(fer_result_from_json(&d, ok, strlen(ok), &err), 0); /* line end kept */
    /* Invalid UTF-8 in a class name (a fuzz finding): refused, not re-encoded longer. */
    expect_proto(HEAD "\"faces\":[{\"id\":1,\"box\":{\"x\":1,\"y\":2,\"w\":3,\"h\":4},"
                 "\"label\":\"ha\xec\xecppy\",\"prob\":0.5}]}", "not valid UTF-8");
    /* More faces than the struct holds. */
    char big[8192];
    int n = snprintf(big, sizeof big, HEAD "\"faces\":[");
    for (int i = 0; i <= FER_RESULT_MAX_FACES; i++)
        n += snprintf(big + n, sizeof big - (size_t)n,
                      "%s{\"id\":%d,\"box\":{\"x\":1,\"y\":2,\"w\":3,\"h\":4},\"label\":\"a\","
                      "\"prob\":0.5}", i ? "," : "", i + 1);
    snprintf(big + n, sizeof big - (size_t)n, "]}");
    expect_proto(big, "faces");
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("result_json");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, t_roundtrip);
    tcase_add_test(tc, t_no_scores_and_empty);
    tcase_add_test(tc, t_time);
    tcase_add_test(tc, t_decode_rules);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
