/*
 * ferclient.c — the connection: connect, greeting, line framing, sending.
 *
 * Design. The socket is non-blocking from the start and every wait is a
 * poll(2) against one monotonic deadline, so a single timeout covers a whole
 * operation however many reads it takes, and the same descriptor serves
 * callers that block (ferctl) and callers with their own event loop.
 *
 * Incoming bytes go into one buffer that holds the unconsumed tail of the
 * stream. A line is handed out in place: its newline becomes a NUL and the
 * caller gets a pointer into the buffer, valid until the next read, so a
 * 4 MiB RESULT with a frame attached is never copied. The next read first
 * consumes that line, then looks for the next newline in what is buffered
 * (remembering how far it already looked, so a long line arriving in many
 * small pieces is scanned once), and only reads the socket when no complete
 * line is there. The buffer starts small and grows by doubling up to the
 * daemon's announced line limit (its VERSION's max_response, at most
 * FER_CLIENT_HARD_MAX); a longer line is a protocol violation and ends the
 * session, as gpsd's clients do.
 *
 * Decoding is proto/'s fer_message_parse, the decoder the daemon's encoder is
 * tested against; this file only frames lines. Requests go out with
 * MSG_NOSIGNAL, so a daemon that vanished is an error code, never a SIGPIPE.
 * Nothing here prints: failures are codes plus a message in the caller's
 * fer_error.
 */
#define FER_CLIENT_BUILDING 1
#include "ferclient.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"

/* First buffer size; most messages (RESULT without image, STATUS) fit. */
#define FER_CLIENT_INITIAL_BUF (64 * 1024)
/* Free room wanted before each read(2) call. */
#define FER_CLIENT_READ_CHUNK (16 * 1024)
/* No daemon may make us buffer more than this for one line, whatever it announces. */
#define FER_CLIENT_HARD_MAX (64 * 1024 * 1024)

struct fer_client {
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    fer_version_msg version;
    size_t max_line;        /* longest line accepted, newline included */

    char *buf;              /* stream bytes; [start, end) not yet consumed */
    size_t cap, start, end;
    size_t scanned;         /* [start, start + scanned) holds no newline */
    size_t taken;           /* bytes of the line handed out last (with its newline); 0 none */
    const char *line;       /* that line, NUL-terminated; "" if none */
    size_t line_len;
    int eof;                /* the daemon closed its end */
    int broken;             /* an over-long line: the stream cannot be resynchronised */

    char shutdown[256];
};

/* The deadline for a timeout (-1: none). */
static int64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : fer_mono_ms() + timeout_ms;
}

/* Milliseconds left until deadline for poll(2): -1 forever, 0 when past. */
static int remaining(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - fer_mono_ms();
    if (left <= 0)
        return 0;
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

/*
 * Waits until fd is ready for events or the deadline passes. 1 ready (or
 * hung up: the following read or write reports what happened), 0 timed out,
 * -errno.
 */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, remaining(deadline));
        if (rc > 0)
            return 1;
        if (rc == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

const char *fer_client_socket_path(const char *path)
{
    if (path && path[0])
        return path;
    const char *env = getenv(FER_CLIENT_SOCKET_ENV);
    if (env && env[0])
        return env;
    return FER_CLIENT_DEFAULT_SOCKET;
}

/* Connects fd to path before the deadline. 0 or -errno. */
static int connect_path(int fd, const char *path, int64_t deadline)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return 0;
        int e = errno;
        if (e == EINTR)
            continue;
        /* A Unix socket whose backlog is full answers EAGAIN to a non-blocking
         * connect; a busy daemon gets a moment, not an error. */
        if (e == EAGAIN) {
            if (remaining(deadline) == 0)
                return -ETIMEDOUT;
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        return -e;
    }
}

