/*
 * app.h — ferd-http's state and the request object every part hands around.
 *
 * The shape of the program: one thread runs a libuv loop that owns everything
 * (the HTTP server, every connection to ferd, every timer); libmicrohttpd runs
 * in its "external epoll" mode inside that loop (its epoll descriptor is
 * polled by libuv and MHD_run() is called when it is ready). Connecting to
 * ferd is the only thing that may block (libferclient's open and WATCH wait
 * for answers), so it runs on libuv's thread pool and hands the connected
 * client back to the loop (open.c). Nothing else crosses threads.
 *
 * Requests that need ferd (STATUS, a snapshot, a new subscription) are
 * suspended in libmicrohttpd and resumed when the answer or a deadline comes;
 * live streams are suspended whenever their viewer has seen everything and
 * resumed when a message arrives. A request object lives until libmicrohttpd
 * reports its completion and drops its response, whichever comes last
 * (reference counted), so no callback ever sees a freed request.
 */
#ifndef FERD_HTTP_APP_H
#define FERD_HTTP_APP_H

#include <microhttpd.h>
#include <stdint.h>
#include <uv.h>

#include "auth.h"
#include "config.h"
#include "ferclient.h"
#include "listen.h"
#include "metrics.h"
#include "ratelimit.h"
#include "ring.h"
#include "util/clock.h"

typedef struct http_app http_app;
typedef struct http_req http_req;
typedef struct http_upstream http_upstream;

/* ---- connecting to ferd off the loop thread (open.c) ---- */

typedef struct http_open_job {
    uv_work_t work;
    int busy;                   /* queued or running: the owner must not be freed */
    char path[256];
    int timeout_ms;
    int watch;                  /* 1: subscribe with w once connected */
    fer_watch w;
    /* results, read in done() on the loop thread */
    fer_client *c;
    int rc;
    fer_error err;
    fer_watch ack;
    char refusal[24];           /* the ERROR code when ferd refused the WATCH */
    char ack_line[1024];        /* the WATCH acknowledgement as ferd sent it */
    void (*done)(struct http_open_job *job);
    void *owner;
} http_open_job;

/* Queues job (path, timeout_ms, watch, w, done and owner filled in). */
int http_open_start(uv_loop_t *loop, http_open_job *job);
/* The close callback of a malloc'd handle (a connection's poll handle): its
 * memory goes only once libuv is done with it. */
void http_free_handle(uv_handle_t *h);

/* ---- requests ---- */

typedef enum req_wait {
    WAIT_NONE = 0,
    WAIT_STATUS,        /* /api/status: ferd's STATUS */
    WAIT_METRICS,       /* /metrics: ferd's STATUS */
    WAIT_SNAPSHOT,      /* /api/snapshot.jpg: a POLL */
    WAIT_UPSTREAM,      /* a stream: its subscription's first WATCH */
} req_wait;

struct http_req {
    http_app *app;
    struct MHD_Connection *conn;
    int refs;                       /* completion + a streaming response's reader */
    http_req *prev, *next;          /* app->reqs: every live request */
    http_req *wnext;                /* in a waiting or viewer list */
    req_wait wait;
    int routed;                     /* http_route has run for it */
    int suspended;                  /* we suspended it and have not resumed it */
    int completed;                  /* libmicrohttpd reported completion */
    uint64_t deadline_ns;           /* while waiting */
    fer_image_kind kind;            /* WAIT_SNAPSHOT: the picture wanted */
    char addr[64];                  /* the client, for logs */
    /* an answer prepared while suspended, queued when libmicrohttpd calls back */
    int has_ready;
    struct MHD_Response *ready;     /* NULL with has_ready: close the connection */
    unsigned ready_code;
    int start_stream;               /* WAIT_UPSTREAM ended well: start the stream */
    /* a live stream */
    http_upstream *up;
    int stream_kind;                /* HTTP_STREAM_EVENTS or HTTP_STREAM_MJPEG */
    int streaming;                  /* attached to up as a viewer */
    int stream_started;             /* counted in app->nstreams and the metrics */
    uint64_t pos;                   /* next message sequence number in up->ring */
    http_msg *cur;                  /* the message being sent, and how far */
    size_t off;
    char oob[2048];                 /* our own lines sent before the next message */
    size_t oob_len, oob_off;
    uint64_t last_send_ns;
    int end;                        /* end the stream once oob is sent */
    int notified_state;             /* the subscription state the viewer was last told */
};

