/*
 * test_ferplus.c — the FER+ labels (src/data/ferplus.c) and the training and
 * scoring targets built from them (src/train/targets.c).
 *
 * Every file is made here, in a mkdtemp directory: a small FER2013 CSV of 4x4
 * images whose first pixel is the row number (so a test can tell which rows
 * survived and that their pixels moved with them), and a FER+ file whose votes
 * are chosen row by row to hit each rule: a clear majority, a tie, `unknown`
 * and `NF` on top, `unknown` tied with an emotion, a nine-vote row.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/dataset.h"
#include "data/ferplus.h"
#include "train/targets.h"
#include "scratch.h"

#define SIDE 4
#define NPIX (SIDE * SIDE)

static char tmp[256];

static void setup(void)
{
    scratch_make(tmp, sizeof tmp, "ferplus");
}

static void teardown(void)
{
    scratch_remove(tmp);
}

/* tmp/name (scratch.h: valid for the paths of one statement). */
static const char *at(const char *name)
{
    return scratch_path(tmp, name);
}

static const char *const usages[3] = {"Training", "PublicTest", "PrivateTest"};

/*
 * The rows of the fixture. Votes in the FER+ file's column order:
 * neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF.
 */
typedef struct fixture_row {
    int split;
    int votes[10];
    const char *what;
} fixture_row;

static const fixture_row rows[] = {
    {0, {0, 8, 1, 0, 0, 0, 0, 0, 1, 0}, "happy"},                  /* kept: happy */
    {0, {0, 0, 0, 0, 6, 3, 0, 0, 1, 0}, "angry"},                  /* kept: angry */
    {0, {4, 0, 0, 4, 0, 0, 0, 0, 2, 0}, "tie neutral/sad"},        /* kept, tie */
    {0, {0, 0, 0, 0, 0, 0, 0, 0, 2, 8}, "not a face"},             /* dropped NF */
    {0, {3, 0, 0, 0, 0, 0, 0, 0, 7, 0}, "unknown"},                /* dropped unknown */
    {1, {0, 0, 0, 0, 0, 0, 0, 6, 4, 0}, "contempt"},               /* kept: contempt */
    {1, {4, 0, 0, 0, 0, 0, 0, 0, 4, 2}, "unknown tied"},           /* dropped unknown */
    {1, {0, 0, 5, 0, 0, 0, 4, 0, 0, 0}, "surprise, 9 votes"},      /* kept */
    {2, {0, 0, 0, 0, 0, 0, 5, 0, 0, 5}, "NF tied with fear"},      /* dropped NF */
    {2, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, "ten-way tie"},            /* dropped NF (top) */
    {2, {0, 0, 0, 2, 0, 4, 0, 4, 0, 0}, "tie disgust/contempt"},   /* kept, tie */
    {2, {10, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "neutral"},               /* kept */
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

/* FER2013 CSV: label 0 (the FER+ labels replace it), pixel 0 = the row number. */
static void write_data(const char *path)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "emotion,pixels,Usage\n");
    for (int i = 0; i < NROWS; i++) {
        fprintf(f, "0,%d", i);
        for (int j = 1; j < NPIX; j++)
            fprintf(f, " %d", (i * 7 + j) % 256);
        fprintf(f, ",%s\n", usages[rows[i].split]);
    }
    ck_assert_int_eq(fclose(f), 0);
}

/* The FER+ text of rows[0..n), with line k (1-based data row) replaced by bad if
 * bad_at == k. */
static char *labels_text(int n, int bad_at, const char *bad)
{
    size_t cap = 256 + (size_t)n * 128 + (bad ? strlen(bad) : 0), len = 0;
    char *t = malloc(cap);
    ck_assert_ptr_nonnull(t);
    len += (size_t)snprintf(t + len, cap - len, "%s\n", FER_FERPLUS_HEADER);
    for (int i = 0; i < n; i++) {
        if (bad_at == i + 1) {
            len += (size_t)snprintf(t + len, cap - len, "%s\n", bad);
            continue;
        }
        const fixture_row *r = &rows[i];
        len += (size_t)snprintf(t + len, cap - len, "%s,%s", usages[r->split],
                                r->votes[9] >= 5 ? "" : "fer.png");
        for (int k = 0; k < 10; k++)
            len += (size_t)snprintf(t + len, cap - len, ",%d", r->votes[k]);
        len += (size_t)snprintf(t + len, cap - len, "\n");
    }
    return t;
}

