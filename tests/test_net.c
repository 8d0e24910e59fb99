/*
 * test_net.c — the net as a whole: block layout and initialisation, tensor
 * names and order, and forward/backward over the full layer list against
 * central finite differences (ggml's test-backend-ops idea, at net level).
 *
 * The scalar under test is L = sum(r * logits) for a fixed random r, so
 * dL/dlogits = r is what backward receives. Every parameter element and every
 * input element is perturbed. ReLU and max-pool have kinks; an element with
 * one within the step is recognised (see check_element) and skipped, and only
 * a few may be. Dropout is checked too, by replaying the same mask (net->rng
 * restored before every forward).
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

static fer_net *build(const char *text, int max_batch, unsigned flags, uint64_t seed)
{
    fer_arch *a = NULL;
    fer_net *net = NULL;
    fer_error err = {0};
    ck_assert_msg(fer_arch_parse(&a, text, strlen(text), "t", &err) == 0, "%s", err.msg);
    ck_assert_msg(fer_net_create(&net, a, max_batch, flags, seed, &err) == 0, "%s", err.msg);
    return net;
}

/* Gives batch norm generic parameters and statistics (init has gamma 1, beta 0). */
static void perturb_bn(fer_net *net, uint64_t seed)
{
    for (int i = 0; i < net->nlayers; i++) {
        fer_layer *l = &net->layers[i];
        if (l->spec.type != FER_LAYER_BN)
            continue;
        for (int c = 0; c < l->ic; c++) {
            l->w[c] = 0.5f + fer_rng_uniform(&seed);
            l->b[c] = fer_rng_uniform(&seed) - 0.5f;
            l->run_mean[c] = 0.2f * (fer_rng_uniform(&seed) - 0.5f);
            l->run_var[c] = 0.5f + fer_rng_uniform(&seed);
        }
    }
}

static void fill(float *x, size_t n, float scale, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * fer_rng_normal(&seed);
}

/* L = sum(r * logits) after a training forward that replays dropout stream rng0. */
static double loss_of(fer_net *net, const float *x, const float *r, int n, uint64_t rng0)
{
    net->rng = rng0;
    const float *y = fer_net_forward(net, x, n, 1);
    ck_assert_ptr_nonnull(y);
    double l = 0.0;
    for (int i = 0; i < n * net->arch->nclasses; i++)
        l += (double)r[i] * y[i];
    return l;
}

typedef struct fd_stats {
    int checked, skipped;
    double worst;
} fd_stats;

/* L at *v = saved + d. */
static double loss_at(float *v, float saved, float d, fer_net *net, const float *x,
                      const float *r, int n, uint64_t rng0)
{
    *v = saved + d;
    double l = loss_of(net, x, r, n, rng0);
    *v = saved;
    return l;
}

/* Compares analytic gradient ana with central differences of L in *v at steps e and e/2.
 * Kinks (ReLU, max-pool ties) are told from curvature (batch norm over a tiny batch is
 * strongly curved): with a slope jump J at distance d from the point, the right-minus-left
 * slope mismatch at step e is k(e) = e*L'' + J*(1 - d/e) for d < e. So
 *   2*k(e/2) - k(e) = J*(1 - 3d/e)      cancels the curvature and shows a nearby jump, and
 *   c(e) - c(e/2)   = J*d/(2e)          shows one farther away (smooth: e^2*L'''/8).
 * Either above tol/2 means a kink: skipped. Otherwise c(e/2), which a remaining kink
 * could bias by at most ~0.7 tol, must match. */
static void check_element(fd_stats *st, const char *what, size_t j, float *v, float ana,
                          fer_net *net, const float *x, const float *r, int n, uint64_t rng0)
{
    const float e = 4e-3f, saved = *v;
    double l0 = loss_at(v, saved, 0.0f, net, x, r, n, rng0);
    double p1 = loss_at(v, saved, e, net, x, r, n, rng0);
    double m1 = loss_at(v, saved, -e, net, x, r, n, rng0);
    double p2 = loss_at(v, saved, e / 2, net, x, r, n, rng0);
    double m2 = loss_at(v, saved, -e / 2, net, x, r, n, rng0);
    double c1 = (p1 - m1) / (2.0 * e), c2 = (p2 - m2) / (double)e;
    double k1 = (p1 - 2.0 * l0 + m1) / e, k2 = (p2 - 2.0 * l0 + m2) / (e / 2);

    double tol = 5e-3 * fmax(1.0, fabs(ana));
    if (fabs(2.0 * k2 - k1) > tol / 2 || fabs(c1 - c2) > tol / 2) {
        st->skipped++;
        return;
    }
    double diff = fabs(c2 - ana);
    st->checked++;
    st->worst = fmax(st->worst, diff / fmax(1.0, fabs(ana)));
    if (diff > tol)
        ck_abort_msg("%s[%zu]: backward %.6f, finite differences %.6f (step %g: %.6f)", what, j,
                     (double)ana, c2, (double)e, c1);
}

