/*
 * server.c — libmicrohttpd inside ferd-http's libuv loop, and the life of a
 * request.
 *
 * libmicrohttpd runs in "external epoll" mode: it keeps its sockets in an
 * epoll set of its own, whose descriptor libuv polls; when it is readable (a
 * connection, data, room to write, or a resumed connection, which
 * libmicrohttpd signals through its inter-thread channel) we call MHD_run(),
 * and a timer set from MHD_get_timeout() covers its connection timeouts. So
 * HTTP, ferd's sockets and our timers share one thread and no lock.
 *
 * The listening socket is ours (created and bound here, then handed over), so
 * a bind failure is reported with its real cause, and port 0 works.
 *
 * A request is an http_req from libmicrohttpd's first call to its completion
 * notice. Its answer is either queued on that first call, or prepared later
 * (req->ready) while the connection is suspended, and queued when
 * libmicrohttpd calls back after the resume. Streaming responses hold a second
 * reference, dropped when libmicrohttpd frees the response.
 *
 * Stopping: no new connections, every waiter is answered, every stream ends,
 * and libmicrohttpd is stopped once the connections are gone or after a
 * grace period, never while one is still suspended (libmicrohttpd forbids it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "util/clock.h"
#include "util/log.h"

#define TICK_MS 250
#define STOP_GRACE_NS 2000000000ull
#define KEEPALIVE_NS 15000000000ull
#define CONNECTION_MEMORY (64 * 1024)
/* Kernel send buffer per HTTP connection. Linux grows a TCP socket's buffer up
 * to megabytes on its own; a viewer that reads slowly would then sit seconds
 * behind the live picture with frames queued in the kernel. 256 KiB holds a
 * few frames: enough for a network's round trip, little enough that a slow
 * viewer soon stops accepting bytes and is given the newest frame instead. */
#define SEND_BUFFER (256 * 1024)

void http_count(http_app *app, unsigned code)
{
    unsigned c = code / 100;
    if (c >= 1 && c <= 5)
        app->metrics.requests_by_class[c]++;
}

void http_headers(struct MHD_Response *r, const char *type, int cacheable)
{
    if (type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cacheable ? "no-cache" : "no-store");
}

static void req_unref(http_req *r)
{
    if (--r->refs > 0)
        return;
    http_app *app = r->app;
    if (r->prev)
        r->prev->next = r->next;
    else
        app->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->ready)
        MHD_destroy_response(r->ready);
    http_stream_release(r);
    free(r);
}

/* libmicrohttpd dropped a streaming response: its reader's reference goes. */
void http_stream_response_freed(void *cls)
{
    req_unref(cls);
}

static void on_mhd_timer(uv_timer_t *t);

void http_req_resume(http_req *req)
{
    if (req->suspended && !req->completed) {
        req->suspended = 0;
        MHD_resume_connection(req->conn);
        /* libmicrohttpd takes resumed connections back in its next run; make
         * it come at the next turn of the loop. */
        if (req->app->mhd)
            uv_timer_start(&req->app->mhd_timer, on_mhd_timer, 0, 0);
    }
}

static void set_ready(http_req *req, unsigned code, struct MHD_Response *resp)
{
    if (req->ready)
        MHD_destroy_response(req->ready);
    req->has_ready = 1;
    req->ready = resp;
    req->ready_code = code;
    http_req_resume(req);
}

void http_req_finish(http_req *req, unsigned code, const char *type, const void *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) {
        set_ready(req, 0, NULL); /* queued as nothing: the connection closes */
        return;
    }
    http_headers(r, type, 0);
    set_ready(req, code, r);
}

void http_req_finish_text(http_req *req, unsigned code, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text - 1, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n >= sizeof text - 1 ? sizeof text - 2 : (size_t)n;
    text[len++] = '\n';
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_COPY);
    if (!r) {
        set_ready(req, 0, NULL);
        return;
    }
    http_headers(r, "text/plain; charset=utf-8", 0);
    if (code == 503 || code == 429)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "2");
    set_ready(req, code, r);
}

