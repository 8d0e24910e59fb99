/*
 * test_client.c — libferclient against a fake server, and ferctl's text
 * renderings.
 *
 * The fake server (client_util.c) is a forked process playing a script on a
 * temporary Unix socket, so every case is deterministic and needs no daemon:
 * the greeting and its checks (version mismatch, errors, silence), framing
 * (split lines, CRLF, many lines in one read, over-long lines, a 1.5 MB image
 * line), timeouts and the non-blocking fd, requests and their answers with
 * stream messages in between, a daemon that closes or shuts down; and the
 * library's exports, exactly the functions of its installed headers. The
 * ferctl binary against the same kind of server is test_ferctl_fake.c.
 */
#include <check.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_util.h"
#include "ferclient.h"
#include "ferctl_format.h"

static void setup(void)
{
    cu_setup();
}

static void teardown(void)
{
    cu_cleanup();
}

/* A server that greets and then holds the connection open. */
static const fs_step greet_hold[] = {{FS_ACCEPT, NULL, 0}, {FS_GREET, NULL, 0},
                                     {FS_HOLD, NULL, 0}, {FS_END, NULL, 0}};

static fer_client *open_ok(const char *path)
{
    fer_client *c = NULL;
    fer_error err = {0};
    int rc = fer_client_open(&c, path, 5000, &err);
    ck_assert_msg(rc == 0, "open: %d %s", rc, err.msg);
    return c;
}

/* The exact request line the encoder makes for req. */
static char *request_line(const fer_request *req)
{
    char *s = NULL;
    ck_assert_int_eq(fer_request_to_json(req, &s), 0);
    return s;
}

static fer_request watch_request(const fer_watch *w)
{
    fer_request req;
    memset(&req, 0, sizeof req);
    req.kind = FER_REQ_WATCH;
    req.watch = *w;
    return req;
}

/* ---------------------------------------------------------------- library */

START_TEST(t_socket_path)
{
    unsetenv(FER_CLIENT_SOCKET_ENV);
    ck_assert_str_eq(fer_client_socket_path(NULL), FER_CLIENT_DEFAULT_SOCKET);
    ck_assert_str_eq(fer_client_socket_path(""), FER_CLIENT_DEFAULT_SOCKET);
    setenv(FER_CLIENT_SOCKET_ENV, "/tmp/env.sock", 1);
    ck_assert_str_eq(fer_client_socket_path(NULL), "/tmp/env.sock");
    ck_assert_str_eq(fer_client_socket_path("/tmp/arg.sock"), "/tmp/arg.sock");
    setenv(FER_CLIENT_SOCKET_ENV, "", 1);
    ck_assert_str_eq(fer_client_socket_path(NULL), FER_CLIENT_DEFAULT_SOCKET);
    unsetenv(FER_CLIENT_SOCKET_ENV);
}
END_TEST

START_TEST(t_absent)
{
    fer_client *c = (fer_client *)1;
    fer_error err = {0};
    const char *path = cu_path("none.sock");
    ck_assert_int_eq(fer_client_open(&c, path, 1000, &err), -ENOENT);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(err.msg, path));

    /* A socket file nobody listens on (a daemon that died). */
    const char *dead = cu_path("dead.sock");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, dead);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    ck_assert_int_eq(fer_client_open(&c, dead, 1000, &err), -ECONNREFUSED);

    char longpath[200];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    ck_assert_int_eq(fer_client_open(&c, longpath, 1000, &err), -ENAMETOOLONG);
}
END_TEST

