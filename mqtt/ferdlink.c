/*
 * ferdlink.c — see ferdlink.h.
 *
 * Reading is bounded per call (MAX_LINES_PER_CALL lines per connection), and
 * lines already buffered are reported by fmq_ferd_pending so the loop comes
 * back without waiting: a burst from ferd cannot starve the broker side.
 */
#include "ferdlink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "ferclient.h"
#include "util/log.h"

/* fer_client_open's wait for ferd's greeting on the local socket. */
#define CONNECT_MS 2000
/* A request that does not fit the socket at once is given this long. */
#define SEND_MS 200
#define MAX_LINES_PER_CALL 64

enum { C_EVENTS, C_RESULTS, C_N };

typedef struct conn {
    fer_client *c;
    int acked;             /* its WATCH was acknowledged */
} conn;

struct fmq_ferd {
    const fmq_config *cfg;
    fmq_ferd_hooks hooks;
    const char *path;
    conn conn[C_N];
    int open;              /* the connections are open */
    int up;                /* every WATCH acknowledged (hooks.up called) */
    fmq_backoff backoff;
    int64_t next_attempt_ms;
    int64_t next_status_ms;
    int outage_logged, ever_up;
    unsigned long long connects;
    fer_message m;
};

int fmq_ferd_new(fmq_ferd **out, const fmq_config *cfg, const fmq_ferd_hooks *hooks)
{
    fmq_ferd *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->cfg = cfg;
    f->hooks = *hooks;
    f->path = fer_client_socket_path(cfg->socket[0] ? cfg->socket : NULL);
    fmq_backoff_init(&f->backoff, cfg->retry_initial_ms, cfg->retry_max_ms,
                     (uint64_t)getpid() * 11400714819323198485ull ^ (uint64_t)(uintptr_t)f);
    f->next_attempt_ms = 0;
    f->next_status_ms = INT64_MAX;
    *out = f;
    return 0;
}

static void close_all(fmq_ferd *f)
{
    for (int i = 0; i < C_N; i++) {
        fer_client_close(f->conn[i].c);
        f->conn[i].c = NULL;
        f->conn[i].acked = 0;
    }
    f->open = 0;
}

void fmq_ferd_free(fmq_ferd *f)
{
    if (!f)
        return;
    close_all(f);
    fer_message_clear(&f->m);
    free(f);
}

/* Gives up the connections; says so once per outage. */
static void lose(fmq_ferd *f, int64_t now_ms, const char *why)
{
    int was_up = f->up;
    close_all(f);
    f->up = 0;
    int delay = fmq_backoff_next(&f->backoff);
    f->next_attempt_ms = now_ms + delay;
    f->next_status_ms = INT64_MAX;
    if (was_up) {
        fer_log(FER_LOG_WARNING, "lost ferd at %s: %s; reconnecting", f->path, why);
        f->outage_logged = 1;
        if (f->hooks.down)
            f->hooks.down(f->hooks.ud);
    } else if (!f->outage_logged) {
        fer_log(FER_LOG_WARNING, "ferd at %s: %s; waiting for it (the instance is offline)",
                f->path, why);
        f->outage_logged = 1;
        if (f->hooks.down)
            f->hooks.down(f->hooks.ud);
    } else {
        fer_log(FER_LOG_DEBUG, "ferd at %s: %s; next attempt in %d ms", f->path, why, delay);
    }
}

static int send_req(fer_client *c, const fer_request *req, fer_error *err)
{
    return fer_client_send(c, req, SEND_MS, err);
}

