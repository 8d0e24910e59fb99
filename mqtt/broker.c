/*
 * broker.c — see broker.h.
 *
 * libmosquitto's callbacks run inside mosquitto_loop_read/write/misc; they
 * only record what happened (connected, lost, refused), and the state machine
 * acts on it after the loop call returns, at a point where calling back into
 * libmosquitto (publishing the availability on connect) is safe.
 *
 * States: DOWN (no socket, or a dead one; waiting for the next attempt),
 * CONNECTING (TCP connect, TLS handshake and CONNECT sent; waiting for
 * CONNACK, at most CONNECT_TIMEOUT_MS), UP.
 */
#include "broker.h"

#include <errno.h>
#include <mosquitto.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backoff.h"
#include "topics.h"
#include "util/log.h"

/* The system's trusted certificates (Debian's ca-certificates). */
#define FMQ_SYSTEM_CA_PATH "/etc/ssl/certs"
/* A connection attempt that has not been accepted by then is given up. */
#define CONNECT_TIMEOUT_MS 10000

enum { ST_DOWN, ST_CONNECTING, ST_UP };

struct fmq_broker {
    struct mosquitto *mosq;
    const fmq_config *cfg;
    fmq_broker_hooks hooks;
    char where[300];          /* "host:port", for messages */
    int state;
    fmq_backoff backoff;
    int64_t next_attempt_ms;  /* DOWN: when to try again */
    int64_t deadline_ms;      /* CONNECTING: give up then */
    int64_t next_misc_ms;     /* keepalive bookkeeping */
    int outage_logged;        /* the current outage was logged */
    int ever_up;
    unsigned long long connects;

    /* QoS 1/2 messages handed to libmosquitto and not yet acknowledged. */
    int *mids;
    int nmids, max_mids;

    /* Recorded by callbacks, acted on afterwards. */
    int cb_connected;
    int cb_refused;           /* CONNACK code, 0 none */
    int cb_lost;
    int cb_lost_rc, cb_lost_errno;
    char ssl_reason[256];     /* the first OpenSSL error line of this attempt */
    int tls_hostname_failed;  /* libmosquitto said the certificate names another host */

    int fatal;
    char fatal_msg[512];
};

void fmq_broker_lib_init(void)
{
    mosquitto_lib_init();
}

void fmq_broker_lib_cleanup(void)
{
    mosquitto_lib_cleanup();
}

/* ---- callbacks: record only ---- */

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    fmq_broker *b = ud;
    if (rc == 0)
        b->cb_connected = 1;
    else
        b->cb_refused = rc;
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
    fmq_broker *b = ud;
    b->cb_lost = 1;
    b->cb_lost_rc = rc;
    b->cb_lost_errno = errno;
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
    fmq_broker *b = ud;
    for (int i = 0; i < b->nmids; i++)
        if (b->mids[i] == mid) {
            b->mids[i] = b->mids[--b->nmids];
            break;
        }
    if (b->hooks.published)
        b->hooks.published(b->hooks.ud, mid);
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    fmq_broker *b = ud;
    if (b->hooks.message)
        b->hooks.message(b->hooks.ud, msg->topic, msg->payload, msg->payloadlen, msg->retain);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
    fmq_broker *b = ud;
    if (b->hooks.subscribed)
        b->hooks.subscribed(b->hooks.ud, mid);
}

/* libmosquitto logs OpenSSL's reasons as "OpenSSL Error[0]: ..."; the first
 * one of an attempt is kept for the TLS failure message. Everything else it
 * says goes to our log at debug level. */
static void on_log(struct mosquitto *m, void *ud, int level, const char *text)
{
    fmq_broker *b = ud;
    if (level == MOSQ_LOG_ERR && strncmp(text, "OpenSSL Error", 13) == 0 && !b->ssl_reason[0]) {
        const char *p = strchr(text, ':');
        snprintf(b->ssl_reason, sizeof b->ssl_reason, "%s", p ? p + 2 : text);
    }
    if (level == MOSQ_LOG_ERR && strstr(text, "host name verification failed"))
        b->tls_hostname_failed = 1;
    fer_log(FER_LOG_DEBUG, "libmosquitto: %s", text);
}

/* ---- set-up ---- */

static int readable(const char *path, const char *key, char *why, size_t whyn)
{
    if (!path[0] || access(path, R_OK) == 0)
        return 0;
    snprintf(why, whyn, "%s %.200s: %s", key, path, strerror(errno));
    return -EINVAL;
}

