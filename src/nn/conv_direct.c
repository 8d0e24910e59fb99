/*
 * conv_direct.c — stride-1 convolution without im2col, for AVX-512 processors.
 *
 * Copy one image into a zero-padded buffer (C, Hp, Wp) and read it as a flat
 * array. An output pixel (oy, ox) gets the flat index q = oy*Wp + ox, and then
 * the input under kernel tap (c, ki, kj) is at q + off[k] with
 * off[k] = c*Hp*Wp + ki*Wp + kj. So the im2col row k is the padded image shifted
 * by off[k]: a matrix product whose B rows are unaligned loads straight from the
 * padded image. Nothing is packed; the cost is that q also runs over the Wp - OW
 * columns past each output row (4% of the work at 48x48, 25% at 6x6), whose
 * results are never stored.
 *
 *  - forward: out (K, q) = W (K, C*KH*KW) . shifted rows, an 8 x 48 register tile
 *    (as gemm.c's kernel, with B from the image), bias and ReLU in the epilogue,
 *    stored through per-row masks that drop the extra columns;
 *  - din: the same routine on dout padded by KH-1-pad with the flipped weights
 *    (conv.c explains why the input gradient is a convolution);
 *  - dW (K, C*KH*KW) += sum_q g(K, q) . shifted rows(q): inner products along q,
 *    4 x 6 (filter, tap) pairs per register tile, with g laid out like q (zeros in
 *    the extra columns, so they add nothing), reduced once per image.
 *
 * The im2col path (conv.c, gemm.c) packs every B element once per product, and
 * with 32 or 64 filters that packing cost as much as the multiply-adds; here it
 * is gone. conv.c picks this file for stride 1 when fer_gemm_avx512() is on.
 */
#include "nn/simd.h"

#include <string.h>

#define MR 8
#define NR 48
#define SLACK 128 /* zeroed floats past a padded image: reads run up to 63 past its end */
#define DM 4      /* dW tile: filters */
#define DN 6      /* dW tile: taps */

/* The geometry of one direct convolution. */
typedef struct geom {
    int c, h, w;       /* input */
    int ph, pw;        /* padding rows, columns */
    int kh, kw;
    int k;             /* filters */
    int hp, wp;        /* padded input */
    int oh, ow;        /* output */
    int q;             /* flat output positions computed: oh * wp */
    int qr;            /* q rounded up to 16 (the dW row stride) */
} geom;

static geom make_geom(int c, int h, int w, int ph, int pw, int kh, int kw, int k)
{
    geom g = {c, h, w, ph, pw, kh, kw, k, h + 2 * ph, w + 2 * pw, 0, 0, 0, 0};
    g.oh = g.hp - kh + 1;
    g.ow = g.wp - kw + 1;
    g.q = g.oh * g.wp;
    g.qr = (g.q + 15) / 16 * 16;
    return g;
}

static size_t round16(size_t n)
{
    return (n + 15) / 16 * 16;
}

static size_t padded_size(const geom *g)
{
    return round16((size_t)g->c * g->hp * g->wp + SLACK);
}

/* Floats of one image's dW operands: the padded input and g in the q layout with DM
 * zero rows past K (a partial tile of filters reads zeros there). */
static size_t dw_image_size(const geom *g)
{
    return padded_size(g) + round16((size_t)(g->k + DM) * g->qr);
}

/* Images whose dW operands are handled together: a register tile sums over all of
 * them before its one reduction, which matters for small maps (a 6x6 map has just 3
 * vectors of q per image). Bounded so the group stays within ~1 MB (L2). */
static int dw_group(const geom *g)
{
    const size_t per = dw_image_size(g);
    int n = (int)((size_t)(256 * 1024) / per);
    return n < 1 ? 1 : n > 16 ? 16 : n;
}

int fer_conv_direct_ok(const fer_conv_shape *s)
{
    return s->stride == 1 && fer_gemm_avx512(-1);
}

/* Work: [dW: a group of padded inputs and q-layout gradients | forward: the padded
 * input | din: the padded dout], then the offsets and the flipped weights. */
static size_t data_size(const fer_conv_shape *s)
{
    const geom fw = make_geom(s->c, s->h, s->w, s->pad, s->pad, s->kh, s->kw, s->k);
    size_t need = dw_group(&fw) * dw_image_size(&fw);
    const int pb = s->kh - 1 - s->pad, pwb = s->kw - 1 - s->pad;
    if (pb >= 0 && pwb >= 0) {
        const geom bw = make_geom(s->k, s->oh, s->ow, pb, pwb, s->kh, s->kw, s->c);
        need = padded_size(&bw) > need ? padded_size(&bw) : need;
    }
    return need;
}

