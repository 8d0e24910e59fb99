/*
 * ring.c — the shared, reference-counted message ring of one subscription
 * (ring.h).
 */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

http_msg *http_msg_new(size_t len, int supersedable)
{
    http_msg *m = malloc(sizeof *m + len + 1);
    if (!m)
        return NULL;
    m->refs = 1;
    m->supersedable = supersedable;
    m->seq = 0;
    m->len = len;
    m->data[len] = '\0';
    return m;
}

void http_msg_ref(http_msg *m)
{
    m->refs++;
}

void http_msg_unref(http_msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

void http_ring_init(http_ring *r, int cap, size_t max_bytes)
{
    memset(r, 0, sizeof *r);
    r->cap = cap < 1 ? 1 : cap > HTTP_RING_MAX ? HTTP_RING_MAX : cap;
    r->max_bytes = max_bytes;
}

static http_msg **at(http_ring *r, uint64_t seq)
{
    return &r->slot[seq % (uint64_t)r->cap];
}

/* Drops the oldest message. */
static void drop_tail(http_ring *r)
{
    http_msg **s = at(r, r->tail);
    if (*s) {
        r->bytes -= (*s)->len;
        http_msg_unref(*s);
        *s = NULL;
    }
    r->tail++;
}

void http_ring_clear(http_ring *r)
{
    while (r->tail < r->head)
        drop_tail(r);
    r->last_super = 0;
}

void http_ring_push(http_ring *r, http_msg *m)
{
    if (r->head - r->tail == (uint64_t)r->cap)
        drop_tail(r);
    while (r->tail < r->head && r->bytes + m->len > r->max_bytes)
        drop_tail(r);
    m->seq = r->head;
    *at(r, r->head) = m;
    r->bytes += m->len;
    if (m->supersedable)
        r->last_super = r->head + 1;
    r->head++;
}

uint64_t http_ring_start(const http_ring *r)
{
    if (r->last_super && r->last_super - 1 >= r->tail)
        return r->last_super - 1;
    return r->head;
}

http_msg *http_ring_next(http_ring *r, uint64_t *pos, uint64_t *skipped)
{
    if (*pos < r->tail) {
        *skipped += r->tail - *pos;
        *pos = r->tail;
    }
    while (*pos < r->head) {
        http_msg *m = *at(r, *pos);
        (*pos)++;
        /* A frame with a newer frame behind it: worthless to a viewer that is behind. */
        if (m->supersedable && m->seq + 1 < r->last_super) {
            (*skipped)++;
            continue;
        }
        http_msg_ref(m);
        return m;
    }
    return NULL;
}
