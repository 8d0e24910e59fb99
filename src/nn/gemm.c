/*
 * gemm.c — the engine's matrix product with a fused epilogue:
 *   c (M, N) = op(a) (M, K) . op(b) (K, N)  [+ c]  [+ bias per row]  [ReLU]
 *
 * Why not just cblas_sgemm: the OpenBLAS that Debian ships (0.3.21) runs its
 * Haswell (AVX2) kernels on the machines ferd targets (OPENBLAS_CORETYPE pins
 * that, as its own detection is unreliable on newer processors), while those
 * processors also execute AVX-512, whose 16-wide FMAs do twice the work per
 * instruction. The convolutions of a small CNN are also small products
 * (K = 9..1152, N = 36..2304), where packing both operands and spawning
 * threads, as a general BLAS does, costs a visible share. So this file holds
 * one AVX-512 kernel, chosen at run time, and falls back to cblas_sgemm on
 * any processor without AVX-512 (every result is the same up to rounding).
 *
 * Design (BLIS/GotoBLAS-style, reduced to what the engine needs):
 *  - The micro-kernel computes an MR x NR = 8 x 48 tile of c in 24 zmm
 *    accumulators: per step of the reduction it loads one 48-wide row of a
 *    packed B panel (three vectors) and broadcasts 8 values of A.
 *  - A is NOT packed: the kernel reads it through two strides (rsa, csa), so
 *    a row-major A (csa = 1: 8 sequential streams) and a transposed one
 *    (rsa = 1: 8 adjacent floats per step) both work straight from memory;
 *    conv weights are small and stay in cache.
 *  - B is packed into panels of NR columns (kc rows of 48 contiguous floats,
 *    zero-padded past N), a block of KC x NC at a time in the caller's work
 *    space, so the kernel streams it from L1/L2 with aligned loads. A caller
 *    whose B is not a matrix in memory (conv's im2col) supplies a packing
 *    callback instead (fer_gemm_cb), so its B is written once, straight into
 *    the block, and never exists whole.
 *  - The epilogue (bias, ReLU) is applied to the tile in registers after the
 *    last reduction block, saving a pass over the output.
 */
#include "nn/layers.h"

#include <cblas.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define MR FER_GEMM_MR
#define NR FER_GEMM_NR
#define KC 384 /* reduction block: a 48-wide B panel of KC rows is 72 KB (L2) */
#define NC 384 /* columns of one packed B block: KC x NC = 576 KB */

size_t fer_gemm_work_size(int m, int n, int k)
{
    (void)m;
    size_t kc = (size_t)(k < KC ? k : KC);
    size_t nc = (size_t)(n < NC ? n : NC);
    nc = (nc + NR - 1) / NR * NR;
    return kc * nc + 16; // + 16: room to align the block to 64 bytes
}

/* ---- ISA selection --------------------------------------------------------------- */

static int isa_avx512 = -1; /* -1: not probed yet */

static int have_avx512(void)
{
    if (isa_avx512 < 0) {
#if HAVE_X86
        __builtin_cpu_init();
        isa_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#else
        isa_avx512 = 0;
#endif
    }
    return isa_avx512;
}

int fer_gemm_avx512(int enable)
{
    if (enable >= 0) {
        have_avx512();
#if HAVE_X86
        isa_avx512 = enable && __builtin_cpu_supports("avx512f") &&
                     __builtin_cpu_supports("avx512vl");
#endif
    }
    return have_avx512();
}

/* ---- packing B ------------------------------------------------------------------- */

/*
 * Packs B (k0 .. k0+kc, n0 .. n0+nc) into panels of NR columns: panel p holds kc
 * rows of NR floats at dst + p*kc*NR; columns past nc are zero. B(k, n) is
 * b[k*rsb + n*csb]; the two common cases (rows or columns contiguous) get loops
 * the compiler vectorises or that at least read sequentially.
 */
