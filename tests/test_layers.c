/*
 * test_layers.c — unit tests of the CNN engine's kernels (src/nn/).
 *
 * Three kinds of evidence, as in llm.c's test_gpt2.c and ggml's test-backend-ops:
 *  - every backward against central finite differences of the forward, with
 *    the scalar loss L = sum(out * r) for a fixed random r (so dL/dout = r),
 *    accumulated in double; inputs are kept away from the kinks of ReLU and
 *    max-pool so the difference quotient is the derivative;
 *  - every fast forward against a slow oracle (direct convolution,
 *    triple-loop matmul) or an identity it must satisfy (im2col's adjoint,
 *    batch-norm folding);
 *  - small examples with hand-computed answers (cross-entropy, max-pool
 *    ties, running statistics) and bit-exact reference values (the hash that
 *    must match numpy).
 * Each test runs in its own forked process (Check's default), so one crash
 * does not hide the rest.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"

/* ---- helpers ---------------------------------------------------------------- */

/* Every buffer a test allocates is tracked and released by free_all(), so the
 * tests stay short and ASan's leak check stays quiet. */
static void *tracked[64];
static int ntracked;

static float *falloc(size_t n)
{
    ck_assert_int_lt(ntracked, (int)(sizeof tracked / sizeof tracked[0]));
    float *p = calloc(n ? n : 1, sizeof(float));
    ck_assert_ptr_nonnull(p);
    tracked[ntracked++] = p;
    return p;
}

/* The same, 64-byte aligned (what fer_wino_weights requires of its output). */
static float *falloc64(size_t n)
{
    ck_assert_int_lt(ntracked, (int)(sizeof tracked / sizeof tracked[0]));
    const size_t bytes = ((n ? n : 1) * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    ck_assert_ptr_nonnull(p);
    memset(p, 0, bytes);
    tracked[ntracked++] = p;
    return p;
}

static void free_all(void)
{
    while (ntracked > 0)
        free(tracked[--ntracked]);
}

static void fill_uniform(float *x, size_t n, float lo, float hi, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * fer_rng_uniform(rng);
}

static double max_abs(const float *a, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i]));
    return m;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

/* ---- the finite-difference harness -------------------------------------------- */

/* A forward pass to differentiate: forward(ctx) recomputes out (nout) from the
 * inputs it reads through ctx; the loss is sum(out * r). */
typedef struct fd_problem {
    void (*forward)(void *ctx);
    void *ctx;
    const float *out;
    const float *r;
    size_t nout;
} fd_problem;

static double fd_loss(const fd_problem *p)
{
    p->forward(p->ctx);
    return dot(p->out, p->r, p->nout);
}

/*
 * Checks the analytic gradient g (n) of the loss with respect to x (n) against
 * central differences (L(x+h) - L(x-h)) / 2h, perturbing x in place. The step
 * is divided by what the perturbation really was after rounding x +- eps to
 * float, not by 2*eps. The criterion is a norm: ||g - num|| / max(||g||, ||num||)
 * < tol, robust to the float noise of single elements; a second, looser bound
 * on the worst element catches an error confined to a few entries (a border
 * pixel, one channel) that the norm could dilute.
 */
static void check_grad(const fd_problem *p, const char *what, float *x, const float *g, size_t n,
                       float eps, double tol)
{
    double *num = malloc(n * sizeof *num);
    ck_assert_ptr_nonnull(num);
    for (size_t i = 0; i < n; i++) {
        const float save = x[i];
        x[i] = save + eps;
        const double xp = x[i];
        const double lp = fd_loss(p);
        x[i] = save - eps;
        const double xm = x[i];
        const double lm = fd_loss(p);
        x[i] = save;
        num[i] = (lp - lm) / (xp - xm);
    }
    p->forward(p->ctx); // leave the outputs as they were at x

    double d2 = 0.0, a2 = 0.0, n2 = 0.0, worst = 0.0, nmax = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = g[i] - num[i];
        d2 += d * d;
        a2 += (double)g[i] * g[i];
        n2 += num[i] * num[i];
        nmax = fmax(nmax, fabs(num[i]));
        if (fabs(d) > worst) {
            worst = fabs(d);
            at = i;
        }
    }
    const double scale = fmax(sqrt(fmax(a2, n2)), 1e-12);
    const double rel = sqrt(d2) / scale;
    const double elem = worst / fmax(nmax, 1e-12);
    const double g_at = g[at], num_at = num[at];
    free(num);
    ck_assert_msg(rel < tol && elem < 5 * tol,
                  "%s: gradient error %.3g in norm (tol %.3g), %.3g at worst element %zu "
                  "(analytic %.6g, numeric %.6g)",
                  what, rel, tol, elem, at, g_at, num_at);
}

/*
 * Tolerances of check_grad. Ops that are linear (or piecewise linear, away
 * from their kinks) in the perturbed argument have no truncation error, so
 * only float rounding separates the two gradients (measured ~1e-5): they get
 * a tight bound that also notices a single wrong border element. Curved ops
 * (batch norm, cross-entropy; measured ~1e-4) get the looser one.
 */
#define LINEAR_TOL 1e-3
#define CURVED_TOL 1e-2

/* ---- convolution: shapes used by several tests ---------------------------------- */

typedef struct conv_case {
    int c, h, w, k, kh, kw, stride, pad, n;
} conv_case;

static fer_conv_shape make_conv(const conv_case *cc)
{
    fer_conv_shape s = {.c = cc->c, .h = cc->h, .w = cc->w, .k = cc->k, .kh = cc->kh,
                        .kw = cc->kw, .stride = cc->stride, .pad = cc->pad};
    ck_assert_int_eq(fer_conv_shape_init(&s), 0);
    return s;
}

static const conv_case grad_cases[] = {
    {2, 5, 5, 3, 3, 3, 1, 1, 2}, /* "same" 3x3, batch 2 */
    {3, 7, 6, 4, 5, 5, 2, 2, 1}, /* 5x5, stride 2, pad 2, non-square input */
    {2, 8, 5, 3, 3, 3, 2, 0, 2}, /* stride 2, no padding */
    {3, 6, 7, 5, 1, 1, 1, 0, 2}, /* 1x1 direct path (no im2col) */
    {3, 6, 7, 2, 1, 1, 2, 0, 1}, /* 1x1 with stride 2: im2col path */
    {2, 4, 5, 3, 3, 3, 1, 2, 1}, /* padding wider than the kernel needs */
    {1, 9, 7, 2, 3, 2, 1, 1, 2}, /* non-square kernel */
    {2, 7, 7, 3, 2, 2, 3, 1, 1}, /* stride > kernel: pixels no window reads */
    {1, 5, 5, 2, 5, 5, 1, 0, 1}, /* kernel covers the image: 1x1 output */
};

typedef struct conv_ctx {
    fer_conv_shape s;
    int n;
    float *out, *in, *w, *b, *work;
} conv_ctx;

static void conv_fwd(void *vctx)
{
    conv_ctx *c = vctx;
    fer_conv2d_forward(c->out, c->in, c->w, c->b, &c->s, c->n, c->work);
}

START_TEST(conv_backward_matches_finite_differences)
{
    const conv_case *cc = &grad_cases[_i];
    uint64_t rng = 1000 + (uint64_t)_i;
    conv_ctx c = {.s = make_conv(cc), .n = cc->n};
    const fer_conv_shape *s = &c.s;
    const size_t nin = (size_t)cc->n * s->c * s->h * s->w;
    const size_t nw = (size_t)s->k * s->c * s->kh * s->kw;
    const size_t nout = (size_t)cc->n * s->k * s->oh * s->ow;
    const size_t ws = fer_conv_work_size(s);

    c.in = falloc(nin);
    c.w = falloc(nw);
    c.b = falloc(s->k);
    c.out = falloc(nout);
    c.work = falloc(ws);
    float *r = falloc(nout), *din = falloc(nin), *dw = falloc(nw), *db = falloc(s->k);
    fill_uniform(c.in, nin, -1, 1, &rng);
    fill_uniform(c.w, nw, -1, 1, &rng);
    fill_uniform(c.b, s->k, -1, 1, &rng);
    fill_uniform(r, nout, -1, 1, &rng);

    conv_fwd(&c);
    fer_conv2d_backward(din, dw, db, r, c.in, c.w, s, cc->n, c.work);

    // The loss is linear in each argument, so a large step costs no truncation
    // error and keeps the float rounding of the loss small against the change.
    fd_problem p = {conv_fwd, &c, c.out, r, nout};
    char what[96];
    snprintf(what, sizeof what, "conv case %d din", _i);
    check_grad(&p, what, c.in, din, nin, 1e-2f, LINEAR_TOL);
    snprintf(what, sizeof what, "conv case %d dw", _i);
    check_grad(&p, what, c.w, dw, nw, 1e-2f, LINEAR_TOL);
    snprintf(what, sizeof what, "conv case %d db", _i);
    check_grad(&p, what, c.b, db, s->k, 1e-2f, LINEAR_TOL);
    free_all();
}
END_TEST

/* dw and db accumulate (+=) across calls while din is overwritten; NULL din and
 * db skip those outputs without changing dw. */
