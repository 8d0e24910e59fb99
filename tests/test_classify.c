/*
 * test_classify.c — libferclassify, linked as users link it (the shared object,
 * ferclassify.h), against the shipped model and the committed face:
 *   - its results are the vision pipeline's, bit for bit: the test runs libfer's
 *     fer_pipeline with the still settings beside it on the same image;
 *   - raw pixels in every layout and stride, encoded bytes and files agree;
 *   - caller-given boxes are classified in their order, without a search;
 *   - every bad argument, file and box is a clear error, nothing crashes;
 *   - one handle shared by threads, and two handles in parallel, give the same
 *     numbers as one thread;
 *   - the shared object exports exactly the functions its header declares.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferclassify.h"

#include "util/fileio.h"
#include "vision/pipeline.h"
#include "vision/preprocess.h"
#include "vision_util.h"

static void setup(void)
{
    tu_setup();
}

static void teardown(void)
{
    tu_cleanup();
}

static const char *model_path(void)
{
    return tu_source("models/default.fermodel");
}

static fer_classifier *open_default(void)
{
    fer_classifier *c = NULL;
    fer_classifier_error err = {0};
    int rc = fer_classifier_open(&c, model_path(), NULL, &err);
    ck_assert_msg(rc == 0, "open: %s", err.msg);
    return c;
}

/* The same image through libfer's pipeline directly, as `fer classify` runs it. */
static void reference(fer_frame_result *out, const fer_image *img)
{
    fer_error err = {0};
    fer_model *m = NULL;
    fer_pipeline_opts po;
    fer_pipeline_opts_still(&po);
    ck_assert_msg(fer_model_load(&m, model_path(), po.max_faces, FER_LOAD_INFER, &err) == 0,
                  "%s", err.msg);
    fer_pipeline *p = NULL;
    ck_assert_msg(fer_pipeline_create(&p, &po, m, &err) == 0, "%s", err.msg);
    fer_frame f = {0};
    f.img = *img;
    f.seq = 1;
    ck_assert_msg(fer_pipeline_process(p, &f, out, &err) == 0, "%s", err.msg);
    fer_pipeline_free(p);
    fer_model_free(m);
}

/* Faces equal in everything but ids and timing. */
static void assert_same_faces(const fer_classifier_result *a, const fer_classifier_result *b)
{
    ck_assert_int_eq(a->nfaces, b->nfaces);
    ck_assert_int_eq(a->nclasses, b->nclasses);
    for (int i = 0; i < a->nfaces; i++) {
        const fer_classifier_face *x = &a->faces[i], *y = &b->faces[i];
        ck_assert_mem_eq(&x->box, &y->box, sizeof x->box);
        ck_assert_int_eq(x->label, y->label);
        ck_assert_mem_eq(x->scores, y->scores, sizeof(float) * (size_t)a->nclasses);
        ck_assert(x->prob == y->prob);
    }
}

/* Two copies of the face pasted into a 640x480 grey-ish frame (BGR). */
static fer_image two_faces(void)
{
    fer_image face = tu_face(), frame = tu_blank(640, 480, 150);
    tu_paste(&frame, &face, 60, 200);
    tu_paste(&frame, &face, 400, 80);
    fer_image_free(&face);
    return frame;
}

