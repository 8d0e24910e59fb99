/*
 * client.c — the client table, request input, bounded output and limits.
 *
 * The table is one array allocated at start-up: max_clients slots for serving
 * plus a few reserve slots used only to answer a connection over the limit
 * with an ERROR before closing it. Each slot has its request buffer in one
 * block (max_line bytes each), so a client costs no allocation on accept.
 *
 * Writing: each client has at most one uv_write in flight, carrying the head of
 * its queue (capped in messages and bytes so one fast client cannot monopolise
 * the loop). libuv tries the write at once when its own queue is empty, so a
 * reader that keeps up gets each result with no extra wake-up; when the socket
 * is full the write completes later and the rest of the queue follows. libuv
 * never bounds what it is given, so the bounds live here: see client.h.
 */
#include "client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "demand.h"
#include "dispatch.h"
#include "limits.h"
#include "log.h"

static void on_close(uv_handle_t *h);
static void flush(ferd_client *c);

int ferd_clients_init(ferd *d)
{
    d->nslots = d->cfg.max_clients + FERD_REJECT_SLOTS;
    d->clients = calloc((size_t)d->nslots, sizeof *d->clients);
    d->inbufs = malloc((size_t)d->nslots * FER_PROTO_MAX_REQUEST);
    if (!d->clients || !d->inbufs || ferd_userrate_init(&d->users, d->nslots) < 0) {
        ferd_clients_free(d);
        return -ENOMEM;
    }
    for (int i = 0; i < d->nslots; i++) {
        d->clients[i].slot = i;
        d->clients[i].d = d;
        d->clients[i].in = d->inbufs + (size_t)i * FER_PROTO_MAX_REQUEST;
    }
    return 0;
}

void ferd_clients_free(ferd *d)
{
    free(d->clients);
    free(d->inbufs);
    ferd_userrate_free(&d->users);
    d->clients = NULL;
    d->inbufs = NULL;
    d->nslots = 0;
}

/* ---- input ---- */

/*
 * libuv asks where to put the bytes it is about to read: straight into the
 * client's line buffer, after what it holds, never past max_line. So a request
 * is never copied, and the memory a client can make the daemon hold for its
 * input is max_line bytes, allocated at start-up.
 */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    ferd_client *c = h->data;
    size_t max = (size_t)c->d->cfg.max_line;
    /* on_read handles a full buffer before returning, so there is always room. */
    buf->base = c->in + c->inlen;
    buf->len = c->inlen < max ? max - c->inlen : 0;
}

/*
 * Splits the buffer into lines and dispatches each, in order; a partial last
 * line stays for the next read, and its deadline runs from its first byte.
 * Dispatching stops as soon as the client is marked for closing (a reply over
 * the hard limit, say): what follows in the buffer was sent by a client we are
 * about to drop. It also stops at a line refused for the client's rate: the
 * lines after it stay in the buffer, reading stops, and the cron resumes both
 * once the bucket holds a token (resume_if_due), so a client that floods is
 * answered one ERROR per refill period instead of one per line. A buffer full
 * without a newline is an over-long line: ERROR, stop reading, close once it
 * is written.
 */
