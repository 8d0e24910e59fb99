/*
 * reload.h — re-reading the configuration and the model while serving
 * (SIGHUP, RELOAD), and the configuration load that start-up shares with it.
 */
#ifndef FERD_RELOAD_H
#define FERD_RELOAD_H

#include <stddef.h>

#include "ferd.h"

/* Built-in defaults, then the config file (if any), then the command line,
 * validated (groups must exist). -EINVAL with one reason per line in msg. */
int ferd_load_config(ferd *d, fer_config *n, char *msg, size_t len);

/* Starts a reload: re-reads the config file, applies the live keys and hands
 * the model to the inference thread. requester may be NULL (SIGHUP). On a config
 * error nothing changes and the requester gets an ERROR now. */
void ferd_reload(ferd *d, ferd_client *requester);

/* The inference thread's answer (rc 0 with the new model's info, or -errno with
 * msg): every waiting requester that is still connected gets RELOAD or ERROR,
 * the outcome is logged once, and systemd hears READY=1 again. */
void ferd_reload_answered(ferd *d, int rc, const char *msg, const fer_model_info *info);

#endif
