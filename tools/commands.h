/*
 * commands.h — the subcommands of the offline `fer` tool. Each lives in its own
 * cmd_<name>.c, takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status.
 */
#ifndef FER_COMMANDS_H
#define FER_COMMANDS_H

int fer_cmd_info(int argc, char **argv);
int fer_cmd_train(int argc, char **argv);
int fer_cmd_eval(int argc, char **argv);
int fer_cmd_calibrate(int argc, char **argv);
int fer_cmd_classify(int argc, char **argv);
int fer_cmd_analyze(int argc, char **argv);
int fer_bench_pipeline(int argc, char **argv);
int fer_cmd_bench(int argc, char **argv);

#endif
