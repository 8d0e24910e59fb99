/*
 * bridge.c — see bridge.h. The glue: ferdlink's hooks make messages, the
 * pump hands them to the broker, and the loop waits for whichever comes
 * first — a line from ferd, the broker's socket, a signal, or a timer
 * (reconnections, keepalive, a rate-limited state, the STATUS period).
 */
#include "bridge.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "broker.h"
#include "discovery.h"
#include "events.h"
#include "ferclient.h"
#include "ferdlink.h"
#include "queue.h"
#include "state.h"
#include "topics.h"
#include "util/clock.h"
#include "util/log.h"

/* A clean stop waits this long for "offline" to be acknowledged. */
#define STOP_FLUSH_MS 2000

typedef struct bridge {
    const fmq_config *cfg;
    fmq_topics topics;
    fmq_queue q;
    fmq_state state;
    fmq_tracks tracks;
    fmq_broker *broker;
    fmq_ferd *ferd;
    fmq_bridge_stats stats;
    int64_t now;

    /* Availability: the value wanted, and whether the broker has it. Not
     * published before the first attempt on ferd has answered either way,
     * so a start does not flap offline-online. */
    int ferd_up, ferd_known;
    int avail_pending;

    /* What ferd's STATUS said about its model. */
    int nclasses;
    char classes[FER_RESULT_MAX_CLASSES][FER_RESULT_CLASS_NAME];
    char release[32], model[64];
    int classes_known;

    /* Discovery: the messages of the current classes, how many went out on
     * this broker connection, and the topics of classes that went away and
     * must be cleared. */
    fmq_discovery_msg disc[FMQ_DISCOVERY_MAX];
    int ndisc, disc_sent;
    char gone[FMQ_DISCOVERY_MAX][FMQ_TOPIC_LEN + 128];
    int ngone;

    int64_t last_result_ms;  /* the last RESULT published on .../results */
    int64_t last_frame_ms;   /* the last RESULT received at all */
    int stop_mid, stop_acked;
} bridge;

/* ---- the queue ---- */

static void report_queue(bridge *b)
{
    unsigned long long n = 0;
    switch (fmq_queue_report(&b->q, &n)) {
    case FMQ_REPORT_DROPPING:
        fer_log(FER_LOG_WARNING,
                "the broker is not taking messages fast enough: the queue is full (%d messages or "
                "%zu bytes) and new messages are dropped until it drains",
                b->q.max_messages, b->q.max_bytes);
        break;
    case FMQ_REPORT_RECOVERED:
        fer_log(FER_LOG_NOTICE, "the queue drained; %llu messages were dropped while it was full",
                n);
        break;
    default:
        break;
    }
}

static void enqueue(bridge *b, const char *topic, const char *payload, size_t len, int qos,
                    int retain, int coalesce)
{
    int rc = fmq_queue_push(&b->q, topic, payload, len, qos, retain, coalesce);
    if (rc == -ENOMEM)
        fer_log(FER_LOG_ERR, "out of memory queueing a message for %s", topic);
    b->stats.dropped = b->q.dropped;
    report_queue(b);
}

/* ---- state ---- */

static void publish_state_if_due(bridge *b)
{
    int64_t due = fmq_state_due_ms(&b->state);
    if (due < 0 || due > b->now)
        return;
    char *payload = NULL;
    if (fmq_state_payload(&b->state, &payload) == 0) {
        enqueue(b, b->topics.state, payload, strlen(payload), b->cfg->state_qos,
                b->cfg->state_retain, 1);
        b->stats.states++;
    }
    free(payload);
    fmq_state_mark_published(&b->state, b->now);
}

/* When frames stop while ferd is there, the faces last seen are not there
 * any more as far as anyone can tell (see state.h). */
static int64_t stall_at(const bridge *b)
{
    if (!b->ferd_up || b->cfg->state_stall_seconds <= 0 || !b->state.have || b->state.cur.stalled)
        return INT64_MAX;
    return b->last_frame_ms + (int64_t)(b->cfg->state_stall_seconds * 1000);
}

static void check_stall(bridge *b)
{
    if (b->now < stall_at(b))
        return;
    fer_log(FER_LOG_NOTICE, "no frame from ferd for %g s: the state says no faces until frames "
                            "come again", b->cfg->state_stall_seconds);
    fmq_state_stall(&b->state);
    publish_state_if_due(b);
}

/* ---- discovery ---- */