START_TEST(conv_backward_accumulates_and_skips_null)
{
    const conv_case cc = {3, 6, 5, 4, 3, 3, 1, 1, 2};
    fer_conv_shape s = make_conv(&cc);
    uint64_t rng = 7;
    const size_t nin = (size_t)cc.n * s.c * s.h * s.w;
    const size_t nw = (size_t)s.k * s.c * s.kh * s.kw;
    const size_t nout = (size_t)cc.n * s.k * s.oh * s.ow;
    float *in = falloc(nin), *w = falloc(nw), *dout = falloc(nout), *work = falloc(fer_conv_work_size(&s));
    float *din1 = falloc(nin), *dw1 = falloc(nw), *db1 = falloc(s.k);
    float *din2 = falloc(nin), *dw2 = falloc(nw), *db2 = falloc(s.k), *dw3 = falloc(nw);
    fill_uniform(in, nin, -1, 1, &rng);
    fill_uniform(w, nw, -1, 1, &rng);
    fill_uniform(dout, nout, -1, 1, &rng);

    fer_conv2d_backward(din1, dw1, db1, dout, in, w, &s, cc.n, work);
    fill_uniform(din2, nin, 5, 6, &rng); // garbage that must be overwritten
    fer_conv2d_backward(din2, dw2, db2, dout, in, w, &s, cc.n, work);
    fer_conv2d_backward(din2, dw2, db2, dout, in, w, &s, cc.n, work);
    fer_conv2d_backward(NULL, dw3, NULL, dout, in, w, &s, cc.n, work);

    ck_assert(max_abs_diff(din1, din2, nin) == 0.0);
    for (size_t i = 0; i < nw; i++)
        ck_assert_float_eq_tol(dw2[i], 2 * dw1[i], 1e-5f * (1 + fabsf(dw1[i])));
    for (int k = 0; k < s.k; k++)
        ck_assert_float_eq_tol(db2[k], 2 * db1[k], 1e-5f * (1 + fabsf(db1[k])));
    ck_assert(max_abs_diff(dw1, dw3, nw) == 0.0);
    free_all();
}
END_TEST

START_TEST(conv_shape_init)
{
    fer_conv_shape s = {.c = 1, .h = 48, .w = 40, .k = 8, .kh = 3, .kw = 3, .stride = 2, .pad = 1};
    ck_assert_int_eq(fer_conv_shape_init(&s), 0);
    ck_assert_int_eq(s.oh, 24); // (48 + 2 - 3)/2 + 1
    ck_assert_int_eq(s.ow, 20); // (40 + 2 - 3)/2 + 1
    ck_assert_uint_ge(fer_conv_work_size(&s), 9u * 24 * 20); // at least one image's im2col

    fer_conv_shape d = {.c = 4, .h = 5, .w = 6, .k = 2, .kh = 1, .kw = 1, .stride = 1, .pad = 0};
    ck_assert_int_eq(fer_conv_shape_init(&d), 0);
    // The direct 1x1 path needs no im2col, only the product's packing block.
    ck_assert_uint_lt(fer_conv_work_size(&d), fer_conv_work_size(&s));

    // A kernel larger than the padded input: no output (not a bogus 1x1 one).
    fer_conv_shape e = {.c = 1, .h = 3, .w = 8, .k = 1, .kh = 5, .kw = 3, .stride = 2, .pad = 0};
    ck_assert_int_eq(fer_conv_shape_init(&e), -1);
    fer_conv_shape z = {.c = 1, .h = 3, .w = 3, .k = 1, .kh = 3, .kw = 3, .stride = 0, .pad = 0};
    ck_assert_int_eq(fer_conv_shape_init(&z), -1);
}
END_TEST

/* im2col + sgemm against the six-loop oracle on random shapes plus fixed 1x1 ones. */
START_TEST(conv_forward_matches_naive)
{
    uint64_t rng = 20240601;
    const conv_case fixed[] = {
        {4, 6, 5, 3, 1, 1, 1, 0, 1}, {7, 3, 9, 5, 1, 1, 1, 0, 3}, /* direct 1x1 */
        {1, 48, 48, 8, 3, 3, 1, 1, 1},                            /* a FER first layer */
        {5, 4, 4, 6, 1, 1, 2, 1, 2},                              /* 1x1 with stride, pad */
    };
    const int nfixed = (int)(sizeof fixed / sizeof fixed[0]);
    int tested = 0;
    for (int t = 0; tested < 24; t++) {
        conv_case cc;
        if (t < nfixed) {
            cc = fixed[t];
        } else {
            cc.c = 1 + (int)(fer_rng_next(&rng) % 5);
            cc.h = 1 + (int)(fer_rng_next(&rng) % 12);
            cc.w = 1 + (int)(fer_rng_next(&rng) % 12);
            cc.k = 1 + (int)(fer_rng_next(&rng) % 6);
            cc.kh = 1 + (int)(fer_rng_next(&rng) % 5);
            cc.kw = 1 + (int)(fer_rng_next(&rng) % 5);
            cc.stride = 1 + (int)(fer_rng_next(&rng) % 3);
            cc.pad = (int)(fer_rng_next(&rng) % 3);
            cc.n = 1 + (int)(fer_rng_next(&rng) % 3);
        }
        fer_conv_shape s = {.c = cc.c, .h = cc.h, .w = cc.w, .k = cc.k, .kh = cc.kh,
                            .kw = cc.kw, .stride = cc.stride, .pad = cc.pad};
        if (fer_conv_shape_init(&s) != 0)
            continue; // kernel larger than the padded input: draw again
        const size_t nin = (size_t)cc.n * s.c * s.h * s.w;
        const size_t nw = (size_t)s.k * s.c * s.kh * s.kw;
        const size_t nout = (size_t)cc.n * s.k * s.oh * s.ow;
        const size_t ws = fer_conv_work_size(&s);
        float *in = falloc(nin), *w = falloc(nw), *b = falloc(s.k);
        float *fast = falloc(nout), *ref = falloc(nout), *work = ws ? falloc(ws) : NULL;
        fill_uniform(in, nin, -1, 1, &rng);
        fill_uniform(w, nw, -1, 1, &rng);
        fill_uniform(b, s.k, -1, 1, &rng);
        fill_uniform(fast, nout, 100, 101, &rng); // must be overwritten
        const float *bias = (t % 2) ? b : NULL;   // with and without bias

        fer_conv2d_forward(fast, in, w, bias, &s, cc.n, work);
        fer_conv2d_naive(ref, in, w, bias, &s, cc.n);
        const double diff = max_abs_diff(fast, ref, nout);
        ck_assert_msg(diff < 1e-5 * (1 + s.c * s.kh * s.kw),
                      "shape %d (c%d h%d w%d k%d %dx%d s%d p%d n%d): max diff %.3g", t, cc.c,
                      cc.h, cc.w, cc.k, cc.kh, cc.kw, cc.stride, cc.pad, cc.n, diff);
        free_all();
        tested++;
    }
}
END_TEST

/* <im2col(x), y> == <x, col2im(y)>: col2im is exactly the transpose of im2col,
 * which is what makes the convolution's input gradient correct. */
START_TEST(im2col_col2im_adjoint)
{
    const conv_case cases[] = {
        {2, 5, 5, 1, 3, 3, 1, 1, 1}, {3, 7, 6, 1, 5, 5, 2, 2, 1}, {1, 8, 5, 1, 3, 2, 2, 0, 1},
        {2, 7, 7, 1, 2, 2, 3, 1, 1}, {2, 4, 5, 1, 3, 3, 1, 2, 1}, {3, 6, 7, 1, 1, 1, 2, 0, 1},
        {1, 3, 3, 1, 3, 3, 1, 2, 1},
    };
    uint64_t rng = 99;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        fer_conv_shape s = make_conv(&cases[t]);
        const size_t nim = (size_t)s.c * s.h * s.w;
        const size_t ncol = (size_t)s.c * s.kh * s.kw * s.oh * s.ow;
        float *x = falloc(nim), *y = falloc(ncol), *col = falloc(ncol), *im = falloc(nim);
        fill_uniform(x, nim, -1, 1, &rng);
        fill_uniform(y, ncol, -1, 1, &rng);
        fill_uniform(col, ncol, 50, 60, &rng); // im2col must overwrite all of col
        fer_im2col(col, x, &s);
        fer_col2im(im, y, &s);
        const double lhs = dot(col, y, ncol), rhs = dot(x, im, nim);
        ck_assert_msg(fabs(lhs - rhs) <= 1e-5 * (1 + fabs(lhs)),
                      "case %zu: <im2col(x), y> = %.9g, <x, col2im(y)> = %.9g", t, lhs, rhs);
        free_all();
    }
}
END_TEST

/* ---- the matrix product and the packed im2col ------------------------------------------ */

/* fer_gemm (both kernels: AVX-512 where present, and cblas) against the double-precision
 * oracle over random shapes, both transposes, accumulation, bias and ReLU. */
START_TEST(gemm_matches_naive)
{
    uint64_t rng = 4242;
    for (int isa = 1; isa >= 0; isa--) {
        fer_gemm_avx512(isa);
        for (int t = 0; t < 40; t++) {
            const int m = 1 + (int)(fer_rng_next(&rng) % 40), n = 1 + (int)(fer_rng_next(&rng) % 110);
            const int k = 1 + (int)(fer_rng_next(&rng) % (t < 30 ? 50 : 900)); // past one block
            const int ta = (int)(fer_rng_next(&rng) % 2), tb = (int)(fer_rng_next(&rng) % 2);
            const int acc = (int)(fer_rng_next(&rng) % 2), relu = (int)(fer_rng_next(&rng) % 2);
            const int use_bias = (int)(fer_rng_next(&rng) % 2);
            float *a = falloc((size_t)m * k), *b = falloc((size_t)k * n), *bias = falloc(m);
            float *c = falloc((size_t)m * n), *ref = falloc((size_t)m * n);
            float *work = falloc(fer_gemm_work_size(m, n, k));
            fill_uniform(a, (size_t)m * k, -1, 1, &rng);
            fill_uniform(b, (size_t)k * n, -1, 1, &rng);
            fill_uniform(bias, m, -1, 1, &rng);
            fill_uniform(c, (size_t)m * n, -1, 1, &rng);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double v = acc ? c[(size_t)i * n + j] : 0.0;
                    for (int p = 0; p < k; p++)
                        v += (double)(ta ? a[(size_t)p * m + i] : a[(size_t)i * k + p]) *
                             (tb ? b[(size_t)j * k + p] : b[(size_t)p * n + j]);
                    v += use_bias ? bias[i] : 0.0;
                    ref[(size_t)i * n + j] = (float)(relu && v < 0 ? 0.0 : v);
                }
            }
            fer_gemm(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, acc, c, n,
                     use_bias ? bias : NULL, relu, work);
            const double diff = max_abs_diff(c, ref, (size_t)m * n);
            ck_assert_msg(diff < 1e-5 * (1 + k), "isa %d m%d n%d k%d ta%d tb%d acc%d relu%d: %.3g",
                          isa, m, n, k, ta, tb, acc, relu, diff);
            free_all();
        }
    }
    fer_gemm_avx512(1);
}
END_TEST

