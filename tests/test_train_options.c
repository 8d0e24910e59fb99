/*
 * test_train_options.c — the training options beyond the plain recipe, each in
 * whole runs on the synthetic data of train_util.c: FER+ votes (both targets, the
 * tie rule of evaluation), knowledge distillation, and for every option that adds
 * state to a run, a stop-and-resume that must end at exactly the weights of the
 * uninterrupted run.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "net/model.h"
#include "train/checkpoint.h"
#include "train/ema.h"
#include "train/evaluate.h"
#include "train/mix.h"
#include "train/metrics.h"
#include "train/trainer.h"
#include "train_util.h"
#include "vision/contrast.h"
#include "vision/preprocess.h"

/* ---- FER+ votes -------------------------------------------------------------------- */

/* The votes of image i of ds mapped to a model's outputs, as a top-vote bit mask. */
static unsigned top_outputs(const fer_dataset *ds, int i, const fer_arch *a)
{
    const uint8_t *v = ds->votes + (size_t)i * FER_NUM_LABELS;
    int best = 0;
    for (int l = 0; l < FER_NUM_LABELS; l++)
        best = v[l] > best ? v[l] : best;
    unsigned mask = 0;
    for (int k = 0; k < a->nclasses; k++)
        if (v[fer_class_parse(a->classes[k])] == best)
            mask |= 1u << k;
    return mask;
}

/*
 * FER+ votes: an 8-class net learns the synthetic patterns from either target; the
 * model records the label source; evaluation counts ties by the stated rule (checked
 * against predictions made here, image by image); bad combinations are refused.
 */
START_TEST(training_on_votes)
{
    make_tmp();
    fer_dataset *ds = synthetic(480, 96, 3);
    add_votes(ds, 4);
    fer_error err = {0};
    char dir[400], path[512];
    for (int t = 0; t < 2; t++) {
        fer_train_cfg cfg;
        quick_cfg(&cfg, 5);
        snprintf(cfg.labels, sizeof cfg.labels, "ferplus:/some/where/fer2013new.csv.gz");
        cfg.target = t ? FER_TARGET_DIST : FER_TARGET_MAJORITY;
        snprintf(dir, sizeof dir, "%s/%d", tmpdir, t);
        ck_assert_msg(fer_train_run(parse_text(tiny8_arch), &cfg, ds, dir, NULL, &err) == 0,
                      "%s", err.msg);
        snprintf(path, sizeof path, "%s/best.fermodel", dir);
        fer_model *m = NULL;
        ck_assert_msg(fer_model_load(&m, path, 16, FER_LOAD_INFER, &err) == 0, "%s", err.msg);
        ck_assert_msg(m->meta.val_acc > 0.9f, "target %d: val acc %g", t, m->meta.val_acc);
        ck_assert_str_eq(m->meta.extra, t ? "{\"labels\":\"ferplus:fer2013new.csv.gz\",\"target\":\"dist\"}"
                                          : "{\"labels\":\"ferplus:fer2013new.csv.gz\",\"target\":\"majority\"}");

        /* Evaluation: a prediction among the tied classes is correct. Predict each
         * validation image here and count what fer_evaluate must report. */
        fer_eval_result res;
        ck_assert_int_eq(fer_evaluate(m, ds, FER_SPLIT_VAL, FER_TTA_NONE, &res, &err), 0);
        long long ties = 0, ties_ok = 0, ok = 0, n = 0;
        float x[144];
        uint8_t face[144];
        for (int i = 0; i < ds->n; i++) {
            if (ds->split[i] != FER_SPLIT_VAL)
                continue;
            memcpy(face, ds->pixels + (size_t)i * 144, 144);
            ck_assert_int_eq(fer_input_from_face(x, face, 12, 12, &m->pre, NULL), 0);
            const float *z = fer_net_forward(m->net, x, 1, 0);
            int pred = 0;
            for (int k = 1; k < 8; k++)
                pred = z[k] > z[pred] ? k : pred;
            unsigned top = top_outputs(ds, i, m->net->arch);
            int hit = top >> pred & 1, tie = (top & (top - 1)) != 0;
            ties += tie;
            ties_ok += tie && hit;
            ok += hit;
            n++;
        }
        fer_metrics met;
        fer_metrics_compute(&met, &res.conf);
        ck_assert_int_eq(res.ties, ties);
        ck_assert_int_eq(res.ties, 24); /* every 4th of 96 */
        ck_assert_int_eq(res.ties_correct, ties_ok);
        ck_assert_int_eq(met.total, n);
        ck_assert_int_eq(met.correct, ok);
        fer_model_free(m);
    }

    /* Votes need a model with every FER+ class, and a run that names its labels. */
    fer_train_cfg cfg;
    quick_cfg(&cfg, 1);
    snprintf(dir, sizeof dir, "%s/refused", tmpdir);
    ck_assert_int_eq(fer_train_run(parse_tiny(), &cfg, ds, dir, NULL, &err), FER_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "no --labels"));
    snprintf(cfg.labels, sizeof cfg.labels, "ferplus:x.csv");
    ck_assert_int_eq(fer_train_run(parse_tiny(), &cfg, ds, dir, NULL, &err), FER_E_CLASSES);
    ck_assert_msg(strstr(err.msg, "'disgust'"), "%s", err.msg);

    /* Resuming with labels of another content is refused, naming both CRCs. */
    cfg.labels_crc = 0xabc;
    ck_assert_int_eq(fer_train_run(parse_text(tiny8_arch), &cfg, ds, dir, NULL, &err), 0);
    cfg.labels_crc = 0xabd;
    cfg.epochs = 2;
    ck_assert_int_eq(fer_train_run(NULL, &cfg, ds, dir, NULL, &err), FER_E_INVAL);
    ck_assert_msg(strstr(err.msg, "00000abc") && strstr(err.msg, "00000abd"), "%s", err.msg);
    cfg.labels_crc = 0xabc;
    ck_assert_msg(fer_train_run(NULL, &cfg, ds, dir, NULL, &err) == 0, "%s", err.msg);
    fer_dataset_free(ds);

    /* And hard labels with a run that names --labels are refused too. */
    ds = synthetic(64, 16, 4);
    snprintf(dir, sizeof dir, "%s/refused2", tmpdir);
    ck_assert_int_eq(fer_train_run(parse_text(tiny8_arch), &cfg, ds, dir, NULL, &err), FER_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "carries no votes"));
    fer_dataset_free(ds);
    rm_tmp();
}
END_TEST