static void pack_b(float *dst, const float *b, long rsb, long csb, int k0, int kc, int n0,
                   int nc)
{
    for (int j = 0; j < nc; j += NR) {
        const int nr = nc - j < NR ? nc - j : NR;
        float *d = dst + (size_t)(j / NR) * kc * NR;
        if (csb == 1) {
            const float *s = b + (size_t)k0 * rsb + n0 + j;
            for (int k = 0; k < kc; k++, s += rsb, d += NR) {
                memcpy(d, s, (size_t)nr * sizeof(float));
                if (nr < NR)
                    memset(d + nr, 0, (size_t)(NR - nr) * sizeof(float));
            }
        } else if (rsb == 1) {
            // Transposing: read each column of B sequentially, write with stride NR.
            if (nr < NR)
                for (int k = 0; k < kc; k++)
                    memset(d + (size_t)k * NR + nr, 0, (size_t)(NR - nr) * sizeof(float));
            for (int jj = 0; jj < nr; jj++) {
                const float *s = b + (size_t)(n0 + j + jj) * csb + k0;
                for (int k = 0; k < kc; k++)
                    d[(size_t)k * NR + jj] = s[k];
            }
        } else {
            for (int k = 0; k < kc; k++)
                for (int jj = 0; jj < NR; jj++)
                    d[(size_t)k * NR + jj] =
                        jj < nr ? b[(size_t)(k0 + k) * rsb + (size_t)(n0 + j + jj) * csb] : 0.0f;
        }
    }
}

/* ---- the AVX-512 micro-kernel ------------------------------------------------------- */

#if HAVE_X86
#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

/*
 * c (mr, nr) tile: acc = (load ? c : 0) + A (mr, kc) . Bpanel (kc, NR); then, if last,
 * + bias[i] and ReLU; stored under the column masks. A(i, k) = a[i*rsa + k*csa];
 * unit_rsa = 1 promises rsa == 1 (a transposed A: adjacent floats), letting the
 * compiler use constant offsets. mr is a compile-time constant at every call site.
 */
INLINE AVX512 void kernel(const int mr, const int unit_rsa, int kc, const float *a, long rsa,
                          long csa, const float *bp, float *c, long ldc, __mmask16 m0,
                          __mmask16 m1, __mmask16 m2, int load, int last, const float *bias,
                          int relu)
{
    __m512 acc[MR][3];
    const float *ar[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        if (i >= mr)
            break;
        ar[i] = a + (unit_rsa ? i : i * rsa);
        if (load) {
            acc[i][0] = _mm512_maskz_loadu_ps(m0, c + i * ldc);
            acc[i][1] = _mm512_maskz_loadu_ps(m1, c + i * ldc + 16);
            acc[i][2] = _mm512_maskz_loadu_ps(m2, c + i * ldc + 32);
        } else {
            acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
        }
    }
    long off = 0;
#pragma GCC unroll 2
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_load_ps(bp);
        const __m512 b1 = _mm512_load_ps(bp + 16);
        const __m512 b2 = _mm512_load_ps(bp + 32);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            if (i >= mr)
                break;
            const __m512 ai = _mm512_set1_ps(unit_rsa ? a[off + i] : ar[i][off]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
        }
        off += csa;
        bp += NR;
    }
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        if (i >= mr)
            break;
        if (last && bias) {
            const __m512 bi = _mm512_set1_ps(bias[i]);
            acc[i][0] = _mm512_add_ps(acc[i][0], bi);
            acc[i][1] = _mm512_add_ps(acc[i][1], bi);
            acc[i][2] = _mm512_add_ps(acc[i][2], bi);
        }
        if (last && relu) {
            acc[i][0] = _mm512_max_ps(acc[i][0], zero);
            acc[i][1] = _mm512_max_ps(acc[i][1], zero);
            acc[i][2] = _mm512_max_ps(acc[i][2], zero);
        }
        _mm512_mask_storeu_ps(c + i * ldc, m0, acc[i][0]);
        _mm512_mask_storeu_ps(c + i * ldc + 16, m1, acc[i][1]);
        _mm512_mask_storeu_ps(c + i * ldc + 32, m2, acc[i][2]);
    }
}

