/*
 * log.h — the daemon's log: util/log.h (one journal-aware line per event on
 * stderr) with the short names the daemon's files use.
 */
#ifndef FERD_LOG_H
#define FERD_LOG_H

#include "util/log.h"

#define log_err(...) fer_log(FER_LOG_ERR, __VA_ARGS__)
#define log_warning(...) fer_log(FER_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) fer_log(FER_LOG_NOTICE, __VA_ARGS__)
#define log_info(...) fer_log(FER_LOG_INFO, __VA_ARGS__)
#define log_debug(...) fer_log(FER_LOG_DEBUG, __VA_ARGS__)

#endif