/* ---- distillation ------------------------------------------------------------------ */

/* The classes of tiny_arch in another order, a different network, and its own input
 * step (histogram equalisation): a teacher need share only the class names. */
static const char *teacher_arch =
    "[net]\nname = teacher\ninput = 1x12x12\nclasses = sad, angry, happy\n"
    "[conv]\nfilters = 12\nsize = 3\npad = 1\n[relu]\n[maxpool]\n"
    "[conv]\nfilters = 12\nsize = 3\npad = 1\n[relu]\n[gap]\n[fc]\noutputs = 3\n";

/* Trains a teacher on ds into dir and returns dir/best.fermodel in path. */
static void make_teacher(char *path, size_t n, const char *dir, const char *arch, int contrast,
                         const fer_dataset *ds)
{
    fer_train_cfg cfg;
    quick_cfg(&cfg, 4);
    fer_contrast_init(&cfg.contrast, contrast);
    fer_error err = {0};
    ck_assert_msg(fer_train_run(parse_text(arch), &cfg, ds, dir, NULL, &err) == 0, "%s", err.msg);
    snprintf(path, n, "%s/best.fermodel", dir);
    fer_model *m = NULL;
    ck_assert_msg(fer_model_load(&m, path, 1, 0, &err) == 0, "%s", err.msg);
    ck_assert_msg(m->meta.val_acc > 0.9f, "teacher val acc %g", m->meta.val_acc);
    fer_model_free(m);
}

/*
 * Pure distillation (W = 1: no label reaches the loss) from a teacher with other
 * class order, architecture and input step: the student can only learn the task
 * through the teacher's mapped, softened outputs, and does. The model records the
 * teachers. A teacher with other classes or another input size is refused, naming
 * it; a teacher that changes before --resume is refused.
 */
