/*
 * winograd.c — 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3),
 * forward only (inference).
 *
 * The output is cut into 2x2 tiles; each needs a 4x4 input tile d (overlapping its
 * neighbours by two pixels). With the transforms of Lavin and Gray (2016),
 *   U = G g G^T (4x4 per filter k and channel c, from the 3x3 kernel g),
 *   V = B^T d B (4x4 per channel c and tile t),
 *   Y = A^T [ sum_c U[k][c] (.) V[c][t] ] A   (2x2 per filter and tile),
 * where (.) is the element-wise product. For each of the 16 positions xi of the 4x4,
 * the sum over c is a matrix product M_xi (K, T) = U_xi (K, C) . V_xi (C, T): 16
 * products of K*C*T multiply-adds where im2col needs K*(9C)*(4T): 2.25x fewer.
 * Transforms use only additions (B, A) or halves (G), so the price is their passes
 * over the data and some rounding (each output sums up to 16 more terms of the
 * same products in another order; tests/test_layers.c states the bound).
 *
 * Design:
 *  - U is computed once per set of weights (fer_wino_weights, after batch norm is
 *    folded: net/run.c) into a buffer the net owns, as (16, K, C);
 *  - per image, the input is first copied into a zero-padded buffer whose rows are
 *    stored de-interleaved (even columns, then odd columns), so the four columns a
 *    tile reads (2tx .. 2tx+3) are E[tx], O[tx], E[tx+1], O[tx+1]: every transform
 *    is plain vector arithmetic over a row of tiles, 16 tiles per AVX-512 vector;
 *  - tiles are processed in blocks of whole tile rows, sized so a block's V (16, C,
 *    nb) and M (16, K, nb) stay within about 1 MB of L2 between the transform, the
 *    16 fer_gemm calls and the output transform, and where possible so that a block
 *    fills whole 48-wide panels (24x24, 64 -> 64: 0.316 -> 0.276 ms);
 *  - the output transform adds the bias and applies the ReLU before storing;
 *  - few tiles (a 6x6 map has 9): products of N = 9 columns would leave most of the
 *    kernel's 48-wide tile empty, so they run transposed, M_xi^T (T, K) =
 *    V_xi^T (T, C) . U_xi^T (C, K): the tiles are the kernel's rows (any count runs at
 *    full rate) and the filters its columns. U is then stored as U^T in fer_gemm's
 *    panel layout (16 planes of C x K rounded up to 48), the output transform runs
 *    with 16 filters per vector, and V stays a plain (C, T) matrix read transposed.
 * Odd output sizes: the last tile row/column computes a pixel past the edge (from
 * zero padding) that is never stored. The AVX-512 transforms and the portable ones
 * compute the same sums in the same order (the tests run both).
 */
#include "nn/simd.h"

#include <stdint.h>
#include <string.h>

#define BLOCK_FLOATS 16384 /* (C + K) * tiles per block: 16 * 4 bytes * this = 1 MB */
/* At most this many tiles (one panel), the products run transposed. Measured: 9 and 36
 * tiles (6x6, 12x12) 2.1x and 1.8x faster than the direct path transposed, 0.48x and
 * 1.6x in the normal orientation; 144 tiles (24x24) 0.65x transposed, 1.3x normal. */
#define FEW_TILES 48

/* The tiling of one convolution. */
typedef struct tiling {
    int th, tw;   /* tile rows, tile columns */
    int hp, we;   /* padded rows (2*th + 2); floats per de-interleaved half row (tw + 1) */
    int rb;       /* tile rows per block */
    int nb;       /* tiles per full block: rb * tw */
    int nbp;      /* nb rounded up to whole fer_gemm panels (FER_GEMM_NR) */
    int few;      /* few tiles: the products run transposed (see "Few tiles" above) */
} tiling;

