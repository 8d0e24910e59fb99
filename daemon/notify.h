/*
 * notify.h — talking to the service manager (sd_notify): READY, STATUS,
 * STOPPING, RELOADING and WATCHDOG. Without NOTIFY_SOCKET every call is a
 * no-op, so the daemon runs the same way by hand.
 */
#ifndef FERD_NOTIFY_H
#define FERD_NOTIFY_H

#include <stdint.h>

void ferd_notify_ready(const char *status);
void ferd_notify_status_line(const char *status);
void ferd_notify_stopping(void);
void ferd_notify_reloading(void);
void ferd_notify_watchdog(void);
/* The watchdog interval systemd asks for (WatchdogSec=), 0 if none. */
uint64_t ferd_notify_watchdog_usec(void);

#endif
