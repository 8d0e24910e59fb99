/*
 * im2col.c — unrolls one image into the matrix that turns convolution into a
 * single matrix product, and scatters such a matrix back (the adjoint).
 *
 * Layout: row r = (c, ki, kj) of col holds, for every output pixel (oy, ox) in
 * row-major order, the input value im[c][oy*stride - pad + ki][ox*stride - pad + kj],
 * or 0 where that falls in the padding. With W viewed as (K, C*KH*KW), the
 * convolution of one image is then W . col (one sgemm).
 *
 * Design: instead of testing every element against the image border (darknet's
 * im2col_get_pixel), each (row, oy) pair computes once which ox range reads
 * inside the image; that range is a contiguous span of an input row (memcpy
 * when stride == 1, a strided gather otherwise) and the two ends are zero
 * fills. The hot loops therefore have no branches, and for the common
 * stride-1 3x3 layers almost all the work is memcpy.
 */
#include "nn/layers.h"

#include <string.h>

/*
 * The output columns [*lo, *hi) whose input column ix = ox*stride - pad + kj
 * lies in [0, w). Both ends are clamped to [0, ow] and lo <= hi.
 */
static void valid_range(int *lo, int *hi, int kj, int pad, int stride, int w, int ow)
{
    // Smallest ox with ox*stride >= pad - kj (a ceiling division of a
    // non-negative number; a non-positive bound means ox = 0 already reads inside).
    int first = pad - kj;
    int l = first <= 0 ? 0 : (first + stride - 1) / stride;
    // Largest ox with ox*stride <= w - 1 + pad - kj, plus one.
    int last = w - 1 + pad - kj;
    int h = last < 0 ? 0 : last / stride + 1;
    if (l > ow)
        l = ow;
    if (h > ow)
        h = ow;
    if (h < l)
        h = l;
    *lo = l;
    *hi = h;
}

/*
 * col: (C*KH*KW, OH*OW), fully overwritten (padding entries become 0);
 * im: (C, H, W), one image. s must have passed fer_conv_shape_init().
 */
void fer_im2col(float *col, const float *im, const fer_conv_shape *s)
{
    const int h = s->h, w = s->w, oh = s->oh, ow = s->ow;
    const int stride = s->stride, pad = s->pad;
    const size_t npix = (size_t)oh * ow;

    for (int c = 0; c < s->c; c++) {
        const float *plane = im + (size_t)c * h * w; // (H, W)
        for (int ki = 0; ki < s->kh; ki++) {
            for (int kj = 0; kj < s->kw; kj++) {
                float *row = col + (((size_t)c * s->kh + ki) * s->kw + kj) * npix; // (OH, OW)
                int lo, hi;
                valid_range(&lo, &hi, kj, pad, stride, w, ow);
                const int n = hi - lo;
                for (int oy = 0; oy < oh; oy++) {
                    float *dst = row + (size_t)oy * ow;
                    const int iy = oy * stride - pad + ki;
                    if (iy < 0 || iy >= h || n == 0) {
                        memset(dst, 0, (size_t)ow * sizeof(float));
                        continue;
                    }
                    // src[x*stride] is the input under output column lo + x.
                    const float *src = plane + (size_t)iy * w + (lo * stride - pad + kj);
                    memset(dst, 0, (size_t)lo * sizeof(float));
                    if (stride == 1) {
                        memcpy(dst + lo, src, (size_t)n * sizeof(float));
                    } else {
                        for (int x = 0; x < n; x++)
                            dst[lo + x] = src[(size_t)x * stride];
                    }
                    memset(dst + hi, 0, (size_t)(ow - hi) * sizeof(float));
                }
            }
        }
    }
}

/*
 * The transpose of fer_im2col: every col entry that im2col read from the image
 * is added back to that pixel; entries that came from padding are dropped.
 * Overlapping windows (stride < kernel) add several entries into one pixel,
 * which is why the caller zeroes im and this function only accumulates.
 */
void fer_col2im(float *im, const float *col, const fer_conv_shape *s)
{
    const int h = s->h, w = s->w, oh = s->oh, ow = s->ow;
    const int stride = s->stride, pad = s->pad;
    const size_t npix = (size_t)oh * ow;

    for (int c = 0; c < s->c; c++) {
        float *plane = im + (size_t)c * h * w; // (H, W)
        for (int ki = 0; ki < s->kh; ki++) {
            for (int kj = 0; kj < s->kw; kj++) {
                const float *row = col + (((size_t)c * s->kh + ki) * s->kw + kj) * npix;
                int lo, hi;
                valid_range(&lo, &hi, kj, pad, stride, w, ow);
                const int n = hi - lo;
                if (n == 0)
                    continue;
                for (int oy = 0; oy < oh; oy++) {
                    const int iy = oy * stride - pad + ki;
                    if (iy < 0 || iy >= h)
                        continue;
                    const float *src = row + (size_t)oy * ow + lo;
                    float *dst = plane + (size_t)iy * w + (lo * stride - pad + kj);
                    if (stride == 1) {
                        for (int x = 0; x < n; x++)
                            dst[x] += src[x];
                    } else {
                        for (int x = 0; x < n; x++)
                            dst[(size_t)x * stride] += src[x];
                    }
                }
            }
        }
    }
}
