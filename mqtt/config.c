/*
 * config.c — ferd-mqtt's settings (see config.h).
 *
 * Design. One table lists every key with its type, its place in fmq_config
 * and its range; the syntax, the parser, --set and --check-config's printer
 * are util/conf.c's, the ones ferd.conf goes through, so a key added to the
 * table needs no other code. Values are checked for type and range there,
 * relations between keys in fmq_config_finish.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/conf.h"
#include "util/log.h"

#define F(field) offsetof(fmq_config, field)
#define S(field) F(field), sizeof(((fmq_config *)0)->field)

static const fer_conf_key keys[] = {
    {"socket", FER_CONF_STR, S(socket), 0, 0, 0, NULL},
    {"ferd_max_fps", FER_CONF_INT, F(ferd_max_fps), 0, 0, 1000, 0, NULL},
    {"broker", FER_CONF_STR, S(broker), 0, 0, 0, NULL},
    {"client_id", FER_CONF_STR, S(client_id), 0, 0, 0, NULL},
    {"username", FER_CONF_STR, S(username), 0, 0, 0, NULL},
    {"password_file", FER_CONF_STR, S(password_file), 0, 0, 0, NULL},
    {"ca_file", FER_CONF_STR, S(ca_file), 0, 0, 0, NULL},
    {"ca_path", FER_CONF_STR, S(ca_path), 0, 0, 0, NULL},
    {"cert_file", FER_CONF_STR, S(cert_file), 0, 0, 0, NULL},
    {"key_file", FER_CONF_STR, S(key_file), 0, 0, 0, NULL},
    {"keepalive", FER_CONF_INT, F(keepalive), 0, 5, 3600, 0, NULL},
    {"topic_prefix", FER_CONF_STR, S(topic_prefix), 0, 0, 0, NULL},
    {"instance", FER_CONF_STR, S(instance), 0, 0, 0, NULL},
    {"events", FER_CONF_BOOL, F(events), 0, 0, 1, 0, NULL},
    {"events_qos", FER_CONF_INT, F(events_qos), 0, 0, 2, 0, NULL},
    {"min_prob", FER_CONF_DBL, F(min_prob), 0, 0, 1, 0, NULL},
    {"state_qos", FER_CONF_INT, F(state_qos), 0, 0, 2, 0, NULL},
    {"state_retain", FER_CONF_BOOL, F(state_retain), 0, 0, 1, 0, NULL},
    {"state_max_rate", FER_CONF_DBL, F(state_max_rate), 0, 0.01, 100, 0, NULL},
    {"state_prob_delta", FER_CONF_DBL, F(state_prob_delta), 0, 0, 1, 0, NULL},
    {"state_stall_seconds", FER_CONF_DBL, F(state_stall_seconds), 0, 0, 86400, 0, NULL},
    {"results", FER_CONF_BOOL, F(results), 0, 0, 1, 0, NULL},
    {"results_qos", FER_CONF_INT, F(results_qos), 0, 0, 2, 0, NULL},
    {"results_max_rate", FER_CONF_DBL, F(results_max_rate), 0, 0, 1000, 0, NULL},
    {"status_interval", FER_CONF_DBL, F(status_interval), 0, 0, 86400, 0, NULL},
    {"status_qos", FER_CONF_INT, F(status_qos), 0, 0, 2, 0, NULL},
    {"status_retain", FER_CONF_BOOL, F(status_retain), 0, 0, 1, 0, NULL},
    {"discovery", FER_CONF_BOOL, F(discovery), 0, 0, 1, 0, NULL},
    {"discovery_prefix", FER_CONF_STR, S(discovery_prefix), 0, 0, 0, NULL},
    {"queue_max_messages", FER_CONF_INT, F(queue_max_messages), 0, 1, 1000000, 0, NULL},
    {"queue_max_bytes", FER_CONF_SIZE, F(queue_max_bytes), 0, 4096, 1073741824.0, 0, NULL},
    {"max_inflight", FER_CONF_INT, F(max_inflight), 0, 1, 65535, 0, NULL},
    {"retry_initial_ms", FER_CONF_INT, F(retry_initial_ms), 0, 10, 3600000, 0, NULL},
    {"retry_max_ms", FER_CONF_INT, F(retry_max_ms), 0, 10, 3600000, 0, NULL},
    {"log_level", FER_CONF_LEVEL, F(log_level), 0, FER_LOG_ERR, FER_LOG_DEBUG, 0, NULL},
};

void fmq_config_default(fmq_config *c)
{
    memset(c, 0, sizeof *c);
    c->ferd_max_fps = 0;
    snprintf(c->broker, sizeof c->broker, "mqtt://localhost:1883");
    c->keepalive = 30;
    snprintf(c->topic_prefix, sizeof c->topic_prefix, "ferd");
    c->events = 1;
    c->events_qos = 1;
    c->min_prob = 0;
    c->state_qos = 1;
    c->state_retain = 1;
    c->state_max_rate = 2;
    c->state_prob_delta = 0.05;
    c->state_stall_seconds = 10;
    c->results = 0;
    c->results_qos = 0;
    c->results_max_rate = 1;
    c->status_interval = 60;
    c->status_qos = 0;
    c->status_retain = 1;
    c->discovery = 1;
    snprintf(c->discovery_prefix, sizeof c->discovery_prefix, "homeassistant");
    c->queue_max_messages = 1000;
    c->queue_max_bytes = 1LL << 20;
    c->max_inflight = 20;
    c->retry_initial_ms = 500;
    c->retry_max_ms = 30000;
    c->log_level = FER_LOG_INFO;
}

/* Keys people reach for that are deliberately not settings. */
static const char *refused_key(const char *key)
{
    if (strcmp(key, "password") == 0)
        return "a password is never a setting: put it in a file readable only by ferd-mqtt "
               "and name that file with password_file";
    return NULL;
}

