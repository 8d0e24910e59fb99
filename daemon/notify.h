/*
 * notify.h — talking to the service manager (sd_notify): READY, STATUS,
 * STOPPING, RELOADING and WATCHDOG. Without NOTIFY_SOCKET every call is a
 * no-op, so the daemon runs the same way by hand. Never blocks: a message the
 * manager's full queue cannot take is dropped (and logged).
 */
#ifndef FERD_NOTIFY_H
#define FERD_NOTIFY_H

#include <stdint.h>

void ferd_notify_ready(const char *status);
void ferd_notify_status_line(const char *status);
void ferd_notify_stopping(void);
void ferd_notify_reloading(void);
void ferd_notify_watchdog(void);
/* Notifications dropped so far because the manager did not read them. */
unsigned long ferd_notify_dropped(void);
/* Closes the notification socket (at exit; a later message opens it again). */
void ferd_notify_close(void);
/* The watchdog interval systemd asks for (WatchdogSec=), 0 if none. */
uint64_t ferd_notify_watchdog_usec(void);

#endif
