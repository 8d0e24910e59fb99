/*
 * test_train.c — the training side: optimiser and schedule formulas, the
 * augmentation's determinism, metrics on a hand-computed case, the plots as
 * real PNG files, and whole training runs on synthetic data: the loss falls,
 * accuracy rises. Stop-and-resume of runs with every option, and the options
 * themselves (FER+ votes, distillation, ...), are in test_train_options.c.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cv/image.h"
#include "data/dataset.h"
#include "net/model.h"
#include "nn/layers.h"
#include "train/augment.h"
#include "train/calibrate.h"
#include "train/evaluate.h"
#include "vision/contrast.h"
#include "vision/preprocess.h"
#include "train/metrics.h"
#include "train/optim.h"
#include "train/plots.h"
#include "train/schedule.h"
#include "train/trainer.h"

#include "train_util.h"

/* ---- optimiser and schedules ------------------------------------------------ */

static fer_net *one_fc_net(void)
{
    static const char *t = "[net]\ninput = 1x1x2\n[fc]\noutputs = 1\n";
    fer_arch *a = NULL;
    ck_assert_int_eq(fer_arch_parse(&a, t, strlen(t), "fc", NULL), 0);
    fer_net *net = NULL;
    ck_assert_int_eq(fer_net_create(&net, a, 1, FER_NET_TRAIN, 1, NULL), 0);
    return net;
}

START_TEST(sgd_nesterov_matches_hand)
{
    fer_net *net = one_fc_net();
    fer_layer *l = &net->layers[0];
    l->w[0] = 1.0f, l->w[1] = -2.0f, l->b[0] = 0.5f;
    fer_optim_cfg cfg;
    fer_optim_cfg_default(&cfg);
    cfg.weight_decay = 0.1f; /* weights only: the bias gets none */
    fer_optim *o = NULL;
    ck_assert_int_eq(fer_optim_create(&o, net, &cfg, NULL), 0);
    for (int step = 0; step < 2; step++) {
        l->dw[0] = 0.2f, l->dw[1] = 0.4f, l->db[0] = -1.0f;
        fer_optim_step(o, 0.1f);
    }
    /* w0: g = 0.2 + 0.1*1 = 0.3; buf = 0.3; step = g + 0.9*buf = 0.57; w = 1 - 0.057 = 0.943
     *     g = 0.2 + 0.0943 = 0.2943; buf = 0.27 + 0.2943 = 0.5643; step = 0.2943 + 0.50787
     *     = 0.80217; w = 0.943 - 0.080217 = 0.862783
     * b:  g = -1; buf = -1; step = -1.9; b = 0.69; buf = -1.9; step = -2.71; b = 0.961 */
    ck_assert_double_eq_tol(l->w[0], 0.862783, 1e-5);
    ck_assert_double_eq_tol(l->b[0], 0.961, 1e-5);
    fer_optim_free(o);
    fer_net_free(net);
}
END_TEST

START_TEST(adam_first_step_is_lr_sign)
{
    /* Adam's first bias-corrected step is lr * g / (|g| + eps) = lr * sign(g). */
    fer_net *net = one_fc_net();
    fer_layer *l = &net->layers[0];
    l->w[0] = 1.0f, l->w[1] = 1.0f, l->b[0] = 0.0f;
    fer_optim_cfg cfg;
    fer_optim_cfg_default(&cfg);
    cfg.kind = FER_OPT_ADAM;
    cfg.weight_decay = 0.0f;
    fer_optim *o = NULL;
    ck_assert_int_eq(fer_optim_create(&o, net, &cfg, NULL), 0);
    l->dw[0] = 3.0f, l->dw[1] = -0.001f, l->db[0] = 0.0f;
    fer_optim_step(o, 0.01f);
    ck_assert_double_eq_tol(l->w[0], 0.99, 1e-6);
    ck_assert_double_eq_tol(l->w[1], 1.01, 1e-5);
    ck_assert_double_eq_tol(l->b[0], 0.0, 1e-9);
    fer_optim_free(o);
    fer_net_free(net);
}
END_TEST

