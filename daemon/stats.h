/*
 * stats.h — the loop thread's counters and latency samples, for STATUS and the
 * benchmarks. Latency is kept as the last FERD_LAT_SAMPLES values in a ring,
 * so the percentiles describe recent behaviour and memory stays fixed.
 */
#ifndef FERD_STATS_H
#define FERD_STATS_H

#include <stdint.h>

#define FERD_LAT_SAMPLES 1024

typedef struct ferd_stats {
    long long accepted, rejected;
    long long soft_disconnects, hard_disconnects, line_disconnects;
    long long rate_limited;
    long long timeouts;           /* closed by the line or idle deadline */
    long long results;            /* results the loop received */
    long long results_lost;       /* overwritten in the ring before the loop took them */
    float lat_ms[FERD_LAT_SAMPLES]; /* capture -> result in the loop */
    long long lat_count;          /* samples ever added */
} ferd_stats;

void ferd_stats_add_latency(ferd_stats *s, double ms);
/* p50 and p99 of the samples in the ring; 0 samples leaves them untouched
 * and returns 0, else returns the number of samples used. */
int ferd_stats_latency(const ferd_stats *s, double *p50, double *p99);

#endif
