/*
 * metrics.c — counting and the Prometheus text exposition (metrics.h).
 *
 * Histogram buckets are written cumulatively, as the format requires, from
 * per-bucket counts kept here. Label values are escaped (they come from ferd:
 * a model's class names, a source's name), everything else is ours.
 */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void http_hist_init(http_hist *h, const double *le, int n)
{
    memset(h, 0, sizeof *h);
    h->n = n > HTTP_HIST_MAX ? HTTP_HIST_MAX : n;
    for (int i = 0; i < h->n; i++)
        h->le[i] = le[i];
}

void http_hist_observe(http_hist *h, double v)
{
    if (!isfinite(v))
        return;
    int i = 0;
    while (i < h->n && v > h->le[i])
        i++;
    h->count[i]++;
    h->total++;
    h->sum += v;
}

void http_metrics_init(http_metrics *m)
{
    memset(m, 0, sizeof *m);
    m->faces_now = -1;
    /* ferd's pipeline takes milliseconds to tens of milliseconds per frame. */
    static const double pipe[] = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64};
    /* Delivery over a local socket: tens of microseconds to milliseconds. */
    static const double fan[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                 0.01,   0.025,   0.05,   0.1,   0.25};
    http_hist_init(&m->pipeline, pipe, sizeof pipe / sizeof *pipe);
    http_hist_init(&m->capture_to_ready, pipe, sizeof pipe / sizeof *pipe);
    http_hist_init(&m->fanout, fan, sizeof fan / sizeof *fan);
}

/* The index of a class name in m's label table, adding it; -1 when full. */
static int label_index(http_metrics *m, const char *name)
{
    for (int i = 0; i < m->nlabels; i++)
        if (strcmp(m->labels[i], name) == 0)
            return i;
    if (m->nlabels == FER_RESULT_MAX_CLASSES)
        return -1;
    snprintf(m->labels[m->nlabels], sizeof m->labels[0], "%s", name);
    return m->nlabels++;
}

void http_metrics_result(http_metrics *m, const fer_message *msg, uint64_t now_ns)
{
    const fer_frame_result *r = &msg->u.result;
    m->results++;
    m->faces_now = r->nfaces;
    for (int i = 0; i < r->nfaces; i++) {
        int l = r->faces[i].label;
        if (l < 0 || l >= r->nclasses)
            continue;
        int k = label_index(m, r->classes[l]);
        if (k >= 0)
            m->faces_by_label[k]++;
    }
    if (r->total_ms >= 0)
        http_hist_observe(&m->pipeline, r->total_ms / 1000.0);
    if (msg->ready_ns && r->mono_ns && msg->ready_ns >= r->mono_ns)
        http_hist_observe(&m->capture_to_ready, (double)(msg->ready_ns - r->mono_ns) * 1e-9);
    if (msg->ready_ns && now_ns >= msg->ready_ns)
        http_hist_observe(&m->fanout, (double)(now_ns - msg->ready_ns) * 1e-9);
}

static void family(sbuf *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void hist(sbuf *b, const char *name, const char *help, const http_hist *h)
{
    family(b, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < h->n; i++) {
        cum += h->count[i];
        sbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->le[i], (unsigned long long)cum);
    }
    sbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->total);
    sbuf_printf(b, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name,
                (unsigned long long)h->total);
}

static void counter(sbuf *b, const char *name, const char *help, long long v)
{
    family(b, name, "counter", help);
    sbuf_printf(b, "%s %lld\n", name, v < 0 ? 0 : v);
}

static void gauge(sbuf *b, const char *name, const char *help, double v)
{
    family(b, name, "gauge", help);
    sbuf_printf(b, "%s %.9g\n", name, v);
}

