/*
 * cmdline.c — see cmdline.h. The reduction is textual (the last '/' of the
 * path): the files need not exist when the command is recorded or read.
 */
#include "cmdline.h"

#include <stdio.h>
#include <string.h>

/* The file name of a path (the part after its last '/'). */
static const char *file_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Appends value of option opt to out, reduced if opt names a dataset. */
static size_t put_value(char *out, size_t n, size_t len, const char *opt, const char *value)
{
    if (len >= n)
        return len;
    if (!strcmp(opt, "--data"))
        return len + (size_t)snprintf(out + len, n - len, "%s", file_name(value));
    if (!strcmp(opt, "--labels")) {
        const char *colon = strchr(value, ':');
        if (colon)
            return len + (size_t)snprintf(out + len, n - len, "%.*s%s",
                                          (int)(colon - value + 1), value, file_name(colon + 1));
    }
    return len + (size_t)snprintf(out + len, n - len, "%s", value);
}

void fer_record_command(char *out, size_t n, int argc, char **argv)
{
    if (!n)
        return;
    size_t len = (size_t)snprintf(out, n, "fer");
    for (int i = 0; i < argc && len < n; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        len += (size_t)snprintf(out + len, n - len, " ");
        if (len >= n)
            break;
        if (!strncmp(a, "--", 2) && eq) {
            char opt[64];
            snprintf(opt, sizeof opt, "%.*s", (int)(eq - a), a);
            len += (size_t)snprintf(out + len, n - len, "%s=", opt);
            len = put_value(out, n, len, opt, eq + 1);
        } else if (i > 0 && !strncmp(argv[i - 1], "--", 2) && !strchr(argv[i - 1], '=') &&
                   (!strcmp(argv[i - 1], "--data") || !strcmp(argv[i - 1], "--labels"))) {
            len = put_value(out, n, len, argv[i - 1], a);
        } else {
            len += (size_t)snprintf(out + len, n - len, "%s", a);
        }
    }
    out[n - 1] = '\0';
}
