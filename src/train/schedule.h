/*
 * schedule.h — learning-rate schedules, evaluated per optimisation step.
 *
 *  const     lr
 *  cosine    linear warm-up from lr/25 over warmup_epochs, then cosine to min_lr
 *  onecycle  PyTorch's OneCycleLR (cos annealing): lr/25 -> lr over pct_start of
 *            the steps, then -> lr/25/1e4 (final_div)
 *  step      lr * gamma^(epoch / step_epochs)
 *  plateau   lr * factor^k, k = times the validation accuracy failed to improve for
 *            `patience` epochs in a row (state advanced by fer_sched_epoch_end)
 */
#ifndef FER_SCHEDULE_H
#define FER_SCHEDULE_H

typedef enum fer_sched_kind {
    FER_SCHED_CONST,
    FER_SCHED_COSINE,
    FER_SCHED_ONECYCLE,
    FER_SCHED_STEP,
    FER_SCHED_PLATEAU,
} fer_sched_kind;

typedef struct fer_sched {
    fer_sched_kind kind;
    float lr;            /* base / peak learning rate */
    float min_lr;        /* cosine floor */
    float warmup_epochs; /* cosine */
    float pct_start;     /* onecycle: fraction of steps rising (0.3) */
    float gamma;         /* step: factor (0.1) */
    int step_epochs;     /* step: period in epochs */
    float factor;        /* plateau: factor (0.5) */
    int patience;        /* plateau: epochs without improvement (3) */
    int epochs;          /* total epochs */
    long steps_per_epoch;
    /* plateau state (saved in checkpoints) */
    float best;
    int bad_epochs;
    int reductions;
} fer_sched;

void fer_sched_default(fer_sched *s);
int fer_sched_kind_parse(const char *name); /* -1 if unknown */
const char *fer_sched_kind_name(fer_sched_kind k);

/* The learning rate of global step `step` (0-based over the whole run). */
float fer_sched_lr(const fer_sched *s, long step);
/* Feeds the epoch's validation accuracy to the plateau schedule. */
void fer_sched_epoch_end(fer_sched *s, float val_acc);

#endif
