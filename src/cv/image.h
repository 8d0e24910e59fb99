/*
 * image.h — 8-bit images in plain C, and their file I/O through OpenCV.
 *
 * This header exposes no OpenCV type: the decoding and encoding live in the
 * C++ shim image_io.cpp, which catches every exception at its boundary and
 * returns an error code. Pixel data is malloc'd and owned by the struct.
 */
#ifndef FER_IMAGE_H
#define FER_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct fer_image {
    int w, h;          /* size in pixels */
    int channels;      /* 1 = grey, 3 = BGR (OpenCV's order) */
    uint8_t *data;     /* h rows of w*channels bytes, no padding */
} fer_image;

/* Allocates a zeroed w x h image with the given channels. -ENOMEM, -EINVAL. */
int fer_image_alloc(fer_image *img, int w, int h, int channels);
/* Frees the pixels and zeroes the struct; accepts NULL and an empty image. */
void fer_image_free(fer_image *img);

/* The most pixels (width x height) the readers decode unless told otherwise:
 * 40 megapixels (120 MB as BGR), above any camera or phone photo of a face. */
#define FER_IMAGE_MAX_PIXELS 40000000LL

/* Decodes PNG, JPEG, BMP, PNM or WebP (by content, not extension; OpenCV's other
 * formats are refused). grey = 1 converts to one channel, else BGR.
 * img is overwritten (not freed first) and left empty on failure.
 * Errors: -ENOENT/-EACCES (from the open), FER_E_INVAL (not a regular file, not a
 * decodable image, truncated or corrupt), -EFBIG (its header states more than
 * FER_IMAGE_MAX_PIXELS pixels: refused before decoding), each with err->msg
 * naming path. */
int fer_image_read(fer_image *img, const char *path, int grey, fer_error *err);
/* The same with the bound on decoded pixels given (<= 0: FER_IMAGE_MAX_PIXELS). */
int fer_image_read_max(fer_image *img, const char *path, int grey, long long max_pixels,
                       fer_error *err);
/* Decodes an image held in memory. */
int fer_image_decode(fer_image *img, const void *buf, size_t len, int grey, fer_error *err);
int fer_image_decode_max(fer_image *img, const void *buf, size_t len, int grey,
                         long long max_pixels, fer_error *err);

/* Encodes by path extension (.png, .jpg/.jpeg, .bmp, .pgm) and writes atomically
 * (temp file, fsync, rename). */
int fer_image_write(const fer_image *img, const char *path, fer_error *err);
/* JPEG-encodes into a malloc'd buffer (*buf, *len), quality 1..100. */
int fer_image_encode_jpeg(const fer_image *img, int quality, uint8_t **buf, size_t *len,
                          fer_error *err);

/* Resamples src to a fresh w x h image in dst (same channels) with OpenCV's area
 * interpolation, the right filter for shrinking faces. dst must not alias src and is
 * overwritten without being freed. -EINVAL (bad size or empty src), -ENOMEM. */
int fer_image_resize(fer_image *dst, const fer_image *src, int w, int h, fer_error *err);

#endif