START_TEST(schedules)
{
    fer_sched s;
    fer_sched_default(&s);
    s.lr = 0.1f;
    s.epochs = 10;
    s.steps_per_epoch = 100;
    s.kind = FER_SCHED_ONECYCLE;
    ck_assert_double_eq_tol(fer_sched_lr(&s, 0), 0.1 / 25, 1e-7);
    ck_assert_double_eq_tol(fer_sched_lr(&s, 299), 0.1, 1e-7);
    ck_assert_double_eq_tol(fer_sched_lr(&s, 999), 0.1 / 25 / 1e4, 1e-9);
    ck_assert(fer_sched_lr(&s, 150) > fer_sched_lr(&s, 100));
    ck_assert(fer_sched_lr(&s, 600) < fer_sched_lr(&s, 400));
    s.kind = FER_SCHED_COSINE;
    s.warmup_epochs = 1;
    s.min_lr = 0.001f;
    ck_assert_double_eq_tol(fer_sched_lr(&s, 100), 0.1, 1e-7);
    ck_assert_double_eq_tol(fer_sched_lr(&s, 550), (0.1 + 0.001) / 2, 1e-6);
    ck_assert_double_eq_tol(fer_sched_lr(&s, 1000), 0.001, 1e-7);
    s.kind = FER_SCHED_STEP;
    s.step_epochs = 3;
    s.gamma = 0.5f;
    ck_assert_double_eq_tol(fer_sched_lr(&s, 299), 0.1, 1e-7);
    ck_assert_double_eq_tol(fer_sched_lr(&s, 300), 0.05, 1e-7);
    ck_assert_double_eq_tol(fer_sched_lr(&s, 650), 0.025, 1e-7);
    s.kind = FER_SCHED_PLATEAU;
    s.patience = 2;
    s.factor = 0.5f;
    const float accs[] = {0.5f, 0.6f, 0.6f, 0.55f, 0.7f, 0.7f, 0.7f};
    for (int i = 0; i < 7; i++)
        fer_sched_epoch_end(&s, accs[i]);
    /* two bad epochs after 0.6 -> one reduction; 0.7 resets; two more bad -> second. */
    ck_assert_int_eq(s.reductions, 2);
    ck_assert_double_eq_tol(fer_sched_lr(&s, 0), 0.025, 1e-7);
}
END_TEST

/* ---- augmentation -------------------------------------------------------------- */

START_TEST(augment_deterministic_and_flip_exact)
{
    uint8_t img[48 * 48], work[48 * 48];
    uint64_t r = 5;
    for (int i = 0; i < 48 * 48; i++)
        img[i] = (uint8_t)(fer_rng_next(&r) & 0xff);
    fer_augment a;
    fer_augment_default(&a);
    fer_preproc pre;
    fer_preproc_default(&pre); /* mean 0.5, std 0.25, no contrast step */
    float o1[48 * 48], o2[48 * 48], o3[48 * 48];
    ck_assert_int_eq(fer_augment_apply(o1, work, img, 48, 48, &a, &pre, 77), 0);
    ck_assert_int_eq(fer_augment_apply(o2, work, img, 48, 48, &a, &pre, 77), 0);
    ck_assert_int_eq(memcmp(o1, o2, sizeof o1), 0);
    ck_assert_int_eq(fer_augment_apply(o3, work, img, 48, 48, &a, &pre, 78), 0);
    ck_assert_int_ne(memcmp(o1, o3, sizeof o1), 0);

    /* Flip only: an exact mirror of the normalised image. */
    fer_augment_none(&a);
    a.enabled = 1;
    a.flip = 1.0f;
    fer_augment_apply(o1, work, img, 48, 48, &a, &pre, 1);
    fer_normalise(o2, img, 48 * 48, 0.5f, 0.25f);
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 48; x++)
            ck_assert_float_eq_tol(o1[y * 48 + x], o2[y * 48 + 47 - x], 1e-4f);
    /* Disabled: plain normalisation. */
    fer_augment_none(&a);
    fer_augment_apply(o1, work, img, 48, 48, &a, &pre, 1);
    ck_assert_int_eq(memcmp(o1, o2, sizeof o1), 0);
}
END_TEST

/* With a contrast step, augmentation gives the network what the pipeline would give
 * it for the augmented face: the step comes after the warp (so CLAHE, which does not
 * commute with a mirror, sees the mirrored face) and the result is exactly the one
 * input function's. */
