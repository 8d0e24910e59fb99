/*
 * ferctl_watch.c — `ferctl watch`: subscribe and print the stream.
 *
 * Design. One session is connect, WATCH, read until the count is reached,
 * the deadline passes or the connection ends. Human output is one line per
 * face per frame (ferctl_format.c); --json passes every line the daemon sends
 * through unchanged, VERSION and the WATCH acknowledgement included, exactly
 * as `gpspipe -w` does, so a script sees the same objects a library user does.
 *
 * A daemon that goes away ends the watch with exit code 3 and one line on
 * stderr. With --reconnect, ferctl instead says so once, retries with a
 * back-off of 0.5 s doubling to 5 s (also when the daemon is not running at
 * the start), subscribes again with the same options when it returns, and
 * keeps counting towards --count: a restart of ferd is a gap in the stream,
 * not the end of it. --timeout bounds the whole command, waiting included.
 *
 * A source that ends (a file played without loop: the daemon's END) ends the
 * watch normally: one line on stderr, exit 0, whatever --count still wanted.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferctl.h"
#include "ferctl_format.h"
#include "util/cli.h"
#include "util/clock.h"

static void watch_usage(FILE *f)
{
    fprintf(f,
            "usage: ferctl watch [OPTIONS]\n"
            "\n"
            "Streams ferd's results: one line per face per frame (time, frame, track id,\n"
            "label, probability, box), or with --json the daemon's objects as raw JSON lines\n"
            "(VERSION, WATCH, then RESULT or FACE ...) and nothing else on stdout.\n"
            "\n"
            "options:\n"
            "  --json           raw JSON lines, for pipes and scripts\n"
            "  --count N        stop after N results (N face events with --events)\n"
            "  --timeout S      stop after S seconds (an error only if --count is not reached)\n"
            "  --events         face events only: a track appears, its label changes, it ends\n"
            "  --min-prob P     leave out faces whose probability is below P (0..1)\n"
            "  --max-fps F      at most F results per second\n"
            "  --reconnect      when ferd is not running or goes away, wait for it and resume\n"
            "  -S, --socket PATH  the daemon's socket\n"
            "  -h, --help       this text\n"
            "\n"
            "exit status: 0 done (count reached, the source ended, or --timeout without\n"
            "--count),\n"
            "1 watch refused, 2 ferd not running, 3 connection lost, 4 incompatible protocol,\n"
            "5 --count not reached within --timeout, 64 usage error\n");
}

typedef struct watch_state {
    const ferctl_common *co;
    fer_watch want;
    long long count;        /* stop after this many (0: never) */
    long long seen;
    int reconnect;
    int64_t deadline;       /* monotonic ms; -1 none */
    int last_nfaces;
} watch_state;

/* Milliseconds left before the deadline (-1 none; at least 1 while it has not
 * passed, 0 once it has). */
static int left_ms(const watch_state *st)
{
    if (st->deadline < 0)
        return -1;
    int64_t l = st->deadline - fer_mono_ms();
    return l <= 0 ? 0 : l > INT32_MAX ? INT32_MAX : (int)l;
}

static void print_raw(const fer_client *c)
{
    size_t len;
    const char *line = fer_client_line(c, &len);
    fwrite(line, 1, len, stdout);
    fputc('\n', stdout);
}

/* What ended a session. */
enum { SESSION_DONE, SESSION_TIMEOUT, SESSION_LOST, SESSION_FATAL, SESSION_END };

/*
 * Subscribes on c and prints until done. On SESSION_LOST, *why holds the
 * reason; on SESSION_FATAL, *exit_code says how to exit (the message is
 * printed).
 */
static int session(watch_state *st, fer_client *c, char *why, size_t nwhy, int *exit_code)
{
    const ferctl_common *co = st->co;
    fer_error err = {0};
    if (co->json)
        print_raw(c); /* the greeting */
    fer_watch ack;
    int t = left_ms(st);
    if (t == 0)
        return SESSION_TIMEOUT;
    int rc = fer_client_watch(c, &st->want, &ack, t < 0 || t > 10000 ? 10000 : t, &err);
    if (rc == FER_CLIENT_E_REFUSED) {
        *exit_code = ferctl_fail("watch", rc, err.msg);
        return SESSION_FATAL;
    }
    if (rc == -ETIMEDOUT && left_ms(st) == 0)
        return SESSION_TIMEOUT;
    if (rc < 0) {
        snprintf(why, nwhy, "%s", err.msg);
        return SESSION_LOST;
    }
    if (co->json)
        print_raw(c);

    fer_message m;
    memset(&m, 0, sizeof m);
    int outcome;
    for (;;) {
        t = left_ms(st);
        if (t == 0) {
            outcome = SESSION_TIMEOUT;
            break;
        }
        rc = fer_client_read(c, t, &m, &err);
        if (rc == -ETIMEDOUT) {
            outcome = SESSION_TIMEOUT;
            break;
        }
        if (rc == FER_E_PROTO) {
            /* One bad line is the daemon's bug, not a reason to stop watching. */
            if (co->json)
                print_raw(c);
            fprintf(stderr, "ferctl watch: skipping a malformed line: %s\n", err.msg);
            continue;
        }
        if (rc < 0) {
            snprintf(why, nwhy, "%s", err.msg);
            outcome = SESSION_LOST;
            break;
        }
        if (co->json)
            print_raw(c);
        int counted = 0;
        switch (m.kind) {
        case FER_MSG_RESULT:
            if (!st->want.events) {
                counted = 1;
                if (!co->json)
                    ferctl_print_result(stdout, &m.u.result, &st->last_nfaces);
            }
            break;
        case FER_MSG_FACE:
            if (st->want.events) {
                counted = 1;
                if (!co->json)
                    ferctl_print_face_event(stdout, &m.u.face);
            }
            break;
        case FER_MSG_ERROR:
            fprintf(stderr, "ferctl watch: ferd says: %s\n", m.u.error.message);
            break;
        case FER_MSG_SHUTDOWN:
            /* Said once, when the connection then closes: the library puts
             * the daemon's message into that error. */
            break;
        case FER_MSG_END:
            /* The source is a file that played to its end: nothing more will
             * come, and that is the normal end of this watch. */
            if (m.u.end.frames >= 0)
                fprintf(stderr, "ferctl watch: the source ended (%s) after %lld frames\n",
                        m.u.end.message[0] ? m.u.end.message : m.u.end.source, m.u.end.frames);
            else
                fprintf(stderr, "ferctl watch: the source ended (%s)\n",
                        m.u.end.message[0] ? m.u.end.message : m.u.end.source);
            fer_message_clear(&m);
            return SESSION_END;
        default:
            break;
        }
        if (counted && st->count > 0 && ++st->seen >= st->count) {
            outcome = SESSION_DONE;
            break;
        }
    }
    fer_message_clear(&m);
    return outcome;
}

