/*
 * fuzz_csv.c — the FER2013 CSV reader (src/data/csv.c) through the public entry
 * point fer_dataset_load, which `fer train` and `fer eval` run on a user's file.
 *
 * The reader only opens paths (zlib's gzopen, so plain and gzip'd files take
 * the same road), so the input goes into a memfd and is loaded as
 * /proc/self/fd/N. The first input byte chooses the options; the rest is the
 * file:
 *   bits 0-1  image side: 1, 2, 4 or 48 (48 is FER2013's; small sides let short
 *             inputs hold whole rows)
 *   bit  2    skip_bad
 *   bits 3-5  split mask (0 = all)
 * A gzip'd input is fine: the fuzzer may find the inflate path on its own, and
 * the seed corpus holds one.
 */
#include <unistd.h>

#include "data/dataset.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int sides[4] = {1, 2, 4, 48};
    fer_data_opts o = {
        .size = sides[data[0] & 3],
        .skip_bad = (data[0] >> 2) & 1,
        .splits = (data[0] >> 3) & 7u,
    };
    char path[32];
    int fd = fuzz_memfd(data + 1, size - 1, path);
    fer_dataset *ds = NULL;
    fer_error err = {0};
    int rc = fer_dataset_load(&ds, path, &o, &err);
    fuzz_note("csv", rc, err.msg);
    if (rc == 0) {
        int counts[FER_NUM_LABELS];
        fer_dataset_counts(ds, -1, counts);
        int total = 0;
        for (int c = 0; c < FER_NUM_LABELS; c++)
            total += counts[c];
        if (total != ds->n || ds->h != o.size || ds->w != o.size)
            fuzz_fail("dataset inconsistent: %d labelled of %d images", total, ds->n);
        for (int i = 0; i < ds->n; i++)
            if (ds->split[i] > FER_SPLIT_TEST || (o.splits && !(o.splits & (1u << ds->split[i]))))
                fuzz_fail("image %d has split %d, not asked for", i, ds->split[i]);
    } else if (ds) {
        fuzz_fail("a failed load returned a dataset");
    }
    fer_dataset_free(ds);
    close(fd);
    return 0;
}