static void rebuild_discovery(bridge *b)
{
    if (!b->cfg->discovery || !b->classes_known)
        return;
    fmq_discovery_msg fresh[FMQ_DISCOVERY_MAX];
    int n = 0;
    fmq_discovery_info info = {b->cfg->discovery_prefix, b->cfg->instance, &b->topics,
                               b->release, b->model};
    if (fmq_discovery_build(&info, (const char (*)[FER_RESULT_CLASS_NAME])b->classes,
                            b->nclasses, fresh, &n) < 0) {
        fer_log(FER_LOG_ERR, "out of memory building the Home Assistant configs");
        return;
    }
    /* Topics published before and not any more: cleared with an empty
     * retained message, so Home Assistant removes those sensors. */
    for (int i = 0; i < b->ndisc; i++) {
        int kept = 0;
        for (int j = 0; j < n && !kept; j++)
            kept = strcmp(b->disc[i].topic, fresh[j].topic) == 0;
        if (!kept && b->ngone < FMQ_DISCOVERY_MAX)
            snprintf(b->gone[b->ngone++], sizeof b->gone[0], "%s", b->disc[i].topic);
    }
    fmq_discovery_free(b->disc, b->ndisc);
    memcpy(b->disc, fresh, sizeof fresh[0] * (size_t)n);
    b->ndisc = n;
    b->disc_sent = 0;
}

/* ---- ferd's hooks ---- */

static void on_ferd_up(void *ud)
{
    bridge *b = ud;
    b->ferd_up = 1;
    b->ferd_known = 1;
    b->avail_pending = 1;
    b->stats.ferd_connects++;
    b->last_frame_ms = b->now;
}

static void on_ferd_down(void *ud)
{
    bridge *b = ud;
    b->ferd_up = 0;
    b->ferd_known = 1;
    b->avail_pending = 1;
    /* A restarted ferd numbers its tracks and frames from 1 again. */
    fmq_tracks_clear(&b->tracks);
    fmq_state_new_session(&b->state);
}

static void on_event(void *ud, const fer_face_event *ev)
{
    bridge *b = ud;
    char *payload = NULL;
    if (fmq_event_payload(&b->tracks, ev, b->cfg->instance, &payload) == 0) {
        enqueue(b, b->topics.events, payload, strlen(payload), b->cfg->events_qos, 0, 0);
        b->stats.events++;
    }
    free(payload);
}

static void on_result(void *ud, const fer_message *m, const char *line, size_t len, int from_poll)
{
    bridge *b = ud;
    b->last_frame_ms = b->now;
    if (fmq_state_update(&b->state, &m->u.result) == 0)
        publish_state_if_due(b);
    if (!b->cfg->results || from_poll)
        return;
    /* A live stream: while the broker is away, results are not kept. */
    if (!fmq_broker_connected(b->broker))
        return;
    double rate = b->cfg->results_max_rate;
    if (rate > 0 && b->last_result_ms && b->now - b->last_result_ms < (int64_t)(1000.0 / rate))
        return;
    b->last_result_ms = b->now;
    enqueue(b, b->topics.results, line, len, b->cfg->results_qos, 0, 0);
    b->stats.results++;
}

static void on_status(void *ud, const fer_status_msg *s)
{
    bridge *b = ud;
    if (s->has_model) {
        int changed = !b->classes_known || s->model.nclasses != b->nclasses ||
                      strcmp(b->model, s->model.name) != 0 || strcmp(b->release, s->release) != 0;
        for (int i = 0; !changed && i < s->model.nclasses; i++)
            changed = strcmp(b->classes[i], s->model.classes[i]) != 0;
        if (changed) {
            b->nclasses = s->model.nclasses;
            for (int i = 0; i < b->nclasses && i < FER_RESULT_MAX_CLASSES; i++)
                snprintf(b->classes[i], sizeof b->classes[i], "%s", s->model.classes[i]);
            snprintf(b->model, sizeof b->model, "%s", s->model.name);
            snprintf(b->release, sizeof b->release, "%s", s->release);
            b->classes_known = 1;
            fmq_state_set_classes(&b->state, (const char (*)[FER_RESULT_CLASS_NAME])b->classes,
                                  b->nclasses);
            rebuild_discovery(b);
        }
    }
    if (b->cfg->status_interval <= 0)
        return;
    b->stats.queued = (unsigned long long)b->q.count;
    b->stats.broker_connects = fmq_broker_connects(b->broker);
    char *payload = NULL;
    if (fmq_status_payload(s, b->cfg->instance, &b->stats, &payload) == 0) {
        enqueue(b, b->topics.status, payload, strlen(payload), b->cfg->status_qos,
                b->cfg->status_retain, 1);
        b->stats.statuses++;
    }
    free(payload);
}

