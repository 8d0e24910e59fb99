/*
 * cmd_bench.c — `fer bench`: how fast the engine is on this machine, measured
 * against the machine's own matrix-product peak in the same run.
 *
 *   fer bench [infer] [--arch A]... [--model F]... [--threads N] [--iters N] [--fp16]
 *             [--no-winograd]
 *   fer bench train   [--arch A]... [--threads N] [--steps N] [--batch N]
 *   fer bench --write-models DIR      (random-weight .fermodel files for tools/bench_torch.py)
 *
 * What it prints, in order:
 *  1. the load average (first, because every figure below is void when other work
 *     competes for the processor; a warning when the 1-minute load is above 0.5);
 *  2. the machine: processor, OpenBLAS build and the kernel it runs, and whether
 *     the engine's AVX-512 product kernel is in use;
 *  3. the peak: OpenBLAS cblas_sgemm on one thread for a 1024^3 product (the
 *     "sgemm peak" every percentage refers to), then OpenBLAS and the engine's
 *     fer_gemm at each conv shape of the first network (its forward product:
 *     M = filters, N = output pixels, K = C*KH*KW);
 *  4. inference, per network, on the given thread count (1 by default: the daemon's
 *     setting): batch-1 latency per face (median, p10, p90 over --iters runs after
 *     a warm-up), the time of each layer with its GFLOPS and, for conv layers, the
 *     share of the sgemm peak (GFLOPS count the direct convolution's multiply-adds,
 *     also for a Winograd layer, which does fewer), then the throughput at batch 32;
 *     then, unless --no-winograd, batch 1 with the Winograd convs against the same
 *     convs on the old path, alternating run by run, in thread CPU time and wall
 *     time, per conv layer, and the logit difference between the two;
 *  5. training (`fer bench train`): images/s of forward + backward + SGD step
 *     (Nesterov momentum 0.9, weight decay 5e-4) at batch 64 on random data with the
 *     given thread count (2 by default, as `fer train`), and the time per layer.
 *
 * All times are wall-clock (CLOCK_MONOTONIC), the figure a user waits for. Networks
 * come from architecture files with random weights (seeded) unless --model names a
 * .fermodel; inference folds batch norm into the convolutions as the daemon does.
 */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "util/cli.h"
#include "net/model.h"
#include "util/paths.h"
#include "train/optim.h"
#include "util/clock.h"

#define MAX_NETS 8

typedef struct opts {
    int train;
    const char *archs[MAX_NETS];
    int narchs;
    const char *models[MAX_NETS];
    int nmodels;
    int threads;     /* 0: the mode's default */
    int iters;       /* batch-1 runs per network (0: by network size) */
    int steps;       /* training steps timed */
    int batch;       /* training batch */
    int fp16;        /* also time seed-like nets with fp16 fc weights */
    int no_wino;     /* run the convs Winograd would take on the old path throughout */
    int no_peak;
    const char *write_dir;
    uint64_t seed;
} opts;

