/*
 * test_input_path.c — one preprocessing path from training to camera (issue 11).
 *
 * A FER2013-like face (tests/fixtures/face.png, grey, cut to its face and
 * area-resampled to 48x48) is written as a row of a FER2013 CSV and read back by
 * the dataset loader: that is the training data path (fer train's batches and
 * validation, fer eval). The same face, enlarged and pasted into a 640x480 camera
 * frame with known geometry, goes through the pipeline's path (frame to grey,
 * crop box, crop and resample, contrast step, scaling). The two network inputs
 * must agree:
 *   - exactly (memcmp of the float tensors) when the face was enlarged by an
 *     integer factor k and the crop box covers it exactly: area resampling then
 *     averages k x k copies of each pixel (exact in float for k = 1, 2, 4; within
 *     a few ulps for k = 5, far inside the 0.5 of the rounding to 8 bits), so both
 *     paths hand identical bytes to the same fer_input_from_face; this holds for
 *     every contrast mode, with and without a margin, from a grey or a colour frame;
 *   - within one grey level at a non-integer factor, where the dataset face was
 *     made by OpenCV (see non_integer_scale_within_one_level).
 * Then every path is shown to take the contrast step from the model: the real
 * pipeline's scores for a detected face equal the forward pass of the manual chain
 * on its box for none, histeq and clahe (and differ between them), and fer_evaluate's
 * loss on the CSV equals the one computed from the data-path tensor, per mode.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "nn/layers.h"
#include "train/augment.h"
#include "train/evaluate.h"
#include "vision/contrast.h"
#include "vision/pipeline.h"
#include "vision/preprocess.h"
#include "vision_util.h"

#define S 48

/* The dataset face: face.png in grey, its central 96x96 (the face at 33,33 75x75
 * with a border, as FER2013 crops are) area-resampled to 48x48 by the pipeline's
 * own resampler. */
static void face48(uint8_t out[S * S])
{
    fer_image bgr = tu_face(), grey = {0};
    fer_error err = {0};
    ck_assert_int_eq(fer_image_to_grey(&grey, &bgr, &err), 0);
    ck_assert_int_eq(fer_crop_resample(out, S, S, &grey, (fer_box){16, 16, 96, 96}, 1, &err), 0);
    fer_image_free(&bgr);
    fer_image_free(&grey);
}

/* A 640x480 BGR frame of noise with the face enlarged k times by pixel replication
 * at (x0, y0), grey (B = G = R). */
static fer_image frame_with(const uint8_t *face, int k, int x0, int y0)
{
    fer_image f;
    ck_assert_int_eq(fer_image_alloc(&f, 640, 480, 3), 0);
    uint64_t r = 99;
    for (size_t i = 0; i < (size_t)640 * 480 * 3; i++)
        f.data[i] = (uint8_t)(fer_rng_next(&r) >> 56);
    for (int y = 0; y < S * k; y++)
        for (int x = 0; x < S * k; x++)
            memset(f.data + ((size_t)(y0 + y) * 640 + x0 + x) * 3, face[(y / k) * S + x / k], 3);
    return f;
}

/* The training data path: the face as a PrivateTest row of a FER2013 CSV, loaded by
 * the dataset loader. */
static fer_dataset *csv_with(const uint8_t *face, int label)
{
    const char *path = tu_path("one.csv");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "emotion,pixels,Usage\n%d,", label);
    for (int i = 0; i < S * S; i++)
        fprintf(f, "%s%d", i ? " " : "", face[i]);
    fprintf(f, ",PrivateTest\n");
    fclose(f);
    fer_dataset *ds = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_dataset_load(&ds, path, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ds->n, 1);
    ck_assert_mem_eq(ds->pixels, face, S * S);
    return ds;
}

/* Data path: what validation and evaluation do (fer_input_from_face on a copy), and
 * what a training batch gets with augmentation off: the same tensor. */