static void consume(ferd_client *c, uint64_t now)
{
    ferd *d = c->d;
    size_t start = 0;
    for (size_t i = 0; i < c->inlen && !c->rate_paused; i++) {
        if (c->in[i] != '\n')
            continue;
        if (!c->close_pending) {
            c->last_active_ns = now;
            ferd_dispatch_line(c, c->in + start, i + 1 - start);
        }
        start = i + 1;
    }
    if (start > 0) {
        memmove(c->in, c->in + start, c->inlen - start);
        c->inlen -= start;
        /* What is left began in this read, after the last newline. */
        c->line_start_ns = c->inlen ? now : 0;
    }
    if (c->close_pending)
        return;
    if (c->rate_paused) {
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->pipe);
            c->reading = 0;
        }
        return;
    }
    if (c->inlen >= (size_t)d->cfg.max_line) {
        /* An over-long line: say so, then close. Reading the rest of it would
         * only let a client make the daemon scan without bound. */
        unsigned long held;
        d->stats.line_disconnects++;
        if (ferd_lograte_ok(&d->log_too_long, now, &held))
            log_notice("client %u (uid %lld): request line longer than %d bytes, closing "
                       "(%lu more since the last such line logged)", c->id, c->peer.uid,
                       d->cfg.max_line, held);
        c->inlen = 0;
        c->line_start_ns = 0;
        ferd_client_close_with_error(c, "too_long", "request line longer than %d bytes; closing",
                                     d->cfg.max_line);
    }
}

/*
 * The peer shut down its writing side (a half-close, as `echo ... | socat`
 * does): it sends no more requests but is owed an answer to each one it sent
 * (PROTOCOL.md, Session). A last request ended by the end of the stream
 * instead of a newline counts as a line. The client is closed once nothing
 * more is owed (ferd_client_finish_if_done); a subscriber goes on receiving.
 */
/* 1 if the peer closed its whole socket, not just its writing side: a Unix
 * socket whose peer has shut down both directions polls as POLLHUP. No answer
 * can reach such a peer, so it is closed at once. */
