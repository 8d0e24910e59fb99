/*
 * clock.h — the clocks every part of ferd reads: monotonic time for deadlines,
 * rates and latencies, wall time for the timestamps a user sees, and sleeps
 * on the monotonic clock.
 *
 * One definition for the whole tree (the engine, the pipeline, the daemon, the
 * client library and the tools), so "now" means the same thing everywhere and
 * a monotonic timestamp taken by one part can be compared with another's.
 * CLOCK_MONOTONIC never steps with the wall clock, which is why every deadline
 * and interval uses it; only the timestamps written into results are wall time.
 */
#ifndef FER_CLOCK_H
#define FER_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds, milliseconds and seconds. */
uint64_t fer_mono_ns(void);
int64_t fer_mono_ms(void);
double fer_mono_s(void);

/* CLOCK_REALTIME in milliseconds since the Unix epoch (UTC). */
int64_t fer_wall_ms(void);

/* Sleeps until the monotonic time t_ns (absolute), restarting after signals,
 * so a schedule built on it does not drift with the time spent between calls. */
void fer_sleep_until_ns(uint64_t t_ns);
/* Sleeps for ns nanoseconds of CLOCK_MONOTONIC (restarting after signals). */
void fer_sleep_ns(uint64_t ns);

#endif
