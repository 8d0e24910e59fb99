/*
 * config.c — ferd-http's configuration table, parser and printer.
 *
 * One table lists every key with its type, field, range and default; the
 * parser, the printer and `--set` walk it. The syntax is ferd.conf's, so one
 * habit serves both files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

typedef enum { T_STR, T_INT, T_DBL, T_BOOL, T_VIEW, T_LEVEL } key_type;

typedef struct key_def {
    const char *name;
    key_type type;
    size_t off;
    size_t size;    /* T_STR: buffer size */
    double lo, hi;
} key_def;

#define F(field) offsetof(http_config, field)
#define S(field) F(field), sizeof(((http_config *)0)->field)

static const key_def keys[] = {
    {"socket", T_STR, S(socket), 0, 0},
    {"listen", T_STR, S(listen), 0, 0},
    {"auth_file", T_STR, S(auth_file), 0, 0},
    {"allow_hosts", T_STR, S(allow_hosts), 0, 0},
    {"max_connections", T_INT, F(max_connections), 0, 1, 10000},
    {"max_connections_per_ip", T_INT, F(max_connections_per_ip), 0, 1, 10000},
    {"max_streams", T_INT, F(max_streams), 0, 1, 1000},
    {"max_subscriptions", T_INT, F(max_subscriptions), 0, 1, 32},
    {"requests_per_second", T_DBL, F(requests_per_second), 0, 0, 100000},
    {"request_burst", T_INT, F(request_burst), 0, 1, 100000},
    {"connection_timeout", T_INT, F(connection_timeout), 0, 1, 3600},
    {"request_timeout_ms", T_INT, F(request_timeout_ms), 0, 100, 600000},
    {"page_fps", T_DBL, F(page_fps), 0, 0.1, 100},
    {"page_view", T_VIEW, F(page_view), 0, 0, 0},
    {"status_cache_ms", T_INT, F(status_cache_ms), 0, 0, 60000},
    {"snapshot_cache_ms", T_INT, F(snapshot_cache_ms), 0, 0, 60000},
    {"metrics_watch", T_BOOL, F(metrics_watch), 0, 0, 1},
    {"log_level", T_LEVEL, F(log_level), 0, 0, 0},
};
#define NKEYS (sizeof keys / sizeof *keys)

void http_config_default(http_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8090");
    c->max_connections = 64;
    c->max_connections_per_ip = 32;
    c->max_streams = 16;
    c->max_subscriptions = 8;
    c->requests_per_second = 20;
    c->request_burst = 40;
    c->connection_timeout = 30;
    c->request_timeout_ms = 5000;
    c->page_fps = 15;
    c->page_view = HTTP_VIEW_CANVAS;
    c->status_cache_ms = 500;
    c->snapshot_cache_ms = 200;
    c->metrics_watch = 1;
    c->log_level = FER_LOG_INFO;
}

/* Appends one line to errs (kept NUL-terminated, truncated when full). */
static void add_err(char *errs, size_t n, const char *fmt, ...)
{
    size_t used = strlen(errs);
    if (used + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errs + used, n - used, fmt, ap);
    va_end(ap);
    used = strlen(errs);
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

/* Stores value into the field of k; a message (without origin) into why on failure. */
static int set_value(http_config *c, const key_def *k, const char *value, char *why, size_t n)
{
    char *field = (char *)c + k->off;
    char *end;
    switch (k->type) {
    case T_STR:
        if (strlen(value) >= k->size) {
            snprintf(why, n, "%s: value longer than %zu characters", k->name, k->size - 1);
            return -EINVAL;
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case T_INT: {
        errno = 0;
        long v = strtol(value, &end, 10);
        if (!*value || *end || errno || v < k->lo || v > k->hi) {
            snprintf(why, n, "%s: \"%s\" is not a whole number in %g..%g", k->name, value, k->lo,
                     k->hi);
            return -EINVAL;
        }
        *(int *)field = (int)v;
        return 0;
    }
    case T_DBL: {
        errno = 0;
        double v = strtod(value, &end);
        if (!*value || *end || errno || !isfinite(v) || v < k->lo || v > k->hi) {
            snprintf(why, n, "%s: \"%s\" is not a number in %g..%g", k->name, value, k->lo, k->hi);
            return -EINVAL;
        }
        *(double *)field = v;
        return 0;
    }
    case T_BOOL:
        if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "true") == 0 ||
            strcmp(value, "1") == 0) {
            *(int *)field = 1;
            return 0;
        }
        if (strcasecmp(value, "no") == 0 || strcasecmp(value, "false") == 0 ||
            strcmp(value, "0") == 0) {
            *(int *)field = 0;
            return 0;
        }
        snprintf(why, n, "%s: \"%s\" is not yes or no", k->name, value);
        return -EINVAL;
    case T_VIEW:
        if (strcmp(value, "canvas") == 0) {
            *(http_view *)field = HTTP_VIEW_CANVAS;
            return 0;
        }
        if (strcmp(value, "mjpeg") == 0) {
            *(http_view *)field = HTTP_VIEW_MJPEG;
            return 0;
        }
        snprintf(why, n, "%s: \"%s\" is not canvas or mjpeg", k->name, value);
        return -EINVAL;
    case T_LEVEL: {
        int lv = fer_log_level_parse(value);
        if (lv < 0) {
            snprintf(why, n, "%s: \"%s\" is not debug, info, notice, warning or err", k->name,
                     value);
            return -EINVAL;
        }
        *(int *)field = lv;
        return 0;
    }
    }
    return -EINVAL;
}

