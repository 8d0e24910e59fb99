/*
 * cmd_train.c — `fer train`: option parsing, the terminal progress display and
 * the signal handling around fer_train_run (src/train/trainer.c does the work).
 *
 * SIGINT/SIGTERM only set a flag; the trainer notices it after the current batch,
 * writes a checkpoint and returns, so an interrupted run is resumed with --resume.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdline.h"
#include "commands.h"
#include "data/dataset.h"
#include "labels.h"
#include "net/model.h"
#include "util/paths.h"
#include "train/checkpoint.h"
#include "train/trainer.h"
#include "util/cli.h"
#include "util/fileio.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: fer train --data PATH --out DIR [options]\n"
"       fer train --resume --data PATH --out DIR\n"
"\n"
"Trains a network on FER2013 (fer2013.csv, fer2013.csv.gz or an image folder):\n"
"Training split for training, PublicTest (or val/) for validation and model\n"
"selection. Writes DIR/best.fermodel, last.fermodel, checkpoint.ferckpt,\n"
"history.csv and curves.png. Ctrl-C or SIGTERM checkpoints and exits.\n"
"\n"
"  -o, --out DIR        where the run goes; a DIR that holds a run is refused\n"
"                       unless --resume or --force\n"
"  --arch FILE|NAME     architecture (default: default = models/default.arch)\n"
"  --resume             continue DIR/checkpoint.ferckpt exactly (its settings win)\n"
"  --force              start a new run in a DIR that holds one (its files are\n"
"                       replaced as the new run writes them)\n"
"  --init MODEL         start from MODEL's weights (same architecture, or the same\n"
"                       below the classifier: classes are matched by name): fine-tuning\n"
"  --epochs N           (30)             --batch N (64)\n"
"  --seed N             (1)              --threads N (2) BLAS threads\n"
"  --opt sgd|adam|adamw (sgd)            --lr F peak/base rate (0.05)\n"
"  --momentum F         (0.9)            --no-nesterov\n"
"  --wd F               weight decay (5e-4)   --wd-all  also on biases and batch norm\n"
"  --sched onecycle|cosine|step|plateau|const (onecycle)\n"
"  --warmup E           cosine warm-up epochs (2)   --min-lr F cosine floor (0)\n"
"  --step-epochs N      step period (10)  --gamma F step factor (0.1)\n"
"  --patience N         plateau patience (3)  --factor F plateau factor (0.5)\n"
"  --labels ferplus:FILE  train on the FER+ votes of FILE (fer2013new.csv[.gz], row-\n"
"                       aligned with --data): 8 classes, so --arch ferplus; rows whose\n"
"                       top vote is unknown or not-a-face are dropped and counted\n"
"  --ferplus-target majority|dist  the top-voted class (a tie: equal shares of the\n"
"                       tied ones) or the distribution of the 8 emotions' votes (majority)\n"
"  --teacher A,B,...    knowledge distillation from these .fermodel files (any\n"
"                       architecture with the student's classes; up to 8): the loss\n"
"                       becomes (1-W) CE + W T^2 KL(teachers_T || student_T)\n"
"  --kd-temp T (4)      --kd-weight W (0.5)\n"
"  --kd-flip            average each teacher over the image and its mirror image\n"
"  --ema DECAY          validate and save an exponential moving average of the\n"
"                       weights (e.g. 0.999; warm-up min(DECAY, (1+t)/(10+t)) at step t)\n"
"  --mixup A            mixup with lambda ~ Beta(A, A) (0 = off; 0.2-0.4 usual)\n"
"  --cutmix A           CutMix likewise (with --mixup too: either, even odds)\n"
"  --mix-prob P         probability that a batch is mixed (1)\n"
"  --smoothing F        label smoothing (0.1)\n"
"  --class-balanced     weight the loss by inverse class frequency\n"
"  --no-augment         no augmentation at all\n"
"  --flip P (0.5)  --shift PX (4)  --rotate DEG (10)  --scale-min F (0.9)  --scale-max F (1.1)\n"
"  --brightness F (0.2) --contrast-jitter F (0.2) --erase P (0.5)\n"
"  --contrast none|histeq|clahe  the model's per-face contrast normalisation,\n"
"                       recorded in its header and applied on every path (none;\n"
"                       with --init: that model's)\n"
"  --clahe-clip F       CLAHE clip limit, OpenCV's clipLimit (2)\n"
"  --clahe-tiles N      CLAHE grid of N x N tiles (8)\n"
"  --max-train N        use only the first N training images (quick runs)\n"
"  --max-val N          likewise for validation\n"
"  --skip-bad           skip bad CSV rows / unreadable images, counting them\n"
"  --quiet              no progress display\n");
}

typedef struct progress_ctx {
    int tty, quiet;
} progress_ctx;

static void fmt_time(char *buf, size_t n, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

static void on_progress(void *vctx, const fer_train_progress *p)
{
    progress_ctx *ctx = vctx;
    char eta[32];
    fmt_time(eta, sizeof eta, p->eta_s);
    if (p->phase == 0) {
        if (ctx->quiet)
            return;
        if (ctx->tty) {
            int width = 24, fill = p->batches ? p->batch * width / p->batches : 0;
            char bar[32];
            for (int i = 0; i < width; i++)
                bar[i] = i < fill ? '#' : '.';
            bar[width] = 0;
            fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %d/%d  %.0f img/s  loss %.4f  acc %.2f%%  ETA %s",
                    p->epoch, p->epochs, bar, p->batch, p->batches, p->images_per_s, p->loss,
                    100.0 * p->acc, eta);
        } else if (p->batch % 100 == 0) {
            fprintf(stderr, "epoch %d/%d batch %d/%d %.0f img/s loss %.4f acc %.4f eta %s\n",
                    p->epoch, p->epochs, p->batch, p->batches, p->images_per_s, p->loss, p->acc,
                    eta);
        }
        return;
    }
    const fer_history_row *r = p->row;
    if (ctx->tty && !ctx->quiet)
        fprintf(stderr, "\r\033[K");
    printf("epoch %3d/%d  lr %.5f  train loss %.4f acc %.2f%%  val loss %.4f acc %.2f%%  %.0fs%s\n",
           r->epoch, p->epochs, (double)r->lr, (double)r->train_loss, 100.0 * r->train_acc,
           (double)r->val_loss, 100.0 * r->val_acc, (double)r->seconds, p->best ? "  *best" : "");
    fflush(stdout);
}

enum {
    O_ARCH = 256, O_RESUME, O_INIT, O_EPOCHS, O_BATCH, O_SEED, O_THREADS, O_OPT, O_LR, O_MOMENTUM,
    O_NO_NESTEROV, O_WD, O_WD_ALL, O_SCHED, O_WARMUP, O_MIN_LR, O_STEP_EPOCHS, O_GAMMA,
    O_PATIENCE, O_FACTOR, O_SMOOTHING, O_BALANCED, O_NO_AUG, O_FLIP, O_SHIFT, O_ROTATE,
    O_SCALE_MIN, O_SCALE_MAX, O_BRIGHT, O_CONTRAST, O_ERASE, O_MAX_TRAIN, O_MAX_VAL,
    O_SKIP_BAD, O_QUIET, O_DATA, O_OUT, O_HELP, O_CONTRAST_MODE, O_CLAHE_CLIP, O_CLAHE_TILES,
    O_LABELS, O_TARGET, O_TEACHER, O_KD_TEMP, O_KD_WEIGHT, O_KD_FLIP, O_EMA, O_MIXUP, O_CUTMIX, O_MIX_PROB,
    O_FORCE
};

static const struct option options[] = {
    {"data", required_argument, 0, O_DATA}, {"out", required_argument, 0, O_OUT},
    {"arch", required_argument, 0, O_ARCH}, {"resume", no_argument, 0, O_RESUME},
    {"force", no_argument, 0, O_FORCE},
    {"init", required_argument, 0, O_INIT},
    {"epochs", required_argument, 0, O_EPOCHS}, {"batch", required_argument, 0, O_BATCH},
    {"seed", required_argument, 0, O_SEED}, {"threads", required_argument, 0, O_THREADS},
    {"opt", required_argument, 0, O_OPT}, {"lr", required_argument, 0, O_LR},
    {"momentum", required_argument, 0, O_MOMENTUM}, {"no-nesterov", no_argument, 0, O_NO_NESTEROV},
    {"wd", required_argument, 0, O_WD}, {"wd-all", no_argument, 0, O_WD_ALL},
    {"sched", required_argument, 0, O_SCHED}, {"warmup", required_argument, 0, O_WARMUP},
    {"min-lr", required_argument, 0, O_MIN_LR}, {"step-epochs", required_argument, 0, O_STEP_EPOCHS},
    {"gamma", required_argument, 0, O_GAMMA}, {"patience", required_argument, 0, O_PATIENCE},
    {"factor", required_argument, 0, O_FACTOR}, {"smoothing", required_argument, 0, O_SMOOTHING},
    {"class-balanced", no_argument, 0, O_BALANCED}, {"no-augment", no_argument, 0, O_NO_AUG},
    {"flip", required_argument, 0, O_FLIP}, {"shift", required_argument, 0, O_SHIFT},
    {"rotate", required_argument, 0, O_ROTATE}, {"scale-min", required_argument, 0, O_SCALE_MIN},
    {"scale-max", required_argument, 0, O_SCALE_MAX}, {"brightness", required_argument, 0, O_BRIGHT},
    {"contrast-jitter", required_argument, 0, O_CONTRAST}, {"erase", required_argument, 0, O_ERASE},
    {"contrast", required_argument, 0, O_CONTRAST_MODE},
    {"clahe-clip", required_argument, 0, O_CLAHE_CLIP},
    {"clahe-tiles", required_argument, 0, O_CLAHE_TILES},
    {"max-train", required_argument, 0, O_MAX_TRAIN}, {"max-val", required_argument, 0, O_MAX_VAL},
    {"skip-bad", no_argument, 0, O_SKIP_BAD}, {"quiet", no_argument, 0, O_QUIET},
    {"labels", required_argument, 0, O_LABELS}, {"ferplus-target", required_argument, 0, O_TARGET},
    {"teacher", required_argument, 0, O_TEACHER}, {"kd-temp", required_argument, 0, O_KD_TEMP},
    {"kd-weight", required_argument, 0, O_KD_WEIGHT}, {"kd-flip", no_argument, 0, O_KD_FLIP},
    {"ema", required_argument, 0, O_EMA}, {"mixup", required_argument, 0, O_MIXUP},
    {"cutmix", required_argument, 0, O_CUTMIX}, {"mix-prob", required_argument, 0, O_MIX_PROB},
    {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0},
};

/* Appends the comma-separated .fermodel paths of list to cfg's teachers. */
static int add_teachers(fer_train_cfg *cfg, const char *list)
{
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= sizeof cfg->teachers[0]) {
            fprintf(stderr, "fer train: --teacher: '%s': %s\n", list,
                    len ? "a path is too long" : "an empty path");
            return -1;
        }
        if (cfg->nteachers == FER_MAX_TEACHERS) {
            fprintf(stderr, "fer train: --teacher: more than %d teachers\n", FER_MAX_TEACHERS);
            return -1;
        }
        snprintf(cfg->teachers[cfg->nteachers++], sizeof cfg->teachers[0], "%.*s", (int)len, p);
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* Strict number parsing: the whole argument must be a number in [lo, hi]. */
static int num_arg(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "fer train: --%s: '%s' is not a number in [%g, %g]\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* --init from a model for other classes: say which classes start untrained, before the
 * hours of training rather than after. The trainer itself checks the layers. */
static void note_new_classes(const char *init, const fer_arch *arch)
{
    fer_model *m = NULL;
    fer_error err = {0};
    if (fer_model_load(&m, init, 1, 0, &err) < 0)
        return; // the trainer reports it, with the same message
    const fer_arch *a = m->net->arch;
    char fresh[512] = "";
    size_t n = 0;
    for (int j = 0; j < arch->nclasses; j++) {
        int found = 0;
        for (int i = 0; i < a->nclasses && !found; i++)
            found = strcmp(arch->classes[j], a->classes[i]) == 0;
        if (!found && n < sizeof fresh)
            n += (size_t)snprintf(fresh + n, sizeof fresh - n, "%s%s", n ? ", " : "",
                                  arch->classes[j]);
    }
    if (a->nclasses != arch->nclasses || n)
        fprintf(stderr, "fer train: --init %s has %d classes, the architecture %d: its layers "
                "below the classifier and the classes they share are taken%s%s%s\n", init,
                a->nclasses, arch->nclasses, n ? "; untrained: " : "", fresh, n ? "" : "");
    fer_model_free(m);
}

/* The first file of a training run found in dir, or NULL. */
static const char *run_files_in(const char *dir)
{
    static const char *const names[] = {"checkpoint.ferckpt", "best.fermodel", "last.fermodel",
                                        "history.csv"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (access(path, F_OK) == 0)
            return names[i];
    }
    return NULL;
}

int fer_cmd_train(int argc, char **argv)
{
    fer_train_cfg cfg;
    fer_train_cfg_default(&cfg);
    const char *data = NULL, *out = NULL, *arch_name = "default", *labels = NULL;
    int resume = 0, force = 0, skip_bad = 0, quiet = 0, clahe_opts = 0, target_set = 0, kd_opts = 0, mix_prob_set = 0, c, idx;
    double v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:", options, &idx)) != -1) {
        const char *name = c >= 256 ? options[idx].name : "";
#define NUM(lo, hi) do { if (num_arg(name, optarg, lo, hi, &v) < 0) return FER_EXIT_USAGE; } while (0)
        switch (c) {
        case O_DATA: data = optarg; break;
        case 'o':
        case O_OUT: out = optarg; break;
        case O_ARCH: arch_name = optarg; break;
        case O_RESUME: resume = 1; break;
        case O_FORCE: force = 1; break;
        case O_INIT: snprintf(cfg.init, sizeof cfg.init, "%s", optarg); break;
        case O_EPOCHS: NUM(1, FER_MAX_EPOCHS); cfg.epochs = (int)v; break;
        case O_BATCH: NUM(2, 4096); cfg.batch = (int)v; break;
        case O_SEED: NUM(0, 1e15); cfg.seed = (uint64_t)v; break;
        case O_THREADS: NUM(1, 64); cfg.threads = (int)v; break;
        case O_OPT:
            if ((idx = fer_opt_kind_parse(optarg)) < 0) {
                fprintf(stderr, "fer train: --opt: unknown optimiser '%s' (sgd, adam, adamw)\n", optarg);
                return FER_EXIT_USAGE;
            }
            cfg.opt.kind = (fer_opt_kind)idx;
            break;
        case O_LR: NUM(1e-8, 10); cfg.sched.lr = (float)v; break;
        case O_MOMENTUM: NUM(0, 0.999); cfg.opt.momentum = (float)v; break;
        case O_NO_NESTEROV: cfg.opt.nesterov = 0; break;
        case O_WD: NUM(0, 1); cfg.opt.weight_decay = (float)v; break;
        case O_WD_ALL: cfg.opt.decay_all = 1; break;
        case O_SCHED:
            if ((idx = fer_sched_kind_parse(optarg)) < 0) {
                fprintf(stderr, "fer train: --sched: unknown schedule '%s' (onecycle, cosine, step, plateau, const)\n", optarg);
                return FER_EXIT_USAGE;
            }
            cfg.sched.kind = (fer_sched_kind)idx;
            break;
        case O_WARMUP: NUM(0, FER_MAX_EPOCHS); cfg.sched.warmup_epochs = (float)v; break;
        case O_MIN_LR: NUM(0, 10); cfg.sched.min_lr = (float)v; break;
        case O_STEP_EPOCHS: NUM(1, FER_MAX_EPOCHS); cfg.sched.step_epochs = (int)v; break;
        case O_GAMMA: NUM(0, 1); cfg.sched.gamma = (float)v; break;
        case O_PATIENCE: NUM(1, 1000); cfg.sched.patience = (int)v; break;
        case O_FACTOR: NUM(0, 1); cfg.sched.factor = (float)v; break;
        case O_SMOOTHING: NUM(0, 0.99); cfg.label_smoothing = (float)v; break;
        case O_BALANCED: cfg.class_balanced = 1; break;
        case O_NO_AUG: fer_augment_none(&cfg.aug); break;
        case O_FLIP: NUM(0, 1); cfg.aug.flip = (float)v; break;
        case O_SHIFT: NUM(0, 24); cfg.aug.shift = (float)v; break;
        case O_ROTATE: NUM(0, 180); cfg.aug.rotate = (float)v; break;
        case O_SCALE_MIN: NUM(0.1, 10); cfg.aug.scale_min = (float)v; break;
        case O_SCALE_MAX: NUM(0.1, 10); cfg.aug.scale_max = (float)v; break;
        case O_BRIGHT: NUM(0, 1); cfg.aug.brightness = (float)v; break;
        case O_CONTRAST: NUM(0, 1); cfg.aug.contrast = (float)v; break;
        case O_ERASE: NUM(0, 1); cfg.aug.erase = (float)v; break;
        case O_CONTRAST_MODE:
            if ((idx = fer_contrast_parse(optarg)) < 0) {
                fprintf(stderr, "fer train: --contrast: '%s' is not none, histeq or clahe (the "
                                "augmentation's contrast jitter is --contrast-jitter F)\n", optarg);
                return FER_EXIT_USAGE;
            }
            cfg.contrast.mode = idx;
            break;
        case O_CLAHE_CLIP: NUM(0, FER_CLAHE_MAX_CLIP); cfg.contrast.clip = (float)v; clahe_opts = 1; break;
        case O_CLAHE_TILES:
            NUM(1, FER_CLAHE_MAX_TILES);
            if (v != (int)v) {
                fprintf(stderr, "fer train: --clahe-tiles: '%s' is not a whole number\n", optarg);
                return FER_EXIT_USAGE;
            }
            cfg.contrast.tiles = (int)v;
            clahe_opts = 1;
            break;
        case O_MAX_TRAIN: NUM(0, 1e9); cfg.max_train = (int)v; break;
        case O_MAX_VAL: NUM(0, 1e9); cfg.max_val = (int)v; break;
        case O_SKIP_BAD: skip_bad = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_LABELS: labels = optarg; break;
        case O_TEACHER:
            if (add_teachers(&cfg, optarg) < 0)
                return FER_EXIT_USAGE;
            break;
        case O_KD_TEMP: NUM(0.05, 100); cfg.kd_temp = (float)v; kd_opts = 1; break;
        case O_KD_WEIGHT: NUM(0, 1); cfg.kd_weight = (float)v; kd_opts = 1; break;
        case O_KD_FLIP: cfg.kd_flip = 1; kd_opts = 1; break;
        case O_EMA: NUM(0, 0.999999); cfg.ema = 1; cfg.ema_decay = (float)v; break;
        case O_MIXUP: NUM(0, 100); cfg.mixup = (float)v; break;
        case O_CUTMIX: NUM(0, 100); cfg.cutmix = (float)v; break;
        case O_MIX_PROB: NUM(0, 1); cfg.mix_prob = (float)v; mix_prob_set = 1; break;
        case O_TARGET:
            if ((idx = fer_target_parse(optarg)) < 0) {
                fprintf(stderr, "fer train: --ferplus-target: '%s' is not majority or dist\n", optarg);
                return FER_EXIT_USAGE;
            }
            cfg.target = (fer_target)idx;
            target_set = 1;
            break;
        case 'h':
        case O_HELP: usage(stdout); return 0;
        default: return fer_cli_option_error("fer train", c, options, argv);
        }
#undef NUM
    }
    if (optind < argc)
        return fer_cli_extra_argument("fer train", argv[optind]);
    if (!data || !out)
        return fer_cli_usage_error("fer train", NULL, "--data and --out are required");
    if (resume && force)
        return fer_cli_usage_error("fer train", NULL, "--resume continues a run and --force "
                                   "replaces it: give one");
    /* A run is hours of work: a second one into the same folder must be meant. */
    const char *held = resume || force ? NULL : run_files_in(out);
    if (held) {
        fprintf(stderr, "fer train: %s already holds a training run (%s): continue it with "
                "--resume, start over with --force, or choose another --out\n", out, held);
        return 1;
    }
    if (clahe_opts && cfg.contrast.mode != FER_CONTRAST_CLAHE) {
        fprintf(stderr, "fer train: --clahe-clip and --clahe-tiles go with --contrast clahe\n");
        return FER_EXIT_USAGE;
    }
    if (cfg.aug.scale_min > cfg.aug.scale_max) {
        fprintf(stderr, "fer train: --scale-min is above --scale-max\n");
        return FER_EXIT_USAGE;
    }
    if (target_set && !labels && !resume) {
        fprintf(stderr, "fer train: --ferplus-target needs --labels ferplus:FILE\n");
        return FER_EXIT_USAGE;
    }
    if (labels)
        snprintf(cfg.labels, sizeof cfg.labels, "%s", labels);
    if (mix_prob_set && cfg.mixup <= 0.0f && cfg.cutmix <= 0.0f && !resume) {
        fprintf(stderr, "fer train: --mix-prob needs --mixup or --cutmix\n");
        return FER_EXIT_USAGE;
    }
    if (kd_opts && !cfg.nteachers && !resume) {
        fprintf(stderr, "fer train: --kd-temp, --kd-weight and --kd-flip need --teacher\n");
        return FER_EXIT_USAGE;
    }
    snprintf(cfg.data, sizeof cfg.data, "%s", data);
    fer_record_command(cfg.command, sizeof cfg.command, argc, argv);

    fer_error err = {0};
    fer_arch *arch = NULL;
    if (resume && !labels) {
        /* The checkpoint's settings win, its label source included: read it first. */
        fer_train_cfg saved;
        char path[4096];
        snprintf(path, sizeof path, "%s/checkpoint.ferckpt", out);
        if (fer_ckpt_peek(path, &saved, &err) < 0) {
            fprintf(stderr, "fer train: %s\n", err.msg);
            return 1;
        }
        if (saved.labels[0])
            snprintf(cfg.labels, sizeof cfg.labels, "%s", saved.labels);
    }
    if (!resume) {
        char path[4096];
        if (fer_find_arch(arch_name, path, sizeof path) < 0) {
            fprintf(stderr, "fer train: no architecture '%s' (a file, or a name under models/)\n", arch_name);
            return 1;
        }
        if (fer_arch_load(&arch, path, &err) < 0) {
            fprintf(stderr, "fer train: %s\n", err.msg);
            return 1;
        }
    }
    if (arch && cfg.init[0])
        note_new_classes(cfg.init, arch);
    fer_dataset *ds = NULL;
    fer_data_opts dopt = {(1u << FER_SPLIT_TRAIN) | (1u << FER_SPLIT_VAL), skip_bad, 48};
    if (arch)
        dopt.size = arch->in_h;
    if (fer_dataset_load(&ds, data, &dopt, &err) < 0) {
        fprintf(stderr, "fer train: %s\n", err.msg);
        fer_arch_free(arch);
        return 1;
    }
    if (ds->skipped)
        fprintf(stderr, "fer train: skipped %d bad rows or images\n", ds->skipped);
    if (cfg.labels[0]) {
        fer_ferplus_stats st;
        if (fer_tool_apply_labels(ds, cfg.labels, "fer train", &st) < 0) {
            fer_dataset_free(ds);
            fer_arch_free(arch);
            return 1;
        }
        cfg.labels_crc = st.crc;
    }

    /* A run killed mid-write (kill -9, power cut) leaves its temporary beside the
     * checkpoint; nothing else would ever remove it. */
    fer_error terr = {0};
    int stale = fer_remove_stale_temporaries(out, &terr);
    if (stale > 0)
        fprintf(stderr, "fer train: removed %d partial file%s left in %s by an interrupted run\n",
                stale, stale == 1 ? "" : "s", out);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    progress_ctx pctx = {isatty(STDERR_FILENO), quiet};
    fer_train_hooks hooks = {on_progress, &pctx, &stop_requested};
    int rc = fer_train_run(arch, &cfg, ds, out, &hooks, &err);
    fer_dataset_free(ds);
    if (pctx.tty && !quiet)
        fprintf(stderr, "\r\033[K");
    if (rc < 0) {
        fprintf(stderr, "fer train: %s\n", err.msg);
        return 1;
    }
    if (rc == 1) {
        fprintf(stderr, "fer train: stopped; checkpoint written to %s/checkpoint.ferckpt\n"
                        "resume with: fer train --resume --data %s --out %s\n", out, data, out);
        return 0;
    }
    fprintf(stderr, "fer train: done; best model %s/best.fermodel\n", out);
    return 0;
}