static void on_bad_line(void *ud)
{
    bridge *b = ud;
    b->stats.bad_lines++;
}

/* ---- the broker's hooks ---- */

static void on_broker_connected(void *ud)
{
    bridge *b = ud;
    /* A new session: the broker may have restarted without persistence, so
     * availability and every config go out again. */
    b->avail_pending = 1;
    b->disc_sent = 0;
}

static void on_published(void *ud, int mid)
{
    bridge *b = ud;
    if (b->stop_mid && mid == b->stop_mid)
        b->stop_acked = 1;
}

/* ---- the pump ---- */

/* Publishes one message; 1 sent, 0 not now, -1 never (dropped). */
static int send_one(bridge *b, const char *topic, const void *payload, size_t len, int qos,
                    int retain)
{
    int rc = fmq_broker_publish(b->broker, topic, payload, (int)len, qos, retain, NULL);
    if (rc == -ENOTCONN)
        return 0;
    if (rc < 0) {
        fer_log(FER_LOG_WARNING, "dropped a message for %s: %s", topic, strerror(-rc));
        return -1;
    }
    b->stats.published++;
    return 1;
}

static void pump(bridge *b)
{
    while (fmq_broker_can_publish(b->broker)) {
        if (b->avail_pending && b->ferd_known) {
            const char *v = b->ferd_up ? FMQ_ONLINE : FMQ_OFFLINE;
            if (send_one(b, b->topics.availability, v, strlen(v), 1, 1) == 0)
                return;
            b->avail_pending = 0;
            continue;
        }
        if (b->ngone > 0) {
            if (send_one(b, b->gone[b->ngone - 1], "", 0, 1, 1) == 0)
                return;
            b->ngone--;
            continue;
        }
        if (b->disc_sent < b->ndisc) {
            const fmq_discovery_msg *d = &b->disc[b->disc_sent];
            if (send_one(b, d->topic, d->payload, strlen(d->payload), 1, 1) == 0)
                return;
            b->disc_sent++;
            continue;
        }
        const fmq_msg *m = fmq_queue_peek(&b->q);
        if (!m)
            break;
        if (send_one(b, m->topic, m->payload, m->len, m->qos, m->retain) == 0)
            return;
        fmq_queue_pop(&b->q);
    }
    report_queue(b);
}

/* ---- the loop ---- */

static int64_t earliest(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int make_signalfd(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, old) < 0)
        return -errno;
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* 1 when a stop was asked for. */
static int read_signals(int fd)
{
    int stop = 0;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP)
            fer_log(FER_LOG_NOTICE, "SIGHUP: ferd-mqtt has nothing to reload; restart it to "
                                    "apply a changed configuration");
        else
            stop = 1;
    }
    return stop;
}

/* The clean stop: "offline", acknowledged or not within STOP_FLUSH_MS, then
 * DISCONNECT. */
static void stop_cleanly(bridge *b)
{
    if (!fmq_broker_connected(b->broker))
        return;
    int64_t end = fer_mono_ms() + STOP_FLUSH_MS;
    int sent = 0;
    while (!b->stop_acked && fer_mono_ms() < end && fmq_broker_connected(b->broker)) {
        b->now = fer_mono_ms();
        if (!sent && fmq_broker_inflight(b->broker) < b->cfg->max_inflight) {
            int mid = 0;
            if (fmq_broker_publish(b->broker, b->topics.availability, FMQ_OFFLINE,
                                   (int)strlen(FMQ_OFFLINE), 1, 1, &mid) == 0) {
                b->stop_mid = mid;
                sent = 1;
            }
        }
        int fd = fmq_broker_fd(b->broker);
        if (fd < 0)
            break;
        struct pollfd p = {.fd = fd, .events = fmq_broker_events(b->broker)};
        if (poll(&p, 1, 50) > 0)
            fmq_broker_handle(b->broker, p.revents, b->now);
        fmq_broker_tick(b->broker, b->now);
    }
    fmq_broker_disconnect(b->broker);
}