int fmq_broker_new(fmq_broker **out, const fmq_config *cfg, const char *client_id,
                   const char *password, const char *will_topic, const fmq_broker_hooks *hooks,
                   char *why, size_t whyn)
{
    *out = NULL;
    fmq_broker *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->cfg = cfg;
    if (hooks)
        b->hooks = *hooks;
    b->max_mids = cfg->max_inflight;
    b->mids = calloc((size_t)b->max_mids, sizeof *b->mids);
    b->mosq = b->mids ? mosquitto_new(client_id, true, b) : NULL;
    if (!b->mosq) {
        fmq_broker_free(b);
        return -ENOMEM;
    }
    if (strchr(cfg->host, ':'))
        snprintf(b->where, sizeof b->where, "[%s]:%d", cfg->host, cfg->port);
    else
        snprintf(b->where, sizeof b->where, "%s:%d", cfg->host, cfg->port);
    fmq_backoff_init(&b->backoff, cfg->retry_initial_ms, cfg->retry_max_ms,
                     (uint64_t)getpid() * 2654435761u ^ (uint64_t)(uintptr_t)b);
    mosquitto_int_option(b->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    /* Latency: a small message goes out at once, not when Nagle decides. */
    mosquitto_int_option(b->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_max_inflight_messages_set(b->mosq, (unsigned)cfg->max_inflight);
    mosquitto_connect_callback_set(b->mosq, on_connect);
    mosquitto_disconnect_callback_set(b->mosq, on_disconnect);
    mosquitto_publish_callback_set(b->mosq, on_publish);
    mosquitto_message_callback_set(b->mosq, on_message);
    mosquitto_subscribe_callback_set(b->mosq, on_subscribe);
    mosquitto_log_callback_set(b->mosq, on_log);

    int rc = MOSQ_ERR_SUCCESS;
    if (cfg->username[0])
        rc = mosquitto_username_pw_set(b->mosq, cfg->username, password);
    if (rc == MOSQ_ERR_SUCCESS && cfg->tls) {
        if (readable(cfg->ca_file, "ca_file", why, whyn) < 0 ||
            readable(cfg->cert_file, "cert_file", why, whyn) < 0 ||
            readable(cfg->key_file, "key_file", why, whyn) < 0) {
            fmq_broker_free(b);
            return -EINVAL;
        }
        /* Without ca_file or ca_path the system's trusted CAs verify the
         * broker, named as a CA directory: libmosquitto 2.0.11's
         * MOSQ_OPT_TLS_USE_OS_CERTS makes every reconnection fail with
         * "invalid arguments" (net__init_ssl_ctx). */
        const char *ca_path = cfg->ca_path[0] ? cfg->ca_path : NULL;
        if (!cfg->ca_file[0] && !ca_path)
            ca_path = FMQ_SYSTEM_CA_PATH;
        rc = mosquitto_tls_set(b->mosq, cfg->ca_file[0] ? cfg->ca_file : NULL, ca_path,
                               cfg->cert_file[0] ? cfg->cert_file : NULL,
                               cfg->key_file[0] ? cfg->key_file : NULL, NULL);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_tls_opts_set(b->mosq, 1 /* SSL_VERIFY_PEER */, NULL, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(why, whyn, "TLS settings refused by libmosquitto: %s",
                     mosquitto_strerror(rc));
            fmq_broker_free(b);
            return -EINVAL;
        }
    }
    if (rc == MOSQ_ERR_SUCCESS && will_topic)
        rc = mosquitto_will_set(b->mosq, will_topic, (int)strlen(FMQ_OFFLINE), FMQ_OFFLINE, 1,
                                true);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(why, whyn, "libmosquitto: %s", mosquitto_strerror(rc));
        fmq_broker_free(b);
        return rc == MOSQ_ERR_NOMEM ? -ENOMEM : -EINVAL;
    }
    b->state = ST_DOWN;
    b->next_attempt_ms = INT64_MAX;
    *out = b;
    return 0;
}

void fmq_broker_free(fmq_broker *b)
{
    if (!b)
        return;
    if (b->mosq)
        mosquitto_destroy(b->mosq);
    free(b->mids);
    free(b);
}

/* ---- the state machine ---- */

/* A failure that must not be retried; fmt gets the broker's "host:port" first. */
__attribute__((format(printf, 3, 4)))
static void go_fatal(fmq_broker *b, int code, const char *fmt, ...)
{
    b->fatal = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->fatal_msg, sizeof b->fatal_msg, fmt, ap);
    va_end(ap);
    b->state = ST_DOWN;
    b->next_attempt_ms = INT64_MAX;
}

