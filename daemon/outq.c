/*
 * outq.c — see outq.h. A plain ring of pointers: pushing and popping never
 * allocate, and a full ring is an error the caller turns into a drop.
 */
#include "outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

ferd_msg *ferd_msg_new(const char *json, size_t len)
{
    ferd_msg *m = malloc(sizeof *m + len + 1);
    if (!m)
        return NULL;
    m->refs = 1;
    m->len = len + 1;
    memcpy(m->data, json, len);
    m->data[len] = '\n';
    return m;
}

ferd_msg *ferd_msg_ref(ferd_msg *m)
{
    m->refs++;
    return m;
}

void ferd_msg_unref(ferd_msg *m)
{
    if (m && --m->refs == 0)
        free(m);
}

void ferd_outq_init(ferd_outq *q)
{
    memset(q, 0, sizeof *q);
}

int ferd_outq_push(ferd_outq *q, ferd_msg *m)
{
    if (q->count == FERD_OUTQ_SLOTS)
        return -ENOBUFS;
    q->slots[(q->head + q->count) % FERD_OUTQ_SLOTS] = ferd_msg_ref(m);
    q->count++;
    q->bytes += m->len;
    return 0;
}

unsigned ferd_outq_begin_write(ferd_outq *q, ferd_msg **out, unsigned max_msgs,
                               size_t max_bytes)
{
    unsigned n = 0;
    size_t bytes = 0;
    while (q->inflight + n < q->count && n < max_msgs) {
        ferd_msg *m = q->slots[(q->head + q->inflight + n) % FERD_OUTQ_SLOTS];
        /* Always at least one message, however large. */
        if (n > 0 && bytes + m->len > max_bytes)
            break;
        out[n++] = m;
        bytes += m->len;
    }
    q->inflight += n;
    return n;
}

void ferd_outq_end_write(ferd_outq *q)
{
    for (unsigned i = 0; i < q->inflight; i++) {
        ferd_msg *m = q->slots[q->head];
        q->slots[q->head] = NULL;
        q->bytes -= m->len;
        ferd_msg_unref(m);
        q->head = (q->head + 1) % FERD_OUTQ_SLOTS;
    }
    q->count -= q->inflight;
    q->inflight = 0;
}

void ferd_outq_clear(ferd_outq *q)
{
    for (unsigned i = 0; i < q->count; i++)
        ferd_msg_unref(q->slots[(q->head + i) % FERD_OUTQ_SLOTS]);
    ferd_outq_init(q);
}