static void attempt(fmq_ferd *f, int64_t now_ms)
{
    fer_error err = {0};
    int rc = 0;
    for (int i = 0; i < C_N && rc == 0; i++) {
        if (i == C_EVENTS && !f->cfg->events)
            continue;
        rc = fer_client_open(&f->conn[i].c, f->path, CONNECT_MS, &err);
    }
    if (rc < 0) {
        char why[600];
        if (rc == -ENOENT || rc == -ECONNREFUSED)
            snprintf(why, sizeof why, "%s", fer_client_strerror(rc));
        else if (rc == -EACCES)
            snprintf(why, sizeof why, "permission denied (is this user in ferd's socket group?)");
        else
            snprintf(why, sizeof why, "%s", err.msg[0] ? err.msg : fer_client_strerror(rc));
        lose(f, now_ms, why);
        return;
    }
    f->open = 1;
    fer_request req;
    memset(&req, 0, sizeof req);
    if (f->conn[C_EVENTS].c) {
        req.kind = FER_REQ_WATCH;
        fer_watch_default(&req.watch);
        req.watch.events = 1;
        req.watch.min_prob = f->cfg->min_prob;
        rc = send_req(f->conn[C_EVENTS].c, &req, &err);
    } else {
        f->conn[C_EVENTS].acked = 1;
    }
    /* STATUS first (the model's classes), then the current state, then the
     * stream. */
    if (rc == 0) {
        memset(&req, 0, sizeof req);
        req.kind = FER_REQ_STATUS;
        rc = send_req(f->conn[C_RESULTS].c, &req, &err);
    }
    if (rc == 0) {
        req.kind = FER_REQ_POLL;
        req.image = FER_IMAGE_NONE;
        req.scores = 1;
        rc = send_req(f->conn[C_RESULTS].c, &req, &err);
    }
    if (rc == 0) {
        req.kind = FER_REQ_WATCH;
        fer_watch_default(&req.watch);
        req.watch.max_fps = f->cfg->ferd_max_fps;
        req.watch.scores = 1;
        rc = send_req(f->conn[C_RESULTS].c, &req, &err);
    }
    if (rc < 0) {
        lose(f, now_ms, err.msg[0] ? err.msg : fer_client_strerror(rc));
        return;
    }
    f->connects++;
    f->next_status_ms =
        f->cfg->status_interval > 0 ? now_ms + (int64_t)(f->cfg->status_interval * 1000) : INT64_MAX;
}

static void check_up(fmq_ferd *f)
{
    if (f->up || !f->conn[C_EVENTS].acked || !f->conn[C_RESULTS].acked)
        return;
    f->up = 1;
    fmq_backoff_reset(&f->backoff);
    if (f->outage_logged)
        fer_log(FER_LOG_NOTICE, "ferd at %s is back", f->path);
    else if (!f->ever_up)
        fer_log(FER_LOG_INFO, "subscribed to ferd at %s", f->path);
    f->outage_logged = 0;
    f->ever_up = 1;
    if (f->hooks.up)
        f->hooks.up(f->hooks.ud);
}

/* One decoded message from connection i. Returns -1 when the link must be
 * given up (why filled). */
static int dispatch(fmq_ferd *f, int i, char *why, size_t n)
{
    fer_message *m = &f->m;
    size_t len = 0;
    const char *line;
    switch (m->kind) {
    case FER_MSG_WATCH:
        f->conn[i].acked = 1;
        check_up(f);
        return 0;
    case FER_MSG_FACE:
        if (i == C_EVENTS && f->hooks.event)
            f->hooks.event(f->hooks.ud, &m->u.face);
        return 0;
    case FER_MSG_RESULT:
    case FER_MSG_POLL:
        if (i == C_RESULTS && f->hooks.result) {
            line = fer_client_line(f->conn[i].c, &len);
            f->hooks.result(f->hooks.ud, m, line, len, m->kind == FER_MSG_POLL);
        }
        return 0;
    case FER_MSG_STATUS:
        if (m->status && f->hooks.status)
            f->hooks.status(f->hooks.ud, m->status);
        return 0;
    case FER_MSG_ERROR:
        /* A POLL without a frame yet, a STATUS over the rate limit: the
         * stream and the next period make up for them. A refused WATCH is
         * the subscription itself failing. */
        if (strcmp(m->u.error.request, "WATCH") == 0) {
            snprintf(why, n, "ferd refused the subscription: %s", m->u.error.message);
            return -1;
        }
        fer_log(FER_LOG_DEBUG, "ferd answered %s with %s: %s",
                m->u.error.request[0] ? m->u.error.request : "a request", m->u.error.code,
                m->u.error.message);
        return 0;
    default:
        /* VERSION, SHUTDOWN (the close that follows says it), and classes
         * this version does not know. */
        return 0;
    }
}

