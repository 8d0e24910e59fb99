/*
 * dataset.h — FER2013 and image-folder datasets in memory.
 *
 * Sources: the original CSV (`emotion,pixels,Usage`), plain or gzip-compressed
 * (read through zlib, never unpacked to disk), or the common image-folder layout
 * `ROOT/{train,val,test}/<class>/<name>.{png,jpg,...}` with class-name aliases.
 * Labels are always indices into the canonical FER2013 class list below, whatever
 * the source called them, so a 6-class folder evaluates against a 7-class model.
 */
#ifndef FER_DATASET_H
#define FER_DATASET_H

#include <stdint.h>

#include "util/error.h"

/* The canonical label space: FER2013's seven classes in FER2013's order (the values of
 * its emotion column: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral),
 * then 7 contempt, the eighth class of the FER+ labels (data/ferplus.h). */
#define FER_NUM_CLASSES 7   /* FER2013's classes: the emotion column holds 0..6 */
#define FER_NUM_LABELS 8    /* with contempt */
#define FER_LABEL_CONTEMPT 7
extern const char *const fer_class_names[FER_NUM_LABELS];

/* Splits. CSV: Training, PublicTest, PrivateTest. Folders: train, val, test. */
typedef enum fer_split {
    FER_SPLIT_TRAIN = 0,
    FER_SPLIT_VAL = 1,
    FER_SPLIT_TEST = 2,
    FER_SPLIT_NONE = 255, /* row_split of a bad row skipped with skip_bad */
} fer_split;

/* Maps a split name to its value: "Training"/"train", "PublicTest"/"val"/"validation"/"valid",
 * "PrivateTest"/"test" (case-insensitive). -1 if unknown. */
int fer_split_parse(const char *name);
/* Maps a class name or alias to its label, or -1: angry/anger, disgust/disgusted,
 * fear/fearful/afraid/scared, happy/happiness/joy, sad/sadness, surprise/surprised, neutral,
 * contempt/contemptuous, or a bare digit "0".."6" (FER2013's own labels; case-insensitive).
 * Other datasets' extra classes (calm) are unknown: a folder holding them needs skip_bad. */
int fer_class_parse(const char *name);

typedef struct fer_dataset {
    int n;               /* images */
    int h, w;            /* 48 x 48 */
    uint8_t *pixels;     /* (n, h, w) grey */
    uint8_t *labels;     /* (n) indices into fer_class_names; with votes, the first of
                            the top-voted labels (ties: the lowest label) */
    uint8_t *split;      /* (n) fer_split of each image */
    int32_t *row;        /* (n) CSV: the image's data row in the file, 0-based (blank lines
                            are not rows); folders: -1 */
    int rows;            /* CSV: data rows in the file, bad ones included; folders: 0 */
    uint8_t *row_split;  /* (rows) CSV: the Usage of every data row, whether its split was
                            kept or not; FER_SPLIT_NONE for a bad row skipped. NULL: folders */
    uint8_t *votes;      /* NULL, or (n, FER_NUM_LABELS) crowd votes per label: set by
                            fer_ferplus_apply (data/ferplus.h) */
    int skipped;         /* bad rows or unreadable images skipped (skip_bad) */
} fer_dataset;

typedef struct fer_data_opts {
    unsigned splits;     /* bit mask of (1 << fer_split) to keep; 0 = all */
    int skip_bad;        /* 1: skip and count bad rows/images instead of failing */
    int size;            /* side of the square images (0 means 48); folder images are resized */
} fer_data_opts;

/* Loads path (a .csv, a .csv.gz, or a folder root). Errors name the file and, for CSV,
 * the line and problem: wrong pixel count, pixel out of range, label out of range,
 * unknown usage, malformed row (FER_E_INVAL). A missing split folder is no error.
 * opts may be NULL (all splits, no skipping, 48). Images keep file order (CSV) or
 * split, class index, then file name order (folders). On failure *out is NULL. */
int fer_dataset_load(fer_dataset **out, const char *path, const fer_data_opts *opts,
                     fer_error *err);
void fer_dataset_free(fer_dataset *ds); /* accepts NULL */

/* Per-label counts of the images of one split (or all splits with split < 0). */
void fer_dataset_counts(const fer_dataset *ds, int split, int counts[FER_NUM_LABELS]);

#endif
