/*
 * ferclient.h — libferclient: talk to ferd over its Unix socket (protocol v1,
 * proto/PROTOCOL.md) from C, the way libgps talks to gpsd.
 *
 * A session is: fer_client_open() (connect, read and check the VERSION
 * greeting), then requests and reads, then fer_client_close(). Messages arrive
 * one JSON line at a time; fer_client_read() hands each one back decoded into
 * the shared structs of proto/protocol.h (faces, boxes, scores), and
 * fer_client_line() gives the same line as raw text for callers that pass it
 * on unchanged (`ferctl watch --json`). Decoding uses the one decoder in proto/
 * that the daemon's encoder is tested against.
 *
 *     fer_client *c;
 *     fer_error err = {0};
 *     if (fer_client_open(&c, NULL, 5000, &err) < 0) { report err.msg; }
 *     fer_watch w;
 *     fer_watch_default(&w);
 *     fer_client_watch(c, &w, NULL, 5000, &err);
 *     fer_message m = {0};
 *     while (fer_client_read(c, -1, &m, &err) == 0)
 *         if (m.kind == FER_MSG_RESULT) { use m.u.result; }
 *     fer_message_clear(&m);
 *     fer_client_close(c);
 *
 * Two ways to wait: every read takes a timeout in milliseconds (-1 forever,
 * 0 never blocks), and fer_client_fd() is a non-blocking descriptor for a
 * caller's own poll/epoll/libuv loop: when it is readable, call
 * fer_client_read(c, 0, ...) until it returns -EAGAIN (a single readable event
 * may carry several lines, and lines already buffered raise no new event).
 *
 * Errors: every function returns 0 (or a count) on success and a negative code
 * on failure — a negated errno (-ENOENT: no socket at the path, -ECONNREFUSED:
 * nobody listening, -ETIMEDOUT, ...), FER_E_PROTO (a malformed line) or one of
 * the FER_CLIENT_E_* codes below. fer_client_strerror() describes any of them;
 * the optional fer_error gets a one-line message naming the socket path or the
 * offending key. The library never prints, never exits and never raises
 * SIGPIPE. A fer_client is not thread-safe; use one per thread.
 *
 * Link with `pkg-config --cflags --libs libferclient`: it needs cJSON and
 * nothing else (no OpenCV, no OpenBLAS).
 */
#ifndef FER_CLIENT_H
#define FER_CLIENT_H

#include <stddef.h>

#include "proto/protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(FER_CLIENT_BUILDING)
#define FER_CLIENT_API __attribute__((visibility("default")))
#else
#define FER_CLIENT_API
#endif

/* Where ferd listens when neither an argument nor $FERD_SOCKET says otherwise. */
#define FER_CLIENT_DEFAULT_SOCKET "/run/ferd/ferd.sock"
/* The environment variable that overrides the default socket path. */
#define FER_CLIENT_SOCKET_ENV "FERD_SOCKET"

/* The library's own failure codes, below libfer's FER_E_* range. */
enum {
    FER_CLIENT_E_BASE = -11000,
    FER_CLIENT_E_VERSION = FER_CLIENT_E_BASE, /* the daemon speaks another major protocol version */
    FER_CLIENT_E_GREETING,  /* the first line was not a VERSION object: not ferd? */
    FER_CLIENT_E_CLOSED,    /* the daemon closed the connection (stopped, or dropped us) */
    FER_CLIENT_E_TOOLONG,   /* a line longer than the daemon's announced maximum */
    FER_CLIENT_E_REFUSED,   /* the daemon answered a request with an ERROR object */
    FER_CLIENT_E_LAST
};

typedef struct fer_client fer_client;

/*
 * The socket path a client should use: path itself when it is not NULL or
 * empty, else $FERD_SOCKET when set and not empty, else
 * FER_CLIENT_DEFAULT_SOCKET. Never NULL; the result points into path, the
 * environment or a constant.
 */
FER_CLIENT_API const char *fer_client_socket_path(const char *path);

/*
 * Connects to ferd at fer_client_socket_path(path) and reads its greeting,
 * waiting at most timeout_ms for both (-1: forever). On success *out is a
 * connected client whose VERSION is known (fer_client_version). Errors:
 *   -ENOENT, -ECONNREFUSED   no daemon at that path (ferctl: "is it running?");
 *   -EACCES                  the socket exists but we may not connect;
 *   -ENAMETOOLONG            the path does not fit a sockaddr_un;
 *   -ETIMEDOUT               no greeting in time;
 *   FER_CLIENT_E_VERSION     a VERSION whose proto_major differs from ours;
 *   FER_CLIENT_E_REFUSED     the daemon greeted with an ERROR (too many clients);
 *   FER_CLIENT_E_GREETING    anything else first;
 *   FER_CLIENT_E_CLOSED      the daemon closed before greeting.
 * err->msg names the path (and, for a version mismatch, both versions).
 * *out is NULL on failure.
 */
FER_CLIENT_API int fer_client_open(fer_client **out, const char *path, int timeout_ms,
                                   fer_error *err);

