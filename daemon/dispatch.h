/*
 * dispatch.h — requests to actions: the greeting, then one call per line.
 */
#ifndef FERD_DISPATCH_H
#define FERD_DISPATCH_H

#include <stddef.h>

#include "ferd.h"

/* Sends the VERSION object a client receives on connect. */
void ferd_dispatch_greet(ferd_client *c);

/* Handles one request line of len bytes (its newline included). A line over
 * the client's rate is refused and sets c->rate_paused: the caller dispatches
 * nothing more for c until ferd_dispatch_rate_ready. */
void ferd_dispatch_line(ferd_client *c, const char *line, size_t len);

/* 1 if c's request bucket, and its uid's, hold a token again (takes none). */
int ferd_dispatch_rate_ready(ferd_client *c);

#endif