/* Dispatches to the kernel compiled for this mr (1..MR) and A pattern. */
static AVX512 void kernel_any(int mr, int kc, const float *a, long rsa, long csa,
                              const float *bp, float *c, long ldc, int nr, int load, int last,
                              const float *bias, int relu)
{
    const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    const __mmask16 m2 = nr >= 48 ? 0xFFFF : nr <= 32 ? 0 : (__mmask16)((1u << (nr - 32)) - 1);
#define K_CASE(R)                                                                            \
    case R:                                                                                  \
        if (rsa == 1)                                                                        \
            kernel(R, 1, kc, a, 1, csa, bp, c, ldc, m0, m1, m2, load, last, bias, relu);     \
        else                                                                                 \
            kernel(R, 0, kc, a, rsa, csa, bp, c, ldc, m0, m1, m2, load, last, bias, relu);   \
        break;
    switch (mr) {
        K_CASE(1) K_CASE(2) K_CASE(3) K_CASE(4) K_CASE(5) K_CASE(6) K_CASE(7) K_CASE(8)
    }
#undef K_CASE
}

static void gemm_avx512(int m, int n, int k, const float *a, long rsa, long csa,
                        fer_gemm_pack_fn pack, void *ctx, int accumulate, float *c, int ldc,
                        const float *bias, int relu, float *work)
{
    float *blk = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    for (int n0 = 0; n0 < n; n0 += NC) {
        const int nc = n - n0 < NC ? n - n0 : NC;
        for (int k0 = 0; k0 < k; k0 += KC) {
            const int kc = k - k0 < KC ? k - k0 : KC;
            const int first = k0 == 0, last = k0 + kc == k;
            pack(ctx, blk, k0, kc, n0, nc);
            for (int m0 = 0; m0 < m; m0 += MR) {
                const int mr = m - m0 < MR ? m - m0 : MR;
                const float *ab = a + (size_t)m0 * rsa + (size_t)k0 * csa;
                for (int j = 0; j < nc; j += NR)
                    kernel_any(mr, kc, ab, rsa, csa, blk + (size_t)(j / NR) * kc * NR,
                               c + (size_t)m0 * ldc + n0 + j, ldc, nc - j < NR ? nc - j : NR,
                               !first || accumulate, last, bias ? bias + m0 : NULL, relu);
            }
        }
    }
}
#endif

/* The pack callback for an ordinary strided B. */
typedef struct strided_b {
    const float *b;
    long rsb, csb;
} strided_b;

static void pack_strided(void *ctx, float *dst, int k0, int kc, int n0, int nc)
{
    const strided_b *sb = ctx;
    pack_b(dst, sb->b, sb->rsb, sb->csb, k0, kc, n0, nc);
}

/* ---- the portable path -------------------------------------------------------------- */

/* cblas_sgemm plus the epilogue as separate passes. */
static void gemm_blas(int ta, int tb, int m, int n, int k, const float *a, int lda,
                      const float *b, int ldb, int accumulate, float *c, int ldc,
                      const float *bias, int relu)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                m, n, k, 1.0f, a, lda, b, ldb, accumulate ? 1.0f : 0.0f, c, ldc);
    if (bias || relu) {
        for (int i = 0; i < m; i++) {
            float *ci = c + (size_t)i * ldc;
            const float bi = bias ? bias[i] : 0.0f;
            if (relu)
                for (int j = 0; j < n; j++)
                    ci[j] = ci[j] + bi > 0.0f ? ci[j] + bi : 0.0f;
            else
                for (int j = 0; j < n; j++)
                    ci[j] += bi;
        }
    }
}

