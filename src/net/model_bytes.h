/*
 * model_bytes.h — what the .fermodel reader and writer share: the fixed
 * layout constants and little-endian, CRC and alignment helpers.
 * Private to src/net/model_*.c.
 */
#ifndef FER_MODEL_BYTES_H
#define FER_MODEL_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "net/model.h"

#define HEADER_MAX (16u << 20)
#define DATA_ALIGN 64
#define FIXED_HEADER 16
#define MAX_TENSORS (4 * FER_MAX_LAYERS)
#define MAX_JSON_INT 9007199254740992.0 /* 2^53: larger doubles are not exact integers */

_Static_assert(sizeof(float) == sizeof(uint32_t), "float must be 32 bits");

static inline uint32_t get_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put_u32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* zlib's crc32 over any length (its length argument is a uInt). */
static inline uint32_t crc_update(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        crc = (uint32_t)crc32(crc, p, n);
        p += n;
        len -= n;
    }
    return crc;
}

static inline size_t align_up(size_t n)
{
    return (n + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
}

/* A class name: 1..31 bytes, no control bytes. */
static inline int valid_class_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= FER_MAX_CLASS_NAME)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

/* The file image of m in a malloc'd buffer of exactly *len bytes; name is what
 * error messages call the destination. (model_write.c) */
int fer_model_serialize(const fer_model *m, const char *name, uint8_t **buf, size_t *len,
                        fer_error *err);

#endif
