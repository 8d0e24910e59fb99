/*
 * demand.c — see demand.h. The counts change only here, so "wanted" is
 * recomputed at every change and the threads never miss one; the mutex is
 * taken only to publish, and the threads are woken only when the answer
 * flips, not at every subscription. Each fall to "not wanted" starts an idle
 * spell (sh.idle_epoch), after which results start from a clean state
 * (pipeline.h: fresh state after a gap).
 */
#include "demand.h"

#include "client.h"

void ferd_update_demand(ferd *d)
{
    int wanted = d->watching > 0 || d->polls_waiting > 0;
    pthread_mutex_lock(&d->sh.mu);
    if (d->sh.wanted != wanted) {
        d->sh.wanted = wanted;
        if (!wanted) {
            /* An idle spell begins: whatever comes next starts afresh (the
             * inference thread restarts its tracking), and nobody is left who
             * was shown the current tracks. */
            d->sh.idle_epoch++;
            ferd_tracks_clear(&d->tracks);
        }
        pthread_cond_broadcast(&d->sh.infer_cond);
        pthread_cond_broadcast(&d->sh.capture_cond);
    }
    pthread_mutex_unlock(&d->sh.mu);
}

void ferd_client_set_watch(ferd_client *c, const fer_watch *w)
{
    ferd *d = c->d;
    int was = c->watching;
    c->watch = *w;
    c->watching = w->enable ? 1 : 0;
    c->next_due_ns = 0;
    c->next_image_ns = 0;
    if (was != c->watching) {
        d->watching += c->watching ? 1 : -1;
        ferd_update_demand(d);
    }
}

void ferd_client_poll_wait(ferd_client *c, uint64_t deadline_ns)
{
    if (c->poll_waiting)
        return;
    c->poll_waiting = 1;
    c->poll_deadline_ns = deadline_ns;
    c->d->polls_waiting++;
    ferd_update_demand(c->d);
}

void ferd_client_poll_done(ferd_client *c)
{
    if (!c->poll_waiting)
        return;
    c->poll_waiting = 0;
    c->d->polls_waiting--;
    ferd_update_demand(c->d);
}
