/*
 * ferctl_image.c — see ferctl_image.h.
 *
 * A .png name gets the JPEG converted in memory (ferctl_png.c), and either
 * format goes out through the project's atomic writer, so a reader never sees
 * half a file.
 */
#include "ferctl_image.h"
#include "ferctl_png.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/fileio.h"

ferctl_image_format ferctl_image_format_of(const char *path)
{
    if (strcmp(path, "-") == 0)
        return FERCTL_IMAGE_JPEG;
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return FERCTL_IMAGE_UNKNOWN;
    if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0)
        return FERCTL_IMAGE_JPEG;
    if (strcasecmp(dot, ".png") == 0)
        return FERCTL_IMAGE_PNG;
    return FERCTL_IMAGE_UNKNOWN;
}

static int write_stdout(const uint8_t *p, size_t n, fer_error *err)
{
    while (n) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return fer_fail(err, -errno, "standard output: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int ferctl_image_write(const char *path, ferctl_image_format fmt, const uint8_t *jpeg,
                       size_t len, fer_error *err)
{
    if (fmt == FERCTL_IMAGE_JPEG) {
        if (strcmp(path, "-") == 0)
            return write_stdout(jpeg, len, err);
        const void *bufs[1] = {jpeg};
        return fer_write_atomic(path, bufs, &len, 1, err);
    }
    if (fmt != FERCTL_IMAGE_PNG)
        return fer_fail(err, -EINVAL, "%s: not a picture name ferctl knows", path);
    uint8_t *png = NULL;
    size_t png_len = 0;
    int rc = ferctl_png_from_jpeg(jpeg, len, &png, &png_len, path, err);
    if (rc == 0) {
        const void *bufs[1] = {png};
        rc = fer_write_atomic(path, bufs, &png_len, 1, err);
    }
    free(png);
    return rc;
}
