/*
 * folder.c — the image-folder dataset reader: ROOT/{train,val,test}/<class>/<images>.
 *
 * This is the layout most FER2013 re-distributions and other facial-expression
 * sets use. Split folders and class folders are recognised by name through the
 * alias tables of dataset.c ("validation" is val, "happiness" is happy, "3" is
 * happy), so labels come out as canonical FER2013 indices whatever the folder
 * called them. A split folder may be absent and a split may lack classes (a
 * 6-class test set is fine); anything else unexpected is an error that names
 * the offending folder or file, or, with skip_bad, is skipped and counted.
 *
 * Reproducibility: entries are listed with scandir and sorted by strcmp (not
 * the locale's collation), and images are appended split by split, class by
 * class in label order, file by file in name order, so two loads of one tree
 * give the same dataset on any machine. Files are read grey through the OpenCV
 * shim and area-resampled to size x size when they are not already that size.
 * Hidden entries (".DS_Store", "._x.png") and files without an image extension
 * (.png .jpg .jpeg .bmp .pgm, any case) are ignored.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cv/image.h"
#include "data/dataset.h"
#include "data/loaders.h"

/* A sorted directory listing from scandir. */
typedef struct listing {
    struct dirent **e;
    int n;
} listing;

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void listing_free(listing *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->e[i]);
    free(l->e);
    l->e = NULL;
    l->n = 0;
}

static int list_dir(listing *l, const char *dir, fer_error *err)
{
    l->e = NULL;
    l->n = scandir(dir, &l->e, NULL, by_name);
    if (l->n < 0) {
        int e = errno;
        l->n = 0;
        return fer_fail(err, -e, "%s: %s", dir, strerror(e));
    }
    return 0;
}

/* Writes dir/name into out (PATH_MAX bytes). */
static int join(char *out, const char *dir, const char *name, fer_error *err)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || n >= PATH_MAX)
        return fer_fail(err, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
    return 0;
}

/* The file type of an entry at path, asking stat only when readdir did not say
 * (some file systems) or the entry is a symlink, which is followed. */
static int entry_is(const struct dirent *d, const char *path, int dir)
{
    if (d->d_type == DT_DIR)
        return dir;
    if (d->d_type == DT_REG)
        return !dir;
    if (d->d_type != DT_LNK && d->d_type != DT_UNKNOWN)
        return 0;
    struct stat st;
    if (stat(path, &st) < 0)
        return 0;
    return dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
}

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return 0;
    static const char *const exts[] = {".png", ".jpg", ".jpeg", ".bmp", ".pgm"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strcasecmp(dot, exts[i]) == 0)
            return 1;
    return 0;
}

/* Image files of a directory, for counting those skipped with an unknown class. */
static int count_images(const char *dir, int *count, fer_error *err)
{
    listing l;
    char path[PATH_MAX];
    int rc = list_dir(&l, dir, err);
    *count = 0;
    for (int i = 0; rc == 0 && i < l.n; i++) {
        const char *name = l.e[i]->d_name;
        if (name[0] == '.' || !has_image_ext(name))
            continue;
        if ((rc = join(path, dir, name, err)) == 0 && entry_is(l.e[i], path, 0))
            (*count)++;
    }
    listing_free(&l);
    return rc;
}

/*
 * Appends the images of one class folder in name order. A file that cannot be
 * read or decoded fails the load with fer_image_read's message (which names
 * it) or, with skip_bad, is counted in ds->skipped; running out of memory
 * always fails.
 */
static int load_class(fer_dataset *ds, int *cap, const char *dir, int label, int split,
                      const fer_data_opts *opts, fer_error *err)
{
    listing l;
    char path[PATH_MAX];
    size_t per = (size_t)ds->h * (size_t)ds->w;
    int rc = list_dir(&l, dir, err);
    for (int i = 0; rc == 0 && i < l.n; i++) {
        const char *name = l.e[i]->d_name;
        if (name[0] == '.' || !has_image_ext(name))
            continue;
        if ((rc = join(path, dir, name, err)) < 0)
            break;
        if (!entry_is(l.e[i], path, 0))
            continue;

        fer_image img, small;
        fer_error e2;
        rc = fer_image_read(&img, path, 1, &e2);
        if (rc == 0 && (img.w != ds->w || img.h != ds->h)) {
            rc = fer_image_resize(&small, &img, ds->w, ds->h, &e2);
            fer_image_free(&img);
            img = small;
        }
        if (rc < 0) {
            if (opts->skip_bad && rc != -ENOMEM) {
                ds->skipped++;
                rc = 0;
                continue;
            }
            if (err)
                *err = e2;
            break;
        }
        rc = fer_dataset_reserve(ds, cap, ds->n + 1, path, err);
        if (rc == 0) {
            memcpy(ds->pixels + (size_t)ds->n * per, img.data, per);
            ds->labels[ds->n] = (uint8_t)label;
            ds->split[ds->n] = (uint8_t)split;
            ds->row[ds->n] = -1;
            ds->n++;
        }
        fer_image_free(&img);
    }
    listing_free(&l);
    return rc;
}

