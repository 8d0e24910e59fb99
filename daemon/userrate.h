/*
 * userrate.h — the request budget an unprivileged user shares over all its
 * connections (issue 13, class 4).
 *
 * Each connection has its own request bucket (requests_per_second,
 * request_burst), but a user may hold up to max_clients_per_uid connections,
 * so per connection alone one user could make the daemon answer 32 times the
 * rate: 32 connections sending STATUS at 20/s cost ferd about 15% of a core
 * and other users' watchers frames (docs/RELIABILITY.md, "CPU a peer may
 * cost"). So every request of an unprivileged connection also takes a token
 * from its user's bucket (requests_per_second_per_uid,
 * request_burst_per_uid); root and the daemon's own user have none.
 *
 * The table has one entry per slot of the client table, so every user with a
 * connection has one (there are fewer users than connections). An entry
 * whose user has no connection left keeps its bucket: a user who disconnects
 * and comes back finds it as it left it, so reconnecting buys no fresh burst.
 * Only when a new user needs room is such an entry given away, the one unused
 * longest. Time comes in as an argument, so the table is unit-tested without
 * a socket (tests/test_daemon_fair.c).
 */
#ifndef FERD_USERRATE_H
#define FERD_USERRATE_H

#include <stdint.h>

#include "bucket.h"

typedef struct ferd_user_bucket {
    long long uid;
    int refs;              /* connections of uid attached; 0: kept for its bucket */
    int used;              /* ever given to a user */
    uint64_t last_ns;      /* last attached or detached */
    ferd_bucket bucket;
} ferd_user_bucket;

typedef struct ferd_userrate {
    ferd_user_bucket *e;
    int n;
} ferd_userrate;

/* A table of n entries. -ENOMEM. */
int ferd_userrate_init(ferd_userrate *t, int n);
void ferd_userrate_free(ferd_userrate *t);

/*
 * The entry of uid, attached once more: its own if it has one (connected or
 * kept), else a fresh one with a full bucket (burst tokens) in a free entry.
 * NULL only if every entry is attached to another user, which the caller's
 * sizing (one entry per connection slot) rules out.
 */
ferd_user_bucket *ferd_userrate_attach(ferd_userrate *t, long long uid, double burst,
                                       uint64_t now);

/* One connection of e's user is gone (e NULL: nothing). */
void ferd_userrate_detach(ferd_user_bucket *e, uint64_t now);

#endif
