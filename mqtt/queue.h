/*
 * queue.h — the messages waiting for the broker: bounded in count and bytes,
 * first in first out, with latest-value topics coalesced.
 *
 * Reading from ferd never waits for the broker: every message the bridge
 * makes goes into this queue, and the connection takes from its head only
 * when the broker can take more. When the queue is full a new message is
 * dropped and counted (a consumer that missed events can tell from the
 * count in the status topic; the log says when dropping starts and how many
 * were lost when it ends, not once per message). A message marked
 * `coalesce` (state, status: only the latest value matters) replaces a queued
 * one of the same topic in place instead of taking a new slot, so a broker
 * that is away for an hour costs one state message, not thousands.
 *
 * Memory: the slot array is allocated once for max_messages; each message is
 * one allocation holding topic and payload. Single-threaded.
 */
#ifndef FMQ_QUEUE_H
#define FMQ_QUEUE_H

#include <stddef.h>

typedef struct fmq_msg {
    char *topic;        /* NUL-terminated; payload follows it in the same block */
    char *payload;
    size_t len;         /* payload bytes */
    int qos;
    int retain;
    int coalesce;
} fmq_msg;

typedef struct fmq_queue {
    fmq_msg **slot;     /* ring of max_messages */
    int max_messages;
    size_t max_bytes;
    int head, count;
    size_t bytes;       /* topics + payloads queued */
    unsigned long long pushed, dropped, coalesced;
    /* Drop episodes, for logging: from the first drop until the queue is
     * back under half full. 0 none, 1 dropping (not yet reported), 2
     * dropping (reported). */
    int dropping;
    unsigned long long episode_start; /* dropped when the episode began */
} fmq_queue;

/* What fmq_queue_report says happened since it was last asked. */
enum { FMQ_REPORT_NONE = 0, FMQ_REPORT_DROPPING, FMQ_REPORT_RECOVERED };

/* Sets q up for at most max_messages and max_bytes. 0 or -ENOMEM / -EINVAL. */
int fmq_queue_init(fmq_queue *q, int max_messages, size_t max_bytes);
/* Frees every queued message and the slots; accepts a zeroed q. */
void fmq_queue_free(fmq_queue *q);

/*
 * Queues a copy of (topic, payload[0..len)). 0 queued; 1 replaced a queued
 * message of the same topic (coalesce only); -ENOBUFS dropped because the
 * queue is full (counted); -EMSGSIZE dropped because this one message is
 * larger than max_bytes (counted); -ENOMEM.
 */
int fmq_queue_push(fmq_queue *q, const char *topic, const void *payload, size_t len, int qos,
                   int retain, int coalesce);

/* The oldest message, or NULL when empty; it stays queued until pop. */
const fmq_msg *fmq_queue_peek(const fmq_queue *q);
/* Removes and frees the oldest message (no-op when empty). */
void fmq_queue_pop(fmq_queue *q);

/*
 * Drop episodes: FMQ_REPORT_DROPPING once when drops begin (log "dropping"),
 * FMQ_REPORT_RECOVERED once when the queue is back under half of both limits
 * after dropping (*n = messages dropped in the episode), else NONE.
 */
int fmq_queue_report(fmq_queue *q, unsigned long long *n);

#endif
