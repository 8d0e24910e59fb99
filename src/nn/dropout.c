/*
 * dropout.c — inverted dropout for training.
 *
 * Kept elements are scaled by 1/(1-p) during training so inference needs no
 * rescaling at all: at inference the layer is simply not run. The mask stores
 * the multiplier itself (0 or 1/(1-p)), so backward is one multiply and never
 * needs p. Masks come from the caller's splitmix64 state, one draw per
 * element, so a saved seed reproduces a training step exactly.
 */
#include "nn/layers.h"

/*
 * out, mask, in: (count). p in [0, 1]: p >= 1 drops everything (as PyTorch);
 * p <= 0 keeps everything but still advances rng by count draws, so the
 * stream position never depends on p.
 */
void fer_dropout_forward(float *out, float *mask, const float *in, float p, size_t count,
                         uint64_t *rng)
{
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (size_t i = 0; i < count; i++) {
        // u is a multiple of 2^-24 in [0, 1): P(u >= p) = 1 - p up to 2^-24.
        float u = fer_rng_uniform(rng);
        mask[i] = u >= p ? scale : 0.0f;
        out[i] = in[i] * mask[i];
    }
}

void fer_dropout_backward(float *din, const float *dout, const float *mask, size_t count)
{
    for (size_t i = 0; i < count; i++)
        din[i] = dout[i] * mask[i];
}
