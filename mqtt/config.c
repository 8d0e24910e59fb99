/*
 * config.c — ferd-mqtt's settings (see config.h).
 *
 * Design. One table lists every key with its type, its place in fmq_config
 * and its range, as ferd's daemon/config.c does, so parsing, --set and
 * --check-config walk the same table and a key added to it needs no other
 * code. Values are checked for type and range here, relations between keys in
 * fmq_config_finish. Lines are copied into a bounded buffer before they are
 * cut, so no input reads or writes out of bounds.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/fileio.h"
#include "util/log.h"

typedef enum { T_STR, T_INT, T_DBL, T_BOOL, T_SIZE, T_LEVEL } key_type;

typedef struct key_def {
    const char *name;
    key_type type;
    size_t off;
    size_t size;   /* T_STR: buffer size */
    double lo, hi; /* numeric range */
} key_def;

#define F(field) offsetof(fmq_config, field)
#define S(field) F(field), sizeof(((fmq_config *)0)->field)

static const key_def keys[] = {
    {"socket", T_STR, S(socket), 0, 0},
    {"ferd_max_fps", T_INT, F(ferd_max_fps), 0, 0, 1000},
    {"broker", T_STR, S(broker), 0, 0},
    {"client_id", T_STR, S(client_id), 0, 0},
    {"username", T_STR, S(username), 0, 0},
    {"password_file", T_STR, S(password_file), 0, 0},
    {"ca_file", T_STR, S(ca_file), 0, 0},
    {"ca_path", T_STR, S(ca_path), 0, 0},
    {"cert_file", T_STR, S(cert_file), 0, 0},
    {"key_file", T_STR, S(key_file), 0, 0},
    {"keepalive", T_INT, F(keepalive), 0, 5, 3600},
    {"topic_prefix", T_STR, S(topic_prefix), 0, 0},
    {"instance", T_STR, S(instance), 0, 0},
    {"events", T_BOOL, F(events), 0, 0, 1},
    {"events_qos", T_INT, F(events_qos), 0, 0, 2},
    {"min_prob", T_DBL, F(min_prob), 0, 0, 1},
    {"state_qos", T_INT, F(state_qos), 0, 0, 2},
    {"state_retain", T_BOOL, F(state_retain), 0, 0, 1},
    {"state_max_rate", T_DBL, F(state_max_rate), 0, 0.01, 100},
    {"state_prob_delta", T_DBL, F(state_prob_delta), 0, 0, 1},
    {"state_stall_seconds", T_DBL, F(state_stall_seconds), 0, 0, 86400},
    {"results", T_BOOL, F(results), 0, 0, 1},
    {"results_qos", T_INT, F(results_qos), 0, 0, 2},
    {"results_max_rate", T_DBL, F(results_max_rate), 0, 0, 1000},
    {"status_interval", T_DBL, F(status_interval), 0, 0, 86400},
    {"status_qos", T_INT, F(status_qos), 0, 0, 2},
    {"status_retain", T_BOOL, F(status_retain), 0, 0, 1},
    {"discovery", T_BOOL, F(discovery), 0, 0, 1},
    {"discovery_prefix", T_STR, S(discovery_prefix), 0, 0},
    {"queue_max_messages", T_INT, F(queue_max_messages), 0, 1, 1000000},
    {"queue_max_bytes", T_SIZE, F(queue_max_bytes), 0, 4096, 1073741824.0},
    {"max_inflight", T_INT, F(max_inflight), 0, 1, 65535},
    {"retry_initial_ms", T_INT, F(retry_initial_ms), 0, 10, 3600000},
    {"retry_max_ms", T_INT, F(retry_max_ms), 0, 10, 3600000},
    {"log_level", T_LEVEL, F(log_level), 0, FER_LOG_ERR, FER_LOG_DEBUG},
};
#define NKEYS (sizeof keys / sizeof keys[0])

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

/* Appends one formatted line to the error buffer (silently truncating). */
__attribute__((format(printf, 3, 4)))
static void add_err(char *errs, size_t n, const char *fmt, ...)
{
    if (!errs || !n)
        return;
    size_t used = strnlen(errs, n);
    if (used + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errs + used, n - used, fmt, ap);
    va_end(ap);
    used = strnlen(errs, n);
    if (used + 1 < n) {
        errs[used] = '\n';
        errs[used + 1] = '\0';
    }
}

static const key_def *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

