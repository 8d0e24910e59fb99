/*
 * sbuf.c — a capped, growing text buffer (sbuf.h).
 */
#include "sbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sbuf_init(sbuf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void sbuf_free(sbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int reserve(sbuf *b, size_t extra)
{
    if (b->err)
        return -1;
    if (b->len + extra + 1 > b->max) {
        b->err = -E2BIG;
        return -1;
    }
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->err = -ENOMEM;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void sbuf_put(sbuf *b, const char *s, size_t n)
{
    if (reserve(b, n) < 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sbuf_printf(sbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        sbuf_put(b, small, (size_t)n);
        return;
    }
    if (reserve(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sbuf_json_str(sbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            sbuf_printf(b, "\\%c", c);
        else if (c < 0x20)
            sbuf_printf(b, "\\u%04x", c);
        else
            sbuf_put(b, (const char *)&c, 1);
    }
}

void sbuf_label(sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            sbuf_put(b, "\\\\", 2);
        else if (*s == '"')
            sbuf_put(b, "\\\"", 2);
        else if (*s == '\n')
            sbuf_put(b, "\\n", 2);
        else
            sbuf_put(b, s, 1);
    }
}

char *sbuf_take(sbuf *b, size_t *len)
{
    if (b->err || !b->data) {
        if (!b->err && !b->data) {
            /* An empty text is still a text. */
            char *e = calloc(1, 1);
            if (len)
                *len = 0;
            sbuf_free(b);
            return e;
        }
        sbuf_free(b);
        return NULL;
    }
    char *d = b->data;
    if (len)
        *len = b->len;
    memset(b, 0, sizeof *b);
    return d;
}
