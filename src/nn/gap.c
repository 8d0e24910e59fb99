/*
 * gap.c — global average pooling, (N, C, HW) -> (N, C).
 *
 * The usual head of a small CNN before the classifier: it makes the network
 * indifferent to the last feature map's size. Backward spreads each gradient
 * evenly over the plane it averaged.
 */
#include "nn/layers.h"

void fer_gap_forward(float *out, const float *in, int c, int hw, int n)
{
    const size_t planes = (size_t)n * c;
    const float inv = 1.0f / (float)hw;
    for (size_t p = 0; p < planes; p++) {
        const float *x = in + p * hw;
        float sum = 0.0f;
        for (int j = 0; j < hw; j++)
            sum += x[j];
        out[p] = sum * inv;
    }
}

void fer_gap_backward(float *din, const float *dout, int c, int hw, int n)
{
    const size_t planes = (size_t)n * c;
    const float inv = 1.0f / (float)hw;
    for (size_t p = 0; p < planes; p++) {
        const float g = dout[p] * inv;
        float *dx = din + p * hw;
        for (int j = 0; j < hw; j++)
            dx[j] = g;
    }
}
