/*
 * fuzz_folder.c — the image-folder dataset reader's name handling
 * (src/data/folder.c and the alias tables of src/data/dataset.c): which
 * directory is a split, which is a class, which file is an image, what is
 * hidden, what counts as a duplicate, and what skip_bad skips.
 *
 * Names come from whoever made the dataset tree, so the target builds a real
 * tree from the input in a scratch directory (tmpfs when there is one) and
 * loads it with fer_dataset_load, then removes it. Input: the first byte holds
 * the options (bit 0 skip_bad, bits 1-3 the split mask), the rest is lines of
 *   d<path>   a directory
 *   f<path>   a 3x2 grey PGM image
 *   g<path>   a file of garbage (its own name)
 *   l<path>   a symbolic link to "." (a folder that contains itself)
 * where <path> is up to four '/'-separated names; missing parents are made,
 * empty, "." and ".." names are dropped. Every name met, and the whole input as
 * one string, also go through fer_class_parse and fer_split_parse directly,
 * which must answer in range and ignore case.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "fuzz.h"

#define MAX_ENTRIES 48
#define MAX_DEPTH 4

static char scratch[256];  /* per-process directory, removed at exit */
static char tree[300];     /* scratch/t: one input's tree */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void rm_tree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_scratch(void)
{
    if (scratch[0])
        rm_tree(scratch);
}

static void make_scratch(void)
{
    const char *base = getenv("TMPDIR");
    struct stat st;
    if (!base || !*base)
        base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/fer-fuzz-folder-XXXXXX", base);
    if (!mkdtemp(scratch))
        fuzz_fail("cannot make a scratch directory under %s", base);
    snprintf(tree, sizeof tree, "%s/t", scratch);
    atexit(remove_scratch);
}

/* The parsers on one name: in range, and blind to case. */
static void check_name(const char *name)
{
    int c = fer_class_parse(name), s = fer_split_parse(name);
    if (c < -1 || c >= FER_NUM_LABELS || s < -1 || s > FER_SPLIT_TEST)
        fuzz_fail("name parsed out of range: class %d, split %d", c, s);
    char up[256];
    size_t n = strnlen(name, sizeof up - 1);
    for (size_t i = 0; i < n; i++)
        up[i] = (char)toupper((unsigned char)name[i]);
    up[n] = '\0';
    if (n == strlen(name) && (fer_class_parse(up) != c || fer_split_parse(up) != s))
        fuzz_fail("name parse depends on case");
}

static void write_file(const char *path, const void *bytes, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return; /* a name the file system refuses (too long, a directory already) */
    if (write(fd, bytes, len) != (ssize_t)len)
        fuzz_fail("write to the scratch tree failed");
    close(fd);
}

/* Makes one entry from a line (kind byte, then the path). */
static void make_entry(const char *line, size_t len)
{
    static const char pgm[] = "P5\n3 2\n255\n\x10\x20\x30\x40\x50\x60";
    char path[4096];
    size_t used = (size_t)snprintf(path, sizeof path, "%s", tree);
    char kind = line[0];
    size_t pos = 1;
    for (int depth = 0; pos < len && depth < MAX_DEPTH; depth++) {
        const char *slash = memchr(line + pos, '/', len - pos);
        size_t n = slash ? (size_t)(slash - (line + pos)) : len - pos;
        char name[256];
        size_t k = n < 255 ? n : 255;
        memcpy(name, line + pos, k);
        name[k] = '\0'; /* a NUL inside ends the name early: the kernel would anyway */
        pos += n + 1;
        if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        check_name(name);
        if (used + 1 + strlen(name) + 1 > sizeof path)
            return;
        used += (size_t)snprintf(path + used, sizeof path - used, "/%s", name);
        int last = pos >= len || depth == MAX_DEPTH - 1;
        if (!last || kind == 'd') {
            mkdir(path, 0755);
            continue;
        }
        if (kind == 'f')
            write_file(path, pgm, sizeof pgm - 1);
        else if (kind == 'g')
            write_file(path, name, strlen(name));
        else if (kind == 'l' && symlink(".", path) < 0)
            return; /* the name exists already */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!scratch[0])
        make_scratch();
    if (size < 1)
        return 0;

    /* The whole input as one name. */
    char *whole = malloc(size);
    if (!whole)
        return 0;
    memcpy(whole, data + 1, size - 1);
    whole[size - 1] = '\0';
    check_name(whole);
    free(whole);

    fer_data_opts o = {.size = 2, .skip_bad = data[0] & 1, .splits = (data[0] >> 1) & 7u};
    rm_tree(tree);
    if (mkdir(tree, 0755) < 0)
        fuzz_fail("cannot make %s: %s", tree, strerror(errno));
    const char *text = (const char *)data + 1, *end = (const char *)data + size;
    for (int entries = 0; text < end && entries < MAX_ENTRIES; entries++) {
        const char *nl = memchr(text, '\n', (size_t)(end - text));
        size_t n = nl ? (size_t)(nl - text) : (size_t)(end - text);
        if (n > 1)
            make_entry(text, n);
        text += n + 1;
    }

    fer_dataset *ds = NULL;
    fer_error err = {0};
    int rc = fer_dataset_load(&ds, tree, &o, &err);
    fuzz_note("folder", rc, err.msg);
    if (rc == 0) {
        for (int i = 0; i < ds->n; i++)
            if (ds->labels[i] >= FER_NUM_LABELS || ds->split[i] > FER_SPLIT_TEST)
                fuzz_fail("image %d: label %d split %d", i, ds->labels[i], ds->split[i]);
        if (!o.skip_bad && ds->skipped)
            fuzz_fail("%d images skipped without skip_bad", ds->skipped);
    } else if (ds) {
        fuzz_fail("a failed load returned a dataset");
    }
    fer_dataset_free(ds);
    rm_tree(tree);
    return 0;
}
