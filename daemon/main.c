/*
 * main.c — ferd's entry point: command line, start-up in order, the loop, and
 * the orderly exit.
 *
 * Start-up order matters to systemd: the model and the face detector load
 * first (a missing or corrupt model is fatal, with one clear line and exit
 * status 1), then the socket listens, then the threads start, and only then
 * READY=1 is sent. The frame source is opened by the capture thread, so a
 * missing camera delays nothing: STATUS reports it and the thread retries.
 * Each start-up step is logged and sent as STATUS=, so `systemctl status` and
 * the journal show where a slow or failed start stopped.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "client.h"
#include "config.h"
#include "cv/detect.h"
#include "cv/image.h"
#include "ferd.h"
#include "infer.h"
#include "log.h"
#include "reload.h"
#include "loop.h"
#include "memory.h"
#include "notify.h"
#include "server.h"
#include "util/cli.h"
#include "util/redact.h"
#include "vision/pipeline.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: ferd [options]\n"
"\n"
"Recognises facial expressions in frames from a camera, video file or stream and\n"
"publishes the results as JSON lines on a Unix socket (proto/PROTOCOL.md).\n"
"\n"
"  -c, --config FILE     read settings from FILE (conf/ferd.conf documents every\n"
"                        key); without it ferd runs on built-in defaults\n"
"  -s, --source SRC      frame source: camera index or /dev/videoN, video file,\n"
"                        image, directory or pattern, rtsp:// or http:// stream\n"
"  -m, --model FILE      .fermodel to serve\n"
"  -S, --socket PATH     Unix socket to listen on (default /run/ferd/ferd.sock)\n"
"  -l, --log-level L     debug, info, notice, warning or err\n"
"      --set KEY=VALUE   set any configuration key (repeatable)\n"
"      --check-config    validate the configuration, print the effective\n"
"                        settings and exit (status 1 if invalid)\n"
"  -h, --help            this text\n"
"  -V, --version         print the version\n"
"\n"
"Command-line settings override the file, also across reloads. SIGHUP reloads\n"
"the configuration and the model; SIGTERM or SIGINT stops in order.\n");
}

/* A start-up step: logged, and shown by `systemctl status`. */
__attribute__((format(printf, 1, 2)))
static void step(const char *fmt, ...)
{
    char s[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s, sizeof s, fmt, ap);
    va_end(ap);
    log_info("%s", s);
    ferd_notify_status_line(s);
}

/* The first JPEG encode makes OpenCV register its codecs, and GDAL's reads its
 * configuration files and plugin directory: done here, before READY, so that
 * no client's request ever causes file system access (finding F3). */
static void warm_up_encoder(void)
{
    fer_image img;
    fer_error err = {0};
    uint8_t *buf = NULL;
    size_t len = 0;
    if (fer_image_alloc(&img, 16, 16, 3) < 0)
        return;
    if (fer_image_encode_jpeg(&img, 80, &buf, &len, &err) < 0)
        log_warning("image encoder warm-up: %s", err.msg);
    free(buf);
    fer_image_free(&img);
}

/* Keeps a copy of a command-line setting: argv is scrubbed of credentials
 * once parsed (hide_secrets). */
static int add_override(ferd *d, const char *key, const char *value)
{
    if (d->noverrides == (int)(sizeof d->overrides / sizeof d->overrides[0])) {
        fer_cli_usage_error("ferd", NULL, "more than %d command-line settings",
                            (int)(sizeof d->overrides / sizeof d->overrides[0]));
        return -1;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        fprintf(stderr, "ferd: out of memory\n");
        return -1;
    }
    d->overrides[d->noverrides].key = k;
    d->overrides[d->noverrides].value = v;
    d->noverrides++;
    return 0;
}

static void free_overrides(ferd *d)
{
    for (int i = 0; i < d->noverrides; i++) {
        free((char *)d->overrides[i].key);
        free((char *)d->overrides[i].value);
    }
    d->noverrides = 0;
}