/* Every parameter and input element of net against finite differences. */
static void gradcheck(const char *text, int n, int dropout_off)
{
    fer_net *net = build(text, n, FER_NET_TRAIN, 7);
    perturb_bn(net, 99);
    net->dropout_off = dropout_off;
    const size_t in_count = (size_t)n * net->layers[0].in_size;
    const int nc = net->arch->nclasses;
    float *x = malloc(in_count * sizeof *x), *din = malloc(in_count * sizeof *din);
    float *r = malloc((size_t)n * nc * sizeof *r);
    fill(x, in_count, 1.0f, 1);
    fill(r, (size_t)n * nc, 1.0f, 2);
    const uint64_t rng0 = 12345;

    net->rng = rng0;
    ck_assert_ptr_nonnull(fer_net_forward(net, x, n, 1));
    fer_net_zero_grad(net);
    fer_net_backward(net, r, din, n);

    // The analytic gradients, copied before the finite differences overwrite state.
    fer_tensor_ref refs[64];
    int nt = fer_net_tensors(net, refs, 64);
    ck_assert_int_le(nt, 64);
    float *grads = malloc(net->params_len * sizeof *grads);
    memcpy(grads, net->grads, net->params_len * sizeof *grads);

    fd_stats st = {0};
    for (int t = 0; t < nt; t++) {
        if (!refs[t].grad)
            continue; // bn running statistics have no gradient
        const float *g = grads + (refs[t].grad - net->grads);
        for (size_t j = 0; j < refs[t].count; j++)
            check_element(&st, refs[t].name, j, &refs[t].data[j], g[j], net, x, r, n, rng0);
    }
    for (size_t j = 0; j < in_count; j++)
        check_element(&st, "input", j, &x[j], din[j], net, x, r, n, rng0);
    ck_assert_msg(st.skipped * 10 <= st.checked, "%d elements skipped at kinks, %d checked",
                  st.skipped, st.checked);
    ck_assert_int_gt(st.checked, 100);

    // Without din the parameter gradients are the same (layer 0's input grad is skipped).
    net->rng = rng0;
    fer_net_forward(net, x, n, 1);
    fer_net_zero_grad(net);
    fer_net_backward(net, r, NULL, n);
    for (size_t i = 0; i < net->params_len; i++)
        ck_assert_float_eq_tol(net->grads[i], grads[i], 1e-6f * fmaxf(1.0f, fabsf(grads[i])));
    // Gradients accumulate: a second backward doubles them.
    fer_net_backward(net, r, NULL, n);
    for (size_t i = 0; i < net->params_len; i++)
        ck_assert_float_eq_tol(net->grads[i], 2.0f * grads[i],
                               2e-6f * fmaxf(1.0f, fabsf(grads[i])));

    free(grads);
    free(x);
    free(din);
    free(r);
    fer_net_free(net);
}

/* conv (no bias) + bn + relu + maxpool, then fc + bn (per feature) + relu + dropout + fc. */
static const char *arch_pool =
    "[net]\ninput = 2x6x6\n"
    "[conv]\nfilters = 3\nsize = 3\npad = 1\nbias = 0\n[bn]\n[relu]\n[maxpool]\n"
    "[fc]\noutputs = 5\n[bn]\n[relu]\n[dropout]\np = 0.3\n[fc]\noutputs = 4\n";

/* strided conv with bias, a direct 1x1 conv, global average pool, fc. */
static const char *arch_gap =
    "[net]\ninput = 1x7x7\n"
    "[conv]\nfilters = 4\nsize = 3\nstride = 2\n[relu]\n[conv]\nfilters = 3\nsize = 1\n"
    "[bn]\n[gap]\n[fc]\noutputs = 3\n";

START_TEST(test_gradcheck_pool)
{
    gradcheck(arch_pool, 3, 0);
}
END_TEST

START_TEST(test_gradcheck_pool_dropout_off)
{
    gradcheck(arch_pool, 2, 1);
}
END_TEST

