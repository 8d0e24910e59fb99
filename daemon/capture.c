/*
 * capture.c — the capture thread: owns the frame source, keeps it open (or
 * reopens it with back-off), and puts each frame into the frame slot.
 *
 * The slot holds one frame. Publishing swaps the thread's buffer with the
 * slot's under the mutex (no pixel copy); if inference had not taken the
 * previous frame while results were wanted, that frame is counted as dropped.
 * So when inference falls behind, the newest frame wins and latency stays one
 * frame at most.
 *
 * Failures never end the thread: a source that cannot be opened or is lost is
 * retried after fer_backoff_next() (0.5 s doubling to retry_max_ms), and the
 * state and last error are published for STATUS. A file played without
 * looping ends in state "ended". With close_camera_when_idle, the source is
 * closed once nobody has wanted results for idle_close_seconds, and opened
 * again on demand, as gpsd does with its devices.
 *
 * Sequence numbers continue across sources: a source reopened in place keeps
 * counting, and a fresh one (after an idle close) starts where the last ended.
 *
 * A file or image list with realtime off is lossless: publishing waits until
 * inference has taken the previous frame, so the file is read at the speed of
 * processing (and pauses while nobody wants results) and no frame is dropped.
 * A camera or stream never waits: the device would not.
 */
#include "capture.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "vision/pace.h"
#include "vision/source.h"