START_TEST(distillation_teaches)
{
    make_tmp();
    fer_dataset *ds = synthetic(480, 96, 3);
    char tdir[400], tpath[512], dir[400], path[512];
    snprintf(tdir, sizeof tdir, "%s/teacher", tmpdir);
    make_teacher(tpath, sizeof tpath, tdir, teacher_arch, FER_CONTRAST_HISTEQ, ds);

    fer_train_cfg cfg;
    quick_cfg(&cfg, 4);
    cfg.nteachers = 1;
    snprintf(cfg.teachers[0], sizeof cfg.teachers[0], "%s", tpath);
    cfg.kd_weight = 1.0f;
    cfg.kd_temp = 2.0f;
    fer_error err = {0};
    snprintf(dir, sizeof dir, "%s/student", tmpdir);
    ck_assert_msg(fer_train_run(parse_tiny(), &cfg, ds, dir, NULL, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/best.fermodel", dir);
    fer_model *m = NULL;
    ck_assert_msg(fer_model_load(&m, path, 16, FER_LOAD_INFER, &err) == 0, "%s", err.msg);
    ck_assert_msg(m->meta.val_acc > 0.9f, "distilled student: val acc %g", m->meta.val_acc);
    ck_assert_msg(strstr(m->meta.extra, "\"teachers\":[{\"file\":\"best.fermodel\",\"crc32\":\"") &&
                  strstr(m->meta.extra, "\"kd_temp\":2,\"kd_weight\":1,\"kd_flip\":false"),
                  "%s", m->meta.extra);
    fer_model_free(m);

    /* A teacher whose classes differ, and one whose input differs. */
    static const char *other_classes =
        "[net]\nname = o\ninput = 1x12x12\nclasses = sad, angry, neutral\n"
        "[gap]\n[fc]\noutputs = 3\n";
    static const char *other_input =
        "[net]\nname = o\ninput = 1x16x16\nclasses = sad, angry, happy\n"
        "[gap]\n[fc]\noutputs = 3\n";
    const char *bad[2] = {other_classes, other_input};
    const int code[2] = {FER_E_CLASSES, FER_E_ARCH};
    const char *why[2] = {"no class 'happy'", "input is 1x16x16"};
    for (int k = 0; k < 2; k++) {
        fer_model bm = {0};
        fer_preproc_default(&bm.pre);
        fer_meta_init(&bm.meta);
        ck_assert_int_eq(fer_net_create(&bm.net, parse_text(bad[k]), 1, 0, 1, &err), 0);
        snprintf(path, sizeof path, "%s/bad%d.fermodel", tmpdir, k);
        ck_assert_msg(fer_model_save(&bm, path, &err) == 0, "%s", err.msg);
        fer_net_free(bm.net);
        fer_train_cfg bc = cfg;
        snprintf(bc.teachers[0], sizeof bc.teachers[0], "%s", tpath);
        snprintf(bc.teachers[1], sizeof bc.teachers[1], "%s", path);
        bc.nteachers = 2;
        snprintf(dir, sizeof dir, "%s/refused%d", tmpdir, k);
        ck_assert_int_eq(fer_train_run(parse_tiny(), &bc, ds, dir, NULL, &err), code[k]);
        ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, why[k]), "%s", err.msg);
    }

    /* Stopped, then the teacher file changes: the resume is refused, naming it. */
    cfg.epochs = 2;
    snprintf(dir, sizeof dir, "%s/changed", tmpdir);
    stop_after = 5;
    stop_flag = 0;
    fer_train_hooks hooks = {count_batches, NULL, &stop_flag};
    ck_assert_int_eq(fer_train_run(parse_tiny(), &cfg, ds, dir, &hooks, &err), 1);
    ck_assert_int_eq(fer_model_load(&m, tpath, 1, 0, &err), 0);
    m->meta.epochs++; /* same weights, another file */
    ck_assert_int_eq(fer_model_save(m, tpath, &err), 0);
    fer_model_free(m);
    stop_after = -1;
    stop_flag = 0;
    ck_assert_int_eq(fer_train_run(NULL, &cfg, ds, dir, &hooks, &err), FER_E_INVAL);
    ck_assert_msg(strstr(err.msg, tpath) && strstr(err.msg, "changed"), "%s", err.msg);
    fer_dataset_free(ds);
    rm_tmp();
}
END_TEST

