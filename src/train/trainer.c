/*
 * trainer.c — the training loop.
 *
 * Design:
 *  - The data order of epoch e is a Fisher-Yates shuffle seeded by (seed, e), and
 *    each image's augmentation is seeded by (seed, e, image index): the run is a
 *    pure function of its configuration, so --resume from any checkpoint (epoch
 *    end or mid-epoch after a stop request) continues to the same weights.
 *  - Two batch buffers: while the main thread runs forward/backward on one, a
 *    helper thread augments the next into the other. sgemm gains nothing from the
 *    second vCPU on these machines (both share one core's FP units), so the
 *    second thread does what sgemm leaves idle.
 *  - The last incomplete batch of an epoch is dropped (a batch of one would give
 *    batch norm a zero variance); the shuffle puts every image in play over epochs.
 *  - Files are written after every epoch, each atomically: a kill at any moment
 *    leaves the previous checkpoint (or the new one) loadable.
 */
#include "train/trainer.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "train/checkpoint.h"
#include "train/ema.h"
#include "train/mix.h"
#include "train/plots.h"
#include "vision/contrast.h"
#include "vision/preprocess.h"
#include "util/fileio.h"
#include "util/clock.h"

void fer_train_cfg_default(fer_train_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->epochs = 30;
    cfg->batch = 64;
    cfg->seed = 1;
    cfg->threads = 2;
    fer_optim_cfg_default(&cfg->opt);
    fer_sched_default(&cfg->sched);
    fer_augment_default(&cfg->aug);
    fer_contrast_init(&cfg->contrast, -1);
    cfg->label_smoothing = 0.1f;
    cfg->kd_temp = 4.0f;
    cfg->kd_weight = 0.5f;
    cfg->mix_prob = 1.0f;
}

typedef struct run {
    fer_train_cfg cfg;
    fer_train_state *st;
    fer_model *model;
    fer_optim *opt;
    const fer_dataset *ds;
    const char *out_dir;
    const fer_train_hooks *hooks;
    int nclasses, hw;
    int *train_idx, ntrain;
    int *val_idx, nval;
    int *perm;
    fer_label_map map;       /* dataset label -> model output */
    float class_w[FER_MAX_CLASSES];
    int use_w;
    int soft;                /* 1: the loss takes target distributions (q), not labels (y) */
    float *x[2];             /* (batch, hw) inputs */
    uint8_t *work[2];        /* one face's bytes for the input step, per batch slot */
    int *y[2];               /* (batch) hard labels as model outputs (hard loss, weights) */
    float *q[2];             /* (batch, nclasses) target distributions, when soft */
    unsigned *ok[2];         /* (batch) the outputs counted correct (targets.h) */
    float *probs, *dlogits;
    fer_teachers *teach;     /* NULL without distillation */
    float *tin[2][FER_MAX_TEACHERS]; /* (batch, hw) each teacher's inputs */
    float *pix[2];           /* (hw) one augmented image before any input step */
    float *tprobs;           /* (batch, nclasses) the teachers' softened average */
} run;

typedef struct prep_job {
    run *r;
    int epoch, batch, slot;
    pthread_t tid;
    int started;
} prep_job;

