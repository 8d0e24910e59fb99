/*
 * infer.c — the inference thread: owns the vision pipeline and the model, runs
 * the pipeline on the newest frame while someone wants results, and hands
 * each result to the loop.
 *
 * It sleeps on infer_cond until a fresh frame is there and wanted (a watcher
 * or a waiting POLL: with neither, no inference runs at all), or a reload is
 * asked for, or quit. After a frame, the pictures the loop asked for
 * (want_images) are JPEG-encoded here, off the loop thread, and the result is
 * appended to the result ring; the loop is woken with uv_async_send. If the
 * loop has not drained the ring (it always should: it only encodes and
 * queues), the oldest entry is overwritten and counted.
 *
 * Reload: the new model is loaded here, between frames, so the loop never
 * blocks on a file and the pipeline is never used by two threads. A model that
 * fails to load or does not fit the pipeline leaves the old one serving.
 *
 * Fresh state: the first frame after an idle spell (sh.idle_epoch moved)
 * restarts the pipeline's tracking (fer_pipeline_restart): a full search, no
 * track, average or id carried over from before; the pipeline does the same by
 * itself after a gap of track_gap_ms between frames.
 *
 * End of stream: once the source has ended and its last frame is processed,
 * an END entry follows the results in the ring, so the loop tells watchers
 * after they have every frame. For a lossless source (a file with realtime
 * off) a full ring makes this thread wait for the loop instead of overwriting.
 */
#include "infer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cv/image.h"
#include "log.h"
#include "memory.h"
#include "vision/annotate.h"
#include "vision/pace.h"
#include "vision/pipeline.h"

void ferd_model_describe(const fer_model *m, const char *path, fer_model_info *info)
{
    memset(info, 0, sizeof *info);
    const fer_arch *a = m->net->arch;
    snprintf(info->name, sizeof info->name, "%s", a->name);
    snprintf(info->path, sizeof info->path, "%s", path);
    info->nclasses = a->nclasses < FER_RESULT_MAX_CLASSES ? a->nclasses : FER_RESULT_MAX_CLASSES;
    for (int c = 0; c < info->nclasses; c++)
        snprintf(info->classes[c], sizeof info->classes[c], "%s", a->classes[c]);
    info->params = (long long)m->net->nparams;
    info->val_acc = m->meta.val_acc;
    info->test_acc = m->meta.test_acc;
    snprintf(info->test_split, sizeof info->test_split, "%s", m->meta.test_split);
    const fer_calibration *cal = &m->calib;
    info->temperature = -1;
    if (cal->split[0] || (cal->temperature > 0 && cal->temperature != 1.0f)) {
        info->temperature = cal->temperature > 0 ? cal->temperature : 1.0;
        snprintf(info->calib_split, sizeof info->calib_split, "%s", cal->split);
    }
}

int ferd_model_open(fer_model **out, const char *path, int max_batch, fer_error *err)
{
    int rc = fer_model_load(out, path, max_batch, FER_LOAD_INFER, err);
    if (rc < 0)
        return rc;
    fer_error why = {0};
    rc = fer_pipeline_model_fits(*out, &why);
    if (rc < 0) {
        fer_model_free(*out);
        *out = NULL;
        return fer_fail(err, rc, "%s: %s", path, why.msg);
    }
    return 0;
}

void ferd_result_free_images(ferd_result *r)
{
    free(r->jpeg);
    free(r->annotated);
    r->jpeg = r->annotated = NULL;
    r->jpeg_len = r->annotated_len = 0;
}

typedef struct infer_state {
    ferd *d;
    fer_pipeline *p;
    fer_model *model;
    fer_frame frame;
    fer_image ann;        /* scratch for the annotated picture */
    ferd_result out;
    int errors_logged;
    unsigned epoch;       /* sh.idle_epoch at the last frame */
} infer_state;

static void do_reload(infer_state *is, const char *path)
{
    ferd_shared *sh = &is->d->sh;
    fer_error err = {0};
    fer_model *nm = NULL;
    int rc = ferd_model_open(&nm, path, is->d->thread_cfg.max_faces, &err);
    if (rc == 0) {
        rc = fer_pipeline_set_model(is->p, nm, &err);
        if (rc < 0)
            fer_model_free(nm);
    }
    fer_model_info info;
    if (rc == 0) {
        fer_model_free(is->model);
        is->model = nm;
        ferd_model_describe(nm, path, &info);
    }
    /* The old model (or the refused new one) is freed: give its pages back. */
    ferd_memory_release();
    pthread_mutex_lock(&sh->mu);
    sh->busy_since_ns = 0;
    sh->reload_rc = rc;
    snprintf(sh->reload_msg, sizeof sh->reload_msg, "%s", rc < 0 ? err.msg : "");
    if (rc == 0)
        sh->reload_info = info;
    sh->reload_done = 1;
    pthread_mutex_unlock(&sh->mu);
    uv_async_send(&is->d->wake);
}

/* JPEG pictures the loop asked for, into out. Failures only cost the picture. */
static void encode_images(infer_state *is, int want, int quality)
{
    fer_error err = {0};
    const fer_image *img = &is->frame.img;
    is->out.img_w = img->w;
    is->out.img_h = img->h;
    if (want & FERD_WANT_JPEG) {
        if (fer_image_encode_jpeg(img, quality, &is->out.jpeg, &is->out.jpeg_len, &err) < 0)
            log_debug("jpeg: %s", err.msg);
    }
    if (want & FERD_WANT_ANNOTATED) {
        if (is->ann.w != img->w || is->ann.h != img->h || is->ann.channels != img->channels) {
            fer_image_free(&is->ann);
            if (fer_image_alloc(&is->ann, img->w, img->h, img->channels) < 0)
                return;
        }
        memcpy(is->ann.data, img->data, (size_t)img->w * img->h * img->channels);
        fer_annotate(&is->ann, &is->out.r, FER_ANNOTATE_SMOOTHED);
        if (fer_image_encode_jpeg(&is->ann, quality, &is->out.annotated, &is->out.annotated_len,
                                  &err) < 0)
            log_debug("jpeg: %s", err.msg);
    }
}