/* ---- weight averaging ---------------------------------------------------------------- */

START_TEST(ema_decay_formula)
{
    ck_assert_float_eq_tol(fer_ema_decay(0.999f, 0), 0.1f, 1e-7f);
    ck_assert_float_eq_tol(fer_ema_decay(0.999f, 90), 0.91f, 1e-6f);
    ck_assert_float_eq_tol(fer_ema_decay(0.999f, 100000), 0.999f, 1e-7f);
    ck_assert_float_eq(fer_ema_decay(0.0f, 5), 0.0f);
    float e[3] = {1, 2, 3};
    const float p[3] = {3, 2, 1};
    fer_ema_update(e, p, 3, 0.5f, 1000); /* d = 0.5 */
    ck_assert_float_eq(e[0], 2.0f);
    ck_assert_float_eq(e[1], 2.0f);
    ck_assert_float_eq(e[2], 2.0f);
}
END_TEST

static void run_to(const char *dir, const fer_train_cfg *cfg, const fer_dataset *ds)
{
    fer_error err = {0};
    ck_assert_msg(fer_train_run(parse_tiny(), cfg, ds, dir, NULL, &err) == 0, "%s", err.msg);
}

/*
 * --ema 0 is the raw weights: the saved models equal a run without it, bit for bit.
 * --ema 0.9: the saved models are the average (the checkpoint's EMA block), not the
 * raw weights (its embedded model), the history's validation accuracy is the saved
 * model's, and the run still learns.
 */
START_TEST(ema_weights_are_validated_and_saved)
{
    make_tmp();
    fer_dataset *ds = synthetic(320, 64, 5);
    fer_train_cfg cfg;
    quick_cfg(&cfg, 3);
    char a[400], b[400], c[400];
    snprintf(a, sizeof a, "%s/raw", tmpdir);
    snprintf(b, sizeof b, "%s/ema0", tmpdir);
    snprintf(c, sizeof c, "%s/ema9", tmpdir);
    run_to(a, &cfg, ds);
    cfg.ema = 1;
    cfg.ema_decay = 0.0f;
    run_to(b, &cfg, ds);
    cfg.ema_decay = 0.9f;
    run_to(c, &cfg, ds);

    float *pa, *pb, *pc;
    size_t na, nb, nc;
    read_params(a, "last.fermodel", &pa, &na);
    read_params(b, "last.fermodel", &pb, &nb);
    read_params(c, "last.fermodel", &pc, &nc);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(pa, pb, na * sizeof *pa), 0);

    char path[512];
    snprintf(path, sizeof path, "%s/checkpoint.ferckpt", c);
    static fer_train_cfg kc;
    static fer_train_state ks;
    fer_model *raw = NULL;
    fer_optim *o = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_ckpt_load(path, &kc, &ks, &raw, &o, &err) == 0, "%s", err.msg);
    ck_assert(kc.ema && kc.ema_decay == 0.9f);
    ck_assert_uint_eq(ks.ema_len, nc);
    ck_assert_int_eq(memcmp(ks.ema, pc, nc * sizeof *pc), 0);
    size_t differ = 0;
    for (size_t i = 0; i < nc; i++)
        differ += raw->net->params[i] != pc[i];
    ck_assert_msg(differ > nc / 2, "only %zu of %zu saved weights differ from the raw ones",
                  differ, nc);

    snprintf(path, sizeof path, "%s/last.fermodel", c);
    fer_model *m = NULL;
    ck_assert_int_eq(fer_model_load(&m, path, 16, FER_LOAD_INFER, &err), 0);
    fer_eval_result res;
    ck_assert_int_eq(fer_evaluate(m, ds, FER_SPLIT_VAL, FER_TTA_NONE, &res, &err), 0);
    fer_metrics met;
    fer_metrics_compute(&met, &res.conf);
    ck_assert_float_eq_tol(met.accuracy, ks.history[ks.nhistory - 1].val_acc, 1e-6);
    ck_assert_msg(met.accuracy > 0.9, "EMA model: val acc %g", met.accuracy);
    ck_assert_ptr_nonnull(strstr(m->meta.extra, "\"ema\":0.9"));
    fer_model_free(m);
    fer_model_free(raw);
    fer_optim_free(o);
    free(ks.ema);
    free(pa), free(pb), free(pc);
    fer_dataset_free(ds);
    rm_tmp();
}
END_TEST

