/*
 * ferplus.c — reading fer2013new.csv and applying it to a FER2013 dataset.
 *
 * The whole file is read and checked before the dataset is touched (35,887 rows
 * of ten small numbers: 360 KB), so a bad file leaves the dataset as it was.
 * Rows are checked against the data's own Usage column as they are read, which
 * catches a file from another FER2013 copy, a shuffled or truncated one, at its
 * first wrong line. The FER+ columns come in their own order (neutral first);
 * votes are stored in the canonical label order of dataset.h.
 */
#include "data/ferplus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/lines.h"

#define FIELDS 12
#define VOTE_COLUMNS 10
#define COL_UNKNOWN 8
#define COL_NF 9

/* The canonical label of each FER+ emotion column, in file order. */
static const int column_label[8] = {
    6, /* neutral */
    3, /* happiness */
    5, /* surprise */
    4, /* sadness */
    0, /* anger */
    1, /* disgust */
    2, /* fear */
    FER_LABEL_CONTEMPT,
};

unsigned fer_votes_top(const uint8_t *votes)
{
    int best = 0;
    for (int l = 0; l < FER_NUM_LABELS; l++)
        best = votes[l] > best ? votes[l] : best;
    unsigned mask = 0;
    for (int l = 0; best > 0 && l < FER_NUM_LABELS; l++)
        if (votes[l] == best)
            mask |= 1u << l;
    return mask;
}

/* Parses a vote count field: a decimal integer 0..255. -1 if it is not one. */
static int parse_vote(const char *s, const char *e)
{
    fer_trim_field(&s, &e);
    if (s == e || e - s > 3)
        return -1;
    int v = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v <= 255 ? v : -1;
}

/*
 * Parses the row s[0, len) at `line` into *split and votes[VOTE_COLUMNS] (file
 * order). 0 or FER_E_INVAL with "path:line: problem" in err.
 */
static int parse_row(const char *s, size_t len, int *split, uint8_t *votes, const char *path,
                     long line, fer_error *err)
{
    static const char *const names[VOTE_COLUMNS] = {
        "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
        "unknown", "NF"};
    const char *f[FIELDS + 1];
    const char *end = s + len;
    int nf = 0;
    f[nf++] = s;
    for (const char *p = s; p < end; p++) {
        if (*p != ',')
            continue;
        if (nf == FIELDS) {
            nf++;
            break;
        }
        f[nf++] = p + 1;
    }
    if (nf != FIELDS) {
        int fields = 1;
        for (const char *p = s; p < end; p++)
            fields += *p == ',';
        return fer_row_fail(err, path, line, "malformed row: %d field%s, expected %d (%s)",
                            fields, fields == 1 ? "" : "s", FIELDS, FER_FERPLUS_HEADER);
    }
    char q[48];
    const char *us = f[0], *ue = f[1] - 1;
    fer_trim_field(&us, &ue);
    int sp = fer_usage_parse(us, (size_t)(ue - us));
    if (sp < 0)
        return fer_row_fail(err, path, line,
                            "unknown usage '%s' (expected Training, PublicTest or PrivateTest)",
                            fer_quote(q, us, (size_t)(ue - us)));
    int total = 0;
    for (int k = 0; k < VOTE_COLUMNS; k++) {
        const char *vs = f[2 + k], *ve = k + 3 < FIELDS ? f[3 + k] - 1 : end;
        int v = parse_vote(vs, ve);
        if (v < 0)
            return fer_row_fail(err, path, line, "%s votes '%s' are not a count 0..255",
                                names[k], fer_quote(q, vs, (size_t)(ve - vs)));
        votes[k] = (uint8_t)v;
        total += v;
    }
    if (total == 0)
        return fer_row_fail(err, path, line, "no votes at all");
    *split = sp;
    return 0;
}

static const char *split_name(int s)
{
    return s == FER_SPLIT_TRAIN ? "Training" : s == FER_SPLIT_VAL ? "PublicTest" : "PrivateTest";
}