size_t fer_conv_direct_work_size(const fer_conv_shape *s)
{
    const size_t kk = (size_t)s->kh * s->kw;
    const size_t offs = round16(kk * (s->c > s->k ? s->c : s->k)); // ints, as floats
    return 16 + data_size(s) + offs + round16((size_t)s->k * s->c * kk);
}

/* dst (C, Hp, Wp) = src (C, H, W) with zero borders, then SLACK zeros. */
static void pad_image(float *dst, const float *src, const geom *g)
{
    const size_t plane = (size_t)g->hp * g->wp;
    for (int c = 0; c < g->c; c++) {
        float *d = dst + c * plane;
        const float *s = src + (size_t)c * g->h * g->w;
        memset(d, 0, (size_t)g->ph * g->wp * sizeof(float));
        for (int y = 0; y < g->h; y++) {
            float *row = d + (size_t)(y + g->ph) * g->wp;
            memset(row, 0, (size_t)g->pw * sizeof(float));
            memcpy(row + g->pw, s + (size_t)y * g->w, (size_t)g->w * sizeof(float));
            memset(row + g->pw + g->w, 0, (size_t)g->pw * sizeof(float));
        }
        memset(d + (size_t)(g->ph + g->h) * g->wp, 0, (size_t)g->ph * g->wp * sizeof(float));
    }
    memset(dst + g->c * plane, 0, SLACK * sizeof(float));
}

/* off[k] for k = (c, ki, kj) in im2col row order. */
static void tap_offsets(int *off, const geom *g)
{
    int k = 0;
    for (int c = 0; c < g->c; c++)
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++)
                off[k++] = (c * g->hp + ki) * g->wp + kj;
}

/* Carves the work into its parts. */
typedef struct parts {
    float *data, *wrot;
    int *off;
} parts;

static parts split(const fer_conv_shape *s, float *work)
{
    const size_t kk = (size_t)s->kh * s->kw;
    const size_t offs = round16(kk * (s->c > s->k ? s->c : s->k));
    const size_t data = data_size(s);
    float *base = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    parts p;
    p.data = base;
    p.off = (int *)(base + data);
    p.wrot = base + data + offs;
    return p;
}

/* ---- forward: the shifted-row product --------------------------------------------- */

#define AVX512 FER_AVX512
#define INLINE static inline __attribute__((always_inline))

/* Where the 16 lanes of one vector of a tile go: runs of lanes [a, a+len)
 * that land in one output row (16 / Wp + 1 at most), starting at output offset dst. */
typedef struct lane_runs {
    int n;
    int a[17], len[17];
    int dst[17];
} lane_runs;

/* The runs of vector j of the tile at q0 (flat positions q0+16j ..), dropping
 * positions past each row's OW and past q. */
static lane_runs runs_of(const geom *g, int q0)
{
    lane_runs r = {0};
    for (int l = 0; l < 16;) {
        const int q = q0 + l;
        if (q >= g->q)
            break;
        const int oy = q / g->wp, ox = q % g->wp;
        int len = g->wp - ox < 16 - l ? g->wp - ox : 16 - l;
        const int valid = ox < g->ow ? (g->ow - ox < len ? g->ow - ox : len) : 0;
        if (valid > 0) {
            r.a[r.n] = l;
            r.len[r.n] = valid;
            r.dst[r.n] = oy * g->ow + ox;
            r.n++;
        }
        l += len;
    }
    return r;
}

/*
 * out rows m0.. (mr of them) at the tile q0: acc = sum_k a[i][k] * src[off[k] + q0 + lane];
 * + bias, ReLU; stored through the lane runs. out is (M, OH*OW), a is (M, lda).
 */
INLINE AVX512 void fwd_tile(const int mr, int kc, const float *a, long lda, const float *src,
                            const int *off, float *out, long ldo, const lane_runs *runs,
                            const float *bias, int relu)
{
    __m512 acc[MR][3];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        if (i >= mr)
            break;
        acc[i][0] = acc[i][1] = acc[i][2] = _mm512_setzero_ps();
    }