/* A connection failed or was lost: log once per outage, try again later. */
static void go_down(fmq_broker *b, int64_t now_ms, const char *reason)
{
    int was_up = b->state == ST_UP;
    b->state = ST_DOWN;
    int delay = fmq_backoff_next(&b->backoff);
    b->next_attempt_ms = now_ms + delay;
    if (was_up) {
        fer_log(FER_LOG_WARNING, "lost the broker %s: %s; reconnecting", b->where, reason);
        b->outage_logged = 1;
    } else if (!b->outage_logged) {
        fer_log(FER_LOG_WARNING,
                "broker %s not reachable: %s; retrying every %d s at most, and saying so "
                "when it answers",
                b->where, reason, (b->cfg->retry_max_ms + 999) / 1000);
        b->outage_logged = 1;
    } else {
        fer_log(FER_LOG_DEBUG, "broker %s: %s; next attempt in %d ms", b->where, reason, delay);
    }
    /* A dead socket libmosquitto still holds is closed at the next attempt;
     * until then it is not polled. */
}

static const char *mosq_reason(int rc, int err, char *buf, size_t n)
{
    if (rc == MOSQ_ERR_ERRNO)
        snprintf(buf, n, "%s", strerror(err));
    else if (rc == MOSQ_ERR_EAI)
        snprintf(buf, n, "cannot resolve the host name: %s", gai_strerror(err));
    else if (rc == MOSQ_ERR_KEEPALIVE)
        snprintf(buf, n, "no answer to keepalive pings");
    else
        snprintf(buf, n, "%s", mosquitto_strerror(rc));
    return buf;
}

/* What went wrong with TLS, from what libmosquitto logged during the attempt
 * (the SSL session itself is gone by then). A handshake cut off by the peer
 * is retried: a broker restarting looks the same as a port without TLS, and
 * only the first can get better by waiting. Anything OpenSSL decided (a
 * certificate, a protocol mismatch) is final. */
static void tls_failure(fmq_broker *b, int64_t now_ms)
{
    if (!b->tls_hostname_failed &&
        (!b->ssl_reason[0] || strstr(b->ssl_reason, "unexpected eof"))) {
        go_down(b, now_ms, "the TLS handshake was cut off by the broker (does this port speak "
                           "TLS?)");
        return;
    }
    char detail[400];
    if (b->tls_hostname_failed)
        snprintf(detail, sizeof detail, "the broker's certificate is not for the host \"%s\"",
                 b->cfg->host);
    else if (strstr(b->ssl_reason, "certificate verify failed"))
        snprintf(detail, sizeof detail,
                 "the broker's certificate is not trusted (not signed by ca_file or ca_path, "
                 "or expired): %s", b->ssl_reason);
    else if (b->ssl_reason[0])
        snprintf(detail, sizeof detail, "%s", b->ssl_reason);
    else
        snprintf(detail, sizeof detail, "handshake failed");
    go_fatal(b, FMQ_EXIT_TLS,
             "TLS with the broker %s failed: %s (check ca_file or ca_path, the host name in the "
             "broker URL, cert_file and key_file, and that the port speaks TLS)",
             b->where, detail);
}

static void attempt(fmq_broker *b, int64_t now_ms)
{
    b->cb_connected = b->cb_refused = b->cb_lost = 0;
    b->ssl_reason[0] = '\0';
    b->tls_hostname_failed = 0;
    errno = 0;
    int rc = mosquitto_connect_async(b->mosq, b->cfg->host, b->cfg->port, b->cfg->keepalive);
    int err = errno;
    if (rc == MOSQ_ERR_SUCCESS) {
        b->state = ST_CONNECTING;
        b->deadline_ms = now_ms + CONNECT_TIMEOUT_MS;
        b->next_misc_ms = now_ms + 1000;
        return;
    }
    if (rc == MOSQ_ERR_TLS) {
        tls_failure(b, now_ms);
        return;
    }
    if (rc == MOSQ_ERR_INVAL) {
        go_fatal(b, FMQ_EXIT_CONFIG, "broker %s: libmosquitto refuses these settings", b->where);
        return;
    }
    char why[300];
    go_down(b, now_ms, mosq_reason(rc, err, why, sizeof why));
}

void fmq_broker_start(fmq_broker *b, int64_t now_ms)
{
    attempt(b, now_ms);
}

