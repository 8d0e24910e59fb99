/*
 * pace.h — time for frame sources: a pacer that releases frames at a
 * fixed rate, and the back-off policy for reopening a lost camera or stream.
 *
 * All plain C over CLOCK_MONOTONIC, so it is tested without any device.
 */
#ifndef FER_PACE_H
#define FER_PACE_H

#include <stdatomic.h>
#include <stdint.h>

/* The clocks (fer_mono_ns, fer_wall_ms, fer_sleep_ns) are util/clock.h's; frame
 * sources and their users reach them through this header too. */
#include "util/clock.h"

/*
 * Releases one frame per period. The first call to fer_pacer_wait returns at once
 * and fixes the schedule; each later call sleeps until its slot. A caller that
 * falls behind by more than one period is not made to catch up with a burst: the
 * schedule restarts from now, so a stalled reader never sees frames rushed.
 */
typedef struct fer_pacer {
    uint64_t period_ns;  /* 0 = no pacing */
    uint64_t next_ns;    /* monotonic time of the next slot; 0 = not started */
    const atomic_int *cancel; /* set by the owner: nonzero ends a wait early (NULL: never) */
} fer_pacer;

/* fps <= 0 or not finite disables pacing. */
void fer_pacer_init(fer_pacer *p, double fps);
/* Sleeps until the next slot; returns the monotonic time it released at. */
uint64_t fer_pacer_wait(fer_pacer *p);
/* Forgets the schedule (after a reopen or a seek): the next wait returns at once. */
void fer_pacer_reset(fer_pacer *p);

/*
 * Exponential back-off for reopening: the first delay is initial_ms, each
 * failure multiplies it by factor up to max_ms, and a success resets it. The
 * daemon drives it: on FER_E_LOST it sleeps fer_backoff_next() and calls
 * fer_source_reopen, calling fer_backoff_reset once frames flow again.
 */
typedef struct fer_backoff {
    uint32_t initial_ms; /* first delay (500) */
    uint32_t max_ms;     /* ceiling (30000) */
    double factor;       /* growth per failure (2) */
    uint32_t next_ms;    /* the delay the next call returns */
    uint32_t failures;   /* consecutive failures so far */
} fer_backoff;

/* Initialises with the given policy; zeros select the defaults above. */
void fer_backoff_init(fer_backoff *b, uint32_t initial_ms, uint32_t max_ms, double factor);
/* The delay before the next attempt, in ms; advances the policy. */
uint32_t fer_backoff_next(fer_backoff *b);
/* Frames flow again: the next failure starts from initial_ms. */
void fer_backoff_reset(fer_backoff *b);

#endif