static void write_status(sbuf *b, const fer_status_msg *s)
{
    family(b, "ferd_build_info", "gauge", "ferd's release (always 1).");
    sbuf_printf(b, "ferd_build_info{release=\"");
    sbuf_label(b, s->release);
    sbuf_printf(b, "\"} 1\n");
    gauge(b, "ferd_uptime_seconds", "Seconds since ferd started.", s->uptime);

    counter(b, "ferd_frames_captured_total", "Frames read from the source.", s->frames.captured);
    counter(b, "ferd_frames_processed_total", "Frames that went through detection and the CNN.",
            s->frames.processed);
    counter(b, "ferd_frames_dropped_total",
            "Frames replaced by a newer one before inference took them (inference fell behind).",
            s->frames.dropped);

    static const char *const states[] = {"starting", "streaming", "reconnecting",
                                         "ended",    "error",     "idle"};
    family(b, "ferd_source_state", "gauge",
           "The source's state: 1 for the current one, 0 for the others.");
    int known = 0;
    for (size_t i = 0; i < sizeof states / sizeof *states; i++) {
        int on = strcmp(s->source.state, states[i]) == 0;
        known |= on;
        sbuf_printf(b, "ferd_source_state{state=\"%s\"} %d\n", states[i], on);
    }
    if (!known && s->source.state[0]) { /* a state a newer ferd added */
        sbuf_printf(b, "ferd_source_state{state=\"");
        sbuf_label(b, s->source.state);
        sbuf_printf(b, "\"} 1\n");
    }
    family(b, "ferd_source_info", "gauge", "The configured source and its kind (always 1).");
    sbuf_printf(b, "ferd_source_info{name=\"");
    sbuf_label(b, s->source.name);
    sbuf_printf(b, "\",kind=\"");
    sbuf_label(b, s->source.kind);
    sbuf_printf(b, "\"} 1\n");
    if (s->source.fps >= 0)
        gauge(b, "ferd_source_frames_per_second", "Frame rate measured at the source.",
              s->source.fps);
    counter(b, "ferd_source_reopens_total", "Times the source was opened again.",
            s->source.reopens);

    if (s->has_model) {
        const fer_model_info *mi = &s->model;
        family(b, "ferd_model_info", "gauge", "The model ferd serves (always 1).");
        sbuf_printf(b, "ferd_model_info{name=\"");
        sbuf_label(b, mi->name);
        sbuf_printf(b, "\",path=\"");
        sbuf_label(b, mi->path);
        sbuf_printf(b, "\",classes=\"%d\"} 1\n", mi->nclasses);
        if (mi->params >= 0)
            gauge(b, "ferd_model_parameters", "Trainable parameters of the model.",
                  (double)mi->params);
        if (mi->val_acc >= 0 || mi->test_acc >= 0) {
            family(b, "ferd_model_accuracy_ratio", "gauge",
                   "Accuracy stored in the model file, by data split.");
            if (mi->val_acc >= 0)
                sbuf_printf(b, "ferd_model_accuracy_ratio{split=\"validation\"} %.6g\n",
                            mi->val_acc);
            if (mi->test_acc >= 0)
                sbuf_printf(b, "ferd_model_accuracy_ratio{split=\"test\"} %.6g\n", mi->test_acc);
        }
    }

    gauge(b, "ferd_clients", "Clients connected to ferd's socket.", s->clients.connected);
    gauge(b, "ferd_clients_watching", "Clients subscribed to results.", s->clients.watching);
    gauge(b, "ferd_clients_max", "Most clients ferd accepts at once.", s->clients.max);
    counter(b, "ferd_clients_accepted_total", "Connections ferd accepted.", s->clients.accepted);
    counter(b, "ferd_clients_rejected_total", "Connections refused over max_clients.",
            s->clients.rejected);
    family(b, "ferd_client_disconnects_total", "counter",
           "Clients ferd disconnected, by the limit they passed.");
    sbuf_printf(b,
                "ferd_client_disconnects_total{reason=\"output_soft_limit\"} %lld\n"
                "ferd_client_disconnects_total{reason=\"output_hard_limit\"} %lld\n"
                "ferd_client_disconnects_total{reason=\"line_too_long\"} %lld\n",
                s->clients.soft_disconnects, s->clients.hard_disconnects,
                s->clients.line_disconnects);
    counter(b, "ferd_requests_rate_limited_total", "Requests ferd refused for their rate.",
            s->clients.rate_limited);
    long long dropped = 0;
    for (int i = 0; i < s->nlist; i++)
        dropped += (long long)s->list[i].dropped;
    gauge(b, "ferd_client_messages_dropped",
          "Stream messages ferd dropped for slow clients, summed over the clients connected now.",
          (double)dropped);

    if (s->latency.samples > 0 && s->latency.p50 >= 0) {
        /* Quantiles ferd computed over its last 1024 results: gauges, since a
         * summary would need a sum STATUS does not carry. */
        gauge(b, "ferd_result_latency_p50_seconds",
              "Median time from capture to result in ferd's loop, over its last 1024 results.",
              s->latency.p50 / 1000.0);
        gauge(b, "ferd_result_latency_p99_seconds",
              "99th percentile of capture to result in ferd's loop, over its last 1024 results.",
              s->latency.p99 / 1000.0);
    }
}

