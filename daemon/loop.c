/*
 * loop.c — what runs on the loop thread besides the sockets: draining the
 * inference thread's results and reload answers, the housekeeping timer, the
 * watchdog, the reaper, signals, reload and orderly shutdown.
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
#include "server.h"

uint64_t ferd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void ferd_update_demand(ferd *d)
{
    int wanted = d->watching > 0 || d->polls_waiting > 0;
    pthread_mutex_lock(&d->sh.mu);
    if (d->sh.wanted != wanted) {
        d->sh.wanted = wanted;
        pthread_cond_broadcast(&d->sh.infer_cond);
        pthread_cond_broadcast(&d->sh.capture_cond);
    }
    pthread_mutex_unlock(&d->sh.mu);
}

/* ---- results and reload answers from the inference thread ---- */

/*
 * One result from the ring: it becomes the latest (for POLLs that can be
 * answered at once), its capture-to-loop latency is sampled, and it goes out
 * to the clients. The previous latest result's pictures are freed here.
 */
static void take_result(ferd *d, ferd_result *res)
{
    uint64_t now = ferd_now_ns();
    ferd_result_free_images(&d->last);
    d->last = *res;
    d->has_last = 1;
    d->stats.results++;
    if (res->r.mono_ns && now > res->r.mono_ns)
        ferd_stats_add_latency(&d->stats, (double)(now - res->r.mono_ns) * 1e-6);
    ferd_fanout_result(d, &d->last);
}

/*
 * The inference thread has tried the model a reload asked for. Every client
 * that asked (and is still the same connection: slot and id must match) gets
 * the RELOAD answer or the ERROR; the outcome is logged once; systemd hears
 * READY=1 again, which ends the RELOADING=1 state.
 */
