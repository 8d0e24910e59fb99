/*
 * upstream.c — ferd-http's subscriptions to ferd, each shared by the viewers
 * that asked for the same thing.
 *
 * One subscription is one connection to ferd with one WATCH. Viewers that ask
 * for the same WATCH options in the same format (the live page's stream, an
 * MJPEG stream, /api/events with equal parameters) share it: ten browsers on
 * the page cost ferd one client, and ferd's per-client work (a queue push and a
 * write per frame) does not grow with the audience. The exception is
 * /api/events with events=1: ferd may start a face-event subscription with the
 * current state of every face, which a late joiner of a shared connection
 * would miss, so each such stream has its own.
 *
 * Each message from ferd is framed once for HTTP (an SSE event, an MJPEG part)
 * into the subscription's ring (ring.h), from which every viewer reads at its
 * own pace. ferd's socket is read whenever it is readable, whatever the viewers
 * do: a slow browser costs only its own frames.
 *
 * Life cycle: a subscription is opened when a stream asks for it (open.c runs
 * the blocking connect and WATCH off the loop thread); requests wait for the
 * first WATCH up to request_timeout_ms. When ferd goes away, viewers stay
 * connected, are told so (an SSE "gateway" event), and the subscription
 * retries with a back-off of 0.5 s doubling to 5 s. When its last viewer
 * leaves it lingers a few seconds (a page reload reuses it), then closes. A
 * WATCH that ferd refuses (pictures not allowed for this process) ends it
 * with that answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "util/log.h"

#define RING_MESSAGES 16
#define RING_BYTES (8u << 20)
#define LINGER_MS 3000
#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS 5000

static void start_open(http_upstream *up);
static void release(http_upstream *up);

const char *http_upstream_state_name(up_state s)
{
    static const char *const names[] = {"connecting", "connected", "disconnected", "refused"};
    return s >= 0 && s <= UP_REFUSED ? names[s] : "?";
}

static int same_watch(const fer_watch *a, const fer_watch *b)
{
    return a->enable == b->enable && a->max_fps == b->max_fps && a->min_prob == b->min_prob &&
           a->events == b->events && a->scores == b->scores && a->image == b->image;
}

static void describe(const http_upstream *up, char *buf, size_t n)
{
    static const char *const fmts[] = {"events", "mjpeg", "metrics"};
    snprintf(buf, n, "%s subscription (max_fps %g, min_prob %g, events %d, scores %d, image %s)",
             fmts[up->fmt], up->w.max_fps, up->w.min_prob, up->w.events, up->w.scores,
             fer_image_kind_name(up->w.image));
}

static void maybe_free(http_upstream *up)
{
    if (up->dead && !up->job.busy && up->timer_closed) {
        fer_message_clear(&up->m);
        free(up);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    http_upstream *up = h->data;
    up->timer_closed = 1;
    maybe_free(up);
}

/* Stops reading and closes the connection (the ring stays: viewers finish). */
static void disconnect(http_upstream *up)
{
    if (up->poll) {
        uv_poll_stop(up->poll);
        uv_close((uv_handle_t *)up->poll, http_free_handle);
        up->poll = NULL;
    }
    if (up->c) {
        fer_client_close(up->c);
        up->c = NULL;
    }
    if (up->state == UP_WATCHING)
        up->app->metrics.subscriptions--;
}

/* Tells every viewer the state changed (SSE viewers get a notice). */
static void wake_all(http_upstream *up)
{
    for (http_req *r = up->viewers; r; r = r->wnext)
        http_stream_wake(r);
}

/* Answers every waiting request with code and the subscription's error. */
static void fail_waiters(http_upstream *up, unsigned code)
{
    while (up->waiting) {
        http_req *r = up->waiting;
        up->waiting = r->wnext;
        r->wnext = NULL;
        r->wait = WAIT_NONE;
        r->up = NULL;
        http_req_finish_text(r, code, "%s", up->error);
    }
}

