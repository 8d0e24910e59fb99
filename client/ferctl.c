/*
 * ferctl.c — the command-line client of ferd: global options and subcommand
 * dispatch (ferctl_watch.c, ferctl_cmds.c; error messages in ferctl_common.c).
 *
 * Design, after gpsd's gpspipe: ferctl is a thin shell over libferclient.
 * Everything that speaks the protocol lives in the library; ferctl parses the
 * command line, calls the library, prints, and picks the exit code. Errors
 * are reported once, by the subcommand that received them, as a
 * single line on stderr that says what to do — "ferd is not running ... start
 * it with systemctl start ferd" rather than a chain of errno texts. stdout
 * carries only results, so `ferctl watch --json | jq` never sees a message.
 *
 * `--socket PATH` is accepted before the subcommand and after it; the
 * subcommand's value wins. Exit codes are the FERCTL_* of ferctl.h and are
 * documented in docs/ferctl.md.
 */
#include "ferctl.h"

#include <getopt.h>
#include <string.h>

#include "util/cli.h"

#ifndef FER_VERSION
#define FER_VERSION "unknown"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ferctl [--socket PATH] COMMAND [OPTIONS]\n"
            "\n"
            "Talks to ferd, the facial expression recognition daemon.\n"
            "\n"
            "commands:\n"
            "  watch      stream results (one line per face per frame; --json: raw lines)\n"
            "  snapshot   the latest result; -o FILE.jpg saves the frame\n"
            "  status     the daemon's state: source, model, clients, frames, latency\n"
            "  reload     re-read the configuration and the model\n"
            "  view       a window with the live annotated picture\n"
            "\n"
            "options:\n"
            "  -S, --socket PATH  the daemon's socket (default: $" FER_CLIENT_SOCKET_ENV
            ", else\n"
            "                 " FER_CLIENT_DEFAULT_SOCKET ")\n"
            "  -V, --version  print ferctl's version and protocol\n"
            "  -h, --help     this text; `ferctl COMMAND --help` describes a command\n"
            "\n"
            "exit status: 0 done, 1 request failed, 2 ferd not running, 3 connection lost,\n"
            "4 incompatible protocol, 5 timed out, 64 usage error\n");
}

static const struct {
    const char *name;
    int (*run)(ferctl_common *, int, char **);
} commands[] = {
    {"watch", ferctl_watch},     {"snapshot", ferctl_snapshot}, {"status", ferctl_status},
    {"reload", ferctl_reload},   {"view", ferctl_view},
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, FERCTL_OPT_SOCKET},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    ferctl_common co = {.socket = NULL, .json = 0, .timeout = -1};
    int opt;
    /* "+": stop at the subcommand, whose options are its own; ":" and opterr 0:
     * errors are ours to say, in one line. */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:hVS:", opts, NULL)) != -1) {
        switch (opt) {
        case 'S':
        case FERCTL_OPT_SOCKET:
            co.socket = optarg;
            break;
        case 'h':
            usage(stdout);
            return FERCTL_OK;
        case 'V':
            printf("ferctl %s (protocol %d.%d)\n", FER_VERSION, FER_PROTO_MAJOR,
                   FER_PROTO_MINOR);
            return FERCTL_OK;
        default:
            return fer_cli_option_error("ferctl", opt, opts, argv);
        }
    }
    if (optind >= argc)
        return fer_cli_usage_error("ferctl", NULL, "no command given (watch, snapshot, status, "
                                   "reload, view)");
    const char *cmd = argv[optind];
    enum { NCMD = sizeof commands / sizeof commands[0] };
    const char *names[NCMD];
    for (size_t i = 0; i < NCMD; i++) {
        names[i] = commands[i].name;
        if (strcmp(cmd, commands[i].name) == 0) {
            /* Results are read by people and by pipes: each line as it comes. */
            setvbuf(stdout, NULL, _IOLBF, 0);
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 0; /* a full reset for the subcommand's getopt_long */
            return commands[i].run(&co, sub_argc, sub_argv);
        }
    }
    return fer_cli_usage_error("ferctl", fer_cli_suggest(cmd, names, NCMD),
                               "unknown command '%s'", cmd);
}
