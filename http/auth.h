/*
 * auth.h — the one secret that guards ferd-http when it listens beyond the
 * loopback interface.
 *
 * The secret is the first line of a file (auth_file) that only its owner and
 * group may read. A request carries it either as a bearer token
 * ("Authorization: Bearer SECRET", for curl and Prometheus) or as the password
 * of HTTP basic authentication with any user name (for browsers, which ask for
 * it). Comparisons take the same time whatever the guess, and the secret is
 * never logged or echoed.
 */
#ifndef FERD_HTTP_AUTH_H
#define FERD_HTTP_AUTH_H

#include <stddef.h>

#include "util/error.h"

/* A secret shorter than this is refused: it would be guessable online. */
#define HTTP_AUTH_MIN_LEN 16
#define HTTP_AUTH_MAX_LEN 256

typedef struct http_auth {
    int enabled;
    size_t len;
    char secret[HTTP_AUTH_MAX_LEN + 1];
} http_auth;

/*
 * Reads the secret from path: its first line without surrounding blanks, of
 * HTTP_AUTH_MIN_LEN..HTTP_AUTH_MAX_LEN printable ASCII characters. A file that
 * others (not owner, not group) may read or write is refused (-EPERM), as ssh
 * refuses an open private key. Other errors: -errno of open/read, FER_E_INVAL
 * for a missing, short or binary secret; err names the file.
 */
int http_auth_load(http_auth *a, const char *path, fer_error *err);

/* Zeroes the secret. */
void http_auth_clear(http_auth *a);

/*
 * 1 if the request is allowed: authentication is off, or the Authorization
 * header (NULL when absent) is "Bearer SECRET", or basic_password (the
 * password libmicrohttpd decoded from a Basic header, NULL when none) is the
 * secret. 0 otherwise.
 */
int http_auth_check(const http_auth *a, const char *authorization, const char *basic_password);

/* Compares a[0..alen) with b[0..blen) in time that depends only on blen. */
int http_auth_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
