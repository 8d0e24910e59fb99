/*
 * fuzz_config.c — ferd's configuration file parser (fer_config_parse,
 * daemon/config.c, compiled into this target from its source file), which runs
 * on /etc/ferd/ferd.conf at start-up and on every reload.
 *
 * The first input byte sizes the error buffer (0..255 bytes, so truncation of
 * the "FILE:LINE: message" list is exercised down to nothing); the rest is the
 * file. The parse starts from the built-in defaults, as ferd does, and what it
 * leaves is validated, printed and compared with the defaults for restart keys,
 * as --check-config and a reload do. The printed configuration must parse
 * again without error whenever the parse succeeded (what --check-config prints
 * is a valid file), and to the same settings.
 *
 * Finding F1 (docs/RELIABILITY.md), now fixed: values that begin or end with a
 * blank or a double quote used to print unquoted and not read back; their
 * inputs are in fuzz/regressions/config/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

/* The string settings, for the round-trip comparison. */
static const char *strings_of(const fer_config *c, int i)
{
    const char *const v[] = {c->source, c->model, c->cascade, c->socket_path, c->socket_group,
                             c->image_group, c->reload_group};
    return i < (int)(sizeof v / sizeof v[0]) ? v[i] : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fer_config defaults, c, again;
    static int have_defaults;
    if (!have_defaults) {
        fer_config_default(&defaults);
        have_defaults = 1;
    }
    if (size < 1)
        return 0;
    size_t errs_len = data[0];
    char *errs = malloc(errs_len ? errs_len : 1); /* exact size: overruns are caught */
    if (!errs)
        return 0;
    c = defaults;
    int rc = fer_config_parse(&c, (const char *)data + 1, size - 1, "fuzz.conf",
                              errs_len ? errs : NULL, errs_len);
    fuzz_note("config", rc, errs_len ? errs : "");
    if (errs_len && !memchr(errs, '\0', errs_len))
        fuzz_fail("error buffer left unterminated");
    if (rc == 0 && errs_len && errs[0])
        fuzz_fail("a successful parse reported errors");

    char verrs[512];
    fer_config_validate(&c, verrs, sizeof verrs);
    char names[16][32];
    int n = fer_config_restart_keys(&defaults, &c, names, 16);
    if (n < 0 || n > 16)
        fuzz_fail("restart keys: %d", n);
    fer_config live = defaults;
    fer_config_apply_live(&live, &c);

    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream(&text, &text_len);
    if (!f)
        fuzz_fail("open_memstream failed");
    fer_config_print(&c, f, 0);
    fclose(f);
    if (rc == 0) {
        again = defaults;
        char perrs[512];
        if (fer_config_parse(&again, text, text_len, "printed", perrs, sizeof perrs) < 0)
            fuzz_fail("the printed configuration does not parse: %s", perrs);
        for (int i = 0; strings_of(&c, i); i++)
            if (strcmp(strings_of(&c, i), strings_of(&again, i)) != 0)
                fuzz_fail("printing changed a string value: \"%s\" -> \"%s\"",
                          strings_of(&c, i), strings_of(&again, i));
    }
    free(text);
    free(errs);
    return 0;
}
