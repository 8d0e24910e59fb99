/*
 * outq.h — what the daemon writes: immutable, reference-counted lines, and each
 * client's bounded queue of them.
 *
 * A result is encoded once and the same message is queued for every client
 * that wants it, so fan-out costs a reference per client, not a copy. A queue
 * holds at most FERD_OUTQ_SLOTS messages and counts its bytes; the byte limits
 * (soft and hard, from the config) are the caller's policy, applied in
 * client.c. The head of the queue may be in flight in one uv_write.
 */
#ifndef FERD_OUTQ_H
#define FERD_OUTQ_H

#include <stddef.h>

#define FERD_OUTQ_SLOTS 1024
/* One uv_write carries at most this many messages and about this many bytes,
 * so one fast client cannot hold the loop for long. */
#define FERD_WRITE_MAX_MSGS 64
#define FERD_WRITE_MAX_BYTES (256 * 1024)

typedef struct ferd_msg {
    unsigned refs;
    size_t len;          /* bytes in data, the newline included */
    char data[];
} ferd_msg;

/* A message holding json (len bytes) and a newline; refs = 1. NULL: out of memory. */
ferd_msg *ferd_msg_new(const char *json, size_t len);
ferd_msg *ferd_msg_ref(ferd_msg *m);
void ferd_msg_unref(ferd_msg *m); /* accepts NULL */

typedef struct ferd_outq {
    ferd_msg *slots[FERD_OUTQ_SLOTS];
    unsigned head;       /* index of the oldest message */
    unsigned count;      /* messages queued, in-flight ones included */
    unsigned inflight;   /* the first inflight messages are being written */
    size_t bytes;        /* bytes of all queued messages */
} ferd_outq;

void ferd_outq_init(ferd_outq *q);
/* Appends m, taking a new reference. -ENOBUFS when every slot is taken. */
int ferd_outq_push(ferd_outq *q, ferd_msg *m);
/* Marks up to max_msgs / about max_bytes messages after the in-flight ones as in
 * flight and returns how many, with their pointers in out[]. */
unsigned ferd_outq_begin_write(ferd_outq *q, ferd_msg **out, unsigned max_msgs,
                               size_t max_bytes);
/* The in-flight messages were written: drops them. */
void ferd_outq_end_write(ferd_outq *q);
/* Drops every message (the client is going away). */
void ferd_outq_clear(ferd_outq *q);

#endif
