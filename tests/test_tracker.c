/*
 * test_tracker.c — IoU association (stable ids, new ids for new faces, ids never
 * reused, coasting and ending) and the moving average of probabilities
 * (convergence as specified, alpha 0 = raw, label-change events).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vision/tracker.h"

static void step(fer_tracker *t, const fer_box *b, int n, int *ids, int *is_new, int *ended,
                 int *nended)
{
    int slot[FER_TRACK_MAX];
    fer_tracker_update(t, b, n, slot, is_new, ended, nended);
    for (int i = 0; i < n; i++) {
        ck_assert_int_ge(slot[i], 0);
        ids[i] = t->tracks[slot[i]].id;
    }
}

START_TEST(t_iou)
{
    fer_box a = {0, 0, 10, 10}, b = {5, 0, 10, 10}, c = {20, 20, 5, 5}, e = {0, 0, 0, 5};
    ck_assert_float_eq_tol(fer_box_iou(a, a), 1.0f, 1e-6);
    ck_assert_float_eq_tol(fer_box_iou(a, b), 50.0f / 150.0f, 1e-6);
    ck_assert_float_eq(fer_box_iou(a, c), 0.0f);
    ck_assert_float_eq(fer_box_iou(a, e), 0.0f);
}
END_TEST

START_TEST(t_stable_ids)
{
    fer_tracker t;
    fer_tracker_init(&t, NULL);
    int ids[4], is_new[4], ended[FER_TRACK_MAX], ne;
    /* One face moving right 4 px a frame keeps its id. */
    for (int f = 0; f < 20; f++) {
        fer_box b = {100 + 4 * f, 50, 80, 80};
        step(&t, &b, 1, ids, is_new, ended, &ne);
        ck_assert_int_eq(ids[0], 1);
        ck_assert_int_eq(is_new[0], f == 0);
        ck_assert_int_eq(ne, 0);
    }
    /* A second face appears far away: a new id; the first keeps its own, whatever
     * the order of the boxes. */
    fer_box two[2] = {{400, 300, 60, 60}, {180, 50, 80, 80}};
    step(&t, two, 2, ids, is_new, ended, &ne);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(is_new[0], 1);
    ck_assert_int_eq(ids[1], 1);
    ck_assert_int_eq(is_new[1], 0);
    fer_box swapped[2] = {{184, 52, 80, 80}, {402, 301, 60, 60}};
    step(&t, swapped, 2, ids, is_new, ended, &ne);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(ids[1], 2);
}
END_TEST

START_TEST(t_end_and_no_reuse)
{
    fer_tracker_opts o;
    fer_tracker_opts_default(&o);
    o.max_misses = 2;
    fer_tracker t;
    fer_tracker_init(&t, &o);
    int ids[2], is_new[2], ended[FER_TRACK_MAX], ne;
    fer_box b = {10, 10, 50, 50};
    step(&t, &b, 1, ids, is_new, ended, &ne);
    ck_assert_int_eq(ids[0], 1);
    /* Two frames without it: it coasts. */
    step(&t, NULL, 0, ids, is_new, ended, &ne);
    ck_assert_int_eq(ne, 0);
    step(&t, NULL, 0, ids, is_new, ended, &ne);
    ck_assert_int_eq(ne, 0);
    /* Back within max_misses: same id. */
    step(&t, &b, 1, ids, is_new, ended, &ne);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_int_eq(is_new[0], 0);
    /* Gone for three frames: the third ends it. */
    step(&t, NULL, 0, ids, is_new, ended, &ne);
    step(&t, NULL, 0, ids, is_new, ended, &ne);
    ck_assert_int_eq(ne, 0);
    step(&t, NULL, 0, ids, is_new, ended, &ne);
    ck_assert_int_eq(ne, 1);
    ck_assert_int_eq(ended[0], 1);
    /* The same place again is a new track with a new id: ids are never reused. */
    step(&t, &b, 1, ids, is_new, ended, &ne);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(is_new[0], 1);
    fer_tracker_clear(&t);
    step(&t, &b, 1, ids, is_new, ended, &ne);
    ck_assert_int_eq(ids[0], 3);
}
END_TEST