void http_req_finish_metrics(http_req *req)
{
    http_app *app = req->app;
    sbuf b;
    sbuf_init(&b, 4u << 20);
    http_metrics_write(&b, &app->metrics, app->ctl.status, app->metrics_up != NULL);
    size_t len;
    char *text = sbuf_take(&b, &len);
    if (!text) {
        http_req_finish_text(req, 500, "cannot build the metrics: out of memory");
        return;
    }
    http_req_finish(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

/* Queues the prepared answer, starts the stream, or suspends until one of them. */
static enum MHD_Result settle(http_req *req)
{
    if (req->has_ready) {
        struct MHD_Response *r = req->ready;
        unsigned code = req->ready_code;
        req->has_ready = 0;
        req->ready = NULL;
        req->ready_code = 0;
        if (!r)
            return MHD_NO;
        enum MHD_Result rc = MHD_queue_response(req->conn, code, r);
        MHD_destroy_response(r);
        http_count(req->app, code);
        return rc;
    }
    if (req->start_stream) {
        req->start_stream = 0;
        return http_stream_start(req);
    }
    if (!req->suspended) {
        req->suspended = 1;
        MHD_suspend_connection(req->conn);
    }
    return MHD_YES;
}

enum MHD_Result http_req_settle(http_req *req)
{
    return settle(req);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    http_app *app = cls;
    http_req *req = *con_cls;
    (void)version;
    (void)upload_data;
    if (!req) {
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->app = app;
        req->conn = conn;
        req->refs = 1;
        req->next = app->reqs;
        if (app->reqs)
            app->reqs->prev = req;
        app->reqs = req;
        *con_cls = req;
        /* An answer queued now makes libmicrohttpd close the connection after
         * it; that is right for a request we refuse for its method or its
         * body (we do not read the body), and wrong for the others, which are
         * routed on the next call so the connection can be kept alive. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        int reads = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
        int body = (cl && strcmp(cl, "0") != 0) ||
                   MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_TRANSFER_ENCODING);
        if (!reads || body) {
            req->routed = 1;
            return http_route(app, req, url, method);
        }
        return MHD_YES;
    }
    if (*upload_data_size) { /* cannot happen: bodies are refused above */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!req->routed) {
        req->routed = 1;
        return http_route(app, req, url, method);
    }
    return settle(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_app *app = cls;
    http_req *req = *con_cls;
    (void)conn;
    if (!req)
        return;
    *con_cls = NULL;
    req->completed = 1;
    req->suspended = 0;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && req->streaming)
        fer_log(FER_LOG_DEBUG, "stream to %s ended (%d)", req->addr, (int)toe);
    if (req->wait == WAIT_STATUS || req->wait == WAIT_METRICS || req->wait == WAIT_SNAPSHOT)
        http_ctl_detach(app, req);
    if (req->up)
        http_upstream_detach(req->up, req);
    if (req->stream_started) {
        req->stream_started = 0;
        app->nstreams--;
        app->metrics.streams[req->stream_kind]--;
    }
    http_stream_release(req);
    req_unref(req);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)socket_context;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        int size = SEND_BUFFER;
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
}

static void logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    fer_log(FER_LOG_DEBUG, "libmicrohttpd: %s", line);
}

static void run_mhd(http_app *app);

static void on_mhd_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void on_mhd_ready(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

/* One round of libmicrohttpd's work, then its next timeout. */
static void run_mhd(http_app *app)
{
    if (!app->mhd)
        return;
    MHD_run(app->mhd);
    MHD_UNSIGNED_LONG_LONG to;
    if (MHD_get_timeout(app->mhd, &to) == MHD_YES)
        uv_timer_start(&app->mhd_timer, on_mhd_timer, to, 0);
    else
        uv_timer_stop(&app->mhd_timer);
}

/* The listening socket, bound here so its errors are ours to explain. */
static int make_listener(http_app *app, fer_error *err)
{
    const http_listen *l = &app->listen;
    int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return fer_fail(err, -errno, "listen %s: socket: %s", app->cfg.listen, strerror(errno));
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (l->ipv6) /* "[::]:PORT" serves IPv4 clients too */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, (const struct sockaddr *)&l->addr, l->len) < 0) {
        int e = errno;
        close(fd);
        const char *hint = e == EADDRINUSE    ? " (another program listens there: pick another "
                                                "port with --listen)"
                           : e == EACCES      ? " (ports below 1024 need privileges)"
                           : e == EADDRNOTAVAIL ? " (no interface of this machine has that address)"
                                                : "";
        return fer_fail(err, -e, "cannot listen on %s: %s%s", app->cfg.listen, strerror(e), hint);
    }
    if (listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return fer_fail(err, -e, "cannot listen on %s: %s", app->cfg.listen, strerror(e));
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        http_addr_format((const struct sockaddr *)&ss, app->bound, sizeof app->bound);
    return fd;
}

