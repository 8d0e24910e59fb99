/*
 * broker.h — the connection to the MQTT broker (libmosquitto), driven by the
 * bridge's own poll loop.
 *
 * Design. libmosquitto runs without a thread of its own: the bridge polls
 * fmq_broker_fd() for fmq_broker_events() and calls fmq_broker_handle(), and
 * calls fmq_broker_tick() on time (keepalive pings, reconnection). Nothing
 * here blocks except the host name lookup of a connection attempt
 * (libmosquitto resolves with getaddrinfo; use an address to avoid even
 * that): connects and TLS handshakes are non-blocking.
 *
 * Publishing is pull-based so that memory stays bounded: the bridge keeps its
 * own bounded queue (queue.h) and hands over a message only when
 * fmq_broker_can_publish() — connected, libmosquitto's outgoing packets all
 * written to the socket, and fewer than max_inflight QoS 1/2 messages
 * unacknowledged. libmosquitto itself never holds more than that.
 *
 * Failures. A broker that is down at start or goes away later is retried
 * with back-off (backoff.h); the outage is logged once when it starts and
 * once when it ends, never per attempt. A connection that is refused for
 * credentials (CONNACK "bad user name or password" / "not authorised"), a
 * rejected client id, or a TLS failure (certificate not trusted, wrong host
 * name, not TLS at all) is not retried: fmq_broker_fatal() then returns the
 * exit code and fmq_broker_fatal_message() one line saying what and where
 * (OpenSSL's reason for TLS). The password is never logged.
 */
#ifndef FMQ_BROKER_H
#define FMQ_BROKER_H

#include <stdint.h>

#include "config.h"

typedef struct fmq_broker fmq_broker;

typedef struct fmq_broker_hooks {
    void *ud;
    /* The broker accepted the connection (each time). */
    void (*connected)(void *ud);
    /* A message arrived on a subscription (--remove-discovery only). */
    void (*message)(void *ud, const char *topic, const void *payload, int len, int retain);
    /* A subscription was acknowledged. */
    void (*subscribed)(void *ud, int mid);
    /* A message the bridge handed over is done: QoS 0 written, 1/2 acknowledged. */
    void (*published)(void *ud, int mid);
} fmq_broker_hooks;

/* Exit codes shared by the bridge's fatal paths (main.c documents them). */
enum {
    FMQ_EXIT_OK = 0,
    FMQ_EXIT_FAIL = 1,
    FMQ_EXIT_CONFIG = 2,
    FMQ_EXIT_AUTH = 3,
    FMQ_EXIT_TLS = 4,
    FMQ_EXIT_USAGE = 64,
};

/*
 * Sets the connection up (nothing is sent yet). password may be NULL; it is
 * copied into libmosquitto and the caller may wipe its copy. With will, the
 * broker publishes will_topic "offline" (retained, QoS 1) when the bridge
 * vanishes without a clean disconnect. Errors: -EINVAL (a TLS file cannot be
 * used; *why says which), -ENOMEM.
 */
int fmq_broker_new(fmq_broker **out, const fmq_config *cfg, const char *client_id,
                   const char *password, const char *will_topic, const fmq_broker_hooks *hooks,
                   char *why, size_t whyn);
void fmq_broker_free(fmq_broker *b);

/* Starts the first connection attempt at now_ms. */
void fmq_broker_start(fmq_broker *b, int64_t now_ms);

/* The descriptor to poll and its events (POLLIN, POLLOUT), or -1 when there
 * is nothing to poll (waiting to reconnect). */
int fmq_broker_fd(const fmq_broker *b);
short fmq_broker_events(const fmq_broker *b);
/* After poll: revents of that descriptor. */
void fmq_broker_handle(fmq_broker *b, short revents, int64_t now_ms);
/* Timers: keepalive, a connect that takes too long, the next attempt. */
void fmq_broker_tick(fmq_broker *b, int64_t now_ms);
/* The next time fmq_broker_tick has work (monotonic ms). */
int64_t fmq_broker_next_ms(const fmq_broker *b);

int fmq_broker_connected(const fmq_broker *b);
int fmq_broker_can_publish(const fmq_broker *b);
/* Hands one message to libmosquitto. 0 (with *mid), -ENOTCONN (not now: keep
 * it), -EMSGSIZE / -EINVAL (this message can never be sent: drop it). */
int fmq_broker_publish(fmq_broker *b, const char *topic, const void *payload, int len, int qos,
                       int retain, int *mid);
int fmq_broker_subscribe(fmq_broker *b, const char *pattern, int qos, int *mid);
/* Sends DISCONNECT (the will is not published) and closes. */
void fmq_broker_disconnect(fmq_broker *b);
/* QoS 1/2 messages handed over and not yet acknowledged. */
int fmq_broker_inflight(const fmq_broker *b);
/* Connections made so far. */
unsigned long long fmq_broker_connects(const fmq_broker *b);

/* FMQ_EXIT_AUTH, FMQ_EXIT_TLS, FMQ_EXIT_CONFIG after a failure that must not
 * be retried, else 0; and the line that says why. */
int fmq_broker_fatal(const fmq_broker *b);
const char *fmq_broker_fatal_message(const fmq_broker *b);

/* libmosquitto's global set-up and tear-down, once per process. */
void fmq_broker_lib_init(void);
void fmq_broker_lib_cleanup(void);

#endif
