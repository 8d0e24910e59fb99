/*
 * replay.c — a main() for the fuzz targets without libFuzzer.
 *
 * `fuzz-replay-<target> PATH...` feeds every file named, and every regular file
 * inside every directory named (one level, in name order), to the target's
 * LLVMFuzzerTestOneInput once. The meson tests run it over the committed seed
 * corpus and the regression inputs of fuzz/, in every build (gcc, the gcc
 * sanitizer build), so a crash the fuzzer once found stays fixed even where
 * libFuzzer is not available. It exits 0 after the last input; a target that
 * crashes or aborts ends the run with that signal, which fails the test.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Reads path whole into a malloc'd buffer; -1 if it cannot. */
static int read_all(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f) || !buf;
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int run_file(const char *path)
{
    uint8_t *buf;
    size_t len;
    if (read_all(path, &buf, &len) < 0) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    /* An exact-size copy, so ASan sees a read past the input as one. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    int files = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
            bad++;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            bad += run_file(argv[i]) < 0;
            files++;
            continue;
        }
        struct dirent **e;
        int n = scandir(argv[i], &e, NULL, by_name);
        if (n < 0) {
            bad++;
            continue;
        }
        for (int j = 0; j < n; j++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e[j]->d_name);
            if (e[j]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                bad += run_file(path) < 0;
                files++;
            }
            free(e[j]);
        }
        free(e);
    }
    printf("replay: %d inputs, %d unreadable\n", files, bad);
    return bad ? 1 : 0;
}