START_TEST(t_capacity)
{
    /* More boxes than slots over a few frames: the longest-coasting tracks are evicted
     * (and reported ended), never a track matched in this frame. */
    fer_tracker t;
    fer_tracker_init(&t, NULL);
    int ids[FER_RESULT_MAX_FACES], is_new[FER_RESULT_MAX_FACES], ended[FER_TRACK_MAX], ne;
    int total_ended = 0;
    for (int f = 0; f < 4; f++) {
        fer_box b[FER_RESULT_MAX_FACES];
        for (int i = 0; i < FER_RESULT_MAX_FACES; i++)
            b[i] = (fer_box){i * 40, f * 40, 30, 30};
        step(&t, b, FER_RESULT_MAX_FACES, ids, is_new, ended, &ne);
        for (int i = 0; i < FER_RESULT_MAX_FACES; i++)
            ck_assert_int_eq(is_new[i], 1);
        total_ended += ne;
    }
    ck_assert_int_eq(total_ended, 2 * FER_RESULT_MAX_FACES);
}
END_TEST

/* Observes the track in slot (-1: a face without a track), by its id. */
static void observe(fer_tracker *t, int slot, const float *p, int k, fer_face_result *f)
{
    memset(f, 0, sizeof *f);
    fer_tracker_observe(t, slot >= 0 ? t->tracks[slot].id : 0, p, k, 0, f);
}

START_TEST(t_smoothing_converges)
{
    fer_tracker_opts o;
    fer_tracker_opts_default(&o);
    o.alpha = 0.8f;
    o.hold_margin = 0; /* the average alone, no hysteresis */
    o.hold_ms = 0;
    fer_tracker t;
    fer_tracker_init(&t, &o);
    int slot, is_new, ended[FER_TRACK_MAX], ne;
    fer_box b = {0, 0, 40, 40};
    fer_tracker_update(&t, &b, 1, &slot, &is_new, ended, &ne);
    const float p0[3] = {0.7f, 0.2f, 0.1f}, p1[3] = {0.1f, 0.1f, 0.8f};
    fer_face_result f;
    observe(&t, slot, p0, 3, &f);
    /* The average starts at the first observation. */
    ck_assert_int_eq(f.smoothed_label, 0);
    ck_assert_float_eq_tol(f.smoothed_prob, 0.7f, 1e-6);
    ck_assert_int_eq(f.events & FER_FACE_LABEL_CHANGED, 0);
    /* Then s_n = p1 + alpha^n (p0 - p1): class 2 overtakes class 0 when
     * 0.1 + 0.6 a^n < 0.8 - 0.7 a^n, i.e. a^n < 0.538: n = 3 for a = 0.8. */
    int changed_at = -1;
    for (int n = 1; n <= 40; n++) {
        fer_tracker_update(&t, &b, 1, &slot, &is_new, ended, &ne);
        observe(&t, slot, p1, 3, &f);
        double an = pow(0.8, n);
        for (int c = 0; c < 3; c++)
            ck_assert_float_eq_tol(fer_tracker_avg(&t, t.tracks[slot].id)->ema[c],
                                   p1[c] + an * (p0[c] - p1[c]), 1e-5);
        if (f.events & FER_FACE_LABEL_CHANGED) {
            ck_assert_int_eq(changed_at, -1); /* one change, not a flicker */
            changed_at = n;
            ck_assert_int_eq(f.previous_label, 0);
            ck_assert_int_eq(f.smoothed_label, 2);
        }
    }
    ck_assert_int_eq(changed_at, 3);
    ck_assert_float_eq_tol(f.smoothed_prob, 0.8f, 1e-3);
}
END_TEST

