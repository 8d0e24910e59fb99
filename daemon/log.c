/*
 * log.c — see log.h. The level lives in an atomic so the loop thread can
 * change it on reload while other threads log.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_int log_level = FERD_LOG_INFO;
static int journal;

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected; it applies only
 * while stderr is still that stream (not after a redirection by the user). */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    if (!js || !*js)
        return 0;
    unsigned long long dev, ino;
    if (sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return 0;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) < 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void ferd_log_init(int level)
{
    const char *inv = getenv("INVOCATION_ID");
    const char *ns = getenv("NOTIFY_SOCKET");
    journal = stderr_is_journal() || (inv && *inv) || (ns && *ns);
    ferd_log_set_level(level);
}

void ferd_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

int ferd_log_is_journal(void)
{
    return journal;
}

void ferd_log(int level, const char *fmt, ...)
{
    if (level > atomic_load(&log_level))
        return;
    int saved = errno;
    char line[1024];
    int n;
    if (journal)
        n = snprintf(line, sizeof line, "<%d>", level);
    else
        n = snprintf(line, sizeof line, "ferd: %s: ", fer_log_level_name(level));
    if (n < 0)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* One line, whatever the message held. */
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