static int peer_gone(ferd_client *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
        return 1;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static void half_closed(ferd_client *c)
{
    if (peer_gone(c)) {
        ferd_client_close(c, "disconnected");
        return;
    }
    c->peer_closed = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = 0;
    }
    if (c->inlen > 0 && !c->close_pending && !c->close_after_write) {
        c->last_active_ns = fer_mono_ns();
        ferd_dispatch_line(c, c->in, c->inlen);
    }
    c->inlen = 0;
    c->line_start_ns = 0;
    ferd_client_finish_if_done(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    ferd_client *c = s->data;
    if (nread == UV_EOF) {
        if (!c->close_pending)
            half_closed(c);
        return;
    }
    if (nread < 0) {
        ferd_client_close(c, uv_strerror((int)nread));
        return;
    }
    if (c->close_pending || nread == 0)
        return;
    uint64_t now = fer_mono_ns();
    if (c->inlen == 0)
        c->line_start_ns = now;
    c->inlen += (size_t)nread;
    consume(c, now);
}

/* ---- accept ---- */

/* A free slot of the table: max_clients for those admitted, and a few more
 * that hold a refused connection just long enough to tell it why. */
static ferd_client *free_slot(ferd *d)
{
    for (int i = 0; i < d->nslots; i++)
        if (!d->clients[i].in_use)
            return &d->clients[i];
    return NULL;
}

/* The admission rule of slots.h for newcomer c: counts the admitted clients
 * (those in d->connected) that are unprivileged and that share c's uid. */
static ferd_admit_verdict admit(ferd *d, const ferd_client *c, ferd_slot_policy *pol)
{
    ferd_slots_from_config(pol, &d->cfg);
    int unprivileged = 0, same_uid = 0;
    for (int i = 0; i < d->nslots; i++) {
        const ferd_client *o = &d->clients[i];
        if (o == c || !o->in_use || o->reject || o->closing || o->privileged)
            continue;
        unprivileged++;
        same_uid += o->peer.uid == c->peer.uid;
    }
    return ferd_slots_admit(pol, d->connected, unprivileged, same_uid, c->privileged);
}

/* Tells a connection that may not have a slot why (ERROR too_many_clients),
 * logs it (rate-limited: a peer can connect in a loop), and closes it. */
static void refuse(ferd_client *c, ferd_admit_verdict v, const ferd_slot_policy *pol)
{
    ferd *d = c->d;
    char why[160];
    switch (v) {
    case FERD_REFUSE_UID:
        snprintf(why, sizeof why, "too many connections from uid %lld (the most one user may "
                 "hold is %d); close one and try again", c->peer.uid, pol->per_uid);
        break;
    case FERD_REFUSE_RESERVED:
        snprintf(why, sizeof why, "too many clients: the free slots are kept for root and the "
                 "daemon's user (reserved_clients %d); try again later", pol->reserved);
        break;
    default:
        snprintf(why, sizeof why, "too many clients (the maximum is %d); try again later",
                 pol->max_clients);
        break;
    }
    c->reject = 1;
    d->stats.rejected++;
    unsigned long held;
    if (ferd_lograte_ok(&d->log_refused, fer_mono_ns(), &held))
        log_notice("client %u (uid %lld, pid %lld) refused: %s (%lu more refused since the last "
                   "logged)", c->id, c->peer.uid, c->peer.pid, why, held);
    ferd_client_close_with_error(c, "too_many_clients", "%s", why);
}

/* The peer's uid, gid and pid (SO_PEERCRED): what images and RELOAD are
 * granted by. Unknown (-1) if the kernel does not say, which grants nothing. */
static void read_peer(ferd_client *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
        fd = -1;
    ferd_peer_read(fd, &c->peer);
}

void ferd_client_accept(ferd *d)
{
    if (d->stopping)
        return;
    ferd_client *c = free_slot(d);
    if (!c) {
        /* No slot at all: libuv keeps the connection queued and stops watching
         * the listener until we accept it, from a close callback. */
        d->accept_pending = 1;
        return;
    }
    d->accept_pending = 0;
    char *in = c->in;
    int slot = c->slot;
    memset(c, 0, sizeof *c);
    c->in = in;
    c->slot = slot;
    c->d = d;
    ferd_outq_init(&c->out);
    int rc = uv_pipe_init(d->loop, &c->pipe, 0);
    if (rc < 0) {
        log_err("client: uv_pipe_init: %s", uv_strerror(rc));
        return;
    }
    c->pipe.data = c;
    c->in_use = 1;
    c->id = ++d->next_client_id;
    c->images_ok = c->reload_ok = -1;
    c->poll_scores = 1;
    rc = uv_accept((uv_stream_t *)&d->server, (uv_stream_t *)&c->pipe);
    if (rc < 0) {
        log_warning("accept: %s", uv_strerror(rc));
        c->reject = 1; /* never admitted: not in d->connected */
        ferd_client_close(c, "accept failed");
        return;
    }
    read_peer(c);
    c->privileged = c->peer.uid == 0 || (c->peer.uid >= 0 && (uid_t)c->peer.uid == geteuid());
    ferd_slot_policy pol;
    ferd_admit_verdict v = admit(d, c, &pol);
    if (v != FERD_ADMIT) {
        refuse(c, v, &pol);
        return;
    }
    d->stats.accepted++;
    d->connected++;
    uint64_t now = fer_mono_ns();
    c->last_active_ns = now;
    ferd_bucket_init(&c->bucket, d->cfg.request_burst, now);
    if (!c->privileged)
        c->user = ferd_userrate_attach(&d->users, c->peer.uid, d->cfg.request_burst_per_uid, now);
    log_debug("client %u connected (uid %lld, pid %lld)", c->id, c->peer.uid, c->peer.pid);
    ferd_dispatch_greet(c);
    if (c->close_pending)
        return;
    rc = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    if (rc < 0) {
        ferd_client_close(c, uv_strerror(rc));
        return;
    }
    c->reading = 1;
}

/* ---- output ---- */

/*
 * The in-flight head of the queue was written (or failed). Releases it, clears
 * the soft-limit clock once the queue has drained to half the soft limit
 * (hysteresis, so a client hovering at the limit is not reset by every write),
 * and starts the next write or the deferred close.
 */
static void on_write(uv_write_t *req, int status)
{
    ferd_client *c = req->data;
    unsigned n = c->out.inflight;
    c->writing = 0;
    ferd_outq_end_write(&c->out);
    if (status < 0) {
        /* UV_ECANCELED: uv_close is under way. Anything else: the peer is gone. */
        if (status != UV_ECANCELED)
            ferd_client_close(c, uv_strerror(status));
        return;
    }
    c->sent += n;
    ferd_limits lim;
    ferd_limits_from_config(&lim, &c->d->cfg);
    ferd_limits_written(&lim, &c->out, &c->soft_since_ns);
    if (c->close_pending)
        return;
    if (c->out.count > 0) {
        flush(c);
    } else if (c->close_after_write) {
        ferd_client_close(c, c->reject ? "rejected" : "closed after error");
    } else {
        ferd_client_finish_if_done(c);
    }
}

/*
 * Starts one uv_write with the head of the queue, unless one is in flight.
 * libuv copies the uv_buf_t array, not the bytes: the messages stay referenced
 * by the queue until on_write releases them.
 */
static void flush(ferd_client *c)
{
    if (c->writing || c->closing || c->close_pending || c->out.count == 0)
        return;
    ferd_msg *msgs[FERD_WRITE_MAX_MSGS];
    uv_buf_t bufs[FERD_WRITE_MAX_MSGS];
    unsigned n = ferd_outq_begin_write(&c->out, msgs, FERD_WRITE_MAX_MSGS, FERD_WRITE_MAX_BYTES);
    for (unsigned i = 0; i < n; i++)
        bufs[i] = uv_buf_init(msgs[i]->data, (unsigned)msgs[i]->len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->pipe, bufs, n, on_write);
    if (rc < 0) {
        ferd_outq_end_write(&c->out);
        ferd_client_close(c, uv_strerror(rc));
        return;
    }
    c->writing = 1;
}

int ferd_client_send(ferd_client *c, ferd_msg *m, int droppable)
{
    ferd *d = c->d;
    if (!c->in_use || c->close_pending || c->closing)
        return FERD_CLOSED;
    ferd_limits lim;
    ferd_limits_from_config(&lim, &d->cfg);
    switch (ferd_limits_offer(&lim, &c->out, m->len, droppable, &c->soft_since_ns,
                              fer_mono_ns())) {
    case FERD_OUT_DROP:
        c->dropped++;
        return FERD_DROPPED;
    case FERD_OUT_DISCONNECT:
        d->stats.hard_disconnects++;
        log_notice("client %u (uid %lld, pid %lld): output queue over the hard limit "
                   "(%zu + %zu > %zu bytes, or %u messages), disconnecting",
                   c->id, c->peer.uid, c->peer.pid, c->out.bytes, m->len, lim.hard,
                   c->out.count);
        ferd_client_close(c, "hard output limit");
        return FERD_CLOSED;
    case FERD_OUT_QUEUE:
        break;
    }
    ferd_outq_push(&c->out, m); /* cannot fail: the verdict checked the slots */
    flush(c);
    return FERD_SENT;
}

int ferd_client_reply(ferd_client *c, char *json)
{
    if (!json) {
        log_err("client %u: out of memory encoding a reply", c->id);
        ferd_client_close(c, "out of memory");
        return FERD_CLOSED;
    }
    ferd_msg *m = ferd_msg_new(json, strlen(json));
    free(json);
    if (!m) {
        ferd_client_close(c, "out of memory");
        return FERD_CLOSED;
    }
    int rc = ferd_client_send(c, m, 0);
    ferd_msg_unref(m);
    return rc;
}

/* The ERROR message (code, the request it answers or "", the message) as a reply. */
static int reply_error(ferd_client *c, const char *code, const char *request, const char *fmt,
                       va_list ap)
{
    fer_error_msg e;
    memset(&e, 0, sizeof e);
    snprintf(e.code, sizeof e.code, "%s", code);
    snprintf(e.request, sizeof e.request, "%s", request ? request : "");
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    char *json = NULL;
    fer_error_to_json(&e, &json);
    return ferd_client_reply(c, json);
}

int ferd_client_error(ferd_client *c, const char *code, const char *request, const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = reply_error(c, code, request, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- closing ---- */

void ferd_client_close_with_error(ferd_client *c, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_error(c, code, NULL, fmt, ap);
    va_end(ap);
    c->close_after_write = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = 0;
    }
    if (!c->writing && c->out.count == 0)
        ferd_client_close(c, code);
}

void ferd_client_finish_if_done(ferd_client *c)
{
    if (!c->in_use || !c->peer_closed || c->close_pending || c->closing)
        return;
    if (c->watching || c->poll_waiting || c->reload_waiting || c->writing || c->out.count)
        return;
    ferd_client_close(c, "disconnected (half-closed, every answer sent)");
}

void ferd_client_close(ferd_client *c, const char *reason)
{
    if (!c->in_use || c->close_pending)
        return;
    c->close_pending = 1;
    c->close_reason = reason;
    c->d->reap_pending++;
}

/* The one place a client's slot is released: libuv is done with the handle. */
static void on_close(uv_handle_t *h)
{
    ferd_client *c = h->data;
    ferd *d = c->d;
    ferd_outq_clear(&c->out);
    ferd_userrate_detach(c->user, fer_mono_ns());
    c->user = NULL;
    c->in_use = 0;
    c->closing = 0;
    /* A connection waiting for a slot can have this one. */
    if (d->accept_pending && d->server_open)
        ferd_client_accept(d);
}

void ferd_clients_reap(ferd *d)
{
    /* The check handle calls this on every loop iteration: stay O(1) when
     * nothing is marked. */
    if (!d->reap_pending)
        return;
    d->reap_pending = 0;
    for (int i = 0; i < d->nslots; i++) {
        ferd_client *c = &d->clients[i];
        if (!c->in_use || !c->close_pending || c->closing)
            continue;
        if (c->watching) {
            fer_watch off;
            fer_watch_default(&off);
            off.enable = 0;
            ferd_client_set_watch(c, &off);
        }
        if (c->poll_waiting)
            ferd_client_poll_done(c);
        if (!c->reject) {
            d->connected--;
            log_debug("client %u closed: %s", c->id, c->close_reason ? c->close_reason : "");
        }
        c->closing = 1;
        uv_close((uv_handle_t *)&c->pipe, on_close);
    }
}

void ferd_clients_close_all(ferd *d, const char *goodbye_json)
{
    for (int i = 0; i < d->nslots; i++) {
        ferd_client *c = &d->clients[i];
        if (!c->in_use || c->closing)
            continue;
        /* Best effort, without queueing: a client that does not read misses it. */
        if (goodbye_json && !c->reject && !c->writing && c->out.count == 0) {
            size_t len = strlen(goodbye_json);
            char line[512];
            if (len + 1 < sizeof line) {
                memcpy(line, goodbye_json, len);
                line[len] = '\n';
                uv_buf_t b = uv_buf_init(line, (unsigned)len + 1);
                uv_try_write((uv_stream_t *)&c->pipe, &b, 1);
            }
        }
        ferd_client_close(c, "daemon stopping");
    }
    ferd_clients_reap(d);
}

/*
 * Every 100 ms: a client held at the soft limit for output_soft_seconds is
 * disconnected (and counted and logged once); a POLL past its deadline gets
 * its ERROR. Only marks clients; the caller reaps.
 */
/* The line and idle deadlines of slots.h: 1 if c was told and is being closed. */
static int deadlines(ferd_client *c, const ferd_slot_policy *pol, uint64_t now)
{
    ferd *d = c->d;
    const char *what;
    if (c->reject || c->close_after_write)
        return 0;
    if (c->reading && ferd_slots_line_expired(pol, c->line_start_ns, now)) {
        what = "line";
    } else if (!c->watching && !c->poll_waiting && !c->reload_waiting && !c->writing &&
               c->out.count == 0 && c->inlen == 0 && !c->peer_closed &&
               ferd_slots_idle_expired(pol, c->last_active_ns, now)) {
        what = "idle";
    } else {
        return 0;
    }
    unsigned long held;
    d->stats.timeouts++;
    int line = what[0] == 'l';
    if (ferd_lograte_ok(&d->log_timeout, now, &held))
        log_notice("client %u (uid %lld, pid %lld): %s; closing (%lu more timeouts since the "
                   "last logged)", c->id, c->peer.uid, c->peer.pid,
                   line ? "request line not finished in time" : "idle", held);
    if (line)
        ferd_client_close_with_error(c, "timeout",
                                     "request line not finished within %d ms of its first byte; "
                                     "closing", d->cfg.line_timeout_ms);
    else
        ferd_client_close_with_error(c, "timeout",
                                     "no request, subscription or answer due for %d s; closing",
                                     d->cfg.idle_timeout_seconds);
    c->inlen = 0;
    c->line_start_ns = 0;
    return 1;
}

/* A client paused for its rate (consume) whose bucket holds a token again:
 * dispatches the lines it had sent meanwhile and, unless that pauses it again,
 * reads once more. */
static void resume_if_due(ferd_client *c, uint64_t now)
{
    if (!c->rate_paused || c->close_after_write || !ferd_dispatch_rate_ready(c))
        return;
    c->rate_paused = 0;
    consume(c, now);
    if (c->rate_paused || c->close_pending || c->close_after_write || c->peer_closed ||
        c->reading)
        return;
    int rc = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    if (rc < 0) {
        ferd_client_close(c, uv_strerror(rc));
        return;
    }
    c->reading = 1;
}

void ferd_clients_cron(ferd *d, uint64_t now)
{
    ferd_limits lim;
    ferd_limits_from_config(&lim, &d->cfg);
    ferd_slot_policy pol;
    ferd_slots_from_config(&pol, &d->cfg);
    for (int i = 0; i < d->nslots; i++) {
        ferd_client *c = &d->clients[i];
        if (!c->in_use || c->close_pending || c->closing)
            continue;
        if (deadlines(c, &pol, now))
            continue;
        resume_if_due(c, now);
        if (c->close_pending)
            continue;
        if (c->peer_closed && peer_gone(c)) {
            /* Half-closed first, gone altogether now: nobody reads what we owe. */
            ferd_client_close(c, "disconnected");
            continue;
        }
        if (ferd_limits_expired(&lim, c->soft_since_ns, now)) {
            d->stats.soft_disconnects++;
            log_notice("client %u (uid %lld, pid %lld): output over the soft limit (%lld bytes) "
                       "for %d s, %llu messages dropped; disconnecting",
                       c->id, c->peer.uid, c->peer.pid, d->cfg.output_soft_limit,
                       d->cfg.output_soft_seconds, c->dropped);
            ferd_client_close(c, "soft output limit");
            continue;
        }
        if (c->poll_waiting && now >= c->poll_deadline_ns) {
            pthread_mutex_lock(&d->sh.mu);
            ferd_source_state st = d->sh.state;
            pthread_mutex_unlock(&d->sh.mu);
            ferd_client_poll_done(c);
            ferd_client_error(c, "unavailable", "POLL", "no frame within %d ms (source %s)",
                              d->cfg.poll_timeout_ms, ferd_source_state_name(st));
        }
        ferd_client_finish_if_done(c);
    }
}

/* ---- credentials ---- */

int ferd_client_trusted(ferd_client *c, gid_t gid, int *cache)
{
    if (*cache >= 0)
        return *cache;
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
        fd = -1;
    *cache = ferd_peer_trusted(&c->peer, fd, gid, geteuid());
    return *cache;
}
