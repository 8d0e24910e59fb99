/*
 * test_daemon.c — the real ferd binary on a temporary socket, driven as its
 * clients drive it.
 *
 * Once per run (an unchecked fixture, in the parent) the test writes a short
 * clip — a face moving across a grey frame, then frames without it — and a
 * random-weight model. Each test then starts ferd with its own config file
 * through the tests' harness (ferd_harness.h: the daemon dies with the test,
 * waits poll a condition with a deadline, every notification is kept), waits
 * for READY=1 on a NOTIFY_SOCKET (so every test also checks the readiness
 * protocol), talks to it over the socket, and stops it with SIGTERM, expecting
 * exit status 0. The daemon's stderr goes to a file in the test's directory
 * and is printed when a test fails. A test that fails in Check's fork mode
 * ends its process at once: its ferd dies with it (PR_SET_PDEATHSIG), and
 * shared_teardown, in the parent, removes every test's directory and socket.
 *
 * Covered (issue 5, Tests): VERSION on connect; the watch stream (increasing
 * seq, the RESULT schema, scores on/off); POLL with and without watchers;
 * STATUS; RELOAD with a good and a bad model and with restart-only keys; every
 * kind of bad request answered with ERROR on a usable connection; an over-long
 * line; max_clients; a never-reading client dropped then disconnected (soft)
 * while another keeps receiving; the hard limit; request rate and watch rate
 * limits; abrupt disconnects; SIGHUP and SIGTERM; socket activation with a
 * passed descriptor; READY/STATUS/STOPPING on NOTIFY_SOCKET; images refused
 * when not allowed and delivered as JPEG of the frame size when allowed; a
 * missing or corrupt model at start; a missing source that appears later; a
 * video that ends; FACE events; idle behaviour; --check-config; socket mode.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cv/image.h"
#include "cv/video_write.h"
#include "net/arch.h"
#include "net/model.h"
#include "proto/protocol.h"
#include "ferd_harness.h"
#include "util/clock.h"
#include "vision_util.h"

#define CLIP_W 320
#define CLIP_H 240
#define CLIP_FPS 30
#define CLIP_FACE_FRAMES 40   /* frames 0..39 show the face */
#define CLIP_FRAMES 60

static char shared_dir[256]; /* model and clip, made once */
static char dir[300];        /* this test's files */

/* ---- small utilities ---- */

/* FERD_TEST_TIME_SCALE (an integer, default 1) stretches every deadline and
 * settling pause, for runs under valgrind where ferd is 20-50 times slower;
 * the windows that measure a rate are left alone. */
static int tscale = 1;

static int T(int ms)
{
    return ms * tscale;
}

/* Monotonic milliseconds, for measuring windows (waits use fh_deadline). */
static uint64_t now_ms(void)
{
    return (uint64_t)fer_mono_ms();
}

/* A deadline T(ms) from now. */
static fh_deadline within(int ms)
{
    return fh_deadline_in(T(ms));
}

static const char *path_in(const char *base, const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", base, name);
    return buf[k];
}

static const char *tpath(const char *name)
{
    return path_in(dir, name);
}

static const char *spath(const char *name)
{
    return path_in(shared_dir, name);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, b), n);
    fclose(a);
    ck_assert_int_eq(fclose(b), 0);
}

/* ---- the shared clip and model (parent, once) ---- */

static void make_model(const char *path, uint64_t seed)
{
    fer_error err = {0};
    fer_arch *arch = NULL;
    int rc = fer_arch_load(&arch, tu_source("models/default.arch"), &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    fer_model m;
    memset(&m, 0, sizeof m);
    rc = fer_net_create(&m.net, arch, 1, 0, seed, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    fer_preproc_default(&m.pre);
    fer_meta_init(&m.meta);
    m.meta.val_acc = 0.5f;
    rc = fer_model_save(&m, path, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    fer_net_free(m.net);
}

static void make_clip(const char *path)
{
    fer_error err = {0};
    fer_video_writer *v = NULL;
    int rc = fer_video_writer_open(&v, path, CLIP_W, CLIP_H, CLIP_FPS, 90, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    fer_image face = tu_face();
    for (int i = 0; i < CLIP_FRAMES; i++) {
        fer_image f = tu_blank(CLIP_W, CLIP_H, 120);
        if (i < CLIP_FACE_FRAMES)
            tu_paste(&f, &face, 40 + i * 2, 50);
        rc = fer_video_writer_write(v, &f, &err);
        ck_assert_msg(rc == 0, "%s", err.msg);
        fer_image_free(&f);
    }
    fer_image_free(&face);
    ck_assert_int_eq(fer_video_writer_close(v, &err), 0);
}

static void shared_setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(shared_dir, sizeof shared_dir, "%s/ferd-test-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(shared_dir));
    fh_remove_on_exit(shared_dir); /* also when meson's timeout ends this program */
    snprintf(tu_dir, sizeof tu_dir, "%s", shared_dir);
    make_model(spath("model.fermodel"), 7);
    make_model(spath("model2.fermodel"), 8);
    make_clip(spath("clip.avi"));
}

static void shared_teardown(void)
{
    snprintf(tu_dir, sizeof tu_dir, "%s", shared_dir);
    tu_cleanup();
    fh_removed(shared_dir);
}

/* ---- the daemon (tests/ferd_harness.c: its rules in ferd_harness.h) ---- */

static fh_daemon D;
static const char *spawn_env; /* "NAME=value" added to the daemon's environment, or NULL */
static char D_conf[300];

/* Default settings of every test; extra lines appended by the test override. */
static void write_conf(const char *extra)
{
    char text[8192];
    snprintf(text, sizeof text,
             "source %s\n"
             "model %s\n"
             "socket %s\n"
             "socket_mode 0660\n"
             "log_level debug\n"
             "retry_initial_ms 100\n"
             "retry_max_ms 200\n"
             "min_face 40\n"
             "poll_timeout_ms %d\n"
             "%s",
             spath("clip.avi"), tpath("model.fermodel"), tpath("ferd.sock"), T(3000),
             extra ? extra : "");
    write_text(tpath("ferd.conf"), text);
}

static void collect_notify(int timeout_ms)
{
    fh_collect_notify(&D, timeout_ms);
}

static void dump_log(void)
{
    fh_dump_log(&D, stderr);
}

/*
 * Starts ferd with args (NULL-terminated, after argv[0]) as D, serving sock
 * (NULL: not ours to remove). listen_fd >= 0 is passed as fd 3 with
 * LISTEN_FDS=1. With wait_ready, waits for READY=1 (failing the test after
 * 20 s, or at once if ferd exits). Returns the pid.
 */
static pid_t spawn_as(fh_daemon *d, const char *prefix, const char *const *args, int listen_fd,
                      const char *sock, int wait_ready)
{
    const char *env[] = {spawn_env, NULL};
    fh_opts o = {.args = args, .env = env, .listen_fd = listen_fd, .sock = sock,
                 .wait = wait_ready ? FH_WAIT_READY : FH_WAIT_NONE, .timeout_ms = T(20000)};
    char msg[2048];
    int rc = fh_start(d, dir, prefix, &o, msg, sizeof msg);
    ck_assert_msg(rc == 0, "%s", msg);
    return d->pid;
}

static pid_t spawn(const char *const *args, int listen_fd, const char *sock, int wait_ready)
{
    return spawn_as(&D, NULL, args, listen_fd, sock, wait_ready);
}

/* Starts ferd on this test's config (extra settings appended). */
static void start(const char *extra)
{
    write_conf(extra);
    snprintf(D_conf, sizeof D_conf, "%s", tpath("ferd.conf"));
    const char *args[] = {"--config", D_conf, NULL};
    spawn(args, -1, tpath("ferd.sock"), 1);
}

/* Waits for D to exit by itself (up to T(ms)): its wait status, or -1. */
static int wait_exit(int ms)
{
    return fh_wait_exit(&D, T(ms));
}

/* SIGTERM, and the exit status must be 0. */
static void stop(void)
{
    if (D.pid <= 0)
        return;
    pid_t pid = D.pid;
    int st = fh_stop(&D, T(15000));
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        dump_log();
    ck_assert_msg(st != -1, "ferd %d did not stop within 15 s of SIGTERM", (int)pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ferd exit status %d", st);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "%s/t-XXXXXX", shared_dir);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    copy_file(spath("model.fermodel"), tpath("model.fermodel"));
    memset(&D, 0, sizeof D);
    D.notify_fd = -1;
}

/* Runs after a test that passed (and, without fork mode, after one that
 * failed). After a failure in fork mode the test process is gone without it:
 * the daemon died with it (PR_SET_PDEATHSIG) and shared_teardown removes the
 * scratch tree with every socket. */
static void teardown(void)
{
    fh_cleanup(&D);
}

/* ---- a client ---- */

#define CBUF (8 * 1024 * 1024)

typedef struct client {
    int fd;
    char *buf;
    size_t len;
    int eof;
    char line[CBUF];
} client;

static client *cli_connect_to(const char *path)
{
    client *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    c->buf = malloc(CBUF);
    ck_assert_ptr_nonnull(c->buf);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c->fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int rc = connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
    ck_assert_msg(rc == 0, "connect %s: %s", path, strerror(errno));
    return c;
}

static client *cli_connect(void)
{
    return cli_connect_to(D.sock[0] ? D.sock : tpath("ferd.sock"));
}

static void cli_close(client *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c->buf);
    free(c);
}

static void cli_send(client *c, const char *text)
{
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, text + off, len - off, MSG_NOSIGNAL);
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        off += (size_t)n;
    }
}

/* The next line (without its newline) within timeout_ms (not scaled), or NULL
 * (EOF or timeout). */
static const char *cli_line_raw(client *c, int timeout_ms)
{
    uint64_t t0 = now_ms();
    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - c->buf);
            memcpy(c->line, c->buf, n);
            c->line[n] = '\0';
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return c->line;
        }
        if (c->eof)
            return NULL;
        int left = timeout_ms - (int)(now_ms() - t0);
        if (left <= 0)
            return NULL;
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, left) <= 0)
            continue;
        ck_assert_msg(c->len < CBUF, "line longer than the client buffer");
        ssize_t n = recv(c->fd, c->buf + c->len, CBUF - c->len, 0);
        if (n <= 0) {
            c->eof = 1;
            continue;
        }
        c->len += (size_t)n;
    }
}