static tiling make_tiling(const fer_conv_shape *s)
{
    tiling t;
    t.th = (s->oh + 1) / 2;
    t.tw = (s->ow + 1) / 2;
    t.hp = 2 * t.th + 2;
    t.we = t.tw + 1;
    t.rb = (int)(BLOCK_FLOATS / (((long long)s->c + s->k) * t.tw));
    if (t.rb < t.th) {
        // Blocks of whole 48-wide panels where possible (a block of 24 tiles would
        // fill half of its last panel): rb rounded down to a multiple of the tile rows
        // that make whole panels.
        int a = t.tw, b = FER_GEMM_NR; // gcd(tw, NR), by Euclid
        while (b) {
            const int r = a % b;
            a = b;
            b = r;
        }
        const int whole = FER_GEMM_NR / a;
        if (t.rb >= whole)
            t.rb = t.rb / whole * whole;
    }
    if (t.rb < 1)
        t.rb = 1;
    if (t.rb > t.th)
        t.rb = t.th;
    t.few = t.th * t.tw <= FEW_TILES;
    if (t.few)
        t.rb = t.th;
    t.nb = t.rb * t.tw;
    t.nbp = (t.nb + FER_GEMM_NR - 1) / FER_GEMM_NR * FER_GEMM_NR;
    return t;
}

static size_t round16(size_t n)
{
    return (n + 15) / 16 * 16;
}

int fer_wino_ok(const fer_conv_shape *s)
{
    return s->kh == 3 && s->kw == 3 && s->stride == 1 && (s->pad == 0 || s->pad == 1);
}

/*
 * The selection rule, in this one place (net/net.c asks it for every conv of an
 * inference net). Measured per layer (one image, one thread, AVX-512, CPU time, best
 * of 5 hot loops; docs/BENCHMARKS.md "CNN engine") against conv_direct.c's
 * shifted-view product, which runs near the sgemm peak, at 48x48 with 32 filters:
 * C = 1 0.33x (the first layer: 16 products reducing over one channel are all
 * overhead), C = 4 0.77x, C = 8 1.00x, C = 16 1.26x, C = 32 1.34x; and for the
 * default net's other layers 1.30x to 2.06x, the 6x6 and 12x12 ones included (with
 * the transposed products; in the normal orientation 6x6 ran at 0.48x, 12x12 at
 * 1.6x). Few filters pay too little for the transforms: with C = 64, K = 16 ran at
 * 0.71x (6x6), 0.63x (12x12), 1.02x (24x24), K = 8 at 0.47x and 0.73x, while K = 32 ran
 * at 1.14x (6x6) and 1.11x (12x12). Hence: every 3x3 stride-1 conv with at least 16
 * input channels and 32 filters (which also bounds the padding of U^T's columns to 48
 * at 1.5x).
 */
int fer_wino_pays(const fer_conv_shape *s)
{
    return fer_wino_ok(s) && s->c >= 16 && s->k >= 32;
}

/* K rounded up to whole fer_gemm panels where the products run transposed. */
static int weight_cols(const fer_conv_shape *s)
{
    const tiling t = make_tiling(s);
    return t.few ? (s->k + FER_GEMM_NR - 1) / FER_GEMM_NR * FER_GEMM_NR : s->k;
}

size_t fer_wino_weight_size(const fer_conv_shape *s)
{
    return (size_t)16 * weight_cols(s) * s->c;
}

/* u (16, K, C) = G g G^T for every 3x3 kernel g of w (K, C, 3, 3), with
 * G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]; with few tiles, each of the 16 planes
 * holds U^T (C, K) in fer_gemm's panels instead (zero columns past K). */
void fer_wino_weights(float *u, const float *w, const fer_conv_shape *s)
{
    const int C = s->c, few = make_tiling(s).few, NR = FER_GEMM_NR;
    const size_t plane = (size_t)weight_cols(s) * C;
    if (few)
        memset(u, 0, 16 * plane * sizeof(float));
    for (int k = 0; k < s->k; k++) {
        for (int c = 0; c < C; c++) {
            const float *g = w + ((size_t)k * C + c) * 9;
            const size_t at = few ? ((size_t)(k / NR) * C + c) * NR + k % NR : (size_t)k * C + c;
            float t[4][3]; // G g: 4 rows of 3
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; i++) { // (G g) G^T
                u[(size_t)(i * 4 + 0) * plane + at] = t[i][0];
                u[(size_t)(i * 4 + 1) * plane + at] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                u[(size_t)(i * 4 + 2) * plane + at] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                u[(size_t)(i * 4 + 3) * plane + at] = t[i][2];
            }
        }
    }
}

