/*
 * cmd_eval.c — `fer eval`: a model on one split; tables on stdout, or one JSON
 * line with --json; --report DIR adds confusion.png, reliability.png,
 * confusion.csv, metrics.json.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "util/cli.h"
#include "labels.h"
#include "util/paths.h"
#include "train/evaluate.h"
#include "train/plots.h"
#include "util/fileio.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: fer eval --data PATH [--model FILE] [--split SPLIT] [--tta none|flip|crops]\n"
"                [--labels ferplus:FILE] [--report DIR] [--json] [--batch N] [--skip-bad]\n"
"\n"
"Evaluates a model on one split (default: the test split: PrivateTest for the\n"
"FER2013 CSV, test/ for an image folder): accuracy, per-class precision, recall\n"
"and F1, macro-F1, the negative log-likelihood (NLL) and expected calibration\n"
"error (ECE, 15 bins) of the model's probabilities (its calibration temperature\n"
"applied), and the confusion matrix (counts and row-normalised).\n"
"  --model FILE   default: $FER_MODEL, the installed model, models/default.fermodel\n"
"  --split S      Training|PublicTest|PrivateTest or train|val|test\n"
"  --tta MODE     test-time augmentation: none (default), flip, crops (10 views)\n"
"  --labels ferplus:FILE  score against the FER+ votes of FILE (fer2013new.csv[.gz]):\n"
"                 majority-vote accuracy, where a prediction is correct if it is ANY of\n"
"                 the top-voted classes of a tied image; the figure with tied images\n"
"                 left out is printed too. Images whose top vote is unknown or\n"
"                 not-a-face are dropped and counted\n"
"  --report DIR   write DIR/confusion.png, reliability.png, confusion.csv and\n"
"                 metrics.json\n"
"  --record       store the accuracy and what it was measured on (split, FER+\n"
"                 labels, TTA) in the model's header as meta.test_acc/test_split,\n"
"                 which ferd's STATUS and ferctl status show (rewrites it atomically)\n"
"  --json         print one single-line JSON object on stdout and nothing else:\n"
"                 accuracy, macro_f1, nll, ece, temperature, per_class, confusion\n");
}

/* Accuracy with the tied images (crowd votes) left out; the plain accuracy without votes. */
static double accuracy_without_ties(const fer_metrics *m, const fer_eval_result *r)
{
    long long n = m->total - r->ties;
    return n > 0 ? (double)(m->correct - r->ties_correct) / (double)n : 0.0;
}

static cJSON *metrics_json(const fer_metrics *m, const fer_eval_result *r, const fer_arch *a,
                           const char *model, const char *split, const char *tta,
                           const char *labels, const fer_ferplus_stats *st, float temperature)
{
    const fer_confusion *c = &r->conf;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "split", split);
    cJSON_AddStringToObject(o, "tta", tta);
    cJSON_AddNumberToObject(o, "images", (double)m->total);
    cJSON_AddNumberToObject(o, "accuracy", m->accuracy);
    if (labels) {
        int s = fer_split_parse(split);
        cJSON_AddStringToObject(o, "labels", labels);
        cJSON_AddStringToObject(o, "tie_rule", "correct if any of the tied top-voted classes");
        cJSON_AddNumberToObject(o, "ties", (double)r->ties);
        cJSON_AddNumberToObject(o, "accuracy_no_ties", accuracy_without_ties(m, r));
        cJSON_AddNumberToObject(o, "dropped_unknown", st->unknown[s]);
        cJSON_AddNumberToObject(o, "dropped_not_face", st->nf[s]);
    }
    cJSON_AddNumberToObject(o, "macro_f1", m->macro_f1);
    cJSON_AddNumberToObject(o, "nll", r->loss);
    cJSON_AddNumberToObject(o, "ece", r->ece);
    cJSON_AddNumberToObject(o, "temperature", temperature);
    cJSON_AddNumberToObject(o, "loss", r->loss); /* the NLL, under its earlier name */
    cJSON *classes = cJSON_AddArrayToObject(o, "classes");
    cJSON *per = cJSON_AddObjectToObject(o, "per_class");
    cJSON *cm = cJSON_AddArrayToObject(o, "confusion");
    for (int i = 0; i < m->nclasses; i++) {
        cJSON_AddItemToArray(classes, cJSON_CreateString(a->classes[i]));
        cJSON *pc = cJSON_AddObjectToObject(per, a->classes[i]);
        cJSON_AddNumberToObject(pc, "precision", m->precision[i]);
        cJSON_AddNumberToObject(pc, "recall", m->recall[i]);
        cJSON_AddNumberToObject(pc, "f1", m->f1[i]);
        cJSON_AddNumberToObject(pc, "support", (double)m->support[i]);
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; j < m->nclasses; j++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)c->m[i][j]));
        cJSON_AddItemToArray(cm, row);
    }
    return o;
}