START_TEST(t_matches_pipeline)
{
    fer_classifier *c = open_default();
    fer_image img = two_faces();
    fer_frame_result ref;
    reference(&ref, &img);
    ck_assert_int_eq(ref.nfaces, 2);

    fer_classifier_image ci = {img.data, img.w, img.h, (size_t)img.w * 3, FER_PIXELS_BGR};
    fer_classifier_result r;
    fer_classifier_error err = {0};
    ck_assert_msg(fer_classifier_classify(c, &ci, NULL, 0, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.nfaces, ref.nfaces);
    ck_assert_int_eq(r.nclasses, ref.nclasses);
    ck_assert_int_eq(r.width, 640);
    ck_assert_int_eq(r.height, 480);
    ck_assert_int_eq(fer_classifier_nclasses(c), ref.nclasses);
    for (int k = 0; k < ref.nclasses; k++)
        ck_assert_str_eq(fer_classifier_class_name(c, k), ref.classes[k]);
    ck_assert_str_eq(fer_classifier_class_name(c, ref.nclasses), "");
    ck_assert_str_eq(fer_classifier_class_name(c, -1), "");
    for (int i = 0; i < r.nfaces; i++) {
        const fer_face_result *f = &ref.faces[i];
        const fer_classifier_face *g = &r.faces[i];
        ck_assert_int_eq(g->box.x, f->box.x);
        ck_assert_int_eq(g->box.y, f->box.y);
        ck_assert_int_eq(g->box.w, f->box.w);
        ck_assert_int_eq(g->box.h, f->box.h);
        ck_assert_int_eq(g->label, f->label);
        ck_assert(g->prob == f->prob);
        ck_assert_mem_eq(g->scores, f->scores, sizeof(float) * (size_t)ref.nclasses);
        ck_assert_int_eq(g->smoothed_label, f->label);
        ck_assert(g->smoothed_prob == f->prob);
        ck_assert_int_eq(g->is_new, 1);
        float sum = 0;
        for (int k = 0; k < r.nclasses; k++)
            sum += g->scores[k];
        ck_assert_float_eq_tol(sum, 1.0f, 1e-4f);
    }
    ck_assert_str_eq(fer_classifier_model_path(c), model_path());
    ck_assert_str_eq(fer_classifier_model_name(c), "default");
    fer_image_free(&img);
    fer_classifier_close(c);
}
END_TEST

START_TEST(t_layouts_agree)
{
    fer_classifier *c = open_default();
    fer_image img = two_faces();
    fer_classifier_error err = {0};
    fer_classifier_result base, r;
    fer_classifier_image ci = {img.data, img.w, img.h, (size_t)img.w * 3, FER_PIXELS_BGR};
    ck_assert_msg(fer_classifier_classify(c, &ci, NULL, 0, &base, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(base.nfaces, 2);

    /* Padded rows (an odd stride, as a cropped view of a larger buffer has). */
    const size_t stride = (size_t)img.w * 3 + 13;
    uint8_t *pad = malloc(stride * (size_t)img.h);
    ck_assert_ptr_nonnull(pad);
    memset(pad, 0xEE, stride * (size_t)img.h);
    for (int y = 0; y < img.h; y++)
        memcpy(pad + (size_t)y * stride, img.data + (size_t)y * img.w * 3, (size_t)img.w * 3);
    fer_classifier_image cp = {pad, img.w, img.h, stride, FER_PIXELS_BGR};
    ck_assert_int_eq(fer_classifier_classify(c, &cp, NULL, 0, &r, &err), 0);
    assert_same_faces(&base, &r);

    /* RGB: the same picture with red and blue swapped in memory. */
    for (int y = 0; y < img.h; y++)
        for (int x = 0; x < img.w; x++) {
            uint8_t *p = pad + (size_t)y * stride + (size_t)x * 3;
            uint8_t t = p[0];
            p[0] = p[2];
            p[2] = t;
        }
    cp.format = FER_PIXELS_RGB;
    ck_assert_int_eq(fer_classifier_classify(c, &cp, NULL, 0, &r, &err), 0);
    assert_same_faces(&base, &r);

    /* Grey, converted as the pipeline converts BGR: the grey model sees the same bytes. */
    uint8_t *grey = malloc((size_t)img.w * img.h);
    ck_assert_ptr_nonnull(grey);
    fer_grey_from_bgr(grey, img.data, (size_t)img.w * img.h);
    fer_classifier_image cg = {grey, img.w, img.h, (size_t)img.w, FER_PIXELS_GREY};
    ck_assert_int_eq(fer_classifier_classify(c, &cg, NULL, 0, &r, &err), 0);
    assert_same_faces(&base, &r);

    /* A blank image has no face: a result, not an error. */
    fer_image blank = tu_blank(200, 100, 90);
    fer_classifier_image cb = {blank.data, blank.w, blank.h, (size_t)blank.w * 3, FER_PIXELS_BGR};
    ck_assert_int_eq(fer_classifier_classify(c, &cb, NULL, 0, &r, &err), 0);
    ck_assert_int_eq(r.nfaces, 0);
    ck_assert_int_eq(r.width, 200);

    free(grey);
    free(pad);
    fer_image_free(&blank);
    fer_image_free(&img);
    fer_classifier_close(c);
}
END_TEST

START_TEST(t_file_and_bytes)
{
    fer_classifier *c = open_default();
    fer_classifier_error err = {0};
    fer_classifier_result rf, rb, rr;
    const char *face = tu_source("tests/fixtures/face.png");
    ck_assert_msg(fer_classifier_classify_file(c, face, NULL, 0, &rf, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rf.seq, 1);
    ck_assert_int_eq(rf.nfaces, 1);
    ck_assert_int_eq(rf.faces[0].id, 1);

    uint8_t *bytes;
    size_t len;
    fer_error ferr = {0};
    ck_assert_int_eq(fer_read_file(face, &bytes, &len, 1 << 24, &ferr), 0);
    ck_assert_int_eq(fer_classifier_classify_encoded(c, bytes, len, NULL, 0, &rb, &err), 0);
    ck_assert_int_eq(rb.seq, 2);
    ck_assert_int_eq(rb.faces[0].id, 2); /* ids are never reused on a handle */
    assert_same_faces(&rf, &rb);

    /* Not an image: an error <= -9000 that says so; the call still takes a number. */
    const char junk[] = "this is not a picture";
    int rc = fer_classifier_classify_encoded(c, junk, sizeof junk, NULL, 0, &rr, &err);
    ck_assert_int_le(rc, -9000);
    ck_assert_int_eq(err.code, rc);
    ck_assert_msg(strstr(err.msg, "image in memory"), "%s", err.msg);
    rc = fer_classifier_classify_file(c, tu_path("absent.png"), NULL, 0, &rr, &err);
    ck_assert_int_eq(rc, -ENOENT);
    ck_assert_msg(strstr(err.msg, "absent.png"), "%s", err.msg);
    ck_assert_int_eq(fer_classifier_classify_file(c, face, NULL, 0, &rr, &err), 0);
    ck_assert_int_eq(rr.seq, 5);
    ck_assert_str_eq(fer_classifier_strerror(-ENOENT), strerror(ENOENT));
    free(bytes);
    fer_classifier_close(c);
}
END_TEST

START_TEST(t_given_boxes)
{
    fer_classifier *c = open_default();
    fer_image img = two_faces();
    fer_classifier_image ci = {img.data, img.w, img.h, (size_t)img.w * 3, FER_PIXELS_BGR};
    fer_classifier_error err = {0};
    fer_classifier_result det, r;
    ck_assert_int_eq(fer_classifier_classify(c, &ci, NULL, 0, &det, &err), 0);
    ck_assert_int_eq(det.nfaces, 2);

    /* The detected boxes given back in reverse order: same scores, caller's order. */
    fer_classifier_box boxes[2] = {det.faces[1].box, det.faces[0].box};
    ck_assert_msg(fer_classifier_classify(c, &ci, boxes, 2, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.nfaces, 2);
    for (int i = 0; i < 2; i++) {
        const fer_classifier_face *g = &r.faces[i], *d = &det.faces[1 - i];
        ck_assert_mem_eq(&g->box, &d->box, sizeof g->box);
        ck_assert_mem_eq(g->scores, d->scores, sizeof(float) * (size_t)r.nclasses);
        ck_assert_int_eq(g->label, d->label);
    }
    /* No search runs: a box on blank wall is classified, not dropped. */
    fer_classifier_box wall = {250, 400, 60, 60};
    ck_assert_int_eq(fer_classifier_classify(c, &ci, &wall, 1, &r, &err), 0);
    ck_assert_int_eq(r.nfaces, 1);
    ck_assert_mem_eq(&r.faces[0].box, &wall, sizeof wall);
    /* A box half outside the image is cut with its edges repeated. */
    fer_classifier_box edge = {600, -20, 80, 80};
    ck_assert_int_eq(fer_classifier_classify(c, &ci, &edge, 1, &r, &err), 0);
    ck_assert_int_eq(r.nfaces, 1);
    /* An array with no boxes classifies nothing. */
    ck_assert_int_eq(fer_classifier_classify(c, &ci, boxes, 0, &r, &err), 0);
    ck_assert_int_eq(r.nfaces, 0);

    /* Bad boxes: the message names the one at fault. */
    fer_classifier_box bad[3] = {det.faces[0].box, {10, 10, 0, 40}, {700, 10, 40, 40}};
    ck_assert_int_eq(fer_classifier_classify(c, &ci, bad, 2, &r, &err), -EINVAL);
    ck_assert_msg(strstr(err.msg, "box 1"), "%s", err.msg);
    bad[1] = bad[0];
    ck_assert_int_eq(fer_classifier_classify(c, &ci, bad, 3, &r, &err), -EINVAL);
    ck_assert_msg(strstr(err.msg, "box 2") && strstr(err.msg, "outside"), "%s", err.msg);
    fer_classifier_box many[FER_CLASSIFIER_MAX_FACES + 1];
    for (int i = 0; i <= FER_CLASSIFIER_MAX_FACES; i++)
        many[i] = det.faces[0].box;
    ck_assert_int_eq(fer_classifier_classify(c, &ci, many, FER_CLASSIFIER_MAX_FACES, &r, &err),
                     0);
    ck_assert_int_eq(r.nfaces, FER_CLASSIFIER_MAX_FACES);
    ck_assert_int_eq(fer_classifier_classify(c, &ci, many, FER_CLASSIFIER_MAX_FACES + 1, &r,
                                             &err), -EINVAL);
    ck_assert_int_eq(fer_classifier_classify(c, &ci, NULL, 2, &r, &err), -EINVAL);
    fer_image_free(&img);
    fer_classifier_close(c);
}
END_TEST

START_TEST(t_bad_arguments)
{
    fer_classifier *c = NULL;
    fer_classifier_error err = {0};
    /* Models: absent, not a model, bad options, no default anywhere. */
    ck_assert_int_eq(fer_classifier_open(&c, tu_path("none.fermodel"), NULL, &err), -ENOENT);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, "none.fermodel"), "%s", err.msg);
    int rc = fer_classifier_open(&c, tu_source("tests/fixtures/face.png"), NULL, &err);
    ck_assert_int_le(rc, -9000);
    ck_assert_msg(strstr(err.msg, "face.png"), "%s", err.msg);
    ck_assert_str_ne(fer_classifier_strerror(rc), "");
    fer_classifier_opts o;
    fer_classifier_opts_init(&o);
    o.max_faces = 0;
    ck_assert_int_eq(fer_classifier_open(&c, model_path(), &o, &err), -EINVAL);
    ck_assert_msg(strstr(err.msg, "max_faces"), "%s", err.msg);
    fer_classifier_opts_init(&o);
    o.scale_factor = 1.0;
    ck_assert_int_eq(fer_classifier_open(&c, model_path(), &o, &err), -EINVAL);
    ck_assert_msg(strstr(err.msg, "scale_factor"), "%s", err.msg);
    fer_classifier_opts_init(&o);
    o.cascade = tu_path("no-cascade.xml");
    ck_assert_int_eq(fer_classifier_open(&c, model_path(), &o, &err), -ENOENT);
    ck_assert_msg(strstr(err.msg, "no-cascade.xml"), "%s", err.msg);
    ck_assert_int_eq(fer_classifier_open(NULL, model_path(), NULL, &err), -EINVAL);
    ck_assert_int_eq(fer_classifier_open(&c, tu_path("x"), NULL, NULL), -ENOENT);
    /* No model given and none in the data directory: the message names where it looked. */
    setenv("FER_DATA_DIR", tu_dir, 1);
    ck_assert_int_eq(fer_classifier_open(&c, NULL, NULL, &err), -ENOENT);
    ck_assert_msg(strstr(err.msg, tu_dir) && strstr(err.msg, "models/default.fermodel"), "%s",
                  err.msg);
    unsetenv("FER_DATA_DIR");
    setenv("FER_MODEL", model_path(), 1);
    ck_assert_msg(fer_classifier_open(&c, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(fer_classifier_model_path(c), model_path());
    unsetenv("FER_MODEL");

    /* Images. */
    uint8_t px[64 * 3] = {0};
    fer_classifier_result r;
    fer_classifier_image im = {px, 8, 8, 24, FER_PIXELS_BGR};
    ck_assert_int_eq(fer_classifier_classify(c, &im, NULL, 0, &r, &err), 0);
    im.stride = 23;
    ck_assert_int_eq(fer_classifier_classify(c, &im, NULL, 0, &r, &err), -EINVAL);
    ck_assert_msg(strstr(err.msg, "stride"), "%s", err.msg);
    im.stride = 24;
    im.format = 9;
    ck_assert_int_eq(fer_classifier_classify(c, &im, NULL, 0, &r, &err), -EINVAL);
    im.format = FER_PIXELS_GREY;
    im.width = 0;
    ck_assert_int_eq(fer_classifier_classify(c, &im, NULL, 0, &r, &err), -EINVAL);
    im.width = 40000;
    ck_assert_int_eq(fer_classifier_classify(c, &im, NULL, 0, &r, &err), -EINVAL);
    im.width = 8;
    im.data = NULL;
    ck_assert_int_eq(fer_classifier_classify(c, &im, NULL, 0, &r, &err), -EINVAL);
    ck_assert_int_eq(fer_classifier_classify(c, NULL, NULL, 0, &r, &err), -EINVAL);
    ck_assert_int_eq(fer_classifier_classify(c, &im, NULL, 0, NULL, &err), -EINVAL);
    ck_assert_int_eq(fer_classifier_classify_file(c, NULL, NULL, 0, &r, &err), -EINVAL);
    ck_assert_int_eq(fer_classifier_classify_encoded(c, NULL, 5, NULL, 0, &r, &err), -EINVAL);
    ck_assert_int_le(fer_classifier_classify_encoded(c, NULL, 0, NULL, 0, &r, &err), -9000);
    ck_assert_int_eq(fer_classifier_nclasses(NULL), 0);
    fer_classifier_close(c);
    fer_classifier_close(NULL);
}
END_TEST

START_TEST(t_json)
{
    fer_classifier *c = open_default();
    fer_classifier_error err = {0};
    fer_classifier_result r;
    const char *face = tu_source("tests/fixtures/face.png");
    ck_assert_int_eq(fer_classifier_classify_file(c, face, NULL, 0, &r, &err), 0);
    char buf[4096];
    int n = fer_classifier_result_json(c, &r, "x.png", 0, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq((int)strlen(buf), n);
    ck_assert_msg(strncmp(buf, "{\"class\":\"RESULT\",\"seq\":1,", 26) == 0, "%s", buf);
    ck_assert_msg(strstr(buf, "\"path\":\"x.png\"}") && strstr(buf, "\"scores\":{\"angry\":") &&
                  strstr(buf, "\"new\":true"), "%s", buf);
    /* Too small a buffer: cut and terminated, the full length returned. */
    char small[10];
    ck_assert_int_eq(fer_classifier_result_json(c, &r, "x.png", 0, small, sizeof small), n);
    ck_assert_str_eq(small, "{\"class\":");
    int m = fer_classifier_result_json(c, &r, NULL, FER_CLASSIFIER_JSON_NO_SCORES, buf,
                                       sizeof buf);
    ck_assert_int_gt(m, 0);
    ck_assert_ptr_null(strstr(buf, "scores"));
    ck_assert_ptr_null(strstr(buf, "path"));
    /* No buffer: the length alone (the line with scores, without "path"). */
    ck_assert_int_eq(fer_classifier_result_json(c, &r, NULL, 0, NULL, 0),
                     n - (int)strlen(",\"path\":\"x.png\""));
    fer_classifier_close(c);
}
END_TEST

/* ---- threads ---- */

typedef struct worker {
    fer_classifier *c;
    const fer_classifier_image *img;
    const fer_classifier_result *want;
    int rounds, bad;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < w->rounds; i++) {
        fer_classifier_result r;
        fer_classifier_error err = {0};
        if (fer_classifier_classify(w->c, w->img, NULL, 0, &r, &err) != 0 ||
            r.nfaces != w->want->nfaces)
            w->bad++;
        else
            for (int k = 0; k < r.nfaces; k++)
                w->bad += memcmp(r.faces[k].scores, w->want->faces[k].scores,
                                 sizeof r.faces[k].scores) != 0;
    }
    return NULL;
}

START_TEST(t_threads)
{
    fer_classifier *a = open_default(), *b = open_default();
    fer_image img = two_faces();
    fer_classifier_image ci = {img.data, img.w, img.h, (size_t)img.w * 3, FER_PIXELS_BGR};
    fer_classifier_error err = {0};
    fer_classifier_result want;
    ck_assert_int_eq(fer_classifier_classify(a, &ci, NULL, 0, &want, &err), 0);
    ck_assert_int_eq(want.nfaces, 2);
    /* Three threads: two share handle a, one has b. */
    worker w[3] = {{a, &ci, &want, 6, 0}, {a, &ci, &want, 6, 0}, {b, &ci, &want, 6, 0}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(w[i].bad == 0, "thread %d: %d results differ", i, w[i].bad);
    }
    fer_classifier_result last;
    ck_assert_int_eq(fer_classifier_classify(a, &ci, NULL, 0, &last, &err), 0);
    ck_assert_int_eq(last.seq, 14); /* every call on a was counted once */
    fer_image_free(&img);
    fer_classifier_close(a);
    fer_classifier_close(b);
}
END_TEST

/* ---- exports ---- */

/* Names declared FER_CLASSIFY_API in the header, one per line, sorted by the caller. */
static int header_names(char names[][64], int max)
{
    uint8_t *text;
    size_t len;
    fer_error e = {0};
    ck_assert_int_eq(fer_read_file(tu_source("classify/ferclassify.h"), &text, &len, 1 << 20,
                                   &e), 0);
    int n = 0;
    const char *p = (const char *)text;
    while ((p = strstr(p, "FER_CLASSIFY_API ")) != NULL && n < max) {
        p += strlen("FER_CLASSIFY_API ");
        const char *paren = strchr(p, '(');
        if (!paren)
            break;
        const char *s = paren;
        while (s > p && (s[-1] == '_' || (s[-1] >= 'a' && s[-1] <= 'z') ||
                         (s[-1] >= '0' && s[-1] <= '9')))
            s--;
        if (paren - s > 0 && paren - s < 64 && strncmp(s, "fer_classifier_", 15) == 0)
            snprintf(names[n++], 64, "%.*s", (int)(paren - s), s);
        p = paren;
    }
    free(text);
    return n;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

START_TEST(t_exports)
{
    const char *lib = getenv("FER_CLASSIFY_LIB");
    ck_assert_msg(lib && *lib, "FER_CLASSIFY_LIB not set (meson sets it)");
    char want[64][64], got[64][64];
    int nwant = header_names(want, 64);
    ck_assert_int_ge(nwant, 10);
    qsort(want, (size_t)nwant, sizeof want[0], cmp_names);

    char cmd[4400];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only --format=posix '%s'", lib);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int ngot = 0;
    while (fgets(line, sizeof line, f)) {
        char name[256], type[8];
        if (sscanf(line, "%255s %7s", name, type) != 2)
            continue;
        if (strcmp(type, "A") == 0)
            continue; /* the version node itself (FERCLASSIFY_0) */
        char *at = strchr(name, '@');
        if (at)
            *at = '\0';
        ck_assert_msg(ngot < 64, "too many exports");
        snprintf(got[ngot++], 64, "%.63s", name);
    }
    ck_assert_int_eq(pclose(f), 0);
    qsort(got, (size_t)ngot, sizeof got[0], cmp_names);
    for (int i = 0; i < ngot && i < nwant; i++)
        ck_assert_str_eq(got[i], want[i]);
    ck_assert_int_eq(ngot, nwant);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("classify");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_matches_pipeline);
    tcase_add_test(tc, t_layouts_agree);
    tcase_add_test(tc, t_file_and_bytes);
    tcase_add_test(tc, t_given_boxes);
    tcase_add_test(tc, t_bad_arguments);
    tcase_add_test(tc, t_json);
    tcase_add_test(tc, t_threads);
    tcase_add_test(tc, t_exports);
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