/* The same within T(timeout_ms). */
static const char *cli_line(client *c, int timeout_ms)
{
    return cli_line_raw(c, T(timeout_ms));
}

static fer_message M;

/* The next message of class cls (others are skipped), parsed into M. */
static fer_message *cli_expect(client *c, const char *cls, int timeout_ms)
{
    uint64_t t0 = now_ms();
    timeout_ms = T(timeout_ms);
    for (;;) {
        int left = timeout_ms - (int)(now_ms() - t0);
        const char *l = cli_line_raw(c, left > 0 ? left : 0);
        ck_assert_msg(l != NULL, "no %s message within %d ms%s", cls, timeout_ms,
                      c->eof ? " (connection closed)" : "");
        fer_error err = {0};
        int rc = fer_message_parse(&M, l, strlen(l), &err);
        ck_assert_msg(rc == 0, "unparsable line (%s): %.300s", err.msg, l);
        if (strcmp(M.cls, cls) == 0)
            return &M;
    }
}

/* Reads until EOF (within T(timeout_ms)): 1 if the daemon closed the
 * connection. Every line read on the way must be a protocol message (a
 * client being dropped still gets whole lines); their number goes to *lines. */
static int cli_wait_eof_n(client *c, int timeout_ms, int *lines)
{
    fh_deadline dl = within(timeout_ms);
    int n = 0;
    while (!c->eof && fh_deadline_left(&dl) > 0) {
        const char *l = cli_line_raw(c, fh_deadline_left(&dl));
        if (!l)
            continue;
        fer_error err = {0};
        ck_assert_msg(fer_message_parse(&M, l, strlen(l), &err) == 0,
                      "before EOF, an unparsable line (%s): %.200s", err.msg, l);
        n++;
    }
    if (lines)
        *lines = n;
    return c->eof;
}

static int cli_wait_eof(client *c, int timeout_ms)
{
    return cli_wait_eof_n(c, timeout_ms, NULL);
}

/* A fresh connection's greeting, checked. */
static client *cli_open(void)
{
    client *c = cli_connect();
    fer_message *m = cli_expect(c, "VERSION", 5000);
    ck_assert_int_eq(m->kind, FER_MSG_VERSION);
    ck_assert_int_eq(m->u.version.proto_major, FER_PROTO_MAJOR);
    return c;
}

static fer_status_msg *status_of(client *c)
{
    static fer_status_msg s;
    cli_send(c, "{\"class\":\"STATUS\"}\n");
    fer_message *m = cli_expect(c, "STATUS", 5000);
    ck_assert_ptr_nonnull(m->status);
    s = *m->status;
    return &s;
}

static fer_status_msg *status_now(void)
{
    client *c = cli_open();
    fer_status_msg *s = status_of(c);
    cli_close(c);
    return s;
}

/* The ERROR answering the last request; its code must be code. */
static void expect_error(client *c, const char *code)
{
    fer_message *m = cli_expect(c, "ERROR", 5000);
    ck_assert_msg(strcmp(m->u.error.code, code) == 0, "ERROR code \"%s\", expected \"%s\" (%s)",
                  m->u.error.code, code, m->u.error.message);
}

/* ---- tests ---- */

