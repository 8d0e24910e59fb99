/*
 * auth.c — loading and checking ferd-http's secret (auth.h).
 *
 * Basic authentication is decoded by libmicrohttpd; this file only recognises
 * the bearer form and compares. The comparison runs over the whole stored
 * secret whatever the guess, so the time it takes says nothing about how many
 * leading characters were right.
 */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int http_auth_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    /* Walk b (the secret) in full; a shorter or longer guess reads zeros. */
    unsigned diff = alen != blen;
    for (size_t i = 0; i < blen; i++) {
        unsigned char ca = i < alen ? (unsigned char)a[i] : 0;
        diff |= ca ^ (unsigned char)b[i];
    }
    return diff == 0;
}

void http_auth_clear(http_auth *a)
{
    volatile char *p = a->secret;
    for (size_t i = 0; i < sizeof a->secret; i++)
        p[i] = 0;
    a->len = 0;
    a->enabled = 0;
}

int http_auth_load(http_auth *a, const char *path, fer_error *err)
{
    memset(a, 0, sizeof *a);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return fer_fail(err, -errno, "auth_file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fer_fail(err, FER_E_INVAL, "auth_file %s: not a regular file", path);
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        close(fd);
        return fer_fail(err, -EPERM,
                        "auth_file %s: readable or writable by others (mode %04o); "
                        "chmod 0640 it (owner and ferd-http's group only)",
                        path, (unsigned)(st.st_mode & 07777));
    }
    char buf[HTTP_AUTH_MAX_LEN + 64];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return fer_fail(err, -e, "auth_file %s: %s", path, strerror(e));
    buf[n] = '\0';
    char *line = buf;
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    else if ((size_t)n == sizeof buf - 1)
        return fer_fail(err, FER_E_INVAL, "auth_file %s: the secret is longer than %d characters",
                        path, HTTP_AUTH_MAX_LEN);
    while (*line == ' ' || *line == '\t')
        line++;
    size_t len = strlen(line);
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
        line[--len] = '\0';
    int rc = 0;
    if (len < HTTP_AUTH_MIN_LEN || len > HTTP_AUTH_MAX_LEN) {
        rc = fer_fail(err, FER_E_INVAL,
                      "auth_file %s: the secret on its first line has %zu characters; "
                      "it needs %d to %d (e.g. head -c 24 /dev/urandom | base64)",
                      path, len, HTTP_AUTH_MIN_LEN, HTTP_AUTH_MAX_LEN);
    } else {
        for (size_t i = 0; i < len && rc == 0; i++)
            if ((unsigned char)line[i] < 0x21 || (unsigned char)line[i] > 0x7e)
                rc = fer_fail(err, FER_E_INVAL,
                              "auth_file %s: the secret may hold printable ASCII only, "
                              "without spaces (character %zu is not)",
                              path, i + 1);
    }
    if (rc == 0) {
        memcpy(a->secret, line, len);
        a->len = len;
        a->enabled = 1;
    }
    volatile char *p = buf;
    for (size_t i = 0; i < sizeof buf; i++)
        p[i] = 0;
    return rc;
}

int http_auth_check(const http_auth *a, const char *authorization, const char *basic_password)
{
    if (!a->enabled)
        return 1;
    int ok = 0;
    if (authorization && strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *t = authorization + 7;
        while (*t == ' ')
            t++;
        size_t tl = strlen(t);
        while (tl && t[tl - 1] == ' ')
            tl--;
        ok |= http_auth_equal(t, tl, a->secret, a->len);
    }
    if (basic_password)
        ok |= http_auth_equal(basic_password, strlen(basic_password), a->secret, a->len);
    return ok;
}
