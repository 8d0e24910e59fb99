/*
 * relu.c — rectified linear unit, elementwise.
 *
 * The comparisons are written as selects so the compiler turns both loops
 * into branch-free vector max/blend instructions. Backward tests the saved
 * OUTPUT rather than the input: out > 0 exactly where in > 0, and it lets the
 * forward run in place (out == in) without losing what backward needs.
 */
#include "nn/layers.h"

void fer_relu_forward(float *out, const float *in, size_t count)
{
    for (size_t i = 0; i < count; i++)
        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void fer_relu_backward(float *din, const float *dout, const float *out, size_t count)
{
    for (size_t i = 0; i < count; i++)
        din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}
