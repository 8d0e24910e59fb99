/*
 * redact.c — see redact.h. One scanner (next_secret) finds the secrets; the
 * two functions only differ in what they put in their place. The scanner
 * knows URLs by their "://"; what it masks:
 *   scheme://user:PASSWORD@host...      (the last '@' before the path ends the
 *                                        user information, so a password may
 *                                        hold '@')
 *   scheme://user:PASSW                 (cut short before any '@': masked from
 *                                        the ':' to the end, to be safe)
 *   ...?name=VALUE&...                  (names holding pass, pwd, token,
 *                                        secret, key, auth, sig, cred)
 * A URL ends at a blank, a quote, '<', '>' or the end of the text.
 */
#include "util/redact.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int url_end(char c)
{
    return c == '\0' || isspace((unsigned char)c) || c == '"' || c == '\'' || c == '<' ||
           c == '>';
}

/* 1 if a query parameter named name (len bytes) holds a secret. */
static int secret_name(const char *name, size_t len)
{
    static const char *const words[] = {"pass", "pwd", "token", "secret", "key", "auth",
                                        "sig", "cred"};
    char lower[64];
    if (len >= sizeof lower)
        len = sizeof lower - 1;
    for (size_t i = 0; i < len; i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    lower[len] = '\0';
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(lower, words[i]))
            return 1;
    return 0;
}

/*
 * The next secret in text at or after *pos: sets [*start, *end) and returns 1,
 * or returns 0 when there is none. *pos moves past what was examined.
 * State between calls: *in_query points into the query of the URL being
 * scanned (NULL when not in one).
 */
static int next_secret(const char *text, size_t *pos, const char **in_query, size_t *start,
                       size_t *end)
{
    for (;;) {
        if (*in_query) {
            /* One name=value pair of the query per step. */
            const char *p = *in_query;
            while (!url_end(*p) && *p != '#') {
                const char *name = p;
                while (!url_end(*p) && *p != '=' && *p != '&' && *p != ';' && *p != '#')
                    p++;
                size_t nlen = (size_t)(p - name);
                if (*p != '=') {
                    if (*p == '&' || *p == ';')
                        p++;
                    continue;
                }
                const char *val = ++p;
                while (!url_end(*p) && *p != '&' && *p != ';' && *p != '#')
                    p++;
                if (*p == '&' || *p == ';')
                    p++;
                if (p > val && secret_name(name, nlen)) {
                    const char *ve = val;
                    while (!url_end(*ve) && *ve != '&' && *ve != ';' && *ve != '#')
                        ve++;
                    *in_query = p;
                    *start = (size_t)(val - text);
                    *end = (size_t)(ve - text);
                    *pos = (size_t)(p - text);
                    return 1;
                }
            }
            *in_query = NULL;
            *pos = (size_t)(p - text);
            continue;
        }
        const char *sep = strstr(text + *pos, "://");
        if (!sep)
            return 0;
        const char *auth = sep + 3;
        /* The authority ends at the path, the query or the fragment. */
        const char *p = auth;
        const char *at = NULL, *colon = NULL;
        while (!url_end(*p) && *p != '/' && *p != '?' && *p != '#') {
            if (*p == '@')
                at = p;
            p++;
        }
        for (const char *q = auth; q < (at ? at : p); q++)
            if (*q == ':') {
                colon = q;
                break;
            }
        *pos = (size_t)(p - text);
        if (*p == '?')
            *in_query = p + 1;
        else if (*p == '/') {
            /* The query, if any, after the path. */
            const char *q = p;
            while (!url_end(*q) && *q != '?' && *q != '#')
                q++;
            if (*q == '?')
                *in_query = q + 1;
            *pos = (size_t)(q - text);
        }
        if (at && colon && colon + 1 < at) {
            *start = (size_t)(colon + 1 - text);
            *end = (size_t)(at - text);
            return 1;
        }
        if (!at && colon && *p == '\0' && colon + 1 < p && !isdigit((unsigned char)colon[1])) {
            /* Cut short before its '@'? user:pass... with nothing after it is
             * masked; host:port (digits) is not. */
            *start = (size_t)(colon + 1 - text);
            *end = (size_t)(p - text);
            return 1;
        }
    }
}

int fer_redact(const char *text, char *out, size_t n)
{
    size_t pos = 0, o = 0, done = 0, s, e;
    const char *q = NULL;
    int any = 0;
    if (!n)
        return 0;
    while (next_secret(text, &pos, &q, &s, &e)) {
        any = 1;
        for (size_t i = done; i < s && o + 1 < n; i++)
            out[o++] = text[i];
        for (const char *m = "***"; *m && o + 1 < n; m++)
            out[o++] = *m;
        done = e;
    }
    for (size_t i = done; text[i] && o + 1 < n; i++)
        out[o++] = text[i];
    out[o] = '\0';
    return any;
}

int fer_redact_inplace(char *text)
{
    size_t pos = 0, s, e;
    const char *q = NULL;
    int any = 0;
    while (next_secret(text, &pos, &q, &s, &e)) {
        memset(text + s, '*', e - s);
        any = 1;
    }
    return any;
}
