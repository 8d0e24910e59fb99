/*
 * cmd_classify.c — `fer classify IMAGE...`: the vision pipeline on still images.
 *
 * Each image goes through the same fer_pipeline the daemon runs, set for stills:
 * a full detection every time, no tracking from one image to the next, no
 * smoothing. stdout gets one RESULT line per image (docs/RESULT_SCHEMA.md) plus
 * "path"; stderr gets one line per image that failed, naming it. A picture
 * without a face is a normal result with an empty "faces" list.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "commands.h"
#include "util/cli.h"
#include "cv/detect.h"
#include "util/paths.h"
#include "proto/json.h"
#include "proto/result_json.h"
#include "vision/annotate.h"
#include "vision/pace.h"
#include "vision/pipeline.h"
#include "vision/source_spec.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: fer classify [options] IMAGE...\n"
"\n"
"Finds the faces in each image, classifies their expressions and prints one\n"
"single-line JSON RESULT object per image on stdout (docs/RESULT_SCHEMA.md), with\n"
"\"path\" naming the image. An image without faces gives \"faces\":[]. Errors go to\n"
"stderr, one line per failed image; the exit status is 1 if any image failed.\n"
"\n"
"  --model FILE        model (default: $FER_MODEL, the installed default model,\n"
"                      then models/default.fermodel of the source tree)\n"
"  --annotate OUT      also write each image with boxes, labels, probabilities and\n"
"                      score bars drawn. One IMAGE: OUT is the file to write (.png,\n"
"                      .jpg, .jpeg, .bmp or .pgm). Several: OUT is a directory\n"
"                      (created if missing) that receives NAME.png per image NAME.ext\n"
"                      (NAME-2.png, ... when names repeat)\n"
"  --no-scores         leave out the per-class \"scores\" objects\n"
"  --largest           only the largest face of each image\n"
"  --max-faces N       at most N faces per image, largest first (8, at most %d)\n"
"  --cascade FILE      Haar cascade (%s)\n"
"  --detect-width N    search the image shrunk to this width (640; 0 = full size)\n"
"  --scale-factor F    detection pyramid step (1.1)\n"
"  --min-neighbors N   detections a face needs (4)\n"
"  --min-face PX       smallest face side in image pixels (24)\n"
"  --max-pixels N      refuse, undecoded, an image whose header states more than N\n"
"                      pixels (width x height; %lld)\n",
            FER_RESULT_MAX_FACES, FER_CASCADE_DEFAULT, FER_IMAGE_MAX_PIXELS);
}

/* Where the annotated copy of input goes: out itself for a single image, else
 * out/NAME.png with a numeric suffix for names already used in this run. */
static void annotate_path(char *dst, size_t n, const char *out, int single, const char *input,
                          char (*used)[256], int *nused)
{
    if (single) {
        snprintf(dst, n, "%s", out);
        return;
    }
    const char *base = strrchr(input, '/');
    base = base ? base + 1 : input;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem)
        *dot = '\0';
    char name[256];
    snprintf(name, sizeof name, "%s", stem);
    for (int k = 2;; k++) {
        int clash = 0;
        for (int i = 0; i < *nused && !clash; i++)
            clash = strcmp(used[i], name) == 0;
        if (!clash)
            break;
        snprintf(name, sizeof name, "%.240s-%d", stem, k);
    }
    snprintf(used[(*nused)++], 256, "%s", name);
    snprintf(dst, n, "%s/%s.png", out, name);
}

