/*
 * augment.c — the geometric warp is built as the inverse map from output to
 * input pixel (centre-relative: un-shift, un-rotate, un-scale, un-flip) so each
 * output pixel is sampled exactly once by bilinear interpolation; pixels mapping
 * outside the source read 0, like zero padding.
 */
#include "train/augment.h"

#include <math.h>
#include <string.h>

#include "nn/layers.h"
#include "vision/preprocess.h"

void fer_augment_default(fer_augment *a)
{
    a->enabled = 1;
    a->flip = 0.5f;
    a->shift = 4.0f;
    a->rotate = 10.0f;
    a->scale_min = 0.9f;
    a->scale_max = 1.1f;
    a->brightness = 0.2f;
    a->contrast = 0.2f;
    a->erase = 0.5f;
    a->erase_min = 0.02f;
    a->erase_max = 0.33f;
}

void fer_augment_none(fer_augment *a)
{
    memset(a, 0, sizeof *a);
    a->scale_min = a->scale_max = 1.0f;
}

uint64_t fer_augment_seed(uint64_t seed, int epoch, int index)
{
    uint64_t s = seed ^ ((uint64_t)(uint32_t)epoch << 32 | (uint32_t)index);
    /* Two rounds decorrelate neighbouring (epoch, index) pairs. */
    fer_rng_next(&s);
    return fer_rng_next(&s);
}


/* Uniform in [lo, hi). */
static float urange(uint64_t *rng, float lo, float hi)
{
    return lo + (hi - lo) * fer_rng_uniform(rng);
}

/* Bilinear sample of in at (x, y), 0 outside. */
static float sample(const uint8_t *in, int h, int w, float x, float y)
{
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    float fx = x - (float)x0, fy = y - (float)y0;
    float v = 0.0f;
    for (int dy = 0; dy < 2; dy++) {
        int yy = y0 + dy;
        if (yy < 0 || yy >= h)
            continue;
        float wy = dy ? fy : 1.0f - fy;
        for (int dx = 0; dx < 2; dx++) {
            int xx = x0 + dx;
            if (xx < 0 || xx >= w)
                continue;
            float wx = dx ? fx : 1.0f - fx;
            v += wx * wy * (float)in[yy * w + xx];
        }
    }
    return v;
}

void fer_augment_pixels(float *pix, fer_erase_box *box, const uint8_t *in, int h, int w,
                        const fer_augment *a, uint64_t rng)
{
    const int n = h * w;
    memset(box, 0, sizeof *box);
    if (!a->enabled) {
        for (int i = 0; i < n; i++)
            pix[i] = (float)in[i];
        return;
    }
    /* Draw every parameter up front, in a fixed order, so the stream is reproducible. */
    int flip = fer_rng_uniform(&rng) < a->flip;
    float ang = urange(&rng, -a->rotate, a->rotate) * (float)M_PI / 180.0f;
    float scale = urange(&rng, a->scale_min, a->scale_max);
    float tx = roundf(urange(&rng, -a->shift, a->shift));
    float ty = roundf(urange(&rng, -a->shift, a->shift));
    float bright = urange(&rng, -a->brightness, a->brightness) * 255.0f;
    float gain = 1.0f + urange(&rng, -a->contrast, a->contrast);
    int erase = fer_rng_uniform(&rng) < a->erase;
    float ea = urange(&rng, a->erase_min, a->erase_max) * (float)n;
    float er = expf(urange(&rng, logf(0.3f), logf(3.3f)));
    float eu = fer_rng_uniform(&rng), ev = fer_rng_uniform(&rng);

    /* Inverse map: output (u, v) relative to the centre -> source (x, y). */
    const float cx = (float)(w - 1) * 0.5f, cy = (float)(h - 1) * 0.5f;
    const float c = cosf(ang) / scale, s = sinf(ang) / scale;
    double sum = 0.0;
    for (int v = 0; v < h; v++) {
        for (int u = 0; u < w; u++) {
            float du = (float)u - cx - tx, dv = (float)v - cy - ty;
            float x = c * du + s * dv, y = -s * du + c * dv;
            if (flip)
                x = -x;
            float p = sample(in, h, w, x + cx, y + cy);
            pix[v * w + u] = p;
            sum += p;
        }
    }
    /* Contrast about the image mean, then brightness, clamped to the 8-bit range. */
    const float m = (float)(sum / n);
    for (int i = 0; i < n; i++) {
        float p = (pix[i] - m) * gain + m + bright;
        pix[i] = p < 0.0f ? 0.0f : p > 255.0f ? 255.0f : p;
    }
    if (erase) {
        int eh = (int)lroundf(sqrtf(ea * er)), ew = (int)lroundf(sqrtf(ea / er));
        if (eh > 0 && ew > 0 && eh < h && ew < w) {
            box->y0 = (int)(eu * (float)(h - eh + 1));
            box->x0 = (int)(ev * (float)(w - ew + 1));
            box->h = eh;
            box->w = ew;
        }
    }
}

int fer_augment_finish(float *out, uint8_t *work, const float *pix, const fer_erase_box *box,
                       int h, int w, const fer_preproc *pre)
{
    const int n = h * w;
    if (pre->contrast.mode != FER_CONTRAST_NONE) {
        for (int i = 0; i < n; i++)
            work[i] = (uint8_t)(pix[i] + 0.5f); /* rounded as the pipeline rounds its crop */
        int rc = fer_input_from_face(out, work, h, w, pre, NULL);
        if (rc < 0)
            return rc;
    } else {
        /* fer_normalise's arithmetic, on the unrounded pixels. */
        const float a1 = 1.0f / (255.0f * pre->std), b1 = -pre->mean / pre->std;
        for (int i = 0; i < n; i++)
            out[i] = pix[i] * a1 + b1;
    }
    for (int y = box->y0; y < box->y0 + box->h; y++)
        memset(out + y * w + box->x0, 0, (size_t)box->w * sizeof(float));
    return 0;
}

int fer_augment_apply(float *out, uint8_t *work, const uint8_t *in, int h, int w,
                      const fer_augment *a, const fer_preproc *pre, uint64_t rng)
{
    fer_erase_box box;
    fer_augment_pixels(out, &box, in, h, w, a, rng);
    return fer_augment_finish(out, work, out, &box, h, w, pre);
}
