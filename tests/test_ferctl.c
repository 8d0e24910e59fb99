/*
 * test_ferctl.c — ferctl, ferctl view and the examples against the real ferd.
 *
 * Once per run (an unchecked fixture, in the parent) the test makes a
 * random-weight model (tests/make_model) and starts $FERD_BIN on a temporary
 * socket playing samples/demo.avi with images allowed; every test then runs
 * the programs as a user would and checks their output and exit codes:
 * status, watch (human, --json against the shared decoder, --count, --events,
 * --max-fps and --min-prob reaching the daemon), snapshot (-o decodes as a
 * JPEG of the frame size, --annotated too), reload, a missing daemon, a
 * daemon stopped mid-watch (exit 3, and --reconnect resuming after a restart),
 * the three examples, and `ferctl view` under Xvfb: a screenshot of the
 * screen is taken with xwd, decoded here, saved as a PNG beside the test
 * ($FERCTL_SHOT_DIR/ferctl-view.png, for a person to look at) and checked
 * for the viewer's drawing.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client_util.h"
#include "ferd_harness.h"
#include "cv/image.h"
#include "ferclient.h"
#include "net/model.h"
#include "proto/protocol.h"

/* The shared daemon (started in Check's parent, so it serves every test). */
static fh_daemon shared_ferd;
static int ferd_up;

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v && v[0], "%s is not set (meson sets it)", name);
    return v;
}

/* The source clip: the demo clip of the repository. */
static const char *demo_clip(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/samples/demo.avi", env_or_fail("FER_SOURCE_ROOT"));
    ck_assert_msg(access(path, R_OK) == 0, "%s is missing", path);
    return path;
}

/* Starts ferd on sock (in cu_dir; its log is PREFIXferd.log there) and waits
 * for READY=1. */
static void start_ferd(fh_daemon *d, const char *sock, const char *prefix)
{
    const char *args[] = {"--source", demo_clip(), "--socket", sock,
                          "--model", cu_path("model.fermodel"), "--set", "allow_images=yes",
                          "--log-level", "info", NULL};
    fh_opts o = {.bin = env_or_fail("FERD_BIN"), .args = args, .listen_fd = -1, .sock = sock,
                 .wait = FH_WAIT_READY, .timeout_ms = 30000};
    char msg[2048];
    int rc = fh_start(d, cu_dir, prefix, &o, msg, sizeof msg);
    ck_assert_msg(rc == 0, "%s", msg);
}

