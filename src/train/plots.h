/*
 * plots.h — the two figures of a training run, as PNG files written atomically:
 * curves.png (accuracy and loss against epoch, train and validation),
 * confusion.png (row-normalised heat map with class names and values) and
 * reliability.png (accuracy against confidence per bin, with the diagonal).
 */
#ifndef FER_PLOTS_H
#define FER_PLOTS_H

#include "train/calibrate.h"
#include "train/history.h"
#include "train/metrics.h"
#include "util/error.h"

/* train_loss names what the train loss is (the legend of its series), since a
 * run's training loss need not be the plain cross-entropy of validation: label
 * smoothing, distillation. NULL: "train". */
int fer_plot_curves(const char *path, const fer_history_row *rows, int n, const char *title,
                    const char *train_loss, fer_error *err);

/* names: nclasses class names; title printed above the matrix (e.g. "PrivateTest, acc 68.1%"). */
int fer_plot_confusion(const char *path, const fer_confusion *c,
                       const char names[][FER_MAX_CLASS_NAME], const char *title, fer_error *err);

/* The reliability diagram of r: per confidence bin a bar of its accuracy beside its
 * mean confidence (the gap is the miscalibration), the diagonal of perfect
 * calibration, and the share of predictions in each bin. */
int fer_plot_reliability(const char *path, const fer_reliability *r, const char *title,
                         fer_error *err);

#endif