static void shuffle(int *perm, const int *src, int n, uint64_t seed, int epoch)
{
    uint64_t rng = fer_augment_seed(seed, epoch, -1);
    memcpy(perm, src, (size_t)n * sizeof *perm);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(fer_rng_next(&rng) % (uint64_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* Labels, correct-answer masks and (soft runs) targets of images idx[0..n) into slot. */
static void fill_targets(run *r, int slot, const int *idx, int n)
{
    for (int i = 0; i < n; i++) {
        r->y[slot][i] = r->map.out[r->ds->labels[idx[i]]];
        r->ok[slot][i] = fer_target_correct(r->ds, idx[i], &r->map);
        if (r->soft)
            fer_target_fill(r->q[slot] + (size_t)i * r->nclasses, r->ds, idx[i], &r->map,
                            r->cfg.target);
    }
}

/* mixup/CutMix of the prepared batch b in slot: the student's and every teacher's inputs
 * alike, and the targets. Accuracy counts an image as the one it keeps most of. */
static void mix_batch(run *r, int epoch, int b, int slot)
{
    const int bs = r->cfg.batch;
    fer_mix m;
    /* Index -2 - b: a stream apart from the images' (>= 0) and the shuffle's (-1). */
    fer_mix_draw(&m, r->cfg.mixup, r->cfg.cutmix, r->cfg.mix_prob, r->ds->h, r->ds->w,
                 fer_augment_seed(r->cfg.seed, epoch, -2 - b));
    fer_mix_rows(r->x[slot], bs, r->hw, r->ds->w, 1, &m);
    for (int t = 0; r->teach && t < r->teach->n; t++)
        fer_mix_rows(r->tin[slot][t], bs, r->hw, r->ds->w, 1, &m);
    fer_mix_rows(r->q[slot], bs, r->nclasses, 0, 0, &m);
    if (m.lambda < 0.5f)
        for (int i = 0; i < bs / 2; i++) {
            const unsigned t = r->ok[slot][i];
            r->ok[slot][i] = r->ok[slot][bs - 1 - i];
            r->ok[slot][bs - 1 - i] = t;
        }
}

/* The augmented batch b of epoch into slot: the student's inputs and, with teachers,
 * each teacher's input from the same augmented image. Cannot fail: setup tried every
 * network's input step on this image size. */
static void prepare(run *r, int epoch, int b, int slot)
{
    const int bs = r->cfg.batch, h = r->ds->h, w = r->ds->w;
    const int *idx = r->perm + (size_t)b * bs;
    for (int i = 0; i < bs; i++) {
        const uint8_t *src = r->ds->pixels + (size_t)idx[i] * r->hw;
        const uint64_t seed = fer_augment_seed(r->cfg.seed, epoch, idx[i]);
        float *x = r->x[slot] + (size_t)i * r->hw;
        if (!r->teach) {
            fer_augment_apply(x, r->work[slot], src, h, w, &r->cfg.aug, &r->model->pre, seed);
            continue;
        }
        fer_erase_box box;
        fer_augment_pixels(r->pix[slot], &box, src, h, w, &r->cfg.aug, seed);
        fer_augment_finish(x, r->work[slot], r->pix[slot], &box, h, w, &r->model->pre);
        for (int t = 0; t < r->teach->n; t++)
            fer_augment_finish(r->tin[slot][t] + (size_t)i * r->hw, r->work[slot], r->pix[slot],
                               &box, h, w, &r->teach->m[t]->pre);
    }
    fill_targets(r, slot, idx, bs);
    if (r->cfg.mixup > 0.0f || r->cfg.cutmix > 0.0f)
        mix_batch(r, epoch, b, slot);
}

static void *prep_main(void *arg)
{
    prep_job *j = arg;
    prepare(j->r, j->epoch, j->batch, j->slot);
    return NULL;
}

static void prep_start(prep_job *j, run *r, int epoch, int b, int slot)
{
    j->r = r;
    j->epoch = epoch;
    j->batch = b;
    j->slot = slot;
    /* Fall back to preparing inline if no thread can be had. */
    j->started = pthread_create(&j->tid, NULL, prep_main, j) == 0;
    if (!j->started)
        prepare(r, epoch, b, slot);
}

static void prep_wait(prep_job *j)
{
    if (j->started)
        pthread_join(j->tid, NULL);
    j->started = 0;
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* Predictions among probs (n, C) that are a correct answer of their image. */
static long long count_correct(const run *r, const unsigned *ok, int n)
{
    long long correct = 0;
    for (int i = 0; i < n; i++)
        correct += ok[i] >> argmax(r->probs + (size_t)i * r->nclasses, r->nclasses) & 1;
    return correct;
}

/* Loss and accuracy on the validation split (no augmentation, no smoothing, no class
 * weights; with votes the loss is against the run's kind of target). */
static void validate(run *r, double *loss_out, double *acc_out)
{
    fer_net *net = r->model->net;
    const int bs = r->cfg.batch;
    double loss = 0.0;
    long long correct = 0;
    for (int start = 0; start < r->nval; start += bs) {
        int n = r->nval - start < bs ? r->nval - start : bs;
        const int *idx = r->val_idx + start;
        for (int i = 0; i < n; i++) {
            memcpy(r->work[0], r->ds->pixels + (size_t)idx[i] * r->hw, (size_t)r->hw);
            fer_input_from_face(r->x[0] + (size_t)i * r->hw, r->work[0], r->ds->h, r->ds->w,
                                &r->model->pre, NULL);
        }
        fill_targets(r, 0, idx, n);
        const float *logits = fer_net_forward(net, r->x[0], n, 0);
        loss += n * (double)(r->soft ? fer_soft_cross_entropy(NULL, r->probs, logits, r->q[0], NULL,
                                                              0.0f, r->nclasses, n)
                                     : fer_cross_entropy(NULL, r->probs, logits, r->y[0], NULL,
                                                         0.0f, r->nclasses, n));
        correct += count_correct(r, r->ok[0], n);
    }
    *loss_out = r->nval ? loss / r->nval : -1.0;
    *acc_out = r->nval ? (double)correct / r->nval : -1.0;
}

static void path_in(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static int write_history(run *r, fer_error *err)
{
    char path[4096];
    size_t cap = 128 + (size_t)r->st->nhistory * 128, len = 0;
    char *csv = malloc(cap);
    if (!csv)
        return fer_fail(err, -ENOMEM, "history.csv: out of memory");
    len += (size_t)snprintf(csv + len, cap - len,
                            "epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds\n");
    for (int i = 0; i < r->st->nhistory; i++) {
        const fer_history_row *h = &r->st->history[i];
        len += (size_t)snprintf(csv + len, cap - len, "%d,%.6g,%.5f,%.5f,%.5f,%.5f,%.1f\n",
                                h->epoch, h->lr, h->train_loss, h->train_acc, h->val_loss,
                                h->val_acc, h->seconds);
    }
    path_in(path, sizeof path, r->out_dir, "history.csv");
    const void *bufs[] = {csv};
    int rc = fer_write_atomic(path, bufs, &len, 1, err);
    free(csv);
    if (rc < 0)
        return rc;
    path_in(path, sizeof path, r->out_dir, "curves.png");
    char title[160];
    snprintf(title, sizeof title, "%s on %s: training curves", r->model->net->arch->name,
             r->model->meta.dataset[0] ? r->model->meta.dataset : "data");
    return fer_plot_curves(path, r->st->history, r->st->nhistory, title, err);
}

static void stamp_meta(run *r, float val_acc, int epochs)
{
    fer_meta *m = &r->model->meta;
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(m->created, sizeof m->created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    m->epochs = epochs;
    m->val_acc = val_acc;
    snprintf(m->command, sizeof m->command, "%s", r->cfg.command);
}

static int save_checkpoint(run *r, fer_error *err)
{
    char path[4096];
    path_in(path, sizeof path, r->out_dir, "checkpoint.ferckpt");
    r->st->net_rng = r->model->net->rng;
    return fer_ckpt_save(path, &r->cfg, r->st, r->model, r->opt, err);
}

/* A network's input step once on the first training image, so that a contrast setting
 * the image size cannot take fails here with its reason, never inside the batch thread.
 * who names the network in the message ("" for the student). */
static int try_input_step(run *r, const fer_preproc *pre, const char *who, fer_error *err)
{
    uint8_t *face = malloc((size_t)r->hw);
    float *x = malloc((size_t)r->hw * sizeof(float));
    int rc = -ENOMEM;
    if (face && x) {
        memcpy(face, r->ds->pixels + (size_t)r->train_idx[0] * r->hw, (size_t)r->hw);
        fer_error e = {0};
        rc = fer_input_from_face(x, face, r->ds->h, r->ds->w, pre, &e);
        if (rc < 0)
            fer_fail(err, rc, "%s%s%s", who, who[0] ? ": " : "", e.msg);
    } else {
        fer_fail(err, rc, "out of memory");
    }
    free(face);
    free(x);
    return rc;
}

/* Fills the index lists, the label map, class weights and the normalisation. */
static int setup_data(run *r, fer_error *err)
{
    const fer_dataset *ds = r->ds;
    const fer_arch *a = r->model->net->arch;
    r->hw = ds->h * ds->w;
    if (ds->h != a->in_h || ds->w != a->in_w || a->in_c != 1)
        return fer_fail(err, FER_E_INVAL, "data is %dx%d grey, the architecture wants %dx%dx%d",
                        ds->h, ds->w, a->in_c, a->in_h, a->in_w);
    if (!ds->votes != !r->cfg.labels[0])
        return fer_fail(err, FER_E_INVAL, "%s", ds->votes
                        ? "the data carries crowd votes but the run names no --labels"
                        : "the run was started with --labels, but the data carries no votes");
    /* Votes spread over all eight FER+ classes: a model without one of them could
     * never be trained towards the whole target. */
    int rc = fer_label_map_init(&r->map, a, r->nclasses,
                                ds->votes ? (1u << FER_NUM_LABELS) - 1 : 0, 1, err);
    if (rc < 0)
        return rc;
    r->train_idx = malloc((size_t)ds->n * sizeof(int));
    r->val_idx = malloc((size_t)ds->n * sizeof(int));
    r->perm = malloc((size_t)ds->n * sizeof(int));
    if (!r->train_idx || !r->val_idx || !r->perm)
        return fer_fail(err, -ENOMEM, "out of memory for the index lists");
    for (int i = 0; i < ds->n; i++) {
        if (r->map.out[ds->labels[i]] < 0)
            continue;
        if (ds->split[i] == FER_SPLIT_TRAIN && (!r->cfg.max_train || r->ntrain < r->cfg.max_train))
            r->train_idx[r->ntrain++] = i;
        else if (ds->split[i] == FER_SPLIT_VAL && (!r->cfg.max_val || r->nval < r->cfg.max_val))
            r->val_idx[r->nval++] = i;
    }
    if (r->ntrain < r->cfg.batch)
        return fer_fail(err, FER_E_INVAL, "%d training images, fewer than one batch of %d",
                        r->ntrain, r->cfg.batch);
    r->model->pre.contrast = r->cfg.contrast;
    if ((rc = try_input_step(r, &r->model->pre, "", err)) < 0)
        return rc;
    for (int t = 0; r->teach && t < r->teach->n; t++)
        if ((rc = try_input_step(r, &r->teach->m[t]->pre, r->cfg.teachers[t], err)) < 0)
            return rc;
    if (r->cfg.std <= 0.0f) {
        /* Measured on what the network is given: the training images after the model's
         * contrast step (which try_input_step showed applies). */
        uint8_t *face = malloc((size_t)r->hw);
        if (!face)
            return fer_fail(err, -ENOMEM, "out of memory");
        double s = 0.0, s2 = 0.0;
        for (int i = 0; i < r->ntrain; i++) {
            memcpy(face, ds->pixels + (size_t)r->train_idx[i] * r->hw, (size_t)r->hw);
            fer_contrast_apply(face, ds->h, ds->w, &r->cfg.contrast);
            for (int k = 0; k < r->hw; k++) {
                double v = face[k] / 255.0;
                s += v;
                s2 += v * v;
            }
        }
        free(face);
        double n = (double)r->ntrain * r->hw, mean = s / n;
        r->cfg.mean = (float)mean;
        r->cfg.std = (float)sqrt(fmax(s2 / n - mean * mean, 1e-12));
    }
    r->model->pre.mean = r->cfg.mean;
    r->model->pre.std = r->cfg.std;
    if (r->cfg.class_balanced) {
        long long count[FER_MAX_CLASSES] = {0};
        for (int i = 0; i < r->ntrain; i++)
            count[r->map.out[ds->labels[r->train_idx[i]]]]++;
        for (int c = 0; c < r->nclasses; c++)
            r->class_w[c] = count[c] ? (float)r->ntrain / ((float)r->nclasses * (float)count[c]) : 0.0f;
        r->use_w = 1;
    }
    return 0;
}

static int alloc_buffers(run *r, fer_error *err)
{
    const size_t bs = (size_t)r->cfg.batch;
    for (int s = 0; s < 2; s++) {
        r->x[s] = malloc(bs * (size_t)r->hw * sizeof(float));
        r->work[s] = malloc((size_t)r->hw);
        r->y[s] = malloc(bs * sizeof(int));
        r->ok[s] = malloc(bs * sizeof(unsigned));
        r->q[s] = malloc(bs * (size_t)r->nclasses * sizeof(float));
        if (!r->x[s] || !r->work[s] || !r->y[s] || !r->ok[s] || !r->q[s])
            return fer_fail(err, -ENOMEM, "out of memory for batch buffers");
    }
    r->probs = malloc(bs * (size_t)r->nclasses * sizeof(float));
    r->dlogits = malloc(bs * (size_t)r->nclasses * sizeof(float));
    if (!r->probs || !r->dlogits)
        return fer_fail(err, -ENOMEM, "out of memory for batch buffers");
    if (!r->teach)
        return 0;
    r->tprobs = malloc(bs * (size_t)r->nclasses * sizeof(float));
    if (!r->tprobs)
        return fer_fail(err, -ENOMEM, "out of memory for batch buffers");
    for (int s = 0; s < 2; s++) {
        if (!(r->pix[s] = malloc((size_t)r->hw * sizeof(float))))
            return fer_fail(err, -ENOMEM, "out of memory for batch buffers");
        for (int t = 0; t < r->teach->n; t++)
            if (!(r->tin[s][t] = malloc(bs * (size_t)r->hw * sizeof(float))))
                return fer_fail(err, -ENOMEM, "out of memory for batch buffers");
    }
    return 0;
}

static void run_free(run *r)
{
    free(r->train_idx);
    free(r->val_idx);
    free(r->perm);
    for (int s = 0; s < 2; s++) {
        free(r->x[s]);
        free(r->work[s]);
        free(r->y[s]);
        free(r->ok[s]);
        free(r->q[s]);
        free(r->pix[s]);
        for (int t = 0; t < FER_MAX_TEACHERS; t++)
            free(r->tin[s][t]);
    }
    free(r->probs);
    free(r->dlogits);
    free(r->tprobs);
    fer_teachers_free(r->teach);
    fer_optim_free(r->opt);
    fer_model_free(r->model);
    if (r->st)
        free(r->st->ema);
    free(r->st);
}

static void report(run *r, int phase, double t0, const fer_history_row *row, int best)
{
    if (!r->hooks || !r->hooks->progress)
        return;
    const fer_train_state *st = r->st;
    const int nb = r->ntrain / r->cfg.batch;
    fer_train_progress p = {0};
    p.phase = phase;
    p.epoch = st->epoch + (phase == 0 ? 1 : 0);
    p.epochs = r->cfg.epochs;
    p.batch = phase == 0 ? st->batch : nb;
    p.batches = nb;
    double dt = fer_mono_s() - t0;
    p.images_per_s = dt > 0 ? (double)st->seen / dt : 0.0;
    p.loss = st->seen ? st->loss_sum / (double)st->seen : 0.0;
    p.acc = st->seen ? (double)st->correct / (double)st->seen : 0.0;
    long long left = (long long)(r->cfg.epochs - st->epoch) * nb - (phase == 0 ? st->batch : 0);
    p.eta_s = p.images_per_s > 0 ? (double)left * r->cfg.batch / p.images_per_s : 0.0;
    p.row = row;
    p.best = best;
    r->hooks->progress(r->hooks->ctx, &p);
}

/* Exchanges the net's parameter block with the EMA's (no-op without --ema). */
static void swap_ema(run *r)
{
    float *p = r->model->net->params, *e = r->st->ema;
    if (!e)
        return;
    for (size_t i = 0; i < r->model->net->params_len; i++) {
        const float t = p[i];
        p[i] = e[i];
        e[i] = t;
    }
}

/* The training loss of the batch in slot, whose logits the student just computed;
 * writes its gradient to r->dlogits (and the T = 1 probabilities to r->probs). */
static float step_loss(run *r, int slot, const float *logits)
{
    const int bs = r->cfg.batch, C = r->nclasses;
    const float *w = r->use_w ? r->class_w : NULL;
    float loss = r->soft ? fer_soft_cross_entropy(r->dlogits, r->probs, logits, r->q[slot], w,
                                                  r->cfg.label_smoothing, C, bs)
                         : fer_cross_entropy(r->dlogits, r->probs, logits, r->y[slot], w,
                                             r->cfg.label_smoothing, C, bs);
    if (!r->teach)
        return loss;
    /* (1-W) CE + W T^2 KL: the hard part's gradient is scaled here, the distillation
     * term adds its own. */
    const float kw = r->cfg.kd_weight;
    fer_teachers_predict(r->teach, r->tprobs, r->tin[slot], bs, r->cfg.kd_temp, r->cfg.kd_flip);
    for (int k = 0; k < bs * C; k++)
        r->dlogits[k] *= 1.0f - kw;
    return (1.0f - kw) * loss +
           fer_distill_loss(r->dlogits, logits, r->tprobs, r->cfg.kd_temp, kw, C, bs);
}

/* One epoch from st->batch on. Returns 0 at its end, 1 if stopped, or an error. */
static int train_epoch(run *r, fer_error *err)
{
    fer_train_state *st = r->st;
    fer_net *net = r->model->net;
    const int bs = r->cfg.batch, nb = r->ntrain / bs;
    const double t0 = fer_mono_s() - st->elapsed;
    shuffle(r->perm, r->train_idx, r->ntrain, r->cfg.seed, st->epoch);
    prep_job job = {0};
    int slot = 0;
    if (st->batch < nb)
        prep_start(&job, r, st->epoch, st->batch, slot);
    for (int b = st->batch; b < nb; b++) {
        prep_wait(&job);
        if (b + 1 < nb)
            prep_start(&job, r, st->epoch, b + 1, slot ^ 1);
        float lr = fer_sched_lr(&r->cfg.sched, (long)st->step);
        const float *logits = fer_net_forward(net, r->x[slot], bs, 1);
        float loss = step_loss(r, slot, logits);
        if (!isfinite(loss)) {
            prep_wait(&job);
            return fer_fail(err, FER_E_INVAL,
                            "training diverged: loss %g at epoch %d batch %d (learning rate %g); "
                            "lower the learning rate", (double)loss, st->epoch + 1, b + 1, (double)lr);
        }
        fer_net_zero_grad(net);
        fer_net_backward(net, r->dlogits, NULL, bs);
        fer_optim_step(r->opt, lr);
        if (st->ema)
            fer_ema_update(st->ema, net->params, net->params_len, r->cfg.ema_decay, st->step);
        st->loss_sum += (double)loss * bs;
        st->correct += count_correct(r, r->ok[slot], bs);
        st->seen += bs;
        st->batch = b + 1;
        st->step++;
        slot ^= 1;
        report(r, 0, t0, NULL, 0);
        if (r->hooks && r->hooks->stop && *r->hooks->stop) {
            prep_wait(&job);
            st->elapsed = fer_mono_s() - t0;
            int rc = save_checkpoint(r, err);
            return rc < 0 ? rc : 1;
        }
    }
    prep_wait(&job);

    /* With --ema, validation and the saved models use the averaged weights: swap them
     * into the net until the models are written, then back for training. */
    swap_ema(r);
    double val_loss, val_acc;
    validate(r, &val_loss, &val_acc);
    fer_history_row row = {
        .epoch = st->epoch + 1,
        .lr = fer_sched_lr(&r->cfg.sched, (long)st->step - 1),
        .train_loss = (float)(st->loss_sum / (double)st->seen),
        .train_acc = (float)((double)st->correct / (double)st->seen),
        .val_loss = (float)val_loss,
        .val_acc = (float)val_acc,
        .seconds = (float)(fer_mono_s() - t0),
    };
    fer_sched_epoch_end(&r->cfg.sched, (float)val_acc);
    int best = r->nval > 0 && (float)val_acc > st->best_val;
    if (st->nhistory < FER_MAX_EPOCHS)
        st->history[st->nhistory++] = row;
    st->epoch++;
    st->batch = 0;
    st->loss_sum = 0.0;
    st->correct = st->seen = 0;
    st->elapsed = 0.0;

    char path[4096];
    int rc = 0;
    stamp_meta(r, (float)val_acc, st->epoch);
    if (best || r->nval == 0) {
        st->best_val = (float)val_acc;
        st->best_epoch = st->epoch;
        path_in(path, sizeof path, r->out_dir, "best.fermodel");
        rc = fer_model_save(r->model, path, err);
    }
    path_in(path, sizeof path, r->out_dir, "last.fermodel");
    if (rc == 0)
        rc = fer_model_save(r->model, path, err);
    swap_ema(r);
    if (rc < 0)
        return rc;
    if ((rc = write_history(r, err)) < 0)
        return rc;
    if ((rc = save_checkpoint(r, err)) < 0)
        return rc;
    report(r, 1, t0, &row, best);
    return 0;
}

/* --ema: the average starts at the initial weights (after --init). */
static int start_ema(run *r, fer_error *err)
{
    if (!r->cfg.ema)
        return 0;
    if (!(r->cfg.ema_decay >= 0.0f && r->cfg.ema_decay < 1.0f))
        return fer_fail(err, FER_E_INVAL, "--ema %g: the decay must be in [0, 1)",
                        (double)r->cfg.ema_decay);
    const fer_net *net = r->model->net;
    r->st->ema = malloc(net->params_len * sizeof(float));
    if (!r->st->ema)
        return fer_fail(err, -ENOMEM, "out of memory for the weight average");
    memcpy(r->st->ema, net->params, net->params_len * sizeof(float));
    r->st->ema_len = net->params_len;
    return 0;
}

/* Loads the run's teachers, recording their CRCs in a fresh run and checking them
 * against the recorded ones in a resumed run. */
static int load_teachers(run *r, int fresh, fer_error *err)
{
    const int n = r->cfg.nteachers;
    if (n == 0)
        return 0;
    if (n < 0 || n > FER_MAX_TEACHERS || !(r->cfg.kd_temp > 0.0f) ||
        !(r->cfg.kd_weight >= 0.0f && r->cfg.kd_weight <= 1.0f))
        return fer_fail(err, FER_E_INVAL, "distillation: %d teachers, temperature %g, weight %g "
                        "(1..%d teachers, T > 0, 0 <= W <= 1)", n, (double)r->cfg.kd_temp,
                        (double)r->cfg.kd_weight, FER_MAX_TEACHERS);
    const char *paths[FER_MAX_TEACHERS];
    uint32_t crc[FER_MAX_TEACHERS];
    for (int t = 0; t < n; t++)
        paths[t] = r->cfg.teachers[t];
    int rc = fer_teachers_load(&r->teach, paths, n, r->model->net->arch, r->cfg.batch, crc, err);
    if (rc < 0)
        return rc;
    for (int t = 0; t < n; t++) {
        if (fresh)
            r->cfg.teacher_crc[t] = crc[t];
        else if (crc[t] != r->cfg.teacher_crc[t])
            return fer_fail(err, FER_E_INVAL, "%s: the teacher changed since the run started "
                            "(CRC %08x, the checkpoint has %08x)", paths[t], crc[t],
                            r->cfg.teacher_crc[t]);
    }
    return 0;
}

static const char *base_name(const char *path)
{
    const char *base = strrchr(path, '/');
    return base ? base + 1 : path;
}

static const char *dataset_name(const char *path)
{
    const char *base = base_name(path);
    return strncasecmp(base, "fer2013", 7) == 0 ? "FER2013" : base;
}

/* meta.extra: what the run trained towards beyond the dataset itself, for `fer info`
 * and the model card. File names only: the model travels, the folders do not. */
static void set_meta_extra(run *r)
{
    fer_meta *m = &r->model->meta;
    cJSON *o = cJSON_CreateObject();
    if (r->cfg.labels[0]) {
        const char *colon = strchr(r->cfg.labels, ':');
        char spec[1100];
        snprintf(spec, sizeof spec, "%.*s:%s", colon ? (int)(colon - r->cfg.labels) : 0,
                 r->cfg.labels, base_name(colon ? colon + 1 : r->cfg.labels));
        cJSON_AddStringToObject(o, "labels", spec);
        cJSON_AddStringToObject(o, "target", fer_target_name(r->cfg.target));
    }
    if (r->cfg.ema)
        cJSON_AddNumberToObject(o, "ema", round(r->cfg.ema_decay * 1e6) / 1e6);
    if (r->cfg.mixup > 0.0f || r->cfg.cutmix > 0.0f) {
        cJSON_AddNumberToObject(o, "mixup", round(r->cfg.mixup * 1e6) / 1e6);
        cJSON_AddNumberToObject(o, "cutmix", round(r->cfg.cutmix * 1e6) / 1e6);
        cJSON_AddNumberToObject(o, "mix_prob", round(r->cfg.mix_prob * 1e6) / 1e6);
    }
    if (r->cfg.nteachers) {
        cJSON *t = cJSON_AddArrayToObject(o, "teachers");
        for (int i = 0; i < r->cfg.nteachers; i++) {
            cJSON *e = cJSON_CreateObject();
            char crc[16];
            snprintf(crc, sizeof crc, "%08x", r->cfg.teacher_crc[i]);
            cJSON_AddStringToObject(e, "file", base_name(r->cfg.teachers[i]));
            cJSON_AddStringToObject(e, "crc32", crc);
            cJSON_AddItemToArray(t, e);
        }
        cJSON_AddNumberToObject(o, "kd_temp", round(r->cfg.kd_temp * 1e6) / 1e6);
        cJSON_AddNumberToObject(o, "kd_weight", round(r->cfg.kd_weight * 1e6) / 1e6);
        cJSON_AddBoolToObject(o, "kd_flip", r->cfg.kd_flip);
    }
    char *text = cJSON_GetArraySize(o) ? cJSON_PrintUnformatted(o) : NULL;
    if (text && strlen(text) >= sizeof m->extra && cJSON_HasObjectItem(o, "teachers")) {
        /* Long teacher names: keep their CRCs, which identify them anyway. */
        cJSON *t = cJSON_GetObjectItem(o, "teachers"), *e;
        cJSON_ArrayForEach(e, t)
            cJSON_DeleteItemFromObject(e, "file");
        free(text);
        text = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);
    if (text && strlen(text) < sizeof m->extra)
        snprintf(m->extra, sizeof m->extra, "%s", text);
    free(text);
}

/* Starts r's fresh net from the weights of the model at path (--init), which must
 * have the same architecture, and takes its input normalisation. */
static int init_from(run *r, const char *path, fer_error *err)
{
    fer_model *m = NULL;
    int rc = fer_model_load(&m, path, 1, 0, err);
    if (rc < 0)
        return rc;
    const fer_net *a = m->net;
    fer_net *b = r->model->net;
    int same = a->params_len == b->params_len && a->nlayers == b->nlayers;
    for (int i = 0; same && i < a->nlayers; i++)
        same = a->layers[i].spec.type == b->layers[i].spec.type &&
               a->layers[i].out_size == b->layers[i].out_size &&
               a->layers[i].nparams == b->layers[i].nparams;
    if (!same) {
        rc = fer_fail(err, FER_E_ARCH, "%s: its architecture (%d layers, %zu parameters) is not "
                      "the one being trained (%d layers, %zu parameters)", path, a->nlayers,
                      a->nparams, b->nlayers, b->nparams);
    } else {
        memcpy(b->params, a->params, a->params_len * sizeof *a->params);
        r->cfg.mean = m->pre.mean;
        r->cfg.std = m->pre.std;
        /* The weights were learnt on this input; a different one must be asked for. */
        if (r->cfg.contrast.mode < 0)
            r->cfg.contrast = m->pre.contrast;
    }
    fer_model_free(m);
    return rc;
}

int fer_train_run(fer_arch *arch, const fer_train_cfg *cfg, const fer_dataset *ds,
                  const char *out_dir, const fer_train_hooks *hooks, fer_error *err)
{
    run r = {0};
    int rc;
    r.ds = ds;
    r.out_dir = out_dir;
    r.hooks = hooks;
    if (mkdir(out_dir, 0755) < 0 && errno != EEXIST) {
        fer_arch_free(arch);
        return fer_fail(err, -errno, "%s: cannot create: %s", out_dir, strerror(errno));
    }
    if (arch) {
        r.cfg = *cfg;
        r.st = calloc(1, sizeof *r.st);
        r.model = calloc(1, sizeof *r.model);
        if (!r.st || !r.model) {
            fer_arch_free(arch);
            rc = fer_fail(err, -ENOMEM, "out of memory");
            goto out;
        }
        r.st->best_val = -1.0f;
        fer_preproc_default(&r.model->pre);
        fer_meta_init(&r.model->meta);
        rc = fer_net_create(&r.model->net, arch, cfg->batch, FER_NET_TRAIN, cfg->seed, err);
        if (rc < 0)
            goto out;
        r.model->net->rng = cfg->seed ^ 0xD1B54A32D192ED03ull;
        if (cfg->init[0] && (rc = init_from(&r, cfg->init, err)) < 0)
            goto out;
        if (r.cfg.contrast.mode < 0)
            fer_contrast_init(&r.cfg.contrast, FER_CONTRAST_NONE);
        if (fer_contrast_check(&r.cfg.contrast) < 0) {
            rc = fer_fail(err, FER_E_INVAL, "contrast normalisation: invalid setting (clip in "
                          "[0, %g], 1..%d tiles)", (double)FER_CLAHE_MAX_CLIP,
                          FER_CLAHE_MAX_TILES);
            goto out;
        }
        if ((rc = fer_optim_create(&r.opt, r.model->net, &cfg->opt, err)) < 0)
            goto out;
        if ((rc = start_ema(&r, err)) < 0)
            goto out;
    } else {
        char path[4096];
        path_in(path, sizeof path, out_dir, "checkpoint.ferckpt");
        r.st = calloc(1, sizeof *r.st);
        if (!r.st) {
            rc = fer_fail(err, -ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = fer_ckpt_load(path, &r.cfg, r.st, &r.model, &r.opt, err)) < 0)
            goto out;
        r.model->net->rng = r.st->net_rng;
        if (cfg->labels_crc != r.cfg.labels_crc) {
            rc = fer_fail(err, FER_E_INVAL, "%s: the run was trained on labels %s (CRC %08x); "
                          "these labels (CRC %08x) differ", path,
                          r.cfg.labels[0] ? r.cfg.labels : "from the data", r.cfg.labels_crc,
                          cfg->labels_crc);
            goto out;
        }
    }
    snprintf(r.model->meta.dataset, sizeof r.model->meta.dataset, "%.63s", dataset_name(r.cfg.data));
    r.nclasses = r.model->net->layers[r.model->net->nlayers - 1].oc;
    r.soft = ds->votes != NULL || r.cfg.mixup > 0.0f || r.cfg.cutmix > 0.0f;
    if ((rc = load_teachers(&r, arch != NULL, err)) < 0)
        goto out;
    set_meta_extra(&r);
    if ((rc = setup_data(&r, err)) < 0 || (rc = alloc_buffers(&r, err)) < 0)
        goto out;
    r.cfg.sched.epochs = r.cfg.epochs;
    r.cfg.sched.steps_per_epoch = r.ntrain / r.cfg.batch;
    fer_set_threads(r.cfg.threads);
    rc = 0;
    while (r.st->epoch < r.cfg.epochs) {
        if ((rc = train_epoch(&r, err)) != 0)
            break;
    }
out:
    run_free(&r);
    return rc;
}
