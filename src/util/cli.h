/*
 * cli.h — the one command-line convention of fer, ferd and ferctl.
 *
 * A usage error is one line on stderr and exit status 64 (sysexits' EX_USAGE)
 * in all three programs, never a dump of the usage text:
 *
 *     ferctl: unknown command 'stauts' (did you mean 'status'?); see 'ferctl --help'
 *     ferctl watch: unknown option '--evnets' (did you mean '--events'?); see 'ferctl watch --help'
 *     fer analyze: option '--output' needs a value; see 'fer analyze --help'
 *
 * Suggestions come from the edit distance (insertions, deletions,
 * substitutions and transpositions of neighbours) to the known names, offered
 * only when the name is close enough to be a typing slip. The option parsers
 * run getopt_long with opterr = 0 and a leading ':' in the short options, so
 * getopt prints nothing and fer_cli_option_error says it once.
 *
 * Short options mean the same everywhere (docs/cli.md): -h help, -V version,
 * -o output file ("-" = standard output), -m model, -c configuration file,
 * -S socket, -s source, -q quiet.
 */
#ifndef FER_UTIL_CLI_H
#define FER_UTIL_CLI_H

#include <getopt.h>

/* Exit status of a usage error. */
#define FER_EXIT_USAGE 64

/* Edit distance of a and b (optimal string alignment), at most limit + 1. */
int fer_cli_distance(const char *a, const char *b, int limit);

/* The name of names[0 .. n) closest to word, if it is a likely slip (distance at
 * most 2, and less than half word's length); NULL otherwise. */
const char *fer_cli_suggest(const char *word, const char *const *names, int n);

/*
 * Prints "PROG: MESSAGE; see 'PROG --help'" (prog may hold a subcommand,
 * "ferctl watch") on stderr, with " (did you mean 'X'?)" before the semicolon
 * when suggestion is not NULL. Returns FER_EXIT_USAGE.
 */
int fer_cli_usage_error(const char *prog, const char *suggestion, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Reports what made getopt_long return c ('?' or ':') for the element at
 * argv[optind - 1], with a suggestion among longopts' names for an unknown
 * long option. Returns FER_EXIT_USAGE.
 */
int fer_cli_option_error(const char *prog, int c, const struct option *longopts, char **argv);

/* "unexpected argument 'X'" for the first operand a command does not take. */
int fer_cli_extra_argument(const char *prog, const char *arg);

#endif
