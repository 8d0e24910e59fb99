/*
 * cmd_analyze.c — `fer analyze INPUT...`: every frame of a video (or every
 * image of a sequence) through the vision pipeline, one record per face per
 * frame, optionally an annotated video — the offline counterpart of ferd,
 * like OpenFace's FeatureExtraction or the Python fer package's Video class.
 *
 * Design: three threads and a ring of NSLOT frame slots passed along in order.
 * The reader decodes frames into free slots (blocking when all are in use, so
 * nothing is ever dropped and memory stays at NSLOT frames); this thread runs
 * the pipeline's first phase on each, in order (fer_pipeline_find: the face
 * search, the tracking and the crops — tracking needs the previous frame's
 * tracks); the writer runs the second phase (fer_pipeline_finish: the
 * network, the smoothing), turns each result into records, draws and encodes
 * the annotated frame, and draws the progress bar. The face search and the
 * network — nearly all the work, in about equal parts — so run on both cores
 * at once, each single-threaded inside, with decoding and writing filling the
 * gaps. One mutex and one condition variable guard the three counters (read,
 * searched, written); each thread waits only for the stage before it or for a
 * free slot.
 *
 * Outputs appear atomically: records and video go to temporaries that are
 * renamed into place at the end, or removed after an error or Ctrl-C.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyze_input.h"
#include "analyze_out.h"
#include "commands.h"
#include "cv/detect.h"
#include "cv/video_write.h"
#include "progress.h"
#include "util/cli.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/paths.h"
#include "vision/annotate.h"
#include "vision/pipeline.h"

#define PROG "fer analyze"
/* Frames in flight between the threads. */
#define NSLOT 8
/* The annotated video's rate when the input has none (images without --fps). */
#define DEFAULT_VIDEO_FPS 15.0

static void usage(FILE *f)
{
    fprintf(f,
"usage: fer analyze [options] INPUT...\n"
"\n"
"Finds and classifies the faces in every frame of a video file, or of a sequence\n"
"of images (a directory, a glob pattern, image files, or @LIST naming one image\n"
"per line, @- for stdin), and writes one record per face per frame: frame number\n"
"(from 0), time in the file, track id, box, label and probability, the smoothed\n"
"label, and every class score. Every frame is processed, in order, on both cores.\n"
"\n"
"  -o, --output FILE     records to FILE; its name says the format (.csv, or .json,\n"
"                        .jsonl, .ndjson for JSON lines); '-' is stdout (default)\n"
"      --json, --csv     the format on stdout (default JSON lines)\n"
"      --annotate OUT    also write the video with boxes, labels and scores drawn:\n"
"                        OUT.avi (MJPEG) or OUT.mp4 (H.264 or MPEG-4)\n"
"  -m, --model FILE      model (default: $FER_MODEL, the installed model, then\n"
"                        models/default.fermodel of the source tree)\n"
"      --no-scores       leave out the class scores\n"
"      --fps F           frame rate of an image sequence (gives its frames a time)\n"
"      --stills          the images are unrelated photos: full search on each, no\n"
"                        tracking or smoothing across them\n"
"      --full-every N    a full face search at least every N frames (10; 1 = always)\n"
"      --detect-width N  full searches on the frame shrunk to N pixels wide (320)\n"
"      --min-face PX     smallest face side in frame pixels (48)\n"
"      --min-neighbors N detections a face needs (3)\n"
"      --max-faces N     at most N faces per frame, largest first (8, at most %d)\n"
"      --smoothing A     weight of the past in each face's average (0.4)\n"
"      --label-margin M  a new smoothed label must lead the old one by M (0.15) ...\n"
"      --label-hold-ms T ... for T ms of the file's time (300) to replace it\n"
"  -q, --quiet           no progress bar and no summary\n"
"  -h, --help            this text\n"
"\n"
"A progress bar is drawn on stderr when it is a terminal. Exit status: 0 done,\n"
"1 a frame or image could not be read or an output not written, 64 usage error,\n"
"130 interrupted (nothing is left at the output paths).\n",
            FER_RESULT_MAX_FACES);
}

typedef struct slot {
    fer_frame frame;
    analyze_frame_info info;
    int read_rc;
    fer_error read_err;
    fer_pipeline_job *job;
    fer_frame_result res;
    int proc_rc;
    fer_error proc_err;
} slot;

