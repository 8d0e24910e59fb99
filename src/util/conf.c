/*
 * conf.c — see conf.h. Values are checked for type and range here, the
 * relations between keys by each program afterwards (fer_config_validate,
 * ...). Integers are parsed as long long and compared as doubles, so an
 * out-of-range number is reported as such rather than wrapped.
 */
#include "util/conf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/log.h"
#include "util/redact.h"

/* The longest line when a table does not say. */
#define FER_CONF_LINE_MAX 4096
/* A settings file larger than this is refused (it is not one). */
#define FER_CONF_FILE_MAX (1 << 20)

void fer_conf_error(char *errs, size_t n, const char *fmt, ...)
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

const fer_conf_key *fer_conf_find(const fer_conf_table *t, const char *name)
{
    for (size_t i = 0; i < t->nkeys; i++)
        if (strcmp(t->keys[i].name, name) == 0)
            return &t->keys[i];
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

/* "none, flip or crops" for an enum's names, into buf. */
static void enum_choices(const char *const *names, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && used + 1 < n; i++) {
        const char *sep = i == 0 ? "" : names[i + 1] ? ", " : " or ";
        int w = snprintf(buf + used, n - used, "%s%s", sep, names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* Sets key k of cfg from value; on failure writes why (n bytes) and returns -1,
 * leaving cfg unchanged. */
static int set_value(void *cfg, const fer_conf_key *k, const char *value, char *why, size_t n)
{
    char *base = (char *)cfg + k->off;
    char *end;
    double d;
    switch (k->type) {
    case FER_CONF_STR:
        if (strlen(value) >= k->size) {
            snprintf(why, n, "value longer than %zu bytes", k->size - 1);
            return -1;
        }
        snprintf(base, k->size, "%s", value);
        return 0;
    case FER_CONF_INT:
        errno = 0;
        d = (double)strtoll(value, &end, 10);
        if (end == value || *end || errno)
            break;
        if (d < k->lo || d > k->hi)
            goto range;
        *(int *)base = (int)d;
        return 0;
    case FER_CONF_DBL:
        errno = 0;
        d = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(d))
            break;
        if (d < k->lo || d > k->hi)
            goto range;
        *(double *)base = d;
        return 0;
    case FER_CONF_BOOL:
        if (parse_bool(value, (int *)base) < 0) {
            snprintf(why, n, "expected yes or no, got \"%.64s\"", value);
            return -1;
        }
        return 0;
    case FER_CONF_SIZE:
        if (parse_size(value, &d) < 0) {
            snprintf(why, n, "expected a size such as 65536, 64kb or 1mb, got \"%.64s\"", value);
            return -1;
        }
        if (d < k->lo || d > k->hi)
            goto range;
        *(long long *)base = (long long)d;
        return 0;
    case FER_CONF_MODE:
        errno = 0;
        d = (double)strtol(value, &end, 8);
        if (end == value || *end || errno || d < 0 || d > 0777) {
            snprintf(why, n, "expected an octal mode such as 0660, got \"%.64s\"", value);
            return -1;
        }
        *(int *)base = (int)d;
        return 0;
    case FER_CONF_LEVEL:
        if ((d = fer_log_level_parse(value)) >= 0) {
            *(int *)base = (int)d;
            return 0;
        }
        snprintf(why, n, "expected debug, info, notice, warning or err, got \"%.64s\"", value);
        return -1;
    case FER_CONF_ENUM:
        for (int i = 0; k->names && k->names[i]; i++)
            if (strcasecmp(value, k->names[i]) == 0) {
                *(int *)base = i;
                return 0;
            }
        char choices[128];
        enum_choices(k->names, choices, sizeof choices);
        snprintf(why, n, "expected %s, got \"%.64s\"", choices, value);
        return -1;
    }
    snprintf(why, n, "expected a number, got \"%.64s\"", value);
    return -1;
range:
    snprintf(why, n, "%.64s is outside %g..%g", value, k->lo, k->hi);
    return -1;
}

int fer_conf_set(const fer_conf_table *t, void *cfg, const char *key, const char *value,
                 char *errs, size_t n)
{
    const char *refusal = t->refused ? t->refused(key) : NULL;
    if (refusal) {
        fer_conf_error(errs, n, "%s: %s", key, refusal);
        return -EINVAL;
    }
    const fer_conf_key *k = fer_conf_find(t, key);
    if (!k) {
        fer_conf_error(errs, n, "unknown key \"%.64s\"", key);
        return -EINVAL;
    }
    char why[256];
    if (set_value(cfg, k, value, why, sizeof why) < 0) {
        fer_conf_error(errs, n, "%s: %s", key, why);
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
int fer_conf_parse(const fer_conf_table *t, void *cfg, const char *text, size_t len,
                   const char *origin, char *errs, size_t n)
{
    int bad = 0, lineno = 0;
    size_t pos = 0;
    size_t max = t->line_max ? t->line_max : FER_CONF_LINE_MAX;
    char *line = malloc(max + 1);
    if (errs && n)
        errs[0] = '\0';
    if (!line)
        return -ENOMEM;
    while (pos < len) {
        size_t start = pos;
        while (pos < len && text[pos] != '\n')
            pos++;
        size_t l = pos - start;
        pos++; /* past the newline */
        lineno++;
        if (l > max) {
            fer_conf_error(errs, n, "%s:%d: line longer than %zu bytes", origin, lineno, max);
            bad++;
            continue;
        }
        memcpy(line, text + start, l);
        line[l] = '\0';
        if (strlen(line) != l) {
            fer_conf_error(errs, n, "%s:%d: NUL byte in line", origin, lineno);
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
        const char *refusal = t->refused ? t->refused(key) : NULL;
        if (refusal) {
            /* The value is not echoed: it may be the very secret. */
            fer_conf_error(errs, n, "%s:%d: %s: %s", origin, lineno, key, refusal);
            bad++;
            continue;
        }
        int quoted = *value == '"';
        if (quoted) {
            if (e - value < 2 || e[-1] != '"') {
                fer_conf_error(errs, n, "%s:%d: %s: unterminated quoted value", origin, lineno,
                               key);
                bad++;
                continue;
            }
            e[-1] = '\0';
            value++;
        }
        const fer_conf_key *k = fer_conf_find(t, key);
        if (!k) {
            fer_conf_error(errs, n, "%s:%d: unknown key \"%.64s\"", origin, lineno, key);
            bad++;
            continue;
        }
        if (!*value && k->type != FER_CONF_STR) {
            fer_conf_error(errs, n, "%s:%d: %s: missing value", origin, lineno, key);
            bad++;
            continue;
        }
        if (!*value && !quoted && t->empty_needs_quotes) {
            fer_conf_error(errs, n, "%s:%d: %s: no value (write \"\" for an empty one)", origin,
                           lineno, key);
            bad++;
            continue;
        }
        char why[256];
        if (set_value(cfg, k, value, why, sizeof why) < 0) {
            fer_conf_error(errs, n, "%s:%d: %s: %s", origin, lineno, key, why);
            bad++;
        }
    }
    free(line);
    return bad ? -EINVAL : 0;
}

int fer_conf_load(const fer_conf_table *t, void *cfg, const char *path, char *errs, size_t n)
{
    if (errs && n)
        errs[0] = '\0';
    /* Without blocking: a FIFO in place of the file is refused, naming what it
     * is, instead of waiting for a writer forever (fileio.h). */
    struct stat st;
    fer_error ferr = {0};
    int fd = fer_open_regular(path, &st, &ferr);
    if (fd < 0) {
        fer_conf_error(errs, n, "%s", ferr.msg);
        return fd == -EISDIR ? -EINVAL : fd;
    }
    char *buf = NULL;
    int rc = 0;
    if (st.st_size > FER_CONF_FILE_MAX) {
        fer_conf_error(errs, n, "%s: %lld bytes; a settings file may have at most 1 MiB", path,
                       (long long)st.st_size);
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
            fer_conf_error(errs, n, "%s: read failed", path);
            goto cleanup;
        }
        got += (size_t)r;
    }
    rc = fer_conf_parse(t, cfg, buf, got, path, errs, n);
cleanup:
    free(buf);
    close(fd);
    return rc;
}

/* The parser trims blanks around a value and strips exactly one outer pair of
 * double quotes, so a value that is empty or begins or ends with a blank or a
 * quote reads back as itself only when printed inside quotes. */
static int needs_quotes(const char *v)
{
    size_t n = strlen(v);
    return n == 0 || is_space(v[0]) || v[0] == '"' || is_space(v[n - 1]) || v[n - 1] == '"';
}

static void print(const fer_conf_table *t, const void *cfg, FILE *f, int mask)
{
    int masked = 0;
    for (size_t i = 0; i < t->nkeys; i++) {
        const fer_conf_key *k = &t->keys[i];
        const char *base = (const char *)cfg + k->off;
        char shown[4096];
        fprintf(f, "%s ", k->name);
        switch (k->type) {
        case FER_CONF_STR:
            if (mask && fer_redact(base, shown, sizeof shown)) {
                base = shown;
                masked = 1;
            }
            fprintf(f, needs_quotes(base) ? "\"%s\"\n" : "%s\n", base);
            break;
        case FER_CONF_INT:
            fprintf(f, "%d\n", *(const int *)base);
            break;
        case FER_CONF_DBL:
            fprintf(f, "%g\n", *(const double *)base);
            break;
        case FER_CONF_BOOL:
            fprintf(f, "%s\n", *(const int *)base ? "yes" : "no");
            break;
        case FER_CONF_SIZE:
            fprintf(f, "%lld\n", *(const long long *)base);
            break;
        case FER_CONF_MODE:
            fprintf(f, "%04o\n", (unsigned)*(const int *)base);
            break;
        case FER_CONF_LEVEL:
            fprintf(f, "%s\n", fer_log_level_name(*(const int *)base));
            break;
        case FER_CONF_ENUM: {
            int v = *(const int *)base, count = 0;
            while (k->names && k->names[count])
                count++;
            fprintf(f, "%s\n", v >= 0 && v < count ? k->names[v] : "?");
            break;
        }
        }
    }
    if (masked)
        fprintf(f, "# credentials in URLs are shown as ***\n");
}

void fer_conf_print(const fer_conf_table *t, const void *cfg, FILE *f)
{
    print(t, cfg, f, 0);
}

void fer_conf_print_masked(const fer_conf_table *t, const void *cfg, FILE *f)
{
    print(t, cfg, f, 1);
}

static size_t value_size(const fer_conf_key *k)
{
    switch (k->type) {
    case FER_CONF_STR:
        return k->size;
    case FER_CONF_DBL:
        return sizeof(double);
    case FER_CONF_SIZE:
        return sizeof(long long);
    default:
        return sizeof(int);
    }
}

int fer_conf_restart_keys(const fer_conf_table *t, const void *a, const void *b,
                          char (*names)[32], int max)
{
    int cnt = 0;
    for (size_t i = 0; i < t->nkeys && cnt < max; i++) {
        const fer_conf_key *k = &t->keys[i];
        if (k->live)
            continue;
        const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
        int differ = k->type == FER_CONF_STR ? strcmp(pa, pb) != 0
                                             : memcmp(pa, pb, value_size(k)) != 0;
        if (differ)
            snprintf(names[cnt++], 32, "%s", k->name);
    }
    return cnt;
}

void fer_conf_apply_live(const fer_conf_table *t, void *dst, const void *src)
{
    for (size_t i = 0; i < t->nkeys; i++) {
        const fer_conf_key *k = &t->keys[i];
        if (k->live)
            memcpy((char *)dst + k->off, (const char *)src + k->off, value_size(k));
    }
}
