/*
 * trainer_run.h — private to src/train/: the state of one `fer train` run, shared
 * by the loop (trainer.c) and the code that sets a run up and tears it down
 * (trainer_setup.c). Not installed; fer_train_run (trainer.h) is the interface.
 */
#ifndef FER_TRAINER_RUN_H
#define FER_TRAINER_RUN_H

#include "train/checkpoint.h"
#include "train/distill.h"
#include "train/targets.h"
#include "train/trainer.h"

typedef struct fer_trainer_run {
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
} fer_trainer_run;

/* Index lists, label map, class weights, normalisation; every network's input step
 * tried once. The model, cfg and (with distillation) the teachers must be set. */
int fer_trainer_setup_data(fer_trainer_run *r, fer_error *err);
/* The batch buffers, sized by cfg.batch, hw, nclasses and the teachers. */
int fer_trainer_alloc(fer_trainer_run *r, fer_error *err);
/* Frees everything r owns (accepts a half-built run). */
void fer_trainer_free(fer_trainer_run *r);
/* --ema in a fresh run: the average starts at the initial weights. */
int fer_trainer_start_ema(fer_trainer_run *r, fer_error *err);
/* Loads cfg's teachers: records their CRCs when fresh, checks them when resumed. */
int fer_trainer_load_teachers(fer_trainer_run *r, int fresh, fer_error *err);
/* meta.dataset and meta.extra (label source, teachers, EMA, mixing). */
void fer_trainer_set_meta(fer_trainer_run *r);
/* --init: the fresh net starts from the weights and normalisation of the model at path. */
int fer_trainer_init_from(fer_trainer_run *r, const char *path, fer_error *err);

#endif
