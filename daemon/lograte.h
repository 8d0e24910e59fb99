/*
 * lograte.h — at most one log line per kind of event per interval: what a
 * hostile peer can make the daemon log (a refused connection, an over-long
 * line, a timeout), it could otherwise make it log a thousand times a second,
 * filling the journal and drowning the lines that matter. The lines held back
 * are counted and the next line logged says how many.
 */
#ifndef FERD_LOGRATE_H
#define FERD_LOGRATE_H

#include <stdint.h>

#define FERD_LOGRATE_NS (10ull * 1000000000ull)

typedef struct ferd_lograte {
    uint64_t last_ns;         /* when a line was last let through */
    int used;                 /* a line was let through at all */
    unsigned long held;       /* lines held back since then */
} ferd_lograte;

/* 1 if a line of this kind may be logged at now (and *held is how many were
 * held back before it, which the caller should mention); 0 if it is held back. */
int ferd_lograte_ok(ferd_lograte *r, uint64_t now, unsigned long *held);

#endif
