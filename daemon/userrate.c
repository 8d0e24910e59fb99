/*
 * userrate.c — see userrate.h. A linear scan of a table of max_clients + a
 * few entries, done once per accepted connection: cheaper than a hash for
 * the sizes a client table has, and with nothing to allocate after start-up.
 */
#include "userrate.h"

#include <errno.h>
#include <stdlib.h>

int ferd_userrate_init(ferd_userrate *t, int n)
{
    t->e = calloc((size_t)(n > 0 ? n : 1), sizeof *t->e);
    t->n = t->e ? n : 0;
    return t->e ? 0 : -ENOMEM;
}

void ferd_userrate_free(ferd_userrate *t)
{
    free(t->e);
    t->e = NULL;
    t->n = 0;
}

ferd_user_bucket *ferd_userrate_attach(ferd_userrate *t, long long uid, double burst,
                                       uint64_t now)
{
    ferd_user_bucket *free_e = NULL;
    for (int i = 0; i < t->n; i++) {
        ferd_user_bucket *e = &t->e[i];
        if (e->used && e->uid == uid) {
            e->refs++;
            e->last_ns = now;
            return e;
        }
        if (e->refs)
            continue;
        /* A never-used entry first, then the one kept longest unused. */
        if (!free_e || (free_e->used && (!e->used || e->last_ns < free_e->last_ns)))
            free_e = e;
    }
    if (!free_e)
        return NULL;
    free_e->uid = uid;
    free_e->used = 1;
    free_e->refs = 1;
    free_e->last_ns = now;
    ferd_bucket_init(&free_e->bucket, burst, now);
    return free_e;
}

void ferd_userrate_detach(ferd_user_bucket *e, uint64_t now)
{
    if (!e || e->refs <= 0)
        return;
    e->refs--;
    e->last_ns = now;
}