typedef struct run {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    slot slots[NSLOT];
    long long n_read, n_proc, n_done;
    int read_eof, proc_eof, stop;

    analyze_input *in;
    fer_pipeline *pl;
    int stills;
    analyze_out *out;
    const char *name;            /* the input as named, for messages */

    const char *video_path;      /* --annotate */
    fer_atomic_file video_file;
    fer_video_writer *video;
    double video_fps;
    int video_w, video_h;
    fer_image scaled;
    unsigned annotate_flags;

    fer_progress prog;
    long long failed, with_faces;
    int fatal;                   /* an output failed: the run is lost */
} run;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void set_stop(run *r)
{
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

static void *reader_main(void *arg)
{
    run *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->stop && r->n_read - r->n_done >= NSLOT)
            pthread_cond_wait(&r->cond, &r->mu);
        if (r->stop || interrupted) {
            r->stop = 1;
            pthread_cond_broadcast(&r->cond);
            pthread_mutex_unlock(&r->mu);
            break;
        }
        slot *s = &r->slots[r->n_read % NSLOT];
        pthread_mutex_unlock(&r->mu);
        /* Only this thread touches a slot between n_done and n_read. */
        int rc = analyze_input_read(r->in, &s->frame, &s->info, &s->read_err);
        pthread_mutex_lock(&r->mu);
        if (rc == FER_E_EOF) {
            r->read_eof = 1;
        } else {
            s->read_rc = rc;
            r->n_read++;
        }
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->mu);
        if (rc == FER_E_EOF)
            break;
    }
    return NULL;
}

/* The pipeline stage, on the calling thread. */
static void process_all(run *r)
{
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->stop && r->n_proc == r->n_read && !r->read_eof)
            pthread_cond_wait(&r->cond, &r->mu);
        if (r->stop || r->n_proc == r->n_read) {
            r->proc_eof = 1;
            pthread_cond_broadcast(&r->cond);
            pthread_mutex_unlock(&r->mu);
            return;
        }
        slot *s = &r->slots[r->n_proc % NSLOT];
        pthread_mutex_unlock(&r->mu);
        if (s->read_rc == 0) {
            if (r->stills)
                fer_pipeline_restart(r->pl); /* unrelated photos: nothing carries over */
            fer_pipeline_find(r->pl, &s->frame, s->job, &s->proc_err);
        }
        pthread_mutex_lock(&r->mu);
        r->n_proc++;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->mu);
    }
}

/* A message that must not be torn by the progress bar. */
static void say(run *r, const char *fmt, const char *a, const char *b)
{
    fer_progress_end(&r->prog);
    fprintf(stderr, fmt, a, b);
}

/* The annotated frame into the video, opened on the first frame (its size is
 * the video's; later frames of another size, in an image sequence, are scaled
 * to it). 0, or -errno with err filled. */
static int write_video(run *r, slot *s, fer_error *err)
{
    fer_annotate(&s->frame.img, &s->res, r->annotate_flags);
    const fer_image *img = &s->frame.img;
    if (!r->video) {
        const char *dot = strrchr(r->video_path, '.');
        int rc = fer_atomic_open(&r->video_file, r->video_path, dot, err);
        if (rc < 0)
            return rc;
        fer_atomic_close_fd(&r->video_file); /* the encoder opens it by name */
        rc = fer_video_writer_open(&r->video, r->video_file.tmp, img->w, img->h, r->video_fps,
                                   90, err);
        if (rc < 0) {
            /* The temporary's name means nothing to the user: name the output. */
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            char *colon = strstr(msg, ": ");
            fer_fail(err, rc, "%s: %s", r->video_path, colon ? colon + 2 : msg);
            fer_atomic_abort(&r->video_file);
            return rc;
        }
        r->video_w = img->w;
        r->video_h = img->h;
    }
    if (img->w != r->video_w || img->h != r->video_h) {
        int rc = fer_image_resize(&r->scaled, img, r->video_w, r->video_h, err);
        if (rc < 0)
            return rc;
        img = &r->scaled;
    }
    return fer_video_writer_write(r->video, img, err);
}

