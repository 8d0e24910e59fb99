/*
 * fer.c — the offline tool: dispatches `fer SUBCOMMAND ...` to its command.
 * Exit status: 0 success, 1 failure of the work itself, 64 usage error (one line
 * on stderr, util/cli.h: the convention fer shares with ferd and ferctl).
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "util/cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"info", fer_cmd_info, "describe a .fermodel or architecture file: layers, shapes, parameters, MACs"},
    {"train", fer_cmd_train, "train a network on FER2013 (CSV, CSV.gz or image folders)"},
    {"eval", fer_cmd_eval, "evaluate a model: accuracy, per-class metrics, confusion matrix"},
    {"calibrate", fer_cmd_calibrate, "fit a model's probability temperature on PublicTest and store it"},
    {"classify", fer_cmd_classify, "find and classify the faces in images: one JSON line per image"},
    {"analyze", fer_cmd_analyze, "every frame of a video or image sequence: one record per face (JSON lines, CSV)"},
    {"bench", fer_cmd_bench, "time the engine: sgemm peak, latency, per-layer GFLOPS, training"},
    {"bench-pipeline", fer_bench_pipeline, "time the vision pipeline per frame against the origin's way"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: fer COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'fer COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    enum { NCMD = sizeof commands / sizeof commands[0] };
    if (argc < 2)
        return fer_cli_usage_error("fer", NULL, "no command given");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("fer %s\n", FER_VERSION);
        return 0;
    }
    const char *names[NCMD];
    for (size_t i = 0; i < NCMD; i++) {
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
        names[i] = commands[i].name;
    }
    if (argv[1][0] == '-') {
        /* Before the command only --help and --version are options: a slip of one
         * of them gets its did-you-mean, any other option belongs after a command. */
        static const char *const own[] = {"--help", "--version"};
        const char *hint = fer_cli_suggest(argv[1], own, 2);
        if (hint)
            return fer_cli_usage_error("fer", hint, "unknown option '%s'", argv[1]);
        return fer_cli_usage_error("fer", NULL, "unknown option '%s' (options follow the "
                                   "command)", argv[1]);
    }
    return fer_cli_usage_error("fer", fer_cli_suggest(argv[1], names, NCMD),
                               "unknown command '%s'", argv[1]);
}
