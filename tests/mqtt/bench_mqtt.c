/*
 * bench_mqtt.c — what ferd-mqtt adds (issue 15, Benchmark): the latency from
 * ferd's result to an MQTT subscriber's receipt, against a client reading
 * ferd's socket directly in the same run, and the bridge's CPU.
 *
 *   bench_mqtt --ferd BIN --bridge BIN --model M --clip FILE [--seconds S]
 *              [--results] [--warmup S] [--broker-nodelay]
 *
 * It starts a mosquitto on a free loopback port, ferd playing FILE (looping,
 * at the clip's own rate) and ferd-mqtt between them (tests/ferd_harness.h:
 * all three die with the benchmark), then, in this process:
 *   - the reference: two libferclient clients on ferd's socket, one watching
 *     every RESULT (as the bridge's results connection does) and one watching
 *     FACE events (as its events connection does);
 *   - the subscriber: a libmosquitto client (its own network thread) on
 *     ferd/bench/#, timestamping each message as it arrives.
 * Each RESULT carries ready_ns, the monotonic time ferd's inference finished
 * it (same clock, same host): receipt minus ready_ns is the latency of a path.
 * The same frame (seq) or event (seq, track, kind) reaching both paths gives
 * the paired difference, the latency the bridge adds over reading ferd
 * directly: ferd-mqtt's read, its message, the broker, the subscriber.
 * With --results the bridge publishes every RESULT (results yes,
 * results_max_rate 0); without, it runs its defaults (events, state, status)
 * and only events are paired. The bridge's CPU is utime+stime of its process
 * (/proc/PID/stat) over the measured seconds, in % of one core; mosquitto's
 * is reported beside it. --broker-nodelay sets mosquitto's set_tcp_nodelay
 * (off by default in mosquitto: Nagle's algorithm on its sockets to
 * subscribers).
 *
 * Output: one "RESULT key value" line per figure (for tools/bench-mqtt.sh)
 * and a readable summary.
 */
#include <errno.h>
#include <getopt.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferclient.h"
#include "ferd_harness.h"
#include "util/clock.h"

#define MAX_SAMPLES (1 << 17)

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "bench_mqtt: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

/* ---- samples keyed by frame ---- */

typedef struct stamp {
    uint64_t key;      /* seq, or seq<<8 | kind for events, with the track id mixed in */
    uint64_t t_ns;     /* receipt */
    uint64_t ready_ns; /* RESULT: ferd's ready time; 0 for events */
} stamp;

typedef struct stamps {
    stamp *v;
    int n;
    pthread_mutex_t lock;
} stamps;

static void stamps_add(stamps *s, uint64_t key, uint64_t t, uint64_t ready)
{
    pthread_mutex_lock(&s->lock);
    if (s->n < MAX_SAMPLES)
        s->v[s->n++] = (stamp){key, t, ready};
    pthread_mutex_unlock(&s->lock);
}

static stamps direct_res, direct_ev, mqtt_res, mqtt_ev;
static volatile int measuring;
static unsigned long long mqtt_msgs, mqtt_states;

static uint64_t event_key(uint64_t seq, int id, int kind)
{
    return (seq << 16) ^ ((uint64_t)(id & 0xfff) << 4) ^ (uint64_t)kind;
}

/* ---- the subscriber ---- */

/* A number after "key": in a JSON text, without a full parse (the subscriber
 * must not be the slow part). */
static int json_u64(const char *text, int len, const char *key, uint64_t *v)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = memmem(text, (size_t)len, pat, strlen(pat));
    if (!p)
        return -1;
    *v = strtoull(p + strlen(pat), NULL, 10);
    return 0;
}

static int json_str(const char *text, int len, const char *key, char *out, size_t n)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = memmem(text, (size_t)len, pat, strlen(pat));
    if (!p)
        return -1;
    p += strlen(pat);
    size_t i = 0;
    while (p[i] && p[i] != '"' && i + 1 < n) {
        out[i] = p[i];
        i++;
    }
    out[i] = '\0';
    return 0;
}

