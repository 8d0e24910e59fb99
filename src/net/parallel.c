/*
 * parallel.c — see parallel.h.
 *
 * Why one helper thread: the machines ferd trains on have two vCPUs that share
 * one core's floating-point units, so a product kernel gains little from a
 * second thread, while everything around it (im2col, batch norm, pooling, the
 * copies) waits on memory and does overlap. Two threads that split each layer
 * in halves capture that with the least machinery: the helper sleeps on a
 * condition variable, a job is a function pointer plus argument and a
 * generation counter, and the caller runs its half before waiting for the
 * helper's. The helper is started on first use and lives until the process
 * ends (it holds no resources but its stack), so nothing needs tearing down.
 */
#include "net/parallel.h"

#include <pthread.h>

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    fer_par_fn fn;
    void *arg;
    unsigned long posted, finished; /* job generations */
    int started;                    /* 1 running, -1 could not start */
    int threads;
} par = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
         NULL, NULL, 0, 0, 0, 1};

static void *helper_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&par.mu);
    for (;;) {
        while (par.finished == par.posted)
            pthread_cond_wait(&par.wake, &par.mu);
        fer_par_fn fn = par.fn;
        void *arg = par.arg;
        pthread_mutex_unlock(&par.mu);
        fn(arg, 1, 2);
        pthread_mutex_lock(&par.mu);
        par.finished = par.posted;
        pthread_cond_signal(&par.done);
    }
    return NULL;
}

void fer_par_set_threads(int n)
{
    pthread_mutex_lock(&par.mu);
    par.threads = n >= 2 ? 2 : 1;
    pthread_mutex_unlock(&par.mu);
}

int fer_par_threads(void)
{
    pthread_mutex_lock(&par.mu);
    int n = par.threads == 2 && par.started >= 0 ? 2 : 1;
    pthread_mutex_unlock(&par.mu);
    return n;
}

void fer_par_run(fer_par_fn fn, void *arg)
{
    pthread_mutex_lock(&par.mu);
    if (par.threads == 2 && par.started == 0) {
        pthread_t tid;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        par.started = pthread_create(&tid, &attr, helper_main, NULL) == 0 ? 1 : -1;
        pthread_attr_destroy(&attr);
    }
    if (par.threads < 2 || par.started < 0) {
        pthread_mutex_unlock(&par.mu);
        fn(arg, 0, 1);
        return;
    }
    par.fn = fn;
    par.arg = arg;
    par.posted++;
    pthread_cond_signal(&par.wake);
    pthread_mutex_unlock(&par.mu);

    fn(arg, 0, 2);

    pthread_mutex_lock(&par.mu);
    while (par.finished != par.posted)
        pthread_cond_wait(&par.done, &par.mu);
    pthread_mutex_unlock(&par.mu);
}