static void connack_refused(fmq_broker *b, int code)
{
    switch (code) {
    case 4:
    case 5:
        go_fatal(b, FMQ_EXIT_AUTH,
                 "the broker %s refused the connection: %s (check username and the password in "
                 "password_file)",
                 b->where, code == 4 ? "bad user name or password" : "not authorised");
        break;
    case 1:
    case 2:
        go_fatal(b, FMQ_EXIT_CONFIG, "the broker %s refused the connection: %s", b->where,
                 code == 1 ? "it does not speak MQTT 3.1.1"
                           : "it rejected the client id (set client_id)");
        break;
    default:
        break;
    }
}

/* Acts on what the callbacks recorded during a libmosquitto call. */
static void settle(fmq_broker *b, int64_t now_ms, int rc)
{
    if (b->fatal)
        return;
    if (b->cb_refused) {
        int code = b->cb_refused;
        b->cb_refused = 0;
        connack_refused(b, code);
        if (b->fatal)
            return;
        char why[64];
        snprintf(why, sizeof why, "%s", mosquitto_connack_string(code));
        b->cb_lost = 0;
        go_down(b, now_ms, why);
        return;
    }
    if (rc == MOSQ_ERR_TLS) {
        tls_failure(b, now_ms);
        return;
    }
    if (b->cb_connected) {
        b->cb_connected = 0;
        b->state = ST_UP;
        b->connects++;
        fmq_backoff_reset(&b->backoff);
        if (b->outage_logged)
            fer_log(FER_LOG_NOTICE, "connected to the broker %s again", b->where);
        else if (!b->ever_up)
            fer_log(FER_LOG_INFO, "connected to the broker %s", b->where);
        b->ever_up = 1;
        b->outage_logged = 0;
        if (b->hooks.connected)
            b->hooks.connected(b->hooks.ud);
    }
    if (b->cb_lost || (rc != MOSQ_ERR_SUCCESS && b->state != ST_DOWN)) {
        int lrc = b->cb_lost ? b->cb_lost_rc : rc;
        int lerr = b->cb_lost ? b->cb_lost_errno : errno;
        b->cb_lost = 0;
        if (lrc == MOSQ_ERR_SUCCESS)
            lrc = MOSQ_ERR_CONN_LOST;
        /* With TLS 1.3 a broker refuses a client certificate after the
         * handshake looked complete: the refusal arrives as an alert on the
         * first read, before CONNACK, and is as final as a handshake error. */
        if (b->state == ST_CONNECTING && b->cfg->tls && b->ssl_reason[0]) {
            tls_failure(b, now_ms);
            return;
        }
        char why[300];
        if (b->cfg->tls && lrc == MOSQ_ERR_ERRNO && lerr == EPROTO)
            snprintf(why, sizeof why, "the TLS session broke off without a reason");
        else
            mosq_reason(lrc, lerr, why, sizeof why);
        go_down(b, now_ms, why);
    }
}

int fmq_broker_fd(const fmq_broker *b)
{
    if (b->state == ST_DOWN)
        return -1;
    return mosquitto_socket(b->mosq);
}

/* The TLS session while its handshake is still running, else NULL. */
static SSL *handshaking(const fmq_broker *b)
{
    if (b->state != ST_CONNECTING || !b->cfg->tls)
        return NULL;
    SSL *ssl = mosquitto_ssl_get(b->mosq);
    return ssl && !SSL_is_init_finished(ssl) ? ssl : NULL;
}

short fmq_broker_events(const fmq_broker *b)
{
    if (b->state == ST_DOWN)
        return 0;
    /* During a TLS handshake libmosquitto's want_write can stay set after
     * OpenSSL has moved on to waiting for the server, which would make a
     * writable socket spin: OpenSSL itself says what the handshake needs. */
    SSL *ssl = handshaking(b);
    if (ssl)
        return (short)(POLLIN | (SSL_want_write(ssl) ? POLLOUT : 0));
    return (short)(POLLIN | (mosquitto_want_write(b->mosq) ? POLLOUT : 0));
}

