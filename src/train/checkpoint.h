/*
 * checkpoint.h — the state of an interrupted training run, in one file
 * (checkpoint.ferckpt) so that it is replaced atomically as a whole:
 *
 *   "FERCKPT\0"  u32 version (1)  u32 JSON length  JSON (config + loop state + history)
 *   u64 model length  the .fermodel bytes (weights and batch-norm statistics)
 *   u64 optimiser floats  the optimiser state, float32 LE, then (config.ema set) the
 *                         average of the parameter block (params_len floats)
 *   u32 CRC-32 of everything before it
 *
 * Resuming from it repeats the uninterrupted run exactly: the data order and the
 * augmentation are functions of (seed, epoch, index), and the file carries the
 * optimiser state, the dropout RNG, the schedule state and the epoch position.
 */
#ifndef FER_CHECKPOINT_H
#define FER_CHECKPOINT_H

#include "train/trainer.h"

typedef struct fer_train_state {
    int epoch;              /* epoch in progress, 0-based (= epochs finished) */
    int batch;              /* batches finished in that epoch */
    long long step;         /* optimiser steps so far */
    uint64_t net_rng;       /* dropout RNG state */
    double loss_sum;        /* running sums of the epoch in progress */
    long long correct, seen;
    double elapsed;         /* seconds spent in the epoch in progress */
    float best_val;         /* best validation accuracy so far (-1: none) */
    int best_epoch;
    int nhistory;
    fer_history_row history[FER_MAX_EPOCHS];
    float *ema;             /* --ema: (ema_len) the average of the parameter block, malloc'd;
                               NULL otherwise. fer_ckpt_load sets it; the owner frees it */
    size_t ema_len;         /* the net's params_len */
} fer_train_state;

int fer_ckpt_save(const char *path, const fer_train_cfg *cfg, const fer_train_state *st,
                  const fer_model *m, const fer_optim *o, fer_error *err);

/* Loads a checkpoint: fills cfg and st, builds the model (training net, max_batch =
 * cfg->batch) and its optimiser. Every failure names the file and what is wrong. */
int fer_ckpt_load(const char *path, fer_train_cfg *cfg, fer_train_state *st, fer_model **m,
                  fer_optim **o, fer_error *err);

/* Reads only the configuration of the checkpoint at path into cfg (zeroed first),
 * without checking the CRC: `fer train --resume` needs the run's label source
 * before it loads the data that fer_ckpt_load then checks. */
int fer_ckpt_peek(const char *path, fer_train_cfg *cfg, fer_error *err);

#endif