static void on_tick(uv_timer_t *t);

int http_server_start(http_app *app, fer_error *err)
{
    int fd = make_listener(app, err);
    if (fd < 0)
        return fd;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (app->listen.ipv6)
        flags |= MHD_USE_IPv6;
    app->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, app, MHD_OPTION_EXTERNAL_LOGGER, logger, app,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, app, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, app, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)app->cfg.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)app->cfg.max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)app->cfg.connection_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONNECTION_MEMORY, MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_END);
    if (!app->mhd) {
        close(fd);
        return fer_fail(err, -EIO, "libmicrohttpd would not start on %s (ferd-http --log-level "
                                   "debug shows why)",
                        app->bound);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(app->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info) {
        MHD_stop_daemon(app->mhd);
        app->mhd = NULL;
        return fer_fail(err, -EIO, "libmicrohttpd has no epoll descriptor");
    }
    uv_poll_init(app->loop, &app->mhd_poll, info->epoll_fd);
    app->mhd_poll.data = app;
    uv_poll_start(&app->mhd_poll, UV_READABLE, on_mhd_ready);
    uv_timer_init(app->loop, &app->mhd_timer);
    app->mhd_timer.data = app;
    uv_timer_init(app->loop, &app->tick);
    app->tick.data = app;
    uv_timer_start(&app->tick, on_tick, TICK_MS, TICK_MS);
    run_mhd(app);
    return 0;
}

static void close_handles(http_app *app)
{
    uv_close((uv_handle_t *)&app->mhd_poll, NULL);
    uv_close((uv_handle_t *)&app->mhd_timer, NULL);
    uv_close((uv_handle_t *)&app->tick, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sighup, NULL);
}

/* The end of a stop: every connection is gone or the grace period is over. */
static void finish_stop(http_app *app)
{
    for (http_req *r = app->reqs; r; r = r->next) {
        r->end = 1;
        http_req_resume(r);
    }
    MHD_run(app->mhd); /* takes the resumed connections back before the stop */
    uv_poll_stop(&app->mhd_poll);
    MHD_stop_daemon(app->mhd);
    app->mhd = NULL;
    close_handles(app);
}

static void on_tick(uv_timer_t *t)
{
    http_app *app = t->data;
    uint64_t now = fer_mono_ns();
    if (app->stopping) {
        if (!app->reqs || now - app->stop_ns > STOP_GRACE_NS)
            finish_stop(app);
        return;
    }
    http_ctl_tick(app, now);
    http_upstream_tick(app, now);
    for (http_req *r = app->reqs; r; r = r->next)
        if (r->streaming && now - r->last_send_ns > KEEPALIVE_NS)
            http_stream_keepalive(r);
}

void http_server_stop(http_app *app)
{
    if (app->stopping)
        return;
    app->stopping = 1;
    app->stop_ns = fer_mono_ns();
    fer_log(FER_LOG_INFO, "stopping: ending streams and answering waiting requests");
    if (app->mhd) {
        MHD_socket ls = MHD_quiesce_daemon(app->mhd);
        if (ls != MHD_INVALID_SOCKET)
            close(ls);
    }
    http_ctl_close(app);
    http_upstream_close_all(app);
    for (http_req *r = app->reqs; r; r = r->next) {
        r->end = 1;
        http_req_resume(r);
    }
    if (!app->mhd)
        close_handles(app);
}
