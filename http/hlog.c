/*
 * hlog.c — ferd-http's log (hlog.h): a line per event on stderr, each written
 * with one write(2); "<N>" syslog prefixes when systemd reads stderr, else
 * "ferd-http: LEVEL: ". Temporary until the shared utility log lands.
 */
#include "hlog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int log_level = FER_LOG_INFO;
static int journal;
static const char *program = "ferd-http";
static const char *const names[] = {"", "", "", "err", "warning", "notice", "info", "debug"};

const char *fer_log_level_name(int level)
{
    return level >= FER_LOG_ERR && level <= FER_LOG_DEBUG ? names[level] : "info";
}

int fer_log_level_parse(const char *name)
{
    for (int l = FER_LOG_ERR; l <= FER_LOG_DEBUG; l++)
        if (strcasecmp(name, names[l]) == 0)
            return l;
    return -EINVAL;
}

void fer_log_init(const char *prog, int level)
{
    const char *js = getenv("JOURNAL_STREAM"), *inv = getenv("INVOCATION_ID");
    if (prog && *prog)
        program = prog;
    journal = (js && *js) || (inv && *inv);
    log_level = level;
}

void fer_log_set_level(int level)
{
    log_level = level;
}

void fer_log(int level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    int saved = errno;
    char line[1024];
    int n = journal ? snprintf(line, sizeof line, "<%d>", level)
                    : snprintf(line, sizeof line, "%s: %s: ", program, fer_log_level_name(level));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w;
    do
        w = write(STDERR_FILENO, line, len);
    while (w < 0 && errno == EINTR);
    errno = saved;
}
