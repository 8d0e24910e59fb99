/*
 * config.h — ferd-http's settings: conf/ferd-http.conf, overridden by the
 * command line. The file has ferd.conf's syntax (one "key value" per line, '#'
 * comments, double quotes for values with spaces, yes/no booleans); every key,
 * its default and its range are in one table in config.c and commented in
 * conf/ferd-http.conf.
 */
#ifndef FERD_HTTP_CONFIG_H
#define FERD_HTTP_CONFIG_H

#include <stddef.h>
#include <stdio.h>

/* How the page shows the live picture (docs/HTTP.md has the measurements). */
typedef enum { HTTP_VIEW_CANVAS = 0, HTTP_VIEW_MJPEG } http_view;

typedef struct http_config {
    char socket[256];           /* ferd's socket ("": $FERD_SOCKET, else /run/ferd/ferd.sock) */
    char listen[96];            /* HOST:PORT */
    char auth_file[256];        /* the secret; required beyond loopback */
    char allow_hosts[256];      /* extra Host header names accepted, space-separated */
    int max_connections;        /* HTTP connections at once */
    int max_connections_per_ip;
    int max_streams;            /* live streams (/api/events, /api/stream.mjpg) at once */
    int max_subscriptions;      /* distinct ferd subscriptions at once */
    double requests_per_second; /* per client address; 0 = no limit */
    int request_burst;
    int connection_timeout;     /* seconds a connection may make no progress */
    int request_timeout_ms;     /* how long a request waits for ferd */
    double page_fps;            /* frames per second the live page asks for */
    http_view page_view;
    int status_cache_ms;        /* a STATUS this young answers /api/status and /metrics */
    int snapshot_cache_ms;      /* a picture this young answers /api/snapshot.jpg */
    int metrics_watch;          /* keep a subscription for the stream metrics */
    int log_level;              /* FER_LOG_* */
} http_config;

void http_config_default(http_config *c);

/* Parses a configuration text; errors (one per line, "origin:LINE: ...") go
 * into errs. Returns 0 or -EINVAL (every bad line is reported). */
int http_config_parse(http_config *c, const char *text, size_t len, const char *origin,
                      char *errs, size_t n);
/* Reads and parses a file (-errno when it cannot be read, with errs saying so). */
int http_config_load(http_config *c, const char *path, char *errs, size_t n);
/* Sets one key from the command line (--set key=value or a named option). */
int http_config_set(http_config *c, const char *key, const char *value, char *errs, size_t n);
/* Prints every key with its effective value, in the file's syntax. */
void http_config_print(const http_config *c, FILE *f);

#endif
