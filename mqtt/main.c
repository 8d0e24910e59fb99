/*
 * main.c — ferd-mqtt's entry point: command line, settings, the password
 * file, and which of the three jobs to do (bridge, --remove-discovery,
 * --check-config).
 *
 * Exit status (docs/MQTT.md; ferd-mqtt*.service do not restart on 2-4):
 *   0  stopped by SIGTERM/SIGINT, or the job is done
 *   1  a failure at run time (out of memory, ...)
 *   2  the settings are wrong (file, option, broker URL, password file, TLS files)
 *   3  the broker refused the user name or password
 *   4  TLS with the broker failed (certificate, host name, not TLS)
 *   64 usage error: one line with a did-you-mean (util/cli, docs/cli.md)
 * Each failure is one line on stderr saying what and where. -o is not --set:
 * it means --output in fer and ferctl, so ferd-mqtt, as ferd, refuses it.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"
#include "broker.h"
#include "config.h"
#include "remove.h"
#include "util/cli.h"
#include "util/log.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: ferd-mqtt [options]\n"
"\n"
"Publishes ferd's face events, state and status to an MQTT broker, with Home\n"
"Assistant discovery (docs/MQTT.md). With no options: ferd at /run/ferd/ferd.sock\n"
"(or $FERD_SOCKET), the broker at mqtt://localhost:1883, topics under\n"
"ferd/<instance>/ and configs under homeassistant/.\n"
"\n"
"  -c, --config FILE       read settings from FILE (conf/ferd-mqtt.conf documents\n"
"                          every key)\n"
"  -S, --socket PATH       ferd's socket\n"
"  -b, --broker URL        mqtt://HOST[:PORT] or mqtts://HOST[:PORT]\n"
"  -i, --instance NAME     the instance name in topics (default: NAME of a\n"
"                          NAME.sock socket, else the host name)\n"
"  -l, --log-level L       debug, info, notice, warning or err\n"
"      --set KEY=VALUE     set any configuration key (repeatable)\n"
"      --remove-discovery  clear the instance's retained messages (Home Assistant\n"
"                          configs, availability, state, status) and exit\n"
"      --check-config      validate the settings, print them and exit\n"
"  -h, --help              this text\n"
"  -V, --version           print the version\n"
"\n"
"Passwords are never options: set username and password_file in the\n"
"configuration file.\n"
"\n"
"exit status: 0 stopped or done, 1 failure, 2 bad settings, 3 broker refused\n"
"the credentials, 4 TLS failure, 64 usage error\n");
}

typedef struct override {
    const char *key, *value;
} override;

#define MAX_OVERRIDES 64

int main(int argc, char **argv)
{
    enum { OPT_REMOVE = 256, OPT_CHECK, OPT_SET };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 'S'},
        {"broker", required_argument, NULL, 'b'},
        {"instance", required_argument, NULL, 'i'},
        {"log-level", required_argument, NULL, 'l'},
        {"set", required_argument, NULL, OPT_SET},
        {"remove-discovery", no_argument, NULL, OPT_REMOVE},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    override ov[MAX_OVERRIDES];
    int nov = 0, remove = 0, check = 0, c;
    opterr = 0; /* fer_cli_option_error says it, in one line */
    while ((c = getopt_long(argc, argv, ":c:S:b:i:l:hV", opts, NULL)) != -1) {
        const char *key = NULL, *value = optarg;
        switch (c) {
        case 'c':
            config_path = optarg;
            continue;
        case 'S':
            key = "socket";
            break;
        case 'b':
            key = "broker";
            break;
        case 'i':
            key = "instance";
            break;
        case 'l':
            key = "log_level";
            break;
        case OPT_SET: {
            char *eq = strchr(optarg, '=');
            if (!eq)
                return fer_cli_usage_error("ferd-mqtt", NULL, "--set wants KEY=VALUE, not '%s'",
                                           optarg);
            *eq = '\0';
            key = optarg;
            value = eq + 1;
            break;
        }
        case OPT_REMOVE:
            remove = 1;
            continue;
        case OPT_CHECK:
            check = 1;
            continue;
        case 'h':
            usage(stdout);
            return FMQ_EXIT_OK;
        case 'V':
            printf("ferd-mqtt %s\n", FER_VERSION);
            return FMQ_EXIT_OK;
        default:
            if (c == '?' && optopt == 'o')
                return fer_cli_usage_error("ferd-mqtt", NULL, "-o is no option of ferd-mqtt (it "
                                           "means --output in fer and ferctl): settings are "
                                           "--set KEY=VALUE");
            return fer_cli_option_error("ferd-mqtt", c, opts, argv);
        }
        if (nov == MAX_OVERRIDES)
            return fer_cli_usage_error("ferd-mqtt", NULL, "more than %d command-line settings",
                                       MAX_OVERRIDES);
        ov[nov++] = (override){key, value};
    }
    if (optind < argc)
        return fer_cli_extra_argument("ferd-mqtt", argv[optind]);

    static fmq_config cfg;
    fmq_config_default(&cfg);
    char errs[4096] = "";
    if (config_path && fmq_config_load(&cfg, config_path, errs, sizeof errs) < 0) {
        fprintf(stderr, "ferd-mqtt: bad configuration:\n%s", errs);
        return FMQ_EXIT_CONFIG;
    }
    int bad = 0;
    for (int i = 0; i < nov; i++) {
        errs[0] = '\0';
        if (fmq_config_set(&cfg, ov[i].key, ov[i].value, errs, sizeof errs) < 0) {
            fprintf(stderr, "ferd-mqtt: command line: %s", errs);
            bad = 1;
        }
    }
    if (bad)
        return FMQ_EXIT_CONFIG;
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) < 0)
        host[0] = '\0';
    errs[0] = '\0';
    if (fmq_config_finish(&cfg, host, errs, sizeof errs) < 0) {
        fprintf(stderr, "ferd-mqtt: bad configuration:\n%s", errs);
        return FMQ_EXIT_CONFIG;
    }

    fer_log_init("ferd-mqtt", cfg.log_level);
    /* A broken connection is an error code from send(2), never a signal. */
    signal(SIGPIPE, SIG_IGN);

    static char password[FMQ_SECRET_MAX];
    if (cfg.password_file[0]) {
        int loose = 0;
        char why[600];
        if (fmq_read_password(cfg.password_file, password, sizeof password, &loose, why,
                              sizeof why) < 0) {
            fprintf(stderr, "ferd-mqtt: %s\n", why);
            return FMQ_EXIT_CONFIG;
        }
        if (loose)
            fer_log(FER_LOG_WARNING,
                    "password_file %s can be read by every user: chmod o-rwx it",
                    cfg.password_file);
    }
    if (check) {
        fmq_config_print(&cfg, stdout);
        explicit_bzero(password, sizeof password);
        return FMQ_EXIT_OK;
    }

    fmq_broker_lib_init();
    const char *pw = cfg.password_file[0] ? password : NULL;
    int code = remove ? fmq_remove_run(&cfg, pw) : fmq_bridge_run(&cfg, pw);
    explicit_bzero(password, sizeof password);
    fmq_broker_lib_cleanup();
    return code;
}