static void usage(FILE *f)
{
    fprintf(f,
"usage: fer bench [infer] [--arch A]... [--model FILE]... [--threads N] [--iters N] [--fp16]\n"
"                 [--no-winograd]\n"
"       fer bench train [--arch A]... [--threads N] [--steps N] [--batch N]\n"
"       fer bench --write-models DIR\n"
"\n"
"Measures the engine against this machine's OpenBLAS sgemm peak, in one run:\n"
"load average, machine, sgemm peak (1024^3 and the first network's conv shapes),\n"
"then per network batch-1 latency (median/p10/p90), per-layer time and GFLOPS\n"
"with the conv layers' share of the peak, batch-32 throughput, and Winograd against\n"
"the old conv path in the same run (time and ratio). 'train' times\n"
"forward + backward + SGD step at batch 64 on random data instead.\n"
"  --arch A        architecture file or shipped name (default: default and seed)\n"
"  --model FILE    a .fermodel instead (weights as trained; bn folded)\n"
"  --threads N     threads (infer: 1, train: 2)\n"
"  --iters N       batch-1 runs timed per network (default: ~2 s worth, >= 50)\n"
"  --steps N       training steps timed (default 30)\n"
"  --batch N       training batch (default 64)\n"
"  --fp16          also run each net with fp16 fc weights (batch 1) and report the\n"
"                  largest logit difference from float32\n"
"  --no-peak       skip the sgemm measurements\n"
"  --no-winograd   run every conv on the im2col/direct path (no Winograd, no comparison)\n"
"  --seed N        seed of the random weights and data (1)\n"
"  --write-models DIR  write DIR/<arch>.fermodel with the random weights and exit\n"
"Measure on an idle machine: the load average is printed first for that reason.\n");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* q-quantile of v[0..n) by linear interpolation; sorts v. */
static double quantile(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double at = q * (n - 1);
    int i = (int)at;
    if (i >= n - 1)
        return v[n - 1];
    return v[i] + (at - i) * (v[i + 1] - v[i]);
}

/* Prints the load average line; returns the 1-minute figure (-1 if unreadable). */
static double print_load(const char *when)
{
    double l1 = -1, l5 = -1, l15 = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) != 3)
            l1 = -1;
        fclose(f);
    }
    printf("load average (%s): %.2f %.2f %.2f\n", when, l1, l5, l15);
    if (l1 > 0.5)
        printf("WARNING: load %.2f > 0.5: other work competes for the processor; these figures "
               "understate the engine. Re-run on an idle machine.\n", l1);
    return l1;
}

static void print_machine(void)
{
    char line[256], model[128] = "?";
    int cpus = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
                snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
                model[strcspn(model, "\n")] = '\0';
            }
            if (!strncmp(line, "processor", 9))
                cpus++;
        }
        fclose(f);
    }
    printf("machine: %s, %d logical CPUs\n", model, cpus);
    printf("OpenBLAS: %s; kernel %s\n", openblas_get_config(), openblas_get_corename());
    printf("engine product kernel: %s\n",
           fer_gemm_avx512(-1) ? "AVX-512 (fer_gemm)" : "cblas_sgemm (no AVX-512)");
}

/* ---- the sgemm peak ------------------------------------------------------------------- */

/* Best GFLOPS of 5 timed rounds of c (m, n) = a (m, k) . b (k, n); each round repeats the
 * product until it has taken >= 40 ms. use_fer: fer_gemm instead of cblas_sgemm. */
static double gemm_gflops(int use_fer, int m, int n, int k, float *a, float *b, float *c,
                          float *work)
{
    const double flop = 2.0 * m * n * k;
    double best = 0.0;
    for (int round = 0; round < 6; round++) {
        int reps = 0;
        double t0 = fer_mono_s(), t;
        do {
            if (use_fer)
                fer_gemm(0, 0, m, n, k, a, k, b, n, 0, c, n, NULL, 0, work);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n,
                            0.0f, c, n);
            reps++;
            t = fer_mono_s() - t0;
        } while (t < 0.04);
        if (round > 0 && flop * reps / t / 1e9 > best) // round 0 warms up
            best = flop * reps / t / 1e9;
    }
    return best;
}

