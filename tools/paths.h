/*
 * paths.h — where the tools find shipped files: a path that exists as given
 * wins; else the installed data directory; else the source tree this binary
 * was built from (so `./build/tools/fer ... --arch default` works uninstalled).
 */
#ifndef FER_TOOLS_PATHS_H
#define FER_TOOLS_PATHS_H

#include <stddef.h>

/* Resolves an architecture given as a path or a name ("default" -> models/default.arch). */
int fer_find_arch(const char *name, char *out, size_t n);
/* Resolves the model: explicit path, else $FER_MODEL, else the installed default, else the
 * source tree's models/default.fermodel. */
int fer_find_model(const char *given, char *out, size_t n);

#endif