/* ---- mixup and CutMix ------------------------------------------------------------------ */

/* Beta(a, a) has mean 1/2 and variance 1 / (4 (2a + 1)); checked for a below, at and above 1
 * (the two roads of the gamma sampler), on 40,000 draws: the mean's standard error is
 * below 0.0025 and the variance's below 2%. */
START_TEST(beta_sampler_moments)
{
    const float alphas[3] = {0.2f, 1.0f, 2.5f};
    uint64_t rng = 99;
    for (int k = 0; k < 3; k++) {
        double s = 0, s2 = 0;
        const int n = 40000;
        for (int i = 0; i < n; i++) {
            double x = fer_rng_beta(&rng, alphas[k]);
            ck_assert(x >= 0.0 && x <= 1.0);
            s += x;
            s2 += x * x;
        }
        double mean = s / n, var = s2 / n - mean * mean, want = 1.0 / (4.0 * (2.0 * alphas[k] + 1.0));
        ck_assert_msg(fabs(mean - 0.5) < 0.01, "alpha %g: mean %g", alphas[k], mean);
        ck_assert_msg(fabs(var / want - 1.0) < 0.06, "alpha %g: variance %g, want %g", alphas[k],
                      var, want);
    }
}
END_TEST

START_TEST(mix_rows_exact)
{
    /* Three 2x3 images: 0 pairs with 2, 1 (the middle) with itself. */
    float x[18], q[9] = {1, 0, 0, 0, 1, 0, 0, 0.5f, 0.5f};
    for (int i = 0; i < 18; i++)
        x[i] = (float)i;
    fer_mix m = {FER_MIX_MIXUP, 0.75f, 0, 0, 0, 0};
    fer_mix_rows(x, 3, 6, 3, 1, &m);
    for (int j = 0; j < 6; j++) {
        ck_assert_float_eq(x[j], 0.75f * j + 0.25f * (12 + j));
        ck_assert_float_eq(x[12 + j], 0.75f * (12 + j) + 0.25f * j);
        ck_assert_float_eq(x[6 + j], 6 + j);
    }
    fer_mix_rows(q, 3, 3, 0, 0, &m);
    ck_assert_float_eq(q[0], 0.75f);
    ck_assert_float_eq(q[1], 0.125f);
    ck_assert_float_eq(q[2], 0.125f);
    ck_assert_float_eq(q[6], 0.25f);

    /* CutMix: the box (x 1..2, y 1) is swapped, nothing else moves. */
    for (int i = 0; i < 18; i++)
        x[i] = (float)i;
    fer_mix c = {FER_MIX_CUTMIX, 1.0f - 2.0f / 6.0f, 1, 1, 2, 1};
    fer_mix_rows(x, 3, 6, 3, 1, &c);
    const float want0[6] = {0, 1, 2, 3, 16, 17}, want2[6] = {12, 13, 14, 15, 4, 5};
    for (int j = 0; j < 6; j++) {
        ck_assert_float_eq(x[j], want0[j]);
        ck_assert_float_eq(x[12 + j], want2[j]);
    }

    /* Draws: none at probability 0; CutMix's lambda is the share kept; both kinds come
     * up when both are on. */
    fer_mix d;
    fer_mix_draw(&d, 0.4f, 1.0f, 0.0f, 48, 48, 5);
    ck_assert_int_eq(d.kind, FER_MIX_NONE);
    int kinds[3] = {0};
    for (uint64_t seed = 1; seed <= 200; seed++) {
        fer_mix_draw(&d, 0.4f, 1.0f, 1.0f, 48, 48, seed * 7919);
        kinds[d.kind]++;
        if (d.kind == FER_MIX_CUTMIX) {
            ck_assert(d.x0 >= 0 && d.y0 >= 0 && d.x0 + d.w <= 48 && d.y0 + d.h <= 48);
            ck_assert_float_eq_tol(d.lambda, 1.0f - (float)(d.w * d.h) / 2304.0f, 1e-6f);
        }
    }
    ck_assert_msg(kinds[1] > 60 && kinds[2] > 60 && kinds[0] == 0, "%d none, %d mixup, %d cutmix",
                  kinds[0], kinds[1], kinds[2]);
}
END_TEST

