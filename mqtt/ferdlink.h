/*
 * ferdlink.h — the ferd side of the bridge: its subscriptions on ferd's
 * socket through libferclient, kept up across ferd restarts.
 *
 * Two connections, because one WATCH cannot ask for both kinds of stream:
 *   events   WATCH {events:true, min_prob}: ferd's FACE events as ferd
 *            defines them, so .../events says what `ferctl watch --events`
 *            says (not opened when events are off);
 *   results  WATCH {max_fps, scores:true}: every RESULT, for the state and
 *            the results topic; on it the bridge also asks STATUS (at once,
 *            for the model's classes, and every status_interval) and one POLL
 *            right after subscribing, so the state is right before the first
 *            change.
 * Requests are sent without waiting and their answers handled as they come,
 * so one slow answer (a POLL waits for a frame) never holds the loop; only
 * fer_client_open waits, at most CONNECT_MS, for ferd's greeting on the local
 * socket. Objects of classes this version does not know are ignored, as the
 * protocol asks.
 *
 * ferd not running at start, restarting or refusing: both connections are
 * closed, `down` is called once (the bridge marks the instance offline), and
 * the link retries with back-off, logging once when the outage starts and
 * once when ferd is back. `up` is called when every subscription has been
 * acknowledged.
 */
#ifndef FMQ_FERDLINK_H
#define FMQ_FERDLINK_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "proto/protocol.h"

typedef struct fmq_ferd fmq_ferd;

typedef struct fmq_ferd_hooks {
    void *ud;
    void (*up)(void *ud);
    void (*down)(void *ud);
    void (*event)(void *ud, const fer_face_event *ev);
    /* A RESULT (or the POLL answer's result: from_poll 1); line is ferd's
     * RESULT object as sent (for a POLL, the whole POLL line). */
    void (*result)(void *ud, const fer_message *m, const char *line, size_t len, int from_poll);
    void (*status)(void *ud, const fer_status_msg *s);
    /* A line that did not decode (counted by the bridge). */
    void (*bad_line)(void *ud);
} fmq_ferd_hooks;

/* At most this many descriptors to poll. */
#define FMQ_FERD_MAX_FDS 2

int fmq_ferd_new(fmq_ferd **out, const fmq_config *cfg, const fmq_ferd_hooks *hooks);
void fmq_ferd_free(fmq_ferd *f);

/* Fills pfds (at most FMQ_FERD_MAX_FDS) with what to poll; returns the count. */
int fmq_ferd_pollfds(const fmq_ferd *f, struct pollfd *pfds);
/* After poll, with the same entries. */
void fmq_ferd_handle(fmq_ferd *f, const struct pollfd *pfds, int n, int64_t now_ms);
/* Reconnection and the STATUS timer. */
void fmq_ferd_tick(fmq_ferd *f, int64_t now_ms);
int64_t fmq_ferd_next_ms(const fmq_ferd *f);
/* 1 when a complete line is already buffered: poll must not wait. */
int fmq_ferd_pending(const fmq_ferd *f);
int fmq_ferd_is_up(const fmq_ferd *f);
unsigned long long fmq_ferd_connects(const fmq_ferd *f);

#endif