START_TEST(t_version_on_connect)
{
    start(NULL);
    client *c = cli_connect();
    const char *l = cli_line(c, 5000);
    ck_assert_ptr_nonnull(l);
    ck_assert_msg(strncmp(l, "{\"class\":\"VERSION\"", 18) == 0, "first line: %s", l);
    fer_error err = {0};
    ck_assert_int_eq(fer_message_parse(&M, l, strlen(l), &err), 0);
    ck_assert_int_eq(M.u.version.proto_major, 1);
    ck_assert_int_eq(M.u.version.max_request, 4096);
    ck_assert_str_eq(M.u.version.release, FER_VERSION);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_watch_stream)
{
    start(NULL);
    client *c = cli_open();
    cli_send(c, "{\"class\":\"WATCH\",\"enable\":true}\n");
    fer_message *m = cli_expect(c, "WATCH", 5000);
    ck_assert_int_eq(m->u.watch.enable, 1);
    uint64_t last = 0;
    int with_faces = 0;
    for (int i = 0; i < 20; i++) {
        m = cli_expect(c, "RESULT", 5000);
        ck_assert_int_eq(m->kind, FER_MSG_RESULT);
        ck_assert_msg(m->u.result.seq > last, "seq %llu after %llu",
                      (unsigned long long)m->u.result.seq, (unsigned long long)last);
        last = m->u.result.seq;
        ck_assert_int_eq(m->u.result.width, CLIP_W);
        ck_assert_int_eq(m->u.result.height, CLIP_H);
        ck_assert_uint_gt(m->ready_ns, 0);
        if (m->u.result.nfaces > 0) {
            with_faces++;
            ck_assert_int_eq(m->u.result.has_scores, 1);
            ck_assert_int_eq(m->u.result.nclasses, 7);
        }
    }
    ck_assert_int_gt(with_faces, 0);
    /* scores off: faces carry no "scores". */
    cli_send(c, "{\"class\":\"WATCH\",\"scores\":false}\n");
    cli_expect(c, "WATCH", 5000);
    for (int i = 0; i < 60; i++) {
        m = cli_expect(c, "RESULT", 5000);
        if (m->u.result.nfaces > 0)
            break;
    }
    ck_assert_int_gt(m->u.result.nfaces, 0);
    ck_assert_int_eq(m->u.result.has_scores, 0);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_poll_idle_and_watching)
{
    start(NULL);
    client *c = cli_open();
    /* Idle: frames are captured, none processed. */
    fer_status_msg *s = status_of(c);
    long long p0 = s->frames.processed, c0 = s->frames.captured;
    fh_deadline dl = within(5000);
    while ((s = status_of(c))->frames.captured < c0 + 5)
        ck_assert_msg(fh_deadline_wait(&dl, 50), "no frames captured while idle");
    ck_assert_int_eq(s->frames.processed, p0);
    ck_assert_int_eq(s->clients.watching, 0);
    /* A POLL runs the pipeline on demand. */
    cli_send(c, "{\"class\":\"POLL\"}\n");
    fer_message *m = cli_expect(c, "POLL", 5000);
    ck_assert_int_eq(m->kind, FER_MSG_POLL);
    ck_assert_int_eq(m->u.result.width, CLIP_W);
    ck_assert_int_eq(m->image.kind, FER_IMAGE_NONE);
    /* With a watcher, a POLL is answered from the latest result at once. */
    client *w = cli_open();
    cli_send(w, "{\"class\":\"WATCH\"}\n");
    cli_expect(w, "RESULT", 5000);
    uint64_t t0 = now_ms();
    cli_send(c, "{\"class\":\"POLL\",\"scores\":false}\n");
    m = cli_expect(c, "POLL", 5000);
    ck_assert_uint_lt(now_ms() - t0, (uint64_t)T(1000));
    ck_assert_int_eq(m->u.result.has_scores, 0);
    cli_close(w);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_status)
{
    start(NULL);
    client *c = cli_open();
    client *w = cli_open();
    cli_send(w, "{\"class\":\"WATCH\"}\n");
    cli_expect(w, "RESULT", 5000);
    fer_status_msg *s = status_of(c);
    ck_assert_str_eq(s->source.state, "streaming");
    ck_assert_str_eq(s->source.kind, "video");
    ck_assert_int_eq(s->source.width, CLIP_W);
    ck_assert_int_eq(s->has_model, 1);
    ck_assert_str_eq(s->model.name, "default");
    ck_assert_int_eq(s->model.nclasses, 7);
    ck_assert_str_eq(s->model.classes[3], "happy");
    ck_assert(s->model.val_acc > 0.49 && s->model.val_acc < 0.51);
    ck_assert(s->model.test_acc < 0);
    ck_assert_int_eq(s->clients.connected, 2);
    ck_assert_int_eq(s->clients.watching, 1);
    ck_assert_int_eq(s->nlist, 2);
    ck_assert_int_gt(s->frames.processed, 0);
    ck_assert_int_gt(s->latency.samples, 0);
    ck_assert(s->latency.p50 > 0 && s->latency.p99 >= s->latency.p50);
    ck_assert(s->uptime > 0);
    cli_close(w);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_reload_good_and_bad)
{
    start(NULL);
    client *c = cli_open();
    /* A good model (another file) and a key that needs a restart. */
    copy_file(spath("model2.fermodel"), tpath("model.fermodel"));
    write_conf("max_clients 7\n");
    cli_send(c, "{\"class\":\"RELOAD\"}\n");
    fer_message *m = cli_expect(c, "RELOAD", 10000);
    ck_assert_str_eq(m->u.reload.model.name, "default");
    ck_assert_int_eq(m->u.reload.nrestart, 1);
    ck_assert_str_eq(m->u.reload.restart[0], "max_clients");
    /* A corrupt model: ERROR, and the old one keeps serving. */
    write_text(tpath("model.fermodel"), "FERMODEL but not really a model\n");
    cli_send(c, "{\"class\":\"RELOAD\"}\n");
    expect_error(c, "reload_failed");
    ck_assert_ptr_nonnull(strstr(M.u.error.message, "model.fermodel"));
    cli_send(c, "{\"class\":\"WATCH\"}\n");
    for (int i = 0; i < 5; i++)
        cli_expect(c, "RESULT", 5000);
    /* A config with an error changes nothing and says which line. */
    write_conf("max_clients many\n");
    cli_send(c, "{\"class\":\"RELOAD\"}\n");
    expect_error(c, "config_invalid");
    ck_assert_ptr_nonnull(strstr(M.u.error.message, "max_clients"));
    fer_status_msg *s = status_of(c);
    ck_assert_int_eq(s->clients.max, 64);
    cli_close(c);
    stop();
}
END_TEST

/* The scores of the first RESULT with a face, from a watching client (up to T(ms)). */
static void face_scores(client *c, float *out, int *k, int ms)
{
    fh_deadline dl = within(ms);
    for (;;) {
        fer_message *m = cli_expect(c, "RESULT", 5000);
        if (m->u.result.nfaces > 0) {
            *k = m->u.result.nclasses;
            memcpy(out, m->u.result.faces[0].scores, sizeof(float) * (size_t)*k);
            return;
        }
        ck_assert_msg(fh_deadline_left(&dl) > 0, "no face in the results");
    }
}