/* The workspace: the padded de-interleaved image, V, M and fer_gemm's block. */
typedef struct wino_work {
    float *pad;  /* (C, HP, 2 * WE): per row the even columns, then the odd ones */
    float *v;    /* 16 planes of C x nbp: (C, nb) row-major, or (AVX-512) fer_gemm's panels */
    float *m;    /* (16, K, nb) */
    float *gemm;
} wino_work;

/* Floats of V: panels of whole NR columns, or a plain (C, T) per plane with few tiles
 * (which keeps V within 16x the input even for a 1x1 map). */
static size_t v_size(const fer_conv_shape *s, const tiling *t)
{
    return round16((size_t)16 * s->c * (t->few ? t->nb : t->nbp));
}

static wino_work split_work(const fer_conv_shape *s, const tiling *t, float *work)
{
    const size_t pad = round16((size_t)s->c * t->hp * 2 * t->we + 16);
    const size_t v = v_size(s, t);
    const size_t m = round16((size_t)16 * s->k * t->nb);
    float *base = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    wino_work w = {base, base + pad, base + pad + v, base + pad + v + m};
    return w;
}

size_t fer_wino_work_size(const fer_conv_shape *s)
{
    if (!fer_wino_ok(s))
        return 0;
    const tiling t = make_tiling(s);
    const size_t pad = round16((size_t)s->c * t.hp * 2 * t.we + 16);
    const size_t v = v_size(s, &t);
    const size_t m = round16((size_t)16 * s->k * t.nb);
    return 16 + pad + v + m + fer_gemm_work_size(s->k, t.nb, s->c);
}

/* One image x (C, H, W) into the padded, de-interleaved buffer (zeros around it).
 * Padded column col = i + pad holds source column i: with pad 0, E[j] = x[2j] and
 * O[j] = x[2j + 1]; with pad 1, O[j] = x[2j] and E[j + 1] = x[2j + 1]. */
static void pad_rows(float *p, const float *x, const fer_conv_shape *s, const tiling *t)
{
    const int we = t->we, off = s->pad;
    for (int c = 0; c < s->c; c++) {
        for (int y = 0; y < s->h; y++) {
            const float *src = x + ((size_t)c * s->h + y) * s->w;
            float *row = p + ((size_t)c * t->hp + y + off) * 2 * we;
            float *even = off ? row + we : row, *odd = off ? row + 1 : row + we;
            for (int j = 0; 2 * j < s->w; j++)
                even[j] = src[2 * j];
            for (int j = 0; 2 * j + 1 < s->w; j++)
                odd[j] = src[2 * j + 1];
        }
    }
}

#if FER_X86
/* The same, 16 even and 16 odd columns per step (a scalar loop cost 14% of a layer). */
FER_AVX512 static void pad_rows_avx512(float *p, const float *x, const fer_conv_shape *s,
                                       const tiling *t)
{
    const int we = t->we, off = s->pad, W = s->w;
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    for (int c = 0; c < s->c; c++) {
        for (int y = 0; y < s->h; y++) {
            const float *src = x + ((size_t)c * s->h + y) * W;
            float *row = p + ((size_t)c * t->hp + y + off) * 2 * we;
            float *even = off ? row + we : row, *odd = off ? row + 1 : row + we;
            for (int i = 0; i < W; i += 32) { // source columns i .. i + 31
                const int left = W - i;
                const __m512 a = _mm512_maskz_loadu_ps(FER_MASK16(left), src + i);
                const __m512 b = _mm512_maskz_loadu_ps(FER_MASK16(left > 16 ? left - 16 : 0),
                                                       src + i + 16);
                const int ne = (left + 1) / 2, no = left / 2; // even, odd columns present
                _mm512_mask_storeu_ps(even + i / 2, FER_MASK16(ne),
                                      _mm512_permutex2var_ps(a, ev, b));
                _mm512_mask_storeu_ps(odd + i / 2, FER_MASK16(no),
                                      _mm512_permutex2var_ps(a, od, b));
            }
        }
    }
}
#endif

static void pad_image(float *p, const float *x, const fer_conv_shape *s, const tiling *t)
{
    memset(p, 0, (size_t)s->c * t->hp * 2 * t->we * sizeof(float));
#if FER_X86
    if (fer_simd()) {
        pad_rows_avx512(p, x, s, t);
        return;
    }
#endif
    pad_rows(p, x, s, t);
}

