/*
 * main.c — ferd-http: ferd's results in a browser, over curl and to
 * Prometheus.
 *
 *     ferd-http --socket PATH --listen 127.0.0.1:PORT
 *
 * A client of ferd's socket (through libferclient) that serves the live page,
 * /api/status, /api/snapshot.jpg, /api/events, /api/stream.mjpg and /metrics
 * (docs/HTTP.md). This file reads the command line and the configuration,
 * refuses unsafe settings (a network address without a secret), starts the
 * server and runs the loop until SIGTERM or SIGINT. Everything else lives in
 * the files app.h lists.
 *
 * Exit status: 0 after a clean stop (or --help, --version, a valid
 * --check-config), 1 when it cannot start (bad configuration, cannot listen),
 * 64 for a command-line usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "app.h"
#include "util/cli.h"
#include "util/log.h"

#define EXIT_USAGE FER_EXIT_USAGE

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ferd-http [OPTIONS]\n"
            "\n"
            "Serves ferd's live results over HTTP: a page with the annotated picture, the\n"
            "faces' labels and a one-minute chart (/), ferd's STATUS (/api/status), the\n"
            "current frame (/api/snapshot.jpg), Server-Sent Events (/api/events), an MJPEG\n"
            "stream (/api/stream.mjpg) and Prometheus metrics (/metrics).\n"
            "\n"
            "options:\n"
            "  -S, --socket PATH    ferd's socket (default $FERD_SOCKET or %s)\n"
            "  --listen HOST:PORT   where to listen (default 127.0.0.1:8090); a\n"
            "                       non-loopback address needs --auth-file\n"
            "  --auth-file FILE     the secret (its first line) that requests must carry\n"
            "  -c, --config FILE    read settings from FILE (conf/ferd-http.conf)\n"
            "  --set KEY=VALUE      override one setting of the file\n"
            "  -l, --log-level LEVEL  err, warning, notice, info or debug\n"
            "  --check-config       check the settings, print them, and exit\n"
            "  -h, --help           this text\n"
            "  -V, --version        the version\n"
            "\n"
            "exit status: 0 stopped, 1 cannot start, 64 usage error (one line, docs/cli.md)\n",
            FER_CLIENT_DEFAULT_SOCKET);
}

/* Settings given on the command line, applied after the file. */
typedef struct override {
    char key[32];
    char value[256];
} override;

#define MAX_OVERRIDES 32

typedef struct args {
    char config[256];
    int check;
    int n;
    override o[MAX_OVERRIDES];
} args;

static int add(args *a, const char *key, const char *value)
{
    if (a->n == MAX_OVERRIDES) {
        fer_cli_usage_error("ferd-http", NULL, "more than %d settings on the command line",
                            MAX_OVERRIDES);
        return -1;
    }
    if (strlen(key) >= sizeof a->o[0].key || strlen(value) >= sizeof a->o[0].value) {
        fer_cli_usage_error("ferd-http", NULL, "setting %s: too long", key);
        return -1;
    }
    snprintf(a->o[a->n].key, sizeof a->o[0].key, "%s", key);
    snprintf(a->o[a->n].value, sizeof a->o[0].value, "%s", value);
    a->n++;
    return 0;
}

/* -1 usage error, 0 run, 1 done (help, version). */
static int parse_args(args *a, int argc, char **argv)
{
    enum { O_LISTEN = 256, O_AUTH, O_SET, O_CHECK };
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 'S'},
        {"listen", required_argument, NULL, O_LISTEN},
        {"auth-file", required_argument, NULL, O_AUTH},
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, O_SET},
        {"log-level", required_argument, NULL, 'l'},
        {"check-config", no_argument, NULL, O_CHECK},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c;
    /* The short options of docs/cli.md: -S, -c, -l as in ferd; getopt prints
     * nothing (opterr 0, leading ':'), fer_cli_option_error says it in one line. */
    while ((c = getopt_long(argc, argv, ":hVS:c:l:", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'S':
            rc = add(a, "socket", optarg);
            break;
        case O_LISTEN:
            rc = add(a, "listen", optarg);
            break;
        case O_AUTH:
            rc = add(a, "auth_file", optarg);
            break;
        case 'l':
            rc = add(a, "log_level", optarg);
            break;
        case 'c':
            snprintf(a->config, sizeof a->config, "%s", optarg);
            break;
        case O_SET: {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                fer_cli_usage_error("ferd-http", NULL, "--set wants KEY=VALUE, not '%s'", optarg);
                return -1;
            }
            *eq = '\0';
            rc = add(a, optarg, eq + 1);
            break;
        }
        case O_CHECK:
            a->check = 1;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("ferd-http %s (protocol %d.%d, libmicrohttpd %s)\n", FER_VERSION,
                   FER_PROTO_MAJOR, FER_PROTO_MINOR, MHD_get_version());
            return 1;
        default:
            fer_cli_option_error("ferd-http", c, opts, argv);
            return -1;
        }
        if (rc < 0)
            return -1;
    }
    if (optind < argc) {
        fer_cli_extra_argument("ferd-http", argv[optind]);
        return -1;
    }
    return 0;
}

