/*
 * ctl.c — STATUS and POLL for /api/status, /metrics and /api/snapshot.jpg,
 * over one control connection to ferd.
 *
 * ferd limits each client to requests_per_second (20 by default), and a POLL
 * while another waits is refused as busy, so HTTP requests are never passed on
 * one for one: at most one STATUS and one POLL are on their way at a time,
 * every request that arrives meanwhile waits for that answer, and an answer
 * younger than status_cache_ms (snapshot_cache_ms for pictures) is served
 * again without asking. A thousand scrapes a second cost ferd two STATUS
 * requests a second. A snapshot is served without asking ferd at all when a
 * live subscription received a picture of the wanted kind within the last
 * second.
 *
 * ferd answers requests in order, except that a POLL may be answered after
 * later requests: answers are matched by class (and ERRORs by their "request"
 * member), which is unambiguous with one request of each class in flight.
 * An answer that does not come within request_timeout_ms fails its waiters
 * (504) and the connection is closed, since a late answer would be mistaken
 * for the next one.
 *
 * ferd closes a connection idle for idle_timeout_seconds with ERROR timeout,
 * and a request sent at that moment crosses the ERROR and is lost with the
 * connection (PROTOCOL.md, Session). That is ordinary for a kept-open
 * connection, not a failure: the ERROR closes ours at once (so the next
 * request opens a new one), and when a connection is lost with requests
 * waiting, they are sent once more on a new connection. Both are reads
 * (STATUS, POLL), safe to repeat. Only a second loss in a row, before any
 * answer came, fails the waiters (503).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "util/log.h"

static void send_pending(http_app *app);

static void ctl_disconnect(http_app *app)
{
    http_ctl *ctl = &app->ctl;
    if (ctl->poll) {
        uv_poll_stop(ctl->poll);
        uv_close((uv_handle_t *)ctl->poll, http_free_handle);
        ctl->poll = NULL;
    }
    if (ctl->c) {
        fer_client_close(ctl->c);
        ctl->c = NULL;
    }
    ctl->status_out = 0;
    ctl->poll_out = 0;
}

static void ctl_fail(http_app *app, unsigned code, const char *why);

/* Answers every STATUS waiter: JSON for /api/status, text for /metrics (which
 * always answers 200: ferd_up says whether ferd did). ok 0: code and why. */
static void answer_status(http_app *app, int ok, unsigned code, const char *why)
{
    http_ctl *ctl = &app->ctl;
    while (ctl->status_waiters) {
        http_req *r = ctl->status_waiters;
        ctl->status_waiters = r->wnext;
        r->wnext = NULL;
        req_wait w = r->wait;
        r->wait = WAIT_NONE;
        if (w == WAIT_METRICS) {
            if (!ok) {
                free(ctl->status);
                ctl->status = NULL;
            }
            http_req_finish_metrics(r);
        } else if (ok) {
            http_req_finish(r, 200, "application/json", ctl->status_line, ctl->status_len);
        } else {
            http_req_finish_text(r, code, "%s", why);
        }
    }
}

/* Answers the POLL waiters that want kind: with pic, or code and why. */
static void answer_poll(http_app *app, fer_image_kind kind, http_msg *pic, unsigned code,
                        const char *why)
{
    http_req **p = &app->ctl.poll_waiters;
    while (*p) {
        http_req *r = *p;
        if (r->kind != kind) {
            p = &r->wnext;
            continue;
        }
        *p = r->wnext;
        r->wnext = NULL;
        r->wait = WAIT_NONE;
        if (pic)
            http_req_finish(r, 200, "image/jpeg", pic->data, pic->len);
        else
            http_req_finish_text(r, code, "%s", why);
    }
}

/* The connection failed or broke: everyone waiting hears why. */
static void ctl_fail(http_app *app, unsigned code, const char *why)
{
    ctl_disconnect(app);
    app->ctl.resent = 0;
    answer_status(app, 0, code, why);
    for (int k = FER_IMAGE_NONE; k <= FER_IMAGE_ANNOTATED; k++)
        answer_poll(app, (fer_image_kind)k, NULL, code, why);
}

/* The connection was lost (closed, reset, or a send refused). The requests
 * waiting are reads: the first loss since the last answer reconnects and
 * sends them again; a second fails them with why. */