static void data_tensor(float *out, const fer_dataset *ds, const fer_preproc *pre)
{
    uint8_t work[S * S];
    memcpy(work, ds->pixels, sizeof work);
    ck_assert_int_eq(fer_input_from_face(out, work, S, S, pre, NULL), 0);
    float aug[S * S];
    fer_augment a;
    fer_augment_none(&a);
    ck_assert_int_eq(fer_augment_apply(aug, work, ds->pixels, S, S, &a, pre, 1), 0);
    ck_assert_mem_eq(aug, out, sizeof aug);
}

/* The pipeline's path for a box: the frame to grey (fer_pipeline_process does this
 * for a grey model), then fer_preprocess_face. */
static void pipeline_tensor(float *out, const fer_image *frame, fer_box box,
                            const fer_preproc *pre)
{
    fer_image grey = {0};
    fer_error err = {0};
    ck_assert_int_eq(fer_image_to_grey(&grey, frame, &err), 0);
    uint8_t scratch[S * S * 3];
    ck_assert_msg(fer_preprocess_face(out, scratch, 1, S, S, &grey, box, pre, &err) == 0, "%s",
                  err.msg);
    fer_image_free(&grey);
}

START_TEST(integer_scale_is_exact)
{
    tu_setup();
    uint8_t face[S * S];
    face48(face);
    fer_dataset *ds = csv_with(face, 3);
    static const int ks[] = {1, 2, 4, 5};
    for (int mode = FER_CONTRAST_NONE; mode <= FER_CONTRAST_CLAHE; mode++) {
        fer_preproc pre;
        fer_preproc_default(&pre);
        fer_contrast_init(&pre.contrast, mode);
        pre.mean = 0.51f;
        pre.std = 0.29f;
        float want[S * S], got[S * S];
        data_tensor(want, ds, &pre);
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
            const int k = ks[i], x0 = 101 + 13 * k, y0 = 37 + 3 * k;
            fer_image frame = frame_with(face, k, x0, y0);
            /* The detector's box is the face exactly. */
            pre.margin = 0.0f;
            pipeline_tensor(got, &frame, (fer_box){x0, y0, S * k, S * k}, &pre);
            ck_assert_msg(!memcmp(got, want, sizeof got), "%s, x%d: tensors differ",
                          fer_contrast_name(mode), k);
            /* A box inside the face, grown by the model's margin to cover it exactly:
             * 0.25 of a 32k box on each side is 8k, the crop is 48k. */
            pre.margin = 0.25f;
            pipeline_tensor(got, &frame, (fer_box){x0 + 8 * k, y0 + 8 * k, 32 * k, 32 * k}, &pre);
            ck_assert_msg(!memcmp(got, want, sizeof got), "%s, x%d, margin: tensors differ",
                          fer_contrast_name(mode), k);
            /* A colour frame straight in (grey taken of the resampled crop): exact too,
             * since the face is grey. */
            uint8_t scratch[S * S * 3];
            fer_error err = {0};
            pre.margin = 0.0f;
            ck_assert_int_eq(fer_preprocess_face(got, scratch, 1, S, S, &frame,
                                                 (fer_box){x0, y0, S * k, S * k}, &pre, &err), 0);
            ck_assert_msg(!memcmp(got, want, sizeof got), "%s, x%d, colour: tensors differ",
                          fer_contrast_name(mode), k);
            fer_image_free(&frame);
        }
    }
    fer_dataset_free(ds);
    tu_cleanup();
}
END_TEST

/*
 * A non-integer factor, against an independent resampler: the dataset image made
 * from face.png by OpenCV as a dataset maker would (tools/face48_fixture.py: grey,
 * the 87x87 square at (21, 21), INTER_AREA to 48x48, factor 1.8125), and the same
 * square cut out of a camera frame holding face.png by the pipeline's code. The
 * two area resamplers weight the same pixels alike but may sum and round
 * differently, so the tolerance is one grey level per pixel (1/255/std in the
 * tensor); measured with OpenCV 4.6 when written: all 2304 pixels equal. Without a
 * contrast step; with one, the contrast step must see these near-identical faces the
 * same way the exact cases show, so it is not repeated here.
 */
