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

/* ---- im2col straight into the gemm kernel's packed panels ------------------------------ */

#define NR FER_GEMM_NR

/* Where one run of pixels goes: decomposes im2col row r into (c, ki, kj) and finds
 * its valid output columns, shared by both versions below. */
typedef struct row_src {
    const float *plane; /* (H, W) of channel c */
    int ki, off;        /* kernel row; input column = ox*stride + off */
    int lo, hi;         /* output columns that read inside the image */
} row_src;

static row_src row_source(const float *im, const fer_conv_shape *s, int r)
{
    const int kk = s->kh * s->kw;
    const int c = r / kk, rem = r % kk, ki = rem / s->kw, kj = rem % s->kw;
    row_src rs = {im + (size_t)c * s->h * s->w, ki, kj - s->pad, 0, 0};
    valid_range(&rs.lo, &rs.hi, kj, s->pad, s->stride, s->w, s->ow);
    return rs;
}

/* Zeroes columns [np mod NR, NR) of the last panel, for all kc rows. */
static void zero_tail(float *dst, int kc, int np)
{
    const int npan = (np + NR - 1) / NR, tail = np - (npan - 1) * NR;
    if (tail == NR)
        return;
    for (int kk = 0; kk < kc; kk++)
        memset(dst + ((size_t)(npan - 1) * kc + kk) * NR + tail, 0,
               (size_t)(NR - tail) * sizeof(float));
}

/*
 * The portable version: per row of col and per run of pixels that stays within
 * one output row and one panel, copy the valid span and zero the rest.
 */