/* The packed im2col (and its transpose) holds exactly fer_im2col's matrix in the
 * kernel's panel layout, for any block, including zero columns past the block. */
START_TEST(im2col_pack_matches_im2col)
{
    const conv_case cases[] = {
        {2, 5, 5, 1, 3, 3, 1, 1, 1}, {3, 7, 6, 1, 5, 5, 2, 2, 1}, {1, 8, 5, 1, 3, 2, 2, 0, 1},
        {3, 12, 12, 1, 3, 3, 1, 1, 1}, {2, 6, 9, 1, 3, 3, 1, 2, 1}, {4, 24, 24, 1, 3, 3, 1, 1, 1},
    };
    const int NR = FER_GEMM_NR;
    uint64_t rng = 31;
    for (int isa = 1; isa >= 0; isa--) {
        fer_gemm_avx512(isa);
        for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
            fer_conv_shape s = make_conv(&cases[t]);
            const int R = s.c * s.kh * s.kw, P = s.oh * s.ow;
            float *x = falloc((size_t)s.c * s.h * s.w), *col = falloc((size_t)R * P);
            float *dst = falloc((size_t)(R + NR) * (P + NR) + 64);
            fill_uniform(x, (size_t)s.c * s.h * s.w, -1, 1, &rng);
            fer_im2col(col, x, &s);
            fer_im2col_src src = {x, &s};
            for (int trial = 0; trial < 4; trial++) {
                const int k0 = (int)(fer_rng_next(&rng) % R), kc = 1 + (int)(fer_rng_next(&rng) % (R - k0));
                const int p0 = (int)(fer_rng_next(&rng) % P), np = 1 + (int)(fer_rng_next(&rng) % (P - p0));
                float *d = (float *)(((uintptr_t)dst + 63) & ~(uintptr_t)63);
                // col rows k0.. x pixels p0..
                fer_im2col_pack(&src, d, k0, kc, p0, np);
                for (int kk = 0; kk < kc; kk++)
                    for (int j = 0; j < (np + NR - 1) / NR * NR; j++) {
                        float want = j < np ? col[(size_t)(k0 + kk) * P + p0 + j] : 0.0f;
                        ck_assert_msg(d[((size_t)(j / NR) * kc + kk) * NR + j % NR] == want,
                                      "pack case %zu isa %d (%d,%d)", t, isa, kk, j);
                    }
                // transpose: pixels p0.. x col rows k0..
                fer_im2col_pack_t(&src, d, p0, np, k0, kc);
                for (int pp = 0; pp < np; pp++)
                    for (int j = 0; j < (kc + NR - 1) / NR * NR; j++) {
                        float want = j < kc ? col[(size_t)(k0 + j) * P + p0 + pp] : 0.0f;
                        ck_assert_msg(d[((size_t)(j / NR) * np + pp) * NR + j % NR] == want,
                                      "pack_t case %zu isa %d (%d,%d)", t, isa, pp, j);
                    }
            }
            free_all();
        }
    }
    fer_gemm_avx512(1);
}
END_TEST

/* Forward and backward agree between the AVX-512 paths (direct stride-1, packed im2col)
 * and the portable im2col + cblas path, shape by shape. */
START_TEST(conv_paths_agree)
{
    const conv_case cases[] = {
        {1, 48, 48, 8, 3, 3, 1, 1, 2}, {5, 24, 24, 16, 3, 3, 1, 1, 3}, {7, 12, 12, 9, 3, 3, 1, 1, 2},
        {16, 6, 6, 20, 3, 3, 1, 1, 5}, {3, 9, 7, 4, 5, 5, 1, 2, 2},   {3, 8, 8, 4, 3, 3, 2, 1, 2},
        {2, 4, 5, 3, 3, 3, 1, 2, 1},   {4, 6, 5, 6, 1, 1, 1, 0, 2},   {2, 9, 7, 2, 3, 2, 1, 1, 2},
    };
    uint64_t rng = 77;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        fer_conv_shape s = make_conv(&cases[t]);
        const int n = cases[t].n;
        const size_t nin = (size_t)n * s.c * s.h * s.w, nw = (size_t)s.k * s.c * s.kh * s.kw;
        const size_t nout = (size_t)n * s.k * s.oh * s.ow;
        float *in = falloc(nin), *w = falloc(nw), *b = falloc(s.k), *g = falloc(nout);
        float *work = falloc(fer_conv_work_size(&s));
        float *out[2], *din[2], *dw[2], *db[2];
        fill_uniform(in, nin, -1, 1, &rng);
        fill_uniform(w, nw, -1, 1, &rng);
        fill_uniform(b, s.k, -1, 1, &rng);
        fill_uniform(g, nout, -1, 1, &rng);
        for (int isa = 0; isa < 2; isa++) {
            fer_gemm_avx512(isa);
            out[isa] = falloc(nout), din[isa] = falloc(nin), dw[isa] = falloc(nw), db[isa] = falloc(s.k);
            fer_conv2d_forward_relu(out[isa], in, w, b, &s, n, (int)(t % 2), work);
            fer_conv2d_backward(din[isa], dw[isa], db[isa], g, in, w, &s, n, work);
        }
        const double tol = 2e-5 * (1 + s.c * s.kh * s.kw);
        ck_assert_msg(max_abs_diff(out[0], out[1], nout) < tol, "case %zu out", t);
        ck_assert_msg(max_abs_diff(din[0], din[1], nin) < tol, "case %zu din", t);
        ck_assert_msg(max_abs_diff(dw[0], dw[1], nw) < 2e-5 * (1 + nout), "case %zu dw", t);
        ck_assert_msg(max_abs_diff(db[0], db[1], s.k) < 2e-5 * (1 + nout), "case %zu db", t);
        free_all();
    }
    fer_gemm_avx512(1);
}
END_TEST

/*
 * Winograd F(2x2, 3x3) (winograd.c) against the six-loop oracle, on every output size
 * class (1, 2, 3, 5, 6, 10, 12, 27, 40, 48: odd and even, a single partial tile, tile
 * rows that straddle the product's panels, several tile blocks), maps of few tiles
 * (transposed products, more filters than one panel) and the default net's shapes,
 * C from 1 to 130, pad 1 and 0, batch 1 and 3, with and without bias and ReLU, on both
 * the AVX-512 and the portable transforms.
 *
 * Tolerance. With |x| <= 1 and |w| <= 1, each output is y = sum_xi a_xi sum_c U V
 * (a_xi in {0, +-1}, 9 of the 16 nonzero), where |U_ij| <= r_i r_j with
 * r = (1, 3/2, 3/2, 1) (G's absolute row sums) and |V_ij| <= 4 (B^T's are 2). So the
 * terms the float sums run over total at most C * (sum r)^2 * 4 = 100 C, and float
 * summation of n terms errs by at most n * eps * (sum of |terms|) to first order:
 * here n <= C + 10 (the reduction over C, 2 adds in V, 3 in U, 4 in the output) and
 * eps = 2^-24. That rigorous bound, (C + 10) * eps * 100 C, is asserted, but it is
 * loose (0.08 at C = 130) because it assumes every rounding errs in one direction.
 * Roundings are close to independent, so the typical error grows like sqrt(n) times
 * the typical output (sqrt(9C) / 3 for these uniform inputs): the RMS error over
 * sqrt(C) * sqrt(C + 10) is what reveals a small slip (a wrong sign in one transform
 * entry is an O(1) error). Measured worst 3.1e-8 on both instruction sets
 * (the test prints it); asserted below 3e-7, 10x above.
 */
START_TEST(winograd_matches_naive)
{
    uint64_t rng = 20261206;
    // 10, 27 and 40 give tile rows (5, 14, 20 tiles) that straddle fer_gemm's 48-wide panels.
    const int sizes[] = {1, 2, 3, 5, 6, 10, 12, 27, 40, 48};
    const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
    const int cs[] = {1, 2, 3, 7, 16, 32, 33, 64, 130};
    const int ncs = (int)(sizeof cs / sizeof cs[0]);
    double worst_rel = 0.0, worst_abs_ratio = 0.0;
    int tested = 0;
    // The default net's shapes and more filters than one 48-wide panel on maps of few
    // tiles (the transposed products), then a sweep of sizes and channel counts.
    const conv_case fixed[] = {
        {128, 6, 6, 256, 3, 3, 1, 1, 1}, {130, 6, 6, 70, 3, 3, 1, 1, 2},
        {64, 12, 12, 128, 3, 3, 1, 1, 3}, {33, 7, 9, 50, 3, 3, 1, 0, 2},
        {32, 48, 48, 32, 3, 3, 1, 1, 1}, {64, 24, 24, 64, 3, 3, 1, 1, 1},
    };
    const int nfixed = (int)(sizeof fixed / sizeof fixed[0]);
    for (int t = 0; t < 90 + nfixed; t++) {
        const int hi = sizes[t % nsizes], wi = sizes[(t / nsizes + t) % nsizes];
        const int c = cs[(t * 5) % ncs];
        // Keep the oracle's cost bounded: large maps get fewer channels.
        const int big = hi * wi > 200;
        conv_case cc = {big && c > 33 ? 33 : c, hi, wi, 1 + (int)(fer_rng_next(&rng) % (big ? 9 : 20)),
                        3, 3, 1, t % 5 == 4 ? 0 : 1, t % 3 == 1 ? 3 : 1};
        if (t >= 90)
            cc = fixed[t - 90];
        fer_conv_shape s = {.c = cc.c, .h = cc.h, .w = cc.w, .k = cc.k, .kh = 3, .kw = 3,
                            .stride = 1, .pad = cc.pad};
        if (fer_conv_shape_init(&s) != 0)
            continue; // pad 0 on a map smaller than the kernel
        ck_assert(fer_wino_ok(&s));
        const int n = cc.n, relu = t % 4 >= 2;
        const size_t nin = (size_t)n * s.c * s.h * s.w, nw = (size_t)s.k * s.c * 9;
        const size_t nout = (size_t)n * s.k * s.oh * s.ow;
        float *in = falloc(nin), *w = falloc(nw), *b = falloc(s.k), *u = falloc64(fer_wino_weight_size(&s));
        float *ref = falloc(nout), *fast = falloc(nout), *work = falloc(fer_wino_work_size(&s));
        fill_uniform(in, nin, -1, 1, &rng);
        fill_uniform(w, nw, -1, 1, &rng);
        fill_uniform(b, s.k, -1, 1, &rng);
        const float *bias = t % 2 ? b : NULL;
        fer_conv2d_naive(ref, in, w, bias, &s, n);
        if (relu)
            for (size_t i = 0; i < nout; i++)
                ref[i] = ref[i] > 0.0f ? ref[i] : 0.0f;
        fer_wino_weights(u, w, &s);
        for (int isa = 0; isa < 2; isa++) {
            fer_gemm_avx512(isa);
            fill_uniform(fast, nout, 100, 101, &rng); // must be overwritten
            fer_wino_forward(fast, in, u, bias, relu, &s, n, work);
            double d2 = 0.0;
            for (size_t i = 0; i < nout; i++)
                d2 += ((double)fast[i] - ref[i]) * ((double)fast[i] - ref[i]);
            const double rms_rel = sqrt(d2 / nout) / sqrt((double)s.c);
            const double bound = (s.c + 10) * ldexp(1.0, -24) * 100.0 * s.c;
            const double worst = max_abs_diff(fast, ref, nout);
            ck_assert_msg(worst <= bound && rms_rel < 3e-7 * sqrt(s.c + 10.0),
                          "case %d isa %d (c%d h%d w%d k%d p%d n%d relu %d bias %d): max diff "
                          "%.3g (bound %.3g), rms/sqrt(C) %.3g",
                          t, isa, s.c, s.h, s.w, s.k, s.pad, n, relu, bias != NULL, worst,
                          bound, rms_rel);
            worst_rel = fmax(worst_rel, rms_rel / sqrt(s.c + 10.0));
            worst_abs_ratio = fmax(worst_abs_ratio, worst / bound);
        }
        free_all();
        tested++;
    }
    fer_gemm_avx512(1);
    ck_assert_int_ge(tested, 86);
    printf("winograd_matches_naive: %d shapes; worst rms/sqrt(C(C+10)) %.3g (limit 3e-7), "
           "worst max diff / bound %.3g\n", tested, worst_rel, worst_abs_ratio);
}
END_TEST