/* Prints the peak section; returns OpenBLAS's 1024^3 GFLOPS (the reference peak). */
static double bench_peak(const fer_net *net)
{
    const int big = 1024;
    size_t na = (size_t)big * big, nw = fer_gemm_work_size(big, big, big);
    for (int i = 0; i < net->nlayers; i++) {
        const fer_layer *l = &net->layers[i];
        if (l->spec.type != FER_LAYER_CONV)
            continue;
        size_t P = (size_t)l->oh * l->ow, CKK = (size_t)l->ic * l->conv.kh * l->conv.kw;
        if ((size_t)l->oc * CKK > na || CKK * P > na || (size_t)l->oc * P > na)
            na = CKK * P > (size_t)l->oc * CKK ? CKK * P : (size_t)l->oc * CKK;
        size_t w = fer_gemm_work_size(l->oc, (int)P, (int)CKK);
        nw = w > nw ? w : nw;
    }
    float *a = malloc(na * sizeof(float)), *b = malloc(na * sizeof(float));
    float *c = malloc(na * sizeof(float)), *work = malloc(nw * sizeof(float));
    if (!a || !b || !c || !work) {
        free(a), free(b), free(c), free(work);
        fprintf(stderr, "fer bench: out of memory for the sgemm peak\n");
        return 0.0;
    }
    uint64_t rng = 12345;
    for (size_t i = 0; i < na; i++) {
        a[i] = fer_rng_uniform(&rng) - 0.5f;
        b[i] = fer_rng_uniform(&rng) - 0.5f;
    }
    openblas_set_num_threads(1);
    const double peak = gemm_gflops(0, big, big, big, a, b, c, work);
    const double fer_big = gemm_gflops(1, big, big, big, a, b, c, work);
    printf("\nsgemm peak, one thread (best of 5 rounds of >= 40 ms):\n");
    printf("  %-34s %10s %10s\n", "product (M x N x K)", "OpenBLAS", "fer_gemm");
    printf("  %-34s %7.1f GF %7.1f GF   <- the sgemm peak\n", "1024 x 1024 x 1024", peak, fer_big);
    for (int i = 0; i < net->nlayers; i++) {
        const fer_layer *l = &net->layers[i];
        if (l->spec.type != FER_LAYER_CONV)
            continue;
        int P = l->oh * l->ow, CKK = l->ic * l->conv.kh * l->conv.kw;
        char shape[160];
        snprintf(shape, sizeof shape, "%.64s layer %d: %d x %d x %d", net->arch->name, i, l->oc,
                 P, CKK);
        printf("  %-34s %7.1f GF %7.1f GF\n", shape, gemm_gflops(0, l->oc, P, CKK, a, b, c, work),
               gemm_gflops(1, l->oc, P, CKK, a, b, c, work));
    }
    free(a), free(b), free(c), free(work);
    return peak;
}

/* ---- nets ------------------------------------------------------------------------------- */

static const char *layer_name(char *buf, size_t cap, const fer_layer *l)
{
    const fer_layer_spec *s = &l->spec;
    switch (s->type) {
    case FER_LAYER_CONV:
        snprintf(buf, cap, "conv %dx%d %d->%d %dx%d", s->size, s->size, l->ic, l->oc, l->oh, l->ow);
        break;
    case FER_LAYER_FC:
        snprintf(buf, cap, "fc %zu->%d", l->in_size, l->oc);
        break;
    case FER_LAYER_BN:
        snprintf(buf, cap, "bn%s", l->folded ? " (folded)" : "");
        break;
    default:
        snprintf(buf, cap, "%s", fer_layer_type_name(s->type));
        break;
    }
    return buf;
}

/* Random weights for arch name/path (seeded), or a loaded model. On success *m owns
 * the net; infer: bn folded and no training buffers. */
static int make_model(fer_model **out, const char *arch_name, const char *model_path, int batch,
                      int infer, uint64_t seed)
{
    fer_error err = {0};
    if (model_path) {
        if (fer_model_load(out, model_path, batch, infer ? FER_LOAD_INFER : 0, &err) < 0) {
            fprintf(stderr, "fer bench: %s\n", err.msg);
            return -1;
        }
        return 0;
    }
    char path[4096];
    fer_find_arch(arch_name, path, sizeof path);
    fer_arch *arch;
    if (fer_arch_load(&arch, path, &err) < 0) {
        fprintf(stderr, "fer bench: %s\n", err.msg);
        return -1;
    }
    fer_model *m = calloc(1, sizeof *m);
    if (!m) {
        fer_arch_free(arch);
        fprintf(stderr, "fer bench: out of memory\n");
        return -1;
    }
    fer_preproc_default(&m->pre);
    fer_meta_init(&m->meta);
    if (fer_net_create(&m->net, arch, batch, infer ? 0 : FER_NET_TRAIN, seed, &err) < 0) {
        fprintf(stderr, "fer bench: %s\n", err.msg);
        free(m);
        return -1;
    }
    if (infer)
        fer_net_fold_bn(m->net);
    *out = m;
    return 0;
}

static void fill_random(float *x, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 2.0f * fer_rng_uniform(rng) - 1.0f;
}

