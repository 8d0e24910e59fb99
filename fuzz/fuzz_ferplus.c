/*
 * fuzz_ferplus.c — the FER+ label reader (src/data/ferplus.c), which `fer train
 * --labels` and `fer eval --labels` run on a user's fer2013new.csv.
 *
 * The labels apply to a dataset, so each run first loads a small FER2013 CSV it
 * writes itself (1x1 images, Usage cycling Training, PublicTest, PrivateTest), then
 * applies the input to it as the labels file (through a memfd). The first input
 * byte chooses:
 *   bits 0-3  the data's row count, 0..15 (the real file's row count is what a
 *             mutated label file most often gets wrong)
 *   bits 4-6  split mask of the data load (0 = all)
 * Invariants: a failed apply leaves the dataset as it was; a successful one leaves
 * only images with a top-voted emotion, their label the first of those, their rows
 * in increasing order, and the per-split counts summing to the images kept.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "data/ferplus.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const usages[3] = {"Training", "PublicTest", "PrivateTest"};
    const int rows = data[0] & 15;
    char csv[1024];
    size_t len = (size_t)snprintf(csv, sizeof csv, "emotion,pixels,Usage\n");
    for (int i = 0; i < rows; i++)
        len += (size_t)snprintf(csv + len, sizeof csv - len, "%d,%d,%s\n", i % 7, i,
                                usages[i % 3]);
    char dpath[32], lpath[32];
    int dfd = fuzz_memfd((const uint8_t *)csv, len, dpath);
    int lfd = fuzz_memfd(data + 1, size - 1, lpath);
    fer_data_opts o = {(data[0] >> 4) & 7u, 0, 1};
    fer_dataset *ds = NULL;
    fer_error err = {0};
    if (fer_dataset_load(&ds, dpath, &o, &err) != 0)
        fuzz_fail("the generated data did not load: %s", err.msg);
    const int n0 = ds->n;
    fer_ferplus_stats st;
    int rc = fer_ferplus_apply(ds, lpath, &st, &err);
    fuzz_note("ferplus", rc, err.msg);
    if (rc < 0) {
        if (ds->n != n0 || ds->votes)
            fuzz_fail("a failed apply changed the dataset");
    } else {
        int kept = 0;
        for (int s = 0; s < 3; s++)
            kept += st.kept[s];
        if (kept != ds->n || !ds->votes)
            fuzz_fail("%d images kept by the counts, %d in the dataset", kept, ds->n);
        for (int i = 0; i < ds->n; i++) {
            unsigned top = fer_votes_top(ds->votes + (size_t)i * FER_NUM_LABELS);
            if (!top || ds->labels[i] != __builtin_ctz(top))
                fuzz_fail("image %d: label %d, top votes 0x%x", i, ds->labels[i], top);
            if ((i && ds->row[i] <= ds->row[i - 1]) || ds->pixels[i] != ds->row[i] ||
                ds->split[i] != ds->row_split[ds->row[i]])
                fuzz_fail("image %d: row %d out of order or misplaced", i, ds->row[i]);
        }
    }
    fer_dataset_free(ds);
    close(dfd);
    close(lfd);
    return 0;
}
