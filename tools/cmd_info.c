/*
 * cmd_info.c — `fer info FILE`: what a network is, layer by layer.
 *
 * FILE is a .fermodel (recognised by its magic, whatever its name) or an
 * architecture text. An architecture is only planned (fer_net_plan: shapes,
 * parameters and MACs, nothing allocated), so describing seed.arch costs
 * nothing; a model is fully loaded and validated, exactly as ferd would load it
 * (FER_LOAD_INFER), so `fer info` doubles as a model checker. Everything goes
 * to stdout; errors go to stderr as "fer info: <message>" with exit status 1,
 * usage errors exit 64.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "util/cli.h"
#include "net/model.h"
#include "util/paths.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: fer info FILE\n"
"\n"
"Describes a network: every layer with its output shape, parameters and\n"
"multiply-accumulates per image, then the totals. FILE is a .fermodel (detected\n"
"by its magic) or an architecture file (docs/ARCH_FORMAT.md); a bare name such as\n"
"'default' finds a shipped architecture. For a model, also prints its classes,\n"
"preprocessing, training metadata and file size, after checking the whole file.\n");
}

/* n with thousands separators: 42582023 -> "42,582,023". */
static const char *commas(char *buf, size_t cap, long long n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", n < 0 ? -n : n);
    size_t at = 0;
    if (n < 0 && at + 1 < cap)
        buf[at++] = '-';
    for (int i = 0; i < len && at + 1 < cap; i++) {
        buf[at++] = digits[i];
        if ((len - i - 1) % 3 == 0 && i != len - 1 && at + 1 < cap)
            buf[at++] = ',';
    }
    buf[at] = '\0';
    return buf;
}

/* "conv 3x3/1 p1 64" and friends. */
static void describe(char *buf, size_t cap, const fer_layer *l)
{
    const fer_layer_spec *s = &l->spec;
    switch (s->type) {
    case FER_LAYER_CONV:
        snprintf(buf, cap, "conv %dx%d/%d p%d %d%s", s->size, s->size, s->stride, s->pad,
                 s->filters, s->bias ? "" : " nobias");
        break;
    case FER_LAYER_MAXPOOL:
        snprintf(buf, cap, "maxpool %dx%d/%d", s->size, s->size, s->stride);
        break;
    case FER_LAYER_FC:
        snprintf(buf, cap, "fc %d", s->outputs);
        break;
    case FER_LAYER_DROPOUT:
        snprintf(buf, cap, "dropout %g", (double)s->p);
        break;
    case FER_LAYER_BN:
        snprintf(buf, cap, "bn%s", l->folded ? " (folded)" : "");
        break;
    default:
        snprintf(buf, cap, "%s", fer_layer_type_name(s->type));
        break;
    }
}

/* The layer table and the totals, for a built or merely planned net. */
static void print_layers(const fer_net *net)
{
    const fer_arch *a = net->arch;
    char desc[64], shape[48], p[32], m[32];
    int flat = 0;

    printf("  %3s  %-25s %-12s %12s %15s\n", "#", "layer", "output", "params", "MACs");
    snprintf(shape, sizeof shape, "%dx%dx%d", a->in_c, a->in_h, a->in_w);
    printf("  %3s  %-25s %s\n", "", "input", shape);
    long long params = 0, macs = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const fer_layer *l = &net->layers[i];
        fer_layer_type t = l->spec.type;
        if (t == FER_LAYER_FC || t == FER_LAYER_GAP)
            flat = 1;
        else if (t == FER_LAYER_CONV || t == FER_LAYER_MAXPOOL)
            flat = 0;
        describe(desc, sizeof desc, l);
        if (flat)
            snprintf(shape, sizeof shape, "%d", l->oc);
        else
            snprintf(shape, sizeof shape, "%dx%dx%d", l->oc, l->oh, l->ow);
        printf("  %3d  %-25s %-12s %12s %15s\n", i, desc, shape,
               l->nparams ? commas(p, sizeof p, (long long)l->nparams) : "-",
               l->macs ? commas(m, sizeof m, l->macs) : "-");
        params += (long long)l->nparams;
        macs += l->macs;
    }

    // Bytes of tensor data in a .fermodel: trainable parameters plus bn statistics.
    int n = fer_net_tensors(net, NULL, 0);
    fer_tensor_ref *refs = calloc((size_t)(n > 0 ? n : 1), sizeof *refs);
    long long bytes = 0;
    if (refs) {
        fer_net_tensors(net, refs, n);
        for (int j = 0; j < n; j++)
            bytes += (long long)refs[j].count * 4;
        free(refs);
    }
    printf("\n");
    printf("parameters     %s\n", commas(p, sizeof p, params));
    if (macs >= 1000000000LL)
        printf("MACs           %s per image (%.2f G)\n", commas(m, sizeof m, macs), macs / 1e9);
    else
        printf("MACs           %s per image (%.1f M)\n", commas(m, sizeof m, macs), macs / 1e6);
    printf("weight bytes   %s (%.1f MiB, float32)\n", commas(p, sizeof p, bytes),
           bytes / 1048576.0);
}

