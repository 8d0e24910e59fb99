/*
 * clock.c — see clock.h. pthread_cond_timedwait takes an absolute timespec on
 * the condition's clock, so the deadline is computed from fer_mono_ns, the
 * same CLOCK_MONOTONIC that ferd_cond_init gives the condition.
 */
#include "clock.h"

#include <errno.h>
#include <time.h>

int ferd_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -ENOMEM;
    /* Back-off sleeps measure monotonic time: a clock change must not stretch them. */
    int rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) || pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
    return rc ? -ENOMEM : 0;
}

void ferd_cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *mu, uint32_t ms)
{
    uint64_t t = fer_mono_ns() + (uint64_t)ms * 1000000u;
    struct timespec ts = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};
    pthread_cond_timedwait(c, mu, &ts);
}
