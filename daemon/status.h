/*
 * status.h — the STATUS object: a snapshot of the source, the model, the
 * clients, the frame counters and the latency, taken on the loop thread.
 */
#ifndef FERD_STATUS_H
#define FERD_STATUS_H

#include "ferd.h"

void ferd_status_fill(ferd *d, fer_status_msg *s);

#endif
