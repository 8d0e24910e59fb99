/*
 * loop.c — what runs on the loop thread besides the sockets: draining the
 * inference thread's results and reload answers, the housekeeping timer, the
 * watchdog, the reaper, signals and orderly shutdown. (Reload itself is
 * reload.c's; demand, demand.c's.)
 *
 * The wake-up async is the one door from the other threads into the loop.
 * uv_async_send coalesces, so one callback may stand for several results and
 * a reload answer: on_wake drains the whole ring and checks for a reload
 * answer every time, whatever woke it.
 */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "client.h"
#include "fanout.h"
#include "infer.h"
#include "log.h"
#include "notify.h"
#include "reload.h"
#include "server.h"

/* ---- results and reload answers from the inference thread ---- */

/*
 * One result from the ring: it becomes the latest (for POLLs that can be
 * answered at once), its capture-to-loop latency is sampled, and it goes out
 * to the clients. The previous latest result's pictures are freed here.
 */
static void take_result(ferd *d, ferd_result *res)
{
    if (res->end) {
        /* Every frame of the source is out: now watchers hear that it ended. */
        d->ended = 1;
        d->end = res->end_msg;
        log_info("source ended (%s): telling the watchers", res->end_msg.message);
        ferd_fanout_end(d);
        return;
    }
    if (res->epoch != d->sh.idle_epoch) {
        /* Its frame was taken before an idle spell began (only this thread
         * moves the epoch, so it reads it unlocked): the watchers it was for
         * are gone, a POLL from idle wants a current frame, and its tracks,
         * ended by the restart that follows, would reach a new watcher as ends
         * of faces it was never shown. */
        ferd_result_free_images(res);
        return;
    }
    uint64_t now = fer_mono_ns();
    /* The track table first: it filters "ended" down to tracks clients saw.
     * With nobody watching (a POLL's result, or one finished just after the
     * last watcher left) nobody is shown anything to remember. */
    if (d->watching > 0) {
        ferd_tracks_update(&d->tracks, &res->r);
    } else {
        ferd_tracks_clear(&d->tracks);
        res->r.nended = 0;
    }
    ferd_result_free_images(&d->last);
    d->last = *res;
    d->has_last = 1;
    d->stats.results++;
    if (res->r.mono_ns && now > res->r.mono_ns)
        ferd_stats_add_latency(&d->stats, (double)(now - res->r.mono_ns) * 1e-6);
    ferd_fanout_result(d, &d->last);
}

/*
 * The inference thread's wake-up. Sends coalesce, so this drains everything:
 * every result in the ring, oldest first, then a reload answer if one is
 * ready. The mutex is held only to move one entry out, never while sending.
 */
static void on_wake(uv_async_t *h)
{
    ferd *d = h->data;
    ferd_shared *sh = &d->sh;
    for (;;) {
        ferd_result res;
        int have = 0, reload = 0, rc = 0;
        char msg[512];
        fer_model_info info;
        pthread_mutex_lock(&sh->mu);
        if (sh->ring_count > 0) {
            res = sh->ring[sh->ring_head];
            memset(&sh->ring[sh->ring_head], 0, sizeof sh->ring[0]);
            sh->ring_head = (sh->ring_head + 1) % FERD_RESULT_RING;
            sh->ring_count--;
            have = 1;
            if (sh->lossless)
                pthread_cond_broadcast(&sh->infer_cond); /* room for a waiting result */
        }
        d->stats.results_lost = sh->ring_overwritten;
        if (!have && sh->reload_done) {
            sh->reload_done = 0;
            reload = 1;
            rc = sh->reload_rc;
            snprintf(msg, sizeof msg, "%s", sh->reload_msg);
            info = sh->reload_info;
        }
        pthread_mutex_unlock(&sh->mu);
        if (have)
            take_result(d, &res);
        else if (reload)
            ferd_reload_answered(d, rc, msg, &info);
        else
            break;
    }
}

/* ---- timers and the reaper ---- */

/* Housekeeping every 100 ms, like redis's serverCron: limits, deadlines, reaping,
 * and the service manager's status line once a second. */