START_TEST(test_gradcheck_gap)
{
    gradcheck(arch_gap, 3, 0);
}
END_TEST

START_TEST(test_init)
{
    fer_net *a = build(arch_pool, 2, FER_NET_TRAIN, 5);
    fer_net *b = build(arch_pool, 2, 0, 5);
    fer_net *c = build(arch_pool, 2, 0, 6);
    ck_assert_uint_eq(a->params_len, b->params_len);
    ck_assert_mem_eq(a->params, b->params, a->params_len * sizeof(float)); // same seed
    ck_assert_int_ne(memcmp(a->params, c->params, a->params_len * sizeof(float)), 0);
    ck_assert_ptr_nonnull(a->grads);
    ck_assert_ptr_null(b->grads);
    ck_assert_ptr_null(b->layers[0].dw);
    ck_assert_ptr_null(b->layers[1].dout);

    const fer_layer *conv = &a->layers[0], *bn = &a->layers[1], *fc = &a->layers[4];
    float bound = 1.0f / sqrtf(2 * 9); // fan_in = C*KH*KW
    int spread = 0;
    for (int i = 0; i < 3 * 2 * 9; i++) {
        ck_assert(fabsf(conv->w[i]) <= bound);
        spread |= fabsf(conv->w[i]) > bound / 2;
    }
    ck_assert(spread);
    for (int i = 0; i < 3; i++) {
        ck_assert_float_eq(conv->b[i], 0.0f); // bias = 0: zero, untrained slot
        ck_assert_float_eq(bn->w[i], 1.0f);
        ck_assert_float_eq(bn->b[i], 0.0f);
        ck_assert_float_eq(bn->run_mean[i], 0.0f);
        ck_assert_float_eq(bn->run_var[i], 1.0f);
    }
    float fb = 1.0f / sqrtf(27); // fc fan_in = 3x3x3
    for (int i = 0; i < 5 * 27; i++)
        ck_assert(fabsf(fc->w[i]) <= fb);
    for (int i = 0; i < 5; i++)
        ck_assert(fabsf(fc->b[i]) <= fb && fc->b[i] != 0.0f);

    // Every pointer lies inside its block and grads mirror params.
    ck_assert_ptr_eq(fc->dw, a->grads + (fc->w - a->params));
    ck_assert(fc->b + 5 <= a->params + a->params_len);
    ck_assert_uint_eq(a->nparams, 3 * 18 + 6 + 5 * 27 + 5 + 10 + 4 * 5 + 4);

    fer_net_free(a);
    fer_net_free(b);
    fer_net_free(c);
    fer_net_free(NULL);
}
END_TEST

START_TEST(test_tensors)
{
    fer_net *net = build(arch_pool, 1, 0, 1);
    static const char *const names[] = {
        "0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "4.weight",
        "4.bias", "5.weight", "5.bias", "5.running_mean", "5.running_var", "8.weight", "8.bias",
    };
    const int n = (int)(sizeof names / sizeof names[0]);
    fer_tensor_ref refs[16];
    ck_assert_int_eq(fer_net_tensors(net, NULL, 0), n);
    ck_assert_int_eq(fer_net_tensors(net, refs, 16), n);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(refs[i].name, names[i]);
    ck_assert_int_eq(refs[0].ndim, 4);
    ck_assert_int_eq(refs[0].shape[0], 3);
    ck_assert_int_eq(refs[0].shape[1], 2);
    ck_assert_int_eq(refs[0].shape[2], 3);
    ck_assert_int_eq(refs[0].decay, 1);
    ck_assert_int_eq(refs[1].decay, 0);
    ck_assert_int_eq(refs[5].ndim, 2);
    ck_assert_int_eq(refs[5].shape[0], 5);
    ck_assert_int_eq(refs[5].shape[1], 27);
    ck_assert_ptr_eq(refs[3].data, net->layers[1].run_mean);
    ck_assert_ptr_null(refs[3].grad);
    ck_assert_ptr_null(refs[0].grad); // not a training net
    ck_assert_int_eq(fer_net_macs(net), 3 * 18 * 36 + 27 * 5 + 5 * 4);
    fer_net_free(net);
}
END_TEST

/* Inference: dropout is identity, bn uses running statistics, and folding bn into the
 * conv before it changes nothing but rounding. */