/* The selection rule keeps the first layer (C = 1) and layers of few filters on the old
 * path and takes every other layer of the default net; fer_wino_ok refuses what it
 * cannot run. */
START_TEST(winograd_rule)
{
    fer_conv_shape s = {.c = 32, .h = 48, .w = 48, .k = 32, .kh = 3, .kw = 3, .stride = 1, .pad = 1};
    ck_assert_int_eq(fer_conv_shape_init(&s), 0);
    ck_assert(fer_wino_ok(&s) && fer_wino_pays(&s));
    s.c = 1;
    ck_assert(fer_wino_ok(&s) && !fer_wino_pays(&s));
    s.c = 64;
    s.k = 16; // too few filters for the transforms to pay
    ck_assert(fer_wino_ok(&s) && !fer_wino_pays(&s));
    s = (fer_conv_shape){.c = 128, .h = 6, .w = 6, .k = 256, .kh = 3, .kw = 3, .stride = 1, .pad = 1};
    ck_assert_int_eq(fer_conv_shape_init(&s), 0);
    ck_assert(fer_wino_ok(&s) && fer_wino_pays(&s));
    s.stride = 2;
    ck_assert(!fer_wino_ok(&s) && fer_wino_work_size(&s) == 0);
    s.stride = 1;
    s.kh = s.kw = 5;
    ck_assert(!fer_wino_ok(&s));
    s.kh = s.kw = 3;
    s.pad = 2;
    ck_assert(!fer_wino_ok(&s));
}
END_TEST

/* Batch norm (with and without the fused ReLU), ReLU and max-pool give the same results
 * on the AVX-512 and the portable paths, on sizes that are not multiples of 16. */
START_TEST(elementwise_paths_agree)
{
    uint64_t rng = 5;
    const int shapes[][4] = {{3, 7, 5, 2}, {4, 48, 48, 2}, {5, 13, 11, 3}, {2, 1, 1, 4}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int C = shapes[t][0], H = shapes[t][1], W = shapes[t][2], N = shapes[t][3];
        const size_t cnt = (size_t)N * C * H * W;
        float *x = falloc(cnt), *g = falloc(cnt), *gamma = falloc(C), *beta = falloc(C);
        fill_uniform(x, cnt, -2, 3, &rng);
        fill_uniform(g, cnt, -1, 1, &rng);
        fill_uniform(gamma, C, 0.5f, 1.5f, &rng);
        fill_uniform(beta, C, -0.5f, 0.5f, &rng);
        fer_bn_shape bs = {.c = C, .hw = H * W, .eps = 1e-5f, .momentum = 0.1f};
        fer_pool_shape ps = {.c = C, .h = H, .w = W, .size = 2, .stride = 2};
        const int pool = fer_pool_shape_init(&ps) == 0;
        const size_t pcnt = pool ? (size_t)N * C * ps.oh * ps.ow : 0;
        float *y[2], *save[2], *dx[2], *dg[2], *dbt[2], *r[2], *dr[2], *py[2], *pdx[2];
        for (int isa = 0; isa < 2; isa++) {
            fer_gemm_avx512(isa);
            y[isa] = falloc(cnt), save[isa] = falloc(2 * C), dx[isa] = falloc(cnt);
            dg[isa] = falloc(C), dbt[isa] = falloc(C), r[isa] = falloc(cnt), dr[isa] = falloc(cnt);
            fer_bn_forward_train_relu(y[isa], save[isa], NULL, NULL, x, gamma, beta, &bs, N, 1);
            fer_bn_backward_relu(dx[isa], dg[isa], dbt[isa], g, y[isa], x, gamma, save[isa], &bs, N);
            fer_relu_forward(r[isa], x, cnt);
            fer_relu_backward(dr[isa], g, r[isa], cnt);
            if (pool) {
                py[isa] = falloc(pcnt), pdx[isa] = falloc(cnt);
                fill_uniform(pdx[isa], cnt, 7, 8, &rng); // must be overwritten
                fer_maxpool_forward(py[isa], r[isa], &ps, N); // ReLU output: many ties at 0
                fer_maxpool_backward(pdx[isa], g, r[isa], &ps, N);
            }
        }
        ck_assert_msg(max_abs_diff(y[0], y[1], cnt) < 1e-5, "bn+relu forward %zu", t);
        ck_assert_msg(max_abs_diff(save[0], save[1], 2 * C) < 1e-5, "bn save %zu", t);
        ck_assert_msg(max_abs_diff(dx[0], dx[1], cnt) < 1e-4, "bn backward %zu", t);
        ck_assert_msg(max_abs_diff(dg[0], dg[1], C) < 1e-3 && max_abs_diff(dbt[0], dbt[1], C) < 1e-3,
                      "bn dgamma/dbeta %zu", t);
        ck_assert(max_abs_diff(r[0], r[1], cnt) == 0.0 && max_abs_diff(dr[0], dr[1], cnt) == 0.0);
        if (pool) {
            ck_assert(max_abs_diff(py[0], py[1], pcnt) == 0.0);
            ck_assert_msg(max_abs_diff(pdx[0], pdx[1], cnt) == 0.0, "maxpool backward %zu", t);
        }
        free_all();
    }
    fer_gemm_avx512(1);
}
END_TEST

/* ---- batch norm ------------------------------------------------------------------ */

typedef struct bn_ctx {
    fer_bn_shape s;
    int n;
    float *out, *save, *in, *gamma, *beta;
} bn_ctx;

static void bn_fwd(void *vctx)
{
    bn_ctx *c = vctx;
    fer_bn_forward_train(c->out, c->save, NULL, NULL, c->in, c->gamma, c->beta, &c->s, c->n);
}

START_TEST(bn_backward_matches_finite_differences)
{
    // (C, HW, N): a conv feature map, and the (N, C) case after a flatten.
    const int shapes[][3] = {{3, 5, 4}, {2, 1, 6}, {1, 16, 1}};
    const int *sh = shapes[_i];
    uint64_t rng = 2000 + (uint64_t)_i;
    bn_ctx c = {.s = {.c = sh[0], .hw = sh[1], .eps = 1e-5f, .momentum = 0.1f}, .n = sh[2]};
    const size_t count = (size_t)c.n * c.s.c * c.s.hw;
    c.in = falloc(count);
    c.out = falloc(count);
    c.save = falloc(2 * (size_t)c.s.c);
    c.gamma = falloc(c.s.c);
    c.beta = falloc(c.s.c);
    float *r = falloc(count), *din = falloc(count), *dg = falloc(c.s.c), *dbeta = falloc(c.s.c);
    fill_uniform(c.in, count, -2, 3, &rng); // a non-zero mean on purpose
    fill_uniform(c.gamma, c.s.c, 0.5f, 1.5f, &rng);
    fill_uniform(c.beta, c.s.c, -1, 1, &rng);
    fill_uniform(r, count, -1, 1, &rng);

    bn_fwd(&c);
    fer_bn_backward(din, dg, dbeta, r, c.in, c.gamma, c.save, &c.s, c.n);

    // Nonlinear in the input: a smaller step, the truncation error is O(eps^2).
    fd_problem p = {bn_fwd, &c, c.out, r, count};
    check_grad(&p, "bn din", c.in, din, count, 5e-3f, CURVED_TOL);
    check_grad(&p, "bn dgamma", c.gamma, dg, c.s.c, 1e-2f, CURVED_TOL);
    check_grad(&p, "bn dbeta", c.beta, dbeta, c.s.c, 1e-2f, CURVED_TOL);
    free_all();
}
END_TEST

/* Hand-computed: channel 0 holds 1, 2 (image 0) and 3, 4 (image 1).
 * mean 2.5, biased var 1.25, unbiased var 5/3. With momentum 0.1 from (0, 1):
 * running mean 0.25, running var 0.9 + 0.1 * 5/3 = 1.0666667. */
