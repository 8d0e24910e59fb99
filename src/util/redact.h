/*
 * redact.h — credentials kept out of everything ferd shows.
 *
 * A stream source may carry a password (rtsp://admin:secret@camera/...) or a
 * token in its query (...?password=secret, ?token=...). ferd must use it, but
 * nothing it shows may hold it: not STATUS, not an error message, not a log
 * line, not the status line the service manager shows every local user, not
 * the command line in /proc (issue 13, class 2). Every URL in a text (there
 * may be several, anywhere in it) has the password of its user information
 * and the values of query parameters whose names say they are secrets
 * (pass, pwd, token, secret, key, auth, sig, ...) masked; a URL cut short
 * before its '@' has everything after the user name masked, since what
 * follows may be a password. The rest of the text is left as it is.
 */
#ifndef FER_UTIL_REDACT_H
#define FER_UTIL_REDACT_H

#include <stddef.h>

/* Copies text into out (n > 0 bytes, NUL-terminated, cut if it does not fit)
 * with every secret replaced by "***". Returns 1 if anything was masked. */
int fer_redact(const char *text, char *out, size_t n);

/* Overwrites every secret in text, in place, with as many '*' (the length
 * stays: for argv strings, which cannot grow). Returns 1 if anything was. */
int fer_redact_inplace(char *text);

#endif
