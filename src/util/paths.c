/*
 * paths.c — see paths.h. The build-tree marker is looked for beside the file
 * that holds this code: the program itself (/proc/self/exe), or the shared
 * library a program loaded (libferclassify, found with dladdr), so a build's
 * programs and libraries find their own source tree whoever runs them. That
 * look-up happens once per process.
 */
#include "util/paths.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FER_DATADIR
#define FER_DATADIR "/usr/local/share"
#endif

#define FER_BUILD_MARKER "ferd-build-data.txt"

static int readable(const char *p)
{
    return access(p, R_OK) == 0;
}

/* Any object of this file: dladdr maps its address to the file it was loaded from. */
static const char anchor = 1;

/* The absolute path of the program or shared object this code is part of. */
static int own_file(char *out, size_t n)
{
    Dl_info info;
    if (dladdr(&anchor, &info) && info.dli_fname && info.dli_fname[0] == '/' &&
        realpath(info.dli_fname, out) && strlen(out) < n)
        return 0;
    /* The main program: dladdr gives its argv[0], which may be relative. */
    ssize_t len = readlink("/proc/self/exe", out, n - 1);
    if (len <= 0 || (size_t)len >= n - 1)
        return -ENOENT;
    out[len] = '\0';
    return 0;
}

/* The source tree named by FILE_DIR/../ferd-build-data.txt, if that exists. */
static int build_tree(char *out, size_t n)
{
    char self[PATH_MAX];
    if (own_file(self, sizeof self) < 0)
        return -ENOENT;
    char *slash = strrchr(self, '/');
    if (!slash)
        return -ENOENT;
    *slash = '\0';
    char marker[PATH_MAX + 64];
    snprintf(marker, sizeof marker, "%s/../" FER_BUILD_MARKER, self);
    FILE *f = fopen(marker, "r");
    if (!f)
        return -ENOENT;
    char line[PATH_MAX];
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok)
        return -ENOENT;
    line[strcspn(line, "\n")] = '\0';
    if (line[0] != '/' || strlen(line) >= n)
        return -ENOENT;
    snprintf(out, n, "%s", line);
    return 0;
}

/* The build tree is looked for once per process: a daemon's reload, which
 * computes the default model path again, then touches no file but the model
 * (tests/reliability/security.py checks what RELOAD touches). */
static pthread_once_t build_once = PTHREAD_ONCE_INIT;
static char build_dir[PATH_MAX];

static void find_build_tree(void)
{
    if (build_tree(build_dir, sizeof build_dir) < 0)
        build_dir[0] = '\0';
}

int fer_data_dir(char *out, size_t n)
{
    const char *env = getenv("FER_DATA_DIR");
    if (env && *env)
        return snprintf(out, n, "%s", env) < (int)n ? 0 : -ENAMETOOLONG;
    pthread_once(&build_once, find_build_tree);
    if (build_dir[0])
        return snprintf(out, n, "%s", build_dir) < (int)n ? 0 : -ENAMETOOLONG;
    return snprintf(out, n, "%s/ferd", FER_DATADIR) < (int)n ? 0 : -ENAMETOOLONG;
}

int fer_data_file(const char *rel, char *out, size_t n)
{
    char dir[PATH_MAX];
    int rc = fer_data_dir(dir, sizeof dir);
    if (rc < 0)
        return rc;
    if (snprintf(out, n, "%s/%s", dir, rel) >= (int)n)
        return -ENAMETOOLONG;
    return readable(out) ? 0 : -ENOENT;
}

int fer_find_arch(const char *name, char *out, size_t n)
{
    if (!name || !*name)
        return -EINVAL;
    if (readable(name) || strchr(name, '/')) {
        snprintf(out, n, "%s", name);
        return readable(name) ? 0 : -ENOENT;
    }
    char rel[PATH_MAX];
    snprintf(rel, sizeof rel, "models/%s.arch", name);
    return fer_data_file(rel, out, n);
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
    return fer_data_file("models/default.fermodel", out, n);
}
