/*
 * test_ferctl_fake.c — the ferctl binary ($FERCTL) against the scripted fake
 * server of client_util.c: every subcommand's output and exit code, --help
 * everywhere, the one-line "not running" message, the refusal of another
 * protocol major version, --json passing the daemon's lines unchanged,
 * --count, --timeout, --events, a daemon lost mid-watch and --reconnect,
 * -o FILE, refusals, `view` without a display, and that ferctl links neither
 * OpenCV nor OpenBLAS. The same commands against the real daemon are
 * test_ferctl.c.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_util.h"

static void setup(void)
{
    cu_setup();
}

static void teardown(void)
{
    cu_cleanup();
}

static const char *ferctl_path(void)
{
    const char *p = getenv("FERCTL");
    ck_assert_msg(p != NULL, "FERCTL is not set (meson sets it)");
    return p;
}

/* Runs ferctl with up to 8 arguments (NULL-terminated list). */
static void ferctl(cu_run_result *res, const char *const *env, const char *a0, ...)
{
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)ferctl_path();
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a && n < 15; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    static const char *const noenv[] = {"FERD_SOCKET=", NULL};
    cu_run(argv, env ? env : noenv, 20000, res);
}

START_TEST(t_ferctl_usage)
{
    cu_run_result r;
    ferctl(&r, NULL, "--help", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "usage: ferctl"));
    cu_run_free(&r);
    static const char *const cmds[] = {"watch", "snapshot", "status", "reload", "view"};
    for (int i = 0; i < 5; i++) {
        ferctl(&r, NULL, cmds[i], "--help", NULL);
        ck_assert_msg(r.status == 0, "%s --help: %d %s", cmds[i], r.status, r.err);
        char want[64];
        snprintf(want, sizeof want, "usage: ferctl %s", cmds[i]);
        ck_assert_msg(strstr(r.out, want) != NULL, "%s", r.out);
        ck_assert_ptr_nonnull(strstr(r.out, "exit status"));
        cu_run_free(&r);
    }
    ferctl(&r, NULL, NULL);
    ck_assert_int_eq(r.status, 64);
    cu_run_free(&r);
    ferctl(&r, NULL, "frobnicate", NULL);
    ck_assert_int_eq(r.status, 64);
    ck_assert_ptr_nonnull(strstr(r.err, "unknown command"));
    cu_run_free(&r);
    ferctl(&r, NULL, "watch", "--count", "many", NULL);
    ck_assert_int_eq(r.status, 64);
    cu_run_free(&r);
    ferctl(&r, NULL, "--version", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "protocol 1."));
    cu_run_free(&r);
}
END_TEST

START_TEST(t_ferctl_absent)
{
    const char *path = cu_path("absent.sock");
    static const char *const cmds[] = {"watch", "snapshot", "status", "reload"};
    for (int i = 0; i < 4; i++) {
        cu_run_result r;
        /* --socket before the subcommand for some, after it for others. */
        if (i % 2)
            ferctl(&r, NULL, "--socket", path, cmds[i], NULL);
        else
            ferctl(&r, NULL, cmds[i], "--socket", path, NULL);
        ck_assert_msg(r.status == 2, "%s: exit %d", cmds[i], r.status);
        ck_assert_str_eq(r.out, "");
        ck_assert_msg(cu_count_lines(r.err) == 1, "%s: %s", cmds[i], r.err);
        ck_assert_ptr_nonnull(strstr(r.err, path));
        ck_assert_ptr_nonnull(strstr(r.err, "systemctl start ferd"));
        cu_run_free(&r);
    }
    /* $FERD_SOCKET is the default when --socket is not given. */
    char env0[600];
    snprintf(env0, sizeof env0, "FERD_SOCKET=%s", path);
    const char *const env[] = {env0, NULL};
    cu_run_result r;
    ferctl(&r, env, "status", NULL);
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, path));
    cu_run_free(&r);
}
END_TEST

