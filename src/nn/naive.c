/*
 * naive.c — the slow, obviously correct kernels the fast ones are tested against.
 *
 * Written straight from the definitions with no reuse of the fast path's
 * helpers (no im2col, no BLAS), so a shared bug cannot hide in both. Sums are
 * accumulated in double: the oracle should be more accurate than what it
 * judges, so a test's tolerance measures the fast kernel's rounding alone.
 */
#include "nn/layers.h"

void fer_conv2d_naive(float *out, const float *in, const float *w, const float *b,
                      const fer_conv_shape *s, int n)
{
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < s->k; k++) {
            for (int oy = 0; oy < s->oh; oy++) {
                for (int ox = 0; ox < s->ow; ox++) {
                    double acc = b ? b[k] : 0.0;
                    for (int c = 0; c < s->c; c++) {
                        for (int ki = 0; ki < s->kh; ki++) {
                            for (int kj = 0; kj < s->kw; kj++) {
                                int iy = oy * s->stride - s->pad + ki;
                                int ix = ox * s->stride - s->pad + kj;
                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                                    continue; // zero padding
                                double xv = in[(((size_t)i * s->c + c) * s->h + iy) * s->w + ix];
                                double wv = w[(((size_t)k * s->c + c) * s->kh + ki) * s->kw + kj];
                                acc += xv * wv;
                            }
                        }
                    }
                    out[(((size_t)i * s->k + k) * s->oh + oy) * s->ow + ox] = (float)acc;
                }
            }
        }
    }
}

void fer_matmul_naive(float *c, const float *a, const float *b, int m, int n, int k)
{
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int p = 0; p < k; p++)
                acc += (double)a[(size_t)i * k + p] * b[(size_t)p * n + j];
            c[(size_t)i * n + j] = (float)acc;
        }
    }
}
