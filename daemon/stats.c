/*
 * stats.c — see stats.h. Percentiles sort a copy of the ring: 1024 floats at
 * STATUS time cost microseconds, and the hot path only stores one float.
 */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

void ferd_stats_add_latency(ferd_stats *s, double ms)
{
    s->lat_ms[s->lat_count % FERD_LAT_SAMPLES] = (float)ms;
    s->lat_count++;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int ferd_stats_latency(const ferd_stats *s, double *p50, double *p99)
{
    int n = s->lat_count < FERD_LAT_SAMPLES ? (int)s->lat_count : FERD_LAT_SAMPLES;
    if (n == 0)
        return 0;
    float tmp[FERD_LAT_SAMPLES];
    memcpy(tmp, s->lat_ms, (size_t)n * sizeof tmp[0]);
    qsort(tmp, (size_t)n, sizeof tmp[0], cmp_float);
    /* Nearest-rank percentiles. */
    int i50 = (n * 50 + 99) / 100 - 1, i99 = (n * 99 + 99) / 100 - 1;
    *p50 = tmp[i50 < 0 ? 0 : i50];
    *p99 = tmp[i99 < 0 ? 0 : i99];
    return n;
}