static int info_arch(const char *path)
{
    fer_error err = {0};
    fer_arch *a = NULL;
    fer_layer *plan = NULL;
    int status = 1;
    if (fer_arch_load(&a, path, &err) < 0) {
        fprintf(stderr, "fer info: %s\n", err.msg);
        return 1;
    }
    plan = calloc((size_t)a->nlayers, sizeof *plan);
    if (!plan) {
        fprintf(stderr, "fer info: out of memory\n");
        goto out;
    }
    if (fer_net_plan(plan, a, path, &err) < 0) {
        fprintf(stderr, "fer info: %s\n", err.msg);
        goto out;
    }
    printf("%s: architecture \"%s\", input %dx%dx%d, %d classes\n\n", path,
           a->name[0] ? a->name : "(unnamed)", a->in_c, a->in_h, a->in_w, a->nclasses);
    fer_net planned = {.arch = a, .nlayers = a->nlayers, .layers = plan};
    print_layers(&planned);
    if (a->classes[0][0]) {
        printf("classes        ");
        for (int i = 0; i < a->nclasses; i++)
            printf("%s%s", i ? ", " : "", a->classes[i]);
        printf("\n");
    }
    status = 0;

out:
    free(plan);
    fer_arch_free(a);
    return status;
}

/* The contrast step; for CLAHE also the per-bin clip count it amounts to on this input
 * (OpenCV's max(1, int(clip * tile pixels / 256))): on small faces a modest clip limit
 * is 1, which is worth seeing. */
static void print_contrast(const fer_contrast *c, int h, int w)
{
    printf("contrast       %s", fer_contrast_name(c->mode));
    if (c->mode == FER_CONTRAST_HISTEQ)
        printf(" (global histogram equalisation of the %dx%d face)", w, h);
    if (c->mode == FER_CONTRAST_CLAHE) {
        int ew = w % c->tiles || h % c->tiles ? w + c->tiles - w % c->tiles : w;
        int eh = w % c->tiles || h % c->tiles ? h + c->tiles - h % c->tiles : h;
        int total = (ew / c->tiles) * (eh / c->tiles);
        int limit = c->clip > 0.0f ? (int)((double)c->clip * total / 256) : 0;
        printf(" (clip limit %g, %dx%d tiles of %dx%d pixels", (double)c->clip, c->tiles,
               c->tiles, ew / c->tiles, eh / c->tiles);
        if (c->clip > 0.0f)
            printf(": at most %d per grey level in a tile)", limit < 1 ? 1 : limit);
        else
            printf(", no clipping)");
    }
    printf("\n");
}

static int info_model(const char *path)
{
    fer_error err = {0};
    fer_model *m = NULL;
    if (fer_model_load(&m, path, 1, FER_LOAD_INFER, &err) < 0) {
        fprintf(stderr, "fer info: %s\n", err.msg);
        return 1;
    }
    const fer_arch *a = m->net->arch;
    printf("%s: model \"%s\", input %dx%dx%d, %d classes\n\n", path,
           a->name[0] ? a->name : "(unnamed)", a->in_c, a->in_h, a->in_w, a->nclasses);
    print_layers(m->net);

    printf("classes        ");
    for (int i = 0; i < a->nclasses; i++)
        printf("%s%s", i ? ", " : "", a->classes[i]);
    printf("\n");
    const fer_preproc *p = &m->pre;
    printf("preprocess     margin %g, %s, %s, resize %s, input = (pixel/255 - %g) / %g\n",
           (double)p->margin, p->square ? "square" : "box-shaped",
           p->grey ? "grey" : "colour", p->resize, (double)p->mean, (double)p->std);
    print_contrast(&p->contrast, a->in_h, a->in_w);
    const fer_calibration *cal = &m->calib;
    if (cal->split[0] || (cal->temperature > 0.0f && cal->temperature != 1.0f)) {
        printf("calibration    temperature %g", (double)cal->temperature);
        if (cal->split[0])
            printf(", fitted on %s", cal->split);
        if (cal->nll_before >= 0.0f && cal->nll_after >= 0.0f)
            printf(": NLL %.4f -> %.4f", (double)cal->nll_before, (double)cal->nll_after);
        if (cal->ece_before >= 0.0f && cal->ece_after >= 0.0f)
            printf(", ECE %.4f -> %.4f", (double)cal->ece_before, (double)cal->ece_after);
        printf("\n");
    } else {
        printf("calibration    none (temperature 1)\n");
    }
    const fer_meta *t = &m->meta;
    if (t->dataset[0])
        printf("dataset        %s\n", t->dataset);
    if (t->created[0])
        printf("created        %s\n", t->created);
    if (t->command[0])
        printf("command        %s\n", t->command);
    if (t->epochs > 0)
        printf("epochs         %d\n", t->epochs);
    if (t->val_acc >= 0.0f)
        printf("val accuracy   %.2f%%\n", 100.0 * t->val_acc);
    if (t->test_acc >= 0.0f)
        printf("test accuracy  %.2f%%%s%s%s\n", 100.0 * t->test_acc, t->test_split[0] ? " (" : "",
               t->test_split, t->test_split[0] ? ")" : "");
    if (t->extra[0])
        printf("extra          %s\n", t->extra);
    struct stat st;
    char sz[32];
    if (stat(path, &st) == 0)
        printf("file size      %s bytes (%.1f MiB)\n", commas(sz, sizeof sz, (long long)st.st_size),
               st.st_size / 1048576.0);
    fer_model_free(m);
    return 0;
}

int fer_cmd_info(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        return fer_cli_option_error("fer info", c, opts, argv);
    }
    if (argc - optind != 1)
        return fer_cli_usage_error("fer info", NULL, "expected exactly one FILE, got %d",
                                   argc - optind);

    // A bare name ("default") that is not a file finds a shipped architecture.
    char path[4096];
    fer_find_arch(argv[optind], path, sizeof path);

    char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fer info: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    /* A file named .fermodel is read as a model even without the magic, so a
     * damaged model says "not a .fermodel file" rather than an arch syntax error. */
    size_t n = strlen(path);
    int named_model = n >= 9 && !strcmp(path + n - 9, ".fermodel");
    if ((got == sizeof magic && !memcmp(magic, FER_MODEL_MAGIC, sizeof magic)) || named_model)
        return info_model(path);
    return info_arch(path);
}