static void write_text(const char *path, const char *s, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb1");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, s, (unsigned)strlen(s)), (int)strlen(s));
        ck_assert_int_eq(gzclose(f), Z_OK);
        return;
    }
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(s, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void write_labels(const char *path, int n, int bad_at, const char *bad, int gz)
{
    char *t = labels_text(n, bad_at, bad);
    write_text(path, t, gz);
    free(t);
}

static fer_dataset *load_data(unsigned splits, int skip_bad)
{
    fer_data_opts o = {splits, skip_bad, SIDE};
    fer_dataset *ds = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_dataset_load(&ds, at("fer.csv"), &o, &err) == 0, "%s", err.msg);
    return ds;
}

/* ---- applying the labels -------------------------------------------------------- */

START_TEST(apply_keeps_drops_and_counts)
{
    write_data(at("fer.csv"));
    write_labels(at("new.csv"), NROWS, 0, NULL, 0);
    fer_dataset *ds = load_data(0, 0);
    fer_ferplus_stats st;
    fer_error err = {0};
    ck_assert_msg(fer_ferplus_apply(ds, at("new.csv"), &st, &err) == 0, "%s", err.msg);

    /* Kept rows, in order: 0 1 2 | 5 7 | 10 11. */
    static const int kept[] = {0, 1, 2, 5, 7, 10, 11};
    static const int first_label[] = {3, 0, 4, 7, 5, 1, 6};
    ck_assert_int_eq(ds->n, 7);
    ck_assert_ptr_nonnull(ds->votes);
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(ds->row[i], kept[i]);
        ck_assert_int_eq(ds->pixels[(size_t)i * NPIX], kept[i]); /* pixels moved with it */
        ck_assert_int_eq(ds->pixels[(size_t)i * NPIX + 5], (kept[i] * 7 + 5) % 256);
        ck_assert_int_eq(ds->split[i], rows[kept[i]].split);
        ck_assert_int_eq(ds->labels[i], first_label[i]);
    }
    /* Votes in label order (angry, disgust, fear, happy, sad, surprise, neutral,
     * contempt): row 1 had anger 6, disgust 3; row 7 surprise 5, fear 4. */
    static const uint8_t v1[8] = {6, 3, 0, 0, 0, 0, 0, 0}, v7[8] = {0, 0, 4, 0, 0, 5, 0, 0};
    ck_assert_mem_eq(ds->votes + 1 * 8, v1, 8);
    ck_assert_mem_eq(ds->votes + 4 * 8, v7, 8);

    ck_assert_int_eq(st.kept[0], 3);
    ck_assert_int_eq(st.kept[1], 2);
    ck_assert_int_eq(st.kept[2], 2);
    ck_assert_int_eq(st.ties[0], 1);
    ck_assert_int_eq(st.ties[1], 0);
    ck_assert_int_eq(st.ties[2], 1);
    ck_assert_int_eq(st.nf[0], 1);
    ck_assert_int_eq(st.unknown[0], 1);
    ck_assert_int_eq(st.unknown[1], 1);
    ck_assert_int_eq(st.nf[1], 0);
    ck_assert_int_eq(st.nf[2], 2);
    ck_assert_int_eq(st.unknown[2], 0);

    /* Applying twice is refused. */
    ck_assert_int_eq(fer_ferplus_apply(ds, at("new.csv"), NULL, &err), -EINVAL);
    fer_dataset_free(ds);
}
END_TEST