START_TEST(t_greeting)
{
    const char *path = cu_path("s.sock");
    pid_t srv = fs_start(path, greet_hold);
    fer_client *c = open_ok(path);
    const fer_version_msg *v = fer_client_version(c);
    ck_assert_str_eq(v->release, "9.9.9-test");
    ck_assert_int_eq(v->proto_major, FER_PROTO_MAJOR);
    ck_assert_int_eq(v->max_request, FER_PROTO_MAX_REQUEST);
    ck_assert_str_eq(fer_client_path(c), path);
    ck_assert_int_ge(fer_client_fd(c), 0);
    /* The greeting is the current line, for callers that print it raw. */
    size_t len;
    const char *line = fer_client_line(c, &len);
    ck_assert_int_eq(strncmp(line, "{\"class\":\"VERSION\"", 18), 0);
    ck_assert_uint_eq(len, strlen(line));
    fer_client_close(c);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
}
END_TEST

START_TEST(t_version_mismatch)
{
    const char *path = cu_path("s.sock");
    static const fs_step steps[] = {{FS_ACCEPT, NULL, 0}, {FS_GREET, NULL, 2},
                                    {FS_HOLD, NULL, 0}, {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    fer_client *c = NULL;
    fer_error err = {0};
    ck_assert_int_eq(fer_client_open(&c, path, 5000, &err), FER_CLIENT_E_VERSION);
    ck_assert_ptr_null(c);
    char want[32];
    snprintf(want, sizeof want, "protocol 2.%d", FER_PROTO_MINOR); /* the fake greets so */
    ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, path), "%s", err.msg);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
}
END_TEST

