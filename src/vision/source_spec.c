/*
 * source_spec.c — classifying a source string and listing image sequences.
 *
 * Everything here is string handling and stat/opendir/glob, so the rules of
 * source_spec.h are tested without OpenCV or a camera. The order of the tests
 * matters: numbers and URLs are recognised before the file system is asked, and
 * a path that exists wins over its reading as a pattern (a file may contain '[').
 */
#include "vision/source_spec.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *const image_exts[] = {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm",
                                         ".pnm", ".tif", ".tiff", ".webp"};

const char *fer_source_kind_name(fer_source_kind k)
{
    switch (k) {
    case FER_SOURCE_CAMERA: return "camera";
    case FER_SOURCE_VIDEO: return "video";
    case FER_SOURCE_IMAGE: return "image";
    case FER_SOURCE_IMAGES: return "images";
    case FER_SOURCE_STREAM: return "stream";
    }
    return "unknown";
}

int fer_is_image_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    if (!dot)
        return 0;
    for (size_t i = 0; i < sizeof image_exts / sizeof image_exts[0]; i++)
        if (strcasecmp(dot, image_exts[i]) == 0)
            return 1;
    return 0;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

int fer_source_parse(fer_source_spec *spec, const char *text, fer_error *err)
{
    memset(spec, 0, sizeof *spec);
    spec->index = -1;
    if (!text || !*text)
        return fer_fail(err, -EINVAL, "empty source");
    size_t len = strlen(text);
    if (len >= sizeof spec->path)
        return fer_fail(err, -EINVAL, "source name of %zu bytes is too long", len);

    if (all_digits(text)) {
        if (len > 3)
            return fer_fail(err, -EINVAL, "%s: camera index out of range", text);
        spec->kind = FER_SOURCE_CAMERA;
        spec->index = atoi(text);
        snprintf(spec->path, sizeof spec->path, "/dev/video%d", spec->index);
        return 0;
    }

    const char *scheme_end = strstr(text, "://");
    if (scheme_end) {
        size_t n = (size_t)(scheme_end - text);
        static const char *const schemes[] = {"rtsp", "rtsps", "http", "https"};
        for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
            if (n == strlen(schemes[i]) && strncasecmp(text, schemes[i], n) == 0) {
                spec->kind = FER_SOURCE_STREAM;
                memcpy(spec->path, text, len + 1);
                return 0;
            }
        }
        return fer_fail(err, FER_E_UNSUPPORTED,
                        "%s: unsupported URL scheme (use rtsp://, rtsps://, http:// or https://)",
                        text);
    }

    memcpy(spec->path, text, len + 1);
    struct stat st;
    if (stat(text, &st) < 0) {
        int e = errno;
        if (strncmp(text, "/dev/", 5) == 0) {
            spec->kind = FER_SOURCE_CAMERA;
            if (e == ENOENT)
                return fer_fail(err, -ENOENT, "%s: no such video device", text);
            return fer_fail(err, -e, "%s: %s", text, strerror(e));
        }
        if (e == ENOENT && strpbrk(text, "*?[")) {
            spec->kind = FER_SOURCE_IMAGES;
            return 0;
        }
        spec->kind = fer_is_image_name(text) ? FER_SOURCE_IMAGE : FER_SOURCE_VIDEO;
        if (e == ENOENT)
            return fer_fail(err, -ENOENT, "%s: no such file", text);
        return fer_fail(err, -e, "%s: %s", text, strerror(e));
    }
    if (S_ISCHR(st.st_mode)) {
        spec->kind = FER_SOURCE_CAMERA;
    } else if (S_ISDIR(st.st_mode)) {
        spec->kind = FER_SOURCE_IMAGES;
        spec->is_dir = 1;
    } else if (S_ISREG(st.st_mode)) {
        spec->kind = fer_is_image_name(text) ? FER_SOURCE_IMAGE : FER_SOURCE_VIDEO;
    } else {
        return fer_fail(err, FER_E_UNSUPPORTED,
                        "%s: neither a file, a directory nor a video device", text);
    }
    return 0;
}