/* tta is live: a RELOAD that switches it needs no restart, and the same still face
 * scores differently with flip, then exactly as before without it. */
START_TEST(t_reload_tta_live)
{
    fer_image frame = tu_blank(CLIP_W, CLIP_H, 110), face = tu_face();
    tu_paste(&frame, &face, 90, 50);
    fer_error err = {0};
    ck_assert_int_eq(fer_image_write(&frame, tpath("still.png"), &err), 0);
    fer_image_free(&frame);
    fer_image_free(&face);
    char extra[1024];
    snprintf(extra, sizeof extra, "source %s\nloop yes\n", tpath("still.png"));
    start(extra);
    client *c = cli_open();
    cli_send(c, "{\"class\":\"WATCH\"}\n");
    float s0[FER_RESULT_MAX_CLASSES], s1[FER_RESULT_MAX_CLASSES], s2[FER_RESULT_MAX_CLASSES];
    int k = 0;
    face_scores(c, s0, &k, 10000);
    char conf[1100];
    snprintf(conf, sizeof conf, "%stta flip\n", extra);
    write_conf(conf);
    cli_send(c, "{\"class\":\"RELOAD\"}\n");
    fer_message *m = cli_expect(c, "RELOAD", 10000);
    ck_assert_int_eq(m->u.reload.nrestart, 0);
    /* Results already queued may predate the reload: wait for the change. */
    fh_deadline dl = within(10000);
    for (;;) {
        face_scores(c, s1, &k, 5000);
        if (memcmp(s1, s0, sizeof(float) * (size_t)k))
            break;
        ck_assert_msg(fh_deadline_left(&dl) > 0, "tta flip changed no score");
    }
    write_conf(extra);
    cli_send(c, "{\"class\":\"RELOAD\"}\n");
    cli_expect(c, "RELOAD", 10000);
    dl = within(10000);
    for (;;) {
        face_scores(c, s2, &k, 5000);
        if (!memcmp(s2, s0, sizeof(float) * (size_t)k))
            break;
        ck_assert_msg(fh_deadline_left(&dl) > 0, "tta none did not bring the scores back");
    }
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_bad_requests)
{
    start(NULL);
    client *c = cli_open();
    static const struct {
        const char *line, *code;
    } cases[] = {
        {"not json\n", "bad_json"},
        {"[1,2,3]\n", "bad_json"},
        {"{\"class\":\"STATUS\"} trailing\n", "bad_json"},
        {"{}\n", "no_class"},
        {"{\"class\":5}\n", "no_class"},
        {"{\"class\":\"FOO\"}\n", "unknown_request"},
        {"{\"class\":\"watch\"}\n", "unknown_request"},
        {"{\"class\":\"WATCH\",\"max_fps\":\"fast\"}\n", "bad_field"},
        {"{\"class\":\"WATCH\",\"max_fps\":-1}\n", "bad_field"},
        {"{\"class\":\"WATCH\",\"enable\":1}\n", "bad_field"},
        {"{\"class\":\"WATCH\",\"min_prob\":2}\n", "bad_field"},
        {"{\"class\":\"POLL\",\"image\":\"png\"}\n", "bad_field"},
        {"{\"class\":\"WATCH\",\"image\":null}\n", "bad_field"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n", "bad_json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cli_send(c, cases[i].line);
        expect_error(c, cases[i].code);
    }
    /* A NUL byte inside a line. */
    ck_assert_int_eq(send(c->fd, "{\"class\":\0\"STATUS\"}\n", 20, MSG_NOSIGNAL), 20);
    expect_error(c, "bad_json");
    /* Unknown keys are ignored; blank lines too. */
    cli_send(c, "\n  \n{\"class\":\"STATUS\",\"future_option\":[1,{\"a\":null}]}\n");
    status_of(c);
    cli_expect(c, "STATUS", 5000);
    /* The daemon still serves the next client. */
    client *d2 = cli_open();
    status_of(d2);
    cli_close(d2);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_long_line)
{
    start(NULL);
    client *c = cli_open();
    char *big = malloc(5001);
    memset(big, 'x', 5000);
    big[5000] = '\0';
    cli_send(c, big);
    free(big);
    expect_error(c, "too_long");
    ck_assert(cli_wait_eof(c, 5000));
    cli_close(c);
    /* A line at the limit is fine: 4096 bytes with its newline. */
    c = cli_open();
    char line[4097];
    int n = snprintf(line, sizeof line, "{\"class\":\"STATUS\",\"pad\":\"");
    memset(line + n, 'p', 4096 - (size_t)n - 3);
    memcpy(line + 4096 - 3, "\"}\n", 4);
    ck_assert_uint_eq(strlen(line), 4096);
    cli_send(c, line);
    fer_status_msg *s = status_of(c); /* the padded one answered first */
    ck_assert_int_eq(s->clients.line_disconnects, 1);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_max_clients)
{
    start("max_clients 2\n");
    client *a = cli_open(), *b = cli_open();
    client *c = cli_connect();
    expect_error(c, "too_many_clients");
    ck_assert(cli_wait_eof(c, 5000));
    cli_close(c);
    cli_close(a);
    /* Until the daemon has seen a leave, b is the only client. */
    fh_deadline dl = within(5000);
    fer_status_msg *s;
    while ((s = status_of(b))->clients.connected != 1)
        ck_assert_msg(fh_deadline_wait(&dl, 20), "%d clients still connected",
                      s->clients.connected);
    ck_assert_int_eq(s->clients.rejected, 1);
    a = cli_open();
    s = status_of(a);
    ck_assert_int_eq(s->clients.rejected, 1);
    ck_assert_int_eq(s->clients.connected, 2);
    cli_close(a);
    cli_close(b);
    stop();
}
END_TEST

START_TEST(t_slow_client_soft_limit)
{
    /* Pictures fill a socket fast; the never-reading client asks for them. */
    start("allow_images yes\nimage_max_fps 30\noutput_soft_limit 64kb\n"
          "output_hard_limit 64mb\noutput_soft_seconds 1\n");
    client *slow = cli_open();
    cli_send(slow, "{\"class\":\"WATCH\",\"image\":\"jpeg\"}\n");
    client *fast = cli_open();
    cli_send(fast, "{\"class\":\"WATCH\"}\n");
    cli_expect(fast, "WATCH", 5000);
    uint64_t last = 0, t0 = now_ms(), next_status = t0 + 2000;
    int got = 0;
    fer_status_msg *s = NULL;
    /* The fast client keeps receiving frames, in order, while the slow one
     * fills its socket, then its queue, is dropped frames, and after a second
     * at the soft limit is disconnected (how soon depends on the kernel's
     * socket buffer: a few seconds). */
    while (now_ms() - t0 < (uint64_t)T(20000)) {
        fer_message *m = cli_expect(fast, "RESULT", 2000);
        ck_assert_uint_gt(m->u.result.seq, last);
        last = m->u.result.seq;
        got++;
        if (now_ms() >= next_status) {
            next_status = now_ms() + 500;
            s = status_of(fast);
            if (s->clients.soft_disconnects > 0)
                break;
        }
    }
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->clients.soft_disconnects, 1);
    ck_assert_int_gt(got, 2 * CLIP_FPS / 2);
    ck_assert_int_eq(s->clients.connected, 1);
    ck_assert_int_eq(s->list[0].dropped, 0);
    ck_assert(cli_wait_eof(slow, 5000));
    cli_close(slow);
    cli_close(fast);
    stop();
}
END_TEST

