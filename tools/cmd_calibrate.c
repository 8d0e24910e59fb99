/*
 * cmd_calibrate.c — `fer calibrate`: fits a model's temperature on a held-out
 * split (PublicTest by default) and writes the model back, atomically, with
 * the temperature and the NLL and ECE before and after in its header
 * ("calibration", docs/MODEL_FORMAT.md). src/train/calibrate.c does the work.
 *
 * The fit always starts from the raw logits (T = 1), so calibrating an already
 * calibrated model replaces its temperature rather than compounding it. The
 * model is loaded unfolded (batch norm as trained) so that it can be written
 * back as it was, only its header changed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "util/cli.h"
#include "labels.h"
#include "data/dataset.h"
#include "net/net.h"
#include "train/calibrate.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: fer calibrate --model FILE --data PATH [--labels ferplus:FILE]\n"
"                     [--split SPLIT] [--out FILE] [--batch N] [--skip-bad]\n"
"\n"
"Fits the temperature T that makes the model's probabilities softmax(logits / T)\n"
"best match the labels of a held-out split (minimum negative log-likelihood;\n"
"accuracy does not change), and writes the model with T, the split and the NLL\n"
"and expected calibration error (ECE, 15 bins) before and after in its header.\n"
"Every path that reports probabilities (ferd, fer classify, fer eval) applies T.\n"
"  --labels ferplus:FILE  fit against the FER+ votes of FILE (as fer eval scores\n"
"                 them: a tied image's NLL is over all its top-voted classes)\n"
"  --split S      the split to fit on (PublicTest); never the one you report on\n"
"  --out FILE     write here instead of replacing --model (atomically either way)\n");
}

int fer_cmd_calibrate(int argc, char **argv)
{
    static const struct option options[] = {
        {"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
        {"split", required_argument, 0, 's'}, {"out", required_argument, 0, 'o'},
        {"batch", required_argument, 0, 'b'}, {"skip-bad", no_argument, 0, 'k'},
        {"labels", required_argument, 0, 'l'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *model_path = NULL, *data = NULL, *split_name = "PublicTest", *out = NULL,
               *labels = NULL;
    int batch = 64, skip_bad = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hm:o:", options, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'd': data = optarg; break;
        case 's': split_name = optarg; break;
        case 'o': out = optarg; break;
        case 'b': batch = atoi(optarg); break;
        case 'k': skip_bad = 1; break;
        case 'l': labels = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return fer_cli_option_error("fer calibrate", c, options, argv);
        }
    }
    if (!model_path || !data || optind < argc) {
        fprintf(stderr, "fer calibrate: %s (fer calibrate --help)\n",
                optind < argc ? "unexpected argument" : "--model and --data are required");
        return FER_EXIT_USAGE;
    }
    int split = fer_split_parse(split_name);
    if (split < 0 || batch < 1 || batch > 4096) {
        fprintf(stderr, "fer calibrate: %s\n", split < 0 ? "unknown split (Training, PublicTest, "
                "PrivateTest, train, val, test)" : "--batch must be in 1..4096");
        return FER_EXIT_USAGE;
    }
    fer_error err = {0};
    fer_model *m = NULL;
    if (fer_model_load(&m, model_path, batch, 0, &err) < 0) {
        fprintf(stderr, "fer calibrate: %s\n", err.msg);
        return 1;
    }
    fer_dataset *ds = NULL;
    fer_data_opts dopt = {1u << split, skip_bad, m->net->arch->in_h};
    int rc = 1;
    if (fer_dataset_load(&ds, data, &dopt, &err) < 0) {
        fprintf(stderr, "fer calibrate: %s\n", err.msg);
        goto out;
    }
    fer_ferplus_stats st = {0};
    if (labels && fer_tool_apply_labels(ds, labels, "fer calibrate", &st) < 0)
        goto out;
    fer_set_threads(1);
    const float old_t = m->calib.temperature > 0.0f ? m->calib.temperature : 1.0f;
    if (fer_calibrate_model(m, ds, split, split_name, &err) < 0) {
        fprintf(stderr, "fer calibrate: %s\n", err.msg);
        goto out;
    }
    const char *dest = out ? out : model_path;
    if (fer_model_save(m, dest, &err) < 0) {
        fprintf(stderr, "fer calibrate: %s\n", err.msg);
        goto out;
    }
    const fer_calibration *cal = &m->calib;
    printf("%s: temperature %.4f (was %g), fitted on %s\n", dest, (double)cal->temperature,
           (double)old_t, cal->split);
    printf("  NLL %.4f -> %.4f   ECE %.4f -> %.4f\n", (double)cal->nll_before,
           (double)cal->nll_after, (double)cal->ece_before, (double)cal->ece_after);
    rc = 0;
out:
    fer_dataset_free(ds);
    fer_model_free(m);
    return rc;
}
