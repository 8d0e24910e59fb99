/*
 * config.c — ferd's configuration file, in the style of redis.conf.
 *
 * One table lists every key: its type, where it lives in fer_config, its range,
 * and whether a reload applies it live. Parsing, printing (--check-config) and
 * the reload comparison all walk that table, so a key added to it is parsed,
 * shown and compared without further code. Values are checked for type and
 * range here; relations between keys in fer_config_validate.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cv/detect.h"
#include "util/paths.h"
#include "vision/pipeline.h"
#include "vision/preprocess.h"

typedef enum { T_STR, T_INT, T_DBL, T_BOOL, T_SIZE, T_MODE, T_LEVEL, T_TTA } key_type;

typedef struct key_def {
    const char *name;
    key_type type;
    size_t off;
    size_t size;      /* T_STR: buffer size */
    double lo, hi;    /* numeric range */
    int live;         /* 1: a reload applies it; 0: needs a restart */
} key_def;

#define F(field) offsetof(fer_config, field)
#define S(field) F(field), sizeof(((fer_config *)0)->field)

static const key_def keys[] = {
    {"source", T_STR, S(source), 0, 0, 0},
    {"loop", T_BOOL, F(loop), 0, 0, 1, 0},
    {"realtime", T_BOOL, F(realtime), 0, 0, 1, 0},
    {"capture_width", T_INT, F(capture_width), 0, 0, 16384, 0},
    {"capture_height", T_INT, F(capture_height), 0, 0, 16384, 0},
    {"capture_fps", T_DBL, F(capture_fps), 0, 0, 1000, 0},
    {"stream_timeout_ms", T_INT, F(stream_timeout_ms), 0, 100, 600000, 0},
    {"retry_initial_ms", T_INT, F(retry_initial_ms), 0, 10, 3600000, 0},
    {"retry_max_ms", T_INT, F(retry_max_ms), 0, 10, 3600000, 0},
    {"close_camera_when_idle", T_BOOL, F(close_camera_when_idle), 0, 0, 1, 1},
    {"idle_close_seconds", T_INT, F(idle_close_seconds), 0, 0, 86400, 1},
    {"model", T_STR, S(model), 0, 0, 1},
    {"cascade", T_STR, S(cascade), 0, 0, 0},
    {"detect_width", T_INT, F(detect_width), 0, 0, 16384, 0},
    {"scale_factor", T_DBL, F(scale_factor), 0, 1.01, 2.0, 0},
    {"min_neighbors", T_INT, F(min_neighbors), 0, 0, 100, 0},
    {"min_face", T_INT, F(min_face), 0, 0, 16384, 0},
    {"max_face", T_INT, F(max_face), 0, 0, 16384, 0},
    {"full_every", T_INT, F(full_every), 0, 1, 1000, 0},
    {"max_faces", T_INT, F(max_faces), 0, 1, 16, 0},
    {"still_threshold", T_DBL, F(still_threshold), 0, 0, 255, 0},
    {"smoothing", T_DBL, F(smoothing), 0, 0, 0.99, 0},
    {"track_iou", T_DBL, F(track_iou), 0, 0.01, 1, 0},
    {"track_max_misses", T_INT, F(track_max_misses), 0, 0, 1000, 0},
    {"tta", T_TTA, F(tta), 0, 0, 0, 1},
    {"socket", T_STR, S(socket_path), 0, 0, 0},
    {"socket_mode", T_MODE, F(socket_mode), 0, 0, 0777, 0},
    {"socket_group", T_STR, S(socket_group), 0, 0, 0},
    {"max_clients", T_INT, F(max_clients), 0, 1, 4096, 0},
    {"max_line", T_INT, F(max_line), 0, 256, 4096, 1},
    {"requests_per_second", T_DBL, F(requests_per_second), 0, 0.1, 100000, 1},
    {"request_burst", T_INT, F(request_burst), 0, 1, 100000, 1},
    {"watch_max_fps", T_DBL, F(watch_max_fps), 0, 0, 1000, 1},
    {"image_max_fps", T_DBL, F(image_max_fps), 0, 0.01, 1000, 1},
    {"output_soft_limit", T_SIZE, F(output_soft_limit), 0, 4096, 1073741824.0, 1},
    {"output_hard_limit", T_SIZE, F(output_hard_limit), 0, 4096, 1073741824.0, 1},
    {"output_soft_seconds", T_INT, F(output_soft_seconds), 0, 0, 3600, 1},
    {"poll_timeout_ms", T_INT, F(poll_timeout_ms), 0, 10, 600000, 1},
    {"allow_images", T_BOOL, F(allow_images), 0, 0, 1, 1},
    {"image_group", T_STR, S(image_group), 0, 0, 1},
    {"reload_group", T_STR, S(reload_group), 0, 0, 1},
    {"jpeg_quality", T_INT, F(jpeg_quality), 0, 1, 100, 1},
    {"log_level", T_LEVEL, F(log_level), 0, FER_LOG_ERR, FER_LOG_DEBUG, 1},
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* The shipped model in the data directory (util/paths.h: $FER_DATA_DIR, an
 * uninstalled build's source tree, or the installed $datadir/ferd); the path is
 * kept even when the file is missing, so the error at start names it. */
static void default_model(char *dst, size_t n)
{
    fer_data_file("models/default.fermodel", dst, n);
}

void fer_config_default(fer_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->source, sizeof c->source, "0");
    c->loop = 1;
    c->realtime = 1;
    c->stream_timeout_ms = 5000;
    c->retry_initial_ms = 500;
    c->retry_max_ms = 30000;
    c->close_camera_when_idle = 0;
    c->idle_close_seconds = 10;
    default_model(c->model, sizeof c->model);
    /* Detection and tracking default to what the pipeline itself defaults to. */
    fer_pipeline_opts po;
    fer_pipeline_opts_default(&po);
    snprintf(c->cascade, sizeof c->cascade, "%s", po.cascade ? po.cascade : FER_CASCADE_DEFAULT);
    c->detect_width = po.detect_width;
    c->scale_factor = po.scale_factor;
    c->min_neighbors = po.min_neighbors;
    c->min_face = po.min_face;
    c->max_face = po.max_face;
    c->full_every = po.full_every;
    c->max_faces = po.max_faces;
    c->still_threshold = po.still_threshold;
    c->smoothing = po.tracker.alpha;
    c->track_iou = po.tracker.iou_min;
    c->track_max_misses = po.tracker.max_misses;
    c->tta = po.tta;
    snprintf(c->socket_path, sizeof c->socket_path, "/run/ferd/ferd.sock");
    c->socket_mode = 0660;
    c->max_clients = 64;
    c->max_line = 4096;
    c->requests_per_second = 20;
    c->request_burst = 40;
    c->watch_max_fps = 0;
    c->image_max_fps = 5;
    c->output_soft_limit = 1LL << 20;
    c->output_hard_limit = 8LL << 20;
    c->output_soft_seconds = 10;
    c->poll_timeout_ms = 3000;
    c->allow_images = 0;
    c->jpeg_quality = 80;
    c->log_level = FER_LOG_INFO;
}

/* Appends one formatted line to the error buffer (silently truncating). */
__attribute__((format(printf, 3, 4)))
static void add_err(char *errs, size_t n, const char *fmt, ...)
{
    if (!errs || !n)
        return;
    size_t used = strnlen(errs, n);
    if (used + 1 >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errs + used, n - used, fmt, ap);
    va_end(ap);
    used = strnlen(errs, n);
    if (used + 1 < n) {
        errs[used] = '\n';
        errs[used + 1] = '\0';
    }
}

static const key_def *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

/* "4096", "64kb", "1mb", "2gb" (also k, m, g; case-insensitive) in bytes. */
static int parse_size(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || errno || !isfinite(d) || d < 0)
        return -1;
    double mul = 1;
    if (*end) {
        if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kb") == 0)
            mul = 1024;
        else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mb") == 0)
            mul = 1024.0 * 1024;
        else if (strcasecmp(end, "g") == 0 || strcasecmp(end, "gb") == 0)
            mul = 1024.0 * 1024 * 1024;
        else if (strcasecmp(end, "b") != 0)
            return -1;
    }
    *out = floor(d * mul);
    return 0;
}

