/*
 * bench_fanout.c — ferd's fan-out and slow-client figures (issue 5, Measured
 * goals), measured against the real daemon.
 *
 *   bench_fanout --ferd BUILD/daemon/ferd --model M.fermodel [options]
 *
 * It writes a 640x480 clip at --fps (a face moving over a grey frame), starts
 * ferd on it with a socket in a temporary directory, waits for READY=1, and
 * runs two phases of --seconds each:
 *   1. one client watching every frame (the baseline);
 *   2. --clients clients watching every frame.
 * All clients live in this process, read with poll(), and time each RESULT
 * they read against its "ready_ns" (the monotonic time the inference thread
 * finished it, same clock, same host). Per frame, the latency to the LAST
 * client's read is kept; the report gives its p50/p99/max over the phase. The
 * daemon's CPU comes from /proc: the whole process and, separately, its loop
 * thread (the main thread: sockets, encoding, fan-out), in % of one core.
 *
 * --clip FILE plays FILE instead (e.g. samples/demo.avi, looping);
 * --soft-seconds N sets output_soft_seconds (0: a slow client is only dropped
 * frames, never disconnected, which keeps it at the limit for the whole run).
 *
 * --slow-minutes M adds a third phase: the clients keep watching while one
 * more client subscribes and never reads, for M minutes, sampling the
 * daemon's RSS every 10 s; the other clients' latency is reported as in
 * phase 2, so the two can be compared.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cv/image.h"
#include "cv/video_write.h"
#include "ferd_harness.h"
#include "util/clock.h"

#define MAXC 512
#define BUF (1 << 20)

static void die(const char *what)
{
    fprintf(stderr, "bench_fanout: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ---- the clip ---- */

static void make_clip(const char *path, const char *face_png, double fps)
{
    fer_error err = {0};
    fer_image face;
    if (fer_image_read(&face, face_png, 0, &err) < 0) {
        fprintf(stderr, "bench_fanout: %s\n", err.msg);
        exit(1);
    }
    fer_video_writer *v = NULL;
    if (fer_video_writer_open(&v, path, 640, 480, fps, 90, &err) < 0) {
        fprintf(stderr, "bench_fanout: %s\n", err.msg);
        exit(1);
    }
    for (int i = 0; i < 150; i++) {
        fer_image f;
        fer_image_alloc(&f, 640, 480, 3);
        memset(f.data, 110, (size_t)640 * 480 * 3);
        /* The face drifts right and back, always in view. */
        int x = 100 + (i < 75 ? i : 150 - i) * 3, y = 150;
        for (int r = 0; r < face.h; r++)
            for (int c = 0; c < face.w; c++)
                for (int k = 0; k < 3; k++)
                    f.data[((size_t)(y + r) * 640 + x + c) * 3 + k] =
                        face.data[((size_t)r * face.w + c) * face.channels +
                                  (face.channels == 3 ? k : 0)];
        fer_video_writer_write(v, &f, &err);
        fer_image_free(&f);
    }
    fer_video_writer_close(v, &err);
    fer_image_free(&face);
}

/* ---- the daemon ---- */

static pid_t ferd_pid;
static char dir[256];

/* ferd on conf through the tests' harness (tests/ferd_harness.h): it dies with
 * the benchmark, and READY=1 is waited for with a deadline. */
static fh_daemon ferd_d;

static pid_t start_ferd(const char *ferd, const char *conf)
{
    const char *args[] = {"--config", conf, NULL};
    fh_opts o = {.bin = ferd, .args = args, .listen_fd = -1, .wait = FH_WAIT_READY,
                 .timeout_ms = 30000};
    char msg[2048];
    if (fh_start(&ferd_d, dir, NULL, &o, msg, sizeof msg) < 0) {
        fprintf(stderr, "bench_fanout: %s\n", msg);
        exit(1);
    }
    return ferd_d.pid;
}

/* utime + stime in clock ticks of a /proc stat file. */
static long long cpu_ticks(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[2048];
    long long ut = 0, st = 0;
    if (fgets(line, sizeof line, f)) {
        char *p = strrchr(line, ')'); /* the command may contain spaces */
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &ut,
                        &st) != 2)
            ut = st = 0;
    }
    fclose(f);
    return ut + st;
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* ---- clients ---- */

typedef struct client {
    int fd;
    char *buf;
    size_t len;
    long long results;
    uint64_t last_seq;
    long long gaps;
} client;

static client clients[MAXC];
static int nclients;

static int connect_sock(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect");
    return fd;
}

static void add_client(const char *sock, const char *watch)
{
    client *c = &clients[nclients++];
    memset(c, 0, sizeof *c);
    c->fd = connect_sock(sock);
    c->buf = malloc(BUF);
    if (send(c->fd, watch, strlen(watch), MSG_NOSIGNAL) < 0)
        die("send");
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
}

/* Per-frame latency to the last client's read, indexed by seq modulo a window. */
#define WIN 4096
static uint64_t frame_seq[WIN];
static double frame_max_ms[WIN];
static int frame_reads[WIN];
static double samples[1 << 16];
static int nsamples;

