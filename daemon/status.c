/*
 * status.c — see status.h. The counters the capture and inference threads own
 * are copied under the shared mutex in one short critical section; the rest
 * belongs to the loop thread and is read directly.
 */
#include "status.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "util/redact.h"
#include "util/utf8.h"

/* Copies src into dst (n bytes), credentials masked, cut between characters
 * if it does not fit. */
static void copy_cut(char *dst, size_t n, const char *src)
{
    char masked[FERD_PATH_MAX];
    fer_redact(src, masked, sizeof masked);
    fer_utf8_copy(dst, n, masked);
}

/* 1 if viewer may see other clients' credentials. */
static int sees_all(const ferd_client *viewer)
{
    return !viewer || viewer->privileged;
}

void ferd_status_fill(ferd *d, fer_status_msg *s, const ferd_client *viewer)
{
    memset(s, 0, sizeof *s);
    snprintf(s->release, sizeof s->release, "%s", FER_VERSION);
    s->uptime = (double)(fer_mono_ns() - d->start_ns) * 1e-9;
    s->pid = getpid();

    copy_cut(s->source.name, sizeof s->source.name, d->cfg.source);
    pthread_mutex_lock(&d->sh.mu);
    snprintf(s->source.kind, sizeof s->source.kind, "%s", d->sh.kind);
    snprintf(s->source.state, sizeof s->source.state, "%s",
             ferd_source_state_name(d->sh.state));
    copy_cut(s->source.error, sizeof s->source.error, d->sh.error);
    s->source.fps = d->sh.state == FERD_SRC_STREAMING ? d->sh.fps : -1;
    s->source.width = d->sh.width;
    s->source.height = d->sh.height;
    s->source.reopens = d->sh.reopens;
    s->frames.captured = d->sh.captured;
    s->frames.dropped = d->sh.dropped + d->stats.results_lost;
    s->frames.processed = d->sh.processed;
    pthread_mutex_unlock(&d->sh.mu);

    s->has_model = 1;
    s->model = d->model_info;

    s->clients.connected = d->connected;
    s->clients.watching = d->watching;
    s->clients.max = d->cfg.max_clients;
    s->clients.accepted = d->stats.accepted;
    s->clients.rejected = d->stats.rejected;
    s->clients.soft_disconnects = d->stats.soft_disconnects;
    s->clients.hard_disconnects = d->stats.hard_disconnects;
    s->clients.line_disconnects = d->stats.line_disconnects;
    s->clients.rate_limited = d->stats.rate_limited;
    s->clients.timeouts = d->stats.timeouts;

    s->latency.p50 = s->latency.p99 = -1;
    s->latency.samples = ferd_stats_latency(&d->stats, &s->latency.p50, &s->latency.p99);

    for (int i = 0; i < d->nslots && s->nlist < FER_STATUS_MAX_CLIENTS; i++) {
        const ferd_client *c = &d->clients[i];
        if (!c->in_use || c->reject || c->close_pending)
            continue;
        fer_status_client *e = &s->list[s->nlist++];
        e->id = (int)c->id;
        /* -1 leaves them out of the object: absent means unknown. */
        int own = viewer == c || sees_all(viewer);
        e->uid = own ? c->peer.uid : -1;
        e->pid = own ? c->peer.pid : -1;
        e->watching = c->watching;
        e->events = c->watch.events;
        e->image = c->watch.image;
        e->max_fps = c->watch.max_fps;
        e->sent = c->sent;
        e->dropped = c->dropped;
        e->queued = c->out.bytes;
    }
}