/* Whole runs: each kind of mixing still learns the synthetic patterns. */
START_TEST(mixing_runs_learn)
{
    make_tmp();
    fer_dataset *ds = synthetic(480, 96, 3);
    const float alpha[2][2] = {{0.4f, 0.0f}, {0.0f, 1.0f}};
    for (int k = 0; k < 2; k++) {
        fer_train_cfg cfg;
        quick_cfg(&cfg, 5);
        cfg.mixup = alpha[k][0];
        cfg.cutmix = alpha[k][1];
        char dir[400], path[512];
        snprintf(dir, sizeof dir, "%s/%d", tmpdir, k);
        fer_error err = {0};
        ck_assert_msg(fer_train_run(parse_tiny(), &cfg, ds, dir, NULL, &err) == 0, "%s", err.msg);
        snprintf(path, sizeof path, "%s/best.fermodel", dir);
        fer_model *m = NULL;
        ck_assert_int_eq(fer_model_load(&m, path, 1, 0, &err), 0);
        ck_assert_msg(m->meta.val_acc > 0.9f, "%s: val acc %g", k ? "cutmix" : "mixup",
                      m->meta.val_acc);
        ck_assert_ptr_nonnull(strstr(m->meta.extra, k ? "\"mixup\":0,\"cutmix\":1,\"mix_prob\":1"
                                                      : "\"mixup\":0.4,\"cutmix\":0,\"mix_prob\":1"));
        fer_model_free(m);
    }
    fer_dataset_free(ds);
    rm_tmp();
}
END_TEST

/*
 * A variant of a run for the resume test: how it sets up the configuration, the
 * data and the architecture. Each feature that adds state to a run adds one, so
 * the test proves its state is in the checkpoint.
 */
typedef struct run_variant {
    const char *name;
    void (*setup)(fer_train_cfg *cfg, fer_dataset *ds);
    const char *arch;
} run_variant;

static void plain_setup(fer_train_cfg *cfg, fer_dataset *ds)
{
    (void)cfg, (void)ds;
}

static void votes_dist_setup(fer_train_cfg *cfg, fer_dataset *ds)
{
    add_votes(ds, 5);
    snprintf(cfg->labels, sizeof cfg->labels, "ferplus:synthetic");
    cfg->labels_crc = 0x1234;
    cfg->target = FER_TARGET_DIST;
}

/* Two teachers (one with its own input step and class order), flip-averaged. */
static void distill_setup(fer_train_cfg *cfg, fer_dataset *ds)
{
    (void)ds;
    fer_dataset *tds = synthetic(160, 32, 9);
    for (int t = 0; t < 2; t++) {
        char dir[400];
        snprintf(dir, sizeof dir, "%s/t%d", tmpdir, t);
        make_teacher(cfg->teachers[t], sizeof cfg->teachers[t], dir,
                     t ? teacher_arch : tiny_arch, t ? FER_CONTRAST_HISTEQ : FER_CONTRAST_NONE,
                     tds);
    }
    fer_dataset_free(tds);
    cfg->nteachers = 2;
    cfg->kd_temp = 3.0f;
    cfg->kd_weight = 0.7f;
    cfg->kd_flip = 1;
}

