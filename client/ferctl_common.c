/*
 * ferctl_common.c — what ferctl and ferctl-view share: option helpers and the
 * translation of library error codes into one line for the user plus an exit
 * code.
 *
 * Design. The library reports codes and a technical message; only here is it
 * decided what a person is told. "Nobody listens on the socket" is by far the
 * most common failure, so it gets a message that names the path tried and the
 * command that fixes it, and exit code 2 — never a stack of errno texts.
 */
#include "ferctl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ferctl_parse_double(const char *arg, double lo, double hi, const char *cmd, const char *name,
                        double *v)
{
    char *end = NULL;
    errno = 0;
    double d = strtod(arg, &end);
    if (errno || end == arg || *end || !isfinite(d) || d < lo || d > hi) {
        fprintf(stderr, "ferctl %s: %s wants a number in [%g, %g], not '%s'; see 'ferctl %s "
                "--help'\n", cmd, name, lo, hi, arg, cmd);
        return -1;
    }
    *v = d;
    return 0;
}

int ferctl_common_opt(ferctl_common *co, int opt, const char *arg, const char *cmd)
{
    switch (opt) {
    case 'S':
    case FERCTL_OPT_SOCKET:
        co->socket = arg;
        return 1;
    case FERCTL_OPT_JSON:
        co->json = 1;
        return 1;
    case FERCTL_OPT_TIMEOUT:
        return ferctl_parse_double(arg, 0.001, 1e6, cmd, "--timeout", &co->timeout) < 0 ? -1 : 1;
    default:
        return 0;
    }
}

int ferctl_timeout_ms(const ferctl_common *co, int dflt_ms)
{
    if (co->timeout < 0)
        return dflt_ms;
    double ms = co->timeout * 1000.0;
    return ms > 2e9 ? 2000000000 : ms < 1 ? 1 : (int)ms;
}

int ferctl_absent(int code)
{
    return code == -ENOENT || code == -ECONNREFUSED || code == -ENOTDIR;
}

int ferctl_fail(const char *cmd, int code, const char *msg)
{
    fprintf(stderr, "ferctl %s: %s\n", cmd, msg && msg[0] ? msg : fer_client_strerror(code));
    switch (code) {
    case FER_CLIENT_E_CLOSED:
    case FER_CLIENT_E_TOOLONG:
    case FER_E_PROTO:
        return FERCTL_LOST;
    case FER_CLIENT_E_VERSION:
    case FER_CLIENT_E_GREETING:
        return FERCTL_VERSION;
    case -ETIMEDOUT:
        return FERCTL_TIMEOUT;
    default:
        return FERCTL_FAIL;
    }
}

int ferctl_connect(const ferctl_common *co, fer_client **c, int quiet_absent)
{
    fer_error err = {0};
    const char *path = fer_client_socket_path(co->socket);
    int rc = fer_client_open(c, path, FERCTL_CONNECT_MS, &err);
    if (rc == 0)
        return 0;
    if (ferctl_absent(rc)) {
        if (!quiet_absent)
            fprintf(stderr,
                    "ferctl: ferd is not running (no daemon listening on %s); start it with "
                    "`systemctl start ferd`, or give the right --socket\n",
                    path);
        return FERCTL_NODAEMON;
    }
    switch (rc) {
    case -EACCES:
    case -EPERM:
        fprintf(stderr,
                "ferctl: may not connect to ferd at %s: permission denied (join group ferd, "
                "or ask its administrator)\n",
                path);
        return FERCTL_NODAEMON;
    case -ETIMEDOUT:
        fprintf(stderr, "ferctl: ferd at %s did not greet within %d s; is it stuck?\n", path,
                FERCTL_CONNECT_MS / 1000);
        return FERCTL_TIMEOUT;
    case FER_CLIENT_E_VERSION:
    case FER_CLIENT_E_GREETING:
        fprintf(stderr, "ferctl: %s\n", err.msg);
        return FERCTL_VERSION;
    case FER_CLIENT_E_REFUSED:
        fprintf(stderr, "ferctl: %s\n", err.msg);
        return FERCTL_FAIL;
    case FER_CLIENT_E_CLOSED:
        fprintf(stderr, "ferctl: %s\n", err.msg);
        return FERCTL_LOST;
    default:
        fprintf(stderr, "ferctl: cannot connect to ferd at %s: %s\n", path,
                fer_client_strerror(rc));
        return FERCTL_NODAEMON;
    }
}