static int kind_of(const char *event)
{
    return strcmp(event, "appeared") == 0 ? 1 : strcmp(event, "changed") == 0 ? 2 : 3;
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    uint64_t t = fer_mono_ns();
    if (!measuring)
        return;
    mqtt_msgs++;
    const char *p = msg->payload;
    int len = msg->payloadlen;
    const char *leaf = strrchr(msg->topic, '/');
    if (!leaf)
        return;
    uint64_t seq = 0, ready = 0, id = 0;
    if (strcmp(leaf, "/results") == 0) {
        if (json_u64(p, len, "seq", &seq) == 0 && json_u64(p, len, "ready_ns", &ready) == 0)
            stamps_add(&mqtt_res, seq, t, ready);
    } else if (strcmp(leaf, "/events") == 0) {
        char ev[16] = "";
        /* The first "id" is the event's own (it precedes before/after). */
        if (json_u64(p, len, "seq", &seq) == 0 && json_u64(p, len, "id", &id) == 0 &&
            json_str(p, len, "event", ev, sizeof ev) == 0)
            stamps_add(&mqtt_ev, event_key(seq, (int)id, kind_of(ev)), t, 0);
    } else if (strcmp(leaf, "/state") == 0) {
        mqtt_states++;
    }
}

static int connected;
static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    if (rc == 0) {
        mosquitto_subscribe(m, NULL, "ferd/bench/#", 0);
        connected = 1;
    }
}

/* ---- processes ---- */

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &l) < 0)
        die("free port: %s", strerror(errno));
    close(s);
    return ntohs(a.sin_port);
}

static int port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

/* utime + stime of a process in clock ticks. */
static long long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    /* After "pid (comm)": state is field 3; utime and stime are 14 and 15. */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* ---- the reference clients ---- */

static fer_client *open_watch(const char *sock, int events)
{
    fer_client *c = NULL;
    fer_error err = {0};
    if (fer_client_open(&c, sock, 5000, &err) < 0)
        die("%s", err.msg);
    fer_watch w;
    fer_watch_default(&w);
    w.events = events;
    if (fer_client_watch(c, &w, NULL, 5000, &err) < 0)
        die("%s", err.msg);
    return c;
}

static void read_direct(fer_client *c, fer_message *m)
{
    fer_error err = {0};
    for (;;) {
        int rc = fer_client_read(c, 0, m, &err);
        if (rc == -EAGAIN)
            return;
        if (rc == FER_E_PROTO)
            continue;
        if (rc < 0)
            die("ferd went away: %s", err.msg);
        uint64_t t = fer_mono_ns();
        if (!measuring)
            continue;
        if (m->kind == FER_MSG_RESULT)
            stamps_add(&direct_res, m->u.result.seq, t, m->ready_ns);
        else if (m->kind == FER_MSG_FACE)
            stamps_add(&direct_ev, event_key(m->u.face.seq, m->u.face.id, (int)m->u.face.event),
                       t, 0);
    }
}

/* ---- statistics ---- */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct dist {
    int n;
    double p50, p99, max;
} dist;

static dist summarize(double *v, int n)
{
    dist d = {n, 0, 0, 0};
    if (n == 0)
        return d;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    d.p50 = v[(n - 1) / 2];
    d.p99 = v[(int)((n - 1) * 0.99)];
    d.max = v[n - 1];
    return d;
}

static double *vals;

/* Receipt minus ferd's ready time over one path's RESULTs. */
static dist path_latency(const stamps *s)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        if (s->v[i].ready_ns)
            vals[n++] = (double)(int64_t)(s->v[i].t_ns - s->v[i].ready_ns) / 1e6;
    return summarize(vals, n);
}

static int cmp_stamp(const void *a, const void *b)
{
    uint64_t x = ((const stamp *)a)->key, y = ((const stamp *)b)->key;
    return x < y ? -1 : x > y;
}

/* The bridge path minus the direct path, over keys both saw; *missed counts
 * keys the direct client saw and the subscriber never did. */
static dist paired(stamps *direct, stamps *bridge, int *missed)
{
    qsort(bridge->v, (size_t)bridge->n, sizeof *bridge->v, cmp_stamp);
    int n = 0;
    *missed = 0;
    for (int i = 0; i < direct->n; i++) {
        stamp key = {direct->v[i].key, 0, 0};
        stamp *b = bsearch(&key, bridge->v, (size_t)bridge->n, sizeof key, cmp_stamp);
        if (b)
            vals[n++] = (double)(int64_t)(b->t_ns - direct->v[i].t_ns) / 1e6;
        else
            (*missed)++;
    }
    return summarize(vals, n);
}