START_TEST(non_integer_scale_within_one_level)
{
    tu_setup();
    fer_image want = {0}, face = tu_face();
    fer_error err = {0};
    ck_assert_msg(fer_image_read(&want, tu_source("tests/fixtures/face48_cv2.png"), 1, &err) == 0,
                  "%s", err.msg);
    ck_assert(want.w == S && want.h == S && want.channels == 1);
    fer_image frame = tu_blank(640, 480, 128);
    uint64_t r = 5;
    for (size_t i = 0; i < (size_t)640 * 480 * 3; i++)
        frame.data[i] = (uint8_t)(fer_rng_next(&r) >> 56);
    tu_paste(&frame, &face, 333, 222);
    fer_preproc pre;
    fer_preproc_default(&pre);
    float got[S * S], ref[S * S];
    pipeline_tensor(got, &frame, (fer_box){333 + 21, 222 + 21, 87, 87}, &pre);
    fer_normalise(ref, want.data, S * S, pre.mean, pre.std);
    int over = 0, equal = 0;
    for (int i = 0; i < S * S; i++) {
        double d = fabs((double)got[i] - ref[i]) * 255.0 * pre.std;
        over += d > 1.0 + 1e-3;
        equal += d < 1e-3;
    }
    printf("non-integer scale 87/48: %d of %d pixels equal to OpenCV's, %d over 1 level\n",
           equal, S * S, over);
    ck_assert_msg(over == 0, "%d pixels differ from OpenCV's INTER_AREA by more than 1 level",
                  over);
    fer_image_free(&want);
    fer_image_free(&face);
    fer_image_free(&frame);
    tu_cleanup();
}
END_TEST

/* The model's probabilities (its temperature applied) for one input. */
static void scores_of(float *out, fer_model *m, const float *x)
{
    const float *logits = fer_net_forward(m->net, x, 1, 0);
    ck_assert_ptr_nonnull(logits);
    fer_model_probs(m, out, logits, 1);
}

/* The real pipeline and fer_evaluate take the contrast step and the calibration
 * temperature from the model. */
