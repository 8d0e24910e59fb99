/*
 * train_util.h — what the training tests (test_train.c, test_train_options.c)
 * share: tiny architectures, a synthetic dataset they learn in seconds, a scratch
 * directory, a quick configuration and a stop hook for interrupted runs.
 */
#ifndef FER_TESTS_TRAIN_UTIL_H
#define FER_TESTS_TRAIN_UTIL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "net/arch.h"
#include "train/trainer.h"

/* 1x12x12 input; classes angry, happy, sad (tiny_arch) or all eight FER+ ones. */
extern const char *const tiny_arch;
extern const char *const tiny8_arch;

/* n_train + n_val images of three well-separated 12x12 patterns plus noise:
 * horizontal bars (angry), vertical bars (happy), a bright centre square (sad). */
fer_dataset *synthetic(int n_train, int n_val, uint64_t seed);

/* FER+-style votes for the synthetic images (see train_util.c). */
void add_votes(fer_dataset *ds, int tie_every);

/* A fresh scratch directory in tmpdir, and its removal. */
extern char tmpdir[256];
void make_tmp(void);
void rm_tmp(void);

fer_arch *parse_text(const char *text);
fer_arch *parse_tiny(void);

/* A few epochs of batch 16 at a fixed seed with light augmentation. */
void quick_cfg(fer_train_cfg *cfg, int epochs);

/* A progress hook that sets stop_flag after stop_after batches. */
extern int stop_after;
extern volatile sig_atomic_t stop_flag;
void count_batches(void *ctx, const fer_train_progress *p);

/* The parameter block of dir/name, malloc'd, and its length. */
void read_params(const char *dir, const char *name, float **out, size_t *n);

#endif
