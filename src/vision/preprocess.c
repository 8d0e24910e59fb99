/*
 * preprocess.c — crop geometry, edge-repeating crop, area/bilinear resampling,
 * grey conversion and normalisation (the contract is in preprocess.h).
 *
 * The resampler is separable and needs no allocation: for each output row it
 * sums the horizontally resampled source rows that the row covers, each source
 * row resampled on the fly into a stack buffer. Shrinking a face touches each
 * source row at most twice; enlarging re-reads a few rows, which is cheap
 * because an enlarged crop is small. Weights are computed as they are used, so
 * any crop size works without a table sized for the largest face.
 */
#include "vision/preprocess.h"

#include "vision/contrast.h"

#include <errno.h>
#include <math.h>
#include <string.h>


fer_box fer_crop_box(fer_box box, const fer_preproc *pre)
{
    double m = pre->margin > 0 ? pre->margin : 0.0;
    double w = box.w * (1.0 + 2.0 * m), h = box.h * (1.0 + 2.0 * m);
    if (pre->square)
        w = h = w > h ? w : h;
    double cx = box.x + box.w / 2.0, cy = box.y + box.h / 2.0;
    fer_box c;
    c.w = (int)lround(w);
    c.h = (int)lround(h);
    if (c.w < 1)
        c.w = 1;
    if (c.h < 1)
        c.h = 1;
    c.x = (int)lround(cx - c.w / 2.0);
    c.y = (int)lround(cy - c.h / 2.0);
    return c;
}

void fer_grey_from_bgr(uint8_t *dst, const uint8_t *bgr, size_t npix)
{
    /* 0.114 B + 0.587 G + 0.299 R in 14-bit fixed point, rounded: OpenCV's
     * cvtColor(BGR2GRAY) for 8-bit images gives the same bytes. */
    for (size_t i = 0; i < npix; i++, bgr += 3)
        dst[i] = (uint8_t)((bgr[0] * 1868u + bgr[1] * 9617u + bgr[2] * 4899u + 8192u) >> 14);
}

