/*
 * ferctl_png_none.c — ferctl_png.h for a client-only build, which links cJSON
 * alone and so has no JPEG decoder or PNG encoder: a .png name is refused with
 * what to do instead, before anything is written.
 */
#include "ferctl_png.h"

#include <errno.h>

int ferctl_png_built(void)
{
    return 0;
}

int ferctl_png_from_jpeg(const uint8_t *jpeg, size_t len, uint8_t **png, size_t *png_len,
                         const char *path, fer_error *err)
{
    (void)jpeg;
    (void)len;
    *png = NULL;
    *png_len = 0;
    return fer_fail(err, -ENOTSUP,
                    "%s: this ferctl was built without libjpeg and libpng (a client-only "
                    "build), so it writes JPEG only: name the file .jpg", path);
}
