/*
 * train_util.c — what the training tests share (train_util.h).
 */
#include "train_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"
#include "scratch.h"

/* Three well-separated 12x12 patterns plus noise: horizontal bars (angry),
 * vertical bars (happy), a bright centre square (sad). */
const char *const tiny_arch =
    "[net]\nname = tiny\ninput = 1x12x12\nclasses = angry, happy, sad\n"
    "[conv]\nfilters = 8\nsize = 3\npad = 1\nbias = 0\n[bn]\n[relu]\n[maxpool]\n"
    "[conv]\nfilters = 16\nsize = 3\npad = 1\n[relu]\n[gap]\n[dropout]\np = 0.1\n"
    "[fc]\noutputs = 3\n";

fer_dataset *synthetic(int n_train, int n_val, uint64_t seed)
{
    fer_dataset *ds = calloc(1, sizeof *ds);
    int n = n_train + n_val;
    ds->n = n;
    ds->h = ds->w = 12;
    ds->pixels = malloc((size_t)n * 144);
    ds->labels = malloc((size_t)n);
    ds->split = malloc((size_t)n);
    static const int canon[3] = {0, 3, 4};
    for (int i = 0; i < n; i++) {
        int k = i % 3;
        ds->labels[i] = (uint8_t)canon[k];
        ds->split[i] = i < n_train ? FER_SPLIT_TRAIN : FER_SPLIT_VAL;
        for (int y = 0; y < 12; y++) {
            for (int x = 0; x < 12; x++) {
                int on = k == 0 ? (y / 2) % 2 : k == 1 ? (x / 2) % 2 : (x > 3 && x < 8 && y > 3 && y < 8);
                float v = (on ? 180.0f : 60.0f) + 40.0f * (fer_rng_uniform(&seed) - 0.5f);
                ds->pixels[(size_t)i * 144 + y * 12 + x] = (uint8_t)v;
            }
        }
    }
    return ds;
}

/* The eight FER+ classes, in the canonical label order of data/dataset.h. */
const char *const tiny8_arch =
    "[net]\nname = tiny8\ninput = 1x12x12\n"
    "classes = angry, disgust, fear, happy, sad, surprise, neutral, contempt\n"
    "[conv]\nfilters = 8\nsize = 3\npad = 1\nbias = 0\n[bn]\n[relu]\n[maxpool]\n"
    "[conv]\nfilters = 16\nsize = 3\npad = 1\n[relu]\n[gap]\n[dropout]\np = 0.1\n"
    "[fc]\noutputs = 8\n";

/*
 * Crowd votes for the synthetic images, as fer_ferplus_apply would leave them: the
 * pattern's class gets 7 votes, neutral 2, contempt 1, except every tie_every-th
 * image, where neutral ties with it at 4 and 4 (contempt 2). labels[] becomes the
 * first top-voted label, as fer_ferplus_apply sets it.
 */
void add_votes(fer_dataset *ds, int tie_every)
{
    ds->votes = calloc((size_t)ds->n, FER_NUM_LABELS);
    for (int i = 0; i < ds->n; i++) {
        uint8_t *v = ds->votes + (size_t)i * FER_NUM_LABELS;
        int tie = tie_every && i % tie_every == 0;
        v[ds->labels[i]] = tie ? 4 : 7;
        v[6] = tie ? 4 : 2;
        v[FER_LABEL_CONTEMPT] = tie ? 2 : 1;
        /* labels[] stays: 0, 3 and 4 all come before neutral (6). */
    }
}

char tmpdir[256];

void make_tmp(void)
{
    scratch_make(tmpdir, sizeof tmpdir, "train");
}

void rm_tmp(void)
{
    scratch_remove(tmpdir);
}

fer_arch *parse_text(const char *text)
{
    fer_arch *a = NULL;
    fer_error err = {0};
    int rc = fer_arch_parse(&a, text, strlen(text), "tiny", &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    return a;
}

fer_arch *parse_tiny(void)
{
    return parse_text(tiny_arch);
}

void quick_cfg(fer_train_cfg *cfg, int epochs)
{
    fer_train_cfg_default(cfg);
    cfg->epochs = epochs;
    cfg->batch = 16;
    cfg->seed = 42;
    cfg->threads = 1;
    cfg->sched.kind = FER_SCHED_COSINE;
    cfg->sched.lr = 0.05f;
    cfg->sched.warmup_epochs = 1;
    cfg->aug.rotate = 5.0f;
    cfg->aug.shift = 1.0f;
    snprintf(cfg->data, sizeof cfg->data, "synthetic");
}

int stop_after;
volatile sig_atomic_t stop_flag;

void count_batches(void *ctx, const fer_train_progress *p)
{
    (void)ctx;
    if (p->phase == 0 && --stop_after == 0)
        stop_flag = 1;
}

void read_params(const char *dir, const char *name, float **out, size_t *n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fer_model *m = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_model_load(&m, path, 4, 0, &err) == 0, "%s", err.msg);
    *n = m->net->params_len;
    *out = malloc(*n * sizeof(float));
    memcpy(*out, m->net->params, *n * sizeof(float));
    fer_model_free(m);
}
