/*
 * labels.h — `--labels SPEC` of `fer train` and `fer eval`: another label source
 * for a loaded dataset. The one kind today is "ferplus:FILE" (fer2013new.csv or
 * .csv.gz, data/ferplus.h).
 */
#ifndef FER_TOOLS_LABELS_H
#define FER_TOOLS_LABELS_H

#include "data/ferplus.h"

/* Applies spec to ds and prints, on stderr, what was kept and dropped per split.
 * On failure prints "prog: message" and returns -1 (ds is unchanged). */
int fer_tool_apply_labels(fer_dataset *ds, const char *spec, const char *prog,
                          fer_ferplus_stats *st);

#endif
