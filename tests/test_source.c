/*
 * test_source.c — frame sources without a camera: source-string parsing, image
 * folders and patterns, a still, a video the test writes with the MJPEG writer,
 * pacing and back-off arithmetic, and every source error produced on purpose,
 * each with its own message.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cv/video_write.h"
#include "vision/pace.h"
#include "vision/source.h"
#include "vision/v4l2_probe.h"
#include "vision_util.h"

static void setup(void)
{
    tu_setup();
}

static void teardown(void)
{
    tu_cleanup();
}

static fer_source_opts fast_opts(int loop)
{
    fer_source_opts o;
    fer_source_opts_default(&o);
    o.loop = loop;
    o.realtime = 0;
    return o;
}

/* Writes n grey-level PNGs (level 10*i + 5) named img<i>.png into dir. */
static void write_images(const char *dir, int n)
{
    for (int i = 0; i < n; i++) {
        fer_image img = tu_blank(32, 24, 10 * i + 5);
        char path[600];
        snprintf(path, sizeof path, "%s/img%d.png", dir, i);
        fer_error err;
        ck_assert_int_eq(fer_image_write(&img, path, &err), 0);
        fer_image_free(&img);
    }
}

/* Writes an n-frame 64x48 MJPEG video, frame i of level 20*i + 20, at 25 fps. */
static void write_video(const char *path, int n)
{
    fer_video_writer *v = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_video_writer_open(&v, path, 64, 48, 25.0, 95, &err) == 0, "%s", err.msg);
    for (int i = 0; i < n; i++) {
        fer_image img = tu_blank(64, 48, 20 * i + 20);
        ck_assert_int_eq(fer_video_writer_write(v, &img, &err), 0);
        fer_image_free(&img);
    }
    ck_assert_int_eq(fer_video_writer_close(v, &err), 0);
}

static int mean_level(const fer_image *img)
{
    long long s = 0;
    size_t n = (size_t)img->w * img->h * img->channels;
    for (size_t i = 0; i < n; i++)
        s += img->data[i];
    return (int)(s / (long long)n);
}

START_TEST(t_parse)
{
    fer_source_spec s;
    fer_error err = {0};
    ck_assert_int_eq(fer_source_parse(&s, "0", &err), 0);
    ck_assert_int_eq(s.kind, FER_SOURCE_CAMERA);
    ck_assert_int_eq(s.index, 0);
    ck_assert_str_eq(s.path, "/dev/video0");
    ck_assert_int_eq(fer_source_parse(&s, "12", &err), 0);
    ck_assert_str_eq(s.path, "/dev/video12");
    ck_assert_int_eq(fer_source_parse(&s, "rtsp://cam.local/live", &err), 0);
    ck_assert_int_eq(s.kind, FER_SOURCE_STREAM);
    ck_assert_int_eq(fer_source_parse(&s, "HTTP://cam.local/mjpg", &err), 0);
    ck_assert_int_eq(s.kind, FER_SOURCE_STREAM);
    ck_assert_int_eq(fer_source_parse(&s, "ftp://x/y", &err), FER_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "URL scheme"));
    ck_assert_int_eq(fer_source_parse(&s, "", &err), -EINVAL);

    ck_assert_int_eq(fer_source_parse(&s, tu_dir, &err), 0);
    ck_assert_int_eq(s.kind, FER_SOURCE_IMAGES);
    ck_assert_int_eq(s.is_dir, 1);
    ck_assert_int_eq(fer_source_parse(&s, tu_path("*.png"), &err), 0);
    ck_assert_int_eq(s.kind, FER_SOURCE_IMAGES);
    ck_assert_int_eq(s.is_dir, 0);
    tu_write_bytes(tu_path("a.JPG"), "x", 1);
    ck_assert_int_eq(fer_source_parse(&s, tu_path("a.JPG"), &err), 0);
    ck_assert_int_eq(s.kind, FER_SOURCE_IMAGE);
    tu_write_bytes(tu_path("clip.mkv"), "x", 1);
    ck_assert_int_eq(fer_source_parse(&s, tu_path("clip.mkv"), &err), 0);
    ck_assert_int_eq(s.kind, FER_SOURCE_VIDEO);
    ck_assert_int_eq(fer_source_parse(&s, "/dev/null", &err), 0); /* a char device */
    ck_assert_int_eq(s.kind, FER_SOURCE_CAMERA);
}
END_TEST

