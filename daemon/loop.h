/*
 * loop.h — the loop thread's own handles (wake-up, timers, reaper, signals),
 * configuration loading for start and reload, and stopping the threads.
 */
#ifndef FERD_LOOP_H
#define FERD_LOOP_H

#include <stddef.h>

#include "ferd.h"

/* Initialises and starts the wake-up async, timers, reaper and signal handles. */
int ferd_loop_init(ferd *d);

/* Built-in defaults, then the config file (if any), then the command line,
 * validated. -EINVAL with one reason per line in msg. */
int ferd_load_config(ferd *d, fer_config *n, char *msg, size_t len);

/* Sets quit and joins the capture and inference threads. */
void ferd_threads_stop(ferd *d);

#endif
