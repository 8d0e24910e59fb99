/*
 * test_vision.c — face detection (the committed public-domain face is found,
 * nothing in blank frames, region searches) and the pipeline end to end with a
 * random-weight model: one batch per frame, stable ids while a face moves, a new
 * id for a new face, track ends, still frames, face selection, model swap and
 * annotation.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cv/detect.h"
#include "vision/annotate.h"
#include "vision/pipeline.h"
#include "vision/preprocess.h"
#include "vision/tracker.h"
#include "vision_util.h"

/* Where the cascade finds the fixture's face (checked once against OpenCV). */
static const fer_box fixture_face = {33, 33, 75, 75};

static void setup(void)
{
    tu_setup();
}

static void teardown(void)
{
    tu_cleanup();
}

static fer_detector *detector(void)
{
    fer_detector *d = NULL;
    fer_error err = {0};
    int rc = fer_detector_load(&d, FER_CASCADE_DEFAULT, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    return d;
}

static fer_image grey_of(const fer_image *img)
{
    fer_image g = {0};
    fer_error err;
    ck_assert_int_eq(fer_image_to_grey(&g, img, &err), 0);
    return g;
}

static fer_detect_req whole(const fer_image *g, double scale)
{
    return (fer_detect_req){{0, 0, g->w, g->h}, scale, 24, 0, 1.1, 3, 1};
}

START_TEST(t_detect_fixture)
{
    fer_detector *d = detector();
    ck_assert_int_eq(fer_detector_window(d), 24);
    fer_image face = tu_face(), g = grey_of(&face);
    fer_box b[8];
    int n = -1;
    fer_error err;
    fer_detect_req q = whole(&g, 1.0);
    ck_assert_int_eq(fer_detect_run(d, &g, &q, b, 8, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_float_ge(fer_box_iou(b[0], fixture_face), 0.7f);
    fer_image_free(&face);
    fer_image_free(&g);
    fer_detector_free(d);
}
END_TEST

START_TEST(t_detect_blank)
{
    fer_detector *d = detector();
    fer_image blank = tu_blank(320, 240, 128), g = grey_of(&blank);
    fer_box b[8];
    int n = -1;
    fer_error err;
    fer_detect_req q = whole(&g, 1.0);
    ck_assert_int_eq(fer_detect_run(d, &g, &q, b, 8, &n, &err), 0);
    ck_assert_int_eq(n, 0);
    /* A gradient with soft noise: still nothing. */
    uint32_t s = 1;
    for (int i = 0; i < g.w * g.h; i++) {
        s = s * 1664525u + 1013904223u;
        g.data[i] = (uint8_t)(60 + (i % g.w) / 4 + (s >> 29));
    }
    ck_assert_int_eq(fer_detect_run(d, &g, &q, b, 8, &n, &err), 0);
    ck_assert_int_eq(n, 0);
    fer_image_free(&blank);
    fer_image_free(&g);
    fer_detector_free(d);
}
END_TEST

START_TEST(t_detect_scaled_and_region)
{
    fer_detector *d = detector();
    fer_image frame = tu_blank(400, 300, 110), face = tu_face();
    tu_paste(&frame, &face, 200, 90);
    fer_image g = grey_of(&frame);
    const fer_box truth = {233, 123, 75, 75};
    fer_box b[8];
    int n = -1;
    fer_error err;
    /* On the frame shrunk to 240 px wide, boxes come back in frame pixels. */
    fer_detect_req q = whole(&g, 0.6);
    ck_assert_int_eq(fer_detect_run(d, &g, &q, b, 8, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_float_ge(fer_box_iou(b[0], truth), 0.6f);
    /* A region around it, the face resized to about 36 px, sizes 2/3..3/2 of 75. */
    fer_detect_req r = {{190, 80, 160, 160}, 36.0 / 75, 50, 112, 1.1, 3, 1};
    ck_assert_int_eq(fer_detect_run(d, &g, &r, b, 8, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_float_ge(fer_box_iou(b[0], truth), 0.6f);
    /* A region elsewhere finds nothing; one smaller than the window is skipped. */
    r.roi = (fer_box){0, 0, 150, 150};
    ck_assert_int_eq(fer_detect_run(d, &g, &r, b, 8, &n, &err), 0);
    ck_assert_int_eq(n, 0);
    r.roi = (fer_box){0, 0, 30, 30};
    ck_assert_int_eq(fer_detect_run(d, &g, &r, b, 8, &n, &err), 0);
    ck_assert_int_eq(n, 0);
    /* Malformed requests. */
    r.roi = (fer_box){300, 200, 160, 160};
    ck_assert_int_eq(fer_detect_run(d, &g, &r, b, 8, &n, &err), -EINVAL);
    q.scale_factor = 1.0;
    ck_assert_int_eq(fer_detect_run(d, &g, &q, b, 8, &n, &err), -EINVAL);
    ck_assert_int_eq(fer_detect_run(d, &frame, &r, b, 8, &n, &err), -EINVAL); /* not grey */
    fer_image_free(&frame);
    fer_image_free(&face);
    fer_image_free(&g);
    fer_detector_free(d);
}
END_TEST

START_TEST(t_detector_errors)
{
    fer_detector *d = (fer_detector *)1;
    fer_error err = {0};
    ck_assert_int_eq(fer_detector_load(&d, tu_path("none.xml"), &err), -ENOENT);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(err.msg, "none.xml"));
    tu_write_bytes(tu_path("bad.xml"), "<opencv_storage></opencv_storage>", 33);
    ck_assert_int_eq(fer_detector_load(&d, tu_path("bad.xml"), &err), FER_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a cascade"));
}
END_TEST

/* ---- the pipeline ---- */

static fer_pipeline *pipeline(fer_model *m, void (*tweak)(fer_pipeline_opts *))
{
    fer_pipeline_opts o;
    fer_pipeline_opts_default(&o);
    if (tweak)
        tweak(&o);
    fer_pipeline *p = NULL;
    fer_error err = {0};
    int rc = fer_pipeline_create(&p, &o, m, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    return p;
}

/* A 320x240 frame with the fixture face at (x, y) and a little noise. */
static void scene(fer_frame *f, const fer_image *face, int x, int y, uint64_t seq)
{
    if (!f->img.data)
        f->img = tu_blank(320, 240, 120);
    memset(f->img.data, 120, (size_t)320 * 240 * 3);
    if (face)
        tu_paste(&f->img, face, x, y);
    for (size_t i = 0; i < (size_t)320 * 240 * 3; i += 7)
        f->img.data[i] ^= (uint8_t)((seq * 2654435761u + i) >> 30);
    f->seq = seq;
    fer_frame_stamp(f);
    /* A 30 fps capture clock, whatever the machine's speed: the pipeline's gap
     * rule reads capture times, and a slow test run must not look like a gap. */
    f->mono_ns = seq * 33333333ull;
}

static void process(fer_pipeline *p, const fer_frame *f, fer_frame_result *r)
{
    fer_error err = {0};
    int rc = fer_pipeline_process(p, f, r, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
}

static void check_scores(const fer_frame_result *r)
{
    ck_assert_int_eq(r->nclasses, 7);
    ck_assert_str_eq(r->classes[3], "happy");
    ck_assert_int_eq(r->has_scores, 1);
    for (int i = 0; i < r->nfaces; i++) {
        const fer_face_result *f = &r->faces[i];
        float sum = 0;
        for (int c = 0; c < 7; c++) {
            ck_assert(f->scores[c] >= 0 && f->scores[c] <= 1);
            ck_assert(f->scores[c] <= f->prob);
            sum += f->scores[c];
        }
        ck_assert_float_eq_tol(sum, 1.0f, 1e-4);
        ck_assert_float_eq(f->scores[f->label], f->prob);
        ck_assert_int_ge(f->smoothed_label, 0);
    }
}

START_TEST(t_pipeline_tracks_a_face)
{
    fer_model *m = tu_random_model(8);
    fer_pipeline *p = pipeline(m, NULL);
    fer_image face = tu_face();
    fer_frame f = {0};
    fer_frame_result r;
    for (int i = 0; i < 15; i++) {
        scene(&f, &face, 60 + 5 * i, 50 + 2 * i, (uint64_t)i + 1);
        process(p, &f, &r);
        ck_assert_uint_eq(r.seq, (uint64_t)i + 1);
        ck_assert_int_eq(r.wall_ms, f.wall_ms);
        ck_assert_uint_eq(r.mono_ns, f.mono_ns);
        ck_assert_int_eq(r.width, 320);
        ck_assert_int_eq(r.height, 240);
        ck_assert_int_eq(r.nfaces, 1);
        ck_assert_int_eq(r.faces[0].id, 1);
        ck_assert_int_eq(r.faces[0].events & FER_FACE_NEW, i == 0 ? FER_FACE_NEW : 0);
        fer_box truth = {60 + 5 * i + 33, 50 + 2 * i + 33, 75, 75};
        ck_assert_float_ge(fer_box_iou(r.faces[0].box, truth), 0.6f);
        ck_assert(r.detect_ms >= 0 && r.classify_ms >= 0 && r.total_ms >= r.detect_ms);
        check_scores(&r);
    }
    fer_pipeline_stats st;
    fer_pipeline_get_stats(p, &st);
    ck_assert_int_eq(st.frames, 15);
    ck_assert_int_eq(st.faces_classified, 15);
    /* Full searches on frames 1 and 11 only; the rest searched near the track. */
    ck_assert_int_eq(st.full_detections, 2);
    ck_assert_int_ge(st.region_searches, 13);
    fer_frame_free(&f);
    fer_image_free(&face);
    fer_pipeline_free(p);
    fer_model_free(m);
}
END_TEST

static void every_frame(fer_pipeline_opts *o)
{
    o->full_every = 2;
    o->tracker.max_misses = 2;
}

START_TEST(t_pipeline_new_face_and_end)
{
    fer_model *m = tu_random_model(8);
    fer_pipeline *p = pipeline(m, every_frame);
    fer_image face = tu_face();
    fer_frame f = {0};
    fer_frame_result r;
    scene(&f, &face, 10, 10, 1);
    process(p, &f, &r);
    ck_assert_int_eq(r.nfaces, 1);
    ck_assert_int_eq(r.faces[0].id, 1);
    /* A second face: found at the next full search, with a new id. */
    int seen2 = 0;
    for (uint64_t s = 2; s < 6; s++) {
        scene(&f, &face, 10, 10, s);
        tu_paste(&f.img, &face, 180, 100);
        process(p, &f, &r);
        for (int i = 0; i < r.nfaces; i++) {
            if (r.faces[i].id == 2) {
                ck_assert_int_eq(r.faces[i].events & FER_FACE_NEW, seen2 ? 0 : FER_FACE_NEW);
                seen2 = 1;
            } else {
                ck_assert_int_eq(r.faces[i].id, 1);
            }
        }
    }
    ck_assert(seen2);
    ck_assert_int_eq(r.nfaces, 2);
    check_scores(&r);
    /* Both leave: after max_misses frames of coasting, both tracks end. */
    int ended = 0;
    for (uint64_t s = 6; s < 12; s++) {
        scene(&f, NULL, 0, 0, s);
        process(p, &f, &r);
        ck_assert_int_eq(r.nfaces, 0);
        for (int i = 0; i < r.nended; i++)
            ended |= 1 << r.ended[i];
    }
    ck_assert_int_eq(ended, (1 << 1) | (1 << 2));
    /* Back again: a new id, never an old one. */
    scene(&f, &face, 10, 10, 12);
    process(p, &f, &r);
    ck_assert_int_eq(r.nfaces, 1);
    ck_assert_int_eq(r.faces[0].id, 3);
    fer_frame_free(&f);
    fer_image_free(&face);
    fer_pipeline_free(p);
    fer_model_free(m);
}
END_TEST

START_TEST(t_pipeline_still_frames)
{
    fer_model *m = tu_random_model(8);
    fer_pipeline *p = pipeline(m, NULL);
    fer_image face = tu_face();
    fer_frame f = {0};
    fer_frame_result r1, r2;
    scene(&f, &face, 100, 60, 1);
    process(p, &f, &r1);
    f.seq = 2;
    fer_frame_stamp(&f);
    f.mono_ns = 2 * 33333333ull;
    process(p, &f, &r2); /* the same pixels */
    fer_pipeline_stats st;
    fer_pipeline_get_stats(p, &st);
    ck_assert_int_eq(st.still_frames, 1);
    ck_assert_int_eq(st.faces_classified, 1);
    ck_assert_uint_eq(r2.seq, 2);
    ck_assert_int_eq(r2.nfaces, 1);
    ck_assert_int_eq(r2.faces[0].id, r1.faces[0].id);
    ck_assert_int_eq(r2.faces[0].events, 0);
    ck_assert_mem_eq(r2.faces[0].scores, r1.faces[0].scores, sizeof r1.faces[0].scores);
    fer_frame_free(&f);
    fer_image_free(&face);
    fer_pipeline_free(p);
    fer_model_free(m);
}
END_TEST

/* Caller-given boxes: tracked like detections (the same box keeps its id), reported
 * in the caller's order; a still frame after them does not repeat their result. */
START_TEST(t_pipeline_given_boxes)
{
    fer_model *m = tu_random_model(8);
    fer_pipeline *p = pipeline(m, NULL);
    fer_image face = tu_face();
    fer_frame f = {0};
    fer_frame_result r1, r2, r3;
    fer_error err = {0};
    scene(&f, &face, 100, 60, 1);
    process(p, &f, &r1);
    ck_assert_int_eq(r1.nfaces, 1);
    fer_box boxes[2] = {{10, 150, 40, 40}, r1.faces[0].box};
    ck_assert_int_eq(fer_pipeline_process_boxes(p, &f, boxes, 2, &r2, &err), 0);
    check_scores(&r2);
    ck_assert_int_eq(r2.nfaces, 2);
    ck_assert_mem_eq(&r2.faces[0].box, &boxes[0], sizeof boxes[0]);
    ck_assert_mem_eq(&r2.faces[1].box, &boxes[1], sizeof boxes[1]);
    ck_assert_int_eq(r2.faces[1].id, r1.faces[0].id);
    ck_assert_int_eq(r2.faces[0].events & FER_FACE_NEW, FER_FACE_NEW);
    /* The same pixels again through the search: a fresh result, the detected face only. */
    process(p, &f, &r3);
    ck_assert_int_eq(r3.nfaces, 1);
    ck_assert_float_ge(fer_box_iou(r3.faces[0].box, r1.faces[0].box), 0.7f);
    fer_pipeline_stats st;
    fer_pipeline_get_stats(p, &st);
    ck_assert_int_eq(st.still_frames, 0);
    fer_box bad = {0, 0, 5, 0};
    ck_assert_int_eq(fer_pipeline_process_boxes(p, &f, &bad, 1, &r2, &err), -EINVAL);
    ck_assert_int_eq(fer_pipeline_process_boxes(p, &f, boxes, FER_RESULT_MAX_FACES + 1, &r2,
                                                &err), -EINVAL);
    fer_frame_free(&f);
    fer_image_free(&face);
    fer_pipeline_free(p);
    fer_model_free(m);
}
END_TEST

static void largest(fer_pipeline_opts *o)
{
    o->largest_only = 1;
    o->full_every = 1;
}

START_TEST(t_pipeline_largest_and_swap)
{
    fer_model *m = tu_random_model(8);
    fer_pipeline *p = pipeline(m, largest);
    fer_image face = tu_face(), small = {0};
    fer_error err;
    ck_assert_int_eq(fer_image_resize(&small, &face, 100, 100, &err), 0);
    fer_frame f = {0};
    fer_frame_result r;
    scene(&f, &face, 170, 60, 1);
    tu_paste(&f.img, &small, 10, 20);
    process(p, &f, &r);
    ck_assert_int_eq(r.nfaces, 1);
    ck_assert_float_ge(fer_box_iou(r.faces[0].box, (fer_box){203, 93, 75, 75}), 0.6f);

    /* Swap in another model between frames: the track survives. */
    fer_model *m2 = tu_random_model(8);
    ck_assert_int_eq(fer_pipeline_set_model(p, m2, &err), 0);
    fer_model_free(m);
    scene(&f, &face, 172, 60, 2);
    process(p, &f, &r);
    ck_assert_int_eq(r.nfaces, 1);
    ck_assert_int_eq(r.faces[0].id, 1);
    check_scores(&r);
    ck_assert_int_eq(fer_pipeline_set_model(p, NULL, &err), -EINVAL);

    /* Annotation draws inside and around the box. */
    fer_image before = tu_blank(320, 240, 0);
    memcpy(before.data, f.img.data, (size_t)320 * 240 * 3);
    fer_annotate(&f.img, &r, 0);
    ck_assert_int_ne(memcmp(before.data, f.img.data, (size_t)320 * 240 * 3), 0);
    const fer_box b = r.faces[0].box;
    size_t corner = ((size_t)b.y * 320 + b.x) * 3;
    ck_assert_int_ne(memcmp(before.data + corner, f.img.data + corner, 3), 0);

    fer_image_free(&before);
    fer_frame_free(&f);
    fer_image_free(&face);
    fer_image_free(&small);
    fer_pipeline_free(p);
    fer_model_free(m2);
}
END_TEST

/* A gap in capture times (or an explicit restart) starts clean: the old track is
 * reported ended with the first frame after it, the face there gets a new id and a
 * full search, and its average starts from this frame alone. */
START_TEST(t_pipeline_gap_restarts)
{
    fer_model *m = tu_random_model(8);
    fer_pipeline *p = pipeline(m, NULL);
    fer_image face = tu_face();
    fer_frame f = {0};
    fer_frame_result r;
    for (uint64_t s = 1; s <= 3; s++) {
        scene(&f, &face, 60, 50, s);
        process(p, &f, &r);
        ck_assert_int_eq(r.nfaces, 1);
        ck_assert_int_eq(r.faces[0].id, 1);
        ck_assert_int_eq(r.nended, 0);
    }
    fer_pipeline_stats st0, st1;
    fer_pipeline_get_stats(p, &st0);
    /* 0.9 s later: within the default gap_ms of 1000, the track goes on. */
    scene(&f, &face, 60, 50, 4);
    f.mono_ns = 3 * 33333333ull + 900000000ull;
    process(p, &f, &r);
    ck_assert_int_eq(r.faces[0].id, 1);
    ck_assert_int_eq(r.nended, 0);
    uint64_t t = f.mono_ns;
    /* 1.5 s later, the face elsewhere: a clean start. */
    scene(&f, &face, 150, 100, 5);
    f.mono_ns = t + 1500000000ull;
    process(p, &f, &r);
    ck_assert_int_eq(r.nended, 1);
    ck_assert_int_eq(r.ended[0], 1);
    ck_assert_int_eq(r.nfaces, 1);
    ck_assert_int_eq(r.faces[0].id, 2);
    ck_assert_int_eq(r.faces[0].events & FER_FACE_NEW, FER_FACE_NEW);
    /* No average across the gap: the smoothed scores are this frame's own. */
    ck_assert_float_eq_tol(r.faces[0].smoothed_prob, r.faces[0].scores[r.faces[0].smoothed_label],
                           1e-6);
    fer_pipeline_get_stats(p, &st1);
    ck_assert_int_eq(st1.full_detections, st0.full_detections + 1);
    ck_assert_int_eq(st1.restarts, 1);
    /* Even the same pixels are searched again, not repeated as a still frame. */
    fer_pipeline_restart(p);
    f.seq = 6;
    f.mono_ns += 33333333ull;
    process(p, &f, &r);
    ck_assert_int_eq(r.nended, 1);
    ck_assert_int_eq(r.ended[0], 2);
    ck_assert_int_eq(r.nfaces, 1);
    ck_assert_int_eq(r.faces[0].id, 3);
    fer_pipeline_get_stats(p, &st0);
    ck_assert_int_eq(st0.still_frames, st1.still_frames);
    ck_assert_int_eq(st0.full_detections, st1.full_detections + 1);
    ck_assert_int_eq(st0.restarts, 2);
    /* gap_ms 0: no gap rule. */
    fer_pipeline_free(p);
    fer_pipeline_opts o;
    fer_pipeline_opts_default(&o);
    o.gap_ms = 0;
    fer_error err = {0};
    ck_assert_int_eq(fer_pipeline_create(&p, &o, m, &err), 0);
    scene(&f, &face, 60, 50, 1);
    process(p, &f, &r);
    scene(&f, &face, 62, 50, 2);
    f.mono_ns += 60ull * 1000000000ull;
    process(p, &f, &r);
    ck_assert_int_eq(r.faces[0].id, 1);
    ck_assert_int_eq(r.nended, 0);
    fer_frame_free(&f);
    fer_image_free(&face);
    fer_pipeline_free(p);
    fer_model_free(m);
}
END_TEST

/* ---- annotation layout ---- */

static int rects_meet(fer_box a, fer_box b)
{
    return a.w > 0 && b.w > 0 && a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h &&
           b.y < a.y + a.h;
}

static fer_box grown(fer_box b, int d)
{
    return (fer_box){b.x - d, b.y - d, b.w + 2 * d, b.h + 2 * d};
}

/* The layout's promises for one result on a w x h image: every tag and panel
 * inside the image, no two of them meeting, none on another face's box (grown by
 * its outline) unless the two faces' boxes overlap, no panel on its own face.
 * Returns the panels drawn. */
static int check_layout(int w, int h, const fer_frame_result *r, unsigned flags, int *tags)
{
    fer_annotate_place pl[FER_RESULT_MAX_FACES];
    fer_annotate_plan(w, h, r, flags, pl);
    int border = (w < h ? w : h) >= 400 ? 3 : 2;
    fer_box el[2 * FER_RESULT_MAX_FACES];
    int owner[2 * FER_RESULT_MAX_FACES], is_panel[2 * FER_RESULT_MAX_FACES], n = 0, panels = 0;
    *tags = 0;
    for (int i = 0; i < r->nfaces; i++) {
        if (pl[i].tag.w > 0) {
            el[n] = pl[i].tag;
            owner[n] = i;
            is_panel[n++] = 0;
            (*tags)++;
        }
        if (pl[i].panel.w > 0) {
            el[n] = pl[i].panel;
            owner[n] = i;
            is_panel[n++] = 1;
            panels++;
            ck_assert(pl[i].panel_rows == r->nclasses || pl[i].panel_rows == 3);
        }
    }
    for (int a = 0; a < n; a++) {
        ck_assert_msg(el[a].x >= 0 && el[a].y >= 0 && el[a].x + el[a].w <= w &&
                          el[a].y + el[a].h <= h,
                      "element %d (%d,%d %dx%d) outside %dx%d", a, el[a].x, el[a].y, el[a].w,
                      el[a].h, w, h);
        for (int b = a + 1; b < n; b++)
            ck_assert_msg(!rects_meet(el[a], el[b]), "elements of faces %d and %d overlap",
                          owner[a], owner[b]);
        for (int f = 0; f < r->nfaces; f++) {
            if (f == owner[a] && !is_panel[a])
                continue; /* a tag may sit inside its own face's box */
            if (f != owner[a] && rects_meet(r->faces[f].box, r->faces[owner[a]].box))
                continue; /* overlapping faces cannot be kept apart */
            ck_assert_msg(!rects_meet(el[a], grown(r->faces[f].box, border)),
                          "a %s of face %d covers face %d", is_panel[a] ? "panel" : "tag",
                          owner[a], f);
        }
    }
    return panels;
}

static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* A result with the given boxes, 7 classes and random scores. */
static void layout_result(fer_frame_result *r, const fer_box *boxes, int n, uint32_t *seed)
{
    static const char *const names[7] = {"angry", "disgust", "fear", "happy", "sad",
                                         "surprise", "neutral"};
    memset(r, 0, sizeof *r);
    r->nclasses = 7;
    for (int c = 0; c < 7; c++)
        snprintf(r->classes[c], sizeof r->classes[c], "%s", names[c]);
    r->has_scores = 1;
    r->nfaces = n;
    for (int i = 0; i < n; i++) {
        fer_face_result *f = &r->faces[i];
        f->id = 100 + i;
        f->box = boxes[i];
        float sum = 0;
        for (int c = 0; c < 7; c++)
            sum += f->scores[c] = (float)(rnd(seed) % 1000 + 1);
        for (int c = 0; c < 7; c++)
            f->scores[c] /= sum;
        f->label = (int)(rnd(seed) % 7);
        f->prob = f->scores[f->label];
        f->smoothed_label = f->label;
        f->smoothed_prob = f->prob;
    }
}

/* Random scenes of up to 8 faces on three image sizes, in every tag mode. */
START_TEST(t_annotate_layout_random)
{
    uint32_t seed = 77;
    static const int sizes[3][2] = {{640, 480}, {320, 240}, {1280, 720}};
    long faces = 0, panels = 0, tags = 0;
    for (int iter = 0; iter < 240; iter++) {
        int w = sizes[iter % 3][0], h = sizes[iter % 3][1];
        int n = 1 + (int)(rnd(&seed) % 8);
        fer_box b[8];
        /* Faces apart from each other, as a detector reports them (overlapping
         * boxes are merged); as many as fit in 50 tries. */
        int placed = 0;
        for (int tries = 0; tries < 50 && placed < n; tries++) {
            int side = h / 8 + (int)(rnd(&seed) % (unsigned)(h / 3));
            fer_box c = {(int)(rnd(&seed) % (unsigned)(w - side)),
                         (int)(rnd(&seed) % (unsigned)(h - side)), side, side};
            int clear = 1;
            for (int k = 0; k < placed && clear; k++)
                clear = !rects_meet(grown(c, 4), b[k]);
            if (clear)
                b[placed++] = c;
        }
        n = placed;
        fer_frame_result r;
        layout_result(&r, b, n, &seed);
        static const unsigned modes[3] = {0, FER_ANNOTATE_SMOOTHED, FER_ANNOTATE_RAW};
        int t = 0;
        panels += check_layout(w, h, &r, modes[iter % 3], &t);
        tags += t;
        faces += n;
    }
    /* Crowded random scenes leave some faces without a panel; say how many. */
    printf("annotation layout, random scenes: %ld faces, %ld tags, %ld panels\n", faces, tags,
           panels);
    ck_assert_int_gt(tags, faces * 85 / 100);
}
END_TEST

/* Every frame of the demo clip, at its true boxes: no overlaps, every face labelled. */
START_TEST(t_annotate_layout_demo)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/samples/demo.truth.csv", getenv("FER_SOURCE_ROOT"));
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f)); /* header */
    fer_box boxes[300][FER_RESULT_MAX_FACES];
    int count[300] = {0};
    int fr, face, x, y, w, h;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%d,%d,%d,%d,%d,%d", &fr, &face, &x, &y, &w, &h) == 6 && fr >= 0 &&
            fr < 300 && count[fr] < FER_RESULT_MAX_FACES)
            boxes[fr][count[fr]++] = (fer_box){x, y, w, h};
    fclose(f);
    uint32_t seed = 5;
    int multi = 0, panels = 0, nfaces = 0;
    for (int i = 0; i < 300; i++) {
        fer_frame_result r;
        layout_result(&r, boxes[i], count[i], &seed);
        int tags = 0;
        panels += check_layout(640, 480, &r, FER_ANNOTATE_SMOOTHED, &tags);
        ck_assert_msg(tags == count[i], "frame %d: %d of %d faces labelled", i, tags, count[i]);
        multi += count[i] > 1;
        nfaces += count[i];
    }
    printf("annotation layout, demo clip: %d frames with several faces, %d of %d faces with a "
           "score panel\n", multi, panels, nfaces);
    ck_assert_int_gt(multi, 100);
}
END_TEST

/* The drawing keeps to the plan: on a flat image, every changed pixel is on a
 * face's outline or inside a planned tag or panel. */
START_TEST(t_annotate_draws_the_plan)
{
    uint32_t seed = 11;
    fer_box b[3] = {{40, 60, 150, 150}, {260, 40, 120, 120}, {420, 250, 160, 160}};
    fer_frame_result r;
    layout_result(&r, b, 3, &seed);
    fer_image img = tu_blank(640, 480, 77);
    fer_annotate(&img, &r, FER_ANNOTATE_SMOOTHED);
    fer_annotate_place pl[3];
    fer_annotate_plan(640, 480, &r, FER_ANNOTATE_SMOOTHED, pl);
    long changed = 0;
    for (int yy = 0; yy < 480; yy++) {
        for (int xx = 0; xx < 640; xx++) {
            const uint8_t *p = img.data + ((size_t)yy * 640 + xx) * 3;
            if (p[0] == 77 && p[1] == 77 && p[2] == 77)
                continue;
            changed++;
            fer_box px = {xx, yy, 1, 1};
            int ok = 0;
            for (int i = 0; i < 3 && !ok; i++)
                ok = rects_meet(px, pl[i].tag) || rects_meet(px, pl[i].panel) ||
                     (rects_meet(px, grown(b[i], 3)) && !rects_meet(px, grown(b[i], -4)));
            ck_assert_msg(ok, "pixel %d,%d drawn outside the plan", xx, yy);
        }
    }
    ck_assert_int_gt(changed, 1000);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(pl[i].tag.w > 0 && pl[i].panel.w > 0, "face %d: tag %d panel %d", i,
                      pl[i].tag.w, pl[i].panel.w);
    fer_image_free(&img);
}
END_TEST

START_TEST(t_pipeline_errors)
{
    fer_model *m = tu_random_model(8);
    fer_pipeline_opts o;
    fer_pipeline_opts_default(&o);
    fer_pipeline *p = (fer_pipeline *)1;
    fer_error err = {0};
    o.max_faces = FER_RESULT_MAX_FACES + 1;
    ck_assert_int_eq(fer_pipeline_create(&p, &o, m, &err), -EINVAL);
    ck_assert_ptr_null(p);
    fer_pipeline_opts_default(&o);
    o.cascade = tu_path("missing.xml");
    ck_assert_int_eq(fer_pipeline_create(&p, &o, m, &err), -ENOENT);
    fer_pipeline_opts_default(&o);
    ck_assert_int_eq(fer_pipeline_create(&p, &o, m, &err), 0);
    fer_frame empty = {0};
    fer_frame_result r;
    ck_assert_int_eq(fer_pipeline_process(p, &empty, &r, &err), -EINVAL);
    fer_pipeline_free(p);
    fer_pipeline_free(NULL);
    fer_model_free(m);
}
END_TEST

static Suite *vision_suite(void)
{
    Suite *s = suite_create("vision");
    TCase *tc = tcase_create("detect");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, t_detect_fixture);
    tcase_add_test(tc, t_detect_blank);
    tcase_add_test(tc, t_detect_scaled_and_region);
    tcase_add_test(tc, t_detector_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("pipeline");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, t_pipeline_tracks_a_face);
    tcase_add_test(tc, t_pipeline_new_face_and_end);
    tcase_add_test(tc, t_pipeline_still_frames);
    tcase_add_test(tc, t_pipeline_given_boxes);
    tcase_add_test(tc, t_pipeline_largest_and_swap);
    tcase_add_test(tc, t_pipeline_errors);
    tcase_add_test(tc, t_pipeline_gap_restarts);
    tcase_add_test(tc, t_annotate_layout_random);
    tcase_add_test(tc, t_annotate_layout_demo);
    tcase_add_test(tc, t_annotate_draws_the_plan);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(vision_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