static void pack_scalar(const float *im, const fer_conv_shape *s, float *dst, int k0, int kc,
                        int p0, int np)
{
    zero_tail(dst, kc, np);
    for (int kk = 0; kk < kc; kk++) {
        const row_src rs = row_source(im, s, k0 + kk);
        int oy = p0 / s->ow, ox = p0 % s->ow;
        for (int pos = 0; pos < np;) {
            int len = s->ow - ox;
            if (len > NR - pos % NR)
                len = NR - pos % NR;
            if (len > np - pos)
                len = np - pos;
            float *d = dst + ((size_t)(pos / NR) * kc + kk) * NR + pos % NR;
            const int iy = oy * s->stride - s->pad + rs.ki;
            for (int t = 0; t < len; t++) {
                const int x = ox + t;
                d[t] = iy >= 0 && iy < s->h && x >= rs.lo && x < rs.hi
                           ? rs.plane[(size_t)iy * s->w + x * s->stride + rs.off]
                           : 0.0f;
            }
            pos += len;
            ox += len;
            if (ox == s->ow) {
                ox = 0;
                oy++;
            }
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/*
 * The AVX-512 version for stride 1: each run of up to 16 pixels is one masked
 * load (lanes outside the image read nothing and yield 0) and one masked store,
 * so the 3x3 layers' short rows (6 or 12 pixels) cost two instructions, not
 * three library calls.
 */
__attribute__((target("avx512f"))) static void pack_avx512(const float *im,
                                                           const fer_conv_shape *s, float *dst,
                                                           int k0, int kc, int p0, int np)
{
    zero_tail(dst, kc, np);
    for (int kk = 0; kk < kc; kk++) {
        const row_src rs = row_source(im, s, k0 + kk);
        int oy = p0 / s->ow, ox = p0 % s->ow;
        for (int pos = 0; pos < np;) {
            int len = s->ow - ox;
            if (len > NR - pos % NR)
                len = NR - pos % NR;
            if (len > np - pos)
                len = np - pos;
            if (len > 16)
                len = 16;
            float *d = dst + ((size_t)(pos / NR) * kc + kk) * NR + pos % NR;
            const int iy = oy - s->pad + rs.ki;
            const __mmask16 all = (__mmask16)((1u << len) - 1);
            __mmask16 valid = 0;
            if (iy >= 0 && iy < s->h) {
                // Lanes t with lo <= ox + t < hi.
                int a = rs.lo - ox, b = rs.hi - ox;
                a = a < 0 ? 0 : a;
                b = b > len ? len : b;
                if (b > a)
                    valid = (__mmask16)(((1u << b) - 1) & ~((1u << a) - 1));
            }
            // Masked-off lanes are never read, so the address may lie outside the row.
            const float *src = rs.plane + ((ptrdiff_t)iy * s->w + ox + rs.off);
            __m512 v = valid ? _mm512_maskz_loadu_ps(valid, src) : _mm512_setzero_ps();
            _mm512_mask_storeu_ps(d, all, v);
            pos += len;
            ox += len;
            if (ox == s->ow) {
                ox = 0;
                oy++;
            }
        }
    }
}
/* The 16 x 16 transpose of r[0..16) in registers (4 rounds of shuffles). */
__attribute__((target("avx512f"))) static inline void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
}

/* A run of pixels [a, a+len) of a 16-pixel chunk that lies in one output row. */
typedef struct run {
    int a, len, oy, ox;
} run;

/*
 * The transposed packing for stride 1: 16 im2col rows x 16 pixels are loaded as
 * 16 row vectors (a chunk that spans output rows is merged from one masked load
 * per row it touches), transposed in registers, and stored as 16 pixel rows of
 * the panel. No plain im2col matrix is written or read.
 */
__attribute__((target("avx512f"))) static void pack_t_avx512(const float *im,
                                                             const fer_conv_shape *s, float *dst,
                                                             int k0, int kc, int n0, int nc)
{
    const int groups = (nc + NR - 1) / NR * (NR / 16);
    for (int t = k0; t < k0 + kc; t += 16) {
        const int cl = k0 + kc - t < 16 ? k0 + kc - t : 16;
        run runs[18];
        int nruns = 0;
        for (int a = 0; a < cl;) {
            const int p = t + a, oy = p / s->ow, ox = p % s->ow;
            const int len = s->ow - ox < cl - a ? s->ow - ox : cl - a;
            runs[nruns++] = (run){a, len, oy, ox};
            a += len;
        }
        for (int g = 0; g < groups; g++) {
            __m512 v[16];
            for (int i = 0; i < 16; i++) {
                v[i] = _mm512_setzero_ps();
                const int col = g * 16 + i; // column within the block
                if (col >= nc)
                    continue;
                const row_src rs = row_source(im, s, n0 + col);
                for (int q = 0; q < nruns; q++) {
                    const run *u = &runs[q];
                    const int iy = u->oy - s->pad + rs.ki;
                    if (iy < 0 || iy >= s->h)
                        continue;
                    int lo = rs.lo - u->ox, hi = rs.hi - u->ox;
                    lo = lo < 0 ? 0 : lo;
                    hi = hi > u->len ? u->len : hi;
                    if (hi <= lo)
                        continue;
                    const __mmask16 m = (__mmask16)(((1u << (u->a + hi)) - 1) &
                                                    ~((1u << (u->a + lo)) - 1));
                    // Lane l reads column ox + (l - a) of input row iy.
                    const float *base = rs.plane + ((ptrdiff_t)iy * s->w + u->ox + rs.off - u->a);
                    v[i] = _mm512_mask_loadu_ps(v[i], m, base);
                }
            }
            transpose16(v);
            float *d = dst + ((size_t)(g / 3) * kc + (size_t)(t - k0)) * NR + (g % 3) * 16;
            for (int j = 0; j < cl; j++)
                _mm512_storeu_ps(d + (size_t)j * NR, v[j]);
        }
    }
}
#endif

/* The portable transposed packing: element by element. */
static void pack_t_scalar(const float *im, const fer_conv_shape *s, float *dst, int k0, int kc,
                          int n0, int nc)
{
    const int npan = (nc + NR - 1) / NR;
    for (int q = 0; q < npan; q++) {
        for (int x = 0; x < NR; x++) {
            const int col = q * NR + x;
            float *d = dst + (size_t)q * kc * NR + x;
            if (col >= nc) {
                for (int kk = 0; kk < kc; kk++)
                    d[(size_t)kk * NR] = 0.0f;
                continue;
            }
            const row_src rs = row_source(im, s, n0 + col);
            for (int kk = 0; kk < kc; kk++) {
                const int p = k0 + kk, oy = p / s->ow, ox = p % s->ow;
                const int iy = oy * s->stride - s->pad + rs.ki;
                d[(size_t)kk * NR] = iy >= 0 && iy < s->h && ox >= rs.lo && ox < rs.hi
                                         ? rs.plane[(size_t)iy * s->w + ox * s->stride + rs.off]
                                         : 0.0f;
            }
        }
    }
}

void fer_im2col_pack_t(void *ctx, float *dst, int k0, int kc, int n0, int nc)
{
    const fer_im2col_src *src = ctx;
#if defined(__x86_64__) && defined(__GNUC__)
    if (src->s->stride == 1 && fer_gemm_avx512(-1)) {
        pack_t_avx512(src->im, src->s, dst, k0, kc, n0, nc);
        return;
    }
#endif
    pack_t_scalar(src->im, src->s, dst, k0, kc, n0, nc);
}


void fer_im2col_pack(void *ctx, float *dst, int k0, int kc, int p0, int np)
{
    const fer_im2col_src *src = ctx;
#if defined(__x86_64__) && defined(__GNUC__)
    if (src->s->stride == 1 && fer_gemm_avx512(-1)) {
        pack_avx512(src->im, src->s, dst, k0, kc, p0, np);
        return;
    }
#endif
    pack_scalar(src->im, src->s, dst, k0, kc, p0, np);
}
