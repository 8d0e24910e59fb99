/*
 * rate.c — see rate.h. Before issue 13 the period was (uint64_t)(1e9 / fps):
 * for a tiny positive fps the quotient is infinite, and converting infinity to
 * an integer is undefined (0 on x86-64, "every frame"), so a client asking
 * for one result a century got them all, past watch_max_fps and
 * image_max_fps. Now the quotient is compared in floating point first and
 * every sum saturates.
 */
#include "rate.h"

#include <math.h>

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t ferd_rate_period_ns(double fps)
{
    if (!(fps > 0)) /* also NaN */
        return 0;
    double p = 1e9 / fps;
    if (!(p < (double)FERD_RATE_MAX_PERIOD_NS))
        return FERD_RATE_MAX_PERIOD_NS;
    uint64_t ns = (uint64_t)p;
    return ns ? ns : 1;
}

double ferd_rate_capped(double asked, double cap)
{
    if (!(asked >= 0))
        asked = 0;
    if (cap > 0 && (asked <= 0 || asked > cap))
        return cap;
    return asked;
}

double ferd_rate_image(double watch_fps, double image_max_fps)
{
    return watch_fps > 0 && watch_fps < image_max_fps ? watch_fps : image_max_fps;
}

int ferd_rate_due(uint64_t now, uint64_t *next, double fps)
{
    uint64_t period = ferd_rate_period_ns(fps);
    if (!period)
        return 1;
    /* Due from a quarter period before the slot. A saturated slot (the end of
     * time) is never due again. */
    uint64_t opens = *next > period / 4 ? *next - period / 4 : 0;
    if (now < opens || *next == UINT64_MAX)
        return 0;
    /* The first message, or one after a gap of more than two periods, starts
     * the schedule again from now; otherwise the next slot follows this one. */
    uint64_t follow = sat_add(*next, period);
    *next = *next && sat_add(follow, period) > now ? follow : sat_add(now, period);
    return 1;
}