START_TEST(bn_running_statistics)
{
    fer_bn_shape s = {.c = 2, .hw = 2, .eps = 1e-5f, .momentum = 0.1f};
    const float in[8] = {1, 2, 10, 10, 3, 4, 10, 10}; // (N=2, C=2, HW=2)
    const float gamma[2] = {1, 1}, beta[2] = {0, 0};
    float out[8], save[4], rm[2] = {0, 0}, rv[2] = {1, 1};
    fer_bn_forward_train(out, save, rm, rv, in, gamma, beta, &s, 2);
    ck_assert_float_eq_tol(rm[0], 0.25f, 1e-6f);
    ck_assert_float_eq_tol(rv[0], 1.0666667f, 1e-6f);
    ck_assert_float_eq_tol(rm[1], 1.0f, 1e-6f); // 0.9*0 + 0.1*10
    ck_assert_float_eq_tol(rv[1], 0.9f, 1e-6f); // constant channel: variance 0
    ck_assert_float_eq_tol(save[0], 2.5f, 1e-6f);
    ck_assert_float_eq_tol(save[2], 1.0f / sqrtf(1.25f + 1e-5f), 1e-6f);
    ck_assert_float_eq_tol(out[0], (1 - 2.5f) / sqrtf(1.25f + 1e-5f), 1e-5f);
    ck_assert_float_eq_tol(out[5], (4 - 2.5f) / sqrtf(1.25f + 1e-5f), 1e-5f);
    ck_assert_float_eq_tol(out[2], 0.0f, 1e-6f);
}
END_TEST

/* conv then inference BN equals the folded convolution, with and without a conv bias. */
START_TEST(bn_fold_matches_conv_then_bn)
{
    const conv_case cc = {3, 8, 7, 4, 3, 3, 1, 1, 2};
    fer_conv_shape s = make_conv(&cc);
    fer_bn_shape bs = {.c = s.k, .hw = s.oh * s.ow, .eps = 1e-5f, .momentum = 0.1f};
    uint64_t rng = 31337;
    const size_t nin = (size_t)cc.n * s.c * s.h * s.w;
    const int per_filter = s.c * s.kh * s.kw;
    const size_t nw = (size_t)s.k * per_filter;
    const size_t nout = (size_t)cc.n * s.k * s.oh * s.ow;
    float *in = falloc(nin), *w = falloc(nw), *b = falloc(s.k), *work = falloc(fer_conv_work_size(&s));
    float *gamma = falloc(s.k), *beta = falloc(s.k), *rm = falloc(s.k), *rv = falloc(s.k);
    float *conv_out = falloc(nout), *ref = falloc(nout), *folded = falloc(nout);
    float *wf = falloc(nw), *bf = falloc(s.k);
    fill_uniform(in, nin, -1, 1, &rng);
    fill_uniform(w, nw, -1, 1, &rng);
    fill_uniform(gamma, s.k, 0.5f, 1.5f, &rng);
    fill_uniform(beta, s.k, -0.5f, 0.5f, &rng);
    fill_uniform(rm, s.k, -0.5f, 0.5f, &rng);
    fill_uniform(rv, s.k, 0.5f, 2.0f, &rng);

    for (int with_bias = 0; with_bias < 2; with_bias++) {
        if (with_bias)
            fill_uniform(b, s.k, -1, 1, &rng); // else b stays zero: a conv without bias
        fer_conv2d_forward(conv_out, in, w, with_bias ? b : NULL, &s, cc.n, work);
        fer_bn_forward_infer(ref, conv_out, gamma, beta, rm, rv, &bs, cc.n);

        memcpy(wf, w, nw * sizeof(float));
        memcpy(bf, b, (size_t)s.k * sizeof(float));
        fer_bn_fold(wf, bf, gamma, beta, rm, rv, bs.eps, s.k, per_filter);
        fer_conv2d_forward(folded, in, wf, bf, &s, cc.n, work);

        const double rel = max_abs_diff(ref, folded, nout) / max_abs(ref, nout);
        ck_assert_msg(rel < 1e-5, "bias %d: folded conv differs by %.3g relative", with_bias, rel);
    }
    free_all();
}
END_TEST

/* ---- ReLU, max-pool, global average pool, dropout ----------------------------------- */

typedef struct ew_ctx { // elementwise ops and pooling: out = f(in)
    float *out, *in, *mask;
    size_t count;
    fer_pool_shape ps;
    int c, hw, n;
    float p;
    uint64_t seed;
} ew_ctx;

static void relu_fwd(void *vctx)
{
    ew_ctx *c = vctx;
    fer_relu_forward(c->out, c->in, c->count);
}

START_TEST(relu_backward_matches_finite_differences)
{
    uint64_t rng = 3;
    ew_ctx c = {.count = 200};
    c.in = falloc(c.count);
    c.out = falloc(c.count);
    float *r = falloc(c.count), *din = falloc(c.count);
    // |x| >= 0.1 > eps: no difference quotient straddles the kink at 0.
    for (size_t i = 0; i < c.count; i++) {
        float mag = 0.1f + fer_rng_uniform(&rng);
        c.in[i] = (fer_rng_next(&rng) & 1) ? mag : -mag;
    }
    fill_uniform(r, c.count, -1, 1, &rng);
    relu_fwd(&c);
    fer_relu_backward(din, r, c.out, c.count);
    fd_problem p = {relu_fwd, &c, c.out, r, c.count};
    check_grad(&p, "relu din", c.in, din, c.count, 1e-2f, LINEAR_TOL);

    // In place (out == in), and backward in place (din == dout).
    float *x = falloc(c.count);
    memcpy(x, c.in, c.count * sizeof(float));
    fer_relu_forward(x, x, c.count);
    ck_assert(max_abs_diff(x, c.out, c.count) == 0.0);
    fer_relu_backward(r, r, x, c.count);
    ck_assert(max_abs_diff(r, din, c.count) == 0.0);
    free_all();
}
END_TEST

static void pool_fwd(void *vctx)
{
    ew_ctx *c = vctx;
    fer_maxpool_forward(c->out, c->in, &c->ps, c->n);
}

START_TEST(maxpool_backward_matches_finite_differences)
{
    // (C, H, W, size, stride, N): tiled 2x2 with a leftover column, overlapping
    // 3x3/2 windows, and 3x3/1 where most inputs sit in several windows.
    const int shapes[][6] = {{2, 6, 7, 2, 2, 2}, {1, 7, 7, 3, 2, 1}, {2, 5, 6, 3, 1, 1}};
    const int *sh = shapes[_i];
    uint64_t rng = 4000 + (uint64_t)_i;
    ew_ctx c = {.ps = {.c = sh[0], .h = sh[1], .w = sh[2], .size = sh[3], .stride = sh[4]},
                .n = sh[5]};
    ck_assert_int_eq(fer_pool_shape_init(&c.ps), 0);
    const size_t nin = (size_t)c.n * c.ps.c * c.ps.h * c.ps.w;
    const size_t nout = (size_t)c.n * c.ps.c * c.ps.oh * c.ps.ow;
    c.in = falloc(nin);
    c.out = falloc(nout);
    float *r = falloc(nout), *din = falloc(nin);
    // Distinct values 0.05 apart in shuffled order: a +-0.01 step never changes
    // which element is a window's maximum, so the loss is linear around x.
    for (size_t i = 0; i < nin; i++)
        c.in[i] = 0.05f * (float)i;
    for (size_t i = nin - 1; i > 0; i--) {
        size_t j = fer_rng_next(&rng) % (i + 1);
        float t = c.in[i];
        c.in[i] = c.in[j];
        c.in[j] = t;
    }
    fill_uniform(r, nout, -1, 1, &rng);
    fill_uniform(din, nin, 7, 8, &rng); // must be overwritten
    pool_fwd(&c);
    fer_maxpool_backward(din, r, c.in, &c.ps, c.n);
    fd_problem p = {pool_fwd, &c, c.out, r, nout};
    check_grad(&p, "maxpool din", c.in, din, nin, 1e-2f, LINEAR_TOL);
    free_all();
}
END_TEST

/* Ties go to the first maximum in scan order, as in PyTorch. */
START_TEST(maxpool_ties_first_max)
{
    fer_pool_shape s = {.c = 1, .h = 4, .w = 4, .size = 2, .stride = 2};
    ck_assert_int_eq(fer_pool_shape_init(&s), 0);
    ck_assert_int_eq(s.oh, 2);
    const float in[16] = {
        1, 1, 0, 5, //
        1, 1, 5, 1, //
        2, 3, 4, 4, //
        3, 1, 4, 4, //
    };
    const float dout[4] = {10, 20, 30, 40};
    float out[4], din[16];
    fer_maxpool_forward(out, in, &s, 1);
    ck_assert_float_eq(out[0], 1);
    ck_assert_float_eq(out[1], 5);
    ck_assert_float_eq(out[2], 3);
    ck_assert_float_eq(out[3], 4);
    fer_maxpool_backward(din, dout, in, &s, 1);
    const float want[16] = {
        10, 0, 0, 20, // all-equal window: its first element; 5 at (0,3) before (1,2)
        0, 0, 0, 0,  //
        0, 30, 40, 0, // 3 at (2,1) before (3,0)
        0, 0, 0, 0,  //
    };
    for (int i = 0; i < 16; i++)
        ck_assert_msg(din[i] == want[i], "din[%d] = %g, want %g", i, din[i], want[i]);

    fer_pool_shape bad = {.c = 1, .h = 1, .w = 4, .size = 2, .stride = 2};
    ck_assert_int_eq(fer_pool_shape_init(&bad), -1);
}
END_TEST

static void gap_fwd(void *vctx)
{
    ew_ctx *c = vctx;
    fer_gap_forward(c->out, c->in, c->c, c->hw, c->n);
}

