/*
 * dispatch.c — one request line in, the reply (or the action) out.
 *
 * Every line goes through the same gate before it is parsed: the client's
 * request-rate bucket and, for an unprivileged peer, its uid's bucket shared by
 * all that uid's connections (userrate.h). A line over either rate is answered
 * ERROR rate_limit (naming the request's class when the line parses) and
 * pauses the client (client.c stops reading it until a token is due), so a
 * flood costs one ERROR per refill period, not one per line. Then the shared
 * parser (proto/protocol.c) decides what the line is; anything it refuses is
 * answered with an ERROR naming the reason, and the connection stays usable.
 * Nothing a request carries reaches the file system: requests hold no paths,
 * and RELOAD re-reads the files the daemon was configured with.
 */
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "demand.h"
#include "fanout.h"
#include "log.h"
#include "rate.h"
#include "reload.h"
#include "status.h"

void ferd_dispatch_greet(ferd_client *c)
{
    fer_version_msg v;
    memset(&v, 0, sizeof v);
    snprintf(v.release, sizeof v.release, "%s", FER_VERSION);
    v.proto_major = FER_PROTO_MAJOR;
    v.proto_minor = FER_PROTO_MINOR;
    v.max_request = c->d->cfg.max_line;
    v.max_response = FER_PROTO_MAX_RESPONSE;
    char *json = NULL;
    fer_version_to_json(&v, &json);
    ferd_client_reply(c, json);
}

/* The budget of c's uid, shared by all its connections (userrate.h): NULL for
 * a privileged peer, or with requests_per_second_per_uid 0. */
static ferd_bucket *user_bucket(ferd_client *c)
{
    return c->user && c->d->cfg.requests_per_second_per_uid > 0 ? &c->user->bucket : NULL;
}

/* 1 if both the connection's bucket and its user's hold a token at now;
 * *by_user says which refused. Takes nothing. */
static int buckets_ready(ferd_client *c, uint64_t now, int *by_user)
{
    const fer_config *cfg = &c->d->cfg;
    ferd_bucket *u = user_bucket(c);
    *by_user = 0;
    if (!ferd_bucket_ready(&c->bucket, cfg->requests_per_second, cfg->request_burst, now))
        return 0;
    if (u && !ferd_bucket_ready(u, cfg->requests_per_second_per_uid,
                                cfg->request_burst_per_uid, now)) {
        *by_user = 1;
        return 0;
    }
    return 1;
}

/* Takes a token from the connection's bucket and its user's, or from neither:
 * a request one of them refuses costs the other nothing. */
static int rate_ok(ferd_client *c, int *by_user)
{
    const fer_config *cfg = &c->d->cfg;
    uint64_t now = fer_mono_ns();
    if (!buckets_ready(c, now, by_user))
        return 0;
    ferd_bucket *u = user_bucket(c);
    ferd_bucket_take(&c->bucket, cfg->requests_per_second, cfg->request_burst, now);
    if (u)
        ferd_bucket_take(u, cfg->requests_per_second_per_uid, cfg->request_burst_per_uid, now);
    return 1;
}

int ferd_dispatch_rate_ready(ferd_client *c)
{
    int by_user;
    return buckets_ready(c, fer_mono_ns(), &by_user);
}

static const char *parse_error_code(fer_req_error e)
{
    switch (e) {
    case FER_REQERR_CLASS:
        return "no_class";
    case FER_REQERR_UNKNOWN:
        return "unknown_request";
    case FER_REQERR_FIELD:
        return "bad_field";
    default:
        return "bad_json";
    }
}

/* Images leave the daemon only when allowed, and only to trusted peers. */
static int images_allowed(ferd_client *c, const char *request)
{
    ferd *d = c->d;
    if (!d->cfg.allow_images) {
        ferd_client_error(c, "forbidden", request,
                          "images are disabled on this daemon (allow_images no)");
        return 0;
    }
    if (!ferd_client_trusted(c, d->image_gid, &c->images_ok)) {
        ferd_client_error(c, "forbidden", request,
                          "images are only sent to root, the daemon's user and members of "
                          "image_group");
        return 0;
    }
    return 1;
}

