/*
 * cli.c — see cli.h. Suggestions use the optimal string alignment distance
 * (Damerau-Levenshtein without repeated edits of one substring), which counts
 * the commonest slip, two neighbouring keys swapped ("stauts"), as one edit.
 */
#include "util/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Names longer than this are compared on their first 63 characters. */
#define MAXLEN 64

int fer_cli_distance(const char *a, const char *b, int limit)
{
    int la = (int)strnlen(a, MAXLEN - 1), lb = (int)strnlen(b, MAXLEN - 1);
    if (la - lb > limit || lb - la > limit)
        return limit + 1;
    static _Thread_local int d[MAXLEN][MAXLEN];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++) {
        for (int j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb] > limit ? limit + 1 : d[la][lb];
}

const char *fer_cli_suggest(const char *word, const char *const *names, int n)
{
    int len = (int)strlen(word);
    int limit = len < 4 ? 1 : 2;
    const char *best = NULL;
    int best_d = limit + 1;
    for (int i = 0; i < n; i++) {
        if (!names[i])
            continue;
        int d = fer_cli_distance(word, names[i], limit);
        if (d < best_d && 2 * d < len) {
            best = names[i];
            best_d = d;
        }
    }
    return best;
}

/* "ferctl watch" -> help is "ferctl watch --help". */
int fer_cli_usage_error(const char *prog, const char *suggestion, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (suggestion)
        fprintf(stderr, "%s: %s (did you mean '%s'?); see '%s --help'\n", prog, msg, suggestion,
                prog);
    else
        fprintf(stderr, "%s: %s; see '%s --help'\n", prog, msg, prog);
    return FER_EXIT_USAGE;
}

int fer_cli_option_error(const char *prog, int c, const struct option *longopts, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (c == ':') {
        /* A missing value: argv[optind - 1] is the option itself. */
        if (optopt && !(arg[0] == '-' && arg[1] == '-'))
            return fer_cli_usage_error(prog, NULL, "option '-%c' needs a value", optopt);
        return fer_cli_usage_error(prog, NULL, "option '%s' needs a value", arg);
    }
    if (optopt && !(arg[0] == '-' && arg[1] == '-')) {
        /* An unknown short option, or one given a value it does not take. */
        return fer_cli_usage_error(prog, NULL, "unknown option '-%c'", optopt);
    }
    /* A long option: unknown, ambiguous, or given "=value" it does not take. */
    char name[MAXLEN];
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), arg);
    const char *names[128];
    char buf[128][MAXLEN];
    int n = 0, known = 0;
    for (const struct option *o = longopts; o && o->name && n < 128; o++, n++) {
        snprintf(buf[n], MAXLEN, "--%s", o->name);
        names[n] = buf[n];
        if (strcmp(buf[n], name) == 0) {
            known = 1;
            if (eq && o->has_arg == no_argument)
                return fer_cli_usage_error(prog, NULL, "option '%s' takes no value", name);
        }
    }
    if (known)
        return fer_cli_usage_error(prog, NULL, "option '%s' is not valid here", name);
    int prefixes = 0;
    for (int i = 0; i < n; i++)
        prefixes += strncmp(names[i], name, strlen(name)) == 0;
    if (prefixes > 1)
        return fer_cli_usage_error(prog, NULL, "option '%s' is ambiguous", name);
    return fer_cli_usage_error(prog, fer_cli_suggest(name, names, n), "unknown option '%s'",
                               name);
}

int fer_cli_extra_argument(const char *prog, const char *arg)
{
    return fer_cli_usage_error(prog, NULL, "unexpected argument '%s'", arg);
}