START_TEST(gap_backward_matches_finite_differences)
{
    uint64_t rng = 5;
    ew_ctx c = {.c = 3, .hw = 10, .n = 2};
    const size_t nin = (size_t)c.n * c.c * c.hw, nout = (size_t)c.n * c.c;
    c.in = falloc(nin);
    c.out = falloc(nout);
    float *r = falloc(nout), *din = falloc(nin);
    fill_uniform(c.in, nin, -1, 1, &rng);
    fill_uniform(r, nout, -1, 1, &rng);
    gap_fwd(&c);
    double mean4 = 0.0; // plane 4 = image 1, channel 1
    for (int j = 0; j < c.hw; j++)
        mean4 += c.in[4 * c.hw + j] / 10.0;
    ck_assert_float_eq_tol(c.out[4], (float)mean4, 1e-6f);
    fer_gap_backward(din, r, c.c, c.hw, c.n);
    fd_problem p = {gap_fwd, &c, c.out, r, nout};
    check_grad(&p, "gap din", c.in, din, nin, 1e-2f, LINEAR_TOL);
    free_all();
}
END_TEST

/* Re-seeding before every forward makes the mask fixed, as the gradient needs. */
static void dropout_fwd(void *vctx)
{
    ew_ctx *c = vctx;
    uint64_t rng = c->seed;
    fer_dropout_forward(c->out, c->mask, c->in, c->p, c->count, &rng);
}

START_TEST(dropout_backward_matches_finite_differences)
{
    uint64_t rng = 6;
    ew_ctx c = {.count = 300, .p = 0.4f, .seed = 12345};
    c.in = falloc(c.count);
    c.out = falloc(c.count);
    c.mask = falloc(c.count);
    float *r = falloc(c.count), *din = falloc(c.count);
    fill_uniform(c.in, c.count, -1, 1, &rng);
    fill_uniform(r, c.count, -1, 1, &rng);
    dropout_fwd(&c);
    fer_dropout_backward(din, r, c.mask, c.count);
    fd_problem p = {dropout_fwd, &c, c.out, r, c.count};
    check_grad(&p, "dropout din", c.in, din, c.count, 1e-2f, LINEAR_TOL);
    free_all();
}
END_TEST

START_TEST(dropout_mask_statistics)
{
    const size_t count = 100000;
    const float p = 0.3f, scale = 1.0f / (1.0f - p);
    float *in = falloc(count), *out = falloc(count), *mask = falloc(count);
    float *out2 = falloc(count), *mask2 = falloc(count);
    uint64_t rng = 8;
    fill_uniform(in, count, -1, 1, &rng);

    uint64_t s1 = 42, s2 = 42;
    fer_dropout_forward(out, mask, in, p, count, &s1);
    fer_dropout_forward(out2, mask2, in, p, count, &s2);
    ck_assert(memcmp(mask, mask2, count * sizeof(float)) == 0); // same seed, same mask
    ck_assert(s1 == s2 && s1 != 42);                            // and the state advanced

    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        ck_assert(mask[i] == 0.0f || mask[i] == scale);
        ck_assert(out[i] == in[i] * mask[i]);
        kept += mask[i] != 0.0f;
    }
    // Binomial(1e5, 0.7): standard deviation of the fraction 0.00145; 0.01 is ~7 sigma.
    const double frac = (double)kept / count;
    ck_assert_msg(fabs(frac - 0.7) < 0.01, "kept fraction %.4f, want 0.7", frac);

    uint64_t s3 = 43; // another seed, another mask
    fer_dropout_forward(out2, mask2, in, p, count, &s3);
    ck_assert(memcmp(mask, mask2, count * sizeof(float)) != 0);

    uint64_t s4 = 1; // p = 0 keeps everything unscaled, p = 1 drops everything
    fer_dropout_forward(out2, mask2, in, 0.0f, count, &s4);
    ck_assert(max_abs_diff(out2, in, count) == 0.0);
    fer_dropout_forward(out2, mask2, in, 1.0f, count, &s4);
    ck_assert(max_abs(out2, count) == 0.0);
    free_all();
}
END_TEST

/* ---- fully connected --------------------------------------------------------------- */

typedef struct fc_ctx {
    int in_dim, out_dim, n;
    float *out, *in, *w, *b;
} fc_ctx;

static void fc_fwd(void *vctx)
{
    fc_ctx *c = vctx;
    fer_fc_forward(c->out, c->in, c->w, c->b, c->in_dim, c->out_dim, c->n);
}

START_TEST(fc_backward_matches_finite_differences)
{
    const int batch = _i == 0 ? 1 : 3; // the sgemv and the sgemm forward
    uint64_t rng = 5000 + (uint64_t)_i;
    fc_ctx c = {.in_dim = 7, .out_dim = 5, .n = batch};
    const size_t nin = (size_t)c.n * c.in_dim, nw = (size_t)c.out_dim * c.in_dim;
    const size_t nout = (size_t)c.n * c.out_dim;
    c.in = falloc(nin);
    c.w = falloc(nw);
    c.b = falloc(c.out_dim);
    c.out = falloc(nout);
    float *r = falloc(nout), *din = falloc(nin), *dw = falloc(nw), *db = falloc(c.out_dim);
    fill_uniform(c.in, nin, -1, 1, &rng);
    fill_uniform(c.w, nw, -1, 1, &rng);
    fill_uniform(c.b, c.out_dim, -1, 1, &rng);
    fill_uniform(r, nout, -1, 1, &rng);
    fc_fwd(&c);
    fer_fc_backward(din, dw, db, r, c.in, c.w, c.in_dim, c.out_dim, c.n);
    fd_problem p = {fc_fwd, &c, c.out, r, nout};
    check_grad(&p, "fc din", c.in, din, nin, 1e-2f, LINEAR_TOL);
    check_grad(&p, "fc dw", c.w, dw, nw, 1e-2f, LINEAR_TOL);
    check_grad(&p, "fc db", c.b, db, c.out_dim, 1e-2f, LINEAR_TOL);
    free_all();
}
END_TEST

START_TEST(fc_forward_matches_naive)
{
    // (I, O, N): batch 1 takes sgemv, larger batches sgemm.
    const int cases[][3] = {{37, 11, 1}, {37, 11, 5}, {300, 64, 1}, {300, 64, 4}, {1, 7, 2}};
    uint64_t rng = 77;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int I = cases[t][0], O = cases[t][1], N = cases[t][2];
        float *in = falloc((size_t)N * I), *w = falloc((size_t)O * I), *wt = falloc((size_t)I * O);
        float *b = falloc(O), *fast = falloc((size_t)N * O), *ref = falloc((size_t)N * O);
        fill_uniform(in, (size_t)N * I, -1, 1, &rng);
        fill_uniform(w, (size_t)O * I, -1, 1, &rng);
        fill_uniform(b, O, -1, 1, &rng);
        fill_uniform(fast, (size_t)N * O, 9, 10, &rng); // must be overwritten
        for (int o = 0; o < O; o++)
            for (int i = 0; i < I; i++)
                wt[(size_t)i * O + o] = w[(size_t)o * I + i];

        fer_matmul_naive(ref, in, wt, N, O, I); // in (N, I) . w^T (I, O)
        for (int i = 0; i < N; i++)
            for (int o = 0; o < O; o++)
                ref[(size_t)i * O + o] += b[o];
        fer_fc_forward(fast, in, w, b, I, O, N);
        double diff = max_abs_diff(fast, ref, (size_t)N * O);
        ck_assert_msg(diff < 1e-5 * (1 + I), "I%d O%d N%d: max diff %.3g", I, O, N, diff);

        // Without bias.
        fer_matmul_naive(ref, in, wt, N, O, I);
        fer_fc_forward(fast, in, w, NULL, I, O, N);
        diff = max_abs_diff(fast, ref, (size_t)N * O);
        ck_assert_msg(diff < 1e-5 * (1 + I), "I%d O%d N%d no bias: max diff %.3g", I, O, N, diff);
        free_all();
    }
}
END_TEST

/* binary16 weights: the portable and AVX-512 conversions round identically (to nearest
 * even, subnormals and overflow included), the round trip is within 2^-11 relative for
 * normal halves, and fer_fc_forward_f16 computes the fc layer of the rounded weights. */
START_TEST(fc_f16_matches_float)
{
    uint64_t rng = 16;
    const size_t nv = 4096;
    float *v = falloc(nv);
    uint16_t *h[2];
    h[0] = (uint16_t *)falloc(nv);
    h[1] = (uint16_t *)falloc(nv);
    for (size_t i = 0; i < nv; i++) {
        // Magnitudes from 2^-30 (below the smallest subnormal) to 2^17 (past the largest half).
        float mag = ldexpf(1.0f + fer_rng_uniform(&rng), (int)(fer_rng_next(&rng) % 48) - 30);
        v[i] = (i % 2 ? -mag : mag);
    }
    v[0] = 0.0f, v[1] = -0.0f, v[2] = 65504.0f, v[3] = 65520.0f, v[4] = 5.9604645e-08f;
    v[5] = 2.9802322e-08f, v[6] = 1.00048828125f /* 1 + 2^-11: halfway between two halves, ties to even */;
    for (int isa = 0; isa < 2; isa++) {
        fer_gemm_avx512(isa);
        fer_f32_to_f16(h[isa], v, nv);
    }
    for (size_t i = 0; i < nv; i++) {
        ck_assert_msg(h[0][i] == h[1][i], "%.9g: portable 0x%04x, AVX-512 0x%04x", (double)v[i],
                      h[0][i], h[1][i]);
        const float back = fer_f16_to_f32(h[0][i]);
        if (fabsf(v[i]) >= 6.1035156e-05f && fabsf(v[i]) <= 65504.0f)
            ck_assert_msg(fabsf(back - v[i]) <= fabsf(v[i]) * 0.00048828125f, "%.9g -> %.9g",
                          (double)v[i], (double)back);
    }
    ck_assert(isinf(fer_f16_to_f32(h[0][3])));
    ck_assert_float_eq(fer_f16_to_f32(h[0][6]), 1.0f);

    const int I = 300, O = 37;
    float *in = falloc(2 * I), *w = falloc((size_t)O * I);
    float *wt = falloc((size_t)I * O), *b = falloc(O), *ref = falloc(2 * O), *out = falloc(2 * O);
    uint16_t *w16 = (uint16_t *)falloc((size_t)O * I);
    fill_uniform(in, 2 * I, -1, 1, &rng);
    fill_uniform(w, (size_t)O * I, -0.1f, 0.1f, &rng);
    fill_uniform(b, O, -1, 1, &rng);
    fer_f32_to_f16(w16, w, (size_t)O * I);
    for (int o = 0; o < O; o++)
        for (int i = 0; i < I; i++)
            wt[(size_t)i * O + o] = fer_f16_to_f32(w16[(size_t)o * I + i]);
    fer_matmul_naive(ref, in, wt, 2, O, I);
    for (int isa = 0; isa < 2; isa++) {
        fer_gemm_avx512(isa);
        fer_fc_forward_f16(out, in, w16, b, I, O, 2);
        for (int j = 0; j < 2 * O; j++)
            ck_assert_float_eq_tol(out[j], ref[j] + b[j % O], 1e-4f);
    }
    fer_gemm_avx512(1);
    free_all();
}
END_TEST