/* ---- subscriptions to ferd (upstream.c) ---- */

typedef enum up_format {
    UP_SSE = 0,         /* Server-Sent Events: ferd's lines as data */
    UP_MJPEG,           /* multipart JPEG parts of the RESULTs' pictures */
    UP_METRICS,         /* nobody's stream: feeds http_metrics */
} up_format;

typedef enum up_state {
    UP_OPENING = 0,     /* a connection attempt is running */
    UP_WATCHING,        /* subscribed: messages flow */
    UP_BACKOFF,         /* the last attempt failed or ferd went away; retrying */
    UP_REFUSED,         /* ferd answered the WATCH with an ERROR (e.g. forbidden) */
} up_state;

struct http_upstream {
    http_app *app;
    http_upstream *next;
    up_format fmt;
    fer_watch w;                    /* what is asked of ferd */
    int shared;                     /* 0: one viewer only (face events start with state) */
    up_state state;
    int ever_watched;
    fer_client *c;
    uv_poll_t *poll;                /* on fer_client_fd(c) while watching */
    uv_timer_t timer;               /* back-off retries and the idle linger */
    int timer_closed;
    int dead;                       /* unlinked; freed once the job and timer are done */
    http_open_job job;
    http_ring ring;
    http_msg *ack;                  /* UP_SSE: the WATCH acknowledgement, as an event */
    http_msg *jpeg;                 /* the newest picture (raw JPEG), for snapshots */
    fer_image_kind jpeg_kind;
    uint64_t jpeg_ns;
    int nviewers;
    http_req *viewers;
    http_req *waiting;
    int backoff_ms;
    int refusal_code;               /* HTTP status for UP_REFUSED */
    char error[512];                /* why the last attempt failed, or the refusal */
    fer_message m;                  /* decoding buffer */
    uint64_t messages;              /* messages pushed */
};

/* The subscription for a stream of format fmt with w, created if needed.
 * NULL with *why set when max_subscriptions are in use. */
http_upstream *http_upstream_get(http_app *app, up_format fmt, const fer_watch *w, char *why,
                                 size_t n);
/* Attaches req as a viewer (the subscription is watching). */
void http_upstream_attach(http_upstream *up, http_req *req);
/* Adds req to the requests waiting for the first WATCH, with its deadline. */
void http_upstream_wait(http_upstream *up, http_req *req);
/* Removes req from up's lists (a viewer that finished, a waiter that gave up). */
void http_upstream_detach(http_upstream *up, http_req *req);
/* The newest picture of kind k from any subscription, at most max_age_ns old
 * (a new reference), or NULL. */
http_msg *http_upstream_latest_jpeg(http_app *app, fer_image_kind k, uint64_t max_age_ns);
/* Fails waiters past their deadline; called by the tick. */
void http_upstream_tick(http_app *app, uint64_t now_ns);
/* Closes every subscription (shutdown). */
void http_upstream_close_all(http_app *app);
/* Starts the metrics subscription (metrics_watch). */
void http_upstream_metrics_start(http_app *app);
const char *http_upstream_state_name(up_state s);

/* ---- STATUS and POLL over the control connection (ctl.c) ---- */