static void on_cron(uv_timer_t *t)
{
    ferd *d = t->data;
    uint64_t now = fer_mono_ns();
    ferd_clients_cron(d, now);
    ferd_clients_reap(d);
    if (now - d->last_status_ns >= 1000000000ull) {
        d->last_status_ns = now;
        ferd_notify_status(d);
    }
}

static void on_watchdog(uv_timer_t *t)
{
    ferd *d = t->data;
    /* The loop is alive, since this runs; the inference thread must not be
     * stuck in one frame either, or systemd should restart us. */
    pthread_mutex_lock(&d->sh.mu);
    uint64_t busy = d->sh.busy_since_ns;
    const char *what = d->sh.busy_with;
    pthread_mutex_unlock(&d->sh.mu);
    if (busy && fer_mono_ns() - busy > d->watchdog_usec * 1000ull) {
        log_err("inference has been busy with %s for over %llu ms; not pinging the watchdog",
                what ? what : "a frame", (unsigned long long)(d->watchdog_usec / 1000));
        return;
    }
    ferd_notify_watchdog();
}

static void on_reap(uv_check_t *h)
{
    ferd_clients_reap(h->data);
}

static void on_signal(uv_signal_t *s, int signum)
{
    ferd *d = s->data;
    if (signum == SIGHUP) {
        log_notice("SIGHUP: reloading");
        ferd_reload(d, NULL);
    } else {
        log_notice("%s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
        ferd_stop(d);
    }
}

/* ---- status line for the service manager ---- */

void ferd_notify_status(ferd *d)
{
    char s[256];
    pthread_mutex_lock(&d->sh.mu);
    ferd_source_state st = d->sh.state;
    double fps = d->sh.fps;
    uint32_t retry_ms = d->sh.retry_ms;
    char error[72];
    /* The status line has room for the start of the error only. */
    snprintf(error, sizeof error, "%.71s", d->sh.error);
    pthread_mutex_unlock(&d->sh.mu);
    if (st == FERD_SRC_STREAMING)
        snprintf(s, sizeof s, "Source %.160s streaming at %.0f fps; %d clients, %d watching",
                 d->cfg.source, fps, d->connected, d->watching);
    else if (st == FERD_SRC_RECONNECTING || st == FERD_SRC_ERROR)
        /* A missing camera is a state to wait in, not a failure of the
         * service: say what ferd waits for and how often it looks. */
        snprintf(s, sizeof s, "Waiting for %.80s (%s); retrying every %.3g s with back-off; "
                 "%d clients, %d watching", d->cfg.source, error, retry_ms / 1000.0,
                 d->connected, d->watching);
    else
        snprintf(s, sizeof s, "Source %.160s %s; %d clients, %d watching", d->cfg.source,
                 ferd_source_state_name(st), d->connected, d->watching);
    if (strcmp(s, d->notify_status) == 0)
        return;
    snprintf(d->notify_status, sizeof d->notify_status, "%s", s);
    ferd_notify_status_line(s);
}

/* ---- start and stop ---- */

static void on_handle_closed(uv_handle_t *h)
{
    ferd *d = h->data;
    d->handles_open--;
}

static void close_handle(ferd *d, uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h)) {
        h->data = d;
        uv_close(h, on_handle_closed);
    }
}

int ferd_loop_init(ferd *d)
{
    int rc = uv_async_init(d->loop, &d->wake, on_wake);
    if (rc < 0)
        return rc;
    d->wake.data = d;
    d->handles_open++;
    uv_timer_init(d->loop, &d->cron);
    d->cron.data = d;
    d->handles_open++;
    uv_timer_init(d->loop, &d->watchdog);
    d->watchdog.data = d;
    d->handles_open++;
    uv_check_init(d->loop, &d->reaper);
    d->reaper.data = d;
    d->handles_open++;
    uv_signal_t *sigs[3] = {&d->sig_hup, &d->sig_term, &d->sig_int};
    int nums[3] = {SIGHUP, SIGTERM, SIGINT};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(d->loop, sigs[i]);
        sigs[i]->data = d;
        d->handles_open++;
        rc = uv_signal_start(sigs[i], on_signal, nums[i]);
        if (rc < 0)
            return rc;
    }
    uv_timer_start(&d->cron, on_cron, 100, 100);
    uv_check_start(&d->reaper, on_reap);
    d->watchdog_usec = ferd_notify_watchdog_usec();
    if (d->watchdog_usec) {
        uint64_t ms = d->watchdog_usec / 2000;
        uv_timer_start(&d->watchdog, on_watchdog, ms ? ms : 1, ms ? ms : 1);
        log_info("watchdog: pinging every %llu ms", (unsigned long long)(ms ? ms : 1));
    }
    return 0;
}