/* Loading one split: the other rows are still checked and still align. */
START_TEST(apply_one_split)
{
    write_data(at("fer.csv"));
    write_labels(at("new.csv.gz"), NROWS, 0, NULL, 1);
    fer_dataset *ds = load_data(1u << FER_SPLIT_TEST, 0);
    fer_ferplus_stats st;
    fer_error err = {0};
    ck_assert_msg(fer_ferplus_apply(ds, at("new.csv.gz"), &st, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ds->n, 2);
    ck_assert_int_eq(ds->row[0], 10);
    ck_assert_int_eq(ds->row[1], 11);
    ck_assert_int_eq(st.kept[0] + st.kept[1] + st.unknown[0] + st.nf[0], 0);
    ck_assert_int_eq(st.kept[2], 2);
    ck_assert_int_eq(st.nf[2], 2);
    fer_dataset_free(ds);
}
END_TEST

/* The CRC identifies the text: the same for .csv and .csv.gz, another for other votes. */
START_TEST(crc_identifies_the_labels)
{
    write_data(at("fer.csv"));
    write_labels(at("a.csv"), NROWS, 0, NULL, 0);
    write_labels(at("a.csv.gz"), NROWS, 0, NULL, 1);
    write_labels(at("b.csv"), NROWS, 2, "Training,x.png,0,0,0,0,6,3,0,0,1,0", 0);
    uint32_t crc[3];
    const char *names[3] = {"a.csv", "a.csv.gz", "b.csv"};
    for (int k = 0; k < 3; k++) {
        fer_dataset *ds = load_data(0, 0);
        fer_ferplus_stats st;
        fer_error err = {0};
        ck_assert_msg(fer_ferplus_apply(ds, at(names[k]), &st, &err) == 0, "%s", err.msg);
        crc[k] = st.crc;
        fer_dataset_free(ds);
    }
    ck_assert_uint_eq(crc[0], crc[1]);
    ck_assert_uint_ne(crc[0], crc[2]);
    ck_assert_uint_ne(crc[0], 0);
}
END_TEST

/* Each bad labels file fails with the line and the problem, and leaves ds untouched. */
static const struct {
    int n, bad_at;
    const char *bad, *expect;
} bad_files[] = {
    {NROWS, 3, "PublicTest,x.png,4,0,0,4,0,0,0,0,2,0", ":4: usage PublicTest, but the data's row 3 is Training"},
    {NROWS - 1, 0, NULL, "11 label rows, but the data has 12 rows"},
    {NROWS, 5, "Training,x.png,3,0,0,0,0,0,0,0,7", ":6: malformed row: 11 fields, expected 12"},
    {NROWS, 5, "Training,x.png,3,0,0,0,0,0,0,0,7,0,1", ":6: malformed row: 13 fields"},
    {NROWS, 2, "Training,x.png,0,0,0,0,six,3,0,0,1,0", ":3: anger votes 'six' are not a count 0..255"},
    {NROWS, 2, "Training,x.png,0,0,0,0,256,3,0,0,1,0", ":3: anger votes '256' are not a count"},
    {NROWS, 2, "Training,x.png,0,0,0,0,-1,3,0,0,1,0", ":3: anger votes '-1'"},
    {NROWS, 2, "Training,x.png,0,0,0,0,0,0,0,0,0,0", ":3: no votes at all"},
    {NROWS, 2, "Train,x.png,0,0,0,0,6,3,0,0,1,0", ":3: unknown usage 'Train'"},
};

START_TEST(bad_labels_are_refused)
{
    write_data(at("fer.csv"));
    write_labels(at("bad.csv"), bad_files[_i].n, bad_files[_i].bad_at, bad_files[_i].bad, 0);
    fer_dataset *ds = load_data(0, 0);
    fer_error err = {0};
    ck_assert_int_eq(fer_ferplus_apply(ds, at("bad.csv"), NULL, &err), FER_E_INVAL);
    ck_assert_msg(strstr(err.msg, "bad.csv") && strstr(err.msg, bad_files[_i].expect),
                  "case %d: '%s'", _i, err.msg);
    ck_assert_int_eq(ds->n, NROWS);
    ck_assert_ptr_null(ds->votes);
    ck_assert_int_eq(ds->pixels[3 * NPIX], 3);
    fer_dataset_free(ds);
}
END_TEST

START_TEST(more_rows_header_and_sources)
{
    write_data(at("fer.csv"));
    fer_error err = {0};
    /* One row too many: the error names its line. */
    char *t = labels_text(NROWS, 0, NULL);
    size_t len = strlen(t);
    t = realloc(t, len + 64);
    strcpy(t + len, "Training,x.png,0,9,0,0,0,0,0,0,1,0\n");
    write_text(at("more.csv"), t, 0);
    free(t);
    fer_dataset *ds = load_data(0, 0);
    ck_assert_int_eq(fer_ferplus_apply(ds, at("more.csv"), NULL, &err), FER_E_INVAL);
    ck_assert_msg(strstr(err.msg, "more.csv:14: more label rows than the data's 12 rows"), "%s",
                  err.msg);

    /* The FER2013 CSV given as labels: the header says what is wrong. */
    ck_assert_int_eq(fer_ferplus_apply(ds, at("fer.csv"), NULL, &err), FER_E_INVAL);
    ck_assert_msg(strstr(err.msg, "fer.csv:1: missing header 'Usage,Image name,neutral"), "%s",
                  err.msg);
    ck_assert_int_eq(fer_ferplus_apply(ds, at("none.csv"), NULL, &err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err.msg, "none.csv"));
    fer_dataset_free(ds);

    /* Labels need the CSV's rows: a dataset from an image folder has none. */
    int32_t no_row = -1;
    uint8_t px[NPIX] = {0}, label = 3, split = 0;
    fer_dataset folder = {.n = 1, .h = SIDE, .w = SIDE, .pixels = px, .labels = &label,
                          .split = &split, .row = &no_row};
    write_labels(at("new.csv"), NROWS, 0, NULL, 0);
    ck_assert_int_eq(fer_ferplus_apply(&folder, at("new.csv"), NULL, &err), FER_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "not to an image folder"));
}
END_TEST

