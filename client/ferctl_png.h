/*
 * ferctl_png.h — the JPEG ferd sends, re-encoded as PNG in memory, for
 * `ferctl snapshot -o NAME.png`. Two builds provide it: ferctl_png.c with
 * libjpeg and libpng, and ferctl_png_none.c in a client-only build
 * (-Dclient_only=true, cJSON alone), which refuses with an error that says so
 * and how to get the picture anyway.
 */
#ifndef FERCTL_PNG_H
#define FERCTL_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* 1 when this ferctl can write PNG, 0 in a client-only build: asked before
 * anything is requested from ferd, so a refusal costs nothing. */
int ferctl_png_built(void);

/*
 * Decodes jpeg (len bytes) and encodes it as PNG into *png (malloc'd, *png_len
 * bytes; the caller frees it). 0, or -ENOMEM / FER_E_INVAL (the JPEG does not
 * decode) / -ENOTSUP (this ferctl was built without PNG) with err naming path.
 */
int ferctl_png_from_jpeg(const uint8_t *jpeg, size_t len, uint8_t **png, size_t *png_len,
                         const char *path, fer_error *err);

#endif