static void print_tables(const fer_metrics *m, const fer_eval_result *r, const fer_arch *a,
                         const char *split, const char *tta, const char *labels,
                         float temperature)
{
    const fer_confusion *c = &r->conf;
    const int k = m->nclasses;
    printf("split %s, %lld images, TTA %s\n", split, m->total, tta);
    if (r->skipped)
        printf("(%lld images of classes the model does not have were skipped)\n", r->skipped);
    if (labels)
        printf("labels %s: majority vote; an image whose top vote several classes share\n"
               "(%lld here) counts as correct if the prediction is any of them\n", labels,
               r->ties);
    printf("accuracy  %.4f  (%.2f%%)\n", m->accuracy, 100.0 * m->accuracy);
    if (labels)
        printf("accuracy  %.4f  (%.2f%%) with the %lld tied images left out\n",
               accuracy_without_ties(m, r), 100.0 * accuracy_without_ties(m, r), r->ties);
    printf("macro-F1  %.4f\nNLL       %.4f\nECE       %.4f  (%d bins; temperature %g)\n\n",
           m->macro_f1, r->loss, r->ece, FER_RELIABILITY_BINS, (double)temperature);
    printf("%-10s %9s %9s %9s %8s\n", "class", "precision", "recall", "F1", "support");
    for (int i = 0; i < k; i++) {
        if (m->present[i])
            printf("%-10s %9.4f %9.4f %9.4f %8lld\n", a->classes[i], m->precision[i], m->recall[i],
                   m->f1[i], m->support[i]);
        else
            printf("%-10s %9.4f %9s %9s %8d\n", a->classes[i], m->precision[i], "-", "-", 0);
    }
    printf("\nconfusion matrix (rows: true, columns: predicted), counts\n%-10s", "");
    for (int j = 0; j < k; j++)
        printf(" %8.8s", a->classes[j]);
    printf("\n");
    for (int i = 0; i < k; i++) {
        printf("%-10s", a->classes[i]);
        for (int j = 0; j < k; j++)
            printf(" %8lld", c->m[i][j]);
        printf("\n");
    }
    printf("\nrow-normalised\n%-10s", "");
    for (int j = 0; j < k; j++)
        printf(" %8.8s", a->classes[j]);
    printf("\n");
    for (int i = 0; i < k; i++) {
        printf("%-10s", a->classes[i]);
        for (int j = 0; j < k; j++)
            printf(" %8.3f", m->support[i] ? (double)c->m[i][j] / (double)m->support[i] : 0.0);
        printf("\n");
    }
}