START_TEST(t_alpha_zero_is_raw)
{
    fer_tracker_opts o;
    fer_tracker_opts_default(&o);
    o.alpha = 0.0f;
    o.hold_margin = 0;
    o.hold_ms = 0;
    fer_tracker t;
    fer_tracker_init(&t, &o);
    int slot, is_new, ended[FER_TRACK_MAX], ne;
    fer_box b = {0, 0, 40, 40};
    const float p[2][2] = {{0.9f, 0.1f}, {0.3f, 0.7f}};
    fer_face_result f;
    for (int n = 0; n < 4; n++) {
        fer_tracker_update(&t, &b, 1, &slot, &is_new, ended, &ne);
        observe(&t, slot, p[n % 2], 2, &f);
        ck_assert_int_eq(f.smoothed_label, n % 2);
        ck_assert_float_eq_tol(f.smoothed_prob, p[n % 2][n % 2], 1e-6);
        ck_assert_int_eq((f.events & FER_FACE_LABEL_CHANGED) != 0, n > 0);
    }
    /* A model with another class count restarts the average. */
    const float q[3] = {0.2f, 0.2f, 0.6f};
    observe(&t, slot, q, 3, &f);
    ck_assert_int_eq(f.smoothed_label, 2);
    /* No slot (capacity exhausted): raw probabilities, no event. */
    observe(&t, -1, p[0], 2, &f);
    ck_assert_int_eq(f.smoothed_label, 0);
    ck_assert_int_eq(f.events, 0);
}
END_TEST

/* Hysteresis: a label changes only after another class has led it by the margin
 * for the hold time, on the observations' own clock; a lead that lapses or passes
 * to a third class starts the wait again. */
START_TEST(t_hysteresis)
{
    fer_tracker_opts o;
    fer_tracker_opts_default(&o);
    o.alpha = 0.0f; /* raw averages, so each step's lead is exact */
    o.hold_margin = 0.1f;
    o.hold_ms = 300;
    fer_tracker t;
    fer_tracker_init(&t, &o);
    int slot, is_new, ended[FER_TRACK_MAX], ne;
    fer_box b = {0, 0, 40, 40};
    fer_face_result f;
    const uint64_t ms = 1000000ull;
    const float start[3] = {0.6f, 0.3f, 0.1f};
    const float near[3] = {0.42f, 0.48f, 0.1f};  /* class 1 leads by 0.06 < margin */
    const float lead1[3] = {0.3f, 0.6f, 0.1f};   /* class 1 leads by 0.3 */
    const float lead2[3] = {0.3f, 0.1f, 0.6f};   /* class 2 leads */
    struct { const float *p; uint64_t t_ms; int label, changed; } steps[] = {
        {start, 0, 0, 0},
        {near, 100, 0, 0},   /* below the margin: no wait starts */
        {near, 900, 0, 0},
        {lead1, 1000, 0, 0}, /* the wait starts */
        {lead1, 1200, 0, 0},
        {lead2, 1250, 0, 0}, /* another leader: the wait starts again */
        {lead2, 1500, 0, 0},
        {start, 1540, 0, 0}, /* the lead lapses */
        {lead1, 1600, 0, 0},
        {lead1, 1899, 0, 0},
        {lead1, 1900, 1, 1}, /* 300 ms of lead */
        {lead1, 2000, 1, 0},
        {start, 2100, 1, 0}, /* back towards 0: the same wait applies */
        {start, 2399, 1, 0},
        {start, 2400, 0, 1},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        fer_tracker_update(&t, &b, 1, &slot, &is_new, ended, &ne);
        memset(&f, 0, sizeof f);
        fer_tracker_observe(&t, t.tracks[slot].id, steps[i].p, 3, steps[i].t_ms * ms, &f);
        ck_assert_msg(f.smoothed_label == steps[i].label, "step %zu: label %d, expected %d", i,
                      f.smoothed_label, steps[i].label);
        ck_assert_msg(((f.events & FER_FACE_LABEL_CHANGED) != 0) == steps[i].changed,
                      "step %zu: changed %d", i, f.events);
        ck_assert_float_eq_tol(f.smoothed_prob, steps[i].p[f.smoothed_label], 1e-6);
        if (steps[i].changed)
            ck_assert_int_eq(f.previous_label, 1 - steps[i].label);
        else
            ck_assert_int_eq(f.previous_label, -1);
    }
    /* Out-of-range options are clamped, not trusted. */
    o.hold_margin = -1;
    o.hold_ms = -5;
    fer_tracker_init(&t, &o);
    ck_assert_float_eq(t.opts.hold_margin, 0.0f);
    ck_assert_int_eq(t.opts.hold_ms, 0);
}
END_TEST

