/*
 * password.c — the broker password, read from password_file (config.h,
 * fmq_read_password).
 *
 * Only the first line is the password, so a file written with a trailing
 * newline (echo, editors) works; the file is read into a stack buffer of
 * fixed size that is wiped before returning, and no message this file makes
 * ever contains any of its bytes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fmq_read_password(const char *path, char *out, size_t n, int *loose, char *why, size_t whyn)
{
    *loose = 0;
    if (n)
        out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        snprintf(why, whyn, "password_file %.200s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(why, whyn, "password_file %.200s: not a regular file", path);
        return -EINVAL;
    }
    *loose = (st.st_mode & 0007) != 0;
    char buf[FMQ_SECRET_MAX + 2];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t r = read(fd, buf + got, sizeof buf - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            snprintf(why, whyn, "password_file %.200s: %s", path, strerror(e));
            return -e;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    size_t len = 0;
    while (len < got && buf[len] != '\n')
        len++;
    int rc = 0;
    if (len < got && len > 0 && buf[len - 1] == '\r')
        len--;
    if (len == got && got == sizeof buf)
        snprintf(why, whyn, "password_file %.200s: longer than %d bytes", path,
                 FMQ_SECRET_MAX - 1), rc = -EINVAL;
    else if (len >= n || len >= FMQ_SECRET_MAX)
        snprintf(why, whyn, "password_file %.200s: longer than %d bytes", path,
                 FMQ_SECRET_MAX - 1), rc = -EINVAL;
    else if (len == 0)
        snprintf(why, whyn, "password_file %.200s: empty first line", path), rc = -EINVAL;
    else if (memchr(buf, '\0', len))
        snprintf(why, whyn, "password_file %.200s: NUL byte in the password", path),
            rc = -EINVAL;
    if (rc == 0) {
        memcpy(out, buf, len);
        out[len] = '\0';
    }
    /* The secret leaves no copy on the stack. */
    explicit_bzero(buf, sizeof buf);
    return rc;
}
