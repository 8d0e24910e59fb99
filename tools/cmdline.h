/*
 * cmdline.h — the training command as a model's header records it
 * (meta.command): what a user would type, not where a developer's files were.
 */
#ifndef FER_TOOLS_CMDLINE_H
#define FER_TOOLS_CMDLINE_H

#include <stddef.h>

/*
 * "fer SUBCOMMAND ARGS..." from the subcommand's argv (argv[0] is the subcommand:
 * the program is always named `fer`, however it was invoked), with every dataset
 * path reduced to its file name as users have it: the values of --data and of
 * --labels KIND:PATH ("ferplus:../shared/data/fer2013new.csv.gz" becomes
 * "ferplus:fer2013new.csv.gz"), in both "--opt VALUE" and "--opt=VALUE" forms.
 * Other arguments are kept as given. Cut at n - 1 bytes.
 */
void fer_record_command(char *out, size_t n, int argc, char **argv);

#endif
