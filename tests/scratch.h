/*
 * scratch.h — a test's scratch directory: made fresh under $TMPDIR (or /tmp),
 * removed with everything below it. The C suites share this one copy; each
 * keeps its directory in a buffer of its own (a global or a fixture's static),
 * so in Check's fork mode every test gets a fresh one.
 */
#ifndef FER_TEST_SCRATCH_H
#define FER_TEST_SCRATCH_H

#include <stddef.h>

/* mkdtemp of $TMPDIR/fer-test-TAG-XXXXXX into dir (n bytes); a failure fails
 * the test. */
void scratch_make(char *dir, size_t n, const char *tag);

/* Removes dir and everything below it (symbolic links are not followed); a
 * directory never made (dir[0] == 0) is left alone. */
void scratch_remove(char *dir);

/* dir/name in one of sixteen rotating static buffers: valid until sixteen more
 * calls, enough for the paths of one statement. */
const char *scratch_path(const char *dir, const char *name);

#endif