/* Reads and checks the greeting. 0 or a code with err filled. */
static int greet(fer_client *c, int64_t deadline, fer_error *err)
{
    const char *line;
    size_t len;
    /* remaining() says 0 once the deadline has passed; 0 would mean "do not wait". */
    int left = remaining(deadline);
    int rc = fer_client_read_line(c, left == 0 ? 1 : left, &line, &len, err);
    if (rc == -ETIMEDOUT)
        return fer_fail(err, rc, "%s: no greeting from the daemon in time", c->path);
    if (rc == FER_CLIENT_E_CLOSED)
        return fer_fail(err, rc, "%s: the daemon closed the connection before greeting", c->path);
    if (rc < 0)
        return rc;
    fer_message m;
    memset(&m, 0, sizeof m);
    fer_error perr = {0};
    rc = fer_message_parse(&m, line, len, &perr);
    if (rc < 0) {
        fer_message_clear(&m);
        return fer_fail(err, FER_CLIENT_E_GREETING, "%s: not a ferd greeting (%s)", c->path,
                     perr.msg);
    }
    if (m.kind == FER_MSG_ERROR) {
        rc = fer_fail(err, FER_CLIENT_E_REFUSED, "ferd at %s refused the connection: %s", c->path,
                   m.u.error.message);
    } else if (m.kind != FER_MSG_VERSION) {
        rc = fer_fail(err, FER_CLIENT_E_GREETING, "%s: first object is %s, not VERSION: not ferd?",
                   c->path, m.cls[0] ? m.cls : "unnamed");
    } else if (m.u.version.proto_major != FER_PROTO_MAJOR) {
        rc = fer_fail(err, FER_CLIENT_E_VERSION,
                   "ferd at %s speaks protocol %d.%d (release %s), this client speaks %d.%d: "
                   "install matching versions of ferd and its clients",
                   c->path, m.u.version.proto_major, m.u.version.proto_minor,
                   m.u.version.release, FER_PROTO_MAJOR, FER_PROTO_MINOR);
    } else {
        c->version = m.u.version;
        size_t max = c->version.max_response > 0 ? (size_t)c->version.max_response
                                                  : (size_t)FER_PROTO_MAX_RESPONSE;
        c->max_line = max < 1024 ? 1024 : max > FER_CLIENT_HARD_MAX ? FER_CLIENT_HARD_MAX : max;
        if (c->version.max_request <= 0)
            c->version.max_request = FER_PROTO_MAX_REQUEST;
    }
    fer_message_clear(&m);
    return rc;
}

int fer_client_open(fer_client **out, const char *path, int timeout_ms, fer_error *err)
{
    *out = NULL;
    path = fer_client_socket_path(path);
    fer_client *c = calloc(1, sizeof *c);
    if (!c)
        return fer_fail(err, -ENOMEM, "%s: out of memory", path);
    c->fd = -1;
    c->line = "";
    if (strlen(path) >= sizeof c->path) {
        free(c);
        return fer_fail(err, -ENAMETOOLONG, "%s: socket path longer than %zu bytes", path,
                     sizeof c->path - 1);
    }
    memcpy(c->path, path, strlen(path) + 1);
    /* Until the greeting says otherwise, the protocol's own limits. */
    c->max_line = FER_PROTO_MAX_RESPONSE;
    c->version.max_request = FER_PROTO_MAX_REQUEST;

    int64_t deadline = deadline_of(timeout_ms);
    int rc;
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        rc = fer_fail(err, -errno, "%s: socket: %s", path, strerror(errno));
        goto fail;
    }
    rc = connect_path(c->fd, c->path, deadline);
    if (rc < 0) {
        fer_fail(err, rc, "cannot connect to %s: %s", path, fer_client_strerror(rc));
        goto fail;
    }
    rc = greet(c, deadline, err);
    if (rc < 0)
        goto fail;
    *out = c;
    return 0;
fail:
    fer_client_close(c);
    return rc;
}

void fer_client_close(fer_client *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    free(c);
}