#pragma GCC unroll 2
    for (int k = 0; k < kc; k++) {
        const float *b = src + off[k];
        const __m512 b0 = _mm512_loadu_ps(b);
        const __m512 b1 = _mm512_loadu_ps(b + 16);
        const __m512 b2 = _mm512_loadu_ps(b + 32);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            if (i >= mr)
                break;
            const __m512 ai = _mm512_set1_ps(a[i * lda + k]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(ai, b2, acc[i][2]);
        }
    }
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        if (i >= mr)
            break;
        for (int j = 0; j < 3; j++) {
            __m512 v = acc[i][j];
            if (bias)
                v = _mm512_add_ps(v, _mm512_set1_ps(bias[i]));
            if (relu)
                v = _mm512_max_ps(v, zero);
            const lane_runs *r = &runs[j];
            for (int t = 0; t < r->n; t++) {
                const __mmask16 m = (__mmask16)(((1u << r->len[t]) - 1) << r->a[t]);
                // Lane a lands at dst: the base is dst - a (masked lanes are not written).
                _mm512_mask_storeu_ps(out + i * ldo + (r->dst[t] - r->a[t]), m, v);
            }
        }
    }
}

static AVX512 void fwd_tile_any(int mr, int kc, const float *a, long lda, const float *src,
                                const int *off, float *out, long ldo, const lane_runs *runs,
                                const float *bias, int relu)
{
#define T_CASE(R)                                                                   \
    case R:                                                                         \
        fwd_tile(R, kc, a, lda, src, off, out, ldo, runs, bias, relu);              \
        break;
    switch (mr) {
        T_CASE(1) T_CASE(2) T_CASE(3) T_CASE(4) T_CASE(5) T_CASE(6) T_CASE(7) T_CASE(8)
    }
#undef T_CASE
}

/* out (M, OH*OW) = a (M, K) . shifted rows of the padded image pad; + bias, ReLU. */
static void shifted_product(float *out, const float *a, int m, const float *pad, const int *off,
                            const geom *g, const float *bias, int relu)
{
    const int kc = g->c * g->kh * g->kw;
    const long ldo = (long)g->oh * g->ow;
    for (int q0 = 0; q0 < g->q; q0 += NR) {
        lane_runs runs[3];
        for (int j = 0; j < 3; j++)
            runs[j] = runs_of(g, q0 + 16 * j);
        for (int m0 = 0; m0 < m; m0 += MR) {
            const int mr = m - m0 < MR ? m - m0 : MR;
            fwd_tile_any(mr, kc, a + (size_t)m0 * kc, kc, pad + q0, off, out + m0 * ldo, ldo,
                         runs, bias ? bias + m0 : NULL, relu);
        }
    }
}

void fer_conv_direct_forward(float *out, const float *in, const float *w, const float *b,
                             int relu, const fer_conv_shape *s, float *work)
{
    const geom g = make_geom(s->c, s->h, s->w, s->pad, s->pad, s->kh, s->kw, s->k);
    parts p = split(s, work);
    pad_image(p.data, in, &g);
    tap_offsets(p.off, &g);
    shifted_product(out, w, s->k, p.data, p.off, &g, b, relu);
}

/* The flipped weights (C, K, KH, KW) of w (K, C, KH, KW), for din. Call once per batch. */
void fer_conv_direct_flip(float *work, const float *w, const fer_conv_shape *s)
{
    parts p = split(s, work);
    const int K = s->k, C = s->c, KK = s->kh * s->kw;
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++)
            for (int j = 0; j < KK; j++)
                p.wrot[((size_t)c * K + k) * KK + j] = w[((size_t)k * C + c) * KK + (KK - 1 - j)];
}

/* din (C, H, W) of one image from dout (K, OH, OW); needs pad <= KH-1, KW-1 and the
 * flipped weights in work (fer_conv_direct_flip). */
void fer_conv_direct_din(float *din, const float *dout, const fer_conv_shape *s, float *work)
{
    const geom g = make_geom(s->k, s->oh, s->ow, s->kh - 1 - s->pad, s->kw - 1 - s->pad, s->kh,
                             s->kw, s->c);
    parts p = split(s, work);
    pad_image(p.data, dout, &g);
    tap_offsets(p.off, &g);
    shifted_product(din, p.wrot, s->c, p.data, p.off, &g, NULL, 0);
}

/* ---- dW: inner products along q ------------------------------------------------------- */

