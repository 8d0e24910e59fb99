/*
 * trainer.c — the training loop (trainer_setup.c sets a run up and tears it down).
 *
 * Design:
 *  - The data order of epoch e is a Fisher-Yates shuffle seeded by (seed, e), and
 *    each image's augmentation is seeded by (seed, e, image index), each batch's
 *    mixing by (seed, e, -2 - batch): the run is a pure function of its
 *    configuration, so --resume from any checkpoint (epoch end or mid-epoch after
 *    a stop request) continues to the same weights.
 *  - Two batch buffers: while the main thread runs forward/backward on one, a
 *    helper thread augments the next into the other (and makes the teachers'
 *    inputs, and mixes). sgemm gains nothing from the second vCPU on these
 *    machines (both share one core's FP units), so the second thread does what
 *    sgemm leaves idle.
 *  - One loss path per kind of target: hard labels keep fer_cross_entropy (the
 *    default recipe runs exactly as before the other options existed); FER+ votes
 *    and mixing train on target distributions (fer_soft_cross_entropy); teachers
 *    add the distillation term to either.
 *  - The last incomplete batch of an epoch is dropped (a batch of one would give
 *    batch norm a zero variance); the shuffle puts every image in play over epochs.
 *  - With --ema the averaged weights are swapped into the net for validation and
 *    the saved models only; training and the checkpoint's model stay raw.
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
#include <sys/stat.h>
#include <time.h>

#include "train/ema.h"
#include "train/mix.h"
#include "train/plots.h"
#include "train/trainer_run.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "vision/contrast.h"
#include "vision/preprocess.h"

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

typedef struct prep_job {
    fer_trainer_run *r;
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
static void fill_targets(fer_trainer_run *r, int slot, const int *idx, int n)
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
static void mix_batch(fer_trainer_run *r, int epoch, int b, int slot)
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
static void prepare(fer_trainer_run *r, int epoch, int b, int slot)
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

static void prep_start(prep_job *j, fer_trainer_run *r, int epoch, int b, int slot)
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
static long long count_correct(const fer_trainer_run *r, const unsigned *ok, int n)
{
    long long correct = 0;
    for (int i = 0; i < n; i++)
        correct += ok[i] >> argmax(r->probs + (size_t)i * r->nclasses, r->nclasses) & 1;
    return correct;
}

/* Loss and accuracy on the validation split (no augmentation, no smoothing, no class
 * weights; with votes the loss is against the run's kind of target). */
static void validate(fer_trainer_run *r, double *loss_out, double *acc_out)
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

static int write_history(fer_trainer_run *r, fer_error *err)
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
    /* What step_loss minimises, so a distillation run's curves do not pass
     * its mixed loss off as the validation's cross-entropy. */
    char train_loss[96];
    const float ls = r->cfg.label_smoothing;
    if (r->teach)
        snprintf(train_loss, sizeof train_loss, "train: %.2g %sCE + %.2g T^2 KL, T %g",
                 1.0 - r->cfg.kd_weight, ls > 0 ? "smoothed " : "", r->cfg.kd_weight,
                 r->cfg.kd_temp);
    else if (ls > 0)
        snprintf(train_loss, sizeof train_loss, "train: cross-entropy, smoothing %.2g", ls);
    else
        snprintf(train_loss, sizeof train_loss, "train: cross-entropy");
    return fer_plot_curves(path, r->st->history, r->st->nhistory, title, train_loss, err);
}

static void stamp_meta(fer_trainer_run *r, float val_acc, int epochs)
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

static int save_checkpoint(fer_trainer_run *r, fer_error *err)
{
    char path[4096];
    path_in(path, sizeof path, r->out_dir, "checkpoint.ferckpt");
    r->st->net_rng = r->model->net->rng;
    return fer_ckpt_save(path, &r->cfg, r->st, r->model, r->opt, err);
}

static void report(fer_trainer_run *r, int phase, double t0, const fer_history_row *row, int best)
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
static void swap_ema(fer_trainer_run *r)
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
static float step_loss(fer_trainer_run *r, int slot, const float *logits)
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
static int train_epoch(fer_trainer_run *r, fer_error *err)
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

int fer_train_run(fer_arch *arch, const fer_train_cfg *cfg, const fer_dataset *ds,
                  const char *out_dir, const fer_train_hooks *hooks, fer_error *err)
{
    fer_trainer_run r = {0};
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
        if (cfg->init[0] && (rc = fer_trainer_init_from(&r, cfg->init, err)) < 0)
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
        if ((rc = fer_trainer_start_ema(&r, err)) < 0)
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
    r.nclasses = r.model->net->layers[r.model->net->nlayers - 1].oc;
    r.soft = ds->votes != NULL || r.cfg.mixup > 0.0f || r.cfg.cutmix > 0.0f;
    if ((rc = fer_trainer_load_teachers(&r, arch != NULL, err)) < 0)
        goto out;
    fer_trainer_set_meta(&r);
    if ((rc = fer_trainer_setup_data(&r, err)) < 0 || (rc = fer_trainer_alloc(&r, err)) < 0)
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
    fer_trainer_free(&r);
    return rc;
}
