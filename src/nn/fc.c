/*
 * fc.c — fully connected layer, out (N, O) = in (N, I) . w^T + b, w: (O, I).
 *
 * The weight layout is PyTorch's nn.Linear, so a state_dict tensor loads
 * as-is. Batch 1 (the daemon) is a matrix-vector product: cblas_sgemv is
 * used there because OpenBLAS's sgemm with M = 1 still packs panels and is
 * several times slower; with AVX-512 an eight-row kernel of our own replaces it
 * (it streams the weights ~10-30% faster than OpenBLAS's Haswell sgemv here). Larger batches use one sgemm. As in conv.c, the bias
 * is written into out first and BLAS accumulates onto it (beta = 1).
 *
 * At batch 1 the layer is memory-bound: every weight is read once per image
 * (the seed net's first fc layer is 151 MB). Storing the weights as IEEE half
 * floats halves those bytes; fer_fc_forward_f16 is the matrix-vector product
 * over such weights (AVX-512 converts 16 halves per instruction), with the
 * input and the sums kept in float32. The accuracy cost is one rounding of each
 * weight to 11 significant bits (relative error <= 2^-11).
 */
#include "nn/simd.h"

#include <cblas.h>
#include <string.h>

#if FER_X86
/* out (O) = w (O, I) . in (I) (+ b): eight rows at a time, so the input vector is
 * loaded once per eight rows and stays in L1 while the weights stream past. */
FER_AVX512 static void gemv512(float *out, const float *in, const float *w, const float *b,
                               int in_dim, int out_dim)
{
    const __mmask16 tail = FER_MASK16(in_dim % 16);
    const int full = in_dim / 16 * 16;
    int o = 0;
    for (; o < out_dim; o += 8) {
        const int rows = out_dim - o < 8 ? out_dim - o : 8;
        __m512 acc[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
            acc[r] = _mm512_setzero_ps();
        const float *wr = w + (size_t)o * in_dim;
        if (rows == 8) {
            for (int i = 0; i < full; i += 16) {
                const __m512 x = _mm512_loadu_ps(in + i);
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++)
                    acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(wr + (size_t)r * in_dim + i), x, acc[r]);
            }
        } else {
            for (int i = 0; i < full; i += 16) {
                const __m512 x = _mm512_loadu_ps(in + i);
                for (int r = 0; r < rows; r++)
                    acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(wr + (size_t)r * in_dim + i), x, acc[r]);
            }
        }
        if (tail) {
            const __m512 x = _mm512_maskz_loadu_ps(tail, in + full);
            for (int r = 0; r < rows; r++)
                acc[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, wr + (size_t)r * in_dim + full),
                                         x, acc[r]);
        }
        for (int r = 0; r < rows; r++)
            out[o + r] = _mm512_reduce_add_ps(acc[r]) + (b ? b[o + r] : 0.0f);
    }
}
#endif

/* b may be NULL (no bias). */
void fer_fc_forward(float *out, const float *in, const float *w, const float *b, int in_dim,
                    int out_dim, int n)
{
#if FER_X86
    if (n == 1 && fer_simd()) {
        gemv512(out, in, w, b, in_dim, out_dim);
        return;
    }
#endif
    float beta = 0.0f;
    if (b) {
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out_dim; o++)
                out[(size_t)i * out_dim + o] = b[o];
        beta = 1.0f;
    }
    if (n == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out_dim, in_dim, 1.0f, w, in_dim, in, 1, beta,
                    out, 1);
    } else {
        // out (N, O) = in (N, I) . w^T (I, O)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out_dim, in_dim, 1.0f, in, in_dim,
                    w, in_dim, beta, out, out_dim);
    }
}

/*
 * dw (O, I) += dout^T (O, N) . in (N, I); db (O) += column sums of dout (db
 * may be NULL); din (N, I) = dout (N, O) . w (O, I) unless din is NULL.
 */
void fer_fc_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, int in_dim, int out_dim, int n)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in_dim, n, 1.0f, dout, out_dim,
                in, in_dim, 1.0f, dw, in_dim);
    if (db) {
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out_dim; o++)
                db[o] += dout[(size_t)i * out_dim + o];
    }
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in_dim, out_dim, 1.0f, dout,
                    out_dim, w, in_dim, 0.0f, din, in_dim);
}

/* ---- half-precision weights ------------------------------------------------------ */

