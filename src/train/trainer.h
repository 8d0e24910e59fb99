/*
 * trainer.h — `fer train`'s engine: mini-batch SGD/Adam over a fer_dataset with
 * augmentation, validation every epoch, checkpoints, the best model, history.csv
 * and curves.png. Library code: it reports progress through a callback and never
 * prints; the caller owns the terminal and the signal handlers.
 */
#ifndef FER_TRAINER_H
#define FER_TRAINER_H

#include <signal.h>
#include <stdint.h>

#include "data/dataset.h"
#include "net/model.h"
#include "train/augment.h"
#include "train/distill.h"
#include "train/history.h"
#include "train/optim.h"
#include "train/schedule.h"
#include "train/targets.h"

#define FER_MAX_EPOCHS 10000

/* Everything that determines a run; saved in every checkpoint so --resume repeats it. */
typedef struct fer_train_cfg {
    int epochs;
    int batch;
    uint64_t seed;
    int threads;             /* BLAS threads; the batch-preparation thread is extra */
    fer_optim_cfg opt;
    fer_sched sched;         /* kind and rates; epochs and steps filled in by the trainer */
    fer_augment aug;
    float label_smoothing;
    int class_balanced;      /* weight classes by N / (K * n_c) */
    float mean, std;         /* input normalisation; std == 0: measure on the training split */
    fer_contrast contrast;   /* the model's contrast step (recorded in its header); mode < 0:
                                that of the --init model, else none. Resolved before the first
                                checkpoint, so a resumed run keeps it */
    int max_train, max_val;  /* use only the first N images of a split (0 = all) */
    char data[1024];         /* dataset path, recorded for the model's metadata */
    char command[512];       /* the command line, recorded likewise */
    char init[1024];         /* a .fermodel of the same architecture whose weights (and
                                normalisation) start the run: fine-tuning; "" = random.
                                Used only at the start, so not kept in checkpoints */
    char labels[1024];       /* "" = the data's own labels; "ferplus:FILE" = the dataset
                                carries FER+ votes (fer_ferplus_apply) from FILE */
    uint32_t labels_crc;     /* fer_ferplus_stats.crc of those labels: a resumed run
                                refuses labels whose content changed */
    fer_target target;       /* with votes: majority or dist */
    /* Knowledge distillation (train/distill.h): loss = (1-W) CE(target) +
     * W T^2 KL(teachers_T || student_T). nteachers == 0: off. */
    int nteachers;
    char teachers[FER_MAX_TEACHERS][512]; /* .fermodel paths */
    uint32_t teacher_crc[FER_MAX_TEACHERS]; /* their CRC-32s, set by the trainer at the start;
                                               a resumed run refuses a teacher that changed */
    float kd_temp;           /* T (4) */
    float kd_weight;         /* W (0.5) */
    int kd_flip;             /* 1: average each teacher over the image and its mirror */
    int ema;                 /* 1: keep an average of the weights (train/ema.h) for
                                validation and the saved models */
    float ema_decay;         /* its decay, in [0, 1) */
    float mixup, cutmix;     /* Beta alphas of mixup and CutMix (train/mix.h); 0 = off */
    float mix_prob;          /* probability that a batch is mixed (1) */
} fer_train_cfg;

void fer_train_cfg_default(fer_train_cfg *cfg);

/* Progress, reported after every batch (phase 0), after validation (phase 1). */
typedef struct fer_train_progress {
    int phase;
    int epoch, epochs;       /* 1-based epoch */
    int batch, batches;      /* batches done in this epoch */
    double images_per_s;     /* training throughput over this epoch so far */
    double loss, acc;        /* running training averages over this epoch */
    double eta_s;            /* estimated seconds to the end of the run */
    const fer_history_row *row; /* phase 1: the finished epoch */
    int best;                /* phase 1: this epoch is the best so far */
} fer_train_progress;

typedef struct fer_train_hooks {
    void (*progress)(void *ctx, const fer_train_progress *p);
    void *ctx;
    volatile sig_atomic_t *stop; /* non-zero: checkpoint at the next batch and return */
} fer_train_hooks;

/* Trains a fresh net (arch, owned by the call) or, with arch == NULL, resumes from
 * out_dir/checkpoint.ferckpt. Writes into out_dir (created if missing):
 *   checkpoint.ferckpt  every epoch and on stop (atomic)
 *   best.fermodel       the model with the best validation accuracy so far
 *   last.fermodel       the model after the last finished epoch
 *   history.csv, curves.png  after every epoch
 * ds holds the training split and, optionally, the validation split; with crowd votes
 * (ds->votes) cfg->labels names them and the model must have every FER+ class. On
 * resume the checkpoint's configuration wins, but cfg->labels_crc must match its labels.
 * Returns 0 when all epochs are done, 1 when stopped through hooks->stop (after writing a
 * checkpoint), or a negative error. */
int fer_train_run(fer_arch *arch, const fer_train_cfg *cfg, const fer_dataset *ds,
                  const char *out_dir, const fer_train_hooks *hooks, fer_error *err);

#endif