/* Every user may read /proc/PID/cmdline (ps, systemctl status): a password in
 * --source rtsp://user:password@... is overwritten there with '*' once the
 * settings are copied. The configuration file, readable by ferd alone, is the
 * better place for it (docs/ferd.md). */
static void hide_secrets(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (argv[i] && strstr(argv[i], "://"))
            fer_redact_inplace(argv[i]);
}

/* Parses argv into d; returns -1 (usage error, said in one line), 0 (run), 1
 * (done: help or version printed), 2 (--check-config). */
static int parse_args(ferd *d, int argc, char **argv)
{
    enum { OPT_CHECK = 256, OPT_SET };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"source", required_argument, NULL, 's'},
        {"model", required_argument, NULL, 'm'},
        {"socket", required_argument, NULL, 'S'},
        {"log-level", required_argument, NULL, 'l'},
        {"set", required_argument, NULL, OPT_SET},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int check = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:s:m:S:l:hV", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'c':
            snprintf(d->config_path, sizeof d->config_path, "%s", optarg);
            break;
        case 's':
            rc = add_override(d, "source", optarg);
            break;
        case 'm':
            rc = add_override(d, "model", optarg);
            break;
        case 'S':
            rc = add_override(d, "socket", optarg);
            break;
        case 'l':
            rc = add_override(d, "log_level", optarg);
            break;
        case OPT_SET: {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                fer_cli_usage_error("ferd", NULL, "--set wants KEY=VALUE, not '%s'", optarg);
                return -1;
            }
            *eq = '\0';
            rc = add_override(d, optarg, eq + 1);
            break;
        }
        case OPT_CHECK:
            check = 1;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("ferd %s (protocol %d.%d)\n", FER_VERSION, FER_PROTO_MAJOR, FER_PROTO_MINOR);
            return 1;
        default:
            if (c == '?' && optopt == 'o')
                fer_cli_usage_error("ferd", NULL, "-o is no option of ferd (it means --output "
                                    "in fer and ferctl): settings are --set KEY=VALUE");
            else
                fer_cli_option_error("ferd", c, opts, argv);
            return -1;
        }
        if (rc < 0)
            return -1;
    }
    if (optind < argc) {
        fer_cli_extra_argument("ferd", argv[optind]);
        return -1;
    }
    return check ? 2 : 0;
}

static void pipeline_opts(const fer_config *c, fer_pipeline_opts *o)
{
    fer_pipeline_opts_default(o);
    o->cascade = c->cascade;
    o->detect_width = c->detect_width;
    o->scale_factor = c->scale_factor;
    o->min_neighbors = c->min_neighbors;
    o->min_face = c->min_face;
    o->max_face = c->max_face;
    o->full_every = c->full_every;
    o->max_faces = c->max_faces;
    o->still_threshold = (float)c->still_threshold;
    o->tracker.alpha = (float)c->smoothing;
    o->tracker.hold_margin = (float)c->label_margin;
    o->tracker.hold_ms = c->label_hold_ms;
    o->gap_ms = c->track_gap_ms;
    o->tracker.iou_min = (float)c->track_iou;
    o->tracker.max_misses = c->track_max_misses;
    o->tta = c->tta;
}

/*
 * --check-config: what a start would load is loaded, the same way (the model
 * through ferd_model_open, the face detector through the pipeline), so a model
 * or cascade that ferd would refuse is refused here, naming the file, and
 * every problem is reported, not just the first. 1 if any.
 */
static int check_files(const fer_config *c)
{
    int bad = 0;
    fer_error err = {0};
    fer_model *m = NULL;
    if (ferd_model_open(&m, c->model, c->max_faces, &err) < 0) {
        fprintf(stderr, "ferd: model: %s\n", err.msg);
        bad = 1;
    }
    fer_detector *det = NULL;
    if (fer_detector_load(&det, c->cascade, &err) < 0) {
        fprintf(stderr, "ferd: cascade: %s\n", err.msg);
        bad = 1;
    }
    fer_detector_free(det);
    if (m && !bad) {
        fer_pipeline_opts po;
        pipeline_opts(c, &po);
        fer_pipeline *p = NULL;
        if (fer_pipeline_create(&p, &po, m, &err) < 0) {
            fprintf(stderr, "ferd: the vision pipeline: %s\n", err.msg);
            bad = 1;
        }
        fer_pipeline_free(p);
    }
    fer_model_free(m);
    return bad;
}

