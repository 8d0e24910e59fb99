/*
 * lograte.c — see lograte.h. Time is an argument, so the rule is unit-tested
 * without sleeping.
 */
#include "lograte.h"

int ferd_lograte_ok(ferd_lograte *r, uint64_t now, unsigned long *held)
{
    if (r->used && (now < r->last_ns || now - r->last_ns < FERD_LOGRATE_NS)) {
        r->held++;
        return 0;
    }
    *held = r->held;
    r->held = 0;
    r->last_ns = now;
    r->used = 1;
    return 1;
}
