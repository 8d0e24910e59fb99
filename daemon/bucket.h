/*
 * bucket.h — a token bucket: the request-rate limit of each client
 * (requests_per_second refill, request_burst capacity).
 *
 * Time comes in as an argument (monotonic ns), so the bucket is a pure value
 * and its unit test steps time without sleeping. A bucket starts full: a new
 * client may send a burst at once.
 */
#ifndef FERD_BUCKET_H
#define FERD_BUCKET_H

#include <stdint.h>

typedef struct ferd_bucket {
    double tokens;       /* requests that may be made now */
    uint64_t last_ns;    /* when tokens was last brought up to date */
} ferd_bucket;

/* A full bucket (burst tokens) at now. */
void ferd_bucket_init(ferd_bucket *b, double burst, uint64_t now);

/* Refills for the time since the last call (rate per second, capped at burst),
 * then takes one token: 1 if there was one, 0 if the request is over the rate. */
int ferd_bucket_take(ferd_bucket *b, double rate, double burst, uint64_t now);

/* Refills as ferd_bucket_take does, takes nothing: 1 if a token is there. */
int ferd_bucket_ready(ferd_bucket *b, double rate, double burst, uint64_t now);

#endif