int http_config_set(http_config *c, const char *key, const char *value, char *errs, size_t n)
{
    const key_def *k = find_key(key);
    if (!k) {
        add_err(errs, n, "unknown setting \"%s\" (ferd-http --print-config lists them)", key);
        return -EINVAL;
    }
    char why[512];
    if (set_value(c, k, value, why, sizeof why) < 0) {
        add_err(errs, n, "%s", why);
        return -EINVAL;
    }
    return 0;
}

int http_config_parse(http_config *c, const char *text, size_t len, const char *origin,
                      char *errs, size_t n)
{
    int bad = 0, lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t eol = pos;
        while (eol < len && text[eol] != '\n')
            eol++;
        lineno++;
        char line[1024];
        size_t ll = eol - pos;
        const char *src = text + pos;
        pos = eol + 1;
        if (ll >= sizeof line) {
            add_err(errs, n, "%s:%d: line longer than %zu characters", origin, lineno,
                    sizeof line - 1);
            bad = 1;
            continue;
        }
        memcpy(line, src, ll);
        line[ll] = '\0';
        if (memchr(line, '\0', ll)) {
            add_err(errs, n, "%s:%d: NUL byte in line", origin, lineno);
            bad = 1;
            continue;
        }
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t e = strlen(p);
        while (e && (p[e - 1] == ' ' || p[e - 1] == '\t' || p[e - 1] == '\r'))
            p[--e] = '\0';
        if (!*p || *p == '#')
            continue;
        char *key = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        char *value = p;
        if (*value == '"') {
            size_t vl = strlen(value);
            if (vl < 2 || value[vl - 1] != '"') {
                add_err(errs, n, "%s:%d: %s: unterminated quoted value", origin, lineno, key);
                bad = 1;
                continue;
            }
            value[vl - 1] = '\0';
            value++;
        } else if (!*value) {
            add_err(errs, n, "%s:%d: %s: no value (write \"\" for an empty one)", origin, lineno,
                    key);
            bad = 1;
            continue;
        }
        const key_def *k = find_key(key);
        if (!k) {
            add_err(errs, n, "%s:%d: unknown setting \"%s\"", origin, lineno, key);
            bad = 1;
            continue;
        }
        char why[512];
        if (set_value(c, k, value, why, sizeof why) < 0) {
            add_err(errs, n, "%s:%d: %s", origin, lineno, why);
            bad = 1;
        }
    }
    return bad ? -EINVAL : 0;
}

int http_config_load(http_config *c, const char *path, char *errs, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        add_err(errs, n, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 1 << 20) {
        close(fd);
        add_err(errs, n, "%s: not a regular file of at most 1 MiB", path);
        return -EINVAL;
    }
    char *text = malloc((size_t)st.st_size + 1);
    if (!text) {
        close(fd);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    int rc = http_config_parse(c, text, got, path, errs, n);
    free(text);
    return rc;
}

void http_config_print(const http_config *c, FILE *f)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        const char *field = (const char *)c + k->off;
        fprintf(f, "%s ", k->name);
        switch (k->type) {
        case T_STR:
            fprintf(f, "\"%s\"\n", field);
            break;
        case T_INT:
            fprintf(f, "%d\n", *(const int *)field);
            break;
        case T_DBL:
            fprintf(f, "%g\n", *(const double *)field);
            break;
        case T_BOOL:
            fprintf(f, "%s\n", *(const int *)field ? "yes" : "no");
            break;
        case T_VIEW:
            fprintf(f, "%s\n", *(const http_view *)field == HTTP_VIEW_MJPEG ? "mjpeg" : "canvas");
            break;
        case T_LEVEL:
            fprintf(f, "%s\n", fer_log_level_name(*(const int *)field));
            break;
        }
    }
}
