/*
 * capture.h — the capture thread (see capture.c).
 */
#ifndef FERD_CAPTURE_H
#define FERD_CAPTURE_H

#include "ferd.h"

/* Starts the thread; it runs until sh.quit. 0 or -errno. */
int ferd_capture_start(ferd *d);

#endif