/* Unlinks and closes up; memory goes once the open job and the timer are done. */
static void destroy(http_upstream *up)
{
    http_app *app = up->app;
    for (http_upstream **p = &app->ups; *p; p = &(*p)->next)
        if (*p == up) {
            *p = up->next;
            break;
        }
    if (up != app->metrics_up)
        app->nups--;
    else
        app->metrics_up = NULL;
    disconnect(up);
    http_ring_clear(&up->ring);
    http_msg_unref(up->ack);
    http_msg_unref(up->jpeg);
    up->ack = up->jpeg = NULL;
    up->dead = 1;
    uv_timer_stop(&up->timer);
    uv_close((uv_handle_t *)&up->timer, on_timer_closed);
}

static void on_linger(uv_timer_t *t)
{
    http_upstream *up = t->data;
    if (!up->viewers && !up->waiting && up != up->app->metrics_up) {
        char what[256];
        describe(up, what, sizeof what);
        fer_log(FER_LOG_DEBUG, "%s closed: no viewers", what);
        destroy(up);
    }
}

static void on_retry(uv_timer_t *t)
{
    http_upstream *up = t->data;
    if (up->state == UP_BACKOFF)
        start_open(up);
}

/* Nobody needs up any more: linger (to be reused by a reload), or go now. */
static void release(http_upstream *up)
{
    if (up->viewers || up->waiting || up == up->app->metrics_up)
        return;
    if (up->state == UP_WATCHING && up->shared && !up->app->stopping) {
        uv_timer_start(&up->timer, on_linger, LINGER_MS, 0);
        return;
    }
    destroy(up); /* an open still running finds it dead and closes what it opened */
}

/* Frames one message of ferd's for this subscription's format and pushes it. */
static void push(http_upstream *up, const fer_message *m, const char *line, size_t len,
                 uint64_t now_ns)
{
    http_msg *msg = NULL;
    if (up->fmt == UP_SSE) {
        if (m->kind == FER_MSG_VERSION || m->kind == FER_MSG_WATCH || m->kind == FER_MSG_ERROR)
            return; /* answers to our own requests, not the stream */
        msg = http_msg_new(len + 8, m->kind == FER_MSG_RESULT);
        if (!msg)
            return;
        memcpy(msg->data, "data: ", 6);
        memcpy(msg->data + 6, line, len);
        memcpy(msg->data + 6 + len, "\n\n", 2);
    } else if (up->fmt == UP_MJPEG) {
        if (m->kind != FER_MSG_RESULT || m->image.kind != up->w.image || !m->image.jpeg)
            return;
        char head[128];
        int hl = snprintf(head, sizeof head,
                          "--ferdframe\r\nContent-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n",
                          m->image.len);
        msg = http_msg_new((size_t)hl + m->image.len + 2, 1);
        if (!msg)
            return;
        memcpy(msg->data, head, (size_t)hl);
        memcpy(msg->data + hl, m->image.jpeg, m->image.len);
        memcpy(msg->data + hl + m->image.len, "\r\n", 2);
    } else {
        return;
    }
    (void)now_ns;
    http_ring_push(&up->ring, msg);
    up->messages++;
}

/* Keeps the newest picture as raw JPEG for /api/snapshot.jpg. */
static void keep_picture(http_upstream *up, const fer_message *m, uint64_t now_ns)
{
    if (m->image.kind == FER_IMAGE_NONE || !m->image.jpeg)
        return;
    http_msg *j = http_msg_new(m->image.len, 1);
    if (!j)
        return;
    memcpy(j->data, m->image.jpeg, m->image.len);
    http_msg_unref(up->jpeg);
    up->jpeg = j;
    up->jpeg_kind = m->image.kind;
    up->jpeg_ns = now_ns;
}

