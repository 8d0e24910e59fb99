/*
 * limits.h — the output limits a client's queue lives under (redis's client
 * output buffer limits, adapted to a stream that may skip frames), as pure
 * functions of the queue, the message and the time, so they are unit-tested
 * without a socket.
 *
 *   - a stream message (RESULT, FACE: "droppable") that would take the queue
 *     past the soft limit is dropped for this client, and the client's
 *     soft-limit clock starts; an empty queue takes one message whatever its
 *     size below the hard limit, or a frame larger than the soft limit could
 *     never be sent;
 *   - a reply (never dropped) that would take the queue past the hard limit,
 *     or find every slot taken, disconnects the client at once: a client that
 *     asks without reading gets there;
 *   - a client whose clock has run for soft_ns is disconnected (soft
 *     disconnect); the clock stops once writes drain the queue to half the
 *     soft limit (hysteresis, so a client hovering at the limit is not reset
 *     by every write).
 */
#ifndef FERD_LIMITS_H
#define FERD_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "outq.h"

typedef struct ferd_limits {
    size_t soft, hard;       /* bytes queued */
    uint64_t soft_ns;        /* time allowed at the soft limit; 0 = forever */
} ferd_limits;

typedef enum ferd_out_verdict {
    FERD_OUT_QUEUE,          /* push it: it fits (the slot and the bytes) */
    FERD_OUT_DROP,           /* skip it for this client, count a drop */
    FERD_OUT_DISCONNECT,     /* over the hard limit: close the client now */
} ferd_out_verdict;

/* output_soft_limit, output_hard_limit and output_soft_seconds of c. */
void ferd_limits_from_config(ferd_limits *l, const fer_config *c);

/*
 * The verdict for a message of len bytes offered to q. *soft_since is the
 * client's soft-limit clock (0: not running): started at now when the message
 * is dropped, or queued past the soft limit. FERD_OUT_QUEUE guarantees that
 * ferd_outq_push succeeds.
 */
ferd_out_verdict ferd_limits_offer(const ferd_limits *l, const ferd_outq *q, size_t len,
                                   int droppable, uint64_t *soft_since, uint64_t now);

/* A write completed and q holds what is left: stops the clock at half the soft limit. */
void ferd_limits_written(const ferd_limits *l, const ferd_outq *q, uint64_t *soft_since);

/* 1 if the clock started at soft_since has run for the allowed time at now. */
int ferd_limits_expired(const ferd_limits *l, uint64_t soft_since, uint64_t now);

#endif