void fer_gemm(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b,
              int ldb, int accumulate, float *c, int ldc, const float *bias, int relu, float *work)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        // An empty sum: c = (accumulate ? c : 0) + bias, then ReLU.
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                float v = (accumulate ? c[(size_t)i * ldc + j] : 0.0f) + (bias ? bias[i] : 0.0f);
                c[(size_t)i * ldc + j] = relu && v < 0.0f ? 0.0f : v;
            }
        return;
    }
#if HAVE_X86
    if (have_avx512()) {
        const long rsa = ta ? 1 : lda, csa = ta ? lda : 1;
        strided_b sb = {b, tb ? 1 : ldb, tb ? ldb : 1};
        gemm_avx512(m, n, k, a, rsa, csa, pack_strided, &sb, accumulate, c, ldc, bias, relu,
                    work);
        return;
    }
#endif
    (void)work;
    gemm_blas(ta, tb, m, n, k, a, lda, b, ldb, accumulate, c, ldc, bias, relu);
}

void fer_gemm_packed(int ta, int m, int n, int k, const float *a, int lda, const float *bp,
                     float *c, int ldc)
{
    if (m <= 0 || n <= 0 || k <= 0)
        return;
    const long rsa = ta ? 1 : lda, csa = ta ? lda : 1;
#if HAVE_X86
    if (have_avx512()) {
        // Panel by panel: one panel (k x NR) stays in L1 while every row block of A
        // (all of A, for the small products this serves) passes over it.
        for (int j = 0; j < n; j += NR)
            for (int m0 = 0; m0 < m; m0 += MR)
                kernel_any(m - m0 < MR ? m - m0 : MR, k, a + (size_t)m0 * rsa, rsa, csa,
                           bp + (size_t)(j / NR) * k * NR, c + (size_t)m0 * ldc + j, ldc,
                           n - j < NR ? n - j : NR, 0, 1, NULL, 0);
        return;
    }
#endif
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            const float *bj = bp + (size_t)(j / NR) * k * NR + j % NR;
            float acc = 0.0f;
            for (int kk = 0; kk < k; kk++)
                acc += a[(size_t)i * rsa + (size_t)kk * csa] * bj[(size_t)kk * NR];
            c[(size_t)i * ldc + j] = acc;
        }
    }
}

void fer_gemm_cb(int ta, int m, int n, int k, const float *a, int lda, fer_gemm_pack_fn pack,
                 void *ctx, int accumulate, float *c, int ldc, const float *bias, int relu,
                 float *work)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        fer_gemm(ta, 0, m, n, k, a, lda, NULL, n, accumulate, c, ldc, bias, relu, work);
        return;
    }
    const long rsa = ta ? 1 : lda, csa = ta ? lda : 1;
#if HAVE_X86
    if (have_avx512()) {
        gemm_avx512(m, n, k, a, rsa, csa, pack, ctx, accumulate, c, ldc, bias, relu, work);
        return;
    }
#endif
    // Portable path (conv calls this only where the AVX-512 kernel runs, so it
    // serves tests): the same blocking with a plain loop over each packed block,
    // in which element (kk, j) sits in panel j/NR, row kk, column j%NR.
    float *blk = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    for (int n0 = 0; n0 < n; n0 += NC) {
        const int nc = n - n0 < NC ? n - n0 : NC;
        for (int k0 = 0; k0 < k; k0 += KC) {
            const int kc = k - k0 < KC ? k - k0 : KC;
            const int first = k0 == 0, last = k0 + kc == k;
            pack(ctx, blk, k0, kc, n0, nc);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < nc; j++) {
                    const float *bj = blk + (size_t)(j / NR) * kc * NR + j % NR;
                    float *cij = c + (size_t)i * ldc + n0 + j;
                    float acc = (!first || accumulate) ? *cij : 0.0f;
                    for (int kk = 0; kk < kc; kk++)
                        acc += a[(size_t)i * rsa + (size_t)(k0 + kk) * csa] * bj[(size_t)kk * NR];
                    if (last && bias)
                        acc += bias[i];
                    *cij = last && relu && acc < 0.0f ? 0.0f : acc;
                }
            }
        }
    }
}