/* Averages are kept by id, apart from the slots: the tracker may move on (a
 * track ends, its slot is reused) before the last probabilities of the ended
 * track are folded in; forgetting drops the average; a table that overflows
 * (ends never reported) drops the oldest id's average, never a crash. */
START_TEST(t_averages_by_id)
{
    fer_tracker_opts o;
    fer_tracker_opts_default(&o);
    o.alpha = 0.5f;
    o.max_misses = 0;
    fer_tracker t;
    fer_tracker_init(&t, &o);
    int slot, is_new, ended[FER_TRACK_MAX], ne;
    fer_box a = {0, 0, 40, 40}, b = {200, 200, 40, 40};
    const float p0[2] = {0.9f, 0.1f}, p1[2] = {0.1f, 0.9f};
    fer_face_result f;
    fer_tracker_update(&t, &a, 1, &slot, &is_new, ended, &ne);
    int id1 = t.tracks[slot].id;
    memset(&f, 0, sizeof f);
    fer_tracker_observe(&t, id1, p0, 2, 0, &f);
    /* The next frame: a ends, b starts in the freed slot. */
    fer_tracker_update(&t, &b, 1, &slot, &is_new, ended, &ne);
    ck_assert_int_eq(ne, 1);
    ck_assert_int_eq(ended[0], id1);
    int id2 = t.tracks[slot].id;
    ck_assert_int_ne(id1, id2);
    /* id1's average is still there, and id2 starts its own. */
    memset(&f, 0, sizeof f);
    fer_tracker_observe(&t, id1, p1, 2, 1, &f);
    ck_assert_float_eq_tol(fer_tracker_avg(&t, id1)->ema[1], 0.5f, 1e-6);
    memset(&f, 0, sizeof f);
    fer_tracker_observe(&t, id2, p1, 2, 1, &f);
    ck_assert_float_eq_tol(fer_tracker_avg(&t, id2)->ema[1], 0.9f, 1e-6);
    fer_tracker_forget(&t, id1);
    ck_assert_ptr_null(fer_tracker_avg(&t, id1));
    ck_assert_ptr_nonnull(fer_tracker_avg(&t, id2));
    /* Overflow: ids never forgotten; the newest always has an average. */
    for (int id = 1000; id < 1000 + 2 * FER_TRACK_AVG_MAX; id++) {
        memset(&f, 0, sizeof f);
        fer_tracker_observe(&t, id, p0, 2, 0, &f);
        ck_assert_ptr_nonnull(fer_tracker_avg(&t, id));
        ck_assert_int_eq(f.smoothed_label, 0);
    }
    ck_assert_ptr_null(fer_tracker_avg(&t, 1000));
    /* A model swap forgets every average. */
    fer_tracker_reset_smoothing(&t);
    ck_assert_ptr_null(fer_tracker_avg(&t, 1000 + 2 * FER_TRACK_AVG_MAX - 1));
}
END_TEST

static Suite *tracker_suite(void)
{
    Suite *s = suite_create("tracker");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, t_iou);
    tcase_add_test(tc, t_stable_ids);
    tcase_add_test(tc, t_end_and_no_reuse);
    tcase_add_test(tc, t_capacity);
    tcase_add_test(tc, t_smoothing_converges);
    tcase_add_test(tc, t_alpha_zero_is_raw);
    tcase_add_test(tc, t_hysteresis);
    tcase_add_test(tc, t_averages_by_id);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tracker_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
