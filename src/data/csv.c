/*
 * csv.c — the FER2013 CSV reader (`emotion,pixels,Usage`), plain or gzip'd.
 *
 * The real file is ~300 MB of text (96 MB gzip'd) holding 35,887 rows of 2304
 * decimal pixels each, so speed decides the design:
 *  - zlib's gzopen/gzread read .csv.gz and plain .csv alike (gzread passes
 *    non-gzip data through), in 1 MiB chunks that zlib inflates straight into
 *    our buffer, never unpacking anything to disk;
 *  - lines are cut with memchr in that buffer, and only the unfinished tail of
 *    a chunk is moved before the next read;
 *  - pixels are parsed by one hand-written loop (no strtok, sscanf or strtol
 *    per value) directly into the dataset's pixel array.
 *
 * Validation is strict because a silently mis-parsed row poisons training:
 * every row must have a label 0..6, exactly size*size integers 0..255 and a
 * known Usage. The first bad row fails the load with "path:line: problem"
 * (FER_E_INVAL); with skip_bad the row is dropped and counted instead. Rows are
 * fully validated even when their split is not kept, so the outcome of a load
 * does not depend on which splits were asked for. Blank lines, CRLF line ends,
 * a UTF-8 byte-order mark and a missing final newline are tolerated; fields may
 * be wrapped in double quotes, as some spreadsheet exports do.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "data/dataset.h"
#include "data/loaders.h"

#define CHUNK (1u << 20)     /* bytes asked of gzread at a time */
#define MAX_LINE (1u << 24)  /* longest line accepted: 16 MiB, ~700x a real row */
#define HEADER "emotion,pixels,Usage"

/* A line reader over a gzFile. The unconsumed bytes are buf[start, end). */
typedef struct reader {
    gzFile gz;
    const char *path;
    char *buf;
    size_t cap, start, end;
    int eof;
    long line; /* number of the line last returned, 1-based */
} reader;

/* Turns zlib's error state after a read into a code and message; 0 if none. */
static int gz_check(reader *r, fer_error *err)
{
    int zerr = Z_OK;
    const char *msg = gzerror(r->gz, &zerr);
    switch (zerr) {
    case Z_OK:
    case Z_STREAM_END:
        return 0;
    case Z_ERRNO: {
        int e = errno ? errno : EIO;
        return fer_fail(err, -e, "%s: %s", r->path, strerror(e));
    }
    case Z_MEM_ERROR:
        return fer_fail(err, -ENOMEM, "%s: out of memory in zlib", r->path);
    case Z_BUF_ERROR: /* zlib's word for a gzip stream that stops mid-way */
        return fer_fail(err, FER_E_TRUNCATED, "%s: gzip data is truncated (%s)", r->path, msg);
    default:
        return fer_fail(err, FER_E_INVAL, "%s: corrupt gzip data (%s)", r->path, msg);
    }
}

/*
 * Returns 1 and the next line in (*s, *len) without its "\n" or "\r\n", 0 at
 * the end of the file, or a negative code. The line stays valid until the next
 * call. A last line without a newline is returned like any other.
 */
static int next_line(reader *r, char **s, size_t *len, fer_error *err)
{
    for (;;) {
        char *p = r->buf + r->start;
        size_t avail = r->end - r->start;
        char *nl = memchr(p, '\n', avail);
        if (nl || (r->eof && avail > 0)) {
            size_t n = nl ? (size_t)(nl - p) : avail;
            r->start += nl ? n + 1 : n;
            r->line++;
            if (n > 0 && p[n - 1] == '\r')
                n--;
            *s = p;
            *len = n;
            return 1;
        }
        if (r->eof)
            return 0;
        if (avail > MAX_LINE)
            return fer_fail(err, FER_E_INVAL, "%s:%ld: malformed row: line longer than %u bytes",
                            r->path, r->line + 1, MAX_LINE);

        /* Keep the unfinished line, then make room for a whole chunk after it. */
        if (r->start > 0) {
            memmove(r->buf, p, avail);
            r->start = 0;
            r->end = avail;
        }
        if (r->cap - r->end < CHUNK) {
            size_t ncap = r->cap * 2;
            char *nb = realloc(r->buf, ncap);
            if (!nb)
                return fer_fail(err, -ENOMEM, "%s: out of memory", r->path);
            r->buf = nb;
            r->cap = ncap;
        }
        int got = gzread(r->gz, r->buf + r->end, CHUNK);
        int rc = gz_check(r, err);
        if (rc < 0)
            return rc;
        if (got < 0)
            return fer_fail(err, -EIO, "%s: read error", r->path);
        if (got == 0)
            r->eof = 1;
        r->end += (size_t)got;
    }
}