/* ---- input transform: V = B^T d B, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] ----
 * For channel c and tile row ty, tiles tx in [0, tw) go to v[xi * vs + tx]. */

static void in_row(float *v, size_t vs, const float *p, const tiling *t, int ty)
{
    const int we = t->we;
    const float *r[4];
    for (int i = 0; i < 4; i++)
        r[i] = p + (size_t)(2 * ty + i) * 2 * we;
    for (int tx = 0; tx < t->tw; tx++) {
        float c[4][4]; // per input row i: d B (columns transformed)
        for (int i = 0; i < 4; i++) {
            const float e = r[i][tx], o = r[i][we + tx], e2 = r[i][tx + 1], o2 = r[i][we + tx + 1];
            c[i][0] = e - e2;
            c[i][1] = o + e2;
            c[i][2] = e2 - o;
            c[i][3] = o - o2;
        }
        for (int j = 0; j < 4; j++) {
            v[(size_t)(0 * 4 + j) * vs + tx] = c[0][j] - c[2][j];
            v[(size_t)(1 * 4 + j) * vs + tx] = c[1][j] + c[2][j];
            v[(size_t)(2 * 4 + j) * vs + tx] = c[2][j] - c[1][j];
            v[(size_t)(3 * 4 + j) * vs + tx] = c[1][j] - c[3][j];
        }
    }
}

/* ---- output transform: Y = A^T m A, A^T = [1 1 1 0; 0 1 -1 -1] --------------------
 * For filter k and tile row ty, from m[xi * ms + tx], into o (OH, OW). */

/* One tile: the 16 values p[xi * ms], plus bias, ReLU when relu, into the 2x2 at d
 * (rows ow floats apart), cut to the map's edge (two_rows, two_cols). */
static void out_tile(float *d, int ow, const float *p, size_t ms, float bias, int relu,
                     int two_rows, int two_cols)
{
    float r0[4], r1[4]; // A^T m: two rows of 4
    for (int j = 0; j < 4; j++) {
        const float m0 = p[(size_t)j * ms], m1 = p[(size_t)(4 + j) * ms];
        const float m2 = p[(size_t)(8 + j) * ms], m3 = p[(size_t)(12 + j) * ms];
        r0[j] = m0 + m1 + m2;
        r1[j] = m1 - m2 - m3;
    }
    float y[4] = {r0[0] + r0[1] + r0[2] + bias, r0[1] - r0[2] - r0[3] + bias,
                  r1[0] + r1[1] + r1[2] + bias, r1[1] - r1[2] - r1[3] + bias};
    if (relu)
        for (int i = 0; i < 4; i++)
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    d[0] = y[0];
    if (two_cols)
        d[1] = y[1];
    if (two_rows) {
        d[ow] = y[2];
        if (two_cols)
            d[ow + 1] = y[3];
    }
}

static void out_row(float *o, const float *m, size_t ms, float bias, int relu,
                    const fer_conv_shape *s, const tiling *t, int ty)
{
    const int two_rows = 2 * ty + 1 < s->oh;
    for (int tx = 0; tx < t->tw; tx++)
        out_tile(o + (size_t)2 * ty * s->ow + 2 * tx, s->ow, m + tx, ms, bias, relu, two_rows,
                 2 * tx + 1 < s->ow);
}

/* The output transform with few tiles: from m planes (T, K) (ms floats apart), tile
 * tt at (ty, tx), filters [k0, k1), into o (K, OH, OW). */
static void out_tile_few(float *o, const float *m, size_t ms, const float *b, int relu,
                         const fer_conv_shape *s, int tt, int ty, int tx, int k0, int k1)
{
    const size_t plane = (size_t)s->oh * s->ow;
    const int two_rows = 2 * ty + 1 < s->oh, two_cols = 2 * tx + 1 < s->ow;
    float *d = o + (size_t)2 * ty * s->ow + 2 * tx;
    for (int k = k0; k < k1; k++)
        out_tile(d + (size_t)k * plane, s->ow, m + (size_t)tt * s->k + k, ms, b ? b[k] : 0.0f,
                 relu, two_rows, two_cols);
}

