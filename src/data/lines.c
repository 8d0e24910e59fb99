/*
 * lines.c — the line reader and row-error helpers of lines.h.
 *
 * The FER2013 CSV is ~300 MB of text (96 MB gzip'd), so the reader is built for
 * speed: gzread fills our buffer in 1 MiB chunks, lines are cut with memchr in
 * that buffer, and only the unfinished tail of a chunk is moved before the next
 * read. A line longer than MAX_LINE is an error rather than an unbounded buffer.
 */
#include "data/lines.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHUNK (1u << 20)     /* bytes asked of gzread at a time */
#define MAX_LINE (1u << 24)  /* longest line accepted: 16 MiB, ~700x a real FER2013 row */

int fer_lines_open(fer_lines *r, const char *path, fer_error *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->cap = 2 * CHUNK;
    r->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    errno = 0;
    r->gz = gzopen(path, "rbe");
    if (!r->gz) {
        int e = errno ? errno : ENOMEM;
        return fer_fail(err, -e, "%s: %s", path, strerror(e));
    }
    /* A larger zlib input buffer halves the read system calls; must precede the first read. */
    gzbuffer(r->gz, 1u << 18);
    r->buf = malloc(r->cap);
    if (!r->buf) {
        fer_lines_close(r);
        return fer_fail(err, -ENOMEM, "%s: out of memory", path);
    }
    return 0;
}

void fer_lines_close(fer_lines *r)
{
    free(r->buf);
    r->buf = NULL;
    if (r->gz)
        gzclose(r->gz);
    r->gz = NULL;
}

/* Turns zlib's error state after a read into a code and message; 0 if none. */
static int gz_check(fer_lines *r, fer_error *err)
{
    int zerr = Z_OK;
    const char *msg = gzerror(r->gz, &zerr);
    switch (zerr) {
    case Z_OK:
    case Z_STREAM_END:
        return 0;
    case Z_ERRNO: {
        int e = errno ? errno : EIO;
        return fer_fail(err, -e, "%s: %s", r->path, strerror(e));
    }
    case Z_MEM_ERROR:
        return fer_fail(err, -ENOMEM, "%s: out of memory in zlib", r->path);
    case Z_BUF_ERROR: /* zlib's word for a gzip stream that stops mid-way */
        return fer_fail(err, FER_E_TRUNCATED, "%s: gzip data is truncated (%s)", r->path, msg);
    default:
        return fer_fail(err, FER_E_INVAL, "%s: corrupt gzip data (%s)", r->path, msg);
    }
}

int fer_lines_next(fer_lines *r, char **s, size_t *len, fer_error *err)
{
    for (;;) {
        char *p = r->buf + r->start;
        size_t avail = r->end - r->start;
        char *nl = memchr(p, '\n', avail);
        if (nl || (r->eof && avail > 0)) {
            size_t n = nl ? (size_t)(nl - p) : avail;
            r->start += nl ? n + 1 : n;
            r->line++;
            if (n > 0 && p[n - 1] == '\r')
                n--;
            *s = p;
            *len = n;
            return 1;
        }
        if (r->eof)
            return 0;
        if (avail > MAX_LINE)
            return fer_fail(err, FER_E_INVAL, "%s:%ld: malformed row: line longer than %u bytes",
                            r->path, r->line + 1, MAX_LINE);

        /* Keep the unfinished line, then make room for a whole chunk after it. */
        if (r->start > 0) {
            memmove(r->buf, p, avail);
            r->start = 0;
            r->end = avail;
        }
        if (r->cap - r->end < CHUNK) {
            size_t ncap = r->cap * 2;
            char *nb = realloc(r->buf, ncap);
            if (!nb)
                return fer_fail(err, -ENOMEM, "%s: out of memory", r->path);
            r->buf = nb;
            r->cap = ncap;
        }
        int got = gzread(r->gz, r->buf + r->end, CHUNK);
        int rc = gz_check(r, err);
        if (rc < 0)
            return rc;
        if (got < 0)
            return fer_fail(err, -EIO, "%s: read error", r->path);
        if (got == 0)
            r->eof = 1;
        if (r->want_crc && got > 0)
            r->crc = (uint32_t)crc32_z(r->crc, (const Bytef *)r->buf + r->end, (size_t)got);
        r->end += (size_t)got;
    }
}

int fer_lines_header(fer_lines *r, const char *header, const char *what, fer_error *err)
{
    char *s;
    size_t len;
    int rc = fer_lines_next(r, &s, &len, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return fer_fail(err, FER_E_INVAL, "%s: empty file, expected a CSV with the header '%s'",
                        r->path, header);
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3, len -= 3;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len != strlen(header) || strncasecmp(s, header, len) != 0) {
        char q[48];
        return fer_fail(err, FER_E_INVAL, "%s:1: missing header '%s' (found '%s'); is this %s?",
                        r->path, header, fer_quote(q, s, len), what);
    }
    return 0;
}

int fer_row_fail(fer_error *err, const char *path, long line, const char *fmt, ...)
{
    if (!err)
        return FER_E_INVAL;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fer_fail(err, FER_E_INVAL, "%s:%ld: %s", path, line, what);
}

const char *fer_quote(char out[48], const char *s, size_t len)
{
    size_t n = len > 40 ? 40 : len, i;
    for (i = 0; i < n; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (len > n)
        out[i++] = '.', out[i++] = '.', out[i++] = '.';
    out[i] = '\0';
    return out;
}

void fer_trim_field(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
    if (*e - *s >= 2 && **s == '"' && (*e)[-1] == '"')
        (*s)++, (*e)--;
}

int fer_usage_parse(const char *s, size_t len)
{
    static const char *const usages[] = {"Training", "PublicTest", "PrivateTest"};
    for (int i = 0; i < 3; i++)
        if (strlen(usages[i]) == len && strncasecmp(s, usages[i], len) == 0)
            return i; /* FER_SPLIT_TRAIN, _VAL, _TEST in that order */
    return -1;
}