static void *writer_main(void *arg)
{
    run *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->stop && r->n_done == r->n_proc && !r->proc_eof)
            pthread_cond_wait(&r->cond, &r->mu);
        if (r->stop || r->n_done == r->n_proc) {
            pthread_mutex_unlock(&r->mu);
            break;
        }
        slot *s = &r->slots[r->n_done % NSLOT];
        pthread_mutex_unlock(&r->mu);
        fer_error err = {0};
        if (s->read_rc == 0)
            s->proc_rc = fer_pipeline_finish(r->pl, s->job, &s->res, &s->proc_err);
        if (s->read_rc < 0) {
            r->failed++;
            say(r, PROG ": %s%s\n", s->read_err.msg, "");
        } else if (s->proc_rc < 0) {
            r->failed++;
            char where[64];
            snprintf(where, sizeof where, "frame %lld: ", s->info.index);
            say(r, PROG ": %s%s\n", s->info.path ? s->info.path : where, s->proc_err.msg);
        } else {
            r->with_faces += s->res.nfaces > 0;
            int rc = analyze_out_frame(r->out, &s->res, &s->info, &err);
            if (rc == 0 && r->video_path)
                rc = write_video(r, s, &err);
            if (rc < 0) {
                say(r, PROG ": %s%s\n", err.msg, "");
                r->fatal = 1;
                set_stop(r);
                break;
            }
        }
        pthread_mutex_lock(&r->mu);
        r->n_done++;
        long long done = r->n_done;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->mu);
        fer_progress_update(&r->prog, done);
    }
    return NULL;
}

static int parse_int(const char *s, int lo, int hi, int *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi)
        return -1;
    *v = (int)x;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *v)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(x) || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

/* Options; parse_args fills it. */
typedef struct analyze_opts {
    const char *output, *annotate, *model;
    int format;                  /* -1: from the name, else ANALYZE_* */
    int scores, stills, quiet;
    double fps;
    fer_pipeline_opts po;
    int po_set_full_every;
} analyze_opts;

static int video_name_ok(const char *path)
{
    static const char *const exts[] = {".avi", ".mp4", ".m4v", ".mov", ".mkv"};
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return 0;
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot, exts[i]) == 0)
            return 1;
    return 0;
}

