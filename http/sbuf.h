/*
 * sbuf.h — a growing text buffer for responses built at request time
 * (/metrics, /api/info), with a hard size cap so no response grows without
 * bound. Appends after a failure are ignored and the failure is kept, so a
 * builder checks once at the end.
 */
#ifndef FERD_HTTP_SBUF_H
#define FERD_HTTP_SBUF_H

#include <stddef.h>

typedef struct sbuf {
    char *data;
    size_t len, cap, max;
    int err;            /* 0, -ENOMEM, or -E2BIG past max */
} sbuf;

void sbuf_init(sbuf *b, size_t max);
void sbuf_free(sbuf *b);
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_put(sbuf *b, const char *s, size_t n);
/* Appends s as the inside of a JSON string (quotes not included). */
void sbuf_json_str(sbuf *b, const char *s);
/* Appends s as a Prometheus label value (backslash, quote and newline escaped). */
void sbuf_label(sbuf *b, const char *s);
/* Hands the text over (NUL-terminated, malloc'd) and resets b; NULL after an error. */
char *sbuf_take(sbuf *b, size_t *len);

#endif