static void write_stream(sbuf *b, const http_metrics *m)
{
    counter(b, "ferd_results_observed_total",
            "RESULT messages ferd-http's metrics subscription read.", (long long)m->results);
    family(b, "ferd_faces_observed_total", "counter",
           "Faces in the RESULTs read, by their label (a face counts once per frame).");
    for (int i = 0; i < m->nlabels; i++) {
        sbuf_printf(b, "ferd_faces_observed_total{label=\"");
        sbuf_label(b, m->labels[i]);
        sbuf_printf(b, "\"} %llu\n", (unsigned long long)m->faces_by_label[i]);
    }
    if (m->faces_now >= 0)
        gauge(b, "ferd_faces", "Faces in the latest RESULT.", m->faces_now);
    hist(b, "ferd_pipeline_seconds", "Detection and classification time per frame (timing.total_ms).",
         &m->pipeline);
    hist(b, "ferd_capture_to_result_seconds",
         "From frame capture to its result being ready in ferd (ready_ns - mono_ns).",
         &m->capture_to_ready);
    hist(b, "ferd_fanout_seconds",
         "From a result being ready in ferd to ferd-http having read it (fan-out delivery).",
         &m->fanout);
}

static void write_self(sbuf *b, const http_metrics *m)
{
    family(b, "ferd_http_responses_total", "counter", "HTTP responses sent, by status class.");
    for (int c = 1; c <= 5; c++)
        sbuf_printf(b, "ferd_http_responses_total{code=\"%dxx\"} %llu\n", c,
                    (unsigned long long)m->requests_by_class[c]);
    static const char *const why[HTTP_REFUSE_COUNT] = {"rate_limit", "stream_limit", "auth",
                                                       "host", "bad_request"};
    family(b, "ferd_http_refused_total", "counter", "Requests refused, by reason.");
    for (int i = 0; i < HTTP_REFUSE_COUNT; i++)
        sbuf_printf(b, "ferd_http_refused_total{reason=\"%s\"} %llu\n", why[i],
                    (unsigned long long)m->refused[i]);
    static const char *const kinds[HTTP_STREAM_KINDS] = {"events", "mjpeg"};
    family(b, "ferd_http_streams", "gauge", "Live streams open now, by kind.");
    for (int i = 0; i < HTTP_STREAM_KINDS; i++)
        sbuf_printf(b, "ferd_http_streams{kind=\"%s\"} %d\n", kinds[i], m->streams[i]);
    family(b, "ferd_http_streams_opened_total", "counter", "Live streams opened, by kind.");
    for (int i = 0; i < HTTP_STREAM_KINDS; i++)
        sbuf_printf(b, "ferd_http_streams_opened_total{kind=\"%s\"} %llu\n", kinds[i],
                    (unsigned long long)m->streams_total[i]);
    counter(b, "ferd_http_stream_bytes_total", "Bytes handed to live stream connections.",
            (long long)m->stream_bytes);
    counter(b, "ferd_http_stream_skipped_total",
            "Frames and messages a slow viewer skipped (it got newer ones instead).",
            (long long)m->stream_skipped);
    gauge(b, "ferd_http_subscriptions", "Connections to ferd with a WATCH, now.",
          m->subscriptions);
    counter(b, "ferd_http_ferd_connects_total", "Connections to ferd that succeeded.",
            (long long)m->ferd_connects);
    counter(b, "ferd_http_ferd_connect_failures_total", "Connections to ferd that failed.",
            (long long)m->ferd_failures);
    counter(b, "ferd_http_undecodable_lines_total", "Lines from ferd that did not decode.",
            (long long)m->undecodable);
}

void http_metrics_write(sbuf *b, const http_metrics *m, const fer_status_msg *status,
                        int have_stream)
{
    gauge(b, "ferd_up", "1 if ferd answered STATUS for this scrape, else 0.", status ? 1 : 0);
    if (status)
        write_status(b, status);
    if (have_stream)
        write_stream(b, m);
    write_self(b, m);
}
