/*
 * infer.h — the inference thread (see infer.c), and model descriptions.
 */
#ifndef FERD_INFER_H
#define FERD_INFER_H

#include "ferd.h"
#include "net/model.h"

/* Starts the thread, which takes over d->model and d->pipeline. 0 or -errno. */
int ferd_infer_start(ferd *d);

/* Describes a loaded model for STATUS and RELOAD. */
void ferd_model_describe(const fer_model *m, const char *path, fer_model_info *info);

/* Frees a result's pictures and clears them. */
void ferd_result_free_images(ferd_result *r);

#endif
