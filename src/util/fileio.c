/*
 * fileio.c — see fileio.h. The temporary name carries the pid so concurrent
 * writers of the same path (two `fer train` runs sharing an output folder by
 * mistake) cannot clobber each other's half-written file.
 */
#include "util/fileio.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync the directory holding path so the rename itself is durable. */
static void sync_dir(const char *path)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* pid plus a process-wide counter: unique across processes and threads, and
 * O_EXCL makes a collision with a stale file an error rather than a clobber. */
static int create_temporary(const char *path, const char *suffix, char *tmp, size_t n,
                            fer_error *err)
{
    static atomic_uint counter;
    if (snprintf(tmp, n, "%s.tmp.%ld.%u%s", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1u), suffix ? suffix : "") >= (int)n)
        return fer_fail(err, -ENAMETOOLONG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", path);
        return fer_fail(err, -e, "%s: cannot create a file in %s: %s", path, dirname(dir),
                        strerror(e));
    }
    return fd;
}

int fer_atomic_open(fer_atomic_file *f, const char *path, const char *suffix, fer_error *err)
{
    f->fd = -1;
    f->tmp[0] = '\0';
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path)
        return fer_fail(err, -ENAMETOOLONG, "%s: path too long", path);
    int fd = create_temporary(path, suffix, f->tmp, sizeof f->tmp, err);
    if (fd < 0) {
        f->tmp[0] = '\0';
        return fd;
    }
    f->fd = fd;
    return 0;
}

void fer_atomic_close_fd(fer_atomic_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

int fer_atomic_commit(fer_atomic_file *f, fer_error *err)
{
    if (!f->tmp[0])
        return fer_fail(err, -EINVAL, "%s: nothing to commit", f->path);
    int rc = 0;
    if (f->fd >= 0) {
        if (fsync(f->fd) < 0)
            rc = -errno;
        if (close(f->fd) < 0 && rc == 0)
            rc = -errno;
        f->fd = -1;
    } else {
        /* Written by name: sync it through a descriptor of our own. */
        int fd = open(f->tmp, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
            rc = -errno;
        if (fd >= 0)
            close(fd);
    }
    if (rc == 0 && rename(f->tmp, f->path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(f->tmp);
        f->tmp[0] = '\0';
        return fer_fail(err, rc, "%s: cannot write: %s", f->path, strerror(-rc));
    }
    f->tmp[0] = '\0';
    sync_dir(f->path);
    return 0;
}

void fer_atomic_abort(fer_atomic_file *f)
{
    fer_atomic_close_fd(f);
    if (f->tmp[0])
        unlink(f->tmp);
    f->tmp[0] = '\0';
}

int fer_write_atomic(const char *path, const void *const *bufs, const size_t *lens, int n,
                     fer_error *err)
{
    char tmp[PATH_MAX];
    int fd = create_temporary(path, NULL, tmp, sizeof tmp, err);
    if (fd < 0)
        return fd;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = write_all(fd, bufs[i], lens[i]);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return fer_fail(err, rc, "%s: cannot write: %s", path, strerror(-rc));
    }
    sync_dir(path);
    return 0;
}

/* What a file that is not a regular one is, for messages. */
static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO (named pipe)";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    return "a special file";
}

int fer_open_regular(const char *path, struct stat *st, fer_error *err)
{
    /* O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer,
     * forever if none comes; with it the open returns at once and fstat
     * tells what the file is. O_NOCTTY: a terminal never becomes ours. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return fer_fail(err, -e, "%s: %s", path, strerror(e));
    }
    struct stat tmp;
    if (!st)
        st = &tmp;
    if (fstat(fd, st) < 0) {
        int e = errno;
        close(fd);
        return fer_fail(err, -e, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return fer_fail(err, S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL,
                        "%s: %s, not a regular file", path, file_kind(st->st_mode));
    }
    /* Reads of a regular file block as usual: nothing else ever changes. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int fer_read_file(const char *path, uint8_t **buf, size_t *len, size_t max_len, fer_error *err)
{
    *buf = NULL;
    *len = 0;
    struct stat st;
    int fd = fer_open_regular(path, &st, err);
    if (fd < 0)
        return fd;
    if ((uint64_t)st.st_size > max_len) {
        close(fd);
        return fer_fail(err, -EFBIG, "%s: %lld bytes, more than the %zu allowed", path,
                        (long long)st.st_size, max_len);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *p = malloc(size + 1);
    if (!p) {
        close(fd);
        return fer_fail(err, -ENOMEM, "%s: out of memory for %zu bytes", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, p + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int rc = r < 0 ? -errno : -EIO;
            free(p);
            close(fd);
            return fer_fail(err, rc, "%s: read failed: %s", path, strerror(-rc));
        }
        got += (size_t)r;
    }
    close(fd);
    p[size] = 0;
    *buf = p;
    *len = size;
    return 0;
}

/* The PID in NAME.tmp.PID.N (both numbers plain decimal), or 0 if name is not
 * one of fer_write_atomic's temporaries. */
static long temporary_pid(const char *name)
{
    const char *t = NULL;
    for (const char *p = strstr(name, ".tmp."); p; p = strstr(p + 1, ".tmp."))
        t = p; /* the last one: NAME itself may contain ".tmp." */
    if (!t || t == name)
        return 0;
    const char *p = t + 5;
    long pid = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 10; p++, digits++)
        pid = pid * 10 + (*p - '0');
    if (!digits || *p++ != '.' || !(*p >= '0' && *p <= '9'))
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        /* fer_atomic_open's suffix: an extension of letters and digits. */
        p++;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
            p++;
    }
    return *p ? 0 : pid;
}

int fer_remove_stale_temporaries(const char *dir, fer_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return fer_fail(err, -errno, "%s: cannot read: %s", dir, strerror(errno));
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid = temporary_pid(e->d_name);
        if (pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* running (or not ours to ask about): may still be writing */
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue;
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}