/* Reads what connection i has. -1 when the link was lost. */
static int drain(fmq_ferd *f, int i, int64_t now_ms)
{
    fer_client *c = f->conn[i].c;
    for (int k = 0; k < MAX_LINES_PER_CALL; k++) {
        fer_error err = {0};
        int rc = fer_client_read(c, 0, &f->m, &err);
        if (rc == -EAGAIN)
            return 0;
        if (rc == FER_E_PROTO) {
            fer_log(FER_LOG_DEBUG, "ferd: skipping a line that does not decode: %s", err.msg);
            if (f->hooks.bad_line)
                f->hooks.bad_line(f->hooks.ud);
            continue;
        }
        if (rc < 0) {
            char why[700];
            const char *bye = fer_client_shutdown_message(c);
            if (bye[0])
                snprintf(why, sizeof why, "ferd stopped: %s", bye);
            else
                snprintf(why, sizeof why, "%s", err.msg[0] ? err.msg : fer_client_strerror(rc));
            lose(f, now_ms, why);
            return -1;
        }
        char why[400] = "";
        if (dispatch(f, i, why, sizeof why) < 0) {
            lose(f, now_ms, why);
            return -1;
        }
    }
    return 0;
}

int fmq_ferd_pollfds(const fmq_ferd *f, struct pollfd *pfds)
{
    int n = 0;
    if (!f->open)
        return 0;
    for (int i = 0; i < C_N; i++)
        if (f->conn[i].c)
            pfds[n++] = (struct pollfd){.fd = fer_client_fd(f->conn[i].c), .events = POLLIN};
    return n;
}

void fmq_ferd_handle(fmq_ferd *f, const struct pollfd *pfds, int n, int64_t now_ms)
{
    for (int i = 0; i < C_N && f->open; i++) {
        fer_client *c = f->conn[i].c;
        if (!c)
            continue;
        int ready = fer_client_pending(c);
        for (int k = 0; k < n && !ready; k++)
            if (pfds[k].fd == fer_client_fd(c) && pfds[k].revents)
                ready = 1;
        if (ready && drain(f, i, now_ms) < 0)
            return;
    }
}

void fmq_ferd_tick(fmq_ferd *f, int64_t now_ms)
{
    if (!f->open) {
        if (now_ms >= f->next_attempt_ms)
            attempt(f, now_ms);
        return;
    }
    if (now_ms >= f->next_status_ms) {
        f->next_status_ms = now_ms + (int64_t)(f->cfg->status_interval * 1000);
        fer_request req;
        memset(&req, 0, sizeof req);
        req.kind = FER_REQ_STATUS;
        fer_error err = {0};
        int rc = send_req(f->conn[C_RESULTS].c, &req, &err);
        if (rc < 0 && rc != -ETIMEDOUT)
            lose(f, now_ms, err.msg[0] ? err.msg : fer_client_strerror(rc));
    }
}

int64_t fmq_ferd_next_ms(const fmq_ferd *f)
{
    return f->open ? f->next_status_ms : f->next_attempt_ms;
}

int fmq_ferd_pending(const fmq_ferd *f)
{
    if (!f->open)
        return 0;
    for (int i = 0; i < C_N; i++)
        if (f->conn[i].c && fer_client_pending(f->conn[i].c))
            return 1;
    return 0;
}

int fmq_ferd_is_up(const fmq_ferd *f)
{
    return f->up;
}

unsigned long long fmq_ferd_connects(const fmq_ferd *f)
{
    return f->connects;
}