const char *fer_client_path(const fer_client *c)
{
    return c->path;
}

const fer_version_msg *fer_client_version(const fer_client *c)
{
    return &c->version;
}

int fer_client_fd(const fer_client *c)
{
    return c->fd;
}

const char *fer_client_shutdown_message(const fer_client *c)
{
    return c->shutdown;
}

const char *fer_client_line(const fer_client *c, size_t *len)
{
    if (len)
        *len = c->line_len;
    return c->line;
}

/* Drops the line handed out last from the buffer. */
static void consume_line(fer_client *c)
{
    c->start += c->taken;
    c->taken = 0;
    c->line = "";
    c->line_len = 0;
    if (c->start == c->end)
        c->start = c->end = 0;
}

/* The offset of the next newline after start, or -1; advances c->scanned. */
static ptrdiff_t find_newline(fer_client *c)
{
    const char *from = c->buf + c->start + c->scanned;
    size_t n = c->end - c->start - c->scanned;
    const char *nl = n ? memchr(from, '\n', n) : NULL;
    if (!nl) {
        c->scanned += n;
        return -1;
    }
    return nl - c->buf;
}

int fer_client_pending(const fer_client *c)
{
    /* A const look: scan without touching the bookkeeping. */
    size_t from = c->start + c->taken;
    return from < c->end && memchr(c->buf + from, '\n', c->end - from) != NULL;
}

/* Makes room for at least one read chunk, compacting and growing up to the
 * line limit. 0, -ENOMEM, or FER_CLIENT_E_TOOLONG when the partial line
 * already fills the limit. */
static int make_room(fer_client *c, fer_error *err)
{
    size_t used = c->end - c->start;
    if (used >= c->max_line) {
        c->broken = 1;
        return fer_fail(err, FER_CLIENT_E_TOOLONG, "%s: a line longer than %zu bytes from the daemon",
                     c->path, c->max_line);
    }
    if (c->start > 0 && c->cap - c->end < FER_CLIENT_READ_CHUNK) {
        memmove(c->buf, c->buf + c->start, used);
        c->start = 0;
        c->end = used;
    }
    if (c->cap - c->end >= FER_CLIENT_READ_CHUNK || c->cap >= c->max_line + 1)
        return 0;
    size_t cap = c->cap ? c->cap * 2 : FER_CLIENT_INITIAL_BUF;
    if (cap > c->max_line + 1)
        cap = c->max_line + 1;
    char *b = realloc(c->buf, cap);
    if (!b)
        return fer_fail(err, -ENOMEM, "%s: out of memory for a %zu-byte line", c->path, cap);
    c->buf = b;
    c->cap = cap;
    return 0;
}

int fer_client_read_line(fer_client *c, int timeout_ms, const char **line, size_t *len,
                         fer_error *err)
{
    *line = NULL;
    *len = 0;
    consume_line(c);
    if (c->broken)
        return fer_fail(err, FER_CLIENT_E_TOOLONG, "%s: the stream is out of step after an "
                     "over-long line", c->path);
    int64_t deadline = deadline_of(timeout_ms);
    for (;;) {
        ptrdiff_t nl = c->buf ? find_newline(c) : -1;
        if (nl >= 0) {
            size_t n = (size_t)nl - c->start;
            if (n + 1 > c->max_line) {
                c->broken = 1;
                return fer_fail(err, FER_CLIENT_E_TOOLONG,
                             "%s: a line of %zu bytes from the daemon, more than its limit %zu",
                             c->path, n + 1, c->max_line);
            }
            char *s = c->buf + c->start;
            s[n] = '\0';
            c->taken = n + 1;
            c->scanned = 0;
            if (n && s[n - 1] == '\r')
                s[--n] = '\0';
            c->line = s;
            c->line_len = n;
            *line = s;
            *len = n;
            return 0;
        }
        if (c->eof)
            return fer_fail(err, FER_CLIENT_E_CLOSED, "ferd at %s closed the connection%s%s",
                         c->path, c->shutdown[0] ? ": " : "", c->shutdown);
        int rc = make_room(c, err);
        if (rc < 0)
            return rc;
        ssize_t got = read(c->fd, c->buf + c->end, c->cap - c->end);
        if (got > 0) {
            c->end += (size_t)got;
            continue;
        }
        if (got == 0) {
            /* Whatever partial line is left can never complete. */
            c->eof = 1;
            c->start = c->end = 0;
            c->scanned = 0;
            continue;
        }
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == ECONNRESET) {
            c->eof = 1;
            continue;
        }
        if (e != EAGAIN)
            return fer_fail(err, -e, "%s: read: %s", c->path, strerror(e));
        if (timeout_ms == 0)
            return -EAGAIN;
        rc = wait_fd(c->fd, POLLIN, deadline);
        if (rc == 0)
            return fer_fail(err, -ETIMEDOUT, "%s: no message from the daemon in %d ms", c->path,
                         timeout_ms);
        if (rc < 0)
            return fer_fail(err, rc, "%s: poll: %s", c->path, strerror(-rc));
    }
}