/*
 * Appends one split folder: its class folders are matched by fer_class_parse
 * and loaded in label order. An unknown class folder is an error naming it
 * (with skip_bad, its images are counted as skipped); two folders meaning the
 * same class ("happy" and "happiness") are always an error, as merging them
 * silently would hide a mistake in the tree.
 */
static int load_split(fer_dataset *ds, int *cap, const char *dir, int split,
                      const fer_data_opts *opts, fer_error *err)
{
    listing l;
    char path[PATH_MAX];
    const char *cls[FER_NUM_LABELS] = {0};
    int rc = list_dir(&l, dir, err);
    for (int i = 0; rc == 0 && i < l.n; i++) {
        const char *name = l.e[i]->d_name;
        if (name[0] == '.')
            continue;
        if ((rc = join(path, dir, name, err)) < 0)
            break;
        if (!entry_is(l.e[i], path, 1))
            continue; /* stray files next to the class folders, e.g. a README */
        int label = fer_class_parse(name);
        if (label < 0) {
            if (!opts->skip_bad) {
                rc = fer_fail(err, FER_E_INVAL,
                              "%s: unknown class folder '%s' (expected angry, disgust, fear, "
                              "happy, sad, surprise, neutral, contempt or an alias of one)",
                              path, name);
                break;
            }
            int skipped;
            if ((rc = count_images(path, &skipped, err)) == 0)
                ds->skipped += skipped;
            continue;
        }
        if (cls[label]) {
            rc = fer_fail(err, FER_E_INVAL, "%s: class folders '%s' and '%s' are both %s", dir,
                          cls[label], name, fer_class_names[label]);
            break;
        }
        cls[label] = name;
    }
    for (int c = 0; rc == 0 && c < FER_NUM_LABELS; c++) {
        if (!cls[c])
            continue;
        if ((rc = join(path, dir, cls[c], err)) == 0)
            rc = load_class(ds, cap, path, c, split, opts, err);
    }
    listing_free(&l);
    return rc;
}

/*
 * Contract: see loaders.h. Finds the split folders of root by name (any alias
 * fer_split_parse knows, e.g. train/training, val/validation/valid, test), then
 * loads the requested ones that exist. A root with no split folder at all is
 * FER_E_INVAL, since it is most likely a split or class folder given by mistake;
 * two folders for one split ("val" and "validation") are FER_E_INVAL too.
 */
int fer_dataset_load_folder(fer_dataset *ds, int *cap, const char *root,
                            const fer_data_opts *opts, fer_error *err)
{
    listing l;
    char path[PATH_MAX];
    const char *names[3] = {0};
    int found = 0;
    int rc = list_dir(&l, root, err);
    for (int i = 0; rc == 0 && i < l.n; i++) {
        const char *name = l.e[i]->d_name;
        int s = fer_split_parse(name);
        if (name[0] == '.' || s < 0)
            continue;
        if ((rc = join(path, root, name, err)) < 0)
            break;
        if (!entry_is(l.e[i], path, 1))
            continue;
        if (names[s]) {
            rc = fer_fail(err, FER_E_INVAL, "%s: folders '%s' and '%s' are both the same split",
                          root, names[s], name);
            break;
        }
        names[s] = name;
        found++;
    }
    if (rc == 0 && found == 0)
        rc = fer_fail(err, FER_E_INVAL,
                      "%s: no split folder (train/, val/ or test/); expected "
                      "ROOT/{train,val,test}/<class>/<images>",
                      root);
    for (int s = 0; rc == 0 && s < 3; s++) {
        if (!names[s] || !(opts->splits & (1u << s)))
            continue;
        if ((rc = join(path, root, names[s], err)) == 0)
            rc = load_split(ds, cap, path, s, opts, err);
    }
    listing_free(&l);
    return rc;
}
