/*
 * params.h — a request's query parameters, checked before anything is done
 * with them.
 *
 * libmicrohttpd splits and percent-decodes the query; this collects the pairs
 * (a bounded number of bounded size) and lets each endpoint say which keys it
 * knows and read typed values from them. Unknown keys, repeated keys, values
 * of the wrong type or out of range are refused with a message naming the key
 * and the value, which the server sends back with 400 Bad Request. Nothing here
 * allocates.
 */
#ifndef FERD_HTTP_PARAMS_H
#define FERD_HTTP_PARAMS_H

#include <stddef.h>

#include "proto/protocol.h"

#define HTTP_MAX_PARAMS 16
#define HTTP_PARAM_KEY 32
#define HTTP_PARAM_VALUE 64

typedef struct http_param {
    char key[HTTP_PARAM_KEY];
    char value[HTTP_PARAM_VALUE];
    int has_value;          /* 0 for "?key" without "=" */
    int too_long;           /* key or value did not fit */
} http_param;

typedef struct http_params {
    int n;
    int overflow;           /* more than HTTP_MAX_PARAMS were given */
    http_param p[HTTP_MAX_PARAMS];
} http_params;

/* Adds one pair (value NULL: "?key" alone). Never fails: overflow and
 * over-long pairs are remembered and refused by http_params_check. */
void http_params_add(http_params *ps, const char *key, const char *value);

/*
 * Refuses (-EINVAL, a message in why) too many parameters, over-long ones,
 * keys not in the NULL-terminated list known, and keys given twice.
 */
int http_params_check(const http_params *ps, const char *const *known, char *why, size_t n);

/* The value of key, or NULL when absent ("" for "?key" alone). */
const char *http_params_get(const http_params *ps, const char *key);

/*
 * Typed readers: absent keys leave *out at the default the caller put there.
 * Booleans are 1/0, true/false, yes/no, or empty ("?annotated" means yes).
 * Numbers are decimal, finite, within [lo, hi]. Images are none, jpeg,
 * annotated or a boolean (yes = jpeg), as in the protocol's WATCH.
 * -EINVAL with a message naming the key and value.
 */
int http_params_bool(const http_params *ps, const char *key, int *out, char *why, size_t n);
int http_params_number(const http_params *ps, const char *key, double lo, double hi, double *out,
                       char *why, size_t n);
int http_params_image(const http_params *ps, const char *key, fer_image_kind *out, char *why,
                      size_t n);

/*
 * The WATCH options of /api/events: max_fps, min_prob, events, scores, image,
 * with the protocol's ranges and defaults; events=1 with an image is refused.
 */
int http_params_watch(const http_params *ps, fer_watch *w, char *why, size_t n);

#endif