/* Fills o from argv; returns 0, or an exit status (help printed: 0; usage: 64). */
static int parse_args(analyze_opts *o, int argc, char **argv, int *first_input)
{
    enum {
        O_JSON = 1000, O_CSV, O_ANNOTATE, O_NO_SCORES, O_FPS, O_STILLS, O_FULL_EVERY,
        O_DETECT_WIDTH, O_MIN_FACE, O_MIN_NEIGHBORS, O_MAX_FACES, O_SMOOTHING, O_MARGIN, O_HOLD,
    };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, O_JSON},
        {"csv", no_argument, NULL, O_CSV},
        {"annotate", required_argument, NULL, O_ANNOTATE},
        {"model", required_argument, NULL, 'm'},
        {"no-scores", no_argument, NULL, O_NO_SCORES},
        {"fps", required_argument, NULL, O_FPS},
        {"stills", no_argument, NULL, O_STILLS},
        {"full-every", required_argument, NULL, O_FULL_EVERY},
        {"detect-width", required_argument, NULL, O_DETECT_WIDTH},
        {"min-face", required_argument, NULL, O_MIN_FACE},
        {"min-neighbors", required_argument, NULL, O_MIN_NEIGHBORS},
        {"max-faces", required_argument, NULL, O_MAX_FACES},
        {"smoothing", required_argument, NULL, O_SMOOTHING},
        {"label-margin", required_argument, NULL, O_MARGIN},
        {"label-hold-ms", required_argument, NULL, O_HOLD},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->output = "-";
    o->format = -1;
    o->scores = 1;
    fer_pipeline_opts_default(&o->po);
    /* Every frame counts offline: none is repeated as unchanged. */
    o->po.still_threshold = 0;
    int c, li = -1;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:m:qh", longopts, &li)) != -1) {
        char name[40];
        if (li >= 0)
            snprintf(name, sizeof name, "--%s", longopts[li].name);
        else
            snprintf(name, sizeof name, "-%c", c);
        li = -1;
        int bad = 0;
        double d = 0;
        switch (c) {
        case 'o': o->output = optarg; break;
        case O_JSON: o->format = ANALYZE_JSON; break;
        case O_CSV: o->format = ANALYZE_CSV; break;
        case O_ANNOTATE: o->annotate = optarg; break;
        case 'm': o->model = optarg; break;
        case O_NO_SCORES: o->scores = 0; break;
        case O_FPS: bad = parse_double(optarg, 0.001, 10000, &o->fps); break;
        case O_STILLS: o->stills = 1; break;
        case O_FULL_EVERY:
            bad = parse_int(optarg, 1, 1000, &o->po.full_every);
            o->po_set_full_every = 1;
            break;
        case O_DETECT_WIDTH: bad = parse_int(optarg, 0, 100000, &o->po.detect_width); break;
        case O_MIN_FACE: bad = parse_int(optarg, 0, 100000, &o->po.min_face); break;
        case O_MIN_NEIGHBORS: bad = parse_int(optarg, 0, 100, &o->po.min_neighbors); break;
        case O_MAX_FACES:
            bad = parse_int(optarg, 1, FER_RESULT_MAX_FACES, &o->po.max_faces);
            break;
        case O_SMOOTHING:
            bad = parse_double(optarg, 0, 0.99, &d);
            o->po.tracker.alpha = (float)d;
            break;
        case O_MARGIN:
            bad = parse_double(optarg, 0, 1, &d);
            o->po.tracker.hold_margin = (float)d;
            break;
        case O_HOLD: bad = parse_int(optarg, 0, 3600000, &o->po.tracker.hold_ms); break;
        case 'q': o->quiet = 1; break;
        case 'h': usage(stdout); return -1;
        default: return fer_cli_option_error(PROG, c, longopts, argv);
        }
        if (bad)
            return fer_cli_usage_error(PROG, NULL, "bad value '%s' for %s", optarg, name);
    }
    if (optind >= argc)
        return fer_cli_usage_error(PROG, NULL, "no input: name a video, images, a directory "
                                   "or @LIST");
    if (strcmp(o->output, "-") != 0) {
        int f = analyze_format_of(o->output);
        if (f < 0)
            return fer_cli_usage_error(PROG, NULL, "-o %s: name the file .csv, .json, .jsonl "
                                       "or .ndjson (the name says the format), or '-' for "
                                       "stdout", o->output);
        if (o->format >= 0 && o->format != f)
            return fer_cli_usage_error(PROG, NULL, "-o %s is %s, but --%s was given",
                                       o->output, f == ANALYZE_CSV ? "CSV" : "JSON lines",
                                       o->format == ANALYZE_CSV ? "csv" : "json");
        o->format = f;
    }
    if (o->format < 0)
        o->format = ANALYZE_JSON;
    if (o->annotate && !video_name_ok(o->annotate))
        return fer_cli_usage_error(PROG, NULL, "--annotate %s: name the video .avi (MJPEG) or "
                                   ".mp4 (also .m4v, .mov, .mkv)", o->annotate);
    if (o->annotate && strcmp(o->annotate, "-") == 0)
        return fer_cli_usage_error(PROG, NULL, "--annotate writes a file, not stdout");
    *first_input = optind;
    return 0;
}

