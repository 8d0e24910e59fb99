/*
 * dispatch.h — requests to actions: the greeting, then one call per line.
 */
#ifndef FERD_DISPATCH_H
#define FERD_DISPATCH_H

#include <stddef.h>

#include "ferd.h"

/* Sends the VERSION object a client receives on connect. */
void ferd_dispatch_greet(ferd_client *c);

/* Handles one request line of len bytes (its newline included). */
void ferd_dispatch_line(ferd_client *c, const char *line, size_t len);

#endif
