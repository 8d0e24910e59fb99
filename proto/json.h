/*
 * json.h — the typed cJSON getters and number helpers that every encoder and
 * decoder of proto/ shares (protocol.c for the protocol objects, result_json.c
 * for RESULT). Internal to ferproto: not installed, not exported by
 * libferclient.
 *
 * The getters share one shape: 0 if the key is absent (and not required), 1 if
 * it was read into *v, FER_E_PROTO (with err saying `WHAT: "key" ...`) if it is
 * present but of the wrong type or range, or absent but required. `what` names
 * the object and, for nested ones, the path to it ("RESULT faces[0].box").
 */
#ifndef FER_PROTO_JSON_H
#define FER_PROTO_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "util/error.h"

/*
 * Parses one line of len bytes (at most max) into a cJSON object, or returns
 * NULL with err filled (FER_E_PROTO, the message led by what): the one gate
 * every line from a peer passes, requests and daemon messages and RESULT alike.
 * It refuses NUL bytes, raw or escaped as \u0000, invalid UTF-8, text after the
 * object, and anything but an object.
 */
cJSON *fer_json_parse_object(const char *text, size_t len, size_t max, const char *what,
                             fer_error *err);

const cJSON *fer_json_member(const cJSON *o, const char *key);

/* A finite number in [lo, hi]. */
int fer_json_num(const cJSON *o, const char *what, const char *key, double lo, double hi,
                 int required, double *v, fer_error *err);
/* The same, and a whole number. */
int fer_json_int(const cJSON *o, const char *what, const char *key, double lo, double hi,
                 int required, long long *v, fer_error *err);
/* A non-negative integer that may pass 2^53 (accepted as a double). */
int fer_json_u64(const cJSON *o, const char *what, const char *key, int required, uint64_t *v,
                 fer_error *err);
/* true or false, as 1 or 0; never required. */
int fer_json_bool(const cJSON *o, const char *what, const char *key, int *v, fer_error *err);
/* A string, copied into dst (n bytes, truncated). */
int fer_json_str(const cJSON *o, const char *what, const char *key, int required, char *dst,
                 size_t n, fer_error *err);

/* v rounded to a multiple of unit (what the number means: 1e-4 for a
 * probability, 1e-3 for milliseconds), so lines stay short; 0 if not finite. */
double fer_json_round(double v, double unit);
/* An unsigned 64-bit integer as exact JSON digits (NULL: out of memory). */
cJSON *fer_json_u64_item(uint64_t v);
/* Adds it to o under key; 0 when out of memory (the item is freed). */
int fer_json_add_u64(cJSON *o, const char *key, uint64_t v);

/*
 * o printed on one line (malloc'd; NULL when out of memory), always valid
 * UTF-8: a byte of a string that is not part of a valid sequence (a file name,
 * a model's class name, a library's message) becomes U+FFFD. Every line the
 * daemon sends is printed here.
 */
char *fer_json_print(const cJSON *o);

#endif
