/*
 * infer.h — the inference thread (see infer.c), and model descriptions.
 */
#ifndef FERD_INFER_H
#define FERD_INFER_H

#include "ferd.h"
#include "net/model.h"

/* Starts the thread, which takes over d->model and d->pipeline. 0 or -errno. */
int ferd_infer_start(ferd *d);

/* Loads the model at path for inference (max_batch faces at once) and checks
 * that the pipeline can feed it: at start, on reload and for --check-config
 * alike, so whatever one refuses the others refuse, each naming the file. */
int ferd_model_open(fer_model **out, const char *path, int max_batch, fer_error *err);

/* Describes a loaded model for STATUS and RELOAD. */
void ferd_model_describe(const fer_model *m, const char *path, fer_model_info *info);

/* Frees a result's pictures and clears them. */
void ferd_result_free_images(ferd_result *r);

#endif
