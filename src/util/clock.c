/*
 * clock.c — see clock.h. Thin wrappers over clock_gettime and
 * clock_nanosleep(TIMER_ABSTIME); the absolute sleep is what makes an
 * interrupted sleep resume towards the same instant instead of restarting
 * its whole interval.
 */
#include "util/clock.h"

#include <errno.h>
#include <time.h>

uint64_t fer_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t fer_mono_ms(void)
{
    return (int64_t)(fer_mono_ns() / 1000000u);
}

double fer_mono_s(void)
{
    return (double)fer_mono_ns() * 1e-9;
}

int64_t fer_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fer_sleep_until_ns(uint64_t t_ns)
{
    struct timespec ts = {(time_t)(t_ns / 1000000000u), (long)(t_ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

void fer_sleep_ns(uint64_t ns)
{
    fer_sleep_until_ns(fer_mono_ns() + ns);
}