/* Sleeps ms, but not past the deadline. */
static void nap(const watch_state *st, int ms)
{
    int t = left_ms(st);
    if (t >= 0 && t < ms)
        ms = t;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int ferctl_watch(ferctl_common *co, int argc, char **argv)
{
    enum { O_COUNT = 2000, O_EVENTS, O_MINPROB, O_MAXFPS, O_RECONNECT };
    static const struct option opts[] = {
        {"socket", required_argument, NULL, FERCTL_OPT_SOCKET},
        {"json", no_argument, NULL, FERCTL_OPT_JSON},
        {"timeout", required_argument, NULL, FERCTL_OPT_TIMEOUT},
        {"count", required_argument, NULL, O_COUNT},
        {"events", no_argument, NULL, O_EVENTS},
        {"min-prob", required_argument, NULL, O_MINPROB},
        {"max-fps", required_argument, NULL, O_MAXFPS},
        {"reconnect", no_argument, NULL, O_RECONNECT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    watch_state st;
    memset(&st, 0, sizeof st);
    st.co = co;
    st.last_nfaces = -1;
    fer_watch_default(&st.want);
    int opt;
    double v;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":hS:", opts, NULL)) != -1) {
        int rc = ferctl_common_opt(co, opt, optarg, "watch");
        if (rc < 0)
            return FERCTL_USAGE;
        if (rc > 0)
            continue;
        switch (opt) {
        case O_COUNT:
            if (ferctl_parse_double(optarg, 1, 1e15, "watch", "--count", &v) < 0)
                return FERCTL_USAGE;
            st.count = (long long)v;
            break;
        case O_EVENTS:
            st.want.events = 1;
            break;
        case O_MINPROB:
            if (ferctl_parse_double(optarg, 0, 1, "watch", "--min-prob", &st.want.min_prob) < 0)
                return FERCTL_USAGE;
            break;
        case O_MAXFPS:
            if (ferctl_parse_double(optarg, 0.001, FER_PROTO_MAX_FPS, "watch", "--max-fps",
                                    &st.want.max_fps) < 0)
                return FERCTL_USAGE;
            break;
        case O_RECONNECT:
            st.reconnect = 1;
            break;
        case 'h':
            watch_usage(stdout);
            return FERCTL_OK;
        default:
            return fer_cli_option_error("ferctl watch", opt, opts, argv);
        }
    }
    if (optind < argc)
        return fer_cli_extra_argument("ferctl watch", argv[optind]);
    /* People read labels, not score tables; --json passes the daemon's default. */
    st.want.scores = co->json ? 1 : 0;
    st.deadline = co->timeout < 0 ? -1 : fer_mono_ms() + ferctl_timeout_ms(co, 0);

    const char *path = fer_client_socket_path(co->socket);
    int backoff = 500, waiting = 0, lost = 0;
    for (;;) {
        fer_client *c = NULL;
        int rc = ferctl_connect(co, &c, st.reconnect);
        if (rc == FERCTL_NODAEMON && st.reconnect) {
            if (!waiting && !lost)
                fprintf(stderr, "ferctl watch: ferd is not running at %s; waiting for it\n",
                        path);
            waiting = 1;
            if (left_ms(&st) == 0)
                goto timeout;
            nap(&st, backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
            continue;
        }
        if (rc != 0)
            return rc;
        if (lost)
            fprintf(stderr, "ferctl watch: reconnected to ferd at %s\n", path);
        waiting = lost = 0;
        backoff = 500;
        char why[600] = "";
        int exit_code = FERCTL_FAIL;
        int outcome = session(&st, c, why, sizeof why, &exit_code);
        fer_client_close(c);
        switch (outcome) {
        case SESSION_DONE:
        case SESSION_END:
            return FERCTL_OK;
        case SESSION_TIMEOUT:
            goto timeout;
        case SESSION_FATAL:
            return exit_code;
        default:
            break;
        }
        if (!st.reconnect) {
            fprintf(stderr, "ferctl watch: lost ferd: %s\n", why);
            return FERCTL_LOST;
        }
        fprintf(stderr, "ferctl watch: lost ferd: %s; reconnecting\n", why);
        lost = 1;
        nap(&st, backoff);
    }
timeout:
    if (st.count > 0) {
        fprintf(stderr, "ferctl watch: timed out after %g s with %lld of %lld %s\n", co->timeout,
                st.seen, st.count, st.want.events ? "events" : "results");
        return FERCTL_TIMEOUT;
    }
    return FERCTL_OK;
}