START_TEST(every_path_reads_the_model)
{
    tu_setup();
    uint8_t face[S * S];
    face48(face);
    fer_dataset *ds = csv_with(face, 3);
    fer_model *m = tu_random_model(4);
    m->calib.temperature = 0.37f; /* random weights give near-uniform scores: sharpen */
    const int K = m->net->arch->nclasses;
    fer_image frame = frame_with(face, 4, 220, 120);
    fer_pipeline *pl = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_pipeline_create(&pl, NULL, m, &err) == 0, "%s", err.msg);
    float seen[3][FER_RESULT_MAX_CLASSES];
    double losses[3];
    for (int mode = FER_CONTRAST_NONE; mode <= FER_CONTRAST_CLAHE; mode++) {
        fer_contrast_init(&m->pre.contrast, mode);
        fer_pipeline_reset(pl);
        fer_frame fr = {.img = frame, .seq = 1};
        fer_frame_result res;
        ck_assert_msg(fer_pipeline_process(pl, &fr, &res, &err) == 0, "%s", err.msg);
        ck_assert_msg(res.nfaces == 1, "%d faces found in the frame", res.nfaces);
        float x[S * S], want[FER_RESULT_MAX_CLASSES];
        pipeline_tensor(x, &frame, res.faces[0].box, &m->pre);
        scores_of(want, m, x);
        ck_assert_mem_eq(res.faces[0].scores, want, sizeof(float) * (size_t)K);
        memcpy(seen[mode], want, sizeof want);

        /* fer eval's path: loss = -log p(truth) of the data-path tensor. */
        fer_eval_result er;
        ck_assert_msg(fer_evaluate(m, ds, FER_SPLIT_TEST, FER_TTA_NONE, &er, &err) == 0, "%s",
                      err.msg);
        data_tensor(x, ds, &m->pre);
        scores_of(want, m, x);
        losses[mode] = er.loss;
        ck_assert_double_eq_tol(er.loss, -log((double)want[3]), 1e-6);
    }
    /* Test-time flip (ferd's tta key): the pipeline averages the probabilities of the
     * input and its mirror exactly as fer eval --tta flip does, in the same order. */
    ck_assert_int_eq(fer_pipeline_set_tta(pl, FER_TTA_FLIP, &err), 0);
    ck_assert_int_eq(fer_pipeline_set_tta(pl, FER_TTA_CROPS, &err), -EINVAL);
    for (int mode = FER_CONTRAST_NONE; mode <= FER_CONTRAST_CLAHE; mode++) {
        fer_contrast_init(&m->pre.contrast, mode);
        fer_pipeline_reset(pl);
        fer_frame fr = {.img = frame, .seq = 3};
        fer_frame_result res;
        ck_assert_msg(fer_pipeline_process(pl, &fr, &res, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(res.nfaces, 1);
        float x[S * S], mx[S * S], p0[FER_RESULT_MAX_CLASSES], p1[FER_RESULT_MAX_CLASSES];
        float want[FER_RESULT_MAX_CLASSES];
        pipeline_tensor(x, &frame, res.faces[0].box, &m->pre);
        fer_input_view(mx, x, 1, S, S, 1);
        scores_of(p0, m, x);
        scores_of(p1, m, mx);
        for (int c = 0; c < K; c++) {
            want[c] = 0.0f;
            want[c] += p0[c] / 2.0f;
            want[c] += p1[c] / 2.0f;
        }
        ck_assert_mem_eq(res.faces[0].scores, want, sizeof(float) * (size_t)K);
        ck_assert_msg(memcmp(res.faces[0].scores, seen[mode], sizeof(float) * (size_t)K),
                      "flip changed nothing");
        fer_eval_result er;
        ck_assert(fer_evaluate(m, ds, FER_SPLIT_TEST, FER_TTA_FLIP, &er, &err) == 0);
        data_tensor(x, ds, &m->pre);
        fer_input_view(mx, x, 1, S, S, 1);
        scores_of(p0, m, x);
        scores_of(p1, m, mx);
        ck_assert_double_eq_tol(er.loss, -log((double)(0.0f + p0[3] / 2.0f + p1[3] / 2.0f)), 1e-6);
    }
    ck_assert_int_eq(fer_pipeline_set_tta(pl, FER_TTA_NONE, &err), 0);

    /* The temperature is read too: at T = 1 the same face scores differently. */
    fer_contrast_init(&m->pre.contrast, FER_CONTRAST_NONE);
    m->calib.temperature = 1.0f;
    fer_pipeline_reset(pl);
    fer_frame fr = {.img = frame, .seq = 2};
    fer_frame_result res;
    ck_assert_msg(fer_pipeline_process(pl, &fr, &res, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(res.nfaces, 1);
    ck_assert_msg(memcmp(res.faces[0].scores, seen[0], sizeof(float) * (size_t)K),
                  "the pipeline ignored the temperature");
    for (int a = 0; a < 3; a++)
        for (int b = a + 1; b < 3; b++) {
            ck_assert_msg(memcmp(seen[a], seen[b], sizeof(float) * (size_t)K),
                          "pipeline scores equal for %s and %s", fer_contrast_name(a),
                          fer_contrast_name(b));
            ck_assert_msg(losses[a] != losses[b], "eval losses equal for %s and %s",
                          fer_contrast_name(a), fer_contrast_name(b));
        }
    fer_pipeline_free(pl);
    fer_model_free(m);
    fer_image_free(&frame);
    fer_dataset_free(ds);
    tu_cleanup();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("input_path");
    TCase *t = tcase_create("paths");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, integer_scale_is_exact);
    tcase_add_test(t, non_integer_scale_within_one_level);
    tcase_add_test(t, every_path_reads_the_model);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
