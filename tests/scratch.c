/*
 * scratch.c — see scratch.h.
 */
#include "scratch.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

void scratch_make(char *dir, size_t n, const char *tag)
{
    const char *base = getenv("TMPDIR");
    int len = snprintf(dir, n, "%s/fer-test-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    ck_assert_msg(len > 0 && (size_t)len < n, "scratch directory name too long");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s failed", dir);
}

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(p);
    return 0; /* go on: remove what can be removed */
}

void scratch_remove(char *dir)
{
    if (dir[0])
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    dir[0] = '\0';
}

const char *scratch_path(const char *dir, const char *name)
{
    static char buf[16][1024];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}
