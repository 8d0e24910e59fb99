/*
 * ferplus.h — the FER+ crowd labels (Barsoum et al., ICMI 2016; Microsoft, MIT
 * licence) over a FER2013 CSV dataset.
 *
 * fer2013new.csv (or .csv.gz) has one row per row of fer2013.csv, in the same
 * order: `Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,
 * contempt,unknown,NF`, ten annotators' votes per image (one real row has nine).
 * Applying it to a dataset loaded from fer2013.csv replaces the single FER2013
 * labels by the votes over the eight emotions, in the canonical label order of
 * dataset.h (FER2013's seven, then contempt), and drops the images that are not
 * usable faces. The rules (models/README.md states them for users):
 *  - a row is dropped when NF ("not a face") has at least as many votes as any
 *    other column (counted as NF), else when `unknown` does (counted as unknown);
 *  - the remaining rows keep their eight emotion votes; unknown/NF votes are
 *    left out of every target;
 *  - a row whose top vote is shared by two or more emotions is a tie: its
 *    majority is the set of tied emotions (fer_votes_top).
 */
#ifndef FER_FERPLUS_H
#define FER_FERPLUS_H

#include <stdint.h>

#include "data/dataset.h"

#define FER_FERPLUS_HEADER \
    "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"

/* What fer_ferplus_apply kept and dropped, per split (indexed by fer_split). */
typedef struct fer_ferplus_stats {
    int kept[3];         /* images kept */
    int ties[3];         /* of those, images whose top vote is shared by two or more emotions */
    int unknown[3];      /* images dropped because `unknown` has the top vote */
    int nf[3];           /* images dropped because `NF` has the top vote */
    uint32_t crc;        /* CRC-32 of the labels' text (the same for .csv and .csv.gz):
                            checkpoints record it so --resume sees the same labels */
} fer_ferplus_stats;

/*
 * Reads the labels at path and applies them to ds, which must have been loaded
 * from the FER2013 CSV (ds->row, ds->rows, ds->row_split) and must not have votes
 * yet. The labels are checked row by row against the data first: the same number
 * of rows, and in every row the same Usage as the data's row (a bad data row
 * skipped with skip_bad is not compared). Then ds->votes is set, ds->labels become
 * the first top-voted label of each image, and the dropped images are removed
 * (the arrays keep their order). st may be NULL.
 * Errors (nothing is changed in ds): -errno/-ENOMEM, FER_E_INVAL with
 * "path:line: problem" for a missing header, a malformed row (field count, a vote
 * that is not an integer 0..255, no votes at all, an unknown Usage), a Usage that
 * differs from the data's, more rows than the data; "path: ..." for fewer rows or
 * a dataset that is not a FER2013 CSV; FER_E_TRUNCATED for cut gzip data.
 */
int fer_ferplus_apply(fer_dataset *ds, const char *path, fer_ferplus_stats *st,
                      fer_error *err);

/* Bit mask (bit l = label l) of the labels with the most votes among
 * votes[0 .. FER_NUM_LABELS); 0 when every count is 0. */
unsigned fer_votes_top(const uint8_t *votes);

#endif
