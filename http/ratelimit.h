/*
 * ratelimit.h — requests per second per client address, as token buckets in a
 * fixed table.
 *
 * Each address (an IPv4 address, or the /64 prefix of an IPv6 one, which is
 * what one host controls) has a bucket of `burst` tokens refilled at `rate`
 * per second; a request takes one or is refused. The table has a fixed number
 * of slots: an address not in it takes a free slot or the least recently used
 * one, so memory never grows with the number of peers, and a peer that cycles
 * through addresses gets fresh buckets but still meets the connection limits.
 */
#ifndef FERD_HTTP_RATELIMIT_H
#define FERD_HTTP_RATELIMIT_H

#include <stdint.h>
#include <sys/socket.h>

#define HTTP_RL_SLOTS 256

typedef struct http_bucket {
    uint8_t key[16];
    int used;
    double tokens;
    uint64_t last_ns;       /* last refill, also the LRU order */
} http_bucket;

typedef struct http_ratelimit {
    double rate;            /* tokens per second; 0 = no limit */
    double burst;
    uint64_t refused;       /* requests refused so far */
    uint64_t evictions;     /* buckets reused for another address */
    http_bucket slot[HTTP_RL_SLOTS];
} http_ratelimit;

void http_ratelimit_init(http_ratelimit *rl, double rate, double burst);

/* The table key of an address: IPv4 as ::ffff:a.b.c.d, IPv6 by its /64. */
void http_ratelimit_key(const struct sockaddr *addr, uint8_t key[16]);

/* Takes a token for key at time now_ns: 1 allowed, 0 refused. When refused,
 * *retry_s (if not NULL) is the whole seconds until a token is back (>= 1). */
int http_ratelimit_take(http_ratelimit *rl, const uint8_t key[16], uint64_t now_ns, int *retry_s);

#endif
