/*
 * ring.h — the messages of one ferd subscription, shared by every HTTP viewer
 * of it, each reading at its own pace.
 *
 * A message is written once (already framed for HTTP: an SSE event or an MJPEG
 * part) and reference-counted: the ring holds one reference, and a viewer that
 * is part-way through sending it holds another, so a slow viewer keeps at most
 * the one message it is sending alive, never a queue. The ring keeps the last
 * `cap` messages (and at most max_bytes of them); a viewer remembers the
 * sequence number it wants next.
 *
 * Freshness over completeness for frames: a message marked supersedable (a
 * RESULT: a frame) is skipped by a viewer that is behind when a newer
 * supersedable message is already in the ring, and counted as skipped. Other
 * messages (FACE events, notices) are delivered in order unless they fall out
 * of the ring, which is counted too. So a slow browser sees fewer frames, the
 * newest ones, and never delays anyone else.
 *
 * Single-threaded: the loop thread owns rings and messages.
 */
#ifndef FERD_HTTP_RING_H
#define FERD_HTTP_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct http_msg {
    int refs;
    int supersedable;       /* a frame: a newer one makes it worthless */
    uint64_t seq;           /* position in its ring */
    size_t len;
    char data[];            /* the framed bytes */
} http_msg;

/* A new message of len bytes (to be filled by the caller), one reference. NULL on ENOMEM. */
http_msg *http_msg_new(size_t len, int supersedable);
void http_msg_ref(http_msg *m);
/* Drops a reference; frees at zero. Accepts NULL. */
void http_msg_unref(http_msg *m);

#define HTTP_RING_MAX 64

typedef struct http_ring {
    int cap;                    /* messages kept (<= HTTP_RING_MAX) */
    size_t max_bytes;           /* bytes kept (the newest message is kept whatever its size) */
    size_t bytes;
    uint64_t head;              /* sequence number of the next message pushed */
    uint64_t tail;              /* oldest sequence number still held */
    uint64_t last_super;        /* newest supersedable message + 1; 0 none */
    http_msg *slot[HTTP_RING_MAX];
} http_ring;

void http_ring_init(http_ring *r, int cap, size_t max_bytes);
/* Drops every message (their references); the ring stays usable. */
void http_ring_clear(http_ring *r);

/* Takes over m's reference and makes it the newest message. */
void http_ring_push(http_ring *r, http_msg *m);

/* Where a new viewer starts: the newest frame if the ring holds one (so it has
 * a picture at once), else the next message to come. */
uint64_t http_ring_start(const http_ring *r);

/*
 * The next message for a viewer at *pos (a new reference, or NULL when it has
 * seen everything), advancing *pos past it. Messages it may no longer have
 * (out of the ring, or superseded frames) are skipped and added to *skipped.
 */
http_msg *http_ring_next(http_ring *r, uint64_t *pos, uint64_t *skipped);

#endif