/* Batch-1 latency, per-layer profile and batch-32 throughput of one net. */
static int bench_infer_net(fer_net *net, const opts *o, double peak, int f16)
{
    const char *tag = f16 ? " (fp16 fc)" : "", *rtag = f16 ? "_fp16" : "";
    const int threads = o->threads ? o->threads : 1;
    fer_set_threads(threads);
    const size_t in1 = net->layers[0].in_size;
    const int B = net->max_batch;
    float *x = malloc((size_t)B * in1 * sizeof(float));
    double *times = NULL, *prof = calloc(2 * (size_t)net->nlayers, sizeof(double));
    if (!x || !prof) {
        free(x), free(prof);
        fprintf(stderr, "fer bench: out of memory\n");
        return -1;
    }
    uint64_t rng = o->seed;
    fill_random(x, (size_t)B * in1, &rng);
    const long long macs = fer_net_macs(net);

    // Warm-up, and an estimate of one run for the default iteration count.
    double t0 = fer_mono_s();
    int warm = 0;
    while (warm < 10 || fer_mono_s() - t0 < 0.3) {
        fer_net_forward(net, x, 1, 0);
        warm++;
    }
    const double one = (fer_mono_s() - t0) / warm;
    int iters = o->iters ? o->iters : (int)(2.0 / one);
    if (iters < 50)
        iters = 50;
    times = malloc((size_t)iters * sizeof(double));
    if (!times) {
        free(x), free(prof);
        return -1;
    }
    for (int i = 0; i < iters; i++) {
        double t = fer_mono_s();
        fer_net_forward(net, x, 1, 0);
        times[i] = fer_mono_s() - t;
    }
    const double med = quantile(times, iters, 0.5), p10 = quantile(times, iters, 0.1),
                 p90 = quantile(times, iters, 0.9);
    printf("\n%s%s: %lld MACs/image, %zu parameters, %d thread%s\n", net->arch->name, tag,
           macs, net->nparams, threads, threads > 1 ? "s" : "");
    printf("  batch 1 latency: median %.3f ms, p10 %.3f ms, p90 %.3f ms (%d runs); %.1f GFLOPS\n",
           med * 1e3, p10 * 1e3, p90 * 1e3, iters, 2.0 * macs / med / 1e9);
    printf("RESULT %s%s fer_b1_ms %.6g\n", net->arch->name, rtag, med * 1e3);

    // Per-layer profile: the median of each layer's time over the runs (robust to the
    // odd run that another process interrupts). Timers add ~0.1 us per layer.
    const int piters = iters < 300 ? iters : 300;
    double *per = malloc((size_t)piters * net->nlayers * sizeof(double)), *col = malloc((size_t)piters * sizeof(double));
    if (!per || !col) {
        free(per), free(col), free(times), free(prof), free(x);
        return -1;
    }
    net->prof = prof;
    for (int r = 0; r < piters; r++) {
        memset(prof, 0, 2 * (size_t)net->nlayers * sizeof(double));
        fer_net_forward(net, x, 1, 0);
        for (int i = 0; i < net->nlayers; i++)
            per[(size_t)i * piters + r] = prof[i];
    }
    net->prof = NULL;
    printf("  %-3s %-26s %10s %8s %9s   (median of %d runs)\n", "#", "layer (batch 1)", "ms",
           "GFLOPS", "of peak", piters);
    double conv_t = 0.0, total_t = 0.0;
    long long conv_macs = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const fer_layer *l = &net->layers[i];
        memcpy(col, per + (size_t)i * piters, (size_t)piters * sizeof(double));
        const double t = quantile(col, piters, 0.5);
        total_t += t;
        char name[64];
        layer_name(name, sizeof name, l);
        if (l->macs) {
            const double gf = 2.0 * l->macs / t / 1e9;
            if (l->spec.type == FER_LAYER_CONV) {
                conv_t += t;
                conv_macs += l->macs;
                // A Winograd layer does fewer multiply-adds than the MACs counted here.
                const int wino = l->wino && net->wino_ready && !net->wino_off;
                printf("  %-3d %-26s %10.4f %8.1f %8.0f%%%s\n", i, name, t * 1e3, gf,
                       peak > 0 ? 100.0 * gf / peak : 0.0, wino ? "  winograd" : "");
            } else {
                printf("  %-3d %-26s %10.4f %8.1f\n", i, name, t * 1e3, gf);
            }
        } else if (t * 1e3 >= 0.0005) {
            printf("  %-3d %-26s %10.4f\n", i, name, t * 1e3);
        }
    }
    free(per), free(col);
    if (conv_macs) {
        const double gf = 2.0 * conv_macs / conv_t / 1e9;
        printf("  conv layers: %.3f ms, %.1f GFLOPS = %.0f%% of the sgemm peak (%.1f GF); "
               "all layers %.3f ms\n", conv_t * 1e3, gf, peak > 0 ? 100.0 * gf / peak : 0.0,
               peak, total_t * 1e3);
        if (peak > 0)
            printf("RESULT %s%s fer_conv_peak_pct %.6g\n", net->arch->name, rtag, 100.0 * gf / peak);
    }

    // Batch-32 throughput.
    if (B >= 32) {
        const int runs = iters / 16 > 5 ? iters / 16 : 5;
        double *bt = malloc((size_t)runs * sizeof(double));
        if (bt) {
            fer_net_forward(net, x, 32, 0);
            for (int i = 0; i < runs; i++) {
                double t = fer_mono_s();
                fer_net_forward(net, x, 32, 0);
                bt[i] = fer_mono_s() - t;
            }
            const double m32 = quantile(bt, runs, 0.5);
            printf("  batch 32: median %.3f ms per batch = %.1f images/s (%.3f ms/image, "
                   "%d runs)\n", m32 * 1e3, 32.0 / m32, m32 / 32 * 1e3, runs);
            printf("RESULT %s%s fer_b32_ips %.6g\n", net->arch->name, rtag, 32.0 / m32);
            free(bt);
        }
    }
    free(times), free(prof), free(x);
    return 0;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*
 * Winograd F(2x2, 3x3) (nn/winograd.c) against the path it replaces, in one run:
 * batch-1 runs alternate between the two (so load changes hit both alike), each
 * timed in wall time and in this thread's CPU time (what a busy machine distorts
 * least: time the thread waited for the processor is not counted); then each conv
 * layer's median time both ways, and the largest logit difference between them.
 */
