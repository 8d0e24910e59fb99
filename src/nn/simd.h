/*
 * simd.h — what the engine's kernels share to run AVX-512 where the processor has
 * it: the target attribute and the run-time check (fer_gemm_avx512 probes once).
 *
 * The project builds for baseline x86-64 (Debian's default), and GCC 12 at -O2
 * vectorises almost nothing, so the hot loops carry explicit AVX-512 versions
 * next to a portable one; each kernel picks at run time, and both must give the
 * same results (the tests run both).
 */
#ifndef FER_NN_SIMD_H
#define FER_NN_SIMD_H

#include "nn/layers.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FER_X86 1
#define FER_AVX512 __attribute__((target("avx512f,avx512vl")))
/* Lanes [0, n) of a 16-lane mask, 0 <= n <= 16. */
#define FER_MASK16(n) ((__mmask16)((n) >= 16 ? 0xFFFFu : ((1u << (n)) - 1u)))
#else
#define FER_X86 0
#endif

static inline int fer_simd(void)
{
    return fer_gemm_avx512(-1);
}

#endif
