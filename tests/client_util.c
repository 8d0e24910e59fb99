/*
 * client_util.c — the client tests' fake server, process runner and scratch
 * directory (see client_util.h).
 *
 * The fake server is a forked process that plays a fixed script of steps on
 * one listening socket. The parent binds and listens before forking, so a
 * client started right after fs_start() can connect at once; the child then
 * owns the socket. The child reports a broken expectation through its exit
 * status, which the test checks with fs_wait(), so assertions stay in the
 * test process where Check can see them.
 */
#include "client_util.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferd_harness.h"
#include "scratch.h"
#include "util/clock.h"

char cu_dir[256];

void cu_setup(void)
{
    scratch_make(cu_dir, sizeof cu_dir, "client");
    fh_remove_on_exit(cu_dir); /* also when meson's timeout ends the test program */
}

void cu_cleanup(void)
{
    if (cu_dir[0]) {
        fh_removed(cu_dir);
        scratch_remove(cu_dir);
    }
}

const char *cu_path(const char *name)
{
    return scratch_path(cu_dir, name);
}

/* ---- protocol lines ---- */

static const char *const class_names[7] = {"angry", "disgust", "fear", "happy",
                                           "sad", "surprise", "neutral"};

fer_frame_result cu_result(uint64_t seq, int nfaces)
{
    fer_frame_result r;
    memset(&r, 0, sizeof r);
    r.seq = seq;
    r.wall_ms = 1795860000123LL + (int64_t)seq * 66; /* 2026-11-28T10:00:00.123Z + */
    r.mono_ns = 1000000000ULL + seq * 66000000ULL;
    r.width = 640;
    r.height = 480;
    r.detect_ms = 2.5;
    r.classify_ms = 1.25;
    r.total_ms = 4.0;
    r.nclasses = 7;
    for (int c = 0; c < 7; c++)
        snprintf(r.classes[c], sizeof r.classes[c], "%s", class_names[c]);
    r.has_scores = 1;
    r.nfaces = nfaces;
    for (int i = 0; i < nfaces; i++) {
        fer_face_result *f = &r.faces[i];
        f->id = i + 1;
        f->box = (fer_box){100 + 150 * i, 120, 96, 96};
        for (int c = 0; c < 7; c++)
            f->scores[c] = 0.05f;
        f->label = 3;
        f->scores[3] = 0.70f;
        f->prob = 0.70f;
        f->smoothed_label = 3;
        f->smoothed_prob = 0.65f;
        f->previous_label = -1;
    }
    return r;
}

char *cu_result_line(uint64_t seq, int nfaces)
{
    fer_frame_result r = cu_result(seq, nfaces);
    char *line = NULL;
    ck_assert_int_eq(fer_result_msg_to_json(&r, 0, NULL, 0, 0, &line), 0);
    return line;
}

char *cu_version_line(int major, int minor, int max_response)
{
    fer_version_msg v;
    memset(&v, 0, sizeof v);
    snprintf(v.release, sizeof v.release, "9.9.9-test");
    v.proto_major = major;
    v.proto_minor = minor;
    v.max_request = FER_PROTO_MAX_REQUEST;
    v.max_response = max_response;
    char *line = NULL;
    ck_assert_int_eq(fer_version_to_json(&v, &line), 0);
    return line;
}

char *cu_watch_ack_line(const fer_watch *w)
{
    char *s = NULL;
    ck_assert_int_eq(fer_watch_to_json(w, &s), 0);
    return s;
}

char *cu_status_line(void)
{
    fer_status_msg *s = calloc(1, sizeof *s);
    snprintf(s->release, sizeof s->release, "9.9.9-test");
    s->uptime = 3723.5;
    s->pid = 4242;
    snprintf(s->source.name, sizeof s->source.name, "samples/demo.avi");
    snprintf(s->source.kind, sizeof s->source.kind, "video");
    snprintf(s->source.state, sizeof s->source.state, "streaming");
    s->source.fps = 15;
    s->source.width = 640;
    s->source.height = 480;
    s->has_model = 1;
    snprintf(s->model.name, sizeof s->model.name, "default");
    snprintf(s->model.path, sizeof s->model.path, "/usr/share/ferd/models/default.fermodel");
    s->model.nclasses = 7;
    s->model.params = 123456;
    s->model.val_acc = 0.612;
    s->model.test_acc = -1;
    s->clients.connected = 2;
    s->clients.watching = 1;
    s->clients.max = 16;
    s->frames.captured = 300;
    s->frames.processed = 290;
    s->frames.dropped = 10;
    s->latency.p50 = 12.5;
    s->latency.p99 = 30.25;
    s->latency.samples = 290;
    s->nlist = 1;
    s->list[0] = (fer_status_client){.id = 3, .uid = 1000, .pid = 77, .watching = 1,
                                     .sent = 100, .dropped = 2, .queued = 2048};
    char *line = NULL;
    ck_assert_int_eq(fer_status_to_json(s, &line), 0);
    free(s);
    return line;
}

/* ---- the fake server ---- */

static int send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One send for the line and its newline, so a client that stops reading after
 * a complete line never makes the server's next write fail. */
static int send_line(int fd, const char *s)
{
    size_t n = strlen(s);
    char *b = malloc(n + 1);
    if (!b)
        return -1;
    memcpy(b, s, n);
    b[n] = '\n';
    int rc = send_all(fd, b, n + 1);
    free(b);
    return rc;
}

/* Reads one line (at most n - 1 bytes) within timeout_ms. 0, or -1. */
static int read_line(int fd, char *buf, size_t n, int timeout_ms)
{
    size_t len = 0;
    int64_t end = fer_mono_ms() + timeout_ms;
    while (len + 1 < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(end - fer_mono_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return -1;
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r <= 0)
            return -1;
        if (ch == '\n') {
            buf[len] = '\0';
            return 0;
        }
        buf[len++] = ch;
    }
    return -1;
}

