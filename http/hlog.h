/*
 * hlog.h — ferd-http's log, with the interface of the shared utility log that
 * issue 14 moves into src/util/log.h (one line per event on stderr, syslog
 * priority prefixes under systemd). This file goes away when that lands.
 */
#ifndef FERD_HTTP_HLOG_H
#define FERD_HTTP_HLOG_H

enum { FER_LOG_ERR = 3, FER_LOG_WARNING = 4, FER_LOG_NOTICE = 5, FER_LOG_INFO = 6,
       FER_LOG_DEBUG = 7 };

void fer_log_init(const char *program, int level);
void fer_log_set_level(int level);
void fer_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *fer_log_level_name(int level);
int fer_log_level_parse(const char *name);

#endif