/* A bad data row skipped with skip_bad is not compared, but its labels row is read. */
START_TEST(skipped_data_rows_stay_aligned)
{
    write_data(at("fer.csv"));
    /* Break data row 2 (line 3): a label out of range. */
    FILE *f = fopen(at("fer.csv"), "r");
    char *lines[NROWS + 1];
    char buf[4096];
    int n = 0;
    while (fgets(buf, sizeof buf, f))
        lines[n++] = strdup(buf);
    fclose(f);
    lines[3][0] = '9';
    f = fopen(at("fer.csv"), "w");
    for (int i = 0; i < n; i++) {
        fputs(lines[i], f);
        free(lines[i]);
    }
    fclose(f);
    /* And give its labels row another usage: not compared, since the row is bad. */
    write_labels(at("new.csv"), NROWS, 3, "PrivateTest,x.png,4,0,0,4,0,0,0,0,2,0", 0);
    fer_dataset *ds = load_data(0, 1);
    ck_assert_int_eq(ds->skipped, 1);
    fer_error err = {0};
    ck_assert_msg(fer_ferplus_apply(ds, at("new.csv"), NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ds->n, 6);
    ck_assert_int_eq(ds->row[2], 5);
    ck_assert_int_eq(ds->pixels[2 * NPIX], 5);
    fer_dataset_free(ds);
}
END_TEST

/* ---- targets ------------------------------------------------------------------------ */

START_TEST(votes_top)
{
    const uint8_t a[8] = {0, 0, 0, 7, 1, 0, 0, 2}, b[8] = {3, 0, 0, 0, 3, 0, 0, 3},
                  z[8] = {0};
    ck_assert_uint_eq(fer_votes_top(a), 1u << 3);
    ck_assert_uint_eq(fer_votes_top(b), 1u << 0 | 1u << 4 | 1u << 7);
    ck_assert_uint_eq(fer_votes_top(z), 0);
}
END_TEST

static fer_arch *arch_with(const char *classes, int n)
{
    char text[512];
    snprintf(text, sizeof text, "[net]\nname = t\ninput = 1x4x4\nclasses = %s\n"
             "[gap]\n[fc]\noutputs = %d\n", classes, n);
    fer_arch *a = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_arch_parse(&a, text, strlen(text), "t", &err) == 0, "%s", err.msg);
    return a;
}