/*
 * Sets key k of c from value, checking its type and range; on failure writes
 * why into why (n bytes) and returns -1, leaving c unchanged. Integers are
 * parsed as long long and compared in double, so an out-of-range number is
 * reported as such rather than wrapped.
 */
static int set_value(fer_config *c, const key_def *k, const char *value, char *why, size_t n)
{
    char *base = (char *)c + k->off;
    char *end;
    double d;
    switch (k->type) {
    case T_STR:
        if (strlen(value) >= k->size) {
            snprintf(why, n, "value longer than %zu bytes", k->size - 1);
            return -1;
        }
        snprintf(base, k->size, "%s", value);
        return 0;
    case T_INT:
        errno = 0;
        d = (double)strtoll(value, &end, 10);
        if (end == value || *end || errno)
            break;
        if (d < k->lo || d > k->hi)
            goto range;
        *(int *)base = (int)d;
        return 0;
    case T_DBL:
        errno = 0;
        d = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(d))
            break;
        if (d < k->lo || d > k->hi)
            goto range;
        *(double *)base = d;
        return 0;
    case T_BOOL:
        if (parse_bool(value, (int *)base) < 0) {
            snprintf(why, n, "expected yes or no, got \"%.64s\"", value);
            return -1;
        }
        return 0;
    case T_SIZE:
        if (parse_size(value, &d) < 0) {
            snprintf(why, n, "expected a size such as 65536, 64kb or 1mb, got \"%.64s\"", value);
            return -1;
        }
        if (d < k->lo || d > k->hi)
            goto range;
        *(long long *)base = (long long)d;
        return 0;
    case T_MODE:
        errno = 0;
        d = (double)strtol(value, &end, 8);
        if (end == value || *end || errno || d < 0 || d > 0777) {
            snprintf(why, n, "expected an octal mode such as 0660, got \"%.64s\"", value);
            return -1;
        }
        *(int *)base = (int)d;
        return 0;
    case T_LEVEL:
        if ((d = fer_log_level_parse(value)) >= 0) {
            *(int *)base = (int)d;
            return 0;
        }
        snprintf(why, n, "expected debug, info, notice, warning or err, got \"%.64s\"", value);
        return -1;
    case T_TTA:
        if (strcasecmp(value, "none") == 0 || strcasecmp(value, "flip") == 0) {
            *(int *)base = strcasecmp(value, "flip") == 0 ? FER_TTA_FLIP : FER_TTA_NONE;
            return 0;
        }
        snprintf(why, n, "expected none or flip, got \"%.64s\"", value);
        return -1;
    }
    snprintf(why, n, "expected a number, got \"%.64s\"", value);
    return -1;
