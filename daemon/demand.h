/*
 * demand.h — who wants results now, and telling the threads.
 *
 * The capture and inference threads work only while someone wants results: a
 * client watching, or a POLL waiting for the next frame. The loop keeps two
 * counts (d->watching, d->polls_waiting); every change to a client's
 * subscription or POLL wait goes through the functions below, which keep the
 * counts right and publish "wanted" to the threads when it flips. Loop thread
 * only.
 */
#ifndef FERD_DEMAND_H
#define FERD_DEMAND_H

#include <stdint.h>

#include "ferd.h"

/* Publishes whether results are wanted now (anyone watching or polling) to
 * the threads, waking them when it changed. When it falls to "not wanted" an
 * idle spell begins: sh.idle_epoch grows (the inference thread restarts its
 * tracking before the next frame) and the loop's track table is cleared. */
void ferd_update_demand(ferd *d);

/* Sets or clears c's subscription (w->enable), keeping the counts and demand
 * right. */
void ferd_client_set_watch(ferd_client *c, const fer_watch *w);

/* c's POLL waits for the next result until deadline_ns (monotonic). */
void ferd_client_poll_wait(ferd_client *c, uint64_t deadline_ns);
/* Ends c's POLL wait (answered or timed out); nothing if none waits. */
void ferd_client_poll_done(ferd_client *c);

#endif