static void ctl_lost(http_app *app, const char *why)
{
    http_ctl *ctl = &app->ctl;
    if ((ctl->status_waiters || ctl->poll_waiters) && !ctl->resent && !app->stopping) {
        fer_log(FER_LOG_INFO, "control connection: %s; reconnecting to send the request again",
                why);
        ctl_disconnect(app);
        ctl->resent = 1;
        send_pending(app);
        return;
    }
    char msg[700];
    if (ctl->resent)
        snprintf(msg, sizeof msg, "connection to ferd lost again after reconnecting: %.600s", why);
    else
        snprintf(msg, sizeof msg, "connection to ferd lost: %.600s", why);
    fer_log(FER_LOG_INFO, "control connection: %s", msg);
    ctl_fail(app, 503, msg);
}

/* The HTTP status for an ERROR answer of ferd's. */
static unsigned error_status(const char *code)
{
    if (strcmp(code, "forbidden") == 0)
        return 403;
    if (strcmp(code, "unavailable") == 0 || strcmp(code, "busy") == 0 ||
        strcmp(code, "rate_limit") == 0)
        return 503;
    return 502;
}

static void on_answer(http_app *app, fer_message *m)
{
    http_ctl *ctl = &app->ctl;
    uint64_t now = fer_mono_ns();
    if (m->kind == FER_MSG_STATUS || m->kind == FER_MSG_POLL || m->kind == FER_MSG_ERROR)
        ctl->resent = 0; /* this connection answers: a later loss may be resent again */
    if (m->kind == FER_MSG_STATUS && m->status) {
        size_t len;
        const char *line = fer_client_line(ctl->c, &len);
        char *copy = malloc(len + 1);
        fer_status_msg *st = malloc(sizeof *st);
        if (!copy || !st) {
            free(copy);
            free(st);
            ctl->status_out = 0;
            answer_status(app, 0, 500, "out of memory");
            return;
        }
        memcpy(copy, line, len);
        copy[len] = '\0';
        *st = *m->status;
        free(ctl->status_line);
        free(ctl->status);
        ctl->status_line = copy;
        ctl->status_len = len;
        ctl->status = st;
        ctl->status_ns = now;
        ctl->status_out = 0;
        answer_status(app, 1, 200, NULL);
    } else if (m->kind == FER_MSG_POLL) {
        fer_image_kind kind = ctl->poll_kind;
        ctl->poll_out = 0;
        if (m->image.kind == kind && m->image.jpeg) {
            http_msg *pic = http_msg_new(m->image.len, 1);
            if (!pic) {
                answer_poll(app, kind, NULL, 500, "out of memory");
                return;
            }
            memcpy(pic->data, m->image.jpeg, m->image.len);
            http_msg_unref(ctl->snap[kind]);
            ctl->snap[kind] = pic;
            ctl->snap_ns[kind] = now;
            answer_poll(app, kind, pic, 200, NULL);
        } else {
            answer_poll(app, kind, NULL, 502,
                        "ferd answered the POLL without a picture (the frame may be too large "
                        "to send)");
        }
    } else if (m->kind == FER_MSG_ERROR) {
        const fer_error_msg *e = &m->u.error;
        if (strcmp(e->code, "timeout") == 0 && !e->request[0]) {
            /* ferd closes the connection we left idle: open a new one when
             * needed; requests that crossed the ERROR go again on it. */
            fer_log(FER_LOG_DEBUG, "control connection: ferd closed it (%s)", e->message);
            if (ctl->status_out || ctl->poll_out) {
                ctl_lost(app, "closed by ferd as idle as a request was on its way");
            } else {
                ctl_disconnect(app);
                send_pending(app);
            }
            return;
        }
        char why[400];
        snprintf(why, sizeof why, "ferd refused %s: %s (%s)", e->request[0] ? e->request : "a request",
                 e->message, e->code);
        if (strcmp(e->request, "STATUS") == 0) {
            ctl->status_out = 0;
            answer_status(app, 0, error_status(e->code), why);
        } else if (strcmp(e->request, "POLL") == 0) {
            ctl->poll_out = 0;
            answer_poll(app, ctl->poll_kind, NULL, error_status(e->code), why);
        } else {
            fer_log(FER_LOG_WARNING, "control connection: %s", why);
        }
    }
    /* VERSION, SHUTDOWN and classes we do not know: nothing to answer. */
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    http_app *app = p->data;
    http_ctl *ctl = &app->ctl;
    (void)events;
    fer_error err = {0};
    for (int i = 0; i < 64 && ctl->c; i++) {
        int rc = status < 0 ? status : fer_client_read(ctl->c, 0, &ctl->m, &err);
        if (rc == -EAGAIN)
            break;
        if (rc == FER_E_PROTO) {
            app->metrics.undecodable++;
            continue;
        }
        if (status < 0) {
            /* libuv reports an error condition (a reset) as UV_EBADF. */
            ctl_lost(app, "an error on its socket (reset by ferd)");
            return;
        }
        if (rc < 0) {
            ctl_lost(app, err.msg[0] ? err.msg : fer_client_strerror(rc));
            return;
        }
        on_answer(app, &ctl->m);
    }
    send_pending(app);
}

