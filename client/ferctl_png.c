/*
 * ferctl_png.c — see ferctl_png.h: the JPEG ferd sends, as a PNG in memory.
 *
 * libjpeg decodes the daemon's bytes into RGB rows in memory (errors through a
 * setjmp error manager, so a corrupt picture is an error code, never an exit)
 * and libpng encodes them into a memory buffer. A picture is bounded by the
 * protocol's line limit (4 MiB of base64), so holding it decoded is a few MiB
 * at most.
 */
#include "ferctl_png.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

/* ---- JPEG decoding ---- */

typedef struct jpeg_fail {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_fail;

static void on_jpeg_error(j_common_ptr cinfo)
{
    jpeg_fail *f = (jpeg_fail *)cinfo->err;
    f->mgr.format_message(cinfo, f->msg);
    longjmp(f->jump, 1);
}

static void quiet_jpeg_message(j_common_ptr cinfo)
{
    (void)cinfo; /* warnings of a recoverable picture: not worth a line */
}

/* Decodes jpeg into *rgb (w*h*3, malloc'd). */
static int decode_jpeg(const uint8_t *jpeg, size_t len, uint8_t **rgb, int *w, int *h,
                       const char *path, fer_error *err)
{
    struct jpeg_decompress_struct ci;
    jpeg_fail fail;
    /* volatile: assigned between setjmp and a possible longjmp. */
    uint8_t *volatile out = NULL;
    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&fail.mgr);
    fail.mgr.error_exit = on_jpeg_error;
    fail.mgr.output_message = quiet_jpeg_message;
    if (setjmp(fail.jump)) {
        jpeg_destroy_decompress(&ci);
        free(out);
        return fer_fail(err, FER_E_INVAL, "%s: the picture ferd sent does not decode: %s",
                        path, fail.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, (const unsigned char *)jpeg, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    ci.out_color_space = JCS_RGB;
    jpeg_start_decompress(&ci);
    if (ci.output_width == 0 || ci.output_height == 0 || ci.output_width > 16384 ||
        ci.output_height > 16384 || ci.output_components != 3) {
        jpeg_destroy_decompress(&ci);
        return fer_fail(err, FER_E_INVAL, "%s: the picture ferd sent is %ux%u with %d channels",
                        path, ci.output_width, ci.output_height, ci.output_components);
    }
    size_t stride = (size_t)ci.output_width * 3;
    out = malloc(stride * ci.output_height);
    if (!out) {
        jpeg_destroy_decompress(&ci);
        return fer_fail(err, -ENOMEM, "%s: out of memory", path);
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = out + stride * ci.output_scanline;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_decompress(&ci);
    *w = (int)ci.output_width;
    *h = (int)ci.output_height;
    jpeg_destroy_decompress(&ci);
    *rgb = out;
    return 0;
}

/* ---- PNG encoding into memory ---- */

typedef struct membuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
} membuf;

static void png_put(png_structp png, png_bytep data, png_size_t n)
{
    membuf *b = png_get_io_ptr(png);
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 65536;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void png_flush_nothing(png_structp png)
{
    (void)png;
}

static int encode_png(const uint8_t *rgb, int w, int h, membuf *b, const char *path,
                      fer_error *err)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return fer_fail(err, -ENOMEM, "%s: out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return fer_fail(err, FER_E_INVAL, "%s: PNG encoding failed", path);
    }
    png_set_write_fn(png, b, png_put, png_flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(rgb + (size_t)y * w * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (b->oom)
        return fer_fail(err, -ENOMEM, "%s: out of memory", path);
    return 0;
}

int ferctl_png_built(void)
{
    return 1;
}

int ferctl_png_from_jpeg(const uint8_t *jpeg, size_t len, uint8_t **png, size_t *png_len,
                         const char *path, fer_error *err)
{
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    int rc = decode_jpeg(jpeg, len, &rgb, &w, &h, path, err);
    if (rc < 0)
        return rc;
    membuf b = {0};
    rc = encode_png(rgb, w, h, &b, path, err);
    free(rgb);
    if (rc < 0) {
        free(b.p);
        return rc;
    }
    *png = b.p;
    *png_len = b.len;
    return 0;
}