int fer_cmd_analyze(int argc, char **argv)
{
    analyze_opts o;
    int first = 0;
    int rc = parse_args(&o, argc, argv, &first);
    if (rc)
        return rc < 0 ? 0 : rc;

    fer_error err = {0};
    run *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    r->name = argv[first];
    r->stills = o.stills;
    r->video_path = o.annotate;
    r->video_file.tmp[0] = '\0';
    r->video_file.fd = -1;
    int status = 1;
    fer_model *model = NULL;
    pthread_t reader, writer;
    int threads = 0;

    rc = analyze_input_open(&r->in, argv + first, argc - first, o.fps, &err);
    if (rc < 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        goto out;
    }
    char model_path[4096];
    if (fer_find_model(o.model, model_path, sizeof model_path) < 0) {
        fprintf(stderr, PROG ": no model: pass --model FILE or set FER_MODEL (looked for %s and "
                "the source tree's models/default.fermodel)\n", model_path);
        goto out;
    }
    if (fer_model_load(&model, model_path, o.po.max_faces, FER_LOAD_INFER, &err) < 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        goto out;
    }
    if (o.stills) {
        fer_pipeline_opts still;
        fer_pipeline_opts_still(&still);
        still.cascade = o.po.cascade;
        still.max_faces = o.po.max_faces;
        o.po = still;
    } else if (!analyze_input_is_video(r->in) && analyze_input_fps(r->in) <= 0) {
        o.po.gap_ms = 0; /* images without a rate have no clock to measure a gap on */
    }
    /* One thread each for the pipeline's BLAS and OpenCV calls: the other core
     * decodes and writes. */
    fer_set_threads(1);
    fer_detect_set_threads(1);
    if (fer_pipeline_create(&r->pl, &o.po, model, &err) < 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        goto out;
    }
    for (int i = 0; i < NSLOT; i++) {
        if (fer_pipeline_job_new(r->pl, &r->slots[i].job) < 0) {
            fprintf(stderr, PROG ": out of memory\n");
            goto out;
        }
    }
    const fer_arch *a = model->net->arch;
    char classes[FER_RESULT_MAX_CLASSES][FER_RESULT_CLASS_NAME];
    int k = a->nclasses < FER_RESULT_MAX_CLASSES ? a->nclasses : FER_RESULT_MAX_CLASSES;
    for (int c = 0; c < k; c++)
        snprintf(classes[c], sizeof classes[c], "%s", a->classes[c]);
    rc = analyze_out_open(&r->out, o.output, (analyze_format)o.format, o.scores,
                          !analyze_input_is_video(r->in), classes, k, &err);
    if (rc < 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        goto out;
    }
    r->video_fps = analyze_input_fps(r->in) > 0 ? analyze_input_fps(r->in) : DEFAULT_VIDEO_FPS;
    r->annotate_flags = FER_ANNOTATE_RAW; /* the records lead with the raw figure */

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    fer_progress_start(&r->prog, analyze_input_frames(r->in), !o.quiet);
    uint64_t t0 = fer_mono_ns();
    threads = 1;
    if (pthread_create(&reader, NULL, reader_main, r) != 0) {
        fprintf(stderr, PROG ": cannot start a thread\n");
        goto out;
    }
    if (pthread_create(&writer, NULL, writer_main, r) != 0) {
        fprintf(stderr, PROG ": cannot start a thread\n");
        set_stop(r);
        pthread_join(reader, NULL);
        analyze_out_close(r->out, 0, NULL);
        r->out = NULL;
        goto out;
    }
    process_all(r);
    pthread_join(reader, NULL);
    pthread_join(writer, NULL);
    double secs = (double)(fer_mono_ns() - t0) / 1e9;
    fer_progress_end(&r->prog);

    int ok = !r->fatal && !interrupted;
    if (r->video) {
        rc = fer_video_writer_close(r->video, &err);
        r->video = NULL;
        if (rc < 0 && ok) {
            fprintf(stderr, PROG ": %s: %s\n", o.annotate, err.msg);
            ok = 0;
        }
    }
    long long records = analyze_out_records(r->out);
    rc = analyze_out_close(r->out, ok, &err);
    r->out = NULL;
    if (rc < 0 && ok) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        ok = 0;
    }
    if (ok && r->video_path && r->video_file.tmp[0]) {
        if (fer_atomic_commit(&r->video_file, &err) < 0) {
            fprintf(stderr, PROG ": %s\n", err.msg);
            ok = 0;
        }
    } else if (ok && r->video_path && !o.quiet) {
        fprintf(stderr, PROG ": no frame was read, so %s was not written\n", o.annotate);
    }
    if (interrupted) {
        fprintf(stderr, PROG ": interrupted after %lld frames; nothing written\n", r->n_done);
        status = 130;
        goto out;
    }
    if (ok && !o.quiet) {
        fprintf(stderr,
                PROG ": %s: %lld frames in %.2f s (%.1f frames/s), %lld with faces, %lld face "
                "records%s%s%s%s\n",
                r->name, r->n_done, secs, secs > 0 ? (double)r->n_done / secs : 0.0,
                r->with_faces, records, strcmp(o.output, "-") ? " in " : "",
                strcmp(o.output, "-") ? o.output : "", r->video_path ? ", annotated video " : "",
                r->video_path ? r->video_path : "");
        if (r->failed)
            fprintf(stderr, PROG ": %lld frames could not be read or processed\n", r->failed);
    }
    status = ok && !r->failed ? 0 : 1;
out:
    if (r->out)
        analyze_out_close(r->out, 0, NULL);
    if (r->video)
        fer_video_writer_close(r->video, NULL);
    fer_atomic_abort(&r->video_file);
    if (threads) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cond);
    }
    for (int i = 0; i < NSLOT; i++) {
        fer_frame_free(&r->slots[i].frame);
        fer_pipeline_job_free(r->slots[i].job);
    }
    fer_image_free(&r->scaled);
    fer_pipeline_free(r->pl);
    fer_model_free(model);
    analyze_input_close(r->in);
    free(r);
    return status;
}