static void schedule_retry(http_upstream *up)
{
    up->state = UP_BACKOFF;
    if (up->backoff_ms <= 0)
        up->backoff_ms = BACKOFF_FIRST_MS;
    uv_timer_start(&up->timer, on_retry, (uint64_t)up->backoff_ms, 0);
    up->backoff_ms = up->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : up->backoff_ms * 2;
}

/* ferd went away or the connection broke: viewers stay, and we retry. */
static void lost(http_upstream *up, const char *why)
{
    char what[256];
    describe(up, what, sizeof what);
    fer_log(FER_LOG_NOTICE, "%s: connection to ferd lost: %s; retrying", what, why);
    snprintf(up->error, sizeof up->error, "connection to ferd lost: %s", why);
    disconnect(up);
    up->state = UP_BACKOFF;
    if (!up->viewers && up != up->app->metrics_up) {
        destroy(up);
        return;
    }
    up->backoff_ms = BACKOFF_FIRST_MS;
    schedule_retry(up);
    wake_all(up);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    http_upstream *up = p->data;
    http_app *app = up->app;
    (void)events;
    fer_error err = {0};
    /* Bounded per callback so one busy subscription cannot starve the loop;
     * lines left in the buffer raise no new event, so come back for them. */
    for (int i = 0; i < 256; i++) {
        int rc = status < 0 ? status : fer_client_read(up->c, 0, &up->m, &err);
        if (rc == -EAGAIN)
            break;
        if (rc == FER_E_PROTO) {
            app->metrics.undecodable++;
            fer_log(FER_LOG_DEBUG, "a line from ferd did not decode: %s", err.msg);
            continue;
        }
        if (rc < 0) {
            const char *bye = fer_client_shutdown_message(up->c);
            char why[600];
            if (bye && *bye)
                snprintf(why, sizeof why, "ferd stopped (%s)", bye);
            else
                snprintf(why, sizeof why, "%s", err.msg[0] ? err.msg : fer_client_strerror(rc));
            lost(up, why);
            return;
        }
        uint64_t now = fer_mono_ns();
        size_t len;
        const char *line = fer_client_line(up->c, &len);
        if (up->m.kind == FER_MSG_RESULT) {
            if (up == app->metrics_up)
                http_metrics_result(&app->metrics, &up->m, now);
            keep_picture(up, &up->m, now);
        }
        push(up, &up->m, line, len, now);
    }
    wake_all(up);
}

