/*
 * progress.h — a one-line progress bar on stderr for long offline runs
 * (`fer analyze`): frames done of the total, a bar, the rate and the time
 * left, redrawn at most ten times a second with a carriage return, and erased
 * at the end so the terminal keeps only the summary. Drawn only when stderr
 * is a terminal: a log file or a pipe never receives carriage returns.
 */
#ifndef FER_TOOLS_PROGRESS_H
#define FER_TOOLS_PROGRESS_H

#include <stdint.h>

typedef struct fer_progress {
    int on;              /* drawing at all */
    long long total;     /* 0: unknown (no bar, no time left) */
    uint64_t t0_ns, last_ns;
} fer_progress;

/* on: the caller's wish (not --quiet); the bar is drawn if stderr is also a terminal. */
void fer_progress_start(fer_progress *p, long long total, int on);
void fer_progress_update(fer_progress *p, long long done);
/* Erases the line. */
void fer_progress_end(fer_progress *p);

#endif