/* SIGTERM and the exit status (0 is an orderly stop; -1: killed at 15 s). */
static int stop_ferd(fh_daemon *d)
{
    int st = fh_stop(d, 15000);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void shared_setup(void)
{
    cu_setup();
    char arch[1024];
    snprintf(arch, sizeof arch, "%s/models/default.arch", env_or_fail("FER_SOURCE_ROOT"));
    char *mk[] = {(char *)env_or_fail("MAKE_MODEL"), arch, (char *)cu_path("model.fermodel"),
                  NULL};
    cu_run_result r;
    cu_run(mk, NULL, 60000, &r);
    ck_assert_msg(r.status == 0, "make_model: %s", r.err);
    cu_run_free(&r);
    start_ferd(&shared_ferd, cu_path("ferd.sock"), NULL);
    ferd_up = 1;
}

static void shared_teardown(void)
{
    if (ferd_up)
        stop_ferd(&shared_ferd);
    ferd_up = 0;
    cu_cleanup();
}

static void need_daemon(void)
{
    ck_assert_msg(ferd_up, "the shared ferd did not start");
}

/* Runs ferctl --socket SOCK ARGS... (NULL-terminated). */
static void ferctl(cu_run_result *res, const char *sock, const char *const *env, ...)
{
    char *argv[24];
    int n = 0;
    argv[n++] = (char *)env_or_fail("FERCTL");
    if (sock) {
        argv[n++] = (char *)"--socket";
        argv[n++] = (char *)sock;
    }
    va_list ap;
    va_start(ap, env);
    for (const char *a; (a = va_arg(ap, const char *)) && n < 23;)
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    static const char *const dflt[] = {"FERD_SOCKET=", NULL};
    cu_run(argv, env ? env : dflt, 60000, res);
}

/* Splits text into lines in place; returns the count (at most max). */
static int split_lines(char *text, char **lines, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    return n;
}

/* ---- the tests ---- */

START_TEST(t_status)
{
    need_daemon();
    cu_run_result r;
    /* Right after start the source may still be opening. */
    fh_deadline dl = fh_deadline_in(10000);
    for (;;) {
        ferctl(&r, cu_path("ferd.sock"), NULL, "status", NULL);
        if (strstr(r.out, "demo.avi (video): streaming") || !fh_deadline_wait(&dl, 200))
            break;
        cu_run_free(&r);
    }
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_str_eq(r.err, "");
    ck_assert_msg(strstr(r.out, "ferd 0.") && strstr(r.out, "demo.avi (video): streaming, ") &&
                      strstr(r.out, "model    default") && strstr(r.out, "7 classes") &&
                      strstr(r.out, "clients  ") && strstr(r.out, "frames   "),
                  "%s", r.out);
    cu_run_free(&r);

    ferctl(&r, NULL, NULL, "status", "--json", "--socket", cu_path("ferd.sock"), NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(cu_count_lines(r.out), 1);
    fer_message m = {0};
    fer_error err = {0};
    ck_assert_msg(fer_message_parse(&m, r.out, r.out_len, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.kind, FER_MSG_STATUS);
    ck_assert_int_eq(m.status->model.nclasses, 7);
    ck_assert_int_ge(m.status->clients.connected, 1);
    fer_message_clear(&m);
    cu_run_free(&r);
}
END_TEST

START_TEST(t_watch_json)
{
    need_daemon();
    cu_run_result r;
    ferctl(&r, cu_path("ferd.sock"), NULL, "watch", "--json", "--count", "6", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_str_eq(r.err, "");
    char *lines[16];
    int n = split_lines(r.out, lines, 16);
    ck_assert_int_eq(n, 8); /* VERSION, WATCH, 6 RESULTs: nothing else */
    uint64_t last_seq = 0;
    for (int i = 0; i < n; i++) {
        fer_message m = {0};
        fer_error err = {0};
        ck_assert_msg(fer_message_parse(&m, lines[i], strlen(lines[i]), &err) == 0, "%s: %s",
                      err.msg, lines[i]);
        ck_assert_int_eq(m.kind, i == 0 ? FER_MSG_VERSION : i == 1 ? FER_MSG_WATCH
                                                                    : FER_MSG_RESULT);
        if (m.kind == FER_MSG_RESULT) {
            const fer_frame_result *res = &m.u.result;
            ck_assert_uint_gt(res->seq, last_seq);
            last_seq = res->seq;
            ck_assert_int_eq(res->width, 640);
            ck_assert_int_eq(res->height, 480);
            for (int f = 0; f < res->nfaces; f++) {
                const fer_face_result *fc = &res->faces[f];
                ck_assert(fc->label >= 0 && fc->label < res->nclasses);
                ck_assert(fc->prob >= 0 && fc->prob <= 1);
                ck_assert(fc->box.w > 0 && fc->box.x + fc->box.w <= 640 + 1);
                ck_assert(fc->box.h > 0 && fc->box.y + fc->box.h <= 480 + 1);
            }
            /* Absent, not null: the schema writes no nulls. */
            ck_assert_ptr_null(strstr(lines[i], "null"));
        }
        fer_message_clear(&m);
    }
    cu_run_free(&r);
}
END_TEST

START_TEST(t_watch_human)
{
    need_daemon();
    cu_run_result r;
    ferctl(&r, cu_path("ferd.sock"), NULL, "watch", "--count", "30", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_str_eq(r.err, "");
    char *lines[1024];
    int n = split_lines(r.out, lines, 1024);
    ck_assert_int_ge(n, 1);
    int faces = 0;
    for (int i = 0; i < n; i++) {
        /* "HH:MM:SS.mmm  frame N  face ID  LABEL  P.PP  at X,Y WxH" or "... no face" */
        int hh, mm, ss, ms;
        ck_assert_msg(sscanf(lines[i], "%2d:%2d:%2d.%3d  frame ", &hh, &mm, &ss, &ms) == 4, "%s",
                      lines[i]);
        ck_assert_msg(strstr(lines[i], " face ") || strstr(lines[i], " no face"), "%s",
                      lines[i]);
        faces += strstr(lines[i], "  at ") != NULL;
    }
    ck_assert_int_ge(faces, 1); /* 30 frames of the demo always show a face */
    cu_run_free(&r);
}
END_TEST

START_TEST(t_watch_options)
{
    need_daemon();
    cu_run_result r;
    int64_t t0 = fer_mono_ms();
    ferctl(&r, cu_path("ferd.sock"), NULL, "watch", "--json", "--count", "3", "--max-fps", "2",
           "--min-prob", "0.99", NULL);
    int64_t dt = fer_mono_ms() - t0;
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_msg(strstr(r.out, "\"max_fps\":2,\"min_prob\":0.99"), "%s", r.out);
    /* Three results at two a second span at least one second. */
    ck_assert_msg(dt >= 900, "3 results at 2 fps took %lld ms", (long long)dt);
    /* A random-weight model is never 99% sure: every face is filtered out. */
    ck_assert_msg(strstr(r.out, "\"faces\":[]") && !strstr(r.out, "\"box\""), "%s", r.out);
    cu_run_free(&r);

    ferctl(&r, cu_path("ferd.sock"), NULL, "watch", "--events", "--count", "2", "--timeout",
           "30", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    char *lines[8];
    int n = split_lines(r.out, lines, 8);
    ck_assert_int_eq(n, 2);
    for (int i = 0; i < n; i++)
        ck_assert_msg(strstr(lines[i], "appeared") || strstr(lines[i], "changed") ||
                          strstr(lines[i], "ended"),
                      "%s", lines[i]);
    cu_run_free(&r);
}
END_TEST

/* Decodes a JPEG file and checks it is a frame of the clip. */
static void check_jpeg(const char *path)
{
    size_t len;
    char *bytes = cu_read_file(path, &len);
    ck_assert_msg(bytes != NULL, "%s not written", path);
    ck_assert_uint_gt(len, 1000);
    ck_assert((uint8_t)bytes[0] == 0xff && (uint8_t)bytes[1] == 0xd8);
    free(bytes);
    fer_image img = {0};
    fer_error err = {0};
    ck_assert_msg(fer_image_read(&img, path, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(img.w, 640);
    ck_assert_int_eq(img.h, 480);
    fer_image_free(&img);
}

START_TEST(t_snapshot)
{
    need_daemon();
    cu_run_result r;
    ferctl(&r, cu_path("ferd.sock"), NULL, "snapshot", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_msg(strstr(r.out, "frame ") && strstr(r.out, ", 640x480, "), "%s", r.out);
    cu_run_free(&r);

    const char *plain = cu_path("snap.jpg"), *annotated = cu_path("snap-annotated.jpg");
    ferctl(&r, cu_path("ferd.sock"), NULL, "snapshot", "-o", plain, NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "(640x480 JPEG"));
    cu_run_free(&r);
    check_jpeg(plain);

    ferctl(&r, cu_path("ferd.sock"), NULL, "snapshot", "--annotated", "-o", annotated, "--json",
           NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    fer_message m = {0};
    fer_error err = {0};
    ck_assert_msg(fer_message_parse(&m, r.out, r.out_len, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.kind, FER_MSG_POLL);
    ck_assert_int_eq(m.image.kind, FER_IMAGE_ANNOTATED);
    fer_message_clear(&m);
    cu_run_free(&r);
    check_jpeg(annotated);
}
END_TEST

START_TEST(t_reload)
{
    need_daemon();
    cu_run_result r;
    ferctl(&r, cu_path("ferd.sock"), NULL, "reload", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_msg(strstr(r.out, "reloaded: model default"), "%s", r.out);
    cu_run_free(&r);
    ferctl(&r, cu_path("ferd.sock"), NULL, "reload", "--json", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(strncmp(r.out, "{\"class\":\"RELOAD\"", 17), 0);
    cu_run_free(&r);
}
END_TEST

START_TEST(t_absent)
{
    const char *path = cu_path("nobody.sock");
    static const char *const cmds[] = {"watch", "snapshot", "status", "reload"};
    for (int i = 0; i < 4; i++) {
        cu_run_result r;
        ferctl(&r, path, NULL, cmds[i], NULL);
        ck_assert_int_eq(r.status, 2);
        ck_assert_str_eq(r.out, "");
        ck_assert_int_eq(cu_count_lines(r.err), 1);
        ck_assert_msg(strstr(r.err, path) && strstr(r.err, "systemctl start ferd"), "%s", r.err);
        cu_run_free(&r);
    }
}
END_TEST

/* Waits until file contains needle. */
static int wait_for_text(const char *file, const char *needle, int timeout_ms)
{
    fh_deadline dl = fh_deadline_in(timeout_ms);
    do {
        char *s = cu_read_file(file, NULL);
        int found = s && strstr(s, needle);
        free(s);
        if (found)
            return 1;
    } while (fh_deadline_wait(&dl, 50));
    return 0;
}

/* Fails the test with a message and file's contents (a log or a captured stderr). */
__attribute__((format(printf, 2, 3)))
static void fail_with(const char *file, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *log = cu_read_file(file, NULL);
    ck_abort_msg("%s\n--- %s:\n%s", msg, file, log ? log : "(missing)");
}

/* Waits for pid; its exit code, or -1 after timeout_ms (then killed). */
static int wait_exit(pid_t pid, int timeout_ms)
{
    int st = fh_wait_pid(pid, timeout_ms);
    if (st == -1) {
        kill(pid, SIGKILL);
        fh_wait_pid(pid, 5000);
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(t_daemon_stops_mid_watch)
{
    need_daemon();
    char sock[512];
    snprintf(sock, sizeof sock, "%s", cu_path("stop.sock"));
    static fh_daemon d;
    start_ferd(&d, sock, "stop-");
    char *argv[] = {(char *)env_or_fail("FERCTL"), (char *)"--socket", (char *)sock,
                    (char *)"watch", (char *)"--json", NULL};
    pid_t w = fh_spawn(argv, NULL, cu_path("w.out"), cu_path("w.err"), -1);
    if (!wait_for_text(cu_path("w.out"), "\"class\":\"RESULT\"", 20000)) {
        char *out = cu_read_file(cu_path("w.out"), NULL);
        fprintf(stderr, "ferctl's stdout: %s\n", out ? out : "(missing)");
        free(out);
        fail_with(cu_path("w.err"), "no RESULT from the second daemon");
    }
    ck_assert_int_eq(stop_ferd(&d), 0);
    ck_assert_int_eq(wait_exit(w, 10000), 3);
    /* One line: lost, with the daemon's SHUTDOWN message in it. */
    char *err = cu_read_file(cu_path("w.err"), NULL);
    ck_assert_msg(cu_count_lines(err) == 1 && strstr(err, "lost ferd") &&
                      strstr(err, "closed the connection: "),
                  "%s", err);
    free(err);

    /* --reconnect: the watch survives a restart of the daemon. */
    start_ferd(&d, sock, "stop2-");
    char *argv2[] = {(char *)env_or_fail("FERCTL"), (char *)"--socket", (char *)sock,
                     (char *)"watch", (char *)"--json", (char *)"--reconnect",
                     (char *)"--count", (char *)"1000000", (char *)"--timeout", (char *)"60",
                     NULL};
    w = fh_spawn(argv2, NULL, cu_path("r.out"), cu_path("r.err"), -1);
    ck_assert(wait_for_text(cu_path("r.out"), "\"class\":\"RESULT\"", 20000));
    ck_assert_int_eq(stop_ferd(&d), 0);
    ck_assert(wait_for_text(cu_path("r.err"), "reconnecting", 10000));
    start_ferd(&d, sock, "stop3-");
    ck_assert(wait_for_text(cu_path("r.err"), "reconnected", 20000));
    /* Results flow again: a second VERSION, then RESULTs after it. */
    fh_deadline dl = fh_deadline_in(20000);
    int resumed = 0;
    do {
        char *out = cu_read_file(cu_path("r.out"), NULL);
        const char *second = out ? strstr(out, "\"class\":\"VERSION\"") : NULL;
        second = second ? strstr(second + 1, "\"class\":\"VERSION\"") : NULL;
        resumed = second && strstr(second, "\"class\":\"RESULT\"");
        free(out);
    } while (!resumed && fh_deadline_wait(&dl, 100));
    ck_assert_msg(resumed, "no results after reconnecting");
    kill(w, SIGTERM);
    wait_exit(w, 5000);
    ck_assert_int_eq(stop_ferd(&d), 0);
}
END_TEST

START_TEST(t_examples)
{
    need_daemon();
    const char *sock = cu_path("ferd.sock");
    cu_run_result r;
    char *c_argv[] = {(char *)env_or_fail("EXAMPLE_SUBSCRIBER"), (char *)sock, (char *)"5", NULL};
    cu_run(c_argv, NULL, 30000, &r);
    ck_assert_msg(r.status == 0, "C example: exit %d: %s", r.status, r.err);
    char *lines[128];
    int n = split_lines(r.out, lines, 128), frames = 0;
    for (int i = 0; i < n; i++)
        frames += strncmp(lines[i], "frame ", 6) == 0;
    ck_assert_int_eq(frames, 5);
    cu_run_free(&r);

    char script[1024];
    snprintf(script, sizeof script, "%s/examples/subscriber.py", env_or_fail("FER_SOURCE_ROOT"));
    char *py_argv[] = {(char *)"/usr/bin/python3", script, (char *)sock, (char *)"5", NULL};
    cu_run(py_argv, NULL, 30000, &r);
    ck_assert_msg(r.status == 0, "Python example: exit %d: %s", r.status, r.err);
    n = split_lines(r.out, lines, 128);
    frames = 0;
    for (int i = 0; i < n; i++)
        frames += strncmp(lines[i], "frame ", 6) == 0;
    ck_assert_int_eq(frames, 5);
    cu_run_free(&r);

    /* The jq one-liner finds ferctl on PATH, as an installed system would. */
    snprintf(script, sizeof script, "%s/examples/watch-jq.sh", env_or_fail("FER_SOURCE_ROOT"));
    char ferctl_dir[1024], path_env[3000];
    snprintf(ferctl_dir, sizeof ferctl_dir, "%s", env_or_fail("FERCTL"));
    *strrchr(ferctl_dir, '/') = '\0';
    snprintf(path_env, sizeof path_env, "PATH=%s:%s", ferctl_dir, getenv("PATH"));
    const char *const env[] = {path_env, NULL};
    char *sh_argv[] = {(char *)"/bin/sh", script, (char *)sock, (char *)"45", NULL};
    cu_run(sh_argv, env, 30000, &r);
    ck_assert_msg(r.status == 0, "jq example: exit %d: %s", r.status, r.err);
    n = split_lines(r.out, lines, 128);
    ck_assert_int_ge(n, 1);
    for (int i = 0; i < n; i++) {
        char when[64], label[32];
        int id;
        double prob;
        ck_assert_msg(sscanf(lines[i], "%63s %d %31s %lf", when, &id, label, &prob) == 4, "%s",
                      lines[i]);
        ck_assert(strlen(when) == 24 && when[23] == 'Z');
        ck_assert(prob >= 0 && prob <= 1);
    }
    cu_run_free(&r);
}
END_TEST

/*
 * An 8-class model (models/ferplus.arch: FER2013's seven and contempt, random
 * weights) with a recorded test accuracy and a calibration, served by its own
 * ferd: the class list comes from the model everywhere — STATUS (human and
 * JSON, with the test split and the temperature), the watch stream's scores,
 * the plain and annotated snapshots, RELOAD, and the C example over the client
 * library.
 */
START_TEST(t_eight_classes)
{
    char arch[1024];
    snprintf(arch, sizeof arch, "%s/models/ferplus.arch", env_or_fail("FER_SOURCE_ROOT"));
    const char *model = cu_path("fp.fermodel");
    char *mk[] = {(char *)env_or_fail("MAKE_MODEL"), arch, (char *)model, (char *)"11", NULL};
    cu_run_result r;
    cu_run(mk, NULL, 60000, &r);
    ck_assert_msg(r.status == 0, "make_model: %s", r.err);
    cu_run_free(&r);
    /* What fer eval --record and fer calibrate would write into the header. */
    fer_model *m = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_model_load(&m, model, 1, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m->net->arch->nclasses, 8);
    m->meta.test_acc = 0.8123f;
    snprintf(m->meta.test_split, sizeof m->meta.test_split, "PrivateTest FER+");
    fer_calibration_init(&m->calib);
    m->calib.temperature = 1.5f;
    snprintf(m->calib.split, sizeof m->calib.split, "PublicTest");
    ck_assert_msg(fer_model_save(m, model, &err) == 0, "%s", err.msg);
    fer_model_free(m);

    const char *sock = cu_path("fp.sock");
    const char *args[] = {"--source", demo_clip(), "--socket", sock, "--model", model,
                          "--set", "allow_images=yes", "--log-level", "info", NULL};
    fh_opts o = {.bin = env_or_fail("FERD_BIN"), .args = args, .listen_fd = -1, .sock = sock,
                 .wait = FH_WAIT_READY, .timeout_ms = 30000};
    fh_daemon d;
    memset(&d, 0, sizeof d);
    d.notify_fd = -1;
    char msg[2048];
    ck_assert_msg(fh_start(&d, cu_dir, "fp-", &o, msg, sizeof msg) == 0, "%s", msg);

    ferctl(&r, sock, NULL, "status", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_msg(strstr(r.out, "model    ferplus") && strstr(r.out, ": 8 classes") &&
                      strstr(r.out, "test accuracy 81.2% (PrivateTest FER+)") &&
                      strstr(r.out, "classes angry, disgust, fear, happy, sad, surprise, neutral, "
                                    "contempt;") &&
                      strstr(r.out, "temperature 1.5 (fitted on PublicTest)"),
                  "%s", r.out);
    cu_run_free(&r);
    ferctl(&r, sock, NULL, "status", "--json", NULL);
    fer_message jm = {0};
    ck_assert_msg(fer_message_parse(&jm, r.out, r.out_len, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(jm.status->model.nclasses, 8);
    ck_assert_str_eq(jm.status->model.classes[7], "contempt");
    ck_assert_str_eq(jm.status->model.test_split, "PrivateTest FER+");
    ck_assert_str_eq(jm.status->model.calib_split, "PublicTest");
    ck_assert(jm.status->model.temperature > 1.49 && jm.status->model.temperature < 1.51);
    fer_message_clear(&jm);
    cu_run_free(&r);

    /* The stream: every face scored over the eight classes, contempt included. */
    ferctl(&r, sock, NULL, "watch", "--json", "--count", "30", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    char *lines[64];
    int n = split_lines(r.out, lines, 64), faces = 0;
    for (int i = 0; i < n; i++) {
        fer_message rm = {0};
        ck_assert_msg(fer_message_parse(&rm, lines[i], strlen(lines[i]), &err) == 0, "%s",
                      err.msg);
        if (rm.kind == FER_MSG_RESULT && rm.u.result.nfaces > 0) {
            faces++;
            ck_assert_int_eq(rm.u.result.nclasses, 8);
            ck_assert_str_eq(rm.u.result.classes[7], "contempt");
            ck_assert_msg(strstr(lines[i], "\"contempt\":"), "%s", lines[i]);
            float sum = 0;
            for (int c = 0; c < 8; c++)
                sum += rm.u.result.faces[0].scores[c];
            ck_assert_msg(sum > 0.99f && sum < 1.01f, "scores sum to %g", (double)sum);
        }
        fer_message_clear(&rm);
    }
    ck_assert_int_gt(faces, 0);
    cu_run_free(&r);
    ferctl(&r, sock, NULL, "watch", "--count", "10", NULL);
    ck_assert_msg(r.status == 0 && strstr(r.out, "  at "), "exit %d: %s%s", r.status, r.out,
                  r.err);
    cu_run_free(&r);

    /* The pictures, plain and annotated (eight bars beside each face). */
    const char *plain = cu_path("fp.jpg"), *annotated = cu_path("fp-annotated.jpg");
    ferctl(&r, sock, NULL, "snapshot", "-o", plain, NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    cu_run_free(&r);
    check_jpeg(plain);
    ferctl(&r, sock, NULL, "snapshot", "--annotated", "-o", annotated, NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    cu_run_free(&r);
    check_jpeg(annotated);

    ferctl(&r, sock, NULL, "reload", "--json", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_msg(strstr(r.out, "\"contempt\"]") && strstr(r.out, "\"test_split\""), "%s", r.out);
    cu_run_free(&r);

    /* The C example over libferclient prints the labels it is sent. */
    char *c_argv[] = {(char *)env_or_fail("EXAMPLE_SUBSCRIBER"), (char *)sock, (char *)"3", NULL};
    cu_run(c_argv, NULL, 30000, &r);
    ck_assert_msg(r.status == 0, "C example: exit %d: %s", r.status, r.err);
    cu_run_free(&r);
    ck_assert_int_eq(stop_ferd(&d), 0);
}
END_TEST

/* ---- ferctl view under Xvfb ---- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Shift and width of a colour mask. */
static void mask_shape(uint32_t mask, int *shift, int *bits)
{
    *shift = 0;
    *bits = 0;
    if (!mask)
        return;
    while (!(mask & 1)) {
        mask >>= 1;
        (*shift)++;
    }
    while (mask & 1) {
        mask >>= 1;
        (*bits)++;
    }
}

/*
 * Decodes an X Window Dump (xwd(1): version 7, ZPixmap, a true- or
 * direct-colour visual with 24 or 32 bits per pixel) into a BGR image.
 * 0, or -1 if the file is not of that kind.
 */
static int xwd_decode(const uint8_t *d, size_t n, fer_image *img)
{
    if (n < 100)
        return -1;
    uint32_t h[25];
    for (int i = 0; i < 25; i++)
        h[i] = be32(d + 4 * i);
    uint32_t header = h[0], version = h[1], format = h[2], w = h[4], hgt = h[5];
    uint32_t lsb_first = h[7] == 0, bpp = h[11], bpl = h[12], ncolors = h[19];
    if (version != 7 || format != 2 || (bpp != 24 && bpp != 32) || w == 0 || hgt == 0 ||
        w > 16384 || hgt > 16384 || (uint64_t)bpl < (uint64_t)w * bpp / 8)
        return -1;
    size_t off = (size_t)header + (size_t)ncolors * 12;
    if (off + (size_t)bpl * hgt > n)
        return -1;
    int sh[3], bits[3];
    uint32_t masks[3] = {h[16], h[15], h[14]}; /* blue, green, red */
    for (int c = 0; c < 3; c++) {
        mask_shape(masks[c], &sh[c], &bits[c]);
        if (bits[c] == 0)
            return -1;
    }
    if (fer_image_alloc(img, (int)w, (int)hgt, 3) < 0)
        return -1;
    int bytes = (int)bpp / 8;
    for (uint32_t y = 0; y < hgt; y++) {
        const uint8_t *row = d + off + (size_t)y * bpl;
        for (uint32_t x = 0; x < w; x++) {
            const uint8_t *p = row + (size_t)x * (size_t)bytes;
            uint32_t v = 0;
            for (int k = 0; k < bytes; k++)
                v |= (uint32_t)p[lsb_first ? k : bytes - 1 - k] << (8 * k);
            uint8_t *o = img->data + ((size_t)y * w + x) * 3;
            for (int c = 0; c < 3; c++) {
                uint32_t ch = (v & masks[c]) >> sh[c];
                o[c] = (uint8_t)(bits[c] >= 8 ? ch >> (bits[c] - 8)
                                              : ch * 255 / ((1u << bits[c]) - 1));
            }
        }
    }
    return 0;
}

/* Starts Xvfb on a free display (-displayfd 3, our pipe) with a white root window. */
static pid_t start_xvfb(int *display)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    char *argv[] = {(char *)"/usr/bin/Xvfb", (char *)"-displayfd", (char *)"3", (char *)"-screen",
                    (char *)"0", (char *)"1024x768x24", (char *)"-wr", (char *)"-nolisten",
                    (char *)"tcp", (char *)"-noreset", NULL};
    pid_t pid = fh_spawn(argv, NULL, NULL, NULL, fds[1]);
    ck_assert_int_gt(pid, 0);
    close(fds[1]);
    char buf[32] = "";
    size_t len = 0;
    struct pollfd p = {.fd = fds[0], .events = POLLIN};
    fh_deadline dl = fh_deadline_in(15000);
    while (!strchr(buf, '\n') && len < sizeof buf - 1 && fh_deadline_left(&dl) > 0) {
        if (poll(&p, 1, fh_deadline_left(&dl)) <= 0)
            continue;
        ssize_t r = read(fds[0], buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
    }
    close(fds[0]);
    ck_assert_msg(strchr(buf, '\n') != NULL, "Xvfb did not start");
    *display = atoi(buf);
    return pid;
}

/*
 * What the viewer draws, measured on a screenshot with a white background:
 * the share of non-white pixels (the window showing a frame) and the number
 * of pixels of exactly the grey fer_annotate fills its score panels with. The
 * screenshot is lossless and the drawing is done after JPEG decoding, so that
 * exact colour marks drawing, not picture.
 */
static void measure(const fer_image *img, double *covered, long *dark)
{
    long nonwhite = 0;
    *dark = 0;
    for (long i = 0; i < (long)img->w * img->h; i++) {
        const uint8_t *p = img->data + i * 3;
        nonwhite += p[0] < 240 || p[1] < 240 || p[2] < 240;
        *dark += p[0] == 20 && p[1] == 20 && p[2] == 20;
    }
    *covered = (double)nonwhite / ((double)img->w * img->h);
}

START_TEST(t_view_screenshot)
{
    need_daemon();
    ck_assert_msg(access("/usr/bin/Xvfb", X_OK) == 0 && access("/usr/bin/xwd", X_OK) == 0,
                  "Xvfb and xwd are needed (tools/install-deps.sh installs xvfb, x11-apps)");
    int display;
    pid_t x = start_xvfb(&display);
    char disp[32];
    snprintf(disp, sizeof disp, ":%d", display);
    char denv[48], supp[1100];
    snprintf(denv, sizeof denv, "DISPLAY=%s", disp);
    /* Qt's own leak at exit must not hide the viewer's exit code. */
    snprintf(supp, sizeof supp, "LSAN_OPTIONS=suppressions=%s/tests/lsan-qt.supp",
             env_or_fail("FER_SOURCE_ROOT"));
    const char *const env[] = {denv, supp, "XDG_RUNTIME_DIR=", "FERD_SOCKET=", NULL};
    char *argv[] = {(char *)env_or_fail("FERCTL"), (char *)"--socket",
                    (char *)cu_path("ferd.sock"), (char *)"view", (char *)"--timeout",
                    (char *)"15", NULL};
    fh_deadline shots = fh_deadline_in(12000);
    pid_t v = fh_spawn(argv, env, cu_path("view.out"), cu_path("view.err"), -1);

    /* Screenshots until one shows the frame with a face drawn (the clip has a
     * second without faces), for at most 12 s. */
    const char *xwd_file = cu_path("shot.xwd");
    fer_image best = {0};
    double covered = 0;
    long dark = 0;
    do {
        char *xa[] = {(char *)"/usr/bin/xwd", (char *)"-root", (char *)"-silent",
                      (char *)"-display", disp, (char *)"-out", (char *)xwd_file, NULL};
        cu_run_result r;
        cu_run(xa, NULL, 10000, &r);
        ck_assert_msg(r.status == 0, "xwd: %s", r.err);
        cu_run_free(&r);
        size_t len;
        uint8_t *bytes = (uint8_t *)cu_read_file(xwd_file, &len);
        fer_image img = {0};
        ck_assert_msg(bytes && xwd_decode(bytes, len, &img) == 0, "cannot decode %s", xwd_file);
        free(bytes);
        measure(&img, &covered, &dark);
        fer_image_free(&best);
        best = img;
        if (covered > 0.25 && dark > 2000)
            break;
    } while (fh_deadline_wait(&shots, 700));
    /* Keep the last screenshot for people to look at. */
    const char *shot_dir = getenv("FERCTL_SHOT_DIR");
    char shot[1024];
    snprintf(shot, sizeof shot, "%s/ferctl-view.png", shot_dir && *shot_dir ? shot_dir : cu_dir);
    fer_error err = {0};
    ck_assert_msg(fer_image_write(&best, shot, &err) == 0, "%s", err.msg);
    fer_image_free(&best);
    /* The viewer ends by itself at --timeout, with status 0. */
    int status = wait_exit(v, 20000);
    kill(x, SIGTERM);
    wait_exit(x, 5000);
    if (status != 0)
        fail_with(cu_path("view.err"), "ferctl view: exit status %d", status);
    /* 640x480 of 1024x768 is 39%: the window is up and shows the picture... */
    ck_assert_msg(covered > 0.25, "screenshot %s is blank (%.1f%% covered)", shot,
                  covered * 100);
    /* ...with the annotations drawn on it. */
    ck_assert_msg(dark > 2000, "screenshot %s shows no score panel (%ld dark pixels)", shot,
                  dark);
}
END_TEST

static Suite *ferctl_suite(void)
{
    Suite *s = suite_create("ferctl");
    TCase *tc = tcase_create("daemon");
    tcase_add_unchecked_fixture(tc, shared_setup, shared_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_status);
    tcase_add_test(tc, t_watch_json);
    tcase_add_test(tc, t_watch_human);
    tcase_add_test(tc, t_watch_options);
    tcase_add_test(tc, t_snapshot);
    tcase_add_test(tc, t_reload);
    tcase_add_test(tc, t_absent);
    tcase_add_test(tc, t_examples);
    tcase_add_test(tc, t_eight_classes);
    tcase_add_test(tc, t_view_screenshot);
    tcase_add_test(tc, t_daemon_stops_mid_watch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ferctl_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