static int bench_winograd(fer_net *net, const opts *o)
{
    if (!net->wino_ready) {
        printf("  winograd: no conv of this net uses it (fer_wino_pays)\n");
        return 0;
    }
    const size_t in1 = net->layers[0].in_size;
    const int C = net->layers[net->nlayers - 1].oc, trials = 16;
    const int iters = o->iters ? o->iters : 400, L = net->nlayers;
    float *x = malloc(in1 * sizeof(float)), *ref = malloc((size_t)C * sizeof(float));
    double *t[4], *per = malloc((size_t)2 * L * iters * sizeof(double));
    double *prof = calloc((size_t)2 * L, sizeof(double));
    for (int k = 0; k < 4; k++)
        t[k] = malloc((size_t)iters * sizeof(double));
    if (!x || !ref || !per || !prof || !t[0] || !t[1] || !t[2] || !t[3]) {
        free(x), free(ref), free(per), free(prof);
        for (int k = 0; k < 4; k++)
            free(t[k]);
        fprintf(stderr, "fer bench: out of memory\n");
        return -1;
    }
    uint64_t rng = o->seed + 7;
    double worst = 0.0, scale = 0.0;
    int same_top = 0;
    for (int r = 0; r < trials; r++) {
        fill_random(x, in1, &rng);
        net->wino_off = 1;
        memcpy(ref, fer_net_forward(net, x, 1, 0), (size_t)C * sizeof(float));
        net->wino_off = 0;
        const float *y = fer_net_forward(net, x, 1, 0);
        int a = 0, b = 0;
        for (int c = 0; c < C; c++) {
            worst = fmax(worst, fabs((double)y[c] - ref[c]));
            scale = fmax(scale, fabs(ref[c]));
            a = y[c] > y[a] ? c : a;
            b = ref[c] > ref[b] ? c : b;
        }
        same_top += a == b;
    }
    for (int r = 0; r < iters; r++) {
        for (int off = 0; off < 2; off++) {
            net->wino_off = off;
            const double w0 = fer_mono_s(), c0 = thread_cpu_s();
            fer_net_forward(net, x, 1, 0);
            t[2 * off][r] = thread_cpu_s() - c0;
            t[2 * off + 1][r] = fer_mono_s() - w0;
            net->prof = prof;
            memset(prof, 0, (size_t)2 * L * sizeof(double));
            fer_net_forward(net, x, 1, 0);
            net->prof = NULL;
            for (int i = 0; i < L; i++)
                per[((size_t)off * L + i) * iters + r] = prof[i];
        }
    }
    net->wino_off = 0;
    const double cpu_w = quantile(t[0], iters, 0.5), wall_w = quantile(t[1], iters, 0.5);
    const double cpu_o = quantile(t[2], iters, 0.5), wall_o = quantile(t[3], iters, 0.5);
    printf("  winograd vs im2col/direct, batch 1, %d alternating runs each (medians):\n", iters);
    printf("    thread CPU time: %.3f ms vs %.3f ms: %.2fx faster\n", cpu_w * 1e3, cpu_o * 1e3,
           cpu_o / cpu_w);
    printf("    wall time:       %.3f ms vs %.3f ms: %.2fx faster\n", wall_w * 1e3, wall_o * 1e3,
           wall_o / wall_w);
    printf("    logits over %d random inputs: max |difference| %.3g (largest |logit| %.3g), "
           "same top-1 class in %d\n", trials, worst, scale, same_top);
    printf("    %-3s %-26s %10s %10s %7s\n", "#", "conv layer", "wino ms", "old ms", "ratio");
    for (int i = 0; i < L; i++) {
        const fer_layer *l = &net->layers[i];
        if (l->spec.type != FER_LAYER_CONV)
            continue;
        const double a = quantile(per + (size_t)i * iters, iters, 0.5);
        const double b = quantile(per + ((size_t)L + i) * iters, iters, 0.5);
        char name[64];
        layer_name(name, sizeof name, l);
        printf("    %-3d %-26s %10.4f %10.4f %6.2fx%s\n", i, name, a * 1e3, b * 1e3, b / a,
               l->wino ? "" : "  (not selected)");
    }
    printf("RESULT %s wino_cpu_ms %.6g\nRESULT %s old_cpu_ms %.6g\nRESULT %s wino_speedup_cpu "
           "%.6g\nRESULT %s wino_speedup_wall %.6g\n", net->arch->name, cpu_w * 1e3,
           net->arch->name, cpu_o * 1e3, net->arch->name, cpu_o / cpu_w, net->arch->name,
           wall_o / wall_w);
    free(x), free(ref), free(per), free(prof);
    for (int k = 0; k < 4; k++)
        free(t[k]);
    return 0;
}