void fmq_broker_handle(fmq_broker *b, short revents, int64_t now_ms)
{
    if (b->state == ST_DOWN)
        return;
    int was_connecting = b->state == ST_CONNECTING;
    /* A failed TCP connect: its reason, before a read consumes it. */
    int soerr = 0;
    if (was_connecting && (revents & POLLERR)) {
        socklen_t sl = sizeof soerr;
        if (getsockopt(mosquitto_socket(b->mosq), SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = 0;
    }
    /* mosquitto_loop_read is also what advances a TLS handshake. */
    int read_now = (revents & (POLLIN | POLLHUP | POLLERR)) ||
                   ((revents & POLLOUT) && handshaking(b));
    if (read_now) {
        errno = 0;
        int rc = mosquitto_loop_read(b->mosq, 1);
        settle(b, now_ms, rc);
    }
    if (b->state != ST_DOWN && (revents & POLLOUT) && !handshaking(b)) {
        /* loop_write returns the socket on success: only the callbacks say
         * whether the connection broke. */
        mosquitto_loop_write(b->mosq, 1);
        settle(b, now_ms, MOSQ_ERR_SUCCESS);
    }
    /* A TLS handshake whose peer went away reports nothing: libmosquitto waits
     * for more handshake bytes. A hang-up before CONNACK is a failed attempt. */
    if (was_connecting && b->state == ST_CONNECTING && (revents & (POLLHUP | POLLERR)))
        go_down(b, now_ms, soerr ? strerror(soerr) : "the connection was refused or reset");
}

void fmq_broker_tick(fmq_broker *b, int64_t now_ms)
{
    if (b->fatal)
        return;
    if (b->state == ST_DOWN) {
        if (now_ms >= b->next_attempt_ms)
            attempt(b, now_ms);
        return;
    }
    if (b->state == ST_CONNECTING && now_ms >= b->deadline_ms) {
        int fd = mosquitto_socket(b->mosq);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        char why[64];
        snprintf(why, sizeof why, "no answer within %d s", CONNECT_TIMEOUT_MS / 1000);
        go_down(b, now_ms, why);
        return;
    }
    if (now_ms >= b->next_misc_ms) {
        b->next_misc_ms = now_ms + 1000;
        errno = 0;
        int rc = mosquitto_loop_misc(b->mosq);
        settle(b, now_ms, rc == MOSQ_ERR_NO_CONN ? MOSQ_ERR_CONN_LOST : rc);
    }
}

int64_t fmq_broker_next_ms(const fmq_broker *b)
{
    if (b->fatal)
        return INT64_MAX;
    switch (b->state) {
    case ST_DOWN:
        return b->next_attempt_ms;
    case ST_CONNECTING:
        return b->deadline_ms < b->next_misc_ms ? b->deadline_ms : b->next_misc_ms;
    default:
        return b->next_misc_ms;
    }
}

int fmq_broker_connected(const fmq_broker *b)
{
    return b->state == ST_UP;
}

int fmq_broker_can_publish(const fmq_broker *b)
{
    return b->state == ST_UP && !mosquitto_want_write(b->mosq) && b->nmids < b->max_mids;
}

int fmq_broker_publish(fmq_broker *b, const char *topic, const void *payload, int len, int qos,
                       int retain, int *mid)
{
    if (b->state != ST_UP)
        return -ENOTCONN;
    if (qos > 0 && b->nmids >= b->max_mids)
        return -ENOTCONN;
    int m = 0;
    int rc = mosquitto_publish(b->mosq, &m, topic, len, payload, qos, retain);
    if (mid)
        *mid = m;
    switch (rc) {
    case MOSQ_ERR_SUCCESS:
        if (qos > 0)
            b->mids[b->nmids++] = m;
        return 0;
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_OVERSIZE_PACKET:
        return -EMSGSIZE;
    case MOSQ_ERR_INVAL:
    case MOSQ_ERR_MALFORMED_UTF8:
    case MOSQ_ERR_QOS_NOT_SUPPORTED:
        return -EINVAL;
    case MOSQ_ERR_NOMEM:
        return -ENOMEM;
    default:
        /* The write inside publish failed: the connection is going down; the
         * callbacks (or the next read) say so. */
        return -ENOTCONN;
    }
}

int fmq_broker_subscribe(fmq_broker *b, const char *pattern, int qos, int *mid)
{
    if (b->state != ST_UP)
        return -ENOTCONN;
    int rc = mosquitto_subscribe(b->mosq, mid, pattern, qos);
    return rc == MOSQ_ERR_SUCCESS ? 0 : rc == MOSQ_ERR_NOMEM ? -ENOMEM : -EINVAL;
}

void fmq_broker_disconnect(fmq_broker *b)
{
    if (b->state == ST_DOWN)
        return;
    mosquitto_disconnect(b->mosq);
    /* The DISCONNECT packet is queued; one write sends it (best effort). */
    mosquitto_loop_write(b->mosq, 1);
    b->state = ST_DOWN;
    b->next_attempt_ms = INT64_MAX;
}

int fmq_broker_inflight(const fmq_broker *b)
{
    return b->nmids;
}

unsigned long long fmq_broker_connects(const fmq_broker *b)
{
    return b->connects;
}

int fmq_broker_fatal(const fmq_broker *b)
{
    return b->fatal;
}

const char *fmq_broker_fatal_message(const fmq_broker *b)
{
    return b->fatal_msg;
}