static void on_open(http_open_job *job)
{
    http_app *app = job->owner;
    http_ctl *ctl = &app->ctl;
    if (app->stopping) {
        fer_client_close(job->c);
        return;
    }
    if (job->rc < 0) {
        app->metrics.ferd_failures++;
        snprintf(ctl->error, sizeof ctl->error, "cannot reach ferd: %.400s", job->err.msg);
        fer_log(FER_LOG_INFO, "control connection: %s", ctl->error);
        ctl_fail(app, 503, ctl->error);
        return;
    }
    app->metrics.ferd_connects++;
    ctl->c = job->c;
    ctl->opened_ns = fer_mono_ns();
    ctl->poll = malloc(sizeof *ctl->poll);
    if (!ctl->poll || uv_poll_init(app->loop, ctl->poll, fer_client_fd(ctl->c)) != 0) {
        free(ctl->poll);
        ctl->poll = NULL;
        ctl_fail(app, 500, "out of memory");
        return;
    }
    ctl->poll->data = app;
    uv_poll_start(ctl->poll, UV_READABLE, on_readable);
    send_pending(app);
}

static void ctl_open(http_app *app)
{
    http_ctl *ctl = &app->ctl;
    if (ctl->c || ctl->job.busy)
        return;
    http_open_job *job = &ctl->job;
    snprintf(job->path, sizeof job->path, "%s", app->socket_path);
    job->timeout_ms = app->cfg.request_timeout_ms;
    job->watch = 0;
    job->done = on_open;
    job->owner = app;
    int rc = http_open_start(app->loop, job);
    if (rc < 0) {
        char why[128];
        snprintf(why, sizeof why, "cannot start a connection: %s", uv_strerror(rc));
        ctl_fail(app, 500, why);
    }
}

/* Sends what waiters need and is not on its way yet (opening first if need be). */
static void send_pending(http_app *app)
{
    http_ctl *ctl = &app->ctl;
    if (!ctl->status_waiters && !ctl->poll_waiters)
        return;
    if (!ctl->c) {
        ctl_open(app);
        return;
    }
    fer_error err = {0};
    fer_request req;
    if (ctl->status_waiters && !ctl->status_out) {
        memset(&req, 0, sizeof req);
        req.kind = FER_REQ_STATUS;
        if (fer_client_send(ctl->c, &req, 0, &err) < 0) {
            ctl_lost(app, err.msg);
            return;
        }
        ctl->status_out = 1;
        ctl->status_sent_ns = fer_mono_ns();
    }
    if (ctl->poll_waiters && !ctl->poll_out) {
        memset(&req, 0, sizeof req);
        req.kind = FER_REQ_POLL;
        req.image = ctl->poll_waiters->kind;
        req.scores = 0;
        if (fer_client_send(ctl->c, &req, 0, &err) < 0) {
            ctl_lost(app, err.msg);
            return;
        }
        ctl->poll_out = 1;
        ctl->poll_kind = req.image;
        ctl->poll_sent_ns = fer_mono_ns();
    }
}

static void add_waiter(http_req **list, http_req *req, req_wait w, uint64_t deadline)
{
    req->wait = w;
    req->deadline_ns = deadline;
    req->wnext = NULL;
    while (*list)
        list = &(*list)->wnext;
    *list = req; /* in arrival order */
}

