/*
 * slots.h — who may hold one of the max_clients slots, and for how long: the
 * fairness rules that keep one peer from starving the others (issue 13,
 * class 4), as pure functions of counts and times, unit-tested without a
 * socket.
 *
 *   - root and the daemon's own user ("privileged") may take any slot;
 *   - the last reserved_clients slots are kept for them: the other peers
 *     together hold at most max_clients - reserved_clients, so `ferctl
 *     status` as root works however many connections others hold;
 *   - one unprivileged uid holds at most max_clients_per_uid (0: no cap);
 *   - a request line must be finished within line_timeout_ms of its first
 *     byte (a client trickling a line never ends it);
 *   - a client that is owed nothing (no subscription, no POLL or RELOAD
 *     waiting, nothing queued, no partial line) and has sent no request for
 *     idle_timeout_seconds is closed (0: never). A subscriber is never idle,
 *     however long it stays silent.
 */
#ifndef FERD_SLOTS_H
#define FERD_SLOTS_H

#include <stdint.h>

#include "config.h"

typedef struct ferd_slot_policy {
    int max_clients;      /* slots in all */
    int reserved;         /* of which only privileged peers may take the last ones */
    int per_uid;          /* most slots one unprivileged uid holds; 0 = no cap */
    uint64_t line_ns;     /* a line must be finished this long after its first byte */
    uint64_t idle_ns;     /* idle clients are closed after this long; 0 = never */
} ferd_slot_policy;

typedef enum ferd_admit_verdict {
    FERD_ADMIT,           /* take a slot */
    FERD_REFUSE_FULL,     /* every slot is taken */
    FERD_REFUSE_RESERVED, /* the free slots are kept for privileged peers */
    FERD_REFUSE_UID,      /* this uid holds its share already */
} ferd_admit_verdict;

/* The policy of c's max_clients, reserved_clients, max_clients_per_uid,
 * line_timeout_ms and idle_timeout_seconds. */
void ferd_slots_from_config(ferd_slot_policy *p, const fer_config *c);

/*
 * The verdict for a new connection, given the clients admitted so far
 * (connected), how many of them are unprivileged, how many have the newcomer's
 * uid, and whether the newcomer is privileged.
 */
ferd_admit_verdict ferd_slots_admit(const ferd_slot_policy *p, int connected, int unprivileged,
                                    int same_uid, int privileged);

/* 1 if a line begun at start_ns (0: no partial line) is past its deadline at now. */
int ferd_slots_line_expired(const ferd_slot_policy *p, uint64_t start_ns, uint64_t now);

/* 1 if a client last active at last_ns has been idle too long at now (the
 * caller decides whether it is owed anything). */
int ferd_slots_idle_expired(const ferd_slot_policy *p, uint64_t last_ns, uint64_t now);

#endif