#if FER_X86
/* The same two transforms, 16 tiles per vector (a masked last vector). */

/* Stores the nv lanes of x as tiles t0 .. t0 + nv - 1 of row c of a plane in fer_gemm's
 * panel layout (tile t at ((t / NR) * C + c) * NR + t % NR): a vector that crosses into
 * the next panel is split, its upper lanes compressed down to that panel's start. */
typedef struct panel_pos {
    size_t at, at2;    /* offsets of the first lane and of the split-off lanes */
    __mmask16 k1, k2;  /* lanes stored at at, lanes (compressed) stored at at2 */
    __mmask16 k2n;     /* the first popcount(k2) lanes: where the compressed ones go */
} panel_pos;

FER_AVX512 static panel_pos panel_at(int t0, int nv, int c, int C)
{
    const int NR = FER_GEMM_NR, p = t0 / NR, q = t0 % NR, fit = NR - q;
    panel_pos r = {((size_t)p * C + c) * NR + q, ((size_t)(p + 1) * C + c) * NR,
                   FER_MASK16(nv < fit ? nv : fit), 0, 0};
    if (nv > fit) {
        r.k2 = (__mmask16)(FER_MASK16(nv) & ~FER_MASK16(fit));
        r.k2n = FER_MASK16(nv - fit);
    }
    return r;
}

FER_AVX512 static inline void panel_store(float *plane, const panel_pos *pp, __m512 x)
{
    _mm512_mask_storeu_ps(plane + pp->at, pp->k1, x);
    if (pp->k2)
        _mm512_mask_storeu_ps(plane + pp->at2, pp->k2n, _mm512_maskz_compress_ps(pp->k2, x));
}

/* The input transform for channel c, tile row ty, whose first tile is trow of the block,
 * into the 16 planes (vs floats apart) in panel layout. */
FER_AVX512 static void in_row_avx512(float *v, size_t vs, int c, int C, int trow,
                                     const float *p, const tiling *t, int ty)
{
    const int we = t->we;
    const float *r[4];
    for (int i = 0; i < 4; i++)
        r[i] = p + (size_t)(2 * ty + i) * 2 * we;
    for (int tx = 0; tx < t->tw; tx += 16) {
        const int nv = t->tw - tx < 16 ? t->tw - tx : 16;
        const __mmask16 k = FER_MASK16(nv);
        const panel_pos pp = panel_at(trow + tx, nv, c, C);
        __m512 cc[4][4];
        for (int i = 0; i < 4; i++) {
            const __m512 e = _mm512_maskz_loadu_ps(k, r[i] + tx);
            const __m512 o = _mm512_maskz_loadu_ps(k, r[i] + we + tx);
            const __m512 e2 = _mm512_maskz_loadu_ps(k, r[i] + tx + 1);
            const __m512 o2 = _mm512_maskz_loadu_ps(k, r[i] + we + tx + 1);
            cc[i][0] = _mm512_sub_ps(e, e2);
            cc[i][1] = _mm512_add_ps(o, e2);
            cc[i][2] = _mm512_sub_ps(e2, o);
            cc[i][3] = _mm512_sub_ps(o, o2);
        }
        for (int j = 0; j < 4; j++) {
            panel_store(v + (size_t)(0 * 4 + j) * vs, &pp, _mm512_sub_ps(cc[0][j], cc[2][j]));
            panel_store(v + (size_t)(1 * 4 + j) * vs, &pp, _mm512_add_ps(cc[1][j], cc[2][j]));
            panel_store(v + (size_t)(2 * 4 + j) * vs, &pp, _mm512_sub_ps(cc[2][j], cc[1][j]));
            panel_store(v + (size_t)(3 * 4 + j) * vs, &pp, _mm512_sub_ps(cc[1][j], cc[3][j]));
        }
    }
}

