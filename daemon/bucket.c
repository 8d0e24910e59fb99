/*
 * bucket.c — see bucket.h. Tokens are a double so a slow rate (0.5 requests
 * per second) accrues between requests instead of rounding to nothing; a
 * clock that reads earlier than last time (it cannot, being monotonic, but a
 * caller may pass any value) refills nothing rather than wrapping.
 */
#include "bucket.h"

void ferd_bucket_init(ferd_bucket *b, double burst, uint64_t now)
{
    b->tokens = burst;
    b->last_ns = now;
}

int ferd_bucket_ready(ferd_bucket *b, double rate, double burst, uint64_t now)
{
    if (now > b->last_ns)
        b->tokens += (double)(now - b->last_ns) * 1e-9 * rate;
    b->last_ns = now;
    if (b->tokens > burst)
        b->tokens = burst;
    return b->tokens >= 1.0;
}

int ferd_bucket_take(ferd_bucket *b, double rate, double burst, uint64_t now)
{
    if (!ferd_bucket_ready(b, rate, burst, now))
        return 0;
    b->tokens -= 1.0;
    return 1;
}