/* Largest |logit| difference between the float32 and binary16 fc weights over 16 random
 * inputs, then the batch-1 figures with binary16 weights. */
static int bench_f16(fer_net *net, const opts *o, double peak)
{
    const size_t in1 = net->layers[0].in_size;
    const int C = net->layers[net->nlayers - 1].oc, trials = 16;
    float *x = malloc(in1 * sizeof(float)), *ref = malloc((size_t)trials * C * sizeof(float));
    if (!x || !ref) {
        free(x), free(ref);
        return -1;
    }
    uint64_t rng = o->seed + 99;
    double worst = 0.0, scale = 0.0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && fer_net_use_f16(net) < 0) {
            free(x), free(ref);
            fprintf(stderr, "fer bench: out of memory for fp16 weights\n");
            return -1;
        }
        uint64_t r = rng;
        for (int t = 0; t < trials; t++) {
            fill_random(x, in1, &r);
            const float *y = fer_net_forward(net, x, 1, 0);
            for (int c = 0; c < C; c++) {
                if (pass == 0) {
                    ref[t * C + c] = y[c];
                    scale = fmax(scale, fabs(y[c]));
                } else {
                    worst = fmax(worst, fabs((double)y[c] - ref[t * C + c]));
                }
            }
        }
    }
    printf("\n%s with fp16 fc weights: max |logit difference| vs float32 over %d random inputs: "
           "%.3g (largest |logit| %.3g; relative %.2g)\n", net->arch->name, trials, worst, scale,
           scale > 0 ? worst / scale : 0.0);
    printf("RESULT %s fp16_max_logit_diff %.6g\n", net->arch->name, worst);
    free(x), free(ref);
    return bench_infer_net(net, o, peak, 1);
}

