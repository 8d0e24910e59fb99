/*
 * ferctl_view.c — `ferctl-view` (run by `ferctl view`): a window showing the
 * daemon's live picture with each face's box, label and probability drawn, as
 * the project's original demo did.
 *
 * Design. The viewer is an ordinary libferclient subscriber that asks for
 * images (WATCH with "image":"jpeg"), decodes each frame and draws the
 * result onto it with libfer's fer_annotate — the same drawing as `fer
 * classify --annotate` — or, with --annotated, shows the frame ferd annotated
 * itself. It is a separate program because it links OpenCV's highgui (and so
 * Qt); ferctl and libferclient stay free of both.
 *
 * The loop alternates between the socket and the window: a read that waits at
 * most a few milliseconds, then the window's event loop for a few more, so
 * the window stays responsive between frames and 'q', Escape or the close
 * button end the program promptly. Frames are shown as they come; when the
 * viewer is slower than the stream, the daemon drops frames for it (its
 * per-client queue), which is the right place for that decision.
 *
 * Without a display highgui's Qt backend aborts inside namedWindow, which no
 * C++ handler can catch; so before opening a window the viewer checks that
 * DISPLAY is set and, for a local display, that its X socket accepts a
 * connection, and otherwise says so and exits 1.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cv/draw.h"
#include "cv/image.h"
#include "ferctl.h"
#include "util/cli.h"
#include "vision/annotate.h"
#include "view_window.h"
#include "util/clock.h"

static void view_usage(FILE *f)
{
    fprintf(f,
            "usage: ferctl view [OPTIONS]\n"
            "\n"
            "Opens a window with ferd's live picture, each face's box, label, probability and\n"
            "class scores drawn. q or Escape quits. Needs a display and a daemon that allows\n"
            "images to you (allow_images, image_group).\n"
            "\n"
            "options:\n"
            "  --annotated    show the frame as ferd annotates it instead of drawing here\n"
            "  --max-fps F    at most F frames per second (default 15)\n"
            "  --count N      quit after showing N frames\n"
            "  --timeout S    quit after S seconds\n"
            "  --socket PATH  the daemon's socket\n"
            "  -h, --help     this text\n"
            "\n"
            "exit status: 0 quit, 1 no display or images refused, 2 ferd not running,\n"
            "3 connection lost, 4 incompatible protocol, 64 usage error\n");
}

/*
 * 1 if DISPLAY names a display we can probably open: set, and for a local
 * display (":N" or "unix:N") its socket accepts a connection. Remote
 * displays are not probed. why gets the reason otherwise.
 */
static int display_ok(char *why, size_t n)
{
    const char *d = getenv("DISPLAY");
    if (!d || !d[0]) {
        snprintf(why, n, "no display: DISPLAY is not set (run it in a graphical session, or "
                         "over ssh -X)");
        return 0;
    }
    const char *colon = strrchr(d, ':');
    if (!colon) {
        snprintf(why, n, "no display: DISPLAY=\"%s\" is not a display name", d);
        return 0;
    }
    size_t host = (size_t)(colon - d);
    if (!(host == 0 || (host == 4 && strncmp(d, "unix", 4) == 0)))
        return 1;
    int num = atoi(colon + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "/tmp/.X11-unix/X%d", num);
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (!ok) {
        /* X servers also listen on the abstract name, which survives a
         * private /tmp. */
        memset(sa.sun_path, 0, sizeof sa.sun_path);
        int len = snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "/tmp/.X11-unix/X%d", num);
        ok = connect(fd, (struct sockaddr *)&sa,
                     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len)) == 0;
    }
    close(fd);
    if (!ok)
        snprintf(why, n, "no display: cannot connect to the X server of DISPLAY=%s", d);
    return ok;
}

/* A dark frame saying what the viewer waits for, shown until the first image. */
static void show_waiting(fer_view_window *w, const char *path)
{
    fer_image img = {0};
    if (fer_image_alloc(&img, 640, 360, 3) < 0)
        return;
    memset(img.data, 32, (size_t)img.w * (size_t)img.h * 3);
    fer_draw_text(&img, "waiting for frames from ferd", 20, 160, 0.9, FER_RGB(230, 230, 230), 2);
    fer_draw_text(&img, path, 20, 200, 0.6, FER_RGB(160, 160, 160), 1);
    fer_view_window_show(w, &img, NULL);
    fer_image_free(&img);
}

/* Decodes the frame attached to r, draws r on it unless ferd already did,
 * shows it. 0, or a code with err filled. */
