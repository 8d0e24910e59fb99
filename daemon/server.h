/*
 * server.h — the listening socket: taken from systemd (socket activation) or
 * bound by ferd itself, with the configured mode and group.
 */
#ifndef FERD_SERVER_H
#define FERD_SERVER_H

#include <stddef.h>

#include "ferd.h"

/* Opens the listener and starts accepting. On failure returns -errno with a
 * message in msg (n bytes) naming the path or the passed descriptor. */
int ferd_server_open(ferd *d, char *msg, size_t n);

/* Stops accepting and closes the listener (its close callback counts handles). */
void ferd_server_close(ferd *d);

/* Removes the socket file if ferd created it. */
void ferd_server_unlink(ferd *d);

/* Looks a group name up; (gid_t)-1 for "". -ENOENT if there is no such group. */
int ferd_group_id(const char *name, gid_t *gid);

#endif