START_TEST(t_greeting_error)
{
    const char *path = cu_path("s.sock");
    static const fs_step steps[] = {
        {FS_ACCEPT, NULL, 0},
        {FS_SEND, "{\"class\":\"ERROR\",\"code\":\"too_many_clients\",\"message\":\"16 clients "
                  "already\"}", 0},
        {FS_CLOSE, NULL, 0},
        {FS_ACCEPT, NULL, 0},
        {FS_SEND, "SSH-2.0-OpenSSH_9.2", 0},
        {FS_CLOSE, NULL, 0},
        {FS_ACCEPT, NULL, 0},
        {FS_CLOSE, NULL, 0},
        {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    fer_client *c = NULL;
    fer_error err = {0};
    ck_assert_int_eq(fer_client_open(&c, path, 5000, &err), FER_CLIENT_E_REFUSED);
    ck_assert_ptr_nonnull(strstr(err.msg, "16 clients already"));
    ck_assert_int_eq(fer_client_open(&c, path, 5000, &err), FER_CLIENT_E_GREETING);
    ck_assert_int_eq(fer_client_open(&c, path, 5000, &err), FER_CLIENT_E_CLOSED);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
}
END_TEST

START_TEST(t_greeting_timeout)
{
    const char *path = cu_path("s.sock");
    static const fs_step steps[] = {{FS_ACCEPT, NULL, 0}, {FS_HOLD, NULL, 3000},
                                    {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    fer_client *c = NULL;
    fer_error err = {0};
    int64_t t0 = fer_mono_ms();
    ck_assert_int_eq(fer_client_open(&c, path, 300, &err), -ETIMEDOUT);
    int64_t dt = fer_mono_ms() - t0;
    ck_assert_msg(dt >= 250 && dt < 2000, "open took %lld ms", (long long)dt);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
}
END_TEST

START_TEST(t_watch_and_stream)
{
    const char *path = cu_path("s.sock");
    fer_watch w;
    fer_watch_default(&w);
    w.max_fps = 5;
    w.min_prob = 0.25;
    w.scores = 0;
    fer_request req = watch_request(&w);
    char *expect = request_line(&req);
    char *ack = cu_watch_ack_line(&w);
    char *r4 = cu_result_line(4, 2);
    size_t half = strlen(r4) / 2;
    char *first = strndup(r4, half);
    char *second = malloc(strlen(r4) - half + 3);
    sprintf(second, "%s\r\n", r4 + half); /* CRLF is accepted too */
    const fs_step steps[] = {{FS_ACCEPT, NULL, 0}, {FS_GREET, NULL, 0},
                             {FS_EXPECT, expect, 0}, {FS_SEND, ack, 0},
                             {FS_RESULTS, NULL, 3}, {FS_SEND_RAW, first, 0},
                             {FS_SLEEP, NULL, 150}, {FS_SEND_RAW, second, 0},
                             {FS_HOLD, NULL, 0}, {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    fer_client *c = open_ok(path);
    fer_error err = {0};
    fer_watch got;
    ck_assert_int_eq(fer_client_watch(c, &w, &got, 5000, &err), 0);
    ck_assert_double_eq_tol(got.max_fps, 5, 1e-9);
    ck_assert_double_eq_tol(got.min_prob, 0.25, 1e-9);
    ck_assert_int_eq(got.scores, 0);
    fer_message m = {0};
    for (uint64_t seq = 1; seq <= 4; seq++) {
        ck_assert_int_eq(fer_client_read(c, 5000, &m, &err), 0);
        ck_assert_int_eq(m.kind, FER_MSG_RESULT);
        ck_assert_uint_eq(m.u.result.seq, seq);
    }
    ck_assert_int_eq(m.u.result.nfaces, 2);
    ck_assert_int_eq(m.u.result.faces[1].box.x, 250);
    ck_assert_str_eq(m.u.result.classes[m.u.result.faces[0].label], "happy");
    size_t len;
    ck_assert_str_eq(fer_client_line(c, &len), r4);
    fer_message_clear(&m);
    fer_client_close(c);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
    free(expect);
    free(ack);
    free(r4);
    free(first);
    free(second);
}
END_TEST

START_TEST(t_timeouts)
{
    const char *path = cu_path("s.sock");
    pid_t srv = fs_start(path, greet_hold);
    fer_client *c = open_ok(path);
    fer_error err = {0};
    const char *line;
    size_t len;
    ck_assert_int_eq(fer_client_read_line(c, 0, &line, &len, &err), -EAGAIN);
    ck_assert_ptr_null(line);
    int64_t t0 = fer_mono_ms();
    fer_message m = {0};
    ck_assert_int_eq(fer_client_read(c, 200, &m, &err), -ETIMEDOUT);
    int64_t dt = fer_mono_ms() - t0;
    ck_assert_msg(dt >= 190 && dt < 1500, "read took %lld ms", (long long)dt);
    ck_assert_int_eq(m.kind, FER_MSG_UNKNOWN);
    fer_client_close(c);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
}
END_TEST

/* A caller's own event loop: poll the fd, drain with timeout 0 until EAGAIN. */
START_TEST(t_event_loop)
{
    const char *path = cu_path("s.sock");
    static const fs_step steps[] = {{FS_ACCEPT, NULL, 0}, {FS_GREET, NULL, 0},
                                    {FS_SLEEP, NULL, 100}, {FS_RESULTS, NULL, 5},
                                    {FS_SLEEP, NULL, 100}, {FS_RESULTS, NULL, 3},
                                    {FS_HOLD, NULL, 0},    {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    fer_client *c = open_ok(path);
    fer_message m = {0};
    fer_error err = {0};
    uint64_t next = 1;
    int64_t end = fer_mono_ms() + 5000;
    while (next <= 8 && fer_mono_ms() < end) {
        struct pollfd p = {.fd = fer_client_fd(c), .events = POLLIN};
        ck_assert_int_ge(poll(&p, 1, 1000), 0);
        int rc;
        while ((rc = fer_client_read(c, 0, &m, &err)) == 0) {
            ck_assert_int_eq(m.kind, FER_MSG_RESULT);
            ck_assert_uint_eq(m.u.result.seq, next);
            next++;
        }
        ck_assert_int_eq(rc, -EAGAIN);
        ck_assert_int_eq(fer_client_pending(c), 0);
    }
    ck_assert_uint_eq(next, 9);
    fer_message_clear(&m);
    fer_client_close(c);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
}
END_TEST

START_TEST(t_shutdown_and_close)
{
    const char *path = cu_path("s.sock");
    static const fs_step steps[] = {
        {FS_ACCEPT, NULL, 0},
        {FS_GREET, NULL, 0},
        {FS_RESULTS, NULL, 2},
        {FS_SEND, "{\"class\":\"SHUTDOWN\",\"message\":\"ferd is stopping (SIGTERM)\"}", 0},
        {FS_SEND_RAW, "{\"class\":\"RESU", 0}, /* a partial line, then the end */
        {FS_CLOSE, NULL, 0},
        {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    fer_client *c = open_ok(path);
    fer_message m = {0};
    fer_error err = {0};
    ck_assert_int_eq(fer_client_read(c, 5000, &m, &err), 0);
    ck_assert_int_eq(fer_client_read(c, 5000, &m, &err), 0);
    ck_assert_int_eq(m.kind, FER_MSG_RESULT);
    ck_assert_int_eq(fer_client_read(c, 5000, &m, &err), 0);
    ck_assert_int_eq(m.kind, FER_MSG_SHUTDOWN);
    ck_assert_str_eq(fer_client_shutdown_message(c), "ferd is stopping (SIGTERM)");
    ck_assert_int_eq(fer_client_read(c, 5000, &m, &err), FER_CLIENT_E_CLOSED);
    ck_assert_ptr_nonnull(strstr(err.msg, "SIGTERM"));
    /* Closed stays closed, and sending says so without a SIGPIPE. */
    ck_assert_int_eq(fer_client_read(c, 0, &m, &err), FER_CLIENT_E_CLOSED);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
    ck_assert_int_eq(fer_client_send_line(c, "{\"class\":\"STATUS\"}", 1000, &err),
                     FER_CLIENT_E_CLOSED);
    fer_message_clear(&m);
    fer_client_close(c);
}
END_TEST

START_TEST(t_call_refused)
{
    const char *path = cu_path("s.sock");
    static const fs_step steps[] = {
        {FS_ACCEPT, NULL, 0},
        {FS_GREET, NULL, 0},
        {FS_EXPECT, "{\"class\":\"POLL\",\"image\":\"jpeg\"}", 0},
        {FS_RESULTS, NULL, 2},
        {FS_SEND, "{\"class\":\"ERROR\",\"code\":\"forbidden\",\"message\":\"images are "
                  "disabled on this daemon\",\"request\":\"POLL\"}", 0},
        {FS_HOLD, NULL, 0},
        {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    fer_client *c = open_ok(path);
    fer_message m = {0};
    fer_error err = {0};
    ck_assert_int_eq(fer_client_poll(c, FER_IMAGE_JPEG, 1, 5000, &m, &err),
                     FER_CLIENT_E_REFUSED);
    ck_assert_int_eq(m.kind, FER_MSG_ERROR);
    ck_assert_str_eq(m.u.error.code, "forbidden");
    ck_assert_msg(strstr(err.msg, "POLL") && strstr(err.msg, "images are disabled"), "%s",
                  err.msg);
    fer_message_clear(&m);
    fer_client_close(c);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
}
END_TEST

START_TEST(t_call_skips_stream)
{
    const char *path = cu_path("s.sock");
    char *st = cu_status_line();
    const fs_step steps[] = {{FS_ACCEPT, NULL, 0},
                             {FS_GREET, NULL, 0},
                             {FS_EXPECT, "{\"class\":\"STATUS\"}", 0},
                             {FS_RESULTS, NULL, 2},
                             {FS_SEND, "{\"class\":\"FUTURE\",\"x\":1}", 0},
                             {FS_SEND, "{\"class\":\"RESULT\",\"seq\":\"bad\"}", 0},
                             {FS_SEND, st, 0},
                             {FS_HOLD, NULL, 0},
                             {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    fer_client *c = open_ok(path);
    fer_message m = {0};
    fer_error err = {0};
    ck_assert_int_eq(fer_client_status(c, 5000, &m, &err), 0);
    ck_assert_int_eq(m.kind, FER_MSG_STATUS);
    ck_assert_ptr_nonnull(m.status);
    ck_assert_str_eq(m.status->source.state, "streaming");
    ck_assert_int_eq(m.status->nlist, 1);
    fer_message_clear(&m);
    fer_client_close(c);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
    free(st);
}
END_TEST

START_TEST(t_unknown_and_malformed)
{
    const char *path = cu_path("s.sock");
    static const fs_step steps[] = {{FS_ACCEPT, NULL, 0},
                                    {FS_GREET, NULL, 0},
                                    {FS_SEND, "{\"class\":\"FUTURE\",\"x\":1}", 0},
                                    {FS_SEND, "not json", 0},
                                    {FS_SEND, "", 0},
                                    {FS_RESULTS, NULL, 1},
                                    {FS_HOLD, NULL, 0},
                                    {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    fer_client *c = open_ok(path);
    fer_message m = {0};
    fer_error err = {0};
    ck_assert_int_eq(fer_client_read(c, 5000, &m, &err), 0);
    ck_assert_int_eq(m.kind, FER_MSG_UNKNOWN);
    ck_assert_str_eq(m.cls, "FUTURE");
    ck_assert_int_eq(fer_client_read(c, 5000, &m, &err), FER_E_PROTO);
    size_t len;
    ck_assert_str_eq(fer_client_line(c, &len), "not json");
    ck_assert_uint_eq(len, 8);
    ck_assert_int_eq(fer_client_read(c, 5000, &m, &err), FER_E_PROTO); /* empty line */
    /* The stream is still usable after bad lines. */
    ck_assert_int_eq(fer_client_read(c, 5000, &m, &err), 0);
    ck_assert_int_eq(m.kind, FER_MSG_RESULT);
    fer_message_clear(&m);
    fer_client_close(c);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
}
END_TEST

START_TEST(t_too_long)
{
    const char *path = cu_path("s.sock");
    char *big = malloc(5001);
    memset(big, 'x', 5000);
    big[5000] = '\0';
    memcpy(big, "{\"class\":\"RESULT\",\"pad\":\"", 25);
    const fs_step steps[] = {{FS_ACCEPT, NULL, 0}, {FS_GREET, "2000", 0},
                             {FS_SEND, big, 0},     {FS_HOLD, NULL, 0},
                             {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    fer_client *c = open_ok(path);
    ck_assert_int_eq(fer_client_version(c)->max_response, 2000);
    fer_message m = {0};
    fer_error err = {0};
    int rc = fer_client_read(c, 5000, &m, &err);
    ck_assert_msg(rc == FER_CLIENT_E_TOOLONG, "%d: %s", rc, err.msg);
    ck_assert_int_eq(fer_client_read(c, 5000, &m, &err), FER_CLIENT_E_TOOLONG);
    fer_client_close(c);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
    free(big);
}
END_TEST

/* A POLL answer with a 1.5 MB frame: the buffer grows, the bytes survive. */
START_TEST(t_big_image)
{
    const char *path = cu_path("s.sock");
    fer_frame_result r = cu_result(77, 1);
    fer_image_data img = {.kind = FER_IMAGE_JPEG, .width = 640, .height = 480};
    img.len = 1500000;
    img.jpeg = malloc(img.len);
    for (size_t i = 0; i < img.len; i++)
        img.jpeg[i] = (uint8_t)(i * 2654435761u >> 13);
    char *line = NULL;
    ck_assert_int_eq(fer_result_msg_to_json(&r, 0, &img, 0, 1, &line), 0);
    const fs_step steps[] = {{FS_ACCEPT, NULL, 0},
                             {FS_GREET, NULL, 0},
                             {FS_EXPECT, "\"POLL\"", 0},
                             {FS_SEND, line, 0},
                             {FS_HOLD, NULL, 0},
                             {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    fer_client *c = open_ok(path);
    fer_message m = {0};
    fer_error err = {0};
    ck_assert_int_eq(fer_client_poll(c, FER_IMAGE_JPEG, 1, 10000, &m, &err), 0);
    ck_assert_int_eq(m.kind, FER_MSG_POLL);
    ck_assert_uint_eq(m.u.result.seq, 77);
    ck_assert_uint_eq(m.image.len, img.len);
    ck_assert_int_eq(memcmp(m.image.jpeg, img.jpeg, img.len), 0);
    fer_message_clear(&m);
    fer_client_close(c);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
    free(line);
    free(img.jpeg);
}
END_TEST

START_TEST(t_send_checks)
{
    const char *path = cu_path("s.sock");
    pid_t srv = fs_start(path, greet_hold);
    fer_client *c = open_ok(path);
    fer_error err = {0};
    char *big = malloc(FER_PROTO_MAX_REQUEST + 1);
    memset(big, 'a', FER_PROTO_MAX_REQUEST);
    big[FER_PROTO_MAX_REQUEST] = '\0';
    ck_assert_int_eq(fer_client_send_line(c, big, 1000, &err), -EMSGSIZE);
    ck_assert_int_eq(fer_client_send_line(c, "{}\n{}", 1000, &err), -EINVAL);
    fer_request req = {.kind = FER_REQ_NONE};
    fer_message m = {0};
    ck_assert_int_eq(fer_client_call(c, &req, 1000, &m, &err), -EINVAL);
    free(big);
    fer_client_close(c);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
}
END_TEST

START_TEST(t_strerror)
{
    int codes[] = {0, FER_CLIENT_E_VERSION, FER_CLIENT_E_GREETING, FER_CLIENT_E_CLOSED,
                   FER_CLIENT_E_TOOLONG, FER_CLIENT_E_REFUSED, FER_E_PROTO, -ENOENT,
                   -ECONNREFUSED, -ETIMEDOUT, -EACCES, FER_E_CHECKSUM, -123456};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = fer_client_strerror(codes[i]);
        ck_assert_ptr_nonnull(s);
        ck_assert_int_gt((int)strlen(s), 3);
    }
    ck_assert_str_ne(fer_client_strerror(FER_CLIENT_E_CLOSED),
                     fer_client_strerror(FER_CLIENT_E_REFUSED));
    ck_assert_ptr_nonnull(strstr(fer_client_strerror(-ETIMEDOUT), "timed out"));
    fer_client_close(NULL);
}
END_TEST

/* ---------------------------------------------------------------- formats */

static char *render_result(const fer_frame_result *r, int *last)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    ferctl_print_result(f, r, last);
    fclose(f);
    return buf;
}

START_TEST(t_format_watch)
{
    setenv("TZ", "UTC", 1);
    tzset();
    int last = -1;
    fer_frame_result r = cu_result(5, 2);
    r.faces[1].events = FER_FACE_NEW | FER_FACE_LABEL_CHANGED;
    r.faces[1].previous_label = 4;
    char *s = render_result(&r, &last);
    ck_assert_int_eq(cu_count_lines(s), 2);
    ck_assert_msg(strstr(s, "10:00:00.453  frame 5       face 1    happy     0.65  at 100,120 96x96\n"),
                  "%s", s);
    ck_assert_ptr_nonnull(strstr(s, "face 2    happy     0.65  at 250,120 96x96  new  (was sad)"));
    free(s);
    fer_frame_result empty = cu_result(6, 0);
    s = render_result(&empty, &last);
    ck_assert_ptr_nonnull(strstr(s, "frame 6       no face"));
    free(s);
    s = render_result(&empty, &last); /* an empty scene prints once */
    ck_assert_str_eq(s, "");
    free(s);

    fer_face_event ev = {.event = FER_EVENT_CHANGED, .seq = 9, .wall_ms = 1795860000123LL,
                         .id = 4, .box = {1, 2, 3, 4}, .prob = 0.5f};
    snprintf(ev.label, sizeof ev.label, "sad");
    snprintf(ev.from, sizeof ev.from, "happy");
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    ferctl_print_face_event(f, &ev);
    ev.event = FER_EVENT_ENDED;
    ferctl_print_face_event(f, &ev);
    fclose(f);
    ck_assert_msg(strstr(buf, "face 4    changed   sad       0.50  at 1,2 3x4  (was happy)\n"),
                  "%s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "face 4    ended   \n"));
    free(buf);
}
END_TEST

START_TEST(t_format_status)
{
    char *line = cu_status_line();
    fer_message m = {0};
    ck_assert_int_eq(fer_message_parse(&m, line, strlen(line), NULL), 0);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    ferctl_print_status(f, m.status);
    fclose(f);
    ck_assert_msg(strstr(buf, "ferd 9.9.9-test, pid 4242, up 01:02:03\n"), "%s", buf);
    ck_assert_ptr_nonnull(strstr(buf, "source   samples/demo.avi (video): streaming, 15.0 fps, "
                                      "640x480\n"));
    ck_assert_ptr_nonnull(strstr(buf, "validation accuracy 61.2%"));
    ck_assert_ptr_null(strstr(buf, "test accuracy")); /* absent, not 0 */
    ck_assert_ptr_nonnull(strstr(buf, "frames   300 captured, 290 processed, 10 dropped"));
    ck_assert_ptr_nonnull(strstr(buf, "latency  p50 12.5 ms, p99 30.2 ms"));
    ck_assert_ptr_nonnull(strstr(buf, "client 3    uid 1000  pid 77      watching, 100 sent, "
                                      "2 dropped, 2.0 KiB queued"));
    free(buf);
    fer_message_clear(&m);
    free(line);

    fer_reload_msg r = {0};
    snprintf(r.model.name, sizeof r.model.name, "default");
    r.model.nclasses = 7;
    r.model.val_acc = -1;
    r.nrestart = 2;
    snprintf(r.restart[0], sizeof r.restart[0], "socket");
    snprintf(r.restart[1], sizeof r.restart[1], "source");
    buf = NULL;
    f = open_memstream(&buf, &n);
    ferctl_print_reload(f, &r);
    fer_frame_result snap = cu_result(8, 1);
    ferctl_print_snapshot(f, &snap);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "reloaded: model default, 7 classes\n"));
    ck_assert_ptr_nonnull(strstr(buf, "restart: socket, source\n"));
    ck_assert_ptr_nonnull(strstr(buf, "frame 8 at "));
    ck_assert_ptr_nonnull(strstr(buf, " angry 0.05 disgust 0.05 fear 0.05 happy 0.70"));
    free(buf);
}
END_TEST

/* ---- the ABI: exactly the documented functions ---- */

/* Adds name to set (at most 64 names of 63 bytes) unless present. */
static void add_name(char (*set)[64], int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(set[i], name) == 0)
            return;
    ck_assert_int_lt(*n, 64);
    snprintf(set[(*n)++], 64, "%.63s", name);
}

/* Every function an installed header declares: lines that start a declaration
 * (not a comment, a preprocessor line or a typedef) and name fer_...( . */
static void header_functions(const char *rel, char (*set)[64], int *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", getenv("FER_SOURCE_ROOT"), rel);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == ' ' || line[0] == '/' || line[0] == '#' || line[0] == '\n' ||
            line[0] == '}' || strncmp(line, "typedef", 7) == 0)
            continue;
        for (char *p = strstr(line, "fer_"); p; p = strstr(p + 1, "fer_")) {
            size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
            if (p[len] != '(' || (p > line && (p[-1] == '_' || isalnum((unsigned char)p[-1]))))
                continue;
            p[len] = '\0';
            add_name(set, n, p);
            break;
        }
    }
    fclose(f);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The names, space-separated (64 names of at most 63 bytes fit). */
static char *joined(char (*set)[64], int n)
{
    static char buf[64 * 64 + 1];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(set[i]);
        memcpy(buf + len, set[i], l);
        buf[len + l] = ' ';
        len += l + 1;
    }
    buf[len] = '\0';
    return buf;
}

/*
 * libferclient.so exports exactly the functions its installed headers declare
 * (ferclient.h and proto/protocol.h), the version script names the same list,
 * and nothing else leaks: no ferproto encoder, no libferutil helper, no cJSON.
 */
START_TEST(t_exports)
{
    const char *lib = getenv("FER_CLIENT_LIB");
    ck_assert_msg(lib && *lib, "FER_CLIENT_LIB not set (meson sets it)");
    static char want[64][64], got[64][64], map[64][64];
    int nwant = 0, ngot = 0, nmap = 0;
    header_functions("client/ferclient.h", want, &nwant);
    header_functions("proto/protocol.h", want, &nwant);
    ck_assert_int_ge(nwant, 20);

    char cmd[1200];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only --format=posix '%s'", lib);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char name[256], type[8];
        if (sscanf(line, "%255s %7s", name, type) != 2 || strcmp(type, "A") == 0)
            continue; /* "A": the version node FERCLIENT_0 itself */
        char *at = strchr(name, '@');
        if (at)
            *at = '\0';
        add_name(got, &ngot, name);
    }
    ck_assert_int_eq(pclose(f), 0);

    char mpath[1024];
    snprintf(mpath, sizeof mpath, "%s/client/ferclient.map", getenv("FER_SOURCE_ROOT"));
    f = fopen(mpath, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f)) {
        char name[128];
        if (sscanf(line, " %127[a-z0-9_];", name) == 1 && strncmp(name, "fer_", 4) == 0)
            add_name(map, &nmap, name);
    }
    fclose(f);

    qsort(want, (size_t)nwant, sizeof want[0], by_name);
    qsort(got, (size_t)ngot, sizeof got[0], by_name);
    qsort(map, (size_t)nmap, sizeof map[0], by_name);
    static char w[64 * 64 + 1];
    snprintf(w, sizeof w, "%s", joined(want, nwant));
    ck_assert_msg(ngot == nwant && strcmp(joined(got, ngot), w) == 0,
                  "exported: %s\ndeclared: %s", joined(got, ngot), w);
    ck_assert_msg(nmap == nwant && strcmp(joined(map, nmap), w) == 0,
                  "ferclient.map: %s\ndeclared: %s", joined(map, nmap), w);
    /* Every exported symbol carries the version node. */
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s' | grep -c '@@FERCLIENT_0$'", lib);
    f = popen(cmd, "r");
    int versioned = 0;
    ck_assert_int_eq(fscanf(f, "%d", &versioned), 1);
    pclose(f);
    ck_assert_int_eq(versioned, nwant);
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *lib = tcase_create("library");
    tcase_add_checked_fixture(lib, setup, teardown);
    tcase_set_timeout(lib, 30);
    tcase_add_test(lib, t_socket_path);
    tcase_add_test(lib, t_absent);
    tcase_add_test(lib, t_greeting);
    tcase_add_test(lib, t_version_mismatch);
    tcase_add_test(lib, t_greeting_error);
    tcase_add_test(lib, t_greeting_timeout);
    tcase_add_test(lib, t_watch_and_stream);
    tcase_add_test(lib, t_timeouts);
    tcase_add_test(lib, t_event_loop);
    tcase_add_test(lib, t_shutdown_and_close);
    tcase_add_test(lib, t_call_refused);
    tcase_add_test(lib, t_call_skips_stream);
    tcase_add_test(lib, t_unknown_and_malformed);
    tcase_add_test(lib, t_too_long);
    tcase_add_test(lib, t_big_image);
    tcase_add_test(lib, t_send_checks);
    tcase_add_test(lib, t_strerror);
    tcase_add_test(lib, t_exports);
    suite_add_tcase(s, lib);

    TCase *fmt = tcase_create("format");
    tcase_add_test(fmt, t_format_watch);
    tcase_add_test(fmt, t_format_status);
    suite_add_tcase(s, fmt);

    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
