/*
 * pace.c — the frame pacer and the reopen back-off (see pace.h).
 *
 * The pacer sleeps with clock_nanosleep(TIMER_ABSTIME) on CLOCK_MONOTONIC, so
 * the schedule does not drift with the time spent between calls and is immune
 * to wall-clock steps. The back-off is pure arithmetic; the caller sleeps.
 */
#include "vision/pace.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

void fer_pacer_init(fer_pacer *p, double fps)
{
    /* A rate too slow to represent is one frame an hour at most: a period
     * computed from it must not overflow (issue 13, class 3). */
    double period = (isfinite(fps) && fps > 0.0) ? 1e9 / fps : 0;
    p->period_ns = period < 3600e9 ? (uint64_t)llround(period) : 3600000000000ull;
    p->next_ns = 0;
    p->cancel = NULL;
}

void fer_pacer_reset(fer_pacer *p)
{
    p->next_ns = 0;
}

uint64_t fer_pacer_wait(fer_pacer *p)
{
    uint64_t now = fer_mono_ns();
    if (p->period_ns == 0)
        return now;
    if (p->next_ns == 0 || now > p->next_ns + p->period_ns) {
        /* First frame, or more than a period late: restart the schedule from now. */
        p->next_ns = now + p->period_ns;
        return now;
    }
    if (now < p->next_ns) {
        if (!p->cancel) {
            fer_sleep_until_ns(p->next_ns);
        } else {
            /* In slices of at most 100 ms, so the owner can end a long wait
             * (a slow image list) when it shuts down. */
            while (!atomic_load(p->cancel) && (now = fer_mono_ns()) < p->next_ns)
                fer_sleep_until_ns(p->next_ns - now > 100000000u ? now + 100000000u
                                                                  : p->next_ns);
        }
        now = p->next_ns;
    }
    p->next_ns += p->period_ns;
    return now;
}

void fer_backoff_init(fer_backoff *b, uint32_t initial_ms, uint32_t max_ms, double factor)
{
    memset(b, 0, sizeof *b);
    b->initial_ms = initial_ms ? initial_ms : 500;
    b->max_ms = max_ms ? max_ms : 30000;
    if (b->max_ms < b->initial_ms)
        b->max_ms = b->initial_ms;
    b->factor = factor > 1.0 ? factor : 2.0;
    b->next_ms = b->initial_ms;
}

uint32_t fer_backoff_next(fer_backoff *b)
{
    uint32_t d = b->next_ms;
    double n = (double)d * b->factor;
    b->next_ms = n >= (double)b->max_ms ? b->max_ms : (uint32_t)n;
    b->failures++;
    return d;
}

void fer_backoff_reset(fer_backoff *b)
{
    b->next_ms = b->initial_ms;
    b->failures = 0;
}
