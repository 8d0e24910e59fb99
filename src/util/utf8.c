/*
 * utf8.c — see utf8.h. One decoder of sequence lengths (seq_len) serves the
 * check, the repair and the cut, so they can never disagree about what a
 * character is.
 */
#include "util/utf8.h"

#include <stdlib.h>
#include <string.h>

/* The length (1..4) of the valid sequence that starts at p (n > 0 bytes
 * available), or 0 if the bytes there are not one (RFC 3629, table 3-7 of
 * the Unicode standard: the second byte's range depends on the first). */
static size_t seq_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* the second byte's range */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

size_t fer_utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* ASCII runs are the common case: no table lookups for them. */
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = seq_len(p + i, n - i);
        if (!l)
            break;
        i += l;
    }
    return i;
}

int fer_utf8_valid(const char *s, size_t n)
{
    return fer_utf8_valid_prefix(s, n) == n;
}

char *fer_utf8_repair(const char *s, size_t n, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n > (((size_t)-1) - 1) / 3)
        return NULL;
    char *out = malloc(3 * n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = seq_len(p + i, n - i);
        if (l) {
            memcpy(out + o, p + i, l);
            o += l;
            i += l;
        } else {
            /* One replacement per bad byte: simple, and never merges a bad
             * byte with a good character that follows it. */
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

size_t fer_utf8_cut(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n < max)
        return n; /* all of it fits */
    /* Walk back over continuation bytes to the start of the character that
     * max falls in; keep it only if it ends at or before max. */
    const unsigned char *p = (const unsigned char *)s;
    size_t start = max;
    while (start > 0 && max - start < 4 && (p[start] & 0xC0) == 0x80)
        start--;
    if (start == max)
        return max; /* max is at a character boundary */
    size_t l = seq_len(p + start, strnlen(s + start, 4));
    return l && start + l <= max ? start + l : start;
}

void fer_utf8_copy(char *dst, size_t cap, const char *src)
{
    if (!cap)
        return;
    size_t n = fer_utf8_cut(src ? src : "", cap - 1);
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}