int http_ctl_status(http_app *app, http_req *req)
{
    http_ctl *ctl = &app->ctl;
    uint64_t now = fer_mono_ns();
    if (ctl->status_ns && ctl->status &&
        now - ctl->status_ns <= (uint64_t)app->cfg.status_cache_ms * 1000000u) {
        if (req->wait == WAIT_METRICS)
            http_req_finish_metrics(req);
        else
            http_req_finish(req, 200, "application/json", ctl->status_line, ctl->status_len);
        return 1;
    }
    req_wait w = req->wait == WAIT_METRICS ? WAIT_METRICS : WAIT_STATUS;
    add_waiter(&ctl->status_waiters, req, w,
               now + (uint64_t)app->cfg.request_timeout_ms * 1000000u);
    send_pending(app);
    return 0;
}

int http_ctl_snapshot(http_app *app, http_req *req)
{
    http_ctl *ctl = &app->ctl;
    uint64_t now = fer_mono_ns();
    fer_image_kind k = req->kind;
    if (ctl->snap[k] && now - ctl->snap_ns[k] <= (uint64_t)app->cfg.snapshot_cache_ms * 1000000u) {
        http_req_finish(req, 200, "image/jpeg", ctl->snap[k]->data, ctl->snap[k]->len);
        return 1;
    }
    http_msg *live = http_upstream_latest_jpeg(app, k, 1000000000u);
    if (live) {
        http_req_finish(req, 200, "image/jpeg", live->data, live->len);
        http_msg_unref(live);
        return 1;
    }
    add_waiter(&ctl->poll_waiters, req, WAIT_SNAPSHOT,
               now + (uint64_t)app->cfg.request_timeout_ms * 1000000u);
    send_pending(app);
    return 0;
}

/* Removes and answers the waiters of list whose deadline has passed. */
static void expire(http_app *app, http_req **list, uint64_t now_ns)
{
    while (*list) {
        http_req *r = *list;
        if (now_ns < r->deadline_ns) {
            list = &r->wnext;
            continue;
        }
        *list = r->wnext;
        r->wnext = NULL;
        req_wait w = r->wait;
        r->wait = WAIT_NONE;
        if (w == WAIT_METRICS) {
            free(app->ctl.status);
            app->ctl.status = NULL;
            http_req_finish_metrics(r);
        } else {
            http_req_finish_text(r, 504, "ferd did not answer within %d ms",
                                 app->cfg.request_timeout_ms);
        }
    }
}

void http_ctl_tick(http_app *app, uint64_t now_ns)
{
    http_ctl *ctl = &app->ctl;
    uint64_t limit = (uint64_t)app->cfg.request_timeout_ms * 1000000u;
    if ((ctl->status_out && now_ns - ctl->status_sent_ns > limit) ||
        (ctl->poll_out && now_ns - ctl->poll_sent_ns > limit)) {
        fer_log(FER_LOG_WARNING, "control connection: ferd did not answer within %d ms; "
                                 "reconnecting",
                app->cfg.request_timeout_ms);
        char why[128];
        snprintf(why, sizeof why, "ferd did not answer within %d ms", app->cfg.request_timeout_ms);
        ctl_fail(app, 504, why);
    }
    expire(app, &ctl->status_waiters, now_ns);
    expire(app, &ctl->poll_waiters, now_ns);
}

void http_ctl_detach(http_app *app, http_req *req)
{
    http_req **lists[] = {&app->ctl.status_waiters, &app->ctl.poll_waiters};
    for (size_t i = 0; i < 2; i++)
        for (http_req **p = lists[i]; *p; p = &(*p)->wnext)
            if (*p == req) {
                *p = req->wnext;
                req->wnext = NULL;
                req->wait = WAIT_NONE;
                return;
            }
}

void http_ctl_close(http_app *app)
{
    http_ctl *ctl = &app->ctl;
    ctl_fail(app, 503, "ferd-http is stopping");
    free(ctl->status_line);
    free(ctl->status);
    ctl->status_line = NULL;
    ctl->status = NULL;
    for (int k = 0; k < 3; k++) {
        http_msg_unref(ctl->snap[k]);
        ctl->snap[k] = NULL;
    }
    fer_message_clear(&ctl->m);
}
