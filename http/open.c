/*
 * open.c — connecting to ferd on libuv's thread pool.
 *
 * fer_client_open() waits for ferd's greeting and fer_client_watch() for the
 * WATCH acknowledgement: both block, for at most timeout_ms. Run on the loop
 * thread they would stall every viewer whenever ferd is slow to answer (busy,
 * restarting, or stuck), so they run here, and the loop thread takes over the
 * connected client in the job's done() callback. The client is used by one
 * thread at a time: the worker until the job ends, then the loop thread.
 */
#include "app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void work(uv_work_t *w)
{
    http_open_job *job = w->data;
    job->c = NULL;
    memset(&job->err, 0, sizeof job->err);
    job->ack_line[0] = '\0';
    job->rc = fer_client_open(&job->c, job->path, job->timeout_ms, &job->err);
    if (job->rc < 0 || !job->watch)
        return;
    /* fer_client_call rather than fer_client_watch: a refusal's code
     * ("forbidden", "bad_field") decides the HTTP status. */
    fer_request req;
    memset(&req, 0, sizeof req);
    req.kind = FER_REQ_WATCH;
    req.watch = job->w;
    fer_message m;
    memset(&m, 0, sizeof m);
    job->rc = fer_client_call(job->c, &req, job->timeout_ms, &m, &job->err);
    job->refusal[0] = '\0';
    if (job->rc == 0 && m.kind == FER_MSG_WATCH) {
        job->ack = m.u.watch;
        size_t len;
        const char *line = fer_client_line(job->c, &len);
        if (len < sizeof job->ack_line) {
            memcpy(job->ack_line, line, len);
            job->ack_line[len] = '\0';
        }
    } else if (job->rc == FER_CLIENT_E_REFUSED && m.kind == FER_MSG_ERROR) {
        snprintf(job->refusal, sizeof job->refusal, "%s", m.u.error.code);
    }
    fer_message_clear(&m);
    if (job->rc < 0) {
        fer_client_close(job->c);
        job->c = NULL;
    }
}

static void after(uv_work_t *w, int status)
{
    http_open_job *job = w->data;
    job->busy = 0;
    if (status == UV_ECANCELED) { /* never ran */
        job->c = NULL;
        job->rc = -ECANCELED;
    }
    job->done(job);
}

int http_open_start(uv_loop_t *loop, http_open_job *job)
{
    job->work.data = job;
    job->rc = -EINPROGRESS;
    job->c = NULL;
    int rc = uv_queue_work(loop, &job->work, work, after);
    if (rc == 0)
        job->busy = 1;
    return rc;
}

void http_free_handle(uv_handle_t *h)
{
    free(h);
}