/* ---- softmax and cross-entropy ---------------------------------------------------------- */

typedef struct ce_ctx {
    int c, n;
    const int *labels;
    const float *weights;
    float smoothing;
    float *logits, *probs;
    float loss;
} ce_ctx;

static void ce_fwd(void *vctx)
{
    ce_ctx *c = vctx;
    c->loss = fer_cross_entropy(NULL, c->probs, c->logits, c->labels, c->weights, c->smoothing,
                                c->c, c->n);
}

START_TEST(cross_entropy_backward_matches_finite_differences)
{
    // _i = 0: plain; 1: smoothing 0.1 and class weights; 2: weights only.
    uint64_t rng = 6000 + (uint64_t)_i;
    const int labels[5] = {0, 6, 3, 3, 1};
    float weights[7];
    fill_uniform(weights, 7, 0.5f, 2.0f, &rng);
    ce_ctx c = {.c = 7, .n = 5, .labels = labels, .weights = _i ? weights : NULL,
                .smoothing = _i == 1 ? 0.1f : 0.0f};
    const size_t count = (size_t)c.n * c.c;
    c.logits = falloc(count);
    c.probs = falloc(count);
    float *dlogits = falloc(count);
    fill_uniform(c.logits, count, -2, 2, &rng);
    fer_cross_entropy(dlogits, c.probs, c.logits, c.labels, c.weights, c.smoothing, c.c, c.n);
    const float one = 1.0f;
    fd_problem p = {ce_fwd, &c, &c.loss, &one, 1};
    // The loss comes back as a float; eps balances its rounding (~1e-7/eps)
    // against the truncation error of a curved function (~eps^2).
    check_grad(&p, "cross-entropy dlogits", c.logits, dlogits, count, 3e-3f, CURVED_TOL);
    free_all();
}
END_TEST

/*
 * Two samples, C = 3, class weights w = (1, 2, 1), smoothing eps = 0.1.
 *   sample 0: logits (0, 0, 0),   label 0: p = (1/3, 1/3, 1/3)
 *   sample 1: logits (0, ln 2, 0), label 1: p = (1/4, 1/2, 1/4)
 * l_0 = 0.9 * 1 * ln 3 + 0.1/3 * (1 + 2 + 1) * ln 3          = (31/30) ln 3
 * l_1 = 0.9 * 2 * ln 2 + 0.1/3 * (1*ln 4 + 2*ln 2 + 1*ln 4) = 1.8 ln 2 + 0.2 ln 2 = 2 ln 2
 * loss = (l_0 + l_1) / (w[0] + w[1]) = ((31/30) ln 3 + 2 ln 2) / 3
 *      = (1.1352327 + 1.3862944) / 3 = 0.8405090
 * Gradient, d l_i/dz_j = 0.9 w[y] (p_j - [j==y]) + 0.1/3 (4 p_j - w[j]), over 3:
 *   sample 0: (-0.6 + 0.0111111, 0.3 - 0.0222222, 0.3 + 0.0111111) / 3
 *           = (-0.1962963, 0.0925926, 0.1037037)
 *   sample 1: (0.45 + 0, -0.9 + 0, 0.45 + 0) / 3 = (0.15, -0.3, 0.15)
 */
START_TEST(cross_entropy_hand_example)
{
    const float logits[6] = {0, 0, 0, 0, logf(2.0f), 0};
    const int labels[2] = {0, 1};
    const float w[3] = {1, 2, 1};
    float probs[6], d[6];
    const float loss = fer_cross_entropy(d, probs, logits, labels, w, 0.1f, 3, 2);
    ck_assert_float_eq_tol(loss, 0.8405090f, 1e-6f);
    const float want_p[6] = {1 / 3.0f, 1 / 3.0f, 1 / 3.0f, 0.25f, 0.5f, 0.25f};
    const float want_d[6] = {-0.1962963f, 0.0925926f, 0.1037037f, 0.15f, -0.3f, 0.15f};
    for (int j = 0; j < 6; j++) {
        ck_assert_float_eq_tol(probs[j], want_p[j], 1e-6f);
        ck_assert_float_eq_tol(d[j], want_d[j], 1e-6f);
    }
    // Without weights and smoothing it is the mean of -log p[y]: (ln 3 + ln 2) / 2.
    const float plain = fer_cross_entropy(NULL, probs, logits, labels, NULL, 0.0f, 3, 2);
    ck_assert_float_eq_tol(plain, 0.5f * (logf(3.0f) + logf(2.0f)), 1e-6f);
}
END_TEST

/* Soft targets: each row a random distribution, with one exact zero (a class nobody
 * voted for) to exercise that branch. _i as above: plain; smoothing + weights; weights. */
typedef struct soft_ctx {
    int c, n;
    const float *targets, *weights, *teacher;
    float smoothing, temp, scale;
    float *logits, *probs;
    float loss;
} soft_ctx;

static void soft_fwd(void *vctx)
{
    soft_ctx *c = vctx;
    c->loss = fer_soft_cross_entropy(NULL, c->probs, c->logits, c->targets, c->weights,
                                     c->smoothing, c->c, c->n);
}

static void random_rows(float *q, int n, int c, uint64_t *rng)
{
    for (int i = 0; i < n; i++) {
        float *row = q + (size_t)i * c, sum = 0.0f;
        fill_uniform(row, (size_t)c, 0.0f, 1.0f, rng);
        row[i % c] = 0.0f;
        for (int j = 0; j < c; j++)
            sum += row[j];
        for (int j = 0; j < c; j++)
            row[j] /= sum;
    }
}

START_TEST(soft_cross_entropy_backward_matches_finite_differences)
{
    uint64_t rng = 6100 + (uint64_t)_i;
    float weights[8];
    fill_uniform(weights, 8, 0.5f, 2.0f, &rng);
    soft_ctx c = {.c = 8, .n = 5, .weights = _i ? weights : NULL,
                  .smoothing = _i == 1 ? 0.1f : 0.0f};
    const size_t count = (size_t)c.n * c.c;
    float *q = falloc(count);
    random_rows(q, c.n, c.c, &rng);
    c.targets = q;
    c.logits = falloc(count);
    c.probs = falloc(count);
    float *dlogits = falloc(count);
    fill_uniform(c.logits, count, -2, 2, &rng);
    fer_soft_cross_entropy(dlogits, c.probs, c.logits, q, c.weights, c.smoothing, c.c, c.n);
    const float one = 1.0f;
    fd_problem p = {soft_fwd, &c, &c.loss, &one, 1};
    check_grad(&p, "soft cross-entropy dlogits", c.logits, dlogits, count, 3e-3f, CURVED_TOL);
    free_all();
}
END_TEST

/* One-hot targets reproduce the hard-label loss and gradient, smoothing and weights too. */
START_TEST(soft_cross_entropy_one_hot_is_hard)
{
    uint64_t rng = 6200;
    const int labels[5] = {0, 6, 3, 3, 1};
    float weights[7], logits[35], q[35] = {0}, p1[35], p2[35], d1[35], d2[35];
    fill_uniform(weights, 7, 0.5f, 2.0f, &rng);
    fill_uniform(logits, 35, -3, 3, &rng);
    for (int i = 0; i < 5; i++)
        q[i * 7 + labels[i]] = 1.0f;
    for (int k = 0; k < 3; k++) {
        const float *w = k ? weights : NULL, eps = k == 2 ? 0.0f : 0.1f;
        const float hard = fer_cross_entropy(d1, p1, logits, labels, w, eps, 7, 5);
        const float soft = fer_soft_cross_entropy(d2, p2, logits, q, w, eps, 7, 5);
        ck_assert_float_eq_tol(soft, hard, 1e-6f);
        for (int j = 0; j < 35; j++)
            ck_assert_float_eq_tol(d2[j], d1[j], 1e-7f);
    }
}
END_TEST

/*
 * One sample, logits (0, 0, 0): p = 1/3 each. Target (1/2, 1/2, 0):
 *   loss = -(1/2) ln(1/3) - (1/2) ln(1/3) = ln 3, gradient p - q = (-1/6, -1/6, 1/3).
 * With smoothing 0.3 the target is 0.7 q + 0.1 = (0.45, 0.45, 0.1): the loss is still
 * ln 3 (uniform p), the gradient p - q' = (-0.1166667, -0.1166667, 0.2333333).
 */
START_TEST(soft_cross_entropy_hand_example)
{
    const float logits[3] = {0, 0, 0}, q[3] = {0.5f, 0.5f, 0.0f};
    float p[3], d[3];
    ck_assert_float_eq_tol(fer_soft_cross_entropy(d, p, logits, q, NULL, 0.0f, 3, 1),
                           logf(3.0f), 1e-6f);
    ck_assert_float_eq_tol(d[0], -1 / 6.0f, 1e-6f);
    ck_assert_float_eq_tol(d[1], -1 / 6.0f, 1e-6f);
    ck_assert_float_eq_tol(d[2], 1 / 3.0f, 1e-6f);
    ck_assert_float_eq_tol(fer_soft_cross_entropy(d, p, logits, q, NULL, 0.3f, 3, 1),
                           logf(3.0f), 1e-6f);
    ck_assert_float_eq_tol(d[0], -0.1166667f, 1e-6f);
    ck_assert_float_eq_tol(d[2], 0.2333333f, 1e-6f);
}
END_TEST

