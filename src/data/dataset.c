/*
 * dataset.c — class and split names, the in-memory dataset, and the loader entry point.
 *
 * A fer_dataset is four parallel arrays (pixels, labels, split, source row)
 * grown geometrically while a reader appends images, then trimmed to size.
 * Labels are always canonical indices (FER2013's seven, then contempt): folder
 * datasets name their classes in many ways ("anger", "Happiness", "surprised"),
 * so every name goes through one alias table here, and a model trained on
 * FER2013 evaluates any of them directly.
 *
 * fer_dataset_load validates the options once and dispatches on what the path
 * is: a directory is an image-folder tree (folder.c), anything else a CSV read
 * through zlib (csv.c), which covers .csv and .csv.gz alike.
 */
#include "data/dataset.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/loaders.h"

const char *const fer_class_names[FER_NUM_LABELS] = {
    "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt",
};

/* Names seen in the wild for each class: FER2013 exports, CK+/AffectNet-style
 * folders, and the adjective/noun variants people type. Matched case-insensitively.
 * Contempt is FER+'s (and CK+'s, AffectNet's) eighth class. */
static const struct {
    const char *name;
    int label;
} class_aliases[] = {
    {"angry", 0},    {"anger", 0},
    {"disgust", 1},  {"disgusted", 1},
    {"fear", 2},     {"fearful", 2},    {"afraid", 2},  {"scared", 2},
    {"happy", 3},    {"happiness", 3},  {"joy", 3},
    {"sad", 4},      {"sadness", 4},
    {"surprise", 5}, {"surprised", 5},
    {"neutral", 6},
    {"contempt", 7}, {"contemptuous", 7},
};

static const struct {
    const char *name;
    int split;
} split_aliases[] = {
    {"training", FER_SPLIT_TRAIN},   {"train", FER_SPLIT_TRAIN},
    {"publictest", FER_SPLIT_VAL},   {"validation", FER_SPLIT_VAL},
    {"val", FER_SPLIT_VAL},          {"valid", FER_SPLIT_VAL},
    {"privatetest", FER_SPLIT_TEST}, {"test", FER_SPLIT_TEST},
};

int fer_split_parse(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof split_aliases / sizeof split_aliases[0]; i++)
        if (strcasecmp(name, split_aliases[i].name) == 0)
            return split_aliases[i].split;
    return -1;
}

int fer_class_parse(const char *name)
{
    if (!name)
        return -1;
    /* A bare digit is the FER2013 label itself, as in folder exports named 0/..6/. */
    if (name[0] >= '0' && name[0] < '0' + FER_NUM_CLASSES && name[1] == '\0')
        return name[0] - '0';
    for (size_t i = 0; i < sizeof class_aliases / sizeof class_aliases[0]; i++)
        if (strcasecmp(name, class_aliases[i].name) == 0)
            return class_aliases[i].label;
    return -1;
}

void fer_dataset_free(fer_dataset *ds)
{
    if (!ds)
        return;
    free(ds->pixels);
    free(ds->labels);
    free(ds->split);
    free(ds->row);
    free(ds->row_split);
    free(ds->votes);
    free(ds);
}

void fer_dataset_counts(const fer_dataset *ds, int split, int counts[FER_NUM_LABELS])
{
    for (int c = 0; c < FER_NUM_LABELS; c++)
        counts[c] = 0;
    if (!ds)
        return;
    for (int i = 0; i < ds->n; i++)
        if ((split < 0 || ds->split[i] == split) && ds->labels[i] < FER_NUM_LABELS)
            counts[ds->labels[i]]++;
}

/*
 * Contract: see loaders.h. Capacity doubles (from 1024 images), so appending n
 * images costs O(n) copying in total; the final trim happens in fer_dataset_load.
 * A partial failure can leave one array larger than *cap says, which is harmless.
 */