START_TEST(t_slow_client_dropped_not_disconnected)
{
    /* output_soft_seconds 0: a slow client only loses frames. */
    start("allow_images yes\nimage_max_fps 30\noutput_soft_limit 64kb\n"
          "output_soft_seconds 0\n");
    client *slow = cli_open();
    cli_send(slow, "{\"class\":\"WATCH\",\"image\":\"jpeg\"}\n");
    /* Until its socket and then its queue are full and frames are dropped. */
    fer_status_msg *s;
    const fer_status_client *e = NULL;
    fh_deadline dl = within(20000);
    for (;;) {
        s = status_now();
        e = NULL;
        for (int i = 0; i < s->nlist; i++)
            if (s->list[i].image == FER_IMAGE_JPEG)
                e = &s->list[i];
        ck_assert_ptr_nonnull(e);
        if (e->dropped > 0)
            break;
        ck_assert_msg(fh_deadline_wait(&dl, 100), "no frame dropped for the slow client");
    }
    /* The queue stays at the soft limit (plus at most one picture). */
    ck_assert_uint_le(e->queued, 64 * 1024 + 200 * 1024);
    /* Watched for 1.5 s (15 runs of the 100 ms cron that would disconnect it),
     * not slept through: it is never disconnected. */
    fh_deadline watch = fh_deadline_in(1500);
    do {
        s = status_now();
        ck_assert_int_eq(s->clients.soft_disconnects, 0);
    } while (fh_deadline_wait(&watch, 100));
    /* It still gets results once it reads again. */
    cli_expect(slow, "RESULT", 5000);
    cli_close(slow);
    stop();
}
END_TEST

START_TEST(t_hard_limit)
{
    start("output_soft_limit 16kb\noutput_hard_limit 64kb\noutput_soft_seconds 0\n"
          "requests_per_second 100000\nrequest_burst 100000\n");
    client *c = cli_open();
    /* Thousands of STATUS requests, none of the answers read. */
    char batch[20 * 100 + 1];
    batch[0] = '\0';
    for (int i = 0; i < 100; i++)
        strcat(batch, "{\"class\":\"STATUS\"}\n");
    for (int i = 0; i < 40 && !c->eof; i++) {
        ssize_t n = send(c->fd, batch, strlen(batch), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
            break;
    }
    fh_deadline dl = within(10000);
    fer_status_msg *s;
    while ((s = status_now())->clients.hard_disconnects == 0)
        ck_assert_msg(fh_deadline_wait(&dl, 50), "no hard disconnect");
    ck_assert_int_eq(s->clients.hard_disconnects, 1);
    ck_assert(cli_wait_eof(c, 10000));
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_request_rate_limit)
{
    start("requests_per_second 5\nrequest_burst 5\n");
    client *c = cli_open();
    char batch[2048] = "";
    for (int i = 0; i < 20; i++)
        strcat(batch, "{\"class\":\"STATUS\"}\n");
    uint64_t t0 = now_ms();
    cli_send(c, batch);
    int ok = 0, limited = 0, prev_limited = 0;
    for (int i = 0; i < 20; i++) {
        const char *l = cli_line(c, 5000);
        ck_assert_ptr_nonnull(l);
        fer_error err = {0};
        ck_assert_int_eq(fer_message_parse(&M, l, strlen(l), &err), 0);
        if (M.kind == FER_MSG_STATUS) {
            ok++;
            prev_limited = 0;
        } else if (M.kind == FER_MSG_ERROR && strcmp(M.u.error.code, "rate_limit") == 0) {
            /* A refusal pauses the client until a token is due: the next
             * line is carried out, never refused in the same breath. */
            ck_assert_msg(!prev_limited, "two rate_limit answers in a row (answer %d)", i + 1);
            limited++;
            prev_limited = 1;
        }
    }
    double took = (double)(now_ms() - t0) / 1000.0;
    ck_assert_int_ge(ok, 5);
    ck_assert_msg(ok <= 5 + 5 * took + 1, "%d carried out in %.2f s at 5/s, burst 5", ok, took);
    ck_assert_int_ge(limited, 1);
    ck_assert_int_eq(ok + limited, 20);
    /* Tokens come back with time: within a second or so a STATUS is answered
     * again (refused ones meanwhile cost no token). */
    fh_deadline dl = within(3000);
    for (;;) {
        cli_send(c, "{\"class\":\"STATUS\"}\n");
        const char *l = cli_line(c, 5000);
        ck_assert_ptr_nonnull(l);
        fer_error err = {0};
        ck_assert_int_eq(fer_message_parse(&M, l, strlen(l), &err), 0);
        if (M.kind == FER_MSG_STATUS)
            break;
        ck_assert_msg(M.kind == FER_MSG_ERROR && strcmp(M.u.error.code, "rate_limit") == 0,
                      "unexpected answer: %.200s", l);
        ck_assert_msg(fh_deadline_wait(&dl, 100), "the rate limit never let a request through");
    }
    cli_close(c);
    stop();
}
END_TEST

/* A count measured over a rate window must lie in lo..hi. Under a time scale
 * (memcheck) ferd processes fewer frames than any cap, so only the cap is
 * checked there: a lower bound would measure valgrind, not ferd. */
static void check_count(int n, int lo, int hi, const char *what)
{
    if (tscale > 1)
        lo = 0;
    ck_assert_msg(n >= lo && n <= hi, "%d %s (expected %d..%d)", n, what, lo, hi);
}

/* RESULTs received in ms milliseconds. */
static int count_results(client *c, int ms)
{
    int n = 0;
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < (uint64_t)ms) {
        const char *l = cli_line(c, 50);
        if (l && strstr(l, "\"class\":\"RESULT\""))
            n++;
    }
    return n;
}

