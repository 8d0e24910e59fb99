/*
 * backoff.h — when to try a connection again: from initial_ms, doubling after
 * each failure up to max_ms, back to initial_ms after a success.
 *
 * Each delay is spread by up to ±20% (a small xorshift generator seeded per
 * use), so the bridges of many hosts that lost the same broker at the same
 * moment do not all knock at the same instant when it returns.
 */
#ifndef FMQ_BACKOFF_H
#define FMQ_BACKOFF_H

#include <stdint.h>

typedef struct fmq_backoff {
    int initial_ms, max_ms;
    int next_ms;        /* the delay before jitter for the next failure */
    uint64_t rng;
} fmq_backoff;

void fmq_backoff_init(fmq_backoff *b, int initial_ms, int max_ms, uint64_t seed);
/* The delay to wait after a failure, in ms (and the next one doubles). */
int fmq_backoff_next(fmq_backoff *b);
/* A connection succeeded: the next failure waits initial_ms again. */
void fmq_backoff_reset(fmq_backoff *b);

#endif