/* "4096", "64kb", "1mb", "2gb" (also k, m, g; case-insensitive) in bytes. */
static int parse_size(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || errno || !isfinite(d) || d < 0)
        return -1;
    double mul = 1;
    if (*end) {
        if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kb") == 0)
            mul = 1024;
        else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mb") == 0)
            mul = 1024.0 * 1024;
        else if (strcasecmp(end, "g") == 0 || strcasecmp(end, "gb") == 0)
            mul = 1024.0 * 1024 * 1024;
        else if (strcasecmp(end, "b") != 0)
            return -1;
    }
    *out = floor(d * mul);
    return 0;
}

/* Sets key k of c from value; on failure writes why and returns -1, leaving c
 * unchanged. Integers are compared as doubles, so an out-of-range number is
 * reported as such rather than wrapped. */
static int set_value(fmq_config *c, const key_def *k, const char *value, char *why, size_t n)
{
    char *base = (char *)c + k->off;
    char *end;
    double d;
    switch (k->type) {
    case T_STR:
        if (strlen(value) >= k->size) {
            snprintf(why, n, "value longer than %zu bytes", k->size - 1);
            return -1;
        }
        snprintf(base, k->size, "%s", value);
        return 0;
    case T_INT:
        errno = 0;
        d = (double)strtoll(value, &end, 10);
        if (end == value || *end || errno)
            break;
        if (d < k->lo || d > k->hi)
            goto range;
        *(int *)base = (int)d;
        return 0;
    case T_DBL:
        errno = 0;
        d = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(d))
            break;
        if (d < k->lo || d > k->hi)
            goto range;
        *(double *)base = d;
        return 0;
    case T_BOOL:
        if (parse_bool(value, (int *)base) < 0) {
            snprintf(why, n, "expected yes or no, got \"%.64s\"", value);
            return -1;
        }
        return 0;
    case T_SIZE:
        if (parse_size(value, &d) < 0) {
            snprintf(why, n, "expected a size such as 65536, 64kb or 1mb, got \"%.64s\"", value);
            return -1;
        }
        if (d < k->lo || d > k->hi)
            goto range;
        *(long long *)base = (long long)d;
        return 0;
    case T_LEVEL: {
        int l = fer_log_level_parse(value);
        if (l < 0) {
            snprintf(why, n, "expected debug, info, notice, warning or err, got \"%.64s\"",
                     value);
            return -1;
        }
        *(int *)base = l;
        return 0;
    }
    }
    snprintf(why, n, "expected a number, got \"%.64s\"", value);
    return -1;
range:
    snprintf(why, n, "%.64s is outside %g..%g", value, k->lo, k->hi);
    return -1;
}

/* Keys people reach for that are deliberately not settings. */
static const char *refused_key(const char *key)
{
    if (strcmp(key, "password") == 0)
        return "a password is never a setting: put it in a file readable only by ferd-mqtt "
               "and name that file with password_file";
    return NULL;
}