START_TEST(t_ferctl_version_mismatch)
{
    const char *path = cu_path("s.sock");
    static const fs_step steps[] = {{FS_ACCEPT, NULL, 0}, {FS_GREET, NULL, 2},
                                    {FS_HOLD, NULL, 0}, {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    cu_run_result r;
    ferctl(&r, NULL, "--socket", path, "status", NULL);
    ck_assert_int_eq(r.status, 4);
    ck_assert_str_eq(r.out, "");
    ck_assert_int_eq(cu_count_lines(r.err), 1);
    char want[32];
    snprintf(want, sizeof want, "protocol 2.%d", FER_PROTO_MINOR); /* the fake greets so */
    ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
    cu_run_free(&r);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
}
END_TEST

START_TEST(t_ferctl_watch)
{
    const char *path = cu_path("s.sock");
    fer_watch w;
    fer_watch_default(&w);
    w.scores = 0;
    char *ack = cu_watch_ack_line(&w);
    const fs_step steps[] = {{FS_ACCEPT, NULL, 0},
                             {FS_GREET, NULL, 0},
                             {FS_EXPECT, "{\"class\":\"WATCH\",\"scores\":false}", 0},
                             {FS_SEND, ack, 0},
                             {FS_RESULTS, NULL, 3},
                             {FS_HOLD, NULL, 0},
                             {FS_ACCEPT, NULL, 0},
                             {FS_GREET, NULL, 0},
                             {FS_EXPECT, "{\"class\":\"WATCH\",\"max_fps\":2,\"min_prob\":0.5}", 0},
                             {FS_SEND, ack, 0},
                             {FS_RESULTS, NULL, 3},
                             {FS_HOLD, NULL, 0},
                             {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    const char *const env[] = {"TZ=UTC", "FERD_SOCKET=", NULL};
    cu_run_result r;
    ferctl(&r, env, "--socket", path, "watch", "--count", "2", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_str_eq(r.err, "");
    ck_assert_int_eq(cu_count_lines(r.out), 2);
    ck_assert_msg(strstr(r.out, "10:00:00.189  frame 1       face 1    happy     0.65  at "
                                "100,120 96x96\n") != NULL,
                  "%s", r.out);
    cu_run_free(&r);

    /* --json: the daemon's lines, every one, unchanged; the options reach the request. */
    ferctl(&r, env, "watch", "--socket", path, "--json", "--count", "3", "--max-fps", "2",
           "--min-prob", "0.5", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_str_eq(r.err, "");
    ck_assert_int_eq(cu_count_lines(r.out), 5);
    char *save = NULL, *line = strtok_r(r.out, "\n", &save);
    static const fer_msg_kind kinds[] = {FER_MSG_VERSION, FER_MSG_WATCH, FER_MSG_RESULT,
                                         FER_MSG_RESULT, FER_MSG_RESULT};
    for (int i = 0; i < 5; i++, line = strtok_r(NULL, "\n", &save)) {
        ck_assert_ptr_nonnull(line);
        fer_message m = {0};
        fer_error err = {0};
        ck_assert_msg(fer_message_parse(&m, line, strlen(line), &err) == 0, "%s", err.msg);
        ck_assert_int_eq(m.kind, kinds[i]);
        fer_message_clear(&m);
    }
    cu_run_free(&r);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
    free(ack);
}
END_TEST

START_TEST(t_ferctl_watch_lost)
{
    const char *path = cu_path("s.sock");
    fer_watch w;
    fer_watch_default(&w);
    char *ack = cu_watch_ack_line(&w);
    const fs_step steps[] = {
        {FS_ACCEPT, NULL, 0},   {FS_GREET, NULL, 0},    {FS_EXPECT, "WATCH", 0},
        {FS_SEND, ack, 0},      {FS_RESULTS, NULL, 2},  {FS_CLOSE, NULL, 0},
        /* --reconnect: the daemon comes back, the stream resumes. */
        {FS_ACCEPT, NULL, 0},   {FS_GREET, NULL, 0},    {FS_EXPECT, "WATCH", 0},
        {FS_SEND, ack, 0},      {FS_RESULTS, NULL, 2},  {FS_CLOSE, NULL, 0},
        {FS_ACCEPT, NULL, 0},   {FS_GREET, NULL, 0},    {FS_EXPECT, "WATCH", 0},
        {FS_SEND, ack, 0},      {FS_RESULTS, NULL, 2},  {FS_HOLD, NULL, 0},
        {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    cu_run_result r;
    ferctl(&r, NULL, "--socket", path, "watch", "--count", "5", NULL);
    ck_assert_int_eq(r.status, 3);
    ck_assert_int_eq(cu_count_lines(r.out), 2);
    ck_assert_int_eq(cu_count_lines(r.err), 1);
    ck_assert_msg(strstr(r.err, "lost ferd") && strstr(r.err, path), "%s", r.err);
    cu_run_free(&r);

    ferctl(&r, NULL, "--socket", path, "watch", "--reconnect", "--json", "--count", "4", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "reconnecting"));
    ck_assert_ptr_nonnull(strstr(r.err, "reconnected"));
    int results = 0;
    for (const char *p = r.out; (p = strstr(p, "\"class\":\"RESULT\"")); p++)
        results++;
    ck_assert_int_eq(results, 4);
    cu_run_free(&r);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
    free(ack);
}
END_TEST

START_TEST(t_ferctl_watch_timeout)
{
    const char *path = cu_path("s.sock");
    fer_watch w;
    fer_watch_default(&w);
    w.events = 1;
    w.scores = 0;
    char *ack = cu_watch_ack_line(&w);
    fer_face_event ev = {.event = FER_EVENT_APPEARED, .seq = 3, .wall_ms = 1795860000123LL,
                         .id = 1, .box = {10, 20, 30, 40}, .prob = 0.8f};
    snprintf(ev.label, sizeof ev.label, "happy");
    char *appeared = NULL;
    ck_assert_int_eq(fer_face_event_to_json(&ev, &appeared), 0);
    const fs_step steps[] = {{FS_ACCEPT, NULL, 0},
                             {FS_GREET, NULL, 0},
                             {FS_EXPECT, "\"events\":true", 0},
                             {FS_SEND, ack, 0},
                             {FS_RESULTS, NULL, 1}, /* not counted with --events */
                             {FS_SEND, appeared, 0},
                             {FS_HOLD, NULL, 0},
                             {FS_ACCEPT, NULL, 0},
                             {FS_GREET, NULL, 0},
                             {FS_HOLD, NULL, 0},
                             {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    const char *const env[] = {"TZ=UTC", "FERD_SOCKET=", NULL};
    cu_run_result r;
    int64_t t0 = fer_mono_ms();
    ferctl(&r, env, "--socket", path, "watch", "--events", "--count", "2", "--timeout", "0.7",
           NULL);
    int64_t dt = fer_mono_ms() - t0;
    ck_assert_msg(r.status == 5, "exit %d: %s", r.status, r.err);
    ck_assert_msg(dt >= 650 && dt < 5000, "took %lld ms", (long long)dt);
    ck_assert_int_eq(cu_count_lines(r.out), 1);
    ck_assert_msg(strstr(r.out, "face 1    appeared  happy     0.80  at 10,20 30x40"), "%s",
                  r.out);
    ck_assert_ptr_nonnull(strstr(r.err, "1 of 2 events"));
    cu_run_free(&r);
    /* Without --count, the timeout is simply the end. */
    ferctl(&r, env, "--socket", path, "watch", "--timeout", "0.3", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    cu_run_free(&r);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
    free(ack);
    free(appeared);
}
END_TEST

START_TEST(t_ferctl_status_reload)
{
    const char *path = cu_path("s.sock");
    char *st = cu_status_line();
    fer_reload_msg rl = {0};
    snprintf(rl.model.name, sizeof rl.model.name, "default");
    rl.model.nclasses = 7;
    rl.model.val_acc = 0.5;
    rl.model.test_acc = -1;
    rl.model.params = -1;
    char *reload = NULL;
    ck_assert_int_eq(fer_reload_to_json(&rl, &reload), 0);
    const fs_step steps[] = {
        {FS_ACCEPT, NULL, 0}, {FS_GREET, NULL, 0}, {FS_EXPECT, "STATUS", 0},
        {FS_SEND, st, 0},     {FS_HOLD, NULL, 0},  {FS_ACCEPT, NULL, 0},
        {FS_GREET, NULL, 0},  {FS_EXPECT, "STATUS", 0}, {FS_SEND, st, 0},
        {FS_HOLD, NULL, 0},   {FS_ACCEPT, NULL, 0}, {FS_GREET, NULL, 0},
        {FS_EXPECT, "RELOAD", 0}, {FS_SEND, reload, 0}, {FS_HOLD, NULL, 0},
        {FS_ACCEPT, NULL, 0}, {FS_GREET, NULL, 0}, {FS_EXPECT, "RELOAD", 0},
        {FS_SEND, "{\"class\":\"ERROR\",\"code\":\"reload_failed\",\"message\":\"model.fermodel: "
                  "checksum mismatch; the old model keeps serving\",\"request\":\"RELOAD\"}", 0},
        {FS_HOLD, NULL, 0},   {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    cu_run_result r;
    ferctl(&r, NULL, "--socket", path, "status", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "source   samples/demo.avi (video): streaming"));
    ck_assert_ptr_nonnull(strstr(r.out, "latency  p50 12.5 ms"));
    cu_run_free(&r);
    ferctl(&r, NULL, "--socket", path, "status", "--json", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(strncmp(r.out, st, strlen(st)), 0);
    ck_assert_str_eq(r.out + strlen(st), "\n");
    cu_run_free(&r);
    ferctl(&r, NULL, "--socket", path, "reload", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_str_eq(r.out, "reloaded: model default, 7 classes, validation accuracy 50.0%\n");
    cu_run_free(&r);
    ferctl(&r, NULL, "--socket", path, "reload", NULL);
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_int_eq(cu_count_lines(r.err), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "checksum mismatch"));
    cu_run_free(&r);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
    free(st);
    free(reload);
}
END_TEST

START_TEST(t_ferctl_snapshot)
{
    const char *path = cu_path("s.sock");
    fer_frame_result res = cu_result(12, 1);
    static const uint8_t fake_jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 0xff, 0xd9};
    fer_image_data img = {.kind = FER_IMAGE_ANNOTATED, .width = 640, .height = 480,
                          .jpeg = (uint8_t *)fake_jpeg, .len = sizeof fake_jpeg};
    char *poll = NULL, *plain = NULL;
    ck_assert_int_eq(fer_result_msg_to_json(&res, 0, &img, 0, 1, &poll), 0);
    ck_assert_int_eq(fer_result_msg_to_json(&res, 0, NULL, 0, 1, &plain), 0);
    const fs_step steps[] = {
        {FS_ACCEPT, NULL, 0}, {FS_GREET, NULL, 0}, {FS_EXPECT, "{\"class\":\"POLL\"}", 0},
        {FS_SEND, plain, 0},  {FS_HOLD, NULL, 0},  {FS_ACCEPT, NULL, 0},
        {FS_GREET, NULL, 0},  {FS_EXPECT, "{\"class\":\"POLL\",\"image\":\"annotated\"}", 0},
        {FS_SEND, poll, 0},   {FS_HOLD, NULL, 0},  {FS_ACCEPT, NULL, 0},
        {FS_GREET, NULL, 0},  {FS_EXPECT, "\"image\":\"jpeg\"", 0},
        {FS_SEND, "{\"class\":\"ERROR\",\"code\":\"forbidden\",\"message\":\"images are "
                  "disabled on this daemon (allow_images no)\",\"request\":\"POLL\"}", 0},
        {FS_HOLD, NULL, 0},   {FS_END, NULL, 0}};
    pid_t srv = fs_start(path, steps);
    cu_run_result r;
    ferctl(&r, NULL, "--socket", path, "snapshot", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "frame 12 at "));
    /* Led by the smoothed figure, as the annotated picture draws it, then this frame's. */
    ck_assert_msg(strstr(r.out, "face 1    happy     0.65 smoothed  at 100,120 96x96  "
                                "this frame happy 0.70\n"), "%s", r.out);
    cu_run_free(&r);
    const char *file = cu_path("snap.jpg");
    ferctl(&r, NULL, "--socket", path, "snapshot", "-o", file, "--annotated", NULL);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "saved "));
    size_t len;
    char *bytes = cu_read_file(file, &len);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_uint_eq(len, sizeof fake_jpeg);
    ck_assert_int_eq(memcmp(bytes, fake_jpeg, len), 0);
    free(bytes);
    cu_run_free(&r);
    ferctl(&r, NULL, "--socket", path, "snapshot", "-o", cu_path("no.jpg"), NULL);
    ck_assert_int_eq(r.status, 1);
    ck_assert_int_eq(cu_count_lines(r.err), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "allow_images"));
    ck_assert_int_ne(access(cu_path("no.jpg"), F_OK), 0);
    cu_run_free(&r);
    ck_assert_int_eq(fs_wait(srv, 5000), 0);
    free(poll);
    free(plain);
}
END_TEST

START_TEST(t_ferctl_view_no_display)
{
    const char *const env[] = {"DISPLAY=", "WAYLAND_DISPLAY=", "FERD_SOCKET=", NULL};
    cu_run_result r;
    ferctl(&r, env, "--socket", cu_path("absent.sock"), "view", NULL);
    ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
    ck_assert_int_eq(cu_count_lines(r.err), 1);
    ck_assert_ptr_nonnull(strstr(r.err, "no display"));
    cu_run_free(&r);
    /* A DISPLAY whose server is not there: also one line, no crash. */
    const char *const env2[] = {"DISPLAY=:97", "FERD_SOCKET=", NULL};
    ferctl(&r, env2, "view", NULL);
    ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "cannot connect to the X server"));
    cu_run_free(&r);
}
END_TEST

/* ferctl and libferclient must never load OpenCV, Qt or OpenBLAS. */
START_TEST(t_ferctl_links)
{
    char *argv[] = {(char *)"/usr/bin/ldd", (char *)ferctl_path(), NULL};
    cu_run_result r;
    cu_run(argv, NULL, 10000, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "libferclient.so"));
    ck_assert_ptr_nonnull(strstr(r.out, "libcjson"));
    ck_assert_msg(!strstr(r.out, "opencv") && !strstr(r.out, "Qt") && !strstr(r.out, "openblas"),
                  "%s", r.out);
    cu_run_free(&r);
}
END_TEST

static Suite *ferctl_suite(void)
{
    Suite *s = suite_create("ferctl-fake");
    TCase *ctl = tcase_create("ferctl");
    tcase_add_checked_fixture(ctl, setup, teardown);
    tcase_set_timeout(ctl, 60);
    tcase_add_test(ctl, t_ferctl_usage);
    tcase_add_test(ctl, t_ferctl_absent);
    tcase_add_test(ctl, t_ferctl_version_mismatch);
    tcase_add_test(ctl, t_ferctl_watch);
    tcase_add_test(ctl, t_ferctl_watch_lost);
    tcase_add_test(ctl, t_ferctl_watch_timeout);
    tcase_add_test(ctl, t_ferctl_status_reload);
    tcase_add_test(ctl, t_ferctl_snapshot);
    tcase_add_test(ctl, t_ferctl_view_no_display);
    tcase_add_test(ctl, t_ferctl_links);
    suite_add_tcase(s, ctl);
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
