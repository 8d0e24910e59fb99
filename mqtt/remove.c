/*
 * remove.c — see remove.h. A short blocking session on the same broker
 * connection code as the bridge (broker.h), bounded by REMOVE_TIMEOUT_MS.
 */
#include "remove.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "discovery.h"
#include "topics.h"
#include "util/clock.h"
#include "util/log.h"

#define REMOVE_TIMEOUT_MS 20000
/* More retained topics than an instance can have (configs, state, ...). */
#define MAX_FOUND 256

typedef struct remover {
    const fmq_config *cfg;
    fmq_broker *broker;
    fmq_topics topics;
    char probe[FMQ_TOPIC_LEN + 64];
    int subscribed;       /* SUBACKs received */
    int sub_mids[2];
    int probe_sent, probe_back;
    char *found[MAX_FOUND];
    int nfound, overflow;
    int acks_wanted, acks;
    int connected;
} remover;

static void on_connected(void *ud)
{
    remover *r = ud;
    r->connected = 1;
}

static void on_subscribed(void *ud, int mid)
{
    remover *r = ud;
    if (mid == r->sub_mids[0] || mid == r->sub_mids[1])
        r->subscribed++;
}

static void on_message(void *ud, const char *topic, const void *payload, int len, int retain)
{
    remover *r = ud;
    if (strcmp(topic, r->probe) == 0) {
        r->probe_back = 1;
        return;
    }
    /* Only retained messages with content are left for others to see. */
    if (!retain || len == 0 || r->probe_back)
        return;
    for (int i = 0; i < r->nfound; i++)
        if (strcmp(r->found[i], topic) == 0)
            return;
    if (r->nfound == MAX_FOUND) {
        r->overflow = 1;
        return;
    }
    r->found[r->nfound] = strdup(topic);
    if (r->found[r->nfound])
        r->nfound++;
}

static void on_published(void *ud, int mid)
{
    remover *r = ud;
    r->acks++;
}

/* One round of the loop; -1 on a fatal broker failure. */
static int step(remover *r, int wait_ms)
{
    int64_t now = fer_mono_ms();
    fmq_broker_tick(r->broker, now);
    if (fmq_broker_fatal(r->broker))
        return -1;
    int fd = fmq_broker_fd(r->broker);
    if (fd < 0) {
        usleep((useconds_t)wait_ms * 1000);
        return 0;
    }
    struct pollfd p = {.fd = fd, .events = fmq_broker_events(r->broker)};
    if (poll(&p, 1, wait_ms) > 0)
        fmq_broker_handle(r->broker, p.revents, fer_mono_ms());
    return fmq_broker_fatal(r->broker) ? -1 : 0;
}

int fmq_remove_run(const fmq_config *cfg, const char *password)
{
    remover r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    fmq_topics_init(&r.topics, cfg);
    snprintf(r.probe, sizeof r.probe, "%s/remove-probe-%d", r.topics.base, (int)getpid());
    /* Its own client id, so a running bridge is not disconnected by it, and
     * no will: this session says nothing about the instance. */
    char client_id[160];
    snprintf(client_id, sizeof client_id, "%.120s-remove", cfg->client_id);
    fmq_broker_hooks h = {.ud = &r, .connected = on_connected, .message = on_message,
                          .subscribed = on_subscribed, .published = on_published};
    char why[600] = "";
    int rc = fmq_broker_new(&r.broker, cfg, client_id, password, NULL, &h, why, sizeof why);
    if (rc < 0) {
        fer_log(FER_LOG_ERR, "%s", rc == -ENOMEM ? "out of memory" : why);
        return rc == -ENOMEM ? FMQ_EXIT_FAIL : FMQ_EXIT_CONFIG;
    }
    int code = FMQ_EXIT_FAIL;
    const char *stage = "connecting to the broker";
    int64_t end = fer_mono_ms() + REMOVE_TIMEOUT_MS;
    fmq_broker_start(r.broker, fer_mono_ms());
    while (!r.connected && fer_mono_ms() < end)
        if (step(&r, 100) < 0)
            goto fatal;
    if (!r.connected)
        goto timeout;

    stage = "subscribing";
    char pattern[FMQ_TOPIC_LEN + 128], own[FMQ_TOPIC_LEN + 8];
    fmq_discovery_pattern(cfg->discovery_prefix, cfg->instance, pattern, sizeof pattern);
    snprintf(own, sizeof own, "%s/+", r.topics.base);
    if (fmq_broker_subscribe(r.broker, pattern, 1, &r.sub_mids[0]) < 0 ||
        fmq_broker_subscribe(r.broker, own, 1, &r.sub_mids[1]) < 0)
        goto lost;
    while (r.subscribed < 2 && fer_mono_ms() < end && fmq_broker_connected(r.broker))
        if (step(&r, 100) < 0)
            goto fatal;
    if (r.subscribed < 2)
        goto timeout;

    stage = "collecting the retained messages";
    if (fmq_broker_publish(r.broker, r.probe, "probe", 5, 0, 0, NULL) < 0)
        goto lost;
    while (!r.probe_back && fer_mono_ms() < end && fmq_broker_connected(r.broker))
        if (step(&r, 100) < 0)
            goto fatal;
    if (!r.probe_back)
        goto timeout;

    stage = "clearing";
    r.acks = 0;
    int next = 0;
    while ((next < r.nfound || r.acks < r.acks_wanted) && fer_mono_ms() < end &&
           fmq_broker_connected(r.broker)) {
        while (next < r.nfound && fmq_broker_can_publish(r.broker)) {
            if (fmq_broker_publish(r.broker, r.found[next], "", 0, 1, 1, NULL) < 0)
                break;
            next++;
            r.acks_wanted++;
        }
        if (step(&r, 100) < 0)
            goto fatal;
    }
    if (next < r.nfound || r.acks < r.acks_wanted)
        goto timeout;
    for (int i = 0; i < r.nfound; i++)
        printf("cleared %s\n", r.found[i]);
    printf("ferd-mqtt: removed instance %s: %d retained topic%s cleared%s\n", cfg->instance,
           r.nfound, r.nfound == 1 ? "" : "s",
           r.overflow ? " (more remain: run it again)" : "");
    code = FMQ_EXIT_OK;
    fmq_broker_disconnect(r.broker);
    goto out;

fatal:
    fer_log(FER_LOG_ERR, "%s", fmq_broker_fatal_message(r.broker));
    code = fmq_broker_fatal(r.broker);
    goto out;
lost:
    fer_log(FER_LOG_ERR, "lost the broker %s while %s", cfg->broker, stage);
    goto out;
timeout:
    fer_log(FER_LOG_ERR, "gave up after %d s while %s (broker %s)", REMOVE_TIMEOUT_MS / 1000,
            stage, cfg->broker);
out:
    fmq_broker_free(r.broker);
    for (int i = 0; i < r.nfound; i++)
        free(r.found[i]);
    return code;
}
