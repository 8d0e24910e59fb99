/*
 * ferctl_cmds.c — the one-request subcommands (snapshot, status, reload) and
 * `ferctl view`, which runs the separate viewer program.
 *
 * Design. Each one-request command is: parse options, connect, one
 * fer_client_call, print the answer (--json: the daemon's line unchanged),
 * exit. The daemon answers a refused request with an ERROR, which becomes one
 * line on stderr and exit code 1.
 *
 * `ferctl view` needs a window, hence OpenCV's highgui, which neither ferctl
 * nor libferclient may link (a headless server has no business loading Qt).
 * The window lives in `ferctl-view`, a small program installed beside
 * ferctl; ferctl finds it next to its own executable first (so a build tree
 * runs its own viewer), then on PATH, runs it with the socket and the
 * remaining arguments, and passes its exit code through.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferctl.h"
#include "ferctl_format.h"
#include "ferctl_image.h"
#include "ferctl_png.h"
#include "util/cli.h"
#include "util/fileio.h"

/* Default time allowed for an answer: POLL may wait for a frame to be
 * processed, RELOAD for a model to load. */
#define FERCTL_ANSWER_MS 10000
#define FERCTL_RELOAD_MS 60000

/* Parses the options shared by the one-request commands; extra handles the
 * command's own (returns 1 if it took the option, -1 on a usage error). */