/* Classifies one image; prints its line or its error. Returns 0 or -1. */
static int classify_one(fer_pipeline *pl, const char *path, unsigned json_flags, uint64_t seq,
                        const char *annotate_to, long long max_pixels)
{
    fer_error err = {0};
    fer_frame frame = {0};
    int rc = fer_image_read_max(&frame.img, path, 0, max_pixels, &err);
    if (rc < 0) {
        fer_source_spec spec;
        if (fer_source_parse(&spec, path, NULL) == 0 && spec.kind == FER_SOURCE_VIDEO)
            fprintf(stderr, "fer classify: %s is a video, not an image: use 'fer analyze %s' "
                    "(every frame, one record per face)\n", path, path);
        else
            fprintf(stderr, "fer classify: %s\n", err.msg);
        return -1;
    }
    fer_frame_stamp(&frame);
    frame.seq = seq;
    fer_frame_result res;
    fer_pipeline_reset(pl); /* images are unrelated: no tracks carry over */
    rc = fer_pipeline_process(pl, &frame, &res, &err);
    if (rc < 0) {
        fprintf(stderr, "fer classify: %s: %s\n", path, err.msg);
        fer_frame_free(&frame);
        return -1;
    }
    cJSON *o = fer_result_to_cjson(&res, json_flags);
    char *line = NULL;
    if (o && cJSON_AddStringToObject(o, "path", path))
        line = fer_json_print(o); /* valid UTF-8 whatever bytes the path holds */
    cJSON_Delete(o);
    if (!line) {
        fprintf(stderr, "fer classify: %s: out of memory\n", path);
        fer_frame_free(&frame);
        return -1;
    }
    printf("%s\n", line);
    fflush(stdout);
    free(line);

    int ok = 0;
    if (annotate_to) {
        fer_annotate(&frame.img, &res, 0);
        if (fer_image_write(&frame.img, annotate_to, &err) < 0) {
            fprintf(stderr, "fer classify: %s: annotated copy: %s\n", path, err.msg);
            ok = -1;
        }
    }
    fer_frame_free(&frame);
    return ok;
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

int fer_cmd_classify(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"annotate", required_argument, NULL, 'a'},
        {"no-scores", no_argument, NULL, 'S'},
        {"largest", no_argument, NULL, 'L'},
        {"max-faces", required_argument, NULL, 'n'},
        {"cascade", required_argument, NULL, 'c'},
        {"detect-width", required_argument, NULL, 'w'},
        {"scale-factor", required_argument, NULL, 's'},
        {"min-neighbors", required_argument, NULL, 'N'},
        {"min-face", required_argument, NULL, 'f'},
        {"max-pixels", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *model_arg = NULL, *annotate = NULL;
    long long max_pixels = FER_IMAGE_MAX_PIXELS;
    unsigned json_flags = 0;
    fer_pipeline_opts po;
    fer_pipeline_opts_still(&po); /* the same settings as libferclassify */

    int c, li = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hm:", longopts, &li)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model_arg = optarg; break;
        case 'a': annotate = optarg; break;
        case 'S': json_flags |= FER_JSON_NO_SCORES; break;
        case 'L': po.largest_only = 1; break;
        case 'n': bad = parse_int(optarg, 1, FER_RESULT_MAX_FACES, &po.max_faces); break;
        case 'c': po.cascade = optarg; break;
        case 'w': bad = parse_int(optarg, 0, 100000, &po.detect_width); break;
        case 's': {
            char *end;
            po.scale_factor = strtod(optarg, &end);
            bad = end == optarg || *end || !(po.scale_factor > 1.0 && po.scale_factor <= 4.0);
            break;
        }
        case 'N': bad = parse_int(optarg, 0, 100, &po.min_neighbors); break;
        case 'f': bad = parse_int(optarg, 0, 100000, &po.min_face); break;
        case 'P': {
            char *end;
            errno = 0;
            max_pixels = strtoll(optarg, &end, 10);
            bad = errno || end == optarg || *end || max_pixels < 1 || max_pixels > (1LL << 30);
            break;
        }
        case 'h': usage(stdout); return 0;
        default: return fer_cli_option_error("fer classify", c, longopts, argv);
        }
        if (bad) {
            fprintf(stderr, "fer classify: bad value '%s' for --%s\n", optarg,
                    longopts[li].name);
            return FER_EXIT_USAGE;
        }
    }
    int nimages = argc - optind;
    if (nimages < 1) {
        return fer_cli_usage_error("fer classify", NULL, "no image given");
    }

    char model_path[4096];
    if (fer_find_model(model_arg, model_path, sizeof model_path) < 0) {
        fprintf(stderr, "fer classify: no model: pass --model FILE or set FER_MODEL (looked for "
                "%s and the source tree's models/default.fermodel)\n", model_path);
        return 1;
    }
    fer_error err = {0};
    fer_model *model = NULL;
    if (fer_model_load(&model, model_path, po.max_faces, FER_LOAD_INFER, &err) < 0) {
        fprintf(stderr, "fer classify: %s\n", err.msg);
        return 1;
    }
    fer_set_threads(1);
    fer_pipeline *pl = NULL;
    if (fer_pipeline_create(&pl, &po, model, &err) < 0) {
        fprintf(stderr, "fer classify: %s\n", err.msg);
        fer_model_free(model);
        return 1;
    }

    int single = nimages == 1;
    if (annotate && !single) {
        struct stat st;
        if (stat(annotate, &st) < 0 && mkdir(annotate, 0777) < 0 && errno != EEXIST) {
            fprintf(stderr, "fer classify: %s: cannot create the directory: %s\n", annotate,
                    strerror(errno));
            fer_pipeline_free(pl);
            fer_model_free(model);
            return 1;
        }
    } else if (annotate) {
        struct stat st;
        if (stat(annotate, &st) == 0 && S_ISDIR(st.st_mode))
            single = 0; /* an existing directory receives NAME.png even for one image */
    }

    char (*used)[256] = calloc((size_t)nimages, sizeof *used);
    if (!used) {
        fprintf(stderr, "fer classify: out of memory\n");
        fer_pipeline_free(pl);
        fer_model_free(model);
        return 1;
    }
    int nused = 0, failed = 0;
    for (int i = 0; i < nimages; i++) {
        const char *path = argv[optind + i];
        char out[4096 + 300];
        if (annotate)
            annotate_path(out, sizeof out, annotate, single, path, used, &nused);
        if (classify_one(pl, path, json_flags, (uint64_t)i + 1, annotate ? out : NULL,
                         max_pixels) < 0)
            failed++;
    }
    free(used);
    fer_pipeline_free(pl);
    fer_model_free(model);
    return failed ? 1 : 0;
}