/* Reads every row of path into *out (rows x VOTE_COLUMNS), checking each against ds. */
static int read_labels(const fer_dataset *ds, const char *path, uint8_t **out, uint32_t *crc,
                       fer_error *err)
{
    fer_lines r;
    uint8_t *votes = malloc((size_t)ds->rows * VOTE_COLUMNS + 1);
    if (!votes)
        return fer_fail(err, -ENOMEM, "%s: out of memory", path);
    int rc = fer_lines_open(&r, path, err);
    if (rc < 0) {
        free(votes);
        return rc;
    }
    r.want_crc = 1;
    int row = 0;
    if ((rc = fer_lines_header(&r, FER_FERPLUS_HEADER, "the FER+ label file (fer2013new.csv)",
                               err)) < 0)
        goto out;
    for (;;) {
        char *s;
        size_t len;
        if ((rc = fer_lines_next(&r, &s, &len, err)) <= 0)
            break;
        if (len == 0)
            continue;
        if (row == ds->rows) {
            rc = fer_fail(err, FER_E_INVAL, "%s:%ld: more label rows than the data's %d rows "
                          "(the labels must be row-aligned with the FER2013 CSV)", path, r.line,
                          ds->rows);
            break;
        }
        int split = 0;
        uint8_t v[VOTE_COLUMNS];
        if ((rc = parse_row(s, len, &split, v, path, r.line, err)) < 0)
            break;
        int data_split = ds->row_split[row];
        if (data_split != FER_SPLIT_NONE && data_split != split) {
            rc = fer_fail(err, FER_E_INVAL, "%s:%ld: usage %s, but the data's row %d is %s "
                          "(the labels must be row-aligned with the FER2013 CSV)", path, r.line,
                          split_name(split), row + 1, split_name(data_split));
            break;
        }
        memcpy(votes + (size_t)row * VOTE_COLUMNS, v, VOTE_COLUMNS);
        row++;
    }
    if (rc == 0 && row < ds->rows)
        rc = fer_fail(err, FER_E_INVAL, "%s: %d label rows, but the data has %d rows (the labels "
                      "must be row-aligned with the FER2013 CSV)", path, row, ds->rows);
out:
    *crc = r.crc;
    fer_lines_close(&r);
    if (rc < 0) {
        free(votes);
        return rc;
    }
    *out = votes;
    return 0;
}

int fer_ferplus_apply(fer_dataset *ds, const char *path, fer_ferplus_stats *st,
                      fer_error *err)
{
    fer_ferplus_stats tmp;
    if (!st)
        st = &tmp;
    memset(st, 0, sizeof *st);
    if (!ds || !path)
        return fer_fail(err, -EINVAL, "fer_ferplus_apply: NULL argument");
    if (ds->votes)
        return fer_fail(err, -EINVAL, "%s: the dataset has crowd labels already", path);
    if (ds->n > 0 && (!ds->row || ds->row[0] < 0))
        return fer_fail(err, FER_E_INVAL, "%s: FER+ labels apply to the FER2013 CSV "
                        "(fer2013.csv[.gz], row by row), not to an image folder", path);
    uint8_t *file = NULL;
    int rc = read_labels(ds, path, &file, &st->crc, err);
    if (rc < 0)
        return rc;
    uint8_t *votes = malloc((size_t)(ds->n ? ds->n : 1) * FER_NUM_LABELS);
    if (!votes) {
        free(file);
        return fer_fail(err, -ENOMEM, "%s: out of memory", path);
    }

    /* Keep or drop each image, compacting the arrays in place (kept <= i). */
    const size_t per = (size_t)ds->h * (size_t)ds->w;
    int kept = 0;
    for (int i = 0; i < ds->n; i++) {
        const uint8_t *v = file + (size_t)ds->row[i] * VOTE_COLUMNS;
        const int sp = ds->split[i];
        int best = 0;
        for (int k = 0; k < VOTE_COLUMNS; k++)
            best = v[k] > best ? v[k] : best;
        if (v[COL_NF] == best) {
            st->nf[sp]++;
            continue;
        }
        if (v[COL_UNKNOWN] == best) {
            st->unknown[sp]++;
            continue;
        }
        uint8_t *dst = votes + (size_t)kept * FER_NUM_LABELS;
        for (int k = 0; k < 8; k++)
            dst[column_label[k]] = v[k];
        unsigned top = fer_votes_top(dst);
        st->kept[sp]++;
        st->ties[sp] += (top & (top - 1)) != 0;
        if (kept != i) {
            memcpy(ds->pixels + (size_t)kept * per, ds->pixels + (size_t)i * per, per);
            ds->split[kept] = ds->split[i];
            ds->row[kept] = ds->row[i];
        }
        ds->labels[kept] = (uint8_t)__builtin_ctz(top);
        kept++;
    }
    free(file);
    ds->n = kept;
    ds->votes = votes;
    return 0;
}