/* dw[i][j] += sum over q of g[i][q] * src[off[j] + q] for a 4 x 6 tile; g rows have
 * stride ldg and qr (a multiple of 16) entries. */
static AVX512 void dw_tile(float *dw, long ldw, const float *g, long ldg, const float *src,
                           const int *off, int qr, int mr, int nr, int images, long stride)
{
    __m512 acc[DM][DN];
#pragma GCC unroll 4
    for (int i = 0; i < DM; i++)
#pragma GCC unroll 6
        for (int j = 0; j < DN; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int im = 0; im < images; im++, g += stride, src += stride) {
        const float *b0 = src + off[0], *b1 = src + off[1], *b2 = src + off[2];
        const float *b3 = src + off[3], *b4 = src + off[4], *b5 = src + off[5];
        const float *g0 = g, *g1 = g + ldg, *g2 = g + 2 * ldg, *g3 = g + 3 * ldg;
        for (int q = 0; q < qr; q += 16) {
            const __m512 gv[DM] = {_mm512_load_ps(g0 + q), _mm512_load_ps(g1 + q),
                                   _mm512_load_ps(g2 + q), _mm512_load_ps(g3 + q)};
            const __m512 bv[DN] = {_mm512_loadu_ps(b0 + q), _mm512_loadu_ps(b1 + q),
                                   _mm512_loadu_ps(b2 + q), _mm512_loadu_ps(b3 + q),
                                   _mm512_loadu_ps(b4 + q), _mm512_loadu_ps(b5 + q)};
#pragma GCC unroll 6
            for (int j = 0; j < DN; j++)
#pragma GCC unroll 4
                for (int i = 0; i < DM; i++)
                    acc[i][j] = _mm512_fmadd_ps(gv[i], bv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            dw[i * ldw + j] += _mm512_reduce_add_ps(acc[i][j]);
}

/* dw (K, C*KH*KW) += sum over n images of dout (K, OH, OW) . (shifted rows of the padded
 * input)^T, dw_group() images per pass. */
void fer_conv_direct_dw(float *dw, const float *dout, const float *in, const fer_conv_shape *s,
                        int n, float *work)
{
    const geom g = make_geom(s->c, s->h, s->w, s->pad, s->pad, s->kh, s->kw, s->k);
    parts p = split(s, work);
    const int K = s->k, CKK = s->c * s->kh * s->kw, group = dw_group(&g);
    const size_t stride = dw_image_size(&g), padsz = padded_size(&g);
    tap_offsets(p.off, &g);
    int offs[DN];
    for (int i0 = 0; i0 < n; i0 += group) {
        const int gn = n - i0 < group ? n - i0 : group;
        for (int j = 0; j < gn; j++) {
            // Image j: its padded input, then g in the q layout: row k holds dout[k] with
            // Wp - OW zero columns after each output row and zeros up to qr; DM zero rows.
            float *pad = p.data + j * stride, *gq = pad + padsz;
            pad_image(pad, in + (size_t)(i0 + j) * s->c * s->h * s->w, &g);
            const float *d = dout + (size_t)(i0 + j) * K * g.oh * g.ow;
            for (int k = 0; k < K; k++) {
                float *row = gq + (size_t)k * g.qr;
                const float *src = d + (size_t)k * g.oh * g.ow;
                for (int oy = 0; oy < g.oh; oy++) {
                    memcpy(row + (size_t)oy * g.wp, src + (size_t)oy * g.ow,
                           (size_t)g.ow * sizeof(float));
                    memset(row + (size_t)oy * g.wp + g.ow, 0,
                           (size_t)(g.wp - g.ow) * sizeof(float));
                }
                memset(row + g.q, 0, (size_t)(g.qr - g.q) * sizeof(float));
            }
            memset(gq + (size_t)K * g.qr, 0, (size_t)DM * g.qr * sizeof(float));
        }
        for (int m0 = 0; m0 < K; m0 += DM) {
            const int mr = K - m0 < DM ? K - m0 : DM;
            for (int n0 = 0; n0 < CKK; n0 += DN) {
                const int nr = CKK - n0 < DN ? CKK - n0 : DN;
                for (int j = 0; j < DN; j++)
                    offs[j] = p.off[n0 + (j < nr ? j : 0)];
                dw_tile(dw + (size_t)m0 * CKK + n0, CKK, p.data + padsz + (size_t)m0 * g.qr,
                        g.qr, p.data, offs, g.qr, mr, nr, gn, (long)stride);
            }
        }
    }
}
