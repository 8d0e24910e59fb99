/*
 * mix.c — see mix.h.
 */
#include "train/mix.h"

#include <math.h>
#include <string.h>

#include "nn/layers.h"

/* Gamma(a, 1) for a >= 1 (Marsaglia and Tsang, 2000). */
static double gamma_ge1(uint64_t *rng, double a)
{
    const double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = fer_rng_normal(rng);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        const double u = 1.0 - fer_rng_uniform(rng); /* (0, 1] */
        if (u < 1.0 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return d * v;
    }
}

/* Gamma(a, 1), any a > 0: for a < 1, Gamma(a + 1) * U^(1/a). */
static double gamma_any(uint64_t *rng, double a)
{
    if (a >= 1.0)
        return gamma_ge1(rng, a);
    const double g = gamma_ge1(rng, a + 1.0), u = 1.0 - fer_rng_uniform(rng);
    return g * pow(u, 1.0 / a);
}

float fer_rng_beta(uint64_t *rng, float a)
{
    const double x = gamma_any(rng, a), y = gamma_any(rng, a);
    return x + y > 0.0 ? (float)(x / (x + y)) : 0.5f;
}

void fer_mix_draw(fer_mix *m, float mixup, float cutmix, float prob, int h, int w,
                  uint64_t rng)
{
    memset(m, 0, sizeof *m);
    m->lambda = 1.0f;
    if ((mixup <= 0.0f && cutmix <= 0.0f) || fer_rng_uniform(&rng) >= prob)
        return;
    int cut = cutmix > 0.0f && (mixup <= 0.0f || fer_rng_uniform(&rng) < 0.5f);
    m->lambda = fer_rng_beta(&rng, cut ? cutmix : mixup);
    if (!cut) {
        m->kind = FER_MIX_MIXUP;
        return;
    }
    /* timm's rand_bbox: sides sqrt(1 - lambda) of the image's, centre uniform, clipped. */
    const float r = sqrtf(1.0f - m->lambda);
    const int ch = (int)((float)h * r), cw = (int)((float)w * r);
    const int cy = (int)(fer_rng_uniform(&rng) * (float)h);
    const int cx = (int)(fer_rng_uniform(&rng) * (float)w);
    const int y0 = cy - ch / 2 < 0 ? 0 : cy - ch / 2, y1 = cy + ch / 2 > h ? h : cy + ch / 2;
    const int x0 = cx - cw / 2 < 0 ? 0 : cx - cw / 2, x1 = cx + cw / 2 > w ? w : cx + cw / 2;
    m->kind = FER_MIX_CUTMIX;
    m->x0 = x0;
    m->y0 = y0;
    m->w = x1 - x0;
    m->h = y1 - y0;
    m->lambda = 1.0f - (float)(m->w * m->h) / (float)(h * w);
}

void fer_mix_rows(float *x, int n, int len, int w, int image, const fer_mix *m)
{
    if (m->kind == FER_MIX_NONE)
        return;
    const float l = m->lambda, k = 1.0f - l;
    for (int i = 0; i < n / 2; i++) {
        float *a = x + (size_t)i * len, *b = x + (size_t)(n - 1 - i) * len;
        if (m->kind == FER_MIX_CUTMIX && image) {
            for (int y = m->y0; y < m->y0 + m->h; y++)
                for (int u = m->x0; u < m->x0 + m->w; u++) {
                    const float t = a[y * w + u];
                    a[y * w + u] = b[y * w + u];
                    b[y * w + u] = t;
                }
            continue;
        }
        for (int j = 0; j < len; j++) {
            const float p = a[j], q = b[j];
            a[j] = l * p + k * q;
            b[j] = l * q + k * p;
        }
    }
}
