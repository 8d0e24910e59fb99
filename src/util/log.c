/*
 * log.c — see log.h. The level lives in an atomic so one thread (the loop, on
 * reload) can change it while others log; each line is formatted into a
 * stack buffer and written with a single write(2), which is what keeps lines
 * whole across threads without a lock.
 */
#include "util/log.h"
#include "util/redact.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_int log_level = FER_LOG_INFO;
static int journal;
static const char *program = "ferd";

static const char *const level_names[] = {"", "", "", "err", "warning", "notice", "info",
                                          "debug"};

const char *fer_log_level_name(int level)
{
    return level >= FER_LOG_ERR && level <= FER_LOG_DEBUG ? level_names[level] : "info";
}

int fer_log_level_parse(const char *name)
{
    for (int l = FER_LOG_ERR; l <= FER_LOG_DEBUG; l++)
        if (strcasecmp(name, level_names[l]) == 0)
            return l;
    return -EINVAL;
}

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

void fer_log_init(const char *prog, int level)
{
    const char *inv = getenv("INVOCATION_ID");
    const char *ns = getenv("NOTIFY_SOCKET");
    if (prog && *prog)
        program = prog;
    journal = stderr_is_journal() || (inv && *inv) || (ns && *ns);
    fer_log_set_level(level);
}

void fer_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

int fer_log_is_journal(void)
{
    return journal;
}

void fer_log(int level, const char *fmt, ...)
{
    if (level > atomic_load(&log_level))
        return;
    int saved = errno;
    char line[1024];
    int n;
    if (journal)
        n = snprintf(line, sizeof line, "<%d>", level);
    else
        n = snprintf(line, sizeof line, "%.64s: %s: ", program, fer_log_level_name(level));
    if (n < 0)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len] = '\0';
    /* No credential of a stream URL reaches a log (util/redact.h), whichever
     * message carried it. */
    if (strstr(line + n, "://")) {
        char masked[sizeof line];
        if (fer_redact(line + n, masked, sizeof masked - (size_t)n - 1)) {
            len = (size_t)n + strlen(masked);
            memcpy(line + n, masked, len - (size_t)n);
        }
    }
    /* One line, whatever the message held: a newline, a carriage return or an
     * escape sequence in a file name or a peer's text must not forge a second
     * log line or repaint a terminal. */
    for (size_t i = (size_t)n; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch == '\n')
            line[i] = ' ';
        else if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            line[i] = '?';
    }
    line[len++] = '\n';
    ssize_t w;
    do
        w = write(STDERR_FILENO, line, len);
    while (w < 0 && errno == EINTR);
    errno = saved;
}