const char *ferd_source_state_name(ferd_source_state s)
{
    static const char *const names[] = {"starting", "streaming", "reconnecting",
                                        "ended", "error", "idle"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "error";
}

/* retry_ms: the back-off delay before the next try (0: none), for the
 * service manager's status line. */
static void set_state(ferd_shared *sh, ferd_source_state st, const char *error, uint32_t retry_ms)
{
    pthread_mutex_lock(&sh->mu);
    sh->state = st;
    snprintf(sh->error, sizeof sh->error, "%s", error ? error : "");
    sh->retry_ms = retry_ms;
    pthread_mutex_unlock(&sh->mu);
}

/* Sleeps the back-off delay unless quit or a wake-up comes first. 1 if quitting. */
static int backoff_sleep(ferd_shared *sh, uint32_t ms)
{
    pthread_mutex_lock(&sh->mu);
    if (!sh->quit)
        ferd_cond_wait_ms(&sh->capture_cond, &sh->mu, ms);
    int quit = sh->quit;
    pthread_mutex_unlock(&sh->mu);
    return quit;
}

/* Failures that may heal by themselves are "reconnecting"; the rest "error"
 * (still retried: a permission or a driver can be fixed while we run). */
static ferd_source_state failure_state(int rc)
{
    return rc == -ENOENT || rc == FER_E_LOST || rc == -EBUSY || rc == -ENODEV
               ? FERD_SRC_RECONNECTING
               : FERD_SRC_ERROR;
}

typedef struct capture_state {
    ferd *d;
    fer_source *src;
    int lost;                 /* src exists but must be reopened */
    fer_backoff backoff;
    fer_frame cur;
    uint64_t seq_base, last_seq;
    char last_error[512];     /* to log a repeated failure once */
    uint64_t win_start;
    long win_frames;
} capture_state;

/* Logs a failure unless it repeats the previous one word for word. */
static void log_failure(capture_state *cs, const char *what, const char *msg, uint32_t delay)
{
    if (strcmp(cs->last_error, msg) == 0) {
        log_debug("source: %s: %s (retrying in %u ms)", what, msg, delay);
        return;
    }
    snprintf(cs->last_error, sizeof cs->last_error, "%s", msg);
    log_warning("source: %s: %s; retrying in %u ms", what, msg, delay);
}

static void opened(capture_state *cs, int reopen)
{
    ferd_shared *sh = &cs->d->sh;
    fer_source_info info;
    fer_source_get_info(cs->src, &info);
    fer_backoff_reset(&cs->backoff);
    cs->last_error[0] = '\0';
    cs->win_start = fer_mono_ns();
    cs->win_frames = 0;
    pthread_mutex_lock(&sh->mu);
    sh->state = FERD_SRC_STREAMING;
    sh->error[0] = '\0';
    snprintf(sh->kind, sizeof sh->kind, "%s", fer_source_kind_name(info.kind));
    sh->width = info.width;
    sh->height = info.height;
    sh->fps = info.fps;
    if (reopen)
        sh->reopens++;
    sh->lossless = !cs->d->thread_cfg.realtime &&
                   (info.kind == FER_SOURCE_VIDEO || info.kind == FER_SOURCE_IMAGE ||
                    info.kind == FER_SOURCE_IMAGES);
    pthread_mutex_unlock(&sh->mu);
    log_info("source %s %s: %s %dx%d at %.3g fps", info.name, reopen ? "reopened" : "opened",
             fer_source_kind_name(info.kind), info.width, info.height, info.fps);
}

/* Opens (or reopens) the source; 0 on success, else sleeps the back-off and
 * returns the error (1 if told to quit meanwhile). */
static int open_source(capture_state *cs)
{
    ferd *d = cs->d;
    fer_error err = {0};
    int rc;
    if (cs->src) {
        rc = fer_source_reopen(cs->src, &err);
    } else {
        fer_source_opts o;
        fer_source_opts_default(&o);
        o.width = d->thread_cfg.capture_width;
        o.height = d->thread_cfg.capture_height;
        o.fps = d->thread_cfg.capture_fps;
        o.loop = d->thread_cfg.loop;
        o.realtime = d->thread_cfg.realtime;
        o.timeout_ms = d->thread_cfg.stream_timeout_ms;
        o.cancel = &d->sh.stop;
        o.max_pixels = d->thread_cfg.max_image_pixels;
        rc = fer_source_open(&cs->src, d->thread_cfg.source, &o, &err);
        if (rc == 0)
            cs->seq_base = cs->last_seq;
    }
    if (rc == 0) {
        int reopen = cs->lost;
        cs->lost = 0;
        opened(cs, reopen);
        return 0;
    }
    uint32_t delay = fer_backoff_next(&cs->backoff);
    set_state(&d->sh, failure_state(rc), err.msg, delay);
    log_failure(cs, cs->src ? "reopen" : "open", err.msg, delay);
    return backoff_sleep(&d->sh, delay) ? 1 : rc;
}

static void publish(capture_state *cs)
{
    ferd_shared *sh = &cs->d->sh;
    cs->cur.seq += cs->seq_base;
    cs->last_seq = cs->cur.seq;
    pthread_mutex_lock(&sh->mu);
    /* Lossless: the previous frame must be taken first (infer signals us). */
    while (sh->lossless && sh->frame_fresh && !sh->quit)
        pthread_cond_wait(&sh->capture_cond, &sh->mu);
    uint64_t now = fer_mono_ns();
    cs->win_frames++;
    if (sh->frame_fresh && sh->wanted)
        sh->dropped++;
    fer_frame tmp = sh->frame;
    sh->frame = cs->cur;
    cs->cur = tmp;
    sh->frame_fresh = 1;
    sh->captured++;
    sh->state = FERD_SRC_STREAMING;
    sh->width = sh->frame.img.w;
    sh->height = sh->frame.img.h;
    /* The rate actually delivered, over windows of about two seconds. */
    if (now - cs->win_start >= 2000000000ull) {
        sh->fps = (double)cs->win_frames * 1e9 / (double)(now - cs->win_start);
        cs->win_start = now;
        cs->win_frames = 0;
    }
    if (sh->wanted)
        pthread_cond_signal(&sh->infer_cond);
    pthread_mutex_unlock(&sh->mu);
}

/* The idle policy: 1 if the thread should wait (source closed while idle). */
static int idle_wait(capture_state *cs, uint64_t *idle_since)
{
    ferd_shared *sh = &cs->d->sh;
    pthread_mutex_lock(&sh->mu);
    int wanted = sh->wanted, close_idle = sh->close_when_idle;
    uint64_t idle_ns = (uint64_t)sh->idle_close_seconds * 1000000000ull;
    pthread_mutex_unlock(&sh->mu);
    uint64_t now = fer_mono_ns();
    if (wanted || !close_idle) {
        *idle_since = 0;
        return 0;
    }
    if (!*idle_since)
        *idle_since = now;
    if (cs->src && now - *idle_since < idle_ns)
        return 0;
    if (cs->src) {
        fer_source_close(cs->src);
        cs->src = NULL;
        cs->lost = 0;
        log_info("source closed: no client has wanted results for %d s",
                 (int)(idle_ns / 1000000000ull));
    }
    pthread_mutex_lock(&sh->mu);
    sh->state = FERD_SRC_IDLE;
    sh->fps = 0;
    /* The frame in the slot is from before the close: a POLL or watcher that
     * wakes the source must get a frame of now, not that one. */
    sh->frame_fresh = 0;
    if (!sh->quit && !sh->wanted)
        ferd_cond_wait_ms(&sh->capture_cond, &sh->mu, 1000);
    pthread_mutex_unlock(&sh->mu);
    return 1;
}

static void *capture_main(void *arg)
{
    capture_state cs;
    memset(&cs, 0, sizeof cs);
    cs.d = arg;
    ferd_shared *sh = &cs.d->sh;
    fer_backoff_init(&cs.backoff, (uint32_t)cs.d->thread_cfg.retry_initial_ms,
                     (uint32_t)cs.d->thread_cfg.retry_max_ms, 2.0);
    uint64_t idle_since = 0;
    int errors_in_row = 0;
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        int quit = sh->quit;
        pthread_mutex_unlock(&sh->mu);
        if (quit)
            break;
        if (idle_wait(&cs, &idle_since))
            continue;
        if (!cs.src || cs.lost) {
            if (open_source(&cs) != 0)
                continue;
        }
        fer_error err = {0};
        int rc = fer_source_read(cs.src, &cs.cur, &err);
        if (rc == 0) {
            errors_in_row = 0;
            publish(&cs);
            continue;
        }
        if (rc == FER_E_EOF) {
            log_notice("source: %s; no more frames", err.msg);
            pthread_mutex_lock(&sh->mu);
            sh->state = FERD_SRC_ENDED;
            snprintf(sh->error, sizeof sh->error, "%s", err.msg);
            sh->retry_ms = 0;
            /* Inference tells the loop once the last frame is through. */
            sh->source_ended = 1;
            memset(&sh->end, 0, sizeof sh->end);
            snprintf(sh->end.source, sizeof sh->end.source, "%.255s", cs.d->thread_cfg.source);
            snprintf(sh->end.message, sizeof sh->end.message, "%.255s", err.msg);
            sh->end.frames = sh->captured;
            sh->end.seq = cs.last_seq;
            pthread_cond_broadcast(&sh->infer_cond);
            while (!sh->quit)
                pthread_cond_wait(&sh->capture_cond, &sh->mu);
            pthread_mutex_unlock(&sh->mu);
            break;
        }
        /* One unreadable image of a list: the next read goes on with the next
         * image. Anything else repeated is treated as a lost source. */
        if (rc != FER_E_LOST && ++errors_in_row < 10) {
            log_warning("source: %s", err.msg);
            continue;
        }
        errors_in_row = 0;
        cs.lost = 1;
        uint32_t delay = fer_backoff_next(&cs.backoff);
        set_state(sh, FERD_SRC_RECONNECTING, err.msg, delay);
        log_failure(&cs, "lost", err.msg, delay);
        backoff_sleep(sh, delay);
    }
    fer_source_close(cs.src);
    fer_frame_free(&cs.cur);
    return NULL;
}

int ferd_capture_start(ferd *d)
{
    return -pthread_create(&d->capture_thread, NULL, capture_main, d);
}
