/*
 * client.h — one connection: its slot in the preallocated client table, its
 * request line buffer, its subscription, its bounded output queue and the
 * limits applied to it.
 *
 * Output policy: redis's client output limits, adapted to a stream that may
 * skip frames (limits.h states the rules; this file counts, logs and closes).
 * Clients are never freed inside a callback that is still using them: closing
 * only marks the client, and the reaper (a check handle, after the loop's I/O)
 * calls uv_close; the slot is released in the close callback.
 */
#ifndef FERD_CLIENT_H
#define FERD_CLIENT_H

#include <sys/types.h>
#include <uv.h>

#include "bucket.h"
#include "ferd.h"
#include "outq.h"
#include "peer.h"
#include "proto/protocol.h"
#include "slots.h"
#include "userrate.h"

struct ferd_client {
    uv_pipe_t pipe;               /* pipe.data = this client */
    uv_write_t wreq;
    ferd *d;
    int slot;
    int in_use;                   /* from accept to the close callback */
    int close_pending;            /* marked for the reaper */
    int closing;                  /* uv_close called */
    int reject;                   /* over max_clients: told why, then closed */
    int writing;                  /* wreq in flight */
    int close_after_write;        /* close once the queue is written */
    int reading;
    const char *close_reason;
    unsigned id;

    ferd_peer peer;               /* credentials (SO_PEERCRED); uid -1 if unknown */
    int privileged;               /* root or the daemon's own user (slots.h) */
    int images_ok, reload_ok;     /* -1 not yet decided, else 0/1 */

    /* Request input: one line of at most max_line bytes. */
    char *in;
    size_t inlen;
    uint64_t line_start_ns;       /* first byte of the partial line in `in`; 0 none */
    uint64_t last_active_ns;      /* accepted, or the last request dispatched */
    int peer_closed;              /* the peer shut down its side: no more requests */
    ferd_bucket bucket;           /* request rate */
    ferd_user_bucket *user;       /* its uid's shared budget; NULL if privileged */
    int rate_paused;              /* refused for its rate: nothing more is read or
                                   * dispatched until the bucket holds a token */

    /* Subscription. */
    int watching;
    fer_watch watch;              /* effective (caps applied) */
    uint64_t next_due_ns, next_image_ns;

    /* A RELOAD waiting for the inference thread's answer. */
    int reload_waiting;

    /* A POLL waiting for the next result. */
    int poll_waiting;
    fer_image_kind poll_image;
    int poll_scores;
    uint64_t poll_deadline_ns;

    /* Output. */
    ferd_outq out;
    uint64_t soft_since_ns;       /* 0: not at the soft limit */
    unsigned long long sent, dropped;
};

/* Allocates the table for cfg.max_clients (+ FERD_REJECT_SLOTS). -ENOMEM. */
int ferd_clients_init(ferd *d);
/* Frees the table; every client must be closed. */
void ferd_clients_free(ferd *d);

/* Accepts the pending connection on the server into a free slot (a reject slot
 * when the table is full). With no slot at all, leaves it pending: the next
 * close callback accepts it. */
void ferd_client_accept(ferd *d);

enum { FERD_SENT = 0, FERD_DROPPED = 1, FERD_CLOSED = 2 };

/* Queues m for c. droppable: a stream message the soft limit may drop.
 * Returns FERD_SENT, FERD_DROPPED or FERD_CLOSED (hard limit, or c is closing). */
int ferd_client_send(ferd_client *c, ferd_msg *m, int droppable);
/* Queues a reply built by an encoder (json malloc'd, freed here; NULL = out of
 * memory, which closes the client). */
int ferd_client_reply(ferd_client *c, char *json);
/* Sends an ERROR object: code, the request class it answers ("" none), message. */
int ferd_client_error(ferd_client *c, const char *code, const char *request, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

/* Marks c for closing at the next safe point; reason is logged at debug level
 * (limits log on their own). */
void ferd_client_close(ferd_client *c, const char *reason);
/* Sends an ERROR (code, message), reads no more from c, and closes it once
 * everything queued for it, the ERROR included, is written. */
void ferd_client_close_with_error(ferd_client *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A client whose peer half-closed is closed once it is owed nothing more:
 * no POLL or RELOAD answer to come, no subscription, nothing left to write.
 * Called whenever one of those may have ended. */
void ferd_client_finish_if_done(ferd_client *c);
/* Closes the clients marked so far (called from the check handle and at the
 * end of timer callbacks). */
void ferd_clients_reap(ferd *d);
/* Housekeeping: soft-limit clocks, POLL deadlines, partial-line and idle
 * deadlines (slots.h). */
void ferd_clients_cron(ferd *d, uint64_t now);

/* Shutdown: writes goodbye_json to each client that can take it at once, then
 * closes every client. */
void ferd_clients_close_all(ferd *d, const char *goodbye_json);

/* 1 if c's peer is root, the daemon's own user, or a member of gid
 * ((gid_t)-1: no group), as peer.h decides. Cached in *cache. */
int ferd_client_trusted(ferd_client *c, gid_t gid, int *cache);

/* Subscriptions and POLL waits: demand.h. */

#endif
