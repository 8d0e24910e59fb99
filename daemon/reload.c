/*
 * reload.c — reload, from SIGHUP or a RELOAD request, in two halves.
 *
 * On the loop thread: the whole configuration (defaults, file, command line) is
 * read and validated first, so an invalid file changes nothing; then the keys a
 * reload may change apply at once, the ones that need a restart are logged and
 * remembered for the answer, and the model path is posted to the inference
 * thread. That thread loads the model between frames (a failed load keeps the
 * old model serving) and answers through the wake-up async; loop.c's on_wake
 * hands the answer to ferd_reload_answered, which tells every waiting client.
 */
#include "reload.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "notify.h"
#include "server.h"

/* Appends one line to msg (len bytes in all), cut if it does not fit. */
__attribute__((format(printf, 3, 4)))
static void append(char *msg, size_t len, const char *fmt, ...)
{
    size_t used = strnlen(msg, len);
    if (used + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + used, len - used, fmt, ap);
    va_end(ap);
    used = strnlen(msg, len);
    if (used + 1 < len && (used == 0 || msg[used - 1] != '\n')) {
        msg[used] = '\n';
        msg[used + 1] = '\0';
    }
}

/*
 * Every problem is reported at once, one line each, whichever stage finds it:
 * the file's bad lines, each bad command-line setting, the relations between
 * keys, the groups that do not exist. An administrator fixing a configuration
 * must not learn of one mistake per attempt (issue 13, class 8).
 */
int ferd_load_config(ferd *d, fer_config *n, char *msg, size_t len)
{
    fer_config_default(n);
    msg[0] = '\0';
    int bad = 0;
    if (d->config_path[0] && fer_config_load(n, d->config_path, msg, len) < 0)
        bad = 1;
    for (int i = 0; i < d->noverrides; i++) {
        char why[512] = "";
        if (fer_config_set(n, d->overrides[i].key, d->overrides[i].value, why, sizeof why) < 0) {
            append(msg, len, "command line: %s", why);
            bad = 1;
        }
    }
    size_t used = strnlen(msg, len);
    if (fer_config_validate(n, msg + used, len - used) < 0)
        bad = 1;
    gid_t g;
    const struct {
        const char *key, *value;
    } groups[] = {{"socket_group", n->socket_group},
                  {"image_group", n->image_group},
                  {"reload_group", n->reload_group}};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (ferd_group_id(groups[i].value, &g) < 0) {
            append(msg, len, "%s %s: no such group", groups[i].key, groups[i].value);
            bad = 1;
        }
    return bad ? -EINVAL : 0;
}

/* Applies what a reload may change while running. */
static void apply_live(ferd *d, const fer_config *n)
{
    fer_config_apply_live(&d->cfg, n);
    fer_log_set_level(d->cfg.log_level);
    ferd_group_id(d->cfg.image_group, &d->image_gid);
    ferd_group_id(d->cfg.reload_group, &d->reload_gid);
    pthread_mutex_lock(&d->sh.mu);
    d->sh.close_when_idle = d->cfg.close_camera_when_idle;
    d->sh.idle_close_seconds = d->cfg.idle_close_seconds;
    d->sh.jpeg_quality = d->cfg.jpeg_quality;
    d->sh.tta = d->cfg.tta; /* the inference thread takes it with the reload it is posted with */
    pthread_cond_broadcast(&d->sh.capture_cond);
    pthread_mutex_unlock(&d->sh.mu);
    /* Groups may have changed: decide each client's rights again. */
    for (int i = 0; i < d->nslots; i++)
        d->clients[i].images_ok = d->clients[i].reload_ok = -1;
}

/*
 * Reload, from SIGHUP or a RELOAD request. The whole configuration is read and
 * validated first; with any error nothing changes. Then the live keys apply at
 * once, the keys that need a restart are logged and remembered for the answer,
 * and the model is handed to the inference thread, which loads it between
 * frames and answers through the wake-up async. Reloads asked for while one is
 * under way wait for the same answer.
 */