/* Training throughput: forward + cross-entropy + backward + SGD step at batch o->batch. */
static int bench_train_net(fer_net *net, const opts *o)
{
    const int threads = o->threads ? o->threads : 2, B = o->batch;
    fer_set_threads(threads);
    const int C = net->layers[net->nlayers - 1].oc;
    const size_t in1 = net->layers[0].in_size;
    float *x = malloc((size_t)B * in1 * sizeof(float));
    float *probs = malloc((size_t)B * C * sizeof(float)), *dl = malloc((size_t)B * C * sizeof(float));
    int *y = malloc((size_t)B * sizeof(int));
    double *prof = calloc(2 * (size_t)net->nlayers, sizeof(double));
    fer_optim *opt = NULL;
    fer_optim_cfg cfg;
    fer_optim_cfg_default(&cfg); // SGD, Nesterov momentum 0.9, weight decay 5e-4
    fer_error err = {0};
    int rc = -1;
    if (!x || !probs || !dl || !y || !prof) {
        fprintf(stderr, "fer bench: out of memory\n");
        goto out;
    }
    if (fer_optim_create(&opt, net, &cfg, &err) < 0) {
        fprintf(stderr, "fer bench: %s\n", err.msg);
        goto out;
    }
    uint64_t rng = o->seed;
    fill_random(x, (size_t)B * in1, &rng);
    for (int i = 0; i < B; i++)
        y[i] = (int)(fer_rng_next(&rng) % (uint64_t)C);

    const int warm = 3, steps = o->steps;
    double *st = malloc((size_t)steps * sizeof(double));
    if (!st)
        goto out;
    for (int s = 0; s < warm + steps; s++) {
        if (s == warm + steps - 5)
            net->prof = prof; // profile the last 5 steps
        double t = fer_mono_s();
        const float *logits = fer_net_forward(net, x, B, 1);
        fer_cross_entropy(dl, probs, logits, y, NULL, 0.1f, C, B);
        fer_net_zero_grad(net);
        fer_net_backward(net, dl, NULL, B);
        fer_optim_step(opt, 1e-3f);
        if (s >= warm)
            st[s - warm] = fer_mono_s() - t;
    }
    net->prof = NULL;
    double sum = 0.0;
    for (int s = 0; s < steps; s++)
        sum += st[s];
    const double med = quantile(st, steps, 0.5);
    const long long macs = fer_net_macs(net);
    printf("\n%s training: batch %d, %d thread%s, SGD Nesterov 0.9, wd 5e-4, random data\n",
           net->arch->name, B, threads, threads > 1 ? "s" : "");
    printf("  %.1f images/s (mean over %d steps; median step %.1f ms = %.1f images/s); "
           "~%.1f GFLOPS at 3x forward MACs\n", B * steps / sum, steps, med * 1e3, B / med,
           6.0 * macs * B / med / 1e9);
    printf("RESULT %s fer_train_ips %.6g\n", net->arch->name, B * steps / sum);
    printf("  %-3s %-26s %10s %10s   (ms per step, mean of the last 5)\n", "#", "layer",
           "forward", "backward");
    double tf = 0, tb = 0;
    for (int i = 0; i < net->nlayers; i++) {
        char name[64];
        printf("  %-3d %-26s %10.3f %10.3f\n", i, layer_name(name, sizeof name, &net->layers[i]),
               prof[i] / 5 * 1e3, prof[net->nlayers + i] / 5 * 1e3);
        tf += prof[i] / 5;
        tb += prof[net->nlayers + i] / 5;
    }
    printf("  %-30s %10.3f %10.3f   (loss, zero-grad and SGD step: the rest of %.1f ms)\n",
           "total", tf * 1e3, tb * 1e3, med * 1e3);
    free(st);
    rc = 0;
out:
    fer_optim_free(opt);
    free(x), free(probs), free(dl), free(y), free(prof);
    return rc;
}