/* Lines hold a path and a key at most. */
static const fer_conf_table table = {keys, sizeof keys / sizeof keys[0], FMQ_PATH_MAX + 255,
                                     refused_key, 0};

int fmq_config_set(fmq_config *c, const char *key, const char *value, char *errs, size_t n)
{
    return fer_conf_set(&table, c, key, value, errs, n);
}

int fmq_config_parse(fmq_config *c, const char *text, size_t len, const char *origin, char *errs,
                     size_t n)
{
    return fer_conf_parse(&table, c, text, len, origin, errs, n);
}

int fmq_config_load(fmq_config *c, const char *path, char *errs, size_t n)
{
    return fer_conf_load(&table, c, path, errs, n);
}

/* ---- names ---- */

static int name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

int fmq_instance_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= FMQ_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]))
            return 0;
    return 1;
}

void fmq_instance_default(const char *socket_path, const char *hostname, char *out, size_t n)
{
    char name[FMQ_NAME_MAX] = "";
    const char *base = socket_path ? strrchr(socket_path, '/') : NULL;
    base = base ? base + 1 : socket_path;
    size_t bl = base ? strlen(base) : 0;
    if (bl > 5 && strcmp(base + bl - 5, ".sock") == 0 && strcmp(base, "ferd.sock") != 0) {
        size_t k = bl - 5 < sizeof name - 1 ? bl - 5 : sizeof name - 1;
        memcpy(name, base, k);
        name[k] = '\0';
    } else if (hostname && hostname[0]) {
        size_t k = strcspn(hostname, ".");
        if (k > sizeof name - 1)
            k = sizeof name - 1;
        memcpy(name, hostname, k);
        name[k] = '\0';
    }
    for (char *p = name; *p; p++)
        if (!name_char(*p))
            *p = '_';
    snprintf(out, n, "%s", name[0] ? name : "ferd");
}

int fmq_topic_prefix_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= FMQ_TOPIC_MAX || s[0] == '/' || s[n - 1] == '/')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+' || s[i] == '#')
            return 0;
        if (s[i] == '/' && s[i + 1] == '/')
            return 0;
        if ((unsigned char)s[i] < 0x20)
            return 0;
    }
    return 1;
}

/* ---- the broker URL ---- */