START_TEST(test_infer_and_fold)
{
    const int n = 4;
    fer_net *net = build(arch_pool, n, FER_NET_TRAIN, 3);
    perturb_bn(net, 5);
    float x[4 * 72], y[4 * 4], yf[4 * 4];
    fill(x, sizeof x / sizeof x[0], 1.0f, 9);
    const float *out = fer_net_forward(net, x, n, 0);
    ck_assert_ptr_nonnull(out);
    memcpy(y, out, sizeof y);
    // Inference is deterministic (no dropout) and per-image (no batch statistics).
    out = fer_net_forward(net, x + 72, 1, 0);
    for (int k = 0; k < 4; k++)
        ck_assert_float_eq_tol(out[k], y[4 + k], 1e-5f);

    fer_net_fold_bn(net);
    ck_assert_int_eq(net->layers[1].folded, 1);
    ck_assert_int_eq(net->layers[5].folded, 0); // after fc: not foldable, still run
    out = fer_net_forward(net, x, n, 0);
    memcpy(yf, out, sizeof yf);
    for (int k = 0; k < 16; k++)
        ck_assert_msg(fabsf(yf[k] - y[k]) <= 1e-4f * fmaxf(1.0f, fabsf(y[k])),
                      "logit %d: folded %f, unfolded %f", k, (double)yf[k], (double)y[k]);
    fer_net_fold_bn(net); // idempotent
    out = fer_net_forward(net, x, n, 0);
    ck_assert_mem_eq(out, yf, sizeof yf);
    fer_net_free(net);
}
END_TEST

/* Which convs run Winograd (nn/winograd.c): an inference net's 3x3 stride-1 convs that
 * fer_wino_pays selects, only once fer_net_fold_bn has transformed their weights; never a
 * training net's. Before the fold, and with wino_off, the net runs the direct path, and
 * the three agree up to rounding. */
static const char *arch_wino =
    "[net]\ninput = 16x8x8\n"
    "[conv]\nfilters = 32\nsize = 3\npad = 1\nbias = 0\n[bn]\n[relu]\n"  /* 1: selected */
    "[conv]\nfilters = 16\nsize = 3\npad = 1\n[relu]\n"                     /* 4: K < 32 */
    "[conv]\nfilters = 32\nsize = 3\npad = 1\nstride = 2\n[relu]\n"         /* 6: stride 2 */
    "[conv]\nfilters = 32\nsize = 3\npad = 0\n[relu]\n"                     /* 8: selected */
    "[gap]\n[fc]\noutputs = 3\n";

START_TEST(test_winograd_selection)
{
    fer_net *train = build(arch_wino, 2, FER_NET_TRAIN, 4);
    ck_assert_ptr_null(train->wino);
    for (int i = 0; i < train->nlayers; i++)
        ck_assert_ptr_null(train->layers[i].wino);
    fer_net_free(train);

    fer_net *net = build(arch_wino, 2, 0, 4);
    perturb_bn(net, 6);
    ck_assert_ptr_nonnull(net->layers[0].wino);
    ck_assert_ptr_null(net->layers[3].wino);
    ck_assert_ptr_null(net->layers[5].wino);
    ck_assert_ptr_nonnull(net->layers[7].wino);
    ck_assert_int_eq(net->wino_ready, 0);
    float x[2 * 16 * 64], y0[6], y1[6];
    fill(x, sizeof x / sizeof x[0], 1.0f, 12);
    memcpy(y0, fer_net_forward(net, x, 2, 0), sizeof y0); // direct, bn unfolded
    fer_net_fold_bn(net);
    ck_assert_int_eq(net->wino_ready, 1);
    memcpy(y1, fer_net_forward(net, x, 2, 0), sizeof y1); // Winograd
    net->wino_off = 1;
    const float *y2 = fer_net_forward(net, x, 2, 0);      // direct, bn folded
    for (int k = 0; k < 6; k++) {
        ck_assert_msg(fabsf(y1[k] - y0[k]) <= 1e-4f * fmaxf(1.0f, fabsf(y0[k])),
                      "logit %d: winograd %g, unfolded direct %g", k, (double)y1[k], (double)y0[k]);
        ck_assert_msg(fabsf(y1[k] - y2[k]) <= 1e-5f * fmaxf(1.0f, fabsf(y2[k])),
                      "logit %d: winograd %g, direct %g", k, (double)y1[k], (double)y2[k]);
    }
    fer_net_free(net);
}
END_TEST

