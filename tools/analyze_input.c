/*
 * analyze_input.c — see analyze_input.h.
 *
 * A video goes through the same fer_source the daemon uses, opened with
 * realtime and loop off, so every frame the file holds comes out once, as
 * fast as FFmpeg decodes it. Images are a list of paths — from
 * fer_image_list_load for a directory or pattern, else from the arguments or
 * a list file — read one by one with fer_image_read; one that cannot be read
 * costs that image, not the run.
 */
#include "analyze_input.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/source.h"

/* A list file may name this many images (the bound of a directory listing). */
#define MAX_LIST FER_SOURCE_MAX_IMAGES

struct analyze_input {
    fer_source *video;
    double fps;
    long long frames;
    char **paths;        /* images: n paths (each malloc'd) */
    int n, next;
    long long index;     /* of the next frame */
    int failed;          /* the video failed: only EOF from now on */
};

static int add_path(analyze_input *in, const char *p, int *cap, fer_error *err)
{
    if (in->n >= MAX_LIST)
        return fer_fail(err, -E2BIG, "more than %d images", MAX_LIST);
    if (in->n == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        char **np = realloc(in->paths, sizeof *np * (size_t)nc);
        if (!np)
            return fer_fail(err, -ENOMEM, "out of memory for the image list");
        in->paths = np;
        *cap = nc;
    }
    in->paths[in->n] = strdup(p);
    if (!in->paths[in->n])
        return fer_fail(err, -ENOMEM, "out of memory for the image list");
    in->n++;
    return 0;
}

/* @LIST: one path per line; blank lines and lines starting with '#' skipped. */
static int read_list(analyze_input *in, const char *name, int *cap, fer_error *err)
{
    FILE *f = strcmp(name, "-") == 0 ? stdin : fopen(name, "r");
    if (!f)
        return fer_fail(err, -errno, "@%s: %s", name, strerror(errno));
    char line[FER_SOURCE_PATH_MAX + 2];
    int rc = 0, lineno = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] != '\n' && !feof(f)) {
            rc = fer_fail(err, -ENAMETOOLONG, "@%s:%d: line longer than %d bytes", name, lineno,
                          FER_SOURCE_PATH_MAX);
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len || line[0] == '#')
            continue;
        rc = add_path(in, line, cap, err);
    }
    if (f != stdin)
        fclose(f);
    if (rc == 0 && in->n == 0)
        rc = fer_fail(err, -EINVAL, "@%s: names no image", name);
    return rc;
}

static int open_images(analyze_input *in, char **args, int n, fer_error *err)
{
    int cap = 0;
    for (int i = 0; i < n; i++) {
        int rc;
        if (args[i][0] == '@') {
            rc = read_list(in, args[i] + 1, &cap, err);
        } else {
            fer_source_spec spec;
            rc = fer_source_parse(&spec, args[i], err);
            if (rc < 0)
                return rc;
            if (spec.kind == FER_SOURCE_IMAGES) {
                fer_image_list l = {0};
                rc = fer_image_list_load(&l, &spec, err);
                for (int k = 0; rc == 0 && k < l.n; k++)
                    rc = add_path(in, l.paths[k], &cap, err);
                fer_image_list_free(&l);
            } else if (spec.kind == FER_SOURCE_IMAGE) {
                rc = add_path(in, args[i], &cap, err);
            } else {
                return fer_fail(err, -EINVAL, "%s: a %s cannot be analysed with images (one "
                                "video, or images only)", args[i],
                                fer_source_kind_name(spec.kind));
            }
        }
        if (rc < 0)
            return rc;
    }
    in->frames = in->n;
    return 0;
}

int analyze_input_open(analyze_input **out, char **args, int n, double fps, fer_error *err)
{
    *out = NULL;
    if (n < 1)
        return fer_fail(err, -EINVAL, "no input");
    analyze_input *in = calloc(1, sizeof *in);
    if (!in)
        return fer_fail(err, -ENOMEM, "out of memory");
    int rc = 0;
    fer_source_spec spec;
    if (args[0][0] != '@' && (rc = fer_source_parse(&spec, args[0], err)) < 0)
        goto fail;
    if (args[0][0] != '@' && (spec.kind == FER_SOURCE_CAMERA || spec.kind == FER_SOURCE_STREAM)) {
        rc = fer_fail(err, -EINVAL, "%s is a %s: fer analyze reads files (run ferd on a live "
                      "source)", args[0], fer_source_kind_name(spec.kind));
        goto fail;
    }
    if (args[0][0] != '@' && spec.kind == FER_SOURCE_VIDEO) {
        if (n > 1) {
            rc = fer_fail(err, -EINVAL, "%s is a video: analyse one video at a time", args[0]);
            goto fail;
        }
        fer_source_opts o;
        fer_source_opts_default(&o);
        o.loop = 0;
        o.realtime = 0;
        rc = fer_source_open(&in->video, args[0], &o, err);
        if (rc < 0)
            goto fail;
        fer_source_info info;
        fer_source_get_info(in->video, &info);
        in->fps = info.fps;
        in->frames = info.frames;
    } else {
        rc = open_images(in, args, n, err);
        if (rc < 0)
            goto fail;
        in->fps = fps > 0 ? fps : 0;
    }
    *out = in;
    return 0;
fail:
    analyze_input_close(in);
    return rc;
}

int analyze_input_read(analyze_input *in, fer_frame *frame, analyze_frame_info *info,
                       fer_error *err)
{
    memset(info, 0, sizeof *info);
    info->index = in->index;
    info->time_s = in->fps > 0 ? (double)in->index / in->fps : -1.0;
    int rc;
    if (in->video) {
        if (in->failed)
            return FER_E_EOF;
        rc = fer_source_read(in->video, frame, err);
        if (rc < 0 && rc != FER_E_EOF)
            in->failed = 1;
    } else {
        if (in->next >= in->n)
            return FER_E_EOF;
        info->path = in->paths[in->next++];
        fer_image img;
        rc = fer_image_read(&img, info->path, 0, err);
        if (rc == 0) {
            fer_image_free(&frame->img);
            frame->img = img;
        }
    }
    if (rc == FER_E_EOF)
        return rc;
    in->index++;
    if (rc < 0)
        return rc;
    frame->seq = (uint64_t)info->index + 1;
    /* The file's own clock (see the header); images without a rate count one
     * second each (the caller turns the pipeline's gap rule off for them). */
    frame->mono_ns = info->time_s >= 0 ? (uint64_t)(info->time_s * 1e9 + 0.5)
                                       : (uint64_t)info->index * 1000000000ull;
    return 0;
}

long long analyze_input_frames(const analyze_input *in)
{
    return in->frames;
}

double analyze_input_fps(const analyze_input *in)
{
    return in->fps;
}

int analyze_input_is_video(const analyze_input *in)
{
    return in->video != NULL;
}

void analyze_input_close(analyze_input *in)
{
    if (!in)
        return;
    fer_source_close(in->video);
    for (int i = 0; i < in->n; i++)
        free(in->paths[i]);
    free(in->paths);
    free(in);
}