static void print_dist(const char *name, dist d)
{
    printf("RESULT %s_n %d\nRESULT %s_p50_ms %.3f\nRESULT %s_p99_ms %.3f\nRESULT %s_max_ms %.3f\n",
           name, d.n, name, d.p50, name, d.p99, name, d.max);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ferd", required_argument, NULL, 'f'},   {"bridge", required_argument, NULL, 'b'},
        {"model", required_argument, NULL, 'm'},  {"clip", required_argument, NULL, 'c'},
        {"seconds", required_argument, NULL, 's'}, {"warmup", required_argument, NULL, 'w'},
        {"results", no_argument, NULL, 'r'},      {"broker-nodelay", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *ferd = NULL, *bridge = NULL, *model = NULL, *clip = NULL;
    double seconds = 60, warmup = 5;
    int results = 0, nodelay = 0, c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f': ferd = optarg; break;
        case 'b': bridge = optarg; break;
        case 'm': model = optarg; break;
        case 'c': clip = optarg; break;
        case 's': seconds = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        case 'r': results = 1; break;
        case 'n': nodelay = 1; break;
        default:
            fprintf(stderr, "usage: bench_mqtt --ferd BIN --bridge BIN --model M --clip FILE "
                            "[--seconds S] [--warmup S] [--results] [--broker-nodelay]\n");
            return 2;
        }
    }
    if (!ferd || !bridge || !model || !clip)
        die("%s", "--ferd, --bridge, --model and --clip are needed");
    signal(SIGPIPE, SIG_IGN);
    vals = malloc(sizeof *vals * MAX_SAMPLES);
    stamps *all[] = {&direct_res, &direct_ev, &mqtt_res, &mqtt_ev};
    for (int i = 0; i < 4; i++) {
        all[i]->v = malloc(sizeof(stamp) * MAX_SAMPLES);
        pthread_mutex_init(&all[i]->lock, NULL);
        if (!all[i]->v || !vals)
            die("%s", "out of memory");
    }

    char dir[] = "/tmp/bench-mqtt-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp: %s", strerror(errno));
    char path[512], sock[160];

    /* The broker. */
    int port = free_port();
    snprintf(path, sizeof path, "%s/mosquitto.conf", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        die("%s", path);
    fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nuser %s\n", port,
            getenv("USER") && *getenv("USER") ? getenv("USER") : "root");
    /* mosquitto's default leaves Nagle's algorithm on towards subscribers. */
    if (nodelay)
        fprintf(f, "set_tcp_nodelay true\n");
    fclose(f);
    char *margv[] = {(char *)"mosquitto", (char *)"-c", path, NULL};
    char mlog[512];
    snprintf(mlog, sizeof mlog, "%s/mosquitto.log", dir);
    char mbin[] = "/usr/sbin/mosquitto";
    margv[0] = mbin;
    pid_t mpid = fh_spawn(margv, NULL, mlog, mlog, -1);
    if (mpid < 0)
        die("mosquitto: %s", strerror(-mpid));
    fh_deadline d = fh_deadline_in(20000);
    while (!port_open(port))
        if (!fh_deadline_wait(&d, 50))
            die("%s", "mosquitto did not listen");

    /* ferd. */
    snprintf(sock, sizeof sock, "%s/ferd.sock", dir);
    const char *fargs[] = {"--source", clip, "--socket", sock, "--model", model,
                           "--set", "loop=yes", "--set", "realtime=yes", NULL};
    fh_opts o = {.bin = ferd, .args = fargs, .listen_fd = -1, .sock = sock,
                 .wait = FH_WAIT_READY, .timeout_ms = 60000};
    fh_daemon fd;
    char msg[2048];
    if (fh_start(&fd, dir, NULL, &o, msg, sizeof msg) < 0)
        die("%s", msg);

    /* The bridge. */
    char url[64], blog[512];
    snprintf(url, sizeof url, "mqtt://127.0.0.1:%d", port);
    snprintf(blog, sizeof blog, "%s/bridge.log", dir);
    char *bargv[] = {(char *)bridge, (char *)"--socket", sock, (char *)"--broker", url,
                     (char *)"--instance", (char *)"bench", (char *)"--set",
                     (char *)(results ? "results=yes" : "results=no"), (char *)"--set",
                     (char *)"results_max_rate=0", NULL};
    pid_t bpid = fh_spawn(bargv, NULL, blog, blog, -1);
    if (bpid < 0)
        die("ferd-mqtt: %s", strerror(-bpid));

    /* The subscriber. */
    mosquitto_lib_init();
    struct mosquitto *sub = mosquitto_new("bench-sub", true, NULL);
    mosquitto_int_option(sub, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(sub, on_connect);
    mosquitto_message_callback_set(sub, on_message);
    if (mosquitto_connect(sub, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS ||
        mosquitto_loop_start(sub) != MOSQ_ERR_SUCCESS)
        die("%s", "subscriber cannot connect");

    fer_client *cres = open_watch(sock, 0), *cev = open_watch(sock, 1);
    fer_message mres = {0}, mev = {0};
    struct pollfd pf[2] = {{fer_client_fd(cres), POLLIN, 0}, {fer_client_fd(cev), POLLIN, 0}};

    double load0[3] = {0};
    f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &load0[0], &load0[1], &load0[2]) != 3)
            load0[0] = -1;
        fclose(f);
    }
    uint64_t t_start = fer_mono_ns(), t_measure = t_start + (uint64_t)(warmup * 1e9);
    uint64_t t_end = t_measure + (uint64_t)(seconds * 1e9);
    long long b0 = -1, m0 = -1, b1 = -1, m1 = -1;
    for (;;) {
        uint64_t now = fer_mono_ns();
        if (!measuring && now >= t_measure) {
            b0 = cpu_ticks(bpid);
            m0 = cpu_ticks(mpid);
            measuring = 1;
        }
        if (now >= t_end) {
            b1 = cpu_ticks(bpid);
            m1 = cpu_ticks(mpid);
            measuring = 0;
            break;
        }
        if (poll(pf, 2, 100) < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        read_direct(cres, &mres);
        read_direct(cev, &mev);
    }
    double secs = seconds;
    long hz = sysconf(_SC_CLK_TCK);
    double bcpu = b0 >= 0 && b1 >= 0 ? 100.0 * (double)(b1 - b0) / (double)hz / secs : -1;
    double mcpu = m0 >= 0 && m1 >= 0 ? 100.0 * (double)(m1 - m0) / (double)hz / secs : -1;

    mosquitto_loop_stop(sub, true);
    mosquitto_destroy(sub);
    mosquitto_lib_cleanup();
    fer_client_close(cres);
    fer_client_close(cev);
    fer_message_clear(&mres);
    fer_message_clear(&mev);

    printf("bench_mqtt: clip %s, %s, broker %s, %.0f s measured after %.0f s, load average "
           "before %.2f %.2f %.2f\n",
           clip, results ? "results on (every RESULT)" : "defaults (events, state, status)",
           nodelay ? "set_tcp_nodelay true" : "defaults", secs, warmup, load0[0], load0[1],
           load0[2]);
    printf("RESULT frames_direct %d\n", direct_res.n);
    printf("RESULT fps %.2f\n", direct_res.n / secs);
    printf("RESULT bridge_cpu_pct %.2f\nRESULT broker_cpu_pct %.2f\n", bcpu, mcpu);
    printf("RESULT mqtt_messages %llu\nRESULT mqtt_states %llu\n", mqtt_msgs, mqtt_states);
    print_dist("direct_result", path_latency(&direct_res));
    int missed = 0;
    if (results) {
        print_dist("mqtt_result", path_latency(&mqtt_res));
        dist a = paired(&direct_res, &mqtt_res, &missed);
        print_dist("added_result", a);
        printf("RESULT added_result_missed %d\n", missed);
    }
    dist e = paired(&direct_ev, &mqtt_ev, &missed);
    print_dist("added_event", e);
    printf("RESULT added_event_missed %d\n", missed);

    /* Orderly stops: the bridge says offline, ferd and the broker go. */
    kill(bpid, SIGTERM);
    int st = fh_wait_pid(bpid, 10000);
    printf("ferd-mqtt exit status %d\n", st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    fh_stop(&fd, 30000);
    kill(mpid, SIGTERM);
    fh_wait_pid(mpid, 10000);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    if (system(path) != 0)
        fprintf(stderr, "bench_mqtt: could not remove %s\n", dir);
    return 0;
}