static int write_report(const char *dir, const fer_metrics *m, const fer_confusion *c,
                        const fer_reliability *rel, const fer_arch *a, const char *json,
                        const char *split, fer_error *err)
{
    char path[4096];
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return fer_fail(err, -errno, "%s: cannot create: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    size_t len = strlen(json);
    char *withnl = malloc(len + 2);
    if (!withnl)
        return fer_fail(err, -ENOMEM, "out of memory");
    memcpy(withnl, json, len);
    withnl[len++] = '\n';
    const void *bufs[] = {withnl};
    int rc = fer_write_atomic(path, bufs, &len, 1, err);
    free(withnl);
    if (rc < 0)
        return rc;
    char csv[8192];
    size_t n = (size_t)snprintf(csv, sizeof csv, "true\\predicted");
    for (int j = 0; j < m->nclasses; j++)
        n += (size_t)snprintf(csv + n, sizeof csv - n, ",%s", a->classes[j]);
    n += (size_t)snprintf(csv + n, sizeof csv - n, "\n");
    for (int i = 0; i < m->nclasses; i++) {
        n += (size_t)snprintf(csv + n, sizeof csv - n, "%s", a->classes[i]);
        for (int j = 0; j < m->nclasses; j++)
            n += (size_t)snprintf(csv + n, sizeof csv - n, ",%lld", c->m[i][j]);
        n += (size_t)snprintf(csv + n, sizeof csv - n, "\n");
    }
    snprintf(path, sizeof path, "%s/confusion.csv", dir);
    const void *cbufs[] = {csv};
    if ((rc = fer_write_atomic(path, cbufs, &n, 1, err)) < 0)
        return rc;
    char title[160];
    snprintf(title, sizeof title, "%s on %s: accuracy %.1f%%, macro-F1 %.3f", a->name, split,
             100.0 * m->accuracy, m->macro_f1);
    snprintf(path, sizeof path, "%s/confusion.png", dir);
    if ((rc = fer_plot_confusion(path, c, a->classes, title, err)) < 0)
        return rc;
    snprintf(title, sizeof title, "%s on %s: reliability", a->name, split);
    snprintf(path, sizeof path, "%s/reliability.png", dir);
    return fer_plot_reliability(path, rel, title, err);
}

/* --record: the model file again, unfolded so that it can be written back, with
 * meta.test_acc and meta.test_split ("PrivateTest", "PrivateTest FER+", "... flip")
 * set; written atomically, so a failure leaves the file as it was. */
static int record_accuracy(const char *path, double acc, const char *data, const char *split,
                           const char *labels, const char *tta, fer_error *err)
{
    fer_model *m = NULL;
    int rc = fer_model_load(&m, path, 1, 0, err);
    if (rc < 0)
        return rc;
    /* The split by the name its dataset gives it: the CSV's, or the folder's. */
    int s = fer_split_parse(split);
    size_t n = strlen(data);
    int csv = (n > 4 && !strcmp(data + n - 4, ".csv")) || (n > 7 && !strcmp(data + n - 7, ".csv.gz"));
    static const char *const csv_names[] = {"Training", "PublicTest", "PrivateTest"};
    static const char *const dir_names[] = {"train", "val", "test"};
    snprintf(m->meta.test_split, sizeof m->meta.test_split, "%s%s%s%s",
             s < 0 ? split : csv ? csv_names[s] : dir_names[s], labels ? " FER+" : "",
             strcmp(tta, "none") ? " " : "", strcmp(tta, "none") ? tta : "");
    m->meta.test_acc = (float)acc;
    rc = fer_model_save(m, path, err);
    fer_model_free(m);
    return rc;
}

int fer_cmd_eval(int argc, char **argv)
{
    static const struct option options[] = {
        {"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
        {"split", required_argument, 0, 's'}, {"tta", required_argument, 0, 't'},
        {"report", required_argument, 0, 'r'}, {"json", no_argument, 0, 'j'},
        {"batch", required_argument, 0, 'b'}, {"skip-bad", no_argument, 0, 'k'},
        {"labels", required_argument, 0, 'l'}, {"record", no_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *model_arg = NULL, *data = NULL, *split_name = "test", *tta_name = "none",
               *report = NULL, *labels = NULL;
    int json = 0, batch = 64, skip_bad = 0, record = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hm:", options, NULL)) != -1) {
        switch (c) {
        case 'm': model_arg = optarg; break;
        case 'd': data = optarg; break;
        case 's': split_name = optarg; break;
        case 't': tta_name = optarg; break;
        case 'r': report = optarg; break;
        case 'j': json = 1; break;
        case 'b': batch = atoi(optarg); break;
        case 'k': skip_bad = 1; break;
        case 'l': labels = optarg; break;
        case 'R': record = 1; break;
        case 'h': usage(stdout); return 0;
        default: return fer_cli_option_error("fer eval", c, options, argv);
        }
    }
    if (!data || optind < argc) {
        fprintf(stderr, "fer eval: %s (fer eval --help)\n",
                data ? "unexpected argument" : "--data is required");
        return FER_EXIT_USAGE;
    }
    int split = fer_split_parse(split_name);
    if (split < 0) {
        fprintf(stderr, "fer eval: unknown split '%s' (Training, PublicTest, PrivateTest, train, val, test)\n", split_name);
        return FER_EXIT_USAGE;
    }
    fer_tta tta = !strcmp(tta_name, "none") ? FER_TTA_NONE : !strcmp(tta_name, "flip") ? FER_TTA_FLIP
                : !strcmp(tta_name, "crops") ? FER_TTA_CROPS : (fer_tta)-1;
    if ((int)tta < 0 || batch < 1 || batch > 4096) {
        fprintf(stderr, "fer eval: bad %s\n", (int)tta < 0 ? "--tta (none, flip, crops)" : "--batch");
        return FER_EXIT_USAGE;
    }
    char model_path[4096];
    if (fer_find_model(model_arg, model_path, sizeof model_path) < 0) {
        fprintf(stderr, "fer eval: no model found (tried $FER_MODEL, %s); pass --model FILE\n", model_path);
        return 1;
    }
    fer_error err = {0};
    fer_model *m = NULL;
    if (fer_model_load(&m, model_path, batch, FER_LOAD_INFER, &err) < 0) {
        fprintf(stderr, "fer eval: %s\n", err.msg);
        return 1;
    }
    fer_dataset *ds = NULL;
    fer_data_opts dopt = {1u << split, skip_bad, m->net->arch->in_h};
    if (fer_dataset_load(&ds, data, &dopt, &err) < 0) {
        fprintf(stderr, "fer eval: %s\n", err.msg);
        fer_model_free(m);
        return 1;
    }
    int rc = 1;
    fer_ferplus_stats st = {0};
    if (labels && fer_tool_apply_labels(ds, labels, "fer eval", &st) < 0)
        goto out;
    fer_eval_result res;
    fer_set_threads(1);
    if (fer_evaluate(m, ds, split, tta, &res, &err) < 0) {
        fprintf(stderr, "fer eval: %s\n", err.msg);
        goto out;
    }
    fer_metrics met;
    fer_metrics_compute(&met, &res.conf);
    if (met.total == 0) {
        fprintf(stderr, "fer eval: %s has no images in split %s\n", data, split_name);
        goto out;
    }
    const float temp = m->calib.temperature > 0.0f ? m->calib.temperature : 1.0f;
    cJSON *o = metrics_json(&met, &res, m->net->arch, model_path, split_name, tta_name, labels, &st,
                            temp);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (json)
        printf("%s\n", line);
    else
        print_tables(&met, &res, m->net->arch, split_name, tta_name, labels, temp);
    if (report &&
        write_report(report, &met, &res.conf, &res.rel, m->net->arch, line, split_name, &err) < 0) {
        fprintf(stderr, "fer eval: %s\n", err.msg);
        free(line);
        goto out;
    }
    free(line);
    if (record && record_accuracy(model_path, met.accuracy, data, split_name, labels, tta_name,
                                  &err) < 0) {
        fprintf(stderr, "fer eval: %s\n", err.msg);
        goto out;
    }
    rc = 0;
out:
    fer_dataset_free(ds);
    fer_model_free(m);
    return rc;
}