/* Closes the connection and frees c; accepts NULL. */
FER_CLIENT_API void fer_client_close(fer_client *c);

/* The path c connected to. */
FER_CLIENT_API const char *fer_client_path(const fer_client *c);
/* The daemon's greeting. */
FER_CLIENT_API const fer_version_msg *fer_client_version(const fer_client *c);
/* The connection's descriptor, non-blocking, for poll(2) and event loops. The
 * library owns it: do not read, write or close it yourself. */
FER_CLIENT_API int fer_client_fd(const fer_client *c);
/* 1 when a complete line is already buffered (a read would not block). */
FER_CLIENT_API int fer_client_pending(const fer_client *c);
/* The message of the last SHUTDOWN object the daemon sent, "" if none. */
FER_CLIENT_API const char *fer_client_shutdown_message(const fer_client *c);

/*
 * Sends one request line (text without the newline, at most the daemon's
 * max_request minus one bytes), waiting at most timeout_ms for room in the
 * socket. -EMSGSIZE (too long), -EINVAL (a newline in text),
 * FER_CLIENT_E_CLOSED (the daemon has gone), -ETIMEDOUT, other -errno.
 */
FER_CLIENT_API int fer_client_send_line(fer_client *c, const char *text, int timeout_ms,
                                        fer_error *err);
/* Encodes req with the shared encoder and sends it. */
FER_CLIENT_API int fer_client_send(fer_client *c, const fer_request *req, int timeout_ms,
                                   fer_error *err);

/*
 * Reads the next line, waiting at most timeout_ms (-1 forever, 0 not at all).
 * On success *line points to it, NUL-terminated and without its newline, and
 * *len is its length; both stay valid until the next read or close. Errors:
 * -EAGAIN (timeout_ms 0 and no complete line), -ETIMEDOUT, FER_CLIENT_E_CLOSED
 * (end of stream: a partial last line is discarded), FER_CLIENT_E_TOOLONG (the
 * connection is then unusable), other -errno.
 */
FER_CLIENT_API int fer_client_read_line(fer_client *c, int timeout_ms, const char **line,
                                        size_t *len, fer_error *err);

/*
 * Reads the next line as fer_client_read_line() does and decodes it into m
 * (zero m before its first use; each call frees what the previous one left in
 * it; fer_message_clear() at the end). A class this version does not know
 * gives FER_MSG_UNKNOWN and 0. A line that does not decode returns FER_E_PROTO
 * and the connection stays usable: skip it or stop. A SHUTDOWN object is
 * returned like any other and also remembered (fer_client_shutdown_message).
 * The raw text of the line just read stays available via fer_client_line().
 */
FER_CLIENT_API int fer_client_read(fer_client *c, int timeout_ms, fer_message *m,
                                   fer_error *err);

/* The raw text of the last line read (without newline) and its length, valid
 * until the next read: after fer_client_open the greeting, after
 * fer_client_call the answer, after a read that failed to decode the line it
 * could not decode. "" and 0 after a read that returned no line. */
FER_CLIENT_API const char *fer_client_line(const fer_client *c, size_t *len);

/*
 * Sends req and reads until its answer: the object of the same class (WATCH,
 * POLL, STATUS, RELOAD), or an ERROR. Stream messages (RESULT, FACE) and
 * objects of unknown classes that arrive before the answer are discarded, so
 * call it before watching or use send and read yourself when that matters.
 * The whole exchange takes at most timeout_ms. The answer is in m either way;
 * an ERROR returns FER_CLIENT_E_REFUSED with err->msg "ferd refused CLASS:
 * message".
 */
FER_CLIENT_API int fer_client_call(fer_client *c, const fer_request *req, int timeout_ms,
                                   fer_message *m, fer_error *err);

/*
 * Shorthands over fer_client_call. fer_client_watch subscribes with w (NULL:
 * the defaults; w->enable 0 unsubscribes) and stores the daemon's
 * acknowledgement, with its caps applied, in *ack when ack is not NULL.
 * fer_client_poll asks for the latest result with the frame attached as image
 * says; the answer is a FER_MSG_POLL in m (m->u.result, m->image).
 * fer_client_status answers FER_MSG_STATUS (m->status), fer_client_reload
 * FER_MSG_RELOAD (m->u.reload).
 */
FER_CLIENT_API int fer_client_watch(fer_client *c, const fer_watch *w, fer_watch *ack,
                                    int timeout_ms, fer_error *err);
FER_CLIENT_API int fer_client_poll(fer_client *c, fer_image_kind image, int scores,
                                   int timeout_ms, fer_message *m, fer_error *err);
FER_CLIENT_API int fer_client_status(fer_client *c, int timeout_ms, fer_message *m,
                                     fer_error *err);
FER_CLIENT_API int fer_client_reload(fer_client *c, int timeout_ms, fer_message *m,
                                     fer_error *err);

/* A static English description of any code these functions return (negated
 * errno, FER_E_PROTO or FER_CLIENT_E_*). Never NULL. */
FER_CLIENT_API const char *fer_client_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
