/*
 * ferclient_call.c — requests that expect one answer (WATCH, POLL, STATUS,
 * RELOAD) and the library's error strings.
 *
 * Design. A call is a send followed by reads until the object that answers
 * it: protocol v1 answers each request with an object of the request's own
 * class, or with an ERROR. Everything else that arrives in between (stream
 * messages of an earlier WATCH, objects of a newer minor version) is not the
 * answer and is skipped. This file uses only the public connection API of
 * ferclient.c, so it holds no state of its own.
 */
#define FER_CLIENT_BUILDING 1
#include "ferclient.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"

/* The class that answers a request, and its wire name. */
static fer_msg_kind answer_kind(fer_req_kind k, const char **name)
{
    switch (k) {
    case FER_REQ_WATCH:
        *name = "WATCH";
        return FER_MSG_WATCH;
    case FER_REQ_POLL:
        *name = "POLL";
        return FER_MSG_POLL;
    case FER_REQ_STATUS:
        *name = "STATUS";
        return FER_MSG_STATUS;
    case FER_REQ_RELOAD:
        *name = "RELOAD";
        return FER_MSG_RELOAD;
    default:
        *name = "";
        return FER_MSG_UNKNOWN;
    }
}

int fer_client_call(fer_client *c, const fer_request *req, int timeout_ms, fer_message *m,
                    fer_error *err)
{
    const char *name;
    fer_msg_kind want = answer_kind(req->kind, &name);
    if (want == FER_MSG_UNKNOWN)
        return fer_fail(err, -EINVAL, "%s: not a request kind", fer_client_path(c));
    int64_t deadline = timeout_ms < 0 ? -1 : fer_mono_ms() + timeout_ms;
    int rc = fer_client_send(c, req, timeout_ms, err);
    if (rc < 0)
        return rc;
    for (;;) {
        int left = -1;
        if (deadline >= 0) {
            int64_t l = deadline - fer_mono_ms();
            left = l <= 0 ? 1 : l > INT32_MAX ? INT32_MAX : (int)l;
        }
        rc = fer_client_read(c, left, m, err);
        if (rc == -ETIMEDOUT)
            return fer_fail(err, rc, "%s: no answer to %s within %d ms", fer_client_path(c), name,
                         timeout_ms);
        if (rc == FER_E_PROTO) {
            /* A malformed answer is this call's failure; a malformed stream
             * message before it is not. */
            if (strcmp(m->cls, name) == 0 || strcmp(m->cls, "ERROR") == 0)
                return rc;
            continue;
        }
        if (rc < 0)
            return rc;
        if (m->kind == want)
            return 0;
        if (m->kind == FER_MSG_ERROR)
            return fer_fail(err, FER_CLIENT_E_REFUSED, "ferd refused %s: %s", name,
                         m->u.error.message);
    }
}

int fer_client_watch(fer_client *c, const fer_watch *w, fer_watch *ack, int timeout_ms,
                     fer_error *err)
{
    fer_request req;
    memset(&req, 0, sizeof req);
    req.kind = FER_REQ_WATCH;
    if (w)
        req.watch = *w;
    else
        fer_watch_default(&req.watch);
    fer_message m;
    memset(&m, 0, sizeof m);
    int rc = fer_client_call(c, &req, timeout_ms, &m, err);
    if (rc == 0 && ack)
        *ack = m.u.watch;
    fer_message_clear(&m);
    return rc;
}

int fer_client_poll(fer_client *c, fer_image_kind image, int scores, int timeout_ms,
                    fer_message *m, fer_error *err)
{
    fer_request req;
    memset(&req, 0, sizeof req);
    req.kind = FER_REQ_POLL;
    req.image = image;
    req.scores = scores;
    return fer_client_call(c, &req, timeout_ms, m, err);
}

int fer_client_status(fer_client *c, int timeout_ms, fer_message *m, fer_error *err)
{
    fer_request req;
    memset(&req, 0, sizeof req);
    req.kind = FER_REQ_STATUS;
    return fer_client_call(c, &req, timeout_ms, m, err);
}

int fer_client_reload(fer_client *c, int timeout_ms, fer_message *m, fer_error *err)
{
    fer_request req;
    memset(&req, 0, sizeof req);
    req.kind = FER_REQ_RELOAD;
    return fer_client_call(c, &req, timeout_ms, m, err);
}

const char *fer_client_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case FER_CLIENT_E_VERSION:
        return "the daemon speaks an incompatible protocol version";
    case FER_CLIENT_E_GREETING:
        return "the daemon did not greet with a VERSION object";
    case FER_CLIENT_E_CLOSED:
        return "the daemon closed the connection";
    case FER_CLIENT_E_TOOLONG:
        return "a line from the daemon exceeds its announced maximum";
    case FER_CLIENT_E_REFUSED:
        return "the daemon refused the request";
    case FER_E_PROTO:
        return "malformed protocol message";
    case -ENOENT:
        return "no such socket (is ferd running?)";
    case -ECONNREFUSED:
        return "connection refused (is ferd running?)";
    }
    if (code < 0 && code > -4096) {
        /* strerrordesc_np is the thread-safe, locale-free form of strerror. */
        const char *s = strerrordesc_np(-code);
        if (s)
            return s;
    }
    if (code >= FER_E_BASE && code < FER_E_LAST)
        return "ferd library error";
    return "unknown error";
}