START_TEST(augment_applies_contrast_after_the_warp)
{
    uint8_t img[48 * 48], mirror[48 * 48], work[48 * 48];
    uint64_t r = 11;
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 48; x++)
            img[y * 48 + x] = (uint8_t)(x * 3 + (fer_rng_next(&r) & 0x3f));
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 48; x++)
            mirror[y * 48 + x] = img[y * 48 + 47 - x];
    fer_preproc pre;
    fer_preproc_default(&pre);
    fer_augment a;
    fer_augment_none(&a);
    a.enabled = 1;
    a.flip = 1.0f;
    float got[48 * 48], want[48 * 48], plain[48 * 48];
    for (int mode = FER_CONTRAST_HISTEQ; mode <= FER_CONTRAST_CLAHE; mode++) {
        fer_contrast_init(&pre.contrast, mode);
        ck_assert_int_eq(fer_augment_apply(got, work, img, 48, 48, &a, &pre, 3), 0);
        memcpy(work, mirror, sizeof work);
        ck_assert_int_eq(fer_input_from_face(want, work, 48, 48, &pre, NULL), 0);
        ck_assert_int_eq(memcmp(got, want, sizeof got), 0);
        fer_normalise(plain, mirror, 48 * 48, pre.mean, pre.std);
        ck_assert_int_ne(memcmp(got, plain, sizeof got), 0); /* the step did something */
    }
    /* Disabled augmentation still applies the step (validation and evaluation). */
    fer_augment_none(&a);
    ck_assert_int_eq(fer_augment_apply(got, work, img, 48, 48, &a, &pre, 3), 0);
    memcpy(work, img, sizeof work);
    ck_assert_int_eq(fer_input_from_face(want, work, 48, 48, &pre, NULL), 0);
    ck_assert_int_eq(memcmp(got, want, sizeof got), 0);
    /* A grid the face cannot take is refused, not applied halfway. */
    pre.contrast.tiles = 16;
    ck_assert_int_eq(fer_augment_apply(got, work, img, 30, 30, &a, &pre, 3), -EINVAL);
}
END_TEST

/* ---- metrics -------------------------------------------------------------------- */