static int shared_init(ferd_shared *sh, const fer_config *c)
{
    if (pthread_mutex_init(&sh->mu, NULL) != 0 || ferd_cond_init(&sh->capture_cond) < 0 ||
        ferd_cond_init(&sh->infer_cond) < 0)
        return -ENOMEM;
    sh->state = FERD_SRC_STARTING;
    sh->close_when_idle = c->close_camera_when_idle;
    sh->idle_close_seconds = c->idle_close_seconds;
    sh->jpeg_quality = c->jpeg_quality;
    sh->tta = c->tta;
    atomic_store(&sh->want_images, 0);
    return 0;
}

static void shared_free(ferd_shared *sh)
{
    for (int i = 0; i < FERD_RESULT_RING; i++)
        ferd_result_free_images(&sh->ring[i]);
    fer_frame_free(&sh->frame);
    pthread_cond_destroy(&sh->capture_cond);
    pthread_cond_destroy(&sh->infer_cond);
    pthread_mutex_destroy(&sh->mu);
}

/* Starts both threads with every signal blocked in them: signals are the
 * loop's business (uv_signal). */
static int start_threads(ferd *d)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    d->thread_cfg = d->cfg;
    int rc = ferd_infer_start(d);
    if (rc == 0) {
        rc = ferd_capture_start(d);
        if (rc < 0) {
            pthread_mutex_lock(&d->sh.mu);
            d->sh.quit = 1;
            pthread_cond_broadcast(&d->sh.infer_cond);
            pthread_mutex_unlock(&d->sh.mu);
            pthread_join(d->infer_thread, NULL);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        d->threads_started = 1;
    return rc;
}

static void walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    log_err("handle still open at exit: %s%s", uv_handle_type_name(uv_handle_get_type(h)),
            uv_is_closing(h) ? " (closing)" : "");
}

