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
 * picture c asked for; returns 1 if answered, 0 if c must wait for the next.
 * After the source ended, the latest result is the last there will be: any age
 * will do (and without one the POLL is answered with ERROR unavailable). */
int ferd_fanout_poll_now(ferd *d, ferd_client *c);

/* A subscription has just been acknowledged: an event watcher gets the current
 * state (one FACE "appeared" with "initial" per live track, tracks.h), and any
 * watcher gets END if the source has already ended. */
void ferd_fanout_watch_started(ferd *d, ferd_client *c);

/* The source ended and every result is out: END to every watcher, and an
 * answer to each POLL still waiting (the last result, or ERROR unavailable). */
void ferd_fanout_end(ferd *d);

/* Recomputes the pictures the next frames should carry (sh.want_images). */
void ferd_fanout_update_images(ferd *d);

#endif
