/*
 * slots.c — see slots.h. No state of its own: client.c counts the clients and
 * keeps each one's times, and acts on the verdicts (refusing, closing,
 * logging), so each rule here is checked by tests/test_daemon_core.c.
 */
#include "slots.h"

void ferd_slots_from_config(ferd_slot_policy *p, const fer_config *c)
{
    p->max_clients = c->max_clients;
    /* Never every slot: a reserve as large as the table would lock everyone else out. */
    p->reserved = c->reserved_clients < c->max_clients ? c->reserved_clients : c->max_clients - 1;
    p->per_uid = c->max_clients_per_uid;
    p->line_ns = (uint64_t)c->line_timeout_ms * 1000000ull;
    p->idle_ns = (uint64_t)c->idle_timeout_seconds * 1000000000ull;
}

ferd_admit_verdict ferd_slots_admit(const ferd_slot_policy *p, int connected, int unprivileged,
                                    int same_uid, int privileged)
{
    if (connected >= p->max_clients)
        return FERD_REFUSE_FULL;
    if (privileged)
        return FERD_ADMIT;
    if (unprivileged >= p->max_clients - p->reserved)
        return FERD_REFUSE_RESERVED;
    if (p->per_uid > 0 && same_uid >= p->per_uid)
        return FERD_REFUSE_UID;
    return FERD_ADMIT;
}

int ferd_slots_line_expired(const ferd_slot_policy *p, uint64_t start_ns, uint64_t now)
{
    return p->line_ns && start_ns && now >= start_ns && now - start_ns >= p->line_ns;
}

int ferd_slots_idle_expired(const ferd_slot_policy *p, uint64_t last_ns, uint64_t now)
{
    return p->idle_ns && now >= last_ns && now - last_ns >= p->idle_ns;
}