void ferd_reload(ferd *d, ferd_client *requester)
{
    if (d->stopping)
        return;
    fer_config *n = malloc(sizeof *n);
    char msg[2048];
    if (!n) {
        if (requester)
            ferd_client_error(requester, "internal", "RELOAD", "out of memory");
        return;
    }
    if (ferd_load_config(d, n, msg, sizeof msg) < 0) {
        /* Nothing changes: the running configuration stays whole. */
        char *nl = strchr(msg, '\n');
        log_err("reload: invalid configuration: %s", msg);
        if (requester) {
            if (nl && nl[1] == '\0')
                *nl = '\0';
            ferd_client_error(requester, "config_invalid", "RELOAD",
                              "invalid configuration, nothing changed: %s", msg);
        }
        free(n);
        return;
    }
    if (requester && d->nreload_waiters == FERD_RELOAD_WAITERS) {
        ferd_client_error(requester, "busy", "RELOAD", "too many reloads waiting");
        free(n);
        return;
    }
    d->reload_nrestart = fer_config_restart_keys(&d->cfg, n, d->reload_restart,
                                                 FER_RELOAD_MAX_KEYS);
    for (int i = 0; i < d->reload_nrestart; i++)
        log_warning("reload: %s changed; it applies after a restart", d->reload_restart[i]);
    apply_live(d, n);
    free(n);
    if (requester) {
        d->reload_waiters[d->nreload_waiters].slot = requester->slot;
        d->reload_waiters[d->nreload_waiters].id = requester->id;
        d->nreload_waiters++;
        requester->reload_waiting = 1;
    }
    if (d->reload_in_flight)
        return; /* the answer under way covers this one too */
    d->reload_in_flight = 1;
    ferd_notify_reloading();
    pthread_mutex_lock(&d->sh.mu);
    snprintf(d->sh.reload_path, sizeof d->sh.reload_path, "%s", d->cfg.model);
    d->sh.reload_pending = 1;
    pthread_cond_signal(&d->sh.infer_cond);
    pthread_mutex_unlock(&d->sh.mu);
}

/*
 * The inference thread has tried the model a reload asked for. Every client
 * that asked (and is still the same connection: slot and id must match) gets
 * the RELOAD answer or the ERROR; the outcome is logged once; systemd hears
 * READY=1 again, which ends the RELOADING=1 state.
 */
void ferd_reload_answered(ferd *d, int rc, const char *msg, const fer_model_info *info)
{
    fer_reload_msg ack;
    memset(&ack, 0, sizeof ack);
    if (rc == 0) {
        d->model_info = *info;
        log_notice("model reloaded: %s (%s, %d classes)", info->path, info->name,
                   info->nclasses);
        ack.model = *info;
        ack.nrestart = d->reload_nrestart;
        memcpy(ack.restart, d->reload_restart, sizeof ack.restart);
    } else {
        log_err("reload: %s; the model %s keeps serving", msg, d->model_info.path);
    }
    for (int i = 0; i < d->nreload_waiters; i++) {
        ferd_client *c = &d->clients[d->reload_waiters[i].slot];
        if (!c->in_use || c->id != d->reload_waiters[i].id)
            continue; /* gone meanwhile */
        c->reload_waiting = 0;
        if (rc == 0) {
            char *json = NULL;
            fer_reload_to_json(&ack, &json);
            ferd_client_reply(c, json);
        } else {
            ferd_client_error(c, "reload_failed", "RELOAD", "%s; the previous model keeps serving",
                              msg);
        }
    }
    d->nreload_waiters = 0;
    d->reload_in_flight = 0;
    d->notify_status[0] = '\0'; /* READY again, with a fresh STATUS */
    ferd_notify_ready("Reloaded");
    ferd_notify_status(d);
}
