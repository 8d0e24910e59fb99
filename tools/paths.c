/*
 * paths.c — see paths.h. FER_DATADIR and FER_SOURCE_DIR come from meson.
 */
#include "paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int exists(const char *p)
{
    return access(p, R_OK) == 0;
}

int fer_find_arch(const char *name, char *out, size_t n)
{
    if (exists(name) || strchr(name, '/')) {
        snprintf(out, n, "%s", name);
        return 0;
    }
    const char *dirs[] = {FER_DATADIR "/ferd/models", FER_SOURCE_DIR "/models"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(out, n, "%s/%s.arch", dirs[i], name);
        if (exists(out))
            return 0;
    }
    snprintf(out, n, "%s", name);
    return -1;
}

int fer_find_model(const char *given, char *out, size_t n)
{
    if (given) {
        snprintf(out, n, "%s", given);
        return 0;
    }
    const char *env = getenv("FER_MODEL");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return 0;
    }
    const char *cands[] = {FER_DATADIR "/ferd/models/default.fermodel",
                           FER_SOURCE_DIR "/models/default.fermodel"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        if (exists(cands[i])) {
            snprintf(out, n, "%s", cands[i]);
            return 0;
        }
    }
    snprintf(out, n, "%s", cands[0]);
    return -1;
}
