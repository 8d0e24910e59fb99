/*
 * labels.c — see labels.h. The counts go to stderr so that `fer eval --json`
 * keeps stdout to its one JSON line.
 */
#include "labels.h"

#include <stdio.h>
#include <string.h>

int fer_tool_apply_labels(fer_dataset *ds, const char *spec, const char *prog,
                          fer_ferplus_stats *st)
{
    static const char *const names[3] = {"Training", "PublicTest", "PrivateTest"};
    if (strncmp(spec, "ferplus:", 8) != 0 || !spec[8]) {
        fprintf(stderr, "%s: --labels: '%s' is not ferplus:FILE (the FER+ votes, "
                        "fer2013new.csv[.gz])\n", prog, spec);
        return -1;
    }
    fer_error err = {0};
    if (fer_ferplus_apply(ds, spec + 8, st, &err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return -1;
    }
    for (int s = 0; s < 3; s++) {
        if (!st->kept[s] && !st->unknown[s] && !st->nf[s])
            continue;
        fprintf(stderr, "%s: FER+ %s: %d images kept (%d with tied top votes), dropped %d "
                        "'unknown' and %d 'not a face'\n", prog, names[s], st->kept[s],
                st->ties[s], st->unknown[s], st->nf[s]);
    }
    return 0;
}