/* Softmax at a temperature, ECE, NLL and the temperature fit on cases worked by hand. */
START_TEST(calibration_hand_computed)
{
    /* softmax([0, ln 4] / 2) = softmax([0, ln 2]) = (1/3, 2/3); T = 1 is plain softmax. */
    const float z[2] = {0.0f, logf(4.0f)};
    float p[2], q[2];
    fer_softmax_t(p, z, 2.0f, 2, 1);
    ck_assert_float_eq_tol(p[0], 1.0f / 3.0f, 1e-6f);
    ck_assert_float_eq_tol(p[1], 2.0f / 3.0f, 1e-6f);
    fer_softmax_t(p, z, 1.0f, 2, 1);
    fer_softmax(q, z, 2, 1);
    ck_assert_mem_eq(p, q, sizeof p);

    /* ECE: confidences 0.95 (right), 0.95 (wrong) in bin (14/15, 1]: |0.5 - 0.95| * 2/4;
     * 0.65, 0.65 (both right) in bin (9/15, 10/15]: |1 - 0.65| * 2/4. ECE = 0.225 + 0.175. */
    fer_reliability r;
    fer_reliability_init(&r);
    ck_assert_double_eq(fer_reliability_ece(&r), 0.0);
    const float a[2] = {0.95f, 0.05f}, b[2] = {0.35f, 0.65f};
    fer_reliability_add(&r, a, 2, 1u << 0);
    fer_reliability_add(&r, a, 2, 1u << 1);
    fer_reliability_add(&r, b, 2, 1u << 1);
    fer_reliability_add(&r, b, 2, 1u << 1);
    ck_assert_int_eq(r.count[14], 2);
    ck_assert_int_eq(r.count[9], 2);
    ck_assert_double_eq_tol(fer_reliability_ece(&r), 0.4, 1e-6);

    /* Temperature fit, two classes: every sample has logits (2, 0), three of four are
     * class 0. The NLL is least where sigmoid(2 / T) = 3/4, at T = 2 / ln 3; there the
     * NLL is the entropy -(3/4 ln 3/4 + 1/4 ln 1/4) and the ECE 0 (confidence 3/4,
     * accuracy 3/4). At T = 1: confidence sigmoid(2), ECE sigmoid(2) - 3/4. */
    const float logits[8] = {2, 0, 2, 0, 2, 0, 2, 0};
    const unsigned labels[4] = {1, 1, 1, 2}; /* bit masks: class 0, 0, 0, 1 */
    double t, nll, ece;
    fer_error err = {0};
    ck_assert_int_eq(fer_fit_temperature(logits, labels, 4, 2, &t, &err), 0);
    ck_assert_double_eq_tol(t, 2.0 / log(3.0), 1e-6);
    fer_calibration_score(logits, labels, 4, 2, t, &nll, &ece);
    ck_assert_double_eq_tol(nll, -(0.75 * log(0.75) + 0.25 * log(0.25)), 1e-9);
    ck_assert_double_eq_tol(ece, 0.0, 1e-6);
    fer_calibration_score(logits, labels, 4, 2, 1.0, &nll, &ece);
    const double s2 = 1.0 / (1.0 + exp(-2.0));
    ck_assert_double_eq_tol(nll, -(0.75 * log(s2) + 0.25 * log(1.0 - s2)), 1e-6);
    ck_assert_double_eq_tol(ece, s2 - 0.75, 1e-6);
    /* Overconfident logits are softened (T > 1), underconfident sharpened (T < 1). */
    const float sharp[8] = {8, 0, 8, 0, 8, 0, 8, 0}, flat[8] = {0.1f, 0, 0.1f, 0, 0.1f, 0, 0.1f, 0};
    ck_assert_int_eq(fer_fit_temperature(sharp, labels, 4, 2, &t, &err), 0);
    ck_assert_double_eq_tol(t, 8.0 / log(3.0), 1e-5);
    ck_assert_int_eq(fer_fit_temperature(flat, labels, 4, 2, &t, &err), 0);
    ck_assert_double_eq_tol(t, 0.1 / log(3.0), 1e-5);
    /* A tie (both classes correct) costs the mean of the two -log p: with logits (2, 0)
     * and T = 1, (lse - 2 + lse - 0) / 2 where lse = ln(e^2 + 1). */
    const unsigned tie[1] = {3};
    fer_calibration_score(logits, tie, 1, 2, 1.0, &nll, &ece);
    ck_assert_double_eq_tol(nll, log(exp(2.0) + 1.0) - 1.0, 1e-6);
    ck_assert_double_eq_tol(ece, 1.0 - s2, 1e-6); /* top class counted right */
    /* Bad input is refused with the reason. */
    const unsigned bad[4] = {1, 1, 4, 2};
    ck_assert_int_eq(fer_fit_temperature(logits, bad, 4, 2, &t, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "sample 2"));
    ck_assert_int_eq(fer_fit_temperature(logits, labels, 0, 2, &t, &err), -EINVAL);
}
END_TEST

START_TEST(metrics_hand_computed)
{
    /* 3 classes. true\pred:  a: 3 1 0 | b: 1 2 1 | c: 0 0 0 (absent)
     * precision a = 3/4, b = 2/3, c = 0/1 = 0; recall a = 3/4, b = 2/4; c absent
     * F1 a = 0.75, b = 2*(2/3)(1/2)/(2/3+1/2) = 4/7; macro over present = (0.75 + 4/7)/2 */
    fer_confusion c;
    fer_confusion_init(&c, 3);
    const int pairs[][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 1}, {1, 0}, {1, 1}, {1, 1}, {1, 2}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        fer_confusion_add(&c, pairs[i][0], pairs[i][1]);
    fer_metrics m;
    fer_metrics_compute(&m, &c);
    ck_assert_int_eq(m.total, 8);
    ck_assert_double_eq_tol(m.accuracy, 5.0 / 8.0, 1e-12);
    ck_assert_double_eq_tol(m.precision[0], 0.75, 1e-12);
    ck_assert_double_eq_tol(m.precision[1], 2.0 / 3.0, 1e-12);
    ck_assert_double_eq_tol(m.precision[2], 0.0, 1e-12);
    ck_assert_double_eq_tol(m.recall[1], 0.5, 1e-12);
    ck_assert_double_eq_tol(m.f1[1], 4.0 / 7.0, 1e-12);
    ck_assert_int_eq(m.present[2], 0);
    ck_assert_double_eq_tol(m.macro_f1, (0.75 + 4.0 / 7.0) / 2.0, 1e-12);
}
END_TEST

