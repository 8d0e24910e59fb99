/*
 * routes.c — what each address answers, after the checks every request meets.
 *
 * In order, every request is checked for: its client's request rate (429),
 * its method (GET and HEAD only: 405), a body it should not have (400), its
 * Host header when listening on loopback (403: a web page that rebinds a DNS
 * name to 127.0.0.1 must not read the camera), its credentials when
 * authentication is on (401), its query parameters (400) and its path (404).
 * Only then does it reach an endpoint. The page's files are served from the
 * binary (assets.h); no path ever reaches the file system.
 *
 * Endpoints (docs/HTTP.md):
 *   /                 the live page (and /app.js, /style.css, /favicon.svg)
 *   /api/info         ferd-http's own settings and state, JSON
 *   /api/status       ferd's STATUS object as ferd sent it
 *   /api/snapshot.jpg the current frame, ?annotated=1 with boxes and labels
 *   /api/events       Server-Sent Events of RESULT/FACE, WATCH options as parameters
 *   /api/stream.mjpg  the live picture as multipart JPEG
 *   /metrics          Prometheus text exposition
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "assets.h"
#include "util/log.h"
#include "params.h"

/* Answers now with text (code 4xx/5xx mostly). */
static enum MHD_Result reply_text(http_req *req, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum MHD_Result reply_text(http_req *req, unsigned code, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    http_req_finish_text(req, code, "%s", text);
    return http_req_settle(req);
}

/* A path or value shown back to the client: printable ASCII, truncated. */
static void printable(char *out, size_t n, const char *s)
{
    size_t k = 0;
    for (; *s && k + 4 < n; s++)
        out[k++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (*s && k + 4 <= n) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    http_params_add(cls, key, value);
    return MHD_YES;
}

/* The host part of a Host header value ("[::1]:8090" gives "::1"), lowercased. */
static void host_name(const char *header, char *out, size_t n)
{
    size_t k = 0;
    const char *p = header;
    if (*p == '[') {
        p++;
        while (*p && *p != ']' && k + 1 < n)
            out[k++] = *p++;
    } else {
        while (*p && *p != ':' && k + 1 < n)
            out[k++] = *p++;
    }
    out[k] = '\0';
    for (size_t i = 0; i < k; i++)
        if (out[i] >= 'A' && out[i] <= 'Z')
            out[i] = (char)(out[i] - 'A' + 'a');
}

/*
 * On a loopback address, only names that mean this machine are accepted in
 * Host (plus allow_hosts), so a foreign page whose DNS name was re-pointed
 * at 127.0.0.1 cannot read the answers. The port is not checked: with
 * `ssh -L 9000:localhost:8090` the browser says localhost:9000.
 */
static int host_allowed(const http_app *app, const char *header)
{
    if (!header)
        return 1; /* HTTP/1.0 without Host: no browser sends that */
    char h[256];
    host_name(header, h, sizeof h);
    if (strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0 || strncmp(h, "127.", 4) == 0)
        return 1;
    size_t hl = strlen(h);
    if (hl > 10 && strcmp(h + hl - 10, ".localhost") == 0)
        return 1;
    const char *list = app->cfg.allow_hosts;
    while (*list) {
        while (*list == ' ' || *list == ',')
            list++;
        size_t len = strcspn(list, " ,");
        if (len && len == hl && strncasecmp(list, h, len) == 0)
            return 1;
        list += len;
    }
    return 0;
}

static enum MHD_Result serve_asset(http_req *req, const http_asset *a)
{
    const char *inm = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_IF_NONE_MATCH);
    int fresh = inm && strcmp(inm, a->etag) == 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        fresh ? 0 : a->len, fresh ? NULL : (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    http_headers(r, a->type, 1);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, a->etag);
    if (strcmp(a->name, "index.html") == 0)
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data: blob:; connect-src 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    unsigned code = fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK;
    enum MHD_Result rc = MHD_queue_response(req->conn, code, r);
    MHD_destroy_response(r);
    http_count(req->app, code);
    return rc;
}

static const http_asset *find_asset(const char *url)
{
    if (url[0] != '/')
        return NULL;
    const char *name = strcmp(url, "/") == 0 ? "index.html" : url + 1;
    for (const http_asset *a = http_assets; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

static enum MHD_Result serve_info(http_req *req)
{
    http_app *app = req->app;
    sbuf b;
    sbuf_init(&b, 64 * 1024);
    sbuf_printf(&b, "{\"ferd_http\":\"%s\",\"listen\":\"", FER_VERSION);
    sbuf_json_str(&b, app->bound);
    sbuf_printf(&b, "\",\"loopback\":%s,\"auth\":%s,\"socket\":\"",
                app->listen.loopback ? "true" : "false", app->auth.enabled ? "true" : "false");
    sbuf_json_str(&b, app->socket_path);
    sbuf_printf(&b, "\",\"page\":{\"fps\":%g,\"view\":\"%s\"}", app->cfg.page_fps,
                app->cfg.page_view == HTTP_VIEW_MJPEG ? "mjpeg" : "canvas");
    sbuf_printf(&b, ",\"limits\":{\"max_connections\":%d,\"max_connections_per_ip\":%d,"
                    "\"max_streams\":%d,\"max_subscriptions\":%d,\"requests_per_second\":%g,"
                    "\"request_burst\":%d,\"connection_timeout\":%d}",
                app->cfg.max_connections, app->cfg.max_connections_per_ip, app->cfg.max_streams,
                app->cfg.max_subscriptions, app->cfg.requests_per_second, app->cfg.request_burst,
                app->cfg.connection_timeout);
    sbuf_printf(&b, ",\"streams\":%d,\"subscriptions\":[", app->nstreams);
    int first = 1;
    for (http_upstream *up = app->ups; up; up = up->next) {
        static const char *const fmts[] = {"events", "mjpeg", "metrics"};
        sbuf_printf(&b, "%s{\"format\":\"%s\",\"state\":\"%s\",\"viewers\":%d,\"messages\":%llu,"
                        "\"watch\":{\"max_fps\":%g,\"min_prob\":%g,\"events\":%s,\"scores\":%s,"
                        "\"image\":\"%s\"}",
                    first ? "" : ",", fmts[up->fmt], http_upstream_state_name(up->state),
                    up->nviewers, (unsigned long long)up->messages, up->w.max_fps, up->w.min_prob,
                    up->w.events ? "true" : "false", up->w.scores ? "true" : "false",
                    fer_image_kind_name(up->w.image));
        if (up->error[0]) {
            sbuf_printf(&b, ",\"error\":\"");
            sbuf_json_str(&b, up->error);
            sbuf_printf(&b, "\"");
        }
        sbuf_printf(&b, "}");
        first = 0;
    }
    sbuf_printf(&b, "]}");
    size_t len;
    char *text = sbuf_take(&b, &len);
    if (!text)
        return reply_text(req, 500, "cannot build the answer: out of memory");
    http_req_finish(req, 200, "application/json", text, len);
    free(text);
    return http_req_settle(req);
}

/* Starts a stream on a subscription with w in format fmt, or says why not. */
static enum MHD_Result open_stream(http_req *req, up_format fmt, const fer_watch *w, int kind)
{
    http_app *app = req->app;
    if (app->nstreams >= app->cfg.max_streams) {
        app->metrics.refused[HTTP_REFUSE_STREAMS]++;
        return reply_text(req, 503,
                          "too many live streams (max_streams %d); close one, or try later",
                          app->cfg.max_streams);
    }
    char why[512];
    http_upstream *up = http_upstream_get(app, fmt, w, why, sizeof why);
    if (!up) {
        app->metrics.refused[HTTP_REFUSE_STREAMS]++;
        return reply_text(req, 503, "%s", why);
    }
    req->stream_kind = kind;
    if (up->state == UP_WATCHING) {
        http_upstream_attach(up, req);
        return http_stream_start(req);
    }
    http_upstream_wait(up, req);
    return http_req_settle(req);
}

enum MHD_Result http_route(http_app *app, http_req *req, const char *url, const char *method)
{
    struct MHD_Connection *conn = req->conn;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *peer = ci ? ci->client_addr : NULL;
    if (peer)
        http_addr_format(peer, req->addr, sizeof req->addr);

    if (app->stopping)
        return reply_text(req, 503, "ferd-http is stopping");

    /* The rate first: it is what protects everything after it. */
    if (peer) {
        uint8_t key[16];
        int retry = 1;
        http_ratelimit_key(peer, key);
        if (!http_ratelimit_take(&app->rl, key, fer_mono_ns(), &retry)) {
            app->metrics.refused[HTTP_REFUSE_RATE]++;
            char text[160];
            int n = snprintf(text, sizeof text,
                             "too many requests from this address (requests_per_second %g, "
                             "burst %d); retry in %d s\n",
                             app->cfg.requests_per_second, app->cfg.request_burst, retry);
            struct MHD_Response *r =
                MHD_create_response_from_buffer((size_t)n, text, MHD_RESPMEM_MUST_COPY);
            if (!r)
                return MHD_NO;
            http_headers(r, "text/plain; charset=utf-8", 0);
            char ra[16];
            snprintf(ra, sizeof ra, "%d", retry);
            MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
            enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_TOO_MANY_REQUESTS, r);
            MHD_destroy_response(r);
            http_count(app, MHD_HTTP_TOO_MANY_REQUESTS);
            return rc;
        }
    }

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        app->metrics.refused[HTTP_REFUSE_BAD]++;
        char m[32];
        printable(m, sizeof m, method);
        http_req_finish_text(req, 405, "method %s not allowed: ferd-http only reads (GET, HEAD)",
                             m);
        if (req->ready)
            MHD_add_response_header(req->ready, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        return http_req_settle(req);
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if ((cl && strcmp(cl, "0") != 0) || te) {
        app->metrics.refused[HTTP_REFUSE_BAD]++;
        return reply_text(req, 400, "a %s request carries no body", method);
    }

    if (app->listen.loopback) {
        const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_HOST);
        if (!host_allowed(app, host)) {
            app->metrics.refused[HTTP_REFUSE_HOST]++;
            char h[80];
            printable(h, sizeof h, host);
            fer_log(FER_LOG_NOTICE, "%s: refused Host \"%s\" (not this machine's name)",
                    req->addr, h);
            return reply_text(req, 403,
                              "Host \"%s\" is not a name of this machine; ferd-http on a loopback "
                              "address answers localhost, 127.0.0.1 and [::1] only (add a name "
                              "to allow_hosts to accept it)",
                              h);
        }
    }

    if (app->auth.enabled) {
        const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_AUTHORIZATION);
        char *pass = NULL;
        char *user = MHD_basic_auth_get_username_password(conn, &pass);
        int ok = http_auth_check(&app->auth, authz, pass);
        if (pass) {
            memset(pass, 0, strlen(pass));
            MHD_free(pass);
        }
        if (user)
            MHD_free(user);
        if (!ok) {
            app->metrics.refused[HTTP_REFUSE_AUTH]++;
            static const char text[] =
                "ferd-http on a network address needs its secret: send \"Authorization: Bearer "
                "SECRET\", or log in with any user name and the secret as password. The secret "
                "is the first line of the auth_file in ferd-http's configuration.\n";
            struct MHD_Response *r = MHD_create_response_from_buffer(
                sizeof text - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
            if (!r)
                return MHD_NO;
            http_headers(r, "text/plain; charset=utf-8", 0);
            enum MHD_Result rc = MHD_queue_basic_auth_fail_response(conn, "ferd-http", r);
            MHD_destroy_response(r);
            http_count(app, MHD_HTTP_UNAUTHORIZED);
            return rc;
        }
    }

    http_params ps;
    memset(&ps, 0, sizeof ps);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect, &ps);
    char why[512];
    char shown[120];
    printable(shown, sizeof shown, url);

    /* The page and its files. */
    const http_asset *asset = find_asset(url);
    if (asset) {
        static const char *const page_keys[] = {"view", NULL};
        static const char *const none[] = {NULL};
        if (http_params_check(&ps, strcmp(asset->name, "index.html") == 0 ? page_keys : none, why,
                              sizeof why) < 0) {
            app->metrics.refused[HTTP_REFUSE_BAD]++;
            return reply_text(req, 400, "%s: %s", shown, why);
        }
        return serve_asset(req, asset);
    }

    static const char *const none[] = {NULL};
    if (strcmp(url, "/api/info") == 0 || strcmp(url, "/api/status") == 0 ||
        strcmp(url, "/metrics") == 0) {
        if (http_params_check(&ps, none, why, sizeof why) < 0) {
            app->metrics.refused[HTTP_REFUSE_BAD]++;
            return reply_text(req, 400, "%s: %s", shown, why);
        }
        if (strcmp(url, "/api/info") == 0)
            return serve_info(req);
        req->wait = strcmp(url, "/metrics") == 0 ? WAIT_METRICS : WAIT_STATUS;
        http_ctl_status(app, req);
        return http_req_settle(req);
    }

    if (strcmp(url, "/api/snapshot.jpg") == 0) {
        static const char *const keys[] = {"annotated", NULL};
        int annotated = 0;
        if (http_params_check(&ps, keys, why, sizeof why) < 0 ||
            http_params_bool(&ps, "annotated", &annotated, why, sizeof why) < 0) {
            app->metrics.refused[HTTP_REFUSE_BAD]++;
            return reply_text(req, 400, "%s: %s", shown, why);
        }
        req->kind = annotated ? FER_IMAGE_ANNOTATED : FER_IMAGE_JPEG;
        http_ctl_snapshot(app, req);
        return http_req_settle(req);
    }

    if (strcmp(url, "/api/events") == 0) {
        fer_watch w;
        if (http_params_watch(&ps, &w, why, sizeof why) < 0) {
            app->metrics.refused[HTTP_REFUSE_BAD]++;
            return reply_text(req, 400, "%s: %s", shown, why);
        }
        return open_stream(req, UP_SSE, &w, HTTP_STREAM_EVENTS);
    }

    if (strcmp(url, "/api/stream.mjpg") == 0) {
        static const char *const keys[] = {"annotated", "max_fps", NULL};
        int annotated = 1;
        double fps = app->cfg.page_fps;
        if (http_params_check(&ps, keys, why, sizeof why) < 0 ||
            http_params_bool(&ps, "annotated", &annotated, why, sizeof why) < 0 ||
            http_params_number(&ps, "max_fps", 0.1, 100, &fps, why, sizeof why) < 0) {
            app->metrics.refused[HTTP_REFUSE_BAD]++;
            return reply_text(req, 400, "%s: %s", shown, why);
        }
        fer_watch w;
        fer_watch_default(&w);
        w.max_fps = fps;
        w.scores = 0;
        w.image = annotated ? FER_IMAGE_ANNOTATED : FER_IMAGE_JPEG;
        return open_stream(req, UP_MJPEG, &w, HTTP_STREAM_MJPEG);
    }

    app->metrics.refused[HTTP_REFUSE_BAD]++;
    return reply_text(req, 404,
                      "no such page: %s (ferd-http serves /, /api/status, /api/snapshot.jpg, "
                      "/api/events, /api/stream.mjpg, /api/info and /metrics)",
                      shown);
}