FER_AVX512 static void out_row_avx512(float *o, const float *m, size_t ms, float bias, int relu,
                                      const fer_conv_shape *s, const tiling *t, int ty)
{
    const int two_rows = 2 * ty + 1 < s->oh;
    const __m512 vb = _mm512_set1_ps(bias), zero = _mm512_setzero_ps();
    // Interleaving indices: (a0 b0 a1 b1 ...) from a (lanes 0-15) and b (16-31).
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                        24, 8);
    for (int tx = 0; tx < t->tw; tx += 16) {
        const __mmask16 k = FER_MASK16(t->tw - tx);
        __m512 r0[4], r1[4];
        for (int j = 0; j < 4; j++) {
            const __m512 m0 = _mm512_maskz_loadu_ps(k, m + (size_t)j * ms + tx);
            const __m512 m1 = _mm512_maskz_loadu_ps(k, m + (size_t)(4 + j) * ms + tx);
            const __m512 m2 = _mm512_maskz_loadu_ps(k, m + (size_t)(8 + j) * ms + tx);
            const __m512 m3 = _mm512_maskz_loadu_ps(k, m + (size_t)(12 + j) * ms + tx);
            r0[j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
            r1[j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
        }
        __m512 y[4] = {
            _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(r0[0], r0[1]), r0[2]), vb),
            _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(r0[1], r0[2]), r0[3]), vb),
            _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(r1[0], r1[1]), r1[2]), vb),
            _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(r1[1], r1[2]), r1[3]), vb),
        };
        if (relu)
            for (int i = 0; i < 4; i++)
                y[i] = _mm512_max_ps(y[i], zero);
        // Output columns 2tx .. 2tx + 31, of which those before OW are stored.
        const int left = s->ow - 2 * tx;
        const __mmask16 k0 = FER_MASK16(left), k1 = FER_MASK16(left > 16 ? left - 16 : 0);
        float *d = o + (size_t)2 * ty * s->ow + 2 * tx;
        for (int rr = 0; rr < 1 + two_rows; rr++) {
            const __m512 a = y[2 * rr], b = y[2 * rr + 1];
            _mm512_mask_storeu_ps(d + (size_t)rr * s->ow, k0, _mm512_permutex2var_ps(a, lo, b));
            _mm512_mask_storeu_ps(d + (size_t)rr * s->ow + 16, k1,
                                  _mm512_permutex2var_ps(a, hi, b));
        }
    }
}
/* out_tile_few, 16 filters per vector (the tail, K % 16, left to the portable one). */
FER_AVX512 static void out_tile_few_avx512(float *o, const float *m, size_t ms, const float *b,
                                           int relu, const fer_conv_shape *s, int tt, int ty,
                                           int tx)
{
    const size_t plane = (size_t)s->oh * s->ow;
    const int two_rows = 2 * ty + 1 < s->oh, two_cols = 2 * tx + 1 < s->ow;
    const int K16 = s->k / 16 * 16;
    float *d = o + (size_t)2 * ty * s->ow + 2 * tx;
    const __m512 zero = _mm512_setzero_ps();
    for (int k = 0; k < K16; k += 16) {
        const float *mk = m + (size_t)tt * s->k + k;
        __m512 r0[4], r1[4];
        for (int j = 0; j < 4; j++) {
            const __m512 m0 = _mm512_loadu_ps(mk + j * ms), m1 = _mm512_loadu_ps(mk + (4 + j) * ms);
            const __m512 m2 = _mm512_loadu_ps(mk + (8 + j) * ms);
            const __m512 m3 = _mm512_loadu_ps(mk + (12 + j) * ms);
            r0[j] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
            r1[j] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
        }
        const __m512 vb = b ? _mm512_loadu_ps(b + k) : zero;
        __m512 y[4] = {
            _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(r0[0], r0[1]), r0[2]), vb),
            _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(r0[1], r0[2]), r0[3]), vb),
            _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(r1[0], r1[1]), r1[2]), vb),
            _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(r1[1], r1[2]), r1[3]), vb),
        };
        float yy[4][16];
        for (int i = 0; i < 4; i++)
            _mm512_storeu_ps(yy[i], relu ? _mm512_max_ps(y[i], zero) : y[i]);
        // 16 filters' pixels are a plane apart: scalar stores.
        for (int l = 0; l < 16; l++) {
            float *dk = d + (size_t)(k + l) * plane;
            dk[0] = yy[0][l];
            if (two_cols)
                dk[1] = yy[1][l];
            if (two_rows) {
                dk[s->ow] = yy[2][l];
                if (two_cols)
                    dk[s->ow + 1] = yy[3][l];
            }
        }
    }
    if (K16 < s->k)
        out_tile_few(o, m, ms, b, relu, s, tt, ty, tx, K16, s->k);
}
#endif