int fmq_parse_broker_url(const char *url, char *host, size_t hostn, int *port, int *tls,
                         char *why, size_t whyn)
{
    const char *p;
    if (strncmp(url, "mqtt://", 7) == 0) {
        *tls = 0;
        *port = 1883;
        p = url + 7;
    } else if (strncmp(url, "mqtts://", 8) == 0) {
        *tls = 1;
        *port = 8883;
        p = url + 8;
    } else {
        snprintf(why, whyn, "\"%.200s\" is not mqtt://HOST[:PORT] or mqtts://HOST[:PORT]", url);
        return -EINVAL;
    }
    size_t auth = strcspn(p, "/");
    if (memchr(p, '@', auth)) {
        snprintf(why, whyn, "credentials in the broker URL are refused: set username and "
                            "password_file instead");
        return -EINVAL;
    }
    const char *h = p, *hend, *rest;
    if (*p == '[') {
        h = p + 1;
        hend = strchr(h, ']');
        if (!hend) {
            snprintf(why, whyn, "\"%.200s\": unterminated [IPv6 address]", url);
            return -EINVAL;
        }
        rest = hend + 1;
    } else {
        hend = p + strcspn(p, ":/");
        rest = hend;
    }
    size_t hl = (size_t)(hend - h);
    if (hl == 0 || hl >= hostn) {
        snprintf(why, whyn, "\"%.200s\": %s host", url, hl ? "too long a" : "no");
        return -EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    for (size_t i = 0; i < hl; i++)
        if ((unsigned char)host[i] <= ' ' || host[i] == '?' || host[i] == '#') {
            snprintf(why, whyn, "\"%.200s\": bad character in the host", url);
            return -EINVAL;
        }
    if (*rest == ':') {
        char *end;
        errno = 0;
        long v = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || errno || v < 1 || v > 65535 || (*end && *end != '/')) {
            snprintf(why, whyn, "\"%.200s\": the port is not a number in 1..65535", url);
            return -EINVAL;
        }
        *port = (int)v;
        rest = end;
    }
    if (*rest && strcmp(rest, "/") != 0) {
        snprintf(why, whyn, "\"%.200s\": nothing may follow HOST[:PORT]", url);
        return -EINVAL;
    }
    return 0;
}

/* ---- relations ---- */

int fmq_config_finish(fmq_config *c, const char *hostname, char *errs, size_t n)
{
    int bad = 0;
    if (errs && n)
        errs[0] = '\0';
    char why[300];
    if (fmq_parse_broker_url(c->broker, c->host, sizeof c->host, &c->port, &c->tls, why,
                             sizeof why) < 0)
        fer_conf_error(errs, n, "broker: %s", why), bad++;
    if (!c->instance[0])
        fmq_instance_default(c->socket[0] ? c->socket : NULL, hostname, c->instance,
                             sizeof c->instance);
    if (!fmq_instance_valid(c->instance))
        fer_conf_error(errs, n,
                       "instance: \"%.64s\" is not 1 to %d letters, digits, '_' or '-'",
                       c->instance, FMQ_NAME_MAX - 1), bad++;
    if (!c->client_id[0])
        snprintf(c->client_id, sizeof c->client_id, "ferd-mqtt-%s", c->instance);
    if (!fmq_topic_prefix_valid(c->topic_prefix))
        fer_conf_error(errs, n,
                       "topic_prefix: \"%.64s\" is not a topic without '+', '#', empty "
                       "levels or a leading or trailing '/'", c->topic_prefix), bad++;
    if (!fmq_topic_prefix_valid(c->discovery_prefix))
        fer_conf_error(errs, n,
                       "discovery_prefix: \"%.64s\" is not a topic without '+', '#', empty "
                       "levels or a leading or trailing '/'", c->discovery_prefix), bad++;
    if (!c->tls && (c->ca_file[0] || c->ca_path[0] || c->cert_file[0] || c->key_file[0]))
        fer_conf_error(errs, n,
                       "ca_file, ca_path, cert_file and key_file need an mqtts:// broker "
                       "(the broker is %.200s)", c->broker), bad++;
    if (!c->cert_file[0] != !c->key_file[0])
        fer_conf_error(errs, n, "cert_file and key_file go together: set both or neither"), bad++;
    if (c->password_file[0] && !c->username[0])
        fer_conf_error(errs, n, "password_file needs a username"), bad++;
    if (c->retry_initial_ms > c->retry_max_ms)
        fer_conf_error(errs, n, "retry_initial_ms is above retry_max_ms"), bad++;
    return bad ? -EINVAL : 0;
}

void fmq_config_print(const fmq_config *c, FILE *f)
{
    fer_conf_print(&table, c, f);
}
