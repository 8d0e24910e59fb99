/*
 * contrast.c — histogram equalisation and CLAHE on 8-bit grey faces (the
 * semantics, OpenCV's, are in contrast.h).
 *
 * Design: no allocation and no OpenCV, so the pipeline's inference thread and
 * the trainer's batch-preparation thread call it per face. CLAHE keeps its tile
 * look-up tables on the stack (at most 16 x 16 tiles x 256 bytes = 64 KiB) and
 * reads the reflect-101 extension through an index function instead of building
 * the extended image. The float expressions are written in the order OpenCV
 * evaluates them (float, not double; no fused multiply-add under ISO C11), which
 * is what makes the results match cv2's byte for byte.
 */
#include "vision/contrast.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* OpenCV's saturate_cast<uchar>(float): round half to even, then clamp. */
static uint8_t sat_u8(float v)
{
    long r = lrintf(v);
    return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

void fer_histeq(uint8_t *img, size_t n)
{
    if (n == 0)
        return;
    size_t hist[256] = {0};
    for (size_t k = 0; k < n; k++)
        hist[img[k]]++;
    int i = 0;
    while (!hist[i])
        i++;
    if (hist[i] == n)
        return; /* one grey level: OpenCV leaves it as it is */
    const float scale = 255.0f / (float)(n - hist[i]);
    uint8_t lut[256];
    memset(lut, 0, sizeof lut);
    size_t sum = 0;
    for (int v = i + 1; v < 256; v++) {
        sum += hist[v];
        lut[v] = sat_u8((float)sum * scale);
    }
    for (size_t k = 0; k < n; k++)
        img[k] = lut[img[k]];
}

/* Reflect-101 index into 0 .. len-1 for i in 0 .. 2 len - 2 (only the right or bottom
 * extension occurs here): len reads len-2, len+1 reads len-3, ... */
static int reflect101(int i, int len)
{
    return i < len ? i : 2 * (len - 1) - i;
}

int fer_clahe(uint8_t *img, int h, int w, float clip, int tiles)
{
    if (tiles < 1 || tiles > FER_CLAHE_MAX_TILES || !(clip >= 0.0f && clip <= FER_CLAHE_MAX_CLIP) ||
        w < 2 * tiles || h < 2 * tiles)
        return -EINVAL;
    /* OpenCV extends both sides whenever either is not a multiple of the grid, and by a
     * whole extra tile on a side that already is one. */
    int ext_w = w, ext_h = h;
    if (w % tiles || h % tiles) {
        ext_w = w + tiles - w % tiles;
        ext_h = h + tiles - h % tiles;
    }
    const int tw = ext_w / tiles, th = ext_h / tiles, total = tw * th;
    const float lut_scale = 255.0f / (float)total;
    int limit = 0;
    if (clip > 0.0f) {
        limit = (int)((double)clip * total / 256);
        if (limit < 1)
            limit = 1;
    }

    uint8_t lut[FER_CLAHE_MAX_TILES * FER_CLAHE_MAX_TILES * 256]; /* (tile, level) */
    for (int ty = 0; ty < tiles; ty++) {
        for (int tx = 0; tx < tiles; tx++) {
            int hist[256] = {0};
            for (int y = ty * th; y < (ty + 1) * th; y++) {
                const uint8_t *row = img + (size_t)reflect101(y, h) * w;
                for (int x = tx * tw; x < (tx + 1) * tw; x++)
                    hist[row[reflect101(x, w)]]++;
            }
            if (limit > 0) {
                int clipped = 0;
                for (int i = 0; i < 256; i++) {
                    if (hist[i] > limit) {
                        clipped += hist[i] - limit;
                        hist[i] = limit;
                    }
                }
                int batch = clipped / 256, residual = clipped - batch * 256;
                for (int i = 0; i < 256; i++)
                    hist[i] += batch;
                if (residual) {
                    int step = 256 / residual > 1 ? 256 / residual : 1;
                    for (int i = 0; i < 256 && residual > 0; i += step, residual--)
                        hist[i]++;
                }
            }
            uint8_t *t = lut + (size_t)(ty * tiles + tx) * 256;
            int sum = 0;
            for (int i = 0; i < 256; i++) {
                sum += hist[i];
                t[i] = sat_u8((float)sum * lut_scale);
            }
        }
    }

    /* Every output depends only on its own source pixel and the LUTs, so the image is
     * rewritten in place. */
    const float inv_tw = 1.0f / (float)tw, inv_th = 1.0f / (float)th;
    for (int y = 0; y < h; y++) {
        float tyf = (float)y * inv_th - 0.5f;
        int ty1 = (int)floorf(tyf), ty2 = ty1 + 1;
        float ya = tyf - (float)ty1, ya1 = 1.0f - ya;
        ty1 = ty1 < 0 ? 0 : ty1;
        ty2 = ty2 > tiles - 1 ? tiles - 1 : ty2;
        uint8_t *row = img + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            float txf = (float)x * inv_tw - 0.5f;
            int tx1 = (int)floorf(txf), tx2 = tx1 + 1;
            float xa = txf - (float)tx1, xa1 = 1.0f - xa;
            tx1 = tx1 < 0 ? 0 : tx1;
            tx2 = tx2 > tiles - 1 ? tiles - 1 : tx2;
            const int v = row[x];
            const uint8_t *p1 = lut + (size_t)ty1 * tiles * 256, *p2 = lut + (size_t)ty2 * tiles * 256;
            float res = ((float)p1[tx1 * 256 + v] * xa1 + (float)p1[tx2 * 256 + v] * xa) * ya1 +
                        ((float)p2[tx1 * 256 + v] * xa1 + (float)p2[tx2 * 256 + v] * xa) * ya;
            row[x] = sat_u8(res);
        }
    }
    return 0;
}

int fer_contrast_apply(uint8_t *img, int h, int w, const fer_contrast *c)
{
    switch (c->mode) {
    case FER_CONTRAST_NONE:
        return 0;
    case FER_CONTRAST_HISTEQ:
        fer_histeq(img, (size_t)h * (size_t)w);
        return 0;
    case FER_CONTRAST_CLAHE:
        return fer_clahe(img, h, w, c->clip, c->tiles);
    default:
        return -EINVAL;
    }
}