/*
 * out (N, K, OH, OW) = conv(in (N, C, H, W)) with the transformed weights u (16, K, C)
 * (fer_wino_weights) + b (K, or NULL), then max(0, .) if relu. fer_wino_ok(s) must
 * hold; work: fer_wino_work_size(s) floats.
 */
void fer_wino_forward(float *out, const float *in, const float *u, const float *b, int relu,
                      const fer_conv_shape *s, int n, float *work)
{
    const tiling t = make_tiling(s);
    const wino_work w = split_work(s, &t, work);
    const int C = s->c, K = s->k;
    const size_t kc = (size_t)K * C;
#if FER_X86
    const int simd = fer_simd();
#endif

    for (int i = 0; i < n; i++) {
        const float *x = in + (size_t)i * C * s->h * s->w;
        float *o = out + (size_t)i * K * s->oh * s->ow;
        pad_image(w.pad, x, s, &t);
        if (t.few) {
            // Transposed products (the top comment): V plain (C, T), u as U^T panels.
            const int T = t.nb;
            const size_t vs = (size_t)C * T, ms = (size_t)T * K, us = (size_t)weight_cols(s) * C;
            for (int c = 0; c < C; c++)
                for (int ty = 0; ty < t.th; ty++)
                    in_row(w.v + (size_t)c * T + (size_t)ty * t.tw, vs,
                           w.pad + (size_t)c * t.hp * 2 * t.we, &t, ty);
            for (int xi = 0; xi < 16; xi++)
                fer_gemm_packed(1, T, K, C, w.v + xi * vs, T, u + xi * us, w.m + xi * ms, K);
            for (int tt = 0; tt < T; tt++) {
#if FER_X86
                if (simd) {
                    out_tile_few_avx512(o, w.m, ms, b, relu, s, tt, tt / t.tw, tt % t.tw);
                    continue;
                }
#endif
                out_tile_few(o, w.m, ms, b, relu, s, tt, tt / t.tw, tt % t.tw, 0, K);
            }
            continue;
        }
        for (int ty0 = 0; ty0 < t.th; ty0 += t.rb) {
            const int rows = t.th - ty0 < t.rb ? t.th - ty0 : t.rb;
            const int nb = rows * t.tw;
            const size_t vs = (size_t)C * t.nbp, ms = (size_t)K * nb; // one xi's plane
#if FER_X86
            if (simd) {
                // V straight into fer_gemm's panels: no packing copy per product.
                for (int c = 0; c < C; c++) {
                    const float *p = w.pad + (size_t)c * t.hp * 2 * t.we;
                    for (int r = 0; r < rows; r++)
                        in_row_avx512(w.v, vs, c, C, r * t.tw, p, &t, ty0 + r);
                }
                for (int xi = 0; xi < 16; xi++)
                    fer_gemm_packed(0, K, nb, C, u + xi * kc, C, w.v + xi * vs, w.m + xi * ms,
                                    nb);
            } else
#endif
            {
                for (int c = 0; c < C; c++) {
                    const float *p = w.pad + (size_t)c * t.hp * 2 * t.we;
                    for (int r = 0; r < rows; r++)
                        in_row(w.v + (size_t)c * nb + (size_t)r * t.tw, (size_t)C * nb, p, &t,
                               ty0 + r);
                }
                for (int xi = 0; xi < 16; xi++)
                    fer_gemm(0, 0, K, nb, C, u + xi * kc, C, w.v + xi * (size_t)C * nb, nb, 0,
                             w.m + xi * ms, nb, NULL, 0, w.gemm);
            }
            for (int k = 0; k < K; k++) {
                const float bias = b ? b[k] : 0.0f;
                float *ok = o + (size_t)k * s->oh * s->ow;
                for (int r = 0; r < rows; r++) {
                    const float *m = w.m + (size_t)k * nb + (size_t)r * t.tw;
#if FER_X86
                    if (simd) {
                        out_row_avx512(ok, m, ms, bias, relu, s, &t, ty0 + r);
                        continue;
                    }
#endif
                    out_row(ok, m, ms, bias, relu, s, &t, ty0 + r);
                }
            }
        }
    }
}