int main(int argc, char **argv)
{
    /* glibc accepts this value; a sanitizer's allocator refuses mallopt and
     * bounds memory its own way, so a refusal is not worth a line. */
    (void)ferd_memory_setup();
    ferd *d = calloc(1, sizeof *d);
    if (!d) {
        fprintf(stderr, "ferd: out of memory\n");
        return 1;
    }
    int status = 1, loop_ready = 0, shared_ready = 0;
    char msg[4096];
    uv_loop_t loop;

    int mode = parse_args(d, argc, argv);
    hide_secrets(argc, argv);
    if (mode != 0 && mode != 2) {
        free_overrides(d);
        free(d);
        return mode < 0 ? FER_EXIT_USAGE : 0;
    }
    int cfg_bad = ferd_load_config(d, &d->cfg, msg, sizeof msg) < 0;
    if (cfg_bad) {
        size_t len = strlen(msg);
        fprintf(stderr, "ferd: invalid configuration:\n%s%s", msg,
                len && msg[len - 1] == '\n' ? "" : "\n");
        if (mode != 2)
            goto cleanup;
    }
    if (mode == 2) {
        /* Every problem at once: the files are checked even when some settings
         * are bad (with the values that were good, or the defaults). */
        fer_set_threads(1);
        int bad = check_files(&d->cfg) || cfg_bad;
        if (!cfg_bad)
            fer_config_print(&d->cfg, stdout, 1);
        if (!bad)
            fprintf(stderr, "ferd: configuration%s%s is valid\n", d->config_path[0] ? " " : "",
                    d->config_path);
        status = bad;
        goto cleanup;
    }
    fer_log_init("ferd", d->cfg.log_level);
    ferd_group_id(d->cfg.image_group, &d->image_gid);
    ferd_group_id(d->cfg.reload_group, &d->reload_gid);
    /* A client that goes away mid-write must cost an error code, not the process. */
    signal(SIGPIPE, SIG_IGN);
    d->start_ns = fer_mono_ns();
    log_info("ferd %s starting (protocol %d.%d)", FER_VERSION, FER_PROTO_MAJOR,
             FER_PROTO_MINOR);

    fer_error err = {0};
    step("Loading model %s", d->cfg.model);
    /* One inference thread does all the work of a frame: BLAS and OpenCV must
     * not fan out into pools of their own, which would compete with the loop
     * thread for the CPU it needs to deliver results on time. */
    fer_set_threads(1);
    fer_detect_set_threads(1);
    if (ferd_model_open(&d->model, d->cfg.model, d->cfg.max_faces, &err) < 0) {
        log_err("cannot load the model: %s", err.msg);
        goto cleanup;
    }
    ferd_model_describe(d->model, d->cfg.model, &d->model_info);
    step("Loading face detector %s", d->cfg.cascade);
    fer_pipeline_opts po;
    pipeline_opts(&d->cfg, &po);
    if (fer_pipeline_create(&d->pipeline, &po, d->model, &err) < 0) {
        log_err("cannot set up the vision pipeline: %s", err.msg);
        goto cleanup;
    }

    if (uv_loop_init(&loop) < 0) {
        log_err("uv_loop_init failed");
        goto cleanup;
    }
    d->loop = &loop;
    loop_ready = 1;
    if (shared_init(&d->sh, &d->cfg) < 0 || ferd_clients_init(d) < 0) {
        log_err("out of memory");
        goto cleanup;
    }
    shared_ready = 1;
    int rc = ferd_loop_init(d);
    if (rc < 0) {
        log_err("event loop set-up: %s", uv_strerror(rc));
        goto stop;
    }
    step("Opening socket");
    if (ferd_server_open(d, msg, sizeof msg) < 0) {
        log_err("%s", msg);
        goto stop;
    }
    step("Setting up the image encoder");
    warm_up_encoder();
    rc = start_threads(d);
    if (rc < 0) {
        log_err("cannot start threads: %s", strerror(-rc));
        goto stop;
    }
    log_info("ready: model %s, source %s, max %d clients", d->model_info.name, d->cfg.source,
             d->cfg.max_clients);
    ferd_notify_ready("Ready");
    ferd_notify_status(d);
    d->exit_code = 0;

    uv_run(&loop, UV_RUN_DEFAULT);
    status = d->exit_code;
    goto done;

stop:
    /* A failed start: close what was opened, the same way a stop does. */
    ferd_stop(d);
    uv_run(&loop, UV_RUN_DEFAULT);
    status = 1;
done:
    ferd_server_unlink(d);
    if (d->threads_stuck) {
        /* A thread is stuck in a read that never returns (ferd_threads_stop
         * said which): what it owns cannot be freed, the loop cannot close,
         * and exit handlers could run destructors under it. Leave now. */
        log_notice("stopped, leaving a stuck thread behind");
        ferd_notify_close();
        _exit(status);
    }
    if (uv_loop_close(&loop) != 0) {
        uv_walk(&loop, walk_cb, NULL);
        log_err("event loop did not close cleanly");
        status = 1;
    } else {
        log_info("stopped");
    }
    loop_ready = 0;
cleanup:
    if (loop_ready)
        uv_loop_close(&loop);
    ferd_threads_stop(d);
    ferd_result_free_images(&d->last);
    if (shared_ready)
        shared_free(&d->sh);
    ferd_clients_free(d);
    fer_pipeline_free(d->pipeline);
    fer_model_free(d->model);
    free_overrides(d);
    free(d);
    unsigned long dropped = ferd_notify_dropped();
    if (dropped)
        log_notice("%lu notifications to the service manager were dropped (not read)", dropped);
    ferd_notify_close();
    return status;
}