int fer_image_to_grey(fer_image *dst, const fer_image *src, fer_error *err)
{
    if (!src || !src->data || (src->channels != 1 && src->channels != 3))
        return fer_fail(err, -EINVAL, "fer_image_to_grey: empty or malformed image");
    if (dst->w != src->w || dst->h != src->h || dst->channels != 1 || !dst->data) {
        fer_image_free(dst);
        int rc = fer_image_alloc(dst, src->w, src->h, 1);
        if (rc < 0)
            return fer_fail(err, rc, "fer_image_to_grey: cannot hold a %dx%d image", src->w,
                            src->h);
    }
    size_t n = (size_t)src->w * (size_t)src->h;
    if (src->channels == 1)
        memcpy(dst->data, src->data, n);
    else
        fer_grey_from_bgr(dst->data, src->data, n);
    return 0;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/*
 * The source taps of output index i along an axis of src_len crop pixels mapped
 * onto dst_len: up to max_taps (index, weight) pairs with weights summing to 1,
 * indices in 0 .. src_len-1 (crop coordinates). Returns the count.
 */
static int taps(int i, int src_len, int dst_len, int area, int *idx, float *wt, int max_taps)
{
    double scale = (double)src_len / dst_len;
    if (area && scale > 1.0) {
        /* Output pixel i covers [i*scale, (i+1)*scale) of the source. */
        double a = i * scale, b = (i + 1) * scale;
        int j0 = (int)floor(a), j1 = (int)ceil(b);
        int n = 0;
        for (int j = j0; j < j1 && n < max_taps; j++) {
            double lo = a > j ? a : j, hi = b < j + 1 ? b : j + 1;
            if (hi > lo) {
                idx[n] = clampi(j, 0, src_len - 1);
                wt[n++] = (float)((hi - lo) / scale);
            }
        }
        return n;
    }
    /* Bilinear, pixel centres aligned; positions before the first or after the last
     * source centre take the edge pixel. */
    double f = (i + 0.5) * scale - 0.5;
    if (f < 0)
        f = 0;
    if (f > src_len - 1)
        f = src_len - 1;
    int j0 = (int)floor(f);
    float t = (float)(f - j0);
    idx[0] = j0;
    wt[0] = 1.0f - t;
    if (t > 0 && j0 + 1 < src_len) {
        idx[1] = j0 + 1;
        wt[1] = t;
        return 2;
    }
    return 1;
}

/* Most source pixels one output pixel averages along an axis. A crop that shrinks
 * by more than this (a face over 250 times the input side) is sampled, not averaged,
 * beyond it: irrelevant for any real frame. */
#define MAX_TAPS 256

int fer_crop_resample(uint8_t *out, int ow, int oh, const fer_image *src, fer_box crop,
                      int area, fer_error *err)
{
    if (!out || !src || !src->data || src->w <= 0 || src->h <= 0 ||
        (src->channels != 1 && src->channels != 3))
        return fer_fail(err, -EINVAL, "fer_crop_resample: empty or malformed image");
    const int ch = src->channels;
    if (ow <= 0 || oh <= 0 || ow * ch > FER_PREPROC_MAX_ROW || crop.w <= 0 || crop.h <= 0)
        return fer_fail(err, -EINVAL, "fer_crop_resample: bad size (%dx%d from a %dx%d crop)",
                        ow, oh, crop.w, crop.h);
    float row[FER_PREPROC_MAX_ROW], acc[FER_PREPROC_MAX_ROW];
    int yi[MAX_TAPS], xi[MAX_TAPS];
    float yw[MAX_TAPS], xw[MAX_TAPS];

    for (int v = 0; v < oh; v++) {
        int ny = taps(v, crop.h, oh, area, yi, yw, MAX_TAPS);
        memset(acc, 0, sizeof(float) * (size_t)(ow * ch));
        for (int t = 0; t < ny; t++) {
            /* Crop row -> frame row, repeating the edge rows outside the frame. */
            int fy = clampi(crop.y + yi[t], 0, src->h - 1);
            const uint8_t *srow = src->data + (size_t)fy * src->w * ch;
            for (int u = 0; u < ow; u++) {
                int nx = taps(u, crop.w, ow, area, xi, xw, MAX_TAPS);
                for (int c = 0; c < ch; c++) {
                    float s = 0;
                    for (int k = 0; k < nx; k++) {
                        int fx = clampi(crop.x + xi[k], 0, src->w - 1);
                        s += xw[k] * srow[fx * ch + c];
                    }
                    row[u * ch + c] = s;
                }
            }
            for (int k = 0; k < ow * ch; k++)
                acc[k] += yw[t] * row[k];
        }
        for (int k = 0; k < ow * ch; k++) {
            float p = acc[k] + 0.5f;
            out[(size_t)v * ow * ch + k] = (uint8_t)(p < 0 ? 0 : p > 255 ? 255 : p);
        }
    }
    return 0;
}

int fer_preprocess_face(float *out, uint8_t *scratch, int c, int h, int w,
                        const fer_image *frame, fer_box box, const fer_preproc *pre,
                        fer_error *err)
{
    if ((c != 1 && c != 3) || (c == 1) != (pre->grey != 0))
        return fer_fail(err, -EINVAL,
                        "preprocess: the network takes %d channel(s) but the model's "
                        "preprocessing says grey = %d", c, pre->grey);
    if (c == 3 && frame->channels != 3)
        return fer_fail(err, -EINVAL, "preprocess: a colour model needs a colour frame");
    if (!(pre->std > 0))
        return fer_fail(err, -EINVAL, "preprocess: std %g is not positive", pre->std);
    int area = strcmp(pre->resize, "linear") != 0;
    fer_box crop = fer_crop_box(box, pre);
    int rc = fer_crop_resample(scratch, w, h, frame, crop, area, err);
    if (rc < 0)
        return rc;
    const size_t n = (size_t)h * w;
    if (c == 1) {
        if (frame->channels == 3) {
            /* Resampling and grey conversion are both linear: converting the small
             * crop costs less and differs from converting the frame by rounding only. */
            fer_grey_from_bgr(scratch, scratch, n);
        }
        memcpy(scratch + n, scratch, n);
        return fer_input_from_face(out, scratch + n, h, w, pre, err);
    }
    if (pre->contrast.mode != FER_CONTRAST_NONE)
        return fer_fail(err, -EINVAL, "preprocess: contrast normalisation needs a grey model");
    /* Colour: interleaved BGR to planar R, G, B, one plane at a time. */
    for (int p = 0; p < 3; p++) {
        uint8_t plane[FER_PREPROC_MAX_ROW];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++)
                plane[x] = scratch[((size_t)y * w + x) * 3 + (2 - p)];
            fer_normalise(out + (size_t)p * n + (size_t)y * w, plane, w, pre->mean, pre->std);
        }
    }
    return 0;
}

void fer_normalise(float *out, const uint8_t *in, int count, float mean, float std)
{
    const float a = 1.0f / (255.0f * std), b = -mean / std;
    for (int i = 0; i < count; i++)
        out[i] = (float)in[i] * a + b;
}

int fer_input_from_face(float *out, uint8_t *face, int h, int w, const fer_preproc *pre,
                        fer_error *err)
{
    int rc = fer_contrast_apply(face, h, w, &pre->contrast);
    if (rc < 0)
        return fer_fail(err, rc, "preprocess: contrast \"%s\" (clip %g, %d tiles) cannot apply "
                        "to a %dx%d face", fer_contrast_name(pre->contrast.mode),
                        (double)pre->contrast.clip, pre->contrast.tiles, w, h);
    fer_normalise(out, face, h * w, pre->mean, pre->std);
    return 0;
}

int fer_tta_views(fer_tta tta)
{
    return tta == FER_TTA_CROPS ? 10 : tta == FER_TTA_FLIP ? 2 : 1;
}

void fer_input_view(float *out, const float *in, int c, int h, int w, int v)
{
    static const int shift[5][2] = {{0, 0}, {-2, -2}, {-2, 2}, {2, -2}, {2, 2}};
    const int flip = v & 1, dy = shift[(v >> 1) % 5][0], dx = shift[(v >> 1) % 5][1];
    for (int p = 0; p < c; p++, in += (size_t)h * w, out += (size_t)h * w) {
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int sy = y + dy, sx = x + dx;
                if (flip)
                    sx = w - 1 - sx;
                out[y * w + x] = (sy < 0 || sy >= h || sx < 0 || sx >= w) ? 0.0f : in[sy * w + sx];
            }
        }
    }
}
