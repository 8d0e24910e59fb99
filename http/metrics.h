/*
 * metrics.h — what /metrics exposes, in Prometheus' text format (version
 * 0.0.4) with Prometheus' naming: base units (seconds, ratios), counters
 * ending in _total, one HELP and TYPE per family.
 *
 * Three sources, each documented in docs/HTTP.md:
 *   - ferd's STATUS, asked for at scrape time (frames, clients, source, model,
 *     latency quantiles): ferd's own counters, exact;
 *   - ferd's RESULT stream, read by ferd-http's metrics subscription (faces
 *     per label, pipeline, capture-to-result and fan-out latency histograms):
 *     these count what ferd-http saw while it ran;
 *   - ferd-http itself (requests, streams, refusals, skipped frames).
 * Single-threaded: the loop thread updates and writes.
 */
#ifndef FERD_HTTP_METRICS_H
#define FERD_HTTP_METRICS_H

#include <stdint.h>

#include "proto/protocol.h"
#include "sbuf.h"

#define HTTP_HIST_MAX 16

typedef struct http_hist {
    int n;                          /* finite buckets */
    double le[HTTP_HIST_MAX];       /* their upper bounds, seconds, increasing */
    uint64_t count[HTTP_HIST_MAX + 1]; /* per bucket (not cumulative); [n] is +Inf */
    uint64_t total;
    double sum;
} http_hist;

void http_hist_init(http_hist *h, const double *le, int n);
void http_hist_observe(http_hist *h, double v);

/* Why ferd-http refused a request (ferd_http_refused_total{reason}). */
typedef enum http_refusal {
    HTTP_REFUSE_RATE = 0,   /* over requests_per_second */
    HTTP_REFUSE_STREAMS,    /* over max_streams or max_subscriptions */
    HTTP_REFUSE_AUTH,       /* no or wrong credentials */
    HTTP_REFUSE_HOST,       /* a Host header not ours (DNS rebinding) */
    HTTP_REFUSE_BAD,        /* 4xx for the request itself: path, method, parameters */
    HTTP_REFUSE_COUNT
} http_refusal;

/* Kinds of live streams (ferd_http_streams{kind}). */
enum { HTTP_STREAM_EVENTS = 0, HTTP_STREAM_MJPEG, HTTP_STREAM_KINDS };

typedef struct http_metrics {
    /* from the metrics subscription */
    uint64_t results;                       /* RESULTs read */
    int nlabels;
    char labels[FER_RESULT_MAX_CLASSES][FER_RESULT_CLASS_NAME];
    uint64_t faces_by_label[FER_RESULT_MAX_CLASSES];
    int faces_now;                          /* faces in the latest RESULT; -1 none yet */
    http_hist pipeline;                     /* timing.total_ms */
    http_hist capture_to_ready;             /* ready_ns - mono_ns */
    http_hist fanout;                       /* our read time - ready_ns */
    /* ferd-http */
    uint64_t requests_by_class[6];          /* [1..5]: 1xx..5xx responses */
    uint64_t refused[HTTP_REFUSE_COUNT];
    int streams[HTTP_STREAM_KINDS];         /* open now */
    uint64_t streams_total[HTTP_STREAM_KINDS];
    uint64_t stream_bytes;                  /* bytes handed to stream connections */
    uint64_t stream_skipped;                /* frames skipped for slow viewers */
    int subscriptions;                      /* ferd connections with a WATCH, now */
    uint64_t ferd_connects, ferd_failures;  /* connection attempts that worked / failed */
    uint64_t undecodable;                   /* lines from ferd that did not decode */
} http_metrics;

void http_metrics_init(http_metrics *m);

/* Counts one RESULT read at now_ns (CLOCK_MONOTONIC, the clock of ready_ns). */
void http_metrics_result(http_metrics *m, const fer_message *msg, uint64_t now_ns);

/*
 * Writes the whole exposition: status (NULL when ferd did not answer: then
 * ferd_up is 0 and STATUS families are left out), the stream figures (when
 * have_stream) and ferd-http's own.
 */
void http_metrics_write(sbuf *b, const http_metrics *m, const fer_status_msg *status,
                        int have_stream);

#endif