static void ema_setup(fer_train_cfg *cfg, fer_dataset *ds)
{
    (void)ds;
    cfg->ema = 1;
    cfg->ema_decay = 0.95f;
}

/* Everything at once: FER+ votes, mixup and CutMix, a teacher with its own input
 * step, and the weight average. */
static void all_setup(fer_train_cfg *cfg, fer_dataset *ds)
{
    fer_dataset *tds = synthetic(160, 32, 9);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/t", tmpdir);
    make_teacher(cfg->teachers[0], sizeof cfg->teachers[0], dir, tiny8_arch, FER_CONTRAST_HISTEQ,
                 tds);
    fer_dataset_free(tds);
    cfg->nteachers = 1;
    votes_dist_setup(cfg, ds);
    cfg->mixup = 0.3f;
    cfg->cutmix = 1.0f;
    cfg->mix_prob = 0.8f;
    cfg->ema = 1;
    cfg->ema_decay = 0.9f;
}

static const run_variant variants[] = {
    {"plain", plain_setup, NULL},
    {"FER+ votes, dist target", votes_dist_setup, NULL},
    {"distillation from two teachers, flip-averaged", distill_setup, NULL},
    {"EMA of the weights", ema_setup, NULL},
    {"votes, mixup, CutMix, a teacher and EMA together", all_setup, NULL},
};

START_TEST(resume_is_exact)
{
    const run_variant *v = &variants[_i];
    make_tmp();
    fer_dataset *ds = synthetic(160, 32, 9);
    fer_train_cfg cfg;
    quick_cfg(&cfg, 3);
    cfg.threads = 2;
    v->setup(&cfg, ds);
    const char *arch = v->arch ? v->arch : ds->votes ? tiny8_arch : tiny_arch;
    fer_error err = {0};

    char straight[300];
    snprintf(straight, sizeof straight, "%s/straight", tmpdir);
    ck_assert_msg(fer_train_run(parse_text(arch), &cfg, ds, straight, NULL, &err) == 0, "%s: %s",
                  v->name, err.msg);

    /* Same run, stopped mid-epoch 2 (batch 14 of 30), then resumed twice over:
     * the second stop lands exactly on an epoch boundary. */
    char resumed[320];
    snprintf(resumed, sizeof resumed, "%s/resumed", straight);
    stop_after = 14;
    stop_flag = 0;
    fer_train_hooks hooks = {count_batches, NULL, &stop_flag};
    ck_assert_int_eq(fer_train_run(parse_text(arch), &cfg, ds, resumed, &hooks, &err), 1);
    stop_after = 6;
    stop_flag = 0;
    ck_assert_msg(fer_train_run(NULL, &cfg, ds, resumed, &hooks, &err) == 1, "%s", err.msg);
    stop_after = -1;
    stop_flag = 0;
    ck_assert_msg(fer_train_run(NULL, &cfg, ds, resumed, &hooks, &err) == 0, "%s", err.msg);

    float *a, *b;
    size_t na, nb;
    read_params(straight, "last.fermodel", &a, &na);
    read_params(resumed, "last.fermodel", &b, &nb);
    ck_assert_uint_eq(na, nb);
    size_t differ = 0;
    for (size_t i = 0; i < na; i++)
        differ += a[i] != b[i];
    ck_assert_msg(differ == 0, "%s: %zu of %zu parameters differ after resume", v->name, differ,
                  na);
    free(a);
    free(b);
    fer_dataset_free(ds);
    rm_tmp();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_options");
    TCase *r = tcase_create("runs");
    tcase_set_timeout(r, 240);
    tcase_add_test(r, training_on_votes);
    tcase_add_test(r, distillation_teaches);
    tcase_add_test(r, ema_decay_formula);
    tcase_add_test(r, ema_weights_are_validated_and_saved);
    tcase_add_test(r, beta_sampler_moments);
    tcase_add_test(r, mix_rows_exact);
    tcase_add_test(r, mixing_runs_learn);
    tcase_add_loop_test(r, resume_is_exact, 0, (int)(sizeof variants / sizeof variants[0]));
    suite_add_tcase(s, r);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
