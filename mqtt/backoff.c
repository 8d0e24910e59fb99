/*
 * backoff.c — see backoff.h.
 */
#include "backoff.h"

void fmq_backoff_init(fmq_backoff *b, int initial_ms, int max_ms, uint64_t seed)
{
    b->initial_ms = initial_ms > 0 ? initial_ms : 1;
    b->max_ms = max_ms >= b->initial_ms ? max_ms : b->initial_ms;
    b->next_ms = b->initial_ms;
    /* splitmix64 of the seed: xorshift needs well-mixed non-zero state, and
     * callers seed with small numbers (a pid). */
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    b->rng = z ? z : 1;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

int fmq_backoff_next(fmq_backoff *b)
{
    int base = b->next_ms;
    b->next_ms = base > b->max_ms / 2 ? b->max_ms : base * 2;
    /* ±20%: a factor in [0.8, 1.2). */
    double f = 0.8 + 0.4 * (double)(xorshift(&b->rng) >> 11) / (double)(1ULL << 53);
    int d = (int)(base * f);
    return d < 1 ? 1 : d;
}

void fmq_backoff_reset(fmq_backoff *b)
{
    b->next_ms = b->initial_ms;
}