int fer_client_read(fer_client *c, int timeout_ms, fer_message *m, fer_error *err)
{
    const char *line;
    size_t len;
    int rc = fer_client_read_line(c, timeout_ms, &line, &len, err);
    if (rc < 0) {
        fer_message_clear(m);
        return rc;
    }
    rc = fer_message_parse(m, line, len, err);
    if (rc < 0)
        return rc;
    if (m->kind == FER_MSG_SHUTDOWN)
        snprintf(c->shutdown, sizeof c->shutdown, "%s",
                 m->u.shutdown[0] ? m->u.shutdown : "the daemon is shutting down");
    return 0;
}

int fer_client_send_line(fer_client *c, const char *text, int timeout_ms, fer_error *err)
{
    size_t n = strlen(text);
    if (n + 1 > (size_t)c->version.max_request)
        return fer_fail(err, -EMSGSIZE, "%s: request of %zu bytes, the daemon accepts %d", c->path,
                     n + 1, c->version.max_request);
    if (memchr(text, '\n', n))
        return fer_fail(err, -EINVAL, "%s: a request must be one line", c->path);
    char *msg = malloc(n + 1);
    if (!msg)
        return fer_fail(err, -ENOMEM, "%s: out of memory", c->path);
    memcpy(msg, text, n);
    msg[n] = '\n';
    int64_t deadline = deadline_of(timeout_ms);
    size_t off = 0;
    int rc = 0;
    while (off < n + 1) {
        ssize_t w = send(c->fd, msg + off, n + 1 - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0) {
            off += (size_t)w;
            continue;
        }
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EPIPE || e == ECONNRESET) {
            rc = fer_fail(err, FER_CLIENT_E_CLOSED, "ferd at %s closed the connection", c->path);
            break;
        }
        if (e != EAGAIN) {
            rc = fer_fail(err, -e, "%s: send: %s", c->path, strerror(e));
            break;
        }
        int wr = wait_fd(c->fd, POLLOUT, deadline);
        if (wr == 0) {
            rc = fer_fail(err, -ETIMEDOUT, "%s: the daemon is not reading our request", c->path);
            break;
        }
        if (wr < 0) {
            rc = fer_fail(err, wr, "%s: poll: %s", c->path, strerror(-wr));
            break;
        }
    }
    free(msg);
    return rc;
}

int fer_client_send(fer_client *c, const fer_request *req, int timeout_ms, fer_error *err)
{
    char *text = NULL;
    int rc = fer_request_to_json(req, &text);
    if (rc < 0)
        return fer_fail(err, rc, "%s: cannot encode the request: %s", c->path,
                     fer_client_strerror(rc));
    rc = fer_client_send_line(c, text, timeout_ms, err);
    free(text);
    return rc;
}