static void on_open(http_open_job *job)
{
    http_upstream *up = job->owner;
    http_app *app = up->app;
    if (up->dead) {
        fer_client_close(job->c);
        maybe_free(up);
        return;
    }
    char what[256];
    describe(up, what, sizeof what);
    if (job->rc == 0) {
        up->c = job->c;
        up->state = UP_WATCHING;
        up->backoff_ms = 0;
        app->metrics.ferd_connects++;
        app->metrics.subscriptions++;
        up->error[0] = '\0';
        up->poll = malloc(sizeof *up->poll);
        if (!up->poll || uv_poll_init(app->loop, up->poll, fer_client_fd(up->c)) != 0) {
            free(up->poll);
            up->poll = NULL;
            lost(up, "out of memory");
            return;
        }
        up->poll->data = up;
        uv_poll_start(up->poll, UV_READABLE, on_readable);
        if (up->fmt == UP_SSE) {
            size_t al = strlen(job->ack_line);
            http_msg *ack = http_msg_new(al + 8, 0);
            if (ack) {
                memcpy(ack->data, "data: ", 6);
                memcpy(ack->data + 6, job->ack_line, al);
                memcpy(ack->data + 6 + al, "\n\n", 2);
            }
            http_msg_unref(up->ack);
            up->ack = ack;
        }
        fer_log(FER_LOG_INFO, "%s: watching (ferd's caps: max_fps %g, image %s)", what,
                job->ack.max_fps, fer_image_kind_name(job->ack.image));
        up->ever_watched = 1;
        /* Waiters become viewers; they start streaming when resumed. */
        while (up->waiting) {
            http_req *r = up->waiting;
            up->waiting = r->wnext;
            r->wnext = NULL;
            r->wait = WAIT_NONE;
            r->start_stream = 1;
            http_upstream_attach(up, r);
            http_req_resume(r);
        }
        wake_all(up);
        if (fer_client_pending(up->c))
            on_readable(up->poll, 0, UV_READABLE);
        if (!up->viewers)
            release(up);
        return;
    }
    app->metrics.ferd_failures++;
    /* A WATCH over the user's request budget (another program of ours
     * flooding ferd) is refused only for now: it takes the retry path below,
     * like a ferd that is away, where other refusals are final. */
    int over_rate = job->rc == FER_CLIENT_E_REFUSED && strcmp(job->refusal, "rate_limit") == 0;
    if (job->rc == FER_CLIENT_E_REFUSED && !over_rate) {
        up->state = UP_REFUSED;
        snprintf(up->error, sizeof up->error, "%.400s (%s)", job->err.msg,
                 job->refusal[0] ? job->refusal : "error");
        up->refusal_code = strcmp(job->refusal, "forbidden") == 0   ? 403
                           : strcmp(job->refusal, "bad_field") == 0 ? 400
                                                                    : 502;
        fer_log(FER_LOG_NOTICE, "%s: %s", what, up->error);
        fail_waiters(up, (unsigned)up->refusal_code);
        for (http_req *r = up->viewers; r; r = r->wnext)
            r->end = 1;
        wake_all(up);
        if (!up->viewers)
            destroy(up);
        return;
    }
    /* ferd not running, not answering, not ferd, or over the rate. */
    if (over_rate)
        snprintf(up->error, sizeof up->error, "%.400s (rate_limit)", job->err.msg);
    else
        snprintf(up->error, sizeof up->error, "cannot reach ferd: %.400s", job->err.msg);
    if (up->ever_watched || up->viewers || up == app->metrics_up) {
        if (up->backoff_ms <= BACKOFF_FIRST_MS)
            fer_log(FER_LOG_NOTICE, "%s: %s; retrying", what, up->error);
    } else {
        fer_log(FER_LOG_INFO, "%s: %s", what, up->error);
    }
    fail_waiters(up, 503);
    if (!up->viewers && up != app->metrics_up) {
        destroy(up);
        return;
    }
    schedule_retry(up);
    wake_all(up);
}

static void start_open(http_upstream *up)
{
    http_app *app = up->app;
    up->state = UP_OPENING;
    http_open_job *job = &up->job;
    snprintf(job->path, sizeof job->path, "%s", app->socket_path);
    job->timeout_ms = app->cfg.request_timeout_ms;
    job->watch = 1;
    job->w = up->w;
    job->done = on_open;
    job->owner = up;
    int rc = http_open_start(app->loop, job);
    if (rc < 0) {
        snprintf(up->error, sizeof up->error, "cannot start a connection: %s", uv_strerror(rc));
        schedule_retry(up);
    }
}

static http_upstream *create(http_app *app, up_format fmt, const fer_watch *w, int shared)
{
    http_upstream *up = calloc(1, sizeof *up);
    if (!up)
        return NULL;
    up->app = app;
    up->fmt = fmt;
    up->w = *w;
    up->shared = shared;
    http_ring_init(&up->ring, RING_MESSAGES, RING_BYTES);
    uv_timer_init(app->loop, &up->timer);
    up->timer.data = up;
    up->next = app->ups;
    app->ups = up;
    start_open(up);
    return up;
}

