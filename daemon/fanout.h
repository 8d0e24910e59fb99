/*
 * fanout.h — publishing a result to watchers and waiting polls, and telling
 * the inference thread which pictures are wanted.
 */
#ifndef FERD_FANOUT_H
#define FERD_FANOUT_H

#include "ferd.h"

/* Sends res (the newest result, in d->last) to every client that wants it now. */
void ferd_fanout_result(ferd *d, const ferd_result *res);

/* Answers c's POLL from the latest result if results are flowing and it has the
 * picture c asked for; returns 1 if answered, 0 if c must wait for the next. */
int ferd_fanout_poll_now(ferd *d, ferd_client *c);

/* Recomputes the pictures the next frames should carry (sh.want_images). */
void ferd_fanout_update_images(ferd *d);

#endif
