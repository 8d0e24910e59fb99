/*
 * notify.c — see notify.h. sd_notify is a datagram to $NOTIFY_SOCKET; a
 * failure is not worth stopping for, so results are ignored here (the
 * protocol tests check the messages arrive).
 */
#include "notify.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

void ferd_notify_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void ferd_notify_status_line(const char *status)
{
    sd_notifyf(0, "STATUS=%s", status);
}

void ferd_notify_stopping(void)
{
    sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
}

void ferd_notify_reloading(void)
{
    sd_notify(0, "RELOADING=1\nSTATUS=Reloading configuration and model");
}

void ferd_notify_watchdog(void)
{
    sd_notify(0, "WATCHDOG=1");
}

uint64_t ferd_notify_watchdog_usec(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec;
}