static void reload_answered(ferd *d, int rc, const char *msg, const fer_model_info *info)
{
    fer_reload_msg ack;
    memset(&ack, 0, sizeof ack);
    if (rc == 0) {
        d->model_info = *info;
        log_notice("model reloaded: %s (%s, %d classes)", info->path, info->name,
                   info->nclasses);
        ack.model = *info;
        ack.nrestart = d->reload_nrestart;
        memcpy(ack.restart, d->reload_restart, sizeof ack.restart);
    } else {
        log_err("reload: %s; the model %s keeps serving", msg, d->model_info.path);
    }
    for (int i = 0; i < d->nreload_waiters; i++) {
        ferd_client *c = &d->clients[d->reload_waiters[i].slot];
        if (!c->in_use || c->id != d->reload_waiters[i].id)
            continue; /* gone meanwhile */
        if (rc == 0) {
            char *json = NULL;
            fer_reload_to_json(&ack, &json);
            ferd_client_reply(c, json);
        } else {
            ferd_client_error(c, "reload_failed", "RELOAD", "%s; the previous model keeps serving",
                              msg);
        }
    }
    d->nreload_waiters = 0;
    d->reload_in_flight = 0;
    d->notify_status[0] = '\0'; /* READY again, with a fresh STATUS */
    ferd_notify_ready("Reloaded");
    ferd_notify_status(d);
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
            reload_answered(d, rc, msg, &info);
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
    uint64_t now = ferd_now_ns();
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
    pthread_mutex_unlock(&d->sh.mu);
    if (busy && ferd_now_ns() - busy > d->watchdog_usec * 1000ull) {
        log_err("inference has been busy with one frame for over %llu ms; not pinging the "
                "watchdog", (unsigned long long)(d->watchdog_usec / 1000));
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
    pthread_mutex_unlock(&d->sh.mu);
    if (st == FERD_SRC_STREAMING)
        snprintf(s, sizeof s, "Source %.160s streaming at %.0f fps; %d clients, %d watching",
                 d->cfg.source, fps, d->connected, d->watching);
    else
        snprintf(s, sizeof s, "Source %.160s %s; %d clients, %d watching", d->cfg.source,
                 ferd_source_state_name(st), d->connected, d->watching);
    if (strcmp(s, d->notify_status) == 0)
        return;
    snprintf(d->notify_status, sizeof d->notify_status, "%s", s);
    ferd_notify_status_line(s);
}

/* ---- reload ---- */

/* Reads the config file and the command-line settings into n. -EINVAL with
 * the reasons in msg. */
int ferd_load_config(ferd *d, fer_config *n, char *msg, size_t len)
{
    fer_config_default(n);
    msg[0] = '\0';
    if (d->config_path[0] && fer_config_load(n, d->config_path, msg, len) < 0)
        return -EINVAL;
    for (int i = 0; i < d->noverrides; i++) {
        size_t used = strlen(msg);
        if (fer_config_set(n, d->overrides[i].key, d->overrides[i].value, msg + used,
                           len - used) < 0)
            return -EINVAL;
    }
    if (fer_config_validate(n, msg, len) < 0)
        return -EINVAL;
    gid_t g;
    if (ferd_group_id(n->socket_group, &g) < 0) {
        snprintf(msg, len, "socket_group %s: no such group", n->socket_group);
        return -EINVAL;
    }
    if (ferd_group_id(n->image_group, &g) < 0) {
        snprintf(msg, len, "image_group %s: no such group", n->image_group);
        return -EINVAL;
    }
    if (ferd_group_id(n->reload_group, &g) < 0) {
        snprintf(msg, len, "reload_group %s: no such group", n->reload_group);
        return -EINVAL;
    }
    return 0;
}

/* Applies what a reload may change while running. */
static void apply_live(ferd *d, const fer_config *n)
{
    fer_config_apply_live(&d->cfg, n);
    fer_log_set_level(d->cfg.log_level);
    ferd_group_id(d->cfg.image_group, &d->image_gid);
    ferd_group_id(d->cfg.reload_group, &d->reload_gid);
    pthread_mutex_lock(&d->sh.mu);
    d->sh.close_when_idle = d->cfg.close_camera_when_idle;
    d->sh.idle_close_seconds = d->cfg.idle_close_seconds;
    d->sh.jpeg_quality = d->cfg.jpeg_quality;
    pthread_cond_broadcast(&d->sh.capture_cond);
    pthread_mutex_unlock(&d->sh.mu);
    /* Groups may have changed: decide each client's rights again. */
    for (int i = 0; i < d->nslots; i++)
        d->clients[i].images_ok = d->clients[i].reload_ok = -1;
}

/*
 * Reload, from SIGHUP or a RELOAD request. The whole configuration is read and
 * validated first; with any error nothing changes. Then the live keys apply at
 * once, the keys that need a restart are logged and remembered for the answer,
 * and the model is handed to the inference thread, which loads it between
 * frames and answers through the wake-up async. Reloads asked for while one is
 * under way wait for the same answer.
 */
void ferd_reload(ferd *d, ferd_client *requester)
{
    if (d->stopping)
        return;
    fer_config *n = malloc(sizeof *n);
    char msg[2048];
    if (!n) {
        if (requester)
            ferd_client_error(requester, "internal", "RELOAD", "out of memory");
        return;
    }
    if (ferd_load_config(d, n, msg, sizeof msg) < 0) {
        /* Nothing changes: the running configuration stays whole. */
        char *nl = strchr(msg, '\n');
        log_err("reload: invalid configuration: %s", msg);
        if (requester) {
            if (nl && nl[1] == '\0')
                *nl = '\0';
            ferd_client_error(requester, "config_invalid", "RELOAD",
                              "invalid configuration, nothing changed: %s", msg);
        }
        free(n);
        return;
    }
    if (requester && d->nreload_waiters == FERD_RELOAD_WAITERS) {
        ferd_client_error(requester, "busy", "RELOAD", "too many reloads waiting");
        free(n);
        return;
    }
    d->reload_nrestart = fer_config_restart_keys(&d->cfg, n, d->reload_restart,
                                                 FER_RELOAD_MAX_KEYS);
    for (int i = 0; i < d->reload_nrestart; i++)
        log_warning("reload: %s changed; it applies after a restart", d->reload_restart[i]);
    apply_live(d, n);
    free(n);
    if (requester) {
        d->reload_waiters[d->nreload_waiters].slot = requester->slot;
        d->reload_waiters[d->nreload_waiters].id = requester->id;
        d->nreload_waiters++;
    }
    if (d->reload_in_flight)
        return; /* the answer under way covers this one too */
    d->reload_in_flight = 1;
    ferd_notify_reloading();
    pthread_mutex_lock(&d->sh.mu);
    snprintf(d->sh.reload_path, sizeof d->sh.reload_path, "%s", d->cfg.model);
    d->sh.reload_pending = 1;
    pthread_cond_signal(&d->sh.infer_cond);
    pthread_mutex_unlock(&d->sh.mu);
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

/* Tells the threads to finish and waits for them. */
void ferd_threads_stop(ferd *d)
{
    if (!d->threads_started)
        return;
    pthread_mutex_lock(&d->sh.mu);
    d->sh.quit = 1;
    pthread_cond_broadcast(&d->sh.infer_cond);
    pthread_cond_broadcast(&d->sh.capture_cond);
    pthread_mutex_unlock(&d->sh.mu);
    pthread_join(d->capture_thread, NULL);
    pthread_join(d->infer_thread, NULL);
    d->threads_started = 0;
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
    close_handle(d, (uv_handle_t *)&d->wake);
    close_handle(d, (uv_handle_t *)&d->cron);
    close_handle(d, (uv_handle_t *)&d->watchdog);
    close_handle(d, (uv_handle_t *)&d->reaper);
    close_handle(d, (uv_handle_t *)&d->sig_hup);
    close_handle(d, (uv_handle_t *)&d->sig_term);
    close_handle(d, (uv_handle_t *)&d->sig_int);
}