static int write_models(const opts *o)
{
    for (int i = 0; i < o->narchs; i++) {
        fer_model *m;
        if (make_model(&m, o->archs[i], NULL, 1, 0, o->seed) < 0)
            return 1;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.fermodel", o->write_dir, m->net->arch->name);
        fer_error err = {0};
        snprintf(m->meta.dataset, sizeof m->meta.dataset, "random weights (fer bench)");
        int rc = fer_model_save(m, path, &err);
        fer_model_free(m);
        if (rc < 0) {
            fprintf(stderr, "fer bench: %s\n", err.msg);
            return 1;
        }
        printf("%s\n", path);
    }
    return 0;
}

int fer_cmd_bench(int argc, char **argv)
{
    opts o = {.batch = 64, .steps = 30, .seed = 1};
    static const struct option options[] = {
        {"arch", required_argument, NULL, 'a'},   {"model", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 't'}, {"iters", required_argument, NULL, 'i'},
        {"steps", required_argument, NULL, 's'},  {"batch", required_argument, NULL, 'b'},
        {"fp16", no_argument, NULL, 'f'},         {"no-peak", no_argument, NULL, 'P'},
        {"seed", required_argument, NULL, 'S'},   {"write-models", required_argument, NULL, 'w'},
        {"no-winograd", no_argument, NULL, 'W'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hm:", options, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (o.narchs < MAX_NETS)
                o.archs[o.narchs++] = optarg;
            break;
        case 'm':
            if (o.nmodels < MAX_NETS)
                o.models[o.nmodels++] = optarg;
            break;
        case 't': o.threads = atoi(optarg); break;
        case 'i': o.iters = atoi(optarg); break;
        case 's': o.steps = atoi(optarg); break;
        case 'b': o.batch = atoi(optarg); break;
        case 'f': o.fp16 = 1; break;
        case 'W': o.no_wino = 1; break;
        case 'P': o.no_peak = 1; break;
        case 'S': o.seed = strtoull(optarg, NULL, 10); break;
        case 'w': o.write_dir = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return fer_cli_option_error("fer bench", c, options, argv);
        }
    }
    for (; optind < argc; optind++) {
        if (!strcmp(argv[optind], "train"))
            o.train = 1;
        else if (strcmp(argv[optind], "infer")) {
            fprintf(stderr, "fer bench: unknown mode '%s'\n", argv[optind]);
            return FER_EXIT_USAGE;
        }
    }
    if (o.threads < 0 || o.threads > 64 || o.iters < 0 || o.steps < 1 || o.batch < 1 ||
        o.batch > 4096) {
        fprintf(stderr, "fer bench: --threads 0..64, --iters >= 0, --steps >= 1, --batch 1..4096\n");
        return FER_EXIT_USAGE;
    }
    if (!o.narchs && !o.nmodels) {
        o.archs[o.narchs++] = "default";
        o.archs[o.narchs++] = "seed";
    }
    if (o.write_dir)
        return write_models(&o);

    print_load("start");
    print_machine();
    double peak = 0.0;
    if (!o.no_peak) {
        fer_model *first;
        if (make_model(&first, o.narchs ? o.archs[0] : NULL, o.narchs ? NULL : o.models[0], 1, 1,
                       o.seed) < 0)
            return 1;
        peak = bench_peak(first->net);
        fer_model_free(first);
    }
    int rc = 0;
    for (int i = 0; i < o.narchs + o.nmodels && rc == 0; i++) {
        const char *arch = i < o.narchs ? o.archs[i] : NULL;
        const char *model = i < o.narchs ? NULL : o.models[i - o.narchs];
        fer_model *m;
        if (make_model(&m, arch, model, o.train ? o.batch : 32, !o.train, o.seed) < 0)
            return 1;
        m->net->wino_off = o.no_wino;
        rc = o.train ? bench_train_net(m->net, &o) : bench_infer_net(m->net, &o, peak, 0);
        if (rc == 0 && !o.train && !o.no_wino)
            rc = bench_winograd(m->net, &o);
        if (rc == 0 && !o.train && o.fp16)
            rc = bench_f16(m->net, &o, peak);
        fer_model_free(m);
    }
    printf("\n");
    print_load("end");
    return rc ? 1 : 0;
}