static void distill_fwd(void *vctx)
{
    soft_ctx *c = vctx;
    c->loss = fer_distill_loss(NULL, c->logits, c->teacher, c->temp, c->scale, c->c, c->n);
}

START_TEST(distill_backward_matches_finite_differences)
{
    // _i = 0: T = 1; 1: T = 4, scale 0.7 (a typical distillation setting).
    uint64_t rng = 6300 + (uint64_t)_i;
    soft_ctx c = {.c = 8, .n = 5, .temp = _i ? 4.0f : 1.0f, .scale = _i ? 0.7f : 1.0f};
    const size_t count = (size_t)c.n * c.c;
    float *t = falloc(count);
    random_rows(t, c.n, c.c, &rng);
    c.teacher = t;
    c.logits = falloc(count);
    float *dlogits = falloc(count);
    fill_uniform(c.logits, count, -3, 3, &rng);
    fer_distill_loss(dlogits, c.logits, t, c.temp, c.scale, c.c, c.n);
    const float one = 1.0f;
    fd_problem p = {distill_fwd, &c, &c.loss, &one, 1};
    check_grad(&p, "distillation dlogits", c.logits, dlogits, count, 3e-3f, CURVED_TOL);
    free_all();
}
END_TEST

/*
 * T = 2, logits (0, 2 ln 2): softened student s = softmax(0, ln 2) = (1/3, 2/3).
 * Teacher (1/2, 1/2): KL = 1/2 ln(3/2) + 1/2 ln(3/4) = 1/2 ln(9/8) = 0.05889152.
 * Term = T^2 KL = 0.23556607; gradient T (s - t) = (-1/3, 1/3), ADDED to dlogits.
 * A teacher equal to the student gives 0 and no gradient.
 */
START_TEST(distill_hand_example)
{
    const float z[2] = {0.0f, 2.0f * logf(2.0f)}, t[2] = {0.5f, 0.5f};
    float d[2] = {1.0f, 1.0f};
    ck_assert_float_eq_tol(fer_distill_loss(d, z, t, 2.0f, 1.0f, 2, 1), 0.23556607f, 1e-6f);
    ck_assert_float_eq_tol(d[0], 1.0f - 1 / 3.0f, 1e-6f);
    ck_assert_float_eq_tol(d[1], 1.0f + 1 / 3.0f, 1e-6f);
    const float same[2] = {1 / 3.0f, 2 / 3.0f};
    float d0[2] = {0, 0};
    ck_assert_float_eq_tol(fer_distill_loss(d0, z, same, 2.0f, 0.5f, 2, 1), 0.0f, 1e-6f);
    ck_assert_float_eq_tol(d0[0], 0.0f, 1e-6f);
    ck_assert_float_eq_tol(d0[1], 0.0f, 1e-6f);
}
END_TEST

START_TEST(softmax_is_stable)
{
    const float logits[6] = {1000, 1001, 1002, -1000, -1000, -1000};
    float p[6];
    fer_softmax(p, logits, 3, 2);
    // exp(0), exp(-1), exp(-2) normalised: 0.66524096, 0.24472847, 0.09003057
    ck_assert_float_eq_tol(p[2], 0.66524096f, 1e-6f);
    ck_assert_float_eq_tol(p[1], 0.24472847f, 1e-6f);
    ck_assert_float_eq_tol(p[0], 0.09003057f, 1e-6f);
    for (int j = 3; j < 6; j++)
        ck_assert_float_eq_tol(p[j], 1 / 3.0f, 1e-6f);
    // A confidently wrong answer gives a large finite loss, not inf.
    const int label = 0;
    float probs[3];
    const float loss = fer_cross_entropy(NULL, probs, logits, &label, NULL, 0.0f, 3, 1);
    ck_assert_float_eq_tol(loss, 2.40760596f, 1e-5f); // 2 + log(1 + e^-1 + e^-2)
    const float far[3] = {0, 200, 0};
    const float big = fer_cross_entropy(NULL, probs, far, &label, NULL, 0.0f, 3, 1);
    ck_assert(isfinite(big) && fabsf(big - 200.0f) < 1e-3f);
}
END_TEST

/* ---- random numbers ------------------------------------------------------------------- */

/*
 * Reference values from numpy 1.24 (Debian 12's python3-numpy), computed with
 * uint64 arithmetic exactly as the header states:
 *   G = np.uint64(0x9E3779B97F4A7C15)
 *   def mix(z):
 *       z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
 *       z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
 *       return z ^ (z >> np.uint64(31))
 *   x = mix(np.uint64(seed) + np.uint64(i) * G)
 *   v = (x >> np.uint64(40)).astype(np.float32) / np.float32(8388608.0) - np.float32(1.0)
 * and compared here as float bit patterns, since parity nets need bit equality.
 */
START_TEST(hash_uniform_matches_numpy)
{
    static const struct {
        uint64_t seed, i;
        uint32_t bits;
        float value;
    } want[] = {
        {0, 0, 0xbf800000u, -1.0f}, // mix(0) = 0
        {0, 1, 0x3f444150u, 0.7666216f},
        {0, 2, 0xbe0c3b10u, -0.13694406f},
        {0, 3, 0xbf727746u, -0.94713247f},
        {42, 0, 0x3e9d67a8u, 0.30743146f},
        {42, 1, 0x3ef75cc8u, 0.48312974f},
        {42, 1000, 0xbe4fb720u, -0.202847f},
        {42, 123456789, 0x3f2c2eeau, 0.67259085f},
        {0xDEADBEEFCAFEF00Dull, 0, 0xbf4ddf6cu, -0.8041904f},
        {0xDEADBEEFCAFEF00Dull, 7, 0x3f0278ccu, 0.5096557f},
        {0xDEADBEEFCAFEF00Dull, (1ull << 40) + 5, 0xbf702c7au, -0.93817866f},
    };
    for (size_t t = 0; t < sizeof want / sizeof want[0]; t++) {
        float v = fer_hash_uniform(want[t].seed, want[t].i);
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        ck_assert_msg(bits == want[t].bits, "hash(%llu, %llu) = %.9g (0x%08x), want 0x%08x",
                      (unsigned long long)want[t].seed, (unsigned long long)want[t].i, v, bits,
                      want[t].bits);
        ck_assert(v == want[t].value);
    }
}
END_TEST

/* splitmix64 from state 0: the first outputs of Vigna's reference splitmix64.c
 * (also reproduced with the numpy code above). */
START_TEST(rng_splitmix64_stream)
{
    uint64_t s = 0;
    ck_assert(fer_rng_next(&s) == 0xe220a8397b1dcdafull);
    ck_assert(fer_rng_next(&s) == 0x6e789e6aa1b965f4ull);
    ck_assert(fer_rng_next(&s) == 0x06c45d188009454full);

    // uniform in [0, 1) with mean 1/2; normal with mean 0 and variance 1.
    uint64_t r = 123;
    double su = 0, sn = 0, sn2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        float u = fer_rng_uniform(&r);
        ck_assert(u >= 0.0f && u < 1.0f);
        su += u;
        float z = fer_rng_normal(&r);
        ck_assert(isfinite(z));
        sn += z;
        sn2 += (double)z * z;
    }
    ck_assert_msg(fabs(su / n - 0.5) < 0.005, "uniform mean %.4f", su / n);
    ck_assert_msg(fabs(sn / n) < 0.01, "normal mean %.4f", sn / n);
    ck_assert_msg(fabs(sn2 / n - 1.0) < 0.02, "normal variance %.4f", sn2 / n);
}
END_TEST

/* ---- runner ----------------------------------------------------------------------------- */

static Suite *layers_suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, conv_backward_matches_finite_differences, 0,
                        (int)(sizeof grad_cases / sizeof grad_cases[0]));
    tcase_add_test(tc, conv_backward_accumulates_and_skips_null);
    tcase_add_test(tc, conv_shape_init);
    tcase_add_test(tc, conv_forward_matches_naive);
    tcase_add_test(tc, im2col_col2im_adjoint);
    tcase_add_test(tc, gemm_matches_naive);
    tcase_add_test(tc, im2col_pack_matches_im2col);
    tcase_add_test(tc, conv_paths_agree);
    tcase_add_test(tc, winograd_matches_naive);
    tcase_add_test(tc, winograd_rule);
    tcase_add_test(tc, elementwise_paths_agree);
    tcase_add_loop_test(tc, bn_backward_matches_finite_differences, 0, 3);
    tcase_add_test(tc, bn_running_statistics);
    tcase_add_test(tc, bn_fold_matches_conv_then_bn);
    tcase_add_test(tc, relu_backward_matches_finite_differences);
    tcase_add_loop_test(tc, maxpool_backward_matches_finite_differences, 0, 3);
    tcase_add_test(tc, maxpool_ties_first_max);
    tcase_add_test(tc, gap_backward_matches_finite_differences);
    tcase_add_test(tc, dropout_backward_matches_finite_differences);
    tcase_add_test(tc, dropout_mask_statistics);
    tcase_add_loop_test(tc, fc_backward_matches_finite_differences, 0, 2);
    tcase_add_test(tc, fc_forward_matches_naive);
    tcase_add_test(tc, fc_f16_matches_float);
    tcase_add_loop_test(tc, cross_entropy_backward_matches_finite_differences, 0, 3);
    tcase_add_test(tc, cross_entropy_hand_example);
    tcase_add_loop_test(tc, soft_cross_entropy_backward_matches_finite_differences, 0, 3);
    tcase_add_test(tc, soft_cross_entropy_one_hot_is_hard);
    tcase_add_test(tc, soft_cross_entropy_hand_example);
    tcase_add_loop_test(tc, distill_backward_matches_finite_differences, 0, 2);
    tcase_add_test(tc, distill_hand_example);
    tcase_add_test(tc, softmax_is_stable);
    tcase_add_test(tc, hash_uniform_matches_numpy);
    tcase_add_test(tc, rng_splitmix64_stream);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(layers_suite());
    srunner_run_all(sr, CK_ENV);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
