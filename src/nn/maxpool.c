/*
 * maxpool.c — max-pooling over size x size windows, no padding.
 *
 * Ties go to the first maximum in row-major scan order (strict >), which is
 * what PyTorch's CPU kernel does, so gradients of tied windows (common after a
 * ReLU: several zeros) land on the same element on both sides. Backward
 * recomputes each window's argmax from the input instead of saving indices:
 * the recomputation is cheap next to the convolutions, and it keeps the
 * activation memory to one float tensor per layer.
 *
 * The common 2x2/2 window has AVX-512 versions: a row pair is loaded 32 input
 * columns at a time, split into even and odd columns with one permute each, and
 * reduced with vertical then horizontal maxima; backward picks the first maximum
 * of (top-left, top-right, bottom-left, bottom-right) with masks, in that scan
 * order, and interleaves the routed gradients back, writing every input element
 * exactly once (no zeroing pass, no scattered read-modify-writes).
 */
#include "nn/simd.h"

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

#if FER_X86
/* Even and odd columns of the 32 floats lo:hi. */
FER_AVX512 static inline void deinterleave(__m512 lo, __m512 hi, __m512 *even, __m512 *odd)
{
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    *even = _mm512_permutex2var_ps(lo, ie, hi);
    *odd = _mm512_permutex2var_ps(lo, io, hi);
}

/* Masks for the 2*nout input columns x0.. of a row: lanes of the low and high halves. */
static inline void col_masks(int nout, __mmask16 *mlo, __mmask16 *mhi)
{
    const int nin = 2 * nout;
    *mlo = FER_MASK16(nin < 16 ? nin : 16);
    *mhi = FER_MASK16(nin > 16 ? nin - 16 : 0);
}

FER_AVX512 static void fwd2x2(float *out, const float *in, const fer_pool_shape *s, int n)
{
    const size_t planes = (size_t)n * s->c;
    for (size_t p = 0; p < planes; p++) {
        const float *x = in + p * s->h * s->w;
        float *y = out + p * s->oh * s->ow;
        for (int oy = 0; oy < s->oh; oy++) {
            const float *r0 = x + (size_t)(2 * oy) * s->w, *r1 = r0 + s->w;
            for (int ox = 0; ox < s->ow; ox += 16) {
                const int nout = s->ow - ox < 16 ? s->ow - ox : 16;
                __mmask16 mlo, mhi;
                col_masks(nout, &mlo, &mhi);
                const int x0 = 2 * ox;
                __m512 lo = _mm512_max_ps(_mm512_maskz_loadu_ps(mlo, r0 + x0),
                                          _mm512_maskz_loadu_ps(mlo, r1 + x0));
                __m512 hi = _mm512_max_ps(_mm512_maskz_loadu_ps(mhi, r0 + x0 + 16),
                                          _mm512_maskz_loadu_ps(mhi, r1 + x0 + 16));
                __m512 e, o;
                deinterleave(lo, hi, &e, &o);
                _mm512_mask_storeu_ps(y + (size_t)oy * s->ow + ox, FER_MASK16(nout),
                                      _mm512_max_ps(e, o));
            }
        }
    }
}

FER_AVX512 static void bwd2x2(float *din, const float *dout, const float *in,
                              const fer_pool_shape *s, int n)
{
    const size_t planes = (size_t)n * s->c;
    const __m512i ilo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i ihi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                         24, 8);
    for (size_t p = 0; p < planes; p++) {
        const float *x = in + p * s->h * s->w;
        float *dx = din + p * s->h * s->w;
        const float *g = dout + p * s->oh * s->ow;
        for (int oy = 0; oy < s->oh; oy++) {
            const float *r0 = x + (size_t)(2 * oy) * s->w, *r1 = r0 + s->w;
            float *d0 = dx + (size_t)(2 * oy) * s->w, *d1 = d0 + s->w;
            for (int ox = 0; ox < s->ow; ox += 16) {
                const int nout = s->ow - ox < 16 ? s->ow - ox : 16;
                __mmask16 mlo, mhi;
                col_masks(nout, &mlo, &mhi);
                const int x0 = 2 * ox;
                __m512 a, b, c, d; // top-left, top-right, bottom-left, bottom-right
                deinterleave(_mm512_maskz_loadu_ps(mlo, r0 + x0),
                             _mm512_maskz_loadu_ps(mhi, r0 + x0 + 16), &a, &b);
                deinterleave(_mm512_maskz_loadu_ps(mlo, r1 + x0),
                             _mm512_maskz_loadu_ps(mhi, r1 + x0 + 16), &c, &d);
                const __m512 m = _mm512_max_ps(_mm512_max_ps(a, b), _mm512_max_ps(c, d));
                const __mmask16 ka = _mm512_cmp_ps_mask(a, m, _CMP_EQ_OQ);
                const __mmask16 kb = _mm512_cmp_ps_mask(b, m, _CMP_EQ_OQ) & ~ka;
                const __mmask16 kc = _mm512_cmp_ps_mask(c, m, _CMP_EQ_OQ) & ~(ka | kb);
                const __mmask16 kd = (__mmask16)~(ka | kb | kc);
                const __m512 gv = _mm512_maskz_loadu_ps(FER_MASK16(nout), g + (size_t)oy * s->ow + ox);
                const __m512 ga = _mm512_maskz_mov_ps(ka, gv), gb = _mm512_maskz_mov_ps(kb, gv);
                const __m512 gc = _mm512_maskz_mov_ps(kc, gv), gd = _mm512_maskz_mov_ps(kd, gv);
                _mm512_mask_storeu_ps(d0 + x0, mlo, _mm512_permutex2var_ps(ga, ilo, gb));
                _mm512_mask_storeu_ps(d0 + x0 + 16, mhi, _mm512_permutex2var_ps(ga, ihi, gb));
                _mm512_mask_storeu_ps(d1 + x0, mlo, _mm512_permutex2var_ps(gc, ilo, gd));
                _mm512_mask_storeu_ps(d1 + x0 + 16, mhi, _mm512_permutex2var_ps(gc, ihi, gd));
            }
            // An odd width leaves a last column that no window reads.
            if (s->w > 2 * s->ow) {
                memset(d0 + 2 * s->ow, 0, (size_t)(s->w - 2 * s->ow) * sizeof(float));
                memset(d1 + 2 * s->ow, 0, (size_t)(s->w - 2 * s->ow) * sizeof(float));
            }
        }
        // Likewise rows past the last window.
        if (s->h > 2 * s->oh)
            memset(dx + (size_t)(2 * s->oh) * s->w, 0,
                   (size_t)(s->h - 2 * s->oh) * s->w * sizeof(float));
    }
}
#endif

/* The vector versions cover the non-overlapping 2x2 window. */
static int is_2x2(const fer_pool_shape *s)
{
    return s->size == 2 && s->stride == 2 && fer_simd();
}

void fer_maxpool_forward(float *out, const float *in, const fer_pool_shape *s, int n)
{
#if FER_X86
    if (is_2x2(s)) {
        fwd2x2(out, in, s, n);
        return;
    }
#endif
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
#if FER_X86
    if (is_2x2(s)) {
        bwd2x2(din, dout, in, s, n);
        return;
    }
#endif
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