int fmq_bridge_run(const fmq_config *cfg, const char *password)
{
    bridge *b = calloc(1, sizeof *b);
    if (!b) {
        fer_log(FER_LOG_ERR, "out of memory");
        return FMQ_EXIT_FAIL;
    }
    int code = FMQ_EXIT_FAIL, sigfd = -1;
    sigset_t oldmask;
    b->cfg = cfg;
    fmq_topics_init(&b->topics, cfg);
    fmq_state_init(&b->state, cfg->state_max_rate, cfg->state_prob_delta);
    fmq_tracks_clear(&b->tracks);
    b->avail_pending = 1;
    if (fmq_queue_init(&b->q, cfg->queue_max_messages, (size_t)cfg->queue_max_bytes) < 0) {
        fer_log(FER_LOG_ERR, "out of memory for a queue of %d messages", cfg->queue_max_messages);
        goto out;
    }
    fmq_broker_hooks bh = {.ud = b, .connected = on_broker_connected, .published = on_published};
    char why[600] = "";
    int rc = fmq_broker_new(&b->broker, cfg, cfg->client_id, password, b->topics.availability,
                            &bh, why, sizeof why);
    if (rc < 0) {
        fer_log(FER_LOG_ERR, "%s", rc == -ENOMEM ? "out of memory" : why);
        code = rc == -ENOMEM ? FMQ_EXIT_FAIL : FMQ_EXIT_CONFIG;
        goto out;
    }
    fmq_ferd_hooks fh = {.ud = b, .up = on_ferd_up, .down = on_ferd_down, .event = on_event,
                         .result = on_result, .status = on_status, .bad_line = on_bad_line};
    if (fmq_ferd_new(&b->ferd, cfg, &fh) < 0) {
        fer_log(FER_LOG_ERR, "out of memory");
        goto out;
    }
    sigfd = make_signalfd(&oldmask);
    if (sigfd < 0) {
        fer_log(FER_LOG_ERR, "signalfd: %s", strerror(-sigfd));
        goto out;
    }
    fer_log(FER_LOG_INFO, "bridging ferd at %s to %s as %s (topics under %s/)",
            fer_client_socket_path(cfg->socket[0] ? cfg->socket : NULL), cfg->broker, cfg->instance, b->topics.base);

    b->now = fer_mono_ms();
    fmq_broker_start(b->broker, b->now);
    int stop = 0;
    while (!stop) {
        b->now = fer_mono_ms();
        fmq_ferd_tick(b->ferd, b->now);
        fmq_broker_tick(b->broker, b->now);
        check_stall(b);
        publish_state_if_due(b);
        pump(b);
        if (fmq_broker_fatal(b->broker)) {
            fer_log(FER_LOG_ERR, "%s", fmq_broker_fatal_message(b->broker));
            code = fmq_broker_fatal(b->broker);
            goto out;
        }

        int64_t next = earliest(fmq_ferd_next_ms(b->ferd), fmq_broker_next_ms(b->broker));
        next = earliest(next, stall_at(b));
        int64_t due = fmq_state_due_ms(&b->state);
        if (due >= 0)
            next = earliest(next, due);
        int64_t wait = next - b->now;
        if (wait > 1000)
            wait = 1000;
        if (wait < 0 || fmq_ferd_pending(b->ferd))
            wait = 0;

        struct pollfd pfd[2 + FMQ_FERD_MAX_FDS];
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
        int bfd = fmq_broker_fd(b->broker), bi = -1;
        if (bfd >= 0) {
            bi = n;
            pfd[n++] = (struct pollfd){.fd = bfd, .events = fmq_broker_events(b->broker)};
        }
        int fi = n;
        n += fmq_ferd_pollfds(b->ferd, pfd + n);
        int ready = poll(pfd, (nfds_t)n, (int)wait);
        if (ready < 0 && errno != EINTR) {
            fer_log(FER_LOG_ERR, "poll: %s", strerror(errno));
            goto out;
        }
        b->now = fer_mono_ms();
        if (ready > 0 && pfd[0].revents)
            stop = read_signals(sigfd);
        fmq_ferd_handle(b->ferd, pfd + fi, n - fi, b->now);
        if (bi >= 0 && ready > 0 && pfd[bi].revents)
            fmq_broker_handle(b->broker, pfd[bi].revents, b->now);
    }
    fer_log(FER_LOG_INFO, "stopping");
    stop_cleanly(b);
    code = FMQ_EXIT_OK;
out:
    if (sigfd >= 0) {
        close(sigfd);
        sigprocmask(SIG_SETMASK, &oldmask, NULL);
    }
    fmq_ferd_free(b->ferd);
    fmq_broker_free(b->broker);
    fmq_discovery_free(b->disc, b->ndisc);
    fmq_queue_free(&b->q);
    free(b);
    return code;
}