START_TEST(t_image_folder)
{
    write_images(tu_dir, 3);
    tu_write_bytes(tu_path("notes.txt"), "not an image", 12);
    fer_source_opts o = fast_opts(0);
    fer_source *s = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_source_open(&s, tu_dir, &o, &err) == 0, "%s", err.msg);
    fer_source_info info;
    fer_source_get_info(s, &info);
    ck_assert_int_eq(info.kind, FER_SOURCE_IMAGES);
    ck_assert_int_eq(info.frames, 3);
    ck_assert_int_eq(info.width, 32);
    fer_frame f = {0};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(fer_source_read(s, &f, &err), 0);
        ck_assert_uint_eq(f.seq, (uint64_t)i + 1);
        ck_assert_int_eq(f.img.channels, 3);
        ck_assert_int_eq(mean_level(&f.img), 10 * i + 5);
        ck_assert_int_gt(f.wall_ms, 1600000000000LL);
        ck_assert_uint_gt(f.mono_ns, 0);
    }
    ck_assert_int_eq(fer_source_read(s, &f, &err), FER_E_EOF);
    ck_assert_ptr_nonnull(strstr(err.msg, "end of images"));
    fer_source_close(s);

    /* Looping starts again with the first image; seq keeps counting. */
    o = fast_opts(1);
    ck_assert_int_eq(fer_source_open(&s, tu_path("img*.png"), &o, &err), 0);
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(fer_source_read(s, &f, &err), 0);
        ck_assert_int_eq(mean_level(&f.img), 10 * (i % 3) + 5);
        ck_assert_uint_eq(f.seq, (uint64_t)i + 1);
    }
    fer_source_close(s);
    fer_frame_free(&f);
}
END_TEST

START_TEST(t_still_image)
{
    write_images(tu_dir, 1);
    fer_source_opts o = fast_opts(0);
    fer_source *s = NULL;
    fer_error err = {0};
    fer_frame f = {0};
    ck_assert_int_eq(fer_source_open(&s, tu_path("img0.png"), &o, &err), 0);
    ck_assert_int_eq(fer_source_read(s, &f, &err), 0);
    ck_assert_int_eq(fer_source_read(s, &f, &err), FER_E_EOF);
    fer_source_close(s);
    o = fast_opts(1);
    ck_assert_int_eq(fer_source_open(&s, tu_path("img0.png"), &o, &err), 0);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(fer_source_read(s, &f, &err), 0);
        ck_assert_int_eq(mean_level(&f.img), 5);
    }
    fer_source_close(s);
    fer_frame_free(&f);
}
END_TEST

START_TEST(t_video_file)
{
    const char *path = tu_path("clip.avi");
    write_video(path, 8);
    fer_source_opts o = fast_opts(0);
    fer_source *s = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_source_open(&s, path, &o, &err) == 0, "%s", err.msg);
    fer_source_info info;
    fer_source_get_info(s, &info);
    ck_assert_int_eq(info.kind, FER_SOURCE_VIDEO);
    ck_assert_int_eq(info.width, 64);
    ck_assert_int_eq(info.height, 48);
    ck_assert(info.fps > 24.9 && info.fps < 25.1);
    fer_frame f = {0};
    for (int i = 0; i < 8; i++) {
        ck_assert_msg(fer_source_read(s, &f, &err) == 0, "%s", err.msg);
        ck_assert_int_le(abs(mean_level(&f.img) - (20 * i + 20)), 2);
    }
    ck_assert_int_eq(fer_source_read(s, &f, &err), FER_E_EOF);
    ck_assert_ptr_nonnull(strstr(err.msg, "end of video"));
    fer_source_close(s);

    /* Looped: after the last frame comes the first again. */
    o = fast_opts(1);
    ck_assert_int_eq(fer_source_open(&s, path, &o, &err), 0);
    for (int i = 0; i < 11; i++) {
        ck_assert_msg(fer_source_read(s, &f, &err) == 0, "%s", err.msg);
        ck_assert_int_le(abs(mean_level(&f.img) - (20 * (i % 8) + 20)), 2);
    }
    /* Reopening (what the daemon does after a loss) starts over and keeps seq. */
    ck_assert_int_eq(fer_source_reopen(s, &err), 0);
    ck_assert_int_eq(fer_source_read(s, &f, &err), 0);
    ck_assert_uint_eq(f.seq, 12);
    ck_assert_int_le(abs(mean_level(&f.img) - 20), 2);
    fer_source_close(s);
    fer_frame_free(&f);
}
END_TEST

START_TEST(t_paced)
{
    write_images(tu_dir, 2);
    fer_source_opts o;
    fer_source_opts_default(&o);
    o.fps = 20; /* 50 ms apart */
    fer_source *s = NULL;
    fer_error err = {0};
    fer_frame f = {0};
    ck_assert_int_eq(fer_source_open(&s, tu_dir, &o, &err), 0);
    uint64_t t0 = fer_mono_ns();
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(fer_source_read(s, &f, &err), 0);
    double ms = (double)(fer_mono_ns() - t0) / 1e6;
    ck_assert_msg(ms >= 195 && ms < 1000, "5 frames at 20 fps took %.1f ms", ms);
    fer_source_close(s);
    fer_frame_free(&f);
}
END_TEST