/* ---- plots ---------------------------------------------------------------------- */

static int ink_pixels(const fer_image *img)
{
    int n = 0;
    for (int i = 0; i < img->w * img->h * img->channels; i++)
        n += img->data[i] < 128;
    return n;
}

START_TEST(plots_are_real_pngs)
{
    make_tmp();
    fer_history_row rows[5];
    for (int i = 0; i < 5; i++)
        rows[i] = (fer_history_row){i + 1, 0.01f, 1.5f - 0.2f * i, 0.4f + 0.05f * i,
                                    1.4f - 0.1f * i, 0.42f + 0.04f * i, 10.0f};
    char path[512];
    fer_error err = {0};
    snprintf(path, sizeof path, "%s/curves.png", tmpdir);
    ck_assert_msg(fer_plot_curves(path, rows, 5, "test curves", "train: cross-entropy", &err) == 0,
                  "%s", err.msg);
    fer_image img = {0};
    ck_assert_int_eq(fer_image_read(&img, path, 0, &err), 0);
    ck_assert_int_eq(img.w, 1280);
    ck_assert_int_eq(img.h, 560);
    ck_assert_int_gt(ink_pixels(&img), 2000); /* axes, text and lines were drawn */
    fer_image_free(&img);

    fer_confusion c;
    fer_confusion_init(&c, 7);
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 7; j++)
            c.m[i][j] = i == j ? 50 : j;
    char names[FER_MAX_CLASSES][FER_MAX_CLASS_NAME];
    for (int i = 0; i < 7; i++)
        snprintf(names[i], sizeof names[i], "%s", fer_class_names[i]);
    snprintf(path, sizeof path, "%s/confusion.png", tmpdir);
    ck_assert_msg(fer_plot_confusion(path, &c, (const char(*)[FER_MAX_CLASS_NAME])names, "test matrix", &err) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(fer_image_read(&img, path, 0, &err), 0);
    ck_assert_int_eq(img.w, 150 + 7 * 78 + 40);
    ck_assert_int_eq(img.h, 90 + 7 * 78 + 110);
    fer_image_free(&img);
    rm_tmp();
}
END_TEST

/* ---- whole runs ------------------------------------------------------------------ */