/* The configuration: defaults, the file, the command line; then the rules
 * between keys. Errors go to stderr. 0 or -1. */
static int load(http_app *app, const args *a)
{
    char errs[4096] = "";
    http_config_default(&app->cfg);
    int bad = 0;
    if (a->config[0] && http_config_load(&app->cfg, a->config, errs, sizeof errs) < 0)
        bad = 1;
    for (int i = 0; i < a->n; i++)
        if (http_config_set(&app->cfg, a->o[i].key, a->o[i].value, errs, sizeof errs) < 0)
            bad = 1;
    fer_error err = {0};
    if (!bad && http_listen_parse(&app->listen, app->cfg.listen, &err) < 0) {
        snprintf(errs + strlen(errs), sizeof errs - strlen(errs), "%s\n", err.msg);
        bad = 1;
    }
    if (!bad && app->cfg.auth_file[0] &&
        http_auth_load(&app->auth, app->cfg.auth_file, &err) < 0) {
        snprintf(errs + strlen(errs), sizeof errs - strlen(errs), "%s\n", err.msg);
        bad = 1;
    }
    if (!bad && !app->listen.loopback && !app->auth.enabled) {
        snprintf(errs + strlen(errs), sizeof errs - strlen(errs),
                 "listen %s is not a loopback address: anyone who can reach it would see the "
                 "camera, so ferd-http needs auth_file (--auth-file FILE with a secret of at "
                 "least %d characters), or listen on 127.0.0.1 and use ssh -L\n",
                 app->cfg.listen, HTTP_AUTH_MIN_LEN);
        bad = 1;
    }
    if (bad) {
        fprintf(stderr, "ferd-http: invalid configuration:\n%s", errs);
        return -1;
    }
    snprintf(app->socket_path, sizeof app->socket_path, "%s",
             fer_client_socket_path(app->cfg.socket));
    return 0;
}

static void on_signal(uv_signal_t *s, int signum)
{
    http_app *app = s->data;
    fer_log(FER_LOG_INFO, "%s received", strsignal(signum));
    sd_notify(0, "STOPPING=1");
    uv_signal_stop(&app->sigterm);
    uv_signal_stop(&app->sigint);
    uv_signal_stop(&app->sighup);
    http_server_stop(app);
}

/* SIGHUP would end the process by default; ferd-http has nothing to reload
 * in place (its settings shape the listening socket and the limits), so say so. */
static void on_hup(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    fer_log(FER_LOG_NOTICE, "SIGHUP ignored: restart ferd-http to apply a changed configuration");
}

static void walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    fer_log(FER_LOG_ERR, "handle still open at exit: %s%s",
            uv_handle_type_name(uv_handle_get_type(h)), uv_is_closing(h) ? " (closing)" : "");
}

int main(int argc, char **argv)
{
    args a;
    memset(&a, 0, sizeof a);
    int mode = parse_args(&a, argc, argv);
    if (mode != 0)
        return mode < 0 ? EXIT_USAGE : 0;

    http_app *app = calloc(1, sizeof *app);
    if (!app) {
        fprintf(stderr, "ferd-http: out of memory\n");
        return 1;
    }
    if (load(app, &a) < 0) {
        free(app);
        return 1;
    }
    if (a.check) {
        http_config_print(&app->cfg, stdout);
        fprintf(stderr, "ferd-http: configuration%s%s is valid (ferd at %s)\n",
                a.config[0] ? " " : "", a.config, app->socket_path);
        http_auth_clear(&app->auth);
        free(app);
        return 0;
    }

    fer_log_init("ferd-http", app->cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    int status = 1;
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0) {
        fer_log(FER_LOG_ERR, "uv_loop_init failed");
        free(app);
        return 1;
    }
    app->loop = &loop;
    http_metrics_init(&app->metrics);
    http_ratelimit_init(&app->rl, app->cfg.requests_per_second, app->cfg.request_burst);

    fer_error err = {0};
    if (http_server_start(app, &err) < 0) {
        fer_log(FER_LOG_ERR, "%s", err.msg);
        goto out;
    }
    uv_signal_init(&loop, &app->sigterm);
    uv_signal_init(&loop, &app->sigint);
    app->sigterm.data = app->sigint.data = app;
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_init(&loop, &app->sighup);
    uv_signal_start(&app->sighup, on_hup, SIGHUP);
    if (app->cfg.metrics_watch)
        http_upstream_metrics_start(app);

    fer_log(FER_LOG_INFO, "ferd-http %s listening on http://%s/ (ferd at %s%s)", FER_VERSION,
            app->bound, app->socket_path,
            app->auth.enabled ? "; requests need the secret" : "");
    sd_notifyf(0, "READY=1\nSTATUS=Serving http://%s/ for ferd at %s", app->bound,
               app->socket_path);

    uv_run(&loop, UV_RUN_DEFAULT);
    status = 0;
    fer_log(FER_LOG_INFO, "stopped");

out:
    if (uv_loop_close(&loop) != 0) {
        uv_walk(&loop, walk_cb, NULL);
        status = 1;
    }
    http_auth_clear(&app->auth);
    free(app);
    return status;
}
