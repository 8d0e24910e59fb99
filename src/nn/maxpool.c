/*
 * maxpool.c — max-pooling over size x size windows, no padding.
 *
 * Ties go to the first maximum in row-major scan order (strict >), which is
 * what PyTorch's CPU kernel does, so gradients of tied windows (common after a
 * ReLU: several zeros) land on the same element on both sides. Backward
 * recomputes each window's argmax from the input instead of saving indices:
 * the recomputation is cheap next to the convolutions, and it keeps the
 * activation memory to one float tensor per layer.
 */
#include "nn/layers.h"

#include <string.h>

int fer_pool_shape_init(fer_pool_shape *s)
{
    if (s->c <= 0 || s->size <= 0 || s->stride <= 0 || s->h < s->size || s->w < s->size)
        return -1;
    s->oh = (s->h - s->size) / s->stride + 1;
    s->ow = (s->w - s->size) / s->stride + 1;
    return 0;
}

/* Offset within the plane of the window's first maximum (strict >: first wins ties). */
static size_t window_argmax(const float *plane, int w, int y0, int x0, int size)
{
    size_t best = (size_t)y0 * w + x0;
    float m = plane[best];
    for (int ky = 0; ky < size; ky++) {
        const float *row = plane + (size_t)(y0 + ky) * w + x0;
        for (int kx = 0; kx < size; kx++) {
            if (row[kx] > m) {
                m = row[kx];
                best = (size_t)(y0 + ky) * w + x0 + kx;
            }
        }
    }
    return best;
}

void fer_maxpool_forward(float *out, const float *in, const fer_pool_shape *s, int n)
{
    const size_t planes = (size_t)n * s->c;
    for (size_t p = 0; p < planes; p++) {
        const float *x = in + p * s->h * s->w;    // (H, W)
        float *y = out + p * s->oh * s->ow;       // (OH, OW)
        for (int oy = 0; oy < s->oh; oy++) {
            for (int ox = 0; ox < s->ow; ox++) {
                const float *win = x + (size_t)oy * s->stride * s->w + (size_t)ox * s->stride;
                float m = win[0];
                for (int ky = 0; ky < s->size; ky++) {
                    const float *row = win + (size_t)ky * s->w;
                    for (int kx = 0; kx < s->size; kx++)
                        m = row[kx] > m ? row[kx] : m;
                }
                y[(size_t)oy * s->ow + ox] = m;
            }
        }
    }
}

/* din is overwritten; overlapping windows (stride < size) may route several
 * gradients to one input element, so they accumulate. */
void fer_maxpool_backward(float *din, const float *dout, const float *in, const fer_pool_shape *s,
                          int n)
{
    const size_t planes = (size_t)n * s->c;
    memset(din, 0, planes * s->h * s->w * sizeof(float));
    for (size_t p = 0; p < planes; p++) {
        const float *x = in + p * s->h * s->w;
        float *dx = din + p * s->h * s->w;
        const float *g = dout + p * s->oh * s->ow;
        for (int oy = 0; oy < s->oh; oy++) {
            for (int ox = 0; ox < s->ow; ox++) {
                size_t at = window_argmax(x, s->w, oy * s->stride, ox * s->stride, s->size);
                dx[at] += g[(size_t)oy * s->ow + ox];
            }
        }
    }
}