static int parse_simple(ferctl_common *co, int argc, char **argv, const char *cmd,
                        const char *shortopts, const struct option *opts,
                        int (*extra)(int opt, const char *arg, void *ctx), void *ctx,
                        void (*usage)(FILE *))
{
    int opt;
    char prog[64];
    snprintf(prog, sizeof prog, "ferctl %s", cmd);
    opterr = 0;
    while ((opt = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        int rc = ferctl_common_opt(co, opt, optarg, cmd);
        if (rc < 0)
            return FERCTL_USAGE;
        if (rc > 0)
            continue;
        if (opt == 'h') {
            usage(stdout);
            return -1;
        }
        rc = extra && opt != '?' && opt != ':' ? extra(opt, optarg, ctx) : 0;
        if (rc < 0)
            return FERCTL_USAGE;
        if (rc == 0)
            return fer_cli_option_error(prog, opt, opts, argv);
    }
    if (optind < argc)
        return fer_cli_extra_argument(prog, argv[optind]);
    return 0;
}

static void print_raw(const fer_client *c)
{
    size_t len;
    const char *line = fer_client_line(c, &len);
    fwrite(line, 1, len, stdout);
    fputc('\n', stdout);
}

/* ---- snapshot ---- */

typedef struct snapshot_opts {
    const char *output;
    int annotated;
} snapshot_opts;

static void snapshot_usage(FILE *f)
{
    fprintf(f,
            "usage: ferctl snapshot [OPTIONS]\n"
            "\n"
            "Prints the latest result: the frame, each face's label, probability, box and\n"
            "class scores. If no client is watching, ferd processes a frame for it.\n"
            "\n"
            "options:\n"
            "  -o, --output FILE  save the frame (ferd must allow images to you); the name\n"
            "                     says the format: .jpg, .jpeg or .png; '-' writes the JPEG\n"
            "                     to stdout (and nothing else)\n"
            "  --annotated        save it with boxes, labels and probabilities drawn\n"
            "  --json             the daemon's POLL object as one raw JSON line\n"
            "  --timeout S        wait at most S seconds for the answer (default 10)\n"
            "  --socket PATH      the daemon's socket\n"
            "  -h, --help         this text\n"
            "\n"
            "exit status: 0 done, 1 refused or file not written, 2 ferd not running,\n"
            "3 connection lost, 4 incompatible protocol, 5 timed out, 64 usage error\n");
}

static int snapshot_opt(int opt, const char *arg, void *ctx)
{
    snapshot_opts *o = ctx;
    if (opt == 'o') {
        o->output = arg;
        return 1;
    }
    if (opt == 'a') {
        o->annotated = 1;
        return 1;
    }
    return 0;
}

int ferctl_snapshot(ferctl_common *co, int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, FERCTL_OPT_SOCKET},
        {"json", no_argument, NULL, FERCTL_OPT_JSON},
        {"timeout", required_argument, NULL, FERCTL_OPT_TIMEOUT},
        {"output", required_argument, NULL, 'o'},
        {"annotated", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    snapshot_opts so = {NULL, 0};
    int rc = parse_simple(co, argc, argv, "snapshot", ":ho:S:", opts, snapshot_opt, &so,
                          snapshot_usage);
    if (rc)
        return rc < 0 ? FERCTL_OK : rc;
    if (so.annotated && !so.output)
        return fer_cli_usage_error("ferctl snapshot", NULL, "--annotated needs -o FILE");
    ferctl_image_format fmt = so.output ? ferctl_image_format_of(so.output) : FERCTL_IMAGE_JPEG;
    if (fmt == FERCTL_IMAGE_UNKNOWN)
        return fer_cli_usage_error("ferctl snapshot", NULL, "-o %s: name the file .jpg, .jpeg "
                                   "or .png (the name says the format), or '-' for stdout",
                                   so.output);
    if (fmt == FERCTL_IMAGE_PNG && !ferctl_png_built())
        return fer_cli_usage_error("ferctl snapshot", NULL, "-o %s: this ferctl was built "
                                   "without libjpeg and libpng (a client-only build), so it "
                                   "writes JPEG only: name the file .jpg", so.output);
    int to_stdout = so.output && strcmp(so.output, "-") == 0;
    if (to_stdout && co->json)
        return fer_cli_usage_error("ferctl snapshot", NULL, "-o - puts the picture on stdout: "
                                   "it cannot carry --json too");
    fer_client *c;
    if ((rc = ferctl_connect(co, &c, 0)) != 0)
        return rc;
    fer_image_kind kind = !so.output ? FER_IMAGE_NONE
                          : so.annotated ? FER_IMAGE_ANNOTATED
                                         : FER_IMAGE_JPEG;
    fer_message m;
    memset(&m, 0, sizeof m);
    fer_error err = {0};
    rc = fer_client_poll(c, kind, 1, ferctl_timeout_ms(co, FERCTL_ANSWER_MS), &m, &err);
    if (rc < 0) {
        rc = ferctl_fail("snapshot", rc, err.msg);
        goto out;
    }
    if (co->json)
        print_raw(c);
    else if (!to_stdout)
        ferctl_print_snapshot(stdout, &m.u.result);
    if (so.output) {
        if (m.image.kind == FER_IMAGE_NONE || !m.image.jpeg) {
            fprintf(stderr, "ferctl snapshot: ferd sent no image with the result\n");
            rc = FERCTL_FAIL;
            goto out;
        }
        /* A file atomically (temporary, fsync, rename, directory fsync), so a
         * reader never sees half a picture; in the format its name asks for. */
        fer_error werr = {0};
        if (ferctl_image_write(so.output, fmt, m.image.jpeg, m.image.len, &werr) < 0) {
            fprintf(stderr, "ferctl snapshot: %s\n", werr.msg);
            rc = FERCTL_FAIL;
            goto out;
        }
        if (!co->json && !to_stdout)
            printf("saved %s (%dx%d %s%s)\n", so.output, m.image.width, m.image.height,
                   m.image.kind == FER_IMAGE_ANNOTATED ? "annotated " : "",
                   fmt == FERCTL_IMAGE_PNG ? "PNG" : "JPEG");
    }
    rc = FERCTL_OK;
out:
    fer_message_clear(&m);
    fer_client_close(c);
    return rc;
}

/* ---- status ---- */

static void status_usage(FILE *f)
{
    fprintf(f,
            "usage: ferctl status [OPTIONS]\n"
            "\n"
            "Prints the daemon's state: its source and fps, the model and its accuracy, the\n"
            "clients, frames captured, processed and dropped, and the latency.\n"
            "\n"
            "options:\n"
            "  --json         the daemon's STATUS object as one raw JSON line\n"
            "  --timeout S    wait at most S seconds for the answer (default 10)\n"
            "  --socket PATH  the daemon's socket\n"
            "  -h, --help     this text\n"
            "\n"
            "exit status: 0 done, 1 refused, 2 ferd not running, 3 connection lost,\n"
            "4 incompatible protocol, 5 timed out, 64 usage error\n");
}

static const struct option plain_opts[] = {
    {"socket", required_argument, NULL, FERCTL_OPT_SOCKET},
    {"json", no_argument, NULL, FERCTL_OPT_JSON},
    {"timeout", required_argument, NULL, FERCTL_OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The body both status and reload share: one request, one answer, printed raw
 * (--json) or by `print`. */
typedef int (*request_fn)(fer_client *c, int timeout_ms, fer_message *m, fer_error *err);

static int ask_and_print(ferctl_common *co, const char *name, request_fn ask, int timeout_ms,
                         void (*print)(const fer_message *m))
{
    fer_client *c;
    int rc = ferctl_connect(co, &c, 0);
    if (rc != 0)
        return rc;
    fer_message m;
    memset(&m, 0, sizeof m);
    fer_error err = {0};
    rc = ask(c, ferctl_timeout_ms(co, timeout_ms), &m, &err);
    if (rc < 0) {
        rc = ferctl_fail(name, rc, err.msg);
    } else {
        if (co->json)
            print_raw(c);
        else
            print(&m);
        rc = FERCTL_OK;
    }
    fer_message_clear(&m);
    fer_client_close(c);
    return rc;
}

static void print_status(const fer_message *m)
{
    ferctl_print_status(stdout, m->status);
}

int ferctl_status(ferctl_common *co, int argc, char **argv)
{
    int rc = parse_simple(co, argc, argv, "status", ":hS:", plain_opts, NULL, NULL, status_usage);
    if (rc)
        return rc < 0 ? FERCTL_OK : rc;
    return ask_and_print(co, "status", fer_client_status, FERCTL_ANSWER_MS, print_status);
}

/* ---- reload ---- */

static void reload_usage(FILE *f)
{
    fprintf(f,
            "usage: ferctl reload [OPTIONS]\n"
            "\n"
            "Asks ferd to re-read its configuration and model (as SIGHUP does) and waits for\n"
            "the outcome. A model that fails to load leaves the old one serving; ferd says\n"
            "why and ferctl exits 1. Keys that only a restart applies are listed.\n"
            "\n"
            "options:\n"
            "  --json         the daemon's RELOAD object as one raw JSON line\n"
            "  --timeout S    wait at most S seconds for the outcome (default 60)\n"
            "  --socket PATH  the daemon's socket\n"
            "  -h, --help     this text\n"
            "\n"
            "exit status: 0 reloaded, 1 refused or failed, 2 ferd not running,\n"
            "3 connection lost, 4 incompatible protocol, 5 timed out, 64 usage error\n");
}

static void print_reload(const fer_message *m)
{
    ferctl_print_reload(stdout, &m->u.reload);
}

int ferctl_reload(ferctl_common *co, int argc, char **argv)
{
    int rc = parse_simple(co, argc, argv, "reload", ":hS:", plain_opts, NULL, NULL, reload_usage);
    if (rc)
        return rc < 0 ? FERCTL_OK : rc;
    return ask_and_print(co, "reload", fer_client_reload, FERCTL_RELOAD_MS, print_reload);
}

/* ---- view ---- */

/* The viewer beside our own executable, if there is one, into buf. */
static int viewer_beside_us(char *buf, size_t n)
{
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return 0;
    self[len] = '\0';
    int w = snprintf(buf, n, "%s/ferctl-view", dirname(self));
    return w > 0 && (size_t)w < n && access(buf, X_OK) == 0;
}

int ferctl_view(ferctl_common *co, int argc, char **argv)
{
    char beside[PATH_MAX];
    const char *prog = viewer_beside_us(beside, sizeof beside) ? beside : "ferctl-view";
    /* ferctl-view --socket PATH ARGS...: its own parser handles the rest,
     * including --help and a later --socket. */
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (!args) {
        fprintf(stderr, "ferctl view: out of memory\n");
        return FERCTL_FAIL;
    }
    int k = 0;
    args[k++] = (char *)"ferctl-view";
    args[k++] = (char *)"--socket";
    args[k++] = (char *)fer_client_socket_path(co->socket);
    for (int i = 1; i < argc; i++)
        args[k++] = argv[i];
    args[k] = NULL;

    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "ferctl view: fork: %s\n", strerror(errno));
        free(args);
        return FERCTL_FAIL;
    }
    if (pid == 0) {
        execvp(prog, args);
        int e = errno;
        fprintf(stderr,
                "ferctl view: cannot run ferctl-view (%s); it is installed with ferd's viewer, "
                "beside ferctl\n",
                strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    free(args);
    /* Ctrl-C reaches the viewer too (same process group); let it decide. */
    signal(SIGINT, SIG_IGN);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "ferctl view: waitpid: %s\n", strerror(errno));
            return FERCTL_FAIL;
        }
    }
    if (WIFEXITED(st)) {
        int code = WEXITSTATUS(st);
        return code == 126 || code == 127 ? FERCTL_FAIL : code;
    }
    fprintf(stderr, "ferctl view: the viewer died (signal %d: %s)\n", WTERMSIG(st),
            strsignal(WTERMSIG(st)));
    return FERCTL_FAIL;
}