http_upstream *http_upstream_get(http_app *app, up_format fmt, const fer_watch *w, char *why,
                                 size_t n)
{
    int shared = !(fmt == UP_SSE && w->events);
    if (shared)
        for (http_upstream *up = app->ups; up; up = up->next)
            if (up->fmt == fmt && up->shared && up->state != UP_REFUSED && same_watch(&up->w, w)) {
                /* A lingering one is in use again; one waiting to retry tries now. */
                uv_timer_stop(&up->timer);
                if (up->state == UP_BACKOFF)
                    start_open(up);
                return up;
            }
    if (app->nups >= app->cfg.max_subscriptions) {
        snprintf(why, n,
                 "too many distinct subscriptions to ferd (max_subscriptions %d): ask for the "
                 "same options as an existing stream, or try later",
                 app->cfg.max_subscriptions);
        return NULL;
    }
    http_upstream *up = create(app, fmt, w, shared);
    if (!up) {
        snprintf(why, n, "out of memory");
        return NULL;
    }
    app->nups++;
    return up;
}

void http_upstream_metrics_start(http_app *app)
{
    fer_watch w;
    fer_watch_default(&w);
    w.scores = 0;
    app->metrics_up = create(app, UP_METRICS, &w, 0);
}

void http_upstream_attach(http_upstream *up, http_req *req)
{
    req->up = up;
    req->streaming = 1;
    req->pos = http_ring_start(&up->ring);
    req->wnext = up->viewers;
    up->viewers = req;
    up->nviewers++;
}

void http_upstream_wait(http_upstream *up, http_req *req)
{
    req->up = up;
    req->wait = WAIT_UPSTREAM;
    req->deadline_ns = fer_mono_ns() + (uint64_t)up->app->cfg.request_timeout_ms * 1000000u;
    req->wnext = up->waiting;
    up->waiting = req;
}

static int unlink_req(http_req **list, http_req *req)
{
    for (http_req **p = list; *p; p = &(*p)->wnext)
        if (*p == req) {
            *p = req->wnext;
            req->wnext = NULL;
            return 1;
        }
    return 0;
}

void http_upstream_detach(http_upstream *up, http_req *req)
{
    if (unlink_req(&up->viewers, req))
        up->nviewers--;
    unlink_req(&up->waiting, req);
    req->up = NULL;
    req->streaming = 0;
    if (up->state == UP_REFUSED && !up->viewers && !up->waiting)
        destroy(up);
    else
        release(up);
}

http_msg *http_upstream_latest_jpeg(http_app *app, fer_image_kind k, uint64_t max_age_ns)
{
    uint64_t now = fer_mono_ns();
    http_msg *best = NULL;
    uint64_t best_ns = 0;
    for (http_upstream *up = app->ups; up; up = up->next)
        if (up->state == UP_WATCHING && up->jpeg && up->jpeg_kind == k &&
            now - up->jpeg_ns <= max_age_ns && up->jpeg_ns > best_ns) {
            best = up->jpeg;
            best_ns = up->jpeg_ns;
        }
    if (best)
        http_msg_ref(best);
    return best;
}

void http_upstream_tick(http_app *app, uint64_t now_ns)
{
    for (http_upstream *up = app->ups; up; up = up->next) {
        http_req **p = &up->waiting;
        while (*p) {
            http_req *r = *p;
            if (now_ns < r->deadline_ns) {
                p = &r->wnext;
                continue;
            }
            *p = r->wnext;
            r->wnext = NULL;
            r->wait = WAIT_NONE;
            r->up = NULL;
            http_req_finish_text(r, 504, "ferd did not answer the subscription within %d ms%s%s",
                                 app->cfg.request_timeout_ms, up->error[0] ? ": " : "",
                                 up->error);
        }
    }
}

void http_upstream_close_all(http_app *app)
{
    while (app->ups) {
        http_upstream *up = app->ups;
        fail_waiters(up, 503);
        /* Viewers are ended by the server's stop; they hold no pointer after this. */
        while (up->viewers) { /* their readers end the streams */
            http_req *r = up->viewers;
            up->viewers = r->wnext;
            r->wnext = NULL;
            r->up = NULL;
        }
        up->nviewers = 0;
        destroy(up);
    }
}
