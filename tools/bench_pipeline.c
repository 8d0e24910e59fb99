/*
 * bench_pipeline.c — `fer bench-pipeline`: what one 640x480 frame with one face
 * costs on one thread, against the origin's way, and how well the pipeline
 * finds the faces of the demo clip.
 *
 * Part 1 feeds the same synthetic sequence (a face photo moving over a
 * background, fresh sensor-like noise on every frame so no frame or face is
 * ever skipped as unchanged) to the pipeline and to the origin's way —
 * full-resolution Haar at scale factor 1.1 (min neighbours 5, min face 48),
 * then one forward pass per face — interleaved frame by frame so both see the
 * same machine load. It reports the median and 90th percentile per part and
 * the ratio of the medians, with the load average before and after.
 *
 * Part 3 (--tta-cost, alone) measures what test-time flip adds per face.
 *
 * Part 2 plays samples/demo.avi through the pipeline (daemon settings) and
 * compares each frame's boxes with samples/demo.truth.csv (IoU >= 0.3 is a
 * match): the fraction of frames with a face where a face is found, the
 * fraction of faces found, and false detections per frame; the origin's
 * detector is scored on the same frames for comparison.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "util/cli.h"
#include "cv/detect.h"
#include "util/paths.h"
#include "vision/pace.h"
#include "vision/pipeline.h"
#include "vision/preprocess.h"
#include "vision/source.h"
#include "vision/tracker.h"

#define FRAME_W 640
#define FRAME_H 480

static void usage(FILE *f)
{
    fprintf(f,
"usage: fer bench-pipeline [--model FILE] [--frames N] [--face IMAGE]\n"
"                          [--clip VIDEO] [--truth CSV] [--no-clip]\n"
"\n"
"Per-frame cost of the vision pipeline at 640x480 with one face on one thread\n"
"(median and 90th percentile of each part) against the origin's way measured in\n"
"the same run, then detection quality on the demo clip.\n"
"  --model FILE   default: $FER_MODEL, the installed model, models/default.fermodel,\n"
"                 else random weights for models/default.arch (same cost)\n"
"  --frames N     frames timed (300)\n"
"  --face IMAGE   the face composed into the frames (tests/fixtures/face.png)\n"
"  --clip VIDEO   (samples/demo.avi)   --truth CSV (samples/demo.truth.csv)\n"
"  --no-clip      skip part 2\n"
"  --tta-cost     instead of parts 1 and 2: the per-face cost of test-time flip\n"
"                 (ferd's tta key), two pipelines interleaved frame by frame\n"
"  --tta none|flip  the pipeline's test-time augmentation in parts 1 and 2 (none)\n"
"  --detect-width N, --full-every N, --search-face-px N, --search-margin F,\n"
"  --search-range F\n"
"                 pipeline settings (defaults: those of fer_pipeline_opts_default)\n");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* q-quantile (0..1) of v[0..n), nearest rank; sorts v. */
static double quantile(double *v, int n, double q)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)ceil(q * n) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* CPU time of this thread: what a frame costs whatever else the machine runs
 * (except for the share of a core's FPU that a sibling hyperthread takes). */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void print_loadavg(const char *when)
{
    char buf[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            snprintf(buf, sizeof buf, "?\n");
        fclose(f);
    }
    printf("load average %s: %s", when, buf);
}

/* The trained model if there is one, else random weights for default.arch. */
static int load_model(const char *given, int max_batch, fer_model **out, char *what, size_t n)
{
    fer_error err = {0};
    char path[4096];
    if (fer_find_model(given, path, sizeof path) == 0) {
        if (fer_model_load(out, path, max_batch, FER_LOAD_INFER, &err) < 0) {
            fprintf(stderr, "fer bench-pipeline: %s\n", err.msg);
            return -1;
        }
        snprintf(what, n, "%s", path);
        return 0;
    }
    char arch_path[4096];
    fer_find_arch("default", arch_path, sizeof arch_path);
    fer_arch *arch = NULL;
    fer_net *net = NULL;
    fer_model *m = calloc(1, sizeof *m);
    if (!m || fer_arch_load(&arch, arch_path, &err) < 0 ||
        fer_net_create(&net, arch, max_batch, 0, 1, &err) < 0) {
        fprintf(stderr, "fer bench-pipeline: no model and no architecture: %s\n",
                m ? err.msg : "out of memory");
        free(m);
        return -1;
    }
    fer_net_fold_bn(net);
    m->net = net;
    fer_preproc_default(&m->pre);
    fer_meta_init(&m->meta);
    *out = m;
    snprintf(what, n, "random weights for %s (no trained model found)", arch_path);
    return 0;
}

/* ---- part 1: the synthetic sequence ---- */

typedef struct scene {
    fer_image bg;      /* 640x480 BGR background */
    fer_image face;    /* the face, resized */
    uint32_t rng;
} scene;

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static int scene_init(scene *sc, const char *face_path, int side, fer_error *err)
{
    memset(sc, 0, sizeof *sc);
    sc->rng = 12345;
    fer_image src;
    int rc = fer_image_read(&src, face_path, 0, err);
    if (rc < 0)
        return rc;
    rc = fer_image_resize(&sc->face, &src, side, side, err);
    fer_image_free(&src);
    if (rc < 0)
        return rc;
    rc = fer_image_alloc(&sc->bg, FRAME_W, FRAME_H, 3);
    if (rc < 0)
        return fer_fail(err, rc, "out of memory");
    /* A lit wall: a diagonal gradient with a few darker panels, like a room. */
    for (int y = 0; y < FRAME_H; y++)
        for (int x = 0; x < FRAME_W; x++) {
            int v = 70 + (x * 60) / FRAME_W + (y * 40) / FRAME_H;
            if ((x / 160 + y / 120) % 3 == 0)
                v -= 25;
            uint8_t *p = sc->bg.data + ((size_t)y * FRAME_W + x) * 3;
            p[0] = (uint8_t)(v + 10);
            p[1] = (uint8_t)v;
            p[2] = (uint8_t)(v - 5);
        }
    return 0;
}

/* Frame i: the face on a slow Lissajous path, plus +-4 levels of noise everywhere. */
static fer_box scene_frame(scene *sc, int i, fer_image *out)
{
    memcpy(out->data, sc->bg.data, (size_t)FRAME_W * FRAME_H * 3);
    int side = sc->face.w;
    int cx = FRAME_W / 2 + (int)lround(90 * sin(i * 0.031)) - side / 2;
    int cy = FRAME_H / 2 + (int)lround(50 * sin(i * 0.047 + 1.0)) - side / 2;
    for (int y = 0; y < side; y++)
        memcpy(out->data + ((size_t)(cy + y) * FRAME_W + cx) * 3,
               sc->face.data + (size_t)y * side * sc->face.channels, (size_t)side * 3);
    size_t n = (size_t)FRAME_W * FRAME_H * 3;
    for (size_t k = 0; k < n; k += 1) {
        int v = out->data[k] + (int)(lcg(&sc->rng) % 9) - 4;
        out->data[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    return (fer_box){cx, cy, side, side};
}

/* The origin's way on one frame: full-resolution Haar at 1.1, then a forward per
 * face. Returns faces found, or a negative error; fills the two part times. */
static int origin_frame(fer_detector *det, fer_model *m, const fer_image *frame, fer_image *grey,
                        float *input, uint8_t *scratch, double *t_detect, double *t_classify)
{
    fer_error err = {0};
    uint64_t t0 = fer_mono_ns();
    if (fer_image_to_grey(grey, frame, &err) < 0)
        return -1;
    fer_detect_req q = {{0, 0, grey->w, grey->h}, 1.0, 48, 0, 1.1, 5, FER_EQUALIZE_NONE};
    fer_box boxes[64];
    int n = 0;
    if (fer_detect_run(det, grey, &q, boxes, 64, &n, &err) < 0)
        return -1;
    uint64_t t1 = fer_mono_ns();
    const fer_arch *a = m->net->arch;
    for (int i = 0; i < n; i++) {
        if (fer_preprocess_face(input, scratch, a->in_c, a->in_h, a->in_w, grey, boxes[i],
                                &m->pre, &err) < 0)
            return -1;
        fer_net_forward(m->net, input, 1, 0);
    }
    uint64_t t2 = fer_mono_ns();
    *t_detect = (double)(t1 - t0) / 1e6;
    *t_classify = (double)(t2 - t1) / 1e6;
    return n;
}

static void row(const char *name, double *v, int n)
{
    double med = quantile(v, n, 0.5), p90 = quantile(v, n, 0.9);
    printf("  %-28s median %7.2f ms   p90 %7.2f ms\n", name, med, p90);
}

/* Pipeline settings from the command line, applied to the defaults. */
static fer_pipeline_opts g_opts;

static int part1(fer_model *m, const char *face_path, int frames)
{
    fer_error err = {0};
    scene sc;
    if (scene_init(&sc, face_path, 150, &err) < 0) {
        fprintf(stderr, "fer bench-pipeline: %s\n", err.msg);
        return -1;
    }
    fer_pipeline_opts po = g_opts;
    fer_pipeline *pl = NULL;
    fer_detector *det = NULL;
    if (fer_pipeline_create(&pl, &po, m, &err) < 0 ||
        fer_detector_load(&det, FER_CASCADE_DEFAULT, &err) < 0) {
        fprintf(stderr, "fer bench-pipeline: %s\n", err.msg);
        fer_pipeline_free(pl);
        return -1;
    }
    const fer_arch *a = m->net->arch;
    float *input = malloc(sizeof(float) * (size_t)a->in_c * a->in_h * a->in_w);
    uint8_t *scratch = malloc((size_t)a->in_h * a->in_w * 3);
    double *v[10];
    for (int k = 0; k < 10; k++)
        v[k] = calloc((size_t)frames, sizeof(double));
    fer_frame fr = {0};
    fer_image grey = {0};
    int rc = fer_image_alloc(&fr.img, FRAME_W, FRAME_H, 3);
    int ours_found = 0, origin_found = 0, ours_match = 0;
    const int warm = 10;
    for (int i = 0; rc == 0 && i < warm + frames && input && scratch && v[9]; i++) {
        fer_box truth = scene_frame(&sc, i, &fr.img);
        fr.seq = (uint64_t)i + 1;
        fer_frame_stamp(&fr);
        fer_frame_result res;
        uint64_t t0 = fer_mono_ns();
        double c0 = cpu_ms();
        if (fer_pipeline_process(pl, &fr, &res, &err) < 0) {
            fprintf(stderr, "fer bench-pipeline: %s\n", err.msg);
            rc = -1;
            break;
        }
        double total = (double)(fer_mono_ns() - t0) / 1e6;
        double c1 = cpu_ms();
        double od, oc;
        int on = origin_frame(det, m, &fr.img, &grey, input, scratch, &od, &oc);
        double c2 = cpu_ms();
        if (on < 0) {
            rc = -1;
            break;
        }
        if (i < warm)
            continue;
        int k = i - warm;
        fer_pipeline_stats st;
        fer_pipeline_get_stats(pl, &st);
        v[0][k] = total;
        v[1][k] = st.last_grey_ms;
        v[2][k] = st.last_detect_ms;
        v[3][k] = st.last_crop_ms;
        v[4][k] = st.last_forward_ms;
        v[5][k] = od + oc;
        v[6][k] = od;
        v[7][k] = oc;
        v[8][k] = c1 - c0;
        v[9][k] = c2 - c1;
        ours_found += res.nfaces > 0;
        origin_found += on > 0;
        for (int f = 0; f < res.nfaces; f++)
            if (fer_box_iou(res.faces[f].box, truth) >= 0.3f) {
                ours_match++;
                break;
            }
    }
    if (rc == 0) {
        double med_ours = quantile(v[0], frames, 0.5), med_origin = quantile(v[5], frames, 0.5);
        double cpu_ours = quantile(v[8], frames, 0.5), cpu_origin = quantile(v[9], frames, 0.5);
        printf("part 1: %d frames of 640x480, one face (150 px, moving), one thread\n", frames);
        printf(" pipeline (detect width %d, full search every %d frames, else near tracks):\n",
               po.detect_width, po.full_every);
        row("total per frame", v[0], frames);
        row("grey + change test", v[1], frames);
        row("face search + tracking", v[2], frames);
        row("crop + normalise", v[3], frames);
        row("network forward", v[4], frames);
        printf(" origin's way (full-resolution Haar, scale 1.1, min face 48, "
               "a forward per face):\n");
        row("total per frame", v[5], frames);
        row("grey + Haar", v[6], frames);
        row("crop + forward", v[7], frames);
        printf(" ratio of medians (origin / pipeline): %.1fx\n", med_origin / med_ours);
        printf(" CPU time of the thread per frame: pipeline median %.2f ms, p90 %.2f ms; origin "
               "median %.2f ms, p90 %.2f ms; ratio %.1fx\n", cpu_ours, quantile(v[8], frames, 0.9),
               cpu_origin, quantile(v[9], frames, 0.9), cpu_origin / cpu_ours);
        printf(" frames with the face found: pipeline %d/%d (%d on the true box), origin %d/%d\n",
               ours_found, frames, ours_match, origin_found, frames);
        fer_pipeline_stats st;
        fer_pipeline_get_stats(pl, &st);
        printf(" pipeline searches: %lld full, %lld near tracks; still frames %lld\n",
               st.full_detections, st.region_searches, st.still_frames);
    }
    for (int k = 0; k < 10; k++)
        free(v[k]);
    free(input);
    free(scratch);
    fer_frame_free(&fr);
    fer_image_free(&grey);
    fer_image_free(&sc.bg);
    fer_image_free(&sc.face);
    fer_detector_free(det);
    fer_pipeline_free(pl);
    return rc;
}

/* ---- part 3: the cost of test-time flip ---- */

/*
 * The synthetic sequence through two pipelines, one without test-time augmentation
 * and one with flip (ferd's `tta` key), interleaved frame by frame so both see the
 * same load. What flip adds is in the classification of each face: the mirrored
 * input, the network on two inputs instead of one, and the average; so the figure
 * is the per-face crop + normalise + forward time (one face per frame), from the
 * pipelines' own timers.
 */
static int part3(fer_model *m, const char *face_path, int frames)
{
    fer_error err = {0};
    scene sc;
    if (scene_init(&sc, face_path, 150, &err) < 0) {
        fprintf(stderr, "fer bench-pipeline: %s\n", err.msg);
        return -1;
    }
    fer_pipeline *pl[2] = {NULL, NULL};
    fer_pipeline_opts po = g_opts;
    int rc = 0;
    for (int t = 0; t < 2 && rc == 0; t++) {
        po.tta = t ? FER_TTA_FLIP : FER_TTA_NONE;
        rc = fer_pipeline_create(&pl[t], &po, m, &err);
    }
    double *v[2] = {calloc((size_t)frames, sizeof(double)), calloc((size_t)frames, sizeof(double))};
    int n[2] = {0, 0};
    fer_frame fr = {0};
    if (rc == 0)
        rc = fer_image_alloc(&fr.img, FRAME_W, FRAME_H, 3);
    if (rc < 0 || !v[0] || !v[1])
        fprintf(stderr, "fer bench-pipeline: %s\n", rc < 0 ? err.msg : "out of memory");
    const int warm = 10;
    for (int i = 0; rc == 0 && v[1] && i < warm + frames; i++) {
        scene_frame(&sc, i, &fr.img);
        fr.seq = (uint64_t)i + 1;
        fer_frame_stamp(&fr);
        for (int t = 0; t < 2 && rc == 0; t++) {
            fer_frame_result res;
            if ((rc = fer_pipeline_process(pl[t], &fr, &res, &err)) < 0) {
                fprintf(stderr, "fer bench-pipeline: %s\n", err.msg);
                break;
            }
            fer_pipeline_stats st;
            fer_pipeline_get_stats(pl[t], &st);
            if (i >= warm && res.nfaces == 1)
                v[t][n[t]++] = st.last_crop_ms + st.last_forward_ms;
        }
    }
    if (rc == 0 && v[1] && n[0] >= 10 && n[1] >= 10) {
        double a = quantile(v[0], n[0], 0.5), b = quantile(v[1], n[1], 0.5);
        printf("part 3: test-time flip, %d frames of 640x480 with one face, one thread\n", frames);
        printf("  per face (crop + normalise + network), tta none  median %.3f ms   p90 %.3f ms"
               "   (%d faces)\n", a, quantile(v[0], n[0], 0.9), n[0]);
        printf("  per face (crop + normalise + network), tta flip  median %.3f ms   p90 %.3f ms"
               "   (%d faces)\n", b, quantile(v[1], n[1], 0.9), n[1]);
        printf("  flip costs %.3f ms more per face (median), %.2fx\n", b - a, b / a);
    } else if (rc == 0) {
        fprintf(stderr, "fer bench-pipeline: too few frames with exactly one face found\n");
        rc = -1;
    }
    free(v[0]);
    free(v[1]);
    fer_frame_free(&fr);
    fer_image_free(&sc.bg);
    fer_image_free(&sc.face);
    fer_pipeline_free(pl[0]);
    fer_pipeline_free(pl[1]);
    return rc;
}

/* ---- part 2: the demo clip against its ground truth ---- */

typedef struct truth {
    int n;
    int *frame;
    fer_box *box;
} truth;

static int truth_load(truth *t, const char *path)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "fer bench-pipeline: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[256];
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        int fr, id;
        fer_box b;
        if (sscanf(line, "%d,%d,%d,%d,%d,%d", &fr, &id, &b.x, &b.y, &b.w, &b.h) != 6)
            continue; /* the header */
        if (t->n == cap) {
            cap = cap ? cap * 2 : 1024;
            int *nf = realloc(t->frame, sizeof(int) * (size_t)cap);
            if (nf)
                t->frame = nf;
            fer_box *nb = realloc(t->box, sizeof(fer_box) * (size_t)cap);
            if (nb)
                t->box = nb;
            if (!nf || !nb) {
                fclose(f);
                return -1;
            }
        }
        t->frame[t->n] = fr;
        t->box[t->n++] = b;
    }
    fclose(f);
    return 0;
}

typedef struct score {
    long long frames, frames_with_face, frames_found, faces, faces_found, false_dets;
} score;

/* Greedy IoU >= 0.3 matching of a frame's detections to its true boxes. */
static void score_frame(score *s, const truth *t, int frame, const fer_box *det, int ndet)
{
    int used[64] = {0}, ntrue = 0, matched = 0;
    for (int k = 0; k < t->n; k++) {
        if (t->frame[k] != frame)
            continue;
        ntrue++;
        int best = -1;
        float bi = 0.3f;
        for (int d = 0; d < ndet && d < 64; d++) {
            float iou = fer_box_iou(det[d], t->box[k]);
            if (!used[d] && iou >= bi) {
                bi = iou;
                best = d;
            }
        }
        if (best >= 0) {
            used[best] = 1;
            matched++;
        }
    }
    s->frames++;
    s->faces += ntrue;
    s->faces_found += matched;
    if (ntrue) {
        s->frames_with_face++;
        s->frames_found += matched > 0;
    }
    s->false_dets += (ndet < 64 ? ndet : 64) - matched;
}

static void print_score(const char *name, const score *s)
{
    printf("  %-34s frames with a face, found: %5.1f%% (%lld/%lld)   faces found: %5.1f%%   "
           "false detections per frame: %.3f\n", name,
           100.0 * s->frames_found / (s->frames_with_face ? s->frames_with_face : 1),
           s->frames_found, s->frames_with_face,
           100.0 * s->faces_found / (s->faces ? s->faces : 1),
           (double)s->false_dets / (s->frames ? s->frames : 1));
}

static int part2(fer_model *m, const char *clip, const char *truth_path)
{
    truth t;
    if (truth_load(&t, truth_path) < 0)
        return -1;
    fer_error err = {0};
    fer_source_opts so;
    fer_source_opts_default(&so);
    so.loop = 0;
    so.realtime = 0;
    fer_source *src = NULL;
    fer_pipeline_opts po = g_opts;
    fer_pipeline *pl = NULL;
    fer_detector *det = NULL;
    int rc = 0;
    if (fer_source_open(&src, clip, &so, &err) < 0 || fer_pipeline_create(&pl, &po, m, &err) < 0 ||
        fer_detector_load(&det, FER_CASCADE_DEFAULT, &err) < 0) {
        fprintf(stderr, "fer bench-pipeline: %s\n", err.msg);
        rc = -1;
    }
    score ours = {0}, origin = {0};
    fer_frame fr = {0};
    fer_image grey = {0};
    double *times = NULL;
    int ntimes = 0, cap = 0;
    for (int i = 0; rc == 0; i++) {
        int r = fer_source_read(src, &fr, &err);
        if (r == FER_E_EOF)
            break;
        if (r < 0) {
            fprintf(stderr, "fer bench-pipeline: %s\n", err.msg);
            rc = -1;
            break;
        }
        fer_frame_result res;
        if (fer_pipeline_process(pl, &fr, &res, &err) < 0) {
            fprintf(stderr, "fer bench-pipeline: %s\n", err.msg);
            rc = -1;
            break;
        }
        if (ntimes == cap) {
            cap = cap ? cap * 2 : 512;
            double *nt = realloc(times, sizeof(double) * (size_t)cap);
            if (!nt) {
                rc = -1;
                break;
            }
            times = nt;
        }
        times[ntimes++] = res.total_ms;
        fer_box boxes[FER_RESULT_MAX_FACES];
        for (int f = 0; f < res.nfaces; f++)
            boxes[f] = res.faces[f].box;
        score_frame(&ours, &t, i, boxes, res.nfaces);

        fer_box ob[64];
        int on = 0;
        fer_detect_req q = {{0, 0, fr.img.w, fr.img.h}, 1.0, 48, 0, 1.1, 5, FER_EQUALIZE_NONE};
        if (fer_image_to_grey(&grey, &fr.img, &err) < 0 ||
            fer_detect_run(det, &grey, &q, ob, 64, &on, &err) < 0) {
            fprintf(stderr, "fer bench-pipeline: %s\n", err.msg);
            rc = -1;
            break;
        }
        score_frame(&origin, &t, i, ob, on);
    }
    if (rc == 0) {
        printf("part 2: %s, %lld frames, %lld with at least one face (%lld faces in all)\n", clip,
               ours.frames, ours.frames_with_face, ours.faces);
        print_score("pipeline (daemon settings)", &ours);
        print_score("origin's detector (full res, 1.1)", &origin);
        printf("  pipeline time per frame on the clip: median %.2f ms, p90 %.2f ms\n",
               quantile(times, ntimes, 0.5), quantile(times, ntimes, 0.9));
    }
    free(times);
    free(t.frame);
    free(t.box);
    fer_frame_free(&fr);
    fer_image_free(&grey);
    fer_detector_free(det);
    fer_pipeline_free(pl);
    fer_source_close(src);
    return rc;
}

int fer_bench_pipeline(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},  {"frames", required_argument, NULL, 'n'},
        {"face", required_argument, NULL, 'f'},   {"clip", required_argument, NULL, 'c'},
        {"truth", required_argument, NULL, 't'},  {"no-clip", no_argument, NULL, 'C'},
        {"detect-width", required_argument, NULL, 'W'},
        {"full-every", required_argument, NULL, 'E'},
        {"search-face-px", required_argument, NULL, 'P'},
        {"search-margin", required_argument, NULL, 'M'},
        {"search-range", required_argument, NULL, 'R'},
        {"tta-cost", no_argument, NULL, 'T'}, {"tta", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},         {0, 0, 0, 0},
    };
    fer_pipeline_opts_default(&g_opts);
    const char *model_arg = NULL;
    char face[4096], clip[4096], truth_path[4096];
    /* Defaults from the data directory (util/paths.h): the demo clip and its
     * truth, and a face picture (installed as samples/face.png; a source tree
     * has it among the test fixtures). */
    fer_data_file("samples/demo.avi", clip, sizeof clip);
    fer_data_file("samples/demo.truth.csv", truth_path, sizeof truth_path);
    if (fer_data_file("samples/face.png", face, sizeof face) < 0)
        fer_data_file("tests/fixtures/face.png", face, sizeof face);
    int frames = 300, do_clip = 1, tta_cost = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hm:", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model_arg = optarg; break;
        case 'n':
            frames = atoi(optarg);
            if (frames < 10 || frames > 100000) {
                fprintf(stderr, "fer bench-pipeline: --frames must be in 10..100000\n");
                return FER_EXIT_USAGE;
            }
            break;
        case 'f': snprintf(face, sizeof face, "%s", optarg); break;
        case 'c': snprintf(clip, sizeof clip, "%s", optarg); break;
        case 't': snprintf(truth_path, sizeof truth_path, "%s", optarg); break;
        case 'C': do_clip = 0; break;
        case 'W': g_opts.detect_width = atoi(optarg); break;
        case 'E': g_opts.full_every = atoi(optarg); break;
        case 'P': g_opts.search_face_px = atoi(optarg); break;
        case 'M': g_opts.search_margin = (float)atof(optarg); break;
        case 'R': g_opts.search_range = (float)atof(optarg); break;
        case 'T': tta_cost = 1; break;
        case 'A':
            if (strcmp(optarg, "none") && strcmp(optarg, "flip")) {
                fprintf(stderr, "fer bench-pipeline: --tta is none or flip\n");
                return 2;
            }
            g_opts.tta = strcmp(optarg, "flip") ? FER_TTA_NONE : FER_TTA_FLIP;
            break;
        case 'h': usage(stdout); return 0;
        default: return fer_cli_option_error("fer bench-pipeline", c, longopts, argv);
        }
    }
    if (optind < argc) {
        return fer_cli_extra_argument("fer bench-pipeline", argv[optind]);
    }
    /* One thread for everything: BLAS and OpenCV alike. */
    fer_set_threads(1);
    fer_detect_set_threads(1);
    fer_model *m = NULL;
    char what[4200];
    if (load_model(model_arg, FER_RESULT_MAX_FACES, &m, what, sizeof what) < 0)
        return 1;
    printf("model: %s\n", what);
    print_loadavg("before");
    int rc;
    if (tta_cost) {
        rc = part3(m, face, frames);
    } else {
        rc = part1(m, face, frames);
        if (rc == 0 && do_clip)
            rc = part2(m, clip, truth_path);
    }
    print_loadavg("after");
    fer_model_free(m);
    return rc < 0 ? 1 : 0;
}