static void frame_done(int slot)
{
    if (frame_seq[slot] && nsamples < (int)(sizeof samples / sizeof samples[0]))
        samples[nsamples++] = frame_max_ms[slot];
    frame_seq[slot] = 0;
}

static void record(uint64_t seq, double ms, int expected)
{
    int slot = (int)(seq % WIN);
    if (frame_seq[slot] != seq) {
        frame_done(slot);
        frame_seq[slot] = seq;
        frame_max_ms[slot] = 0;
        frame_reads[slot] = 0;
    }
    if (ms > frame_max_ms[slot])
        frame_max_ms[slot] = ms;
    if (++frame_reads[slot] == expected)
        frame_done(slot);
}

static void handle_lines(client *c, uint64_t now, int expected)
{
    size_t start = 0;
    for (size_t i = 0; i < c->len; i++) {
        if (c->buf[i] != '\n')
            continue;
        c->buf[i] = '\0';
        const char *l = c->buf + start;
        const char *r = strstr(l, "\"ready_ns\":");
        const char *s = strstr(l, "\"seq\":");
        if (r && s && strncmp(l, "{\"class\":\"RESULT\"", 17) == 0) {
            uint64_t ready = strtoull(r + 11, NULL, 10), seq = strtoull(s + 6, NULL, 10);
            c->results++;
            if (c->last_seq && seq != c->last_seq + 1)
                c->gaps++;
            c->last_seq = seq;
            record(seq, (double)(now - ready) * 1e-6, expected);
        }
        start = i + 1;
    }
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
}

/* Reads every client for secs seconds (clients [0, n) only; the rest never read). */
static void pump(int n, double secs, long *rss_max, int rss_every_s)
{
    struct pollfd pf[MAXC];
    uint64_t end = fer_mono_ns() + (uint64_t)(secs * 1e9), next_rss = fer_mono_ns();
    while (fer_mono_ns() < end) {
        for (int i = 0; i < n; i++)
            pf[i] = (struct pollfd){clients[i].fd, POLLIN, 0};
        if (poll(pf, (nfds_t)n, 100) < 0 && errno != EINTR)
            die("poll");
        for (int i = 0; i < n; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP)))
                continue;
            client *c = &clients[i];
            ssize_t r = recv(c->fd, c->buf + c->len, BUF - c->len, 0);
            uint64_t now = fer_mono_ns();
            if (r <= 0)
                continue;
            c->len += (size_t)r;
            handle_lines(c, now, n);
        }
        if (rss_max && fer_mono_ns() >= next_rss) {
            long kb = rss_kib(ferd_pid);
            if (kb > *rss_max)
                *rss_max = kb;
            printf("  t=%4.0fs rss=%ld KiB\n", secs - ((double)end - (double)fer_mono_ns()) * 1e-9, kb);
            fflush(stdout);
            next_rss += (uint64_t)rss_every_s * 1000000000ull;
        }
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double p)
{
    if (!nsamples)
        return NAN;
    int i = (int)ceil(p / 100.0 * nsamples) - 1;
    return samples[i < 0 ? 0 : i];
}

typedef struct phase_result {
    double p50, p99, max;
    int frames;
    double cpu_pct, loop_pct;
    long long results, gaps;
} phase_result;

static phase_result phase(int n, double secs, long *rss_max, int rss_every)
{
    char path[64], tpath[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)ferd_pid);
    snprintf(tpath, sizeof tpath, "/proc/%d/task/%d/stat", (int)ferd_pid, (int)ferd_pid);
    /* Warm up: let every client's first results arrive, then measure. */
    pump(n, 1.0, NULL, 0);
    memset(frame_seq, 0, sizeof frame_seq);
    nsamples = 0;
    for (int i = 0; i < n; i++)
        clients[i].results = clients[i].gaps = 0;
    long long c0 = cpu_ticks(path), l0 = cpu_ticks(tpath);
    uint64_t t0 = fer_mono_ns();
    pump(n, secs, rss_max, rss_every);
    double wall = (double)(fer_mono_ns() - t0) * 1e-9;
    long long c1 = cpu_ticks(path), l1 = cpu_ticks(tpath);
    double hz = (double)sysconf(_SC_CLK_TCK);
    phase_result pr;
    qsort(samples, (size_t)nsamples, sizeof samples[0], cmp_d);
    pr.p50 = pct(50);
    pr.p99 = pct(99);
    pr.max = nsamples ? samples[nsamples - 1] : NAN;
    pr.frames = nsamples;
    pr.cpu_pct = 100.0 * (double)(c1 - c0) / hz / wall;
    pr.loop_pct = 100.0 * (double)(l1 - l0) / hz / wall;
    pr.results = pr.gaps = 0;
    for (int i = 0; i < n; i++) {
        pr.results += clients[i].results;
        pr.gaps += clients[i].gaps;
    }
    return pr;
}