int fmq_config_set(fmq_config *c, const char *key, const char *value, char *errs, size_t n)
{
    const char *refusal = refused_key(key);
    if (refusal) {
        add_err(errs, n, "%s: %s", key, refusal);
        return -EINVAL;
    }
    const key_def *k = find_key(key);
    if (!k) {
        add_err(errs, n, "unknown key \"%.64s\"", key);
        return -EINVAL;
    }
    char why[160];
    if (set_value(c, k, value, why, sizeof why) < 0) {
        add_err(errs, n, "%s: %s", key, why);
        return -EINVAL;
    }
    return 0;
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

int fmq_config_parse(fmq_config *c, const char *text, size_t len, const char *origin, char *errs,
                     size_t n)
{
    int bad = 0, lineno = 0;
    size_t pos = 0;
    char line[FMQ_PATH_MAX + 256];
    if (errs && n)
        errs[0] = '\0';
    while (pos < len) {
        size_t start = pos;
        while (pos < len && text[pos] != '\n')
            pos++;
        size_t l = pos - start;
        pos++; /* past the newline */
        lineno++;
        if (l >= sizeof line) {
            add_err(errs, n, "%s:%d: line longer than %zu bytes", origin, lineno,
                    sizeof line - 1);
            bad++;
            continue;
        }
        memcpy(line, text + start, l);
        line[l] = '\0';
        if (strlen(line) != l) {
            add_err(errs, n, "%s:%d: NUL byte in line", origin, lineno);
            bad++;
            continue;
        }
        char *p = line;
        while (is_space(*p))
            p++;
        if (!*p || *p == '#')
            continue;
        char *key = p;
        while (*p && !is_space(*p))
            p++;
        if (*p)
            *p++ = '\0';
        while (is_space(*p))
            p++;
        char *value = p;
        char *e = value + strlen(value);
        while (e > value && is_space(e[-1]))
            *--e = '\0';
        if (*value == '"') {
            if (e - value < 2 || e[-1] != '"') {
                add_err(errs, n, "%s:%d: %s: unterminated quoted value", origin, lineno, key);
                bad++;
                continue;
            }
            e[-1] = '\0';
            value++;
        }
        const char *refusal = refused_key(key);
        if (refusal) {
            /* The value is not echoed: it may be the very password. */
            add_err(errs, n, "%s:%d: %s: %s", origin, lineno, key, refusal);
            bad++;
            continue;
        }
        const key_def *k = find_key(key);
        if (!k) {
            add_err(errs, n, "%s:%d: unknown key \"%.64s\"", origin, lineno, key);
            bad++;
            continue;
        }
        if (!*value && k->type != T_STR) {
            add_err(errs, n, "%s:%d: %s: missing value", origin, lineno, key);
            bad++;
            continue;
        }
        char why[160];
        if (set_value(c, k, value, why, sizeof why) < 0) {
            add_err(errs, n, "%s:%d: %s: %s", origin, lineno, key, why);
            bad++;
        }
    }
    return bad ? -EINVAL : 0;
}

int fmq_config_load(fmq_config *c, const char *path, char *errs, size_t n)
{
    if (errs && n)
        errs[0] = '\0';
    uint8_t *buf = NULL;
    size_t len = 0;
    fer_error err = {0};
    int rc = fer_read_file(path, &buf, &len, 1 << 20, &err);
    if (rc < 0) {
        add_err(errs, n, "%s", err.msg[0] ? err.msg : path);
        return rc;
    }
    rc = fmq_config_parse(c, (const char *)buf, len, path, errs, n);
    free(buf);
    return rc;
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
        add_err(errs, n, "broker: %s", why), bad++;
    if (!c->instance[0])
        fmq_instance_default(c->socket[0] ? c->socket : NULL, hostname, c->instance,
                             sizeof c->instance);
    if (!fmq_instance_valid(c->instance))
        add_err(errs, n, "instance: \"%.64s\" is not 1 to %d letters, digits, '_' or '-'",
                c->instance, FMQ_NAME_MAX - 1), bad++;
    if (!c->client_id[0])
        snprintf(c->client_id, sizeof c->client_id, "ferd-mqtt-%s", c->instance);
    if (!fmq_topic_prefix_valid(c->topic_prefix))
        add_err(errs, n, "topic_prefix: \"%.64s\" is not a topic without '+', '#', empty "
                "levels or a leading or trailing '/'", c->topic_prefix), bad++;
    if (!fmq_topic_prefix_valid(c->discovery_prefix))
        add_err(errs, n, "discovery_prefix: \"%.64s\" is not a topic without '+', '#', empty "
                "levels or a leading or trailing '/'", c->discovery_prefix), bad++;
    if (!c->tls && (c->ca_file[0] || c->ca_path[0] || c->cert_file[0] || c->key_file[0]))
        add_err(errs, n, "ca_file, ca_path, cert_file and key_file need an mqtts:// broker "
                "(the broker is %.200s)", c->broker), bad++;
    if (!c->cert_file[0] != !c->key_file[0])
        add_err(errs, n, "cert_file and key_file go together: set both or neither"), bad++;
    if (c->password_file[0] && !c->username[0])
        add_err(errs, n, "password_file needs a username"), bad++;
    if (c->retry_initial_ms > c->retry_max_ms)
        add_err(errs, n, "retry_initial_ms is above retry_max_ms"), bad++;
    return bad ? -EINVAL : 0;
}

/* The parser trims blanks around a value and strips one outer pair of quotes,
 * so such values are printed inside quotes to read back as themselves. */
static int needs_quotes(const char *v)
{
    size_t n = strlen(v);
    return n == 0 || is_space(v[0]) || v[0] == '"' || is_space(v[n - 1]) || v[n - 1] == '"';
}

void fmq_config_print(const fmq_config *c, FILE *f)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        const char *base = (const char *)c + k->off;
        fprintf(f, "%s ", k->name);
        switch (k->type) {
        case T_STR:
            fprintf(f, needs_quotes(base) ? "\"%s\"\n" : "%s\n", base);
            break;
        case T_INT:
        case T_BOOL:
            if (k->type == T_BOOL)
                fprintf(f, "%s\n", *(const int *)base ? "yes" : "no");
            else
                fprintf(f, "%d\n", *(const int *)base);
            break;
        case T_DBL:
            fprintf(f, "%g\n", *(const double *)base);
            break;
        case T_SIZE:
            fprintf(f, "%lld\n", *(const long long *)base);
            break;
        case T_LEVEL:
            fprintf(f, "%s\n", fer_log_level_name(*(const int *)base));
            break;
        }
    }
}