START_TEST(t_pacer_and_backoff)
{
    fer_pacer p;
    fer_pacer_init(&p, 0);
    ck_assert_uint_eq(p.period_ns, 0);
    fer_pacer_init(&p, 50);
    ck_assert_uint_eq(p.period_ns, 20000000u);
    uint64_t a = fer_pacer_wait(&p), b = fer_pacer_wait(&p);
    ck_assert_uint_ge(b - a, 19000000u);

    fer_backoff bo;
    fer_backoff_init(&bo, 0, 0, 0);
    const uint32_t want[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(fer_backoff_next(&bo), want[i]);
    ck_assert_uint_eq(bo.failures, 8);
    fer_backoff_reset(&bo);
    ck_assert_uint_eq(fer_backoff_next(&bo), 500);
    fer_backoff_init(&bo, 100, 250, 3.0);
    ck_assert_uint_eq(fer_backoff_next(&bo), 100);
    ck_assert_uint_eq(fer_backoff_next(&bo), 250);
}
END_TEST

/* Opens spec expecting code; returns the message in a static buffer. */
static const char *open_fails(const char *spec, int code)
{
    static char msgs[8][512];
    static int k;
    fer_source_opts o = fast_opts(0);
    fer_source *s = (fer_source *)1;
    fer_error err = {0};
    int rc = fer_source_open(&s, spec, &o, &err);
    ck_assert_msg(rc == code, "%s: got %d (%s), want %d", spec, rc, err.msg, code);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(err.code, code);
    k = (k + 1) % 8;
    snprintf(msgs[k], sizeof msgs[k], "%s", err.msg);
    return msgs[k];
}

START_TEST(t_errors)
{
    /* Missing file. */
    const char *m1 = open_fails(tu_path("nothing.avi"), -ENOENT);
    ck_assert_ptr_nonnull(strstr(m1, "nothing.avi: no such file"));
    /* A directory without images. */
    ck_assert_int_eq(mkdir(tu_path("empty"), 0755), 0);
    tu_write_bytes(tu_path("empty/readme.txt"), "x", 1);
    const char *m2 = open_fails(tu_path("empty"), -ENOENT);
    ck_assert_ptr_nonnull(strstr(m2, "no images in directory"));
    /* A pattern that matches nothing. */
    const char *m3 = open_fails(tu_path("*.jpg"), -ENOENT);
    ck_assert_ptr_nonnull(strstr(m3, "pattern matches no file"));
    /* Unreadable contents: a "video" and an "image" that are not. */
    tu_write_bytes(tu_path("junk.avi"), "RIFF\0\0\0\0garbage garbage garbage", 31);
    const char *m4 = open_fails(tu_path("junk.avi"), FER_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(m4, "not a video"));
    tu_write_bytes(tu_path("junk.png"), "definitely not a PNG", 20);
    const char *m5 = open_fails(tu_path("junk.png"), FER_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(m5, "junk.png"));
    /* A device path that does not exist. */
    const char *m6 = open_fails("/dev/video-fer-test-missing", -ENOENT);
    ck_assert_ptr_nonnull(strstr(m6, "no such video device"));
    /* A device node that is no camera. */
    const char *m7 = open_fails("/dev/null", FER_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(m7, "not a V4L2 video device"));
    /* Every failure says something different. */
    const char *all[] = {m1, m2, m3, m4, m5, m6, m7};
    for (int i = 0; i < 7; i++)
        for (int j = i + 1; j < 7; j++)
            ck_assert_str_ne(all[i], all[j]);
}
END_TEST

/*
 * Permission denied, for a file and for a device node. Tests run as root in CI,
 * and root reads anything, so a child process drops to an unprivileged user
 * first; the parent checks its exit status.
 */
START_TEST(t_permission_denied)
{
    const char *video = tu_path("locked.avi");
    write_video(video, 2);
    ck_assert_int_eq(chmod(video, 0), 0);
    ck_assert_int_eq(chmod(tu_dir, 0755), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(10);
        fer_source_opts o = fast_opts(0);
        fer_source *s = NULL;
        fer_error err = {0};
        if (fer_source_open(&s, video, &o, &err) != -EACCES ||
            !strstr(err.msg, "permission denied"))
            _exit(11);
        /* The probe on a device node we may not open names the video group. */
        if (fer_v4l2_probe(video, &err) != -EACCES || !strstr(err.msg, "'video' group"))
            _exit(12);
        _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(t_stream_unreachable)
{
    /* Nothing listens on port 1: the open fails fast, as a lost stream (retryable). */
    fer_source_opts o = fast_opts(0);
    o.timeout_ms = 2000;
    fer_source *s = NULL;
    fer_error err = {0};
    ck_assert_int_eq(fer_source_open(&s, "rtsp://127.0.0.1:1/none", &o, &err), FER_E_LOST);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot open the stream"));
}
END_TEST

static Suite *source_suite(void)
{
    Suite *s = suite_create("source");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, t_parse);
    tcase_add_test(tc, t_image_folder);
    tcase_add_test(tc, t_still_image);
    tcase_add_test(tc, t_video_file);
    tcase_add_test(tc, t_paced);
    tcase_add_test(tc, t_pacer_and_backoff);
    tcase_add_test(tc, t_errors);
    tcase_add_test(tc, t_permission_denied);
    tcase_add_test(tc, t_stream_unreachable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(source_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