typedef struct http_ctl {
    fer_client *c;
    uv_poll_t *poll;
    http_open_job job;
    uint64_t opened_ns;
    char error[512];                /* why the last open failed */
    fer_message m;
    /* STATUS */
    int status_out;                 /* a STATUS is on its way */
    uint64_t status_sent_ns;
    char *status_line;              /* the last STATUS as ferd sent it */
    size_t status_len;
    fer_status_msg *status;         /* and decoded */
    uint64_t status_ns;             /* when it came; 0 never */
    http_req *status_waiters;
    /* POLL */
    int poll_out;
    fer_image_kind poll_kind;
    uint64_t poll_sent_ns;
    http_msg *snap[3];              /* the last picture of each kind, raw JPEG */
    uint64_t snap_ns[3];
    http_req *poll_waiters;
    int resent;                     /* lost once since the last answer; waiters sent again */
} http_ctl;

/* 1: answered from the cache at once (req->ready set); 0: req waits. */
int http_ctl_status(http_app *app, http_req *req);
int http_ctl_snapshot(http_app *app, http_req *req);
void http_ctl_tick(http_app *app, uint64_t now_ns);
/* Removes req from the waiters (its connection went away). */
void http_ctl_detach(http_app *app, http_req *req);
void http_ctl_close(http_app *app);

/* ---- the HTTP server (server.c) and its endpoints (routes.c, stream.c) ---- */

struct http_app {
    uv_loop_t *loop;
    http_config cfg;
    http_auth auth;
    http_listen listen;
    char bound[80];                 /* the address actually bound, "127.0.0.1:8090" */
    char socket_path[256];          /* ferd's socket, resolved */
    struct MHD_Daemon *mhd;
    uv_poll_t mhd_poll;
    uv_timer_t mhd_timer;
    uv_timer_t tick;
    uv_signal_t sigterm, sigint, sighup;
    int stopping;
    uint64_t stop_ns;
    http_req *reqs;                 /* every live request */
    int nstreams;
    http_upstream *ups;
    int nups;                       /* subscriptions other than metrics */
    http_upstream *metrics_up;
    http_ctl ctl;
    http_metrics metrics;
    http_ratelimit rl;
};

/* Starts libmicrohttpd on app->listen inside app->loop. */
int http_server_start(http_app *app, fer_error *err);
/* Begins a graceful stop: no new connections, streams end, waiters answered;
 * the server stops once they are gone or after a short grace period. */
void http_server_stop(http_app *app);

/* Resumes req if we suspended it (its answer is ready, or a stream has data). */
void http_req_resume(http_req *req);
/* Queues req's prepared answer, starts its stream, or suspends it until one
 * of them is ready: how every route ends. */
enum MHD_Result http_req_settle(http_req *req);
/* Prepares a plain-text answer for a suspended request and resumes it. */
void http_req_finish_text(http_req *req, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepares an answer with a body (copied) for a suspended request and resumes it. */
void http_req_finish(http_req *req, unsigned code, const char *type, const void *body,
                     size_t len);
/* Prepares a response for /metrics from the ctl state and resumes req. */
void http_req_finish_metrics(http_req *req);

/* The routes: the first call for a request (routes.c). */
enum MHD_Result http_route(http_app *app, http_req *req, const char *url, const char *method);
/* Queues the stream response for req, attached to req->up (stream.c). */
enum MHD_Result http_stream_start(http_req *req);
/* Wakes req's stream: a message arrived, the subscription changed state, or
 * a keepalive is due. */
void http_stream_wake(http_req *req);
/* Adds our own SSE lines for req: a keepalive or a notice of up's state. */
void http_stream_keepalive(http_req *req);
/* libmicrohttpd freed a stream's response: drops the reader's reference. */
void http_stream_response_freed(void *cls);
/* Frees req's stream state (its message reference). */
void http_stream_release(http_req *req);

/* Common response headers; type may be NULL. */
void http_headers(struct MHD_Response *r, const char *type, int cacheable);
/* Counts a response of status code. */
void http_count(http_app *app, unsigned code);


#endif