/* IEEE binary16 from float, round to nearest even (the portable path). */
static uint16_t to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t absx = x & 0x7FFFFFFFu;
    if (absx >= 0x7F800000u) // inf or nan
        return (uint16_t)(sign | 0x7C00u | (absx > 0x7F800000u ? 0x200u : 0u));
    if (absx >= 0x477FF000u) // rounds to >= 65520: overflow to inf
        return (uint16_t)(sign | 0x7C00u);
    if (absx < 0x38800000u) { // below the smallest normal half: a subnormal or zero
        if (absx < 0x33000000u)
            return (uint16_t)sign;
        const uint32_t mant = (absx & 0x7FFFFFu) | 0x800000u;
        const int shift = 126 - (int)(absx >> 23); // 14..24
        uint32_t h = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((absx >> 13) - (112u << 10));
    const uint32_t rem = absx & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++;
    return (uint16_t)(sign | h);
}

static float from_half(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1Fu, m = h & 0x3FFu, x;
    if (e == 0x1F) {
        x = sign | 0x7F800000u | (m << 13);
    } else if (e) {
        x = sign | ((e + 112u) << 23) | (m << 13);
    } else if (m) { // subnormal: normalise
        e = 113;
        while (!(m & 0x400u)) {
            m <<= 1;
            e--;
        }
        x = sign | (e << 23) | ((m & 0x3FFu) << 13);
    } else {
        x = sign;
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

#if FER_X86
FER_AVX512 static void to_half512(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = to_half(src[i]);
}

/* out (O) = w16 (O, I) . in (I) + b, eight rows at a time; in stays in L1. */
FER_AVX512 static void gemv_half512(float *out, const float *in, const uint16_t *w,
                                    const float *b, int in_dim, int out_dim)
{
    int o = 0;
    for (; o + 8 <= out_dim; o += 8) {
        __m512 acc[8];
        for (int r = 0; r < 8; r++)
            acc[r] = _mm512_setzero_ps();
        const uint16_t *wr = w + (size_t)o * in_dim;
        int i = 0;
        for (; i + 16 <= in_dim; i += 16) {
            const __m512 x = _mm512_loadu_ps(in + i);
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++) {
                const __m256i h = _mm256_loadu_si256((const __m256i *)(wr + (size_t)r * in_dim + i));
                acc[r] = _mm512_fmadd_ps(_mm512_cvtph_ps(h), x, acc[r]);
            }
        }
        for (int r = 0; r < 8; r++) {
            float sum = _mm512_reduce_add_ps(acc[r]);
            for (int t = i; t < in_dim; t++)
                sum += from_half(wr[(size_t)r * in_dim + t]) * in[t];
            out[o + r] = sum + (b ? b[o + r] : 0.0f);
        }
    }
    for (; o < out_dim; o++) {
        const uint16_t *wr = w + (size_t)o * in_dim;
        __m512 acc = _mm512_setzero_ps();
        int i = 0;
        for (; i + 16 <= in_dim; i += 16)
            acc = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wr + i))),
                                  _mm512_loadu_ps(in + i), acc);
        float sum = _mm512_reduce_add_ps(acc);
        for (; i < in_dim; i++)
            sum += from_half(wr[i]) * in[i];
        out[o] = sum + (b ? b[o] : 0.0f);
    }
}
#endif

void fer_f32_to_f16(uint16_t *dst, const float *src, size_t n)
{
#if FER_X86
    if (fer_simd()) {
        to_half512(dst, src, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++)
        dst[i] = to_half(src[i]);
}

float fer_f16_to_f32(uint16_t h)
{
    return from_half(h);
}

void fer_fc_forward_f16(float *out, const float *in, const uint16_t *w16, const float *b,
                        int in_dim, int out_dim, int n)
{
    for (int img = 0; img < n; img++) {
        const float *x = in + (size_t)img * in_dim;
        float *y = out + (size_t)img * out_dim;
#if FER_X86
        if (fer_simd()) {
            gemv_half512(y, x, w16, b, in_dim, out_dim);
            continue;
        }
#endif
        for (int o = 0; o < out_dim; o++) {
            const uint16_t *wr = w16 + (size_t)o * in_dim;
            float sum = 0.0f;
            for (int i = 0; i < in_dim; i++)
                sum += from_half(wr[i]) * x[i];
            y[o] = sum + (b ? b[o] : 0.0f);
        }
    }
}