START_TEST(t_watch_rate_limits)
{
    start("watch_max_fps 5\n");
    client *c = cli_open();
    cli_send(c, "{\"class\":\"WATCH\"}\n");
    fer_message *m = cli_expect(c, "WATCH", 5000);
    ck_assert(m->u.watch.max_fps == 5);
    cli_expect(c, "RESULT", 5000);
    int n = count_results(c, 2000);
    check_count(n, 7, 12, "results in 2 s at a cap of 5 fps");
    /* A client may ask for less, not more. */
    cli_send(c, "{\"class\":\"WATCH\",\"max_fps\":2}\n");
    m = cli_expect(c, "WATCH", 5000);
    ck_assert(m->u.watch.max_fps == 2);
    n = count_results(c, 2000);
    check_count(n, 3, 5, "results in 2 s at 2 fps");
    cli_send(c, "{\"class\":\"WATCH\",\"max_fps\":50}\n");
    m = cli_expect(c, "WATCH", 5000);
    ck_assert(m->u.watch.max_fps == 5);
    /* Unsubscribing stops the stream. */
    cli_send(c, "{\"class\":\"WATCH\",\"enable\":false}\n");
    m = cli_expect(c, "WATCH", 5000);
    ck_assert_int_eq(m->u.watch.enable, 0);
    /* RESULTs sent before the answer came before it (cli_expect went past
     * them); after it, none at all: every byte that arrives is counted. */
    ck_assert_int_eq(count_results(c, 800), 0);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_disconnect_mid_stream)
{
    start(NULL);
    for (int i = 0; i < 5; i++) {
        client *c = cli_open();
        cli_send(c, "{\"class\":\"WATCH\",\"image\":false}\n");
        cli_expect(c, "RESULT", 5000);
        /* Gone without a word, with unread results in its socket. */
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        cli_close(c);
    }
    client *w = cli_open();
    cli_send(w, "{\"class\":\"WATCH\"}\n");
    for (int i = 0; i < 5; i++)
        cli_expect(w, "RESULT", 5000);
    fh_deadline dl = within(5000);
    fer_status_msg *s;
    while ((s = status_of(w))->clients.connected != 1)
        ck_assert_msg(fh_deadline_wait(&dl, 20), "%d clients connected", s->clients.connected);
    ck_assert_int_eq(s->clients.watching, 1);
    cli_close(w);
    stop();
}
END_TEST

START_TEST(t_sighup_reload)
{
    start(NULL);
    client *c = cli_open();
    write_conf("watch_max_fps 3\n");
    size_t mark = D.notify_len;
    kill(D.pid, SIGHUP);
    /* RELOADING=1, then READY=1 again once the model is back. */
    long reloading = fh_wait_note(&D, "RELOADING=1", mark, T(5000));
    ck_assert_msg(reloading >= 0, "no RELOADING=1 after SIGHUP: %s", D.notify + mark);
    ck_assert_msg(fh_wait_note(&D, "READY=1", (size_t)reloading, T(10000)) >= 0,
                  "no READY=1 after RELOADING=1: %s", D.notify + mark);
    cli_send(c, "{\"class\":\"WATCH\"}\n");
    fer_message *m = cli_expect(c, "WATCH", 5000);
    ck_assert(m->u.watch.max_fps == 3);
    cli_expect(c, "RESULT", 5000);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_sigterm)
{
    start(NULL);
    client *w = cli_open();
    cli_send(w, "{\"class\":\"WATCH\"}\n");
    cli_expect(w, "RESULT", 5000);
    /* Read everything queued so the goodbye fits. */
    kill(D.pid, SIGTERM);
    int st = wait_exit(15000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
    cli_expect(w, "SHUTDOWN", 5000);
    ck_assert(cli_wait_eof(w, 2000));
    cli_close(w);
    struct stat sb;
    ck_assert_int_eq(stat(tpath("ferd.sock"), &sb), -1); /* removed: we created it */
    collect_notify(100);
    ck_assert_ptr_nonnull(strstr(D.notify, "STOPPING=1"));
}
END_TEST

START_TEST(t_sigint)
{
    start(NULL);
    kill(D.pid, SIGINT);
    int st = wait_exit(15000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
}
END_TEST

START_TEST(t_socket_activation)
{
    write_conf(NULL);
    const char *path = tpath("activated.sock");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    /* A client may connect before the daemon exists: the socket is there. */
    client *early = cli_connect_to(path);
    const char *args[] = {"--config", tpath("ferd.conf"), NULL};
    spawn(args, fd, NULL, 1); /* the passed socket is not ours to remove */
    close(fd);
    fer_message *m = cli_expect(early, "VERSION", 5000);
    ck_assert_int_eq(m->u.version.proto_major, 1);
    status_of(early);
    /* The configured path was not bound: the passed socket is used instead. */
    struct stat sb;
    ck_assert_int_eq(stat(tpath("ferd.sock"), &sb), -1);
    cli_close(early);
    stop();
    /* Not ours to remove. */
    ck_assert_int_eq(stat(path, &sb), 0);
}
END_TEST

START_TEST(t_socket_activation_wrong_fd)
{
    write_conf(NULL);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0); /* not a listening stream socket */
    const char *args[] = {"--config", tpath("ferd.conf"), NULL};
    spawn(args, fd, NULL, 0);
    close(fd);
    int st = wait_exit(15000);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d", st);
}
END_TEST

START_TEST(t_ready_notify)
{
    start(NULL);
    /* Start-up STATUS= lines come before READY=1, and the socket answers by then. */
    const char *ready = strstr(D.notify, "READY=1");
    const char *loading = strstr(D.notify, "STATUS=Loading model");
    const char *opening = strstr(D.notify, "STATUS=Opening socket");
    ck_assert_ptr_nonnull(loading);
    ck_assert_ptr_nonnull(opening);
    ck_assert(loading < ready && opening < ready);
    client *c = cli_open();
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_watchdog)
{
    /* WatchdogSec=: the loop pings at half the interval. */
    spawn_env = "WATCHDOG_USEC=200000";
    start(NULL);
    spawn_env = NULL;
    /* The pings of a 600 ms window, however the loop is scheduled. */
    size_t mark = D.notify_len;
    fh_deadline window = fh_deadline_in(600);
    while (fh_deadline_left(&window) > 0)
        collect_notify(fh_deadline_left(&window));
    const char *p = D.notify + mark;
    int pings = 0;
    while ((p = strstr(p, "WATCHDOG=1")) != NULL) {
        pings++;
        p++;
    }
    ck_assert_msg(pings >= 3, "%d WATCHDOG=1 in 600 ms at a 200 ms watchdog", pings);
    stop();
}
END_TEST

/* In a child running as nobody: connects, asks for a picture and a reload, and
 * exits 0 if both are refused with "forbidden" while STATUS still works. */
static void as_nobody(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
    if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
        _exit(10);
    client *c = cli_connect();
    const char *l = cli_line(c, 5000);
    if (!l || !strstr(l, "VERSION"))
        _exit(11);
    cli_send(c, "{\"class\":\"POLL\",\"image\":\"jpeg\"}\n{\"class\":\"RELOAD\"}\n"
                "{\"class\":\"WATCH\",\"image\":true}\n{\"class\":\"STATUS\"}\n");
    for (int i = 0; i < 3; i++) {
        l = cli_line(c, 5000);
        if (!l || !strstr(l, "\"code\":\"forbidden\""))
            _exit(12 + i);
    }
    l = cli_line(c, 5000);
    if (!l || !strstr(l, "\"class\":\"STATUS\""))
        _exit(15);
    _exit(0);
}

START_TEST(t_other_uid_refused)
{
    if (geteuid() != 0)
        return; /* needs root to become another user */
    /* Open the way for another user: directory and socket. */
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(chmod(shared_dir, 0755), 0);
    start("allow_images yes\nsocket_mode 0666\n");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        as_nobody();
    int st = fh_wait_pid(pid, T(20000));
    if (st == -1)
        kill(pid, SIGKILL);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "the other user's client: status %d", st);
    /* The daemon's own user (root here) gets the picture. */
    client *c = cli_open();
    cli_send(c, "{\"class\":\"POLL\",\"image\":\"jpeg\"}\n");
    fer_message *m = cli_expect(c, "POLL", 5000);
    ck_assert_int_eq(m->image.kind, FER_IMAGE_JPEG);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_images_refused)
{
    start(NULL); /* allow_images no */
    client *c = cli_open();
    cli_send(c, "{\"class\":\"POLL\",\"image\":\"jpeg\"}\n");
    expect_error(c, "forbidden");
    ck_assert_str_eq(M.u.error.request, "POLL");
    cli_send(c, "{\"class\":\"WATCH\",\"image\":\"annotated\"}\n");
    expect_error(c, "forbidden");
    /* Not subscribed by the refused WATCH. */
    fer_status_msg *s = status_of(c);
    ck_assert_int_eq(s->clients.watching, 0);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_images_allowed)
{
    start("allow_images yes\n");
    client *c = cli_open();
    const char *kinds[] = {"jpeg", "annotated"};
    for (int k = 0; k < 2; k++) {
        char req[128];
        snprintf(req, sizeof req, "{\"class\":\"POLL\",\"image\":\"%s\"}\n", kinds[k]);
        cli_send(c, req);
        fer_message *m = cli_expect(c, "POLL", 5000);
        ck_assert_int_eq(m->image.kind, k == 0 ? FER_IMAGE_JPEG : FER_IMAGE_ANNOTATED);
        ck_assert_int_eq(m->image.width, CLIP_W);
        fer_image img;
        fer_error err = {0};
        ck_assert_int_eq(fer_image_decode(&img, m->image.jpeg, m->image.len, 0, &err), 0);
        ck_assert_int_eq(img.w, CLIP_W);
        ck_assert_int_eq(img.h, CLIP_H);
        fer_image_free(&img);
    }
    /* WATCH with pictures: at most image_max_fps (5) of them. */
    cli_send(c, "{\"class\":\"WATCH\",\"image\":\"jpeg\"}\n");
    cli_expect(c, "WATCH", 5000);
    int images = 0, results = 0;
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < 2000) {
        fer_message *m = cli_expect(c, "RESULT", 2000);
        results++;
        images += m->image.kind == FER_IMAGE_JPEG;
    }
    check_count(images, 6, 12, "pictures in 2 s at image_max_fps 5");
    ck_assert_int_ge(results, images + (tscale == 1));
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_model_missing_or_corrupt)
{
    static const char *const models[2] = {"missing.fermodel", "corrupt.fermodel"};
    write_text(tpath("corrupt.fermodel"), "FERMODEL\x01\x02 this is not a model");
    for (int i = 0; i < 2; i++) {
        char extra[512];
        snprintf(extra, sizeof extra, "model %s\n", tpath(models[i]));
        write_conf(extra);
        const char *args[] = {"--config", tpath("ferd.conf"), NULL};
        spawn(args, -1, NULL, 0);
        int st = wait_exit(15000);
        fh_collect_notify(&D, 0);
        char notes[sizeof D.notify];
        memcpy(notes, D.notify, sizeof notes);
        fh_cleanup(&D);
        ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d", st);
        /* One clear line naming the file. */
        FILE *f = fopen(tpath("ferd.log"), "r");
        char log[8192] = "";
        size_t n = fread(log, 1, sizeof log - 1, f);
        log[n] = '\0';
        fclose(f);
        ck_assert_msg(strstr(log, models[i]) && strstr(log, "cannot load the model"), "log: %s",
                      log);
        ck_assert_ptr_null(strstr(notes, "READY=1"));
    }
}
END_TEST