__attribute__((noreturn)) static void fs_die(const char *what, const char *detail)
{
    fprintf(stderr, "fake server: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    _exit(1);
}

__attribute__((noreturn)) static void fs_run(int lfd, const fs_step *steps)
{
    int fd = -1;
    uint64_t seq = 1;
    char buf[8192];
    for (const fs_step *s = steps; s->op != FS_END; s++) {
        switch (s->op) {
        case FS_ACCEPT: {
            if (fd >= 0)
                close(fd);
            struct pollfd p = {.fd = lfd, .events = POLLIN};
            if (poll(&p, 1, 15000) <= 0)
                fs_die("no connection within 15 s", NULL);
            fd = accept(lfd, NULL, NULL);
            if (fd < 0)
                fs_die("accept", strerror(errno));
            break;
        }
        case FS_GREET: {
            char *v = cu_version_line(s->n ? s->n : FER_PROTO_MAJOR, FER_PROTO_MINOR,
                                      s->text ? atoi(s->text) : FER_PROTO_MAX_RESPONSE);
            int rc = send_line(fd, v);
            free(v);
            if (rc < 0)
                fs_die("send VERSION", strerror(errno));
            break;
        }
        case FS_SEND:
            if (send_line(fd, s->text) < 0)
                fs_die("send", strerror(errno));
            break;
        case FS_SEND_RAW:
            if (send_all(fd, s->text, s->n ? (size_t)s->n : strlen(s->text)) < 0)
                fs_die("send", strerror(errno));
            break;
        case FS_RESULTS:
            for (int i = 0; i < s->n; i++) {
                char *line = cu_result_line(seq++, 1);
                int rc = send_line(fd, line);
                int e = errno;
                free(line);
                /* A client that has read what it wanted may leave mid-stream. */
                if (rc < 0 && (e == EPIPE || e == ECONNRESET))
                    break;
                if (rc < 0)
                    fs_die("send RESULT", strerror(e));
            }
            break;
        case FS_EXPECT:
            if (read_line(fd, buf, sizeof buf, 10000) < 0)
                fs_die("no request line within 10 s", s->text);
            if (!strstr(buf, s->text))
                fs_die("unexpected request", buf);
            break;
        case FS_SLEEP: {
            struct timespec ts = {s->n / 1000, (long)(s->n % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            break;
        }
        case FS_CLOSE:
            close(fd);
            fd = -1;
            break;
        case FS_HOLD: {
            int64_t end = fer_mono_ms() + (s->n ? s->n : 10000);
            for (;;) {
                int left = (int)(end - fer_mono_ms());
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (left <= 0 || poll(&p, 1, left) <= 0)
                    break;
                if (read(fd, buf, sizeof buf) <= 0)
                    break;
            }
            break;
        }
        case FS_END:
            break;
        }
    }
    if (fd >= 0)
        close(fd);
    close(lfd);
    _exit(0);
}

pid_t fs_start(const char *path, const fs_step *steps)
{
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(lfd, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    ck_assert_uint_lt(strlen(path), sizeof sa.sun_path);
    strcpy(sa.sun_path, path);
    unlink(path);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* A test that fails ends its process; its server must not linger. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fs_run(lfd, steps);
    }
    close(lfd);
    return pid;
}

int fs_wait(pid_t pid, int timeout_ms)
{
    int64_t end = fer_mono_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (fer_mono_ms() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ---- running programs ---- */

static void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = (*cap ? *cap : 4096);
        while (c < *len + n + 1)
            c *= 2;
        *buf = realloc(*buf, c);
        ck_assert_ptr_nonnull(*buf);
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

void cu_run(char *const argv[], const char *const env[], int timeout_ms, cu_run_result *res)
{
    memset(res, 0, sizeof *res);
    int po[2], pe[2];
    ck_assert_int_eq(pipe2(po, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(pe, O_CLOEXEC), 0);
    /* The harness's rules: it dies with the test, and is killed at the deadline. */
    pid_t pid = fh_spawn_fds(argv, env, po[1], pe[1], -1);
    ck_assert_int_gt(pid, 0);
    close(po[1]);
    close(pe[1]);
    size_t ocap = 0, ecap = 0;
    append(&res->out, &res->out_len, &ocap, "", 0);
    append(&res->err, &res->err_len, &ecap, "", 0);
    int64_t end = fer_mono_ms() + timeout_ms;
    int open_fds = 2, killed = 0;
    struct pollfd p[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
    while (open_fds > 0) {
        int left = (int)(end - fer_mono_ms());
        if (left <= 0) {
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
        if (poll(p, 2, left) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[65536];
            ssize_t r = read(p[i].fd, buf, sizeof buf);
            if (r <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                open_fds--;
            } else if (i == 0) {
                append(&res->out, &res->out_len, &ocap, buf, (size_t)r);
            } else {
                append(&res->err, &res->err_len, &ecap, buf, (size_t)r);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (p[i].fd >= 0)
            close(p[i].fd);
    int st = fh_wait_pid(pid, 5000);
    if (st == -1) {
        kill(pid, SIGKILL);
        st = fh_wait_pid(pid, 5000);
        killed = 1;
    }
    res->status = killed ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void cu_run_free(cu_run_result *res)
{
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof *res);
}

int cu_count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

char *cu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        append(&buf, &n, &cap, chunk, r);
    fclose(f);
    if (!buf)
        append(&buf, &n, &cap, "", 0);
    if (len)
        *len = n;
    return buf;
}
