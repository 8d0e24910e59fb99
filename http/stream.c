/*
 * stream.c — live streams: /api/events (Server-Sent Events) and
 * /api/stream.mjpg (multipart JPEG), written from a subscription's ring.
 *
 * Each stream is a libmicrohttpd response of unknown length whose reader is
 * called whenever the connection can take more bytes. The reader copies, in
 * order: our own short lines (the SSE preamble, keepalives, notices about the
 * connection to ferd), then the message it is part-way through, then the next
 * message the ring has for it (ring.h skips stale frames for a viewer that is
 * behind). When it has nothing to send it suspends the connection, and the
 * subscription resumes it when a message arrives. So a viewer whose browser
 * reads slowly holds one message and libmicrohttpd's buffer, nothing more,
 * and is simply called less often; one that stops reading is closed after
 * connection_timeout seconds without progress.
 *
 * SSE framing: every message of ferd's is one "data:" line (ferd's JSON lines
 * contain no newline), so an EventSource's onmessage receives exactly the
 * objects of proto/PROTOCOL.md, first the WATCH acknowledgement. ferd-http's
 * own notices are named events ("event: gateway") that onmessage does not
 * see: {"ferd":"connected"}, or "disconnected"/"refused" with a "message".
 */
#include <stdio.h>
#include <string.h>

#include "app.h"

#define STREAM_BLOCK (32 * 1024)

/* Appends our own text to the stream; dropped when the viewer has a backlog of
 * them (a viewer that reads nothing does not grow this). */
static void add_oob(http_req *req, const char *text, size_t len)
{
    if (req->oob_off > 0 && req->oob_len + len > sizeof req->oob) {
        memmove(req->oob, req->oob + req->oob_off, req->oob_len - req->oob_off);
        req->oob_len -= req->oob_off;
        req->oob_off = 0;
    }
    if (req->oob_len + len > sizeof req->oob)
        return;
    memcpy(req->oob + req->oob_len, text, len);
    req->oob_len += len;
}

/* An SSE "gateway" event telling the viewer the state of its subscription. */
static void add_state_notice(http_req *req, const http_upstream *up)
{
    char ev[1400];
    int n;
    if (up->state == UP_WATCHING || up->state == UP_OPENING) {
        n = snprintf(ev, sizeof ev, "event: gateway\ndata: {\"ferd\":\"%s\"}\n\n",
                     up->state == UP_WATCHING ? "connected" : "connecting");
    } else {
        /* The message as a JSON string: quotes, backslashes and controls escaped. */
        char msg[1100];
        size_t k = 0;
        for (const char *p = up->error; *p && k + 7 < sizeof msg; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '"' || c == '\\') {
                msg[k++] = '\\';
                msg[k++] = (char)c;
            } else if (c < 0x20) {
                k += (size_t)snprintf(msg + k, sizeof msg - k, "\\u%04x", c);
            } else {
                msg[k++] = (char)c;
            }
        }
        msg[k] = '\0';
        n = snprintf(ev, sizeof ev, "event: gateway\ndata: {\"ferd\":\"%s\",\"message\":\"%s\"}\n\n",
                     up->state == UP_REFUSED ? "refused" : "disconnected", msg);
    }
    if (n > 0)
        add_oob(req, ev, (size_t)n < sizeof ev ? (size_t)n : sizeof ev - 1);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    http_req *req = cls;
    http_app *app = req->app;
    (void)pos;
    size_t n = 0;
    uint64_t skipped = 0;
    while (n < max) {
        if (req->oob_off < req->oob_len) {
            size_t k = req->oob_len - req->oob_off;
            if (k > max - n)
                k = max - n;
            memcpy(buf + n, req->oob + req->oob_off, k);
            req->oob_off += k;
            n += k;
            continue;
        }
        req->oob_off = req->oob_len = 0;
        if (req->cur) {
            size_t k = req->cur->len - req->off;
            if (k > max - n)
                k = max - n;
            memcpy(buf + n, req->cur->data + req->off, k);
            req->off += k;
            n += k;
            if (req->off == req->cur->len) {
                http_msg_unref(req->cur);
                req->cur = NULL;
            }
            continue;
        }
        if (req->end || app->stopping || !req->up)
            break;
        http_msg *m = http_ring_next(&req->up->ring, &req->pos, &skipped);
        if (!m)
            break;
        req->cur = m;
        req->off = 0;
    }
    app->metrics.stream_skipped += skipped;
    if (n > 0) {
        req->last_send_ns = fer_mono_ns();
        app->metrics.stream_bytes += n;
        return (ssize_t)n;
    }
    if (req->end || app->stopping || !req->up)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* Seen everything: sleep until the subscription has more. */
    req->suspended = 1;
    MHD_suspend_connection(req->conn);
    return 0;
}

enum MHD_Result http_stream_start(http_req *req)
{
    http_app *app = req->app;
    http_upstream *up = req->up;
    if (!up) {
        http_req_finish_text(req, 503, "the subscription to ferd went away");
        return http_req_settle(req);
    }
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, STREAM_BLOCK, reader, req, http_stream_response_freed);
    if (!r)
        return MHD_NO;
    req->refs++; /* the response's reader */
    int sse = up->fmt == UP_SSE;
    http_headers(r,
                 sse ? "text/event-stream; charset=utf-8"
                     : "multipart/x-mixed-replace; boundary=ferdframe",
                 0);
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    if (sse) {
        static const char pre[] = "retry: 3000\n: ferd-http " FER_VERSION "\n\n";
        add_oob(req, pre, sizeof pre - 1);
        add_state_notice(req, up);
        if (up->ack) { /* ferd's WATCH acknowledgement comes first */
            http_msg_ref(up->ack);
            req->cur = up->ack;
            req->off = 0;
        }
    }
    req->notified_state = (int)up->state;
    req->last_send_ns = fer_mono_ns();
    req->stream_started = 1;
    app->nstreams++;
    app->metrics.streams[req->stream_kind]++;
    app->metrics.streams_total[req->stream_kind]++;
    enum MHD_Result rc = MHD_queue_response(req->conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    http_count(app, MHD_HTTP_OK);
    return rc;
}

void http_stream_wake(http_req *req)
{
    http_upstream *up = req->up;
    if (up && up->fmt == UP_SSE && req->stream_started && req->notified_state != (int)up->state &&
        !(up->state == UP_OPENING && req->notified_state == UP_BACKOFF)) {
        add_state_notice(req, up);
        req->notified_state = (int)up->state;
    }
    http_req_resume(req);
}

void http_stream_keepalive(http_req *req)
{
    http_upstream *up = req->up;
    req->last_send_ns = fer_mono_ns();
    if (up && up->fmt == UP_SSE) {
        static const char ka[] = ": keepalive\n\n";
        add_oob(req, ka, sizeof ka - 1);
    } else if (up && !req->cur) {
        /* MJPEG has no comments: send the newest frame again, which also
         * finds out whether the viewer is still there. */
        uint64_t p = http_ring_start(&up->ring);
        if (p < up->ring.head)
            req->pos = p;
    }
    http_req_resume(req);
}

void http_stream_release(http_req *req)
{
    http_msg_unref(req->cur);
    req->cur = NULL;
}
