/*
 * loaders.h — private interface between dataset.c and its two source readers.
 *
 * Not installed and not for use outside src/data/. dataset.c validates the
 * options, allocates an empty fer_dataset and dispatches on the kind of path;
 * csv.c and folder.c append images to it through fer_dataset_reserve and leave
 * it consistent (n images in every array) even when they fail, so the caller
 * can simply fer_dataset_free it.
 */
#ifndef FER_DATA_LOADERS_H
#define FER_DATA_LOADERS_H

#include "data/dataset.h"

/* Ensures room for `need` images in ds's three arrays, whose current capacity is
 * *cap images; grows geometrically and updates *cap. -ENOMEM (message naming
 * path) on failure, leaving ds and *cap unchanged. */
int fer_dataset_reserve(fer_dataset *ds, int *cap, int need, const char *path,
                        fer_error *err);

/* Each appends the images of the requested splits to ds (n == 0, h == w == opts->size).
 * opts is already validated: size > 0, splits != 0. */
int fer_dataset_load_csv(fer_dataset *ds, int *cap, const char *path,
                         const fer_data_opts *opts, fer_error *err);
int fer_dataset_load_folder(fer_dataset *ds, int *cap, const char *path,
                            const fer_data_opts *opts, fer_error *err);

#endif
