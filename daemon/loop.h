/*
 * loop.h — the loop thread's own handles (wake-up, timers, reaper, signals)
 * and stopping the threads.
 */
#ifndef FERD_LOOP_H
#define FERD_LOOP_H

#include <stddef.h>

#include "ferd.h"

/* Initialises and starts the wake-up async, timers, reaper and signal handles. */
int ferd_loop_init(ferd *d);

/* Sets quit and joins the capture and inference threads. */
void ferd_threads_stop(ferd *d);

#endif
