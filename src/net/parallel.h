/*
 * parallel.h — the engine's second thread: runs one function on two threads.
 *
 * Training splits each layer's work in two (images of a batch for convolutions
 * and pooling, channels for batch norm) and runs the halves at once; inference in
 * the daemon stays on one thread. See parallel.c for why this is one helper
 * thread and not a general pool.
 */
#ifndef FER_NET_PARALLEL_H
#define FER_NET_PARALLEL_H

/* fn(arg, part, parts) must do share part of parts (0-based) of some work. */
typedef void (*fer_par_fn)(void *arg, int part, int parts);

/* Sets how many threads fer_par_run uses (1 or 2; more are treated as 2). */
void fer_par_set_threads(int n);
int fer_par_threads(void);

/* Runs fn on parts = fer_par_threads() threads: part 0 on the caller, part 1 on the
 * helper; returns when both are done. If the helper cannot be started it runs
 * fn(arg, 0, 1) alone. Not reentrant: one caller at a time (the engine's callers,
 * a trainer or a bench, run one net on one thread). */
void fer_par_run(fer_par_fn fn, void *arg);

#endif
