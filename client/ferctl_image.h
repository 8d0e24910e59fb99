/*
 * ferctl_image.h — the picture `ferctl snapshot -o FILE` writes, in the format
 * its name asks for. ferd sends JPEG; a .jpg or .jpeg name gets those bytes as
 * they are, a .png name gets them decoded (libjpeg) and written as PNG
 * (libpng), and "-" means stdout (JPEG). ferctl links these two small
 * libraries, not OpenCV: a headless server's client has no business loading
 * a vision library to save a file.
 */
#ifndef FERCTL_IMAGE_H
#define FERCTL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef enum ferctl_image_format {
    FERCTL_IMAGE_UNKNOWN = -1,
    FERCTL_IMAGE_JPEG,
    FERCTL_IMAGE_PNG,
} ferctl_image_format;

/* The format a name asks for: JPEG for "-" and .jpg/.jpeg, PNG for .png (any
 * case), FERCTL_IMAGE_UNKNOWN otherwise. */
ferctl_image_format ferctl_image_format_of(const char *path);

/*
 * Writes jpeg (len bytes) to path in fmt: stdout for "-", else atomically (a
 * temporary beside path, renamed over it). 0, or -errno / FER_E_INVAL (the
 * JPEG does not decode) with err naming the path.
 */
int ferctl_image_write(const char *path, ferctl_image_format fmt, const uint8_t *jpeg,
                       size_t len, fer_error *err);

#endif
