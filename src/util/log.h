/*
 * log.h — the log of a ferd program (the daemon and its bridges): one line
 * per notable event on stderr.
 *
 * Under systemd (stderr is the journal, or the service manager started us) each
 * line starts with its syslog priority, "<3>" ... "<7>", which journald turns
 * into the entry's priority; otherwise lines read "PROGRAM: warning: ...". Lines
 * below the configured level are skipped. Thread-safe: each line is one
 * write(2), so lines from several threads never interleave, and errno is kept.
 *
 * Only programs log. Library code (src/, proto/, client/) never calls this: it
 * returns a code and a fer_error, and the program that handles it logs once.
 */
#ifndef FER_LOG_H
#define FER_LOG_H

/* The syslog priorities a line may carry. */
enum { FER_LOG_ERR = 3, FER_LOG_WARNING = 4, FER_LOG_NOTICE = 5, FER_LOG_INFO = 6,
       FER_LOG_DEBUG = 7 };

/* Names the program in plain lines (kept as a pointer: pass a string that lives
 * on), decides the format from the environment (JOURNAL_STREAM matching stderr,
 * INVOCATION_ID, NOTIFY_SOCKET) and sets the level. */
void fer_log_init(const char *program, int level);
void fer_log_set_level(int level);
/* 1 if lines carry syslog prefixes. */
int fer_log_is_journal(void);

void fer_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "err", "warning", "notice", "info", "debug" for a FER_LOG_* level ("info" for
 * anything else). */
const char *fer_log_level_name(int level);
/* The level a name (any case) stands for, or -EINVAL. */
int fer_log_level_parse(const char *name);

#endif