START_TEST(t_source_missing_then_appears)
{
    char extra[512];
    snprintf(extra, sizeof extra, "source %s\n", tpath("later.avi"));
    start(extra);
    client *c = cli_open();
    /* ferd answers before its capture thread's first attempt has failed: until
     * then the state is "starting" (CI's sanitizer build under load saw it). */
    fh_deadline dl0 = within(5000);
    fer_status_msg *s;
    while (strcmp((s = status_of(c))->source.state, "starting") == 0)
        ck_assert_msg(fh_deadline_wait(&dl0, 20), "source still starting");
    ck_assert_str_eq(s->source.state, "reconnecting");
    ck_assert_ptr_nonnull(strstr(s->source.error, "later.avi"));
    /* A POLL without frames times out with an ERROR. */
    cli_send(c, "{\"class\":\"POLL\"}\n");
    expect_error(c, "unavailable");
    copy_file(spath("clip.avi"), tpath("later.avi"));
    fh_deadline dl = within(5000);
    while (strcmp((s = status_of(c))->source.state, "streaming") != 0)
        ck_assert_msg(fh_deadline_wait(&dl, 50), "source %s, not streaming", s->source.state);
    cli_send(c, "{\"class\":\"POLL\"}\n");
    cli_expect(c, "POLL", 5000);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_video_ends)
{
    start("loop no\npoll_timeout_ms 300\n");
    client *c = cli_open();
    fer_status_msg *s;
    uint64_t t0 = now_ms();
    fh_deadline dl = within(15000);
    while (strcmp((s = status_of(c))->source.state, "ended") != 0)
        ck_assert_msg(fh_deadline_wait(&dl, 50), "source %s, not ended", s->source.state);
    ck_assert_uint_ge(now_ms() - t0, CLIP_FRAMES * 1000 / CLIP_FPS - 500); /* played in real time */
    ck_assert_int_eq(s->frames.captured, CLIP_FRAMES);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_face_events)
{
    start(NULL);
    client *c = cli_open();
    cli_send(c, "{\"class\":\"WATCH\",\"events\":true}\n");
    fer_message *m = cli_expect(c, "WATCH", 5000);
    ck_assert_int_eq(m->u.watch.events, 1);
    /* The clip loops: its face appears, and ends when it leaves the picture. */
    int appeared = 0, ended = 0, results = 0;
    uint64_t t0 = now_ms();
    while ((!appeared || !ended) && now_ms() - t0 < (uint64_t)T(8000)) {
        const char *l = cli_line(c, 500);
        if (!l)
            continue;
        fer_error err = {0};
        ck_assert_int_eq(fer_message_parse(&M, l, strlen(l), &err), 0);
        results += M.kind == FER_MSG_RESULT;
        if (M.kind == FER_MSG_FACE) {
            ck_assert_int_gt(M.u.face.id, 0);
            if (M.u.face.event == FER_EVENT_APPEARED) {
                appeared++;
                ck_assert_int_gt(M.u.face.box.w, 0);
                ck_assert(M.u.face.label[0]);
            }
            ended += M.u.face.event == FER_EVENT_ENDED;
        }
    }
    ck_assert_int_gt(appeared, 0);
    ck_assert_int_gt(ended, 0);
    ck_assert_int_eq(results, 0); /* events only */
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_close_camera_when_idle)
{
    start("close_camera_when_idle yes\nidle_close_seconds 0\n");
    client *c = cli_open();
    fer_status_msg *s;
    fh_deadline dl = within(5000);
    while (strcmp((s = status_of(c))->source.state, "idle") != 0)
        ck_assert_msg(fh_deadline_wait(&dl, 50), "source %s, not idle", s->source.state);
    /* Closed: over 300 ms (10 frame times), watched, not one frame captured. */
    long long captured = s->frames.captured;
    fh_deadline watch = fh_deadline_in(300);
    while (fh_deadline_wait(&watch, 50))
        ck_assert_int_eq(status_of(c)->frames.captured, captured);
    /* A POLL opens it again; seq keeps increasing across the reopen. */
    cli_send(c, "{\"class\":\"POLL\"}\n");
    fer_message *m = cli_expect(c, "POLL", 5000);
    uint64_t seq = m->u.result.seq;
    cli_send(c, "{\"class\":\"WATCH\"}\n");
    m = cli_expect(c, "RESULT", 5000);
    ck_assert_uint_gt(m->u.result.seq, seq);
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_check_config)
{
    write_conf("max_clients 3\n");
    const char *bin = getenv("FERD_BIN");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s --check-config --config %s > %s 2>&1", bin, tpath("ferd.conf"),
             tpath("out"));
    int st = system(cmd);
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    FILE *f = fopen(tpath("out"), "r");
    char out[16384] = "";
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(out, "\nmax_clients 3\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nsocket_mode 0660\n"));
    ck_assert_ptr_nonnull(strstr(out, "is valid"));
    /* Each bad line is named. */
    write_text(tpath("bad.conf"), "# comment\nmax_clients -1\nlog_level loud\nbogus_key 1\n"
                                  "socket_mode 999\n");
    snprintf(cmd, sizeof cmd, "%s --check-config --config %s > %s 2>&1", bin, tpath("bad.conf"),
             tpath("out"));
    st = system(cmd);
    ck_assert_int_eq(WEXITSTATUS(st), 1);
    f = fopen(tpath("out"), "r");
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    for (int line = 2; line <= 5; line++) {
        char want[64];
        snprintf(want, sizeof want, "bad.conf:%d:", line);
        ck_assert_msg(strstr(out, want) != NULL, "no %s in: %s", want, out);
    }
    /* Flags override the file. */
    snprintf(cmd, sizeof cmd, "%s --check-config --config %s --socket /tmp/x.sock "
             "--set max_clients=9 --log-level err > %s 2>&1", bin, tpath("ferd.conf"),
             tpath("out"));
    st = system(cmd);
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    f = fopen(tpath("out"), "r");
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(out, "\nsocket /tmp/x.sock\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nmax_clients 9\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nlog_level err\n"));
}
END_TEST

