/*
 * parity_fixture.c — reads a .fert fixture (see parity_fixture.h) into memory.
 *
 * The file is read whole and parsed in two passes: the first checks every record
 * against the file size and counts the elements, the second copies each tensor's
 * data into one aligned block (records in the file are not 4-byte aligned). The host
 * is assumed little-endian, as the engine itself assumes for .fermodel data.
 */
#include "parity_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_whole(const char *path, unsigned char **buf, size_t *len, fer_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fer_fail(err, -errno, "%s: %s", path, strerror(errno));
    unsigned char *b = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            unsigned char *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                fclose(f);
                return fer_fail(err, -ENOMEM, "%s: out of memory", path);
            }
            b = nb;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return fer_fail(err, -EIO, "%s: read error", path);
    }
    *buf = b;
    *len = n;
    return 0;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Walks the tensor records from pos. With t == NULL only validates and returns the
 * element total in *total; otherwise fills t[] and copies data into blob. */
static int walk(const unsigned char *buf, size_t len, size_t pos, int count, pfx_tensor *t,
                float *blob, size_t *total, const char *path, fer_error *err)
{
    size_t elems = 0;
    for (int k = 0; k < count; k++) {
        if (len - pos < 2)
            return fer_fail(err, FER_E_TRUNCATED, "%s: truncated in tensor %d", path, k);
        size_t nl = get_u16(buf + pos);
        pos += 2;
        if (len - pos < nl + 6)
            return fer_fail(err, FER_E_TRUNCATED, "%s: truncated in tensor %d", path, k);
        if (nl == 0 || nl >= sizeof t->name)
            return fer_fail(err, FER_E_INVAL, "%s: tensor %d: name length %zu", path, k, nl);
        const unsigned char *name = buf + pos;
        pos += nl;
        unsigned dtype = get_u16(buf + pos);
        uint32_t ndim = get_u32(buf + pos + 2);
        pos += 6;
        if (dtype > PFX_I32 || ndim > 4)
            return fer_fail(err, FER_E_INVAL, "%s: tensor %.*s: dtype %u, ndim %u", path,
                            (int)nl, (const char *)name, dtype, (unsigned)ndim);
        if (len - pos < 4 * (size_t)ndim)
            return fer_fail(err, FER_E_TRUNCATED, "%s: truncated in tensor %d", path, k);
        size_t n = 1;
        int shape[4] = {0, 0, 0, 0};
        for (uint32_t d = 0; d < ndim; d++) {
            uint32_t v = get_u32(buf + pos + 4 * d);
            if (v > (1u << 30) || (v && n > ((size_t)1 << 32) / v))
                return fer_fail(err, FER_E_INVAL, "%s: tensor %.*s: dimension too large",
                                path, (int)nl, (const char *)name);
            shape[d] = (int)v;
            n *= v;
        }
        pos += 4 * (size_t)ndim;
        if ((len - pos) / 4 < n)
            return fer_fail(err, FER_E_TRUNCATED, "%s: tensor %.*s: data truncated", path,
                            (int)nl, (const char *)name);
        if (t) {
            memcpy(t[k].name, name, nl);
            t[k].name[nl] = '\0';
            t[k].dtype = (int)dtype;
            t[k].ndim = (int)ndim;
            memcpy(t[k].shape, shape, sizeof shape);
            t[k].count = n;
            t[k].data.f = blob + elems;
            memcpy(blob + elems, buf + pos, 4 * n);
        }
        pos += 4 * n;
        elems += n;
    }
    if (pos != len)
        return fer_fail(err, FER_E_TRAILING, "%s: %zu bytes after the last tensor", path,
                        len - pos);
    *total = elems;
    return 0;
}

int pfx_load(pfx_fixture **out, const char *path, fer_error *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int r = read_whole(path, &buf, &len, err);
    if (r < 0)
        return r;
    pfx_fixture *f = NULL;
    if (len < 12 || memcmp(buf, "FERT", 4) != 0) {
        r = fer_fail(err, FER_E_NOT_MODEL, "%s: not a .fert fixture (bad magic)", path);
        goto out;
    }
    if (get_u32(buf + 4) != 1) {
        r = fer_fail(err, FER_E_VERSION, "%s: fixture version %u, this reader reads 1", path,
                     (unsigned)get_u32(buf + 4));
        goto out;
    }
    size_t clen = get_u32(buf + 8);
    if (len - 12 < clen || len - 12 - clen < 4) {
        r = fer_fail(err, FER_E_TRUNCATED, "%s: truncated header", path);
        goto out;
    }
    size_t pos = 12 + clen;
    uint32_t count = get_u32(buf + pos);
    pos += 4;
    if (count > 100000) {
        r = fer_fail(err, FER_E_INVAL, "%s: %u tensors", path, (unsigned)count);
        goto out;
    }
    size_t total = 0;
    r = walk(buf, len, pos, (int)count, NULL, NULL, &total, path, err);
    if (r < 0)
        goto out;
    f = calloc(1, sizeof *f);
    if (!f || !(f->comment = malloc(clen + 1)) ||
        !(f->tensors = calloc(count ? count : 1, sizeof *f->tensors)) ||
        !(f->blob = malloc(total ? 4 * total : 4))) {
        r = fer_fail(err, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    memcpy(f->comment, buf + 12, clen);
    f->comment[clen] = '\0';
    f->count = (int)count;
    r = walk(buf, len, pos, (int)count, f->tensors, f->blob, &total, path, err);
    if (r < 0)
        goto out;
    *out = f;
    f = NULL;
out:
    pfx_free(f);
    free(buf);
    return r;
}

const pfx_tensor *pfx_find(const pfx_fixture *f, const char *name)
{
    for (int k = 0; k < f->count; k++)
        if (!strcmp(f->tensors[k].name, name))
            return &f->tensors[k];
    return NULL;
}

void pfx_free(pfx_fixture *f)
{
    if (!f)
        return;
    free(f->comment);
    free(f->tensors);
    free(f->blob);
    free(f);
}