/* Appends out to the ring (overwriting the oldest if the loop fell behind,
 * unless the source is lossless: then it waits for room). Called with sh.mu
 * held; returns with it held. */
static void ring_append(ferd_shared *sh, ferd_result *r)
{
    while (sh->lossless && sh->ring_count == FERD_RESULT_RING && !sh->quit)
        pthread_cond_wait(&sh->infer_cond, &sh->mu);
    if (sh->ring_count == FERD_RESULT_RING) {
        ferd_result_free_images(&sh->ring[sh->ring_head]);
        sh->ring_head = (sh->ring_head + 1) % FERD_RESULT_RING;
        sh->ring_count--;
        sh->ring_overwritten++;
    }
    sh->ring[(sh->ring_head + sh->ring_count) % FERD_RESULT_RING] = *r;
    sh->ring_count++;
}

static void push_result(infer_state *is)
{
    ferd_shared *sh = &is->d->sh;
    pthread_mutex_lock(&sh->mu);
    sh->processed++;
    sh->busy_since_ns = 0;
    ring_append(sh, &is->out);
    pthread_mutex_unlock(&sh->mu);
    is->out.jpeg = is->out.annotated = NULL;
    is->out.jpeg_len = is->out.annotated_len = 0;
    uv_async_send(&is->d->wake);
}

/* The source ended and its last frame is done: END goes after the results.
 * Called with sh.mu held. */
static void push_end(infer_state *is)
{
    ferd_shared *sh = &is->d->sh;
    ferd_result e;
    memset(&e, 0, sizeof e);
    e.end = 1;
    e.end_msg = sh->end;
    sh->end_pushed = 1;
    ring_append(sh, &e);
    uv_async_send(&is->d->wake);
}

/* The END is due: the source ended, no frame is left to process, and it was
 * not queued yet. */
static int end_due(const ferd_shared *sh)
{
    return sh->source_ended && !sh->end_pushed && !sh->frame_fresh;
}

static void *infer_main(void *arg)
{
    infer_state is;
    memset(&is, 0, sizeof is);
    is.d = arg;
    is.p = is.d->pipeline;
    is.model = is.d->model;
    ferd_shared *sh = &is.d->sh;
    pthread_mutex_lock(&sh->mu);
    is.epoch = sh->idle_epoch;
    pthread_mutex_unlock(&sh->mu);
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        while (!sh->quit && !sh->reload_pending && !(sh->frame_fresh && sh->wanted) &&
               !end_due(sh))
            pthread_cond_wait(&sh->infer_cond, &sh->mu);
        if (sh->quit) {
            pthread_mutex_unlock(&sh->mu);
            break;
        }
        if (!sh->reload_pending && end_due(sh)) {
            push_end(&is);
            pthread_mutex_unlock(&sh->mu);
            continue;
        }
        if (sh->reload_pending) {
            char path[FERD_PATH_MAX];
            snprintf(path, sizeof path, "%s", sh->reload_path);
            const int tta = sh->tta;
            sh->reload_pending = 0;
            /* A load can hang (a network file system that stops answering):
             * the watchdog must see it as it sees a frame that never ends. */
            sh->busy_since_ns = fer_mono_ns();
            sh->busy_with = "loading a model";
            pthread_mutex_unlock(&sh->mu);
            /* The live tta key applies whether or not the model loads: it is valid
             * configuration either way (config.c checked it). */
            fer_error err = {0};
            if (fer_pipeline_set_tta(is.p, tta, &err) < 0)
                log_warning("reload: %s", err.msg);
            do_reload(&is, path);
            continue;
        }
        fer_frame tmp = is.frame;
        is.frame = sh->frame;
        sh->frame = tmp;
        sh->frame_fresh = 0;
        if (sh->lossless)
            pthread_cond_signal(&sh->capture_cond); /* capture waits for the slot */
        sh->busy_since_ns = fer_mono_ns();
        sh->busy_with = "a frame";
        int quality = sh->jpeg_quality;
        int fresh_start = sh->idle_epoch != is.epoch;
        is.epoch = sh->idle_epoch;
        pthread_mutex_unlock(&sh->mu);

        /* After an idle spell nothing of before may carry over. */
        if (fresh_start)
            fer_pipeline_restart(is.p);
        fer_error err = {0};
        int rc = fer_pipeline_process(is.p, &is.frame, &is.out.r, &err);
        if (rc < 0) {
            /* A bad frame costs that frame; say so a few times, not per frame. */
            if (is.errors_logged++ < 10)
                log_warning("pipeline: %s", err.msg);
            pthread_mutex_lock(&sh->mu);
            sh->busy_since_ns = 0;
            pthread_mutex_unlock(&sh->mu);
            continue;
        }
        int want = atomic_load(&sh->want_images);
        if (want)
            encode_images(&is, want, quality);
        is.out.ready_ns = fer_mono_ns();
        is.out.epoch = is.epoch;
        push_result(&is);
    }
    /* The thread owned these; hand them back for main to free. */
    is.d->pipeline = is.p;
    is.d->model = is.model;
    fer_frame_free(&is.frame);
    fer_image_free(&is.ann);
    ferd_result_free_images(&is.out);
    return NULL;
}

int ferd_infer_start(ferd *d)
{
    return -pthread_create(&d->infer_thread, NULL, infer_main, d);
}
