/*
 * status.h — the STATUS object: a snapshot of the source, the model, the
 * clients, the frame counters and the latency, taken on the loop thread.
 *
 * What one peer may learn about the others (issue 13, class 2): every client
 * sees the counts and each connection's id, subscription and counters, but
 * the credentials (uid, pid) of a connection only if it is its own or the
 * viewer is privileged (root or the daemon's user). Credentials in the source
 * URL are masked for everyone (util/redact.h).
 */
#ifndef FERD_STATUS_H
#define FERD_STATUS_H

#include "ferd.h"

struct ferd_client;

/* The STATUS for viewer (NULL: as a privileged viewer would see it). */
void ferd_status_fill(ferd *d, fer_status_msg *s, const struct ferd_client *viewer);

#endif
