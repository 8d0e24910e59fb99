/*
 * queue.c — see queue.h. A ring of pointers sized once; coalescing scans the
 * queue for the topic, which is cheap at the rates it is used (state and
 * status, a few per second) and keeps the structure a plain ring.
 */
#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int fmq_queue_init(fmq_queue *q, int max_messages, size_t max_bytes)
{
    memset(q, 0, sizeof *q);
    if (max_messages < 1 || max_bytes < 1)
        return -EINVAL;
    q->slot = calloc((size_t)max_messages, sizeof *q->slot);
    if (!q->slot)
        return -ENOMEM;
    q->max_messages = max_messages;
    q->max_bytes = max_bytes;
    return 0;
}

static size_t msg_bytes(const fmq_msg *m)
{
    return strlen(m->topic) + m->len;
}

void fmq_queue_free(fmq_queue *q)
{
    if (!q->slot)
        return;
    while (q->count)
        fmq_queue_pop(q);
    free(q->slot);
    q->slot = NULL;
}

static fmq_msg *msg_new(const char *topic, const void *payload, size_t len, int qos, int retain,
                        int coalesce)
{
    size_t tl = strlen(topic);
    fmq_msg *m = malloc(sizeof *m + tl + 1 + len + 1);
    if (!m)
        return NULL;
    m->topic = (char *)(m + 1);
    memcpy(m->topic, topic, tl + 1);
    m->payload = m->topic + tl + 1;
    if (len)
        memcpy(m->payload, payload, len);
    m->payload[len] = '\0';
    m->len = len;
    m->qos = qos;
    m->retain = retain;
    m->coalesce = coalesce;
    return m;
}

static void note_drop(fmq_queue *q)
{
    if (!q->dropping) {
        q->dropping = 1;
        q->episode_start = q->dropped;
    }
    q->dropped++;
}

int fmq_queue_push(fmq_queue *q, const char *topic, const void *payload, size_t len, int qos,
                   int retain, int coalesce)
{
    size_t need = strlen(topic) + len;
    if (need > q->max_bytes) {
        note_drop(q);
        return -EMSGSIZE;
    }
    if (coalesce) {
        for (int i = 0; i < q->count; i++) {
            int s = (q->head + i) % q->max_messages;
            fmq_msg *old = q->slot[s];
            if (!old->coalesce || strcmp(old->topic, topic) != 0)
                continue;
            size_t old_bytes = msg_bytes(old);
            if (q->bytes - old_bytes + need > q->max_bytes) {
                note_drop(q);
                return -ENOBUFS;
            }
            fmq_msg *m = msg_new(topic, payload, len, qos, retain, coalesce);
            if (!m)
                return -ENOMEM;
            free(old);
            q->slot[s] = m;
            q->bytes = q->bytes - old_bytes + need;
            q->coalesced++;
            return 1;
        }
    }
    if (q->count == q->max_messages || q->bytes + need > q->max_bytes) {
        note_drop(q);
        return -ENOBUFS;
    }
    fmq_msg *m = msg_new(topic, payload, len, qos, retain, coalesce);
    if (!m)
        return -ENOMEM;
    q->slot[(q->head + q->count) % q->max_messages] = m;
    q->count++;
    q->bytes += need;
    q->pushed++;
    return 0;
}

const fmq_msg *fmq_queue_peek(const fmq_queue *q)
{
    return q->count ? q->slot[q->head] : NULL;
}

void fmq_queue_pop(fmq_queue *q)
{
    if (!q->count)
        return;
    fmq_msg *m = q->slot[q->head];
    q->slot[q->head] = NULL;
    q->bytes -= msg_bytes(m);
    free(m);
    q->head = (q->head + 1) % q->max_messages;
    q->count--;
}

int fmq_queue_report(fmq_queue *q, unsigned long long *n)
{
    if (q->dropping == 1) {
        q->dropping = 2;
        return FMQ_REPORT_DROPPING;
    }
    if (q->dropping == 2 && q->count <= q->max_messages / 2 && q->bytes <= q->max_bytes / 2) {
        q->dropping = 0;
        if (n)
            *n = q->dropped - q->episode_start;
        return FMQ_REPORT_RECOVERED;
    }
    return FMQ_REPORT_NONE;
}
