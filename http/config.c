/*
 * config.c — ferd-http's configuration table, parser and printer.
 *
 * One table lists every key with its type, field and range; the parser, the
 * printer and `--set` are util/conf.c's, the ones ferd.conf goes through, so
 * one syntax and one set of messages serve every ferd program's file. An
 * empty string must be written "" here.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "util/conf.h"
#include "util/log.h"

/* Names of the page_view values, in http_view order. */
static const char *const view_names[] = {"canvas", "mjpeg", NULL};

#define F(field) offsetof(http_config, field)
#define S(field) F(field), sizeof(((http_config *)0)->field)

static const fer_conf_key keys[] = {
    {"socket", FER_CONF_STR, S(socket), 0, 0, 0, NULL},
    {"listen", FER_CONF_STR, S(listen), 0, 0, 0, NULL},
    {"auth_file", FER_CONF_STR, S(auth_file), 0, 0, 0, NULL},
    {"allow_hosts", FER_CONF_STR, S(allow_hosts), 0, 0, 0, NULL},
    {"max_connections", FER_CONF_INT, F(max_connections), 0, 1, 10000, 0, NULL},
    {"max_connections_per_ip", FER_CONF_INT, F(max_connections_per_ip), 0, 1, 10000, 0, NULL},
    {"max_streams", FER_CONF_INT, F(max_streams), 0, 1, 1000, 0, NULL},
    {"max_subscriptions", FER_CONF_INT, F(max_subscriptions), 0, 1, 32, 0, NULL},
    {"requests_per_second", FER_CONF_DBL, F(requests_per_second), 0, 0, 100000, 0, NULL},
    {"request_burst", FER_CONF_INT, F(request_burst), 0, 1, 100000, 0, NULL},
    {"connection_timeout", FER_CONF_INT, F(connection_timeout), 0, 1, 3600, 0, NULL},
    {"request_timeout_ms", FER_CONF_INT, F(request_timeout_ms), 0, 100, 600000, 0, NULL},
    {"page_fps", FER_CONF_DBL, F(page_fps), 0, 0.1, 100, 0, NULL},
    {"page_view", FER_CONF_ENUM, F(page_view), 0, 0, 0, 0, view_names},
    {"status_cache_ms", FER_CONF_INT, F(status_cache_ms), 0, 0, 60000, 0, NULL},
    {"snapshot_cache_ms", FER_CONF_INT, F(snapshot_cache_ms), 0, 0, 60000, 0, NULL},
    {"metrics_watch", FER_CONF_BOOL, F(metrics_watch), 0, 0, 1, 0, NULL},
    {"log_level", FER_CONF_LEVEL, F(log_level), 0, 0, 0, 0, NULL},
};

static const fer_conf_table table = {keys, sizeof keys / sizeof keys[0], 1023, NULL, 1};

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

int http_config_set(http_config *c, const char *key, const char *value, char *errs, size_t n)
{
    return fer_conf_set(&table, c, key, value, errs, n);
}

int http_config_parse(http_config *c, const char *text, size_t len, const char *origin,
                      char *errs, size_t n)
{
    return fer_conf_parse(&table, c, text, len, origin, errs, n);
}

int http_config_load(http_config *c, const char *path, char *errs, size_t n)
{
    return fer_conf_load(&table, c, path, errs, n);
}

void http_config_print(const http_config *c, FILE *f)
{
    fer_conf_print(&table, c, f);
}