/* Records "path:line: problem" in err (which may be NULL) and returns FER_E_INVAL. */
static int row_fail(fer_error *err, const char *path, long line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int row_fail(fer_error *err, const char *path, long line, const char *fmt, ...)
{
    if (!err)
        return FER_E_INVAL;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fer_fail(err, FER_E_INVAL, "%s:%ld: %s", path, line, what);
}

/* Copies at most 40 bytes of s into out as printable text, for quoting in messages. */
static const char *quote(char out[48], const char *s, size_t len)
{
    size_t n = len > 40 ? 40 : len, i;
    for (i = 0; i < n; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (len > n)
        out[i++] = '.', out[i++] = '.', out[i++] = '.';
    out[i] = '\0';
    return out;
}

/* Narrows [*s, *e) by surrounding blanks and then one pair of double quotes. */
static void trim_field(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
    if (*e - *s >= 2 && **s == '"' && (*e)[-1] == '"')
        (*s)++, (*e)--;
}

/*
 * Parses the data row s[0, len) at line `line`: label into *label, split into
 * *split, npix pixels into pix (which must have room for npix; it may be
 * partially written on failure). 0 or FER_E_INVAL with the reason in err.
 * Problems are reported left to right, so the first one in the row wins.
 */
static int parse_row(const char *s, size_t len, int npix, uint8_t *pix, int *label, int *split,
                     const char *path, long line, fer_error *err)
{
    char q[48];
    const char *end = s + len;
    const char *c1 = memchr(s, ',', len);
    const char *c2 = c1 ? memchr(c1 + 1, ',', (size_t)(end - c1 - 1)) : NULL;
    if (!c2 || memchr(c2 + 1, ',', (size_t)(end - c2 - 1))) {
        int fields = 1;
        for (const char *p = s; p < end; p++)
            fields += *p == ',';
        return row_fail(err, path, line,
                        "malformed row: %d field%s, expected 3 (emotion,pixels,Usage)", fields,
                        fields == 1 ? "" : "s");
    }

    /* emotion: a decimal number, reported as out of range if it is one but not 0..6. */
    const char *fs = s, *fe = c1;
    trim_field(&fs, &fe);
    const char *d = fs + (fs < fe && *fs == '-');
    long v = (d == fe || fe - d > 9) ? -1 : 0; /* 9 digits cannot overflow */
    for (const char *t = d; t < fe && v >= 0; t++)
        v = (*t >= '0' && *t <= '9') ? v * 10 + (*t - '0') : -1;
    if (v < 0)
        return row_fail(err, path, line, "malformed row: emotion '%s' is not a number",
                        quote(q, fs, (size_t)(fe - fs)));
    if (d != fs)
        v = -v;
    if (v < 0 || v >= FER_NUM_CLASSES)
        return row_fail(err, path, line, "label %ld out of range 0..%d", v, FER_NUM_CLASSES - 1);
    *label = (int)v;

    /* pixels: the hot loop. Values are kept while they fit, counted always, so a
     * wrong count reports the real number found. */
    fs = c1 + 1;
    fe = c2;
    trim_field(&fs, &fe);
    const unsigned char *p = (const unsigned char *)fs, *pe = (const unsigned char *)fe;
    int count = 0;
    while (p < pe) {
        unsigned c = *p;
        if (c == ' ' || c == '\t') {
            p++;
            continue;
        }
        if (c - '0' > 9u)
            return row_fail(err, path, line,
                            "malformed row: unexpected character '%s' in pixels (after %d values)",
                            quote(q, (const char *)p, 1), count);
        const unsigned char *tok = p;
        unsigned val = 0;
        do {
            val = val * 10 + (c - '0');
            if (val > 999)
                val = 1000; /* stays out of range without overflowing */
            p++;
        } while (p < pe && (c = *p) - '0' <= 9u);
        if (val > 255)
            return row_fail(err, path, line, "pixel value %s out of range 0..255 (pixel %d)",
                            quote(q, (const char *)tok, (size_t)(p - tok)), count + 1);
        if (count < npix)
            pix[count] = (uint8_t)val;
        count++;
    }
    if (count != npix)
        return row_fail(err, path, line, "wrong pixel count %d (expected %d)", count, npix);

    /* Usage: one of the three FER2013 names, case-insensitively. */
    fs = c2 + 1;
    fe = end;
    trim_field(&fs, &fe);
    size_t ul = (size_t)(fe - fs);
    static const char *const usages[] = {"Training", "PublicTest", "PrivateTest"};
    for (int i = 0; i < 3; i++) {
        if (strlen(usages[i]) == ul && strncasecmp(fs, usages[i], ul) == 0) {
            *split = i; /* FER_SPLIT_TRAIN, _VAL, _TEST in that order */
            return 0;
        }
    }
    return row_fail(err, path, line,
                    "unknown usage '%s' (expected Training, PublicTest or PrivateTest)",
                    quote(q, fs, ul));
}

/* Checks the first line against HEADER, after a UTF-8 byte-order mark and blanks. */
static int check_header(reader *r, fer_error *err)
{
    char *s;
    size_t len;
    int rc = next_line(r, &s, &len, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return fer_fail(err, FER_E_INVAL, "%s: empty file, expected a CSV with the header '%s'",
                        r->path, HEADER);
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3, len -= 3;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len != strlen(HEADER) || strncasecmp(s, HEADER, len) != 0) {
        char q[48];
        return fer_fail(err, FER_E_INVAL,
                        "%s:1: missing header '%s' (found '%s'); is this the FER2013 CSV?",
                        r->path, HEADER, quote(q, s, len));
    }
    return 0;
}

/*
 * Contract: see loaders.h. Appends, in file order, the valid rows whose Usage
 * is in opts->splits. Errors: -errno from opening or reading, FER_E_TRUNCATED
 * or FER_E_INVAL for broken gzip data, FER_E_INVAL for a missing header or (without
 * skip_bad) the first bad row, each message naming path and, for rows, the line.
 */
int fer_dataset_load_csv(fer_dataset *ds, int *cap, const char *path,
                         const fer_data_opts *opts, fer_error *err)
{
    reader r = {.path = path, .cap = 2 * CHUNK};
    int npix = ds->h * ds->w;
    int rc;

    errno = 0;
    r.gz = gzopen(path, "rbe");
    if (!r.gz) {
        int e = errno ? errno : ENOMEM;
        return fer_fail(err, -e, "%s: %s", path, strerror(e));
    }
    /* A larger zlib input buffer halves the read system calls; must precede the first read. */
    gzbuffer(r.gz, 1u << 18);
    r.buf = malloc(r.cap);
    if (!r.buf) {
        rc = fer_fail(err, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if ((rc = check_header(&r, err)) < 0)
        goto out;

    for (;;) {
        char *s;
        size_t len;
        rc = next_line(&r, &s, &len, err);
        if (rc <= 0)
            break;
        if (len == 0)
            continue; /* blank line, e.g. an extra newline at the end */
        if ((rc = fer_dataset_reserve(ds, cap, ds->n + 1, path, err)) < 0)
            break;
        int label = 0, split = 0;
        uint8_t *pix = ds->pixels + (size_t)ds->n * (size_t)npix;
        rc = parse_row(s, len, npix, pix, &label, &split, path, r.line,
                       opts->skip_bad ? NULL : err);
        if (rc < 0) {
            if (!opts->skip_bad)
                break;
            ds->skipped++;
            rc = 0;
            continue;
        }
        if (!(opts->splits & (1u << split)))
            continue;
        ds->labels[ds->n] = (uint8_t)label;
        ds->split[ds->n] = (uint8_t)split;
        ds->n++;
    }
out:
    free(r.buf);
    gzclose(r.gz);
    return rc < 0 ? rc : 0;
}
