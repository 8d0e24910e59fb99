/*
 * log.h — the daemon's log: one line per notable event on stderr.
 *
 * Under systemd (stderr is the journal, or the service manager started us) each
 * line starts with its syslog priority, "<3>" ... "<7>", which journald turns
 * into the entry's priority; otherwise lines read "ferd: warning: ...". Lines
 * below the configured level are skipped. Thread-safe: each line is one
 * write(2), so lines from the capture and inference threads never interleave.
 */
#ifndef FERD_LOG_H
#define FERD_LOG_H

#include "config.h"

/* Decides the format from the environment (JOURNAL_STREAM matching stderr,
 * INVOCATION_ID, NOTIFY_SOCKET) and sets the level. */
void ferd_log_init(int level);
void ferd_log_set_level(int level);
/* 1 if lines carry syslog prefixes. */
int ferd_log_is_journal(void);

void ferd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) ferd_log(FERD_LOG_ERR, __VA_ARGS__)
#define log_warning(...) ferd_log(FERD_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) ferd_log(FERD_LOG_NOTICE, __VA_ARGS__)
#define log_info(...) ferd_log(FERD_LOG_INFO, __VA_ARGS__)
#define log_debug(...) ferd_log(FERD_LOG_DEBUG, __VA_ARGS__)

#endif