START_TEST(targets_from_votes)
{
    write_data(at("fer.csv"));
    write_labels(at("new.csv"), NROWS, 0, NULL, 0);
    fer_dataset *ds = load_data(0, 0);
    fer_error err = {0};
    ck_assert_int_eq(fer_ferplus_apply(ds, at("new.csv"), NULL, &err), 0);

    /* Outputs in another order than the labels: contempt first. */
    fer_arch *a = arch_with("contempt, angry, disgust, fear, happy, sad, surprise, neutral", 8);
    fer_label_map m;
    ck_assert_int_eq(fer_label_map_init(&m, a, 8, 0xff, 1, &err), 0);
    ck_assert_int_eq(m.out[FER_LABEL_CONTEMPT], 0);
    ck_assert_int_eq(m.out[0], 1);
    float q[8];
    /* Image 2 (row 2): neutral 4, sad 4 -> majority: half each; correct: either. */
    fer_target_fill(q, ds, 2, &m, FER_TARGET_MAJORITY);
    ck_assert_float_eq(q[m.out[6]], 0.5f);
    ck_assert_float_eq(q[m.out[4]], 0.5f);
    ck_assert_float_eq(q[0] + q[1] + q[2] + q[3] + q[4] + q[6], 0.0f);
    ck_assert_uint_eq(fer_target_correct(ds, 2, &m), 1u << m.out[6] | 1u << m.out[4]);
    /* Image 1 (row 1): anger 6, disgust 3 (unknown 1 left out) -> dist 2/3, 1/3. */
    fer_target_fill(q, ds, 1, &m, FER_TARGET_DIST);
    ck_assert_float_eq_tol(q[m.out[0]], 2 / 3.0f, 1e-7f);
    ck_assert_float_eq_tol(q[m.out[1]], 1 / 3.0f, 1e-7f);
    fer_target_fill(q, ds, 1, &m, FER_TARGET_MAJORITY);
    ck_assert_float_eq(q[m.out[0]], 1.0f);
    ck_assert_uint_eq(fer_target_correct(ds, 1, &m), 1u << m.out[0]);
    fer_arch_free(a);

    /* A seven-class model: required to have contempt -> refused, naming it; not
     * required (evaluation) -> a contempt-only image cannot be scored (mask 0), a
     * disgust/contempt tie is correct only as disgust. */
    a = arch_with("angry, disgust, fear, happy, sad, surprise, neutral", 7);
    ck_assert_int_eq(fer_label_map_init(&m, a, 7, 0xff, 1, &err), FER_E_CLASSES);
    ck_assert_ptr_nonnull(strstr(err.msg, "'contempt'"));
    ck_assert_int_eq(fer_label_map_init(&m, a, 7, 0, 0, &err), 0);
    ck_assert_uint_eq(fer_target_correct(ds, 3, &m), 0); /* row 5: contempt */
    ck_assert_uint_eq(fer_target_correct(ds, 5, &m), 1u << 1);
    fer_target_fill(q, ds, 5, &m, FER_TARGET_DIST); /* disgust 4, sad 2; contempt gone */
    ck_assert_float_eq_tol(q[1], 4 / 6.0f, 1e-7f);
    ck_assert_float_eq_tol(q[4], 2 / 6.0f, 1e-7f);
    fer_arch_free(a);

    /* An unknown class name: an error only when strict. */
    a = arch_with("angry, calm", 2);
    ck_assert_int_eq(fer_label_map_init(&m, a, 2, 0, 1, &err), FER_E_CLASSES);
    ck_assert_ptr_nonnull(strstr(err.msg, "'calm'"));
    ck_assert_int_eq(fer_label_map_init(&m, a, 2, 0, 0, &err), 0);
    ck_assert_int_eq(m.out[0], 0);
    fer_arch_free(a);
    fer_dataset_free(ds);

    ck_assert_int_eq(fer_target_parse("dist"), FER_TARGET_DIST);
    ck_assert_int_eq(fer_target_parse("majority"), FER_TARGET_MAJORITY);
    ck_assert_int_eq(fer_target_parse("soft"), -1);
}
END_TEST

/* Hard labels: one-hot, one correct output. */
START_TEST(targets_from_hard_labels)
{
    write_data(at("fer.csv"));
    fer_dataset *ds = load_data(0, 0);
    ds->labels[4] = 5;
    fer_arch *a = arch_with("angry, disgust, fear, happy, sad, surprise, neutral", 7);
    fer_label_map m;
    ck_assert_int_eq(fer_label_map_init(&m, a, 7, 0, 1, NULL), 0);
    float q[7];
    fer_target_fill(q, ds, 4, &m, FER_TARGET_DIST);
    for (int k = 0; k < 7; k++)
        ck_assert_float_eq(q[k], k == 5 ? 1.0f : 0.0f);
    ck_assert_uint_eq(fer_target_correct(ds, 4, &m), 1u << 5);
    fer_arch_free(a);
    fer_dataset_free(ds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ferplus");
    TCase *tc = tcase_create("ferplus");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, apply_keeps_drops_and_counts);
    tcase_add_test(tc, apply_one_split);
    tcase_add_test(tc, crc_identifies_the_labels);
    tcase_add_loop_test(tc, bad_labels_are_refused, 0,
                        (int)(sizeof bad_files / sizeof bad_files[0]));
    tcase_add_test(tc, more_rows_header_and_sources);
    tcase_add_test(tc, skipped_data_rows_stay_aligned);
    tcase_add_test(tc, votes_top);
    tcase_add_test(tc, targets_from_votes);
    tcase_add_test(tc, targets_from_hard_labels);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