START_TEST(training_learns_synthetic)
{
    make_tmp();
    fer_dataset *ds = synthetic(480, 96, 3);
    fer_train_cfg cfg;
    quick_cfg(&cfg, 6);
    fer_error err = {0};
    int rc = fer_train_run(parse_tiny(), &cfg, ds, tmpdir, NULL, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);

    /* history.csv: header + 6 rows; loss falls and accuracy rises from first to last. */
    char path[512];
    snprintf(path, sizeof path, "%s/history.csv", tmpdir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds\n");
    float first[7] = {0}, last[7] = {0};
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        float v[7];
        ck_assert_int_eq(sscanf(line, "%f,%f,%f,%f,%f,%f,%f", &v[0], &v[1], &v[2], &v[3], &v[4],
                                &v[5], &v[6]), 7);
        if (rows++ == 0)
            memcpy(first, v, sizeof v);
        memcpy(last, v, sizeof v);
    }
    fclose(f);
    ck_assert_int_eq(rows, 6);
    ck_assert_msg(last[2] < first[2] * 0.7f, "train loss %g -> %g", first[2], last[2]);
    ck_assert_msg(last[5] > 0.9f, "val acc only %g", last[5]);

    /* The best model loads for inference and scores like the history says. */
    snprintf(path, sizeof path, "%s/best.fermodel", tmpdir);
    fer_model *m = NULL;
    ck_assert_msg(fer_model_load(&m, path, 16, FER_LOAD_INFER, &err) == 0, "%s", err.msg);
    ck_assert(m->meta.val_acc > 0.9f);
    ck_assert_int_eq(strcmp(m->net->arch->classes[1], "happy"), 0);
    /* Calibrating it on the validation split: the NLL does not rise, accuracy does not
     * move, and fer_evaluate reports the fit's before and after figures. */
    fer_eval_result before, after;
    ck_assert_msg(fer_evaluate(m, ds, FER_SPLIT_VAL, FER_TTA_NONE, &before, &err) == 0, "%s",
                  err.msg);
    ck_assert_msg(fer_calibrate_model(m, ds, FER_SPLIT_VAL, "val", &err) == 0, "%s", err.msg);
    ck_assert_str_eq(m->calib.split, "val");
    ck_assert(m->calib.temperature >= 0.05f && m->calib.temperature <= 20.0f);
    ck_assert_float_le(m->calib.nll_after, m->calib.nll_before);
    ck_assert_double_eq_tol(before.loss, m->calib.nll_before, 1e-4);
    ck_assert_double_eq_tol(before.ece, m->calib.ece_before, 1e-4);
    ck_assert_msg(fer_evaluate(m, ds, FER_SPLIT_VAL, FER_TTA_NONE, &after, &err) == 0, "%s",
                  err.msg);
    ck_assert_double_eq_tol(after.loss, m->calib.nll_after, 1e-4);
    ck_assert_double_eq_tol(after.ece, m->calib.ece_after, 1e-4);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            ck_assert_int_eq(before.conf.m[i][j], after.conf.m[i][j]);
    fer_model_free(m);
    fer_image img = {0};
    snprintf(path, sizeof path, "%s/curves.png", tmpdir);
    ck_assert_int_eq(fer_image_read(&img, path, 0, &err), 0);
    fer_image_free(&img);

    /* --init: one epoch at a tiny rate from the trained model scores like it did
     * (a random start after one such epoch is near chance, 1/3). */
    char sub[400];
    snprintf(sub, sizeof sub, "%s/ft", tmpdir);
    fer_train_cfg ft;
    quick_cfg(&ft, 1);
    ft.sched.kind = FER_SCHED_CONST;
    ft.sched.lr = 1e-5f;
    snprintf(ft.init, sizeof ft.init, "%s/best.fermodel", tmpdir);
    ck_assert_msg(fer_train_run(parse_tiny(), &ft, ds, sub, NULL, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/best.fermodel", sub);
    ck_assert_msg(fer_model_load(&m, path, 16, FER_LOAD_INFER, &err) == 0, "%s", err.msg);
    ck_assert_msg(m->meta.val_acc > 0.9f, "fine-tuned from a trained model: val acc %g",
                  m->meta.val_acc);
    fer_model_free(m);
    /* Another architecture's model is refused, naming the file. */
    static const char other[] = "[net]\ninput = 1x12x12\nclasses = angry, happy, sad\n"
                                "[conv]\nfilters = 3\nsize = 3\n[gap]\n[fc]\noutputs = 3\n";
    fer_arch *oa = NULL;
    ck_assert_int_eq(fer_arch_parse(&oa, other, strlen(other), "other", &err), 0);
    ck_assert_int_eq(fer_train_run(oa, &ft, ds, sub, NULL, &err), FER_E_ARCH);
    ck_assert_msg(strstr(err.msg, "best.fermodel") && strstr(err.msg, "architecture"), "%s",
                  err.msg);

    /* A model for other classes: the layers below the classifier are taken whole and
     * each class both have keeps its row (matched by name, in any order); a rate of
     * 1e-9 keeps one epoch from moving anything measurably. */
    static const char more[] =
        "[net]\nname = tiny\ninput = 1x12x12\nclasses = sad, happy, angry, contempt\n"
        "[conv]\nfilters = 8\nsize = 3\npad = 1\nbias = 0\n[bn]\n[relu]\n[maxpool]\n"
        "[conv]\nfilters = 16\nsize = 3\npad = 1\n[relu]\n[gap]\n[dropout]\np = 0.1\n"
        "[fc]\noutputs = 4\n";
    fer_arch *ma = NULL;
    ck_assert_int_eq(fer_arch_parse(&ma, more, strlen(more), "more", &err), 0);
    ft.sched.lr = 1e-9f;
    snprintf(sub, sizeof sub, "%s/ft4", tmpdir);
    ck_assert_msg(fer_train_run(ma, &ft, ds, sub, NULL, &err) == 0, "%s", err.msg);
    fer_model *from = NULL, *to = NULL;
    snprintf(path, sizeof path, "%s/best.fermodel", tmpdir);
    ck_assert_msg(fer_model_load(&from, path, 1, 0, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/last.fermodel", sub);
    ck_assert_msg(fer_model_load(&to, path, 1, 0, &err) == 0, "%s", err.msg);
    const fer_layer *f0 = &from->net->layers[4], *t0 = &to->net->layers[4];
    for (size_t i = 0; i < 16 * 8 * 9; i++)
        ck_assert_float_eq_tol(t0->w[i], f0->w[i], 1e-5f);
    const fer_layer *fh = &from->net->layers[8], *th = &to->net->layers[8];
    static const int old_row[3] = {2, 1, 0}; // sad, happy, angry in the tiny model
    for (int j = 0; j < 3; j++) {
        for (int i = 0; i < 16; i++)
            ck_assert_float_eq_tol(th->w[j * 16 + i], fh->w[old_row[j] * 16 + i], 1e-5f);
        ck_assert_float_eq_tol(th->b[j], fh->b[old_row[j]], 1e-5f);
    }
    int differs = 0; // contempt: no row of the old model
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 16; i++)
            differs += fabsf(th->w[3 * 16 + i] - fh->w[j * 16 + i]) > 1e-3f;
    ck_assert_int_gt(differs, 40);
    fer_model_free(from);
    fer_model_free(to);
    fer_dataset_free(ds);
    rm_tmp();
}
END_TEST

/* --contrast end to end in the trainer: the setting reaches the model header, the
 * normalisation is measured on contrast-normalised images, a stopped run resumes to
 * exactly the same weights with the same setting, --init inherits it, and a grid the
 * image size cannot take fails before training with the reason. */
START_TEST(contrast_recorded_resumed_inherited)
{
    fer_dataset *ds = synthetic(160, 32, 9);
    fer_train_cfg cfg;
    quick_cfg(&cfg, 2);
    fer_contrast_init(&cfg.contrast, FER_CONTRAST_CLAHE);
    cfg.contrast.clip = 3.0f;
    cfg.contrast.tiles = 3; /* 4x4-pixel tiles on the 12x12 images */
    fer_error err = {0};

    make_tmp();
    char straight[256];
    snprintf(straight, sizeof straight, "%s", tmpdir);
    ck_assert_msg(fer_train_run(parse_tiny(), &cfg, ds, straight, NULL, &err) == 0, "%s", err.msg);
    char resumed[300];
    snprintf(resumed, sizeof resumed, "%s/resumed", straight);
    stop_after = 7;
    stop_flag = 0;
    fer_train_hooks hooks = {count_batches, NULL, &stop_flag};
    ck_assert_int_eq(fer_train_run(parse_tiny(), &cfg, ds, resumed, &hooks, &err), 1);
    fer_train_cfg other;
    quick_cfg(&other, 2); /* a resumed run takes its settings from the checkpoint */
    stop_after = -1;
    stop_flag = 0;
    ck_assert_msg(fer_train_run(NULL, &other, ds, resumed, &hooks, &err) == 0, "%s", err.msg);

    float *a, *b;
    size_t na, nb;
    read_params(straight, "last.fermodel", &a, &na);
    read_params(resumed, "last.fermodel", &b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(a, b, na * sizeof *a), 0);
    free(a);
    free(b);

    /* The header records the setting; mean and std are those of the CLAHE'd images. */
    double s = 0, s2 = 0;
    int nt = 0;
    for (int i = 0; i < ds->n; i++) {
        if (ds->split[i] != FER_SPLIT_TRAIN)
            continue;
        uint8_t face[144];
        memcpy(face, ds->pixels + (size_t)i * 144, 144);
        ck_assert_int_eq(fer_clahe(face, 12, 12, 3.0f, 3), 0);
        for (int k = 0; k < 144; k++) {
            s += face[k] / 255.0;
            s2 += (face[k] / 255.0) * (face[k] / 255.0);
        }
        nt++;
    }
    double mean = s / (nt * 144.0), sd = sqrt(s2 / (nt * 144.0) - mean * mean);
    const char *dirs[] = {straight, resumed};
    for (int d = 0; d < 2; d++) {
        char path[512];
        snprintf(path, sizeof path, "%s/best.fermodel", dirs[d]);
        fer_model *m = NULL;
        ck_assert_msg(fer_model_load(&m, path, 4, FER_LOAD_INFER, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(m->pre.contrast.mode, FER_CONTRAST_CLAHE);
        ck_assert_float_eq(m->pre.contrast.clip, 3.0f);
        ck_assert_int_eq(m->pre.contrast.tiles, 3);
        ck_assert_float_eq_tol(m->pre.mean, mean, 1e-5);
        ck_assert_float_eq_tol(m->pre.std, sd, 1e-5);
        fer_model_free(m);
    }

    /* --init without a contrast setting takes the model's; with one, the one asked for. */
    char sub[400], path[512];
    fer_train_cfg ft;
    quick_cfg(&ft, 1);
    snprintf(ft.init, sizeof ft.init, "%s/best.fermodel", straight);
    snprintf(sub, sizeof sub, "%s/ft", straight);
    ck_assert_msg(fer_train_run(parse_tiny(), &ft, ds, sub, NULL, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/best.fermodel", sub);
    fer_model *m = NULL;
    ck_assert_msg(fer_model_load(&m, path, 4, FER_LOAD_INFER, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m->pre.contrast.mode, FER_CONTRAST_CLAHE);
    ck_assert_int_eq(m->pre.contrast.tiles, 3);
    fer_model_free(m);
    fer_contrast_init(&ft.contrast, FER_CONTRAST_HISTEQ);
    snprintf(sub, sizeof sub, "%s/ft2", straight);
    ck_assert_msg(fer_train_run(parse_tiny(), &ft, ds, sub, NULL, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/best.fermodel", sub);
    ck_assert_msg(fer_model_load(&m, path, 4, FER_LOAD_INFER, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m->pre.contrast.mode, FER_CONTRAST_HISTEQ);
    fer_model_free(m);

    /* 8x8 tiles on 12x12 images: refused before any training, saying why. */
    quick_cfg(&ft, 1);
    fer_contrast_init(&ft.contrast, FER_CONTRAST_CLAHE);
    snprintf(sub, sizeof sub, "%s/bad", straight);
    ck_assert_int_eq(fer_train_run(parse_tiny(), &ft, ds, sub, NULL, &err), -EINVAL);
    ck_assert_msg(strstr(err.msg, "clahe") && strstr(err.msg, "12x12"), "%s", err.msg);
    snprintf(path, sizeof path, "%s/checkpoint.ferckpt", sub);
    ck_assert_int_ne(access(path, F_OK), 0);
    fer_dataset_free(ds);
    rm_tmp();
}
END_TEST

START_TEST(corrupt_checkpoint_is_refused)
{
    make_tmp();
    fer_dataset *ds = synthetic(64, 16, 4);
    fer_train_cfg cfg;
    quick_cfg(&cfg, 1);
    fer_error err = {0};
    ck_assert_msg(fer_train_run(parse_tiny(), &cfg, ds, tmpdir, NULL, &err) == 0, "%s", err.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/checkpoint.ferckpt", tmpdir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 200, SEEK_SET);
    fputc(0x5a ^ fgetc(f), f);
    fclose(f);
    cfg.epochs = 2;
    int rc = fer_train_run(NULL, &cfg, ds, tmpdir, NULL, &err);
    ck_assert_int_eq(rc, FER_E_CHECKSUM);
    ck_assert_ptr_nonnull(strstr(err.msg, "checkpoint.ferckpt"));
    fer_dataset_free(ds);
    rm_tmp();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *t = tcase_create("units");
    tcase_add_test(t, sgd_nesterov_matches_hand);
    tcase_add_test(t, adam_first_step_is_lr_sign);
    tcase_add_test(t, schedules);
    tcase_add_test(t, augment_deterministic_and_flip_exact);
    tcase_add_test(t, augment_applies_contrast_after_the_warp);
    tcase_add_test(t, metrics_hand_computed);
    tcase_add_test(t, calibration_hand_computed);
    tcase_add_test(t, plots_are_real_pngs);
    suite_add_tcase(s, t);
    TCase *r = tcase_create("runs");
    tcase_set_timeout(r, 240);
    tcase_add_test(r, training_learns_synthetic);
    tcase_add_test(r, contrast_recorded_resumed_inherited);
    tcase_add_test(r, corrupt_checkpoint_is_refused);
    suite_add_tcase(s, r);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