range:
    snprintf(why, n, "%.64s is outside %g..%g", value, k->lo, k->hi);
    return -1;
}

int fer_config_set(fer_config *c, const char *key, const char *value, char *errs, size_t n)
{
    const key_def *k = find_key(key);
    if (!k) {
        add_err(errs, n, "unknown key \"%.64s\"", key);
        return -EINVAL;
    }
    char why[160];
    if (set_value(c, k, value, why, sizeof why) < 0) {
        add_err(errs, n, "%s: %s", key, why);
        return -EINVAL;
    }
    return 0;
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

/*
 * Line by line, never stopping at the first problem: an administrator fixing a
 * file wants every bad line at once. A line is copied into a bounded buffer
 * before it is cut into key and value, so no input can make it read or write
 * out of bounds (fuzz/fuzz_config.c checks this).
 */
int fer_config_parse(fer_config *c, const char *text, size_t len, const char *origin,
                     char *errs, size_t n)
{
    int bad = 0, lineno = 0;
    size_t pos = 0;
    char line[FERD_PATH_MAX + 256];
    if (errs && n)
        errs[0] = '\0';
    while (pos < len) {
        size_t start = pos;
        while (pos < len && text[pos] != '\n')
            pos++;
        size_t l = pos - start;
        pos++; /* past the newline */
        lineno++;
        if (l >= sizeof line) {
            add_err(errs, n, "%s:%d: line longer than %zu bytes", origin, lineno,
                    sizeof line - 1);
            bad++;
            continue;
        }
        memcpy(line, text + start, l);
        line[l] = '\0';
        if (strlen(line) != l) {
            add_err(errs, n, "%s:%d: NUL byte in line", origin, lineno);
            bad++;
            continue;
        }
        char *p = line;
        while (is_space(*p))
            p++;
        if (!*p || *p == '#')
            continue;
        char *key = p;
        while (*p && !is_space(*p))
            p++;
        if (*p)
            *p++ = '\0';
        while (is_space(*p))
            p++;
        char *value = p;
        char *e = value + strlen(value);
        while (e > value && is_space(e[-1]))
            *--e = '\0';
        if (*value == '"') {
            if (e - value < 2 || e[-1] != '"') {
                add_err(errs, n, "%s:%d: %s: unterminated quoted value", origin, lineno, key);
                bad++;
                continue;
            }
            e[-1] = '\0';
            value++;
        }
        const key_def *k = find_key(key);
        if (!k) {
            add_err(errs, n, "%s:%d: unknown key \"%.64s\"", origin, lineno, key);
            bad++;
            continue;
        }
        if (!*value && k->type != T_STR) {
            add_err(errs, n, "%s:%d: %s: missing value", origin, lineno, key);
            bad++;
            continue;
        }
        char why[160];
        if (set_value(c, k, value, why, sizeof why) < 0) {
            add_err(errs, n, "%s:%d: %s: %s", origin, lineno, key, why);
            bad++;
        }
    }
    return bad ? -EINVAL : 0;
}

int fer_config_load(fer_config *c, const char *path, char *errs, size_t n)
{
    if (errs && n)
        errs[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        add_err(errs, n, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    char *buf = NULL;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
        add_err(errs, n, "%s: not a regular file of at most 1 MiB", path);
        rc = -EINVAL;
        goto cleanup;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = -ENOMEM;
        goto cleanup;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -errno : -EIO;
            add_err(errs, n, "%s: read failed", path);
            goto cleanup;
        }
        got += (size_t)r;
    }
    rc = fer_config_parse(c, buf, got, path, errs, n);
cleanup:
    free(buf);
    close(fd);
    return rc;
}

int fer_config_validate(const fer_config *c, char *errs, size_t n)
{
    int bad = 0;
    if (errs && n)
        errs[0] = '\0';
    if (!c->source[0])
        add_err(errs, n, "source: empty"), bad++;
    if (!c->model[0])
        add_err(errs, n, "model: empty"), bad++;
    if (!c->socket_path[0])
        add_err(errs, n, "socket: empty"), bad++;
    if (c->output_soft_limit > c->output_hard_limit)
        add_err(errs, n, "output_soft_limit (%lld) is above output_hard_limit (%lld)",
                c->output_soft_limit, c->output_hard_limit), bad++;
    if (c->retry_initial_ms > c->retry_max_ms)
        add_err(errs, n, "retry_initial_ms is above retry_max_ms"), bad++;
    if (c->max_face && c->max_face < c->min_face)
        add_err(errs, n, "max_face is below min_face"), bad++;
    return bad ? -EINVAL : 0;
}

/* The parser trims blanks around a value and strips exactly one outer pair of
 * double quotes, so a value that is empty or begins or ends with a blank or a
 * quote reads back as itself only when printed inside quotes. */
static int needs_quotes(const char *v)
{
    size_t n = strlen(v);
    return n == 0 || is_space(v[0]) || v[0] == '"' || is_space(v[n - 1]) || v[n - 1] == '"';
}

void fer_config_print(const fer_config *c, FILE *f)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        const char *base = (const char *)c + k->off;
        fprintf(f, "%s ", k->name);
        switch (k->type) {
        case T_STR:
            fprintf(f, needs_quotes(base) ? "\"%s\"\n" : "%s\n", base);
            break;
        case T_INT:
            fprintf(f, "%d\n", *(const int *)base);
            break;
        case T_DBL:
            fprintf(f, "%g\n", *(const double *)base);
            break;
        case T_BOOL:
            fprintf(f, "%s\n", *(const int *)base ? "yes" : "no");
            break;
        case T_SIZE:
            fprintf(f, "%lld\n", *(const long long *)base);
            break;
        case T_MODE:
            fprintf(f, "%04o\n", (unsigned)*(const int *)base);
            break;
        case T_LEVEL:
            fprintf(f, "%s\n", fer_log_level_name(*(const int *)base));
            break;
        case T_TTA:
            fprintf(f, "%s\n", *(const int *)base == FER_TTA_FLIP ? "flip" : "none");
            break;
        }
    }
}

static size_t value_size(const key_def *k)
{
    switch (k->type) {
    case T_STR:
        return k->size;
    case T_DBL:
        return sizeof(double);
    case T_SIZE:
        return sizeof(long long);
    default:
        return sizeof(int);
    }
}

int fer_config_restart_keys(const fer_config *a, const fer_config *b, char (*names)[32], int max)
{
    int cnt = 0;
    for (size_t i = 0; i < NKEYS && cnt < max; i++) {
        const key_def *k = &keys[i];
        if (k->live)
            continue;
        const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
        int differ = k->type == T_STR ? strcmp(pa, pb) != 0
                                      : memcmp(pa, pb, value_size(k)) != 0;
        if (differ)
            snprintf(names[cnt++], 32, "%s", k->name);
    }
    return cnt;
}

void fer_config_apply_live(fer_config *dst, const fer_config *src)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const key_def *k = &keys[i];
        if (k->live)
            memcpy((char *)dst + k->off, (const char *)src + k->off, value_size(k));
    }
}