START_TEST(test_bad_calls)
{
    fer_net *net = build(arch_gap, 2, 0, 1);
    float x[3 * 49] = {0};
    ck_assert_ptr_null(fer_net_forward(net, x, 3, 0)); // over max_batch
    ck_assert_ptr_null(fer_net_forward(net, x, 0, 0));
    ck_assert_ptr_nonnull(fer_net_forward(net, x, 2, 1)); // train on an inference net: infers
    fer_net_backward(net, x, NULL, 2);                     // no-op without FER_NET_TRAIN
    fer_net_free(net);

    fer_arch *a = NULL;
    fer_error err = {0};
    ck_assert_int_eq(fer_arch_parse(&a, arch_gap, strlen(arch_gap), "t", &err), 0);
    ck_assert_int_eq(fer_net_create(&net, a, 0, 0, 1, &err), -EINVAL); // frees a
    ck_assert_ptr_null(net);
    fer_set_threads(1);
}
END_TEST

/* Two threads (the engine's split of each layer, used in training) compute what one
 * does: the same logits, input gradient and batch-inference logits, and parameter
 * gradients equal up to the order in which the two halves of the batch are summed.
 * Run with the AVX-512 kernels (_i = 0) and with the portable ones (_i = 1), where the
 * convolutions stay on one thread and OpenBLAS's. */
START_TEST(test_two_threads_match_one)
{
    fer_gemm_avx512(_i == 0);
    static const char *arch =
        "[net]\ninput = 1x12x12\n"
        "[conv]\nfilters = 8\nsize = 3\npad = 1\nbias = 0\n[bn]\n[relu]\n[maxpool]\n"
        "[conv]\nfilters = 12\nsize = 3\npad = 1\n[relu]\n[maxpool]\n"
        "[conv]\nfilters = 6\nsize = 3\nstride = 2\n[bn]\n[relu]\n[gap]\n[fc]\noutputs = 5\n";
    const int n = 7;
    float *logits[2], *grads[2], *din[2], *infer[2];
    fer_net *net[2];
    float *x = NULL, *r = NULL;
    for (int t = 0; t < 2; t++) {
        net[t] = build(arch, n, FER_NET_TRAIN, 3);
        const size_t in_count = (size_t)n * net[t]->layers[0].in_size;
        if (!x) {
            x = malloc(in_count * sizeof *x);
            r = malloc((size_t)n * 5 * sizeof *r);
            fill(x, in_count, 1.0f, 11);
            fill(r, (size_t)n * 5, 1.0f, 12);
        }
        fer_set_threads(t + 1);
        const float *y = fer_net_forward(net[t], x, n, 1);
        logits[t] = malloc((size_t)n * 5 * sizeof(float));
        memcpy(logits[t], y, (size_t)n * 5 * sizeof(float));
        din[t] = malloc(in_count * sizeof(float));
        fer_net_zero_grad(net[t]);
        fer_net_backward(net[t], r, din[t], n);
        grads[t] = net[t]->grads;
        // Batch inference (images shared between the threads) on running statistics.
        y = fer_net_forward(net[t], x, n, 0);
        infer[t] = malloc((size_t)n * 5 * sizeof(float));
        memcpy(infer[t], y, (size_t)n * 5 * sizeof(float));
    }
    fer_set_threads(1);
    for (int i = 0; i < n * 5; i++) {
        ck_assert_float_eq(logits[0][i], logits[1][i]);
        ck_assert_float_eq(infer[0][i], infer[1][i]);
    }
    for (size_t i = 0; i < (size_t)n * net[0]->layers[0].in_size; i++)
        ck_assert_float_eq(din[0][i], din[1][i]);
    for (size_t i = 0; i < net[0]->params_len; i++)
        ck_assert_float_eq_tol(grads[0][i], grads[1][i], 1e-5f * fmaxf(1.0f, fabsf(grads[0][i])));
    for (int t = 0; t < 2; t++) {
        free(logits[t]);
        free(infer[t]);
        free(din[t]);
        fer_net_free(net[t]);
    }
    free(x);
    free(r);
    fer_gemm_avx512(1);
}
END_TEST

static Suite *net_suite(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("build");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_tensors);
    tcase_add_test(tc, test_infer_and_fold);
    tcase_add_test(tc, test_bad_calls);
    tcase_add_test(tc, test_winograd_selection);
    suite_add_tcase(s, tc);

    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gradcheck_pool);
    tcase_add_test(tc, test_gradcheck_pool_dropout_off);
    tcase_add_test(tc, test_gradcheck_gap);
    tcase_add_loop_test(tc, test_two_threads_match_one, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(net_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
