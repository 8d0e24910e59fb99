/*
 * paths.h — where ferd's programs and libraries find the files it ships: the
 * architecture files, the default model and the demo samples, laid out as
 * models/NAME.arch, models/default.fermodel, samples/demo.avi in a data
 * directory.
 *
 * The data directory, first hit wins:
 *   1. $FER_DATA_DIR, when set and not empty;
 *   2. an uninstalled build's source tree: a build directory holds
 *      ferd-build-data.txt (written by meson, naming the source tree), and a
 *      program or library running from that build finds it one level above
 *      its own file, as Python's build tree finds pybuilddir.txt;
 *   3. the installed data directory, FER_DATADIR/ferd ($prefix/$datadir/ferd,
 *      fixed at configure time), where `meson install` puts models/ and
 *      samples/.
 * An installed program has no ferd-build-data.txt beside it and no source path
 * compiled in: it looks only at 1 and 3.
 */
#ifndef FER_UTIL_PATHS_H
#define FER_UTIL_PATHS_H

#include <stddef.h>

/* The data directory (see above) into out; -ENAMETOOLONG if it does not fit. */
int fer_data_dir(char *out, size_t n);

/* DATA_DIR/rel into out: 0 if it is a readable file, -ENOENT if not (out still
 * holds the path, for a message). */
int fer_data_file(const char *rel, char *out, size_t n);

/* An architecture given as a path (anything holding a '/', or an existing
 * file) or as a name ("default": DATA_DIR/models/default.arch). 0, or -ENOENT
 * with the path looked at in out. */
int fer_find_arch(const char *name, char *out, size_t n);

/* The model: given when not NULL, else $FER_MODEL when set, else
 * DATA_DIR/models/default.fermodel. 0, or -ENOENT (the default is missing)
 * with the path looked at in out. */
int fer_find_model(const char *given, char *out, size_t n);

#endif