void fer_image_list_free(fer_image_list *list)
{
    if (!list)
        return;
    free(list->paths);
    memset(list, 0, sizeof *list);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Growable array of strdup'd names, turned into one block by pack(). */
typedef struct names {
    int n, cap;
    char **v;
    size_t bytes;
} names;

static int names_add(names *s, const char *path)
{
    if (s->n >= FER_SOURCE_MAX_IMAGES)
        return -E2BIG;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(path)))
        return -ENOMEM;
    s->bytes += strlen(path) + 1;
    s->n++;
    return 0;
}

static void names_free(names *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* Sorts s and moves it into list as one allocation: the pointer table, then the strings. */
static int pack(fer_image_list *list, names *s)
{
    qsort(s->v, (size_t)s->n, sizeof *s->v, cmp_str);
    char **block = malloc((size_t)s->n * sizeof(char *) + s->bytes);
    if (!block)
        return -ENOMEM;
    char *p = (char *)(block + s->n);
    for (int i = 0; i < s->n; i++) {
        size_t l = strlen(s->v[i]) + 1;
        memcpy(p, s->v[i], l);
        block[i] = p;
        p += l;
    }
    list->n = s->n;
    list->paths = block;
    return 0;
}

static int is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int list_dir(names *s, const char *dir, fer_error *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        return fer_fail(err, -e, "%s: cannot list the directory: %s", dir, strerror(e));
    }
    char path[FER_SOURCE_PATH_MAX + 256];
    const char *sep = dir[strlen(dir) - 1] == '/' ? "" : "/";
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' || !fer_is_image_name(de->d_name))
            continue;
        snprintf(path, sizeof path, "%s%s%s", dir, sep, de->d_name);
        if (is_regular(path))
            rc = names_add(s, path);
    }
    closedir(d);
    if (rc < 0)
        return fer_fail(err, rc, "%s: %s", dir,
                        rc == -E2BIG ? "more images than a source may list" : strerror(-rc));
    if (s->n == 0)
        return fer_fail(err, -ENOENT,
                        "%s: no images in directory (.png, .jpg, .jpeg, .bmp, .pgm, .ppm, .pnm, "
                        ".tif, .tiff, .webp)", dir);
    return 0;
}

static int list_glob(names *s, const char *pattern, fer_error *err)
{
    glob_t g;
    memset(&g, 0, sizeof g);
    int grc = glob(pattern, GLOB_NOSORT, NULL, &g);
    if (grc == GLOB_NOSPACE) {
        globfree(&g);
        return fer_fail(err, -ENOMEM, "%s: out of memory expanding the pattern", pattern);
    }
    if (grc == GLOB_ABORTED) {
        globfree(&g);
        return fer_fail(err, -EACCES, "%s: a directory of the pattern cannot be read", pattern);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && grc == 0 && i < g.gl_pathc; i++)
        if (is_regular(g.gl_pathv[i]))
            rc = names_add(s, g.gl_pathv[i]);
    globfree(&g);
    if (rc < 0)
        return fer_fail(err, rc, "%s: %s", pattern,
                        rc == -E2BIG ? "more images than a source may list" : strerror(-rc));
    if (s->n == 0)
        return fer_fail(err, -ENOENT, "%s: pattern matches no file", pattern);
    return 0;
}

int fer_image_list_load(fer_image_list *list, const fer_source_spec *spec, fer_error *err)
{
    memset(list, 0, sizeof *list);
    if (spec->kind != FER_SOURCE_IMAGES)
        return fer_fail(err, -EINVAL, "%s: not a directory or pattern", spec->path);
    names s = {0};
    int rc = spec->is_dir ? list_dir(&s, spec->path, err) : list_glob(&s, spec->path, err);
    if (rc == 0 && pack(list, &s) < 0)
        rc = fer_fail(err, -ENOMEM, "%s: out of memory", spec->path);
    names_free(&s);
    return rc;
}