static void do_watch(ferd_client *c, fer_request *req)
{
    ferd *d = c->d;
    fer_watch w = req->watch;
    if (w.enable && w.image != FER_IMAGE_NONE && !images_allowed(c, "WATCH"))
        return;
    /* The daemon's caps: the reply says what the client really gets. */
    w.max_fps = ferd_rate_capped(w.max_fps, d->cfg.watch_max_fps);
    if (!w.enable)
        w.image = FER_IMAGE_NONE;
    ferd_client_set_watch(c, &w);
    char *json = NULL;
    fer_watch_to_json(&c->watch, &json);
    ferd_client_reply(c, json);
    ferd_fanout_watch_started(d, c);
    ferd_fanout_update_images(d);
}

static void do_poll(ferd_client *c, fer_request *req)
{
    ferd *d = c->d;
    if (req->image != FER_IMAGE_NONE && !images_allowed(c, "POLL"))
        return;
    if (c->poll_waiting) {
        ferd_client_error(c, "busy", "POLL", "a POLL is already waiting for a frame");
        return;
    }
    c->poll_image = req->image;
    c->poll_scores = req->scores;
    /* While results flow, the latest one is at most a frame old: answer now. */
    if (ferd_fanout_poll_now(d, c))
        return;
    ferd_client_poll_wait(c, fer_mono_ns() + (uint64_t)d->cfg.poll_timeout_ms * 1000000ull);
    ferd_fanout_update_images(d);
}

static void do_status(ferd_client *c)
{
    fer_status_msg *s = malloc(sizeof *s);
    if (!s) {
        ferd_client_error(c, "internal", "STATUS", "out of memory");
        return;
    }
    ferd_status_fill(c->d, s, c);
    char *json = NULL;
    fer_status_to_json(s, &json);
    free(s);
    ferd_client_reply(c, json);
}

static void do_reload(ferd_client *c)
{
    ferd *d = c->d;
    if (!ferd_client_trusted(c, d->reload_gid, &c->reload_ok)) {
        ferd_client_error(c, "forbidden", "RELOAD",
                          "RELOAD is only accepted from root, the daemon's user and members of "
                          "reload_group");
        return;
    }
    ferd_reload(d, c);
}

void ferd_dispatch_line(ferd_client *c, const char *line, size_t len)
{
    ferd *d = c->d;
    /* Blank lines are ignored, as gpsd does. */
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n'))
        i++;
    if (i == len)
        return;
    fer_request req;
    fer_error err = {0};
    int by_user;
    if (!rate_ok(c, &by_user)) {
        d->stats.rate_limited++;
        /* Parsed only to name the refused request in the ERROR, so a client
         * with several requests in flight knows which one failed; the pause
         * below bounds this to one parse per refill period. */
        (void)fer_request_parse(&req, line, len, &err);
        const char *cls = req.cls; /* "" when the line names no class */
        if (by_user)
            ferd_client_error(c, "rate_limit", cls,
                              "more than %g requests per second from uid %lld over all its "
                              "connections (burst %d); request ignored",
                              d->cfg.requests_per_second_per_uid, c->peer.uid,
                              d->cfg.request_burst_per_uid);
        else
            ferd_client_error(c, "rate_limit", cls,
                              "more than %g requests per second (burst %d); request ignored",
                              d->cfg.requests_per_second, d->cfg.request_burst);
        c->rate_paused = 1;
        return;
    }
    if (fer_request_parse(&req, line, len, &err) < 0) {
        log_debug("client %u: bad request: %s", c->id, err.msg);
        ferd_client_error(c, parse_error_code(req.error), req.cls, "%s", err.msg);
        return;
    }
    switch (req.kind) {
    case FER_REQ_WATCH:
        do_watch(c, &req);
        break;
    case FER_REQ_POLL:
        do_poll(c, &req);
        break;
    case FER_REQ_STATUS:
        do_status(c);
        break;
    case FER_REQ_RELOAD:
        do_reload(c);
        break;
    default:
        ferd_client_error(c, "unknown_request", req.cls, "unknown request");
        break;
    }
}