static void report(const char *name, int n, const phase_result *p)
{
    printf("%-28s clients=%-4d frames=%-5d last-read latency p50=%.3f ms p99=%.3f ms "
           "max=%.3f ms | ferd CPU %.1f%% (loop thread %.1f%%) | results=%lld seq-gaps=%lld\n",
           name, n, p->frames, p->p50, p->p99, p->max, p->cpu_pct, p->loop_pct, p->results,
           p->gaps);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *ferd = NULL, *model = NULL, *face = "tests/fixtures/face.png", *given = NULL;
    int n = 100, soft_seconds = 10;
    double secs = 30, fps = 30, slow_min = 0;
    static const struct option opts[] = {
        {"ferd", required_argument, NULL, 'f'}, {"model", required_argument, NULL, 'm'},
        {"face", required_argument, NULL, 'F'}, {"clients", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 's'}, {"fps", required_argument, NULL, 'r'},
        {"slow-minutes", required_argument, NULL, 'S'}, {"clip", required_argument, NULL, 'c'},
        {"soft-seconds", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f': ferd = optarg; break;
        case 'm': model = optarg; break;
        case 'F': face = optarg; break;
        case 'n': n = atoi(optarg); break;
        case 's': secs = atof(optarg); break;
        case 'r': fps = atof(optarg); break;
        case 'S': slow_min = atof(optarg); break;
        case 'c': given = optarg; break;
        case 'o': soft_seconds = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: bench_fanout --ferd FERD --model MODEL [--face PNG] "
                            "[--clients N] [--seconds S] [--fps F] [--slow-minutes M] [--clip FILE] "
                            "[--soft-seconds N]\n");
            return 2;
        }
    }
    if (!ferd || !model || n < 1 || n >= MAXC - 1) {
        fprintf(stderr, "bench_fanout: --ferd and --model are required; clients 1..%d\n",
                MAXC - 2);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/ferd-bench-XXXXXX");
    if (!mkdtemp(dir))
        die("mkdtemp");
    char clip[300], conf[300], sock[300], text[2048];
    snprintf(clip, sizeof clip, "%s/clip.avi", dir);
    snprintf(conf, sizeof conf, "%s/ferd.conf", dir);
    snprintf(sock, sizeof sock, "%s/ferd.sock", dir);
    if (given)
        snprintf(clip, sizeof clip, "%s", given);
    else
        make_clip(clip, face, fps);
    snprintf(text, sizeof text,
             "source %s\nmodel %s\nsocket %s\nmax_clients %d\nlog_level notice\n"
             "still_threshold 0\noutput_soft_seconds %d\n",
             clip, model, sock, n + 8, soft_seconds);
    FILE *f = fopen(conf, "w");
    if (!f)
        die(conf);
    fputs(text, f);
    fclose(f);
    ferd_pid = start_ferd(ferd, conf);
    printf("ferd pid %d, clip %s, %d s per phase, %ld KiB RSS at start\n", (int)ferd_pid,
           given ? given : "640x480 (generated)", (int)secs, rss_kib(ferd_pid));

    const char *watch = "{\"class\":\"WATCH\"}\n";
    add_client(sock, watch);
    phase_result base = phase(1, secs, NULL, 0);
    report("baseline (1 client)", 1, &base);
    for (int i = 1; i < n; i++)
        add_client(sock, watch);
    phase_result many = phase(n, secs, NULL, 0);
    report("fan-out", n, &many);
    printf("fan-out CPU (ferd with %d clients minus with 1): %.1f%% of a core "
           "(loop thread: %.1f%%)\n", n, many.cpu_pct - base.cpu_pct,
           many.loop_pct - base.loop_pct);

    if (slow_min > 0) {
        /* One more client subscribes and never reads a byte. */
        add_client(sock, watch);
        nclients = n + 1;
        long rss_max = 0;
        printf("slow client: %d readers + 1 never-reading client for %.0f min\n", n, slow_min);
        phase_result slow = phase(n, slow_min * 60, &rss_max, 10);
        report("with a never-reading client", n, &slow);
        printf("max RSS during the slow-client phase: %ld KiB\n", rss_max);
        /* What the daemon says about it. */
        int s = connect_sock(sock);
        send(s, "{\"class\":\"STATUS\"}\n", 19, MSG_NOSIGNAL);
        char buf[65536];
        size_t len = 0;
        uint64_t t0 = fer_mono_ns();
        while (fer_mono_ns() - t0 < 2000000000ull && len < sizeof buf - 1) {
            ssize_t r = recv(s, buf + len, sizeof buf - 1 - len, MSG_DONTWAIT);
            if (r > 0)
                len += (size_t)r;
            buf[len] = '\0';
            if (strstr(buf, "\"class\":\"STATUS\"") && buf[len - 1] == '\n')
                break;
            usleep(10000);
        }
        const char *st = strstr(buf, "{\"class\":\"STATUS\"");
        const char *cl = st ? strstr(st, "\"clients\":") : NULL;
        if (cl)
            printf("STATUS clients: %.*s\n", (int)(strchr(cl, '}') - cl + 1), cl);
        close(s);
    }
    int st = fh_stop(&ferd_d, 30000);
    printf("ferd exit status %d\n", st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_fanout: could not remove %s\n", dir);
    return 0;
}
