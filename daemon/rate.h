/*
 * rate.h — the rate arithmetic applied to a client's numbers: how often a
 * watcher gets a RESULT (its max_fps, capped by watch_max_fps) and a picture
 * (capped by image_max_fps), as pure functions of the rate and the time, so
 * they are unit-tested and fuzzed without a socket (fuzz/fuzz_request.c runs
 * every WATCH that parses through them).
 *
 * A client's rate is any number in [0, 1000]; 0 means "every frame". Every
 * quantity computed from it saturates instead of overflowing: a positive rate
 * however small is a very long period (FERD_RATE_MAX_PERIOD_NS, about 146
 * years), never "every frame", and the schedule's next slot saturates at the
 * end of time rather than wrapping to the past (issue 13, class 3).
 */
#ifndef FERD_RATE_H
#define FERD_RATE_H

#include <stdint.h>

/* The longest period a rate becomes: 2^62 ns, far beyond any uptime. The
 * schedule's sums saturate all the same. */
#define FERD_RATE_MAX_PERIOD_NS (UINT64_C(1) << 62)

/* The period of fps in ns: 0 for "no limit" (fps <= 0 or not a number), at
 * most FERD_RATE_MAX_PERIOD_NS, and at least 1 for any positive rate. */
uint64_t ferd_rate_period_ns(double fps);

/* The rate a watcher gets: asked, capped by cap (cap <= 0: no cap). Asking
 * 0 ("every frame") under a cap gets the cap. */
double ferd_rate_capped(double asked, double cap);

/* The picture rate of a watcher: its result rate when that is lower than
 * image_max_fps, else image_max_fps. */
double ferd_rate_image(double watch_fps, double image_max_fps);

/*
 * The schedule: 1 if a message is due at now, advancing *next (0 at the
 * start) to the following slot. A message is due within a quarter period
 * before its slot; the next slot follows the previous one, restarting from
 * now after a gap, so the average rate is the requested one even when frames
 * arrive with jitter (a late frame may be followed at once by the one it made
 * up for). Over any window of T ns at most T / period + 3 messages are due.
 */
int ferd_rate_due(uint64_t now, uint64_t *next, double fps);

#endif
