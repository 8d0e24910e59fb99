/*
 * rng.c — the engine's random numbers: splitmix64 and a counter-based hash.
 *
 * splitmix64 (Steele, Lea, Flood 2014; Vigna's reference code) is one 64-bit
 * add plus a three-step finaliser: tiny state, no tables, identical output on
 * every platform, and good enough statistics for weight init and dropout masks.
 * fer_hash_uniform() applies the same finaliser to seed + i*golden, so element
 * i of a "random" tensor can be computed in any order, in C or in numpy
 * (tools/ferparity.py), bit for bit: every step below is exact integer
 * arithmetic, and the float conversion involves only exactly representable
 * values (a 24-bit integer, a power-of-two divide, and a subtraction of 1).
 */
#include "nn/layers.h"

#include <math.h>

#define GOLDEN_GAMMA 0x9E3779B97F4A7C15ull

/* The splitmix64 output finaliser (a variant of MurmurHash3's fmix64). */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t fer_rng_next(uint64_t *state)
{
    *state += GOLDEN_GAMMA;
    return mix64(*state);
}

float fer_rng_uniform(uint64_t *state)
{
    // The top 24 bits fill a float's mantissa exactly, so every value is a
    // multiple of 2^-24 in [0, 1) and 1.0f can never come out of rounding.
    return (float)(fer_rng_next(state) >> 40) * (1.0f / 16777216.0f);
}

/*
 * Box-Muller without the cached second value: one normal per two uniforms
 * keeps the generator's whole state in one uint64_t (no hidden "have spare"
 * flag), so a saved seed reproduces a stream exactly.
 */
float fer_rng_normal(uint64_t *state)
{
    // 1 - u lies in (0, 1], so the log is finite.
    float u1 = 1.0f - fer_rng_uniform(state);
    float u2 = fer_rng_uniform(state);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

float fer_hash_uniform(uint64_t seed, uint64_t i)
{
    uint64_t x = mix64(seed + i * GOLDEN_GAMMA);
    return (float)(x >> 40) / 8388608.0f - 1.0f;
}