/* Joins t until deadline (CLOCK_REALTIME, as pthread_timedjoin_np wants);
 * 0 when it finished, else -ETIMEDOUT. */
static int join_by(pthread_t t, const struct timespec *deadline)
{
    int rc;
    while ((rc = pthread_timedjoin_np(t, NULL, deadline)) == EINTR)
        ;
    return rc ? -rc : 0;
}

/*
 * Tells the threads to finish and waits for them, for at most stop_timeout_ms
 * in all. Waits end at quit (condition variables, pacing in slices), a frame
 * or a stream read ends within stream_timeout_ms, a model load reads a regular
 * file; but a read from a device or a network file system that never returns
 * cannot be interrupted, and shutdown must not wait on it forever (issue 13,
 * class 1). A thread still running at the deadline is named in the log and
 * left behind: d->threads_stuck tells main to exit without touching what the
 * thread owns.
 */
void ferd_threads_stop(ferd *d)
{
    if (!d->threads_started)
        return;
    pthread_mutex_lock(&d->sh.mu);
    d->sh.quit = 1;
    atomic_store(&d->sh.stop, 1);
    pthread_cond_broadcast(&d->sh.infer_cond);
    pthread_cond_broadcast(&d->sh.capture_cond);
    pthread_mutex_unlock(&d->sh.mu);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    uint64_t ns = (uint64_t)dl.tv_nsec + (uint64_t)d->cfg.stop_timeout_ms * 1000000ull;
    dl.tv_sec += (time_t)(ns / 1000000000ull);
    dl.tv_nsec = (long)(ns % 1000000000ull);
    int cap = join_by(d->capture_thread, &dl);
    int inf = join_by(d->infer_thread, &dl);
    d->threads_started = 0;
    if (cap || inf) {
        d->threads_stuck = 1;
        pthread_mutex_lock(&d->sh.mu);
        const char *what = d->sh.busy_since_ns ? d->sh.busy_with : NULL;
        pthread_mutex_unlock(&d->sh.mu);
        log_err("the %s%s%s did not finish within stop_timeout_ms (%d ms)%s%s; exiting without "
                "it", cap ? "capture thread (reading the source)" : "",
                cap && inf ? " and the " : "", inf ? "inference thread" : "",
                d->cfg.stop_timeout_ms, what ? ", busy with " : "", what ? what : "");
    }
}

/*
 * Orderly shutdown, from SIGTERM or SIGINT: STOPPING=1; no new connections;
 * SHUTDOWN to each client that can take it now, then every client closed; the
 * threads told to quit and joined (the capture thread finishes its current
 * read, at most a frame or a stream timeout); then every remaining handle is
 * closed, after which uv_run returns and main checks uv_loop_close() == 0.
 */
void ferd_stop(ferd *d)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    ferd_notify_stopping();
    /* No new clients; tell the connected ones; then the threads, whose
     * uv_async_send needs the wake handle open until they are gone. */
    ferd_server_close(d);
    char *bye = NULL;
    fer_shutdown_to_json("ferd is stopping", &bye);
    ferd_clients_close_all(d, bye);
    free(bye);
    ferd_threads_stop(d);
    if (d->threads_stuck)
        /* A thread left behind may still wake the loop: the handle stays open
         * (so its uv_async_send hits nothing freed) but no longer keeps the
         * loop running, and main exits without closing the loop. */
        uv_unref((uv_handle_t *)&d->wake);
    else
        close_handle(d, (uv_handle_t *)&d->wake);
    close_handle(d, (uv_handle_t *)&d->cron);
    close_handle(d, (uv_handle_t *)&d->watchdog);
    close_handle(d, (uv_handle_t *)&d->reaper);
    close_handle(d, (uv_handle_t *)&d->sig_hup);
    close_handle(d, (uv_handle_t *)&d->sig_term);
    close_handle(d, (uv_handle_t *)&d->sig_int);
}