START_TEST(t_socket_mode_and_stale_socket)
{
    /* A stale socket (nobody listening) is replaced. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", tpath("ferd.sock"));
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    start("socket_mode 0640\n");
    struct stat sb;
    ck_assert_int_eq(stat(D.sock, &sb), 0);
    ck_assert(S_ISSOCK(sb.st_mode));
    ck_assert_int_eq(sb.st_mode & 0777, 0640);
    /* A second daemon on the same live socket refuses to start. */
    static fh_daemon second;
    const char *args[] = {"--config", tpath("ferd.conf"), NULL};
    spawn_as(&second, "second-", args, -1, NULL, 0);
    int st = fh_wait_exit(&second, T(15000));
    fh_cleanup(&second);
    ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d", st);
    client *c = cli_open();
    cli_close(c);
    stop();
}
END_TEST

START_TEST(t_help_and_version)
{
    const char *bin = getenv("FERD_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --version | grep -q 'ferd %s'", bin, FER_VERSION);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 0);
    snprintf(cmd, sizeof cmd, "%s --help | grep -q -- --check-config", bin);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 0);
    snprintf(cmd, sizeof cmd, "%s --no-such-flag 2>/dev/null", bin);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 64);
}
END_TEST

static Suite *daemon_suite(void)
{
    Suite *s = suite_create("daemon");
    TCase *tc = tcase_create("daemon");
    tcase_add_unchecked_fixture(tc, shared_setup, shared_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_version_on_connect);
    tcase_add_test(tc, t_watch_stream);
    tcase_add_test(tc, t_poll_idle_and_watching);
    tcase_add_test(tc, t_status);
    tcase_add_test(tc, t_reload_good_and_bad);
    tcase_add_test(tc, t_reload_tta_live);
    tcase_add_test(tc, t_bad_requests);
    tcase_add_test(tc, t_long_line);
    tcase_add_test(tc, t_max_clients);
    tcase_add_test(tc, t_slow_client_soft_limit);
    tcase_add_test(tc, t_slow_client_dropped_not_disconnected);
    tcase_add_test(tc, t_hard_limit);
    tcase_add_test(tc, t_request_rate_limit);
    tcase_add_test(tc, t_watch_rate_limits);
    tcase_add_test(tc, t_disconnect_mid_stream);
    tcase_add_test(tc, t_sighup_reload);
    tcase_add_test(tc, t_sigterm);
    tcase_add_test(tc, t_sigint);
    tcase_add_test(tc, t_socket_activation);
    tcase_add_test(tc, t_socket_activation_wrong_fd);
    tcase_add_test(tc, t_ready_notify);
    tcase_add_test(tc, t_watchdog);
    tcase_add_test(tc, t_other_uid_refused);
    tcase_add_test(tc, t_images_refused);
    tcase_add_test(tc, t_images_allowed);
    tcase_add_test(tc, t_model_missing_or_corrupt);
    tcase_add_test(tc, t_source_missing_then_appears);
    tcase_add_test(tc, t_video_ends);
    tcase_add_test(tc, t_face_events);
    tcase_add_test(tc, t_close_camera_when_idle);
    tcase_add_test(tc, t_check_config);
    tcase_add_test(tc, t_socket_mode_and_stale_socket);
    tcase_add_test(tc, t_help_and_version);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *ts = getenv("FERD_TEST_TIME_SCALE");
    if (ts && atoi(ts) > 1)
        tscale = atoi(ts);
    SRunner *sr = srunner_create(daemon_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
