/*
 * clock.h — the daemon's time: what "now" is, and condition variables that
 * wait on the same clock.
 *
 * Every deadline, rate and latency in ferd is CLOCK_MONOTONIC nanoseconds,
 * read with fer_mono_ns (util/clock.h, included here): a wall-clock step must not stretch a back-off,
 * expire a POLL or refill a request bucket. The capture and inference threads
 * sleep on condition variables, whose timed waits take an absolute time on the
 * condition's own clock; this file makes those conditions and those deadlines
 * together, so the two can never disagree about which clock they mean.
 */
#ifndef FERD_CLOCK_H
#define FERD_CLOCK_H

#include <pthread.h>
#include <stdint.h>

#include "util/clock.h"

/* Initialises c to time its waits with CLOCK_MONOTONIC. 0 or -ENOMEM. */
int ferd_cond_init(pthread_cond_t *c);

/* Waits on c (the caller holds mu) for at most ms milliseconds of monotonic
 * time; returns early when c is signalled (or spuriously: callers re-check). */
void ferd_cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *mu, uint32_t ms);

#endif
