/*
 * csv.c — the FER2013 CSV reader (`emotion,pixels,Usage`), plain or gzip'd.
 *
 * The real file is ~300 MB of text (96 MB gzip'd) holding 35,887 rows of 2304
 * decimal pixels each, so speed decides the design: lines come from the chunked
 * zlib reader of lines.c, and pixels are parsed by one hand-written loop (no
 * strtok, sscanf or strtol per value) directly into the dataset's pixel array.
 *
 * Validation is strict because a silently mis-parsed row poisons training:
 * every row must have a label 0..6, exactly size*size integers 0..255 and a
 * known Usage. The first bad row fails the load with "path:line: problem"
 * (FER_E_INVAL); with skip_bad the row is dropped and counted instead. Rows are
 * fully validated even when their split is not kept, so the outcome of a load
 * does not depend on which splits were asked for. Blank lines, CRLF line ends,
 * a UTF-8 byte-order mark and a missing final newline are tolerated; fields may
 * be wrapped in double quotes, as some spreadsheet exports do.
 *
 * Every data row (blank lines are not rows) is numbered from 0 in file order and
 * its Usage recorded in ds->row_split, kept splits or not, bad rows as
 * FER_SPLIT_NONE: the FER+ labels (ferplus.c) are row-aligned with this file and
 * are checked against it row by row.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/dataset.h"
#include "data/lines.h"
#include "data/loaders.h"

#define HEADER "emotion,pixels,Usage"

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
        return fer_row_fail(err, path, line,
                        "malformed row: %d field%s, expected 3 (emotion,pixels,Usage)", fields,
                        fields == 1 ? "" : "s");
    }

    /* emotion: a decimal number, reported as out of range if it is one but not 0..6. */
    const char *fs = s, *fe = c1;
    fer_trim_field(&fs, &fe);
    const char *d = fs + (fs < fe && *fs == '-');
    long v = (d == fe || fe - d > 9) ? -1 : 0; /* 9 digits cannot overflow */
    for (const char *t = d; t < fe && v >= 0; t++)
        v = (*t >= '0' && *t <= '9') ? v * 10 + (*t - '0') : -1;
    if (v < 0)
        return fer_row_fail(err, path, line, "malformed row: emotion '%s' is not a number",
                        fer_quote(q, fs, (size_t)(fe - fs)));
    if (d != fs)
        v = -v;
    if (v < 0 || v >= FER_NUM_CLASSES)
        return fer_row_fail(err, path, line, "label %ld out of range 0..%d", v, FER_NUM_CLASSES - 1);
    *label = (int)v;

    /* pixels: the hot loop. Values are kept while they fit, counted always, so a
     * wrong count reports the real number found. */
    fs = c1 + 1;
    fe = c2;
    fer_trim_field(&fs, &fe);
    const unsigned char *p = (const unsigned char *)fs, *pe = (const unsigned char *)fe;
    int count = 0;
    while (p < pe) {
        unsigned c = *p;
        if (c == ' ' || c == '\t') {
            p++;
            continue;
        }
        if (c - '0' > 9u)
            return fer_row_fail(err, path, line,
                            "malformed row: unexpected character '%s' in pixels (after %d values)",
                            fer_quote(q, (const char *)p, 1), count);
        const unsigned char *tok = p;
        unsigned val = 0;
        do {
            val = val * 10 + (c - '0');
            if (val > 999)
                val = 1000; /* stays out of range without overflowing */
            p++;
        } while (p < pe && (c = *p) - '0' <= 9u);
        if (val > 255)
            return fer_row_fail(err, path, line, "pixel value %s out of range 0..255 (pixel %d)",
                            fer_quote(q, (const char *)tok, (size_t)(p - tok)), count + 1);
        if (count < npix)
            pix[count] = (uint8_t)val;
        count++;
    }
    if (count != npix)
        return fer_row_fail(err, path, line, "wrong pixel count %d (expected %d)", count, npix);

    /* Usage: one of the three FER2013 names, case-insensitively. */
    fs = c2 + 1;
    fe = end;
    fer_trim_field(&fs, &fe);
    size_t ul = (size_t)(fe - fs);
    if ((*split = fer_usage_parse(fs, ul)) >= 0)
        return 0;
    return fer_row_fail(err, path, line,
                    "unknown usage '%s' (expected Training, PublicTest or PrivateTest)",
                    fer_quote(q, fs, ul));
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
    fer_lines r;
    int npix = ds->h * ds->w, row_cap = 0;
    int rc = fer_lines_open(&r, path, err);
    if (rc < 0)
        return rc;
    if ((rc = fer_lines_header(&r, HEADER, "the FER2013 CSV", err)) < 0)
        goto out;

    for (;;) {
        char *s;
        size_t len;
        rc = fer_lines_next(&r, &s, &len, err);
        if (rc <= 0)
            break;
        if (len == 0)
            continue; /* blank line, e.g. an extra newline at the end */
        if ((rc = fer_dataset_reserve(ds, cap, ds->n + 1, path, err)) < 0)
            break;
        if (ds->rows == row_cap) {
            if (ds->rows == INT32_MAX) {
                rc = fer_fail(err, -ENOMEM, "%s: too many rows", path);
                break;
            }
            int ncap = row_cap < 4096 ? 4096 : row_cap > INT32_MAX / 2 ? INT32_MAX : row_cap * 2;
            uint8_t *p = realloc(ds->row_split, (size_t)ncap);
            if (!p) {
                rc = fer_fail(err, -ENOMEM, "%s: out of memory", path);
                break;
            }
            ds->row_split = p;
            row_cap = ncap;
        }
        int label = 0, split = 0, row = ds->rows++;
        uint8_t *pix = ds->pixels + (size_t)ds->n * (size_t)npix;
        rc = parse_row(s, len, npix, pix, &label, &split, path, r.line,
                       opts->skip_bad ? NULL : err);
        if (rc < 0) {
            ds->row_split[row] = FER_SPLIT_NONE;
            if (!opts->skip_bad)
                break;
            ds->skipped++;
            rc = 0;
            continue;
        }
        ds->row_split[row] = (uint8_t)split;
        if (!(opts->splits & (1u << split)))
            continue;
        ds->labels[ds->n] = (uint8_t)label;
        ds->split[ds->n] = (uint8_t)split;
        ds->row[ds->n] = row;
        ds->n++;
    }
out:
    fer_lines_close(&r);
    return rc < 0 ? rc : 0;
}