static int show_result(fer_view_window *w, const fer_message *m, fer_error *err)
{
    fer_image img = {0};
    int rc = fer_image_decode(&img, m->image.jpeg, m->image.len, 0, err);
    if (rc < 0)
        return rc;
    if (m->image.kind != FER_IMAGE_ANNOTATED)
        fer_annotate(&img, &m->u.result, FER_ANNOTATE_SMOOTHED);
    rc = fer_view_window_show(w, &img, err);
    fer_image_free(&img);
    return rc;
}

int main(int argc, char **argv)
{
    enum { O_ANNOTATED = 2000, O_MAXFPS, O_COUNT };
    static const struct option opts[] = {
        {"socket", required_argument, NULL, FERCTL_OPT_SOCKET},
        {"timeout", required_argument, NULL, FERCTL_OPT_TIMEOUT},
        {"annotated", no_argument, NULL, O_ANNOTATED},
        {"max-fps", required_argument, NULL, O_MAXFPS},
        {"count", required_argument, NULL, O_COUNT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ferctl_common co = {.socket = NULL, .json = 0, .timeout = -1};
    fer_watch want;
    fer_watch_default(&want);
    want.image = FER_IMAGE_JPEG;
    want.max_fps = 15;
    long long count = 0;
    double v;
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":hS:", opts, NULL)) != -1) {
        int rc = ferctl_common_opt(&co, opt, optarg, "view");
        if (rc < 0)
            return FERCTL_USAGE;
        if (rc > 0)
            continue;
        switch (opt) {
        case O_ANNOTATED:
            want.image = FER_IMAGE_ANNOTATED;
            break;
        case O_MAXFPS:
            if (ferctl_parse_double(optarg, 0.1, FER_PROTO_MAX_FPS, "view", "--max-fps",
                                    &want.max_fps) < 0)
                return FERCTL_USAGE;
            break;
        case O_COUNT:
            if (ferctl_parse_double(optarg, 1, 1e15, "view", "--count", &v) < 0)
                return FERCTL_USAGE;
            count = (long long)v;
            break;
        case 'h':
            view_usage(stdout);
            return FERCTL_OK;
        default:
            return fer_cli_option_error("ferctl view", opt, opts, argv);
        }
    }
    if (optind < argc)
        return fer_cli_extra_argument("ferctl view", argv[optind]);
    char why[256];
    if (!display_ok(why, sizeof why)) {
        fprintf(stderr, "ferctl view: %s\n", why);
        return FERCTL_FAIL;
    }

    fer_client *c;
    int rc = ferctl_connect(&co, &c, 0);
    if (rc)
        return rc;
    fer_error err = {0};
    rc = fer_client_watch(c, &want, NULL, 10000, &err);
    if (rc < 0) {
        rc = ferctl_fail("view", rc, err.msg);
        fer_client_close(c);
        return rc;
    }

    char title[300];
    snprintf(title, sizeof title, "ferd - %s", fer_client_path(c));
    fer_view_window *w;
    if ((rc = fer_view_window_open(&w, title, &err)) < 0) {
        fprintf(stderr, "ferctl view: %s\n", err.msg);
        fer_client_close(c);
        return FERCTL_FAIL;
    }
    show_waiting(w, fer_client_path(c));

    int64_t deadline = co.timeout < 0 ? -1 : fer_mono_ms() + ferctl_timeout_ms(&co, 0);
    long long shown = 0;
    fer_message m;
    memset(&m, 0, sizeof m);
    rc = FERCTL_OK;
    for (;;) {
        int k = fer_view_window_key(w, 5);
        if (k == 'q' || k == 'Q' || k == 27 || fer_view_window_closed(w))
            break;
        if (deadline >= 0 && fer_mono_ms() >= deadline)
            break;
        int r = fer_client_read(c, 20, &m, &err);
        if (r == -ETIMEDOUT || r == FER_E_PROTO)
            continue;
        if (r < 0) {
            fprintf(stderr, "ferctl view: lost ferd: %s\n", err.msg);
            rc = FERCTL_LOST;
            break;
        }
        if (m.kind == FER_MSG_ERROR) {
            fprintf(stderr, "ferctl view: ferd says: %s\n", m.u.error.message);
            continue;
        }
        if (m.kind != FER_MSG_RESULT || m.image.kind == FER_IMAGE_NONE)
            continue;
        if (show_result(w, &m, &err) < 0) {
            fprintf(stderr, "ferctl view: skipping a frame: %s\n", err.msg);
            continue;
        }
        if (count > 0 && ++shown >= count) {
            /* Let the window paint the last frame before it goes. */
            fer_view_window_key(w, 200);
            break;
        }
    }
    fer_message_clear(&m);
    fer_view_window_close(w);
    fer_client_close(c);
    return rc;
}
