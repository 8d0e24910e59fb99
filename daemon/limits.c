/*
 * limits.c — see limits.h. No state of its own: the client keeps its queue and
 * its soft-limit clock, and client.c acts on the verdicts (counting, logging,
 * closing), so every rule here is checked by tests/test_daemon_core.c.
 */
#include "limits.h"

void ferd_limits_from_config(ferd_limits *l, const fer_config *c)
{
    l->soft = (size_t)c->output_soft_limit;
    l->hard = (size_t)c->output_hard_limit;
    l->soft_ns = (uint64_t)c->output_soft_seconds * 1000000000ull;
}

static void start_clock(uint64_t *soft_since, uint64_t now)
{
    if (!*soft_since)
        *soft_since = now ? now : 1;
}

ferd_out_verdict ferd_limits_offer(const ferd_limits *l, const ferd_outq *q, size_t len,
                                   int droppable, uint64_t *soft_since, uint64_t now)
{
    int full = q->count >= FERD_OUTQ_SLOTS;
    int over_hard = q->bytes + len > l->hard;
    if (droppable) {
        int over_soft = q->bytes > 0 && q->bytes + len > l->soft;
        if (full || over_hard || over_soft) {
            start_clock(soft_since, now);
            return FERD_OUT_DROP;
        }
    } else if (full || over_hard) {
        return FERD_OUT_DISCONNECT;
    }
    if (q->bytes + len > l->soft)
        start_clock(soft_since, now);
    return FERD_OUT_QUEUE;
}

void ferd_limits_written(const ferd_limits *l, const ferd_outq *q, uint64_t *soft_since)
{
    if (*soft_since && q->bytes <= l->soft / 2)
        *soft_since = 0;
}

int ferd_limits_expired(const ferd_limits *l, uint64_t soft_since, uint64_t now)
{
    return l->soft_ns && soft_since && now >= soft_since && now - soft_since >= l->soft_ns;
}
