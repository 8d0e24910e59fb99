/*
 * ferctl.h — what ferctl's files share: exit codes, the options common to
 * every subcommand, the connection helper that turns library codes into the
 * one-line messages users see, and the subcommands themselves.
 */
#ifndef FERCTL_H
#define FERCTL_H

#include <stdio.h>

#include "ferclient.h"

/* Exit codes (docs/ferctl.md lists them; scripts rely on them). */
enum {
    FERCTL_OK = 0,        /* done */
    FERCTL_FAIL = 1,      /* the request failed: refused, bad reply, file not written, no display */
    FERCTL_NODAEMON = 2,  /* cannot connect: ferd is not running or the socket is not ours */
    FERCTL_LOST = 3,      /* the daemon went away (or broke the protocol) mid-session */
    FERCTL_VERSION = 4,   /* the daemon speaks an incompatible protocol (or is not ferd) */
    FERCTL_TIMEOUT = 5,   /* no answer in time, or --count not reached within --timeout */
    FERCTL_USAGE = 64,    /* bad command line (sysexits' EX_USAGE) */
};

/* Time allowed for connecting and reading the greeting. */
#define FERCTL_CONNECT_MS 5000

/* Options every subcommand accepts. */
typedef struct ferctl_common {
    const char *socket;   /* as given (--socket), or NULL: the library resolves it */
    int json;             /* --json */
    double timeout;       /* --timeout S; < 0 when not given */
} ferctl_common;

/* The long options every subcommand shares, for getopt_long tables. */
#define FERCTL_OPT_SOCKET 1000
#define FERCTL_OPT_JSON 1001
#define FERCTL_OPT_TIMEOUT 1002
#define FERCTL_OPT_HELP 'h'

/*
 * Handles a common option for a subcommand's getopt loop. Returns 1 if opt was
 * one of them (consumed), 0 if not, -1 after printing a usage error for a bad
 * value.
 */
int ferctl_common_opt(ferctl_common *co, int opt, const char *arg, const char *cmd);

/* Parses a number for option name of cmd, in [lo, hi]; prints the error. */
int ferctl_parse_double(const char *arg, double lo, double hi, const char *cmd, const char *name,
                        double *v);

/*
 * Connects with the library and, on failure, prints the single line the user
 * should see and returns the exit code (FERCTL_NODAEMON, FERCTL_VERSION, ...).
 * 0 on success. quiet_absent: print nothing for "not running" (--reconnect
 * polls while the daemon is down and says so once itself).
 */
int ferctl_connect(const ferctl_common *co, fer_client **c, int quiet_absent);
/* 1 when code from fer_client_open means "nobody is listening there". */
int ferctl_absent(int code);

/* Prints "ferctl CMD: msg" to stderr and maps a library code to an exit code. */
int ferctl_fail(const char *cmd, int code, const char *msg);

/* Milliseconds for a timeout option in seconds, or dflt_ms when not given. */
int ferctl_timeout_ms(const ferctl_common *co, int dflt_ms);

/* The subcommands: argv[0] is the subcommand's name. Each returns an exit code. */
int ferctl_watch(ferctl_common *co, int argc, char **argv);
int ferctl_snapshot(ferctl_common *co, int argc, char **argv);
int ferctl_status(ferctl_common *co, int argc, char **argv);
int ferctl_reload(ferctl_common *co, int argc, char **argv);
int ferctl_view(ferctl_common *co, int argc, char **argv);

#endif
