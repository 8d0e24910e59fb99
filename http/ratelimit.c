/*
 * ratelimit.c — per-address token buckets in a fixed table (ratelimit.h).
 *
 * A linear scan of HTTP_RL_SLOTS entries per request: a few hundred
 * comparisons of 16 bytes, far below the cost of the request itself, and no
 * hash to attack.
 */
#include "ratelimit.h"

#include <math.h>
#include <netinet/in.h>
#include <string.h>

void http_ratelimit_init(http_ratelimit *rl, double rate, double burst)
{
    memset(rl, 0, sizeof *rl);
    rl->rate = rate;
    rl->burst = burst < 1 ? 1 : burst;
}

void http_ratelimit_key(const struct sockaddr *addr, uint8_t key[16])
{
    memset(key, 0, 16);
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &a->sin_addr, 4);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
            memcpy(key, &a->sin6_addr, 16); /* the same key as the IPv4 form */
        else
            memcpy(key, &a->sin6_addr, 8);
    }
}

int http_ratelimit_take(http_ratelimit *rl, const uint8_t key[16], uint64_t now_ns, int *retry_s)
{
    if (rl->rate <= 0)
        return 1;
    http_bucket *b = NULL, *free_slot = NULL, *oldest = NULL;
    for (int i = 0; i < HTTP_RL_SLOTS; i++) {
        http_bucket *s = &rl->slot[i];
        if (!s->used) {
            if (!free_slot)
                free_slot = s;
            continue;
        }
        if (memcmp(s->key, key, 16) == 0) {
            b = s;
            break;
        }
        if (!oldest || s->last_ns < oldest->last_ns)
            oldest = s;
    }
    if (!b) {
        b = free_slot;
        if (!b) {
            b = oldest;
            rl->evictions++;
        }
        memcpy(b->key, key, 16);
        b->used = 1;
        b->tokens = rl->burst;
        b->last_ns = now_ns;
    }
    if (now_ns > b->last_ns) {
        b->tokens += (double)(now_ns - b->last_ns) * 1e-9 * rl->rate;
        if (b->tokens > rl->burst)
            b->tokens = rl->burst;
    }
    b->last_ns = now_ns > b->last_ns ? now_ns : b->last_ns;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return 1;
    }
    rl->refused++;
    if (retry_s) {
        double s = ceil((1 - b->tokens) / rl->rate);
        *retry_s = s < 1 ? 1 : s > 3600 ? 3600 : (int)s;
    }
    return 0;
}