int fer_dataset_reserve(fer_dataset *ds, int *cap, int need, const char *path,
                        fer_error *err)
{
    if (need <= *cap)
        return 0;
    size_t per = (size_t)ds->h * (size_t)ds->w;
    size_t want = *cap < 1024 ? 1024 : (size_t)*cap * 2;
    if (want < (size_t)need)
        want = (size_t)need;
    if (want > INT32_MAX)
        want = INT32_MAX;
    if (want < (size_t)need || want > SIZE_MAX / per)
        return fer_fail(err, -ENOMEM, "%s: too many images (%d)", path, need);

    uint8_t *p = realloc(ds->pixels, want * per);
    if (!p)
        return fer_fail(err, -ENOMEM, "%s: out of memory for %zu images", path, want);
    ds->pixels = p;
    p = realloc(ds->labels, want);
    if (!p)
        return fer_fail(err, -ENOMEM, "%s: out of memory for %zu images", path, want);
    ds->labels = p;
    p = realloc(ds->split, want);
    if (!p)
        return fer_fail(err, -ENOMEM, "%s: out of memory for %zu images", path, want);
    ds->split = p;
    int32_t *r = realloc(ds->row, want * sizeof *r);
    if (!r)
        return fer_fail(err, -ENOMEM, "%s: out of memory for %zu images", path, want);
    ds->row = r;
    *cap = (int)want;
    return 0;
}

/* Gives back the slack of geometric growth; a failed shrink just keeps it. */
static void trim(fer_dataset *ds)
{
    if (ds->n == 0) {
        free(ds->pixels);
        free(ds->labels);
        free(ds->split);
        free(ds->row);
        ds->pixels = ds->labels = ds->split = NULL;
        ds->row = NULL;
        return;
    }
    size_t n = (size_t)ds->n;
    uint8_t *p = realloc(ds->pixels, n * (size_t)ds->h * (size_t)ds->w);
    if (p)
        ds->pixels = p;
    if ((p = realloc(ds->labels, n)))
        ds->labels = p;
    if ((p = realloc(ds->split, n)))
        ds->split = p;
    int32_t *r = realloc(ds->row, n * sizeof *r);
    if (r)
        ds->row = r;
    if (ds->rows > 0 && (p = realloc(ds->row_split, (size_t)ds->rows)))
        ds->row_split = p;
}

/*
 * Contract: on success *out is a new dataset (possibly with n == 0 if the
 * requested splits are empty) that the caller frees with fer_dataset_free; on
 * failure *out is NULL and err says what and where. opts may be NULL (all
 * splits, fail on bad data, 48 x 48); opts->size 0 also means 48.
 */
int fer_dataset_load(fer_dataset **out, const char *path, const fer_data_opts *opts,
                     fer_error *err)
{
    if (out)
        *out = NULL;
    if (!out || !path)
        return fer_fail(err, -EINVAL, "fer_dataset_load: NULL argument");

    fer_data_opts o = {.splits = 0, .skip_bad = 0, .size = 48};
    if (opts)
        o = *opts;
    if (o.size == 0)
        o.size = 48;
    if (o.size < 0 || o.size > 4096)
        return fer_fail(err, -EINVAL, "%s: image size %d not in 1..4096", path, o.size);
    if (o.splits & ~7u)
        return fer_fail(err, -EINVAL, "%s: split mask 0x%x has unknown bits", path, o.splits);
    if (o.splits == 0)
        o.splits = 7u;

    struct stat st;
    if (stat(path, &st) < 0) {
        int e = errno;
        return fer_fail(err, -e, "%s: %s", path, strerror(e));
    }

    fer_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return fer_fail(err, -ENOMEM, "%s: out of memory", path);
    ds->h = ds->w = o.size;
    int cap = 0;
    int rc = S_ISDIR(st.st_mode) ? fer_dataset_load_folder(ds, &cap, path, &o, err)
                                 : fer_dataset_load_csv(ds, &cap, path, &o, err);
    if (rc < 0) {
        fer_dataset_free(ds);
        return rc;
    }
    trim(ds);
    *out = ds;
    return 0;
}
