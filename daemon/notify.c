/*
 * notify.c — see notify.h. The messages are datagrams to $NOTIFY_SOCKET, sent
 * here on a non-blocking socket of our own rather than with sd_notify(), which
 * sends with a blocking sendmsg: when nobody reads the socket (a supervisor
 * that only waits for READY=1, a stuck manager) its queue fills and the loop
 * thread would block for good, serving no client and ignoring SIGTERM
 * (docs/RELIABILITY.md, finding F7). A message that does not fit is dropped:
 * each one carries the whole state (READY, the current STATUS), so the next
 * one supersedes it. Drops are counted and logged once per run of drops.
 *
 * NOTIFY_SOCKET is a path ("/run/systemd/notify") or an abstract name
 * ("@..."), as sd_notify(3) describes; other address families (vsock, used by
 * virtual machine managers) are left to libsystemd.
 */
#include "notify.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "log.h"
#include "util/redact.h"

static struct {
    pthread_mutex_t mu;
    int fd;                 /* -1 until the first message */
    int unsupported;        /* NOTIFY_SOCKET is not a unix address: use sd_notify */
    struct sockaddr_un addr;
    socklen_t addr_len;
    unsigned long dropped;  /* in the current run of drops */
    unsigned long dropped_total;
} N = {PTHREAD_MUTEX_INITIALIZER, -1, 0, {0}, 0, 0, 0};

/* Sets up N.fd and N.addr from the environment; 0, or -1 without a socket. */
static int open_locked(void)
{
    if (N.fd >= 0)
        return 0;
    const char *e = getenv("NOTIFY_SOCKET");
    if (!e || !*e)
        return -1;
    size_t len = strlen(e);
    if ((e[0] != '/' && e[0] != '@') || len >= sizeof N.addr.sun_path) {
        N.unsupported = 1;
        return -1;
    }
    memset(&N.addr, 0, sizeof N.addr);
    N.addr.sun_family = AF_UNIX;
    memcpy(N.addr.sun_path, e, len);
    if (e[0] == '@')
        N.addr.sun_path[0] = '\0'; /* abstract: no terminating NUL counted */
    N.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (e[0] == '/'));
    N.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (N.fd < 0) {
        log_warning("notify: socket: %s; the service manager gets no notifications",
                    strerror(errno));
        N.unsupported = 1;
        return -1;
    }
    return 0;
}

static void send_note(const char *raw)
{
    /* systemctl status shows STATUS= to every local user: no credential of a
     * stream URL may be in it (util/redact.h). */
    char msg[1024];
    fer_redact(raw, msg, sizeof msg);
    pthread_mutex_lock(&N.mu);
    int ours = !N.unsupported && open_locked() == 0;
    int fallback = N.unsupported;
    if (ours) {
        ssize_t n = sendto(N.fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
                           (const struct sockaddr *)&N.addr, N.addr_len);
        if (n < 0) {
            int full = errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS;
            if (N.dropped++ == 0) {
                if (full)
                    log_warning("notify: the service manager is not reading NOTIFY_SOCKET (its "
                                "queue is full); dropping notifications until it does");
                else
                    log_warning("notify: %s: %s; dropping notifications",
                                getenv("NOTIFY_SOCKET"), strerror(errno));
            }
            N.dropped_total++;
        } else if (N.dropped) {
            log_notice("notify: the service manager reads again; %lu notification%s dropped",
                       N.dropped, N.dropped == 1 ? "" : "s");
            N.dropped = 0;
        }
    }
    pthread_mutex_unlock(&N.mu);
    if (fallback)
        sd_notify(0, msg); /* not a unix address: libsystemd knows the others */
}

void ferd_notify_ready(const char *status)
{
    char s[512];
    snprintf(s, sizeof s, "READY=1\nSTATUS=%s", status);
    send_note(s);
}

void ferd_notify_status_line(const char *status)
{
    char s[512];
    snprintf(s, sizeof s, "STATUS=%s", status);
    send_note(s);
}

void ferd_notify_stopping(void)
{
    send_note("STOPPING=1\nSTATUS=Stopping");
}

void ferd_notify_reloading(void)
{
    send_note("RELOADING=1\nSTATUS=Reloading configuration and model");
}

void ferd_notify_watchdog(void)
{
    send_note("WATCHDOG=1");
}

unsigned long ferd_notify_dropped(void)
{
    pthread_mutex_lock(&N.mu);
    unsigned long n = N.dropped_total;
    pthread_mutex_unlock(&N.mu);
    return n;
}

void ferd_notify_close(void)
{
    pthread_mutex_lock(&N.mu);
    if (N.fd >= 0)
        close(N.fd);
    N.fd = -1;
    pthread_mutex_unlock(&N.mu);
}

uint64_t ferd_notify_watchdog_usec(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec;
}
